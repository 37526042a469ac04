/* Max and average pooling on oneDNN's pooling primitives.
 *
 *   x: [N, C, H, W] -> y: [N, C, H', W'],  H' = (H + 2 pad - k) / stride + 1
 *
 * Max pooling in training keeps oneDNN's workspace (where each maximum came
 * from) for the backward pass, which routes dy to those positions; average
 * pooling spreads dy evenly over each window.
 */
#include "../core/dnnl_cnn_internal.h"
#include "nabla/cnn.h"
#include "op.h"

#include <string.h>

typedef struct {
    nb_pool_geom g;
    int64_t shape[4]; /* pool_backward: the input's shape */
} pool_attrs;

static nb_status pool_shape(const nb_node *n, nb_layout *l) {
    const nb_pool_geom *g = &NB_ATTRS(n, pool_attrs)->g;
    const nb_tensor *x = n->in[0];
    const char *fn = n->def->name;
    if (x->ndim != 4)
        return nb_failc(NB_ERR_SHAPE, "nb_%s: x must be [N, C, H, W]; got %s", fn, nb_shape_s(x));
    if (x->shape[2] < 1 || x->shape[3] < 1)
        return nb_failc(NB_ERR_SHAPE, "nb_%s: the image of x %s is empty", fn, nb_shape_s(x));
    int64_t out[2];
    for (int i = 0; i < 2; i++) {
        int64_t padded = x->shape[2 + i] + g->pad_l[i] + g->pad_r[i];
        if (g->kernel[i] > padded)
            return nb_failc(NB_ERR_SHAPE,
                            "nb_%s: window %lldx%lld is larger than the padded input %lldx%lld", fn,
                            (long long)g->kernel[0], (long long)g->kernel[1],
                            (long long)(x->shape[2] + g->pad_l[0] + g->pad_r[0]),
                            (long long)(x->shape[3] + g->pad_l[1] + g->pad_r[1]));
        out[i] = (padded - g->kernel[i]) / g->stride[i] + 1;
    }
    nb_layout_contiguous(l, (int64_t[]){x->shape[0], x->shape[1], out[0], out[1]}, 4);
    return NB_OK;
}

static nb_status pool_forward(nb_node *n) {
    return nb_k_pool(nb_op_fn(n), &NB_ATTRS(n, pool_attrs)->g, n->in[0], n->out, &n->saved[0]);
}

static nb_status input_shape(const nb_node *n, nb_layout *l) {
    nb_layout_contiguous(l, NB_ATTRS(n, pool_attrs)->shape, 4);
    return NB_OK;
}

/* in: [dy] or [dy, workspace] -> dx */
static nb_status pool_backward_forward(nb_node *n) {
    return nb_k_pool_bwd(nb_op_fn(n), &NB_ATTRS(n, pool_attrs)->g, n->in[0],
                         n->n_in > 1 ? n->in[1] : NULL, n->out);
}

static int print_pool(const nb_node *n, char *buf, size_t size) {
    const nb_pool_geom *g = &NB_ATTRS(n, pool_attrs)->g;
    return snprintf(buf, size, "kernel=%lldx%lld stride=%lldx%lld pad=%lldx%lld",
                    (long long)g->kernel[0], (long long)g->kernel[1], (long long)g->stride[0],
                    (long long)g->stride[1], (long long)g->pad_l[0], (long long)g->pad_l[1]);
}

static const nb_op_def pool_backward_def = {
    .name = "pool2d_backward",
    .flags = NB_OP_CONTIGUOUS,
    .shape = input_shape,
    .forward = pool_backward_forward,
    .print_attrs = print_pool,
};

static nb_status pool_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    pool_attrs a = *NB_ATTRS(n, pool_attrs);
    memcpy(a.shape, n->in[0]->shape, sizeof a.shape);
    nb_tensor *in[] = {gy, n->saved[0]};
    gx[0] = nb_apply(&pool_backward_def, in, n->saved[0] ? 2 : 1, &a, sizeof a);
    return gx[0] ? NB_OK : nb_error_code();
}

static const nb_op_def max_pool2d_def = {
    .name = "max_pool2d",
    .flags = NB_OP_CONTIGUOUS,
    .shape = pool_shape,
    .forward = pool_forward,
    .backward = pool_backward,
    .print_attrs = print_pool,
};

static const nb_op_def avg_pool2d_def = {
    .name = "avg_pool2d",
    .flags = NB_OP_CONTIGUOUS,
    .shape = pool_shape,
    .forward = pool_forward,
    .backward = pool_backward,
    .print_attrs = print_pool,
};

static nb_tensor *pool(const nb_op_def *def, int alg, nb_tensor *x, int kh, int kw, int sh, int sw,
                       int ph, int pw) {
    char fn[32];
    snprintf(fn, sizeof fn, "nb_%s", def->name);
    if (!x) return nb_fail_null(fn);
    if (!sh) sh = kh;
    if (!sw) sw = kw;
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0)
        return nb_fail(NB_ERR_ARG,
                       "%s: window %dx%d, stride %dx%d must be positive and padding "
                       "%dx%d not negative",
                       fn, kh, kw, sh, sw, ph, pw);
    if ((int64_t)ph * 2 > kh || (int64_t)pw * 2 > kw) /* an int's double may not fit an int */
        return nb_fail(NB_ERR_ARG, "%s: padding %dx%d is more than half the window %dx%d", fn, ph,
                       pw, kh, kw);
    pool_attrs a = {.g = {.alg = alg,
                          .kernel = {kh, kw},
                          .stride = {sh, sw},
                          .pad_l = {ph, pw},
                          .pad_r = {ph, pw}}};
    return nb_apply(def, &x, 1, &a, sizeof a);
}

nb_tensor *nb_max_pool2d(nb_tensor *x, int kh, int kw, int stride_h, int stride_w, int pad_h,
                         int pad_w) {
    return pool(&max_pool2d_def, dnnl_pooling_max, x, kh, kw, stride_h, stride_w, pad_h, pad_w);
}

nb_tensor *nb_avg_pool2d(nb_tensor *x, int kh, int kw, int stride_h, int stride_w, int pad_h,
                         int pad_w, bool count_include_pad) {
    int alg =
        count_include_pad ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding;
    return pool(&avg_pool2d_def, alg, x, kh, kw, stride_h, stride_w, pad_h, pad_w);
}

nb_tensor *nb_global_avg_pool(nb_tensor *x) {
    if (!x) return nb_fail_null("nb_global_avg_pool");
    if (x->ndim != 4)
        return nb_fail(NB_ERR_SHAPE, "nb_global_avg_pool: x must be [N, C, H, W]; got %s",
                       nb_shape_s(x));
    return nb_mean(x, (int[]){2, 3}, 2, false);
}
