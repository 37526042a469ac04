/* Scopes own tensors; the tape lists recorded nodes in creation order.
 *
 * Scope 0 is the root: tensors made outside any nb_scope_begin() live there
 * until nb_free() or nb_shutdown(). Nodes are recorded in order, so the nodes
 * of the innermost scope are always the tail of the tape: ending a scope
 * truncates the tape to where it stood at nb_scope_begin().
 */
#include "core_internal.h"
#include "nabla/tape.h"

#include <stdatomic.h>
#include <stdlib.h>

#define NB_MAX_SCOPES 64

typedef struct {
    nb_tensor **items;
    int64_t len, cap;
    int64_t tape_start;
} scope;

static _Thread_local scope scopes[NB_MAX_SCOPES];
static _Thread_local int depth; /* index of the innermost scope */
static _Thread_local nb_node **tape;
static _Thread_local int64_t tape_len, tape_cap;
static _Thread_local int no_grad_depth;
static _Thread_local bool grad_off;
#define NB_MAX_NAME_SCOPES 16
static _Thread_local const char *name_scopes[NB_MAX_NAME_SCOPES];
static _Thread_local int name_depth;
static _Thread_local bool anomaly;
static _Thread_local const nb_node *backward_node;
static _Thread_local uint64_t lifetime; /* 0: none drawn since the last nb_shutdown */
static atomic_uint_fast64_t lifetimes;

uint64_t nb_lifetime(void) {
    if (!lifetime) lifetime = atomic_fetch_add(&lifetimes, 1) + 1;
    return lifetime;
}

int nb_scope_depth(void) {
    return depth;
}

static bool scope_append(int d, nb_tensor *t) {
    scope *s = &scopes[d];
    if (s->len == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 256;
        nb_tensor **items = nb_heap_realloc(s->items, (size_t)cap * sizeof *items);
        if (!items) return false;
        s->items = items;
        s->cap = cap;
    }
    t->scope = d;
    t->slot = s->len;
    s->items[s->len++] = t;
    return true;
}

void nb_scope_adopt(nb_tensor *t) {
    if (!scope_append(depth, t)) t->scope = -1; /* out of memory: owned by nobody */
}

nb_status nb_scope_begin(void) {
    if (depth + 1 >= NB_MAX_SCOPES)
        return nb_fail_status(NB_ERR_STATE, "nb_scope_begin: more than %d nested scopes",
                              NB_MAX_SCOPES - 1);
    depth++;
    scopes[depth].len = 0;
    scopes[depth].tape_start = tape_len;
    return NB_OK;
}

/* Free the nodes recorded since `start`; results that outlive them become leaves. */
static void tape_truncate(int64_t start) {
    for (int64_t i = tape_len - 1; i >= start; i--) {
        nb_node *n = tape[i];
        if (n->out && n->out->node == n) {
            n->out->node = NULL;
            n->out->dropped_op = n->def; /* for nb_backward's message */
        }
        nb_node_put(n);
    }
    if (tape_len > start) tape_len = start;
}

static void free_scope_tensors(scope *s) {
    for (int64_t i = s->len - 1; i >= 0; i--)
        if (s->items[i]) nb_tensor_release(s->items[i]);
    s->len = 0;
}

nb_status nb_scope_end(void) {
    if (depth == 0) return nb_fail_status(NB_ERR_STATE, "nb_scope_end: no scope is open");
    tape_truncate(scopes[depth].tape_start);
    free_scope_tensors(&scopes[depth]);
    depth--;
    return NB_OK;
}

nb_tensor *nb_keep(nb_tensor *t) {
    if (!t) return nb_fail_null("nb_keep");
    if (!nb_live("nb_keep", t)) return NULL;
    if (t->scope <= 0) return t; /* already in the root scope, or owned */
    scopes[t->scope].items[t->slot] = NULL;
    if (!scope_append(t->scope - 1, t)) return nb_fail(NB_ERR_MEMORY, "nb_keep: out of memory");
    return t;
}

void nb_free(nb_tensor *t) {
    if (!t) return;
    if (t->magic != NB_TENSOR_LIVE) {
        nb_fail(NB_ERR_STATE,
                "nb_free: the tensor was already freed (by nb_free or when its scope ended); "
                "nothing was freed now");
        return;
    }
    if (t->scope < 0) return;
    scopes[t->scope].items[t->slot] = NULL;
    /* a node on the tape may still point at t as its output */
    if (t->node && t->node->out == t) t->node->out = NULL;
    nb_tensor_release(t);
}

void nb_shutdown(void) {
    while (depth > 0) nb_scope_end();
    tape_truncate(0);
    free_scope_tensors(&scopes[0]);
    for (int d = 0; d < NB_MAX_SCOPES; d++) {
        free(scopes[d].items);
        scopes[d].items = NULL;
        scopes[d].cap = scopes[d].len = 0;
    }
    free(tape);
    tape = NULL;
    tape_cap = 0;
    no_grad_depth = 0;
    grad_off = false;
    name_depth = 0;
    anomaly = false;
    backward_node = NULL;
    nb_pools_free();
    nb_backend_shutdown();
    lifetime = 0;
    nb_clear_error();
}

/* ---- the tape ------------------------------------------------------------------ */
bool nb_tape_push(nb_node *n) {
    if (tape_len == tape_cap) {
        int64_t cap = tape_cap ? tape_cap * 2 : 1024;
        nb_node **t = nb_heap_realloc(tape, (size_t)cap * sizeof *t);
        if (!t) return false;
        tape = t;
        tape_cap = cap;
    }
    n->seq = tape_len;
    n->recorded = true;
    tape[tape_len++] = n;
    return true;
}

int64_t nb_tape_len(void) {
    return tape_len;
}

nb_node *nb_tape_at(int64_t i) {
    return (i >= 0 && i < tape_len) ? tape[i] : NULL;
}

/* ---- grad mode ------------------------------------------------------------------- */
bool nb_grad_mode(void) {
    return !grad_off && no_grad_depth == 0;
}

/* The grad-mode switches are declared with autograd's API but, being thread
 * state, live here with the tape. */
bool nb_grad_enabled(void) {
    return nb_grad_mode();
}

bool nb_set_grad_enabled(bool on) {
    bool was = !grad_off;
    grad_off = !on;
    return was;
}

void nb_no_grad_begin(void) {
    no_grad_depth++;
}

void nb_no_grad_end(void) {
    if (no_grad_depth > 0) no_grad_depth--;
}

int64_t nb_tape_size(void) {
    return tape_len;
}

/* ---- name scopes and anomaly detection ---------------------------------------------- */

void nb_name_scope_begin(const char *name) {
    if (name_depth < NB_MAX_NAME_SCOPES) name_scopes[name_depth] = name;
    name_depth++;
}

void nb_name_scope_end(void) {
    if (name_depth > 0) name_depth--;
}

const char *nb_name_scope(void) {
    int d = name_depth < NB_MAX_NAME_SCOPES ? name_depth : NB_MAX_NAME_SCOPES;
    return d > 0 && name_scopes[d - 1] ? name_scopes[d - 1] : "";
}

bool nb_set_anomaly_detection(bool on) {
    bool was = anomaly;
    anomaly = on;
    return was;
}

bool nb_anomaly_mode(void) {
    return anomaly;
}

void nb_set_backward_node(const nb_node *n) {
    backward_node = n;
}

const nb_node *nb_backward_node(void) {
    return backward_node;
}
