/* nabla ops: every function here runs a kernel (oneDNN where it has one) and,
 * when grad mode is on and an input requires grad, records a tape node whose
 * backward rule is itself written with these ops.
 *
 * Shapes follow numpy: binary ops broadcast, negative axes count from the end.
 */
#ifndef NABLA_OPS_H
#define NABLA_OPS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- linear algebra ------------------------------------------------------ */
/* a: [M, K] @ b: [K, N] -> [M, N], with torch.matmul's rules for other ranks:
 * [..., M, K] @ [..., K, N] -> [..., M, N] with the batch axes broadcast (a
 * missing leading axis counts as 1); a vector a: [K] is the row [1, K] and b: [K]
 * the column [K, 1], the added axis dropped from the result ([K] @ [K] -> 0-d). */
nb_tensor *nb_matmul(nb_tensor *a, nb_tensor *b);
/* matmul with either operand transposed (its last two axes swapped) first; a
 * vector's flag changes nothing. */
nb_tensor *nb_matmul_t(nb_tensor *a, nb_tensor *b, bool trans_a, bool trans_b);
/* x: [N, IN] @ w: [IN, OUT] + b: [OUT] -> [N, OUT], one fused kernel; x: [..., IN]
 * -> [..., OUT] and x: [IN] -> [OUT] as PyTorch's linear. b == NULL is no bias
 * (a NULL bias from a failed call is not told apart from it: check b first). */
nb_tensor *nb_linear(nb_tensor *x, nb_tensor *w, nb_tensor *b);

/* ---- elementwise arithmetic with broadcasting ------------------------------ */
nb_tensor *nb_add(nb_tensor *a, nb_tensor *b);
nb_tensor *nb_sub(nb_tensor *a, nb_tensor *b);
nb_tensor *nb_mul(nb_tensor *a, nb_tensor *b);
/* a / 0 follows IEEE (inf, -inf, NaN for 0 / 0), as PyTorch */
nb_tensor *nb_div(nb_tensor *a, nb_tensor *b);
/* The gradient goes to the larger (smaller) input; where a == b it is split
 * evenly, half to each (as PyTorch, and as nb_max over the pair). */
nb_tensor *nb_maximum(nb_tensor *a, nb_tensor *b);
nb_tensor *nb_minimum(nb_tensor *a, nb_tensor *b);
/* comparisons give 1.0 / 0.0 and carry no gradient */
nb_tensor *nb_gt(nb_tensor *a, nb_tensor *b);
nb_tensor *nb_ge(nb_tensor *a, nb_tensor *b);
nb_tensor *nb_eq(nb_tensor *a, nb_tensor *b);

nb_tensor *nb_neg(nb_tensor *x);
/* nb_div_scalar refuses s == 0 (and -0) with an error where PyTorch gives
 * inf/NaN: a zero divisor written as a number is a bug, not data (nb_div keeps IEEE). */
nb_tensor *nb_add_scalar(nb_tensor *x, float s);             /* x + s */
nb_tensor *nb_sub_scalar(nb_tensor *x, float s);             /* x - s */
nb_tensor *nb_rsub_scalar(nb_tensor *x, float s);            /* s - x */
nb_tensor *nb_mul_scalar(nb_tensor *x, float s);             /* x * s */
nb_tensor *nb_div_scalar(nb_tensor *x, float s);             /* x / s */
nb_tensor *nb_affine(nb_tensor *x, float alpha, float beta); /* alpha * x + beta */

/* ---- accuracy (float32; tests/ops/test_accuracy.c measures and asserts these) ------------
 * Max error in ulp of the exact value, on 10^5 points across each domain, with
 * oneDNN 2.6 on AVX-512 and AVX2 alike. "below F" means results smaller than F
 * in magnitude are held to the bound in ulp of F (an absolute bound): oneDNN's
 * exp-based kernels flush results below about 2^-125 to 0, elu and gelu lose
 * tiny results to cancellation (elu(-6e-14) = 0, gelu(-6.7) = 0).
 *   forward:  0.5 (correctly rounded): nb_log, nb_softplus, nb_log_softmax, nb_sqrt,
 *             nb_square, nb_leaky_relu, nb_add_scalar, nb_mul_scalar, nb_affine;
 *             exact: nb_abs, nb_clip, nb_relu, nb_neg;
 *             1: nb_div_scalar (x * (1/s));  2: nb_pow_scalar;  3: nb_tanh;
 *             6, below 2^-90: nb_exp;  4, below 2^-90: nb_sigmoid;
 *             3, below 1: nb_elu, nb_gelu;
 *             48, below 2^-90: nb_softmax (oneDNN sums in float; grows with the row).
 *   backward (the kernel on the x or y it reads; sigmoid, tanh, exp, sqrt, elu
 *   read the float output y, so their gradient also carries y's rounding):
 *             exact: abs, clip, relu, leaky_relu, neg and the scalar arithmetic;
 *             0.5-1: log, sqrt, square, exp, tanh, elu;  3: pow (below 2^-60),
 *             sigmoid, gelu (below 1);  4, below 2^-90: softplus;
 *             6, in ulp of the terms' size: softmax, log_softmax. */

/* ---- elementwise functions ------------------------------------------------- */
nb_tensor *nb_exp(nb_tensor *x);
nb_tensor *nb_log(nb_tensor *x);
nb_tensor *nb_sqrt(nb_tensor *x);
nb_tensor *nb_square(nb_tensor *x);
nb_tensor *nb_pow_scalar(nb_tensor *x, float p); /* x^p */
nb_tensor *nb_abs(nb_tensor *x);
/* min(max(x, low), high); the gradient is 1 on [low, high], both bounds
 * included (as PyTorch's clamp), and 0 outside. */
nb_tensor *nb_clip(nb_tensor *x, float low, float high);

/* ---- activations ---------------------------------------------------------- */
nb_tensor *nb_relu(nb_tensor *x);
nb_tensor *nb_leaky_relu(nb_tensor *x, float alpha); /* x < 0: alpha * x */
nb_tensor *nb_sigmoid(nb_tensor *x);
nb_tensor *nb_tanh(nb_tensor *x);
nb_tensor *nb_elu(nb_tensor *x, float alpha);
nb_tensor *nb_gelu(nb_tensor *x); /* exact (erf) form */
nb_tensor *nb_softplus(nb_tensor *x);
nb_tensor *nb_heaviside(nb_tensor *x); /* Heaviside: 1 where x > 0 else 0; no gradient */
nb_tensor *nb_softmax(nb_tensor *x, int axis);
nb_tensor *nb_log_softmax(nb_tensor *x, int axis);

/* ---- reductions -------------------------------------------------------------
 * axes: the axes to reduce (n_axes of them); n_axes == 0 reduces all axes.
 * keepdim keeps reduced axes with size 1. */
nb_tensor *nb_sum(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
nb_tensor *nb_mean(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
/* max and min: the gradient is split evenly among the elements equal to the
 * result (PyTorch's amax/amin; its max(dim)/min(dim) give it all to one index). */
nb_tensor *nb_max(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
nb_tensor *nb_min(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
nb_tensor *nb_sum_all(nb_tensor *x);                        /* 0-d */
nb_tensor *nb_mean_all(nb_tensor *x);                       /* 0-d */
nb_tensor *nb_argmax(nb_tensor *x, int axis, bool keepdim); /* indices as floats */
/* Sum a broadcast result back down to shape (the gradient of broadcasting). */
nb_tensor *nb_sum_to(nb_tensor *x, const int64_t *shape, int ndim);
/* Repeat x along its size-1 (or missing leading) axes to shape. */
nb_tensor *nb_broadcast_to(nb_tensor *x, const int64_t *shape, int ndim);

/* ---- shape ops (views share storage where the layout allows) ----------------- */
nb_tensor *nb_reshape(nb_tensor *x, const int64_t *shape, int ndim); /* one -1 allowed */
nb_tensor *nb_flatten(nb_tensor *x);                                 /* [N, ...] -> [N, rest] */
nb_tensor *nb_transpose(nb_tensor *x, int axis0, int axis1);
nb_tensor *nb_permute(nb_tensor *x, const int *perm, int n);
/* elements start, start + step, ... below stop along axis (step >= 1) */
nb_tensor *nb_slice(nb_tensor *x, int axis, int64_t start, int64_t stop, int64_t step);
/* xs[0..n) along axis, any n >= 1; all other axes must match */
nb_tensor *nb_concat(nb_tensor *const *xs, int n, int axis);
/* indices: any shape of integral floats in [0, num_classes) -> shape + [num_classes] */
nb_tensor *nb_one_hot(nb_tensor *indices, int64_t num_classes);
nb_tensor *nb_contiguous(nb_tensor *x); /* x itself when already contiguous */
/* rows of table [V, D] picked by indices (any shape of integral floats in [0, V))
 * -> indices' shape + [D]; its gradient to the table sums the rows (scatter_add) */
nb_tensor *nb_gather(nb_tensor *table, nb_tensor *indices);
/* rows [..., D] summed into a [num_rows, D] table at indices [...] */
nb_tensor *nb_scatter_add(nb_tensor *rows, nb_tensor *indices, int64_t num_rows);

#ifdef __cplusplus
}
#endif
#endif
