/* softmax and log_softmax along an axis, on oneDNN's softmax primitives.
 *
 *   x: any shape -> y: same shape, y sums to 1 along axis
 *
 * oneDNN subtracts the row maximum before exponentiating, so logits of
 * +-1e4 give exact results. The backward reads the output y:
 *   softmax:     dx = y * (dy - sum(dy * y))
 *   log_softmax: dx = dy - exp(y) * sum(dy)
 */
#include "../core/dnnl_internal.h"
#include "op.h"

typedef struct {
    int axis;
    bool log;
} softmax_attrs;

static nb_status same_shape(const nb_node *n, nb_layout *l) {
    nb_layout_contiguous(l, n->in[0]->shape, n->in[0]->ndim);
    return NB_OK;
}

static int print_axis(const nb_node *n, char *buf, size_t size) {
    return snprintf(buf, size, "axis=%d", NB_ATTRS(n, softmax_attrs)->axis);
}

static nb_status softmax_forward(nb_node *n) {
    const softmax_attrs *a = NB_ATTRS(n, softmax_attrs);
    return nb_k_softmax(n->def->name, a->log, a->axis, n->in[0], n->out);
}

/* in: [dy, y] -> dx */
static nb_status softmax_backward_forward(nb_node *n) {
    const softmax_attrs *a = NB_ATTRS(n, softmax_attrs);
    return nb_k_softmax_bwd(n->def->name, a->log, a->axis, n->in[1], n->in[0], n->out);
}

static const nb_op_def softmax_backward_def = {
    .name = "softmax_backward",
    .flags = NB_OP_CONTIGUOUS,
    .shape = same_shape,
    .forward = softmax_backward_forward,
    .print_attrs = print_axis,
};

static const nb_op_def log_softmax_backward_def = {
    .name = "log_softmax_backward",
    .flags = NB_OP_CONTIGUOUS,
    .shape = same_shape,
    .forward = softmax_backward_forward,
    .print_attrs = print_axis,
};

static nb_status softmax_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    const softmax_attrs *a = NB_ATTRS(n, softmax_attrs);
    const nb_op_def *def = a->log ? &log_softmax_backward_def : &softmax_backward_def;
    gx[0] = nb_apply(def, (nb_tensor *[]){gy, n->out}, 2, a, sizeof *a);
    return gx[0] ? NB_OK : nb_error_code();
}

static const nb_op_def softmax_def = {
    .name = "softmax",
    .flags = NB_OP_CONTIGUOUS,
    .shape = same_shape,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .print_attrs = print_axis,
};

static const nb_op_def log_softmax_def = {
    .name = "log_softmax",
    .flags = NB_OP_CONTIGUOUS,
    .shape = same_shape,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .print_attrs = print_axis,
};

static nb_tensor *softmax(const nb_op_def *def, nb_tensor *x, int axis, bool log) {
    softmax_attrs a = {.log = log};
    char fn[32];
    snprintf(fn, sizeof fn, "nb_%s", def->name);
    if (!x) return nb_fail_null(fn);
    if (!nb_axis(fn, axis, x->ndim, &a.axis)) return NULL;
    return nb_apply(def, &x, 1, &a, sizeof a);
}

nb_tensor *nb_softmax(nb_tensor *x, int axis) {
    return softmax(&softmax_def, x, axis, false);
}

nb_tensor *nb_log_softmax(nb_tensor *x, int axis) {
    return softmax(&log_softmax_def, x, axis, true);
}
