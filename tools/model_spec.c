/* The layer-list parser behind `nabla summary/dot/train`. */
#include "model_spec.h"

#include "../core/core_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 8

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
    if (!strcmp(kind, "dropout") && w->n == 2) {
        char *end;
        double r = strtod(w->text[1], &end);
        if (*end || !(r >= 0 && r < 1))
            return fail_at(column, w->column[1], "column %d: '%s' is not a rate in [0, 1)",
                           w->text[1]),
                   NULL;
        return nb_dropout_layer((float)r);
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
                   "maxpool K [S], avgpool K [S], flatten, dropout R, batchnorm or an activation",
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

nb_model *nb_model_from_spec(const char *spec, const int64_t *input, int ndim, int *column) {
    if (column) *column = -1;
    if (!spec) return nb_fail(NB_ERR_NULL, "nb_model_from_spec: NULL spec");
    nb_model *m = nb_sequential(input, ndim);
    if (!m) return NULL;
    int pos = 0;
    do {
        if (spec[pos] == ',') pos++;
        words w;
        nb_layer *l = next_layer(spec, &pos, &w, column) ? layer_of(&w, column) : NULL;
        if (!l || nb_model_add(m, l) != NB_OK) {
            if (l && column) *column = w.column[0];
            nb_model_free(m);
            return NULL;
        }
    } while (spec[pos] == ',');
    return m;
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
        if (end == p || v < 1 || errno || n == NB_MAX_DIMS - 1 || (*end && *end != 'x'))
            return nb_fail(NB_ERR_FORMAT,
                           "input shape '%s': expected sizes joined by x, like 28x28", text),
                   false;
        shape[n++] = v;
        p = *end ? end + 1 : end;
    }
    *ndim = n;
    return true;
}
