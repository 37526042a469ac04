/* libFuzzer harness: CSV files; the first byte picks the options. */
#include "fuzz_files.h"
#include "nabla.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    nb_scope_begin();
    const char *path = fuzz_file(data + 1, size - 1, ".csv");
    nb_csv_opts o = {.delimiter = data[0] & 1 ? ' ' : 0,
                     .header = data[0] & 2,
                     .label_column = (data[0] >> 2) & 3};
    nb_dataset ds = {0};
    if (path && nb_load_csv(path, &o, &ds) == NB_OK) nb_dataset_free(&ds);
    nb_scope_end(); /* frees this input's tensors; pools and primitives stay warm */
    return 0;
}
