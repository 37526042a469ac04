/* Every oneDNN-backed op, forward and backward, against its plain C reference
 * (ops/ref/) on random data: square and cubic shapes (equal axes, where a
 * swapped axis would go unnoticed by a shape check) and odd sizes.
 *
 * Tolerances. u = 2^-24 is float's unit roundoff. A float sum of n terms, in
 * any order and any blocking (oneDNN's kernels sum in blocks, with FMA), is
 * off by at most about n u times the sum of the terms' magnitudes (Higham's
 * gamma_n bound). So a sum-like result is held to (n + c) u |terms|, |terms|
 * computed by the reference on the inputs' absolute values, c a few more
 * roundings (a product, a bias, the reference's own final rounding). The
 * references sum in double, so the error measured is the kernel's.
 * Elementwise functions are held to the bounds ops.h states and
 * tests/ops/test_accuracy.c measures (at most 6 ulp, in ulp of max(1, |y|)
 * for results below 1); the log family runs nabla's own exact loops, so
 * oneDNN's AVX2 log (1.4e-6 off near 1) does not enter. */
#include "nb_test.h"

#include "ops/ref/ref.h"

#define U (1.0 / 16777216.0) /* 2^-24 */

/* |got - want| <= abs + rel * scale for every element, scale = mag[i] when
 * given, else |want[i]| */
static void assert_near(const char *what, const float *got, const float *want, const float *mag,
                        int64_t n, double rel, double abs) {
    for (int64_t i = 0; i < n; i++) {
        double scale = mag ? fabs(mag[i]) : fabs(want[i]);
        double tol = abs + rel * scale;
        ck_assert_msg(fabs((double)got[i] - want[i]) <= tol,
                      "%s[%lld] = %.9g, reference %.9g (|diff| %.3g > tol %.3g)", what,
                      (long long)i, got[i], want[i], fabs((double)got[i] - want[i]), tol);
    }
}

static float *zeros(int64_t n) {
    float *p = calloc((size_t)(n ? n : 1), sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

static float *abs_copy(const float *x, int64_t n) {
    float *p = zeros(n);
    for (int64_t i = 0; i < n; i++) p[i] = fabsf(x[i]);
    return p;
}

static nb_tensor *input(const int64_t *shape, int nd, float lo, float hi) {
    nb_tensor *t = nb_set_requires_grad(nb_uniform(shape, nd, lo, hi), true);
    ck_assert_msg(t != NULL, "%s", nb_error());
    return t;
}

/* backward from y with a random seed gradient; returns the seed's data */
static const float *backward_from(nb_tensor *y) {
    ck_assert_msg(y != NULL, "%s", nb_error());
    nb_tensor *dy = nb_uniform(nb_shape(y), nb_ndim(y), -1.0f, 1.0f);
    ck_assert_msg(nb_backward_ex(y, dy, false) == NB_OK, "nb_backward: %s", nb_error());
    return nb_data(dy);
}

/* a size in [lo, hi] from nabla's seeded generator */
static int64_t draw(int64_t lo, int64_t hi) {
    float u = nb_item(nb_uniform(NB_SHAPE(1), 0.0f, 1.0f));
    int64_t v = lo + (int64_t)(u * (float)(hi - lo + 1));
    return v > hi ? hi : v;
}

/* ---- eltwise ---------------------------------------------------------------------------- */
typedef nb_tensor *(*unary_fn)(nb_tensor *x, float a, float b);
#define UNARY(op)                                                                                  \
    static nb_tensor *op_##op(nb_tensor *x, float a, float b) {                                    \
        (void)a;                                                                                   \
        (void)b;                                                                                   \
        return nb_##op(x);                                                                         \
    }
UNARY(relu)
UNARY(sigmoid)
UNARY(tanh)
UNARY(gelu)
UNARY(softplus)
UNARY(exp)
UNARY(log)
UNARY(sqrt)
UNARY(square)
UNARY(abs)
UNARY(heaviside)
static nb_tensor *op_leaky_relu(nb_tensor *x, float a, float b) {
    (void)b;
    return nb_leaky_relu(x, a);
}
static nb_tensor *op_elu(nb_tensor *x, float a, float b) {
    (void)b;
    return nb_elu(x, a);
}
static nb_tensor *op_pow(nb_tensor *x, float a, float b) {
    (void)a;
    return nb_pow_scalar(x, b);
}
static nb_tensor *op_clip(nb_tensor *x, float a, float b) {
    return nb_clip(x, a, b);
}
static nb_tensor *op_affine(nb_tensor *x, float a, float b) {
    return nb_affine(x, a, b);
}

static const struct {
    const char *name;
    unary_fn op;
    nb_ref_eltwise ref;
    float alpha, beta, lo, hi;
    bool has_gradient;
} eltwise_cases[] = {
    {"relu", op_relu, NB_REF_RELU, 0, 0, -4, 4, true},
    {"leaky_relu", op_leaky_relu, NB_REF_LEAKY_RELU, 0.1f, 0, -4, 4, true},
    {"sigmoid", op_sigmoid, NB_REF_SIGMOID, 0, 0, -8, 8, true},
    {"tanh", op_tanh, NB_REF_TANH, 0, 0, -4, 4, true},
    {"elu", op_elu, NB_REF_ELU, 1.0f, 0, -4, 4, true},
    {"gelu", op_gelu, NB_REF_GELU, 0, 0, -4, 4, true},
    {"softplus", op_softplus, NB_REF_SOFTPLUS, 0, 0, -8, 8, true},
    {"exp", op_exp, NB_REF_EXP, 0, 0, -4, 4, true},
    {"log", op_log, NB_REF_LOG, 0, 0, 0.05f, 5, true},
    {"sqrt", op_sqrt, NB_REF_SQRT, 0, 0, 0.05f, 5, true},
    {"square", op_square, NB_REF_SQUARE, 0, 0, -4, 4, true},
    {"pow", op_pow, NB_REF_POW, 1.0f, 2.5f, 0.1f, 3, true},
    {"abs", op_abs, NB_REF_ABS, 0, 0, -4, 4, true},
    {"clip", op_clip, NB_REF_CLIP, -1.0f, 2.0f, -4, 4, true},
    {"affine", op_affine, NB_REF_AFFINE, 1.5f, -0.5f, -4, 4, true},
    {"heaviside", op_heaviside, NB_REF_HEAVISIDE, 0, 0, -4, 4, false},
};

START_TEST(test_eltwise_forward_and_backward_match_the_reference) {
    int64_t shapes[][4] = {{7, 1, 1, 1}, {4, 4, 1, 1}, {3, 3, 3, 1},
                           {5, 1, 9, 1}, {2, 3, 4, 5}, {draw(1, 40), draw(1, 40), 1, 1}};
    int nds[] = {1, 2, 3, 3, 4, 2};
    for (size_t c = 0; c < sizeof eltwise_cases / sizeof *eltwise_cases; c++)
        for (size_t s = 0; s < sizeof nds / sizeof *nds; s++) {
            nb_scope_begin();
            __typeof__(eltwise_cases[0]) e = eltwise_cases[c];
            nb_tensor *x = input(shapes[s], nds[s], e.lo, e.hi);
            int64_t n = nb_numel(x);
            nb_tensor *y = e.op(x, e.alpha, e.beta);
            ck_assert_msg(y != NULL, "%s: %s", e.name, nb_error());
            float *want = zeros(n);
            nb_ref_eltwise_forward(e.ref, e.alpha, e.beta, want, nb_data(x), n);
            /* 16 ulp of max(1, |y|): the bounds of ops.h (<= 6 ulp) with room */
            assert_near(e.name, nb_data(y), want, NULL, n, 16 * 2 * U, 16 * 2 * U);
            if (e.has_gradient) {
                const float *dy = backward_from(y);
                float *dx = zeros(n);
                nb_ref_eltwise_backward(e.ref, e.alpha, e.beta, dx, dy, nb_data(x), n);
                assert_near(e.name, nb_data(nb_grad(x)), dx, NULL, n, 16 * 2 * U, 16 * 2 * U);
                free(dx);
            }
            free(want);
            nb_scope_end();
        }
}
END_TEST

/* ---- binary with broadcasting -------------------------------------------------------------- */
typedef nb_tensor *(*binary_fn)(nb_tensor *, nb_tensor *);

static void check_binary(const char *name, binary_fn op, nb_ref_binary ref, const int64_t *sa,
                         const int64_t *sb, int nd) {
    nb_scope_begin();
    int64_t sc[NB_REF_MAX_DIMS], na = 1, nb = 1, nc = 1;
    for (int i = 0; i < nd; i++) {
        sc[i] = sa[i] > sb[i] ? sa[i] : sb[i];
        na *= sa[i], nb *= sb[i], nc *= sc[i];
    }
    nb_tensor *a = input(sa, nd, -2, 2);
    nb_tensor *b = input(sb, nd, 0.5f, 2); /* away from 0, for div */
    if (ref != NB_REF_DIV) b = nb_set_requires_grad(nb_uniform(sb, nd, -2, 2), true);
    nb_tensor *c = op(a, b);
    ck_assert_msg(c != NULL, "%s: %s", name, nb_error());
    float *want = zeros(nc);
    nb_ref_binary_forward(ref, want, nb_data(a), sa, nb_data(b), sb, sc, nd);
    /* +, -, *, / are correctly rounded, as is the reference's double rounded once */
    assert_near(name, nb_data(c), want, NULL, nc, 2 * U, 0);

    const float *dc = backward_from(c);
    float *da = zeros(na), *db = zeros(nb), *ma = zeros(na), *mb = zeros(nb);
    nb_ref_binary_backward(ref, da, db, dc, nb_data(a), sa, nb_data(b), sb, sc, nd);
    /* |terms|: the same sums on absolute values (max/min route at most |dc|, as add) */
    float *aa = abs_copy(nb_data(a), na), *ab = abs_copy(nb_data(b), nb), *adc = abs_copy(dc, nc);
    nb_ref_binary backward_of_abs = ref == NB_REF_MAX || ref == NB_REF_MIN ? NB_REF_ADD : ref;
    nb_ref_binary_backward(backward_of_abs, ma, mb, adc, aa, sa, ab, sb, sc, nd);
    assert_near(name, nb_data(nb_grad(a)), da, ma, na, (double)(nc / na + 8) * U, 1e-30);
    assert_near(name, nb_data(nb_grad(b)), db, mb, nb, (double)(nc / nb + 8) * U, 1e-30);
    free(want), free(da), free(db), free(ma), free(mb), free(aa), free(ab), free(adc);
    nb_scope_end();
}

START_TEST(test_binary_ops_with_broadcasting_match_the_reference) {
    static const struct {
        const char *name;
        binary_fn op;
        nb_ref_binary ref;
    } ops[] = {{"add", nb_add, NB_REF_ADD},         {"sub", nb_sub, NB_REF_SUB},
               {"mul", nb_mul, NB_REF_MUL},         {"div", nb_div, NB_REF_DIV},
               {"maximum", nb_maximum, NB_REF_MAX}, {"minimum", nb_minimum, NB_REF_MIN}};
    int64_t r = draw(2, 9);
    const int64_t pairs[][2][3] = {
        {{4, 4, 1}, {4, 4, 1}}, /* square, same shape */
        {{3, 3, 3}, {3, 1, 3}}, /* cubic, the middle axis broadcast */
        {{3, 3, 3}, {1, 1, 3}}, /* a row over a cube */
        {{5, 1, 7}, {1, 4, 7}}, /* both broadcast, odd sizes */
        {{1, 1, 9}, {3, 3, 1}}, /* outer product */
        {{r, 6, 1}, {r, 1, 1}}, /* a drawn size */
    };
    for (size_t o = 0; o < sizeof ops / sizeof *ops; o++)
        for (size_t p = 0; p < sizeof pairs / sizeof *pairs; p++) {
            check_binary(ops[o].name, ops[o].op, ops[o].ref, pairs[p][0], pairs[p][1], 3);
            check_binary(ops[o].name, ops[o].op, ops[o].ref, pairs[p][1], pairs[p][0], 3);
        }
}
END_TEST

/* ---- matmul and linear -------------------------------------------------------------------------
 */
static void check_matmul(int64_t B, int64_t M, int64_t K, int64_t N) {
    nb_scope_begin();
    nb_tensor *a = B > 1 ? input(NB_SHAPE(B, M, K), -1, 1) : input(NB_SHAPE(M, K), -1, 1);
    nb_tensor *b = B > 1 ? input(NB_SHAPE(B, K, N), -1, 1) : input(NB_SHAPE(K, N), -1, 1);
    nb_tensor *c = nb_matmul(a, b);
    float *want = zeros(B * M * N), *mag = zeros(B * M * N);
    float *aa = abs_copy(nb_data(a), B * M * K), *ab = abs_copy(nb_data(b), B * K * N);
    nb_ref_matmul_forward(want, nb_data(a), nb_data(b), B, M, K, N);
    nb_ref_matmul_forward(mag, aa, ab, B, M, K, N);
    ck_assert_msg(c != NULL, "%s", nb_error());
    assert_near("matmul", nb_data(c), want, mag, B * M * N, (double)(K + 2) * U, 1e-30);

    const float *dc = backward_from(c);
    float *da = zeros(B * M * K), *db = zeros(B * K * N);
    float *ma = zeros(B * M * K), *mb = zeros(B * K * N), *adc = abs_copy(dc, B * M * N);
    nb_ref_matmul_backward(da, db, dc, nb_data(a), nb_data(b), B, M, K, N);
    nb_ref_matmul_backward(ma, mb, adc, aa, ab, B, M, K, N);
    assert_near("matmul da", nb_data(nb_grad(a)), da, ma, B * M * K, (double)(N + 2) * U, 1e-30);
    assert_near("matmul db", nb_data(nb_grad(b)), db, mb, B * K * N, (double)(M + 2) * U, 1e-30);
    free(want), free(mag), free(aa), free(ab), free(da), free(db), free(ma), free(mb), free(adc);
    nb_scope_end();
}

static void check_linear(int64_t N, int64_t IN, int64_t OUT) {
    nb_scope_begin();
    nb_tensor *x = input(NB_SHAPE(N, IN), -1, 1), *w = input(NB_SHAPE(IN, OUT), -1, 1);
    nb_tensor *b = input(NB_SHAPE(OUT), -1, 1);
    nb_tensor *y = nb_linear(x, w, b);
    float *want = zeros(N * OUT), *mag = zeros(N * OUT);
    float *ax = abs_copy(nb_data(x), N * IN), *aw = abs_copy(nb_data(w), IN * OUT);
    float *ab = abs_copy(nb_data(b), OUT);
    nb_ref_linear_forward(want, nb_data(x), nb_data(w), nb_data(b), N, IN, OUT);
    nb_ref_linear_forward(mag, ax, aw, ab, N, IN, OUT);
    ck_assert_msg(y != NULL, "%s", nb_error());
    assert_near("linear", nb_data(y), want, mag, N * OUT, (double)(IN + 3) * U, 1e-30);

    const float *dy = backward_from(y);
    float *dx = zeros(N * IN), *dw = zeros(IN * OUT), *db = zeros(OUT);
    float *mx = zeros(N * IN), *mw = zeros(IN * OUT), *mb = zeros(OUT),
          *ady = abs_copy(dy, N * OUT);
    nb_ref_linear_backward(dx, dw, db, dy, nb_data(x), nb_data(w), N, IN, OUT);
    nb_ref_linear_backward(mx, mw, mb, ady, ax, aw, N, IN, OUT);
    assert_near("linear dx", nb_data(nb_grad(x)), dx, mx, N * IN, (double)(OUT + 2) * U, 1e-30);
    assert_near("linear dw", nb_data(nb_grad(w)), dw, mw, IN * OUT, (double)(N + 2) * U, 1e-30);
    assert_near("linear db", nb_data(nb_grad(b)), db, mb, OUT, (double)(N + 2) * U, 1e-30);
    free(want), free(mag), free(ax), free(aw), free(ab), free(dx), free(dw), free(db);
    free(mx), free(mw), free(mb), free(ady);
    nb_scope_end();
}

START_TEST(test_matmul_and_linear_match_the_reference) {
    const int64_t mkn[][4] = {{1, 1, 1, 1},   {1, 5, 5, 5},  {1, 16, 16, 16}, {1, 7, 3, 9},
                              {1, 13, 1, 11}, {1, 1, 17, 1}, {1, 33, 65, 10}, {3, 4, 4, 4},
                              {2, 5, 7, 3},   {4, 1, 9, 2}};
    for (size_t i = 0; i < sizeof mkn / sizeof *mkn; i++) {
        check_matmul(mkn[i][0], mkn[i][1], mkn[i][2], mkn[i][3]);
        if (mkn[i][0] == 1) check_linear(mkn[i][1], mkn[i][2], mkn[i][3]);
    }
    check_matmul(draw(1, 4), draw(1, 30), draw(1, 30), draw(1, 30));
    check_linear(draw(1, 30), draw(1, 30), draw(1, 30));
}
END_TEST

/* ---- softmax and log-softmax
 * ----------------------------------------------------------------------- */
static void check_softmax(bool log_form, const int64_t *shape, int nd, int axis) {
    nb_scope_begin();
    int64_t outer = 1, L = shape[axis], inner = 1;
    for (int i = 0; i < axis; i++) outer *= shape[i];
    for (int i = axis + 1; i < nd; i++) inner *= shape[i];
    int64_t n = outer * L * inner;
    nb_tensor *x = input(shape, nd, -5, 5);
    nb_tensor *y = log_form ? nb_log_softmax(x, axis) : nb_softmax(x, axis);
    ck_assert_msg(y != NULL, "%s", nb_error());
    float *want = zeros(n);
    (log_form ? nb_ref_log_softmax_forward : nb_ref_softmax_forward)(want, nb_data(x), outer, L,
                                                                     inner);
    /* ops.h: log_softmax correctly rounded; softmax 48 ulp below 1 (sums in float) */
    if (log_form)
        assert_near("log_softmax", nb_data(y), want, NULL, n, 4 * U, 4 * U);
    else
        assert_near("softmax", nb_data(y), want, NULL, n, 64 * U, 64 * U);

    const float *dy = backward_from(y);
    float *dx = zeros(n), *mag = zeros(n);
    (log_form ? nb_ref_log_softmax_backward : nb_ref_softmax_backward)(dx, dy, want, outer, L,
                                                                       inner);
    /* |terms|: softmax y (|dy| + sum |dy| y), log-softmax |dy| + e^y sum |dy| */
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            int64_t at = o * L * inner + in;
            double s = 0;
            for (int64_t j = 0; j < L; j++) {
                float v = want[at + j * inner];
                s += fabs(dy[at + j * inner]) * (log_form ? 1.0 : v);
            }
            for (int64_t j = 0; j < L; j++) {
                int64_t i = at + j * inner;
                mag[i] = log_form ? (float)(fabs(dy[i]) + exp(want[i]) * s)
                                  : (float)(want[i] * (fabs(dy[i]) + s));
            }
        }
    assert_near(log_form ? "log_softmax dx" : "softmax dx", nb_data(nb_grad(x)), dx, mag, n,
                (double)(L + 64) * U, 1e-30);
    free(want), free(dx), free(mag);
    nb_scope_end();
}

START_TEST(test_softmax_and_log_softmax_match_the_reference_on_every_axis) {
    const int64_t shapes[][3] = {{5, 5, 1}, {3, 3, 3}, {4, 7, 1}, {2, 9, 4}, {1, 13, 1}};
    const int nds[] = {2, 3, 2, 3, 2};
    for (int lf = 0; lf < 2; lf++) {
        for (size_t s = 0; s < sizeof nds / sizeof *nds; s++)
            for (int axis = 0; axis < nds[s]; axis++) check_softmax(lf, shapes[s], nds[s], axis);
        int64_t drawn[2] = {draw(1, 40), draw(1, 40)};
        check_softmax(lf, drawn, 2, 1);
    }
}
END_TEST

/* ---- reductions --------------------------------------------------------------------------------
 */
typedef nb_tensor *(*reduce_fn)(nb_tensor *, const int *, int, bool);

static void check_reduce(const char *name, reduce_fn op, nb_ref_reduce ref, const int64_t *shape,
                         int nd, const int *axes, int n_axes) {
    nb_scope_begin();
    bool reduced[NB_REF_MAX_DIMS] = {0};
    int64_t n = 1, count = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    for (int i = 0; i < n_axes; i++) reduced[axes[i]] = true, count *= shape[axes[i]];
    int64_t m = n / count;
    nb_tensor *x = input(shape, nd, -3, 3);
    nb_tensor *y = op(x, axes, n_axes, true);
    ck_assert_msg(y != NULL, "%s: %s", name, nb_error());
    float *want = zeros(m), *mag = zeros(m), *ax = abs_copy(nb_data(x), n);
    nb_ref_reduce_forward(ref, want, nb_data(x), shape, nd, reduced);
    nb_ref_reduce_forward(ref == NB_REF_MEAN ? NB_REF_MEAN : NB_REF_SUM, mag, ax, shape, nd,
                          reduced);
    bool extreme = ref == NB_REF_REDUCE_MAX || ref == NB_REF_REDUCE_MIN;
    /* max and min are exact; a sum is off by (count + 3) u |terms| */
    assert_near(name, nb_data(y), want, mag, m, extreme ? 0 : (double)(count + 3) * U, 0);

    const float *dy = backward_from(y);
    float *dx = zeros(n);
    nb_ref_reduce_backward(ref, dx, dy, nb_data(x), want, shape, nd, reduced);
    /* a copy of dy, divided by the count or the ties: a few roundings */
    assert_near(name, nb_data(nb_grad(x)), dx, NULL, n, 4 * U, 0);
    free(want), free(mag), free(ax), free(dx);
    nb_scope_end();
}

START_TEST(test_reductions_match_the_reference_over_any_axes) {
    static const struct {
        const char *name;
        reduce_fn op;
        nb_ref_reduce ref;
    } ops[] = {{"sum", nb_sum, NB_REF_SUM},
               {"mean", nb_mean, NB_REF_MEAN},
               {"max", nb_max, NB_REF_REDUCE_MAX},
               {"min", nb_min, NB_REF_REDUCE_MIN}};
    static const struct {
        int64_t shape[4];
        int nd;
        int axes[3];
        int n_axes;
    } cases[] = {
        {{4, 4}, 2, {0}, 1},       {{4, 4}, 2, {1}, 1},
        {{4, 4}, 2, {0, 1}, 2},    {{3, 3, 3}, 3, {1}, 1},
        {{3, 3, 3}, 3, {0, 2}, 2}, {{3, 3, 3}, 3, {2}, 1},
        {{5, 1, 7}, 3, {2}, 1},    {{2, 3, 4, 5}, 4, {1, 3}, 2},
        {{7, 9}, 2, {0}, 1},       {{2, 3, 4, 5}, 4, {0, 1, 2}, 3},
    };
    for (size_t o = 0; o < sizeof ops / sizeof *ops; o++) {
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
            check_reduce(ops[o].name, ops[o].op, ops[o].ref, cases[c].shape, cases[c].nd,
                         cases[c].axes, cases[c].n_axes);
        int64_t drawn[2] = {draw(1, 50), draw(1, 50)};
        check_reduce(ops[o].name, ops[o].op, ops[o].ref, drawn, 2, (int[]){0}, 1);
    }
}
END_TEST

/* ---- conv2d --------------------------------------------------------------------------------- */
static void check_conv(nb_ref_conv2d g, nb_padding padding) {
    nb_scope_begin();
    int64_t cg = g.C / g.groups, kg = g.K / g.groups;
    int64_t nx = g.N * g.C * g.H * g.W, nw = g.K * cg * g.R * g.S, ny = g.N * g.K * g.P * g.Q;
    nb_tensor *x = input(NB_SHAPE(g.N, g.C, g.H, g.W), -1, 1);
    nb_tensor *w = input(NB_SHAPE(g.K, cg, g.R, g.S), -1, 1);
    nb_tensor *b = input(NB_SHAPE(g.K), -1, 1);
    nb_conv2d_opts o = {.stride_h = (int)g.stride_h,
                        .stride_w = (int)g.stride_w,
                        .padding = padding,
                        .pad_h = (int)g.pad_h,
                        .pad_w = (int)g.pad_w,
                        .dilation_h = (int)g.dilation_h,
                        .dilation_w = (int)g.dilation_w,
                        .groups = (int)g.groups};
    nb_tensor *y = nb_conv2d(x, w, b, &o);
    ck_assert_msg(y != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_numel(y), ny);
    float *want = zeros(ny), *mag = zeros(ny);
    float *ax = abs_copy(nb_data(x), nx), *aw = abs_copy(nb_data(w), nw);
    float *ab = abs_copy(nb_data(b), g.K);
    nb_ref_conv2d_forward(want, nb_data(x), nb_data(w), nb_data(b), &g);
    nb_ref_conv2d_forward(mag, ax, aw, ab, &g);
    assert_near("conv2d", nb_data(y), want, mag, ny, (double)(cg * g.R * g.S + 3) * U, 1e-30);

    const float *dy = backward_from(y);
    float *dx = zeros(nx), *dw = zeros(nw), *db = zeros(g.K), *ady = abs_copy(dy, ny);
    float *mx = zeros(nx), *mw = zeros(nw), *mb = zeros(g.K);
    nb_ref_conv2d_backward_data(dx, dy, nb_data(w), &g);
    nb_ref_conv2d_backward_weights(dw, db, dy, nb_data(x), &g);
    nb_ref_conv2d_backward_data(mx, ady, aw, &g);
    nb_ref_conv2d_backward_weights(mw, mb, ady, ax, &g);
    int64_t pq = g.N * g.P * g.Q;
    assert_near("conv2d dx", nb_data(nb_grad(x)), dx, mx, nx, (double)(kg * g.R * g.S + 3) * U,
                1e-30);
    assert_near("conv2d dw", nb_data(nb_grad(w)), dw, mw, nw, (double)(pq + 3) * U, 1e-30);
    assert_near("conv2d db", nb_data(nb_grad(b)), db, mb, g.K, (double)(pq + 3) * U, 1e-30);
    free(want), free(mag), free(ax), free(aw), free(ab), free(dx), free(dw), free(db), free(ady);
    free(mx), free(mw), free(mb);
    nb_scope_end();
}

/* explicit padding: P = (H + 2 pad - dilation (R - 1) - 1) / stride + 1 */
static nb_ref_conv2d conv_geom(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R,
                               int64_t S, int64_t stride, int64_t pad, int64_t dil,
                               int64_t groups) {
    nb_ref_conv2d g = {N, C, H, W, K, R, S, 0, 0, stride, stride, pad, pad, dil, dil, groups};
    g.P = (H + 2 * pad - dil * (R - 1) - 1) / stride + 1;
    g.Q = (W + 2 * pad - dil * (S - 1) - 1) / stride + 1;
    return g;
}

START_TEST(test_conv2d_forward_and_both_backward_passes_match_the_reference) {
    check_conv(conv_geom(2, 3, 5, 5, 4, 3, 3, 1, 0, 1, 1), NB_PAD_EXPLICIT); /* square */
    check_conv(conv_geom(1, 4, 7, 9, 6, 3, 3, 2, 1, 1, 2), NB_PAD_EXPLICIT); /* groups, odd */
    check_conv(conv_geom(2, 2, 8, 8, 2, 3, 3, 1, 2, 2, 1), NB_PAD_EXPLICIT); /* dilation */
    check_conv(conv_geom(1, 6, 6, 6, 6, 3, 3, 1, 1, 1, 6), NB_PAD_EXPLICIT); /* depthwise */
    check_conv(conv_geom(3, 1, 9, 7, 5, 5, 3, 2, 1, 1, 1), NB_PAD_EXPLICIT); /* 5x3 kernel */
    check_conv(conv_geom(1, 3, 4, 4, 3, 1, 1, 1, 0, 1, 1), NB_PAD_EXPLICIT); /* 1x1 */
    check_conv(conv_geom(2, 3, 3, 3, 3, 3, 3, 1, 1, 1, 3), NB_PAD_EXPLICIT); /* all 3s */
    /* Keras "same" with stride 2 and a 4x4 kernel: P = ceil(7 / 2) = 4, three
     * rows of padding, one on top and two (the odd one) at the bottom */
    nb_ref_conv2d same = {1, 2, 7, 7, 3, 4, 4, 4, 4, 2, 2, 1, 1, 1, 1, 1};
    check_conv(same, NB_PAD_SAME);
    int64_t c = draw(1, 4), h = draw(3, 12);
    check_conv(conv_geom(draw(1, 3), c, h, draw(3, 12), draw(1, 5), 3, 3, draw(1, 2), 1, 1, 1),
               NB_PAD_EXPLICIT);
}
END_TEST

/* ---- pooling -------------------------------------------------------------------------------- */
static nb_ref_pool2d pool_geom(int64_t N, int64_t C, int64_t H, int64_t W, int64_t k,
                               int64_t stride, int64_t pad, int64_t dil, bool include_pad) {
    nb_ref_pool2d g = {N, C, H, W, 0, 0, k, k, stride, stride, pad, pad, dil, dil, include_pad};
    g.P = (H + 2 * pad - dil * (k - 1) - 1) / stride + 1;
    g.Q = (W + 2 * pad - dil * (k - 1) - 1) / stride + 1;
    return g;
}

static void check_pool(bool max, nb_ref_pool2d g) {
    nb_scope_begin();
    int64_t nx = g.N * g.C * g.H * g.W, ny = g.N * g.C * g.P * g.Q;
    nb_tensor *x = input(NB_SHAPE(g.N, g.C, g.H, g.W), -2, 2);
    nb_max_pool2d_opts o = {.stride_h = (int)g.stride_h,
                            .stride_w = (int)g.stride_w,
                            .pad_h = (int)g.pad_h,
                            .pad_w = (int)g.pad_w,
                            .dilation_h = (int)g.dilation_h,
                            .dilation_w = (int)g.dilation_w};
    nb_tensor *y = max ? nb_max_pool2d_ex(x, (int)g.kh, (int)g.kw, &o)
                       : nb_avg_pool2d(x, (int)g.kh, (int)g.kw, o.stride_h, o.stride_w, o.pad_h,
                                       o.pad_w, g.count_include_pad);
    ck_assert_msg(y != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_numel(y), ny);
    float *want = zeros(ny), *mag = zeros(ny), *ax = abs_copy(nb_data(x), nx);
    (max ? nb_ref_max_pool2d_forward : nb_ref_avg_pool2d_forward)(want, nb_data(x), &g);
    nb_ref_avg_pool2d_forward(mag, ax, &g);
    /* max picks an element: exact; an average sums kh kw terms and divides */
    assert_near(max ? "max_pool2d" : "avg_pool2d", nb_data(y), want, mag, ny,
                max ? 0 : (double)(g.kh * g.kw + 3) * U, 0);

    const float *dy = backward_from(y);
    float *dx = zeros(nx), *mx = zeros(nx), *ady = abs_copy(dy, ny);
    if (max) {
        nb_ref_max_pool2d_backward(dx, dy, nb_data(x), &g);
        nb_ref_max_pool2d_backward(mx, ady, nb_data(x), &g);
    } else {
        nb_ref_avg_pool2d_backward(dx, dy, &g);
        nb_ref_avg_pool2d_backward(mx, ady, &g);
    }
    /* an input pixel gets a share of at most kh kw windows */
    assert_near(max ? "max_pool2d dx" : "avg_pool2d dx", nb_data(nb_grad(x)), dx, mx, nx,
                (double)(g.kh * g.kw + 3) * U, 0);
    free(want), free(mag), free(ax), free(dx), free(mx), free(ady);
    nb_scope_end();
}

START_TEST(test_max_and_avg_pool2d_match_the_reference) {
    for (int max = 0; max < 2; max++)
        for (int include = 0; include < 2; include++) {
            if (max && include) continue; /* max pooling ignores padding either way */
            check_pool(max, pool_geom(2, 3, 6, 6, 2, 2, 0, 1, include)); /* square */
            check_pool(max, pool_geom(1, 2, 7, 7, 3, 2, 1, 1, include)); /* odd, padded */
            check_pool(max, pool_geom(1, 1, 9, 5, 3, 1, 1, 1, include)); /* overlapping */
            check_pool(max, pool_geom(2, 2, 3, 3, 3, 3, 1, 1, include)); /* one window */
            check_pool(max, pool_geom(draw(1, 3), draw(1, 4), draw(4, 12), draw(4, 12), 2,
                                      draw(1, 2), 1, 1, include));
        }
    check_pool(true, pool_geom(2, 2, 8, 8, 2, 1, 0, 2, false)); /* dilation 2 */
    check_pool(true, pool_geom(1, 3, 9, 9, 3, 2, 1, 2, false));
}
END_TEST

/* ---- batch normalization, training ------------------------------------------------------------
 */
static void check_batch_norm(const int64_t *shape, int nd) {
    nb_scope_begin();
    int64_t N = shape[0], C = shape[1], L = 1;
    for (int i = 2; i < nd; i++) L *= shape[i];
    int64_t n = N * C * L, M = N * L;
    nb_tensor *x = input(shape, nd, -2, 3);
    nb_tensor *gamma = input(NB_SHAPE(C), 0.5f, 1.5f), *beta = input(NB_SHAPE(C), -1, 1);
    nb_tensor *y = nb_batch_norm(x, gamma, beta, NULL, NULL, 0.1f, 1e-5f, true);
    ck_assert_msg(y != NULL, "%s", nb_error());
    float *want = zeros(n), *mean = zeros(C), *var = zeros(C);
    nb_ref_batch_norm_forward(want, mean, var, nb_data(x), nb_data(gamma), nb_data(beta), 1e-5f, N,
                              C, L);
    /* mean and variance are sums of M terms, |x - mean| / std <= about 3 here:
     * y is off by about M u (3 |gamma| + |beta|) <= M u 6 */
    assert_near("batch_norm", nb_data(y), want, NULL, n, 0, (double)(M + 16) * 6 * U);

    const float *dy = backward_from(y);
    float *dx = zeros(n), *dg = zeros(C), *db = zeros(C), *mx = zeros(n), *mg = zeros(C);
    float *mb = zeros(C), *ady = abs_copy(dy, n), *xa = zeros(n);
    nb_ref_batch_norm_backward(dx, dg, db, dy, nb_data(x), mean, var, nb_data(gamma), 1e-5f, N, C,
                               L);
    /* |terms| of dgamma and dbeta: |dy| |xhat| and |dy|, from x moved to mean + |x - mean| */
    for (int64_t i = 0; i < n; i++) {
        float m = mean[(i / L) % C];
        xa[i] = m + fabsf(nb_data(x)[i] - m);
    }
    nb_ref_batch_norm_backward(mx, mg, mb, ady, xa, mean, var, nb_data(gamma), 1e-5f, N, C, L);
    /* dx = gamma / std (dy - mean(dy) - xhat mean(dy xhat)): terms of size
     * |gamma| / std (|dy| + mean |dy| + |xhat| mean |dy xhat|) <= 1.5 / 0.6 (1 + 1 + 9) */
    assert_near("batch_norm dx", nb_data(nb_grad(x)), dx, NULL, n, 0,
                (double)(2 * M + 16) * 28 * U);
    /* xhat carries the statistics' error too: twice the sums' bound */
    assert_near("batch_norm dgamma", nb_data(nb_grad(gamma)), dg, mg, C, (double)(2 * M + 16) * U,
                1e-30);
    assert_near("batch_norm dbeta", nb_data(nb_grad(beta)), db, mb, C, (double)(M + 3) * U, 1e-30);
    free(want), free(mean), free(var), free(dx), free(dg), free(db), free(mx), free(mg), free(mb);
    free(ady), free(xa);
    nb_scope_end();
}

START_TEST(test_batch_norm_training_forward_and_backward_match_the_reference) {
    check_batch_norm(NB_SHAPE(8, 3));
    check_batch_norm(NB_SHAPE(4, 4, 4, 4)); /* every axis equal */
    check_batch_norm(NB_SHAPE(5, 3, 7));
    check_batch_norm(NB_SHAPE(2, 5, 3, 3));
    check_batch_norm(NB_SHAPE(3, 3, 3));
    int64_t drawn[4] = {draw(2, 6), draw(1, 6), draw(1, 7), draw(1, 7)};
    check_batch_norm(drawn, 4);
}
END_TEST

/* ---- fused cross-entropy losses ------------------------------------------------------------- */
/* The loss is a sum of N K terms t (lse - x), each off by about K u of
 * |lse| + |x| (lse sums K exponentials); the gradients are single terms
 * (softmax times a sum of K targets), off by a few K u. */
static void check_softmax_ce(int64_t N, int64_t K) {
    nb_scope_begin();
    nb_tensor *x = input(NB_SHAPE(N, K), -4, 4), *t = input(NB_SHAPE(N, K), 0, 1);
    nb_tensor *loss = nb_softmax_crossentropy_logits(x, t);
    ck_assert_msg(loss != NULL, "%s", nb_error());
    float want = nb_ref_softmax_ce_forward(nb_data(x), nb_data(t), N, K);
    double mag = 0;
    for (int64_t i = 0; i < N * K; i++) mag += nb_data(t)[i] * (fabsf(nb_data(x)[i]) + 4 + log(K));
    mag /= (double)N;
    float got = nb_item(loss);
    assert_near("softmax_ce", &got, &want, (float[]){(float)mag}, 1, (double)(N * K + K + 8) * U,
                1e-30);
    ck_assert_int_eq(nb_backward(loss), NB_OK);
    float *dx = zeros(N * K), *dt = zeros(N * K);
    nb_ref_softmax_ce_backward(dx, dt, 1.0f, nb_data(x), nb_data(t), N, K);
    assert_near("softmax_ce dx", nb_data(nb_grad(x)), dx, NULL, N * K, 0,
                (double)(K + 8) * U * (double)K / (double)N);
    assert_near("softmax_ce dt", nb_data(nb_grad(t)), dt, NULL, N * K, 0,
                (double)(K + 8) * U * (8 + log(K)) / (double)N);
    free(dx), free(dt);
    nb_scope_end();
}

static void check_sparse_softmax_ce(int64_t N, int64_t K) {
    nb_scope_begin();
    nb_tensor *x = input(NB_SHAPE(N, K), -4, 4), *labels = nb_zeros(NB_SHAPE(N));
    for (int64_t n = 0; n < N; n++) nb_data(labels)[n] = (float)draw(0, K - 1);
    nb_tensor *loss = nb_sparse_softmax_crossentropy_logits(x, labels);
    ck_assert_msg(loss != NULL, "%s", nb_error());
    float want = nb_ref_sparse_softmax_ce_forward(nb_data(x), nb_data(labels), N, K);
    float got = nb_item(loss);
    assert_near("sparse_softmax_ce", &got, &want, NULL, 1, 0,
                (double)(N + K + 8) * U * (8 + log(K)));
    ck_assert_int_eq(nb_backward(loss), NB_OK);
    float *dx = zeros(N * K);
    nb_ref_sparse_softmax_ce_backward(dx, 1.0f, nb_data(x), nb_data(labels), N, K);
    assert_near("sparse_softmax_ce dx", nb_data(nb_grad(x)), dx, NULL, N * K, 0,
                (double)(K + 8) * U / (double)N);
    free(dx);
    nb_scope_end();
}

static void check_sigmoid_ce(const int64_t *shape, int nd) {
    nb_scope_begin();
    nb_tensor *x = input(shape, nd, -6, 6), *z = input(shape, nd, 0, 1);
    int64_t M = nb_numel(x);
    nb_tensor *loss = nb_sigmoid_crossentropy_logits(x, z);
    ck_assert_msg(loss != NULL, "%s", nb_error());
    float want = nb_ref_sigmoid_ce_forward(nb_data(x), nb_data(z), M);
    float got = nb_item(loss);
    /* M terms of size <= 2 |x| + log 2 <= 13 */
    assert_near("sigmoid_ce", &got, &want, NULL, 1, 0, (double)(M + 8) * U * 13);
    ck_assert_int_eq(nb_backward(loss), NB_OK);
    float *dx = zeros(M), *dz = zeros(M);
    nb_ref_sigmoid_ce_backward(dx, dz, 1.0f, nb_data(x), nb_data(z), M);
    assert_near("sigmoid_ce dx", nb_data(nb_grad(x)), dx, NULL, M, 0, 8 * U / (double)M);
    assert_near("sigmoid_ce dz", nb_data(nb_grad(z)), dz, NULL, M, 0, 8 * U * 6 / (double)M);
    free(dx), free(dz);
    nb_scope_end();
}

START_TEST(test_fused_cross_entropy_losses_match_the_reference) {
    const int64_t nk[][2] = {{1, 1}, {5, 5}, {16, 16}, {7, 3}, {3, 11}, {32, 10}};
    for (size_t i = 0; i < sizeof nk / sizeof *nk; i++) {
        check_softmax_ce(nk[i][0], nk[i][1]);
        check_sparse_softmax_ce(nk[i][0], nk[i][1]);
        check_sigmoid_ce(nk[i], 2);
    }
    check_sigmoid_ce(NB_SHAPE(3, 3, 3));
    check_softmax_ce(draw(1, 40), draw(1, 40));
    check_sparse_softmax_ce(draw(1, 40), draw(2, 40));
}
END_TEST

static Suite *ref_suite(void) {
    Suite *s = suite_create("ref");
    TCase *tc = nb_tcase("ref");
    tcase_add_test(tc, test_eltwise_forward_and_backward_match_the_reference);
    tcase_add_test(tc, test_binary_ops_with_broadcasting_match_the_reference);
    tcase_add_test(tc, test_matmul_and_linear_match_the_reference);
    tcase_add_test(tc, test_softmax_and_log_softmax_match_the_reference_on_every_axis);
    tcase_add_test(tc, test_reductions_match_the_reference_over_any_axes);
    tcase_add_test(tc, test_conv2d_forward_and_both_backward_passes_match_the_reference);
    tcase_add_test(tc, test_max_and_avg_pool2d_match_the_reference);
    tcase_add_test(tc, test_batch_norm_training_forward_and_backward_match_the_reference);
    tcase_add_test(tc, test_fused_cross_entropy_losses_match_the_reference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(ref_suite());
}
