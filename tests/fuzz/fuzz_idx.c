/* libFuzzer harness: IDX files, plain and gzip (the first byte picks which). */
#include "fuzz_files.h"
#include "nabla.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    nb_scope_begin();
    const char *path = fuzz_file(data + 1, size - 1, data[0] & 1 ? ".idx.gz" : ".idx");
    if (path) nb_load_idx(path, data[0] & 2);
    nb_scope_end(); /* frees this input's tensors; pools and primitives stay warm */
    return 0;
}
