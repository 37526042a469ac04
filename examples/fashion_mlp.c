/* Fashion-MNIST with a multi-layer perceptron, the course's Keras workflow:
 *
 *   Flatten -> Dense(100, relu) -> Dense(10, softmax), adam, 5 epochs
 *
 * `fashion_mlp sigmoid` runs the course's other variant: a sigmoid hidden
 * layer with rmsprop (the course reports 0.869 validation accuracy).
 * usage: fashion_mlp [relu|sigmoid] [OUT_DIR]
 */
#include "classify.h"

#include <nabla/plot.h>
#include <string.h>

/* the trained model's graph on 4 test images, forward and backward */
static void draw(nb_model *m, nb_tensor *x, const char *out) {
    char path[1024];
    nb_scope_begin();
    nb_tensor *batch = nb_set_name(nb_clone(nb_slice(x, 0, 0, 4, 1)), "images");
    nb_tensor *y = nb_set_name(nb_model_forward(m, batch, false), "probabilities");
    nb_tensor *loss = nb_set_name(nb_sum_all(y), "out");
    nb_draw_opts o = {.max_values = -1, .title = "Fashion-MNIST MLP: forward"};
    snprintf(path, sizeof path, "%s/fashion_mlp_forward.svg", out);
    if (loss && nb_draw_save(y, &o, path) == NB_OK) printf("wrote %s\n", path);
    o.backward = true;
    o.title = "Fashion-MNIST MLP: backward";
    snprintf(path, sizeof path, "%s/fashion_mlp_backward.svg", out);
    if (loss && nb_backward(loss) == NB_OK && nb_draw_save(loss, &o, path) == NB_OK)
        printf("wrote %s\n", path);
    nb_scope_end();
}

/* One more training step (32 training images), traced and compiled as fit runs
 * it: the op list with its fused groups and arena, and the graph as a picture. */
static void draw_step(nb_model *m, nb_tensor *x, nb_tensor *y, const char *out) {
    char path[1024];
    nb_scope_begin();
    nb_graph *g = nb_model_trace_step(m, nb_clone(nb_slice(x, 0, 0, 32, 1)),
                                      nb_clone(nb_slice(y, 0, 0, 32, 1)), NULL);
    if (g) {
        printf("\nthe compiled training step (what fit replays):\n");
        nb_graph_print(g, stdout);
        snprintf(path, sizeof path, "%s/fashion_mlp_step.svg", out);
        if (nb_graph_draw_save(g, path) == NB_OK) printf("wrote %s\n", path);
    }
    nb_graph_free(g);
    nb_scope_end();
}

int main(int argc, char **argv) {
    bool sigmoid = argc > 1 && !strcmp(argv[1], "sigmoid");
    const char *out = argc > 2 ? argv[2] : ".";
    double need = sigmoid ? 0.85 : 0.87;
    nb_manual_seed(42);

    nb_dataset train = {0}, test = {0};
    if (nb_dataset_load("fashion-mnist", &train) != NB_OK ||
        nb_dataset_load("fashion-mnist-test", &test) != NB_OK) {
        fprintf(stderr, "fashion_mlp: %s\n", nb_error());
        return 1;
    }
    printf("Fashion-MNIST: %lld training and %lld test images of 28x28\n\n",
           (long long)nb_dim(train.x, 0), (long long)nb_dim(test.x, 0));

    nb_model *m = nb_sequential(NB_SHAPE(28, 28));
    nb_model_add(m, nb_flatten_layer());
    nb_model_add(m, nb_dense(100, sigmoid ? "sigmoid" : "relu"));
    nb_model_add(m, nb_dense(10, "softmax"));
    nb_model_summary(m, stdout);
    nb_status s = nb_model_compile(m, "sparse_categorical_crossentropy",
                                   nb_optimizer_from_name(sigmoid ? "rmsprop" : "adam"),
                                   (const char *[]){"accuracy"}, 1);
    nb_history *h = s == NB_OK ? nb_model_fit(m, train.x, train.y,
                                              &(nb_fit_opts){.epochs = 5,
                                                             .batch_size = 32,
                                                             .val_x = test.x,
                                                             .val_y = test.y,
                                                             .verbose = 1})
                               : NULL;
    if (!h) {
        fprintf(stderr, "fashion_mlp: %s\n", nb_error());
        return 1;
    }
    double values[2];
    nb_model_evaluate(m, test.x, test.y, 256, values, 2);
    printf("\ntest loss %.4f, test accuracy %.4f\n", values[0], values[1]);
    double acc = report(m, test.x, test.y, 10, test.class_names);

    char path[1024];
    snprintf(path, sizeof path, "%s/fashion_mlp.safetensors", out);
    if (nb_model_save_weights(m, path) == NB_OK) printf("\nmodel saved to %s\n", path);
    snprintf(path, sizeof path, "%s/fashion_mlp_history.csv", out);
    if (nb_history_save_csv(h, path) == NB_OK) printf("history saved to %s\n", path);
    snprintf(path, sizeof path, "%s/fashion_mlp_curves.svg", out);
    if (nb_history_plot_svg(h, path, "Fashion-MNIST MLP") == NB_OK) printf("wrote %s\n", path);
    draw_step(m, train.x, train.y, out); /* tracing trains one more step (after the save) */
    draw(m, test.x, out);                /* last: its backward leaves gradients on the weights */

    bool ok = acc >= need;
    printf("%s: test accuracy %.4f %s %.2f\n", ok ? "ok" : "FAILED", acc, ok ? ">=" : "<", need);
    nb_history_free(h);
    nb_model_free(m);
    nb_dataset_free(&train);
    nb_dataset_free(&test);
    nb_shutdown();
    return ok ? 0 : 1;
}
