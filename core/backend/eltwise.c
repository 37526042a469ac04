/* Elementwise kernels: oneDNN eltwise forward and backward, binary ops, and
 * eltwise post-ops (an activation fused into the kernel before it). */
#include "core/backend/kernels.h"

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
        nb_md_of(&md, src, nb_md_rank(src));
        if (nb_dnnl_check(
                dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training, alg, &md, alpha, beta),
                fn, "eltwise descriptor"))
            return nb_failure_code();
        if (!(p = nb_prim_get(&k, &d, NULL, NULL, fn, "eltwise primitive")))
            return nb_failure_code();
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
        nb_md_of(&md, data, nb_md_rank(data));
        if (nb_dnnl_check(
                dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training, alg, &md, alpha, beta),
                fn, "eltwise descriptor") ||
            nb_dnnl_check(dnnl_eltwise_backward_desc_init(&bd, alg, &md, &md, alpha, beta), fn,
                          "eltwise backward descriptor"))
            return nb_failure_code();
        dnnl_engine_t e = nb_engine(fn);
        if (!e || nb_dnnl_check(dnnl_primitive_desc_create(&hint, &fd, NULL, e, NULL), fn,
                                "eltwise primitive"))
            return nb_failure_code();
        p = nb_prim_get(&k, &bd, NULL, hint, fn, "eltwise backward primitive");
        dnnl_primitive_desc_destroy(hint);
        if (!p) return nb_failure_code();
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
    int nd = nb_md_rank(dst);
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
            return nb_failure_code();
        if (!(p = nb_prim_get(&k, &d, NULL, NULL, fn, "binary primitive")))
            return nb_failure_code();
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
