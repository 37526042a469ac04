/* How an op is described: one nb_op_def per op, in its family's file.
 *
 * nb_apply(def, inputs, attrs) does the rest for every op:
 *   check inputs -> shape rule -> allocate output (or make a view) ->
 *   forward kernel -> report it to the recording hooks (core/hooks.h) ->
 *   record a tape node if grad mode is on and an input requires grad.
 * Backward rules are written with ops, so the backward pass is itself a stream
 * of ops (and can be differentiated again where those ops have rules).
 */
#ifndef NB_OP_H
#define NB_OP_H

#include "core/core_internal.h"
#include "nabla/tape.h"
#include "nabla/ops.h"

/* The output layout a shape rule computes. For view ops, strides and offset
 * describe the view into input 0's storage; other ops get contiguous outputs. */
typedef struct nb_layout {
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t strides[NB_MAX_DIMS];
    int64_t offset;
} nb_layout;

enum {
    NB_OP_VIEW = 1 << 0,       /* output shares input 0's storage; no kernel runs */
    NB_OP_CONTIGUOUS = 1 << 1, /* inputs are made contiguous before the kernel */
    NB_OP_INPLACE = 1 << 2,    /* the kernel may write its output over input 0 (same shape) */
    NB_OP_EFFECT = 1 << 3,     /* forward changes state besides its output (RNG, running stats) */
};

typedef struct nb_op_def {
    const char *name; /* "matmul", shown in errors ("nb_matmul: ...") and DOT */
    int flags;
    /* Output layout from n->in and n->attrs; on a mismatch, record an error that
     * names the op and the shapes and return it. */
    nb_status (*shape)(const nb_node *n, nb_layout *out);
    /* Compute n->out from n->in; may stash tensors in n->saved for backward. */
    nb_status (*forward)(nb_node *n);
    /* Given gy = d(loss)/d(out), set gx[i] = d(loss)/d(in[i]) for each i with
     * n->needs_grad[i], using ops. NULL: the op has no gradient. */
    nb_status (*backward)(nb_node *n, nb_tensor *gy, nb_tensor **gx);
    /* Attributes as text for DOT labels ("axis=1"); NULL when there are none. */
    int (*print_attrs)(const nb_node *n, char *buf, size_t size);
    /* Fusion (graph mode). forward_fused: forward with an activation that the
     * kernel applies to the output before storing it (a oneDNN post-op); an
     * op that has one fuses with an activation that alone reads its output.
     * NULL: the op takes no post-op. */
    nb_status (*forward_fused)(nb_node *n, const nb_post_op *post);
    /* as_post_op: for an activation, the post-op computing this node's
     * forward, when a producer's kernel can apply it; false when it cannot.
     * NULL: never a post-op. */
    bool (*as_post_op)(const nb_node *n, nb_post_op *post);
} nb_op_def;

/* Run an op. attrs (attrs_size bytes, at most NB_MAX_ATTRS) is copied into the node. */
nb_tensor *nb_apply(const nb_op_def *def, nb_tensor *const *in, int n_in, const void *attrs,
                    size_t attrs_size);

/* Put a filled-in node on the tape as the producer of out, if grad mode is on
 * and an input requires grad (used by nb_apply and by custom ops); false with an
 * error when the tape has no room. */
bool nb_record(nb_node *tmp, nb_tensor *out);

/* Tensor k of what a node holds for backward (in[0..n_in), out, saved[]; see
 * NB_HELD in core_internal.h), or NULL. */
nb_tensor *nb_node_held(const nb_node *n, int k);

/* "nb_<op name>", the user-facing function, for kernel error messages */
const char *nb_op_caller(const nb_node *n);

/* n->saved[i] for a forward kernel to fill: the tensor already there when the
 * node runs again (a replayed graph), else a new one in the current scope. */
nb_tensor *nb_saved(nb_node *n, int i, const int64_t *shape, int ndim);

#define NB_ATTRS(n, type) ((type *)(void *)(n)->attrs)

/* Shape-rule helpers */
void nb_layout_contiguous(nb_layout *l, const int64_t *shape, int ndim);
/* numpy broadcast of a and b into l; false (error names op) if they do not fit */
bool nb_broadcast_shapes(const char *op, const nb_tensor *a, const nb_tensor *b, nb_layout *l);

/* The gradient of a broadcast input: sum g down to t's shape (g itself if equal). */
nb_tensor *nb_grad_unbroadcast(nb_tensor *g, const nb_tensor *t);

#endif
