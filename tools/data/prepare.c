/* Preparing data for training: permutations, row selection, shuffles,
 * train/test splits, K-fold assignments, feature scaling and one-hot labels.
 * Plain loops over contiguous float rows; every random choice comes from the
 * thread's generator (nb_rng_u32), so nb_manual_seed() fixes them all. */
#include "data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void nb_dataset_free(nb_dataset *ds) {
    if (!ds) return;
    nb_free_strings(ds->class_names, ds->class_names ? ds->n_classes : 0);
    nb_free_strings(ds->feature_names, ds->feature_names ? ds->n_features : 0);
    free(ds->source);
    memset(ds, 0, sizeof *ds);
}

/* ---- rows ---------------------------------------------------------------------------- */
static bool check_rows(const char *fn, const nb_tensor *x) {
    if (x->ndim < 1)
        return nb_fail(NB_ERR_SHAPE, "%s: x is a scalar; rows run along axis 0", fn), false;
    return true;
}

static int64_t row_size(const nb_tensor *x) {
    int64_t n = 1;
    for (int i = 1; i < x->ndim; i++) n *= x->shape[i];
    return n;
}

int64_t nb_batch_count(int64_t n, int64_t size) {
    if (n < 0 || size < 1)
        return nb_fail(NB_ERR_ARG, "nb_batch_count: %lld rows in batches of %lld", (long long)n,
                       (long long)size),
               -1;
    return (n + size - 1) / size;
}

nb_tensor *nb_batch(const nb_tensor *x, const int64_t *order, int64_t n, int64_t b, int64_t size) {
    if (!x) return nb_fail_null("nb_batch");
    int64_t count = nb_batch_count(n, size);
    if (count < 0) return NULL;
    if (b < 0 || b >= count)
        return nb_fail(NB_ERR_ARG, "nb_batch: batch %lld of %lld (%lld rows, batches of %lld)",
                       (long long)b, (long long)count, (long long)n, (long long)size);
    int64_t start = b * size, m = n - start < size ? n - start : size;
    if (order) return nb_take_rows(x, order + start, m);
    int64_t *idx = malloc((size_t)m * sizeof *idx);
    if (!idx) return nb_fail(NB_ERR_MEMORY, "nb_batch: out of memory");
    for (int64_t k = 0; k < m; k++) idx[k] = start + k;
    nb_tensor *out = nb_take_rows(x, idx, m);
    free(idx);
    return out;
}

static void swap_rows(nb_tensor *t, int64_t i, int64_t j, float *tmp) {
    int64_t rs = row_size(t);
    size_t bytes = (size_t)rs * sizeof(float);
    float *a = nb_ptr(t) + i * rs, *b = nb_ptr(t) + j * rs;
    memcpy(tmp, a, bytes);
    memcpy(a, b, bytes);
    memcpy(b, tmp, bytes);
}

/* Fisher-Yates on rows, swapping the same rows of x and y. */
nb_status nb_shuffle(nb_tensor *x, nb_tensor *y) {
    if (!x) return nb_fail_null("nb_shuffle"), nb_error_code();
    if (!check_rows("nb_shuffle", x) || (y && !check_rows("nb_shuffle", y))) return NB_ERR_SHAPE;
    if (y && y->shape[0] != x->shape[0])
        return nb_fail_status(NB_ERR_SHAPE,
                              "nb_shuffle: x %s and y %s have different numbers of rows",
                              nb_shape_s(x), nb_shape_s(y));
    if (!nb_is_contiguous(x) || (y && !nb_is_contiguous(y)))
        return nb_fail_status(NB_ERR_ARG,
                              "nb_shuffle: shuffles in place and needs contiguous tensors "
                              "(nb_clone a view first)");
    int64_t rs = row_size(x) > (y ? row_size(y) : 0) ? row_size(x) : row_size(y);
    float *tmp = malloc((size_t)(rs ? rs : 1) * sizeof(float));
    if (!tmp) return nb_fail_status(NB_ERR_MEMORY, "nb_shuffle: out of memory");
    for (int64_t i = x->shape[0] - 1; i > 0; i--) {
        int64_t j = (int64_t)nb_rng_below((uint64_t)i + 1);
        swap_rows(x, i, j, tmp);
        if (y) swap_rows(y, i, j, tmp);
    }
    free(tmp);
    return NB_OK;
}

/* ---- splits ------------------------------------------------------------------------- */
static void split_free(nb_split *s) {
    nb_free(s->x_train);
    nb_free(s->y_train);
    nb_free(s->x_test);
    nb_free(s->y_test);
    memset(s, 0, sizeof *s);
}

nb_status nb_train_test_split(const nb_tensor *x, const nb_tensor *y, double test_fraction,
                              bool shuffle, nb_split *out) {
    if (!out) return nb_fail_status(NB_ERR_NULL, "nb_train_test_split: out is NULL");
    memset(out, 0, sizeof *out);
    if (!x) return nb_fail_null("nb_train_test_split"), nb_error_code();
    if (!check_rows("nb_train_test_split", x) || (y && !check_rows("nb_train_test_split", y)))
        return NB_ERR_SHAPE;
    int64_t n = x->shape[0];
    if (y && y->shape[0] != n)
        return nb_fail_status(NB_ERR_SHAPE,
                              "nb_train_test_split: x %s and y %s have different numbers "
                              "of rows",
                              nb_shape_s(x), nb_shape_s(y));
    if (!(test_fraction > 0 && test_fraction < 1))
        return nb_fail_status(NB_ERR_ARG, "nb_train_test_split: test_fraction %g is not in (0, 1)",
                              test_fraction);
    int64_t n_test = (int64_t)ceil(test_fraction * (double)n), n_train = n - n_test;
    if (n_train < 1 || n_test < 1)
        return nb_fail_status(NB_ERR_ARG,
                              "nb_train_test_split: %lld rows with test_fraction %g leave "
                              "%lld for training and %lld for testing; both need rows",
                              (long long)n, test_fraction, (long long)n_train, (long long)n_test);
    int64_t *order = malloc((size_t)n * sizeof *order);
    if (!order) return nb_fail_status(NB_ERR_MEMORY, "nb_train_test_split: out of memory");
    if (shuffle)
        nb_permutation(order, n);
    else
        for (int64_t i = 0; i < n; i++) order[i] = i;
    out->x_train = nb_take_rows(x, order, n_train);
    out->x_test = nb_take_rows(x, order + n_train, n_test);
    if (y) {
        out->y_train = nb_take_rows(y, order, n_train);
        out->y_test = nb_take_rows(y, order + n_train, n_test);
    }
    free(order);
    if (!out->x_train || !out->x_test || (y && (!out->y_train || !out->y_test))) {
        split_free(out);
        return nb_error_code();
    }
    return NB_OK;
}

/* Block f of a (shuffled) order holds n / k samples, one more for the first n % k. */
nb_status nb_kfold(int64_t n, int k, bool shuffle, int *fold) {
    if (k < 2 || n < k)
        return nb_fail_status(NB_ERR_ARG, "nb_kfold: %d folds of %lld samples; need 2 <= k <= n", k,
                              (long long)n);
    if (!fold) return nb_fail_status(NB_ERR_NULL, "nb_kfold: fold is NULL");
    int64_t *order = malloc((size_t)n * sizeof *order);
    if (!order) return nb_fail_status(NB_ERR_MEMORY, "nb_kfold: out of memory");
    if (shuffle)
        nb_permutation(order, n);
    else
        for (int64_t i = 0; i < n; i++) order[i] = i;
    int64_t p = 0;
    for (int f = 0; f < k; f++) {
        int64_t size = n / k + (f < n % k ? 1 : 0);
        for (int64_t i = 0; i < size; i++) fold[order[p++]] = f;
    }
    free(order);
    return NB_OK;
}

int64_t nb_fold_indices(const int *fold, int64_t n, int f, bool test, int64_t *out) {
    if (n > 0 && (!fold || !out))
        return nb_fail(NB_ERR_NULL, "nb_fold_indices: fold or out is NULL"), -1;
    if (n < 0 || f < 0)
        return nb_fail(NB_ERR_ARG, "nb_fold_indices: fold %d of %lld samples", f, (long long)n), -1;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if ((fold[i] == f) == test) out[m++] = i;
    return m;
}

/* ---- scaling ------------------------------------------------------------------------ */
/* x's rows as a contiguous [R, F] block (a clone for views; free it if != x) */
static nb_tensor *rows_of(const char *fn, const nb_tensor *x) {
    if (!x) return nb_fail_null(fn);
    if (!check_rows(fn, x)) return NULL;
    if (x->shape[0] < 1) return nb_fail(NB_ERR_SHAPE, "%s: x %s has no rows", fn, nb_shape_s(x));
    return nb_is_contiguous(x) ? (nb_tensor *)x : nb_clone(x);
}

/* shift and scale tensors shaped like one row of x */
static bool scaler_new(const char *fn, const nb_tensor *x, const double *shift, const double *scale,
                       nb_scaler *s) {
    int64_t f = row_size(x);
    s->shift = nb_tensor_new(fn, x->shape + 1, x->ndim - 1);
    s->scale = nb_tensor_new(fn, x->shape + 1, x->ndim - 1);
    if (!s->shift || !s->scale) {
        nb_free(s->shift);
        nb_free(s->scale);
        s->shift = s->scale = NULL;
        return false;
    }
    for (int64_t j = 0; j < f; j++) {
        nb_ptr(s->shift)[j] = (float)shift[j];
        nb_ptr(s->scale)[j] = (float)scale[j];
    }
    return true;
}

/* per-feature mean, then std from the deviations (two passes, in double) */
static void column_moments(const float *x, int64_t rows, int64_t f, double *mean, double *std) {
    for (int64_t j = 0; j < f; j++) mean[j] = std[j] = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < f; j++) mean[j] += x[i * f + j];
    for (int64_t j = 0; j < f; j++) mean[j] /= (double)rows;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < f; j++) {
            double d = x[i * f + j] - mean[j];
            std[j] += d * d;
        }
    for (int64_t j = 0; j < f; j++) {
        std[j] = sqrt(std[j] / (double)rows);
        if (!(std[j] > 0)) std[j] = 1.0; /* a constant feature is only centered */
    }
}

static void column_range(const float *x, int64_t rows, int64_t f, double *lo, double *hi) {
    for (int64_t j = 0; j < f; j++) lo[j] = hi[j] = x[j];
    for (int64_t i = 1; i < rows; i++)
        for (int64_t j = 0; j < f; j++) {
            double v = x[i * f + j];
            if (v < lo[j]) lo[j] = v;
            if (v > hi[j]) hi[j] = v;
        }
}

typedef enum { FIT_STANDARD, FIT_MINMAX } fit_kind;

static nb_status scaler_fit(const char *fn, fit_kind kind, const nb_tensor *x, float lo, float hi,
                            nb_scaler *s) {
    if (!s) return nb_fail_status(NB_ERR_NULL, "%s: the scaler is NULL", fn);
    memset(s, 0, sizeof *s);
    if (kind == FIT_MINMAX && !(lo < hi && isfinite(lo) && isfinite(hi)))
        return nb_fail_status(NB_ERR_ARG, "%s: the range [%g, %g] is not finite and increasing", fn,
                              lo, hi);
    nb_tensor *c = rows_of(fn, x);
    if (!c) return nb_error_code();
    int64_t rows = x->shape[0], f = row_size(x);
    double *a = malloc((size_t)(f ? f : 1) * sizeof *a),
           *b = malloc((size_t)(f ? f : 1) * sizeof *b);
    bool ok = a && b;
    if (!ok) nb_fail(NB_ERR_MEMORY, "%s: out of memory", fn);
    if (ok && kind == FIT_STANDARD) column_moments(nb_ptr(c), rows, f, a, b);
    if (ok && kind == FIT_MINMAX) {
        column_range(nb_ptr(c), rows, f, a, b); /* a = min, b = max */
        for (int64_t j = 0; j < f; j++) {
            double range = b[j] - a[j];
            b[j] = range > 0 ? range / ((double)hi - lo) : 1.0;
            a[j] = a[j] - lo * b[j];
        }
    }
    ok = ok && scaler_new(fn, x, a, b, s);
    free(a);
    free(b);
    if (c != x) nb_free(c);
    return ok ? NB_OK : nb_error_code();
}

nb_status nb_standard_scaler_fit(const nb_tensor *x, nb_scaler *s) {
    return scaler_fit("nb_standard_scaler_fit", FIT_STANDARD, x, 0, 1, s);
}

nb_status nb_minmax_scaler_fit(const nb_tensor *x, float lo, float hi, nb_scaler *s) {
    return scaler_fit("nb_minmax_scaler_fit", FIT_MINMAX, x, lo, hi, s);
}

/* x [R, F...] -> same shape; inverse: x * scale + shift, else (x - shift) / scale */
static nb_tensor *scaler_map(const char *fn, const nb_scaler *s, const nb_tensor *x, bool inverse) {
    if (!s || !s->shift || !s->scale)
        return nb_fail(NB_ERR_NULL, "%s: the scaler is not fitted", fn);
    if (!x) return nb_fail_null(fn);
    if (!check_rows(fn, x)) return NULL;
    int64_t f = s->shift->numel;
    if (row_size(x) != f)
        return nb_fail(NB_ERR_SHAPE,
                       "%s: x %s has %lld features per row; the scaler was fitted on "
                       "%lld (shift %s)",
                       fn, nb_shape_s(x), (long long)row_size(x), (long long)f,
                       nb_shape_s(s->shift));
    nb_tensor *out = nb_tensor_new(fn, x->shape, x->ndim);
    nb_tensor *c = out ? rows_of(fn, x) : NULL;
    if (!c) {
        nb_free(out);
        return NULL;
    }
    const float *src = nb_ptr(c), *shift = nb_ptr(s->shift), *scale = nb_ptr(s->scale);
    float *dst = nb_ptr(out);
    for (int64_t i = 0; i < x->shape[0]; i++)
        for (int64_t j = 0; j < f; j++) {
            double v = src[i * f + j];
            dst[i * f + j] = (float)(inverse ? v * scale[j] + shift[j] : (v - shift[j]) / scale[j]);
        }
    if (c != x) nb_free(c);
    return out;
}

nb_tensor *nb_scaler_transform(const nb_scaler *s, const nb_tensor *x) {
    return scaler_map("nb_scaler_transform", s, x, false);
}

nb_tensor *nb_scaler_inverse(const nb_scaler *s, const nb_tensor *x) {
    return scaler_map("nb_scaler_inverse", s, x, true);
}

/* ---- labels ---------------------------------------------------------------------------- */
/* y [...] -> [..., K] */
nb_tensor *nb_to_categorical(const nb_tensor *y, int n_classes) {
    if (!y) return nb_fail_null("nb_to_categorical");
    if (y->ndim >= NB_MAX_DIMS)
        return nb_fail(NB_ERR_SHAPE, "nb_to_categorical: y %s has no room for a class axis",
                       nb_shape_s(y));
    int64_t k = n_classes;
    for (int64_t i = 0; i < y->numel; i++) {
        float v = nb_get_flat(y, i);
        if (!(v >= 0) || v != floorf(v) || v >= (1 << 24))
            return nb_fail(NB_ERR_ARG,
                           "nb_to_categorical: label %g at index %lld is not a class id (a whole "
                           "number from 0)",
                           v, (long long)i);
        if (n_classes > 0 && v >= n_classes)
            return nb_fail(NB_ERR_ARG,
                           "nb_to_categorical: label %g at index %lld is not in 0..%d (n_classes "
                           "is %d)",
                           v, (long long)i, n_classes - 1, n_classes);
        if (n_classes <= 0 && v + 1 > k) k = (int64_t)v + 1;
    }
    if (k <= 0)
        return nb_fail(NB_ERR_ARG, "nb_to_categorical: no labels to count the classes from");
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, y->shape, sizeof shape);
    shape[y->ndim] = k;
    nb_tensor *out = nb_tensor_new("nb_to_categorical", shape, y->ndim + 1);
    if (!out) return NULL;
    memset(nb_ptr(out), 0, (size_t)out->numel * sizeof(float));
    for (int64_t i = 0; i < y->numel; i++) nb_ptr(out)[i * k + (int64_t)nb_get_flat(y, i)] = 1.0f;
    return out;
}

/* ---- stratified split ----------------------------------------------------------------
 * Three steps: part sizes from the fractions (largest remainder); the table of
 * class-by-part counts, each cell the floor or the ceiling of
 * n_class * size / n with rows and columns adding up exactly (a controlled
 * rounding, found as a small flow); then each class's rows, permuted, dealt to
 * the parts by that table. */
#define SPLIT_MAX_PARTS 16
#define SPLIT_MAX_CLASS (1 << 24)

/* the class ids of y as integers; K = largest + 1 */
static int64_t *class_ids(const nb_tensor *y, int64_t n, int64_t *k) {
    int64_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids)
        return nb_fail(NB_ERR_MEMORY, "nb_stratified_split: out of memory for %lld labels",
                       (long long)n);
    *k = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = nb_get_flat(y, i);
        if (!(v >= 0 && v < SPLIT_MAX_CLASS) || v != floorf(v)) {
            free(ids);
            return nb_fail(NB_ERR_ARG,
                           "nb_stratified_split: y[%lld] = %g is not a class id (0, 1, 2, ...)",
                           (long long)i, (double)v);
        }
        ids[i] = (int64_t)v;
        if (ids[i] + 1 > *k) *k = ids[i] + 1;
    }
    return ids;
}

/* sizes[p] = fractions[p] * n rounded so that they add up to n */
static bool part_sizes(const double *fractions, int parts, int64_t n, int64_t *sizes) {
    double sum = 0, rest[SPLIT_MAX_PARTS];
    int64_t given = 0;
    for (int p = 0; p < parts; p++) {
        if (!(fractions[p] >= 0 && fractions[p] <= 1))
            return nb_fail(NB_ERR_ARG, "nb_stratified_split: fraction %d is %g, not in [0, 1]", p,
                           fractions[p]),
                   false;
        sum += fractions[p];
        double share = fractions[p] * (double)n;
        sizes[p] = (int64_t)floor(share);
        rest[p] = share - (double)sizes[p];
        given += sizes[p];
    }
    if (fabs(sum - 1) > 1e-6)
        return nb_fail(NB_ERR_ARG, "nb_stratified_split: the fractions add up to %g, not 1", sum),
               false;
    for (; given < n; given++) {
        int best = 0;
        for (int p = 1; p < parts; p++)
            if (rest[p] > rest[best]) best = p;
        sizes[best]++, rest[best] = -1;
    }
    for (int p = 0; p < parts; p++)
        if (fractions[p] > 0 && sizes[p] == 0)
            return nb_fail(NB_ERR_ARG,
                           "nb_stratified_split: %lld rows leave part %d (fraction %g) empty",
                           (long long)n, p, fractions[p]),
                   false;
    return true;
}

/* One more row for cell (c, p) of the table along an augmenting path from
 * class c: class -> part by a cell that may still grow, part -> class by a
 * cell that grew (giving it back). parent[] holds the path, -1 unvisited. */
static bool augment(int64_t c0, int64_t k, int parts, const bool *can_grow, bool *grew,
                    int64_t *demand, int64_t *queue, int64_t *parent) {
    int64_t nodes = k + parts, head = 0, tail = 0;
    for (int64_t i = 0; i < nodes; i++) parent[i] = -1;
    queue[tail++] = c0, parent[c0] = c0;
    while (head < tail) {
        int64_t v = queue[head++];
        if (v < k) {
            for (int p = 0; p < parts; p++) {
                int64_t u = k + p;
                if (parent[u] >= 0 || !can_grow[v * parts + p] || grew[v * parts + p]) continue;
                parent[u] = v;
                if (demand[p] > 0) {
                    demand[p]--;
                    for (int64_t w = u; w != c0;) { /* flip the path's cells */
                        int64_t prev = parent[w];
                        if (w >= k)
                            grew[prev * parts + (w - k)] = true;
                        else
                            grew[w * parts + (prev - k)] = false;
                        w = prev;
                    }
                    return true;
                }
                queue[tail++] = u;
            }
        } else {
            int p = (int)(v - k);
            for (int64_t c = 0; c < k; c++)
                if (parent[c] < 0 && grew[c * parts + p]) parent[c] = v, queue[tail++] = c;
        }
    }
    return false;
}

/* table[c * parts + p]: rows of class c that go to part p */
static bool split_table(const int64_t *per_class, int64_t k, const int64_t *sizes, int parts,
                        int64_t n, int64_t *table) {
    size_t cells = (size_t)k * (size_t)parts;
    bool *can_grow = calloc(cells, sizeof *can_grow), *grew = calloc(cells, sizeof *grew);
    int64_t *queue = malloc((size_t)(k + parts) * sizeof *queue);
    int64_t *parent = malloc((size_t)(k + parts) * sizeof *parent), demand[SPLIT_MAX_PARTS];
    bool ok = can_grow && grew && queue && parent;
    if (!ok)
        nb_fail(NB_ERR_MEMORY, "nb_stratified_split: out of memory for %lld classes", (long long)k);
    for (int p = 0; ok && p < parts; p++) {
        demand[p] = sizes[p];
        for (int64_t c = 0; c < k; c++) {
            int64_t share = per_class[c] * sizes[p]; /* both <= n < 2^31 here */
            table[c * parts + p] = share / n;
            can_grow[c * parts + p] = share % n != 0;
            demand[p] -= share / n;
        }
    }
    for (int64_t c = 0; ok && c < k; c++) {
        int64_t supply = per_class[c];
        for (int p = 0; p < parts; p++) supply -= table[c * parts + p];
        for (; ok && supply > 0; supply--)
            ok = augment(c, k, parts, can_grow, grew, demand, queue, parent);
        if (!ok)
            nb_fail(NB_ERR_ARG, "nb_stratified_split: no rounding found for class %lld",
                    (long long)c);
    }
    for (size_t i = 0; ok && i < cells; i++) table[i] += grew[i];
    free(can_grow), free(grew), free(queue), free(parent);
    return ok;
}

/* rows sorted by class, each class in random order; start[c] = first row of class c */
static int64_t *rows_by_class(const int64_t *ids, int64_t n, const int64_t *per_class, int64_t k,
                              int64_t *start) {
    int64_t *rows = malloc((size_t)n * sizeof *rows), *perm = malloc((size_t)n * sizeof *perm);
    int64_t *fill = malloc((size_t)k * sizeof *fill);
    if (!rows || !perm || !fill) {
        free(rows), free(perm), free(fill);
        return nb_fail(NB_ERR_MEMORY, "nb_stratified_split: out of memory for %lld rows",
                       (long long)n);
    }
    for (int64_t c = 0, at = 0; c < k; at += per_class[c], c++) start[c] = fill[c] = at;
    for (int64_t i = 0; i < n; i++) rows[fill[ids[i]]++] = i;
    for (int64_t c = 0; c < k; c++) {
        int64_t m = per_class[c], *r = rows + start[c];
        if (m < 2) continue;
        nb_permutation(perm, m);
        for (int64_t i = 0; i < m; i++) perm[i] = r[perm[i]];
        memcpy(r, perm, (size_t)m * sizeof *r);
    }
    free(perm), free(fill);
    return rows;
}

/* order[..] = the dealt rows, each part shuffled so its classes are mixed */
static bool deal(const int64_t *rows, const int64_t *start, const int64_t *table, int64_t k,
                 const int64_t *sizes, int parts, int64_t n, int64_t *order) {
    int64_t at[SPLIT_MAX_PARTS], *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) return nb_fail(NB_ERR_MEMORY, "nb_stratified_split: out of memory"), false;
    int64_t sum = 0;
    for (int p = 0; p < parts; sum += sizes[p], p++) at[p] = sum;
    for (int64_t c = 0; c < k; c++) {
        const int64_t *r = rows + start[c];
        for (int p = 0; p < parts; p++)
            for (int64_t i = 0; i < table[c * parts + p]; i++) order[at[p]++] = *r++;
    }
    sum = 0;
    for (int p = 0; p < parts; sum += sizes[p], p++) {
        int64_t *part = order + sum;
        if (sizes[p] < 2) continue;
        nb_permutation(perm, sizes[p]);
        for (int64_t i = 0; i < sizes[p]; i++) perm[i] = part[perm[i]];
        memcpy(part, perm, (size_t)sizes[p] * sizeof *part);
    }
    free(perm);
    return true;
}

nb_status nb_stratified_split(const nb_tensor *y, const double *fractions, int n_parts,
                              int64_t *order, int64_t *counts) {
    if (!y || !fractions || !order || !counts)
        return nb_fail_status(NB_ERR_NULL,
                              "nb_stratified_split: y, fractions, order and counts are "
                              "required");
    if (n_parts < 1 || n_parts > SPLIT_MAX_PARTS)
        return nb_fail_status(NB_ERR_ARG, "nb_stratified_split: %d parts (1 to %d)", n_parts,
                              SPLIT_MAX_PARTS);
    int64_t n = y->ndim >= 1 ? y->shape[0] : 0;
    if (y->ndim < 1 || n < 1 || nb_numel(y) != n || n > INT32_MAX)
        return nb_fail_status(NB_ERR_SHAPE,
                              "nb_stratified_split: y is %s; expected [N] labels, 1 <= N < 2^31",
                              nb_shape_s(y));
    int64_t k = 0, *ids = class_ids(y, n, &k);
    if (!ids) return nb_error_code();
    int64_t *per_class = calloc((size_t)k, sizeof *per_class), *start = NULL, *rows = NULL;
    int64_t *table = per_class ? malloc((size_t)k * (size_t)n_parts * sizeof *table) : NULL;
    bool ok = table != NULL;
    if (!ok)
        nb_fail(NB_ERR_MEMORY, "nb_stratified_split: out of memory for %lld classes", (long long)k);
    for (int64_t i = 0; ok && i < n; i++) per_class[ids[i]]++;
    ok = ok && part_sizes(fractions, n_parts, n, counts) &&
         split_table(per_class, k, counts, n_parts, n, table);
    if (ok && !(start = malloc((size_t)k * sizeof *start))) {
        nb_fail(NB_ERR_MEMORY, "nb_stratified_split: out of memory");
        ok = false;
    }
    if (ok) ok = (rows = rows_by_class(ids, n, per_class, k, start)) != NULL;
    ok = ok && deal(rows, start, table, k, counts, n_parts, n, order);
    free(ids), free(per_class), free(table), free(start), free(rows);
    return ok ? NB_OK : nb_error_code();
}
