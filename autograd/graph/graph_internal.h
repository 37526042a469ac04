/* Graph mode's insides, shared by its four files (include/nabla/graph.h is
 * the manual):
 *
 *   trace.c    the recording hooks: every op and side effect of one call of
 *              the traced function becomes a node; every tensor met, a value
 *   compile.c  dead code, fusion, gradient binding; the driver of the passes
 *   plan.c     lifetimes -> offsets in one arena; the graph's own tensors
 *   run.c      replay, outputs, statistics, printing, inspection (inspect.h)
 *
 * A graph keeps one specialization per shape signature of its inputs. Not
 * installed. */
#ifndef NB_GRAPH_INTERNAL_H
#define NB_GRAPH_INTERNAL_H

#include "ops/op.h"
#include "inspect.h"
#include "nabla/graph.h"

#define NB_GRAPH_MAX_SHAPES 16 /* specializations a graph keeps */
#define NB_ARENA_ALIGN      64 /* every tensor of the arena starts at a multiple */

/* What a value of the graph is: an input placeholder, the output of a
 * recorded op, a view into another value's storage, or a captured tensor (a
 * parameter, a constant, a saved tensor of a kernel) whose storage the graph
 * keeps a reference to. */
typedef enum { VALUE_INPUT, VALUE_PRODUCED, VALUE_VIEW, VALUE_CAPTURED } value_kind;

typedef struct graph_value {
    value_kind kind;
    int root;     /* VALUE_VIEW: the value whose storage it shares (never a view) */
    int producer; /* node that makes it, -1 for none */
    int writer;   /* VALUE_CAPTURED saved tensors: the node whose forward fills it */
    int input;    /* VALUE_INPUT: position among the inputs */
    nb_tensor layout;
    const nb_tensor *orig; /* VALUE_CAPTURED: the tensor itself (a parameter: the leaf) */
    nb_tensor *t;          /* the graph's header (captured: made at trace time) */
    size_t nbytes;
    int64_t first, last, off; /* plan.c: first write, last read, arena offset in bytes */
    bool output, live;
} graph_value;

/* A parameter whose gradient lives in the arena (compile.c, bind_grads): its
 * set_grad and zero_grad nodes bind and unbind leaf->grad instead of copying. */
typedef struct grad_binding {
    nb_tensor *leaf;
    nb_effect set, zero; /* what set_grad and zero_grad did eagerly */
    bool bound;          /* leaf->grad is this graph's buffer now */
} grad_binding;

/* A recorded op or side effect. */
typedef struct graph_node {
    nb_node n; /* def, attrs, needs_grad and scope from the trace; tensors set by plan.c */
    int in[NB_MAX_INPUTS], n_in, out, saved[NB_MAX_SAVED]; /* values */
    bool is_effect;
    nb_effect effect;      /* is_effect: what was reported; a run passes its grad as in[0] */
    grad_binding *binding; /* a set_grad or zero_grad turned into binding, or NULL */
    const char *fused;     /* the activation folded into this op as its post-op */
    nb_post_op post;
    bool live, inplace;
} graph_node;

/* pointer -> value, for the tensors and storages met while tracing */
typedef struct value_map {
    struct value_map_slot *slots;
    int cap, len;
} value_map;

/* The graph traced and compiled for one shape signature of the inputs. */
typedef struct specialization {
    int n_in;
    nb_tensor sig[NB_GRAPH_MAX_IO]; /* the inputs' layouts it was traced with */
    graph_value *values;            /* inputs first, in input order */
    int n_values, cap_values;
    graph_node *nodes; /* in trace order */
    int n_nodes, cap_nodes;
    int out[NB_GRAPH_MAX_IO], n_out;
    int *order; /* live nodes with work, in run order */
    int n_order;
    float *arena;
    nb_storage *stor;       /* one per produced root */
    grad_binding *bindings; /* parameters whose gradient is a buffer of the arena */
    int n_bindings;
    nb_graph_stats stats;
    value_map tensors, storages; /* trace.c, while tracing */
    nb_hooks hooks;              /* trace.c, installed while tracing */
    bool oom;
} specialization;

struct nb_graph {
    nb_trace_fn fn;
    void *ctx;
    nb_graph_opts opts;
    specialization *specs[NB_GRAPH_MAX_SHAPES];
    int n_specs, last; /* last: the one the latest run used */
};

/* ---- trace.c -------------------------------------------------------------------------- */
/* A trace is running on this thread (autograd's create_graph refuses it). */
bool nb_tracing(void);
/* Call g->fn on in under tracing and compile what it did; fn names the public
 * call (nb_trace, or nb_graph_run for a new shape) in errors. */
specialization *nb_graph_trace_call(const char *fn, nb_graph *g, nb_tensor *const *in, int n);
void nb_graph_spec_free(specialization *s);
/* n inputs, none NULL; errors name fn */
nb_status nb_graph_check_inputs(const char *fn, nb_tensor *const *in, int n);
/* a header of the graph's own with t's layout; ref: it holds a reference to t's storage */
nb_tensor *nb_graph_own_header(const nb_tensor *t, bool ref);

/* ---- compile.c ------------------------------------------------------------------------ */
nb_status nb_graph_compile(specialization *s, const nb_graph_opts *o, nb_tensor *const *in);
/* "linear", "set_grad", "bind_grad", ... */
const char *nb_graph_node_name(const graph_node *n);
/* the first live node after `after` that reads value id (through any view), or -1 */
int nb_graph_later_reader(const specialization *s, int id, int after);
static inline bool node_is_effect(const graph_node *n, nb_effect_kind kind) {
    return n->is_effect && n->effect.kind == kind;
}

/* ---- plan.c --------------------------------------------------------------------------- */
/* Offsets in the arena for every produced tensor (stats.arena_bytes). */
bool nb_graph_plan_memory(specialization *s, const nb_graph_opts *o);
/* The arena, the graph's tensor headers and the run order. */
bool nb_graph_materialize(specialization *s);

/* ---- run.c ---------------------------------------------------------------------------- */
/* Point the input placeholders (and their views) at the data of in. */
void nb_graph_bind_inputs(specialization *s, nb_tensor *const *in);
/* One node's work: its forward kernel (with its post-op) or its effect. */
nb_status nb_graph_run_node(graph_node *n);

#endif
