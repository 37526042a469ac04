/* The oneDNN wrappers of the CNN ops (core/dnnl_cnn.c): convolution, pooling,
 * batch normalization. Same contract as dnnl_internal.h: fn names the
 * user-facing function for error messages, outputs are written in place. Not
 * installed. */
#ifndef NB_DNNL_CNN_INTERNAL_H
#define NB_DNNL_CNN_INTERNAL_H

#include "dnnl_internal.h"

/* ---- CNN wrappers (core/dnnl_cnn.c) ---------------------------------------------
 * Tensors are plain NCHW. Convolutions let oneDNN choose its layouts (blocked,
 * e.g. nChw16c, twice as fast here) and reorder at the boundaries through
 * cached reorder primitives and pooled scratch buffers. */
typedef struct nb_conv_geom {
    int64_t stride[2];
    int64_t dilate[2]; /* oneDNN's convention: 0 = dense, 1 = every other pixel */
    int64_t pad_l[2], pad_r[2];
    int64_t groups;
} nb_conv_geom;
/* y = conv(x, w) + b; x [N, C, H, W], w [K, C/groups, R, S], b [K] or NULL */
nb_status nb_kernel_conv(const char *fn, const nb_conv_geom *g, const nb_tensor *x,
                         const nb_tensor *w, const nb_tensor *b, nb_tensor *y);
/* the same with post (NULL: none) applied to y in the kernel */
nb_status nb_kernel_conv_post(const char *fn, const nb_conv_geom *g, const nb_tensor *x,
                              const nb_tensor *w, const nb_tensor *b, nb_tensor *y,
                              const nb_post_op *post);
nb_status nb_kernel_conv_backward_data(const char *fn, const nb_conv_geom *g, const nb_tensor *gy,
                                       const nb_tensor *w, nb_tensor *gx);
/* gw = d/dw and gb = d/db (NULL: no bias) in one backward-weights primitive */
nb_status nb_kernel_conv_backward_weights(const char *fn, const nb_conv_geom *g, const nb_tensor *x,
                                          const nb_tensor *gy, nb_tensor *gw, nb_tensor *gb);

typedef struct nb_pool_geom {
    int alg; /* dnnl_pooling_max, dnnl_pooling_avg_include_padding, ..._exclude_padding */
    int64_t kernel[2], stride[2], pad_l[2], pad_r[2];
    int64_t dilate[2]; /* as nb_conv_geom's: 0 = dense */
} nb_pool_geom;
/* y = pool(x); for max pooling *workspace receives oneDNN's record of where
 * each maximum came from: the tensor *workspace held if it has the right size,
 * else a new one in the current scope */
nb_status nb_kernel_pool(const char *fn, const nb_pool_geom *g, const nb_tensor *x, nb_tensor *y,
                         nb_tensor **workspace);
nb_status nb_kernel_pool_backward(const char *fn, const nb_pool_geom *g, const nb_tensor *gy,
                                  const nb_tensor *workspace, nb_tensor *gx);

/* x, y: [N, C, H, W]; gamma, beta, mean, var: [C]. training computes mean and
 * (biased) var of the batch into mean/var; otherwise it reads them. */
nb_status nb_kernel_batch_norm(const char *fn, float eps, bool training, const nb_tensor *x,
                               const nb_tensor *gamma, const nb_tensor *beta, nb_tensor *mean,
                               nb_tensor *var, nb_tensor *y);
/* oneDNN 2.6 refuses the backward execution (invalid arguments) unless beta
 * (SHIFT) is passed too, although no gradient depends on it */
nb_status nb_kernel_batch_norm_backward(const char *fn, float eps, const nb_tensor *x,
                                        const nb_tensor *mean, const nb_tensor *var,
                                        const nb_tensor *gy, const nb_tensor *gamma,
                                        const nb_tensor *beta, nb_tensor *gx, nb_tensor *dgamma,
                                        nb_tensor *dbeta);

#endif
