/* Activations by name, as Keras spells them, and the Activation layer.
 *
 *   x: any shape -> y: same shape (softmax normalizes the last axis)
 *
 * Each name maps to one op of ops/eltwise.c or ops/softmax.c, so gradients
 * come from those ops' backward rules.
 */
#include "nn_internal.h"

#include <string.h>

static nb_tensor *identity(nb_tensor *x) {
    return x;
}

static nb_tensor *softmax_last(nb_tensor *x) {
    return nb_softmax(x, -1);
}

static nb_tensor *leaky_relu_keras(nb_tensor *x) {
    return nb_leaky_relu(x, 0.3f); /* Keras's default slope */
}

static nb_tensor *elu_keras(nb_tensor *x) {
    return nb_elu(x, 1.0f);
}

static const struct {
    const char *name;
    nb_tensor *(*fn)(nb_tensor *x);
} table[] = {
    [NB_ACT_LINEAR] = {"linear", identity},
    [NB_ACT_RELU] = {"relu", nb_relu},
    [NB_ACT_SIGMOID] = {"sigmoid", nb_sigmoid},
    [NB_ACT_TANH] = {"tanh", nb_tanh},
    [NB_ACT_SOFTMAX] = {"softmax", softmax_last},
    [NB_ACT_LEAKY_RELU] = {"leaky_relu", leaky_relu_keras},
    [NB_ACT_ELU] = {"elu", elu_keras},
    [NB_ACT_GELU] = {"gelu", nb_gelu},
    [NB_ACT_SOFTPLUS] = {"softplus", nb_softplus},
    [NB_ACT_STEP] = {"step", nb_heaviside},
};
#define N_ACTS ((int)(sizeof table / sizeof table[0]))

bool nb_act_from_name(const char *fn, const char *name, nb_act *out) {
    if (!name) name = "linear";
    for (int i = 0; i < N_ACTS; i++)
        if (!strcmp(name, table[i].name)) {
            *out = (nb_act)i;
            return true;
        }
    nb_fail(NB_ERR_ARG,
            "%s: unknown activation '%s'; known activations: linear, relu, sigmoid, tanh, "
            "softmax, leaky_relu, elu, gelu, softplus, step",
            fn, name);
    return false;
}

const char *nb_act_name(nb_act a) {
    return (int)a >= 0 && (int)a < N_ACTS ? table[a].name : "?";
}

nb_tensor *nb_act_apply(nb_act a, nb_tensor *x) {
    if (!x) return NULL;
    return table[a].fn(x);
}

nb_tensor *nb_activation(nb_tensor *x, const char *name) {
    nb_act a;
    if (!x) return nb_fail_null("nb_activation");
    if (!nb_act_from_name("nb_activation", name, &a)) return NULL;
    return nb_act_apply(a, x);
}

/* ---- the Activation layer: y = act(x); the model applies l->act -------------------- */
static nb_status activation_build(nb_layer *l) {
    l->out_ndim = l->in_ndim;
    memcpy(l->out_shape, l->in_shape, sizeof l->out_shape);
    return NB_OK;
}

static nb_tensor *activation_forward(nb_layer *l, nb_tensor *x, bool training) {
    (void)l;
    (void)training;
    return x;
}

static const nb_layer_ops activation_ops = {
    .type = "Activation",
    .base_name = "activation",
    .build = activation_build,
    .forward = activation_forward,
};

nb_layer *nb_activation_layer(const char *name) {
    nb_act a;
    if (!nb_act_from_name("nb_activation_layer", name, &a)) return NULL;
    nb_layer *l = nb_layer_alloc("nb_activation_layer", &activation_ops);
    if (l) l->act = a;
    return l;
}
