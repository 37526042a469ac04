/* model.summary(), laid out as Keras prints it (65 columns, wider for long cells):
 *
 *   Model: "sequential"
 *   _________________________________________________________________
 *    Layer (type)                Output Shape              Param #
 *   =================================================================
 *    dense (Dense)               (None, 100)               78500
 *
 *    dense_1 (Dense)             (None, 10)                1010
 *
 *   =================================================================
 *   Total params: 79,510 (310.59 KB)
 *   Trainable params: 79,510 (310.59 KB)
 *   Non-trainable params: 0 (0.00 Byte)
 *   _________________________________________________________________
 *
 * A Dense layer has in * out + out params (each of its out neurons has one
 * weight per input and one bias); lines carry no trailing spaces.
 */
#include "nn_internal.h"

#include <string.h>

/* Keras's columns for a sequential model end at 29, 55 and 65; a longer
 * cell widens its column (for every row, so the columns stay aligned and the
 * rules as wide as the table), keeping one space between cells. */
enum { NAME_W = 29, SHAPE_W = 26, PARAMS_W = 10, CELL_LEN = 200 };

typedef struct {
    int name, shape, params, line;
} widths;

typedef struct {
    char name[CELL_LEN], shape[CELL_LEN], params[32];
} row_cells;

static void layer_cells(const nb_layer *l, row_cells *r) {
    snprintf(r->name, sizeof r->name, " %s (%s)", l->name, l->ops->type);
    nb_layer_shape_str(l->out_shape, l->out_ndim, r->shape, sizeof r->shape);
    snprintf(r->params, sizeof r->params, "%lld", (long long)nb_layer_param_count(l));
}

static int at_least(int w, const char *text, int gap) {
    int len = (int)strlen(text) + gap;
    return len > w ? len : w;
}

static widths column_widths(const nb_model *m) {
    widths w = {NAME_W, SHAPE_W, PARAMS_W, 0};
    for (int i = 0; i < m->n_layers; i++) {
        row_cells r;
        layer_cells(m->layers[i], &r);
        w.name = at_least(w.name, r.name, 1);
        w.shape = at_least(w.shape, r.shape, 1);
        w.params = at_least(w.params, r.params, 0);
    }
    w.line = w.name + w.shape + w.params;
    return w;
}

/* cells padded to their columns; no trailing spaces */
static void print_row(FILE *f, const widths *w, const char *name, const char *shape,
                      const char *params) {
    fprintf(f, "%-*s%-*s%s\n", w->name, name, w->shape, shape, params);
}

static void rule(FILE *f, const widths *w, char c) {
    for (int i = 0; i < w->line; i++) fputc(c, f);
    fputc('\n', f);
}

/* 79510 -> "79,510" */
static void with_commas(int64_t v, char *buf, size_t size) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)v), k = 0;
    for (int i = 0; i < n && (size_t)k + 2 < size; i++) {
        if (i > 0 && digits[i - 1] != '-' && (n - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
}

/* Keras's memory size of float32 weights: "310.59 KB", "0.00 Byte" */
static void memory_size(int64_t params, char *buf, size_t size) {
    static const char *units[] = {"Byte", "KB", "MB", "GB", "TB"};
    double bytes = (double)params * 4.0;
    int u = 0;
    while (bytes >= 1024.0 && u < 4) bytes /= 1024.0, u++;
    snprintf(buf, size, "%.2f %s", bytes, units[u]);
}

static void total_line(FILE *f, const char *what, int64_t count) {
    char n[40], mem[40];
    with_commas(count, n, sizeof n);
    memory_size(count, mem, sizeof mem);
    fprintf(f, "%s params: %s (%s)\n", what, n, mem);
}

nb_status nb_model_summary(const nb_model *m, FILE *f) {
    if (!m || !f) return nb_fail_status(NB_ERR_NULL, "nb_model_summary: model or file is NULL");
    widths w = column_widths(m);
    fprintf(f, "Model: \"%s\"\n", m->name);
    rule(f, &w, '_');
    print_row(f, &w, " Layer (type)", "Output Shape", "Param #");
    rule(f, &w, '=');
    for (int i = 0; i < m->n_layers; i++) {
        row_cells r;
        layer_cells(m->layers[i], &r);
        print_row(f, &w, r.name, r.shape, r.params);
        fputc('\n', f);
    }
    rule(f, &w, '=');
    int64_t total = nb_model_param_count(m), trainable = nb_model_trainable_count(m);
    total_line(f, "Total", total);
    total_line(f, "Trainable", trainable);
    total_line(f, "Non-trainable", total - trainable);
    rule(f, &w, '_');
    return ferror(f) ? nb_fail_status(NB_ERR_IO, "nb_model_summary: writing failed") : NB_OK;
}
