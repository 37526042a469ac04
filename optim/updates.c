/* The update rules: one short function per optimizer, the formula above it.
 *
 * They are PyTorch 1.13's (torch.optim.*), element by element:
 *   p     the parameter, updated in place        g   its gradient
 *   lr    the learning rate of this step         t   the param's update count, from 1
 * All arrays hold n contiguous floats. State buffers start at zero (Adagrad's
 * sum at initial_accumulator), which makes the first step of every formula
 * equal PyTorch's special case for it (e.g. SGD's v = g on the first step).
 * Scalars such as 1 - beta1^t are computed in double, as PyTorch computes them
 * in Python, and rounded to float once.
 */
#include "optim_internal.h"

#include <math.h>

/* Each update is compiled for AVX-512, AVX2 and plain x86-64, picked at load
 * time: the loops are vectorized, element by element as written (no
 * reassociation, no fused multiply-add), so every variant gives the same bits.
 * -Dclones=false (implied by -Db_sanitize=thread) keeps the plain one only. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NB_NO_CLONES)
#define NB_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NB_VECTOR_CLONES
#endif

/* SGD with momentum, dampening 0 (state: v, only with momentum):
 *   d = g + weight_decay * p
 *   v = momentum * v + d
 *   d = nesterov ? d + momentum * v : v          (only with momentum)
 *   p = p - lr * d                                                          */
NB_VECTOR_CLONES static void sgd_update(const nb_optim_hparams *h, float lr, int64_t n,
                                        float *restrict p, const float *restrict g,
                                        float *restrict v) {
    const float wd = h->weight_decay, mu = h->momentum;
    if (!v) {
        for (int64_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
    } else if (h->nesterov) {
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            v[i] = mu * v[i] + d;
            p[i] -= lr * (d + mu * v[i]);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            v[i] = mu * v[i] + (g[i] + wd * p[i]);
            p[i] -= lr * v[i];
        }
    }
}

/* Adagrad, lr_decay 0 (state: sum, starting at initial_accumulator):
 *   sum = sum + g^2
 *   p   = p - lr * g / (sqrt(sum) + eps)                                    */
NB_VECTOR_CLONES static void adagrad_update(const nb_optim_hparams *h, float lr, int64_t n,
                                            float *restrict p, const float *restrict g,
                                            float *restrict sum) {
    for (int64_t i = 0; i < n; i++) {
        sum[i] += g[i] * g[i];
        p[i] -= lr * (g[i] / (sqrtf(sum[i]) + h->eps));
    }
}

/* RMSprop (state: ms; b with momentum; mg when centered):
 *   ms = rho * ms + (1 - rho) * g^2                  mean square
 *   mg = rho * mg + (1 - rho) * g                    mean, when centered
 *   r  = sqrt(ms - mg^2) + eps   (centered)   or   sqrt(ms) + eps
 *   b  = momentum * b + g / r;   p = p - lr * b      with momentum
 *   p  = p - lr * g / r                              without
 * The centered and momentum variants are separate loops, so that each one
 * vectorizes. */
NB_VECTOR_CLONES static void rmsprop_update(const nb_optim_hparams *h, float lr, int64_t n,
                                            float *restrict p, const float *restrict g,
                                            float *restrict ms, float *restrict b,
                                            float *restrict mg) {
    const float rho = h->rho, one_minus_rho = (float)(1.0 - (double)h->rho), eps = h->eps;
    const float mu = h->momentum;
    for (int64_t i = 0; i < n; i++) ms[i] = rho * ms[i] + one_minus_rho * (g[i] * g[i]);
    if (mg) {
        for (int64_t i = 0; i < n; i++) mg[i] = rho * mg[i] + one_minus_rho * g[i];
        if (b)
            for (int64_t i = 0; i < n; i++) {
                b[i] = mu * b[i] + g[i] / (sqrtf(ms[i] - mg[i] * mg[i]) + eps);
                p[i] -= lr * b[i];
            }
        else
            for (int64_t i = 0; i < n; i++)
                p[i] -= lr * (g[i] / (sqrtf(ms[i] - mg[i] * mg[i]) + eps));
    } else if (b) {
        for (int64_t i = 0; i < n; i++) {
            b[i] = mu * b[i] + g[i] / (sqrtf(ms[i]) + eps);
            p[i] -= lr * b[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) p[i] -= lr * (g[i] / (sqrtf(ms[i]) + eps));
    }
}

/* Adam and AdamW (state: m, v; vmax with amsgrad):
 *   p = p * (1 - lr * weight_decay)               AdamW only: decoupled decay
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g^2
 *   vmax = max(vmax, v), used instead of v below  amsgrad only
 *   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * The last line is computed as p - s * m / (sqrt(v) + e) with s = lr *
 * sqrt(1 - beta2^t) / (1 - beta1^t) and e = eps * sqrt(1 - beta2^t): the same
 * value with one division per element instead of two, rounded differently
 * (within 2e-7 of PyTorch over the golden tests' 20 steps). Square root and
 * division share one unit, 20 cycles per 16 floats on AVX-512: they bound the
 * loop, 28 cycles with the second division.                               */
NB_VECTOR_CLONES static void adam_update(const nb_optim_hparams *h, float lr, int64_t t, int64_t n,
                                         float *restrict p, const float *restrict g,
                                         float *restrict m, float *restrict v,
                                         float *restrict vmax) {
    const float b1 = h->beta1, b2 = h->beta2, eps = h->eps;
    const float one_minus_b1 = (float)(1.0 - (double)b1), one_minus_b2 = (float)(1.0 - (double)b2);
    const double bc2_sqrt = sqrt(1.0 - pow(b2, (double)t));
    const float step_size = (float)((double)lr / (1.0 - pow(b1, (double)t)) * bc2_sqrt);
    const float eps_t = (float)(eps * bc2_sqrt);
    const float decay = (float)(1.0 - (double)lr * h->weight_decay);
    if (h->weight_decay != 0.0f)
        for (int64_t i = 0; i < n; i++) p[i] *= decay;
    if (vmax) {
        for (int64_t i = 0; i < n; i++) {
            m[i] = b1 * m[i] + one_minus_b1 * g[i];
            v[i] = b2 * v[i] + one_minus_b2 * (g[i] * g[i]);
            vmax[i] = fmaxf(vmax[i], v[i]);
            p[i] -= step_size * (m[i] / (sqrtf(vmax[i]) + eps_t));
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            m[i] = b1 * m[i] + one_minus_b1 * g[i];
            v[i] = b2 * v[i] + one_minus_b2 * (g[i] * g[i]);
            p[i] -= step_size * (m[i] / (sqrtf(v[i]) + eps_t));
        }
    }
}

/* NAdam, PyTorch's torch.optim.NAdam (state: m, v; and the slot's mu_product):
 *   mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))      the momentum schedule
 *   P_t  = mu_1 * ... * mu_t                                  mu_product
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g^2
 *   d = sqrt(v / (1 - beta2^t)) + eps
 *   p = p - lr (1 - mu_t) / (1 - P_t) * g / d - lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / d
 * This is 1.13's foreach code path (NAdam(foreach=True)) and PyTorch 2's: 1.13's
 * default single-tensor path divides by 1 - P_t mu_t mu_{t+1}, one mu_t too many,
 * which PyTorch fixed as a bug in 2.0 (pytorch/pytorch#92699). P_t is kept in
 * double (PyTorch keeps a float32 tensor). As in Adam, sqrt(1 - beta2^t) goes
 * into the scalars, and both terms share one division.                    */
static double nadam_mu(const nb_optim_hparams *h, int64_t t) {
    return (double)h->beta1 * (1.0 - 0.5 * pow(0.96, (double)t * (double)h->momentum_decay));
}

/* The updates run with subnormals flushed to zero (nb_optimizer_step), so the
 * product is recomputed in that mode too: the same operations in the same mode
 * give the same bits. Once it is 0 (beta1^t underflows) it stays 0. */
double nb_optim_mu_product(const nb_optim_hparams *h, int64_t step) {
    unsigned mode = nb_optim_flush_subnormals();
    double product = 1.0;
    for (int64_t t = 1; t <= step && product != 0.0; t++) product *= nadam_mu(h, t);
    nb_optim_restore_float_mode(mode);
    return product;
}

NB_VECTOR_CLONES static void nadam_update(const nb_optim_hparams *h, float lr, int64_t t, int64_t n,
                                          float *restrict p, const float *restrict g,
                                          float *restrict m, float *restrict v,
                                          double *mu_product) {
    const float b1 = h->beta1, b2 = h->beta2;
    const float one_minus_b1 = (float)(1.0 - (double)b1), one_minus_b2 = (float)(1.0 - (double)b2);
    const double mu = nadam_mu(h, t), mu_next = nadam_mu(h, t + 1);
    *mu_product *= mu;
    const double bc2_sqrt = sqrt(1.0 - pow(b2, (double)t));
    const float a_g = (float)((double)lr * (1.0 - mu) / (1.0 - *mu_product) * bc2_sqrt);
    const float a_m = (float)((double)lr * mu_next / (1.0 - *mu_product * mu_next) * bc2_sqrt);
    const float eps_t = (float)(h->eps * bc2_sqrt);
    for (int64_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + one_minus_b1 * g[i];
        v[i] = b2 * v[i] + one_minus_b2 * (g[i] * g[i]);
        p[i] -= (a_g * g[i] + a_m * m[i]) / (sqrtf(v[i]) + eps_t);
    }
}

/* Adamax, PyTorch's torch.optim.Adamax (state: m, u):
 *   m = beta1 * m + (1 - beta1) * g
 *   u = max(beta2 * u, |g| + eps)                 the infinity norm; eps inside the max
 *   p = p - lr / (1 - beta1^t) * m / u                                      */
NB_VECTOR_CLONES static void adamax_update(const nb_optim_hparams *h, float lr, int64_t t,
                                           int64_t n, float *restrict p, const float *restrict g,
                                           float *restrict m, float *restrict u) {
    const float b1 = h->beta1, b2 = h->beta2, eps = h->eps;
    const float one_minus_b1 = (float)(1.0 - (double)b1);
    const float clr = (float)((double)lr / (1.0 - pow(b1, (double)t)));
    for (int64_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + one_minus_b1 * g[i];
        u[i] = fmaxf(b2 * u[i], fabsf(g[i]) + eps);
        p[i] -= clr * (m[i] / u[i]);
    }
}

/* Adadelta, PyTorch's torch.optim.Adadelta (state: s, a):
 *   s = rho * s + (1 - rho) * g^2                 square_avg
 *   d = sqrt(a + eps) / sqrt(s + eps) * g         the step, in the units of p
 *   a = rho * a + (1 - rho) * d^2                 acc_delta
 *   p = p - lr * d                                                          */
NB_VECTOR_CLONES static void adadelta_update(const nb_optim_hparams *h, float lr, int64_t n,
                                             float *restrict p, const float *restrict g,
                                             float *restrict s, float *restrict a) {
    const float rho = h->rho, one_minus_rho = (float)(1.0 - (double)h->rho), eps = h->eps;
    for (int64_t i = 0; i < n; i++) {
        s[i] = rho * s[i] + one_minus_rho * (g[i] * g[i]);
        float d = sqrtf(a[i] + eps) / sqrtf(s[i] + eps) * g[i];
        a[i] = rho * a[i] + one_minus_rho * (d * d);
        p[i] -= lr * d;
    }
}

/* Which state buffers a configuration uses; the index is the position in the
 * argument lists above (sgd: v; adagrad: sum; rmsprop: ms, b, mg; adam: m, v, vmax;
 * nadam: m, v; adamax: m, u; adadelta: s, a). */
bool nb_optim_uses_state(nb_optim_kind kind, const nb_optim_hparams *h, int i) {
    switch (kind) {
    case NB_OPTIM_SGD:
        return i == 0 && h->momentum != 0.0f;
    case NB_OPTIM_ADAGRAD:
        return i == 0;
    case NB_OPTIM_RMSPROP:
        return i == 0 || (i == 1 && h->momentum != 0.0f) || (i == 2 && h->centered);
    case NB_OPTIM_ADAM:
        return i == 0 || i == 1 || (i == 2 && h->amsgrad);
    case NB_OPTIM_NADAM:
    case NB_OPTIM_ADAMAX:
    case NB_OPTIM_ADADELTA:
        return i == 0 || i == 1;
    }
    return false;
}

float nb_optim_state_init(nb_optim_kind kind, const nb_optim_hparams *h, int i) {
    return kind == NB_OPTIM_ADAGRAD && i == 0 ? h->initial_accumulator : 0.0f;
}

const char *nb_optim_state_name(nb_optim_kind kind, int i) {
    static const char *const names[][NB_OPTIM_MAX_STATE] = {
        [NB_OPTIM_SGD] = {"momentum_buffer"},
        [NB_OPTIM_ADAGRAD] = {"sum"},
        [NB_OPTIM_RMSPROP] = {"square_avg", "momentum_buffer", "grad_avg"},
        [NB_OPTIM_ADAM] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
        [NB_OPTIM_NADAM] = {"exp_avg", "exp_avg_sq"},
        [NB_OPTIM_ADAMAX] = {"exp_avg", "exp_inf"},
        [NB_OPTIM_ADADELTA] = {"square_avg", "acc_delta"},
    };
    return i >= 0 && i < NB_OPTIM_MAX_STATE ? names[kind][i] : NULL;
}

void nb_optim_update(nb_optim_kind kind, const nb_optim_hparams *h, float lr, int64_t step,
                     int64_t n, float *p, const float *g, float *const *state, double *mu_product) {
    switch (kind) {
    case NB_OPTIM_SGD:
        sgd_update(h, lr, n, p, g, state[0]);
        break;
    case NB_OPTIM_ADAGRAD:
        adagrad_update(h, lr, n, p, g, state[0]);
        break;
    case NB_OPTIM_RMSPROP:
        rmsprop_update(h, lr, n, p, g, state[0], state[1], state[2]);
        break;
    case NB_OPTIM_ADAM:
        adam_update(h, lr, step, n, p, g, state[0], state[1], state[2]);
        break;
    case NB_OPTIM_NADAM:
        nadam_update(h, lr, step, n, p, g, state[0], state[1], mu_product);
        break;
    case NB_OPTIM_ADAMAX:
        adamax_update(h, lr, step, n, p, g, state[0], state[1]);
        break;
    case NB_OPTIM_ADADELTA:
        adadelta_update(h, lr, n, p, g, state[0], state[1]);
        break;
    }
}
