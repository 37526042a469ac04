/* nb_apply: the one path every op takes. */
#include "op.h"

#include <math.h>
#include <string.h>

/* "nb_" name into buf (64 bytes): the hot path of every op, so no printf */
static char *fn_name(char *buf, const char *name) {
    size_t len = strlen(name);
    if (len > 60) len = 60;
    memcpy(buf, "nb_", 3);
    memcpy(buf + 3, name, len);
    buf[3 + len] = '\0';
    return buf;
}

const char *nb_op_caller(const nb_node *n) {
    static _Thread_local char ring[4][64];
    static _Thread_local int next;
    char *buf = ring[next];
    next = (next + 1) % 4;
    return fn_name(buf, n->def->name);
}

nb_tensor *nb_saved(nb_node *n, int i, const int64_t *shape, int ndim) {
    nb_tensor *t = n->saved[i];
    if (t && t->ndim == ndim && !memcmp(t->shape, shape, (size_t)ndim * sizeof *shape)) return t;
    char fn[64];
    return n->saved[i] = nb_tensor_new(fn_name(fn, n->def->name), shape, ndim);
}

void nb_layout_contiguous(nb_layout *l, const int64_t *shape, int ndim) {
    l->ndim = ndim;
    for (int i = 0; i < ndim; i++) l->shape[i] = shape[i];
    nb_contiguous_strides(shape, ndim, l->strides);
    l->offset = 0;
}

bool nb_broadcast_shapes(const char *op, const nb_tensor *a, const nb_tensor *b, nb_layout *l) {
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t shape[NB_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            nb_fail(NB_ERR_SHAPE,
                    "nb_%s: shapes %s and %s do not broadcast (axis %d: %lld vs %lld)", op,
                    nb_shape_s(a), nb_shape_s(b), i, (long long)da, (long long)db);
            return false;
        }
        shape[i] = da == 1 ? db : da;
    }
    nb_layout_contiguous(l, shape, nd);
    return true;
}

/* Inputs that are not contiguous go through nb_contiguous, itself an op, so
 * that gradients still reach the original tensor. */
static bool make_contiguous(nb_tensor **in, int n) {
    for (int i = 0; i < n; i++)
        if (in[i] && !nb_is_contiguous(in[i]) && !(in[i] = nb_contiguous(in[i]))) return false;
    return true;
}

static nb_tensor *make_output(const nb_op_def *def, nb_node *n, const nb_layout *l) {
    if (def->flags & NB_OP_VIEW)
        return nb_view_new(n->in[0], l->shape, l->strides, l->ndim, l->offset);
    char fn[64];
    return nb_tensor_new(fn_name(fn, def->name), l->shape, l->ndim);
}

static bool mark_needs_grad(nb_node *n) {
    bool any = false;
    bool on = nb_grad_mode() && n->def->backward;
    for (int i = 0; i < n->n_in; i++) {
        n->needs_grad[i] = on && n->in[i]->requires_grad;
        any |= n->needs_grad[i];
    }
    return any;
}

/* held tensor k of n (see NB_HELD), or NULL */
nb_tensor *nb_node_held(const nb_node *n, int k) {
    if (k < NB_MAX_INPUTS) return k < n->n_in ? n->in[k] : NULL;
    if (k == NB_MAX_INPUTS) return n->out;
    return n->saved[k - NB_MAX_INPUTS - 1];
}

/* What backward will check: every held tensor still is the one recorded,
 * with the data it had when the op ran. */
static void nb_node_hold(nb_node *n) {
    for (int k = 0; k < NB_HELD; k++) {
        const nb_tensor *t = nb_node_held(n, k);
        if (!t) continue;
        n->held_gen[k] = t->gen;
        n->held_version[k] = t->storage->version;
    }
}

bool nb_record(nb_node *tmp, nb_tensor *out) {
    if (!mark_needs_grad(tmp)) return true;
    nb_node *n = nb_node_get();
    if (n) {
        *n = *tmp;
        n->out = out;
        nb_node_hold(n);
        if (nb_tape_push(n)) {
            out->node = n;
            out->requires_grad = true;
            return true;
        }
        nb_node_put(n);
    }
    /* an op without its tape node would train without that gradient, silently */
    nb_fail(NB_ERR_MEMORY, "nb_%s: out of memory recording the op on the tape", tmp->def->name);
    return false;
}

/* Anomaly mode: the first NaN or Inf in an op's output is an error that says
 * which op made it, in which layer, and whether forward or backward. */
static bool check_finite(const nb_node *n) {
    const nb_tensor *y = n->out;
    int64_t bad = -1;
    for (int64_t i = 0; i < y->numel && bad < 0; i++)
        if (!isfinite(nb_get_flat(y, i))) bad = i;
    if (bad < 0) return true;
    float v = nb_get_flat(y, bad);
    const char *what = isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf";
    const nb_node *b = nb_backward_node();
    if (b)
        nb_fail(NB_ERR_ARG,
                "nb_backward: anomaly: the backward pass of op '%s'%s%s%s produced %s (element "
                "%lld of %s, in its step '%s')",
                b->def->name, b->scope[0] ? " in layer '" : "", b->scope, b->scope[0] ? "'" : "",
                what, (long long)bad, nb_shape_s(y), n->def->name);
    else
        nb_fail(NB_ERR_ARG,
                "nb_%s: anomaly: the forward pass produced %s (element %lld of %s)%s%s%s",
                n->def->name, what, (long long)bad, nb_shape_s(y), n->scope[0] ? " in layer '" : "",
                n->scope, n->scope[0] ? "'" : "");
    return false;
}

nb_tensor *nb_apply(const nb_op_def *def, nb_tensor *const *in, int n_in, const void *attrs,
                    size_t attrs_size) {
    nb_node tmp;
    memset(&tmp, 0, offsetof(nb_node, attrs));
    tmp.def = def;
    tmp.n_in = n_in;
    const char *scope = nb_name_scope();
    size_t len = strnlen(scope, sizeof tmp.scope - 1);
    memcpy(tmp.scope, scope, len);
    tmp.scope[len] = '\0';
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) return nb_fail_null(nb_op_caller(&tmp));
        if (in[i]->magic != NB_TENSOR_LIVE)
            return nb_fail(NB_ERR_STATE,
                           "%s: input %d was freed (by nb_free or when its scope ended); a "
                           "pointer to it must not be used again",
                           nb_op_caller(&tmp), i);
        tmp.in[i] = in[i];
    }
    if (attrs_size) memcpy(tmp.attrs, attrs, attrs_size);
    if ((def->flags & NB_OP_CONTIGUOUS) && !make_contiguous(tmp.in, n_in)) return NULL;

    nb_layout l;
    if (def->shape(&tmp, &l) != NB_OK) return NULL;
    nb_tensor *out = make_output(def, &tmp, &l);
    if (!out) return NULL;
    tmp.out = out;
    mark_needs_grad(&tmp); /* kernels may skip saving what backward will not need */
    if (def->forward && def->forward(&tmp) != NB_OK) return NULL;
    if (nb_anomaly_mode() && !check_finite(&tmp)) return NULL;
    nb_report_op(&tmp); /* to the recording hooks (graph mode's tracer) */
    return nb_record(&tmp, out) ? out : NULL;
}
