/* Models a person can type: the `nabla` command's layer lists.
 *
 *   "flatten, dense 100 relu, dropout 0.3, dense 10 softmax"
 *
 * layers, separated by commas:
 *   dense UNITS [ACTIVATION]          conv FILTERS KERNEL [ACTIVATION] [same|valid]
 *   maxpool SIZE [STRIDE]             avgpool SIZE [STRIDE]
 *   flatten    dropout RATE    batchnorm    ACTIVATION (relu, softmax, ...)
 * input shapes without the batch axis: "784", "28x28", "1x28x28".
 */
#ifndef NB_MODEL_SPEC_H
#define NB_MODEL_SPEC_H

#include "nabla/nn.h"

/* The model, or NULL with an error; *column (if not NULL) gets the 0-based
 * offset in spec of a syntax error, else -1. */
nb_model *nb_model_from_spec(const char *spec, const int64_t *input, int ndim, int *column);
/* "28x28" -> {28, 28}, 2; false with an error naming the text */
bool nb_parse_shape(const char *text, int64_t *shape, int *ndim);

#endif
