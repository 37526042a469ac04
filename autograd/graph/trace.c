/* Graph mode, tracing: one call of the traced function, recorded.
 *
 * While a trace runs, the tracer's recording hooks are installed (core/hooks.h):
 * nb_apply reports every op it ran, and the state changes made outside ops (a
 * leaf's gradient, zero_grad, an optimizer step) report themselves as effects.
 * Each becomes a node. Each tensor a node reads or writes is resolved to a
 * value: an input placeholder, the output of a recorded op, a view into
 * another value's storage, or a captured tensor (a parameter, a constant, a
 * saved tensor of a kernel) whose storage the graph keeps a reference to.
 * Resolving looks the tensor up in a map from header to value, and its storage
 * in one from storage to value; both keys carry the object's reuse count, so
 * a header or storage freed and handed out again during the trace is new.
 */
#include "core/dnnl_internal.h" /* nb_kernel_reorder */
#include "graph_internal.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local specialization *tracing;

bool nb_tracing(void) {
    return tracing != NULL;
}

/* ---- the maps: (pointer, reuse count) -> value ------------------------------------------ */
typedef struct value_map_slot {
    const void *ptr; /* NULL: empty */
    uint64_t stamp;
    int id;
} value_map_slot;

static size_t slot_of(const value_map *m, const void *ptr, uint64_t stamp) {
    uint64_t h = ((uint64_t)(uintptr_t)ptr >> 4) ^ (stamp * 0x9e3779b97f4a7c15ull);
    return (size_t)((h * 0xff51afd7ed558ccdull) >> 20) & (size_t)(m->cap - 1);
}

static int map_get(const value_map *m, const void *ptr, uint64_t stamp) {
    if (!m->cap) return -1;
    for (size_t i = slot_of(m, ptr, stamp);; i = (i + 1) & (size_t)(m->cap - 1)) {
        const value_map_slot *e = &m->slots[i];
        if (!e->ptr) return -1;
        if (e->ptr == ptr && e->stamp == stamp) return e->id;
    }
}

static bool map_put(value_map *m, const void *ptr, uint64_t stamp, int id);

static bool map_grow(value_map *m) {
    value_map old = *m;
    int cap = old.cap ? old.cap * 2 : 256;
    if (!(m->slots = nb_calloc((size_t)cap, sizeof *m->slots))) {
        *m = old;
        return false;
    }
    m->cap = cap;
    m->len = 0;
    for (int i = 0; i < old.cap; i++)
        if (old.slots[i].ptr) map_put(m, old.slots[i].ptr, old.slots[i].stamp, old.slots[i].id);
    free(old.slots);
    return true;
}

/* ptr now means value id (kept at most half full) */
static bool map_put(value_map *m, const void *ptr, uint64_t stamp, int id) {
    if (2 * (m->len + 1) > m->cap && !map_grow(m)) return false;
    size_t i = slot_of(m, ptr, stamp);
    while (m->slots[i].ptr && (m->slots[i].ptr != ptr || m->slots[i].stamp != stamp))
        i = (i + 1) & (size_t)(m->cap - 1);
    if (!m->slots[i].ptr) m->len++;
    m->slots[i] = (value_map_slot){ptr, stamp, id};
    return true;
}

static void maps_free(specialization *s) {
    free(s->tensors.slots);
    free(s->storages.slots);
    s->tensors = s->storages = (value_map){0};
}

/* ---- values ----------------------------------------------------------------------------- */
static int new_value(specialization *s, value_kind kind, const nb_tensor *t) {
    if (!nb_grow((void **)&s->values, &s->cap_values, s->n_values + 1, sizeof *s->values)) {
        s->oom = true;
        return -1;
    }
    graph_value *v = &s->values[s->n_values];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->root = s->n_values;
    v->producer = v->writer = v->input = -1;
    v->layout = *t;
    return s->n_values++;
}

/* t (and, with storage, t's storage) is value id from now on */
static void remember(specialization *s, const nb_tensor *t, int id, bool storage) {
    if (!map_put(&s->tensors, t, t->gen, id)) s->oom = true;
    if (storage && !map_put(&s->storages, t->storage, t->storage->serial, id)) s->oom = true;
}

nb_tensor *nb_graph_own_header(const nb_tensor *t, bool ref) {
    nb_tensor *h = nb_heap_alloc(sizeof *h);
    if (!h) return NULL;
    *h = *t;
    h->magic = NB_TENSOR_LIVE;
    h->grad = NULL;
    h->node = NULL;
    h->requires_grad = false;
    h->scope = NB_SCOPE_GRAPH;
    h->next_free = NULL;
    if (ref && h->storage) h->storage->refs++;
    return h;
}

/* The value of tensor t, met as something a node reads or writes. */
static int resolve(specialization *s, const nb_tensor *t) {
    int id = map_get(&s->tensors, t, t->gen);
    if (id >= 0) return id;
    int of = map_get(&s->storages, t->storage, t->storage->serial);
    if (of >= 0) { /* a view made outside ops (nb_detach) */
        int root = s->values[of].root;
        if ((id = new_value(s, VALUE_VIEW, t)) < 0) return -1;
        s->values[id].root = root;
        remember(s, t, id, false);
        return id;
    }
    if ((id = new_value(s, VALUE_CAPTURED, t)) < 0) return -1;
    s->values[id].orig = t;
    /* the graph's header holds a reference: the storage outlives the trace */
    if (!(s->values[id].t = nb_graph_own_header(t, true))) {
        s->oom = true;
        return -1;
    }
    remember(s, t, id, true);
    return id;
}

/* ---- the hooks ----------------------------------------------------------------------- */
static graph_node *new_node(specialization *s) {
    if (!nb_grow((void **)&s->nodes, &s->cap_nodes, s->n_nodes + 1, sizeof *s->nodes)) {
        s->oom = true;
        return NULL;
    }
    graph_node *g = &s->nodes[s->n_nodes++];
    memset(g, 0, sizeof *g);
    g->out = -1;
    for (int i = 0; i < NB_MAX_SAVED; i++) g->saved[i] = -1;
    return g;
}

static void on_op(void *ctx, const nb_node *n) {
    specialization *s = ctx;
    if (s->oom) return;
    int idx = s->n_nodes;
    graph_node *g = new_node(s);
    if (!g) return;
    g->n = *n;
    g->n_in = n->n_in;
    for (int i = 0; i < n->n_in; i++) g->in[i] = resolve(s, n->in[i]);
    const nb_tensor *out = n->out;
    if (n->def->flags & NB_OP_VIEW) {
        g->out = resolve(s, out); /* its storage is its input's: a view */
    } else if ((g->out = new_value(s, VALUE_PRODUCED, out)) >= 0) {
        s->values[g->out].nbytes = out->storage->nbytes;
        remember(s, out, g->out, true);
    }
    if (g->out >= 0) s->values[g->out].producer = idx;
    for (int i = 0; i < NB_MAX_SAVED; i++) {
        if (!n->saved[i]) continue;
        int v = g->saved[i] = resolve(s, n->saved[i]);
        if (v >= 0 && s->values[v].kind == VALUE_CAPTURED && s->values[v].writer < 0)
            s->values[v].writer = idx;
    }
}

static void on_effect(void *ctx, const nb_effect *e) {
    specialization *s = ctx;
    if (s->oom) return;
    graph_node *g = new_node(s);
    if (!g) return;
    g->is_effect = true;
    g->effect = *e;
    g->effect.grad = NULL; /* a run passes its own, value in[0] */
    if (e->grad) g->in[g->n_in++] = resolve(s, e->grad);
}

/* ---- tracing a call ------------------------------------------------------------------ */
/* Copy what the traced call returned into the graph's output tensors. */
static nb_status keep_outputs(specialization *s, nb_tensor *const *outs) {
    for (int i = 0; i < s->n_out; i++) {
        const graph_value *o = &s->values[s->out[i]];
        if (o->kind == VALUE_CAPTURED || o->kind == VALUE_INPUT) continue; /* the same data */
        nb_status st = nb_kernel_reorder("nb_trace", outs[i], o->t);
        if (st != NB_OK) return st;
    }
    return NB_OK;
}

/* fn's outputs as values of the graph */
static nb_status take_outputs(const char *fn, specialization *s, nb_tensor *const *outs,
                              int n_out) {
    if (n_out < 0 || n_out > NB_GRAPH_MAX_IO)
        return nb_fail_status(NB_ERR_ARG, "%s: the traced function returned %d outputs; at most %d",
                              fn, n_out, NB_GRAPH_MAX_IO);
    for (int i = 0; i < n_out; i++) {
        if (!outs[i])
            return nb_fail_status(NB_ERR_NULL, "%s: output %d of the traced function is NULL", fn,
                                  i);
        if ((s->out[i] = resolve(s, outs[i])) < 0) break;
        s->values[s->out[i]].output = true;
        s->values[s->values[s->out[i]].root].output = true;
    }
    s->n_out = n_out;
    return s->oom ? nb_fail_status(NB_ERR_MEMORY, "%s: out of memory recording", fn) : NB_OK;
}

specialization *nb_graph_trace_call(const char *fn, nb_graph *g, nb_tensor *const *in, int n) {
    if (tracing) return nb_fail(NB_ERR_STATE, "%s: a trace is already running on this thread", fn);
    specialization *s = nb_calloc(1, sizeof *s);
    if (!s) return nb_fail(NB_ERR_MEMORY, "%s: out of memory", fn);
    s->n_in = n;
    for (int i = 0; i < n; i++) {
        s->sig[i] = *in[i];
        int id = new_value(s, VALUE_INPUT, in[i]);
        if (id < 0) break;
        s->values[id].input = i;
        remember(s, in[i], id, true);
    }
    s->hooks = (nb_hooks){.on_op = on_op, .on_effect = on_effect, .ctx = s};
    nb_status st = nb_hooks_install(fn, &s->hooks);
    if (st != NB_OK) {
        nb_graph_spec_free(s);
        return NULL;
    }
    nb_scope_begin();
    tracing = s;
    nb_tensor *outs[NB_GRAPH_MAX_IO] = {0};
    int n_out = 0;
    nb_clear_error(); /* fn is the user's: what is recorded now is its own */
    st = g->fn(g->ctx, in, n, outs, &n_out);
    tracing = NULL;
    nb_hooks_remove(&s->hooks);
    if (st != NB_OK && nb_error_code() == NB_OK)
        nb_fail_status(st, "%s: the traced function failed (status %d)", fn, st);
    if (st == NB_OK) st = take_outputs(fn, s, outs, n_out);
    maps_free(s);
    if (st == NB_OK) st = nb_graph_compile(s, &g->opts, in);
    if (st == NB_OK) st = keep_outputs(s, outs);
    nb_scope_end();
    if (st != NB_OK) {
        nb_graph_spec_free(s);
        return NULL;
    }
    return s;
}

void nb_graph_spec_free(specialization *s) {
    if (!s) return;
    for (int i = 0; i < s->n_bindings; i++) /* no parameter keeps pointing into the arena */
        if (s->bindings[i].bound) s->bindings[i].leaf->grad = NULL;
    free(s->bindings);
    for (int i = 0; i < s->n_values; i++) {
        nb_tensor *t = s->values[i].t;
        if (!t) continue;
        if (s->values[i].kind == VALUE_CAPTURED) nb_storage_put(t->storage);
        free(t);
    }
    maps_free(s);
    free(s->values);
    free(s->nodes);
    free(s->order);
    free(s->stor);
    free(s->arena);
    free(s);
}

nb_status nb_graph_check_inputs(const char *fn, nb_tensor *const *in, int n) {
    if (n < 0 || n > NB_GRAPH_MAX_IO)
        return nb_fail_status(NB_ERR_ARG, "%s: %d inputs; between 0 and %d", fn, n,
                              NB_GRAPH_MAX_IO);
    if (n > 0 && !in) return nb_fail_status(NB_ERR_NULL, "%s: inputs is NULL", fn);
    for (int i = 0; i < n; i++)
        if (!in[i]) return nb_fail_status(NB_ERR_NULL, "%s: input %d is NULL", fn, i);
    return NB_OK;
}

nb_graph *nb_trace_ex(nb_trace_fn fn, void *ctx, nb_tensor *const *inputs, int n_inputs,
                      const nb_graph_opts *opts) {
    if (!fn) return nb_fail(NB_ERR_NULL, "nb_trace: fn is NULL");
    if (nb_graph_check_inputs("nb_trace", inputs, n_inputs) != NB_OK) return NULL;
    nb_graph *g = nb_calloc(1, sizeof *g);
    if (!g) return nb_fail(NB_ERR_MEMORY, "nb_trace: out of memory");
    g->fn = fn;
    g->ctx = ctx;
    if (opts) g->opts = *opts;
    if (!(g->specs[0] = nb_graph_trace_call("nb_trace", g, inputs, n_inputs))) {
        free(g);
        return NULL;
    }
    g->n_specs = 1;
    return g;
}

nb_graph *nb_trace(nb_trace_fn fn, void *ctx, nb_tensor *const *inputs, int n_inputs) {
    return nb_trace_ex(fn, ctx, inputs, n_inputs, NULL);
}

void nb_graph_free(nb_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_specs; i++) nb_graph_spec_free(g->specs[i]);
    free(g);
}
