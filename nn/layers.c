/* Layers: what every layer shares (names, weights, shapes, counts), and the
 * layers of a multilayer perceptron: Dense, Flatten, Dropout. The CNN layers
 * are in layers_cnn.c, the Activation layer in activation.c.
 *
 * A layer is created unbuilt: it knows its settings (units, activation) but
 * not its input. nb_model_add gives it the previous layer's output shape and
 * calls ops->build, which infers the output shape and creates the weights.
 */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

nb_layer *nb_layer_alloc(const char *fn, const nb_layer_ops *ops) {
    nb_layer *l = calloc(1, sizeof *l);
    if (!l) return nb_fail(NB_ERR_MEMORY, "%s: out of memory", fn);
    l->ops = ops;
    snprintf(l->name, sizeof l->name, "%s", ops->base_name);
    return l;
}

/* Weights live in the root scope, whatever scope is open when the layer is
 * built: they outlive every training step's scope, until nb_model_free. */
static nb_tensor *root_tensor(const int64_t *shape, int ndim) {
    nb_tensor *t = nb_empty(shape, ndim);
    while (t && t->scope > 0) t = nb_keep(t);
    return t;
}

nb_tensor *nb_layer_add_weight(nb_layer *l, const char *role, const int64_t *shape, int ndim,
                               bool trainable, nb_init init, int64_t fan_in, int64_t fan_out) {
    if (l->n_weights == NB_LAYER_MAX_WEIGHTS)
        return nb_fail(NB_ERR_STATE, "nb_model_add: layer '%s' has too many weights", l->name);
    nb_tensor *t = root_tensor(shape, ndim);
    if (!t) return NULL;
    if (nb_init_fill(t, init, fan_in, fan_out) != NB_OK) {
        nb_free(t);
        return NULL;
    }
    nb_weight *w = &l->weights[l->n_weights++];
    snprintf(w->name, sizeof w->name, "%s/%s", l->name, role);
    w->t = t;
    w->learnable = trainable;
    w->trainable = trainable && !l->frozen;
    nb_set_name(t, w->name); /* shown (shortened if need be) in DOT pictures */
    t->requires_grad = w->trainable;
    return t;
}

static void free_weights(nb_layer *l) {
    for (int i = 0; i < l->n_weights; i++) nb_free(l->weights[i].t);
    l->n_weights = 0;
}

void nb_layer_destroy(nb_layer *l) {
    if (!l) return;
    free_weights(l);
    free(l);
}

void nb_layer_free(nb_layer *layer) {
    if (!layer) return;
    if (layer->in_model) {
        nb_fail(NB_ERR_STATE,
                "nb_layer_free: layer '%s' belongs to a model; nb_model_free frees it",
                layer->name);
        return;
    }
    nb_layer_destroy(layer);
}

const char *nb_layer_name(const nb_layer *layer) {
    return layer ? layer->name : "";
}

int nb_layer_output_shape(const nb_layer *layer, int64_t *shape) {
    if (!layer || !shape) return (nb_fail(NB_ERR_NULL, "nb_layer_output_shape: NULL argument"), -1);
    if (!layer->built)
        return (nb_fail(NB_ERR_STATE,
                        "nb_layer_output_shape: layer '%s' has no input yet; add it to a model",
                        layer->name),
                -1);
    memcpy(shape, layer->out_shape, (size_t)layer->out_ndim * sizeof *shape);
    return layer->out_ndim;
}

int64_t nb_layer_param_count(const nb_layer *layer) {
    int64_t n = 0;
    for (int i = 0; layer && i < layer->n_weights; i++) n += layer->weights[i].t->numel;
    return n;
}

int64_t nb_layer_trainable_count(const nb_layer *l) {
    int64_t n = 0;
    for (int i = 0; l && i < l->n_weights; i++)
        if (l->weights[i].trainable) n += l->weights[i].t->numel;
    return n;
}

int nb_layer_shape_str(const int64_t *shape, int ndim, char *buf, size_t n) {
    int k = snprintf(buf, n, "(None");
    for (int i = 0; i < ndim && k >= 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, ", %lld", (long long)shape[i]);
    if (k >= 0 && (size_t)k < n) k += snprintf(buf + k, n - (size_t)k, ")");
    return k;
}

/* ---- settings shared by the constructors ------------------------------------------ */
static bool set_name(const char *fn, nb_layer *l, const char *name) {
    if (!name) return true;
    size_t len = strlen(name);
    if (len == 0 || len >= NB_LAYER_NAME_LEN || strchr(name, '/')) {
        nb_fail(NB_ERR_ARG, "%s: layer name '%s' must have 1 to %d characters and no '/'", fn, name,
                NB_LAYER_NAME_LEN - 1);
        return false;
    }
    snprintf(l->name, sizeof l->name, "%s", name);
    l->user_named = true;
    return true;
}

static bool check_regularizer(const char *fn, nb_regularizer r) {
    if (isfinite(r.l1) && isfinite(r.l2) && r.l1 >= 0 && r.l2 >= 0) return true;
    nb_fail(NB_ERR_ARG, "%s: regularizer l1 %g, l2 %g must be finite and >= 0", fn, r.l1, r.l2);
    return false;
}

bool nb_layer_configure(nb_layer *l, const char *fn, const char *activation, nb_init kernel_init,
                        nb_init bias_init, nb_regularizer reg, const char *name) {
    bool ok = nb_act_from_name(fn, activation, &l->act) && nb_init_check(fn, kernel_init) &&
              nb_init_check(fn, bias_init) && check_regularizer(fn, reg) && set_name(fn, l, name);
    if (!ok) {
        free(l);
        return false;
    }
    l->kernel_init = kernel_init;
    l->bias_init = bias_init == NB_INIT_DEFAULT ? NB_INIT_ZEROS : bias_init;
    l->kernel_reg = reg;
    return true;
}

/* ---- Dense: x: [N, IN] -> x @ kernel [IN, OUT] + bias [OUT] -> [N, OUT] ------------------ */
static nb_status dense_build(nb_layer *l) {
    if (l->in_ndim != 1)
        return nb_fail_status(
            NB_ERR_SHAPE,
            "Dense needs a flat input (None, features); add a Flatten layer before it");
    int64_t in = l->in_shape[0], out = l->cfg.dense.units;
    l->out_ndim = 1;
    l->out_shape[0] = out;
    if (!nb_layer_add_weight(l, "kernel", (int64_t[]){in, out}, 2, true, l->kernel_init, in, out))
        return nb_failure_code();
    if (l->cfg.dense.bias && !nb_layer_add_weight(l, "bias", &out, 1, true, l->bias_init, in, out))
        return nb_failure_code();
    return NB_OK;
}

/* one fused kernel (matmul with the bias as a post-op) when there is a bias */
static nb_tensor *dense_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)training;
    nb_tensor *w = l->weights[NB_W_KERNEL].t;
    if (!l->cfg.dense.bias) return nb_matmul(x, w);
    return nb_linear(x, w, l->weights[NB_W_BIAS].t);
}

static const nb_layer_ops dense_ops = {
    .type = "Dense",
    .base_name = "dense",
    .build = dense_build,
    .forward = dense_forward,
};

nb_layer *nb_dense_ex(int64_t units, const nb_dense_opts *opts) {
    nb_dense_opts o = opts ? *opts : (nb_dense_opts){0};
    if (units < 1)
        return nb_fail(NB_ERR_ARG, "nb_dense: units %lld must be >= 1", (long long)units);
    nb_layer *l = nb_layer_alloc("nb_dense", &dense_ops);
    if (!l || !nb_layer_configure(l, "nb_dense", o.activation, o.kernel_init, o.bias_init,
                                  o.kernel_regularizer, o.name))
        return NULL;
    l->cfg.dense.units = units;
    l->cfg.dense.bias = !o.no_bias;
    return l;
}

nb_layer *nb_dense(int64_t units, const char *activation) {
    return nb_dense_ex(units, &(nb_dense_opts){.activation = activation});
}

/* ---- Flatten: [N, d1, d2, ...] -> [N, d1 * d2 * ...], a view -------------------------- */
static nb_status flatten_build(nb_layer *l) {
    int64_t n = 1;
    for (int i = 0; i < l->in_ndim; i++) n *= l->in_shape[i];
    l->out_ndim = 1;
    l->out_shape[0] = n;
    return NB_OK;
}

static nb_tensor *flatten_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)l;
    (void)training;
    return nb_flatten(x);
}

static const nb_layer_ops flatten_ops = {
    .type = "Flatten",
    .base_name = "flatten",
    .build = flatten_build,
    .forward = flatten_forward,
};

nb_layer *nb_flatten_layer(void) {
    return nb_layer_alloc("nb_flatten_layer", &flatten_ops);
}

/* ---- Dropout: x -> x * mask / (1 - rate) in training, x in inference ------------------- */
static nb_status same_shape_build(nb_layer *l) {
    l->out_ndim = l->in_ndim;
    memcpy(l->out_shape, l->in_shape, sizeof l->out_shape);
    return NB_OK;
}

static nb_tensor *dropout_forward(nb_layer *l, nb_tensor *x, bool training) {
    return nb_dropout(x, l->cfg.dropout.rate, training);
}

static const nb_layer_ops dropout_ops = {
    .type = "Dropout",
    .base_name = "dropout",
    .build = same_shape_build,
    .forward = dropout_forward,
};

nb_layer *nb_dropout_layer(float rate) {
    if (!(rate >= 0 && rate < 1))
        return nb_fail(NB_ERR_ARG, "nb_dropout_layer: rate %g must be in [0, 1)", rate);
    nb_layer *l = nb_layer_alloc("nb_dropout_layer", &dropout_ops);
    if (l) l->cfg.dropout.rate = rate;
    return l;
}

/* ---- Rescaling: x -> x * scale + offset, no weights ---------------------------------- */
static nb_tensor *rescaling_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)training;
    return nb_affine(x, l->cfg.rescaling.scale, l->cfg.rescaling.offset);
}

static const nb_layer_ops rescaling_ops = {
    .type = "Rescaling",
    .base_name = "rescaling",
    .build = same_shape_build,
    .forward = rescaling_forward,
};

nb_layer *nb_rescaling_layer(float scale, float offset) {
    if (!isfinite(scale) || !isfinite(offset))
        return nb_fail(NB_ERR_ARG, "nb_rescaling_layer: scale %g and offset %g must be finite",
                       scale, offset);
    nb_layer *l = nb_layer_alloc("nb_rescaling_layer", &rescaling_ops);
    if (l) l->cfg.rescaling.scale = scale, l->cfg.rescaling.offset = offset;
    return l;
}

/* ---- names after creation ------------------------------------------------------------ */
nb_layer *nb_layer_set_name(nb_layer *layer, const char *name) {
    if (!layer) return nb_fail_null("nb_layer_set_name");
    if (layer->in_model)
        return nb_fail(NB_ERR_STATE,
                       "nb_layer_set_name: layer '%s' is already in a model; name it before "
                       "adding it",
                       layer->name);
    if (!name || !set_name("nb_layer_set_name", layer, name)) {
        if (!name) nb_fail(NB_ERR_NULL, "nb_layer_set_name: name is NULL");
        nb_layer_destroy(layer); /* so that nb_model_add(m, nb_layer_set_name(...)) never leaks */
        return NULL;
    }
    return layer;
}

/* ---- trainable ------------------------------------------------------------------------ */
nb_status nb_layer_set_trainable(nb_layer *layer, bool trainable) {
    const char *fn = "nb_layer_set_trainable";
    if (!layer) return nb_fail_status(NB_ERR_NULL, "%s: layer is NULL", fn);
    if (layer->model && layer->model->compiled)
        return nb_fail_status(NB_ERR_STATE,
                              "%s: layer '%s' is in a compiled model, whose optimizer has its "
                              "parameters; set trainable before nb_model_compile",
                              fn, layer->name);
    layer->frozen = !trainable;
    for (int i = 0; i < layer->n_weights; i++) {
        nb_weight *w = &layer->weights[i];
        w->trainable = w->learnable && trainable;
        w->t->requires_grad = w->trainable;
        if (!w->trainable) nb_zero_grad(w->t);
    }
    return layer->model ? nb_model_collect_params(layer->model) : NB_OK;
}

bool nb_layer_trainable(const nb_layer *layer) {
    return layer && !layer->frozen;
}
