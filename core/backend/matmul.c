/* Matrix products: oneDNN matmul, 2-D or batched, with an optional bias and
 * post-op. */
#include "core/backend/kernels.h"

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
            return nb_failure_code();
        p = nb_prim_get(&k, &d, attr, NULL, fn, "matmul primitive");
        if (attr) dnnl_primitive_attr_destroy(attr);
        if (!p) return nb_failure_code();
    }
    if (bias)
        return nb_prim_run(p, fn, 4,
                           (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST},
                           (void *[]){nb_ptr(a), nb_ptr(b), nb_ptr(bias), nb_ptr(dst)});
    return nb_prim_run(p, fn, 3, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
                       (void *[]){nb_ptr(a), nb_ptr(b), nb_ptr(dst)});
}
