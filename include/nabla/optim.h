/* nabla optimizers: update parameters from their .grad.
 *
 * The update formulas are PyTorch's (tests compare 20 steps with PyTorch);
 * the names and default hyper-parameters of nb_optimizer_from_name are
 * Keras's ("adam" = lr 0.001, betas 0.9/0.999, eps 1e-7).
 * Updates run in place, outside the tape.
 */
#ifndef NABLA_OPTIM_H
#define NABLA_OPTIM_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_optimizer nb_optimizer;

/* ---- optimizers (NULL + nb_error() on a bad hyper-parameter) ---------------------- */
/* p -= lr * v, v = momentum * v + g (+ weight_decay * p); nesterov looks ahead */
nb_optimizer *nb_sgd(float lr, float momentum, bool nesterov, float weight_decay);
/* sum += g^2; p -= lr * g / (sqrt(sum) + eps) */
nb_optimizer *nb_adagrad(float lr, float initial_accumulator, float eps);
/* mean square with decay rho; optional momentum and centering (divide by the variance) */
nb_optimizer *nb_rmsprop(float lr, float rho, float momentum, float eps, bool centered);
/* bias-corrected first and second moments; amsgrad keeps the max second moment */
nb_optimizer *nb_adam(float lr, float beta1, float beta2, float eps, bool amsgrad);
/* Adam with decoupled weight decay: p -= lr * weight_decay * p before the Adam step */
nb_optimizer *nb_adamw(float lr, float beta1, float beta2, float eps, float weight_decay);
/* Adam with Nesterov momentum (Dozat); the momentum of update t is
 * mu_t = beta1 (1 - 0.5 * 0.96^(t momentum_decay)). PyTorch 2's NAdam (and 1.13's with
 * foreach=True; 1.13's default path has a bug in the second bias correction). */
nb_optimizer *nb_nadam(float lr, float beta1, float beta2, float eps, float momentum_decay);
/* Adam with the infinity norm: u = max(beta2 u, |g| + eps); p -= lr / (1 - beta1^t) m / u */
nb_optimizer *nb_adamax(float lr, float beta1, float beta2, float eps);
/* steps of sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g, both averages with decay rho;
 * PyTorch's lr (1 by default) scales them */
nb_optimizer *nb_adadelta(float lr, float rho, float eps);
/* "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "nadam", "adamax",
 * "adadelta" with Keras 3's defaults: lr 0.001 (sgd: 0.01), eps 1e-7, betas 0.9/0.999,
 * rmsprop rho 0.9, adadelta rho 0.95 (Keras 3's lr 0.001 makes adadelta's steps small:
 * Keras 2 and PyTorch use 1), nadam momentum_decay 0.004 (PyTorch's; Keras 3 has none). */
nb_optimizer *nb_optimizer_from_name(const char *name);
void nb_optimizer_free(nb_optimizer *opt);
const char *nb_optimizer_name(const nb_optimizer *opt);

/* ---- parameters and steps -------------------------------------------------------- */
/* Params are leaves that require grad; the optimizer keeps its state per param. */
nb_status nb_optimizer_add_params(nb_optimizer *opt, nb_tensor *const *params, int n);
/* One update of every param from its .grad (params without a grad are skipped). */
nb_status nb_optimizer_step(nb_optimizer *opt);
void nb_optimizer_zero_grad(nb_optimizer *opt);

/* ---- learning rate ------------------------------------------------------------------ */
float nb_optimizer_get_lr(const nb_optimizer *opt);
float nb_optimizer_get_base_lr(const nb_optimizer *opt); /* the rate schedules start from */
nb_status nb_optimizer_set_lr(nb_optimizer *opt, float lr);
typedef enum nb_schedule_kind {
    NB_SCHEDULE_CONSTANT = 0,
    NB_SCHEDULE_STEP,        /* lr * gamma^(floor(epoch / step_size))        */
    NB_SCHEDULE_EXPONENTIAL, /* lr * gamma^epoch                              */
    NB_SCHEDULE_COSINE,      /* min_lr + (lr - min_lr)(1 + cos(pi epoch / T))/2 */
} nb_schedule_kind;
typedef struct nb_schedule {
    nb_schedule_kind kind;
    float gamma;   /* step, exponential */
    int step_size; /* step */
    int t_max;     /* cosine: epochs in one half period */
    float min_lr;  /* cosine */
} nb_schedule;
nb_status nb_optimizer_set_schedule(nb_optimizer *opt, const nb_schedule *s);
/* Set the learning rate for this epoch (0-based) from the base rate and the schedule. */
nb_status nb_optimizer_schedule_epoch(nb_optimizer *opt, int epoch);
/* Keras 2's legacy `decay` argument (Adam(lr=0.001, ..., decay=1e-4)), for every optimizer:
 * a param's t-th update uses lr / (1 + decay * (t - 1)), lr being the (scheduled) rate.
 * t counts that param's updates, as PyTorch's Adagrad lr_decay does; Keras counts the
 * optimizer's steps, which is the same when every param gets a grad at every step (as in
 * fit). 0 (the default) turns it off. */
nb_status nb_optimizer_set_lr_decay(nb_optimizer *opt, float decay);
float nb_optimizer_get_lr_decay(const nb_optimizer *opt);

/* ---- gradient clipping, applied by nb_optimizer_step before the update -------------- */
/* max_norm > 0: scale all grads so that their global L2 norm is at most max_norm.
 * max_value > 0: clamp each grad element to [-max_value, max_value]. 0 turns off. */
nb_status nb_optimizer_set_clipping(nb_optimizer *opt, float max_norm, float max_value);

/* ---- state, for checkpoints ----------------------------------------------------------
 * Everything an optimizer needs to go on exactly where it stopped, as named tensors
 * and text pairs, the two things a safetensors file holds (PyTorch's state_dict, flat):
 *   tensors  "<param>/<buffer>": each param's buffers, with PyTorch's names (sgd:
 *            momentum_buffer; adagrad: sum; rmsprop: square_avg, momentum_buffer,
 *            grad_avg; adam, adamw: exp_avg, exp_avg_sq, max_exp_avg_sq; nadam: exp_avg,
 *            exp_avg_sq; adamax: exp_avg, exp_inf; adadelta: square_avg, acc_delta). A
 *            param has none before its first update. Nadam's mu_product is not saved:
 *            it follows from the update count, and set_state recomputes it exactly.
 *   pairs    "name" = "adam", each hyper-parameter ("beta1" = "0.9"), "lr" and
 *            "base_lr", the schedule, the clipping, "lr_decay" (read as 0 when a state
 *            lacks it), "params" = how many params,
 *            "<param>/step" = the param's update count.
 * <param> is param_names[i] for the i-th param added (their order), or "i" when
 * param_names is NULL. Floats are printed with the fewest digits that read back to the
 * same bits (0.9, 0.001). */
typedef struct nb_optimizer_state {
    int n_tensors;
    const char **names;
    nb_tensor **tensors; /* from get_state: the optimizer's own buffers, not copies */
    int n_pairs;
    const char **keys, **values;
    void *text; /* from get_state: the strings, released by nb_optimizer_state_free */
} nb_optimizer_state;
int nb_optimizer_num_params(const nb_optimizer *opt);
nb_tensor *nb_optimizer_param(const nb_optimizer *opt, int i); /* in the order they were added */
/* The optimizer's state into *out (free it with nb_optimizer_state_free). */
nb_status nb_optimizer_get_state(const nb_optimizer *opt, const char *const *param_names,
                                 nb_optimizer_state *out);
/* Restore a state that get_state made (read back from a file, say). Its name, update
 * rule's hyper-parameters, schedule, clipping, lr_decay and number of params must equal this
 * optimizer's, and each buffer must have its param's shape; the learning rate, update
 * counts and buffers are taken from s. All or nothing: on an error the optimizer is
 * unchanged. Messages start with context ("nb_model_load_checkpoint: ckpt.safetensors")
 * or, when it is NULL, with "nb_optimizer_set_state". */
nb_status nb_optimizer_set_state(nb_optimizer *opt, const char *const *param_names,
                                 const nb_optimizer_state *s, const char *context);
void nb_optimizer_state_free(nb_optimizer_state *s); /* only for states from get_state */
/* A new optimizer from the pairs of a state: its name, hyper-parameters, learning rate,
 * base rate, schedule and clipping, each checked as the constructors check them; the
 * tensors and update counts are not read (the optimizer starts fresh). A missing or
 * malformed pair is an error naming the key, after context (NULL: "nb_optimizer_from_state"). */
nb_optimizer *nb_optimizer_from_state(const nb_optimizer_state *s, const char *context);

#ifdef __cplusplus
}
#endif
#endif
