/* safetensors: round trips, files other tools read, malformed files with
 * their offsets, mismatches named, nothing lost when a save fails. */
#include "nb_test.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64], path[128];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/nabla_st_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
}

static void remove_dir(void) {
    remove(path);
    rmdir(dir);
}

static void write_bytes(const char *p, const void *bytes, size_t n) {
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

/* a file with the given JSON header and n data bytes of zeros */
static void write_file(const char *json, size_t data_bytes) {
    size_t hl = strlen(json);
    unsigned char *b = calloc(1, 8 + hl + data_bytes);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, json, hl);
    write_bytes(path, b, 8 + hl + data_bytes);
    free(b);
}

START_TEST(test_save_then_load_round_trips_with_metadata) {
    make_dir();
    nb_tensor *w = nb_randn(NB_SHAPE(3, 4)), *b = nb_arange(0, 4, 1), *s = nb_scalar(2.5f);
    const char *names[] = {"dense/kernel", "dense/bias", "step"};
    const char *keys[] = {"architecture"}, *values[] = {"dense 4 relu"};
    ck_assert_int_eq(nb_safetensors_save(path, names, (nb_tensor *[]){w, b, s}, 3, keys, values, 1),
                     NB_OK);
    nb_tensor *w2 = nb_zeros(NB_SHAPE(3, 4)), *b2 = nb_zeros(NB_SHAPE(4)), *s2 = nb_scalar(0);
    ck_assert_int_eq(nb_safetensors_load(path, names, (nb_tensor *[]){w2, b2, s2}, 3), NB_OK);
    for (int i = 0; i < 12; i++) ck_assert(nb_get_flat(w, i) == nb_get_flat(w2, i));
    NB_ASSERT_TENSOR(b2, ((float[]){0, 1, 2, 3}), 4, 0);
    NB_ASSERT_CLOSE(nb_item(s2), 2.5, 0);
    nb_safetensors *f = nb_safetensors_read(path);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(nb_safetensors_count(f), 3);
    ck_assert_str_eq(nb_safetensors_name(f, 1), "dense/bias");
    ck_assert_int_eq(nb_ndim(nb_safetensors_tensor(f, 2)), 0);
    ck_assert_str_eq(nb_safetensors_meta(f, "architecture"), "dense 4 relu");
    ck_assert_ptr_null(nb_safetensors_meta(f, "nothing"));
    nb_safetensors_free(f);
    /* no temporary file is left next to it */
    char tmp[256];
    ck_assert(!nb_test_temp_file_of(dir, getpid(), tmp, sizeof tmp));
    remove_dir();
}
END_TEST

START_TEST(test_python_reads_the_same_numbers_with_json_and_numpy) {
    if (access("/usr/bin/python3", X_OK) != 0) ck_abort_msg("needs /usr/bin/python3 with numpy");
    make_dir();
    nb_tensor *w = nb_from_array((float[]){1.5f, -2, 1e-8f, 3e7f, 0.1f, -0.25f}, NB_SHAPE(2, 3));
    const char *names[] = {"w"}, *keys[] = {"framework"}, *values[] = {"nabla"};
    ck_assert_int_eq(nb_safetensors_save(path, names, &w, 1, keys, values, 1), NB_OK);
    char cmd[512], out[1024] = "";
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/../read_safetensors.py %s", NB_TEST_DATA, path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_str_eq(out, "meta framework nabla\n"
                          "w F32 [2, 3]\n"
                          "1.5 -2 9.99999994e-09 30000000 0.100000001 -0.25\n");
    remove_dir();
}
END_TEST

typedef struct {
    const char *json;
    size_t data;
    const char *message;
} bad_file;

START_TEST(test_malformed_files_are_errors_with_offsets) {
    static const bad_file cases[] = {
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8,
         "byte 61: expected '}' or ','"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
         "tensor 'w' of shape [2] claims bytes 0..8 of a 4-byte data section"},
        {"{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
         "tensor 'w' has dtype 'F16'; nabla reads F32"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8,
         "claims bytes 0..4 of a 8-byte data section (needs 8 bytes)"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,"
         "4]}}",
         4, "has too many elements"},
        {"[1, 2]", 0, "byte 8: the header must be a JSON object"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,4]}}", 4,
         "expected a non-negative integer"},
        {"{\"w\" {}}", 0, "byte 13: expected ':'"},
        {"{\"w\":{\"dtype\":\"F32\",\"shap", 0, "unterminated string"},
        /* found by the fuzzer: a second 'w' of another size was copied into the first */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
         24, "byte 66: tensor 'w' appears twice"},
    };
    make_dir();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(cases[i].json, cases[i].data);
        nb_tensor *w = nb_zeros(NB_SHAPE(2));
        ck_assert_int_ne(nb_safetensors_load(path, (const char *[]){"w"}, &w, 1), NB_OK);
        NB_ASSERT_ERROR_HAS(cases[i].message);
        NB_ASSERT_ERROR_HAS(path);
        ck_assert_ptr_null(nb_safetensors_read(path));
    }
    /* a header length past the end of the file, and a file shorter than 8 bytes */
    write_bytes(path, "\xff\xff\xff\xff\x00\x00\x00\x00{}", 10);
    ck_assert_ptr_null(nb_safetensors_read(path));
    NB_ASSERT_ERROR_HAS("byte 0: header length 4294967295 does not fit in a file of 10 bytes");
    write_bytes(path, "abc", 3);
    ck_assert_ptr_null(nb_safetensors_read(path));
    NB_ASSERT_ERROR_HAS("byte 0: the file is shorter than the 8-byte header length");
    remove_dir();
}
END_TEST

START_TEST(test_mismatches_are_named_and_leave_tensors_untouched) {
    make_dir();
    nb_tensor *a = nb_ones(NB_SHAPE(2, 2)), *b = nb_ones(NB_SHAPE(3));
    ck_assert_int_eq(nb_safetensors_save(path, (const char *[]){"a", "b"}, (nb_tensor *[]){a, b}, 2,
                                         NULL, NULL, 0),
                     NB_OK);
    nb_tensor *a2 = nb_zeros(NB_SHAPE(2, 2)), *b2 = nb_zeros(NB_SHAPE(4));
    ck_assert_int_ne(
        nb_safetensors_load(path, (const char *[]){"a", "b"}, (nb_tensor *[]){a2, b2}, 2), NB_OK);
    NB_ASSERT_ERROR_HAS("tensor 'b' is [3] in the file but [4] here");
    NB_ASSERT_CLOSE(nb_get_flat(a2, 0), 0, 0); /* nothing copied */
    ck_assert_int_ne(nb_safetensors_load(path, (const char *[]){"c"}, &a2, 1), NB_OK);
    NB_ASSERT_ERROR_HAS("has no tensor 'c'");
    ck_assert_int_ne(
        nb_safetensors_load("/nonexistent/x.safetensors", (const char *[]){"a"}, &a2, 1), NB_OK);
    NB_ASSERT_ERROR_HAS("/nonexistent/x.safetensors: No such file or directory");
    ck_assert_int_ne(nb_safetensors_save(path, (const char *[]){"a", "a"}, (nb_tensor *[]){a, b}, 2,
                                         NULL, NULL, 0),
                     NB_OK);
    NB_ASSERT_ERROR_HAS("the name 'a' appears twice");
    ck_assert_int_ne(nb_safetensors_save("/nonexistent/dir/m.safetensors", (const char *[]){"a"},
                                         &a, 1, NULL, NULL, 0),
                     NB_OK);
    NB_ASSERT_ERROR_HAS(
        "nb_safetensors_save: cannot write /nonexistent/dir/m.safetensors: No such");
    /* the earlier file is intact after the failed saves */
    nb_tensor *a3 = nb_zeros(NB_SHAPE(2, 2));
    ck_assert_int_eq(nb_safetensors_load(path, (const char *[]){"a"}, &a3, 1), NB_OK);
    NB_ASSERT_CLOSE(nb_get_flat(a3, 3), 1, 0);
    remove_dir();
}
END_TEST

/* A child saves version 1, 2, 3, ... of a 16 MB model over the same file
 * until it is killed; the file must then hold one whole version. */
#define KILL_ROUNDS 100
#define KILL_ELEMS  (1 << 20)

/* writes one byte to ready after the first save, so kills land in later saves */
static void save_forever(const char *p, int ready) {
    const char *names[] = {"layer0", "layer1", "layer2", "layer3"};
    nb_tensor *t[4];
    for (int i = 0; i < 4; i++) t[i] = nb_empty(NB_SHAPE(KILL_ELEMS));
    for (int version = 1;; version++) {
        for (int i = 0; i < 4; i++) {
            float *d = nb_data(t[i]);
            for (int k = 0; k < KILL_ELEMS; k++) d[k] = (float)version;
        }
        nb_safetensors_save(p, names, t, 4, NULL, NULL, 0);
        if (version == 1 && write(ready, "x", 1) != 1) _exit(1);
    }
}

START_TEST(test_a_save_killed_at_any_moment_leaves_a_whole_file) {
    make_dir();
    nb_tensor *first = nb_zeros(NB_SHAPE(KILL_ELEMS));
    const char *names[] = {"layer0", "layer1", "layer2", "layer3"};
    nb_tensor *t[4];
    for (int i = 0; i < 4; i++) t[i] = nb_empty(NB_SHAPE(KILL_ELEMS));
    ck_assert_int_eq(nb_safetensors_save(path, names, (nb_tensor *[]){first, first, first, first},
                                         4, NULL, NULL, 0),
                     NB_OK);
    unsigned seed = (unsigned)time(NULL);
    int whole = 0, interrupted = 0;
    for (int round = 0; round < KILL_ROUNDS; round++) {
        int ready[2];
        char byte;
        ck_assert_int_eq(pipe(ready), 0);
        pid_t child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) save_forever(path, ready[1]);
        ck_assert_int_eq(read(ready[0], &byte, 1), 1);
        close(ready[0]);
        close(ready[1]);
        struct timespec nap = {0, (long)(rand_r(&seed) % 40000) * 1000}; /* 0-40 ms */
        nanosleep(&nap, NULL);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        char tmp[256];
        if (nb_test_temp_file_of(dir, child, tmp,
                                 sizeof tmp)) { /* killed in the middle of a save */
            interrupted++;
            remove(tmp);
        }
        ck_assert_msg(nb_safetensors_load(path, names, t, 4) == NB_OK, "round %d: %s", round,
                      nb_error());
        float v = nb_get_flat(t[0], 0);
        bool same = true;
        for (int i = 0; i < 4 && same; i++)
            same = nb_get_flat(t[i], 0) == v && nb_get_flat(t[i], KILL_ELEMS - 1) == v;
        ck_assert_msg(same, "round %d: the file mixes two versions", round);
        whole++;
    }
    ck_assert_int_eq(whole, KILL_ROUNDS);
    /* many kills must land inside a save (50-70 of 100 here), or the test shows nothing */
    ck_assert_msg(interrupted >= KILL_ROUNDS / 5, "only %d of %d kills interrupted a save",
                  interrupted, KILL_ROUNDS);
    remove_dir();
}
END_TEST

/* header length, header and data of a file with the given JSON header and
 * data_bytes of zeros, in a heap buffer (free() it) */
static unsigned char *file_bytes(const char *json, size_t data_bytes, size_t *size) {
    size_t hl = strlen(json);
    unsigned char *b = calloc(1, 8 + hl + data_bytes);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, json, hl);
    *size = 8 + hl + data_bytes;
    return b;
}

START_TEST(test_a_buffer_reads_like_the_file_it_came_from) {
    make_dir();
    nb_tensor *w = nb_from_array((float[]){1, -2, 3.5f, 4}, NB_SHAPE(2, 2));
    ck_assert_int_eq(nb_safetensors_save(path, (const char *[]){"w"}, &w, 1, (const char *[]){"k"},
                                         (const char *[]){"v"}, 1),
                     NB_OK);
    unsigned char bytes[512];
    FILE *f = fopen(path, "rb");
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    remove_dir();
    nb_safetensors *st = nb_safetensors_read_mem(bytes, n, "weights");
    ck_assert_msg(st != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_safetensors_count(st), 1);
    ck_assert_str_eq(nb_safetensors_name(st, 0), "w");
    ck_assert_str_eq(nb_safetensors_meta(st, "k"), "v");
    NB_ASSERT_TENSOR(nb_safetensors_tensor(st, 0), ((float[]){1, -2, 3.5f, 4}), 4, 0);
    nb_safetensors_free(st);
    nb_tensor *into = nb_zeros(NB_SHAPE(2, 2));
    ck_assert_int_eq(nb_safetensors_load_mem(bytes, n, "weights", (const char *[]){"w"}, &into, 1),
                     NB_OK);
    NB_ASSERT_TENSOR(into, ((float[]){1, -2, 3.5f, 4}), 4, 0);
    /* the same errors, naming the buffer */
    ck_assert_ptr_null(nb_safetensors_read_mem(bytes, n - 1, "weights"));
    NB_ASSERT_ERROR_HAS("nb_safetensors: weights: tensor 'w' of shape [2, 2] claims bytes 0..16 "
                        "of a 15-byte data section");
    ck_assert_ptr_null(nb_safetensors_read_mem(bytes, 5, NULL));
    NB_ASSERT_ERROR_HAS("nb_safetensors: (memory): byte 0: the file is shorter than the 8-byte "
                        "header length");
    ck_assert_ptr_null(nb_safetensors_read_mem(NULL, 16, NULL));
    ck_assert_int_eq(nb_error_code(), NB_ERR_NULL);
}
END_TEST

START_TEST(test_a_header_claiming_2_to_the_40_elements_allocates_nothing) {
    uint64_t before = nb_alloc_count();
    size_t n;
    /* 2^40 floats claimed, 4 bytes present */
    unsigned char *b = file_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[1048576,1048576],"
                                  "\"data_offsets\":[0,4398046511104]}}",
                                  4, &n);
    ck_assert_ptr_null(nb_safetensors_read_mem(b, n, "huge"));
    NB_ASSERT_ERROR_HAS("nb_safetensors: huge: tensor 'w' of shape [1048576, 1048576] claims bytes "
                        "0..4398046511104 of a 4-byte data section (needs 4398046511104 bytes)");
    free(b);
    /* Found by the IDX fuzzer, the same here: no elements, but strides that overflow */
    b = file_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[0,1099511627776,1099511627776],"
                   "\"data_offsets\":[0,0]}}",
                   0, &n);
    ck_assert_ptr_null(nb_safetensors_read_mem(b, n, "zero"));
    NB_ASSERT_ERROR_HAS("nb_safetensors: zero: tensor 'w': shape [0, 1099511627776, "
                        "1099511627776] has too many elements");
    free(b);
    /* a header length of 2^40 in a file of 16 bytes */
    unsigned char len[16] = {0, 0, 0, 0, 0, 1};
    ck_assert_ptr_null(nb_safetensors_read_mem(len, sizeof len, "len"));
    NB_ASSERT_ERROR_HAS("byte 0: header length 1099511627776 does not fit in a file of 16 bytes");
    ck_assert_int_eq(nb_alloc_count(), before);
}
END_TEST

/* The reader keeps 255 bytes of a name, key or value: the writer refuses more
 * rather than write a file that cannot be read back. */
START_TEST(test_names_longer_than_a_reader_keeps_are_refused) {
    make_dir();
    char longer[300];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    nb_tensor *w = nb_zeros(NB_SHAPE(2));
    ck_assert_int_ne(nb_safetensors_save(path, (const char *[]){longer}, &w, 1, NULL, NULL, 0),
                     NB_OK);
    NB_ASSERT_ERROR_HAS("nb_safetensors_save: tensor 0's name is longer than the 255 bytes");
    ck_assert_int_ne(nb_safetensors_save(path, (const char *[]){"w"}, &w, 1, (const char *[]){"k"},
                                         (const char *[]){longer}, 1),
                     NB_OK);
    NB_ASSERT_ERROR_HAS("nb_safetensors_save: metadata 0 is longer than the 255 bytes");
    longer[255] = '\0'; /* 255 bytes: written and read back */
    ck_assert_int_eq(nb_safetensors_save(path, (const char *[]){longer}, &w, 1, NULL, NULL, 0),
                     NB_OK);
    ck_assert_int_eq(nb_safetensors_load(path, (const char *[]){longer}, &w, 1), NB_OK);
    remove_dir();
}
END_TEST

static Suite *safetensors_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = nb_tcase("safetensors");
    tcase_add_test(tc, test_save_then_load_round_trips_with_metadata);
    tcase_add_test(tc, test_python_reads_the_same_numbers_with_json_and_numpy);
    tcase_add_test(tc, test_malformed_files_are_errors_with_offsets);
    tcase_add_test(tc, test_mismatches_are_named_and_leave_tensors_untouched);
    tcase_add_test(tc, test_a_save_killed_at_any_moment_leaves_a_whole_file);
    tcase_add_test(tc, test_a_buffer_reads_like_the_file_it_came_from);
    tcase_add_test(tc, test_a_header_claiming_2_to_the_40_elements_allocates_nothing);
    tcase_add_test(tc, test_names_longer_than_a_reader_keeps_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(safetensors_suite());
}
