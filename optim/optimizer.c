/* Optimizers: creation with checked hyper-parameters, the params they update,
 * the step (clip, then update every param that has a grad), learning-rate
 * schedules. The formulas themselves are in updates.c.
 *
 * An optimizer and its state live outside every scope: the state tensors
 * (momentum buffers, moments) are allocated on a param's first update and
 * freed by nb_optimizer_free, so a training loop with a scope per step
 * allocates nothing after the first step.
 */
#include "optim_internal.h"
#include "ops/op.h" /* the name of the op that made a non-leaf, for errors */

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

/* ---- checking hyper-parameters -------------------------------------------------
 * Each check records an error naming the function, the hyper-parameter and its
 * value, and returns false. */
static bool check_nonneg(const char *fn, const char *what, float v) {
    if (isfinite(v) && v >= 0.0f) return true;
    nb_fail(NB_ERR_ARG, "%s: %s is %g, expected a finite number >= 0", fn, what, (double)v);
    return false;
}

static bool check_unit(const char *fn, const char *what, float v) { /* in [0, 1) */
    if (v >= 0.0f && v < 1.0f) return true;
    nb_fail(NB_ERR_ARG, "%s: %s is %g, expected a number in [0, 1)", fn, what, (double)v);
    return false;
}

/* A NULL optimizer is usually the result of a failed constructor: keep its error. */
static nb_status null_opt(const char *fn) {
    if (nb_error_code() == NB_OK)
        return nb_fail_status(NB_ERR_NULL, "%s: the optimizer is NULL", fn);
    return nb_failure_code();
}

/* ---- creation ------------------------------------------------------------------- */
static nb_optimizer *new_optimizer(nb_optim_kind kind, const char *name, float lr,
                                   nb_optim_hparams h) {
    nb_optimizer *o = nb_heap_alloc(sizeof *o);
    if (!o) return nb_fail(NB_ERR_MEMORY, "nb_%s: out of memory", name);
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->name = name;
    o->h = h;
    o->lr = o->base_lr = lr;
    o->schedule.kind = NB_SCHEDULE_CONSTANT;
    return o;
}

nb_optimizer *nb_sgd(float lr, float momentum, bool nesterov, float weight_decay) {
    const char *fn = "nb_sgd";
    if (!check_nonneg(fn, "lr", lr) || !check_nonneg(fn, "momentum", momentum) ||
        !check_nonneg(fn, "weight_decay", weight_decay))
        return NULL;
    if (nesterov && momentum == 0.0f)
        return nb_fail(NB_ERR_ARG, "nb_sgd: nesterov needs a momentum > 0 (momentum is 0)");
    nb_optim_hparams h = {.momentum = momentum, .nesterov = nesterov, .weight_decay = weight_decay};
    return new_optimizer(NB_OPTIM_SGD, "sgd", lr, h);
}

nb_optimizer *nb_adagrad(float lr, float initial_accumulator, float eps) {
    const char *fn = "nb_adagrad";
    if (!check_nonneg(fn, "lr", lr) ||
        !check_nonneg(fn, "initial_accumulator", initial_accumulator) ||
        !check_nonneg(fn, "eps", eps))
        return NULL;
    nb_optim_hparams h = {.initial_accumulator = initial_accumulator, .eps = eps};
    return new_optimizer(NB_OPTIM_ADAGRAD, "adagrad", lr, h);
}

nb_optimizer *nb_rmsprop(float lr, float rho, float momentum, float eps, bool centered) {
    const char *fn = "nb_rmsprop";
    if (!check_nonneg(fn, "lr", lr) || !check_unit(fn, "rho", rho) ||
        !check_nonneg(fn, "momentum", momentum) || !check_nonneg(fn, "eps", eps))
        return NULL;
    nb_optim_hparams h = {.rho = rho, .momentum = momentum, .eps = eps, .centered = centered};
    return new_optimizer(NB_OPTIM_RMSPROP, "rmsprop", lr, h);
}

static bool check_adam(const char *fn, float lr, float beta1, float beta2, float eps) {
    return check_nonneg(fn, "lr", lr) && check_unit(fn, "beta1", beta1) &&
           check_unit(fn, "beta2", beta2) && check_nonneg(fn, "eps", eps);
}

nb_optimizer *nb_adam(float lr, float beta1, float beta2, float eps, bool amsgrad) {
    if (!check_adam("nb_adam", lr, beta1, beta2, eps)) return NULL;
    nb_optim_hparams h = {.beta1 = beta1, .beta2 = beta2, .eps = eps, .amsgrad = amsgrad};
    return new_optimizer(NB_OPTIM_ADAM, "adam", lr, h);
}

nb_optimizer *nb_adamw(float lr, float beta1, float beta2, float eps, float weight_decay) {
    if (!check_adam("nb_adamw", lr, beta1, beta2, eps) ||
        !check_nonneg("nb_adamw", "weight_decay", weight_decay))
        return NULL;
    nb_optim_hparams h = {.beta1 = beta1, .beta2 = beta2, .eps = eps, .weight_decay = weight_decay};
    return new_optimizer(NB_OPTIM_ADAM, "adamw", lr, h);
}

nb_optimizer *nb_nadam(float lr, float beta1, float beta2, float eps, float momentum_decay) {
    if (!check_adam("nb_nadam", lr, beta1, beta2, eps) ||
        !check_nonneg("nb_nadam", "momentum_decay", momentum_decay))
        return NULL;
    nb_optim_hparams h = {
        .beta1 = beta1, .beta2 = beta2, .eps = eps, .momentum_decay = momentum_decay};
    return new_optimizer(NB_OPTIM_NADAM, "nadam", lr, h);
}

nb_optimizer *nb_adamax(float lr, float beta1, float beta2, float eps) {
    if (!check_adam("nb_adamax", lr, beta1, beta2, eps)) return NULL;
    nb_optim_hparams h = {.beta1 = beta1, .beta2 = beta2, .eps = eps};
    return new_optimizer(NB_OPTIM_ADAMAX, "adamax", lr, h);
}

nb_optimizer *nb_adadelta(float lr, float rho, float eps) {
    const char *fn = "nb_adadelta";
    if (!check_nonneg(fn, "lr", lr) || !check_unit(fn, "rho", rho) || !check_nonneg(fn, "eps", eps))
        return NULL;
    nb_optim_hparams h = {.rho = rho, .eps = eps};
    return new_optimizer(NB_OPTIM_ADADELTA, "adadelta", lr, h);
}

static bool same_name(const char *a, const char *b) { /* ASCII, ignoring case */
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    return *a == *b;
}

#define KNOWN_NAMES                                                                                \
    "sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw, nadam, adamax, adadelta"

/* Keras's default hyper-parameters (keras.optimizers.*, Keras 3); nadam's momentum_decay,
 * which Keras 3 does not have, is PyTorch's (and Keras 2's schedule_decay), 0.004. */
nb_optimizer *nb_optimizer_from_name(const char *name) {
    if (!name)
        return nb_fail(NB_ERR_NULL,
                       "nb_optimizer_from_name: the name is NULL; known names: " KNOWN_NAMES);
    if (same_name(name, "sgd")) return nb_sgd(0.01f, 0.0f, false, 0.0f);
    if (same_name(name, "momentum")) return nb_sgd(0.01f, 0.9f, false, 0.0f);
    if (same_name(name, "nesterov")) return nb_sgd(0.01f, 0.9f, true, 0.0f);
    if (same_name(name, "adagrad")) return nb_adagrad(0.001f, 0.1f, 1e-7f);
    if (same_name(name, "rmsprop")) return nb_rmsprop(0.001f, 0.9f, 0.0f, 1e-7f, false);
    if (same_name(name, "adam")) return nb_adam(0.001f, 0.9f, 0.999f, 1e-7f, false);
    if (same_name(name, "adamw")) return nb_adamw(0.001f, 0.9f, 0.999f, 1e-7f, 0.004f);
    if (same_name(name, "nadam")) return nb_nadam(0.001f, 0.9f, 0.999f, 1e-7f, 0.004f);
    if (same_name(name, "adamax")) return nb_adamax(0.001f, 0.9f, 0.999f, 1e-7f);
    if (same_name(name, "adadelta")) return nb_adadelta(0.001f, 0.95f, 1e-7f);
    return nb_fail(NB_ERR_ARG,
                   "nb_optimizer_from_name: unknown optimizer '%s'; known names: " KNOWN_NAMES,
                   name);
}

/* Call before nb_shutdown(): the state goes back to nabla's pools. */
void nb_optimizer_free(nb_optimizer *opt) {
    if (!opt) return;
    for (int i = 0; i < opt->n_slots; i++)
        for (int k = 0; k < NB_OPTIM_MAX_STATE; k++)
            if (opt->slots[i].state[k]) nb_tensor_release(opt->slots[i].state[k]);
    free(opt->slots);
    free(opt);
}

const char *nb_optimizer_name(const nb_optimizer *opt) {
    return opt ? opt->name : "";
}

/* ---- parameters ------------------------------------------------------------------ */
static bool has_param(const nb_optimizer *opt, const nb_tensor *p) {
    for (int i = 0; i < opt->n_slots; i++)
        if (opt->slots[i].param == p) return true;
    return false;
}

/* NB_OK if params[i] can join: a contiguous leaf that requires grad, not already in. */
static nb_status check_param(const nb_optimizer *opt, nb_tensor *const *params, int i) {
    const char *fn = "nb_optimizer_add_params";
    const nb_tensor *p = params[i];
    if (!p) return nb_fail_status(NB_ERR_NULL, "%s: param %d is NULL", fn, i);
    if (p->node)
        return nb_fail_status(
            NB_ERR_ARG,
            "%s: param %d %s is the result of op '%s'; params must be leaves that "
            "require grad",
            fn, i, nb_shape_s(p), p->node->def->name);
    if (!p->requires_grad)
        return nb_fail_status(
            NB_ERR_ARG, "%s: param %d %s does not require grad; call nb_set_requires_grad first",
            fn, i, nb_shape_s(p));
    if (!nb_is_contiguous(p))
        return nb_fail_status(NB_ERR_ARG,
                              "%s: param %d %s is not contiguous; pass an nb_clone of it", fn, i,
                              nb_shape_s(p));
    bool repeated = has_param(opt, p);
    for (int j = 0; j < i && !repeated; j++) repeated = params[j] == p;
    if (repeated)
        return nb_fail_status(NB_ERR_ARG, "%s: param %d %s is already in the optimizer", fn, i,
                              nb_shape_s(p));
    return NB_OK;
}

/* All or nothing: every param is checked before any joins. */
nb_status nb_optimizer_add_params(nb_optimizer *opt, nb_tensor *const *params, int n) {
    const char *fn = "nb_optimizer_add_params";
    if (!opt) return null_opt(fn);
    if (n < 0) return nb_fail_status(NB_ERR_ARG, "%s: n is %d, expected n >= 0", fn, n);
    if (n > 0 && !params) return nb_fail_status(NB_ERR_NULL, "%s: params is NULL (n is %d)", fn, n);
    for (int i = 0; i < n; i++) {
        nb_status s = check_param(opt, params, i);
        if (s != NB_OK) return s;
    }
    if (n > INT32_MAX / 2 - opt->n_slots)
        return nb_fail_status(NB_ERR_MEMORY, "%s: too many params", fn);
    if (opt->n_slots + n > opt->cap_slots) {
        int cap = opt->cap_slots ? opt->cap_slots : 8;
        while (cap < opt->n_slots + n) cap *= 2;
        nb_optim_slot *slots = nb_heap_realloc(opt->slots, (size_t)cap * sizeof *slots);
        if (!slots) return nb_fail_status(NB_ERR_MEMORY, "%s: out of memory", fn);
        opt->slots = slots;
        opt->cap_slots = cap;
    }
    for (int i = 0; i < n; i++) {
        nb_optim_slot *s = &opt->slots[opt->n_slots++];
        memset(s, 0, sizeof *s);
        s->param = params[i];
        s->mu_product = 1.0;
    }
    return NB_OK;
}

void nb_optimizer_zero_grad(nb_optimizer *opt) {
    if (!opt) return;
    for (int i = 0; i < opt->n_slots; i++) nb_zero_grad(opt->slots[i].param);
}

/* ---- the step ------------------------------------------------------------------------ */
/* The state buffers of a param's first update, before anything is changed. */
static nb_status ensure_state(nb_optimizer *opt, nb_optim_slot *s) {
    for (int k = 0; k < NB_OPTIM_MAX_STATE; k++) {
        if (s->state[k] || !nb_optim_uses_state(opt->kind, &opt->h, k)) continue;
        nb_tensor *t = nb_tensor_new_owned("nb_optimizer_step", s->param->shape, s->param->ndim);
        if (!t) return nb_failure_code();
        float v = nb_optim_state_init(opt->kind, &opt->h, k), *d = nb_ptr(t);
        for (int64_t i = 0; i < t->numel; i++) d[i] = v;
        s->state[k] = t;
    }
    return NB_OK;
}

/* PyTorch's clip_grad_norm_: if the L2 norm of all grads together exceeds
 * max_norm, scale them all by max_norm / (norm + 1e-6). */
static void clip_by_norm(nb_optimizer *opt) {
    double sum = 0.0;
    for (int i = 0; i < opt->n_slots; i++) {
        nb_tensor *g = opt->slots[i].param->grad;
        if (!g) continue;
        const float *d = nb_ptr(g);
        for (int64_t j = 0; j < g->numel; j++) sum += (double)d[j] * d[j];
    }
    double scale = opt->clip_norm / (sqrt(sum) + 1e-6);
    if (!(scale < 1.0)) return; /* within the limit (or the norm is NaN) */
    for (int i = 0; i < opt->n_slots; i++) {
        nb_tensor *g = opt->slots[i].param->grad;
        if (!g) continue;
        float *d = nb_ptr(g);
        for (int64_t j = 0; j < g->numel; j++) d[j] *= (float)scale;
    }
}

/* Each grad element into [-clip_value, clip_value]. */
static void clip_by_value(nb_optimizer *opt) {
    const float c = opt->clip_value;
    for (int i = 0; i < opt->n_slots; i++) {
        nb_tensor *g = opt->slots[i].param->grad;
        if (!g) continue;
        float *d = nb_ptr(g);
        for (int64_t j = 0; j < g->numel; j++) d[j] = d[j] > c ? c : d[j] < -c ? -c : d[j];
    }
}

/* Allocate missing state first, so that a failure changes nothing; then clip
 * (in place, the grads show it afterwards), then update. */
/* Moment estimates of weights whose gradient is always 0 (the zero pixels of
 * an image) decay into subnormal floats, and every operation on a subnormal
 * is a slow microcode assist: it made the Fashion-MNIST MLP's Adam step 5x
 * slower (2.3 ms instead of 0.44 ms). The update flushes them to zero, and
 * gives the caller's floating-point mode back afterwards. */
unsigned nb_optim_flush_subnormals(void) {
#if defined(__SSE__)
    unsigned mode = _mm_getcsr();
    _mm_setcsr(mode | 0x8040); /* FTZ (bit 15) and DAZ (bit 6) */
    return mode;
#else
    return 0;
#endif
}

void nb_optim_restore_float_mode(unsigned mode) {
#if defined(__SSE__)
    _mm_setcsr(mode);
#else
    (void)mode;
#endif
}

static nb_status step_again(const nb_effect *e) {
    return nb_optimizer_step(e->optimizer);
}

nb_status nb_optimizer_step(nb_optimizer *opt) {
    if (!opt) return null_opt("nb_optimizer_step");
    nb_report_effect(
        &(nb_effect){.kind = NB_EFFECT_OPTIMIZER_STEP, .optimizer = opt, .redo = step_again});
    for (int i = 0; i < opt->n_slots; i++) {
        nb_optim_slot *s = &opt->slots[i];
        if (!s->param->grad) continue;
        if (s->param->grad->numel != s->param->numel)
            return nb_fail_status(NB_ERR_SHAPE,
                                  "nb_optimizer_step: param %d %s has a grad of shape %s", i,
                                  nb_shape_s(s->param), nb_shape_s(s->param->grad));
        nb_status st = ensure_state(opt, s);
        if (st != NB_OK) return st;
    }
    if (opt->clip_norm > 0.0f) clip_by_norm(opt);
    if (opt->clip_value > 0.0f) clip_by_value(opt);
    unsigned mode = nb_optim_flush_subnormals();
    for (int i = 0; i < opt->n_slots; i++) {
        nb_optim_slot *s = &opt->slots[i];
        if (!s->param->grad) continue;
        float *state[NB_OPTIM_MAX_STATE];
        for (int k = 0; k < NB_OPTIM_MAX_STATE; k++)
            state[k] = s->state[k] ? nb_ptr(s->state[k]) : NULL;
        s->step++;
        float lr = opt->lr; /* the legacy decay counts this param's updates */
        if (opt->lr_decay != 0.0f)
            lr = (float)((double)lr / (1.0 + (double)opt->lr_decay * (double)(s->step - 1)));
        nb_optim_update(opt->kind, &opt->h, lr, s->step, s->param->numel, nb_ptr(s->param),
                        nb_ptr(s->param->grad), state, &s->mu_product);
        nb_bump_version(s->param); /* an op still holding the old weights must not use them */
    }
    nb_optim_restore_float_mode(mode);
    return NB_OK;
}

/* ---- learning rate ---------------------------------------------------------------------- */
float nb_optimizer_get_lr(const nb_optimizer *opt) {
    return opt ? opt->lr : NAN;
}

float nb_optimizer_get_base_lr(const nb_optimizer *opt) {
    return opt ? opt->base_lr : NAN;
}

/* The new rate is also the base that schedules start from. */
nb_status nb_optimizer_set_lr(nb_optimizer *opt, float lr) {
    if (!opt) return null_opt("nb_optimizer_set_lr");
    if (!check_nonneg("nb_optimizer_set_lr", "lr", lr)) return nb_failure_code();
    opt->lr = opt->base_lr = lr;
    return NB_OK;
}

static nb_status check_schedule(const nb_schedule *s) {
    const char *fn = "nb_optimizer_set_schedule";
    switch (s->kind) {
    case NB_SCHEDULE_CONSTANT:
        return NB_OK;
    case NB_SCHEDULE_STEP:
        if (s->step_size < 1)
            return nb_fail_status(NB_ERR_ARG, "%s: step_size is %d, expected >= 1", fn,
                                  s->step_size);
        return check_nonneg(fn, "gamma", s->gamma) ? NB_OK : nb_failure_code();
    case NB_SCHEDULE_EXPONENTIAL:
        return check_nonneg(fn, "gamma", s->gamma) ? NB_OK : nb_failure_code();
    case NB_SCHEDULE_COSINE:
        if (s->t_max < 1)
            return nb_fail_status(NB_ERR_ARG, "%s: t_max is %d, expected >= 1", fn, s->t_max);
        return check_nonneg(fn, "min_lr", s->min_lr) ? NB_OK : nb_failure_code();
    }
    return nb_fail_status(NB_ERR_ARG, "%s: unknown schedule kind %d", fn, (int)s->kind);
}

nb_status nb_optimizer_set_schedule(nb_optimizer *opt, const nb_schedule *s) {
    if (!opt) return null_opt("nb_optimizer_set_schedule");
    if (!s) return nb_fail_status(NB_ERR_NULL, "nb_optimizer_set_schedule: the schedule is NULL");
    nb_status st = check_schedule(s);
    if (st != NB_OK) return st;
    opt->schedule = *s;
    return NB_OK;
}

/* The rate of epoch e (0-based) from the base rate, PyTorch's closed forms
 * (StepLR, ExponentialLR, CosineAnnealingLR). */
static double scheduled_lr(const nb_schedule *s, double base, int e) {
    switch (s->kind) {
    case NB_SCHEDULE_CONSTANT:
        return base;
    case NB_SCHEDULE_STEP:
        return base * pow(s->gamma, e / s->step_size);
    case NB_SCHEDULE_EXPONENTIAL:
        return base * pow(s->gamma, e);
    case NB_SCHEDULE_COSINE:
        return s->min_lr + (base - s->min_lr) * (1.0 + cos(M_PI * e / s->t_max)) / 2.0;
    }
    return base;
}

nb_status nb_optimizer_schedule_epoch(nb_optimizer *opt, int epoch) {
    if (!opt) return null_opt("nb_optimizer_schedule_epoch");
    if (epoch < 0)
        return nb_fail_status(NB_ERR_ARG, "nb_optimizer_schedule_epoch: epoch is %d, expected >= 0",
                              epoch);
    opt->lr = (float)scheduled_lr(&opt->schedule, opt->base_lr, epoch);
    return NB_OK;
}

nb_status nb_optimizer_set_lr_decay(nb_optimizer *opt, float decay) {
    if (!opt) return null_opt("nb_optimizer_set_lr_decay");
    if (!check_nonneg("nb_optimizer_set_lr_decay", "decay", decay)) return nb_failure_code();
    opt->lr_decay = decay;
    return NB_OK;
}

float nb_optimizer_get_lr_decay(const nb_optimizer *opt) {
    return opt ? opt->lr_decay : NAN;
}

/* ---- clipping --------------------------------------------------------------------------- */
nb_status nb_optimizer_set_clipping(nb_optimizer *opt, float max_norm, float max_value) {
    const char *fn = "nb_optimizer_set_clipping";
    if (!opt) return null_opt(fn);
    if (!check_nonneg(fn, "max_norm", max_norm) || !check_nonneg(fn, "max_value", max_value))
        return nb_failure_code();
    opt->clip_norm = max_norm;
    opt->clip_value = max_value;
    return NB_OK;
}
