/* 2-D convolution (cross-correlation, as every framework computes it) with
 * stride, padding, dilation and groups, and its two backward passes.
 *
 *   y[n, k, p, q] = bias[k] + sum_{c, r, s} w[k, c, r, s] x[n, g C' + c, h, v]
 *     h = p stride_h - pad_h + r dilation_h,  v = q stride_w - pad_w + s dilation_w
 *   with C' = C / groups input channels per group, g = k / (K / groups) the
 *   group of output channel k, and x = 0 outside the input.
 *
 * Both backward passes walk the same loops as forward and send each product's
 * gradient to the factor it came from: dx gets w dy, dw gets x dy. */
#include "ref.h"

/* the input row (column) tap r of output row p reads; outside [0, H) is padding */
static int64_t tap(int64_t p, int64_t r, int64_t stride, int64_t pad, int64_t dilation) {
    return p * stride - pad + r * dilation;
}

/* x: [N, C, H, W], w: [K, C/G, R, S], bias: [K] or NULL -> y: [N, K, P, Q] */
void nb_ref_conv2d_forward(float *y, const float *x, const float *w, const float *bias,
                           const nb_ref_conv2d *g) {
    int64_t cg = g->C / g->groups, kg = g->K / g->groups;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t k = 0; k < g->K; k++)
            for (int64_t p = 0; p < g->P; p++)
                for (int64_t q = 0; q < g->Q; q++) {
                    double s = bias ? bias[k] : 0;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t r = 0; r < g->R; r++)
                            for (int64_t t = 0; t < g->S; t++) {
                                int64_t h = tap(p, r, g->stride_h, g->pad_h, g->dilation_h);
                                int64_t v = tap(q, t, g->stride_w, g->pad_w, g->dilation_w);
                                if (h < 0 || h >= g->H || v < 0 || v >= g->W) continue;
                                int64_t ci = (k / kg) * cg + c;
                                s += (double)w[((k * cg + c) * g->R + r) * g->S + t] *
                                     x[((n * g->C + ci) * g->H + h) * g->W + v];
                            }
                    y[((n * g->K + k) * g->P + p) * g->Q + q] = (float)s;
                }
}

/* dy: [N, K, P, Q], w: [K, C/G, R, S] -> dx: [N, C, H, W] += sum of w dy over
 * every (k, p, q, r, s) whose tap lands on the input pixel. Gathered per input
 * pixel (not scattered) so that each is one sum in double. */
void nb_ref_conv2d_backward_data(float *dx, const float *dy, const float *w,
                                 const nb_ref_conv2d *g) {
    int64_t cg = g->C / g->groups, kg = g->K / g->groups;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t ci = 0; ci < g->C; ci++)
            for (int64_t h = 0; h < g->H; h++)
                for (int64_t v = 0; v < g->W; v++) {
                    double s = 0;
                    int64_t grp = ci / cg, c = ci % cg;
                    for (int64_t k = grp * kg; k < (grp + 1) * kg; k++)
                        for (int64_t p = 0; p < g->P; p++)
                            for (int64_t r = 0; r < g->R; r++) {
                                if (tap(p, r, g->stride_h, g->pad_h, g->dilation_h) != h) continue;
                                for (int64_t q = 0; q < g->Q; q++)
                                    for (int64_t t = 0; t < g->S; t++) {
                                        if (tap(q, t, g->stride_w, g->pad_w, g->dilation_w) != v)
                                            continue;
                                        s += (double)w[((k * cg + c) * g->R + r) * g->S + t] *
                                             dy[((n * g->K + k) * g->P + p) * g->Q + q];
                                    }
                            }
                    float *d = &dx[((n * g->C + ci) * g->H + h) * g->W + v];
                    *d = (float)(*d + s);
                }
}

/* dy: [N, K, P, Q], x: [N, C, H, W] -> dw: [K, C/G, R, S] += sum over n, p, q
 * of x at the tap times dy; dbias: [K] += sum over n, p, q of dy */
void nb_ref_conv2d_backward_weights(float *dw, float *dbias, const float *dy, const float *x,
                                    const nb_ref_conv2d *g) {
    int64_t cg = g->C / g->groups, kg = g->K / g->groups;
    for (int64_t k = 0; k < g->K; k++) {
        for (int64_t c = 0; c < cg; c++)
            for (int64_t r = 0; r < g->R; r++)
                for (int64_t t = 0; t < g->S; t++) {
                    double s = 0;
                    int64_t ci = (k / kg) * cg + c;
                    for (int64_t n = 0; n < g->N; n++)
                        for (int64_t p = 0; p < g->P; p++)
                            for (int64_t q = 0; q < g->Q; q++) {
                                int64_t h = tap(p, r, g->stride_h, g->pad_h, g->dilation_h);
                                int64_t v = tap(q, t, g->stride_w, g->pad_w, g->dilation_w);
                                if (h < 0 || h >= g->H || v < 0 || v >= g->W) continue;
                                s += (double)x[((n * g->C + ci) * g->H + h) * g->W + v] *
                                     dy[((n * g->K + k) * g->P + p) * g->Q + q];
                            }
                    float *d = &dw[((k * cg + c) * g->R + r) * g->S + t];
                    *d = (float)(*d + s);
                }
        if (!dbias) continue;
        double s = 0;
        for (int64_t n = 0; n < g->N; n++)
            for (int64_t pq = 0; pq < g->P * g->Q; pq++) s += dy[(n * g->K + k) * g->P * g->Q + pq];
        dbias[k] = (float)(dbias[k] + s);
    }
}
