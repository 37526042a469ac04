/* One conv2d forward + backward (x, w, b gradients): x [32, 32, 28, 28],
 * 64 filters 3x3, padding 1. Prints the median time per step in ms.
 * usage: conv_bench REPEATS THREADS */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 50, threads = argc > 2 ? atoi(argv[2]) : 1;
    if (reps < 1 || reps > 100000 || threads < 1) return 2;
    nb_set_num_threads(threads);
    nb_tensor *x = nb_set_requires_grad(nb_randn(NB_SHAPE(32, 32, 28, 28)), true);
    nb_tensor *w = nb_set_requires_grad(nb_randn(NB_SHAPE(64, 32, 3, 3)), true);
    nb_tensor *b = nb_set_requires_grad(nb_zeros(NB_SHAPE(64)), true);
    nb_conv2d_opts o = {.pad_h = 1, .pad_w = 1};
    double *t = malloc(sizeof *t * (size_t)reps);
    for (int i = -3; i < reps; i++) { /* 3 warm-up steps create the primitives */
        double t0 = now();
        nb_scope_begin();
        nb_tensor *y = nb_conv2d(x, w, b, &o);
        if (!y || nb_backward(nb_sum_all(y)) != NB_OK) {
            fprintf(stderr, "conv_bench: %s\n", nb_error());
            return 1;
        }
        nb_zero_grad(x);
        nb_zero_grad(w);
        nb_zero_grad(b);
        nb_scope_end();
        if (i >= 0) t[i] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    printf("%.3f\n", t[reps / 2] * 1e3);
    free(t);
    nb_shutdown();
    return 0;
}
