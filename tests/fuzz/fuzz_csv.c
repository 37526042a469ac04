/* libFuzzer harness: CSV files, plain or gzip; the first byte picks the options. */
#include "fuzz_common.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    fuzz_begin();
    nb_csv_opts o = {.delimiter = data[0] & 1 ? ' ' : 0,
                     .header = data[0] & 2,
                     .label_column = (data[0] >> 2) & 3,
                     .labels = (nb_csv_labels)((data[0] >> 4) % 3)};
    nb_dataset ds = {0};
    if (nb_load_csv_mem(data + 1, size - 1, "fuzz.csv", &o, &ds) == NB_OK) nb_dataset_free(&ds);
    fuzz_end();
    return 0;
}
