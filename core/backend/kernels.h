/* The oneDNN kernels ops call (core/backend/eltwise.c, matmul.c, reduce.c,
 * reorder.c). Each looks up (or creates once) a primitive in the calling
 * thread's cache (engine.h) keyed by kind, attributes, shapes and strides,
 * binds the tensors' data and runs it.
 *
 * fn names the user-facing function, for error messages. Tensors are taken
 * with their strides, so transposed views need no copy where the primitive
 * accepts them; outputs are written in place. Not installed.
 */
#ifndef NB_BACKEND_KERNELS_H
#define NB_BACKEND_KERNELS_H

#include "core/backend/engine.h"

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
