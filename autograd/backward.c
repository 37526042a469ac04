/* The backward engine.
 *
 * The tape lists nodes in creation order, which is a topological order: every
 * node's inputs were made before it. So one walk from the loss's node down to
 * the start of the tape visits each node after all the nodes that use its
 * output. A node that received a gradient runs its backward rule (written with
 * ops) and passes each input's share on: to the input's producing node, or,
 * for a leaf, into its .grad.
 */
#include "core/dnnl_internal.h"
#include "ops/op.h"
#include "graph/graph_internal.h" /* nb_tracing */
#include "nabla/autograd.h"

#include <stdlib.h>

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

static nb_status drop_grad(const nb_effect *e) {
    nb_tensor *t = e->param;
    if (t->grad) {
        nb_node *made = t->grad->node; /* create_graph: the node "grad" made it */
        if (made && made->out == t->grad) made->out = NULL;
        nb_tensor_release(t->grad); /* a no-op for a graph's buffer */
        t->grad = NULL;
    }
    return NB_OK;
}

void nb_zero_grad(nb_tensor *t) {
    if (!t || !nb_live("nb_zero_grad", t)) return;
    nb_effect e = {.kind = NB_EFFECT_ZERO_GRAD, .param = t, .redo = drop_grad};
    nb_report_effect(&e);
    drop_grad(&e);
}

nb_tensor *nb_detach(nb_tensor *t) {
    if (!t) return nb_fail_null("nb_detach");
    if (!nb_live("nb_detach", t)) return NULL;
    return nb_view_new(t, t->shape, t->strides, t->ndim, t->offset);
}

/* leaf.grad += g (the gradient is owned by the leaf, outside any scope) */
static nb_status add_to_leaf(const nb_effect *e) {
    nb_tensor *leaf = e->param, *g = e->grad;
    if (!leaf->grad) {
        leaf->grad = nb_tensor_new_owned("nb_backward", leaf->shape, leaf->ndim);
        if (!leaf->grad) return nb_failure_code();
        return nb_kernel_reorder("nb_backward", g, leaf->grad);
    }
    return nb_kernel_binary("nb_backward", dnnl_binary_add, leaf->grad, g, leaf->grad);
}

/* ---- create_graph: a leaf's .grad that carries history --------------------------
 * The leaf owns its .grad, but an op result belongs to a scope. So the sum is
 * computed with ops (recorded), and copied into a tensor the leaf owns by the
 * op "grad", whose node makes that owned tensor the sum's continuation on the
 * tape. The old .grad, an input of the sum, is handed to the current scope,
 * which outlives the node that holds it. */
static nb_status grad_copy_forward(nb_node *n) {
    return nb_kernel_reorder("nb_backward", n->in[0], n->out);
}

static nb_status grad_copy_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    (void)n;
    gx[0] = gy;
    return NB_OK;
}

static const nb_op_def grad_copy_def = {
    .name = "grad",
    .forward = grad_copy_forward,
    .backward = grad_copy_backward,
};

static nb_status set_leaf_grad_with_history(nb_tensor *leaf, nb_tensor *g) {
    nb_tensor *old = leaf->grad;
    nb_tensor *sum = old ? nb_add(old, g) : g;
    if (!sum) return nb_failure_code();
    nb_tensor *owned = nb_tensor_new_owned("nb_backward", leaf->shape, leaf->ndim);
    if (!owned) return nb_failure_code();
    nb_node tmp = {.def = &grad_copy_def, .n_in = 1, .in = {sum}};
    nb_status s = grad_copy_forward(&(nb_node){.in = {sum}, .out = owned});
    if (s != NB_OK) {
        nb_tensor_release(owned);
        return s;
    }
    nb_record(&tmp, owned);
    if (old && old->scope != NB_SCOPE_GRAPH) nb_scope_adopt(old); /* a graph keeps its own */
    leaf->grad = owned;
    return NB_OK;
}

/* What one backward walk does with the gradients it finds. */
typedef struct walk {
    bool retain_graph, create_graph;
    /* nb_grad_of: the gradients of these tensors are collected in got[] and no
     * .grad is touched; NULL for nb_backward */
    nb_tensor *const *targets;
    int n_targets;
    nb_tensor **got;
    const bool *live; /* nb_grad_of: the nodes on a path to a target, by seq */
} walk;

static int target_index(const walk *w, const nb_tensor *x) {
    for (int k = 0; k < w->n_targets; k++)
        if (w->targets[k] == x) return k;
    return -1;
}

static nb_status collect(walk *w, int k, nb_tensor *g) {
    w->got[k] = w->got[k] ? nb_add(w->got[k], g) : g;
    return w->got[k] ? NB_OK : nb_failure_code();
}

/* The hooks hear which of the two it was: in a graph, the first gradient a
 * leaf gets in a step (NB_EFFECT_SET_GRAD) may become the graph's own buffer,
 * with no copy. */
static nb_status accumulate_leaf(walk *w, nb_tensor *leaf, nb_tensor *g) {
    if (w->targets) {
        int k = target_index(w, leaf);
        return k >= 0 ? collect(w, k, g) : NB_OK;
    }
    if (w->create_graph) return set_leaf_grad_with_history(leaf, g);
    nb_effect e = {.kind = leaf->grad ? NB_EFFECT_ACCUMULATE_GRAD : NB_EFFECT_SET_GRAD,
                   .param = leaf,
                   .grad = g,
                   .redo = add_to_leaf};
    nb_report_effect(&e);
    return add_to_leaf(&e);
}

/* Hand gradient g for input x of a node on to x's producer or into x.grad. */
static nb_status pass_on(walk *w, const nb_node *n, nb_tensor *x, nb_tensor *g) {
    if (!nb_same_shape(x, g))
        return nb_fail_status(
            NB_ERR_SHAPE,
            "nb_backward: the backward rule of '%s' gave a gradient of shape %s for "
            "an input of shape %s",
            n->def->name, nb_shape_s(g), nb_shape_s(x));
    if (!x->node) return x->requires_grad ? accumulate_leaf(w, x, g) : NB_OK;
    nb_node *p = x->node;
    if (!p->grad) {
        p->grad = g;
        return NB_OK;
    }
    p->grad = nb_add(p->grad, g); /* two uses of x: their gradients add up */
    return p->grad ? NB_OK : nb_failure_code();
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
            return nb_fail_status(
                NB_ERR_STATE,
                "nb_backward: %s of op '%s' was freed before the backward pass; free "
                "it after nb_backward (or let its scope end)",
                held_role(k, NULL, role, sizeof role), n->def->name);
        if (t->storage->version != n->held_version[k])
            return nb_fail_status(
                NB_ERR_STATE,
                "nb_backward: a tensor needed for the gradient of op '%s' (%s) was "
                "modified by an in-place operation after the op ran: its storage is "
                "at version %u; the op saved version %u",
                n->def->name, held_role(k, t, role, sizeof role), (unsigned)t->storage->version,
                (unsigned)n->held_version[k]);
    }
    return NB_OK;
}

static nb_status run_node(walk *w, nb_node *n) {
    if (n->consumed)
        return nb_fail_status(
            NB_ERR_STATE,
            "nb_backward: the graph through op '%s' was already used by a backward "
            "pass; pass retain_graph to the first nb_backward_ex to walk it again",
            n->def->name);
    nb_status s = check_held(n);
    if (s != NB_OK) return s;
    nb_tensor *gx[NB_MAX_INPUTS] = {0};
    nb_tensor *gy = n->grad;
    n->grad = NULL;
    if (!w->retain_graph) n->consumed = true;
    nb_set_backward_node(n);
    s = n->def->backward(n, gy, gx);
    nb_set_backward_node(NULL);
    if (s != NB_OK) return s;
    for (int i = 0; i < n->n_in; i++) {
        /* a rule that succeeded and left gx[i] NULL says the input has no
         * gradient (class indices) */
        if (!n->needs_grad[i] || !gx[i]) continue;
        s = pass_on(w, n, n->in[i], gx[i]);
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

/* The checks every output of a backward pass gets. */
static nb_status check_output(const char *fn, nb_tensor *t) {
    if (!t) return (nb_fail_null(fn), nb_failure_code());
    if (!nb_live(fn, t)) return NB_ERR_STATE;
    if (t->dropped_op)
        return nb_fail_status(
            NB_ERR_STATE,
            "%s: tensor %s has no history: the tape node of op '%s' that made it was "
            "dropped when its scope ended (nb_keep keeps a result, not its graph); "
            "call %s before nb_scope_end",
            fn, nb_shape_s(t), t->dropped_op->name, fn);
    if (!t->requires_grad)
        return nb_fail_status(
            NB_ERR_STATE,
            "%s: tensor %s does not require grad: no input of the ops that made it "
            "has nb_set_requires_grad (or grad mode was off)",
            fn, nb_shape_s(t));
    return NB_OK;
}

/* Walk the tape down from node seq `top`, every node that holds a gradient
 * running its rule. With create_graph the rules run in grad mode, so their ops
 * are recorded after `top` and are not walked now. */
static nb_status run_walk(walk *w, int64_t top) {
    bool was = nb_set_grad_enabled(w->create_graph);
    nb_status s = NB_OK;
    for (int64_t i = top; i >= 0 && s == NB_OK; i--) {
        nb_node *n = nb_tape_at(i);
        if (n->grad && (!w->live || w->live[i])) s = run_node(w, n);
    }
    for (int64_t i = top; i >= 0; i--) nb_tape_at(i)->grad = NULL; /* after errors */
    nb_set_grad_enabled(was);
    return s;
}

nb_status nb_backward_opt(nb_tensor *t, nb_tensor *seed, const nb_backward_opts *opts) {
    nb_backward_opts o = opts ? *opts : (nb_backward_opts){0};
    nb_status s = check_output("nb_backward", t);
    if (s != NB_OK) return s;
    if (seed && !nb_live("nb_backward", seed)) return NB_ERR_STATE;
    if (o.create_graph && nb_tracing())
        return nb_fail_status(NB_ERR_STATE,
                              "nb_backward: create_graph is not supported while tracing");
    nb_tensor *g = make_seed(t, seed);
    if (!g) return nb_failure_code();
    walk w = {.retain_graph = o.retain_graph || o.create_graph, .create_graph = o.create_graph};
    if (!t->node) {
        bool was = nb_set_grad_enabled(o.create_graph);
        s = accumulate_leaf(&w, t, g);
        nb_set_grad_enabled(was);
        return s;
    }
    t->node->grad = g;
    return run_walk(&w, t->node->seq);
}

nb_status nb_backward_ex(nb_tensor *t, nb_tensor *seed, bool retain_graph) {
    return nb_backward_opt(t, seed, &(nb_backward_opts){.retain_graph = retain_graph});
}

nb_status nb_backward(nb_tensor *t) {
    return nb_backward_ex(t, NULL, false);
}

/* ---- nb_grad_of ----------------------------------------------------------------- */
/* Mark the nodes that lie on a path from an output down to an input, and the
 * inputs that such a path reaches: the walk runs only those nodes, and an
 * input no path reaches is "unused". */
static void mark_paths(nb_tensor *const *out, int n_out, nb_tensor *const *in, int n_in,
                       int64_t top, bool *live, bool *reached) {
    bool *down = live; /* first pass: nodes reachable from an output */
    for (int j = 0; j < n_out; j++)
        if (out[j]->node) down[out[j]->node->seq] = true;
    bool *leads = nb_heap_alloc((size_t)(top + 1));
    if (!leads) { /* fall back to walking every reachable node */
        for (int k = 0; k < n_in; k++) reached[k] = true;
        return;
    }
    for (int64_t i = 0; i <= top; i++) leads[i] = false;
    for (int64_t i = top; i >= 0; i--) {
        const nb_node *n = nb_tape_at(i);
        if (!down[i]) continue;
        for (int a = 0; a < n->n_in; a++)
            if (n->needs_grad[a] && n->in[a]->node) down[n->in[a]->node->seq] = true;
    }
    /* second pass, upwards: a node leads to an input if the input is its
     * output or one of its gradient-taking inputs, or leads to one */
    for (int64_t i = 0; i <= top; i++) {
        const nb_node *n = nb_tape_at(i);
        if (!down[i]) continue;
        for (int k = 0; k < n_in; k++)
            if (in[k]->node == n) leads[i] = true;
        for (int a = 0; a < n->n_in; a++) {
            if (!n->needs_grad[a]) continue;
            const nb_tensor *x = n->in[a];
            for (int k = 0; k < n_in; k++)
                if (in[k] == x) leads[i] = reached[k] = true;
            if (x->node && leads[x->node->seq]) leads[i] = true;
        }
        for (int k = 0; k < n_in; k++)
            if (in[k]->node == n) reached[k] = true;
    }
    for (int64_t i = 0; i <= top; i++) live[i] = down[i] && leads[i];
    free(leads);
    for (int j = 0; j < n_out; j++)
        for (int k = 0; k < n_in; k++)
            if (out[j] == in[k]) reached[k] = true;
}

static nb_status check_grad_of_args(nb_tensor *const *out, int n_out, nb_tensor *const *in,
                                    int n_in, nb_tensor *const *seeds, nb_tensor **grads) {
    if (!out || !in || !grads || n_out < 1 || n_in < 1)
        return nb_fail_status(
            NB_ERR_NULL, "nb_grad_of: %d outputs and %d inputs, and no result array", n_out, n_in);
    for (int j = 0; j < n_out; j++) {
        nb_status s = check_output("nb_grad_of", out[j]);
        if (s != NB_OK) return s;
        if (seeds && seeds[j] && !nb_live("nb_grad_of", seeds[j])) return NB_ERR_STATE;
    }
    for (int k = 0; k < n_in; k++) {
        if (!in[k]) return (nb_fail_null("nb_grad_of"), nb_failure_code());
        if (!nb_live("nb_grad_of", in[k])) return NB_ERR_STATE;
        if (!in[k]->requires_grad)
            return nb_fail_status(NB_ERR_STATE, "nb_grad_of: input %d %s does not require grad", k,
                                  nb_shape_s(in[k]));
    }
    return NB_OK;
}

/* Seed each output's node (an output that is a leaf input gets its seed
 * directly); *top is the highest seq seeded, -1 if none. */
static nb_status seed_outputs(walk *w, nb_tensor *const *out, int n_out, nb_tensor *const *seeds,
                              int64_t *top) {
    *top = -1;
    for (int j = 0; j < n_out; j++) {
        nb_tensor *g = make_seed(out[j], seeds ? seeds[j] : NULL);
        if (!g) return nb_failure_code();
        if (!out[j]->node) {
            int k = target_index(w, out[j]);
            nb_status s = k >= 0 ? collect(w, k, g) : NB_OK;
            if (s != NB_OK) return s;
            continue;
        }
        nb_node *n = out[j]->node;
        n->grad = n->grad ? nb_add(n->grad, g) : g;
        if (!n->grad) return nb_failure_code();
        if (n->seq > *top) *top = n->seq;
    }
    return NB_OK;
}

/* An intermediate input's gradient is its node's, once every use has added to it. */
static nb_status run_grad_of_walk(walk *w, int64_t top) {
    bool was = nb_set_grad_enabled(w->create_graph);
    nb_status s = NB_OK;
    for (int64_t i = top; i >= 0 && s == NB_OK; i--) {
        nb_node *n = nb_tape_at(i);
        if (!n->grad || !w->live[i]) continue;
        for (int k = 0; k < w->n_targets && s == NB_OK; k++)
            if (w->targets[k]->node == n) s = collect(w, k, n->grad);
        if (s == NB_OK) s = run_node(w, n);
    }
    for (int64_t i = top; i >= 0; i--) nb_tape_at(i)->grad = NULL;
    nb_set_grad_enabled(was);
    return s;
}

nb_status nb_grad_of(nb_tensor *const *outputs, int n_out, nb_tensor *const *inputs, int n_in,
                     nb_tensor *const *grad_outputs, const nb_grad_opts *opts, nb_tensor **grads) {
    nb_grad_opts o = opts ? *opts : (nb_grad_opts){0};
    nb_status s = check_grad_of_args(outputs, n_out, inputs, n_in, grad_outputs, grads);
    if (s != NB_OK) return s;
    for (int k = 0; k < n_in; k++) grads[k] = NULL;
    int64_t top = -1;
    for (int j = 0; j < n_out; j++)
        if (outputs[j]->node && outputs[j]->node->seq > top) top = outputs[j]->node->seq;
    bool *live = nb_heap_alloc((size_t)(top + 2));
    bool *reached = nb_heap_alloc((size_t)n_in);
    if (!live || !reached) {
        free(live);
        free(reached);
        return nb_fail_status(NB_ERR_MEMORY, "nb_grad_of: out of memory");
    }
    for (int64_t i = 0; i <= top; i++) live[i] = false;
    for (int k = 0; k < n_in; k++) reached[k] = false;
    mark_paths(outputs, n_out, inputs, n_in, top, live, reached);
    walk w = {.retain_graph = o.retain_graph || o.create_graph,
              .create_graph = o.create_graph,
              .targets = inputs,
              .n_targets = n_in,
              .got = grads,
              .live = live};
    for (int k = 0; k < n_in && s == NB_OK; k++)
        if (!reached[k] && !o.allow_unused)
            s = nb_fail_status(
                NB_ERR_ARG,
                "nb_grad_of: input %d %s%s%s%s is not used to compute the outputs; pass "
                "allow_unused to get NULL for it",
                k, inputs[k]->name[0] ? "'" : "", inputs[k]->name, inputs[k]->name[0] ? "' " : "",
                nb_shape_s(inputs[k]));
    if (s == NB_OK) {
        bool was = nb_set_grad_enabled(o.create_graph);
        s = seed_outputs(&w, outputs, n_out, grad_outputs, &top);
        nb_set_grad_enabled(was);
    }
    if (s == NB_OK && top >= 0) s = run_grad_of_walk(&w, top);
    /* a reached input whose every path had a zero rule (a NULL gradient) gets zeros */
    for (int k = 0; k < n_in && s == NB_OK; k++)
        if (reached[k] && !grads[k]) {
            grads[k] = nb_zeros(inputs[k]->shape, inputs[k]->ndim);
            if (!grads[k]) s = nb_failure_code();
        }
    free(live);
    free(reached);
    if (s != NB_OK)
        for (int k = 0; k < n_in; k++) grads[k] = NULL;
    return s;
}
