/* Reductions over any set of axes: sum, mean, max and min. The output keeps
 * every reduced axis with size 1. One output element is a loop over the
 * reduced axes: output element o and reduced position r together name one
 * input element. */
#include "ref.h"

#include <math.h>

/* The input offset of output element o (its row-major index over the kept
 * axes) and position r (its row-major index over the reduced axes). */
static int64_t input_offset(int64_t o, int64_t r, const int64_t *shape, int nd,
                            const bool *reduced) {
    int64_t off = 0, stride = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t *which = reduced[d] ? &r : &o;
        off += (*which % shape[d]) * stride;
        *which /= shape[d];
        stride *= shape[d];
    }
    return off;
}

/* how many output elements (kept) and how many inputs each reduces (count) */
static void sizes(const int64_t *shape, int nd, const bool *reduced, int64_t *kept,
                  int64_t *count) {
    *kept = *count = 1;
    for (int d = 0; d < nd; d++) *(reduced[d] ? count : kept) *= shape[d];
}

/* x: shape -> y: shape with the reduced axes of size 1 */
void nb_ref_reduce_forward(nb_ref_reduce op, float *y, const float *x, const int64_t *shape, int nd,
                           const bool *reduced) {
    int64_t kept, count;
    sizes(shape, nd, reduced, &kept, &count);
    for (int64_t o = 0; o < kept; o++) {
        double acc = op == NB_REF_REDUCE_MAX ? -INFINITY : op == NB_REF_REDUCE_MIN ? INFINITY : 0;
        for (int64_t r = 0; r < count; r++) {
            double v = x[input_offset(o, r, shape, nd, reduced)];
            acc = op == NB_REF_REDUCE_MAX   ? fmax(acc, v)
                  : op == NB_REF_REDUCE_MIN ? fmin(acc, v)
                                            : acc + v;
        }
        y[o] = (float)(op == NB_REF_MEAN ? acc / (double)count : acc);
    }
}

/* dy: y's shape -> dx: x's shape +=
 *   sum: dy;  mean: dy / count;
 *   max, min: dy / ties where x equals the result (ties of them), else 0 */
void nb_ref_reduce_backward(nb_ref_reduce op, float *dx, const float *dy, const float *x,
                            const float *y, const int64_t *shape, int nd, const bool *reduced) {
    int64_t kept, count;
    sizes(shape, nd, reduced, &kept, &count);
    bool extreme = op == NB_REF_REDUCE_MAX || op == NB_REF_REDUCE_MIN;
    for (int64_t o = 0; o < kept; o++) {
        int64_t ties = 0;
        for (int64_t r = 0; r < count && extreme; r++)
            ties += x[input_offset(o, r, shape, nd, reduced)] == y[o];
        for (int64_t r = 0; r < count; r++) {
            int64_t i = input_offset(o, r, shape, nd, reduced);
            double g = op == NB_REF_SUM    ? dy[o]
                       : op == NB_REF_MEAN ? dy[o] / (double)count
                       : x[i] == y[o]      ? (double)dy[o] / (double)ties
                                           : 0;
            dx[i] = (float)(dx[i] + g);
        }
    }
}
