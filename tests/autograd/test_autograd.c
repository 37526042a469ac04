/* autograd/: backward, accumulation, retain_graph, grad mode, custom ops,
 * and the course's first examples computed with the tape. */
#include "nb_test.h"

#include "ops/op.h" /* the recording hooks (core/hooks.h) and the node they are shown */

START_TEST(test_sigmoid_slope_at_zero_is_a_quarter) {
    /* sigmoid'(x) = s(x) (1 - s(x)); s(0) = 1/2, so the slope is 1/4 */
    nb_tensor *x = nb_set_requires_grad(nb_scalar(0), true);
    nb_tensor *y = nb_sigmoid(x);
    NB_ASSERT_CLOSE(nb_item(y), 0.5, 1e-7);
    ck_assert_int_eq(nb_backward(y), NB_OK);
    NB_ASSERT_CLOSE(nb_item(nb_grad(x)), 0.25, 1e-7);
}
END_TEST

START_TEST(test_neuron_gradients_match_hand_computation) {
    /* y = sigmoid(x @ w + b) with x = [1, 2], w = [0.5, -0.3], b = 0.1: z = 0, y = 0.5 */
    nb_tensor *x = nb_from_array((float[]){1, 2}, NB_SHAPE(1, 2));
    nb_tensor *w =
        nb_set_requires_grad(nb_from_array((float[]){0.5f, -0.3f}, NB_SHAPE(2, 1)), true);
    nb_tensor *b = nb_set_requires_grad(nb_scalar(0.1f), true);
    nb_tensor *y = nb_sigmoid(nb_add(nb_matmul(x, w), b));
    NB_ASSERT_CLOSE(nb_item(y), 0.5, 1e-6);
    ck_assert_int_eq(nb_backward(y), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(w), ((float[]){0.25f, 0.5f}), 2, 1e-6); /* y(1-y) x */
    NB_ASSERT_CLOSE(nb_item(nb_grad(b)), 0.25, 1e-6);                /* y(1-y) */
    ck_assert_ptr_null(nb_grad(x));                                  /* x needs none */
}
END_TEST

START_TEST(test_batched_neuron_gradients_sum_over_the_batch) {
    /* two rows: z = x @ w + b = [0, 0.4]; loss = mean(sigmoid(z)).
     * dloss/dz_i = s_i (1 - s_i) / 2; dw = sum_i x_i dz_i; db = sum_i dz_i */
    nb_tensor *x = nb_from_array((float[]){1, 2, 0, -1}, NB_SHAPE(2, 2));
    nb_tensor *w =
        nb_set_requires_grad(nb_from_array((float[]){0.5f, -0.3f}, NB_SHAPE(2, 1)), true);
    nb_tensor *b = nb_set_requires_grad(nb_from_array((float[]){0.1f}, NB_SHAPE(1)), true);
    nb_tensor *loss = nb_mean_all(nb_sigmoid(nb_add(nb_matmul(x, w), b)));
    ck_assert_int_eq(nb_backward(loss), NB_OK);
    double s0 = 0.5, s1 = 1 / (1 + exp(-0.4));
    double dz0 = s0 * (1 - s0) / 2, dz1 = s1 * (1 - s1) / 2;
    NB_ASSERT_CLOSE(nb_item(loss), (s0 + s1) / 2, 1e-6);
    double dw[] = {1 * dz0 + 0 * dz1, 2 * dz0 - 1 * dz1};
    NB_ASSERT_TENSOR(nb_grad(w), dw, 2, 1e-6);
    NB_ASSERT_CLOSE(nb_item(nb_grad(b)), dz0 + dz1, 1e-6);
}
END_TEST

START_TEST(test_gradients_accumulate_until_zeroed) {
    nb_tensor *x = nb_set_requires_grad(nb_from_array((float[]){3}, NB_SHAPE(1)), true);
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(x, x))), NB_OK);
    NB_ASSERT_CLOSE(nb_item(nb_grad(x)), 6, 0); /* a tensor used twice: 2x */
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(x, x))), NB_OK);
    NB_ASSERT_CLOSE(nb_item(nb_grad(x)), 12, 0);
    nb_zero_grad(x);
    ck_assert_ptr_null(nb_grad(x));
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul_scalar(x, 5))), NB_OK);
    NB_ASSERT_CLOSE(nb_item(nb_grad(x)), 5, 0);
}
END_TEST

START_TEST(test_second_backward_needs_retain_graph) {
    nb_tensor *x = nb_set_requires_grad(nb_scalar(2), true);
    nb_tensor *y = nb_exp(x);
    ck_assert_int_eq(nb_backward(y), NB_OK);
    ck_assert_int_ne(nb_backward(y), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_backward: the graph through op 'exp' was already used by a backward "
                        "pass; pass retain_graph");
    nb_tensor *z = nb_exp(x);
    nb_zero_grad(x);
    ck_assert_int_eq(nb_backward_ex(z, NULL, true), NB_OK);
    ck_assert_int_eq(nb_backward_ex(z, NULL, true), NB_OK);
    NB_ASSERT_CLOSE(nb_item(nb_grad(x)), 2 * exp(2.0), 1e-6);
}
END_TEST

START_TEST(test_no_grad_region_records_nothing) {
    nb_tensor *w = nb_set_requires_grad(nb_ones(NB_SHAPE(3)), true);
    int64_t before = nb_tape_size();
    nb_no_grad_begin();
    nb_tensor *y = nb_tanh(nb_mul(w, w));
    ck_assert(!nb_grad_enabled());
    nb_no_grad_end();
    ck_assert(nb_grad_enabled());
    ck_assert_int_eq(nb_tape_size(), before);
    ck_assert(!nb_requires_grad(y));
    nb_no_grad_begin(); /* regions nest: grad comes back with the outermost end */
    nb_no_grad_begin();
    nb_no_grad_end();
    ck_assert(!nb_grad_enabled());
    nb_no_grad_end();
    ck_assert(nb_grad_enabled());
    ck_assert_int_ne(nb_backward(nb_sum_all(y)), NB_OK);
    NB_ASSERT_ERROR_HAS("does not require grad");
    bool was = nb_set_grad_enabled(false);
    ck_assert(was);
    ck_assert(!nb_requires_grad(nb_exp(w)));
    nb_set_grad_enabled(true);
    ck_assert(nb_requires_grad(nb_exp(w)));
}
END_TEST

START_TEST(test_detach_cuts_the_graph) {
    nb_tensor *x = nb_set_requires_grad(nb_scalar(3), true);
    nb_tensor *y = nb_mul(x, x);
    nb_tensor *d = nb_detach(y);
    ck_assert(!nb_requires_grad(d) && nb_is_leaf(d));
    ck_assert(nb_shares_storage(d, y));
    /* z = y * detach(y): only the first factor carries a gradient, 2x * y = 54 */
    ck_assert_int_eq(nb_backward(nb_mul(y, d)), NB_OK);
    NB_ASSERT_CLOSE(nb_item(nb_grad(x)), 54, 0);
}
END_TEST

START_TEST(test_non_scalar_backward_needs_a_seed) {
    nb_tensor *x = nb_set_requires_grad(nb_from_array((float[]){1, 2}, NB_SHAPE(2)), true);
    nb_tensor *y = nb_mul_scalar(x, 3);
    ck_assert_int_ne(nb_backward(y), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_backward: tensor of shape [2] is not a scalar; pass a seed gradient");
    nb_tensor *seed = nb_from_array((float[]){1, 10}, NB_SHAPE(2));
    ck_assert_int_eq(nb_backward_ex(y, seed, false), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(x), ((float[]){3, 30}), 2, 0);
    ck_assert_int_ne(nb_backward_ex(nb_mul_scalar(x, 2), nb_ones(NB_SHAPE(3)), false), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_backward: seed gradient has shape [3], tensor has [2]");
}
END_TEST

START_TEST(test_requires_grad_only_on_leaves) {
    nb_tensor *x = nb_set_requires_grad(nb_ones(NB_SHAPE(2)), true);
    nb_tensor *y = nb_exp(x);
    ck_assert_ptr_null(nb_set_requires_grad(y, false));
    NB_ASSERT_ERROR_HAS("nb_set_requires_grad: tensor [2] is the result of op 'exp'");
}
END_TEST

/* ---- custom ops: a user-defined square with its own backward --------------------------- */
static nb_tensor *square_forward(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    return nb_mul(x[0], x[0]);
}

static nb_status square_backward(nb_tensor *const *x, int n, nb_tensor *y, nb_tensor *gy,
                                 nb_tensor **gx, void *ctx) {
    (void)n;
    (void)y;
    (void)ctx;
    gx[0] = nb_mul(gy, nb_mul_scalar(x[0], 2)); /* d(x^2) = 2x */
    return gx[0] ? NB_OK : NB_ERR_NULL;
}

static nb_tensor *apply_custom(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    return nb_tanh(nb_custom_op("square", x, 1, square_forward, square_backward, NULL));
}

START_TEST(test_custom_op_is_a_tape_node_with_checked_gradient) {
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(3, 2)), true);
    int64_t before = nb_tape_size();
    nb_tensor *y = nb_custom_op("square", &x, 1, square_forward, square_backward, NULL);
    ck_assert(nb_requires_grad(y) && !nb_is_leaf(y));
    ck_assert_int_eq(nb_tape_size(), before + 1); /* one node, not the callback's own ops */
    ck_assert_int_eq(nb_backward(nb_sum_all(y)), NB_OK);
    for (int i = 0; i < 6; i++) /* d(sum x^2)/dx = 2x, through our backward callback */
        NB_ASSERT_CLOSE(nb_get_flat(nb_grad(x), i), 2 * nb_get_flat(x, i), 1e-6);
    nb_zero_grad(x);
    NB_ASSERT_GRADCHECK(apply_custom, &x, 1, NULL, 1e-2, 1e-2);
    ck_assert_ptr_null(nb_custom_op("bad", &x, 1, square_forward, NULL, NULL));
    NB_ASSERT_ERROR_HAS("nb_custom_op 'bad': forward and backward callbacks are both required");
}
END_TEST

static nb_tensor *wrong_gradient(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    return nb_custom_op("square", x, 1, square_forward, square_backward, NULL);
}

static nb_status backward_off_by_one(nb_tensor *const *x, int n, nb_tensor *y, nb_tensor *gy,
                                     nb_tensor **gx, void *ctx) {
    (void)n;
    (void)y;
    (void)ctx;
    gx[0] = nb_mul(gy, nb_add_scalar(nb_mul_scalar(x[0], 2), 1)); /* wrong on purpose */
    return NB_OK;
}

static nb_tensor *apply_wrong(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    return nb_custom_op("wrong", x, 1, square_forward, backward_off_by_one, NULL);
}

START_TEST(test_gradcheck_catches_a_wrong_backward) {
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(4)), true);
    nb_gradcheck_result r;
    ck_assert_int_eq(nb_gradcheck(wrong_gradient, &x, 1, NULL, 1e-2, 1e-2, &r), NB_OK);
    ck_assert(r.ok);
    ck_assert_int_ne(nb_gradcheck(apply_wrong, &x, 1, NULL, 1e-2, 1e-2, &r), NB_OK);
    ck_assert(!r.ok);
    NB_ASSERT_CLOSE(r.analytic - r.numeric, 1.0, 1e-2);
    NB_ASSERT_ERROR_HAS("nb_gradcheck: input 0 element");
}
END_TEST

/* ---- the course: OR gate, then XOR learned by an MLP --------------------------------------- */
START_TEST(test_or_gate_weights_from_the_course) {
    nb_tensor *x = nb_from_array((float[]){0, 0, 1, 0, 0, 1, 1, 1}, NB_SHAPE(4, 2));
    nb_tensor *w = nb_from_array((float[]){1, 1}, NB_SHAPE(2, 1));
    nb_tensor *s = nb_add_scalar(nb_matmul(x, w), -0.5f);
    NB_ASSERT_TENSOR(s, ((float[]){-0.5f, 0.5f, 0.5f, 1.5f}), 4, 0);
    NB_ASSERT_TENSOR(nb_heaviside(s), ((float[]){0, 1, 1, 1}), 4, 0);
}
END_TEST

START_TEST(test_xor_mlp_learns_with_plain_gradient_descent) {
    nb_tensor *x = nb_from_array((float[]){0, 0, 0, 1, 1, 0, 1, 1}, NB_SHAPE(4, 2));
    nb_tensor *y = nb_from_array((float[]){0, 1, 1, 0}, NB_SHAPE(4, 1));
    nb_tensor *w1 = nb_set_requires_grad(nb_randn(NB_SHAPE(2, 4)), true);
    nb_tensor *b1 = nb_set_requires_grad(nb_zeros(NB_SHAPE(4)), true);
    nb_tensor *w2 = nb_set_requires_grad(nb_randn(NB_SHAPE(4, 1)), true);
    nb_tensor *b2 = nb_set_requires_grad(nb_zeros(NB_SHAPE(1)), true);
    nb_tensor *params[] = {w1, b1, w2, b2};
    double first = 0, last = 0;
    for (int step = 0; step < 2000; step++) {
        nb_scope_begin();
        nb_tensor *h = nb_tanh(nb_linear(x, w1, b1));
        nb_tensor *p = nb_sigmoid(nb_linear(h, w2, b2));
        nb_tensor *loss = nb_mean_all(nb_square(nb_sub(p, y)));
        ck_assert_int_eq(nb_backward(loss), NB_OK);
        if (step == 0) first = nb_item(loss);
        last = nb_item(loss);
        for (int i = 0; i < 4; i++) { /* w -= 1.0 * dw */
            float *d = nb_data(params[i]), *g = nb_data(nb_grad(params[i]));
            for (int64_t k = 0; k < nb_numel(params[i]); k++) d[k] -= 1.0f * g[k];
            nb_zero_grad(params[i]);
        }
        nb_scope_end();
    }
    ck_assert_msg(last < 0.02 && last < first / 5, "loss went from %g to %g", first, last);
    nb_tensor *p = nb_sigmoid(nb_linear(nb_tanh(nb_linear(x, w1, b1)), w2, b2));
    for (int i = 0; i < 4; i++)
        ck_assert_msg((nb_get_flat(p, i) > 0.5f) == (nb_get_flat(y, i) > 0.5f), "output %d = %g", i,
                      nb_get_flat(p, i));
}
END_TEST

/* ---- anomaly mode -------------------------------------------------------------------- */
START_TEST(test_anomaly_mode_names_the_op_that_made_a_nan_or_inf) {
    nb_tensor *x = nb_set_requires_grad(nb_from_array((float[]){1, 0, 2}, NB_SHAPE(3)), true);
    ck_assert_ptr_nonnull(nb_log(x)); /* off: -inf passes silently */
    ck_assert(!nb_set_anomaly_detection(true));
    nb_name_scope_begin("dense_1");
    ck_assert_ptr_null(nb_log(x));
    nb_name_scope_end();
    ck_assert_str_eq(nb_error(), "nb_log: anomaly: the forward pass produced -inf (element 1 of "
                                 "[3]) in layer 'dense_1'");
    /* sqrt is fine at 0, its derivative 1 / (2 sqrt x) is not */
    nb_name_scope_begin("features");
    nb_tensor *y = nb_sum_all(nb_sqrt(x));
    nb_name_scope_end();
    ck_assert_ptr_nonnull(y);
    ck_assert_int_ne(nb_backward(y), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_backward: anomaly: the backward pass of op 'sqrt' in layer 'features' "
                        "produced inf (element 1 of [3]");
    nb_set_anomaly_detection(false);
}
END_TEST

START_TEST(test_anomaly_mode_stops_a_diverging_training_run) {
    nb_tensor *x = nb_randn(NB_SHAPE(8, 3)), *t = nb_randn(NB_SHAPE(8, 1));
    nb_tensor *w = nb_set_requires_grad(nb_randn(NB_SHAPE(3, 1)), true);
    nb_set_anomaly_detection(true);
    nb_status s = NB_OK;
    int step = 0;
    for (; step < 50 && s == NB_OK; step++) {
        nb_scope_begin();
        nb_name_scope_begin("regression");
        nb_tensor *loss = nb_mean_all(nb_square(nb_sub(nb_matmul(x, w), t)));
        nb_name_scope_end();
        s = loss ? nb_backward(loss) : nb_error_code();
        if (s == NB_OK) {
            float *p = nb_data(w), *g = nb_data(nb_grad(w));
            for (int i = 0; i < 3; i++) p[i] -= 1e18f * g[i]; /* a learning rate of 1e18 */
            nb_zero_grad(w);
        }
        nb_scope_end();
    }
    nb_set_anomaly_detection(false);
    ck_assert_msg(s != NB_OK, "50 steps at lr 1e18 stayed finite");
    NB_ASSERT_ERROR_HAS("anomaly: the ");
    NB_ASSERT_ERROR_HAS("in layer 'regression'");
}
END_TEST

/* What the recording hooks hear: each op by name, each side effect by kind
 * with the tensors it touched. */
typedef struct {
    char ops[256];
    nb_effect effects[8];
    int n_effects;
} heard;

static void hear_op(void *ctx, const nb_node *n) {
    heard *h = ctx;
    size_t len = strlen(h->ops);
    snprintf(h->ops + len, sizeof h->ops - len, "%s%s", len ? " " : "", n->def->name);
}

static void hear_effect(void *ctx, const nb_effect *e) {
    heard *h = ctx;
    if (h->n_effects < 8) h->effects[h->n_effects++] = *e;
}

START_TEST(test_recording_hooks_hear_every_op_and_each_side_effect_by_kind) {
    nb_tensor *x = nb_from_array((float[]){1, 2}, NB_SHAPE(1, 2));
    nb_tensor *w = nb_set_requires_grad(nb_from_array((float[]){3, 4}, NB_SHAPE(2, 1)), true);
    heard h = {0};
    nb_hooks hooks = {hear_op, hear_effect, &h};
    ck_assert_int_eq(nb_hooks_install("test", &hooks), NB_OK);
    nb_tensor *y = nb_sigmoid(nb_matmul(x, w));
    ck_assert_str_eq(h.ops, "matmul sigmoid");
    h.ops[0] = '\0';
    ck_assert_int_eq(nb_backward_opt(y, NULL, &(nb_backward_opts){.retain_graph = true}), NB_OK);
    ck_assert_int_eq(nb_backward(y), NB_OK);
    nb_zero_grad(w);
    nb_optimizer *opt = nb_sgd(0.1f, 0, false, 0);
    nb_optimizer_add_params(opt, &w, 1);
    ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
    nb_hooks_remove(&hooks);
    ck_assert_int_eq(h.n_effects, 4);
    ck_assert_int_eq(h.effects[0].kind, NB_EFFECT_SET_GRAD); /* the first backward */
    ck_assert_int_eq(h.effects[1].kind, NB_EFFECT_ACCUMULATE_GRAD);
    ck_assert_int_eq(h.effects[2].kind, NB_EFFECT_ZERO_GRAD);
    ck_assert_int_eq(h.effects[3].kind, NB_EFFECT_OPTIMIZER_STEP);
    for (int i = 0; i < 3; i++) ck_assert_ptr_eq(h.effects[i].param, w);
    ck_assert_int_eq(nb_numel(h.effects[0].grad), 2); /* dy/dw, w's shape */
    ck_assert_ptr_null(h.effects[2].grad);
    ck_assert_ptr_eq(h.effects[3].optimizer, opt);
    ck_assert_str_eq(nb_effect_name(h.effects[1].kind), "accumulate_grad");
    /* the backward passes are ops too: sigmoid's backward, then dw = x^T dy, twice */
    const char *backward_ops = "eltwise_backward matmul eltwise_backward matmul";
    ck_assert_str_eq(h.ops, backward_ops);
    nb_tensor *z = nb_relu(x); /* removed: heard no more */
    ck_assert_ptr_nonnull(z);
    ck_assert_str_eq(h.ops, backward_ops);
    nb_optimizer_free(opt);
}
END_TEST

static Suite *autograd_suite(void) {
    Suite *s = suite_create("autograd");
    TCase *tc = nb_tcase("backward");
    tcase_add_test(tc, test_sigmoid_slope_at_zero_is_a_quarter);
    tcase_add_test(tc, test_neuron_gradients_match_hand_computation);
    tcase_add_test(tc, test_batched_neuron_gradients_sum_over_the_batch);
    tcase_add_test(tc, test_gradients_accumulate_until_zeroed);
    tcase_add_test(tc, test_second_backward_needs_retain_graph);
    tcase_add_test(tc, test_no_grad_region_records_nothing);
    tcase_add_test(tc, test_detach_cuts_the_graph);
    tcase_add_test(tc, test_non_scalar_backward_needs_a_seed);
    tcase_add_test(tc, test_requires_grad_only_on_leaves);
    tcase_add_test(tc, test_recording_hooks_hear_every_op_and_each_side_effect_by_kind);
    suite_add_tcase(s, tc);
    tc = nb_tcase("custom");
    tcase_add_test(tc, test_custom_op_is_a_tape_node_with_checked_gradient);
    tcase_add_test(tc, test_gradcheck_catches_a_wrong_backward);
    suite_add_tcase(s, tc);
    tc = nb_tcase("anomaly");
    tcase_add_test(tc, test_anomaly_mode_names_the_op_that_made_a_nan_or_inf);
    tcase_add_test(tc, test_anomaly_mode_stops_a_diverging_training_run);
    suite_add_tcase(s, tc);
    tc = nb_tcase("course");
    tcase_add_test(tc, test_or_gate_weights_from_the_course);
    tcase_add_test(tc, test_xor_mlp_learns_with_plain_gradient_descent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(autograd_suite());
}
