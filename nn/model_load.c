/* nb_load_model: a model from a file nb_model_save wrote (model_file.c describes the keys).
 *
 * The file is untrusted: every value is checked before it reaches a constructor, and a layer
 * with weights is checked against the file's tensor before it is added, so that no
 * description makes a weight larger than the file's own. Errors name the file and the key.
 * The layers' initializers run when they are added and the file's weights then replace
 * theirs; the random stream is put back as it was, so loading draws no random numbers.
 */
#include "nn_internal.h"

#include "nabla/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_LEN     256 /* safetensors readers keep names and metadata up to 255 bytes */
#define OPT_PREFIX   NB_MODEL_FILE_OPTIMIZER
#define MAX_LAYERS   1024
#define MAX_SIDE     65535 /* kernels, strides, pools */
#define MAX_FEATURES (INT64_C(1) << 31)

/* ---- checked values --------------------------------------------------------------------- */
typedef struct {
    const nb_safetensors *f;
    const char *ctx; /* "nb_load_model: path" */
} file;

static const char *get(const file *f, const char *key) {
    const char *v = nb_safetensors_meta(f->f, key);
    if (!v) nb_fail(NB_ERR_FORMAT, "%s: the key '%s' is missing", f->ctx, key);
    return v;
}

static bool bad(const file *f, const char *key, const char *v, const char *expected) {
    nb_fail(NB_ERR_FORMAT, "%s: the key '%s' is '%s', expected %s", f->ctx, key, v, expected);
    return false;
}

static bool get_int(const file *f, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const char *v = get(f, key);
    if (!v) return false;
    char *end, expected[96];
    errno = 0;
    long long x = strtoll(v, &end, 10);
    snprintf(expected, sizeof expected, "an integer in [%lld, %lld]", (long long)lo, (long long)hi);
    if (errno || end == v || *end || x < lo || x > hi) return bad(f, key, v, expected);
    *out = x;
    return true;
}

static bool get_float(const file *f, const char *key, float *out) {
    const char *v = get(f, key);
    if (!v) return false;
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || end == v || *end || !isfinite(x)) return bad(f, key, v, "a finite number");
    *out = x;
    return true;
}

static bool get_bool(const file *f, const char *key, bool *out) {
    const char *v = get(f, key);
    if (!v) return false;
    if (strcmp(v, "true") && strcmp(v, "false")) return bad(f, key, v, "true or false");
    *out = !strcmp(v, "true");
    return true;
}

/* "[a, b, ...]": 1 to max integers in [1, hi]; returns the count, 0 on an error */
static int get_list(const file *f, const char *key, int max, int64_t hi, int64_t *out) {
    const char *v = get(f, key), *s = v;
    if (!v) return 0;
    char expected[96];
    snprintf(expected, sizeof expected, "a list [a, b, ...] of 1 to %d integers in [1, %lld]", max,
             (long long)hi);
    if (*s++ != '[') return bad(f, key, v, expected);
    for (int n = 0; n < max; n++) {
        while (*s == ' ') s++;
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (errno || end == s || x < 1 || x > hi) break;
        out[n] = x;
        s = end;
        while (*s == ' ') s++;
        if (*s == ']' && !s[1]) return n + 1;
        if (*s++ != ',') break;
    }
    return bad(f, key, v, expected), 0;
}

static bool get_pair(const file *f, const char *key, int *a, int *b) {
    int64_t v[2];
    int n = get_list(f, key, 2, MAX_SIDE, v);
    if (n == 1) return bad(f, key, get(f, key), "two integers [a, b] in [1, 65535]");
    if (n != 2) return false;
    *a = (int)v[0];
    *b = (int)v[1];
    return true;
}

static bool get_init(const file *f, const char *key, nb_init *out) {
    const char *v = get(f, key);
    if (!v) return false;
    if (nb_init_from_name(v, out) != NB_OK)
        return bad(f, key, v, "an initializer (glorot_uniform, he_normal, zeros, ...)");
    return true;
}

static bool get_act(const file *f, const char *key, const char **out) {
    nb_act a;
    if (!(*out = get(f, key))) return false;
    if (!nb_act_from_name("nb_load_model", *out, &a))
        return bad(f, key, *out, "an activation (linear, relu, softmax, ...)");
    return true;
}

/* "layer.3." + name */
static const char *key_of(char *buf, const char *pre, const char *name) {
    snprintf(buf, TEXT_LEN, "%s%s", pre, name);
    return buf;
}

typedef struct {
    const char *activation;
    nb_init kernel_init, bias_init;
    nb_regularizer reg;
} kernel_options;

static bool get_kernel_options(const file *f, const char *pre, kernel_options *o) {
    char k[TEXT_LEN];
    bool ok = get_act(f, key_of(k, pre, "activation"), &o->activation) &&
              get_init(f, key_of(k, pre, "kernel_initializer"), &o->kernel_init) &&
              get_init(f, key_of(k, pre, "bias_initializer"), &o->bias_init) &&
              get_float(f, key_of(k, pre, "kernel_regularizer_l1"), &o->reg.l1) &&
              get_float(f, key_of(k, pre, "kernel_regularizer_l2"), &o->reg.l2);
    if (ok && (o->reg.l1 < 0 || o->reg.l2 < 0))
        return bad(f, key_of(k, pre, "kernel_regularizer_l1"), "negative", "numbers >= 0");
    return ok;
}

static nb_layer *read_dense(const file *f, const char *pre, const char *name) {
    char k[TEXT_LEN];
    int64_t units;
    nb_dense_opts o = {.name = name};
    kernel_options ko;
    bool bias;
    if (!get_int(f, key_of(k, pre, "units"), 1, MAX_FEATURES, &units) ||
        !get_bool(f, key_of(k, pre, "use_bias"), &bias) || !get_kernel_options(f, pre, &ko))
        return NULL;
    o.activation = ko.activation;
    o.no_bias = !bias;
    o.kernel_init = ko.kernel_init;
    o.bias_init = ko.bias_init;
    o.kernel_regularizer = ko.reg;
    return nb_dense_ex(units, &o);
}

static nb_layer *read_conv(const file *f, const char *pre, const char *name) {
    char k[TEXT_LEN];
    int64_t filters;
    nb_conv2d_layer_opts o = {.name = name};
    kernel_options ko;
    if (!get_int(f, key_of(k, pre, "filters"), 1, MAX_FEATURES, &filters) ||
        !get_pair(f, key_of(k, pre, "kernel_size"), &o.kernel_h, &o.kernel_w) ||
        !get_pair(f, key_of(k, pre, "strides"), &o.stride_h, &o.stride_w) ||
        !(o.padding = get(f, key_of(k, pre, "padding"))) || !get_kernel_options(f, pre, &ko))
        return NULL;
    if (strcmp(o.padding, "same") && strcmp(o.padding, "valid"))
        return bad(f, k, o.padding, "same or valid"), NULL;
    o.activation = ko.activation;
    o.kernel_init = ko.kernel_init;
    o.bias_init = ko.bias_init;
    o.kernel_regularizer = ko.reg;
    return nb_conv2d_layer_ex(filters, &o);
}

static nb_layer *read_pool(const file *f, const char *pre, bool max) {
    char k[TEXT_LEN];
    int64_t size, stride;
    if (!get_int(f, key_of(k, pre, "pool_size"), 1, MAX_SIDE, &size) ||
        !get_int(f, key_of(k, pre, "strides"), 1, MAX_SIDE, &stride))
        return NULL;
    return max ? nb_max_pool2d_layer((int)size, (int)stride)
               : nb_avg_pool2d_layer((int)size, (int)stride);
}

static nb_layer *read_dropout(const file *f, const char *pre) {
    char k[TEXT_LEN];
    float rate;
    if (!get_float(f, key_of(k, pre, "rate"), &rate)) return NULL;
    if (!(rate >= 0 && rate < 1)) return bad(f, k, get(f, k), "a rate in [0, 1)"), NULL;
    return nb_dropout_layer(rate);
}

static nb_layer *read_batch_norm(const file *f, const char *pre) {
    char k[TEXT_LEN];
    float momentum, eps;
    if (!get_float(f, key_of(k, pre, "momentum"), &momentum)) return NULL;
    if (!(momentum > 0 && momentum < 1)) return bad(f, k, get(f, k), "a number in (0, 1)"), NULL;
    if (!get_float(f, key_of(k, pre, "epsilon"), &eps)) return NULL;
    if (!(eps > 0)) return bad(f, k, get(f, k), "a number > 0"), NULL;
    return nb_batch_norm_layer(momentum, eps);
}

static nb_layer *read_rescaling(const file *f, const char *pre) {
    char k[TEXT_LEN], k2[TEXT_LEN];
    float scale, offset;
    if (!get_float(f, key_of(k, pre, "scale"), &scale) ||
        !get_float(f, key_of(k2, pre, "offset"), &offset))
        return NULL;
    if (!isfinite(scale)) return bad(f, k, get(f, k), "a finite number"), NULL;
    if (!isfinite(offset)) return bad(f, k2, get(f, k2), "a finite number"), NULL;
    return nb_rescaling_layer(scale, offset);
}

static nb_layer *read_activation(const file *f, const char *pre) {
    char k[TEXT_LEN];
    const char *name;
    return get_act(f, key_of(k, pre, "activation"), &name) ? nb_activation_layer(name) : NULL;
}

/* Reshape's target_shape or Permute's dims */
static nb_layer *read_shape(const file *f, const char *pre, bool reshape) {
    char k[TEXT_LEN];
    int64_t v[NB_MAX_DIMS];
    int n = get_list(f, key_of(k, pre, reshape ? "target_shape" : "dims"), NB_MAX_DIMS - 1,
                     reshape ? MAX_FEATURES : NB_MAX_DIMS - 1, v);
    if (!n) return NULL;
    if (reshape) return nb_reshape_layer(v, n);
    int dims[NB_MAX_DIMS];
    for (int i = 0; i < n; i++) dims[i] = (int)v[i];
    return nb_permute_layer(dims, n);
}

static nb_layer *read_layer_norm(const file *f, const char *pre) {
    char k[TEXT_LEN];
    float eps;
    bool center, scale;
    if (!get_float(f, key_of(k, pre, "epsilon"), &eps) ||
        !get_bool(f, key_of(k, pre, "center"), &center) ||
        !get_bool(f, key_of(k, pre, "scale"), &scale))
        return NULL;
    return nb_layer_norm_layer(eps, center, scale);
}

static nb_layer *read_noise(const file *f, const char *pre) {
    char k[TEXT_LEN];
    float sd;
    return get_float(f, key_of(k, pre, "stddev"), &sd) ? nb_gaussian_noise_layer(sd) : NULL;
}

static nb_layer *read_zero_padding(const file *f, const char *pre) {
    char k[TEXT_LEN];
    const char *v = get(f, key_of(k, pre, "padding"));
    int t, b, l, r, end = -1;
    if (!v) return NULL;
    if (sscanf(v, "[[%d, %d], [%d, %d]]%n", &t, &b, &l, &r, &end) != 4 || end < 0 || v[end])
        return bad(f, k, v, "[[top, bottom], [left, right]]"), NULL;
    return nb_zero_padding2d_layer_ex(t, b, l, r);
}

static nb_layer *read_embedding(const file *f, const char *pre) {
    char k[TEXT_LEN];
    int64_t v, d;
    if (!get_int(f, key_of(k, pre, "input_dim"), 1, MAX_FEATURES, &v) ||
        !get_int(f, key_of(k, pre, "output_dim"), 1, MAX_FEATURES, &d))
        return NULL;
    return nb_embedding_layer(v, d);
}

/* Layer i as its keys describe it, named (constructors' messages get the file and key). */
static nb_layer *read_layer(const file *f, int i) {
    char pre[32], k[TEXT_LEN];
    snprintf(pre, sizeof pre, "layer.%d.", i);
    const char *cls = get(f, key_of(k, pre, "class")), *name = NULL;
    if (!cls || !(name = get(f, key_of(k, pre, "name")))) return NULL;
    nb_layer *l = NULL;
    bool named = false; /* Dense and Conv2D take their name as an option */
    if (!strcmp(cls, "Dense"))
        l = read_dense(f, pre, name), named = true;
    else if (!strcmp(cls, "Conv2D"))
        l = read_conv(f, pre, name), named = true;
    else if (!strcmp(cls, "MaxPooling2D") || !strcmp(cls, "AveragePooling2D"))
        l = read_pool(f, pre, cls[0] == 'M');
    else if (!strcmp(cls, "Flatten"))
        l = nb_flatten_layer();
    else if (!strcmp(cls, "Dropout"))
        l = read_dropout(f, pre);
    else if (!strcmp(cls, "BatchNormalization"))
        l = read_batch_norm(f, pre);
    else if (!strcmp(cls, "Activation"))
        l = read_activation(f, pre);
    else if (!strcmp(cls, "Rescaling"))
        l = read_rescaling(f, pre);
    else if (!strcmp(cls, "GlobalAveragePooling2D"))
        l = nb_global_avg_pool2d_layer();
    else if (!strcmp(cls, "GlobalMaxPooling2D"))
        l = nb_global_max_pool2d_layer();
    else if (!strcmp(cls, "Reshape") || !strcmp(cls, "Permute"))
        l = read_shape(f, pre, cls[0] == 'R');
    else if (!strcmp(cls, "LayerNormalization"))
        l = read_layer_norm(f, pre);
    else if (!strcmp(cls, "GaussianNoise"))
        l = read_noise(f, pre);
    else if (!strcmp(cls, "ZeroPadding2D"))
        l = read_zero_padding(f, pre);
    else if (!strcmp(cls, "Embedding"))
        l = read_embedding(f, pre);
    else
        return bad(f, key_of(k, pre, "class"), cls,
                   "a layer class: Dense, Conv2D, MaxPooling2D, AveragePooling2D, Flatten, "
                   "Dropout, BatchNormalization, Activation, Rescaling, GlobalAveragePooling2D, "
                   "GlobalMaxPooling2D, Reshape, Permute, LayerNormalization, GaussianNoise, "
                   "ZeroPadding2D or Embedding"),
               NULL;
    if (l && !named) l = nb_layer_set_name(l, name);
    const char *trainable = nb_safetensors_meta(f->f, key_of(k, pre, "trainable")); /* or true */
    if (l && trainable && strcmp(trainable, "true") &&
        (strcmp(trainable, "false") || nb_layer_set_trainable(l, false) != NB_OK))
        nb_layer_free(l), l = NULL, bad(f, k, trainable, "true or false");
    if (!l && strncmp(nb_error(), f->ctx, strlen(f->ctx))) {
        char why[1024];
        snprintf(why, sizeof why, "%s", nb_error());
        nb_fail(nb_failure_code(), "%s: layer %d (%s '%s'): %s", f->ctx, i, cls, name, why);
    }
    return l;
}

/* ---- the model: layers checked against the file's weights before any weight is made ---------- */
static const nb_tensor *file_tensor(const file *f, const char *name) {
    for (int i = 0; i < nb_safetensors_count(f->f); i++)
        if (!strcmp(nb_safetensors_name(f->f, i), name)) return nb_safetensors_tensor(f->f, i);
    return NULL;
}

/* A Dense or Conv2D layer's kernel, a batch norm's gamma, an embedding's table must be in the
 * file with the shape the layer would make (no description makes a weight larger than the file's).
 */
static nb_status check_kernel(const file *f, const nb_model *m, const nb_layer *l, int i) {
    const int64_t *in = m->n_layers ? m->layers[m->n_layers - 1]->out_shape : m->in_shape;
    int in_ndim = m->n_layers ? m->layers[m->n_layers - 1]->out_ndim : m->in_ndim;
    int64_t want[4];
    int nd;
    const char *role = "kernel";
    if (!strcmp(l->ops->type, "Dense") && in_ndim == 1) {
        nd = 2, want[0] = in[0], want[1] = l->cfg.dense.units;
    } else if (!strcmp(l->ops->type, "Conv2D") && in_ndim == 3) {
        nd = 4, want[0] = l->cfg.conv.filters, want[1] = in[0];
        want[2] = l->cfg.conv.kh, want[3] = l->cfg.conv.kw;
    } else if (!strcmp(l->ops->type, "BatchNormalization") && (in_ndim == 1 || in_ndim == 3)) {
        nd = 1, want[0] = in[0], role = "gamma";
    } else if (!strcmp(l->ops->type, "Embedding")) {
        nd = 2, want[0] = l->cfg.embedding.input_dim, want[1] = l->cfg.embedding.output_dim;
        role = "embeddings";
    } else {
        return NB_OK; /* no weights, or a shape nb_model_add refuses before making one */
    }
    char name[NB_WEIGHT_NAME_LEN + 8];
    snprintf(name, sizeof name, "%s/%s", l->name, role);
    const nb_tensor *t = file_tensor(f, name);
    bool same = t && t->ndim == nd;
    for (int d = 0; same && d < nd; d++) same = t->shape[d] == want[d];
    if (same) return NB_OK;
    char shape[64];
    snprintf(shape, sizeof shape, "%s", nb_dims_s(want, nd));
    const char *what = "the layer list does not fit the weights";
    if (!t)
        return nb_fail_status(NB_ERR_FORMAT,
                              "%s: %s: layer.%d (%s '%s') needs a weight '%s' %s; the "
                              "file has none",
                              f->ctx, what, i, l->ops->type, l->name, name, shape);
    return nb_fail_status(NB_ERR_FORMAT,
                          "%s: %s: layer.%d (%s '%s') needs a weight '%s' %s; the "
                          "file's is %s",
                          f->ctx, what, i, l->ops->type, l->name, name, shape, nb_shape_s(t));
}

/* what a file that is not a model file is, and what to call instead */
static nb_status check_content(const file *f) {
    const char *format = nb_safetensors_meta(f->f, "format");
    const char *content = nb_safetensors_meta(f->f, "content");
    if (format && !strcmp(format, "nabla") && !content)
        return nb_fail_status(
            NB_ERR_FORMAT,
            "%s: the file holds bare weights (nb_model_save_weights), not a model: "
            "build the model and call nb_model_load_weights, or save it with "
            "nb_model_save",
            f->ctx);
    if (content && !strcmp(content, "checkpoint"))
        return nb_fail_status(
            NB_ERR_FORMAT,
            "%s: the file is a checkpoint (nb_model_save_checkpoint), not a model: "
            "build and compile the model and call nb_model_load_checkpoint",
            f->ctx);
    if (!format || strcmp(format, "nabla") || strcmp(content, "model"))
        return nb_fail_status(NB_ERR_FORMAT,
                              "%s: not a nabla model file (its metadata has no format = nabla and "
                              "content = model)",
                              f->ctx);
    const char *v = get(f, "model.version");
    if (!v) return nb_failure_code();
    if (strcmp(v, NB_MODEL_FILE_VERSION))
        return bad(f, "model.version", v, "1 (a newer nabla wrote this file?)"), nb_failure_code();
    return NB_OK;
}

static nb_model *read_architecture(const file *f) {
    int64_t shape[NB_MAX_DIMS], n_layers, numel = 1;
    int nd = get_list(f, "model.input_shape", NB_MAX_DIMS - 1, MAX_FEATURES, shape);
    for (int d = 0; d < nd && numel; d++)
        numel = shape[d] <= MAX_FEATURES / numel ? numel * shape[d] : 0;
    if (nd && !numel)
        return bad(f, "model.input_shape", get(f, "model.input_shape"),
                   "a sample of at most 2^31 numbers"),
               NULL;
    if (!nd || !get_int(f, "model.layers", 0, MAX_LAYERS, &n_layers)) return NULL;
    nb_model *m = nb_sequential(shape, nd);
    const char *name = get(f, "model");
    if (!m || !name || nb_model_set_name(m, name) != NB_OK) {
        if (m && name) bad(f, "model", name, "a name of 1 to 63 characters");
        nb_model_free(m);
        return NULL;
    }
    for (int i = 0; i < n_layers; i++) {
        nb_layer *l = read_layer(f, i);
        nb_status s = l ? check_kernel(f, m, l, i) : nb_failure_code();
        if (s != NB_OK) nb_layer_free(l);
        if (s == NB_OK && (s = nb_model_add(m, l)) != NB_OK &&
            strncmp(nb_error(), f->ctx, strlen(f->ctx))) {
            char why[1024];
            snprintf(why, sizeof why, "%s", nb_error());
            nb_fail_status(s, "%s: layer.%d: %s", f->ctx, i, why);
        }
        if (s != NB_OK) return nb_model_free(m), NULL;
    }
    return m;
}

/* Every weight of the model is in the file with its shape and the file has no others; then
 * the values are copied in. */
static nb_status read_weights(const file *f, nb_model *m) {
    int nw = nb_model_num_weights(m);
    for (int w = 0; w < nw; w++) {
        const nb_weight *wt = nb_model_weight(m, w);
        const nb_tensor *t = file_tensor(f, wt->name);
        if (!t)
            return nb_fail_status(NB_ERR_FORMAT,
                                  "%s: the layer list does not fit the weights: the file has no "
                                  "weight '%s'",
                                  f->ctx, wt->name);
        if (!nb_same_shape(t, wt->t)) {
            char shape[64];
            snprintf(shape, sizeof shape, "%s", nb_shape_s(wt->t));
            return nb_fail_status(NB_ERR_FORMAT,
                                  "%s: the layer list does not fit the weights: '%s' is %s in the "
                                  "file, the layers make it %s",
                                  f->ctx, wt->name, nb_shape_s(t), shape);
        }
    }
    if (nb_safetensors_count(f->f) != nw)
        for (int i = 0; i < nb_safetensors_count(f->f); i++) {
            bool known = false;
            for (int w = 0; w < nw && !known; w++)
                known = !strcmp(nb_model_weight(m, w)->name, nb_safetensors_name(f->f, i));
            if (!known)
                return nb_fail_status(NB_ERR_FORMAT,
                                      "%s: the layer list does not fit the weights: the file has a "
                                      "weight '%s' that no layer has",
                                      f->ctx, nb_safetensors_name(f->f, i));
        }
    for (int w = 0; w < nw; w++) {
        nb_weight *wt = nb_model_weight(m, w);
        const nb_tensor *t = file_tensor(f, wt->name);
        nb_status s = nb_copy_from(wt->t, nb_ptr(t), t->numel);
        if (s != NB_OK) return s;
    }
    return NB_OK;
}

/* The optimizer the file names, with its settings: which keys to read comes from a fresh
 * optimizer of that name (its state has every key the saved one had). */
static nb_optimizer *read_optimizer(const file *f) {
    const char *name = get(f, OPT_PREFIX "name");
    if (!name) return NULL;
    nb_optimizer *fresh = nb_optimizer_from_name(name), *opt = NULL;
    if (!fresh)
        return bad(f, OPT_PREFIX "name", name,
                   "sgd, adagrad, rmsprop, adam, adamw, nadam, adamax or adadelta"),
               NULL;
    nb_optimizer_state own = {0}, st = {0};
    char(*keys)[TEXT_LEN] = NULL;
    bool got_state = nb_optimizer_get_state(fresh, NULL, &own) == NB_OK;
    if (got_state) {
        keys = calloc((size_t)own.n_pairs + 1, TEXT_LEN);
        st.keys = calloc((size_t)own.n_pairs + 1, sizeof(char *));
        st.values = calloc((size_t)own.n_pairs + 1, sizeof(char *));
    }
    if (keys && st.keys && st.values) {
        for (int i = 0; i < own.n_pairs; i++) {
            snprintf(keys[i], TEXT_LEN, "%s%s", OPT_PREFIX, own.keys[i]);
            const char *v = nb_safetensors_meta(f->f, keys[i]);
            if (!v) continue; /* from_state names the first one that is missing */
            st.keys[st.n_pairs] = own.keys[i];
            st.values[st.n_pairs++] = v;
        }
        opt = nb_optimizer_from_state(&st, f->ctx);
    } else if (got_state) { /* else nb_optimizer_get_state recorded why */
        nb_fail(NB_ERR_MEMORY, "%s: out of memory", f->ctx);
    }
    free(keys);
    free(st.keys);
    free(st.values);
    nb_optimizer_state_free(&own);
    nb_optimizer_free(fresh);
    return opt;
}

static nb_status read_compile(const file *f, nb_model *m) {
    const char *loss = nb_safetensors_meta(f->f, "compile.loss");
    if (!loss) return NB_OK; /* saved before compile */
    int64_t n;
    if (!get_int(f, "compile.metrics", 0, NB_MODEL_MAX_METRICS, &n)) return nb_failure_code();
    const char *metrics[NB_MODEL_MAX_METRICS];
    char key[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "compile.metric.%d", i);
        if (!(metrics[i] = get(f, key))) return nb_failure_code();
    }
    /* absent in files written before from_logits existed: those were probabilities */
    bool logits = false;
    if (nb_safetensors_meta(f->f, "compile.from_logits") &&
        !get_bool(f, "compile.from_logits", &logits))
        return nb_failure_code();
    nb_optimizer *opt = read_optimizer(f);
    if (!opt) return nb_failure_code();
    nb_status s = nb_model_compile_ex(m, &(nb_compile_opts){.loss = loss,
                                                            .from_logits = logits,
                                                            .optimizer = opt,
                                                            .metrics = metrics,
                                                            .n_metrics = (int)n});
    if (s != NB_OK && strncmp(nb_error(), f->ctx, strlen(f->ctx))) {
        char why[1024];
        snprintf(why, sizeof why, "%s", nb_error());
        nb_fail_status(s, "%s: compile.*: %s", f->ctx, why);
    }
    return s;
}

static nb_model *load(const nb_safetensors *st, const char *ctx) {
    file f = {st, ctx};
    uint64_t rng = nb_rng_get_state();
    nb_model *m = check_content(&f) == NB_OK ? read_architecture(&f) : NULL;
    if (m && (read_weights(&f, m) != NB_OK || read_compile(&f, m) != NB_OK)) {
        nb_model_free(m);
        m = NULL;
    }
    nb_rng_set_state(rng);
    return m;
}

/* The file's tensors live in a scope of their own, closed before returning. */
static nb_model *load_from(nb_safetensors *(*read)(const void *, size_t, const char *),
                           const void *data, size_t size, const char *name) {
    char ctx[4200];
    snprintf(ctx, sizeof ctx, "nb_load_model: %s", name);
    if (nb_scope_begin() != NB_OK) return NULL;
    nb_safetensors *st = read(data, size, name);
    nb_model *m = NULL;
    if (st) {
        m = load(st, ctx);
    } else { /* the reader's message names the file and the byte; say who asked */
        char why[1024];
        snprintf(why, sizeof why, "%s", nb_error());
        nb_fail(nb_failure_code(), "nb_load_model: %s", why);
    }
    nb_safetensors_free(st);
    nb_scope_end();
    return m;
}

static nb_safetensors *read_path(const void *path, size_t size, const char *name) {
    (void)size;
    (void)name;
    return nb_safetensors_read(path);
}

nb_model *nb_load_model(const char *path) {
    if (!path) return nb_fail(NB_ERR_NULL, "nb_load_model: path is NULL");
    return load_from(read_path, path, 0, path);
}

nb_model *nb_load_model_mem(const void *data, size_t size, const char *name) {
    if (!data && size) return nb_fail(NB_ERR_NULL, "nb_load_model_mem: data is NULL");
    return load_from(nb_safetensors_read_mem, data, size, name ? name : "(memory)");
}
