/* Logic gates with a single perceptron.
 *
 * Part 1 uses the course's hand-picked weights: S = x1*w1 + x2*w2 + b, and the
 * output is step(S). Part 2 lets a perceptron learn the same gates: sigmoid
 * instead of step (so there is a gradient), binary cross-entropy as the loss,
 * plain gradient descent. Part 3 shows that XOR cannot be learned this way:
 * no straight line separates its 1s from its 0s.
 */
#include <nabla.h>

#include <stdio.h>

static const float inputs[] = {0, 0, 0, 1, 1, 0, 1, 1};

/* x: [4, 2] the four input pairs */
static nb_tensor *truth_inputs(void) {
    return nb_from_array(inputs, NB_SHAPE(4, 2));
}

static void print_table(const char *name, nb_tensor *out) {
    printf("  %-5s x1 x2 | y\n", name);
    for (int i = 0; i < 4; i++)
        printf("         %.0f  %.0f | %.0f\n", inputs[2 * i], inputs[2 * i + 1],
               nb_get_flat(out, i));
}

/* S = x @ w + b, y = step(S), with fixed weights
 *   x: [4, 2] @ w: [2, 1] -> [4, 1], + b: [] broadcasts to every row */
static int fixed_gate(const char *name, float w1, float w2, float b) {
    nb_tensor *w = nb_from_array((float[]){w1, w2}, NB_SHAPE(2, 1));
    nb_tensor *s = nb_add(nb_matmul(truth_inputs(), w), nb_scalar(b));
    nb_tensor *y = nb_heaviside(s);
    if (!y) return 1;
    printf("%s with w = (%.1f, %.1f), b = %.1f\n", name, w1, w2, b);
    printf("  x1 x2 |    S | y = step(S)\n");
    for (int i = 0; i < 4; i++)
        printf("   %.0f  %.0f | %4.1f |   %.0f\n", inputs[2 * i], inputs[2 * i + 1],
               nb_get_flat(s, i), nb_get_flat(y, i));
    return 0;
}

/* Learn y from the four inputs; returns how many outputs end on the right side. */
static int learn_gate(const char *name, const float *target, bool verbose) {
    nb_tensor *x = truth_inputs();
    nb_tensor *y = nb_from_array(target, NB_SHAPE(4, 1));
    nb_tensor *w = nb_set_requires_grad(nb_randn(NB_SHAPE(2, 1)), true);
    nb_tensor *b = nb_set_requires_grad(nb_zeros(NB_SHAPE(1)), true);
    const float lr = 1.0f;
    for (int epoch = 0; epoch < 1000; epoch++) {
        nb_scope_begin();
        nb_tensor *p = nb_clip(nb_sigmoid(nb_add(nb_matmul(x, w), b)), 1e-7f, 1 - 1e-7f);
        /* binary cross-entropy: -(y log p + (1 - y) log(1 - p)), averaged */
        nb_tensor *bce = nb_neg(nb_add(nb_mul(y, nb_log(p)),
                                       nb_mul(nb_rsub_scalar(y, 1), nb_log(nb_rsub_scalar(p, 1)))));
        nb_tensor *loss = nb_mean_all(bce);
        if (nb_backward(loss) != NB_OK) {
            nb_scope_end();
            return -1;
        }
        for (int k = 0; k < 2; k++) nb_data(w)[k] -= lr * nb_data(nb_grad(w))[k];
        nb_data(b)[0] -= lr * nb_data(nb_grad(b))[0];
        nb_zero_grad(w);
        nb_zero_grad(b);
        nb_scope_end();
    }
    nb_tensor *out = nb_heaviside(nb_add(nb_matmul(x, w), b));
    int right = 0;
    for (int i = 0; i < 4; i++) right += nb_get_flat(out, i) == target[i];
    if (verbose) {
        printf("%s learned: w = (%.2f, %.2f), b = %.2f\n", name, nb_data(w)[0], nb_data(w)[1],
               nb_data(b)[0]);
        print_table(name, out);
    }
    return right;
}

int main(void) {
    nb_manual_seed(7);
    printf("== 1. perceptrons with the course's weights ==\n");
    int err = fixed_gate("AND", 0.5f, 0.5f, -0.7f) | fixed_gate("OR", 0.6f, 0.6f, -0.5f) |
              fixed_gate("NAND", -0.5f, -0.5f, 0.7f);

    printf("\n== 2. the same gates learned (sigmoid + cross-entropy + gradient descent) ==\n");
    static const float and_y[] = {0, 0, 0, 1}, or_y[] = {0, 1, 1, 1}, nand_y[] = {1, 1, 1, 0};
    int ok = learn_gate("AND", and_y, true) == 4;
    ok &= learn_gate("OR", or_y, true) == 4;
    ok &= learn_gate("NAND", nand_y, true) == 4;

    printf("\n== 3. XOR with one perceptron ==\n");
    static const float xor_y[] = {0, 1, 1, 0};
    int best = 0;
    for (int trial = 0; trial < 5; trial++) {
        int r = learn_gate("XOR", xor_y, false);
        if (r > best) best = r;
    }
    printf("best of 5 runs: %d of 4 right. XOR's 1s and 0s sit on opposite corners: no single\n"
           "line splits them, so one perceptron cannot learn it (see the xor example).\n",
           best);

    if (err || !ok || best == 4) {
        fprintf(stderr, "gates: unexpected result %s\n", nb_error());
        nb_shutdown();
        return 1;
    }
    nb_shutdown();
    return 0;
}
