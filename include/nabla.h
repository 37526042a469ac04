/* nabla: a reverse-mode autodiff framework in C, with oneDNN kernels.
 *
 *   nabla/core.h      tensors, scopes, errors, random numbers, threads
 *   nabla/ops.h       ops with gradients (matmul, broadcasting arithmetic,
 *                     activations, softmax, reductions, shape ops)
 *   nabla/autograd.h  backward, grad mode, custom ops, gradient checks
 *   nabla/graph.h     graph mode: trace a step once, compile it, replay it
 *   nabla/cnn.h       convolution, pooling, batch normalization, dropout
 *   nabla/draw.h       graphs as pictures: DOT text, SVG/PNG/PDF via Graphviz
 *   nabla/safetensors.h  named tensors in safetensors files, saved atomically
 *   nabla/data.h      IDX, CSV and NPY readers, named datasets, splits, scaling
 *   nabla/nn.h        layers, Sequential models, losses, metrics, the Keras workflow
 *   nabla/plot.h      training curves as SVG line plots
 */
#ifndef NABLA_H
#define NABLA_H

#include "nabla/core.h"
#include "nabla/ops.h"
#include "nabla/tape.h"
#include "nabla/autograd.h"
#include "nabla/graph.h"
#include "nabla/cnn.h"
#include "nabla/draw.h"
#include "nabla/safetensors.h"
#include "nabla/data.h"
#include "nabla/optim.h"
#include "nabla/nn.h"
#include "nabla/plot.h"

#endif
