/* Custom ops: a user's forward and backward callbacks become a tape node like
 * any built-in op. This is how a user writes a new layer in C. */
#include "ops/op.h"
#include "nabla/autograd.h"

#include <string.h>

typedef struct {
    nb_custom_forward_fn forward;
    nb_custom_backward_fn backward;
    void *ctx;
    char name[48];
} custom_attrs;

static nb_status custom_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    custom_attrs *a = NB_ATTRS(n, custom_attrs);
    nb_tensor *y = n->saved[0];
    unsigned long before = nb_failure_count();
    nb_status s = a->backward(n->in, n->n_in, y, gy, gx, a->ctx);
    if (s != NB_OK) {
        if (nb_failure_count() == before) /* it recorded nothing: say which op failed */
            nb_fail(s, "nb_custom_op: the backward callback of '%s' failed (status %d)", a->name,
                    s);
        return s;
    }
    /* a NULL gradient for an input that needs one would leave it silently without */
    for (int i = 0; i < n->n_in; i++)
        if (n->needs_grad[i] && !gx[i])
            return nb_fail_status(
                NB_ERR_ARG,
                "nb_backward: the backward callback of custom op '%s' left gx[%d] "
                "NULL, but input %d %s requires grad; return its gradient (zeros if "
                "the output does not depend on it) or pass nb_detach of the input",
                a->name, i, i, nb_shape_s(n->in[i]));
    return NB_OK;
}

static nb_status custom_shape(const nb_node *n, nb_layout *l) {
    (void)n;
    (void)l;
    return NB_OK;
}

static int custom_print(const nb_node *n, char *buf, size_t size) {
    return snprintf(buf, size, "%s", NB_ATTRS(n, custom_attrs)->name);
}

static const nb_op_def custom_def = {
    .name = "custom_op",
    .shape = custom_shape,
    .backward = custom_backward,
    .print_attrs = custom_print,
};

nb_tensor *nb_custom_op(const char *name, nb_tensor *const *x, int n, nb_custom_forward_fn forward,
                        nb_custom_backward_fn backward, void *ctx) {
    if (!name) name = "custom";
    if (!forward || !backward)
        return nb_fail(NB_ERR_NULL,
                       "nb_custom_op '%s': forward and backward callbacks are both "
                       "required",
                       name);
    if (n < 1 || n > NB_MAX_INPUTS || !x)
        return nb_fail(NB_ERR_ARG, "nb_custom_op '%s': %d inputs; between 1 and %d", name, n,
                       NB_MAX_INPUTS);
    for (int i = 0; i < n; i++)
        if (!x[i]) return nb_fail_null("nb_custom_op");

    bool was = nb_set_grad_enabled(false); /* the callback's own ops are not recorded */
    unsigned long before = nb_failure_count();
    nb_tensor *y = forward(x, n, ctx);
    nb_set_grad_enabled(was);
    if (!y) {
        if (nb_failure_count() == before) /* it recorded nothing: say which op failed */
            nb_fail(NB_ERR_ARG, "nb_custom_op: the forward callback of '%s' returned NULL", name);
        return NULL;
    }
    /* the output is a fresh header on y's data, so that a forward returning one
     * of its inputs does not turn that input into a non-leaf */
    nb_tensor *out = nb_view_new(y, y->shape, y->strides, y->ndim, y->offset);
    if (!out) return NULL;

    nb_node tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.def = &custom_def;
    tmp.n_in = n;
    for (int i = 0; i < n; i++) tmp.in[i] = x[i];
    tmp.saved[0] = out;
    custom_attrs *a = NB_ATTRS(&tmp, custom_attrs);
    a->forward = forward;
    a->backward = backward;
    a->ctx = ctx;
    snprintf(a->name, sizeof a->name, "%s", name);
    return nb_record(&tmp, out) ? out : NULL;
}
