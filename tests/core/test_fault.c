/* Fault injection (built with -Dfault_injection=true): a small model is
 * made, trained two epochs and checkpointed while the N-th allocation, file
 * write or fsync fails, for every N the clean run reaches. Each run must end
 * in an error that the caller reads (never a crash, a leak under LSan or a
 * success that hid the failure), and the checkpoint's path must hold the old
 * file whole: a failed save leaves neither a half-written target nor a temp
 * file. Only a failed sync of the directory, after the rename, leaves the new
 * file (complete) in place, and says so.
 *
 * NB_FAULT_STRIDE=k tries every k-th N only (the default, 1, is the full
 * sweep), from NB_FAULT_FIRST (1); the counts of injection points tried go to
 * stdout. */
#include "nb_test.h"

#include "core/core_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define OLD "an old checkpoint, which a failed save must leave whole\n"

static const char *kind_name[NB_FAULT_KINDS] = {"allocation", "write", "fsync"};

/* NB_FAULT_STRIDE (1), NB_FAULT_FIRST (1): which calls a sweep fails */
static int64_t env_int(const char *name, int64_t dflt) {
    const char *s = getenv(name);
    long long v = s ? atoll(s) : dflt;
    return v >= 1 ? v : dflt;
}

typedef struct {
    char dir[64], path[96];
    unsigned char *clean; /* the checkpoint a clean run writes */
    size_t clean_len;
} place;

static unsigned char *read_all(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    unsigned char *b = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(read(fd, b, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return b;
}

static void write_old(const place *p) {
    int fd = open(p->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, OLD, strlen(OLD)), (ssize_t)strlen(OLD));
    close(fd);
}

/* the entries of p->dir other than the target */
static int strays(const place *p) {
    DIR *d = opendir(p->dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "ckpt")) n++;
    closedir(d);
    return n;
}

/* The runs under test: everything from the data to the saved checkpoint. The
 * first failing call's status; every return value is checked, as a careful
 * caller would (compile's NULL optimizer would quietly mean rmsprop).
 * Scenario 0: a 4-8-3 MLP, two traced epochs. Scenario 1 (NB_FAULT_SCENARIO=all):
 * a CNN with dropout, a validation split, one traced epoch then one eager. */
static int scenario;

static nb_status add(nb_model *m, nb_layer *l) {
    return l ? nb_model_add(m, l) : NB_ERR_MEMORY;
}

static nb_status train_and_save(const char *path) {
    enum { N = 24 };
    float xs[N * 36], ys[N];
    int per = scenario ? 36 : 4;
    for (int i = 0; i < N; i++) {
        ys[i] = (float)(i % 3);
        for (int j = 0; j < per; j++) xs[i * per + j] = (float)((i * 7 + j * 3) % 11) / 11 + ys[i];
    }
    nb_status s = NB_ERR_MEMORY;
    nb_history *h = NULL, *h2 = NULL;
    nb_tensor *x =
        scenario ? nb_from_array(xs, NB_SHAPE(N, 1, 6, 6)) : nb_from_array(xs, NB_SHAPE(N, 4));
    nb_tensor *y = nb_from_array(ys, NB_SHAPE(N));
    nb_model *m = !x || !y   ? NULL
                  : scenario ? nb_sequential(NB_SHAPE(1, 6, 6))
                             : nb_sequential(NB_SHAPE(4));
    if (!m) goto done;
    if (scenario) {
        if ((s = add(m, nb_conv2d_layer(4, 3, "relu"))) ||
            (s = add(m, nb_max_pool2d_layer(2, 0))) || (s = add(m, nb_flatten_layer())) ||
            (s = add(m, nb_dropout_layer(0.25f))) || (s = add(m, nb_dense(3, "softmax"))))
            goto done;
    } else if ((s = add(m, nb_dense(8, "relu"))) || (s = add(m, nb_dense(3, "softmax")))) {
        goto done;
    }
    s = NB_ERR_MEMORY;
    nb_optimizer *opt = nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false);
    if (!opt) goto done;
    s = nb_model_compile(m, "sparse_categorical_crossentropy", opt, (const char *[]){"accuracy"},
                         scenario);
    if (s != NB_OK) goto done;
    nb_fit_opts o = {.epochs = scenario ? 1 : 2,
                     .batch_size = 8,
                     .verbose = NB_SILENT,
                     .validation_split = scenario ? 0.25f : 0};
    if (!(h = nb_model_fit(m, x, y, &o))) goto fit_failed;
    if (scenario) {
        o.initial_epoch = 1;
        o.epochs = 2;
        o.eager = true;
        if (!(h2 = nb_model_fit(m, x, y, &o))) goto fit_failed;
    }
    s = nb_model_save_checkpoint(m, path, 2);
    goto done;
fit_failed:
    s = nb_error_code() ? nb_error_code() : NB_ERR_MEMORY;
done:
    if (s == NB_OK && !(x && y && m && h)) s = NB_ERR_MEMORY;
    nb_history_free(h);
    nb_history_free(h2);
    nb_model_free(m);
    return s;
}

static void fresh(void) {
    nb_shutdown();
    nb_set_num_threads(1);
    nb_manual_seed(42);
}

static void make_place(place *p) {
    snprintf(p->dir, sizeof p->dir, "/tmp/nabla_fault_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(p->dir));
    snprintf(p->path, sizeof p->path, "%s/ckpt", p->dir);
    fresh();
    ck_assert_msg(train_and_save(p->path) == NB_OK, "the clean run failed: %s", nb_error());
    p->clean = read_all(p->path, &p->clean_len);
    ck_assert_ptr_nonnull(p->clean);
}

static void remove_place(place *p) {
    unlink(p->path);
    rmdir(p->dir);
    free(p->clean);
}

/* the calls of kind a clean run makes */
static int64_t calls_of(const place *p, nb_fault_kind kind) {
    write_old(p);
    fresh();
    nb_fault_inject(kind, 0);
    ck_assert_msg(train_and_save(p->path) == NB_OK, "the clean run failed: %s", nb_error());
    int64_t n = nb_fault_calls(kind);
    size_t len;
    unsigned char *b = read_all(p->path, &len);
    ck_assert_msg(b && len == p->clean_len && !memcmp(b, p->clean, len),
                  "two clean runs wrote different checkpoints");
    free(b);
    return n;
}

/* one injected failure's run: NULL when it behaved, else what went wrong */
static const char *check_run(const place *p, nb_fault_kind kind, int64_t n, char *why,
                             size_t size) {
    write_old(p);
    fresh();
    nb_fault_inject(kind, n);
    nb_status s = train_and_save(p->path);
    bool fired = nb_fault_fired(kind);
    nb_fault_inject(kind, 0);
    size_t len = 0;
    unsigned char *b = read_all(p->path, &len);
    bool old = b && len == strlen(OLD) && !memcmp(b, OLD, len);
    bool synced_new = b && strstr(nb_error(), "could not be synced") && len == p->clean_len &&
                      !memcmp(b, p->clean, len);
    free(b);
    if (!fired)
        snprintf(why, size, "not reached");
    else if (s == NB_OK)
        snprintf(why, size, "the run succeeded");
    else if (!nb_error()[0])
        snprintf(why, size, "an error code without a message");
    else if (!old && !synced_new)
        snprintf(why, size, "the target holds %zu bytes, neither the old file nor the new (%s)",
                 len, nb_error());
    else if (strays(p))
        snprintf(why, size, "a temp file was left (%s)", nb_error());
    else
        return NULL;
    return why;
}

/* the count of injected failures that misbehaved */
static int64_t sweep(nb_fault_kind kind) {
    place p;
    make_place(&p);
    int64_t calls = calls_of(&p, kind), tried = 0, bad = 0, step = env_int("NB_FAULT_STRIDE", 1);
    ck_assert_int_gt(calls, 0);
    for (int64_t n = env_int("NB_FAULT_FIRST", 1); n <= calls; n += step, tried++) {
        char why[512];
        if (!check_run(&p, kind, n, why, sizeof why)) continue;
        if (bad++ < 20)
            fprintf(stderr, "%s %lld of %lld: %s\n", kind_name[kind], (long long)n,
                    (long long)calls, why);
    }
    printf("fault injection, scenario %d: %lld of %lld %s calls failed in turn, %lld misbehaved\n",
           scenario, (long long)tried, (long long)calls, kind_name[kind], (long long)bad);
    remove_place(&p);
    return bad;
}

/* each kind on scenario 0, and on scenario 1 too with NB_FAULT_SCENARIO=all */
static void sweeps(nb_fault_kind kind) {
    const char *all = getenv("NB_FAULT_SCENARIO");
    int last = all && !strcmp(all, "all") ? 1 : 0;
    int64_t bad = 0;
    for (scenario = 0; scenario <= last; scenario++) bad += sweep(kind);
    scenario = 0;
    ck_assert_msg(bad == 0, "%lld injected %s failures misbehaved", (long long)bad,
                  kind_name[kind]);
}

START_TEST(test_every_failed_allocation_while_training_and_saving_is_an_error) {
    sweeps(NB_FAULT_ALLOC);
}
END_TEST

START_TEST(test_every_failed_write_of_a_checkpoint_is_an_error_and_keeps_the_old_file) {
    sweeps(NB_FAULT_WRITE);
}
END_TEST

START_TEST(test_every_failed_fsync_of_a_checkpoint_is_an_error) {
    sweeps(NB_FAULT_SYNC);
}
END_TEST

/* The pools know only a byte count; the message names the op and its shape. */
START_TEST(test_an_allocation_failure_names_the_op_and_the_shape) {
    nb_tensor *a = nb_ones(NB_SHAPE(32, 784)), *b = nb_ones(NB_SHAPE(784, 100));
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    int storage = 0;        /* the failures of the result's data */
    for (int n = 1;; n++) { /* the primitive cache, the header, the data */
        nb_fault_inject(NB_FAULT_ALLOC, n);
        nb_tensor *c = nb_matmul(a, b);
        bool fired = nb_fault_fired(NB_FAULT_ALLOC);
        nb_fault_inject(NB_FAULT_ALLOC, 0);
        if (!fired) {
            ck_assert_ptr_nonnull(c);
            ck_assert_int_gt(n, 1);
            break;
        }
        ck_assert_ptr_null(c);
        ck_assert_int_eq(nb_error_code(), NB_ERR_MEMORY);
        NB_ASSERT_ERROR_HAS("nb_matmul");
        storage +=
            strstr(nb_error(),
                   "nb_matmul: out of memory allocating 12800 bytes for a [32, 100] tensor") !=
            NULL;
    }
    ck_assert_int_eq(storage, 1);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("fault");
    TCase *tc = nb_tcase("fault");
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, test_an_allocation_failure_names_the_op_and_the_shape);
    tcase_add_test(tc, test_every_failed_write_of_a_checkpoint_is_an_error_and_keeps_the_old_file);
    tcase_add_test(tc, test_every_failed_fsync_of_a_checkpoint_is_an_error);
    tcase_add_test(tc, test_every_failed_allocation_while_training_and_saving_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(suite());
}
