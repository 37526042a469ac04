/* Checkpoints: training stopped after some epochs and resumed in a new model
 * (another process, for all it knows) goes on exactly as if it had never
 * stopped: the same loss every epoch and the same final weights, bit for bit,
 * on one thread. A checkpoint that does not fit the model, or is cut short,
 * is an error that names the file and what differs, and changes nothing. */
#include "nb_test.h"

#include <stdio.h>
#include <unistd.h>

#define EPOCHS 6
#define STOP   3 /* the interrupted run stops after this many epochs */
#define MAX_W  512

/* a fresh temporary file name in path[32] */
static void temp_path(char *path) {
    snprintf(path, 32, "/tmp/nabla_ckpt_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

/* Every update rule, with every buffer it can have. */
#define N_OPTIMIZERS 7
static nb_optimizer *optimizer(int i) {
    switch (i) {
    case 0:
        return nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false);
    case 1:
        return nb_sgd(0.05f, 0.9f, false, 0.0f); /* momentum */
    case 2:
        return nb_sgd(0.05f, 0.9f, true, 1e-4f); /* nesterov, weight decay */
    case 3:
        return nb_adagrad(0.05f, 0.1f, 1e-7f);
    case 4:
        return nb_rmsprop(0.005f, 0.9f, 0.5f, 1e-7f, true); /* momentum, centered */
    case 5:
        return nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, true); /* amsgrad */
    default:
        return nb_adamw(0.01f, 0.9f, 0.999f, 1e-7f, 0.01f);
    }
}

/* Iris, 4-16(relu)-BatchNorm-Dropout(0.25)-3(softmax): shuffling and dropout
 * draw random numbers every epoch, batch norm keeps moving statistics. */
static nb_model *iris_model(int hidden, nb_optimizer *opt) {
    nb_model *m = nb_sequential(NB_SHAPE(4));
    nb_model_add(m, nb_dense(hidden, "relu"));
    nb_model_add(m, nb_batch_norm_layer(0, 0));
    nb_model_add(m, nb_dropout_layer(0.25f));
    nb_model_add(m, nb_dense(3, "softmax"));
    ck_assert_msg(nb_model_compile(m, "sparse_categorical_crossentropy", opt,
                                   (const char *[]){"accuracy"}, 1) == NB_OK,
                  "%s", nb_error());
    return m;
}

typedef struct {
    double loss[EPOCHS];
    int epochs;
    float w[MAX_W];      /* trainable weights, in order */
    float pred[150 * 3]; /* predictions: these use batch norm's moving statistics */
} run;

static void load_iris(nb_dataset *ds) {
    ck_assert_msg(nb_dataset_load("iris", ds) == NB_OK, "%s", nb_error());
}

/* fit on iris in batches of 16; the epochs' losses go on r->loss */
static void fit(nb_model *m, nb_fit_opts o, run *r) {
    nb_dataset ds = {0};
    load_iris(&ds);
    o.batch_size = 16;
    o.verbose = NB_SILENT;
    nb_history *h = nb_model_fit(m, ds.x, ds.y, &o);
    ck_assert_msg(h != NULL, "%s", nb_error());
    for (int e = 0; e < nb_history_epochs(h) && r->epochs < EPOCHS; e++)
        r->loss[r->epochs++] = nb_history_get(h, "loss", e);
    nb_history_free(h);
    nb_dataset_free(&ds);
}

static void keep_result(nb_model *m, run *r) {
    nb_tensor **p;
    int n = nb_model_parameters(m, &p);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        ck_assert(at + nb_numel(p[i]) <= MAX_W);
        ck_assert_int_eq(nb_copy_to(p[i], r->w + at, nb_numel(p[i])), NB_OK);
        at += nb_numel(p[i]);
    }
    nb_dataset ds = {0};
    load_iris(&ds);
    nb_tensor *pred = nb_model_predict(m, ds.x, 32);
    ck_assert_int_eq(nb_copy_to(pred, r->pred, 150 * 3), NB_OK);
    nb_dataset_free(&ds);
}

/* a new process, as far as nabla can tell: every tensor, pool and primitive gone */
static void restart(uint64_t seed) {
    nb_shutdown();
    nb_set_num_threads(1);
    nb_manual_seed(seed);
}

static void assert_same_run(const run *a, const run *b) {
    ck_assert_int_eq(a->epochs, b->epochs);
    for (int e = 0; e < a->epochs; e++)
        ck_assert_msg(a->loss[e] == b->loss[e], "epoch %d: loss %.9g straight, %.9g resumed", e + 1,
                      a->loss[e], b->loss[e]);
    ck_assert_msg(!memcmp(a->w, b->w, sizeof a->w), "the final weights differ");
    ck_assert_msg(!memcmp(a->pred, b->pred, sizeof a->pred), "the final predictions differ");
}

START_TEST(test_resumed_training_equals_training_straight_through) {
    char path[32];
    temp_path(path);
    static run straight, resumed;
    memset(&straight, 0, sizeof straight);
    memset(&resumed, 0, sizeof resumed);

    restart(42); /* EPOCHS epochs in one go */
    nb_model *m = iris_model(16, optimizer(_i));
    fit(m, (nb_fit_opts){.epochs = EPOCHS}, &straight);
    keep_result(m, &straight);
    nb_model_free(m);

    restart(42); /* the same start, stopped after STOP epochs, a checkpoint each epoch */
    m = iris_model(16, optimizer(_i));
    fit(m, (nb_fit_opts){.epochs = STOP, .checkpoint = path}, &resumed);
    nb_model_free(m);

    restart(777); /* another process: other initial weights, another random stream */
    m = iris_model(16, optimizer(_i));
    fit(m, (nb_fit_opts){.epochs = EPOCHS, .checkpoint = path, .resume = true}, &resumed);
    keep_result(m, &resumed);
    nb_model_free(m);

    ck_assert_msg(straight.loss[EPOCHS - 1] < straight.loss[0], "loss %g -> %g did not fall",
                  straight.loss[0], straight.loss[EPOCHS - 1]);
    assert_same_run(&straight, &resumed);
    /* the last checkpoint is the end of the run */
    m = iris_model(16, optimizer(_i));
    int epoch = -1;
    ck_assert_msg(nb_model_load_checkpoint(m, path, &epoch) == NB_OK, "%s", nb_error());
    ck_assert_int_eq(epoch, EPOCHS);
    nb_model_free(m);
    remove(path);
}
END_TEST

/* The control: the same checkpoint without its random stream (shuffling and
 * dropout draw other numbers) gives other losses, so the test above shows
 * that the generator's state is restored. */
START_TEST(test_resuming_with_another_random_stream_differs) {
    char path[32];
    temp_path(path);
    static run straight, resumed;
    memset(&straight, 0, sizeof straight);
    memset(&resumed, 0, sizeof resumed);
    restart(42);
    nb_model *m = iris_model(16, optimizer(0));
    fit(m, (nb_fit_opts){.epochs = EPOCHS}, &straight);
    nb_model_free(m);

    restart(42);
    m = iris_model(16, optimizer(0));
    fit(m, (nb_fit_opts){.epochs = STOP, .checkpoint = path}, &resumed);
    int epoch;
    ck_assert_int_eq(nb_model_load_checkpoint(m, path, &epoch), NB_OK);
    ck_assert_int_eq(epoch, STOP);
    nb_manual_seed(5);
    fit(m, (nb_fit_opts){.epochs = EPOCHS, .initial_epoch = epoch}, &resumed);
    nb_model_free(m);
    ck_assert_int_eq(resumed.epochs, EPOCHS);
    for (int e = 0; e < STOP; e++) ck_assert(straight.loss[e] == resumed.loss[e]);
    ck_assert(straight.loss[STOP] != resumed.loss[STOP]);
    remove(path);
}
END_TEST

/* fit's resume with no file yet starts at epoch 0 and writes the file */
START_TEST(test_resume_without_a_file_starts_from_the_beginning) {
    char path[32];
    temp_path(path);
    remove(path);
    static run r;
    memset(&r, 0, sizeof r);
    nb_model *m = iris_model(16, optimizer(1));
    fit(m, (nb_fit_opts){.epochs = 2, .checkpoint = path, .resume = true}, &r);
    ck_assert_int_eq(r.epochs, 2);
    ck_assert_int_eq(access(path, F_OK), 0);
    /* a run that is already complete trains no more */
    fit(m, (nb_fit_opts){.epochs = 2, .checkpoint = path, .resume = true}, &r);
    ck_assert_int_eq(r.epochs, 2);
    nb_model_free(m);
    remove(path);
}
END_TEST

static Suite *checkpoint_suite(void) {
    Suite *s = suite_create("checkpoint");
    TCase *tc = nb_tcase("resume");
    tcase_add_loop_test(tc, test_resumed_training_equals_training_straight_through, 0,
                        N_OPTIMIZERS);
    tcase_add_test(tc, test_resuming_with_another_random_stream_differs);
    tcase_add_test(tc, test_resume_without_a_file_starts_from_the_beginning);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(checkpoint_suite());
}
