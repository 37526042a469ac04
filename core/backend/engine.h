/* nabla's only door to oneDNN: the engine, each thread's stream and primitive
 * cache, and what the kernel wrappers (kernels.h, cnn.h) build on.
 *
 * Threads. The engine is one per process, made at the first thread's first
 * kernel and destroyed when the last thread that used it gives its state
 * back. Every thread has its own stream and its own cache of primitives, each
 * with its own memory objects (their data handles are set per call, so they
 * cannot be shared): a kernel call takes no lock. A thread's state goes with
 * nb_backend_shutdown (nb_shutdown calls it) or with the thread's end. Only
 * making and freeing a thread's state takes the registry's mutex.
 *
 * The cache keeps every primitive a thread creates, with one memory object per
 * argument, under a key of (kind, attributes, dims, strides): creating a
 * primitive costs hundreds of microseconds and even oneDNN's own cache a
 * descriptor creation per call, more than running a small op; a cached call
 * only swaps data pointers and executes. Not installed.
 */
#ifndef NB_BACKEND_ENGINE_H
#define NB_BACKEND_ENGINE_H

#include "core/core_internal.h"

#include <oneapi/dnnl/dnnl.h>

/* ---- engine and the calling thread's state (engine.c) ----------------------------- */
typedef struct nb_prim nb_prim;
#define NB_CACHE_SLOTS 4096 /* hash chains of a thread's cache */

typedef struct nb_backend_state {
    dnnl_engine_t engine; /* the process's, counted as used by this thread */
    dnnl_stream_t stream; /* this thread's */
    nb_prim **cache;      /* this thread's primitives, NB_CACHE_SLOTS chains */
} nb_backend_state;

/* The engine, for the calling thread: its state (stream, cache) is made at its
 * first call. NULL, with an error naming fn, if oneDNN could not start or
 * memory ran out. */
dnnl_engine_t nb_engine(const char *fn);
/* The calling thread's state: NULL until its first nb_engine (a lookup in an
 * absent cache finds nothing; making a primitive calls nb_engine first). */
nb_backend_state *nb_backend_state_current(void);
/* Threads whose backend state is alive now (a count for tests). */
int nb_backend_threads(void);
nb_status nb_dnnl_check(dnnl_status_t s, const char *fn, const char *what);

/* ---- keys and the cache (cache.c) ------------------------------------------------- */
typedef struct nb_key {
    unsigned char b[1536];
    size_t n;
    bool overflow;
} nb_key;
void nb_key_init(nb_key *k, const char *kind);
void nb_key_int(nb_key *k, int64_t v);
void nb_key_float(nb_key *k, float v);
void nb_key_tensor(nb_key *k, const nb_tensor *t); /* ndim, dims, strides */
void nb_key_dims(nb_key *k, const int64_t *dims, int ndim);

/* The calling thread's primitive under k, or NULL. */
nb_prim *nb_prim_find(const nb_key *k);
/* Create the primitive for pd (taking ownership of pd) and cache it under k.
 * On failure pd is destroyed and the error names fn and what. */
nb_prim *nb_prim_add(const nb_key *k, dnnl_primitive_desc_t pd, const char *fn, const char *what);
/* The primitive under k, else a new one from op_desc (attr and hint may be NULL). */
nb_prim *nb_prim_get(const nb_key *k, const_dnnl_op_desc_t op_desc,
                     const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                     const char *fn, const char *what);
const_dnnl_primitive_desc_t nb_prim_pd(const nb_prim *p);
/* Bind ptrs[i] to argument args[i] and execute p on the thread's stream. */
nb_status nb_prim_run(nb_prim *p, const char *fn, int nargs, const int *args, void *const *ptrs);
#define NB_PRIM_MAX_ARGS 24
/* Bytes of a primitive's workspace (0 if it has none). */
size_t nb_prim_workspace_bytes(const nb_prim *p);
/* Destroy every primitive of a cache (engine.c, when a thread's state goes). */
void nb_cache_clear(nb_prim **cache);

/* A memory descriptor for t's dims and strides (0-d tensors are [1]); ndim > t->ndim
 * pads leading 1s (for broadcasting). */
void nb_md_of(dnnl_memory_desc_t *md, const nb_tensor *t, int ndim);
/* t's rank as oneDNN sees it: 0-d tensors are [1] */
int nb_md_rank(const nb_tensor *t);

#endif
