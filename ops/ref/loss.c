/* The fused cross-entropy losses on logits, as means over the batch.
 *
 *   softmax:  loss = 1/N sum_n sum_k t_nk (lse_n - x_nk),  lse_n = log sum_k e^x_nk
 *             dx = (softmax(x) sum_k t - t) / N,  dt = -log_softmax(x) / N
 *   sparse:   the same with t the one-hot rows of the labels (no dt)
 *   sigmoid:  loss = 1/M sum max(x, 0) - x z + log(1 + e^-|x|)  (= -z log s - (1-z) log(1-s))
 *             dx = (sigmoid(x) - z) / M,  dz = -x / M
 * each gradient times dloss, the loss's own incoming gradient. */
#include "ref.h"

#include <math.h>

/* log sum_k e^x_k of one row of K logits, its maximum subtracted first */
static double row_lse(const float *x, int64_t K) {
    double m = -INFINITY, s = 0;
    for (int64_t k = 0; k < K; k++) m = fmax(m, x[k]);
    for (int64_t k = 0; k < K; k++) s += exp(x[k] - m);
    return m + log(s);
}

/* x, t: [N, K] -> 0-d */
float nb_ref_softmax_ce_forward(const float *x, const float *t, int64_t N, int64_t K) {
    double loss = 0;
    for (int64_t n = 0; n < N; n++) {
        double lse = row_lse(x + n * K, K);
        for (int64_t k = 0; k < K; k++) loss += t[n * K + k] * (lse - x[n * K + k]);
    }
    return (float)(loss / (double)N);
}

/* x, t: [N, K] -> dx, dt: [N, K] += */
void nb_ref_softmax_ce_backward(float *dx, float *dt, float dloss, const float *x, const float *t,
                                int64_t N, int64_t K) {
    for (int64_t n = 0; n < N; n++) {
        double lse = row_lse(x + n * K, K), sum_t = 0;
        for (int64_t k = 0; k < K; k++) sum_t += t[n * K + k];
        for (int64_t k = 0; k < K; k++) {
            int64_t i = n * K + k;
            double p = exp(x[i] - lse);
            if (dx) dx[i] = (float)(dx[i] + dloss * (p * sum_t - t[i]) / (double)N);
            if (dt) dt[i] = (float)(dt[i] - dloss * (x[i] - lse) / (double)N);
        }
    }
}

/* x: [N, K], labels: [N] -> 0-d */
float nb_ref_sparse_softmax_ce_forward(const float *x, const float *labels, int64_t N, int64_t K) {
    double loss = 0;
    for (int64_t n = 0; n < N; n++) loss += row_lse(x + n * K, K) - x[n * K + (int64_t)labels[n]];
    return (float)(loss / (double)N);
}

/* x: [N, K], labels: [N] -> dx: [N, K] += */
void nb_ref_sparse_softmax_ce_backward(float *dx, float dloss, const float *x, const float *labels,
                                       int64_t N, int64_t K) {
    for (int64_t n = 0; n < N; n++) {
        double lse = row_lse(x + n * K, K);
        for (int64_t k = 0; k < K; k++) {
            int64_t i = n * K + k;
            double onehot = k == (int64_t)labels[n] ? 1 : 0;
            dx[i] = (float)(dx[i] + dloss * (exp(x[i] - lse) - onehot) / (double)N);
        }
    }
}

/* x, z: [M] -> 0-d */
float nb_ref_sigmoid_ce_forward(const float *x, const float *z, int64_t M) {
    double loss = 0;
    for (int64_t i = 0; i < M; i++)
        loss += fmax(x[i], 0) - (double)x[i] * z[i] + log1p(exp(-fabs(x[i])));
    return (float)(loss / (double)M);
}

/* x, z: [M] -> dx, dz: [M] += */
void nb_ref_sigmoid_ce_backward(float *dx, float *dz, float dloss, const float *x, const float *z,
                                int64_t M) {
    for (int64_t i = 0; i < M; i++) {
        double s = x[i] >= 0 ? 1 / (1 + exp(-(double)x[i])) : exp(x[i]) / (1 + exp(x[i]));
        if (dx) dx[i] = (float)(dx[i] + dloss * (s - z[i]) / (double)M);
        if (dz) dz[i] = (float)(dz[i] - dloss * x[i] / (double)M);
    }
}
