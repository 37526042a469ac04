/* libFuzzer harness: the nabla command's layer lists and input shapes
 * ("flatten, dense 100 relu, ..." and "28x28"); the first line is the shape. */
#include "tools/cli/model_spec.h"

#include "fuzz_common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *spec = strchr(text, '\n');
    if (spec) *spec++ = '\0';
    int64_t shape[NB_MAX_DIMS];
    int ndim, column;
    fuzz_begin();
    if (spec && nb_parse_shape(text, shape, &ndim)) {
        /* at most 2^14 weights: bigger models only time the weight initializer.
         * (The first version capped the input size with a product that could
         * overflow, and UBSan caught it; the parser now bounds shapes itself.) */
        nb_model *m = nb_model_from_spec_ex(spec, shape, ndim, 1 << 14, &column);
        nb_model_free(m);
    }
    fuzz_end();
    free(text);
    return 0;
}
