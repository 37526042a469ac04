/* Keras's callbacks: EarlyStopping, CSVLogger, LearningRateScheduler,
 * ReduceLROnPlateau, ModelCheckpoint and TerminateOnNaN. Each is a struct of hooks over a context
 * it owns (nb_callback_free releases it). */
#include "fit_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

nb_optimizer *nb_model_optimizer(nb_model *m) {
    return m && m->compiled ? m->opt : NULL;
}

void nb_callback_free(nb_callback *cb) {
    if (cb && cb->free && cb->ctx) cb->free(cb->ctx);
    if (cb) *cb = (nb_callback){0};
}

static double log_value(const nb_epoch_logs *l, const char *name) {
    for (int k = 0; k < l->n; k++)
        if (!strcmp(l->names[k], name)) return l->values[k];
    return NAN;
}

static bool has_log(const nb_epoch_logs *l, const char *name) {
    for (int k = 0; k < l->n; k++)
        if (!strcmp(l->names[k], name)) return true;
    return false;
}

/* mode -> true when the monitored log improves by rising */
static bool rises(nb_monitor_mode mode, const char *monitor) {
    return mode == NB_MODE_AUTO ? nb_metric_rises(monitor) : mode == NB_MODE_MAX;
}

static bool valid_mode(const char *fn, nb_monitor_mode mode) {
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
    if (!has_log(l, es->monitor)) {
        if (!es->warned)
            nb_warn("nb_early_stopping: no log '%s' to monitor (validation data gives the val_ "
                    "logs); training is not stopped",
                    es->monitor);
        es->warned = true;
        return false;
    }
    if (l->epoch < es->o.start_from_epoch) return false;
    double v = log_value(l, es->monitor);
    if (es->o.restore_best && !es->have_saved) { /* the first monitored epoch's, as Keras */
        es_save(es, m);
        es->best_epoch = l->epoch;
    }
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
    if (!valid_mode(fn, o.mode)) return (nb_callback){0};
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
    es->maximize = rises(o.mode, es->monitor); /* accuracies, auc, r2 rise; losses fall */
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
    if (!has_log(l, p->monitor)) {
        if (!p->warned)
            nb_warn("nb_reduce_lr_on_plateau: no log '%s' to monitor (validation data gives "
                    "the val_ logs); the rate stays",
                    p->monitor);
        p->warned = true;
        return false;
    }
    double v = log_value(l, p->monitor);
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

/* ---- callbacks: ModelCheckpoint ------------------------------------------------------------
 * The path pattern is parsed once, at construction, into fields; each epoch
 * fills them in. The grammar (Python's str.format, the part Keras users use):
 *   pattern := (text | "{{" | "}}" | field)*
 *   field   := "{" name [":" ["0"] [width] ["." precision] [type]] "}"
 *   name    := [A-Za-z0-9_]+      type := d | f | e | g */
#define CKPT_MAX_FIELDS 16

typedef struct {
    int at;               /* where the field stood in the pattern's literal text */
    char name[48];        /* "epoch" or a log's name */
    bool zero;            /* pad with zeros */
    int width, precision; /* precision -1: none */
    char type;            /* 0, 'd', 'f', 'e' or 'g' */
} ckpt_field;

typedef struct {
    nb_model_checkpoint_opts o;
    char pattern[4096], text[4096]; /* text: the pattern's literal parts, braces resolved */
    char monitor[48];
    ckpt_field fields[CKPT_MAX_FIELDS];
    int n_fields;
    bool maximize, warned;
    double best; /* kept across fits, as Keras's */
    nb_status failed;
    char why[1024]; /* the failure's message, said again by the status hook */
} checkpoint;

static bool pattern_error(const char *pattern, size_t at, const char *what) {
    nb_fail(NB_ERR_FORMAT, "nb_model_checkpoint: the path pattern \"%s\", column %zu: %s", pattern,
            at + 1, what);
    return false;
}

/* a run of decimal digits as a small number (at most 2 digits: widths and
 * precisions up to 99) */
static bool small_number(const char *p, size_t *i, int *out) {
    int v = 0, digits = 0;
    while (isdigit((unsigned char)p[*i]) && digits < 3) v = v * 10 + (p[(*i)++] - '0'), digits++;
    *out = v;
    return digits <= 2;
}

/* the spec after ':' up to the closing '}' at *i; open: where the field's '{' is */
static bool parse_spec(const char *p, size_t *i, ckpt_field *f, size_t open) {
    size_t start = *i;
    if (p[*i] == '0') f->zero = true, ++*i;
    if (!small_number(p, i, &f->width)) return pattern_error(p, start, "the width is too large");
    if (p[*i] == '.') {
        size_t dot = (*i)++;
        if (!isdigit((unsigned char)p[*i]))
            return pattern_error(p, dot, "'.' must be followed by a precision");
        if (!small_number(p, i, &f->precision))
            return pattern_error(p, dot, "the precision is too large");
    }
    if (p[*i] && strchr("dfeg", p[*i]) && p[*i] != '}') f->type = p[(*i)++];
    if (!p[*i]) return pattern_error(p, open, "'{' is not closed");
    if (p[*i] != '}')
        return pattern_error(p, *i,
                             "unknown format spec (expected [0][width][.precision] and d, f, e "
                             "or g)");
    bool is_epoch = !strcmp(f->name, "epoch");
    if (f->type == 'd' && !is_epoch)
        return pattern_error(p, start, "'d' is for {epoch}: a log is a float (write .4f, e or g)");
    if (f->type == 'd' && f->precision >= 0)
        return pattern_error(p, start, "precision is not allowed with 'd'");
    return true;
}

static bool parse_field(checkpoint *c, const char *p, size_t *i, size_t text_at) {
    size_t open = (*i)++, n = 0;
    if (c->n_fields == CKPT_MAX_FIELDS) return pattern_error(p, open, "more than 16 fields");
    ckpt_field *f = &c->fields[c->n_fields++];
    *f = (ckpt_field){.at = (int)text_at, .precision = -1};
    while (isalnum((unsigned char)p[*i]) || p[*i] == '_') {
        if (n + 1 >= sizeof f->name) return pattern_error(p, open, "the name is too long");
        f->name[n++] = p[(*i)++];
    }
    if (!p[*i]) return pattern_error(p, open, "'{' is not closed");
    if (!n)
        return pattern_error(p, open, "a field needs a name: {epoch} or a log such as {val_loss}");
    if (p[*i] == ':') return ++*i, parse_spec(p, i, f, open);
    if (p[*i] == '}') return true;
    return pattern_error(p, *i, "a name is letters, digits and '_', then ':' or '}'");
}

static bool parse_pattern(checkpoint *c, const char *p) {
    size_t n = 0;
    for (size_t i = 0; p[i]; i++) {
        if ((p[i] == '{' && p[i + 1] == '{') || (p[i] == '}' && p[i + 1] == '}')) {
            c->text[n++] = p[i++];
        } else if (p[i] == '{') {
            if (!parse_field(c, p, &i, n)) return false;
        } else if (p[i] == '}') {
            return pattern_error(p, i, "a single '}' (write }} for a brace)");
        } else {
            c->text[n++] = p[i];
        }
    }
    c->text[n] = 0;
    return true;
}

/* Python's str(float): the shortest digits that read back as v, with ".0"
 * when they look like an integer */
static int shortest_repr(char *out, size_t size, double v) {
    int len = 0;
    for (int digits = 1; digits <= 17; digits++) {
        len = snprintf(out, size, "%.*g", digits, v);
        if (!isfinite(v) || strtod(out, NULL) == v) break;
    }
    if (isfinite(v) && !strpbrk(out, ".e")) len += snprintf(out + len, size - (size_t)len, ".0");
    return len;
}

/* one field as Python formats it: epoch an int, a log a float */
static int format_field(char *out, size_t size, const ckpt_field *f, double v, bool is_epoch) {
    int w = f->width, prec = f->precision < 0 ? 6 : f->precision;
    if (is_epoch && (f->type == 0 || f->type == 'd'))
        return f->zero ? snprintf(out, size, "%0*d", w, (int)v)
                       : snprintf(out, size, "%*d", w, (int)v);
    if (f->type == 0 && f->precision < 0) {
        char s[64];
        int len = shortest_repr(s, sizeof s, v), sign = s[0] == '-';
        if (!f->zero || len >= w) return snprintf(out, size, "%*s", w, s);
        return snprintf(out, size, "%.*s%0*d%s", sign, s, w - len, 0, s + sign); /* 000.25 */
    }
    switch (f->type) {
    case 'f':
        return f->zero ? snprintf(out, size, "%0*.*f", w, prec, v)
                       : snprintf(out, size, "%*.*f", w, prec, v);
    case 'e':
        return f->zero ? snprintf(out, size, "%0*.*e", w, prec, v)
                       : snprintf(out, size, "%*.*e", w, prec, v);
    default: /* 'g', or a precision without a type */
        return f->zero ? snprintf(out, size, "%0*.*g", w, prec, v)
                       : snprintf(out, size, "%*.*g", w, prec, v);
    }
}

/* the pattern filled in with the epoch's logs */
static nb_status expand(const checkpoint *c, const nb_epoch_logs *l, char *out, size_t size) {
    size_t n = 0;
    int from = 0;
    for (int k = 0; k <= c->n_fields; k++) {
        int to = k < c->n_fields ? c->fields[k].at : (int)strlen(c->text);
        int len = snprintf(out + n, size - n, "%.*s", to - from, c->text + from);
        n += (size_t)len < size - n ? (size_t)len : size - n;
        from = to;
        if (k == c->n_fields) break;
        const ckpt_field *f = &c->fields[k];
        bool is_epoch = !strcmp(f->name, "epoch");
        if (!is_epoch && !has_log(l, f->name)) {
            char names[512] = "";
            for (int j = 0, at = 0; j < l->n && at < (int)sizeof names; j++)
                at += snprintf(names + at, sizeof names - (size_t)at, "%s%s", j ? ", " : "",
                               l->names[j]);
            return nb_fail_status(
                NB_ERR_ARG,
                "nb_model_checkpoint: the path pattern \"%s\" names {%s}, which is not "
                "a log of epoch %d (the logs are epoch, %s)",
                c->pattern, f->name, l->epoch + 1, names);
        }
        len = format_field(out + n, size - n, f, is_epoch ? l->epoch + 1 : log_value(l, f->name),
                           is_epoch);
        n += (size_t)len < size - n ? (size_t)len : size - n;
    }
    if (n >= size - 1)
        return nb_fail_status(NB_ERR_ARG, "nb_model_checkpoint: the path from \"%s\" is too long",
                              c->pattern);
    return NB_OK;
}

/* mkdir -p of the directory path is in, as Keras creates it */
static nb_status make_parents(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return NB_OK;
    *slash = 0;
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p) continue;
        char keep = *p;
        *p = 0;
        struct stat st;
        if (stat(dir, &st) != 0 && mkdir(dir, 0777) != 0 && errno != EEXIST)
            return nb_fail_status(NB_ERR_IO,
                                  "nb_model_checkpoint: cannot save %s: cannot create %s: %s", path,
                                  dir, strerror(errno));
        *p = keep;
        if (!keep) return NB_OK;
    }
}

static bool ckpt_failed(checkpoint *c) {
    c->failed = nb_failure_code();
    snprintf(c->why, sizeof c->why, "%s", nb_error());
    return true; /* stop: fit then asks the status hook, which says why */
}

static void ckpt_begin(nb_model *m, void *ctx) {
    (void)m;
    checkpoint *c = ctx;
    c->failed = NB_OK;
    c->warned = false;
}

/* save_best_only: true when the epoch is to be saved */
static bool ckpt_improves(checkpoint *c, const nb_epoch_logs *l) {
    if (!has_log(l, c->monitor)) {
        if (!c->warned)
            nb_warn("nb_model_checkpoint: no log '%s' to monitor (validation data gives the val_ "
                    "logs); saving every epoch",
                    c->monitor);
        c->warned = true;
        return true;
    }
    double v = log_value(l, c->monitor);
    if (!(c->maximize ? v > c->best : v < c->best)) {
        if (c->o.verbose)
            printf("Epoch %d: %s did not improve from %.5f\n", l->epoch + 1, c->monitor, c->best);
        return false;
    }
    if (c->o.verbose)
        printf("Epoch %d: %s improved from %.5f to %.5f\n", l->epoch + 1, c->monitor, c->best, v);
    c->best = v;
    return true;
}

static bool ckpt_epoch_end(nb_model *m, const nb_epoch_logs *l, void *ctx) {
    checkpoint *c = ctx;
    char path[4096];
    if (expand(c, l, path, sizeof path) != NB_OK) return ckpt_failed(c);
    if (c->o.save_best_only && !ckpt_improves(c, l)) return false;
    if (c->o.verbose) printf("Epoch %d: saving model to %s\n", l->epoch + 1, path);
    nb_status s = make_parents(path);
    if (s == NB_OK)
        s = c->o.save_weights_only ? nb_model_save_weights(m, path) : nb_model_save(m, path);
    if (s != NB_OK) {
        nb_fail_status(s, "nb_model_checkpoint: epoch %d: cannot save %s: %s", l->epoch + 1, path,
                       nb_error());
        return ckpt_failed(c);
    }
    return false;
}

static nb_status ckpt_status(void *ctx) {
    checkpoint *c = ctx;
    return c->failed == NB_OK ? NB_OK : nb_fail_status(c->failed, "%s", c->why);
}

nb_callback nb_model_checkpoint_ex(const nb_model_checkpoint_opts *opts) {
    const char *fn = "nb_model_checkpoint";
    if (!opts || !opts->path) return nb_fail(NB_ERR_NULL, "%s: path is NULL", fn), (nb_callback){0};
    if (!opts->path[0]) return nb_fail(NB_ERR_ARG, "%s: path is empty", fn), (nb_callback){0};
    if (strlen(opts->path) >= sizeof((checkpoint *)0)->pattern)
        return nb_fail(NB_ERR_ARG, "%s: path is too long", fn), (nb_callback){0};
    if (!valid_mode(fn, opts->mode)) return (nb_callback){0};
    checkpoint *c = calloc(1, sizeof *c);
    if (!c) return nb_fail(NB_ERR_MEMORY, "%s: out of memory", fn), (nb_callback){0};
    c->o = *opts;
    snprintf(c->pattern, sizeof c->pattern, "%s", opts->path);
    snprintf(c->monitor, sizeof c->monitor, "%s", opts->monitor ? opts->monitor : "val_loss");
    c->o.path = c->pattern;
    c->o.monitor = c->monitor;
    if (!parse_pattern(c, c->pattern)) {
        free(c);
        return (nb_callback){0};
    }
    c->maximize = rises(opts->mode, c->monitor);
    c->best = c->maximize ? -INFINITY : INFINITY;
    return (nb_callback){.on_train_begin = ckpt_begin,
                         .on_epoch_end = ckpt_epoch_end,
                         .status = ckpt_status,
                         .free = free,
                         .ctx = c};
}

nb_callback nb_model_checkpoint(const char *path, const char *monitor, bool save_best_only) {
    return nb_model_checkpoint_ex(&(nb_model_checkpoint_opts){
        .path = path, .monitor = monitor, .save_best_only = save_best_only});
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
