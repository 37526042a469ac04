/* Files: every writer goes through one atomic path (a temp file created
 * exclusively under an unpredictable name, never through a planted link, never
 * over a FIFO, device or directory, gone after a failed save, short enough for
 * any valid name), stale temp files of dead runs are cleaned, and every reader
 * refuses a FIFO at once instead of blocking. */
#include "nb_test.h"
#include "nabla/plot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/nabla_files_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* rm -r of the test directory (one level of subdirectories is enough here) */
static void remove_dir(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

static int count_entries(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    return n;
}

static void write_text(const char *p, const char *text) {
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static bool file_is(const char *p, const char *text) {
    char buf[256] = "";
    FILE *f = fopen(p, "rb");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return !strcmp(buf, text);
}

/* ---- the writers ------------------------------------------------------------------------ */
static nb_model *small_model(void) {
    nb_model *m = nb_sequential_of(NB_SHAPE(2), (nb_layer *[]){nb_dense(1, NULL)}, 1);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(nb_model_compile(m, "mse", NULL, NULL, 0), NB_OK);
    return m;
}

static nb_history *fit_small(nb_model *m, const nb_callback *cbs, int n_cbs) {
    nb_tensor *x = nb_from_array((float[]){0, 1, 1, 0, 1, 1, 0, 0}, NB_SHAPE(4, 2));
    nb_tensor *y = nb_from_array((float[]){1, 1, 2, 0}, NB_SHAPE(4, 1));
    nb_fit_opts o = {.epochs = 2, .verbose = NB_SILENT, .callbacks = cbs, .n_callbacks = n_cbs};
    return nb_model_fit(m, x, y, &o);
}

static nb_status save_safetensors(const char *p) {
    nb_tensor *w = nb_arange(0, 64, 1);
    return nb_safetensors_save(p, (const char *[]){"w"}, &w, 1, NULL, NULL, 0);
}

static nb_status save_checkpoint(const char *p) {
    nb_model *m = small_model();
    nb_status s = nb_model_save_checkpoint(m, p, 1);
    nb_model_free(m);
    return s;
}

static nb_status save_npy(const char *p) {
    return nb_save_npy(nb_arange(0, 64, 1), p);
}

static nb_status save_history_csv(const char *p) {
    nb_model *m = small_model();
    nb_history *h = fit_small(m, NULL, 0);
    ck_assert_ptr_nonnull(h);
    nb_status s = nb_history_save_csv(h, p);
    nb_history_free(h);
    nb_model_free(m);
    return s;
}

/* the logger reports nothing itself: the file is what it did */
static nb_status save_csv_logger(const char *p) {
    nb_model *m = small_model();
    nb_callback cb = nb_csv_logger(p);
    nb_history *h = fit_small(m, &cb, 1);
    nb_callback_free(&cb);
    nb_history_free(h);
    nb_model_free(m);
    char head[8] = "";
    struct stat st;
    FILE *f = lstat(p, &st) == 0 && S_ISREG(st.st_mode) ? fopen(p, "rb") : NULL;
    if (f) {
        if (!fgets(head, sizeof head, f)) head[0] = '\0';
        fclose(f);
    }
    return !strncmp(head, "epoch,", 6) ? NB_OK : NB_ERR_IO;
}

static nb_status save_picture(const char *p) {
    nb_tensor *a = nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true);
    return nb_draw_save(nb_sum(nb_relu(a), NULL, 0, false), NULL, p);
}

static nb_status save_plot(const char *p) {
    nb_series s = {"loss", (double[]){3, 2, 1.5}, 3};
    return nb_plot_svg(p, "loss", "loss", &s, 1);
}

typedef struct {
    const char *name, *ext;
    nb_status (*save)(const char *path);
    bool reports_errors; /* the CSV logger's failures are warnings, not a status */
} writer;

static const writer writers[] = {
    {"nb_safetensors_save", ".safetensors", save_safetensors, true},
    {"nb_model_save_checkpoint", ".ckpt", save_checkpoint, true},
    {"nb_save_npy", ".npy", save_npy, true},
    {"nb_history_save_csv", ".csv", save_history_csv, true},
    {"nb_csv_logger", ".csv", save_csv_logger, false},
    {"nb_draw_save (DOT)", ".dot", save_picture, true},
    {"nb_draw_save (SVG)", ".svg", save_picture, true},
    {"nb_draw_save (PNG)", ".png", save_picture, true},
    {"nb_draw_save (PDF)", ".pdf", save_picture, true},
    {"nb_plot_svg", ".svg", save_plot, true},
};
#define N_WRITERS ((int)(sizeof writers / sizeof writers[0]))

static void target(char *p, size_t size, const writer *w) {
    snprintf(p, size, "%s/out%s", dir, w->ext);
}

/* Runs fn(arg) in a child; its exit status, or -1 when it did not end within
 * a second (it is then killed), so a call that blocks fails instead of hanging. */
static int run_within_a_second(int (*fn)(const void *), const void *arg) {
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) _exit(fn(arg));
    for (int ms = 0; ms < 1000; ms += 5) {
        int status;
        if (waitpid(child, &status, WNOHANG) == child)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
        struct timespec nap = {0, 5000000};
        nanosleep(&nap, NULL);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return -1;
}

/* ---- writing ---------------------------------------------------------------------------- */
START_TEST(test_a_save_does_not_follow_a_link_planted_at_the_old_temp_name) {
    const writer *w = &writers[_i];
    make_dir();
    char p[256], victim[256], link[300];
    target(p, sizeof p, w);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    write_text(victim, "precious");
    /* the names earlier versions used: PATH.tmp.PID */
    snprintf(link, sizeof link, "%s.tmp.%ld", p, (long)getpid());
    ck_assert_int_eq(symlink(victim, link), 0);
    ck_assert_msg(w->save(p) == NB_OK, "%s: %s", w->name, nb_error());
    ck_assert_msg(file_is(victim, "precious"), "%s wrote through the planted link", w->name);
    struct stat st;
    ck_assert_int_eq(lstat(p, &st), 0);
    ck_assert_msg(S_ISREG(st.st_mode) && st.st_size > 0, "%s: no file at %s", w->name, p);
    remove_dir();
}
END_TEST

START_TEST(test_a_symlink_at_the_target_is_replaced_by_a_new_file) {
    const writer *w = &writers[_i];
    make_dir();
    char p[256], victim[256];
    target(p, sizeof p, w);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    write_text(victim, "precious");
    ck_assert_int_eq(symlink(victim, p), 0);
    ck_assert_msg(w->save(p) == NB_OK, "%s: %s", w->name, nb_error());
    ck_assert_msg(file_is(victim, "precious"), "%s wrote through the link at the target", w->name);
    struct stat st;
    ck_assert_int_eq(lstat(p, &st), 0);
    ck_assert_msg(S_ISREG(st.st_mode), "%s: the link at the target is still there", w->name);
    remove_dir();
}
END_TEST

static const writer *child_writer;
static char child_path[512];

/* 0 when the save failed with an error naming the path */
static int save_expecting_refusal(const void *unused) {
    (void)unused;
    nb_status s = child_writer->save(child_path);
    if (s == NB_OK) return 2;
    if (child_writer->reports_errors && !strstr(nb_error(), child_path)) return 3;
    return 0;
}

START_TEST(test_a_save_refuses_a_fifo_a_device_or_a_directory_at_the_target) {
    child_writer = &writers[_i];
    make_dir();
    target(child_path, sizeof child_path, child_writer);
    ck_assert_int_eq(mkfifo(child_path, 0644), 0);
    int r = run_within_a_second(save_expecting_refusal, NULL);
    ck_assert_msg(r == 0, "%s over a FIFO: %s", child_writer->name,
                  r < 0 ? "did not return within a second" : "was not refused, naming the path");
    struct stat st;
    ck_assert_int_eq(lstat(child_path, &st), 0);
    ck_assert_msg(S_ISFIFO(st.st_mode), "%s replaced the FIFO", child_writer->name);
    ck_assert_int_eq(unlink(child_path), 0);
    ck_assert_int_eq(mkdir(child_path, 0755), 0);
    ck_assert_int_eq(run_within_a_second(save_expecting_refusal, NULL), 0);
    ck_assert_int_eq(rmdir(child_path), 0);
    /* a character device (the null device's numbers), where the test may make one */
    if (mknod(child_path, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        ck_assert_msg(run_within_a_second(save_expecting_refusal, NULL) == 0,
                      "%s over a device was not refused", child_writer->name);
        ck_assert_int_eq(lstat(child_path, &st), 0);
        ck_assert_msg(S_ISCHR(st.st_mode), "%s replaced the device node", child_writer->name);
    }
    ck_assert_int_eq(count_entries(), S_ISCHR(st.st_mode) ? 1 : 0); /* no temp file left */
    remove_dir();
}
END_TEST

/* 0 when the save failed: files may grow to 8 bytes only (writes past it fail with EFBIG) */
static int save_with_a_tiny_file_size_limit(const void *unused) {
    (void)unused;
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {8, 8};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) return 4;
    return child_writer->save(child_path) == NB_OK ? 2 : 0;
}

START_TEST(test_a_failed_save_leaves_the_old_file_whole_and_no_temp_file) {
    child_writer = &writers[_i];
    make_dir();
    target(child_path, sizeof child_path, child_writer);
    write_text(child_path, "the old file");
    int r = run_within_a_second(save_with_a_tiny_file_size_limit, NULL);
    ck_assert_msg(r == 0, "%s: the save did not fail (%d)", child_writer->name, r);
    ck_assert_msg(file_is(child_path, "the old file"), "%s destroyed the old file",
                  child_writer->name);
    ck_assert_msg(count_entries() == 1, "%s left a temp file", child_writer->name);
    remove_dir();
}
END_TEST

START_TEST(test_a_save_to_a_250_character_name_works) {
    const writer *w = &writers[_i];
    make_dir();
    char name[251], p[400];
    size_t ext = strlen(w->ext);
    memset(name, 'n', 250 - ext);
    memcpy(name + 250 - ext, w->ext, ext + 1);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ck_assert_msg(w->save(p) == NB_OK, "%s: %s", w->name, nb_error());
    ck_assert_int_eq(access(p, R_OK), 0);
    ck_assert_int_eq(count_entries(), 1);
    remove_dir();
}
END_TEST

START_TEST(test_a_save_creates_the_file_with_the_mode_a_plain_file_gets) {
    const writer *w = &writers[_i];
    make_dir();
    char p[256];
    target(p, sizeof p, w);
    const mode_t masks[] = {022, 027, 077}, want[] = {0644, 0640, 0600};
    for (int k = 0; k < 3; k++) {
        mode_t old = umask(masks[k]);
        nb_status s = w->save(p);
        umask(old);
        ck_assert_msg(s == NB_OK, "%s: %s", w->name, nb_error());
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_msg((st.st_mode & 0777) == want[k], "%s under umask %03o: mode %03o, not %03o",
                      w->name, (unsigned)masks[k], (unsigned)(st.st_mode & 0777),
                      (unsigned)want[k]);
    }
    remove_dir();
}
END_TEST

static void make_old_file(const char *name, bool old) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    write_text(p, "left by a killed run");
    if (!old) return;
    struct timespec two_hours_ago[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, p, two_hours_ago, AT_SYMLINK_NOFOLLOW), 0);
}

static bool exists(const char *name) {
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return lstat(p, &st) == 0;
}

START_TEST(test_a_save_removes_only_stale_temp_files_of_dead_processes) {
    const writer *w = &writers[_i];
    make_dir();
    pid_t dead = fork(); /* a process that has ended: its pid runs nothing */
    ck_assert_int_ge(dead, 0);
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char stale[64], fresh[64], alive[64], not_hex[64], too_long[64], other[64], subdir[600],
        link[600];
    snprintf(stale, sizeof stale, ".nb-%ld-0123456789ab", (long)dead);
    snprintf(fresh, sizeof fresh, ".nb-%ld-0123456789ac", (long)dead);
    snprintf(alive, sizeof alive, ".nb-%ld-0123456789ad", (long)getpid());
    snprintf(not_hex, sizeof not_hex, ".nb-%ld-0123456789ag", (long)dead);
    snprintf(too_long, sizeof too_long, ".nb-%ld-0123456789abc", (long)dead);
    snprintf(other, sizeof other, "out.tmp.%ld", (long)dead);
    make_old_file(stale, true);
    make_old_file(fresh, false);
    make_old_file(alive, true);
    make_old_file(not_hex, true);
    make_old_file(too_long, true);
    make_old_file(other, true);
    snprintf(subdir, sizeof subdir, "%s/.nb-%ld-0123456789ae", dir, (long)dead);
    ck_assert_int_eq(mkdir(subdir, 0755), 0);
    snprintf(link, sizeof link, "%s/.nb-%ld-0123456789af", dir, (long)dead);
    ck_assert_int_eq(symlink("/nonexistent", link), 0);
    char p[256];
    target(p, sizeof p, w);
    ck_assert_msg(w->save(p) == NB_OK, "%s: %s", w->name, nb_error());
    ck_assert_msg(!exists(stale), "%s left the stale temp file of a dead run", w->name);
    ck_assert_msg(exists(fresh) && exists(alive) && exists(not_hex) && exists(too_long) &&
                      exists(other),
                  "%s removed a file it must not", w->name);
    ck_assert_msg(access(subdir, F_OK) == 0, "the directory went");
    struct stat st;
    ck_assert_msg(lstat(link, &st) == 0, "the symlink went");
    ck_assert_int_eq(count_entries(), 8); /* the 7 kept and the new file */
    remove_dir();
}
END_TEST

/* ---- reading ---------------------------------------------------------------------------- */
static nb_status read_safetensors(const char *p) {
    return nb_safetensors_read(p) ? NB_OK : nb_error_code();
}

static nb_status load_safetensors(const char *p) {
    nb_tensor *w = nb_zeros(NB_SHAPE(2));
    return nb_safetensors_load(p, (const char *[]){"w"}, &w, 1);
}

static nb_status read_idx(const char *p) {
    return nb_load_idx(p, true) ? NB_OK : nb_error_code();
}

static nb_status read_csv(const char *p) {
    nb_dataset d;
    return nb_load_csv(p, NULL, &d);
}

static nb_status read_npy(const char *p) {
    return nb_load_npy(p) ? NB_OK : nb_error_code();
}

typedef struct {
    const char *name;
    nb_status (*read)(const char *path);
} reader;

static const reader readers[] = {
    {"nb_safetensors_read", read_safetensors},
    {"nb_safetensors_load", load_safetensors},
    {"nb_load_idx", read_idx},
    {"nb_load_csv", read_csv},
    {"nb_load_npy", read_npy},
};

static int read_expecting_refusal(const void *arg) {
    const reader *r = arg;
    if (r->read(child_path) == NB_OK) return 2;
    return strstr(nb_error(), child_path) && strstr(nb_error(), "not a regular file") ? 0 : 3;
}

START_TEST(test_a_reader_refuses_a_fifo_within_a_second) {
    const reader *r = &readers[_i];
    make_dir();
    snprintf(child_path, sizeof child_path, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(child_path, 0644), 0);
    int got = run_within_a_second(read_expecting_refusal, r);
    ck_assert_msg(got == 0, "%s on a FIFO: %s", r->name,
                  got < 0 ? "still blocked after a second"
                          : "no error naming the file as not a regular file");
    remove_dir();
}
END_TEST

/* bytes this process has read through read(2) and pread(2) so far */
static long long bytes_read(void) {
    FILE *f = fopen("/proc/self/io", "r");
    long long n = -1;
    if (f && fscanf(f, "rchar: %lld", &n) != 1) n = -1;
    if (f) fclose(f);
    return n;
}

/* {"a": 1 float at 0, "big": n floats after it}, the big data a hole (a sparse file) */
static void write_big_file(const char *p, long long big, long long tail) {
    char json[256];
    int hl = snprintf(json, sizeof json,
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"big\":{\"dtype\":\"F32\",\"shape\":[%lld],\"data_offsets\":[4,%lld]}}",
                      big, 4 + 4 * big);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    float a = 2.5f;
    fwrite(len, 1, 8, f);
    fwrite(json, 1, (size_t)hl, f);
    fwrite(&a, 1, 4, f);
    fclose(f);
    ck_assert_int_eq(truncate(p, 8 + hl + 4 + 4 * big + tail), 0);
}

START_TEST(test_a_load_reads_only_the_tensors_it_is_asked_for) {
    if (bytes_read() < 0) ck_abort_msg("needs /proc/self/io");
    make_dir();
    char p[256];
    snprintf(p, sizeof p, "%s/big.safetensors", dir);
    write_big_file(p, 64ll << 20, 0); /* 256 MB of data */
    nb_tensor *a = nb_zeros(NB_SHAPE(1));
    long long before = bytes_read();
    ck_assert_msg(nb_safetensors_load(p, (const char *[]){"a"}, &a, 1) == NB_OK, "%s", nb_error());
    long long read = bytes_read() - before;
    NB_ASSERT_CLOSE(nb_item(a), 2.5, 0);
    ck_assert_msg(read < (1 << 20), "loading one float read %lld bytes", read);
    remove_dir();
}
END_TEST

START_TEST(test_a_trailing_tail_after_the_data_is_an_error_found_without_reading_it) {
    if (bytes_read() < 0) ck_abort_msg("needs /proc/self/io");
    make_dir();
    char p[256];
    snprintf(p, sizeof p, "%s/tail.safetensors", dir);
    write_big_file(p, 1, 256ll << 20); /* 256 MB after the last tensor */
    nb_tensor *a = nb_zeros(NB_SHAPE(1));
    long long before = bytes_read();
    ck_assert_int_ne(nb_safetensors_load(p, (const char *[]){"a"}, &a, 1), NB_OK);
    NB_ASSERT_ERROR_HAS(p);
    NB_ASSERT_ERROR_HAS("268435456 bytes after the end of the last tensor's data");
    ck_assert_ptr_null(nb_safetensors_read(p));
    long long read = bytes_read() - before;
    ck_assert_msg(read < (1 << 20), "finding the tail read %lld bytes", read);
    NB_ASSERT_CLOSE(nb_item(a), 0, 0);
    /* the same bytes in memory are refused the same way */
    unsigned char *bytes = calloc(1, 4096);
    FILE *f = fopen(p, "rb");
    size_t n = fread(bytes, 1, 4096, f);
    fclose(f);
    ck_assert_ptr_null(nb_safetensors_read_mem(bytes, n, "tail"));
    NB_ASSERT_ERROR_HAS("after the end of the last tensor's data");
    free(bytes);
    remove_dir();
}
END_TEST

int main(void) {
    Suite *s = suite_create("files");
    TCase *tc = nb_tcase("writers");
    tcase_add_loop_test(tc, test_a_save_does_not_follow_a_link_planted_at_the_old_temp_name, 0,
                        N_WRITERS);
    tcase_add_loop_test(tc, test_a_symlink_at_the_target_is_replaced_by_a_new_file, 0, N_WRITERS);
    tcase_add_loop_test(tc, test_a_save_refuses_a_fifo_a_device_or_a_directory_at_the_target, 0,
                        N_WRITERS);
    tcase_add_loop_test(tc, test_a_failed_save_leaves_the_old_file_whole_and_no_temp_file, 0,
                        N_WRITERS);
    tcase_add_loop_test(tc, test_a_save_to_a_250_character_name_works, 0, N_WRITERS);
    tcase_add_loop_test(tc, test_a_save_creates_the_file_with_the_mode_a_plain_file_gets, 0,
                        N_WRITERS);
    tcase_add_loop_test(tc, test_a_save_removes_only_stale_temp_files_of_dead_processes, 0,
                        N_WRITERS);
    suite_add_tcase(s, tc);
    TCase *tr = nb_tcase("readers");
    tcase_add_loop_test(tr, test_a_reader_refuses_a_fifo_within_a_second, 0,
                        (int)(sizeof readers / sizeof readers[0]));
    tcase_add_test(tr, test_a_load_reads_only_the_tensors_it_is_asked_for);
    tcase_add_test(tr, test_a_trailing_tail_after_the_data_is_an_error_found_without_reading_it);
    suite_add_tcase(s, tr);
    return nb_test_run(s);
}
