/* A check fit makes before training: does the validation part hold a class
 * that training never sees? Keras's validation_split takes the last fraction
 * of the samples, before shuffling, so a file sorted by class (iris.csv, wine)
 * validates on classes the model cannot have learned, and val_accuracy sits
 * near 0 without a word. fit warns, once, and names the classes. */
#include "fit_internal.h"

#include <math.h>
#include <stdlib.h>

#define MAX_CLASSES (1 << 16) /* labels above this are not class indices */

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

static void warn_unseen(const unsigned char *train, const unsigned char *val, int64_t k,
                        float split) {
    char list[256] = "";
    int n = 0;
    size_t at = 0;
    for (int64_t c = 0; c < k; c++) {
        if (!val[c] || train[c]) continue;
        if (n++ < 8 && at < sizeof list)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%lld", n > 1 ? ", " : "",
                                   (long long)c);
    }
    if (n == 0) return;
    if (n > 8 && at < sizeof list) snprintf(list + at, sizeof list - at, ", ...");
    if (split > 0)
        nb_warn("nb_model_fit: the validation part holds class%s %s that the training part lacks "
                "(validation_split %g takes the last %g%% of the samples, before shuffling); "
                "shuffle or stratify the samples before fit",
                n > 1 ? "es" : "", list, (double)split, 100.0 * (double)split);
    else
        nb_warn("nb_model_fit: the validation data holds class%s %s that the training data lacks; "
                "shuffle or stratify the samples before splitting them",
                n > 1 ? "es" : "", list);
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
    warn_unseen(seen, seen + k, k, split);
    free(seen);
}
