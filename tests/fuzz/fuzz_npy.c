/* libFuzzer harness: NumPy .npy files. */
#include "fuzz_files.h"
#include "nabla.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".npy");
    if (path) nb_load_npy(path);
    nb_shutdown();
    return 0;
}
