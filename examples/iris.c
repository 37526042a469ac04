/* Iris: 4 measurements -> 3 species, the course's first Keras model.
 *
 *   Dense(16, relu, input 4) -> Dense(3, softmax), adam, 50 epochs, batch 1,
 *   standardized features, a 30% test split; must reach 0.95.
 */
#include "classify.h"

int main(void) {
    nb_manual_seed(1);
    nb_dataset ds = {0};
    nb_split sp;
    nb_scaler sc;
    if (nb_dataset_load("iris", &ds) != NB_OK ||
        nb_train_test_split(ds.x, ds.y, 0.3, true, &sp) != NB_OK ||
        nb_standard_scaler_fit(sp.x_train, &sc) != NB_OK) {
        fprintf(stderr, "iris: %s\n", nb_error());
        return 1;
    }
    nb_tensor *x = nb_scaler_transform(&sc, sp.x_train), *xt = nb_scaler_transform(&sc, sp.x_test);
    nb_tensor *y = nb_to_categorical(sp.y_train, 3), *yt = nb_to_categorical(sp.y_test, 3);

    nb_model *m = nb_sequential(NB_SHAPE(4));
    nb_model_add(m, nb_dense(16, "relu"));
    nb_model_add(m, nb_dense(3, "softmax"));
    nb_model_summary(m, stdout);
    nb_model_compile(m, "categorical_crossentropy", nb_optimizer_from_name("adam"),
                     (const char *[]){"accuracy"}, 1);
    nb_history *h =
        nb_model_fit(m, x, y, &(nb_fit_opts){.epochs = 50, .batch_size = 1, .verbose = 2});
    if (!h) {
        fprintf(stderr, "iris: %s\n", nb_error());
        return 1;
    }
    double v[2];
    nb_model_evaluate(m, xt, yt, 32, v, 2);
    printf("\ntest loss %.4f, test accuracy %.4f on %lld flowers\n", v[0], v[1],
           (long long)nb_dim(xt, 0));
    double acc = report(m, xt, sp.y_test, 3, ds.class_names);
    bool ok = acc >= 0.95;
    printf("%s: test accuracy %.4f %s 0.95\n", ok ? "ok" : "FAILED", acc, ok ? ">=" : "<");
    nb_history_free(h);
    nb_model_free(m);
    nb_dataset_free(&ds);
    nb_shutdown();
    return ok ? 0 : 1;
}
