/* XOR with a 2-4-1 multi-layer perceptron built from raw ops.
 *
 *   h = tanh(x @ W1 + b1)      x: [4, 2], W1: [2, 4], h: [4, 4]
 *   p = sigmoid(h @ W2 + b2)   W2: [4, 1], p: [4, 1]
 *   loss = mean((p - y)^2)
 *
 * nb_backward fills W1.grad ... b2.grad by the chain rule; plain gradient
 * descent moves each parameter against its gradient. Each step runs in a
 * scope, so its intermediates are freed (and their memory reused) at the end.
 * At the end the trained network's forward and backward graphs are drawn to
 * DIR/xor_forward.svg and DIR/xor_backward.svg (usage: xor [DIR]).
 */
#include <nabla.h>

#include <stdio.h>

#define STEPS 3000
#define LR    0.5f

/* one more forward + backward on the trained net, drawn both ways */
static int draw(nb_tensor *x, nb_tensor *y, nb_tensor **params, const char *dir) {
    char path[1024];
    nb_name_scope_begin("hidden layer"); /* each layer is drawn as a labelled box */
    nb_tensor *h = nb_set_name(nb_tanh(nb_linear(x, params[0], params[1])), "h");
    nb_name_scope_end();
    nb_name_scope_begin("output layer");
    nb_tensor *p = nb_set_name(nb_sigmoid(nb_linear(h, params[2], params[3])), "p");
    nb_name_scope_end();
    nb_tensor *loss = nb_set_name(nb_mean_all(nb_square(nb_sub(p, y))), "loss");
    if (nb_backward(loss) != NB_OK) return 1;
    snprintf(path, sizeof path, "%s/xor_forward.svg", dir);
    nb_draw_opts o = {.title = "XOR: forward", .max_values = 8};
    if (nb_draw_save(loss, &o, path) != NB_OK) return 1;
    printf("wrote %s\n", path);
    snprintf(path, sizeof path, "%s/xor_backward.svg", dir);
    o.backward = true;
    o.title = "XOR: backward (the chain rule, node by node)";
    if (nb_draw_save(loss, &o, path) != NB_OK) return 1;
    printf("wrote %s\n", path);
    return 0;
}

int main(int argc, char **argv) {
    nb_manual_seed(1);
    nb_tensor *x = nb_from_array((float[]){0, 0, 0, 1, 1, 0, 1, 1}, NB_SHAPE(4, 2));
    nb_tensor *y = nb_from_array((float[]){0, 1, 1, 0}, NB_SHAPE(4, 1));
    nb_tensor *params[] = {
        nb_set_name(nb_set_requires_grad(nb_randn(NB_SHAPE(2, 4)), true), "W1"),
        nb_set_name(nb_set_requires_grad(nb_zeros(NB_SHAPE(4)), true), "b1"),
        nb_set_name(nb_set_requires_grad(nb_randn(NB_SHAPE(4, 1)), true), "W2"),
        nb_set_name(nb_set_requires_grad(nb_zeros(NB_SHAPE(1)), true), "b2"),
    };

    for (int step = 0; step <= STEPS; step++) {
        nb_scope_begin();
        nb_tensor *h = nb_tanh(nb_linear(x, params[0], params[1]));
        nb_tensor *p = nb_sigmoid(nb_linear(h, params[2], params[3]));
        nb_tensor *loss = nb_mean_all(nb_square(nb_sub(p, y)));
        if (nb_backward(loss) != NB_OK) {
            fprintf(stderr, "xor: %s\n", nb_error());
            return 1;
        }
        if (step % 500 == 0) printf("step %4d  loss %.5f\n", step, nb_item(loss));
        for (int i = 0; i < 4; i++) {
            float *w = nb_data(params[i]), *g = nb_data(nb_grad(params[i]));
            for (int64_t k = 0; k < nb_numel(params[i]); k++) w[k] -= LR * g[k];
            nb_zero_grad(params[i]);
        }
        nb_scope_end();
    }

    nb_tensor *p =
        nb_sigmoid(nb_linear(nb_tanh(nb_linear(x, params[0], params[1])), params[2], params[3]));
    int wrong = 0;
    printf("\n x1 x2 | target  output\n");
    for (int i = 0; i < 4; i++) {
        float out = nb_get_flat(p, i), target = nb_get_flat(y, i);
        printf("  %.0f  %.0f |   %.0f     %.3f\n", nb_get_flat(x, 2 * i), nb_get_flat(x, 2 * i + 1),
               target, out);
        wrong += (out > 0.5f) != (target > 0.5f);
    }
    if (wrong)
        printf("\n%d outputs on the wrong side of 0.5\n", wrong);
    else
        printf("\nall four outputs on the right side of 0.5\n");
    if (draw(x, y, params, argc > 1 ? argv[1] : ".")) {
        fprintf(stderr, "xor: %s\n", nb_error());
        wrong = 1;
    }
    nb_shutdown();
    return wrong ? 1 : 0;
}
