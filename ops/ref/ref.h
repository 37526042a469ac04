/* The math on screen: a plain C reference for the forward and backward of
 * every op family, written as loops over float arrays (no tensors, no oneDNN).
 *
 * Read these to see what an op computes; the tests (tests/ops/test_ref.c)
 * check every oneDNN kernel against them. Conventions, as in llm.c:
 *   - outputs come first in the argument list, then inputs, then sizes;
 *   - arrays are contiguous, row-major, their shapes written above each
 *     function; a backward sits beside its forward;
 *   - a backward *adds* into its gradient arrays (so the caller zeroes them),
 *     because an input used twice gets the sum of both gradients;
 *   - sums are accumulated in double and rounded once, so that the error of
 *     a comparison is the kernel's, not the reference's.
 * Not installed: a header of the ops layer, for the tests and ops/ itself. */
#ifndef NB_OPS_REF_H
#define NB_OPS_REF_H

#include <stdbool.h>
#include <stdint.h>

/* ---- eltwise (ops/ref/eltwise.c) -------------------------------------------------------
 * y = f(x) and dx += f'(x) dy, element by element; x, y, dx, dy are [n].
 * alpha and beta as the ops take them: leaky_relu and elu's alpha, clip's
 * [alpha, beta], pow's alpha x^beta, affine's alpha x + beta. */
typedef enum nb_ref_eltwise {
    NB_REF_RELU,       /* max(x, 0)                          */
    NB_REF_LEAKY_RELU, /* x > 0 ? x : alpha x                */
    NB_REF_SIGMOID,    /* 1 / (1 + e^-x)                     */
    NB_REF_TANH,       /* tanh x                             */
    NB_REF_ELU,        /* x > 0 ? x : alpha (e^x - 1)        */
    NB_REF_GELU,       /* x Phi(x), Phi the normal cdf (erf) */
    NB_REF_SOFTPLUS,   /* log(1 + e^x)                       */
    NB_REF_EXP,        /* e^x                                */
    NB_REF_LOG,        /* log x                              */
    NB_REF_SQRT,       /* sqrt x                             */
    NB_REF_SQUARE,     /* x^2                                */
    NB_REF_POW,        /* alpha x^beta                       */
    NB_REF_ABS,        /* |x|                                */
    NB_REF_CLIP,       /* min(max(x, alpha), beta)           */
    NB_REF_AFFINE,     /* alpha x + beta                     */
    NB_REF_HEAVISIDE,  /* x > 0 ? 1 : 0, no gradient         */
} nb_ref_eltwise;

void nb_ref_eltwise_forward(nb_ref_eltwise f, float alpha, float beta, float *y, const float *x,
                            int64_t n);
void nb_ref_eltwise_backward(nb_ref_eltwise f, float alpha, float beta, float *dx, const float *dy,
                             const float *x, int64_t n);

/* ---- binary with broadcasting (ops/ref/binary.c) ----------------------------------------
 * c = a (op) b with numpy broadcasting, all three shapes given with nd axes
 * (a missing leading axis written as 1): sc[i] = max(sa[i], sb[i]) and each
 * of sa[i], sb[i] is sc[i] or 1. The backward sums each gradient over the
 * axes its input was broadcast along. max/min split the gradient half and
 * half where a == b. */
typedef enum nb_ref_binary {
    NB_REF_ADD,
    NB_REF_SUB,
    NB_REF_MUL,
    NB_REF_DIV,
    NB_REF_MAX,
    NB_REF_MIN,
} nb_ref_binary;

#define NB_REF_MAX_DIMS 8
void nb_ref_binary_forward(nb_ref_binary op, float *c, const float *a, const int64_t *sa,
                           const float *b, const int64_t *sb, const int64_t *sc, int nd);
void nb_ref_binary_backward(nb_ref_binary op, float *da, float *db, const float *dc, const float *a,
                            const int64_t *sa, const float *b, const int64_t *sb, const int64_t *sc,
                            int nd);

/* ---- matmul (ops/ref/matmul.c) -----------------------------------------------------------
 * a: [B, M, K] @ b: [B, K, N] -> c: [B, M, N] (B = 1 for plain matrices). */
void nb_ref_matmul_forward(float *c, const float *a, const float *b, int64_t B, int64_t M,
                           int64_t K, int64_t N);
/* dc: [B, M, N] -> da += dc b^T: [B, M, K], db += a^T dc: [B, K, N] (either may be NULL) */
void nb_ref_matmul_backward(float *da, float *db, const float *dc, const float *a, const float *b,
                            int64_t B, int64_t M, int64_t K, int64_t N);
/* x: [N, IN] @ w: [IN, OUT] + bias: [OUT] -> y: [N, OUT] (bias may be NULL) */
void nb_ref_linear_forward(float *y, const float *x, const float *w, const float *bias, int64_t N,
                           int64_t IN, int64_t OUT);
/* dy: [N, OUT] -> dx += dy w^T, dw += x^T dy, dbias += sum over rows of dy (any may be NULL) */
void nb_ref_linear_backward(float *dx, float *dw, float *dbias, const float *dy, const float *x,
                            const float *w, int64_t N, int64_t IN, int64_t OUT);

/* ---- softmax (ops/ref/softmax.c) ---------------------------------------------------------
 * x, y: [outer, L, inner], softmax over the middle axis (L entries). */
void nb_ref_softmax_forward(float *y, const float *x, int64_t outer, int64_t L, int64_t inner);
/* dx += y (dy - sum_j dy_j y_j), y the forward's output */
void nb_ref_softmax_backward(float *dx, const float *dy, const float *y, int64_t outer, int64_t L,
                             int64_t inner);
/* y = x - log sum_j e^x_j */
void nb_ref_log_softmax_forward(float *y, const float *x, int64_t outer, int64_t L, int64_t inner);
/* dx += dy - e^y sum_j dy_j */
void nb_ref_log_softmax_backward(float *dx, const float *dy, const float *y, int64_t outer,
                                 int64_t L, int64_t inner);

/* ---- reductions (ops/ref/reduce.c) -------------------------------------------------------
 * x: shape (nd axes); reduced[i] says whether axis i is reduced. y has x's
 * shape with every reduced axis of size 1 (keepdim), so y[o(i)] is the
 * output element of input element i. max/min give the gradient in equal
 * shares to the elements that equal the result. */
typedef enum nb_ref_reduce {
    NB_REF_SUM,
    NB_REF_MEAN,
    NB_REF_REDUCE_MAX,
    NB_REF_REDUCE_MIN,
} nb_ref_reduce;

void nb_ref_reduce_forward(nb_ref_reduce op, float *y, const float *x, const int64_t *shape, int nd,
                           const bool *reduced);
/* dy: y's shape -> dx: x's shape (y is the forward's output) */
void nb_ref_reduce_backward(nb_ref_reduce op, float *dx, const float *dy, const float *x,
                            const float *y, const int64_t *shape, int nd, const bool *reduced);

/* ---- conv2d (ops/ref/conv.c) -------------------------------------------------------------
 * x: [N, C, H, W], w: [K, C/G, R, S], bias: [K] -> y: [N, K, P, Q].
 * Output pixel (p, q) reads input row p*stride_h - pad_h + r*dilation_h and
 * column q*stride_w - pad_w + s*dilation_w (outside the input: zero); output
 * channel k sees the C/G input channels of its group g = k / (K/G). */
typedef struct nb_ref_conv2d {
    int64_t N, C, H, W; /* input                       */
    int64_t K, R, S;    /* output channels, kernel     */
    int64_t P, Q;       /* output height and width     */
    int64_t stride_h, stride_w;
    int64_t pad_h, pad_w; /* top and left padding (the bottom and right follow from P, Q) */
    int64_t dilation_h, dilation_w; /* 1 = a dense kernel */
    int64_t groups;
} nb_ref_conv2d;

void nb_ref_conv2d_forward(float *y, const float *x, const float *w, const float *bias,
                           const nb_ref_conv2d *g);
/* dy: [N, K, P, Q] -> dx += (the transposed convolution of dy with w): [N, C, H, W] */
void nb_ref_conv2d_backward_data(float *dx, const float *dy, const float *w,
                                 const nb_ref_conv2d *g);
/* dy -> dw += sum over n, p, q of dy x: [K, C/G, R, S]; dbias += sum of dy: [K] (may be NULL) */
void nb_ref_conv2d_backward_weights(float *dw, float *dbias, const float *dy, const float *x,
                                    const nb_ref_conv2d *g);

/* ---- pooling (ops/ref/pool.c) ------------------------------------------------------------
 * x: [N, C, H, W] -> y: [N, C, P, Q], window kh x kw at (p*stride_h - pad_h,
 * q*stride_w - pad_w), its taps dilation apart (1 for average pooling). */
typedef struct nb_ref_pool2d {
    int64_t N, C, H, W, P, Q;
    int64_t kh, kw, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
    bool count_include_pad; /* average: divide by kh kw, else by the taps inside x */
} nb_ref_pool2d;

/* y = the largest tap inside x (padding never wins) */
void nb_ref_max_pool2d_forward(float *y, const float *x, const nb_ref_pool2d *g);
/* dx += dy at the first largest tap of each window */
void nb_ref_max_pool2d_backward(float *dx, const float *dy, const float *x, const nb_ref_pool2d *g);
void nb_ref_avg_pool2d_forward(float *y, const float *x, const nb_ref_pool2d *g);
/* each window's dy spread evenly over the taps it divided by (inside x) */
void nb_ref_avg_pool2d_backward(float *dx, const float *dy, const nb_ref_pool2d *g);

/* ---- batch normalization, training (ops/ref/batchnorm.c) --------------------------------
 * x, y: [N, C, L] (L = H W, 1 for [N, C]); gamma, beta, mean, var: [C].
 * mean and var (biased: divided by N L) are the batch's, written by forward. */
void nb_ref_batch_norm_forward(float *y, float *mean, float *var, const float *x,
                               const float *gamma, const float *beta, float eps, int64_t N,
                               int64_t C, int64_t L);
/* dy -> dx +=, dgamma += sum dy xhat, dbeta += sum dy (dgamma, dbeta may be NULL) */
void nb_ref_batch_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *mean, const float *var,
                                const float *gamma, float eps, int64_t N, int64_t C, int64_t L);

/* ---- fused cross-entropy losses (ops/ref/loss.c) -----------------------------------------
 * logits x: [N, K]; the loss is a mean, dloss its incoming gradient. */
/* target t: [N, K] (one-hot or probabilities): 1/N sum_n sum_k t_nk (lse_n - x_nk) */
float nb_ref_softmax_ce_forward(const float *x, const float *t, int64_t N, int64_t K);
/* dx += dloss (softmax(x) sum_k t - t) / N, dt += -dloss log_softmax(x) / N (either may be NULL) */
void nb_ref_softmax_ce_backward(float *dx, float *dt, float dloss, const float *x, const float *t,
                                int64_t N, int64_t K);
/* labels: [N], class indices as floats: 1/N sum_n (lse_n - x_n,label_n) */
float nb_ref_sparse_softmax_ce_forward(const float *x, const float *labels, int64_t N, int64_t K);
/* dx += dloss (softmax(x) - onehot(labels)) / N */
void nb_ref_sparse_softmax_ce_backward(float *dx, float dloss, const float *x, const float *labels,
                                       int64_t N, int64_t K);
/* x, z: [M]: 1/M sum max(x, 0) - x z + log(1 + e^-|x|) */
float nb_ref_sigmoid_ce_forward(const float *x, const float *z, int64_t M);
/* dx += dloss (sigmoid(x) - z) / M, dz += -dloss x / M (either may be NULL) */
void nb_ref_sigmoid_ce_backward(float *dx, float *dz, float dloss, const float *x, const float *z,
                                int64_t M);

#endif
