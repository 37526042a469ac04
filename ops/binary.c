/* Binary arithmetic with numpy broadcasting, on oneDNN binary primitives, and
 * the two ops that are each other's gradient: broadcast_to and sum_to.
 *
 *   a: [..., 1, n], b: [m, 1] -> c: broadcast shape
 *
 * oneDNN broadcasts only its second operand (and is fast only that way: 2.6 us
 * against 370 us with the broadcast operand first), so the kernel puts the
 * operand that already has the output's shape first; when neither has it, a
 * is expanded into the output and b is applied in place.
 *
 * The gradient of an input that was broadcast is summed back over the axes it
 * was repeated along (nb_grad_unbroadcast).
 */
#include "core/dnnl_internal.h"
#include "op.h"

#include <string.h>

typedef struct {
    int alg;
} binary_attrs;

/* t, with leading 1s, has exactly the output's shape */
static bool fills(const nb_tensor *t, const nb_tensor *out) {
    if (t->numel != out->numel) return false;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != out->shape[out->ndim - t->ndim + i]) return false;
    return true;
}

/* Copy src into dst, repeating src along its size-1 and missing leading axes.
 * dst is contiguous. A plain loop: oneDNN has no broadcast primitive. */
static void broadcast_copy(const nb_tensor *src, nb_tensor *dst) {
    int64_t st[NB_MAX_DIMS] = {0}, idx[NB_MAX_DIMS] = {0};
    int nd = dst->ndim, pad = dst->ndim - src->ndim;
    for (int i = pad; i < nd; i++) st[i] = src->shape[i - pad] == 1 ? 0 : src->strides[i - pad];
    const float *s = nb_ptr(src);
    float *d = nb_ptr(dst);
    int64_t off = 0;
    for (int64_t k = 0; k < dst->numel; k++) {
        d[k] = s[off];
        for (int i = nd - 1; i >= 0; i--) { /* odometer step */
            off += st[i];
            if (++idx[i] < dst->shape[i]) break;
            off -= st[i] * idx[i];
            idx[i] = 0;
        }
    }
}

static bool commutes(int alg) {
    return alg == dnnl_binary_add || alg == dnnl_binary_mul || alg == dnnl_binary_max ||
           alg == dnnl_binary_min || alg == dnnl_binary_eq;
}

/* ---- c = a (op) b ------------------------------------------------------------------ */
static nb_status binary_shape(const nb_node *n, nb_layout *l) {
    return nb_broadcast_shapes(n->def->name, n->in[0], n->in[1], l) ? NB_OK : nb_failure_code();
}

static nb_status binary_forward(nb_node *n) {
    int alg = NB_ATTRS(n, binary_attrs)->alg;
    nb_tensor *a = n->in[0], *b = n->in[1], *c = n->out;
    const char *fn = nb_op_caller(n);
    if (fills(a, c)) return nb_kernel_binary(fn, alg, a, b, c);
    if (fills(b, c) && commutes(alg)) return nb_kernel_binary(fn, alg, b, a, c);
    broadcast_copy(a, c);
    return nb_kernel_binary(fn, alg, c, b, c);
}

nb_tensor *nb_grad_unbroadcast(nb_tensor *g, const nb_tensor *t) {
    if (!g || nb_same_shape(g, t)) return g;
    return nb_sum_to(g, t->shape, t->ndim);
}

/* Store the two input gradients, each summed back to its input's shape. */
static nb_status set_grads(nb_node *n, nb_tensor **gx, nb_tensor *ga, nb_tensor *gb) {
    if (n->needs_grad[0] && !(gx[0] = nb_grad_unbroadcast(ga, n->in[0]))) return nb_failure_code();
    if (n->needs_grad[1] && !(gx[1] = nb_grad_unbroadcast(gb, n->in[1]))) return nb_failure_code();
    return NB_OK;
}

/* c = a + b:  da = dc, db = dc */
static nb_status add_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    return set_grads(n, gx, gy, gy);
}

/* c = a - b:  da = dc, db = -dc */
static nb_status sub_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    return set_grads(n, gx, gy, n->needs_grad[1] ? nb_neg(gy) : NULL);
}

/* c = a * b:  da = dc * b, db = dc * a */
static nb_status mul_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    nb_tensor *ga = n->needs_grad[0] ? nb_mul(gy, n->in[1]) : NULL;
    nb_tensor *gb = n->needs_grad[1] ? nb_mul(gy, n->in[0]) : NULL;
    return set_grads(n, gx, ga, gb);
}

/* c = a / b:  da = dc / b, db = -dc * a / b^2 = -(dc * c) / b */
static nb_status div_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    nb_tensor *ga = n->needs_grad[0] ? nb_div(gy, n->in[1]) : NULL;
    nb_tensor *gb = n->needs_grad[1] ? nb_neg(nb_div(nb_mul(gy, n->out), n->in[1])) : NULL;
    return set_grads(n, gx, ga, gb);
}

/* a's share of the gradient when a wins over b: 1, 1/2 on a tie, 0
 * ((a > b) + (a >= b)) / 2 */
static nb_tensor *share(nb_tensor *a, nb_tensor *b) {
    return nb_mul_scalar(nb_add(nb_gt(a, b), nb_ge(a, b)), 0.5f);
}

/* c = max(a, b): the gradient goes to the larger input; a tie splits it evenly
 * (as PyTorch, and as nb_max over the pair) */
static nb_status max_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    nb_tensor *ga = nb_mul(gy, share(n->in[0], n->in[1]));
    return set_grads(n, gx, ga, nb_sub(gy, ga));
}

/* c = min(a, b): the gradient goes to the smaller input; a tie splits it evenly */
static nb_status min_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    nb_tensor *ga = nb_mul(gy, share(n->in[1], n->in[0]));
    return set_grads(n, gx, ga, nb_sub(gy, ga));
}

#define BINARY_DEF(op, bwd)                                                                        \
    static const nb_op_def op##_def = {                                                            \
        .name = #op,                                                                               \
        .flags = NB_OP_CONTIGUOUS | NB_OP_INPLACE,                                                 \
        .shape = binary_shape,                                                                     \
        .forward = binary_forward,                                                                 \
        .backward = bwd,                                                                           \
    }

BINARY_DEF(add, add_backward);
BINARY_DEF(sub, sub_backward);
BINARY_DEF(mul, mul_backward);
BINARY_DEF(div, div_backward);
BINARY_DEF(maximum, max_backward);
BINARY_DEF(minimum, min_backward);
BINARY_DEF(gt, NULL); /* comparisons: 1.0 / 0.0, no gradient */
BINARY_DEF(ge, NULL);
BINARY_DEF(eq, NULL);

static nb_tensor *binary(const nb_op_def *def, int alg, nb_tensor *a, nb_tensor *b) {
    binary_attrs attrs = {alg};
    return nb_apply(def, (nb_tensor *[]){a, b}, 2, &attrs, sizeof attrs);
}

nb_tensor *nb_add(nb_tensor *a, nb_tensor *b) {
    return binary(&add_def, dnnl_binary_add, a, b);
}

nb_tensor *nb_sub(nb_tensor *a, nb_tensor *b) {
    return binary(&sub_def, dnnl_binary_sub, a, b);
}

nb_tensor *nb_mul(nb_tensor *a, nb_tensor *b) {
    return binary(&mul_def, dnnl_binary_mul, a, b);
}

nb_tensor *nb_div(nb_tensor *a, nb_tensor *b) {
    return binary(&div_def, dnnl_binary_div, a, b);
}

nb_tensor *nb_maximum(nb_tensor *a, nb_tensor *b) {
    return binary(&maximum_def, dnnl_binary_max, a, b);
}

nb_tensor *nb_minimum(nb_tensor *a, nb_tensor *b) {
    return binary(&minimum_def, dnnl_binary_min, a, b);
}

nb_tensor *nb_gt(nb_tensor *a, nb_tensor *b) {
    return binary(&gt_def, dnnl_binary_gt, a, b);
}

nb_tensor *nb_ge(nb_tensor *a, nb_tensor *b) {
    return binary(&ge_def, dnnl_binary_ge, a, b);
}

nb_tensor *nb_eq(nb_tensor *a, nb_tensor *b) {
    return binary(&eq_def, dnnl_binary_eq, a, b);
}

/* ---- broadcast_to and sum_to ------------------------------------------------------- */
typedef struct {
    int ndim;
    int64_t shape[NB_MAX_DIMS];
} target_attrs;

/* small broadcasts to big: every axis of small (aligned right) is 1 or equal */
static bool broadcasts(const int64_t *small, int ns, const int64_t *big, int nbig) {
    if (ns > nbig) return false;
    for (int i = 0; i < ns; i++) {
        int64_t s = small[i], b = big[nbig - ns + i];
        if (s != b && s != 1) return false;
    }
    return true;
}

static nb_status broadcast_to_shape(const nb_node *n, nb_layout *l) {
    const target_attrs *t = NB_ATTRS(n, target_attrs);
    const nb_tensor *x = n->in[0];
    if (!broadcasts(x->shape, x->ndim, t->shape, t->ndim))
        return nb_fail_status(NB_ERR_SHAPE, "nb_broadcast_to: shape %s cannot be broadcast to %s",
                              nb_shape_s(x), nb_dims_s(t->shape, t->ndim));
    nb_layout_contiguous(l, t->shape, t->ndim);
    return NB_OK;
}

static nb_status broadcast_to_forward(nb_node *n) {
    broadcast_copy(n->in[0], n->out);
    return NB_OK;
}

/* y = broadcast(x): dx = sum of dy over the repeated axes */
static nb_status broadcast_to_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    gx[0] = nb_sum_to(gy, n->in[0]->shape, n->in[0]->ndim);
    return gx[0] ? NB_OK : nb_failure_code();
}

static int print_target(const nb_node *n, char *buf, size_t size) {
    const target_attrs *t = NB_ATTRS(n, target_attrs);
    return snprintf(buf, size, "shape=%s", nb_dims_s(t->shape, t->ndim));
}

static const nb_op_def broadcast_to_def = {
    .name = "broadcast_to",
    .shape = broadcast_to_shape,
    .forward = broadcast_to_forward,
    .backward = broadcast_to_backward,
    .print_attrs = print_target,
};

static bool make_target(const char *fn, const int64_t *shape, int ndim, target_attrs *t) {
    int64_t numel;
    if (!nb_shape_numel(fn, shape, ndim, &numel)) return false;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    return true;
}

nb_tensor *nb_broadcast_to(nb_tensor *x, const int64_t *shape, int ndim) {
    target_attrs t;
    if (!x) return nb_fail_null("nb_broadcast_to");
    if (!make_target("nb_broadcast_to", shape, ndim, &t)) return NULL;
    return nb_apply(&broadcast_to_def, &x, 1, &t, sizeof t);
}

static nb_status sum_to_shape(const nb_node *n, nb_layout *l) {
    const target_attrs *t = NB_ATTRS(n, target_attrs);
    const nb_tensor *x = n->in[0];
    if (!broadcasts(t->shape, t->ndim, x->shape, x->ndim))
        return nb_fail_status(NB_ERR_SHAPE,
                              "nb_sum_to: shape %s cannot be summed to %s (%s must "
                              "broadcast to %s)",
                              nb_shape_s(x), nb_dims_s(t->shape, t->ndim),
                              nb_dims_s(t->shape, t->ndim), nb_shape_s(x));
    nb_layout_contiguous(l, t->shape, t->ndim);
    return NB_OK;
}

/* x: [N, M] -> [M] or [1, M] is ones[1, N] @ x: a matmul is ~150x faster than
 * oneDNN's reduction over a non-innermost axis (the bias gradient case). The
 * ones are kept with the node, so a replayed graph neither allocates nor
 * fills them again. */
static nb_status sum_rows(nb_node *n, const nb_tensor *x, nb_tensor *out) {
    nb_tensor *kept = n->saved[0], *ones = nb_saved(n, 0, (int64_t[]){1, x->shape[0]}, 2);
    if (!ones || (ones != kept && nb_fill(ones, 1.0f) != NB_OK)) return nb_failure_code();
    nb_tensor row = *out;
    row.ndim = 2;
    row.shape[0] = 1;
    row.shape[1] = x->shape[1];
    nb_contiguous_strides(row.shape, 2, row.strides);
    return nb_kernel_matmul("nb_sum_to", ones, x, NULL, &row);
}

/* The target is [M] or [1, M] for x: [N, M], i.e. only axis 0 is summed. The
 * test is on the target's shape, not its element count: [N, N] -> [N, 1] has
 * N elements too, and sums axis 1. */
static bool sums_only_rows(const nb_tensor *x, const nb_tensor *out) {
    if (x->ndim != 2 || x->shape[0] <= 1) return false;
    if (out->ndim == 1) return out->shape[0] == x->shape[1];
    return out->ndim == 2 && out->shape[0] == 1 && out->shape[1] == x->shape[1];
}

static nb_status sum_to_forward(nb_node *n) {
    const nb_tensor *x = n->in[0];
    nb_tensor *out = n->out;
    if (sums_only_rows(x, out)) return sum_rows(n, x, out);
    nb_tensor kept = *out; /* out's storage seen with x's rank: reduced axes of size 1 */
    kept.ndim = x->ndim;
    int pad = x->ndim - out->ndim;
    for (int i = 0; i < x->ndim; i++) kept.shape[i] = i < pad ? 1 : out->shape[i - pad];
    nb_contiguous_strides(kept.shape, kept.ndim, kept.strides);
    if (x->numel == out->numel) return nb_kernel_reorder("nb_sum_to", x, &kept);
    return nb_kernel_reduce("nb_sum_to", dnnl_reduction_sum, x, &kept);
}

/* y = sum over repeated axes: dx = dy repeated */
static nb_status sum_to_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    gx[0] = nb_broadcast_to(gy, n->in[0]->shape, n->in[0]->ndim);
    return gx[0] ? NB_OK : nb_failure_code();
}

static const nb_op_def sum_to_def = {
    .name = "sum_to",
    .flags = NB_OP_CONTIGUOUS,
    .shape = sum_to_shape,
    .forward = sum_to_forward,
    .backward = sum_to_backward,
    .print_attrs = print_target,
};

nb_tensor *nb_sum_to(nb_tensor *x, const int64_t *shape, int ndim) {
    target_attrs t;
    if (!x) return nb_fail_null("nb_sum_to");
    if (!make_target("nb_sum_to", shape, ndim, &t)) return NULL;
    return nb_apply(&sum_to_def, &x, 1, &t, sizeof t);
}
