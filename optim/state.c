/* An optimizer's state for checkpoints: out as named tensors and text pairs
 * (nb_optimizer_get_state), and back in after checks (nb_optimizer_set_state).
 *
 * The settings are one table. Each row names a field of the optimizer, its
 * type, the kinds of optimizer that have it, and whether a restore takes it
 * from the saved state (the learning rate, which schedules and
 * nb_optimizer_set_lr change during training) or only checks that it is the
 * same (the update rule's hyper-parameters, the schedule, the clipping: a run
 * goes on with the optimizer it was compiled with). Checked values are
 * compared as text: a float is printed with as few digits as read back to
 * the same float (at most 9), so equal text means equal bits. A row with a
 * default is read as that value when the saved state lacks it: lr_decay came
 * after states without it were written, which had none (0).
 *
 * Nadam's running product of mu_t is not saved: it depends on the update
 * count only, and a restore recomputes it with the operations the updates did,
 * so a resumed run goes on with the same bits.
 */
#include "optim_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_LEN 256 /* safetensors readers keep names and metadata up to 255 bytes */

enum {
    SGD = 1 << NB_OPTIM_SGD,
    ADAGRAD = 1 << NB_OPTIM_ADAGRAD,
    RMSPROP = 1 << NB_OPTIM_RMSPROP,
    ADAM = 1 << NB_OPTIM_ADAM,
    NADAM = 1 << NB_OPTIM_NADAM,
    ADAMAX = 1 << NB_OPTIM_ADAMAX,
    ADADELTA = 1 << NB_OPTIM_ADADELTA,
    ALL = SGD | ADAGRAD | RMSPROP | ADAM | NADAM | ADAMAX | ADADELTA,
};

typedef enum { FLOAT, BOOL, INT, SCHEDULE } setting_type;

typedef struct {
    const char *key;
    setting_type type;
    size_t offset; /* of the field in nb_optimizer */
    unsigned kinds;
    bool restored;      /* taken from the saved state; otherwise checked against it */
    const char *absent; /* the value of a state that lacks the key; NULL: it is an error */
} setting;

#define AT(field) offsetof(nb_optimizer, field)
static const setting settings[] = {
    {"momentum", FLOAT, AT(h.momentum), SGD | RMSPROP, false, NULL},
    {"nesterov", BOOL, AT(h.nesterov), SGD, false, NULL},
    {"weight_decay", FLOAT, AT(h.weight_decay), SGD | ADAM, false, NULL},
    {"initial_accumulator", FLOAT, AT(h.initial_accumulator), ADAGRAD, false, NULL},
    {"rho", FLOAT, AT(h.rho), RMSPROP | ADADELTA, false, NULL},
    {"centered", BOOL, AT(h.centered), RMSPROP, false, NULL},
    {"beta1", FLOAT, AT(h.beta1), ADAM | NADAM | ADAMAX, false, NULL},
    {"beta2", FLOAT, AT(h.beta2), ADAM | NADAM | ADAMAX, false, NULL},
    {"amsgrad", BOOL, AT(h.amsgrad), ADAM, false, NULL},
    {"momentum_decay", FLOAT, AT(h.momentum_decay), NADAM, false, NULL},
    {"eps", FLOAT, AT(h.eps), ALL & ~SGD, false, NULL},
    {"schedule", SCHEDULE, AT(schedule.kind), ALL, false, NULL},
    {"schedule_gamma", FLOAT, AT(schedule.gamma), ALL, false, NULL},
    {"schedule_step_size", INT, AT(schedule.step_size), ALL, false, NULL},
    {"schedule_t_max", INT, AT(schedule.t_max), ALL, false, NULL},
    {"schedule_min_lr", FLOAT, AT(schedule.min_lr), ALL, false, NULL},
    {"clip_norm", FLOAT, AT(clip_norm), ALL, false, NULL},
    {"clip_value", FLOAT, AT(clip_value), ALL, false, NULL},
    {"lr_decay", FLOAT, AT(lr_decay), ALL, false, "0"},
    {"lr", FLOAT, AT(lr), ALL, true, NULL}, /* lr and base_lr last: see nb_optimizer_from_state */
    {"base_lr", FLOAT, AT(base_lr), ALL, true, NULL},
};
#define N_SETTINGS ((int)(sizeof settings / sizeof settings[0]))

static bool applies(const setting *s, const nb_optimizer *opt) {
    return s->kinds & (1u << opt->kind);
}

/* the field's value as text, into out[TEXT_LEN] */
static void format_setting(const nb_optimizer *opt, const setting *s, char *out) {
    static const char *const schedules[] = {"constant", "step", "exponential", "cosine"};
    const char *field = (const char *)opt + s->offset;
    switch (s->type) {
    case FLOAT: { /* the shortest text that reads back to the same float: 0.9, not 0.899999976 */
        float v = *(const float *)field;
        for (int digits = 6; digits <= 9; digits++) {
            snprintf(out, TEXT_LEN, "%.*g", digits, (double)v);
            if (strtof(out, NULL) == v) break;
        }
        break;
    }
    case BOOL:
        snprintf(out, TEXT_LEN, "%s", *(const bool *)field ? "true" : "false");
        break;
    case INT:
        snprintf(out, TEXT_LEN, "%d", *(const int *)field);
        break;
    case SCHEDULE:
        snprintf(out, TEXT_LEN, "%s", schedules[*(const nb_schedule_kind *)field]);
        break;
    }
}

int nb_optimizer_num_params(const nb_optimizer *opt) {
    return opt ? opt->n_slots : 0;
}

nb_tensor *nb_optimizer_param(const nb_optimizer *opt, int i) {
    if (!opt) return nb_fail_null("nb_optimizer_param");
    if (i < 0 || i >= opt->n_slots)
        return nb_fail(NB_ERR_ARG, "nb_optimizer_param: no param %d (the optimizer has %d)", i,
                       opt->n_slots);
    return opt->slots[i].param;
}

/* "<param>": param_names[i], or i as text when there are no names */
static const char *param_name(const char *const *param_names, int i, char *buf) {
    if (param_names) return param_names[i];
    snprintf(buf, TEXT_LEN, "%d", i);
    return buf;
}

/* ---- out ------------------------------------------------------------------------------ */
/* The strings of an exported state live in rows of one block; each is one
 * name, key or value. */
typedef struct {
    char (*rows)[TEXT_LEN];
    int used;
} text_rows;

/* the next row, formatted; NULL (with an error) when it does not fit */
__attribute__((format(printf, 2, 3))) static const char *put(text_rows *t, const char *fmt, ...) {
    char *row = t->rows[t->used];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(row, TEXT_LEN, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= TEXT_LEN)
        return nb_fail(NB_ERR_ARG, "nb_optimizer_get_state: '%.40s...' is longer than %d bytes",
                       row, TEXT_LEN - 1);
    t->used++;
    return row;
}

static bool add_pair(nb_optimizer_state *s, text_rows *t, const char *key, const char *value) {
    const char *k = put(t, "%s", key), *v = k ? put(t, "%s", value) : NULL;
    if (!v) return false;
    s->keys[s->n_pairs] = k;
    s->values[s->n_pairs++] = v;
    return true;
}

/* The settings, "params" and "name", then per param its step and buffers. */
static bool export_all(const nb_optimizer *opt, const char *const *param_names,
                       nb_optimizer_state *s, text_rows *t) {
    char buf[TEXT_LEN], name_buf[TEXT_LEN];
    snprintf(buf, sizeof buf, "%d", opt->n_slots);
    if (!add_pair(s, t, "name", opt->name) || !add_pair(s, t, "params", buf)) return false;
    for (int i = 0; i < N_SETTINGS; i++) {
        if (!applies(&settings[i], opt)) continue;
        format_setting(opt, &settings[i], buf);
        if (!add_pair(s, t, settings[i].key, buf)) return false;
    }
    for (int i = 0; i < opt->n_slots; i++) {
        const nb_optim_slot *slot = &opt->slots[i];
        const char *p = param_name(param_names, i, name_buf);
        if (!p)
            return nb_fail(NB_ERR_NULL, "nb_optimizer_get_state: param name %d is NULL", i), false;
        const char *key = put(t, "%s/step", p),
                   *value = key ? put(t, "%lld", (long long)slot->step) : NULL;
        if (!value) return false;
        s->keys[s->n_pairs] = key;
        s->values[s->n_pairs++] = value;
        for (int k = 0; k < NB_OPTIM_MAX_STATE; k++) {
            if (!slot->state[k]) continue;
            const char *name = put(t, "%s/%s", p, nb_optim_state_name(opt->kind, k));
            if (!name) return false;
            s->names[s->n_tensors] = name;
            s->tensors[s->n_tensors++] = slot->state[k];
        }
    }
    return true;
}

nb_status nb_optimizer_get_state(const nb_optimizer *opt, const char *const *param_names,
                                 nb_optimizer_state *out) {
    const char *fn = "nb_optimizer_get_state";
    if (!out) return nb_fail_status(NB_ERR_NULL, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!opt) return nb_fail_null(fn), nb_failure_code();
    size_t max_tensors = (size_t)NB_OPTIM_MAX_STATE * (size_t)opt->n_slots + 1;
    size_t max_pairs = (size_t)N_SETTINGS + 2 + (size_t)opt->n_slots;
    text_rows t = {nb_calloc(max_tensors + 2 * max_pairs, TEXT_LEN), 0};
    out->text = t.rows;
    out->names = nb_calloc(max_tensors, sizeof *out->names);
    out->tensors = nb_calloc(max_tensors, sizeof *out->tensors);
    out->keys = nb_calloc(max_pairs, sizeof *out->keys);
    out->values = nb_calloc(max_pairs, sizeof *out->values);
    nb_status s = NB_OK;
    if (!t.rows || !out->names || !out->tensors || !out->keys || !out->values)
        s = nb_fail_status(NB_ERR_MEMORY, "%s: out of memory", fn);
    else if (!export_all(opt, param_names, out, &t))
        s = nb_failure_code();
    if (s != NB_OK) nb_optimizer_state_free(out);
    return s;
}

void nb_optimizer_state_free(nb_optimizer_state *s) {
    if (!s) return;
    free(s->names);
    free(s->tensors);
    free(s->keys);
    free(s->values);
    free(s->text);
    memset(s, 0, sizeof *s);
}

/* ---- in --------------------------------------------------------------------------------- */
static const char *find_pair(const nb_optimizer_state *s, const char *key) {
    for (int i = 0; i < s->n_pairs; i++)
        if (s->keys[i] && s->values[i] && !strcmp(s->keys[i], key)) return s->values[i];
    return NULL;
}

/* the first tensor called name that is not used yet (marked used now); NULL if none */
static const nb_tensor *take_tensor(const nb_optimizer_state *s, const char *name, bool *used) {
    for (int i = 0; i < s->n_tensors; i++)
        if (!used[i] && s->names[i] && s->tensors[i] && !strcmp(s->names[i], name)) {
            used[i] = true;
            return s->tensors[i];
        }
    return NULL;
}

/* The optimizer's name and settings: checked ones must match, restored ones
 * are parsed into lr[0] (lr) and lr[1] (base_lr). */
static nb_status check_settings(const nb_optimizer *opt, const nb_optimizer_state *s,
                                const char *ctx, float *lr) {
    const char *name = find_pair(s, "name");
    if (!name) return nb_fail_status(NB_ERR_FORMAT, "%s: the saved state names no optimizer", ctx);
    if (strcmp(name, opt->name))
        return nb_fail_status(NB_ERR_ARG,
                              "%s: the optimizer was '%s' when saved but is '%s' here; compile the "
                              "model with the saved run's optimizer",
                              ctx, name, opt->name);
    for (int i = 0, n_lr = 0; i < N_SETTINGS; i++) {
        const setting *set = &settings[i];
        if (!applies(set, opt)) continue;
        const char *saved = find_pair(s, set->key);
        char here[TEXT_LEN], *end;
        if (!saved) saved = set->absent;
        if (!saved)
            return nb_fail_status(NB_ERR_FORMAT,
                                  "%s: the saved state of the %s optimizer has no %s", ctx,
                                  opt->name, set->key);
        format_setting(opt, set, here);
        if (set->restored) {
            errno = 0;
            float v = strtof(saved, &end);
            if (errno || end == saved || *end || !isfinite(v) || v < 0)
                return nb_fail_status(NB_ERR_FORMAT, "%s: the saved %s '%s' is not a number >= 0",
                                      ctx, set->key, saved);
            lr[n_lr++] = v;
        } else if (strcmp(saved, here)) {
            return nb_fail_status(NB_ERR_ARG,
                                  "%s: the %s optimizer's %s was %s when saved but is %s here", ctx,
                                  opt->name, set->key, saved, here);
        }
    }
    return NB_OK;
}

/* What a param gets back: its update count and its buffers, still in s. */
typedef struct {
    int64_t step;
    const nb_tensor *saved[NB_OPTIM_MAX_STATE];
    nb_tensor *copy[NB_OPTIM_MAX_STATE];
} restore;

static nb_status find_param_state(const nb_optimizer *opt, int i, const char *const *param_names,
                                  const nb_optimizer_state *s, bool *used, restore *r,
                                  const char *ctx) {
    char buf[TEXT_LEN], key[2 * TEXT_LEN], *end;
    const char *p = param_name(param_names, i, buf);
    if (!p) return nb_fail_status(NB_ERR_NULL, "%s: param name %d is NULL", ctx, i);
    snprintf(key, sizeof key, "%s/step", p);
    const char *step = find_pair(s, key);
    if (!step) return nb_fail_status(NB_ERR_FORMAT, "%s: the saved state has no '%s'", ctx, key);
    errno = 0;
    long long v = strtoll(step, &end, 10);
    if (errno || end == step || *end || v < 0)
        return nb_fail_status(NB_ERR_FORMAT, "%s: '%s' is '%s', not a count", ctx, key, step);
    r->step = v;
    const nb_tensor *param = opt->slots[i].param;
    for (int k = 0; k < NB_OPTIM_MAX_STATE; k++) {
        if (!nb_optim_uses_state(opt->kind, &opt->h, k)) continue;
        snprintf(key, sizeof key, "%s/%s", p, nb_optim_state_name(opt->kind, k));
        const nb_tensor *t = r->saved[k] = take_tensor(s, key, used);
        if (!t && r->step > 0)
            return nb_fail_status(
                NB_ERR_FORMAT, "%s: the saved state has no '%s' (the param was updated %lld times)",
                ctx, key, (long long)r->step);
        if (t && !nb_same_shape(t, param))
            return nb_fail_status(NB_ERR_SHAPE,
                                  "%s: '%s' is %s in the saved state but param %d is %s here", ctx,
                                  key, nb_shape_s(t), i, nb_shape_s(param));
    }
    return NB_OK;
}

/* Copies of the saved buffers, owned like the optimizer's own. */
static nb_status copy_buffers(restore *r, int n) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < NB_OPTIM_MAX_STATE; k++) {
            const nb_tensor *t = r[i].saved[k];
            if (!t) continue;
            r[i].copy[k] = nb_tensor_new_owned("nb_optimizer_set_state", t->shape, t->ndim);
            if (!r[i].copy[k]) return nb_failure_code();
            nb_status s = nb_copy_to(t, nb_ptr(r[i].copy[k]), t->numel);
            if (s != NB_OK) return s;
        }
    return NB_OK;
}

static nb_status check_all(const nb_optimizer *opt, const char *const *param_names,
                           const nb_optimizer_state *s, const char *ctx, float *lr, restore *r) {
    nb_status st = check_settings(opt, s, ctx, lr);
    if (st != NB_OK) return st;
    char count[32];
    snprintf(count, sizeof count, "%d", opt->n_slots);
    const char *saved = find_pair(s, "params");
    if (!saved || strcmp(saved, count))
        return nb_fail_status(NB_ERR_ARG, "%s: the saved state has %s params, the optimizer %d",
                              ctx, saved ? saved : "no count of", opt->n_slots);
    bool *used = nb_calloc((size_t)s->n_tensors + 1, sizeof *used);
    if (!used) return nb_fail_status(NB_ERR_MEMORY, "%s: out of memory", ctx);
    for (int i = 0; i < opt->n_slots && st == NB_OK; i++)
        st = find_param_state(opt, i, param_names, s, used, &r[i], ctx);
    for (int i = 0; i < s->n_tensors && st == NB_OK; i++)
        if (!used[i])
            st = nb_fail_status(NB_ERR_ARG,
                                "%s: the saved state has a tensor '%s' that is no buffer of this "
                                "optimizer's params",
                                ctx, s->names[i] ? s->names[i] : "(NULL)");
    free(used);
    return st;
}

nb_status nb_optimizer_set_state(nb_optimizer *opt, const char *const *param_names,
                                 const nb_optimizer_state *s, const char *context) {
    const char *ctx = context ? context : "nb_optimizer_set_state";
    if (!opt) return nb_fail_null(ctx), nb_failure_code();
    if (!s || (s->n_tensors > 0 && (!s->names || !s->tensors)) ||
        (s->n_pairs > 0 && (!s->keys || !s->values)) || s->n_tensors < 0 || s->n_pairs < 0)
        return nb_fail_status(NB_ERR_NULL, "%s: NULL or malformed state", ctx);
    restore *r = nb_calloc((size_t)opt->n_slots + 1, sizeof *r);
    if (!r) return nb_fail_status(NB_ERR_MEMORY, "%s: out of memory", ctx);
    float lr[2];
    nb_status st = check_all(opt, param_names, s, ctx, lr, r);
    if (st == NB_OK) st = copy_buffers(r, opt->n_slots);
    int64_t product_step = 0; /* the params usually share their count: one product for all */
    double product = 1.0;
    for (int i = 0; i < opt->n_slots; i++) { /* on success the copies replace the buffers */
        nb_optim_slot *slot = &opt->slots[i];
        for (int k = 0; k < NB_OPTIM_MAX_STATE; k++) {
            nb_tensor **drop = st == NB_OK ? &slot->state[k] : &r[i].copy[k];
            if (*drop) nb_tensor_release(*drop);
            if (st == NB_OK) slot->state[k] = r[i].copy[k];
        }
        if (st == NB_OK) {
            slot->step = r[i].step;
            if (opt->kind == NB_OPTIM_NADAM && slot->step != product_step) {
                product_step = slot->step;
                product = nb_optim_mu_product(&opt->h, product_step);
            }
            slot->mu_product = opt->kind == NB_OPTIM_NADAM ? product : 1.0;
        }
    }
    if (st == NB_OK) {
        opt->lr = lr[0];
        opt->base_lr = lr[1];
    }
    free(r);
    return st;
}

/* ---- a new optimizer from saved pairs ------------------------------------------------------ */
/* text -> the field of s in opt; false with an error naming the key */
static bool parse_setting(nb_optimizer *opt, const setting *s, const char *text, const char *ctx) {
    static const char *const schedules[] = {"constant", "step", "exponential", "cosine"};
    char *field = (char *)opt + s->offset, *end = NULL;
    errno = 0;
    switch (s->type) {
    case FLOAT: {
        float v = strtof(text, &end);
        if (errno || end == text || *end || !isfinite(v)) break;
        *(float *)field = v;
        return true;
    }
    case BOOL:
        if (strcmp(text, "true") && strcmp(text, "false")) break;
        *(bool *)field = !strcmp(text, "true");
        return true;
    case INT: {
        long v = strtol(text, &end, 10);
        if (errno || end == text || *end || v < INT32_MIN || v > INT32_MAX) break;
        *(int *)field = (int)v;
        return true;
    }
    case SCHEDULE:
        for (int k = 0; k < 4; k++)
            if (!strcmp(text, schedules[k])) return *(nb_schedule_kind *)field = k, true;
        break;
    }
    nb_fail(NB_ERR_FORMAT, "%s: the optimizer's %s is '%s', not a valid value", ctx, s->key, text);
    return false;
}

/* The constructor of the kind, so that the values pass the same checks as a user's. */
static nb_optimizer *construct(const nb_optimizer *p) {
    const nb_optim_hparams *h = &p->h;
    switch (p->kind) {
    case NB_OPTIM_SGD:
        return nb_sgd(p->lr, h->momentum, h->nesterov, h->weight_decay);
    case NB_OPTIM_ADAGRAD:
        return nb_adagrad(p->lr, h->initial_accumulator, h->eps);
    case NB_OPTIM_RMSPROP:
        return nb_rmsprop(p->lr, h->rho, h->momentum, h->eps, h->centered);
    case NB_OPTIM_ADAM:
        if (!strcmp(p->name, "adamw"))
            return nb_adamw(p->lr, h->beta1, h->beta2, h->eps, h->weight_decay);
        if (h->weight_decay != 0.0f) /* Adam's decay is in AdamW, the update rule's field is 0 */
            return nb_fail(NB_ERR_ARG, "nb_adam: weight_decay is %g, but adam has none (adamw has)",
                           (double)h->weight_decay);
        return nb_adam(p->lr, h->beta1, h->beta2, h->eps, h->amsgrad);
    case NB_OPTIM_NADAM:
        return nb_nadam(p->lr, h->beta1, h->beta2, h->eps, h->momentum_decay);
    case NB_OPTIM_ADAMAX:
        return nb_adamax(p->lr, h->beta1, h->beta2, h->eps);
    case NB_OPTIM_ADADELTA:
        return nb_adadelta(p->lr, h->rho, h->eps);
    }
    return nb_fail(NB_ERR_ARG, "nb_optimizer_from_state: unknown optimizer kind %d", (int)p->kind);
}

nb_optimizer *nb_optimizer_from_state(const nb_optimizer_state *s, const char *context) {
    const char *ctx = context ? context : "nb_optimizer_from_state";
    if (!s || (s->n_pairs > 0 && (!s->keys || !s->values)) || s->n_pairs < 0)
        return nb_fail(NB_ERR_NULL, "%s: NULL or malformed state", ctx);
    const char *name = find_pair(s, "name");
    static const char *const known[] = {"sgd",   "adagrad", "rmsprop", "adam",
                                        "adamw", "nadam",   "adamax",  "adadelta"};
    bool ok = false;
    for (int i = 0; name && i < (int)(sizeof known / sizeof *known); i++)
        ok = ok || !strcmp(name, known[i]);
    if (!ok)
        return nb_fail(NB_ERR_FORMAT,
                       "%s: the optimizer's name is '%s'; known: sgd, adagrad, "
                       "rmsprop, adam, adamw, nadam, adamax, adadelta",
                       ctx, name ? name : "(none)");
    nb_optimizer *parsed = nb_optimizer_from_name(name), *opt = NULL;
    for (int i = 0; parsed && i < N_SETTINGS; i++) {
        const setting *set = &settings[i];
        if (!applies(set, parsed)) continue;
        const char *text = find_pair(s, set->key);
        if (!text) text = set->absent;
        if (!text) {
            nb_fail(NB_ERR_FORMAT, "%s: the %s optimizer has no %s", ctx, name, set->key);
            break;
        }
        if (!parse_setting(parsed, set, text, ctx)) break;
        if (i == N_SETTINGS - 1) opt = construct(parsed);
    }
    bool fine = opt && nb_optimizer_set_schedule(opt, &parsed->schedule) == NB_OK &&
                nb_optimizer_set_clipping(opt, parsed->clip_norm, parsed->clip_value) == NB_OK &&
                nb_optimizer_set_lr_decay(opt, parsed->lr_decay) == NB_OK &&
                nb_optimizer_set_lr(opt, parsed->base_lr) == NB_OK;
    if (fine) opt->lr = parsed->lr; /* checked by construct */
    nb_optimizer_free(parsed);
    if (fine) return opt;
    nb_optimizer_free(opt);
    if (opt || parsed) { /* a constructor's message: say which file it came from */
        char why[1024];
        snprintf(why, sizeof why, "%s", nb_error());
        if (strncmp(why, ctx, strlen(ctx))) nb_fail(nb_failure_code(), "%s: %s", ctx, why);
    }
    return NULL;
}
