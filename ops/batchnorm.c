/* Batch normalization over the channel axis, on oneDNN's batch-norm primitives.
 *
 *   x: [N, C], [N, C, L] or [N, C, H, W]; gamma, beta: [C] (or both NULL: 1 and 0)
 *   y = gamma * (x - mean) / sqrt(var + eps) + beta
 *
 * Training uses the batch's mean and (biased) variance and updates the running
 * statistics; its backward is oneDNN's backward primitive, which gives dx,
 * dgamma and dbeta at once: the op batch_norm_backward returns them packed in
 * one flat tensor, split again with slices. When the backward pass is itself
 * recorded (create_graph), the same gradients are written with ops instead,
 * the batch statistics recomputed from x, so that they can be differentiated
 * again. Inference uses the running statistics, so y is affine in x and the
 * backward is written with ops.
 */
#include "core/dnnl_cnn_internal.h"
#include "nabla/cnn.h"
#include "op.h"

#include <math.h>

typedef struct {
    float eps, momentum;
    bool training;
    nb_tensor *running_mean, *running_var; /* may be NULL in training */
} bn_attrs;

/* x's header seen as [N, C, H, W] ([N, C] gets H = W = 1, [N, C, L] H = L, W = 1) */
static nb_tensor as_4d(const nb_tensor *x) {
    nb_tensor v = *x;
    if (x->ndim < 4) {
        if (x->ndim == 2) v.shape[2] = 1;
        v.ndim = 4;
        v.shape[3] = 1;
        nb_contiguous_strides(v.shape, 4, v.strides);
    }
    return v;
}

static bool is_channel_vector(const nb_tensor *t, int64_t c) {
    return t && t->ndim == 1 && t->shape[0] == c;
}

static nb_status bn_shape(const nb_node *n, nb_layout *l) {
    const bn_attrs *a = NB_ATTRS(n, bn_attrs);
    const nb_tensor *x = n->in[0];
    if (x->ndim < 2 || x->ndim > 4)
        return nb_fail_status(NB_ERR_SHAPE,
                              "nb_batch_norm: x must be [N, C], [N, C, L] or [N, C, H, W]; got %s",
                              nb_shape_s(x));
    int64_t c = x->shape[1];
    if (!is_channel_vector(n->in[1], c) || !is_channel_vector(n->in[2], c) ||
        (a->running_mean && !is_channel_vector(a->running_mean, c)) ||
        (a->running_var && !is_channel_vector(a->running_var, c)))
        return nb_fail_status(
            NB_ERR_SHAPE,
            "nb_batch_norm: gamma %s, beta %s and running stats %s, %s must all be "
            "[%lld] for x %s",
            nb_shape_s(n->in[1]), nb_shape_s(n->in[2]), nb_shape_s(a->running_mean),
            nb_shape_s(a->running_var), (long long)c, nb_shape_s(x));
    if (a->training && x->numel / c < 2)
        return nb_fail_status(NB_ERR_SHAPE,
                              "nb_batch_norm: training needs more than one value per "
                              "channel; x is %s",
                              nb_shape_s(x));
    nb_layout_contiguous(l, x->shape, x->ndim);
    return NB_OK;
}

/* running = (1 - m) running + m batch, with the unbiased variance */
static void update_running(const bn_attrs *a, const nb_tensor *mean, const nb_tensor *var,
                           int64_t count) {
    float m = a->momentum;
    for (int64_t i = 0; i < mean->numel; i++) {
        if (a->running_mean)
            nb_ptr(a->running_mean)[i] = (1 - m) * nb_ptr(a->running_mean)[i] + m * nb_ptr(mean)[i];
        if (a->running_var)
            nb_ptr(a->running_var)[i] = (1 - m) * nb_ptr(a->running_var)[i] +
                                        m * nb_ptr(var)[i] * (float)count / (float)(count - 1);
    }
}

static nb_status bn_forward(nb_node *n) {
    const bn_attrs *a = NB_ATTRS(n, bn_attrs);
    nb_tensor x = as_4d(n->in[0]), y = as_4d(n->out);
    if (!a->training)
        return nb_kernel_batch_norm("nb_batch_norm", a->eps, false, &x, n->in[1], n->in[2],
                                    a->running_mean, a->running_var, &y);
    int64_t c = x.shape[1];
    nb_tensor *mean = nb_saved(n, 0, &c, 1), *var = nb_saved(n, 1, &c, 1);
    if (!mean || !var) return nb_failure_code();
    nb_status s =
        nb_kernel_batch_norm("nb_batch_norm", a->eps, true, &x, n->in[1], n->in[2], mean, var, &y);
    if (s == NB_OK) update_running(a, mean, var, x.numel / c);
    return s;
}

/* batch_norm_backward: in [dy, x, gamma, beta, mean, var] -> [dx | dgamma | dbeta] */
static nb_status packed_shape(const nb_node *n, nb_layout *l) {
    int64_t size = n->in[1]->numel + 2 * n->in[2]->numel;
    nb_layout_contiguous(l, &size, 1);
    return NB_OK;
}

static nb_status bn_backward_forward(nb_node *n) {
    const bn_attrs *a = NB_ATTRS(n, bn_attrs);
    nb_tensor gy = as_4d(n->in[0]), x = as_4d(n->in[1]);
    int64_t c = n->in[2]->numel;
    nb_tensor gx = x, dgamma = *n->in[2], dbeta = *n->in[2];
    gx.storage = dgamma.storage = dbeta.storage = n->out->storage;
    nb_contiguous_strides(gx.shape, 4, gx.strides);
    gx.offset = n->out->offset;
    dgamma.offset = gx.offset + x.numel;
    dbeta.offset = dgamma.offset + c;
    return nb_kernel_batch_norm_backward("nb_batch_norm", a->eps, &x, n->in[4], n->in[5], &gy,
                                         n->in[2], n->in[3], &gx, &dgamma, &dbeta);
}

static const nb_op_def bn_backward_def = {
    .name = "batch_norm_backward",
    .flags = NB_OP_CONTIGUOUS,
    .shape = packed_shape,
    .forward = bn_backward_forward,
};

/* training, with ops: mean and var over every axis but C (keepdim),
 *   xhat = (x - mean) / sqrt(var + eps),  dxhat = gamma dy
 *   dx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / sqrt(var + eps)
 *   dgamma = sum(dy xhat),  dbeta = sum(dy) */
static nb_status recorded_training_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    const bn_attrs *a = NB_ATTRS(n, bn_attrs);
    nb_tensor *x = n->in[0];
    int axes[] = {0, 2, 3}, nd = x->ndim, na = nd - 1;
    int64_t cshape[4] = {1, x->shape[1], 1, 1};
    nb_tensor *xc = nb_sub(x, nb_mean(x, axes, na, true));
    nb_tensor *var = nb_mean(nb_mul(xc, xc), axes, na, true);
    nb_tensor *inv_std = nb_pow_scalar(nb_add_scalar(var, a->eps), -0.5f);
    nb_tensor *xhat = nb_mul(xc, inv_std);
    if (n->needs_grad[0]) {
        nb_tensor *dxhat = nb_mul(gy, nb_reshape(n->in[1], cshape, nd));
        nb_tensor *along = nb_mul(xhat, nb_mean(nb_mul(dxhat, xhat), axes, na, true));
        gx[0] = nb_mul(nb_sub(nb_sub(dxhat, nb_mean(dxhat, axes, na, true)), along), inv_std);
        if (!gx[0]) return nb_failure_code();
    }
    if (n->needs_grad[1] && !(gx[1] = nb_sum(nb_mul(gy, xhat), axes, na, false)))
        return nb_failure_code();
    if (n->needs_grad[2] && !(gx[2] = nb_sum(gy, axes, na, false))) return nb_failure_code();
    return NB_OK;
}

static nb_status training_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    if (nb_grad_mode()) return recorded_training_backward(n, gy, gx);
    nb_tensor *x = n->in[0];
    int64_t nx = x->numel, c = n->in[1]->numel;
    nb_tensor *in[] = {gy, x, n->in[1], n->in[2], n->saved[0], n->saved[1]};
    nb_tensor *packed = nb_apply(&bn_backward_def, in, 6, n->attrs, sizeof(bn_attrs));
    gx[0] = nb_reshape(nb_slice(packed, 0, 0, nx, 1), x->shape, x->ndim);
    gx[1] = nb_slice(packed, 0, nx, nx + c, 1);
    gx[2] = nb_slice(packed, 0, nx + c, nx + 2 * c, 1);
    return gx[0] && gx[1] && gx[2] ? NB_OK : nb_failure_code();
}

/* inference: y = gamma * xhat + beta, xhat = (x - rm) / sqrt(rv + eps), per channel */
static nb_status inference_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    const bn_attrs *a = NB_ATTRS(n, bn_attrs);
    nb_tensor *x = n->in[0];
    int64_t c = x->shape[1];
    int64_t cshape[4] = {1, c, 1, 1};
    int axes[] = {0, 2, 3}; /* every axis but the channels' */
    int nd = x->ndim, naxes = nd - 1;
    nb_tensor *inv_std =
        nb_reshape(nb_pow_scalar(nb_add_scalar(a->running_var, a->eps), -0.5f), cshape, nd);
    nb_tensor *mean = nb_reshape(a->running_mean, cshape, nd);
    nb_tensor *xhat = nb_mul(nb_sub(x, mean), inv_std);
    gx[0] = nb_mul(gy, nb_mul(nb_reshape(n->in[1], cshape, nd), inv_std));
    gx[1] = nb_sum(nb_mul(gy, xhat), axes, naxes, false);
    gx[2] = nb_sum(gy, axes, naxes, false);
    return gx[0] && gx[1] && gx[2] ? NB_OK : nb_failure_code();
}

static nb_status bn_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    return NB_ATTRS(n, bn_attrs)->training ? training_backward(n, gy, gx)
                                           : inference_backward(n, gy, gx);
}

static int print_bn(const nb_node *n, char *buf, size_t size) {
    const bn_attrs *a = NB_ATTRS(n, bn_attrs);
    return snprintf(buf, size, "eps=%g momentum=%g %s", a->eps, a->momentum,
                    a->training ? "training" : "inference");
}

static const nb_op_def batch_norm_def = {
    .name = "batch_norm",
    .flags = NB_OP_CONTIGUOUS | NB_OP_EFFECT, /* running statistics */
    .shape = bn_shape,
    .forward = bn_forward,
    .backward = bn_backward,
    .print_attrs = print_bn,
};

nb_tensor *nb_batch_norm(nb_tensor *x, nb_tensor *gamma, nb_tensor *beta, nb_tensor *running_mean,
                         nb_tensor *running_var, float momentum, float eps, bool training) {
    if (!x || !gamma != !beta) return nb_fail_null("nb_batch_norm");
    if (!(eps > 0) || !(momentum >= 0 && momentum <= 1))
        return nb_fail(NB_ERR_ARG, "nb_batch_norm: eps %g must be > 0 and momentum %g in [0, 1]",
                       eps, momentum);
    if (!training && (!running_mean || !running_var))
        return nb_fail(NB_ERR_ARG, "nb_batch_norm: inference needs running_mean and running_var");
    bn_attrs a = {eps, momentum, training, running_mean, running_var};
    if ((running_mean && !nb_is_contiguous(running_mean)) ||
        (running_var && !nb_is_contiguous(running_var)))
        return nb_fail(NB_ERR_ARG, "nb_batch_norm: running statistics must be contiguous");
    if (!gamma) {                                   /* affine off: the identity scale and shift */
        int64_t c = x->ndim >= 2 ? x->shape[1] : 1; /* a bad x is for the shape rule to name */
        gamma = nb_ones(&c, 1);
        beta = nb_zeros(&c, 1);
        if (!gamma || !beta) return NULL;
    }
    return nb_apply(&batch_norm_def, (nb_tensor *[]){x, gamma, beta}, 3, &a, sizeof a);
}
