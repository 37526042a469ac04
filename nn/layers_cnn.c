/* The CNN layers on the ops of nabla/cnn.h: Conv2D, MaxPool2D, AvgPool2D,
 * BatchNorm. Images are channels-first, as the ops take them: a layer's
 * shape without the batch axis is (channels, height, width), so the summary
 * shows (None, 32, 26, 26) where Keras's channels-last default shows
 * (None, 26, 26, 32); a Keras-style input shape is refused with the permute.
 */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

static bool is_image(const nb_layer *l) {
    return l->in_ndim == 3;
}

/* output side of a window of k moved by stride s over n pixels without padding */
static int64_t valid_side(int64_t n, int64_t k, int64_t s) {
    return n < k ? 0 : (n - k) / s + 1;
}

/* ---- Conv2D: x: [N, C, H, W] -> [N, K, H', W'] with kernel [K, C, kh, kw], bias [K] -------- */
/* Keras's input shape (28, 28, 1) read channels first is 28 channels of
 * 28x1 pixels: with padding "same" it even builds. Refused at the model's
 * input when a kernel wider than a pixel would slide over an image of 1, 3
 * or 4 columns that has more than 4 channels and more than 4 rows: the
 * channels of a (height, width, channels) image. */
static bool looks_channels_last(const nb_layer *l) {
    int64_t c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2];
    return l->sees_model_input && c > 4 && h > 4 && (w == 1 || w == 3 || w == 4) &&
           l->cfg.conv.kw > 1;
}

static nb_status channels_last_error(const nb_layer *l) {
    char got[96], want[96];
    nb_layer_shape_str(l->in_shape, 3, got, sizeof got);
    snprintf(want, sizeof want, "(%lld, %lld, %lld)", (long long)l->in_shape[2],
             (long long)l->in_shape[0], (long long)l->in_shape[1]);
    return nb_fail_status(
        NB_ERR_SHAPE,
        "Conv2D takes images channels first, (None, channels, height, width) as "
        "nb_conv2d's [N, C, H, W]; %s looks channels-last (Keras's height, width, "
        "channels): give the model the input shape %s and permute the images with "
        "nb_permute(x, (int[]){0, 3, 1, 2}, 4)",
        got, want);
}

static nb_status conv_build(nb_layer *l) {
    if (!is_image(l))
        return nb_fail_status(NB_ERR_SHAPE, "Conv2D needs images (None, channels, height, width)");
    if (looks_channels_last(l)) return channels_last_error(l);
    int64_t c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2];
    int64_t k = l->cfg.conv.filters, kh = l->cfg.conv.kh, kw = l->cfg.conv.kw;
    int64_t sh = l->cfg.conv.sh, sw = l->cfg.conv.sw;
    int64_t ho = l->cfg.conv.same ? (h + sh - 1) / sh : valid_side(h, kh, sh);
    int64_t wo = l->cfg.conv.same ? (w + sw - 1) / sw : valid_side(w, kw, sw);
    if (ho < 1 || wo < 1)
        return nb_fail_status(
            NB_ERR_SHAPE,
            "Conv2D's %lldx%lld kernel does not fit in a %lldx%lld image with padding "
            "'valid' (use padding 'same' or a smaller kernel)",
            (long long)kh, (long long)kw, (long long)h, (long long)w);
    l->out_ndim = 3;
    l->out_shape[0] = k;
    l->out_shape[1] = ho;
    l->out_shape[2] = wo;
    int64_t field = kh * kw; /* Keras's fans: channels times the receptive field */
    if (!nb_layer_add_weight(l, "kernel", (int64_t[]){k, c, kh, kw}, 4, true, l->kernel_init,
                             c * field, k * field))
        return nb_failure_code();
    if (!nb_layer_add_weight(l, "bias", &k, 1, true, l->bias_init, c * field, k * field))
        return nb_failure_code();
    return NB_OK;
}

static nb_tensor *conv_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)training;
    nb_conv2d_opts o = {
        .stride_h = l->cfg.conv.sh,
        .stride_w = l->cfg.conv.sw,
        .padding = l->cfg.conv.same ? NB_PAD_SAME : NB_PAD_VALID,
    };
    return nb_conv2d(x, l->weights[NB_W_KERNEL].t, l->weights[NB_W_BIAS].t, &o);
}

static const nb_layer_ops conv_ops = {
    .type = "Conv2D",
    .base_name = "conv2d",
    .build = conv_build,
    .forward = conv_forward,
};

static bool parse_padding(const char *padding, bool *same) {
    if (!padding || !strcmp(padding, "valid")) return (*same = false, true);
    if (!strcmp(padding, "same")) return (*same = true, true);
    nb_fail(NB_ERR_ARG, "nb_conv2d_layer: unknown padding '%s'; use \"valid\" or \"same\"",
            padding);
    return false;
}

nb_layer *nb_conv2d_layer_ex(int64_t filters, const nb_conv2d_layer_opts *opts) {
    const char *fn = "nb_conv2d_layer";
    if (!opts) return nb_fail(NB_ERR_NULL, "%s: options are NULL (the kernel size is needed)", fn);
    nb_conv2d_layer_opts o = *opts;
    bool same;
    if (filters < 1)
        return nb_fail(NB_ERR_ARG, "%s: filters %lld must be >= 1", fn, (long long)filters);
    if (o.kernel_h < 1 || o.kernel_w < 1 || o.stride_h < 0 || o.stride_w < 0)
        return nb_fail(NB_ERR_ARG, "%s: kernel %dx%d must be >= 1 and strides %dx%d >= 0", fn,
                       o.kernel_h, o.kernel_w, o.stride_h, o.stride_w);
    if (!parse_padding(o.padding, &same)) return NULL;
    nb_layer *l = nb_layer_alloc(fn, &conv_ops);
    if (!l || !nb_layer_configure(l, fn, o.activation, o.kernel_init, o.bias_init,
                                  o.kernel_regularizer, o.name))
        return NULL;
    l->cfg.conv.filters = filters;
    l->cfg.conv.kh = o.kernel_h;
    l->cfg.conv.kw = o.kernel_w;
    l->cfg.conv.sh = o.stride_h ? o.stride_h : 1;
    l->cfg.conv.sw = o.stride_w ? o.stride_w : 1;
    l->cfg.conv.same = same;
    return l;
}

nb_layer *nb_conv2d_layer(int64_t filters, int kernel, const char *activation) {
    return nb_conv2d_layer_ex(
        filters,
        &(nb_conv2d_layer_opts){.kernel_h = kernel, .kernel_w = kernel, .activation = activation});
}

/* ---- MaxPool2D, AvgPool2D: [N, C, H, W] -> [N, C, H', W'], windows without padding -------- */
static nb_status pool_build(nb_layer *l) {
    const char *type = l->ops->type;
    if (!is_image(l))
        return nb_fail_status(NB_ERR_SHAPE, "%s needs images (None, channels, height, width)",
                              type);
    int64_t p = l->cfg.pool.size, s = l->cfg.pool.stride;
    int64_t ho = valid_side(l->in_shape[1], p, s), wo = valid_side(l->in_shape[2], p, s);
    if (ho < 1 || wo < 1)
        return nb_fail_status(
            NB_ERR_SHAPE, "%s's %lldx%lld window does not fit in a %lldx%lld image", type,
            (long long)p, (long long)p, (long long)l->in_shape[1], (long long)l->in_shape[2]);
    l->out_ndim = 3;
    l->out_shape[0] = l->in_shape[0];
    l->out_shape[1] = ho;
    l->out_shape[2] = wo;
    return NB_OK;
}

static nb_tensor *pool_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)training;
    int p = l->cfg.pool.size, s = l->cfg.pool.stride;
    if (l->cfg.pool.max) return nb_max_pool2d(x, p, p, s, s, 0, 0);
    return nb_avg_pool2d(x, p, p, s, s, 0, 0, false);
}

static const nb_layer_ops max_pool_ops = {
    .type = "MaxPooling2D",
    .base_name = "max_pooling2d",
    .build = pool_build,
    .forward = pool_forward,
};

static const nb_layer_ops avg_pool_ops = {
    .type = "AveragePooling2D",
    .base_name = "average_pooling2d",
    .build = pool_build,
    .forward = pool_forward,
};

static nb_layer *pool_layer(const char *fn, const nb_layer_ops *ops, bool max, int pool,
                            int stride) {
    if (pool < 1 || stride < 0)
        return nb_fail(NB_ERR_ARG, "%s: pool %d must be >= 1 and stride %d >= 0", fn, pool, stride);
    nb_layer *l = nb_layer_alloc(fn, ops);
    if (!l) return NULL;
    l->cfg.pool.size = pool;
    l->cfg.pool.stride = stride ? stride : pool;
    l->cfg.pool.max = max;
    return l;
}

nb_layer *nb_max_pool2d_layer(int pool, int stride) {
    return pool_layer("nb_max_pool2d_layer", &max_pool_ops, true, pool, stride);
}

nb_layer *nb_avg_pool2d_layer(int pool, int stride) {
    return pool_layer("nb_avg_pool2d_layer", &avg_pool_ops, false, pool, stride);
}

/* ---- BatchNormalization over the features [C] or the channels of [C, H, W] ------------
 * gamma, beta trainable; the moving mean and variance are the layer's state,
 * updated by each training forward pass and used in inference. */
enum { BN_GAMMA = 0, BN_BETA, BN_MEAN, BN_VAR };

static nb_status bn_build(nb_layer *l) {
    if (l->in_ndim != 1 && l->in_ndim != 3)
        return nb_fail_status(
            NB_ERR_SHAPE, "BatchNormalization needs features (None, C) or images (None, C, H, W)");
    int64_t c = l->in_shape[0];
    l->out_ndim = l->in_ndim;
    memcpy(l->out_shape, l->in_shape, sizeof l->out_shape);
    const struct {
        const char *role;
        bool trainable;
        nb_init init;
    } w[] = {{"gamma", true, NB_INIT_ONES},
             {"beta", true, NB_INIT_ZEROS},
             {"moving_mean", false, NB_INIT_ZEROS},
             {"moving_variance", false, NB_INIT_ONES}};
    for (int i = 0; i < 4; i++)
        if (!nb_layer_add_weight(l, w[i].role, &c, 1, w[i].trainable, w[i].init, c, c))
            return nb_failure_code();
    return NB_OK;
}

/* The op takes PyTorch's momentum (the weight of the new batch): 1 - Keras's. */
static nb_tensor *bn_forward(nb_layer *l, nb_tensor *x, bool training) {
    nb_weight *w = l->weights;
    return nb_batch_norm(x, w[BN_GAMMA].t, w[BN_BETA].t, w[BN_MEAN].t, w[BN_VAR].t,
                         1.0f - l->cfg.bn.momentum, l->cfg.bn.eps, training);
}

static const nb_layer_ops bn_ops = {
    .type = "BatchNormalization",
    .base_name = "batch_normalization",
    .build = bn_build,
    .forward = bn_forward,
};

nb_layer *nb_batch_norm_layer(float momentum, float eps) {
    if (momentum == 0) momentum = 0.99f;
    if (eps == 0) eps = 1e-3f;
    if (!(momentum > 0 && momentum < 1) || !(eps > 0) || !isfinite(eps))
        return nb_fail(NB_ERR_ARG,
                       "nb_batch_norm_layer: momentum %g must be in (0, 1) and eps %g > 0",
                       momentum, eps);
    nb_layer *l = nb_layer_alloc("nb_batch_norm_layer", &bn_ops);
    if (!l) return NULL;
    l->cfg.bn.momentum = momentum;
    l->cfg.bn.eps = eps;
    return l;
}
