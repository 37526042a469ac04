/* Errors: a NULL result carries the first failure through a chain of ops;
 * NULL arguments never crash. */
#include "nb_test.h"

START_TEST(test_null_propagates_through_five_ops_keeping_the_first_message) {
    nb_tensor *x = nb_ones(NB_SHAPE(32, 784));
    nb_tensor *w = nb_ones(NB_SHAPE(100, 10));
    nb_tensor *b = nb_zeros(NB_SHAPE(10));
    nb_tensor *loss = nb_mean_all(nb_sum(nb_sigmoid(nb_add(nb_matmul(x, w), b)), NULL, 0, false));
    ck_assert_ptr_null(loss);
    ck_assert_int_eq(nb_error_code(), NB_ERR_SHAPE);
    ck_assert_str_eq(nb_error(),
                     "nb_matmul: inner dimensions differ: a is [32, 784], b is [100, 10]");
    ck_assert_int_ne(nb_backward(loss), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_matmul: inner dimensions differ");
}
END_TEST

START_TEST(test_null_argument_without_a_pending_error_names_the_function) {
    nb_clear_error();
    ck_assert_ptr_null(nb_relu(NULL));
    ck_assert_int_eq(nb_error_code(), NB_ERR_NULL);
    ck_assert_str_eq(nb_error(), "nb_relu: an input tensor is NULL");
    nb_clear_error();
    ck_assert_ptr_null(nb_add(nb_ones(NB_SHAPE(2)), NULL));
    ck_assert_str_eq(nb_error(), "nb_add: an input tensor is NULL");
}
END_TEST

typedef nb_tensor *(*unary_fn)(nb_tensor *);
static const unary_fn unary[] = {
    nb_exp,  nb_log,      nb_sqrt, nb_square, nb_abs,     nb_relu,       nb_sigmoid, nb_tanh,
    nb_gelu, nb_softplus, nb_step, nb_neg,    nb_flatten, nb_contiguous, nb_sum_all, nb_mean_all};

START_TEST(test_every_op_returns_null_for_null_input) {
    nb_clear_error();
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) {
        ck_assert_ptr_null(unary[i](NULL));
        ck_assert_int_eq(nb_error_code(), NB_ERR_NULL);
        nb_clear_error();
    }
    ck_assert_ptr_null(nb_matmul(NULL, NULL));
    ck_assert_ptr_null(nb_linear(NULL, NULL, NULL));
    ck_assert_ptr_null(nb_softmax(NULL, 0));
    ck_assert_ptr_null(nb_reshape(NULL, NB_SHAPE(1)));
    ck_assert_ptr_null(nb_transpose(NULL, 0, 1));
    ck_assert_ptr_null(nb_slice(NULL, 0, 0, 1, 1));
    ck_assert_ptr_null(nb_concat(NULL, 2, 0));
    ck_assert_ptr_null(nb_one_hot(NULL, 3));
    ck_assert_ptr_null(nb_argmax(NULL, 0, false));
    ck_assert_ptr_null(nb_sum_to(NULL, NB_SHAPE(1)));
    ck_assert_ptr_null(nb_from_array(NULL, NB_SHAPE(2)));
    ck_assert_ptr_null(nb_zeros_like(NULL));
    ck_assert_ptr_null(nb_keep(NULL));
    ck_assert_ptr_null(nb_detach(NULL));
    ck_assert_ptr_null(nb_set_requires_grad(NULL, true));
    ck_assert(isnan(nb_item(NULL)));
    ck_assert_int_ne(nb_fprint(stdout, NULL), NB_OK);
    ck_assert_int_ne(nb_backward(NULL), NB_OK);
    nb_free(NULL);
    nb_zero_grad(NULL);
    ck_assert_int_eq(nb_numel(NULL), 0);
    ck_assert_int_eq(nb_ndim(NULL), -1);
}
END_TEST

static nb_tensor *identity(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    return x[0];
}

START_TEST(test_gradcheck_rejects_bad_arguments) {
    nb_tensor *x = nb_ones(NB_SHAPE(2));
    ck_assert_int_ne(nb_gradcheck(NULL, &x, 1, NULL, 1e-3, 1e-2, NULL), NB_OK);
    ck_assert_int_ne(nb_gradcheck(identity, &x, 1, NULL, -1, 1e-2, NULL), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_gradcheck: eps -1 and tol 0.01 must be positive");
}
END_TEST

START_TEST(test_too_many_nested_scopes_is_an_error) {
    int opened = 0;
    while (nb_scope_begin() == NB_OK) opened++;
    ck_assert_int_eq(opened, 63);
    NB_ASSERT_ERROR_HAS("nb_scope_begin: more than 63 nested scopes");
    for (int i = 0; i < opened; i++) ck_assert_int_eq(nb_scope_end(), NB_OK);
}
END_TEST

static Suite *errors_suite(void) {
    Suite *s = suite_create("errors");
    TCase *tc = nb_tcase("errors");
    tcase_add_test(tc, test_null_propagates_through_five_ops_keeping_the_first_message);
    tcase_add_test(tc, test_null_argument_without_a_pending_error_names_the_function);
    tcase_add_test(tc, test_every_op_returns_null_for_null_input);
    tcase_add_test(tc, test_gradcheck_rejects_bad_arguments);
    tcase_add_test(tc, test_too_many_nested_scopes_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(errors_suite());
}
