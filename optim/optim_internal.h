/* What the files of optim/ share: the optimizer struct and the update rules.
 * optimizer.c creates optimizers, keeps their params and state, clips and
 * schedules; updates.c holds the per-element formulas. Not installed. */
#ifndef NB_OPTIM_INTERNAL_H
#define NB_OPTIM_INTERNAL_H

#include "core/core_internal.h"
#include "nabla/autograd.h"
#include "nabla/optim.h"

typedef enum nb_optim_kind {
    NB_OPTIM_SGD,
    NB_OPTIM_ADAGRAD,
    NB_OPTIM_RMSPROP,
    NB_OPTIM_ADAM, /* also AdamW: weight_decay > 0 is the decoupled decay */
    NB_OPTIM_NADAM,
    NB_OPTIM_ADAMAX,
    NB_OPTIM_ADADELTA,
} nb_optim_kind;

/* Hyper-parameters; each optimizer reads the ones its formula names. */
typedef struct nb_optim_hparams {
    float momentum;            /* sgd, rmsprop */
    bool nesterov;             /* sgd */
    float weight_decay;        /* sgd (added to g), adamw (decoupled) */
    float initial_accumulator; /* adagrad */
    float rho;                 /* rmsprop (PyTorch's alpha), adadelta: decay of the mean squares */
    bool centered;             /* rmsprop */
    float beta1, beta2;        /* adam, nadam, adamax */
    bool amsgrad;              /* adam */
    float momentum_decay;      /* nadam: the schedule of mu_t */
    float eps;                 /* all but sgd */
} nb_optim_hparams;

#define NB_OPTIM_MAX_STATE 3

/* One parameter and the optimizer's state for it. The state tensors are
 * owned by the optimizer (no scope) and allocated on the param's first update. */
typedef struct nb_optim_slot {
    nb_tensor *param;
    nb_tensor *state[NB_OPTIM_MAX_STATE]; /* meaning per kind: see updates.c; NULL if unused */
    int64_t step; /* updates done so far; steps without a grad do not count */
    /* nadam: mu_1 * ... * mu_step, 1 before the first update. It depends on step only, so a
     * restored slot recomputes it (nb_optim_mu_product) instead of saving it. */
    double mu_product;
} nb_optim_slot;

struct nb_optimizer {
    nb_optim_kind kind;
    const char *name; /* "sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam", ... */
    nb_optim_hparams h;
    float lr;      /* used by the next step */
    float base_lr; /* the rate schedules start from */
    nb_schedule schedule;
    float clip_norm, clip_value; /* 0: off */
    float lr_decay; /* the rate of a param's update t is lr / (1 + lr_decay * (t - 1)) */
    nb_optim_slot *slots;
    int n_slots, cap_slots;
};

/* ---- update rules (updates.c) -------------------------------------------------
 * nb_optim_update changes the n contiguous floats of p in place from the
 * gradient g and the slot's state, with PyTorch 1.13's formula. step is 1 on a
 * param's first update. state[i] is NULL when nb_optim_uses_state says the
 * configuration does not need it; states start at nb_optim_state_init.
 * mu_product is the slot's (nadam updates it; the other kinds ignore it). */
bool nb_optim_uses_state(nb_optim_kind kind, const nb_optim_hparams *h, int i);
float nb_optim_state_init(nb_optim_kind kind, const nb_optim_hparams *h, int i);
/* state[i]'s name in checkpoints, PyTorch's ("exp_avg"); NULL past the kind's buffers */
const char *nb_optim_state_name(nb_optim_kind kind, int i);
void nb_optim_update(nb_optim_kind kind, const nb_optim_hparams *h, float lr, int64_t step,
                     int64_t n, float *p, const float *g, float *const *state, double *mu_product);
/* Subnormal floats to zero for the updates (optimizer.c); restore gives the mode back. */
unsigned nb_optim_flush_subnormals(void);
void nb_optim_restore_float_mode(unsigned mode);
/* nadam's mu_1 * ... * mu_step, with the same operations in the same order as the updates
 * do it: the same bits as a slot that made step updates (1 for step 0). */
double nb_optim_mu_product(const nb_optim_hparams *h, int64_t step);

#endif
