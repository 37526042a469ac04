/* Elementwise functions: y = f(x), and their derivatives, dx = f'(x) dy.
 * Computed in double and rounded once. */
#include "ref.h"

#include <math.h>

/* the normal density and distribution, for gelu */
static double normal_pdf(double x) {
    return exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
}

static double normal_cdf(double x) {
    return 0.5 * (1.0 + erf(x / sqrt(2.0)));
}

static double sigmoid(double x) {
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

/* f(x), and f'(x) into *d: each function with its derivative. At a kink the
 * derivative is the one-sided one PyTorch and oneDNN use. */
static double f_and_derivative(nb_ref_eltwise f, double a, double b, double x, double *d) {
    switch (f) {
    case NB_REF_RELU:
        *d = x > 0 ? 1 : 0;
        return x > 0 ? x : 0;
    case NB_REF_LEAKY_RELU:
        *d = x > 0 ? 1 : a;
        return x > 0 ? x : a * x;
    case NB_REF_SIGMOID:
        *d = sigmoid(x) * (1 - sigmoid(x));
        return sigmoid(x);
    case NB_REF_TANH:
        *d = 1 - tanh(x) * tanh(x);
        return tanh(x);
    case NB_REF_ELU:
        *d = x > 0 ? 1 : a * exp(x);
        return x > 0 ? x : a * expm1(x);
    case NB_REF_GELU:
        *d = normal_cdf(x) + x * normal_pdf(x);
        return x * normal_cdf(x);
    case NB_REF_SOFTPLUS:
        *d = sigmoid(x);
        return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    case NB_REF_EXP:
        *d = exp(x);
        return exp(x);
    case NB_REF_LOG:
        *d = 1 / x;
        return log(x);
    case NB_REF_SQRT:
        *d = 0.5 / sqrt(x);
        return sqrt(x);
    case NB_REF_SQUARE:
        *d = 2 * x;
        return x * x;
    case NB_REF_POW:
        *d = a * b * pow(x, b - 1);
        return a * pow(x, b);
    case NB_REF_ABS:
        *d = x > 0 ? 1 : x < 0 ? -1 : 0;
        return fabs(x);
    case NB_REF_CLIP:
        *d = x >= a && x <= b ? 1 : 0; /* both bounds count as inside */
        return x < a ? a : x > b ? b : x;
    case NB_REF_AFFINE:
        *d = a;
        return a * x + b;
    case NB_REF_HEAVISIDE:
        *d = 0;
        return x > 0 ? 1 : 0;
    }
    *d = NAN;
    return NAN;
}

/* x: [n] -> y: [n] */
void nb_ref_eltwise_forward(nb_ref_eltwise f, float alpha, float beta, float *y, const float *x,
                            int64_t n) {
    double d;
    for (int64_t i = 0; i < n; i++) y[i] = (float)f_and_derivative(f, alpha, beta, x[i], &d);
}

/* dy: [n], x: [n] -> dx: [n] += f'(x) dy */
void nb_ref_eltwise_backward(nb_ref_eltwise f, float alpha, float beta, float *dx, const float *dy,
                             const float *x, int64_t n) {
    double d;
    for (int64_t i = 0; i < n; i++) {
        f_and_derivative(f, alpha, beta, x[i], &d);
        dx[i] = (float)(dx[i] + d * dy[i]);
    }
}
