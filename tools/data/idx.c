/* IDX files, the format of MNIST and Fashion-MNIST (gzip or plain).
 *
 *   byte 0   0x00 0x00        magic
 *   byte 2   element type     0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double
 *   byte 3   ndims
 *   byte 4   ndims sizes, 32-bit big-endian
 *   then     the elements, big-endian, row-major
 *
 * The header is checked against what the file can hold before the tensor is
 * allocated, so a corrupt size cannot ask for terabytes.
 */
#include "data_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char code;
    char kind; /* for nb_decode_number */
    int size;
    const char *name;
} idx_type;

static const idx_type idx_types[] = {
    {0x08, 'u', 1, "ubyte"}, {0x09, 'i', 1, "byte"},  {0x0B, 'i', 2, "short"},
    {0x0C, 'i', 4, "int"},   {0x0D, 'f', 4, "float"}, {0x0E, 'f', 8, "double"},
};

static const idx_type *find_type(unsigned char code) {
    for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
        if (idx_types[i].code == code) return &idx_types[i];
    return NULL;
}

/* "60000 images of 28x28", "60000 labels" or "shape [2, 3, 4, 5]" */
static const char *describe(const int64_t *dims, int ndim) {
    static _Thread_local char buf[200];
    if (ndim == 3)
        snprintf(buf, sizeof buf, "%lld images of %lldx%lld", (long long)dims[0],
                 (long long)dims[1], (long long)dims[2]);
    else if (ndim == 1)
        snprintf(buf, sizeof buf, "%lld labels", (long long)dims[0]);
    else
        snprintf(buf, sizeof buf, "shape %s", nb_dims_s(dims, ndim));
    return buf;
}

/* Reads and checks bytes 0..4+4*ndim; fills type, dims, ndim. */
static nb_status read_header(nb_src *s, const idx_type **type, int64_t *dims, int *ndim) {
    unsigned char magic[4];
    int64_t got = nb_src_read(s, magic, 4);
    if (got < 0) return nb_error_code();
    if (got < 4)
        return nb_src_failc(s, got, NB_ERR_FORMAT,
                            "the file ends after %lld bytes; an IDX file starts with a 4-byte "
                            "magic number",
                            (long long)got);
    unsigned m =
        (unsigned)magic[0] << 24 | (unsigned)magic[1] << 16 | (unsigned)magic[2] << 8 | magic[3];
    *type = find_type(magic[2]);
    if (magic[0] != 0 || magic[1] != 0 || !*type)
        return nb_src_failc(s, 0, NB_ERR_FORMAT,
                            "bad magic number 0x%08x: an IDX file starts with 00 00, a type byte "
                            "(08 = ubyte) and the number of dimensions (MNIST images: 0x00000803)",
                            m);
    *ndim = magic[3];
    if (*ndim < 1 || *ndim > NB_MAX_DIMS)
        return nb_src_failc(s, 3, NB_ERR_FORMAT, "%d dimensions; nabla reads 1 to %d", *ndim,
                            NB_MAX_DIMS);
    unsigned char raw[4 * NB_MAX_DIMS];
    int64_t want = 4 * (int64_t)*ndim;
    got = nb_src_read(s, raw, want);
    if (got < 0) return nb_error_code();
    if (got < want)
        return nb_src_failc(s, 4 + got, NB_ERR_FORMAT,
                            "the header has %d dimensions (%lld bytes of sizes) but the file ends "
                            "after %lld bytes",
                            *ndim, (long long)want, (long long)(4 + got));
    for (int i = 0; i < *ndim; i++) dims[i] = (int64_t)nb_decode_number(raw + 4 * i, 'u', 4, true);
    return NB_OK;
}

/* The data size the header promises, checked against what the file can hold. */
static nb_status check_size(const nb_src *s, const idx_type *type, const int64_t *dims, int ndim,
                            int64_t *numel) {
    int64_t n, bytes;
    if (!nb_shape_bytes(dims, ndim, type->size, &n, &bytes))
        return nb_src_failc(s, s->pos, NB_ERR_FORMAT,
                            "header says %s of %s: too many elements (the file is corrupt)",
                            describe(dims, ndim), type->name);
    int64_t room = nb_src_max_remaining(s);
    if (bytes > room) {
        if (s->compressed)
            return nb_src_failc(s, s->pos, NB_ERR_FORMAT,
                                "header says %s (%lld bytes of %s) but a gzip file of %lld bytes "
                                "cannot hold that much",
                                describe(dims, ndim), (long long)bytes, type->name,
                                (long long)s->file_size);
        return nb_src_failc(s, s->pos, NB_ERR_FORMAT,
                            "header says %s (%lld bytes of %s) but the file ends after %lld bytes",
                            describe(dims, ndim), (long long)bytes, type->name,
                            (long long)s->file_size);
    }
    if (n > NB_LOAD_MAX_ELEMENTS)
        return nb_src_failc(s, s->pos, NB_ERR_FORMAT,
                            "header says %s: %lld elements, more than the %lld a reader loads",
                            describe(dims, ndim), (long long)n, (long long)NB_LOAD_MAX_ELEMENTS);
    *numel = n;
    return NB_OK;
}

/* The elements, then the end of the file: extra bytes mean the header is wrong. */
static nb_status read_data(nb_src *s, const idx_type *type, const int64_t *dims, int ndim,
                           int64_t numel, double divisor, float *out) {
    int64_t start = s->pos, bytes = numel * type->size;
    int64_t got = nb_src_read_numbers(s, type->kind, type->size, true, numel, divisor, out);
    if (got < 0) return nb_error_code();
    if (got < bytes)
        return nb_src_failc(s, start, NB_ERR_FORMAT,
                            "header says %s (%lld bytes of %s) but the data ends after %lld bytes",
                            describe(dims, ndim), (long long)bytes, type->name, (long long)got);
    int64_t end = s->pos, extra = nb_src_skip_rest(s);
    if (extra < 0) return nb_error_code();
    if (extra > 0)
        return nb_src_failc(s, end, NB_ERR_FORMAT,
                            "%lld bytes follow the data of %s that the header describes",
                            (long long)extra, describe(dims, ndim));
    return NB_OK;
}

static nb_tensor *read_idx(nb_src *s, bool scale) {
    const idx_type *type = NULL;
    int64_t dims[NB_MAX_DIMS], numel = 0;
    int ndim = 0;
    nb_tensor *t = NULL;
    if (read_header(s, &type, dims, &ndim) == NB_OK &&
        check_size(s, type, dims, ndim, &numel) == NB_OK)
        t = nb_tensor_new(s->fn, dims, ndim);
    if (t && read_data(s, type, dims, ndim, numel, scale ? 255.0 : 1.0, nb_ptr(t)) != NB_OK) {
        nb_free(t);
        t = NULL;
    }
    return t;
}

nb_tensor *nb_load_idx(const char *path, bool scale) {
    nb_src s;
    if (!nb_src_open(&s, "nb_load_idx", path)) return NULL;
    nb_tensor *t = read_idx(&s, scale);
    nb_src_close(&s);
    return t;
}

nb_tensor *nb_load_idx_mem(const void *data, size_t size, const char *name, bool scale) {
    nb_src s;
    if (!nb_src_open_mem(&s, "nb_load_idx_mem", data, size, name)) return NULL;
    nb_tensor *t = read_idx(&s, scale);
    nb_src_close(&s);
    return t;
}
