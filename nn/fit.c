/* The Keras workflow's loop: fit, evaluate, predict, History, callbacks.
 *
 * One training step is one scope: forward (the compiled loss, fused with the
 * last activation where that is stable), regularization, backward, optimizer
 * step, then nb_scope_end frees the step's tensors and the next step reuses
 * their memory. Metrics are averaged over samples, as Keras reports them.
 */
#include "nn_internal.h"
#include "nabla/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LOGS (2 * (NB_MODEL_MAX_METRICS + 1))

struct nb_history {
    int epochs, cap, n_keys;
    char keys[MAX_LOGS][48];
    double *values; /* epochs x n_keys */
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- batches: rows idx[0..n) of x, gathered into a new tensor ------------------------- */
static nb_tensor *gather(const nb_tensor *x, const int64_t *idx, int64_t n) {
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = n;
    nb_tensor *b = nb_tensor_new("nb_model_fit", shape, x->ndim);
    if (!b) return NULL;
    int64_t row = x->shape[0] ? x->numel / x->shape[0] : 0;
    for (int64_t i = 0; i < n; i++)
        memcpy(nb_ptr(b) + i * row, nb_ptr(x) + idx[i] * row, (size_t)row * sizeof(float));
    return b;
}

static bool shapes_fit(const char *fn, nb_model *m, const nb_tensor *x, const nb_tensor *y) {
    if (!x || !y) return nb_fail_null(fn), false;
    bool ok =
        x->ndim == m->in_ndim + 1 && x->ndim >= 1 && y->ndim >= 1 && x->shape[0] == y->shape[0];
    for (int i = 0; ok && i < m->in_ndim; i++) ok = x->shape[i + 1] == m->in_shape[i];
    if (!ok)
        nb_fail(NB_ERR_SHAPE,
                "%s: x %s and y %s do not fit the model's input %s with the same "
                "number of samples",
                fn, nb_shape_s(x), nb_shape_s(y), nb_dims_s(m->in_shape, m->in_ndim));
    if (ok && (!nb_is_contiguous(x) || !nb_is_contiguous(y)))
        return nb_fail(NB_ERR_ARG, "%s: x and y must be contiguous (nb_clone them)", fn), false;
    return ok;
}

const int64_t *nb_model_input_shape(const nb_model *m, int *ndim) {
    if (ndim) *ndim = m ? m->in_ndim : 0;
    return m ? m->in_shape : NULL;
}

/* ---- history ----------------------------------------------------------------------------- */
static nb_history *history_new(const nb_model *m, bool validation) {
    nb_history *h = calloc(1, sizeof *h);
    if (!h) return nb_fail(NB_ERR_MEMORY, "nb_model_fit: out of memory");
    snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "loss");
    for (int i = 0; i < m->n_metrics; i++)
        snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "%s", m->metric_names[i]);
    for (int i = 0, n = h->n_keys; validation && i < n; i++) {
        char key[40];
        memcpy(key, h->keys[i], sizeof key);
        snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "val_%.32s", key);
    }
    return h;
}

static bool history_add(nb_history *h, const double *values) {
    if (h->epochs == h->cap) {
        int cap = h->cap ? 2 * h->cap : 16;
        double *v = realloc(h->values, (size_t)cap * (size_t)h->n_keys * sizeof *v);
        if (!v) return false;
        h->values = v;
        h->cap = cap;
    }
    memcpy(h->values + (size_t)h->epochs * (size_t)h->n_keys, values,
           (size_t)h->n_keys * sizeof *values);
    h->epochs++;
    return true;
}

int nb_history_epochs(const nb_history *h) {
    return h ? h->epochs : 0;
}

int nb_history_num_keys(const nb_history *h) {
    return h ? h->n_keys : 0;
}

const char *nb_history_key(const nb_history *h, int i) {
    return h && i >= 0 && i < h->n_keys ? h->keys[i] : NULL;
}

double nb_history_get(const nb_history *h, const char *name, int epoch) {
    if (!h || !name || epoch < 0 || epoch >= h->epochs) return NAN;
    for (int k = 0; k < h->n_keys; k++)
        if (!strcmp(h->keys[k], name))
            return h->values[(size_t)epoch * (size_t)h->n_keys + (size_t)k];
    return NAN;
}

/* "epoch,loss,accuracy,val_loss,val_accuracy" then one row per epoch */
static nb_status write_csv(const char *fn, const nb_history *h, const char *path) {
    nb_atomic_file a;
    FILE *f = nb_atomic_open(&a, fn, path);
    if (!f) return nb_error_code();
    fprintf(f, "epoch");
    for (int k = 0; k < h->n_keys; k++) fprintf(f, ",%s", h->keys[k]);
    fprintf(f, "\n");
    for (int e = 0; e < h->epochs; e++) {
        fprintf(f, "%d", e + 1);
        for (int k = 0; k < h->n_keys; k++)
            fprintf(f, ",%.6g", h->values[(size_t)e * (size_t)h->n_keys + (size_t)k]);
        fprintf(f, "\n");
    }
    return nb_atomic_commit(&a);
}

nb_status nb_history_save_csv(const nb_history *h, const char *path) {
    if (!h || !path) return nb_failc(NB_ERR_NULL, "nb_history_save_csv: NULL history or path");
    return write_csv("nb_history_save_csv", h, path);
}

void nb_history_free(nb_history *h) {
    if (!h) return;
    free(h->values);
    free(h);
}

/* ---- the progress line ----------------------------------------------------------------- */
static void progress(int64_t done, int64_t total, double seconds, int64_t steps,
                     const nb_history *h, const double *values, int n_values, bool final) {
    char bar[31];
    int filled = total ? (int)(30 * done / total) : 30;
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '=' : i == filled ? '>' : '.';
    if (filled == 30) bar[29] = '=';
    bar[30] = '\0';
    int width = snprintf(NULL, 0, "%lld", (long long)total);
    double per_step = steps ? seconds / (double)steps : 0;
    printf("\r%*lld/%lld [%s] - %.0fs %.0f%s/step", width, (long long)done, (long long)total, bar,
           seconds, per_step >= 1e-3 ? per_step * 1e3 : per_step * 1e6,
           per_step >= 1e-3 ? "ms" : "us");
    for (int k = 0; k < n_values; k++) printf(" - %s: %.4f", h->keys[k], values[k]);
    if (final) printf("\n");
    fflush(stdout);
}

/* ---- evaluation: loss and metrics over x, y in batches, without gradients ---------------- */
static nb_status evaluate(nb_model *m, const nb_tensor *x, const nb_tensor *y, int64_t bs,
                          double *values) {
    int64_t n = x->shape[0];
    double sums[NB_MODEL_MAX_METRICS + 1] = {0};
    int64_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    if (!idx) return nb_failc(NB_ERR_MEMORY, "nb_model_evaluate: out of memory");
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    nb_no_grad_begin();
    nb_status s = NB_OK;
    for (int64_t at = 0; at < n && s == NB_OK; at += bs) {
        int64_t size = n - at < bs ? n - at : bs;
        nb_scope_begin();
        nb_tensor *xb = gather(x, idx + at, size), *yb = gather(y, idx + at, size), *pred = NULL;
        nb_tensor *loss = xb && yb ? nb_model_forward_loss(m, xb, yb, false, &pred) : NULL;
        if (!loss)
            s = nb_error_code();
        else {
            sums[0] += nb_item(loss) * (double)size;
            for (int k = 0; k < m->n_metrics; k++)
                sums[k + 1] += nb_model_metric(m, k, pred, yb) * (double)size;
        }
        nb_scope_end();
    }
    nb_no_grad_end();
    free(idx);
    for (int k = 0; k <= m->n_metrics; k++) values[k] = n ? sums[k] / (double)n : NAN;
    return s;
}

int nb_model_evaluate(nb_model *m, nb_tensor *x, nb_tensor *y, int batch_size, double *values,
                      int max_values) {
    double v[NB_MODEL_MAX_METRICS + 1];
    if (!m) return nb_fail_null("nb_model_evaluate"), -1;
    if (!m->compiled)
        return nb_fail(NB_ERR_STATE,
                       "nb_model_evaluate: compile the model first (nb_model_compile)"),
               -1;
    if (!shapes_fit("nb_model_evaluate", m, x, y)) return -1;
    if (batch_size < 0)
        return nb_fail(NB_ERR_ARG, "nb_model_evaluate: batch size %d", batch_size), -1;
    if (evaluate(m, x, y, batch_size ? batch_size : 32, v) != NB_OK) return -1;
    int n = m->n_metrics + 1 < max_values ? m->n_metrics + 1 : max_values;
    for (int k = 0; values && k < n; k++) values[k] = v[k];
    return n;
}

nb_tensor *nb_model_predict(nb_model *m, nb_tensor *x, int batch_size) {
    if (!m || !x) return nb_fail_null("nb_model_predict");
    if (batch_size < 0) return nb_fail(NB_ERR_ARG, "nb_model_predict: batch size %d", batch_size);
    int64_t n = x->ndim ? x->shape[0] : 0, bs = batch_size ? batch_size : 32;
    nb_layer *last = m->n_layers ? m->layers[m->n_layers - 1] : NULL;
    if (!last) return nb_fail(NB_ERR_STATE, "nb_model_predict: the model has no layers");
    int64_t shape[NB_MAX_DIMS];
    shape[0] = n;
    memcpy(shape + 1, last->out_shape, sizeof(int64_t) * (size_t)last->out_ndim);
    nb_tensor *out = nb_tensor_new("nb_model_predict", shape, last->out_ndim + 1);
    if (!out) return NULL;
    if (!nb_is_contiguous(x))
        return nb_fail(NB_ERR_ARG, "nb_model_predict: x must be contiguous (nb_clone it)");
    nb_tensor xc = *x;
    for (int64_t at = 0; at < n; at += bs) {
        int64_t size = n - at < bs ? n - at : bs;
        nb_scope_begin();
        nb_no_grad_begin();
        nb_tensor rows = xc; /* a view of rows at..at+size */
        rows.shape[0] = size;
        rows.numel = x->numel / n * size;
        rows.offset = x->offset + at * (x->numel / n);
        nb_tensor *xb = nb_view_new(&rows, rows.shape, rows.strides, rows.ndim, rows.offset);
        nb_tensor *y = xb ? nb_model_forward(m, xb, false) : NULL;
        nb_no_grad_end();
        if (y) nb_copy_to(y, nb_ptr(out) + at * (out->numel / n), y->numel);
        nb_scope_end();
        if (!y) return NULL;
    }
    return out;
}

/* ---- fit --------------------------------------------------------------------------------- */
typedef struct {
    nb_tensor *x, *y, *vx, *vy; /* training and validation data (views) */
} fit_data;

static nb_tensor *rows_view(nb_tensor *t, int64_t from, int64_t to) {
    return nb_slice(t, 0, from, to, 1);
}

/* Keras's validation_split: the last fraction of the samples, before shuffling */
static nb_status split_data(nb_tensor *x, nb_tensor *y, const nb_fit_opts *o, fit_data *d) {
    d->x = x;
    d->y = y;
    if (o->val_x || o->val_y) {
        d->vx = o->val_x;
        d->vy = o->val_y;
        return NB_OK;
    }
    if (!(o->validation_split >= 0 && o->validation_split < 1))
        return nb_failc(NB_ERR_ARG, "nb_model_fit: validation_split %g must be in [0, 1)",
                        o->validation_split);
    if (o->validation_split == 0) return NB_OK;
    /* Keras: the first int(n * (1 - split)) samples train. The split is a float:
     * 0.2f is 0.20000000298, which would make 1000 * 0.8 into 799.99; rounding it
     * to six decimals first gives the 800 a user expects. */
    double split = round((double)o->validation_split * 1e6) / 1e6;
    int64_t n = x->shape[0], at = (int64_t)((double)n * (1.0 - split));
    if (at < 1 || at >= n)
        return nb_failc(NB_ERR_ARG,
                        "nb_model_fit: validation_split %g of %lld samples leaves "
                        "nothing to train on or to validate",
                        o->validation_split, (long long)n);
    d->x = rows_view(x, 0, at);
    d->y = rows_view(y, 0, at);
    d->vx = rows_view(x, at, n);
    d->vy = rows_view(y, at, n);
    return d->x && d->y && d->vx && d->vy ? NB_OK : nb_error_code();
}

/* The step fit runs, traced once per batch shape when fit uses a graph:
 * inputs x, y; outputs the loss and, when metrics need them, the predictions. */
static nb_status fit_step(void *ctx, nb_tensor *const *in, int n, nb_tensor **out, int *n_out) {
    (void)n;
    nb_model *m = ctx;
    *n_out = m->n_metrics ? 2 : 1;
    return nb_model_train_on_batch(m, in[0], in[1], &out[0], m->n_metrics ? &out[1] : NULL);
}

nb_graph *nb_model_trace_step(nb_model *m, nb_tensor *x, nb_tensor *y, const nb_graph_opts *opts) {
    if (!m) return nb_fail(NB_ERR_NULL, "nb_model_trace_step: model is NULL");
    return nb_trace_ex(fit_step, m, (nb_tensor *[]){x, y}, 2, opts);
}

/* one optimizer step on rows idx[0..size); adds the loss and metrics to sums.
 * With graph (not NULL), the step is traced into *graph the first time and
 * replayed after. */
static nb_status train_step(nb_model *m, const fit_data *d, const int64_t *idx, int64_t size,
                            double *sums, nb_graph **graph) {
    nb_scope_begin();
    nb_tensor *in[2] = {gather(d->x, idx, size), gather(d->y, idx, size)}, *out[2] = {0};
    nb_status s = in[0] && in[1] ? NB_OK : nb_error_code();
    if (s == NB_OK && !graph) {
        s = fit_step(m, in, 2, out, &(int){0});
    } else if (s == NB_OK && !*graph) {
        *graph = nb_model_trace_step(m, in[0], in[1], &(nb_graph_opts){.quiet = true});
        s = *graph ? NB_OK : nb_error_code();
        if (s == NB_OK) nb_graph_outputs(*graph, out);
    } else if (s == NB_OK) {
        s = nb_graph_run(*graph, in, 2, out);
    }
    if (s == NB_OK) {
        sums[0] += nb_item(out[0]) * (double)size;
        for (int k = 0; k < m->n_metrics; k++)
            sums[k + 1] += nb_model_metric(m, k, out[1], in[1]) * (double)size;
    }
    nb_scope_end();
    return s;
}

static nb_status check_fit(nb_model *m, nb_tensor *x, nb_tensor *y, const nb_fit_opts *o) {
    if (!m) return nb_fail_null("nb_model_fit"), nb_error_code();
    if (!m->compiled)
        return nb_failc(NB_ERR_STATE, "nb_model_fit: compile the model first (nb_model_compile)");
    if (!shapes_fit("nb_model_fit", m, x, y)) return nb_error_code();
    if (o->epochs < 0 || o->batch_size < 0)
        return nb_failc(NB_ERR_ARG,
                        "nb_model_fit: epochs %d and batch size %d must not be negative", o->epochs,
                        o->batch_size);
    if ((o->val_x == NULL) != (o->val_y == NULL))
        return nb_failc(NB_ERR_ARG, "nb_model_fit: give both val_x and val_y, or neither");
    if (o->val_x && !shapes_fit("nb_model_fit (validation data)", m, o->val_x, o->val_y))
        return nb_error_code();
    if (o->initial_epoch < 0)
        return nb_failc(NB_ERR_ARG, "nb_model_fit: initial_epoch is %d, expected >= 0",
                        o->initial_epoch);
    if (o->resume && !o->checkpoint)
        return nb_failc(NB_ERR_ARG, "nb_model_fit: resume needs a checkpoint path");
    return NB_OK;
}

/* one epoch over the training data in shuffled (or plain) order */
static nb_status run_epoch(nb_model *m, const fit_data *d, const nb_fit_opts *o, int64_t bs,
                           int64_t *order, const nb_history *h, double *logs, int verbose,
                           nb_graph **graph) {
    int64_t n = d->x->shape[0], steps = 0;
    double sums[NB_MODEL_MAX_METRICS + 1] = {0}, start = now();
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = n - 1; i > 0 && !o->no_shuffle; i--) { /* Fisher-Yates, seeded */
        int64_t j = (int64_t)(nb_rng_u32() % (uint32_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    nb_status s = NB_OK;
    for (int64_t at = 0; at < n && s == NB_OK; at += bs, steps++) {
        int64_t size = n - at < bs ? n - at : bs;
        s = train_step(m, d, order + at, size, sums, o->eager ? NULL : graph);
        for (int k = 0; k <= m->n_metrics; k++) logs[k] = sums[k] / (double)(at + size);
        if (verbose == 1 && s == NB_OK && (steps % 20 == 0 || at + size == n))
            progress(at + size, n, now() - start, steps + 1, h, logs, m->n_metrics + 1, false);
    }
    if (s == NB_OK && d->vx) s = evaluate(m, d->vx, d->vy, bs, logs + m->n_metrics + 1);
    if (s == NB_OK && verbose) progress(n, n, now() - start, steps, h, logs, h->n_keys, true);
    return s;
}

nb_history *nb_model_fit(nb_model *m, nb_tensor *x, nb_tensor *y, const nb_fit_opts *opts) {
    nb_fit_opts o = opts ? *opts : (nb_fit_opts){0};
    if (check_fit(m, x, y, &o) != NB_OK) return NULL;
    int first = o.initial_epoch; /* a checkpoint knows where its run stopped */
    if (o.resume && access(o.checkpoint, F_OK) == 0 &&
        nb_model_load_checkpoint(m, o.checkpoint, &first) != NB_OK)
        return NULL;
    /* zero fields mean the defaults: one epoch, batches of 32, a progress bar */
    int epochs = o.epochs ? o.epochs : 1, verbose = o.verbose == 0 ? 1 : o.verbose;
    if (verbose < 0) verbose = 0;
    int64_t bs = o.batch_size ? o.batch_size : 32;
    fit_data d = {0};
    if (split_data(x, y, &o, &d) != NB_OK) return NULL;
    nb_history *h = history_new(m, d.vx != NULL);
    int64_t *order = malloc((size_t)(d.x->shape[0] ? d.x->shape[0] : 1) * sizeof *order);
    if (!h || !order) {
        nb_history_free(h);
        free(order);
        return nb_fail(NB_ERR_MEMORY, "nb_model_fit: out of memory");
    }
    for (int c = 0; c < o.n_callbacks; c++)
        if (o.callbacks[c].on_train_begin) o.callbacks[c].on_train_begin(m, o.callbacks[c].ctx);
    nb_status s = NB_OK;
    bool stop = false;
    nb_graph *graph = NULL;
    for (int e = first; e < epochs && s == NB_OK && !stop; e++) {
        double logs[MAX_LOGS];
        if (verbose) printf("Epoch %d/%d\n", e + 1, epochs);
        s = run_epoch(m, &d, &o, bs, order, h, logs, verbose, &graph);
        if (s != NB_OK) break;
        if (!history_add(h, logs)) {
            s = nb_failc(NB_ERR_MEMORY, "nb_model_fit: out of memory");
            break;
        }
        if (o.checkpoint && (s = nb_model_save_checkpoint(m, o.checkpoint, e + 1)) != NB_OK) break;
        nb_epoch_logs el = {e, h->n_keys, NULL, logs};
        const char *names[MAX_LOGS];
        for (int k = 0; k < h->n_keys; k++) names[k] = h->keys[k];
        el.names = names;
        for (int c = 0; c < o.n_callbacks; c++)
            if (o.callbacks[c].on_epoch_end &&
                o.callbacks[c].on_epoch_end(m, &el, o.callbacks[c].ctx))
                stop = true;
    }
    nb_graph_free(graph);
    for (int c = 0; c < o.n_callbacks; c++)
        if (o.callbacks[c].on_train_end) o.callbacks[c].on_train_end(m, o.callbacks[c].ctx);
    free(order);
    if (s != NB_OK) {
        nb_history_free(h);
        return NULL;
    }
    return h;
}

/* ---- callbacks: early stopping ------------------------------------------------------------ */
typedef struct {
    char monitor[40];
    int patience, wait;
    bool restore_best, maximize, seen;
    double best;
    nb_tensor **saved; /* the best epoch's weights, owned here */
    int n_saved;
} early_stopping;

static double log_value(const nb_epoch_logs *l, const char *name) {
    for (int k = 0; k < l->n; k++)
        if (!strcmp(l->names[k], name)) return l->values[k];
    return NAN;
}

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
}

static void es_begin(nb_model *m, void *ctx) {
    (void)m;
    early_stopping *es = ctx;
    es->wait = 0;
    es->seen = false;
}

static bool es_epoch_end(nb_model *m, const nb_epoch_logs *l, void *ctx) {
    early_stopping *es = ctx;
    double v = log_value(l, es->monitor); /* NaN (diverged) is never an improvement */
    bool better = !isnan(v) && (!es->seen || (es->maximize ? v > es->best : v < es->best));
    if (better) {
        es->best = v;
        es->seen = true;
        es->wait = 0;
        if (es->restore_best) es_save(es, m);
        return false;
    }
    return ++es->wait >= es->patience;
}

static void es_end(nb_model *m, void *ctx) {
    early_stopping *es = ctx;
    if (!es->restore_best || !es->saved) return;
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

nb_callback nb_early_stopping(const char *monitor, int patience, bool restore_best) {
    early_stopping *es = calloc(1, sizeof *es);
    if (!es) return (nb_callback){0};
    snprintf(es->monitor, sizeof es->monitor, "%s", monitor ? monitor : "val_loss");
    es->patience = patience > 0 ? patience : 1;
    es->restore_best = restore_best;
    es->maximize = strstr(es->monitor, "acc") != NULL; /* accuracies rise, losses fall */
    return (nb_callback){.on_train_begin = es_begin,
                         .on_epoch_end = es_epoch_end,
                         .on_train_end = es_end,
                         .free = es_free,
                         .ctx = es};
}

/* ---- callbacks: CSV logger (the file is rewritten whole, atomically, each epoch) ----------- */
typedef struct {
    char path[4096];
    nb_history h;
    double values[1024 * MAX_LOGS];
} csv_logger;

static bool csv_epoch_end(nb_model *m, const nb_epoch_logs *l, void *ctx) {
    (void)m;
    csv_logger *c = ctx;
    if (c->h.epochs == 0) {
        c->h.n_keys = l->n;
        for (int k = 0; k < l->n; k++)
            snprintf(c->h.keys[k], sizeof c->h.keys[0], "%s", l->names[k]);
    }
    if (c->h.epochs < 1024) {
        memcpy(c->values + (size_t)c->h.epochs * (size_t)l->n, l->values,
               (size_t)l->n * sizeof(double));
        c->h.epochs++;
    }
    c->h.values = c->values;
    write_csv("nb_csv_logger", &c->h, c->path);
    return false;
}

static void csv_free(void *ctx) {
    free(ctx);
}

void nb_callback_free(nb_callback *cb) {
    if (cb && cb->free && cb->ctx) cb->free(cb->ctx);
    if (cb) *cb = (nb_callback){0};
}

nb_callback nb_csv_logger(const char *path) {
    csv_logger *c = calloc(1, sizeof *c);
    if (!c || !path) {
        free(c);
        return (nb_callback){0};
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    return (nb_callback){.on_epoch_end = csv_epoch_end, .free = csv_free, .ctx = c};
}
