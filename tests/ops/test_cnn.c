/* CNN ops: PyTorch golden values, gradient checks for every option, the
 * course's feature-map example, and the error messages. */
#include "nb_test.h"

#include <stdio.h>

/* ---- golden file reader (format: tests/golden/make_cnn_golden.py) -------------------- */
#define MAX_NAMED 16

typedef struct {
    char kind[32], name[64];
    double opts[16];
    int n_opts, n;
    char names[MAX_NAMED][16];
    nb_tensor *t[MAX_NAMED];
} golden_case;

/* Reads the next case into c (tensors in the current scope); false at the end. */
static bool read_case(FILE *f, golden_case *c) {
    char word[64];
    memset(c, 0, sizeof *c);
    while (fscanf(f, "%63s", word) == 1) {
        if (word[0] == '#') {
            int ch;
            while ((ch = fgetc(f)) != '\n' && ch != EOF) continue;
        } else if (!strcmp(word, "case")) {
            ck_assert_int_eq(fscanf(f, "%31s %63s", c->kind, c->name), 2);
        } else if (!strcmp(word, "opts")) {
            char line[256];
            ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
            char *p = line, *end;
            for (double v = strtod(p, &end); end != p && c->n_opts < 16; v = strtod(p, &end)) {
                c->opts[c->n_opts++] = v;
                p = end;
            }
        } else if (!strcmp(word, "tensor")) {
            int64_t shape[8];
            int nd;
            ck_assert_int_lt(c->n, MAX_NAMED);
            ck_assert_int_eq(fscanf(f, "%15s %d", c->names[c->n], &nd), 2);
            for (int i = 0; i < nd; i++) ck_assert_int_eq(fscanf(f, "%ld", &shape[i]), 1);
            nb_tensor *t = nb_empty(shape, nd);
            for (int64_t i = 0; i < nb_numel(t); i++)
                ck_assert_int_eq(fscanf(f, "%f", &nb_data(t)[i]), 1);
            c->t[c->n++] = t;
        } else if (!strcmp(word, "end")) {
            return true;
        }
    }
    return false;
}

static nb_tensor *get(const golden_case *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->names[i], name)) return c->t[i];
    return NULL;
}

static void assert_close(const char *what, const golden_case *c, const nb_tensor *got,
                         const nb_tensor *want) {
    ck_assert_msg(got != NULL, "%s %s: %s", c->name, what, nb_error());
    ck_assert_int_eq(nb_numel(got), nb_numel(want));
    for (int64_t i = 0; i < nb_numel(want); i++) {
        double g = nb_get_flat(got, i), w = nb_get_flat(want, i);
        ck_assert_msg(fabs(g - w) <= 1e-4 * (1 + fabs(w)), "%s %s %s[%lld] = %.7g, PyTorch %.7g",
                      c->kind, c->name, what, (long long)i, g, w);
    }
}

/* run the op on the case's inputs; the loss is sum(y * r) */
static nb_tensor *run_case(const golden_case *c) {
    const double *o = c->opts;
    nb_tensor *x = get(c, "x");
    if (!strcmp(c->kind, "conv")) {
        nb_conv2d_opts opts = {.stride_h = (int)o[0],
                               .stride_w = (int)o[1],
                               .padding = o[8] ? NB_PAD_SAME : NB_PAD_EXPLICIT,
                               .pad_h = (int)o[2],
                               .pad_w = (int)o[3],
                               .dilation_h = (int)o[4],
                               .dilation_w = (int)o[5],
                               .groups = (int)o[6]};
        return nb_conv2d(x, get(c, "w"), o[7] ? get(c, "b") : NULL, &opts);
    }
    if (!strcmp(c->kind, "maxpool"))
        return nb_max_pool2d(x, (int)o[0], (int)o[1], (int)o[2], (int)o[3], (int)o[4], (int)o[5]);
    if (!strcmp(c->kind, "avgpool"))
        return nb_avg_pool2d(x, (int)o[0], (int)o[1], (int)o[2], (int)o[3], (int)o[4], (int)o[5],
                             o[6] != 0);
    return nb_batch_norm(x, get(c, "gamma"), get(c, "beta"), get(c, "rm"), get(c, "rv"), 0.1f,
                         1e-5f, o[0] != 0);
}

START_TEST(test_cnn_ops_match_pytorch) {
    FILE *f = fopen(NB_GOLDEN_DIR "/cnn_golden.txt", "r");
    ck_assert_msg(f != NULL, "cannot open %s", NB_GOLDEN_DIR "/cnn_golden.txt");
    golden_case c;
    int cases = 0;
    static const char *const inputs[] = {"x", "w", "b", "gamma", "beta"};
    static const char *const grads[] = {"dx", "dw", "db", "dgamma", "dbeta"};
    while (read_case(f, &c)) {
        nb_scope_begin();
        for (int i = 0; i < 5; i++)
            if (get(&c, inputs[i])) nb_set_requires_grad(get(&c, inputs[i]), true);
        nb_tensor *y = run_case(&c);
        assert_close("y", &c, y, get(&c, "y"));
        ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(y, get(&c, "r")))), NB_OK);
        for (int i = 0; i < 5; i++)
            if (get(&c, grads[i]))
                assert_close(grads[i], &c, nb_grad(get(&c, inputs[i])), get(&c, grads[i]));
        if (get(&c, "rm_after")) {
            assert_close("running_mean", &c, get(&c, "rm"), get(&c, "rm_after"));
            assert_close("running_var", &c, get(&c, "rv"), get(&c, "rv_after"));
        }
        for (int i = 0; i < c.n; i++) nb_zero_grad(c.t[i]);
        nb_scope_end();
        cases++;
    }
    fclose(f);
    ck_assert_int_eq(cases, 15);
}
END_TEST

/* ---- gradient checks ------------------------------------------------------------------ */
typedef struct {
    int n, c, h, w, k, r, s;
    nb_conv2d_opts o;
    bool bias;
} conv_check;

static nb_tensor *apply_conv(nb_tensor *const *x, int n, void *ctx) {
    const conv_check *cc = ctx;
    return nb_tanh(nb_conv2d(x[0], x[1], n > 2 ? x[2] : NULL, &cc->o));
}

START_TEST(test_conv2d_gradients_for_every_option) {
    static const conv_check cases[] = {
        {1, 2, 5, 5, 3, 3, 3, {.padding = NB_PAD_VALID}, true},
        {3, 2, 7, 5, 2, 3, 3, {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}, true},
        {2, 1, 6, 5, 2, 3, 3, {.padding = NB_PAD_SAME}, true},
        {1, 2, 7, 5, 2, 3, 3, {.stride_h = 2, .stride_w = 2, .padding = NB_PAD_SAME}, false},
        {1, 1, 7, 7, 2, 3, 3, {.dilation_h = 2, .dilation_w = 2, .pad_h = 1}, true},
        {3, 4, 5, 4, 4, 3, 2, {.groups = 2, .pad_w = 1}, true},
        {1, 3, 7, 5, 2, 1, 1, {.padding = NB_PAD_VALID}, false},
    };
    const conv_check *cc = &cases[_i];
    nb_tensor *x = nb_set_requires_grad(nb_randn((int64_t[]){cc->n, cc->c, cc->h, cc->w}, 4), true);
    int cg = cc->c / (cc->o.groups ? cc->o.groups : 1);
    nb_tensor *w = nb_set_requires_grad(nb_randn((int64_t[]){cc->k, cg, cc->r, cc->s}, 4), true);
    nb_tensor *b = nb_set_requires_grad(nb_randn((int64_t[]){cc->k}, 1), true);
    NB_ASSERT_GRADCHECK(apply_conv, ((nb_tensor *[]){x, w, b}), cc->bias ? 3 : 2, (void *)cc, 1e-2,
                        2e-2);
}
END_TEST

/* distinct values 0.1 apart, so no window holds two maxima within eps */
static nb_tensor *distinct(const int64_t *shape, int nd) {
    nb_tensor *t = nb_empty(shape, nd);
    int64_t n = nb_numel(t);
    float *p = nb_data(t);
    for (int64_t i = 0; i < n; i++) p[i] = 0.1f * (float)((i * 37) % n) - 0.05f * (float)n;
    return nb_set_requires_grad(t, true);
}

static nb_tensor *apply_pool(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const int *p = ctx; /* kind, k, stride, pad */
    nb_tensor *y = p[0] == 0   ? nb_max_pool2d(x[0], p[1], p[1], p[2], p[2], p[3], p[3])
                   : p[0] == 1 ? nb_avg_pool2d(x[0], p[1], p[1], p[2], p[2], p[3], p[3], true)
                   : p[0] == 2 ? nb_avg_pool2d(x[0], p[1], p[1], p[2], p[2], p[3], p[3], false)
                               : nb_global_avg_pool(x[0]);
    return nb_mul(y, y);
}

START_TEST(test_pool_gradients) {
    static const int cases[][4] = {{0, 2, 2, 0}, {0, 3, 1, 1}, {0, 3, 2, 1}, {1, 3, 2, 1},
                                   {2, 3, 2, 1}, {1, 2, 2, 0}, {3, 0, 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_tensor *x = distinct(NB_SHAPE(3, 2, 7, 5));
        NB_ASSERT_GRADCHECK(apply_pool, &x, 1, (void *)cases[i], 1e-2, 1e-2);
    }
}
END_TEST

static nb_tensor *apply_bn(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    bool training = *(bool *)ctx;
    int64_t c = nb_dim(x[0], 1);
    nb_tensor *rm = nb_zeros(&c, 1), *rv = nb_ones(&c, 1);
    nb_tensor *y = nb_batch_norm(x[0], x[1], x[2], rm, rv, 0.1f, 1e-5f, training);
    return nb_mul(y, nb_reshape(nb_arange(0, (float)nb_numel(y), 1), nb_shape(y), nb_ndim(y)));
}

START_TEST(test_batch_norm_gradients) {
    for (int training = 0; training < 2; training++) {
        bool t = training;
        nb_tensor *x4 = nb_set_requires_grad(nb_randn(NB_SHAPE(3, 2, 3, 2)), true);
        nb_tensor *g = nb_set_requires_grad(nb_uniform(NB_SHAPE(2), 0.5f, 1.5f), true);
        nb_tensor *b = nb_set_requires_grad(nb_randn(NB_SHAPE(2)), true);
        NB_ASSERT_GRADCHECK(apply_bn, ((nb_tensor *[]){x4, g, b}), 3, &t, 1e-2, 2e-2);
        nb_tensor *x2 = nb_set_requires_grad(nb_randn(NB_SHAPE(5, 3)), true);
        nb_tensor *g2 = nb_set_requires_grad(nb_uniform(NB_SHAPE(3), 0.5f, 1.5f), true);
        nb_tensor *b2 = nb_set_requires_grad(nb_randn(NB_SHAPE(3)), true);
        NB_ASSERT_GRADCHECK(apply_bn, ((nb_tensor *[]){x2, g2, b2}), 3, &t, 1e-2, 2e-2);
    }
}
END_TEST

static nb_tensor *apply_dropout(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    nb_manual_seed(99); /* the same mask on every evaluation */
    return nb_tanh(nb_dropout(x[0], 0.4f, true));
}

START_TEST(test_dropout_masks_scales_and_is_identity_in_inference) {
    nb_tensor *x = nb_ones(NB_SHAPE(1000));
    nb_tensor *y = nb_dropout(x, 0.25f, true);
    int zeros = 0;
    for (int i = 0; i < 1000; i++) {
        float v = nb_get_flat(y, i);
        ck_assert(v == 0.0f || fabsf(v - 1.0f / 0.75f) < 1e-6f);
        zeros += v == 0.0f;
    }
    ck_assert_msg(zeros > 200 && zeros < 300, "%d of 1000 dropped at rate 0.25", zeros);
    ck_assert_ptr_eq(nb_dropout(x, 0.25f, false), x);
    nb_manual_seed(5);
    nb_tensor *a = nb_dropout(x, 0.5f, true);
    nb_manual_seed(5);
    nb_tensor *b = nb_dropout(x, 0.5f, true);
    for (int i = 0; i < 1000; i++) ck_assert(nb_get_flat(a, i) == nb_get_flat(b, i));
    nb_tensor *p = nb_set_requires_grad(nb_randn(NB_SHAPE(4, 5)), true);
    NB_ASSERT_GRADCHECK(apply_dropout, &p, 1, NULL, 1e-2, 1e-2);
}
END_TEST

START_TEST(test_course_feature_map_first_value_is_4) {
    nb_tensor *img = nb_from_array(
        (float[]){1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0},
        NB_SHAPE(1, 1, 5, 5));
    nb_tensor *k = nb_from_array((float[]){1, 0, 1, 0, 1, 0, 1, 0, 1}, NB_SHAPE(1, 1, 3, 3));
    nb_tensor *map = nb_conv2d(img, k, NULL, NULL);
    NB_ASSERT_TENSOR(map, ((float[]){4, 3, 4, 2, 4, 3, 2, 3, 4}), 9, 0);
}
END_TEST

START_TEST(test_cnn_errors_are_clear) {
    nb_tensor *x = nb_ones(NB_SHAPE(1, 3, 5, 5));
    ck_assert_ptr_null(nb_conv2d(x, nb_ones(NB_SHAPE(4, 2, 3, 3)), NULL, NULL));
    NB_ASSERT_ERROR_HAS("nb_conv2d: channel mismatch: x [1, 3, 5, 5] has 3 channels, w [4, 2, 3, "
                        "3] expects 2");
    ck_assert_ptr_null(nb_conv2d(x, nb_ones(NB_SHAPE(4, 3, 7, 7)), NULL, NULL));
    NB_ASSERT_ERROR_HAS("nb_conv2d: kernel 7x7 (dilation 1x1) is larger than the padded input 5x5");
    ck_assert_ptr_null(
        nb_conv2d(x, nb_ones(NB_SHAPE(4, 3, 3, 3)), NULL, &(nb_conv2d_opts){.stride_h = -1}));
    NB_ASSERT_ERROR_HAS("nb_conv2d: stride -1x1");
    ck_assert_ptr_null(nb_conv2d(x, nb_ones(NB_SHAPE(4, 3, 3, 3)), nb_ones(NB_SHAPE(3)), NULL));
    NB_ASSERT_ERROR_HAS("nb_conv2d: bias [3] does not match 4 filters");
    ck_assert_ptr_null(
        nb_conv2d(nb_ones(NB_SHAPE(5, 5)), nb_ones(NB_SHAPE(4, 3, 3, 3)), NULL, NULL));
    NB_ASSERT_ERROR_HAS(
        "nb_conv2d: x must be [N, C, H, W] or [C, H, W] and w [K, C, R, S]; got x [5, 5]");
    ck_assert_ptr_null(nb_max_pool2d(x, 7, 7, 1, 1, 0, 0));
    NB_ASSERT_ERROR_HAS("nb_max_pool2d: window 7x7 is larger than the padded input 5x5");
    ck_assert_ptr_null(nb_avg_pool2d(x, -2, 2, 0, 0, 0, 0, true));
    NB_ASSERT_ERROR_HAS("nb_avg_pool2d: window -2x2");
    ck_assert_ptr_null(nb_max_pool2d(x, 2, 2, 2, 2, 2, 2));
    NB_ASSERT_ERROR_HAS("nb_max_pool2d: padding 2x2 is more than half the window 2x2");
    ck_assert_ptr_null(nb_batch_norm(x, nb_ones(NB_SHAPE(2)), nb_ones(NB_SHAPE(3)), NULL, NULL,
                                     0.1f, 1e-5f, true));
    NB_ASSERT_ERROR_HAS("nb_batch_norm: gamma [2], beta [3]");
    ck_assert_ptr_null(nb_batch_norm(x, nb_ones(NB_SHAPE(3)), nb_ones(NB_SHAPE(3)), NULL, NULL,
                                     0.1f, 1e-5f, false));
    NB_ASSERT_ERROR_HAS("nb_batch_norm: inference needs running_mean and running_var");
    ck_assert_ptr_null(nb_dropout(x, 1.0f, true));
    NB_ASSERT_ERROR_HAS("nb_dropout: rate 1 must be in [0, 1)");
    ck_assert_ptr_null(nb_global_avg_pool(nb_ones(NB_SHAPE(2, 3))));
    NB_ASSERT_ERROR_HAS("nb_global_avg_pool: x must be [N, C, H, W]; got [2, 3]");
}
END_TEST

START_TEST(test_zero_sizes_are_errors_except_an_empty_batch) {
    nb_tensor *x = nb_ones(NB_SHAPE(1, 3, 5, 5)), *w = nb_ones(NB_SHAPE(4, 3, 3, 3));
    ck_assert_ptr_null(
        nb_conv2d(nb_ones(NB_SHAPE(1, 0, 5, 5)), nb_ones(NB_SHAPE(4, 0, 3, 3)), NULL, NULL));
    NB_ASSERT_ERROR_HAS("nb_conv2d: sizes must be positive (only the batch may be 0); got x [1, "
                        "0, 5, 5], w [4, 0, 3, 3]");
    ck_assert_ptr_null(nb_conv2d(x, nb_ones(NB_SHAPE(0, 3, 3, 3)), NULL, NULL));
    NB_ASSERT_ERROR_HAS("nb_conv2d: sizes must be positive");
    ck_assert_ptr_null(nb_conv2d(x, nb_ones(NB_SHAPE(4, 3, 0, 3)), NULL, NULL));
    NB_ASSERT_ERROR_HAS("nb_conv2d: sizes must be positive");
    ck_assert_ptr_null(nb_conv2d(x, w, NULL, &(nb_conv2d_opts){.padding = (nb_padding)7}));
    NB_ASSERT_ERROR_HAS("nb_conv2d: unknown padding mode 7");
    ck_assert_ptr_null(nb_max_pool2d(nb_ones(NB_SHAPE(1, 3, 0, 4)), 1, 1, 1, 1, 0, 0));
    NB_ASSERT_ERROR_HAS("nb_max_pool2d: the image of x [1, 3, 0, 4] is empty");

    /* an empty batch gives an empty result and zero weight gradients */
    nb_tensor *x0 = nb_set_requires_grad(nb_ones(NB_SHAPE(0, 3, 5, 5)), true);
    nb_tensor *wg = nb_set_requires_grad(nb_ones(NB_SHAPE(4, 3, 3, 3)), true);
    nb_tensor *bg = nb_set_requires_grad(nb_ones(NB_SHAPE(4)), true);
    nb_tensor *y = nb_max_pool2d(nb_conv2d(x0, wg, bg, &(nb_conv2d_opts){.pad_h = 1, .pad_w = 1}),
                                 2, 2, 2, 2, 0, 0);
    ck_assert_msg(y != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_dim(y, 0), 0);
    ck_assert_int_eq(nb_dim(y, 1), 4);
    ck_assert_int_eq(nb_backward(nb_sum_all(y)), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(bg), ((float[]){0, 0, 0, 0}), 4, 0);
    for (int64_t i = 0; i < nb_numel(wg); i++) ck_assert(nb_get_flat(nb_grad(wg), i) == 0.0f);
}
END_TEST

START_TEST(test_a_channels_last_batch_into_conv2d_names_the_layout_and_the_permute) {
    const char *permute = "permute it with nb_permute(x, (int[]){0, 3, 1, 2}, 4)";
    nb_tensor *x = nb_ones(NB_SHAPE(2, 28, 28, 1));
    ck_assert_ptr_null(nb_conv2d(x, nb_ones(NB_SHAPE(4, 1, 3, 3)), NULL, NULL));
    NB_ASSERT_ERROR_HAS("nb_conv2d: channel mismatch: x [2, 28, 28, 1] has 28 channels");
    NB_ASSERT_ERROR_HAS("x looks channels-last [N, H, W, C]; nb_conv2d takes [N, C, H, W]");
    NB_ASSERT_ERROR_HAS(permute);
    /* weights made from x's second axis: the kernel does not fit an image 1 pixel wide */
    ck_assert_ptr_null(nb_conv2d(x, nb_ones(NB_SHAPE(4, 28, 3, 3)), NULL, NULL));
    NB_ASSERT_ERROR_HAS(
        "nb_conv2d: kernel 3x3 (dilation 1x1) is larger than the padded input 28x1");
    NB_ASSERT_ERROR_HAS(permute);
    ck_assert_ptr_null(
        nb_conv2d(nb_ones(NB_SHAPE(1, 32, 32, 3)), nb_ones(NB_SHAPE(8, 3, 3, 3)), NULL, NULL));
    NB_ASSERT_ERROR_HAS(permute);
    /* the permuted batch is taken; a plain channel mismatch gets no such hint */
    nb_tensor *y =
        nb_conv2d(nb_permute(x, (int[]){0, 3, 1, 2}, 4), nb_ones(NB_SHAPE(4, 1, 3, 3)), NULL, NULL);
    ck_assert_msg(y != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_dim(y, 1), 4);
    ck_assert_int_eq(nb_dim(y, 3), 26);
    ck_assert_ptr_null(
        nb_conv2d(nb_ones(NB_SHAPE(1, 3, 5, 5)), nb_ones(NB_SHAPE(4, 2, 3, 3)), NULL, NULL));
    ck_assert_msg(!strstr(nb_error(), "nb_permute"), "%s", nb_error());
}
END_TEST

static Suite *cnn_suite(void) {
    Suite *s = suite_create("cnn");
    TCase *tc = nb_tcase("golden");
    tcase_add_test(tc, test_cnn_ops_match_pytorch);
    tcase_add_test(tc, test_course_feature_map_first_value_is_4);
    suite_add_tcase(s, tc);
    tc = nb_tcase("gradients");
    tcase_add_loop_test(tc, test_conv2d_gradients_for_every_option, 0, 7);
    tcase_add_test(tc, test_pool_gradients);
    tcase_add_test(tc, test_batch_norm_gradients);
    tcase_add_test(tc, test_dropout_masks_scales_and_is_identity_in_inference);
    suite_add_tcase(s, tc);
    tc = nb_tcase("errors");
    tcase_add_test(tc, test_cnn_errors_are_clear);
    tcase_add_test(tc, test_a_channels_last_batch_into_conv2d_names_the_layout_and_the_permute);
    tcase_add_test(tc, test_zero_sizes_are_errors_except_an_empty_batch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(cnn_suite());
}
