/* Shape rules on user-supplied sizes that overflow 64-bit (or 32-bit)
 * arithmetic: each is an error naming the op, never undefined behaviour
 * (the sanitizer build aborts on signed overflow) and never a wrapped size
 * that then asks for a huge allocation. */
#include "nb_test.h"

#include <limits.h>

#define P40 ((int64_t)1 << 40)

static void assert_error(const nb_tensor *t, const char *needle) {
    char shape[160] = "";
    if (t) nb_shape_str(t, shape, sizeof shape);
    ck_assert_msg(t == NULL, "expected an error, got a tensor of shape %s", shape);
    NB_ASSERT_ERROR_HAS(needle);
}

START_TEST(test_matmul_whose_result_shape_overflows_is_an_error) {
    nb_tensor *a = nb_empty(NB_SHAPE(P40, 0)), *b = nb_empty(NB_SHAPE(0, P40));
    ck_assert_msg(a && b, "%s", nb_error());
    assert_error(nb_matmul(a, b), "nb_matmul");
    NB_ASSERT_ERROR_HAS("[1099511627776, 1099511627776]");
}
END_TEST

START_TEST(test_conv2d_with_int_max_padding_is_an_error) {
    nb_tensor *x = nb_ones(NB_SHAPE(1, 1, 2, 2)), *w = nb_ones(NB_SHAPE(1, 1, 1, 1));
    nb_conv2d_opts o = {.padding = NB_PAD_EXPLICIT, .pad_h = INT_MAX, .pad_w = INT_MAX};
    assert_error(nb_conv2d(x, w, NULL, &o), "nb_conv2d");
}
END_TEST

START_TEST(test_pool_padding_whose_double_overflows_int_is_an_error) {
    nb_tensor *x = nb_ones(NB_SHAPE(1, 1, 2, 2));
    int half = INT_MAX / 2 + 1; /* half * 2 does not fit an int */
    assert_error(nb_max_pool2d(x, INT_MAX, INT_MAX, 1, 1, half, half), "more than half");
    assert_error(nb_avg_pool2d(x, INT_MAX, INT_MAX, 1, 1, half, half, true), "more than half");
    /* the largest legal padding still reaches the size check, not the allocator */
    nb_tensor *y = nb_max_pool2d(x, 3, 3, 1, 1, 1, 1);
    ck_assert_msg(y && nb_dim(y, 2) == 2 && nb_dim(y, 3) == 2, "%s", nb_error());
}
END_TEST

START_TEST(test_slice_with_int64_max_step_takes_the_first_element) {
    nb_tensor *x = nb_arange(0, 5, 1);
    nb_tensor *s = nb_slice(x, 0, 0, 5, INT64_MAX);
    ck_assert_msg(s != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_ndim(s), 1);
    ck_assert_int_eq(nb_dim(s, 0), 1);
    NB_ASSERT_CLOSE(nb_get_flat(s, 0), 0, 0);
    s = nb_slice(x, 0, 3, INT64_MAX, INT64_MAX);
    ck_assert_msg(s && nb_dim(s, 0) == 1, "%s", nb_error());
    NB_ASSERT_CLOSE(nb_get_flat(s, 0), 3, 0);
    /* rows of a matrix: the row stride times the step must not overflow */
    nb_tensor *m = nb_reshape(nb_arange(0, 15, 1), NB_SHAPE(5, 3));
    s = nb_slice(m, 0, 4, 5, INT64_MAX);
    ck_assert_msg(s && nb_dim(s, 0) == 1 && nb_dim(s, 1) == 3, "%s", nb_error());
    float want[] = {12, 13, 14};
    NB_ASSERT_TENSOR(nb_contiguous(s), want, 3, 0);
    /* and the gradient flows back through the one row */
    nb_tensor *p = nb_set_requires_grad(nb_zeros(NB_SHAPE(5, 3)), true);
    ck_assert_int_eq(nb_backward(nb_sum(nb_slice(p, 0, 1, INT64_MAX, INT64_MAX), NULL, 0, false)),
                     NB_OK);
    float g[] = {0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    NB_ASSERT_TENSOR(nb_grad(p), g, 15, 0);
}
END_TEST

START_TEST(test_slice_with_huge_bounds_and_steps_has_pythons_length) {
    nb_tensor *x = nb_arange(0, 10, 1);
    int64_t steps[] = {1, 2, 3, 7, 9, 10, INT64_MAX / 2, INT64_MAX - 1, INT64_MAX};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        nb_tensor *s = nb_slice(x, 0, INT64_MIN, INT64_MAX, steps[i]);
        ck_assert_msg(s != NULL, "%s", nb_error());
        int64_t want = steps[i] >= 10 ? 1 : (10 + steps[i] - 1) / steps[i];
        ck_assert_int_eq(nb_dim(s, 0), want);
    }
}
END_TEST

START_TEST(test_reshape_to_an_empty_shape_whose_span_overflows_is_an_error) {
    nb_tensor *x = nb_empty(NB_SHAPE(0));
    assert_error(nb_reshape(x, NB_SHAPE(0, P40, P40)), "nb_reshape");
    assert_error(nb_reshape(x, NB_SHAPE(0, P40, -1, P40)), "nb_reshape");
    nb_tensor *ok = nb_reshape(x, NB_SHAPE(0, P40));
    ck_assert_msg(ok && nb_dim(ok, 1) == P40, "%s", nb_error());
}
END_TEST

START_TEST(test_concat_whose_axis_sum_overflows_is_an_error) {
    int64_t big = INT64_MAX / 4; /* each fits; five of them do not */
    nb_tensor *xs[5];
    for (int i = 0; i < 5; i++) {
        xs[i] = nb_empty(NB_SHAPE(0, big));
        ck_assert_msg(xs[i] != NULL, "%s", nb_error());
    }
    assert_error(nb_concat(xs, 5, 1), "nb_concat");
}
END_TEST

START_TEST(test_one_hot_with_int64_max_classes_is_an_error) {
    nb_tensor *idx = nb_zeros(NB_SHAPE(3));
    assert_error(nb_one_hot(idx, INT64_MAX), "nb_one_hot");
    nb_tensor *e = nb_empty(NB_SHAPE(0, P40));
    assert_error(nb_one_hot(e, P40), "nb_one_hot");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("overflow");
    TCase *tc = nb_tcase("overflow");
    tcase_add_test(tc, test_matmul_whose_result_shape_overflows_is_an_error);
    tcase_add_test(tc, test_conv2d_with_int_max_padding_is_an_error);
    tcase_add_test(tc, test_pool_padding_whose_double_overflows_int_is_an_error);
    tcase_add_test(tc, test_slice_with_int64_max_step_takes_the_first_element);
    tcase_add_test(tc, test_slice_with_huge_bounds_and_steps_has_pythons_length);
    tcase_add_test(tc, test_reshape_to_an_empty_shape_whose_span_overflows_is_an_error);
    tcase_add_test(tc, test_concat_whose_axis_sum_overflows_is_an_error);
    tcase_add_test(tc, test_one_hot_with_int64_max_classes_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(suite());
}
