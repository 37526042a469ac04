/* libFuzzer harness: IDX files, plain and gzip (the reader tells them apart
 * by the gzip magic); the first byte's low bit picks scaling. */
#include "fuzz_common.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    fuzz_begin();
    nb_load_idx_mem(data + 1, size - 1, "fuzz.idx", data[0] & 1);
    fuzz_end();
    return 0;
}
