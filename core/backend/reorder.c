/* Data movement: reorders between layouts of the same shape, and concatenation
 * along an axis. */
#include "core/backend/kernels.h"

nb_status nb_kernel_reorder(const char *fn, const nb_tensor *src, nb_tensor *dst) {
    if (dst->numel == 0) return NB_OK;
    int nd = nb_md_rank(dst);
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
        dnnl_engine_t e = nb_engine(fn);
        if (!e || nb_dnnl_check(dnnl_reorder_primitive_desc_create(&pd, &ms, e, &md, e, NULL), fn,
                                "reorder descriptor"))
            return nb_failure_code();
        if (!(p = nb_prim_add(&k, pd, fn, "reorder primitive"))) return nb_failure_code();
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
    int nd = nb_md_rank(dst);
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
        dnnl_engine_t e = nb_engine(fn);
        if (!e || nb_dnnl_check(dnnl_concat_primitive_desc_create(&pd, &md, n, axis, ms, NULL, e),
                                fn, "concat descriptor"))
            return nb_failure_code();
        if (!(p = nb_prim_add(&k, pd, fn, "concat primitive"))) return nb_failure_code();
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
