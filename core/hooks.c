/* The calling thread's recording hooks (core/hooks.h). */
#include "core_internal.h"

static _Thread_local const nb_hooks *installed[NB_MAX_HOOKS];
static _Thread_local int n_installed;

const char *nb_effect_name(nb_effect_kind kind) {
    static const char *const names[NB_EFFECT_KINDS] = {"set_grad", "accumulate_grad", "zero_grad",
                                                       "optimizer_step"};
    return kind >= 0 && kind < NB_EFFECT_KINDS ? names[kind] : "effect";
}

nb_status nb_hooks_install(const char *fn, const nb_hooks *h) {
    if (!h) return nb_fail_status(NB_ERR_NULL, "%s: hooks are NULL", fn);
    if (n_installed == NB_MAX_HOOKS)
        return nb_fail_status(NB_ERR_STATE, "%s: %d recording hooks are installed already", fn,
                              NB_MAX_HOOKS);
    installed[n_installed++] = h;
    return NB_OK;
}

void nb_hooks_remove(const nb_hooks *h) {
    for (int i = 0; i < n_installed; i++) {
        if (installed[i] != h) continue;
        for (int j = i + 1; j < n_installed; j++) installed[j - 1] = installed[j];
        installed[--n_installed] = NULL;
        return;
    }
}

void nb_report_op(const nb_node *n) {
    for (int i = 0; i < n_installed; i++)
        if (installed[i]->on_op) installed[i]->on_op(installed[i]->ctx, n);
}

void nb_report_effect(const nb_effect *e) {
    for (int i = 0; i < n_installed; i++)
        if (installed[i]->on_effect) installed[i]->on_effect(installed[i]->ctx, e);
}
