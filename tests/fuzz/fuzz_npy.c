/* libFuzzer harness: NumPy .npy files, plain or gzip. */
#include "fuzz_common.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_begin();
    nb_load_npy_mem(data, size, "fuzz.npy");
    fuzz_end();
    return 0;
}
