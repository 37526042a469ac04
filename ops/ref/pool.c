/* Max and average pooling over kh x kw windows, and their backward passes.
 *
 *   y[n, c, p, q] = max or mean over the taps (i, j) of the window,
 *     h = p stride_h - pad_h + i dilation_h,  v = q stride_w - pad_w + j dilation_w
 *
 * Max pooling looks only at taps inside the input (padding never wins); its
 * gradient goes to the tap that won (the first, in window order, on a tie).
 * Average pooling divides by kh kw (count_include_pad: padded zeros count) or
 * by the taps inside the input; its gradient is spread the same way. */
#include "ref.h"

#include <math.h>

static bool inside(const nb_ref_pool2d *g, int64_t h, int64_t v) {
    return h >= 0 && h < g->H && v >= 0 && v < g->W;
}

/* the offset in its [H, W] map of the largest tap inside x of window (p, q);
 * -1 when no tap is inside */
static int64_t argmax_tap(const float *map, const nb_ref_pool2d *g, int64_t p, int64_t q) {
    int64_t best = -1;
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t h = p * g->stride_h - g->pad_h + i * g->dilation_h;
            int64_t v = q * g->stride_w - g->pad_w + j * g->dilation_w;
            if (inside(g, h, v) && (best < 0 || map[h * g->W + v] > map[best])) best = h * g->W + v;
        }
    return best;
}

/* x: [N, C, H, W] -> y: [N, C, P, Q] */
void nb_ref_max_pool2d_forward(float *y, const float *x, const nb_ref_pool2d *g) {
    for (int64_t nc = 0; nc < g->N * g->C; nc++) {
        const float *map = x + nc * g->H * g->W;
        for (int64_t p = 0; p < g->P; p++)
            for (int64_t q = 0; q < g->Q; q++) {
                int64_t at = argmax_tap(map, g, p, q);
                y[(nc * g->P + p) * g->Q + q] = at < 0 ? -INFINITY : map[at];
            }
    }
}

/* dy: [N, C, P, Q], x -> dx: [N, C, H, W] += dy at each window's largest tap */
void nb_ref_max_pool2d_backward(float *dx, const float *dy, const float *x,
                                const nb_ref_pool2d *g) {
    for (int64_t nc = 0; nc < g->N * g->C; nc++) {
        const float *map = x + nc * g->H * g->W;
        for (int64_t p = 0; p < g->P; p++)
            for (int64_t q = 0; q < g->Q; q++) {
                int64_t at = argmax_tap(map, g, p, q);
                if (at >= 0) dx[nc * g->H * g->W + at] += dy[(nc * g->P + p) * g->Q + q];
            }
    }
}

/* the number window (p, q) divides by */
static int64_t divisor(const nb_ref_pool2d *g, int64_t p, int64_t q) {
    if (g->count_include_pad) return g->kh * g->kw;
    int64_t n = 0;
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++)
            n += inside(g, p * g->stride_h - g->pad_h + i, q * g->stride_w - g->pad_w + j);
    return n;
}

/* x: [N, C, H, W] -> y: [N, C, P, Q] */
void nb_ref_avg_pool2d_forward(float *y, const float *x, const nb_ref_pool2d *g) {
    for (int64_t nc = 0; nc < g->N * g->C; nc++)
        for (int64_t p = 0; p < g->P; p++)
            for (int64_t q = 0; q < g->Q; q++) {
                double s = 0;
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t j = 0; j < g->kw; j++) {
                        int64_t h = p * g->stride_h - g->pad_h + i;
                        int64_t v = q * g->stride_w - g->pad_w + j;
                        if (inside(g, h, v)) s += x[(nc * g->H + h) * g->W + v];
                    }
                int64_t d = divisor(g, p, q);
                y[(nc * g->P + p) * g->Q + q] = d ? (float)(s / (double)d) : 0.0f;
            }
}

/* dy: [N, C, P, Q] -> dx: [N, C, H, W] += dy / divisor at every tap inside x */
void nb_ref_avg_pool2d_backward(float *dx, const float *dy, const nb_ref_pool2d *g) {
    for (int64_t nc = 0; nc < g->N * g->C; nc++)
        for (int64_t p = 0; p < g->P; p++)
            for (int64_t q = 0; q < g->Q; q++) {
                int64_t d = divisor(g, p, q);
                if (!d) continue;
                double share = dy[(nc * g->P + p) * g->Q + q] / (double)d;
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t j = 0; j < g->kw; j++) {
                        int64_t h = p * g->stride_h - g->pad_h + i;
                        int64_t v = q * g->stride_w - g->pad_w + j;
                        if (inside(g, h, v)) dx[(nc * g->H + h) * g->W + v] += (float)share;
                    }
            }
}
