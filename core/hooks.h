/* Recording hooks: how a layer above ops watches the op stream without the
 * layers below naming it (DESIGN.md, "How the layers talk").
 *
 * nb_apply reports every op it ran (on_op), after its forward kernel and
 * before its tape node is recorded. The state changes that are not ops report
 * themselves (on_effect) as an nb_effect: a kind and the tensors it touched.
 * Hooks are per thread; graph mode installs its own while it traces and
 * removes them after. Not installed (part of core_internal.h). */
#ifndef NB_HOOKS_H
#define NB_HOOKS_H

#include "nabla/core.h"

struct nb_node;

/* The side effects outside ops. */
typedef enum nb_effect_kind {
    NB_EFFECT_SET_GRAD,        /* a leaf's first gradient: param->grad = a copy of grad */
    NB_EFFECT_ACCUMULATE_GRAD, /* param->grad += grad */
    NB_EFFECT_ZERO_GRAD,       /* param->grad dropped */
    NB_EFFECT_OPTIMIZER_STEP,  /* an optimizer updated its parameters from their .grad */
    NB_EFFECT_KINDS
} nb_effect_kind;

/* "set_grad", "accumulate_grad", "zero_grad", "optimizer_step" */
const char *nb_effect_name(nb_effect_kind kind);

typedef struct nb_effect nb_effect;
/* Do the effect again, with e's tensors (a replay passes its own grad). */
typedef nb_status (*nb_effect_redo)(const nb_effect *e);

struct nb_effect {
    nb_effect_kind kind;
    nb_tensor *param;    /* the grad effects: the leaf whose .grad changes */
    nb_tensor *grad;     /* set and accumulate: the gradient added into param->grad */
    void *optimizer;     /* optimizer step: the nb_optimizer (a type of optim/) */
    nb_effect_redo redo; /* what the reporter did, callable again */
};

typedef struct nb_hooks {
    /* An op ran: n->def, n->in[0..n_in), n->out, n->saved[], n->attrs. n is
     * gone after the call: keep a copy. May be NULL. */
    void (*on_op)(void *ctx, const struct nb_node *n);
    /* A side effect is about to happen. May be NULL. */
    void (*on_effect)(void *ctx, const nb_effect *e);
    void *ctx;
} nb_hooks;

#define NB_MAX_HOOKS 4

/* Install h (the pointer is kept: it must stay valid until removed) for the
 * calling thread; an error naming fn when NB_MAX_HOOKS are installed. */
nb_status nb_hooks_install(const char *fn, const nb_hooks *h);
void nb_hooks_remove(const nb_hooks *h);
/* Report to every hook installed on this thread, in installation order. */
void nb_report_op(const struct nb_node *n);
void nb_report_effect(const nb_effect *e);

#endif
