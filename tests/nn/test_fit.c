/* fit's loop as a user sees it: the order it visits the samples, the learning
 * rate it trains with (schedules, LearningRateScheduler, ReduceLROnPlateau,
 * History's lr), its progress output on a terminal, a pipe and a file, the
 * warning about a validation part with classes training never sees, the
 * callbacks (batch hooks, EarlyStopping, ModelCheckpoint, TerminateOnNaN) and
 * empty inputs. */
#include "nb_test.h"
#include "nn/nn_internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <pty.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

/* ---- small models and data -------------------------------------------------------------- */
/* 4 features -> 8 (relu) -> k (softmax), sparse categorical cross-entropy */
static nb_model *classifier(int k, nb_optimizer *opt) {
    nb_model *m = nb_sequential(NB_SHAPE(4));
    nb_model_add(m, nb_dense(8, "relu"));
    nb_model_add(m, nb_dense(k, "softmax"));
    ck_assert_int_eq(nb_model_compile(m, "sparse_categorical_crossentropy", opt,
                                      (const char *[]){"accuracy"}, 1),
                     NB_OK);
    return m;
}

/* n samples of 4 features; labels [n, 1]: the first counts[0] are class 0, then
 * counts[1] of class 1, ... (sorted, as files like iris.csv are) */
static void sorted_classes(const int *counts, int k, nb_tensor **x, nb_tensor **y) {
    int64_t n = 0;
    for (int c = 0; c < k; c++) n += counts[c];
    *x = nb_randn(NB_SHAPE(n, 4));
    *y = nb_zeros(NB_SHAPE(n, 1));
    int64_t at = 0;
    for (int c = 0; c < k; c++)
        for (int i = 0; i < counts[c]; i++, at++) {
            nb_data(*y)[at] = (float)c;
            nb_data(*x)[at * 4 + c % 4] += 2.0f;
        }
}

static void shuffle_rows(nb_tensor **x, nb_tensor **y) {
    int64_t n = nb_dim(*x, 0), *order = malloc((size_t)n * sizeof *order);
    ck_assert_int_eq(nb_permutation(order, n), NB_OK);
    *x = nb_take_rows(*x, order, n);
    *y = nb_take_rows(*y, order, n);
    free(order);
}

/* a copy of every trainable parameter of m, flattened */
static float *params_copy(nb_model *m, int64_t *count) {
    nb_tensor **p;
    int n = nb_model_parameters(m, &p);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += nb_numel(p[i]);
    float *out = malloc((size_t)total * sizeof *out), *at = out;
    for (int i = 0; i < n; i++) {
        nb_copy_to(p[i], at, nb_numel(p[i]));
        at += nb_numel(p[i]);
    }
    *count = total;
    return out;
}

/* ---- sample_weight and class_weight ------------------------------------------------------- */
/* every loss per sample: its mean is the 0-d loss, on probabilities and on logits */
START_TEST(test_per_sample_losses_average_to_the_loss) {
    nb_tensor *p = nb_from_array(
        (float[]){0.1f, 0.2f, 0.3f, 0.4f, 0.7f, 0.1f, 0.1f, 0.1f, 0.25f, 0.25f, 0.4f, 0.1f},
        NB_SHAPE(3, 4));
    nb_tensor *t = nb_from_array((float[]){0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0}, NB_SHAPE(3, 4));
    nb_tensor *labels = nb_from_array((float[]){3, 0, 2}, NB_SHAPE(3));
    for (int k = 0; k < NB_LOSS_COUNT; k++)
        for (int logits = 0; logits < 2; logits++) {
            if (logits && !nb_loss_is_crossentropy((nb_loss_kind)k)) continue;
            nb_tensor *y = k == NB_LOSS_SPARSE_CATEGORICAL_CE ? labels : t;
            nb_tensor *per = nb_loss_per_sample((nb_loss_kind)k, logits, p, y);
            nb_tensor *mean = nb_loss_apply((nb_loss_kind)k, logits, p, y);
            ck_assert_msg(per && mean, "%s: %s", nb_loss_name((nb_loss_kind)k), nb_error());
            ck_assert_int_eq(nb_ndim(per), 1);
            ck_assert_int_eq(nb_dim(per, 0), 3);
            double sum = 0;
            for (int i = 0; i < 3; i++) sum += nb_get_flat(per, i);
            ck_assert_msg(fabs(sum / 3 - nb_item(mean)) < 1e-6 * (1 + fabs(nb_item(mean))),
                          "%s%s: per-sample mean %g, loss %g", nb_loss_name((nb_loss_kind)k),
                          logits ? " (logits)" : "", sum / 3, (double)nb_item(mean));
        }
    /* one by hand: mse of row 1 is (0.3^2 + 0.1^2 * 3) / 4 */
    NB_ASSERT_CLOSE(nb_get_flat(nb_loss_per_sample(NB_LOSS_MSE, false, p, t), 1), 0.03, 1e-6);
}
END_TEST

/* Integer weights are repeated rows: full-batch SGD on x weighted by w (sum w = N, so
 * sum_i w_i l_i / N is the mean over the repeated set) takes the same steps as on
 * the set with row i repeated w_i times, eager and compiled. */
START_TEST(test_sample_weights_train_as_repeated_rows) {
    const float w[8] = {2, 0, 1, 1, 3, 1, 0, 0};
    int64_t rep[8], r = 0;
    for (int64_t i = 0; i < 8; i++)
        for (int j = 0; j < (int)w[i]; j++) rep[r++] = i;
    ck_assert_int_eq(r, 8);
    nb_tensor *x, *y;
    sorted_classes((const int[]){3, 3, 2}, 3, &x, &y);
    nb_tensor *sw = nb_from_array(w, NB_SHAPE(8));
    for (int eager = 0; eager < 2; eager++) {
        float *after[2];
        double loss[2];
        for (int k = 0; k < 2; k++) {
            nb_manual_seed(11);
            nb_model *m = classifier(3, nb_sgd(0.5f, 0, false, 0));
            nb_fit_opts o = {.epochs = 4,
                             .batch_size = 8,
                             .no_shuffle = true,
                             .verbose = NB_SILENT,
                             .eager = eager};
            if (k == 0) o.sample_weight = sw;
            nb_history *h =
                k == 0 ? nb_model_fit(m, x, y, &o)
                       : nb_model_fit(m, nb_take_rows(x, rep, 8), nb_take_rows(y, rep, 8), &o);
            ck_assert_msg(h != NULL, "%s", nb_error());
            loss[k] = nb_history_get(h, "loss", 3);
            int64_t count;
            after[k] = params_copy(m, &count);
            for (int64_t i = 0; k == 1 && i < count; i++)
                NB_ASSERT_CLOSE(after[0][i], after[1][i], 1e-5);
            nb_history_free(h);
            nb_model_free(m);
        }
        NB_ASSERT_CLOSE(loss[0], loss[1], 1e-5);
        /* and the weights matter: unweighted, the run differs */
        nb_manual_seed(11);
        nb_model *m = classifier(3, nb_sgd(0.5f, 0, false, 0));
        nb_history *h = nb_model_fit(m, x, y,
                                     &(nb_fit_opts){.epochs = 4,
                                                    .batch_size = 8,
                                                    .no_shuffle = true,
                                                    .verbose = NB_SILENT,
                                                    .eager = eager});
        ck_assert(fabs(nb_history_get(h, "loss", 3) - loss[0]) > 1e-3);
        nb_history_free(h);
        nb_model_free(m);
        free(after[0]);
        free(after[1]);
    }
}
END_TEST

/* class_weight {1, 3} is the sample weights 1 and 3 by label, for labels and one-hot y */
START_TEST(test_class_weight_is_sample_weight_by_label) {
    nb_tensor *x, *y;
    sorted_classes((const int[]){5, 3}, 2, &x, &y);
    shuffle_rows(&x, &y);
    nb_tensor *sw = nb_zeros(NB_SHAPE(8));
    for (int i = 0; i < 8; i++) nb_data(sw)[i] = nb_get_flat(y, i) == 1 ? 3.0f : 1.0f;
    float *after[2];
    int64_t count;
    for (int k = 0; k < 2; k++) {
        static const float cw[2] = {1, 3};
        nb_manual_seed(5);
        nb_model *m = classifier(2, nb_sgd(0.3f, 0, false, 0));
        nb_fit_opts o = {.epochs = 3, .batch_size = 4, .no_shuffle = true, .verbose = NB_SILENT};
        if (k == 0)
            o.class_weight = cw, o.n_class_weight = 2;
        else
            o.sample_weight = sw;
        nb_history *h = nb_model_fit(m, x, y, &o);
        ck_assert_msg(h != NULL, "%s", nb_error());
        after[k] = params_copy(m, &count);
        nb_history_free(h);
        nb_model_free(m);
    }
    for (int64_t i = 0; i < count; i++) ck_assert_float_eq(after[0][i], after[1][i]);
    /* one-hot targets: the label is the argmax */
    nb_manual_seed(5);
    nb_model *m = nb_sequential(NB_SHAPE(4));
    nb_model_add(m, nb_dense(8, "relu"));
    nb_model_add(m, nb_dense(2, "softmax"));
    ck_assert_int_eq(
        nb_model_compile(m, "categorical_crossentropy", nb_sgd(0.3f, 0, false, 0), NULL, 0), NB_OK);
    nb_history *h = nb_model_fit(m, x, nb_one_hot(nb_reshape(y, NB_SHAPE(8)), 2),
                                 &(nb_fit_opts){.epochs = 3,
                                                .batch_size = 4,
                                                .no_shuffle = true,
                                                .verbose = NB_SILENT,
                                                .class_weight = (const float[]){1, 3},
                                                .n_class_weight = 2});
    ck_assert_msg(h != NULL, "%s", nb_error());
    float *one_hot = params_copy(m, &count);
    for (int64_t i = 0; i < count; i++) NB_ASSERT_CLOSE(one_hot[i], after[0][i], 1e-5);
    free(one_hot);
    nb_history_free(h);
    nb_model_free(m);
    free(after[0]);
    free(after[1]);
}
END_TEST

START_TEST(test_bad_sample_and_class_weights_are_errors_naming_fit) {
    nb_tensor *x, *y;
    sorted_classes((const int[]){2, 2}, 2, &x, &y);
    nb_model *m = classifier(2, nb_sgd(0.1f, 0, false, 0));
    const struct {
        nb_fit_opts o;
        const char *says;
    } bad[] = {
        {{.sample_weight = nb_ones(NB_SHAPE(3))}, "sample_weight [3]"},
        {{.sample_weight = nb_ones(NB_SHAPE(4, 1))}, "sample_weight [4, 1]"},
        {{.sample_weight = nb_from_array((float[]){1, -1, 1, 1}, NB_SHAPE(4))},
         "sample_weight[1] is -1"},
        {{.sample_weight = nb_from_array((float[]){1, NAN, 1, 1}, NB_SHAPE(4))},
         "sample_weight[1]"},
        {{.class_weight = (const float[]){1, -2}, .n_class_weight = 2}, "class_weight[1] is -2"},
        {{.class_weight = (const float[]){1}, .n_class_weight = 1}, "label 1"},
        {{.class_weight = (const float[]){1}, .n_class_weight = 0}, "class_weight with 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nb_fit_opts o = bad[i].o;
        o.verbose = NB_SILENT;
        ck_assert_ptr_null(nb_model_fit(m, x, y, &o));
        ck_assert_msg(strstr(nb_error(), "nb_model_fit") && strstr(nb_error(), bad[i].says),
                      "case %zu: %s", i, nb_error());
    }
    nb_model_free(m);
}
END_TEST

/* with validation_split the last sample weights weight val_loss (Keras splits them too) */
START_TEST(test_validation_split_weights_val_loss_with_the_last_sample_weights) {
    nb_tensor *x, *y;
    sorted_classes((const int[]){4, 4}, 2, &x, &y);
    shuffle_rows(&x, &y);
    nb_tensor *sw = nb_from_array((float[]){1, 1, 1, 1, 1, 1, 2, 0}, NB_SHAPE(8));
    nb_manual_seed(3);
    nb_model *m = classifier(2, nb_sgd(0.1f, 0, false, 0));
    nb_history *h = nb_model_fit(
        m, x, y,
        &(nb_fit_opts){
            .epochs = 1, .validation_split = 0.25f, .verbose = NB_SILENT, .sample_weight = sw});
    ck_assert_msg(h != NULL, "%s", nb_error());
    /* val_loss = (2 l_6 + 0 l_7) / 2 = l_6 */
    double v[2];
    ck_assert_int_eq(
        nb_model_evaluate(m, nb_slice(x, 0, 6, 7, 1), nb_slice(y, 0, 6, 7, 1), 0, v, 2), 2);
    NB_ASSERT_CLOSE(nb_history_get(h, "val_loss", 0), v[0], 1e-5);
    nb_history_free(h);
    nb_model_free(m);
}
END_TEST

/* ---- steps_per_epoch and validation_freq ---------------------------------------------------- */
static bool count_batch(nb_model *m, int batch, void *ctx) {
    (void)m, (void)batch;
    ++*(int *)ctx;
    return false;
}

/* 10 samples in batches of 4 are 4, 4, 2 a pass: 3 epochs of 2 steps are the 6 batches
 * of 2 plain epochs, in the same shuffled orders (one permutation a pass) */
START_TEST(test_steps_per_epoch_goes_on_through_the_shuffled_order_across_epochs) {
    nb_tensor *x = nb_randn(NB_SHAPE(10, 4)), *y = nb_randn(NB_SHAPE(10, 1));
    float *after[2];
    int64_t count;
    for (int k = 0; k < 2; k++) {
        nb_manual_seed(21);
        nb_model *m = nb_sequential(NB_SHAPE(4));
        nb_model_add(m, nb_dense(1, NULL));
        ck_assert_int_eq(nb_model_compile(m, "mse", nb_sgd(0.05f, 0, false, 0), NULL, 0), NB_OK);
        int batches = 0;
        nb_callback cb = {.on_batch_begin = count_batch, .ctx = &batches};
        nb_fit_opts o = {.epochs = k ? 2 : 3,
                         .batch_size = 4,
                         .verbose = NB_SILENT,
                         .steps_per_epoch = k ? 0 : 2,
                         .callbacks = &cb,
                         .n_callbacks = 1};
        nb_history *h = nb_model_fit(m, x, y, &o);
        ck_assert_msg(h != NULL, "%s", nb_error());
        ck_assert_int_eq(nb_history_epochs(h), k ? 2 : 3);
        ck_assert_int_eq(batches, 6);
        after[k] = params_copy(m, &count);
        nb_history_free(h);
        nb_model_free(m);
    }
    for (int64_t i = 0; i < count; i++) NB_ASSERT_CLOSE(after[0][i], after[1][i], 1e-6);
    free(after[0]);
    free(after[1]);
    nb_model *m = classifier(2, NULL);
    ck_assert_ptr_null(nb_model_fit(m, x, nb_zeros(NB_SHAPE(10, 1)),
                                    &(nb_fit_opts){.steps_per_epoch = -1, .verbose = NB_SILENT}));
    ck_assert_ptr_nonnull(strstr(nb_error(), "nb_model_fit: steps_per_epoch -1"));
    ck_assert_ptr_null(nb_model_fit(m, x, nb_zeros(NB_SHAPE(10, 1)),
                                    &(nb_fit_opts){.validation_freq = -2, .verbose = NB_SILENT}));
    ck_assert_ptr_nonnull(strstr(nb_error(), "validation_freq -2"));
    nb_model_free(m);
}
END_TEST

/* validation_freq 3: val_ logs after epochs 3 and 6 (1-based), NaN elsewhere; EarlyStopping
 * and ReduceLROnPlateau on val_loss take the NaN epochs as no value: patience 2 cannot run
 * out over two validations, and the rate stays */
START_TEST(test_validation_freq_validates_every_nth_epoch_and_callbacks_skip_the_others) {
    nb_tensor *x, *y;
    sorted_classes((const int[]){10, 10}, 2, &x, &y);
    shuffle_rows(&x, &y);
    nb_model *m = classifier(2, nb_sgd(0.05f, 0, false, 0));
    nb_callback cb[2] = {nb_early_stopping("val_loss", 2, false),
                         nb_reduce_lr_on_plateau("val_loss", 0.5f, 1, 0)};
    nb_history *h = nb_model_fit(m, x, y,
                                 &(nb_fit_opts){.epochs = 6,
                                                .validation_split = 0.25f,
                                                .validation_freq = 3,
                                                .verbose = NB_SILENT,
                                                .callbacks = cb,
                                                .n_callbacks = 2});
    ck_assert_msg(h != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_history_epochs(h), 6);
    for (int e = 0; e < 6; e++) {
        bool validated = e == 2 || e == 5;
        ck_assert_msg(isnan(nb_history_get(h, "val_loss", e)) != validated, "epoch %d", e);
        ck_assert(isnan(nb_history_get(h, "val_accuracy", e)) != validated);
        ck_assert(isfinite(nb_history_get(h, "loss", e)));
        NB_ASSERT_CLOSE(nb_history_get(h, "lr", e), 0.05, 1e-7);
    }
    nb_history_free(h);
    nb_callback_free(&cb[0]);
    nb_callback_free(&cb[1]);
    nb_model_free(m);
}
END_TEST

/* ---- evaluate with names ------------------------------------------------------------------ */
START_TEST(test_evaluate_named_gives_loss_and_the_metrics_as_compiled) {
    nb_tensor *x, *y;
    sorted_classes((const int[]){3, 3, 2}, 3, &x, &y);
    nb_model *m = nb_sequential(NB_SHAPE(4));
    nb_model_add(m, nb_dense(3, "softmax"));
    ck_assert_int_eq(nb_model_compile(m, "sparse_categorical_crossentropy", NULL,
                                      (const char *[]){"acc", "sparse_categorical_accuracy"}, 2),
                     NB_OK);
    double plain[3], v[4] = {0, 0, 0, -7};
    const char *names[4] = {0};
    ck_assert_int_eq(nb_model_evaluate(m, x, y, 0, plain, 3), 3);
    ck_assert_int_eq(nb_model_evaluate_named(m, x, y, 0, names, v, 4), 3);
    ck_assert_str_eq(names[0], "loss");
    ck_assert_str_eq(names[1], "acc");
    ck_assert_str_eq(names[2], "sparse_categorical_accuracy");
    ck_assert_ptr_null(names[3]);
    for (int k = 0; k < 3; k++) ck_assert_double_eq(v[k], plain[k]);
    ck_assert_double_eq(v[3], -7); /* nothing past the values */
    /* at most max; names alone */
    ck_assert_int_eq(nb_model_evaluate_named(m, x, y, 0, names, NULL, 1), 1);
    ck_assert_int_eq(nb_model_evaluate_named(m, x, nb_zeros(NB_SHAPE(7, 1)), 0, names, v, 4), -1);
    ck_assert_ptr_nonnull(strstr(nb_error(), "nb_model_evaluate"));
    ck_assert_int_eq(nb_model_evaluate_named(m, x, y, 0, names, v, -1), -1);
    ck_assert_ptr_nonnull(strstr(nb_error(), "nb_model_evaluate_named: max -1"));
    nb_model_free(m);
}
END_TEST

/* ---- the order fit visits the samples ----------------------------------------------------- */
/* With seed 973 the unbiased Fisher-Yates of 2048 elements rejects a draw, so
 * its order differs from the modulo-biased one (the first element already). */
START_TEST(test_fit_visits_the_samples_in_nb_permutation_order) {
    const int64_t n = 2048, bs = 8;
    nb_tensor *x = nb_randn(NB_SHAPE(n, 4)), *y = nb_randn(NB_SHAPE(n, 1));
    nb_model *m[2];
    for (int k = 0; k < 2; k++) {
        nb_manual_seed(7); /* the same initial weights */
        m[k] = nb_sequential(NB_SHAPE(4));
        nb_model_add(m[k], nb_dense(1, NULL));
        ck_assert_int_eq(nb_model_compile(m[k], "mse", nb_sgd(0.05f, 0, false, 0), NULL, 0), NB_OK);
    }
    nb_manual_seed(973);
    nb_history *h = nb_model_fit(
        m[0], x, y,
        &(nb_fit_opts){.epochs = 2, .batch_size = bs, .eager = true, .verbose = NB_SILENT});
    ck_assert_msg(h != NULL, "%s", nb_error());
    /* the same steps by hand, in the order nb_permutation gives for the seed */
    nb_manual_seed(973);
    int64_t *order = malloc((size_t)n * sizeof *order);
    for (int e = 0; e < 2; e++) {
        ck_assert_int_eq(nb_permutation(order, n), NB_OK);
        for (int64_t at = 0; at < n; at += bs) {
            nb_scope_begin();
            nb_tensor *xb = nb_take_rows(x, order + at, bs), *yb = nb_take_rows(y, order + at, bs);
            ck_assert_int_eq(nb_model_train_on_batch(m[1], xb, yb, NULL, NULL), NB_OK);
            nb_scope_end();
        }
    }
    int64_t na, nb;
    float *a = params_copy(m[0], &na), *b = params_copy(m[1], &nb);
    ck_assert_int_eq(na, nb);
    for (int64_t i = 0; i < na; i++)
        ck_assert_msg(a[i] == b[i], "param %lld: fit %.9g, by hand %.9g", (long long)i, a[i], b[i]);
    free(a);
    free(b);
    free(order);
    nb_history_free(h);
    nb_model_free(m[0]);
    nb_model_free(m[1]);
}
END_TEST

/* ---- the learning rate --------------------------------------------------------------------- */
typedef struct {
    nb_optimizer *opt;
    int n;
    int epoch[16];
    float lr[16];
} lr_log;

static bool log_lr(nb_model *m, const nb_epoch_logs *l, void *ctx) {
    (void)m;
    lr_log *r = ctx;
    r->epoch[r->n] = l->epoch;
    r->lr[r->n++] = nb_optimizer_get_lr(r->opt);
    return false;
}

START_TEST(test_fit_applies_the_learning_rate_schedule_each_epoch) {
    nb_tensor *x = nb_randn(NB_SHAPE(64, 4)), *y = nb_zeros(NB_SHAPE(64, 1));
    nb_optimizer *opt = nb_sgd(0.1f, 0, false, 0);
    nb_schedule s = {.kind = NB_SCHEDULE_STEP, .gamma = 0.5f, .step_size = 2};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_OK);
    nb_model *m = classifier(3, opt);
    static lr_log r;
    r = (lr_log){.opt = opt};
    nb_callback cb = {.on_epoch_end = log_lr, .ctx = &r};
    nb_history *h = nb_model_fit(
        m, x, y, &(nb_fit_opts){.epochs = 5, .callbacks = &cb, .n_callbacks = 1, .verbose = -1});
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(r.n, 5);
    for (int e = 0; e < 5; e++)
        ck_assert_msg(r.lr[e] == (float)(0.1 * pow(0.5, e / 2)), "epoch %d: lr %g", e, r.lr[e]);
    nb_history_free(h);
    /* Keras's epoch index counts from 0 whatever initial_epoch is: epochs 3 and 4 */
    r.n = 0;
    h = nb_model_fit(
        m, x, y,
        &(nb_fit_opts){
            .epochs = 5, .initial_epoch = 3, .callbacks = &cb, .n_callbacks = 1, .verbose = -1});
    ck_assert_int_eq(r.n, 2);
    ck_assert_int_eq(r.epoch[0], 3);
    ck_assert(r.lr[0] == (float)(0.1 * 0.5) && r.lr[1] == (float)(0.1 * 0.25));
    nb_history_free(h);
    nb_model_free(m);
}
END_TEST

typedef struct {
    nb_model *m;
    int n;
    float *weights[8];
} weight_log;

static bool log_weights(nb_model *m, const nb_epoch_logs *l, void *ctx) {
    (void)l;
    weight_log *r = ctx;
    int64_t count;
    r->weights[r->n++] = params_copy(m, &count);
    return false;
}

/* gamma 0: epoch 0 trains at 0.1, every later epoch at 0, so the weights stop moving */
static void check_the_scheduled_rate_reaches_the_updates(bool eager) {
    nb_tensor *x = nb_randn(NB_SHAPE(64, 4)), *y = nb_zeros(NB_SHAPE(64, 1));
    nb_optimizer *opt = nb_sgd(0.1f, 0, false, 0);
    nb_schedule s = {.kind = NB_SCHEDULE_EXPONENTIAL, .gamma = 0.0f};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_OK);
    nb_model *m = classifier(3, opt);
    int64_t count;
    float *before = params_copy(m, &count);
    static weight_log r;
    r = (weight_log){.m = m};
    nb_callback cb = {.on_epoch_end = log_weights, .ctx = &r};
    nb_history *h = nb_model_fit(
        m, x, y,
        &(nb_fit_opts){
            .epochs = 3, .callbacks = &cb, .n_callbacks = 1, .eager = eager, .verbose = -1});
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(r.n, 3);
    ck_assert(memcmp(before, r.weights[0], (size_t)count * sizeof(float)) != 0);
    for (int e = 1; e < 3; e++)
        ck_assert_msg(memcmp(r.weights[0], r.weights[e], (size_t)count * sizeof(float)) == 0,
                      "the weights moved in epoch %d at a scheduled rate of 0", e);
    for (int e = 0; e < 3; e++) free(r.weights[e]);
    free(before);
    nb_history_free(h);
    nb_model_free(m);
}

START_TEST(test_the_scheduled_rate_reaches_the_updates_eager_and_compiled) {
    check_the_scheduled_rate_reaches_the_updates(true);
    check_the_scheduled_rate_reaches_the_updates(false);
}
END_TEST

START_TEST(test_history_records_the_rate_each_epoch_trained_with) {
    nb_tensor *x = nb_randn(NB_SHAPE(64, 4)), *y = nb_zeros(NB_SHAPE(64, 1));
    nb_optimizer *opt = nb_sgd(0.1f, 0, false, 0);
    nb_schedule s = {.kind = NB_SCHEDULE_EXPONENTIAL, .gamma = 0.5f};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_OK);
    nb_model *m = classifier(3, opt);
    ck_assert_ptr_eq(nb_model_optimizer(m), opt);
    nb_history *h = nb_model_fit(
        m, x, y, &(nb_fit_opts){.epochs = 4, .validation_split = 0.25f, .verbose = -1});
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(nb_history_num_keys(h), 5);
    ck_assert_str_eq(nb_history_key(h, 4), "lr");
    for (int e = 0; e < 4; e++)
        ck_assert(nb_history_get(h, "lr", e) == (double)(float)(0.1 * pow(0.5, e)));
    char path[] = "/tmp/nabla_fit_history_XXXXXX";
    close(mkstemp(path));
    ck_assert_int_eq(nb_history_save_csv(h, path), NB_OK);
    FILE *f = fopen(path, "r");
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "epoch,loss,accuracy,val_loss,val_accuracy,lr\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_msg(strstr(line, ",0.1\n") != NULL, "first row: %s", line);
    fclose(f);
    remove(path);
    nb_history_free(h);
    nb_model_free(m);
}
END_TEST

/* 4 epochs in one go, or 2 then a resume from the checkpoint: the same rates and weights */
START_TEST(test_a_resumed_run_trains_at_the_rates_of_an_uninterrupted_one) {
    nb_tensor *x = nb_randn(NB_SHAPE(64, 4)), *y = nb_zeros(NB_SHAPE(64, 1));
    nb_schedule s = {.kind = NB_SCHEDULE_STEP, .gamma = 0.5f, .step_size = 1};
    char path[] = "/tmp/nabla_fit_ckpt_XXXXXX";
    close(mkstemp(path));
    remove(path);
    nb_model *m[3];
    for (int k = 0; k < 3; k++) {
        nb_manual_seed(5);
        nb_optimizer *opt = nb_sgd(0.2f, 0.9f, false, 0);
        ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_OK);
        m[k] = classifier(3, opt);
    }
    nb_manual_seed(11);
    nb_history *whole = nb_model_fit(m[0], x, y, &(nb_fit_opts){.epochs = 4, .verbose = -1});
    nb_manual_seed(11);
    nb_history *first =
        nb_model_fit(m[1], x, y, &(nb_fit_opts){.epochs = 2, .checkpoint = path, .verbose = -1});
    nb_manual_seed(99); /* the checkpoint brings the generator back */
    nb_history *rest = nb_model_fit(
        m[2], x, y, &(nb_fit_opts){.epochs = 4, .checkpoint = path, .resume = true, .verbose = -1});
    ck_assert_msg(whole && first && rest, "%s", nb_error());
    ck_assert_int_eq(nb_history_epochs(rest), 2);
    for (int e = 0; e < 2; e++) {
        ck_assert(nb_history_get(rest, "lr", e) == nb_history_get(whole, "lr", e + 2));
        ck_assert(nb_history_get(rest, "loss", e) == nb_history_get(whole, "loss", e + 2));
    }
    ck_assert(nb_history_get(rest, "lr", 1) == (double)(0.2f * 0.125f));
    int64_t na, nb;
    float *a = params_copy(m[0], &na), *b = params_copy(m[2], &nb);
    ck_assert(na == nb && memcmp(a, b, (size_t)na * sizeof(float)) == 0);
    free(a);
    free(b);
    remove(path);
    nb_history_free(whole);
    nb_history_free(first);
    nb_history_free(rest);
    for (int k = 0; k < 3; k++) nb_model_free(m[k]);
}
END_TEST

/* ---- LearningRateScheduler and ReduceLROnPlateau ------------------------------------------- */
typedef struct {
    int calls, epochs[8];
    float seen[8];
} schedule_calls;

static float halve_after_two(int epoch, float lr, void *ctx) {
    schedule_calls *c = ctx;
    c->epochs[c->calls] = epoch;
    c->seen[c->calls++] = lr;
    return epoch < 2 ? lr : lr * 0.5f;
}

static float negative_rate(int epoch, float lr, void *ctx) {
    (void)lr, (void)ctx;
    return epoch == 1 ? -1.0f : 0.01f;
}

START_TEST(test_learning_rate_scheduler_sets_the_rate_at_each_epoch_begin) {
    nb_tensor *x = nb_randn(NB_SHAPE(64, 4)), *y = nb_zeros(NB_SHAPE(64, 1));
    nb_model *m = classifier(3, nb_sgd(0.1f, 0, false, 0));
    static schedule_calls c;
    c = (schedule_calls){0};
    nb_callback cb = nb_learning_rate_scheduler(halve_after_two, &c);
    nb_history *h = nb_model_fit(
        m, x, y, &(nb_fit_opts){.epochs = 5, .callbacks = &cb, .n_callbacks = 1, .verbose = -1});
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(c.calls, 5);
    const float want[5] = {0.1f, 0.1f, 0.05f, 0.025f, 0.0125f};
    for (int e = 0; e < 5; e++) {
        ck_assert_int_eq(c.epochs[e], e);
        ck_assert(c.seen[e] == want[e > 0 ? e - 1 : 0]); /* the rate it set last */
        ck_assert_msg(nb_history_get(h, "lr", e) == (double)want[e], "epoch %d: lr %g", e,
                      nb_history_get(h, "lr", e));
    }
    nb_history_free(h);
    nb_callback_free(&cb);
    /* a rate that is no rate ends fit with an error naming the epoch */
    cb = nb_learning_rate_scheduler(negative_rate, NULL);
    ck_assert_ptr_null(nb_model_fit(
        m, x, y, &(nb_fit_opts){.epochs = 3, .callbacks = &cb, .n_callbacks = 1, .verbose = -1}));
    NB_ASSERT_ERROR_HAS("nb_learning_rate_scheduler: the schedule function gave a rate of -1 at "
                        "epoch 1");
    nb_callback_free(&cb);
    nb_model_free(m);
}
END_TEST

/* the callback's hooks fed a fixed sequence of val_loss values */
static void feed_plateau(nb_callback *cb, nb_model *m, const double *values, int n, float *lr) {
    const char *names[] = {"loss", "val_loss"};
    cb->on_train_begin(m, cb->ctx);
    for (int e = 0; e < n; e++) {
        double v[2] = {1.0, values[e]};
        nb_epoch_logs l = {e, 2, names, v};
        ck_assert(!cb->on_epoch_end(m, &l, cb->ctx));
        lr[e] = nb_optimizer_get_lr(nb_model_optimizer(m));
    }
}

START_TEST(test_reduce_lr_on_plateau_lowers_the_rate_after_patience_epochs_without_improvement) {
    nb_model *m = classifier(3, nb_sgd(0.1f, 0, false, 0));
    /* 0.9 improves; 0.89995 is within min_delta (1e-4) of it, so no improvement */
    const double v[10] = {1.0, 0.9, 0.89995, 0.95, 0.91, 0.8, 0.85, 0.85, 0.85, 0.85};
    float lr[10];
    nb_callback cb = nb_reduce_lr_on_plateau("val_loss", 0.5f, 3, 0.02f);
    feed_plateau(&cb, m, v, 10, lr);
    /* waits: -, 0, 1, 2, 3 -> reduce after epoch 4; best 0.8 at epoch 5; 3 more -> epoch 8 */
    const float want[10] = {0.1f, 0.1f, 0.1f, 0.1f, 0.05f, 0.05f, 0.05f, 0.05f, 0.025f, 0.025f};
    for (int e = 0; e < 10; e++) ck_assert_msg(lr[e] == want[e], "epoch %d: lr %g", e, lr[e]);
    nb_callback_free(&cb);
    /* min_lr bounds it; cooldown waits before counting again */
    ck_assert_int_eq(nb_optimizer_set_lr(nb_model_optimizer(m), 0.1f), NB_OK);
    cb = nb_reduce_lr_on_plateau_ex(
        &(nb_reduce_lr_opts){.factor = 0.25f, .patience = 1, .cooldown = 2, .min_lr = 0.01f});
    const double flat[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    feed_plateau(&cb, m, flat, 8, lr);
    const float want2[8] = {0.1f, 0.025f, 0.025f, 0.025f, 0.01f, 0.01f, 0.01f, 0.01f};
    for (int e = 0; e < 8; e++) ck_assert_msg(lr[e] == want2[e], "epoch %d: lr %g", e, lr[e]);
    nb_callback_free(&cb);
    /* with a schedule the base moves: later scheduled rates are lowered by the same factor */
    nb_optimizer *opt = nb_model_optimizer(m);
    ck_assert_int_eq(nb_optimizer_set_lr(opt, 0.1f), NB_OK);
    nb_schedule s = {.kind = NB_SCHEDULE_EXPONENTIAL, .gamma = 0.5f};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_OK);
    cb = nb_reduce_lr_on_plateau("val_loss", 0.1f, 1, 0);
    cb.on_train_begin(m, cb.ctx);
    const char *names[] = {"val_loss"};
    for (int e = 2; e < 4; e++) {
        ck_assert_int_eq(nb_optimizer_schedule_epoch(opt, e), NB_OK);
        ck_assert(!cb.on_epoch_end(m, &(nb_epoch_logs){e, 1, names, (double[]){1.0}}, cb.ctx));
    }
    NB_ASSERT_CLOSE(nb_optimizer_get_lr(opt), 0.1 * 0.125 * 0.1, 1e-9); /* reduced at epoch 3 */
    ck_assert_int_eq(nb_optimizer_schedule_epoch(opt, 4), NB_OK);
    NB_ASSERT_CLOSE(nb_optimizer_get_lr(opt), 0.1 * 0.0625 * 0.1, 1e-9);
    nb_callback_free(&cb);
    /* bad arguments: an empty callback and an error, and fit refuses the empty callback */
    cb = nb_reduce_lr_on_plateau("val_loss", 1.5f, 3, 0);
    NB_ASSERT_ERROR_HAS("nb_reduce_lr_on_plateau: factor is 1.5, expected a number in (0, 1)");
    ck_assert_ptr_null(cb.ctx);
    nb_tensor *x = nb_randn(NB_SHAPE(8, 4)), *y = nb_zeros(NB_SHAPE(8, 1));
    ck_assert_ptr_null(
        nb_model_fit(m, x, y, &(nb_fit_opts){.callbacks = &cb, .n_callbacks = 1, .verbose = -1}));
    NB_ASSERT_ERROR_HAS("nb_model_fit: callback 0 has no hooks");
    nb_model_free(m);
}
END_TEST

/* in fit: a rate of 1e-7 barely moves the loss, so "loss" plateaus and the rate drops */
START_TEST(test_reduce_lr_on_plateau_in_fit_lowers_the_rate_history_shows) {
    nb_tensor *x = nb_randn(NB_SHAPE(64, 4)), *y = nb_zeros(NB_SHAPE(64, 1));
    nb_model *m = classifier(3, nb_sgd(1e-7f, 0, false, 0));
    nb_callback cb = nb_reduce_lr_on_plateau("loss", 0.1f, 2, 0);
    nb_history *h = nb_model_fit(
        m, x, y,
        &(nb_fit_opts){
            .epochs = 6, .no_shuffle = true, .callbacks = &cb, .n_callbacks = 1, .verbose = -1});
    ck_assert_ptr_nonnull(h);
    const float want[6] = {1e-7f, 1e-7f, 1e-7f, 1e-8f, 1e-8f, 1e-9f};
    for (int e = 0; e < 6; e++)
        ck_assert_msg(nb_history_get(h, "lr", e) == (double)(float)(want[e]), "epoch %d: lr %g", e,
                      nb_history_get(h, "lr", e));
    nb_history_free(h);
    nb_callback_free(&cb);
    nb_model_free(m);
}
END_TEST

/* ---- progress output ------------------------------------------------------------------------ */
typedef struct {
    int fd;
    char *buf;
    size_t n, cap;
} reader;

/* drains fd until EOF (or EIO: a pty's slave side closed), so a writer never blocks */
static void *drain(void *arg) {
    reader *r = arg;
    for (;;) {
        if (r->n + 4096 + 1 > r->cap) {
            r->cap = (r->cap + 4096) * 2;
            r->buf = realloc(r->buf, r->cap);
        }
        ssize_t k = read(r->fd, r->buf + r->n, 4096);
        if (k <= 0) break;
        r->n += (size_t)k;
    }
    r->buf[r->n] = '\0';
    return NULL;
}

typedef enum { TO_PIPE, TO_FILE, TO_TERMINAL } sink;

/* what nb_model_fit prints with stdout on a pipe, a file or a terminal; stdout is
 * restored after */
static char *fit_output(sink where, nb_model *m, nb_tensor *x, nb_tensor *y, nb_fit_opts o,
                        double *seconds) {
    int rd = -1, wr = -1;
    char path[] = "/tmp/nabla_fit_out_XXXXXX";
    if (where == TO_PIPE) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        rd = p[0], wr = p[1];
    } else if (where == TO_FILE) {
        wr = mkstemp(path);
        ck_assert_int_ge(wr, 0);
    } else {
        ck_assert_int_eq(openpty(&rd, &wr, NULL, NULL, NULL), 0);
        struct termios t;
        ck_assert_int_eq(tcgetattr(wr, &t), 0);
        cfmakeraw(&t); /* no "\n" -> "\r\n": every '\r' read back is fit's */
        ck_assert_int_eq(tcsetattr(wr, TCSANOW, &t), 0);
    }
    reader r = {.fd = rd};
    pthread_t thread;
    if (rd >= 0) ck_assert_int_eq(pthread_create(&thread, NULL, drain, &r), 0);
    fflush(stdout);
    int saved = dup(1);
    ck_assert_int_eq(dup2(wr, 1), 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nb_history *h = nb_model_fit(m, x, y, &o);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(wr);
    ck_assert_msg(h != NULL, "%s", nb_error());
    nb_history_free(h);
    if (seconds)
        *seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (rd >= 0) {
        pthread_join(thread, NULL);
        close(rd);
        return r.buf;
    }
    r.fd = open(path, O_RDONLY);
    drain(&r);
    close(r.fd);
    remove(path);
    return r.buf;
}

static int count_lines_with(const char *text, const char *needle) {
    int n = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        for (size_t i = 0; i + strlen(needle) <= len; i++)
            if (!strncmp(line + i, needle, strlen(needle))) {
                n++;
                break;
            }
        line += len + (end ? 1 : 0);
    }
    return n;
}

static int count_char(const char *text, char c) {
    int n = 0;
    for (; *text; text++) n += *text == c;
    return n;
}

static void check_lines_only(sink where, int verbose) {
    nb_tensor *x = nb_randn(NB_SHAPE(200, 4)), *y = nb_zeros(NB_SHAPE(200, 1));
    nb_model *m = classifier(3, NULL);
    char *out = fit_output(
        where, m, x, y,
        (nb_fit_opts){.epochs = 5, .batch_size = 4, .validation_split = 0.1f, .verbose = verbose},
        NULL);
    ck_assert_msg(strchr(out, '\r') == NULL, "a '\\r' in: %s", out);
    ck_assert_msg(strchr(out, '\033') == NULL, "an escape sequence in: %s", out);
    /* "Epoch 1/5" then one line with the epoch's numbers, for each epoch */
    ck_assert_int_eq(count_lines_with(out, "Epoch "), 5);
    ck_assert_int_eq(count_lines_with(out, " - loss: "), 5);
    ck_assert_int_eq(count_lines_with(out, " - val_loss: "), 5);
    ck_assert_int_eq(count_char(out, '\n'), 10);
    ck_assert(out[strlen(out) - 1] == '\n');
    free(out);
    nb_model_free(m);
}

START_TEST(test_fit_prints_one_line_per_epoch_and_no_carriage_return_into_a_pipe) {
    check_lines_only(TO_PIPE, 0); /* the default */
    check_lines_only(TO_PIPE, 1); /* a bar asked for: still complete lines */
    check_lines_only(TO_PIPE, 2);
}
END_TEST

START_TEST(test_fit_prints_one_line_per_epoch_and_no_carriage_return_into_a_file) {
    check_lines_only(TO_FILE, 0);
    check_lines_only(TO_FILE, 1);
}
END_TEST

START_TEST(test_fit_draws_a_progress_bar_on_a_terminal) {
    nb_tensor *x = nb_randn(NB_SHAPE(200, 4)), *y = nb_zeros(NB_SHAPE(200, 1));
    nb_model *m = classifier(3, NULL);
    char *out = fit_output(TO_TERMINAL, m, x, y, (nb_fit_opts){.epochs = 3, .batch_size = 4}, NULL);
    ck_assert_msg(strstr(out, "\r") && strstr(out, "[=============================="),
                  "no bar in: %s", out);
    /* each redraw clears the end of the line, so a shorter line leaves nothing behind */
    ck_assert_int_eq(count_char(out, '\r'), count_char(out, '\033'));
    ck_assert_msg(strstr(out, "\033[K"), "no clear-to-end-of-line in: %s", out);
    ck_assert_int_eq(count_lines_with(out, " - loss: "), 3);
    free(out);
    /* verbose 2 on a terminal: lines only */
    out = fit_output(TO_TERMINAL, m, x, y, (nb_fit_opts){.epochs = 3, .verbose = 2}, NULL);
    ck_assert(strchr(out, '\r') == NULL);
    ck_assert_int_eq(count_char(out, '\n'), 6);
    free(out);
    /* silent is silent */
    out = fit_output(TO_TERMINAL, m, x, y, (nb_fit_opts){.epochs = 3, .verbose = NB_SILENT}, NULL);
    ck_assert_str_eq(out, "");
    free(out);
    nb_model_free(m);
}
END_TEST

/* 4000 steps take a fraction of a second: the bar is redrawn about 10 times a
 * second, not once per step (or every 20 steps) */
START_TEST(test_the_progress_bar_is_redrawn_at_most_about_ten_times_a_second) {
    nb_tensor *x = nb_randn(NB_SHAPE(4000, 4)), *y = nb_zeros(NB_SHAPE(4000, 1));
    nb_model *m = classifier(3, NULL);
    double seconds;
    char *out =
        fit_output(TO_TERMINAL, m, x, y, (nb_fit_opts){.epochs = 2, .batch_size = 1}, &seconds);
    int redraws = count_char(out, '\r');
    ck_assert_msg(redraws <= 10.0 * seconds + 2 * 2 + 2, "%d redraws in %.2f s", redraws, seconds);
    ck_assert_int_ge(redraws, 2);
    free(out);
    nb_model_free(m);
}
END_TEST

/* ---- the validation part ------------------------------------------------------------------------
 */
typedef struct {
    int n;
    char last[1024];
} warnings;

static void count_warning(const char *message, void *ctx) {
    warnings *w = ctx;
    w->n++;
    snprintf(w->last, sizeof w->last, "%s", message);
}

START_TEST(test_fit_warns_once_when_the_validation_part_holds_a_class_training_lacks) {
    nb_tensor *x, *y;
    sorted_classes((const int[]){60, 60, 30}, 3, &x, &y); /* the last 20% is all class 2 */
    nb_model *m = classifier(3, NULL);
    static warnings w;
    w = (warnings){0};
    nb_set_warning_handler(count_warning, &w);
    nb_history *h = nb_model_fit(
        m, x, y, &(nb_fit_opts){.epochs = 3, .validation_split = 0.2f, .verbose = NB_SILENT});
    ck_assert_ptr_nonnull(h);
    nb_history_free(h);
    ck_assert_int_eq(w.n, 1);
    ck_assert_msg(strstr(w.last, "nb_model_fit") && strstr(w.last, "class 2") &&
                      strstr(w.last, "shuffle"),
                  "warning: %s", w.last);
    /* shuffled first: every class is on both sides, no warning */
    w = (warnings){0};
    shuffle_rows(&x, &y);
    h = nb_model_fit(m, x, y,
                     &(nb_fit_opts){.epochs = 3, .validation_split = 0.2f, .verbose = NB_SILENT});
    ck_assert_ptr_nonnull(h);
    nb_history_free(h);
    ck_assert_msg(w.n == 0, "warning: %s", w.last);
    nb_set_warning_handler(NULL, NULL);
    nb_model_free(m);
}
END_TEST

/* iris as the file has it: the first 120 rows hold 50, 50, 20 of the classes, the last 30
 * only class 2 */
START_TEST(test_fit_warns_when_a_class_sorted_file_validates_on_one_class) {
    nb_dataset ds = {0};
    ck_assert_msg(nb_dataset_load("iris", &ds) == NB_OK, "%s", nb_error());
    nb_model *m = classifier(3, NULL);
    static warnings w;
    w = (warnings){0};
    nb_set_warning_handler(count_warning, &w);
    nb_history *h = nb_model_fit(
        m, ds.x, ds.y, &(nb_fit_opts){.epochs = 1, .validation_split = 0.2f, .verbose = -1});
    ck_assert_ptr_nonnull(h);
    nb_history_free(h);
    ck_assert_int_eq(w.n, 1);
    ck_assert_msg(strstr(w.last, "holds only class 2 (30 samples)") &&
                      strstr(w.last, "classes 0, 1, 2"),
                  "warning: %s", w.last);
    nb_tensor *x = ds.x, *y = ds.y;
    shuffle_rows(&x, &y);
    w = (warnings){0};
    h = nb_model_fit(m, x, y, &(nb_fit_opts){.epochs = 1, .validation_split = 0.2f, .verbose = -1});
    nb_history_free(h);
    ck_assert_msg(w.n == 0, "warning: %s", w.last);
    nb_set_warning_handler(NULL, NULL);
    nb_dataset_free(&ds);
    nb_model_free(m);
}
END_TEST

START_TEST(test_fit_warns_about_one_hot_validation_classes_training_lacks) {
    nb_tensor *x, *y;
    sorted_classes((const int[]){40, 40, 20}, 3, &x, &y);
    nb_tensor *onehot = nb_zeros(NB_SHAPE(100, 3));
    for (int64_t i = 0; i < 100; i++) nb_data(onehot)[i * 3 + (int64_t)nb_data(y)[i]] = 1;
    nb_model *m = nb_sequential(NB_SHAPE(4));
    nb_model_add(m, nb_dense(3, "softmax"));
    ck_assert_int_eq(nb_model_compile(m, "categorical_crossentropy", NULL, NULL, 0), NB_OK);
    static warnings w;
    w = (warnings){0};
    nb_set_warning_handler(count_warning, &w);
    nb_history *h = nb_model_fit(
        m, x, onehot, &(nb_fit_opts){.epochs = 2, .validation_split = 0.2f, .verbose = -1});
    ck_assert_ptr_nonnull(h);
    nb_history_free(h);
    nb_set_warning_handler(NULL, NULL);
    ck_assert_int_eq(w.n, 1);
    ck_assert_msg(strstr(w.last, "class 2"), "warning: %s", w.last);
    nb_model_free(m);
}
END_TEST

/* ---- batch hooks ----------------------------------------------------------------------------- */
typedef struct {
    char kind; /* 'E' epoch begin, 'b' batch begin, 'e' batch end, 'X' epoch end */
    int epoch, index;
    int64_t size;
    int n;
    double loss, accuracy;
} hook_event;

typedef struct {
    int n;
    hook_event ev[64];
    int stop_epoch, stop_batch; /* stop in on_batch_end there (-1: never) */
    int stop_begin_epoch, stop_begin_batch;
    int epoch; /* the epoch in progress */
} hook_log;

static nb_status log_epoch_begin(nb_model *m, int epoch, void *ctx) {
    (void)m;
    hook_log *r = ctx;
    r->epoch = epoch;
    r->ev[r->n++] = (hook_event){.kind = 'E', .epoch = epoch, .index = -1};
    return NB_OK;
}

static bool log_batch_begin(nb_model *m, int batch, void *ctx) {
    (void)m;
    hook_log *r = ctx;
    r->ev[r->n++] = (hook_event){.kind = 'b', .epoch = r->epoch, .index = batch};
    return r->epoch == r->stop_begin_epoch && batch == r->stop_begin_batch;
}

static bool log_batch_end(nb_model *m, int batch, const nb_batch_logs *l, void *ctx) {
    (void)m;
    hook_log *r = ctx;
    ck_assert_int_eq(l->n, 2);
    ck_assert_str_eq(l->names[0], "loss");
    ck_assert_str_eq(l->names[1], "accuracy");
    r->ev[r->n++] = (hook_event){'e', l->epoch, batch, l->size, l->n, l->values[0], l->values[1]};
    return r->epoch == r->stop_epoch && batch == r->stop_batch;
}

static bool log_epoch_end(nb_model *m, const nb_epoch_logs *l, void *ctx) {
    (void)m;
    hook_log *r = ctx;
    r->ev[r->n++] = (hook_event){.kind = 'X', .epoch = l->epoch, .index = -1};
    return false;
}

static nb_callback hook_logger(hook_log *r) {
    return (nb_callback){.on_epoch_begin = log_epoch_begin,
                         .on_batch_begin = log_batch_begin,
                         .on_batch_end = log_batch_end,
                         .on_epoch_end = log_epoch_end,
                         .ctx = r};
}

/* 70 samples in batches of 32: sizes 32, 32, 6, three batches an epoch */
static void check_batch_hooks_in_order(bool eager) {
    nb_tensor *x, *y;
    sorted_classes((const int[]){30, 20, 20}, 3, &x, &y);
    nb_model *m = classifier(3, nb_sgd(0.1f, 0, false, 0));
    static hook_log r;
    r = (hook_log){.stop_epoch = -1, .stop_begin_epoch = -1};
    nb_callback cb = hook_logger(&r);
    nb_history *h = nb_model_fit(
        m, x, y,
        &(nb_fit_opts){
            .epochs = 2, .callbacks = &cb, .n_callbacks = 1, .eager = eager, .verbose = NB_SILENT});
    ck_assert_msg(h != NULL, "%s", nb_error());
    const char *want = "EbebebeXEbebebeX";
    ck_assert_int_eq(r.n, (int)strlen(want));
    const int64_t sizes[3] = {32, 32, 6};
    for (int i = 0; i < r.n; i++) {
        hook_event ev = r.ev[i];
        ck_assert_msg(ev.kind == want[i], "event %d is '%c', expected '%c'", i, ev.kind, want[i]);
        ck_assert_int_eq(ev.epoch, i / 8);
        if (ev.kind != 'b' && ev.kind != 'e') continue;
        int batch = (i % 8 - 1) / 2;
        ck_assert_int_eq(ev.index, batch);
        if (ev.kind == 'b') continue;
        ck_assert_int_eq(ev.size, sizes[batch]);
        /* the running accuracy is a count of right answers over the samples so far */
        double seen = 32.0 * batch + (double)sizes[batch], right = ev.accuracy * seen;
        NB_ASSERT_CLOSE(right, round(right), 1e-6);
        if (batch == 2) { /* after the last batch the running logs are the epoch's */
            ck_assert(ev.loss == nb_history_get(h, "loss", ev.epoch));
            ck_assert(ev.accuracy == nb_history_get(h, "accuracy", ev.epoch));
        }
    }
    nb_history_free(h);
    nb_model_free(m);
}

START_TEST(test_batch_hooks_run_once_per_batch_in_order_with_the_running_logs) {
    check_batch_hooks_in_order(true);
    check_batch_hooks_in_order(false);
}
END_TEST

START_TEST(test_a_stop_from_a_batch_hook_ends_the_epoch_and_fit_returns_the_history_so_far) {
    nb_tensor *x, *y;
    sorted_classes((const int[]){40, 40, 40}, 3, &x, &y);
    shuffle_rows(&x, &y);
    nb_model *m = classifier(3, nb_sgd(0.1f, 0, false, 0));
    static hook_log r;
    /* on_batch_end of epoch 1's batch 1: 96 training samples, so 3 batches an epoch */
    r = (hook_log){.stop_epoch = 1, .stop_batch = 1, .stop_begin_epoch = -1};
    nb_callback cb = hook_logger(&r);
    nb_history *h = nb_model_fit(m, x, y,
                                 &(nb_fit_opts){.epochs = 5,
                                                .validation_split = 0.2f,
                                                .callbacks = &cb,
                                                .n_callbacks = 1,
                                                .verbose = NB_SILENT});
    ck_assert_msg(h != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_history_epochs(h), 2);
    const char *want = "EbebebeXEbebeX"; /* epoch 1 ends after its batch 1, with on_epoch_end */
    ck_assert_int_eq(r.n, (int)strlen(want));
    for (int i = 0; i < r.n; i++) ck_assert(r.ev[i].kind == want[i]);
    /* the partial epoch's row: the running logs after its last batch, and validation */
    ck_assert(nb_history_get(h, "loss", 1) == r.ev[12].loss);
    ck_assert(nb_history_get(h, "accuracy", 1) == r.ev[12].accuracy);
    ck_assert(isfinite(nb_history_get(h, "val_loss", 1)));
    nb_history_free(h);
    /* a stop from on_batch_begin: that batch still runs (Keras's stop_training), then fit ends */
    r = (hook_log){.stop_epoch = -1, .stop_begin_epoch = 0, .stop_begin_batch = 0};
    h = nb_model_fit(
        m, x, y,
        &(nb_fit_opts){.epochs = 5, .callbacks = &cb, .n_callbacks = 1, .verbose = NB_SILENT});
    ck_assert_msg(h != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_history_epochs(h), 1);
    ck_assert_int_eq(r.n, 4); /* E b e X */
    ck_assert(r.ev[2].kind == 'e' && r.ev[2].size == 32);
    ck_assert(nb_history_get(h, "loss", 0) == r.ev[2].loss);
    nb_history_free(h);
    nb_model_free(m);
}
END_TEST

/* ---- a callback reaches the optimizer ---------------------------------------------------- */
typedef struct {
    int steps;
    float lr[32];
} warmup;

/* a per-batch schedule: the rate of step k is 0.2 / (k + 1) */
static bool set_batch_rate(nb_model *m, int batch, void *ctx) {
    (void)batch;
    warmup *w = ctx;
    nb_optimizer *opt = nb_model_optimizer(m);
    ck_assert_ptr_nonnull(opt);
    w->lr[w->steps] = 0.2f / (float)(w->steps + 1);
    ck_assert_int_eq(nb_optimizer_set_lr(opt, w->lr[w->steps]), NB_OK);
    w->steps++;
    return false;
}

static void check_a_batch_hook_sets_the_rate(bool eager) {
    nb_tensor *x = nb_randn(NB_SHAPE(48, 4)), *y = nb_randn(NB_SHAPE(48, 1));
    nb_model *m[2];
    for (int k = 0; k < 2; k++) {
        nb_manual_seed(3);
        m[k] = nb_sequential(NB_SHAPE(4));
        nb_model_add(m[k], nb_dense(1, NULL));
        ck_assert_int_eq(nb_model_compile(m[k], "mse", nb_sgd(0.05f, 0, false, 0), NULL, 0), NB_OK);
    }
    static warmup w;
    w = (warmup){0};
    nb_callback cb = {.on_batch_begin = set_batch_rate, .ctx = &w};
    nb_history *h = nb_model_fit(m[0], x, y,
                                 &(nb_fit_opts){.epochs = 2,
                                                .batch_size = 16,
                                                .no_shuffle = true,
                                                .eager = eager,
                                                .callbacks = &cb,
                                                .n_callbacks = 1,
                                                .verbose = NB_SILENT});
    ck_assert_msg(h != NULL, "%s", nb_error());
    ck_assert_int_eq(w.steps, 6);
    /* the same six steps by hand at the same rates */
    int64_t idx[48];
    for (int i = 0; i < 48; i++) idx[i] = i;
    for (int k = 0; k < 6; k++) {
        nb_optimizer_set_lr(nb_model_optimizer(m[1]), 0.2f / (float)(k + 1));
        nb_scope_begin();
        nb_tensor *xb = nb_take_rows(x, idx + 16 * (k % 3), 16),
                  *yb = nb_take_rows(y, idx + 16 * (k % 3), 16);
        ck_assert_int_eq(nb_model_train_on_batch(m[1], xb, yb, NULL, NULL), NB_OK);
        nb_scope_end();
    }
    int64_t na, nb;
    float *a = params_copy(m[0], &na), *b = params_copy(m[1], &nb);
    for (int64_t i = 0; i < na; i++)
        ck_assert_msg(a[i] == b[i], "%s: param %lld: fit %.9g, by hand %.9g",
                      eager ? "eager" : "compiled", (long long)i, a[i], b[i]);
    ck_assert(nb_optimizer_get_lr(nb_model_optimizer(m[0])) == 0.2f / 6.0f);
    free(a);
    free(b);
    nb_history_free(h);
    nb_model_free(m[0]);
    nb_model_free(m[1]);
}

START_TEST(test_a_callback_sets_the_rate_per_batch_through_nb_model_optimizer) {
    check_a_batch_hook_sets_the_rate(true);
    check_a_batch_hook_sets_the_rate(false);
}
END_TEST

/* ---- EarlyStopping -----------------------------------------------------------------------------
 */
/* the epoch at which the callback stops on a fixed sequence of val_loss (or
 * name) values, -1 if it never does; on_train_end runs at the end */
static int stop_epoch_of(nb_callback cb, nb_model *m, const char *name, const double *values,
                         int n) {
    ck_assert_msg(cb.ctx != NULL, "%s", nb_error());
    const char *names[] = {"loss", name};
    int stopped = -1;
    cb.on_train_begin(m, cb.ctx);
    for (int e = 0; e < n && stopped < 0; e++) {
        double v[2] = {1.0, values[e]};
        if (cb.on_epoch_end(m, &(nb_epoch_logs){e, 2, names, v}, cb.ctx)) stopped = e;
    }
    cb.on_train_end(m, cb.ctx);
    nb_callback_free(&cb);
    return stopped;
}

#define ES(...) nb_early_stopping_ex(&(nb_early_stopping_opts){__VA_ARGS__})

/* Each expected epoch is Keras's EarlyStopping (keras/src/callbacks/early_stopping.py)
 * followed by hand: wait += 1; an improvement (v + min_delta < best) sets best
 * and, if it also beats the baseline, wait = 0; else stop once wait >= patience
 * and epoch > 0. */
START_TEST(test_early_stopping_min_delta_baseline_and_start_from_epoch_as_keras) {
    nb_model *m = classifier(3, NULL);
    /* min_delta 0.01: 0.995 and 0.992 are not improvements on 1.0: waits 1, 2 -> stop at 2 */
    const double slow[4] = {1.0, 0.995, 0.992, 0.95};
    ck_assert_int_eq(stop_epoch_of(ES(.patience = 2, .min_delta = 0.01), m, "val_loss", slow, 4),
                     2);
    ck_assert_int_eq(stop_epoch_of(ES(.patience = 2), m, "val_loss", slow, 4), -1);
    ck_assert_int_eq(stop_epoch_of(ES(.patience = 2, .min_delta = -0.01), m, "val_loss", slow, 4),
                     2); /* its absolute value */
    /* baseline 0.5, never beaten: improvements do not reset wait (1, 2, 3, 4) -> stop at 3 */
    const double v[7] = {1.0, 0.9, 0.8, 0.85, 0.4, 0.45, 0.46};
    ck_assert_int_eq(stop_epoch_of(ES(.patience = 2, .has_baseline = true, .baseline = 0.5), m,
                                   "val_loss", v, 7),
                     3);
    /* no baseline: 0.85 waits 1, 0.4 improves, 0.45 and 0.46 wait 1, 2 -> stop at 6 */
    ck_assert_int_eq(stop_epoch_of(ES(.patience = 2), m, "val_loss", v, 7), 6);
    /* baseline 0.95, beaten from epoch 1: the same as none */
    ck_assert_int_eq(stop_epoch_of(ES(.patience = 2, .has_baseline = true, .baseline = 0.95), m,
                                   "val_loss", v, 7),
                     6);
    /* a baseline of 0 is a baseline (has_baseline), not Keras's None */
    ck_assert_int_eq(
        stop_epoch_of(ES(.patience = 2, .has_baseline = true, .baseline = 0), m, "val_loss", v, 7),
        3);
    /* start_from_epoch 3: epochs 0-2 are not looked at; 4.0, 3.5 improve, 3.6 stops */
    const double rising[6] = {1.0, 2.0, 3.0, 4.0, 3.5, 3.6};
    ck_assert_int_eq(
        stop_epoch_of(ES(.patience = 1, .start_from_epoch = 3), m, "val_loss", rising, 6), 5);
    ck_assert_int_eq(stop_epoch_of(ES(.patience = 1), m, "val_loss", rising, 6), 1);
    /* NaN is no value (an epoch validation_freq skips): it neither improves nor waits */
    const double nan_first[3] = {NAN, 1.0, 1.1};
    ck_assert_int_eq(stop_epoch_of(ES(.patience = 1), m, "val_loss", nan_first, 3), 2);
    /* patience 0 is Keras's: the first epoch without improvement stops */
    ck_assert_int_eq(stop_epoch_of(ES(0), m, "val_loss", v, 7), 3);
    /* mode: auto lets accuracy rise; min makes 0.6 after 0.5 no improvement */
    const double acc[3] = {0.5, 0.6, 0.55};
    ck_assert_int_eq(
        stop_epoch_of(ES(.monitor = "val_accuracy", .patience = 1), m, "val_accuracy", acc, 3), 2);
    ck_assert_int_eq(
        stop_epoch_of(ES(.monitor = "val_accuracy", .patience = 1, .mode = NB_MODE_MIN), m,
                      "val_accuracy", acc, 3),
        1);
    ck_assert_int_eq(stop_epoch_of(ES(.monitor = "val_loss", .patience = 1, .mode = NB_MODE_MAX), m,
                                   "val_loss", acc, 3),
                     2);
    /* the old constructor is the same algorithm */
    ck_assert_int_eq(stop_epoch_of(nb_early_stopping("val_loss", 2, false), m, "val_loss", v, 7),
                     6);
    /* bad options: an empty callback and an error */
    nb_callback cb = ES(.patience = -1);
    ck_assert_ptr_null(cb.ctx);
    NB_ASSERT_ERROR_HAS("nb_early_stopping: patience -1 and start_from_epoch 0 must not be");
    cb = ES(.mode = (nb_monitor_mode)7);
    ck_assert_ptr_null(cb.ctx);
    NB_ASSERT_ERROR_HAS("nb_early_stopping: mode 7 is not");
    cb = ES(.min_delta = NAN);
    ck_assert_ptr_null(cb.ctx);
    nb_model_free(m);
}
END_TEST

/* every trainable parameter of m set to value */
static void fill_params(nb_model *m, float value) {
    nb_tensor **p;
    int n = nb_model_parameters(m, &p);
    for (int i = 0; i < n; i++) {
        float *buf = malloc((size_t)nb_numel(p[i]) * sizeof *buf);
        for (int64_t j = 0; j < nb_numel(p[i]); j++) buf[j] = value;
        nb_copy_from(p[i], buf, nb_numel(p[i]));
        free(buf);
    }
}

static void check_params_are(nb_model *m, float value) {
    int64_t count;
    float *p = params_copy(m, &count);
    for (int64_t i = 0; i < count; i++)
        ck_assert_msg(p[i] == value, "param %lld is %g, expected %g", (long long)i, p[i], value);
    free(p);
}

START_TEST(test_early_stopping_restores_the_best_or_the_first_monitored_weights) {
    nb_model *m = classifier(3, NULL);
    const char *names[] = {"val_loss"};
    /* best at epoch 1 (0.5); start_from_epoch 1 ignores the 0.1 of epoch 0 */
    const double v[4] = {0.1, 0.5, 0.7, 0.6};
    nb_callback cb = ES(.patience = 2, .restore_best = true, .start_from_epoch = 1);
    cb.on_train_begin(m, cb.ctx);
    bool stop = false;
    for (int e = 0; e < 4 && !stop; e++) {
        fill_params(m, (float)(e + 1));
        stop = cb.on_epoch_end(m, &(nb_epoch_logs){e, 1, names, (double[]){v[e]}}, cb.ctx);
    }
    ck_assert(stop);
    cb.on_train_end(m, cb.ctx);
    check_params_are(m, 2.0f);
    nb_callback_free(&cb);
    /* nothing ever improves (NaN): the first monitored epoch's weights, as Keras */
    cb = ES(.patience = 5, .restore_best = true);
    cb.on_train_begin(m, cb.ctx);
    for (int e = 0; e < 3; e++) {
        fill_params(m, (float)(e + 1));
        ck_assert(!cb.on_epoch_end(m, &(nb_epoch_logs){e, 1, names, (double[]){NAN}}, cb.ctx));
    }
    cb.on_train_end(m, cb.ctx);
    check_params_are(m, 1.0f);
    nb_callback_free(&cb);
    nb_model_free(m);
}
END_TEST

START_TEST(test_early_stopping_without_its_log_warns_once_and_never_stops) {
    nb_model *m = classifier(3, NULL);
    static warnings w;
    w = (warnings){0};
    nb_set_warning_handler(count_warning, &w);
    const double v[5] = {1, 2, 3, 4, 5};
    /* the sequence is fed as "loss"'s neighbour "val_acc": val_loss is missing */
    int stopped = stop_epoch_of(ES(.patience = 1), m, "val_acc", v, 5);
    nb_set_warning_handler(NULL, NULL);
    ck_assert_int_eq(stopped, -1);
    ck_assert_int_eq(w.n, 1);
    ck_assert_msg(strstr(w.last, "nb_early_stopping: no log 'val_loss'"), "warning: %s", w.last);
    nb_model_free(m);
}
END_TEST

static bool count_epochs(nb_model *m, const nb_epoch_logs *l, void *ctx) {
    (void)m, (void)l;
    (*(int *)ctx)++;
    return false;
}

/* ---- ModelCheckpoint
 * ----------------------------------------------------------------------------- */
static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static void remove_dir(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static bool file_exists(const char *path) {
    return access(path, F_OK) == 0;
}

START_TEST(test_model_checkpoint_saves_only_improvements_under_names_from_the_pattern) {
    char dir[] = "/tmp/nabla_ckpt_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char pattern[256], path[512];
    snprintf(pattern, sizeof pattern, "%s/ckpt-{epoch:02d}-{val_loss:.4f}.safetensors", dir);
    nb_model *m = classifier(3, NULL), *back = classifier(3, NULL);
    nb_callback cb = nb_model_checkpoint_ex(&(nb_model_checkpoint_opts){
        .path = pattern, .save_best_only = true, .save_weights_only = true});
    ck_assert_msg(cb.ctx != NULL, "%s", nb_error());
    const char *names[] = {"loss", "val_loss"};
    const double v[5] = {0.5, 0.6, 0.4, 0.4,
                         0.35}; /* improve at epochs 0, 2 and 4 (1-based 1, 3, 5) */
    cb.on_train_begin(m, cb.ctx);
    for (int e = 0; e < 5; e++) {
        fill_params(m, (float)(e + 1));
        ck_assert(
            !cb.on_epoch_end(m, &(nb_epoch_logs){e, 2, names, (double[]){1.0, v[e]}}, cb.ctx));
        ck_assert_int_eq(cb.status(cb.ctx), NB_OK);
    }
    ck_assert_int_eq(count_files(dir), 3);
    const char *want[3] = {"ckpt-01-0.5000", "ckpt-03-0.4000", "ckpt-05-0.3500"};
    const float weights[3] = {1, 3, 5};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, want[k]);
        ck_assert_msg(file_exists(path), "no %s", path);
        ck_assert_int_eq(nb_model_load_weights(back, path), NB_OK);
        check_params_are(back, weights[k]); /* the weights of the epoch named */
    }
    nb_callback_free(&cb);
    remove_dir(dir);
    /* without save_best_only every epoch saves; the whole model loads; {{ }} are braces;
     * e, g and a bare log (Python's str) */
    ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/nabla_ckpt_XXXXXX")));
    snprintf(
        pattern, sizeof pattern,
        "%s/"
        "{{m}}-{epoch}-{loss}-{val_loss:.2e}-{val_loss:08.3f}-{loss:07}-{epoch:.1f}-{val_loss:g}",
        dir);
    cb = nb_model_checkpoint(pattern, NULL, false);
    ck_assert_msg(cb.ctx != NULL, "%s", nb_error());
    cb.on_train_begin(m, cb.ctx);
    for (int e = 0; e < 2; e++) {
        fill_params(m, (float)(e + 1));
        ck_assert(
            !cb.on_epoch_end(m, &(nb_epoch_logs){e, 2, names, (double[]){0.25, v[e]}}, cb.ctx));
    }
    ck_assert_int_eq(count_files(dir), 2);
    snprintf(path, sizeof path, "%s/{m}-2-0.25-6.00e-01-0000.600-0000.25-2.0-0.6", dir);
    ck_assert_msg(file_exists(path), "no %s", path);
    nb_model *loaded = nb_load_model(path);
    ck_assert_msg(loaded != NULL, "%s", nb_error());
    check_params_are(loaded, 2.0f);
    nb_model_free(loaded);
    nb_callback_free(&cb);
    remove_dir(dir);
    nb_model_free(m);
    nb_model_free(back);
}
END_TEST

static float explode_after_two(int epoch, float lr, void *ctx) {
    (void)lr, (void)ctx;
    return epoch < 3 ? 0.1f : 40.0f;
}

/* in fit: the file holds the weights of the epoch with the lowest val_loss,
 * not the last epoch's (a rate of 40 from epoch 3 on makes the later ones worse) */
START_TEST(test_model_checkpoint_in_fit_keeps_the_best_epochs_weights) {
    char dir[] = "/tmp/nabla_ckpt_XXXXXX", path[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/best.safetensors", dir);
    nb_tensor *x, *y;
    sorted_classes((const int[]){40, 40, 40}, 3, &x, &y);
    shuffle_rows(&x, &y);
    nb_model *m = classifier(3, nb_sgd(0.1f, 0, false, 0));
    static weight_log r;
    r = (weight_log){.m = m};
    nb_callback cbs[] = {nb_learning_rate_scheduler(explode_after_two, NULL),
                         nb_model_checkpoint(path, "val_loss", true),
                         {.on_epoch_end = log_weights, .ctx = &r}};
    nb_history *h = nb_model_fit(m, x, y,
                                 &(nb_fit_opts){.epochs = 6,
                                                .validation_split = 0.25f,
                                                .callbacks = cbs,
                                                .n_callbacks = 3,
                                                .verbose = NB_SILENT});
    ck_assert_msg(h != NULL, "%s", nb_error());
    int best = 0;
    for (int e = 1; e < 6; e++)
        if (nb_history_get(h, "val_loss", e) < nb_history_get(h, "val_loss", best)) best = e;
    ck_assert_msg(best < 5, "the last epoch is the best: the test shows nothing");
    nb_model *loaded = nb_load_model(path);
    ck_assert_msg(loaded != NULL, "%s", nb_error());
    int64_t count;
    float *saved = params_copy(loaded, &count), *last = params_copy(m, &count);
    ck_assert(memcmp(saved, r.weights[best], (size_t)count * sizeof(float)) == 0);
    ck_assert(memcmp(saved, last, (size_t)count * sizeof(float)) != 0);
    free(saved);
    free(last);
    for (int e = 0; e < r.n; e++) free(r.weights[e]);
    nb_model_free(loaded);
    nb_history_free(h);
    /* names from the pattern with fit's own values; missing directories are made */
    char pattern[256], want[512];
    snprintf(pattern, sizeof pattern, "%s/a/b/m-{epoch}-{loss:.3f}-{accuracy:.2f}", dir);
    nb_callback_free(&cbs[1]);
    cbs[1] = nb_model_checkpoint_ex(
        &(nb_model_checkpoint_opts){.path = pattern, .save_weights_only = true});
    h = nb_model_fit(
        m, x, y,
        &(nb_fit_opts){.epochs = 2, .callbacks = cbs + 1, .n_callbacks = 1, .verbose = NB_SILENT});
    ck_assert_msg(h != NULL, "%s", nb_error());
    for (int e = 0; e < 2; e++) {
        snprintf(want, sizeof want, "%s/a/b/m-%d-%.3f-%.2f", dir, e + 1,
                 nb_history_get(h, "loss", e), nb_history_get(h, "accuracy", e));
        ck_assert_msg(file_exists(want), "no %s", want);
    }
    nb_history_free(h);
    nb_callback_free(&cbs[0]);
    nb_callback_free(&cbs[1]);
    remove_dir(dir);
    nb_model_free(m);
}
END_TEST

START_TEST(test_model_checkpoint_refuses_a_malformed_pattern_naming_the_column) {
    const struct {
        const char *pattern, *error;
    } bad[] = {
        {"ckpt-{epoch:02x}.st", "column 15: unknown format spec"},
        {"ckpt-{epoch.st", "column 12: a name is letters"},
        {"ckpt-{epoch", "column 6: '{' is not closed"},
        {"ckpt-{epoch:02", "column 6: '{' is not closed"},
        {"a}b", "column 2: a single '}'"},
        {"m-{}.st", "column 3: a field needs a name"},
        {"m-{:02d}", "column 3: a field needs a name"},
        {"m-{loss:02d}", "column 9: 'd' is for {epoch}"},
        {"m-{epoch:.2d}", "column 10: precision is not allowed with 'd'"},
        {"m-{loss:.}", "column 9: '.' must be followed by a precision"},
        {"m-{loss:.123f}", "column 9: the precision is too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        nb_clear_error();
        nb_callback cb = nb_model_checkpoint(bad[i].pattern, NULL, false);
        ck_assert_msg(cb.ctx == NULL && cb.on_epoch_end == NULL, "%s was taken", bad[i].pattern);
        char want[256];
        snprintf(want, sizeof want, "nb_model_checkpoint: the path pattern \"%s\", %s",
                 bad[i].pattern, bad[i].error);
        NB_ASSERT_ERROR_HAS(want);
    }
    ck_assert_ptr_null(nb_model_checkpoint(NULL, NULL, false).ctx);
    NB_ASSERT_ERROR_HAS("nb_model_checkpoint: path is NULL");
}
END_TEST

START_TEST(test_model_checkpoint_failures_end_fit_with_an_error_naming_the_file) {
    char dir[] = "/tmp/nabla_ckpt_XXXXXX", path[256], file[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/plain", dir);
    FILE *f = fopen(file, "w");
    fclose(f);
    nb_tensor *x = nb_randn(NB_SHAPE(32, 4)), *y = nb_zeros(NB_SHAPE(32, 1));
    nb_model *m = classifier(3, NULL);
    /* a directory that is a file: the save fails at epoch 1, fit ends with its error */
    snprintf(path, sizeof path, "%s/plain/w-{epoch}.safetensors", dir);
    int epochs = 0;
    nb_callback cbs[] = {nb_model_checkpoint(path, "loss", false),
                         {.on_epoch_end = count_epochs, .ctx = &epochs}};
    ck_assert_ptr_null(nb_model_fit(
        m, x, y,
        &(nb_fit_opts){.epochs = 4, .callbacks = cbs, .n_callbacks = 2, .verbose = NB_SILENT}));
    char want[512];
    snprintf(want, sizeof want,
             "nb_model_checkpoint: epoch 1: cannot save %s/plain/w-1.safetensors", dir);
    NB_ASSERT_ERROR_HAS(want);
    ck_assert_int_eq(epochs, 1);
    nb_callback_free(&cbs[0]);
    /* a field that names no log: an error naming the field, at the first epoch */
    snprintf(path, sizeof path, "%s/w-{val_loss:.3f}", dir);
    cbs[0] = nb_model_checkpoint(path, NULL, false);
    ck_assert_ptr_null(nb_model_fit(
        m, x, y,
        &(nb_fit_opts){.epochs = 2, .callbacks = cbs, .n_callbacks = 1, .verbose = NB_SILENT}));
    NB_ASSERT_ERROR_HAS("names {val_loss}, which is not a log of epoch 1 (the logs are epoch, "
                        "loss, accuracy, lr)");
    nb_callback_free(&cbs[0]);
    ck_assert_int_eq(count_files(dir), 1);
    remove_dir(dir);
    nb_model_free(m);
}
END_TEST

/* ---- TerminateOnNaN ----------------------------------------------------------------------------
 */
typedef struct {
    int n;
    int epoch[512], batch[512];
    double loss[512];
} batch_losses;

static bool log_batch_loss(nb_model *m, int batch, const nb_batch_logs *l, void *ctx) {
    (void)m;
    batch_losses *r = ctx;
    if (r->n < 512) {
        r->epoch[r->n] = l->epoch;
        r->batch[r->n] = batch;
        r->loss[r->n++] = l->values[0];
    }
    return false;
}

/* linear regression at a rate of 3 on inputs of scale 3: each step multiplies
 * the error by about -50, so the loss overflows to inf (then NaN) in a few
 * dozen steps */
static nb_history *diverge(nb_model **m, const nb_callback *cbs, int n_cbs) {
    nb_manual_seed(21);
    nb_tensor *x = nb_mul_scalar(nb_randn(NB_SHAPE(64, 4)), 3.0f), *y = nb_randn(NB_SHAPE(64, 1));
    *m = nb_sequential(NB_SHAPE(4));
    nb_model_add(*m, nb_dense(1, NULL));
    ck_assert_int_eq(nb_model_compile(*m, "mse", nb_sgd(3.0f, 0, false, 0), NULL, 0), NB_OK);
    return nb_model_fit(*m, x, y,
                        &(nb_fit_opts){.epochs = 20,
                                       .batch_size = 4,
                                       .callbacks = cbs,
                                       .n_callbacks = n_cbs,
                                       .verbose = NB_SILENT});
}

START_TEST(test_terminate_on_nan_stops_at_the_batch_whose_loss_is_not_finite) {
    static batch_losses r;
    r = (batch_losses){0};
    static warnings w;
    w = (warnings){0};
    nb_set_warning_handler(count_warning, &w);
    nb_callback cbs[] = {{.on_batch_end = log_batch_loss, .ctx = &r}, nb_terminate_on_nan()};
    nb_model *m;
    nb_history *h = diverge(&m, cbs, 2);
    nb_set_warning_handler(NULL, NULL);
    ck_assert_msg(h != NULL, "%s", nb_error());
    ck_assert_int_gt(r.n, 1);
    int last = r.n - 1;
    for (int i = 0; i < last; i++) ck_assert_msg(isfinite(r.loss[i]), "batch %d: %g", i, r.loss[i]);
    ck_assert(!isfinite(r.loss[last]));
    /* the epoch of that batch is History's last row, and it ended at that batch */
    ck_assert_int_eq(nb_history_epochs(h), r.epoch[last] + 1);
    ck_assert_int_lt(nb_history_epochs(h), 20);
    ck_assert_int_lt(r.batch[last], 15);
    ck_assert(!isfinite(nb_history_get(h, "loss", r.epoch[last])));
    ck_assert_int_eq(w.n, 1);
    ck_assert_msg(strstr(w.last, "nb_terminate_on_nan: epoch") && strstr(w.last, "training stops"),
                  "warning: %s", w.last);
    nb_history_free(h);
    nb_model_free(m);
    /* without it the same run goes on to its 20 epochs */
    r = (batch_losses){0};
    h = diverge(&m, cbs, 1);
    ck_assert_msg(h != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_history_epochs(h), 20);
    nb_history_free(h);
    nb_model_free(m);
}
END_TEST

/* ---- empty inputs ------------------------------------------------------------------------- */
START_TEST(test_fit_evaluate_and_predict_on_zero_samples_are_errors) {
    nb_model *m = classifier(3, NULL);
    nb_tensor *x = nb_zeros(NB_SHAPE(0, 4)), *y = nb_zeros(NB_SHAPE(0, 1));
    ck_assert_ptr_null(nb_model_fit(m, x, y, &(nb_fit_opts){.verbose = NB_SILENT}));
    NB_ASSERT_ERROR_HAS("nb_model_fit: x has no samples");
    nb_clear_error();
    double v[2];
    ck_assert_int_eq(nb_model_evaluate(m, x, y, 0, v, 2), -1);
    NB_ASSERT_ERROR_HAS("nb_model_evaluate: x has no samples");
    nb_clear_error();
    ck_assert_ptr_null(nb_model_predict(m, x, 0));
    NB_ASSERT_ERROR_HAS("nb_model_predict: x has no samples");
    /* batch size 0 means the default, 32 */
    nb_tensor *p = nb_model_predict(m, nb_randn(NB_SHAPE(40, 4)), 0);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(nb_dim(p, 0), 40);
    /* empty validation data */
    nb_tensor *x2 = nb_randn(NB_SHAPE(8, 4)), *y2 = nb_zeros(NB_SHAPE(8, 1));
    ck_assert_ptr_null(
        nb_model_fit(m, x2, y2, &(nb_fit_opts){.val_x = x, .val_y = y, .verbose = NB_SILENT}));
    NB_ASSERT_ERROR_HAS("nb_model_fit: the validation data has no samples");
    nb_model_free(m);
}
END_TEST

static Suite *fit_suite(void) {
    Suite *s = suite_create("fit");
    TCase *tc = nb_tcase("order");
    tcase_add_test(tc, test_fit_visits_the_samples_in_nb_permutation_order);
    suite_add_tcase(s, tc);
    tc = nb_tcase("learning rate");
    tcase_add_test(tc, test_fit_applies_the_learning_rate_schedule_each_epoch);
    tcase_add_test(tc, test_the_scheduled_rate_reaches_the_updates_eager_and_compiled);
    tcase_add_test(tc, test_history_records_the_rate_each_epoch_trained_with);
    tcase_add_test(tc, test_a_resumed_run_trains_at_the_rates_of_an_uninterrupted_one);
    tcase_add_test(tc, test_learning_rate_scheduler_sets_the_rate_at_each_epoch_begin);
    tcase_add_test(
        tc, test_reduce_lr_on_plateau_lowers_the_rate_after_patience_epochs_without_improvement);
    tcase_add_test(tc, test_reduce_lr_on_plateau_in_fit_lowers_the_rate_history_shows);
    suite_add_tcase(s, tc);
    tc = nb_tcase("progress");
    tcase_add_test(tc, test_fit_prints_one_line_per_epoch_and_no_carriage_return_into_a_pipe);
    tcase_add_test(tc, test_fit_prints_one_line_per_epoch_and_no_carriage_return_into_a_file);
    tcase_add_test(tc, test_fit_draws_a_progress_bar_on_a_terminal);
    tcase_add_test(tc, test_the_progress_bar_is_redrawn_at_most_about_ten_times_a_second);
    suite_add_tcase(s, tc);
    tc = nb_tcase("validation");
    tcase_add_test(tc, test_fit_warns_once_when_the_validation_part_holds_a_class_training_lacks);
    tcase_add_test(tc, test_fit_warns_about_one_hot_validation_classes_training_lacks);
    tcase_add_test(tc, test_fit_warns_when_a_class_sorted_file_validates_on_one_class);
    suite_add_tcase(s, tc);
    tc = nb_tcase("callbacks");
    tcase_add_test(tc, test_batch_hooks_run_once_per_batch_in_order_with_the_running_logs);
    tcase_add_test(tc,
                   test_a_stop_from_a_batch_hook_ends_the_epoch_and_fit_returns_the_history_so_far);
    tcase_add_test(tc, test_a_callback_sets_the_rate_per_batch_through_nb_model_optimizer);
    tcase_add_test(tc, test_early_stopping_min_delta_baseline_and_start_from_epoch_as_keras);
    tcase_add_test(tc, test_early_stopping_restores_the_best_or_the_first_monitored_weights);
    tcase_add_test(tc, test_early_stopping_without_its_log_warns_once_and_never_stops);
    tcase_add_test(tc, test_model_checkpoint_saves_only_improvements_under_names_from_the_pattern);
    tcase_add_test(tc, test_model_checkpoint_in_fit_keeps_the_best_epochs_weights);
    tcase_add_test(tc, test_model_checkpoint_refuses_a_malformed_pattern_naming_the_column);
    tcase_add_test(tc, test_model_checkpoint_failures_end_fit_with_an_error_naming_the_file);
    tcase_add_test(tc, test_terminate_on_nan_stops_at_the_batch_whose_loss_is_not_finite);
    suite_add_tcase(s, tc);
    tc = nb_tcase("weights");
    tcase_add_test(tc, test_per_sample_losses_average_to_the_loss);
    tcase_add_test(tc, test_sample_weights_train_as_repeated_rows);
    tcase_add_test(tc, test_class_weight_is_sample_weight_by_label);
    tcase_add_test(tc, test_bad_sample_and_class_weights_are_errors_naming_fit);
    tcase_add_test(tc, test_validation_split_weights_val_loss_with_the_last_sample_weights);
    tcase_add_test(tc, test_steps_per_epoch_goes_on_through_the_shuffled_order_across_epochs);
    tcase_add_test(tc,
                   test_validation_freq_validates_every_nth_epoch_and_callbacks_skip_the_others);
    tcase_add_test(tc, test_evaluate_named_gives_loss_and_the_metrics_as_compiled);
    suite_add_tcase(s, tc);
    tc = nb_tcase("empty");
    tcase_add_test(tc, test_fit_evaluate_and_predict_on_zero_samples_are_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(fit_suite());
}
