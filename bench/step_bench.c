/* One training step (forward, softmax cross-entropy, backward, Adam) of the
 * Fashion-MNIST MLP 784-100-10 or of the course CNN, eager or replayed as a
 * compiled graph; prints the median seconds per step.
 * usage: step_bench mlp|cnn eager|graph BATCH THREADS REPEATS */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static nb_model *mlp(void) {
    nb_model *m = nb_sequential(NB_SHAPE(784));
    nb_model_add(m, nb_dense(100, "relu"));
    nb_model_add(m, nb_dense(10, "softmax"));
    return m;
}

/* conv 32 and 64 (3x3, same padding, relu) each with a 2x2 max-pool, dense 100
 * relu, dropout 0.3, dense 10: examples/fashion_cnn.c */
static nb_model *cnn(void) {
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
    return m;
}

static int fail(const char *what) {
    fprintf(stderr, "step_bench: %s: %s\n", what, nb_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 6 || (strcmp(argv[1], "mlp") && strcmp(argv[1], "cnn")) ||
        (strcmp(argv[2], "eager") && strcmp(argv[2], "graph"))) {
        fprintf(stderr, "usage: step_bench mlp|cnn eager|graph BATCH THREADS REPEATS\n");
        return 2;
    }
    bool is_cnn = !strcmp(argv[1], "cnn"), graph = !strcmp(argv[2], "graph");
    int batch = atoi(argv[3]), threads = atoi(argv[4]), reps = atoi(argv[5]);
    if (batch < 1 || threads < 1 || reps < 1) return 2;
    nb_set_num_threads(threads);
    nb_manual_seed(1);
    nb_tensor *x = is_cnn ? nb_rand(NB_SHAPE(batch, 1, 28, 28)) : nb_rand(NB_SHAPE(batch, 784));
    nb_tensor *y = nb_empty(NB_SHAPE(batch));
    for (int i = 0; i < batch; i++) nb_data(y)[i] = (float)(i % 10);
    nb_model *m = is_cnn ? cnn() : mlp();
    if (nb_model_compile(m, "sparse_categorical_crossentropy",
                         nb_adam(1e-3f, 0.9f, 0.999f, 1e-7f, false), NULL, 0) != NB_OK)
        return fail("compile");
    nb_tensor *in[2] = {x, y}, *out[1];
    nb_graph *g = NULL;
    if (graph && !(g = nb_model_trace_step(m, x, y, NULL))) return fail("trace");
    int warm = is_cnn ? 5 : 50;
    double *t = malloc(sizeof *t * (size_t)reps);
    for (int i = -warm; i < reps; i++) {
        double t0 = now();
        nb_status s;
        if (g) {
            s = nb_graph_run(g, in, 2, out);
        } else {
            nb_scope_begin();
            s = nb_model_train_on_batch(m, x, y, &out[0], NULL);
            nb_scope_end();
        }
        if (s != NB_OK) return fail("step");
        if (i >= 0) t[i] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    printf("%.9f\n", t[reps / 2]);
    free(t);
    nb_graph_free(g);
    nb_model_free(m);
    nb_shutdown();
    return 0;
}
