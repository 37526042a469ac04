/* nabla graph mode: trace a step once, compile it, replay it.
 *
 * nb_trace runs a C function once with tracing on. Every op it runs (forward,
 * the backward pass nb_backward makes, reshapes and views) and every side
 * effect outside ops (a parameter's gradient, an optimizer update, zero_grad)
 * is written into a graph: placeholders for the inputs, references to the
 * parameters and optimizer state it touched, and the function's outputs. The
 * graph is then compiled: dead ops dropped, linear/conv + activation fused into
 * one oneDNN primitive, every intermediate tensor given an offset in one arena
 * (tensors whose lifetimes do not overlap share memory), primitives created.
 * nb_graph_run replays it with no allocation and no shape checks.
 *
 * What is fixed at trace time: control flow (an `if` on a tensor's value, a
 * loop count), tensors made outside ops (nb_from_array, nb_fill, writes through
 * nb_data) which replay as the constants they were, and the shapes of the
 * inputs. Inputs of other shapes are traced again (one graph per shape
 * signature, kept; a line on stderr says so). Parameters and optimizers are
 * borrowed: they must outlive the graph.
 */
#ifndef NABLA_GRAPH_H
#define NABLA_GRAPH_H

#include "core.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NB_GRAPH_MAX_IO 8

typedef struct nb_graph nb_graph;

/* The traced function: read inputs[0..n_inputs), put up to NB_GRAPH_MAX_IO
 * results in outputs and their count in *n_outputs. */
typedef nb_status (*nb_trace_fn)(void *ctx, nb_tensor *const *inputs, int n_inputs,
                                 nb_tensor **outputs, int *n_outputs);

/* Compilation passes, all on by default (a zeroed struct); each can be turned
 * off, e.g. to compare results. Fusion folds an activation into the linear or
 * conv2d before it when nothing else reads the pre-activation: always in a
 * forward pass; in training for the activations whose backward reads their
 * output (relu, leaky relu with alpha >= 0, sigmoid, tanh, elu, exp, sqrt). */
typedef struct nb_graph_opts {
    bool no_dce;         /* keep ops whose results nothing uses */
    bool no_fusion;      /* keep linear/conv2d and their activation apart */
    bool no_memory_plan; /* every tensor its own buffer */
    bool no_inplace;     /* no output written over a dying input, and a parameter's
                          * gradient copied into its .grad as eagerly (not read in place) */
    bool quiet;          /* no line on stderr when tracing again */
} nb_graph_opts;

/* Run fn once on inputs (a real call: a training step trains), record it and
 * compile it. NULL on failure, with the error of fn or of the tracer. */
nb_graph *nb_trace(nb_trace_fn fn, void *ctx, nb_tensor *const *inputs, int n_inputs);
nb_graph *nb_trace_ex(nb_trace_fn fn, void *ctx, nb_tensor *const *inputs, int n_inputs,
                      const nb_graph_opts *opts);
void nb_graph_free(nb_graph *g);

/* One more call of fn, replayed. outputs receive tensors owned by the graph,
 * valid until the next run or nb_graph_free. */
nb_status nb_graph_run(nb_graph *g, nb_tensor *const *inputs, int n_inputs, nb_tensor **outputs);
/* The outputs of the latest run (or of the trace); returns their count. */
int nb_graph_outputs(const nb_graph *g, nb_tensor **outputs);

/* What compilation did, for the graph of the latest run. */
typedef struct nb_graph_stats {
    int traced_ops;       /* ops and effects recorded */
    int ops;              /* what a run executes (views and removed ops excluded) */
    int removed;          /* dead ops dropped */
    int fused;            /* activations folded into their producer */
    int inplace;          /* outputs written over their input */
    int64_t arena_bytes;  /* the one buffer all intermediate tensors live in */
    int64_t tensor_bytes; /* what those tensors would take each on its own */
    int shapes;           /* shape signatures traced so far */
} nb_graph_stats;
nb_status nb_graph_get_stats(const nb_graph *g, nb_graph_stats *stats);

/* The ops in run order with their shapes, fused groups, arena offsets and size. */
nb_status nb_graph_print(const nb_graph *g, FILE *f);
/* Pictures of a compiled graph: nb_graph_draw, nb_graph_draw_save (nabla/draw.h). */

#ifdef __cplusplus
}
#endif
#endif
