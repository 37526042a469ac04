/* What the drawing files share: the one style table for eager tapes
 * (draw.c) and compiled graphs (draw_graph.c), op labels, and saving DOT
 * text as a picture. Not installed. */
#ifndef NB_DRAW_INTERNAL_H
#define NB_DRAW_INTERNAL_H

#include "core/core_internal.h"
#include "ops/op.h"

/* What a node, box or edge of a picture is; nb_viz_style gives its DOT attributes. */
typedef enum {
    NB_VIZ_RESULT,      /* the tensor drawn for; a graph's output */
    NB_VIZ_PARAM,       /* a leaf that requires grad: a parameter */
    NB_VIZ_INPUT,       /* a leaf that does not; a graph's input */
    NB_VIZ_CONST,       /* a graph's captured constant or saved tensor */
    NB_VIZ_TENSOR,      /* any other tensor */
    NB_VIZ_OP,          /* an op (also a fused op's post-op) */
    NB_VIZ_VIEW_OP,     /* an op that runs no kernel (a view), in a graph */
    NB_VIZ_BACKWARD_OP, /* an op's backward, in a backward drawing */
    NB_VIZ_EFFECT,      /* a side effect in a graph (optimizer step, gradient) */
    NB_VIZ_SEED,        /* backward's seed, d(out)/d(out) = 1 */
    NB_VIZ_SUM,         /* where a tensor's gradients are summed */
    NB_VIZ_LAYER,       /* the box around a layer's ops (a name scope) */
    NB_VIZ_FUSED,       /* the box around a fused op and its post-op */
    NB_VIZ_GRAD_EDGE,   /* a gradient reaching a parameter; an optimizer's update */
    NB_VIZ_SAVES_EDGE,  /* a kernel saving a tensor for backward */
    NB_VIZ_STYLES
} nb_viz_role;
const char *nb_viz_style(nb_viz_role what);

/* An op's label: name, suffix, then (for an op node n) its attributes. */
void nb_viz_op_label(nb_text *t, const char *name, const char *suffix, const nb_node *n);
/* The start of the box around a layer's ops: "subgraph cluster_<prefix><id> { label=...". */
void nb_viz_layer_begin(nb_text *t, const char *prefix, int id, const char *scope);

/* DOT text to path (.dot, .svg, .png, .pdf), atomically; errors name fn. */
nb_status nb_draw_text_save(const char *fn, const char *dot_text, const char *path);

#endif
