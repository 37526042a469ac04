/* nabla's only door to oneDNN. Every kernel call goes through these wrappers;
 * each looks up (or creates once) a primitive in the process-wide cache keyed
 * by kind, attributes, shapes and strides, binds the tensors' data and runs it.
 *
 * fn names the user-facing function, for error messages. Tensors are taken
 * with their strides, so transposed views need no copy where the primitive
 * accepts them; outputs are written in place.
 */
#ifndef NB_DNNL_INTERNAL_H
#define NB_DNNL_INTERNAL_H

#include "core_internal.h"

#include <oneapi/dnnl/dnnl.h>

/* ---- the cache, for wrappers of primitives added in other files ---------------- */
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

typedef struct nb_prim nb_prim;
dnnl_engine_t nb_engine(void); /* NULL (with an error) if oneDNN could not start */
nb_prim *nb_prim_find(const nb_key *k);
/* Create the primitive for pd (taking ownership of pd) and cache it under k.
 * On failure pd is destroyed and the error names fn and what. */
nb_prim *nb_prim_add(const nb_key *k, dnnl_primitive_desc_t pd, const char *fn, const char *what);
const_dnnl_primitive_desc_t nb_prim_pd(const nb_prim *p);
nb_status nb_prim_run(nb_prim *p, const char *fn, int nargs, const int *args, void *const *ptrs);
/* A memory descriptor for t's dims and strides (0-d tensors are [1]); ndim > t->ndim
 * pads leading 1s (for broadcasting). */
void nb_md_of(dnnl_memory_desc_t *md, const nb_tensor *t, int ndim);
nb_status nb_dnnl_check(dnnl_status_t s, const char *fn, const char *what);
/* Bytes of a primitive's workspace (0 if it has none). */
size_t nb_prim_workspace_bytes(const nb_prim *p);

/* ---- wrappers ------------------------------------------------------------------- */
/* dst = f(src) for a oneDNN eltwise algorithm */
nb_status nb_kernel_eltwise(const char *fn, int alg, float alpha, float beta, const nb_tensor *src,
                            nb_tensor *dst);
/* The plain algorithm behind a *_use_dst_for_bwd form (alg itself otherwise),
 * and whether alg is such a form: its backward reads the output. */
int nb_eltwise_forward_alg(int alg);
bool nb_eltwise_uses_dst(int alg);
/* diff_src = f'(data) * diff_dst; data is src or dst depending on alg */
nb_status nb_kernel_eltwise_backward(const char *fn, int alg, float alpha, float beta,
                                     const nb_tensor *data, const nb_tensor *diff_dst,
                                     nb_tensor *diff_src);
/* dst = a (op) b; b broadcasts over a's shape (size-1 or missing leading axes);
 * dst may be a (in place). */
nb_status nb_kernel_binary(const char *fn, int alg, const nb_tensor *a, const nb_tensor *b,
                           nb_tensor *dst);
/* dst = a @ b (+ bias), 2-D or batched 3-D, any plain strides; bias is [N] or NULL */
nb_status nb_kernel_matmul(const char *fn, const nb_tensor *a, const nb_tensor *b,
                           const nb_tensor *bias, nb_tensor *dst);
/* the same with post (NULL: none) applied to the result in the kernel */
nb_status nb_kernel_matmul_post(const char *fn, const nb_tensor *a, const nb_tensor *b,
                                const nb_tensor *bias, nb_tensor *dst, const nb_post_op *post);
/* oneDNN attributes holding post as an eltwise post-op (NULL for none); the
 * caller destroys them. false with an error naming fn if oneDNN refuses. */
bool nb_post_op_attr(const char *fn, const nb_post_op *post, dnnl_primitive_attr_t *attr);
void nb_key_post_op(nb_key *k, const nb_post_op *post);
nb_status nb_kernel_softmax(const char *fn, bool log, int axis, const nb_tensor *src,
                            nb_tensor *dst);
nb_status nb_kernel_softmax_backward(const char *fn, bool log, int axis, const nb_tensor *dst,
                                     const nb_tensor *diff_dst, nb_tensor *diff_src);
/* dst has src's rank with the reduced axes of size 1 */
nb_status nb_kernel_reduce(const char *fn, int alg, const nb_tensor *src, nb_tensor *dst);
/* dst = src, any layouts of the same shape */
nb_status nb_kernel_reorder(const char *fn, const nb_tensor *src, nb_tensor *dst);
nb_status nb_kernel_concat(const char *fn, const nb_tensor *const *src, int n, int axis,
                           nb_tensor *dst);

#endif
