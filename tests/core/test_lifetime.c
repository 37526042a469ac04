/* Lifetimes and in-place writes: a freed tensor, a tensor of a dropped tape,
 * a model that outlived nb_shutdown, and data written over after an op saved
 * it are errors the caller reads, never silent corruption or wrong gradients. */
#include "nb_test.h"

/* ---- freed tensors ------------------------------------------------------------------ */
START_TEST(test_double_free_is_an_error_and_later_tensors_do_not_alias) {
    nb_tensor *a = nb_ones(NB_SHAPE(3));
    nb_free(a);
    nb_clear_error();
    nb_free(a);
    nb_tensor *b = nb_full(NB_SHAPE(3), 2), *c = nb_full(NB_SHAPE(3), 5);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_ne(b, c);
    ck_assert(!nb_shares_storage(b, c));
    NB_ASSERT_CLOSE(nb_get_flat(b, 0), 2, 0);
    NB_ASSERT_CLOSE(nb_get_flat(c, 0), 5, 0);
    NB_ASSERT_ERROR_HAS("nb_free: the tensor was already freed");
}
END_TEST

START_TEST(test_using_a_freed_tensor_is_an_error_in_ops_and_element_access) {
    nb_tensor *a = nb_ones(NB_SHAPE(2, 2));
    nb_tensor *keep = nb_zeros(NB_SHAPE(2, 2)); /* the pool has other headers to hand out */
    nb_free(keep);
    nb_free(a);
    nb_tensor *fresh = nb_full(NB_SHAPE(2, 2), 7); /* must not reuse a's header */
    ck_assert_ptr_ne(fresh, a);
    nb_clear_error();
    ck_assert_ptr_null(nb_relu(a));
    NB_ASSERT_ERROR_HAS("nb_relu: input 0 was freed");
    nb_clear_error();
    ck_assert(isnan(nb_get_flat(a, 0)));
    NB_ASSERT_ERROR_HAS("nb_get_flat: the tensor was freed");
    ck_assert_int_ne(nb_fill(a, 1), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_fill: the tensor was freed");
    ck_assert_ptr_null(nb_data(a));
    NB_ASSERT_CLOSE(nb_get_flat(fresh, 3), 7, 0);
}
END_TEST

START_TEST(test_backward_of_a_freed_tensor_is_an_error) {
    nb_tensor *w = nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true);
    nb_tensor *y = nb_sum_all(nb_mul(w, w));
    nb_free(y);
    nb_clear_error();
    ck_assert_int_ne(nb_backward(y), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_backward: the tensor was freed");
    ck_assert_ptr_null(nb_grad(w));
}
END_TEST

START_TEST(test_backward_on_a_result_kept_past_its_scope_is_an_error) {
    nb_tensor *w = nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true);
    nb_scope_begin();
    nb_tensor *y = nb_keep(nb_sum_all(nb_mul(w, w)));
    nb_scope_end();
    nb_clear_error();
    ck_assert_int_ne(nb_backward(y), NB_OK);
    NB_ASSERT_ERROR_HAS("op 'sum' that made it was dropped when its scope ended");
    ck_assert_ptr_null(nb_grad(w));
    ck_assert_ptr_null(nb_grad(y));
}
END_TEST

START_TEST(test_backward_after_an_input_was_freed_is_an_error) {
    nb_tensor *w = nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true);
    nb_tensor *h = nb_mul(w, w);
    nb_tensor *y = nb_sum_all(nb_sigmoid(h));
    nb_free(h);
    nb_clear_error();
    ck_assert_int_ne(nb_backward(y), NB_OK);
    NB_ASSERT_ERROR_HAS("was freed before the backward pass");
}
END_TEST

/* The weights died with nb_shutdown: freeing the model must not touch them. */
START_TEST(test_model_free_after_shutdown_is_refused_without_touching_freed_memory) {
    nb_model *m = nb_sequential(NB_SHAPE(4));
    ck_assert_int_eq(nb_model_add(m, nb_dense(3, "relu")), NB_OK);
    ck_assert_int_eq(
        nb_model_compile(m, "mse", nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false), NULL, 0), NB_OK);
    nb_tensor *loss = NULL; /* one step, so that Adam has state tensors */
    ck_assert_int_eq(
        nb_model_train_on_batch(m, nb_ones(NB_SHAPE(2, 4)), nb_zeros(NB_SHAPE(2, 3)), &loss, NULL),
        NB_OK);
    nb_shutdown();
    nb_clear_error();
    nb_model_free(m);
    NB_ASSERT_ERROR_HAS("nb_model_free: the model was made before nb_shutdown");
    /* the library works again afterwards */
    nb_tensor *x = nb_full(NB_SHAPE(2), 3);
    NB_ASSERT_CLOSE(nb_get_flat(x, 1), 3, 0);
}
END_TEST

START_TEST(test_model_free_in_the_same_lifetime_frees_quietly) {
    nb_model *m = nb_sequential(NB_SHAPE(4));
    ck_assert_int_eq(nb_model_add(m, nb_dense(3, "relu")), NB_OK);
    nb_clear_error();
    nb_model_free(m);
    ck_assert_int_eq(nb_error_code(), NB_OK);
}
END_TEST

/* ---- in-place writes after an op saved its operands ---------------------------------- */
START_TEST(test_writing_an_operand_after_the_forward_fails_backward_by_name) {
    nb_tensor *w = nb_set_name(nb_set_requires_grad(nb_ones(NB_SHAPE(1)), true), "w");
    nb_tensor *y = nb_sum_all(nb_mul(w, w)); /* dy/dw = 2w = 2 */
    ck_assert_int_eq(nb_fill(nb_detach(w), 100), NB_OK);
    nb_clear_error();
    ck_assert_int_ne(nb_backward(y), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_backward: a tensor needed for the gradient of op 'mul'");
    NB_ASSERT_ERROR_HAS("input 0 'w' [1]");
    NB_ASSERT_ERROR_HAS("version 1; the op saved version 0");
    ck_assert_ptr_null(nb_grad(w)); /* no gradient of 200 */
}
END_TEST

START_TEST(test_overwriting_a_sigmoid_output_fails_backward) {
    nb_tensor *x = nb_set_requires_grad(nb_zeros(NB_SHAPE(2, 3)), true);
    nb_tensor *s = nb_sigmoid(x), *seed = nb_ones(NB_SHAPE(2, 3));
    ck_assert_int_eq(nb_set(s, (int64_t[]){1, 2}, 0.9f), NB_OK);
    nb_clear_error();
    /* sigmoid's backward reads its output: s(1 - s) from 0.9 is not 0.25 */
    ck_assert_int_ne(nb_backward_ex(s, seed, false), NB_OK);
    NB_ASSERT_ERROR_HAS("op 'sigmoid'");
    NB_ASSERT_ERROR_HAS("output [2, 3]");
    ck_assert_ptr_null(nb_grad(x));
}
END_TEST

START_TEST(test_mark_modified_declares_writes_through_nb_data) {
    nb_tensor *x = nb_set_requires_grad(nb_zeros(NB_SHAPE(3)), true);
    nb_tensor *y = nb_sum_all(nb_sigmoid(x));
    nb_data(x)[0] = 5; /* invisible to the check until declared */
    ck_assert_int_eq(nb_mark_modified(x), NB_OK);
    ck_assert_int_ne(nb_backward(y), NB_OK);
    NB_ASSERT_ERROR_HAS("input 0 [3]");
}
END_TEST

/* forward, backward, optimizer step, repeated: the step's writes come after
 * the backward that read the weights, so nothing fires; the loss falls. */
START_TEST(test_training_loop_with_optimizer_steps_is_unaffected) {
    nb_tensor *x = nb_randn(NB_SHAPE(16, 4)), *t = nb_rand(NB_SHAPE(16, 1));
    nb_tensor *w = nb_set_requires_grad(nb_randn(NB_SHAPE(4, 1)), true);
    nb_optimizer *opt = nb_sgd(0.1f, 0.9f, false, 0);
    ck_assert_int_eq(nb_optimizer_add_params(opt, &w, 1), NB_OK);
    float first = 0, last = 0;
    for (int i = 0; i < 20; i++) {
        nb_scope_begin();
        nb_tensor *loss = nb_mean_all(nb_square(nb_sub(nb_matmul(x, w), t)));
        if (i == 0) first = nb_item(loss);
        last = nb_item(loss);
        ck_assert_msg(nb_backward(loss) == NB_OK, "%s", nb_error());
        ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
        nb_zero_grad(w);
        nb_scope_end();
    }
    ck_assert_float_lt(last, first * 0.5f);
    nb_optimizer_free(opt);
}
END_TEST

/* fit steps write the weights (optimizer) and, in graph mode, write outputs
 * over dying inputs (the planner's in-place ops): none of it is an in-place
 * write the version check may refuse, eager or replayed, and both learn. */
static double fit_loss_drop(bool eager) {
    nb_manual_seed(7);
    nb_tensor *x = nb_randn(NB_SHAPE(64, 4));
    nb_tensor *y = nb_sigmoid(nb_matmul(x, nb_randn(NB_SHAPE(4, 2))));
    nb_model *m = nb_sequential(NB_SHAPE(4));
    nb_model_add(m, nb_dense(8, "relu"));
    nb_model_add(m, nb_dense(2, "sigmoid"));
    ck_assert_int_eq(
        nb_model_compile(m, "mse", nb_adam(0.02f, 0.9f, 0.999f, 1e-7f, false), NULL, 0), NB_OK);
    nb_fit_opts o = {.epochs = 15, .batch_size = 16, .verbose = NB_SILENT, .eager = eager};
    nb_history *h = nb_model_fit(m, x, y, &o);
    ck_assert_msg(h != NULL, "%s", nb_error());
    double drop = nb_history_get(h, "loss", 0) / nb_history_get(h, "loss", 14);
    nb_history_free(h);
    nb_model_free(m);
    return drop;
}

START_TEST(test_fit_eager_and_graph_mode_is_unaffected_by_the_version_check) {
    double eager = fit_loss_drop(true), graph = fit_loss_drop(false);
    ck_assert_msg(eager > 2 && graph > 2, "loss fell %.3gx eager, %.3gx graph", eager, graph);
    NB_ASSERT_CLOSE(graph, eager, 1e-3);
}
END_TEST

static Suite *lifetime_suite(void) {
    Suite *s = suite_create("lifetime");
    TCase *tc = nb_tcase("freed");
    tcase_add_test(tc, test_double_free_is_an_error_and_later_tensors_do_not_alias);
    tcase_add_test(tc, test_using_a_freed_tensor_is_an_error_in_ops_and_element_access);
    tcase_add_test(tc, test_backward_of_a_freed_tensor_is_an_error);
    tcase_add_test(tc, test_backward_on_a_result_kept_past_its_scope_is_an_error);
    tcase_add_test(tc, test_backward_after_an_input_was_freed_is_an_error);
    tcase_add_test(tc, test_model_free_after_shutdown_is_refused_without_touching_freed_memory);
    tcase_add_test(tc, test_model_free_in_the_same_lifetime_frees_quietly);
    suite_add_tcase(s, tc);
    tc = nb_tcase("versions");
    tcase_add_test(tc, test_writing_an_operand_after_the_forward_fails_backward_by_name);
    tcase_add_test(tc, test_overwriting_a_sigmoid_output_fails_backward);
    tcase_add_test(tc, test_mark_modified_declares_writes_through_nb_data);
    tcase_add_test(tc, test_training_loop_with_optimizer_steps_is_unaffected);
    tcase_add_test(tc, test_fit_eager_and_graph_mode_is_unaffected_by_the_version_check);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(lifetime_suite());
}
