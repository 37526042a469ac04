/* Keras's ModelCheckpoint: after each epoch, the model (or its weights) saved to a path
 * made from a pattern, every epoch or only when the monitored log improved. */
#include "fit_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- callbacks: ModelCheckpoint ------------------------------------------------------------
 * The path pattern is parsed once, at construction, into fields; each epoch
 * fills them in. The grammar (Python's str.format, the part Keras users use):
 *   pattern := (text | "{{" | "}}" | field)*
 *   field   := "{" name [":" ["0"] [width] ["." precision] [type]] "}"
 *   name    := [A-Za-z0-9_]+      type := d | f | e | g */
#define CKPT_MAX_FIELDS 16

typedef struct {
    int at;               /* where the field stood in the pattern's literal text */
    char name[48];        /* "epoch" or a log's name */
    bool zero;            /* pad with zeros */
    int width, precision; /* precision -1: none */
    char type;            /* 0, 'd', 'f', 'e' or 'g' */
} ckpt_field;

typedef struct {
    nb_model_checkpoint_opts o;
    char pattern[4096], text[4096]; /* text: the pattern's literal parts, braces resolved */
    char monitor[48];
    ckpt_field fields[CKPT_MAX_FIELDS];
    int n_fields;
    bool maximize, warned;
    double best; /* kept across fits, as Keras's */
    nb_status failed;
    char why[1024]; /* the failure's message, said again by the status hook */
} checkpoint;

static bool pattern_error(const char *pattern, size_t at, const char *what) {
    nb_fail(NB_ERR_FORMAT, "nb_model_checkpoint: the path pattern \"%s\", column %zu: %s", pattern,
            at + 1, what);
    return false;
}

/* a run of decimal digits as a small number (at most 2 digits: widths and
 * precisions up to 99) */
static bool small_number(const char *p, size_t *i, int *out) {
    int v = 0, digits = 0;
    while (isdigit((unsigned char)p[*i]) && digits < 3) v = v * 10 + (p[(*i)++] - '0'), digits++;
    *out = v;
    return digits <= 2;
}

/* the spec after ':' up to the closing '}' at *i; open: where the field's '{' is */
static bool parse_spec(const char *p, size_t *i, ckpt_field *f, size_t open) {
    size_t start = *i;
    if (p[*i] == '0') f->zero = true, ++*i;
    if (!small_number(p, i, &f->width)) return pattern_error(p, start, "the width is too large");
    if (p[*i] == '.') {
        size_t dot = (*i)++;
        if (!isdigit((unsigned char)p[*i]))
            return pattern_error(p, dot, "'.' must be followed by a precision");
        if (!small_number(p, i, &f->precision))
            return pattern_error(p, dot, "the precision is too large");
    }
    if (p[*i] && strchr("dfeg", p[*i]) && p[*i] != '}') f->type = p[(*i)++];
    if (!p[*i]) return pattern_error(p, open, "'{' is not closed");
    if (p[*i] != '}')
        return pattern_error(p, *i,
                             "unknown format spec (expected [0][width][.precision] and d, f, e "
                             "or g)");
    bool is_epoch = !strcmp(f->name, "epoch");
    if (f->type == 'd' && !is_epoch)
        return pattern_error(p, start, "'d' is for {epoch}: a log is a float (write .4f, e or g)");
    if (f->type == 'd' && f->precision >= 0)
        return pattern_error(p, start, "precision is not allowed with 'd'");
    return true;
}

static bool parse_field(checkpoint *c, const char *p, size_t *i, size_t text_at) {
    size_t open = (*i)++, n = 0;
    if (c->n_fields == CKPT_MAX_FIELDS) return pattern_error(p, open, "more than 16 fields");
    ckpt_field *f = &c->fields[c->n_fields++];
    *f = (ckpt_field){.at = (int)text_at, .precision = -1};
    while (isalnum((unsigned char)p[*i]) || p[*i] == '_') {
        if (n + 1 >= sizeof f->name) return pattern_error(p, open, "the name is too long");
        f->name[n++] = p[(*i)++];
    }
    if (!p[*i]) return pattern_error(p, open, "'{' is not closed");
    if (!n)
        return pattern_error(p, open, "a field needs a name: {epoch} or a log such as {val_loss}");
    if (p[*i] == ':') return ++*i, parse_spec(p, i, f, open);
    if (p[*i] == '}') return true;
    return pattern_error(p, *i, "a name is letters, digits and '_', then ':' or '}'");
}

static bool parse_pattern(checkpoint *c, const char *p) {
    size_t n = 0;
    for (size_t i = 0; p[i]; i++) {
        if ((p[i] == '{' && p[i + 1] == '{') || (p[i] == '}' && p[i + 1] == '}')) {
            c->text[n++] = p[i++];
        } else if (p[i] == '{') {
            if (!parse_field(c, p, &i, n)) return false;
        } else if (p[i] == '}') {
            return pattern_error(p, i, "a single '}' (write }} for a brace)");
        } else {
            c->text[n++] = p[i];
        }
    }
    c->text[n] = 0;
    return true;
}

/* Python's str(float): the shortest digits that read back as v, with ".0"
 * when they look like an integer */
static int shortest_repr(char *out, size_t size, double v) {
    int len = 0;
    for (int digits = 1; digits <= 17; digits++) {
        len = snprintf(out, size, "%.*g", digits, v);
        if (!isfinite(v) || strtod(out, NULL) == v) break;
    }
    if (isfinite(v) && !strpbrk(out, ".e")) len += snprintf(out + len, size - (size_t)len, ".0");
    return len;
}

/* one field as Python formats it: epoch an int, a log a float */
static int format_field(char *out, size_t size, const ckpt_field *f, double v, bool is_epoch) {
    int w = f->width, prec = f->precision < 0 ? 6 : f->precision;
    if (is_epoch && (f->type == 0 || f->type == 'd'))
        return f->zero ? snprintf(out, size, "%0*d", w, (int)v)
                       : snprintf(out, size, "%*d", w, (int)v);
    if (f->type == 0 && f->precision < 0) {
        char s[64];
        int len = shortest_repr(s, sizeof s, v), sign = s[0] == '-';
        if (!f->zero || len >= w) return snprintf(out, size, "%*s", w, s);
        return snprintf(out, size, "%.*s%0*d%s", sign, s, w - len, 0, s + sign); /* 000.25 */
    }
    switch (f->type) {
    case 'f':
        return f->zero ? snprintf(out, size, "%0*.*f", w, prec, v)
                       : snprintf(out, size, "%*.*f", w, prec, v);
    case 'e':
        return f->zero ? snprintf(out, size, "%0*.*e", w, prec, v)
                       : snprintf(out, size, "%*.*e", w, prec, v);
    default: /* 'g', or a precision without a type */
        return f->zero ? snprintf(out, size, "%0*.*g", w, prec, v)
                       : snprintf(out, size, "%*.*g", w, prec, v);
    }
}

/* the pattern filled in with the epoch's logs */
static nb_status expand(const checkpoint *c, const nb_epoch_logs *l, char *out, size_t size) {
    size_t n = 0;
    int from = 0;
    for (int k = 0; k <= c->n_fields; k++) {
        int to = k < c->n_fields ? c->fields[k].at : (int)strlen(c->text);
        int len = snprintf(out + n, size - n, "%.*s", to - from, c->text + from);
        n += (size_t)len < size - n ? (size_t)len : size - n;
        from = to;
        if (k == c->n_fields) break;
        const ckpt_field *f = &c->fields[k];
        bool is_epoch = !strcmp(f->name, "epoch");
        if (!is_epoch && !nb_has_log(l, f->name)) {
            char names[512] = "";
            for (int j = 0, at = 0; j < l->n && at < (int)sizeof names; j++)
                at += snprintf(names + at, sizeof names - (size_t)at, "%s%s", j ? ", " : "",
                               l->names[j]);
            return nb_fail_status(
                NB_ERR_ARG,
                "nb_model_checkpoint: the path pattern \"%s\" names {%s}, which is not "
                "a log of epoch %d (the logs are epoch, %s)",
                c->pattern, f->name, l->epoch + 1, names);
        }
        len = format_field(out + n, size - n, f, is_epoch ? l->epoch + 1 : nb_log_value(l, f->name),
                           is_epoch);
        n += (size_t)len < size - n ? (size_t)len : size - n;
    }
    if (n >= size - 1)
        return nb_fail_status(NB_ERR_ARG, "nb_model_checkpoint: the path from \"%s\" is too long",
                              c->pattern);
    return NB_OK;
}

/* mkdir -p of the directory path is in, as Keras creates it */
static nb_status make_parents(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return NB_OK;
    *slash = 0;
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p) continue;
        char keep = *p;
        *p = 0;
        struct stat st;
        if (stat(dir, &st) != 0 && mkdir(dir, 0777) != 0 && errno != EEXIST)
            return nb_fail_status(NB_ERR_IO,
                                  "nb_model_checkpoint: cannot save %s: cannot create %s: %s", path,
                                  dir, strerror(errno));
        *p = keep;
        if (!keep) return NB_OK;
    }
}

static bool ckpt_failed(checkpoint *c) {
    c->failed = nb_failure_code();
    snprintf(c->why, sizeof c->why, "%s", nb_error());
    return true; /* stop: fit then asks the status hook, which says why */
}

static void ckpt_begin(nb_model *m, void *ctx) {
    (void)m;
    checkpoint *c = ctx;
    c->failed = NB_OK;
    c->warned = false;
}

/* save_best_only: true when the epoch is to be saved */
static bool ckpt_improves(checkpoint *c, const nb_epoch_logs *l) {
    if (!nb_has_log(l, c->monitor)) {
        if (!c->warned)
            nb_warn("nb_model_checkpoint: no log '%s' to monitor (validation data gives the val_ "
                    "logs); saving every epoch",
                    c->monitor);
        c->warned = true;
        return true;
    }
    double v = nb_log_value(l, c->monitor);
    if (!(c->maximize ? v > c->best : v < c->best)) {
        if (c->o.verbose)
            printf("Epoch %d: %s did not improve from %.5f\n", l->epoch + 1, c->monitor, c->best);
        return false;
    }
    if (c->o.verbose)
        printf("Epoch %d: %s improved from %.5f to %.5f\n", l->epoch + 1, c->monitor, c->best, v);
    c->best = v;
    return true;
}

static bool ckpt_epoch_end(nb_model *m, const nb_epoch_logs *l, void *ctx) {
    checkpoint *c = ctx;
    char path[4096];
    if (expand(c, l, path, sizeof path) != NB_OK) return ckpt_failed(c);
    if (c->o.save_best_only && !ckpt_improves(c, l)) return false;
    if (c->o.verbose) printf("Epoch %d: saving model to %s\n", l->epoch + 1, path);
    nb_status s = make_parents(path);
    if (s == NB_OK)
        s = c->o.save_weights_only ? nb_model_save_weights(m, path) : nb_model_save(m, path);
    if (s != NB_OK) {
        nb_fail_status(s, "nb_model_checkpoint: epoch %d: cannot save %s: %s", l->epoch + 1, path,
                       nb_error());
        return ckpt_failed(c);
    }
    return false;
}

static nb_status ckpt_status(void *ctx) {
    checkpoint *c = ctx;
    return c->failed == NB_OK ? NB_OK : nb_fail_status(c->failed, "%s", c->why);
}

nb_callback nb_model_checkpoint_ex(const nb_model_checkpoint_opts *opts) {
    const char *fn = "nb_model_checkpoint";
    if (!opts || !opts->path) return nb_fail(NB_ERR_NULL, "%s: path is NULL", fn), (nb_callback){0};
    if (!opts->path[0]) return nb_fail(NB_ERR_ARG, "%s: path is empty", fn), (nb_callback){0};
    if (strlen(opts->path) >= sizeof((checkpoint *)0)->pattern)
        return nb_fail(NB_ERR_ARG, "%s: path is too long", fn), (nb_callback){0};
    if (!nb_monitor_mode_valid(fn, opts->mode)) return (nb_callback){0};
    checkpoint *c = calloc(1, sizeof *c);
    if (!c) return nb_fail(NB_ERR_MEMORY, "%s: out of memory", fn), (nb_callback){0};
    c->o = *opts;
    snprintf(c->pattern, sizeof c->pattern, "%s", opts->path);
    snprintf(c->monitor, sizeof c->monitor, "%s", opts->monitor ? opts->monitor : "val_loss");
    c->o.path = c->pattern;
    c->o.monitor = c->monitor;
    if (!parse_pattern(c, c->pattern)) {
        free(c);
        return (nb_callback){0};
    }
    c->maximize = nb_monitor_rises(opts->mode, c->monitor);
    c->best = c->maximize ? -INFINITY : INFINITY;
    return (nb_callback){.on_train_begin = ckpt_begin,
                         .on_epoch_end = ckpt_epoch_end,
                         .status = ckpt_status,
                         .free = free,
                         .ctx = c};
}

nb_callback nb_model_checkpoint(const char *path, const char *monitor, bool save_best_only) {
    return nb_model_checkpoint_ex(&(nb_model_checkpoint_opts){
        .path = path, .monitor = monitor, .save_best_only = save_best_only});
}
