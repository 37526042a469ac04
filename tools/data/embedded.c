/* Small datasets compiled into the library, so that the demos run with
 * nothing installed: XOR and Fisher's iris (the same 150 rows, in the same
 * order, as scikit-learn's iris.csv; the test suite checks they agree). */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

/* sepal length, sepal width, petal length, petal width (cm); class id */
static const float iris_rows[150][5] = {
    {5.1f, 3.5f, 1.4f, 0.2f, 0}, {4.9f, 3.0f, 1.4f, 0.2f, 0}, {4.7f, 3.2f, 1.3f, 0.2f, 0},
    {4.6f, 3.1f, 1.5f, 0.2f, 0}, {5.0f, 3.6f, 1.4f, 0.2f, 0}, {5.4f, 3.9f, 1.7f, 0.4f, 0},
    {4.6f, 3.4f, 1.4f, 0.3f, 0}, {5.0f, 3.4f, 1.5f, 0.2f, 0}, {4.4f, 2.9f, 1.4f, 0.2f, 0},
    {4.9f, 3.1f, 1.5f, 0.1f, 0}, {5.4f, 3.7f, 1.5f, 0.2f, 0}, {4.8f, 3.4f, 1.6f, 0.2f, 0},
    {4.8f, 3.0f, 1.4f, 0.1f, 0}, {4.3f, 3.0f, 1.1f, 0.1f, 0}, {5.8f, 4.0f, 1.2f, 0.2f, 0},
    {5.7f, 4.4f, 1.5f, 0.4f, 0}, {5.4f, 3.9f, 1.3f, 0.4f, 0}, {5.1f, 3.5f, 1.4f, 0.3f, 0},
    {5.7f, 3.8f, 1.7f, 0.3f, 0}, {5.1f, 3.8f, 1.5f, 0.3f, 0}, {5.4f, 3.4f, 1.7f, 0.2f, 0},
    {5.1f, 3.7f, 1.5f, 0.4f, 0}, {4.6f, 3.6f, 1.0f, 0.2f, 0}, {5.1f, 3.3f, 1.7f, 0.5f, 0},
    {4.8f, 3.4f, 1.9f, 0.2f, 0}, {5.0f, 3.0f, 1.6f, 0.2f, 0}, {5.0f, 3.4f, 1.6f, 0.4f, 0},
    {5.2f, 3.5f, 1.5f, 0.2f, 0}, {5.2f, 3.4f, 1.4f, 0.2f, 0}, {4.7f, 3.2f, 1.6f, 0.2f, 0},
    {4.8f, 3.1f, 1.6f, 0.2f, 0}, {5.4f, 3.4f, 1.5f, 0.4f, 0}, {5.2f, 4.1f, 1.5f, 0.1f, 0},
    {5.5f, 4.2f, 1.4f, 0.2f, 0}, {4.9f, 3.1f, 1.5f, 0.2f, 0}, {5.0f, 3.2f, 1.2f, 0.2f, 0},
    {5.5f, 3.5f, 1.3f, 0.2f, 0}, {4.9f, 3.6f, 1.4f, 0.1f, 0}, {4.4f, 3.0f, 1.3f, 0.2f, 0},
    {5.1f, 3.4f, 1.5f, 0.2f, 0}, {5.0f, 3.5f, 1.3f, 0.3f, 0}, {4.5f, 2.3f, 1.3f, 0.3f, 0},
    {4.4f, 3.2f, 1.3f, 0.2f, 0}, {5.0f, 3.5f, 1.6f, 0.6f, 0}, {5.1f, 3.8f, 1.9f, 0.4f, 0},
    {4.8f, 3.0f, 1.4f, 0.3f, 0}, {5.1f, 3.8f, 1.6f, 0.2f, 0}, {4.6f, 3.2f, 1.4f, 0.2f, 0},
    {5.3f, 3.7f, 1.5f, 0.2f, 0}, {5.0f, 3.3f, 1.4f, 0.2f, 0}, {7.0f, 3.2f, 4.7f, 1.4f, 1},
    {6.4f, 3.2f, 4.5f, 1.5f, 1}, {6.9f, 3.1f, 4.9f, 1.5f, 1}, {5.5f, 2.3f, 4.0f, 1.3f, 1},
    {6.5f, 2.8f, 4.6f, 1.5f, 1}, {5.7f, 2.8f, 4.5f, 1.3f, 1}, {6.3f, 3.3f, 4.7f, 1.6f, 1},
    {4.9f, 2.4f, 3.3f, 1.0f, 1}, {6.6f, 2.9f, 4.6f, 1.3f, 1}, {5.2f, 2.7f, 3.9f, 1.4f, 1},
    {5.0f, 2.0f, 3.5f, 1.0f, 1}, {5.9f, 3.0f, 4.2f, 1.5f, 1}, {6.0f, 2.2f, 4.0f, 1.0f, 1},
    {6.1f, 2.9f, 4.7f, 1.4f, 1}, {5.6f, 2.9f, 3.6f, 1.3f, 1}, {6.7f, 3.1f, 4.4f, 1.4f, 1},
    {5.6f, 3.0f, 4.5f, 1.5f, 1}, {5.8f, 2.7f, 4.1f, 1.0f, 1}, {6.2f, 2.2f, 4.5f, 1.5f, 1},
    {5.6f, 2.5f, 3.9f, 1.1f, 1}, {5.9f, 3.2f, 4.8f, 1.8f, 1}, {6.1f, 2.8f, 4.0f, 1.3f, 1},
    {6.3f, 2.5f, 4.9f, 1.5f, 1}, {6.1f, 2.8f, 4.7f, 1.2f, 1}, {6.4f, 2.9f, 4.3f, 1.3f, 1},
    {6.6f, 3.0f, 4.4f, 1.4f, 1}, {6.8f, 2.8f, 4.8f, 1.4f, 1}, {6.7f, 3.0f, 5.0f, 1.7f, 1},
    {6.0f, 2.9f, 4.5f, 1.5f, 1}, {5.7f, 2.6f, 3.5f, 1.0f, 1}, {5.5f, 2.4f, 3.8f, 1.1f, 1},
    {5.5f, 2.4f, 3.7f, 1.0f, 1}, {5.8f, 2.7f, 3.9f, 1.2f, 1}, {6.0f, 2.7f, 5.1f, 1.6f, 1},
    {5.4f, 3.0f, 4.5f, 1.5f, 1}, {6.0f, 3.4f, 4.5f, 1.6f, 1}, {6.7f, 3.1f, 4.7f, 1.5f, 1},
    {6.3f, 2.3f, 4.4f, 1.3f, 1}, {5.6f, 3.0f, 4.1f, 1.3f, 1}, {5.5f, 2.5f, 4.0f, 1.3f, 1},
    {5.5f, 2.6f, 4.4f, 1.2f, 1}, {6.1f, 3.0f, 4.6f, 1.4f, 1}, {5.8f, 2.6f, 4.0f, 1.2f, 1},
    {5.0f, 2.3f, 3.3f, 1.0f, 1}, {5.6f, 2.7f, 4.2f, 1.3f, 1}, {5.7f, 3.0f, 4.2f, 1.2f, 1},
    {5.7f, 2.9f, 4.2f, 1.3f, 1}, {6.2f, 2.9f, 4.3f, 1.3f, 1}, {5.1f, 2.5f, 3.0f, 1.1f, 1},
    {5.7f, 2.8f, 4.1f, 1.3f, 1}, {6.3f, 3.3f, 6.0f, 2.5f, 2}, {5.8f, 2.7f, 5.1f, 1.9f, 2},
    {7.1f, 3.0f, 5.9f, 2.1f, 2}, {6.3f, 2.9f, 5.6f, 1.8f, 2}, {6.5f, 3.0f, 5.8f, 2.2f, 2},
    {7.6f, 3.0f, 6.6f, 2.1f, 2}, {4.9f, 2.5f, 4.5f, 1.7f, 2}, {7.3f, 2.9f, 6.3f, 1.8f, 2},
    {6.7f, 2.5f, 5.8f, 1.8f, 2}, {7.2f, 3.6f, 6.1f, 2.5f, 2}, {6.5f, 3.2f, 5.1f, 2.0f, 2},
    {6.4f, 2.7f, 5.3f, 1.9f, 2}, {6.8f, 3.0f, 5.5f, 2.1f, 2}, {5.7f, 2.5f, 5.0f, 2.0f, 2},
    {5.8f, 2.8f, 5.1f, 2.4f, 2}, {6.4f, 3.2f, 5.3f, 2.3f, 2}, {6.5f, 3.0f, 5.5f, 1.8f, 2},
    {7.7f, 3.8f, 6.7f, 2.2f, 2}, {7.7f, 2.6f, 6.9f, 2.3f, 2}, {6.0f, 2.2f, 5.0f, 1.5f, 2},
    {6.9f, 3.2f, 5.7f, 2.3f, 2}, {5.6f, 2.8f, 4.9f, 2.0f, 2}, {7.7f, 2.8f, 6.7f, 2.0f, 2},
    {6.3f, 2.7f, 4.9f, 1.8f, 2}, {6.7f, 3.3f, 5.7f, 2.1f, 2}, {7.2f, 3.2f, 6.0f, 1.8f, 2},
    {6.2f, 2.8f, 4.8f, 1.8f, 2}, {6.1f, 3.0f, 4.9f, 1.8f, 2}, {6.4f, 2.8f, 5.6f, 2.1f, 2},
    {7.2f, 3.0f, 5.8f, 1.6f, 2}, {7.4f, 2.8f, 6.1f, 1.9f, 2}, {7.9f, 3.8f, 6.4f, 2.0f, 2},
    {6.4f, 2.8f, 5.6f, 2.2f, 2}, {6.3f, 2.8f, 5.1f, 1.5f, 2}, {6.1f, 2.6f, 5.6f, 1.4f, 2},
    {7.7f, 3.0f, 6.1f, 2.3f, 2}, {6.3f, 3.4f, 5.6f, 2.4f, 2}, {6.4f, 3.1f, 5.5f, 1.8f, 2},
    {6.0f, 3.0f, 4.8f, 1.8f, 2}, {6.9f, 3.1f, 5.4f, 2.1f, 2}, {6.7f, 3.1f, 5.6f, 2.4f, 2},
    {6.9f, 3.1f, 5.1f, 2.3f, 2}, {5.8f, 2.7f, 5.1f, 1.9f, 2}, {6.8f, 3.2f, 5.9f, 2.3f, 2},
    {6.7f, 3.3f, 5.7f, 2.5f, 2}, {6.7f, 3.0f, 5.2f, 2.3f, 2}, {6.3f, 2.5f, 5.0f, 1.9f, 2},
    {6.5f, 3.0f, 5.2f, 2.0f, 2}, {6.2f, 3.4f, 5.4f, 2.3f, 2}, {5.9f, 3.0f, 5.1f, 1.8f, 2},
};

static const char *const iris_classes[] = {"setosa", "versicolor", "virginica"};
const char *const nb_iris_feature_names[4] = {"sepal length (cm)", "sepal width (cm)",
                                              "petal length (cm)", "petal width (cm)"};

static const float xor_x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
static const float xor_y[4] = {0, 1, 1, 0};
static const char *const xor_classes[] = {"0", "1"};

/* n heap copies of names, or NULL (with an error) */

/* Fills out from constant arrays; everything but the tensors is heap-owned. */
static nb_status fill(nb_dataset *out, const float *x, const float *y, int64_t n, int64_t f,
                      const char *const *classes, int k, const char *const *features) {
    memset(out, 0, sizeof *out);
    out->x = nb_from_array(x, NB_SHAPE(n, f));
    out->y = nb_from_array(y, NB_SHAPE(n));
    out->n_classes = k;
    out->n_features = f;
    out->class_names = nb_copy_strings("nb_dataset_load", classes, k);
    out->feature_names = features ? nb_copy_strings("nb_dataset_load", features, f) : NULL;
    out->source = nb_strdup_checked("nb_dataset_load", "embedded");
    if (!out->x || !out->y || !out->class_names || (features && !out->feature_names) ||
        !out->source) {
        nb_free(out->x);
        nb_free(out->y);
        nb_dataset_free(out);
        return nb_error_code() ? nb_error_code() : NB_ERR_MEMORY;
    }
    return NB_OK;
}

nb_status nb_embedded_xor(nb_dataset *out) {
    return fill(out, &xor_x[0][0], xor_y, 4, 2, xor_classes, 2, NULL);
}

nb_status nb_embedded_iris(nb_dataset *out) {
    float x[150][4], y[150];
    for (int i = 0; i < 150; i++) {
        memcpy(x[i], iris_rows[i], sizeof x[i]);
        y[i] = iris_rows[i][4];
    }
    return fill(out, &x[0][0], y, 150, 4, iris_classes, 3, nb_iris_feature_names);
}
