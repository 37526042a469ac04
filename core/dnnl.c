/* oneDNN engine, stream and primitive cache, and the wrappers ops use.
 *
 * Creating a oneDNN primitive costs hundreds of microseconds, and even
 * oneDNN's own cache costs a descriptor creation per call, more than running
 * a small op. So nabla keeps every primitive it creates, with one memory
 * object per argument, under a key of (kind, attributes, dims, strides); a
 * call then only swaps data pointers and executes.
 */
#include "dnnl_internal.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NB_PRIM_MAX_ARGS 24
#define NB_CACHE_SLOTS   4096 /* hash chains */

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

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static nb_prim *cache[NB_CACHE_SLOTS];

/* ---- engine and threads ---------------------------------------------------------- */
/* libgomp creates a team's threads at its first parallel region of that size
 * and ends the process (exit status 1) when pthread_create fails (under a memory limit, say). One
 * empty region when the engine is made, and one when the thread count is set,
 * make the pool then, before any training step; later regions of that size
 * reuse it, so such a failure cannot end a run in its middle. */
static void start_thread_pool(int n) {
#pragma omp parallel num_threads(n)
    { __asm__ volatile("" ::: "memory"); /* a region the compiler keeps */ }
}

dnnl_engine_t nb_engine(void) {
    bool created = false;
    pthread_mutex_lock(&lock);
    if (!engine) {
        created = true;
        if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success)
            engine = NULL;
        else if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
            dnnl_engine_destroy(engine);
            engine = NULL;
        }
    }
    pthread_mutex_unlock(&lock);
    if (!engine) return nb_fail(NB_ERR_BACKEND, "oneDNN: could not create the CPU engine");
    if (created) start_thread_pool(omp_get_max_threads());
    return engine;
}

void nb_set_num_threads(int n) {
    if (n < 1) return;
    omp_set_num_threads(n);
    start_thread_pool(n);
}

int nb_get_num_threads(void) {
    return omp_get_max_threads();
}

nb_status nb_dnnl_check(dnnl_status_t s, const char *fn, const char *what) {
    if (s == dnnl_success) return NB_OK;
    return nb_fail_status(NB_ERR_BACKEND, "%s: oneDNN refused the %s (status %d)", fn, what,
                          (int)s);
}

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
    if (k->overflow) return NULL;
    uint64_t h = key_hash(k);
    pthread_mutex_lock(&lock);
    nb_prim *p = cache[h % NB_CACHE_SLOTS];
    while (p && !(p->hash == h && p->keylen == k->n && !memcmp(p->key, k->b, k->n))) p = p->next;
    pthread_mutex_unlock(&lock);
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
    pthread_mutex_lock(&lock);
    p->next = cache[p->hash % NB_CACHE_SLOTS];
    cache[p->hash % NB_CACHE_SLOTS] = p;
    pthread_mutex_unlock(&lock);
    return p;
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
    if (!md || nb_dnnl_check(dnnl_memory_create(&m, md, nb_engine(), DNNL_MEMORY_NONE), fn,
                             "memory object") != NB_OK)
        return NULL;
    p->mem_arg[p->nmem] = arg;
    p->mem[p->nmem++] = m;
    return m;
}

nb_status nb_prim_run(nb_prim *p, const char *fn, int nargs, const int *args, void *const *ptrs) {
    dnnl_exec_arg_t ea[NB_PRIM_MAX_ARGS];
    if (nargs > NB_PRIM_MAX_ARGS)
        return nb_fail_status(NB_ERR_BACKEND, "%s: too many arguments", fn);
    for (int i = 0; i < nargs; i++) {
        dnnl_memory_t m = prim_memory(p, args[i], fn);
        if (!m) return nb_error_code();
        dnnl_memory_set_data_handle_v2(m, ptrs[i], stream);
        ea[i].arg = args[i];
        ea[i].memory = m;
    }
    nb_status s =
        nb_dnnl_check(dnnl_primitive_execute(p->prim, stream, nargs, ea), fn, "execution");
    if (s == NB_OK) s = nb_dnnl_check(dnnl_stream_wait(stream), fn, "stream wait");
    if (p->keylen == 0) prim_destroy(p); /* uncached (see nb_prim_add) */
    return s;
}

void nb_backend_shutdown(void) {
    pthread_mutex_lock(&lock);
    for (int i = 0; i < NB_CACHE_SLOTS; i++) {
        while (cache[i]) {
            nb_prim *next = cache[i]->next;
            prim_destroy(cache[i]);
            cache[i] = next;
        }
    }
    if (stream) dnnl_stream_destroy(stream);
    if (engine) dnnl_engine_destroy(engine);
    stream = NULL;
    engine = NULL;
    pthread_mutex_unlock(&lock);
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

static int rank_of(const nb_tensor *t) {
    return t->ndim > 0 ? t->ndim : 1;
}

/* Look up k; if absent, create a primitive descriptor from op_desc and cache it. */
static nb_prim *get_prim(const nb_key *k, const_dnnl_op_desc_t op_desc,
                         const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                         const char *fn, const char *what) {
    nb_prim *p = nb_prim_find(k);
    if (p) return p;
    dnnl_engine_t e = nb_engine();
    if (!e) return NULL;
    dnnl_primitive_desc_t pd;
    if (nb_dnnl_check(dnnl_primitive_desc_create(&pd, op_desc, attr, e, hint), fn, what) != NB_OK)
        return NULL;
    return nb_prim_add(k, pd, fn, what);
}

/* ---- eltwise -------------------------------------------------------------------------- */
/* A contiguous tensor seen as one flat axis: elementwise primitives then use
 * oneDNN's plain vector kernel whatever the shape (its 4-D NCHW path was slower
 * here for relu backward on 32x32x28x28). */
static nb_tensor flat(const nb_tensor *t) {
    nb_tensor f = *t;
    f.ndim = 1;
    f.shape[0] = t->numel;
    f.strides[0] = 1;
    return f;
}

static bool all_contiguous(const nb_tensor *a, const nb_tensor *b, const nb_tensor *c) {
    return nb_is_contiguous(a) && (!b || nb_is_contiguous(b)) && (!c || nb_is_contiguous(c));
}

nb_status nb_kernel_eltwise(const char *fn, int alg, float alpha, float beta, const nb_tensor *src,
                            nb_tensor *dst) {
    if (src->numel == 0) return NB_OK;
    if (src->ndim > 1 && all_contiguous(src, dst, NULL)) {
        nb_tensor fs = flat(src), fd = flat(dst);
        return nb_kernel_eltwise(fn, alg, alpha, beta, &fs, &fd);
    }
    nb_key k;
    nb_key_init(&k, "eltwise");
    nb_key_int(&k, alg);
    nb_key_float(&k, alpha);
    nb_key_float(&k, beta);
    nb_key_tensor(&k, src);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_memory_desc_t md;
        dnnl_eltwise_desc_t d;
        nb_md_of(&md, src, rank_of(src));
        if (nb_dnnl_check(
                dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training, alg, &md, alpha, beta),
                fn, "eltwise descriptor"))
            return nb_error_code();
        if (!(p = get_prim(&k, &d, NULL, NULL, fn, "eltwise primitive"))) return nb_error_code();
    }
    return nb_prim_run(p, fn, 2, (int[]){DNNL_ARG_SRC, DNNL_ARG_DST},
                       (void *[]){nb_ptr(src), nb_ptr(dst)});
}

int nb_eltwise_forward_alg(int alg) {
    switch (alg) {
    case dnnl_eltwise_relu_use_dst_for_bwd:
        return dnnl_eltwise_relu;
    case dnnl_eltwise_tanh_use_dst_for_bwd:
        return dnnl_eltwise_tanh;
    case dnnl_eltwise_elu_use_dst_for_bwd:
        return dnnl_eltwise_elu;
    case dnnl_eltwise_sqrt_use_dst_for_bwd:
        return dnnl_eltwise_sqrt;
    case dnnl_eltwise_logistic_use_dst_for_bwd:
        return dnnl_eltwise_logistic;
    case dnnl_eltwise_exp_use_dst_for_bwd:
        return dnnl_eltwise_exp;
    default:
        return alg;
    }
}

bool nb_eltwise_uses_dst(int alg) {
    return nb_eltwise_forward_alg(alg) != alg;
}

nb_status nb_kernel_eltwise_backward(const char *fn, int alg, float alpha, float beta,
                                     const nb_tensor *data, const nb_tensor *diff_dst,
                                     nb_tensor *diff_src) {
    if (data->numel == 0) return NB_OK;
    if (data->ndim > 1 && all_contiguous(data, diff_dst, diff_src)) {
        nb_tensor fa = flat(data), fb = flat(diff_dst), fc = flat(diff_src);
        return nb_kernel_eltwise_backward(fn, alg, alpha, beta, &fa, &fb, &fc);
    }
    nb_key k;
    nb_key_init(&k, "eltwise_bwd");
    nb_key_int(&k, alg);
    nb_key_float(&k, alpha);
    nb_key_float(&k, beta);
    nb_key_tensor(&k, data);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_memory_desc_t md;
        dnnl_eltwise_desc_t fd, bd;
        dnnl_primitive_desc_t hint;
        nb_md_of(&md, data, rank_of(data));
        if (nb_dnnl_check(
                dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training, alg, &md, alpha, beta),
                fn, "eltwise descriptor") ||
            nb_dnnl_check(dnnl_eltwise_backward_desc_init(&bd, alg, &md, &md, alpha, beta), fn,
                          "eltwise backward descriptor"))
            return nb_error_code();
        dnnl_engine_t e = nb_engine();
        if (!e || nb_dnnl_check(dnnl_primitive_desc_create(&hint, &fd, NULL, e, NULL), fn,
                                "eltwise primitive"))
            return nb_error_code();
        p = get_prim(&k, &bd, NULL, hint, fn, "eltwise backward primitive");
        dnnl_primitive_desc_destroy(hint);
        if (!p) return nb_error_code();
    }
    int data_arg = nb_eltwise_uses_dst(alg) ? DNNL_ARG_DST : DNNL_ARG_SRC;
    return nb_prim_run(p, fn, 3, (int[]){data_arg, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC},
                       (void *[]){nb_ptr(data), nb_ptr(diff_dst), nb_ptr(diff_src)});
}

/* ---- binary --------------------------------------------------------------------------- */
nb_status nb_kernel_binary(const char *fn, int alg, const nb_tensor *a, const nb_tensor *b,
                           nb_tensor *dst) {
    if (dst->numel == 0) return NB_OK;
    if (dst->ndim > 1 && nb_same_shape(a, dst) && nb_same_shape(b, dst) &&
        all_contiguous(a, b, dst)) {
        nb_tensor fa = flat(a), fb = flat(b), fd = flat(dst);
        return nb_kernel_binary(fn, alg, &fa, &fb, &fd);
    }
    int nd = rank_of(dst);
    nb_key k;
    nb_key_init(&k, "binary");
    nb_key_int(&k, alg);
    nb_key_tensor(&k, a);
    nb_key_tensor(&k, b);
    nb_key_tensor(&k, dst);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_memory_desc_t ma, mb, md;
        dnnl_binary_desc_t d;
        nb_md_of(&ma, a, nd);
        nb_md_of(&mb, b, nd);
        nb_md_of(&md, dst, nd);
        if (nb_dnnl_check(dnnl_binary_desc_init(&d, alg, &ma, &mb, &md), fn, "binary descriptor"))
            return nb_error_code();
        if (!(p = get_prim(&k, &d, NULL, NULL, fn, "binary primitive"))) return nb_error_code();
    }
    return nb_prim_run(p, fn, 3, (int[]){DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST},
                       (void *[]){nb_ptr(a), nb_ptr(b), nb_ptr(dst)});
}

/* ---- post-ops ------------------------------------------------------------------------- */
void nb_key_post_op(nb_key *k, const nb_post_op *post) {
    nb_key_int(k, post ? post->alg : -1);
    nb_key_float(k, post ? post->alpha : 0.0f);
    nb_key_float(k, post ? post->beta : 0.0f);
}

bool nb_post_op_attr(const char *fn, const nb_post_op *post, dnnl_primitive_attr_t *attr) {
    *attr = NULL;
    if (!post) return true;
    dnnl_post_ops_t po = NULL;
    bool ok =
        nb_dnnl_check(dnnl_post_ops_create(&po), fn, "post-ops") == NB_OK &&
        nb_dnnl_check(dnnl_post_ops_append_eltwise(po, 1.0f, (dnnl_alg_kind_t)post->alg,
                                                   post->alpha, post->beta),
                      fn, "eltwise post-op") == NB_OK &&
        nb_dnnl_check(dnnl_primitive_attr_create(attr), fn, "primitive attributes") == NB_OK &&
        nb_dnnl_check(dnnl_primitive_attr_set_post_ops(*attr, po), fn, "post-ops") == NB_OK;
    if (po) dnnl_post_ops_destroy(po);
    if (!ok && *attr) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return ok;
}

/* ---- matmul --------------------------------------------------------------------------- */
nb_status nb_kernel_matmul(const char *fn, const nb_tensor *a, const nb_tensor *b,
                           const nb_tensor *bias, nb_tensor *dst) {
    return nb_kernel_matmul_post(fn, a, b, bias, dst, NULL);
}

nb_status nb_kernel_matmul_post(const char *fn, const nb_tensor *a, const nb_tensor *b,
                                const nb_tensor *bias, nb_tensor *dst, const nb_post_op *post) {
    if (dst->numel == 0) return NB_OK;
    int nd = dst->ndim;
    nb_key k;
    nb_key_init(&k, "matmul");
    nb_key_tensor(&k, a);
    nb_key_tensor(&k, b);
    nb_key_tensor(&k, bias);
    nb_key_tensor(&k, dst);
    if (post) nb_key_post_op(&k, post);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_memory_desc_t ma, mb, mbias, md;
        dnnl_matmul_desc_t d;
        dnnl_primitive_attr_t attr;
        nb_md_of(&ma, a, nd);
        nb_md_of(&mb, b, nd);
        nb_md_of(&md, dst, nd);
        if (bias) nb_md_of(&mbias, bias, nd);
        if (nb_dnnl_check(dnnl_matmul_desc_init(&d, &ma, &mb, bias ? &mbias : NULL, &md), fn,
                          "matmul descriptor") ||
            !nb_post_op_attr(fn, post, &attr))
            return nb_error_code();
        p = get_prim(&k, &d, attr, NULL, fn, "matmul primitive");
        if (attr) dnnl_primitive_attr_destroy(attr);
        if (!p) return nb_error_code();
    }
    if (bias)
        return nb_prim_run(p, fn, 4,
                           (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST},
                           (void *[]){nb_ptr(a), nb_ptr(b), nb_ptr(bias), nb_ptr(dst)});
    return nb_prim_run(p, fn, 3, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
                       (void *[]){nb_ptr(a), nb_ptr(b), nb_ptr(dst)});
}

/* ---- softmax ----------------------------------------------------------------------------- */
nb_status nb_kernel_softmax(const char *fn, bool log, int axis, const nb_tensor *src,
                            nb_tensor *dst) {
    if (src->numel == 0) return NB_OK;
    nb_key k;
    nb_key_init(&k, log ? "logsoftmax" : "softmax");
    nb_key_int(&k, axis);
    nb_key_tensor(&k, src);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_memory_desc_t md;
        nb_md_of(&md, src, rank_of(src));
        dnnl_softmax_desc_t sd;
        dnnl_logsoftmax_desc_t ld;
        dnnl_status_t s =
            log ? dnnl_logsoftmax_forward_desc_init(&ld, dnnl_forward_training, &md, axis)
                : dnnl_softmax_forward_desc_init(&sd, dnnl_forward_training, &md, axis);
        if (nb_dnnl_check(s, fn, "softmax descriptor")) return nb_error_code();
        p = get_prim(&k, log ? (const_dnnl_op_desc_t)&ld : (const_dnnl_op_desc_t)&sd, NULL, NULL,
                     fn, "softmax primitive");
        if (!p) return nb_error_code();
    }
    return nb_prim_run(p, fn, 2, (int[]){DNNL_ARG_SRC, DNNL_ARG_DST},
                       (void *[]){nb_ptr(src), nb_ptr(dst)});
}

nb_status nb_kernel_softmax_backward(const char *fn, bool log, int axis, const nb_tensor *dst,
                                     const nb_tensor *diff_dst, nb_tensor *diff_src) {
    if (dst->numel == 0) return NB_OK;
    nb_key k;
    nb_key_init(&k, log ? "logsoftmax_bwd" : "softmax_bwd");
    nb_key_int(&k, axis);
    nb_key_tensor(&k, dst);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_memory_desc_t md;
        nb_md_of(&md, dst, rank_of(dst));
        dnnl_softmax_desc_t sf, sb;
        dnnl_logsoftmax_desc_t lf, lb;
        dnnl_status_t s1 =
            log ? dnnl_logsoftmax_forward_desc_init(&lf, dnnl_forward_training, &md, axis)
                : dnnl_softmax_forward_desc_init(&sf, dnnl_forward_training, &md, axis);
        dnnl_status_t s2 = log ? dnnl_logsoftmax_backward_desc_init(&lb, &md, &md, axis)
                               : dnnl_softmax_backward_desc_init(&sb, &md, &md, axis);
        if (nb_dnnl_check(s1, fn, "softmax descriptor") ||
            nb_dnnl_check(s2, fn, "softmax backward descriptor"))
            return nb_error_code();
        dnnl_primitive_desc_t hint;
        dnnl_engine_t e = nb_engine();
        if (!e ||
            nb_dnnl_check(dnnl_primitive_desc_create(
                              &hint, log ? (const_dnnl_op_desc_t)&lf : (const_dnnl_op_desc_t)&sf,
                              NULL, e, NULL),
                          fn, "softmax primitive"))
            return nb_error_code();
        p = get_prim(&k, log ? (const_dnnl_op_desc_t)&lb : (const_dnnl_op_desc_t)&sb, NULL, hint,
                     fn, "softmax backward primitive");
        dnnl_primitive_desc_destroy(hint);
        if (!p) return nb_error_code();
    }
    return nb_prim_run(p, fn, 3, (int[]){DNNL_ARG_DST, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC},
                       (void *[]){nb_ptr(dst), nb_ptr(diff_dst), nb_ptr(diff_src)});
}

/* ---- reduction, reorder, concat ----------------------------------------------------------- */
nb_status nb_kernel_reduce(const char *fn, int alg, const nb_tensor *src, nb_tensor *dst) {
    if (dst->numel == 0) return NB_OK;
    int nd = rank_of(src);
    nb_key k;
    nb_key_init(&k, "reduction");
    nb_key_int(&k, alg);
    nb_key_tensor(&k, src);
    nb_key_tensor(&k, dst);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_memory_desc_t ms, md;
        dnnl_reduction_desc_t d;
        nb_md_of(&ms, src, nd);
        nb_md_of(&md, dst, nd);
        if (nb_dnnl_check(dnnl_reduction_desc_init(&d, alg, &ms, &md, 0.0f, 0.0f), fn,
                          "reduction descriptor"))
            return nb_error_code();
        if (!(p = get_prim(&k, &d, NULL, NULL, fn, "reduction primitive"))) return nb_error_code();
    }
    return nb_prim_run(p, fn, 2, (int[]){DNNL_ARG_SRC, DNNL_ARG_DST},
                       (void *[]){nb_ptr(src), nb_ptr(dst)});
}

nb_status nb_kernel_reorder(const char *fn, const nb_tensor *src, nb_tensor *dst) {
    if (dst->numel == 0) return NB_OK;
    int nd = rank_of(dst);
    nb_key k;
    nb_key_init(&k, "reorder");
    nb_key_tensor(&k, src);
    nb_key_tensor(&k, dst);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_memory_desc_t ms, md;
        dnnl_primitive_desc_t pd;
        nb_md_of(&ms, src, nd);
        nb_md_of(&md, dst, nd);
        dnnl_engine_t e = nb_engine();
        if (!e || nb_dnnl_check(dnnl_reorder_primitive_desc_create(&pd, &ms, e, &md, e, NULL), fn,
                                "reorder descriptor"))
            return nb_error_code();
        if (!(p = nb_prim_add(&k, pd, fn, "reorder primitive"))) return nb_error_code();
    }
    return nb_prim_run(p, fn, 2, (int[]){DNNL_ARG_FROM, DNNL_ARG_TO},
                       (void *[]){nb_ptr(src), nb_ptr(dst)});
}

nb_status nb_kernel_concat(const char *fn, const nb_tensor *const *src, int n, int axis,
                           nb_tensor *dst) {
    if (n > NB_PRIM_MAX_ARGS - 1)
        return nb_fail_status(NB_ERR_ARG, "%s: %d tensors; at most %d at once", fn, n,
                              NB_PRIM_MAX_ARGS - 1);
    if (dst->numel == 0) return NB_OK;
    int nd = rank_of(dst);
    nb_key k;
    nb_key_init(&k, "concat");
    nb_key_int(&k, axis);
    for (int i = 0; i < n; i++) nb_key_tensor(&k, src[i]);
    nb_key_tensor(&k, dst);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_memory_desc_t ms[NB_PRIM_MAX_ARGS], md;
        dnnl_primitive_desc_t pd;
        for (int i = 0; i < n; i++) nb_md_of(&ms[i], src[i], nd);
        nb_md_of(&md, dst, nd);
        dnnl_engine_t e = nb_engine();
        if (!e || nb_dnnl_check(dnnl_concat_primitive_desc_create(&pd, &md, n, axis, ms, NULL, e),
                                fn, "concat descriptor"))
            return nb_error_code();
        if (!(p = nb_prim_add(&k, pd, fn, "concat primitive"))) return nb_error_code();
    }
    int args[NB_PRIM_MAX_ARGS];
    void *ptrs[NB_PRIM_MAX_ARGS];
    for (int i = 0; i < n; i++) {
        args[i] = DNNL_ARG_MULTIPLE_SRC + i;
        ptrs[i] = nb_ptr(src[i]);
    }
    args[n] = DNNL_ARG_DST;
    ptrs[n] = nb_ptr(dst);
    return nb_prim_run(p, fn, n + 1, args, ptrs);
}
