/* Tensors: shape, strides, a view into refcounted storage. */
#include "core_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- shapes ----------------------------------------------------------------------- */
bool nb_shape_numel(const char *fn, const int64_t *shape, int ndim, int64_t *numel) {
    if (ndim < 0 || ndim > NB_MAX_DIMS) {
        nb_fail(NB_ERR_ARG, "%s: %d dimensions; nabla supports 0 to %d", fn, ndim, NB_MAX_DIMS);
        return false;
    }
    if (ndim > 0 && !shape) {
        nb_fail(NB_ERR_NULL, "%s: the shape array is NULL", fn);
        return false;
    }
    /* span: the product of the sizes with zeros taken as 1, which the strides
     * reach; it must not overflow even when a zero makes the tensor empty */
    int64_t n = 1, span = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            nb_fail(NB_ERR_ARG, "%s: negative size %lld in shape %s", fn, (long long)shape[i],
                    nb_dims_s(shape, ndim));
            return false;
        }
        if (shape[i] > 0 && span > (INT64_MAX / (int64_t)sizeof(float)) / shape[i]) {
            nb_fail(NB_ERR_MEMORY, "%s: shape %s has too many elements (the product overflows)", fn,
                    nb_dims_s(shape, ndim));
            return false;
        }
        span *= shape[i] > 0 ? shape[i] : 1;
        n *= shape[i];
    }
    *numel = n;
    return true;
}

void nb_contiguous_strides(const int64_t *shape, int ndim, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        if (!nb_mul_ok(s, shape[i] > 0 ? shape[i] : 1, &s)) s = INT64_MAX;
    }
}

bool nb_same_shape(const nb_tensor *a, const nb_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

const char *nb_dims_s(const int64_t *shape, int ndim) {
    static _Thread_local char ring[8][160];
    static _Thread_local int next;
    char *buf = ring[next];
    next = (next + 1) % 8;
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof ring[0] - n, "[");
    for (int i = 0; i < ndim && n < sizeof ring[0]; i++)
        n += (size_t)snprintf(buf + n, sizeof ring[0] - n, i ? ", %lld" : "%lld",
                              (long long)shape[i]);
    if (n < sizeof ring[0]) snprintf(buf + n, sizeof ring[0] - n, "]");
    return buf;
}

const char *nb_shape_s(const nb_tensor *t) {
    return t ? nb_dims_s(t->shape, t->ndim) : "(null)";
}

int nb_shape_str(const nb_tensor *t, char *buf, size_t n) {
    return snprintf(buf, n, "%s", nb_shape_s(t));
}

bool nb_axis(const char *fn, int axis, int ndim, int *out) {
    int lim = ndim > 0 ? ndim : 1;
    if (axis < -lim || axis >= lim) {
        nb_fail(NB_ERR_ARG, "%s: axis %d is out of range for a tensor with %d dimensions", fn, axis,
                ndim);
        return false;
    }
    *out = axis < 0 ? axis + lim : axis;
    return true;
}

/* ---- creation ----------------------------------------------------------------------- */
static nb_tensor *header(const int64_t *shape, int ndim, int64_t numel) {
    nb_tensor *t = nb_tensor_header_get();
    if (!t) return NULL;
    t->dtype = NB_F32;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    nb_contiguous_strides(shape, ndim, t->strides);
    t->numel = numel;
    t->scope = -1;
    return t;
}

static nb_tensor *new_unowned(const char *fn, const int64_t *shape, int ndim) {
    int64_t numel;
    if (!nb_shape_numel(fn, shape, ndim, &numel)) return NULL;
    /* the pools know only a byte count: the message names the op and shape */
    size_t nbytes = (size_t)numel * sizeof(float);
    nb_tensor *t = header(shape, ndim, numel);
    if (!t)
        return nb_fail(NB_ERR_MEMORY, "%s: out of memory allocating the header of a %s tensor", fn,
                       nb_dims_s(shape, ndim));
    t->storage = nb_storage_get(nbytes);
    if (!t->storage) {
        nb_tensor_header_put(t);
        return nb_fail(NB_ERR_MEMORY, "%s: out of memory allocating %zu bytes for a %s tensor", fn,
                       nbytes, nb_dims_s(shape, ndim));
    }
    return t;
}

/* A scope out of room for t leaves it owned by nobody (scope -1): a result
 * nothing would free, so that is the op's failure too. */
static nb_tensor *adopted(const char *fn, nb_tensor *t) {
    nb_scope_adopt(t);
    if (t->scope != -1) return t;
    nb_tensor_release(t);
    return nb_fail(NB_ERR_MEMORY, "%s: out of memory recording a %s tensor in its scope", fn,
                   nb_dims_s(t->shape, t->ndim));
}

nb_tensor *nb_tensor_new(const char *fn, const int64_t *shape, int ndim) {
    nb_tensor *t = new_unowned(fn, shape, ndim);
    return t ? adopted(fn, t) : NULL;
}

nb_tensor *nb_tensor_new_owned(const char *fn, const int64_t *shape, int ndim) {
    return new_unowned(fn, shape, ndim);
}

nb_tensor *nb_view_new(nb_tensor *base, const int64_t *shape, const int64_t *strides, int ndim,
                       int64_t offset) {
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i];
    nb_tensor *t = header(shape, ndim, numel);
    if (!t) return NULL;
    for (int i = 0; i < ndim; i++) t->strides[i] = strides[i];
    t->offset = offset;
    t->storage = base->storage;
    t->storage->refs++;
    return adopted("a view", t);
}

bool nb_live_slow(const char *fn) {
    nb_fail(NB_ERR_STATE,
            "%s: the tensor was freed (by nb_free or when its scope ended); a pointer to it "
            "must not be used again",
            fn);
    return false;
}

void nb_tensor_release(nb_tensor *t) {
    if (t->scope == NB_SCOPE_GRAPH) return; /* a compiled graph's, freed with it */
    if (t->grad) nb_tensor_release(t->grad);
    nb_storage_put(t->storage);
    nb_tensor_header_put(t);
}

nb_tensor *nb_empty(const int64_t *shape, int ndim) {
    return nb_tensor_new("nb_empty", shape, ndim);
}

static nb_tensor *filled(const char *fn, const int64_t *shape, int ndim, float v) {
    nb_tensor *t = nb_tensor_new(fn, shape, ndim);
    if (!t) return NULL;
    float *p = nb_ptr(t);
    for (int64_t i = 0; i < t->numel; i++) p[i] = v;
    return t;
}

nb_tensor *nb_zeros(const int64_t *shape, int ndim) {
    return filled("nb_zeros", shape, ndim, 0.0f);
}

nb_tensor *nb_ones(const int64_t *shape, int ndim) {
    return filled("nb_ones", shape, ndim, 1.0f);
}

nb_tensor *nb_full(const int64_t *shape, int ndim, float value) {
    return filled("nb_full", shape, ndim, value);
}

nb_tensor *nb_scalar(float value) {
    return filled("nb_scalar", NULL, 0, value);
}

nb_tensor *nb_zeros_like(const nb_tensor *t) {
    if (!t) return nb_fail_null("nb_zeros_like");
    return filled("nb_zeros_like", t->shape, t->ndim, 0.0f);
}

nb_tensor *nb_from_array(const float *data, const int64_t *shape, int ndim) {
    if (!data) return nb_fail(NB_ERR_NULL, "nb_from_array: the data pointer is NULL");
    nb_tensor *t = nb_tensor_new("nb_from_array", shape, ndim);
    if (t) memcpy(nb_ptr(t), data, (size_t)t->numel * sizeof(float));
    return t;
}

nb_tensor *nb_arange(float start, float stop, float step) {
    if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step))
        return nb_fail(NB_ERR_ARG,
                       "nb_arange: start %g, stop %g, step %g: need finite values "
                       "and a non-zero step",
                       start, stop, step);
    double count = ceil(((double)stop - start) / step);
    if (count > (double)(INT64_MAX / (int64_t)sizeof(float)))
        return nb_fail(NB_ERR_MEMORY,
                       "nb_arange: start %g, stop %g, step %g gives too many "
                       "elements (%g)",
                       start, stop, step, count);
    int64_t n = count > 0 ? (int64_t)count : 0;
    nb_tensor *t = nb_tensor_new("nb_arange", &n, 1);
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) nb_ptr(t)[i] = (float)(start + (double)i * step);
    return t;
}

nb_tensor *nb_linspace(float start, float stop, int64_t n) {
    if (n < 0) return nb_fail(NB_ERR_ARG, "nb_linspace: negative count %lld", (long long)n);
    nb_tensor *t = nb_tensor_new("nb_linspace", &n, 1);
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++)
        nb_ptr(t)[i] = n == 1 ? start : (float)(start + (stop - (double)start) * i / (n - 1));
    return t;
}

nb_tensor *nb_eye(int64_t n) {
    nb_tensor *t = filled("nb_eye", (int64_t[]){n, n}, 2, 0.0f);
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) nb_ptr(t)[i * n + i] = 1.0f;
    return t;
}

/* ---- properties ------------------------------------------------------------------- */
int nb_ndim(const nb_tensor *t) {
    return t ? t->ndim : -1;
}

int64_t nb_dim(const nb_tensor *t, int axis) {
    int a;
    if (!t || !nb_axis("nb_dim", axis, t->ndim, &a) || t->ndim == 0) return -1;
    return t->shape[a];
}

const int64_t *nb_shape(const nb_tensor *t) {
    return t ? t->shape : NULL;
}

const int64_t *nb_strides(const nb_tensor *t) {
    return t ? t->strides : NULL;
}

int64_t nb_numel(const nb_tensor *t) {
    return t ? t->numel : 0;
}

nb_dtype nb_get_dtype(const nb_tensor *t) {
    (void)t;
    return NB_F32;
}

bool nb_is_contiguous(const nb_tensor *t) {
    if (!t) return false;
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

bool nb_shares_storage(const nb_tensor *a, const nb_tensor *b) {
    return a && b && a->storage == b->storage;
}

float *nb_data(nb_tensor *t) {
    return t && nb_live("nb_data", t) ? nb_ptr(t) : NULL;
}

nb_status nb_mark_modified(nb_tensor *t) {
    if (!t) return (nb_fail_null("nb_mark_modified"), NB_ERR_NULL);
    if (!nb_live("nb_mark_modified", t)) return NB_ERR_STATE;
    nb_bump_version(t);
    return NB_OK;
}

nb_tensor *nb_set_name(nb_tensor *t, const char *name) {
    if (!t) return nb_fail_null("nb_set_name");
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    return t;
}

const char *nb_name(const nb_tensor *t) {
    return t ? t->name : "";
}

/* ---- element access ------------------------------------------------------------------ */
static int64_t flat_to_offset(const nb_tensor *t, int64_t i) {
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->shape[d]) * t->strides[d];
        i /= t->shape[d];
    }
    return off;
}

float nb_get_flat(const nb_tensor *t, int64_t i) {
    if (!t) return (nb_fail_null("nb_get_flat"), NAN);
    if (!nb_live("nb_get_flat", t)) return NAN;
    if (i < 0 || i >= t->numel) {
        nb_fail(NB_ERR_ARG, "nb_get_flat: index %lld is outside a tensor of %lld elements",
                (long long)i, (long long)t->numel);
        return NAN;
    }
    return t->storage->data[flat_to_offset(t, i)];
}

float nb_item(const nb_tensor *t) {
    if (!t) return (nb_fail_null("nb_item"), NAN);
    if (!nb_live("nb_item", t)) return NAN;
    if (t->numel != 1) {
        nb_fail(NB_ERR_SHAPE, "nb_item: tensor of shape %s has %lld elements, expected 1",
                nb_shape_s(t), (long long)t->numel);
        return NAN;
    }
    return t->storage->data[t->offset];
}

static bool index_offset(const char *fn, const nb_tensor *t, const int64_t *index, int64_t *off) {
    if (t->ndim > 0 && !index) {
        nb_fail(NB_ERR_NULL, "%s: the index array is NULL", fn);
        return false;
    }
    int64_t o = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        if (index[d] < 0 || index[d] >= t->shape[d]) {
            nb_fail(NB_ERR_ARG, "%s: index %s is outside shape %s", fn, nb_dims_s(index, t->ndim),
                    nb_shape_s(t));
            return false;
        }
        o += index[d] * t->strides[d];
    }
    *off = o;
    return true;
}

float nb_get(const nb_tensor *t, const int64_t *index) {
    int64_t off;
    if (!t) return (nb_fail_null("nb_get"), NAN);
    if (!nb_live("nb_get", t)) return NAN;
    if (!index_offset("nb_get", t, index, &off)) return NAN;
    return t->storage->data[off];
}

nb_status nb_set(nb_tensor *t, const int64_t *index, float value) {
    int64_t off;
    if (!t) return (nb_fail_null("nb_set"), NB_ERR_NULL);
    if (!nb_live("nb_set", t)) return NB_ERR_STATE;
    if (!index_offset("nb_set", t, index, &off)) return nb_error_code();
    t->storage->data[off] = value;
    nb_bump_version(t);
    return NB_OK;
}

nb_status nb_copy_to(const nb_tensor *t, float *out, int64_t n) {
    if (!t || !out) return (nb_fail_null("nb_copy_to"), NB_ERR_NULL);
    if (!nb_live("nb_copy_to", t)) return NB_ERR_STATE;
    if (n != t->numel)
        return nb_fail_status(NB_ERR_SHAPE,
                              "nb_copy_to: buffer holds %lld floats, tensor %s has %lld",
                              (long long)n, nb_shape_s(t), (long long)t->numel);
    for (int64_t i = 0; i < n; i++) out[i] = t->storage->data[flat_to_offset(t, i)];
    return NB_OK;
}

nb_status nb_copy_from(nb_tensor *t, const float *in, int64_t n) {
    if (!t || !in) return (nb_fail_null("nb_copy_from"), NB_ERR_NULL);
    if (!nb_live("nb_copy_from", t)) return NB_ERR_STATE;
    if (n != t->numel)
        return nb_fail_status(NB_ERR_SHAPE,
                              "nb_copy_from: buffer holds %lld floats, tensor %s has %lld",
                              (long long)n, nb_shape_s(t), (long long)t->numel);
    for (int64_t i = 0; i < n; i++) t->storage->data[flat_to_offset(t, i)] = in[i];
    nb_bump_version(t);
    return NB_OK;
}

nb_status nb_fill(nb_tensor *t, float value) {
    if (!t) return (nb_fail_null("nb_fill"), NB_ERR_NULL);
    if (!nb_live("nb_fill", t)) return NB_ERR_STATE;
    for (int64_t i = 0; i < t->numel; i++) t->storage->data[flat_to_offset(t, i)] = value;
    nb_bump_version(t);
    return NB_OK;
}

nb_tensor *nb_clone(const nb_tensor *t) {
    if (!t) return nb_fail_null("nb_clone");
    if (!nb_live("nb_clone", t)) return NULL;
    nb_tensor *c = nb_tensor_new("nb_clone", t->shape, t->ndim);
    if (c) nb_copy_to(t, nb_ptr(c), t->numel);
    return c;
}

/* ---- rows: x [R, ...] -> [n, ...] with row k = x[idx[k]] ------------------------------- */
nb_tensor *nb_take_rows(const nb_tensor *x, const int64_t *idx, int64_t n) {
    if (!x) return nb_fail_null("nb_take_rows");
    if (x->ndim < 1)
        return nb_fail(NB_ERR_SHAPE, "nb_take_rows: x is a scalar; rows run along axis 0");
    if (n < 0) return nb_fail(NB_ERR_ARG, "nb_take_rows: n is %lld", (long long)n);
    if (n > 0 && !idx) return nb_fail(NB_ERR_NULL, "nb_take_rows: idx is NULL");
    for (int64_t k = 0; k < n; k++)
        if (idx[k] < 0 || idx[k] >= x->shape[0])
            return nb_fail(NB_ERR_ARG, "nb_take_rows: index %lld (entry %lld) is not in 0..%lld",
                           (long long)idx[k], (long long)k, (long long)x->shape[0] - 1);
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = n;
    nb_tensor *src = nb_is_contiguous(x) ? (nb_tensor *)x : nb_clone(x);
    nb_tensor *out = src ? nb_tensor_new("nb_take_rows", shape, x->ndim) : NULL;
    if (out) {
        int64_t rs = x->shape[0] ? x->numel / x->shape[0] : 0;
        for (int64_t k = 0; k < n; k++)
            memcpy(nb_ptr(out) + k * rs, nb_ptr(src) + idx[k] * rs, (size_t)rs * sizeof(float));
    }
    if (src != x) nb_free(src);
    return out;
}
