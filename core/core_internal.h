/* What nabla's own layers see of core/: the tensor and node structs, the
 * error setters, pools and the thread's tape. Not installed. */
#ifndef NB_CORE_INTERNAL_H
#define NB_CORE_INTERNAL_H

#include "nabla/core.h"

#define NB_MAX_INPUTS  8
#define NB_MAX_SAVED   4
#define NB_MAX_ATTRS   128
#define NB_NAME_LEN    32
#define NB_SCOPE_GRAPH (-2)

/* Reference-counted, 64-byte-aligned buffer shared by a tensor and its views. */
typedef struct nb_storage {
    float *data;
    size_t nbytes;
    int refs;
    uint32_t version;             /* bumped by every in-place write (nb_bump_version) */
    uint64_t serial;              /* this thread's count of storages handed out when it was: tells a
                                   * storage from a later one at the same address */
    struct nb_storage *next_free; /* pool link while unused */
} nb_storage;

/* A header's state: live between nb_tensor_header_get and _put. A stale
 * pointer is recognised while its header waits in the pool (handed out
 * again oldest first, so it waits as long as possible). */
#define NB_TENSOR_LIVE  0x6e62746cu
#define NB_TENSOR_FREED 0x6e626664u

struct nb_tensor {
    uint32_t magic; /* NB_TENSOR_LIVE or NB_TENSOR_FREED */
    uint32_t gen;   /* times this header was released: a node tells reuse from its tensor */
    nb_dtype dtype;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t strides[NB_MAX_DIMS]; /* in elements */
    int64_t offset;               /* in elements, into storage */
    int64_t numel;
    nb_storage *storage;
    bool requires_grad;
    nb_tensor *grad;      /* leaves: accumulated gradient, owned by this tensor */
    struct nb_node *node; /* the op that produced it; NULL for leaves */
    int scope;            /* depth of the owning scope; -1 when owned by another tensor,
                           * NB_SCOPE_GRAPH when a compiled graph owns it */
    int64_t slot;         /* index in that scope's list */
    const struct nb_op_def *dropped_op; /* an op result whose node went with its scope */
    char name[NB_NAME_LEN];
    nb_tensor *next_free; /* pool link while unused */
};

/* The tensors a node holds for its backward rule: in[0..n_in), out, saved[].
 * The node records each one's header generation and storage version when it
 * is recorded; backward refuses to run if one was freed or written since. */
#define NB_HELD (NB_MAX_INPUTS + 1 + NB_MAX_SAVED)

/* One recorded op: the tape entry. Also the context an op's kernels and
 * backward rule receive (ops/op.h describes nb_op_def). */
typedef struct nb_node {
    const struct nb_op_def *def;
    int n_in;
    nb_tensor *in[NB_MAX_INPUTS];
    bool needs_grad[NB_MAX_INPUTS]; /* which inputs want a gradient */
    nb_tensor *out;
    nb_tensor *saved[NB_MAX_SAVED];                 /* extra tensors a kernel keeps for backward */
    nb_tensor *grad;                                /* d(loss)/d(out), summed during backward */
    int64_t seq;                                    /* position on the tape */
    bool consumed;                                  /* a backward pass released it */
    bool recorded;                                  /* lives on the tape (not a stack temporary) */
    char scope[NB_NAME_LEN];                        /* the name scope it ran in ("dense_1") */
    _Alignas(16) unsigned char attrs[NB_MAX_ATTRS]; /* the op's attribute struct */
    uint32_t held_gen[NB_HELD];                     /* set by nb_record, see NB_HELD */
    uint32_t held_version[NB_HELD];
    struct nb_node *next_free;
} nb_node;

/* ---- errors (core/error.c) -------------------------------------------------- */
/* Record a failure and return NULL / the code, for one-line error returns. */
void *nb_fail(nb_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
nb_status nb_fail_status(nb_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A NULL argument: keep the pending error, or record one naming fn. */
void *nb_fail_null(const char *fn);
/* After a callee's result (NULL, false) said it failed: the code it recorded,
 * never NB_OK. Success or failure is decided by results, this only passes the
 * code on. */
nb_status nb_failure_code(void);
/* Failures this thread has recorded so far: a callback recorded an error of its
 * own when the count moved across the call (an older error is not its). */
unsigned long nb_failure_count(void);
/* a uniform integer in [0, bound), bound >= 1, without modulo bias (rng.c) */
uint64_t nb_rng_below(uint64_t bound);

/* ---- checked size arithmetic ----------------------------------------------------
 * Every sum or product of user-supplied sizes goes through these: false when
 * the exact result does not fit an int64_t (*r is then unspecified), so a
 * caller reports an error before it uses the value. */
static inline bool nb_add_ok(int64_t a, int64_t b, int64_t *r) {
    return !__builtin_add_overflow(a, b, r);
}
static inline bool nb_mul_ok(int64_t a, int64_t b, int64_t *r) {
    return !__builtin_mul_overflow(a, b, r);
}

/* ---- tensors (core/tensor.c) ------------------------------------------------ */
/* Checked shape product: false (with an error naming fn) on bad or overflowing sizes. */
bool nb_shape_numel(const char *fn, const int64_t *shape, int ndim, int64_t *numel);
/* Row-major strides (zero sizes taken as 1). A shape whose strides would not
 * fit an int64_t gets strides that stop growing at INT64_MAX: no tensor of it
 * can be allocated (nb_shape_numel refuses it), the layout is only reported. */
void nb_contiguous_strides(const int64_t *shape, int ndim, int64_t *strides);
/* A new contiguous tensor in the current scope. */
nb_tensor *nb_tensor_new(const char *fn, const int64_t *shape, int ndim);
/* A view of base's storage with its own layout, in the current scope. */
nb_tensor *nb_view_new(nb_tensor *base, const int64_t *shape, const int64_t *strides, int ndim,
                       int64_t offset);
/* A contiguous tensor owned by no scope (a leaf's gradient, optimizer state). */
nb_tensor *nb_tensor_new_owned(const char *fn, const int64_t *shape, int ndim);
void nb_tensor_release(nb_tensor *t); /* back to the pools (drops its grad too) */
/* false, with an error "fn: the tensor was freed ...", for a released header */
bool nb_live_slow(const char *fn);
static inline bool nb_live(const char *fn, const nb_tensor *t) {
    return t->magic == NB_TENSOR_LIVE || nb_live_slow(fn);
}
/* An in-place write to t's storage: ops that saved it refuse their backward. */
static inline void nb_bump_version(nb_tensor *t) {
    t->storage->version++;
}
/* The calling thread's lifetime: a number no other lifetime of any thread
 * had, replaced by nb_shutdown. Objects that outlive a shutdown (models)
 * record it at creation and refuse to touch their tensors when it changed. */
uint64_t nb_lifetime(void);
static inline float *nb_ptr(const nb_tensor *t) {
    return t->storage->data + t->offset;
}
bool nb_same_shape(const nb_tensor *a, const nb_tensor *b);
/* "[2, 3]" into a static per-thread ring of buffers, for error messages. */
const char *nb_shape_s(const nb_tensor *t);
const char *nb_dims_s(const int64_t *shape, int ndim);
/* Normalize a possibly negative axis; false with an error naming fn if out of range. */
bool nb_axis(const char *fn, int axis, int ndim, int *out);

/* ---- files written atomically (core/atomic_file.c) ---------------------------
 * f = nb_atomic_open(&a, "nb_x", path); write to f; nb_atomic_commit(&a). The
 * data goes to a temp file beside path (".nb-PID-RANDOM", created exclusively,
 * never through a link), which replaces path only once it is complete and
 * synced; a failed save removes it. A FIFO, device, socket or directory at
 * path is refused; a symlink at path is itself replaced by the new file. Each
 * open also removes its directory's temp files of dead runs older than an hour.
 * Errors name fn and the path. Every file nabla writes goes through here. */
typedef struct nb_atomic_file {
    FILE *f;
    int fd; /* f's descriptor (a fault-injection build's f has no fileno) */
    const char *fn;
    char path[4096], tmp[4096 + 32];
} nb_atomic_file;
FILE *nb_atomic_open(nb_atomic_file *a, const char *fn, const char *path);
nb_status nb_atomic_commit(nb_atomic_file *a);
void nb_atomic_abort(nb_atomic_file *a); /* drop the temp file */
/* A descriptor open for reading on path if it is a regular file, without ever
 * blocking (a FIFO is refused, not waited on); -1 with *why ("not a regular
 * file" or strerror) otherwise. Every reader of a path opens it with this. */
int nb_open_regular(const char *path, const char **why);

/* ---- pools (core/alloc.c) ----------------------------------------------------- */
nb_storage *nb_storage_get(size_t nbytes);
void nb_storage_put(nb_storage *s);
nb_tensor *nb_tensor_header_get(void);
void nb_tensor_header_put(nb_tensor *t);
nb_node *nb_node_get(void);
void nb_node_put(nb_node *n);
void *nb_heap_alloc(size_t n); /* counted in nb_alloc_count() */
void *nb_heap_realloc(void *p, size_t n);
void nb_pools_free(void);
/* Every other heap block nabla's own code takes (core, ops, autograd, optim)
 * comes from these, so the fault-injection build can fail any of them; they
 * are released with free(). nb_malloc(0) returns a 1-byte block, not NULL;
 * nb_calloc checks n * size for overflow. */
void *nb_malloc(size_t n);
void *nb_calloc(size_t n, size_t size);
void *nb_realloc(void *p, size_t n);
void *nb_aligned_alloc(size_t align, size_t n); /* n rounded up to a multiple of align */

/* ---- fault injection (core/alloc.c; built with -Dfault_injection=true) --------
 * SQLite's habit: the N-th call of a kind fails as the system call would
 * (NULL from an allocation, ENOSPC from a write, EIO from an fsync), once, so
 * a test can walk N over every call a clean run makes. Allocations: the
 * pools' and every nb_malloc family block. Writes: creating the temp file,
 * each write(2) of its data, the rename. Syncs: the file's fsync, the
 * directory's. Without the option nb_fault_hit is a constant false. */
typedef enum { NB_FAULT_ALLOC, NB_FAULT_WRITE, NB_FAULT_SYNC, NB_FAULT_KINDS } nb_fault_kind;
#ifdef NB_FAULT_INJECTION
bool nb_fault_hit(nb_fault_kind kind); /* counts the call; true: make it fail */
/* From now, fail the n-th call of kind (n = 0: none) and count the calls anew. */
void nb_fault_inject(nb_fault_kind kind, int64_t n);
int64_t nb_fault_calls(nb_fault_kind kind); /* calls of kind since its nb_fault_inject */
bool nb_fault_fired(nb_fault_kind kind);    /* the injected failure happened */
#else
static inline bool nb_fault_hit(nb_fault_kind kind) {
    (void)kind;
    return false;
}
#endif

/* ---- scopes and tape (core/scope.c) ------------------------------------------ */
void nb_scope_adopt(nb_tensor *t); /* register t with the innermost scope */
bool nb_grad_mode(void);
bool nb_tape_push(nb_node *n); /* false: out of memory, node not recorded */
/* The node whose backward rule is running (NULL outside nb_backward): ops run
 * by a backward rule report anomalies as part of that node's backward. */
void nb_set_backward_node(const nb_node *n);
const nb_node *nb_backward_node(void);
bool nb_anomaly_mode(void);
int64_t nb_tape_len(void);
nb_node *nb_tape_at(int64_t i);
int nb_scope_depth(void);

/* An activation a kernel applies to its output before storing it (a oneDNN
 * eltwise post-op), for graph mode's fusion (ops/op.h, forward_fused). */
typedef struct nb_post_op {
    int alg; /* dnnl_alg_kind_t of an eltwise algorithm */
    float alpha, beta;
} nb_post_op;

/* ---- recording hooks (core/hooks.c) ------------------------------------------ */
#include "hooks.h"

/* ---- growing buffers (core/text.c) -----------------------------------------------
 * Text: append printf-style; on failure oom is set and later appends do nothing.
 * nb_grow: make room for need items of size bytes in *items (capacity *cap). */
typedef struct nb_text {
    char *s;
    size_t len, cap;
    bool oom;
} nb_text;
void nb_text_put(nb_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s with DOT's special characters (" and \) escaped, for a quoted label */
void nb_text_put_escaped(nb_text *t, const char *s);
bool nb_grow(void **items, int *cap, int need, size_t size);

/* ---- backend (core/dnnl.c) ---------------------------------------------------- */
void nb_backend_shutdown(void);

#endif
