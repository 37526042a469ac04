/* Losses: known values computed by hand, gradient checks of every loss and
 * fused op, the fused ops' stability at logits of +-1e4, and fused against
 * unfused cross-entropy. */
#include "nb_test.h"

#define EPS 1e-2
#define TOL 1e-2

static nb_tensor *leaf(const float *v, const int64_t *shape, int ndim) {
    return nb_set_requires_grad(nb_from_array(v, shape, ndim), true);
}

/* ---- known values -------------------------------------------------------------------- */
START_TEST(test_mse_and_mae_of_known_values) {
    nb_tensor *p = nb_from_array((float[]){1, 2}, NB_SHAPE(2));
    nb_tensor *t = nb_from_array((float[]){1, 4}, NB_SHAPE(2));
    NB_ASSERT_CLOSE(nb_item(nb_mse_loss(p, t)), 2.0, 1e-6); /* (0 + 4) / 2 */
    NB_ASSERT_CLOSE(nb_item(nb_mae_loss(p, t)), 1.0, 1e-6); /* (0 + 2) / 2 */
    /* by name, and a [N, 1] prediction against [N] targets */
    nb_tensor *col = nb_from_array((float[]){1, 2}, NB_SHAPE(2, 1));
    NB_ASSERT_CLOSE(nb_item(nb_loss_by_name("mse", col, t)), 2.0, 1e-6);
    NB_ASSERT_CLOSE(nb_item(nb_loss_by_name("mean_absolute_error", col, t)), 1.0, 1e-6);
}
END_TEST

START_TEST(test_binary_crossentropy_of_known_values) {
    /* -(log 0.8 + log(1 - 0.4)) / 2 */
    nb_tensor *p = nb_from_array((float[]){0.8f, 0.4f}, NB_SHAPE(2, 1));
    nb_tensor *t = nb_from_array((float[]){1, 0}, NB_SHAPE(2, 1));
    NB_ASSERT_CLOSE(nb_item(nb_binary_crossentropy(p, t)), 0.36698459, 1e-5);
    NB_ASSERT_CLOSE(nb_item(nb_loss_by_name("binary_crossentropy", p, t)), 0.36698459, 1e-5);
}
END_TEST

START_TEST(test_categorical_crossentropies_of_known_values) {
    /* -(log 0.7 + log 0.3) / 2 */
    nb_tensor *p = nb_from_array((float[]){0.7f, 0.2f, 0.1f, 0.1f, 0.6f, 0.3f}, NB_SHAPE(2, 3));
    nb_tensor *onehot = nb_from_array((float[]){1, 0, 0, 0, 0, 1}, NB_SHAPE(2, 3));
    nb_tensor *labels = nb_from_array((float[]){0, 2}, NB_SHAPE(2));
    NB_ASSERT_CLOSE(nb_item(nb_categorical_crossentropy(p, onehot)), 0.78032387, 1e-6);
    NB_ASSERT_CLOSE(nb_item(nb_sparse_categorical_crossentropy(p, labels)), 0.78032387, 1e-6);
    nb_tensor *labels_col = nb_from_array((float[]){0, 2}, NB_SHAPE(2, 1));
    NB_ASSERT_CLOSE(nb_item(nb_loss_by_name("sparse_categorical_crossentropy", p, labels_col)),
                    0.78032387, 1e-6);
}
END_TEST

START_TEST(test_probability_losses_clip_like_keras) {
    /* a zero probability for the true class costs -log(1e-7) = 16.118, not infinity */
    nb_tensor *p = nb_from_array((float[]){0, 1}, NB_SHAPE(1, 2));
    nb_tensor *onehot = nb_from_array((float[]){1, 0}, NB_SHAPE(1, 2));
    NB_ASSERT_CLOSE(nb_item(nb_categorical_crossentropy(p, onehot)), 16.118096, 1e-4);
    nb_tensor *b = nb_from_array((float[]){0}, NB_SHAPE(1));
    NB_ASSERT_CLOSE(nb_item(nb_binary_crossentropy(b, nb_ones(NB_SHAPE(1)))), 16.118096, 1e-4);
}
END_TEST

START_TEST(test_fused_losses_of_known_values) {
    /* log(e + e^2 + e^3) - 3 */
    nb_tensor *x = nb_from_array((float[]){1, 2, 3}, NB_SHAPE(1, 3));
    NB_ASSERT_CLOSE(nb_item(nb_softmax_crossentropy_logits(
                        x, nb_from_array((float[]){0, 0, 1}, NB_SHAPE(1, 3)))),
                    0.40760596, 1e-6);
    NB_ASSERT_CLOSE(
        nb_item(nb_sparse_softmax_crossentropy_logits(x, nb_from_array((float[]){2}, NB_SHAPE(1)))),
        0.40760596, 1e-6);
    /* x = 0: log 2 whatever the target; x = 2, z = 1: log(1 + e^-2) */
    nb_tensor *s = nb_from_array((float[]){0, 2}, NB_SHAPE(2));
    NB_ASSERT_CLOSE(
        nb_item(nb_sigmoid_crossentropy_logits(s, nb_from_array((float[]){1, 1}, NB_SHAPE(2)))),
        (0.69314718 + 0.12692801) / 2, 1e-6);
}
END_TEST

/* ---- stability --------------------------------------------------------------------------- */
START_TEST(test_fused_losses_are_finite_for_logits_of_1e4) {
    nb_tensor *x = leaf((float[]){1e4f, -1e4f, -1e4f, 1e4f}, NB_SHAPE(2, 2));
    /* row 0 is confidently wrong (loss 2e4), row 1 confidently right (loss 0) */
    nb_tensor *onehot = nb_from_array((float[]){0, 1, 0, 1}, NB_SHAPE(2, 2));
    nb_tensor *loss = nb_softmax_crossentropy_logits(x, onehot);
    NB_ASSERT_CLOSE(nb_item(loss), 1e4, 1e-6);
    ck_assert_int_eq(nb_backward(loss), NB_OK);
    /* (softmax - onehot) / N */
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){0.5f, -0.5f, 0, 0}), 4, 1e-6);

    nb_zero_grad(x);
    loss = nb_sparse_softmax_crossentropy_logits(x, nb_from_array((float[]){1, 1}, NB_SHAPE(2)));
    NB_ASSERT_CLOSE(nb_item(loss), 1e4, 1e-6);
    ck_assert_int_eq(nb_backward(loss), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){0.5f, -0.5f, 0, 0}), 4, 1e-6);

    /* sigmoid: x = 1e4, z = 0 costs 1e4; x = -1e4, z = 0 costs 0; ... */
    nb_tensor *s = leaf((float[]){1e4f, -1e4f, -1e4f, 1e4f}, NB_SHAPE(4));
    nb_tensor *z = nb_from_array((float[]){0, 0, 1, 1}, NB_SHAPE(4));
    loss = nb_sigmoid_crossentropy_logits(s, z);
    NB_ASSERT_CLOSE(nb_item(loss), 2e4 / 4, 1e-6);
    ck_assert_int_eq(nb_backward(loss), NB_OK);
    /* (sigmoid(x) - z) / M */
    NB_ASSERT_TENSOR(nb_grad(s), ((float[]){0.25f, 0, -0.25f, 0}), 4, 1e-6);
}
END_TEST

START_TEST(test_fused_equals_unfused_on_moderate_logits) {
    nb_tensor *x = nb_normal(NB_SHAPE(6, 5), 0, 3);
    nb_tensor *labels = nb_from_array((float[]){0, 4, 2, 2, 1, 3}, NB_SHAPE(6));
    nb_tensor *onehot = nb_one_hot(labels, 5);
    double fused = nb_item(nb_softmax_crossentropy_logits(x, onehot));
    NB_ASSERT_CLOSE(nb_item(nb_categorical_crossentropy(nb_softmax(x, 1), onehot)), fused, 1e-5);
    NB_ASSERT_CLOSE(nb_item(nb_sparse_softmax_crossentropy_logits(x, labels)), fused, 1e-5);
    NB_ASSERT_CLOSE(nb_item(nb_sparse_categorical_crossentropy(nb_softmax(x, 1), labels)), fused,
                    1e-5);
    nb_tensor *z = nb_from_array((float[]){1, 0, 1, 1, 0, 0}, NB_SHAPE(6, 1));
    nb_tensor *s = nb_normal(NB_SHAPE(6, 1), 0, 3);
    NB_ASSERT_CLOSE(nb_item(nb_binary_crossentropy(nb_sigmoid(s), z)),
                    nb_item(nb_sigmoid_crossentropy_logits(s, z)), 1e-5);
}
END_TEST

/* ---- gradient checks ------------------------------------------------------------------------ */
typedef struct {
    nb_tensor *(*fn)(nb_tensor *, nb_tensor *);
} loss_ctx;

static nb_tensor *apply_loss(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    return ((loss_ctx *)ctx)->fn(x[0], x[1]);
}

/* categorical losses on softmax(x), so that the probabilities stay valid */
static nb_tensor *apply_on_softmax(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    return ((loss_ctx *)ctx)->fn(nb_softmax(x[0], 1), x[1]);
}

START_TEST(test_probability_losses_pass_gradcheck) {
    nb_tensor *p = nb_set_requires_grad(nb_uniform(NB_SHAPE(4, 3), 0.1f, 0.9f), true);
    nb_tensor *t = nb_set_requires_grad(nb_uniform(NB_SHAPE(4, 3), 0, 1), true);
    NB_ASSERT_GRADCHECK(apply_loss, ((nb_tensor *[]){p, t}), 2, &(loss_ctx){nb_mse_loss}, EPS, TOL);
    NB_ASSERT_GRADCHECK(apply_loss, ((nb_tensor *[]){p, t}), 2, &(loss_ctx){nb_mae_loss}, 1e-3,
                        TOL);
    NB_ASSERT_GRADCHECK(apply_loss, ((nb_tensor *[]){p, t}), 2, &(loss_ctx){nb_binary_crossentropy},
                        1e-3, TOL);
    nb_tensor *onehot =
        nb_from_array((float[]){1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0}, NB_SHAPE(4, 3));
    NB_ASSERT_GRADCHECK(apply_loss, ((nb_tensor *[]){p, onehot}), 2,
                        &(loss_ctx){nb_categorical_crossentropy}, 1e-3, TOL);
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(4, 3)), true);
    NB_ASSERT_GRADCHECK(apply_on_softmax, ((nb_tensor *[]){x, onehot}), 2,
                        &(loss_ctx){nb_categorical_crossentropy}, EPS, TOL);
    nb_tensor *labels = nb_from_array((float[]){0, 1, 2, 1}, NB_SHAPE(4));
    NB_ASSERT_GRADCHECK(apply_on_softmax, ((nb_tensor *[]){x, labels}), 2,
                        &(loss_ctx){nb_sparse_categorical_crossentropy}, EPS, TOL);
}
END_TEST

START_TEST(test_fused_losses_pass_gradcheck) {
    nb_tensor *x = nb_set_requires_grad(nb_normal(NB_SHAPE(4, 5), 0, 2), true);
    nb_tensor *onehot = nb_one_hot(nb_from_array((float[]){0, 3, 4, 1}, NB_SHAPE(4)), 5);
    NB_ASSERT_GRADCHECK(apply_loss, ((nb_tensor *[]){x, onehot}), 2,
                        &(loss_ctx){nb_softmax_crossentropy_logits}, EPS, TOL);
    /* soft targets: the gradient reaches the targets too */
    nb_tensor *soft = nb_set_requires_grad(nb_clone(nb_softmax(nb_randn(NB_SHAPE(4, 5)), 1)), true);
    NB_ASSERT_GRADCHECK(apply_loss, ((nb_tensor *[]){x, soft}), 2,
                        &(loss_ctx){nb_softmax_crossentropy_logits}, EPS, TOL);
    nb_tensor *labels = nb_from_array((float[]){0, 3, 4, 1}, NB_SHAPE(4, 1));
    NB_ASSERT_GRADCHECK(apply_loss, ((nb_tensor *[]){x, labels}), 2,
                        &(loss_ctx){nb_sparse_softmax_crossentropy_logits}, EPS, TOL);
    nb_tensor *z = nb_set_requires_grad(nb_uniform(NB_SHAPE(4, 5), 0, 1), true);
    NB_ASSERT_GRADCHECK(apply_loss, ((nb_tensor *[]){x, z}), 2,
                        &(loss_ctx){nb_sigmoid_crossentropy_logits}, EPS, TOL);
}
END_TEST

/* d loss / d logits, scaled by the seed of a loss used twice (gy != 1) */
static nb_tensor *twice(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    nb_tensor *l =
        nb_sparse_softmax_crossentropy_logits(x[0], nb_from_array((float[]){1, 0}, NB_SHAPE(2)));
    return nb_mul(l, nb_add_scalar(l, 1.0f));
}

START_TEST(test_fused_loss_gradient_scales_with_the_upstream_gradient) {
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(2, 3)), true);
    NB_ASSERT_GRADCHECK(twice, &x, 1, NULL, EPS, TOL);
}
END_TEST

/* ---- targets [N] for outputs [N, 1], as Keras ------------------------------------------------ */
typedef nb_tensor *(*loss_fn)(nb_tensor *, nb_tensor *);

/* loss(pred [N, 1], targets [N]) equals loss(pred, targets [N, 1]), and so for pred [N] */
static void assert_targets_n_and_n_by_1_agree(const char *name, loss_fn fn, const float *pred,
                                              const float *target, int64_t n) {
    nb_tensor *col = nb_from_array(pred, NB_SHAPE(n, 1)), *flat = nb_from_array(pred, NB_SHAPE(n));
    nb_tensor *t = nb_from_array(target, NB_SHAPE(n)),
              *t_col = nb_from_array(target, NB_SHAPE(n, 1));
    nb_tensor *want = fn(col, t_col);
    ck_assert_msg(want != NULL, "%s on [N, 1] and [N, 1]: %s", name, nb_error());
    nb_tensor *got = fn(col, t);
    ck_assert_msg(got != NULL, "%s on outputs [N, 1] and targets [N]: %s", name, nb_error());
    NB_ASSERT_CLOSE(nb_item(got), nb_item(want), 1e-6);
    got = fn(flat, t_col);
    ck_assert_msg(got != NULL, "%s on outputs [N] and targets [N, 1]: %s", name, nb_error());
    NB_ASSERT_CLOSE(nb_item(got), nb_item(want), 1e-6);
}

START_TEST(test_every_loss_takes_targets_n_for_outputs_n_by_1) {
    const float prob[] = {0.9f, 0.2f, 0.6f, 0.3f, 0.7f}, logit[] = {2.2f, -1.4f, 0.4f, -0.8f, 0.9f};
    const float z[] = {1, 0, 0, 1, 1};
    assert_targets_n_and_n_by_1_agree("mse", nb_mse_loss, prob, z, 5);
    assert_targets_n_and_n_by_1_agree("mae", nb_mae_loss, prob, z, 5);
    assert_targets_n_and_n_by_1_agree("bce", nb_binary_crossentropy, prob, z, 5);
    assert_targets_n_and_n_by_1_agree("sigmoid logits", nb_sigmoid_crossentropy_logits, logit, z,
                                      5);
    /* labels: [N] or [N, 1] for [N, K] logits */
    nb_tensor *x2 = nb_from_array((float[]){1, 2, 3, 0.5f, 0, -1}, NB_SHAPE(2, 3));
    nb_tensor *y2 = nb_from_array((float[]){2, 0}, NB_SHAPE(2));
    nb_tensor *y2_col = nb_from_array((float[]){2, 0}, NB_SHAPE(2, 1));
    NB_ASSERT_CLOSE(nb_item(nb_sparse_softmax_crossentropy_logits(x2, y2_col)),
                    nb_item(nb_sparse_softmax_crossentropy_logits(x2, y2)), 1e-6);
    NB_ASSERT_CLOSE(nb_item(nb_sparse_categorical_crossentropy(nb_softmax(x2, 1), y2_col)),
                    nb_item(nb_sparse_categorical_crossentropy(nb_softmax(x2, 1), y2)), 1e-6);
    /* the gradient reaches the logits through the [N] targets too */
    nb_tensor *x = leaf(logit, NB_SHAPE(5, 1));
    nb_tensor *loss = nb_sigmoid_crossentropy_logits(x, nb_from_array(z, NB_SHAPE(5)));
    ck_assert_msg(loss != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_backward(loss), NB_OK);
    for (int i = 0; i < 5; i++)
        NB_ASSERT_CLOSE(nb_get_flat(nb_grad(x), i), (1 / (1 + exp(-logit[i])) - z[i]) / 5, 1e-6);
}
END_TEST

START_TEST(test_targets_must_match_but_for_a_trailing_axis_of_1) {
    /* the same number of elements is not enough: [4, 6] against [4, 2, 3] is a mistake */
    ck_assert_ptr_null(nb_mse_loss(nb_ones(NB_SHAPE(4, 6)), nb_ones(NB_SHAPE(4, 2, 3))));
    NB_ASSERT_ERROR_HAS("nb_mse_loss: predictions [4, 6] and targets [4, 2, 3] differ in shape");
    ck_assert_ptr_null(nb_binary_crossentropy(nb_ones(NB_SHAPE(2, 3)), nb_ones(NB_SHAPE(3, 2))));
    NB_ASSERT_ERROR_HAS("nb_binary_crossentropy: predictions [2, 3] and targets [3, 2] differ");
    ck_assert_ptr_null(
        nb_sigmoid_crossentropy_logits(nb_ones(NB_SHAPE(4, 2)), nb_ones(NB_SHAPE(8))));
    NB_ASSERT_ERROR_HAS("nb_sigmoid_crossentropy_logits: logits [4, 2] and targets [8] differ");
    /* [N, 2] outputs take [N, 2, 1] targets */
    NB_ASSERT_CLOSE(nb_item(nb_mae_loss(nb_ones(NB_SHAPE(3, 2)), nb_zeros(NB_SHAPE(3, 2, 1)))), 1,
                    1e-6);
}
END_TEST

/* ---- from_logits ----------------------------------------------------------------------------- */
START_TEST(test_from_logits_equals_the_probability_form_on_softmax_and_sigmoid) {
    const nb_loss_opts logits = {.from_logits = true};
    nb_tensor *x = nb_from_array((float[]){1, 2, 3, 0.5f, 0, -1, -2, 4, 0.1f}, NB_SHAPE(3, 3));
    nb_tensor *labels = nb_from_array((float[]){2, 0, 1}, NB_SHAPE(3));
    nb_tensor *onehot = nb_one_hot(labels, 3);
    NB_ASSERT_CLOSE(nb_item(nb_loss_by_name_ex("categorical_crossentropy", x, onehot, &logits)),
                    nb_item(nb_loss_by_name("categorical_crossentropy", nb_softmax(x, 1), onehot)),
                    1e-5);
    NB_ASSERT_CLOSE(
        nb_item(nb_loss_by_name_ex("sparse_categorical_crossentropy", x, labels, &logits)),
        nb_item(nb_loss_by_name("sparse_categorical_crossentropy", nb_softmax(x, 1), labels)),
        1e-5);
    nb_tensor *s = nb_from_array((float[]){2.2f, -1.4f, 0.4f, -0.8f}, NB_SHAPE(4, 1));
    nb_tensor *z = nb_from_array((float[]){1, 0, 0, 1}, NB_SHAPE(4));
    NB_ASSERT_CLOSE(nb_item(nb_loss_by_name_ex("binary_crossentropy", s, z, &logits)),
                    nb_item(nb_loss_by_name("binary_crossentropy", nb_sigmoid(s), z)), 1e-5);
    /* without the flag (or with NULL options) the names mean probabilities, as before */
    NB_ASSERT_CLOSE(nb_item(nb_loss_by_name_ex("binary_crossentropy", nb_sigmoid(s), z, NULL)),
                    nb_item(nb_binary_crossentropy(nb_sigmoid(s), z)), 1e-6);
    /* logits of 1e4 stay exact: only the fused form can say so */
    nb_tensor *big = nb_from_array((float[]){1e4f, -1e4f}, NB_SHAPE(1, 2));
    NB_ASSERT_CLOSE(nb_item(nb_loss_by_name_ex("sparse_categorical_crossentropy", big,
                                               nb_ones(NB_SHAPE(1)), &logits)),
                    2e4, 1e-6);
    /* mse and mae have no logits form */
    ck_assert_ptr_null(nb_loss_by_name_ex("mse", s, z, &logits));
    NB_ASSERT_ERROR_HAS("nb_loss_by_name_ex: from_logits applies to the cross-entropies, not to "
                        "'mse'");
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------------
 */
START_TEST(test_loss_errors_name_the_function_and_shapes) {
    nb_tensor *p = nb_ones(NB_SHAPE(4, 3));
    ck_assert_ptr_null(nb_loss_by_name("msee", p, p));
    NB_ASSERT_ERROR_HAS("nb_loss_by_name: unknown loss 'msee'; known losses: mse, mae, "
                        "binary_crossentropy, categorical_crossentropy, "
                        "sparse_categorical_crossentropy");
    ck_assert_ptr_null(nb_mse_loss(p, nb_ones(NB_SHAPE(4, 2))));
    NB_ASSERT_ERROR_HAS("nb_mse_loss: predictions [4, 3] and targets [4, 2] differ in shape");
    ck_assert_ptr_null(nb_softmax_crossentropy_logits(p, nb_ones(NB_SHAPE(3, 3))));
    NB_ASSERT_ERROR_HAS("nb_softmax_crossentropy_logits: logits [4, 3] and one-hot targets [3, 3] "
                        "differ in shape");
    ck_assert_ptr_null(nb_sparse_softmax_crossentropy_logits(
        p, nb_from_array((float[]){0, 1, 3, 2}, NB_SHAPE(4))));
    NB_ASSERT_ERROR_HAS("nb_sparse_softmax_crossentropy_logits: label 3 in row 2 is not a class "
                        "index in [0, 3)");
    ck_assert_ptr_null(nb_sparse_softmax_crossentropy_logits(p, nb_ones(NB_SHAPE(3))));
    NB_ASSERT_ERROR_HAS("nb_sparse_softmax_crossentropy_logits: labels must be [4] (or [4, 1]) "
                        "for logits [4, 3]; got [3]");
    ck_assert_ptr_null(
        nb_sparse_categorical_crossentropy(p, nb_from_array((float[]){0, 1, 7, 2}, NB_SHAPE(4))));
    NB_ASSERT_ERROR_HAS(
        "nb_sparse_categorical_crossentropy: labels must be class indices in [0, 3)");
    ck_assert_ptr_null(nb_sigmoid_crossentropy_logits(p, nb_ones(NB_SHAPE(3))));
    NB_ASSERT_ERROR_HAS("nb_sigmoid_crossentropy_logits: logits [4, 3] and targets [3] differ");
}
END_TEST

/* Keras's formulas evaluated in float64 (numpy) on these numbers */
START_TEST(test_keras_losses_of_known_values) {
    nb_tensor *p = nb_from_array((float[]){0.2f, -1.5f, 3, 0.7f, 0.1f, -0.4f}, NB_SHAPE(2, 3));
    nb_tensor *t = nb_from_array((float[]){0.5f, -0.5f, 0.5f, 2, 0.1f, -0.3f}, NB_SHAPE(2, 3));
    NB_ASSERT_CLOSE(nb_item(nb_huber_loss(p, t, 1)), 0.55833333, 1e-6);
    NB_ASSERT_CLOSE(nb_item(nb_huber_loss(p, t, 0.5f)), 0.34583333, 1e-6);
    NB_ASSERT_CLOSE(nb_item(nb_log_cosh_loss(p, t)), 0.49586316, 1e-6);
    NB_ASSERT_CLOSE(nb_item(nb_cosine_similarity_loss(p, t)), -0.86884212, 1e-6);
    nb_tensor *y01 = nb_from_array((float[]){1, 0, 1, 0, 0, 1}, NB_SHAPE(2, 3));
    nb_tensor *ypm = nb_from_array((float[]){1, -1, 1, -1, -1, 1}, NB_SHAPE(2, 3));
    NB_ASSERT_CLOSE(nb_item(nb_hinge_loss(p, y01)), 0.83333333, 1e-6);
    NB_ASSERT_CLOSE(nb_item(nb_hinge_loss(p, ypm)), 0.83333333, 1e-6); /* 0/1 read as -1/1 */
    NB_ASSERT_CLOSE(nb_item(nb_squared_hinge_loss(p, y01)), 1.11666667, 1e-6);
    nb_tensor *onehot = nb_from_array((float[]){0, 0, 1, 1, 0, 0}, NB_SHAPE(2, 3));
    NB_ASSERT_CLOSE(nb_item(nb_categorical_hinge_loss(p, onehot)), 0.2, 1e-6);
    nb_tensor *pr = nb_from_array((float[]){0.2f, 0.3f, 0.5f, 0.6f, 0.3f, 0.1f}, NB_SHAPE(2, 3));
    nb_tensor *tr = nb_from_array((float[]){0.1f, 0.1f, 0.8f, 0.5f, 0.5f, 0}, NB_SHAPE(2, 3));
    NB_ASSERT_CLOSE(nb_item(nb_kl_divergence_loss(pr, tr)), 0.18053880, 1e-6);
    nb_tensor *rate = nb_from_array((float[]){0.5f, 1.5f, 3, 0.2f, 2, 1}, NB_SHAPE(2, 3));
    nb_tensor *counts = nb_from_array((float[]){0, 2, 3, 1, 1, 0}, NB_SHAPE(2, 3));
    NB_ASSERT_CLOSE(nb_item(nb_poisson_loss(rate, counts)), 0.83492048, 1e-6);
    /* by Keras's names, and log cosh of a large error without overflow: e - log 2 */
    NB_ASSERT_CLOSE(nb_item(nb_loss_by_name("huber", p, t)), 0.55833333, 1e-6);
    NB_ASSERT_CLOSE(nb_item(nb_loss_by_name("kld", pr, tr)), 0.18053880, 1e-6);
    NB_ASSERT_CLOSE(nb_item(nb_loss_by_name("categorical_hinge", p, onehot)), 0.2, 1e-6);
    nb_tensor *big = nb_from_array((float[]){1000}, NB_SHAPE(1));
    NB_ASSERT_CLOSE(nb_item(nb_log_cosh_loss(big, nb_zeros(NB_SHAPE(1)))), 999.306853, 1e-3);
}
END_TEST

typedef struct {
    nb_tensor *(*fn)(nb_tensor *, nb_tensor *);
    bool on_softmax;
} keras_loss;

static nb_tensor *apply_keras_loss(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const keras_loss *k = ctx;
    return k->fn(k->on_softmax ? nb_softmax(x[0], 1) : x[0], x[1]);
}

static nb_tensor *huber_half(nb_tensor *p, nb_tensor *t) {
    return nb_huber_loss(p, t, 0.5f);
}

START_TEST(test_keras_losses_pass_gradcheck) {
    /* errors kept away from the kinks (huber's |e| = delta, hinge's margin 1): a central
     * difference across a kink is not a derivative */
    nb_tensor *p = nb_set_requires_grad(
        nb_from_array((float[]){0.2f, -1.9f, 3, 0.7f, 0.1f, -0.4f, 1.3f, -0.1f, 0.45f},
                      NB_SHAPE(3, 3)),
        true);
    nb_tensor *t = nb_set_requires_grad(
        nb_from_array((float[]){0.5f, -0.5f, 0.5f, 2, 0.3f, -0.2f, 0.6f, 0.4f, 0.3f},
                      NB_SHAPE(3, 3)),
        true);
    nb_tensor *signs = nb_from_array((float[]){1, -1, 1, -1, -1, 1, 1, 1, -1}, NB_SHAPE(3, 3));
    nb_tensor *onehot = nb_from_array((float[]){0, 0, 1, 1, 0, 0, 0, 1, 0}, NB_SHAPE(3, 3));
    nb_tensor *rate = nb_set_requires_grad(nb_uniform(NB_SHAPE(3, 3), 0.5f, 3), true);
    nb_tensor *soft = nb_set_requires_grad(nb_uniform(NB_SHAPE(3, 3), 0.1f, 0.9f), true);
    struct {
        keras_loss k;
        nb_tensor *a, *b;
    } cases[] = {
        {{nb_mse_loss, false}, p, t}, /* as a control */
        {{huber_half, false}, p, t},
        {{nb_log_cosh_loss, false}, p, t},
        {{nb_hinge_loss, false}, p, signs},
        {{nb_squared_hinge_loss, false}, p, signs},
        {{nb_categorical_hinge_loss, false}, p, onehot},
        {{nb_kl_divergence_loss, true}, p, soft},
        {{nb_poisson_loss, false}, rate, t},
        {{nb_cosine_similarity_loss, false}, p, t},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        NB_ASSERT_GRADCHECK(apply_keras_loss, ((nb_tensor *[]){cases[c].a, cases[c].b}), 2,
                            &cases[c].k, 1e-3, TOL);
}
END_TEST

/* compiled by name, each loss trains: a linear model's loss falls on a fixed batch */
START_TEST(test_a_model_compiled_with_each_keras_loss_trains) {
    const char *names[] = {"huber", "log_cosh",     "poisson", "cosine_similarity",
                           "hinge", "squared_hinge"};
    nb_manual_seed(3);
    nb_tensor *x = nb_uniform(NB_SHAPE(32, 4), 0, 1);
    nb_tensor *y = nb_gt(nb_sum(x, (int[]){1}, 1, true), nb_full(NB_SHAPE(32, 1), 2));
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        nb_model *m = nb_sequential(NB_SHAPE(4));
        ck_assert_int_eq(
            nb_model_add(m, nb_dense(1, !strcmp(names[i], "poisson") ? "softplus" : NULL)), NB_OK);
        ck_assert_msg(nb_model_compile(m, names[i], nb_adam(0.05f, 0.9f, 0.999f, 1e-7f, false),
                                       NULL, 0) == NB_OK,
                      "%s", nb_error());
        double first = 0, last = 0;
        for (int step = 0; step < 40; step++) {
            nb_tensor *loss;
            ck_assert_msg(nb_model_train_on_batch(m, x, y, &loss, NULL) == NB_OK, "%s: %s",
                          names[i], nb_error());
            if (step == 0) first = nb_item(loss);
            last = nb_item(loss);
        }
        ck_assert_msg(last < first - 0.05 * fabs(first), "%s: loss %g -> %g", names[i], first,
                      last);
        nb_model_free(m);
    }
}
END_TEST

START_TEST(test_keras_loss_errors_name_the_function) {
    nb_tensor *p = nb_zeros(NB_SHAPE(2, 3));
    ck_assert_ptr_null(nb_hinge_loss(p, nb_full(NB_SHAPE(2, 3), 0.5f)));
    NB_ASSERT_ERROR_HAS("nb_hinge_loss: targets must be -1 and 1 (or 0 and 1)");
    ck_assert_ptr_null(nb_huber_loss(p, p, 0));
    NB_ASSERT_ERROR_HAS("nb_huber_loss: delta 0 must be a positive number");
    ck_assert_ptr_null(nb_categorical_hinge_loss(nb_zeros(NB_SHAPE(6)), nb_zeros(NB_SHAPE(6))));
    NB_ASSERT_ERROR_HAS("nb_categorical_hinge_loss: predictions and targets must both be [N, K]");
    ck_assert_ptr_null(nb_poisson_loss(p, nb_zeros(NB_SHAPE(3, 2))));
    NB_ASSERT_ERROR_HAS("nb_poisson_loss: predictions [2, 3] and targets [3, 2] differ in shape");
    ck_assert_ptr_null(nb_loss_by_name("hubber", p, p));
    NB_ASSERT_ERROR_HAS("unknown loss 'hubber'; known losses: mse, mae");
}
END_TEST

static Suite *losses_suite(void) {
    Suite *s = suite_create("losses");
    TCase *tc = nb_tcase("values");
    tcase_add_test(tc, test_mse_and_mae_of_known_values);
    tcase_add_test(tc, test_binary_crossentropy_of_known_values);
    tcase_add_test(tc, test_categorical_crossentropies_of_known_values);
    tcase_add_test(tc, test_probability_losses_clip_like_keras);
    tcase_add_test(tc, test_fused_losses_of_known_values);
    tcase_add_test(tc, test_fused_losses_are_finite_for_logits_of_1e4);
    tcase_add_test(tc, test_fused_equals_unfused_on_moderate_logits);
    tcase_add_test(tc, test_keras_losses_of_known_values);
    suite_add_tcase(s, tc);
    tc = nb_tcase("gradients");
    tcase_add_test(tc, test_probability_losses_pass_gradcheck);
    tcase_add_test(tc, test_fused_losses_pass_gradcheck);
    tcase_add_test(tc, test_fused_loss_gradient_scales_with_the_upstream_gradient);
    tcase_add_test(tc, test_keras_losses_pass_gradcheck);
    tcase_add_test(tc, test_a_model_compiled_with_each_keras_loss_trains);
    suite_add_tcase(s, tc);
    tc = nb_tcase("errors");
    tcase_add_test(tc, test_loss_errors_name_the_function_and_shapes);
    tcase_add_test(tc, test_targets_must_match_but_for_a_trailing_axis_of_1);
    tcase_add_test(tc, test_keras_loss_errors_name_the_function);
    suite_add_tcase(s, tc);
    tc = nb_tcase("targets");
    tcase_add_test(tc, test_every_loss_takes_targets_n_for_outputs_n_by_1);
    tcase_add_test(tc, test_from_logits_equals_the_probability_form_on_softmax_and_sigmoid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(losses_suite());
}
