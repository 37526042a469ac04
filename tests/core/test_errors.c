/* Errors: a NULL result carries the first failure through a chain of ops;
 * NULL arguments never crash. */
#include "nb_test.h"

START_TEST(test_null_propagates_through_five_ops_keeping_the_first_message) {
    nb_tensor *x = nb_ones(NB_SHAPE(32, 784));
    nb_tensor *w = nb_ones(NB_SHAPE(100, 10));
    nb_tensor *b = nb_zeros(NB_SHAPE(10));
    nb_tensor *loss = nb_mean_all(nb_sum(nb_sigmoid(nb_add(nb_matmul(x, w), b)), NULL, 0, false));
    ck_assert_ptr_null(loss);
    ck_assert_int_eq(nb_error_code(), NB_ERR_SHAPE);
    ck_assert_str_eq(nb_error(),
                     "nb_matmul: inner dimensions differ: a is [32, 784], b is [100, 10]");
    ck_assert_int_ne(nb_backward(loss), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_matmul: inner dimensions differ");
}
END_TEST

START_TEST(test_null_argument_without_a_pending_error_names_the_function) {
    nb_clear_error();
    ck_assert_ptr_null(nb_relu(NULL));
    ck_assert_int_eq(nb_error_code(), NB_ERR_NULL);
    ck_assert_str_eq(nb_error(), "nb_relu: an input tensor is NULL");
    nb_clear_error();
    ck_assert_ptr_null(nb_add(nb_ones(NB_SHAPE(2)), NULL));
    ck_assert_str_eq(nb_error(), "nb_add: an input tensor is NULL");
}
END_TEST

/* Clear the error, run the statement stmt, then check the code and the whole message. */
#define ASSERT_FAILS_WITH(stmt, code, message)                                                     \
    do {                                                                                           \
        nb_clear_error();                                                                          \
        stmt;                                                                                      \
        ck_assert_int_eq(nb_error_code(), (code));                                                 \
        ck_assert_str_eq(nb_error(), (message));                                                   \
    } while (0)

/* The same, when only part of the message is pinned down. */
#define ASSERT_FAILS_MENTIONING(stmt, code, needle)                                                \
    do {                                                                                           \
        nb_clear_error();                                                                          \
        stmt;                                                                                      \
        ck_assert_int_eq(nb_error_code(), (code));                                                 \
        NB_ASSERT_ERROR_HAS(needle);                                                               \
    } while (0)

START_TEST(test_null_into_creation_functions_is_an_error_not_a_crash) {
    float data[2] = {1, 2};
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_zeros(NULL, 2)), NB_ERR_NULL,
                      "nb_zeros: the shape array is NULL");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_ones(NULL, 1)), NB_ERR_NULL,
                      "nb_ones: the shape array is NULL");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_full(NULL, 1, 2)), NB_ERR_NULL,
                      "nb_full: the shape array is NULL");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_empty(NULL, 3)), NB_ERR_NULL,
                      "nb_empty: the shape array is NULL");
    /* nb_rand and nb_randn report as nb_uniform and nb_normal, which they call */
    ASSERT_FAILS_MENTIONING(ck_assert_ptr_null(nb_rand(NULL, 1)), NB_ERR_NULL,
                            ": the shape array is NULL");
    ASSERT_FAILS_MENTIONING(ck_assert_ptr_null(nb_randn(NULL, 1)), NB_ERR_NULL,
                            ": the shape array is NULL");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_from_array(data, NULL, 1)), NB_ERR_NULL,
                      "nb_from_array: the shape array is NULL");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_from_array(NULL, NB_SHAPE(2))), NB_ERR_NULL,
                      "nb_from_array: the data pointer is NULL");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_zeros_like(NULL)), NB_ERR_NULL,
                      "nb_zeros_like: an input tensor is NULL");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_clone(NULL)), NB_ERR_NULL,
                      "nb_clone: an input tensor is NULL");
    /* a 0-d shape needs no array */
    ck_assert_ptr_nonnull(nb_zeros(NULL, 0));
}
END_TEST

START_TEST(test_null_into_access_functions_is_an_error_not_a_crash) {
    nb_tensor *t = nb_zeros(NB_SHAPE(2, 2));
    float buf[4];
    ASSERT_FAILS_WITH(ck_assert(isnan(nb_get(NULL, (int64_t[]){0, 0}))), NB_ERR_NULL,
                      "nb_get: an input tensor is NULL");
    ASSERT_FAILS_WITH(ck_assert(isnan(nb_get(t, NULL))), NB_ERR_NULL,
                      "nb_get: the index array is NULL");
    ASSERT_FAILS_WITH(ck_assert_int_eq(nb_set(NULL, (int64_t[]){0, 0}, 1), NB_ERR_NULL),
                      NB_ERR_NULL, "nb_set: an input tensor is NULL");
    ASSERT_FAILS_WITH(ck_assert_int_eq(nb_set(t, NULL, 1), NB_ERR_NULL), NB_ERR_NULL,
                      "nb_set: the index array is NULL");
    ASSERT_FAILS_WITH(ck_assert(isnan(nb_get_flat(NULL, 0))), NB_ERR_NULL,
                      "nb_get_flat: an input tensor is NULL");
    ASSERT_FAILS_WITH(ck_assert(isnan(nb_item(NULL))), NB_ERR_NULL,
                      "nb_item: an input tensor is NULL");
    ASSERT_FAILS_WITH(ck_assert_int_ne(nb_copy_to(NULL, buf, 4), NB_OK), NB_ERR_NULL,
                      "nb_copy_to: an input tensor is NULL");
    /* a NULL buffer: the message says "input tensor", but names the function */
    ASSERT_FAILS_MENTIONING(ck_assert_int_ne(nb_copy_to(t, NULL, 4), NB_OK), NB_ERR_NULL,
                            "nb_copy_to: ");
    ASSERT_FAILS_MENTIONING(ck_assert_int_ne(nb_copy_from(t, NULL, 4), NB_OK), NB_ERR_NULL,
                            "nb_copy_from: ");
    ASSERT_FAILS_WITH(ck_assert_int_ne(nb_copy_from(NULL, buf, 4), NB_OK), NB_ERR_NULL,
                      "nb_copy_from: an input tensor is NULL");
    ASSERT_FAILS_WITH(ck_assert_int_ne(nb_fill(NULL, 1), NB_OK), NB_ERR_NULL,
                      "nb_fill: an input tensor is NULL");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_set_name(NULL, "w")), NB_ERR_NULL,
                      "nb_set_name: an input tensor is NULL");
    ASSERT_FAILS_WITH(ck_assert_int_ne(nb_fprint(stdout, NULL), NB_OK), NB_ERR_NULL,
                      "nb_fprint: an input tensor is NULL");
    /* properties of NULL are neutral values, not errors */
    ck_assert_ptr_null(nb_data(NULL));
    ck_assert_ptr_null(nb_shape(NULL));
    ck_assert_ptr_null(nb_strides(NULL));
    ck_assert_int_eq(nb_dim(NULL, 0), -1);
    ck_assert(!nb_is_contiguous(NULL));
    ck_assert(!nb_shares_storage(NULL, t));
    ck_assert_str_eq(nb_name(NULL), "");
    ck_assert(!nb_requires_grad(NULL) && !nb_is_leaf(NULL));
    ck_assert_ptr_null(nb_grad(NULL));
    /* the tensor itself is untouched by the failed calls */
    ck_assert_int_eq(nb_copy_to(t, buf, 4), NB_OK);
    for (int i = 0; i < 4; i++) ck_assert(buf[i] == 0);
}
END_TEST

START_TEST(test_core_shape_rules_reject_bad_sizes) {
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_empty(NB_SHAPE(-1))), NB_ERR_ARG,
                      "nb_empty: negative size -1 in shape [-1]");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_full(NB_SHAPE(3, 0, -2), 1)), NB_ERR_ARG,
                      "nb_full: negative size -2 in shape [3, 0, -2]");
    ASSERT_FAILS_MENTIONING(ck_assert_ptr_null(nb_rand(NB_SHAPE(2, -5))), NB_ERR_ARG,
                            ": negative size -5 in shape [2, -5]");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_zeros((int64_t[]){1}, -1)), NB_ERR_ARG,
                      "nb_zeros: -1 dimensions; nabla supports 0 to 8");
    ASSERT_FAILS_MENTIONING(
        ck_assert_ptr_null(nb_randn((int64_t[9]){2, 2, 2, 2, 2, 2, 2, 2, 2}, 9)), NB_ERR_ARG,
        ": 9 dimensions; nabla supports 0 to 8");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_empty((int64_t[9]){2, 2, 2, 2, 2, 2, 2, 2, 2}, 9)),
                      NB_ERR_ARG, "nb_empty: 9 dimensions; nabla supports 0 to 8");
    ASSERT_FAILS_MENTIONING(ck_assert_ptr_null(nb_eye(-2)), NB_ERR_ARG, "negative size -2");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_ones(NB_SHAPE(1LL << 62, 2))), NB_ERR_MEMORY,
                      "nb_ones: shape [4611686018427387904, 2] has too many elements (the product "
                      "overflows)");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_linspace(0, 1, -1)), NB_ERR_ARG,
                      "nb_linspace: negative count -1");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_arange(0, 1, 0)), NB_ERR_ARG,
                      "nb_arange: start 0, stop 1, step 0: need finite values and a non-zero step");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_arange(0, NAN, 1)), NB_ERR_ARG,
                      "nb_arange: start 0, stop nan, step 1: need finite values and a non-zero "
                      "step");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_uniform(NB_SHAPE(2), 1, 0)), NB_ERR_ARG,
                      "nb_uniform: bounds [1, 0) are not finite and ordered");
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_normal(NB_SHAPE(2), 0, -1)), NB_ERR_ARG,
                      "nb_normal: mean 0, std -1: need finite values, std >= 0");
    /* empty tensors are fine: a size of 0 is not an error */
    nb_clear_error();
    nb_tensor *e = nb_zeros(NB_SHAPE(3, 0));
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(nb_numel(e), 0);
    ck_assert_int_eq(nb_error_code(), NB_OK);
}
END_TEST

START_TEST(test_element_access_outside_the_shape_is_an_error) {
    nb_tensor *t = nb_arange(0, 6, 1);
    ASSERT_FAILS_WITH(ck_assert(isnan(nb_get(t, (int64_t[]){6}))), NB_ERR_ARG,
                      "nb_get: index [6] is outside shape [6]");
    ASSERT_FAILS_WITH(ck_assert_int_ne(nb_set(t, (int64_t[]){-1}, 0), NB_OK), NB_ERR_ARG,
                      "nb_set: index [-1] is outside shape [6]");
    ASSERT_FAILS_WITH(ck_assert(isnan(nb_get_flat(t, -1))), NB_ERR_ARG,
                      "nb_get_flat: index -1 is outside a tensor of 6 elements");
    ASSERT_FAILS_WITH(ck_assert_int_ne(nb_copy_from(t, (float[]){1, 2}, 2), NB_OK), NB_ERR_SHAPE,
                      "nb_copy_from: buffer holds 2 floats, tensor [6] has 6");
    for (int i = 0; i < 6; i++) NB_ASSERT_CLOSE(nb_get_flat(t, i), i, 0); /* unchanged */
}
END_TEST

START_TEST(test_scope_end_without_begin_is_a_state_error) {
    nb_tensor *t = nb_ones(NB_SHAPE(2));
    ASSERT_FAILS_WITH(ck_assert_int_eq(nb_scope_end(), NB_ERR_STATE), NB_ERR_STATE,
                      "nb_scope_end: no scope is open");
    ck_assert_int_eq(nb_scope_begin(), NB_OK);
    ck_assert_int_eq(nb_scope_end(), NB_OK);
    ASSERT_FAILS_WITH(ck_assert_int_eq(nb_scope_end(), NB_ERR_STATE), NB_ERR_STATE,
                      "nb_scope_end: no scope is open");
    NB_ASSERT_TENSOR(t, ((float[]){1, 1}), 2, 0); /* root-scope tensors survive the bad call */
}
END_TEST

START_TEST(test_requires_grad_on_a_non_leaf_is_a_state_error) {
    nb_tensor *x = nb_set_requires_grad(nb_ones(NB_SHAPE(2, 3)), true);
    nb_tensor *y = nb_sigmoid(x);
    ASSERT_FAILS_WITH(ck_assert_ptr_null(nb_set_requires_grad(y, true)), NB_ERR_STATE,
                      "nb_set_requires_grad: tensor [2, 3] is the result of op 'sigmoid'; only "
                      "leaves (tensors not computed by an op) take requires_grad; use nb_detach "
                      "first");
    ck_assert(nb_requires_grad(y)); /* unchanged */
    nb_tensor *d = nb_set_requires_grad(nb_detach(y), true);
    ck_assert_ptr_nonnull(d);
    ck_assert(nb_is_leaf(d) && nb_requires_grad(d));
}
END_TEST

typedef nb_tensor *(*unary_fn)(nb_tensor *);
static const unary_fn unary[] = {nb_exp,     nb_log,        nb_sqrt,      nb_square,
                                 nb_abs,     nb_relu,       nb_sigmoid,   nb_tanh,
                                 nb_gelu,    nb_softplus,   nb_heaviside, nb_neg,
                                 nb_flatten, nb_contiguous, nb_sum_all,   nb_mean_all};

START_TEST(test_every_op_returns_null_for_null_input) {
    nb_clear_error();
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) {
        ck_assert_ptr_null(unary[i](NULL));
        ck_assert_int_eq(nb_error_code(), NB_ERR_NULL);
        nb_clear_error();
    }
    ck_assert_ptr_null(nb_matmul(NULL, NULL));
    ck_assert_ptr_null(nb_linear(NULL, NULL, NULL));
    ck_assert_ptr_null(nb_softmax(NULL, 0));
    ck_assert_ptr_null(nb_reshape(NULL, NB_SHAPE(1)));
    ck_assert_ptr_null(nb_transpose(NULL, 0, 1));
    ck_assert_ptr_null(nb_slice(NULL, 0, 0, 1, 1));
    ck_assert_ptr_null(nb_concat(NULL, 2, 0));
    ck_assert_ptr_null(nb_one_hot(NULL, 3));
    ck_assert_ptr_null(nb_argmax(NULL, 0, false));
    ck_assert_ptr_null(nb_sum_to(NULL, NB_SHAPE(1)));
    ck_assert_ptr_null(nb_from_array(NULL, NB_SHAPE(2)));
    ck_assert_ptr_null(nb_zeros_like(NULL));
    ck_assert_ptr_null(nb_keep(NULL));
    ck_assert_ptr_null(nb_detach(NULL));
    ck_assert_ptr_null(nb_set_requires_grad(NULL, true));
    ck_assert(isnan(nb_item(NULL)));
    ck_assert_int_ne(nb_fprint(stdout, NULL), NB_OK);
    ck_assert_int_ne(nb_backward(NULL), NB_OK);
    nb_free(NULL);
    nb_zero_grad(NULL);
    ck_assert_int_eq(nb_numel(NULL), 0);
    ck_assert_int_eq(nb_ndim(NULL), -1);
}
END_TEST

static nb_tensor *identity(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    return x[0];
}

START_TEST(test_gradcheck_rejects_bad_arguments) {
    nb_tensor *x = nb_ones(NB_SHAPE(2));
    ck_assert_int_ne(nb_gradcheck(NULL, &x, 1, NULL, 1e-3, 1e-2, NULL), NB_OK);
    ck_assert_int_ne(nb_gradcheck(identity, &x, 1, NULL, -1, 1e-2, NULL), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_gradcheck: eps -1 and tol 0.01 must be positive");
}
END_TEST

START_TEST(test_too_many_nested_scopes_is_an_error) {
    int opened = 0;
    while (nb_scope_begin() == NB_OK) opened++;
    ck_assert_int_eq(opened, 63);
    NB_ASSERT_ERROR_HAS("nb_scope_begin: more than 63 nested scopes");
    for (int i = 0; i < opened; i++) ck_assert_int_eq(nb_scope_end(), NB_OK);
}
END_TEST

/* ---- custom ops whose callbacks misbehave ------------------------------------------- */
static nb_tensor *twice(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    return nb_mul_scalar(x[0], 2);
}

static nb_tensor *forward_fails(nb_tensor *const *x, int n, void *ctx) {
    (void)x;
    (void)n;
    (void)ctx;
    return NULL;
}

static nb_status gradient_of_wrong_shape(nb_tensor *const *x, int n, nb_tensor *y, nb_tensor *gy,
                                         nb_tensor **gx, void *ctx) {
    (void)x;
    (void)n;
    (void)y;
    (void)gy;
    (void)ctx;
    gx[0] = nb_ones(NB_SHAPE(3));
    return NB_OK;
}

static nb_status backward_fails(nb_tensor *const *x, int n, nb_tensor *y, nb_tensor *gy,
                                nb_tensor **gx, void *ctx) {
    (void)x;
    (void)n;
    (void)y;
    (void)gy;
    (void)gx;
    (void)ctx;
    return NB_ERR_ARG;
}

START_TEST(test_custom_op_callback_failures_name_the_op) {
    nb_tensor *x = nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true);
    ASSERT_FAILS_WITH(
        ck_assert_ptr_null(nb_custom_op("double", &x, 1, forward_fails, backward_fails, NULL)),
        NB_ERR_ARG, "nb_custom_op: the forward callback of 'double' returned NULL");
    ASSERT_FAILS_WITH(
        ck_assert_ptr_null(nb_custom_op("double", &x, 0, twice, backward_fails, NULL)), NB_ERR_ARG,
        "nb_custom_op 'double': 0 inputs; between 1 and 8");
    nb_tensor *y = nb_custom_op("double", &x, 1, twice, backward_fails, NULL);
    ASSERT_FAILS_WITH(ck_assert_int_ne(nb_backward(nb_sum_all(y)), NB_OK), NB_ERR_ARG,
                      "nb_custom_op: the backward callback of 'double' failed (status 3)");
    y = nb_custom_op("double", &x, 1, twice, gradient_of_wrong_shape, NULL);
    ASSERT_FAILS_MENTIONING(ck_assert_int_ne(nb_backward(nb_sum_all(y)), NB_OK), NB_ERR_SHAPE,
                            "gave a gradient of shape [3] for an input of shape [2]");
    ck_assert_ptr_null(nb_grad(x)); /* nothing half-accumulated */
}
END_TEST

/* ---- an error left over from a handled failure decides nothing later --------------- */
/* A failure the caller saw and handled: its error stays recorded. */
static void fail_and_ignore(void) {
    nb_tensor *bad = nb_matmul(nb_ones(NB_SHAPE(2, 3)), nb_ones(NB_SHAPE(4, 5)));
    ck_assert_ptr_null(bad);
    ck_assert_int_eq(nb_error_code(), NB_ERR_SHAPE);
}

/* y = a * x0 + b * x1 (ctx: the two factors) */
static nb_tensor *weighted_sum(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const float *k = ctx;
    return nb_add(nb_mul_scalar(x[0], k[0]), nb_mul_scalar(x[1], k[1]));
}

/* gives a gradient for x0 only, whether or not x1 needs one */
static nb_status gradient_of_first_input_only(nb_tensor *const *x, int n, nb_tensor *y,
                                              nb_tensor *gy, nb_tensor **gx, void *ctx) {
    (void)x;
    (void)n;
    (void)y;
    gx[0] = nb_mul_scalar(gy, ((const float *)ctx)[0]);
    return gx[0] ? NB_OK : nb_error_code();
}

START_TEST(test_custom_op_backward_leaving_a_needed_gradient_null_names_the_op_and_input) {
    float k[2] = {2.0f, 3.0f};
    nb_tensor *x[2] = {nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true),
                       nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true)};
    nb_tensor *y = nb_custom_op("scaled_pair", x, 2, weighted_sum, gradient_of_first_input_only, k);
    ck_assert_ptr_nonnull(y);
    nb_clear_error();
    ck_assert_int_eq(nb_backward(nb_sum_all(y)), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("'scaled_pair'");
    NB_ASSERT_ERROR_HAS("input 1");
    ck_assert_ptr_null(nb_grad(x[1]));

    /* an input that needs no gradient may be left NULL */
    nb_tensor *c[2] = {x[0], nb_ones(NB_SHAPE(2))};
    y = nb_custom_op("scaled_pair", c, 2, weighted_sum, gradient_of_first_input_only, k);
    nb_zero_grad(x[0]);
    ck_assert_int_eq(nb_backward(nb_sum_all(y)), NB_OK);
    const float want[2] = {2.0f, 2.0f};
    NB_ASSERT_TENSOR(nb_grad(x[0]), want, 2, 0.0);
}
END_TEST

START_TEST(test_backward_succeeds_after_an_earlier_handled_failure) {
    /* sparse labels get no gradient even when they require one: that input's gx stays NULL */
    nb_tensor *logits = nb_set_requires_grad(nb_zeros(NB_SHAPE(2, 3)), true);
    nb_tensor *labels = nb_set_requires_grad(nb_from_array((float[]){0, 2}, NB_SHAPE(2)), true);
    nb_tensor *loss = nb_sparse_softmax_crossentropy_logits(logits, labels);
    ck_assert_ptr_nonnull(loss);
    fail_and_ignore();
    ck_assert_msg(nb_backward(loss) == NB_OK, "nb_backward failed: %s", nb_error());
    const float t = 1.0f / 6.0f; /* (softmax - onehot) / N with softmax = 1/3 */
    const float want[6] = {t - 0.5f, t, t, t, t, t - 0.5f};
    NB_ASSERT_TENSOR(nb_grad(logits), want, 6, 1e-6);
}
END_TEST

START_TEST(test_custom_op_failures_after_an_earlier_handled_failure_name_the_op) {
    nb_tensor *x = nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true);
    fail_and_ignore();
    ck_assert_ptr_null(nb_custom_op("double", &x, 1, forward_fails, backward_fails, NULL));
    ck_assert_int_eq(nb_error_code(), NB_ERR_ARG);
    ck_assert_str_eq(nb_error(), "nb_custom_op: the forward callback of 'double' returned NULL");

    nb_tensor *y = nb_custom_op("double", &x, 1, twice, backward_fails, NULL);
    ck_assert_ptr_nonnull(y);
    nb_tensor *s = nb_sum_all(y);
    fail_and_ignore();
    ck_assert_int_eq(nb_backward(s), NB_ERR_ARG);
    ck_assert_str_eq(nb_error(),
                     "nb_custom_op: the backward callback of 'double' failed (status 3)");
}
END_TEST

START_TEST(test_linear_succeeds_after_an_earlier_handled_failure) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 3));
    nb_tensor *w = nb_full(NB_SHAPE(3, 2), 0.5f);
    nb_tensor *b = nb_from_array((float[]){1, -1}, NB_SHAPE(2));
    fail_and_ignore();
    const float want[4] = {2.5f, 0.5f, 2.5f, 0.5f};
    NB_ASSERT_TENSOR(nb_linear(x, w, b), want, 4, 0.0);
    /* a NULL bias is no bias, whatever error an earlier call left */
    fail_and_ignore();
    NB_ASSERT_TENSOR(nb_linear(x, w, NULL), ((float[]){1.5f, 1.5f, 1.5f, 1.5f}), 4, 0.0);
}
END_TEST

START_TEST(test_optimizer_calls_succeed_after_an_earlier_handled_failure) {
    nb_tensor *p = nb_set_requires_grad(nb_ones(NB_SHAPE(3)), true);
    fail_and_ignore();
    nb_optimizer *opt = nb_sgd(0.5f, 0.0f, false, 0.0f);
    ck_assert_ptr_nonnull(opt);
    fail_and_ignore();
    ck_assert_int_eq(nb_optimizer_add_params(opt, &p, 1), NB_OK);
    fail_and_ignore();
    ck_assert_int_eq(nb_optimizer_set_lr(opt, 0.25f), NB_OK);
    fail_and_ignore();
    nb_schedule sched = {.kind = NB_SCHEDULE_STEP, .step_size = 1, .gamma = 0.5f};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &sched), NB_OK);
    fail_and_ignore();
    ck_assert_int_eq(nb_optimizer_set_clipping(opt, 0.0f, 0.0f), NB_OK);
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul_scalar(p, 2.0f))), NB_OK);
    fail_and_ignore();
    ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
    const float want[3] = {0.5f, 0.5f, 0.5f}; /* 1 - 0.25 * 2 */
    NB_ASSERT_TENSOR(p, want, 3, 0.0);
    nb_optimizer_free(opt);
}
END_TEST

/* the gradient of y = 2 x */
static nb_status twice_backward(nb_tensor *const *x, int n, nb_tensor *y, nb_tensor *gy,
                                nb_tensor **gx, void *ctx) {
    (void)x;
    (void)n;
    (void)y;
    (void)ctx;
    gx[0] = nb_mul_scalar(gy, 2);
    return gx[0] ? NB_OK : NB_ERR_STATE;
}

START_TEST(test_sequential_of_a_null_layer_array_reports_its_own_error_not_an_older_one) {
    fail_and_ignore();
    ck_assert_ptr_null(nb_sequential_of(NB_SHAPE(3), NULL, 2));
    ck_assert_int_eq(nb_error_code(), NB_ERR_NULL);
    ck_assert_str_eq(nb_error(), "nb_sequential_of: 2 layers but the layer array is NULL");
    fail_and_ignore();
    ck_assert_ptr_null(nb_sequential_of(NB_SHAPE(3), NULL, -1)); /* a count that owns no layers */
    ck_assert_int_eq(nb_error_code(), NB_ERR_ARG);
    ck_assert_str_eq(nb_error(), "nb_sequential_of: -1 layers, expected >= 0");
}
END_TEST

/* A call that succeeds leaves the last failure alone: nb_error() still names
 * the earlier call, even when the success ran the user's callbacks. */
START_TEST(test_custom_op_and_gradcheck_that_succeed_keep_the_earlier_error) {
    nb_tensor *x = nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true);
    fail_and_ignore();
    char before[1024];
    snprintf(before, sizeof before, "%s", nb_error());
    nb_tensor *y = nb_custom_op("double", &x, 1, twice, twice_backward, NULL);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(nb_backward(nb_sum_all(y)), NB_OK);
    const float want[2] = {2, 2};
    NB_ASSERT_TENSOR(nb_grad(x), want, 2, 0.0);
    ck_assert_int_eq(nb_error_code(), NB_ERR_SHAPE);
    ck_assert_str_eq(nb_error(), before);
    nb_gradcheck_result r;
    ck_assert_int_eq(nb_gradcheck(identity, &x, 1, NULL, 1e-3, 1e-2, &r), NB_OK);
    ck_assert(r.ok);
    ck_assert_str_eq(nb_error(), before);
}
END_TEST

/* x^2, but NULL (recording nothing) once x[0] moves above 1: the check's
 * perturbed points fail where the analytic pass did not */
static nb_tensor *square_below_one(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    return nb_get_flat(x[0], 0) > 1.0f ? NULL : nb_mul(x[0], x[0]);
}

START_TEST(test_gradcheck_fails_when_fn_fails_at_a_perturbed_point) {
    nb_tensor *x = nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true);
    nb_gradcheck_result r;
    nb_clear_error();
    ck_assert_int_ne(nb_gradcheck(square_below_one, &x, 1, NULL, 1e-3, 1e-2, &r), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_gradcheck: fn returned NULL at input 0 element 0");
    fail_and_ignore(); /* and a good fn still passes after a handled failure */
    ck_assert_int_eq(nb_gradcheck(identity, &x, 1, NULL, 1e-3, 1e-2, &r), NB_OK);
    ck_assert(r.ok);
}
END_TEST

/* relu(x) for inputs of 2 elements; any other shape fails without recording */
static nb_status relu_of_pairs(void *ctx, nb_tensor *const *in, int n, nb_tensor **out,
                               int *n_out) {
    (void)ctx;
    (void)n;
    if (nb_numel(in[0]) != 2) return NB_ERR_ARG;
    out[0] = nb_relu(in[0]);
    *n_out = 1;
    return out[0] ? NB_OK : nb_error_code();
}

START_TEST(test_graph_run_fails_when_tracing_again_fails) {
    nb_tensor *pair = nb_ones(NB_SHAPE(2)), *triple = nb_ones(NB_SHAPE(3));
    nb_graph_opts quiet = {.quiet = true};
    nb_graph *g = nb_trace_ex(relu_of_pairs, NULL, &pair, 1, &quiet);
    ck_assert_msg(g != NULL, "nb_trace: %s", nb_error());
    nb_tensor *out = NULL;
    nb_clear_error();
    ck_assert_int_eq(nb_graph_run(g, &triple, 1, &out), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_graph_run: the traced function failed (status 3)");
    fail_and_ignore();
    ck_assert_int_eq(nb_graph_run(g, &pair, 1, &out), NB_OK);
    const float want[2] = {1, 1};
    NB_ASSERT_TENSOR(out, want, 2, 0.0);
    nb_graph_free(g);
}
END_TEST

static Suite *errors_suite(void) {
    Suite *s = suite_create("errors");
    TCase *tc = nb_tcase("errors");
    tcase_add_test(tc, test_null_propagates_through_five_ops_keeping_the_first_message);
    tcase_add_test(tc, test_null_argument_without_a_pending_error_names_the_function);
    tcase_add_test(tc, test_every_op_returns_null_for_null_input);
    tcase_add_test(tc, test_null_into_creation_functions_is_an_error_not_a_crash);
    tcase_add_test(tc, test_null_into_access_functions_is_an_error_not_a_crash);
    tcase_add_test(tc, test_core_shape_rules_reject_bad_sizes);
    tcase_add_test(tc, test_element_access_outside_the_shape_is_an_error);
    tcase_add_test(tc, test_scope_end_without_begin_is_a_state_error);
    tcase_add_test(tc, test_requires_grad_on_a_non_leaf_is_a_state_error);
    tcase_add_test(tc, test_custom_op_callback_failures_name_the_op);
    tcase_add_test(tc, test_gradcheck_rejects_bad_arguments);
    tcase_add_test(tc, test_too_many_nested_scopes_is_an_error);
    tcase_add_test(tc,
                   test_custom_op_backward_leaving_a_needed_gradient_null_names_the_op_and_input);
    tcase_add_test(tc, test_backward_succeeds_after_an_earlier_handled_failure);
    tcase_add_test(tc, test_custom_op_failures_after_an_earlier_handled_failure_name_the_op);
    tcase_add_test(tc, test_linear_succeeds_after_an_earlier_handled_failure);
    tcase_add_test(tc, test_optimizer_calls_succeed_after_an_earlier_handled_failure);
    tcase_add_test(tc, test_gradcheck_fails_when_fn_fails_at_a_perturbed_point);
    tcase_add_test(tc, test_graph_run_fails_when_tracing_again_fails);
    tcase_add_test(tc,
                   test_sequential_of_a_null_layer_array_reports_its_own_error_not_an_older_one);
    tcase_add_test(tc, test_custom_op_and_gradcheck_that_succeed_keep_the_earlier_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(errors_suite());
}
