/* The thread's random generator: PCG32 (O'Neill's permuted congruential
 * generator), so the same seed gives the same numbers on every machine.
 * Normals come from the Box-Muller transform computed in double. */
#include "core_internal.h"

#include <math.h>

static _Thread_local uint64_t rng_state = 0x853c49e6748fea9bULL;
static _Thread_local const uint64_t rng_inc = 0xda3e39cb94b95bdbULL;

uint32_t nb_rng_u32(void) {
    uint64_t old = rng_state;
    rng_state = old * 6364136223846793005ULL + rng_inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

uint64_t nb_rng_get_state(void) {
    return rng_state;
}

void nb_rng_set_state(uint64_t state) {
    rng_state = state;
}

void nb_manual_seed(uint64_t seed) {
    rng_state = 0;
    nb_rng_u32();
    rng_state += seed;
    nb_rng_u32();
}

/* 24 random bits -> a float in [0, 1), exactly representable */
float nb_rng_uniform(void) {
    return (float)(nb_rng_u32() >> 8) * (1.0f / 16777216.0f);
}

static double rng_normal(void) {
    double u1 = ((nb_rng_u32() >> 8) + 1.0) / 16777217.0; /* (0, 1] */
    double u2 = (nb_rng_u32() >> 8) / 16777216.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static nb_tensor *uniform(const char *fn, const int64_t *shape, int ndim, float low, float high) {
    if (!(low <= high) || !isfinite(low) || !isfinite(high))
        return nb_fail(NB_ERR_ARG, "%s: bounds [%g, %g) are not finite and ordered", fn, low, high);
    nb_tensor *t = nb_tensor_new(fn, shape, ndim);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) {
        float v = low + (high - low) * nb_rng_uniform();
        /* rounding can land on high itself; the interval is half-open */
        nb_ptr(t)[i] = v < high || low == high ? v : nextafterf(high, low);
    }
    return t;
}

nb_tensor *nb_uniform(const int64_t *shape, int ndim, float low, float high) {
    return uniform("nb_uniform", shape, ndim, low, high);
}

nb_tensor *nb_rand(const int64_t *shape, int ndim) {
    return uniform("nb_rand", shape, ndim, 0.0f, 1.0f);
}

static nb_tensor *normal(const char *fn, const int64_t *shape, int ndim, float mean, float std) {
    if (!(std >= 0) || !isfinite(mean) || !isfinite(std))
        return nb_fail(NB_ERR_ARG, "%s: mean %g, std %g: need finite values, std >= 0", fn, mean,
                       std);
    nb_tensor *t = nb_tensor_new(fn, shape, ndim);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) nb_ptr(t)[i] = (float)(mean + std * rng_normal());
    return t;
}

nb_tensor *nb_normal(const int64_t *shape, int ndim, float mean, float std) {
    return normal("nb_normal", shape, ndim, mean, std);
}

nb_tensor *nb_randn(const int64_t *shape, int ndim) {
    return normal("nb_randn", shape, ndim, 0.0f, 1.0f);
}

/* ---- random indices ------------------------------------------------------------------ */
/* A uniform integer in [0, bound), bound >= 1, without modulo bias: draws
 * below the largest multiple of bound are accepted. */
uint64_t nb_rng_below(uint64_t bound) {
    if (bound <= UINT32_MAX) {
        uint32_t b = (uint32_t)bound, reject = (uint32_t)(-b) % b; /* 2^32 mod b */
        for (;;) {
            uint32_t r = nb_rng_u32();
            if (r >= reject) return r % b;
        }
    }
    uint64_t reject = (-bound) % bound;
    for (;;) {
        uint64_t r = (uint64_t)nb_rng_u32() << 32 | nb_rng_u32();
        if (r >= reject) return r % bound;
    }
}

nb_status nb_permutation(int64_t *idx, int64_t n) {
    if (n < 0) return nb_fail_status(NB_ERR_ARG, "nb_permutation: n is %lld", (long long)n);
    if (n > 0 && !idx) return nb_fail_status(NB_ERR_NULL, "nb_permutation: idx is NULL");
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)nb_rng_below((uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    return NB_OK;
}
