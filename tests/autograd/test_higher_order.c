/* Higher-order gradients: create_graph, nb_grad_of, Hessian-vector products,
 * the full Hessian, and a second-order gradient check of every op. */
#include "nb_test.h"
#include "ops/op.h" /* the tape's nodes and their op definitions, for the coverage check */

/* ---- the second-order table --------------------------------------------------------
 * Each row is one op under a function of its inputs; inputs are filled with
 * values away from the op's kinks (|x| >= 0.15) and, for ops defined on x > 0,
 * shifted into it. Shapes have equal sizes on distinct axes (square images,
 * as many channels as samples), so a rule that mixes up two axes still fits
 * and fails on the numbers. */
typedef struct op_case {
    const char *name;
    nb_grad_fn fn;
    int n_in;
    int64_t shape[3][4]; /* each input's shape, ended by a 0 */
    bool positive;       /* the op needs x > 0 */
    bool constant_1;     /* input 1 is data (labels, targets): no gradient */
} op_case;

static nb_tensor *f_add(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    return nb_mul(nb_add(x[0], x[1]), nb_add(x[0], x[1])); /* add is linear: square it */
}
static nb_tensor *f_sub(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *d = nb_sub(x[0], x[1]);
    return nb_mul(d, d);
}
static nb_tensor *f_mul(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    return nb_mul(nb_mul(x[0], x[1]), x[0]);
}
static nb_tensor *f_div(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    return nb_div(x[0], x[1]);
}
static nb_tensor *f_broadcast_mul(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    return nb_mul(nb_mul(x[0], x[1]), x[1]); /* x[1] is [3, 1] against [3, 3] */
}
static nb_tensor *f_maximum(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *m = nb_maximum(x[0], x[1]);
    return nb_mul(m, m);
}
static nb_tensor *f_minimum(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *m = nb_minimum(x[0], x[1]);
    return nb_mul(m, m);
}
static nb_tensor *f_broadcast_to(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *b = nb_broadcast_to(x[0], (int64_t[]){3, 3, 3}, 3);
    return nb_mul(b, b);
}
static nb_tensor *f_permute(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *p = nb_contiguous(nb_permute(x[0], (int[]){1, 0}, 2));
    return nb_mul(nb_flatten(p), nb_flatten(p));
}
static nb_tensor *f_dropout(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_manual_seed(7); /* the same mask on every call */
    nb_tensor *d = nb_dropout(x[0], 0.5f, true);
    return nb_mul(d, d);
}
static nb_tensor *f_gaussian_noise(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_manual_seed(7); /* the same noise on every call */
    nb_tensor *d = nb_gaussian_noise(x[0], 0.5f, true);
    return nb_mul(d, d);
}
static nb_tensor *f_matmul(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *y = nb_matmul(x[0], x[1]);
    return nb_mul(y, y);
}
static nb_tensor *f_linear(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *y = nb_linear(x[0], x[1], x[2]);
    return nb_mul(y, y);
}
static nb_tensor *f_sum_axis(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *s = nb_sum(x[0], (int[]){1}, 1, true);
    return nb_mul(s, s);
}
static nb_tensor *f_mean(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *s = nb_mean(x[0], (int[]){0}, 1, false);
    return nb_mul(s, s);
}
static nb_tensor *f_max(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *s = nb_max(x[0], (int[]){1}, 1, true);
    return nb_mul(nb_mul(s, s), x[0]);
}
static nb_tensor *f_transpose(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    return nb_mul(nb_transpose(x[0], 0, 1), nb_transpose(x[0], 0, 1));
}
static nb_tensor *f_reshape(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *r = nb_reshape(x[0], (int64_t[]){9}, 1);
    return nb_mul(r, nb_exp(r));
}
static nb_tensor *f_slice(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *s = nb_slice(x[0], 1, 0, 2, 1);
    return nb_mul(s, s);
}
static nb_tensor *f_concat(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *s = nb_concat(x, 2, 0);
    return nb_mul(s, s);
}
static nb_tensor *f_gather(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c; /* rows 3, 1, 3, 0 of [4, 3]: the gradient is scatter_add, its gather */
    nb_tensor *s = nb_gather(x[0], nb_from_array((float[]){3, 1, 3, 0}, NB_SHAPE(2, 2)));
    return nb_mul(s, s);
}
static nb_tensor *f_slice_step(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *s = nb_slice(x[0], 0, 0, 3, 2); /* rows 0 and 2 */
    return nb_mul(nb_mul(s, s), s);
}
static nb_tensor *f_min(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *s = nb_min(x[0], (int[]){0}, 1, true);
    return nb_mul(nb_mul(s, s), x[0]);
}

/* ---- conv2d: plain, strided and padded (with bias), dilated in groups, "same" with
 * its uneven padding; the square of the output, so that the second derivative
 * runs through both backward ops */
static nb_tensor *conv_square(nb_tensor *const *x, int n, const nb_conv2d_opts *o) {
    nb_tensor *y = nb_conv2d(x[0], x[1], n > 2 ? x[2] : NULL, o);
    return nb_mul(y, y);
}
static nb_tensor *f_conv(nb_tensor *const *x, int n, void *c) {
    (void)c;
    return conv_square(x, n, NULL);
}
static nb_tensor *f_conv_strided(nb_tensor *const *x, int n, void *c) {
    (void)c;
    nb_conv2d_opts o = {
        .stride_h = 2, .stride_w = 2, .padding = NB_PAD_EXPLICIT, .pad_h = 1, .pad_w = 1};
    return conv_square(x, n, &o);
}
static nb_tensor *f_conv_dilated_groups(nb_tensor *const *x, int n, void *c) {
    (void)c;
    nb_conv2d_opts o = {.dilation_h = 2,
                        .dilation_w = 2,
                        .groups = 2,
                        .padding = NB_PAD_EXPLICIT,
                        .pad_h = 1,
                        .pad_w = 1};
    return conv_square(x, n, &o);
}
static nb_tensor *f_conv_same_strided(nb_tensor *const *x, int n, void *c) {
    (void)c;
    nb_conv2d_opts o = {.stride_h = 2, .stride_w = 2, .padding = NB_PAD_SAME};
    return conv_square(x, n, &o); /* 5x5, kernel 2, stride 2: padding 0 before, 1 after */
}

/* ---- pooling: the square of the output (its second derivative reads the
 * incoming gradient at the maxima, or spreads it over the windows) */
static nb_tensor *f_max_pool(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *y = nb_max_pool2d(x[0], 2, 2, 2, 2, 0, 0);
    return nb_mul(y, y);
}
static nb_tensor *f_max_pool_overlapping(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *y = nb_max_pool2d(x[0], 3, 3, 1, 1, 1, 1);
    return nb_mul(y, y);
}
static nb_tensor *f_max_pool_dilated_ceil(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_max_pool2d_opts o = {
        .stride_h = 2, .stride_w = 2, .dilation_h = 2, .dilation_w = 2, .ceil_mode = true};
    nb_tensor *y = nb_max_pool2d_ex(x[0], 2, 2, &o);
    return nb_mul(y, y);
}
static nb_tensor *f_avg_pool(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *y = nb_avg_pool2d(x[0], 2, 2, 2, 2, 0, 0, true);
    return nb_mul(y, y);
}
static nb_tensor *f_avg_pool_padded(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *y = nb_avg_pool2d(x[0], 3, 3, 2, 2, 1, 1, false); /* padding not counted */
    return nb_mul(y, y);
}
static nb_tensor *f_avg_pool_padded_counted(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *y = nb_avg_pool2d(x[0], 3, 3, 2, 2, 1, 1, true);
    return nb_mul(y, y);
}

/* ---- batch norm: bn(x) * x (bn's own square would sum to a constant) */
static nb_tensor *f_bn_training(nb_tensor *const *x, int n, void *c) {
    (void)c;
    nb_tensor *y = nb_batch_norm(x[0], n > 1 ? x[1] : NULL, n > 2 ? x[2] : NULL, NULL, NULL, 0.1f,
                                 1e-3f, true);
    return nb_mul(y, x[0]);
}
static nb_tensor *f_bn_inference(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    nb_tensor *rm = nb_from_array((float[]){0.1f, -0.2f}, NB_SHAPE(2));
    nb_tensor *rv = nb_from_array((float[]){0.5f, 1.5f}, NB_SHAPE(2));
    nb_tensor *y = nb_batch_norm(x[0], x[1], x[2], rm, rv, 0.1f, 1e-3f, false);
    return nb_mul(y, x[0]);
}

/* ---- the backward ops' own rules at second order: the function is itself a
 * first gradient (taken with create_graph), so the check differentiates the
 * backward ops twice (max_pool2d_gather, the gradient of max pooling's
 * backward, is only ever recorded this way) */
/* sum |g_k|^2, g the gradients of sum(y^2) (sum(y^3) with cube: a batch norm's
 * sum of squares hardly depends on x) with respect to x */
static nb_tensor *grad_norm(nb_tensor *y, nb_tensor *const *x, int n, bool cube) {
    bool was = nb_set_grad_enabled(true);
    nb_tensor *s = nb_sum_all(cube ? nb_mul(nb_mul(y, y), y) : nb_mul(y, y)), *g[3], *acc = NULL;
    nb_status st = s ? nb_grad_of(&s, 1, x, n, NULL, &(nb_grad_opts){.create_graph = true}, g)
                     : nb_error_code();
    for (int k = 0; k < n && st == NB_OK; k++) {
        nb_tensor *t = nb_sum_all(nb_mul(g[k], g[k]));
        acc = acc ? nb_add(acc, t) : t;
    }
    nb_set_grad_enabled(was);
    return st == NB_OK ? acc : NULL;
}
static nb_tensor *f_conv_grad(nb_tensor *const *x, int n, void *c) {
    (void)c;
    nb_conv2d_opts o = {
        .stride_h = 2, .stride_w = 2, .padding = NB_PAD_EXPLICIT, .pad_h = 1, .pad_w = 1};
    return grad_norm(nb_conv2d(x[0], x[1], x[2], &o), x, n, false);
}
static nb_tensor *f_max_pool_grad(nb_tensor *const *x, int n, void *c) {
    (void)c;
    return grad_norm(nb_max_pool2d(x[0], 3, 3, 2, 2, 1, 1), x, n, false);
}
static nb_tensor *f_avg_pool_grad(nb_tensor *const *x, int n, void *c) {
    (void)c;
    return grad_norm(nb_avg_pool2d(x[0], 3, 3, 2, 2, 1, 1, false), x, n, false);
}
static nb_tensor *f_bn_grad(nb_tensor *const *x, int n, void *c) {
    (void)c;
    return grad_norm(nb_batch_norm(x[0], x[1], x[2], NULL, NULL, 0.1f, 1e-3f, true), x, n, true);
}
static nb_tensor *f_slice_grad(nb_tensor *const *x, int n, void *c) {
    (void)c;
    return grad_norm(nb_slice(x[0], 1, 1, 3, 1), x, n, false);
}

/* ---- a custom op whose backward is written with ops: x^3, backward 3 x^2 gy */
static nb_tensor *cube_fwd(nb_tensor *const *x, int n, void *ctx) {
    (void)n, (void)ctx;
    return nb_mul(nb_mul(x[0], x[0]), x[0]);
}
static nb_status cube_bwd(nb_tensor *const *x, int n, nb_tensor *y, nb_tensor *gy, nb_tensor **gx,
                          void *ctx) {
    (void)n, (void)y, (void)ctx;
    gx[0] = nb_mul(gy, nb_mul_scalar(nb_mul(x[0], x[0]), 3.0f));
    return gx[0] ? NB_OK : nb_error_code();
}
static nb_tensor *f_custom(nb_tensor *const *x, int n, void *c) {
    return nb_custom_op("cube", x, n, cube_fwd, cube_bwd, c);
}

/* ---- "grad": a leaf's .grad with history (nb_backward_opt with create_graph):
 * z.grad = x^2 for a fresh leaf z, and the result z.grad * x = x^3 */
static nb_tensor *f_grad_with_history(nb_tensor *const *x, int n, void *c) {
    (void)n, (void)c;
    bool was = nb_set_grad_enabled(true);
    nb_tensor *z = nb_set_requires_grad(nb_ones(nb_shape(x[0]), nb_ndim(x[0])), true);
    nb_tensor *y = nb_sum_all(nb_mul(z, nb_mul(x[0], x[0])));
    nb_status s = nb_backward_opt(y, NULL, &(nb_backward_opts){.create_graph = true});
    nb_zero_grad(x[0]); /* x got one too; only z's is wanted */
    nb_tensor *r = s == NB_OK ? nb_mul(nb_grad(z), x[0]) : NULL;
    nb_set_grad_enabled(was);
    return r;
}

#define UNARY(op, expr)                                                                            \
    static nb_tensor *f_##op(nb_tensor *const *x, int n, void *c) {                                \
        (void)n, (void)c;                                                                          \
        return expr;                                                                               \
    }
UNARY(exp, nb_exp(x[0]))
UNARY(log, nb_log(x[0]))
UNARY(sqrt, nb_sqrt(x[0]))
UNARY(square, nb_square(x[0]))
UNARY(pow, nb_pow_scalar(x[0], 2.5f))
UNARY(abs, nb_mul(nb_abs(x[0]), x[0]))
UNARY(clip, nb_mul(nb_clip(x[0], -0.5f, 0.5f), x[0]))
UNARY(relu, nb_mul(nb_relu(x[0]), x[0]))
UNARY(leaky_relu, nb_mul(nb_leaky_relu(x[0], 0.1f), x[0]))
UNARY(sigmoid, nb_sigmoid(x[0]))
UNARY(tanh, nb_tanh(x[0]))
UNARY(elu, nb_elu(x[0], 1.0f))
UNARY(gelu, nb_gelu(x[0]))
UNARY(softplus, nb_softplus(x[0]))
UNARY(affine, nb_mul(nb_affine(x[0], 2.0f, 1.0f), x[0]))
UNARY(softmax, nb_mul(nb_softmax(x[0], 1), x[0]))
UNARY(log_softmax, nb_mul(nb_log_softmax(x[0], 1), x[0]))
UNARY(mse, nb_mse_loss(x[0], x[1]))
UNARY(softmax_ce, nb_softmax_crossentropy_logits(x[0], x[1]))
UNARY(sparse_softmax_ce, nb_sparse_softmax_crossentropy_logits(x[0], x[1]))
UNARY(sigmoid_ce, nb_sigmoid_crossentropy_logits(x[0], x[1]))

#define S2(a, b)                                                                                   \
    {                                                                                              \
        {a, b}, {                                                                                  \
            a, b                                                                                   \
        }                                                                                          \
    }
static const op_case cases[] = {
    {"add", f_add, 2, S2(3, 3), false, false},
    {"sub", f_sub, 2, S2(3, 3), false, false},
    {"mul", f_mul, 2, S2(3, 3), false, false},
    {"div", f_div, 2, S2(3, 3), true, false},
    {"mul (broadcast [3, 1])", f_broadcast_mul, 2, {{3, 3}, {3, 1}}, false, false},
    {"maximum", f_maximum, 2, S2(3, 3), false, false},
    {"minimum", f_minimum, 2, S2(3, 3), false, false},
    {"broadcast_to", f_broadcast_to, 1, S2(3, 3), false, false},
    {"permute, contiguous, flatten", f_permute, 1, S2(3, 3), false, false},
    {"dropout", f_dropout, 1, S2(3, 3), false, false},
    {"gaussian_noise", f_gaussian_noise, 1, S2(3, 3), false, false},
    {"matmul", f_matmul, 2, S2(3, 3), false, false},
    {"linear", f_linear, 3, {{3, 3}, {3, 3}, {3, 0}}, false, false},
    {"sum (axis)", f_sum_axis, 1, S2(3, 3), false, false},
    {"mean (axis)", f_mean, 1, S2(3, 3), false, false},
    {"max (axis)", f_max, 1, S2(3, 3), false, false},
    {"min (axis)", f_min, 1, S2(3, 3), false, false},
    {"transpose", f_transpose, 1, S2(3, 3), false, false},
    {"reshape", f_reshape, 1, S2(3, 3), false, false},
    {"slice", f_slice, 1, S2(3, 3), false, false},
    {"slice (step 2)", f_slice_step, 1, S2(3, 3), false, false},
    {"slice, its gradient", f_slice_grad, 1, S2(3, 3), false, false},
    {"concat", f_concat, 2, S2(3, 3), false, false},
    {"gather, scatter_add", f_gather, 1, S2(4, 3), false, false},
    {"exp", f_exp, 1, S2(3, 3), false, false},
    {"log", f_log, 1, S2(3, 3), true, false},
    {"sqrt", f_sqrt, 1, S2(3, 3), true, false},
    {"square", f_square, 1, S2(3, 3), false, false},
    {"pow", f_pow, 1, S2(3, 3), true, false},
    {"abs", f_abs, 1, S2(3, 3), false, false},
    {"clip", f_clip, 1, S2(3, 3), false, false},
    {"relu", f_relu, 1, S2(3, 3), false, false},
    {"leaky_relu", f_leaky_relu, 1, S2(3, 3), false, false},
    {"sigmoid", f_sigmoid, 1, S2(3, 3), false, false},
    {"tanh", f_tanh, 1, S2(3, 3), false, false},
    {"elu", f_elu, 1, S2(3, 3), false, false},
    {"gelu", f_gelu, 1, S2(3, 3), false, false},
    {"softplus", f_softplus, 1, S2(3, 3), false, false},
    {"affine", f_affine, 1, S2(3, 3), false, false},
    {"softmax", f_softmax, 1, S2(3, 3), false, false},
    {"log_softmax", f_log_softmax, 1, S2(3, 3), false, false},
    {"mse_loss", f_mse, 2, S2(3, 3), false, true},
    {"softmax_crossentropy_logits", f_softmax_ce, 2, S2(3, 3), false, true},
    {"sparse_softmax_crossentropy_logits", f_sparse_softmax_ce, 2, {{3, 3}, {3, 0}}, false, true},
    {"sigmoid_crossentropy_logits", f_sigmoid_ce, 2, S2(3, 3), false, true},
    {"conv2d", f_conv, 2, {{2, 2, 4, 4}, {2, 2, 2, 2}}, false, false},
    {"conv2d (stride 2, padding 1, bias)",
     f_conv_strided,
     3,
     {{2, 2, 5, 5}, {2, 2, 3, 3}, {2}},
     false,
     false},
    {"conv2d (dilation 2, 2 groups)",
     f_conv_dilated_groups,
     3,
     {{2, 4, 5, 5}, {4, 2, 2, 2}, {4}},
     false,
     false},
    {"conv2d (same, stride 2)", f_conv_same_strided, 2, {{2, 2, 5, 5}, {2, 2, 2, 2}}, false, false},
    {"conv2d, its gradient", f_conv_grad, 3, {{2, 2, 4, 4}, {2, 2, 3, 3}, {2}}, false, false},
    {"max_pool2d", f_max_pool, 1, {{2, 2, 4, 4}}, false, false},
    {"max_pool2d (3x3, stride 1, padding 1)",
     f_max_pool_overlapping,
     1,
     {{2, 2, 4, 4}},
     false,
     false},
    {"max_pool2d (dilation 2, ceil_mode)",
     f_max_pool_dilated_ceil,
     1,
     {{2, 2, 6, 6}},
     false,
     false},
    {"max_pool2d, its gradient", f_max_pool_grad, 1, {{2, 2, 5, 5}}, false, false},
    {"avg_pool2d", f_avg_pool, 1, {{2, 2, 4, 4}}, false, false},
    {"avg_pool2d (3x3, stride 2, padding 1)", f_avg_pool_padded, 1, {{2, 2, 5, 5}}, false, false},
    {"avg_pool2d (padding counted)", f_avg_pool_padded_counted, 1, {{2, 2, 5, 5}}, false, false},
    {"avg_pool2d, its gradient", f_avg_pool_grad, 1, {{2, 2, 5, 5}}, false, false},
    {"batch_norm (training, [N, C, H, W])",
     f_bn_training,
     3,
     {{2, 2, 3, 3}, {2}, {2}},
     false,
     false},
    {"batch_norm (training, [N, C])", f_bn_training, 3, {{3, 3}, {3}, {3}}, false, false},
    {"batch_norm (training, [N, C, L])", f_bn_training, 3, {{3, 3, 3}, {3}, {3}}, false, false},
    {"batch_norm (training, no affine)", f_bn_training, 1, {{2, 2, 3, 3}}, false, false},
    {"batch_norm (inference)", f_bn_inference, 3, {{2, 2, 3, 3}, {2}, {2}}, false, false},
    {"batch_norm, its gradient", f_bn_grad, 3, {{2, 2, 2, 2}, {2}, {2}}, false, false},
    {"custom_op (backward with ops)", f_custom, 1, S2(3, 3), false, false},
    {"grad (a .grad with history)", f_grad_with_history, 1, S2(3, 3), false, false},
};
#define N_CASES ((int)(sizeof cases / sizeof *cases))

/* values in +-[0.15, 0.95], no two alike */
static float value(int k, int64_t i, bool positive) {
    float v = 0.15f + 0.8f * (float)((i * 7 + k * 5 + 3) % 17) / 17.0f;
    if (positive) return v + 0.35f;
    return (i * 5 + k) % 3 == 0 ? -v : v;
}

static int case_ndim(const op_case *c, int k) {
    int nd = 0;
    while (nd < 4 && c->shape[k][nd]) nd++;
    return nd;
}

static nb_tensor *case_input(const op_case *c, int k) {
    int ndim = case_ndim(c, k);
    nb_tensor *t = nb_empty(c->shape[k], ndim);
    float *p = nb_data(t);
    int64_t n = nb_numel(t);
    bool data = k == 1 && c->constant_1;
    for (int64_t i = 0; i < n; i++) p[i] = value(k, i, c->positive);
    if (data && ndim == 1) /* class labels */
        for (int64_t i = 0; i < n; i++) p[i] = (float)((i * 2 + 1) % c->shape[0][1]);
    if (data && ndim == 2 && strstr(c->name, "softmax")) /* one-hot rows */
        for (int64_t i = 0; i < n; i++) p[i] = (i % c->shape[k][1]) == (i / c->shape[k][1]) % 3;
    if (data && ndim == 2 && !strstr(c->name, "softmax")) /* probabilities */
        for (int64_t i = 0; i < n; i++) p[i] = 0.1f + 0.8f * (float)(i % 5) / 5.0f;
    return data ? t : nb_set_requires_grad(t, true);
}

static bool run_case(const op_case *c, double *err) {
    nb_tensor *x[3];
    for (int k = 0; k < c->n_in; k++) x[k] = case_input(c, k);
    nb_gradcheck_result r = {0};
    nb_status s = nb_gradgradcheck(c->fn, x, c->n_in, NULL, 5e-3, 2e-2, &r);
    *err = r.max_error;
    if (s != NB_OK) fprintf(stderr, "second order, %s: %s\n", c->name, nb_error());
    return s == NB_OK;
}

/* ---- which ops the table checks --------------------------------------------------------
 * The ops whose backward rules a row's check runs are the ones on the tape
 * after the row's first gradient is taken with create_graph: the forward ops
 * and the backward ops. The ops that have a backward rule are read from the
 * sources: every nb_op_def with a .backward, written out or made by a macro
 * (ELTWISE_DEF(exp), ...). A new op with a backward rule and no row fails here. */
#define MAX_NAMES 128
typedef struct names {
    int n;
    char name[MAX_NAMES][48];
} names;

static bool has_name(const names *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0) return true;
    return false;
}

static void add_name(names *s, const char *name, size_t len) {
    char buf[48];
    snprintf(buf, sizeof buf, "%.*s", (int)len, name);
    if (!has_name(s, buf) && s->n < MAX_NAMES) snprintf(s->name[s->n++], 48, "%s", buf);
}

static void tape_names(const op_case *c, names *seen) {
    nb_scope_begin();
    int64_t start = nb_tape_size();
    nb_tensor *x[3], *in[3], *g[3];
    int m = 0;
    for (int k = 0; k < c->n_in; k++)
        if (nb_requires_grad(x[k] = case_input(c, k))) in[m++] = x[k];
    nb_tensor *s = nb_sum_all(c->fn(x, c->n_in, NULL));
    ck_assert_msg(s != NULL, "%s: %s", c->name, nb_error());
    ck_assert_msg(nb_grad_of(&s, 1, in, m, NULL,
                             &(nb_grad_opts){.create_graph = true, .allow_unused = true},
                             g) == NB_OK,
                  "%s: %s", c->name, nb_error());
    for (int64_t i = start; i < nb_tape_size(); i++) {
        const char *name = nb_tape_at(i)->def->name;
        add_name(seen, name, strlen(name));
    }
    nb_scope_end();
}

/* the identifier or literal after key in [p, end): *len its length, NULL if absent */
static const char *field(const char *p, const char *end, const char *key, size_t *len) {
    const char *f = strstr(p, key);
    if (!f || f >= end) return NULL;
    f += strlen(key);
    *len = strcspn(f, ",\n \\}");
    return f;
}

/* argument i of the call whose arguments start at p ("exp" in "ELTWISE_DEF(exp);") */
static const char *macro_arg(const char *p, int i, size_t *len) {
    for (; i > 0 && *p && *p != ')'; p++)
        if (*p == ',') i--;
    while (*p == ' ') p++;
    *len = strcspn(p, ",) ");
    return *p && *p != ')' ? p : NULL;
}

/* the index of parameter name (len) in a #define's list "op, bwd)", or -1 */
static int param_index(const char *params, const char *name, size_t len) {
    for (int i = 0;; i++) {
        size_t l;
        const char *a = macro_arg(params, i, &l);
        if (!a) return -1;
        if (l == len && strncmp(a, name, len) == 0) return i;
    }
}

/* a def made by a macro: the names its uses give, with the backward each gets */
static void scan_macro(const char *text, const char *def, const char *end, const char *name,
                       size_t nlen, names *out) {
    const char *d = NULL;
    for (const char *q = strstr(text, "#define "); q && q < def; q = strstr(q + 1, "#define "))
        d = q;
    ck_assert_msg(d != NULL, "an nb_op_def named by a macro parameter outside a #define");
    d += strlen("#define ");
    size_t mlen = strcspn(d, "(");
    const char *params = d + mlen + 1;
    int ni = param_index(params, name, nlen);
    size_t blen = 0;
    const char *bwd = field(def, end, ".backward = ", &blen);
    int bi = bwd ? param_index(params, bwd, blen) : -1;
    for (const char *u = strstr(end, "\n"); u; u = strstr(u + 1, "\n")) {
        if (strncmp(u + 1, d, mlen) != 0 || u[1 + mlen] != '(') continue;
        const char *args = u + 2 + mlen;
        size_t al, bl = blen;
        const char *a = macro_arg(args, ni, &al), *b = bi >= 0 ? macro_arg(args, bi, &bl) : bwd;
        if (a && b && strncmp(b, "NULL", bl) != 0) add_name(out, a, al);
    }
}

static void scan_file(const char *path, names *out) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    for (const char *p = strstr(text, "nb_op_def "); p; p = strstr(p + 1, "nb_op_def ")) {
        const char *open = p + strlen("nb_op_def ");
        open += strcspn(open, " ;,)");
        if (strncmp(open, " = {", 4) != 0) continue; /* a declaration or a pointer */
        const char *end = strstr(open, "}");
        size_t nlen, blen;
        const char *name = field(open, end, ".name = ", &nlen);
        const char *bwd = field(open, end, ".backward = ", &blen);
        if (!name) continue;
        if (*name == '#')
            scan_macro(text, p, end, name + 1, nlen - 1, out);
        else if (bwd && strncmp(bwd, "NULL", blen) != 0)
            add_name(out, name + 1, nlen - 2);
    }
}

static void ops_with_backward(names *out) {
    const char *dirs[] = {"core", "ops", "autograd", "optim", "nn"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/../../%s", NB_GOLDEN_DIR, dirs[i]);
        DIR *d = opendir(dir);
        if (!d) continue;
        for (struct dirent *e; (e = readdir(d));) {
            size_t l = strlen(e->d_name);
            if (l < 3 || strcmp(e->d_name + l - 2, ".c") != 0) continue;
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            scan_file(path, out);
        }
        closedir(d);
    }
}

START_TEST(test_every_op_passes_the_second_order_gradcheck) {
    int failed = 0;
    for (int i = 0; i < N_CASES; i++) {
        double err = 0;
        bool ok = run_case(&cases[i], &err);
        fprintf(stderr, "%-40s %s  (max error %.2g)\n", cases[i].name, ok ? "yes" : "no ", err);
        failed += !ok;
    }
    ck_assert_msg(failed == 0, "%d ops fail the second-order check", failed);
}
END_TEST

START_TEST(test_the_second_order_table_covers_every_op_with_a_backward) {
    static names want, seen;
    ops_with_backward(&want);
    /* the scan itself works: it finds ops written out and made by macros */
    const char *sure[] = {
        "matmul",         "exp",      "add", "sum", "conv2d_backward_data", "max_pool2d_gather",
        "slice_backward", "custom_op"};
    for (size_t i = 0; i < sizeof sure / sizeof *sure; i++)
        ck_assert_msg(has_name(&want, sure[i]), "the scan of the sources missed %s", sure[i]);
    ck_assert_int_ge(want.n, 40);
    for (int i = 0; i < N_CASES; i++) tape_names(&cases[i], &seen);
    int missing = 0;
    for (int i = 0; i < want.n; i++)
        if (!has_name(&seen, want.name[i])) {
            fprintf(stderr, "no second-order check runs the backward of op '%s'\n", want.name[i]);
            missing++;
        }
    fprintf(stderr, "%d ops with a backward, all in the second-order table\n", want.n);
    ck_assert_msg(missing == 0, "%d of %d ops with a backward have no row in the table", missing,
                  want.n);
}
END_TEST

/* ---- the checker itself ------------------------------------------------------------- */
/* x^3 with a backward that says 3x^2 by hand, as constants: right first order,
 * but the first gradient carries no history, so its second order is 0 not 6x */
static nb_tensor *cube_forward(nb_tensor *const *x, int n, void *ctx) {
    (void)n, (void)ctx;
    return nb_mul(nb_mul(x[0], x[0]), x[0]);
}
static nb_status cube_backward(nb_tensor *const *x, int n, nb_tensor *y, nb_tensor *gy,
                               nb_tensor **gx, void *ctx) {
    (void)n, (void)y, (void)ctx;
    nb_tensor *d = nb_mul_scalar(nb_detach(nb_mul(x[0], x[0])), 3.0f);
    gx[0] = nb_mul(nb_detach(gy), d);
    return gx[0] ? NB_OK : nb_error_code();
}
static nb_tensor *f_cube(nb_tensor *const *x, int n, void *c) {
    return nb_custom_op("cube", x, n, cube_forward, cube_backward, c);
}

START_TEST(test_gradgradcheck_catches_a_backward_that_is_not_differentiable) {
    nb_tensor *x =
        nb_set_requires_grad(nb_from_array((float[]){0.5f, -1.0f, 2.0f}, NB_SHAPE(3)), true);
    ck_assert_int_eq(nb_gradcheck(f_cube, &x, 1, NULL, 1e-3, 1e-2, NULL), NB_OK);
    nb_gradcheck_result r;
    ck_assert_int_ne(nb_gradgradcheck(f_cube, &x, 1, NULL, 1e-3, 1e-2, &r), NB_OK);
    ck_assert(!r.ok);
    NB_ASSERT_ERROR_HAS("nb_gradgradcheck");
    NB_ASSERT_CLOSE(r.analytic, 0.0, 1e-6); /* the recorded part says 0 */
}
END_TEST

/* ---- create_graph and nb_grad_of ---------------------------------------------------------- */
START_TEST(test_create_graph_makes_the_gradient_differentiable) {
    /* y = x^3: dy/dx = 3x^2 = 12 at x = 2, and d(dy/dx)/dx = 6x = 12 */
    nb_tensor *x = nb_set_requires_grad(nb_from_array((float[]){2.0f}, NB_SHAPE(1)), true);
    nb_tensor *y = nb_sum_all(nb_mul(nb_mul(x, x), x));
    ck_assert_int_eq(nb_backward_opt(y, NULL, &(nb_backward_opts){.create_graph = true}), NB_OK);
    nb_tensor *g = nb_grad(x);
    NB_ASSERT_CLOSE(nb_get_flat(g, 0), 12.0, 1e-6);
    ck_assert(nb_requires_grad(g));
    nb_tensor *gg;
    nb_tensor *gs = nb_sum_all(g);
    ck_assert_int_eq(nb_grad_of(&gs, 1, &x, 1, NULL, NULL, &gg), NB_OK);
    NB_ASSERT_CLOSE(nb_get_flat(gg, 0), 12.0, 1e-6);
    /* without create_graph the gradient is a plain tensor, as before */
    nb_zero_grad(x);
    y = nb_sum_all(nb_mul(nb_mul(x, x), x));
    ck_assert_int_eq(nb_backward(y), NB_OK);
    ck_assert(!nb_requires_grad(nb_grad(x)));
}
END_TEST

START_TEST(test_create_graph_accumulates_into_grad_with_history) {
    nb_tensor *x = nb_set_requires_grad(nb_from_array((float[]){3.0f}, NB_SHAPE(1)), true);
    nb_backward_opts o = {.create_graph = true};
    /* x^2 then x^3: grad = 2x + 3x^2 = 33, its derivative 2 + 6x = 20 */
    ck_assert_int_eq(nb_backward_opt(nb_sum_all(nb_mul(x, x)), NULL, &o), NB_OK);
    ck_assert_int_eq(nb_backward_opt(nb_sum_all(nb_mul(nb_mul(x, x), x)), NULL, &o), NB_OK);
    NB_ASSERT_CLOSE(nb_get_flat(nb_grad(x), 0), 33.0, 1e-6);
    nb_tensor *gs = nb_sum_all(nb_grad(x)), *gg;
    ck_assert_int_eq(nb_grad_of(&gs, 1, &x, 1, NULL, NULL, &gg), NB_OK);
    NB_ASSERT_CLOSE(nb_get_flat(gg, 0), 20.0, 1e-6);
}
END_TEST

START_TEST(test_grad_of_leaves_grad_untouched_and_handles_intermediates) {
    nb_tensor *x = nb_set_requires_grad(nb_from_array((float[]){1, 2}, NB_SHAPE(2)), true);
    nb_tensor *h = nb_mul(x, x);             /* h = x^2 */
    nb_tensor *y = nb_sum_all(nb_mul(h, x)); /* y = sum x^3 */
    nb_tensor *in[] = {x, h}, *g[2];
    ck_assert_int_eq(nb_grad_of(&y, 1, in, 2, NULL, NULL, g), NB_OK);
    NB_ASSERT_TENSOR(g[0], ((float[]){3, 12}), 2, 1e-6); /* 3x^2 */
    NB_ASSERT_TENSOR(g[1], ((float[]){1, 2}), 2, 1e-6);  /* dy/dh = x */
    ck_assert_ptr_null(nb_grad(x));
    /* the graph was not retained: a second walk is refused */
    ck_assert_int_ne(nb_grad_of(&y, 1, in, 2, NULL, NULL, g), NB_OK);
    ck_assert_ptr_null(g[0]);
}
END_TEST

START_TEST(test_grad_of_names_an_unused_input_unless_allow_unused) {
    nb_tensor *x = nb_set_requires_grad(nb_from_array((float[]){1, 2}, NB_SHAPE(2)), true);
    nb_tensor *z =
        nb_set_name(nb_set_requires_grad(nb_from_array((float[]){5}, NB_SHAPE(1)), true), "z");
    nb_tensor *y = nb_sum_all(nb_exp(x));
    nb_tensor *in[] = {x, z}, *g[2];
    ck_assert_int_ne(nb_grad_of(&y, 1, in, 2, NULL, &(nb_grad_opts){.retain_graph = true}, g),
                     NB_OK);
    NB_ASSERT_ERROR_HAS("input 1 'z'");
    ck_assert_int_eq(nb_grad_of(&y, 1, in, 2, NULL, &(nb_grad_opts){.allow_unused = true}, g),
                     NB_OK);
    NB_ASSERT_TENSOR(g[0], ((float[]){expf(1), expf(2)}), 2, 1e-6);
    ck_assert_ptr_null(g[1]);
}
END_TEST

START_TEST(test_grad_of_weights_outputs_by_grad_outputs) {
    nb_tensor *x = nb_set_requires_grad(nb_from_array((float[]){1, 2}, NB_SHAPE(2)), true);
    nb_tensor *y1 = nb_mul(x, x), *y2 = nb_sum_all(x);
    nb_tensor *outs[] = {y1, y2}, *seeds[] = {nb_from_array((float[]){1, 10}, NB_SHAPE(2)), NULL};
    nb_tensor *g;
    ck_assert_int_eq(nb_grad_of(outs, 2, &x, 1, seeds, NULL, &g), NB_OK);
    NB_ASSERT_TENSOR(g, ((float[]){2 * 1 * 1 + 1, 2 * 2 * 10 + 1}), 2, 1e-6);
}
END_TEST

START_TEST(test_a_tensor_saved_for_double_backward_then_written_in_place_is_refused) {
    nb_tensor *x = nb_set_requires_grad(nb_from_array((float[]){0.5f, 1.5f}, NB_SHAPE(2)), true);
    nb_tensor *y = nb_sum_all(nb_tanh(x));
    nb_tensor *g;
    ck_assert_int_eq(nb_grad_of(&y, 1, &x, 1, NULL, &(nb_grad_opts){.create_graph = true}, &g),
                     NB_OK);
    nb_tensor *gs = nb_sum_all(g), *gg;
    nb_fill(x, 0.0f); /* bumps x's version: tanh and its backward saved it */
    ck_assert_int_ne(nb_grad_of(&gs, 1, &x, 1, NULL, NULL, &gg), NB_OK);
    NB_ASSERT_ERROR_HAS("modified by an in-place operation");
}
END_TEST

/* ---- Hessians --------------------------------------------------------------------------- */
/* f(x) = sum softplus(A x) + 0.5 |x|^2, A = [[1, 2], [-1, 1]]:
 * H = A^T diag(s(1 - s)) A + I, s = sigmoid(A x) */
static nb_tensor *softplus_quadratic(nb_tensor *x) {
    nb_tensor *a = nb_from_array((float[]){1, 2, -1, 1}, NB_SHAPE(2, 2));
    nb_tensor *ax = nb_matmul(a, nb_reshape(x, NB_SHAPE(2, 1)));
    return nb_add(nb_sum_all(nb_softplus(ax)), nb_mul_scalar(nb_sum_all(nb_mul(x, x)), 0.5f));
}

static void softplus_quadratic_hessian(const float *x, double h[4]) {
    double a[4] = {1, 2, -1, 1}, d[2];
    for (int i = 0; i < 2; i++) {
        double z = a[2 * i] * x[0] + a[2 * i + 1] * x[1], s = 1 / (1 + exp(-z));
        d[i] = s * (1 - s);
    }
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++)
            h[2 * r + c] = a[r] * d[0] * a[c] + a[2 + r] * d[1] * a[2 + c] + (r == c);
}

START_TEST(test_hessian_and_hvp_match_the_closed_form) {
    float xv[2] = {0.3f, -0.7f};
    nb_tensor *x = nb_set_requires_grad(nb_from_array(xv, NB_SHAPE(2)), true);
    nb_tensor *y = softplus_quadratic(x);
    nb_tensor *h;
    ck_assert_int_eq(nb_hessian(y, x, &h), NB_OK);
    double want[4];
    softplus_quadratic_hessian(xv, want);
    NB_ASSERT_TENSOR(h, want, 4, 1e-5);
    nb_tensor *v = nb_from_array((float[]){1, -2}, NB_SHAPE(2)), *hv;
    ck_assert_int_eq(nb_hvp(y, x, v, &hv), NB_OK);
    double want_hv[2] = {want[0] - 2 * want[1], want[2] - 2 * want[3]};
    NB_ASSERT_TENSOR(hv, want_hv, 2, 1e-5);
}
END_TEST

START_TEST(test_hessian_refuses_a_large_input) {
    nb_tensor *x = nb_set_requires_grad(nb_zeros(NB_SHAPE(NB_HESSIAN_MAX + 1)), true);
    nb_tensor *y = nb_sum_all(nb_mul(x, x)), *h = NULL;
    ck_assert_int_ne(nb_hessian(y, x, &h), NB_OK);
    ck_assert_ptr_null(h);
    NB_ASSERT_ERROR_HAS("nb_hessian: x [1025]");
}
END_TEST

/* ---- Newton's method: logistic regression on iris --------------------------------------
 * versicolor against virginica (they overlap, so the optimum is finite) from
 * three standardized measurements and a bias; loss = mean sigmoid
 * cross-entropy + 1e-3/2 |w|^2, strictly convex. Each step solves H d = g
 * with the Hessian from nb_hessian. */
#define NEWTON_ROWS 100
#define NEWTON_W    4

static void iris_two_classes(float *x, float *y) {
    nb_dataset ds = {0};
    ck_assert_msg(nb_dataset_load("iris", &ds) == NB_OK, "%s", nb_error());
    int r = 0;
    for (int64_t i = 0; i < nb_shape(ds.x)[0] && r < NEWTON_ROWS; i++) {
        int c = (int)nb_get_flat(ds.y, i);
        if (c == 0) continue;
        for (int f = 0; f < 3; f++) x[r * NEWTON_W + f] = nb_get_flat(ds.x, i * 4 + f);
        x[r * NEWTON_W + 3] = 1.0f;
        y[r++] = c == 2;
    }
    ck_assert_int_eq(r, NEWTON_ROWS);
    for (int f = 0; f < 3; f++) { /* standardize */
        double m = 0, v = 0;
        for (int i = 0; i < r; i++) m += x[i * NEWTON_W + f] / r;
        for (int i = 0; i < r; i++) v += pow(x[i * NEWTON_W + f] - m, 2) / r;
        for (int i = 0; i < r; i++)
            x[i * NEWTON_W + f] = (float)((x[i * NEWTON_W + f] - m) / sqrt(v));
    }
    nb_dataset_free(&ds);
}

/* solve h d = g (n x n, symmetric positive definite) by Gaussian elimination */
static void solve(double *h, double *g, int n) {
    for (int c = 0; c < n; c++)
        for (int r = c + 1; r < n; r++) {
            double f = h[r * n + c] / h[c * n + c];
            for (int k = c; k < n; k++) h[r * n + k] -= f * h[c * n + k];
            g[r] -= f * g[c];
        }
    for (int r = n - 1; r >= 0; r--) {
        for (int k = r + 1; k < n; k++) g[r] -= h[r * n + k] * g[k];
        g[r] /= h[r * n + r];
    }
}

START_TEST(test_newton_on_logistic_regression_converges_in_a_handful_of_steps) {
    static float xs[NEWTON_ROWS * NEWTON_W], ys[NEWTON_ROWS];
    iris_two_classes(xs, ys);
    nb_tensor *x = nb_from_array(xs, NB_SHAPE(NEWTON_ROWS, NEWTON_W));
    nb_tensor *y = nb_from_array(ys, NB_SHAPE(NEWTON_ROWS, 1));
    nb_tensor *w = nb_set_requires_grad(nb_zeros(NB_SHAPE(NEWTON_W)), true);
    double norm[9];
    int steps = 0;
    for (; steps < 9; steps++) {
        nb_scope_begin();
        nb_tensor *logits = nb_matmul(x, nb_reshape(w, NB_SHAPE(NEWTON_W, 1)));
        nb_tensor *loss = nb_add(nb_sigmoid_crossentropy_logits(logits, y),
                                 nb_mul_scalar(nb_sum_all(nb_mul(w, w)), 0.5e-3f));
        nb_tensor *h, *g;
        ck_assert_msg(nb_hessian(loss, w, &h) == NB_OK, "%s", nb_error());
        ck_assert_msg(nb_grad_of(&loss, 1, &w, 1, NULL, NULL, &g) == NB_OK, "%s", nb_error());
        double hd[NEWTON_W * NEWTON_W], d[NEWTON_W], n2 = 0;
        for (int i = 0; i < NEWTON_W * NEWTON_W; i++) hd[i] = nb_get_flat(h, i);
        for (int i = 0; i < NEWTON_W; i++) n2 += pow(d[i] = nb_get_flat(g, i), 2);
        norm[steps] = sqrt(n2);
        nb_scope_end();
        if (norm[steps] < 1e-5) break;
        solve(hd, d, NEWTON_W);
        for (int i = 0; i < NEWTON_W; i++) nb_data(w)[i] -= (float)d[i];
        nb_mark_modified(w);
    }
    for (int i = 0; i <= steps && i < 9; i++)
        fprintf(stderr, "newton step %d: |grad| %.3g\n", i, norm[i]);
    ck_assert_msg(steps <= 8, "|grad| still %.3g after 8 Newton steps", norm[8]);
    ck_assert_int_ge(steps, 3); /* it did start far from the optimum */
}
END_TEST

/* ---- a gradient penalty (WGAN-GP) --------------------------------------------------------
 * critic D(x) = tanh(x W + b) v, x [4, 2], W [2, 3], b [3], v [3, 1];
 * penalty = mean_i (|dD/dx_i| - 1)^2 at the points x, the gradient taken with
 * create_graph so that the penalty can be trained. */
static nb_tensor *critic(nb_tensor *x, nb_tensor *const *p) {
    return nb_matmul(nb_tanh(nb_linear(x, p[0], p[1])), p[2]);
}

static nb_tensor *gradient_penalty(nb_tensor *x, nb_tensor *const *p) {
    nb_tensor *d = nb_sum_all(critic(x, p)), *g;
    if (nb_grad_of(&d, 1, &x, 1, NULL, &(nb_grad_opts){.create_graph = true}, &g) != NB_OK)
        return NULL;
    nb_tensor *len = nb_sqrt(nb_add_scalar(nb_sum(nb_mul(g, g), (int[]){1}, 1, false), 1e-12f));
    nb_tensor *dev = nb_sub_scalar(len, 1.0f);
    return nb_mean_all(nb_mul(dev, dev));
}

static nb_tensor *penalty_of_params(nb_tensor *const *p, int n, void *ctx) {
    (void)n;
    bool was =
        nb_set_grad_enabled(true); /* the penalty needs a gradient, even when only evaluated */
    nb_tensor *r = gradient_penalty(ctx, p);
    nb_set_grad_enabled(was);
    return r;
}

START_TEST(test_gradient_penalty_trains_and_its_gradient_matches_finite_differences) {
    nb_tensor *x = nb_set_requires_grad(
        nb_from_array((float[]){0.5f, -0.2f, 1.0f, 0.3f, -0.7f, 0.8f, 0.1f, -1.1f}, NB_SHAPE(4, 2)),
        true);
    nb_tensor *p[3] = {
        nb_set_requires_grad(
            nb_from_array((float[]){1.5f, -2.0f, 0.7f, 2.2f, 1.0f, -1.3f}, NB_SHAPE(2, 3)), true),
        nb_set_requires_grad(nb_from_array((float[]){0.1f, -0.2f, 0.3f}, NB_SHAPE(3)), true),
        nb_set_requires_grad(nb_from_array((float[]){1.2f, -0.8f, 1.5f}, NB_SHAPE(3, 1)), true),
    };
    NB_ASSERT_GRADCHECK(penalty_of_params, p, 3, x, 1e-3, 2e-2);
    /* a few steps of gradient descent on the penalty alone, through nb_backward */
    double first = 0, last = 0;
    for (int step = 0; step < 30; step++) {
        nb_scope_begin();
        nb_tensor *pen = gradient_penalty(x, p);
        ck_assert_msg(pen != NULL, "%s", nb_error());
        double v = nb_get_flat(pen, 0);
        if (step == 0) first = v;
        last = v;
        for (int k = 0; k < 3; k++) nb_zero_grad(p[k]);
        ck_assert_msg(nb_backward(pen) == NB_OK, "%s", nb_error());
        for (int k = 0; k < 3; k++) {
            for (int64_t i = 0; i < nb_numel(p[k]); i++)
                nb_data(p[k])[i] -= 0.05f * nb_get_flat(nb_grad(p[k]), i);
            nb_mark_modified(p[k]);
        }
        nb_scope_end();
    }
    fprintf(stderr, "gradient penalty: %.4g -> %.4g in 30 steps\n", first, last);
    ck_assert_msg(first > 0.5, "the penalty starts at %g", first);
    ck_assert_msg(last < 0.1 * first, "the penalty went from %g to %g", first, last);
}
END_TEST

/* ---- max pooling's gather, where ties are ------------------------------------------------
 * After a relu, windows hold their maximum (0) several times. The gradient of
 * max pooling's backward with respect to dy reads g where the first-order
 * backward (oneDNN's workspace) sent each dy: checked output by output. */
START_TEST(test_max_pool_gather_reads_where_the_workspace_routes_dy_even_on_ties) {
    float xs[16] = {0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 3, 3, 0, 2, 3, 3};
    float gs[16];
    for (int i = 0; i < 16; i++) gs[i] = (float)(i + 1);
    nb_tensor *x = nb_set_requires_grad(nb_from_array(xs, NB_SHAPE(1, 1, 4, 4)), true);
    nb_tensor *g = nb_from_array(gs, NB_SHAPE(1, 1, 4, 4));
    const int64_t *oshape = NULL;
    for (int pass = 0; pass < 2; pass++) { /* 2x2 stride 1; 3x3 stride 1 padding 1 */
        nb_scope_begin();
        int k = pass ? 3 : 2, pad = pass;
        nb_tensor *y = nb_max_pool2d(x, k, k, 1, 1, pad, pad);
        oshape = nb_shape(y);
        int64_t no = nb_numel(y);
        nb_tensor *dy = nb_set_requires_grad(nb_ones(oshape, 4), true);
        nb_tensor *s = nb_sum_all(nb_mul(y, dy)), *gx, *gdy;
        ck_assert_int_eq(nb_grad_of(&s, 1, &x, 1, NULL, &(nb_grad_opts){.create_graph = true}, &gx),
                         NB_OK);
        nb_tensor *u = nb_sum_all(nb_mul(gx, g));
        ck_assert_msg(nb_grad_of(&u, 1, &dy, 1, NULL, NULL, &gdy) == NB_OK, "%s", nb_error());
        for (int64_t o = 0; o < no; o++) { /* where does dy[o] alone go? */
            nb_tensor *e = nb_zeros(oshape, 4), *route;
            nb_data(e)[o] = 1;
            nb_tensor *y1 = nb_max_pool2d(x, k, k, 1, 1, pad, pad);
            nb_tensor *s1 = nb_sum_all(nb_mul(y1, e));
            ck_assert_int_eq(nb_grad_of(&s1, 1, &x, 1, NULL, NULL, &route), NB_OK);
            double want = 0;
            for (int i = 0; i < 16; i++) want += nb_get_flat(route, i) * gs[i];
            ck_assert_msg(nb_get_flat(gdy, o) == want, "%dx%d window %lld: gather %g, routed to %g",
                          k, k, (long long)o, nb_get_flat(gdy, o), want);
        }
        nb_scope_end();
    }
}
END_TEST

/* ---- a small CNN: conv 3x3 (4 filters) -> relu -> max pool 2x2 -> linear ---------------
 * x [4, 1, 6, 6] -> [4, 4, 4, 4] -> [4, 4, 2, 2] -> [4, 16] -> D [4, 1];
 * p = {W1 [4, 1, 3, 3], b1 [4], W2 [16, 1], b2 [1]} */
#define CNN_PARAMS 4

static nb_tensor *cnn(nb_tensor *x, nb_tensor *const *p) {
    nb_tensor *h = nb_relu(nb_conv2d(x, p[0], p[1], NULL));
    return nb_linear(nb_flatten(nb_max_pool2d(h, 2, 2, 2, 2, 0, 0)), p[2], p[3]);
}

/* deterministic values in [-a, a], no two alike */
static nb_tensor *wavy(const int64_t *shape, int ndim, float a, float phase) {
    nb_tensor *t = nb_empty(shape, ndim);
    for (int64_t i = 0; i < nb_numel(t); i++)
        nb_data(t)[i] = a * sinf(1.7f * (float)i + phase) * (0.6f + 0.4f * cosf(0.3f * (float)i));
    return t;
}

static void cnn_init(nb_tensor **p, nb_tensor **x) {
    p[0] = nb_set_requires_grad(wavy(NB_SHAPE(4, 1, 3, 3), 0.6f, 0.3f), true);
    p[1] = nb_set_requires_grad(wavy(NB_SHAPE(4), 0.1f, 1.1f), true);
    p[2] = nb_set_requires_grad(wavy(NB_SHAPE(16, 1), 1.5f, 2.0f), true);
    p[3] = nb_set_requires_grad(nb_zeros(NB_SHAPE(1)), true);
    *x = nb_set_requires_grad(wavy(NB_SHAPE(4, 1, 6, 6), 1.0f, 0.7f), true);
}

/* WGAN-GP: mean_i (|dD/dx_i| - 1)^2, the gradient taken with create_graph */
static nb_tensor *cnn_penalty(nb_tensor *x, nb_tensor *const *p) {
    nb_tensor *d = nb_sum_all(cnn(x, p)), *g;
    if (nb_grad_of(&d, 1, &x, 1, NULL, &(nb_grad_opts){.create_graph = true}, &g) != NB_OK)
        return NULL;
    nb_tensor *sq = nb_sum(nb_mul(g, g), (int[]){1, 2, 3}, 3, false);
    nb_tensor *dev = nb_sub_scalar(nb_sqrt(nb_add_scalar(sq, 1e-12f)), 1.0f);
    return nb_mean_all(nb_mul(dev, dev));
}

static nb_tensor *cnn_penalty_of_params(nb_tensor *const *p, int n, void *ctx) {
    (void)n;
    bool was = nb_set_grad_enabled(true);
    nb_tensor *r = cnn_penalty(ctx, p);
    nb_set_grad_enabled(was);
    return r;
}

START_TEST(test_a_gradient_penalty_through_a_cnn_trains_and_matches_finite_differences) {
    nb_tensor *p[CNN_PARAMS], *x;
    cnn_init(p, &x);
    NB_ASSERT_GRADCHECK(cnn_penalty_of_params, p, CNN_PARAMS, x, 1e-3, 2e-2);
    double first = 0, last = 0;
    for (int step = 0; step < 20; step++) {
        nb_scope_begin();
        nb_tensor *pen = cnn_penalty(x, p);
        ck_assert_msg(pen != NULL, "%s", nb_error());
        last = nb_get_flat(pen, 0);
        if (step == 0) first = last;
        for (int k = 0; k < CNN_PARAMS; k++) nb_zero_grad(p[k]);
        ck_assert_msg(nb_backward(pen) == NB_OK, "%s", nb_error());
        for (int k = 0; k < CNN_PARAMS; k++) {
            nb_tensor *gk = nb_grad(p[k]);
            for (int64_t i = 0; gk && i < nb_numel(p[k]); i++)
                nb_data(p[k])[i] -= 0.05f * nb_get_flat(gk, i);
            nb_mark_modified(p[k]);
        }
        nb_scope_end();
    }
    fprintf(stderr, "CNN gradient penalty: %.4g -> %.4g in 20 steps\n", first, last);
    ck_assert_msg(first > 0.1, "the penalty starts at %g", first);
    ck_assert_msg(last < 0.2 * first, "the penalty went from %g to %g", first, last);
}
END_TEST

/* d(grad L)/dW1 v against (grad L(W1 + h v) - grad L(W1 - h v)) / 2h,
 * L = sum (D(x) - t)^2 */
static nb_tensor *cnn_loss(nb_tensor *x, nb_tensor *const *p) {
    nb_tensor *t = nb_from_array((float[]){0.5f, -1.0f, 1.5f, 0.2f}, NB_SHAPE(4, 1));
    nb_tensor *e = nb_sub(cnn(x, p), t);
    return nb_sum_all(nb_mul(e, e));
}

static void cnn_grad_at(nb_tensor *x, nb_tensor **p, int k, const nb_tensor *v, float h,
                        double *out) {
    nb_scope_begin();
    float keep[64];
    int64_t n = nb_numel(p[k]);
    for (int64_t i = 0; i < n; i++) {
        keep[i] = nb_data(p[k])[i];
        nb_data(p[k])[i] += h * nb_get_flat(v, i);
    }
    nb_mark_modified(p[k]);
    nb_tensor *l = cnn_loss(x, p), *g;
    ck_assert_int_eq(nb_grad_of(&l, 1, &p[k], 1, NULL, NULL, &g), NB_OK);
    for (int64_t i = 0; i < n; i++) {
        out[i] = nb_get_flat(g, i);
        nb_data(p[k])[i] = keep[i];
    }
    nb_mark_modified(p[k]);
    nb_scope_end();
}

START_TEST(test_a_hessian_vector_product_through_a_cnn_matches_finite_differences) {
    nb_tensor *p[CNN_PARAMS], *x;
    cnn_init(p, &x);
    for (int k = 0; k < CNN_PARAMS; k++) { /* the conv filters and the linear weights */
        if (k != 0 && k != 2) continue;
        nb_tensor *v = wavy(nb_shape(p[k]), nb_ndim(p[k]), 1.0f, 0.4f + (float)k), *hv;
        nb_scope_begin();
        ck_assert_msg(nb_hvp(cnn_loss(x, p), p[k], v, &hv) == NB_OK, "%s", nb_error());
        double plus[64], minus[64], worst = 0;
        float h = 1e-3f;
        cnn_grad_at(x, p, k, v, h, plus);
        cnn_grad_at(x, p, k, v, -h, minus);
        for (int64_t i = 0; i < nb_numel(p[k]); i++) {
            double num = (plus[i] - minus[i]) / (2 * h), an = nb_get_flat(hv, i);
            double err = fabs(an - num) / (1 + fabs(num));
            worst = err > worst ? err : worst;
        }
        fprintf(stderr, "CNN Hessian-vector product, parameter %d: max error %.2g\n", k, worst);
        ck_assert_msg(worst < 1e-2, "parameter %d: H v off by %g", k, worst);
        nb_scope_end();
    }
}
END_TEST

/* ---- graph mode --------------------------------------------------------------------------- */
/* The points x are a leaf that lives across steps, like the parameters (a
 * graph borrows both); each step loads new points into it. */
typedef struct gp_state {
    nb_tensor *p[CNN_PARAMS], *x; /* the MLP penalty uses the first 3 */
    nb_optimizer *opt;
    nb_tensor *(*penalty)(nb_tensor *x, nb_tensor *const *p); /* of x and the params */
} gp_state;

/* one step of the penalty: zero the gradients, backward, an SGD update */
static nb_status gp_step(void *ctx, nb_tensor *const *in, int n_in, nb_tensor **out, int *n_out) {
    (void)in, (void)n_in;
    gp_state *st = ctx;
    nb_tensor *pen = st->penalty(st->x, st->p);
    if (!pen) return nb_failure_code();
    nb_optimizer_zero_grad(st->opt);
    nb_zero_grad(st->x);
    nb_status s = nb_backward(pen);
    if (s == NB_OK) s = nb_optimizer_step(st->opt);
    out[0] = pen;
    *n_out = 1;
    return s;
}

static void gp_init(gp_state *st) {
    st->penalty = gradient_penalty;
    st->p[0] = nb_set_requires_grad(
        nb_from_array((float[]){1.5f, -2.0f, 0.7f, 2.2f, 1.0f, -1.3f}, NB_SHAPE(2, 3)), true);
    st->p[1] = nb_set_requires_grad(nb_from_array((float[]){0.1f, -0.2f, 0.3f}, NB_SHAPE(3)), true);
    st->p[2] =
        nb_set_requires_grad(nb_from_array((float[]){1.2f, -0.8f, 1.5f}, NB_SHAPE(3, 1)), true);
    st->x = nb_set_requires_grad(nb_zeros(NB_SHAPE(4, 2)), true);
    st->opt = nb_sgd(0.05f, 0.0f, false, 0.0f);
    ck_assert_int_eq(nb_optimizer_add_params(st->opt, st->p, 3), NB_OK);
}

START_TEST(test_a_traced_gradient_penalty_step_replays_with_the_eager_numbers) {
    const float xs[3][8] = {{0.5f, -0.2f, 1.0f, 0.3f, -0.7f, 0.8f, 0.1f, -1.1f},
                            {0.2f, 0.4f, -0.9f, 0.6f, 1.2f, -0.3f, -0.5f, 0.7f},
                            {-0.8f, 0.1f, 0.3f, -1.0f, 0.9f, 0.5f, 0.6f, 0.2f}};
    gp_state eager, traced;
    gp_init(&eager);
    gp_init(&traced);
    nb_graph *g = NULL;
    for (int step = 0; step < 3; step++) {
        nb_scope_begin();
        nb_tensor *x = nb_from_array(xs[step], NB_SHAPE(4, 2));
        ck_assert_int_eq(nb_copy_from(eager.x, xs[step], 8), NB_OK);
        ck_assert_int_eq(nb_copy_from(traced.x, xs[step], 8), NB_OK);
        nb_tensor *e = NULL, *t = NULL;
        ck_assert_msg(gp_step(&eager, &x, 1, &e, &(int){0}) == NB_OK, "%s", nb_error());
        if (!g) {
            g = nb_trace_ex(gp_step, &traced, &x, 1, &(nb_graph_opts){.quiet = true});
            ck_assert_msg(g != NULL, "%s", nb_error());
            ck_assert_int_eq(nb_graph_outputs(g, &t), 1);
        } else {
            ck_assert_msg(nb_graph_run(g, &x, 1, &t) == NB_OK, "%s", nb_error());
        }
        NB_ASSERT_CLOSE(nb_get_flat(t, 0), nb_get_flat(e, 0), 1e-6);
        nb_scope_end();
    }
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < nb_numel(eager.p[k]); i++)
            NB_ASSERT_CLOSE(nb_get_flat(traced.p[k], i), nb_get_flat(eager.p[k], i), 1e-6);
    nb_graph_free(g);
    nb_optimizer_free(eager.opt);
    nb_optimizer_free(traced.opt);
}
END_TEST

/* the CNN's penalty step traced once and replayed: conv, pooling and their
 * backward ops recorded with create_graph replay with the eager numbers */
START_TEST(test_a_traced_cnn_gradient_penalty_step_replays_with_the_eager_numbers) {
    gp_state eager = {.penalty = cnn_penalty}, traced = {.penalty = cnn_penalty};
    gp_state *st[] = {&eager, &traced};
    for (int k = 0; k < 2; k++) {
        cnn_init(st[k]->p, &st[k]->x);
        st[k]->opt = nb_sgd(0.05f, 0.0f, false, 0.0f);
        ck_assert_int_eq(nb_optimizer_add_params(st[k]->opt, st[k]->p, CNN_PARAMS), NB_OK);
    }
    nb_graph *g = NULL;
    for (int step = 0; step < 3; step++) {
        nb_scope_begin();
        nb_tensor *x = nb_zeros(NB_SHAPE(1)), *e = NULL, *t = NULL;
        ck_assert_msg(gp_step(&eager, &x, 1, &e, &(int){0}) == NB_OK, "%s", nb_error());
        if (!g) {
            g = nb_trace_ex(gp_step, &traced, &x, 1, &(nb_graph_opts){.quiet = true});
            ck_assert_msg(g != NULL, "%s", nb_error());
            ck_assert_int_eq(nb_graph_outputs(g, &t), 1);
        } else {
            ck_assert_msg(nb_graph_run(g, &x, 1, &t) == NB_OK, "%s", nb_error());
        }
        NB_ASSERT_CLOSE(nb_get_flat(t, 0), nb_get_flat(e, 0), 1e-5);
        nb_scope_end();
    }
    for (int k = 0; k < CNN_PARAMS; k++)
        for (int64_t i = 0; i < nb_numel(eager.p[k]); i++)
            NB_ASSERT_CLOSE(nb_get_flat(traced.p[k], i), nb_get_flat(eager.p[k], i), 1e-5);
    nb_graph_free(g);
    nb_optimizer_free(eager.opt);
    nb_optimizer_free(traced.opt);
}
END_TEST

Suite *higher_order_suite(void) {
    Suite *s = suite_create("higher_order");
    TCase *tc = nb_tcase("grad_of");
    tcase_add_test(tc, test_create_graph_makes_the_gradient_differentiable);
    tcase_add_test(tc, test_create_graph_accumulates_into_grad_with_history);
    tcase_add_test(tc, test_grad_of_leaves_grad_untouched_and_handles_intermediates);
    tcase_add_test(tc, test_grad_of_names_an_unused_input_unless_allow_unused);
    tcase_add_test(tc, test_grad_of_weights_outputs_by_grad_outputs);
    tcase_add_test(tc, test_a_tensor_saved_for_double_backward_then_written_in_place_is_refused);
    suite_add_tcase(s, tc);
    tc = nb_tcase("hessian");
    tcase_add_test(tc, test_hessian_and_hvp_match_the_closed_form);
    tcase_add_test(tc, test_hessian_refuses_a_large_input);
    suite_add_tcase(s, tc);
    tc = nb_tcase("uses");
    tcase_add_test(tc, test_newton_on_logistic_regression_converges_in_a_handful_of_steps);
    tcase_add_test(tc, test_gradient_penalty_trains_and_its_gradient_matches_finite_differences);
    tcase_add_test(tc, test_a_traced_gradient_penalty_step_replays_with_the_eager_numbers);
    tcase_add_test(tc, test_a_gradient_penalty_through_a_cnn_trains_and_matches_finite_differences);
    tcase_add_test(tc, test_a_hessian_vector_product_through_a_cnn_matches_finite_differences);
    tcase_add_test(tc, test_a_traced_cnn_gradient_penalty_step_replays_with_the_eager_numbers);
    suite_add_tcase(s, tc);
    tc = nb_tcase("second_order");
    tcase_add_test(tc, test_every_op_passes_the_second_order_gradcheck);
    tcase_add_test(tc, test_gradgradcheck_catches_a_backward_that_is_not_differentiable);
    tcase_add_test(tc, test_the_second_order_table_covers_every_op_with_a_backward);
    tcase_add_test(tc, test_max_pool_gather_reads_where_the_workspace_routes_dy_even_on_ties);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(higher_order_suite());
}
