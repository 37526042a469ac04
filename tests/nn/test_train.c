/* The Keras workflow on real data: fit reaches a real accuracy on
 * Fashion-MNIST, History and callbacks behave as documented, weights survive
 * a save and a load. */
#include "nb_test.h"

#include <stdio.h>
#include <unistd.h>

static nb_model *mlp_with(int hidden, nb_optimizer *opt) {
    nb_model *m = nb_sequential(NB_SHAPE(28, 28));
    nb_model_add(m, nb_flatten_layer());
    nb_model_add(m, nb_dense(hidden, "relu"));
    nb_model_add(m, nb_dense(10, "softmax"));
    ck_assert_int_eq(nb_model_compile(m, "sparse_categorical_crossentropy", opt,
                                      (const char *[]){"accuracy"}, 1),
                     NB_OK);
    return m;
}

static nb_model *mlp(int hidden) {
    return mlp_with(hidden, nb_optimizer_from_name("adam"));
}

/* the first n rows of the data set, as contiguous copies */
static void first_rows(const char *name, int64_t n, nb_tensor **x, nb_tensor **y) {
    nb_dataset ds = {0};
    ck_assert_msg(nb_dataset_load(name, &ds) == NB_OK, "%s", nb_error());
    *x = nb_clone(nb_slice(ds.x, 0, 0, n, 1));
    *y = nb_clone(nb_slice(ds.y, 0, 0, n, 1));
    nb_dataset_free(&ds);
}

START_TEST(test_one_epoch_on_10k_fashion_mnist_images_reaches_0_80) {
    nb_tensor *x, *y, *xv, *yv;
    first_rows("fashion-mnist", 10000, &x, &y);
    first_rows("fashion-mnist-test", 2000, &xv, &yv);
    nb_model *m = mlp(100);
    nb_history *h = nb_model_fit(
        m, x, y,
        &(nb_fit_opts){
            .epochs = 1, .batch_size = 32, .val_x = xv, .val_y = yv, .verbose = NB_SILENT});
    ck_assert_msg(h != NULL, "%s", nb_error());
    double acc = nb_history_get(h, "val_accuracy", 0);
    ck_assert_msg(acc >= 0.80, "validation accuracy %.4f after one epoch", acc);
    ck_assert(nb_history_get(h, "loss", 0) < 1.0);
    nb_history_free(h);
    nb_model_free(m);
}
END_TEST

START_TEST(test_history_evaluate_and_predict_agree) {
    nb_tensor *x, *y;
    first_rows("fashion-mnist", 2000, &x, &y);
    nb_model *m = mlp(32);
    nb_history *h = nb_model_fit(
        m, x, y,
        &(nb_fit_opts){
            .epochs = 3, .batch_size = 64, .validation_split = 0.25f, .verbose = NB_SILENT});
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(nb_history_epochs(h), 3);
    ck_assert(nb_history_get(h, "loss", 2) < nb_history_get(h, "loss", 0));
    ck_assert(!isnan(nb_history_get(h, "val_accuracy", 2)));
    ck_assert(isnan(nb_history_get(h, "no_such_key", 0)));
    /* evaluate on the held-out quarter gives the last epoch's val_ numbers */
    nb_tensor *xv = nb_clone(nb_slice(x, 0, 1500, 2000, 1)),
              *yv = nb_clone(nb_slice(y, 0, 1500, 2000, 1));
    double v[2];
    ck_assert_int_eq(nb_model_evaluate(m, xv, yv, 100, v, 2), 2);
    NB_ASSERT_CLOSE(v[0], nb_history_get(h, "val_loss", 2), 1e-4);
    NB_ASSERT_CLOSE(v[1], nb_history_get(h, "val_accuracy", 2), 1e-6);
    nb_tensor *p = nb_model_predict(m, xv, 128);
    ck_assert_int_eq(nb_dim(p, 0), 500);
    ck_assert_int_eq(nb_dim(p, 1), 10);
    NB_ASSERT_CLOSE(nb_item(nb_sum(nb_slice(p, 0, 0, 1, 1), NULL, 0, false)), 1.0, 1e-5);
    /* History as CSV */
    char path[] = "/tmp/nabla_history_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ck_assert_int_eq(nb_history_save_csv(h, path), NB_OK);
    FILE *f = fopen(path, "r");
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "epoch,loss,accuracy,val_loss,val_accuracy,lr\n");
    int rows = 0;
    while (fgets(line, sizeof line, f)) rows++;
    fclose(f);
    remove(path);
    ck_assert_int_eq(rows, 3);
    nb_history_free(h);
    nb_model_free(m);
}
END_TEST

/* the first column of every row of a CSV file after its header */
static int csv_epochs(const char *path, int *epochs, int max) {
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    int n = 0;
    while (n < max && fgets(line, sizeof line, f)) epochs[n++] = atoi(line);
    fclose(f);
    return n;
}

/* A run resumed at initial_epoch 3 of 5 trains epochs 4 and 5 (1-based, as the
 * progress lines count): its History and the CSV logger say so, not 1 and 2. */
START_TEST(test_history_and_csv_logger_number_epochs_from_initial_epoch) {
    nb_manual_seed(3);
    nb_tensor *x = nb_randn(NB_SHAPE(64, 4));
    nb_tensor *y = nb_randn(NB_SHAPE(64, 1));
    nb_model *m = nb_sequential(NB_SHAPE(4));
    nb_model_add(m, nb_dense(1, NULL));
    ck_assert_int_eq(nb_model_compile(m, "mse", nb_sgd(0.01f, 0, false, 0), NULL, 0), NB_OK);
    char hist[] = "/tmp/nabla_hist_XXXXXX", logged[] = "/tmp/nabla_csvlog_XXXXXX";
    close(mkstemp(hist));
    close(mkstemp(logged));
    nb_callback cb = nb_csv_logger(logged);
    nb_history *h = nb_model_fit(m, x, y,
                                 &(nb_fit_opts){.epochs = 5,
                                                .initial_epoch = 3,
                                                .batch_size = 16,
                                                .verbose = NB_SILENT,
                                                .callbacks = &cb,
                                                .n_callbacks = 1});
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(nb_history_epochs(h), 2);
    ck_assert_int_eq(nb_history_epoch(h, 0), 3); /* 0-based, as Keras's history.epoch */
    ck_assert_int_eq(nb_history_epoch(h, 1), 4);
    ck_assert_int_eq(nb_history_save_csv(h, hist), NB_OK);
    int e[8];
    ck_assert_int_eq(csv_epochs(hist, e, 8), 2);
    ck_assert_int_eq(e[0], 4);
    ck_assert_int_eq(e[1], 5);
    ck_assert_int_eq(csv_epochs(logged, e, 8), 2);
    ck_assert_int_eq(e[0], 4);
    ck_assert_int_eq(e[1], 5);
    remove(hist);
    remove(logged);
    nb_callback_free(&cb);
    nb_history_free(h);
    nb_model_free(m);
}
END_TEST

/* a monitor that never improves: early stopping ends training after patience epochs */
static bool count_epochs(nb_model *m, const nb_epoch_logs *l, void *ctx) {
    (void)m;
    (void)l;
    (*(int *)ctx)++;
    return false;
}

START_TEST(test_early_stopping_stops_and_restores_the_best_weights) {
    nb_tensor *x, *y;
    first_rows("fashion-mnist", 1000, &x, &y);
    /* 800 images and a fast optimizer: the validation loss soon turns up (overfitting) */
    nb_model *m = mlp_with(64, nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false));
    int epochs = 0;
    nb_callback cbs[] = {nb_early_stopping("val_loss", 2, true),
                         {.on_epoch_end = count_epochs, .ctx = &epochs}};
    nb_history *h = nb_model_fit(m, x, y,
                                 &(nb_fit_opts){.epochs = 40,
                                                .batch_size = 50,
                                                .validation_split = 0.2f,
                                                .verbose = NB_SILENT,
                                                .callbacks = cbs,
                                                .n_callbacks = 2});
    ck_assert_ptr_nonnull(h);
    int ran = nb_history_epochs(h);
    ck_assert_int_eq(ran, epochs);
    double best = INFINITY;
    int best_epoch = 0;
    for (int e = 0; e < ran; e++)
        if (nb_history_get(h, "val_loss", e) < best)
            best = nb_history_get(h, "val_loss", e), best_epoch = e;
    ck_assert_msg(ran < 40, "early stopping never stopped (best epoch %d)", best_epoch);
    ck_assert_int_eq(ran, best_epoch + 1 + 2); /* patience 2 after the best */
    /* restore_best: evaluating now gives the best epoch's validation loss */
    nb_tensor *xv = nb_clone(nb_slice(x, 0, 800, 1000, 1)),
              *yv = nb_clone(nb_slice(y, 0, 800, 1000, 1));
    double v[2];
    nb_model_evaluate(m, xv, yv, 50, v, 2);
    NB_ASSERT_CLOSE(v[0], best, 1e-4);
    nb_callback_free(&cbs[0]);
    nb_history_free(h);
    nb_model_free(m);
}
END_TEST

START_TEST(test_weights_survive_save_and_load_and_mismatches_are_named) {
    nb_tensor *x, *y;
    first_rows("fashion-mnist", 256, &x, &y);
    nb_model *a = mlp(24);
    nb_history *h = nb_model_fit(a, x, y, &(nb_fit_opts){.epochs = 1, .verbose = NB_SILENT});
    nb_history_free(h);
    char path[] = "/tmp/nabla_model_XXXXXX";
    close(mkstemp(path));
    ck_assert_int_eq(nb_model_save_weights(a, path), NB_OK);
    nb_model *b = mlp(24);
    ck_assert_int_eq(nb_model_load_weights(b, path), NB_OK);
    nb_tensor *pa = nb_model_predict(a, x, 64), *pb = nb_model_predict(b, x, 64);
    for (int64_t i = 0; i < nb_numel(pa); i++) ck_assert(nb_get_flat(pa, i) == nb_get_flat(pb, i));
    nb_model *c = mlp(25);
    ck_assert_int_ne(nb_model_load_weights(c, path), NB_OK);
    NB_ASSERT_ERROR_HAS("tensor 'dense/kernel' is [784, 24] in the file but [784, 25] here");
    remove(path);
    nb_model_free(a);
    nb_model_free(b);
    nb_model_free(c);
}
END_TEST

START_TEST(test_sequential_from_an_array_of_layers) {
    nb_model *m =
        nb_sequential_of(NB_SHAPE(3), (nb_layer *[]){nb_dense(4, "relu"), nb_dense(2, NULL)}, 2);
    ck_assert_msg(m != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_model_param_count(m), 3 * 4 + 4 + 4 * 2 + 2);
    nb_model_free(m);
    ck_assert_ptr_null(nb_sequential_of(
        NB_SHAPE(3), (nb_layer *[]){nb_dense(4, NULL), nb_conv2d_layer(2, 3, NULL)}, 2));
    NB_ASSERT_ERROR_HAS("conv");
}
END_TEST

START_TEST(test_fit_errors_are_clear) {
    nb_model *m = nb_sequential(NB_SHAPE(28, 28));
    nb_model_add(m, nb_flatten_layer());
    nb_model_add(m, nb_dense(10, "softmax"));
    nb_tensor *x = nb_zeros(NB_SHAPE(8, 28, 28)), *y = nb_zeros(NB_SHAPE(8));
    ck_assert_ptr_null(nb_model_fit(m, x, y, NULL));
    NB_ASSERT_ERROR_HAS("nb_model_fit: compile the model first");
    nb_model_compile(m, "sparse_categorical_crossentropy", NULL, NULL, 0);
    ck_assert_ptr_null(nb_model_fit(m, nb_zeros(NB_SHAPE(8, 27, 28)), y, NULL));
    NB_ASSERT_ERROR_HAS("nb_model_fit: x [8, 27, 28] and y [8] do not fit the model's input "
                        "[28, 28]");
    ck_assert_ptr_null(nb_model_fit(m, x, y, &(nb_fit_opts){.validation_split = 1.5f}));
    NB_ASSERT_ERROR_HAS("nb_model_fit: validation_split 1.5 must be in [0, 1)");
    ck_assert_ptr_null(nb_model_fit(m, x, y, &(nb_fit_opts){.val_x = x}));
    NB_ASSERT_ERROR_HAS("nb_model_fit: give both val_x and val_y");
    nb_model_free(m);
}
END_TEST

static Suite *train_suite(void) {
    Suite *s = suite_create("train");
    TCase *tc = nb_tcase("fit");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_one_epoch_on_10k_fashion_mnist_images_reaches_0_80);
    tcase_add_test(tc, test_history_evaluate_and_predict_agree);
    tcase_add_test(tc, test_history_and_csv_logger_number_epochs_from_initial_epoch);
    tcase_add_test(tc, test_early_stopping_stops_and_restores_the_best_weights);
    tcase_add_test(tc, test_weights_survive_save_and_load_and_mismatches_are_named);
    tcase_add_test(tc, test_fit_errors_are_clear);
    tcase_add_test(tc, test_sequential_from_an_array_of_layers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(train_suite());
}
