/* Threads (include/nabla/core.h, "threads"): each thread has its own oneDNN
 * stream and primitive cache next to its own errors, scopes, tape and RNG, so
 * threads that train their own models do not disturb each other. Two threads
 * training at once give bit-for-bit the numbers of the same work done one
 * after the other; one thread's nb_shutdown leaves another's run alone; errors
 * stay with the thread that made them; a thread that ends without
 * nb_shutdown gives its backend state back.
 *
 * Every thread runs oneDNN with one OpenMP thread (nb_set_num_threads(1)), as
 * the other suites do: the numbers are then the same whatever the machine's
 * core count, and two threads are two cores here. */
#include "nb_test.h"

#include "core/backend/engine.h" /* nb_backend_threads */

#include <pthread.h>
#include <stdatomic.h>

#define MLP_STEPS  300
#define CNN_STEPS  3
#define MLP_PARAMS (2 * 8 + 8 + 8 * 1 + 1)
#define CNN_PARAMS 256

/* Everything a run computes: the loss of every step and the final weights. */
typedef struct {
    uint64_t seed;
    float mlp_loss[MLP_STEPS], mlp_w[MLP_PARAMS];
    float cnn_loss[CNN_STEPS], cnn_w[CNN_PARAMS];
    int n_mlp_w, n_cnn_w;
    char error[256]; /* "" when the run worked */
} run_result;

static bool copy_params(nb_tensor **p, int n, float *out, int *count, int cap) {
    *count = 0;
    for (int i = 0; i < n; i++) {
        if (*count + nb_numel(p[i]) > cap) return false;
        for (int64_t k = 0; k < nb_numel(p[i]); k++) out[(*count)++] = nb_get_flat(p[i], k);
    }
    return true;
}

static nb_tensor *param(nb_tensor *t) {
    return nb_set_requires_grad(t, true);
}

/* XOR with a 2-8-1 tanh/sigmoid MLP, Adam, MLP_STEPS steps */
static bool train_mlp(run_result *r) {
    nb_tensor *x = nb_from_array((float[]){0, 0, 0, 1, 1, 0, 1, 1}, NB_SHAPE(4, 2));
    nb_tensor *y = nb_from_array((float[]){0, 1, 1, 0}, NB_SHAPE(4, 1));
    nb_tensor *p[] = {param(nb_randn(NB_SHAPE(2, 8))), param(nb_zeros(NB_SHAPE(8))),
                      param(nb_randn(NB_SHAPE(8, 1))), param(nb_zeros(NB_SHAPE(1)))};
    nb_optimizer *opt = nb_adam(0.05f, 0.9f, 0.999f, 1e-7f, false);
    bool ok = opt && nb_optimizer_add_params(opt, p, 4) == NB_OK;
    for (int step = 0; ok && step < MLP_STEPS; step++) {
        nb_scope_begin();
        nb_tensor *h = nb_tanh(nb_linear(x, p[0], p[1]));
        nb_tensor *out = nb_sigmoid(nb_linear(h, p[2], p[3]));
        nb_tensor *loss = nb_mean_all(nb_square(nb_sub(out, y)));
        nb_optimizer_zero_grad(opt);
        ok = loss && nb_backward(loss) == NB_OK && nb_optimizer_step(opt) == NB_OK;
        if (ok) r->mlp_loss[step] = nb_item(loss);
        nb_scope_end();
    }
    ok = ok && copy_params(p, 4, r->mlp_w, &r->n_mlp_w, MLP_PARAMS);
    nb_optimizer_free(opt);
    return ok;
}

/* conv 3x3 -> batch norm -> relu -> max pool 2x2 -> conv 3x3 -> dense, on a
 * random batch [2, 1, 8, 8]: convolution, batch norm and pooling primitives
 * forward and backward */
static bool train_cnn(run_result *r) {
    nb_tensor *x = nb_randn(NB_SHAPE(2, 1, 8, 8));
    nb_tensor *y = nb_randn(NB_SHAPE(2, 2));
    nb_tensor *p[] = {
        param(nb_mul_scalar(nb_randn(NB_SHAPE(3, 1, 3, 3)), 0.3f)), param(nb_zeros(NB_SHAPE(3))),
        param(nb_mul_scalar(nb_randn(NB_SHAPE(3, 3, 3, 3)), 0.3f)), param(nb_zeros(NB_SHAPE(3))),
        param(nb_mul_scalar(nb_randn(NB_SHAPE(27, 2)), 0.3f)),      param(nb_zeros(NB_SHAPE(2)))};
    nb_tensor *gamma = param(nb_ones(NB_SHAPE(3))), *beta = param(nb_zeros(NB_SHAPE(3)));
    nb_tensor *mean = nb_zeros(NB_SHAPE(3)), *var = nb_ones(NB_SHAPE(3));
    nb_optimizer *opt = nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false);
    nb_tensor *all[] = {p[0], p[1], p[2], p[3], p[4], p[5], gamma, beta};
    bool ok = opt && nb_optimizer_add_params(opt, all, 8) == NB_OK;
    for (int step = 0; ok && step < CNN_STEPS; step++) {
        nb_scope_begin();
        nb_tensor *h = nb_conv2d(x, p[0], p[1], NULL); /* [2, 3, 6, 6] */
        h = nb_relu(nb_batch_norm(h, gamma, beta, mean, var, 0.1f, 1e-5f, true));
        h = nb_max_pool2d(h, 2, 2, 0, 0, 0, 0); /* [2, 3, 3, 3] */
        h = nb_relu(nb_conv2d(h, p[2], p[3], &(nb_conv2d_opts){.padding = NB_PAD_SAME}));
        nb_tensor *out = nb_linear(nb_flatten(h), p[4], p[5]); /* [2, 2] */
        nb_tensor *loss = nb_mean_all(nb_square(nb_sub(out, y)));
        nb_optimizer_zero_grad(opt);
        ok = loss && nb_backward(loss) == NB_OK && nb_optimizer_step(opt) == NB_OK;
        if (ok) r->cnn_loss[step] = nb_item(loss);
        nb_scope_end();
    }
    nb_tensor *w[] = {p[0], p[1], p[2], p[3], p[4], p[5], gamma, beta, mean, var};
    ok = ok && copy_params(w, 10, r->cnn_w, &r->n_cnn_w, CNN_PARAMS);
    nb_optimizer_free(opt);
    return ok;
}

/* The whole run, in whichever thread calls it; ends with nb_shutdown. */
static void *run(void *arg) {
    run_result *r = arg;
    nb_set_num_threads(1);
    nb_manual_seed(r->seed);
    r->error[0] = '\0';
    if (!train_mlp(r) || !train_cnn(r)) snprintf(r->error, sizeof r->error, "%s", nb_error());
    nb_shutdown();
    return NULL;
}

static void assert_same(const run_result *a, const run_result *b) {
    ck_assert_msg(!a->error[0], "serial run failed: %s", a->error);
    ck_assert_msg(!b->error[0], "threaded run failed: %s", b->error);
    ck_assert_int_eq(a->n_mlp_w, MLP_PARAMS);
    ck_assert_int_eq(a->n_cnn_w, b->n_cnn_w);
    for (int i = 0; i < MLP_STEPS; i++)
        ck_assert_msg(!memcmp(&a->mlp_loss[i], &b->mlp_loss[i], sizeof(float)),
                      "seed %d: MLP loss of step %d: %.9g serially, %.9g in a thread", (int)a->seed,
                      i, a->mlp_loss[i], b->mlp_loss[i]);
    for (int i = 0; i < CNN_STEPS; i++)
        ck_assert_msg(!memcmp(&a->cnn_loss[i], &b->cnn_loss[i], sizeof(float)),
                      "seed %d: CNN loss of step %d: %.9g serially, %.9g in a thread", (int)a->seed,
                      i, a->cnn_loss[i], b->cnn_loss[i]);
    ck_assert_msg(!memcmp(a->mlp_w, b->mlp_w, sizeof a->mlp_w), "seed %d: MLP weights differ",
                  (int)a->seed);
    ck_assert_msg(!memcmp(a->cnn_w, b->cnn_w, (size_t)a->n_cnn_w * sizeof(float)),
                  "seed %d: CNN weights differ", (int)a->seed);
}

static run_result serial[2], threaded[2];

static void run_serially(void) {
    for (int i = 0; i < 2; i++) {
        serial[i].seed = (uint64_t)i + 1;
        run(&serial[i]);
    }
    /* the runs learn something, and differ: a comparison that can fail */
    ck_assert_msg(serial[0].mlp_loss[MLP_STEPS - 1] < 0.5f * serial[0].mlp_loss[0],
                  "XOR did not learn: loss %g -> %g", serial[0].mlp_loss[0],
                  serial[0].mlp_loss[MLP_STEPS - 1]);
    ck_assert(memcmp(serial[0].mlp_w, serial[1].mlp_w, sizeof serial[0].mlp_w) != 0);
    nb_set_num_threads(1);
}

/* Two threads, each its own model, at once: the serial numbers, bit for bit. */
START_TEST(test_two_threads_match_serial) {
    run_serially();
    for (int round = 0; round < 2; round++) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++) {
            threaded[i] = (run_result){.seed = (uint64_t)i + 1};
            ck_assert_int_eq(pthread_create(&t[i], NULL, run, &threaded[i]), 0);
        }
        for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
        for (int i = 0; i < 2; i++) assert_same(&serial[i], &threaded[i]);
    }
}
END_TEST

/* A thread that keeps running small ops and calling nb_shutdown while
 * another trains: the trainer's numbers are the serial ones. */
static atomic_bool trainer_done;
static atomic_int shutdowns;

static void *churn(void *arg) {
    (void)arg;
    nb_set_num_threads(1);
    while (!atomic_load(&trainer_done)) {
        nb_tensor *a = nb_randn(NB_SHAPE(4, 8)), *b = nb_randn(NB_SHAPE(8, 1));
        nb_tensor *h = nb_relu(nb_matmul(a, b));
        nb_tensor *c =
            nb_conv2d(nb_randn(NB_SHAPE(1, 1, 5, 5)), nb_randn(NB_SHAPE(2, 1, 3, 3)), NULL, NULL);
        if (!h || !c) return (void *)1;
        nb_shutdown();
        atomic_fetch_add(&shutdowns, 1);
    }
    return NULL;
}

static void *train_then_flag(void *arg) {
    run(arg);
    atomic_store(&trainer_done, true);
    return NULL;
}

START_TEST(test_shutdown_in_another_thread) {
    run_serially();
    atomic_store(&trainer_done, false);
    atomic_store(&shutdowns, 0);
    pthread_t trainer, churner;
    threaded[0] = (run_result){.seed = 1};
    ck_assert_int_eq(pthread_create(&churner, NULL, churn, NULL), 0);
    ck_assert_int_eq(pthread_create(&trainer, NULL, train_then_flag, &threaded[0]), 0);
    void *churn_failed;
    pthread_join(trainer, NULL);
    pthread_join(churner, &churn_failed);
    ck_assert_msg(churn_failed == NULL, "the shutting-down thread's ops failed");
    ck_assert_int_gt(atomic_load(&shutdowns), 0);
    assert_same(&serial[0], &threaded[0]);
    /* and this thread, which made no backend state of its own, can still run ops */
    nb_tensor *s = nb_relu(nb_from_array((float[]){-1, 2}, NB_SHAPE(2)));
    ck_assert_ptr_nonnull(s);
    ck_assert_float_eq(nb_get_flat(s, 1), 2.0f);
}
END_TEST

/* Errors belong to the thread whose call failed. */
static pthread_barrier_t barrier;

typedef struct {
    int64_t k;                  /* inner dimension of the failing matmul */
    nb_status before;           /* code seen before failing, after the other thread failed */
    char mine[256], after[256]; /* own message right after failing, and at the end */
} err_probe;

static void *fail_in_thread(void *arg) {
    err_probe *e = arg;
    nb_set_num_threads(1);
    pthread_barrier_wait(&barrier); /* thread 0 fails first */
    if (e->k == 3) pthread_barrier_wait(&barrier);
    e->before = nb_error_code();
    nb_tensor *r = nb_matmul(nb_zeros(NB_SHAPE(2, e->k)), nb_zeros(NB_SHAPE(5, 2)));
    snprintf(e->mine, sizeof e->mine, "%s", r ? "(no error)" : nb_error());
    if (e->k == 7) pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier); /* both have failed */
    snprintf(e->after, sizeof e->after, "%s", nb_error());
    nb_shutdown();
    return NULL;
}

START_TEST(test_errors_stay_per_thread) {
    ck_assert_ptr_null(nb_matmul(nb_zeros(NB_SHAPE(1, 4)), nb_zeros(NB_SHAPE(9, 1))));
    ck_assert_int_eq(pthread_barrier_init(&barrier, NULL, 2), 0);
    err_probe e[2] = {{.k = 7}, {.k = 3}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, fail_in_thread, &e[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < 2; i++) {
        char want[64];
        snprintf(want, sizeof want, "a is [2, %d], b is [5, 2]", (int)e[i].k);
        ck_assert_int_eq(e[i].before, NB_OK); /* the other thread's failure is not seen */
        ck_assert_msg(strstr(e[i].mine, want), "thread %d: \"%s\" lacks \"%s\"", i, e[i].mine,
                      want);
        ck_assert_str_eq(e[i].after, e[i].mine);
    }
    NB_ASSERT_ERROR_HAS("a is [1, 4], b is [9, 1]"); /* this thread's own, untouched */
}
END_TEST

/* A thread that ends without nb_shutdown gives back its tensors, pools,
 * stream and primitives (LeakSanitizer checks the memory in the sanitizer
 * build); the engine goes when its last thread does. */
static void *leave_without_shutdown(void *arg) {
    run_result *r = arg;
    nb_set_num_threads(1);
    nb_manual_seed(r->seed);
    if (!train_cnn(r)) snprintf(r->error, sizeof r->error, "%s", nb_error());
    r->n_mlp_w = nb_backend_threads(); /* this thread counted while it runs */
    return NULL;
}

START_TEST(test_thread_exit_without_shutdown) {
    ck_assert_int_eq(nb_backend_threads(), 0);
    run_result r = {.seed = 5};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, leave_without_shutdown, &r), 0);
    pthread_join(t, NULL);
    ck_assert_msg(!r.error[0], "%s", r.error);
    ck_assert_int_eq(r.n_mlp_w, 1);
    ck_assert_int_eq(nb_backend_threads(), 0); /* its state went with it */
    ck_assert_ptr_nonnull(nb_relu(nb_ones(NB_SHAPE(3))));
    ck_assert_int_eq(nb_backend_threads(), 1);
    nb_shutdown();
    ck_assert_int_eq(nb_backend_threads(), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("threads");
    TCase *tc = nb_tcase("threads");
    tcase_add_test(tc, test_two_threads_match_serial);
    tcase_add_test(tc, test_shutdown_in_another_thread);
    tcase_add_test(tc, test_errors_stay_per_thread);
    tcase_add_test(tc, test_thread_exit_without_shutdown);
    suite_add_tcase(s, tc);
    return nb_test_run(s);
}
