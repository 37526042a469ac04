/* Inverted dropout, and Gaussian noise (at the end).
 *
 *   x: any shape -> y = x * mask,  mask = 0 with probability rate, else 1 / (1 - rate)
 *
 * The mask comes from the thread's seeded generator and is saved: the
 * backward is dy * mask, the same op. Scaling at training time keeps the
 * expected activation unchanged, so inference is the identity.
 */
#include "op.h"

#include <math.h>

typedef struct {
    float rate;
} dropout_attrs;

static nb_status same_shape(const nb_node *n, nb_layout *l) {
    nb_layout_contiguous(l, n->in[0]->shape, n->in[0]->ndim);
    return NB_OK;
}

static nb_status dropout_forward(nb_node *n) {
    float rate = NB_ATTRS(n, dropout_attrs)->rate, keep = 1.0f / (1.0f - rate);
    nb_tensor *mask = nb_saved(n, 0, n->out->shape, n->out->ndim);
    if (!mask) return nb_failure_code();
    const float *x = nb_ptr(n->in[0]);
    float *m = nb_ptr(mask), *y = nb_ptr(n->out);
    for (int64_t i = 0; i < mask->numel; i++) {
        m[i] = nb_rng_uniform() < rate ? 0.0f : keep;
        y[i] = x[i] * m[i];
    }
    return NB_OK;
}

static nb_status dropout_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    gx[0] = nb_mul(gy, n->saved[0]);
    return gx[0] ? NB_OK : nb_failure_code();
}

static int print_rate(const nb_node *n, char *buf, size_t size) {
    return snprintf(buf, size, "rate=%g", NB_ATTRS(n, dropout_attrs)->rate);
}

static const nb_op_def dropout_def = {
    .name = "dropout",
    .flags = NB_OP_CONTIGUOUS | NB_OP_EFFECT, /* draws from the RNG */
    .shape = same_shape,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .print_attrs = print_rate,
};

nb_tensor *nb_dropout(nb_tensor *x, float rate, bool training) {
    if (!x) return nb_fail_null("nb_dropout");
    if (!(rate >= 0 && rate < 1))
        return nb_fail(NB_ERR_ARG, "nb_dropout: rate %g must be in [0, 1)", rate);
    if (!training || rate == 0) return x;
    dropout_attrs a = {rate};
    return nb_apply(&dropout_def, &x, 1, &a, sizeof a);
}

/* ---- gaussian_noise: y = x + stddev * N(0, 1), the noise drawn by each forward run --------
 * (a replayed graph draws new noise, as dropout draws a new mask); d/dx is the identity. */
typedef struct {
    float stddev;
} noise_attrs;

static nb_status noise_forward(nb_node *n) {
    float sd = NB_ATTRS(n, noise_attrs)->stddev;
    const float *x = nb_ptr(n->in[0]);
    float *y = nb_ptr(n->out);
    for (int64_t i = 0; i < n->out->numel; i += 2) { /* Box-Muller: two normals a draw */
        double u = 1.0 - (double)nb_rng_uniform(), v = (double)nb_rng_uniform();
        double r = sqrt(-2.0 * log(u)), a = 6.283185307179586 * v;
        y[i] = x[i] + sd * (float)(r * cos(a));
        if (i + 1 < n->out->numel) y[i + 1] = x[i + 1] + sd * (float)(r * sin(a));
    }
    return NB_OK;
}

static nb_status noise_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    (void)n;
    gx[0] = gy;
    return NB_OK;
}

static int print_stddev(const nb_node *n, char *buf, size_t size) {
    return snprintf(buf, size, "stddev=%g", NB_ATTRS(n, noise_attrs)->stddev);
}

static const nb_op_def noise_def = {
    .name = "gaussian_noise",
    .flags = NB_OP_CONTIGUOUS | NB_OP_EFFECT, /* draws from the RNG */
    .shape = same_shape,
    .forward = noise_forward,
    .backward = noise_backward,
    .print_attrs = print_stddev,
};

nb_tensor *nb_gaussian_noise(nb_tensor *x, float stddev, bool training) {
    if (!x) return nb_fail_null("nb_gaussian_noise");
    if (!(stddev >= 0) || !isfinite(stddev))
        return nb_fail(NB_ERR_ARG, "nb_gaussian_noise: stddev %g must be >= 0 and finite", stddev);
    if (!training || stddev == 0) return x;
    noise_attrs a = {stddev};
    return nb_apply(&noise_def, &x, 1, &a, sizeof a);
}
