/* Softmax and log-softmax along one axis. x is seen as [outer, L, inner]: the
 * L entries of one softmax are inner apart. The row maximum is subtracted
 * first, so that no exponential overflows. */
#include "ref.h"

#include <math.h>

/* log sum_j e^x_j over the row starting at x, entries inner apart */
static double log_sum_exp(const float *x, int64_t L, int64_t inner) {
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < L; j++) m = fmax(m, x[j * inner]);
    for (int64_t j = 0; j < L; j++) s += exp(x[j * inner] - m);
    return m + log(s);
}

/* x: [outer, L, inner] -> y: y_j = e^x_j / sum_i e^x_i */
void nb_ref_softmax_forward(float *y, const float *x, int64_t outer, int64_t L, int64_t inner) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const float *xr = x + o * L * inner + in;
            float *yr = y + o * L * inner + in;
            double lse = log_sum_exp(xr, L, inner);
            for (int64_t j = 0; j < L; j++) yr[j * inner] = (float)exp(xr[j * inner] - lse);
        }
}

/* dy, y: [outer, L, inner] -> dx += y (dy - sum_j dy_j y_j) */
void nb_ref_softmax_backward(float *dx, const float *dy, const float *y, int64_t outer, int64_t L,
                             int64_t inner) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            int64_t at = o * L * inner + in;
            double dot = 0;
            for (int64_t j = 0; j < L; j++) dot += (double)dy[at + j * inner] * y[at + j * inner];
            for (int64_t j = 0; j < L; j++) {
                int64_t i = at + j * inner;
                dx[i] = (float)(dx[i] + y[i] * (dy[i] - dot));
            }
        }
}

/* x: [outer, L, inner] -> y = x - log sum_j e^x_j */
void nb_ref_log_softmax_forward(float *y, const float *x, int64_t outer, int64_t L, int64_t inner) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const float *xr = x + o * L * inner + in;
            float *yr = y + o * L * inner + in;
            double lse = log_sum_exp(xr, L, inner);
            for (int64_t j = 0; j < L; j++) yr[j * inner] = (float)(xr[j * inner] - lse);
        }
}

/* dy, y: [outer, L, inner] -> dx += dy - e^y sum_j dy_j */
void nb_ref_log_softmax_backward(float *dx, const float *dy, const float *y, int64_t outer,
                                 int64_t L, int64_t inner) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            int64_t at = o * L * inner + in;
            double sum = 0;
            for (int64_t j = 0; j < L; j++) sum += dy[at + j * inner];
            for (int64_t j = 0; j < L; j++) {
                int64_t i = at + j * inner;
                dx[i] = (float)(dx[i] + dy[i] - exp(y[i]) * sum);
            }
        }
}
