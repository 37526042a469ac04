/* softmax and log_softmax along one axis: softmax and both backward passes on
 * oneDNN's softmax primitives, log_softmax's forward as a plain loop in double
 * (oneDNN's is off near 0, see log_softmax_row).
 *
 *   x: any shape -> y: same shape
 *   softmax:      y = exp(x) / sum(exp(x))        (y sums to 1 along axis)
 *   log_softmax:  y = x - log(sum(exp(x)))
 *
 * Both subtract the maximum along the axis before exponentiating, so the
 * largest term is exp(0) = 1 and logits of +-1e4 neither overflow nor turn
 * into NaN. The backward rules read only the output y, which the node keeps:
 *   softmax:      dx = y * (dy - sum(dy * y))
 *   log_softmax:  dx = dy - exp(y) * sum(dy)
 * each one oneDNN backward primitive, recorded as the op softmax_backward or
 * log_softmax_backward.
 */
#include "core/dnnl_internal.h"
#include "op.h"

#include <math.h>

typedef struct {
    int axis; /* as the user gave it: negative counts from the end */
    bool log;
} softmax_attrs;

/* the axis in [0, ndim) (0-d tensors have one axis of size 1) */
static int axis_of(const nb_node *n) {
    int axis = NB_ATTRS(n, softmax_attrs)->axis, nd = n->in[0]->ndim > 0 ? n->in[0]->ndim : 1;
    return axis < 0 ? axis + nd : axis;
}

static int print_axis(const nb_node *n, char *buf, size_t size) {
    return snprintf(buf, size, "axis=%d", NB_ATTRS(n, softmax_attrs)->axis);
}

/* ---- forward: x -> y ---------------------------------------------------------------- */
static nb_status softmax_shape(const nb_node *n, nb_layout *l) {
    char fn[32];
    int axis;
    snprintf(fn, sizeof fn, "nb_%s", n->def->name);
    if (!nb_axis(fn, NB_ATTRS(n, softmax_attrs)->axis, n->in[0]->ndim, &axis))
        return nb_failure_code();
    nb_layout_contiguous(l, n->in[0]->shape, n->in[0]->ndim);
    return NB_OK;
}

/* One row of len values spaced by stride: y = x - m - log(sum exp(x - m)),
 * m = max x, in double with one rounding. oneDNN's logsoftmax takes the log
 * with its eltwise log, off by about 1.4e-6 absolute (a size-1 axis gave
 * -1.43e-6, not 0); here the sum is at least 1 (the term exp(0)) and the log
 * is exact, so each result is the correctly rounded float and a size-1 axis
 * gives exactly 0. */
static void log_softmax_row(const float *x, float *y, int64_t len, int64_t stride) {
    double m = -INFINITY, sum = 0;
    for (int64_t k = 0; k < len; k++) m = fmax(m, x[k * stride]);
    for (int64_t k = 0; k < len; k++) sum += exp(x[k * stride] - m);
    double lse = log(sum);
    for (int64_t k = 0; k < len; k++) y[k * stride] = (float)(x[k * stride] - m - lse);
}

/* x seen as [outer, len, inner] around the axis */
static nb_status log_softmax_forward(nb_node *n) {
    const nb_tensor *x = n->in[0];
    int axis = axis_of(n);
    int64_t outer = 1, len = x->ndim ? x->shape[axis] : 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= x->shape[i];
    for (int i = axis + 1; i < x->ndim; i++) inner *= x->shape[i];
    const float *px = nb_ptr(x);
    float *py = nb_ptr(n->out);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++)
            log_softmax_row(px + o * len * inner + in, py + o * len * inner + in, len, inner);
    return NB_OK;
}

/* softmax sums in float: within the bound in ops.h, 25x faster than a double loop */
static nb_status softmax_forward(nb_node *n) {
    if (NB_ATTRS(n, softmax_attrs)->log) return log_softmax_forward(n);
    return nb_kernel_softmax(nb_op_caller(n), false, axis_of(n), n->in[0], n->out);
}

/* ---- backward: in [dy, y] -> dx, all of x's shape ----------------------------------- */
static nb_status backward_shape(const nb_node *n, nb_layout *l) {
    const nb_tensor *dy = n->in[0], *y = n->in[1];
    if (!nb_same_shape(dy, y))
        return nb_fail_status(NB_ERR_SHAPE, "nb_%s: gradient %s and output %s differ in shape",
                              n->def->name, nb_shape_s(dy), nb_shape_s(y));
    nb_layout_contiguous(l, y->shape, y->ndim);
    return NB_OK;
}

static nb_status backward_forward(nb_node *n) {
    const softmax_attrs *a = NB_ATTRS(n, softmax_attrs);
    return nb_kernel_softmax_backward(nb_op_caller(n), a->log, axis_of(n), n->in[1], n->in[0],
                                      n->out);
}

/* ---- second order: in [dy, y], g = d(loss)/d(dx); sums along the axis, kept ----------
 *   softmax:      dx = y * (dy - sum(dy * y))
 *                 d/d(dy) = y * (g - sum(g * y))           (softmax_backward of g)
 *                 d/d(y)  = g * (dy - sum(dy * y)) - dy * sum(g * y)
 *   log_softmax:  dx = dy - exp(y) * sum(dy)
 *                 d/d(dy) = g - sum(g * exp(y))
 *                 d/d(y)  = -g * exp(y) * sum(dy)
 */
static nb_tensor *axis_sum(const nb_node *n, nb_tensor *t) {
    int axis = axis_of(n);
    return nb_sum(t, &axis, 1, true);
}

static const nb_op_def softmax_backward_def;

static nb_status softmax_double_backward(nb_node *n, nb_tensor *g, nb_tensor **gx) {
    const softmax_attrs *a = NB_ATTRS(n, softmax_attrs);
    nb_tensor *dy = n->in[0], *y = n->in[1];
    if (n->needs_grad[0] &&
        !(gx[0] = nb_apply(&softmax_backward_def, (nb_tensor *[]){g, y}, 2, a, sizeof *a)))
        return nb_failure_code();
    if (n->needs_grad[1]) {
        nb_tensor *s_dy = axis_sum(n, nb_mul(dy, y)), *s_g = axis_sum(n, nb_mul(g, y));
        gx[1] = nb_sub(nb_mul(g, nb_sub(dy, s_dy)), nb_mul(dy, s_g));
        if (!gx[1]) return nb_failure_code();
    }
    return NB_OK;
}

static nb_status log_softmax_double_backward(nb_node *n, nb_tensor *g, nb_tensor **gx) {
    nb_tensor *dy = n->in[0], *p = nb_exp(n->in[1]);
    if (n->needs_grad[0] && !(gx[0] = nb_sub(g, axis_sum(n, nb_mul(g, p)))))
        return nb_failure_code();
    if (n->needs_grad[1] && !(gx[1] = nb_neg(nb_mul(nb_mul(g, p), axis_sum(n, dy)))))
        return nb_failure_code();
    return NB_OK;
}

static const nb_op_def softmax_backward_def = {
    .name = "softmax_backward",
    .flags = NB_OP_CONTIGUOUS,
    .shape = backward_shape,
    .forward = backward_forward,
    .backward = softmax_double_backward,
    .print_attrs = print_axis,
};

static const nb_op_def log_softmax_backward_def = {
    .name = "log_softmax_backward",
    .flags = NB_OP_CONTIGUOUS,
    .shape = backward_shape,
    .forward = backward_forward,
    .backward = log_softmax_double_backward,
    .print_attrs = print_axis,
};

static nb_status softmax_backward(nb_node *n, nb_tensor *dy, nb_tensor **gx) {
    const softmax_attrs *a = NB_ATTRS(n, softmax_attrs);
    const nb_op_def *def = a->log ? &log_softmax_backward_def : &softmax_backward_def;
    gx[0] = nb_apply(def, (nb_tensor *[]){dy, n->out}, 2, a, sizeof *a);
    return gx[0] ? NB_OK : nb_failure_code();
}

static const nb_op_def softmax_def = {
    .name = "softmax",
    .flags = NB_OP_CONTIGUOUS,
    .shape = softmax_shape,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .print_attrs = print_axis,
};

static const nb_op_def log_softmax_def = {
    .name = "log_softmax",
    .flags = NB_OP_CONTIGUOUS,
    .shape = softmax_shape,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .print_attrs = print_axis,
};

nb_tensor *nb_softmax(nb_tensor *x, int axis) {
    softmax_attrs a = {.axis = axis, .log = false};
    return nb_apply(&softmax_def, &x, 1, &a, sizeof a);
}

nb_tensor *nb_log_softmax(nb_tensor *x, int axis) {
    softmax_attrs a = {.axis = axis, .log = true};
    return nb_apply(&log_softmax_def, &x, 1, &a, sizeof a);
}
