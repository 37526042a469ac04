/* One training step of the Fashion-MNIST MLP 784-100-10 (forward, fused
 * softmax cross-entropy, backward, Adam) at a given batch size; prints the
 * median time per step in microseconds. usage: mlp_bench REPEATS BATCH THREADS */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>
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

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 1000, batch = argc > 2 ? atoi(argv[2]) : 32;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    if (reps < 1 || batch < 1 || threads < 1) return 2;
    nb_set_num_threads(threads);
    nb_manual_seed(1);
    nb_tensor *x = nb_rand(NB_SHAPE(batch, 784));
    nb_tensor *y = nb_empty(NB_SHAPE(batch));
    for (int i = 0; i < batch; i++) nb_data(y)[i] = (float)(i % 10);
    nb_tensor *p[] = {nb_set_requires_grad(nb_uniform(NB_SHAPE(784, 100), -0.08f, 0.08f), true),
                      nb_set_requires_grad(nb_zeros(NB_SHAPE(100)), true),
                      nb_set_requires_grad(nb_uniform(NB_SHAPE(100, 10), -0.2f, 0.2f), true),
                      nb_set_requires_grad(nb_zeros(NB_SHAPE(10)), true)};
    nb_optimizer *opt = nb_adam(1e-3f, 0.9f, 0.999f, 1e-7f, false);
    nb_optimizer_add_params(opt, p, 4);
    double *t = malloc(sizeof *t * (size_t)reps);
    for (int i = -20; i < reps; i++) {
        double t0 = now();
        nb_scope_begin();
        nb_tensor *h = nb_relu(nb_linear(x, p[0], p[1]));
        nb_tensor *loss = nb_sparse_softmax_crossentropy_logits(nb_linear(h, p[2], p[3]), y);
        if (!loss || nb_backward(loss) != NB_OK || nb_optimizer_step(opt) != NB_OK) {
            fprintf(stderr, "mlp_bench: %s\n", nb_error());
            return 1;
        }
        nb_optimizer_zero_grad(opt);
        nb_scope_end();
        if (i >= 0) t[i] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    printf("%.1f\n", t[reps / 2] * 1e6);
    free(t);
    nb_optimizer_free(opt);
    nb_shutdown();
    return 0;
}
