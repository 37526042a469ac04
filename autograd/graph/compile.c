/* Graph mode, compiling: the passes over a traced specialization.
 *
 * Dead-code elimination walks back from the outputs and the effects. Fusion
 * folds an activation into the op that feeds it when nothing else reads the
 * pre-activation and the op says, in its nb_op_def, that its kernel can apply
 * the activation as a oneDNN post-op (forward_fused). Gradient binding lets a
 * parameter's .grad be the graph's own buffer instead of a copy. Then plan.c
 * places every tensor in the arena and the fused ops' primitives are created.
 */
#include "graph_internal.h"

#include <stdlib.h>
#include <string.h>

static bool is_op(const graph_node *n) {
    return !n->is_effect;
}

const char *nb_graph_node_name(const graph_node *n) {
    if (is_op(n)) return n->n.def->name;
    if (n->binding) return n->effect.kind == NB_EFFECT_SET_GRAD ? "bind_grad" : "unbind_grad";
    return nb_effect_name(n->effect.kind);
}

/* ---- dead code -------------------------------------------------------------------------- */
static void mark_live(specialization *s, int id) {
    if (id < 0) return;
    s->values[id].live = true;
    s->values[s->values[id].root].live = true;
}

/* Walk back from the outputs and the effects; an op lives if its output or a
 * tensor it fills for a later op is read, or if it changes state. */
static void eliminate_dead(specialization *s, bool keep_all) {
    for (int i = 0; i < s->n_out; i++) mark_live(s, s->out[i]);
    for (int i = s->n_nodes - 1; i >= 0; i--) {
        graph_node *g = &s->nodes[i];
        bool live = keep_all || !is_op(g) || (g->n.def->flags & NB_OP_EFFECT);
        if (is_op(g) && g->out >= 0) live |= s->values[g->out].live;
        for (int k = 0; k < NB_MAX_SAVED; k++)
            if (g->saved[k] >= 0 && s->values[g->saved[k]].live) live = true;
        g->live = live;
        if (!live) {
            s->stats.removed++;
            continue;
        }
        if (is_op(g)) mark_live(s, g->out);
        for (int k = 0; k < g->n_in; k++) mark_live(s, g->in[k]);
        for (int k = 0; k < NB_MAX_SAVED; k++) mark_live(s, g->saved[k]);
    }
}

/* ---- fusion ------------------------------------------------------------------------------ */
/* How many live nodes (and outputs) read each value, a view counting for its root. */
static void count_readers(const specialization *s, int *readers) {
    memset(readers, 0, (size_t)s->n_values * sizeof *readers);
    for (int i = 0; i < s->n_nodes; i++) {
        const graph_node *g = &s->nodes[i];
        if (!g->live) continue;
        for (int k = 0; k < g->n_in; k++) readers[g->in[k]]++;
        for (int k = 0; k < NB_MAX_SAVED; k++)
            if (g->saved[k] >= 0 && s->values[g->saved[k]].writer != i) readers[g->saved[k]]++;
    }
    for (int i = 0; i < s->n_out; i++) readers[s->out[i]]++;
    for (int i = 0; i < s->n_values; i++)
        if (s->values[i].kind == VALUE_VIEW && s->values[i].root != i) readers[s->values[i].root]++;
}

/* An activation that can be a post-op, reading the output of an op that can
 * take one and that nothing else reads, becomes that op's post-op; the
 * activation's output is the op's output. */
static bool fuse(specialization *s) {
    int *readers = nb_malloc((size_t)(s->n_values ? s->n_values : 1) * sizeof *readers);
    if (!readers) return false;
    count_readers(s, readers);
    for (int i = 0; i < s->n_nodes; i++) {
        graph_node *b = &s->nodes[i];
        nb_post_op post;
        if (!b->live || !is_op(b) || !b->n.def->as_post_op || !b->n.def->as_post_op(&b->n, &post))
            continue;
        int x = b->in[0];
        const graph_value *xv = &s->values[x];
        if (xv->kind != VALUE_PRODUCED || xv->producer < 0 || readers[x] != 1) continue;
        graph_node *a = &s->nodes[xv->producer];
        if (!a->live || a->fused || !a->n.def->forward_fused) continue;
        a->post = post;
        a->fused = b->n.def->name;
        a->out = b->out;
        s->values[b->out].producer = xv->producer;
        s->values[x].live = false;
        b->live = false;
        s->stats.fused++;
    }
    free(readers);
    return true;
}

/* ---- gradient binding ------------------------------------------------------------------- */
int nb_graph_later_reader(const specialization *s, int id, int after) {
    for (int i = after + 1; i < s->n_nodes; i++) {
        const graph_node *g = &s->nodes[i];
        if (!g->live) continue;
        for (int k = 0; k < g->n_in; k++)
            if (s->values[g->in[k]].root == id) return i;
        for (int k = 0; k < NB_MAX_SAVED; k++)
            if (g->saved[k] >= 0 && s->values[g->saved[k]].root == id) return i;
    }
    return -1;
}

/* the first live zero_grad of param after node i not bound yet, or NULL */
static graph_node *zero_grad_after(specialization *s, int i, const nb_tensor *param) {
    for (int j = i + 1; j < s->n_nodes; j++) {
        graph_node *z = &s->nodes[j];
        if (z->live && node_is_effect(z, NB_EFFECT_ZERO_GRAD) && !z->binding &&
            z->effect.param == param)
            return z;
    }
    return NULL;
}

/* A parameter's gradient without a copy. Eagerly, the first gradient a leaf
 * gets in a step is copied into leaf->grad, which the optimizer reads and
 * zero_grad drops. In a graph, leaf->grad can instead be the graph's own
 * buffer holding it, from set_grad to zero_grad (which then only unhooks it),
 * when nothing else reads that buffer after set_grad (the optimizer may clip
 * the gradient in place). */
static bool bind_grads(specialization *s) {
    if (!(s->bindings = nb_calloc((size_t)s->n_nodes + 1, sizeof *s->bindings))) return false;
    for (int i = 0; i < s->n_nodes; i++) {
        graph_node *set = &s->nodes[i];
        if (!set->live || !node_is_effect(set, NB_EFFECT_SET_GRAD)) continue;
        int g = set->in[0];
        const graph_value *gv = &s->values[g];
        if (gv->kind != VALUE_PRODUCED || gv->output || !nb_is_contiguous(&gv->layout) ||
            nb_graph_later_reader(s, g, i) >= 0)
            continue;
        graph_node *zero = zero_grad_after(s, i, set->effect.param);
        if (!zero) continue; /* leaf->grad must outlive the run: keep the copy */
        grad_binding *b = &s->bindings[s->n_bindings++];
        *b = (grad_binding){set->effect.param, set->effect, zero->effect, false};
        set->binding = zero->binding = b;
        zero->in[0] = g; /* keeps the buffer alive until then */
        zero->n_in = 1;
    }
    return true;
}

/* ---- the passes ------------------------------------------------------------------------- */
/* A fused op's primitive is new: create it now (its inputs are the zeroed
 * arena or the parameters; it writes only its own output). */
static nb_status prepare(specialization *s) {
    for (int k = 0; k < s->n_order; k++) {
        graph_node *g = &s->nodes[s->order[k]];
        nb_status st = g->fused ? nb_graph_run_node(g) : NB_OK;
        if (st != NB_OK) return st;
    }
    return NB_OK;
}

nb_status nb_graph_compile(specialization *s, const nb_graph_opts *o, nb_tensor *const *in) {
    s->stats.traced_ops = s->n_nodes;
    eliminate_dead(s, o->no_dce);
    if (!o->no_fusion && !fuse(s)) s->oom = true;
    if (!o->no_inplace && !bind_grads(s)) s->oom = true;
    if (s->oom || !nb_graph_plan_memory(s, o) || !nb_graph_materialize(s))
        return nb_fail_status(NB_ERR_MEMORY, "nb_trace: out of memory compiling a graph of %d ops",
                              s->n_nodes);
    nb_graph_bind_inputs(s, in);
    return prepare(s);
}
