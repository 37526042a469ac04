/* Multi-label classification: each 8x8 digit image gets three yes/no labels
 * at once, "is even", "is greater than 4", "is prime". Three sigmoid outputs
 * and binary cross-entropy, so the labels are learned independently.
 *   Dense(64, relu) -> Dense(3, sigmoid), adam, 30 epochs; mean per-label
 *   accuracy on a 25% test split must reach 0.9.
 */
#include <nabla.h>

#include <stdio.h>

static const char *const label_names[] = {"even", "greater than 4", "prime"};

/* digit d -> three 0/1 labels */
static nb_tensor *labels_of(const nb_tensor *digits) {
    int64_t n = nb_dim(digits, 0);
    nb_tensor *y = nb_zeros(NB_SHAPE(n, 3));
    for (int64_t i = 0; i < n; i++) {
        int d = (int)nb_get_flat(digits, i);
        float *row = nb_data(y) + 3 * i;
        row[0] = d % 2 == 0;
        row[1] = d > 4;
        row[2] = d == 2 || d == 3 || d == 5 || d == 7;
    }
    return y;
}

int main(void) {
    nb_manual_seed(5);
    nb_dataset ds = {0};
    nb_split sp;
    if (nb_dataset_load("digits", &ds) != NB_OK ||
        nb_train_test_split(nb_div_scalar(ds.x, 16), labels_of(ds.y), 0.25, true, &sp) != NB_OK) {
        fprintf(stderr, "multilabel: %s\n", nb_error());
        return 1;
    }
    nb_model *m = nb_sequential(NB_SHAPE(64));
    nb_model_add(m, nb_dense(64, "relu"));
    nb_model_add(m, nb_dense(3, "sigmoid"));
    nb_model_summary(m, stdout);
    nb_model_compile(m, "binary_crossentropy", nb_optimizer_from_name("adam"),
                     (const char *[]){"accuracy"}, 1);
    nb_history *h = nb_model_fit(m, sp.x_train, sp.y_train,
                                 &(nb_fit_opts){.epochs = 30, .batch_size = 32, .verbose = 2});
    if (!h) {
        fprintf(stderr, "multilabel: %s\n", nb_error());
        return 1;
    }
    nb_tensor *p = nb_gt(nb_model_predict(m, sp.x_test, 64), nb_scalar(0.5f));
    nb_tensor *right = nb_mean(nb_eq(p, sp.y_test), (int[]){0}, 1, false);
    double mean = 0;
    printf("\nper-label test accuracy:\n");
    for (int k = 0; k < 3; k++) {
        printf("  %-16s %.4f\n", label_names[k], nb_get_flat(right, k));
        mean += nb_get_flat(right, k) / 3;
    }
    bool ok = mean >= 0.9;
    printf("%s: mean per-label accuracy %.4f %s 0.9\n", ok ? "ok" : "FAILED", mean,
           ok ? ">=" : "<");
    nb_history_free(h);
    nb_model_free(m);
    nb_dataset_free(&ds);
    nb_shutdown();
    return ok ? 0 : 1;
}
