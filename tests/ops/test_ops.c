/* Every op: known values, a gradient check against central differences, and
 * its shape rule's error message. */
#include "nb_test.h"

#define EPS 1e-2
#define TOL 1e-2

static nb_tensor *param(const int64_t *shape, int ndim) {
    return nb_set_requires_grad(nb_randn(shape, ndim), true);
}

/* ---- elementwise ------------------------------------------------------------------ */
typedef nb_tensor *(*unary_fn)(nb_tensor *);
typedef struct {
    const char *name;
    unary_fn f;
    float lo, hi; /* input range for the gradient check (away from kinks) */
} unary_case;

static nb_tensor *softplus_(nb_tensor *x) {
    return nb_softplus(x);
}
static nb_tensor *leaky_(nb_tensor *x) {
    return nb_leaky_relu(x, 0.1f);
}
static nb_tensor *elu_(nb_tensor *x) {
    return nb_elu(x, 1.0f);
}
static nb_tensor *pow3_(nb_tensor *x) {
    return nb_pow_scalar(x, 3.0f);
}
static nb_tensor *clip_(nb_tensor *x) {
    return nb_clip(x, -0.5f, 0.5f);
}
static nb_tensor *affine_(nb_tensor *x) {
    return nb_affine(x, 2.0f, -1.0f);
}
static nb_tensor *rsub_(nb_tensor *x) {
    return nb_rsub_scalar(x, 3.0f);
}
static nb_tensor *divs_(nb_tensor *x) {
    return nb_div_scalar(x, 4.0f);
}

static const unary_case unary_cases[] = {
    {"exp", nb_exp, -2, 2},         {"log", nb_log, 0.5f, 3},       {"sqrt", nb_sqrt, 0.5f, 3},
    {"square", nb_square, -2, 2},   {"pow3", pow3_, -2, 2},         {"abs", nb_abs, 0.2f, 2},
    {"clip", clip_, -2, 2},         {"relu", nb_relu, -2, 2},       {"leaky", leaky_, -2, 2},
    {"sigmoid", nb_sigmoid, -3, 3}, {"tanh", nb_tanh, -2, 2},       {"elu", elu_, -2, 2},
    {"gelu", nb_gelu, -2, 2},       {"softplus", softplus_, -3, 3}, {"neg", nb_neg, -2, 2},
    {"affine", affine_, -2, 2},     {"rsub", rsub_, -2, 2},         {"div_scalar", divs_, -2, 2},
};

static nb_tensor *apply_unary(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    return ((const unary_case *)ctx)->f(x[0]);
}

/* inputs in [lo, hi] that keep a distance from kinks at 0 and +-0.5 */
static nb_tensor *input_in(float lo, float hi) {
    nb_tensor *x = nb_uniform(NB_SHAPE(3, 4), lo, hi);
    float *p = nb_data(x);
    for (int i = 0; i < 12; i++)
        if (fabsf(p[i]) < 0.1f || fabsf(fabsf(p[i]) - 0.5f) < 0.1f) p[i] += 0.25f;
    return nb_set_requires_grad(x, true);
}

START_TEST(test_every_unary_op_has_correct_gradients) {
    const unary_case *c = &unary_cases[_i];
    nb_tensor *x = input_in(c->lo, c->hi);
    ck_assert_msg(c->f(x) != NULL, "%s: %s", c->name, nb_error());
    NB_ASSERT_GRADCHECK(apply_unary, &x, 1, (void *)c, 1e-3, TOL);
}
END_TEST

START_TEST(test_activations_known_values) {
    nb_tensor *x = nb_from_array((float[]){-2, -0.5f, 0, 0.5f, 2}, NB_SHAPE(5));
    NB_ASSERT_TENSOR(nb_relu(x), ((float[]){0, 0, 0, 0.5f, 2}), 5, 1e-6);
    NB_ASSERT_TENSOR(nb_leaky_relu(x, 0.1f), ((float[]){-0.2f, -0.05f, 0, 0.5f, 2}), 5, 1e-6);
    NB_ASSERT_TENSOR(nb_sigmoid(x),
                     ((float[]){0.1192029f, 0.3775407f, 0.5f, 0.6224593f, 0.8807971f}), 5, 1e-5);
    NB_ASSERT_TENSOR(nb_tanh(x), ((float[]){-0.9640276f, -0.4621172f, 0, 0.4621172f, 0.9640276f}),
                     5, 1e-5);
    NB_ASSERT_TENSOR(nb_elu(x, 1.0f), ((float[]){-0.8646647f, -0.3934693f, 0, 0.5f, 2}), 5, 1e-5);
    NB_ASSERT_TENSOR(nb_gelu(x), ((float[]){-0.0455003f, -0.1542688f, 0, 0.3457312f, 1.9544997f}),
                     5, 1e-4);
    NB_ASSERT_TENSOR(nb_softplus(x),
                     ((float[]){0.126928f, 0.474077f, 0.693147f, 0.974077f, 2.126928f}), 5, 1e-5);
    NB_ASSERT_TENSOR(nb_heaviside(x), ((float[]){0, 0, 0, 1, 1}), 5, 0);
    NB_ASSERT_TENSOR(nb_clip(x, -1, 1), ((float[]){-1, -0.5f, 0, 0.5f, 1}), 5, 0);
    NB_ASSERT_TENSOR(nb_abs(x), ((float[]){2, 0.5f, 0, 0.5f, 2}), 5, 0);
    NB_ASSERT_TENSOR(nb_pow_scalar(x, 2), ((float[]){4, 0.25f, 0, 0.25f, 4}), 5, 1e-6);
}
END_TEST

/* oneDNN's log kernel gave log(1) = -1.43e-6 and log(0.99999f) 14% off, and
 * softplus(-20) < 0; these are the correctly rounded floats. */
START_TEST(test_log_and_softplus_are_correctly_rounded_near_their_zeros) {
    const float x[] = {1, 0.99999f, 1.00001f, 0.9999999f, 2, 1e-30f};
    nb_tensor *y = nb_log(nb_from_array(x, NB_SHAPE(6)));
    for (int i = 0; i < 6; i++)
        ck_assert_msg(nb_get_flat(y, i) == (float)log((double)x[i]),
                      "log(%.9g) = %.9g, expected %.9g", (double)x[i], (double)nb_get_flat(y, i),
                      log((double)x[i]));
    const float z[] = {-20, -88, -1e-7f, 0, 15, 30};
    nb_tensor *s = nb_softplus(nb_from_array(z, NB_SHAPE(6)));
    for (int i = 0; i < 6; i++) {
        double d = z[i], want = d > 0 ? d + log1p(exp(-d)) : log1p(exp(d));
        ck_assert_msg(nb_get_flat(s, i) == (float)want, "softplus(%.9g) = %.9g, expected %.9g", d,
                      (double)nb_get_flat(s, i), want);
    }
    ck_assert(nb_get_flat(s, 0) > 0);
}
END_TEST

START_TEST(test_sigmoid_derivative_at_zero_is_a_quarter) {
    nb_tensor *x = nb_set_requires_grad(nb_scalar(0.0f), true);
    ck_assert_int_eq(nb_backward(nb_sigmoid(x)), NB_OK);
    NB_ASSERT_CLOSE(nb_item(nb_grad(x)), 0.25, 1e-6);
}
END_TEST

START_TEST(test_step_records_no_gradient) {
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(4)), true);
    ck_assert(!nb_requires_grad(nb_heaviside(x)));
}
END_TEST

START_TEST(test_unary_argument_errors) {
    nb_tensor *x = nb_ones(NB_SHAPE(2));
    ck_assert_ptr_null(nb_clip(x, 1, -1));
    NB_ASSERT_ERROR_HAS("nb_clip: low 1 must not exceed high -1");
    ck_assert_ptr_null(nb_div_scalar(x, 0));
    NB_ASSERT_ERROR_HAS("nb_div_scalar: division by zero");
    ck_assert_ptr_null(nb_pow_scalar(x, NAN));
    NB_ASSERT_ERROR_HAS("nb_pow_scalar");
    ck_assert_ptr_null(nb_leaky_relu(x, INFINITY));
    NB_ASSERT_ERROR_HAS("nb_leaky_relu");
}
END_TEST

/* ---- binary with broadcasting -------------------------------------------------------- */
typedef nb_tensor *(*binary_fn)(nb_tensor *, nb_tensor *);
static const binary_fn binary_ops[] = {nb_add, nb_sub, nb_mul, nb_div, nb_maximum, nb_minimum};
static const char *const binary_names[] = {"add", "sub", "mul", "div", "maximum", "minimum"};

/* shapes of a and b: same, b broadcast, a broadcast, both broadcast, scalar */
/* (these shapes have axes of different sizes, where a wrong axis fails to fit;
 * tests/ops/test_broadcast.c runs every op again on square and cubic shapes) */
static const int64_t bshapes[][2][3] = {
    {{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {1, 3, 1}}, {{3, 1}, {2, 3, 4}},
    {{2, 1, 4}, {3, 1}},    {{1}, {2, 3}},
};
static const int bndims[][2] = {{3, 3}, {3, 3}, {2, 3}, {3, 2}, {1, 2}};

static nb_tensor *apply_binary(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    binary_fn f = *(binary_fn *)ctx;
    nb_tensor *b = x[1];
    if (f == nb_div) b = nb_add_scalar(nb_square(b), 0.5f); /* keep away from 0 */
    return f(x[0], b);
}

START_TEST(test_every_binary_op_broadcasts_with_correct_gradients) {
    for (int s = 0; s < 5; s++) {
        nb_tensor *a = param(bshapes[s][0], bndims[s][0]);
        nb_tensor *b = param(bshapes[s][1], bndims[s][1]);
        binary_fn f = binary_ops[_i];
        ck_assert_msg(f(a, b) != NULL, "%s shapes %d: %s", binary_names[_i], s, nb_error());
        /* max and min are piecewise linear: a tiny step is exact and steps over no kink */
        double eps = (f == nb_maximum || f == nb_minimum) ? 1e-5 : 1e-3;
        NB_ASSERT_GRADCHECK(apply_binary, ((nb_tensor *[]){a, b}), 2, &f, eps, TOL);
    }
}
END_TEST

START_TEST(test_binary_known_values) {
    nb_tensor *a = nb_from_array((float[]){1, 2}, NB_SHAPE(2, 1));
    nb_tensor *b = nb_from_array((float[]){10, 20, 30}, NB_SHAPE(3));
    NB_ASSERT_TENSOR(nb_add(a, b), ((float[]){11, 21, 31, 12, 22, 32}), 6, 0);
    NB_ASSERT_TENSOR(nb_sub(a, b), ((float[]){-9, -19, -29, -8, -18, -28}), 6, 0);
    NB_ASSERT_TENSOR(nb_mul(b, a), ((float[]){10, 20, 30, 20, 40, 60}), 6, 0);
    NB_ASSERT_TENSOR(nb_div(b, a), ((float[]){10, 20, 30, 5, 10, 15}), 6, 1e-7);
    nb_tensor *c = nb_from_array((float[]){1, 5, 3}, NB_SHAPE(3));
    nb_tensor *d = nb_from_array((float[]){2, 5, 1}, NB_SHAPE(3));
    NB_ASSERT_TENSOR(nb_maximum(c, d), ((float[]){2, 5, 3}), 3, 0);
    NB_ASSERT_TENSOR(nb_minimum(c, d), ((float[]){1, 5, 1}), 3, 0);
    NB_ASSERT_TENSOR(nb_gt(c, d), ((float[]){0, 0, 1}), 3, 0);
    NB_ASSERT_TENSOR(nb_ge(c, d), ((float[]){0, 1, 1}), 3, 0);
    NB_ASSERT_TENSOR(nb_eq(c, d), ((float[]){0, 1, 0}), 3, 0);
}
END_TEST

START_TEST(test_binary_shape_error_names_both_shapes) {
    ck_assert_ptr_null(nb_add(nb_ones(NB_SHAPE(2, 3)), nb_ones(NB_SHAPE(4))));
    NB_ASSERT_ERROR_HAS("nb_add: shapes [2, 3] and [4] do not broadcast (axis 1: 3 vs 4)");
    ck_assert_ptr_null(nb_mul(nb_ones(NB_SHAPE(5, 1)), nb_ones(NB_SHAPE(3, 2))));
    NB_ASSERT_ERROR_HAS("nb_mul: shapes [5, 1] and [3, 2] do not broadcast");
}
END_TEST

static nb_tensor *apply_sum_to(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    nb_tensor *s = nb_sum_to(x[0], NB_SHAPE(3, 1));
    return nb_mul(s, s);
}

static nb_tensor *apply_broadcast_to(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    nb_tensor *s = nb_broadcast_to(x[0], NB_SHAPE(2, 3, 4));
    return nb_mul(s, nb_reshape(nb_arange(0, 24, 1), NB_SHAPE(2, 3, 4)));
}

START_TEST(test_sum_to_and_broadcast_to) {
    nb_tensor *x = nb_arange(0, 6, 1);
    nb_tensor *m = nb_reshape(x, NB_SHAPE(2, 3));
    NB_ASSERT_TENSOR(nb_sum_to(m, NB_SHAPE(3)), ((float[]){3, 5, 7}), 3, 0);
    NB_ASSERT_TENSOR(nb_sum_to(m, NB_SHAPE(2, 1)), ((float[]){3, 12}), 2, 0);
    NB_ASSERT_TENSOR(nb_broadcast_to(nb_reshape(x, NB_SHAPE(1, 6)), NB_SHAPE(2, 6)),
                     ((float[]){0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}), 12, 0);
    nb_tensor *p = param(NB_SHAPE(3, 4));
    NB_ASSERT_GRADCHECK(apply_sum_to, &p, 1, NULL, EPS, TOL);
    nb_tensor *q = param(NB_SHAPE(3, 1));
    NB_ASSERT_GRADCHECK(apply_broadcast_to, &q, 1, NULL, EPS, TOL);
    ck_assert_ptr_null(nb_sum_to(m, NB_SHAPE(4)));
    NB_ASSERT_ERROR_HAS("nb_sum_to: shape [2, 3] cannot be summed to [4]");
    ck_assert_ptr_null(nb_broadcast_to(m, NB_SHAPE(3, 3)));
    NB_ASSERT_ERROR_HAS("nb_broadcast_to: shape [2, 3] cannot be broadcast to [3, 3]");
}
END_TEST

/* ---- matmul and linear ------------------------------------------------------------------ */
static nb_tensor *apply_matmul_t(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const bool *t = ctx;
    return nb_matmul_t(x[0], x[1], t[0], t[1]);
}

START_TEST(test_matmul_known_values) {
    nb_tensor *a = nb_from_array((float[]){1, 2, 3, 4, 5, 6}, NB_SHAPE(2, 3));
    nb_tensor *b = nb_from_array((float[]){7, 8, 9, 10, 11, 12}, NB_SHAPE(3, 2));
    NB_ASSERT_TENSOR(nb_matmul(a, b), ((float[]){58, 64, 139, 154}), 4, 0);
    /* a^T a: [3, 3] */
    NB_ASSERT_TENSOR(nb_matmul_t(a, a, true, false),
                     ((float[]){17, 22, 27, 22, 29, 36, 27, 36, 45}), 9, 0);
    /* a a^T: [2, 2] */
    NB_ASSERT_TENSOR(nb_matmul_t(a, a, false, true), ((float[]){14, 32, 32, 77}), 4, 0);
    /* a transposed view goes straight to the kernel */
    NB_ASSERT_TENSOR(nb_matmul(nb_transpose(b, 0, 1), nb_transpose(a, 0, 1)),
                     ((float[]){58, 139, 64, 154}), 4, 0);
}
END_TEST

START_TEST(test_matmul_gradients_for_every_transpose) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            nb_tensor *a = param(ta ? (int64_t[]){4, 3} : (int64_t[]){3, 4}, 2);
            nb_tensor *b = param(tb ? (int64_t[]){5, 4} : (int64_t[]){4, 5}, 2);
            bool t[2] = {ta, tb};
            NB_ASSERT_GRADCHECK(apply_matmul_t, ((nb_tensor *[]){a, b}), 2, t, EPS, TOL);
        }
}
END_TEST

START_TEST(test_batched_matmul_broadcasts_batch_of_one) {
    bool t[2] = {false, false};
    nb_tensor *a = param(NB_SHAPE(3, 2, 4));
    nb_tensor *b = param(NB_SHAPE(3, 4, 5));
    nb_tensor *c = nb_matmul(a, b);
    ck_assert_int_eq(nb_dim(c, 0), 3);
    ck_assert_int_eq(nb_dim(c, 2), 5);
    NB_ASSERT_GRADCHECK(apply_matmul_t, ((nb_tensor *[]){a, b}), 2, t, EPS, TOL);
    nb_tensor *b1 = param(NB_SHAPE(1, 4, 5));
    NB_ASSERT_GRADCHECK(apply_matmul_t, ((nb_tensor *[]){a, b1}), 2, t, EPS, TOL);
    nb_tensor *b2 = param(NB_SHAPE(4, 5));
    NB_ASSERT_GRADCHECK(apply_matmul_t, ((nb_tensor *[]){a, b2}), 2, t, EPS, TOL);
    bool tt[2] = {true, true};
    nb_tensor *at = param(NB_SHAPE(3, 4, 2)), *bt = param(NB_SHAPE(3, 5, 4));
    NB_ASSERT_GRADCHECK(apply_matmul_t, ((nb_tensor *[]){at, bt}), 2, tt, EPS, TOL);
}
END_TEST

START_TEST(test_matmul_shape_errors) {
    ck_assert_ptr_null(nb_matmul(nb_ones(NB_SHAPE(32, 784)), nb_ones(NB_SHAPE(100, 10))));
    NB_ASSERT_ERROR_HAS("nb_matmul: inner dimensions differ: a is [32, 784], b is [100, 10]");
    ck_assert_ptr_null(nb_matmul(nb_ones(NB_SHAPE(4)), nb_ones(NB_SHAPE(3, 2))));
    NB_ASSERT_ERROR_HAS("nb_matmul: inner dimensions differ: a is [4], b is [3, 2]");
    ck_assert_ptr_null(nb_matmul(nb_ones(NB_SHAPE(2, 3, 4)), nb_ones(NB_SHAPE(3, 4, 5))));
    NB_ASSERT_ERROR_HAS("nb_matmul: batch axes do not broadcast: a is [2, 3, 4], b is [3, 4, 5]");
}
END_TEST

static nb_tensor *apply_linear(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    return nb_tanh(nb_linear(x[0], x[1], x[2]));
}

START_TEST(test_linear_is_matmul_plus_bias) {
    nb_tensor *x = nb_from_array((float[]){1, 2, 3, 4}, NB_SHAPE(2, 2));
    nb_tensor *w = nb_from_array((float[]){1, 0, -1, 2, 1, 0}, NB_SHAPE(2, 3));
    nb_tensor *b = nb_from_array((float[]){0.5f, -0.5f, 1}, NB_SHAPE(3));
    NB_ASSERT_TENSOR(nb_linear(x, w, b), ((float[]){5.5f, 1.5f, 0, 11.5f, 3.5f, -2}), 6, 1e-6);
    nb_tensor *px = param(NB_SHAPE(5, 4)), *pw = param(NB_SHAPE(4, 3)), *pb = param(NB_SHAPE(3));
    NB_ASSERT_GRADCHECK(apply_linear, ((nb_tensor *[]){px, pw, pb}), 3, NULL, EPS, TOL);
    ck_assert_ptr_null(nb_linear(x, w, nb_ones(NB_SHAPE(2))));
    NB_ASSERT_ERROR_HAS("nb_linear: expected x [..., IN], w [IN, OUT], b [OUT] or NULL; got "
                        "x [2, 2], w [2, 3], b [2]");
}
END_TEST

/* ---- softmax ------------------------------------------------------------------------------ */
static nb_tensor *apply_softmax(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const int *c = ctx; /* axis, log */
    nb_tensor *y = c[1] ? nb_log_softmax(x[0], c[0]) : nb_softmax(x[0], c[0]);
    return nb_mul(y, x[1]); /* weights make the check sensitive to every output */
}

START_TEST(test_softmax_sums_to_one) {
    nb_tensor *y = nb_softmax(nb_from_array((float[]){3.1f, 3.0f, 2.9f}, NB_SHAPE(3)), 0);
    NB_ASSERT_CLOSE(nb_item(nb_sum_all(y)), 1.0, 1e-6);
    NB_ASSERT_TENSOR(y, ((float[]){0.3671654f, 0.3322249f, 0.3006096f}), 3, 1e-5);
}
END_TEST

START_TEST(test_softmax_is_stable_for_large_logits) {
    nb_tensor *x = nb_from_array((float[]){1e4f, -1e4f, 0, -1e4f, -1e4f, -1e4f}, NB_SHAPE(2, 3));
    NB_ASSERT_TENSOR(nb_softmax(x, 1), ((float[]){1, 0, 0, 1.f / 3, 1.f / 3, 1.f / 3}), 6, 1e-6);
    NB_ASSERT_TENSOR(nb_log_softmax(x, 1),
                     ((float[]){0, -2e4f, -1e4f, -1.0986123f, -1.0986123f, -1.0986123f}), 6, 1e-5);
}
END_TEST

START_TEST(test_log_softmax_is_log_of_softmax) {
    nb_tensor *x = nb_randn(NB_SHAPE(4, 5));
    nb_tensor *a = nb_log_softmax(x, -1), *b = nb_log(nb_softmax(x, -1));
    for (int i = 0; i < 20; i++) NB_ASSERT_CLOSE(nb_get_flat(a, i), nb_get_flat(b, i), 1e-5);
}
END_TEST

START_TEST(test_softmax_gradients_along_every_axis) {
    for (int log = 0; log < 2; log++)
        for (int axis = -1; axis < 3; axis++) {
            nb_tensor *x = param(NB_SHAPE(2, 3, 4));
            nb_tensor *w = nb_randn(NB_SHAPE(2, 3, 4));
            int c[2] = {axis, log};
            NB_ASSERT_GRADCHECK(apply_softmax, ((nb_tensor *[]){x, w}), 2, c, EPS, TOL);
        }
    ck_assert_ptr_null(nb_softmax(nb_ones(NB_SHAPE(2, 3)), 2));
    NB_ASSERT_ERROR_HAS("nb_softmax: axis 2 is out of range for a tensor with 2 dimensions");
}
END_TEST

/* ---- reductions --------------------------------------------------------------------------- */
typedef struct {
    int kind; /* 0 sum, 1 mean, 2 max */
    int axes[2];
    int n_axes;
    bool keepdim;
} reduce_case;

static nb_tensor *apply_reduce(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const reduce_case *c = ctx;
    nb_tensor *y = c->kind == 0   ? nb_sum(x[0], c->axes, c->n_axes, c->keepdim)
                   : c->kind == 1 ? nb_mean(x[0], c->axes, c->n_axes, c->keepdim)
                                  : nb_max(x[0], c->axes, c->n_axes, c->keepdim);
    return nb_mul(y, y);
}

START_TEST(test_reductions_known_values) {
    nb_tensor *x = nb_from_array((float[]){1, 5, 3, 4, 2, 6}, NB_SHAPE(2, 3));
    NB_ASSERT_TENSOR(nb_sum(x, (int[]){0}, 1, false), ((float[]){5, 7, 9}), 3, 0);
    NB_ASSERT_TENSOR(nb_sum(x, (int[]){1}, 1, true), ((float[]){9, 12}), 2, 0);
    ck_assert_int_eq(nb_ndim(nb_sum(x, (int[]){1}, 1, true)), 2);
    NB_ASSERT_TENSOR(nb_mean(x, (int[]){-1}, 1, false), ((float[]){3, 4}), 2, 1e-7);
    NB_ASSERT_TENSOR(nb_max(x, (int[]){0}, 1, false), ((float[]){4, 5, 6}), 3, 0);
    NB_ASSERT_CLOSE(nb_item(nb_sum_all(x)), 21, 0);
    NB_ASSERT_CLOSE(nb_item(nb_mean_all(x)), 3.5, 1e-7);
    ck_assert_int_eq(nb_ndim(nb_sum_all(x)), 0);
    NB_ASSERT_TENSOR(nb_argmax(x, 1, false), ((float[]){1, 2}), 2, 0);
    NB_ASSERT_TENSOR(nb_argmax(x, 0, false), ((float[]){1, 0, 1}), 3, 0);
    /* ties: the first maximum wins */
    NB_ASSERT_TENSOR(nb_argmax(nb_from_array((float[]){2, 7, 7}, NB_SHAPE(3)), 0, false),
                     ((float[]){1}), 1, 0);
}
END_TEST

START_TEST(test_reduction_gradients) {
    static const reduce_case cases[] = {
        {0, {0}, 1, false}, {0, {1, 2}, 2, true}, {0, {0}, 0, false},
        {1, {1}, 1, false}, {1, {-1}, 1, true},   {1, {0}, 0, false},
        {2, {2}, 1, false}, {2, {0, 1}, 2, true}, {2, {0}, 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_tensor *x = param(NB_SHAPE(2, 3, 4));
        NB_ASSERT_GRADCHECK(apply_reduce, &x, 1, (void *)&cases[i], 1e-3, TOL);
    }
}
END_TEST

START_TEST(test_max_splits_gradient_among_ties) {
    nb_tensor *x = nb_set_requires_grad(nb_from_array((float[]){1, 3, 3}, NB_SHAPE(3)), true);
    ck_assert_int_eq(nb_backward(nb_max(x, NULL, 0, false)), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){0, 0.5f, 0.5f}), 3, 1e-7);
}
END_TEST

START_TEST(test_reduction_errors) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 3));
    ck_assert_ptr_null(nb_sum(x, (int[]){2}, 1, false));
    NB_ASSERT_ERROR_HAS("nb_sum: axis 2 is out of range for a tensor with 2 dimensions");
    ck_assert_ptr_null(nb_mean(x, (int[]){1, -1}, 2, false));
    NB_ASSERT_ERROR_HAS("nb_mean: axis 1 is listed twice");
    ck_assert_ptr_null(nb_max(nb_ones(NB_SHAPE(2, 0)), (int[]){1}, 1, false));
    NB_ASSERT_ERROR_HAS("nb_max: cannot take the max over an empty axis of [2, 0]");
    ck_assert_ptr_null(nb_argmax(x, -3, false));
    NB_ASSERT_ERROR_HAS("nb_argmax: axis -3 is out of range");
}
END_TEST

/* ---- shape ops ------------------------------------------------------------------------------ */
static nb_tensor *apply_shape_chain(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    int which = *(int *)ctx;
    nb_tensor *y;
    switch (which) {
    case 0:
        y = nb_reshape(x[0], NB_SHAPE(4, -1));
        break;
    case 1:
        y = nb_transpose(x[0], 0, 2);
        break;
    case 2:
        y = nb_permute(x[0], (int[]){2, 0, 1}, 3);
        break;
    case 3:
        y = nb_slice(x[0], 2, 1, 4, 2);
        break;
    case 4:
        y = nb_concat((nb_tensor *[]){x[0], nb_tanh(x[0])}, 2, 1);
        break;
    case 5:
        y = nb_flatten(nb_transpose(x[0], 1, 2));
        break;
    default:
        y = nb_contiguous(nb_transpose(x[0], 0, 1));
        break;
    }
    y = nb_reshape(nb_contiguous(y), NB_SHAPE(-1));
    /* distinct weights, so that a gradient sent to the wrong element shows */
    return nb_mul(y, nb_affine(nb_arange(0, (float)nb_numel(y), 1), 0.37f, -1.0f));
}

START_TEST(test_shape_op_gradients) {
    nb_tensor *x = param(NB_SHAPE(2, 3, 4));
    int which = _i;
    NB_ASSERT_GRADCHECK(apply_shape_chain, &x, 1, &which, EPS, TOL);
}
END_TEST

START_TEST(test_views_share_storage) {
    nb_tensor *x = nb_arange(0, 12, 1);
    nb_tensor *r = nb_reshape(x, NB_SHAPE(3, 4));
    nb_tensor *t = nb_transpose(r, 0, 1);
    nb_tensor *s = nb_slice(r, 1, 1, 4, 2);
    ck_assert(nb_shares_storage(x, r) && nb_shares_storage(x, t) && nb_shares_storage(x, s));
    ck_assert(!nb_is_contiguous(t));
    NB_ASSERT_TENSOR(t, ((float[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}), 12, 0);
    NB_ASSERT_TENSOR(s, ((float[]){1, 3, 5, 7, 9, 11}), 6, 0);
    NB_ASSERT_TENSOR(nb_slice(x, 0, -3, 100, 1), ((float[]){9, 10, 11}), 3, 0);
    NB_ASSERT_TENSOR(nb_permute(nb_reshape(x, NB_SHAPE(2, 3, 2)), (int[]){2, 0, 1}, 3),
                     ((float[]){0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11}), 12, 0);
    ck_assert_int_eq(nb_dim(nb_reshape(x, NB_SHAPE(2, -1, 2)), 1), 3);
    ck_assert_int_eq(nb_dim(nb_flatten(nb_reshape(x, NB_SHAPE(2, 3, 2))), 1), 6);
}
END_TEST

START_TEST(test_concat_and_one_hot_values) {
    nb_tensor *a = nb_from_array((float[]){1, 2, 3, 4}, NB_SHAPE(2, 2));
    nb_tensor *b = nb_from_array((float[]){5, 6}, NB_SHAPE(2, 1));
    NB_ASSERT_TENSOR(nb_concat((nb_tensor *[]){a, b}, 2, 1), ((float[]){1, 2, 5, 3, 4, 6}), 6, 0);
    NB_ASSERT_TENSOR(nb_concat((nb_tensor *[]){a, a}, 2, 0), ((float[]){1, 2, 3, 4, 1, 2, 3, 4}), 8,
                     0);
    NB_ASSERT_TENSOR(nb_one_hot(nb_from_array((float[]){2, 0, 1}, NB_SHAPE(3)), 3),
                     ((float[]){0, 0, 1, 1, 0, 0, 0, 1, 0}), 9, 0);
}
END_TEST

START_TEST(test_shape_op_errors) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 3));
    ck_assert_ptr_null(nb_reshape(x, NB_SHAPE(4, 2)));
    NB_ASSERT_ERROR_HAS("nb_reshape: cannot reshape [2, 3] (6 elements) to [4, 2]");
    ck_assert_ptr_null(nb_reshape(x, NB_SHAPE(-1, -1)));
    NB_ASSERT_ERROR_HAS("only one -1 allowed");
    ck_assert_ptr_null(nb_permute(x, (int[]){0, 0}, 2));
    NB_ASSERT_ERROR_HAS("nb_permute: axis 0 appears twice");
    ck_assert_ptr_null(nb_permute(x, (int[]){0}, 1));
    NB_ASSERT_ERROR_HAS("nb_permute: permutation of 1 axes for a tensor of shape [2, 3]");
    ck_assert_ptr_null(nb_transpose(x, 0, 5));
    NB_ASSERT_ERROR_HAS("nb_transpose: axis 5 is out of range");
    ck_assert_ptr_null(nb_slice(x, 1, 0, 2, 0));
    NB_ASSERT_ERROR_HAS("nb_slice: step 0 must be >= 1");
    ck_assert_ptr_null(nb_concat((nb_tensor *[]){x, nb_ones(NB_SHAPE(3, 3))}, 2, 1));
    NB_ASSERT_ERROR_HAS("nb_concat: tensor 1 has shape [3, 3], tensor 0 has [2, 3]; all axes "
                        "but 1 must match");
    ck_assert_ptr_null(nb_one_hot(nb_from_array((float[]){1, 3}, NB_SHAPE(2)), 3));
    NB_ASSERT_ERROR_HAS("nb_one_hot: index 3 at position 1 is not an integer in [0, 3)");
    ck_assert_ptr_null(nb_flatten(nb_scalar(1)));
    NB_ASSERT_ERROR_HAS("nb_flatten: needs a batch axis");
}
END_TEST

static Suite *ops_suite(void) {
    Suite *s = suite_create("ops");
    TCase *tc = nb_tcase("eltwise");
    tcase_add_loop_test(tc, test_every_unary_op_has_correct_gradients, 0,
                        (int)(sizeof unary_cases / sizeof unary_cases[0]));
    tcase_add_test(tc, test_activations_known_values);
    tcase_add_test(tc, test_sigmoid_derivative_at_zero_is_a_quarter);
    tcase_add_test(tc, test_log_and_softplus_are_correctly_rounded_near_their_zeros);
    tcase_add_test(tc, test_step_records_no_gradient);
    tcase_add_test(tc, test_unary_argument_errors);
    suite_add_tcase(s, tc);

    tc = nb_tcase("binary");
    tcase_add_loop_test(tc, test_every_binary_op_broadcasts_with_correct_gradients, 0, 6);
    tcase_add_test(tc, test_binary_known_values);
    tcase_add_test(tc, test_binary_shape_error_names_both_shapes);
    tcase_add_test(tc, test_sum_to_and_broadcast_to);
    suite_add_tcase(s, tc);

    tc = nb_tcase("matmul");
    tcase_add_test(tc, test_matmul_known_values);
    tcase_add_test(tc, test_matmul_gradients_for_every_transpose);
    tcase_add_test(tc, test_batched_matmul_broadcasts_batch_of_one);
    tcase_add_test(tc, test_matmul_shape_errors);
    tcase_add_test(tc, test_linear_is_matmul_plus_bias);
    suite_add_tcase(s, tc);

    tc = nb_tcase("softmax");
    tcase_add_test(tc, test_softmax_sums_to_one);
    tcase_add_test(tc, test_softmax_is_stable_for_large_logits);
    tcase_add_test(tc, test_log_softmax_is_log_of_softmax);
    tcase_add_test(tc, test_softmax_gradients_along_every_axis);
    suite_add_tcase(s, tc);

    tc = nb_tcase("reduce");
    tcase_add_test(tc, test_reductions_known_values);
    tcase_add_test(tc, test_reduction_gradients);
    tcase_add_test(tc, test_max_splits_gradient_among_ties);
    tcase_add_test(tc, test_reduction_errors);
    suite_add_tcase(s, tc);

    tc = nb_tcase("shape");
    tcase_add_loop_test(tc, test_shape_op_gradients, 0, 7);
    tcase_add_test(tc, test_views_share_storage);
    tcase_add_test(tc, test_concat_and_one_hot_values);
    tcase_add_test(tc, test_shape_op_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(ops_suite());
}
