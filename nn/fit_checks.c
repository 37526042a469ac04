/* A check fit makes before training: does the validation part hold a class
 * that training never sees? Keras's validation_split takes the last fraction
 * of the samples, before shuffling, so a file sorted by class (iris.csv, wine)
 * validates on classes the model cannot have learned, and val_accuracy sits
 * near 0 without a word. fit warns, once, and names the classes; it warns
 * too when validation holds one class only while training holds several (the
 * last 20% of iris.csv is all class 2). */
#include "fit_internal.h"

#include <math.h>
#include <stdlib.h>

#define MAX_CLASSES (1 << 16) /* labels above this are not class indices */
/* a random part of 10 or more samples from several classes is hardly ever one class */
#define MIN_ONE_CLASS 10

/* the class of row i: a label [N] / [N, 1], or the argmax of a one-hot row [N, K] */
static int64_t class_of(const float *rows, int64_t i, int64_t k, bool onehot) {
    if (!onehot) return (int64_t)rows[i];
    const float *r = rows + i * k;
    int64_t best = 0;
    for (int64_t c = 1; c < k; c++)
        if (r[c] > r[best]) best = c;
    return best;
}

/* the number of classes, or 0 when t does not hold class targets */
static int64_t count_classes(const nb_tensor *t, bool onehot) {
    if (onehot) return t->ndim == 2 ? t->shape[1] : 0;
    if (!(t->ndim == 1 || (t->ndim == 2 && t->shape[1] == 1))) return 0;
    const float *d = nb_ptr(t);
    int64_t k = 0;
    for (int64_t i = 0; i < t->shape[0]; i++) {
        float v = d[i];
        if (!(v >= 0 && v < MAX_CLASSES) || v != floorf(v)) return 0;
        if ((int64_t)v + 1 > k) k = (int64_t)v + 1;
    }
    return k;
}

static void mark(const nb_tensor *t, int64_t k, bool onehot, unsigned char *seen) {
    for (int64_t i = 0; i < t->shape[0]; i++) {
        int64_t c = class_of(nb_ptr(t), i, k, onehot);
        if (c >= 0 && c < k) seen[c] = 1;
    }
}

/* "0, 1, 2" (at most 8, then "...") of the classes c with want[c] and not except[c] */
static int list_classes(char *list, size_t size, const unsigned char *want,
                        const unsigned char * not, int64_t k) {
    int n = 0;
    size_t at = 0;
    list[0] = '\0';
    for (int64_t c = 0; c < k; c++) {
        if (!want[c] || (not &&not [c])) continue;
        if (n++ < 8 && at < size)
            at += (size_t)snprintf(list + at, size - at, "%s%lld", n > 1 ? ", " : "", (long long)c);
    }
    if (n > 8 && at < size) snprintf(list + at, size - at, ", ...");
    return n;
}

static void warn_unseen(const unsigned char *train, const unsigned char *val, int64_t k,
                        int64_t n_val, float split) {
    char lacking[256], in_val[256], in_train[256];
    int n = list_classes(lacking, sizeof lacking, val, train, k);
    int n_in_val = list_classes(in_val, sizeof in_val, val, NULL, k);
    int n_in_train = list_classes(in_train, sizeof in_train, train, NULL, k);
    char where[160] = "data";
    if (split > 0)
        snprintf(where, sizeof where,
                 "part (validation_split %g takes the last %g%% of the samples, before "
                 "shuffling)",
                 (double)split, 100.0 * (double)split);
    const char *fix = split > 0 ? "shuffle or stratify the samples before fit"
                                : "shuffle or stratify the samples before splitting them";
    if (n > 0)
        nb_warn("nb_model_fit: the validation %s holds class%s %s that the training part "
                "lacks; %s",
                where, n > 1 ? "es" : "", lacking, fix);
    /* a class-sorted file: every class was trained on, but validation sees one */
    else if (n_in_val == 1 && n_in_train > 1 && n_val >= MIN_ONE_CLASS)
        nb_warn("nb_model_fit: the validation %s holds only class %s (%lld samples) while the "
                "training part holds classes %s; %s",
                where, in_val, (long long)n_val, in_train, fix);
}

void nb_fit_check_classes(const nb_model *m, const nb_tensor *y, const nb_tensor *val_y,
                          float split) {
    if (!val_y) return;
    bool onehot = m->loss == NB_LOSS_CATEGORICAL_CE;
    if (!onehot && m->loss != NB_LOSS_SPARSE_CATEGORICAL_CE && m->loss != NB_LOSS_BINARY_CE)
        return; /* regression: no classes */
    int64_t k = count_classes(y, onehot), kv = count_classes(val_y, onehot);
    if (k == 0 || kv == 0 || (onehot && k != kv)) return;
    if (kv > k) k = kv;
    unsigned char *seen = calloc(2 * (size_t)k, 1);
    if (!seen) return; /* a warning is not worth failing fit for */
    mark(y, k, onehot, seen);
    mark(val_y, k, onehot, seen + k);
    warn_unseen(seen, seen + k, k, val_y->shape[0], split);
    free(seen);
}
