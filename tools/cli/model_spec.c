/* The layer-list parser behind `nabla summary/dot/train`. */
#include "model_spec.h"

#include "core/core_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 8

/* A model typed on the command line stays within these, checked before
 * anything is allocated: a typo such as "dense 10000000" or an input of
 * 100000x100000 is an error, not a multi-gigabyte allocation. */
#define SPEC_MAX_ELEMENTS ((int64_t)1 << 24) /* per sample: the input and every layer's output */
#define SPEC_MAX_PARAMS   ((int64_t)1 << 27) /* weights of the whole model: 512 MiB of floats */

typedef struct {
    char text[MAX_WORDS][32];
    int column[MAX_WORDS];
    int n;
} words;

static const char *const activations[] = {"linear",     "relu", "sigmoid", "tanh",     "softmax",
                                          "leaky_relu", "elu",  "gelu",    "softplus", "step"};

static bool is_activation(const char *w) {
    for (size_t i = 0; i < sizeof activations / sizeof activations[0]; i++)
        if (!strcmp(w, activations[i])) return true;
    return false;
}

static bool fail_at(int *column, int at, const char *fmt, const char *word) {
    if (column) *column = at;
    nb_fail(NB_ERR_FORMAT, fmt, at, word);
    return false;
}

/* a whole non-negative integer word */
static bool integer(const words *w, int i, int64_t *out, int *column) {
    if (i >= w->n)
        return fail_at(column, w->column[w->n - 1], "column %d: expected a number after '%s'",
                       w->text[w->n - 1]);
    char *end;
    errno = 0;
    long long v = strtoll(w->text[i], &end, 10);
    if (*end || errno || v < 1 || v > (1 << 24))
        return fail_at(column, w->column[i], "column %d: '%s' is not a size (1 to 16777216)",
                       w->text[i]);
    *out = v;
    return true;
}

static nb_layer *layer_of(const words *w, int *column) {
    const char *kind = w->text[0];
    int64_t a = 0, b = 0;
    if (!strcmp(kind, "flatten") && w->n == 1) return nb_flatten_layer();
    if (!strcmp(kind, "batchnorm") && w->n == 1) return nb_batch_norm_layer(0, 0);
    if (is_activation(kind) && w->n == 1) return nb_activation_layer(kind);
    if (!strcmp(kind, "dense") && w->n <= 3) {
        if (!integer(w, 1, &a, column)) return NULL;
        if (w->n == 3 && !is_activation(w->text[2]))
            return fail_at(column, w->column[2], "column %d: '%s' is not an activation",
                           w->text[2]),
                   NULL;
        return nb_dense(a, w->n == 3 ? w->text[2] : NULL);
    }
    if ((!strcmp(kind, "dropout") || !strcmp(kind, "gaussiannoise")) && w->n == 2) {
        char *end;
        bool noise = kind[0] == 'g';
        double r = strtod(w->text[1], &end);
        if (*end || !(r >= 0 && (noise ? r <= 1e30 : r < 1)))
            return fail_at(column, w->column[1],
                           noise ? "column %d: '%s' is not a deviation >= 0"
                                 : "column %d: '%s' is not a rate in [0, 1)",
                           w->text[1]),
                   NULL;
        return noise ? nb_gaussian_noise_layer((float)r) : nb_dropout_layer((float)r);
    }
    if (!strcmp(kind, "globalavgpool") && w->n == 1) return nb_global_avg_pool2d_layer();
    if (!strcmp(kind, "globalmaxpool") && w->n == 1) return nb_global_max_pool2d_layer();
    if (!strcmp(kind, "layernorm") && w->n == 1) return nb_layer_norm_layer(0, true, true);
    if (!strcmp(kind, "rescaling") && (w->n == 2 || w->n == 3)) {
        double v[2] = {1, 0};
        for (int i = 1; i < w->n; i++) {
            char *end;
            v[i - 1] = strtod(w->text[i], &end);
            if (*end || !isfinite(v[i - 1]) || fabs(v[i - 1]) > 3.4e38)
                return fail_at(column, w->column[i], "column %d: '%s' is not a finite number",
                               w->text[i]),
                       NULL;
        }
        return nb_rescaling_layer((float)v[0], (float)v[1]);
    }
    if ((!strcmp(kind, "maxpool") || !strcmp(kind, "avgpool")) && w->n <= 3) {
        if (!integer(w, 1, &a, column) || (w->n == 3 && !integer(w, 2, &b, column))) return NULL;
        return kind[0] == 'm' ? nb_max_pool2d_layer((int)a, (int)b)
                              : nb_avg_pool2d_layer((int)a, (int)b);
    }
    if (!strcmp(kind, "conv") && w->n >= 3 && w->n <= 5) {
        if (!integer(w, 1, &a, column) || !integer(w, 2, &b, column)) return NULL;
        nb_conv2d_layer_opts o = {.kernel_h = (int)b, .kernel_w = (int)b, .padding = "valid"};
        for (int i = 3; i < w->n; i++) {
            if (is_activation(w->text[i]))
                o.activation = w->text[i];
            else if (!strcmp(w->text[i], "same") || !strcmp(w->text[i], "valid"))
                o.padding = w->text[i];
            else
                return fail_at(column, w->column[i],
                               "column %d: '%s' is neither an activation nor same/valid",
                               w->text[i]),
                       NULL;
        }
        return nb_conv2d_layer_ex(a, &o);
    }
    return fail_at(column, w->column[0],
                   "column %d: '%s': expected dense N [act], conv F K [act] [same|valid], "
                   "maxpool K [S], avgpool K [S], globalavgpool, globalmaxpool, flatten, "
                   "dropout R, gaussiannoise SD, batchnorm, layernorm, rescaling S [O] or an "
                   "activation",
                   kind),
           NULL;
}

/* split the next layer (up to a comma) into words; false on an empty layer */
static bool next_layer(const char *spec, int *pos, words *w, int *column) {
    w->n = 0;
    while (spec[*pos] && spec[*pos] != ',') {
        while (spec[*pos] == ' ' || spec[*pos] == '\t') (*pos)++;
        if (!spec[*pos] || spec[*pos] == ',') break;
        if (w->n == MAX_WORDS)
            return fail_at(column, *pos, "column %d: too many words in a layer ('%s')", "");
        int start = *pos, len = 0;
        while (spec[*pos] && !isspace((unsigned char)spec[*pos]) && spec[*pos] != ',')
            (*pos)++, len++;
        if (len >= (int)sizeof w->text[0])
            return fail_at(column, start, "column %d: word too long ('%s')", "");
        memcpy(w->text[w->n], spec + start, (size_t)len);
        for (int i = 0; i < len; i++)
            w->text[w->n][i] = (char)tolower((unsigned char)w->text[w->n][i]);
        w->text[w->n][len] = '\0';
        w->column[w->n++] = start;
    }
    if (w->n == 0) return fail_at(column, *pos, "column %d: expected a layer%s", "");
    return true;
}

/* the product of n sizes as a double (exact up to 2^53), for checks and messages */
static double elements(const int64_t *shape, int n) {
    double p = 1;
    for (int i = 0; i < n; i++) p *= (double)shape[i];
    return p;
}

/* The output shape of the model so far (its input when it has no layers). */
static int current_shape(nb_model *m, int64_t *shape) {
    int n = nb_model_num_layers(m), ndim;
    if (n > 0) return nb_layer_output_shape(nb_model_layer(m, n - 1), shape);
    const int64_t *in = nb_model_input_shape(m, &ndim);
    memcpy(shape, in, (size_t)ndim * sizeof *shape);
    return ndim;
}

/* Weights the layer w would add on top of the model so far: dense and conv
 * hold nearly all of them; 0 when the shapes do not fit (the layer itself
 * then says why). */
static double weights_of(nb_model *m, const words *w) {
    int64_t shape[NB_MAX_DIMS];
    int ndim = current_shape(m, shape);
    double a = w->n > 1 ? strtod(w->text[1], NULL) : 0, b = w->n > 2 ? strtod(w->text[2], NULL) : 0;
    if (!strcmp(w->text[0], "dense") && ndim == 1) return (double)shape[0] * a + a;
    if (!strcmp(w->text[0], "conv") && ndim == 3) return (double)shape[0] * a * b * b + a;
    return 0;
}

/* The limits above: the weights before a layer is built, its output after */
static bool check_weights(const words *w, double total, int64_t max_params, int *column) {
    if (total <= (double)max_params) return true;
    if (column) *column = w->column[0];
    nb_fail(NB_ERR_ARG,
            "column %d: this %s layer brings the model to %.0f weights; a model from a spec has "
            "at most %lld",
            w->column[0], w->text[0], total, (long long)max_params);
    return false;
}

static bool check_output(nb_model *m, const words *w, int *column) {
    int64_t shape[NB_MAX_DIMS];
    int ndim = current_shape(m, shape);
    if (ndim < 0 || elements(shape, ndim) <= (double)SPEC_MAX_ELEMENTS) return true;
    if (column) *column = w->column[0];
    nb_fail(NB_ERR_ARG,
            "column %d: '%s' outputs %s, %.0f elements per sample; a model from a spec has at "
            "most %lld",
            w->column[0], w->text[0], nb_dims_s(shape, ndim), elements(shape, ndim),
            (long long)SPEC_MAX_ELEMENTS);
    return false;
}

nb_model *nb_model_from_spec_ex(const char *spec, const int64_t *input, int ndim,
                                int64_t max_params, int *column) {
    if (column) *column = -1;
    if (!spec) return nb_fail(NB_ERR_NULL, "nb_model_from_spec: NULL spec");
    if (input && ndim > 0 && ndim <= NB_MAX_DIMS && elements(input, ndim) > SPEC_MAX_ELEMENTS)
        return nb_fail(NB_ERR_ARG,
                       "nb_model_from_spec: input shape %s has %.0f elements per sample; a model "
                       "from a spec takes at most %lld",
                       nb_dims_s(input, ndim), elements(input, ndim), (long long)SPEC_MAX_ELEMENTS);
    nb_model *m = nb_sequential(input, ndim);
    if (!m) return NULL;
    int pos = 0;
    double total = 0;
    do {
        if (spec[pos] == ',') pos++;
        words w;
        nb_layer *l = next_layer(spec, &pos, &w, column) ? layer_of(&w, column) : NULL;
        if (l) { /* its words are valid: count its weights before building them */
            total += weights_of(m, &w);
            if (!check_weights(&w, total, max_params, column)) {
                nb_layer_free(l);
                l = NULL;
            }
        }
        if (!l || nb_model_add(m, l) != NB_OK || !check_output(m, &w, column)) {
            if (l && column) *column = w.column[0];
            nb_model_free(m);
            return NULL;
        }
    } while (spec[pos] == ',');
    return m;
}

nb_model *nb_model_from_spec(const char *spec, const int64_t *input, int ndim, int *column) {
    return nb_model_from_spec_ex(spec, input, ndim, SPEC_MAX_PARAMS, column);
}

bool nb_parse_shape(const char *text, int64_t *shape, int *ndim) {
    int n = 0;
    const char *p = text;
    if (!text || !*text)
        return nb_fail(NB_ERR_FORMAT, "input shape: empty (try 784 or 28x28)"), false;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || !isdigit((unsigned char)*p) || v < 1 || errno || n == NB_MAX_DIMS - 1 ||
            (*end && (*end != 'x' || !end[1])))
            return nb_fail(NB_ERR_FORMAT,
                           "input shape '%s': expected sizes joined by x, like 28x28 (1 to %d "
                           "sizes, each at least 1)",
                           text, NB_MAX_DIMS - 1),
                   false;
        shape[n++] = v;
        p = *end ? end + 1 : end;
    }
    if (elements(shape, n) > (double)SPEC_MAX_ELEMENTS)
        return nb_fail(NB_ERR_FORMAT,
                       "input shape '%s': %.0f elements per sample; nabla takes at most %lld", text,
                       elements(shape, n), (long long)SPEC_MAX_ELEMENTS),
               false;
    *ndim = n;
    return true;
}
