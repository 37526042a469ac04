/* Keras's callbacks: EarlyStopping, CSVLogger, LearningRateScheduler,
 * ReduceLROnPlateau and TerminateOnNaN (ModelCheckpoint: model_checkpoint.c).
 * Each is a struct of hooks over a context it owns (nb_callback_free releases it). */
#include "fit_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nb_optimizer *nb_model_optimizer(nb_model *m) {
    return m && m->compiled ? m->opt : NULL;
}

void nb_callback_free(nb_callback *cb) {
    if (cb && cb->free && cb->ctx) cb->free(cb->ctx);
    if (cb) *cb = (nb_callback){0};
}

double nb_log_value(const nb_epoch_logs *l, const char *name) {
    for (int k = 0; k < l->n; k++)
        if (!strcmp(l->names[k], name)) return l->values[k];
    return NAN;
}

bool nb_has_log(const nb_epoch_logs *l, const char *name) {
    for (int k = 0; k < l->n; k++)
        if (!strcmp(l->names[k], name)) return true;
    return false;
}

/* mode -> true when the monitored log improves by rising */
bool nb_monitor_rises(nb_monitor_mode mode, const char *monitor) {
    return mode == NB_MODE_AUTO ? nb_metric_rises(monitor) : mode == NB_MODE_MAX;
}

bool nb_monitor_mode_valid(const char *fn, nb_monitor_mode mode) {
    if (mode == NB_MODE_AUTO || mode == NB_MODE_MIN || mode == NB_MODE_MAX) return true;
    nb_fail(NB_ERR_ARG, "%s: mode %d is not NB_MODE_AUTO, NB_MODE_MIN or NB_MODE_MAX", fn,
            (int)mode);
    return false;
}

/* ---- callbacks: early stopping (Keras's algorithm, step by step) --------------------------- */
typedef struct {
    nb_early_stopping_opts o;
    char monitor[48];
    bool maximize, warned;
    int wait, best_epoch, stopped_epoch;
    double best;
    nb_tensor **saved; /* the best epoch's weights, owned here; NULL until one is kept */
    int n_saved;
    bool have_saved;
} early_stopping;

static void es_save(early_stopping *es, nb_model *m) {
    int n = nb_model_num_weights(m);
    if (!es->saved) {
        es->saved = calloc((size_t)(n ? n : 1), sizeof *es->saved);
        if (!es->saved) return;
        es->n_saved = n;
        for (int i = 0; i < n; i++) {
            nb_tensor *w = nb_model_weight(m, i)->t;
            es->saved[i] = nb_tensor_new_owned("nb_early_stopping", w->shape, w->ndim);
        }
    }
    for (int i = 0; i < es->n_saved; i++)
        if (es->saved[i])
            nb_copy_to(nb_model_weight(m, i)->t, nb_ptr(es->saved[i]), es->saved[i]->numel);
    es->have_saved = true;
}

static void es_begin(nb_model *m, void *ctx) {
    (void)m;
    early_stopping *es = ctx;
    es->wait = es->best_epoch = es->stopped_epoch = 0;
    es->have_saved = es->warned = false;
    es->best = es->maximize ? -INFINITY : INFINITY;
}

/* Keras's _is_improvement: v moved past ref by more than min_delta (NaN never does) */
static bool es_improves(const early_stopping *es, double v, double ref) {
    return es->maximize ? v - es->o.min_delta > ref : v + es->o.min_delta < ref;
}

static bool es_epoch_end(nb_model *m, const nb_epoch_logs *l, void *ctx) {
    early_stopping *es = ctx;
    if (!nb_has_log(l, es->monitor)) {
        if (!es->warned)
            nb_warn("nb_early_stopping: no log '%s' to monitor (validation data gives the val_ "
                    "logs); training is not stopped",
                    es->monitor);
        es->warned = true;
        return false;
    }
    if (l->epoch < es->o.start_from_epoch) return false;
    double v = nb_log_value(l, es->monitor);
    if (es->o.restore_best && !es->have_saved) { /* the first monitored epoch's, as Keras */
        es_save(es, m);
        es->best_epoch = l->epoch;
    }
    if (isnan(v)) return false; /* no value: an epoch validation_freq skips */
    es->wait++;
    if (es_improves(es, v, es->best)) {
        es->best = v;
        es->best_epoch = l->epoch;
        if (es->o.restore_best) es_save(es, m);
        if (!es->o.has_baseline || es_improves(es, v, es->o.baseline)) es->wait = 0;
        return false;
    }
    if (es->wait < es->o.patience || l->epoch == 0) return false;
    es->stopped_epoch = l->epoch;
    if (es->o.verbose) printf("Epoch %d: early stopping\n", l->epoch + 1);
    return true;
}

static void es_end(nb_model *m, void *ctx) {
    early_stopping *es = ctx;
    if (!es->o.restore_best || !es->have_saved) return;
    if (es->o.verbose)
        printf("Restoring model weights from the end of the best epoch: %d.\n", es->best_epoch + 1);
    for (int i = 0; i < es->n_saved && i < nb_model_num_weights(m); i++)
        if (es->saved[i])
            nb_copy_from(nb_model_weight(m, i)->t, nb_ptr(es->saved[i]), es->saved[i]->numel);
}

static void es_free(void *ctx) {
    early_stopping *es = ctx;
    for (int i = 0; es->saved && i < es->n_saved; i++)
        if (es->saved[i]) nb_tensor_release(es->saved[i]);
    free(es->saved);
    free(es);
}

nb_callback nb_early_stopping_ex(const nb_early_stopping_opts *opts) {
    const char *fn = "nb_early_stopping";
    nb_early_stopping_opts o = opts ? *opts : (nb_early_stopping_opts){0};
    if (!nb_monitor_mode_valid(fn, o.mode)) return (nb_callback){0};
    if (o.patience < 0 || o.start_from_epoch < 0)
        return nb_fail(NB_ERR_ARG, "%s: patience %d and start_from_epoch %d must not be negative",
                       fn, o.patience, o.start_from_epoch),
               (nb_callback){0};
    if (isnan(o.min_delta) || (o.has_baseline && isnan(o.baseline)))
        return nb_fail(NB_ERR_ARG, "%s: min_delta %g and baseline %g must be numbers", fn,
                       o.min_delta, o.baseline),
               (nb_callback){0};
    early_stopping *es = calloc(1, sizeof *es);
    if (!es) return nb_fail(NB_ERR_MEMORY, "%s: out of memory", fn), (nb_callback){0};
    snprintf(es->monitor, sizeof es->monitor, "%s", o.monitor ? o.monitor : "val_loss");
    es->o = o;
    es->o.monitor = es->monitor;
    es->o.min_delta = fabs(o.min_delta);
    es->maximize =
        nb_monitor_rises(o.mode, es->monitor); /* accuracies, auc, r2 rise; losses fall */
    es_begin(NULL, es);
    return (nb_callback){.on_train_begin = es_begin,
                         .on_epoch_end = es_epoch_end,
                         .on_train_end = es_end,
                         .free = es_free,
                         .ctx = es};
}

nb_callback nb_early_stopping(const char *monitor, int patience, bool restore_best) {
    return nb_early_stopping_ex(&(nb_early_stopping_opts){
        .monitor = monitor, .patience = patience > 0 ? patience : 0, .restore_best = restore_best});
}

/* ---- callbacks: CSV logger (the file is rewritten whole, atomically, each epoch) ----------- */
typedef struct {
    char path[4096];
    nb_history h;
    bool warned; /* a failed write is said once, not every epoch */
} csv_logger;

static void csv_train_begin(nb_model *m, void *ctx) {
    (void)m;
    csv_logger *c = ctx;
    c->h.epochs = 0; /* each fit writes its own file, as Keras's CSVLogger(append=False) */
}

static bool csv_epoch_end(nb_model *m, const nb_epoch_logs *l, void *ctx) {
    (void)m;
    csv_logger *c = ctx;
    if (c->h.epochs == 0) {
        c->h.n_keys = l->n < NB_FIT_MAX_LOGS ? l->n : NB_FIT_MAX_LOGS;
        for (int k = 0; k < c->h.n_keys; k++)
            snprintf(c->h.keys[k], sizeof c->h.keys[0], "%s", l->names[k]);
        c->h.first_epoch = l->epoch;
    }
    const char *why = NULL;
    if (!nb_history_add(&c->h, l->values))
        why = "out of memory";
    else if (nb_history_write_csv("nb_csv_logger", &c->h, c->path) != NB_OK)
        why = nb_error();
    if (why && !c->warned) { /* training goes on: the log is not the model */
        c->warned = true;
        nb_warn("nb_csv_logger: %s: the log is not written: %s", c->path, why);
    }
    return false;
}

static void csv_free(void *ctx) {
    csv_logger *c = ctx;
    free(c->h.values);
    free(c);
}

nb_callback nb_csv_logger(const char *path) {
    csv_logger *c = calloc(1, sizeof *c);
    if (!c || !path) {
        free(c);
        return (nb_callback){0};
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    return (nb_callback){.on_train_begin = csv_train_begin,
                         .on_epoch_end = csv_epoch_end,
                         .free = csv_free,
                         .ctx = c};
}

/* ---- callbacks: LearningRateScheduler ---------------------------------------------------- */
typedef struct {
    nb_lr_schedule_fn fn;
    void *ctx;
} lr_scheduler;

static nb_status lrs_epoch_begin(nb_model *m, int epoch, void *ctx) {
    lr_scheduler *c = ctx;
    nb_optimizer *opt = nb_model_optimizer(m);
    float lr = c->fn(epoch, nb_optimizer_get_lr(opt), c->ctx);
    if (!(isfinite(lr) && lr >= 0))
        return nb_fail_status(
            NB_ERR_ARG,
            "nb_learning_rate_scheduler: the schedule function gave a rate of %g at "
            "epoch %d, expected a finite number >= 0",
            (double)lr, epoch);
    return nb_optimizer_set_lr(opt, lr);
}

nb_callback nb_learning_rate_scheduler(nb_lr_schedule_fn fn, void *ctx) {
    if (!fn)
        return nb_fail(NB_ERR_NULL, "nb_learning_rate_scheduler: fn is NULL"), (nb_callback){0};
    lr_scheduler *c = calloc(1, sizeof *c);
    if (!c)
        return nb_fail(NB_ERR_MEMORY, "nb_learning_rate_scheduler: out of memory"),
               (nb_callback){0};
    *c = (lr_scheduler){fn, ctx};
    return (nb_callback){.on_epoch_begin = lrs_epoch_begin, .free = free, .ctx = c};
}

/* ---- callbacks: ReduceLROnPlateau (Keras's algorithm, step by step) ------------------------ */
typedef struct {
    nb_reduce_lr_opts o;
    char monitor[40];
    bool maximize, warned;
    int wait, cooldown_left;
    double best;
} plateau;

static void plateau_begin(nb_model *m, void *ctx) {
    (void)m;
    plateau *p = ctx;
    p->wait = p->cooldown_left = 0;
    p->best = p->maximize ? -INFINITY : INFINITY;
}

/* rate -> max(rate * factor, min_lr); the schedule's base moves by the same
 * ratio, so the next epoch's scheduled rate is lowered too */
static void reduce(nb_optimizer *opt, const plateau *p, int epoch) {
    float lr = nb_optimizer_get_lr(opt), base = nb_optimizer_get_base_lr(opt);
    float new_lr = fmaxf(lr * p->o.factor, p->o.min_lr);
    if (base == lr) {
        nb_optimizer_set_lr(opt, new_lr);
    } else {
        nb_optimizer_set_lr(opt, (float)((double)base * new_lr / lr));
        nb_optimizer_schedule_epoch(opt, epoch);
    }
    if (p->o.verbose)
        printf("Epoch %d: ReduceLROnPlateau reducing learning rate to %g.\n", epoch + 1,
               (double)nb_optimizer_get_lr(opt));
}

static bool plateau_epoch_end(nb_model *m, const nb_epoch_logs *l, void *ctx) {
    plateau *p = ctx;
    if (!nb_has_log(l, p->monitor)) {
        if (!p->warned)
            nb_warn("nb_reduce_lr_on_plateau: no log '%s' to monitor (validation data gives "
                    "the val_ logs); the rate stays",
                    p->monitor);
        p->warned = true;
        return false;
    }
    double v = nb_log_value(l, p->monitor);
    if (isnan(v)) return false; /* no value: an epoch validation_freq skips */
    bool in_cooldown = p->cooldown_left > 0;
    if (in_cooldown) {
        p->cooldown_left--;
        p->wait = 0;
    }
    bool better = p->maximize ? v > p->best + p->o.min_delta : v < p->best - p->o.min_delta;
    if (better) {
        p->best = v;
        p->wait = 0;
    } else if (!in_cooldown && ++p->wait >= p->o.patience) {
        nb_optimizer *opt = nb_model_optimizer(m);
        if (nb_optimizer_get_lr(opt) > p->o.min_lr) {
            reduce(opt, p, l->epoch);
            p->cooldown_left = p->o.cooldown;
            p->wait = 0;
        }
    }
    return false;
}

nb_callback nb_reduce_lr_on_plateau_ex(const nb_reduce_lr_opts *opts) {
    const char *fn = "nb_reduce_lr_on_plateau";
    nb_reduce_lr_opts o = opts ? *opts : (nb_reduce_lr_opts){0};
    if (o.factor == 0) o.factor = 0.1f;
    if (o.patience == 0) o.patience = 10;
    if (o.min_delta == 0) o.min_delta = 1e-4f;
    if (!(o.factor > 0 && o.factor < 1))
        return nb_fail(NB_ERR_ARG, "%s: factor is %g, expected a number in (0, 1)", fn,
                       (double)o.factor),
               (nb_callback){0};
    if (o.patience < 0 || o.cooldown < 0 || !(o.min_delta >= 0) || !(o.min_lr >= 0))
        return nb_fail(NB_ERR_ARG,
                       "%s: patience %d, cooldown %d, min_delta %g and min_lr %g must not be "
                       "negative",
                       fn, o.patience, o.cooldown, (double)o.min_delta, (double)o.min_lr),
               (nb_callback){0};
    plateau *p = calloc(1, sizeof *p);
    if (!p) return nb_fail(NB_ERR_MEMORY, "%s: out of memory", fn), (nb_callback){0};
    p->o = o;
    snprintf(p->monitor, sizeof p->monitor, "%s", o.monitor ? o.monitor : "val_loss");
    p->o.monitor = p->monitor;
    p->maximize = nb_metric_rises(p->monitor); /* Keras's mode "auto" */
    plateau_begin(NULL, p);
    return (nb_callback){
        .on_train_begin = plateau_begin, .on_epoch_end = plateau_epoch_end, .free = free, .ctx = p};
}

nb_callback nb_reduce_lr_on_plateau(const char *monitor, float factor, int patience, float min_lr) {
    return nb_reduce_lr_on_plateau_ex(&(nb_reduce_lr_opts){
        .monitor = monitor, .factor = factor, .patience = patience, .min_lr = min_lr});
}

/* ---- callbacks: TerminateOnNaN --------------------------------------------------------------- */
static bool nan_batch_end(nb_model *m, int batch, const nb_batch_logs *l, void *ctx) {
    (void)m, (void)ctx;
    double loss = l->n ? l->values[0] : 0; /* "loss" comes first */
    if (isfinite(loss)) return false;
    nb_warn("nb_terminate_on_nan: epoch %d, batch %d: the loss is %g; training stops", l->epoch + 1,
            batch, loss);
    return true;
}

nb_callback nb_terminate_on_nan(void) {
    return (nb_callback){.on_batch_end = nan_batch_end};
}
