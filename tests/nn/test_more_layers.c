/* The layers of nn/layers_more.c: known outputs, gradients checked against central
 * differences, model files that give back the same predictions bit for bit, and bad
 * arguments refused with errors naming the constructor. */
#include "nb_test.h"

#include "nabla/graph.h"
#include "nabla/safetensors.h"

#include <stdio.h>
#include <unistd.h>

#define CHECK(call) ck_assert_msg((call) == NB_OK, "%s: %s", #call, nb_error())

static nb_tensor *counting(const int64_t *shape, int ndim, float scale) {
    nb_tensor *t = nb_zeros(shape, ndim);
    float *d = nb_data(t);
    for (int64_t i = 0; i < nb_numel(t); i++) d[i] = scale * (float)((i * 7) % 11) - 2.0f;
    return t;
}

static nb_model *one_layer(const int64_t *shape, int ndim, nb_layer *l) {
    nb_model *m = nb_sequential(shape, ndim);
    CHECK(nb_model_add(m, l));
    return m;
}

static void assert_dims(const nb_tensor *y, const int64_t *want, int ndim) {
    ck_assert_msg(y, "%s", nb_error());
    ck_assert_int_eq(nb_ndim(y), ndim);
    for (int i = 0; i < ndim; i++) ck_assert_int_eq(nb_shape(y)[i], want[i]);
}

START_TEST(test_global_pools_give_each_channels_mean_and_max) {
    nb_tensor *x = counting(NB_SHAPE(2, 3, 2, 2), 1.0f);
    nb_model *avg = one_layer(NB_SHAPE(3, 2, 2), nb_global_avg_pool2d_layer());
    nb_model *max = one_layer(NB_SHAPE(3, 2, 2), nb_global_max_pool2d_layer());
    nb_tensor *a = nb_model_forward(avg, x, false), *b = nb_model_forward(max, x, false);
    assert_dims(a, NB_SHAPE(2, 3));
    assert_dims(b, NB_SHAPE(2, 3));
    const float *d = nb_data(x);
    for (int nc = 0; nc < 6; nc++) {
        double sum = 0, top = -1e9;
        for (int k = 0; k < 4; k++) sum += d[nc * 4 + k], top = fmax(top, d[nc * 4 + k]);
        NB_ASSERT_CLOSE(nb_get_flat(a, nc), sum / 4, 1e-6);
        ck_assert_float_eq(nb_get_flat(b, nc), (float)top);
    }
    nb_model *flat = nb_sequential(NB_SHAPE(12));
    ck_assert_int_ne(nb_model_add(flat, nb_global_max_pool2d_layer()), NB_OK);
    NB_ASSERT_ERROR_HAS("GlobalMaxPooling2D needs images (None, channels, height, width)");
    nb_model_free(avg);
    nb_model_free(max);
    nb_model_free(flat);
}
END_TEST

START_TEST(test_reshape_infers_its_minus_one_and_permute_moves_axes_after_the_batch) {
    nb_tensor *x = counting(NB_SHAPE(2, 2, 6), 1.0f);
    nb_model *r = one_layer(NB_SHAPE(2, 6), nb_reshape_layer(NB_SHAPE(3, -1)));
    int64_t out[NB_MAX_DIMS];
    ck_assert_int_eq(nb_layer_output_shape(nb_model_layer(r, 0), out), 2);
    ck_assert_int_eq(out[0], 3);
    ck_assert_int_eq(out[1], 4);
    nb_tensor *y = nb_model_forward(r, x, false);
    assert_dims(y, NB_SHAPE(2, 3, 4));
    for (int64_t i = 0; i < 24; i++) ck_assert_float_eq(nb_get_flat(y, i), nb_get_flat(x, i));
    nb_model *p = one_layer(NB_SHAPE(2, 6), nb_permute_layer((int[]){2, 1}, 2));
    nb_tensor *z = nb_model_forward(p, x, false);
    assert_dims(z, NB_SHAPE(2, 6, 2));
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 6; j++)
                ck_assert_float_eq(nb_get_flat(z, n * 12 + j * 2 + i),
                                   nb_get_flat(x, n * 12 + i * 6 + j));
    nb_model *bad = nb_sequential(NB_SHAPE(2, 6));
    ck_assert_int_ne(nb_model_add(bad, nb_reshape_layer(NB_SHAPE(5, -1))), NB_OK);
    NB_ASSERT_ERROR_HAS("Reshape's target shape has 5 values times the -1 where the input");
    ck_assert_ptr_null(nb_reshape_layer(NB_SHAPE(-1, -1)));
    NB_ASSERT_ERROR_HAS("nb_reshape_layer: target shape dim 1 is -1");
    ck_assert_ptr_null(nb_reshape_layer(NB_SHAPE(0)));
    NB_ASSERT_ERROR_HAS("nb_reshape_layer: target shape dim 0 is 0");
    ck_assert_ptr_null(nb_permute_layer((int[]){0, 1}, 2));
    NB_ASSERT_ERROR_HAS("nb_permute_layer: dims must be a permutation of 1..2");
    ck_assert_ptr_null(nb_permute_layer((int[]){2, 2}, 2));
    NB_ASSERT_ERROR_HAS("nb_permute_layer: dims must be a permutation of 1..2");
    nb_model_free(r);
    nb_model_free(p);
    nb_model_free(bad);
}
END_TEST

/* sum(forward(x) * weights): a loss whose gradient is not zero by symmetry */
typedef struct {
    nb_model *m;
    nb_tensor *weights;
    bool training;
} weighted;

static nb_tensor *weighted_forward(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    weighted *w = ctx;
    return nb_mul(nb_model_forward(w->m, x[0], w->training), w->weights);
}

START_TEST(test_layer_norm_normalizes_the_last_axis_and_its_gradients_check) {
    nb_model *m = one_layer(NB_SHAPE(2, 4), nb_layer_norm_layer(0, true, true));
    ck_assert_int_eq(nb_model_param_count(m), 8);
    nb_tensor *x = nb_from_array((float[]){1, 2, 3, 4, -1, 0, 0, 5}, NB_SHAPE(1, 2, 4));
    nb_tensor *y = nb_model_forward(m, x, false);
    double s1 = sqrt(1.25 + 1e-3), s2 = sqrt(5.5 + 1e-3); /* var of 1..4; of -1, 0, 0, 5 */
    double want[8] = {-1.5 / s1, -0.5 / s1, 0.5 / s1, 1.5 / s1, -2 / s2, -1 / s2, -1 / s2, 4 / s2};
    NB_ASSERT_TENSOR(y, want, 8, 1e-5);
    nb_tensor **params;
    ck_assert_int_eq(nb_model_parameters(m, &params), 2);
    float *gamma = nb_data(params[0]), *beta = nb_data(params[1]);
    for (int i = 0; i < 4; i++)
        gamma[i] = 0.5f + 0.25f * (float)i, beta[i] = 0.1f * (float)i - 0.2f;
    y = nb_model_forward(m, x, false);
    for (int i = 0; i < 8; i++)
        NB_ASSERT_CLOSE(nb_get_flat(y, i), want[i] * gamma[i % 4] + beta[i % 4], 1e-5);
    nb_tensor *xg = nb_set_requires_grad(counting(NB_SHAPE(3, 2, 4), 0.37f), true);
    weighted w = {m, counting(NB_SHAPE(3, 2, 4), 0.21f), false};
    nb_tensor *inputs[3] = {xg, params[0], params[1]};
    NB_ASSERT_GRADCHECK(weighted_forward, inputs, 3, &w, 1e-3, 1e-2);
    nb_model *bare = one_layer(NB_SHAPE(4), nb_layer_norm_layer(1e-5f, false, false));
    ck_assert_int_eq(nb_model_param_count(bare), 0);
    ck_assert_ptr_null(nb_layer_norm_layer(-1, true, true));
    NB_ASSERT_ERROR_HAS("nb_layer_norm_layer: eps -1 must be > 0");
    nb_model_free(m);
    nb_model_free(bare);
}
END_TEST

START_TEST(test_gaussian_noise_adds_noise_of_its_deviation_in_training_only) {
    nb_manual_seed(7);
    nb_model *m = one_layer(NB_SHAPE(100), nb_gaussian_noise_layer(0.5f));
    nb_tensor *x = counting(NB_SHAPE(200, 100), 1.0f);
    nb_tensor *same = nb_model_forward(m, x, false);
    for (int64_t i = 0; i < nb_numel(x); i++)
        ck_assert_float_eq(nb_get_flat(same, i), nb_get_flat(x, i));
    nb_tensor *noisy = nb_model_forward(m, x, true);
    double sum = 0, sum2 = 0, n = (double)nb_numel(x);
    for (int64_t i = 0; i < nb_numel(x); i++) {
        double e = nb_get_flat(noisy, i) - nb_get_flat(x, i);
        sum += e, sum2 += e * e;
    }
    double mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
    ck_assert_msg(fabs(mean) < 0.02 && fabs(sd - 0.5) < 0.02, "noise mean %g, deviation %g", mean,
                  sd);
    ck_assert_ptr_null(nb_gaussian_noise_layer(-0.1f));
    NB_ASSERT_ERROR_HAS("nb_gaussian_noise_layer: stddev -0.1 must be >= 0");
    nb_model_free(m);
}
END_TEST

static nb_status noisy_step(void *ctx, nb_tensor *const *in, int n, nb_tensor **out, int *n_out) {
    (void)n;
    *out = nb_model_forward(ctx, in[0], true);
    *n_out = 1;
    return *out ? NB_OK : NB_ERR_STATE;
}

/* a traced (graph) step, as fit runs it, draws new noise on every replay */
START_TEST(test_gaussian_noise_draws_anew_in_each_replay_of_a_traced_step) {
    nb_model *m = one_layer(NB_SHAPE(50), nb_gaussian_noise_layer(1.0f));
    nb_tensor *x = nb_zeros(NB_SHAPE(4, 50)), *y[2], *out;
    nb_graph *g = nb_trace(noisy_step, m, &x, 1);
    ck_assert_msg(g, "%s", nb_error());
    float first[200];
    for (int run = 0; run < 2; run++) {
        CHECK(nb_graph_run(g, &x, 1, &out));
        y[run] = out;
        if (run == 0)
            for (int i = 0; i < 200; i++) first[i] = nb_get_flat(out, i);
    }
    int same = 0;
    for (int i = 0; i < 200; i++) same += first[i] == nb_get_flat(y[1], i);
    ck_assert_msg(same == 0, "%d of 200 noise values repeated in the replay", same);
    nb_graph_free(g);
    nb_model_free(m);
}
END_TEST

START_TEST(test_zero_padding_puts_zeros_on_each_side_and_passes_gradients_through) {
    nb_model *m = one_layer(NB_SHAPE(1, 2, 2), nb_zero_padding2d_layer_ex(1, 0, 2, 1));
    nb_tensor *x = nb_from_array((float[]){1, 2, 3, 4}, NB_SHAPE(1, 1, 2, 2));
    nb_tensor *y = nb_model_forward(m, x, false);
    assert_dims(y, NB_SHAPE(1, 1, 3, 5));
    double want[15] = {0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 3, 4, 0};
    NB_ASSERT_TENSOR(y, want, 15, 0);
    nb_model *sym = one_layer(NB_SHAPE(2, 3, 3), nb_zero_padding2d_layer(1, 2));
    nb_tensor *xg = nb_set_requires_grad(counting(NB_SHAPE(2, 2, 3, 3), 0.3f), true);
    weighted w = {sym, counting(NB_SHAPE(2, 2, 5, 7), 0.1f), false};
    NB_ASSERT_GRADCHECK(weighted_forward, &xg, 1, &w, 1e-3, 1e-2);
    ck_assert_ptr_null(nb_zero_padding2d_layer(-1, 0));
    NB_ASSERT_ERROR_HAS("nb_zero_padding2d_layer: padding top -1");
    nb_model_free(m);
    nb_model_free(sym);
}
END_TEST

static nb_tensor *gather_fn(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    weighted *w = ctx;
    return nb_mul(
        nb_gather(x[0], w->weights),
        nb_from_array((float[]){1, -2, 3, 0.5f, 4, -1, 2, 1, -3, 1, 1, 2}, NB_SHAPE(2, 2, 3)));
}

static nb_tensor *scatter_fn(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    weighted *w = ctx;
    return nb_mul(nb_scatter_add(x[0], w->weights, 4), counting(NB_SHAPE(4, 3), 0.5f));
}

START_TEST(test_embedding_looks_up_rows_and_its_gather_scatters_gradients_back) {
    nb_model *m = one_layer(NB_SHAPE(3), nb_embedding_layer(5, 2));
    ck_assert_int_eq(nb_model_param_count(m), 10);
    nb_tensor **params;
    ck_assert_int_eq(nb_model_parameters(m, &params), 1);
    float *table = nb_data(params[0]);
    for (int i = 0; i < 10; i++) {
        ck_assert(fabsf(table[i]) <= 0.05f);      /* Keras's uniform(-0.05, 0.05) */
        table[i] = (float)(10 * (i / 2) + i % 2); /* row r: (10 r, 10 r + 1) */
    }
    nb_tensor *x = nb_from_array((float[]){4, 0, 4, 2, 2, 1}, NB_SHAPE(2, 3));
    nb_tensor *y = nb_model_forward(m, x, false);
    int64_t shape[NB_MAX_DIMS];
    ck_assert_int_eq(nb_layer_output_shape(nb_model_layer(m, 0), shape), 2);
    ck_assert_int_eq(shape[1], 2);
    double want[12] = {40, 41, 0, 1, 40, 41, 20, 21, 20, 21, 10, 11};
    NB_ASSERT_TENSOR(y, want, 12, 0);
    /* d sum(y) / d table counts each row's uses: row 4 twice, row 2 twice, row 3 never */
    CHECK(nb_backward(nb_sum_all(nb_model_forward(m, x, true))));
    double uses[10] = {1, 1, 1, 1, 2, 2, 0, 0, 2, 2};
    NB_ASSERT_TENSOR(nb_grad(params[0]), uses, 10, 0);
    /* the ops: repeated indices, gradients of both checked by central differences */
    nb_tensor *idx = nb_from_array((float[]){3, 1, 3, 0}, NB_SHAPE(2, 2));
    weighted w = {NULL, idx, false};
    nb_tensor *t = nb_set_requires_grad(counting(NB_SHAPE(4, 3), 0.3f), true);
    NB_ASSERT_GRADCHECK(gather_fn, &t, 1, &w, 1e-3, 1e-2);
    nb_tensor *rows = nb_set_requires_grad(counting(NB_SHAPE(2, 2, 3), 0.4f), true);
    NB_ASSERT_GRADCHECK(scatter_fn, &rows, 1, &w, 1e-3, 1e-2);
    /* an index out of range, or not an integer: named with its position */
    ck_assert_ptr_null(
        nb_model_forward(m, nb_from_array((float[]){0, 1, 2, 3, 5, 1}, NB_SHAPE(2, 3)), false));
    NB_ASSERT_ERROR_HAS("nb_gather: index 5 at position [1, 1] of the indices [2, 3] is not an "
                        "integer in [0, 5)");
    ck_assert_ptr_null(nb_gather(t, nb_from_array((float[]){0.5f}, NB_SHAPE(1))));
    NB_ASSERT_ERROR_HAS("nb_gather: index 0.5 at position [0]");
    ck_assert_ptr_null(nb_embedding_layer(0, 3));
    NB_ASSERT_ERROR_HAS("nb_embedding_layer: input_dim 0 and output_dim 3 must be in [1, 2^31]");
    nb_model_free(m);
}
END_TEST

static void temp_path(char *path) {
    snprintf(path, 40, "/tmp/nabla_layers_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void assert_same_bits(nb_tensor *a, nb_tensor *b) {
    ck_assert_msg(a && b, "%s", nb_error());
    ck_assert_int_eq(nb_numel(a), nb_numel(b));
    for (int64_t i = 0; i < nb_numel(a); i++) {
        float u = nb_get_flat(a, i), v = nb_get_flat(b, i);
        ck_assert_msg(!memcmp(&u, &v, sizeof u), "%lld: %.9g vs %.9g", (long long)i, u, v);
    }
}

/* trained a few steps, saved whole, loaded: the same keys and the same predictions */
static void round_trip(nb_model *m, nb_tensor *x, nb_tensor *y, const char *const *keys,
                       const char *const *values, int n) {
    char path[40];
    temp_path(path);
    CHECK(nb_model_compile(m, "mse", nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false), NULL, 0));
    for (int step = 0; step < 3; step++) CHECK(nb_model_train_on_batch(m, x, y, NULL, NULL));
    CHECK(nb_model_save(m, path));
    nb_safetensors *f = nb_safetensors_read(path);
    ck_assert_msg(f, "%s", nb_error());
    for (int i = 0; i < n; i++) {
        const char *v = nb_safetensors_meta(f, keys[i]);
        ck_assert_msg(v && !strcmp(v, values[i]), "%s is '%s', expected '%s'", keys[i],
                      v ? v : "(none)", values[i]);
    }
    nb_safetensors_free(f);
    nb_model *back = nb_load_model(path);
    ck_assert_msg(back, "%s", nb_error());
    ck_assert_int_eq(nb_model_param_count(back), nb_model_param_count(m));
    assert_same_bits(nb_model_predict(m, x, 4), nb_model_predict(back, x, 4));
    nb_model_free(back);
    unlink(path);
}

START_TEST(test_the_new_layers_survive_a_model_file_bit_for_bit) {
    nb_manual_seed(3);
    nb_model *a = nb_sequential(NB_SHAPE(2, 4, 4));
    CHECK(nb_model_add(a, nb_zero_padding2d_layer_ex(1, 0, 2, 1))); /* (2, 5, 7) */
    CHECK(nb_model_add(a, nb_permute_layer((int[]){1, 3, 2}, 3)));  /* (2, 7, 5) */
    CHECK(nb_model_add(a, nb_gaussian_noise_layer(0.25f)));
    CHECK(nb_model_add(a, nb_layer_norm_layer(1e-5f, true, false)));
    CHECK(nb_model_add(a, nb_global_max_pool2d_layer())); /* (2) */
    CHECK(nb_model_add(a, nb_dense(3, NULL)));
    nb_tensor *xa = counting(NB_SHAPE(8, 2, 4, 4), 0.3f), *ya = counting(NB_SHAPE(8, 3), 0.1f);
    round_trip(a, xa, ya,
               (const char *[]){"layer.0.class", "layer.0.padding", "layer.1.dims",
                                "layer.2.stddev", "layer.3.epsilon", "layer.3.center",
                                "layer.3.scale", "layer.4.class"},
               (const char *[]){"ZeroPadding2D", "[[1, 0], [2, 1]]", "[1, 3, 2]", "0.25", "1e-05",
                                "true", "false", "GlobalMaxPooling2D"},
               8);
    nb_model *b = nb_sequential(NB_SHAPE(24));
    CHECK(nb_model_add(b, nb_reshape_layer(NB_SHAPE(-1, 3, 2)))); /* (4, 3, 2) */
    CHECK(nb_model_add(b, nb_conv2d_layer(2, 2, "relu")));        /* (2, 2, 1) */
    CHECK(nb_model_add(b, nb_global_avg_pool2d_layer()));         /* (2) */
    CHECK(nb_model_add(b, nb_layer_norm_layer(0, true, true)));
    nb_tensor *xb = counting(NB_SHAPE(8, 24), 0.2f), *yb = counting(NB_SHAPE(8, 2), 0.1f);
    round_trip(b, xb, yb,
               (const char *[]){"layer.0.class", "layer.0.target_shape", "layer.2.class",
                                "layer.3.epsilon"},
               (const char *[]){"Reshape", "[4, 3, 2]", "GlobalAveragePooling2D", "0.001"}, 4);
    nb_model *c = nb_sequential(NB_SHAPE(4));
    CHECK(nb_model_add(c, nb_embedding_layer(10, 3))); /* (4, 3) */
    CHECK(nb_model_add(c, nb_flatten_layer()));
    CHECK(nb_model_add(c, nb_dense(2, NULL)));
    nb_tensor *xc = nb_zeros(NB_SHAPE(8, 4));
    for (int i = 0; i < 32; i++) nb_data(xc)[i] = (float)((i * 3) % 10);
    round_trip(c, xc, yb,
               (const char *[]){"layer.0.class", "layer.0.input_dim", "layer.0.output_dim"},
               (const char *[]){"Embedding", "10", "3"}, 3);
    nb_model_free(a);
    nb_model_free(b);
    nb_model_free(c);
}
END_TEST

/* the weight name of file a equal, bit for bit, in file b */
static bool same_weight(const char *a, const char *b, const char *name) {
    nb_safetensors *fa = nb_safetensors_read(a), *fb = nb_safetensors_read(b);
    ck_assert_msg(fa && fb, "%s", nb_error());
    const nb_tensor *ta = NULL, *tb = NULL;
    for (int i = 0; i < nb_safetensors_count(fa); i++)
        if (!strcmp(nb_safetensors_name(fa, i), name)) ta = nb_safetensors_tensor(fa, i);
    for (int i = 0; i < nb_safetensors_count(fb); i++)
        if (!strcmp(nb_safetensors_name(fb, i), name)) tb = nb_safetensors_tensor(fb, i);
    ck_assert_msg(ta && tb && nb_numel(ta) == nb_numel(tb), "no weight %s", name);
    bool same = true;
    for (int64_t i = 0; i < nb_numel(ta); i++) {
        float u = nb_get_flat(ta, i), v = nb_get_flat(tb, i);
        same = same && !memcmp(&u, &v, sizeof u);
    }
    nb_safetensors_free(fa);
    nb_safetensors_free(fb);
    return same;
}

START_TEST(test_a_frozen_layer_keeps_its_weights_counts_as_non_trainable_and_survives_a_file) {
    char start[40], trained[40];
    temp_path(start);
    temp_path(trained);
    nb_model *m = nb_sequential(NB_SHAPE(3));
    nb_layer *first = nb_dense(4, "tanh");
    CHECK(nb_layer_set_trainable(first, false)); /* before adding */
    CHECK(nb_model_add(m, first));
    nb_layer *mid = nb_dense(4, "relu");
    CHECK(nb_model_add(m, mid));
    CHECK(nb_model_add(m, nb_dense(2, NULL)));
    CHECK(nb_layer_set_trainable(mid, false)); /* after adding: the model's parameters again */
    CHECK(nb_layer_set_trainable(mid, true));
    ck_assert_int_eq(nb_model_parameters(m, &(nb_tensor **){NULL}), 4);
    CHECK(nb_layer_set_trainable(mid, false));
    ck_assert(!nb_layer_trainable(first) && !nb_layer_trainable(mid));
    nb_tensor **params;
    ck_assert_int_eq(nb_model_parameters(m, &params), 2); /* the last layer's kernel and bias */
    ck_assert_int_eq(nb_model_param_count(m), 16 + 20 + 10);
    char buf[4096] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    CHECK(nb_model_summary(m, f));
    fclose(f);
    ck_assert_msg(strstr(buf, "Trainable params: 10 ") && strstr(buf, "Non-trainable params: 36 "),
                  "%s", buf);
    CHECK(nb_model_compile(m, "mse", nb_adam(0.05f, 0.9f, 0.999f, 1e-7f, false), NULL, 0));
    ck_assert_int_ne(nb_layer_set_trainable(mid, true), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_layer_set_trainable: layer 'dense_1' is in a compiled model");
    CHECK(nb_model_save_weights(m, start));
    nb_tensor *x = counting(NB_SHAPE(6, 3), 0.3f), *y = counting(NB_SHAPE(6, 2), 0.2f);
    for (int step = 0; step < 5; step++) CHECK(nb_model_train_on_batch(m, x, y, NULL, NULL));
    CHECK(nb_model_save_weights(m, trained));
    ck_assert(same_weight(start, trained, "dense/kernel"));
    ck_assert(same_weight(start, trained, "dense/bias"));
    ck_assert(same_weight(start, trained, "dense_1/kernel"));
    ck_assert(!same_weight(start, trained, "dense_2/kernel")); /* the one trainable layer moved */
    CHECK(nb_model_save(m, trained));
    nb_safetensors *file = nb_safetensors_read(trained);
    ck_assert_str_eq(nb_safetensors_meta(file, "layer.1.trainable"), "false");
    ck_assert_ptr_null(nb_safetensors_meta(file, "layer.2.trainable"));
    nb_safetensors_free(file);
    nb_model *back = nb_load_model(trained);
    ck_assert_msg(back, "%s", nb_error());
    ck_assert_int_eq(nb_model_parameters(back, &params), 2);
    ck_assert(!nb_layer_trainable(nb_model_layer(back, 0)) &&
              nb_layer_trainable(nb_model_layer(back, 2)));
    assert_same_bits(nb_model_predict(m, x, 4), nb_model_predict(back, x, 4));
    ck_assert_int_ne(nb_layer_set_trainable(NULL, true), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_layer_set_trainable: layer is NULL");
    nb_model_free(m);
    nb_model_free(back);
    unlink(start);
    unlink(trained);
}
END_TEST

/* layer.<i>.trainable is true, false or absent; any other value names the key */
START_TEST(test_a_trainable_key_other_than_true_or_false_is_refused) {
    char path[40];
    temp_path(path);
    nb_model *m = one_layer(NB_SHAPE(3), nb_dense(2, NULL));
    nb_tensor **params;
    ck_assert_int_eq(nb_model_parameters(m, &params), 2);
    const char *keys[] = {"format",
                          "content",
                          "model",
                          "model.version",
                          "model.input_shape",
                          "model.layers",
                          "layer.0.class",
                          "layer.0.name",
                          "layer.0.units",
                          "layer.0.use_bias",
                          "layer.0.activation",
                          "layer.0.kernel_initializer",
                          "layer.0.bias_initializer",
                          "layer.0.kernel_regularizer_l1",
                          "layer.0.kernel_regularizer_l2",
                          "layer.0.trainable"};
    const char *values[] = {"nabla", "model", "m",      "1",     "[3]",   "1", "Dense", "dense",
                            "2",     "true",  "linear", "zeros", "zeros", "0", "0",     "false"};
    const char *names[] = {"dense/kernel", "dense/bias"};
    CHECK(nb_safetensors_save(path, names, params, 2, keys, values, 16));
    nb_model *back = nb_load_model(path);
    ck_assert_msg(back, "%s", nb_error());
    ck_assert(!nb_layer_trainable(nb_model_layer(back, 0)));
    nb_model_free(back);
    values[15] = "maybe";
    CHECK(nb_safetensors_save(path, names, params, 2, keys, values, 16));
    ck_assert_ptr_null(nb_load_model(path));
    NB_ASSERT_ERROR_HAS("the key 'layer.0.trainable' is 'maybe', expected true or false");
    nb_model_free(m);
    unlink(path);
}
END_TEST

int main(void) {
    Suite *s = suite_create("more_layers");
    TCase *tc = nb_tcase("more_layers");
    tcase_add_test(tc, test_global_pools_give_each_channels_mean_and_max);
    tcase_add_test(tc, test_reshape_infers_its_minus_one_and_permute_moves_axes_after_the_batch);
    tcase_add_test(tc, test_layer_norm_normalizes_the_last_axis_and_its_gradients_check);
    tcase_add_test(tc, test_gaussian_noise_adds_noise_of_its_deviation_in_training_only);
    tcase_add_test(tc, test_gaussian_noise_draws_anew_in_each_replay_of_a_traced_step);
    tcase_add_test(tc, test_zero_padding_puts_zeros_on_each_side_and_passes_gradients_through);
    tcase_add_test(tc, test_embedding_looks_up_rows_and_its_gather_scatters_gradients_back);
    tcase_add_test(
        tc, test_a_frozen_layer_keeps_its_weights_counts_as_non_trainable_and_survives_a_file);
    tcase_add_test(tc, test_a_trainable_key_other_than_true_or_false_is_refused);
    tcase_add_test(tc, test_the_new_layers_survive_a_model_file_bit_for_bit);
    suite_add_tcase(s, tc);
    return nb_test_run(s);
}
