/* History: the logs of every epoch under Keras's keys ("loss", "accuracy",
 * "val_loss", "val_accuracy", "lr"), read back by name or written as CSV. */
#include "fit_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

nb_history *nb_history_new(const nb_model *m, bool validation) {
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
    /* always, not only when a schedule or a callback changes it: a History
     * has the same columns whatever the run did with its rate */
    snprintf(h->keys[h->n_keys++], sizeof h->keys[0], "lr");
    return h;
}

bool nb_history_add(nb_history *h, const double *values) {
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

int nb_history_epoch(const nb_history *h, int i) {
    return h && i >= 0 && i < h->epochs ? h->first_epoch + i : -1;
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

nb_status nb_history_write_csv(const char *fn, const nb_history *h, const char *path) {
    nb_atomic_file a;
    FILE *f = nb_atomic_open(&a, fn, path);
    if (!f) return nb_failure_code();
    fprintf(f, "epoch");
    for (int k = 0; k < h->n_keys; k++) fprintf(f, ",%s", h->keys[k]);
    fprintf(f, "\n");
    for (int e = 0; e < h->epochs; e++) {
        fprintf(f, "%d", h->first_epoch + e + 1); /* 1-based, as the progress lines */
        for (int k = 0; k < h->n_keys; k++)
            fprintf(f, ",%.6g", h->values[(size_t)e * (size_t)h->n_keys + (size_t)k]);
        fprintf(f, "\n");
    }
    return nb_atomic_commit(&a);
}

nb_status nb_history_save_csv(const nb_history *h, const char *path) {
    if (!h || !path)
        return nb_fail_status(NB_ERR_NULL, "nb_history_save_csv: NULL history or path");
    return nb_history_write_csv("nb_history_save_csv", h, path);
}

void nb_history_free(nb_history *h) {
    if (!h) return;
    free(h->values);
    free(h);
}
