/* Model weights as safetensors: every weight under its full name
 * ("dense_1/kernel"), batch-norm statistics included, written atomically. */
#include "nn_internal.h"

#include "nabla/safetensors.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* the names and tensors of every weight, in layer order */
static int collect(nb_model *m, const char ***names, nb_tensor ***tensors) {
    int n = nb_model_num_weights(m);
    *names = calloc((size_t)(n ? n : 1), sizeof **names);
    *tensors = calloc((size_t)(n ? n : 1), sizeof **tensors);
    if (!*names || !*tensors) return -1;
    for (int i = 0; i < n; i++) {
        nb_weight *w = nb_model_weight(m, i);
        (*names)[i] = w->name;
        (*tensors)[i] = w->t;
    }
    return n;
}

nb_status nb_model_save_weights_meta(const nb_model *model, const char *path,
                                     const char *const *meta_keys, const char *const *meta_values,
                                     int n_meta) {
    nb_model *m = (nb_model *)model; /* weights are only read */
    if (!m || !path || n_meta < 0 || n_meta > 14 || (n_meta && (!meta_keys || !meta_values)))
        return nb_fail_status(NB_ERR_NULL, "nb_model_save_weights: NULL model, path or metadata");
    const char **names;
    nb_tensor **tensors;
    int n = collect(m, &names, &tensors);
    const char *keys[16] = {"format", "model"}, *values[16] = {"nabla", m->name};
    for (int i = 0; i < n_meta; i++) {
        keys[2 + i] = meta_keys[i];
        values[2 + i] = meta_values[i];
    }
    nb_status s = n < 0 ? nb_fail_status(NB_ERR_MEMORY, "nb_model_save_weights: out of memory")
                        : nb_safetensors_save(path, names, tensors, n, keys, values, 2 + n_meta);
    free(names);
    free(tensors);
    return s;
}

nb_status nb_model_save_weights(const nb_model *m, const char *path) {
    return nb_model_save_weights_meta(m, path, NULL, NULL, 0);
}

nb_status nb_model_load_weights(nb_model *m, const char *path) {
    if (!m || !path)
        return nb_fail_status(NB_ERR_NULL, "nb_model_load_weights: NULL model or path");
    const char **names;
    nb_tensor **tensors;
    int n = collect(m, &names, &tensors);
    nb_status s = n < 0 ? nb_fail_status(NB_ERR_MEMORY, "nb_model_load_weights: out of memory")
                        : nb_safetensors_load(path, names, tensors, n);
    free(names);
    free(tensors);
    return s;
}

/* ---- checkpoints ----------------------------------------------------------------------------
 * Weights, optimizer state, epoch and random generator in one safetensors file. The
 * optimizer names its params by the weights they are ("dense/kernel"); its tensors go in
 * under "optimizer/" and its text pairs under "optimizer.". */
#define TEXT_LEN    256 /* safetensors readers keep names and metadata up to 255 bytes */
#define OPT_TENSORS "optimizer/"
#define OPT_PAIRS   "optimizer."

/* names[i]: the weight that the optimizer's param i is */
static nb_status param_names(nb_model *m, const char *fn, const char ***out) {
    int n = nb_optimizer_num_params(m->opt);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    if (!names) return nb_fail_status(NB_ERR_MEMORY, "%s: out of memory", fn);
    for (int i = 0; i < n; i++) {
        nb_tensor *p = nb_optimizer_param(m->opt, i);
        for (int w = 0; w < nb_model_num_weights(m) && !names[i]; w++)
            if (nb_model_weight(m, w)->t == p) names[i] = nb_model_weight(m, w)->name;
        if (!names[i]) {
            free(names);
            return nb_fail_status(NB_ERR_STATE,
                                  "%s: the optimizer's param %d %s is no weight of the model", fn,
                                  i, nb_shape_s(p));
        }
    }
    *out = names;
    return NB_OK;
}

/* text[row] = prefix + s; NULL with an error when it is too long for the file */
static const char *prefixed(char (*text)[TEXT_LEN], int row, const char *prefix, const char *s) {
    if (snprintf(text[row], TEXT_LEN, "%s%s", prefix, s) < TEXT_LEN) return text[row];
    return nb_fail(NB_ERR_ARG, "nb_model_save_checkpoint: the name '%s%.40s...' is too long",
                   prefix, s);
}

typedef struct {
    const char **names, **keys, **values;
    nb_tensor **tensors;
    char (*text)[TEXT_LEN];
    int n, n_meta;
} ckpt_lists;

static void lists_free(ckpt_lists *l) {
    free(l->names);
    free(l->keys);
    free(l->values);
    free(l->tensors);
    free(l->text);
}

/* Weights, then the optimizer's tensors; the metadata, then the optimizer's pairs. */
static nb_status fill_lists(nb_model *m, int epoch, const nb_optimizer_state *st, ckpt_lists *l,
                            char (*numbers)[32]) {
    int nw = nb_model_num_weights(m);
    for (int i = 0; i < nw; i++) {
        l->names[l->n] = nb_model_weight(m, i)->name;
        l->tensors[l->n++] = nb_model_weight(m, i)->t;
    }
    int row = 0;
    for (int i = 0; i < st->n_tensors; i++) {
        if (!(l->names[l->n] = prefixed(l->text, row++, OPT_TENSORS, st->names[i])))
            return nb_failure_code();
        l->tensors[l->n++] = st->tensors[i];
    }
    snprintf(numbers[0], 32, "%d", epoch);
    snprintf(numbers[1], 32, "%llu", (unsigned long long)nb_rng_get_state());
    const char *keys[] = {"format", "model", "content", "epoch", "rng_state"};
    const char *values[] = {"nabla", m->name, "checkpoint", numbers[0], numbers[1]};
    for (int i = 0; i < 5; i++) {
        l->keys[l->n_meta] = keys[i];
        l->values[l->n_meta++] = values[i];
    }
    for (int i = 0; i < st->n_pairs; i++) {
        if (!(l->keys[l->n_meta] = prefixed(l->text, row++, OPT_PAIRS, st->keys[i])))
            return nb_failure_code();
        l->values[l->n_meta++] = st->values[i];
    }
    return NB_OK;
}

static nb_status write_checkpoint(nb_model *m, const char *path, int epoch,
                                  const nb_optimizer_state *st) {
    size_t n = (size_t)nb_model_num_weights(m) + (size_t)st->n_tensors + 1;
    size_t n_meta = 5 + (size_t)st->n_pairs + 1;
    ckpt_lists l = {.names = calloc(n, sizeof(char *)),
                    .keys = calloc(n_meta, sizeof(char *)),
                    .values = calloc(n_meta, sizeof(char *)),
                    .tensors = calloc(n, sizeof(nb_tensor *)),
                    .text = calloc(n + n_meta, TEXT_LEN)};
    char numbers[2][32];
    nb_status s = l.names && l.keys && l.values && l.tensors && l.text
                      ? fill_lists(m, epoch, st, &l, numbers)
                      : nb_fail_status(NB_ERR_MEMORY, "nb_model_save_checkpoint: out of memory");
    if (s == NB_OK)
        s = nb_safetensors_save(path, l.names, l.tensors, l.n, l.keys, l.values, l.n_meta);
    lists_free(&l);
    return s;
}

nb_status nb_model_save_checkpoint(const nb_model *model, const char *path, int epoch) {
    const char *fn = "nb_model_save_checkpoint";
    nb_model *m = (nb_model *)model; /* weights and state are only read */
    if (!m || !path) return nb_fail_status(NB_ERR_NULL, "%s: NULL model or path", fn);
    if (!m->opt)
        return nb_fail_status(
            NB_ERR_STATE, "%s: compile the model first: a checkpoint holds the optimizer's state",
            fn);
    if (epoch < 0) return nb_fail_status(NB_ERR_ARG, "%s: epoch is %d, expected >= 0", fn, epoch);
    const char **names = NULL;
    nb_optimizer_state st = {0};
    nb_status s = param_names(m, fn, &names);
    if (s == NB_OK) s = nb_optimizer_get_state(m->opt, names, &st);
    if (s == NB_OK) s = write_checkpoint(m, path, epoch, &st);
    nb_optimizer_state_free(&st);
    free(names);
    return s;
}

/* ---- loading a checkpoint: check everything, then change everything ------------------------- */
static int find_tensor(const nb_safetensors *f, const char *name) {
    for (int i = 0; i < nb_safetensors_count(f); i++)
        if (!strcmp(nb_safetensors_name(f, i), name)) return i;
    return -1;
}

static bool is_weight(nb_model *m, const char *name) {
    for (int w = 0; w < nb_model_num_weights(m); w++)
        if (!strcmp(nb_model_weight(m, w)->name, name)) return true;
    return false;
}

/* Every weight is in the file with its shape, and the file has no other weights. */
static nb_status check_weights(nb_model *m, const nb_safetensors *f, const char *ctx) {
    int nw = nb_model_num_weights(m);
    for (int w = 0; w < nw; w++) {
        const nb_weight *wt = nb_model_weight(m, w);
        int i = find_tensor(f, wt->name);
        if (i < 0)
            return nb_fail_status(NB_ERR_ARG, "%s: the checkpoint has no weight '%s'", ctx,
                                  wt->name);
        const nb_tensor *t = nb_safetensors_tensor(f, i);
        if (!nb_same_shape(t, wt->t))
            return nb_fail_status(NB_ERR_SHAPE,
                                  "%s: weight '%s' is %s in the checkpoint but %s here", ctx,
                                  wt->name, nb_shape_s(t), nb_shape_s(wt->t));
    }
    for (int i = 0; i < nb_safetensors_count(f); i++) {
        const char *name = nb_safetensors_name(f, i);
        if (strncmp(name, OPT_TENSORS, strlen(OPT_TENSORS)) && !is_weight(m, name))
            return nb_fail_status(
                NB_ERR_ARG,
                "%s: the checkpoint has a weight '%s' that the model has not (the "
                "model has %d weights)",
                ctx, name, nw);
    }
    return NB_OK;
}

/* The epoch and the generator's state from the metadata. */
static nb_status read_counters(const nb_safetensors *f, const char *ctx, int *epoch,
                               uint64_t *rng) {
    const char *content = nb_safetensors_meta(f, "content");
    if (!content || strcmp(content, "checkpoint"))
        return nb_fail_status(
            NB_ERR_FORMAT,
            "%s: not a checkpoint (it has no optimizer state); a weights file loads "
            "with nb_model_load_weights",
            ctx);
    const char *e = nb_safetensors_meta(f, "epoch"), *r = nb_safetensors_meta(f, "rng_state");
    char *end = NULL;
    errno = 0;
    long v = e ? strtol(e, &end, 10) : -1;
    if (!e || errno || end == e || *end || v < 0 || v > INT_MAX)
        return nb_fail_status(NB_ERR_FORMAT, "%s: the epoch '%s' is not a count", ctx,
                              e ? e : "(none)");
    unsigned long long s = r ? strtoull(r, &end, 10) : 0;
    if (!r || errno || end == r || *end || r[0] == '-')
        return nb_fail_status(NB_ERR_FORMAT,
                              "%s: the random generator's state '%s' is not a number", ctx,
                              r ? r : "(none)");
    *epoch = (int)v;
    *rng = (uint64_t)s;
    return NB_OK;
}

/* The optimizer's state as the file has it. Which pairs to look up comes from the
 * optimizer's own state: its keys are the ones a state like it has. */
static nb_status file_state(const nb_safetensors *f, nb_model *m, const nb_optimizer_state *own,
                            nb_optimizer_state *st, char (*text)[TEXT_LEN]) {
    for (int i = 0; i < nb_safetensors_count(f); i++) {
        const char *name = nb_safetensors_name(f, i);
        if (strncmp(name, OPT_TENSORS, strlen(OPT_TENSORS)) || is_weight(m, name)) continue;
        st->names[st->n_tensors] = name + strlen(OPT_TENSORS);
        st->tensors[st->n_tensors++] = nb_safetensors_tensor(f, i);
    }
    for (int i = 0; i < own->n_pairs; i++) {
        snprintf(text[i], TEXT_LEN, "%s%s", OPT_PAIRS, own->keys[i]);
        const char *value = nb_safetensors_meta(f, text[i]);
        if (!value) continue;
        st->keys[st->n_pairs] = own->keys[i];
        st->values[st->n_pairs++] = value;
    }
    return NB_OK;
}

static nb_status restore_optimizer(nb_model *m, const nb_safetensors *f, const char *ctx) {
    const char **names = NULL;
    nb_optimizer_state own = {0}, st = {0};
    int n = nb_safetensors_count(f);
    nb_status s = param_names(m, "nb_model_load_checkpoint", &names);
    if (s == NB_OK) s = nb_optimizer_get_state(m->opt, names, &own);
    char(*text)[TEXT_LEN] = s == NB_OK ? calloc((size_t)own.n_pairs + 1, TEXT_LEN) : NULL;
    st.names = calloc((size_t)n + 1, sizeof(char *));
    st.tensors = calloc((size_t)n + 1, sizeof(nb_tensor *));
    st.keys = calloc((size_t)own.n_pairs + 1, sizeof(char *));
    st.values = calloc((size_t)own.n_pairs + 1, sizeof(char *));
    if (s == NB_OK && !(text && st.names && st.tensors && st.keys && st.values))
        s = nb_fail_status(NB_ERR_MEMORY, "nb_model_load_checkpoint: out of memory");
    if (s == NB_OK) s = file_state(f, m, &own, &st, text);
    if (s == NB_OK) s = nb_optimizer_set_state(m->opt, names, &st, ctx);
    free(st.names);
    free(st.tensors);
    free(st.keys);
    free(st.values);
    free(text);
    nb_optimizer_state_free(&own);
    free(names);
    return s;
}

static nb_status read_checkpoint(nb_model *m, const nb_safetensors *f, const char *ctx,
                                 int *epoch) {
    int e = 0;
    uint64_t rng = 0;
    nb_status s = read_counters(f, ctx, &e, &rng);
    if (s == NB_OK) s = check_weights(m, f, ctx);
    if (s == NB_OK) s = restore_optimizer(m, f, ctx); /* all or nothing, and the last check */
    if (s != NB_OK) return s;
    for (int w = 0; w < nb_model_num_weights(m); w++) {
        nb_weight *wt = nb_model_weight(m, w);
        const nb_tensor *t = nb_safetensors_tensor(f, find_tensor(f, wt->name));
        nb_copy_from(wt->t, nb_ptr(t), t->numel);
    }
    nb_rng_set_state(rng);
    if (epoch) *epoch = e;
    return NB_OK;
}

nb_status nb_model_load_checkpoint(nb_model *m, const char *path, int *epoch) {
    const char *fn = "nb_model_load_checkpoint";
    if (!m || !path) return nb_fail_status(NB_ERR_NULL, "%s: NULL model or path", fn);
    if (!m->opt)
        return nb_fail_status(
            NB_ERR_STATE, "%s: compile the model first, with the optimizer of the checkpoint's run",
            fn);
    char ctx[4200];
    snprintf(ctx, sizeof ctx, "%s: %s", fn, path);
    nb_status s = nb_scope_begin(); /* the file's tensors live in it, until the end */
    if (s != NB_OK) return s;
    nb_safetensors *f = nb_safetensors_read(path);
    if (f) {
        s = read_checkpoint(m, f, ctx, epoch);
    } else { /* the reader's message names the file and the byte; say who asked */
        char why[1024];
        snprintf(why, sizeof why, "%s", nb_error());
        s = nb_fail_status(nb_failure_code(), "%s: %s", fn, why);
    }
    nb_safetensors_free(f);
    nb_scope_end();
    return s;
}
