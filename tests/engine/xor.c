/* The engine stands alone: this program links nabla's core, ops and autograd
 * layers only (no nn, optim, tools, zlib or Graphviz) and trains a 2-4-1
 * network on XOR with plain gradient descent written here. It fails (exit 1)
 * unless the loss falls below 0.01 and every prediction is on the right side
 * of 0.5. */
#include "nabla/autograd.h"
#include "nabla/core.h"
#include "nabla/ops.h"

#include <stdio.h>

static int fail(const char *what) {
    fprintf(stderr, "engine xor: %s: %s\n", what, nb_error());
    nb_shutdown();
    return 1;
}

int main(void) {
    nb_manual_seed(7);
    nb_tensor *x = nb_from_array((float[]){0, 0, 0, 1, 1, 0, 1, 1}, NB_SHAPE(4, 2));
    nb_tensor *y = nb_from_array((float[]){0, 1, 1, 0}, NB_SHAPE(4, 1));
    nb_tensor *params[] = {
        nb_set_requires_grad(nb_uniform(NB_SHAPE(2, 4), -1, 1), true),
        nb_set_requires_grad(nb_zeros(NB_SHAPE(4)), true),
        nb_set_requires_grad(nb_uniform(NB_SHAPE(4, 1), -1, 1), true),
        nb_set_requires_grad(nb_zeros(NB_SHAPE(1)), true),
    };
    for (int i = 0; i < 4; i++)
        if (!params[i]) return fail("parameters");
    float loss = 1;
    for (int step = 0; step < 3000 && loss > 0.005f; step++) {
        if (nb_scope_begin() != NB_OK) return fail("scope");
        nb_tensor *h = nb_tanh(nb_linear(x, params[0], params[1]));
        nb_tensor *p = nb_sigmoid(nb_linear(h, params[2], params[3]));
        nb_tensor *d = nb_sub(p, y);
        nb_tensor *l = nb_mean_all(nb_mul(d, d));
        if (!l || nb_backward(l) != NB_OK) return fail("step");
        loss = nb_item(l);
        for (int i = 0; i < 4; i++) { /* w -= 2 * grad, then a fresh gradient */
            float *w = nb_data(params[i]);
            const float *g = nb_data(nb_grad(params[i]));
            for (int64_t k = 0; k < nb_numel(params[i]); k++) w[k] -= 2.0f * g[k];
            nb_mark_modified(params[i]);
            nb_zero_grad(params[i]);
        }
        nb_scope_end();
    }
    nb_set_grad_enabled(false);
    nb_tensor *p =
        nb_sigmoid(nb_linear(nb_tanh(nb_linear(x, params[0], params[1])), params[2], params[3]));
    if (!p) return fail("predict");
    const float *v = nb_data(p);
    int right = (v[0] < 0.5f) + (v[1] > 0.5f) + (v[2] > 0.5f) + (v[3] < 0.5f);
    printf("engine xor: loss %.5f, predictions %.3f %.3f %.3f %.3f, %d/4 right\n", loss, v[0], v[1],
           v[2], v[3], right);
    nb_shutdown();
    return loss < 0.01f && right == 4 ? 0 : 1;
}
