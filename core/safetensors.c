/* safetensors files: writing atomically, reading with a bounded parser.
 *
 * The header is JSON, parsed here by a small recursive-descent reader that
 * only accepts what the format uses (objects, strings, integer arrays) and
 * reports any other byte with its offset in the file. Data offsets and sizes
 * are checked against the file before a single value is copied. */
#include "nabla/safetensors.h"

#include "core_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER  (64u << 20) /* no sane header is larger */
#define MAX_ENTRIES 4096
#define MAX_TEXT    256 /* a name, key or value, with its NUL */

/* ---- writing --------------------------------------------------------------------------- */
static void put_json_string(nb_text *b, const char *s) {
    nb_text_put(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            nb_text_put(b, "\\%c", c);
        else if (c < 0x20)
            nb_text_put(b, "\\u%04x", c);
        else
            nb_text_put(b, "%c", c);
    }
    nb_text_put(b, "\"");
}

/* {"name": {...}, ..., "__metadata__": {...}}, padded with spaces to 8 bytes */
static void write_header(nb_text *b, const char *const *names, nb_tensor *const *t, int n,
                         const char *const *keys, const char *const *values, int n_meta) {
    uint64_t offset = 0;
    nb_text_put(b, "{");
    for (int i = 0; i < n; i++) {
        nb_text_put(b, i ? "," : "");
        put_json_string(b, names[i]);
        nb_text_put(b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t[i]->ndim; d++)
            nb_text_put(b, d ? ",%lld" : "%lld", (long long)t[i]->shape[d]);
        uint64_t end = offset + (uint64_t)t[i]->numel * sizeof(float);
        nb_text_put(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                    (unsigned long long)end);
        offset = end;
    }
    if (n_meta > 0) {
        nb_text_put(b, n ? ",\"__metadata__\":{" : "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            nb_text_put(b, i ? "," : "");
            put_json_string(b, keys[i]);
            nb_text_put(b, ":");
            put_json_string(b, values[i]);
        }
        nb_text_put(b, "}");
    }
    nb_text_put(b, "}");
    while (b->len % 8 && !b->oom) nb_text_put(b, " "); /* out of memory: no progress */
}

static bool write_tensor(FILE *f, const nb_tensor *t) {
    size_t n = (size_t)t->numel;
    if (nb_is_contiguous(t)) return fwrite(nb_ptr(t), sizeof(float), n, f) == n;
    for (int64_t i = 0; i < t->numel; i++) {
        float v = nb_get_flat(t, i);
        if (fwrite(&v, sizeof v, 1, f) != 1) return false;
    }
    return true;
}

static nb_status check_save_args(const char *path, const char *const *names, nb_tensor *const *t,
                                 int n, const char *const *keys, const char *const *values,
                                 int n_meta) {
    if (!path || (n > 0 && (!names || !t)) || (n_meta > 0 && (!keys || !values)) || n < 0 ||
        n_meta < 0)
        return nb_fail_status(NB_ERR_NULL, "nb_safetensors_save: NULL path, names or tensors");
    for (int i = 0; i < n; i++) {
        if (!t[i]) return (nb_fail_null("nb_safetensors_save"), nb_error_code());
        if (!names[i] || !names[i][0] || !strcmp(names[i], "__metadata__"))
            return nb_fail_status(NB_ERR_ARG, "nb_safetensors_save: tensor %d needs a name", i);
        if (strlen(names[i]) >= MAX_TEXT)
            return nb_fail_status(
                NB_ERR_ARG,
                "nb_safetensors_save: tensor %d's name is longer than the %d bytes "
                "a reader keeps",
                i, MAX_TEXT - 1);
        for (int j = 0; j < i; j++)
            if (!strcmp(names[i], names[j]))
                return nb_fail_status(NB_ERR_ARG,
                                      "nb_safetensors_save: the name '%s' appears twice", names[i]);
    }
    for (int i = 0; i < n_meta; i++)
        if (!keys[i] || !values[i])
            return nb_fail_status(NB_ERR_NULL, "nb_safetensors_save: metadata %d is NULL", i);
        else if (strlen(keys[i]) >= MAX_TEXT || strlen(values[i]) >= MAX_TEXT)
            return nb_fail_status(NB_ERR_ARG,
                                  "nb_safetensors_save: metadata %d is longer than the %d bytes a "
                                  "reader keeps",
                                  i, MAX_TEXT - 1);
    return NB_OK;
}

nb_status nb_safetensors_save(const char *path, const char *const *names, nb_tensor *const *tensors,
                              int n, const char *const *meta_keys, const char *const *meta_values,
                              int n_meta) {
    nb_status s = check_save_args(path, names, tensors, n, meta_keys, meta_values, n_meta);
    if (s != NB_OK) return s;
    nb_text header = {0};
    write_header(&header, names, tensors, n, meta_keys, meta_values, n_meta);
    if (header.oom) {
        free(header.s);
        return nb_fail_status(NB_ERR_MEMORY, "nb_safetensors_save: out of memory");
    }
    nb_atomic_file a;
    FILE *f = nb_atomic_open(&a, "nb_safetensors_save", path);
    if (!f) {
        free(header.s);
        return nb_error_code();
    }
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)header.len >> (8 * i));
    bool ok = fwrite(len, 1, 8, f) == 8 && fwrite(header.s, 1, header.len, f) == header.len;
    for (int i = 0; ok && i < n; i++) ok = write_tensor(f, tensors[i]);
    free(header.s);
    return nb_atomic_commit(&a); /* a failed write leaves f in error: commit reports it */
}

/* ---- reading: the JSON header ------------------------------------------------------------- */
typedef struct {
    char name[MAX_TEXT];
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    uint64_t begin, end;
} entry;

struct nb_safetensors {
    int n;
    char (*names)[MAX_TEXT];
    nb_tensor **tensors;
    int n_meta;
    char (*meta)[2][MAX_TEXT];
};

typedef struct {
    const char *path;
    const char *s;
    size_t pos, len;
    entry *entries;
    int n_entries, cap_entries;
    char (*meta)[2][MAX_TEXT];
    int n_meta, cap_meta;
} reader;

static nb_status bad(const reader *r, const char *what) {
    return nb_fail_status(NB_ERR_FORMAT, "nb_safetensors: %s: byte %zu: %s", r->path, r->pos + 8,
                          what);
}

/* room for one more element in *v (n used of *cap) */
static nb_status grow(const reader *r, void **v, int n, int *cap, size_t elem) {
    return nb_grow(v, cap, n + 1, elem)
               ? NB_OK
               : nb_fail_status(NB_ERR_MEMORY, "nb_safetensors: %s: out of memory", r->path);
}

static void ws(reader *r) {
    while (r->pos < r->len && r->s[r->pos] && strchr(" \t\r\n", r->s[r->pos])) r->pos++;
}

static bool eat(reader *r, char c) {
    ws(r);
    if (r->pos < r->len && r->s[r->pos] == c) {
        r->pos++;
        return true;
    }
    return false;
}

/* a JSON string into out (escapes \" \\ \/ \uXXXX for ASCII); false on error */
static nb_status string(reader *r, char *out, size_t size) {
    if (!eat(r, '"')) return bad(r, "expected a string");
    size_t n = 0;
    while (r->pos < r->len && r->s[r->pos] != '"') {
        char c = r->s[r->pos++];
        if (c == '\\') {
            if (r->pos >= r->len) break;
            c = r->s[r->pos++];
            if (c == 'u') {
                unsigned v = 0;
                for (int i = 0; i < 4; i++, r->pos++) {
                    char h = r->pos < r->len ? r->s[r->pos] : 0;
                    int d = h >= '0' && h <= '9'   ? h - '0'
                            : h >= 'a' && h <= 'f' ? h - 'a' + 10
                            : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                   : -1;
                    if (d < 0) return bad(r, "bad \\u escape");
                    v = v * 16 + (unsigned)d;
                }
                c = v < 0x80 ? (char)v : '?';
            } else if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
        }
        if (n + 1 >= size) return bad(r, "string too long");
        out[n++] = c;
    }
    if (!eat(r, '"')) return bad(r, "unterminated string");
    out[n] = '\0';
    return NB_OK;
}

static nb_status uint_value(reader *r, uint64_t *out) {
    ws(r);
    uint64_t v = 0;
    size_t start = r->pos;
    while (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9') {
        if (v > (UINT64_MAX - 9) / 10) return bad(r, "number too large");
        v = v * 10 + (uint64_t)(r->s[r->pos++] - '0');
    }
    if (r->pos == start) return bad(r, "expected a non-negative integer");
    *out = v;
    return NB_OK;
}

/* [a, b, ...] of at most max integers */
static nb_status uint_array(reader *r, uint64_t *v, int max, int *count) {
    if (!eat(r, '[')) return bad(r, "expected '['");
    *count = 0;
    if (eat(r, ']')) return NB_OK;
    do {
        if (*count >= max) return bad(r, "too many numbers in the list");
        nb_status s = uint_value(r, &v[(*count)++]);
        if (s != NB_OK) return s;
    } while (eat(r, ','));
    return eat(r, ']') ? NB_OK : bad(r, "expected ']'");
}

static nb_status tensor_info(reader *r, entry *e) {
    char key[32], dtype[16] = "";
    uint64_t offsets[2], shape[NB_MAX_DIMS];
    int n_off = -1, n_shape = -1;
    if (!eat(r, '{')) return bad(r, "expected '{'");
    do {
        nb_status s = string(r, key, sizeof key);
        if (s == NB_OK && !eat(r, ':')) s = bad(r, "expected ':'");
        if (s != NB_OK) return s;
        if (!strcmp(key, "dtype"))
            s = string(r, dtype, sizeof dtype);
        else if (!strcmp(key, "shape"))
            s = uint_array(r, shape, NB_MAX_DIMS, &n_shape);
        else if (!strcmp(key, "data_offsets"))
            s = uint_array(r, offsets, 2, &n_off);
        else
            s = bad(r, "unknown key in a tensor entry");
        if (s != NB_OK) return s;
    } while (eat(r, ','));
    if (!eat(r, '}')) return bad(r, "expected '}'");
    if (strcmp(dtype, "F32"))
        return nb_fail_status(NB_ERR_FORMAT,
                              "nb_safetensors: %s: tensor '%s' has dtype '%s'; nabla "
                              "reads F32",
                              r->path, e->name, dtype);
    if (n_shape < 0 || n_off != 2)
        return nb_fail_status(NB_ERR_FORMAT,
                              "nb_safetensors: %s: tensor '%s' lacks shape or "
                              "data_offsets",
                              r->path, e->name);
    e->ndim = n_shape;
    for (int i = 0; i < n_shape; i++) {
        if (shape[i] > (uint64_t)INT64_MAX) return bad(r, "dimension too large");
        e->shape[i] = (int64_t)shape[i];
    }
    e->begin = offsets[0];
    e->end = offsets[1];
    return NB_OK;
}

static nb_status metadata(reader *r) {
    if (!eat(r, '{')) return bad(r, "expected '{' after __metadata__");
    if (eat(r, '}')) return NB_OK;
    do {
        if (r->n_meta >= MAX_ENTRIES) return bad(r, "too much metadata");
        if (grow(r, (void **)&r->meta, r->n_meta, &r->cap_meta, sizeof *r->meta) != NB_OK)
            return nb_error_code();
        nb_status s = string(r, r->meta[r->n_meta][0], MAX_TEXT);
        if (s == NB_OK && !eat(r, ':')) s = bad(r, "expected ':'");
        if (s == NB_OK) s = string(r, r->meta[r->n_meta][1], MAX_TEXT);
        if (s != NB_OK) return s;
        r->n_meta++;
    } while (eat(r, ','));
    return eat(r, '}') ? NB_OK : bad(r, "expected '}'");
}

static nb_status header(reader *r) {
    if (!eat(r, '{')) return bad(r, "the header must be a JSON object");
    if (eat(r, '}')) return NB_OK;
    do {
        char name[MAX_TEXT];
        nb_status s = string(r, name, sizeof name);
        if (s == NB_OK && !eat(r, ':')) s = bad(r, "expected ':'");
        if (s != NB_OK) return s;
        if (!strcmp(name, "__metadata__")) {
            if ((s = metadata(r)) != NB_OK) return s;
            continue;
        }
        for (int k = 0; k < r->n_entries; k++)
            if (!strcmp(r->entries[k].name, name))
                return nb_fail_status(NB_ERR_FORMAT,
                                      "nb_safetensors: %s: byte %zu: tensor '%s' appears twice",
                                      r->path, r->pos + 8, name);
        if (r->n_entries >= MAX_ENTRIES) return bad(r, "too many tensors");
        if (grow(r, (void **)&r->entries, r->n_entries, &r->cap_entries, sizeof *r->entries) !=
            NB_OK)
            return nb_error_code();
        entry *e = &r->entries[r->n_entries++];
        snprintf(e->name, sizeof e->name, "%s", name);
        if ((s = tensor_info(r, e)) != NB_OK) return s;
    } while (eat(r, ','));
    if (!eat(r, '}')) return bad(r, "expected '}' or ','");
    ws(r);
    return r->pos == r->len ? NB_OK : bad(r, "bytes after the header object");
}

/* ---- reading: the file --------------------------------------------------------------------
 * From a path only the 8 + N header bytes are read whole; each tensor's bytes
 * are then read from the file straight into its storage, so loading some
 * tensors of a large file reads those tensors only. */
typedef struct {
    const unsigned char *bytes; /* a caller's buffer (whole file), or the header read from fd */
    unsigned char *owned;       /* bytes, when read from a file; NULL for a caller's buffer */
    int fd;                     /* the open file, or -1 for a caller's buffer */
    size_t size, data_start;    /* size: the whole file's */
    reader r;
} loaded;

static void unload(loaded *f) {
    free(f->owned);
    free(f->r.entries);
    free(f->r.meta);
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
}

/* Parse the header in f->bytes (the first 8 + N bytes of a size-byte file):
 * every entry's data range is checked against the data section, which must
 * end where the last tensor's data ends. */
static nb_status parse_bytes(loaded *f) {
    const char *path = f->r.path;
    if (f->size < 8)
        return nb_fail_status(NB_ERR_FORMAT,
                              "nb_safetensors: %s: byte 0: the file is shorter than "
                              "the 8-byte header length",
                              path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | f->bytes[i];
    if (n > MAX_HEADER || n > f->size - 8)
        return nb_fail_status(NB_ERR_FORMAT,
                              "nb_safetensors: %s: byte 0: header length %llu does not "
                              "fit in a file of %zu bytes",
                              path, (unsigned long long)n, f->size);
    f->data_start = 8 + (size_t)n;
    f->r.s = (const char *)f->bytes + 8;
    f->r.len = (size_t)n;
    nb_status s = header(&f->r);
    uint64_t data = f->size - f->data_start, last_end = 0;
    for (int i = 0; s == NB_OK && i < f->r.n_entries; i++) {
        entry *e = &f->r.entries[i];
        int64_t numel;
        if (!nb_shape_numel("nb_safetensors", e->shape, e->ndim, &numel))
            return nb_fail_status(NB_ERR_FORMAT,
                                  "nb_safetensors: %s: tensor '%s': shape %s has too "
                                  "many elements",
                                  path, e->name, nb_dims_s(e->shape, e->ndim));
        if (e->end < e->begin || e->end > data || e->end - e->begin != (uint64_t)numel * 4)
            s = nb_fail_status(
                NB_ERR_FORMAT,
                "nb_safetensors: %s: tensor '%s' of shape %s claims bytes %llu..%llu of "
                "a %llu-byte data section (needs %lld bytes)",
                path, e->name, nb_dims_s(e->shape, e->ndim), (unsigned long long)e->begin,
                (unsigned long long)e->end, (unsigned long long)data, (long long)numel * 4);
        if (e->end > last_end) last_end = e->end;
    }
    /* as the format's reference reader: bytes no tensor claims at the end make
     * the file malformed (a truncated rewrite, or another format appended) */
    if (s == NB_OK && last_end != data)
        s = nb_fail_status(NB_ERR_FORMAT,
                           "nb_safetensors: %s: byte %llu: %llu bytes after the end of the last "
                           "tensor's data",
                           path, (unsigned long long)(f->data_start + last_end),
                           (unsigned long long)(data - last_end));
    return s;
}

/* n bytes at offset of fd into p; false on an error or an early end */
static bool pread_all(int fd, void *p, size_t n, uint64_t offset) {
    unsigned char *c = p;
    while (n > 0) {
        ssize_t got = pread(fd, c, n, (off_t)offset);
        if (got < 0 && errno == EINTR) continue;
        if (got == 0) errno = 0; /* an early end: no error number */
        if (got <= 0) return false;
        c += got;
        n -= (size_t)got;
        offset += (uint64_t)got;
    }
    return true;
}

/* Open path (a regular file only: a FIFO would block), read its header, parse it. */
static nb_status load_file(const char *path, loaded *f) {
    memset(f, 0, sizeof *f);
    f->r.path = path;
    const char *why;
    f->fd = nb_open_regular(path, &why);
    if (f->fd < 0) return nb_fail_status(NB_ERR_IO, "nb_safetensors: %s: %s", path, why);
    struct stat st;
    unsigned char len[8];
    if (fstat(f->fd, &st) != 0 || st.st_size < 8 || !pread_all(f->fd, len, 8, 0))
        return nb_fail_status(NB_ERR_FORMAT,
                              "nb_safetensors: %s: byte 0: the file is shorter than "
                              "the 8-byte header length",
                              path);
    f->size = (size_t)st.st_size;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len[i];
    size_t head = n <= MAX_HEADER && n <= f->size - 8 ? 8 + (size_t)n : 8; /* parse reports */
    f->owned = nb_malloc(head);
    if (!f->owned)
        return nb_fail_status(
            NB_ERR_MEMORY, "nb_safetensors: %s: out of memory for a %zu-byte header", path, head);
    if (!pread_all(f->fd, f->owned, head, 0))
        return nb_fail_status(NB_ERR_IO,
                              "nb_safetensors: %s: could not read the %zu-byte header: %s", path,
                              head, errno ? strerror(errno) : "the file got shorter");
    f->bytes = f->owned;
    return parse_bytes(f);
}

/* A caller's buffer, parsed in place. */
static nb_status load_mem(const void *data, size_t size, const char *name, loaded *f) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->r.path = name ? name : "(memory)";
    if (!data && size > 0)
        return nb_fail_status(NB_ERR_NULL, "nb_safetensors: %s: the data is NULL", f->r.path);
    f->bytes = data;
    f->size = size;
    return parse_bytes(f);
}

/* e's values into t (contiguous, e's shape; the host is little-endian like the format) */
static nb_status copy_out(const loaded *f, const entry *e, nb_tensor *t) {
    float *out = t->storage->data + t->offset;
    uint64_t at = f->data_start + e->begin;
    if (f->fd < 0) {
        memcpy(out, f->bytes + at, (size_t)t->numel * 4);
        return NB_OK;
    }
    if (pread_all(f->fd, out, (size_t)t->numel * 4, at)) return NB_OK;
    return nb_fail_status(
        NB_ERR_IO, "nb_safetensors: %s: byte %llu: could not read tensor '%s': %s", f->r.path,
        (unsigned long long)at, e->name, errno ? strerror(errno) : "the file got shorter");
}

/* The checks and copies of nb_safetensors_load on a parsed file (status s). */
static nb_status load_into(loaded *f, nb_status s, const char *const *names,
                           nb_tensor *const *tensors, int n) {
    const char *path = f->r.path;
    for (int i = 0; s == NB_OK && i < n; i++) {
        if (!names[i] || !tensors[i]) {
            s = nb_fail_status(NB_ERR_NULL, "nb_safetensors_load: name or tensor %d is NULL", i);
            break;
        }
        const entry *e = NULL;
        for (int k = 0; k < f->r.n_entries && !e; k++)
            if (!strcmp(f->r.entries[k].name, names[i])) e = &f->r.entries[k];
        if (!e) {
            s = nb_fail_status(NB_ERR_ARG, "nb_safetensors_load: %s has no tensor '%s'", path,
                               names[i]);
        } else if (e->ndim != tensors[i]->ndim ||
                   memcmp(e->shape, tensors[i]->shape, sizeof(int64_t) * (size_t)e->ndim)) {
            s = nb_fail_status(NB_ERR_SHAPE,
                               "nb_safetensors_load: %s: tensor '%s' is %s in the file "
                               "but %s here",
                               path, names[i], nb_dims_s(e->shape, e->ndim),
                               nb_shape_s(tensors[i]));
        } else if (!nb_is_contiguous(tensors[i])) {
            s = nb_fail_status(NB_ERR_ARG, "nb_safetensors_load: tensor '%s' is not contiguous",
                               names[i]);
        }
    }
    /* copy only when every check passed: a failed load leaves the tensors as they were */
    for (int i = 0; s == NB_OK && i < n; i++)
        for (int k = 0; k < f->r.n_entries; k++)
            if (!strcmp(f->r.entries[k].name, names[i])) {
                s = copy_out(f, &f->r.entries[k], tensors[i]);
                break;
            }
    unload(f);
    return s;
}

nb_status nb_safetensors_load(const char *path, const char *const *names, nb_tensor *const *tensors,
                              int n) {
    if (!path || (n > 0 && (!names || !tensors)))
        return nb_fail_status(NB_ERR_NULL, "nb_safetensors_load: NULL path, names or tensors");
    loaded f;
    nb_status s = load_file(path, &f);
    return load_into(&f, s, names, tensors, n);
}

nb_status nb_safetensors_load_mem(const void *data, size_t size, const char *name,
                                  const char *const *names, nb_tensor *const *tensors, int n) {
    if (n > 0 && (!names || !tensors))
        return nb_fail_status(NB_ERR_NULL, "nb_safetensors_load_mem: NULL names or tensors");
    loaded f;
    nb_status s = load_mem(data, size, name, &f);
    return load_into(&f, s, names, tensors, n);
}

/* Every tensor and the metadata of a parsed file (status s) as a new nb_safetensors. */
static nb_safetensors *read_all(loaded *f, nb_status s, const char *fn) {
    nb_safetensors *out = NULL;
    if (s == NB_OK && !(out = nb_calloc(1, sizeof *out)))
        nb_fail(NB_ERR_MEMORY, "%s: out of memory", fn);
    if (out) {
        int n = f->r.n_entries;
        out->names = nb_calloc((size_t)n + 1, sizeof *out->names);
        out->tensors = nb_calloc((size_t)n + 1, sizeof *out->tensors);
        out->meta = nb_calloc((size_t)f->r.n_meta + 1, sizeof *out->meta);
        bool ok = out->names && out->tensors && out->meta;
        if (!ok) nb_fail(NB_ERR_MEMORY, "%s: out of memory", fn);
        for (int i = 0; ok && i < n; i++) {
            const entry *e = &f->r.entries[i];
            ok = (out->tensors[i] = nb_tensor_new(fn, e->shape, e->ndim)) &&
                 copy_out(f, e, out->tensors[i]) == NB_OK;
            if (ok) {
                memcpy(out->names[i], e->name, sizeof out->names[i]);
                out->n++;
            }
        }
        if (ok) {
            if (f->r.n_meta > 0)
                memcpy(out->meta, f->r.meta, (size_t)f->r.n_meta * sizeof *out->meta);
            out->n_meta = f->r.n_meta;
        } else {
            nb_safetensors_free(out);
            out = NULL; /* the allocation, nb_tensor_new or copy_out recorded why */
        }
    }
    unload(f);
    return out;
}

nb_safetensors *nb_safetensors_read(const char *path) {
    if (!path) return nb_fail_null("nb_safetensors_read");
    loaded f;
    nb_status s = load_file(path, &f);
    return read_all(&f, s, "nb_safetensors_read");
}

nb_safetensors *nb_safetensors_read_mem(const void *data, size_t size, const char *name) {
    loaded f;
    nb_status s = load_mem(data, size, name, &f);
    return read_all(&f, s, "nb_safetensors_read_mem");
}

int nb_safetensors_count(const nb_safetensors *f) {
    return f ? f->n : 0;
}

const char *nb_safetensors_name(const nb_safetensors *f, int i) {
    return f && i >= 0 && i < f->n ? f->names[i] : NULL;
}

nb_tensor *nb_safetensors_tensor(const nb_safetensors *f, int i) {
    return f && i >= 0 && i < f->n ? f->tensors[i] : NULL;
}

const char *nb_safetensors_meta(const nb_safetensors *f, const char *key) {
    for (int i = 0; f && key && i < f->n_meta; i++)
        if (!strcmp(f->meta[i][0], key)) return f->meta[i][1];
    return NULL;
}

void nb_safetensors_free(nb_safetensors *f) {
    if (!f) return;
    free(f->names);
    free(f->tensors);
    free(f->meta);
    free(f);
}
