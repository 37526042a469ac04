/* Reductions: sum, mean, max, min over axes (oneDNN reduction), argmax.
 *
 *   x: [a, b, c], axes {1} -> y: [a, c] (or [a, 1, c] with keepdim)
 *
 * The kernel always reduces into the keepdim shape; without keepdim the
 * output is the same storage seen without the size-1 axes.
 */
#include "core/dnnl_internal.h"
#include "op.h"

#include <math.h>
#include <string.h>

typedef struct {
    int alg;
    bool reduced[NB_MAX_DIMS]; /* which axes of x are reduced */
    bool keepdim;
} reduce_attrs;

/* x's shape with reduced axes set to 1 */
static int kept_shape(const nb_tensor *x, const reduce_attrs *a, int64_t *shape) {
    for (int i = 0; i < x->ndim; i++) shape[i] = a->reduced[i] ? 1 : x->shape[i];
    return x->ndim;
}

static nb_status reduce_shape(const nb_node *n, nb_layout *l) {
    const reduce_attrs *a = NB_ATTRS(n, reduce_attrs);
    const nb_tensor *x = n->in[0];
    int64_t shape[NB_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (!a->reduced[i])
            shape[nd++] = x->shape[i];
        else if (a->keepdim)
            shape[nd++] = 1;
        if (a->reduced[i] && x->shape[i] == 0 &&
            (a->alg == dnnl_reduction_max || a->alg == dnnl_reduction_min))
            return nb_fail_status(NB_ERR_SHAPE, "%s: cannot take the %s over an empty axis of %s",
                                  nb_op_caller(n), n->def->name, nb_shape_s(x));
    }
    nb_layout_contiguous(l, shape, nd);
    return NB_OK;
}

static nb_status reduce_forward(nb_node *n) {
    const reduce_attrs *a = NB_ATTRS(n, reduce_attrs);
    const nb_tensor *x = n->in[0];
    nb_tensor kept = *n->out;
    kept.ndim = kept_shape(x, a, kept.shape);
    nb_contiguous_strides(kept.shape, kept.ndim, kept.strides);
    if (x->numel == n->out->numel) return nb_kernel_reorder(nb_op_caller(n), x, &kept);
    return nb_kernel_reduce(nb_op_caller(n), a->alg, x, &kept);
}

/* gy reshaped to the keepdim shape and repeated over x's shape */
static nb_tensor *spread(const nb_node *n, nb_tensor *gy) {
    int64_t shape[NB_MAX_DIMS];
    int nd = kept_shape(n->in[0], NB_ATTRS(n, reduce_attrs), shape);
    return nb_broadcast_to(nb_reshape(gy, shape, nd), n->in[0]->shape, n->in[0]->ndim);
}

/* y = sum x: dx = dy repeated */
static nb_status sum_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    gx[0] = spread(n, gy);
    return gx[0] ? NB_OK : nb_failure_code();
}

/* y = mean x: dx = dy repeated / count */
static nb_status mean_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    int64_t count = n->out->numel ? n->in[0]->numel / n->out->numel : 1;
    gx[0] = nb_div_scalar(spread(n, gy), (float)count);
    return gx[0] ? NB_OK : nb_failure_code();
}

/* y = max x (or min x): dy goes to the elements equal to y, split evenly
 * among ties */
static nb_status extreme_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    const reduce_attrs *a = NB_ATTRS(n, reduce_attrs);
    nb_tensor *x = n->in[0];
    nb_tensor *is_y = nb_eq(x, spread(n, n->out));
    int axes[NB_MAX_DIMS], na = 0;
    for (int i = 0; i < x->ndim; i++)
        if (a->reduced[i]) axes[na++] = i;
    nb_tensor *ties = nb_sum(is_y, axes, na, a->keepdim);
    gx[0] = nb_mul(is_y, spread(n, nb_div(gy, ties)));
    return gx[0] ? NB_OK : nb_failure_code();
}

static int print_axes(const nb_node *n, char *buf, size_t size) {
    const reduce_attrs *a = NB_ATTRS(n, reduce_attrs);
    int64_t axes[NB_MAX_DIMS];
    int na = 0;
    for (int i = 0; i < n->in[0]->ndim; i++)
        if (a->reduced[i]) axes[na++] = i;
    return snprintf(buf, size, "axes=%s%s", nb_dims_s(axes, na), a->keepdim ? " keepdim" : "");
}

#define REDUCE_DEF(op, bwd)                                                                        \
    static const nb_op_def op##_def = {                                                            \
        .name = #op,                                                                               \
        .flags = NB_OP_CONTIGUOUS,                                                                 \
        .shape = reduce_shape,                                                                     \
        .forward = reduce_forward,                                                                 \
        .backward = bwd,                                                                           \
        .print_attrs = print_axes,                                                                 \
    }

REDUCE_DEF(sum, sum_backward);
REDUCE_DEF(mean, mean_backward);
REDUCE_DEF(max, extreme_backward);
REDUCE_DEF(min, extreme_backward);

static nb_tensor *reduce(const nb_op_def *def, int alg, nb_tensor *x, const int *axes, int n_axes,
                         bool keepdim) {
    char fn[32];
    snprintf(fn, sizeof fn, "nb_%s", def->name);
    if (!x) return nb_fail_null(fn);
    reduce_attrs a = {.alg = alg, .keepdim = keepdim};
    if (n_axes < 0 || n_axes > NB_MAX_DIMS || (n_axes > 0 && !axes))
        return nb_fail(NB_ERR_ARG, "%s: bad list of %d axes", fn, n_axes);
    for (int i = 0; i < n_axes; i++) {
        int ax;
        if (!nb_axis(fn, axes[i], x->ndim, &ax)) return NULL;
        if (a.reduced[ax]) return nb_fail(NB_ERR_ARG, "%s: axis %d is listed twice", fn, ax);
        a.reduced[ax] = true;
    }
    if (n_axes == 0)
        for (int i = 0; i < x->ndim; i++) a.reduced[i] = true;
    return nb_apply(def, &x, 1, &a, sizeof a);
}

nb_tensor *nb_sum(nb_tensor *x, const int *axes, int n_axes, bool keepdim) {
    return reduce(&sum_def, dnnl_reduction_sum, x, axes, n_axes, keepdim);
}

nb_tensor *nb_mean(nb_tensor *x, const int *axes, int n_axes, bool keepdim) {
    return reduce(&mean_def, dnnl_reduction_mean, x, axes, n_axes, keepdim);
}

nb_tensor *nb_max(nb_tensor *x, const int *axes, int n_axes, bool keepdim) {
    return reduce(&max_def, dnnl_reduction_max, x, axes, n_axes, keepdim);
}

nb_tensor *nb_min(nb_tensor *x, const int *axes, int n_axes, bool keepdim) {
    return reduce(&min_def, dnnl_reduction_min, x, axes, n_axes, keepdim);
}

nb_tensor *nb_sum_all(nb_tensor *x) {
    return nb_sum(x, NULL, 0, false);
}

nb_tensor *nb_mean_all(nb_tensor *x) {
    return nb_mean(x, NULL, 0, false);
}

/* ---- argmax: index of the first maximum along axis, as a float; no gradient ---- */
typedef struct {
    int axis;
    bool keepdim;
} argmax_attrs;

static nb_status argmax_shape(const nb_node *n, nb_layout *l) {
    const argmax_attrs *a = NB_ATTRS(n, argmax_attrs);
    const nb_tensor *x = n->in[0];
    int64_t shape[NB_MAX_DIMS];
    int nd = 0;
    if (x->ndim > 0 && x->shape[a->axis] == 0)
        return nb_fail_status(NB_ERR_SHAPE, "nb_argmax: axis %d of %s is empty", a->axis,
                              nb_shape_s(x));
    for (int i = 0; i < x->ndim; i++) {
        if (i != a->axis)
            shape[nd++] = x->shape[i];
        else if (a->keepdim)
            shape[nd++] = 1;
    }
    nb_layout_contiguous(l, shape, nd);
    return NB_OK;
}

/* Index of the first maximum of len floats spaced by stride; a NaN counts as
 * the maximum (as in numpy and PyTorch), so a NaN in the row is not hidden. */
static int64_t first_max(const float *row, int64_t len, int64_t stride) {
    int64_t best = 0;
    for (int64_t k = 0; k < len; k++) {
        float v = row[k * stride];
        if (isnan(v)) return k;
        if (v > row[best * stride]) best = k;
    }
    return best;
}

/* x seen as [outer, len, inner] around the axis */
static nb_status argmax_forward(nb_node *n) {
    const argmax_attrs *a = NB_ATTRS(n, argmax_attrs);
    const nb_tensor *x = n->in[0];
    int64_t outer = 1, len = x->ndim ? x->shape[a->axis] : 1, inner = 1;
    for (int i = 0; i < a->axis; i++) outer *= x->shape[i];
    for (int i = a->axis + 1; i < x->ndim; i++) inner *= x->shape[i];
    const float *px = nb_ptr(x);
    float *py = nb_ptr(n->out);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++)
            py[o * inner + in] = (float)first_max(px + o * len * inner + in, len, inner);
    return NB_OK;
}

static const nb_op_def argmax_def = {
    .name = "argmax",
    .flags = NB_OP_CONTIGUOUS,
    .shape = argmax_shape,
    .forward = argmax_forward,
};

nb_tensor *nb_argmax(nb_tensor *x, int axis, bool keepdim) {
    argmax_attrs a = {.keepdim = keepdim};
    if (!x) return nb_fail_null("nb_argmax");
    if (!nb_axis("nb_argmax", axis, x->ndim, &a.axis)) return NULL;
    return nb_apply(&argmax_def, &x, 1, &a, sizeof a);
}
