/* softmax and log_softmax along one axis, on oneDNN's softmax primitives.
 *
 *   x: any shape -> y: same shape
 *   softmax:      y = exp(x) / sum(exp(x))        (y sums to 1 along axis)
 *   log_softmax:  y = x - log(sum(exp(x)))
 *
 * oneDNN subtracts the maximum along the axis before exponentiating, so the
 * largest term is exp(0) = 1 and logits of +-1e4 neither overflow nor turn
 * into NaN. The backward rules read only the output y, which the node keeps:
 *   softmax:      dx = y * (dy - sum(dy * y))
 *   log_softmax:  dx = dy - exp(y) * sum(dy)
 * each one oneDNN backward primitive, recorded as the op softmax_backward or
 * log_softmax_backward.
 */
#include "../core/dnnl_internal.h"
#include "op.h"

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
        return nb_error_code();
    nb_layout_contiguous(l, n->in[0]->shape, n->in[0]->ndim);
    return NB_OK;
}

static nb_status softmax_forward(nb_node *n) {
    const softmax_attrs *a = NB_ATTRS(n, softmax_attrs);
    return nb_k_softmax(nb_op_fn(n), a->log, axis_of(n), n->in[0], n->out);
}

/* ---- backward: in [dy, y] -> dx, all of x's shape ----------------------------------- */
static nb_status backward_shape(const nb_node *n, nb_layout *l) {
    const nb_tensor *dy = n->in[0], *y = n->in[1];
    if (!nb_same_shape(dy, y))
        return nb_failc(NB_ERR_SHAPE, "nb_%s: gradient %s and output %s differ in shape",
                        n->def->name, nb_shape_s(dy), nb_shape_s(y));
    nb_layout_contiguous(l, y->shape, y->ndim);
    return NB_OK;
}

static nb_status backward_forward(nb_node *n) {
    const softmax_attrs *a = NB_ATTRS(n, softmax_attrs);
    return nb_k_softmax_bwd(nb_op_fn(n), a->log, axis_of(n), n->in[1], n->in[0], n->out);
}

static const nb_op_def softmax_backward_def = {
    .name = "softmax_backward",
    .flags = NB_OP_CONTIGUOUS,
    .shape = backward_shape,
    .forward = backward_forward,
    .print_attrs = print_axis,
};

static const nb_op_def log_softmax_backward_def = {
    .name = "log_softmax_backward",
    .flags = NB_OP_CONTIGUOUS,
    .shape = backward_shape,
    .forward = backward_forward,
    .print_attrs = print_axis,
};

static nb_status softmax_backward(nb_node *n, nb_tensor *dy, nb_tensor **gx) {
    const softmax_attrs *a = NB_ATTRS(n, softmax_attrs);
    const nb_op_def *def = a->log ? &log_softmax_backward_def : &softmax_backward_def;
    gx[0] = nb_apply(def, (nb_tensor *[]){dy, n->out}, 2, a, sizeof *a);
    return gx[0] ? NB_OK : nb_error_code();
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
