/* What tools/' data readers share: a bounded byte source over a gzip or plain
 * file that knows its offset and how many bytes it can possibly hold, error
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
    const char *fn;   /* "nb_load_idx", for messages */
    const char *path; /* as the caller gave it       */
    gzFile gz;        /* reads gzip and plain files alike */
    bool compressed;
    int64_t file_size; /* bytes on disk */
    int64_t pos;       /* bytes of (uncompressed) data consumed so far */
} nb_src;

/* Opens path for reading; false with an NB_ERR_IO error naming fn and path. */
bool nb_src_open(nb_src *s, const char *fn, const char *path);
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

#endif
