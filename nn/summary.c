/* model.summary(), laid out as Keras prints it (65 columns):
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

#define LINE_LEN 65
static const int columns[] = {29, 55, LINE_LEN}; /* where each column ends */

/* text, then spaces up to column end (at least one, to keep long cells apart) */
static int put_cell(char *line, int len, const char *text, int end) {
    len += sprintf(line + len, "%.160s", text);
    do line[len++] = ' ';
    while (len < end);
    line[len] = '\0';
    return len;
}

static void print_row(FILE *f, const char *name, const char *shape, const char *params) {
    char line[3 * 162 + LINE_LEN];
    int len = put_cell(line, 0, name, columns[0]);
    len = put_cell(line, len, shape, columns[1]);
    len = put_cell(line, len, params, columns[2]);
    while (len > 0 && line[len - 1] == ' ') line[--len] = '\0';
    fprintf(f, "%s\n", line);
}

static void rule(FILE *f, char c) {
    for (int i = 0; i < LINE_LEN; i++) fputc(c, f);
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
    if (!m || !f) return nb_failc(NB_ERR_NULL, "nb_model_summary: model or file is NULL");
    fprintf(f, "Model: \"%s\"\n", m->name);
    rule(f, '_');
    print_row(f, " Layer (type)", "Output Shape", "Param #");
    rule(f, '=');
    for (int i = 0; i < m->n_layers; i++) {
        const nb_layer *l = m->layers[i];
        char name[160], shape[160], params[32];
        snprintf(name, sizeof name, " %s (%s)", l->name, l->ops->type);
        nb_layer_shape_str(l->out_shape, l->out_ndim, shape, sizeof shape);
        snprintf(params, sizeof params, "%lld", (long long)nb_layer_param_count(l));
        print_row(f, name, shape, params);
        fputc('\n', f);
    }
    rule(f, '=');
    int64_t total = nb_model_param_count(m), trainable = nb_model_trainable_count(m);
    total_line(f, "Total", total);
    total_line(f, "Trainable", trainable);
    total_line(f, "Non-trainable", total - trainable);
    rule(f, '_');
    return ferror(f) ? nb_failc(NB_ERR_IO, "nb_model_summary: writing failed") : NB_OK;
}
