/* A bounded byte source for the data readers. zlib's gz* functions read gzip
 * and plain files alike, so every reader accepts both; the source counts the
 * bytes consumed so that every error can name the offset where it happened. */
#include "data_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void src_vfail(const nb_src *s, int64_t offset, nb_status code, const char *fmt,
                      va_list ap) {
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    nb_fail(code, "%s: %s: byte %lld: %s", s->fn, s->path, (long long)offset, msg);
}

void *nb_src_fail(const nb_src *s, int64_t offset, nb_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    src_vfail(s, offset, code, fmt, ap);
    va_end(ap);
    return NULL;
}

nb_status nb_src_failc(const nb_src *s, int64_t offset, nb_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    src_vfail(s, offset, code, fmt, ap);
    va_end(ap);
    return code;
}

bool nb_src_open(nb_src *s, const char *fn, const char *path) {
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->path = path ? path : "(null)";
    if (!path) {
        nb_fail(NB_ERR_NULL, "%s: the path is NULL", fn);
        return false;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        nb_fail(NB_ERR_IO, "%s: %s: cannot open: %s", fn, path, strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        nb_fail(NB_ERR_IO, "%s: %s: not a regular file", fn, path);
        return false;
    }
    s->gz = gzopen(path, "rb");
    if (!s->gz) {
        nb_fail(NB_ERR_IO, "%s: %s: cannot open: %s", fn, path,
                errno ? strerror(errno) : "out of memory");
        return false;
    }
    s->file_size = (int64_t)st.st_size;
    s->compressed = !gzdirect(s->gz);
    return true;
}

void nb_src_close(nb_src *s) {
    if (s->gz) gzclose(s->gz);
    s->gz = NULL;
}

int64_t nb_src_read(nb_src *s, void *buf, int64_t n) {
    int64_t got = 0;
    while (got < n) {
        int64_t want = n - got;
        if (want > INT_MAX / 2) want = INT_MAX / 2;
        int r = gzread(s->gz, (char *)buf + got, (unsigned)want);
        if (r > 0) got += r;
        int err = Z_OK;
        const char *msg = gzerror(s->gz, &err);
        /* zlib reports a gzip stream cut short as Z_BUF_ERROR after handing out
         * what it could decompress */
        if (r < 0 || (err != Z_OK && err != Z_STREAM_END)) {
            s->pos += got;
            size_t plen = strlen(s->path); /* zlib's message starts with "path: " */
            if (msg && !strncmp(msg, s->path, plen) && !strncmp(msg + plen, ": ", 2))
                msg += plen + 2;
            nb_src_fail(s, s->pos, NB_ERR_FORMAT, "%s (zlib: %s)",
                        s->compressed ? "the gzip data is corrupt or cut short"
                                      : "the file cannot be read",
                        err == Z_ERRNO ? strerror(errno) : msg);
            return -1;
        }
        if (r == 0) break; /* end of the data */
    }
    s->pos += got;
    return got;
}

int64_t nb_src_max_remaining(const nb_src *s) {
    if (!s->compressed) return s->file_size - s->pos;
    if (s->file_size > INT64_MAX / NB_GZIP_MAX_RATIO) return INT64_MAX;
    return s->file_size * NB_GZIP_MAX_RATIO + 4096;
}

char *nb_src_slurp(nb_src *s, int64_t limit, int64_t *len) {
    int64_t cap = s->compressed ? 1 << 16 : nb_src_max_remaining(s);
    if (cap > limit) cap = limit;
    char *buf = malloc((size_t)cap + 1);
    if (!buf) return nb_fail(NB_ERR_MEMORY, "%s: %s: out of memory", s->fn, s->path);
    int64_t n = 0;
    for (;;) {
        int64_t r = nb_src_read(s, buf + n, cap - n);
        if (r < 0) {
            free(buf);
            return NULL;
        }
        n += r;
        if (n < cap) break; /* short read: the end */
        char probe;
        int64_t more = nb_src_read(s, &probe, 1);
        if (more < 0) {
            free(buf);
            return NULL;
        }
        if (more == 0) break;
        if (cap >= limit) {
            free(buf);
            return nb_src_fail(s, n, NB_ERR_FORMAT, "the file is larger than %lld bytes",
                               (long long)limit);
        }
        int64_t bigger = cap > limit / 2 ? limit : cap * 2;
        char *grown = realloc(buf, (size_t)bigger + 1);
        if (!grown) {
            free(buf);
            return nb_fail(NB_ERR_MEMORY, "%s: %s: out of memory", s->fn, s->path);
        }
        buf = grown;
        buf[n++] = probe;
        cap = bigger;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

#define READ_CHUNK (1 << 16)

int64_t nb_src_read_numbers(nb_src *s, char kind, int size, bool big_endian, int64_t n,
                            double divisor, float *out) {
    unsigned char *buf = malloc(READ_CHUNK);
    if (!buf) return nb_fail(NB_ERR_MEMORY, "%s: out of memory", s->fn), -1;
    int64_t per_chunk = READ_CHUNK / size, done = 0, bytes = 0;
    while (done < n) {
        int64_t m = n - done < per_chunk ? n - done : per_chunk;
        int64_t got = nb_src_read(s, buf, m * size);
        if (got < 0) {
            bytes = -1;
            break;
        }
        bytes += got;
        for (int64_t i = 0; i < got / size; i++)
            out[done + i] =
                (float)(nb_decode_number(buf + i * size, kind, size, big_endian) / divisor);
        if (got < m * size) break;
        done += m;
    }
    free(buf);
    return bytes;
}

int64_t nb_src_skip_rest(nb_src *s) {
    char buf[4096];
    int64_t n = 0, got;
    while ((got = nb_src_read(s, buf, sizeof buf)) > 0) n += got;
    return got < 0 ? -1 : n;
}

/* ---- numbers ------------------------------------------------------------------------ */
static uint64_t load_bits(const unsigned char *p, int size, bool big_endian) {
    uint64_t v = 0;
    for (int i = 0; i < size; i++) {
        int k = big_endian ? i : size - 1 - i;
        v = (v << 8) | p[k];
    }
    return v;
}

double nb_decode_number(const unsigned char *p, char kind, int size, bool big_endian) {
    uint64_t bits = load_bits(p, size, big_endian);
    switch (kind) {
    case 'u':
        return (double)bits;
    case 'b':
        return bits != 0;
    case 'i': {
        if (size < 8 && (bits >> (8 * size - 1)) & 1) bits |= ~0ULL << (8 * size); /* sign */
        int64_t v;
        memcpy(&v, &bits, sizeof v);
        return (double)v;
    }
    case 'f':
        if (size == 4) {
            uint32_t b32 = (uint32_t)bits;
            float f;
            memcpy(&f, &b32, sizeof f);
            return f;
        } else {
            double d;
            memcpy(&d, &bits, sizeof d);
            return d;
        }
    }
    return 0.0;
}

bool nb_mul_checked(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return false;
    if (a != 0 && b > INT64_MAX / a) return false;
    *out = a * b;
    return true;
}

char *nb_strdup_checked(const char *fn, const char *s) {
    char *d = strdup(s ? s : "");
    if (!d) nb_fail(NB_ERR_MEMORY, "%s: out of memory", fn);
    return d;
}

char **nb_copy_strings(const char *fn, const char *const *v, int64_t n) {
    char **out = calloc((size_t)(n > 0 ? n : 1), sizeof *out);
    for (int64_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(v[i]))) {
            nb_free_strings(out, n);
            out = NULL;
        }
    if (!out) nb_fail(NB_ERR_MEMORY, "%s: out of memory", fn);
    return out;
}

void nb_free_strings(char **v, int64_t n) {
    if (!v) return;
    for (int64_t i = 0; i < n; i++) free(v[i]);
    free(v);
}
