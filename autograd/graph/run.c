/* Graph mode, running: a run finds the specialization for its inputs' shapes
 * (tracing one anew for new shapes), points the input placeholders at the
 * inputs' data and calls the nodes' kernels and effects in order, nothing
 * else. Also what a graph tells about itself: outputs, statistics, the
 * printed listing and the walk pictures are drawn from (inspect.h).
 */
#include "graph_internal.h"

#include <stdlib.h>
#include <string.h>

static bool same_layout(const nb_tensor *a, const nb_tensor *b) {
    return nb_same_shape(a, b) &&
           !memcmp(a->strides, b->strides, (size_t)a->ndim * sizeof *a->strides);
}

/* the specialization traced for these inputs' shapes and strides, or -1 */
static int find(const nb_graph *g, nb_tensor *const *in, int n) {
    for (int k = 0; k < g->n_specs; k++) {
        const specialization *s = g->specs[k];
        bool same = s->n_in == n;
        for (int i = 0; same && i < n; i++) same = same_layout(&s->sig[i], in[i]);
        if (same) return k;
    }
    return -1;
}

void nb_graph_bind_inputs(specialization *s, nb_tensor *const *in) {
    for (int i = 0; i < s->n_in; i++) {
        nb_tensor *t = s->values[i].t; /* inputs are the first values */
        t->storage = in[i]->storage;
        t->offset = in[i]->offset;
    }
    for (int i = s->n_in; i < s->n_values; i++) { /* views of an input follow it */
        graph_value *v = &s->values[i];
        const graph_value *r = &s->values[v->root];
        if (v->kind != VALUE_VIEW || r->kind != VALUE_INPUT) continue;
        v->t->storage = r->t->storage;
        v->t->offset = v->layout.offset - s->sig[r->input].offset + r->t->offset;
    }
}

/* ---- effects -------------------------------------------------------------------------- */
/* A bound gradient (compile.c, bind_grads): set_grad makes the graph's buffer
 * leaf->grad, zero_grad unhooks it. A gradient left from before is added to. */
static nb_status bind_grad(grad_binding *b, nb_tensor *grad) {
    if (b->leaf->grad) {
        nb_effect add = b->set;
        add.grad = grad;
        return add.redo(&add);
    }
    b->leaf->grad = grad;
    b->bound = true;
    return NB_OK;
}

static nb_status unbind_grad(grad_binding *b, nb_tensor *grad) {
    nb_status s = NB_OK;
    if (b->bound && b->leaf->grad == grad)
        b->leaf->grad = NULL;
    else if (b->leaf->grad)
        s = b->zero.redo(&b->zero);
    b->bound = false;
    return s;
}

static nb_status run_effect(graph_node *n) {
    nb_tensor *grad = n->n_in ? n->n.in[0] : NULL;
    if (n->binding)
        return n->effect.kind == NB_EFFECT_SET_GRAD ? bind_grad(n->binding, grad)
                                                    : unbind_grad(n->binding, grad);
    nb_effect e = n->effect;
    e.grad = grad;
    return e.redo(&e);
}

nb_status nb_graph_run_node(graph_node *n) {
    if (n->is_effect) return run_effect(n);
    if (n->fused) return n->n.def->forward_fused(&n->n, &n->post);
    return n->n.def->forward(&n->n);
}

static nb_status replay(specialization *s) {
    nb_status st = NB_OK;
    nb_no_grad_begin();
    nb_scope_begin();
    for (int k = 0; k < s->n_order && st == NB_OK; k++) {
        graph_node *n = &s->nodes[s->order[k]];
        st = nb_graph_run_node(n);
        if (st != NB_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", nb_error());
            st = nb_fail_status(st, "nb_graph_run: step %d (%s%s%s): %s", k, nb_graph_node_name(n),
                                n->fused ? "+" : "", n->fused ? n->fused : "", msg);
        }
    }
    nb_scope_end();
    nb_no_grad_end();
    return st;
}

/* ---- running ------------------------------------------------------------------------ */
static void shapes_s(char *buf, size_t size, nb_tensor *const *in, int n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", nb_shape_s(in[i]));
}

nb_status nb_graph_run(nb_graph *g, nb_tensor *const *inputs, int n_inputs, nb_tensor **outputs) {
    if (!g) return nb_fail_status(NB_ERR_NULL, "nb_graph_run: graph is NULL");
    nb_status checked = nb_graph_check_inputs("nb_graph_run", inputs, n_inputs);
    if (checked != NB_OK) return checked;
    if (nb_tracing()) /* its effects would be recorded without the ops around them */
        return nb_fail_status(NB_ERR_STATE,
                              "nb_graph_run: called inside a trace; run the step itself "
                              "there instead");
    int k = find(g, inputs, n_inputs);
    if (k < 0) {
        if (g->n_specs == NB_GRAPH_MAX_SHAPES)
            return nb_fail_status(NB_ERR_ARG,
                                  "nb_graph_run: a %dth shape signature; a graph keeps at most %d",
                                  NB_GRAPH_MAX_SHAPES + 1, NB_GRAPH_MAX_SHAPES);
        if (!g->opts.quiet) {
            char shapes[256];
            shapes_s(shapes, sizeof shapes, inputs, n_inputs);
            fprintf(stderr, "nabla: tracing the graph again for inputs %s (shape signature %d)\n",
                    shapes, g->n_specs + 1);
        }
        specialization *s = nb_graph_trace_call("nb_graph_run", g, inputs, n_inputs);
        if (!s) return nb_failure_code();
        g->specs[k = g->n_specs++] = s;
    } else {
        nb_graph_bind_inputs(g->specs[k], inputs);
        nb_status st = replay(g->specs[k]);
        if (st != NB_OK) return st;
    }
    g->last = k;
    if (outputs) nb_graph_outputs(g, outputs);
    return NB_OK;
}

int nb_graph_outputs(const nb_graph *g, nb_tensor **outputs) {
    if (!g) return (nb_fail(NB_ERR_NULL, "nb_graph_outputs: graph is NULL"), -1);
    const specialization *s = g->specs[g->last];
    if (outputs)
        for (int i = 0; i < s->n_out; i++) outputs[i] = s->values[s->out[i]].t;
    return s->n_out;
}

nb_status nb_graph_get_stats(const nb_graph *g, nb_graph_stats *stats) {
    if (!g || !stats)
        return nb_fail_status(NB_ERR_NULL, "nb_graph_get_stats: %s is NULL", g ? "stats" : "graph");
    *stats = g->specs[g->last]->stats;
    stats->shapes = g->n_specs;
    return NB_OK;
}

/* ---- inspection (inspect.h) --------------------------------------------------------- */
const char *nb_graph_value_kind_name(nb_graph_value_kind kind) {
    static const char *const names[] = {"input", "tmp", "view", "param", "saved", "const"};
    return kind >= NB_GRAPH_INPUT && kind <= NB_GRAPH_CONST ? names[kind] : "value";
}

int nb_graph_value_count(const nb_graph *g) {
    return g->specs[g->last]->n_values;
}

/* a captured tensor is a parameter, a tensor a kernel saved for backward, or a constant */
static nb_graph_value_kind kind_of(const graph_value *v) {
    switch (v->kind) {
    case VALUE_INPUT:
        return NB_GRAPH_INPUT;
    case VALUE_PRODUCED:
        return NB_GRAPH_TMP;
    case VALUE_VIEW:
        return NB_GRAPH_VIEW;
    case VALUE_CAPTURED:
        break;
    }
    if (v->layout.requires_grad) return NB_GRAPH_PARAM;
    return v->writer >= 0 ? NB_GRAPH_SAVED : NB_GRAPH_CONST;
}

void nb_graph_value_at(const nb_graph *g, int id, nb_graph_value_info *info) {
    const graph_value *v = &g->specs[g->last]->values[id];
    *info = (nb_graph_value_info){kind_of(v), &v->layout, v->output,
                                  v->kind == VALUE_PRODUCED ? v->off : -1};
}

int nb_graph_node_count(const nb_graph *g) {
    return g->specs[g->last]->n_nodes;
}

/* The parameter a gradient effect writes to, as a value of the graph (-1 if none). */
static int grad_target(const specialization *s, const graph_node *n) {
    bool grad =
        node_is_effect(n, NB_EFFECT_SET_GRAD) || node_is_effect(n, NB_EFFECT_ACCUMULATE_GRAD);
    for (int i = 0; grad && i < s->n_values; i++)
        if (s->values[i].kind == VALUE_CAPTURED && s->values[i].orig == n->effect.param) return i;
    return -1;
}

void nb_graph_node_at(const nb_graph *g, int i, nb_graph_node_info *info) {
    const specialization *s = g->specs[g->last];
    const graph_node *n = &s->nodes[i];
    *info = (nb_graph_node_info){
        .live = n->live,
        .op = n->is_effect ? NULL : &n->n,
        .is_effect = n->is_effect,
        .effect = n->effect.kind,
        .name = nb_graph_node_name(n),
        .fused = n->fused,
        .n_in = n->n_in,
        .in = n->in,
        .out = n->is_effect ? -1 : n->out,
        .grad_target = grad_target(s, n),
        .inplace = n->inplace,
    };
    for (int k = 0; k < NB_MAX_SAVED; k++) {
        int v = n->is_effect ? -1 : n->saved[k];
        bool fills = v >= 0 && s->values[v].writer == i && nb_graph_later_reader(s, v, i) >= 0;
        info->saves[k] = fills ? v : -1;
    }
}

int nb_graph_run_order(const nb_graph *g, const int **run_order) {
    const specialization *s = g->specs[g->last];
    *run_order = s->order;
    return s->n_order;
}

nb_status nb_graph_print(const nb_graph *g, FILE *f) {
    if (!g || !f)
        return nb_fail_status(NB_ERR_NULL, "nb_graph_print: %s is NULL", g ? "f" : "graph");
    const specialization *s = g->specs[g->last];
    const nb_graph_stats *st = &s->stats;
    fprintf(f,
            "graph: %d ops and %d effects run (%d recorded, %d dead removed, %d activations "
            "fused, %d in place)\n"
            "arena: %lld bytes for tensors of %lld bytes in all; %d shape signature%s\n",
            st->ops, s->n_order - st->ops, st->traced_ops, st->removed, st->fused, st->inplace,
            (long long)st->arena_bytes, (long long)st->tensor_bytes, g->n_specs,
            g->n_specs == 1 ? "" : "s");
    for (int k = 0; k < s->n_order; k++) {
        nb_graph_node_info n;
        nb_graph_node_at(g, s->order[k], &n);
        char name[80];
        snprintf(name, sizeof name, "%s%s%s", n.name, n.fused ? "+" : "", n.fused ? n.fused : "");
        fprintf(f, "%4d  %-34s", k, name);
        for (int i = 0; i < n.n_in; i++) {
            nb_graph_value_info x;
            nb_graph_value_at(g, n.in[i], &x);
            fprintf(f, "%s%s %s", i ? ", " : "", nb_graph_value_kind_name(x.kind),
                    nb_shape_s(x.layout));
        }
        if (n.out >= 0) {
            nb_graph_value_info y;
            nb_graph_value_at(g, n.out, &y);
            fprintf(f, " -> %s", nb_shape_s(y.layout));
            if (y.offset >= 0) fprintf(f, " @%lld", (long long)y.offset);
            if (n.inplace) fprintf(f, " (in place)");
        }
        if (n.op && n.op->scope[0]) fprintf(f, "  [%s]", n.op->scope);
        fputc('\n', f);
    }
    return ferror(f) ? nb_fail_status(NB_ERR_IO, "nb_graph_print: writing failed") : NB_OK;
}
