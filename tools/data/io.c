/* A bounded byte source for the data readers: a file or a buffer in memory,
 * gzip or plain. The first two bytes decide: 1f 8b is a gzip stream, which
 * zlib's inflate decodes member after member (bytes after the last member
 * that start no new one are ignored, as gzip(1) does); anything else is read
 * as it is. The source counts the bytes consumed so that every error can name
 * the offset where it happened. Files are read in chunks, so a plain file of
 * any size costs READ_CHUNK bytes of buffer, and a buffer is never copied. */
#include "data_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK (1 << 16)

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

/* ---- raw bytes: the next stretch of the file or buffer ------------------------------- */
/* Makes raw bytes available at s->in (s->in_len of them); 0 at the end of
 * the input, -1 with an error when the file cannot be read. */
/* read(2) of up to cap bytes into dst, again after a signal; -1 with an error */
static ssize_t read_some(nb_src *s, unsigned char *dst, size_t cap) {
    ssize_t n;
    do n = read(s->fd, dst, cap);
    while (n < 0 && errno == EINTR);
    if (n < 0) nb_src_fail(s, s->pos, NB_ERR_IO, "the file cannot be read: %s", strerror(errno));
    return n;
}

static int refill(nb_src *s) {
    if (s->in_len > 0 || s->fd < 0) return s->in_len > 0;
    ssize_t n = read_some(s, s->chunk, READ_CHUNK);
    if (n < 0) return -1;
    s->in = s->chunk;
    s->in_len = (size_t)n;
    return n > 0;
}

/* up to n raw bytes (plain data) */
static int64_t read_plain(nb_src *s, unsigned char *out, int64_t n) {
    int64_t got = 0;
    while (got < n) {
        int r = refill(s);
        if (r < 0) return -1;
        if (r == 0) break;
        size_t m = s->in_len < (size_t)(n - got) ? s->in_len : (size_t)(n - got);
        memcpy(out + got, s->in, m);
        s->in += m;
        s->in_len -= m;
        got += (int64_t)m;
    }
    return got;
}

/* 1 when the raw input continues with another gzip member, 0 when not, -1
 * (with an error) when the file cannot be read */
static int next_member(nb_src *s) {
    if (refill(s) < 0) return -1;
    if (s->in_len == 1 && s->fd >= 0) { /* the two magic bytes may straddle two chunks */
        s->chunk[0] = s->in[0];
        ssize_t n = read_some(s, s->chunk + 1, READ_CHUNK - 1);
        if (n < 0) return -1;
        s->in = s->chunk;
        s->in_len = 1 + (size_t)n;
    }
    return s->in_len >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
}

static void *gzip_fail(nb_src *s, int64_t offset, const char *why) {
    return nb_src_fail(s, offset, NB_ERR_FORMAT, "the gzip data is corrupt or cut short (zlib: %s)",
                       why);
}

/* up to n uncompressed bytes */
static int64_t read_gzip(nb_src *s, unsigned char *out, int64_t n) {
    int64_t got = 0;
    while (got < n && !s->z_done) {
        int r = refill(s);
        if (r < 0) return -1;
        if (r == 0) return gzip_fail(s, s->pos + got, "unexpected end of file"), -1;
        int64_t want = n - got < INT_MAX / 2 ? n - got : INT_MAX / 2;
        s->z.next_in = (unsigned char *)s->in;
        s->z.avail_in = (uInt)(s->in_len < UINT_MAX / 2 ? s->in_len : UINT_MAX / 2);
        s->z.next_out = out + got;
        s->z.avail_out = (uInt)want;
        int ret = inflate(&s->z, Z_NO_FLUSH);
        int64_t produced = want - s->z.avail_out;
        size_t consumed = (size_t)(s->z.next_in - s->in);
        got += produced;
        s->in_len -= consumed;
        s->in = s->z.next_in;
        if (ret == Z_MEM_ERROR)
            return nb_src_fail(s, s->pos + got, NB_ERR_MEMORY, "out of memory"), -1;
        if (ret == Z_BUF_ERROR && produced == 0 && consumed == 0) /* stuck: never loop forever */
            ret = Z_DATA_ERROR;
        if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
            return gzip_fail(s, s->pos + got, s->z.msg ? s->z.msg : "compressed data error"), -1;
        if (ret == Z_STREAM_END) {
            int more = next_member(s);
            if (more < 0) return -1;
            if (more)
                inflateReset(&s->z);
            else
                s->z_done = true;
        }
    }
    return got;
}

/* ---- opening and reading ------------------------------------------------------------- */
static bool start(nb_src *s) {
    int r = refill(s);
    if (r < 0) return false;
    s->compressed = s->in_len >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    if (!s->compressed) return true;
    if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) {
        nb_fail(NB_ERR_MEMORY, "%s: %s: out of memory", s->fn, s->path);
        return false;
    }
    s->z_live = true;
    return true;
}

bool nb_src_open(nb_src *s, const char *fn, const char *path) {
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->path = path ? path : "(null)";
    s->fd = -1;
    if (!path) {
        nb_fail(NB_ERR_NULL, "%s: the path is NULL", fn);
        return false;
    }
    const char *why;
    s->fd = nb_open_regular(path, &why); /* never blocks: a FIFO is refused, not waited on */
    struct stat st;
    if (s->fd < 0 || fstat(s->fd, &st) != 0) {
        if (s->fd < 0 && !strcmp(why, "not a regular file"))
            nb_fail(NB_ERR_IO, "%s: %s: not a regular file", fn, path);
        else
            nb_fail(NB_ERR_IO, "%s: %s: cannot open: %s", fn, path,
                    s->fd < 0 ? why : strerror(errno));
        nb_src_close(s);
        return false;
    }
    s->chunk = malloc(READ_CHUNK);
    if (!s->chunk) {
        nb_fail(NB_ERR_MEMORY, "%s: %s: out of memory", fn, path);
        nb_src_close(s);
        return false;
    }
    s->file_size = (int64_t)st.st_size;
    if (!start(s)) {
        nb_src_close(s);
        return false;
    }
    return true;
}

bool nb_src_open_mem(nb_src *s, const char *fn, const void *data, size_t size, const char *name) {
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->path = name ? name : "(memory)";
    s->fd = -1;
    if (!data && size > 0) {
        nb_fail(NB_ERR_NULL, "%s: the data is NULL", fn);
        return false;
    }
    s->in = data;
    s->in_len = size;
    s->file_size = (int64_t)size;
    if (!start(s)) {
        nb_src_close(s);
        return false;
    }
    return true;
}

void nb_src_close(nb_src *s) {
    if (s->z_live) inflateEnd(&s->z);
    s->z_live = false;
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    free(s->chunk);
    s->chunk = NULL;
    s->in = NULL;
    s->in_len = 0;
}

int64_t nb_src_read(nb_src *s, void *buf, int64_t n) {
    int64_t got = s->compressed ? read_gzip(s, buf, n) : read_plain(s, buf, n);
    if (got < 0) return -1;
    s->pos += got;
    return got;
}

int64_t nb_src_max_remaining(const nb_src *s) {
    if (!s->compressed) return s->file_size - s->pos;
    if (s->file_size > INT64_MAX / NB_GZIP_MAX_RATIO) return INT64_MAX;
    return s->file_size * NB_GZIP_MAX_RATIO + 4096;
}

char *nb_src_slurp(nb_src *s, int64_t limit, int64_t *len) {
    if (!s->compressed && nb_src_max_remaining(s) > limit) /* refused before any allocation */
        return nb_src_fail(s, s->pos, NB_ERR_FORMAT, "the file is larger than %lld bytes",
                           (long long)limit);
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

bool nb_shape_bytes(const int64_t *dims, int ndim, int size, int64_t *numel, int64_t *bytes) {
    return nb_shape_numel("nb_shape_bytes", dims, ndim, numel) &&
           nb_mul_checked(*numel, size, bytes);
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
