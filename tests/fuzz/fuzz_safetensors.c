/* libFuzzer harness: reading a safetensors file, whole (nb_safetensors_read),
 * into a tensor of a fixed shape (nb_safetensors_load) and as a model file
 * (nb_load_model). */
#include "fuzz_common.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_begin();
    nb_safetensors *st = nb_safetensors_read_mem(data, size, "fuzz.safetensors");
    nb_safetensors_free(st);
    nb_tensor *w = nb_zeros((int64_t[]){2, 2}, 2);
    nb_safetensors_load_mem(data, size, "fuzz.safetensors", (const char *[]){"w"}, &w, 1);
    nb_model_free(nb_load_model_mem(data, size, "fuzz.safetensors"));
    fuzz_end();
    return 0;
}
