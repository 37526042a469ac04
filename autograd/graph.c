/* Graph mode: trace, compile, replay (include/nabla/graph.h).
 *
 * Tracing. While a trace is open, nb_apply hands every op it ran to
 * nb_trace_op, and the few state changes made outside ops (a leaf's gradient,
 * zero_grad, an optimizer step) announce themselves with nb_trace_effect.
 * Each tensor met is resolved to a value of the graph: an input placeholder,
 * the output of a recorded op, a view into another value's storage, or a
 * captured tensor (a parameter, a constant, a saved tensor of a kernel) whose
 * storage the graph keeps a reference to. Tensors and storages carry a tag
 * (trace generation, value) so that resolving costs no lookup.
 *
 * Compiling. Dead-code elimination walks back from the outputs and the
 * effects. Fusion folds an activation into the linear or conv2d that feeds it
 * when nothing else reads the pre-activation. Memory planning gives each
 * produced tensor an offset in one arena from its lifetime (first write, last
 * read): a buffer is reused once its tensor is dead, and an elementwise op may
 * write over an input that dies with it.
 *
 * Running. Each node is a persistent nb_node whose tensors point into the
 * arena; a run binds the inputs' data and calls the forward kernels and the
 * effects in order, nothing else.
 */
#include "core/backend/kernels.h"
#include "../ops/op.h"
#include "nabla/autograd.h"
#include "nabla/graph.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHAPES 16
#define ALIGN      64

typedef enum { V_INPUT, V_PRODUCED, V_VIEW, V_CAPTURED } vkind;

typedef struct {
    vkind kind;
    int root;     /* V_VIEW: the value whose storage it shares (never a view) */
    int producer; /* node that makes it, -1 for none */
    int writer;   /* V_CAPTURED saved tensors: the node whose forward fills it */
    int input;    /* V_INPUT: position among the inputs */
    nb_tensor layout;
    const nb_tensor *orig; /* V_CAPTURED: the tensor itself (a parameter: the leaf) */
    nb_tensor *t;          /* the graph's header (captured: made at trace time) */
    size_t nbytes;
    int64_t first, last, off;
    bool output, live;
} gval;

static bool is_effect(const void *g, const char *name);

typedef struct {
    nb_node n; /* def, attrs, needs_grad and scope from the trace; tensors set at compile */
    int in[NB_MAX_INPUTS], n_in, out, saved[NB_MAX_SAVED];
    const char *effect; /* effects: name, function, context */
    nb_effect_fn fn;
    void *ctx;
    const char *fused; /* the activation folded into this op */
    bool live, inplace;
} gnode;

/* A parameter whose gradient lives in the arena (see bind_grads) */
typedef struct {
    nb_tensor *leaf;
    nb_effect_fn add, drop; /* what set_grad and zero_grad did eagerly */
    bool bound;             /* leaf->grad is this graph's buffer now */
} grad_binding;

typedef struct {
    uint32_t gen;
    int n_in;
    nb_tensor sig[NB_GRAPH_MAX_IO];
    gval *vals;
    int nvals, capv;
    gnode *nodes;
    int nnodes, capn;
    int out[NB_GRAPH_MAX_IO], n_out;
    int *order; /* live nodes with work, in run order */
    int n_order;
    float *arena;
    nb_storage *stor;       /* one per produced root */
    grad_binding *bindings; /* parameters whose gradient is a buffer of the arena */
    int n_bindings;
    nb_graph_stats st;
    bool oom;
} variant;

struct nb_graph {
    nb_trace_fn fn;
    void *ctx;
    nb_graph_opts opts;
    variant *v[MAX_SHAPES];
    int nv, last;
};

static _Thread_local variant *tracing;
static atomic_uint generation;

bool nb_tracing(void) {
    return tracing != NULL;
}

/* ---- recording ----------------------------------------------------------------------- */

static int new_val(variant *v, vkind kind, const nb_tensor *t) {
    if (!nb_grow((void **)&v->vals, &v->capv, v->nvals + 1, sizeof *v->vals)) {
        v->oom = true;
        return -1;
    }
    gval *g = &v->vals[v->nvals];
    memset(g, 0, sizeof *g);
    g->kind = kind;
    g->root = v->nvals;
    g->producer = g->writer = g->input = -1;
    g->layout = *t;
    return v->nvals++;
}

static void tag(variant *v, nb_tensor *t, int id, bool storage) {
    t->trace_gen = v->gen;
    t->trace_val = id;
    if (storage) {
        t->storage->trace_gen = v->gen;
        t->storage->trace_val = id;
    }
}

/* A header of the graph's own on t's storage; a captured tensor's header holds
 * a reference to its storage (the others point into the arena, at an input or
 * at a captured storage the graph already holds). */
static nb_tensor *own_header(const nb_tensor *t, bool ref) {
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

/* The value of tensor t, met as an input of something recorded. */
static int resolve(variant *v, nb_tensor *t) {
    if (t->trace_gen == v->gen) return t->trace_val;
    int id;
    if (t->storage->trace_gen == v->gen) { /* a view made outside ops (nb_detach) */
        int root = v->vals[t->storage->trace_val].root;
        if ((id = new_val(v, V_VIEW, t)) < 0) return -1;
        v->vals[id].root = root;
        tag(v, t, id, false);
        return id;
    }
    if ((id = new_val(v, V_CAPTURED, t)) < 0) return -1;
    v->vals[id].orig = t;
    if (!(v->vals[id].t = own_header(t, true))) {
        v->oom = true;
        return -1;
    }
    tag(v, t, id, true);
    return id;
}

static gnode *new_node(variant *v) {
    if (!nb_grow((void **)&v->nodes, &v->capn, v->nnodes + 1, sizeof *v->nodes)) {
        v->oom = true;
        return NULL;
    }
    gnode *g = &v->nodes[v->nnodes++];
    memset(g, 0, sizeof *g);
    g->out = -1;
    for (int i = 0; i < NB_MAX_SAVED; i++) g->saved[i] = -1;
    return g;
}

void nb_trace_op(const nb_node *n) {
    variant *v = tracing;
    if (!v || v->oom) return;
    int idx = v->nnodes;
    gnode *g = new_node(v);
    if (!g) return;
    g->n = *n;
    g->n_in = n->n_in;
    for (int i = 0; i < n->n_in; i++) g->in[i] = resolve(v, n->in[i]);
    nb_tensor *out = n->out;
    if (n->def->flags & NB_OP_VIEW) {
        g->out = resolve(v, out); /* its storage is its input's: a view */
    } else if ((g->out = new_val(v, V_PRODUCED, out)) >= 0) {
        v->vals[g->out].nbytes = out->storage->nbytes;
        tag(v, out, g->out, true);
    }
    if (g->out >= 0) v->vals[g->out].producer = idx;
    for (int i = 0; i < NB_MAX_SAVED; i++) {
        if (!n->saved[i]) continue;
        int s = g->saved[i] = resolve(v, n->saved[i]);
        if (s >= 0 && v->vals[s].kind == V_CAPTURED && v->vals[s].writer < 0)
            v->vals[s].writer = idx;
    }
}

void nb_trace_effect(const char *name, nb_effect_fn fn, void *ctx, nb_tensor *const *in, int n_in) {
    variant *v = tracing;
    if (!v || v->oom) return;
    gnode *g = new_node(v);
    if (!g) return;
    g->effect = name;
    g->fn = fn;
    g->ctx = ctx;
    g->n_in = n_in;
    for (int i = 0; i < n_in; i++) g->in[i] = resolve(v, in[i]);
}

/* ---- compiling ------------------------------------------------------------------------ */
static bool is_op(const gnode *g) {
    return !g->effect;
}

static bool is_effect(const void *node, const char *name) {
    const gnode *g = node;
    return g->effect && !strcmp(g->effect, name);
}

static void mark_live(variant *v, int id) {
    if (id < 0) return;
    v->vals[id].live = true;
    v->vals[v->vals[id].root].live = true;
}

/* Walk back from the outputs and the effects; an op lives if its output or a
 * tensor it fills for a later op is read, or if it changes state. */
static void eliminate_dead(variant *v, bool keep_all) {
    for (int i = 0; i < v->n_out; i++) mark_live(v, v->out[i]);
    for (int i = v->nnodes - 1; i >= 0; i--) {
        gnode *g = &v->nodes[i];
        bool live = keep_all || !is_op(g) || (g->n.def->flags & NB_OP_EFFECT);
        if (is_op(g) && g->out >= 0) live |= v->vals[g->out].live;
        for (int k = 0; k < NB_MAX_SAVED; k++)
            if (g->saved[k] >= 0 && v->vals[g->saved[k]].live) live = true;
        g->live = live;
        if (!live) {
            v->st.removed++;
            continue;
        }
        if (is_op(g)) mark_live(v, g->out);
        for (int k = 0; k < g->n_in; k++) mark_live(v, g->in[k]);
        for (int k = 0; k < NB_MAX_SAVED; k++) mark_live(v, g->saved[k]);
    }
}

/* How many live nodes (and outputs) read each value, a view counting for its root. */
static void count_readers(const variant *v, int *readers) {
    memset(readers, 0, (size_t)v->nvals * sizeof *readers);
    for (int i = 0; i < v->nnodes; i++) {
        const gnode *g = &v->nodes[i];
        if (!g->live) continue;
        for (int k = 0; k < g->n_in; k++) readers[g->in[k]]++;
        for (int k = 0; k < NB_MAX_SAVED; k++)
            if (g->saved[k] >= 0 && v->vals[g->saved[k]].writer != i) readers[g->saved[k]]++;
    }
    for (int i = 0; i < v->n_out; i++) readers[v->out[i]]++;
    for (int i = 0; i < v->nvals; i++)
        if (v->vals[i].kind == V_VIEW && v->vals[i].root != i) readers[v->vals[i].root]++;
}

static const nb_op_def *fused_form(const nb_op_def *def) {
    const nb_op_def *f = nb_fused_linear(def);
    return f ? f : nb_fused_conv(def);
}

/* An activation reading a linear or conv2d output that nothing else reads
 * becomes that op's post-op; the activation's output is the op's output. */
static bool fuse(variant *v) {
    int *readers = nb_malloc((size_t)(v->nvals ? v->nvals : 1) * sizeof *readers);
    if (!readers) return false;
    count_readers(v, readers);
    for (int i = 0; i < v->nnodes; i++) {
        gnode *b = &v->nodes[i];
        nb_post_op post;
        if (!b->live || !is_op(b) || !nb_eltwise_post_op(&b->n, &post)) continue;
        int x = b->in[0];
        const gval *xv = &v->vals[x];
        if (xv->kind != V_PRODUCED || xv->producer < 0 || readers[x] != 1) continue;
        gnode *a = &v->nodes[xv->producer];
        const nb_op_def *f = a->fused ? NULL : fused_form(a->n.def);
        if (!a->live || !f) continue;
        a->n.def = f;
        *NB_POST_OP(&a->n) = post;
        a->fused = b->n.def->name;
        a->out = b->out;
        v->vals[b->out].producer = xv->producer;
        v->vals[x].live = false;
        b->live = false;
        v->st.fused++;
    }
    free(readers);
    return true;
}

/* A parameter's gradient without a copy. Eagerly, the first gradient a leaf
 * gets in a step is copied into leaf->grad, which the optimizer reads and
 * zero_grad drops. In a graph, leaf->grad can instead be the graph's own
 * buffer holding it, from set_grad to zero_grad (which then only unhooks it),
 * when nothing else reads that buffer after set_grad (the optimizer may clip
 * the gradient in place). */
static nb_status bind_grad(void *ctx, nb_tensor *const *in, int n) {
    grad_binding *b = ctx;
    if (b->leaf->grad) return b->add(b->leaf, in, n); /* a gradient left from before: add up */
    b->leaf->grad = in[0];
    b->bound = true;
    return NB_OK;
}

static nb_status unbind_grad(void *ctx, nb_tensor *const *in, int n) {
    (void)n;
    grad_binding *b = ctx;
    if (b->bound && b->leaf->grad == in[0])
        b->leaf->grad = NULL;
    else if (b->leaf->grad)
        b->drop(b->leaf, NULL, 0);
    b->bound = false;
    return NB_OK;
}

static int later_reader(const variant *v, int id, int after) {
    for (int i = after + 1; i < v->nnodes; i++) {
        const gnode *g = &v->nodes[i];
        if (!g->live) continue;
        for (int k = 0; k < g->n_in; k++)
            if (v->vals[g->in[k]].root == id) return i;
        for (int k = 0; k < NB_MAX_SAVED; k++)
            if (g->saved[k] >= 0 && v->vals[g->saved[k]].root == id) return i;
    }
    return -1;
}

static bool bind_grads(variant *v) {
    if (!(v->bindings = nb_calloc((size_t)v->nnodes + 1, sizeof *v->bindings))) return false;
    for (int i = 0; i < v->nnodes; i++) {
        gnode *s = &v->nodes[i];
        if (!s->live || !is_effect(s, "set_grad")) continue;
        int g = s->in[0];
        const gval *gv = &v->vals[g];
        if (gv->kind != V_PRODUCED || gv->output || !nb_is_contiguous(&gv->layout) ||
            later_reader(v, g, i) >= 0)
            continue;
        gnode *z = NULL;
        for (int j = i + 1; j < v->nnodes && !z; j++)
            if (v->nodes[j].live && is_effect(&v->nodes[j], "zero_grad") &&
                v->nodes[j].ctx == s->ctx)
                z = &v->nodes[j];
        if (!z) continue; /* leaf->grad must outlive the run: keep the copy */
        grad_binding *b = &v->bindings[v->n_bindings++];
        *b = (grad_binding){s->ctx, s->fn, z->fn, false};
        s->effect = "bind_grad";
        s->fn = bind_grad;
        s->ctx = b;
        z->effect = "unbind_grad";
        z->fn = unbind_grad;
        z->ctx = b;
        z->in[0] = g; /* keeps the buffer alive until then */
        z->n_in = 1;
    }
    return true;
}

static size_t aligned(size_t n) {
    return (n + ALIGN - 1) / ALIGN * ALIGN;
}

static void touch(variant *v, int id, int64_t at) {
    if (id < 0) return;
    gval *r = &v->vals[v->vals[id].root];
    if (r->kind != V_PRODUCED) return;
    if (r->first < 0) r->first = at;
    if (at > r->last) r->last = at;
}

/* first write and last read of every produced tensor (a view's reads count for its root) */
static void lifetimes(variant *v) {
    for (int i = 0; i < v->nvals; i++) v->vals[i].first = v->vals[i].last = -1;
    for (int i = 0; i < v->nnodes; i++) {
        gnode *g = &v->nodes[i];
        if (!g->live) continue;
        if (is_op(g) && g->out >= 0 && v->vals[g->out].kind == V_PRODUCED) touch(v, g->out, i);
        for (int k = 0; k < g->n_in; k++) touch(v, g->in[k], i);
        for (int k = 0; k < NB_MAX_SAVED; k++) touch(v, g->saved[k], i);
    }
    for (int i = 0; i < v->n_out; i++) touch(v, v->out[i], INT64_MAX);
}

typedef struct {
    int64_t off, size;
} block;

/* Best fit among the free blocks, else the end of the arena. */
static int64_t place(block *free_blocks, int *n_free, int64_t size, int64_t *end) {
    int best = -1;
    for (int i = 0; i < *n_free; i++)
        if (free_blocks[i].size >= size &&
            (best < 0 || free_blocks[i].size < free_blocks[best].size))
            best = i;
    if (best < 0) {
        int64_t off = *end;
        *end += size;
        return off;
    }
    int64_t off = free_blocks[best].off;
    free_blocks[best].off += size;
    free_blocks[best].size -= size;
    if (free_blocks[best].size == 0) free_blocks[best] = free_blocks[--*n_free];
    return off;
}

/* Return a block, merged with free neighbours. */
static void release(block *free_blocks, int *n_free, int64_t off, int64_t size) {
    for (int i = 0; i < *n_free; i++) {
        block *b = &free_blocks[i];
        if (b->off + b->size == off || off + size == b->off) {
            int64_t lo = b->off < off ? b->off : off;
            size += b->size;
            off = lo;
            free_blocks[i] = free_blocks[--*n_free];
            i = -1; /* look again: the merged block may touch another */
        }
    }
    free_blocks[(*n_free)++] = (block){off, size};
}

static bool can_overwrite(const variant *v, const gnode *g, int64_t at) {
    if (!(g->n.def->flags & NB_OP_INPLACE) || g->n_in < 1) return false;
    const gval *x = &v->vals[g->in[0]], *y = &v->vals[g->out];
    return x->kind == V_PRODUCED && x->root == g->in[0] && x->last == at && !x->output &&
           aligned(x->nbytes) == aligned(y->nbytes) && nb_same_shape(&x->layout, &y->layout) &&
           nb_is_contiguous(&x->layout);
}

static bool plan_memory(variant *v, const nb_graph_opts *o) {
    lifetimes(v);
    block *free_blocks = nb_malloc((size_t)(v->nvals + 1) * sizeof *free_blocks);
    bool *donated = nb_calloc((size_t)v->nvals + 1, sizeof *donated);
    if (!free_blocks || !donated) {
        free(free_blocks);
        free(donated);
        return false;
    }
    int n_free = 0;
    int64_t end = 0;
    for (int i = 0; i < v->nnodes; i++) {
        gnode *g = &v->nodes[i];
        if (!g->live) continue;
        gval *y = is_op(g) && g->out >= 0 ? &v->vals[g->out] : NULL;
        if (y && y->kind == V_PRODUCED) {
            int64_t size = (int64_t)aligned(y->nbytes);
            v->st.tensor_bytes += size;
            if (o->no_memory_plan) {
                y->off = end;
                end += size;
            } else if (!o->no_inplace && can_overwrite(v, g, i)) {
                y->off = v->vals[g->in[0]].off;
                donated[g->in[0]] = true;
                g->inplace = true;
                v->st.inplace++;
            } else {
                y->off = place(free_blocks, &n_free, size, &end);
            }
        }
        if (o->no_memory_plan) continue;
        for (int k = 0; k < v->nvals; k++) { /* tensors read for the last time free their buffer */
            const gval *r = &v->vals[k];
            if (r->kind == V_PRODUCED && r->first >= 0 && r->last == i && !donated[k])
                release(free_blocks, &n_free, r->off, (int64_t)aligned(r->nbytes));
        }
    }
    v->st.arena_bytes = end;
    free(free_blocks);
    free(donated);
    return true;
}

/* Headers and storages of the graph's own; nodes pointed at them. */
static bool materialize(variant *v) {
    int roots = 0;
    for (int i = 0; i < v->nvals; i++) roots += v->vals[i].kind == V_PRODUCED;
    v->stor = nb_calloc((size_t)roots + 1, sizeof *v->stor);
    v->arena = nb_aligned_alloc(ALIGN, v->st.arena_bytes ? (size_t)v->st.arena_bytes : ALIGN);
    if (!v->stor || !v->arena) return false;
    memset(v->arena, 0, v->st.arena_bytes ? (size_t)v->st.arena_bytes : ALIGN);
    int s = 0;
    for (int i = 0; i < v->nvals; i++) { /* roots first: views point at their storage */
        gval *g = &v->vals[i];
        if (g->kind == V_CAPTURED) continue;
        if (g->kind == V_VIEW) continue;
        nb_storage *st = NULL;
        if (g->kind == V_PRODUCED) {
            st = &v->stor[s++];
            st->data = g->first >= 0 ? v->arena + g->off / (int64_t)sizeof(float) : v->arena;
            st->nbytes = g->nbytes;
            st->refs = 1 << 30; /* never returned to the pools */
        }
        nb_tensor l = g->layout;
        l.storage = st;
        if (!(g->t = own_header(&l, false))) return false;
        if (g->kind == V_INPUT) g->t->offset = 0;
    }
    for (int i = 0; i < v->nvals; i++) {
        gval *g = &v->vals[i];
        if (g->kind != V_VIEW) continue;
        nb_tensor l = g->layout;
        l.storage = v->vals[g->root].t->storage;
        if (!(g->t = own_header(&l, false))) return false;
    }
    v->order = nb_malloc((size_t)(v->nnodes + 1) * sizeof *v->order);
    if (!v->order) return false;
    for (int i = 0; i < v->nnodes; i++) {
        gnode *g = &v->nodes[i];
        for (int k = 0; k < g->n_in; k++) g->n.in[k] = v->vals[g->in[k]].t;
        if (g->out >= 0) g->n.out = v->vals[g->out].t;
        for (int k = 0; k < NB_MAX_SAVED; k++)
            g->n.saved[k] = g->saved[k] >= 0 ? v->vals[g->saved[k]].t : NULL;
        g->n.grad = NULL;
        g->n.recorded = false;
        if (g->live && (!is_op(g) || g->n.def->forward)) v->order[v->n_order++] = i;
        if (g->live && is_op(g) && g->n.def->forward) v->st.ops++;
    }
    return true;
}

/* A fused op's primitive is new: create it now (its inputs are the zeroed
 * arena or the parameters; it writes only its own output). */
static nb_status prepare(variant *v) {
    for (int k = 0; k < v->n_order; k++) {
        gnode *g = &v->nodes[v->order[k]];
        nb_status s = g->fused ? g->n.def->forward(&g->n) : NB_OK;
        if (s != NB_OK) return s;
    }
    return NB_OK;
}

static void bind(variant *v, nb_tensor *const *in);

static nb_status compile(variant *v, const nb_graph_opts *o, nb_tensor *const *in) {
    v->st.traced_ops = v->nnodes;
    eliminate_dead(v, o->no_dce);
    if (!o->no_fusion && !fuse(v)) v->oom = true;
    if (!o->no_inplace && !bind_grads(v)) v->oom = true;
    if (v->oom || !plan_memory(v, o) || !materialize(v))
        return nb_failc(NB_ERR_MEMORY, "nb_trace: out of memory compiling a graph of %d ops",
                        v->nnodes);
    bind(v, in);
    return prepare(v);
}

static void variant_free(variant *v) {
    if (!v) return;
    for (int i = 0; i < v->n_bindings; i++) /* no parameter keeps pointing into the arena */
        if (v->bindings[i].bound) v->bindings[i].leaf->grad = NULL;
    free(v->bindings);
    for (int i = 0; i < v->nvals; i++) {
        nb_tensor *t = v->vals[i].t;
        if (!t) continue;
        if (v->vals[i].kind == V_CAPTURED) nb_storage_put(t->storage);
        free(t);
    }
    free(v->vals);
    free(v->nodes);
    free(v->order);
    free(v->stor);
    free(v->arena);
    free(v);
}

/* ---- tracing a call ------------------------------------------------------------------ */
static bool same_layout(const nb_tensor *a, const nb_tensor *b) {
    return nb_same_shape(a, b) &&
           !memcmp(a->strides, b->strides, (size_t)a->ndim * sizeof *a->strides);
}

static nb_status check_inputs(const char *fn, nb_tensor *const *in, int n) {
    if (n < 0 || n > NB_GRAPH_MAX_IO)
        return nb_failc(NB_ERR_ARG, "%s: %d inputs; between 0 and %d", fn, n, NB_GRAPH_MAX_IO);
    if (n > 0 && !in) return nb_failc(NB_ERR_NULL, "%s: inputs is NULL", fn);
    for (int i = 0; i < n; i++)
        if (!in[i]) return nb_failc(NB_ERR_NULL, "%s: input %d is NULL", fn, i);
    return NB_OK;
}

/* Copy what the traced call returned into the graph's output tensors. */
static nb_status keep_outputs(variant *v, nb_tensor *const *outs) {
    for (int i = 0; i < v->n_out; i++) {
        const gval *o = &v->vals[v->out[i]];
        if (o->kind == V_CAPTURED || o->kind == V_INPUT) continue; /* the same data */
        nb_status s = nb_k_reorder("nb_trace", outs[i], o->t);
        if (s != NB_OK) return s;
    }
    return NB_OK;
}

/* fn: the call that traces (nb_trace, or nb_graph_run for a new shape), for errors */
static variant *trace(const char *fn_name, nb_graph *g, nb_tensor *const *in, int n) {
    if (tracing)
        return nb_fail(NB_ERR_STATE, "%s: a trace is already running on this thread", fn_name);
    variant *v = nb_calloc(1, sizeof *v);
    if (!v) return nb_fail(NB_ERR_MEMORY, "%s: out of memory", fn_name);
    v->gen = atomic_fetch_add(&generation, 1) + 1;
    v->n_in = n;
    for (int i = 0; i < n; i++) {
        v->sig[i] = *in[i];
        int id = new_val(v, V_INPUT, in[i]);
        if (id < 0) break;
        v->vals[id].input = i;
        tag(v, in[i], id, true);
    }
    nb_scope_begin();
    tracing = v;
    nb_tensor *outs[NB_GRAPH_MAX_IO] = {0};
    int n_out = 0;
    nb_clear_error(); /* fn is the user's: what is recorded now is its own */
    nb_status s = g->fn(g->ctx, in, n, outs, &n_out);
    tracing = NULL;
    if (s != NB_OK && nb_error_code() == NB_OK)
        nb_failc(s, "%s: the traced function failed (status %d)", fn_name, s);
    if (s == NB_OK && (n_out < 0 || n_out > NB_GRAPH_MAX_IO))
        s = nb_failc(NB_ERR_ARG, "%s: the traced function returned %d outputs; at most %d", fn_name,
                     n_out, NB_GRAPH_MAX_IO);
    for (int i = 0; s == NB_OK && i < n_out; i++) {
        if (!outs[i]) {
            s = nb_failc(NB_ERR_NULL, "%s: output %d of the traced function is NULL", fn_name, i);
            break;
        }
        if ((v->out[i] = resolve(v, outs[i])) < 0) break;
        v->vals[v->out[i]].output = true;
        v->vals[v->vals[v->out[i]].root].output = true;
    }
    v->n_out = n_out;
    if (s == NB_OK && v->oom) s = nb_failc(NB_ERR_MEMORY, "%s: out of memory recording", fn_name);
    if (s == NB_OK) s = compile(v, &g->opts, in);
    if (s == NB_OK) s = keep_outputs(v, outs);
    nb_scope_end();
    if (s != NB_OK) {
        variant_free(v);
        return NULL;
    }
    return v;
}

nb_graph *nb_trace_ex(nb_trace_fn fn, void *ctx, nb_tensor *const *inputs, int n_inputs,
                      const nb_graph_opts *opts) {
    if (!fn) return nb_fail(NB_ERR_NULL, "nb_trace: fn is NULL");
    if (check_inputs("nb_trace", inputs, n_inputs) != NB_OK) return NULL;
    nb_graph *g = nb_calloc(1, sizeof *g);
    if (!g) return nb_fail(NB_ERR_MEMORY, "nb_trace: out of memory");
    g->fn = fn;
    g->ctx = ctx;
    if (opts) g->opts = *opts;
    if (!(g->v[0] = trace("nb_trace", g, inputs, n_inputs))) {
        free(g);
        return NULL;
    }
    g->nv = 1;
    return g;
}

nb_graph *nb_trace(nb_trace_fn fn, void *ctx, nb_tensor *const *inputs, int n_inputs) {
    return nb_trace_ex(fn, ctx, inputs, n_inputs, NULL);
}

void nb_graph_free(nb_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->nv; i++) variant_free(g->v[i]);
    free(g);
}

/* ---- running ------------------------------------------------------------------------ */
/* the graph traced for these inputs' shapes and strides, or -1 */
static int find(const nb_graph *g, nb_tensor *const *in, int n) {
    for (int k = 0; k < g->nv; k++) {
        const variant *v = g->v[k];
        bool same = v->n_in == n;
        for (int i = 0; same && i < n; i++) same = same_layout(&v->sig[i], in[i]);
        if (same) return k;
    }
    return -1;
}

static void bind(variant *v, nb_tensor *const *in) {
    for (int i = 0; i < v->n_in; i++) {
        nb_tensor *t = v->vals[i].t; /* inputs are the first values */
        t->storage = in[i]->storage;
        t->offset = in[i]->offset;
    }
    for (int i = v->n_in; i < v->nvals; i++) { /* views of an input follow it */
        gval *g = &v->vals[i];
        const gval *r = &v->vals[g->root];
        if (g->kind != V_VIEW || r->kind != V_INPUT) continue;
        g->t->storage = r->t->storage;
        g->t->offset = g->layout.offset - v->sig[r->input].offset + r->t->offset;
    }
}

static nb_status replay(variant *v) {
    nb_status s = NB_OK;
    nb_no_grad_begin();
    nb_scope_begin();
    for (int k = 0; k < v->n_order && s == NB_OK; k++) {
        gnode *g = &v->nodes[v->order[k]];
        s = g->effect ? g->fn(g->ctx, g->n.in, g->n_in) : g->n.def->forward(&g->n);
        if (s != NB_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", nb_error());
            s = nb_failc(s, "nb_graph_run: step %d (%s%s%s): %s", k,
                         g->effect ? g->effect : g->n.def->name, g->fused ? "+" : "",
                         g->fused ? g->fused : "", msg);
        }
    }
    nb_scope_end();
    nb_no_grad_end();
    return s;
}

static void shapes_s(char *buf, size_t size, nb_tensor *const *in, int n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", nb_shape_s(in[i]));
}

nb_status nb_graph_run(nb_graph *g, nb_tensor *const *inputs, int n_inputs, nb_tensor **outputs) {
    if (!g) return nb_failc(NB_ERR_NULL, "nb_graph_run: graph is NULL");
    nb_status checked = check_inputs("nb_graph_run", inputs, n_inputs);
    if (checked != NB_OK) return checked;
    if (tracing) /* its effects would be recorded without the ops around them */
        return nb_failc(NB_ERR_STATE, "nb_graph_run: called inside a trace; run the step itself "
                                      "there instead");
    int k = find(g, inputs, n_inputs);
    if (k < 0) {
        if (g->nv == MAX_SHAPES)
            return nb_failc(NB_ERR_ARG,
                            "nb_graph_run: a %dth shape signature; a graph keeps at most %d",
                            MAX_SHAPES + 1, MAX_SHAPES);
        if (!g->opts.quiet) {
            char shapes[256];
            shapes_s(shapes, sizeof shapes, inputs, n_inputs);
            fprintf(stderr, "nabla: tracing the graph again for inputs %s (shape signature %d)\n",
                    shapes, g->nv + 1);
        }
        variant *v = trace("nb_graph_run", g, inputs, n_inputs);
        if (!v) return nb_error_code();
        g->v[k = g->nv++] = v;
    } else {
        bind(g->v[k], inputs);
        nb_status s = replay(g->v[k]);
        if (s != NB_OK) return s;
    }
    g->last = k;
    if (outputs) nb_graph_outputs(g, outputs);
    return NB_OK;
}

int nb_graph_outputs(const nb_graph *g, nb_tensor **outputs) {
    if (!g) return (nb_fail(NB_ERR_NULL, "nb_graph_outputs: graph is NULL"), -1);
    const variant *v = g->v[g->last];
    if (outputs)
        for (int i = 0; i < v->n_out; i++) outputs[i] = v->vals[v->out[i]].t;
    return v->n_out;
}

nb_status nb_graph_get_stats(const nb_graph *g, nb_graph_stats *stats) {
    if (!g || !stats)
        return nb_failc(NB_ERR_NULL, "nb_graph_get_stats: %s is NULL", g ? "stats" : "graph");
    *stats = g->v[g->last]->st;
    stats->shapes = g->nv;
    return NB_OK;
}

/* ---- printing and drawing ------------------------------------------------------------ */
/* a captured tensor is a parameter, a tensor a kernel saved for backward, or a constant */
static const char *kind_name(const gval *g) {
    static const char *const names[] = {"input", "tmp", "view", "param"};
    if (g->kind == V_CAPTURED && !g->layout.requires_grad)
        return g->writer >= 0 ? "saved" : "const";
    return names[g->kind];
}

nb_status nb_graph_print(const nb_graph *g, FILE *f) {
    if (!g || !f) return nb_failc(NB_ERR_NULL, "nb_graph_print: %s is NULL", g ? "f" : "graph");
    const variant *v = g->v[g->last];
    const nb_graph_stats *st = &v->st;
    fprintf(f,
            "graph: %d ops and %d effects run (%d recorded, %d dead removed, %d activations "
            "fused, %d in place)\n"
            "arena: %lld bytes for tensors of %lld bytes in all; %d shape signature%s\n",
            st->ops, v->n_order - st->ops, st->traced_ops, st->removed, st->fused, st->inplace,
            (long long)st->arena_bytes, (long long)st->tensor_bytes, g->nv, g->nv == 1 ? "" : "s");
    for (int k = 0; k < v->n_order; k++) {
        const gnode *n = &v->nodes[v->order[k]];
        char name[80];
        snprintf(name, sizeof name, "%s%s%s", n->effect ? n->effect : n->n.def->name,
                 n->fused ? "+" : "", n->fused ? n->fused : "");
        fprintf(f, "%4d  %-34s", k, name);
        for (int i = 0; i < n->n_in; i++) {
            const gval *x = &v->vals[n->in[i]];
            fprintf(f, "%s%s %s", i ? ", " : "", kind_name(x), nb_shape_s(&x->layout));
        }
        if (!n->effect && n->out >= 0) {
            const gval *y = &v->vals[n->out];
            fprintf(f, " -> %s", nb_shape_s(&y->layout));
            if (y->kind == V_PRODUCED) fprintf(f, " @%lld", (long long)y->off);
            if (n->inplace) fprintf(f, " (in place)");
        }
        if (n->n.scope[0] && !n->effect) fprintf(f, "  [%s]", n->n.scope);
        fputc('\n', f);
    }
    return ferror(f) ? nb_failc(NB_ERR_IO, "nb_graph_print: writing failed") : NB_OK;
}

static const char *val_style(const gval *g) {
    if (g->output) return "shape=ellipse, style=\"filled,bold\", fillcolor=\"#cfe3ff\"";
    if (g->kind == V_INPUT) return "shape=ellipse, style=filled, fillcolor=\"#e8e8e8\"";
    if (g->kind == V_CAPTURED && g->layout.requires_grad)
        return "shape=box, style=filled, fillcolor=\"#fff2b3\"";
    if (g->kind == V_CAPTURED) return "shape=ellipse, style=filled, fillcolor=\"#f4f4f4\"";
    return "shape=ellipse";
}

static void put_value(nb_text *t, const variant *v, int id) {
    const gval *g = &v->vals[id];
    bool kind = g->kind == V_INPUT || g->kind == V_CAPTURED;
    nb_text_put(t, "  v%d [%s, label=\"%s%s", id, val_style(g), kind ? kind_name(g) : "",
                kind ? " " : "");
    if (g->layout.name[0]) { /* the tensor's name, when it has one */
        nb_text_put_escaped(t, g->layout.name);
        nb_text_put(t, " ");
    }
    nb_text_put(t, "%s\"];\n", nb_shape_s(&g->layout));
}

/* ops are rounded boxes, effects red, views (no kernel runs) dashed */
static void put_op(nb_text *t, const gnode *n, int id) {
    const char *fill = n->effect ? "#f4d6d6" : "#dde8f0";
    bool view = !n->effect && !n->n.def->forward;
    nb_text_put(t, "  op%d [shape=box, style=\"rounded,%s\", fillcolor=\"%s\", label=\"%s", id,
                view ? "dashed" : "filled", fill, n->effect ? n->effect : n->n.def->name);
    char attrs[200];
    if (!n->effect && n->n.def->print_attrs &&
        n->n.def->print_attrs(&n->n, attrs, sizeof attrs) > 0)
        nb_text_put(t, "\\n%s", attrs);
    nb_text_put(t, "\"];\n");
}

/* The parameter a gradient effect writes to, as a value of the graph (-1 if none). */
static int grad_target(const variant *v, const gnode *n) {
    const nb_tensor *leaf = NULL;
    if (is_effect(n, "bind_grad"))
        leaf = ((const grad_binding *)n->ctx)->leaf;
    else if (is_effect(n, "set_grad") || is_effect(n, "accumulate_grad"))
        leaf = n->ctx;
    for (int i = 0; leaf && i < v->nvals; i++)
        if (v->vals[i].kind == V_CAPTURED && v->vals[i].orig == leaf) return i;
    return -1;
}

static void put_value_once(nb_text *t, const variant *v, bool *drawn, int id) {
    if (drawn[id]) return;
    put_value(t, v, id);
    drawn[id] = true;
}

/* An op (a fused one as a dashed box holding it and its post-op) and the
 * tensor it makes. */
static void put_op_group(nb_text *t, const variant *v, bool *drawn, int i) {
    const gnode *n = &v->nodes[i];
    if (n->fused) {
        nb_text_put(
            t, "  subgraph cluster_fused%d {\n  style=\"rounded,dashed\"; label=\"fused\";\n", i);
        put_op(t, n, i);
        nb_text_put(t,
                    "  op%d_post [shape=box, style=\"rounded,filled\", fillcolor=\"#dde8f0\", "
                    "label=\"%s (post-op)\"];\n  op%d -> op%d_post;\n  }\n",
                    i, n->fused, i, i);
    } else {
        put_op(t, n, i);
    }
    if (!n->effect && n->out >= 0) put_value_once(t, v, drawn, n->out);
}

/* Values are drawn once, when first met; a fused op is a box holding the op
 * and its activation, the ops of a layer (a name scope) a box labelled with the
 * layer's name. A gradient reaching a parameter is a dashed "grad" edge,
 * the optimizer's step a dashed "update" edge to each such parameter, a tensor
 * a kernel saves for backward a dashed "saves" edge; zero_grad is not drawn.
 * Those edges carry xlabels: Graphviz 2.42's dot layout frees memory twice when
 * an edge between nodes of one rank has a label. */
char *nb_graph_dot(const nb_graph *g) {
    if (!g) return nb_fail(NB_ERR_NULL, "nb_graph_dot: graph is NULL");
    const variant *v = g->v[g->last];
    nb_text t = {0};
    bool *drawn = nb_calloc((size_t)v->nvals + 1, 1), *updated = nb_calloc((size_t)v->nvals + 1, 1);
    bool *declared = nb_calloc((size_t)v->nnodes + 1, 1);
    if (!drawn || !updated || !declared) {
        free(drawn);
        free(updated);
        free(declared);
        return nb_fail(NB_ERR_MEMORY, "nb_graph_dot: out of memory");
    }
    nb_text_put(
        &t,
        "digraph nabla_graph {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n"
        "  edge [fontname=\"Helvetica\", fontsize=9];\n"
        "  labelloc=t;\n  label=\"compiled training step: %d ops, %d fused, arena %lld bytes\";\n",
        v->st.ops, v->st.fused, (long long)v->st.arena_bytes);
    for (int k = 0; k < v->n_order; k++) {
        int p = grad_target(v, &v->nodes[v->order[k]]);
        if (p >= 0) updated[p] = true;
    }
    for (int i = 0; i < v->nnodes; i++) { /* a layer's ops and what they make, boxed */
        const char *scope = v->nodes[i].n.scope;
        if (!v->nodes[i].live || !is_op(&v->nodes[i]) || !scope[0] || declared[i]) continue;
        nb_text_put(
            &t, "  subgraph cluster_layer%d {\n  style=rounded; color=\"#7a9ab8\"; label=\"", i);
        nb_text_put_escaped(&t, scope);
        nb_text_put(&t, "\";\n");
        for (int j = i; j < v->nnodes; j++) {
            const gnode *n = &v->nodes[j];
            if (n->live && is_op(n) && !declared[j] && !strcmp(n->n.scope, scope)) {
                put_op_group(&t, v, drawn, j);
                declared[j] = true;
            }
        }
        nb_text_put(&t, "  }\n");
    }
    for (int i = 0; i < v->nnodes; i++) { /* views too: they connect reshapes and slices */
        const gnode *n = &v->nodes[i];
        if (!n->live || is_effect(n, "zero_grad") || is_effect(n, "unbind_grad")) continue;
        int p = grad_target(v, n);
        if (p >= 0) {
            put_value_once(&t, v, drawn, n->in[0]);
            put_value_once(&t, v, drawn, p);
            nb_text_put(&t,
                        "  v%d -> v%d [style=dashed, color=\"#a03030\", xlabel=\"grad\", "
                        "constraint=false];\n",
                        n->in[0], p);
            continue;
        }
        for (int j = 0; j < n->n_in; j++) put_value_once(&t, v, drawn, n->in[j]);
        if (!declared[i]) put_op_group(&t, v, drawn, i);
        for (int j = 0; j < n->n_in; j++) nb_text_put(&t, "  v%d -> op%d;\n", n->in[j], i);
        if (!n->effect && n->out >= 0)
            nb_text_put(&t, "  op%d%s -> v%d;\n", i, n->fused ? "_post" : "", n->out);
        for (int j = 0; !n->effect && j < NB_MAX_SAVED; j++) {
            int sv = n->saved[j];
            if (sv < 0 || v->vals[sv].writer != i || later_reader(v, sv, i) < 0) continue;
            put_value_once(&t, v, drawn, sv);
            nb_text_put(&t, "  op%d -> v%d [style=dashed, xlabel=\"saves\"];\n", i, sv);
        }
        for (int q = 0; is_effect(n, "optimizer_step") && q < v->nvals; q++)
            if (updated[q])
                nb_text_put(&t,
                            "  op%d -> v%d [style=dashed, color=\"#a03030\", xlabel=\"update\", "
                            "constraint=false];\n",
                            i, q);
    }
    nb_text_put(&t, "}\n");
    free(drawn);
    free(updated);
    free(declared);
    if (t.oom) {
        free(t.s);
        return nb_fail(NB_ERR_MEMORY, "nb_graph_dot: out of memory");
    }
    return t.s;
}

nb_status nb_graph_save_dot(const nb_graph *g, const char *path) {
    if (!g || !path)
        return nb_failc(NB_ERR_NULL, "nb_graph_save_dot: %s is NULL", g ? "path" : "graph");
    char *dot = nb_graph_dot(g);
    if (!dot) return nb_error_code();
    nb_status s = nb_dot_text_save("nb_graph_save_dot", dot, path);
    free(dot);
    return s;
}
