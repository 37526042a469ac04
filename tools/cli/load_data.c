/* The data a nabla command trains or scores on: a named set or a CSV file,
 * split into train / validation / test the same way every time for a seed. */
#include "cli.h"
#include "tools/data/data_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static bool is_named_set(const char *name) {
    for (const char *const *n = nb_dataset_names(); *n; n++)
        if (nb_dataset_same_name(name, *n)) return true;
    return false;
}

static bool is_fashion(const cli_data *d) {
    return nb_dataset_same_name(d->name, "fashion-mnist");
}

/* the cells of the CSV's first line (gzip or plain), at most max of them */
static int first_line_cells(const char *path, char cells[][64], int max) {
    char line[8192];
    gzFile f = gzopen(path, "rb");
    if (!f || !gzgets(f, line, sizeof line)) {
        if (f) gzclose(f);
        return 0;
    }
    gzclose(f);
    int n = 0;
    for (char *p = line; n < max;) {
        size_t len = strcspn(p, ",\r\n");
        char *cell = p;
        while (len && isspace((unsigned char)*cell)) cell++, len--;
        while (len && isspace((unsigned char)cell[len - 1])) len--;
        if (len && *cell == '"' && cell[len - 1] == '"') cell++, len -= len > 1 ? 2 : 1;
        snprintf(cells[n++], 64, "%.*s", (int)(len < 63 ? len : 63), cell);
        p += strcspn(p, ",\r\n");
        if (*p != ',') break;
        p++;
    }
    return n;
}

static bool is_number(const char *s) {
    char *end;
    if (!*s) return false;
    strtod(s, &end);
    return *end == '\0';
}

/* the label column (1-based) and whether the first line is a header */
static bool csv_layout(const char *path, const char *label, nb_csv_opts *o) {
    static char cells[1024][64];
    int n = first_line_cells(path, cells, 1024), col = n;
    if (n < 2) {
        fprintf(stderr, "error: %s: cannot read a first line of at least two cells\n", path);
        return false;
    }
    if (label && *label) {
        long long c = 0;
        col = 0;
        for (int i = 0; i < n && !col; i++)
            if (!strcmp(cells[i], label)) col = i + 1;
        if (!col && (!is_number(label) || !cli_long("--label", label, 1, n, &c))) {
            if (!is_number(label))
                fprintf(stderr, "error: --label '%s': no such column in %s's first line\n", label,
                        path);
            return false;
        }
        if (!col) col = (int)c;
    }
    o->label_column = col;
    for (int i = 0; i < n; i++)
        if (i + 1 != col && !is_number(cells[i])) o->header = true;
    return true;
}

/* integral CSV labels 0, 1, 2, ... as class ids */
static bool numeric_classes(cli_data *d) {
    float top = -1;
    for (int64_t i = 0; i < nb_numel(d->all.y); i++) {
        float v = nb_get_flat(d->all.y, i);
        if (!(v >= 0 && v < 100000) || v != floorf(v)) {
            fprintf(stderr,
                    "error: %s: label %g (row %lld) is not a class id 0, 1, 2, ...; for values, "
                    "end the model with a linear layer\n",
                    d->name, (double)v, (long long)i + 1);
            return false;
        }
        if (v > top) top = v;
    }
    d->all.n_classes = (int)top + 1;
    return true;
}

bool cli_data_load(cli_data *d, const char *name, const char *label, bool classes) {
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->label, sizeof d->label, "%s", label ? label : "");
    nb_status s;
    if (is_named_set(name)) {
        s = nb_dataset_load(name, &d->all);
        if (s == NB_OK && is_fashion(d)) s = nb_dataset_load("fashion-mnist-test", &d->test_file);
    } else {
        nb_csv_opts o = {.labels = NB_LABELS_AUTO};
        if (!csv_layout(name, label, &o)) return false;
        s = nb_load_csv(name, &o, &d->all);
    }
    if (s != NB_OK) {
        fprintf(stderr, "error: %s\n", nb_error());
        if (!is_named_set(name) && !strchr(name, '.'))
            fprintf(stderr, "  (not a data set name either; nabla train --help lists them)\n");
        cli_data_free(d);
        return false;
    }
    d->classes = d->all.n_classes > 0;
    if (classes && !d->classes) {
        if (is_named_set(name)) {
            fprintf(stderr,
                    "error: %s holds values, not classes: end the model with a linear "
                    "layer (the loss is then mse)\n",
                    name);
            cli_data_free(d);
            return false;
        }
        if (!numeric_classes(d)) return cli_data_free(d), false;
        d->classes = true;
    }
    return true;
}

static bool take(cli_data *d, int part, const int64_t *rows, int64_t n) {
    d->n[part] = n;
    if (n == 0) return true;
    d->x[part] = nb_take_rows(d->all.x, rows, n);
    d->y[part] = nb_take_rows(d->all.y, rows, n);
    if (d->x[part] && d->y[part]) return true;
    fprintf(stderr, "error: %s\n", nb_error());
    return false;
}

bool cli_data_split(cli_data *d, uint64_t seed, double validation, double test) {
    int64_t n = nb_dim(d->all.x, 0);
    d->seed = seed;
    if (n < 10) { /* xor's 4 rows are all there is */
        d->fractions[0] = 1;
        d->x[0] = d->x[2] = d->all.x, d->y[0] = d->y[2] = d->all.y, d->n[0] = d->n[2] = n;
        return true;
    }
    if (is_fashion(d)) test = 0; /* it has its own test file */
    double f[3] = {1 - validation - test, validation, test};
    if (!(f[0] > 0)) {
        fprintf(stderr, "error: --validation-split %g and --test-split %g leave no training rows\n",
                validation, test);
        return false;
    }
    memcpy(d->fractions, f, sizeof f);
    int64_t *order = malloc((size_t)n * sizeof *order), counts[3];
    /* values have no classes to keep in proportion: one class is a seeded shuffle */
    nb_tensor *labels = d->classes ? d->all.y : nb_zeros(NB_SHAPE(n));
    nb_manual_seed(seed);
    bool ok = order && labels && nb_stratified_split(labels, f, 3, order, counts) == NB_OK;
    if (!ok) fprintf(stderr, "error: %s: %s\n", d->name, order ? nb_error() : "out of memory");
    ok = ok && take(d, 0, order, counts[0]) && take(d, 1, order + counts[0], counts[1]) &&
         take(d, 2, order + counts[0] + counts[1], counts[2]);
    if (ok && is_fashion(d)) {
        d->x[2] = d->test_file.x, d->y[2] = d->test_file.y, d->n[2] = nb_dim(d->test_file.x, 0);
        free(order); /* the test rows are not rows of all */
        order = NULL;
    }
    if (labels != d->all.y) nb_free(labels);
    d->order = order;
    return ok;
}

void cli_data_describe(const cli_data *d, FILE *f) {
    if (d->fractions[0] == 1) {
        fprintf(f, "data: %s has %lld rows: trains and tests on all of them\n", d->name,
                (long long)d->n[0]);
        return;
    }
    fprintf(f, "data: %s split %lld train, %lld validation, %lld test", d->name, (long long)d->n[0],
            (long long)d->n[1], (long long)d->n[2]);
    if (d->test_file.x)
        fprintf(f,
                " (the test file; train and validation stratified from the training file, "
                "seed %llu)\n",
                (unsigned long long)d->seed);
    else
        fprintf(f, " (%s, seed %llu, fractions %.2f/%.2f/%.2f)\n",
                d->classes ? "stratified" : "shuffled", (unsigned long long)d->seed,
                d->fractions[0], d->fractions[1], d->fractions[2]);
    if (d->target_deviation > 0)
        fprintf(f,
                "targets: mean %.4g, deviation %.4g in the training part; the model learns them "
                "standardized and its last layer (rescaling) maps back to their units\n",
                d->target_mean, d->target_deviation);
}

void cli_data_free(cli_data *d) {
    nb_dataset_free(&d->all);
    nb_dataset_free(&d->test_file);
    free(d->order);
    d->order = NULL;
}

void cli_shape_text(const nb_tensor *x, char *buf, size_t n) {
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 1; i < nb_ndim(x) && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, i > 1 ? "x%lld" : "%lld", (long long)nb_dim(x, i));
    if (nb_ndim(x) == 1) snprintf(buf, n, "1");
}

bool cli_data_standardize(cli_data *d) {
    if (is_fashion(d) || nb_ndim(d->x[0]) != 2) return true;
    if (nb_standard_scaler_fit(d->x[0], &d->scaler) != NB_OK) {
        fprintf(stderr, "error: %s\n", nb_error());
        return false;
    }
    d->standardized = true;
    for (int p = 0; p < 3; p++) {
        if (!d->x[p]) continue;
        if (!(d->x[p] = cli_data_scale(d, d->x[p]))) return false;
    }
    return true;
}

nb_tensor *cli_data_scale(const cli_data *d, nb_tensor *x) {
    if (!d->standardized) return x;
    nb_tensor *out = nb_scaler_transform(&d->scaler, x);
    if (!out) fprintf(stderr, "error: %s\n", nb_error());
    return out;
}

bool cli_data_subset(cli_data *d, int64_t n) {
    if (n <= 0 || n >= d->n[0]) return true;
    int64_t *rows = malloc((size_t)n * sizeof *rows);
    if (!rows) return fprintf(stderr, "error: out of memory\n"), false;
    for (int64_t i = 0; i < n; i++) rows[i] = i;
    d->x[0] = nb_take_rows(d->x[0], rows, n);
    d->y[0] = nb_take_rows(d->y[0], rows, n);
    d->n[0] = n;
    free(rows);
    if (d->x[0] && d->y[0]) return true;
    fprintf(stderr, "error: %s\n", nb_error());
    return false;
}

bool cli_data_add_channel(cli_data *d) {
    for (int p = 0; p < 3; p++) {
        nb_tensor *x = d->x[p];
        if (!x || nb_ndim(x) != 3) continue;
        d->x[p] = nb_reshape(x, (int64_t[]){nb_dim(x, 0), 1, nb_dim(x, 1), nb_dim(x, 2)}, 4);
        if (!d->x[p]) return fprintf(stderr, "error: %s\n", nb_error()), false;
    }
    return true;
}
