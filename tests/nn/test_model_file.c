/* Model files (nb_model_save / nb_load_model): a model saved whole comes back from the file
 * alone with the same layers, options, compile settings and weights, and predicts the same
 * numbers bit for bit. A file that is not a model file, or describes a model that cannot be
 * (an unknown layer, absurd sizes, a missing key, layers that do not fit the weights), is an
 * error naming the file and the key, never a crash. */
#include "nb_test.h"

#include <stdio.h>
#include <unistd.h>

static void temp_path(char *path) {
    snprintf(path, 40, "/tmp/nabla_model_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

#define CHECK(call) ck_assert_msg((call) == NB_OK, "%s: %s", #call, nb_error())

/* Every layer kind: Conv2D same with stride 2 and valid with stride (1, 2), BatchNorm on images and
 * features, average and max pooling, Activation, Flatten, Dropout, Dense with and without a bias,
 * non-default initializers, regularizers, names. x: [N, 1, 12, 12] -> [N, 3]. */
static nb_model *every_layer_model(void) {
    nb_model *m = nb_sequential(NB_SHAPE(1, 12, 12));
    CHECK(nb_model_set_name(m, "every_layer"));
    CHECK(nb_model_add(m, nb_conv2d_layer_ex(4, &(nb_conv2d_layer_opts){
                                                    .kernel_h = 3,
                                                    .kernel_w = 3,
                                                    .stride_h = 2,
                                                    .stride_w = 2,
                                                    .padding = "same",
                                                    .activation = "relu",
                                                    .kernel_init = NB_INIT_HE_NORMAL,
                                                    .name = "stem",
                                                })));
    CHECK(nb_model_add(
        m, nb_conv2d_layer_ex(3, &(nb_conv2d_layer_opts){.kernel_h = 3,
                                                         .kernel_w = 2,
                                                         .stride_w = 2, /* valid, strided */
                                                         .bias_init = NB_INIT_RANDOM_UNIFORM,
                                                         .kernel_regularizer = {0, 1e-3f}})));
    CHECK(nb_model_add(m, nb_batch_norm_layer(0.9f, 1e-5f)));
    CHECK(nb_model_add(m, nb_avg_pool2d_layer(2, 1)));
    CHECK(nb_model_add(m, nb_max_pool2d_layer(2, 0)));
    CHECK(nb_model_add(m, nb_activation_layer("tanh")));
    CHECK(nb_model_add(m, nb_flatten_layer()));
    CHECK(nb_model_add(m, nb_dropout_layer(0.3f)));
    CHECK(nb_model_add(m, nb_dense_ex(8, &(nb_dense_opts){.activation = "sigmoid",
                                                          .no_bias = true,
                                                          .kernel_init = NB_INIT_GLOROT_NORMAL,
                                                          .kernel_regularizer = {1e-4f, 0}})));
    CHECK(nb_model_add(m, nb_batch_norm_layer(0, 0)));
    CHECK(nb_model_add(m, nb_dense(3, "softmax")));
    return m;
}

static void assert_same_bits(nb_tensor *a, nb_tensor *b) {
    ck_assert_msg(a && b, "%s", nb_error());
    ck_assert_int_eq(nb_numel(a), nb_numel(b));
    for (int64_t i = 0; i < nb_numel(a); i++) {
        float x = nb_get_flat(a, i), y = nb_get_flat(b, i);
        ck_assert_msg(!memcmp(&x, &y, sizeof x), "element %lld: %.9g vs %.9g", (long long)i, x, y);
    }
}

/* Keys whose values must survive a load and a second save (the optimizer's settings, the
 * compile settings, a layer's options). */
static const char *const round_trip_keys[] = {"model",
                                              "model.input_shape",
                                              "model.layers",
                                              "layer.0.strides",
                                              "layer.0.padding",
                                              "layer.1.strides",
                                              "layer.0.kernel_initializer",
                                              "layer.1.bias_initializer",
                                              "layer.1.kernel_regularizer_l2",
                                              "layer.2.momentum",
                                              "layer.2.epsilon",
                                              "layer.3.strides",
                                              "layer.4.pool_size",
                                              "layer.7.rate",
                                              "layer.8.use_bias",
                                              "compile.loss",
                                              "compile.metric.1",
                                              "optimizer.name",
                                              "optimizer.lr",
                                              "optimizer.beta1",
                                              "optimizer.beta2",
                                              "optimizer.eps",
                                              "optimizer.amsgrad",
                                              "optimizer.clip_norm",
                                              "optimizer.schedule",
                                              "optimizer.schedule_gamma",
                                              "optimizer.schedule_step_size"};

static void assert_same_meta(const char *path_a, const char *path_b) {
    nb_safetensors *a = nb_safetensors_read(path_a), *b = nb_safetensors_read(path_b);
    ck_assert_msg(a && b, "%s", nb_error());
    for (size_t i = 0; i < sizeof round_trip_keys / sizeof *round_trip_keys; i++) {
        const char *k = round_trip_keys[i];
        ck_assert_msg(nb_safetensors_meta(a, k), "no key %s", k);
        ck_assert_msg(nb_safetensors_meta(b, k), "no key %s after loading", k);
        ck_assert_str_eq(nb_safetensors_meta(a, k), nb_safetensors_meta(b, k));
    }
    nb_safetensors_free(a);
    nb_safetensors_free(b);
}

START_TEST(test_a_model_with_every_layer_kind_predicts_the_same_bits_after_training_and_loading) {
    char path[40];
    temp_path(path);
    nb_model *m = every_layer_model();
    nb_optimizer *opt = nb_adam(0.003f, 0.8f, 0.99f, 1e-6f, true);
    CHECK(nb_optimizer_set_schedule(
        opt, &(nb_schedule){.kind = NB_SCHEDULE_STEP, .gamma = 0.5f, .step_size = 3}));
    CHECK(nb_optimizer_set_clipping(opt, 2.5f, 0));
    CHECK(nb_model_compile(m, "sparse_categorical_crossentropy", opt,
                           (const char *[]){"accuracy", "acc"}, 2));
    nb_tensor *x = nb_randn(NB_SHAPE(16, 1, 12, 12));
    nb_tensor *y =
        nb_from_array((float[]){0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0}, NB_SHAPE(16));
    for (int step = 0; step < 5; step++) /* moves the weights and the batch-norm statistics */
        CHECK(nb_model_train_on_batch(m, x, y, NULL, NULL));
    CHECK(nb_model_save(m, path));

    nb_model *back = nb_load_model(path);
    ck_assert_msg(back, "%s", nb_error());
    assert_same_bits(nb_model_predict(m, x, 5), nb_model_predict(back, x, 5));
    ck_assert_int_eq(nb_model_num_layers(back), nb_model_num_layers(m));
    for (int i = 0; i < nb_model_num_layers(m); i++)
        ck_assert_str_eq(nb_layer_name(nb_model_layer(back, i)),
                         nb_layer_name(nb_model_layer(m, i)));
    ck_assert_str_eq(nb_layer_name(nb_model_layer(back, 0)), "stem");
    ck_assert_int_eq(nb_model_param_count(back), nb_model_param_count(m));
    double want[3], got[3];
    ck_assert_int_eq(nb_model_evaluate(m, x, y, 8, want, 3), 3);
    ck_assert_int_eq(nb_model_evaluate(back, x, y, 8, got, 3), 3); /* compiled, same metrics */
    for (int i = 0; i < 3; i++)
        ck_assert_msg(want[i] == got[i], "value %d: %g vs %g", i, want[i], got[i]);
    char again[40];
    temp_path(again);
    CHECK(nb_model_save(back, again));
    assert_same_meta(path, again);
    nb_safetensors *f = nb_safetensors_read(path);
    ck_assert_str_eq(nb_safetensors_meta(f, "layer.2.class"), "BatchNormalization");
    ck_assert_str_eq(nb_safetensors_meta(f, "layer.2.epsilon"), "1e-05");
    ck_assert_str_eq(nb_safetensors_meta(f, "layer.0.strides"), "[2, 2]");
    ck_assert_str_eq(nb_safetensors_meta(f, "layer.1.strides"), "[1, 2]");
    ck_assert_str_eq(nb_safetensors_meta(f, "optimizer.beta1"), "0.8");
    ck_assert_str_eq(nb_safetensors_meta(f, "optimizer.schedule"), "step");
    ck_assert_str_eq(nb_safetensors_meta(f, "optimizer.clip_norm"), "2.5");
    nb_safetensors_free(f);
    unlink(again);
    nb_model_free(m);
    nb_model_free(back);
    unlink(path);
}
END_TEST

START_TEST(test_a_rescaling_layer_maps_exactly_has_no_weights_and_survives_a_file) {
    char path[40];
    temp_path(path);
    nb_model *m = nb_sequential(NB_SHAPE(3));
    CHECK(nb_model_add(m, nb_dense(2, NULL)));
    CHECK(nb_model_add(m, nb_rescaling_layer(76.5f, 152.25f)));
    ck_assert_int_eq(nb_model_param_count(m), 3 * 2 + 2);
    nb_tensor *x = nb_randn(NB_SHAPE(5, 3));
    nb_tensor *z = nb_model_forward(m, x, false);
    ck_assert_msg(z, "%s", nb_error());
    nb_tensor **params;
    ck_assert_int_eq(nb_model_parameters(m, &params), 2); /* the dense's kernel and bias */
    nb_tensor *dense_only = nb_add(nb_matmul(x, params[0]), params[1]);
    for (int64_t i = 0; i < nb_numel(z); i++) {
        float want = nb_get_flat(dense_only, i) * 76.5f + 152.25f;
        ck_assert_msg(fabsf(nb_get_flat(z, i) - want) <= 1e-5f * fabsf(want), "%lld: %g vs %g",
                      (long long)i, nb_get_flat(z, i), want);
    }
    CHECK(nb_model_compile(m, "mse", nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false), NULL, 0));
    CHECK(nb_model_save(m, path));
    nb_safetensors *f = nb_safetensors_read(path);
    ck_assert_msg(f, "%s", nb_error());
    ck_assert_str_eq(nb_safetensors_meta(f, "layer.1.class"), "Rescaling");
    ck_assert_str_eq(nb_safetensors_meta(f, "layer.1.scale"), "76.5");
    ck_assert_str_eq(nb_safetensors_meta(f, "layer.1.offset"), "152.25");
    nb_safetensors_free(f);
    nb_model *back = nb_load_model(path);
    ck_assert_msg(back, "%s", nb_error());
    assert_same_bits(nb_model_predict(m, x, 5), nb_model_predict(back, x, 5));
    ck_assert_ptr_null(nb_rescaling_layer(NAN, 0));
    NB_ASSERT_ERROR_HAS("nb_rescaling_layer: scale nan and offset 0 must be finite");
    nb_model_free(m);
    nb_model_free(back);
    unlink(path);
}
END_TEST

START_TEST(test_a_weights_file_or_checkpoint_is_refused_with_the_call_that_reads_it) {
    char path[40];
    temp_path(path);
    nb_model *m = nb_sequential(NB_SHAPE(4));
    CHECK(nb_model_add(m, nb_dense(2, "softmax")));
    CHECK(nb_model_save_weights(m, path));
    ck_assert_ptr_null(nb_load_model(path));
    NB_ASSERT_ERROR_HAS(path);
    NB_ASSERT_ERROR_HAS("bare weights (nb_model_save_weights)");
    NB_ASSERT_ERROR_HAS("build the model and call nb_model_load_weights");
    CHECK(nb_model_compile(m, "sparse_categorical_crossentropy", NULL, NULL, 0));
    CHECK(nb_model_save_checkpoint(m, path, 1));
    ck_assert_ptr_null(nb_load_model(path));
    NB_ASSERT_ERROR_HAS("nb_model_load_checkpoint");
    ck_assert_ptr_null(nb_load_model("/nonexistent/model.safetensors"));
    NB_ASSERT_ERROR_HAS("nb_load_model: ");
    NB_ASSERT_ERROR_HAS("/nonexistent/model.safetensors");
    nb_model_free(m);
    unlink(path);
}
END_TEST

START_TEST(test_a_from_logits_model_loads_with_from_logits_and_the_same_loss) {
    char path[40];
    temp_path(path);
    nb_model *m = nb_sequential(NB_SHAPE(4));
    CHECK(nb_model_add(m, nb_dense(3, NULL)));
    CHECK(nb_model_compile_ex(m, &(nb_compile_opts){.loss = "sparse_categorical_crossentropy",
                                                    .from_logits = true,
                                                    .optimizer = nb_optimizer_from_name("adam"),
                                                    .metrics = (const char *[]){"accuracy"},
                                                    .n_metrics = 1}));
    CHECK(nb_model_save(m, path));
    nb_model *back = nb_load_model(path);
    ck_assert_msg(back != NULL, "%s", nb_error());
    nb_tensor *x = nb_from_array((float[]){1, 2, 3, 4, -1, 0, 2, 5}, NB_SHAPE(2, 4));
    nb_tensor *y = nb_from_array((float[]){2, 0}, NB_SHAPE(2));
    double a[2], b[2];
    ck_assert_int_eq(nb_model_evaluate(m, x, y, 2, a, 2), 2);
    ck_assert_int_eq(nb_model_evaluate(back, x, y, 2, b, 2), 2);
    /* a loss on probabilities would clip the raw outputs and give another number */
    ck_assert_msg(a[0] == b[0] && a[1] == b[1], "loss %.9g vs %.9g", a[0], b[0]);
    nb_model_free(back);
    nb_model_free(m);
    unlink(path);
}
END_TEST

START_TEST(test_extra_metadata_is_kept_and_the_models_own_keys_are_refused) {
    char path[40];
    temp_path(path);
    nb_model *m = nb_sequential(NB_SHAPE(3));
    CHECK(nb_model_add(m, nb_dense(2, NULL)));
    const char *keys[] = {"nabla.data", "nabla.split_seed"}, *values[] = {"iris", "42"};
    CHECK(nb_model_save_ex(m, path, keys, values, 2));
    nb_safetensors *f = nb_safetensors_read(path);
    ck_assert_str_eq(nb_safetensors_meta(f, "nabla.data"), "iris");
    ck_assert_str_eq(nb_safetensors_meta(f, "nabla.split_seed"), "42");
    ck_assert_ptr_null(nb_safetensors_meta(f, "compile.loss")); /* not compiled */
    nb_safetensors_free(f);
    nb_model *back = nb_load_model(path);
    ck_assert_msg(back, "%s", nb_error());
    double v[1];
    ck_assert_int_eq(
        nb_model_evaluate(back, nb_zeros(NB_SHAPE(2, 3)), nb_zeros(NB_SHAPE(2, 2)), 2, v, 1),
        -1); /* loaded uncompiled, as it was saved */
    const char *own[] = {"layer.0.units", "model", "optimizer.lr"}, *one[] = {"5"};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_ne(nb_model_save_ex(m, path, &own[i], one, 1), NB_OK);
        NB_ASSERT_ERROR_HAS(own[i]);
    }
    nb_model_free(m);
    nb_model_free(back);
    unlink(path);
}
END_TEST

/* A Dense(3, relu) -> Dense(2, softmax) model on 4 features, described by hand. */
static const char *const base_keys[] = {"format",
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
                                        "layer.1.class",
                                        "layer.1.name",
                                        "layer.1.units",
                                        "layer.1.use_bias",
                                        "layer.1.activation",
                                        "layer.1.kernel_initializer",
                                        "layer.1.bias_initializer",
                                        "layer.1.kernel_regularizer_l1",
                                        "layer.1.kernel_regularizer_l2",
                                        "compile.loss",
                                        "compile.metrics",
                                        "compile.metric.0",
                                        "optimizer.name",
                                        "optimizer.lr",
                                        "optimizer.base_lr",
                                        "optimizer.beta1",
                                        "optimizer.beta2",
                                        "optimizer.eps",
                                        "optimizer.amsgrad",
                                        "optimizer.weight_decay",
                                        "optimizer.schedule",
                                        "optimizer.schedule_gamma",
                                        "optimizer.schedule_step_size",
                                        "optimizer.schedule_t_max",
                                        "optimizer.schedule_min_lr",
                                        "optimizer.clip_norm",
                                        "optimizer.clip_value"};
static const char *const base_values[] = {"nabla",
                                          "model",
                                          "sequential",
                                          "1",
                                          "[4]",
                                          "2",
                                          "Dense",
                                          "dense",
                                          "3",
                                          "true",
                                          "relu",
                                          "glorot_uniform",
                                          "zeros",
                                          "0",
                                          "0",
                                          "Dense",
                                          "dense_1",
                                          "2",
                                          "true",
                                          "softmax",
                                          "glorot_uniform",
                                          "zeros",
                                          "0",
                                          "0",
                                          "sparse_categorical_crossentropy",
                                          "1",
                                          "accuracy",
                                          "adam",
                                          "0.001",
                                          "0.001",
                                          "0.9",
                                          "0.999",
                                          "1e-07",
                                          "false",
                                          "0",
                                          "constant",
                                          "0",
                                          "0",
                                          "0",
                                          "0",
                                          "0",
                                          "0"};
#define N_BASE ((int)(sizeof base_keys / sizeof *base_keys))

typedef struct {
    const char *key, *value; /* value NULL: the key is left out */
    const char *message;
} bad_model;

START_TEST(test_malformed_model_files_are_errors_naming_the_file_and_the_key) {
    static const bad_model cases[] = {
        {"layer.0.class", "Transformer",
         "the key 'layer.0.class' is 'Transformer', expected a layer class"},
        {"layer.0.units", "1000000000000",
         "the key 'layer.0.units' is '1000000000000', expected an integer in [1, 2147483648]"},
        {"layer.0.units", "-3", "'layer.0.units' is '-3'"},
        {"layer.0.units", "3x", "'layer.0.units' is '3x'"},
        {"layer.0.units", "100000",
         "the layer list does not fit the weights: layer.0 (Dense 'dense') needs a weight "
         "'dense/kernel' [4, 100000]; the file's is [4, 3]"},
        {"layer.1.activation", NULL, "the key 'layer.1.activation' is missing"},
        {"layer.0.activation", "swish", "'layer.0.activation' is 'swish', expected an activation"},
        {"layer.0.use_bias", "yes", "'layer.0.use_bias' is 'yes', expected true or false"},
        {"layer.0.use_bias", "false", "the file has a weight 'dense/bias' that no layer has"},
        {"layer.0.kernel_initializer", "magic", "'layer.0.kernel_initializer' is 'magic'"},
        {"layer.0.kernel_regularizer_l2", "nan", "'layer.0.kernel_regularizer_l2' is 'nan'"},
        {"layer.0.kernel_regularizer_l1", "-1", "'layer.0.kernel_regularizer_l1'"},
        {"layer.0.name", "a/b", "layer 0 (Dense 'a/b')"},
        {"layer.1.name", "dense",
         "layer.1 (Dense 'dense') needs a weight 'dense/kernel' [3, 2]; the file's is [4, 3]"},
        {"layer.1.name", "out",
         "layer.1 (Dense 'out') needs a weight 'out/kernel' [3, 2]; the file has none"},
        {"model.layers", "3", "the key 'layer.2.class' is missing"},
        {"model.layers", "1", "the file has a weight 'dense_1/kernel' that no layer has"},
        {"model.layers", "99999999999", "'model.layers' is '99999999999'"},
        {"model.layers", NULL, "the key 'model.layers' is missing"},
        {"layer.0.class", "BatchNormalization", "the key 'layer.0.momentum' is missing"},
        {"layer.0.class", "Embedding", "the key 'layer.0.input_dim' is missing"},
        {"layer.0.class", "ZeroPadding2D", "the key 'layer.0.padding' is missing"},
        {"layer.0.class", "Reshape", "the key 'layer.0.target_shape' is missing"},
        {"model.input_shape", "[5]", "needs a weight 'dense/kernel' [5, 3]; the file's is [4, 3]"},
        {"model.input_shape", "[4", "'model.input_shape' is '[4', expected a list"},
        {"model.input_shape", "[0]", "'model.input_shape' is '[0]'"},
        {"model.input_shape", "[]", "'model.input_shape' is '[]'"},
        {"model.input_shape", "[65536, 65536, 65536]", "a sample of at most 2^31 numbers"},
        {"model.input_shape", "[1, 2, 3, 4, 5, 6, 7, 8, 9]", "expected a list"},
        {"model.version", "2", "'model.version' is '2'"},
        {"content", NULL, "bare weights"},
        {"format", "safetensors", "not a nabla model file"},
        {"compile.loss", "hubber", "compile.*: nb_model_compile: unknown loss 'hubber'"},
        {"compile.metrics", "99", "'compile.metrics' is '99'"},
        {"compile.metric.0", NULL, "the key 'compile.metric.0' is missing"},
        {"optimizer.name", "lbfgs", "'optimizer.name' is 'lbfgs'"},
        {"optimizer.beta1", "1.5", "beta1 is 1.5"},
        {"optimizer.beta1", "x", "the optimizer's beta1 is 'x'"},
        {"optimizer.lr", NULL, "the adam optimizer has no lr"},
        {"optimizer.schedule", "sometimes", "the optimizer's schedule is 'sometimes'"},
        {"optimizer.schedule", "step", "step_size is 0, expected >= 1"},
        {"optimizer.clip_norm", "-1", "max_norm is -1"},
    };
    char path[40];
    temp_path(path);
    nb_model *m = nb_sequential(NB_SHAPE(4));
    CHECK(nb_model_add(m, nb_dense(3, "relu")));
    CHECK(nb_model_add(m, nb_dense(2, "softmax")));
    nb_tensor **params;
    ck_assert_int_eq(nb_model_parameters(m, &params), 4);
    const char *names[] = {"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"};
    CHECK(nb_safetensors_save(path, names, params, 4, base_keys, base_values, N_BASE));
    nb_model *good = nb_load_model(path); /* the table's base is a valid file */
    ck_assert_msg(good, "%s", nb_error());
    nb_model_free(good);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *keys[N_BASE], *values[N_BASE];
        int n = 0;
        for (int i = 0; i < N_BASE; i++) {
            bool hit = !strcmp(base_keys[i], cases[c].key);
            if (hit && !cases[c].value) continue;
            keys[n] = base_keys[i];
            values[n++] = hit ? cases[c].value : base_values[i];
        }
        CHECK(nb_safetensors_save(path, names, params, 4, keys, values, n));
        nb_model *back = nb_load_model(path);
        ck_assert_msg(!back, "case %zu (%s = %s) loaded", c, cases[c].key, cases[c].value);
        ck_assert_msg(strstr(nb_error(), path) && strstr(nb_error(), cases[c].message),
                      "case %zu (%s = %s): \"%s\" does not name the file or say \"%s\"", c,
                      cases[c].key, cases[c].value, nb_error(), cases[c].message);
    }
    nb_model_free(m);
    unlink(path);
}
END_TEST

/* A description alone never makes weights larger than the file's: a batch norm on an input
 * of 2^31 features would take 32 GB. */
START_TEST(test_a_huge_input_shape_without_its_weights_allocates_nothing) {
    char path[40];
    temp_path(path);
    const char *keys[] = {
        "format",       "content",       "model",        "model.version",    "model.input_shape",
        "model.layers", "layer.0.class", "layer.0.name", "layer.0.momentum", "layer.0.epsilon"};
    const char *values[] = {
        "nabla", "model", "m",    "1", "[2147483648]", "1", "BatchNormalization",
        "bn",    "0.99",  "0.001"};
    CHECK(nb_safetensors_save(path, NULL, NULL, 0, keys, values, 10));
    ck_assert_ptr_null(nb_load_model(path));
    NB_ASSERT_ERROR_HAS("layer.0 (BatchNormalization 'bn') needs a weight 'bn/gamma' [2147483648]; "
                        "the file has none");
    unlink(path);
}
END_TEST

/* Layers draw initial weights that the file's replace: loading leaves the random stream
 * where it was, so a program that loads a model shuffles and drops out as one that does not. */
START_TEST(test_loading_a_model_draws_no_random_numbers) {
    char path[40];
    temp_path(path);
    nb_model *m = every_layer_model();
    CHECK(nb_model_save(m, path));
    uint64_t before = nb_rng_get_state();
    nb_model *back = nb_load_model(path);
    ck_assert_msg(back, "%s", nb_error());
    ck_assert_uint_eq(nb_rng_get_state(), before);
    nb_model_free(m);
    nb_model_free(back);
    unlink(path);
}
END_TEST

/* Cut anywhere, a model file is an error (the reader's or the loader's), never a crash. */
START_TEST(test_every_truncation_of_a_model_file_is_an_error) {
    char path[40];
    temp_path(path);
    nb_model *m = every_layer_model();
    CHECK(nb_model_compile(m, "mse", NULL, NULL, 0));
    CHECK(nb_model_save(m, path));
    FILE *f = fopen(path, "rb");
    static char bytes[1 << 16];
    size_t size = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    ck_assert_int_lt(size, sizeof bytes);
    nb_model *whole = nb_load_model_mem(bytes, size, "whole");
    ck_assert_msg(whole, "%s", nb_error());
    nb_model_free(whole);
    for (size_t cut = 0; cut < size; cut += 7) {
        ck_assert_ptr_null(nb_load_model_mem(bytes, cut, "cut.safetensors"));
        NB_ASSERT_ERROR_HAS("cut.safetensors");
    }
    nb_model_free(m);
    unlink(path);
}
END_TEST

/* Another program reads a model file from the README's description alone. */
START_TEST(test_numpy_recomputes_a_dense_relu_dense_forward_from_the_documented_layout) {
    if (system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
        fprintf(stderr, "skipped %s: /usr/bin/python3 with numpy is missing\n", __func__);
        return;
    }
    char path[40], cmd[4096];
    temp_path(path);
    nb_model *m = nb_sequential(NB_SHAPE(4));
    CHECK(nb_model_add(m, nb_dense(5, "relu")));
    CHECK(nb_model_add(m, nb_dense_ex(3, &(nb_dense_opts){.name = "logits"})));
    CHECK(nb_model_save(m, path));
    nb_tensor *x = nb_randn(NB_SHAPE(6, 4));
    int k = snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/../numpy_forward.py %s 6,4",
                     NB_TEST_DATA, path);
    for (int64_t i = 0; i < 24; i++)
        k += snprintf(cmd + k, sizeof cmd - (size_t)k, ",%.9g", nb_get_flat(x, i));
    nb_tensor *y = nb_model_predict(m, x, 32);
    ck_assert_msg(y, "%s", nb_error());
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    int64_t n = 0;
    double v;
    while (n < 18 && fscanf(p, "%lf", &v) == 1) {
        NB_ASSERT_CLOSE(v, nb_get_flat(y, n), 1e-5);
        n++;
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_int_eq(n, 18);
    nb_model_free(m);
    unlink(path);
}
END_TEST

int main(void) {
    Suite *s = suite_create("model_file");
    TCase *tc = nb_tcase("model_file");
    tcase_add_test(
        tc, test_a_model_with_every_layer_kind_predicts_the_same_bits_after_training_and_loading);
    tcase_add_test(tc, test_a_weights_file_or_checkpoint_is_refused_with_the_call_that_reads_it);
    tcase_add_test(tc, test_a_rescaling_layer_maps_exactly_has_no_weights_and_survives_a_file);
    tcase_add_test(tc, test_extra_metadata_is_kept_and_the_models_own_keys_are_refused);
    tcase_add_test(tc, test_a_from_logits_model_loads_with_from_logits_and_the_same_loss);
    tcase_add_test(tc, test_malformed_model_files_are_errors_naming_the_file_and_the_key);
    tcase_add_test(tc, test_a_huge_input_shape_without_its_weights_allocates_nothing);
    tcase_add_test(tc, test_every_truncation_of_a_model_file_is_an_error);
    tcase_add_test(tc, test_loading_a_model_draws_no_random_numbers);
    tcase_add_test(tc, test_numpy_recomputes_a_dense_relu_dense_forward_from_the_documented_layout);
    suite_add_tcase(s, tc);
    return nb_test_run(s);
}
