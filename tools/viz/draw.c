/* Graphs as pictures: the tape behind a tensor as Graphviz DOT, rendered with
 * libgvc.
 *
 * Forward: tensors are ellipses (parameters yellow boxes, inputs grey, the
 * result blue), ops are rounded boxes with their attributes; edges follow the
 * data. Backward: what nb_backward walks. Each op becomes its backward op,
 * fed by the gradient of its output and feeding the gradients of its inputs;
 * a tensor used by several ops gets a "+" node where its gradients are summed.
 */
#include "draw_internal.h"
#include "nabla/draw.h"

#include <errno.h>
#ifdef NB_HAVE_GRAPHVIZ
#include <graphviz/gvc.h>
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the graph: nodes in tape order, tensors numbered as they appear -------------- */
typedef struct {
    const nb_node **nodes;
    int n_nodes, cap_nodes;
    const nb_tensor **tensors;
    int *uses; /* how many recorded ops consume each tensor and want its gradient */
    int n_tensors, cap_tensors;
    bool oom;
} graph;

static bool has_node(const graph *g, const nb_node *n) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i] == n) return true;
    return false;
}

static void collect(graph *g, const nb_node *n) {
    if (!n || has_node(g, n) || g->oom) return;
    if (!nb_grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes)) {
        g->oom = true;
        return;
    }
    g->nodes[g->n_nodes++] = n;
    for (int i = 0; i < n->n_in; i++) collect(g, n->in[i]->node);
}

static int by_seq(const void *a, const void *b) {
    int64_t x = (*(const nb_node *const *)a)->seq, y = (*(const nb_node *const *)b)->seq;
    return (x > y) - (x < y);
}

static int tensor_id(graph *g, const nb_tensor *t) {
    for (int i = 0; i < g->n_tensors; i++)
        if (g->tensors[i] == t) return i;
    int cap = g->cap_tensors;
    if (!nb_grow((void **)&g->tensors, &g->cap_tensors, g->n_tensors + 1, sizeof *g->tensors) ||
        !nb_grow((void **)&g->uses, &cap, g->n_tensors + 1, sizeof *g->uses)) {
        g->oom = true;
        return 0;
    }
    g->tensors[g->n_tensors] = t;
    g->uses[g->n_tensors] = 0;
    return g->n_tensors++;
}

static void build(graph *g, const nb_tensor *root) {
    collect(g, root->node);
    if (g->n_nodes) qsort(g->nodes, (size_t)g->n_nodes, sizeof *g->nodes, by_seq);
    for (int i = 0; i < g->n_nodes && !g->oom; i++) {
        const nb_node *n = g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int id = tensor_id(g, n->in[k]);
            if (!g->oom && n->needs_grad[k]) g->uses[id]++;
        }
        if (n->out) tensor_id(g, n->out);
    }
    tensor_id(g, root);
}

/* ---- labels --------------------------------------------------------------------------- */
static void put_values(nb_text *t, const nb_tensor *x, int max_values) {
    if (x->numel > max_values) return;
    nb_text_put(t, x->numel == 1 ? "\\n= " : "\\n= [");
    for (int64_t i = 0; i < x->numel; i++)
        nb_text_put(t, i ? ", %.4g" : "%.4g", (double)nb_get_flat(x, i));
    if (x->numel != 1) nb_text_put(t, "]");
}

static void put_tensor_label(nb_text *t, const nb_tensor *x, int id, int max_values) {
    if (x->name[0])
        nb_text_put_escaped(t, x->name);
    else
        nb_text_put(t, "t%d", id);
    nb_text_put(t, "\\n%s", nb_shape_s(x));
    put_values(t, x, max_values);
    if (x->grad && x->grad->numel <= max_values) {
        nb_text_put(t, "\\ngrad");
        put_values(t, x->grad, max_values);
    }
}

/* ---- the one style table (eager tapes and compiled graphs) ------------------------- */
const char *nb_viz_style(nb_viz_role what) {
    static const char *const styles[NB_VIZ_STYLES] = {
        [NB_VIZ_RESULT] = "shape=ellipse, style=\"filled,bold\", fillcolor=\"#cfe3ff\"",
        [NB_VIZ_PARAM] = "shape=box, style=filled, fillcolor=\"#fff2b3\"",
        [NB_VIZ_INPUT] = "shape=ellipse, style=filled, fillcolor=\"#e8e8e8\"",
        [NB_VIZ_CONST] = "shape=ellipse, style=filled, fillcolor=\"#f4f4f4\"",
        [NB_VIZ_TENSOR] = "shape=ellipse",
        [NB_VIZ_OP] = "shape=box, style=\"rounded,filled\", fillcolor=\"#dde8f0\"",
        [NB_VIZ_VIEW_OP] = "shape=box, style=\"rounded,dashed\", fillcolor=\"#dde8f0\"",
        [NB_VIZ_BACKWARD_OP] = "shape=box, style=\"rounded,filled\", fillcolor=\"#f6dcdc\"",
        [NB_VIZ_EFFECT] = "shape=box, style=\"rounded,filled\", fillcolor=\"#f4d6d6\"",
        [NB_VIZ_SEED] = "shape=plaintext",
        [NB_VIZ_SUM] = "shape=circle",
        [NB_VIZ_LAYER] = "style=rounded; color=\"#8c8c8c\"",
        [NB_VIZ_FUSED] = "style=\"rounded,dashed\"",
        [NB_VIZ_GRAD_EDGE] = "style=dashed, color=\"#a03030\"",
        [NB_VIZ_SAVES_EDGE] = "style=dashed",
    };
    return what >= 0 && what < NB_VIZ_STYLES ? styles[what] : "";
}

static const char *tensor_style(const nb_tensor *x, const nb_tensor *root) {
    if (x == root) return nb_viz_style(NB_VIZ_RESULT);
    if (!x->node && x->requires_grad) return nb_viz_style(NB_VIZ_PARAM);
    if (!x->node) return nb_viz_style(NB_VIZ_INPUT);
    return nb_viz_style(NB_VIZ_TENSOR);
}

void nb_viz_op_label(nb_text *t, const char *name, const char *suffix, const nb_node *n) {
    nb_text_put(t, "%s%s", name, suffix);
    char attrs[256];
    if (n && n->def->print_attrs && n->def->print_attrs(n, attrs, sizeof attrs) > 0 && attrs[0]) {
        nb_text_put(t, "\\n");
        nb_text_put_escaped(t, attrs);
    }
}

void nb_viz_layer_begin(nb_text *t, const char *prefix, int id, const char *scope) {
    nb_text_put(t, "  subgraph cluster_%s%d {\n  label=\"", prefix, id);
    nb_text_put_escaped(t, scope);
    nb_text_put(t, "\"; %s;\n", nb_viz_style(NB_VIZ_LAYER));
}

/* ---- forward and backward drawings ------------------------------------------------------- */
/* the op that produced tensor x within the graph, or -1 */
static int producer(const graph *g, const nb_tensor *x) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->out == x) return i;
    return -1;
}

static void put_tensor_node(nb_text *t, graph *g, int i, const nb_tensor *root, int max_values) {
    nb_text_put(t, "  t%d [%s, label=\"", i, tensor_style(g->tensors[i], root));
    put_tensor_label(t, g->tensors[i], i, max_values);
    nb_text_put(t, "\"];\n");
}

static void put_op_node(nb_text *t, const graph *g, int i) {
    nb_text_put(t, "  op%d [%s, label=\"", i, nb_viz_style(NB_VIZ_OP));
    nb_viz_op_label(t, g->nodes[i]->def->name, "", g->nodes[i]);
    nb_text_put(t, "\"];\n");
}

/* Ops run in a name scope (an nn layer), with the tensors they produce, are
 * drawn inside a box labelled with the scope; scopes in order of first use. */
static void draw_forward(nb_text *t, graph *g, const nb_tensor *root, int max_values) {
    for (int i = 0; i < g->n_tensors; i++) {
        int p = producer(g, g->tensors[i]);
        if (p < 0 || !g->nodes[p]->scope[0]) put_tensor_node(t, g, i, root, max_values);
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i]->scope[0]) put_op_node(t, g, i);
    int cluster = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const char *scope = g->nodes[i]->scope;
        bool first = scope[0];
        for (int j = 0; j < i && first; j++) first = strcmp(g->nodes[j]->scope, scope) != 0;
        if (!first) continue;
        nb_viz_layer_begin(t, "", cluster++, scope);
        for (int j = i; j < g->n_nodes; j++) {
            if (strcmp(g->nodes[j]->scope, scope)) continue;
            put_op_node(t, g, j);
            if (g->nodes[j]->out)
                put_tensor_node(t, g, tensor_id(g, g->nodes[j]->out), root, max_values);
        }
        nb_text_put(t, "  }\n");
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const nb_node *n = g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            nb_text_put(t, "  t%d -> op%d;\n", tensor_id(g, n->in[k]), i);
        if (n->out) nb_text_put(t, "  op%d -> t%d;\n", i, tensor_id(g, n->out));
    }
}

static void draw_backward(nb_text *t, graph *g, const nb_tensor *root, int max_values) {
    nb_text_put(t, "  seed [%s, label=\"1\"];\n", nb_viz_style(NB_VIZ_SEED));
    for (int i = 0; i < g->n_tensors; i++) {
        const nb_tensor *x = g->tensors[i];
        if (!x->requires_grad) continue;
        nb_text_put(t, "  g%d [%s, label=\"d", i, tensor_style(x, root));
        nb_text_put_escaped(t, root->name[0] ? root->name : "out");
        nb_text_put(t, "/d");
        if (x->name[0])
            nb_text_put_escaped(t, x->name);
        else
            nb_text_put(t, "t%d", i);
        nb_text_put(t, "\\n%s", nb_shape_s(x));
        if (x->grad) put_values(t, x->grad, max_values);
        nb_text_put(t, "\"];\n");
        if (g->uses[i] > 1) {
            nb_text_put(t, "  sum%d [%s, label=\"+\"];\n", i, nb_viz_style(NB_VIZ_SUM));
            nb_text_put(t, "  sum%d -> g%d;\n", i, i);
        }
    }
    nb_text_put(t, "  seed -> g%d;\n", tensor_id(g, root));
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const nb_node *n = g->nodes[i];
        nb_text_put(t, "  bop%d [%s, label=\"", i, nb_viz_style(NB_VIZ_BACKWARD_OP));
        nb_viz_op_label(t, n->def->name, "_backward", n);
        nb_text_put(t, "\"];\n");
        if (n->out) nb_text_put(t, "  g%d -> bop%d;\n", tensor_id(g, n->out), i);
        for (int k = 0; k < n->n_in; k++) {
            if (!n->needs_grad[k]) continue;
            int id = tensor_id(g, n->in[k]);
            nb_text_put(t, "  bop%d -> %s%d;\n", i, g->uses[id] > 1 ? "sum" : "g", id);
        }
    }
}

char *nb_draw(const nb_tensor *root, const nb_draw_opts *opts) {
    if (!root) return nb_fail_null("nb_draw");
    nb_draw_opts o = opts ? *opts : (nb_draw_opts){0};
    int max_values = o.max_values == 0 ? 4 : o.max_values < 0 ? -1 : o.max_values;
    graph g = {0};
    nb_text t = {0};
    build(&g, root);
    nb_text_put(&t,
                "digraph nabla {\n  rankdir=%s;\n  graph [fontname=\"Helvetica\"];\n  node "
                "[fontname=\"Helvetica\", fontsize=11];\n",
                o.backward ? "TB" : "BT");
    if (o.title) {
        nb_text_put(&t, "  labelloc=t;\n  label=\"");
        nb_text_put_escaped(&t, o.title);
        nb_text_put(&t, "\";\n");
    }
    if (!g.oom) {
        if (o.backward)
            draw_backward(&t, &g, root, max_values);
        else
            draw_forward(&t, &g, root, max_values);
    }
    nb_text_put(&t, "}\n");
    free(g.nodes);
    free(g.tensors);
    free(g.uses);
    if (g.oom || t.oom) {
        free(t.s);
        return nb_fail(NB_ERR_MEMORY, "nb_draw: out of memory building the graph");
    }
    return t.s;
}

/* ---- saving ---------------------------------------------------------------------------- */
static const char *format_of(const char *path) {
    const char *dot = strrchr(path, '.');
    if (!dot) return NULL;
    static const char *const known[] = {"dot", "svg", "png", "pdf"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(dot + 1, known[i])) return known[i];
    return NULL;
}

/* path's format, or NULL with an error naming fn */
static const char *check_format(const char *fn, const char *path) {
    const char *format = format_of(path);
    if (!format)
        nb_fail(NB_ERR_ARG, "%s: %s: the extension must be .dot, .svg, .png or .pdf", fn, path);
    return format;
}

#ifdef NB_HAVE_GRAPHVIZ
/* One Graphviz context for the whole process, never freed: Graphviz 2.43
 * reads freed memory (its text-size font cache) when a second context is
 * created after the first is freed, which AddressSanitizer reports. */
static GVC_t *graphviz(void) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static GVC_t *gvc;
    pthread_mutex_lock(&lock);
    if (!gvc) gvc = gvContext();
    pthread_mutex_unlock(&lock);
    return gvc;
}

/* The picture of dot_text as format, written to f. Graphviz renders into
 * memory: its gvRenderFilename writes in place and ignores write errors (a
 * full disk gave a truncated file and success). */
static nb_status render(const char *fn, const char *dot_text, const char *format, FILE *f,
                        const char *path) {
    GVC_t *gvc = graphviz();
    if (!gvc) return nb_fail_status(NB_ERR_MEMORY, "%s: Graphviz could not start", fn);
    Agraph_t *g = agmemread(dot_text);
    nb_status s = NB_OK;
    if (!g)
        s = nb_fail_status(NB_ERR_FORMAT, "%s: Graphviz could not read the graph", fn);
    else if (gvLayout(gvc, g, "dot") != 0)
        s = nb_fail_status(NB_ERR_IO, "%s: Graphviz could not lay out the graph", fn);
    else {
        char *data = NULL;
        unsigned int len = 0;
        if (gvRenderData(gvc, g, format, &data, &len) != 0 || !data)
            s = nb_fail_status(NB_ERR_IO, "%s: Graphviz could not render %s as %s", fn, path,
                               format);
        else if (fwrite(data, 1, len, f) != len)
            s = nb_fail_status(NB_ERR_IO, "%s: writing %s failed", fn, path);
        if (data) gvFreeRenderData(data);
        gvFreeLayout(gvc, g);
    }
    if (g) agclose(g);
    return s;
}
#else
/* Built without Graphviz (-Dgraphviz=disabled, or libgvc missing): the DOT
 * text is always available, pictures are not. */
static nb_status render(const char *fn, const char *dot_text, const char *format, FILE *f,
                        const char *path) {
    (void)dot_text, (void)f;
    return nb_fail_status(NB_ERR_ARG,
                          "%s: %s: this nabla was built without Graphviz, so it writes .dot only "
                          "(install libgraphviz-dev and rebuild, or render with `dot -T%s`)",
                          fn, path, format);
}
#endif

nb_status nb_draw_text_save(const char *fn, const char *dot_text, const char *path) {
    const char *format = check_format(fn, path);
    if (!format) return nb_error_code();
    nb_atomic_file a;
    FILE *f = nb_atomic_open(&a, fn, path);
    if (!f) return nb_error_code();
    nb_status s = NB_OK;
    if (!strcmp(format, "dot")) {
        if (fputs(dot_text, f) < 0)
            s = nb_fail_status(NB_ERR_IO, "%s: writing %s failed", fn, path);
    } else {
        s = render(fn, dot_text, format, f, path);
    }
    if (s == NB_OK) return nb_atomic_commit(&a);
    nb_atomic_abort(&a);
    return s;
}

nb_status nb_draw_save(const nb_tensor *root, const nb_draw_opts *opts, const char *path) {
    if (!root || !path) return (nb_fail_null("nb_draw_save"), nb_error_code());
    if (!check_format("nb_draw_save", path)) return nb_error_code(); /* before building it */
    char *dot_text = nb_draw(root, opts);
    if (!dot_text) return nb_error_code();
    nb_status s = nb_draw_text_save("nb_draw_save", dot_text, path);
    free(dot_text);
    return s;
}
