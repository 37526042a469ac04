/* Model weights as safetensors: every weight under its full name
 * ("dense_1/kernel"), batch-norm statistics included, written atomically. */
#include "nn_internal.h"

#include "nabla/safetensors.h"

#include <stdlib.h>

/* the names and tensors of every weight, in layer order */
static int collect(nb_model *m, const char ***names, nb_tensor ***tensors) {
    int n = nb_model_num_weights(m);
    *names = calloc((size_t)(n ? n : 1), sizeof **names);
    *tensors = calloc((size_t)(n ? n : 1), sizeof **tensors);
    if (!*names || !*tensors) return -1;
    for (int i = 0; i < n; i++) {
        nb_weight *w = nb_model_weight(m, i);
        (*names)[i] = w->name;
        (*tensors)[i] = w->t;
    }
    return n;
}

nb_status nb_model_save_weights_meta(const nb_model *model, const char *path,
                                     const char *const *meta_keys, const char *const *meta_values,
                                     int n_meta) {
    nb_model *m = (nb_model *)model; /* weights are only read */
    if (!m || !path || n_meta < 0 || n_meta > 14 || (n_meta && (!meta_keys || !meta_values)))
        return nb_failc(NB_ERR_NULL, "nb_model_save_weights: NULL model, path or metadata");
    const char **names;
    nb_tensor **tensors;
    int n = collect(m, &names, &tensors);
    const char *keys[16] = {"format", "model"}, *values[16] = {"nabla", m->name};
    for (int i = 0; i < n_meta; i++) {
        keys[2 + i] = meta_keys[i];
        values[2 + i] = meta_values[i];
    }
    nb_status s = n < 0 ? nb_failc(NB_ERR_MEMORY, "nb_model_save_weights: out of memory")
                        : nb_safetensors_save(path, names, tensors, n, keys, values, 2 + n_meta);
    free(names);
    free(tensors);
    return s;
}

nb_status nb_model_save_weights(const nb_model *m, const char *path) {
    return nb_model_save_weights_meta(m, path, NULL, NULL, 0);
}

nb_status nb_model_load_weights(nb_model *m, const char *path) {
    if (!m || !path) return nb_failc(NB_ERR_NULL, "nb_model_load_weights: NULL model or path");
    const char **names;
    nb_tensor **tensors;
    int n = collect(m, &names, &tensors);
    nb_status s = n < 0 ? nb_failc(NB_ERR_MEMORY, "nb_model_load_weights: out of memory")
                        : nb_safetensors_load(path, names, tensors, n);
    free(names);
    free(tensors);
    return s;
}
