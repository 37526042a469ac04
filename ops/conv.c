/* 2-D convolution on oneDNN's convolution primitives.
 *
 *   x: [N, C, H, W], w: [K, C/G, R, S], b: [K] -> y: [N, K, H', W']
 *   H' = (H + pad_top + pad_bottom - (dilation (R - 1) + 1)) / stride + 1
 *
 * Backward, each a recorded op:
 *   dx = conv2d_backward_data(dy, w)       (oneDNN backward-data)
 *   [dw | db] = conv2d_backward_weights(x, dy)
 *                                          (oneDNN backward-weights, bias too)
 *
 * The three are one bilinear form seen from three sides: for every x, w, dy
 *   <conv2d(x, w), dy> = <x, backward_data(dy, w)> = <w, backward_weights(x, dy)>
 * (and <b, sum dy> for the bias), whatever the stride, padding, dilation and
 * groups. So each backward op's own gradient is one of the other two, with the
 * same geometry, and the backward pass can be differentiated again:
 *   backward_data(dy, w), incoming g [N, C, H, W]:
 *     d/d dy = conv2d(g, w)                d/dw = backward_weights(g, dy)
 *   backward_weights(x, dy), incoming [gw | gb]:
 *     d/dx = backward_data(dy, gw)         d/d dy = conv2d(x, gw, gb)
 */
#include "core/dnnl_cnn_internal.h"
#include "nabla/cnn.h"
#include "op.h"

#include <string.h>

typedef struct {
    nb_conv_geom g;
    int64_t shape[4]; /* backward ops: the shape of the gradient they produce */
    bool bias;        /* backward weights: also the bias gradient, packed after dw */
} conv_attrs;

/* output size along one axis; < 1 when the kernel does not fit */
static int64_t out_size(int64_t in, int64_t k, int64_t stride, int64_t dilate, int64_t pl,
                        int64_t pr) {
    int64_t span, padded;
    if (!nb_mul_ok(dilate + 1, k - 1, &span) || !nb_add_ok(span, 1, &span)) return 0;
    if (!nb_add_ok(in, pl, &padded) || !nb_add_ok(padded, pr, &padded)) return 0;
    return padded < span ? 0 : (padded - span) / stride + 1;
}

/* a zero channel count, image side, filter count or kernel side (an empty batch is fine) */
static bool has_empty_size(const nb_tensor *x, const nb_tensor *w) {
    bool empty = false;
    for (int i = 0; i < 4; i++) empty |= (i > 0 && x->shape[i] < 1) || w->shape[i] < 1;
    return empty;
}

/* Keras's images are channels-last, [N, H, W, C]: given here, C lands in W.
 * Said only when a shape error happens anyway: the last axis holds the
 * channels w expects, or is 1, 3 or 4 after more than 4 "channels". */
static const char *layout_hint(const nb_tensor *x, int64_t want_c, bool kernel_too_wide) {
    int64_t c = x->shape[1], last = x->shape[3];
    bool looks = kernel_too_wide ? c > 4 && (last == 1 || last == 3 || last == 4)
                                 : last == want_c && last != c;
    return looks ? "; x looks channels-last [N, H, W, C]; nb_conv2d takes [N, C, H, W]: permute it "
                   "with nb_permute(x, (int[]){0, 3, 1, 2}, 4)"
                 : "";
}

static nb_status conv_shape(const nb_node *n, nb_layout *l) {
    const nb_conv_geom *g = &NB_ATTRS(n, conv_attrs)->g;
    const nb_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    if (x->ndim != 4 || w->ndim != 4)
        return nb_fail_status(
            NB_ERR_SHAPE,
            "nb_conv2d: x must be [N, C, H, W] or [C, H, W] and w [K, C, R, S]; got "
            "x %s, w %s",
            nb_shape_s(x), nb_shape_s(w));
    if (has_empty_size(x, w))
        return nb_fail_status(
            NB_ERR_SHAPE,
            "nb_conv2d: sizes must be positive (only the batch may be 0); got x %s, "
            "w %s",
            nb_shape_s(x), nb_shape_s(w));
    int64_t c = x->shape[1], k = w->shape[0];
    if (c != w->shape[1] * g->groups || k % g->groups)
        return nb_fail_status(
            NB_ERR_SHAPE,
            "nb_conv2d: channel mismatch: x %s has %lld channels, w %s expects %lld "
            "(%lld per group x %lld groups; filters must divide into the groups)%s",
            nb_shape_s(x), (long long)c, nb_shape_s(w), (long long)(w->shape[1] * g->groups),
            (long long)w->shape[1], (long long)g->groups,
            layout_hint(x, w->shape[1] * g->groups, false));
    if (b && (b->ndim != 1 || b->shape[0] != k))
        return nb_fail_status(NB_ERR_SHAPE, "nb_conv2d: bias %s does not match %lld filters",
                              nb_shape_s(b), (long long)k);
    int64_t ho =
        out_size(x->shape[2], w->shape[2], g->stride[0], g->dilate[0], g->pad_l[0], g->pad_r[0]);
    int64_t wo =
        out_size(x->shape[3], w->shape[3], g->stride[1], g->dilate[1], g->pad_l[1], g->pad_r[1]);
    if (ho < 1 || wo < 1)
        return nb_fail_status(
            NB_ERR_SHAPE,
            "nb_conv2d: kernel %lldx%lld (dilation %lldx%lld) is larger than the "
            "padded input %lldx%lld%s",
            (long long)w->shape[2], (long long)w->shape[3], (long long)g->dilate[0] + 1,
            (long long)g->dilate[1] + 1, (long long)(x->shape[2] + g->pad_l[0] + g->pad_r[0]),
            (long long)(x->shape[3] + g->pad_l[1] + g->pad_r[1]), layout_hint(x, 0, wo < 1));
    nb_layout_contiguous(l, (int64_t[]){x->shape[0], k, ho, wo}, 4);
    return NB_OK;
}

static nb_status conv_forward(nb_node *n) {
    return nb_kernel_conv("nb_conv2d", &NB_ATTRS(n, conv_attrs)->g, n->in[0], n->in[1],
                          n->n_in > 2 ? n->in[2] : NULL, n->out);
}

static nb_status grad_shape(const nb_node *n, nb_layout *l) {
    nb_layout_contiguous(l, NB_ATTRS(n, conv_attrs)->shape, 4);
    return NB_OK;
}

/* in: [dy, w] -> dx */
static nb_status conv_bwd_data_forward(nb_node *n) {
    return nb_kernel_conv_backward_data("nb_conv2d", &NB_ATTRS(n, conv_attrs)->g, n->in[0],
                                        n->in[1], n->out);
}

/* in: [x, dy] -> [dw | db], flat */
static nb_status packed_shape(const nb_node *n, nb_layout *l) {
    const conv_attrs *a = NB_ATTRS(n, conv_attrs);
    int64_t size = a->shape[0] * a->shape[1] * a->shape[2] * a->shape[3];
    size += a->bias ? a->shape[0] : 0;
    nb_layout_contiguous(l, &size, 1);
    return NB_OK;
}

static nb_status conv_bwd_weights_forward(nb_node *n) {
    const conv_attrs *a = NB_ATTRS(n, conv_attrs);
    nb_tensor gw = *n->out, gb = *n->out;
    gw.ndim = 4;
    memcpy(gw.shape, a->shape, sizeof a->shape);
    nb_contiguous_strides(gw.shape, 4, gw.strides);
    gw.numel = a->shape[0] * a->shape[1] * a->shape[2] * a->shape[3];
    gb.shape[0] = a->shape[0];
    gb.numel = a->shape[0];
    gb.offset += gw.numel;
    return nb_kernel_conv_backward_weights("nb_conv2d", &a->g, n->in[0], n->in[1], &gw,
                                           a->bias ? &gb : NULL);
}

static int print_conv(const nb_node *n, char *buf, size_t size) {
    const nb_conv_geom *g = &NB_ATTRS(n, conv_attrs)->g;
    return snprintf(buf, size, "stride=%lldx%lld pad=%lld,%lld/%lld,%lld dilation=%lld groups=%lld",
                    (long long)g->stride[0], (long long)g->stride[1], (long long)g->pad_l[0],
                    (long long)g->pad_l[1], (long long)g->pad_r[0], (long long)g->pad_r[1],
                    (long long)g->dilate[0] + 1, (long long)g->groups);
}

static const nb_op_def conv2d_def, conv_bwd_data_def, conv_bwd_weights_def;

/* dx = backward_data(dy, w) for an x of shape xshape */
static nb_tensor *data_grad(const conv_attrs *base, nb_tensor *dy, nb_tensor *w,
                            const int64_t *xshape) {
    conv_attrs a = *base;
    memcpy(a.shape, xshape, sizeof a.shape);
    a.bias = false;
    return nb_apply(&conv_bwd_data_def, (nb_tensor *[]){dy, w}, 2, &a, sizeof a);
}

/* dw = backward_weights(x, dy) for a w of shape wshape, and *db (when db is
 * not NULL) the bias gradient: the packed result split with views */
static nb_tensor *weights_grad(const conv_attrs *base, nb_tensor *x, nb_tensor *dy,
                               const int64_t *wshape, nb_tensor **db) {
    conv_attrs a = *base;
    memcpy(a.shape, wshape, sizeof a.shape);
    a.bias = db != NULL;
    int64_t nw = wshape[0] * wshape[1] * wshape[2] * wshape[3];
    nb_tensor *packed = nb_apply(&conv_bwd_weights_def, (nb_tensor *[]){x, dy}, 2, &a, sizeof a);
    if (db) *db = nb_slice(packed, 0, nw, nw + wshape[0], 1);
    return nb_reshape(a.bias ? nb_slice(packed, 0, 0, nw, 1) : packed, wshape, 4);
}

/* in: [dy, w], incoming g [N, C, H, W] */
static nb_status conv_bwd_data_backward(nb_node *n, nb_tensor *g, nb_tensor **gx) {
    const conv_attrs *a = NB_ATTRS(n, conv_attrs);
    nb_tensor *dy = n->in[0], *w = n->in[1];
    if (n->needs_grad[0] &&
        !(gx[0] = nb_apply(&conv2d_def, (nb_tensor *[]){g, w}, 2, a, sizeof *a)))
        return nb_failure_code();
    if (n->needs_grad[1] && !(gx[1] = weights_grad(a, g, dy, w->shape, NULL)))
        return nb_failure_code();
    return NB_OK;
}

/* in: [x, dy], incoming [gw | gb], flat */
static nb_status conv_bwd_weights_backward(nb_node *n, nb_tensor *g, nb_tensor **gx) {
    const conv_attrs *a = NB_ATTRS(n, conv_attrs);
    nb_tensor *x = n->in[0], *dy = n->in[1];
    int64_t nw = a->shape[0] * a->shape[1] * a->shape[2] * a->shape[3];
    nb_tensor *gw = nb_reshape(a->bias ? nb_slice(g, 0, 0, nw, 1) : g, a->shape, 4);
    nb_tensor *gb = a->bias ? nb_slice(g, 0, nw, nw + a->shape[0], 1) : NULL;
    if (!gw || (a->bias && !gb)) return nb_failure_code();
    if (n->needs_grad[0] && !(gx[0] = data_grad(a, dy, gw, x->shape))) return nb_failure_code();
    if (n->needs_grad[1] &&
        !(gx[1] = nb_apply(&conv2d_def, (nb_tensor *[]){x, gw, gb}, gb ? 3 : 2, a, sizeof *a)))
        return nb_failure_code();
    return NB_OK;
}

static const nb_op_def conv_bwd_data_def = {
    .name = "conv2d_backward_data",
    .flags = NB_OP_CONTIGUOUS,
    .shape = grad_shape,
    .forward = conv_bwd_data_forward,
    .backward = conv_bwd_data_backward,
    .print_attrs = print_conv,
};

static const nb_op_def conv_bwd_weights_def = {
    .name = "conv2d_backward_weights",
    .flags = NB_OP_CONTIGUOUS,
    .shape = packed_shape,
    .forward = conv_bwd_weights_forward,
    .backward = conv_bwd_weights_backward,
    .print_attrs = print_conv,
};

static nb_status conv_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    const conv_attrs *a = NB_ATTRS(n, conv_attrs);
    if (n->needs_grad[0] && !(gx[0] = data_grad(a, gy, n->in[1], n->in[0]->shape)))
        return nb_failure_code();
    bool has_bias = n->n_in > 2;
    if (n->needs_grad[1] || (has_bias && n->needs_grad[2])) {
        gx[1] = weights_grad(a, n->in[0], gy, n->in[1]->shape, has_bias ? &gx[2] : NULL);
        if (!gx[1] || (has_bias && !gx[2])) return nb_failure_code();
    }
    return NB_OK;
}

/* conv2d + activation, one oneDNN convolution with the activation as its post-op */
static nb_status conv_forward_fused(nb_node *n, const nb_post_op *post) {
    return nb_kernel_conv_post("nb_conv2d", &NB_ATTRS(n, conv_attrs)->g, n->in[0], n->in[1],
                               n->n_in > 2 ? n->in[2] : NULL, n->out, post);
}

static const nb_op_def conv2d_def = {
    .name = "conv2d",
    .flags = NB_OP_CONTIGUOUS,
    .shape = conv_shape,
    .forward = conv_forward,
    .backward = conv_backward,
    .print_attrs = print_conv,
    .forward_fused = conv_forward_fused,
};

/* Keras "same": output = ceil(in / stride); the odd pixel of padding goes last */
static void same_padding(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t *pl,
                         int64_t *pr) {
    int64_t out = (in + stride - 1) / stride, reach, total;
    /* a dilated kernel too large to measure gets no padding: out_size then
     * finds that it does not fit */
    if (!nb_mul_ok(dil, k - 1, &reach) || !nb_add_ok((out - 1) * stride + 1 - in, reach, &total))
        total = 0;
    if (total < 0) total = 0;
    *pl = total / 2;
    *pr = total - *pl;
}

static nb_tensor *conv2d_batched(nb_tensor *x, nb_tensor *w, nb_tensor *b,
                                 const nb_conv2d_opts *opts) {
    nb_conv2d_opts o = opts ? *opts : (nb_conv2d_opts){.padding = NB_PAD_VALID};
    if (!x || !w) return nb_fail_null("nb_conv2d");
    int sh = o.stride_h ? o.stride_h : 1, sw = o.stride_w ? o.stride_w : 1;
    int dh = o.dilation_h ? o.dilation_h : 1, dw = o.dilation_w ? o.dilation_w : 1;
    int groups = o.groups ? o.groups : 1;
    if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || groups < 1 || o.pad_h < 0 || o.pad_w < 0)
        return nb_fail(NB_ERR_ARG,
                       "nb_conv2d: stride %dx%d, dilation %dx%d, groups %d and "
                       "padding %dx%d must be positive (padding >= 0)",
                       sh, sw, dh, dw, groups, o.pad_h, o.pad_w);
    if (o.padding != NB_PAD_EXPLICIT && o.padding != NB_PAD_VALID && o.padding != NB_PAD_SAME)
        return nb_fail(NB_ERR_ARG,
                       "nb_conv2d: unknown padding mode %d (NB_PAD_EXPLICIT, NB_PAD_VALID or "
                       "NB_PAD_SAME)",
                       (int)o.padding);
    conv_attrs a = {.g = {.stride = {sh, sw}, .dilate = {dh - 1, dw - 1}, .groups = groups}};
    if (o.padding == NB_PAD_SAME && x->ndim == 4 && w->ndim == 4) {
        same_padding(x->shape[2], w->shape[2], sh, dh, &a.g.pad_l[0], &a.g.pad_r[0]);
        same_padding(x->shape[3], w->shape[3], sw, dw, &a.g.pad_l[1], &a.g.pad_r[1]);
    } else if (o.padding == NB_PAD_EXPLICIT) {
        a.g.pad_l[0] = a.g.pad_r[0] = o.pad_h;
        a.g.pad_l[1] = a.g.pad_r[1] = o.pad_w;
    }
    nb_tensor *in[] = {x, w, b};
    return nb_apply(&conv2d_def, in, b ? 3 : 2, &a, sizeof a);
}

/* PyTorch's unbatched form: x [C, H, W] -> [K, H', W'], a batch of one seen
 * through reshapes, so its gradients are the batched ones */
nb_tensor *nb_conv2d(nb_tensor *x, nb_tensor *w, nb_tensor *b, const nb_conv2d_opts *opts) {
    if (!x || x->ndim != 3) return conv2d_batched(x, w, b, opts);
    int64_t batched[4] = {1, x->shape[0], x->shape[1], x->shape[2]};
    nb_tensor *y = conv2d_batched(nb_reshape(x, batched, 4), w, b, opts);
    return y ? nb_reshape(y, y->shape + 1, 3) : NULL;
}
