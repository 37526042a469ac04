/* Two of scikit-learn's tables, as the course trains them:
 *   wine (13 features, 3 cultivars): Dense(32, relu) -> Dense(3, softmax)
 *   breast cancer (30 features, malignant or benign):
 *       Dense(32, relu) -> Dense(1, sigmoid), binary cross-entropy
 * adam, standardized features, a 25% test split; each must reach 0.93.
 */
#include "classify.h"

#include <string.h>

static double run(const char *name, bool binary) {
    nb_dataset ds = {0};
    nb_split sp;
    nb_scaler sc;
    printf("==== %s ====\n", name);
    if (nb_dataset_load(name, &ds) != NB_OK ||
        nb_train_test_split(ds.x, ds.y, 0.25, true, &sp) != NB_OK ||
        nb_standard_scaler_fit(sp.x_train, &sc) != NB_OK)
        return NAN;
    nb_tensor *x = nb_scaler_transform(&sc, sp.x_train), *xt = nb_scaler_transform(&sc, sp.x_test);
    int64_t f = nb_dim(x, 1);
    nb_model *m = nb_sequential(&f, 1);
    nb_model_add(m, nb_dense(32, "relu"));
    nb_model_add(m, binary ? nb_dense(1, "sigmoid") : nb_dense(ds.n_classes, "softmax"));
    nb_model_summary(m, stdout);
    nb_model_compile(m, binary ? "binary_crossentropy" : "sparse_categorical_crossentropy",
                     nb_optimizer_from_name("adam"), (const char *[]){"accuracy"}, 1);
    nb_tensor *y = binary ? nb_reshape(sp.y_train, NB_SHAPE(-1, 1)) : sp.y_train;
    nb_history *h =
        nb_model_fit(m, x, y, &(nb_fit_opts){.epochs = 60, .batch_size = 16, .verbose = 2});
    double acc = NAN;
    if (h) {
        printf("after 60 epochs: loss %.4f, accuracy %.4f\n", nb_history_get(h, "loss", 59),
               nb_history_get(h, "accuracy", 59));
        if (binary) { /* two classes from one sigmoid: p > 0.5 */
            nb_scope_begin();
            nb_tensor *p =
                nb_reshape(nb_gt(nb_model_predict(m, xt, 64), nb_scalar(0.5f)), NB_SHAPE(-1));
            nb_tensor *cm = nb_confusion_matrix(sp.y_test, p, 2);
            printf("\nconfusion matrix\n");
            nb_print(cm);
            printf("\n");
            nb_classification_report(stdout, cm, (const char *const *)ds.class_names);
            acc = (nb_get(cm, (int64_t[]){0, 0}) + nb_get(cm, (int64_t[]){1, 1})) /
                  (double)nb_dim(xt, 0);
            nb_scope_end();
        } else {
            acc = report(m, xt, sp.y_test, ds.n_classes, ds.class_names);
        }
    }
    nb_history_free(h);
    nb_model_free(m);
    nb_dataset_free(&ds);
    printf("%s test accuracy %.4f\n\n", name, acc);
    return acc;
}

int main(void) {
    nb_manual_seed(11);
    double wine = run("wine", false), cancer = run("breast_cancer", true);
    if (isnan(wine) || isnan(cancer)) {
        fprintf(stderr, "tabular: %s\n", nb_error());
        return 1;
    }
    bool ok = wine >= 0.93 && cancer >= 0.93;
    printf("%s: wine %.4f, breast cancer %.4f (need 0.93 each)\n", ok ? "ok" : "FAILED", wine,
           cancer);
    nb_shutdown();
    return ok ? 0 : 1;
}
