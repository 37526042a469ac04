/* CSV files of numbers with one optional label column.
 *
 * The file (gzip or plain) is read whole, then walked line by line. Every cell
 * is checked: a cell that is not a number is an error naming its line, column
 * and byte offset. Labels are either numbers or names; names are encoded as
 * 0..K-1 in the order they first appear, and the names are returned.
 */
#include "data_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_BYTES ((int64_t)1 << 30) /* keeps cell and column counts in int range */
#define CSV_MAX_CELL  (1 << 16)          /* bytes in one cell: no number or name is longer */

/* A growable array of n elements of one type. */
typedef struct {
    void *data;
    int64_t n, cap;
    size_t elem;
} vec;

static bool vec_push(vec *v, const void *x) {
    if (v->n == v->cap) {
        int64_t cap = v->cap ? v->cap * 2 : 256;
        void *d = realloc(v->data, (size_t)cap * v->elem);
        if (!d) return nb_fail(NB_ERR_MEMORY, "nb_load_csv: out of memory"), false;
        v->data = d;
        v->cap = cap;
    }
    memcpy((char *)v->data + (size_t)v->n * v->elem, x, v->elem);
    v->n++;
    return true;
}

/* ---- label names: an open-addressing table name -> id ------------------------------ */
typedef struct {
    char **names; /* by id */
    int64_t n, cap;
    int64_t *slots; /* id + 1, 0 = empty; 2 * cap of them */
} label_table;

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static bool table_grow(label_table *t) {
    int64_t cap = t->cap ? t->cap * 2 : 16;
    char **names = realloc(t->names, (size_t)cap * sizeof *names);
    if (!names) return false;
    t->names = names;
    int64_t *slots = calloc((size_t)(2 * cap), sizeof *slots);
    if (!slots) return false;
    for (int64_t id = 0; id < t->n; id++) {
        uint64_t i = hash(t->names[id]) % (uint64_t)(2 * cap);
        while (slots[i]) i = (i + 1) % (uint64_t)(2 * cap);
        slots[i] = id + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return true;
}

/* the id of name, adding it if new; -1 when out of memory */
static int64_t table_id(label_table *t, const char *name) {
    if (t->n == t->cap && !table_grow(t)) return -1;
    uint64_t i = hash(name) % (uint64_t)(2 * t->cap);
    for (; t->slots[i]; i = (i + 1) % (uint64_t)(2 * t->cap))
        if (!strcmp(t->names[t->slots[i] - 1], name)) return t->slots[i] - 1;
    char *copy = strdup(name);
    if (!copy) return -1;
    t->names[t->n] = copy;
    t->slots[i] = ++t->n;
    return t->n - 1;
}

static void table_free(label_table *t) {
    nb_free_strings(t->names, t->n);
    free(t->slots);
}

/* ---- cells ---------------------------------------------------------------------------- */
/* The parse state: the whole file, the current line and cell. */
typedef struct {
    nb_src *s;
    const char *buf;
    int64_t len;
    char delim;
    int64_t line;    /* 1-based number of the current line */
    int64_t p, end;  /* cursor and end of the current line (before "\r\n") */
    int64_t cell_at; /* byte offset of the current cell */
    char *cell;      /* its text, unquoted, NUL-terminated */
    size_t cell_len; /* its length (a stray NUL byte may sit inside) */
    size_t cell_cap;
    bool more; /* another cell follows on this line */
} csv;

static bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

/* padding around a cell: blanks, unless the blank is the delimiter itself */
static bool is_pad(const csv *c, char ch) {
    return is_blank(ch) && (c->delim == ' ' || ch != c->delim);
}

static bool cell_append(csv *c, size_t n, char ch) {
    if (n >= CSV_MAX_CELL)
        return nb_src_fail(c->s, c->cell_at, NB_ERR_FORMAT,
                           "line %lld: a cell longer than %d bytes (is a line break missing?)",
                           (long long)c->line, CSV_MAX_CELL),
               false;
    if (n + 1 >= c->cell_cap) {
        size_t cap = c->cell_cap ? c->cell_cap * 2 : 64;
        char *d = realloc(c->cell, cap);
        if (!d) return nb_fail(NB_ERR_MEMORY, "nb_load_csv: out of memory"), false;
        c->cell = d;
        c->cell_cap = cap;
    }
    c->cell[n] = ch;
    c->cell[n + 1] = '\0';
    return true;
}

/* A "quoted" cell: "" is a literal quote; only blanks may follow the closing quote. */
static bool read_quoted(csv *c, size_t *n) {
    c->p++;
    for (;;) {
        if (c->p >= c->end)
            return nb_src_fail(c->s, c->cell_at, NB_ERR_FORMAT,
                               "line %lld: the quote opened here is not closed on this line",
                               (long long)c->line),
                   false;
        char ch = c->buf[c->p++];
        if (ch == '"' && c->p < c->end && c->buf[c->p] == '"')
            c->p++;
        else if (ch == '"')
            break;
        if (!cell_append(c, (*n)++, ch)) return false;
    }
    while (c->p < c->end && is_pad(c, c->buf[c->p])) c->p++;
    if (c->p < c->end && c->buf[c->p] != c->delim && c->delim != ' ')
        return nb_src_fail(c->s, c->p, NB_ERR_FORMAT, "line %lld: text after a closing quote",
                           (long long)c->line),
               false;
    return true;
}

/* The next cell of the line into c->cell; sets c->more. */
static bool next_cell(csv *c) {
    bool spaces = c->delim == ' ';
    while (c->p < c->end && is_pad(c, c->buf[c->p])) c->p++;
    c->cell_at = c->p;
    size_t n = 0;
    if (!cell_append(c, 0, '\0')) return false;
    if (c->p < c->end && c->buf[c->p] == '"') {
        if (!read_quoted(c, &n)) return false;
    } else {
        while (c->p < c->end && c->buf[c->p] != c->delim && !(spaces && is_blank(c->buf[c->p])))
            if (!cell_append(c, n++, c->buf[c->p++])) return false;
        while (n > 0 && is_pad(c, c->cell[n - 1])) c->cell[--n] = '\0';
    }
    c->cell_len = n;
    if (spaces) {
        while (c->p < c->end && is_blank(c->buf[c->p])) c->p++;
        c->more = c->p < c->end;
    } else {
        c->more = c->p < c->end; /* at the delimiter */
        if (c->more) c->p++;
    }
    return true;
}

/* Moves c->p to the start of the next line that is not blank and sets
 * c->end; false at the end of the file. */
static bool next_line(csv *c) {
    while (c->p < c->len) {
        const char *nl = memchr(c->buf + c->p, '\n', (size_t)(c->len - c->p));
        int64_t stop = nl ? nl - c->buf : c->len;
        c->end = stop > c->p && c->buf[stop - 1] == '\r' ? stop - 1 : stop;
        int64_t q = c->p;
        while (q < c->end && is_blank(c->buf[q])) q++;
        if (q < c->end) return true;
        c->p = nl ? stop + 1 : c->len;
        c->line++;
    }
    return false;
}

/* Moves past the end of the current line. */
static void end_line(csv *c) {
    const char *nl = memchr(c->buf + c->p, '\n', (size_t)(c->len - c->p));
    c->p = nl ? nl - c->buf + 1 : c->len;
    if (nl) c->line++;
}

static bool cell_number(csv *c, int col, double *out) {
    char *stop;
    *out = strtod(c->cell, &stop);
    if (c->cell_len > 0 && stop == c->cell + c->cell_len) return true;
    if (c->cell_len == 0)
        return nb_src_fail(c->s, c->cell_at, NB_ERR_FORMAT,
                           "line %lld, column %d: empty cell, expected a number",
                           (long long)c->line, col),
               false;
    return nb_src_fail(c->s, c->cell_at, NB_ERR_FORMAT,
                       "line %lld, column %d: \"%.40s\" is not a number", (long long)c->line, col,
                       c->cell),
           false;
}

/* ---- the table ------------------------------------------------------------------------ */
typedef struct {
    int ncols;          /* cells per line, from the header or the first row */
    int64_t first_line; /* the line that set ncols */
    int label;          /* 1-based label column, 0 = none */
    nb_csv_labels mode;
    bool *skip;     /* [ncols + 1], by 1-based column */
    int n_features; /* columns that go to x */
    char **names;   /* header cells, or NULL */
    int n_names;
    vec x, y_num; /* float */
    vec y_id;     /* int64 label ids */
    label_table labels;
    bool non_numeric; /* some label is not a number */
} table;

static bool header_cell(csv *c, table *t, int col) {
    char **names = realloc(t->names, (size_t)col * sizeof *names);
    if (!names) return nb_fail(NB_ERR_MEMORY, "nb_load_csv: out of memory"), false;
    t->names = names;
    names[col - 1] = strdup(c->cell);
    if (!names[col - 1]) return nb_fail(NB_ERR_MEMORY, "nb_load_csv: out of memory"), false;
    t->n_names = col;
    return true;
}

static bool label_cell(csv *c, table *t, int col) {
    double v = NAN;
    if (c->cell_len == 0)
        return nb_src_fail(c->s, c->cell_at, NB_ERR_FORMAT, "line %lld, column %d: empty label",
                           (long long)c->line, col),
               false;
    if (t->mode == NB_LABELS_NUMERIC) {
        if (!cell_number(c, col, &v)) return false;
    } else {
        char *stop;
        v = strtod(c->cell, &stop);
        if (stop != c->cell + c->cell_len) t->non_numeric = true;
        int64_t id = table_id(&t->labels, c->cell);
        if (id < 0) return nb_fail(NB_ERR_MEMORY, "nb_load_csv: out of memory"), false;
        if (!vec_push(&t->y_id, &id)) return false;
    }
    float f = (float)v;
    return vec_push(&t->y_num, &f);
}

static bool data_cell(csv *c, table *t, int col) {
    if (col == t->label) return label_cell(c, t, col);
    if (t->skip[col]) return true;
    double v;
    if (!cell_number(c, col, &v)) return false;
    float f = (float)v;
    return vec_push(&t->x, &f);
}

typedef bool (*cell_fn)(csv *c, table *t, int col);

/* Splits the current line into cells, calling fn (if any) for each; the
 * first line walked fixes the number of cells per line. */
static bool walk_line(csv *c, table *t, cell_fn fn) {
    int64_t start = c->p;
    int col = 0;
    do {
        if (!next_cell(c)) return false;
        col++;
        if (t->ncols && col > t->ncols)
            return nb_src_fail(c->s, c->cell_at, NB_ERR_FORMAT,
                               "line %lld: more than %d cells (line %lld has %d)",
                               (long long)c->line, t->ncols, (long long)t->first_line, t->ncols),
                   false;
        if (fn && !fn(c, t, col)) return false;
    } while (c->more);
    if (t->ncols && col < t->ncols)
        return nb_src_fail(c->s, start, NB_ERR_FORMAT,
                           "line %lld: %d cells, expected %d as on line %lld", (long long)c->line,
                           col, t->ncols, (long long)t->first_line),
               false;
    if (!t->ncols) {
        t->ncols = col;
        t->first_line = c->line;
    }
    end_line(c);
    return true;
}

/* label_column and skip_columns against the number of cells per line */
static bool resolve_columns(const nb_src *s, const nb_csv_opts *o, table *t) {
    t->label = o->label_column == 0 ? t->ncols : o->label_column < 0 ? 0 : o->label_column;
    if (t->label > t->ncols)
        return nb_fail(NB_ERR_ARG, "%s: %s: label_column %d but the rows have %d cells", s->fn,
                       s->path, o->label_column, t->ncols),
               false;
    t->skip = calloc((size_t)t->ncols + 1, sizeof *t->skip);
    if (!t->skip) return nb_fail(NB_ERR_MEMORY, "nb_load_csv: out of memory"), false;
    for (int i = 0; i < o->n_skip_columns; i++) {
        int col = o->skip_columns ? o->skip_columns[i] : 0;
        if (col < 1 || col > t->ncols)
            return nb_fail(NB_ERR_ARG, "%s: %s: skip column %d is not in 1..%d (the row length)",
                           s->fn, s->path, col, t->ncols),
                   false;
        t->skip[col] = col != t->label;
    }
    t->n_features = t->ncols - (t->label ? 1 : 0);
    for (int col = 1; col <= t->ncols; col++) t->n_features -= t->skip[col];
    if (t->n_features == 0)
        return nb_fail(NB_ERR_ARG, "nb_load_csv: %s: no columns are left for x", s->path), false;
    return true;
}

/* Header, then the rows. */
static bool parse(csv *c, const nb_csv_opts *o, table *t, int64_t *rows) {
    if (c->len >= 3 && !memcmp(c->buf, "\xEF\xBB\xBF", 3)) c->p = 3; /* UTF-8 byte order mark */
    for (int i = 0; i < o->skip_lines && c->p < c->len; i++) end_line(c);
    if (o->header) {
        if (!next_line(c))
            return nb_src_fail(c->s, c->p, NB_ERR_FORMAT, "the file has no header line"), false;
        if (!walk_line(c, t, header_cell)) return false;
    }
    if (!next_line(c))
        return nb_src_fail(c->s, c->p, NB_ERR_FORMAT, "the file has no data rows"), false;
    if (!t->ncols) { /* count the first row's cells, then read it again */
        int64_t p = c->p, line = c->line;
        if (!walk_line(c, t, NULL)) return false;
        c->p = p;
        c->line = line;
    }
    if (!resolve_columns(c->s, o, t)) return false;
    *rows = 0;
    do {
        if (!walk_line(c, t, data_cell)) return false;
        ++*rows;
    } while ((o->max_rows <= 0 || *rows < o->max_rows) && next_line(c));
    return true;
}

/* The parsed table into the dataset's tensors and names. */
static bool build(const nb_src *s, table *t, int64_t rows, nb_dataset *out) {
    out->x = nb_from_array(t->x.data, NB_SHAPE(rows, t->n_features));
    out->n_features = t->n_features;
    if (!out->x) return false;
    if (!t->label) return true;
    bool encode = t->mode == NB_LABELS_ENCODE || (t->mode == NB_LABELS_AUTO && t->non_numeric);
    float *y = t->y_num.data;
    if (encode) {
        const int64_t *id = t->y_id.data;
        for (int64_t i = 0; i < rows; i++) y[i] = (float)id[i];
        out->n_classes = (int)t->labels.n;
        out->class_names = t->labels.names;
        t->labels.names = NULL;
        t->labels.n = 0;
    }
    out->y = nb_from_array(y, NB_SHAPE(rows));
    if (!out->y) return false;
    if (t->names) {
        out->feature_names = calloc((size_t)t->n_features, sizeof(char *));
        if (!out->feature_names) return nb_fail(NB_ERR_MEMORY, "nb_load_csv: out of memory"), false;
        for (int col = 1, k = 0; col <= t->ncols; col++)
            if (col != t->label && !t->skip[col]) {
                out->feature_names[k++] = t->names[col - 1];
                t->names[col - 1] = NULL;
            }
    }
    out->source = nb_strdup_checked(s->fn, s->path);
    return out->source != NULL;
}

static void table_release(table *t) {
    nb_free_strings(t->names, t->n_names);
    free(t->skip);
    free(t->x.data);
    free(t->y_num.data);
    free(t->y_id.data);
    table_free(&t->labels);
}

/* opts checked and defaulted into o; false with an error */
static bool check_opts(const char *fn, const nb_csv_opts *opts, nb_dataset *out, nb_csv_opts *o) {
    if (!out) return nb_fail(NB_ERR_NULL, "%s: out is NULL", fn), false;
    memset(out, 0, sizeof *out);
    *o = opts ? *opts : (nb_csv_opts){0};
    if (o->skip_lines < 0 || o->n_skip_columns < 0)
        return nb_fail(NB_ERR_ARG, "%s: skip_lines and n_skip_columns must be >= 0", fn), false;
    if (o->delimiter == '"' || o->delimiter == '\n' || o->delimiter == '\r')
        return nb_fail(NB_ERR_ARG, "%s: a quote or a line break cannot be the delimiter", fn),
               false;
    if (o->labels < NB_LABELS_AUTO || o->labels > NB_LABELS_ENCODE)
        return nb_fail(NB_ERR_ARG, "%s: labels is %d, not an nb_csv_labels value", fn,
                       (int)o->labels),
               false;
    return true;
}

/* The whole source, parsed into out. */
static nb_status read_csv(nb_src *s, const nb_csv_opts *o, nb_dataset *out) {
    int64_t len = 0;
    char *buf = nb_src_slurp(s, CSV_MAX_BYTES, &len);
    if (!buf) return nb_error_code();
    csv c = {.s = s, .buf = buf, .len = len, .delim = o->delimiter ? o->delimiter : ',', .line = 1};
    table t = {.mode = o->labels,
               .x = {.elem = sizeof(float)},
               .y_num = {.elem = sizeof(float)},
               .y_id = {.elem = sizeof(int64_t)}};
    int64_t rows = 0;
    bool ok = parse(&c, o, &t, &rows) && build(s, &t, rows, out);
    table_release(&t);
    free(c.cell);
    free(buf);
    if (!ok) {
        nb_free(out->x);
        nb_free(out->y);
        nb_dataset_free(out);
        return nb_error_code();
    }
    return NB_OK;
}

nb_status nb_load_csv(const char *path, const nb_csv_opts *opts, nb_dataset *out) {
    nb_csv_opts o;
    if (!check_opts("nb_load_csv", opts, out, &o)) return nb_error_code();
    nb_src s;
    if (!nb_src_open(&s, "nb_load_csv", path)) return nb_error_code();
    nb_status st = read_csv(&s, &o, out);
    nb_src_close(&s);
    return st;
}

nb_status nb_load_csv_mem(const void *data, size_t size, const char *name, const nb_csv_opts *opts,
                          nb_dataset *out) {
    nb_csv_opts o;
    if (!check_opts("nb_load_csv_mem", opts, out, &o)) return nb_error_code();
    nb_src s;
    if (!nb_src_open_mem(&s, "nb_load_csv_mem", data, size, name)) return nb_error_code();
    nb_status st = read_csv(&s, &o, out);
    nb_src_close(&s);
    return st;
}
