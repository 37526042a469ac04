/* The oneDNN engine, shared by the process, and each thread's state: its
 * stream and its primitive cache (engine.h says the model).
 *
 * A counted registry under a mutex decides the engine's life: a thread's first
 * kernel makes its state and counts it (making the engine if no thread had
 * one); nb_backend_shutdown, or the thread's end, frees the state and
 * uncounts it, and the last thread out destroys the engine. Kernel calls only
 * read the thread's own pointer.
 */
#include "core/backend/engine.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>

static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine; /* with users, under registry */
static int users;            /* threads holding a state */

static _Thread_local nb_backend_state *self;

/* A thread that ends without nb_shutdown gives its state back through this
 * key's destructor. */
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static bool key_made;

/* libgomp creates a team's threads at its first parallel region of that size
 * and ends the process (exit status 1) when pthread_create fails (under a
 * memory limit, say). Each thread's pool is its own: one empty region when a
 * thread's state is made, and one when its thread count is set, make the pool
 * then, before any training step; later regions of that size reuse it, so
 * such a failure cannot end a run in its middle. */
static void start_thread_pool(int n) {
#pragma omp parallel num_threads(n)
    { __asm__ volatile("" ::: "memory"); /* a region the compiler keeps */ }
}

static void state_free(nb_backend_state *s) {
    if (s->cache) nb_cache_clear(s->cache);
    free(s->cache);
    if (s->stream) dnnl_stream_destroy(s->stream);
    if (s->engine) {
        pthread_mutex_lock(&registry);
        if (--users == 0) {
            dnnl_engine_destroy(engine);
            engine = NULL;
        }
        pthread_mutex_unlock(&registry);
    }
    free(s);
}

static void thread_ends(void *state) {
    state_free(state);
    self = NULL;
}

static void make_key(void) {
    key_made = pthread_key_create(&key, thread_ends) == 0;
}

/* the engine, made if no thread holds it, counted for the caller */
static dnnl_engine_t engine_take(void) {
    pthread_mutex_lock(&registry);
    if (!engine && dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
    dnnl_engine_t e = engine;
    if (e) users++;
    pthread_mutex_unlock(&registry);
    return e;
}

static nb_backend_state *state_make(const char *fn) {
    pthread_once(&key_once, make_key);
    nb_backend_state *s = nb_calloc(1, sizeof *s);
    if (s) s->cache = nb_calloc(NB_CACHE_SLOTS, sizeof *s->cache);
    if (!s || !s->cache) {
        if (s) free(s);
        return nb_fail(NB_ERR_MEMORY, "%s: out of memory for the thread's oneDNN state", fn);
    }
    if (!(s->engine = engine_take())) {
        state_free(s);
        return nb_fail(NB_ERR_BACKEND, "%s: oneDNN could not create the CPU engine", fn);
    }
    if (dnnl_stream_create(&s->stream, s->engine, dnnl_stream_default_flags) != dnnl_success) {
        s->stream = NULL;
        state_free(s);
        return nb_fail(NB_ERR_BACKEND, "%s: oneDNN could not create a stream", fn);
    }
    if (key_made) pthread_setspecific(key, s);
    start_thread_pool(omp_get_max_threads());
    return s;
}

nb_backend_state *nb_backend_state_current(void) {
    return self;
}

dnnl_engine_t nb_engine(const char *fn) {
    if (!self) self = state_make(fn);
    return self ? self->engine : NULL;
}

void nb_backend_shutdown(void) {
    if (!self) return;
    if (key_made) pthread_setspecific(key, NULL);
    state_free(self);
    self = NULL;
}

int nb_backend_threads(void) {
    pthread_mutex_lock(&registry);
    int n = users;
    pthread_mutex_unlock(&registry);
    return n;
}

/* OpenMP's thread count is a setting of the calling thread */
void nb_set_num_threads(int n) {
    if (n < 1) return;
    omp_set_num_threads(n);
    start_thread_pool(n);
}

int nb_get_num_threads(void) {
    return omp_get_max_threads();
}

nb_status nb_dnnl_check(dnnl_status_t s, const char *fn, const char *what) {
    if (s == dnnl_success) return NB_OK;
    return nb_fail_status(NB_ERR_BACKEND, "%s: oneDNN refused the %s (status %d)", fn, what,
                          (int)s);
}
