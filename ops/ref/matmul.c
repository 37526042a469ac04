/* Matrix products: c = a b, batched, and the linear layer y = x w + bias. */
#include "ref.h"

#include <stddef.h>

/* a: [B, M, K] @ b: [B, K, N] -> c: [B, M, N] */
void nb_ref_matmul_forward(float *c, const float *a, const float *b, int64_t B, int64_t M,
                           int64_t K, int64_t N) {
    for (int64_t t = 0; t < B; t++) {
        const float *at = a + t * M * K, *bt = b + t * K * N;
        float *ct = c + t * M * N;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) s += (double)at[i * K + k] * bt[k * N + j];
                ct[i * N + j] = (float)s;
            }
    }
}

/* dc: [B, M, N] -> da: [B, M, K] += dc b^T, db: [B, K, N] += a^T dc */
void nb_ref_matmul_backward(float *da, float *db, const float *dc, const float *a, const float *b,
                            int64_t B, int64_t M, int64_t K, int64_t N) {
    for (int64_t t = 0; t < B; t++) {
        const float *at = a + t * M * K, *bt = b + t * K * N, *dct = dc + t * M * N;
        for (int64_t i = 0; i < M && da; i++)
            for (int64_t k = 0; k < K; k++) {
                double s = 0;
                for (int64_t j = 0; j < N; j++) s += (double)dct[i * N + j] * bt[k * N + j];
                da[t * M * K + i * K + k] += (float)s;
            }
        for (int64_t k = 0; k < K && db; k++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t i = 0; i < M; i++) s += (double)at[i * K + k] * dct[i * N + j];
                db[t * K * N + k * N + j] += (float)s;
            }
    }
}

/* x: [N, IN] @ w: [IN, OUT] + bias: [OUT] -> y: [N, OUT] */
void nb_ref_linear_forward(float *y, const float *x, const float *w, const float *bias, int64_t N,
                           int64_t IN, int64_t OUT) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < OUT; o++) {
            double s = bias ? bias[o] : 0;
            for (int64_t i = 0; i < IN; i++) s += (double)x[n * IN + i] * w[i * OUT + o];
            y[n * OUT + o] = (float)s;
        }
}

/* dy: [N, OUT] -> dx: [N, IN] += dy w^T, dw: [IN, OUT] += x^T dy, dbias: [OUT] += sum_n dy */
void nb_ref_linear_backward(float *dx, float *dw, float *dbias, const float *dy, const float *x,
                            const float *w, int64_t N, int64_t IN, int64_t OUT) {
    nb_ref_matmul_backward(dx, dw, dy, x, w, 1, N, IN, OUT);
    for (int64_t o = 0; o < OUT && dbias; o++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++) s += dy[n * OUT + o];
        dbias[o] += (float)s;
    }
}
