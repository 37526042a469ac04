/* Bad input, everywhere: one table of calls with NULLs, wrong ranks,
 * mismatched shapes, negative or zero sizes, NaN hyper-parameters and files
 * that are missing or cut short. Each must fail (NULL, a non-zero status or
 * NaN) with a message that names the function and the problem; the sanitizer
 * build runs the same table. */
#include "nb_test.h"

#include "tools/cli/model_spec.h"

#include <math.h>
#include <stdio.h>
#include <sys/wait.h>

static nb_tensor *m23, *m32, *v4, *s0, *img, *w_conv, *labels, *req;
static const char *missing = "/nonexistent/nabla/file";
static char truncated_idx[256];
static nb_model *uncompiled; /* made and freed by the fixture */

static void make_inputs(void) {
    nb_test_setup();
    m23 = nb_ones(NB_SHAPE(2, 3));
    m32 = nb_ones(NB_SHAPE(3, 2));
    v4 = nb_ones(NB_SHAPE(4));
    s0 = nb_scalar(1);
    img = nb_ones(NB_SHAPE(1, 3, 5, 5));
    w_conv = nb_ones(NB_SHAPE(4, 3, 3, 3));
    labels = nb_from_array((float[]){0, 1, 2.5f}, NB_SHAPE(3));
    req = nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true);
    snprintf(truncated_idx, sizeof truncated_idx, "%s/idx_truncated_data.idx", NB_TEST_DATA);
    uncompiled = nb_sequential(NB_SHAPE(3));
    nb_model_add(uncompiled, nb_dense(2, NULL));
}

static void free_inputs(void) {
    nb_model_free(uncompiled);
    nb_test_teardown();
}

static bool failed_ptr(const void *p) {
    return p == NULL;
}
static bool failed_status(nb_status s) {
    return s != NB_OK;
}
static bool failed_float(float v) {
    return isnan(v);
}
#define FAILED(e)                                                                                  \
    _Generic((e), nb_tensor *: failed_ptr, char *: failed_ptr, nb_safetensors *: failed_ptr,       \
             nb_graph *: failed_ptr, nb_model *: failed_ptr, nb_status: failed_status,             \
             float: failed_float)(e)

static nb_dataset ds;

static nb_tensor *grad_identity(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    return x[0];
}
static nb_csv_opts csv_header = {.header = true};

/* a step to trace that fails: [2, 3] @ [2, 3] */
static nb_status matmul_step(void *ctx, nb_tensor *const *in, int n, nb_tensor **out, int *n_out) {
    (void)ctx, (void)n;
    *n_out = 1;
    return (out[0] = nb_matmul(in[0], in[0])) ? NB_OK : nb_error_code();
}
static nb_graph_stats graph_stats;

/* X(expected words in the message, call) */
#define BAD_INPUTS(X)                                                                              \
    /* NULL arguments */                                                                           \
    X("nb_add: an input tensor is NULL", nb_add(NULL, m23))                                        \
    X("nb_matmul: an input tensor is NULL", nb_matmul(m23, NULL))                                  \
    X("nb_linear: an input tensor is NULL", nb_linear(NULL, m32, v4))                              \
    X("nb_relu: an input tensor is NULL", nb_relu(NULL))                                           \
    X("nb_softmax: an input tensor is NULL", nb_softmax(NULL, 0))                                  \
    X("nb_sum: an input tensor is NULL", nb_sum(NULL, NULL, 0, false))                             \
    X("nb_reshape: an input tensor is NULL", nb_reshape(NULL, NB_SHAPE(6)))                        \
    X("nb_conv2d: an input tensor is NULL", nb_conv2d(NULL, w_conv, NULL, NULL))                   \
    X("nb_max_pool2d: an input tensor is NULL", nb_max_pool2d(NULL, 2, 2, 0, 0, 0, 0))             \
    X("nb_batch_norm: an input tensor is NULL",                                                    \
      nb_batch_norm(NULL, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, true))                              \
    X("nb_dropout: an input tensor is NULL", nb_dropout(NULL, 0.5f, true))                         \
    X("nb_from_array: the data pointer is NULL", nb_from_array(NULL, NB_SHAPE(2)))                 \
    X("nb_zeros: the shape array is NULL", nb_zeros(NULL, 2))                                      \
    X("nb_item: an input tensor is NULL", nb_item(NULL))                                           \
    X("nb_backward: an input tensor is NULL", nb_backward(NULL))                                   \
    X("nb_draw: an input tensor is NULL", nb_draw(NULL, NULL))                                     \
    X("nb_safetensors_load: NULL path", nb_safetensors_load(NULL, NULL, NULL, 1))                  \
    X("nb_load_idx", nb_load_idx(NULL, false))                                                     \
    /* wrong ranks */                                                                              \
    X("nb_matmul: operands must be 1-D or more: a is []", nb_matmul(s0, m32))                      \
    X("nb_conv2d: x must be [N, C, H, W]", nb_conv2d(m23, w_conv, NULL, NULL))                     \
    X("nb_max_pool2d: x must be [N, C, H, W]; got [2, 3]", nb_max_pool2d(m23, 2, 2, 0, 0, 0, 0))   \
    X("nb_batch_norm: x must be [N, C], [N, C, L] or [N, C, H, W]; got [4]",                       \
      nb_batch_norm(v4, v4, v4, NULL, NULL, 0.1f, 1e-5f, true))                                    \
    X("nb_global_avg_pool: x must be [N, C, H, W]", nb_global_avg_pool(v4))                        \
    X("nb_flatten: needs a batch axis", nb_flatten(s0))                                            \
    X("nb_slice: cannot slice a 0-d tensor", nb_slice(s0, 0, 0, 1, 1))                             \
    X("nb_item: tensor of shape [2, 3] has 6 elements", nb_item(m23))                              \
    /* mismatched shapes */                                                                        \
    X("nb_add: shapes [2, 3] and [4] do not broadcast", nb_add(m23, v4))                           \
    X("nb_div: shapes [2, 3] and [3, 2] do not broadcast", nb_div(m23, m32))                       \
    X("nb_matmul: inner dimensions differ: a is [2, 3], b is [2, 3]", nb_matmul(m23, m23))         \
    X("nb_linear: expected x [..., IN], w [IN, OUT], b [OUT] or NULL", nb_linear(m23, m32, v4))    \
    X("nb_conv2d: channel mismatch", nb_conv2d(img, nb_ones(NB_SHAPE(4, 2, 3, 3)), NULL, NULL))    \
    X("nb_conv2d: bias [4] does not match 2 filters",                                              \
      nb_conv2d(img, nb_ones(NB_SHAPE(2, 3, 3, 3)), v4, NULL))                                     \
    X("nb_reshape: cannot reshape [2, 3] (6 elements) to [4]", nb_reshape(m23, NB_SHAPE(4)))       \
    X("nb_concat: tensor 1 has shape [3, 2]", nb_concat((nb_tensor *[]){m23, m32}, 2, 1))          \
    X("nb_sum_to: shape [2, 3] cannot be summed to [2]", nb_sum_to(m23, NB_SHAPE(2)))              \
    X("nb_broadcast_to: shape [4] cannot be broadcast to [3]", nb_broadcast_to(v4, NB_SHAPE(3)))   \
    X("nb_backward: seed gradient has shape [4], tensor has [2]",                                  \
      nb_backward_ex(nb_mul(req, req), v4, false))                                                 \
    X("nb_batch_norm: gamma [4], beta [4]",                                                        \
      nb_batch_norm(img, v4, v4, NULL, NULL, 0.1f, 1e-5f, true))                                   \
    X("nb_copy_to: buffer holds 2 floats, tensor [2, 3] has 6", nb_copy_to(m23, (float[2]){0}, 2)) \
    /* bad axes, negative and zero sizes */                                                        \
    X("nb_softmax: axis 2 is out of range", nb_softmax(m23, 2))                                    \
    X("nb_sum: axis -3 is out of range", nb_sum(m23, (int[]){-3}, 1, false))                       \
    X("nb_max: axis 1 is listed twice", nb_max(m23, (int[]){1, 1}, 2, false))                      \
    X("nb_transpose: axis 9 is out of range", nb_transpose(m23, 0, 9))                             \
    X("nb_permute: axis 0 appears twice", nb_permute(m23, (int[]){0, 0}, 2))                       \
    X("nb_zeros: negative size -1 in shape [2, -1]", nb_zeros(NB_SHAPE(2, -1)))                    \
    X("nb_ones: 9 dimensions; nabla supports 0 to 8", nb_ones((int64_t[9]){1}, 9))                 \
    X("nb_full: shape [1099511627776, 1099511627776] has too many elements",                       \
      nb_full(NB_SHAPE(1LL << 40, 1LL << 40), 0))                                                  \
    X("nb_zeros: shape [0, 1099511627776, 1099511627776] has too many elements",                   \
      nb_zeros(NB_SHAPE(0, 1LL << 40, 1LL << 40)))                                                 \
    X("nb_linspace: negative count -2", nb_linspace(0, 1, -2))                                     \
    X("nb_slice: step 0 must be >= 1", nb_slice(m23, 1, 0, 2, 0))                                  \
    X("nb_one_hot: num_classes 0 must be >= 1", nb_one_hot(labels, 0))                             \
    X("nb_one_hot: index 2.5 at position 2 is not an integer", nb_one_hot(labels, 3))              \
    X("nb_conv2d: kernel 7x7", nb_conv2d(img, nb_ones(NB_SHAPE(4, 3, 7, 7)), NULL, NULL))          \
    X("nb_conv2d: stride -1x1", nb_conv2d(img, w_conv, NULL, &(nb_conv2d_opts){.stride_h = -1}))   \
    X("nb_conv2d: sizes must be positive",                                                         \
      nb_conv2d(img, nb_ones(NB_SHAPE(0, 3, 3, 3)), NULL, NULL))                                   \
    X("nb_max_pool2d: window 0x2", nb_max_pool2d(img, 0, 2, 0, 0, 0, 0))                           \
    X("nb_avg_pool2d: window 9x9 is larger than the padded input 5x5",                             \
      nb_avg_pool2d(img, 9, 9, 0, 0, 0, 0, true))                                                  \
    X("nb_scope_end: no scope is open", nb_scope_end())                                            \
    /* NaN and out-of-range hyper-parameters */                                                    \
    X("nb_leaky_relu: alpha nan is not finite", nb_leaky_relu(m23, NAN))                           \
    X("nb_elu: alpha nan is not finite", nb_elu(m23, NAN))                                         \
    X("nb_pow_scalar: exponent inf is not finite", nb_pow_scalar(m23, INFINITY))                   \
    X("nb_affine: alpha nan and beta 0 must be finite", nb_affine(m23, NAN, 0))                    \
    X("nb_clip: low nan must not exceed high 1", nb_clip(m23, NAN, 1))                             \
    X("nb_div_scalar: division by zero", nb_div_scalar(m23, 0))                                    \
    X("nb_uniform: bounds [nan, 1) are not finite and ordered", nb_uniform(NB_SHAPE(2), NAN, 1))   \
    X("nb_normal: mean 0, std -1", nb_normal(NB_SHAPE(2), 0, -1))                                  \
    X("nb_arange: start 0, stop 1, step 0", nb_arange(0, 1, 0))                                    \
    X("nb_dropout: rate nan must be in [0, 1)", nb_dropout(m23, NAN, true))                        \
    X("nb_dropout: rate -0.5 must be in [0, 1)", nb_dropout(m23, -0.5f, true))                     \
    X("nb_batch_norm: eps nan must be > 0",                                                        \
      nb_batch_norm(img, v4, v4, NULL, NULL, 0.1f, NAN, true))                                     \
    X("nb_gradcheck: eps nan and tol 0.01 must be positive",                                       \
      nb_gradcheck(grad_identity, &req, 1, NULL, NAN, 0.01, NULL))                                 \
    /* state */                                                                                    \
    X("nb_backward: tensor [2, 3] does not require grad", nb_backward(m23))                        \
    X("nb_backward: tensor of shape [2] is not a scalar", nb_backward(nb_mul(req, req)))           \
    X("nb_set_requires_grad: tensor [2] is the result of op 'exp'",                                \
      nb_set_requires_grad(nb_exp(req), false))                                                    \
    /* files that do not exist, are cut short or have the wrong name */                            \
    X("nb_load_idx: /nonexistent/nabla/file", nb_load_idx(missing, false))                         \
    X("header says", nb_load_idx(truncated_idx, false))                                            \
    X("nb_load_npy: /nonexistent/nabla/file", nb_load_npy(missing))                                \
    X("nb_load_csv: /nonexistent/nabla/file", nb_load_csv(missing, &csv_header, &ds))              \
    X("nb_safetensors: /nonexistent/nabla/file", nb_safetensors_read(missing))                     \
    X("nb_safetensors: " NB_TEST_DATA "/idx_truncated_data.idx: byte 0",                           \
      nb_safetensors_read(truncated_idx))                                                          \
    X("nb_draw_save: /tmp/x.jpeg: the extension must be", nb_draw_save(req, NULL, "/tmp/x.jpeg"))  \
    X("nb_draw_save: cannot write /nonexistent/nabla/g.svg: No such",                              \
      nb_draw_save(req, NULL, "/nonexistent/nabla/g.svg"))                                         \
    /* graph mode */                                                                               \
    X("nb_trace: fn is NULL", nb_trace(NULL, NULL, &m23, 1))                                       \
    X("nb_trace: input 0 is NULL", nb_trace(matmul_step, NULL, (nb_tensor *[]){NULL}, 1))          \
    X("nb_trace: 9 inputs; between 0 and 8", nb_trace(matmul_step, NULL, (nb_tensor *[9]){0}, 9))  \
    X("nb_matmul: inner dimensions differ", nb_trace(matmul_step, NULL, &m23, 1))                  \
    X("nb_graph_run: graph is NULL", nb_graph_run(NULL, &m23, 1, NULL))                            \
    X("nb_graph_print: graph is NULL", nb_graph_print(NULL, stdout))                               \
    X("nb_graph_draw: graph is NULL", nb_graph_draw(NULL))                                         \
    X("nb_graph_draw_save: graph is NULL", nb_graph_draw_save(NULL, "/tmp/x.svg"))                 \
    X("nb_graph_get_stats: graph is NULL", nb_graph_get_stats(NULL, &graph_stats))                 \
    X("nb_model_train_on_batch: an input tensor is NULL",                                          \
      nb_model_train_on_batch(NULL, m23, v4, NULL, NULL))                                          \
    X("nb_model_train_on_batch: compile model 'sequential' first",                                 \
      nb_model_train_on_batch(uncompiled, m23, v4, NULL, NULL))                                    \
    X("nb_model_trace_step: model is NULL", nb_model_trace_step(NULL, m23, v4, NULL))              \
    X("nb_model_train_on_batch: compile model 'sequential' first",                                 \
      nb_model_trace_step(uncompiled, m23, v4, NULL))

#define AS_TEXT(expect, call) {#call, expect},
static const struct { const char *call, *expect; } table[] = {BAD_INPUTS(AS_TEXT)};
#define N_CASES ((int)(sizeof table / sizeof table[0]))

/* runs case i; true when it failed as it should */
static bool run(int i) {
    int k = 0;
#define AS_CALL(expect, call)                                                                      \
    if (i == k++) return FAILED(call);
    BAD_INPUTS(AS_CALL)
    return false;
}

START_TEST(test_every_bad_argument_is_a_named_error) {
    int passed = 0;
    for (int i = 0; i < N_CASES; i++) {
        nb_clear_error();
        bool failed = run(i);
        ck_assert_msg(failed, "case %d: %s did not fail", i, table[i].call);
        ck_assert_msg(strstr(nb_error(), table[i].expect) != NULL,
                      "case %d: %s\n  error:    %s\n  expected: %s", i, table[i].call, nb_error(),
                      table[i].expect);
        passed++;
    }
    ck_assert_int_eq(passed, N_CASES);
    ck_assert_int_ge(N_CASES, 80);
}
END_TEST

/* ---- resource limits: sizes that would ask for gigabytes are refused first ---------------- */
/* the exact last error */
#define ASSERT_ERROR_IS(want)                                                                      \
    ck_assert_msg(strcmp(nb_error(), (want)) == 0, "error \"%s\"\n   expected \"%s\"", nb_error(), \
                  (want))

START_TEST(test_input_shapes_over_2_to_the_24_elements_are_refused) {
    int64_t shape[NB_MAX_DIMS];
    int ndim = 0;
    ck_assert(!nb_parse_shape("100000x100000", shape, &ndim));
    ASSERT_ERROR_IS("input shape '100000x100000': 10000000000 elements per sample; nabla takes at "
                    "most 16777216");
    ck_assert(!nb_parse_shape("9223372036854775807x9223372036854775807", shape, &ndim));
    NB_ASSERT_ERROR_HAS("elements per sample; nabla takes at most 16777216");
    ck_assert(nb_parse_shape("4096x4096", shape, &ndim)); /* 2^24 exactly */
    ck_assert_int_eq(ndim, 2);
    ck_assert(!nb_parse_shape("4097x4096", shape, &ndim));
    int column = 0;
    ck_assert_ptr_null(nb_model_from_spec("flatten", NB_SHAPE(100000, 100000), &column));
    ASSERT_ERROR_IS("nb_model_from_spec: input shape [100000, 100000] has 10000000000 elements per "
                    "sample; a model from a spec takes at most 16777216");
}
END_TEST

START_TEST(test_a_spec_with_too_many_weights_fails_before_allocating_them) {
    uint64_t before = nb_alloc_count();
    int column = -1;
    /* 100 inputs x 16777216 units after 409700 weights: 6.3 GiB in all */
    ck_assert_ptr_null(
        nb_model_from_spec("dense 100 relu, dense 16777216", NB_SHAPE(4096), &column));
    ck_assert_int_eq(column, 16);
    ASSERT_ERROR_IS("column 16: this dense layer brings the model to 1694908516 weights; a model "
                    "from a spec has at most 134217728");
    ck_assert_ptr_null(nb_model_from_spec("conv 100000 9", NB_SHAPE(3000, 32, 32), &column));
    ck_assert_int_eq(column, 0);
    NB_ASSERT_ERROR_HAS("this conv layer brings the model to 24300100000 weights");
    ck_assert_uint_le(nb_alloc_count() - before, 8); /* the models' bookkeeping, no weights */
    /* a bad size is named as such, not counted as weights */
    ck_assert_ptr_null(nb_model_from_spec("dense 1e30", NB_SHAPE(4096), &column));
    ASSERT_ERROR_IS("column 6: '1e30' is not a size (1 to 16777216)");
    /* a layer whose output is too big for one sample */
    ck_assert_ptr_null(nb_model_from_spec("conv 64 3 same", NB_SHAPE(1, 4096, 4096), &column));
    ck_assert_int_eq(column, 0);
    ASSERT_ERROR_IS("column 0: 'conv' outputs [64, 4096, 4096], 1073741824 elements per sample; a "
                    "model from a spec has at most 16777216");
    /* the same limits through the nabla command: an error, exit status 2 */
    char cmd[512], out[4096];
    snprintf(cmd, sizeof cmd, "%s summary \"dense 10\" --input 100000x100000 2>&1", NB_NABLA_EXE);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    ck_assert_msg(strstr(out, "error: input shape '100000x100000': 10000000000 elements per "
                              "sample; nabla takes at most 16777216") != NULL,
                  "output: %s", out);
}
END_TEST

static Suite *bad_input_suite(void) {
    Suite *s = suite_create("bad_input");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, make_inputs, free_inputs);
    tcase_add_test(tc, test_every_bad_argument_is_a_named_error);
    suite_add_tcase(s, tc);
    TCase *limits = nb_tcase("limits");
    tcase_add_test(limits, test_input_shapes_over_2_to_the_24_elements_are_refused);
    tcase_add_test(limits, test_a_spec_with_too_many_weights_fails_before_allocating_them);
    suite_add_tcase(s, limits);
    return s;
}

int main(void) {
    return nb_test_run(bad_input_suite());
}
