/* nabla core: tensors, scopes, errors, random numbers, threads.
 *
 * Every function that returns a tensor returns NULL on failure and records a
 * thread-local error (nb_error()). A NULL argument makes a function return NULL
 * without replacing the error already recorded, so a chain of calls fails once,
 * at the end, with the message of the first failure.
 */
#ifndef NABLA_CORE_H
#define NABLA_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NB_MAX_DIMS 8

typedef struct nb_tensor nb_tensor;

typedef enum nb_dtype { NB_F32 = 0 } nb_dtype;

/* Status of functions that do not return a tensor: 0 is success. */
typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_NULL,    /* an argument was NULL                            */
    NB_ERR_SHAPE,   /* shapes do not fit the op                        */
    NB_ERR_ARG,     /* a bad value: axis out of range, negative size   */
    NB_ERR_MEMORY,  /* allocation failed or a size overflowed          */
    NB_ERR_BACKEND, /* oneDNN refused a descriptor or a primitive      */
    NB_ERR_STATE,   /* wrong order of calls (backward twice, ...)      */
    NB_ERR_IO,      /* a file could not be read or written             */
    NB_ERR_FORMAT,  /* a file or string is malformed                   */
} nb_status;

/* Shape literal: nb_zeros(NB_SHAPE(2, 3)) passes the array and its length. */
#define NB_SHAPE(...)                                                                              \
    (const int64_t[]){__VA_ARGS__}, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

/* ---- errors ------------------------------------------------------------ */
const char *nb_error(void);    /* message of the last failure, "" if none  */
nb_status nb_error_code(void); /* code of the last failure, NB_OK if none  */
void nb_clear_error(void);     /* forget the last failure                  */

/* ---- warnings -----------------------------------------------------------
 * Calls that succeed but see something that is probably a mistake (a
 * validation part holding a class the training part lacks, a probability
 * loss after an output that is not a probability) warn: the message goes to
 * the handler, by default a line "nabla: warning: ..." on stderr. A warning
 * never changes a call's result. The handler is process-wide; set it before
 * starting threads (NULL restores the default). */
typedef void (*nb_warning_handler)(const char *message, void *ctx);
void nb_set_warning_handler(nb_warning_handler fn, void *ctx);
void nb_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- creation (results belong to the current scope) ----------------------- */
nb_tensor *nb_empty(const int64_t *shape, int ndim); /* uninitialized      */
nb_tensor *nb_zeros(const int64_t *shape, int ndim);
nb_tensor *nb_ones(const int64_t *shape, int ndim);
nb_tensor *nb_full(const int64_t *shape, int ndim, float value);
nb_tensor *nb_from_array(const float *data, const int64_t *shape, int ndim); /* copies  */
nb_tensor *nb_scalar(float value);                                           /* 0-d     */
nb_tensor *nb_arange(float start, float stop, float step);                   /* [start, stop) */
nb_tensor *nb_linspace(float start, float stop, int64_t n); /* n points, both ends */
nb_tensor *nb_eye(int64_t n);
nb_tensor *nb_zeros_like(const nb_tensor *t);
nb_tensor *nb_clone(const nb_tensor *t); /* contiguous copy, no gradient history */
/* Rows idx[0..n) of x (rows along axis 0, any rank) as a new contiguous
 * tensor [n, ...], no gradient history: a mini-batch is
 * nb_take_rows(x, order + b * bs, bs). */
nb_tensor *nb_take_rows(const nb_tensor *x, const int64_t *idx, int64_t n);

/* ---- random numbers: one seeded generator per thread, same numbers everywhere */
void nb_manual_seed(uint64_t seed);
nb_tensor *nb_rand(const int64_t *shape, int ndim);  /* uniform in [0, 1)   */
nb_tensor *nb_randn(const int64_t *shape, int ndim); /* normal(0, 1)        */
nb_tensor *nb_uniform(const int64_t *shape, int ndim, float low, float high);
nb_tensor *nb_normal(const int64_t *shape, int ndim, float mean, float std);
uint32_t nb_rng_u32(void);       /* next raw 32-bit number of the thread's generator */
uint64_t nb_rng_get_state(void); /* for checkpoints: resume the same stream later */
void nb_rng_set_state(uint64_t state);
float nb_rng_uniform(void);
/* idx[0..n) = a random permutation of 0..n-1 (Fisher-Yates without modulo
 * bias, the thread's generator): the one shuffle fit and the data tools use. */
nb_status nb_permutation(int64_t *idx, int64_t n);

/* ---- properties ------------------------------------------------------- */
int nb_ndim(const nb_tensor *t);
int64_t nb_dim(const nb_tensor *t, int axis); /* negative axes count from the end */
const int64_t *nb_shape(const nb_tensor *t);
const int64_t *nb_strides(const nb_tensor *t); /* in elements */
int64_t nb_numel(const nb_tensor *t);
nb_dtype nb_get_dtype(const nb_tensor *t);
bool nb_is_contiguous(const nb_tensor *t);
bool nb_shares_storage(const nb_tensor *a, const nb_tensor *b);
float *nb_data(nb_tensor *t); /* first element; rows follow nb_strides()      */
/* Declares that t's data was written through nb_data (or by a kernel of the
 * caller's own). Every storage has a version that nb_fill, nb_set,
 * nb_copy_from and optimizer steps bump; an op that used the storage records
 * the version, and nb_backward fails, naming the op and the tensor, if it
 * changed (the gradient would be computed from the new values: wrong).
 * nb_data itself does not bump: most callers only read, and a read before
 * backward must not break it. So a write through nb_data between an op and
 * nb_backward goes unseen unless followed by nb_mark_modified(t). */
nb_status nb_mark_modified(nb_tensor *t);
int nb_shape_str(const nb_tensor *t, char *buf, size_t n); /* "[2, 3]"      */

nb_tensor *nb_set_name(nb_tensor *t, const char *name); /* returns t */
const char *nb_name(const nb_tensor *t);                /* "" when unnamed */

/* ---- element access (for small tests and examples) --------------------- */
float nb_item(const nb_tensor *t); /* the value of a one-element tensor; NaN + error otherwise */
float nb_get(const nb_tensor *t, const int64_t *index); /* index has ndim entries */
nb_status nb_set(nb_tensor *t, const int64_t *index, float value);
float nb_get_flat(const nb_tensor *t, int64_t i); /* i-th element in row-major order */
nb_status nb_copy_to(const nb_tensor *t, float *out, int64_t n); /* row-major copy out */
nb_status nb_copy_from(nb_tensor *t, const float *in, int64_t n);
nb_status nb_fill(nb_tensor *t, float value);

/* ---- printing ---------------------------------------------------------- */
nb_status nb_fprint(FILE *f, const nb_tensor *t); /* numpy-like, with shape */
nb_status nb_print(const nb_tensor *t);           /* to stdout */

/* ---- ownership ----------------------------------------------------------
 * Every new tensor belongs to the innermost open scope. nb_scope_end() frees
 * everything created since the matching nb_scope_begin() (and the tape nodes
 * recorded there), and the memory is reused by the next scope. nb_keep() moves
 * a tensor to the enclosing scope; if it was the result of an op, it is
 * detached from the tape when its scope ends. Tensors made outside any scope
 * live until nb_free() or nb_shutdown().
 */
nb_status nb_scope_begin(void);
nb_status nb_scope_end(void);
nb_tensor *nb_keep(nb_tensor *t);
/* Frees t now. Only for tensors no recorded op still needs: nb_backward
 * through an op whose input or output was freed fails with an error saying
 * so. Ending the scope is the safe way.
 *
 * Freed tensors. A freed header is marked and goes to the back of a pool
 * handed out oldest first, so a pointer kept past nb_free or past the end of
 * its scope is caught while its header waits there: a second nb_free records
 * an error (NB_ERR_STATE, "already freed") and frees nothing; ops, nb_backward,
 * nb_grad, nb_keep, nb_detach and element access given it fail with an
 * error. (Once a later tensor got the header, the pointer is that tensor:
 * stale pointers are a bug this narrows, not one it can always see.)
 * nb_free stays void: read nb_error_code() after it when in doubt. */
void nb_free(nb_tensor *t);
/* Frees every tensor, pool, oneDNN stream and cached primitive of the calling
 * thread (and the oneDNN engine when no other thread holds it). No
 * tensor pointer of before may be used after it (its memory is gone). A
 * model made before it is refused by nb_model_free (an error), which then
 * releases only the model's own memory and optimizer state, never the
 * weights. Tensors and models belong to the thread that made them: a model
 * freed by another thread is refused the same way. */
void nb_shutdown(void);

/* Heap allocations nabla has made so far on this thread (pools refill from the
 * heap; steady-state training steps should not). */
uint64_t nb_alloc_count(void);

/* ---- threads -----------------------------------------------------------
 * Each thread has its own errors, scopes, tape, grad mode, name scopes, RNG,
 * memory pools, oneDNN stream and oneDNN primitive cache; only the oneDNN
 * engine (made at the first kernel, destroyed when the last thread using it
 * lets go) and the warning handler are shared. So threads that each build
 * and train their own tensors, models and optimizers run at once without
 * locking and get bit-for-bit the numbers each would get alone (with the same
 * seed and thread count). nb_shutdown frees only the calling thread's state;
 * other threads carry on. A thread that ends without nb_shutdown has it run
 * for it as it ends, so its tensors die with it. What two threads may not
 * share: a tensor (or a view of it, or its gradient), a model, an optimizer,
 * a compiled graph or a tape belongs to the thread that made it and is used
 * by that thread only; not even reading it from another thread at the same
 * time is safe (ops update its bookkeeping). To hand data to another thread,
 * copy the floats (nb_data) and make a tensor there (nb_from_array). */
/* Threads the calling thread's oneDNN kernels may use (OpenMP's setting is
 * per thread: a new thread starts with OpenMP's default, OMP_NUM_THREADS or
 * the core count). */
void nb_set_num_threads(int n);
int nb_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif
