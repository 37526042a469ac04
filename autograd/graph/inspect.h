/* A read-only walk over a compiled graph (the specialization of its latest
 * run), for pictures (tools/viz) and printing. Nodes are numbered in trace
 * order, values in the order the tracer met them; removed nodes are walked
 * too, marked not live. Not installed. */
#ifndef NB_GRAPH_INSPECT_H
#define NB_GRAPH_INSPECT_H

#include "core/core_internal.h"
#include "nabla/graph.h"

typedef enum {
    NB_GRAPH_INPUT, /* a placeholder, bound to a run's input */
    NB_GRAPH_TMP,   /* made by an op, lives in the arena */
    NB_GRAPH_VIEW,  /* another value's storage with a layout of its own */
    NB_GRAPH_PARAM, /* captured, requires grad: a parameter */
    NB_GRAPH_SAVED, /* captured, filled by a kernel for backward */
    NB_GRAPH_CONST, /* captured, fixed at trace time */
} nb_graph_value_kind;

/* "input", "tmp", "view", "param", "saved", "const" */
const char *nb_graph_value_kind_name(nb_graph_value_kind kind);

typedef struct nb_graph_value_info {
    nb_graph_value_kind kind;
    const nb_tensor *layout; /* shape and name; its data is not the run's */
    bool output;             /* an output of the graph, or viewed by one */
    int64_t offset;          /* NB_GRAPH_TMP: bytes into the arena; else -1 */
} nb_graph_value_info;

typedef struct nb_graph_node_info {
    bool live;         /* false: removed (dead, or fused into its producer) */
    const nb_node *op; /* an op (def, attrs, scope); NULL for an effect */
    bool is_effect;    /* then effect says which */
    nb_effect_kind effect;
    const char *name;  /* the op's, or the effect's ("set_grad", "bind_grad", ...) */
    const char *fused; /* the activation its kernel applies as a post-op, or NULL */
    int n_in;
    const int *in;           /* values read */
    int out;                 /* an op's output value; -1 for effects */
    int saves[NB_MAX_SAVED]; /* values it fills for a later node to read; -1 */
    int grad_target;         /* set_grad, accumulate_grad: the parameter's value; else -1 */
    bool inplace;            /* its output is written over its input 0 */
} nb_graph_node_info;

int nb_graph_value_count(const nb_graph *g);
void nb_graph_value_at(const nb_graph *g, int id, nb_graph_value_info *info);
int nb_graph_node_count(const nb_graph *g);
void nb_graph_node_at(const nb_graph *g, int i, nb_graph_node_info *info);
/* the nodes a run executes, in order: run_order[k] for k < the count */
int nb_graph_run_order(const nb_graph *g, const int **run_order);

#endif
