/* nabla autograd: backward, higher-order gradients, custom ops, gradient checking
 * (grad mode and the tape are in tape.h). */
#ifndef NABLA_AUTOGRAD_H
#define NABLA_AUTOGRAD_H

#include "core.h"
#include "tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- leaves and gradients ------------------------------------------------- */
nb_tensor *nb_set_requires_grad(nb_tensor *t, bool on); /* returns t; leaves only */
bool nb_requires_grad(const nb_tensor *t);
bool nb_is_leaf(const nb_tensor *t);
nb_tensor *nb_grad(const nb_tensor *t); /* accumulated gradient of a leaf, or NULL */
void nb_zero_grad(nb_tensor *t);        /* drops the gradient (next backward starts at 0) */
nb_tensor *nb_detach(nb_tensor *t);     /* same data, no history, no grad */

/* ---- backward ----------------------------------------------------------------
 * Seeds d(t)/d(t) = 1 (t must have one element) and walks the tape back from t,
 * adding each leaf's gradient into its .grad. The saved tensors of the walked
 * nodes may not be used again unless retain_graph. */
nb_status nb_backward(nb_tensor *t);
/* seed: the gradient of some scalar with respect to t (same shape as t), or
 * NULL for ones. */
nb_status nb_backward_ex(nb_tensor *t, nb_tensor *seed, bool retain_graph);
/* create_graph (PyTorch's name): the backward pass runs in grad mode, so the
 * gradients it makes are recorded like any op result and can be
 * differentiated again (a leaf's .grad then carries a tape node; it is still
 * owned by the leaf, and its history ends with the scope the backward ran
 * in). create_graph implies retain_graph, as in PyTorch. The backward ops of conv2d, the pools,
 * batch_norm and slice have no rules of their own yet: create_graph through those ops is refused
 * with an error naming the op. Not available while tracing. */
typedef struct nb_backward_opts {
    bool retain_graph;
    bool create_graph;
} nb_backward_opts;
nb_status nb_backward_opt(nb_tensor *t, nb_tensor *seed, const nb_backward_opts *opts);

/* Gradients as new tensors, like torch.autograd.grad: grads[k] = the gradient
 * of sum_j <grad_outputs[j], outputs[j]> with respect to inputs[k], in the
 * current scope. No .grad is read or written. grad_outputs (or an entry) may
 * be NULL for ones (that output must have one element). inputs may be leaves
 * or intermediate results, and must require grad. An input that no output
 * depends on is an error naming it, or NULL in grads[k] with allow_unused; an
 * input that is used but gets no gradient (all paths through zero rules) gets
 * zeros. create_graph implies retain_graph. On failure every grads[k] is NULL.
 * It may be traced (graph mode): it makes only ops, no side effects. */
typedef struct nb_grad_opts {
    bool retain_graph;
    bool create_graph;
    bool allow_unused;
} nb_grad_opts;
nb_status nb_grad_of(nb_tensor *const *outputs, int n_out, nb_tensor *const *inputs, int n_in,
                     nb_tensor *const *grad_outputs, const nb_grad_opts *opts, nb_tensor **grads);

/* ---- second order ------------------------------------------------------------------
 * y is a one-element result of ops on x (x requires grad); the graph from x to
 * y is kept (retained), so these can be called again on the same y.
 * nb_hvp: hv = H v, H the Hessian of y with respect to x, v shaped like x, by
 * double backward (one gradient with create_graph, then the gradient of
 * <grad, v>). nb_hessian: the full [n, n] Hessian, n = numel(x), row i the
 * gradient of grad[i]; refused above NB_HESSIAN_MAX elements (n backward
 * passes, n^2 floats). Results are in the current scope. */
#define NB_HESSIAN_MAX 1024
nb_status nb_hvp(nb_tensor *y, nb_tensor *x, nb_tensor *v, nb_tensor **hv);
nb_status nb_hessian(nb_tensor *y, nb_tensor *x, nb_tensor **h);

/* ---- custom ops ---------------------------------------------------------------
 * A user op is two C callbacks. forward computes the output from the inputs
 * (use nabla ops or write into nb_data of a tensor you create); backward gets
 * the output gradient gy and returns in gx[i] the gradient of each input (NULL
 * for inputs that need none: nb_requires_grad(x[i]) is false), built with nabla
 * ops. Returning NULL (forward), a status other than NB_OK (backward) or a NULL
 * gx[i] for an input that requires grad is an error naming the op (and the
 * input). An error the callback records is what the failing call reports; an
 * error left from before the call is not taken for the callback's. */
typedef nb_tensor *(*nb_custom_forward_fn)(nb_tensor *const *x, int n, void *ctx);
typedef nb_status (*nb_custom_backward_fn)(nb_tensor *const *x, int n, nb_tensor *y, nb_tensor *gy,
                                           nb_tensor **gx, void *ctx);
nb_tensor *nb_custom_op(const char *name, nb_tensor *const *x, int n, nb_custom_forward_fn forward,
                        nb_custom_backward_fn backward, void *ctx);

/* ---- gradient check -------------------------------------------------------------
 * fn maps the inputs to a tensor; the check compares the gradient of sum(fn)
 * with respect to every input that requires grad against central differences
 * with step eps. It passes when |analytic - numeric| <= tol * (1 + |numeric|)
 * for every element. */
typedef nb_tensor *(*nb_grad_fn)(nb_tensor *const *x, int n, void *ctx);
typedef struct nb_gradcheck_result {
    bool ok;
    int worst_input;     /* which input holds the worst element     */
    int64_t worst_index; /* its row-major index                      */
    double analytic;     /* the two gradients at that element        */
    double numeric;
    double max_error; /* |analytic - numeric| / (1 + |numeric|)   */
} nb_gradcheck_result;
nb_status nb_gradcheck(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx, double eps, double tol,
                       nb_gradcheck_result *result);
/* Second order: with fixed pseudo-random weights r_k (the same on every call),
 * u(x) = sum_k <r_k, d sum(fn) / d x_k>; the gradient of u by double backward
 * (nb_grad_of with create_graph) is compared with central differences of u,
 * each computed from first-order gradients, under the same rule as
 * nb_gradcheck. A first gradient that does not depend on x (a linear fn)
 * counts as a zero second derivative. */
nb_status nb_gradgradcheck(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx, double eps,
                           double tol, nb_gradcheck_result *result);

#ifdef __cplusplus
}
#endif
#endif
