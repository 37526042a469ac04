/* Weight initializers, with Keras's formulas and fans.
 *
 *   Dense kernel [in, out]:          fan_in = in,          fan_out = out
 *   Conv2D kernel [K, C, kh, kw]:    fan_in = C * kh * kw, fan_out = K * kh * kw
 *
 *   glorot_uniform  U(-l, l),  l = sqrt(6 / (fan_in + fan_out))
 *   glorot_normal   truncated normal, std sqrt(2 / (fan_in + fan_out))
 *   he_uniform      U(-l, l),  l = sqrt(6 / fan_in)
 *   he_normal       truncated normal, std sqrt(2 / fan_in)
 *   random_normal   N(0, 0.05);  random_uniform  U(-0.05, 0.05)
 *
 * "Truncated normal" is Keras's: draws beyond two standard deviations are
 * redrawn, and the scale is divided by 0.8796 (the std of a unit normal
 * truncated at +-2) so that the samples end up with the std named above.
 * All draws come from the thread's seeded generator (nb_manual_seed).
 */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

#define TRUNCATED_STD 0.87962566103423978

static double unit_normal(void) {
    double u1 = ((nb_rng_u32() >> 8) + 1.0) / 16777217.0; /* (0, 1] */
    double u2 = (nb_rng_u32() >> 8) / 16777216.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double truncated_normal(void) {
    double z;
    do z = unit_normal();
    while (fabs(z) > 2.0);
    return z;
}

static void fill_uniform(float *p, int64_t n, double limit) {
    for (int64_t i = 0; i < n; i++) p[i] = (float)(limit * (2.0 * nb_rng_uniform() - 1.0));
}

static void fill_truncated(float *p, int64_t n, double std) {
    for (int64_t i = 0; i < n; i++) p[i] = (float)(std / TRUNCATED_STD * truncated_normal());
}

bool nb_init_check(const char *fn, nb_init kind) {
    if ((int)kind >= NB_INIT_DEFAULT && kind <= NB_INIT_ONES) return true;
    nb_fail(NB_ERR_ARG, "%s: unknown initializer %d", fn, (int)kind);
    return false;
}

/* NB_INIT_DEFAULT here is glorot_uniform; layers turn a bias's default into zeros. */
nb_status nb_init_fill(nb_tensor *t, nb_init kind, int64_t fan_in, int64_t fan_out) {
    if (!t) return (nb_fail_null("nb_init_fill"), nb_failure_code());
    if (!nb_init_check("nb_init_fill", kind)) return nb_failure_code();
    if (!nb_is_contiguous(t))
        return nb_fail_status(NB_ERR_ARG, "nb_init_fill: tensor %s is not contiguous",
                              nb_shape_s(t));
    bool glorot =
        kind == NB_INIT_DEFAULT || kind == NB_INIT_GLOROT_UNIFORM || kind == NB_INIT_GLOROT_NORMAL;
    bool he = kind == NB_INIT_HE_UNIFORM || kind == NB_INIT_HE_NORMAL;
    if ((glorot && !(fan_in >= 0 && fan_out >= 0 && fan_in + fan_out > 0)) || (he && fan_in < 1))
        return nb_fail_status(
            NB_ERR_ARG, "nb_init_fill: fans %lld in, %lld out do not suit this initializer for %s",
            (long long)fan_in, (long long)fan_out, nb_shape_s(t));
    float *p = nb_ptr(t);
    int64_t n = t->numel;
    double sum_fans = (double)fan_in + (double)fan_out;
    switch (kind) {
    case NB_INIT_DEFAULT:
    case NB_INIT_GLOROT_UNIFORM:
        fill_uniform(p, n, sqrt(6.0 / sum_fans));
        break;
    case NB_INIT_GLOROT_NORMAL:
        fill_truncated(p, n, sqrt(2.0 / sum_fans));
        break;
    case NB_INIT_HE_UNIFORM:
        fill_uniform(p, n, sqrt(6.0 / (double)fan_in));
        break;
    case NB_INIT_HE_NORMAL:
        fill_truncated(p, n, sqrt(2.0 / (double)fan_in));
        break;
    case NB_INIT_RANDOM_NORMAL:
        for (int64_t i = 0; i < n; i++) p[i] = (float)(0.05 * unit_normal());
        break;
    case NB_INIT_RANDOM_UNIFORM:
        fill_uniform(p, n, 0.05);
        break;
    case NB_INIT_ZEROS:
        memset(p, 0, (size_t)n * sizeof *p);
        break;
    case NB_INIT_ONES:
        for (int64_t i = 0; i < n; i++) p[i] = 1.0f;
        break;
    }
    return NB_OK;
}

static const struct {
    const char *name;
    nb_init kind;
} names[] = {
    {"glorot_uniform", NB_INIT_GLOROT_UNIFORM},
    {"glorot_normal", NB_INIT_GLOROT_NORMAL},
    {"he_uniform", NB_INIT_HE_UNIFORM},
    {"he_normal", NB_INIT_HE_NORMAL},
    {"random_normal", NB_INIT_RANDOM_NORMAL},
    {"random_uniform", NB_INIT_RANDOM_UNIFORM},
    {"zeros", NB_INIT_ZEROS},
    {"ones", NB_INIT_ONES},
};

nb_status nb_init_from_name(const char *name, nb_init *out) {
    if (!name || !out) return nb_fail_status(NB_ERR_NULL, "nb_init_from_name: name or out is NULL");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) {
            *out = names[i].kind;
            return NB_OK;
        }
    return nb_fail_status(NB_ERR_ARG,
                          "nb_init_from_name: unknown initializer '%s'; known initializers: "
                          "glorot_uniform, glorot_normal, he_uniform, he_normal, random_normal, "
                          "random_uniform, zeros, ones",
                          name);
}

const char *nb_init_name(nb_init kind) {
    if (kind == NB_INIT_DEFAULT) kind = NB_INIT_GLOROT_UNIFORM; /* what it is for a kernel */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].kind == kind) return names[i].name;
    return "unknown";
}
