/* The Keras workflow's loop: fit, evaluate, predict.
 *
 * One training step is one scope: forward (the compiled loss, fused with the
 * last activation where that is stable), regularization, backward, optimizer
 * step, then nb_scope_end frees the step's tensors and the next step reuses
 * their memory. Metrics are averaged over samples, as Keras reports them.
 * History is in history.c, the progress output in progress.c, callbacks in
 * callbacks.c.
 */
#include "fit_internal.h"
#include "nabla/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* a mean over no samples is no number: an error, not a History of NaNs */
static bool has_samples(const char *fn, const char *what, const nb_tensor *x) {
    if (x->ndim >= 1 && x->shape[0] > 0) return true;
    nb_fail(NB_ERR_ARG, "%s: %s has no samples (shape %s)", fn, what, nb_shape_s(x));
    return false;
}

const int64_t *nb_model_input_shape(const nb_model *m, int *ndim) {
    if (ndim) *ndim = m ? m->in_ndim : 0;
    return m ? m->in_shape : NULL;
}

/* ---- metrics accumulate over the batches of an epoch or an evaluation --------------------- */
static nb_metric_state *metric_states(const nb_model *m) {
    nb_metric_state *st = malloc((size_t)(m->n_metrics ? m->n_metrics : 1) * sizeof *st);
    for (int k = 0; st && k < m->n_metrics; k++) nb_metric_reset(&st[k]);
    return st;
}

static nb_status update_metrics(const nb_model *m, nb_metric_state *st, const nb_tensor *pred,
                                const nb_tensor *y) {
    for (int k = 0; k < m->n_metrics; k++) {
        nb_status s = nb_metric_update(m->metrics[k], &st[k], pred, y, m->from_logits);
        if (s != NB_OK) return s;
    }
    return NB_OK;
}

/* ---- evaluation: loss and metrics over x, y in batches, without gradients ---------------- */
/* rows idx[0..size) of the weights w ([N] floats), as a tensor; NULL w: none */
static nb_tensor *weight_rows(const float *w, const int64_t *idx, int64_t size, bool *ok) {
    *ok = true;
    if (!w) return NULL;
    nb_tensor *t = nb_zeros(NB_SHAPE(size));
    float *p = t ? nb_data(t) : NULL;
    for (int64_t i = 0; p && i < size; i++) p[i] = w[idx[i]];
    *ok = p != NULL;
    return p ? t : NULL;
}

static nb_status evaluate(nb_model *m, const nb_tensor *x, const nb_tensor *y, const float *w,
                          int64_t bs, double *values) {
    int64_t n = x->shape[0];
    double loss_sum = 0;
    nb_metric_state *st = metric_states(m);
    int64_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    if (!idx || !st) {
        free(idx), free(st);
        return nb_fail_status(NB_ERR_MEMORY, "nb_model_evaluate: out of memory");
    }
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    nb_no_grad_begin();
    nb_status s = NB_OK;
    for (int64_t at = 0; at < n && s == NB_OK; at += bs) {
        int64_t size = n - at < bs ? n - at : bs;
        nb_scope_begin();
        nb_tensor *xb = nb_take_rows(x, idx + at, size), *yb = nb_take_rows(y, idx + at, size);
        nb_tensor *pred = NULL;
        bool ok;
        nb_tensor *wb = weight_rows(w, idx + at, size, &ok);
        nb_tensor *loss =
            xb && yb && ok ? nb_model_forward_loss_weighted(m, xb, yb, wb, false, &pred) : NULL;
        if (!loss)
            s = nb_failure_code();
        else {
            loss_sum += nb_item(loss) * (double)size;
            s = update_metrics(m, st, pred, yb);
        }
        nb_scope_end();
    }
    nb_no_grad_end();
    free(idx);
    values[0] = n ? loss_sum / (double)n : NAN;
    for (int k = 0; k < m->n_metrics; k++) values[k + 1] = nb_metric_result(m->metrics[k], &st[k]);
    free(st);
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
    if (!has_samples("nb_model_evaluate", "x", x)) return -1;
    if (batch_size < 0)
        return nb_fail(NB_ERR_ARG, "nb_model_evaluate: batch size %d", batch_size), -1;
    if (evaluate(m, x, y, NULL, batch_size ? batch_size : 32, v) != NB_OK) return -1;
    int n = m->n_metrics + 1 < max_values ? m->n_metrics + 1 : max_values;
    for (int k = 0; values && k < n; k++) values[k] = v[k];
    return n;
}

int nb_model_evaluate_named(nb_model *m, nb_tensor *x, nb_tensor *y, int batch_size,
                            const char **names, double *values, int max) {
    if (max < 0) return nb_fail(NB_ERR_ARG, "nb_model_evaluate_named: max %d", max), -1;
    double v[NB_MODEL_MAX_METRICS + 1];
    int n = nb_model_evaluate(m, x, y, batch_size, v, max);
    for (int k = 0; k < n; k++) {
        if (names) names[k] = k ? m->metric_names[k - 1] : "loss";
        if (values) values[k] = v[k];
    }
    return n;
}

nb_tensor *nb_model_predict(nb_model *m, nb_tensor *x, int batch_size) {
    if (!m || !x) return nb_fail_null("nb_model_predict");
    if (batch_size < 0) return nb_fail(NB_ERR_ARG, "nb_model_predict: batch size %d", batch_size);
    if (!has_samples("nb_model_predict", "x", x)) return NULL;
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
    float *w, *vw; /* their sample weights (class weights in w), or NULL; w owns the memory */
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
        return nb_fail_status(NB_ERR_ARG, "nb_model_fit: validation_split %g must be in [0, 1)",
                              o->validation_split);
    if (o->validation_split == 0) return NB_OK;
    /* Keras: the first int(n * (1 - split)) samples train. The split is a float:
     * 0.2f is 0.20000000298, which would make 1000 * 0.8 into 799.99; rounding it
     * to six decimals first gives the 800 a user expects. */
    double split = round((double)o->validation_split * 1e6) / 1e6;
    int64_t n = x->shape[0], at = (int64_t)((double)n * (1.0 - split));
    if (at < 1 || at >= n)
        return nb_fail_status(NB_ERR_ARG,
                              "nb_model_fit: validation_split %g of %lld samples leaves "
                              "nothing to train on or to validate",
                              o->validation_split, (long long)n);
    d->x = rows_view(x, 0, at);
    d->y = rows_view(y, 0, at);
    d->vx = rows_view(x, at, n);
    d->vy = rows_view(y, at, n);
    return d->x && d->y && d->vx && d->vy ? NB_OK : nb_failure_code();
}

/* The step fit runs, traced once per batch shape when fit uses a graph:
 * inputs x, y; outputs the loss and, when metrics need them, the predictions. */
static nb_status fit_step(void *ctx, nb_tensor *const *in, int n, nb_tensor **out, int *n_out) {
    nb_model *m = ctx;
    *n_out = m->n_metrics ? 2 : 1;
    return nb_model_train_on_batch_weighted(m, in[0], in[1], n > 2 ? in[2] : NULL, &out[0],
                                            m->n_metrics ? &out[1] : NULL);
}

nb_graph *nb_model_trace_step(nb_model *m, nb_tensor *x, nb_tensor *y, const nb_graph_opts *opts) {
    if (!m) return nb_fail(NB_ERR_NULL, "nb_model_trace_step: model is NULL");
    return nb_trace_ex(fit_step, m, (nb_tensor *[]){x, y}, 2, opts);
}

/* one optimizer step on rows idx[0..size); adds the loss and metrics to sums.
 * With graph (not NULL), the step is traced into *graph the first time and
 * replayed after. */
static nb_status train_step(nb_model *m, const fit_data *d, const int64_t *idx, int64_t size,
                            double *loss_sum, nb_metric_state *st, nb_graph **graph) {
    nb_scope_begin();
    bool ok;
    nb_tensor *in[3] = {nb_take_rows(d->x, idx, size), nb_take_rows(d->y, idx, size),
                        weight_rows(d->w, idx, size, &ok)};
    int n_in = d->w ? 3 : 2;
    nb_tensor *out[2] = {0};
    nb_status s = in[0] && in[1] && ok ? NB_OK : nb_failure_code();
    if (s == NB_OK && !graph) {
        s = fit_step(m, in, n_in, out, &(int){0});
    } else if (s == NB_OK && !*graph) {
        *graph = nb_trace_ex(fit_step, m, in, n_in, &(nb_graph_opts){.quiet = true});
        s = *graph ? NB_OK : nb_failure_code();
        if (s == NB_OK) nb_graph_outputs(*graph, out);
    } else if (s == NB_OK) {
        s = nb_graph_run(*graph, in, n_in, out);
    }
    if (s == NB_OK) {
        *loss_sum += nb_item(out[0]) * (double)size;
        s = update_metrics(m, st, out[1], in[1]);
    }
    nb_scope_end();
    return s;
}

/* the label of sample i for class_weight: y [N] / [N, 1] as an index, [N, K] its argmax */
static int64_t label_of(const nb_tensor *y, int64_t i) {
    int64_t k = y->ndim == 2 ? y->shape[1] : 1;
    if (k == 1) {
        float v = nb_get_flat(y, i);
        return v == floorf(v) && v >= 0 && v < 1e9f ? (int64_t)v : -1;
    }
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
        if (nb_get_flat(y, i * k + j) > nb_get_flat(y, i * k + best)) best = j;
    return best;
}

/* d->w: sample_weight times class_weight[label] on the training rows, sample_weight
 * alone on the rows validation_split set apart (d->vw); NULL without either */
static nb_status fit_weights(const nb_tensor *x, const nb_tensor *y, const nb_fit_opts *o,
                             fit_data *d) {
    const char *fn = "nb_model_fit";
    const nb_tensor *sw = o->sample_weight;
    int64_t n = x->shape[0], n_train = d->x->shape[0];
    if (!sw && !o->class_weight) return NB_OK;
    if (sw && (sw->ndim != 1 || sw->shape[0] != n))
        return nb_fail_status(NB_ERR_SHAPE, "%s: sample_weight %s for x %s: one weight per sample",
                              fn, nb_shape_s(sw), nb_shape_s(x));
    if (o->class_weight && o->n_class_weight < 1)
        return nb_fail_status(NB_ERR_ARG, "%s: class_weight with %d classes", fn,
                              o->n_class_weight);
    if (o->class_weight && !(y->ndim == 1 || y->ndim == 2))
        return nb_fail_status(NB_ERR_SHAPE,
                              "%s: class_weight needs y as labels [N] / [N, 1] or one-hot "
                              "[N, K]; got %s",
                              fn, nb_shape_s(y));
    if (o->class_weight && y->ndim == 2 && y->shape[1] > 1 && y->shape[1] != o->n_class_weight)
        return nb_fail_status(NB_ERR_SHAPE, "%s: class_weight has %d classes, y %s has %lld", fn,
                              o->n_class_weight, nb_shape_s(y), (long long)y->shape[1]);
    for (int c = 0; o->class_weight && c < o->n_class_weight; c++)
        if (!(o->class_weight[c] >= 0) || !isfinite(o->class_weight[c]))
            return nb_fail_status(NB_ERR_ARG, "%s: class_weight[%d] is %g; weights must be >= 0",
                                  fn, c, o->class_weight[c]);
    float *w = malloc((size_t)n * sizeof *w);
    if (!w) return nb_fail_status(NB_ERR_MEMORY, "%s: out of memory", fn);
    for (int64_t i = 0; i < n; i++) {
        float v = w[i] = sw ? nb_get_flat(sw, i) : 1.0f;
        if (!(v >= 0) || !isfinite(v)) {
            free(w);
            return nb_fail_status(NB_ERR_ARG, "%s: sample_weight[%lld] is %g; weights must be >= 0",
                                  fn, (long long)i, v);
        }
        if (!o->class_weight || i >= n_train) continue;
        int64_t c = label_of(y, i);
        if (c < 0 || c >= o->n_class_weight) {
            free(w);
            return nb_fail_status(NB_ERR_ARG,
                                  "%s: sample %lld has label %g, outside class_weight's %d "
                                  "classes",
                                  fn, (long long)i, nb_get_flat(y, i), o->n_class_weight);
        }
        w[i] *= o->class_weight[c];
    }
    d->w = w;
    if (sw && d->vx && !o->val_x) d->vw = w + n_train;
    return NB_OK;
}

static nb_status check_fit(nb_model *m, nb_tensor *x, nb_tensor *y, const nb_fit_opts *o) {
    if (!m) return nb_fail_null("nb_model_fit"), nb_failure_code();
    if (!m->compiled)
        return nb_fail_status(NB_ERR_STATE,
                              "nb_model_fit: compile the model first (nb_model_compile)");
    if (!shapes_fit("nb_model_fit", m, x, y) || !has_samples("nb_model_fit", "x", x))
        return nb_failure_code();
    if (o->epochs < 0 || o->batch_size < 0)
        return nb_fail_status(NB_ERR_ARG,
                              "nb_model_fit: epochs %d and batch size %d must not be negative",
                              o->epochs, o->batch_size);
    if ((o->val_x == NULL) != (o->val_y == NULL))
        return nb_fail_status(NB_ERR_ARG, "nb_model_fit: give both val_x and val_y, or neither");
    if (o->val_x && (!shapes_fit("nb_model_fit (validation data)", m, o->val_x, o->val_y) ||
                     !has_samples("nb_model_fit", "the validation data", o->val_x)))
        return nb_failure_code();
    if (o->steps_per_epoch < 0 || o->validation_freq < 0)
        return nb_fail_status(NB_ERR_ARG,
                              "nb_model_fit: steps_per_epoch %d and validation_freq %d must not "
                              "be negative",
                              o->steps_per_epoch, o->validation_freq);
    if (o->initial_epoch < 0)
        return nb_fail_status(NB_ERR_ARG, "nb_model_fit: initial_epoch is %d, expected >= 0",
                              o->initial_epoch);
    if (o->resume && !o->checkpoint)
        return nb_fail_status(NB_ERR_ARG, "nb_model_fit: resume needs a checkpoint path");
    for (int c = 0; c < o->n_callbacks; c++) {
        const nb_callback *cb = &o->callbacks[c];
        if (!cb->on_train_begin && !cb->on_epoch_begin && !cb->on_epoch_end && !cb->on_train_end &&
            !cb->on_batch_begin && !cb->on_batch_end && !cb->status)
            return nb_fail_status(
                NB_ERR_ARG, "nb_model_fit: callback %d has no hooks (did its constructor fail?)",
                c);
    }
    return NB_OK;
}

/* the batch hooks; true when one asks to stop */
static bool begin_batch(nb_model *m, const nb_fit_opts *o, int64_t batch) {
    bool stop = false;
    for (int c = 0; c < o->n_callbacks; c++)
        if (o->callbacks[c].on_batch_begin &&
            o->callbacks[c].on_batch_begin(m, (int)batch, o->callbacks[c].ctx))
            stop = true;
    return stop;
}

static bool end_batch(nb_model *m, const nb_fit_opts *o, const nb_history *h, int e, int64_t batch,
                      int64_t size, const double *logs) {
    const char *names[NB_FIT_MAX_LOGS];
    for (int k = 0; k <= m->n_metrics; k++) names[k] = h->keys[k];
    nb_batch_logs bl = {e, size, m->n_metrics + 1, names, logs};
    bool stop = false;
    for (int c = 0; c < o->n_callbacks; c++)
        if (o->callbacks[c].on_batch_end &&
            o->callbacks[c].on_batch_end(m, (int)batch, &bl, o->callbacks[c].ctx))
            stop = true;
    return stop;
}

/* the shuffled (or plain) order of the samples */
static nb_status reorder(const nb_fit_opts *o, int64_t *order, int64_t n) {
    if (!o->no_shuffle) return nb_permutation(order, n);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    return NB_OK;
}

/* Keras's validation_freq as an int: after epochs 1 * freq, 2 * freq, ... (1-based) */
static bool validates(const nb_fit_opts *o, int e) {
    int freq = o->validation_freq ? o->validation_freq : 1;
    return (e + 1) % freq == 0;
}

/* one epoch: a pass over the training data in a new order, or steps_per_epoch
 * batches going on from *cursor in order (a new order when it runs out); logs
 * gets the training values, then the validation values (NaN on an epoch that
 * does not validate). A batch hook's stop ends the epoch after that batch
 * (*stop). */
static nb_status run_epoch(nb_model *m, const fit_data *d, const nb_fit_opts *o, int e, int64_t bs,
                           int64_t *order, int64_t *cursor, const nb_history *h, double *logs,
                           nb_progress *p, nb_graph **graph, int64_t *steps, bool *stop) {
    int64_t n = d->x->shape[0], spe = o->steps_per_epoch, done = 0;
    double loss_sum = 0;
    *steps = 0;
    *stop = false;
    nb_metric_state *st = metric_states(m);
    if (!st) return nb_fail_status(NB_ERR_MEMORY, "nb_model_fit: out of memory");
    nb_status s = NB_OK;
    if (!spe) *cursor = n; /* a new pass */
    while ((spe ? *steps < spe : *steps == 0 || *cursor < n) && s == NB_OK && !*stop) {
        if (*cursor >= n && (s = reorder(o, order, n)) != NB_OK) break;
        if (*cursor >= n) *cursor = 0;
        int64_t at = *cursor, size = n - at < bs ? n - at : bs;
        *stop = begin_batch(m, o, *steps);
        s = train_step(m, d, order + at, size, &loss_sum, st, o->eager ? NULL : graph);
        ++*steps;
        *cursor += size;
        done += size;
        logs[0] = loss_sum / (double)done;
        for (int k = 0; k < m->n_metrics; k++)
            logs[k + 1] = nb_metric_result(m->metrics[k], &st[k]);
        if (s == NB_OK) nb_progress_step(p, done, *steps, h, logs, m->n_metrics + 1);
        if (s == NB_OK && end_batch(m, o, h, e, *steps - 1, size, logs)) *stop = true;
    }
    free(st);
    if (s == NB_OK && d->vx && validates(o, e))
        s = evaluate(m, d->vx, d->vy, d->vw, bs, logs + m->n_metrics + 1);
    else if (d->vx)
        for (int k = 0; k <= m->n_metrics; k++) logs[m->n_metrics + 1 + k] = NAN;
    return s;
}

/* the epoch's rate: the optimizer's schedule at Keras's epoch index, then the
 * callbacks that change it */
static nb_status begin_epoch(nb_model *m, const nb_fit_opts *o, int e) {
    nb_status s = nb_optimizer_schedule_epoch(m->opt, e);
    for (int c = 0; c < o->n_callbacks && s == NB_OK; c++)
        if (o->callbacks[c].on_epoch_begin)
            s = o->callbacks[c].on_epoch_begin(m, e, o->callbacks[c].ctx);
    return s;
}

/* the epoch's logs to every callback; true when one asks to stop */
static bool end_epoch(nb_model *m, const nb_fit_opts *o, const nb_history *h, int e,
                      const double *logs) {
    const char *names[NB_FIT_MAX_LOGS];
    for (int k = 0; k < h->n_keys; k++) names[k] = h->keys[k];
    nb_epoch_logs el = {e, h->n_keys, names, logs};
    bool stop = false;
    for (int c = 0; c < o->n_callbacks; c++)
        if (o->callbacks[c].on_epoch_end &&
            o->callbacks[c].on_epoch_end(m, &el, o->callbacks[c].ctx))
            stop = true;
    return stop;
}

/* after the epoch's hooks: the first callback that failed ends fit */
static nb_status callbacks_status(const nb_fit_opts *o) {
    nb_status s = NB_OK;
    for (int c = 0; c < o->n_callbacks && s == NB_OK; c++)
        if (o->callbacks[c].status) s = o->callbacks[c].status(o->callbacks[c].ctx);
    return s;
}

static nb_status run_epochs(nb_model *m, const fit_data *d, const nb_fit_opts *o, int first,
                            nb_history *h, int64_t *order) {
    int epochs = o->epochs ? o->epochs : 1; /* zero fields mean the defaults */
    int64_t bs = o->batch_size ? o->batch_size : 32;
    int64_t n = d->x->shape[0], cursor = n;
    nb_progress p; /* the samples an epoch visits: steps_per_epoch full batches at most */
    nb_progress_init(&p, o->verbose,
                     o->steps_per_epoch ? (int64_t)o->steps_per_epoch * (bs < n ? bs : n) : n);
    nb_status s = NB_OK;
    nb_graph *graph = NULL;
    bool stop = false;
    for (int e = first; e < epochs && s == NB_OK && !stop; e++) {
        double logs[NB_FIT_MAX_LOGS];
        int64_t steps;
        if ((s = begin_epoch(m, o, e)) != NB_OK) break;
        logs[h->n_keys - 1] = nb_optimizer_get_lr(m->opt);
        nb_progress_epoch_begin(&p, e, epochs);
        if ((s = run_epoch(m, d, o, e, bs, order, &cursor, h, logs, &p, &graph, &steps, &stop)) !=
            NB_OK)
            break;
        nb_progress_epoch_end(&p, steps, h, logs);
        if (!nb_history_add(h, logs)) {
            s = nb_fail_status(NB_ERR_MEMORY, "nb_model_fit: out of memory");
            break;
        }
        stop = end_epoch(m, o, h, e, logs) || stop;
        if ((s = callbacks_status(o)) != NB_OK) break;
        /* after the callbacks: a rate one of them lowered is in the checkpoint */
        if (o->checkpoint) s = nb_model_save_checkpoint(m, o->checkpoint, e + 1);
    }
    nb_graph_free(graph);
    return s;
}

nb_history *nb_model_fit(nb_model *m, nb_tensor *x, nb_tensor *y, const nb_fit_opts *opts) {
    nb_fit_opts o = opts ? *opts : (nb_fit_opts){0};
    if (check_fit(m, x, y, &o) != NB_OK) return NULL;
    int first = o.initial_epoch; /* a checkpoint knows where its run stopped */
    if (o.resume && access(o.checkpoint, F_OK) == 0 &&
        nb_model_load_checkpoint(m, o.checkpoint, &first) != NB_OK)
        return NULL;
    fit_data d = {0};
    if (split_data(x, y, &o, &d) != NB_OK || fit_weights(x, y, &o, &d) != NB_OK) return NULL;
    nb_fit_check_classes(m, d.y, d.vy, o.val_x ? 0.0f : o.validation_split);
    nb_history *h = nb_history_new(m, d.vx != NULL);
    if (h) h->first_epoch = first;
    int64_t *order = malloc((size_t)d.x->shape[0] * sizeof *order);
    if (!h || !order) {
        nb_history_free(h);
        free(order);
        free(d.w);
        return nb_fail(NB_ERR_MEMORY, "nb_model_fit: out of memory");
    }
    for (int c = 0; c < o.n_callbacks; c++)
        if (o.callbacks[c].on_train_begin) o.callbacks[c].on_train_begin(m, o.callbacks[c].ctx);
    nb_status s = run_epochs(m, &d, &o, first, h, order);
    for (int c = 0; c < o.n_callbacks; c++)
        if (o.callbacks[c].on_train_end) o.callbacks[c].on_train_end(m, o.callbacks[c].ctx);
    free(order);
    free(d.w);
    if (s != NB_OK) {
        nb_history_free(h);
        return NULL;
    }
    return h;
}
