/* nabla graphs as pictures: the ops that made a tensor, forward or backward,
 * and compiled graphs, as Graphviz DOT text, or rendered in-process to SVG,
 * PNG or PDF. */
#ifndef NABLA_DOT_H
#define NABLA_DOT_H

#include "core.h"
#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_draw_opts {
    bool backward;     /* draw the backward pass: gradient nodes, backward ops, sums */
    int max_values;    /* tensors with at most this many elements show their values
                        * (and gradients, when they have one); 0 = 4, -1 = never */
    const char *title; /* a caption; NULL for none */
} nb_draw_opts;

/* The graph of ops that produced root (its tape, walked back to the leaves) as
 * DOT text; free() the result. The same graph gives the same text. */
char *nb_draw(const nb_tensor *root, const nb_draw_opts *opts);

/* Write that graph to path; the format follows the extension: .dot, .svg,
 * .png or .pdf (rendered with Graphviz's dot layout). The file is written to a
 * temporary name in the same directory and renamed, so it is never half-written. */
nb_status nb_draw_save(const nb_tensor *root, const nb_draw_opts *opts, const char *path);

/* A compiled graph (nabla/graph.h) as DOT text (free() it): ops, tensors with
 * their shapes, inputs, parameters and outputs told apart, fused groups boxed. */
char *nb_graph_draw(const nb_graph *g);
/* .dot, .svg, .png or .pdf by the extension, written atomically. */
nb_status nb_graph_draw_save(const nb_graph *g, const char *path);

#ifdef __cplusplus
}
#endif
#endif
