/* More of Keras's layers, each on ops that have gradients: GlobalAveragePooling2D,
 * GlobalMaxPooling2D, Reshape, Permute, LayerNormalization, Embedding (on nb_gather),
 * GaussianNoise, ZeroPadding2D. Images are channels-first [N, C, H, W], as in
 * layers_cnn.c. None of them takes an activation.
 */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

static nb_status needs_images(const nb_layer *l) {
    return nb_fail_status(NB_ERR_SHAPE, "%s needs images (None, channels, height, width)",
                          l->ops->type);
}

/* ---- GlobalAveragePooling2D, GlobalMaxPooling2D: [N, C, H, W] -> [N, C] ---------------- */
static nb_status global_pool_build(nb_layer *l) {
    if (l->in_ndim != 3) return needs_images(l);
    l->out_ndim = 1;
    l->out_shape[0] = l->in_shape[0];
    return NB_OK;
}

static nb_tensor *global_avg_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)l;
    (void)training;
    return nb_global_avg_pool(x);
}

static nb_tensor *global_max_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)l;
    (void)training;
    return nb_max(x, (int[]){2, 3}, 2, false);
}

static const nb_layer_ops global_avg_ops = {
    .type = "GlobalAveragePooling2D",
    .base_name = "global_average_pooling2d",
    .build = global_pool_build,
    .forward = global_avg_forward,
};

static const nb_layer_ops global_max_ops = {
    .type = "GlobalMaxPooling2D",
    .base_name = "global_max_pooling2d",
    .build = global_pool_build,
    .forward = global_max_forward,
};

nb_layer *nb_global_avg_pool2d_layer(void) {
    return nb_layer_alloc("nb_global_avg_pool2d_layer", &global_avg_ops);
}

nb_layer *nb_global_max_pool2d_layer(void) {
    return nb_layer_alloc("nb_global_max_pool2d_layer", &global_max_ops);
}

/* ---- Reshape: [N, ...] -> [N, target...], one -1 inferred ------------------------------ */
static nb_status reshape_build(nb_layer *l) {
    int64_t in = 1, known = 1;
    int unknown = -1;
    for (int i = 0; i < l->in_ndim; i++) in *= l->in_shape[i];
    for (int i = 0; i < l->cfg.shape.ndim; i++)
        if (l->cfg.shape.dims[i] == -1)
            unknown = i;
        else
            known *= l->cfg.shape.dims[i];
    char got[128];
    nb_layer_shape_str(l->in_shape, l->in_ndim, got, sizeof got);
    if (unknown >= 0 && in % known == 0) l->cfg.shape.dims[unknown] = in / known;
    if ((unknown >= 0 && in % known) || (unknown < 0 && in != known))
        return nb_fail_status(
            NB_ERR_SHAPE, "Reshape's target shape has %lld values%s where the input %s has %lld",
            (long long)known, unknown >= 0 ? " times the -1" : "", got, (long long)in);
    l->out_ndim = l->cfg.shape.ndim;
    memcpy(l->out_shape, l->cfg.shape.dims, sizeof l->out_shape);
    return NB_OK;
}

static nb_tensor *reshape_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)training;
    int64_t shape[NB_MAX_DIMS];
    shape[0] = nb_shape(x)[0];
    memcpy(shape + 1, l->out_shape, (size_t)l->out_ndim * sizeof *shape);
    return nb_reshape(x, shape, l->out_ndim + 1);
}

static const nb_layer_ops reshape_ops = {
    .type = "Reshape",
    .base_name = "reshape",
    .build = reshape_build,
    .forward = reshape_forward,
};

nb_layer *nb_reshape_layer(const int64_t *target_shape, int ndim) {
    const char *fn = "nb_reshape_layer";
    if (!target_shape) return nb_fail(NB_ERR_NULL, "%s: target shape is NULL", fn);
    if (ndim < 1 || ndim >= NB_MAX_DIMS)
        return nb_fail(NB_ERR_ARG, "%s: target shape has %d dims; 1 to %d without the batch axis",
                       fn, ndim, NB_MAX_DIMS - 1);
    int minus = 0;
    for (int i = 0; i < ndim; i++) {
        minus += target_shape[i] == -1;
        if ((target_shape[i] < 1 && target_shape[i] != -1) || minus > 1)
            return nb_fail(NB_ERR_ARG,
                           "%s: target shape dim %d is %lld; dims must be >= 1, one may be -1", fn,
                           i, (long long)target_shape[i]);
    }
    nb_layer *l = nb_layer_alloc(fn, &reshape_ops);
    if (!l) return NULL;
    l->cfg.shape.ndim = ndim;
    memcpy(l->cfg.shape.dims, target_shape, (size_t)ndim * sizeof *target_shape);
    return l;
}

/* ---- Permute: dims 1-based over the axes after the batch axis, as Keras's ------------------ */
static nb_status permute_build(nb_layer *l) {
    if (l->in_ndim != l->cfg.shape.ndim)
        return nb_fail_status(NB_ERR_SHAPE, "Permute's %d dims need an input of %d dims, not %d",
                              l->cfg.shape.ndim, l->cfg.shape.ndim, l->in_ndim);
    l->out_ndim = l->in_ndim;
    for (int i = 0; i < l->in_ndim; i++) l->out_shape[i] = l->in_shape[l->cfg.shape.dims[i] - 1];
    return NB_OK;
}

static nb_tensor *permute_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)training;
    int perm[NB_MAX_DIMS] = {0};
    for (int i = 0; i < l->cfg.shape.ndim; i++) perm[i + 1] = (int)l->cfg.shape.dims[i];
    return nb_permute(x, perm, l->cfg.shape.ndim + 1);
}

static const nb_layer_ops permute_ops = {
    .type = "Permute",
    .base_name = "permute",
    .build = permute_build,
    .forward = permute_forward,
};

nb_layer *nb_permute_layer(const int *dims, int ndim) {
    const char *fn = "nb_permute_layer";
    if (!dims) return nb_fail(NB_ERR_NULL, "%s: dims are NULL", fn);
    if (ndim < 1 || ndim >= NB_MAX_DIMS)
        return nb_fail(NB_ERR_ARG, "%s: %d dims; 1 to %d without the batch axis", fn, ndim,
                       NB_MAX_DIMS - 1);
    bool seen[NB_MAX_DIMS] = {false};
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1 || dims[i] > ndim || seen[dims[i]])
            return nb_fail(NB_ERR_ARG,
                           "%s: dims must be a permutation of 1..%d (1-based, the batch axis "
                           "stays first); dim %d is %d",
                           fn, ndim, i, dims[i]);
        seen[dims[i]] = true;
    }
    nb_layer *l = nb_layer_alloc(fn, &permute_ops);
    if (!l) return NULL;
    l->cfg.shape.ndim = ndim;
    for (int i = 0; i < ndim; i++) l->cfg.shape.dims[i] = dims[i];
    return l;
}

/* ---- LayerNormalization over the last axis -----------------------------------------------
 * y = (x - mean) / sqrt(var + eps) * gamma + beta, mean and (biased) var of each sample's
 * last axis; weights gamma (if scale) then beta (if center), both [D]. */
static nb_status ln_build(nb_layer *l) {
    int64_t d = l->in_shape[l->in_ndim - 1];
    l->out_ndim = l->in_ndim;
    memcpy(l->out_shape, l->in_shape, sizeof l->out_shape);
    if (l->cfg.ln.scale && !nb_layer_add_weight(l, "gamma", &d, 1, true, NB_INIT_ONES, d, d))
        return nb_failure_code();
    if (l->cfg.ln.center && !nb_layer_add_weight(l, "beta", &d, 1, true, NB_INIT_ZEROS, d, d))
        return nb_failure_code();
    return NB_OK;
}

static nb_tensor *ln_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)training;
    int axis = nb_ndim(x) - 1;
    nb_tensor *centered = nb_sub(x, nb_mean(x, &axis, 1, true));
    nb_tensor *var = nb_mean(nb_square(centered), &axis, 1, true);
    nb_tensor *y = nb_div(centered, nb_sqrt(nb_add_scalar(var, l->cfg.ln.eps)));
    int w = 0;
    if (l->cfg.ln.scale) y = nb_mul(y, l->weights[w++].t);
    if (l->cfg.ln.center) y = nb_add(y, l->weights[w].t);
    return y;
}

static const nb_layer_ops ln_ops = {
    .type = "LayerNormalization",
    .base_name = "layer_normalization",
    .build = ln_build,
    .forward = ln_forward,
};

nb_layer *nb_layer_norm_layer(float eps, bool center, bool scale) {
    if (eps == 0) eps = 1e-3f;
    if (!(eps > 0) || !isfinite(eps))
        return nb_fail(NB_ERR_ARG, "nb_layer_norm_layer: eps %g must be > 0 and finite", eps);
    nb_layer *l = nb_layer_alloc("nb_layer_norm_layer", &ln_ops);
    if (!l) return NULL;
    l->cfg.ln.eps = eps;
    l->cfg.ln.center = center;
    l->cfg.ln.scale = scale;
    return l;
}

/* ---- Embedding: indices [N, ...] -> [N, ..., output_dim], rows of embeddings [V, D] ----- */
static nb_status embedding_build(nb_layer *l) {
    if (l->in_ndim + 1 >= NB_MAX_DIMS)
        return nb_fail_status(NB_ERR_SHAPE, "Embedding needs indices of at most %d dims",
                              NB_MAX_DIMS - 2);
    int64_t v = l->cfg.embedding.input_dim, d = l->cfg.embedding.output_dim;
    l->out_ndim = l->in_ndim + 1;
    memcpy(l->out_shape, l->in_shape, sizeof l->out_shape);
    l->out_shape[l->in_ndim] = d;
    if (!nb_layer_add_weight(l, "embeddings", (int64_t[]){v, d}, 2, true, NB_INIT_RANDOM_UNIFORM, v,
                             d))
        return nb_failure_code();
    return NB_OK;
}

static nb_tensor *embedding_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)training;
    return nb_gather(l->weights[0].t, x);
}

static const nb_layer_ops embedding_ops = {
    .type = "Embedding",
    .base_name = "embedding",
    .build = embedding_build,
    .forward = embedding_forward,
};

nb_layer *nb_embedding_layer(int64_t input_dim, int64_t output_dim) {
    if (input_dim < 1 || output_dim < 1 || input_dim > (INT64_C(1) << 31) ||
        output_dim > (INT64_C(1) << 31))
        return nb_fail(NB_ERR_ARG,
                       "nb_embedding_layer: input_dim %lld and output_dim %lld must be in [1, "
                       "2^31]",
                       (long long)input_dim, (long long)output_dim);
    nb_layer *l = nb_layer_alloc("nb_embedding_layer", &embedding_ops);
    if (!l) return NULL;
    l->cfg.embedding.input_dim = input_dim;
    l->cfg.embedding.output_dim = output_dim;
    return l;
}

/* ---- GaussianNoise: x + N(0, stddev) in training, x in inference ------------------------ */
static nb_status same_shape_build(nb_layer *l) {
    l->out_ndim = l->in_ndim;
    memcpy(l->out_shape, l->in_shape, sizeof l->out_shape);
    return NB_OK;
}

static nb_tensor *noise_forward(nb_layer *l, nb_tensor *x, bool training) {
    return nb_gaussian_noise(x, l->cfg.noise.stddev, training); /* an op: replays draw anew */
}

static const nb_layer_ops noise_ops = {
    .type = "GaussianNoise",
    .base_name = "gaussian_noise",
    .build = same_shape_build,
    .forward = noise_forward,
};

nb_layer *nb_gaussian_noise_layer(float stddev) {
    if (!(stddev >= 0) || !isfinite(stddev))
        return nb_fail(NB_ERR_ARG, "nb_gaussian_noise_layer: stddev %g must be >= 0 and finite",
                       stddev);
    nb_layer *l = nb_layer_alloc("nb_gaussian_noise_layer", &noise_ops);
    if (l) l->cfg.noise.stddev = stddev;
    return l;
}

/* ---- ZeroPadding2D: [N, C, H, W] -> [N, C, top + H + bottom, left + W + right] ------------- */
static nb_status pad_build(nb_layer *l) {
    if (l->in_ndim != 3) return needs_images(l);
    l->out_ndim = 3;
    l->out_shape[0] = l->in_shape[0];
    l->out_shape[1] = l->in_shape[1] + l->cfg.pad.top + l->cfg.pad.bottom;
    l->out_shape[2] = l->in_shape[2] + l->cfg.pad.left + l->cfg.pad.right;
    return NB_OK;
}

/* x with `before` and `after` zeros on both sides of axis */
static nb_tensor *pad_axis(nb_tensor *x, int axis, int before, int after) {
    if (!x || (before == 0 && after == 0)) return x;
    nb_tensor *parts[3];
    int n = 0;
    int64_t shape[4];
    memcpy(shape, nb_shape(x), sizeof shape);
    if (before) shape[axis] = before, parts[n++] = nb_zeros(shape, 4);
    parts[n++] = x;
    if (after) shape[axis] = after, parts[n++] = nb_zeros(shape, 4);
    return nb_concat(parts, n, axis);
}

static nb_tensor *pad_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)training;
    x = pad_axis(x, 2, l->cfg.pad.top, l->cfg.pad.bottom);
    return pad_axis(x, 3, l->cfg.pad.left, l->cfg.pad.right);
}

static const nb_layer_ops pad_ops = {
    .type = "ZeroPadding2D",
    .base_name = "zero_padding2d",
    .build = pad_build,
    .forward = pad_forward,
};

nb_layer *nb_zero_padding2d_layer_ex(int top, int bottom, int left, int right) {
    const char *fn = "nb_zero_padding2d_layer";
    if (top < 0 || bottom < 0 || left < 0 || right < 0 || top > 65535 || bottom > 65535 ||
        left > 65535 || right > 65535)
        return nb_fail(NB_ERR_ARG,
                       "%s: padding top %d, bottom %d, left %d, right %d must be in [0, 65535]", fn,
                       top, bottom, left, right);
    nb_layer *l = nb_layer_alloc(fn, &pad_ops);
    if (!l) return NULL;
    l->cfg.pad.top = top;
    l->cfg.pad.bottom = bottom;
    l->cfg.pad.left = left;
    l->cfg.pad.right = right;
    return l;
}

nb_layer *nb_zero_padding2d_layer(int pad_h, int pad_w) {
    return nb_zero_padding2d_layer_ex(pad_h, pad_h, pad_w, pad_w);
}
