/* Pools for storages, tensor headers and tape nodes.
 *
 * A training step allocates the same shapes every time. Freed buffers go to a
 * free list keyed by their exact size and are handed out again, so after the
 * first step no heap allocation happens. nb_alloc_count() counts the real ones.
 * The table holds 256 sizes; a buffer of a 257th size, or of 0 bytes, is freed,
 * not kept, so a program reading files of ever new sizes does not grow.
 */
#include "core_internal.h"

#include <stdlib.h>
#include <string.h>

#define NB_ALIGN   64
#define NB_BUCKETS 256 /* open-addressed table of free lists, by byte size */

typedef struct {
    size_t nbytes; /* 0: empty slot */
    nb_storage *head;
} bucket;

static _Thread_local bucket buckets[NB_BUCKETS];
static _Thread_local nb_tensor *free_tensors, *free_tensors_tail; /* oldest first */
static _Thread_local nb_node *free_nodes;
static _Thread_local uint64_t heap_allocs;
static _Thread_local uint64_t storages_handed_out; /* nb_storage.serial */

uint64_t nb_alloc_count(void) {
    return heap_allocs;
}

/* ---- fault injection -------------------------------------------------------------------- */
#ifdef NB_FAULT_INJECTION
#include <stdatomic.h>

static _Atomic int64_t fault_calls[NB_FAULT_KINDS], fault_at[NB_FAULT_KINDS];
static _Atomic bool fault_fired[NB_FAULT_KINDS];

bool nb_fault_hit(nb_fault_kind kind) {
    int64_t call = atomic_fetch_add(&fault_calls[kind], 1) + 1;
    if (call != atomic_load(&fault_at[kind])) return false;
    atomic_store(&fault_fired[kind], true);
    return true;
}

void nb_fault_inject(nb_fault_kind kind, int64_t n) {
    atomic_store(&fault_at[kind], n);
    atomic_store(&fault_calls[kind], 0);
    atomic_store(&fault_fired[kind], false);
}

int64_t nb_fault_calls(nb_fault_kind kind) {
    return atomic_load(&fault_calls[kind]);
}

bool nb_fault_fired(nb_fault_kind kind) {
    return atomic_load(&fault_fired[kind]);
}
#endif

/* ---- the one door to the heap ------------------------------------------------------------ */
void *nb_malloc(size_t n) {
    return nb_fault_hit(NB_FAULT_ALLOC) ? NULL : malloc(n ? n : 1);
}

void *nb_calloc(size_t n, size_t size) {
    if (nb_fault_hit(NB_FAULT_ALLOC)) return NULL;
    return n && size ? calloc(n, size) : calloc(1, 1);
}

void *nb_realloc(void *p, size_t n) {
    return nb_fault_hit(NB_FAULT_ALLOC) ? NULL : realloc(p, n ? n : 1);
}

void *nb_aligned_alloc(size_t align, size_t n) {
    if (nb_fault_hit(NB_FAULT_ALLOC)) return NULL;
    size_t rounded = (n + align - 1) / align * align;
    if (rounded < n) return NULL; /* n within align of SIZE_MAX */
    return aligned_alloc(align, rounded ? rounded : align);
}

void *nb_heap_alloc(size_t n) {
    heap_allocs++;
    return nb_malloc(n);
}

void *nb_heap_realloc(void *p, size_t n) {
    heap_allocs++;
    return nb_realloc(p, n);
}

/* The bucket of a size, or NULL. Zero-byte storages have none: a size of 0
 * marks an empty slot, and a slot that looked empty while it held them was
 * later claimed by another size, which then got their 64-byte buffers. */
static bucket *find_bucket(size_t nbytes, bool create) {
    if (nbytes == 0) return NULL;
    size_t h = (nbytes / sizeof(float)) * 2654435761u;
    for (int i = 0; i < NB_BUCKETS; i++) {
        bucket *b = &buckets[(h + (size_t)i) % NB_BUCKETS];
        if (b->nbytes == nbytes) return b;
        if (b->nbytes == 0) {
            if (!create) return NULL;
            b->nbytes = nbytes;
            return b;
        }
    }
    return NULL;
}

nb_storage *nb_storage_get(size_t nbytes) {
    bucket *b = find_bucket(nbytes, false);
    if (b && b->head) {
        nb_storage *s = b->head;
        b->head = s->next_free;
        s->next_free = NULL;
        s->refs = 1;
        s->version = 0;
        s->serial = ++storages_handed_out;
        return s;
    }
    nb_storage *s = nb_heap_alloc(sizeof *s);
    if (!s) return nb_fail(NB_ERR_MEMORY, "out of memory allocating a storage header");
    heap_allocs++;
    s->data = nb_aligned_alloc(NB_ALIGN, nbytes);
    if (!s->data) {
        free(s);
        return nb_fail(NB_ERR_MEMORY, "out of memory allocating %zu bytes", nbytes);
    }
    s->nbytes = nbytes;
    s->refs = 1;
    s->version = 0;
    s->serial = ++storages_handed_out;
    s->next_free = NULL;
    return s;
}

void nb_storage_put(nb_storage *s) {
    if (!s || --s->refs > 0) return;
    bucket *b = find_bucket(s->nbytes, true);
    if (b) {
        s->next_free = b->head;
        b->head = s;
    } else { /* 0 bytes, or a size the table has no room for: free it */
        free(s->data);
        free(s);
    }
}

/* Headers are handed out oldest first: a just-freed header waits behind all
 * the others, and so does its NB_TENSOR_FREED mark, which is what lets a
 * second nb_free or a use of a stale pointer be reported instead of hitting
 * whichever tensor got the header next. */
nb_tensor *nb_tensor_header_get(void) {
    nb_tensor *t = free_tensors;
    uint32_t gen = 0;
    if (t) {
        free_tensors = t->next_free;
        if (!free_tensors) free_tensors_tail = NULL;
        gen = t->gen;
    } else {
        t = nb_heap_alloc(sizeof *t);
    }
    if (!t) return nb_fail(NB_ERR_MEMORY, "out of memory allocating a tensor");
    memset(t, 0, sizeof *t);
    t->magic = NB_TENSOR_LIVE;
    t->gen = gen;
    return t;
}

void nb_tensor_header_put(nb_tensor *t) {
    t->magic = NB_TENSOR_FREED;
    t->gen++;
    t->next_free = NULL;
    if (free_tensors_tail)
        free_tensors_tail->next_free = t;
    else
        free_tensors = t;
    free_tensors_tail = t;
}

nb_node *nb_node_get(void) {
    nb_node *n = free_nodes;
    if (n)
        free_nodes = n->next_free;
    else
        n = nb_heap_alloc(sizeof *n);
    if (!n) return nb_fail(NB_ERR_MEMORY, "out of memory allocating a tape node");
    memset(n, 0, sizeof *n);
    return n;
}

void nb_node_put(nb_node *n) {
    n->next_free = free_nodes;
    free_nodes = n;
}

static void free_storage_list(nb_storage *s) {
    while (s) {
        nb_storage *next = s->next_free;
        free(s->data);
        free(s);
        s = next;
    }
}

void nb_pools_free(void) {
    for (int i = 0; i < NB_BUCKETS; i++) {
        free_storage_list(buckets[i].head);
        buckets[i].head = NULL;
        buckets[i].nbytes = 0;
    }
    while (free_tensors) {
        nb_tensor *next = free_tensors->next_free;
        free(free_tensors);
        free_tensors = next;
    }
    free_tensors_tail = NULL;
    while (free_nodes) {
        nb_node *next = free_nodes->next_free;
        free(free_nodes);
        free_nodes = next;
    }
}
