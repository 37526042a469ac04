/* nb_softmax and nb_log_softmax: known values, stability for huge logits,
 * every axis (negative ones too), gradient checks, and the axis error. */
#include "nb_test.h"

#define EPS 1e-2
#define TOL 1e-2

static nb_tensor *param(const int64_t *shape, int ndim) {
    return nb_set_requires_grad(nb_randn(shape, ndim), true);
}

/* ---- values ------------------------------------------------------------------------- */
START_TEST(test_softmax_sums_to_one_with_known_values) {
    /* e^0.1 : e^0 : e^-0.1 = 1.1051709 : 1 : 0.9048374, over their sum 3.0100083 */
    nb_tensor *y = nb_softmax(nb_from_array((float[]){3.1f, 3.0f, 2.9f}, NB_SHAPE(3)), 0);
    NB_ASSERT_TENSOR(y, ((float[]){0.3671654f, 0.3322249f, 0.3006096f}), 3, 1e-6);
    NB_ASSERT_CLOSE(nb_item(nb_sum_all(y)), 1.0, 1e-6);
}
END_TEST

START_TEST(test_softmax_of_each_row_sums_to_one) {
    nb_tensor *x = nb_randn(NB_SHAPE(4, 7));
    nb_tensor *rows = nb_sum(nb_softmax(x, 1), (int[]){1}, 1, false);
    NB_ASSERT_TENSOR(rows, ((float[]){1, 1, 1, 1}), 4, 1e-6);
    nb_tensor *cols = nb_sum(nb_softmax(x, 0), (int[]){0}, 1, false);
    NB_ASSERT_TENSOR(cols, ((float[]){1, 1, 1, 1, 1, 1, 1}), 7, 1e-6);
}
END_TEST

START_TEST(test_log_softmax_equals_log_of_softmax) {
    nb_tensor *x = nb_randn(NB_SHAPE(3, 4, 5));
    for (int axis = -3; axis < 3; axis++) {
        nb_tensor *a = nb_log_softmax(x, axis), *b = nb_log(nb_softmax(x, axis));
        ck_assert_msg(a && b, "axis %d: %s", axis, nb_error());
        for (int64_t i = 0; i < 60; i++)
            NB_ASSERT_CLOSE(nb_get_flat(a, i), nb_get_flat(b, i), 1e-5);
    }
}
END_TEST

START_TEST(test_softmax_is_stable_for_large_logits) {
    /* row 0: one logit dominates; row 1: all equal and hugely negative */
    nb_tensor *x = nb_from_array((float[]){1e4f, -1e4f, 0, -1e4f, -1e4f, -1e4f}, NB_SHAPE(2, 3));
    nb_tensor *y = nb_softmax(x, 1), *ly = nb_log_softmax(x, 1);
    for (int64_t i = 0; i < 6; i++) {
        ck_assert(isfinite(nb_get_flat(y, i)));
        ck_assert(isfinite(nb_get_flat(ly, i)));
    }
    const float third = 1.0f / 3, log_third = -1.0986123f;
    NB_ASSERT_TENSOR(y, ((float[]){1, 0, 0, third, third, third}), 6, 1e-6);
    /* oneDNN's vectorized log is good to ~1.5e-6 absolute */
    NB_ASSERT_TENSOR(ly, ((float[]){0, -2e4f, -1e4f, log_third, log_third, log_third}), 6, 1e-5);
}
END_TEST

START_TEST(test_softmax_is_stable_for_large_logits_along_axis_0) {
    nb_tensor *x = nb_from_array((float[]){1e4f, -1e4f, -1e4f, -1e4f}, NB_SHAPE(2, 2));
    NB_ASSERT_TENSOR(nb_softmax(x, 0), ((float[]){1, 0.5f, 0, 0.5f}), 4, 1e-6);
    NB_ASSERT_TENSOR(nb_log_softmax(x, 0), ((float[]){0, -0.6931472f, -2e4f, -0.6931472f}), 4,
                     1e-5);
}
END_TEST

START_TEST(test_negative_axis_counts_from_the_end) {
    nb_tensor *x = nb_randn(NB_SHAPE(2, 3, 4));
    for (int axis = 0; axis < 3; axis++) {
        nb_tensor *a = nb_softmax(x, axis), *b = nb_softmax(x, axis - 3);
        for (int64_t i = 0; i < 24; i++) ck_assert(nb_get_flat(a, i) == nb_get_flat(b, i));
    }
}
END_TEST

START_TEST(test_softmax_of_a_transposed_view) {
    /* softmax over the columns of x is softmax over the rows of x^T */
    nb_tensor *x = nb_randn(NB_SHAPE(3, 5));
    nb_tensor *a = nb_softmax(nb_transpose(x, 0, 1), 1);
    nb_tensor *b = nb_transpose(nb_softmax(x, 0), 0, 1);
    for (int64_t i = 0; i < 15; i++) NB_ASSERT_CLOSE(nb_get_flat(a, i), nb_get_flat(b, i), 1e-6);
}
END_TEST

START_TEST(test_softmax_gradient_known_values) {
    /* y = softmax([0, ln 3]) = [1/4, 3/4]; L = y0: dL/dx = y0 * (e0 - y) = [3/16, -3/16] */
    nb_tensor *x = nb_set_requires_grad(nb_from_array((float[]){0, logf(3)}, NB_SHAPE(2)), true);
    nb_tensor *pick = nb_from_array((float[]){1, 0}, NB_SHAPE(2));
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(nb_softmax(x, 0), pick))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){0.1875f, -0.1875f}), 2, 1e-6);
    /* L = log_softmax(x)_0: dL/dx = e0 - softmax(x) = [3/4, -3/4] */
    nb_zero_grad(x);
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(nb_log_softmax(x, 0), pick))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){0.75f, -0.75f}), 2, 1e-6);
}
END_TEST

/* ---- gradients: sum(op(x) * r) with a fixed random r (the plain sum of a
 * softmax is constant along its axis, so its gradient would be zero) ---------------- */
typedef struct {
    int axis;
    bool log;
    nb_tensor *r;
} softmax_case;

static nb_tensor *weighted_softmax(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const softmax_case *c = ctx;
    nb_tensor *y = c->log ? nb_log_softmax(x[0], c->axis) : nb_softmax(x[0], c->axis);
    return nb_mul(y, c->r);
}

static void check_every_axis(bool log, const int64_t *shape, int ndim) {
    for (int axis = -1; axis < ndim; axis++) {
        nb_tensor *x = param(shape, ndim);
        softmax_case c = {axis, log, nb_randn(shape, ndim)};
        nb_gradcheck_result r;
        nb_status s = nb_gradcheck(weighted_softmax, &x, 1, &c, EPS, TOL, &r);
        ck_assert_msg(s == NB_OK, "%s axis %d of %d-D: %s", log ? "log_softmax" : "softmax", axis,
                      ndim, nb_error());
    }
}

START_TEST(test_softmax_gradients_along_every_axis) {
    check_every_axis(false, NB_SHAPE(3, 4));
    check_every_axis(false, NB_SHAPE(2, 3, 4));
}
END_TEST

START_TEST(test_log_softmax_gradients_along_every_axis) {
    check_every_axis(true, NB_SHAPE(3, 4));
    check_every_axis(true, NB_SHAPE(2, 3, 4));
}
END_TEST

START_TEST(test_softmax_gradient_of_a_transposed_view) {
    nb_tensor *x = param(NB_SHAPE(3, 4));
    softmax_case c = {1, false, nb_randn(NB_SHAPE(4, 3))};
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(nb_softmax(nb_transpose(x, 0, 1), 1), c.r))),
                     NB_OK);
    /* the same as the gradient of softmax along axis 0 with r transposed back */
    nb_tensor *g = nb_clone(nb_grad(x));
    nb_zero_grad(x);
    nb_tensor *rt = nb_transpose(c.r, 0, 1);
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(nb_softmax(x, 0), rt))), NB_OK);
    for (int64_t i = 0; i < 12; i++)
        NB_ASSERT_CLOSE(nb_get_flat(g, i), nb_get_flat(nb_grad(x), i), 1e-6);
}
END_TEST

/* ---- errors --------------------------------------------------------------------------- */
START_TEST(test_axis_out_of_range_error) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 3));
    ck_assert_ptr_null(nb_softmax(x, 2));
    ck_assert_int_eq(nb_error_code(), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_softmax: axis 2 is out of range for a tensor with 2 dimensions");
    ck_assert_ptr_null(nb_log_softmax(x, -3));
    NB_ASSERT_ERROR_HAS("nb_log_softmax: axis -3 is out of range for a tensor with 2 dimensions");
}
END_TEST

START_TEST(test_softmax_keeps_the_first_error_of_a_chain) {
    nb_tensor *bad = nb_softmax(nb_ones(NB_SHAPE(2, 3)), 5);
    ck_assert_ptr_null(nb_log_softmax(nb_softmax(bad, 0), 0));
    NB_ASSERT_ERROR_HAS("nb_softmax: axis 5 is out of range");
}
END_TEST

/* A size-1 axis: x - max - log(exp(0)) is 0 exactly, so a label taken from it
 * is an integer nb_one_hot accepts. */
START_TEST(test_log_softmax_over_a_size_one_axis_is_exactly_zero) {
    nb_tensor *x = nb_from_array((float[]){0.3f, -7, 1e4f, 0}, NB_SHAPE(4, 1));
    nb_tensor *y = nb_log_softmax(x, 1);
    NB_ASSERT_TENSOR(y, ((float[]){0, 0, 0, 0}), 4, 0);
    nb_tensor *h = nb_one_hot(nb_reshape(nb_neg(y), NB_SHAPE(4)), 2);
    ck_assert_msg(h != NULL, "%s", nb_error());
    NB_ASSERT_TENSOR(h, ((float[]){1, 0, 1, 0, 1, 0, 1, 0}), 8, 0);
}
END_TEST

/* Against the same sum in double: every element is the correctly rounded
 * float, including the near-zero ones of a dominant logit. */
START_TEST(test_log_softmax_is_correctly_rounded) {
    nb_tensor *x = nb_mul_scalar(nb_randn(NB_SHAPE(64, 33)), 6.0f);
    float *px = nb_data(x);
    px[0] = 40; /* row 0: one dominant logit, log p close to 0 */
    for (int axis = 0; axis < 2; axis++) {
        nb_tensor *y = nb_log_softmax(x, axis);
        int64_t rows = axis ? 64 : 33, len = axis ? 33 : 64;
        for (int64_t r = 0; r < rows; r++) {
            double m = -INFINITY, sum = 0;
            for (int64_t k = 0; k < len; k++) m = fmax(m, axis ? px[r * 33 + k] : px[k * 33 + r]);
            for (int64_t k = 0; k < len; k++)
                sum += exp((axis ? px[r * 33 + k] : px[k * 33 + r]) - m);
            for (int64_t k = 0; k < len; k++) {
                int64_t i = axis ? r * 33 + k : k * 33 + r;
                float want = (float)(px[i] - m - log(sum));
                ck_assert_msg(nb_get_flat(y, i) == want,
                              "axis %d element %lld: %.9g, expected %.9g", axis, (long long)i,
                              (double)nb_get_flat(y, i), (double)want);
            }
        }
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("softmax");
    TCase *tc = nb_tcase("values");
    tcase_add_test(tc, test_softmax_sums_to_one_with_known_values);
    tcase_add_test(tc, test_softmax_of_each_row_sums_to_one);
    tcase_add_test(tc, test_log_softmax_equals_log_of_softmax);
    tcase_add_test(tc, test_softmax_is_stable_for_large_logits);
    tcase_add_test(tc, test_softmax_is_stable_for_large_logits_along_axis_0);
    tcase_add_test(tc, test_negative_axis_counts_from_the_end);
    tcase_add_test(tc, test_softmax_of_a_transposed_view);
    tcase_add_test(tc, test_log_softmax_over_a_size_one_axis_is_exactly_zero);
    tcase_add_test(tc, test_log_softmax_is_correctly_rounded);
    suite_add_tcase(s, tc);

    tc = nb_tcase("gradients");
    tcase_add_test(tc, test_softmax_gradient_known_values);
    tcase_add_test(tc, test_softmax_gradients_along_every_axis);
    tcase_add_test(tc, test_log_softmax_gradients_along_every_axis);
    tcase_add_test(tc, test_softmax_gradient_of_a_transposed_view);
    suite_add_tcase(s, tc);

    tc = nb_tcase("errors");
    tcase_add_test(tc, test_axis_out_of_range_error);
    tcase_add_test(tc, test_softmax_keeps_the_first_error_of_a_chain);
    suite_add_tcase(s, tc);
    return nb_test_run(s);
}
