/* Matrix products on oneDNN's matmul primitive.
 *
 *   a: [M, K] @ b: [K, N] -> c: [M, N]
 *   a: [B, M, K] @ b: [B, K, N] -> c: [B, M, N]   (a batch of 1 broadcasts)
 *
 * A transposed operand is passed to oneDNN as a strided view (its last two
 * strides swapped), so no copy is made. The backward rule is two more
 * matmuls with the transposes arranged:
 *   dA = dC @ B^T,  dB = A^T @ dC
 * and an operand whose batch was broadcast gets its gradient summed over it.
 */
#include "../core/dnnl_internal.h"
#include "op.h"

typedef struct {
    bool ta, tb;
} matmul_attrs;

/* t's header with the last two axes swapped (a view, no copy) */
static nb_tensor transposed(const nb_tensor *t, bool swap) {
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

/* [.., M, K] @ [.., K, N] -> [.., M, N] with batch broadcasting */
static bool product_shape(const char *fn, const nb_tensor *a, const nb_tensor *b, nb_layout *l) {
    if (a->ndim < 2 || a->ndim > 3 || b->ndim < 2 || b->ndim > 3) {
        nb_fail(NB_ERR_SHAPE, "%s: operands must be 2-D or 3-D: a is %s, b is %s", fn,
                nb_shape_s(a), nb_shape_s(b));
        return false;
    }
    int64_t m = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1];
    int64_t k2 = b->shape[b->ndim - 2], n = b->shape[b->ndim - 1];
    if (k != k2) {
        nb_fail(NB_ERR_SHAPE, "%s: inner dimensions differ: a is %s, b is %s", fn, nb_shape_s(a),
                nb_shape_s(b));
        return false;
    }
    int64_t ba = a->ndim == 3 ? a->shape[0] : 1, bb = b->ndim == 3 ? b->shape[0] : 1;
    if (ba != bb && ba != 1 && bb != 1) {
        nb_fail(NB_ERR_SHAPE, "%s: batch sizes differ: a is %s, b is %s", fn, nb_shape_s(a),
                nb_shape_s(b));
        return false;
    }
    if (a->ndim == 3 || b->ndim == 3)
        nb_layout_contiguous(l, (int64_t[]){ba > bb ? ba : bb, m, n}, 3);
    else
        nb_layout_contiguous(l, (int64_t[]){m, n}, 2);
    return true;
}

static nb_status matmul_shape(const nb_node *n, nb_layout *l) {
    const matmul_attrs *at = NB_ATTRS(n, matmul_attrs);
    nb_tensor a = transposed(n->in[0], at->ta), b = transposed(n->in[1], at->tb);
    return product_shape("nb_matmul", &a, &b, l) ? NB_OK : nb_error_code();
}

static nb_status matmul_forward(nb_node *n) {
    const matmul_attrs *at = NB_ATTRS(n, matmul_attrs);
    nb_tensor a = transposed(n->in[0], at->ta), b = transposed(n->in[1], at->tb);
    return nb_k_matmul("nb_matmul", &a, &b, NULL, n->out);
}

/* C = op(A) @ op(B), op = transpose when the flag is set. */
static nb_status matmul_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    const matmul_attrs *at = NB_ATTRS(n, matmul_attrs);
    nb_tensor *a = n->in[0], *b = n->in[1];
    if (n->needs_grad[0]) {
        nb_tensor *ga = at->ta ? nb_matmul_t(b, gy, at->tb, true)    /* (dC op(B)^T)^T */
                               : nb_matmul_t(gy, b, false, !at->tb); /* dC op(B)^T */
        if (!(gx[0] = nb_grad_unbroadcast(ga, a))) return nb_error_code();
    }
    if (n->needs_grad[1]) {
        nb_tensor *gb = at->tb ? nb_matmul_t(gy, a, true, at->ta)    /* (op(A)^T dC)^T */
                               : nb_matmul_t(a, gy, !at->ta, false); /* op(A)^T dC */
        if (!(gx[1] = nb_grad_unbroadcast(gb, b))) return nb_error_code();
    }
    return NB_OK;
}

static int print_transposes(const nb_node *n, char *buf, size_t size) {
    const matmul_attrs *at = NB_ATTRS(n, matmul_attrs);
    return snprintf(buf, size, "%s%s", at->ta ? "a^T " : "", at->tb ? "b^T" : "");
}

static const nb_op_def matmul_def = {
    .name = "matmul",
    .shape = matmul_shape,
    .forward = matmul_forward,
    .backward = matmul_backward,
    .print_attrs = print_transposes,
};

/* oneDNN takes plain layouts: dense, or dense with the last two axes swapped */
static nb_tensor *plain(nb_tensor *x) {
    if (nb_is_contiguous(x)) return x;
    nb_tensor t = transposed(x, true);
    return nb_is_contiguous(&t) ? x : nb_contiguous(x);
}

nb_tensor *nb_matmul_t(nb_tensor *a, nb_tensor *b, bool trans_a, bool trans_b) {
    matmul_attrs at = {trans_a, trans_b};
    if (!a || !b) return nb_fail_null("nb_matmul");
    return nb_apply(&matmul_def, (nb_tensor *[]){plain(a), plain(b)}, 2, &at, sizeof at);
}

nb_tensor *nb_matmul(nb_tensor *a, nb_tensor *b) {
    return nb_matmul_t(a, b, false, false);
}

/* ---- linear: x [N, IN] @ w [IN, OUT] + b [OUT] -> [N, OUT], one fused primitive ---- */
static nb_status linear_shape(const nb_node *n, nb_layout *l) {
    const nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    bool ok = x->ndim == 2 && w->ndim == 2 && b->ndim == 1 && x->shape[1] == w->shape[0] &&
              b->shape[0] == w->shape[1];
    if (!ok)
        return nb_failc(NB_ERR_SHAPE,
                        "nb_linear: expected x [N, IN], w [IN, OUT], b [OUT]; got x %s, w %s, b %s",
                        nb_shape_s(x), nb_shape_s(w), nb_shape_s(b));
    nb_layout_contiguous(l, (int64_t[]){x->shape[0], w->shape[1]}, 2);
    return NB_OK;
}

static nb_status linear_forward(nb_node *n) {
    return nb_k_matmul("nb_linear", n->in[0], n->in[1], n->in[2], n->out);
}

/* dx = dy @ w^T, dw = x^T @ dy, db = sum of dy over the batch */
static nb_status linear_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    nb_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    if (n->needs_grad[0] && !(gx[0] = nb_matmul_t(gy, w, false, true))) return nb_error_code();
    if (n->needs_grad[1] && !(gx[1] = nb_matmul_t(x, gy, true, false))) return nb_error_code();
    if (n->needs_grad[2] && !(gx[2] = nb_sum_to(gy, b->shape, b->ndim))) return nb_error_code();
    return NB_OK;
}

static const nb_op_def linear_def = {
    .name = "linear",
    .flags = NB_OP_CONTIGUOUS,
    .shape = linear_shape,
    .forward = linear_forward,
    .backward = linear_backward,
};

nb_tensor *nb_linear(nb_tensor *x, nb_tensor *w, nb_tensor *b) {
    if (!x || !w || !b) {
        if (x && w && nb_error_code() == NB_OK)
            return nb_fail(NB_ERR_NULL, "nb_linear: bias is NULL (use nb_matmul for no bias)");
        return nb_fail_null("nb_linear");
    }
    return nb_apply(&linear_def, (nb_tensor *[]){x, w, b}, 3, NULL, 0);
}
