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
} nb_optim_kind;

/* Hyper-parameters; each optimizer reads the ones its formula names. */
typedef struct nb_optim_hparams {
    float momentum;            /* sgd, rmsprop */
    bool nesterov;             /* sgd */
    float weight_decay;        /* sgd (added to g), adamw (decoupled) */
    float initial_accumulator; /* adagrad */
    float rho;                 /* rmsprop: decay of the mean square (PyTorch's alpha) */
    bool centered;             /* rmsprop */
    float beta1, beta2;        /* adam */
    bool amsgrad;              /* adam */
    float eps;                 /* adagrad, rmsprop, adam */
} nb_optim_hparams;

#define NB_OPTIM_MAX_STATE 3

/* One parameter and the optimizer's state for it. The state tensors are
 * owned by the optimizer (no scope) and allocated on the param's first update. */
typedef struct nb_optim_slot {
    nb_tensor *param;
    nb_tensor *state[NB_OPTIM_MAX_STATE]; /* meaning per kind: see updates.c; NULL if unused */
    int64_t step; /* updates done so far; steps without a grad do not count */
} nb_optim_slot;

struct nb_optimizer {
    nb_optim_kind kind;
    const char *name; /* "sgd", "adagrad", "rmsprop", "adam", "adamw" */
    nb_optim_hparams h;
    float lr;      /* used by the next step */
    float base_lr; /* the rate schedules start from */
    nb_schedule schedule;
    float clip_norm, clip_value; /* 0: off */
    nb_optim_slot *slots;
    int n_slots, cap_slots;
};

/* ---- update rules (updates.c) -------------------------------------------------
 * nb_optim_update changes the n contiguous floats of p in place from the
 * gradient g and the slot's state, with PyTorch 1.13's formula. step is 1 on a
 * param's first update. state[i] is NULL when nb_optim_uses_state says the
 * configuration does not need it; states start at nb_optim_state_init. */
bool nb_optim_uses_state(nb_optim_kind kind, const nb_optim_hparams *h, int i);
float nb_optim_state_init(nb_optim_kind kind, const nb_optim_hparams *h, int i);
/* state[i]'s name in checkpoints, PyTorch's ("exp_avg"); NULL past the kind's buffers */
const char *nb_optim_state_name(nb_optim_kind kind, int i);
void nb_optim_update(nb_optim_kind kind, const nb_optim_hparams *h, float lr, int64_t step,
                     int64_t n, float *p, const float *g, float *const *state);

#endif
