/* What every harness does around its inputs: one thread, a scope per input,
 * and a full nb_shutdown() now and then.
 *
 * Why the shutdown: core/alloc.c keeps freed storages for reuse, keyed by
 * their exact size in a table of 256 sizes, and a fuzzer makes thousands of
 * sizes; starting afresh now and then also runs the code that frees it all. */
#ifndef NB_FUZZ_COMMON_H
#define NB_FUZZ_COMMON_H

#include "nabla.h"

#include <stdint.h>

#define FUZZ_SHUTDOWN_EVERY 4096 /* inputs */

/* one thread: OpenMP's idle threads would spin between the tiny kernels */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    nb_set_num_threads(1);
    return 0;
}

static void fuzz_begin(void) {
    nb_scope_begin();
}

static void fuzz_end(void) {
    static unsigned inputs;
    nb_scope_end(); /* frees this input's tensors; pools and primitives stay warm */
    if (++inputs % FUZZ_SHUTDOWN_EVERY == 0) nb_shutdown();
}

#endif
