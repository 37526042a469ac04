/* fit's loop as a user sees it: the order it visits the samples, the learning
 * rate it trains with (schedules, LearningRateScheduler, ReduceLROnPlateau,
 * History's lr), its progress output on a terminal, a pipe and a file, the
 * warning about a validation part with classes training never sees, and
 * empty inputs. */
#include "nb_test.h"

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
    tc = nb_tcase("empty");
    tcase_add_test(tc, test_fit_evaluate_and_predict_on_zero_samples_are_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(fit_suite());
}
