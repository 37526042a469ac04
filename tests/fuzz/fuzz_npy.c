/* libFuzzer harness: NumPy .npy files. */
#include "fuzz_files.h"
#include "nabla.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nb_scope_begin();
    const char *path = fuzz_file(data, size, ".npy");
    if (path) nb_load_npy(path);
    nb_scope_end(); /* frees this input's tensors; pools and primitives stay warm */
    return 0;
}
