/* Kernels along axes: softmax and log-softmax forward and backward, and
 * reductions (sum, mean, max, ... over the axes of size 1 in dst). */
#include "core/backend/kernels.h"

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
        nb_md_of(&md, src, nb_md_rank(src));
        dnnl_softmax_desc_t sd;
        dnnl_logsoftmax_desc_t ld;
        dnnl_status_t s =
            log ? dnnl_logsoftmax_forward_desc_init(&ld, dnnl_forward_training, &md, axis)
                : dnnl_softmax_forward_desc_init(&sd, dnnl_forward_training, &md, axis);
        if (nb_dnnl_check(s, fn, "softmax descriptor")) return nb_failure_code();
        p = nb_prim_get(&k, log ? (const_dnnl_op_desc_t)&ld : (const_dnnl_op_desc_t)&sd, NULL, NULL,
                        fn, "softmax primitive");
        if (!p) return nb_failure_code();
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
        nb_md_of(&md, dst, nb_md_rank(dst));
        dnnl_softmax_desc_t sf, sb;
        dnnl_logsoftmax_desc_t lf, lb;
        dnnl_status_t s1 =
            log ? dnnl_logsoftmax_forward_desc_init(&lf, dnnl_forward_training, &md, axis)
                : dnnl_softmax_forward_desc_init(&sf, dnnl_forward_training, &md, axis);
        dnnl_status_t s2 = log ? dnnl_logsoftmax_backward_desc_init(&lb, &md, &md, axis)
                               : dnnl_softmax_backward_desc_init(&sb, &md, &md, axis);
        if (nb_dnnl_check(s1, fn, "softmax descriptor") ||
            nb_dnnl_check(s2, fn, "softmax backward descriptor"))
            return nb_failure_code();
        dnnl_primitive_desc_t hint;
        dnnl_engine_t e = nb_engine(fn);
        if (!e ||
            nb_dnnl_check(dnnl_primitive_desc_create(
                              &hint, log ? (const_dnnl_op_desc_t)&lf : (const_dnnl_op_desc_t)&sf,
                              NULL, e, NULL),
                          fn, "softmax primitive"))
            return nb_failure_code();
        p = nb_prim_get(&k, log ? (const_dnnl_op_desc_t)&lb : (const_dnnl_op_desc_t)&sb, NULL, hint,
                        fn, "softmax backward primitive");
        dnnl_primitive_desc_destroy(hint);
        if (!p) return nb_failure_code();
    }
    return nb_prim_run(p, fn, 3, (int[]){DNNL_ARG_DST, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC},
                       (void *[]){nb_ptr(dst), nb_ptr(diff_dst), nb_ptr(diff_src)});
}

/* ---- reduction ------------------------------------------------------------------------- */
nb_status nb_kernel_reduce(const char *fn, int alg, const nb_tensor *src, nb_tensor *dst) {
    if (dst->numel == 0) return NB_OK;
    int nd = nb_md_rank(src);
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
            return nb_failure_code();
        if (!(p = nb_prim_get(&k, &d, NULL, NULL, fn, "reduction primitive")))
            return nb_failure_code();
    }
    return nb_prim_run(p, fn, 2, (int[]){DNNL_ARG_SRC, DNNL_ARG_DST},
                       (void *[]){nb_ptr(src), nb_ptr(dst)});
}
