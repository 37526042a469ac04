/* libFuzzer harness: the nabla command's layer lists and input shapes
 * ("flatten, dense 100 relu, ..." and "28x28"); the first line is the shape. */
#include "../../tools/model_spec.h"

#include "nabla.h"

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
    nb_scope_begin();
    if (spec && nb_parse_shape(text, shape, &ndim)) {
        /* models of at most 4096 input elements: bigger ones only test the allocator.
         * The product stops growing past the cap, so it cannot overflow (the first
         * version of this loop did, and UBSan caught it). */
        int64_t elems = 1;
        for (int i = 0; i < ndim && elems <= 4096; i++) elems *= shape[i] < 4096 ? shape[i] : 4097;
        nb_model *m = elems <= 4096 ? nb_model_from_spec(spec, shape, ndim, &column) : NULL;
        nb_model_free(m);
    }
    nb_scope_end();
    free(text);
    return 0;
}
