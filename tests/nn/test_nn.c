/* nn: the course's model summaries, shape inference and its errors, gradient
 * checks through layers and models, initializer statistics, regularizers,
 * compile and the fused loss hook, metrics and the classification report. */
#include "nb_test.h"
#include "nn/nn_internal.h"

#include <stdio.h>

#define TOL 1e-2

/* ---- helpers ------------------------------------------------------------------------------- */
/* the summary as text (caller frees) */
static char *summary_text(const nb_model *m) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(nb_model_summary(m, f), NB_OK);
    fclose(f);
    return text;
}

/* text equals the lines of want, one by one */
static void assert_lines(const char *text, const char *const *want, int n) {
    const char *p = text;
    for (int i = 0; i < n; i++) {
        const char *nl = strchr(p, '\n');
        ck_assert_msg(nl != NULL, "line %d missing; text:\n%s", i, text);
        size_t len = (size_t)(nl - p);
        ck_assert_msg(len == strlen(want[i]) && !strncmp(p, want[i], len),
                      "line %d is\n[%.*s]\nexpected\n[%s]\nfull text:\n%s", i, (int)len, p, want[i],
                      text);
        p = nl + 1;
    }
    ck_assert_msg(*p == '\0', "extra text: [%s]", p);
}

static void add(nb_model *m, nb_layer *l) {
    ck_assert_msg(nb_model_add(m, l) == NB_OK, "%s", nb_error());
}

/* ---- summaries ------------------------------------------------------------------------------ */
START_TEST(test_summary_of_the_course_dense_2_on_3_inputs_shows_8_params) {
    nb_model *m = nb_sequential(NB_SHAPE(3));
    add(m, nb_dense(2, "softmax"));
    char *text = summary_text(m);
    const char *want[] = {
        "Model: \"sequential\"",
        "_________________________________________________________________",
        " Layer (type)                Output Shape              Param #",
        "=================================================================",
        " dense (Dense)               (None, 2)                 8",
        "",
        "=================================================================",
        "Total params: 8 (32.00 Byte)",
        "Trainable params: 8 (32.00 Byte)",
        "Non-trainable params: 0 (0.00 Byte)",
        "_________________________________________________________________",
    };
    assert_lines(text, want, 11);
    free(text);
    nb_model_free(m);
}
END_TEST

START_TEST(test_summary_of_the_course_fashion_mlp_shows_79510_params) {
    nb_model *m = nb_sequential(NB_SHAPE(784));
    add(m, nb_dense(100, "sigmoid"));
    add(m, nb_dense(10, "softmax"));
    ck_assert_int_eq(nb_model_param_count(m), 79510);
    char *text = summary_text(m);
    const char *want[] = {
        "Model: \"sequential\"",
        "_________________________________________________________________",
        " Layer (type)                Output Shape              Param #",
        "=================================================================",
        " dense (Dense)               (None, 100)               78500",
        "",
        " dense_1 (Dense)             (None, 10)                1010",
        "",
        "=================================================================",
        "Total params: 79,510 (310.59 KB)",
        "Trainable params: 79,510 (310.59 KB)",
        "Non-trainable params: 0 (0.00 Byte)",
        "_________________________________________________________________",
    };
    assert_lines(text, want, 13);
    free(text);
    nb_model_free(m);
}
END_TEST

START_TEST(test_summary_with_names_flatten_and_a_cnn) {
    /* the course's named model */
    nb_model *m = nb_sequential(NB_SHAPE(784));
    ck_assert_int_eq(nb_model_set_name(m, "fashion_mnist"), NB_OK);
    add(m, nb_dense_ex(100, &(nb_dense_opts){.activation = "sigmoid", .name = "hidden"}));
    add(m, nb_layer_set_name(nb_dense(10, "softmax"), "output"));
    char *text = summary_text(m);
    ck_assert_ptr_nonnull(strstr(text, "Model: \"fashion_mnist\"\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "\n hidden (Dense)              (None, 100)               78500\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "\n output (Dense)              (None, 10)                1010\n"));
    free(text);
    nb_model_free(m);

    /* Flatten first: 0 params, 784 outputs */
    m = nb_sequential(NB_SHAPE(28, 28));
    add(m, nb_flatten_layer());
    add(m, nb_dense(100, "relu"));
    add(m, nb_dense(10, "softmax"));
    text = summary_text(m);
    ck_assert_ptr_nonnull(
        strstr(text, "\n flatten (Flatten)           (None, 784)               0\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "\n dense_1 (Dense)             (None, 10)                1010\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nTotal params: 79,510 (310.59 KB)\n"));
    free(text);
    nb_model_free(m);

    /* the course's CNN, channels first, with batch norm's non-trainable statistics */
    m = nb_sequential(NB_SHAPE(1, 28, 28));
    add(m, nb_conv2d_layer(32, 3, "relu"));
    add(m, nb_max_pool2d_layer(2, 0));
    add(m, nb_conv2d_layer(64, 3, "relu"));
    add(m, nb_max_pool2d_layer(2, 0));
    add(m, nb_flatten_layer());
    add(m, nb_dense(100, "relu"));
    add(m, nb_batch_norm_layer(0, 0));
    add(m, nb_dropout_layer(0.3f));
    add(m, nb_dense(10, "softmax"));
    text = summary_text(m);
    ck_assert_int_eq(nb_model_param_count(m), 180326);
    /* a name longer than its column widens the column for every row, and the rules */
    const char *want[] = {
        "Model: \"sequential\"",
        "______________________________________________________________________________",
        " Layer (type)                             Output Shape              Param #",
        "==============================================================================",
        " conv2d (Conv2D)                          (None, 32, 26, 26)        320",
        "",
        " max_pooling2d (MaxPooling2D)             (None, 32, 13, 13)        0",
        "",
        " conv2d_1 (Conv2D)                        (None, 64, 11, 11)        18496",
        "",
        " max_pooling2d_1 (MaxPooling2D)           (None, 64, 5, 5)          0",
        "",
        " flatten (Flatten)                        (None, 1600)              0",
        "",
        " dense (Dense)                            (None, 100)               160100",
        "",
        " batch_normalization (BatchNormalization) (None, 100)               400",
        "",
        " dropout (Dropout)                        (None, 100)               0",
        "",
        " dense_1 (Dense)                          (None, 10)                1010",
        "",
        "==============================================================================",
        "Total params: 180,326 (704.40 KB)",
        "Trainable params: 180,126 (703.62 KB)",
        "Non-trainable params: 200 (800.00 Byte)",
        "______________________________________________________________________________",
    };
    assert_lines(text, want, 27);
    free(text);
    nb_model_free(m);
}
END_TEST

START_TEST(test_summary_columns_widen_to_fit_a_long_batch_norm_name) {
    const char *name = "batch_normalization_of_the_hidden_layer1"; /* 40 characters */
    ck_assert_int_eq(strlen(name), 40);
    nb_model *m = nb_sequential(NB_SHAPE(784));
    add(m, nb_dense(100, "relu"));
    add(m, nb_layer_set_name(nb_batch_norm_layer(0, 0), name));
    add(m, nb_dense(10, "softmax"));
    char *text = summary_text(m);
    /* every rule as wide as the table, every row within it, each column at one offset */
    const char *header = strstr(text, " Layer (type)");
    ck_assert_ptr_nonnull(header);
    int shape_at = (int)(strstr(header, "Output Shape") - header);
    int params_at = (int)(strstr(header, "Param #") - header);
    int width = -1, rows = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        int len = (int)(nl - p);
        bool is_rule = len > 0 && (p[0] == '_' || p[0] == '=');
        if (is_rule) {
            if (width < 0) width = len;
            ck_assert_msg(len == width, "rule of %d characters, the first is %d:\n%s", len, width,
                          text);
        }
        if (len > 1 && p[0] == ' ' && p[1] != 'L') { /* a layer row */
            rows++;
            ck_assert_msg(p[shape_at - 1] == ' ' && p[shape_at] == '(' && p[params_at - 1] == ' ' &&
                              p[params_at] >= '0' && p[params_at] <= '9',
                          "row [%.*s] is not in the header's columns:\n%s", len, p, text);
        }
        if (width >= 0 && !is_rule)
            ck_assert_msg(len <= width, "[%.*s] is wider than the rules:\n%s", len, p, text);
        p = nl + 1;
    }
    ck_assert_int_eq(rows, 3);
    ck_assert_int_gt(width, 65);
    ck_assert_ptr_nonnull(
        strstr(text, " batch_normalization_of_the_hidden_layer1 (BatchNormalization) (None, 100)"));
    free(text);
    nb_model_free(m);
}
END_TEST

/* Keras's images are (height, width, channels); nabla's are (channels, height, width) */
static void assert_channels_last_error(const char *permuted) {
    NB_ASSERT_ERROR_HAS("[N, C, H, W]");
    NB_ASSERT_ERROR_HAS("nb_permute(x, (int[]){0, 3, 1, 2}, 4)");
    NB_ASSERT_ERROR_HAS(permuted);
    ck_assert_msg(!strstr(nb_error(), "padding 'same'"), "%s", nb_error());
}

START_TEST(test_a_channels_last_input_to_conv2d_names_the_layout_and_the_permute) {
    nb_model *m = nb_sequential(NB_SHAPE(28, 28, 1));
    ck_assert_int_ne(nb_model_add(m, nb_conv2d_layer(32, 3, "relu")), NB_OK);
    assert_channels_last_error("input shape (1, 28, 28)");
    NB_ASSERT_ERROR_HAS("nb_model_add: layer 'conv2d' (Conv2D) cannot take the model's input, "
                        "(None, 28, 28, 1)");
    /* with padding "same" it built a model of 28-channel images 1 pixel wide */
    ck_assert_int_ne(
        nb_model_add(
            m, nb_conv2d_layer_ex(
                   32, &(nb_conv2d_layer_opts){.kernel_h = 3, .kernel_w = 3, .padding = "same"})),
        NB_OK);
    assert_channels_last_error("input shape (1, 28, 28)");
    ck_assert_int_eq(nb_model_num_layers(m), 0);
    nb_model_free(m);
    m = nb_sequential(NB_SHAPE(32, 32, 3)); /* RGB */
    ck_assert_int_ne(nb_model_add(m, nb_conv2d_layer(8, 3, NULL)), NB_OK);
    assert_channels_last_error("input shape (3, 32, 32)");
    nb_model_free(m);

    /* channels first, as nabla takes them, builds; so does a narrow image further in */
    const int64_t ok[][3] = {{1, 28, 28}, {3, 32, 32}, {4, 3, 3}, {64, 8, 8}, {16, 4, 3}};
    for (int i = 0; i < 5; i++) {
        m = nb_sequential(ok[i], 3);
        add(m, nb_conv2d_layer(8, 3, NULL));
        nb_model_free(m);
    }
    /* 16 signals of 50 samples, a kernel along them only */
    m = nb_sequential(NB_SHAPE(16, 50, 1));
    add(m, nb_conv2d_layer_ex(8, &(nb_conv2d_layer_opts){.kernel_h = 5, .kernel_w = 1}));
    nb_model_free(m);
    m = nb_sequential(NB_SHAPE(1, 28, 28));
    add(m, nb_conv2d_layer_ex(28, &(nb_conv2d_layer_opts){.kernel_h = 1, .kernel_w = 26}));
    add(m, nb_conv2d_layer_ex(8, &(nb_conv2d_layer_opts){.kernel_h = 3,
                                                         .kernel_w = 3,
                                                         .padding = "same"})); /* (28, 28, 3) */
    nb_model_free(m);
}
END_TEST

/* ---- shapes and names -------------------------------------------------------------------------
 */
START_TEST(test_output_shapes_are_inferred_when_layers_are_added) {
    nb_model *m = nb_sequential(NB_SHAPE(3, 28, 28));
    add(m,
        nb_conv2d_layer_ex(
            8, &(nb_conv2d_layer_opts){
                   .kernel_h = 3, .kernel_w = 5, .stride_h = 2, .stride_w = 2, .padding = "same"}));
    add(m, nb_conv2d_layer_ex(4, &(nb_conv2d_layer_opts){.kernel_h = 3, .kernel_w = 3}));
    add(m, nb_avg_pool2d_layer(3, 2));
    add(m, nb_batch_norm_layer(0, 0));
    add(m, nb_activation_layer("relu"));
    add(m, nb_flatten_layer());
    add(m, nb_dense(5, NULL));
    int64_t want[][3] = {{8, 14, 14}, {4, 12, 12}, {4, 5, 5}, {4, 5, 5}, {4, 5, 5}, {100}, {5}};
    int nds[] = {3, 3, 3, 3, 3, 1, 1};
    for (int i = 0; i < 7; i++) {
        int64_t shape[NB_MAX_DIMS];
        int nd = nb_layer_output_shape(nb_model_layer(m, i), shape);
        ck_assert_int_eq(nd, nds[i]);
        for (int k = 0; k < nd; k++) ck_assert_int_eq(shape[k], want[i][k]);
    }
    ck_assert_str_eq(nb_layer_name(nb_model_layer(m, 2)), "average_pooling2d");
    ck_assert_str_eq(nb_layer_name(nb_model_layer(m, 4)), "activation");
    /* a real batch has those shapes too */
    nb_tensor *y = nb_model_forward(m, nb_randn(NB_SHAPE(2, 3, 28, 28)), true);
    ck_assert_msg(y != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_dim(y, 0), 2);
    ck_assert_int_eq(nb_dim(y, 1), 5);
    nb_model_free(m);
}
END_TEST

START_TEST(test_bad_layer_combinations_name_both_layers_and_shapes) {
    nb_model *m = nb_sequential(NB_SHAPE(1, 28, 28));
    ck_assert_int_eq(nb_model_add(m, nb_dense(10, NULL)), NB_ERR_SHAPE);
    NB_ASSERT_ERROR_HAS("nb_model_add: layer 'dense' (Dense) cannot take the model's input, "
                        "(None, 1, 28, 28): Dense needs a flat input (None, features); add a "
                        "Flatten layer before it");
    add(m, nb_conv2d_layer(4, 3, "relu"));
    ck_assert_int_eq(nb_model_add(m, nb_dense(10, NULL)), NB_ERR_SHAPE);
    NB_ASSERT_ERROR_HAS("nb_model_add: layer 'dense' (Dense) cannot take the output of 'conv2d' "
                        "(Conv2D), (None, 4, 26, 26): Dense needs a flat input");
    ck_assert_int_eq(nb_model_add(m, nb_max_pool2d_layer(27, 0)), NB_ERR_SHAPE);
    NB_ASSERT_ERROR_HAS("layer 'max_pooling2d' (MaxPooling2D) cannot take the output of 'conv2d' "
                        "(Conv2D), (None, 4, 26, 26): MaxPooling2D's 27x27 window does not fit in "
                        "a 26x26 image");
    add(m, nb_flatten_layer());
    ck_assert_int_eq(nb_model_add(m, nb_conv2d_layer(4, 3, NULL)), NB_ERR_SHAPE);
    NB_ASSERT_ERROR_HAS("layer 'conv2d_1' (Conv2D) cannot take the output of 'flatten' (Flatten), "
                        "(None, 2704): Conv2D needs images (None, channels, height, width)");
    ck_assert_int_eq(nb_model_add(m, nb_conv2d_layer(4, 3, NULL)), NB_ERR_SHAPE);
    /* the failed layers are gone; the model still works */
    ck_assert_int_eq(nb_model_num_layers(m), 2);
    add(m, nb_dense(3, NULL));
    ck_assert_str_eq(nb_layer_name(nb_model_layer(m, 2)), "dense");
    /* the wrong batch shape */
    ck_assert_ptr_null(nb_model_forward(m, nb_ones(NB_SHAPE(2, 1, 28, 27)), false));
    NB_ASSERT_ERROR_HAS("nb_model_forward: input [2, 1, 28, 27] does not fit the model's input "
                        "shape (None, 1, 28, 28)");
    nb_model_free(m);
}
END_TEST

START_TEST(test_names_are_automatic_unique_and_checked) {
    nb_model *m = nb_sequential(NB_SHAPE(4));
    add(m, nb_dense(4, NULL));
    add(m, nb_dense_ex(4, &(nb_dense_opts){.name = "dense_1"}));
    add(m, nb_dense(4, NULL)); /* dense_1 is taken: dense_2 */
    add(m, nb_dropout_layer(0.5f));
    ck_assert_str_eq(nb_layer_name(nb_model_layer(m, 0)), "dense");
    ck_assert_str_eq(nb_layer_name(nb_model_layer(m, 1)), "dense_1");
    ck_assert_str_eq(nb_layer_name(nb_model_layer(m, 2)), "dense_2");
    ck_assert_str_eq(nb_layer_name(nb_model_layer(m, 3)), "dropout");
    ck_assert_int_eq(nb_model_add(m, nb_layer_set_name(nb_dense(2, NULL), "dense")), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_model_add: the model already has a layer named 'dense'");
    ck_assert_ptr_null(nb_layer_set_name(nb_dense(2, NULL), "a/b"));
    NB_ASSERT_ERROR_HAS("nb_layer_set_name: layer name 'a/b' must have 1 to 63 characters");
    /* weights are named after their layer */
    nb_tensor **params;
    ck_assert_int_eq(nb_model_parameters(m, &params), 6);
    ck_assert_str_eq(nb_name(params[0]), "dense/kernel");
    ck_assert_str_eq(nb_name(params[5]), "dense_2/bias");
    ck_assert_str_eq(nb_model_weight(m, 3)->name, "dense_1/bias");
    /* a layer in a model is the model's */
    nb_layer_free(nb_model_layer(m, 0));
    NB_ASSERT_ERROR_HAS("nb_layer_free: layer 'dense' belongs to a model");
    ck_assert_int_eq(nb_model_add(m, nb_model_layer(m, 0)), NB_ERR_STATE);
    nb_layer_free(nb_dense(3, "relu")); /* never added: freed by hand */
    nb_model_free(m);
}
END_TEST

START_TEST(test_unknown_names_are_errors_listing_the_known_ones) {
    ck_assert_ptr_null(nb_dense(10, "relux"));
    NB_ASSERT_ERROR_HAS("nb_dense: unknown activation 'relux'; known activations: linear, relu, "
                        "sigmoid, tanh, softmax, leaky_relu, elu, gelu, softplus, step");
    ck_assert_ptr_null(nb_activation(nb_ones(NB_SHAPE(2)), "swish"));
    NB_ASSERT_ERROR_HAS("nb_activation: unknown activation 'swish'");
    ck_assert_ptr_null(nb_activation_layer("Relu"));
    NB_ASSERT_ERROR_HAS("nb_activation_layer: unknown activation 'Relu'");
    ck_assert_ptr_null(nb_conv2d_layer_ex(
        4, &(nb_conv2d_layer_opts){.kernel_h = 3, .kernel_w = 3, .padding = "full"}));
    NB_ASSERT_ERROR_HAS("nb_conv2d_layer: unknown padding 'full'; use \"valid\" or \"same\"");
    nb_init init;
    ck_assert_int_eq(nb_init_from_name("xavier", &init), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_init_from_name: unknown initializer 'xavier'; known initializers: "
                        "glorot_uniform");
    ck_assert_int_eq(nb_init_from_name("he_normal", &init), NB_OK);
    ck_assert_int_eq(init, NB_INIT_HE_NORMAL);
    ck_assert_ptr_null(nb_dropout_layer(1.0f));
    NB_ASSERT_ERROR_HAS("nb_dropout_layer: rate 1 must be in [0, 1)");
    ck_assert_ptr_null(nb_dense(0, NULL));
    NB_ASSERT_ERROR_HAS("nb_dense: units 0 must be >= 1");

    /* a constructor's error survives nb_model_add */
    nb_model *m = nb_sequential(NB_SHAPE(4));
    ck_assert_int_eq(nb_model_add(m, nb_dense(10, "relux")), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_dense: unknown activation 'relux'");
    add(m, nb_dense(2, "softmax"));
    ck_assert_int_eq(nb_model_compile(m, "categorical_crossentropie", NULL, NULL, 0), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_model_compile: unknown loss 'categorical_crossentropie'; known losses: "
                        "mse, mae, binary_crossentropy, categorical_crossentropy, "
                        "sparse_categorical_crossentropy");
    ck_assert_int_eq(nb_model_compile(m, "mse", nb_optimizer_from_name("adam"),
                                      (const char *[]){"accuracy", "f1"}, 2),
                     NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_model_compile: unknown metric 'f1'; known metrics: accuracy (acc), "
                        "binary_accuracy");
    nb_model_free(m);
}
END_TEST

/* ---- gradients through layers ------------------------------------------------------------------
 */
typedef struct {
    nb_model *m;
    bool training;
    nb_tensor *r; /* fixed weights: the check is of sum(y * r), not of sum(y) */
    uint64_t seed;
} model_ctx;

static nb_tensor *weighted_forward(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    model_ctx *c = ctx;
    if (c->seed) nb_manual_seed(c->seed); /* the same dropout mask every time */
    nb_tensor *y = nb_model_forward(c->m, x[0], c->training);
    return c->r ? nb_mul(y, c->r) : y;
}

/* gradcheck of x and every parameter of m; a small step, so that relu's kink
 * and max pooling's ties are rarely inside it */
static void check_model(nb_model *m, nb_tensor *x, bool training, uint64_t seed) {
    nb_tensor **params, *inputs[16] = {x};
    int n = nb_model_parameters(m, &params);
    ck_assert_int_lt(n, 16);
    for (int i = 0; i < n; i++) inputs[i + 1] = params[i];
    nb_tensor *y = nb_model_forward(m, x, false);
    ck_assert_msg(y != NULL, "%s", nb_error());
    model_ctx c = {m, training, nb_randn(nb_shape(y), nb_ndim(y)), seed};
    NB_ASSERT_GRADCHECK(weighted_forward, inputs, n + 1, &c, 1e-3, TOL);
}

START_TEST(test_dense_passes_gradcheck_with_and_without_bias) {
    nb_model *m = nb_sequential(NB_SHAPE(4));
    add(m, nb_dense(3, NULL));
    check_model(m, nb_set_requires_grad(nb_randn(NB_SHAPE(5, 4)), true), false, 0);
    nb_model_free(m);
    m = nb_sequential(NB_SHAPE(4));
    add(m, nb_dense_ex(3, &(nb_dense_opts){.no_bias = true}));
    ck_assert_int_eq(nb_model_param_count(m), 12);
    check_model(m, nb_set_requires_grad(nb_randn(NB_SHAPE(5, 4)), true), false, 0);
    nb_model_free(m);
}
END_TEST

static const char *const activations[] = {"linear",     "relu", "sigmoid", "tanh",    "softmax",
                                          "leaky_relu", "elu",  "gelu",    "softplus"};

START_TEST(test_dense_with_each_activation_passes_gradcheck) {
    nb_model *m = nb_sequential(NB_SHAPE(4));
    add(m, nb_dense(3, activations[_i]));
    check_model(m, nb_set_requires_grad(nb_randn(NB_SHAPE(5, 4)), true), false, 0);
    nb_model_free(m);
}
END_TEST

START_TEST(test_activations_by_name_compute_the_named_function) {
    nb_tensor *x = nb_from_array((float[]){-2, 0.5f}, NB_SHAPE(2));
    NB_ASSERT_TENSOR(nb_activation(x, "leaky_relu"), ((float[]){-0.6f, 0.5f}), 2, 1e-6);
    NB_ASSERT_TENSOR(nb_activation(x, "step"), ((float[]){0, 1}), 2, 0);
    NB_ASSERT_TENSOR(nb_activation(x, "elu"), ((float[]){expf(-2) - 1, 0.5f}), 2, 1e-6);
    NB_ASSERT_TENSOR(nb_activation(x, NULL), ((float[]){-2, 0.5f}), 2, 0);
    NB_ASSERT_TENSOR(nb_activation(x, "softmax"), ((float[]){0.07585818f, 0.92414182f}), 2, 1e-5);
}
END_TEST

START_TEST(test_dropout_layer_is_random_in_training_and_identity_in_inference) {
    nb_model *m = nb_sequential(NB_SHAPE(6));
    add(m, nb_dense(8, "tanh"));
    add(m, nb_dropout_layer(0.5f));
    add(m, nb_dense(2, NULL));
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(4, 6)), true);
    check_model(m, x, true, 77);
    /* inference: the same as without the dropout layer */
    nb_tensor *a = nb_model_forward(m, x, false);
    nb_tensor *h = nb_tanh(nb_linear(x, nb_model_weight(m, 0)->t, nb_model_weight(m, 1)->t));
    nb_tensor *b = nb_linear(h, nb_model_weight(m, 2)->t, nb_model_weight(m, 3)->t);
    for (int i = 0; i < 8; i++) NB_ASSERT_CLOSE(nb_get_flat(a, i), nb_get_flat(b, i), 1e-5);
    /* training: some units dropped, a fixed seed repeats the mask */
    nb_manual_seed(3);
    nb_tensor *t1 = nb_model_forward(m, x, true);
    nb_manual_seed(3);
    nb_tensor *t2 = nb_model_forward(m, x, true);
    bool differs = false;
    for (int i = 0; i < 8; i++) {
        ck_assert(nb_get_flat(t1, i) == nb_get_flat(t2, i));
        differs |= fabsf(nb_get_flat(t1, i) - nb_get_flat(a, i)) > 1e-4f;
    }
    ck_assert(differs);
    nb_model_free(m);
}
END_TEST

START_TEST(test_two_layer_model_passes_gradcheck_for_all_params) {
    nb_model *m = nb_sequential(NB_SHAPE(3));
    add(m, nb_dense(4, "sigmoid"));
    add(m, nb_dense(2, "softmax"));
    nb_tensor **params;
    ck_assert_int_eq(nb_model_parameters(m, &params), 4);
    for (int i = 0; i < 4; i++) ck_assert(nb_requires_grad(params[i]) && nb_is_leaf(params[i]));
    check_model(m, nb_set_requires_grad(nb_randn(NB_SHAPE(5, 3)), true), false, 0);
    nb_model_free(m);
}
END_TEST

START_TEST(test_cnn_layers_pass_gradcheck) {
    nb_model *m = nb_sequential(NB_SHAPE(2, 6, 6));
    add(m, nb_conv2d_layer_ex(
               3, &(nb_conv2d_layer_opts){
                      .kernel_h = 3, .kernel_w = 3, .padding = "same", .activation = "tanh"}));
    add(m, nb_max_pool2d_layer(2, 0));
    add(m, nb_avg_pool2d_layer(3, 0));
    add(m, nb_flatten_layer());
    add(m, nb_dense(2, NULL));
    check_model(m, nb_set_requires_grad(nb_randn(NB_SHAPE(2, 2, 6, 6)), true), true, 0);
    nb_model_free(m);

    m = nb_sequential(NB_SHAPE(3));
    add(m, nb_dense(4, NULL));
    add(m, nb_batch_norm_layer(0, 0));
    add(m, nb_dense(2, NULL));
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(6, 3)), true);
    check_model(m, x, true, 0);
    check_model(m, x, false, 0);
    nb_model_free(m);
}
END_TEST

START_TEST(test_batch_norm_layer_keeps_moving_statistics_with_keras_momentum) {
    nb_model *m = nb_sequential(NB_SHAPE(2));
    add(m, nb_batch_norm_layer(0.9f, 0));
    ck_assert_int_eq(nb_model_param_count(m), 8);
    ck_assert_int_eq(nb_model_trainable_count(m), 4);
    nb_tensor **params;
    ck_assert_int_eq(nb_model_parameters(m, &params), 2); /* gamma, beta */
    ck_assert_str_eq(nb_model_weight(m, 2)->name, "batch_normalization/moving_mean");
    ck_assert(!nb_model_weight(m, 3)->trainable);
    nb_tensor *x = nb_from_array((float[]){1, 10, 3, 30}, NB_SHAPE(2, 2));
    ck_assert_ptr_nonnull(nb_model_forward(m, x, true));
    /* moving = 0.9 * moving + 0.1 * batch: means 2 and 20 */
    NB_ASSERT_TENSOR(nb_model_weight(m, 2)->t, ((float[]){0.2f, 2.0f}), 2, 1e-6);
    /* inference leaves them alone */
    ck_assert_ptr_nonnull(nb_model_forward(m, x, false));
    NB_ASSERT_TENSOR(nb_model_weight(m, 2)->t, ((float[]){0.2f, 2.0f}), 2, 1e-6);
    nb_model_free(m);
}
END_TEST

/* ---- initializers and regularizers
 * --------------------------------------------------------------- */
static void moments(const nb_tensor *t, double *mean, double *std, double *max_abs) {
    double s = 0, s2 = 0, m = 0;
    int64_t n = nb_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double v = nb_get_flat(t, i);
        s += v;
        s2 += v * v;
        m = fabs(v) > m ? fabs(v) : m;
    }
    *mean = s / (double)n;
    *std = sqrt(s2 / (double)n - *mean * *mean);
    *max_abs = m;
}

START_TEST(test_initializers_follow_keras_formulas) {
    double mean, std, max_abs;
    /* the default Dense kernel is glorot_uniform: bound sqrt(6 / (200 + 300)), std bound / sqrt 3
     */
    nb_model *m = nb_sequential(NB_SHAPE(200));
    add(m, nb_dense(300, NULL));
    double bound = sqrt(6.0 / 500.0);
    moments(nb_model_weight(m, 0)->t, &mean, &std, &max_abs);
    ck_assert_msg(max_abs <= bound && max_abs > 0.99 * bound, "max |w| %g, bound %g", max_abs,
                  bound);
    NB_ASSERT_CLOSE(std, bound / sqrt(3.0), 0.02);
    ck_assert(fabs(mean) < 0.01 * bound);
    moments(nb_model_weight(m, 1)->t, &mean, &std, &max_abs);
    ck_assert(max_abs == 0); /* zero biases */
    nb_model_free(m);

    /* he_normal: std sqrt(2 / fan_in), truncated at two standard deviations */
    nb_tensor *t = nb_empty(NB_SHAPE(400, 300));
    ck_assert_int_eq(nb_init_fill(t, NB_INIT_HE_NORMAL, 400, 300), NB_OK);
    moments(t, &mean, &std, &max_abs);
    double want = sqrt(2.0 / 400.0);
    ck_assert_msg(fabs(std - want) < 0.02 * want, "he_normal std %g, want %g", std, want);
    ck_assert(max_abs <= 2.0 * want / 0.87962566103423978 + 1e-6);
    /* glorot_normal, he_uniform, the Keras random ones */
    ck_assert_int_eq(nb_init_fill(t, NB_INIT_GLOROT_NORMAL, 400, 300), NB_OK);
    moments(t, &mean, &std, &max_abs);
    NB_ASSERT_CLOSE(std, sqrt(2.0 / 700.0), 0.02);
    ck_assert_int_eq(nb_init_fill(t, NB_INIT_HE_UNIFORM, 400, 300), NB_OK);
    moments(t, &mean, &std, &max_abs);
    ck_assert(max_abs <= sqrt(6.0 / 400.0));
    NB_ASSERT_CLOSE(std, sqrt(6.0 / 400.0) / sqrt(3.0), 0.02);
    ck_assert_int_eq(nb_init_fill(t, NB_INIT_RANDOM_NORMAL, 400, 300), NB_OK);
    moments(t, &mean, &std, &max_abs);
    NB_ASSERT_CLOSE(std, 0.05, 0.02);
    ck_assert_int_eq(nb_init_fill(t, NB_INIT_RANDOM_UNIFORM, 400, 300), NB_OK);
    moments(t, &mean, &std, &max_abs);
    ck_assert(max_abs <= 0.05);
    ck_assert_int_eq(nb_init_fill(t, NB_INIT_ONES, 400, 300), NB_OK);
    moments(t, &mean, &std, &max_abs);
    ck_assert(mean == 1 && std == 0);

    /* Conv2D fans: channels times the receptive field */
    m = nb_sequential(NB_SHAPE(16, 12, 12));
    add(m, nb_conv2d_layer_ex(32, &(nb_conv2d_layer_opts){.kernel_h = 5,
                                                          .kernel_w = 5,
                                                          .kernel_init = NB_INIT_HE_UNIFORM,
                                                          .bias_init = NB_INIT_ONES}));
    moments(nb_model_weight(m, 0)->t, &mean, &std, &max_abs);
    ck_assert(max_abs <= sqrt(6.0 / (16 * 25)) && max_abs > 0.95 * sqrt(6.0 / (16 * 25)));
    moments(nb_model_weight(m, 1)->t, &mean, &std, &max_abs);
    ck_assert(mean == 1);
    nb_model_free(m);

    /* the seed decides the weights */
    nb_manual_seed(42);
    m = nb_sequential(NB_SHAPE(3));
    add(m, nb_dense(2, NULL));
    float first = nb_get_flat(nb_model_weight(m, 0)->t, 0);
    nb_model_free(m);
    nb_manual_seed(42);
    m = nb_sequential(NB_SHAPE(3));
    add(m, nb_dense(2, NULL));
    ck_assert(nb_get_flat(nb_model_weight(m, 0)->t, 0) == first);
    nb_model_free(m);
}
END_TEST

START_TEST(test_regularizers_add_l1_and_l2_of_the_kernels) {
    nb_model *m = nb_sequential(NB_SHAPE(2));
    add(m, nb_dense_ex(2, &(nb_dense_opts){.kernel_regularizer = {.l1 = 0.01f}}));
    add(m, nb_dense_ex(1, &(nb_dense_opts){.kernel_regularizer = {.l2 = 0.1f}}));
    add(m, nb_dense_ex(1, &(nb_dense_opts){.kernel_regularizer = {.l1 = 0.5f, .l2 = 0.5f}}));
    ck_assert(nb_model_has_regularization(m));
    float w0[] = {1, -2, 3, -4}, w1[] = {0.5f, -1}, w2[] = {-2};
    nb_copy_from(nb_model_weight(m, 0)->t, w0, 4);
    nb_copy_from(nb_model_weight(m, 2)->t, w1, 2);
    nb_copy_from(nb_model_weight(m, 4)->t, w2, 1);
    nb_fill(nb_model_weight(m, 1)->t, 100); /* biases are not regularized */
    /* 0.01 * 10 + 0.1 * 1.25 + 0.5 * 2 + 0.5 * 4 */
    nb_tensor *r = nb_model_regularization_loss(m);
    NB_ASSERT_CLOSE(nb_item(r), 0.1 + 0.125 + 1.0 + 2.0, 1e-6);
    ck_assert_int_eq(nb_backward(r), NB_OK);
    /* d/dw = l1 sign(w) + 2 l2 w */
    NB_ASSERT_TENSOR(nb_grad(nb_model_weight(m, 0)->t), ((float[]){0.01f, -0.01f, 0.01f, -0.01f}),
                     4, 1e-6);
    NB_ASSERT_TENSOR(nb_grad(nb_model_weight(m, 2)->t), ((float[]){0.1f, -0.2f}), 2, 1e-6);
    NB_ASSERT_TENSOR(nb_grad(nb_model_weight(m, 4)->t), ((float[]){-0.5f - 2.0f}), 1, 1e-6);
    ck_assert_ptr_null(nb_grad(nb_model_weight(m, 1)->t));
    nb_model_free(m);

    m = nb_sequential(NB_SHAPE(2));
    add(m, nb_dense(2, NULL));
    ck_assert(!nb_model_has_regularization(m));
    NB_ASSERT_CLOSE(nb_item(nb_model_regularization_loss(m)), 0.0, 0);
    ck_assert_ptr_null(nb_dense_ex(2, &(nb_dense_opts){.kernel_regularizer = {.l2 = -1}}));
    NB_ASSERT_ERROR_HAS("nb_dense: regularizer l1 0, l2 -1 must be finite and >= 0");
    nb_model_free(m);
}
END_TEST

/* ---- compile and the loss hook for fit
 * ----------------------------------------------------------- */
START_TEST(test_compile_defaults_to_rmsprop_and_registers_the_params) {
    nb_model *m = nb_sequential(NB_SHAPE(3));
    add(m, nb_dense(4, "relu"));
    add(m, nb_dense(2, "softmax"));
    ck_assert_int_eq(nb_model_compile(m, "sparse_categorical_crossentropy", NULL,
                                      (const char *[]){"accuracy"}, 1),
                     NB_OK);
    ck_assert_str_eq(nb_optimizer_name(m->opt), "rmsprop");
    ck_assert_str_eq(m->metric_names[0], "accuracy");
    ck_assert_int_eq(m->metrics[0], NB_METRIC_SPARSE_CATEGORICAL_ACCURACY);
    ck_assert(nb_model_loss_is_fused(m));

    /* one step changes every parameter */
    nb_tensor *x = nb_randn(NB_SHAPE(8, 3));
    nb_tensor *y = nb_from_array((float[]){0, 1, 1, 0, 1, 0, 0, 1}, NB_SHAPE(8));
    float before[4];
    for (int i = 0; i < 4; i++) before[i] = nb_get_flat(nb_model_weight(m, i)->t, 0);
    nb_fill(nb_model_weight(m, 1)->t, 0.1f); /* relu units alive */
    before[1] = 0.1f;
    nb_tensor *pred;
    nb_tensor *loss = nb_model_forward_loss(m, x, y, true, &pred);
    ck_assert_msg(loss != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_backward(loss), NB_OK);
    ck_assert_int_eq(nb_optimizer_step(m->opt), NB_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(nb_get_flat(nb_model_weight(m, i)->t, 0) != before[i], "param %d", i);
    double acc = nb_model_metric(m, 0, pred, y);
    ck_assert(acc >= 0 && acc <= 1);

    /* recompiling with another optimizer replaces (and frees) the first */
    ck_assert_int_eq(nb_model_compile(m, "mse", nb_optimizer_from_name("adam"), NULL, 0), NB_OK);
    ck_assert_str_eq(nb_optimizer_name(m->opt), "adam");
    ck_assert(!nb_model_loss_is_fused(m));
    nb_model_free(m);
}
END_TEST

START_TEST(test_forward_loss_fuses_softmax_and_sigmoid_with_their_cross_entropy) {
    nb_model *m = nb_sequential(NB_SHAPE(3));
    add(m, nb_dense(4, "softmax"));
    ck_assert_int_eq(nb_model_compile(m, "categorical_crossentropy", NULL, NULL, 0), NB_OK);
    nb_tensor *x = nb_randn(NB_SHAPE(5, 3));
    nb_tensor *y = nb_one_hot(nb_from_array((float[]){0, 3, 1, 2, 2}, NB_SHAPE(5)), 4);
    nb_tensor *pred;
    nb_tensor *loss = nb_model_forward_loss(m, x, y, false, &pred);
    nb_tensor *out = nb_model_forward(m, x, false);
    NB_ASSERT_CLOSE(nb_item(loss), nb_item(nb_categorical_crossentropy(out, y)), 1e-5);
    for (int i = 0; i < 20; i++) NB_ASSERT_CLOSE(nb_get_flat(pred, i), nb_get_flat(out, i), 1e-6);
    /* logits of 1e4: the unfused loss clips at 16.1 and has no gradient; the fused one is exact */
    nb_fill(nb_model_weight(m, 0)->t, 0);
    nb_fill(nb_model_weight(m, 1)->t, 0);
    nb_set(nb_model_weight(m, 1)->t, (int64_t[]){0}, 1e4f);
    loss = nb_model_forward_loss(m, x, y, true, NULL);
    NB_ASSERT_CLOSE(nb_item(loss), 1e4 * 4 / 5, 1e-6);
    ck_assert_int_eq(nb_backward(loss), NB_OK);
    nb_tensor *gb = nb_grad(nb_model_weight(m, 1)->t);
    /* bias gradient: mean over rows of softmax - onehot = [1, 0, 0, 0] - mean(onehot) */
    NB_ASSERT_TENSOR(gb, ((float[]){0.8f, -0.2f, -0.4f, -0.2f}), 4, 1e-6);
    nb_model_free(m);

    m = nb_sequential(NB_SHAPE(3));
    add(m, nb_dense(2, NULL));
    add(m, nb_activation_layer("sigmoid"));
    ck_assert_int_eq(
        nb_model_compile(m, "binary_crossentropy", NULL, (const char *[]){"acc", "mse"}, 2), NB_OK);
    ck_assert(nb_model_loss_is_fused(m));
    ck_assert_int_eq(m->metrics[0], NB_METRIC_BINARY_ACCURACY);
    nb_tensor *z = nb_from_array((float[]){1, 0, 0, 1, 1, 1, 0, 0, 1, 0}, NB_SHAPE(5, 2));
    loss = nb_model_forward_loss(m, x, z, false, &pred);
    out = nb_model_forward(m, x, false);
    NB_ASSERT_CLOSE(nb_item(loss), nb_item(nb_binary_crossentropy(out, z)), 1e-5);
    NB_ASSERT_CLOSE(nb_model_metric(m, 1, pred, z), nb_item(nb_mse_loss(out, z)), 1e-6);
    nb_model_free(m);
}
END_TEST

/* ---- metrics that accumulate, against scikit-learn's numbers on fixed cases ---------------- */
static nb_metric_kind metric_kind(const char *name) {
    nb_metric_kind k;
    ck_assert_msg(nb_metric_from_name("test", name, NB_LOSS_MSE, &k), "%s", nb_error());
    return k;
}

/* the metric over x, y added in batches of rows (all rows when batch is 0) */
static double metric_in_batches(const char *name, nb_tensor *x, nb_tensor *y, int64_t batch) {
    nb_metric_kind k = metric_kind(name);
    nb_metric_state st;
    nb_metric_reset(&st);
    int64_t n = nb_dim(x, 0), bs = batch ? batch : n;
    for (int64_t at = 0; at < n; at += bs) {
        int64_t size = n - at < bs ? n - at : bs;
        nb_tensor *xb = nb_slice(x, 0, at, at + size, 1), *yb = nb_slice(y, 0, at, at + size, 1);
        ck_assert_msg(nb_metric_update(k, &st, xb, yb, false) == NB_OK, "%s: %s", name, nb_error());
    }
    return nb_metric_result(k, &st);
}

START_TEST(test_accumulating_metrics_match_scikit_learn_over_any_batching) {
    /* sklearn.metrics 1.2: precision_score, recall_score (threshold 0.5), roc_auc_score,
     * top_k_accuracy_score, mean_squared_error, mean_absolute_error, r2_score */
    nb_tensor *score = nb_from_array(
        (float[]){0.91f, 0.12f, 0.64f, 0.38f, 0.55f, 0.07f, 0.83f, 0.46f, 0.29f, 0.71f},
        NB_SHAPE(10, 1));
    nb_tensor *label = nb_from_array((float[]){1, 0, 1, 1, 0, 0, 1, 0, 1, 0}, NB_SHAPE(10));
    nb_tensor *probs = nb_from_array((float[]){0.1f,  0.5f,  0.2f,  0.11f, 0.05f, 0.04f, //
                                               0.3f,  0.1f,  0.12f, 0.2f,  0.18f, 0.1f,  //
                                               0.05f, 0.06f, 0.1f,  0.11f, 0.3f,  0.38f, //
                                               0.2f,  0.21f, 0.22f, 0.13f, 0.14f, 0.1f},
                                     NB_SHAPE(4, 6));
    nb_tensor *classes = nb_from_array((float[]){1, 2, 0, 5}, NB_SHAPE(4));
    nb_tensor *onehot = nb_one_hot(classes, 6);
    nb_tensor *target = nb_from_array((float[]){3, -0.5f, 2, 7, 4.2f}, NB_SHAPE(5));
    nb_tensor *pred = nb_from_array((float[]){2.5f, 0, 2, 8, 3.1f}, NB_SHAPE(5));
    for (int64_t batch = 0; batch <= 3; batch++) { /* one batch, then 1, 2, 3 rows at a time */
        NB_ASSERT_CLOSE(metric_in_batches("precision", score, label, batch), 0.6, 1e-9);
        NB_ASSERT_CLOSE(metric_in_batches("recall", score, label, batch), 0.6, 1e-9);
        NB_ASSERT_CLOSE(metric_in_batches("auc", score, label, batch), 0.72, 1e-9);
        NB_ASSERT_CLOSE(
            metric_in_batches("sparse_top_k_categorical_accuracy", probs, classes, batch), 0.5,
            1e-9);
        NB_ASSERT_CLOSE(metric_in_batches("top_k_categorical_accuracy", probs, onehot, batch), 0.5,
                        1e-9);
        NB_ASSERT_CLOSE(metric_in_batches("mse", pred, target, batch), 0.542, 1e-6);
        NB_ASSERT_CLOSE(metric_in_batches("mae", pred, target, batch), 0.62, 1e-6);
        NB_ASSERT_CLOSE(metric_in_batches("rmse", pred, target, batch), 0.7362064928, 1e-6);
        NB_ASSERT_CLOSE(metric_in_batches("r2", pred, target, batch), 0.9114147490, 1e-6);
    }
    /* means of per-batch values would differ: recall 0.5 in batches of 2, 0.45 in batches of
     * 3; batches of 2 have no AUC at all when one holds a single class */
    ck_assert(nb_metric_rises("val_auc") && nb_metric_rises("precision") && nb_metric_rises("r2"));
    ck_assert(!nb_metric_rises("val_loss") && !nb_metric_rises("rmse"));
    nb_metric_state st;
    nb_metric_reset(&st);
    ck_assert_int_ne(
        nb_metric_update(metric_kind("auc"), &st, score, nb_full(NB_SHAPE(10, 1), 0.5f), false),
        NB_OK);
    NB_ASSERT_ERROR_HAS("nb_metric (auc): target 0.5 at 0 is not 0 or 1");
}
END_TEST

/* compiled by name, they are History's columns, and evaluate accumulates them too */
START_TEST(test_fit_logs_precision_recall_auc_and_evaluate_does_not_depend_on_the_batch) {
    nb_manual_seed(11);
    nb_tensor *x = nb_randn(NB_SHAPE(64, 3));
    nb_tensor *y = nb_gt(nb_sum(x, (int[]){1}, 1, true), nb_zeros(NB_SHAPE(64, 1)));
    nb_model *m = nb_sequential(NB_SHAPE(3));
    ck_assert_int_eq(nb_model_add(m, nb_dense(1, "sigmoid")), NB_OK);
    const char *metrics[] = {"precision", "recall", "auc"};
    ck_assert_msg(nb_model_compile(m, "binary_crossentropy",
                                   nb_adam(0.05f, 0.9f, 0.999f, 1e-7f, false), metrics, 3) == NB_OK,
                  "%s", nb_error());
    nb_history *h = nb_model_fit(
        m, x, y, &(nb_fit_opts){.epochs = 10, .batch_size = 8, .val_x = x, .val_y = y});
    ck_assert_msg(h, "%s", nb_error());
    double auc = nb_history_get(h, "val_auc", nb_history_epochs(h) - 1);
    ck_assert_msg(auc > 0.95 && auc <= 1, "val_auc %g", auc); /* a linear rule, learned */
    ck_assert(!isnan(nb_history_get(h, "precision", 0)) &&
              !isnan(nb_history_get(h, "val_recall", 0)));
    double one[4], small[4];
    ck_assert_int_eq(nb_model_evaluate(m, x, y, 64, one, 4), 4);
    ck_assert_int_eq(nb_model_evaluate(m, x, y, 5, small, 4), 4);
    for (int i = 1; i < 4; i++) NB_ASSERT_CLOSE(small[i], one[i], 1e-9);
    nb_history_free(h);
    nb_model_free(m);
}
END_TEST

/* ---- binary outputs: targets [N] for outputs [N, 1], as Keras ------------------------------ */
START_TEST(test_every_metric_takes_targets_n_for_outputs_n_by_1) {
    const float prob[] = {0.9f, 0.2f, 0.6f, 0.3f, 0.7f}, z[] = {1, 0, 0, 1, 1};
    nb_tensor *col = nb_from_array(prob, NB_SHAPE(5, 1)), *flat = nb_from_array(prob, NB_SHAPE(5));
    nb_tensor *t = nb_from_array(z, NB_SHAPE(5)), *t_col = nb_from_array(z, NB_SHAPE(5, 1));
    const nb_metric_kind kinds[] = {NB_METRIC_ACCURACY, NB_METRIC_BINARY_ACCURACY, NB_METRIC_MSE,
                                    NB_METRIC_MAE};
    for (int i = 0; i < 4; i++) {
        double want = nb_metric_eval(kinds[i], col, t_col, false);
        ck_assert_msg(!isnan(want), "metric %d: %s", i, nb_error());
        NB_ASSERT_CLOSE(nb_metric_eval(kinds[i], col, t, false), want, 1e-6);
        NB_ASSERT_CLOSE(nb_metric_eval(kinds[i], flat, t_col, false), want, 1e-6);
    }
    NB_ASSERT_CLOSE(nb_binary_accuracy(col, t), 0.6, 1e-6);
    /* labels [N] or [N, 1] for [N, K] scores */
    nb_tensor *p = nb_from_array((float[]){0.1f, 0.9f, 0.8f, 0.2f}, NB_SHAPE(2, 2));
    NB_ASSERT_CLOSE(nb_sparse_categorical_accuracy(p, nb_from_array((float[]){1, 1}, NB_SHAPE(2))),
                    0.5, 1e-6);
    NB_ASSERT_CLOSE(
        nb_sparse_categorical_accuracy(p, nb_from_array((float[]){1, 1}, NB_SHAPE(2, 1))), 0.5,
        1e-6);
    /* as for the losses, the same number of elements is not enough */
    ck_assert(isnan(nb_binary_accuracy(nb_ones(NB_SHAPE(2, 3)), nb_ones(NB_SHAPE(3, 2)))));
    NB_ASSERT_ERROR_HAS("nb_binary_accuracy: predictions [2, 3] and targets [3, 2] differ");
}
END_TEST

/* Dense(1, sigmoid) compiled with binary cross-entropy and accuracy: the loss is fused */
static nb_model *logistic_model(int64_t features) {
    nb_model *m = nb_sequential(NB_SHAPE(features));
    add(m, nb_dense(1, "sigmoid"));
    ck_assert_msg(nb_model_compile(m, "binary_crossentropy",
                                   nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false),
                                   (const char *[]){"accuracy"}, 1) == NB_OK,
                  "%s", nb_error());
    return m;
}

START_TEST(test_sigmoid_output_with_binary_crossentropy_takes_targets_n) {
    nb_model *m = logistic_model(3);
    ck_assert(nb_model_loss_is_fused(m));
    nb_tensor *x = nb_randn(NB_SHAPE(6, 3));
    const float z[] = {1, 0, 0, 1, 1, 0};
    nb_tensor *pred;
    nb_tensor *loss = nb_model_forward_loss(m, x, nb_from_array(z, NB_SHAPE(6)), true, &pred);
    ck_assert_msg(loss != NULL, "%s", nb_error());
    nb_tensor *out = nb_model_forward(m, x, false);
    NB_ASSERT_CLOSE(nb_item(loss),
                    nb_item(nb_binary_crossentropy(out, nb_from_array(z, NB_SHAPE(6, 1)))), 1e-5);
    ck_assert_int_eq(nb_backward(loss), NB_OK);
    NB_ASSERT_CLOSE(nb_model_metric(m, 0, pred, nb_from_array(z, NB_SHAPE(6))),
                    nb_binary_accuracy(out, nb_from_array(z, NB_SHAPE(6, 1))), 1e-6);
    nb_model_free(m);
}
END_TEST

/* x standardized with the training part's statistics; test accuracy after epochs of fit */
static double logistic_test_accuracy(nb_tensor *x, nb_tensor *y, int epochs) {
    nb_split sp;
    ck_assert_msg(nb_train_test_split(x, y, 0.25, true, &sp) == NB_OK, "%s", nb_error());
    nb_scaler sc;
    ck_assert_int_eq(nb_standard_scaler_fit(sp.x_train, &sc), NB_OK);
    nb_tensor *xtr = nb_scaler_transform(&sc, sp.x_train),
              *xte = nb_scaler_transform(&sc, sp.x_test);
    ck_assert_int_eq(sp.y_train->ndim, 1); /* targets [N] for outputs [N, 1] */
    nb_model *m = logistic_model(x->shape[1]);
    nb_history *h =
        nb_model_fit(m, xtr, sp.y_train,
                     &(nb_fit_opts){.epochs = epochs, .batch_size = 32, .verbose = NB_SILENT});
    ck_assert_msg(h != NULL, "%s", nb_error());
    ck_assert(nb_history_get(h, "accuracy", epochs - 1) > 0.9);
    double v[2];
    ck_assert_int_eq(nb_model_evaluate(m, xte, sp.y_test, 32, v, 2), 2);
    nb_history_free(h);
    nb_model_free(m);
    return v[1];
}

START_TEST(test_logistic_regression_with_targets_n_learns_breast_cancer) {
    nb_dataset ds = {0};
    ck_assert_msg(nb_dataset_load("breast_cancer", &ds) == NB_OK, "%s", nb_error());
    ck_assert_int_eq(ds.n_classes, 2);
    double acc = logistic_test_accuracy(ds.x, ds.y, 30);
    ck_assert_msg(acc >= 0.95, "test accuracy %.4f", acc); /* 0.965-0.993 over 10 seeds */
    nb_dataset_free(&ds);
}
END_TEST

/* ---- from_logits: a linear output and a cross-entropy that applies the softmax itself ------- */
START_TEST(test_from_logits_computes_the_fused_loss_on_the_raw_outputs) {
    nb_model *m = nb_sequential(NB_SHAPE(3));
    add(m, nb_dense(4, NULL));
    ck_assert_int_eq(nb_model_compile_ex(m, &(nb_compile_opts){.loss = "sparse_categorical_"
                                                                       "crossentropy",
                                                               .from_logits = true,
                                                               .metrics = (const char *[]){"acc"},
                                                               .n_metrics = 1}),
                     NB_OK);
    ck_assert(m->from_logits);
    ck_assert(nb_model_loss_is_fused(m));
    ck_assert_str_eq(nb_optimizer_name(m->opt), "rmsprop");
    nb_tensor *x = nb_randn(NB_SHAPE(5, 3));
    nb_tensor *y = nb_from_array((float[]){0, 3, 1, 2, 2}, NB_SHAPE(5));
    nb_tensor *pred;
    nb_tensor *loss = nb_model_forward_loss(m, x, y, false, &pred);
    ck_assert_msg(loss != NULL, "%s", nb_error());
    nb_tensor *out = nb_model_forward(m, x, false); /* predict gives the logits, as Keras */
    NB_ASSERT_CLOSE(nb_item(loss), nb_item(nb_sparse_softmax_crossentropy_logits(out, y)), 1e-6);
    for (int i = 0; i < 20; i++) NB_ASSERT_CLOSE(nb_get_flat(pred, i), nb_get_flat(out, i), 1e-6);
    NB_ASSERT_CLOSE(nb_model_metric(m, 0, pred, y), nb_sparse_categorical_accuracy(out, y), 1e-6);
    nb_model_free(m);

    /* one logit: binary accuracy thresholds it at 0, not at 0.5 */
    m = nb_sequential(NB_SHAPE(1));
    add(m, nb_dense(1, NULL));
    ck_assert_int_eq(
        nb_model_compile_ex(m, &(nb_compile_opts){.loss = "binary_crossentropy",
                                                  .from_logits = true,
                                                  .metrics = (const char *[]){"accuracy"},
                                                  .n_metrics = 1}),
        NB_OK);
    ck_assert_int_eq(m->metrics[0], NB_METRIC_BINARY_ACCURACY);
    nb_fill(nb_model_weight(m, 0)->t, 1); /* logit = x */
    x = nb_from_array((float[]){-2, -0.3f, 0.2f, 0.4f, 3}, NB_SHAPE(5, 1));
    y = nb_from_array((float[]){0, 0, 1, 1, 1}, NB_SHAPE(5));
    loss = nb_model_forward_loss(m, x, y, false, &pred);
    NB_ASSERT_CLOSE(nb_item(loss), nb_item(nb_binary_crossentropy(nb_sigmoid(x), y)), 1e-5);
    NB_ASSERT_CLOSE(nb_model_metric(m, 0, pred, y), 1.0, 1e-6); /* 0.5 would say 0.6 */
    NB_ASSERT_CLOSE(nb_binary_accuracy_at(x, y, 0), 1.0, 1e-6);
    NB_ASSERT_CLOSE(nb_binary_accuracy(x, y), 0.6, 1e-6);

    /* mse has no logits; a NULL loss or options are errors */
    ck_assert_int_ne(nb_model_compile_ex(m, &(nb_compile_opts){.loss = "mse", .from_logits = true}),
                     NB_OK);
    NB_ASSERT_ERROR_HAS(
        "nb_model_compile: from_logits applies to the cross-entropies, not to 'mse'");
    ck_assert_int_ne(nb_model_compile_ex(m, NULL), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_model_compile: options are NULL");
    nb_model_free(m);
}
END_TEST

typedef struct {
    int n;
    char last[512];
} warnings;

static void count_warning(const char *message, void *ctx) {
    warnings *w = ctx;
    w->n++;
    snprintf(w->last, sizeof w->last, "%s", message);
}

/* the warnings a compile of a 3 -> k (activation) model gives */
static warnings compile_warnings(int64_t k, const char *activation, const char *loss,
                                 bool from_logits) {
    warnings w = {0};
    nb_model *m = nb_sequential(NB_SHAPE(3));
    add(m, nb_dense(4, "relu"));
    add(m, nb_dense(k, activation));
    const char *metrics[] = {"accuracy"};
    nb_set_warning_handler(count_warning, &w);
    nb_status s = from_logits ? nb_model_compile_ex(m, &(nb_compile_opts){.loss = loss,
                                                                          .from_logits = true,
                                                                          .metrics = metrics,
                                                                          .n_metrics = 1})
                              : nb_model_compile(m, loss, NULL, metrics, 1);
    nb_set_warning_handler(NULL, NULL);
    ck_assert_msg(s == NB_OK, "%s", nb_error());
    /* training adds no warning */
    nb_set_warning_handler(count_warning, &w);
    nb_tensor *y = nb_from_array((float[]){0, 1}, NB_SHAPE(2));
    if (!strcmp(loss, "categorical_crossentropy")) y = nb_one_hot(y, k);
    ck_assert_int_eq(nb_model_train_on_batch(m, nb_randn(NB_SHAPE(2, 3)), y, NULL, NULL), NB_OK);
    nb_set_warning_handler(NULL, NULL);
    nb_model_free(m);
    return w;
}

START_TEST(test_compile_warns_once_when_the_loss_and_the_output_disagree_on_logits) {
    /* a probability loss after a linear output: the course's 19% accuracy, said once */
    warnings w = compile_warnings(3, NULL, "sparse_categorical_crossentropy", false);
    ck_assert_int_eq(w.n, 1);
    ck_assert_str_eq(w.last, "nb_model_compile: loss 'sparse_categorical_crossentropy' takes "
                             "probabilities, but the last layer 'dense_1' (Dense) has activation "
                             "'linear': give it activation 'softmax', or compile with from_logits "
                             "(nb_model_compile_ex)");
    w = compile_warnings(1, "relu", "binary_crossentropy", false);
    ck_assert_int_eq(w.n, 1);
    ck_assert_ptr_nonnull(strstr(w.last, "has activation 'relu': give it activation 'sigmoid'"));
    /* from_logits after an output that already is a probability */
    w = compile_warnings(3, "softmax", "categorical_crossentropy", true);
    ck_assert_int_eq(w.n, 1);
    ck_assert_str_eq(w.last, "nb_model_compile: from_logits is set, but the last layer 'dense_1' "
                             "(Dense) has activation 'softmax', so its outputs are probabilities "
                             "already: drop the activation or from_logits");
    /* the right setups say nothing */
    ck_assert_int_eq(compile_warnings(3, "softmax", "sparse_categorical_crossentropy", false).n, 0);
    ck_assert_int_eq(compile_warnings(1, "sigmoid", "binary_crossentropy", false).n, 0);
    ck_assert_int_eq(compile_warnings(3, NULL, "sparse_categorical_crossentropy", true).n, 0);
    ck_assert_int_eq(compile_warnings(1, NULL, "binary_crossentropy", true).n, 0);
    ck_assert_int_eq(compile_warnings(1, NULL, "mse", false).n, 0);
}
END_TEST

START_TEST(test_linear_output_with_from_logits_learns_iris) {
    nb_dataset ds = {0};
    ck_assert_msg(nb_dataset_load("iris", &ds) == NB_OK, "%s", nb_error());
    nb_split sp; /* iris is sorted by class: shuffle before splitting */
    ck_assert_int_eq(nb_train_test_split(ds.x, ds.y, 0.3, true, &sp), NB_OK);
    nb_scaler sc;
    ck_assert_int_eq(nb_standard_scaler_fit(sp.x_train, &sc), NB_OK);
    nb_model *m = nb_sequential(NB_SHAPE(4));
    add(m, nb_dense(16, "relu"));
    add(m, nb_dense(3, NULL));
    ck_assert_int_eq(
        nb_model_compile_ex(
            m, &(nb_compile_opts){.loss = "sparse_categorical_"
                                          "crossentropy",
                                  .from_logits = true,
                                  .optimizer = nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false),
                                  .metrics = (const char *[]){"acc"},
                                  .n_metrics = 1}),
        NB_OK);
    nb_history *h =
        nb_model_fit(m, nb_scaler_transform(&sc, sp.x_train), sp.y_train,
                     &(nb_fit_opts){.epochs = 40, .batch_size = 16, .verbose = NB_SILENT});
    ck_assert_msg(h != NULL, "%s", nb_error());
    double v[2];
    ck_assert_int_eq(nb_model_evaluate(m, nb_scaler_transform(&sc, sp.x_test), sp.y_test, 32, v, 2),
                     2);
    ck_assert_msg(v[1] >= 0.88, "test accuracy %.4f", v[1]); /* 0.911-1 over 10 seeds */
    /* predict gives logits: rows are not distributions */
    nb_tensor *p = nb_model_predict(m, nb_scaler_transform(&sc, sp.x_test), 32);
    double row = nb_get_flat(p, 0) + nb_get_flat(p, 1) + nb_get_flat(p, 2);
    ck_assert_msg(fabs(row - 1) > 1e-3, "row 0 sums to %g", row);
    nb_history_free(h);
    nb_model_free(m);
    nb_dataset_free(&ds);
}
END_TEST

/* ---- metrics
 * --------------------------------------------------------------------------------------- */
START_TEST(test_accuracies_of_known_predictions) {
    nb_tensor *p = nb_from_array(
        (float[]){0.1f, 0.7f, 0.2f, 0.6f, 0.3f, 0.1f, 0.2f, 0.2f, 0.6f, 0.3f, 0.4f, 0.3f},
        NB_SHAPE(4, 3));
    nb_tensor *labels = nb_from_array((float[]){1, 1, 2, 0}, NB_SHAPE(4)); /* argmax 1, 0, 2, 1 */
    NB_ASSERT_CLOSE(nb_sparse_categorical_accuracy(p, labels), 0.5, 1e-6);
    NB_ASSERT_CLOSE(nb_categorical_accuracy(p, nb_one_hot(labels, 3)), 0.5, 1e-6);
    nb_tensor *b = nb_from_array((float[]){0.9f, 0.4f, 0.6f, 0.2f}, NB_SHAPE(4, 1));
    nb_tensor *t = nb_from_array((float[]){1, 1, 0, 0}, NB_SHAPE(4, 1));
    NB_ASSERT_CLOSE(nb_binary_accuracy(b, t), 0.5, 1e-6);
    ck_assert(isnan(nb_categorical_accuracy(p, labels)));
    NB_ASSERT_ERROR_HAS("nb_categorical_accuracy: predictions and one-hot targets must both be "
                        "[N, K]; got [4, 3] and [4]");
}
END_TEST

START_TEST(test_confusion_matrix_and_report_match_scikit_learn) {
    /* scikit-learn's documented example: y_true = [0, 1, 2, 2, 2], y_pred = [0, 0, 2, 2, 1] */
    nb_tensor *t = nb_from_array((float[]){0, 1, 2, 2, 2}, NB_SHAPE(5));
    nb_tensor *p = nb_from_array((float[]){0, 0, 2, 2, 1}, NB_SHAPE(5));
    nb_tensor *cm = nb_confusion_matrix(t, p, 3);
    NB_ASSERT_TENSOR(cm, ((float[]){1, 0, 0, 1, 0, 0, 0, 1, 2}), 9, 0);
    /* probabilities and one-hot rows are read by their argmax */
    nb_tensor *probs = nb_one_hot(p, 3);
    NB_ASSERT_TENSOR(nb_confusion_matrix(nb_one_hot(t, 3), probs, 3),
                     ((float[]){1, 0, 0, 1, 0, 0, 0, 1, 2}), 9, 0);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    const char *names[] = {"class 0", "class 1", "class 2"};
    ck_assert_int_eq(nb_classification_report(f, cm, names), NB_OK);
    fclose(f);
    const char *want[] = {
        "              precision    recall  f1-score   support",
        "",
        "     class 0       0.50      1.00      0.67         1",
        "     class 1       0.00      0.00      0.00         1",
        "     class 2       1.00      0.67      0.80         3",
        "",
        "    accuracy                           0.60         5",
        "   macro avg       0.50      0.56      0.49         5",
        "weighted avg       0.70      0.60      0.61         5",
    };
    assert_lines(text, want, 9);
    free(text);

    ck_assert_ptr_null(
        nb_confusion_matrix(t, nb_from_array((float[]){0, 3, 1, 1, 1}, NB_SHAPE(5)), 3));
    NB_ASSERT_ERROR_HAS("nb_confusion_matrix: prediction 3 of sample 1 is not a class in [0, 3)");
    ck_assert_ptr_null(nb_confusion_matrix(t, nb_ones(NB_SHAPE(4)), 3));
    NB_ASSERT_ERROR_HAS("nb_confusion_matrix: labels [5] and predictions [4] hold different");
}
END_TEST

START_TEST(test_confusion_matrix_prints_as_a_labelled_integer_table) {
    nb_tensor *t = nb_from_array((float[]){0, 1, 2, 2, 2, 1, 0, 2, 2, 2, 2, 2}, NB_SHAPE(12));
    nb_tensor *p = nb_from_array((float[]){0, 0, 2, 2, 1, 1, 0, 2, 2, 2, 2, 2}, NB_SHAPE(12));
    nb_tensor *cm = nb_confusion_matrix(t, p, 3);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    const char *names[] = {"setosa", "versicolor", "virginica"};
    ck_assert_int_eq(nb_confusion_matrix_print(f, cm, names), NB_OK);
    ck_assert_int_eq(nb_confusion_matrix_print(f, cm, NULL), NB_OK);
    fclose(f);
    const char *want[] = {
        "true \\ predicted  setosa  versicolor  virginica",
        "setosa                 2           0          0",
        "versicolor             1           1          0",
        "virginica              0           1          7",
        "true \\ predicted  0  1  2",
        "0                 2  0  0",
        "1                 1  1  0",
        "2                 0  1  7",
    };
    assert_lines(text, want, 8);
    free(text);
    /* counts only: a normalized matrix is not one */
    f = open_memstream(&text, &len);
    ck_assert_int_ne(nb_confusion_matrix_print(f, nb_mul_scalar(cm, 0.5f), NULL), NB_OK);
    fclose(f);
    free(text);
    NB_ASSERT_ERROR_HAS("nb_confusion_matrix_print: cell [1, 0] = 0.5 is not a count");
    ck_assert_int_ne(nb_confusion_matrix_print(stdout, nb_ones(NB_SHAPE(2, 3)), NULL), NB_OK);
    NB_ASSERT_ERROR_HAS(
        "nb_confusion_matrix_print: the confusion matrix must be [K, K]; got [2, 3]");
}
END_TEST

START_TEST(test_classification_report_refuses_cells_that_are_not_counts) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    float cells[][4] = {{NAN, 0, 0, 1}, {-1, 0, 0, 1}, {0.5f, 0, 0, 1}};
    for (int i = 0; i < 3; i++) {
        nb_tensor *cm = nb_from_array(cells[i], NB_SHAPE(2, 2));
        ck_assert_int_eq(nb_classification_report(f, cm, NULL), NB_ERR_ARG);
        NB_ASSERT_ERROR_HAS("nb_classification_report: cell [0, 0] = ");
        NB_ASSERT_ERROR_HAS("is not a count");
    }
    fclose(f);
    ck_assert_msg(!strstr(text, "-9223372036854775808"), "a NaN count was printed: %s", text);
    free(text);
}
END_TEST

static Suite *nn_suite(void) {
    Suite *s = suite_create("nn");
    TCase *tc = nb_tcase("summary");
    tcase_add_test(tc, test_summary_of_the_course_dense_2_on_3_inputs_shows_8_params);
    tcase_add_test(tc, test_summary_of_the_course_fashion_mlp_shows_79510_params);
    tcase_add_test(tc, test_summary_with_names_flatten_and_a_cnn);
    tcase_add_test(tc, test_summary_columns_widen_to_fit_a_long_batch_norm_name);
    suite_add_tcase(s, tc);
    tc = nb_tcase("shapes");
    tcase_add_test(tc, test_output_shapes_are_inferred_when_layers_are_added);
    tcase_add_test(tc, test_bad_layer_combinations_name_both_layers_and_shapes);
    tcase_add_test(tc, test_names_are_automatic_unique_and_checked);
    tcase_add_test(tc, test_unknown_names_are_errors_listing_the_known_ones);
    tcase_add_test(tc, test_a_channels_last_input_to_conv2d_names_the_layout_and_the_permute);
    suite_add_tcase(s, tc);
    tc = nb_tcase("gradients");
    tcase_add_test(tc, test_dense_passes_gradcheck_with_and_without_bias);
    tcase_add_loop_test(tc, test_dense_with_each_activation_passes_gradcheck, 0,
                        (int)(sizeof activations / sizeof activations[0]));
    tcase_add_test(tc, test_activations_by_name_compute_the_named_function);
    tcase_add_test(tc, test_dropout_layer_is_random_in_training_and_identity_in_inference);
    tcase_add_test(tc, test_two_layer_model_passes_gradcheck_for_all_params);
    tcase_add_test(tc, test_cnn_layers_pass_gradcheck);
    tcase_add_test(tc, test_batch_norm_layer_keeps_moving_statistics_with_keras_momentum);
    suite_add_tcase(s, tc);
    tc = nb_tcase("weights");
    tcase_add_test(tc, test_initializers_follow_keras_formulas);
    tcase_add_test(tc, test_regularizers_add_l1_and_l2_of_the_kernels);
    suite_add_tcase(s, tc);
    tc = nb_tcase("compile");
    tcase_add_test(tc, test_compile_defaults_to_rmsprop_and_registers_the_params);
    tcase_add_test(tc, test_forward_loss_fuses_softmax_and_sigmoid_with_their_cross_entropy);
    suite_add_tcase(s, tc);
    tc = nb_tcase("binary");
    tcase_add_test(tc, test_every_metric_takes_targets_n_for_outputs_n_by_1);
    tcase_add_test(tc, test_accumulating_metrics_match_scikit_learn_over_any_batching);
    tcase_add_test(tc,
                   test_fit_logs_precision_recall_auc_and_evaluate_does_not_depend_on_the_batch);
    tcase_add_test(tc, test_sigmoid_output_with_binary_crossentropy_takes_targets_n);
    tcase_add_test(tc, test_logistic_regression_with_targets_n_learns_breast_cancer);
    suite_add_tcase(s, tc);
    tc = nb_tcase("from_logits");
    tcase_add_test(tc, test_from_logits_computes_the_fused_loss_on_the_raw_outputs);
    tcase_add_test(tc, test_compile_warns_once_when_the_loss_and_the_output_disagree_on_logits);
    tcase_add_test(tc, test_linear_output_with_from_logits_learns_iris);
    suite_add_tcase(s, tc);
    tc = nb_tcase("metrics");
    tcase_add_test(tc, test_accuracies_of_known_predictions);
    tcase_add_test(tc, test_confusion_matrix_and_report_match_scikit_learn);
    tcase_add_test(tc, test_classification_report_refuses_cells_that_are_not_counts);
    tcase_add_test(tc, test_confusion_matrix_prints_as_a_labelled_integer_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(nn_suite());
}
