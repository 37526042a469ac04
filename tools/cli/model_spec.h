/* Models a person can type: the `nabla` command's layer lists.
 *
 *   "flatten, dense 100 relu, dropout 0.3, dense 10 softmax"
 *
 * layers, separated by commas:
 *   dense UNITS [ACTIVATION]          conv FILTERS KERNEL [ACTIVATION] [same|valid]
 *   maxpool SIZE [STRIDE]             avgpool SIZE [STRIDE]
 *   flatten    dropout RATE    batchnorm    ACTIVATION (relu, softmax, ...)
 * input shapes without the batch axis: "784", "28x28", "1x28x28", of at most
 * 2^24 elements.
 */
#ifndef NB_MODEL_SPEC_H
#define NB_MODEL_SPEC_H

#include "nabla/nn.h"

/* The model, or NULL with an error; *column (if not NULL) gets the 0-based
 * offset in spec of a syntax error, else -1. */
nb_model *nb_model_from_spec(const char *spec, const int64_t *input, int ndim, int *column);
/* The same with a limit on the model's weights (nb_model_from_spec allows
 * 2^27); the input and every layer's output stay within 2^24 elements per
 * sample. The fuzzer passes a small limit to keep each run quick. */
nb_model *nb_model_from_spec_ex(const char *spec, const int64_t *input, int ndim,
                                int64_t max_params, int *column);
/* "28x28" -> {28, 28}, 2; false with an error naming the text */
bool nb_parse_shape(const char *text, int64_t *shape, int *ndim);

#endif
