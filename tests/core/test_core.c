/* core/: creation, element access, RNG, printing, scopes and memory reuse. */
#include "nb_test.h"

#include "core/core_internal.h" /* the storages behind tensors */

START_TEST(test_creation_functions_fill_as_named) {
    float src[] = {1, 2, 3, 4, 5, 6};
    nb_tensor *a = nb_from_array(src, NB_SHAPE(2, 3));
    src[0] = 99; /* from_array copies */
    NB_ASSERT_TENSOR(a, ((float[]){1, 2, 3, 4, 5, 6}), 6, 0);
    NB_ASSERT_TENSOR(nb_zeros(NB_SHAPE(2, 2)), ((float[]){0, 0, 0, 0}), 4, 0);
    NB_ASSERT_TENSOR(nb_ones(NB_SHAPE(3)), ((float[]){1, 1, 1}), 3, 0);
    NB_ASSERT_TENSOR(nb_full(NB_SHAPE(2), 2.5f), ((float[]){2.5f, 2.5f}), 2, 0);
    NB_ASSERT_TENSOR(nb_arange(0, 1, 0.25f), ((float[]){0, 0.25f, 0.5f, 0.75f}), 4, 0);
    NB_ASSERT_TENSOR(nb_arange(5, 2, -1), ((float[]){5, 4, 3}), 3, 0);
    NB_ASSERT_TENSOR(nb_linspace(-1, 1, 5), ((float[]){-1, -0.5f, 0, 0.5f, 1}), 5, 0);
    NB_ASSERT_TENSOR(nb_eye(3), ((float[]){1, 0, 0, 0, 1, 0, 0, 0, 1}), 9, 0);
    nb_tensor *s = nb_scalar(7);
    ck_assert_int_eq(nb_ndim(s), 0);
    ck_assert_int_eq(nb_numel(s), 1);
    NB_ASSERT_CLOSE(nb_item(s), 7, 0);
    nb_tensor *c = nb_clone(nb_transpose(a, 0, 1));
    ck_assert(nb_is_contiguous(c));
    NB_ASSERT_TENSOR(c, ((float[]){1, 4, 2, 5, 3, 6}), 6, 0);
}
END_TEST

START_TEST(test_element_access_and_bounds) {
    nb_tensor *a = nb_zeros(NB_SHAPE(2, 3));
    ck_assert_int_eq(nb_set(a, (int64_t[]){1, 2}, 5.0f), NB_OK);
    NB_ASSERT_CLOSE(nb_get(a, (int64_t[]){1, 2}), 5, 0);
    NB_ASSERT_CLOSE(nb_get_flat(a, 5), 5, 0);
    ck_assert(isnan(nb_get(a, (int64_t[]){2, 0})));
    NB_ASSERT_ERROR_HAS("nb_get: index [2, 0] is outside shape [2, 3]");
    ck_assert(isnan(nb_item(a)));
    NB_ASSERT_ERROR_HAS("nb_item: tensor of shape [2, 3] has 6 elements, expected 1");
    ck_assert_int_ne(nb_set(a, (int64_t[]){0, -1}, 1), NB_OK);
    ck_assert(isnan(nb_get_flat(a, 6)));
    float out[6];
    ck_assert_int_eq(nb_copy_to(a, out, 6), NB_OK);
    ck_assert_int_ne(nb_copy_to(a, out, 5), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_copy_to: buffer holds 5 floats, tensor [2, 3] has 6");
    ck_assert_int_eq(nb_fill(a, 2), NB_OK);
    NB_ASSERT_CLOSE(nb_get_flat(a, 3), 2, 0);
    ck_assert_int_eq(nb_dim(a, -1), 3);
    ck_assert_str_eq(nb_name(nb_set_name(a, "weights")), "weights");
}
END_TEST

START_TEST(test_rng_is_reproducible_across_machines) {
    /* PCG32 is integer arithmetic and the float conversion exact: nb_manual_seed(42)
     * gives these numbers on every machine (recorded once, here) */
    nb_manual_seed(42);
    nb_tensor *a = nb_rand(NB_SHAPE(4));
    nb_manual_seed(42);
    nb_tensor *b = nb_rand(NB_SHAPE(4));
    for (int i = 0; i < 4; i++) ck_assert(nb_get_flat(a, i) == nb_get_flat(b, i));
    /* each is k / 2^24 exactly (0.8658817, 0.1961625, 0.8767210, 0.7557750): compare bits */
    const double golden[] = {14527084, 3291060, 14708938, 12679801};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(nb_get_flat(a, i) == (float)(golden[i] / 16777216.0), "nb_rand[%d] = %.9g", i,
                      nb_get_flat(a, i));
    nb_manual_seed(43);
    ck_assert(nb_get_flat(nb_rand(NB_SHAPE(1)), 0) != nb_get_flat(a, 0));
}
END_TEST

START_TEST(test_randn_has_zero_mean_unit_std) {
    nb_tensor *x = nb_randn(NB_SHAPE(10000));
    double m = nb_item(nb_mean_all(x));
    double v = nb_item(nb_mean_all(nb_square(nb_sub_scalar(x, (float)m))));
    ck_assert_msg(fabs(m) < 0.03, "mean %g", m);
    ck_assert_msg(fabs(sqrt(v) - 1) < 0.03, "std %g", sqrt(v));
    nb_tensor *u = nb_uniform(NB_SHAPE(1000), -2, 3);
    for (int i = 0; i < 1000; i++) ck_assert(nb_get_flat(u, i) >= -2 && nb_get_flat(u, i) < 3);
}
END_TEST

static char *printed(const nb_tensor *t) {
    static char buf[1024];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    nb_fprint(f, t);
    fclose(f);
    return buf;
}

START_TEST(test_print_looks_like_numpy) {
    nb_tensor *a = nb_from_array((float[]){1, -2.5f, 3, 4}, NB_SHAPE(2, 2));
    ck_assert_str_eq(printed(a), "tensor([[ 1.0000, -2.5000],\n"
                                 "        [ 3.0000,  4.0000]], shape=[2, 2])\n");
    ck_assert_str_eq(printed(nb_set_name(nb_scalar(0.25f), "b")),
                     "tensor(0.2500, shape=[], name=b)\n");
    ck_assert_str_eq(printed(nb_arange(0, 12, 1)),
                     "tensor([ 0.0000,  1.0000,  2.0000, ...,  9.0000, 10.0000, 11.0000], "
                     "shape=[12])\n");
    /* a transposed view prints in its own row-major order */
    nb_tensor *t = nb_transpose(nb_from_array((float[]){1, 2, 3, 4, 5, 6}, NB_SHAPE(2, 3)), 0, 1);
    ck_assert_str_eq(printed(t), "tensor([[1.0000, 4.0000],\n"
                                 "        [2.0000, 5.0000],\n"
                                 "        [3.0000, 6.0000]], shape=[3, 2])\n");
    /* long leading axes elide whole rows */
    ck_assert_str_eq(printed(nb_reshape(nb_arange(0, 22, 1), NB_SHAPE(11, 2))),
                     "tensor([[ 0.0000,  1.0000],\n"
                     "        [ 2.0000,  3.0000],\n"
                     "        [ 4.0000,  5.0000],\n"
                     "        ...,\n"
                     "        [16.0000, 17.0000],\n"
                     "        [18.0000, 19.0000],\n"
                     "        [20.0000, 21.0000]], shape=[11, 2])\n");
}
END_TEST

START_TEST(test_scope_end_frees_and_keep_moves_out) {
    nb_tensor *kept;
    ck_assert_int_eq(nb_scope_begin(), NB_OK);
    nb_tensor *a = nb_ones(NB_SHAPE(3));
    kept = nb_keep(nb_mul_scalar(a, 2));
    ck_assert_int_eq(nb_scope_end(), NB_OK);
    NB_ASSERT_TENSOR(kept, ((float[]){2, 2, 2}), 3, 0);
    ck_assert_int_ne(nb_scope_end(), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_scope_end: no scope is open");
}
END_TEST

/* Freed memory is visible through nb_alloc_count(): a buffer that went back to
 * the pool is handed out again without a heap allocation. */
START_TEST(test_scope_end_returns_memory_that_the_next_scope_reuses) {
    nb_scope_begin();
    nb_full(NB_SHAPE(777), 1);
    nb_scope_end();
    uint64_t before = nb_alloc_count();
    nb_scope_begin();
    nb_tensor *again = nb_full(NB_SHAPE(777), 2);
    ck_assert_ptr_nonnull(again);
    nb_scope_end();
    ck_assert_uint_eq(nb_alloc_count(), before); /* the same buffer, back from the pool */

    /* a kept tensor is not freed with its scope, only with the enclosing one */
    nb_scope_begin();
    nb_scope_begin();
    nb_tensor *k = nb_keep(nb_full(NB_SHAPE(777), 3));
    nb_scope_end();
    NB_ASSERT_CLOSE(nb_get_flat(k, 776), 3, 0);
    nb_tensor *other = nb_full(NB_SHAPE(777), 4); /* k still holds the pooled buffer */
    ck_assert(!nb_shares_storage(k, other));
    NB_ASSERT_CLOSE(nb_get_flat(k, 0), 3, 0);
    nb_scope_end();
    uint64_t after = nb_alloc_count();
    nb_scope_begin();
    nb_full(NB_SHAPE(777), 5);
    nb_full(NB_SHAPE(777), 6);
    nb_scope_end();
    ck_assert_uint_eq(nb_alloc_count(), after); /* both came back when the outer scope ended */
}
END_TEST

START_TEST(test_scope_end_drops_the_steps_tape_nodes) {
    nb_tensor *w = nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true);
    int64_t before = nb_tape_size();
    nb_scope_begin();
    nb_tensor *y = nb_sum_all(nb_sigmoid(nb_mul(w, w)));
    ck_assert_int_eq(nb_tape_size(), before + 3);
    ck_assert_int_eq(nb_backward(y), NB_OK);
    nb_scope_end();
    ck_assert_int_eq(nb_tape_size(), before);
    ck_assert_ptr_nonnull(nb_grad(w)); /* gradients of leaves outlive the step */
}
END_TEST

START_TEST(test_kept_result_becomes_a_leaf_when_its_scope_ends) {
    nb_tensor *w = nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true);
    nb_scope_begin();
    nb_tensor *y = nb_keep(nb_mul(w, w));
    ck_assert(!nb_is_leaf(y));
    nb_scope_end();
    ck_assert(nb_is_leaf(y));
    ck_assert_int_eq(nb_tape_size(), 0);
}
END_TEST

/* one step of logistic regression, as a training loop writes it */
static void train_step(nb_tensor *x, nb_tensor *y, nb_tensor *w, nb_tensor *b) {
    nb_scope_begin();
    nb_tensor *p = nb_sigmoid(nb_add(nb_matmul(x, w), b));
    nb_tensor *loss = nb_mean_all(nb_square(nb_sub(p, y)));
    ck_assert_int_eq(nb_backward(loss), NB_OK);
    nb_zero_grad(w);
    nb_zero_grad(b);
    nb_scope_end();
}

START_TEST(test_steady_state_steps_make_no_heap_allocations) {
    nb_tensor *x = nb_randn(NB_SHAPE(16, 4)), *y = nb_rand(NB_SHAPE(16, 1));
    nb_tensor *w = nb_set_requires_grad(nb_randn(NB_SHAPE(4, 1)), true);
    nb_tensor *b = nb_set_requires_grad(nb_zeros(NB_SHAPE(1)), true);
    for (int i = 0; i < 3; i++) train_step(x, y, w, b);
    uint64_t before = nb_alloc_count();
    for (int i = 0; i < 10; i++) train_step(x, y, w, b);
    ck_assert_uint_eq(nb_alloc_count(), before);
}
END_TEST

/* Found by the NPY fuzzer: a freed 0-element tensor's storage sat in a table
 * slot that still looked empty; the next size to claim the slot handed it out
 * for 1024 bytes. */
START_TEST(test_empty_tensors_do_not_poison_the_storage_pool) {
    nb_shutdown(); /* an empty table, as in a new process */
    nb_scope_begin();
    ck_assert_ptr_nonnull(nb_zeros(NB_SHAPE(0)));
    nb_scope_end();
    nb_scope_begin();
    ck_assert_ptr_nonnull(nb_zeros(NB_SHAPE(256))); /* 1024 bytes: the same slot as 0 */
    nb_scope_end();
    nb_scope_begin();
    nb_tensor *a = nb_full(NB_SHAPE(256), 1.0f), *b = nb_full(NB_SHAPE(256), 2.0f);
    ck_assert_uint_ge(a->storage->nbytes, 1024);
    ck_assert_uint_ge(b->storage->nbytes, 1024);
    ck_assert_float_eq(nb_get_flat(a, 255) + nb_get_flat(b, 255), 3.0f);
    nb_scope_end();
}
END_TEST

START_TEST(test_shape_products_that_overflow_are_errors) {
    ck_assert_ptr_null(nb_zeros(NB_SHAPE(1LL << 40, 1LL << 40)));
    NB_ASSERT_ERROR_HAS("nb_zeros: shape [1099511627776, 1099511627776] has too many elements");
    ck_assert_ptr_null(nb_ones(NB_SHAPE(2, -3)));
    NB_ASSERT_ERROR_HAS("nb_ones: negative size -3 in shape [2, -3]");
    ck_assert_ptr_null(nb_zeros((int64_t[9]){1, 1, 1, 1, 1, 1, 1, 1, 1}, 9));
    NB_ASSERT_ERROR_HAS("nb_zeros: 9 dimensions; nabla supports 0 to 8");
    ck_assert_ptr_nonnull(nb_zeros(NB_SHAPE(1, 1, 1, 1, 1, 1, 1, 2)));
    ck_assert_ptr_null(nb_arange(0, 1, 0));
    NB_ASSERT_ERROR_HAS("nb_arange");
}
END_TEST

START_TEST(test_thread_count_is_settable) {
    nb_set_num_threads(2);
    ck_assert_int_eq(nb_get_num_threads(), 2);
    nb_set_num_threads(1);
    ck_assert_int_eq(nb_get_num_threads(), 1);
    nb_set_num_threads(0); /* ignored: at least one thread */
    ck_assert_int_eq(nb_get_num_threads(), 1);
    NB_ASSERT_TENSOR(nb_matmul(nb_ones(NB_SHAPE(2, 2)), nb_ones(NB_SHAPE(2, 2))),
                     ((float[]){2, 2, 2, 2}), 4, 0);
}
END_TEST

static void collect_warning(const char *message, void *ctx) {
    char *buf = ctx;
    snprintf(buf, 256, "%s", message);
}

START_TEST(test_warnings_reach_the_installed_handler_and_leave_errors_alone) {
    char seen[256] = "";
    nb_clear_error();
    nb_set_warning_handler(collect_warning, seen);
    nb_warn("fit: %d classes in validation only", 2);
    nb_set_warning_handler(NULL, NULL);
    ck_assert_str_eq(seen, "fit: 2 classes in validation only");
    ck_assert_int_eq(nb_error_code(), NB_OK);
}
END_TEST

START_TEST(test_permutation_and_take_rows_live_in_core) {
    int64_t idx[5];
    ck_assert_int_eq(nb_permutation(idx, 5), NB_OK);
    int seen = 0;
    for (int i = 0; i < 5; i++) seen |= 1 << idx[i];
    ck_assert_int_eq(seen, 31);
    nb_tensor *x = nb_from_array((float[]){1, 2, 3, 4, 5, 6}, NB_SHAPE(3, 2));
    NB_ASSERT_TENSOR(nb_take_rows(x, (int64_t[]){2, 0}, 2), ((float[]){5, 6, 1, 2}), 4, 0);
    ck_assert_ptr_null(nb_take_rows(x, (int64_t[]){3}, 1));
    NB_ASSERT_ERROR_HAS("index 3 (entry 0) is not in 0..2");
}
END_TEST

static Suite *core_suite(void) {
    Suite *s = suite_create("core");
    TCase *tc = nb_tcase("tensor");
    tcase_add_test(tc, test_creation_functions_fill_as_named);
    tcase_add_test(tc, test_element_access_and_bounds);
    tcase_add_test(tc, test_rng_is_reproducible_across_machines);
    tcase_add_test(tc, test_randn_has_zero_mean_unit_std);
    tcase_add_test(tc, test_print_looks_like_numpy);
    tcase_add_test(tc, test_shape_products_that_overflow_are_errors);
    tcase_add_test(tc, test_thread_count_is_settable);
    tcase_add_test(tc, test_warnings_reach_the_installed_handler_and_leave_errors_alone);
    tcase_add_test(tc, test_permutation_and_take_rows_live_in_core);
    suite_add_tcase(s, tc);
    tc = nb_tcase("memory");
    tcase_add_test(tc, test_scope_end_frees_and_keep_moves_out);
    tcase_add_test(tc, test_scope_end_returns_memory_that_the_next_scope_reuses);
    tcase_add_test(tc, test_scope_end_drops_the_steps_tape_nodes);
    tcase_add_test(tc, test_kept_result_becomes_a_leaf_when_its_scope_ends);
    tcase_add_test(tc, test_steady_state_steps_make_no_heap_allocations);
    tcase_add_test(tc, test_empty_tensors_do_not_poison_the_storage_pool);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(core_suite());
}
