/* float32 accuracy of every elementwise op, forward and backward, in ulp.
 *
 * Each op runs on 10^5 points spread over its domain: log-uniform magnitudes
 * (near 0 and the tails), points within 2^-24 .. 2^-1 of +-1, uniform points,
 * and a few named ones (0, 1, 0.99999, -20, the domain's ends). The result is
 * compared with the op computed in double precision; the error is in units of
 * the float spacing at the exact value, so 0.5 is correct rounding and an
 * absolute error of 1e-6 on a result near 1e-6 is a few million ulp.
 *
 * The backward rows measure the backward kernel on the data it reads: the
 * gradient with a seed of ones is f'(x), or f'(y) for the ops whose backward
 * reads the float output y (sigmoid, tanh, exp, sqrt, elu), against the same
 * formula in double on the same x or y.
 *
 * Softmax and log_softmax get the same treatment row by row (see below).
 *
 * The bounds asserted are those documented in ops.h; the table printed to
 * stdout is what a change of kernel would be judged by. */
#include "nb_test.h"

#include <float.h>
#include <stdint.h>
#include <stdio.h>

#define N_POINTS 100000

/* spacing of float32 numbers at |r| (subnormal spacing below FLT_MIN) */
static double ulp_of(double r) {
    double a = fabs(r);
    if (a < FLT_MIN) return ldexp(1.0, -149);
    int e;
    frexp(a, &e); /* a = m 2^e, m in [0.5, 1) */
    return ldexp(1.0, e - 24);
}

/* error of y against the exact r, in ulp of r; results beyond float's range
 * must be the infinity the exact value rounds to */
static double ulp_error(float y, double r, double floor) {
    if (isnan(r)) return isnan(y) ? 0 : INFINITY;
    if (isinf((float)r) || isinf(y)) return (float)r == y ? 0 : INFINITY;
    return fabs((double)y - r) / ulp_of(fmax(fabs(r), floor));
}

/* a small generator of our own, so the points are the same on every machine */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform01(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* N_POINTS inputs in [lo, hi] */
static void sample(float lo, float hi, float *x) {
    const float named[] = {0, 1, -1, 0.99999f, 1.00001f, -20, 20, 0.5f, -0.5f, lo, hi};
    int n = 0;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (named[i] >= lo && named[i] <= hi) x[n++] = named[i];
    double amax = fmax(fabs(lo), fabs(hi)), lmin = log(1e-30), lmax = log(amax);
    while (n < N_POINTS) {
        double u = uniform01(), v;
        double sign = (lo < 0 && (hi <= 0 || uniform01() < 0.5)) ? -1 : 1;
        switch (n % 4) {
        case 0: /* log-uniform magnitude: near 0 up to the tails */
            v = sign * exp(lmin + u * (lmax - lmin));
            break;
        case 1: /* just around +-1 */
            v = sign * (1 + (uniform01() < 0.5 ? -1 : 1) * ldexp(u, -(int)(uniform01() * 24)));
            break;
        case 2:
            v = lo + u * ((double)hi - lo);
            break;
        default: /* just around 0 */
            v = sign * ldexp(u, -(int)(uniform01() * 40));
            break;
        }
        if (v >= lo && v <= hi) x[n++] = (float)v;
    }
}

/* ---- the ops and their double references ------------------------------------------------- */
static double gelu_d(double x) {
    return 0.5 * x * (1 + erf(x / sqrt(2.0)));
}
static double sigmoid_d(double x) {
    return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}
static double softplus_d(double x) {
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

#define UNARY(name, expr)                                                                          \
    static nb_tensor *name##_f(nb_tensor *t) {                                                     \
        return expr;                                                                               \
    }
UNARY(pow3, nb_pow_scalar(t, 3))
UNARY(pow_half, nb_pow_scalar(t, 0.5f))
UNARY(pow_m1, nb_pow_scalar(t, -1))
UNARY(pow_2_5, nb_pow_scalar(t, 2.5f))
UNARY(clip, nb_clip(t, -0.5f, 0.5f))
UNARY(leaky, nb_leaky_relu(t, 0.1f))
UNARY(elu, nb_elu(t, 1.0f))
UNARY(add_s, nb_add_scalar(t, 0.5f))
UNARY(mul_s, nb_mul_scalar(t, 0.37f))
UNARY(div_s, nb_div_scalar(t, 3.0f))
UNARY(affine, nb_affine(t, 2.0f, -1.0f))

typedef struct {
    const char *name;
    nb_tensor *(*f)(nb_tensor *);
    float lo, hi;
    double (*ref)(double x);
    /* f' from x and the float output y (the backward reads one of them); NULL: no gradient */
    double (*dref)(double x, double y);
    /* bounds in ulp, as documented in ops.h; an error is counted in ulp of
     * max(|exact|, floor), so below floor the bound is an absolute one */
    double fwd_bound, fwd_floor, bwd_bound, bwd_floor;
} op_row;

#define REF(name, expr)                                                                            \
    static double name(double x) {                                                                 \
        return expr;                                                                               \
    }
#define DREF(name, expr)                                                                           \
    static double name(double x, double y) {                                                       \
        (void)x;                                                                                   \
        (void)y;                                                                                   \
        return expr;                                                                               \
    }
REF(r_exp, exp(x))
REF(r_log, log(x))
REF(r_sqrt, sqrt(x))
REF(r_square, x *x)
REF(r_pow3, x *x *x)
REF(r_pow_half, sqrt(x))
REF(r_pow_m1, 1 / x)
REF(r_pow_2_5, pow(x, 2.5))
REF(r_abs, fabs(x))
REF(r_clip, x<-0.5 ? -0.5 : x> 0.5 ? 0.5 : x)
REF(r_relu, x > 0 ? x : 0)
REF(r_leaky, x > 0 ? x : (double)0.1f * x)
REF(r_sigmoid, sigmoid_d(x))
REF(r_tanh, tanh(x))
REF(r_elu, x > 0 ? x : expm1(x))
REF(r_gelu, gelu_d(x))
REF(r_softplus, softplus_d(x))
REF(r_neg, -x)
REF(r_add_s, x + 0.5)
REF(r_mul_s, (double)0.37f * x)
REF(r_div_s, x / 3)
REF(r_affine, 2 * x - 1)
DREF(d_exp, y)
DREF(d_log, 1 / x)
DREF(d_sqrt, 0.5 / y)
DREF(d_square, 2 * x)
DREF(d_pow3, 3 * x * x)
DREF(d_pow_half, 0.5 / sqrt(x))
DREF(d_pow_m1, -1 / (x * x))
DREF(d_pow_2_5, 2.5 * pow(x, 1.5))
DREF(d_abs, x > 0 ? 1 : x < 0 ? -1 : 0)
DREF(d_clip, x >= -0.5 && x <= 0.5 ? 1 : 0) /* both bounds pass the gradient (ops.h) */
DREF(d_relu, y > 0 ? 1 : 0)
DREF(d_leaky, y > 0 ? 1 : (double)0.1f)
DREF(d_sigmoid, y *(1 - y))
DREF(d_tanh, 1 - y * y)
DREF(d_elu, y > 0 ? 1 : y + 1)
DREF(d_gelu, 0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI))
DREF(d_softplus, sigmoid_d(x))
DREF(d_neg, -1)
DREF(d_one, 1)
DREF(d_mul_s, (double)0.37f)
DREF(d_div_s, (double)(1.0f / 3.0f))
DREF(d_affine, 2)

/* TINY: results below it flush to zero in oneDNN's exp-based kernels */
#define TINY 0x1p-90
/* pow backward (alpha beta x^(beta - 1)) loses results below about 1e-30 */
#define POW_TINY 0x1p-60
static const op_row ops[] = {
    {"exp", nb_exp, -87, 88, r_exp, d_exp, 6, TINY, 0.5, 0},
    {"log", nb_log, 1e-30f, 3e38f, r_log, d_log, 0.5, 0, 1, 0},
    {"sqrt", nb_sqrt, 0, 3e38f, r_sqrt, d_sqrt, 0.5, 0, 1, 0},
    {"square", nb_square, -1e18f, 1e18f, r_square, d_square, 0.5, 0, 0.5, 0},
    {"pow 3", pow3_f, -1e12f, 1e12f, r_pow3, d_pow3, 2, 0, 3, POW_TINY},
    {"pow 0.5", pow_half_f, 1e-30f, 3e38f, r_pow_half, d_pow_half, 2, 0, 3, 0},
    {"pow -1", pow_m1_f, 1e-30f, 1e30f, r_pow_m1, d_pow_m1, 2, 0, 3, 0},
    {"pow 2.5", pow_2_5_f, 0, 1e15f, r_pow_2_5, d_pow_2_5, 2, 0, 3, POW_TINY},
    {"abs", nb_abs, -3e38f, 3e38f, r_abs, d_abs, 0, 0, 0, 0},
    {"clip", clip_f, -100, 100, r_clip, d_clip, 0, 0, 0, 0},
    {"relu", nb_relu, -3e38f, 3e38f, r_relu, d_relu, 0, 0, 0, 0},
    {"leaky_relu", leaky_f, -3e38f, 3e38f, r_leaky, d_leaky, 0.5, 0, 0, 0},
    {"sigmoid", nb_sigmoid, -88, 88, r_sigmoid, d_sigmoid, 4, TINY, 3, 0},
    {"tanh", nb_tanh, -20, 20, r_tanh, d_tanh, 3, 0, 1, 0},
    {"elu", elu_f, -88, 88, r_elu, d_elu, 3, 1, 0.5, 0},
    {"gelu", nb_gelu, -10, 10, r_gelu, d_gelu, 3, 1, 3, 1},
    {"softplus", nb_softplus, -88, 88, r_softplus, d_softplus, 0.5, 0, 4, TINY},
    {"neg", nb_neg, -3e38f, 3e38f, r_neg, d_neg, 0, 0, 0, 0},
    {"add_scalar 0.5", add_s_f, -1e6f, 1e6f, r_add_s, d_one, 0.5, 0, 0, 0},
    {"mul_scalar 0.37", mul_s_f, -1e30f, 1e30f, r_mul_s, d_mul_s, 0.5, 0, 0, 0},
    {"div_scalar 3", div_s_f, -1e30f, 1e30f, r_div_s, d_div_s, 1, 0, 0, 0},
    {"affine 2x-1", affine_f, -1e6f, 1e6f, r_affine, d_affine, 0.5, 0, 0, 0},
};
#define N_OPS ((int)(sizeof ops / sizeof ops[0]))

/* the worst point in plain ulp, and the worst in ulp above the floor */
typedef struct {
    double err, floored;
    float x, got;
    double want;
} worst;

static void note(worst *w, float x, float got, double want, double floor) {
    double e = ulp_error(got, want, 0), f = ulp_error(got, want, floor);
    if (!(e <= w->err)) {
        w->err = e;
        w->x = x;
        w->got = got;
        w->want = want;
    }
    if (!(f <= w->floored)) w->floored = f;
}

static void print_row(const char *op, const char *dir, const worst *w, double floor, double bound) {
    printf("| %-16s | %-8s | %9.3g | %-15.9g | %-15.9g | %-15.9g | %7.3g | %5.3g | %5g |\n", op,
           dir, w->err, (double)w->x, (double)w->got, w->want, floor, w->floored, bound);
}

static void print_header(void) {
    printf("| %-16s | %-8s | %9s | %-15s | %-15s | %-15s | %7s | %5s | %5s |\n", "op", "pass",
           "max ulp", "where (x)", "got", "exact", "floor", "ulp>f", "bound");
}

START_TEST(test_every_elementwise_op_is_within_its_ulp_bound) {
    const op_row *op = &ops[_i];
    static float x[N_POINTS];
    sample(op->lo, op->hi, x);
    nb_tensor *t = nb_set_requires_grad(nb_from_array(x, NB_SHAPE(N_POINTS)), true);
    nb_tensor *y = op->f(t);
    ck_assert_msg(y != NULL, "%s: %s", op->name, nb_error());
    worst fw = {0, 0, 0, 0, 0}, bw = {0, 0, 0, 0, 0};
    for (int i = 0; i < N_POINTS; i++) {
        double r = op->ref(x[i]);
        float got = nb_get_flat(y, i);
        note(&fw, x[i], got, r, op->fwd_floor);
    }
    ck_assert_msg(nb_backward_ex(y, nb_ones(NB_SHAPE(N_POINTS)), false) == NB_OK, "%s: %s",
                  op->name, nb_error());
    nb_tensor *g = nb_grad(t);
    for (int i = 0; i < N_POINTS; i++) {
        double r = op->dref(x[i], nb_get_flat(y, i));
        float got = nb_get_flat(g, i);
        note(&bw, x[i], got, r, op->bwd_floor);
    }
    print_row(op->name, "forward", &fw, op->fwd_floor, op->fwd_bound);
    print_row(op->name, "backward", &bw, op->bwd_floor, op->bwd_bound);
    fflush(stdout);
    ck_assert_msg(fw.floored <= op->fwd_bound, "%s: %.4g ulp (worst plain: %.4g at x = %.9g)",
                  op->name, fw.floored, fw.err, (double)fw.x);
    ck_assert_msg(bw.floored <= op->bwd_bound,
                  "%s backward: %.4g ulp (worst plain: %.4g at x = %.9g)", op->name, bw.floored,
                  bw.err, (double)bw.x);
}
END_TEST

/* ---- softmax and log_softmax along the last axis ------------------------------------------
 * Rows of 1, 2, 3, 10, 100 and 1000 logits of scale 1, 10 and 100. The backward
 * rows measure dx = y (dy - sum(dy y)) and dx = dy - exp(y) sum(dy) from the float
 * y and dy the kernel reads; the difference there can cancel to nothing, so the
 * error is in ulp of the terms' size: y (|dy| + sum |dy y|), |dy| + exp(y) sum |dy|. */
typedef struct {
    const char *name;
    bool log;
    double fwd_bound, fwd_floor, bwd_bound;
} softmax_row;

static const softmax_row softmaxes[] = {
    {"softmax", false, 48, TINY, 6}, /* oneDNN sums in float: grows with the row */
    {"log_softmax", true, 0.5, 0, 6},
};

static void softmax_ref(const float *x, int64_t len, bool log_, double *y) {
    double m = -INFINITY, sum = 0;
    for (int64_t k = 0; k < len; k++) m = fmax(m, x[k]);
    for (int64_t k = 0; k < len; k++) sum += exp(x[k] - m);
    for (int64_t k = 0; k < len; k++) y[k] = log_ ? x[k] - m - log(sum) : exp(x[k] - m) / sum;
}

START_TEST(test_softmax_and_log_softmax_are_within_their_ulp_bounds) {
    const softmax_row *op = &softmaxes[_i];
    static const int64_t lens[] = {1, 2, 3, 10, 100, 1000};
    static const float scales[] = {1, 10, 100};
    worst fw = {0, 0, 0, 0, 0}, bw = {0, 0, 0, 0, 0};
    for (int li = 0; li < 6; li++)
        for (int si = 0; si < 3; si++) {
            int64_t len = lens[li], rows = (N_POINTS / 18 + len - 1) / len;
            nb_tensor *x = nb_set_requires_grad(
                nb_mul_scalar(nb_randn(NB_SHAPE(rows, len)), scales[si]), true);
            nb_tensor *y = op->log ? nb_log_softmax(x, 1) : nb_softmax(x, 1);
            nb_tensor *dy = nb_randn(NB_SHAPE(rows, len));
            ck_assert_msg(y && nb_backward_ex(y, dy, false) == NB_OK, "%s: %s", op->name,
                          nb_error());
            const float *px = nb_data(x), *py = nb_data(y), *pd = nb_data(dy);
            const float *pg = nb_data(nb_grad(x));
            double want[1000];
            for (int64_t r = 0; r < rows; r++) {
                const float *xr = px + r * len, *yr = py + r * len, *dr = pd + r * len;
                softmax_ref(xr, len, op->log, want);
                double s = 0, sa = 0;
                for (int64_t k = 0; k < len; k++) {
                    note(&fw, xr[k], yr[k], want[k], op->fwd_floor);
                    s += op->log ? dr[k] : (double)dr[k] * yr[k];
                    sa += op->log ? fabs(dr[k]) : fabs((double)dr[k] * yr[k]);
                }
                for (int64_t k = 0; k < len; k++) {
                    double e = op->log ? exp(yr[k]) : 0;
                    double g = op->log ? dr[k] - e * s : yr[k] * (dr[k] - s);
                    double size = op->log ? fabs(dr[k]) + e * sa : yr[k] * (fabs(dr[k]) + sa);
                    double err = fabs(pg[r * len + k] - g) / ulp_of(size);
                    if (!(err <= bw.err)) bw = (worst){err, err, xr[k], pg[r * len + k], g};
                }
            }
        }
    print_row(op->name, "forward", &fw, op->fwd_floor, op->fwd_bound);
    print_row(op->name, "backward", &bw, 0, op->bwd_bound);
    fflush(stdout);
    ck_assert_msg(fw.floored <= op->fwd_bound, "%s: %.4g ulp (worst plain: %.4g at x = %.9g)",
                  op->name, fw.floored, fw.err, (double)fw.x);
    ck_assert_msg(bw.err <= op->bwd_bound, "%s backward: %.4g ulp at x = %.9g", op->name, bw.err,
                  (double)bw.x);
}
END_TEST

static Suite *accuracy_suite(void) {
    Suite *s = suite_create("accuracy");
    TCase *tc = nb_tcase("ulp");
    tcase_add_loop_test(tc, test_every_elementwise_op_is_within_its_ulp_bound, 0, N_OPS);
    tcase_add_loop_test(tc, test_softmax_and_log_softmax_are_within_their_ulp_bounds, 0,
                        (int)(sizeof softmaxes / sizeof softmaxes[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    print_header();
    fflush(stdout);
    return nb_test_run(accuracy_suite());
}
