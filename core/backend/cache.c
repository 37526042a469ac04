/* Each thread's primitive cache: keys, lookup, creation and execution.
 *
 * A key is the bytes of what decides a primitive (its kind, attributes, dims
 * and strides), hashed into the calling thread's chains. A primitive keeps
 * one memory object per argument, made at its first run; a run sets their
 * data handles to the call's tensors, executes on the thread's stream and
 * waits. Nothing here is shared between threads, so nothing takes a lock.
 */
#include "core/backend/engine.h"

#include <stdlib.h>
#include <string.h>

struct nb_prim {
    struct nb_prim *next; /* hash chain */
    uint64_t hash;
    size_t keylen;
    unsigned char *key;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    int nmem;
    int mem_arg[NB_PRIM_MAX_ARGS];
    dnnl_memory_t mem[NB_PRIM_MAX_ARGS];
};

/* ---- keys ------------------------------------------------------------------------------ */
static void key_bytes(nb_key *k, const void *p, size_t n) {
    if (k->n + n > sizeof k->b) {
        k->overflow = true;
        return;
    }
    memcpy(k->b + k->n, p, n);
    k->n += n;
}

void nb_key_init(nb_key *k, const char *kind) {
    k->n = 0;
    k->overflow = false;
    key_bytes(k, kind, strlen(kind) + 1);
}

void nb_key_int(nb_key *k, int64_t v) {
    key_bytes(k, &v, sizeof v);
}

void nb_key_float(nb_key *k, float v) {
    key_bytes(k, &v, sizeof v);
}

void nb_key_dims(nb_key *k, const int64_t *dims, int ndim) {
    nb_key_int(k, ndim);
    key_bytes(k, dims, (size_t)ndim * sizeof *dims);
}

void nb_key_tensor(nb_key *k, const nb_tensor *t) {
    if (!t) {
        nb_key_int(k, -1);
        return;
    }
    nb_key_dims(k, t->shape, t->ndim);
    key_bytes(k, t->strides, (size_t)t->ndim * sizeof *t->strides);
}

static uint64_t key_hash(const nb_key *k) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < k->n; i++) h = (h ^ k->b[i]) * 1099511628211ULL;
    return h;
}

/* ---- the cache ------------------------------------------------------------------------ */
nb_prim *nb_prim_find(const nb_key *k) {
    nb_backend_state *st = nb_backend_state_current();
    if (k->overflow || !st) return NULL;
    uint64_t h = key_hash(k);
    nb_prim *p = st->cache[h % NB_CACHE_SLOTS];
    while (p && !(p->hash == h && p->keylen == k->n && !memcmp(p->key, k->b, k->n))) p = p->next;
    return p;
}

static void prim_destroy(nb_prim *p) {
    for (int i = 0; i < p->nmem; i++) dnnl_memory_destroy(p->mem[i]);
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->pd) dnnl_primitive_desc_destroy(p->pd);
    free(p->key);
    free(p);
}

nb_prim *nb_prim_add(const nb_key *k, dnnl_primitive_desc_t pd, const char *fn, const char *what) {
    nb_prim *p = nb_calloc(1, sizeof *p);
    if (!p) {
        dnnl_primitive_desc_destroy(pd);
        return nb_fail(NB_ERR_MEMORY, "%s: out of memory caching a %s", fn, what);
    }
    p->pd = pd;
    p->key = nb_malloc(k->n ? k->n : 1);
    if (!p->key || nb_dnnl_check(dnnl_primitive_create(&p->prim, pd), fn, what) != NB_OK) {
        if (!p->key) nb_fail(NB_ERR_MEMORY, "%s: out of memory caching a %s", fn, what);
        prim_destroy(p);
        return NULL;
    }
    if (k->overflow) return p; /* too long a key to cache: the caller's to free */
    memcpy(p->key, k->b, k->n);
    p->keylen = k->n;
    p->hash = key_hash(k);
    /* pd was made on the engine, so the thread's state exists */
    nb_prim **chain = &nb_backend_state_current()->cache[p->hash % NB_CACHE_SLOTS];
    p->next = *chain;
    *chain = p;
    return p;
}

void nb_cache_clear(nb_prim **cache) {
    for (int i = 0; i < NB_CACHE_SLOTS; i++) {
        while (cache[i]) {
            nb_prim *next = cache[i]->next;
            prim_destroy(cache[i]);
            cache[i] = next;
        }
    }
}

const_dnnl_primitive_desc_t nb_prim_pd(const nb_prim *p) {
    return p->pd;
}

size_t nb_prim_workspace_bytes(const nb_prim *p) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(p->pd, dnnl_query_workspace_md, 0);
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

static dnnl_memory_t prim_memory(nb_prim *p, int arg, const char *fn) {
    for (int i = 0; i < p->nmem; i++)
        if (p->mem_arg[i] == arg) return p->mem[i];
    if (p->nmem == NB_PRIM_MAX_ARGS) return nb_fail(NB_ERR_BACKEND, "%s: too many arguments", fn);
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(p->pd, dnnl_query_exec_arg_md, arg);
    dnnl_memory_t m;
    if (!md || nb_dnnl_check(dnnl_memory_create(&m, md, nb_engine(fn), DNNL_MEMORY_NONE), fn,
                             "memory object") != NB_OK)
        return NULL;
    p->mem_arg[p->nmem] = arg;
    p->mem[p->nmem++] = m;
    return m;
}

static nb_status execute(nb_prim *p, const char *fn, int nargs, const int *args,
                         void *const *ptrs) {
    dnnl_exec_arg_t ea[NB_PRIM_MAX_ARGS];
    if (nargs > NB_PRIM_MAX_ARGS)
        return nb_fail_status(NB_ERR_BACKEND, "%s: too many arguments", fn);
    /* p came from this thread's cache (or was just made): its state exists */
    dnnl_stream_t stream = nb_backend_state_current()->stream;
    for (int i = 0; i < nargs; i++) {
        dnnl_memory_t m = prim_memory(p, args[i], fn);
        if (!m) return nb_failure_code();
        dnnl_memory_set_data_handle_v2(m, ptrs[i], stream);
        ea[i].arg = args[i];
        ea[i].memory = m;
    }
    nb_status s =
        nb_dnnl_check(dnnl_primitive_execute(p->prim, stream, nargs, ea), fn, "execution");
    if (s == NB_OK) s = nb_dnnl_check(dnnl_stream_wait(stream), fn, "stream wait");
    return s;
}

nb_status nb_prim_run(nb_prim *p, const char *fn, int nargs, const int *args, void *const *ptrs) {
    nb_status s = execute(p, fn, nargs, args, ptrs);
    if (p->keylen == 0) prim_destroy(p); /* uncached (see nb_prim_add) */
    return s;
}

/* ---- memory descriptors --------------------------------------------------------------- */
void nb_md_of(dnnl_memory_desc_t *md, const nb_tensor *t, int ndim) {
    dnnl_dims_t dims, strides;
    int pad = ndim - t->ndim;
    if (ndim == 0) {
        dims[0] = 1;
        strides[0] = 1;
        ndim = 1;
        pad = 0;
    }
    for (int i = 0; i < ndim; i++) {
        int s = i - pad;
        dims[i] = s >= 0 ? t->shape[s] : 1;
        strides[i] = s >= 0 ? t->strides[s] : (t->numel ? t->numel : 1);
    }
    /* a size-1 axis may carry any stride; oneDNN wants them plausible */
    for (int i = ndim - 1; i >= 0; i--)
        if (dims[i] == 1) strides[i] = (i + 1 < ndim) ? strides[i + 1] * dims[i + 1] : 1;
    dnnl_memory_desc_init_by_strides(md, ndim, dims, dnnl_f32, strides);
}

int nb_md_rank(const nb_tensor *t) {
    return t->ndim > 0 ? t->ndim : 1;
}

nb_prim *nb_prim_get(const nb_key *k, const_dnnl_op_desc_t op_desc,
                     const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                     const char *fn, const char *what) {
    nb_prim *p = nb_prim_find(k);
    if (p) return p;
    dnnl_engine_t e = nb_engine(fn);
    if (!e) return NULL;
    dnnl_primitive_desc_t pd;
    if (nb_dnnl_check(dnnl_primitive_desc_create(&pd, op_desc, attr, e, hint), fn, what) != NB_OK)
        return NULL;
    return nb_prim_add(k, pd, fn, what);
}
