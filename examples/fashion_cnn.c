/* Fashion-MNIST with the course's CNN:
 *
 *   Conv2D(32, 3x3, same, relu) -> MaxPool(2) -> Conv2D(64, 3x3, same, relu) -> MaxPool(2)
 *   -> Flatten -> Dense(100, relu) -> Dropout(0.3) -> Dense(10, softmax)
 *
 * adam, 3 epochs, batch 32; must reach 0.90 test accuracy.
 * usage: fashion_cnn [OUT_DIR]
 */
#include "classify.h"

int main(int argc, char **argv) {
    const char *out = argc > 1 ? argv[1] : ".";
    nb_manual_seed(42);
    nb_dataset train = {0}, test = {0};
    if (nb_dataset_load("fashion-mnist", &train) != NB_OK ||
        nb_dataset_load("fashion-mnist-test", &test) != NB_OK) {
        fprintf(stderr, "fashion_cnn: %s\n", nb_error());
        return 1;
    }
    /* images as [N, 1, 28, 28]: one channel */
    nb_tensor *x = nb_reshape(train.x, NB_SHAPE(-1, 1, 28, 28));
    nb_tensor *xt = nb_reshape(test.x, NB_SHAPE(-1, 1, 28, 28));

    nb_model *m = nb_sequential(NB_SHAPE(1, 28, 28));
    nb_conv2d_layer_opts same = {
        .kernel_h = 3, .kernel_w = 3, .padding = "same", .activation = "relu"};
    nb_model_add(m, nb_conv2d_layer_ex(32, &same));
    nb_model_add(m, nb_max_pool2d_layer(2, 0));
    nb_model_add(m, nb_conv2d_layer_ex(64, &same));
    nb_model_add(m, nb_max_pool2d_layer(2, 0));
    nb_model_add(m, nb_flatten_layer());
    nb_model_add(m, nb_dense(100, "relu"));
    nb_model_add(m, nb_dropout_layer(0.3f));
    nb_model_add(m, nb_dense(10, "softmax"));
    nb_model_summary(m, stdout);
    nb_status s = nb_model_compile(m, "sparse_categorical_crossentropy",
                                   nb_optimizer_from_name("adam"), (const char *[]){"accuracy"}, 1);
    nb_history *h =
        s == NB_OK
            ? nb_model_fit(
                  m, x, train.y,
                  &(nb_fit_opts){
                      .epochs = 3, .batch_size = 32, .val_x = xt, .val_y = test.y, .verbose = 1})
            : NULL;
    if (!h) {
        fprintf(stderr, "fashion_cnn: %s\n", nb_error());
        return 1;
    }
    double acc = report(m, xt, test.y, 10, test.class_names);
    char path[1024];
    snprintf(path, sizeof path, "%s/fashion_cnn.safetensors", out);
    if (nb_model_save_weights(m, path) == NB_OK) printf("\nmodel saved to %s\n", path);
    bool ok = acc >= 0.90;
    printf("%s: test accuracy %.4f %s 0.90\n", ok ? "ok" : "FAILED", acc, ok ? ">=" : "<");
    nb_history_free(h);
    nb_model_free(m);
    nb_dataset_free(&train);
    nb_dataset_free(&test);
    nb_shutdown();
    return ok ? 0 : 1;
}
