/* Whole models in one safetensors file (Keras's model.save / load_model): the weights as
 * nb_model_save_weights writes them, and text pairs that describe the model, so that
 * nb_load_model can build it again without the code that made it.
 *
 *   format = nabla, content = model, model = <model name>, model.version = 1
 *   model.input_shape = [1, 28, 28]           model.layers = N
 *   layer.<i>.class = Dense, layer.<i>.name = dense, layer.<i>.<option> = <value> ...
 *   compile.loss, compile.from_logits, compile.metrics = M, compile.metric.<j>  (if compiled)
 *   optimizer.<key>: the optimizer's pairs from nb_optimizer_get_state, as checkpoints have them
 *
 * Values are JSON literals written as text (100, 0.99, true, relu, [3, 3]), one option per
 * key: every value stays far below the 255 bytes a safetensors reader keeps. model_load.c
 * reads it back.
 */
#include "nn_internal.h"

#include "nabla/safetensors.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_LEN   256 /* safetensors readers keep names and metadata up to 255 bytes */
#define LAYER_KEYS 12  /* the most pairs one layer writes */
#define MODEL_KEYS 8
#define OPT_PREFIX NB_MODEL_FILE_OPTIMIZER

/* ---- writing -------------------------------------------------------------------------------- */
typedef struct {
    const char **keys, **values;
    char (*text)[TEXT_LEN];
    int n, cap;
} pairs;

/* key = prefix + name, value = printf(fmt, ...) */
__attribute__((format(printf, 4, 5))) static void add(pairs *p, const char *prefix,
                                                      const char *name, const char *fmt, ...) {
    char *k = p->text[2 * p->n], *v = p->text[2 * p->n + 1];
    snprintf(k, TEXT_LEN, "%s%s", prefix, name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, TEXT_LEN, fmt, ap);
    va_end(ap);
    p->keys[p->n] = k;
    p->values[p->n++] = v;
}

/* the shortest text that reads back to the same float (0.99, not 0.99000001) */
static const char *float_text(float v, char *buf) {
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, 32, "%.*g", digits, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    return buf;
}

static void add_float(pairs *p, const char *prefix, const char *name, float v) {
    char buf[32];
    add(p, prefix, name, "%s", float_text(v, buf));
}

/* activation, initializers and regularizer: what Dense and Conv2D share */
static void add_kernel_options(pairs *p, const char *pre, const nb_layer *l) {
    add(p, pre, "activation", "%s", nb_act_name(l->act));
    add(p, pre, "kernel_initializer", "%s", nb_init_name(l->kernel_init));
    add(p, pre, "bias_initializer", "%s", nb_init_name(l->bias_init));
    add_float(p, pre, "kernel_regularizer_l1", l->kernel_reg.l1);
    add_float(p, pre, "kernel_regularizer_l2", l->kernel_reg.l2);
}

static void add_layer(pairs *p, int i, const nb_layer *l) {
    char pre[32];
    snprintf(pre, sizeof pre, "layer.%d.", i);
    const char *type = l->ops->type;
    add(p, pre, "class", "%s", type);
    add(p, pre, "name", "%s", l->name);
    if (l->frozen) add(p, pre, "trainable", "false"); /* absent: true */
    if (!strcmp(type, "Dense")) {
        add(p, pre, "units", "%lld", (long long)l->cfg.dense.units);
        add(p, pre, "use_bias", "%s", l->cfg.dense.bias ? "true" : "false");
        add_kernel_options(p, pre, l);
    } else if (!strcmp(type, "Conv2D")) {
        add(p, pre, "filters", "%lld", (long long)l->cfg.conv.filters);
        add(p, pre, "kernel_size", "[%d, %d]", l->cfg.conv.kh, l->cfg.conv.kw);
        add(p, pre, "strides", "[%d, %d]", l->cfg.conv.sh, l->cfg.conv.sw);
        add(p, pre, "padding", "%s", l->cfg.conv.same ? "same" : "valid");
        add_kernel_options(p, pre, l);
    } else if (!strcmp(type, "MaxPooling2D") || !strcmp(type, "AveragePooling2D")) {
        add(p, pre, "pool_size", "%d", l->cfg.pool.size);
        add(p, pre, "strides", "%d", l->cfg.pool.stride);
    } else if (!strcmp(type, "Dropout")) {
        add_float(p, pre, "rate", l->cfg.dropout.rate);
    } else if (!strcmp(type, "BatchNormalization")) {
        add_float(p, pre, "momentum", l->cfg.bn.momentum);
        add_float(p, pre, "epsilon", l->cfg.bn.eps);
    } else if (!strcmp(type, "Rescaling")) {
        add_float(p, pre, "scale", l->cfg.rescaling.scale);
        add_float(p, pre, "offset", l->cfg.rescaling.offset);
    } else if (!strcmp(type, "Reshape") || !strcmp(type, "Permute")) {
        char list[TEXT_LEN];
        int k = snprintf(list, sizeof list, "[");
        const int64_t *d = type[0] == 'R' ? l->out_shape : l->cfg.shape.dims;
        for (int j = 0; j < l->cfg.shape.ndim; j++)
            k += snprintf(list + k, sizeof list - (size_t)k, "%s%lld", j ? ", " : "",
                          (long long)d[j]);
        snprintf(list + k, sizeof list - (size_t)k, "]");
        add(p, pre, type[0] == 'R' ? "target_shape" : "dims", "%s", list);
    } else if (!strcmp(type, "LayerNormalization")) {
        add_float(p, pre, "epsilon", l->cfg.ln.eps);
        add(p, pre, "center", "%s", l->cfg.ln.center ? "true" : "false");
        add(p, pre, "scale", "%s", l->cfg.ln.scale ? "true" : "false");
    } else if (!strcmp(type, "GaussianNoise")) {
        add_float(p, pre, "stddev", l->cfg.noise.stddev);
    } else if (!strcmp(type, "ZeroPadding2D")) {
        add(p, pre, "padding", "[[%d, %d], [%d, %d]]", l->cfg.pad.top, l->cfg.pad.bottom,
            l->cfg.pad.left, l->cfg.pad.right);
    } else if (!strcmp(type, "Embedding")) {
        add(p, pre, "input_dim", "%lld", (long long)l->cfg.embedding.input_dim);
        add(p, pre, "output_dim", "%lld", (long long)l->cfg.embedding.output_dim);
    } else if (!strcmp(type, "Activation")) {
        add(p, pre, "activation", "%s", nb_act_name(l->act));
    }
}

static void add_model(pairs *p, const nb_model *m) {
    char shape[TEXT_LEN];
    int k = snprintf(shape, sizeof shape, "[");
    for (int i = 0; i < m->in_ndim; i++)
        k += snprintf(shape + k, sizeof shape - (size_t)k, "%s%lld", i ? ", " : "",
                      (long long)m->in_shape[i]);
    snprintf(shape + k, sizeof shape - (size_t)k, "]");
    add(p, "", "format", "nabla");
    add(p, "", "content", "model");
    add(p, "", "model", "%s", m->name);
    add(p, "model.", "version", NB_MODEL_FILE_VERSION);
    add(p, "model.", "input_shape", "%s", shape);
    add(p, "model.", "layers", "%d", m->n_layers);
    for (int i = 0; i < m->n_layers; i++) add_layer(p, i, m->layers[i]);
}

/* The loss, the metrics and the optimizer's settings; not its per-param steps and buffers. */
static void add_compile(pairs *p, const nb_model *m, const nb_optimizer_state *st) {
    add(p, "compile.", "loss", "%s", nb_loss_name(m->loss));
    add(p, "compile.", "from_logits", "%s", m->from_logits ? "true" : "false");
    add(p, "compile.", "metrics", "%d", m->n_metrics);
    for (int i = 0; i < m->n_metrics; i++) {
        char name[32];
        snprintf(name, sizeof name, "metric.%d", i);
        add(p, "compile.", name, "%s", m->metric_names[i]);
    }
    for (int i = 0; i < st->n_pairs; i++)
        if (!strchr(st->keys[i], '/') && strcmp(st->keys[i], "params"))
            add(p, OPT_PREFIX, st->keys[i], "%s", st->values[i]);
}

/* the library's own keys, which extra pairs may not take */
static bool reserved(const char *key) {
    static const char *const prefixes[] = {"model.", "layer.", "compile.", OPT_PREFIX};
    if (!strcmp(key, "format") || !strcmp(key, "content") || !strcmp(key, "model")) return true;
    for (int i = 0; i < 4; i++)
        if (!strncmp(key, prefixes[i], strlen(prefixes[i]))) return true;
    return false;
}

static nb_status check_extra(const char *const *keys, const char *const *values, int n) {
    const char *fn = "nb_model_save";
    if (n < 0 || (n > 0 && (!keys || !values)))
        return nb_fail_status(NB_ERR_NULL, "%s: %d metadata pairs but NULL keys or values", fn, n);
    for (int i = 0; i < n; i++) {
        if (!keys[i] || !values[i])
            return nb_fail_status(NB_ERR_NULL, "%s: metadata pair %d is NULL", fn, i);
        if (reserved(keys[i]))
            return nb_fail_status(
                NB_ERR_ARG,
                "%s: the metadata key '%s' is the model file's own (format, content, "
                "model, model.*, layer.*, compile.*, optimizer.*); use another, such "
                "as 'nabla.%s'",
                fn, keys[i], keys[i]);
    }
    return NB_OK;
}

static nb_status write_file(nb_model *m, const char *path, const nb_optimizer_state *st,
                            const char *const *keys, const char *const *values, int n_extra) {
    int nw = nb_model_num_weights(m);
    int cap = MODEL_KEYS + LAYER_KEYS * m->n_layers + 2 + m->n_metrics + st->n_pairs;
    pairs p = {calloc((size_t)cap + (size_t)n_extra, sizeof(char *)),
               calloc((size_t)cap + (size_t)n_extra, sizeof(char *)),
               calloc((size_t)cap, 2 * TEXT_LEN), 0, cap};
    const char **names = calloc((size_t)nw + 1, sizeof *names);
    nb_tensor **tensors = calloc((size_t)nw + 1, sizeof *tensors);
    nb_status s = NB_OK;
    if (!p.keys || !p.values || !p.text || !names || !tensors) {
        s = nb_fail_status(NB_ERR_MEMORY, "nb_model_save: out of memory");
    } else {
        add_model(&p, m);
        if (m->compiled) add_compile(&p, m, st);
        for (int i = 0; i < n_extra; i++) {
            p.keys[p.n] = keys[i];
            p.values[p.n++] = values[i];
        }
        for (int i = 0; i < nw; i++) {
            names[i] = nb_model_weight(m, i)->name;
            tensors[i] = nb_model_weight(m, i)->t;
        }
        s = nb_safetensors_save(path, names, tensors, nw, p.keys, p.values, p.n);
    }
    free(p.keys);
    free(p.values);
    free(p.text);
    free(names);
    free(tensors);
    return s;
}

nb_status nb_model_save_ex(const nb_model *model, const char *path, const char *const *meta_keys,
                           const char *const *meta_values, int n_meta) {
    nb_model *m = (nb_model *)model; /* weights are only read */
    if (!m || !path) return nb_fail_status(NB_ERR_NULL, "nb_model_save: NULL model or path");
    nb_status s = check_extra(meta_keys, meta_values, n_meta);
    nb_optimizer_state st = {0};
    if (s == NB_OK && m->compiled) s = nb_optimizer_get_state(m->opt, NULL, &st);
    if (s == NB_OK) s = write_file(m, path, &st, meta_keys, meta_values, n_meta);
    nb_optimizer_state_free(&st);
    return s;
}

nb_status nb_model_save(const nb_model *m, const char *path) {
    return nb_model_save_ex(m, path, NULL, NULL, 0);
}
