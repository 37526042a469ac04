/* Elementwise functions and activations, on oneDNN eltwise primitives.
 *
 *   x: any shape -> y: same shape
 *
 * Every op here is "y = f(x)" for one oneDNN algorithm with parameters alpha
 * and beta, and its backward is "dx = f'(x) * dy", oneDNN's eltwise backward
 * primitive for the same algorithm, recorded as the op <name>_backward. Where
 * f' is cheaper from y (sigmoid: y(1-y), tanh: 1-y^2, exp: y, sqrt: 1/2y,
 * relu/elu), the *_use_dst_for_bwd algorithm lets backward read y instead of x.
 * log and softplus run their forward as exact loops instead (see exact_forward).
 * clip's backward is a mask written with ops instead (see clip_backward).
 */
#include "core/dnnl_internal.h"
#include "op.h"

#include <math.h>

typedef struct {
    int alg;
    float alpha, beta;
} eltwise_attrs;

static nb_status same_shape(const nb_node *n, nb_layout *l) {
    nb_layout_contiguous(l, n->in[0]->shape, n->in[0]->ndim);
    return NB_OK;
}

/* only the parameters an op uses: leaky_relu's alpha, clip's bounds, ... */
static int print_alpha_beta(const nb_node *n, char *buf, size_t size) {
    const eltwise_attrs *a = NB_ATTRS(n, eltwise_attrs);
    if (a->alpha == 0 && a->beta == 0) return snprintf(buf, size, "%s", "");
    if (a->beta == 0) return snprintf(buf, size, "alpha=%g", a->alpha);
    return snprintf(buf, size, "alpha=%g beta=%g", a->alpha, a->beta);
}

/* y = f(x) */
static nb_status eltwise_forward(nb_node *n) {
    const eltwise_attrs *a = NB_ATTRS(n, eltwise_attrs);
    return nb_kernel_eltwise(nb_op_caller(n), a->alg, a->alpha, a->beta, n->in[0], n->out);
}

/* in: [dy, x or y] -> dx = f'(.) * dy */
static nb_status eltwise_backward_forward(nb_node *n) {
    const eltwise_attrs *a = NB_ATTRS(n, eltwise_attrs);
    return nb_kernel_eltwise_backward(nb_op_caller(n), a->alg, a->alpha, a->beta, n->in[1],
                                      n->in[0], n->out);
}

/* ---- second order: the backward op's own backward ----------------------------------
 * dx = f'(d) * dy, d the data the algorithm reads (x, or y for the *_use_dst
 * forms, where f'(x) is written h(y)). Given g = d(loss)/d(dx):
 *   d/d(dy) = f'(d) * g: the same backward op, on g
 *   d/d(d)  = f''(x) * dy * g, or h'(y) * dy * g when d is y (y's own
 *             dependence on x is y's node's business)
 * second_factor gives f''(x) or h'(y) with ops, or NULL (no error) where it
 * is 0 (piecewise-linear functions). */
static nb_tensor *second_factor(const eltwise_attrs *a, nb_tensor *d, bool *zero) {
    const float inv_sqrt_2pi = 0.3989422804f;
    *zero = false;
    switch (a->alg) {
    case dnnl_eltwise_exp_use_dst_for_bwd:
        return nb_ones(d->shape, d->ndim); /* h(y) = y */
    case dnnl_eltwise_log:
        return nb_neg(nb_div(nb_ones(d->shape, d->ndim), nb_square(d)));
    case dnnl_eltwise_sqrt_use_dst_for_bwd: /* h(y) = 1 / 2y */
        return nb_div(nb_affine(nb_ones(d->shape, d->ndim), 0.0f, -0.5f), nb_square(d));
    case dnnl_eltwise_square:
        return nb_affine(nb_ones(d->shape, d->ndim), 0.0f, 2.0f);
    case dnnl_eltwise_pow: /* alpha x^beta */
        if (a->beta == 0.0f || a->beta == 1.0f) break;
        return nb_mul_scalar(nb_pow_scalar(d, a->beta - 2.0f), a->alpha * a->beta * (a->beta - 1));
    case dnnl_eltwise_logistic_use_dst_for_bwd:
        return nb_affine(d, -2.0f, 1.0f); /* y(1 - y) */
    case dnnl_eltwise_tanh_use_dst_for_bwd:
        return nb_affine(d, -2.0f, 0.0f);  /* 1 - y^2 */
    case dnnl_eltwise_elu_use_dst_for_bwd: /* h(y) = y + alpha where y <= 0 */
        return nb_rsub_scalar(nb_heaviside(d), 1.0f);
    case dnnl_eltwise_elu: /* alpha e^x where x <= 0 */
        return nb_mul(nb_rsub_scalar(nb_heaviside(d), 1.0f), nb_mul_scalar(nb_exp(d), a->alpha));
    case dnnl_eltwise_gelu_erf: /* x Phi(x): phi(x) (2 - x^2) */
        return nb_mul(nb_mul_scalar(nb_exp(nb_mul_scalar(nb_square(d), -0.5f)), inv_sqrt_2pi),
                      nb_rsub_scalar(nb_square(d), 2.0f));
    case dnnl_eltwise_soft_relu: { /* sigmoid(x) (1 - sigmoid(x)) */
        nb_tensor *s = nb_sigmoid(d);
        return nb_mul(s, nb_rsub_scalar(s, 1.0f));
    }
    default:
        break; /* relu, leaky_relu, abs, clip, affine: piecewise linear */
    }
    *zero = true;
    return NULL;
}

static const nb_op_def eltwise_backward_def;

/* in: [dy, d] */
static nb_status eltwise_double_backward(nb_node *n, nb_tensor *g, nb_tensor **gx) {
    const eltwise_attrs *a = NB_ATTRS(n, eltwise_attrs);
    nb_tensor *dy = n->in[0], *d = n->in[1];
    if (n->needs_grad[0] &&
        !(gx[0] = nb_apply(&eltwise_backward_def, (nb_tensor *[]){g, d}, 2, a, sizeof *a)))
        return nb_failure_code();
    if (!n->needs_grad[1]) return NB_OK;
    bool zero;
    nb_tensor *f2 = second_factor(a, d, &zero);
    if (zero) return NB_OK; /* no gradient: zero */
    gx[1] = nb_mul(nb_mul(dy, g), f2);
    return gx[1] ? NB_OK : nb_failure_code();
}

static const nb_op_def eltwise_backward_def = {
    .name = "eltwise_backward",
    .flags = NB_OP_CONTIGUOUS,
    .shape = same_shape,
    .forward = eltwise_backward_forward,
    .backward = eltwise_double_backward,
    .print_attrs = print_alpha_beta,
};

static nb_status eltwise_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    const eltwise_attrs *a = NB_ATTRS(n, eltwise_attrs);
    nb_tensor *data = nb_eltwise_uses_dst(a->alg) ? n->out : n->in[0];
    gx[0] = nb_apply(&eltwise_backward_def, (nb_tensor *[]){gy, data}, 2, a, sizeof *a);
    return gx[0] ? NB_OK : nb_failure_code();
}

/* ---- the log family as plain loops ------------------------------------------------------
 * oneDNN 2.6's eltwise log is off by about 1.4e-6 absolute near 1, with its
 * jit:avx2 and jit:avx512_core kernels alike: log(1) = -1.43e-6, log(0.99999f)
 * 14% off; soft_relu (softplus) is built on it and goes negative for x < -15.
 * These loops compute in double and round once, so each result is the
 * correctly rounded float whatever the machine (the bounds are in ops.h,
 * tests/ops/test_accuracy.c measures them). Their backward stays oneDNN's
 * (1/x and sigmoid(x), both accurate). */
static float log_exact(float x) {
    return (float)log((double)x);
}

/* log(1 + e^x) without overflow, and without losing e^x when it is tiny */
static float softplus_exact(float x) {
    double d = x;
    return (float)(d > 0 ? d + log1p(exp(-d)) : log1p(exp(d)));
}

static nb_status exact_forward(nb_node *n) {
    float (*f)(float) =
        NB_ATTRS(n, eltwise_attrs)->alg == dnnl_eltwise_log ? log_exact : softplus_exact;
    const float *x = nb_ptr(n->in[0]);
    float *y = nb_ptr(n->out);
    for (int64_t i = 0; i < n->out->numel; i++) y[i] = f(x[i]);
    return NB_OK;
}

/* Not offered for fusion (no as_post_op): a post-op would run oneDNN's kernel. */
#define EXACT_DEF(op)                                                                              \
    static const nb_op_def op##_def = {                                                            \
        .name = #op,                                                                               \
        .flags = NB_OP_CONTIGUOUS | NB_OP_INPLACE,                                                 \
        .shape = same_shape,                                                                       \
        .forward = exact_forward,                                                                  \
        .backward = eltwise_backward,                                                              \
        .print_attrs = print_alpha_beta,                                                           \
    }

EXACT_DEF(log);
EXACT_DEF(softplus);

/* The activation as a post-op of its producer's kernel (graph mode's fusion;
 * the *_use_dst_for_bwd forms map to their plain algorithm). */
static bool eltwise_as_post_op(const nb_node *n, nb_post_op *post) {
    const eltwise_attrs *a = NB_ATTRS(n, eltwise_attrs);
    *post = (nb_post_op){nb_eltwise_forward_alg(a->alg), a->alpha,
                         a->beta}; /* post-ops only compute forward */
    return true;
}

/* One definition per op, so errors and graphs show the op's own name. */
#define ELTWISE_DEF(op)                                                                            \
    static const nb_op_def op##_def = {                                                            \
        .name = #op,                                                                               \
        .flags = NB_OP_CONTIGUOUS | NB_OP_INPLACE,                                                 \
        .shape = same_shape,                                                                       \
        .forward = eltwise_forward,                                                                \
        .backward = eltwise_backward,                                                              \
        .print_attrs = print_alpha_beta,                                                           \
        .as_post_op = eltwise_as_post_op,                                                          \
    }

ELTWISE_DEF(exp);
ELTWISE_DEF(sqrt);
ELTWISE_DEF(square);
ELTWISE_DEF(pow);
ELTWISE_DEF(abs);
ELTWISE_DEF(relu);
ELTWISE_DEF(leaky_relu);
ELTWISE_DEF(sigmoid);
ELTWISE_DEF(tanh);
ELTWISE_DEF(elu);
ELTWISE_DEF(gelu);
ELTWISE_DEF(affine);

static nb_tensor *eltwise(const nb_op_def *def, nb_tensor *x, int alg, float alpha, float beta) {
    eltwise_attrs a = {alg, alpha, beta};
    return nb_apply(def, &x, 1, &a, sizeof a);
}

nb_tensor *nb_exp(nb_tensor *x) {
    return eltwise(&exp_def, x, dnnl_eltwise_exp_use_dst_for_bwd, 0, 0);
}

nb_tensor *nb_log(nb_tensor *x) {
    return eltwise(&log_def, x, dnnl_eltwise_log, 0, 0);
}

nb_tensor *nb_sqrt(nb_tensor *x) {
    return eltwise(&sqrt_def, x, dnnl_eltwise_sqrt_use_dst_for_bwd, 0, 0);
}

nb_tensor *nb_square(nb_tensor *x) {
    return eltwise(&square_def, x, dnnl_eltwise_square, 0, 0);
}

/* oneDNN's pow is alpha * x^beta */
nb_tensor *nb_pow_scalar(nb_tensor *x, float p) {
    if (!isfinite(p)) return nb_fail(NB_ERR_ARG, "nb_pow_scalar: exponent %g is not finite", p);
    return eltwise(&pow_def, x, dnnl_eltwise_pow, 1.0f, p);
}

nb_tensor *nb_abs(nb_tensor *x) {
    return eltwise(&abs_def, x, dnnl_eltwise_abs, 0, 0);
}

/* y = clip(x, low, high): dx = dy where low <= x <= high, bounds included (as
 * PyTorch's clamp; oneDNN's clip backward drops x == low), else 0. The mask is
 * where clipping left x as it was, so the rule is written with ops. */
static nb_status clip_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    const eltwise_attrs *a = NB_ATTRS(n, eltwise_attrs);
    nb_tensor *x = n->in[0];
    gx[0] = nb_mul(gy, nb_eq(nb_clip(x, a->alpha, a->beta), x));
    return gx[0] ? NB_OK : nb_failure_code();
}

static const nb_op_def clip_def = {
    .name = "clip",
    .flags = NB_OP_CONTIGUOUS | NB_OP_INPLACE,
    .shape = same_shape,
    .forward = eltwise_forward,
    .backward = clip_backward,
    .print_attrs = print_alpha_beta,
    .as_post_op = eltwise_as_post_op,
};

nb_tensor *nb_clip(nb_tensor *x, float low, float high) {
    if (!(low <= high))
        return nb_fail(NB_ERR_ARG, "nb_clip: low %g must not exceed high %g", low, high);
    return eltwise(&clip_def, x, dnnl_eltwise_clip, low, high);
}

nb_tensor *nb_relu(nb_tensor *x) {
    return eltwise(&relu_def, x, dnnl_eltwise_relu_use_dst_for_bwd, 0, 0);
}

/* reading y for backward needs alpha >= 0, so negative slopes read x */
nb_tensor *nb_leaky_relu(nb_tensor *x, float alpha) {
    if (!isfinite(alpha))
        return nb_fail(NB_ERR_ARG, "nb_leaky_relu: alpha %g is not finite", alpha);
    int alg = alpha >= 0 ? dnnl_eltwise_relu_use_dst_for_bwd : dnnl_eltwise_relu;
    return eltwise(&leaky_relu_def, x, alg, alpha, 0);
}

nb_tensor *nb_sigmoid(nb_tensor *x) {
    return eltwise(&sigmoid_def, x, dnnl_eltwise_logistic_use_dst_for_bwd, 0, 0);
}

nb_tensor *nb_tanh(nb_tensor *x) {
    return eltwise(&tanh_def, x, dnnl_eltwise_tanh_use_dst_for_bwd, 0, 0);
}

nb_tensor *nb_elu(nb_tensor *x, float alpha) {
    if (!isfinite(alpha)) return nb_fail(NB_ERR_ARG, "nb_elu: alpha %g is not finite", alpha);
    int alg = alpha >= 0 ? dnnl_eltwise_elu_use_dst_for_bwd : dnnl_eltwise_elu;
    return eltwise(&elu_def, x, alg, alpha, 0);
}

nb_tensor *nb_gelu(nb_tensor *x) {
    return eltwise(&gelu_def, x, dnnl_eltwise_gelu_erf, 0, 0);
}

nb_tensor *nb_softplus(nb_tensor *x) {
    return eltwise(&softplus_def, x, dnnl_eltwise_soft_relu, 0, 0);
}

/* ---- alpha * x + beta, and the scalar arithmetic built on it ---------------------- */
nb_tensor *nb_affine(nb_tensor *x, float alpha, float beta) {
    if (!isfinite(alpha) || !isfinite(beta))
        return nb_fail(NB_ERR_ARG, "nb_affine: alpha %g and beta %g must be finite", alpha, beta);
    return eltwise(&affine_def, x, dnnl_eltwise_linear, alpha, beta);
}

nb_tensor *nb_neg(nb_tensor *x) {
    return nb_affine(x, -1.0f, 0.0f);
}

nb_tensor *nb_add_scalar(nb_tensor *x, float s) {
    return nb_affine(x, 1.0f, s);
}

nb_tensor *nb_sub_scalar(nb_tensor *x, float s) {
    return nb_affine(x, 1.0f, -s);
}

nb_tensor *nb_rsub_scalar(nb_tensor *x, float s) {
    return nb_affine(x, -1.0f, s);
}

nb_tensor *nb_mul_scalar(nb_tensor *x, float s) {
    return nb_affine(x, s, 0.0f);
}

nb_tensor *nb_div_scalar(nb_tensor *x, float s) {
    if (s == 0.0f) return nb_fail(NB_ERR_ARG, "nb_div_scalar: division by zero");
    return nb_affine(x, 1.0f / s, 0.0f);
}

/* ---- heaviside: the perceptron's step function. oneDNN has no step, and its
 * derivative is zero almost everywhere, so it records no gradient. ---------- */
static nb_status heaviside_forward(nb_node *n) {
    const float *x = nb_ptr(n->in[0]);
    float *y = nb_ptr(n->out);
    for (int64_t i = 0; i < n->out->numel; i++) y[i] = x[i] > 0.0f ? 1.0f : 0.0f;
    return NB_OK;
}

static const nb_op_def heaviside_def = {
    .name = "heaviside",
    .flags = NB_OP_CONTIGUOUS,
    .shape = same_shape,
    .forward = heaviside_forward,
};

nb_tensor *nb_heaviside(nb_tensor *x) {
    return nb_apply(&heaviside_def, &x, 1, NULL, 0);
}
