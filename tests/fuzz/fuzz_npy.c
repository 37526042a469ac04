/* libFuzzer harness: NumPy .npy files, plain or gzip. */
#include "nabla.h"

#include <stdint.h>

/* one thread: OpenMP's idle threads would spin between the tiny kernels */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    nb_set_num_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nb_scope_begin();
    nb_load_npy_mem(data, size, "fuzz.npy");
    nb_scope_end(); /* frees this input's tensors; pools and primitives stay warm */
    return 0;
}
