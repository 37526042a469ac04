/* Data layer: IDX, CSV and NPY readers (well-formed and malformed files),
 * named datasets from the Debian packages and the embedded copies, and the
 * utilities that prepare data for training (shuffles, splits, folds,
 * scaling, one-hot labels).
 *
 * Fixtures live in tests/data/ (made by tests/data/make_data_fixtures.py);
 * NPY files are written byte by byte by the tests themselves. Tests of the
 * named datasets need python3-sklearn and dataset-fashion-mnist (installed by
 * tools/quickstart.sh) and say so when they are missing. */
#include "nb_test.h"

#include <stdio.h>
#include <unistd.h>
#include <zlib.h>

#ifndef NB_TEST_DATA
#define NB_TEST_DATA "tests/data"
#endif

#define SKLEARN_DATA "/usr/lib/python3/dist-packages/sklearn/datasets/data"
#define FASHION_DATA "/usr/share/datasets/fashion-mnist"

/* ---- helpers ------------------------------------------------------------------------ */
static const char *fixture(const char *name) {
    static char ring[4][1024];
    static int next;
    char *p = ring[next++ % 4];
    snprintf(p, sizeof ring[0], "%s/%s", NB_TEST_DATA, name);
    return p;
}

/* fail (not skip) with the package to install when a packaged file is missing */
static void require(const char *dir, const char *file, const char *package) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    ck_assert_msg(access(path, R_OK) == 0,
                  "%s is missing: install Debian's %s (apt-get install %s; tools/quickstart.sh "
                  "installs it)",
                  path, package, package);
}

static void require_sklearn(const char *file) {
    require(SKLEARN_DATA, file, "python3-sklearn");
}

static void require_fashion(void) {
    require(FASHION_DATA, "train-images-idx3-ubyte.gz", "dataset-fashion-mnist");
    require(FASHION_DATA, "train-labels-idx1-ubyte.gz", "dataset-fashion-mnist");
    require(FASHION_DATA, "t10k-images-idx3-ubyte.gz", "dataset-fashion-mnist");
    require(FASHION_DATA, "t10k-labels-idx1-ubyte.gz", "dataset-fashion-mnist");
}

/* Tests that point the loaders elsewhere undo it, also when they fail (with
 * CK_FORK=no every test shares one process). */
static void restore_data_dirs(void) {
    unsetenv("NABLA_SKLEARN_DATA");
    unsetenv("NABLA_FASHION_MNIST");
}

/* the exact last error */
#define ASSERT_ERROR_IS(want)                                                                      \
    ck_assert_msg(strcmp(nb_error(), (want)) == 0, "error \"%s\"\n   expected \"%s\"", nb_error(), \
                  (want))

static void assert_shape(const nb_tensor *t, const int64_t *want, int ndim) {
    ck_assert_msg(t != NULL, "tensor is NULL: %s", nb_error());
    ck_assert_int_eq(nb_ndim(t), ndim);
    for (int i = 0; i < ndim; i++) ck_assert_int_eq(nb_shape(t)[i], want[i]);
}
#define ASSERT_SHAPE(t, ...) assert_shape((t), NB_SHAPE(__VA_ARGS__))

static float at2(const nb_tensor *t, int64_t i, int64_t j) {
    return nb_get(t, (int64_t[]){i, j});
}

/* a scratch file for this (forked) test */
static const char *tmp_path(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "/tmp/nabla_test_data_%d_%s", (int)getpid(), name);
    return path;
}

static const char *write_bytes(const char *name, const void *bytes, size_t n) {
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_int_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
    return path;
}

/* an .npy file: magic, version 1.0, the header text padded to 64 bytes, then data */
static const char *write_npy(const char *name, const char *dict, const void *data, size_t n) {
    unsigned char buf[4096];
    size_t len = strlen(dict), total = (10 + len + 1 + 63) / 64 * 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)((total - 10) & 0xff);
    buf[9] = (unsigned char)((total - 10) >> 8);
    memcpy(buf + 10, dict, len);
    memset(buf + 10 + len, ' ', total - 10 - len);
    buf[total - 1] = '\n';
    memcpy(buf + total, data, n);
    return write_bytes(name, buf, total + n);
}

/* ============================ IDX ==================================================== */
START_TEST(test_idx_reads_plain_images_as_float_tensor) {
    nb_tensor *t = nb_load_idx(fixture("idx_images_2x3x4.idx"), false);
    ASSERT_SHAPE(t, 2, 3, 4);
    for (int i = 0; i < 24; i++) NB_ASSERT_CLOSE(nb_get_flat(t, i), (10 * i) % 256, 0);
}
END_TEST

START_TEST(test_idx_reads_gzip_like_plain) {
    nb_tensor *plain = nb_load_idx(fixture("idx_images_2x3x4.idx"), false);
    nb_tensor *packed = nb_load_idx(fixture("idx_images_2x3x4.idx.gz"), false);
    ASSERT_SHAPE(packed, 2, 3, 4);
    for (int i = 0; i < 24; i++) ck_assert_float_eq(nb_get_flat(packed, i), nb_get_flat(plain, i));
}
END_TEST

START_TEST(test_idx_scale_divides_by_255) {
    nb_tensor *t = nb_load_idx(fixture("idx_images_2x3x4.idx.gz"), true);
    ASSERT_SHAPE(t, 2, 3, 4);
    ck_assert_float_eq(nb_get_flat(t, 0), 0.0f);
    ck_assert_float_eq(nb_get_flat(t, 23), 230.0f / 255.0f);
}
END_TEST

START_TEST(test_idx_reads_labels_shorts_and_floats) {
    float labels[] = {3, 1, 4, 1, 5}, shorts[] = {-2, 300, -32768, 7},
          floats[] = {1.5f, -2.25f, 1e-3f};
    nb_tensor *l = nb_load_idx(fixture("idx_labels_5.idx"), false);
    ASSERT_SHAPE(l, 5);
    NB_ASSERT_TENSOR(l, labels, 5, 0);
    nb_tensor *s = nb_load_idx(fixture("idx_short_2x2.idx"), false);
    ASSERT_SHAPE(s, 2, 2);
    NB_ASSERT_TENSOR(s, shorts, 4, 0);
    nb_tensor *f = nb_load_idx(fixture("idx_float_3.idx"), false);
    NB_ASSERT_TENSOR(f, floats, 3, 0);
}
END_TEST

START_TEST(test_idx_bad_magic_is_an_error_at_byte_0) {
    ck_assert_ptr_null(nb_load_idx(fixture("idx_bad_magic.idx"), false));
    ck_assert_int_eq(nb_error_code(), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("idx_bad_magic.idx: byte 0: bad magic number 0x12340803");
}
END_TEST

START_TEST(test_idx_truncated_header_names_the_offset) {
    ck_assert_ptr_null(nb_load_idx(fixture("idx_truncated_header.idx"), false));
    NB_ASSERT_ERROR_HAS("idx_truncated_header.idx: byte 10: the header has 3 dimensions");
    NB_ASSERT_ERROR_HAS("file ends after 10 bytes");
}
END_TEST

START_TEST(test_idx_truncated_data_names_file_offset_and_sizes) {
    const char *path = fixture("idx_truncated_data.idx");
    ck_assert_ptr_null(nb_load_idx(path, false));
    char want[1024];
    snprintf(want, sizeof want,
             "nb_load_idx: %s: byte 16: header says 60000 images of 28x28 (47040000 bytes of "
             "ubyte) but the file ends after 1024 bytes",
             path);
    ASSERT_ERROR_IS(want);
}
END_TEST

START_TEST(test_idx_truncated_data_inside_gzip) {
    ck_assert_ptr_null(nb_load_idx(fixture("idx_truncated_data.idx.gz"), false));
    NB_ASSERT_ERROR_HAS("idx_truncated_data.idx.gz: byte 8: header says 5 labels (5 bytes of "
                        "ubyte) but the data ends after 3 bytes");
}
END_TEST

START_TEST(test_idx_absurd_dims_fail_before_any_allocation) {
    uint64_t before = nb_alloc_count();
    ck_assert_ptr_null(nb_load_idx(fixture("idx_absurd_dims.idx"), false));
    NB_ASSERT_ERROR_HAS("byte 16: header says 1048576 images of 1048576x1 (1099511627776 bytes "
                        "of ubyte) but the file ends after 24 bytes");
    ck_assert_ptr_null(nb_load_idx(fixture("idx_absurd_dims.idx.gz"), false));
    NB_ASSERT_ERROR_HAS("but a gzip file of 35 bytes cannot hold that much");
    ck_assert_int_eq(nb_alloc_count(), before);
}
END_TEST

START_TEST(test_idx_extra_bytes_after_the_data_are_an_error) {
    ck_assert_ptr_null(nb_load_idx(fixture("idx_extra_bytes.idx"), false));
    NB_ASSERT_ERROR_HAS("byte 11: 2 bytes follow the data of 3 labels");
}
END_TEST

START_TEST(test_idx_cut_gzip_stream_is_an_error) {
    ck_assert_ptr_null(nb_load_idx(fixture("idx_cut.idx.gz"), false));
    ck_assert_int_eq(nb_error_code(), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("the gzip data is corrupt or cut short");
}
END_TEST

START_TEST(test_idx_missing_file_is_an_io_error) {
    ck_assert_ptr_null(nb_load_idx(fixture("no_such_file.idx"), false));
    ck_assert_int_eq(nb_error_code(), NB_ERR_IO);
    NB_ASSERT_ERROR_HAS("no_such_file.idx: cannot open: No such file or directory");
    ck_assert_ptr_null(nb_load_idx(NB_TEST_DATA, false));
    NB_ASSERT_ERROR_HAS("not a regular file");
    ck_assert_ptr_null(nb_load_idx(NULL, false));
    ck_assert_int_eq(nb_error_code(), NB_ERR_NULL);
}
END_TEST

/* ============================ Fashion-MNIST ========================================== */
START_TEST(test_fashion_mnist_train_file_has_known_labels_and_pixels) {
    require_fashion();
    nb_tensor *y = nb_load_idx(FASHION_DATA "/train-labels-idx1-ubyte.gz", false);
    ASSERT_SHAPE(y, 60000);
    float first[] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    NB_ASSERT_TENSOR(nb_take_rows(y, (int64_t[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10), first, 10, 0);
    nb_tensor *x = nb_load_idx(FASHION_DATA "/train-images-idx3-ubyte.gz", false);
    ASSERT_SHAPE(x, 60000, 28, 28);
    /* image 0, row 10, columns 12..16 */
    float row10[] = {0, 193, 228, 218, 213};
    for (int j = 0; j < 5; j++) ck_assert_float_eq(nb_get(x, (int64_t[]){0, 10, 12 + j}), row10[j]);
    double sum = 0;
    for (int64_t i = 0; i < 784; i++) sum += nb_get_flat(x, i);
    ck_assert_double_eq(sum, 76247.0);
}
END_TEST

START_TEST(test_fashion_mnist_named_sets_are_scaled_with_class_names) {
    require_fashion();
    nb_dataset train, test;
    ck_assert_msg(nb_dataset_load("fashion-mnist", &train) == NB_OK, "%s", nb_error());
    ASSERT_SHAPE(train.x, 60000, 28, 28);
    ASSERT_SHAPE(train.y, 60000);
    ck_assert_int_eq(train.n_classes, 10);
    ck_assert_int_eq(train.n_features, 784);
    ck_assert_str_eq(train.class_names[9], "Ankle boot");
    ck_assert_float_eq(nb_get(train.x, (int64_t[]){0, 10, 13}), 193.0f / 255.0f);
    ck_assert_float_eq(nb_get_flat(train.y, 0), 9);
    ck_assert_msg(nb_dataset_load("fashion_mnist_test", &test) == NB_OK, "%s", nb_error());
    ASSERT_SHAPE(test.x, 10000, 28, 28);
    float first[] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    for (int i = 0; i < 10; i++) ck_assert_float_eq(nb_get_flat(test.y, i), first[i]);
    double sum = 0;
    for (int64_t i = 0; i < 784; i++) sum += nb_get_flat(test.x, i) * 255.0;
    NB_ASSERT_CLOSE(sum, 33456.0, 1e-6);
    nb_dataset_free(&train);
    nb_dataset_free(&test);
}
END_TEST

/* ============================ CSV ==================================================== */
START_TEST(test_csv_with_header_gives_feature_names_and_numeric_labels) {
    nb_dataset ds;
    nb_csv_opts o = {.header = true};
    ck_assert_msg(nb_load_csv(fixture("csv_header.csv"), &o, &ds) == NB_OK, "%s", nb_error());
    float x[] = {1, 2, 3, 4.5f, -5, 600}, y[] = {0, 1};
    ASSERT_SHAPE(ds.x, 2, 3);
    NB_ASSERT_TENSOR(ds.x, x, 6, 0);
    NB_ASSERT_TENSOR(ds.y, y, 2, 0);
    ck_assert_int_eq(ds.n_classes, 0); /* numbers stay numbers */
    ck_assert_ptr_null(ds.class_names);
    ck_assert_int_eq(ds.n_features, 3);
    ck_assert_str_eq(ds.feature_names[0], "a");
    ck_assert_str_eq(ds.feature_names[2], "c");
    nb_dataset_free(&ds);
}
END_TEST

START_TEST(test_csv_without_header_uses_last_column_as_label) {
    nb_dataset ds;
    ck_assert_int_eq(nb_load_csv(fixture("csv_no_header.csv"), NULL, &ds), NB_OK);
    float x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[] = {0, 1, 2};
    ASSERT_SHAPE(ds.x, 3, 3);
    NB_ASSERT_TENSOR(ds.x, x, 9, 0);
    NB_ASSERT_TENSOR(ds.y, y, 3, 0);
    ck_assert_ptr_null(ds.feature_names);
    nb_dataset_free(&ds);

    nb_csv_opts none = {.label_column = -1, .max_rows = 2};
    ck_assert_int_eq(nb_load_csv(fixture("csv_no_header.csv"), &none, &ds), NB_OK);
    ASSERT_SHAPE(ds.x, 2, 4);
    ck_assert_ptr_null(ds.y);
    nb_dataset_free(&ds);
}
END_TEST

START_TEST(test_csv_string_labels_are_encoded_in_order_of_first_appearance) {
    nb_dataset ds;
    ck_assert_int_eq(nb_load_csv(fixture("csv_string_labels.csv"), NULL, &ds), NB_OK);
    float y[] = {0, 1, 0, 2};
    NB_ASSERT_TENSOR(ds.y, y, 4, 0);
    ck_assert_int_eq(ds.n_classes, 3);
    ck_assert_str_eq(ds.class_names[0], "setosa");
    ck_assert_str_eq(ds.class_names[1], "versicolor");
    ck_assert_str_eq(ds.class_names[2], "virginica");
    ASSERT_SHAPE(ds.x, 4, 2);
    NB_ASSERT_CLOSE(at2(ds.x, 3, 0), 6.3, 1e-7);
    nb_dataset_free(&ds);

    /* encoding numbers as names: "0", "1", "2" become classes too */
    nb_csv_opts enc = {.labels = NB_LABELS_ENCODE};
    ck_assert_int_eq(nb_load_csv(fixture("csv_no_header.csv"), &enc, &ds), NB_OK);
    ck_assert_int_eq(ds.n_classes, 3);
    ck_assert_str_eq(ds.class_names[2], "2");
    nb_dataset_free(&ds);
}
END_TEST

START_TEST(test_csv_quotes_delimiter_label_column_and_skipped_columns) {
    nb_dataset ds;
    nb_csv_opts o = {.delimiter = ';',
                     .header = true,
                     .label_column = 2,
                     .skip_columns = (const int[]){1},
                     .n_skip_columns = 1};
    ck_assert_msg(nb_load_csv(fixture("csv_quoted.csv"), &o, &ds) == NB_OK, "%s", nb_error());
    float x[] = {1.5f, 2, 3.25f, 4, 5, 6}, y[] = {0, 1, 0};
    ASSERT_SHAPE(ds.x, 3, 2);
    NB_ASSERT_TENSOR(ds.x, x, 6, 0);
    NB_ASSERT_TENSOR(ds.y, y, 3, 0);
    ck_assert_str_eq(ds.class_names[0], "Iris \"setosa\"");
    ck_assert_str_eq(ds.feature_names[0], "x1");
    ck_assert_str_eq(ds.feature_names[1], "x2");
    nb_dataset_free(&ds);
}
END_TEST

START_TEST(test_csv_space_delimiter_takes_runs_of_blanks) {
    nb_dataset ds;
    nb_csv_opts o = {.delimiter = ' ', .label_column = -1};
    ck_assert_msg(nb_load_csv(fixture("csv_spaces.txt"), &o, &ds) == NB_OK, "%s", nb_error());
    float x[] = {1, 2, 3, 4, 5, 6};
    ASSERT_SHAPE(ds.x, 2, 3);
    NB_ASSERT_TENSOR(ds.x, x, 6, 0);
    nb_dataset_free(&ds);
}
END_TEST

START_TEST(test_csv_non_numeric_cell_names_line_column_and_offset) {
    nb_dataset ds;
    const char *path = fixture("csv_bad_cell.csv");
    ck_assert_int_eq(nb_load_csv(path, NULL, &ds), NB_ERR_FORMAT);
    char want[1024];
    snprintf(want, sizeof want,
             "nb_load_csv: %s: byte 8: line 2, column 2: \"abc\" is not a number", path);
    ASSERT_ERROR_IS(want);
    ck_assert_ptr_null(ds.x); /* nothing is returned on failure */
}
END_TEST

START_TEST(test_csv_malformed_rows_are_errors) {
    nb_dataset ds;
    ck_assert_int_eq(nb_load_csv(fixture("csv_ragged.csv"), NULL, &ds), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("csv_ragged.csv: byte 12: line 3: 2 cells, expected 3 as on line 1");
    ck_assert_int_eq(nb_load_csv(fixture("csv_empty_cell.csv"), NULL, &ds), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("byte 8: line 2, column 2: empty cell, expected a number");
    ck_assert_int_eq(nb_load_csv(fixture("csv_open_quote.csv"), NULL, &ds), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("byte 8: line 2: the quote opened here is not closed on this line");
    nb_csv_opts h = {.header = true};
    ck_assert_int_eq(nb_load_csv(fixture("csv_header_only.csv"), &h, &ds), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("byte 6: the file has no data rows");
    nb_csv_opts numeric = {.labels = NB_LABELS_NUMERIC};
    ck_assert_int_eq(nb_load_csv(fixture("csv_string_labels.csv"), &numeric, &ds), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("byte 8: line 1, column 3: \"setosa\" is not a number");
    nb_csv_opts far = {.label_column = 9};
    ck_assert_int_eq(nb_load_csv(fixture("csv_no_header.csv"), &far, &ds), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("label_column 9 but the rows have 4 cells");
}
END_TEST

/* ============================ NPY ==================================================== */
START_TEST(test_npy_reads_little_endian_f4_in_c_order) {
    float data[] = {1, 2, 3, -4, 5.5f, 1e-7f}; /* x86 is little-endian, as '<f4' */
    const char *p = write_npy(
        "a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data, sizeof data);
    nb_tensor *t = nb_load_npy(p);
    ASSERT_SHAPE(t, 2, 3);
    NB_ASSERT_TENSOR(t, data, 6, 0);
    unlink(p);
}
END_TEST

START_TEST(test_npy_reads_f8_i4_i8_u1_and_big_endian) {
    double d[] = {0.5, -1e10, 3};
    int32_t i4[] = {-7, 2147483647};
    int64_t i8[] = {-3, 1LL << 40};
    uint8_t u1[] = {0, 255, 17};
    unsigned char be[] = {0xff, 0xfe, 0x01, 0x00}; /* >i2: -2, 256 */
    const char *p = write_npy("d.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                              d, sizeof d);
    float fd[] = {0.5f, -1e10f, 3};
    NB_ASSERT_TENSOR(nb_load_npy(p), fd, 3, 0);
    unlink(p);
    p = write_npy("i4.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", i4,
                  sizeof i4);
    float fi4[] = {-7, 2147483647.0f};
    NB_ASSERT_TENSOR(nb_load_npy(p), fi4, 2, 0);
    unlink(p);
    p = write_npy("i8.npy", "{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (2,)}", i8,
                  sizeof i8);
    float fi8[] = {-3, 1099511627776.0f};
    NB_ASSERT_TENSOR(nb_load_npy(p), fi8, 2, 0);
    unlink(p);
    p = write_npy("u1.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 3), }", u1,
                  sizeof u1);
    float fu1[] = {0, 255, 17};
    NB_ASSERT_TENSOR(nb_load_npy(p), fu1, 3, 0);
    unlink(p);
    p = write_npy("be.npy", "{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", be,
                  sizeof be);
    float fbe[] = {-2, 256};
    NB_ASSERT_TENSOR(nb_load_npy(p), fbe, 2, 0);
    unlink(p);
}
END_TEST

START_TEST(test_npy_fortran_order_is_transposed_to_c_order) {
    /* the 2x3 matrix [[1, 2, 3], [4, 5, 6]] stored column by column */
    float cols[] = {1, 4, 2, 5, 3, 6}, rows[] = {1, 2, 3, 4, 5, 6};
    const char *p = write_npy("f.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                              cols, sizeof cols);
    nb_tensor *t = nb_load_npy(p);
    ASSERT_SHAPE(t, 2, 3);
    NB_ASSERT_TENSOR(t, rows, 6, 0);
    unlink(p);
}
END_TEST

START_TEST(test_npy_version_2_and_scalars) {
    /* version 2.0 has a 4-byte header length */
    const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (), }          \n";
    unsigned char buf[256];
    size_t len = strlen(dict);
    memcpy(buf, "\x93NUMPY\x02\x00", 8);
    buf[8] = (unsigned char)len;
    buf[9] = buf[10] = buf[11] = 0;
    memcpy(buf + 12, dict, len);
    float v = 2.5f;
    memcpy(buf + 12 + len, &v, 4);
    const char *p = write_bytes("v2.npy", buf, 12 + len + 4);
    nb_tensor *t = nb_load_npy(p);
    ck_assert_msg(t != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_ndim(t), 0);
    ck_assert_float_eq(nb_item(t), 2.5f);
    unlink(p);
}
END_TEST

START_TEST(test_npy_save_writes_what_numpy_reads) {
    nb_tensor *t = nb_from_array((float[]){1, -2, 3.5f, 4, 5, 6}, NB_SHAPE(3, 2));
    const char *p = tmp_path("saved.npy");
    ck_assert_int_eq(nb_save_npy(t, p), NB_OK);
    FILE *f = fopen(p, "rb");
    unsigned char head[128];
    ck_assert_int_eq(fread(head, 1, sizeof head, f), sizeof head);
    fclose(f);
    ck_assert_int_eq(memcmp(head, "\x93NUMPY\x01\x00\x76\x00", 10), 0); /* 128 - 10 = 0x76 */
    ck_assert_int_eq(
        memcmp(head + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 59), 0);
    ck_assert_int_eq(head[127], '\n');
    nb_tensor *back = nb_load_npy(p);
    ASSERT_SHAPE(back, 3, 2);
    NB_ASSERT_TENSOR(back, ((float[]){1, -2, 3.5f, 4, 5, 6}), 6, 0);
    unlink(p);
}
END_TEST

START_TEST(test_npy_malformed_headers_are_errors_with_offsets) {
    const char *p = write_bytes("magic.npy", "\x93NUMPX\x01\x00\x10\x00", 10);
    ck_assert_ptr_null(nb_load_npy(p));
    NB_ASSERT_ERROR_HAS("magic.npy: byte 0: not a .npy file");
    unlink(p);

    p = write_bytes("short.npy", "\x93NUMPY\x01\x00\x40\x00{'descr'", 17);
    ck_assert_ptr_null(nb_load_npy(p));
    NB_ASSERT_ERROR_HAS("short.npy: byte 17: the header is 64 bytes long but the file ends after "
                        "17 bytes");
    unlink(p);

    float one = 1;
    p = write_npy("noshape.npy", "{'descr': '<f4', 'fortran_order': False}", &one, 4);
    ck_assert_ptr_null(nb_load_npy(p));
    NB_ASSERT_ERROR_HAS("byte 10: bad header: it must give 'descr', 'fortran_order' and 'shape'");
    unlink(p);

    p = write_npy("str.npy", "{'descr': '<U5', 'fortran_order': False, 'shape': (1,), }", &one, 4);
    ck_assert_ptr_null(nb_load_npy(p));
    NB_ASSERT_ERROR_HAS("byte 20: dtype '<U5' is not supported");
    unlink(p);

    p = write_npy("rec.npy", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                  &one, 4);
    ck_assert_ptr_null(nb_load_npy(p));
    NB_ASSERT_ERROR_HAS("byte 20: structured dtypes are not supported");
    unlink(p);

    p = write_npy("junk.npy", "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }", &one, 4);
    ck_assert_ptr_null(nb_load_npy(p));
    NB_ASSERT_ERROR_HAS("byte 44: bad header: expected True or False");
    unlink(p);
}
END_TEST

START_TEST(test_npy_truncated_absurd_and_padded_data_are_errors) {
    float two[] = {1, 2};
    const char *p = write_npy(
        "trunc.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", two, sizeof two);
    ck_assert_ptr_null(nb_load_npy(p));
    NB_ASSERT_ERROR_HAS("trunc.npy: byte 128: header says shape (3,) of f4 (12 bytes) but the file "
                        "ends after 136 bytes");
    unlink(p);

    uint64_t before = nb_alloc_count();
    p = write_npy("huge.npy",
                  "{'descr': '<f8', 'fortran_order': False, 'shape': (1048576, 1048576), }", two,
                  sizeof two);
    ck_assert_ptr_null(nb_load_npy(p));
    NB_ASSERT_ERROR_HAS("header says shape (1048576, 1048576) of f8 (8796093022208 bytes)");
    ck_assert_int_eq(nb_alloc_count(), before);
    unlink(p);

    p = write_npy("overflow.npy",
                  "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, "
                  "4294967296), }",
                  two, sizeof two);
    ck_assert_ptr_null(nb_load_npy(p));
    NB_ASSERT_ERROR_HAS("too many elements");
    unlink(p);

    p = write_npy("extra.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", two,
                  sizeof two);
    ck_assert_ptr_null(nb_load_npy(p));
    NB_ASSERT_ERROR_HAS("byte 132: 4 bytes follow the data of shape (1,)");
    unlink(p);
}
END_TEST

/* ============================ buffers and limits ===================================== */
/* a fixture's bytes in a heap buffer (free() it) */
static void *slurp_fixture(const char *name, size_t *len) {
    FILE *f = fopen(fixture(name), "rb");
    ck_assert_msg(f != NULL, "cannot open %s", fixture(name));
    static unsigned char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    void *copy = malloc(*len ? *len : 1);
    memcpy(copy, buf, *len);
    return copy;
}

/* a gzip file holding the bytes head, padded with zero bytes to size bytes
 * without writing them (a sparse file): big on paper, nothing on disk */
static const char *write_sparse_gzip(const char *name, const void *head, size_t n, off_t size) {
    const char *path = tmp_path(name);
    gzFile gz = gzopen(path, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, head, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    ck_assert_int_eq(truncate(path, size), 0);
    return path;
}

START_TEST(test_readers_from_memory_equal_readers_from_files) {
    static const char *const idx_files[] = {"idx_images_2x3x4.idx", "idx_images_2x3x4.idx.gz",
                                            "idx_short_2x2.idx", "idx_float_3.idx"};
    for (size_t i = 0; i < sizeof idx_files / sizeof idx_files[0]; i++) {
        size_t len;
        void *bytes = slurp_fixture(idx_files[i], &len);
        nb_tensor *a = nb_load_idx(fixture(idx_files[i]), true);
        nb_tensor *b = nb_load_idx_mem(bytes, len, idx_files[i], true);
        free(bytes);
        ck_assert_msg(a && b, "%s: %s", idx_files[i], nb_error());
        ck_assert_int_eq(nb_ndim(a), nb_ndim(b));
        ck_assert_int_eq(nb_numel(a), nb_numel(b));
        for (int64_t k = 0; k < nb_numel(a); k++)
            ck_assert_float_eq(nb_get_flat(a, k), nb_get_flat(b, k));
    }
    size_t len;
    void *bytes = slurp_fixture("csv_string_labels.csv", &len);
    nb_dataset ds;
    ck_assert_msg(nb_load_csv_mem(bytes, len, "iris part", NULL, &ds) == NB_OK, "%s", nb_error());
    free(bytes);
    float x[] = {5.1f, 3.5f, 7.0f, 3.2f, 5.0f, 3.4f, 6.3f, 3.3f}, y[] = {0, 1, 0, 2};
    NB_ASSERT_TENSOR(ds.x, x, 8, 0);
    NB_ASSERT_TENSOR(ds.y, y, 4, 0);
    ck_assert_int_eq(ds.n_classes, 3);
    ck_assert_str_eq(ds.source, "iris part");
    nb_dataset_free(&ds);

    float two[] = {1.5f, -2};
    const char *p = write_npy(
        "mem.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", two, sizeof two);
    FILE *f = fopen(p, "rb");
    unsigned char npy[256];
    size_t n = fread(npy, 1, sizeof npy, f);
    fclose(f);
    unlink(p);
    NB_ASSERT_TENSOR(nb_load_npy_mem(npy, n, NULL), two, 2, 0);
}
END_TEST

START_TEST(test_readers_from_memory_give_the_same_errors_with_the_buffers_name) {
    size_t len;
    void *bytes = slurp_fixture("idx_truncated_data.idx", &len);
    ck_assert_ptr_null(nb_load_idx_mem(bytes, len, "images.idx", false));
    ASSERT_ERROR_IS("nb_load_idx_mem: images.idx: byte 16: header says 60000 images of 28x28 "
                    "(47040000 bytes of ubyte) but the file ends after 1024 bytes");
    free(bytes);
    bytes = slurp_fixture("idx_cut.idx.gz", &len);
    ck_assert_ptr_null(nb_load_idx_mem(bytes, len, NULL, false));
    NB_ASSERT_ERROR_HAS("nb_load_idx_mem: (memory): byte ");
    NB_ASSERT_ERROR_HAS("the gzip data is corrupt or cut short (zlib: unexpected end of file)");
    free(bytes);
    nb_dataset ds;
    bytes = slurp_fixture("csv_bad_cell.csv", &len);
    ck_assert_int_eq(nb_load_csv_mem(bytes, len, "cells", NULL, &ds), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("nb_load_csv_mem: cells: byte ");
    free(bytes);
    ck_assert_ptr_null(nb_load_npy_mem("\x93NUMPY", 6, "six bytes"));
    NB_ASSERT_ERROR_HAS("nb_load_npy_mem: six bytes: byte 0: not a .npy file");
    ck_assert_ptr_null(nb_load_idx_mem(NULL, 4, NULL, false));
    ck_assert_int_eq(nb_error_code(), NB_ERR_NULL);
    NB_ASSERT_ERROR_HAS("nb_load_idx_mem: the data is NULL");
    ck_assert_ptr_null(nb_load_npy_mem(NULL, 0, NULL)); /* no bytes: a format error, not a crash */
    NB_ASSERT_ERROR_HAS("not a .npy file");
}
END_TEST

START_TEST(test_gzip_members_read_as_one_stream_and_trailing_bytes_are_ignored) {
    float v[] = {1, 2, 3, 4};
    const char *plain = write_npy(
        "v.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", v, sizeof v);
    unsigned char bytes[256];
    FILE *f = fopen(plain, "rb");
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    unlink(plain);
    /* two gzip members, as `cat a.gz b.gz > c.gz` makes */
    const char *p = tmp_path("v.npy.gz");
    for (int part = 0; part < 2; part++) {
        gzFile gz = gzopen(p, part ? "ab" : "wb");
        ck_assert_ptr_nonnull(gz);
        size_t from = part ? n / 2 : 0, to = part ? n : n / 2;
        ck_assert_int_eq(gzwrite(gz, bytes + from, (unsigned)(to - from)), (int)(to - from));
        gzclose(gz);
    }
    NB_ASSERT_TENSOR(nb_load_npy(p), v, 4, 0);
    /* bytes after the last member that start no new one are ignored, as gzip(1) does */
    f = fopen(p, "ab");
    fputs("not gzip", f);
    fclose(f);
    NB_ASSERT_TENSOR(nb_load_npy(p), v, 4, 0);
    unlink(p);
}
END_TEST

/* a gzip member of the n bytes at p, stored (level 0), appended to path; its size */
static long append_stored_member(const char *path, const void *p, size_t n) {
    gzFile gz = gzopen(path, "ab0");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, p, (unsigned)n), (int)n);
    gzclose(gz);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    return size;
}

/* Files are read in 64 KiB chunks: a second member whose magic bytes 1f 8b
 * straddle two chunks must still be found. */
START_TEST(test_a_gzip_member_starting_at_the_last_byte_of_a_chunk_is_read) {
    enum { N = 30000 };
    static float v[N];
    for (int i = 0; i < N; i++) v[i] = (float)((i * 7919) % 1000);
    /* the .npy bytes: magic, version 1.0, a 118-byte header, the data */
    static unsigned char bytes[128 + sizeof v];
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (30000,), }";
    memcpy(bytes, "\x93NUMPY\x01\x00\x76\x00", 10);
    memset(bytes + 10, ' ', 118);
    memcpy(bytes + 10, dict, strlen(dict));
    bytes[127] = '\n';
    memcpy(bytes + 128, v, sizeof v);
    size_t n = sizeof bytes;
    /* find the first member's length that makes it exactly 65535 bytes */
    const char *p = tmp_path("long.npy.gz");
    size_t first = 65000;
    long size = 0;
    for (int tries = 0; tries < 20 && size != 65535; tries++) {
        unlink(p);
        size = append_stored_member(p, bytes, first);
        first += (size_t)(65535 - size);
    }
    ck_assert_int_eq(size, 65535);
    first -= (size_t)(65535 - size); /* undo the last (zero) step */
    append_stored_member(p, bytes + first, n - first);
    NB_ASSERT_TENSOR(nb_load_npy(p), v, N, 0);
    unlink(p);
}
END_TEST

/* Found by fuzz_idx: sizes 0 x 2863972040 x 3537692330 hold no elements, so
 * they passed the size checks, and the tensor's strides overflowed int64. */
START_TEST(test_idx_zero_size_with_huge_other_sizes_is_an_error) {
    ck_assert_ptr_null(nb_load_idx(fixture("idx_zero_dim_huge.idx"), false));
    NB_ASSERT_ERROR_HAS("idx_zero_dim_huge.idx: byte 16: header says 0 images of "
                        "2863972040x3537692330 of ubyte: too many elements (the file is corrupt)");
    const char *p = write_npy(
        "zero.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }", "", 0);
    ck_assert_ptr_null(nb_load_npy(p));
    NB_ASSERT_ERROR_HAS("header says shape (0, 4294967296, 4294967296): too many elements");
    unlink(p);
}
END_TEST

START_TEST(test_a_header_claiming_2_to_the_40_elements_allocates_nothing) {
    uint64_t before = nb_alloc_count();
    size_t len;
    void *bytes = slurp_fixture("idx_absurd_dims.idx.gz", &len);
    ck_assert_ptr_null(nb_load_idx_mem(bytes, len, "absurd.idx.gz", false));
    NB_ASSERT_ERROR_HAS("header says 1048576 images of 1048576x1 (1099511627776 bytes of ubyte) "
                        "but a gzip file of 35 bytes cannot hold that much");
    free(bytes);
    /* a 32 MiB gzip file could hold 2^34 bytes as far as its size tells:
     * the element limit refuses it before 64 GiB of floats are asked for */
    unsigned char head[16] = {0, 0, 8, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 4};
    const char *p = write_sparse_gzip("big.idx.gz", head, sizeof head, 32 << 20);
    ck_assert_ptr_null(nb_load_idx(p, false));
    NB_ASSERT_ERROR_HAS("byte 16: header says 65536 images of 65536x4: 17179869184 elements, more "
                        "than the 4294967296 a reader loads");
    unlink(p);
    const char *dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (131072, 131072), }";
    char npy[128];
    memcpy(npy, "\x93NUMPY\x01\x00\x76\x00", 10); /* version 1.0, 118 bytes of header */
    memset(npy + 10, ' ', sizeof npy - 10);
    memcpy(npy + 10, dict, strlen(dict));
    npy[127] = '\n';
    p = write_sparse_gzip("big.npy.gz", npy, sizeof npy, 32 << 20);
    ck_assert_ptr_null(nb_load_npy(p));
    NB_ASSERT_ERROR_HAS("byte 128: header says shape (131072, 131072): 17179869184 elements, more "
                        "than the 4294967296 a reader loads");
    unlink(p);
    ck_assert_int_eq(nb_alloc_count(), before);
}
END_TEST

START_TEST(test_csv_larger_than_1_gib_or_with_a_huge_cell_is_an_error) {
    /* 2 GiB on paper (a sparse file): refused by its size, before reading */
    const char *p = tmp_path("huge.csv");
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(truncate(p, (off_t)2 << 30), 0);
    nb_dataset ds;
    ck_assert_int_eq(nb_load_csv(p, NULL, &ds), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("huge.csv: byte 0: the file is larger than 1073741824 bytes");
    unlink(p);
    /* one line of 100000 digits: no number or name is that long */
    size_t n = 100000;
    char *line = malloc(n + 8);
    memcpy(line, "1,2\n", 4);
    memset(line + 4, '7', n);
    memcpy(line + 4 + n, ",1\n", 3);
    ck_assert_int_eq(nb_load_csv_mem(line, n + 7, "long", NULL, &ds), NB_ERR_FORMAT);
    ASSERT_ERROR_IS("nb_load_csv_mem: long: byte 4: line 2: a cell longer than 65536 bytes (is a "
                    "line break missing?)");
    free(line);
}
END_TEST

/* ============================ named datasets ========================================= */
START_TEST(test_iris_from_sklearn_has_150_rows_4_features_3_classes) {
    require_sklearn("iris.csv");
    nb_dataset ds;
    ck_assert_msg(nb_dataset_load("iris", &ds) == NB_OK, "%s", nb_error());
    ASSERT_SHAPE(ds.x, 150, 4);
    ASSERT_SHAPE(ds.y, 150);
    ck_assert_int_eq(ds.n_classes, 3);
    ck_assert_str_eq(ds.class_names[0], "setosa");
    ck_assert_str_eq(ds.class_names[2], "virginica");
    ck_assert_str_eq(ds.feature_names[3], "petal width (cm)");
    ck_assert_str_eq(ds.source, SKLEARN_DATA "/iris.csv");
    float row0[] = {5.1f, 3.5f, 1.4f, 0.2f};
    for (int j = 0; j < 4; j++) ck_assert_float_eq(at2(ds.x, 0, j), row0[j]);
    ck_assert_float_eq(nb_get_flat(ds.y, 0), 0);
    ck_assert_float_eq(nb_get_flat(ds.y, 149), 2);
    nb_dataset_free(&ds);
}
END_TEST

START_TEST(test_embedded_iris_equals_sklearn_file) {
    require_sklearn("iris.csv");
    nb_dataset file, embedded;
    ck_assert_int_eq(nb_dataset_load("iris", &file), NB_OK);
    setenv("NABLA_SKLEARN_DATA", "/nonexistent", 1); /* forces the embedded copy */
    ck_assert_int_eq(nb_dataset_load("iris", &embedded), NB_OK);
    ck_assert_str_eq(embedded.source, "embedded");
    ck_assert_int_eq(embedded.n_classes, 3);
    ck_assert_str_eq(embedded.class_names[1], "versicolor");
    for (int64_t i = 0; i < 600; i++)
        ck_assert_float_eq(nb_get_flat(embedded.x, i), nb_get_flat(file.x, i));
    for (int64_t i = 0; i < 150; i++)
        ck_assert_float_eq(nb_get_flat(embedded.y, i), nb_get_flat(file.y, i));
    nb_dataset_free(&file);
    nb_dataset_free(&embedded);
}
END_TEST

START_TEST(test_xor_is_embedded) {
    nb_dataset ds;
    ck_assert_int_eq(nb_dataset_load("xor", &ds), NB_OK);
    float x[] = {0, 0, 0, 1, 1, 0, 1, 1}, y[] = {0, 1, 1, 0};
    NB_ASSERT_TENSOR(ds.x, x, 8, 0);
    NB_ASSERT_TENSOR(ds.y, y, 4, 0);
    ck_assert_int_eq(ds.n_classes, 2);
    ck_assert(nb_dataset_available("xor"));
    ck_assert(nb_dataset_available("iris"));
    nb_dataset_free(&ds);
}
END_TEST

START_TEST(test_sklearn_classification_sets_have_known_shapes_and_rows) {
    require_sklearn("wine_data.csv");
    require_sklearn("breast_cancer.csv");
    require_sklearn("digits.csv.gz");
    nb_dataset wine, bc, digits;
    ck_assert_msg(nb_dataset_load("wine", &wine) == NB_OK, "%s", nb_error());
    ASSERT_SHAPE(wine.x, 178, 13);
    ck_assert_int_eq(wine.n_classes, 3);
    ck_assert_str_eq(wine.class_names[0], "class_0");
    NB_ASSERT_CLOSE(at2(wine.x, 0, 0), 14.23, 1e-6);
    NB_ASSERT_CLOSE(at2(wine.x, 0, 12), 1065, 0);
    ck_assert_float_eq(nb_get_flat(wine.y, 177), 2);

    ck_assert_msg(nb_dataset_load("breast-cancer", &bc) == NB_OK, "%s", nb_error());
    ASSERT_SHAPE(bc.x, 569, 30);
    ck_assert_int_eq(bc.n_classes, 2);
    ck_assert_str_eq(bc.class_names[0], "malignant");
    ck_assert_str_eq(bc.class_names[1], "benign");
    NB_ASSERT_CLOSE(at2(bc.x, 0, 0), 17.99, 1e-6);
    ck_assert_float_eq(nb_get_flat(bc.y, 0), 0);

    ck_assert_msg(nb_dataset_load("digits", &digits) == NB_OK, "%s", nb_error());
    ASSERT_SHAPE(digits.x, 1797, 64);
    ck_assert_int_eq(digits.n_classes, 10);
    ck_assert_float_eq(at2(digits.x, 0, 2), 5);
    ck_assert_float_eq(nb_get_flat(digits.y, 0), 0);
    ck_assert_float_eq(nb_get_flat(digits.y, 1796), 8);
    nb_dataset_free(&wine);
    nb_dataset_free(&bc);
    nb_dataset_free(&digits);
}
END_TEST

START_TEST(test_sklearn_regression_sets_have_known_shapes_and_targets) {
    require_sklearn("diabetes_data_raw.csv.gz");
    require_sklearn("diabetes_target.csv.gz");
    require_sklearn("boston_house_prices.csv");
    nb_dataset diabetes, boston;
    ck_assert_msg(nb_dataset_load("diabetes", &diabetes) == NB_OK, "%s", nb_error());
    ASSERT_SHAPE(diabetes.x, 442, 10);
    ASSERT_SHAPE(diabetes.y, 442);
    ck_assert_int_eq(diabetes.n_classes, 0);
    ck_assert_float_eq(at2(diabetes.x, 0, 0), 59);
    ck_assert_float_eq(nb_get_flat(diabetes.y, 0), 151);
    ck_assert_str_eq(diabetes.feature_names[2], "bmi");

    ck_assert_msg(nb_dataset_load("boston", &boston) == NB_OK, "%s", nb_error());
    ASSERT_SHAPE(boston.x, 506, 13);
    ck_assert_int_eq(boston.n_classes, 0);
    ck_assert_str_eq(boston.feature_names[0], "CRIM");
    ck_assert_str_eq(boston.feature_names[12], "LSTAT");
    NB_ASSERT_CLOSE(at2(boston.x, 0, 0), 0.00632, 1e-6);
    ck_assert_float_eq(nb_get_flat(boston.y, 0), 24);
    nb_dataset_free(&diabetes);
    nb_dataset_free(&boston);
}
END_TEST

START_TEST(test_missing_package_error_names_the_package) {
    setenv("NABLA_SKLEARN_DATA", "/nonexistent", 1);
    setenv("NABLA_FASHION_MNIST", "/nonexistent", 1);
    nb_dataset ds;
    ck_assert_int_eq(nb_dataset_load("wine", &ds), NB_ERR_IO);
    NB_ASSERT_ERROR_HAS("nb_dataset_load: wine: /nonexistent/wine_data.csv not found; install "
                        "Debian's python3-sklearn");
    ck_assert_int_eq(nb_dataset_load("fashion-mnist", &ds), NB_ERR_IO);
    NB_ASSERT_ERROR_HAS("install Debian's dataset-fashion-mnist");
    ck_assert(!nb_dataset_available("wine"));
    ck_assert_int_eq(nb_dataset_load("mnist", &ds), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("unknown dataset \"mnist\"; known: xor, iris");
    ck_assert_str_eq(nb_dataset_names()[0], "xor");
}
END_TEST

/* ============================ preparing data ========================================= */
/* x [n, 2] with rows (i, 10 i), y [n] = i: a row's origin is readable from it */
static void numbered(int64_t n, nb_tensor **x, nb_tensor **y) {
    *x = nb_empty(NB_SHAPE(n, 2));
    *y = nb_empty(NB_SHAPE(n));
    for (int64_t i = 0; i < n; i++) {
        nb_data(*x)[2 * i] = (float)i;
        nb_data(*x)[2 * i + 1] = 10.0f * (float)i;
        nb_data(*y)[i] = (float)i;
    }
}

START_TEST(test_permutation_is_a_reproducible_permutation) {
    int64_t a[50], b[50];
    int seen[50] = {0};
    nb_manual_seed(7);
    ck_assert_int_eq(nb_permutation(a, 50), NB_OK);
    nb_manual_seed(7);
    nb_permutation(b, 50);
    int moved = 0;
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(a[i], b[i]);
        seen[a[i]]++;
        moved += a[i] != i;
    }
    for (int i = 0; i < 50; i++) ck_assert_int_eq(seen[i], 1);
    ck_assert_int_gt(moved, 40);
}
END_TEST

START_TEST(test_shuffle_keeps_x_and_y_rows_together_and_is_reproducible) {
    nb_tensor *x, *y, *x2, *y2;
    numbered(100, &x, &y);
    numbered(100, &x2, &y2);
    nb_manual_seed(42);
    ck_assert_int_eq(nb_shuffle(x, y), NB_OK);
    nb_manual_seed(42);
    ck_assert_int_eq(nb_shuffle(x2, y2), NB_OK);
    double sum = 0;
    int moved = 0;
    for (int64_t i = 0; i < 100; i++) {
        float yi = nb_get_flat(y, i);
        ck_assert_float_eq(at2(x, i, 0), yi);
        ck_assert_float_eq(at2(x, i, 1), 10 * yi);
        ck_assert_float_eq(nb_get_flat(y2, i), yi);
        sum += yi;
        moved += yi != (float)i;
    }
    ck_assert_double_eq(sum, 4950);
    ck_assert_int_gt(moved, 80);
}
END_TEST

START_TEST(test_split_sizes_pairing_and_reproducibility) {
    nb_tensor *x, *y;
    numbered(150, &x, &y);
    nb_split a, b;
    nb_manual_seed(3);
    ck_assert_int_eq(nb_train_test_split(x, y, 0.3, true, &a), NB_OK);
    nb_manual_seed(3);
    ck_assert_int_eq(nb_train_test_split(x, y, 0.3, true, &b), NB_OK);
    ASSERT_SHAPE(a.x_train, 105, 2);
    ASSERT_SHAPE(a.x_test, 45, 2);
    ASSERT_SHAPE(a.y_test, 45);
    int seen[150] = {0};
    for (int64_t i = 0; i < 105; i++) {
        ck_assert_float_eq(at2(a.x_train, i, 1), 10 * nb_get_flat(a.y_train, i));
        ck_assert_float_eq(nb_get_flat(a.y_train, i), nb_get_flat(b.y_train, i));
        seen[(int)nb_get_flat(a.y_train, i)]++;
    }
    for (int64_t i = 0; i < 45; i++) {
        ck_assert_float_eq(at2(a.x_test, i, 0), nb_get_flat(a.y_test, i));
        seen[(int)nb_get_flat(a.y_test, i)]++;
    }
    for (int i = 0; i < 150; i++) ck_assert_int_eq(seen[i], 1);

    /* without shuffling the test part is the last rows, as Keras's validation_split */
    nb_split c;
    ck_assert_int_eq(nb_train_test_split(x, NULL, 0.2, false, &c), NB_OK);
    ASSERT_SHAPE(c.x_test, 30, 2);
    ck_assert_ptr_null(c.y_test);
    ck_assert_float_eq(at2(c.x_test, 0, 0), 120);
    ck_assert_float_eq(at2(c.x_train, 119, 0), 119);
}
END_TEST

START_TEST(test_split_rejects_bad_fractions_and_mismatched_rows) {
    nb_tensor *x, *y;
    numbered(10, &x, &y);
    nb_split s;
    ck_assert_int_eq(nb_train_test_split(x, y, 0.0, true, &s), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("test_fraction 0 is not in (0, 1)");
    ck_assert_int_eq(nb_train_test_split(x, y, 0.99, true, &s), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("leave 0 for training and 10 for testing");
    nb_tensor *y5 = nb_zeros(NB_SHAPE(5));
    ck_assert_int_eq(nb_train_test_split(x, y5, 0.5, true, &s), NB_ERR_SHAPE);
    NB_ASSERT_ERROR_HAS("x [10, 2] and y [5] have different numbers of rows");
}
END_TEST

/* labels with classes of n[0], n[1], ... rows, class-sorted like iris's file */
static nb_tensor *sorted_labels(const int *n, int k) {
    int total = 0;
    for (int c = 0; c < k; c++) total += n[c];
    nb_tensor *y = nb_zeros(NB_SHAPE(total));
    for (int c = 0, at = 0; c < k; c++)
        for (int i = 0; i < n[c]; i++) nb_data(y)[at++] = (float)c;
    return y;
}

START_TEST(test_stratified_split_keeps_class_proportions_within_one_sample) {
    const int shapes[3][5] = {{50, 50, 50}, {59, 71, 48}, {7, 13, 29, 1, 3}};
    const int ks[3] = {3, 3, 5};
    const double f[3] = {0.6, 0.2, 0.2};
    for (int t = 0; t < 3; t++) {
        int total = 0;
        for (int c = 0; c < ks[t]; c++) total += shapes[t][c];
        nb_tensor *y = sorted_labels(shapes[t], ks[t]);
        int64_t order[256], counts[3];
        ck_assert_int_eq(nb_stratified_split(y, f, 3, order, counts), NB_OK);
        ck_assert_int_eq(counts[0] + counts[1] + counts[2], total);
        for (int p = 0; p < 3; p++) ck_assert(fabs((double)counts[p] - f[p] * total) < 1);
        for (int p = 0, first = 0; p < 3; first += (int)counts[p], p++)
            for (int c = 0; c < ks[t]; c++) {
                int in_part = 0;
                for (int64_t i = first; i < first + counts[p]; i++)
                    in_part += nb_get_flat(y, order[i]) == (float)c;
                double want = (double)shapes[t][c] * (double)counts[p] / total;
                ck_assert_msg(fabs(in_part - want) < 1,
                              "set %d, part %d, class %d: %d rows, the whole's share is %.2f", t, p,
                              c, in_part, want);
            }
    }
    /* iris's 50 + 50 + 50: exactly 30 / 10 / 10 of each class */
    nb_tensor *iris = sorted_labels(shapes[0], 3);
    int64_t order[150], counts[3];
    ck_assert_int_eq(nb_stratified_split(iris, f, 3, order, counts), NB_OK);
    ck_assert_int_eq(counts[0], 90);
    ck_assert_int_eq(counts[1], 30);
    ck_assert_int_eq(counts[2], 30);
}
END_TEST

START_TEST(test_stratified_split_uses_every_row_once_and_the_same_seed_repeats_it) {
    const int n[3] = {40, 25, 12};
    const double f[3] = {0.5, 0.3, 0.2};
    nb_tensor *y = sorted_labels(n, 3);
    int64_t a[77], b[77], c[77], counts[3];
    nb_manual_seed(42);
    ck_assert_int_eq(nb_stratified_split(y, f, 3, a, counts), NB_OK);
    nb_manual_seed(42);
    ck_assert_int_eq(nb_stratified_split(y, f, 3, b, counts), NB_OK);
    nb_manual_seed(43);
    ck_assert_int_eq(nb_stratified_split(y, f, 3, c, counts), NB_OK);
    int seen[77] = {0}, differ = 0, moved = 0;
    for (int i = 0; i < 77; i++) {
        ck_assert(a[i] >= 0 && a[i] < 77);
        seen[a[i]]++;
        ck_assert_int_eq(a[i], b[i]);
        differ += a[i] != c[i];
        moved += a[i] != i;
    }
    for (int i = 0; i < 77; i++) ck_assert_int_eq(seen[i], 1);
    ck_assert_int_gt(differ, 30);
    ck_assert_int_gt(moved, 60);
    /* the training part is mixed, not class-sorted */
    int changes = 0;
    for (int64_t i = 1; i < counts[0]; i++)
        changes += nb_get_flat(y, a[i]) != nb_get_flat(y, a[i - 1]);
    ck_assert_int_gt(changes, 5);
}
END_TEST

START_TEST(test_stratified_split_rejects_bad_fractions_labels_and_empty_parts) {
    const int n[2] = {3, 2};
    nb_tensor *y = sorted_labels(n, 2);
    int64_t order[5], counts[3];
    ck_assert_int_eq(nb_stratified_split(y, (double[]){0.6, 0.6}, 2, order, counts), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("add up to 1.2, not 1");
    ck_assert_int_eq(nb_stratified_split(y, (double[]){0.9, 0.05, 0.05}, 3, order, counts),
                     NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("5 rows leave part 1 (fraction 0.05) empty");
    nb_data(y)[2] = 0.5f;
    ck_assert_int_eq(nb_stratified_split(y, (double[]){0.6, 0.4}, 2, order, counts), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("y[2] = 0.5 is not a class id");
    ck_assert_int_eq(nb_stratified_split(nb_zeros(NB_SHAPE(5, 2)), (double[]){1}, 1, order, counts),
                     NB_ERR_SHAPE);
}
END_TEST

START_TEST(test_kfold_covers_every_index_exactly_once) {
    int fold[10];
    int64_t test[10], train[10];
    int times_tested[10] = {0};
    nb_manual_seed(5);
    ck_assert_int_eq(nb_kfold(10, 3, true, fold), NB_OK);
    int64_t sizes[3];
    for (int f = 0; f < 3; f++) {
        sizes[f] = nb_fold_indices(fold, 10, f, true, test);
        int64_t n_train = nb_fold_indices(fold, 10, f, false, train);
        ck_assert_int_eq(sizes[f] + n_train, 10);
        for (int64_t i = 0; i < sizes[f]; i++) times_tested[test[i]]++;
        for (int64_t i = 0; i < n_train; i++) ck_assert_int_ne(fold[train[i]], f);
    }
    ck_assert_int_eq(sizes[0], 4);
    ck_assert_int_eq(sizes[1], 3);
    ck_assert_int_eq(sizes[2], 3);
    for (int i = 0; i < 10; i++) ck_assert_int_eq(times_tested[i], 1);

    int plain[7]; /* without shuffling, folds are consecutive blocks */
    ck_assert_int_eq(nb_kfold(7, 2, false, plain), NB_OK);
    int want[] = {0, 0, 0, 0, 1, 1, 1};
    for (int i = 0; i < 7; i++) ck_assert_int_eq(plain[i], want[i]);
    ck_assert_int_eq(nb_kfold(3, 4, false, plain), NB_ERR_ARG);
}
END_TEST

START_TEST(test_take_rows_builds_a_batch_in_index_order) {
    nb_tensor *x, *y;
    numbered(6, &x, &y);
    nb_tensor *b = nb_take_rows(x, (int64_t[]){4, 0, 4}, 3);
    float want[] = {4, 40, 0, 0, 4, 40};
    ASSERT_SHAPE(b, 3, 2);
    NB_ASSERT_TENSOR(b, want, 6, 0);
    /* a transposed (non-contiguous) view works too */
    nb_tensor *xt = nb_transpose(x, 0, 1); /* [2, 6] */
    nb_tensor *r = nb_take_rows(xt, (int64_t[]){1}, 1);
    ASSERT_SHAPE(r, 1, 6);
    ck_assert_float_eq(nb_get_flat(r, 5), 50);
    ck_assert_ptr_null(nb_take_rows(x, (int64_t[]){6}, 1));
    NB_ASSERT_ERROR_HAS("nb_take_rows: index 6 (entry 0) is not in 0..5");
    ck_assert_ptr_null(nb_take_rows(NULL, (int64_t[]){0}, 1));
}
END_TEST

START_TEST(test_batches_cover_an_epoch_with_a_short_last_batch) {
    nb_tensor *x, *y;
    numbered(10, &x, &y);
    ck_assert_int_eq(nb_batch_count(10, 4), 3);
    int64_t order[10];
    nb_permutation(order, 10);
    int seen[10] = {0};
    for (int64_t b = 0; b < 3; b++) {
        nb_tensor *xb = nb_batch(x, order, 10, b, 4), *yb = nb_batch(y, order, 10, b, 4);
        ck_assert_int_eq(nb_dim(xb, 0), b < 2 ? 4 : 2);
        for (int64_t i = 0; i < nb_dim(yb, 0); i++) {
            ck_assert_float_eq(at2(xb, i, 0), nb_get_flat(yb, i));
            ck_assert_float_eq(nb_get_flat(yb, i), order[4 * b + i]);
            seen[(int)nb_get_flat(yb, i)]++;
        }
    }
    for (int i = 0; i < 10; i++) ck_assert_int_eq(seen[i], 1);
    nb_tensor *last = nb_batch(x, NULL, 10, 2, 4); /* rows 8, 9 in file order */
    ASSERT_SHAPE(last, 2, 2);
    ck_assert_float_eq(at2(last, 1, 0), 9);
    ck_assert_ptr_null(nb_batch(x, NULL, 10, 3, 4));
    NB_ASSERT_ERROR_HAS("nb_batch: batch 3 of 3");
}
END_TEST

START_TEST(test_standardize_fits_on_train_gives_mean_0_std_1) {
    nb_tensor *train =
        nb_from_array((float[]){1, 10, 5, 2, 20, 5, 3, 30, 5, 4, 40, 5}, NB_SHAPE(4, 3));
    nb_scaler s;
    ck_assert_int_eq(nb_standard_scaler_fit(train, &s), NB_OK);
    ASSERT_SHAPE(s.shift, 3);
    nb_tensor *z = nb_scaler_transform(&s, train);
    for (int j = 0; j < 3; j++) {
        double mean = 0, var = 0;
        for (int i = 0; i < 4; i++) mean += at2(z, i, j) / 4.0;
        for (int i = 0; i < 4; i++) var += (at2(z, i, j) - mean) * (at2(z, i, j) - mean) / 4.0;
        NB_ASSERT_CLOSE(mean, 0, 1e-6);
        NB_ASSERT_CLOSE(sqrt(var), j == 2 ? 0 : 1, 1e-6); /* a constant column is only centered */
    }
    /* test data uses the training mean 2.5 and std sqrt(1.25) */
    nb_tensor *test = nb_from_array((float[]){5, 25, 6}, NB_SHAPE(1, 3));
    nb_tensor *zt = nb_scaler_transform(&s, test);
    NB_ASSERT_CLOSE(at2(zt, 0, 0), 2.5 / sqrt(1.25), 1e-6);
    NB_ASSERT_CLOSE(at2(zt, 0, 2), 1, 1e-6);
    nb_tensor *back = nb_scaler_inverse(&s, zt);
    NB_ASSERT_TENSOR(back, ((float[]){5, 25, 6}), 3, 1e-6);
    ck_assert_ptr_null(nb_scaler_transform(&s, nb_zeros(NB_SHAPE(2, 4))));
    NB_ASSERT_ERROR_HAS("has 4 features per row; the scaler was fitted on 3");
}
END_TEST

START_TEST(test_minmax_maps_train_range_to_target_range) {
    nb_tensor *train = nb_from_array((float[]){0, -1, 7, 5, 1, 7, 10, 3, 7}, NB_SHAPE(3, 3));
    nb_scaler s;
    ck_assert_int_eq(nb_minmax_scaler_fit(train, 0, 1, &s), NB_OK);
    float want[] = {0, 0, 0, 0.5f, 0.5f, 0, 1, 1, 0};
    NB_ASSERT_TENSOR(nb_scaler_transform(&s, train), want, 9, 1e-6);
    ck_assert_int_eq(nb_minmax_scaler_fit(train, -1, 1, &s), NB_OK);
    float sym[] = {-1, -1, -1, 0, 0, -1, 1, 1, -1};
    NB_ASSERT_TENSOR(nb_scaler_transform(&s, train), sym, 9, 1e-6);
    ck_assert_int_eq(nb_minmax_scaler_fit(train, 1, 1, &s), NB_ERR_ARG);
}
END_TEST

START_TEST(test_to_categorical_one_hot_and_bad_labels) {
    nb_tensor *y = nb_from_array((float[]){2, 0, 1}, NB_SHAPE(3));
    float want[] = {0, 0, 1, 1, 0, 0, 0, 1, 0};
    nb_tensor *h = nb_to_categorical(y, 3);
    ASSERT_SHAPE(h, 3, 3);
    NB_ASSERT_TENSOR(h, want, 9, 0);
    ASSERT_SHAPE(nb_to_categorical(y, 0), 3, 3); /* classes counted from the labels */
    ASSERT_SHAPE(nb_to_categorical(y, 5), 3, 5);
    ck_assert_ptr_null(nb_to_categorical(y, 2));
    NB_ASSERT_ERROR_HAS("label 2 at index 0 is not in 0..1");
    ck_assert_ptr_null(nb_to_categorical(nb_from_array((float[]){0, 1.5f}, NB_SHAPE(2)), 3));
    NB_ASSERT_ERROR_HAS("label 1.5 at index 1 is not a class id");
}
END_TEST

int main(void) {
    Suite *s = suite_create("data");
    TCase *idx = nb_tcase("idx");
    tcase_add_test(idx, test_idx_reads_plain_images_as_float_tensor);
    tcase_add_test(idx, test_idx_reads_gzip_like_plain);
    tcase_add_test(idx, test_idx_scale_divides_by_255);
    tcase_add_test(idx, test_idx_reads_labels_shorts_and_floats);
    tcase_add_test(idx, test_idx_bad_magic_is_an_error_at_byte_0);
    tcase_add_test(idx, test_idx_truncated_header_names_the_offset);
    tcase_add_test(idx, test_idx_truncated_data_names_file_offset_and_sizes);
    tcase_add_test(idx, test_idx_truncated_data_inside_gzip);
    tcase_add_test(idx, test_idx_absurd_dims_fail_before_any_allocation);
    tcase_add_test(idx, test_idx_extra_bytes_after_the_data_are_an_error);
    tcase_add_test(idx, test_idx_cut_gzip_stream_is_an_error);
    tcase_add_test(idx, test_idx_missing_file_is_an_io_error);
    suite_add_tcase(s, idx);

    TCase *csv = nb_tcase("csv");
    tcase_add_test(csv, test_csv_with_header_gives_feature_names_and_numeric_labels);
    tcase_add_test(csv, test_csv_without_header_uses_last_column_as_label);
    tcase_add_test(csv, test_csv_string_labels_are_encoded_in_order_of_first_appearance);
    tcase_add_test(csv, test_csv_quotes_delimiter_label_column_and_skipped_columns);
    tcase_add_test(csv, test_csv_space_delimiter_takes_runs_of_blanks);
    tcase_add_test(csv, test_csv_non_numeric_cell_names_line_column_and_offset);
    tcase_add_test(csv, test_csv_malformed_rows_are_errors);
    suite_add_tcase(s, csv);

    TCase *npy = nb_tcase("npy");
    tcase_add_test(npy, test_npy_reads_little_endian_f4_in_c_order);
    tcase_add_test(npy, test_npy_reads_f8_i4_i8_u1_and_big_endian);
    tcase_add_test(npy, test_npy_fortran_order_is_transposed_to_c_order);
    tcase_add_test(npy, test_npy_version_2_and_scalars);
    tcase_add_test(npy, test_npy_save_writes_what_numpy_reads);
    tcase_add_test(npy, test_npy_malformed_headers_are_errors_with_offsets);
    tcase_add_test(npy, test_npy_truncated_absurd_and_padded_data_are_errors);
    suite_add_tcase(s, npy);

    TCase *limits = nb_tcase("buffers and limits");
    tcase_add_test(limits, test_readers_from_memory_equal_readers_from_files);
    tcase_add_test(limits, test_readers_from_memory_give_the_same_errors_with_the_buffers_name);
    tcase_add_test(limits, test_gzip_members_read_as_one_stream_and_trailing_bytes_are_ignored);
    tcase_add_test(limits, test_a_gzip_member_starting_at_the_last_byte_of_a_chunk_is_read);
    tcase_add_test(limits, test_idx_zero_size_with_huge_other_sizes_is_an_error);
    tcase_add_test(limits, test_a_header_claiming_2_to_the_40_elements_allocates_nothing);
    tcase_add_test(limits, test_csv_larger_than_1_gib_or_with_a_huge_cell_is_an_error);
    suite_add_tcase(s, limits);

    TCase *named = nb_tcase("datasets");
    tcase_add_checked_fixture(named, restore_data_dirs, restore_data_dirs);
    tcase_add_test(named, test_iris_from_sklearn_has_150_rows_4_features_3_classes);
    tcase_add_test(named, test_embedded_iris_equals_sklearn_file);
    tcase_add_test(named, test_xor_is_embedded);
    tcase_add_test(named, test_sklearn_classification_sets_have_known_shapes_and_rows);
    tcase_add_test(named, test_sklearn_regression_sets_have_known_shapes_and_targets);
    tcase_add_test(named, test_missing_package_error_names_the_package);
    tcase_add_test(named, test_fashion_mnist_train_file_has_known_labels_and_pixels);
    tcase_add_test(named, test_fashion_mnist_named_sets_are_scaled_with_class_names);
    suite_add_tcase(s, named);

    TCase *prep = nb_tcase("prepare");
    tcase_add_test(prep, test_permutation_is_a_reproducible_permutation);
    tcase_add_test(prep, test_shuffle_keeps_x_and_y_rows_together_and_is_reproducible);
    tcase_add_test(prep, test_split_sizes_pairing_and_reproducibility);
    tcase_add_test(prep, test_split_rejects_bad_fractions_and_mismatched_rows);
    tcase_add_test(prep, test_stratified_split_keeps_class_proportions_within_one_sample);
    tcase_add_test(prep, test_stratified_split_uses_every_row_once_and_the_same_seed_repeats_it);
    tcase_add_test(prep, test_stratified_split_rejects_bad_fractions_labels_and_empty_parts);
    tcase_add_test(prep, test_kfold_covers_every_index_exactly_once);
    tcase_add_test(prep, test_take_rows_builds_a_batch_in_index_order);
    tcase_add_test(prep, test_batches_cover_an_epoch_with_a_short_last_batch);
    tcase_add_test(prep, test_standardize_fits_on_train_gives_mean_0_std_1);
    tcase_add_test(prep, test_minmax_maps_train_range_to_target_range);
    tcase_add_test(prep, test_to_categorical_one_hot_and_bad_labels);
    suite_add_tcase(s, prep);
    return nb_test_run(s);
}
