/* The CNN ops and cross-entropies on the shapes PyTorch accepts: unbatched
 * convolution, BatchNorm1d's [N, C, L] and affine=False, max pooling with
 * dilation and ceil_mode, cross-entropy on one sample [K] and on
 * [N, K, d1, ...] with the classes on axis 1.
 *
 * Every value is compared with a plain double loop written here (index
 * arithmetic only, no nabla op), every gradient with central differences,
 * and each form still refused names itself in its error. */
#include "nb_test.h"

#define EPS 1e-2
#define TOL 2e-2

/* a fixed weight per output element, so that sum(w * y) has a gradient
 * that depends on every element (sum(y) alone is constant for batch norm) */
static nb_tensor *weighted(nb_tensor *y) {
    if (!y) return NULL;
    nb_tensor *w = nb_tanh(nb_affine(nb_arange(0, (float)nb_numel(y), 1), 0.7f, -2.0f));
    return nb_mul(y, nb_reshape(w, nb_shape(y), nb_ndim(y)));
}

/* ---- convolution on [C, H, W] --------------------------------------------------------- */
/* x [C, H, W], w [K, C, R, S], b [K] -> y [K, Ho, Wo]; stride s, padding p, dilation d */
static void conv_ref(const float *x, int64_t c, int64_t h, int64_t wd, const float *w, int64_t k,
                     int64_t r, int64_t s, const float *b, int st, int p, int d, double *y,
                     int64_t ho, int64_t wo) {
    for (int64_t o = 0; o < k; o++)
        for (int64_t i = 0; i < ho; i++)
            for (int64_t j = 0; j < wo; j++) {
                double acc = b ? b[o] : 0;
                for (int64_t ci = 0; ci < c; ci++)
                    for (int64_t u = 0; u < r; u++)
                        for (int64_t v = 0; v < s; v++) {
                            int64_t yi = i * st - p + u * d, xj = j * st - p + v * d;
                            if (yi < 0 || yi >= h || xj < 0 || xj >= wd) continue;
                            acc += (double)x[(ci * h + yi) * wd + xj] *
                                   w[((o * c + ci) * r + u) * s + v];
                        }
                y[(o * ho + i) * wo + j] = acc;
            }
}

static const nb_conv2d_opts conv_opts = {
    .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .dilation_h = 2, .dilation_w = 2};

static nb_tensor *apply_conv(nb_tensor *const *x, int n, void *ctx) {
    (void)ctx;
    return weighted(nb_conv2d(x[0], x[1], n > 2 ? x[2] : NULL, &conv_opts));
}

START_TEST(test_conv2d_on_an_unbatched_image_matches_a_double_reference) {
    /* x [3, 7, 6], w [4, 3, 3, 2]: H' = (7 + 2 - 5) / 2 + 1 = 3, W' = (6 + 2 - 3) / 2 + 1 = 3 */
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(3, 7, 6)), true);
    nb_tensor *w = nb_set_requires_grad(nb_randn(NB_SHAPE(4, 3, 3, 2)), true);
    nb_tensor *b = nb_set_requires_grad(nb_randn(NB_SHAPE(4)), true);
    nb_tensor *y = nb_conv2d(x, w, b, &conv_opts);
    ck_assert_msg(y != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_ndim(y), 3);
    ck_assert_int_eq(nb_dim(y, 0), 4);
    ck_assert_int_eq(nb_dim(y, 1), 3);
    ck_assert_int_eq(nb_dim(y, 2), 3);
    double want[4 * 3 * 3];
    conv_ref(nb_data(x), 3, 7, 6, nb_data(w), 4, 3, 2, nb_data(b), 2, 1, 2, want, 3, 3);
    NB_ASSERT_TENSOR(y, want, 36, 1e-5);
    NB_ASSERT_GRADCHECK(apply_conv, ((nb_tensor *[]){x, w, b}), 3, NULL, EPS, TOL);
    NB_ASSERT_GRADCHECK(apply_conv, ((nb_tensor *[]){x, w}), 2, NULL, EPS, TOL);
}
END_TEST

START_TEST(test_conv2d_unbatched_equals_the_batch_of_one_squeezed) {
    nb_tensor *x = nb_randn(NB_SHAPE(2, 5, 5));
    nb_tensor *w = nb_randn(NB_SHAPE(3, 2, 3, 3));
    nb_conv2d_opts same = {.padding = NB_PAD_SAME};
    nb_tensor *y3 = nb_conv2d(x, w, NULL, &same);
    nb_tensor *y4 = nb_conv2d(nb_reshape(x, NB_SHAPE(1, 2, 5, 5)), w, NULL, &same);
    ck_assert_msg(y3 && y4, "%s", nb_error());
    ck_assert_int_eq(nb_ndim(y3), 3);
    ck_assert_int_eq(nb_numel(y3), 3 * 5 * 5);
    for (int64_t i = 0; i < nb_numel(y4); i++)
        ck_assert_float_eq(nb_get_flat(y3, i), nb_get_flat(y4, i));
}
END_TEST

START_TEST(test_conv2d_refuses_other_ranks_naming_both_forms) {
    nb_tensor *w = nb_randn(NB_SHAPE(3, 2, 3, 3));
    ck_assert_ptr_null(nb_conv2d(nb_randn(NB_SHAPE(5, 5)), w, NULL, NULL));
    NB_ASSERT_ERROR_HAS("[N, C, H, W] or [C, H, W]");
    ck_assert_ptr_null(nb_conv2d(nb_randn(NB_SHAPE(3, 5, 5)), w, NULL, NULL));
    NB_ASSERT_ERROR_HAS("channel mismatch");
}
END_TEST

/* ---- batch normalization on [N, C, L] and without gamma / beta ----------------------- */
/* x [N, C, L] -> y, training statistics; gamma, beta NULL = 1, 0 */
static void bn_ref(const float *x, int64_t n, int64_t c, int64_t l, const float *gamma,
                   const float *beta, double eps, double *y, double *mean, double *var) {
    for (int64_t ci = 0; ci < c; ci++) {
        double s = 0, ss = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < l; j++) s += x[(i * c + ci) * l + j];
        double m = s / (double)(n * l);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < l; j++) {
                double d = x[(i * c + ci) * l + j] - m;
                ss += d * d;
            }
        double v = ss / (double)(n * l);
        mean[ci] = m;
        var[ci] = v;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < l; j++) {
                int64_t at = (i * c + ci) * l + j;
                y[at] =
                    (gamma ? gamma[ci] : 1) * (x[at] - m) / sqrt(v + eps) + (beta ? beta[ci] : 0);
            }
    }
}

static nb_tensor *apply_bn(nb_tensor *const *x, int n, void *ctx) {
    bool training = *(bool *)ctx;
    int64_t c = nb_dim(x[0], 1);
    nb_tensor *rm = nb_zeros(&c, 1), *rv = nb_affine(nb_arange(0, (float)c, 1), 0.4f, 0.7f);
    nb_tensor *g = n > 1 ? x[1] : NULL, *b = n > 1 ? x[2] : NULL;
    return weighted(nb_batch_norm(x[0], g, b, rm, rv, 0.1f, 1e-5f, training));
}

START_TEST(test_batch_norm_on_n_c_l_matches_a_double_reference) {
    /* N = C = L = 3: a statistic over the wrong axes gives the right shape, wrong numbers */
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(3, 3, 3)), true);
    nb_tensor *g = nb_set_requires_grad(nb_uniform(NB_SHAPE(3), 0.5f, 1.5f), true);
    nb_tensor *b = nb_set_requires_grad(nb_randn(NB_SHAPE(3)), true);
    nb_tensor *rm = nb_zeros(NB_SHAPE(3)), *rv = nb_ones(NB_SHAPE(3));
    nb_tensor *y = nb_batch_norm(x, g, b, rm, rv, 0.1f, 1e-5f, true);
    double want[27], mean[3], var[3];
    bn_ref(nb_data(x), 3, 3, 3, nb_data(g), nb_data(b), 1e-5, want, mean, var);
    NB_ASSERT_TENSOR(y, want, 27, 1e-4);
    double want_rm[3], want_rv[3];
    for (int i = 0; i < 3; i++) {
        want_rm[i] = 0.1 * mean[i];
        want_rv[i] = 0.9 + 0.1 * var[i] * 9.0 / 8.0; /* unbiased over N L = 9 values */
    }
    NB_ASSERT_TENSOR(rm, want_rm, 3, 1e-5);
    NB_ASSERT_TENSOR(rv, want_rv, 3, 1e-5);
    for (int training = 0; training < 2; training++) {
        bool t = training;
        NB_ASSERT_GRADCHECK(apply_bn, ((nb_tensor *[]){x, g, b}), 3, &t, EPS, TOL);
    }
}
END_TEST

START_TEST(test_batch_norm_without_gamma_and_beta_normalizes_only) {
    const int64_t shapes[][4] = {{3, 3}, {3, 3, 3}, {2, 3, 2, 2}};
    const int nds[] = {2, 3, 4};
    for (int k = 0; k < 3; k++) {
        nb_tensor *x = nb_set_requires_grad(nb_randn(shapes[k], nds[k]), true);
        int64_t n = shapes[k][0], c = shapes[k][1], l = nb_numel(x) / (n * c);
        nb_tensor *y = nb_batch_norm(x, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, true);
        double want[27], mean[3], var[3];
        bn_ref(nb_data(x), n, c, l, NULL, NULL, 1e-5, want, mean, var);
        NB_ASSERT_TENSOR(y, want, nb_numel(x), 1e-4);
        for (int training = 0; training < 2; training++) {
            bool t = training;
            NB_ASSERT_GRADCHECK(apply_bn, &x, 1, &t, EPS, TOL);
        }
    }
}
END_TEST

START_TEST(test_batch_norm_refuses_one_of_gamma_and_beta) {
    nb_tensor *x = nb_randn(NB_SHAPE(4, 3));
    ck_assert_ptr_null(nb_batch_norm(x, nb_ones(NB_SHAPE(3)), NULL, NULL, NULL, 0.1f, 1e-5f, true));
    NB_ASSERT_ERROR_HAS("nb_batch_norm");
    ck_assert_ptr_null(nb_batch_norm(nb_randn(NB_SHAPE(2, 3, 2, 2, 2)), NULL, NULL, NULL, NULL,
                                     0.1f, 1e-5f, true));
    NB_ASSERT_ERROR_HAS("[N, C], [N, C, L] or [N, C, H, W]");
}
END_TEST

/* ---- max pooling with dilation and ceil_mode ----------------------------------------- */
/* PyTorch's documented output size of MaxPool2d along one axis */
static int64_t torch_pool_out(int64_t in, int k, int s, int p, int d, bool ceil_mode) {
    int64_t num = in + 2 * p - d * (k - 1) - 1;
    int64_t out = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + p) out--;
    return out;
}

/* x [C, H, W] (planes) -> y [C, Ho, Wo]: the max over each window's pixels inside x */
static void max_pool_ref(const float *x, int64_t c, int64_t h, int64_t w, int k, int s, int p,
                         int d, int64_t ho, int64_t wo, double *y) {
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t i = 0; i < ho; i++)
            for (int64_t j = 0; j < wo; j++) {
                double m = -INFINITY;
                for (int u = 0; u < k; u++)
                    for (int v = 0; v < k; v++) {
                        int64_t yi = i * s - p + u * d, xj = j * s - p + v * d;
                        if (yi >= 0 && yi < h && xj >= 0 && xj < w)
                            m = fmax(m, x[(ci * h + yi) * w + xj]);
                    }
                y[(ci * ho + i) * wo + j] = m;
            }
}

typedef struct {
    int64_t h, w;
    int k, s, p, d;
    bool ceil_mode;
} pool_case;

static nb_tensor *apply_pool(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const pool_case *c = ctx;
    nb_max_pool2d_opts o = {c->s, c->s, c->p, c->p, c->d, c->d, c->ceil_mode};
    return weighted(nb_max_pool2d_ex(x[0], c->k, c->k, &o));
}

START_TEST(test_max_pool_with_dilation_and_ceil_mode_matches_pytorch_sizes_and_a_reference) {
    static const pool_case cases[] = {
        {5, 5, 2, 2, 1, 1, true},  /* the 4th window would start at 5 = H: dropped, 3 left */
        {6, 7, 3, 2, 0, 1, true},  /* ceil adds a window reading past the end: 3 x 3 */
        {6, 7, 3, 2, 0, 1, false}, /* the same floored: 2 x 3 */
        {7, 7, 3, 1, 1, 2, false}, /* dilation 2: span 5 */
        {8, 9, 2, 3, 1, 3, true},  /* dilation and ceil together */
        {4, 4, 2, 2, 0, 1, true},  /* ceil on an exact fit changes nothing */
    };
    for (int t = 0; t < (int)(sizeof cases / sizeof cases[0]); t++) {
        const pool_case *c = &cases[t];
        int64_t n = 2 * c->h * c->w;
        float vals[2 * 9 * 9];
        for (int64_t i = 0; i < n; i++) /* distinct, 0.1 apart: no ties within eps */
            vals[i] = 0.1f * (float)((i * 37) % n) - 3;
        nb_tensor *x =
            nb_set_requires_grad(nb_from_array(vals, (int64_t[]){1, 2, c->h, c->w}, 4), true);
        int64_t ho = torch_pool_out(c->h, c->k, c->s, c->p, c->d, c->ceil_mode);
        int64_t wo = torch_pool_out(c->w, c->k, c->s, c->p, c->d, c->ceil_mode);
        nb_max_pool2d_opts o = {c->s, c->s, c->p, c->p, c->d, c->d, c->ceil_mode};
        nb_tensor *y = nb_max_pool2d_ex(x, c->k, c->k, &o);
        ck_assert_msg(y != NULL, "case %d: %s", t, nb_error());
        ck_assert_msg(nb_dim(y, 2) == ho && nb_dim(y, 3) == wo,
                      "case %d: y is %lldx%lld, PyTorch's size is %lldx%lld", t,
                      (long long)nb_dim(y, 2), (long long)nb_dim(y, 3), (long long)ho,
                      (long long)wo);
        double want[2 * 9 * 9];
        max_pool_ref(vals, 2, c->h, c->w, c->k, c->s, c->p, c->d, ho, wo, want);
        NB_ASSERT_TENSOR(y, want, 2 * ho * wo, 0);
        NB_ASSERT_GRADCHECK(apply_pool, &x, 1, (void *)c, EPS, TOL);
    }
}
END_TEST

START_TEST(test_max_pool_ex_refuses_bad_options_by_name) {
    nb_tensor *x = nb_ones(NB_SHAPE(1, 1, 5, 5));
    ck_assert_ptr_null(nb_max_pool2d_ex(x, 2, 2, &(nb_max_pool2d_opts){.dilation_h = -1}));
    NB_ASSERT_ERROR_HAS("nb_max_pool2d: window 2x2, stride 2x2, dilation -1x1");
    ck_assert_ptr_null(nb_max_pool2d_ex(x, 3, 3, &(nb_max_pool2d_opts){.dilation_h = 3}));
    NB_ASSERT_ERROR_HAS("window 3x3 is larger than the padded input 5x5 (once dilated)");
    ck_assert_ptr_null(nb_max_pool2d_ex(x, 2, 2, &(nb_max_pool2d_opts){.pad_h = 2}));
    NB_ASSERT_ERROR_HAS("padding 2x0 is more than half the window 2x2");
}
END_TEST

/* ---- cross-entropy on [K] and [N, K, d1, ...] --------------------------------------- */
/* x [N, K, D] (D positions per sample) -> the mean over N D of -log softmax_k(x)[label] */
static double ce_ref(const float *x, int64_t n, int64_t k, int64_t d, const float *labels,
                     const float *soft) {
    double total = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < d; p++) {
            double m = -INFINITY, s = 0;
            for (int64_t j = 0; j < k; j++) m = fmax(m, x[(i * k + j) * d + p]);
            for (int64_t j = 0; j < k; j++) s += exp(x[(i * k + j) * d + p] - m);
            double lse = m + log(s);
            for (int64_t j = 0; j < k; j++) {
                double t = soft ? soft[(i * k + j) * d + p] : labels[i * d + p] == (float)j;
                total += t * (lse - x[(i * k + j) * d + p]);
            }
        }
    return total / (double)(n * d);
}

static nb_tensor *apply_sparse_ce(nb_tensor *const *x, int n, void *labels) {
    (void)n;
    return nb_sparse_softmax_crossentropy_logits(x[0], labels);
}

static nb_tensor *apply_soft_ce(nb_tensor *const *x, int n, void *ctx) {
    (void)ctx;
    return nb_softmax_crossentropy_logits(x[0], x[n - 1]);
}

START_TEST(test_cross_entropy_of_one_sample_matches_a_double_reference) {
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(4)), true);
    nb_tensor *label = nb_full(NULL, 0, 2);
    nb_tensor *loss = nb_sparse_softmax_crossentropy_logits(x, label);
    ck_assert_msg(loss != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_ndim(loss), 0);
    NB_ASSERT_CLOSE(nb_item(loss), ce_ref(nb_data(x), 1, 4, 1, (float[]){2}, NULL), 1e-6);
    NB_ASSERT_GRADCHECK(apply_sparse_ce, &x, 1, label, EPS, TOL);
    nb_tensor *soft =
        nb_set_requires_grad(nb_from_array((float[]){0.1f, 0.2f, 0.3f, 0.4f}, NB_SHAPE(4)), true);
    loss = nb_softmax_crossentropy_logits(x, soft);
    ck_assert_msg(loss != NULL, "%s", nb_error());
    NB_ASSERT_CLOSE(nb_item(loss), ce_ref(nb_data(x), 1, 4, 1, NULL, nb_data(soft)), 1e-6);
    NB_ASSERT_GRADCHECK(apply_soft_ce, ((nb_tensor *[]){x, soft}), 2, NULL, EPS, TOL);
}
END_TEST

START_TEST(test_cross_entropy_with_classes_on_axis_1_matches_a_double_reference) {
    /* x [N, K, d1, d2] = [3, 3, 3, 1] then [2, 3, 2, 2]: equal sizes catch a wrong class axis */
    const int64_t shapes[][4] = {{3, 3, 3, 1}, {2, 3, 2, 2}};
    for (int s = 0; s < 2; s++) {
        const int64_t *sh = shapes[s];
        int64_t n = sh[0], k = sh[1], d = sh[2] * sh[3];
        nb_tensor *x = nb_set_requires_grad(nb_mul_scalar(nb_randn(sh, 4), 2), true);
        float lab[12];
        for (int64_t i = 0; i < n * d; i++) lab[i] = (float)((i * 7 + s) % k);
        nb_tensor *labels = nb_from_array(lab, (int64_t[]){n, sh[2], sh[3]}, 3);
        nb_tensor *loss = nb_sparse_softmax_crossentropy_logits(x, labels);
        ck_assert_msg(loss != NULL, "%s", nb_error());
        NB_ASSERT_CLOSE(nb_item(loss), ce_ref(nb_data(x), n, k, d, lab, NULL), 1e-6);
        NB_ASSERT_GRADCHECK(apply_sparse_ce, &x, 1, labels, EPS, TOL);
        nb_tensor *soft = nb_set_requires_grad(nb_softmax(nb_randn(sh, 4), 1), true);
        loss = nb_softmax_crossentropy_logits(x, soft);
        ck_assert_msg(loss != NULL, "%s", nb_error());
        NB_ASSERT_CLOSE(nb_item(loss), ce_ref(nb_data(x), n, k, d, NULL, nb_data(soft)), 1e-6);
        NB_ASSERT_GRADCHECK(apply_soft_ce, ((nb_tensor *[]){x, soft}), 2, NULL, EPS, TOL);
    }
}
END_TEST

START_TEST(test_cross_entropy_refuses_labels_that_keep_the_class_axis) {
    nb_tensor *x = nb_randn(NB_SHAPE(2, 3, 4));
    ck_assert_ptr_null(nb_sparse_softmax_crossentropy_logits(x, nb_zeros(NB_SHAPE(2, 3))));
    NB_ASSERT_ERROR_HAS("without the class axis 1");
    ck_assert_ptr_null(
        nb_sparse_softmax_crossentropy_logits(nb_randn(NB_SHAPE(4)), nb_zeros(NB_SHAPE(4))));
    NB_ASSERT_ERROR_HAS("[] for [K] logits");
    ck_assert_ptr_null(nb_softmax_crossentropy_logits(x, nb_zeros(NB_SHAPE(2, 4, 3))));
    NB_ASSERT_ERROR_HAS("differ in shape");
    ck_assert_ptr_null(nb_sparse_softmax_crossentropy_logits(x, nb_full(NB_SHAPE(2, 4), 3)));
    NB_ASSERT_ERROR_HAS("not a class index in [0, 3)");
}
END_TEST

START_TEST(test_model_losses_on_logits_keep_classes_last) {
    /* [3, 3, 3] logits with [3, 3] labels fit PyTorch's axis-1 rule; a model's outputs
     * mean classes last (Keras), so the losses by name refuse rather than guess */
    nb_tensor *x = nb_randn(NB_SHAPE(3, 3, 3)), *labels = nb_zeros(NB_SHAPE(3, 3));
    nb_loss_opts logits = {.from_logits = true};
    ck_assert_ptr_null(nb_loss_by_name_ex("sparse_categorical_crossentropy", x, labels, &logits));
    NB_ASSERT_ERROR_HAS("sparse_categorical_crossentropy with from_logits takes [N, K] outputs");
    ck_assert_ptr_null(nb_loss_by_name_ex("categorical_crossentropy", x, x, &logits));
    NB_ASSERT_ERROR_HAS("nb_softmax_crossentropy_logits");
    ck_assert_ptr_nonnull(nb_sparse_softmax_crossentropy_logits(x, labels));
}
END_TEST

static Suite *pytorch_shapes_suite(void) {
    Suite *s = suite_create("pytorch_shapes");
    TCase *tc = nb_tcase("forms");
    tcase_add_test(tc, test_conv2d_on_an_unbatched_image_matches_a_double_reference);
    tcase_add_test(tc, test_conv2d_unbatched_equals_the_batch_of_one_squeezed);
    tcase_add_test(tc, test_conv2d_refuses_other_ranks_naming_both_forms);
    tcase_add_test(tc, test_batch_norm_on_n_c_l_matches_a_double_reference);
    tcase_add_test(tc, test_batch_norm_without_gamma_and_beta_normalizes_only);
    tcase_add_test(tc, test_batch_norm_refuses_one_of_gamma_and_beta);
    tcase_add_test(tc,
                   test_max_pool_with_dilation_and_ceil_mode_matches_pytorch_sizes_and_a_reference);
    tcase_add_test(tc, test_max_pool_ex_refuses_bad_options_by_name);
    tcase_add_test(tc, test_cross_entropy_of_one_sample_matches_a_double_reference);
    tcase_add_test(tc, test_cross_entropy_with_classes_on_axis_1_matches_a_double_reference);
    tcase_add_test(tc, test_cross_entropy_refuses_labels_that_keep_the_class_axis);
    tcase_add_test(tc, test_model_losses_on_logits_keep_classes_last);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(pytorch_shapes_suite());
}
