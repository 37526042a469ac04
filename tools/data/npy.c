/* NumPy .npy files.
 *
 *   byte 0   "\x93NUMPY"
 *   byte 6   major, minor version (1.0, 2.0 or 3.0)
 *   byte 8   header length: 2 bytes little-endian (1.0) or 4 bytes (2.0, 3.0)
 *   then     the header, a Python dict literal padded with spaces and ending in '\n':
 *            {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 *   then     the elements
 *
 * The header is parsed by a small recursive-descent reader that never leaves
 * the header's bytes; every complaint names the byte where it arose.
 */
#include "data_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_HEADER (1 << 20)

typedef struct {
    char kind; /* 'f', 'i', 'u', 'b' */
    int size;
    bool big_endian;
    bool fortran;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    bool has_descr, has_order, has_shape;
} npy_header;

/* A cursor over the header text; base is the file offset of its first byte. */
typedef struct {
    const nb_src *s;
    const char *text, *p, *end;
    int64_t base;
} cursor;

static int64_t at(const cursor *c) {
    return c->base + (c->p - c->text);
}

static void skip_space(cursor *c) {
    while (c->p < c->end && isspace((unsigned char)*c->p)) c->p++;
}

static bool expect(cursor *c, char ch, const char *where) {
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    nb_src_fail(c->s, at(c), NB_ERR_FORMAT, "bad header: expected '%c' %s", ch, where);
    return false;
}

/* 'text' or "text" into out (at most cap - 1 characters) */
static bool parse_string(cursor *c, char *out, size_t cap) {
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return nb_src_fail(c->s, at(c), NB_ERR_FORMAT, "bad header: expected a quoted string"),
               false;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (n + 1 >= cap)
            return nb_src_fail(c->s, at(c), NB_ERR_FORMAT, "bad header: string too long"), false;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return nb_src_fail(c->s, at(c), NB_ERR_FORMAT, "bad header: unterminated string"), false;
    c->p++;
    out[n] = '\0';
    return true;
}

/* "<f4", "|u1", ">i8", "=f8": byte order, kind, size */
static bool parse_descr(cursor *c, npy_header *h) {
    skip_space(c);
    int64_t where = at(c);
    if (c->p < c->end && *c->p == '[')
        return nb_src_fail(c->s, where, NB_ERR_FORMAT,
                           "structured dtypes are not supported; nabla reads plain numbers"),
               false;
    char d[32];
    if (!parse_string(c, d, sizeof d)) return false;
    const char *q = d;
    h->big_endian = false;
    if (*q == '<' || *q == '>' || *q == '|' || *q == '=') h->big_endian = *q++ == '>';
    h->kind = *q ? *q++ : '?';
    char *stop;
    errno = 0;
    long size = strtol(q, &stop, 10);
    bool ok = *q && !*stop && !errno &&
              ((h->kind == 'f' && (size == 4 || size == 8)) ||
               ((h->kind == 'i' || h->kind == 'u') &&
                (size == 1 || size == 2 || size == 4 || size == 8)) ||
               (h->kind == 'b' && size == 1));
    if (!ok)
        return nb_src_fail(c->s, where, NB_ERR_FORMAT,
                           "dtype '%s' is not supported; nabla reads f4, f8, i1, i2, i4, i8, u1, "
                           "u2, u4, u8 and b1",
                           d),
               false;
    h->size = (int)size;
    h->has_descr = true;
    return true;
}

static bool parse_bool(cursor *c, bool *out) {
    skip_space(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && !strncmp(c->p, "True", 4)) {
        c->p += 4;
        *out = true;
        return true;
    }
    if (left >= 5 && !strncmp(c->p, "False", 5)) {
        c->p += 5;
        *out = false;
        return true;
    }
    return nb_src_fail(c->s, at(c), NB_ERR_FORMAT, "bad header: expected True or False"), false;
}

/* "()", "(5,)", "(2, 3)" */
static bool parse_shape(cursor *c, npy_header *h) {
    if (!expect(c, '(', "to open the shape")) return false;
    h->ndim = 0;
    for (;;) {
        skip_space(c);
        if (c->p < c->end && *c->p == ')') break;
        if (c->p >= c->end || !isdigit((unsigned char)*c->p))
            return nb_src_fail(c->s, at(c), NB_ERR_FORMAT,
                               "bad header: expected a size or ')' in the shape"),
                   false;
        if (h->ndim == NB_MAX_DIMS)
            return nb_src_fail(c->s, at(c), NB_ERR_FORMAT, "the array has more than %d dimensions",
                               NB_MAX_DIMS),
                   false;
        int64_t v = 0;
        while (c->p < c->end && isdigit((unsigned char)*c->p)) {
            if (v > (INT64_MAX - 9) / 10)
                return nb_src_fail(c->s, at(c), NB_ERR_FORMAT, "a size in the shape overflows"),
                       false;
            v = v * 10 + (*c->p++ - '0');
        }
        h->shape[h->ndim++] = v;
        skip_space(c);
        if (c->p < c->end && *c->p == ',')
            c->p++;
        else if (c->p < c->end && *c->p != ')')
            return nb_src_fail(c->s, at(c), NB_ERR_FORMAT,
                               "bad header: expected ',' or ')' in the shape"),
                   false;
    }
    c->p++;
    h->has_shape = true;
    return true;
}

static bool parse_entry(cursor *c, npy_header *h) {
    char key[32];
    int64_t where = at(c);
    if (!parse_string(c, key, sizeof key) || !expect(c, ':', "after a key")) return false;
    if (!strcmp(key, "descr")) return parse_descr(c, h);
    if (!strcmp(key, "shape")) return parse_shape(c, h);
    if (!strcmp(key, "fortran_order")) {
        h->has_order = true;
        return parse_bool(c, &h->fortran);
    }
    return nb_src_fail(c->s, where, NB_ERR_FORMAT, "bad header: unknown key '%s'", key), false;
}

static bool parse_dict(cursor *c, npy_header *h) {
    if (!expect(c, '{', "at the start of the header")) return false;
    for (;;) {
        skip_space(c);
        if (c->p < c->end && *c->p == '}') break;
        if (!parse_entry(c, h)) return false;
        skip_space(c);
        if (c->p < c->end && *c->p == ',')
            c->p++;
        else if (!(c->p < c->end && *c->p == '}'))
            return nb_src_fail(c->s, at(c), NB_ERR_FORMAT, "bad header: expected ',' or '}'"),
                   false;
    }
    c->p++;
    skip_space(c);
    if (c->p != c->end)
        return nb_src_fail(c->s, at(c), NB_ERR_FORMAT, "bad header: text after the closing '}'"),
               false;
    if (!h->has_descr || !h->has_order || !h->has_shape)
        return nb_src_fail(c->s, c->base, NB_ERR_FORMAT,
                           "bad header: it must give 'descr', 'fortran_order' and 'shape'"),
               false;
    return true;
}

/* Magic, version, length, then the dict. */
static bool read_header(nb_src *s, npy_header *h) {
    unsigned char pre[12];
    int64_t got = nb_src_read(s, pre, 8);
    if (got < 0) return false;
    if (got < 8 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return nb_src_fail(s, 0, NB_ERR_FORMAT,
                           "not a .npy file: it must start with \\x93NUMPY and a version"),
               false;
    int major = pre[6];
    if (major < 1 || major > 3)
        return nb_src_fail(s, 6, NB_ERR_FORMAT, "format version %d.%d is not supported (1-3)",
                           major, pre[7]),
               false;
    int len_bytes = major == 1 ? 2 : 4;
    got = nb_src_read(s, pre + 8, len_bytes);
    if (got < 0) return false;
    if (got < len_bytes)
        return nb_src_fail(s, 8 + got, NB_ERR_FORMAT, "the file ends inside the header length"),
               false;
    int64_t hlen = (int64_t)nb_decode_number(pre + 8, 'u', len_bytes, false);
    if (hlen > NPY_MAX_HEADER)
        return nb_src_fail(s, 8, NB_ERR_FORMAT, "header length %lld is absurd (more than %d)",
                           (long long)hlen, NPY_MAX_HEADER),
               false;
    int64_t base = s->pos, room = nb_src_max_remaining(s);
    if (!s->compressed && hlen > room) /* the complaint after reading, before allocating */
        return nb_src_fail(s, base + room, NB_ERR_FORMAT,
                           "the header is %lld bytes long but the file ends after %lld bytes",
                           (long long)hlen, (long long)(base + room)),
               false;
    char *text = malloc((size_t)hlen + 1);
    if (!text) return nb_fail(NB_ERR_MEMORY, "%s: out of memory", s->fn), false;
    got = nb_src_read(s, text, hlen);
    bool ok = got == hlen;
    if (got >= 0 && got < hlen)
        nb_src_fail(s, base + got, NB_ERR_FORMAT,
                    "the header is %lld bytes long but the file ends after %lld bytes",
                    (long long)hlen, (long long)(base + got));
    cursor c = {s, text, text, text + hlen, base};
    ok = ok && parse_dict(&c, h);
    free(text);
    return ok;
}

/* shape (60000, 784) -> "(60000, 784)" for messages */
static const char *shape_text(const npy_header *h) {
    static _Thread_local char buf[200];
    size_t n = (size_t)snprintf(buf, sizeof buf, "(");
    for (int i = 0; i < h->ndim && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%lld", i ? ", " : "",
                              (long long)h->shape[i]);
    if (n < sizeof buf) snprintf(buf + n, sizeof buf - n, h->ndim == 1 ? ",)" : ")");
    return buf;
}

/* Fortran order (first index fastest) -> C order, through a copy. */
static void fortran_to_c(const npy_header *h, const float *f, float *out, int64_t numel) {
    int64_t idx[NB_MAX_DIMS] = {0}, fstride[NB_MAX_DIMS];
    int64_t s = 1;
    for (int i = 0; i < h->ndim; i++) {
        fstride[i] = s;
        s *= h->shape[i];
    }
    for (int64_t k = 0; k < numel; k++) {
        int64_t off = 0;
        for (int i = 0; i < h->ndim; i++) off += idx[i] * fstride[i];
        out[k] = f[off];
        for (int i = h->ndim - 1; i >= 0 && ++idx[i] == h->shape[i]; i--) idx[i] = 0;
    }
}

static nb_tensor *read_body(nb_src *s, const npy_header *h) {
    int64_t numel, bytes;
    if (!nb_shape_bytes(h->shape, h->ndim, h->size, &numel, &bytes))
        return nb_src_fail(s, s->pos, NB_ERR_FORMAT,
                           "header says shape %s: too many elements (the file is corrupt)",
                           shape_text(h));
    if (bytes > nb_src_max_remaining(s))
        return nb_src_fail(
            s, s->pos, NB_ERR_FORMAT, "header says shape %s of %c%d (%lld bytes) but %s %lld bytes",
            shape_text(h), h->kind, h->size, (long long)bytes,
            s->compressed ? "the gzip file cannot hold that much in" : "the file ends after",
            (long long)s->file_size);
    if (numel > NB_LOAD_MAX_ELEMENTS)
        return nb_src_fail(s, s->pos, NB_ERR_FORMAT,
                           "header says shape %s: %lld elements, more than the %lld a reader loads",
                           shape_text(h), (long long)numel, (long long)NB_LOAD_MAX_ELEMENTS);
    int64_t start = s->pos;
    nb_tensor *t = nb_tensor_new(s->fn, h->shape, h->ndim);
    if (!t) return NULL;
    int64_t got = nb_src_read_numbers(s, h->kind, h->size, h->big_endian, numel, 1.0, nb_ptr(t));
    int64_t end = s->pos, extra = got == bytes ? nb_src_skip_rest(s) : 0;
    if (got >= 0 && got < bytes)
        nb_src_fail(s, start, NB_ERR_FORMAT,
                    "header says shape %s of %c%d (%lld bytes) but the data ends after %lld bytes",
                    shape_text(h), h->kind, h->size, (long long)bytes, (long long)got);
    else if (extra > 0)
        nb_src_fail(s, end, NB_ERR_FORMAT, "%lld bytes follow the data of shape %s",
                    (long long)extra, shape_text(h));
    if (got < bytes || extra != 0) {
        nb_free(t);
        return NULL;
    }
    if (h->fortran && h->ndim > 1) {
        nb_tensor *c = nb_tensor_new(s->fn, h->shape, h->ndim);
        if (c) fortran_to_c(h, nb_ptr(t), nb_ptr(c), numel);
        nb_free(t);
        t = c;
    }
    return t;
}

nb_tensor *nb_load_npy(const char *path) {
    nb_src s;
    if (!nb_src_open(&s, "nb_load_npy", path)) return NULL;
    npy_header h = {0};
    nb_tensor *t = read_header(&s, &h) ? read_body(&s, &h) : NULL;
    nb_src_close(&s);
    return t;
}

nb_tensor *nb_load_npy_mem(const void *data, size_t size, const char *name) {
    nb_src s;
    if (!nb_src_open_mem(&s, "nb_load_npy_mem", data, size, name)) return NULL;
    npy_header h = {0};
    nb_tensor *t = read_header(&s, &h) ? read_body(&s, &h) : NULL;
    nb_src_close(&s);
    return t;
}

/* ---- writing ------------------------------------------------------------------------ */
static bool write_all(FILE *f, const void *p, size_t n) {
    return fwrite(p, 1, n, f) == n;
}

nb_status nb_save_npy(const nb_tensor *t, const char *path) {
    if (!t) return nb_fail_null("nb_save_npy"), nb_error_code();
    if (!path) return nb_fail_status(NB_ERR_NULL, "nb_save_npy: the path is NULL");
    npy_header h = {.ndim = t->ndim};
    memcpy(h.shape, t->shape, sizeof h.shape);
    char head[512];
    int n = snprintf(head, sizeof head, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
                     shape_text(&h));
    int total = (10 + n + 1 + 63) / 64 * 64; /* data starts 64-byte aligned */
    memset(head + n, ' ', (size_t)(total - 10 - n));
    head[total - 10 - 1] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    pre[8] = (unsigned char)((total - 10) & 0xff);
    pre[9] = (unsigned char)((total - 10) >> 8);
    nb_atomic_file a;
    FILE *f = nb_atomic_open(&a, "nb_save_npy", path);
    if (!f) return nb_error_code();
    bool ok = write_all(f, pre, sizeof pre) && write_all(f, head, (size_t)(total - 10));
    unsigned char buf[4096];
    const int64_t per_buf = (int64_t)sizeof buf / 4;
    for (int64_t i = 0; ok && i < t->numel; i += per_buf) {
        int64_t m = t->numel - i < per_buf ? t->numel - i : per_buf;
        for (int64_t k = 0; k < m; k++) {
            float v = nb_get_flat(t, i + k);
            uint32_t bits;
            memcpy(&bits, &v, 4);
            for (int b = 0; b < 4; b++) buf[4 * k + b] = (unsigned char)(bits >> (8 * b));
        }
        ok = write_all(f, buf, (size_t)m * 4);
    }
    return nb_atomic_commit(&a); /* a failed write leaves f in error: commit reports it */
}
