/* Batch normalization in training: each channel c is normalized by the mean
 * and (biased) variance of its N L values, then scaled and shifted.
 *
 *   mean_c = 1/M sum x,  var_c = 1/M sum (x - mean_c)^2,  M = N L
 *   xhat = (x - mean_c) / sqrt(var_c + eps),  y = gamma_c xhat + beta_c
 *
 * Backward, with every x moving mean and var too:
 *   dbeta_c = sum dy,  dgamma_c = sum dy xhat
 *   dx = gamma_c / sqrt(var_c + eps) (dy - dbeta_c / M - xhat dgamma_c / M) */
#include "ref.h"

#include <math.h>

/* x: [N, C, L], gamma, beta: [C] (NULL: 1 and 0) -> y: [N, C, L], mean, var: [C] */
void nb_ref_batch_norm_forward(float *y, float *mean, float *var, const float *x,
                               const float *gamma, const float *beta, float eps, int64_t N,
                               int64_t C, int64_t L) {
    double M = (double)(N * L);
    for (int64_t c = 0; c < C; c++) {
        double s = 0, ss = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t l = 0; l < L; l++) s += x[(n * C + c) * L + l];
        double mu = s / M;
        for (int64_t n = 0; n < N; n++)
            for (int64_t l = 0; l < L; l++) {
                double d = x[(n * C + c) * L + l] - mu;
                ss += d * d;
            }
        double v = ss / M, inv_std = 1.0 / sqrt(v + eps);
        double gm = gamma ? gamma[c] : 1, bt = beta ? beta[c] : 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t l = 0; l < L; l++) {
                int64_t i = (n * C + c) * L + l;
                y[i] = (float)(gm * (x[i] - mu) * inv_std + bt);
            }
        mean[c] = (float)mu;
        var[c] = (float)v;
    }
}

/* dy, x: [N, C, L], mean, var, gamma: [C] (the forward's) -> dx +=, dgamma +=, dbeta += */
void nb_ref_batch_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *mean, const float *var,
                                const float *gamma, float eps, int64_t N, int64_t C, int64_t L) {
    double M = (double)(N * L);
    for (int64_t c = 0; c < C; c++) {
        double inv_std = 1.0 / sqrt((double)var[c] + eps), sum_dy = 0, sum_dy_xhat = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t l = 0; l < L; l++) {
                int64_t i = (n * C + c) * L + l;
                sum_dy += dy[i];
                sum_dy_xhat += dy[i] * (x[i] - mean[c]) * inv_std;
            }
        double gm = gamma ? gamma[c] : 1;
        for (int64_t n = 0; n < N; n++)
            for (int64_t l = 0; l < L; l++) {
                int64_t i = (n * C + c) * L + l;
                double xhat = (x[i] - mean[c]) * inv_std;
                dx[i] =
                    (float)(dx[i] + gm * inv_std * (dy[i] - sum_dy / M - xhat * sum_dy_xhat / M));
            }
        if (dgamma) dgamma[c] = (float)(dgamma[c] + sum_dy_xhat);
        if (dbeta) dbeta[c] = (float)(dbeta[c] + sum_dy);
    }
}
