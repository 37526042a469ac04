/* Shape ops: reshape, flatten, transpose/permute, slice (views sharing
 * storage), concat, one_hot, contiguous.
 *
 * A view op computes only a new layout (shape, strides, offset) over input
 * 0's storage; no kernel runs. Its backward rule maps the gradient back to
 * the input's layout.
 */
#include "core/dnnl_internal.h"
#include "op.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static nb_status same_layout(const nb_node *n, nb_layout *l) {
    nb_layout_contiguous(l, n->in[0]->shape, n->in[0]->ndim);
    return NB_OK;
}

/* ---- copying between layouts --------------------------------------------------
 * oneDNN describes a strided layout only when, with the axes sorted by stride,
 * each stride reaches past the whole of the previous axis. A slice with a step
 * can interleave axes: columns 0 and 2 of a [4, 3] matrix are [4, 2] with
 * strides [3, 2]. Such layouts are copied by a plain loop. */
static bool dnnl_can_describe(const nb_tensor *t) {
    int64_t stride[NB_MAX_DIMS], dim[NB_MAX_DIMS];
    int n = 0;
    if (t->numel == 0) return true;
    for (int i = 0; i < t->ndim; i++) { /* size-1 axes do not count; insertion sort */
        if (t->shape[i] == 1) continue;
        int k = n++;
        for (; k > 0 && stride[k - 1] > t->strides[i]; k--) {
            stride[k] = stride[k - 1];
            dim[k] = dim[k - 1];
        }
        stride[k] = t->strides[i];
        dim[k] = t->shape[i];
    }
    for (int k = 1; k < n; k++)
        if (stride[k] < stride[k - 1] * dim[k - 1]) return false;
    return true;
}

/* dst = src, same shape, element by element in row-major order */
static void copy_loop(const nb_tensor *src, nb_tensor *dst) {
    int64_t idx[NB_MAX_DIMS] = {0};
    const float *s = nb_ptr(src);
    float *d = nb_ptr(dst);
    for (int64_t i = 0; i < src->numel; i++) {
        int64_t at_s = 0, at_d = 0;
        for (int k = 0; k < src->ndim; k++) {
            at_s += idx[k] * src->strides[k];
            at_d += idx[k] * dst->strides[k];
        }
        d[at_d] = s[at_s];
        for (int k = src->ndim - 1; k >= 0 && ++idx[k] == src->shape[k]; k--) idx[k] = 0;
    }
}

static nb_status copy_layout(const char *fn, const nb_tensor *src, nb_tensor *dst) {
    if (dnnl_can_describe(src) && dnnl_can_describe(dst)) return nb_kernel_reorder(fn, src, dst);
    copy_loop(src, dst);
    return NB_OK;
}

/* ---- contiguous: a dense copy (oneDNN reorder); the gradient passes through ---- */
static nb_status contiguous_forward(nb_node *n) {
    return copy_layout("nb_contiguous", n->in[0], n->out);
}

static nb_status pass_through(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    (void)n;
    gx[0] = gy;
    return NB_OK;
}

static const nb_op_def contiguous_def = {
    .name = "contiguous",
    .shape = same_layout,
    .forward = contiguous_forward,
    .backward = pass_through,
};

nb_tensor *nb_contiguous(nb_tensor *x) {
    if (!x) return nb_fail_null("nb_contiguous");
    if (nb_is_contiguous(x)) return x;
    return nb_apply(&contiguous_def, &x, 1, NULL, 0);
}

/* ---- reshape: x [..] -> y [shape], same elements in row-major order ----------- */
typedef struct {
    int ndim;
    int64_t shape[NB_MAX_DIMS];
} shape_attrs;

static nb_status reshape_shape(const nb_node *n, nb_layout *l) {
    const shape_attrs *a = NB_ATTRS(n, shape_attrs);
    nb_layout_contiguous(l, a->shape, a->ndim);
    l->offset = n->in[0]->offset;
    return NB_OK;
}

static nb_status reshape_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    gx[0] = nb_reshape(gy, n->in[0]->shape, n->in[0]->ndim);
    return gx[0] ? NB_OK : nb_failure_code();
}

static int print_shape(const nb_node *n, char *buf, size_t size) {
    const shape_attrs *a = NB_ATTRS(n, shape_attrs);
    return snprintf(buf, size, "shape=%s", nb_dims_s(a->shape, a->ndim));
}

static const nb_op_def reshape_def = {
    .name = "reshape",
    .flags = NB_OP_VIEW | NB_OP_CONTIGUOUS,
    .shape = reshape_shape,
    .backward = reshape_backward,
    .print_attrs = print_shape,
};

/* Resolve one -1 and check the element count. */
static bool resolve_shape(const nb_tensor *x, const int64_t *shape, int ndim, shape_attrs *a) {
    if (ndim > 0 && !shape) {
        nb_fail(NB_ERR_NULL, "nb_reshape: the shape is NULL");
        return false;
    }
    if (ndim < 0 || ndim > NB_MAX_DIMS) {
        nb_fail(NB_ERR_ARG, "nb_reshape: %d dimensions; nabla supports 0 to %d", ndim, NB_MAX_DIMS);
        return false;
    }
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        a->shape[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (shape[i] < 0) {
            nb_fail(NB_ERR_ARG, "nb_reshape: bad size %lld in shape %s (only one -1 allowed)",
                    (long long)shape[i], nb_dims_s(shape, ndim));
            return false;
        }
        if (shape[i] && known > INT64_MAX / shape[i]) {
            nb_fail(NB_ERR_MEMORY, "nb_reshape: shape %s overflows", nb_dims_s(shape, ndim));
            return false;
        }
        known *= shape[i];
    }
    if (infer >= 0) a->shape[infer] = known ? x->numel / known : 0;
    a->ndim = ndim;
    /* checked with zeros taken as 1: an empty shape's strides must fit too */
    int64_t total;
    if (!nb_shape_numel("nb_reshape", a->shape, ndim, &total)) return false;
    if (total != x->numel) {
        nb_fail(NB_ERR_SHAPE, "nb_reshape: cannot reshape %s (%lld elements) to %s", nb_shape_s(x),
                (long long)x->numel, nb_dims_s(shape, ndim));
        return false;
    }
    return true;
}

nb_tensor *nb_reshape(nb_tensor *x, const int64_t *shape, int ndim) {
    shape_attrs a;
    if (!x) return nb_fail_null("nb_reshape");
    if (!resolve_shape(x, shape, ndim, &a)) return NULL;
    return nb_apply(&reshape_def, &x, 1, &a, sizeof a);
}

/* x: [N, ...] -> [N, rest], as Keras's Flatten (the batch axis stays) */
nb_tensor *nb_flatten(nb_tensor *x) {
    if (!x) return nb_fail_null("nb_flatten");
    if (x->ndim < 1)
        return nb_fail(NB_ERR_SHAPE, "nb_flatten: needs a batch axis; got a 0-d tensor");
    int64_t rest = 1; /* a product of dims, not numel / N: N may be 0 */
    for (int i = 1; i < x->ndim; i++) rest *= x->shape[i];
    return nb_reshape(x, (int64_t[]){x->shape[0], rest}, 2);
}

/* ---- permute: y[i0, i1, ...] = x[i_perm...]; a view with permuted strides ------- */
typedef struct {
    int n;
    int perm[NB_MAX_DIMS];
} perm_attrs;

static nb_status permute_shape(const nb_node *n, nb_layout *l) {
    const perm_attrs *a = NB_ATTRS(n, perm_attrs);
    const nb_tensor *x = n->in[0];
    l->ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) {
        l->shape[i] = x->shape[a->perm[i]];
        l->strides[i] = x->strides[a->perm[i]];
    }
    l->offset = x->offset;
    return NB_OK;
}

/* the gradient goes back through the inverse permutation */
static nb_status permute_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    const perm_attrs *a = NB_ATTRS(n, perm_attrs);
    int inv[NB_MAX_DIMS];
    for (int i = 0; i < a->n; i++) inv[a->perm[i]] = i;
    gx[0] = nb_permute(gy, inv, a->n);
    return gx[0] ? NB_OK : nb_failure_code();
}

static int print_perm(const nb_node *n, char *buf, size_t size) {
    const perm_attrs *a = NB_ATTRS(n, perm_attrs);
    int64_t p[NB_MAX_DIMS];
    for (int i = 0; i < a->n; i++) p[i] = a->perm[i];
    return snprintf(buf, size, "perm=%s", nb_dims_s(p, a->n));
}

static const nb_op_def permute_def = {
    .name = "permute",
    .flags = NB_OP_VIEW,
    .shape = permute_shape,
    .backward = permute_backward,
    .print_attrs = print_perm,
};

nb_tensor *nb_permute(nb_tensor *x, const int *perm, int n) {
    perm_attrs a = {.n = n};
    bool seen[NB_MAX_DIMS] = {0};
    if (!x) return nb_fail_null("nb_permute");
    if (n > 0 && !perm) return nb_fail(NB_ERR_NULL, "nb_permute: the permutation is NULL");
    if (n != x->ndim)
        return nb_fail(NB_ERR_ARG, "nb_permute: permutation of %d axes for a tensor of shape %s", n,
                       nb_shape_s(x));
    for (int i = 0; i < n; i++) {
        int p;
        if (!nb_axis("nb_permute", perm[i], n, &p)) return NULL;
        if (seen[p])
            return nb_fail(NB_ERR_ARG, "nb_permute: axis %d appears twice in the permutation", p);
        seen[p] = true;
        a.perm[i] = p;
    }
    return nb_apply(&permute_def, &x, 1, &a, sizeof a);
}

nb_tensor *nb_transpose(nb_tensor *x, int axis0, int axis1) {
    int a0, a1, perm[NB_MAX_DIMS];
    if (!x) return nb_fail_null("nb_transpose");
    if (!nb_axis("nb_transpose", axis0, x->ndim, &a0) ||
        !nb_axis("nb_transpose", axis1, x->ndim, &a1))
        return NULL;
    if (x->ndim < 2) return x;
    for (int i = 0; i < x->ndim; i++) perm[i] = i;
    perm[a0] = a1;
    perm[a1] = a0;
    return nb_permute(x, perm, x->ndim);
}

/* ---- slice: y = x[..., start:stop:step, ...] along one axis, a view ------------- */
typedef struct {
    int axis;
    int64_t start, len, step;
} slice_attrs;

static nb_status slice_shape(const nb_node *n, nb_layout *l) {
    const slice_attrs *a = NB_ATTRS(n, slice_attrs);
    const nb_tensor *x = n->in[0];
    l->ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) {
        l->shape[i] = x->shape[i];
        l->strides[i] = x->strides[i];
    }
    l->shape[a->axis] = a->len;
    /* with one element (or none) the step is never taken: its stride times a
     * huge step need not fit, and with two or more it stays inside x */
    if (a->len > 1) l->strides[a->axis] = x->strides[a->axis] * a->step;
    l->offset = x->offset + a->start * x->strides[a->axis];
    return NB_OK;
}

/* slice_backward: in [gy] -> zeros of x's shape with gy written into the slice */
typedef struct {
    slice_attrs s;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
} scatter_attrs;

static nb_status scatter_shape(const nb_node *n, nb_layout *l) {
    const scatter_attrs *a = NB_ATTRS(n, scatter_attrs);
    nb_layout_contiguous(l, a->shape, a->ndim);
    return NB_OK;
}

static nb_status scatter_forward(nb_node *n) {
    const scatter_attrs *a = NB_ATTRS(n, scatter_attrs);
    nb_tensor *out = n->out;
    memset(nb_ptr(out), 0, (size_t)out->numel * sizeof(float));
    nb_tensor window = *out; /* the slice of out that gy fills */
    window.shape[a->s.axis] = a->s.len;
    if (a->s.len > 1) window.strides[a->s.axis] *= a->s.step;
    window.offset += a->s.start * out->strides[a->s.axis];
    window.numel = n->in[0]->numel;
    return copy_layout("nb_slice", n->in[0], &window);
}

/* the scatter is linear in gy: its gradient is the same slice of the incoming g */
static nb_status scatter_backward(nb_node *n, nb_tensor *g, nb_tensor **gx);

static const nb_op_def slice_backward_def = {
    .name = "slice_backward",
    .shape = scatter_shape,
    .forward = scatter_forward,
    .backward = scatter_backward,
};

static nb_status slice_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    scatter_attrs a = {.s = *NB_ATTRS(n, slice_attrs), .ndim = n->in[0]->ndim};
    memcpy(a.shape, n->in[0]->shape, sizeof a.shape);
    gx[0] = nb_apply(&slice_backward_def, &gy, 1, &a, sizeof a);
    return gx[0] ? NB_OK : nb_failure_code();
}

static int print_slice(const nb_node *n, char *buf, size_t size) {
    const slice_attrs *a = NB_ATTRS(n, slice_attrs);
    int64_t stop = a->len ? a->start + (a->len - 1) * a->step + 1 : a->start; /* within x */
    return snprintf(buf, size, "axis=%d %lld:%lld:%lld", a->axis, (long long)a->start,
                    (long long)stop, (long long)a->step);
}

static const nb_op_def slice_def = {
    .name = "slice",
    .flags = NB_OP_VIEW,
    .shape = slice_shape,
    .backward = slice_backward,
    .print_attrs = print_slice,
};

static nb_status scatter_backward(nb_node *n, nb_tensor *g, nb_tensor **gx) {
    const slice_attrs *a = &NB_ATTRS(n, scatter_attrs)->s;
    gx[0] = nb_apply(&slice_def, &g, 1, a, sizeof *a);
    return gx[0] ? NB_OK : nb_failure_code();
}

/* Python's rules: negative indices count from the end, out-of-range ones clamp. */
static int64_t clamp_index(int64_t i, int64_t n) {
    if (i < 0) i += n;
    return i < 0 ? 0 : i > n ? n : i;
}

nb_tensor *nb_slice(nb_tensor *x, int axis, int64_t start, int64_t stop, int64_t step) {
    slice_attrs a;
    if (!x) return nb_fail_null("nb_slice");
    if (x->ndim == 0) return nb_fail(NB_ERR_SHAPE, "nb_slice: cannot slice a 0-d tensor");
    if (!nb_axis("nb_slice", axis, x->ndim, &a.axis)) return NULL;
    if (step < 1) return nb_fail(NB_ERR_ARG, "nb_slice: step %lld must be >= 1", (long long)step);
    int64_t n = x->shape[a.axis];
    a.start = clamp_index(start, n);
    int64_t end = clamp_index(stop, n);
    a.len = end > a.start ? (end - a.start - 1) / step + 1 : 0; /* ceil without overflow */
    a.step = step;
    if (a.len == 0) a.start = 0;
    return nb_apply(&slice_def, &x, 1, &a, sizeof a);
}

/* ---- concat: xs along axis (oneDNN concat); the gradient is split back ------------ */
typedef struct {
    int axis;
} axis_attrs;

/* the first of xs[1..n) whose shape differs from xs[0]'s off the axis, or 0 */
static int concat_misfit(const nb_tensor *const *xs, int n, int axis) {
    for (int i = 1; i < n; i++) {
        bool ok = xs[i]->ndim == xs[0]->ndim;
        for (int d = 0; ok && d < xs[0]->ndim; d++)
            ok = d == axis || xs[i]->shape[d] == xs[0]->shape[d];
        if (!ok) return i;
    }
    return 0;
}

static nb_status concat_misfit_error(const nb_tensor *const *xs, int i, int axis) {
    return nb_fail_status(
        NB_ERR_SHAPE,
        "nb_concat: tensor %d has shape %s, tensor 0 has %s; all axes but %d must match", i,
        nb_shape_s(xs[i]), nb_shape_s(xs[0]), axis);
}

static nb_status concat_shape(const nb_node *n, nb_layout *l) {
    int axis = NB_ATTRS(n, axis_attrs)->axis;
    const nb_tensor *const *xs = (const nb_tensor *const *)n->in;
    int bad = concat_misfit(xs, n->n_in, axis);
    if (bad) return concat_misfit_error(xs, bad, axis);
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    for (int i = 1; i < n->n_in; i++)
        if (!nb_add_ok(shape[axis], xs[i]->shape[axis], &shape[axis]))
            return nb_fail_status(NB_ERR_SHAPE,
                                  "nb_concat: the sizes along axis %d overflow (tensor %d is %s)",
                                  axis, i, nb_shape_s(xs[i]));
    nb_layout_contiguous(l, shape, xs[0]->ndim);
    return NB_OK;
}

static nb_status concat_forward(nb_node *n) {
    return nb_kernel_concat("nb_concat", (const nb_tensor *const *)n->in, n->n_in,
                            NB_ATTRS(n, axis_attrs)->axis, n->out);
}

static nb_status concat_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    int axis = NB_ATTRS(n, axis_attrs)->axis;
    int64_t at = 0;
    for (int i = 0; i < n->n_in; i++) {
        int64_t len = n->in[i]->shape[axis];
        if (n->needs_grad[i] && !(gx[i] = nb_slice(gy, axis, at, at + len, 1)))
            return nb_failure_code();
        at += len;
    }
    return NB_OK;
}

static int print_axis(const nb_node *n, char *buf, size_t size) {
    return snprintf(buf, size, "axis=%d", NB_ATTRS(n, axis_attrs)->axis);
}

static const nb_op_def concat_def = {
    .name = "concat",
    .flags = NB_OP_CONTIGUOUS,
    .shape = concat_shape,
    .forward = concat_forward,
    .backward = concat_backward,
    .print_attrs = print_axis,
};

/* A node holds at most NB_MAX_INPUTS inputs, so more tensors are concatenated
 * in groups of that many, then the groups' results (recursively); the
 * gradient is split back through both levels. */
static nb_tensor *concat_groups(nb_tensor *const *xs, int n, int axis) {
    axis_attrs a = {axis};
    if (n <= NB_MAX_INPUTS) return n == 1 ? xs[0] : nb_apply(&concat_def, xs, n, &a, sizeof a);
    int groups = (n + NB_MAX_INPUTS - 1) / NB_MAX_INPUTS;
    nb_tensor **parts = malloc((size_t)groups * sizeof *parts);
    if (!parts) return nb_fail(NB_ERR_MEMORY, "nb_concat: out of memory for %d tensors", n);
    nb_tensor *y = NULL;
    for (int g = 0; g < groups; g++) {
        int at = g * NB_MAX_INPUTS, len = n - at < NB_MAX_INPUTS ? n - at : NB_MAX_INPUTS;
        if (!(parts[g] = concat_groups(xs + at, len, axis))) goto done;
    }
    y = concat_groups(parts, groups, axis);
done:
    free(parts);
    return y;
}

nb_tensor *nb_concat(nb_tensor *const *xs, int n, int axis) {
    axis_attrs a;
    if (!xs || n < 1) return nb_fail(NB_ERR_ARG, "nb_concat: %d tensors; 1 or more", xs ? n : 0);
    for (int i = 0; i < n; i++)
        if (!xs[i]) return nb_fail_null("nb_concat");
    if (xs[0]->ndim == 0) return nb_fail(NB_ERR_SHAPE, "nb_concat: cannot concatenate 0-d tensors");
    if (!nb_axis("nb_concat", axis, xs[0]->ndim, &a.axis)) return NULL;
    /* checked whole here so that an error names the tensor's place in xs, not in its group */
    int bad = concat_misfit((const nb_tensor *const *)xs, n, a.axis);
    if (bad) return concat_misfit_error((const nb_tensor *const *)xs, bad, a.axis), NULL;
    return concat_groups(xs, n, a.axis);
}

/* ---- one_hot: indices [...] -> [..., num_classes]; no gradient -------------------- */
typedef struct {
    int64_t k;
} one_hot_attrs;

static nb_status one_hot_shape(const nb_node *n, nb_layout *l) {
    const nb_tensor *x = n->in[0];
    int64_t shape[NB_MAX_DIMS];
    if (x->ndim >= NB_MAX_DIMS)
        return nb_fail_status(NB_ERR_SHAPE,
                              "nb_one_hot: indices of shape %s leave no room for the "
                              "class axis",
                              nb_shape_s(x));
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim] = NB_ATTRS(n, one_hot_attrs)->k;
    nb_layout_contiguous(l, shape, x->ndim + 1);
    return NB_OK;
}

static nb_status one_hot_forward(nb_node *n) {
    int64_t k = NB_ATTRS(n, one_hot_attrs)->k;
    const float *idx = nb_ptr(n->in[0]);
    float *y = nb_ptr(n->out);
    memset(y, 0, (size_t)n->out->numel * sizeof(float));
    for (int64_t i = 0; i < n->in[0]->numel; i++) {
        float v = idx[i];
        if (!(v >= 0 && v < (float)k) || v != floorf(v))
            return nb_fail_status(NB_ERR_ARG,
                                  "nb_one_hot: index %g at position %lld is not an integer "
                                  "in [0, %lld)",
                                  v, (long long)i, (long long)k);
        y[i * k + (int64_t)v] = 1.0f;
    }
    return NB_OK;
}

static const nb_op_def one_hot_def = {
    .name = "one_hot",
    .flags = NB_OP_CONTIGUOUS,
    .shape = one_hot_shape,
    .forward = one_hot_forward,
};

nb_tensor *nb_one_hot(nb_tensor *indices, int64_t num_classes) {
    one_hot_attrs a = {num_classes};
    if (!indices) return nb_fail_null("nb_one_hot");
    if (num_classes < 1)
        return nb_fail(NB_ERR_ARG, "nb_one_hot: num_classes %lld must be >= 1",
                       (long long)num_classes);
    return nb_apply(&one_hot_def, &indices, 1, &a, sizeof a);
}
