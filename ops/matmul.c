/* Matrix products on oneDNN's matmul primitive.
 *
 *   matmul:  a: [M, K]      @ b: [K, N]      -> c: [M, N]
 *            a: [..., M, K] @ b: [..., K, N] -> c: [..., M, N]
 *            the batch axes broadcast (numpy's rules); a vector a: [K] is a
 *            row, b: [K] a column, and that axis is dropped from c
 *   linear:  x: [N, IN] @ w: [IN, OUT] + b: [OUT] -> y: [N, OUT], one fused kernel;
 *            x: [..., IN] is seen as rows [N, IN]
 *
 * nb_matmul_t multiplies op(a) @ op(b), where op swaps the last two axes when
 * its flag is set. The swap is only a change of strides: oneDNN's matmul reads
 * plain strided layouts, so a transposed operand is never copied.
 *
 * The backward rules are matmuls again. For c = op(a) @ op(b):
 *   d op(a) = dc @ op(b)^T,   d op(b) = op(a)^T @ dc
 * and when op is a transpose, the operand's gradient is the transpose of
 * that, which nb_matmul_t expresses by swapping the factors (X^T = (Y Z)^T =
 * Z^T Y^T). An operand whose batch was broadcast gets its gradient summed over
 * the batch (nb_sum_to).
 */
#include "core/dnnl_internal.h"
#include "op.h"

#include <string.h>

typedef struct {
    bool ta, tb;
} matmul_attrs;

/* t's header with the last two axes swapped when swap is set (a view on the
 * stack, sharing t's storage; no copy) */
static nb_tensor swapped(const nb_tensor *t, bool swap) {
    nb_tensor v = *t;
    if (swap && t->ndim >= 2) {
        int i = t->ndim - 2, j = t->ndim - 1;
        v.shape[i] = t->shape[j];
        v.shape[j] = t->shape[i];
        v.strides[i] = t->strides[j];
        v.strides[j] = t->strides[i];
    }
    return v;
}

/* oneDNN's matmul takes dense operands or dense ones with the last two axes
 * swapped; anything else (a slice, a permuted batch) is copied first, through
 * nb_contiguous so that the gradient still reaches x. */
static nb_tensor *plain(nb_tensor *x) {
    if (nb_is_contiguous(x)) return x;
    nb_tensor t = swapped(x, true);
    return nb_is_contiguous(&t) ? x : nb_contiguous(x);
}

static int64_t rows(const nb_tensor *t) {
    return t->shape[t->ndim - 2];
}

static int64_t cols(const nb_tensor *t) {
    return t->shape[t->ndim - 1];
}

/* ---- matmul ------------------------------------------------------------------------ */
/* op(a): [..., M, K] @ op(b): [..., K, N] -> [..., M, N]: the batch axes (all
 * but the last two) broadcast as numpy's, a missing leading axis counting as 1.
 * Errors show the shapes as the user passed them, marking a transposed operand
 * ("a^T is [4, 3]"). */
static nb_status matmul_shape(const nb_node *n, nb_layout *l) {
    const matmul_attrs *at = NB_ATTRS(n, matmul_attrs);
    const nb_tensor *a = n->in[0], *b = n->in[1];
    const char *fn = at->ta || at->tb ? "nb_matmul_t" : "nb_matmul";
    const char *an = at->ta ? "a^T" : "a", *bn = at->tb ? "b^T" : "b";
    if (a->ndim < 2 || b->ndim < 2) /* nb_matmul_t turns vectors into matrices first */
        return nb_fail_status(NB_ERR_SHAPE, "%s: operands must be 2-D or more: a is %s, b is %s",
                              fn, nb_shape_s(a), nb_shape_s(b));
    nb_tensor oa = swapped(a, at->ta), ob = swapped(b, at->tb);
    if (cols(&oa) != rows(&ob))
        return nb_fail_status(NB_ERR_SHAPE, "%s: inner dimensions differ: %s is %s, %s is %s", fn,
                              an, nb_shape_s(&oa), bn, nb_shape_s(&ob));
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t shape[NB_MAX_DIMS];
    for (int i = 0; i < nd - 2; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return nb_fail_status(
                NB_ERR_SHAPE,
                "%s: batch axes do not broadcast: a is %s, b is %s (axis %d: %lld vs "
                "%lld)",
                fn, nb_shape_s(a), nb_shape_s(b), i, (long long)da, (long long)db);
        shape[i] = da == 1 ? db : da;
    }
    shape[nd - 2] = rows(&oa);
    shape[nd - 1] = cols(&ob);
    nb_layout_contiguous(l, shape, nd);
    return NB_OK;
}

/* c = op(a) @ op(b). oneDNN 2.6 divides by K, so an empty inner dimension
 * (a sum of nothing: zeros) never reaches it. */
static nb_status matmul_forward(nb_node *n) {
    const matmul_attrs *at = NB_ATTRS(n, matmul_attrs);
    nb_tensor a = swapped(n->in[0], at->ta), b = swapped(n->in[1], at->tb);
    if (cols(&a) == 0) return nb_fill(n->out, 0.0f);
    return nb_kernel_matmul(nb_op_caller(n), &a, &b, NULL, n->out);
}

/* dc: [B, M, N] -> da: a's shape, db: b's shape */
static nb_status matmul_backward(nb_node *n, nb_tensor *dc, nb_tensor **gx) {
    const matmul_attrs *at = NB_ATTRS(n, matmul_attrs);
    nb_tensor *a = n->in[0], *b = n->in[1];
    if (n->needs_grad[0]) {
        nb_tensor *da = at->ta ? nb_matmul_t(b, dc, at->tb, true)    /* op(b) @ dc^T */
                               : nb_matmul_t(dc, b, false, !at->tb); /* dc @ op(b)^T */
        if (!(gx[0] = nb_grad_unbroadcast(da, a))) return nb_failure_code();
    }
    if (n->needs_grad[1]) {
        nb_tensor *db = at->tb ? nb_matmul_t(dc, a, true, at->ta)    /* dc^T @ op(a) */
                               : nb_matmul_t(a, dc, !at->ta, false); /* op(a)^T @ dc */
        if (!(gx[1] = nb_grad_unbroadcast(db, b))) return nb_failure_code();
    }
    return NB_OK;
}

/* "a^T b^T", "a^T", "b^T" or "" */
static int print_transposes(const nb_node *n, char *buf, size_t size) {
    const matmul_attrs *at = NB_ATTRS(n, matmul_attrs);
    return snprintf(buf, size, "%s%s%s", at->ta ? "a^T" : "", at->ta && at->tb ? " " : "",
                    at->tb ? "b^T" : "");
}

static const nb_op_def matmul_def = {
    .name = "matmul",
    .shape = matmul_shape,
    .forward = matmul_forward,
    .backward = matmul_backward,
    .print_attrs = print_transposes,
};

/* A vector operand is a matrix for the product, as in numpy and PyTorch: a: [K]
 * is the row [1, K], b: [K] the column [K, 1], and the added axis is dropped
 * from the result (vector @ vector is the 0-d dot product). A vector is its own
 * transpose: its flag changes nothing. */
static nb_tensor *as_matrix(nb_tensor *v, bool row) {
    int64_t k = v->shape[0];
    return nb_reshape(v, row ? (int64_t[]){1, k} : (int64_t[]){k, 1}, 2);
}

/* c without the axes as_matrix added */
static nb_tensor *drop_vector_axes(nb_tensor *c, bool va, bool vb) {
    int64_t shape[NB_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < c->ndim; i++)
        if (!(va && i == c->ndim - 2) && !(vb && i == c->ndim - 1)) shape[nd++] = c->shape[i];
    return nb_reshape(c, shape, nd);
}

/* the inner (K) size op(t) brings to the product; t is a, or b when !is_a */
static int64_t inner_size(const nb_tensor *t, bool trans, bool is_a) {
    if (t->ndim == 1) return t->shape[0];
    bool last = is_a != trans; /* a's K is its last axis, b's the one before */
    return t->shape[t->ndim - (last ? 1 : 2)];
}

nb_tensor *nb_matmul_t(nb_tensor *a, nb_tensor *b, bool trans_a, bool trans_b) {
    const char *fn = trans_a || trans_b ? "nb_matmul_t" : "nb_matmul";
    if (!a || !b) return nb_fail_null(fn);
    if (a->ndim == 0 || b->ndim == 0)
        return nb_fail(NB_ERR_SHAPE, "%s: operands must be 1-D or more: a is %s, b is %s", fn,
                       nb_shape_s(a), nb_shape_s(b));
    bool va = a->ndim == 1, vb = b->ndim == 1;
    matmul_attrs at = {trans_a && !va, trans_b && !vb};
    if ((va || vb) && inner_size(a, trans_a, true) != inner_size(b, trans_b, false)) {
        nb_tensor oa = swapped(a, at.ta), ob = swapped(b, at.tb);
        return nb_fail(NB_ERR_SHAPE, "%s: inner dimensions differ: %s is %s, %s is %s", fn,
                       at.ta ? "a^T" : "a", nb_shape_s(&oa), at.tb ? "b^T" : "b", nb_shape_s(&ob));
    }
    nb_tensor *ma = va ? as_matrix(a, true) : plain(a), *mb = vb ? as_matrix(b, false) : plain(b);
    if (!ma || !mb) return NULL;
    nb_tensor *c = nb_apply(&matmul_def, (nb_tensor *[]){ma, mb}, 2, &at, sizeof at);
    return c && (va || vb) ? drop_vector_axes(c, va, vb) : c;
}

nb_tensor *nb_matmul(nb_tensor *a, nb_tensor *b) {
    return nb_matmul_t(a, b, false, false);
}

/* ---- linear ------------------------------------------------------------------------ */
/* x: [N, IN], w: [IN, OUT], b: [OUT] -> y: [N, OUT] */
static nb_status linear_shape(const nb_node *n, nb_layout *l) {
    const nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    bool ok = x->ndim == 2 && w->ndim == 2 && b->ndim == 1 && cols(x) == rows(w) &&
              b->shape[0] == cols(w);
    if (!ok)
        return nb_fail_status(
            NB_ERR_SHAPE,
            "nb_linear: expected x [N, IN], w [IN, OUT], b [OUT]; got x %s, w %s, b %s",
            nb_shape_s(x), nb_shape_s(w), nb_shape_s(b));
    nb_layout_contiguous(l, (int64_t[]){rows(x), cols(w)}, 2);
    return NB_OK;
}

/* y = x @ w + b, the bias added inside the matmul primitive (no second pass
 * over y). With IN = 0 the product is empty and y is b in every row. */
static nb_status linear_forward(nb_node *n) {
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2], *y = n->out;
    if (cols(x) == 0) {
        nb_status s = nb_fill(y, 0.0f);
        return s ? s : nb_kernel_binary("nb_linear", dnnl_binary_add, y, b, y);
    }
    return nb_kernel_matmul("nb_linear", x, w, b, y);
}

/* dy: [N, OUT] -> dx = dy @ w^T: [N, IN], dw = x^T @ dy: [IN, OUT],
 * db = dy summed over the rows: [OUT] (nb_sum_to does it as ones[1, N] @ dy,
 * far faster than a reduction over axis 0) */
static nb_status linear_backward(nb_node *n, nb_tensor *dy, nb_tensor **gx) {
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    if (n->needs_grad[0] && !(gx[0] = nb_matmul_t(dy, w, false, true))) return nb_failure_code();
    if (n->needs_grad[1] && !(gx[1] = nb_matmul_t(x, dy, true, false))) return nb_failure_code();
    if (n->needs_grad[2] && !(gx[2] = nb_sum_to(dy, b->shape, b->ndim))) return nb_failure_code();
    return NB_OK;
}

/* linear + activation, one oneDNN matmul with the activation as its post-op */
static nb_status linear_forward_fused(nb_node *n, const nb_post_op *post) {
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2], *y = n->out;
    if (cols(x) == 0) { /* no product to attach the activation to: y = f(b) */
        nb_status s = linear_forward(n);
        return s ? s : nb_kernel_eltwise("nb_linear", post->alg, post->alpha, post->beta, y, y);
    }
    return nb_kernel_matmul_post("nb_linear", x, w, b, y, post);
}

static const nb_op_def linear_def = {
    .name = "linear",
    .shape = linear_shape,
    .forward = linear_forward,
    .backward = linear_backward,
    .print_attrs = NULL, /* no attributes: the shapes say it all */
    .forward_fused = linear_forward_fused,
};

/* x: [..., IN] or [IN] -> y: [..., OUT] or [OUT], as PyTorch's linear: the
 * fused kernel sees x as the rows [N, IN]. b == NULL is no bias (a NULL bias
 * from a failed call is not told apart: check it). x and w may be transposed
 * views (w^T of a [OUT, IN] weight, as PyTorch stores it): a 2-D x goes to the
 * kernel as it is. */
nb_tensor *nb_linear(nb_tensor *x, nb_tensor *w, nb_tensor *b) {
    if (!x || !w) return nb_fail_null("nb_linear");
    bool ok = x->ndim >= 1 && w->ndim == 2 && x->shape[x->ndim - 1] == w->shape[0] &&
              (!b || (b->ndim == 1 && b->shape[0] == w->shape[1]));
    if (!ok)
        return nb_fail(NB_ERR_SHAPE,
                       "nb_linear: expected x [..., IN], w [IN, OUT], b [OUT] or NULL; got x %s, w "
                       "%s, b %s",
                       nb_shape_s(x), nb_shape_s(w), b ? nb_shape_s(b) : "NULL");
    if (!b) return nb_matmul(x, w);
    if (x->ndim != 2) {
        int64_t shape[NB_MAX_DIMS];
        memcpy(shape, x->shape, sizeof shape);
        shape[x->ndim - 1] = w->shape[1];
        int64_t n = 1; /* a product of dims, not numel / IN: IN may be 0 */
        for (int i = 0; i < x->ndim - 1; i++) n *= x->shape[i];
        nb_tensor *rows = nb_reshape(x, (int64_t[]){n, w->shape[0]}, 2);
        return nb_reshape(nb_linear(rows, w, b), shape, x->ndim);
    }
    nb_tensor *bc = nb_is_contiguous(b) ? b : nb_contiguous(b);
    return nb_apply(&linear_def, (nb_tensor *[]){plain(x), plain(w), bc}, 3, NULL, 0);
}
