/* Reductions: sum, mean and max over axes, argmax. Known values on small
 * tensors, gradient checks against central differences, and the errors of
 * the axis rules.
 *
 * Many tests use x = arange(24) as [2, 3, 4], so x[i, j, k] = 12 i + 4 j + k
 * and every expected value below can be checked by hand. */
#include "nb_test.h"

#define EPS 1e-3
#define TOL 1e-2

static nb_tensor *x234(void) {
    return nb_reshape(nb_arange(0, 24, 1), NB_SHAPE(2, 3, 4));
}

static void assert_shape(const nb_tensor *t, const int64_t *shape, int ndim) {
    ck_assert_msg(t != NULL, "NULL: %s", nb_error());
    ck_assert_int_eq(nb_ndim(t), ndim);
    for (int i = 0; i < ndim; i++) ck_assert_int_eq(nb_shape(t)[i], shape[i]);
}

/* ---- known values -------------------------------------------------------------------------- */
START_TEST(test_sum_over_each_axis_of_a_matrix) {
    nb_tensor *x = nb_from_array((float[]){1, 5, 3, 4, 2, 6}, NB_SHAPE(2, 3));
    NB_ASSERT_TENSOR(nb_sum(x, (int[]){0}, 1, false), ((float[]){5, 7, 9}), 3, 0);
    NB_ASSERT_TENSOR(nb_sum(x, (int[]){1}, 1, false), ((float[]){9, 12}), 2, 0);
    NB_ASSERT_TENSOR(nb_sum(x, (int[]){-1}, 1, false), ((float[]){9, 12}), 2, 0);
    NB_ASSERT_TENSOR(nb_sum(x, (int[]){0, 1}, 2, false), ((float[]){21}), 1, 0);
    assert_shape(nb_sum(x, (int[]){1}, 1, true), NB_SHAPE(2, 1));
    assert_shape(nb_sum(x, (int[]){0}, 1, true), NB_SHAPE(1, 3));
}
END_TEST

START_TEST(test_sum_over_each_axis_of_a_3d_tensor) {
    nb_tensor *x = x234();
    nb_tensor *s0 = nb_sum(x, (int[]){0}, 1, false); /* 2 (4j + k) + 12 */
    assert_shape(s0, NB_SHAPE(3, 4));
    NB_ASSERT_TENSOR(s0, ((float[]){12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34}), 12, 0);
    nb_tensor *s1 = nb_sum(x, (int[]){1}, 1, false); /* 36 i + 12 + 3 k */
    assert_shape(s1, NB_SHAPE(2, 4));
    NB_ASSERT_TENSOR(s1, ((float[]){12, 15, 18, 21, 48, 51, 54, 57}), 8, 0);
    nb_tensor *s2 = nb_sum(x, (int[]){2}, 1, true); /* 48 i + 16 j + 6 */
    assert_shape(s2, NB_SHAPE(2, 3, 1));
    NB_ASSERT_TENSOR(s2, ((float[]){6, 22, 38, 54, 70, 86}), 6, 0);
    nb_tensor *s02 = nb_sum(x, (int[]){2, 0}, 2, false); /* 32 j + 60 */
    assert_shape(s02, NB_SHAPE(3));
    NB_ASSERT_TENSOR(s02, ((float[]){60, 92, 124}), 3, 0);
}
END_TEST

START_TEST(test_no_axes_reduces_everything) {
    nb_tensor *x = x234();
    nb_tensor *all = nb_sum(x, NULL, 0, false);
    assert_shape(all, NULL, 0);
    NB_ASSERT_CLOSE(nb_item(all), 276, 0);
    nb_tensor *kept = nb_sum(x, NULL, 0, true);
    assert_shape(kept, NB_SHAPE(1, 1, 1));
    NB_ASSERT_CLOSE(nb_item(kept), 276, 0);
    NB_ASSERT_CLOSE(nb_item(nb_mean(x, NULL, 0, false)), 11.5, 1e-7);
    NB_ASSERT_CLOSE(nb_item(nb_max(x, NULL, 0, false)), 23, 0);
}
END_TEST

START_TEST(test_sum_all_and_mean_all_are_0d) {
    nb_tensor *x = nb_from_array((float[]){1, 5, 3, 4, 2, 6}, NB_SHAPE(2, 3));
    nb_tensor *s = nb_sum_all(x), *m = nb_mean_all(x);
    assert_shape(s, NULL, 0);
    assert_shape(m, NULL, 0);
    NB_ASSERT_CLOSE(nb_item(s), 21, 0);
    NB_ASSERT_CLOSE(nb_item(m), 3.5, 1e-7);
    NB_ASSERT_CLOSE(nb_item(nb_sum_all(nb_scalar(-2.5f))), -2.5, 0);
}
END_TEST

START_TEST(test_mean_over_axes) {
    nb_tensor *x = x234();
    NB_ASSERT_TENSOR(nb_mean(x, (int[]){1}, 1, false), ((float[]){4, 5, 6, 7, 16, 17, 18, 19}), 8,
                     1e-7);
    nb_tensor *m01 = nb_mean(x, (int[]){0, 1}, 2, true); /* 10 + k */
    assert_shape(m01, NB_SHAPE(1, 1, 4));
    NB_ASSERT_TENSOR(m01, ((float[]){10, 11, 12, 13}), 4, 1e-7);
    NB_ASSERT_TENSOR(nb_mean(x, (int[]){-1}, 1, false),
                     ((float[]){1.5f, 5.5f, 9.5f, 13.5f, 17.5f, 21.5f}), 6, 1e-7);
}
END_TEST

START_TEST(test_max_over_axes) {
    nb_tensor *m = nb_from_array((float[]){1, 5, 3, 4, 2, 6}, NB_SHAPE(2, 3));
    NB_ASSERT_TENSOR(nb_max(m, (int[]){0}, 1, false), ((float[]){4, 5, 6}), 3, 0);
    NB_ASSERT_TENSOR(nb_max(m, (int[]){1}, 1, false), ((float[]){5, 6}), 2, 0);
    nb_tensor *x = x234();
    NB_ASSERT_TENSOR(nb_max(x, (int[]){1}, 1, false), ((float[]){8, 9, 10, 11, 20, 21, 22, 23}), 8,
                     0);
    nb_tensor *m2 = nb_max(x, (int[]){-1}, 1, true); /* 12 i + 4 j + 3 */
    assert_shape(m2, NB_SHAPE(2, 3, 1));
    NB_ASSERT_TENSOR(m2, ((float[]){3, 7, 11, 15, 19, 23}), 6, 0);
}
END_TEST

START_TEST(test_max_of_negative_values_is_not_zero) {
    nb_tensor *x = nb_from_array((float[]){-1, -5, -3, -4, -2, -6}, NB_SHAPE(2, 3));
    NB_ASSERT_TENSOR(nb_max(x, (int[]){1}, 1, false), ((float[]){-1, -2}), 2, 0);
    NB_ASSERT_CLOSE(nb_item(nb_max(x, NULL, 0, false)), -1, 0);
}
END_TEST

START_TEST(test_reductions_read_non_contiguous_views) {
    nb_tensor *t = nb_transpose(x234(), 0, 2); /* [4, 3, 2], t[k, j, i] = 12 i + 4 j + k */
    ck_assert(!nb_is_contiguous(t));
    nb_tensor *s = nb_sum(t, (int[]){0}, 1, false); /* 48 i + 16 j + 6, as [j, i] */
    assert_shape(s, NB_SHAPE(3, 2));
    NB_ASSERT_TENSOR(s, ((float[]){6, 54, 22, 70, 38, 86}), 6, 0);
    NB_ASSERT_TENSOR(nb_max(t, (int[]){2}, 1, false),
                     ((float[]){12, 16, 20, 13, 17, 21, 14, 18, 22, 15, 19, 23}), 12, 0);
}
END_TEST

START_TEST(test_reducing_a_size_one_axis_only_drops_it) {
    nb_tensor *x = nb_from_array((float[]){1, 2, 3, 4, 5, 6}, NB_SHAPE(2, 1, 3));
    nb_tensor *s = nb_sum(x, (int[]){1}, 1, false);
    assert_shape(s, NB_SHAPE(2, 3));
    NB_ASSERT_TENSOR(s, ((float[]){1, 2, 3, 4, 5, 6}), 6, 0);
    NB_ASSERT_TENSOR(nb_max(x, (int[]){1}, 1, true), ((float[]){1, 2, 3, 4, 5, 6}), 6, 0);
    NB_ASSERT_TENSOR(nb_mean(x, (int[]){1}, 1, false), ((float[]){1, 2, 3, 4, 5, 6}), 6, 0);
}
END_TEST

START_TEST(test_sum_over_an_empty_axis_is_zero_and_mean_is_nan) {
    nb_tensor *e = nb_ones(NB_SHAPE(2, 0));
    NB_ASSERT_TENSOR(nb_sum(e, (int[]){1}, 1, false), ((float[]){0, 0}), 2, 0);
    NB_ASSERT_CLOSE(nb_item(nb_sum_all(e)), 0, 0);
    nb_tensor *m = nb_mean(e, (int[]){1}, 1, false);
    ck_assert(isnan(nb_get_flat(m, 0)) && isnan(nb_get_flat(m, 1)));
    assert_shape(nb_sum(e, (int[]){0}, 1, false), NB_SHAPE(0));
}
END_TEST

/* ---- argmax --------------------------------------------------------------------------------- */
START_TEST(test_argmax_known_values) {
    nb_tensor *m = nb_from_array((float[]){1, 5, 3, 4, 2, 6}, NB_SHAPE(2, 3));
    NB_ASSERT_TENSOR(nb_argmax(m, 1, false), ((float[]){1, 2}), 2, 0);
    NB_ASSERT_TENSOR(nb_argmax(m, 0, false), ((float[]){1, 0, 1}), 3, 0);
    NB_ASSERT_TENSOR(nb_argmax(m, -1, false), ((float[]){1, 2}), 2, 0);
    assert_shape(nb_argmax(m, 1, true), NB_SHAPE(2, 1));
    nb_tensor *a = nb_argmax(x234(), 1, false); /* the last j everywhere */
    assert_shape(a, NB_SHAPE(2, 4));
    NB_ASSERT_TENSOR(a, ((float[]){2, 2, 2, 2, 2, 2, 2, 2}), 8, 0);
    NB_ASSERT_TENSOR(nb_argmax(nb_transpose(m, 0, 1), 1, false), ((float[]){1, 0, 1}), 3, 0);
}
END_TEST

START_TEST(test_argmax_first_maximum_wins_ties) {
    NB_ASSERT_TENSOR(nb_argmax(nb_from_array((float[]){2, 7, 7}, NB_SHAPE(3)), 0, false),
                     ((float[]){1}), 1, 0);
    nb_tensor *m = nb_from_array((float[]){3, 3, 3, 0, 9, 9, 1, 1, 0}, NB_SHAPE(3, 3));
    NB_ASSERT_TENSOR(nb_argmax(m, 1, false), ((float[]){0, 1, 0}), 3, 0);
    NB_ASSERT_TENSOR(nb_argmax(m, 0, false), ((float[]){0, 1, 1}), 3, 0);
}
END_TEST

START_TEST(test_argmax_points_at_nan) {
    nb_tensor *x = nb_from_array((float[]){1, NAN, 5, 2}, NB_SHAPE(4));
    NB_ASSERT_TENSOR(nb_argmax(x, 0, false), ((float[]){1}), 1, 0);
}
END_TEST

START_TEST(test_argmax_has_no_gradient) {
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(2, 3)), true);
    nb_tensor *a = nb_argmax(x, 1, false);
    ck_assert_ptr_nonnull(a);
    ck_assert(!nb_requires_grad(a));
}
END_TEST

/* ---- gradients ------------------------------------------------------------------------------ */
/* (these shapes have axes of different sizes, where a wrong axis fails to fit;
 * tests/ops/test_broadcast.c runs every op again on square and cubic shapes) */
typedef enum { SUM, MEAN, MAX } reduce_kind;

typedef struct {
    reduce_kind kind;
    int axes[3];
    int n_axes;
    bool keepdim;
} reduce_case;

/* y * w with distinct weights, so that a gradient sent to the wrong element shows */
static nb_tensor *weighted(nb_tensor *y) {
    nb_tensor *w = nb_affine(nb_arange(0, (float)nb_numel(y), 1), 0.37f, -1.0f);
    return nb_mul(y, nb_reshape(w, nb_shape(y), nb_ndim(y)));
}

static nb_tensor *apply_reduce(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const reduce_case *c = ctx;
    nb_tensor *y = c->kind == SUM    ? nb_sum(x[0], c->axes, c->n_axes, c->keepdim)
                   : c->kind == MEAN ? nb_mean(x[0], c->axes, c->n_axes, c->keepdim)
                                     : nb_max(x[0], c->axes, c->n_axes, c->keepdim);
    return weighted(y);
}

static const reduce_case grad_cases[] = {
    {SUM, {0}, 1, false},     {SUM, {1}, 1, false},    {SUM, {2}, 1, true},
    {SUM, {0, 2}, 2, false},  {SUM, {-1, 0}, 2, true}, {SUM, {0}, 0, false},
    {MEAN, {0}, 1, false},    {MEAN, {1}, 1, true},    {MEAN, {-1}, 1, false},
    {MEAN, {1, 2}, 2, false}, {MEAN, {0}, 0, true},    {MAX, {0}, 1, false},
    {MAX, {1}, 1, false},     {MAX, {2}, 1, true},     {MAX, {0, 1}, 2, false},
    {MAX, {2, 0}, 2, true},   {MAX, {0}, 0, false},    {MAX, {0, 1, 2}, 3, true},
};

/* 24 distinct values 0.1 apart in scrambled order: every max is clear of the
 * runner-up by far more than the finite-difference step */
static nb_tensor *distinct_param(void) {
    float v[24];
    for (int i = 0; i < 24; i++) v[i] = (float)((i * 7) % 24) * 0.1f - 1.2f;
    return nb_set_requires_grad(nb_from_array(v, NB_SHAPE(2, 3, 4)), true);
}

START_TEST(test_reduction_gradients_match_finite_differences) {
    const reduce_case *c = &grad_cases[_i];
    nb_tensor *x =
        c->kind == MAX ? distinct_param() : nb_set_requires_grad(nb_randn(NB_SHAPE(2, 3, 4)), true);
    NB_ASSERT_GRADCHECK(apply_reduce, &x, 1, (void *)c, EPS, TOL);
}
END_TEST

START_TEST(test_sum_gradient_is_ones_and_mean_gradient_is_one_over_count) {
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(2, 3)), true);
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_sum(x, (int[]){1}, 1, false))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){1, 1, 1, 1, 1, 1}), 6, 0);
    nb_zero_grad(x);
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mean(x, (int[]){1}, 1, false))), NB_OK);
    float third = 1.0f / 3;
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){third, third, third, third, third, third}), 6, 1e-6);
}
END_TEST

START_TEST(test_max_splits_gradient_among_ties) {
    nb_tensor *v = nb_set_requires_grad(nb_from_array((float[]){1, 3, 3}, NB_SHAPE(3)), true);
    ck_assert_int_eq(nb_backward(nb_max(v, NULL, 0, false)), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(v), ((float[]){0, 0.5f, 0.5f}), 3, 1e-7);

    nb_tensor *m =
        nb_set_requires_grad(nb_from_array((float[]){2, 2, 1, 0, 4, 4}, NB_SHAPE(2, 3)), true);
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_max(m, (int[]){1}, 1, false))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(m), ((float[]){0.5f, 0.5f, 0, 0, 0.5f, 0.5f}), 6, 1e-7);

    nb_tensor *a = nb_set_requires_grad(nb_from_array((float[]){3, 1, 3, 3}, NB_SHAPE(2, 2)), true);
    ck_assert_int_eq(nb_backward(nb_max(a, NULL, 0, true)), NB_OK); /* [1, 1]: one element */
    float third = 1.0f / 3;
    NB_ASSERT_TENSOR(nb_grad(a), ((float[]){third, 0, third, third}), 4, 1e-6);
}
END_TEST

/* ---- errors --------------------------------------------------------------------------------- */
START_TEST(test_axis_out_of_range_is_an_error) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 3));
    ck_assert_ptr_null(nb_sum(x, (int[]){2}, 1, false));
    NB_ASSERT_ERROR_HAS("nb_sum: axis 2 is out of range for a tensor with 2 dimensions");
    ck_assert_ptr_null(nb_mean(x, (int[]){-3}, 1, true));
    NB_ASSERT_ERROR_HAS("nb_mean: axis -3 is out of range for a tensor with 2 dimensions");
    ck_assert_ptr_null(nb_max(x, (int[]){0, 7}, 2, false));
    NB_ASSERT_ERROR_HAS("nb_max: axis 7 is out of range");
    ck_assert_ptr_null(nb_argmax(x, 2, false));
    NB_ASSERT_ERROR_HAS("nb_argmax: axis 2 is out of range for a tensor with 2 dimensions");
    ck_assert_ptr_null(nb_argmax(x, -3, false));
    NB_ASSERT_ERROR_HAS("nb_argmax: axis -3 is out of range");
}
END_TEST

START_TEST(test_duplicate_axis_is_an_error) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 3, 4));
    ck_assert_ptr_null(nb_sum(x, (int[]){1, 1}, 2, false));
    NB_ASSERT_ERROR_HAS("nb_sum: axis 1 is listed twice");
    ck_assert_ptr_null(nb_mean(x, (int[]){2, -1}, 2, false)); /* -1 is axis 2 */
    NB_ASSERT_ERROR_HAS("nb_mean: axis 2 is listed twice");
    ck_assert_ptr_null(nb_max(x, (int[]){0, 2, 0}, 3, true));
    NB_ASSERT_ERROR_HAS("nb_max: axis 0 is listed twice");
}
END_TEST

START_TEST(test_bad_axis_lists_are_errors) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 3));
    ck_assert_ptr_null(nb_sum(x, NULL, 2, false));
    NB_ASSERT_ERROR_HAS("nb_sum: bad list of 2 axes");
    ck_assert_ptr_null(nb_sum(x, (int[]){0}, -1, false));
    NB_ASSERT_ERROR_HAS("nb_sum: bad list of -1 axes");
    ck_assert_ptr_null(nb_sum(x, (int[]){0, 1, 0, 1, 0, 1, 0, 1, 0}, 9, false));
    NB_ASSERT_ERROR_HAS("nb_sum: bad list of 9 axes");
}
END_TEST

START_TEST(test_max_and_argmax_over_an_empty_axis_are_errors) {
    nb_tensor *e = nb_ones(NB_SHAPE(2, 0));
    ck_assert_ptr_null(nb_max(e, (int[]){1}, 1, false));
    NB_ASSERT_ERROR_HAS("nb_max: cannot take the max over an empty axis of [2, 0]");
    ck_assert_ptr_null(nb_argmax(e, 1, false));
    NB_ASSERT_ERROR_HAS("nb_argmax: axis 1 of [2, 0] is empty");
}
END_TEST

START_TEST(test_null_input_keeps_the_first_error) {
    nb_tensor *bad = nb_reshape(nb_ones(NB_SHAPE(2, 3)), NB_SHAPE(4));
    ck_assert_ptr_null(nb_sum(bad, (int[]){0}, 1, false));
    ck_assert_ptr_null(nb_max(nb_mean_all(bad), NULL, 0, false));
    NB_ASSERT_ERROR_HAS("nb_reshape: cannot reshape [2, 3]");
}
END_TEST

static Suite *reduce_suite(void) {
    Suite *s = suite_create("reduce");
    TCase *tc = nb_tcase("values");
    tcase_add_test(tc, test_sum_over_each_axis_of_a_matrix);
    tcase_add_test(tc, test_sum_over_each_axis_of_a_3d_tensor);
    tcase_add_test(tc, test_no_axes_reduces_everything);
    tcase_add_test(tc, test_sum_all_and_mean_all_are_0d);
    tcase_add_test(tc, test_mean_over_axes);
    tcase_add_test(tc, test_max_over_axes);
    tcase_add_test(tc, test_max_of_negative_values_is_not_zero);
    tcase_add_test(tc, test_reductions_read_non_contiguous_views);
    tcase_add_test(tc, test_reducing_a_size_one_axis_only_drops_it);
    tcase_add_test(tc, test_sum_over_an_empty_axis_is_zero_and_mean_is_nan);
    suite_add_tcase(s, tc);

    tc = nb_tcase("argmax");
    tcase_add_test(tc, test_argmax_known_values);
    tcase_add_test(tc, test_argmax_first_maximum_wins_ties);
    tcase_add_test(tc, test_argmax_points_at_nan);
    tcase_add_test(tc, test_argmax_has_no_gradient);
    suite_add_tcase(s, tc);

    tc = nb_tcase("gradients");
    tcase_add_loop_test(tc, test_reduction_gradients_match_finite_differences, 0,
                        (int)(sizeof grad_cases / sizeof grad_cases[0]));
    tcase_add_test(tc, test_sum_gradient_is_ones_and_mean_gradient_is_one_over_count);
    tcase_add_test(tc, test_max_splits_gradient_among_ties);
    suite_add_tcase(s, tc);

    tc = nb_tcase("errors");
    tcase_add_test(tc, test_axis_out_of_range_is_an_error);
    tcase_add_test(tc, test_duplicate_axis_is_an_error);
    tcase_add_test(tc, test_bad_axis_lists_are_errors);
    tcase_add_test(tc, test_max_and_argmax_over_an_empty_axis_are_errors);
    tcase_add_test(tc, test_null_input_keeps_the_first_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(reduce_suite());
}
