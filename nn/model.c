/* Sequential models: a list of layers, each taking the previous one's output.
 *
 *   x: [N, input_shape...] -> layer 0 -> layer 1 -> ... -> [N, last output shape...]
 *
 * Shapes are checked when a layer is added, so a model that was built runs
 * on any batch of the right input shape. compile records the loss, the
 * optimizer and the metrics that fit.c uses.
 */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

nb_model *nb_sequential(const int64_t *input_shape, int ndim) {
    if (!input_shape || ndim < 1 || ndim >= NB_MAX_DIMS)
        return nb_fail(NB_ERR_ARG,
                       "nb_sequential: input_shape needs 1 to %d dimensions (without the batch "
                       "axis); got %d",
                       NB_MAX_DIMS - 1, ndim);
    for (int i = 0; i < ndim; i++)
        if (input_shape[i] < 1)
            return nb_fail(NB_ERR_ARG, "nb_sequential: input_shape %s has a size below 1",
                           nb_dims_s(input_shape, ndim));
    nb_model *m = calloc(1, sizeof *m);
    if (!m) return nb_fail(NB_ERR_MEMORY, "nb_sequential: out of memory");
    snprintf(m->name, sizeof m->name, "sequential");
    m->lifetime = nb_lifetime();
    m->in_ndim = ndim;
    memcpy(m->in_shape, input_shape, (size_t)ndim * sizeof *input_shape);
    return m;
}

nb_model *nb_sequential_of(const int64_t *input_shape, int ndim, nb_layer *const *layers, int n) {
    nb_model *m = nb_sequential(input_shape, ndim);
    if (m && n < 0) {
        nb_model_free(m);
        return nb_fail(NB_ERR_ARG, "nb_sequential_of: %d layers, expected >= 0", n);
    }
    if (m && n > 0 && !layers) {
        nb_model_free(m);
        return nb_fail(NB_ERR_NULL, "nb_sequential_of: %d layers but the layer array is NULL", n);
    }
    bool ok = m != NULL;
    for (int i = 0; i < n && layers; i++) {
        if (ok && nb_model_add(m, layers[i]) == NB_OK) continue;
        if (ok) { /* nb_model_add freed layers[i]; free the ones not yet added */
            for (int k = i + 1; k < n; k++) nb_layer_free(layers[k]);
            ok = false;
            break;
        }
        nb_layer_free(layers[i]);
    }
    if (m && !ok) { /* nb_model_add recorded why */
        nb_model_free(m);
        return NULL;
    }
    return m;
}

nb_status nb_model_set_name(nb_model *m, const char *name) {
    if (!m || !name) return nb_fail_status(NB_ERR_NULL, "nb_model_set_name: model or name is NULL");
    if (!name[0] || strlen(name) >= sizeof m->name)
        return nb_fail_status(NB_ERR_ARG, "nb_model_set_name: name must have 1 to %d characters",
                              (int)sizeof m->name - 1);
    snprintf(m->name, sizeof m->name, "%s", name);
    return NB_OK;
}

void nb_model_free(nb_model *m) {
    if (!m) return;
    bool stale = m->lifetime != nb_lifetime(); /* nb_shutdown freed the weights */
    if (stale)
        nb_fail(NB_ERR_STATE,
                "nb_model_free: the model was made before nb_shutdown, which freed its "
                "weights; only the model's own memory is released (free models before "
                "nb_shutdown)");
    /* first, it points at the weights; its state tensors belong to nobody's
     * scope, so nb_shutdown left them for it to free even when stale */
    nb_optimizer_free(m->opt);
    for (int i = 0; i < m->n_layers; i++)
        if (stale)
            free(m->layers[i]);
        else
            nb_layer_destroy(m->layers[i]);
    free(m->layers);
    free(m->params);
    free(m);
}

/* ---- adding layers ------------------------------------------------------------------- */
static nb_layer *find_layer(const nb_model *m, const char *name) {
    for (int i = 0; i < m->n_layers; i++)
        if (!strcmp(m->layers[i]->name, name)) return m->layers[i];
    return NULL;
}

/* Keras's automatic names, counted per model: dense, dense_1, dense_2, ... */
static void pick_name(const nb_model *m, nb_layer *l) {
    const char *base = l->ops->base_name;
    int k = 0;
    for (int i = 0; i < m->n_layers; i++) k += m->layers[i]->ops == l->ops;
    for (;; k++) {
        if (k == 0)
            snprintf(l->name, sizeof l->name, "%s", base);
        else
            snprintf(l->name, sizeof l->name, "%s_%d", base, k);
        if (!find_layer(m, l->name)) return;
    }
}

/* "layer 'dense_1' (Dense) cannot take the output of 'conv2d' (Conv2D), (None, 8, 3, 3): why" */
static nb_status build_error(const nb_model *m, const nb_layer *l, nb_status built, bool recorded) {
    char why[512], shape[128], prev[160];
    if (recorded)
        snprintf(why, sizeof why, "%s", nb_error());
    else
        snprintf(why, sizeof why, "its build failed with status %d", (int)built);
    nb_layer_shape_str(l->in_shape, l->in_ndim, shape, sizeof shape);
    if (m->n_layers == 0)
        snprintf(prev, sizeof prev, "the model's input");
    else
        snprintf(prev, sizeof prev, "the output of '%s' (%s)", m->layers[m->n_layers - 1]->name,
                 m->layers[m->n_layers - 1]->ops->type);
    return nb_fail_status(NB_ERR_SHAPE, "nb_model_add: layer '%s' (%s) cannot take %s, %s: %s",
                          l->name, l->ops->type, prev, shape, why);
}

/* Append l's trainable weights to m->params (and to the optimizer once compiled). */
static nb_status add_params(nb_model *m, nb_layer *l) {
    int first = m->n_params;
    if (!nb_grow((void **)&m->params, &m->cap_params, m->n_params + l->n_weights,
                 sizeof(nb_tensor *)))
        return nb_fail_status(NB_ERR_MEMORY, "nb_model_add: out of memory");
    for (int i = 0; i < l->n_weights; i++)
        if (l->weights[i].trainable) m->params[m->n_params++] = l->weights[i].t;
    if (m->opt && m->n_params > first)
        return nb_optimizer_add_params(m->opt, m->params + first, m->n_params - first);
    return NB_OK;
}

nb_status nb_model_collect_params(nb_model *m) {
    m->n_params = 0;
    for (int i = 0; i < m->n_layers; i++) {
        nb_layer *l = m->layers[i];
        if (!nb_grow((void **)&m->params, &m->cap_params, m->n_params + l->n_weights,
                     sizeof(nb_tensor *)))
            return nb_fail_status(NB_ERR_MEMORY, "nb_layer_set_trainable: out of memory");
        for (int k = 0; k < l->n_weights; k++)
            if (l->weights[k].trainable) m->params[m->n_params++] = l->weights[k].t;
    }
    return NB_OK;
}

static nb_status add_layer(nb_model *m, nb_layer *l) {
    if (l->user_named && find_layer(m, l->name))
        return nb_fail_status(NB_ERR_ARG, "nb_model_add: the model already has a layer named '%s'",
                              l->name);
    if (!l->user_named) pick_name(m, l);
    const nb_layer *prev = m->n_layers ? m->layers[m->n_layers - 1] : NULL;
    l->in_ndim = prev ? prev->out_ndim : m->in_ndim;
    memcpy(l->in_shape, prev ? prev->out_shape : m->in_shape, sizeof l->in_shape);
    l->sees_model_input = l->in_ndim == m->in_ndim &&
                          !memcmp(l->in_shape, m->in_shape, sizeof(int64_t) * (size_t)m->in_ndim);
    unsigned long before = nb_failure_count();
    nb_status built = l->ops->build(l);
    if (built == NB_ERR_MEMORY) return built;
    if (built != NB_OK) return build_error(m, l, built, nb_failure_count() != before);
    if (!nb_grow((void **)&m->layers, &m->cap_layers, m->n_layers + 1, sizeof(nb_layer *)))
        return nb_fail_status(NB_ERR_MEMORY, "nb_model_add: out of memory");
    l->built = l->in_model = true;
    l->model = m;
    m->layers[m->n_layers++] = l;
    return add_params(m, l);
}

nb_status nb_model_add(nb_model *m, nb_layer *layer) {
    if (!layer) {
        if (nb_error_code() == NB_OK) nb_fail(NB_ERR_NULL, "nb_model_add: layer is NULL");
        return nb_failure_code(); /* keep the message of the constructor that failed */
    }
    if (layer->in_model)
        return nb_fail_status(NB_ERR_STATE, "nb_model_add: layer '%s' is already in a model",
                              layer->name);
    if (!m) {
        nb_layer_destroy(layer);
        return nb_fail_status(NB_ERR_NULL, "nb_model_add: model is NULL");
    }
    nb_status s = add_layer(m, layer);
    if (s != NB_OK && !layer->in_model) nb_layer_destroy(layer);
    return s;
}

/* ---- running ------------------------------------------------------------------------- */
static bool input_fits(const nb_model *m, const nb_tensor *x) {
    if (x->ndim != m->in_ndim + 1) return false;
    for (int i = 0; i < m->in_ndim; i++)
        if (x->shape[i + 1] != m->in_shape[i]) return false;
    return true;
}

/* Layers in order, each in a name scope (anomaly messages and pictures name
 * it); the last layer's activation only if final_activation. */
static nb_tensor *run(nb_model *m, nb_tensor *x, bool training, bool final_activation) {
    if (!m) return nb_fail(NB_ERR_NULL, "nb_model_forward: model is NULL");
    if (!x) return nb_fail_null("nb_model_forward");
    if (m->n_layers == 0)
        return nb_fail(NB_ERR_STATE, "nb_model_forward: model '%s' has no layers", m->name);
    if (!input_fits(m, x)) {
        char want[128];
        nb_layer_shape_str(m->in_shape, m->in_ndim, want, sizeof want);
        return nb_fail(NB_ERR_SHAPE,
                       "nb_model_forward: input %s does not fit the model's input shape %s",
                       nb_shape_s(x), want);
    }
    for (int i = 0; i < m->n_layers && x; i++) {
        nb_layer *l = m->layers[i];
        nb_name_scope_begin(l->name);
        x = l->ops->forward(l, x, training);
        if (i < m->n_layers - 1 || final_activation) x = nb_act_apply(l->act, x);
        nb_name_scope_end();
    }
    return x;
}

nb_tensor *nb_model_forward(nb_model *m, nb_tensor *x, bool training) {
    return run(m, x, training, true);
}

/* ---- what the model has ---------------------------------------------------------------- */
int nb_model_parameters(nb_model *m, nb_tensor ***params) {
    if (!m || !params) return (nb_fail(NB_ERR_NULL, "nb_model_parameters: NULL argument"), -1);
    *params = m->params;
    return m->n_params;
}

int64_t nb_model_param_count(const nb_model *m) {
    int64_t n = 0;
    for (int i = 0; m && i < m->n_layers; i++) n += nb_layer_param_count(m->layers[i]);
    return n;
}

int64_t nb_model_trainable_count(const nb_model *m) {
    int64_t n = 0;
    for (int i = 0; m && i < m->n_layers; i++) n += nb_layer_trainable_count(m->layers[i]);
    return n;
}

int nb_model_num_layers(const nb_model *m) {
    return m ? m->n_layers : 0;
}

nb_layer *nb_model_layer(nb_model *m, int i) {
    if (!m || i < 0 || i >= m->n_layers)
        return nb_fail(NB_ERR_ARG, "nb_model_layer: no layer %d (the model has %d)", i,
                       m ? m->n_layers : 0);
    return m->layers[i];
}

int nb_model_num_weights(const nb_model *m) {
    int n = 0;
    for (int i = 0; m && i < m->n_layers; i++) n += m->layers[i]->n_weights;
    return n;
}

nb_weight *nb_model_weight(nb_model *m, int i) {
    int rest = i;
    for (int k = 0; m && k < m->n_layers && rest >= 0; k++) {
        if (rest < m->layers[k]->n_weights) return &m->layers[k]->weights[rest];
        rest -= m->layers[k]->n_weights;
    }
    return nb_fail(NB_ERR_ARG, "nb_model_weight: no weight %d (the model has %d)", i,
                   nb_model_num_weights(m));
}

/* ---- regularization: l1 * sum|W| + l2 * sum W^2 over each regularized kernel ----------- */
bool nb_model_has_regularization(const nb_model *m) {
    for (int i = 0; m && i < m->n_layers; i++) {
        const nb_layer *l = m->layers[i];
        if (l->n_weights > 0 && (l->kernel_reg.l1 > 0 || l->kernel_reg.l2 > 0)) return true;
    }
    return false;
}

nb_tensor *nb_model_regularization_loss(nb_model *m) {
    if (!m) return nb_fail(NB_ERR_NULL, "nb_model_regularization_loss: model is NULL");
    nb_tensor *total = NULL;
    for (int i = 0; i < m->n_layers; i++) {
        nb_layer *l = m->layers[i];
        nb_regularizer r = l->kernel_reg;
        if (l->n_weights == 0 || (r.l1 <= 0 && r.l2 <= 0)) continue;
        nb_tensor *w = l->weights[NB_W_KERNEL].t, *term = NULL;
        if (r.l1 > 0) term = nb_mul_scalar(nb_sum_all(nb_abs(w)), r.l1);
        if (r.l2 > 0) {
            nb_tensor *l2 = nb_mul_scalar(nb_sum_all(nb_square(w)), r.l2);
            term = term ? nb_add(term, l2) : l2;
        }
        total = total ? nb_add(total, term) : term;
        if (!total) return NULL;
    }
    return total ? total : nb_scalar(0.0f);
}

/* ---- compile ---------------------------------------------------------------------------- */
static nb_status check_compile(nb_model *m, const nb_compile_opts *o, nb_loss_kind *kind,
                               nb_metric_kind *kinds) {
    const char *fn = "nb_model_compile";
    if (!m) return nb_fail_status(NB_ERR_NULL, "%s: model is NULL", fn);
    if (!o->loss)
        return nb_fail_status(NB_ERR_NULL,
                              "%s: a loss is needed (\"mse\", \"categorical_crossentropy\", "
                              "...)",
                              fn);
    if (!nb_loss_from_name(fn, o->loss, kind) ||
        !nb_loss_check_logits(fn, o->loss, *kind, o->from_logits))
        return nb_failure_code();
    if (o->n_metrics < 0 || o->n_metrics > NB_MODEL_MAX_METRICS ||
        (o->n_metrics > 0 && !o->metrics))
        return nb_fail_status(NB_ERR_ARG, "%s: %d metrics; at most %d", fn, o->n_metrics,
                              NB_MODEL_MAX_METRICS);
    for (int i = 0; i < o->n_metrics; i++) {
        const char *name = o->metrics[i];
        if (!name) return nb_fail_status(NB_ERR_NULL, "%s: metric %d is NULL", fn, i);
        if (strlen(name) >= sizeof m->metric_names[0])
            return nb_fail_status(NB_ERR_ARG, "%s: metric name '%s' is too long", fn, name);
        if (!nb_metric_from_name(fn, name, *kind, &kinds[i])) return nb_failure_code();
    }
    if (m->n_layers == 0)
        return nb_fail_status(
            NB_ERR_STATE, "%s: model '%s' has no layers; add them before compiling", fn, m->name);
    return NB_OK;
}

/* A cross-entropy on probabilities after an output that is none trains to a
 * poor model without any error (the clipped logs see logits as
 * probabilities); so does from_logits after a softmax. Say so once, at
 * compile, not at every batch. */
static void warn_on_logits_mismatch(const nb_model *m) {
    if (!nb_loss_is_crossentropy(m->loss)) return;
    const nb_layer *last = m->layers[m->n_layers - 1];
    bool prob = last->act == NB_ACT_SOFTMAX || last->act == NB_ACT_SIGMOID;
    const char *want = m->loss == NB_LOSS_BINARY_CE ? "sigmoid" : "softmax";
    if (!prob && !m->from_logits)
        nb_warn("nb_model_compile: loss '%s' takes probabilities, but the last layer '%s' (%s) has "
                "activation '%s': give it activation '%s', or compile with from_logits "
                "(nb_model_compile_ex)",
                nb_loss_name(m->loss), last->name, last->ops->type, nb_act_name(last->act), want);
    if (prob && m->from_logits)
        nb_warn("nb_model_compile: from_logits is set, but the last layer '%s' (%s) has "
                "activation '%s', so its outputs are probabilities already: drop the activation "
                "or from_logits",
                last->name, last->ops->type, nb_act_name(last->act));
}

nb_status nb_model_compile_ex(nb_model *m, const nb_compile_opts *opts) {
    if (!opts) return nb_fail_status(NB_ERR_NULL, "nb_model_compile: options are NULL");
    nb_optimizer *opt = opts->optimizer;
    nb_loss_kind kind;
    nb_metric_kind kinds[NB_MODEL_MAX_METRICS];
    nb_status s = check_compile(m, opts, &kind, kinds);
    if (s != NB_OK) {
        if (!m || opt != m->opt) nb_optimizer_free(opt); /* the model owns it, even now */
        return s;
    }
    if (!opt && !(opt = nb_optimizer_from_name("rmsprop"))) return nb_failure_code();
    if (opt != m->opt) {
        nb_optimizer_free(m->opt);
        m->opt = opt;
        if ((s = nb_optimizer_add_params(opt, m->params, m->n_params)) != NB_OK) return s;
    }
    m->loss = kind;
    m->from_logits = opts->from_logits;
    m->n_metrics = opts->n_metrics;
    for (int i = 0; i < opts->n_metrics; i++) {
        m->metrics[i] = kinds[i];
        snprintf(m->metric_names[i], sizeof m->metric_names[i], "%s", opts->metrics[i]);
    }
    m->compiled = true;
    warn_on_logits_mismatch(m);
    return NB_OK;
}

nb_status nb_model_compile(nb_model *m, const char *loss, nb_optimizer *opt,
                           const char *const *metrics, int n_metrics) {
    return nb_model_compile_ex(
        m, &(nb_compile_opts){
               .loss = loss, .optimizer = opt, .metrics = metrics, .n_metrics = n_metrics});
}

/* ---- the loss, on logits where that is stable ------------------------------------------------
 * A last softmax (1-D output) or sigmoid with its cross-entropy is left out
 * of the forward pass, and the loss is the fused op on the logits; with
 * from_logits the outputs are the logits already. */
static bool fuses_last_activation(const nb_model *m) {
    if (!m->compiled || m->from_logits || m->n_layers == 0) return false;
    const nb_layer *last = m->layers[m->n_layers - 1];
    bool flat = last->out_ndim == 1; /* the fused softmax ops take [N, K] logits */
    if (last->act == NB_ACT_SOFTMAX && flat)
        return m->loss == NB_LOSS_CATEGORICAL_CE || m->loss == NB_LOSS_SPARSE_CATEGORICAL_CE;
    return last->act == NB_ACT_SIGMOID && m->loss == NB_LOSS_BINARY_CE;
}

bool nb_model_loss_is_fused(const nb_model *m) {
    return m && m->compiled && (fuses_last_activation(m) || m->from_logits);
}

/* sum_i w_i l_i / N, Keras's sum over the batch size; w: [N] */
static nb_tensor *weighted_loss(const nb_model *m, bool logits, nb_tensor *out, nb_tensor *y,
                                nb_tensor *w) {
    nb_tensor *per = nb_loss_per_sample(m->loss, logits, out, y);
    if (!per) return NULL;
    if (per->ndim != 1 || w->ndim != 1 || w->shape[0] != per->shape[0])
        return nb_fail(NB_ERR_SHAPE, "nb_model_forward_loss: sample weights %s for losses %s",
                       nb_shape_s(w), nb_shape_s(per));
    return nb_mul_scalar(nb_sum_all(nb_mul(per, w)), 1.0f / (float)per->shape[0]);
}

nb_tensor *nb_model_forward_loss(nb_model *m, nb_tensor *x, nb_tensor *y, bool training,
                                 nb_tensor **pred) {
    return nb_model_forward_loss_weighted(m, x, y, NULL, training, pred);
}

nb_tensor *nb_model_forward_loss_weighted(nb_model *m, nb_tensor *x, nb_tensor *y, nb_tensor *w,
                                          bool training, nb_tensor **pred) {
    if (pred) *pred = NULL;
    if (!m || !x || !y) return nb_fail_null("nb_model_forward_loss");
    if (!m->compiled)
        return nb_fail(NB_ERR_STATE, "nb_model_forward_loss: compile model '%s' first", m->name);
    bool fuse = fuses_last_activation(m);
    nb_tensor *out = run(m, x, training, !fuse); /* logits when fused */
    bool logits = fuse || m->from_logits;
    nb_tensor *loss = !out ? NULL
                      : w  ? weighted_loss(m, logits, out, y, w)
                           : nb_loss_apply(m->loss, logits, out, y);
    if (!pred || !loss) return loss;
    if (fuse) {
        nb_no_grad_begin(); /* the predictions feed metrics only */
        out = nb_act_apply(m->layers[m->n_layers - 1]->act, out);
        nb_no_grad_end();
        if (!out) return NULL;
    }
    *pred = out;
    return loss;
}

double nb_model_metric(const nb_model *m, int i, const nb_tensor *pred, const nb_tensor *y) {
    if (!m || i < 0 || i >= m->n_metrics)
        return (nb_fail(NB_ERR_ARG, "nb_model_metric: no compiled metric %d", i), NAN);
    return nb_metric_eval(m->metrics[i], pred, y, m->from_logits);
}

nb_status nb_model_train_on_batch(nb_model *m, nb_tensor *x, nb_tensor *y, nb_tensor **loss,
                                  nb_tensor **pred) {
    return nb_model_train_on_batch_weighted(m, x, y, NULL, loss, pred);
}

nb_status nb_model_train_on_batch_weighted(nb_model *m, nb_tensor *x, nb_tensor *y, nb_tensor *w,
                                           nb_tensor **loss, nb_tensor **pred) {
    if (loss) *loss = NULL;
    if (!m || !x || !y) return (nb_fail_null("nb_model_train_on_batch"), nb_failure_code());
    if (!m->compiled)
        return nb_fail_status(NB_ERR_STATE, "nb_model_train_on_batch: compile model '%s' first",
                              m->name);
    nb_tensor *p = NULL, *l = nb_model_forward_loss_weighted(m, x, y, w, true, pred ? &p : NULL);
    nb_tensor *total =
        l && nb_model_has_regularization(m) ? nb_add(l, nb_model_regularization_loss(m)) : l;
    nb_status s = total ? nb_backward(total) : nb_failure_code();
    if (s == NB_OK) s = nb_optimizer_step(m->opt);
    nb_optimizer_zero_grad(m->opt);
    if (s != NB_OK) return s;
    if (loss) *loss = l;
    if (pred) *pred = p;
    return NB_OK;
}
