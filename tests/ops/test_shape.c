/* Shape ops: reshape, flatten, transpose, permute, slice, concat, one_hot,
 * contiguous. Views share their input's storage; values are read through the
 * view's strides. Each op has a gradient check and its shape rule's errors. */
#include "nb_test.h"

#define EPS 1e-2
#define TOL 1e-2

static nb_tensor *param(const int64_t *shape, int ndim) {
    return nb_set_requires_grad(nb_randn(shape, ndim), true);
}

/* 0, 1, ..., 11 as [3, 4] */
static nb_tensor *m34(void) {
    return nb_reshape(nb_arange(0, 12, 1), NB_SHAPE(3, 4));
}

static void assert_shape(const nb_tensor *t, const int64_t *shape, int ndim) {
    ck_assert_msg(t != NULL, "NULL: %s", nb_error());
    ck_assert_int_eq(nb_ndim(t), ndim);
    for (int i = 0; i < ndim; i++) ck_assert_int_eq(nb_shape(t)[i], shape[i]);
}

/* ---- reshape and flatten -------------------------------------------------------------------- */
START_TEST(test_reshape_infers_the_minus_one_axis) {
    nb_tensor *x = nb_arange(0, 24, 1);
    assert_shape(nb_reshape(x, NB_SHAPE(2, -1, 4)), NB_SHAPE(2, 3, 4));
    assert_shape(nb_reshape(x, NB_SHAPE(-1)), NB_SHAPE(24));
    assert_shape(nb_reshape(x, NB_SHAPE(6, -1)), NB_SHAPE(6, 4));
    nb_tensor *r = nb_reshape(x, NB_SHAPE(-1, 6));
    assert_shape(r, NB_SHAPE(4, 6));
    NB_ASSERT_CLOSE(nb_get(r, (int64_t[]){2, 3}), 15, 0);
    assert_shape(nb_reshape(nb_ones(NB_SHAPE(1)), NULL, 0), NULL, 0);
    assert_shape(nb_reshape(nb_ones(NB_SHAPE(0, 3)), NB_SHAPE(-1, 3)), NB_SHAPE(0, 3));
}
END_TEST

START_TEST(test_reshape_of_contiguous_tensor_is_a_view) {
    nb_tensor *x = nb_arange(0, 6, 1);
    nb_tensor *r = nb_reshape(x, NB_SHAPE(2, 3));
    ck_assert(nb_shares_storage(x, r));
    nb_data(x)[4] = 40; /* seen through the view */
    NB_ASSERT_TENSOR(r, ((float[]){0, 1, 2, 3, 40, 5}), 6, 0);
    /* a slice along the first axis is contiguous, with an offset */
    nb_tensor *row = nb_slice(m34(), 0, 1, 2, 1);
    nb_tensor *flat = nb_reshape(row, NB_SHAPE(4));
    ck_assert(nb_shares_storage(row, flat));
    NB_ASSERT_TENSOR(flat, ((float[]){4, 5, 6, 7}), 4, 0);
}
END_TEST

START_TEST(test_reshape_of_a_transposed_view_copies) {
    nb_tensor *x = m34();
    nb_tensor *t = nb_transpose(x, 0, 1); /* [4, 3] */
    nb_tensor *r = nb_reshape(t, NB_SHAPE(2, 6));
    ck_assert(!nb_shares_storage(x, r));
    ck_assert(nb_is_contiguous(r));
    NB_ASSERT_TENSOR(r, ((float[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}), 12, 0);
}
END_TEST

START_TEST(test_flatten_keeps_the_batch_axis) {
    nb_tensor *x = nb_reshape(nb_arange(0, 24, 1), NB_SHAPE(2, 3, 4));
    nb_tensor *f = nb_flatten(x);
    assert_shape(f, NB_SHAPE(2, 12));
    ck_assert(nb_shares_storage(x, f));
    NB_ASSERT_CLOSE(nb_get(f, (int64_t[]){1, 5}), 17, 0);
    assert_shape(nb_flatten(nb_ones(NB_SHAPE(3))), NB_SHAPE(3, 1)); /* as Keras */
    assert_shape(nb_flatten(nb_ones(NB_SHAPE(5, 7))), NB_SHAPE(5, 7));
    assert_shape(nb_flatten(nb_ones(NB_SHAPE(0, 3, 4))), NB_SHAPE(0, 12));
    NB_ASSERT_TENSOR(
        nb_flatten(nb_transpose(nb_reshape(nb_arange(0, 8, 1), NB_SHAPE(2, 2, 2)), 1, 2)),
        ((float[]){0, 2, 1, 3, 4, 6, 5, 7}), 8, 0);
}
END_TEST

/* ---- transpose and permute ----------------------------------------------------------------- */
START_TEST(test_transpose_is_a_view_with_swapped_strides) {
    nb_tensor *x = m34();
    nb_tensor *t = nb_transpose(x, 0, 1);
    assert_shape(t, NB_SHAPE(4, 3));
    ck_assert(nb_shares_storage(x, t));
    ck_assert(!nb_is_contiguous(t));
    ck_assert_int_eq(nb_strides(t)[0], 1);
    ck_assert_int_eq(nb_strides(t)[1], 4);
    NB_ASSERT_TENSOR(t, ((float[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}), 12, 0);
    NB_ASSERT_TENSOR(nb_transpose(x, -1, -2), ((float[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}), 12,
                     0);
    nb_tensor *back = nb_transpose(t, 1, 0);
    ck_assert(nb_is_contiguous(back));
    NB_ASSERT_TENSOR(back, ((float[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}), 12, 0);
    /* a 1-D tensor has nothing to swap */
    nb_tensor *v = nb_ones(NB_SHAPE(3));
    ck_assert_ptr_eq(nb_transpose(v, 0, -1), v);
}
END_TEST

START_TEST(test_permute_reorders_axes) {
    /* x[i, j, k] = 6 i + 2 j + k, shape [2, 3, 2] */
    nb_tensor *x = nb_reshape(nb_arange(0, 12, 1), NB_SHAPE(2, 3, 2));
    nb_tensor *p = nb_permute(x, (int[]){2, 0, 1}, 3); /* p[k, i, j] */
    assert_shape(p, NB_SHAPE(2, 2, 3));
    ck_assert(nb_shares_storage(x, p));
    NB_ASSERT_TENSOR(p, ((float[]){0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11}), 12, 0);
    nb_tensor *q = nb_permute(x, (int[]){-1, 1, 0}, 3); /* q[k, j, i] */
    assert_shape(q, NB_SHAPE(2, 3, 2));
    NB_ASSERT_TENSOR(q, ((float[]){0, 6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11}), 12, 0);
    /* permuting back with the inverse gives the original layout */
    ck_assert(nb_is_contiguous(nb_permute(p, (int[]){1, 2, 0}, 3)));
    assert_shape(nb_permute(nb_scalar(1), NULL, 0), NULL, 0);
}
END_TEST

/* ---- slice ---------------------------------------------------------------------------------- */
START_TEST(test_slice_values) {
    nb_tensor *x = m34();
    nb_tensor *cols = nb_slice(x, 1, 1, 3, 1);
    assert_shape(cols, NB_SHAPE(3, 2));
    ck_assert(nb_shares_storage(x, cols));
    NB_ASSERT_TENSOR(cols, ((float[]){1, 2, 5, 6, 9, 10}), 6, 0);
    NB_ASSERT_TENSOR(nb_slice(x, 0, 1, 3, 1), ((float[]){4, 5, 6, 7, 8, 9, 10, 11}), 8, 0);
}
END_TEST

START_TEST(test_slice_with_step_two) {
    nb_tensor *v = nb_arange(0, 10, 1);
    NB_ASSERT_TENSOR(nb_slice(v, 0, 0, 10, 2), ((float[]){0, 2, 4, 6, 8}), 5, 0);
    NB_ASSERT_TENSOR(nb_slice(v, 0, 1, 10, 2), ((float[]){1, 3, 5, 7, 9}), 5, 0);
    NB_ASSERT_TENSOR(nb_slice(v, 0, 1, 8, 3), ((float[]){1, 4, 7}), 3, 0);
    nb_tensor *s = nb_slice(m34(), 1, 0, 4, 2);
    assert_shape(s, NB_SHAPE(3, 2));
    ck_assert_int_eq(nb_strides(s)[1], 2);
    NB_ASSERT_TENSOR(s, ((float[]){0, 2, 4, 6, 8, 10}), 6, 0);
}
END_TEST

START_TEST(test_slice_negative_indices_count_from_the_end) {
    nb_tensor *v = nb_arange(0, 10, 1);
    NB_ASSERT_TENSOR(nb_slice(v, 0, -3, 10, 1), ((float[]){7, 8, 9}), 3, 0);
    NB_ASSERT_TENSOR(nb_slice(v, 0, 0, -7, 1), ((float[]){0, 1, 2}), 3, 0);
    NB_ASSERT_TENSOR(nb_slice(v, 0, -4, -1, 2), ((float[]){6, 8}), 2, 0);
    NB_ASSERT_TENSOR(nb_slice(m34(), -1, -2, 4, 1), ((float[]){2, 3, 6, 7, 10, 11}), 6, 0);
}
END_TEST

START_TEST(test_slice_clamps_out_of_range_bounds) {
    nb_tensor *v = nb_arange(0, 5, 1);
    NB_ASSERT_TENSOR(nb_slice(v, 0, -100, 100, 1), ((float[]){0, 1, 2, 3, 4}), 5, 0);
    NB_ASSERT_TENSOR(nb_slice(v, 0, 3, 100, 1), ((float[]){3, 4}), 2, 0);
    assert_shape(nb_slice(v, 0, 7, 9, 1), NB_SHAPE(0));
    assert_shape(nb_slice(v, 0, 3, 1, 1), NB_SHAPE(0)); /* stop before start: empty */
    assert_shape(nb_slice(m34(), 1, 2, 2, 1), NB_SHAPE(3, 0));
}
END_TEST

/* columns 0 and 2 of a [4, 3] matrix: strides [3, 2] interleave the two axes,
 * a layout oneDNN cannot describe, so copies of it take a plain loop */
START_TEST(test_slice_with_a_step_can_interleave_axes) {
    nb_tensor *x = nb_reshape(nb_arange(0, 12, 1), NB_SHAPE(4, 3));
    nb_tensor *s = nb_slice(x, 1, 0, 3, 2);
    assert_shape(s, NB_SHAPE(4, 2));
    ck_assert_int_eq(nb_strides(s)[0], 3);
    ck_assert_int_eq(nb_strides(s)[1], 2);
    float want[] = {0, 2, 3, 5, 6, 8, 9, 11};
    NB_ASSERT_TENSOR(s, want, 8, 0);
    NB_ASSERT_TENSOR(nb_contiguous(s), want, 8, 0);
    NB_ASSERT_TENSOR(nb_reshape(s, NB_SHAPE(8)), want, 8, 0);
    NB_ASSERT_TENSOR(nb_mul_scalar(s, 2), ((float[]){0, 4, 6, 10, 12, 16, 18, 22}), 8, 0);
    NB_ASSERT_TENSOR(nb_sum(s, (int[]){0}, 1, false), ((float[]){18, 26}), 2, 0);
}
END_TEST

START_TEST(test_slice_of_views) {
    nb_tensor *x = m34();
    nb_tensor *t = nb_transpose(x, 0, 1); /* [4, 3] */
    nb_tensor *s = nb_slice(nb_slice(t, 0, 1, 4, 2), 1, -2, 3, 1);
    assert_shape(s, NB_SHAPE(2, 2));
    ck_assert(nb_shares_storage(x, s));
    NB_ASSERT_TENSOR(s, ((float[]){5, 9, 7, 11}), 4, 0);
}
END_TEST

/* ---- concat --------------------------------------------------------------------------------- */
START_TEST(test_concat_along_axis_0_and_1) {
    nb_tensor *a = nb_from_array((float[]){1, 2, 3, 4}, NB_SHAPE(2, 2));
    nb_tensor *b = nb_from_array((float[]){5, 6}, NB_SHAPE(2, 1));
    nb_tensor *c = nb_from_array((float[]){7, 8}, NB_SHAPE(1, 2));
    nb_tensor *ab = nb_concat((nb_tensor *[]){a, b}, 2, 1);
    assert_shape(ab, NB_SHAPE(2, 3));
    NB_ASSERT_TENSOR(ab, ((float[]){1, 2, 5, 3, 4, 6}), 6, 0);
    nb_tensor *ac = nb_concat((nb_tensor *[]){a, c}, 2, 0);
    assert_shape(ac, NB_SHAPE(3, 2));
    NB_ASSERT_TENSOR(ac, ((float[]){1, 2, 3, 4, 7, 8}), 6, 0);
    NB_ASSERT_TENSOR(nb_concat((nb_tensor *[]){c, a, c}, 3, -2),
                     ((float[]){7, 8, 1, 2, 3, 4, 7, 8}), 8, 0);
    ck_assert_ptr_eq(nb_concat(&a, 1, 0), a);
}
END_TEST

START_TEST(test_concat_of_views_and_3d) {
    nb_tensor *x = m34();
    nb_tensor *t = nb_transpose(x, 0, 1);   /* [4, 3] */
    nb_tensor *s = nb_slice(t, 0, 0, 4, 3); /* rows 0 and 3 of t: [2, 3] */
    NB_ASSERT_TENSOR(nb_concat((nb_tensor *[]){t, s}, 2, 0),
                     ((float[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, 0, 4, 8, 3, 7, 11}), 18, 0);
    nb_tensor *a = nb_reshape(nb_arange(0, 8, 1), NB_SHAPE(2, 2, 2));
    nb_tensor *b = nb_reshape(nb_arange(10, 14, 1), NB_SHAPE(2, 2, 1));
    nb_tensor *ab = nb_concat((nb_tensor *[]){a, b}, 2, 2);
    assert_shape(ab, NB_SHAPE(2, 2, 3));
    NB_ASSERT_TENSOR(ab, ((float[]){0, 1, 10, 2, 3, 11, 4, 5, 12, 6, 7, 13}), 12, 0);
}
END_TEST

/* ---- one_hot -------------------------------------------------------------------------------- */
START_TEST(test_one_hot_values) {
    nb_tensor *y = nb_one_hot(nb_from_array((float[]){2, 0, 1}, NB_SHAPE(3)), 3);
    assert_shape(y, NB_SHAPE(3, 3));
    NB_ASSERT_TENSOR(y, ((float[]){0, 0, 1, 1, 0, 0, 0, 1, 0}), 9, 0);
    nb_tensor *y2 = nb_one_hot(nb_from_array((float[]){0, 3, 1, 1}, NB_SHAPE(2, 2)), 4);
    assert_shape(y2, NB_SHAPE(2, 2, 4));
    NB_ASSERT_TENSOR(y2, ((float[]){1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0}), 16, 0);
    /* a transposed view of indices is read in its own order */
    nb_tensor *t = nb_transpose(nb_from_array((float[]){0, 1, 1, 0}, NB_SHAPE(2, 2)), 0, 1);
    NB_ASSERT_TENSOR(nb_one_hot(t, 2), ((float[]){1, 0, 0, 1, 0, 1, 1, 0}), 8, 0);
    assert_shape(nb_one_hot(nb_scalar(1), 2), NB_SHAPE(2));
}
END_TEST

START_TEST(test_one_hot_has_no_gradient) {
    nb_tensor *idx = nb_set_requires_grad(nb_from_array((float[]){1, 0}, NB_SHAPE(2)), true);
    nb_tensor *y = nb_one_hot(idx, 2);
    ck_assert_ptr_nonnull(y);
    ck_assert(!nb_requires_grad(y));
}
END_TEST

/* ---- contiguous ----------------------------------------------------------------------------- */
START_TEST(test_contiguous_returns_x_itself_when_already_contiguous) {
    nb_tensor *x = m34();
    ck_assert_ptr_eq(nb_contiguous(x), x);
    nb_tensor *row = nb_slice(x, 0, 1, 2, 1);
    ck_assert_ptr_eq(nb_contiguous(row), row);
}
END_TEST

START_TEST(test_contiguous_copies_a_strided_view) {
    nb_tensor *x = m34();
    nb_tensor *c = nb_contiguous(nb_slice(nb_transpose(x, 0, 1), 0, 1, 4, 2)); /* [2, 3] */
    assert_shape(c, NB_SHAPE(2, 3));
    ck_assert(nb_is_contiguous(c));
    ck_assert(!nb_shares_storage(x, c));
    NB_ASSERT_TENSOR(c, ((float[]){1, 5, 9, 3, 7, 11}), 6, 0);
}
END_TEST

/* ---- gradients ------------------------------------------------------------------------------ */
/* sum(y * w) with distinct weights w, so that a gradient sent to the wrong
 * element shows; y is read in row-major order whatever its strides */
static nb_tensor *weighted(nb_tensor *y) {
    nb_tensor *flat = nb_reshape(y, NB_SHAPE(-1));
    return nb_mul(flat, nb_affine(nb_arange(0, (float)nb_numel(y), 1), 0.37f, -1.0f));
}

typedef enum {
    RESHAPE,
    FLATTEN,
    TRANSPOSE,
    PERMUTE,
    SLICE_STEP_2,
    SLICE_STEP_3_INTERLEAVED,
    SLICE_NEGATIVE,
    SLICE_OF_TRANSPOSE,
    TRANSPOSE_OF_SLICE,
    OVERLAPPING_SLICES,
    CONCAT_AXIS_0,
    CONCAT_AXIS_1,
    CONTIGUOUS,
    VIEW_THROUGH_AN_OP,
    N_SHAPE_CASES
} shape_case;

/* x[0], x[1]: [2, 3, 4]; only the concat cases use x[1] */
static nb_tensor *apply_shape_op(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    nb_tensor *y = NULL;
    switch (*(const shape_case *)ctx) {
    case RESHAPE:
        y = nb_reshape(x[0], NB_SHAPE(4, -1));
        break;
    case FLATTEN:
        y = nb_flatten(x[0]);
        break;
    case TRANSPOSE:
        y = nb_transpose(x[0], 0, 2);
        break;
    case PERMUTE:
        y = nb_permute(x[0], (int[]){2, 0, 1}, 3);
        break;
    case SLICE_STEP_2:
        y = nb_slice(x[0], 2, 0, 4, 2);
        break;
    /* elements 0 and 3 of rows of 4: strides [12, 4, 3] interleave */
    case SLICE_STEP_3_INTERLEAVED:
        y = nb_slice(x[0], 2, 0, 4, 3);
        break;
    case SLICE_NEGATIVE:
        y = nb_slice(x[0], 1, -2, 3, 1);
        break;
    case SLICE_OF_TRANSPOSE:
        y = nb_slice(nb_transpose(x[0], 1, 2), 1, 1, 4, 2);
        break;
    /* the slice's backward receives a transposed (non-contiguous) gradient */
    case TRANSPOSE_OF_SLICE:
        y = nb_transpose(nb_slice(x[0], 2, 1, 3, 1), 0, 2);
        break;
    /* two views of x: their gradients add up where they overlap */
    case OVERLAPPING_SLICES:
        y = nb_mul(nb_slice(x[0], 2, 0, 3, 1), nb_slice(x[0], 2, 1, 4, 1));
        break;
    case CONCAT_AXIS_0:
        y = nb_concat((nb_tensor *[]){x[0], nb_tanh(x[1])}, 2, 0);
        break;
    case CONCAT_AXIS_1:
        y = nb_concat((nb_tensor *[]){x[1], nb_slice(x[0], 1, 0, 1, 1), x[0]}, 3, 1);
        break;
    case CONTIGUOUS:
        y = nb_contiguous(nb_transpose(x[0], 0, 1));
        break;
    /* an op flagged NB_OP_CONTIGUOUS makes the view contiguous itself */
    case VIEW_THROUGH_AN_OP:
        y = nb_tanh(nb_permute(x[0], (int[]){1, 2, 0}, 3));
        break;
    default:
        break;
    }
    return weighted(y);
}

START_TEST(test_shape_op_gradients_match_finite_differences) {
    nb_tensor *x[2] = {param(NB_SHAPE(2, 3, 4)), param(NB_SHAPE(2, 3, 4))};
    shape_case c = (shape_case)_i;
    NB_ASSERT_GRADCHECK(apply_shape_op, x, 2, &c, EPS, TOL);
}
END_TEST

START_TEST(test_slice_gradient_is_scattered_into_zeros) {
    nb_tensor *x = nb_set_requires_grad(nb_zeros(NB_SHAPE(2, 5)), true);
    nb_tensor *s = nb_slice(x, 1, -4, 5, 2); /* columns 1 and 3 */
    nb_tensor *w = nb_from_array((float[]){1, 2, 3, 4}, NB_SHAPE(2, 2));
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(s, w))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){0, 1, 0, 2, 0, 0, 3, 0, 4, 0}), 10, 0);
}
END_TEST

START_TEST(test_interleaved_slice_gradient_is_scattered_into_zeros) {
    nb_tensor *x = nb_set_requires_grad(nb_zeros(NB_SHAPE(4, 3)), true);
    nb_tensor *s = nb_slice(x, 1, 0, 3, 2); /* columns 0 and 2 */
    nb_tensor *w = nb_from_array((float[]){1, 2, 3, 4, 5, 6, 7, 8}, NB_SHAPE(4, 2));
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(s, w))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){1, 0, 2, 3, 0, 4, 5, 0, 6, 7, 0, 8}), 12, 0);
}
END_TEST

START_TEST(test_concat_gradient_is_split_back) {
    nb_tensor *a = nb_set_requires_grad(nb_zeros(NB_SHAPE(2, 1)), true);
    nb_tensor *b = nb_zeros(NB_SHAPE(2, 2)); /* no gradient wanted */
    nb_tensor *c = nb_set_requires_grad(nb_zeros(NB_SHAPE(2, 1)), true);
    nb_tensor *y = nb_concat((nb_tensor *[]){a, b, c}, 3, 1); /* [2, 4] */
    nb_tensor *w = nb_from_array((float[]){1, 2, 3, 4, 5, 6, 7, 8}, NB_SHAPE(2, 4));
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(y, w))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(a), ((float[]){1, 5}), 2, 0);
    NB_ASSERT_TENSOR(nb_grad(c), ((float[]){4, 8}), 2, 0);
    ck_assert_ptr_null(nb_grad(b));
}
END_TEST

/* ---- errors --------------------------------------------------------------------------------- */
START_TEST(test_reshape_errors) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 3));
    ck_assert_ptr_null(nb_reshape(x, NB_SHAPE(4, 2)));
    NB_ASSERT_ERROR_HAS("nb_reshape: cannot reshape [2, 3] (6 elements) to [4, 2]");
    ck_assert_ptr_null(nb_reshape(x, NB_SHAPE(4, -1)));
    NB_ASSERT_ERROR_HAS("nb_reshape: cannot reshape [2, 3] (6 elements) to [4, -1]");
    ck_assert_ptr_null(nb_reshape(x, NB_SHAPE(-1, -1)));
    NB_ASSERT_ERROR_HAS("nb_reshape: bad size -1 in shape [-1, -1] (only one -1 allowed)");
    ck_assert_ptr_null(nb_reshape(x, NB_SHAPE(-2, -3)));
    NB_ASSERT_ERROR_HAS("nb_reshape: bad size -2");
    ck_assert_ptr_null(nb_reshape(x, NB_SHAPE(1, 1, 1, 1, 1, 1, 1, 2, 3)));
    NB_ASSERT_ERROR_HAS("nb_reshape: 9 dimensions; nabla supports 0 to 8");
    ck_assert_ptr_null(nb_reshape(x, NULL, 2));
    NB_ASSERT_ERROR_HAS("nb_reshape: the shape is NULL");
}
END_TEST

START_TEST(test_flatten_errors) {
    ck_assert_ptr_null(nb_flatten(nb_scalar(1)));
    NB_ASSERT_ERROR_HAS("nb_flatten: needs a batch axis; got a 0-d tensor");
}
END_TEST

START_TEST(test_transpose_and_permute_errors) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 3));
    ck_assert_ptr_null(nb_transpose(x, 0, 2));
    NB_ASSERT_ERROR_HAS("nb_transpose: axis 2 is out of range for a tensor with 2 dimensions");
    ck_assert_ptr_null(nb_transpose(x, -3, 1));
    NB_ASSERT_ERROR_HAS("nb_transpose: axis -3 is out of range");
    ck_assert_ptr_null(nb_permute(x, (int[]){1, 1}, 2));
    NB_ASSERT_ERROR_HAS("nb_permute: axis 1 appears twice in the permutation");
    ck_assert_ptr_null(nb_permute(x, (int[]){0, -2}, 2)); /* -2 is axis 0 */
    NB_ASSERT_ERROR_HAS("nb_permute: axis 0 appears twice");
    ck_assert_ptr_null(nb_permute(x, (int[]){0}, 1));
    NB_ASSERT_ERROR_HAS("nb_permute: permutation of 1 axes for a tensor of shape [2, 3]");
    ck_assert_ptr_null(nb_permute(x, (int[]){0, 1, 2}, 3));
    NB_ASSERT_ERROR_HAS("nb_permute: permutation of 3 axes for a tensor of shape [2, 3]");
    ck_assert_ptr_null(nb_permute(x, (int[]){0, 2}, 2));
    NB_ASSERT_ERROR_HAS("nb_permute: axis 2 is out of range for a tensor with 2 dimensions");
    ck_assert_ptr_null(nb_permute(x, NULL, 2));
    NB_ASSERT_ERROR_HAS("nb_permute: the permutation is NULL");
}
END_TEST

START_TEST(test_slice_errors) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 3));
    ck_assert_ptr_null(nb_slice(x, 1, 0, 2, 0));
    NB_ASSERT_ERROR_HAS("nb_slice: step 0 must be >= 1");
    ck_assert_ptr_null(nb_slice(x, 1, 2, 0, -1));
    NB_ASSERT_ERROR_HAS("nb_slice: step -1 must be >= 1");
    ck_assert_ptr_null(nb_slice(x, 2, 0, 1, 1));
    NB_ASSERT_ERROR_HAS("nb_slice: axis 2 is out of range for a tensor with 2 dimensions");
    ck_assert_ptr_null(nb_slice(nb_scalar(1), 0, 0, 1, 1));
    NB_ASSERT_ERROR_HAS("nb_slice: cannot slice a 0-d tensor");
}
END_TEST

START_TEST(test_concat_errors) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 3));
    ck_assert_ptr_null(nb_concat((nb_tensor *[]){x, nb_ones(NB_SHAPE(3, 3))}, 2, 1));
    NB_ASSERT_ERROR_HAS("nb_concat: tensor 1 has shape [3, 3], tensor 0 has [2, 3]; all axes "
                        "but 1 must match");
    ck_assert_ptr_null(nb_concat((nb_tensor *[]){x, x, nb_ones(NB_SHAPE(2, 3, 1))}, 3, 0));
    NB_ASSERT_ERROR_HAS("nb_concat: tensor 2 has shape [2, 3, 1], tensor 0 has [2, 3]");
    ck_assert_ptr_null(nb_concat((nb_tensor *[]){x, x}, 2, 2));
    NB_ASSERT_ERROR_HAS("nb_concat: axis 2 is out of range for a tensor with 2 dimensions");
    ck_assert_ptr_null(nb_concat((nb_tensor *[]){x}, 0, 0));
    NB_ASSERT_ERROR_HAS("nb_concat: 0 tensors; 1 or more");
    ck_assert_ptr_null(nb_concat((nb_tensor *[]){nb_scalar(1), nb_scalar(2)}, 2, 0));
    NB_ASSERT_ERROR_HAS("nb_concat: cannot concatenate 0-d tensors");
}
END_TEST

START_TEST(test_one_hot_errors_name_the_bad_index) {
    ck_assert_ptr_null(nb_one_hot(nb_from_array((float[]){1, 3}, NB_SHAPE(2)), 3));
    NB_ASSERT_ERROR_HAS("nb_one_hot: index 3 at position 1 is not an integer in [0, 3)");
    ck_assert_ptr_null(nb_one_hot(nb_from_array((float[]){0, 1, 2.5f}, NB_SHAPE(3)), 3));
    NB_ASSERT_ERROR_HAS("nb_one_hot: index 2.5 at position 2 is not an integer in [0, 3)");
    ck_assert_ptr_null(nb_one_hot(nb_from_array((float[]){-1}, NB_SHAPE(1)), 3));
    NB_ASSERT_ERROR_HAS("nb_one_hot: index -1 at position 0");
    ck_assert_ptr_null(nb_one_hot(nb_from_array((float[]){0, NAN}, NB_SHAPE(2)), 3));
    NB_ASSERT_ERROR_HAS("at position 1 is not an integer");
    ck_assert_ptr_null(nb_one_hot(nb_ones(NB_SHAPE(2)), 0));
    NB_ASSERT_ERROR_HAS("nb_one_hot: num_classes 0 must be >= 1");
    ck_assert_ptr_null(nb_one_hot(nb_ones(NB_SHAPE(1, 1, 1, 1, 1, 1, 1, 1)), 2));
    NB_ASSERT_ERROR_HAS("nb_one_hot: indices of shape [1, 1, 1, 1, 1, 1, 1, 1] leave no room");
}
END_TEST

START_TEST(test_null_inputs_keep_the_first_error) {
    nb_tensor *bad = nb_reshape(nb_ones(NB_SHAPE(2, 3)), NB_SHAPE(5));
    ck_assert_ptr_null(nb_contiguous(nb_slice(nb_transpose(nb_flatten(bad), 0, 1), 0, 0, 1, 1)));
    ck_assert_ptr_null(nb_concat((nb_tensor *[]){bad, bad}, 2, 0));
    ck_assert_ptr_null(nb_one_hot(bad, 3));
    NB_ASSERT_ERROR_HAS("nb_reshape: cannot reshape [2, 3] (6 elements) to [5]");
}
END_TEST

static Suite *shape_suite(void) {
    Suite *s = suite_create("shape");
    TCase *tc = nb_tcase("reshape");
    tcase_add_test(tc, test_reshape_infers_the_minus_one_axis);
    tcase_add_test(tc, test_reshape_of_contiguous_tensor_is_a_view);
    tcase_add_test(tc, test_reshape_of_a_transposed_view_copies);
    tcase_add_test(tc, test_flatten_keeps_the_batch_axis);
    suite_add_tcase(s, tc);

    tc = nb_tcase("permute");
    tcase_add_test(tc, test_transpose_is_a_view_with_swapped_strides);
    tcase_add_test(tc, test_permute_reorders_axes);
    suite_add_tcase(s, tc);

    tc = nb_tcase("slice");
    tcase_add_test(tc, test_slice_values);
    tcase_add_test(tc, test_slice_with_step_two);
    tcase_add_test(tc, test_slice_negative_indices_count_from_the_end);
    tcase_add_test(tc, test_slice_clamps_out_of_range_bounds);
    tcase_add_test(tc, test_slice_with_a_step_can_interleave_axes);
    tcase_add_test(tc, test_slice_of_views);
    suite_add_tcase(s, tc);

    tc = nb_tcase("concat_one_hot_contiguous");
    tcase_add_test(tc, test_concat_along_axis_0_and_1);
    tcase_add_test(tc, test_concat_of_views_and_3d);
    tcase_add_test(tc, test_one_hot_values);
    tcase_add_test(tc, test_one_hot_has_no_gradient);
    tcase_add_test(tc, test_contiguous_returns_x_itself_when_already_contiguous);
    tcase_add_test(tc, test_contiguous_copies_a_strided_view);
    suite_add_tcase(s, tc);

    tc = nb_tcase("gradients");
    tcase_add_loop_test(tc, test_shape_op_gradients_match_finite_differences, 0, N_SHAPE_CASES);
    tcase_add_test(tc, test_slice_gradient_is_scattered_into_zeros);
    tcase_add_test(tc, test_interleaved_slice_gradient_is_scattered_into_zeros);
    tcase_add_test(tc, test_concat_gradient_is_split_back);
    suite_add_tcase(s, tc);

    tc = nb_tcase("errors");
    tcase_add_test(tc, test_reshape_errors);
    tcase_add_test(tc, test_flatten_errors);
    tcase_add_test(tc, test_transpose_and_permute_errors);
    tcase_add_test(tc, test_slice_errors);
    tcase_add_test(tc, test_concat_errors);
    tcase_add_test(tc, test_one_hot_errors_name_the_bad_index);
    tcase_add_test(tc, test_null_inputs_keep_the_first_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(shape_suite());
}
