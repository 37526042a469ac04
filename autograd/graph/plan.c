/* Graph mode, memory planning: every tensor an op produces gets an offset in
 * one arena, from its lifetime (first write, last read; a view's reads count
 * for the tensor it views). A buffer is reused once its tensor is dead, best
 * fit first, and an elementwise op may write over an input that dies with it.
 * Then the graph's own tensor headers and storages are made and every node is
 * pointed at them.
 */
#include "graph_internal.h"

#include <stdlib.h>
#include <string.h>

static size_t aligned(size_t n) {
    return (n + NB_ARENA_ALIGN - 1) / NB_ARENA_ALIGN * NB_ARENA_ALIGN;
}

static void touch(specialization *s, int id, int64_t at) {
    if (id < 0) return;
    graph_value *r = &s->values[s->values[id].root];
    if (r->kind != VALUE_PRODUCED) return;
    if (r->first < 0) r->first = at;
    if (at > r->last) r->last = at;
}

/* first write and last read of every produced tensor */
static void lifetimes(specialization *s) {
    for (int i = 0; i < s->n_values; i++) s->values[i].first = s->values[i].last = -1;
    for (int i = 0; i < s->n_nodes; i++) {
        graph_node *g = &s->nodes[i];
        if (!g->live) continue;
        if (!g->is_effect && g->out >= 0 && s->values[g->out].kind == VALUE_PRODUCED)
            touch(s, g->out, i);
        for (int k = 0; k < g->n_in; k++) touch(s, g->in[k], i);
        for (int k = 0; k < NB_MAX_SAVED; k++) touch(s, g->saved[k], i);
    }
    for (int i = 0; i < s->n_out; i++) touch(s, s->out[i], INT64_MAX);
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

/* g may write its output over its input 0, which dies at g (node at) */
static bool can_overwrite(const specialization *s, const graph_node *g, int64_t at) {
    if (!(g->n.def->flags & NB_OP_INPLACE) || g->n_in < 1) return false;
    const graph_value *x = &s->values[g->in[0]], *y = &s->values[g->out];
    return x->kind == VALUE_PRODUCED && x->root == g->in[0] && x->last == at && !x->output &&
           aligned(x->nbytes) == aligned(y->nbytes) && nb_same_shape(&x->layout, &y->layout) &&
           nb_is_contiguous(&x->layout);
}

bool nb_graph_plan_memory(specialization *s, const nb_graph_opts *o) {
    lifetimes(s);
    block *free_blocks = nb_malloc((size_t)(s->n_values + 1) * sizeof *free_blocks);
    bool *donated = nb_calloc((size_t)s->n_values + 1, sizeof *donated);
    if (!free_blocks || !donated) {
        free(free_blocks);
        free(donated);
        return false;
    }
    int n_free = 0;
    int64_t end = 0;
    for (int i = 0; i < s->n_nodes; i++) {
        graph_node *g = &s->nodes[i];
        if (!g->live) continue;
        graph_value *y = !g->is_effect && g->out >= 0 ? &s->values[g->out] : NULL;
        if (y && y->kind == VALUE_PRODUCED) {
            int64_t size = (int64_t)aligned(y->nbytes);
            s->stats.tensor_bytes += size;
            if (o->no_memory_plan) {
                y->off = end;
                end += size;
            } else if (!o->no_inplace && can_overwrite(s, g, i)) {
                y->off = s->values[g->in[0]].off;
                donated[g->in[0]] = true;
                g->inplace = true;
                s->stats.inplace++;
            } else {
                y->off = place(free_blocks, &n_free, size, &end);
            }
        }
        if (o->no_memory_plan) continue;
        for (int k = 0; k < s->n_values;
             k++) { /* tensors read for the last time free their buffer */
            const graph_value *r = &s->values[k];
            if (r->kind == VALUE_PRODUCED && r->first >= 0 && r->last == i && !donated[k])
                release(free_blocks, &n_free, r->off, (int64_t)aligned(r->nbytes));
        }
    }
    s->stats.arena_bytes = end;
    free(free_blocks);
    free(donated);
    return true;
}

/* Headers and storages of the graph's own for its inputs, produced tensors
 * and views (captured tensors got theirs while tracing). */
static bool make_tensors(specialization *s) {
    int roots = 0;
    for (int i = 0; i < s->n_values; i++) roots += s->values[i].kind == VALUE_PRODUCED;
    s->stor = nb_calloc((size_t)roots + 1, sizeof *s->stor);
    size_t arena_bytes = s->stats.arena_bytes ? (size_t)s->stats.arena_bytes : NB_ARENA_ALIGN;
    s->arena = nb_aligned_alloc(NB_ARENA_ALIGN, arena_bytes);
    if (!s->stor || !s->arena) return false;
    memset(s->arena, 0, arena_bytes);
    int n_stor = 0;
    for (int i = 0; i < s->n_values; i++) { /* roots first: views point at their storage */
        graph_value *v = &s->values[i];
        if (v->kind == VALUE_CAPTURED || v->kind == VALUE_VIEW) continue;
        nb_storage *st = NULL;
        if (v->kind == VALUE_PRODUCED) {
            st = &s->stor[n_stor++];
            st->data = v->first >= 0 ? s->arena + v->off / (int64_t)sizeof(float) : s->arena;
            st->nbytes = v->nbytes;
            st->refs = 1 << 30; /* never returned to the pools */
        }
        nb_tensor l = v->layout;
        l.storage = st;
        if (!(v->t = nb_graph_own_header(&l, false))) return false;
        if (v->kind == VALUE_INPUT) v->t->offset = 0;
    }
    for (int i = 0; i < s->n_values; i++) {
        graph_value *v = &s->values[i];
        if (v->kind != VALUE_VIEW) continue;
        nb_tensor l = v->layout;
        l.storage = s->values[v->root].t->storage;
        if (!(v->t = nb_graph_own_header(&l, false))) return false;
    }
    return true;
}

bool nb_graph_materialize(specialization *s) {
    if (!make_tensors(s)) return false;
    s->order = nb_malloc((size_t)(s->n_nodes + 1) * sizeof *s->order);
    if (!s->order) return false;
    for (int i = 0; i < s->n_nodes; i++) {
        graph_node *g = &s->nodes[i];
        for (int k = 0; k < g->n_in; k++) g->n.in[k] = s->values[g->in[k]].t;
        if (g->out >= 0) g->n.out = s->values[g->out].t;
        for (int k = 0; k < NB_MAX_SAVED; k++)
            g->n.saved[k] = g->saved[k] >= 0 ? s->values[g->saved[k]].t : NULL;
        g->n.grad = NULL;
        g->n.recorded = false;
        bool works = g->is_effect || g->n.def->forward;
        if (g->live && works) s->order[s->n_order++] = i;
        if (g->live && !g->is_effect && g->n.def->forward) s->stats.ops++;
    }
    return true;
}
