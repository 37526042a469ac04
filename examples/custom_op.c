/* A new op in C: swish(x) = x * sigmoid(x), with its own backward.
 *
 * nb_custom_op runs the forward callback and records one tape node; during
 * backward it calls the backward callback with the output's gradient gy:
 *   d swish / dx = s + x * s * (1 - s),  s = sigmoid(x)
 * nb_gradcheck then compares that with central differences.
 */
#include <nabla.h>

#include <stdio.h>

static nb_tensor *swish_forward(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    (void)ctx;
    return nb_mul(x[0], nb_sigmoid(x[0]));
}

static nb_status swish_backward(nb_tensor *const *x, int n, nb_tensor *y, nb_tensor *gy,
                                nb_tensor **gx, void *ctx) {
    (void)n;
    (void)y;
    (void)ctx;
    nb_tensor *s = nb_sigmoid(x[0]);
    nb_tensor *ds = nb_mul(s, nb_rsub_scalar(s, 1)); /* s (1 - s) */
    gx[0] = nb_mul(gy, nb_add(s, nb_mul(x[0], ds)));
    return gx[0] ? NB_OK : nb_error_code();
}

static nb_tensor *swish(nb_tensor *const *x, int n, void *ctx) {
    return nb_custom_op("swish", x, n, swish_forward, swish_backward, ctx);
}

int main(void) {
    nb_manual_seed(3);
    nb_tensor *x = nb_set_requires_grad(nb_linspace(-3, 3, 7), true);
    nb_tensor *y = swish(&x, 1, NULL);
    if (!y || nb_backward_ex(y, nb_ones(NB_SHAPE(7)), false) != NB_OK) {
        fprintf(stderr, "custom_op: %s\n", nb_error());
        return 1;
    }
    printf("x            ");
    nb_print(x);
    printf("swish(x)     ");
    nb_print(y);
    printf("d swish / dx ");
    nb_print(nb_grad(x));

    nb_gradcheck_result r = {0};
    nb_tensor *z = nb_set_requires_grad(nb_randn(NB_SHAPE(3, 4)), true);
    nb_status s = nb_gradcheck(swish, &z, 1, NULL, 1e-3, 1e-2, &r);
    printf("gradcheck on a random [3, 4] input: %s (largest error %.2g)\n",
           s == NB_OK ? "passed" : "FAILED", r.max_error);
    nb_shutdown();
    return s == NB_OK ? 0 : 1;
}
