/* oneDNN convolution, pooling and batch normalization, behind the same
 * primitive cache as the other wrappers. Backward primitive descriptors are
 * created with the forward one as their hint, as oneDNN requires. */
#include "core/backend/cnn.h"

#include <string.h>

/* oneDNN takes dnnl_dims_t (12 entries) for each spatial parameter */
typedef struct {
    dnnl_dims_t stride, dilate, pad_l, pad_r, kernel;
} spatial;

static void dims2(dnnl_dims_t out, const int64_t in[2]) {
    memset(out, 0, sizeof(dnnl_dims_t));
    out[0] = in[0];
    out[1] = in[1];
}

static spatial conv_spatial(const nb_conv_geom *g) {
    spatial s;
    dims2(s.stride, g->stride);
    dims2(s.dilate, g->dilate);
    dims2(s.pad_l, g->pad_l);
    dims2(s.pad_r, g->pad_r);
    memset(s.kernel, 0, sizeof s.kernel);
    return s;
}

static spatial pool_spatial(const nb_pool_geom *g) {
    spatial s;
    dims2(s.stride, g->stride);
    dims2(s.kernel, g->kernel);
    dims2(s.pad_l, g->pad_l);
    dims2(s.pad_r, g->pad_r);
    dims2(s.dilate, g->dilate);
    return s;
}

static void key_pairs(nb_key *k, const int64_t *v, int n) {
    for (int i = 0; i < n; i++) nb_key_int(k, v[i]);
}

static void key_conv(nb_key *k, const nb_conv_geom *g) {
    key_pairs(k, g->stride, 2);
    key_pairs(k, g->dilate, 2);
    key_pairs(k, g->pad_l, 2);
    key_pairs(k, g->pad_r, 2);
    nb_key_int(k, g->groups);
}

static void key_pool(nb_key *k, const nb_pool_geom *g) {
    nb_key_int(k, g->alg);
    key_pairs(k, g->kernel, 2);
    key_pairs(k, g->stride, 2);
    key_pairs(k, g->pad_l, 2);
    key_pairs(k, g->pad_r, 2);
    key_pairs(k, g->dilate, 2);
}

/* [K, C/G, R, S] seen as oneDNN's grouped weights [G, K/G, C/G, R, S] */
static void weights_md(dnnl_memory_desc_t *md, const nb_tensor *w, int64_t groups) {
    memset(md, 0, sizeof *md);
    if (groups <= 1) {
        nb_md_of(md, w, 4);
        return;
    }
    dnnl_dims_t dims = {groups, w->shape[0] / groups, w->shape[1], w->shape[2], w->shape[3]};
    dnnl_memory_desc_init_by_tag(md, 5, dims, dnnl_f32, dnnl_goihw);
}

/* the same dims in the layout oneDNN likes best (blocked, e.g. nChw16c) */
static void any_md(dnnl_memory_desc_t *md, const dnnl_memory_desc_t *plain) {
    dnnl_memory_desc_t m;
    memset(&m, 0, sizeof m);
    dnnl_memory_desc_init_by_tag(&m, plain->ndims, plain->dims, dnnl_f32, dnnl_format_tag_any);
    *md = m;
}

static nb_status pd_create_attr(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t d,
                                const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                                const char *fn, const char *what) {
    dnnl_engine_t e = nb_engine(fn);
    if (!e) return nb_failure_code();
    return nb_dnnl_check(dnnl_primitive_desc_create(pd, d, attr, e, hint), fn, what);
}

static nb_status pd_create(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t d,
                           const_dnnl_primitive_desc_t hint, const char *fn, const char *what) {
    return pd_create_attr(pd, d, NULL, hint, fn, what);
}

/* ---- reorders between plain tensors and a primitive's chosen layouts ---------------- */
static void key_md(nb_key *k, const dnnl_memory_desc_t *md) {
    const unsigned char *b = (const unsigned char *)md;
    for (size_t i = 0; i < sizeof *md; i += sizeof(int64_t)) {
        int64_t v = 0;
        memcpy(&v, b + i, sizeof v < sizeof *md - i ? sizeof v : sizeof *md - i);
        nb_key_int(k, v);
    }
}

static nb_status reorder_md(const char *fn, const dnnl_memory_desc_t *from, void *src,
                            const dnnl_memory_desc_t *to, void *dst) {
    nb_key k;
    nb_key_init(&k, "reorder_md");
    key_md(&k, from);
    key_md(&k, to);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_primitive_desc_t pd;
        dnnl_engine_t e = nb_engine(fn);
        if (!e || nb_dnnl_check(dnnl_reorder_primitive_desc_create(&pd, from, e, to, e, NULL), fn,
                                "reorder descriptor"))
            return nb_failure_code();
        if (!(p = nb_prim_add(&k, pd, fn, "reorder primitive"))) return nb_failure_code();
    }
    return nb_prim_run(p, fn, 2, (int[]){DNNL_ARG_FROM, DNNL_ARG_TO}, (void *[]){src, dst});
}

/* One argument of a primitive that may want another layout than the tensor's. */
typedef struct {
    int arg;
    dnnl_memory_desc_t plain; /* the tensor's own layout */
    void *data;
    bool output;
} layout_arg;

/* Run p: inputs in another layout are reordered into pooled scratch buffers
 * first, outputs reordered back after. No copy when the layouts agree. */
static nb_status run_with_layouts(nb_prim *p, const char *fn, layout_arg *a, int n) {
    int ids[8];
    void *ptrs[8];
    nb_storage *tmp[8] = {0};
    const dnnl_memory_desc_t *want[8];
    nb_status s = NB_OK;
    for (int i = 0; i < n && s == NB_OK; i++) {
        ids[i] = a[i].arg;
        ptrs[i] = a[i].data;
        want[i] = dnnl_primitive_desc_query_md(nb_prim_pd(p), dnnl_query_exec_arg_md, a[i].arg);
        if (!want[i] || dnnl_memory_desc_equal(want[i], &a[i].plain)) continue;
        if (!(tmp[i] = nb_storage_get(dnnl_memory_desc_get_size(want[i])))) {
            s = nb_failure_code();
            break;
        }
        ptrs[i] = tmp[i]->data;
        if (!a[i].output) s = reorder_md(fn, &a[i].plain, a[i].data, want[i], ptrs[i]);
    }
    if (s == NB_OK) s = nb_prim_run(p, fn, n, ids, ptrs);
    for (int i = 0; i < n; i++) {
        if (!tmp[i]) continue;
        if (s == NB_OK && a[i].output) s = reorder_md(fn, want[i], ptrs[i], &a[i].plain, a[i].data);
        nb_storage_put(tmp[i]);
    }
    return s;
}

/* ---- convolution ----------------------------------------------------------------------- */
typedef struct {
    dnnl_memory_desc_t x, w, b, y; /* plain layouts of the four tensors */
} conv_mds;

static void conv_plain(conv_mds *m, const nb_conv_geom *g, const nb_tensor *x, const nb_tensor *w,
                       const nb_tensor *b, const nb_tensor *y) {
    memset(m, 0, sizeof *m);
    nb_md_of(&m->x, x, 4);
    weights_md(&m->w, w, g->groups);
    nb_md_of(&m->y, y, 4);
    if (b) nb_md_of(&m->b, b, 1);
}

/* kind: "conv", "conv_bwd_data" or "conv_bwd_weights"; b: the bias (forward) or
 * its gradient (backward weights), NULL for none; post: forward only */
static nb_prim *conv_prim(const char *kind, const char *fn, const nb_conv_geom *g,
                          const nb_tensor *x, const nb_tensor *w, const nb_tensor *b,
                          const nb_tensor *y, const nb_post_op *post) {
    nb_key k;
    nb_key_init(&k, kind);
    key_conv(&k, g);
    nb_key_tensor(&k, x);
    nb_key_tensor(&k, w);
    nb_key_tensor(&k, b);
    nb_key_tensor(&k, y);
    if (post) nb_key_post_op(&k, post);
    nb_prim *p = nb_prim_find(&k);
    if (p) return p;

    conv_mds m;
    dnnl_memory_desc_t xa, wa, ya;
    conv_plain(&m, g, x, w, b, y);
    any_md(&xa, &m.x);
    any_md(&wa, &m.w);
    any_md(&ya, &m.y);
    spatial sp = conv_spatial(g);
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_desc_t fwd, pd;
    bool fwd_bias = b && !strcmp(kind, "conv");
    dnnl_primitive_attr_t attr = NULL;
    if (nb_dnnl_check(dnnl_dilated_convolution_forward_desc_init(
                          &fd, dnnl_forward_training, dnnl_convolution_direct, &xa, &wa,
                          fwd_bias ? &m.b : NULL, &ya, sp.stride, sp.dilate, sp.pad_l, sp.pad_r),
                      fn, "convolution descriptor") ||
        !nb_post_op_attr(fn, post, &attr))
        return NULL;
    nb_status made = pd_create_attr(&fwd, &fd, attr, NULL, fn, "convolution primitive");
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (made != NB_OK) return NULL;
    if (!strcmp(kind, "conv")) return nb_prim_add(&k, fwd, fn, "convolution primitive");

    dnnl_status_t s = !strcmp(kind, "conv_bwd_data")
                          ? dnnl_dilated_convolution_backward_data_desc_init(
                                &bd, dnnl_convolution_direct, &xa, &wa, &ya, sp.stride, sp.dilate,
                                sp.pad_l, sp.pad_r)
                          : dnnl_dilated_convolution_backward_weights_desc_init(
                                &bd, dnnl_convolution_direct, &xa, &wa, b ? &m.b : NULL, &ya,
                                sp.stride, sp.dilate, sp.pad_l, sp.pad_r);
    nb_status st = nb_dnnl_check(s, fn, "convolution backward descriptor");
    if (st == NB_OK) st = pd_create(&pd, &bd, fwd, fn, "convolution backward primitive");
    dnnl_primitive_desc_destroy(fwd);
    return st == NB_OK ? nb_prim_add(&k, pd, fn, "convolution backward primitive") : NULL;
}

nb_status nb_kernel_conv(const char *fn, const nb_conv_geom *g, const nb_tensor *x,
                         const nb_tensor *w, const nb_tensor *b, nb_tensor *y) {
    return nb_kernel_conv_post(fn, g, x, w, b, y, NULL);
}

nb_status nb_kernel_conv_post(const char *fn, const nb_conv_geom *g, const nb_tensor *x,
                              const nb_tensor *w, const nb_tensor *b, nb_tensor *y,
                              const nb_post_op *post) {
    if (y->numel == 0) return NB_OK;
    nb_prim *p = conv_prim("conv", fn, g, x, w, b, y, post);
    if (!p) return nb_failure_code();
    conv_mds m;
    conv_plain(&m, g, x, w, b, y);
    layout_arg a[] = {{DNNL_ARG_SRC, m.x, nb_ptr(x), false},
                      {DNNL_ARG_WEIGHTS, m.w, nb_ptr(w), false},
                      {DNNL_ARG_DST, m.y, nb_ptr(y), true},
                      {DNNL_ARG_BIAS, m.b, b ? nb_ptr(b) : NULL, false}};
    return run_with_layouts(p, fn, a, b ? 4 : 3);
}

nb_status nb_kernel_conv_backward_data(const char *fn, const nb_conv_geom *g, const nb_tensor *gy,
                                       const nb_tensor *w, nb_tensor *gx) {
    if (gx->numel == 0) return NB_OK;
    nb_prim *p = conv_prim("conv_bwd_data", fn, g, gx, w, NULL, gy, NULL);
    if (!p) return nb_failure_code();
    conv_mds m;
    conv_plain(&m, g, gx, w, NULL, gy);
    layout_arg a[] = {{DNNL_ARG_DIFF_DST, m.y, nb_ptr(gy), false},
                      {DNNL_ARG_WEIGHTS, m.w, nb_ptr(w), false},
                      {DNNL_ARG_DIFF_SRC, m.x, nb_ptr(gx), true}};
    return run_with_layouts(p, fn, a, 3);
}

nb_status nb_kernel_conv_backward_weights(const char *fn, const nb_conv_geom *g, const nb_tensor *x,
                                          const nb_tensor *gy, nb_tensor *gw, nb_tensor *gb) {
    if (x->numel == 0) { /* an empty batch: nothing flows back to the weights */
        memset(nb_ptr(gw), 0, (size_t)gw->numel * sizeof(float));
        if (gb) memset(nb_ptr(gb), 0, (size_t)gb->numel * sizeof(float));
        return NB_OK;
    }
    nb_prim *p = conv_prim("conv_bwd_weights", fn, g, x, gw, gb, gy, NULL);
    if (!p) return nb_failure_code();
    conv_mds m;
    conv_plain(&m, g, x, gw, gb, gy);
    layout_arg a[] = {{DNNL_ARG_SRC, m.x, nb_ptr(x), false},
                      {DNNL_ARG_DIFF_DST, m.y, nb_ptr(gy), false},
                      {DNNL_ARG_DIFF_WEIGHTS, m.w, nb_ptr(gw), true},
                      {DNNL_ARG_DIFF_BIAS, m.b, gb ? nb_ptr(gb) : NULL, true}};
    return run_with_layouts(p, fn, a, gb ? 4 : 3);
}

/* ---- pooling --------------------------------------------------------------------- */
static nb_status pool_fwd_pd(dnnl_primitive_desc_t *pd, const char *fn, const nb_pool_geom *g,
                             const nb_tensor *x, const nb_tensor *y) {
    dnnl_memory_desc_t xm, ym;
    dnnl_pooling_v2_desc_t d; /* v2: the one with dilation */
    nb_md_of(&xm, x, 4);
    nb_md_of(&ym, y, 4);
    spatial sp = pool_spatial(g);
    if (nb_dnnl_check(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_training, g->alg, &xm, &ym,
                                                        sp.stride, sp.kernel, sp.dilate, sp.pad_l,
                                                        sp.pad_r),
                      fn, "pooling descriptor"))
        return nb_failure_code();
    return pd_create(pd, &d, NULL, fn, "pooling primitive");
}

static void pool_key(nb_key *k, const char *kind, const nb_pool_geom *g, const nb_tensor *x,
                     const nb_tensor *y) {
    nb_key_init(k, kind);
    key_pool(k, g);
    nb_key_tensor(k, x);
    nb_key_tensor(k, y);
}

nb_status nb_kernel_pool(const char *fn, const nb_pool_geom *g, const nb_tensor *x, nb_tensor *y,
                         nb_tensor **workspace) {
    nb_tensor *given = workspace ? *workspace : NULL;
    if (workspace) *workspace = NULL;
    if (y->numel == 0) return NB_OK; /* an empty batch or no channels */
    nb_key k;
    pool_key(&k, "pool", g, x, y);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_primitive_desc_t pd;
        if (pool_fwd_pd(&pd, fn, g, x, y) || !(p = nb_prim_add(&k, pd, fn, "pooling primitive")))
            return nb_failure_code();
    }
    size_t ws = nb_prim_workspace_bytes(p);
    if (!ws)
        return nb_prim_run(p, fn, 2, (int[]){DNNL_ARG_SRC, DNNL_ARG_DST},
                           (void *[]){nb_ptr(x), nb_ptr(y)});
    int64_t n = (int64_t)((ws + sizeof(float) - 1) / sizeof(float));
    nb_tensor *w = given && given->numel == n ? given : nb_tensor_new(fn, &n, 1);
    if (!w) return nb_failure_code();
    if (workspace) *workspace = w;
    return nb_prim_run(p, fn, 3, (int[]){DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WORKSPACE},
                       (void *[]){nb_ptr(x), nb_ptr(y), nb_ptr(w)});
}

nb_status nb_kernel_pool_backward(const char *fn, const nb_pool_geom *g, const nb_tensor *gy,
                                  const nb_tensor *workspace, nb_tensor *gx) {
    if (gx->numel == 0) return NB_OK;
    nb_key k;
    pool_key(&k, "pool_bwd", g, gx, gy);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_primitive_desc_t fwd, pd;
        dnnl_memory_desc_t xm, ym;
        dnnl_pooling_v2_desc_t d;
        if (pool_fwd_pd(&fwd, fn, g, gx, gy)) return nb_failure_code();
        nb_md_of(&xm, gx, 4);
        nb_md_of(&ym, gy, 4);
        spatial sp = pool_spatial(g);
        nb_status s = nb_dnnl_check(
            dnnl_pooling_v2_backward_desc_init(&d, g->alg, &xm, &ym, sp.stride, sp.kernel,
                                               sp.dilate, sp.pad_l, sp.pad_r),
            fn, "pooling backward descriptor");
        if (s == NB_OK) s = pd_create(&pd, &d, fwd, fn, "pooling backward primitive");
        dnnl_primitive_desc_destroy(fwd);
        if (s != NB_OK || !(p = nb_prim_add(&k, pd, fn, "pooling backward primitive")))
            return nb_failure_code();
    }
    if (workspace)
        return nb_prim_run(p, fn, 3,
                           (int[]){DNNL_ARG_DIFF_DST, DNNL_ARG_WORKSPACE, DNNL_ARG_DIFF_SRC},
                           (void *[]){nb_ptr(gy), nb_ptr(workspace), nb_ptr(gx)});
    return nb_prim_run(p, fn, 2, (int[]){DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC},
                       (void *[]){nb_ptr(gy), nb_ptr(gx)});
}

/* ---- batch normalization -------------------------------------------------------------- */
static const unsigned bn_flags = dnnl_use_scale | dnnl_use_shift;

static nb_status bn_fwd_pd(dnnl_primitive_desc_t *pd, const char *fn, float eps, bool training,
                           const nb_tensor *x) {
    dnnl_memory_desc_t xm;
    dnnl_batch_normalization_desc_t d;
    nb_md_of(&xm, x, 4);
    unsigned flags = bn_flags | (training ? 0 : dnnl_use_global_stats);
    if (nb_dnnl_check(
            dnnl_batch_normalization_forward_desc_init(
                &d, training ? dnnl_forward_training : dnnl_forward_inference, &xm, eps, flags),
            fn, "batch normalization descriptor"))
        return nb_failure_code();
    return pd_create(pd, &d, NULL, fn, "batch normalization primitive");
}

nb_status nb_kernel_batch_norm(const char *fn, float eps, bool training, const nb_tensor *x,
                               const nb_tensor *gamma, const nb_tensor *beta, nb_tensor *mean,
                               nb_tensor *var, nb_tensor *y) {
    nb_key k;
    nb_key_init(&k, training ? "bn_train" : "bn_infer");
    nb_key_float(&k, eps);
    nb_key_tensor(&k, x);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_primitive_desc_t pd;
        if (bn_fwd_pd(&pd, fn, eps, training, x) ||
            !(p = nb_prim_add(&k, pd, fn, "batch normalization primitive")))
            return nb_failure_code();
    }
    return nb_prim_run(
        p, fn, 6,
        (int[]){DNNL_ARG_SRC, DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE,
                DNNL_ARG_DST},
        (void *[]){nb_ptr(x), nb_ptr(gamma), nb_ptr(beta), nb_ptr(mean), nb_ptr(var), nb_ptr(y)});
}

nb_status nb_kernel_batch_norm_backward(const char *fn, float eps, const nb_tensor *x,
                                        const nb_tensor *mean, const nb_tensor *var,
                                        const nb_tensor *gy, const nb_tensor *gamma,
                                        const nb_tensor *beta, nb_tensor *gx, nb_tensor *dgamma,
                                        nb_tensor *dbeta) {
    nb_key k;
    nb_key_init(&k, "bn_bwd");
    nb_key_float(&k, eps);
    nb_key_tensor(&k, x);
    nb_prim *p = nb_prim_find(&k);
    if (!p) {
        dnnl_primitive_desc_t fwd, pd;
        dnnl_memory_desc_t xm;
        dnnl_batch_normalization_desc_t d;
        if (bn_fwd_pd(&fwd, fn, eps, true, x)) return nb_failure_code();
        nb_md_of(&xm, x, 4);
        nb_status s = nb_dnnl_check(
            dnnl_batch_normalization_backward_desc_init(&d, dnnl_backward, &xm, &xm, eps, bn_flags),
            fn, "batch normalization backward descriptor");
        if (s == NB_OK) s = pd_create(&pd, &d, fwd, fn, "batch normalization backward primitive");
        dnnl_primitive_desc_destroy(fwd);
        if (s != NB_OK || !(p = nb_prim_add(&k, pd, fn, "batch normalization backward primitive")))
            return nb_failure_code();
    }
    return nb_prim_run(p, fn, 9,
                       (int[]){DNNL_ARG_SRC, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE, DNNL_ARG_DIFF_DST,
                               DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_DIFF_SRC,
                               DNNL_ARG_DIFF_SCALE, DNNL_ARG_DIFF_SHIFT},
                       (void *[]){nb_ptr(x), nb_ptr(mean), nb_ptr(var), nb_ptr(gy), nb_ptr(gamma),
                                  nb_ptr(beta), nb_ptr(gx), nb_ptr(dgamma), nb_ptr(dbeta)});
}
