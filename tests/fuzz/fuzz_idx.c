/* libFuzzer harness: IDX files, plain and gzip (the reader tells them apart
 * by the gzip magic); the first byte's low bit picks scaling. */
#include "nabla.h"

#include <stdint.h>

/* one thread: OpenMP's idle threads would spin between the tiny kernels */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    nb_set_num_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    nb_scope_begin();
    nb_load_idx_mem(data + 1, size - 1, "fuzz.idx", data[0] & 1);
    nb_scope_end(); /* frees this input's tensors; pools and primitives stay warm */
    return 0;
}
