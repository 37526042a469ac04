/* nb_matmul, nb_matmul_t and nb_linear: values worked out by hand, transposed
 * and batched forms, gradient checks, and every shape-rule error message. */
#include "nb_test.h"

#define EPS 1e-2
#define TOL 1e-2

static nb_tensor *param(const int64_t *shape, int ndim) {
    return nb_set_requires_grad(nb_randn(shape, ndim), true);
}

/* a = [[1, 2, 3],     b = [[ 7,  8],
 *      [4, 5, 6]]          [ 9, 10],
 *                          [11, 12]] */
static nb_tensor *a23(void) {
    return nb_from_array((float[]){1, 2, 3, 4, 5, 6}, NB_SHAPE(2, 3));
}

static nb_tensor *b32(void) {
    return nb_from_array((float[]){7, 8, 9, 10, 11, 12}, NB_SHAPE(3, 2));
}

/* ---- known values ------------------------------------------------------------------ */
START_TEST(test_matmul_2x3_by_3x2_known_values) {
    /* [1*7 + 2*9 + 3*11, 1*8 + 2*10 + 3*12; 4*7 + 5*9 + 6*11, 4*8 + 5*10 + 6*12] */
    nb_tensor *c = nb_matmul(a23(), b32());
    ck_assert_int_eq(nb_ndim(c), 2);
    ck_assert_int_eq(nb_dim(c, 0), 2);
    ck_assert_int_eq(nb_dim(c, 1), 2);
    NB_ASSERT_TENSOR(c, ((float[]){58, 64, 139, 154}), 4, 0);
}
END_TEST

START_TEST(test_matmul_t_transposes_each_operand) {
    nb_tensor *a = a23(), *b = b32();
    /* a^T a: [3, 2] @ [2, 3] -> [3, 3] */
    NB_ASSERT_TENSOR(nb_matmul_t(a, a, true, false),
                     ((float[]){17, 22, 27, 22, 29, 36, 27, 36, 45}), 9, 0);
    /* a a^T: [2, 3] @ [3, 2] -> [2, 2] */
    NB_ASSERT_TENSOR(nb_matmul_t(a, a, false, true), ((float[]){14, 32, 32, 77}), 4, 0);
    /* b^T a^T = (a b)^T: [2, 3] @ [3, 2] -> [2, 2] */
    NB_ASSERT_TENSOR(nb_matmul_t(b, a, true, true), ((float[]){58, 139, 64, 154}), 4, 0);
    /* no flags is nb_matmul */
    NB_ASSERT_TENSOR(nb_matmul_t(a, b, false, false), ((float[]){58, 64, 139, 154}), 4, 0);
}
END_TEST

START_TEST(test_matmul_of_transposed_views_makes_no_copy) {
    nb_tensor *a = nb_set_requires_grad(a23(), true), *b = nb_set_requires_grad(b32(), true);
    nb_tensor *bt = nb_transpose(b, 0, 1), *at = nb_transpose(a, 0, 1);
    ck_assert(!nb_is_contiguous(bt));
    int64_t before = nb_tape_size();
    nb_tensor *c = nb_matmul(bt, at); /* b^T a^T = (a b)^T */
    NB_ASSERT_TENSOR(c, ((float[]){58, 139, 64, 154}), 4, 0);
    /* one node, the matmul: no nb_contiguous was recorded for either view */
    ck_assert_int_eq(nb_tape_size() - before, 1);
}
END_TEST

START_TEST(test_matmul_copies_views_that_are_not_plain) {
    /* every other column of [2, 6] is a [2, 3] slice with column stride 2 */
    nb_tensor *wide = nb_from_array((float[]){1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0}, NB_SHAPE(2, 6));
    nb_tensor *a = nb_slice(wide, 1, 0, 6, 2);
    NB_ASSERT_TENSOR(nb_matmul(a, b32()), ((float[]){58, 64, 139, 154}), 4, 0);
}
END_TEST

START_TEST(test_batched_matmul_known_values) {
    /* batch 0: a23 @ b32; batch 1 picks b's row 0, and row 2 twice */
    nb_tensor *a = nb_from_array((float[]){1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 0, 2}, NB_SHAPE(2, 2, 3));
    nb_tensor *b =
        nb_from_array((float[]){7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6}, NB_SHAPE(2, 3, 2));
    nb_tensor *c = nb_matmul(a, b);
    ck_assert_int_eq(nb_ndim(c), 3);
    NB_ASSERT_TENSOR(c, ((float[]){58, 64, 139, 154, 1, 2, 10, 12}), 8, 0);
    /* transposing both swaps the last two axes of each batch */
    nb_tensor *ct = nb_matmul_t(b, a, true, true); /* b^T a^T = (a b)^T per batch */
    NB_ASSERT_TENSOR(ct, ((float[]){58, 139, 64, 154, 1, 10, 2, 12}), 8, 0);
}
END_TEST

START_TEST(test_batch_of_one_broadcasts) {
    nb_tensor *a = nb_randn(NB_SHAPE(4, 2, 3)), *b = nb_randn(NB_SHAPE(3, 5));
    nb_tensor *b1 = nb_reshape(b, NB_SHAPE(1, 3, 5));
    nb_tensor *c2 = nb_matmul(a, b);  /* 2-D b: batch 1 */
    nb_tensor *c1 = nb_matmul(a, b1); /* [1, 3, 5] */
    ck_assert_int_eq(nb_dim(c2, 0), 4);
    ck_assert_int_eq(nb_dim(c1, 0), 4);
    for (int64_t i = 0; i < 4; i++) {
        /* each batch equals the 2-D product of its slice */
        nb_tensor *ai = nb_reshape(nb_slice(a, 0, i, i + 1, 1), NB_SHAPE(2, 3));
        nb_tensor *ci = nb_matmul(ai, b);
        for (int64_t k = 0; k < 10; k++) {
            NB_ASSERT_CLOSE(nb_get_flat(c2, i * 10 + k), nb_get_flat(ci, k), 1e-6);
            NB_ASSERT_CLOSE(nb_get_flat(c1, i * 10 + k), nb_get_flat(ci, k), 1e-6);
        }
    }
    /* and on the left: [1, 2, 3] @ [4, 3, 5] */
    nb_tensor *l = nb_matmul(nb_reshape(a23(), NB_SHAPE(1, 2, 3)), nb_randn(NB_SHAPE(4, 3, 5)));
    ck_assert_int_eq(nb_dim(l, 0), 4);
}
END_TEST

START_TEST(test_empty_inner_dimension_gives_zeros) {
    /* a sum of no terms: [2, 0] @ [0, 3] is a [2, 3] of zeros */
    nb_tensor *c = nb_matmul(nb_ones(NB_SHAPE(2, 0)), nb_ones(NB_SHAPE(0, 3)));
    NB_ASSERT_TENSOR(c, ((float[]){0, 0, 0, 0, 0, 0}), 6, 0);
    nb_tensor *b = nb_from_array((float[]){1, 2, 3}, NB_SHAPE(3));
    nb_tensor *y = nb_linear(nb_ones(NB_SHAPE(2, 0)), nb_ones(NB_SHAPE(0, 3)), b);
    NB_ASSERT_TENSOR(y, ((float[]){1, 2, 3, 1, 2, 3}), 6, 0);
}
END_TEST

START_TEST(test_linear_is_matmul_plus_bias) {
    /* x @ w = [[1*1 + 2*2, 1*0 + 2*1, 1*-1 + 2*0], [3 + 8, 0 + 4, -3 + 0]] = [[5, 2, -1], [11, 4,
     * -3]] */
    nb_tensor *x = nb_from_array((float[]){1, 2, 3, 4}, NB_SHAPE(2, 2));
    nb_tensor *w = nb_from_array((float[]){1, 0, -1, 2, 1, 0}, NB_SHAPE(2, 3));
    nb_tensor *b = nb_from_array((float[]){0.5f, -0.5f, 1}, NB_SHAPE(3));
    const float want[] = {5.5f, 1.5f, 0, 11.5f, 3.5f, -2};
    NB_ASSERT_TENSOR(nb_linear(x, w, b), want, 6, 1e-6);
    NB_ASSERT_TENSOR(nb_add(nb_matmul(x, w), b), want, 6, 1e-6);
}
END_TEST

START_TEST(test_linear_takes_a_transposed_weight) {
    /* PyTorch keeps w as [OUT, IN]; its transpose view is the [IN, OUT] weight */
    nb_tensor *x = nb_randn(NB_SHAPE(5, 4)), *w_out_in = nb_randn(NB_SHAPE(3, 4));
    nb_tensor *b = nb_randn(NB_SHAPE(3));
    nb_tensor *y = nb_linear(x, nb_transpose(w_out_in, 0, 1), b);
    nb_tensor *want = nb_add(nb_matmul_t(x, w_out_in, false, true), b);
    ck_assert_ptr_nonnull(y);
    for (int64_t i = 0; i < 15; i++) NB_ASSERT_CLOSE(nb_get_flat(y, i), nb_get_flat(want, i), 1e-5);
}
END_TEST

/* ---- gradients: sum(op(...) * r) with a fixed random r, so that every output
 * element weighs differently in the checked scalar ------------------------------------ */
typedef struct {
    bool ta, tb;
    nb_tensor *r;
} matmul_case;

static nb_tensor *weighted_matmul(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const matmul_case *c = ctx;
    return nb_mul(nb_matmul_t(x[0], x[1], c->ta, c->tb), c->r);
}

static nb_tensor *weighted_linear(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    return nb_mul(nb_linear(x[0], x[1], x[2]), ctx);
}

/* gradcheck of sum(op(a) @ op(b) * r) for a: sa, b: sb, r: sc (the product's shape) */
static void check_matmul(const int64_t *sa, int na, const int64_t *sb, int nb, bool ta, bool tb,
                         const int64_t *sc, int nc) {
    nb_tensor *a = param(sa, na), *b = param(sb, nb);
    matmul_case c = {ta, tb, nb_randn(sc, nc)};
    NB_ASSERT_GRADCHECK(weighted_matmul, ((nb_tensor *[]){a, b}), 2, &c, EPS, TOL);
}

START_TEST(test_matmul_gradients_for_every_transpose) {
    /* op(a): [3, 4] @ op(b): [4, 5] -> [3, 5] */
    check_matmul(NB_SHAPE(3, 4), NB_SHAPE(4, 5), false, false, NB_SHAPE(3, 5));
    check_matmul(NB_SHAPE(4, 3), NB_SHAPE(4, 5), true, false, NB_SHAPE(3, 5));
    check_matmul(NB_SHAPE(3, 4), NB_SHAPE(5, 4), false, true, NB_SHAPE(3, 5));
    check_matmul(NB_SHAPE(4, 3), NB_SHAPE(5, 4), true, true, NB_SHAPE(3, 5));
}
END_TEST

START_TEST(test_batched_matmul_gradients) {
    /* op(a): [2, 3, 4] @ op(b): [2, 4, 5] -> [2, 3, 5] */
    check_matmul(NB_SHAPE(2, 3, 4), NB_SHAPE(2, 4, 5), false, false, NB_SHAPE(2, 3, 5));
    check_matmul(NB_SHAPE(2, 4, 3), NB_SHAPE(2, 4, 5), true, false, NB_SHAPE(2, 3, 5));
    check_matmul(NB_SHAPE(2, 3, 4), NB_SHAPE(2, 5, 4), false, true, NB_SHAPE(2, 3, 5));
    check_matmul(NB_SHAPE(2, 4, 3), NB_SHAPE(2, 5, 4), true, true, NB_SHAPE(2, 3, 5));
}
END_TEST

START_TEST(test_broadcast_batch_gradients_are_summed_over_the_batch) {
    /* b of batch 1, b 2-D, a of batch 1, a 2-D; with and without transposes */
    check_matmul(NB_SHAPE(3, 2, 4), NB_SHAPE(1, 4, 5), false, false, NB_SHAPE(3, 2, 5));
    check_matmul(NB_SHAPE(3, 2, 4), NB_SHAPE(4, 5), false, false, NB_SHAPE(3, 2, 5));
    check_matmul(NB_SHAPE(1, 2, 4), NB_SHAPE(3, 4, 5), false, false, NB_SHAPE(3, 2, 5));
    check_matmul(NB_SHAPE(2, 4), NB_SHAPE(3, 4, 5), false, false, NB_SHAPE(3, 2, 5));
    check_matmul(NB_SHAPE(3, 4, 2), NB_SHAPE(5, 4), true, true, NB_SHAPE(3, 2, 5));
    check_matmul(NB_SHAPE(1, 4, 2), NB_SHAPE(3, 5, 4), true, true, NB_SHAPE(3, 2, 5));
}
END_TEST

START_TEST(test_linear_gradients_for_all_three_inputs) {
    nb_tensor *x = param(NB_SHAPE(5, 4)), *w = param(NB_SHAPE(4, 3)), *b = param(NB_SHAPE(3));
    NB_ASSERT_GRADCHECK(weighted_linear, ((nb_tensor *[]){x, w, b}), 3, nb_randn(NB_SHAPE(5, 3)),
                        EPS, TOL);
}
END_TEST

START_TEST(test_linear_bias_gradient_is_column_sums) {
    nb_tensor *x = param(NB_SHAPE(3, 2)), *w = param(NB_SHAPE(2, 2));
    nb_tensor *b = nb_set_requires_grad(nb_zeros(NB_SHAPE(2)), true);
    nb_tensor *r = nb_from_array((float[]){1, 2, 3, 4, 5, 6}, NB_SHAPE(3, 2));
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(nb_linear(x, w, b), r))), NB_OK);
    /* d/db sum(y * r) = r summed over rows: [1 + 3 + 5, 2 + 4 + 6] */
    NB_ASSERT_TENSOR(nb_grad(b), ((float[]){9, 12}), 2, 1e-6);
}
END_TEST

/* ---- errors --------------------------------------------------------------------------- */
START_TEST(test_matmul_inner_dimension_error) {
    ck_assert_ptr_null(nb_matmul(nb_ones(NB_SHAPE(32, 784)), nb_ones(NB_SHAPE(100, 10))));
    ck_assert_int_eq(nb_error_code(), NB_ERR_SHAPE);
    NB_ASSERT_ERROR_HAS("nb_matmul: inner dimensions differ: a is [32, 784], b is [100, 10]");
}
END_TEST

START_TEST(test_matmul_t_error_marks_the_transposed_operand) {
    /* a is [3, 4]; transposed it is [4, 3] and meets b's 5 rows */
    ck_assert_ptr_null(nb_matmul_t(nb_ones(NB_SHAPE(3, 4)), nb_ones(NB_SHAPE(5, 2)), true, false));
    NB_ASSERT_ERROR_HAS("nb_matmul_t: inner dimensions differ: a^T is [4, 3], b is [5, 2]");
    ck_assert_ptr_null(nb_matmul_t(nb_ones(NB_SHAPE(3, 4)), nb_ones(NB_SHAPE(2, 5)), false, true));
    NB_ASSERT_ERROR_HAS("nb_matmul_t: inner dimensions differ: a is [3, 4], b^T is [5, 2]");
}
END_TEST

START_TEST(test_matmul_rank_errors) {
    nb_tensor *s = nb_scalar(2.0f);
    ck_assert_ptr_null(nb_matmul(s, nb_ones(NB_SHAPE(3, 2))));
    NB_ASSERT_ERROR_HAS("nb_matmul: operands must be 1-D or more: a is [], b is [3, 2]");
    ck_assert_ptr_null(nb_matmul(nb_ones(NB_SHAPE(3)), s));
    NB_ASSERT_ERROR_HAS("nb_matmul: operands must be 1-D or more: a is [3], b is []");
}
END_TEST

START_TEST(test_matmul_batch_error) {
    ck_assert_ptr_null(nb_matmul(nb_ones(NB_SHAPE(2, 3, 4)), nb_ones(NB_SHAPE(3, 4, 5))));
    NB_ASSERT_ERROR_HAS("nb_matmul: batch axes do not broadcast: a is [2, 3, 4], b is [3, 4, 5] "
                        "(axis 0: 2 vs 3)");
}
END_TEST

START_TEST(test_linear_shape_errors_name_all_three_shapes) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 2)), *w = nb_ones(NB_SHAPE(2, 3));
    /* b has the wrong length */
    ck_assert_ptr_null(nb_linear(x, w, nb_ones(NB_SHAPE(2))));
    NB_ASSERT_ERROR_HAS("nb_linear: expected x [..., IN], w [IN, OUT], b [OUT] or NULL; got "
                        "x [2, 2], w [2, 3], b [2]");
    /* x and w disagree on IN */
    ck_assert_ptr_null(nb_linear(nb_ones(NB_SHAPE(2, 4)), w, nb_ones(NB_SHAPE(3))));
    NB_ASSERT_ERROR_HAS("got x [2, 4], w [2, 3], b [3]");
    /* b is not a vector */
    ck_assert_ptr_null(nb_linear(x, w, nb_ones(NB_SHAPE(1, 3))));
    NB_ASSERT_ERROR_HAS("got x [2, 2], w [2, 3], b [1, 3]");
}
END_TEST

START_TEST(test_linear_with_a_null_bias_is_the_product_alone) {
    nb_tensor *y = nb_linear(a23(), b32(), NULL);
    NB_ASSERT_TENSOR(y, ((float[]){58, 64, 139, 154}), 4, 0);
    ck_assert_ptr_null(nb_linear(nb_ones(NB_SHAPE(2, 2)), nb_ones(NB_SHAPE(3, 3)), NULL));
    NB_ASSERT_ERROR_HAS("got x [2, 2], w [3, 3], b NULL");
}
END_TEST

START_TEST(test_matmul_keeps_the_first_error_of_a_chain) {
    nb_tensor *bad = nb_matmul(nb_ones(NB_SHAPE(2, 3)), nb_ones(NB_SHAPE(2, 3)));
    ck_assert_ptr_null(nb_matmul(bad, nb_ones(NB_SHAPE(3, 3))));
    ck_assert_ptr_null(nb_linear(bad, nb_ones(NB_SHAPE(3, 3)), nb_ones(NB_SHAPE(3))));
    NB_ASSERT_ERROR_HAS("nb_matmul: inner dimensions differ: a is [2, 3], b is [2, 3]");
}
END_TEST

int main(void) {
    Suite *s = suite_create("matmul");
    TCase *tc = nb_tcase("values");
    tcase_add_test(tc, test_matmul_2x3_by_3x2_known_values);
    tcase_add_test(tc, test_matmul_t_transposes_each_operand);
    tcase_add_test(tc, test_matmul_of_transposed_views_makes_no_copy);
    tcase_add_test(tc, test_matmul_copies_views_that_are_not_plain);
    tcase_add_test(tc, test_batched_matmul_known_values);
    tcase_add_test(tc, test_batch_of_one_broadcasts);
    tcase_add_test(tc, test_empty_inner_dimension_gives_zeros);
    tcase_add_test(tc, test_linear_is_matmul_plus_bias);
    tcase_add_test(tc, test_linear_takes_a_transposed_weight);
    suite_add_tcase(s, tc);

    tc = nb_tcase("gradients");
    tcase_add_test(tc, test_matmul_gradients_for_every_transpose);
    tcase_add_test(tc, test_batched_matmul_gradients);
    tcase_add_test(tc, test_broadcast_batch_gradients_are_summed_over_the_batch);
    tcase_add_test(tc, test_linear_gradients_for_all_three_inputs);
    tcase_add_test(tc, test_linear_bias_gradient_is_column_sums);
    suite_add_tcase(s, tc);

    tc = nb_tcase("errors");
    tcase_add_test(tc, test_matmul_inner_dimension_error);
    tcase_add_test(tc, test_matmul_t_error_marks_the_transposed_operand);
    tcase_add_test(tc, test_matmul_rank_errors);
    tcase_add_test(tc, test_matmul_batch_error);
    tcase_add_test(tc, test_linear_shape_errors_name_all_three_shapes);
    tcase_add_test(tc, test_linear_with_a_null_bias_is_the_product_alone);
    tcase_add_test(tc, test_matmul_keeps_the_first_error_of_a_chain);
    suite_add_tcase(s, tc);
    return nb_test_run(s);
}
