/* nabla data: reading datasets into tensors and preparing them for training.
 *
 * Readers are bounded and checked: a malformed file is an error naming the
 * file and the byte offset where it went wrong (for gzip files, the offset in
 * the uncompressed data), never an out-of-bounds read, and a header claiming
 * more data than the file can hold, or more than 2^32 elements, is refused
 * before anything is allocated.
 * Functions returning a tensor return NULL on failure; the others return an
 * nb_status. Either way nb_error() says what happened.
 *
 * Tensors returned here belong to the caller's current scope, like any op
 * result. Random choices (shuffle, split, folds) draw from the thread's
 * generator, so nb_manual_seed() makes them reproducible.
 */
#ifndef NABLA_DATA_H
#define NABLA_DATA_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- a dataset: samples, targets and what is known about them ------------------ */
typedef struct nb_dataset {
    nb_tensor *x;         /* samples: [N, F] from CSV, [N, 28, 28] images, ...      */
    nb_tensor *y;         /* [N] class ids 0..K-1 or regression targets; NULL: none */
    int n_classes;        /* K; 0 for regression targets or unknown classes          */
    char **class_names;   /* K names, or NULL when the file does not give them        */
    int64_t n_features;   /* F: elements per sample (784 for 28x28 images)           */
    char **feature_names; /* F names from a header, or NULL                           */
    char *source;         /* the file it was read from, or "embedded"                 */
} nb_dataset;

/* Frees the names and the source string and zeroes *ds. x and y are tensors
 * of the scope they were made in: they are not freed here (nb_free them to
 * release them sooner). */
void nb_dataset_free(nb_dataset *ds);

/* ---- file readers ----------------------------------------------------------------- */
/* An IDX file (MNIST's format), gzip or plain, as a float tensor of the
 * file's shape: images [N, 28, 28], labels [N]. Element types ubyte, byte,
 * short, int, float, double. scale divides by 255 (ubyte pixels -> [0, 1]). */
nb_tensor *nb_load_idx(const char *path, bool scale);

/* How nb_load_csv reads the label column. */
typedef enum nb_csv_labels {
    NB_LABELS_AUTO = 0, /* numbers (n_classes 0) if every label is one, else as ENCODE     */
    NB_LABELS_NUMERIC,  /* numbers; any other cell is an error                          */
    NB_LABELS_ENCODE,   /* names: ids 0..K-1 in order of first appearance, K class names */
} nb_csv_labels;

typedef struct nb_csv_opts {
    char delimiter;          /* 0 = ','; ' ' = any run of spaces and tabs              */
    bool header;             /* the first line (after skip_lines) names the columns     */
    int skip_lines;          /* lines ignored at the top (a title, a metadata line)     */
    int label_column;        /* column of y counting from 1; 0 = last; negative = no y  */
    nb_csv_labels labels;    /* how label cells are read                                */
    const int *skip_columns; /* columns dropped, counting from 1                        */
    int n_skip_columns;
    int64_t max_rows; /* 0 = all */
} nb_csv_opts;

/* A CSV file (gzip or plain, up to 1 GiB, cells up to 64 KiB) of numbers,
 * with one optional label column, into x [N, F] and y [N]. Cells may be
 * "quoted" ("" for a quote); blank lines are skipped; every row must have as
 * many cells as the first. A bad cell is an error naming its line, column and
 * byte offset. opts NULL: comma-separated, no header, the last column is y
 * (AUTO). */
nb_status nb_load_csv(const char *path, const nb_csv_opts *opts, nb_dataset *out);

/* A NumPy .npy file (format 1.0, 2.0 or 3.0; C or Fortran order; f4, f8, i1,
 * i2, i4, i8, u1, u2, u4, u8, b1 of either byte order) as a float tensor of
 * the array's shape. */
nb_tensor *nb_load_npy(const char *path);
/* t as a little-endian float32 .npy file (format 1.0) that numpy.load reads,
 * written atomically like every nabla file (nabla/safetensors.h says how). */
nb_status nb_save_npy(const nb_tensor *t, const char *path);

/* The three readers on a file's bytes already in memory (gzip or plain; the
 * bytes are read in place, not copied). Same checks, same messages, with
 * name (NULL: "(memory)") where the path would be. */
nb_tensor *nb_load_idx_mem(const void *data, size_t size, const char *name, bool scale);
nb_status nb_load_csv_mem(const void *data, size_t size, const char *name, const nb_csv_opts *opts,
                          nb_dataset *out);
nb_tensor *nb_load_npy_mem(const void *data, size_t size, const char *name);

/* ---- named datasets ----------------------------------------------------------------
 *   "xor"                 4 x 2, 2 classes (embedded)
 *   "iris"                150 x 4, 3 classes (sklearn's file, else the embedded copy)
 *   "wine"                178 x 13, 3 classes                  python3-sklearn
 *   "breast_cancer"       569 x 30, 2 classes                  python3-sklearn
 *   "digits"              1797 x 64 (8x8 pixels 0..16), 10     python3-sklearn
 *   "diabetes"            442 x 10 raw (unscaled) features, regression  python3-sklearn
 *   "boston"              506 x 13, regression (MEDV, $1000s)  python3-sklearn
 *   "fashion-mnist"       60000 x 28 x 28 in [0, 1], 10 classes  dataset-fashion-mnist
 *   "fashion-mnist-test"  10000 x 28 x 28 in [0, 1], 10 classes  dataset-fashion-mnist
 * '-' and '_' are interchangeable in names. A missing file is an NB_ERR_IO
 * naming the Debian package to install. The directories can be overridden
 * with the environment variables NABLA_SKLEARN_DATA and NABLA_FASHION_MNIST. */
nb_status nb_dataset_load(const char *name, nb_dataset *out);
/* true when nb_dataset_load(name) would find its files (no error recorded) */
bool nb_dataset_available(const char *name);
/* the names above, NULL-terminated */
const char *const *nb_dataset_names(void);

/* ---- rows, shuffling, splits --------------------------------------------------------- */
/* nb_permutation and nb_take_rows (nabla/core.h) give the order and the rows. */
/* Mini-batch b of an epoch that visits the rows of x in order[0..n) (NULL:
 * 0..n-1): rows order[b * size] up to order[min((b + 1) * size, n) - 1]. */
nb_tensor *nb_batch(const nb_tensor *x, const int64_t *order, int64_t n, int64_t b, int64_t size);
int64_t nb_batch_count(int64_t n, int64_t size); /* ceil(n / size): batches per epoch */
/* Shuffles the rows of x, and of y with the same permutation, in place
 * (y may be NULL; both must be contiguous). */
nb_status nb_shuffle(nb_tensor *x, nb_tensor *y);

typedef struct nb_split {
    nb_tensor *x_train, *y_train; /* y_* are NULL when y is */
    nb_tensor *x_test, *y_test;
} nb_split;
/* ceil(test_fraction * N) rows go to test, the rest to train; with shuffle
 * the rows are permuted first (else the test part is the last rows, as
 * Keras's validation_split). Both parts must be non-empty. */
nb_status nb_train_test_split(const nb_tensor *x, const nb_tensor *y, double test_fraction,
                              bool shuffle, nb_split *out);

/* Stratified split of n = N labelled samples into n_parts parts (train,
 * validation, test, ...) of the given fractions (each >= 0, summing to 1):
 * every class is spread over the parts in the proportions of the whole.
 * y: [N] class ids 0..K-1 (integral floats). Part p gets counts[p] rows, the
 * largest-remainder share of fractions[p] * N; every part with a positive
 * fraction gets at least one row, or the call fails. Each class's share of a
 * part is n_class * counts[p] / N rounded down or up (so within one sample of
 * the whole's proportion), and the shares add up to the class and to the part
 * exactly. Writes the row indices to order (room for N): part 0's first, then
 * part 1's, each part in random order, every row exactly once. The rows of a
 * class are chosen by nb_permutation: nb_manual_seed(s) before the call gives
 * the same split again for the same s. */
nb_status nb_stratified_split(const nb_tensor *y, const double *fractions, int n_parts,
                              int64_t *order, int64_t *counts);

/* K-fold cross-validation: fold[i] in 0..k-1 for each of n samples; the folds
 * are contiguous blocks of 0..n-1 (or of a permutation with shuffle) and
 * their sizes differ by at most one. */
nb_status nb_kfold(int64_t n, int k, bool shuffle, int *fold);
/* Indices of the samples in fold f (test = true) or in all other folds
 * (test = false), ascending, into out (room for n); returns how many, -1 on error. */
int64_t nb_fold_indices(const int *fold, int64_t n, int f, bool test, int64_t *out);

/* ---- scaling: a per-feature map x' = (x - shift) / scale ----------------------------
 * Fit on the training data, then transform training and test data alike.
 * shift and scale are [F] tensors (F = elements per row of x). */
typedef struct nb_scaler {
    nb_tensor *shift, *scale;
} nb_scaler;
/* mean and population std of each feature (std 0 becomes 1) */
nb_status nb_standard_scaler_fit(const nb_tensor *x, nb_scaler *s);
/* maps each feature's [min, max] on x to [lo, hi] (a constant feature goes to lo) */
nb_status nb_minmax_scaler_fit(const nb_tensor *x, float lo, float hi, nb_scaler *s);
nb_tensor *nb_scaler_transform(const nb_scaler *s, const nb_tensor *x); /* (x - shift) / scale */
nb_tensor *nb_scaler_inverse(const nb_scaler *s, const nb_tensor *x);   /* x * scale + shift */

/* ---- labels ---------------------------------------------------------------------------- */
/* Integral labels y [N] in 0..n_classes-1 -> one-hot [N, n_classes]
 * (n_classes <= 0: the largest label + 1), Keras's to_categorical. */
nb_tensor *nb_to_categorical(const nb_tensor *y, int n_classes);

#ifdef __cplusplus
}
#endif
#endif
