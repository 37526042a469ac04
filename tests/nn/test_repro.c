/* Reproducibility: the same seed gives a bitwise-identical training run on
 * one thread; with two threads results stay within a stated tolerance. */
#include "nb_test.h"

/* A small CNN trained for 20 steps on random data with plain SGD; returns
 * the losses and copies the final weights out. */
#define STEPS 20

static void train(uint64_t seed, int threads, float *losses, float *weights, int64_t n_weights) {
    nb_set_num_threads(threads);
    nb_manual_seed(seed);
    nb_tensor *x = nb_randn(NB_SHAPE(16, 1, 12, 12)), *y = nb_one_hot(nb_arange(0, 16, 1), 16);
    y = nb_reshape(y, NB_SHAPE(16, 16));
    nb_tensor *p[] = {
        nb_set_requires_grad(nb_normal(NB_SHAPE(8, 1, 3, 3), 0, 0.3f), true),
        nb_set_requires_grad(nb_zeros(NB_SHAPE(8)), true),
        nb_set_requires_grad(nb_normal(NB_SHAPE(8 * 5 * 5, 16), 0, 0.1f), true),
        nb_set_requires_grad(nb_zeros(NB_SHAPE(16)), true),
    };
    nb_conv2d_opts o = {.padding = NB_PAD_VALID};
    for (int step = 0; step < STEPS; step++) {
        nb_scope_begin();
        nb_tensor *h = nb_max_pool2d(nb_relu(nb_conv2d(x, p[0], p[1], &o)), 2, 2, 0, 0, 0, 0);
        h = nb_dropout(nb_flatten(h), 0.2f, true);
        nb_tensor *logits = nb_linear(h, p[2], p[3]);
        nb_tensor *loss =
            nb_neg(nb_mean_all(nb_sum(nb_mul(nb_log_softmax(logits, 1), y), (int[]){1}, 1, false)));
        ck_assert_int_eq(nb_backward(loss), NB_OK);
        losses[step] = nb_item(loss);
        for (int i = 0; i < 4; i++) {
            float *w = nb_data(p[i]), *g = nb_data(nb_grad(p[i]));
            for (int64_t k = 0; k < nb_numel(p[i]); k++) w[k] -= 0.1f * g[k];
            nb_zero_grad(p[i]);
        }
        nb_scope_end();
    }
    int64_t at = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(nb_copy_to(p[i], weights + at, nb_numel(p[i])), NB_OK);
        at += nb_numel(p[i]);
    }
    ck_assert_int_eq(at, n_weights);
    for (int i = 0; i < 4; i++) nb_free(p[i]);
}

#define N_WEIGHTS (8 * 9 + 8 + 200 * 16 + 16)

START_TEST(test_same_seed_one_thread_is_bitwise_identical) {
    static float l1[STEPS], l2[STEPS], w1[N_WEIGHTS], w2[N_WEIGHTS];
    train(7, 1, l1, w1, N_WEIGHTS);
    nb_shutdown(); /* a fresh start: new primitives, empty pools */
    train(7, 1, l2, w2, N_WEIGHTS);
    ck_assert_msg(l1[STEPS - 1] < l1[0], "loss %g -> %g did not fall", l1[0], l1[STEPS - 1]);
    ck_assert(!memcmp(l1, l2, sizeof l1));
    ck_assert(!memcmp(w1, w2, sizeof w1));
    float l3[STEPS];
    static float w3[N_WEIGHTS];
    train(8, 1, l3, w3, N_WEIGHTS);
    ck_assert(memcmp(w1, w3, sizeof w1) != 0); /* another seed, another run */
}
END_TEST

/* Two threads may split sums differently; README states the tolerance. */
START_TEST(test_two_threads_stay_within_1e_5_of_one_thread) {
    static float l1[STEPS], l2[STEPS], w1[N_WEIGHTS], w2[N_WEIGHTS];
    train(7, 1, l1, w1, N_WEIGHTS);
    nb_shutdown();
    train(7, 2, l2, w2, N_WEIGHTS);
    double worst = 0;
    for (int i = 0; i < N_WEIGHTS; i++) worst = fmax(worst, fabs((double)w1[i] - w2[i]));
    for (int i = 0; i < STEPS; i++) worst = fmax(worst, fabs((double)l1[i] - l2[i]));
    ck_assert_msg(worst <= 1e-5, "1 vs 2 threads differ by %g", worst);
}
END_TEST

START_TEST(test_rng_state_resumes_the_same_stream) {
    nb_manual_seed(3);
    nb_rand(NB_SHAPE(5));
    uint64_t state = nb_rng_get_state();
    float a = nb_rng_uniform(), b = nb_rng_uniform();
    nb_manual_seed(99);
    nb_rng_set_state(state);
    ck_assert(nb_rng_uniform() == a && nb_rng_uniform() == b);
}
END_TEST

static Suite *repro_suite(void) {
    Suite *s = suite_create("repro");
    TCase *tc = nb_tcase("repro");
    tcase_add_test(tc, test_same_seed_one_thread_is_bitwise_identical);
    tcase_add_test(tc, test_two_threads_stay_within_1e_5_of_one_thread);
    tcase_add_test(tc, test_rng_state_resumes_the_same_stream);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(repro_suite());
}
