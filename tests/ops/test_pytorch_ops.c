/* The forms PyTorch accepts and nabla does too: matmul on vectors and on N-D
 * operands with broadcast batch axes, linear on vectors, N-D inputs and
 * without a bias, concat of many tensors, the min reduction; and the
 * conventions where nabla differs from PyTorch on purpose (clip's gradient at
 * its bounds, maximum/minimum ties, division by a zero scalar).
 *
 * Forward values are checked against plain double-precision loops written
 * here, gradients against central differences. Shapes give distinct axes
 * equal sizes wherever they can, so that an op working on the wrong axis
 * cannot fit by accident. */
#include "nb_test.h"

#define EPS 1e-2
#define TOL 1e-2

static nb_tensor *param(const int64_t *shape, int ndim) {
    return nb_set_requires_grad(nb_randn(shape, ndim), true);
}

static int64_t numel_of(const int64_t *shape, int ndim) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* t has exactly this shape */
static void assert_shape(const nb_tensor *t, const int64_t *shape, int ndim) {
    ck_assert_msg(t != NULL, "result is NULL: %s", nb_error());
    ck_assert_int_eq(nb_ndim(t), ndim);
    for (int i = 0; i < ndim; i++) ck_assert_int_eq(nb_dim(t, i), shape[i]);
}

/* t's elements equal want (row-major, double) within a float32 rounding of
 * sums of n terms */
static void assert_values(const nb_tensor *t, const double *want, int64_t n) {
    ck_assert_int_eq(nb_numel(t), n);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs(nb_get_flat(t, i) - want[i]) <= 1e-5 * (1 + fabs(want[i])),
                      "element %lld = %.7g, expected %.7g", (long long)i, nb_get_flat(t, i),
                      want[i]);
}

/* t's elements in row-major order */
static float *flat(const nb_tensor *t) {
    static _Thread_local float buf[2][4096];
    static _Thread_local int next;
    float *p = buf[next++ % 2];
    ck_assert_int_le(nb_numel(t), 4096);
    for (int64_t i = 0; i < nb_numel(t); i++) p[i] = nb_get_flat(t, i);
    return p;
}

/* ---- matmul: torch.matmul's rules, as a plain double loop --------------------------
 * A vector a: [K] is the row [1, K], a vector b: [K] the column [K, 1]; the
 * batch axes (all but the last two) broadcast, a missing leading one counting
 * as 1. c is written in the row-major order of (batch..., M, N), which is also
 * the order of the result without the vectors' axes. Returns c's size. */
static int64_t ref_matmul(const nb_tensor *ta, const nb_tensor *tb, double *c) {
    int64_t A[NB_MAX_DIMS], B[NB_MAX_DIMS];
    int ra = nb_ndim(ta) == 1 ? 2 : nb_ndim(ta), rb = nb_ndim(tb) == 1 ? 2 : nb_ndim(tb);
    if (nb_ndim(ta) == 1)
        A[0] = 1, A[1] = nb_dim(ta, 0);
    else
        memcpy(A, nb_shape(ta), sizeof(int64_t) * (size_t)ra);
    if (nb_ndim(tb) == 1)
        B[0] = nb_dim(tb, 0), B[1] = 1;
    else
        memcpy(B, nb_shape(tb), sizeof(int64_t) * (size_t)rb);
    const float *a = flat(ta), *b = flat(tb);
    int nbat = (ra > rb ? ra : rb) - 2, pa = nbat - (ra - 2), pb = nbat - (rb - 2);
    int64_t M = A[ra - 2], K = A[ra - 1], N = B[rb - 1], batches = 1, bs[NB_MAX_DIMS];
    ck_assert_int_eq(K, B[rb - 2]);
    for (int i = 0; i < nbat; i++) {
        int64_t da = i >= pa ? A[i - pa] : 1, db = i >= pb ? B[i - pb] : 1;
        bs[i] = da > db ? da : db;
        batches *= bs[i];
    }
    for (int64_t t = 0; t < batches; t++) {
        int64_t idx[NB_MAX_DIMS], rest = t, oa = 0, ob = 0;
        for (int i = nbat - 1; i >= 0; i--) idx[i] = rest % bs[i], rest /= bs[i];
        for (int i = 0; i < nbat; i++) {
            if (i >= pa) oa = oa * A[i - pa] + (A[i - pa] == 1 ? 0 : idx[i]);
            if (i >= pb) ob = ob * B[i - pb] + (B[i - pb] == 1 ? 0 : idx[i]);
        }
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double sum = 0;
                for (int64_t k = 0; k < K; k++)
                    sum += (double)a[oa * M * K + m * K + k] * b[ob * K * N + k * N + n];
                c[(t * M + m) * N + n] = sum;
            }
    }
    return batches * M * N;
}

static nb_tensor *weight_like(const int64_t *shape, int ndim) {
    return ndim ? nb_randn(shape, ndim) : nb_scalar(1.7f);
}

typedef struct {
    bool ta, tb;
    nb_tensor *r;
} product_case;

static nb_tensor *weighted_matmul(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const product_case *c = ctx;
    return nb_mul(nb_matmul_t(x[0], x[1], c->ta, c->tb), c->r);
}

/* a: sa @ b: sb gives shape sc, the values of the reference, and the
 * gradients of sum(c * r) for a random r */
static void check_matmul(const int64_t *sa, int na, const int64_t *sb, int nb, const int64_t *sc,
                         int nc) {
    nb_tensor *a = param(sa, na), *b = param(sb, nb);
    nb_tensor *c = nb_matmul(a, b);
    assert_shape(c, sc, nc);
    static double want[4096];
    ck_assert_int_eq(ref_matmul(a, b, want), numel_of(sc, nc));
    assert_values(c, want, numel_of(sc, nc));
    product_case pc = {false, false, weight_like(sc, nc)};
    NB_ASSERT_GRADCHECK(weighted_matmul, ((nb_tensor *[]){a, b}), 2, &pc, EPS, TOL);
}

START_TEST(test_matmul_of_two_vectors_is_their_dot_product) {
    check_matmul(NB_SHAPE(3), NB_SHAPE(3), NULL, 0);
    nb_tensor *d = nb_matmul(nb_from_array((float[]){1, 2, 3}, NB_SHAPE(3)),
                             nb_from_array((float[]){4, -5, 6}, NB_SHAPE(3)));
    assert_shape(d, NULL, 0);
    NB_ASSERT_CLOSE(nb_item(d), 1 * 4 - 2 * 5 + 3 * 6, 0);
}
END_TEST

START_TEST(test_matmul_of_a_vector_and_a_matrix_drops_the_vector_axis) {
    /* square matrices: multiplying along the wrong axis would fit */
    check_matmul(NB_SHAPE(3), NB_SHAPE(3, 3), NB_SHAPE(3));
    check_matmul(NB_SHAPE(3, 3), NB_SHAPE(3), NB_SHAPE(3));
    check_matmul(NB_SHAPE(3), NB_SHAPE(3, 4), NB_SHAPE(4));
    check_matmul(NB_SHAPE(4, 3), NB_SHAPE(3), NB_SHAPE(4));
    /* [1, 2] @ [[1, 2], [3, 4]] = [7, 10]; [[1, 2], [3, 4]] @ [1, 2] = [5, 11] */
    nb_tensor *v = nb_from_array((float[]){1, 2}, NB_SHAPE(2));
    nb_tensor *m = nb_from_array((float[]){1, 2, 3, 4}, NB_SHAPE(2, 2));
    NB_ASSERT_TENSOR(nb_matmul(v, m), ((float[]){7, 10}), 2, 0);
    NB_ASSERT_TENSOR(nb_matmul(m, v), ((float[]){5, 11}), 2, 0);
}
END_TEST

START_TEST(test_matmul_of_a_vector_and_a_batch_broadcasts_the_vector) {
    check_matmul(NB_SHAPE(3), NB_SHAPE(3, 3, 3), NB_SHAPE(3, 3));
    check_matmul(NB_SHAPE(3, 3, 3), NB_SHAPE(3), NB_SHAPE(3, 3));
    check_matmul(NB_SHAPE(2), NB_SHAPE(2, 2, 2, 2), NB_SHAPE(2, 2, 2));
    check_matmul(NB_SHAPE(2, 2, 2, 2), NB_SHAPE(2), NB_SHAPE(2, 2, 2));
}
END_TEST

START_TEST(test_matmul_broadcasts_batch_axes_of_any_rank) {
    /* every axis of size 2: a batch axis taken for another cannot be seen by shape */
    check_matmul(NB_SHAPE(2, 2, 2, 2), NB_SHAPE(2, 2, 2, 2), NB_SHAPE(2, 2, 2, 2));
    check_matmul(NB_SHAPE(2, 2, 2, 2), NB_SHAPE(2, 2), NB_SHAPE(2, 2, 2, 2));
    check_matmul(NB_SHAPE(2, 2), NB_SHAPE(2, 2, 2, 2), NB_SHAPE(2, 2, 2, 2));
    /* each operand broadcast along a different axis */
    check_matmul(NB_SHAPE(2, 1, 3, 3), NB_SHAPE(1, 2, 3, 3), NB_SHAPE(2, 2, 3, 3));
    check_matmul(NB_SHAPE(3, 1, 3, 3), NB_SHAPE(3, 3, 3), NB_SHAPE(3, 3, 3, 3));
    check_matmul(NB_SHAPE(2, 1, 2, 3, 4), NB_SHAPE(2, 1, 4, 2), NB_SHAPE(2, 2, 2, 3, 2));
}
END_TEST

START_TEST(test_matmul_t_transposes_the_last_two_axes_of_n_d_operands) {
    nb_tensor *a = param(NB_SHAPE(2, 1, 3, 3)), *b = param(NB_SHAPE(2, 3, 3));
    for (int f = 0; f < 4; f++) {
        bool ta = f & 1, tb = f & 2;
        nb_tensor *c = nb_matmul_t(a, b, ta, tb);
        nb_tensor *ra = ta ? nb_contiguous(nb_transpose(a, -1, -2)) : a;
        nb_tensor *rb = tb ? nb_contiguous(nb_transpose(b, -1, -2)) : b;
        static double want[4096];
        assert_shape(c, NB_SHAPE(2, 2, 3, 3));
        ck_assert_int_eq(ref_matmul(ra, rb, want), 36);
        assert_values(c, want, 36);
        product_case pc = {ta, tb, nb_randn(NB_SHAPE(2, 2, 3, 3))};
        NB_ASSERT_GRADCHECK(weighted_matmul, ((nb_tensor *[]){a, b}), 2, &pc, EPS, TOL);
    }
    /* a vector has no transpose: the flag changes nothing */
    nb_tensor *v = nb_from_array((float[]){1, 2}, NB_SHAPE(2));
    nb_tensor *m = nb_from_array((float[]){1, 2, 3, 4}, NB_SHAPE(2, 2));
    NB_ASSERT_TENSOR(nb_matmul_t(v, m, true, true), ((float[]){5, 11}), 2, 0);
}
END_TEST

START_TEST(test_matmul_refusals_name_the_shapes) {
    ck_assert_ptr_null(nb_matmul(nb_ones(NB_SHAPE(2, 3, 2, 2)), nb_ones(NB_SHAPE(3, 2, 2, 2))));
    NB_ASSERT_ERROR_HAS("nb_matmul: batch axes do not broadcast: a is [2, 3, 2, 2], b is "
                        "[3, 2, 2, 2] (axis 0: 2 vs 3)");
    ck_assert_ptr_null(nb_matmul(nb_ones(NB_SHAPE(3)), nb_ones(NB_SHAPE(2))));
    NB_ASSERT_ERROR_HAS("nb_matmul: inner dimensions differ: a is [3], b is [2]");
    ck_assert_ptr_null(nb_matmul(nb_ones(NB_SHAPE(2, 3, 2)), nb_ones(NB_SHAPE(3))));
    NB_ASSERT_ERROR_HAS("nb_matmul: inner dimensions differ: a is [2, 3, 2], b is [3]");
    ck_assert_ptr_null(nb_matmul_t(nb_ones(NB_SHAPE(2, 3)), nb_ones(NB_SHAPE(3)), true, false));
    NB_ASSERT_ERROR_HAS("nb_matmul_t: inner dimensions differ: a^T is [3, 2], b is [3]");
    ck_assert_ptr_null(nb_matmul(nb_scalar(2), nb_ones(NB_SHAPE(2))));
    NB_ASSERT_ERROR_HAS("nb_matmul: operands must be 1-D or more: a is [], b is [2]");
}
END_TEST

/* ---- linear: x [..., IN] @ w [IN, OUT] + b [OUT] ------------------------------------- */
static nb_tensor *weighted_linear(nb_tensor *const *x, int n, void *ctx) {
    return nb_mul(nb_linear(x[0], x[1], n == 3 ? x[2] : NULL), ctx);
}

/* x: sx through w: [IN, OUT] (+ b: [OUT] when with_bias) gives sy, the
 * reference's values and the gradients of all inputs */
static void check_linear(const int64_t *sx, int nx, int64_t in, int64_t out, bool with_bias,
                         const int64_t *sy, int ny) {
    nb_tensor *x = param(sx, nx), *w = param(NB_SHAPE(in, out)), *b = param(NB_SHAPE(out));
    nb_tensor *y = nb_linear(x, w, with_bias ? b : NULL);
    assert_shape(y, sy, ny);
    static double want[4096];
    int64_t n = ref_matmul(x, w, want);
    ck_assert_int_eq(n, numel_of(sy, ny));
    const float *pb = flat(b);
    for (int64_t i = 0; with_bias && i < n; i++) want[i] += pb[i % out];
    assert_values(y, want, n);
    NB_ASSERT_GRADCHECK(weighted_linear, ((nb_tensor *[]){x, w, b}), with_bias ? 3 : 2,
                        nb_randn(sy, ny), EPS, TOL);
}

START_TEST(test_linear_of_a_vector_is_a_vector) {
    check_linear(NB_SHAPE(3), 3, 3, true, NB_SHAPE(3));
    check_linear(NB_SHAPE(3), 3, 4, true, NB_SHAPE(4));
    check_linear(NB_SHAPE(3), 3, 3, false, NB_SHAPE(3));
}
END_TEST

START_TEST(test_linear_of_n_d_input_maps_the_last_axis) {
    check_linear(NB_SHAPE(3, 3, 3), 3, 3, true, NB_SHAPE(3, 3, 3));
    check_linear(NB_SHAPE(2, 2, 2, 2), 2, 2, true, NB_SHAPE(2, 2, 2, 2));
    check_linear(NB_SHAPE(2, 3, 4), 4, 5, true, NB_SHAPE(2, 3, 5));
    check_linear(NB_SHAPE(3, 3, 3), 3, 3, false, NB_SHAPE(3, 3, 3));
    /* a transposed view as x: its rows are copied, the values are the same */
    nb_tensor *x = nb_randn(NB_SHAPE(2, 3, 3)), *w = nb_randn(NB_SHAPE(3, 3));
    nb_tensor *b = nb_randn(NB_SHAPE(3)), *xt = nb_transpose(x, 1, 2);
    nb_tensor *y = nb_linear(xt, w, b), *want = nb_linear(nb_contiguous(xt), w, b);
    NB_ASSERT_TENSOR(y, flat(want), 18, 0);
}
END_TEST

START_TEST(test_linear_without_a_bias_is_x_times_w) {
    check_linear(NB_SHAPE(3, 3), 3, 3, false, NB_SHAPE(3, 3));
    nb_tensor *x = nb_from_array((float[]){1, 2, 3, 4}, NB_SHAPE(2, 2));
    nb_tensor *w = nb_from_array((float[]){1, 0, -1, 2}, NB_SHAPE(2, 2));
    NB_ASSERT_TENSOR(nb_linear(x, w, NULL), ((float[]){-1, 4, -1, 8}), 4, 0);
}
END_TEST

START_TEST(test_linear_refusals_name_the_shapes) {
    ck_assert_ptr_null(nb_linear(nb_scalar(1), nb_ones(NB_SHAPE(1, 2)), NULL));
    NB_ASSERT_ERROR_HAS("nb_linear: expected x [..., IN], w [IN, OUT], b [OUT] or NULL; got x [], "
                        "w [1, 2], b NULL");
    ck_assert_ptr_null(nb_linear(nb_ones(NB_SHAPE(2, 2, 3)), nb_ones(NB_SHAPE(2, 3)), NULL));
    NB_ASSERT_ERROR_HAS("got x [2, 2, 3], w [2, 3], b NULL");
    ck_assert_ptr_null(nb_linear(nb_ones(NB_SHAPE(3)), nb_ones(NB_SHAPE(2, 3, 3)), NULL));
    NB_ASSERT_ERROR_HAS("got x [3], w [2, 3, 3], b NULL");
    ck_assert_ptr_null(
        nb_linear(nb_ones(NB_SHAPE(3)), nb_ones(NB_SHAPE(3, 3)), nb_ones(NB_SHAPE(2))));
    NB_ASSERT_ERROR_HAS("got x [3], w [3, 3], b [2]");
}
END_TEST

/* ---- concat of any number of tensors ------------------------------------------------ */
/* xs[i]: [2, len_i, 2] around axis 1 (or its square/cubic cousins): y is the
 * rows of each x in turn, for every outer index */
static void ref_concat(nb_tensor *const *xs, int n, int axis, double *y) {
    int64_t outer = 1, inner = 1, total = 0;
    for (int d = 0; d < axis; d++) outer *= nb_dim(xs[0], d);
    for (int d = axis + 1; d < nb_ndim(xs[0]); d++) inner *= nb_dim(xs[0], d);
    for (int i = 0; i < n; i++) total += nb_dim(xs[i], axis);
    for (int64_t o = 0, at = 0; o < outer; o++, at = 0)
        for (int i = 0; i < n; i++) {
            int64_t len = nb_dim(xs[i], axis);
            for (int64_t k = 0; k < len * inner; k++)
                y[(o * total + at) * inner + k] = nb_get_flat(xs[i], o * len * inner + k);
            at += len;
        }
}

static nb_tensor *weighted_concat(nb_tensor *const *x, int n, void *ctx) {
    const int *axis = ctx;
    nb_tensor *y = nb_concat(x, n, axis[0]);
    return nb_mul(y, nb_reshape(nb_arange(0, (float)nb_numel(y), 1), nb_shape(y), nb_ndim(y)));
}

/* n cubic [2, 2, 2] tensors (every third one [2, 1, 2] when uneven) along axis */
static void check_concat(int n, int axis, bool uneven) {
    nb_tensor *xs[80];
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t shape[3] = {2, 2, 2};
        if (uneven && i % 3 == 0) shape[axis] = 1;
        xs[i] = param(shape, 3);
        total += shape[axis];
    }
    nb_tensor *y = nb_concat(xs, n, axis);
    int64_t want_shape[3] = {2, 2, 2};
    want_shape[axis] = total;
    assert_shape(y, want_shape, 3);
    static double want[4096];
    ref_concat(xs, n, axis, want);
    assert_values(y, want, 4 * total);
    int ax[1] = {axis};
    NB_ASSERT_GRADCHECK(weighted_concat, xs, n, ax, EPS, TOL);
}

START_TEST(test_concat_takes_more_tensors_than_a_node_holds) {
    for (int axis = 0; axis < 3; axis++) {
        check_concat(3, axis, false);
        check_concat(9, axis, false);
        check_concat(20, axis, true);
    }
    /* more than 8 groups of 8: the groups are concatenated in groups again */
    check_concat(70, 1, true);
}
END_TEST

START_TEST(test_concat_of_many_names_the_misfit_by_its_place) {
    nb_tensor *xs[12];
    for (int i = 0; i < 12; i++) xs[i] = nb_ones(NB_SHAPE(2, 2));
    xs[10] = nb_ones(NB_SHAPE(3, 3));
    ck_assert_ptr_null(nb_concat(xs, 12, 1));
    NB_ASSERT_ERROR_HAS("nb_concat: tensor 10 has shape [3, 3], tensor 0 has [2, 2]; all axes but "
                        "1 must match");
}
END_TEST

/* ---- min: the reduction, and the conventions at ties ----------------------------------- */
START_TEST(test_min_reduces_over_axes_and_splits_the_gradient_among_ties) {
    /* [[1, 1, 3],
     *  [2, 0, 5],
     *  [4, 4, 4]]: square, so the wrong axis would give a plausible answer */
    nb_tensor *x = nb_set_requires_grad(
        nb_from_array((float[]){1, 1, 3, 2, 0, 5, 4, 4, 4}, NB_SHAPE(3, 3)), true);
    nb_tensor *rows = nb_min(x, (int[]){1}, 1, false), *cols = nb_min(x, (int[]){0}, 1, true);
    assert_shape(rows, NB_SHAPE(3));
    assert_shape(cols, NB_SHAPE(1, 3));
    NB_ASSERT_TENSOR(rows, ((float[]){1, 0, 4}), 3, 0);
    NB_ASSERT_TENSOR(cols, ((float[]){1, 0, 3}), 3, 0);
    NB_ASSERT_CLOSE(nb_item(nb_min(x, NULL, 0, false)), 0, 0);
    /* d sum(rows * [1, 2, 3]) / dx: a tie of two takes 1/2 each, of three 1/3 each */
    nb_tensor *w = nb_from_array((float[]){1, 2, 3}, NB_SHAPE(3));
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(rows, w))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){0.5f, 0.5f, 0, 0, 2, 0, 1, 1, 1}), 9, 1e-6);
    nb_zero_grad(x);
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(cols, w))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){1, 0, 3, 0, 2, 0, 0, 0, 0}), 9, 1e-6);
}
END_TEST

START_TEST(test_min_of_an_empty_axis_is_refused) {
    ck_assert_ptr_null(nb_min(nb_ones(NB_SHAPE(2, 0)), (int[]){1}, 1, false));
    NB_ASSERT_ERROR_HAS("nb_min: cannot take the min over an empty axis of [2, 0]");
}
END_TEST

/* grad of sum(f(a, b) * w) for a, b, w of three elements */
static void binary_grads(nb_tensor *(*f)(nb_tensor *, nb_tensor *), const float *a, const float *b,
                         const float *want_a, const float *want_b) {
    nb_tensor *ta = nb_set_requires_grad(nb_from_array(a, NB_SHAPE(3)), true);
    nb_tensor *tb = nb_set_requires_grad(nb_from_array(b, NB_SHAPE(3)), true);
    nb_tensor *w = nb_from_array((float[]){1, 2, 4}, NB_SHAPE(3));
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(f(ta, tb), w))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(ta), want_a, 3, 1e-6);
    NB_ASSERT_TENSOR(nb_grad(tb), want_b, 3, 1e-6);
}

START_TEST(test_maximum_and_minimum_split_a_tie_evenly) {
    /* a = [1, 2, 3], b = [1, 3, 2]: a tie, b larger, a larger; weights [1, 2, 4] */
    const float a[3] = {1, 2, 3}, b[3] = {1, 3, 2};
    binary_grads(nb_maximum, a, b, (float[]){0.5f, 0, 4}, (float[]){0.5f, 2, 0});
    binary_grads(nb_minimum, a, b, (float[]){0.5f, 2, 0}, (float[]){0.5f, 0, 4});
    /* a broadcast operand collects its halves: max([[1, 2], [1, 1]], [1]) */
    nb_tensor *m = nb_set_requires_grad(nb_from_array((float[]){1, 2, 1, 1}, NB_SHAPE(2, 2)), true);
    nb_tensor *one = nb_set_requires_grad(nb_ones(NB_SHAPE(1)), true);
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_maximum(m, one))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(m), ((float[]){0.5f, 1, 0.5f, 0.5f}), 4, 1e-6);
    NB_ASSERT_TENSOR(nb_grad(one), ((float[]){1.5f}), 1, 1e-6);
}
END_TEST

/* ---- clip at its bounds, division by zero ------------------------------------------------ */
START_TEST(test_clip_passes_the_gradient_at_both_bounds) {
    /* d clip(x, 0, 1) / dx is 1 on [0, 1], bounds included, and 0 outside */
    nb_tensor *x =
        nb_set_requires_grad(nb_from_array((float[]){-1, 0, 0.5f, 1, 2}, NB_SHAPE(5)), true);
    nb_tensor *y = nb_clip(x, 0, 1);
    NB_ASSERT_TENSOR(y, ((float[]){0, 0, 0.5f, 1, 1}), 5, 0);
    ck_assert_int_eq(nb_backward(nb_sum_all(y)), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){0, 1, 1, 1, 0}), 5, 0);
    /* low == high: the one point passes it too */
    nb_tensor *z = nb_set_requires_grad(nb_from_array((float[]){-1, 2, 3}, NB_SHAPE(3)), true);
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_clip(z, 2, 2))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(z), ((float[]){0, 1, 0}), 3, 0);
}
END_TEST

START_TEST(test_division_by_a_zero_scalar_is_refused_by_a_zero_tensor_is_ieee) {
    nb_tensor *x = nb_from_array((float[]){1, -1, 0}, NB_SHAPE(3));
    ck_assert_ptr_null(nb_div_scalar(x, 0.0f));
    NB_ASSERT_ERROR_HAS("nb_div_scalar: division by zero");
    ck_assert_ptr_null(nb_div_scalar(x, -0.0f));
    NB_ASSERT_ERROR_HAS("nb_div_scalar: division by zero");
    nb_tensor *q = nb_div(x, nb_zeros(NB_SHAPE(3)));
    ck_assert_ptr_nonnull(q);
    ck_assert(isinf(nb_get_flat(q, 0)) && nb_get_flat(q, 0) > 0);
    ck_assert(isinf(nb_get_flat(q, 1)) && nb_get_flat(q, 1) < 0);
    ck_assert(isnan(nb_get_flat(q, 2)));
}
END_TEST

int main(void) {
    Suite *s = suite_create("pytorch_ops");
    TCase *tc = nb_tcase("matmul");
    tcase_add_test(tc, test_matmul_of_two_vectors_is_their_dot_product);
    tcase_add_test(tc, test_matmul_of_a_vector_and_a_matrix_drops_the_vector_axis);
    tcase_add_test(tc, test_matmul_of_a_vector_and_a_batch_broadcasts_the_vector);
    tcase_add_test(tc, test_matmul_broadcasts_batch_axes_of_any_rank);
    tcase_add_test(tc, test_matmul_t_transposes_the_last_two_axes_of_n_d_operands);
    tcase_add_test(tc, test_matmul_refusals_name_the_shapes);
    suite_add_tcase(s, tc);

    tc = nb_tcase("linear");
    tcase_add_test(tc, test_linear_of_a_vector_is_a_vector);
    tcase_add_test(tc, test_linear_of_n_d_input_maps_the_last_axis);
    tcase_add_test(tc, test_linear_without_a_bias_is_x_times_w);
    tcase_add_test(tc, test_linear_refusals_name_the_shapes);
    suite_add_tcase(s, tc);

    tc = nb_tcase("concat");
    tcase_add_test(tc, test_concat_takes_more_tensors_than_a_node_holds);
    tcase_add_test(tc, test_concat_of_many_names_the_misfit_by_its_place);
    suite_add_tcase(s, tc);

    tc = nb_tcase("conventions");
    tcase_add_test(tc, test_min_reduces_over_axes_and_splits_the_gradient_among_ties);
    tcase_add_test(tc, test_min_of_an_empty_axis_is_refused);
    tcase_add_test(tc, test_maximum_and_minimum_split_a_tie_evenly);
    tcase_add_test(tc, test_clip_passes_the_gradient_at_both_bounds);
    tcase_add_test(tc, test_division_by_a_zero_scalar_is_refused_by_a_zero_tensor_is_ieee);
    suite_add_tcase(s, tc);
    return nb_test_run(s);
}
