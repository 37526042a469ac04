/* What tools/' data readers share: a bounded byte source over a gzip or plain
 * file or buffer that knows its offset and how many bytes it can possibly hold, error
 * messages of the form "fn: path: byte N: ...", and number decoding. Not
 * installed. */
#ifndef NB_DATA_INTERNAL_H
#define NB_DATA_INTERNAL_H

#include "core/core_internal.h"
#include "nabla/data.h"

#include <zlib.h>

/* Deflate cannot compress better than about 1032:1, so a gzip file of n bytes
 * holds at most this many uncompressed bytes (plus a small margin). */
#define NB_GZIP_MAX_RATIO 1040

typedef struct nb_src {
    const char *fn;          /* "nb_load_idx", for messages            */
    const char *path;        /* as the caller gave it, or the buffer's name */
    int fd;                  /* the open file, or -1 for a buffer       */
    unsigned char *chunk;    /* the file's read buffer (NULL for a buffer) */
    const unsigned char *in; /* raw bytes not yet consumed...       */
    size_t in_len;           /* ...and how many                    */
    z_stream z;              /* inflate state when compressed      */
    bool z_live, z_done;     /* z initialized; the last member ended */
    bool compressed;
    int64_t file_size; /* bytes on disk, or the buffer's size */
    int64_t pos;       /* bytes of (uncompressed) data consumed so far */
} nb_src;

/* Opens path for reading; false with an NB_ERR_IO error naming fn and path. */
bool nb_src_open(nb_src *s, const char *fn, const char *path);
/* Reads size bytes at data (not copied: they must outlive the source);
 * errors name the buffer as name (NULL: "(memory)"). */
bool nb_src_open_mem(nb_src *s, const char *fn, const void *data, size_t size, const char *name);
void nb_src_close(nb_src *s);
/* Reads up to n bytes; fewer only at the end of the data. -1 (with an error)
 * when the file cannot be read or its gzip data is corrupt. */
int64_t nb_src_read(nb_src *s, void *buf, int64_t n);
/* The most uncompressed bytes the rest of the file could hold: exact for
 * plain files, a bound from the compression ratio for gzip. */
int64_t nb_src_max_remaining(const nb_src *s);
/* The whole rest of the file into a NUL-terminated heap buffer (free() it),
 * refusing more than limit bytes. NULL with an error on failure. */
char *nb_src_slurp(nb_src *s, int64_t limit, int64_t *len);

/* Decodes n stored numbers of one type (see nb_decode_number) into out,
 * dividing each by divisor. Returns the bytes read: fewer than n * size when
 * the data ends early; -1 (with an error) when the file cannot be read. */
int64_t nb_src_read_numbers(nb_src *s, char kind, int size, bool big_endian, int64_t n,
                            double divisor, float *out);
/* Reads to the end; returns how many bytes were left (-1 on a read error). */
int64_t nb_src_skip_rest(nb_src *s);

/* Records "fn: path: byte offset: message" and returns NULL / code. */
void *nb_src_fail(const nb_src *s, int64_t offset, nb_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
nb_status nb_src_failc(const nb_src *s, int64_t offset, nb_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One stored number as a double. kind: 'u' unsigned, 'i' signed, 'f' IEEE
 * float, 'b' bool; size in bytes (1, 2, 4, 8; 'f' 4 or 8). */
double nb_decode_number(const unsigned char *p, char kind, int size, bool big_endian);

/* a * b into *out; false when it overflows or either is negative */
bool nb_mul_checked(int64_t a, int64_t b, int64_t *out);

/* The most elements a reader puts in one tensor (16 GiB of floats), whatever
 * the file: a gzip file of a few megabytes could otherwise claim, and make
 * nabla allocate, tens of gigabytes before a byte of data is read. */
#define NB_LOAD_MAX_ELEMENTS ((int64_t)1 << 32)

/* The elements of a tensor of shape dims (nb_shape_numel's checks) and their
 * bytes in the file at size bytes each; false when a product overflows. The
 * caller reports the error in the file's terms. */
bool nb_shape_bytes(const int64_t *dims, int ndim, int size, int64_t *numel, int64_t *bytes);

/* strdup with nabla's error on failure */
char *nb_strdup_checked(const char *fn, const char *s);
/* heap copies of n strings (free with nb_free_strings), or NULL with an error */
char **nb_copy_strings(const char *fn, const char *const *v, int64_t n);
/* frees n strings and the array */
void nb_free_strings(char **v, int64_t n);

/* The embedded copies (tools/embedded_data.c). */
extern const char *const nb_iris_feature_names[4];
nb_status nb_embedded_xor(nb_dataset *out);
nb_status nb_embedded_iris(nb_dataset *out);

/* dataset names compare case-insensitively, '-' equal to '_' (named.c) */
bool nb_dataset_same_name(const char *a, const char *b);

#endif
