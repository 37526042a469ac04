/* nabla CNN ops: convolution, pooling, batch normalization, dropout.
 * Images are NCHW: [batch, channels, height, width]. Each op has a backward
 * rule on oneDNN's backward primitives (dropout: a saved mask). */
#ifndef NABLA_CNN_H
#define NABLA_CNN_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nb_padding {
    NB_PAD_EXPLICIT = 0, /* pad_h / pad_w on both sides                           */
    NB_PAD_VALID,        /* no padding (Keras "valid")                            */
    NB_PAD_SAME, /* output = ceil(input / stride), extra padding at the end (Keras "same") */
} nb_padding;

typedef struct nb_conv2d_opts {
    int stride_h, stride_w; /* 0 = 1 */
    nb_padding padding;     /* NB_PAD_EXPLICIT uses pad_h, pad_w */
    int pad_h, pad_w;
    int dilation_h, dilation_w; /* 0 = 1; 2 skips every other input pixel */
    int groups;                 /* 0 = 1; channels are split into groups */
} nb_conv2d_opts;

/* x: [N, C, H, W], w: [K, C / groups, R, S], b: [K] or NULL -> [N, K, H', W'];
 * an unbatched x [C, H, W] gives [K, H', W'] (PyTorch's form; its errors show
 * x as [1, C, H, W]). opts NULL = stride 1, no padding, dilation 1, one group. */
nb_tensor *nb_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *opts);

/* Pooling windows of kh x kw moved by stride (0 = the window size), with
 * pad_h / pad_w on both sides. Max pooling ignores padding; average pooling
 * counts padded zeros when count_include_pad. */
nb_tensor *nb_max_pool2d(nb_tensor *x, int kh, int kw, int stride_h, int stride_w, int pad_h,
                         int pad_w);
/* Max pooling with PyTorch's MaxPool2d options: window kh x kw, stride (0 =
 * the window), padding on both sides (at most half the window), dilation (0
 * = 1; the window reads every dilation-th pixel) and ceil_mode:
 *   H' = floor_or_ceil((H + 2 pad - dilation (kh - 1) - 1) / stride) + 1,
 * and with ceil_mode one less when the last window would start at or past
 * H + pad (every window starts inside the input or its left padding).
 * opts NULL = nb_max_pool2d's defaults. */
typedef struct nb_max_pool2d_opts {
    int stride_h, stride_w;
    int pad_h, pad_w;
    int dilation_h, dilation_w;
    bool ceil_mode;
} nb_max_pool2d_opts;
nb_tensor *nb_max_pool2d_ex(nb_tensor *x, int kh, int kw, const nb_max_pool2d_opts *opts);
nb_tensor *nb_avg_pool2d(nb_tensor *x, int kh, int kw, int stride_h, int stride_w, int pad_h,
                         int pad_w, bool count_include_pad);
/* [N, C, H, W] -> [N, C], the mean over each channel's map (as Keras) */
nb_tensor *nb_global_avg_pool(nb_tensor *x);

/* Batch normalization over [N, C], [N, C, L] (PyTorch's BatchNorm1d) or
 * [N, C, H, W] per channel C:
 *   y = gamma * (x - mean) / sqrt(var + eps) + beta
 * training: mean/var of the batch, and running_mean/running_var (may be NULL)
 * are updated in place, PyTorch's way: running = (1 - momentum) * running +
 * momentum * batch, with the unbiased variance. Inference: the running stats.
 * gamma, beta, running_*: [C]. gamma and beta both NULL = PyTorch's
 * affine=False (gamma 1, beta 0, nothing to learn); one of them NULL is the
 * NULL-input error, as for any op. */
nb_tensor *nb_batch_norm(nb_tensor *x, nb_tensor *gamma, nb_tensor *beta, nb_tensor *running_mean,
                         nb_tensor *running_var, float momentum, float eps, bool training);

/* Inverted dropout: in training each element is zeroed with probability rate
 * and the rest scaled by 1 / (1 - rate), using the seeded RNG; x itself
 * otherwise. */
nb_tensor *nb_dropout(nb_tensor *x, float rate, bool training);
/* x + N(0, stddev) drawn from the thread's generator in training, x in inference */
nb_tensor *nb_gaussian_noise(nb_tensor *x, float stddev, bool training);

#ifdef __cplusplus
}
#endif
#endif
