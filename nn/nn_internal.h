/* What the files of nn/ share: the layer and model structs, activations,
 * losses and metrics by kind, and the hooks fit.c and save.c build on.
 * Not installed.
 *
 * A layer is a small struct with a vtable (nb_layer_ops): build (shape
 * inference + weight creation, once, when the layer joins a model) and
 * forward. Everything else a layer has is plain data every layer shares:
 * its name, activation, input and output shapes, and its weights. So the
 * generic code (summary, parameters, saving, regularization) loops over
 * layers and weights and never needs to know a layer's kind.
 *
 * A model (Sequential) is an array of layers plus what nb_model_compile
 * chose: the loss (and whether the outputs are logits), the optimizer, the
 * metrics.
 *
 * ---- the contract for fit.c and save.c ------------------------------------------
 *   nb_model_forward_loss   forward pass + compiled loss (fused and stable
 *                           when the last activation is softmax/sigmoid and
 *                           the loss the matching cross-entropy, or with
 *                           from_logits); also hands back the predictions
 *                           for metrics (what nb_model_forward gives: logits
 *                           with from_logits)
 *   nb_model_regularization_loss   add it to the loss before backward
 *   nb_model_metric         value of compiled metric i on one batch
 *   m->opt                  the optimizer (params already registered)
 *   m->metric_names[i]      the log names ("accuracy", "mae", ...)
 *   nb_model_num_weights / nb_model_weight   every weight with its full name
 *                           ("dense_1/kernel") for safetensors files and
 *                           early stopping's restore_best; includes the
 *                           non-trainable batch-norm statistics
 * Models must be freed (nb_model_free) before nb_shutdown(): the weights
 * live in the root scope, which nb_shutdown releases.
 */
#ifndef NB_NN_INTERNAL_H
#define NB_NN_INTERNAL_H

#include "core/core_internal.h"
#include "nabla/autograd.h"
#include "nabla/cnn.h"
#include "nabla/nn.h"
#include "nabla/ops.h"
#include "nabla/optim.h"

#define NB_LAYER_NAME_LEN    64
#define NB_WEIGHT_NAME_LEN   96
#define NB_LAYER_MAX_WEIGHTS 4
#define NB_MODEL_MAX_METRICS 8

/* ---- activations (activation.c) ------------------------------------------------ */
typedef enum nb_act {
    NB_ACT_LINEAR = 0, /* identity; the default of every layer */
    NB_ACT_RELU,
    NB_ACT_SIGMOID,
    NB_ACT_TANH,
    NB_ACT_SOFTMAX, /* over the last axis */
    NB_ACT_LEAKY_RELU,
    NB_ACT_ELU,
    NB_ACT_GELU,
    NB_ACT_SOFTPLUS,
    NB_ACT_STEP,
} nb_act;

/* name (NULL = "linear") -> kind; false with an error naming fn and listing
 * the known names. */
bool nb_act_from_name(const char *fn, const char *name, nb_act *out);
const char *nb_act_name(nb_act a);
nb_tensor *nb_act_apply(nb_act a, nb_tensor *x);

/* ---- initializers (init.c) -------------------------------------------------------- */
/* a valid enum value; false with an error naming fn */
bool nb_init_check(const char *fn, nb_init kind);
/* "glorot_uniform", ...; NB_INIT_DEFAULT is glorot_uniform (what a kernel gets) */
const char *nb_init_name(nb_init kind);

/* ---- layers (layers.c, layers_cnn.c, layers_more.c)
 * ------------------------------------------------ */
/* One tensor a layer owns. Trainable weights are leaves with requires_grad;
 * batch-norm's moving statistics are not trainable (updated by the forward
 * pass, saved with the model, counted as Non-trainable params). */
typedef struct nb_weight {
    nb_tensor *t;                  /* in the root scope; freed by nb_model_free */
    char name[NB_WEIGHT_NAME_LEN]; /* "dense_1/kernel": layer name / role */
    bool trainable; /* learnable and its layer not frozen: a parameter the optimizer updates */
    bool learnable; /* the layer's kind trains it (not batch-norm's moving statistics) */
} nb_weight;

/* The per-kind part of a layer. */
typedef struct nb_layer_ops {
    const char *type;      /* "Dense": the summary's (type) column */
    const char *base_name; /* "dense": automatic names dense, dense_1, ... */
    /* Shape inference and weight creation, once, when the layer joins a model:
     * read l->in_shape, set l->out_shape and create l->weights (with
     * nb_layer_add_weight). On a shape that does not fit, record an error
     * saying what the layer needs ("needs a flat input (None, features)");
     * nb_model_add prefixes it with both layers' names and shapes. */
    nb_status (*build)(nb_layer *l);
    /* x: [N, in_shape...] -> [N, out_shape...], before the layer's activation
     * (the model applies l->act, so that fit can stop before a final softmax). */
    nb_tensor *(*forward)(nb_layer *l, nb_tensor *x, bool training);
} nb_layer_ops;

/* Weight slots by layer kind:
 *   Dense, Conv2D:  [0] kernel ([in, out] / [K, C, kh, kw]), [1] bias (if any)
 *   BatchNorm:      [0] gamma, [1] beta, [2] moving_mean, [3] moving_variance */
enum { NB_W_KERNEL = 0, NB_W_BIAS = 1 };

struct nb_layer {
    const nb_layer_ops *ops;
    char name[NB_LAYER_NAME_LEN];
    bool user_named; /* false: nb_model_add picks base_name, base_name_1, ... */
    bool in_model;   /* owned by a model (nb_layer_free refuses it) */
    bool built;
    bool frozen;           /* nb_layer_set_trainable(l, false): its weights are not parameters */
    nb_model *model;       /* the model it is in, or NULL */
    bool sees_model_input; /* set before build: the input is the model's, unchanged by the
                            * layers before (Conv2D checks it for Keras's channels-last) */
    nb_act act;
    int in_ndim, out_ndim; /* shapes without the batch axis */
    int64_t in_shape[NB_MAX_DIMS], out_shape[NB_MAX_DIMS];
    nb_weight weights[NB_LAYER_MAX_WEIGHTS];
    int n_weights;
    nb_regularizer kernel_reg; /* on weights[NB_W_KERNEL] of Dense and Conv2D */
    nb_init kernel_init, bias_init;
    union {
        struct {
            int64_t units;
            bool bias;
        } dense;
        struct {
            int64_t filters;
            int kh, kw, sh, sw;
            bool same; /* padding "same" (else "valid") */
        } conv;
        struct {
            int size, stride;
            bool max; /* MaxPool2D, else AvgPool2D */
        } pool;
        struct {
            float rate;
        } dropout;
        struct {
            float momentum, eps; /* Keras's meaning: moving = m * moving + (1 - m) * batch */
        } bn;
        struct {
            float scale, offset;
        } rescaling;
        struct {
            int ndim; /* Reshape: the target shape, one -1 until built; Permute: 1-based dims */
            int64_t dims[NB_MAX_DIMS];
        } shape;
        struct {
            float eps;
            bool center, scale; /* beta, gamma */
        } ln;
        struct {
            int64_t input_dim, output_dim;
        } embedding;
        struct {
            float stddev;
        } noise;
        struct {
            int top, bottom, left, right;
        } pad;
    } cfg;
};

/* A zeroed layer of the given kind, named base_name until a model renames it. */
nb_layer *nb_layer_alloc(const char *fn, const nb_layer_ops *ops);
/* Free a layer and its weights (the model's way; nb_layer_free refuses layers in a model). */
void nb_layer_destroy(nb_layer *l);
/* Activation, initializers, regularizer and name of Dense and Conv2D, checked;
 * on failure l is freed and false returned (the error names fn). */
bool nb_layer_configure(nb_layer *l, const char *fn, const char *activation, nb_init kernel_init,
                        nb_init bias_init, nb_regularizer reg, const char *name);
/* Create weight l->weights[l->n_weights++] = "<layer>/<role>" with shape, in
 * the root scope, filled by init with the given fans. */
nb_tensor *nb_layer_add_weight(nb_layer *l, const char *role, const int64_t *shape, int ndim,
                               bool trainable, nb_init init, int64_t fan_in, int64_t fan_out);
int64_t nb_layer_trainable_count(const nb_layer *l);
/* "(None, 32, 26, 26)" */
int nb_layer_shape_str(const int64_t *shape, int ndim, char *buf, size_t n);

/* ---- losses (losses.c) ---------------------------------------------------------------- */
typedef enum nb_loss_kind {
    NB_LOSS_MSE = 0,
    NB_LOSS_MAE,
    NB_LOSS_BINARY_CE,
    NB_LOSS_CATEGORICAL_CE,
    NB_LOSS_SPARSE_CATEGORICAL_CE,
    NB_LOSS_HUBER,
    NB_LOSS_LOG_COSH,
    NB_LOSS_HINGE,
    NB_LOSS_SQUARED_HINGE,
    NB_LOSS_CATEGORICAL_HINGE,
    NB_LOSS_KL_DIVERGENCE,
    NB_LOSS_POISSON,
    NB_LOSS_COSINE_SIMILARITY,
    NB_LOSS_COUNT
} nb_loss_kind;
/* also takes Keras's long names ("mean_squared_error"); false with an error
 * naming fn and listing the known names */
bool nb_loss_from_name(const char *fn, const char *name, nb_loss_kind *out);
const char *nb_loss_name(nb_loss_kind k);
bool nb_loss_is_crossentropy(nb_loss_kind k);
/* from_logits with a loss that is not a cross-entropy: false with an error
 * naming fn and the loss as the user named it */
bool nb_loss_check_logits(const char *fn, const char *name, nb_loss_kind k, bool from_logits);
/* from_logits: pred are logits and a cross-entropy is its fused *_logits op */
nb_tensor *nb_loss_apply(nb_loss_kind k, bool from_logits, nb_tensor *pred, nb_tensor *target);
/* the loss per sample, [N] for predictions [N, ...]: its mean is nb_loss_apply's
 * value up to rounding (a weighted loss is sum_i w_i l_i / N) */
nb_tensor *nb_loss_per_sample(nb_loss_kind k, bool from_logits, nb_tensor *pred, nb_tensor *target);

/* ---- metrics (metrics.c) ---------------------------------------------------------------- */
typedef enum nb_metric_kind {
    NB_METRIC_ACCURACY = 0, /* "accuracy" with a loss that does not say which: by shapes */
    NB_METRIC_BINARY_ACCURACY,
    NB_METRIC_CATEGORICAL_ACCURACY,
    NB_METRIC_SPARSE_CATEGORICAL_ACCURACY,
    NB_METRIC_MSE,
    NB_METRIC_MAE,
    NB_METRIC_RMSE,
    NB_METRIC_R2,
    NB_METRIC_PRECISION,
    NB_METRIC_RECALL,
    NB_METRIC_AUC,
    NB_METRIC_TOP_K,        /* top_k_categorical_accuracy, k = 5: one-hot targets */
    NB_METRIC_SPARSE_TOP_K, /* sparse_top_k_categorical_accuracy, k = 5: labels */
} nb_metric_kind;
/* Metrics accumulate over an epoch, as Keras's do: precision is TP / (TP + FP) over all
 * the epoch's samples, not a mean of batch precisions. */
#define NB_AUC_THRESHOLDS 200 /* Keras's num_thresholds */
typedef struct nb_metric_state {
    double total, count;                     /* means: value x weight, weight */
    double sum_y, sum_y2, sum_res2, sum_abs; /* mse, mae, rmse, r2 */
    double tp[NB_AUC_THRESHOLDS], fp[NB_AUC_THRESHOLDS], pos, neg; /* precision/recall: [0] */
} nb_metric_state;
void nb_metric_reset(nb_metric_state *s);
/* adds a batch; NaN-free on success, an error (shapes, targets) otherwise */
nb_status nb_metric_update(nb_metric_kind k, nb_metric_state *s, const nb_tensor *pred,
                           const nb_tensor *target, bool from_logits);
/* the value over every batch added since the reset; NaN when there was none */
double nb_metric_result(nb_metric_kind k, const nb_metric_state *s);
/* true for metrics that rise as the model improves (accuracies, precision, ..., r2) */
bool nb_metric_rises(const char *name);
/* "accuracy"/"acc" become the accuracy that fits loss, as Keras does */
bool nb_metric_from_name(const char *fn, const char *name, nb_loss_kind loss, nb_metric_kind *out);
/* the metric's mean over the batch; NaN with an error on mismatched shapes.
 * from_logits: pred are logits (binary accuracy thresholds them at 0). */
double nb_metric_eval(nb_metric_kind k, const nb_tensor *pred, const nb_tensor *target,
                      bool from_logits);

/* ---- models (model.c) --------------------------------------------------------------------- */
struct nb_model {
    char name[NB_LAYER_NAME_LEN]; /* "sequential" */
    int in_ndim;
    int64_t in_shape[NB_MAX_DIMS]; /* without the batch axis */
    nb_layer **layers;
    int n_layers, cap_layers;
    nb_tensor **params; /* trainable weights in layer order (nb_model_parameters) */
    uint64_t lifetime;  /* nb_lifetime() at creation: its tensors die with nb_shutdown */
    int n_params, cap_params;
    /* set by nb_model_compile (and _ex) */
    bool compiled;
    nb_loss_kind loss;
    bool from_logits;  /* Keras's from_logits: the outputs are logits; the loss (a
                        * cross-entropy) is its fused *_logits op on them, binary
                        * accuracy thresholds them at 0, predict returns them */
    nb_optimizer *opt; /* owned; every trainable weight is registered with it */
    int n_metrics;
    nb_metric_kind metrics[NB_MODEL_MAX_METRICS];
    char metric_names[NB_MODEL_MAX_METRICS][32]; /* as the user wrote them: the log keys */
};

/* The compiled loss of the model's predictions for x against y (0-d), and
 * in *pred (if not NULL) the predictions, as nb_model_forward would give
 * them. When the last layer's activation is softmax (1-D output) and the
 * loss categorical or sparse categorical cross-entropy, or sigmoid and
 * binary cross-entropy, the loss is computed from the logits by the fused
 * op (stable for logits of +-1e4) and *pred is the activation of the logits
 * computed without gradient. With m->from_logits the outputs are the logits
 * the fused op takes, and *pred are those outputs. Does not include the
 * regularization loss. */
nb_tensor *nb_model_forward_loss(nb_model *m, nb_tensor *x, nb_tensor *y, bool training,
                                 nb_tensor **pred);
/* the same with sample weights w ([N], or NULL for none): the loss is
 * sum_i w_i l_i / N over the batch's per-sample losses (nb_loss_per_sample) */
nb_tensor *nb_model_forward_loss_weighted(nb_model *m, nb_tensor *x, nb_tensor *y, nb_tensor *w,
                                          bool training, nb_tensor **pred);
/* nb_model_train_on_batch with sample weights w ([N] or NULL) */
nb_status nb_model_train_on_batch_weighted(nb_model *m, nb_tensor *x, nb_tensor *y, nb_tensor *w,
                                           nb_tensor **loss, nb_tensor **pred);
/* true when nb_model_forward_loss uses a fused logits op */
bool nb_model_loss_is_fused(const nb_model *m);
/* sum over layers of l1 * sum|kernel| + l2 * sum kernel^2 (0-d; a zero
 * scalar when no layer has a regularizer) */
nb_tensor *nb_model_regularization_loss(nb_model *m);
bool nb_model_has_regularization(const nb_model *m);
/* compiled metric i on a batch's predictions (from nb_model_forward_loss) */
double nb_model_metric(const nb_model *m, int i, const nb_tensor *pred, const nb_tensor *y);
/* every weight of every layer, trainable or not, in layer order */
int nb_model_num_weights(const nb_model *m);
nb_weight *nb_model_weight(nb_model *m, int i);
int64_t nb_model_trainable_count(const nb_model *m);
/* m->params again from the layers' trainable weights (after a layer is frozen or thawed;
 * only before compile, which registers them with the optimizer) */
nb_status nb_model_collect_params(nb_model *m);

/* ---- model files (model_file.c writes them, model_load.c reads them) ------------------------ */
#define NB_MODEL_FILE_VERSION   "1"
#define NB_MODEL_FILE_OPTIMIZER "optimizer." /* the optimizer's pairs, as checkpoints name them */

#endif
