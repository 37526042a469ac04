/* A compiled graph (graph mode) as a picture, drawn from its read-only walk
 * (autograd/graph/inspect.h) with the styles of draw.c.
 *
 * Values are drawn once, when first met; a fused op is a dashed box holding
 * the op and its activation, the ops of a layer (a name scope) a box labelled
 * with the layer's name. A gradient reaching a parameter is a dashed "grad"
 * edge, the optimizer's step a dashed "update" edge to each such parameter, a
 * tensor a kernel saves for backward a dashed "saves" edge; zero_grad is not
 * drawn. Those edges carry xlabels: Graphviz 2.42's dot layout frees memory
 * twice when an edge between nodes of one rank has a label.
 */
#include "autograd/graph/inspect.h"
#include "draw_internal.h"
#include "nabla/draw.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const nb_graph *g;
    nb_text t;
    bool *drawn;    /* by value: declared already */
    bool *updated;  /* by value: a parameter some gradient effect writes */
    bool *declared; /* by node: drawn inside its layer's box */
} picture;

static nb_viz_role value_style(const nb_graph_value_info *v) {
    if (v->output) return NB_VIZ_RESULT;
    switch (v->kind) {
    case NB_GRAPH_INPUT:
        return NB_VIZ_INPUT;
    case NB_GRAPH_PARAM:
        return NB_VIZ_PARAM;
    case NB_GRAPH_SAVED:
    case NB_GRAPH_CONST:
        return NB_VIZ_CONST;
    default:
        return NB_VIZ_TENSOR;
    }
}

/* inputs and captured tensors say what they are: "param [2, 1]" */
static void put_value(picture *p, int id) {
    if (p->drawn[id]) return;
    p->drawn[id] = true;
    nb_graph_value_info v;
    nb_graph_value_at(p->g, id, &v);
    bool says = v.kind == NB_GRAPH_INPUT || v.kind >= NB_GRAPH_PARAM;
    nb_text_put(&p->t, "  v%d [%s, label=\"%s%s", id, nb_viz_style(value_style(&v)),
                says ? nb_graph_value_kind_name(v.kind) : "", says ? " " : "");
    if (v.layout->name[0]) { /* the tensor's name, when it has one */
        nb_text_put_escaped(&p->t, v.layout->name);
        nb_text_put(&p->t, " ");
    }
    nb_text_put(&p->t, "%s\"];\n", nb_shape_s(v.layout));
}

/* ops are rounded boxes, effects red, views (no kernel runs) dashed */
static void put_op(picture *p, const nb_graph_node_info *n, int id) {
    nb_viz_role style = n->is_effect           ? NB_VIZ_EFFECT
                        : !n->op->def->forward ? NB_VIZ_VIEW_OP
                                               : NB_VIZ_OP;
    nb_text_put(&p->t, "  op%d [%s, label=\"", id, nb_viz_style(style));
    nb_viz_op_label(&p->t, n->name, "", n->op);
    nb_text_put(&p->t, "\"];\n");
}

/* An op (a fused one as a dashed box holding it and its post-op) and the
 * tensor it makes. */
static void put_op_group(picture *p, const nb_graph_node_info *n, int i) {
    if (n->fused) {
        nb_text_put(&p->t, "  subgraph cluster_fused%d {\n  %s; label=\"fused\";\n", i,
                    nb_viz_style(NB_VIZ_FUSED));
        put_op(p, n, i);
        nb_text_put(&p->t, "  op%d_post [%s, label=\"%s (post-op)\"];\n  op%d -> op%d_post;\n  }\n",
                    i, nb_viz_style(NB_VIZ_OP), n->fused, i, i);
    } else {
        put_op(p, n, i);
    }
    if (n->out >= 0) put_value(p, n->out);
}

static bool is_drawn_op(const nb_graph_node_info *n) {
    return n->live && n->op;
}

/* a layer's ops and what they make, boxed; in order of the layer's first op */
static void put_layers(picture *p, int n_nodes) {
    for (int i = 0; i < n_nodes; i++) {
        nb_graph_node_info a;
        nb_graph_node_at(p->g, i, &a);
        if (!is_drawn_op(&a) || !a.op->scope[0] || p->declared[i]) continue;
        nb_viz_layer_begin(&p->t, "layer", i, a.op->scope);
        for (int j = i; j < n_nodes; j++) {
            nb_graph_node_info b;
            nb_graph_node_at(p->g, j, &b);
            if (is_drawn_op(&b) && !p->declared[j] && !strcmp(b.op->scope, a.op->scope)) {
                put_op_group(p, &b, j);
                p->declared[j] = true;
            }
        }
        nb_text_put(&p->t, "  }\n");
    }
}

/* node i with its inputs and edges; views too: they connect reshapes and slices */
static void put_node(picture *p, int i, int n_values) {
    nb_graph_node_info n;
    nb_graph_node_at(p->g, i, &n);
    if (!n.live || (n.is_effect && n.effect == NB_EFFECT_ZERO_GRAD)) return;
    const char *grad_edge = nb_viz_style(NB_VIZ_GRAD_EDGE);
    if (n.grad_target >= 0) {
        put_value(p, n.in[0]);
        put_value(p, n.grad_target);
        nb_text_put(&p->t, "  v%d -> v%d [%s, xlabel=\"grad\", constraint=false];\n", n.in[0],
                    n.grad_target, grad_edge);
        return;
    }
    for (int j = 0; j < n.n_in; j++) put_value(p, n.in[j]);
    if (!p->declared[i]) put_op_group(p, &n, i);
    for (int j = 0; j < n.n_in; j++) nb_text_put(&p->t, "  v%d -> op%d;\n", n.in[j], i);
    if (n.out >= 0) nb_text_put(&p->t, "  op%d%s -> v%d;\n", i, n.fused ? "_post" : "", n.out);
    for (int j = 0; j < NB_MAX_SAVED; j++) {
        if (n.saves[j] < 0) continue;
        put_value(p, n.saves[j]);
        nb_text_put(&p->t, "  op%d -> v%d [%s, xlabel=\"saves\"];\n", i, n.saves[j],
                    nb_viz_style(NB_VIZ_SAVES_EDGE));
    }
    for (int q = 0; n.is_effect && n.effect == NB_EFFECT_OPTIMIZER_STEP && q < n_values; q++)
        if (p->updated[q])
            nb_text_put(&p->t, "  op%d -> v%d [%s, xlabel=\"update\", constraint=false];\n", i, q,
                        grad_edge);
}

char *nb_graph_draw(const nb_graph *g) {
    if (!g) return nb_fail(NB_ERR_NULL, "nb_graph_draw: graph is NULL");
    int n_values = nb_graph_value_count(g), n_nodes = nb_graph_node_count(g);
    picture p = {.g = g,
                 .drawn = nb_calloc((size_t)n_values + 1, 1),
                 .updated = nb_calloc((size_t)n_values + 1, 1),
                 .declared = nb_calloc((size_t)n_nodes + 1, 1)};
    nb_graph_stats st;
    nb_graph_get_stats(g, &st);
    if (p.drawn && p.updated && p.declared) {
        nb_text_put(&p.t,
                    "digraph nabla_graph {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", "
                    "fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n"
                    "  labelloc=t;\n  label=\"compiled training step: %d ops, %d fused, arena "
                    "%lld bytes\";\n",
                    st.ops, st.fused, (long long)st.arena_bytes);
        for (int i = 0; i < n_nodes; i++) {
            nb_graph_node_info n;
            nb_graph_node_at(g, i, &n);
            if (n.live && n.grad_target >= 0) p.updated[n.grad_target] = true;
        }
        put_layers(&p, n_nodes);
        for (int i = 0; i < n_nodes; i++) put_node(&p, i, n_values);
        nb_text_put(&p.t, "}\n");
    }
    bool oom = !p.drawn || !p.updated || !p.declared || p.t.oom;
    free(p.drawn);
    free(p.updated);
    free(p.declared);
    if (oom) {
        free(p.t.s);
        return nb_fail(NB_ERR_MEMORY, "nb_graph_draw: out of memory");
    }
    return p.t.s;
}

nb_status nb_graph_draw_save(const nb_graph *g, const char *path) {
    if (!g || !path)
        return nb_fail_status(NB_ERR_NULL, "nb_graph_draw_save: %s is NULL", g ? "path" : "graph");
    char *dot = nb_graph_draw(g);
    if (!dot) return nb_error_code();
    nb_status s = nb_draw_text_save("nb_graph_draw_save", dot, path);
    free(dot);
    return s;
}
