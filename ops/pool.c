/* Max and average pooling on oneDNN's pooling primitives.
 *
 *   x: [N, C, H, W] -> y: [N, C, H', W'],  H' = (H + 2 pad - span) / stride + 1,
 *   span = dilation (k - 1) + 1 (max pooling; 1 for average pooling); ceil_mode
 *   rounds up instead, by padding the end (PyTorch's rule, ceil_pad_end)
 *
 * Max pooling in training keeps oneDNN's workspace (where each maximum came
 * from) for the backward pass, which routes dy to those positions; average
 * pooling spreads dy evenly over each window.
 *
 * The backward op pool2d_backward is linear in dy, and has a gradient of its
 * own (so the backward pass can be differentiated again): with incoming g
 * [N, C, H, W],
 *   average pooling: d/d dy = avg_pool2d(g), the forward is the adjoint of
 *     the spreading, divisors and all;
 *   max pooling: d/d dy = max_pool2d_gather(g), g read at each window's
 *     maximum of x; the routing is constant in x almost everywhere, so x gets
 *     no gradient. The gather's own gradient is pool2d_backward again.
 */
#include "core/dnnl_cnn_internal.h"
#include "nabla/cnn.h"
#include "op.h"

#include <string.h>

typedef struct {
    nb_pool_geom g;
    int64_t shape[4]; /* pool2d_backward, max_pool2d_gather: the shape they produce */
} pool_attrs;

static nb_status pool_shape(const nb_node *n, nb_layout *l) {
    const nb_pool_geom *g = &NB_ATTRS(n, pool_attrs)->g;
    const nb_tensor *x = n->in[0];
    const char *fn = n->def->name;
    if (x->ndim != 4)
        return nb_fail_status(NB_ERR_SHAPE, "nb_%s: x must be [N, C, H, W]; got %s", fn,
                              nb_shape_s(x));
    if (x->shape[2] < 1 || x->shape[3] < 1)
        return nb_fail_status(NB_ERR_SHAPE, "nb_%s: the image of x %s is empty", fn, nb_shape_s(x));
    int64_t out[2];
    for (int i = 0; i < 2; i++) {
        int64_t padded = x->shape[2 + i] + g->pad_l[i] + g->pad_r[i];
        int64_t span = (g->kernel[i] - 1) * (g->dilate[i] + 1) + 1; /* the dilated window */
        if (span > padded)
            return nb_fail_status(
                NB_ERR_SHAPE, "nb_%s: window %lldx%lld is larger than the padded input %lldx%lld%s",
                fn, (long long)g->kernel[0], (long long)g->kernel[1],
                (long long)(x->shape[2] + g->pad_l[0] + g->pad_r[0]),
                (long long)(x->shape[3] + g->pad_l[1] + g->pad_r[1]),
                g->dilate[0] || g->dilate[1] ? " (once dilated)" : "");
        out[i] = (padded - span) / g->stride[i] + 1;
    }
    nb_layout_contiguous(l, (int64_t[]){x->shape[0], x->shape[1], out[0], out[1]}, 4);
    return NB_OK;
}

static nb_status pool_forward(nb_node *n) {
    return nb_kernel_pool(nb_op_caller(n), &NB_ATTRS(n, pool_attrs)->g, n->in[0], n->out,
                          &n->saved[0]);
}

static nb_status input_shape(const nb_node *n, nb_layout *l) {
    nb_layout_contiguous(l, NB_ATTRS(n, pool_attrs)->shape, 4);
    return NB_OK;
}

/* in: [dy] or [dy, workspace] -> dx */
static nb_status pool_backward_forward(nb_node *n) {
    return nb_kernel_pool_backward(nb_op_caller(n), &NB_ATTRS(n, pool_attrs)->g, n->in[0],
                                   n->n_in > 1 ? n->in[1] : NULL, n->out);
}

static int print_pool(const nb_node *n, char *buf, size_t size) {
    const nb_pool_geom *g = &NB_ATTRS(n, pool_attrs)->g;
    int k = snprintf(buf, size, "kernel=%lldx%lld stride=%lldx%lld pad=%lldx%lld",
                     (long long)g->kernel[0], (long long)g->kernel[1], (long long)g->stride[0],
                     (long long)g->stride[1], (long long)g->pad_l[0], (long long)g->pad_l[1]);
    if (k >= 0 && (size_t)k < size && (g->dilate[0] || g->dilate[1]))
        k += snprintf(buf + k, size - (size_t)k, " dilation=%lldx%lld", (long long)g->dilate[0] + 1,
                      (long long)g->dilate[1] + 1);
    if (k >= 0 && (size_t)k < size && (g->pad_r[0] != g->pad_l[0] || g->pad_r[1] != g->pad_l[1]))
        k += snprintf(buf + k, size - (size_t)k, " pad_end=%lldx%lld", (long long)g->pad_r[0],
                      (long long)g->pad_r[1]);
    return k;
}

static const nb_op_def pool_backward_def, avg_pool2d_def, gather_def;

/* dx = pool2d_backward(dy): ws is max pooling's workspace (NULL for average
 * pooling); when the backward pass is recorded it also holds x, for the
 * gather that is its gradient */
static nb_tensor *routed_grad(const pool_attrs *a, nb_tensor *dy, nb_tensor *ws, nb_tensor *x) {
    nb_tensor *in[] = {dy, ws, x};
    int n = !ws ? 1 : nb_grad_mode() ? 3 : 2;
    return nb_apply(&pool_backward_def, in, n, a, sizeof *a);
}

/* max_pool2d_gather: in [g, ws, x] -> z [N, C, H', W'], z = g at the first
 * maximum of x in each window (rows, then columns: oneDNN's order, so it is
 * where the workspace routes dy to; tests check the two agree on ties) */
static int64_t window_argmax(const nb_pool_geom *g, const float *x, int64_t h, int64_t w,
                             int64_t oh, int64_t ow) {
    int64_t best = -1;
    for (int64_t kh = 0; kh < g->kernel[0]; kh++) {
        int64_t ih = oh * g->stride[0] - g->pad_l[0] + kh * (g->dilate[0] + 1);
        if (ih < 0 || ih >= h) continue;
        for (int64_t kw = 0; kw < g->kernel[1]; kw++) {
            int64_t iw = ow * g->stride[1] - g->pad_l[1] + kw * (g->dilate[1] + 1);
            if (iw < 0 || iw >= w) continue;
            if (best < 0 || x[ih * w + iw] > x[best]) best = ih * w + iw;
        }
    }
    return best;
}

static nb_status gather_forward(nb_node *n) {
    const nb_pool_geom *g = &NB_ATTRS(n, pool_attrs)->g;
    const nb_tensor *x = n->in[2];
    int64_t h = x->shape[2], w = x->shape[3], plane = h * w;
    int64_t oh = n->out->shape[2], ow = n->out->shape[3];
    const float *gp = nb_ptr(n->in[0]), *xp = nb_ptr(x);
    float *z = nb_ptr(n->out);
    for (int64_t p = 0; p < x->shape[0] * x->shape[1]; p++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                int64_t at = window_argmax(g, xp + p * plane, h, w, i, j);
                z[(p * oh + i) * ow + j] = at < 0 ? 0.0f : gp[p * plane + at];
            }
    return NB_OK;
}

/* attrs for an op that produces a tensor of t's shape */
static pool_attrs producing(const nb_node *n, const nb_tensor *t) {
    pool_attrs a = *NB_ATTRS(n, pool_attrs);
    memcpy(a.shape, t->shape, sizeof a.shape);
    return a;
}

static nb_status gather_backward(nb_node *n, nb_tensor *gz, nb_tensor **gx) {
    pool_attrs a = producing(n, n->in[2]);
    if (n->needs_grad[0] && !(gx[0] = routed_grad(&a, gz, n->in[1], n->in[2])))
        return nb_failure_code();
    return NB_OK; /* ws and x: no gradient (the routing is piecewise constant) */
}

/* in: [dy] (average), [dy, ws] or [dy, ws, x] (max), incoming g [N, C, H, W] */
static nb_status pool_backward_backward(nb_node *n, nb_tensor *g, nb_tensor **gx) {
    pool_attrs a = producing(n, n->in[0]); /* dy's shape, the pooled one */
    if (!n->needs_grad[0]) return NB_OK;
    if (a.g.alg != dnnl_pooling_max)
        gx[0] = nb_apply(&avg_pool2d_def, &g, 1, &a, sizeof a);
    else if (n->n_in == 3)
        gx[0] = nb_apply(&gather_def, (nb_tensor *[]){g, n->in[1], n->in[2]}, 3, &a, sizeof a);
    else /* recorded without x (grad mode was off): routed_grad does not do that */
        return nb_fail_status(
            NB_ERR_STATE, "nb_max_pool2d: a pool2d_backward recorded without its input x cannot be "
                          "differentiated");
    return gx[0] ? NB_OK : nb_failure_code();
}

static const nb_op_def pool_backward_def = {
    .name = "pool2d_backward",
    .flags = NB_OP_CONTIGUOUS,
    .shape = input_shape,
    .forward = pool_backward_forward,
    .backward = pool_backward_backward,
    .print_attrs = print_pool,
};

static const nb_op_def gather_def = {
    .name = "max_pool2d_gather",
    .flags = NB_OP_CONTIGUOUS,
    .shape = input_shape,
    .forward = gather_forward,
    .backward = gather_backward,
    .print_attrs = print_pool,
};

static nb_status pool_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    pool_attrs a = *NB_ATTRS(n, pool_attrs);
    memcpy(a.shape, n->in[0]->shape, sizeof a.shape);
    gx[0] = routed_grad(&a, gy, n->saved[0], n->in[0]);
    return gx[0] ? NB_OK : nb_failure_code();
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

/* PyTorch's ceil_mode: H' = ceil((H + 2 pad - span) / stride) + 1, less one
 * when the last window would start past the input and its left padding; the
 * windows it adds past the end are read through extra padding on the right
 * (max pooling never picks a padded element) */
static int64_t ceil_pad_end(int64_t in, int64_t span, int64_t stride, int64_t pad) {
    if (in + 2 * pad < span) return pad; /* the shape rule names it */
    int64_t out = (in + 2 * pad - span + stride - 1) / stride + 1;
    if ((out - 1) * stride >= in + pad) out--;
    int64_t end = (out - 1) * stride + span - in - pad;
    return end > pad ? end : pad;
}

static nb_tensor *pool(const nb_op_def *def, int alg, nb_tensor *x, int kh, int kw,
                       const nb_max_pool2d_opts *o) {
    char fn[32];
    snprintf(fn, sizeof fn, "nb_%s", def->name);
    if (!x) return nb_fail_null(fn);
    int sh = o->stride_h ? o->stride_h : kh, sw = o->stride_w ? o->stride_w : kw;
    int dh = o->dilation_h ? o->dilation_h : 1, dw = o->dilation_w ? o->dilation_w : 1;
    int ph = o->pad_h, pw = o->pad_w;
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 || dh < 1 || dw < 1)
        return nb_fail(NB_ERR_ARG,
                       "%s: window %dx%d, stride %dx%d, dilation %dx%d must be positive and "
                       "padding %dx%d not negative",
                       fn, kh, kw, sh, sw, dh, dw, ph, pw);
    if ((int64_t)ph * 2 > kh || (int64_t)pw * 2 > kw) /* an int's double may not fit an int */
        return nb_fail(NB_ERR_ARG, "%s: padding %dx%d is more than half the window %dx%d", fn, ph,
                       pw, kh, kw);
    pool_attrs a = {.g = {.alg = alg,
                          .kernel = {kh, kw},
                          .stride = {sh, sw},
                          .pad_l = {ph, pw},
                          .pad_r = {ph, pw},
                          .dilate = {dh - 1, dw - 1}}};
    if (o->ceil_mode && x->ndim == 4)
        for (int i = 0; i < 2; i++) {
            int64_t span = (a.g.kernel[i] - 1) * (a.g.dilate[i] + 1) + 1;
            a.g.pad_r[i] = ceil_pad_end(x->shape[2 + i], span, a.g.stride[i], a.g.pad_l[i]);
        }
    return nb_apply(def, &x, 1, &a, sizeof a);
}

nb_tensor *nb_max_pool2d(nb_tensor *x, int kh, int kw, int stride_h, int stride_w, int pad_h,
                         int pad_w) {
    nb_max_pool2d_opts o = {
        .stride_h = stride_h, .stride_w = stride_w, .pad_h = pad_h, .pad_w = pad_w};
    return pool(&max_pool2d_def, dnnl_pooling_max, x, kh, kw, &o);
}

nb_tensor *nb_max_pool2d_ex(nb_tensor *x, int kh, int kw, const nb_max_pool2d_opts *opts) {
    nb_max_pool2d_opts o = opts ? *opts : (nb_max_pool2d_opts){0};
    return pool(&max_pool2d_def, dnnl_pooling_max, x, kh, kw, &o);
}

nb_tensor *nb_avg_pool2d(nb_tensor *x, int kh, int kw, int stride_h, int stride_w, int pad_h,
                         int pad_w, bool count_include_pad) {
    int alg =
        count_include_pad ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding;
    nb_max_pool2d_opts o = {
        .stride_h = stride_h, .stride_w = stride_w, .pad_h = pad_h, .pad_w = pad_w};
    return pool(&avg_pool2d_def, alg, x, kh, kw, &o);
}

nb_tensor *nb_global_avg_pool(nb_tensor *x) {
    if (!x) return nb_fail_null("nb_global_avg_pool");
    if (x->ndim != 4)
        return nb_fail(NB_ERR_SHAPE, "nb_global_avg_pool: x must be [N, C, H, W]; got %s",
                       nb_shape_s(x));
    return nb_mean(x, (int[]){2, 3}, 2, false);
}
