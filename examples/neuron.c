/* README's first program: one sigmoid neuron, forward and backward. The
 * install test builds it against an installed nabla with pkg-config alone. */
#include <nabla.h>

int main(void) {
    nb_tensor *x = nb_from_array((float[]){1, 2}, NB_SHAPE(1, 2));
    nb_tensor *w =
        nb_set_requires_grad(nb_from_array((float[]){0.5f, -0.3f}, NB_SHAPE(2, 1)), true);
    nb_tensor *b = nb_set_requires_grad(nb_scalar(0.1f), true);

    nb_tensor *y = nb_sigmoid(nb_add(nb_matmul(x, w), b)); /* y = sigmoid(x @ w + b) */
    if (!y || nb_backward(y) != NB_OK) {
        fprintf(stderr, "%s\n", nb_error());
        return 1;
    }

    nb_print(y);          /* sigmoid(0.5 - 0.6 + 0.1) = 0.5             */
    nb_print(nb_grad(w)); /* dy/dw = y(1 - y) x = [[0.25], [0.5]]      */
    nb_print(nb_grad(b)); /* dy/db = y(1 - y)   = 0.25                 */
    nb_shutdown();        /* frees every tensor: no manual free needed  */
    return 0;
}
