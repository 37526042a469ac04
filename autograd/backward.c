/* The backward engine.
 *
 * The tape lists nodes in creation order, which is a topological order: every
 * node's inputs were made before it. So one walk from the loss's node down to
 * the start of the tape visits each node after all the nodes that use its
 * output. A node that received a gradient runs its backward rule (written with
 * ops) and passes each input's share on: to the input's producing node, or,
 * for a leaf, into its .grad.
 */
#include "../core/dnnl_internal.h"
#include "../ops/op.h"
#include "nabla/autograd.h"

#include <string.h>

nb_tensor *nb_set_requires_grad(nb_tensor *t, bool on) {
    if (!t) return nb_fail_null("nb_set_requires_grad");
    if (!nb_live("nb_set_requires_grad", t)) return NULL;
    if (t->node)
        return nb_fail(NB_ERR_STATE,
                       "nb_set_requires_grad: tensor %s is the result of op '%s'; only leaves "
                       "(tensors not computed by an op) take requires_grad; use nb_detach first",
                       nb_shape_s(t), t->node->def->name);
    t->requires_grad = on;
    t->dropped_op = NULL; /* the caller makes it a leaf of its own */
    return t;
}

bool nb_requires_grad(const nb_tensor *t) {
    return t && t->requires_grad;
}

bool nb_is_leaf(const nb_tensor *t) {
    return t && !t->node;
}

nb_tensor *nb_grad(const nb_tensor *t) {
    return t && nb_live("nb_grad", t) ? t->grad : NULL;
}

static nb_status drop_grad(void *leaf, nb_tensor *const *in, int n) {
    (void)in, (void)n;
    nb_tensor *t = leaf;
    if (t->grad) {
        nb_tensor_release(t->grad); /* a no-op for a graph's buffer */
        t->grad = NULL;
    }
    return NB_OK;
}

void nb_zero_grad(nb_tensor *t) {
    if (!t || !nb_live("nb_zero_grad", t)) return;
    if (nb_tracing()) nb_trace_effect("zero_grad", drop_grad, t, NULL, 0);
    drop_grad(t, NULL, 0);
}

nb_tensor *nb_detach(nb_tensor *t) {
    if (!t) return nb_fail_null("nb_detach");
    if (!nb_live("nb_detach", t)) return NULL;
    return nb_view_new(t, t->shape, t->strides, t->ndim, t->offset);
}

/* leaf.grad += g (the gradient is owned by the leaf, outside any scope) */
static nb_status add_to_leaf(void *ctx, nb_tensor *const *in, int n) {
    (void)n;
    nb_tensor *leaf = ctx, *g = in[0];
    if (!leaf->grad) {
        leaf->grad = nb_tensor_new_owned("nb_backward", leaf->shape, leaf->ndim);
        if (!leaf->grad) return nb_error_code();
        return nb_k_reorder("nb_backward", g, leaf->grad);
    }
    return nb_k_binary("nb_backward", dnnl_binary_add, leaf->grad, g, leaf->grad);
}

/* A graph records which of the two it was: the first gradient a leaf gets in
 * a step ("set_grad") may become the graph's own buffer, with no copy. */
static nb_status accumulate_leaf(nb_tensor *leaf, nb_tensor *g) {
    if (nb_tracing())
        nb_trace_effect(leaf->grad ? "accumulate_grad" : "set_grad", add_to_leaf, leaf, &g, 1);
    return add_to_leaf(leaf, &g, 1);
}

/* Hand gradient g for input x of a node on to x's producer or into x.grad. */
static nb_status pass_on(const nb_node *n, nb_tensor *x, nb_tensor *g) {
    if (!nb_same_shape(x, g))
        return nb_failc(NB_ERR_SHAPE,
                        "nb_backward: the backward rule of '%s' gave a gradient of shape %s for "
                        "an input of shape %s",
                        n->def->name, nb_shape_s(g), nb_shape_s(x));
    if (!x->node) return x->requires_grad ? accumulate_leaf(x, g) : NB_OK;
    nb_node *p = x->node;
    if (!p->grad) {
        p->grad = g;
        return NB_OK;
    }
    p->grad = nb_add(p->grad, g); /* two uses of x: their gradients add up */
    return p->grad ? NB_OK : nb_error_code();
}

/* "input 1 'w' [4, 3]", "output [2, 3]", "saved tensor 0 [2]" */
static const char *held_role(int k, const nb_tensor *t, char *buf, size_t size) {
    int len = k < NB_MAX_INPUTS    ? snprintf(buf, size, "input %d", k)
              : k == NB_MAX_INPUTS ? snprintf(buf, size, "output")
                                   : snprintf(buf, size, "saved tensor %d", k - NB_MAX_INPUTS - 1);
    if (t && len >= 0 && (size_t)len < size)
        snprintf(buf + len, size - (size_t)len, "%s%s%s %s", t->name[0] ? " '" : "", t->name,
                 t->name[0] ? "'" : "", nb_shape_s(t));
    return buf;
}

/* PyTorch's check: the tensors the op held when it ran must still be there,
 * holding the same data, or its backward rule would compute a wrong gradient. */
static nb_status check_held(const nb_node *n) {
    char role[NB_NAME_LEN + 200];
    for (int k = 0; k < NB_HELD; k++) {
        const nb_tensor *t = nb_node_held(n, k);
        bool freed = k == NB_MAX_INPUTS && !t; /* nb_free cleared the node's out */
        if (!t && !freed) continue;
        if (freed || t->magic != NB_TENSOR_LIVE || t->gen != n->held_gen[k])
            return nb_failc(NB_ERR_STATE,
                            "nb_backward: %s of op '%s' was freed before the backward pass; free "
                            "it after nb_backward (or let its scope end)",
                            held_role(k, NULL, role, sizeof role), n->def->name);
        if (t->storage->version != n->held_version[k])
            return nb_failc(NB_ERR_STATE,
                            "nb_backward: a tensor needed for the gradient of op '%s' (%s) was "
                            "modified by an in-place operation after the op ran: its storage is "
                            "at version %u; the op saved version %u",
                            n->def->name, held_role(k, t, role, sizeof role),
                            (unsigned)t->storage->version, (unsigned)n->held_version[k]);
    }
    return NB_OK;
}

static nb_status run_node(nb_node *n, bool retain_graph) {
    if (n->consumed)
        return nb_failc(NB_ERR_STATE,
                        "nb_backward: the graph through op '%s' was already used by a backward "
                        "pass; pass retain_graph to the first nb_backward_ex to walk it again",
                        n->def->name);
    nb_status s = check_held(n);
    if (s != NB_OK) return s;
    nb_tensor *gx[NB_MAX_INPUTS] = {0};
    nb_tensor *gy = n->grad;
    n->grad = NULL;
    if (!retain_graph) n->consumed = true;
    nb_set_backward_node(n);
    s = n->def->backward(n, gy, gx);
    nb_set_backward_node(NULL);
    if (s != NB_OK) return s;
    for (int i = 0; i < n->n_in; i++) {
        /* a rule that succeeded and left gx[i] NULL says the input has no
         * gradient (class indices) */
        if (!n->needs_grad[i] || !gx[i]) continue;
        s = pass_on(n, n->in[i], gx[i]);
        if (s != NB_OK) return s;
    }
    return NB_OK;
}

static nb_tensor *make_seed(nb_tensor *t, nb_tensor *seed) {
    if (seed) {
        if (!nb_same_shape(seed, t))
            return nb_fail(NB_ERR_SHAPE, "nb_backward: seed gradient has shape %s, tensor has %s",
                           nb_shape_s(seed), nb_shape_s(t));
        return seed;
    }
    if (t->numel != 1)
        return nb_fail(NB_ERR_SHAPE,
                       "nb_backward: tensor of shape %s is not a scalar; pass a seed gradient "
                       "of the same shape to nb_backward_ex",
                       nb_shape_s(t));
    return nb_ones(t->shape, t->ndim);
}

nb_status nb_backward_ex(nb_tensor *t, nb_tensor *seed, bool retain_graph) {
    if (!t) return (nb_fail_null("nb_backward"), nb_error_code());
    if (!nb_live("nb_backward", t) || (seed && !nb_live("nb_backward", seed))) return NB_ERR_STATE;
    if (t->dropped_op)
        return nb_failc(NB_ERR_STATE,
                        "nb_backward: tensor %s has no history: the tape node of op '%s' that "
                        "made it was dropped when its scope ended (nb_keep keeps a result, not "
                        "its graph); call nb_backward before nb_scope_end",
                        nb_shape_s(t), t->dropped_op->name);
    if (!t->requires_grad)
        return nb_failc(NB_ERR_STATE,
                        "nb_backward: tensor %s does not require grad: no input of the ops that "
                        "made it has nb_set_requires_grad (or grad mode was off)",
                        nb_shape_s(t));
    nb_tensor *g = make_seed(t, seed);
    if (!g) return nb_error_code();
    if (!t->node) return accumulate_leaf(t, g);

    bool was = nb_set_grad_enabled(false); /* the backward ops are not recorded */
    nb_status s = NB_OK;
    t->node->grad = g;
    for (int64_t i = t->node->seq; i >= 0 && s == NB_OK; i--) {
        nb_node *n = nb_tape_at(i);
        if (n->grad) s = run_node(n, retain_graph);
    }
    for (int64_t i = t->node->seq; i >= 0; i--) nb_tape_at(i)->grad = NULL; /* after errors */
    nb_set_grad_enabled(was);
    return s;
}

nb_status nb_backward(nb_tensor *t) {
    return nb_backward_ex(t, NULL, false);
}
