/* Named datasets: the files Debian packages ship, read with the generic
 * readers and labelled with what their layout says.
 *
 * scikit-learn's CSVs (python3-sklearn, /usr/lib/python3/dist-packages/
 * sklearn/datasets/data) come in three layouts:
 *   iris.csv, wine_data.csv, breast_cancer.csv   first line "n_samples,n_features,class names..."
 *   boston_house_prices.csv                      first line "506,13,,,...", then column names
 *   digits.csv.gz, diabetes_*.csv.gz             no header (diabetes: space-separated, the
 *                                                target in its own file)
 * Fashion-MNIST (dataset-fashion-mnist, /usr/share/datasets/fashion-mnist)
 * is four gzipped IDX files.
 */
#include "data_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SKLEARN_DIR "/usr/lib/python3/dist-packages/sklearn/datasets/data"
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define SKLEARN_PKG "python3-sklearn"
#define FASHION_PKG "dataset-fashion-mnist"
#define MAX_META    4096 /* the first line of a scikit-learn CSV */

static const char *const fashion_classes[] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                              "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};
static const char *const digit_classes[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
static const char *const diabetes_features[] = {"age", "sex", "bmi", "bp", "s1",
                                                "s2",  "s3",  "s4",  "s5", "s6"};

/* ---- files ------------------------------------------------------------------------------- */
typedef struct {
    const char *env, *dir, *package;
} file_home;

static const file_home sklearn_home = {"NABLA_SKLEARN_DATA", SKLEARN_DIR, SKLEARN_PKG};
static const file_home fashion_home = {"NABLA_FASHION_MNIST", FASHION_DIR, FASHION_PKG};

/* dir/file into path; the directory comes from the environment if set */
static bool file_path(const file_home *h, const char *file, char *path, size_t cap) {
    const char *dir = getenv(h->env);
    if (!dir || !*dir) dir = h->dir;
    return (size_t)snprintf(path, cap, "%s/%s", dir, file) < cap;
}

/* path of an existing file, or an error naming the package to install */
static bool find_file(const char *name, const file_home *h, const char *file, char *path,
                      size_t cap) {
    if (!file_path(h, file, path, cap))
        return nb_fail(NB_ERR_IO, "nb_dataset_load: %s: the path of %s is too long", name, file),
               false;
    if (access(path, R_OK) == 0) return true;
    return nb_fail(NB_ERR_IO,
                   "nb_dataset_load: %s: %s not found; install Debian's %s "
                   "(apt-get install %s) or set %s to a directory holding %s",
                   name, path, h->package, h->package, h->env, file),
           false;
}

static bool exists(const file_home *h, const char *file) {
    char path[4096];
    return file_path(h, file, path, sizeof path) && access(path, R_OK) == 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

/* Every y is a whole number in 0..k-1. */
static bool check_labels(const char *path, const nb_tensor *y, int k) {
    for (int64_t i = 0; i < nb_numel(y); i++) {
        float v = nb_get_flat(y, i);
        if (!(v >= 0 && v < k && v == (float)(int)v))
            return nb_fail(NB_ERR_FORMAT,
                           "nb_dataset_load: %s: label %g of sample %lld is not a "
                           "class id in 0..%d",
                           path, v, (long long)i, k - 1),
                   false;
    }
    return true;
}

static nb_status fail_free(nb_dataset *out) {
    nb_status code = nb_error_code();
    nb_free(out->x);
    nb_free(out->y);
    nb_dataset_free(out);
    return code ? code : NB_ERR_FORMAT;
}

/* ---- scikit-learn's "n_samples,n_features,names..." first line ------------------------ */
typedef struct {
    int64_t n, f;
    int k;
    char *cells[64]; /* class names (the rest of the line), heap copies */
} sk_meta;

static void meta_free(sk_meta *m) {
    for (int i = 0; i < m->k; i++) free(m->cells[i]);
    m->k = 0;
}

/* "150,4,setosa,versicolor,virginica"; empty names ("506,13,,,") are dropped */
static bool parse_meta(const nb_src *s, char *line, sk_meta *m) {
    char *field = line, *comma;
    int col = 0;
    memset(m, 0, sizeof *m);
    for (; field; field = comma ? comma + 1 : NULL, col++) {
        comma = strchr(field, ',');
        if (comma) *comma = '\0';
        char *end;
        if (col < 2) {
            long long v = strtoll(field, &end, 10);
            if (end == field || *end || v <= 0)
                return nb_src_fail(s, field - line, NB_ERR_FORMAT,
                                   "expected scikit-learn's first line \"n_samples,n_features,"
                                   "class names...\""),
                       false;
            *(col ? &m->f : &m->n) = v;
        } else if (*field && m->k < 64) {
            if (!(m->cells[m->k] = strdup(field)))
                return nb_fail(NB_ERR_MEMORY, "nb_dataset_load: out of memory"), false;
            m->k++;
        }
    }
    if (col < 2)
        return nb_src_fail(s, 0, NB_ERR_FORMAT,
                           "expected scikit-learn's first line \"n_samples,n_features,...\""),
               false;
    return true;
}

static bool read_meta(const char *path, sk_meta *m) {
    nb_src s;
    memset(m, 0, sizeof *m);
    if (!nb_src_open(&s, "nb_dataset_load", path)) return false;
    char line[MAX_META + 1];
    int64_t got = nb_src_read(&s, line, MAX_META);
    nb_src_close(&s);
    if (got < 0) return false;
    line[got] = '\0';
    char *nl = strpbrk(line, "\r\n");
    if (!nl)
        return nb_src_fail(&s, got, NB_ERR_FORMAT, "no end of the first line in %d bytes",
                           MAX_META),
               false;
    *nl = '\0';
    if (parse_meta(&s, line, m)) return true;
    meta_free(m);
    return false;
}

/* The CSV's shape against its first line. */
static bool check_shape(const char *path, const nb_dataset *ds, const sk_meta *m) {
    if (nb_dim(ds->x, 0) == m->n && nb_dim(ds->x, 1) == m->f) return true;
    return nb_fail(NB_ERR_FORMAT,
                   "nb_dataset_load: %s: the first line says %lld samples of %lld "
                   "features but the file holds x %s",
                   path, (long long)m->n, (long long)m->f, nb_shape_s(ds->x)),
           false;
}

/* iris, wine, breast_cancer: the first line gives the shape and the class names */
static nb_status load_classified_csv(const char *name, const char *file, nb_dataset *out) {
    memset(out, 0, sizeof *out);
    char path[4096];
    sk_meta m;
    if (!find_file(name, &sklearn_home, file, path, sizeof path) || !read_meta(path, &m))
        return nb_error_code();
    if (m.k < 2) {
        nb_fail_status(NB_ERR_FORMAT,
                       "nb_dataset_load: %s: the first line names %d classes; at least 2 "
                       "expected",
                       path, m.k);
        meta_free(&m);
        return NB_ERR_FORMAT;
    }
    nb_csv_opts o = {.skip_lines = 1, .labels = NB_LABELS_NUMERIC};
    bool ok = nb_load_csv(path, &o, out) == NB_OK && check_shape(path, out, &m) &&
              check_labels(path, out->y, m.k);
    if (ok) {
        out->n_classes = m.k;
        out->class_names = nb_copy_strings("nb_dataset_load", (const char *const *)m.cells, m.k);
        ok = out->class_names != NULL;
    }
    meta_free(&m);
    return ok ? NB_OK : fail_free(out);
}

/* boston: "506,13,,,..." then a line of quoted column names */
static nb_status load_boston(const char *name, nb_dataset *out) {
    memset(out, 0, sizeof *out);
    char path[4096];
    sk_meta m;
    if (!find_file(name, &sklearn_home, "boston_house_prices.csv", path, sizeof path) ||
        !read_meta(path, &m))
        return nb_error_code();
    nb_csv_opts o = {.skip_lines = 1, .header = true, .labels = NB_LABELS_NUMERIC};
    bool ok = nb_load_csv(path, &o, out) == NB_OK && check_shape(path, out, &m);
    meta_free(&m);
    return ok ? NB_OK : fail_free(out);
}

static nb_status load_digits(const char *name, nb_dataset *out) {
    memset(out, 0, sizeof *out);
    char path[4096];
    if (!find_file(name, &sklearn_home, "digits.csv.gz", path, sizeof path)) return nb_error_code();
    nb_csv_opts o = {.labels = NB_LABELS_NUMERIC};
    bool ok = nb_load_csv(path, &o, out) == NB_OK && check_labels(path, out->y, 10);
    if (ok) {
        out->n_classes = 10;
        out->class_names = nb_copy_strings("nb_dataset_load", digit_classes, 10);
        ok = out->class_names != NULL;
    }
    return ok ? NB_OK : fail_free(out);
}

/* [N, 1] -> a new [N] */
static nb_tensor *column_vector(nb_tensor *t) {
    nb_tensor *v = nb_empty(NB_SHAPE(nb_dim(t, 0)));
    if (v) memcpy(nb_data(v), nb_data(t), (size_t)nb_numel(v) * sizeof(float));
    return v;
}

/* x from diabetes_data_raw.csv.gz, y from diabetes_target.csv.gz (one number a line) */
static nb_status load_diabetes(const char *name, nb_dataset *out) {
    memset(out, 0, sizeof *out);
    char xpath[4096], ypath[4096];
    if (!find_file(name, &sklearn_home, "diabetes_data_raw.csv.gz", xpath, sizeof xpath) ||
        !find_file(name, &sklearn_home, "diabetes_target.csv.gz", ypath, sizeof ypath))
        return nb_error_code();
    nb_dataset target = {0};
    nb_csv_opts o = {.delimiter = ' ', .label_column = -1};
    bool ok = nb_load_csv(xpath, &o, out) == NB_OK && nb_load_csv(ypath, &o, &target) == NB_OK;
    if (ok && (nb_dim(out->x, 1) != 10 || nb_dim(target.x, 1) != 1 ||
               nb_dim(target.x, 0) != nb_dim(out->x, 0))) {
        nb_fail(NB_ERR_FORMAT,
                "nb_dataset_load: %s: expected 10 features and one target per sample; found x %s "
                "and targets %s",
                ypath, nb_shape_s(out->x), nb_shape_s(target.x));
        ok = false;
    }
    if (ok) ok = (out->y = column_vector(target.x)) != NULL;
    nb_free(target.x);
    nb_dataset_free(&target);
    if (ok)
        ok = (out->feature_names = nb_copy_strings("nb_dataset_load", diabetes_features, 10)) !=
             NULL;
    return ok ? NB_OK : fail_free(out);
}

/* images scaled to [0, 1], labels 0..9 */
static nb_status load_fashion(const char *name, bool train, nb_dataset *out) {
    memset(out, 0, sizeof *out);
    char xpath[4096], ypath[4096];
    const char *xfile = train ? "train-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte.gz";
    const char *yfile = train ? "train-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte.gz";
    if (!find_file(name, &fashion_home, xfile, xpath, sizeof xpath) ||
        !find_file(name, &fashion_home, yfile, ypath, sizeof ypath))
        return nb_error_code();
    out->x = nb_load_idx(xpath, true);
    out->y = out->x ? nb_load_idx(ypath, false) : NULL;
    bool ok = out->y != NULL;
    if (ok &&
        (nb_ndim(out->x) != 3 || nb_ndim(out->y) != 1 || nb_dim(out->x, 0) != nb_dim(out->y, 0))) {
        nb_fail(NB_ERR_FORMAT,
                "nb_dataset_load: %s: expected images [N, H, W] and labels [N]; found %s and %s",
                name, nb_shape_s(out->x), nb_shape_s(out->y));
        ok = false;
    }
    ok = ok && check_labels(ypath, out->y, 10);
    if (ok) {
        out->n_features = nb_dim(out->x, 1) * nb_dim(out->x, 2);
        out->n_classes = 10;
        ok = (out->class_names = nb_copy_strings("nb_dataset_load", fashion_classes, 10)) &&
             (out->source = nb_strdup_checked("nb_dataset_load", xpath));
    }
    return ok ? NB_OK : fail_free(out);
}

/* sklearn's file when installed (it must then be well-formed), else the embedded copy */
static nb_status load_iris(const char *name, nb_dataset *out) {
    if (!exists(&sklearn_home, "iris.csv")) return nb_embedded_iris(out);
    nb_status st = load_classified_csv(name, "iris.csv", out);
    if (st == NB_OK &&
        !(out->feature_names = nb_copy_strings("nb_dataset_load", nb_iris_feature_names, 4)))
        st = fail_free(out);
    return st;
}

/* ---- the registry ------------------------------------------------------------------------ */
typedef enum {
    XOR,
    IRIS,
    WINE,
    BREAST_CANCER,
    DIGITS,
    DIABETES,
    BOSTON,
    FASHION,
    FASHION_TEST
} which;

typedef struct {
    const char *name;
    which id;
    const file_home *home; /* NULL: embedded */
    const char *files[2];
} named;

static const named registry[] = {
    {"xor", XOR, NULL, {NULL, NULL}},
    {"iris", IRIS, NULL, {NULL, NULL}},
    {"wine", WINE, &sklearn_home, {"wine_data.csv", NULL}},
    {"breast_cancer", BREAST_CANCER, &sklearn_home, {"breast_cancer.csv", NULL}},
    {"digits", DIGITS, &sklearn_home, {"digits.csv.gz", NULL}},
    {"diabetes", DIABETES, &sklearn_home, {"diabetes_data_raw.csv.gz", "diabetes_target.csv.gz"}},
    {"boston", BOSTON, &sklearn_home, {"boston_house_prices.csv", NULL}},
    {"fashion-mnist",
     FASHION,
     &fashion_home,
     {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}},
    {"fashion-mnist-test",
     FASHION_TEST,
     &fashion_home,
     {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}},
};
#define N_NAMED ((int)(sizeof registry / sizeof registry[0]))

const char *const *nb_dataset_names(void) {
    static const char *const names[] = {
        "xor",      "iris",   "wine",          "breast_cancer",      "digits",
        "diabetes", "boston", "fashion-mnist", "fashion-mnist-test", NULL};
    return names;
}

bool nb_dataset_same_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a == '-' ? '_' : (char)tolower((unsigned char)*a);
        char y = *b == '-' ? '_' : (char)tolower((unsigned char)*b);
        if (x != y) return false;
    }
    return *a == *b;
}

static const named *lookup(const char *name) {
    for (int i = 0; name && i < N_NAMED; i++)
        if (nb_dataset_same_name(name, registry[i].name)) return &registry[i];
    return NULL;
}

nb_status nb_dataset_load(const char *name, nb_dataset *out) {
    if (!out) return nb_fail_status(NB_ERR_NULL, "nb_dataset_load: out is NULL");
    memset(out, 0, sizeof *out);
    const named *d = lookup(name);
    if (!d)
        return nb_fail_status(NB_ERR_ARG,
                              "nb_dataset_load: unknown dataset \"%s\"; known: xor, iris, wine, "
                              "breast_cancer, digits, diabetes, boston, fashion-mnist, "
                              "fashion-mnist-test",
                              name ? name : "(null)");
    switch (d->id) {
    case XOR:
        return nb_embedded_xor(out);
    case IRIS:
        return load_iris(d->name, out);
    case WINE:
        return load_classified_csv(d->name, "wine_data.csv", out);
    case BREAST_CANCER:
        return load_classified_csv(d->name, "breast_cancer.csv", out);
    case DIGITS:
        return load_digits(d->name, out);
    case DIABETES:
        return load_diabetes(d->name, out);
    case BOSTON:
        return load_boston(d->name, out);
    case FASHION:
        return load_fashion(d->name, true, out);
    case FASHION_TEST:
        return load_fashion(d->name, false, out);
    }
    return nb_fail_status(NB_ERR_ARG, "nb_dataset_load: no loader for \"%s\"", name);
}

bool nb_dataset_available(const char *name) {
    const named *d = lookup(name);
    if (!d) return false;
    for (int i = 0; d->home && i < 2; i++)
        if (d->files[i] && !exists(d->home, d->files[i])) return false;
    return true;
}
