/* Binary ops with numpy broadcasting: c = a (op) b, and the gradients, each
 * summed back over the axes its input was broadcast along. */
#include "ref.h"

#include <math.h>
#include <stddef.h>

/* The element of a shape-s array at the multi-index idx of the broadcast
 * result: a size-1 axis always reads its element 0. */
static int64_t offset_of(const int64_t *idx, const int64_t *s, int nd) {
    int64_t off = 0;
    for (int i = 0; i < nd; i++) off = off * s[i] + (s[i] == 1 ? 0 : idx[i]);
    return off;
}

/* idx: the next multi-index of shape s in row-major order */
static void next_index(int64_t *idx, const int64_t *s, int nd) {
    for (int i = nd - 1; i >= 0; i--) {
        if (++idx[i] < s[i]) return;
        idx[i] = 0;
    }
}

static int64_t numel(const int64_t *s, int nd) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

/* a (op) b, and dc/da, dc/db into *pa, *pb */
static double apply(nb_ref_binary op, float a, float b, double *pa, double *pb) {
    switch (op) {
    case NB_REF_ADD:
        *pa = 1, *pb = 1;
        return (double)a + b;
    case NB_REF_SUB:
        *pa = 1, *pb = -1;
        return (double)a - b;
    case NB_REF_MUL:
        *pa = b, *pb = a;
        return (double)a * b;
    case NB_REF_DIV:
        *pa = 1.0 / b, *pb = -(double)a / ((double)b * b);
        return (double)a / b;
    case NB_REF_MAX: /* a tie splits the gradient evenly */
        *pa = a > b ? 1 : a == b ? 0.5 : 0, *pb = 1 - *pa;
        return a > b ? a : b;
    case NB_REF_MIN:
        *pa = a < b ? 1 : a == b ? 0.5 : 0, *pb = 1 - *pa;
        return a < b ? a : b;
    }
    *pa = *pb = NAN;
    return NAN;
}

/* a: sa, b: sb -> c: sc, all with nd axes */
void nb_ref_binary_forward(nb_ref_binary op, float *c, const float *a, const int64_t *sa,
                           const float *b, const int64_t *sb, const int64_t *sc, int nd) {
    int64_t idx[NB_REF_MAX_DIMS] = {0}, n = numel(sc, nd);
    double pa, pb;
    for (int64_t i = 0; i < n; i++, next_index(idx, sc, nd))
        c[i] = (float)apply(op, a[offset_of(idx, sa, nd)], b[offset_of(idx, sb, nd)], &pa, &pb);
}

/* dc: sc -> da: sa +=, db: sb += (either may be NULL) */
void nb_ref_binary_backward(nb_ref_binary op, float *da, float *db, const float *dc, const float *a,
                            const int64_t *sa, const float *b, const int64_t *sb, const int64_t *sc,
                            int nd) {
    int64_t idx[NB_REF_MAX_DIMS] = {0}, n = numel(sc, nd);
    for (int64_t i = 0; i < n; i++, next_index(idx, sc, nd)) {
        int64_t ia = offset_of(idx, sa, nd), ib = offset_of(idx, sb, nd);
        double pa, pb;
        apply(op, a[ia], b[ib], &pa, &pb);
        if (da) da[ia] = (float)(da[ia] + pa * dc[i]);
        if (db) db[ib] = (float)(db[ib] + pb * dc[i]);
    }
}
