/* gather and scatter_add: rows of a table picked by integer indices (an embedding's lookup),
 * and the sum of rows into a table (its gradient).
 *
 *   gather:      table [V, D], indices [...] -> [..., D], y[i, :] = table[indices[i], :]
 *     d/d table = scatter_add(gy, indices, V); the indices get no gradient.
 *   scatter_add: g [..., D], indices [...] -> [V, D], z[v, :] = sum of g[i, :] where
 *     indices[i] = v
 *     d/d g = gather(gz, indices).
 * Each is the other's gradient, so both differentiate again. Indices are floats holding
 * integers in [0, V); any other value is an error naming it and its position.
 */
#include "op.h"

#include <math.h>
#include <string.h>

typedef struct {
    int64_t rows; /* scatter_add: V */
} scatter_attrs;

static const nb_op_def gather_def, scatter_add_def;

/* "[1, 3]": the position of flat index i in shape */
static const char *position(const nb_tensor *idx, int64_t i, char *buf, size_t n) {
    int64_t at[NB_MAX_DIMS];
    for (int d = idx->ndim - 1; d >= 0; d--) at[d] = i % idx->shape[d], i /= idx->shape[d];
    int k = snprintf(buf, n, "[");
    for (int d = 0; d < idx->ndim && k >= 0 && (size_t)k < n; d++)
        k += snprintf(buf + k, n - (size_t)k, "%s%lld", d ? ", " : "", (long long)at[d]);
    if (k >= 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, "]");
    return buf;
}

/* every index an integer in [0, rows) */
static nb_status check_indices(const char *op, const nb_tensor *idx, int64_t rows) {
    const float *v = nb_ptr(idx);
    for (int64_t i = 0; i < idx->numel; i++)
        if (!(v[i] >= 0 && v[i] < (float)rows) || v[i] != floorf(v[i])) {
            char at[128];
            return nb_fail_status(NB_ERR_ARG,
                                  "nb_%s: index %g at position %s of the indices %s is not an "
                                  "integer in [0, %lld)",
                                  op, v[i], position(idx, i, at, sizeof at), nb_shape_s(idx),
                                  (long long)rows);
        }
    return NB_OK;
}

/* ---- gather ------------------------------------------------------------------------------ */
static nb_status gather_shape(const nb_node *n, nb_layout *l) {
    const nb_tensor *t = n->in[0], *idx = n->in[1];
    if (t->ndim != 2 || idx->ndim >= NB_MAX_DIMS)
        return nb_fail_status(NB_ERR_SHAPE,
                              "nb_gather: needs a table [rows, D] and indices of at most %d dims; "
                              "got a table %s and indices %s",
                              NB_MAX_DIMS - 1, nb_shape_s(t), nb_shape_s(idx));
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, idx->shape, (size_t)idx->ndim * sizeof *shape);
    shape[idx->ndim] = t->shape[1];
    nb_layout_contiguous(l, shape, idx->ndim + 1);
    return NB_OK;
}

static nb_status gather_forward(nb_node *n) {
    const nb_tensor *t = n->in[0], *idx = n->in[1];
    int64_t d = t->shape[1];
    nb_status s = check_indices("gather", idx, t->shape[0]);
    if (s != NB_OK) return s;
    const float *table = nb_ptr(t), *v = nb_ptr(idx);
    float *y = nb_ptr(n->out);
    for (int64_t i = 0; i < idx->numel; i++)
        memcpy(y + i * d, table + (int64_t)v[i] * d, (size_t)d * sizeof *y);
    return NB_OK;
}

static nb_tensor *scatter_add(nb_tensor *g, nb_tensor *indices, int64_t rows) {
    scatter_attrs a = {rows};
    return nb_apply(&scatter_add_def, (nb_tensor *[]){g, indices}, 2, &a, sizeof a);
}

static nb_status gather_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    if (n->needs_grad[0] && !(gx[0] = scatter_add(gy, n->in[1], n->in[0]->shape[0])))
        return nb_failure_code();
    return NB_OK; /* the indices: none */
}

static const nb_op_def gather_def = {
    .name = "gather",
    .flags = NB_OP_CONTIGUOUS,
    .shape = gather_shape,
    .forward = gather_forward,
    .backward = gather_backward,
};

nb_tensor *nb_gather(nb_tensor *table, nb_tensor *indices) {
    if (!table || !indices) return nb_fail_null("nb_gather");
    return nb_apply(&gather_def, (nb_tensor *[]){table, indices}, 2, NULL, 0);
}

/* ---- scatter_add -------------------------------------------------------------------------- */
static nb_status scatter_shape(const nb_node *n, nb_layout *l) {
    const nb_tensor *g = n->in[0], *idx = n->in[1];
    bool fits = g->ndim == idx->ndim + 1;
    for (int i = 0; fits && i < idx->ndim; i++) fits = g->shape[i] == idx->shape[i];
    if (!fits)
        return nb_fail_status(NB_ERR_SHAPE,
                              "nb_scatter_add: the rows %s must have the indices' shape %s and "
                              "one more axis",
                              nb_shape_s(g), nb_shape_s(idx));
    nb_layout_contiguous(l, (int64_t[]){NB_ATTRS(n, scatter_attrs)->rows, g->shape[idx->ndim]}, 2);
    return NB_OK;
}

static nb_status scatter_forward(nb_node *n) {
    const nb_tensor *g = n->in[0], *idx = n->in[1];
    int64_t d = g->shape[idx->ndim];
    nb_status s = check_indices("scatter_add", idx, NB_ATTRS(n, scatter_attrs)->rows);
    if (s != NB_OK) return s;
    const float *rows = nb_ptr(g), *v = nb_ptr(idx);
    float *z = nb_ptr(n->out);
    memset(z, 0, (size_t)n->out->numel * sizeof *z);
    for (int64_t i = 0; i < idx->numel; i++) {
        float *dst = z + (int64_t)v[i] * d;
        for (int64_t k = 0; k < d; k++) dst[k] += rows[i * d + k];
    }
    return NB_OK;
}

static nb_status scatter_backward(nb_node *n, nb_tensor *gz, nb_tensor **gx) {
    if (n->needs_grad[0] && !(gx[0] = nb_gather(gz, n->in[1]))) return nb_failure_code();
    return NB_OK;
}

static int scatter_print(const nb_node *n, char *buf, size_t size) {
    return snprintf(buf, size, "rows=%lld", (long long)NB_ATTRS(n, scatter_attrs)->rows);
}

static const nb_op_def scatter_add_def = {
    .name = "scatter_add",
    .flags = NB_OP_CONTIGUOUS,
    .shape = scatter_shape,
    .forward = scatter_forward,
    .backward = scatter_backward,
    .print_attrs = scatter_print,
};

nb_tensor *nb_scatter_add(nb_tensor *rows, nb_tensor *indices, int64_t num_rows) {
    if (!rows || !indices) return nb_fail_null("nb_scatter_add");
    if (num_rows < 1)
        return nb_fail(NB_ERR_ARG, "nb_scatter_add: num_rows %lld must be >= 1",
                       (long long)num_rows);
    return scatter_add(rows, indices, num_rows);
}
