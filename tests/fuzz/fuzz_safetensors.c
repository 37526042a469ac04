/* libFuzzer harness: reading a safetensors file, whole (nb_safetensors_read)
 * and into a tensor of a fixed shape (nb_safetensors_load). */
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
    nb_safetensors *st = nb_safetensors_read_mem(data, size, "fuzz.safetensors");
    nb_safetensors_free(st);
    nb_tensor *w = nb_zeros((int64_t[]){2, 2}, 2);
    nb_safetensors_load_mem(data, size, "fuzz.safetensors", (const char *[]){"w"}, &w, 1);
    nb_scope_end(); /* frees this input's tensors; pools and primitives stay warm */
    return 0;
}
