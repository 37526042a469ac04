/* Checkpoints: training stopped after some epochs and resumed in a new model
 * (another process, for all it knows) goes on exactly as if it had never
 * stopped: the same loss every epoch and the same final weights, bit for bit,
 * on one thread. A checkpoint that does not fit the model, or is cut short,
 * is an error that names the file and what differs, and changes nothing. */
#include "nb_test.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
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

/* ---- what a checkpoint holds ------------------------------------------------------------ */
START_TEST(test_checkpoint_restores_epoch_learning_rate_and_generator) {
    char path[32];
    temp_path(path);
    nb_optimizer *opt = nb_sgd(0.05f, 0.9f, false, 0.0f);
    nb_model *a = iris_model(16, opt);
    static run r;
    fit(a, (nb_fit_opts){.epochs = 1}, &r);
    ck_assert_int_eq(nb_optimizer_set_lr(opt, 0.0125f), NB_OK); /* as a schedule would */
    nb_manual_seed(99);
    uint64_t state = nb_rng_get_state();
    ck_assert_int_eq(nb_model_save_checkpoint(a, path, 5), NB_OK);

    nb_optimizer *opt_b = nb_sgd(0.05f, 0.9f, false, 0.0f);
    nb_model *b = iris_model(16, opt_b);
    nb_manual_seed(1);
    int epoch = -1;
    ck_assert_msg(nb_model_load_checkpoint(b, path, &epoch) == NB_OK, "%s", nb_error());
    ck_assert_int_eq(epoch, 5);
    ck_assert(nb_optimizer_get_lr(opt_b) == 0.0125f);
    ck_assert(nb_rng_get_state() == state);
    /* the same momentum buffers and counts: one state equals the other, text and tensors */
    nb_optimizer_state sa, sb;
    ck_assert_int_eq(nb_optimizer_get_state(opt, NULL, &sa), NB_OK);
    ck_assert_int_eq(nb_optimizer_get_state(opt_b, NULL, &sb), NB_OK);
    ck_assert_int_eq(sa.n_tensors, 6); /* a momentum buffer per trainable weight */
    ck_assert_int_eq(sa.n_tensors, sb.n_tensors);
    ck_assert_int_eq(sa.n_pairs, sb.n_pairs);
    for (int i = 0; i < sa.n_pairs; i++) {
        ck_assert_str_eq(sa.keys[i], sb.keys[i]);
        ck_assert_str_eq(sa.values[i], sb.values[i]);
    }
    for (int i = 0; i < sa.n_tensors; i++) {
        ck_assert_str_eq(sa.names[i], sb.names[i]);
        ck_assert_int_eq(nb_numel(sa.tensors[i]), nb_numel(sb.tensors[i]));
        for (int64_t k = 0; k < nb_numel(sa.tensors[i]); k++)
            ck_assert(nb_get_flat(sa.tensors[i], k) == nb_get_flat(sb.tensors[i], k));
    }
    nb_optimizer_state_free(&sa);
    nb_optimizer_state_free(&sb);
    nb_model_free(a);
    nb_model_free(b);
    remove(path);
}
END_TEST

/* Python reads a checkpoint with json and numpy like any safetensors file;
 * the names say what is what. */
START_TEST(test_checkpoint_names_weights_and_optimizer_state) {
    char path[32];
    temp_path(path);
    nb_model *m = iris_model(16, nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, true));
    static run r;
    fit(m, (nb_fit_opts){.epochs = 1}, &r);
    ck_assert_int_eq(nb_model_save_checkpoint(m, path, 1), NB_OK);
    nb_safetensors *f = nb_safetensors_read(path);
    ck_assert_msg(f != NULL, "%s", nb_error());
    int weights = 0, buffers = 0;
    for (int i = 0; i < nb_safetensors_count(f); i++)
        if (!strncmp(nb_safetensors_name(f, i), "optimizer/", 10))
            buffers++;
        else
            weights++;
    ck_assert_int_eq(weights, 8);  /* 2 dense + 4 batch norm + 2 dense */
    ck_assert_int_eq(buffers, 18); /* 6 trainable x exp_avg, exp_avg_sq, max_exp_avg_sq */
    ck_assert_str_eq(nb_safetensors_meta(f, "content"), "checkpoint");
    ck_assert_str_eq(nb_safetensors_meta(f, "epoch"), "1");
    ck_assert_str_eq(nb_safetensors_meta(f, "optimizer.name"), "adam");
    ck_assert_str_eq(nb_safetensors_meta(f, "optimizer.beta1"), "0.9");
    ck_assert_str_eq(nb_safetensors_meta(f, "optimizer.amsgrad"), "true");
    ck_assert_str_eq(nb_safetensors_meta(f, "optimizer.dense/kernel/step"), "10"); /* 150 / 16 */
    int k = -1;
    for (int i = 0; i < nb_safetensors_count(f); i++)
        if (!strcmp(nb_safetensors_name(f, i), "optimizer/dense/kernel/exp_avg_sq")) k = i;
    ck_assert_int_ge(k, 0);
    ck_assert_int_eq(nb_dim(nb_safetensors_tensor(f, k), 0), 4);
    ck_assert_int_eq(nb_dim(nb_safetensors_tensor(f, k), 1), 16);
    nb_safetensors_free(f);
    nb_model_free(m);
    remove(path);
}
END_TEST

/* The optimizer's own API: a hand-written loop moves its state to another
 * optimizer, which then takes the same steps. */
START_TEST(test_optimizer_state_moves_between_optimizers) {
    for (int o = 0; o < N_OPTIMIZERS; o++) {
        nb_manual_seed(3);
        nb_tensor *target = nb_randn(NB_SHAPE(8, 3));
        nb_tensor *pa = nb_set_requires_grad(nb_randn(NB_SHAPE(8, 3)), true);
        nb_tensor *pb = nb_set_requires_grad(nb_zeros(NB_SHAPE(8, 3)), true);
        nb_optimizer *a = optimizer(o), *b = optimizer(o);
        ck_assert_int_eq(nb_optimizer_add_params(a, &pa, 1), NB_OK);
        ck_assert_int_eq(nb_optimizer_add_params(b, &pb, 1), NB_OK);
        for (int step = 0; step < 6; step++) {
            if (step == 3) { /* b takes over a's param values and state */
                nb_optimizer_state s;
                ck_assert_int_eq(nb_optimizer_get_state(a, NULL, &s), NB_OK);
                ck_assert_msg(nb_optimizer_set_state(b, NULL, &s, NULL) == NB_OK, "%s", nb_error());
                nb_optimizer_state_free(&s);
                float w[24];
                nb_copy_to(pa, w, 24);
                nb_copy_from(pb, w, 24);
            }
            nb_tensor *ps[] = {pa, pb};
            nb_optimizer *os[] = {a, b};
            for (int k = 0; k < (step < 3 ? 1 : 2); k++) {
                nb_scope_begin();
                nb_tensor *loss = nb_mean_all(nb_square(nb_sub(ps[k], target)));
                ck_assert_int_eq(nb_backward(loss), NB_OK);
                ck_assert_int_eq(nb_optimizer_step(os[k]), NB_OK);
                nb_optimizer_zero_grad(os[k]);
                nb_scope_end();
            }
        }
        for (int64_t i = 0; i < 24; i++)
            ck_assert_msg(nb_get_flat(pa, i) == nb_get_flat(pb, i), "optimizer %d, element %lld", o,
                          (long long)i);
        nb_optimizer_free(a);
        nb_optimizer_free(b);
    }
}
END_TEST

/* ---- checkpoints that do not fit -------------------------------------------------------- */
/* a checkpoint of a model trained one epoch with opt; the model is freed */
static void write_checkpoint(const char *path, int hidden, nb_optimizer *opt) {
    nb_model *m = iris_model(hidden, opt);
    static run r;
    r.epochs = 0;
    fit(m, (nb_fit_opts){.epochs = 1}, &r);
    ck_assert_msg(nb_model_save_checkpoint(m, path, 1) == NB_OK, "%s", nb_error());
    nb_model_free(m);
}

/* load path into m: an error of the given code whose message has both needles,
 * and m's weights and predictions untouched */
static void assert_load_fails(nb_model *m, const char *path, nb_status code, const char *needle1,
                              const char *needle2) {
    static run before, after;
    keep_result(m, &before);
    int epoch = 77;
    nb_status s = nb_model_load_checkpoint(m, path, &epoch);
    ck_assert_msg(s == code, "status %d, expected %d: %s", s, code, nb_error());
    NB_ASSERT_ERROR_HAS("nb_model_load_checkpoint: ");
    NB_ASSERT_ERROR_HAS(path);
    NB_ASSERT_ERROR_HAS(needle1);
    if (needle2) NB_ASSERT_ERROR_HAS(needle2);
    ck_assert_int_eq(epoch, 77);
    keep_result(m, &after);
    ck_assert(!memcmp(&before, &after, sizeof before));
}

START_TEST(test_loading_into_another_optimizer_is_an_error_naming_both) {
    char path[32];
    temp_path(path);
    write_checkpoint(path, 16, nb_sgd(0.05f, 0.9f, false, 0.0f));
    nb_model *m = iris_model(16, nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false));
    assert_load_fails(m, path, NB_ERR_ARG, "the optimizer was 'sgd' when saved but is 'adam' here",
                      NULL);
    nb_model_free(m);
    m = iris_model(16, nb_sgd(0.05f, 0.9f, true, 0.0f));
    assert_load_fails(m, path, NB_ERR_ARG, "nesterov was false when saved but is true here", NULL);
    nb_model_free(m);
    m = iris_model(16, nb_sgd(0.05f, 0.8f, false, 0.0f));
    assert_load_fails(m, path, NB_ERR_ARG, "momentum was 0.9 when saved but is 0.8 here", NULL);
    nb_model_free(m);
    write_checkpoint(path, 16, nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false));
    m = iris_model(16, nb_adamw(0.01f, 0.9f, 0.999f, 1e-7f, 0.01f));
    assert_load_fails(m, path, NB_ERR_ARG, "'adam' when saved but is 'adamw' here", NULL);
    nb_model_free(m);
    m = iris_model(16, nb_adam(0.01f, 0.95f, 0.999f, 1e-7f, false));
    assert_load_fails(m, path, NB_ERR_ARG, "beta1 was 0.9 when saved but is 0.95 here", NULL);
    nb_model_free(m);
    remove(path);
}
END_TEST

START_TEST(test_loading_into_another_architecture_names_the_weight) {
    char path[32];
    temp_path(path);
    write_checkpoint(path, 16, nb_optimizer_from_name("adam"));
    nb_model *m = iris_model(8, nb_optimizer_from_name("adam"));
    assert_load_fails(m, path, NB_ERR_SHAPE, "weight 'dense/kernel' is [4, 16] in the checkpoint",
                      "but [4, 8] here");
    nb_model_free(m);
    /* one more layer: its weights are not in the file */
    m = nb_sequential(NB_SHAPE(4));
    nb_model_add(m, nb_dense(16, "relu"));
    nb_model_add(m, nb_batch_norm_layer(0, 0));
    nb_model_add(m, nb_dropout_layer(0.25f));
    nb_model_add(m, nb_dense(3, "relu"));
    nb_model_add(m, nb_dense(3, "softmax"));
    nb_model_compile(m, "sparse_categorical_crossentropy", nb_optimizer_from_name("adam"), NULL, 0);
    assert_load_fails(m, path, NB_ERR_ARG, "the checkpoint has no weight 'dense_2/kernel'", NULL);
    nb_model_free(m);
    /* one layer less: the file has a weight the model has not */
    m = nb_sequential(NB_SHAPE(4));
    nb_model_add(m, nb_dense(16, "relu"));
    nb_model_add(m, nb_dense(3, "softmax"));
    nb_model_compile(m, "sparse_categorical_crossentropy", nb_optimizer_from_name("adam"), NULL, 0);
    assert_load_fails(m, path, NB_ERR_ARG,
                      "the checkpoint has a weight 'batch_normalization/gamma' that the model "
                      "has not",
                      NULL);
    nb_model_free(m);
    remove(path);
}
END_TEST

START_TEST(test_a_truncated_checkpoint_is_an_error_and_changes_nothing) {
    char path[32];
    temp_path(path);
    write_checkpoint(path, 16, nb_optimizer_from_name("adam"));
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(path, size - 100), 0); /* the data cut short */
    nb_model *m = iris_model(16, nb_optimizer_from_name("adam"));
    assert_load_fails(m, path, NB_ERR_FORMAT, "claims bytes", NULL);
    ck_assert_int_eq(truncate(path, 1000), 0); /* the header cut short */
    assert_load_fails(m, path, NB_ERR_FORMAT, "does not fit in a file of 1000 bytes", NULL);
    ck_assert_int_eq(truncate(path, 5), 0);
    assert_load_fails(m, path, NB_ERR_FORMAT, "shorter than the 8-byte header length", NULL);
    /* fit with resume stops at the bad file rather than start over */
    nb_dataset ds = {0};
    load_iris(&ds);
    nb_history *h = nb_model_fit(
        m, ds.x, ds.y,
        &(nb_fit_opts){.epochs = 2, .checkpoint = path, .resume = true, .verbose = NB_SILENT});
    ck_assert_ptr_null(h);
    NB_ASSERT_ERROR_HAS("nb_model_load_checkpoint: ");
    nb_dataset_free(&ds);
    nb_model_free(m);
    remove(path);
}
END_TEST

START_TEST(test_misuse_is_an_error_not_a_crash) {
    char path[32];
    temp_path(path);
    nb_model *m = iris_model(16, nb_optimizer_from_name("adam"));
    ck_assert_int_eq(nb_model_save_weights(m, path), NB_OK);
    assert_load_fails(m, path, NB_ERR_FORMAT, "not a checkpoint", "nb_model_load_weights");
    ck_assert_int_eq(nb_model_save_checkpoint(m, path, -1), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_model_save_checkpoint: epoch is -1");
    ck_assert_int_eq(nb_model_save_checkpoint(NULL, path, 0), NB_ERR_NULL);
    ck_assert_int_eq(nb_model_load_checkpoint(m, NULL, NULL), NB_ERR_NULL);
    ck_assert_int_eq(nb_model_load_checkpoint(m, "/nonexistent/ckpt", NULL), NB_ERR_IO);
    NB_ASSERT_ERROR_HAS(
        "nb_model_load_checkpoint: nb_safetensors: /nonexistent/ckpt: No such file");
    ck_assert_int_eq(nb_model_save_checkpoint(m, "/nonexistent/dir/ckpt", 0), NB_ERR_IO);
    /* a model without an optimizer has no state to save or restore */
    nb_model *bare = nb_sequential(NB_SHAPE(4));
    nb_model_add(bare, nb_dense(3, "softmax"));
    ck_assert_int_eq(nb_model_save_checkpoint(bare, path, 0), NB_ERR_STATE);
    NB_ASSERT_ERROR_HAS("compile the model first");
    ck_assert_int_eq(nb_model_load_checkpoint(bare, path, NULL), NB_ERR_STATE);
    nb_model_free(bare);
    /* fit's options */
    nb_dataset ds = {0};
    load_iris(&ds);
    ck_assert_ptr_null(nb_model_fit(m, ds.x, ds.y, &(nb_fit_opts){.resume = true}));
    NB_ASSERT_ERROR_HAS("nb_model_fit: resume needs a checkpoint path");
    ck_assert_ptr_null(nb_model_fit(m, ds.x, ds.y, &(nb_fit_opts){.initial_epoch = -2}));
    NB_ASSERT_ERROR_HAS("nb_model_fit: initial_epoch is -2");
    nb_dataset_free(&ds);
    /* the optimizer's API */
    nb_optimizer_state s;
    ck_assert_int_ne(nb_optimizer_get_state(NULL, NULL, &s), NB_OK);
    ck_assert_ptr_null(nb_optimizer_param(NULL, 0));
    nb_optimizer *opt = nb_optimizer_from_name("adam");
    ck_assert_int_eq(nb_optimizer_get_state(opt, NULL, NULL), NB_ERR_NULL);
    ck_assert_ptr_null(nb_optimizer_param(opt, 0));
    NB_ASSERT_ERROR_HAS("nb_optimizer_param: no param 0 (the optimizer has 0)");
    ck_assert_int_eq(nb_optimizer_set_state(opt, NULL, NULL, NULL), NB_ERR_NULL);
    nb_optimizer_state empty = {0};
    ck_assert_int_eq(nb_optimizer_set_state(opt, NULL, &empty, NULL), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("nb_optimizer_set_state: the saved state names no optimizer");
    nb_optimizer_free(opt);
    nb_model_free(m);
    remove(path);
}
END_TEST

/* ---- a checkpoint survives a crash ------------------------------------------------------ */
/* A child writes checkpoint 1, 2, 3, ... of a 12 MB model over the same file,
 * every weight and Adam buffer set to the version number, until it is killed
 * with SIGKILL at a random moment. The file must then load and hold one whole
 * version: the epoch, the weights and the optimizer's state of the same save. */
#define KILL_ROUNDS 100

static nb_model *big_model(nb_optimizer **opt) {
    nb_model *m = nb_sequential(NB_SHAPE(1024));
    nb_model_add(m, nb_dense(1024, "relu"));
    nb_model_add(m, nb_dense(8, "softmax"));
    *opt = nb_optimizer_from_name("adam");
    ck_assert_int_eq(nb_model_compile(m, "sparse_categorical_crossentropy", *opt, NULL, 0), NB_OK);
    /* one step, so that Adam has its buffers */
    nb_tensor *x = nb_randn(NB_SHAPE(4, 1024)), *y = nb_zeros(NB_SHAPE(4));
    nb_history *h = nb_model_fit(m, x, y, &(nb_fit_opts){.batch_size = 4, .verbose = NB_SILENT});
    ck_assert_msg(h != NULL, "%s", nb_error());
    nb_history_free(h);
    return m;
}

/* the weights of m and the buffers of s: set to v, or compared with v */
static bool all_values(nb_model *m, const nb_optimizer_state *s, float v, bool set) {
    nb_tensor **p;
    int n = nb_model_parameters(m, &p);
    for (int i = 0; i < n + s->n_tensors; i++) {
        nb_tensor *t = i < n ? p[i] : s->tensors[i - n];
        float *d = nb_data(t);
        for (int64_t k = 0; k < nb_numel(t); k++) {
            if (set) d[k] = v;
            if (d[k] != v) return false;
        }
    }
    return true;
}

/* only memory writes and file I/O here: no oneDNN (nor OpenMP) after a fork */
static void checkpoint_forever(const char *path, nb_model *m, nb_optimizer *opt, int ready) {
    nb_optimizer_state s;
    if (nb_optimizer_get_state(opt, NULL, &s) != NB_OK) _exit(1);
    for (int version = 1;; version++) {
        all_values(m, &s, (float)version, true);
        if (nb_model_save_checkpoint(m, path, version) != NB_OK) _exit(1);
        if (version == 1 && write(ready, "x", 1) != 1) _exit(1);
    }
}

START_TEST(test_a_checkpoint_killed_at_any_moment_is_one_whole_version) {
    char path[32], tmp[64];
    temp_path(path);
    nb_optimizer *opt, *opt_b;
    nb_model *m = big_model(&opt), *b = big_model(&opt_b);
    nb_optimizer_state sb;
    ck_assert_int_eq(nb_optimizer_get_state(opt_b, NULL, &sb), NB_OK);
    ck_assert_int_eq(sb.n_tensors, 8); /* exp_avg and exp_avg_sq of 4 weights */
    unsigned seed = (unsigned)time(NULL);
    int interrupted = 0;
    for (int round = 0; round < KILL_ROUNDS; round++) {
        int ready[2];
        char byte;
        ck_assert_int_eq(pipe(ready), 0);
        pid_t child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) checkpoint_forever(path, m, opt, ready[1]);
        ck_assert_int_eq(read(ready[0], &byte, 1), 1);
        close(ready[0]);
        close(ready[1]);
        /* odd rounds: a moment anywhere in the loop; even rounds: a moment once the
         * child has begun writing a save (how much of the loop is saving depends on
         * the machine and the build, slower under the sanitizers) */
        struct timespec poll = {0, 100000}; /* 0.1 ms */
        for (int waited = 0; round % 2 == 0 &&
                             !nb_test_temp_file_of("/tmp", child, tmp, sizeof tmp) && waited < 2000;
             waited++)
            nanosleep(&poll, NULL);
        long ms = round % 2 ? 40 : 2;
        struct timespec nap = {0, (long)(rand_r(&seed) % (ms * 1000)) * 1000};
        nanosleep(&nap, NULL);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        if (nb_test_temp_file_of("/tmp", child, tmp,
                                 sizeof tmp)) { /* killed in the middle of a save */
            interrupted++;
            remove(tmp);
        }
        int epoch = 0;
        ck_assert_msg(nb_model_load_checkpoint(b, path, &epoch) == NB_OK, "round %d: %s", round,
                      nb_error());
        ck_assert_int_ge(epoch, 1);
        /* the load put new buffers in place: ask for them again */
        nb_optimizer_state_free(&sb);
        ck_assert_int_eq(nb_optimizer_get_state(opt_b, NULL, &sb), NB_OK);
        ck_assert_msg(all_values(b, &sb, (float)epoch, false),
                      "round %d: checkpoint %d mixes two versions", round, epoch);
    }
    /* many kills must land inside a save, or the test shows nothing */
    ck_assert_msg(interrupted >= KILL_ROUNDS / 5, "only %d of %d kills interrupted a save",
                  interrupted, KILL_ROUNDS);
    nb_optimizer_state_free(&sb);
    nb_model_free(m);
    nb_model_free(b);
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
    tc = nb_tcase("state");
    tcase_add_test(tc, test_checkpoint_restores_epoch_learning_rate_and_generator);
    tcase_add_test(tc, test_checkpoint_names_weights_and_optimizer_state);
    tcase_add_test(tc, test_optimizer_state_moves_between_optimizers);
    suite_add_tcase(s, tc);
    tc = nb_tcase("errors");
    tcase_add_test(tc, test_loading_into_another_optimizer_is_an_error_naming_both);
    tcase_add_test(tc, test_loading_into_another_architecture_names_the_weight);
    tcase_add_test(tc, test_a_truncated_checkpoint_is_an_error_and_changes_nothing);
    tcase_add_test(tc, test_misuse_is_an_error_not_a_crash);
    suite_add_tcase(s, tc);
    tc = nb_tcase("crash");
    tcase_add_test(tc, test_a_checkpoint_killed_at_any_moment_is_one_whole_version);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(checkpoint_suite());
}
