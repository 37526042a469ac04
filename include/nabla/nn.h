/* nabla nn: layers, Sequential models, losses, metrics and the Keras workflow
 *
 *   define data -> define a model -> compile (loss, optimizer, metrics)
 *   -> fit (epochs, batch size, validation, History) -> evaluate -> predict
 *
 * Names and defaults are Keras's: glorot-uniform kernels, zero biases, batch
 * size 32, rmsprop when no optimizer is given, losses and activations by name.
 * Shapes given to layers and models leave out the batch axis.
 */
#ifndef NABLA_NN_H
#define NABLA_NN_H

#include "core.h"
#include "graph.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_layer nb_layer;
typedef struct nb_model nb_model;

/* ---- activations by name ------------------------------------------------------------
 * "linear", "relu", "sigmoid", "tanh", "softmax" (last axis), "leaky_relu"
 * (alpha 0.3, Keras's), "elu", "gelu", "softplus", "step". */
nb_tensor *nb_activation(nb_tensor *x, const char *name);

/* ---- initializers --------------------------------------------------------------------- */
typedef enum nb_init {
    NB_INIT_DEFAULT = 0, /* glorot_uniform for kernels, zeros for biases */
    NB_INIT_GLOROT_UNIFORM,
    NB_INIT_GLOROT_NORMAL,
    NB_INIT_HE_UNIFORM,
    NB_INIT_HE_NORMAL,
    NB_INIT_RANDOM_NORMAL,  /* mean 0, std 0.05 (Keras) */
    NB_INIT_RANDOM_UNIFORM, /* [-0.05, 0.05] (Keras) */
    NB_INIT_ZEROS,
    NB_INIT_ONES,
} nb_init;
/* Fill t in place; fan_in/fan_out as Keras computes them for the layer. */
nb_status nb_init_fill(nb_tensor *t, nb_init kind, int64_t fan_in, int64_t fan_out);
nb_status nb_init_from_name(const char *name, nb_init *out); /* "he_normal" -> ... */

/* ---- layers --------------------------------------------------------------------------- */
typedef struct nb_regularizer {
    float l1, l2; /* loss += l1 * sum|w| + l2 * sum w^2 over the layer's kernel */
} nb_regularizer;

typedef struct nb_dense_opts {
    const char *activation; /* NULL = "linear" */
    bool no_bias;
    nb_init kernel_init, bias_init;
    nb_regularizer kernel_regularizer;
    const char *name; /* NULL: "dense", "dense_1", ... (counted per model) */
} nb_dense_opts;

nb_layer *nb_dense(int64_t units, const char *activation);
nb_layer *nb_dense_ex(int64_t units, const nb_dense_opts *opts);

typedef struct nb_conv2d_layer_opts {
    int kernel_h, kernel_w;
    int stride_h, stride_w; /* 0 = 1 */
    const char *padding;    /* "valid" (default) or "same" */
    const char *activation;
    nb_init kernel_init, bias_init;
    nb_regularizer kernel_regularizer;
    const char *name;
} nb_conv2d_layer_opts;
nb_layer *nb_conv2d_layer(int64_t filters, int kernel, const char *activation);
nb_layer *nb_conv2d_layer_ex(int64_t filters, const nb_conv2d_layer_opts *opts);
nb_layer *nb_max_pool2d_layer(int pool, int stride); /* stride 0 = pool */
nb_layer *nb_avg_pool2d_layer(int pool, int stride);
nb_layer *nb_flatten_layer(void);
nb_layer *nb_dropout_layer(float rate);
nb_layer *nb_batch_norm_layer(float momentum, float eps); /* 0, 0 = Keras's 0.99, 1e-3 */
nb_layer *nb_activation_layer(const char *name);
/* Keras's Rescaling: x * scale + offset, no weights; rescales pixels
 * (1/255, 0), or maps a model trained on standardized targets back to their
 * units (deviation, mean): what `nabla train` appends on a regression. */
nb_layer *nb_rescaling_layer(float scale, float offset);
/* Keras's GlobalAveragePooling2D / GlobalMaxPooling2D: [N, C, H, W] -> [N, C]. */
nb_layer *nb_global_avg_pool2d_layer(void);
nb_layer *nb_global_max_pool2d_layer(void);
/* Keras's Reshape: target_shape without the batch axis, one dim may be -1. */
nb_layer *nb_reshape_layer(const int64_t *target_shape, int ndim);
/* Keras's Permute: dims 1-based over the axes after the batch axis ({2, 1}
 * swaps the two axes of (None, a, b)). */
nb_layer *nb_permute_layer(const int *dims, int ndim);
/* Keras's LayerNormalization over the last axis: (x - mean) / sqrt(var + eps)
 * * gamma (if scale) + beta (if center); eps 0 = Keras's 1e-3. */
nb_layer *nb_layer_norm_layer(float eps, bool center, bool scale);
/* Keras's Embedding: integer indices (floats) in [0, input_dim) of any shape
 * (None, L) -> (None, L, output_dim), rows of the weight embeddings
 * [input_dim, output_dim] (uniform in [-0.05, 0.05], Keras's default); an
 * index out of range is an error naming it and its position. */
nb_layer *nb_embedding_layer(int64_t input_dim, int64_t output_dim);
/* Keras's GaussianNoise: x + N(0, stddev) in training, x in inference. */
nb_layer *nb_gaussian_noise_layer(float stddev);
/* Keras's ZeroPadding2D on [N, C, H, W]: pad_h rows above and below, pad_w
 * columns left and right; _ex gives each side. */
nb_layer *nb_zero_padding2d_layer(int pad_h, int pad_w);
nb_layer *nb_zero_padding2d_layer_ex(int top, int bottom, int left, int right);
/* Name a layer before adding it (Keras's name=...); returns layer. On failure
 * the layer is freed, so nb_model_add(m, nb_layer_set_name(l, "hidden")) is safe. */
nb_layer *nb_layer_set_name(nb_layer *layer, const char *name);
void nb_layer_free(nb_layer *layer); /* only for layers never added to a model */
/* Keras's layer.trainable = False: a frozen layer's weights are no parameters
 * (nb_model_parameters, the optimizer) and get no gradient; summary counts them
 * as Non-trainable. Before or after nb_model_add, before nb_model_compile. */
nb_status nb_layer_set_trainable(nb_layer *layer, bool trainable);
bool nb_layer_trainable(const nb_layer *layer);

/* ---- models --------------------------------------------------------------------------- */
/* A Sequential model; input_shape excludes the batch axis ({784} or {1, 28, 28}). */
nb_model *nb_sequential(const int64_t *input_shape, int ndim);
/* Adds a layer (the model owns it from now on, even on failure). Shapes are
 * checked as layers are added: a layer that cannot take the previous output
 * is an error naming both. */
nb_status nb_model_add(nb_model *m, nb_layer *layer);
/* A Sequential model from an array of layers (all owned by the model, or
 * freed on failure): nb_sequential_of(NB_SHAPE(784), (nb_layer *[]){...}, 2). */
nb_model *nb_sequential_of(const int64_t *input_shape, int ndim, nb_layer *const *layers, int n);
void nb_model_free(nb_model *m); /* before nb_shutdown(), which frees the weights */
nb_status nb_model_set_name(nb_model *m, const char *name); /* "sequential" by default */

/* Forward pass on a batch; training turns dropout and batch-norm statistics on. */
nb_tensor *nb_model_forward(nb_model *m, nb_tensor *x, bool training);
/* The trainable parameters, in layer order (the array is the model's); -1 on error. */
int nb_model_parameters(nb_model *m, nb_tensor ***params);
int64_t nb_model_param_count(const nb_model *m);
int nb_model_num_layers(const nb_model *m);
const int64_t *nb_model_input_shape(const nb_model *m, int *ndim); /* without the batch axis */
nb_layer *nb_model_layer(nb_model *m, int i);
const char *nb_layer_name(const nb_layer *layer);
/* output shape of a layer in a model, without the batch axis: returns its
 * number of dims (-1 before the layer is added to a model) */
int nb_layer_output_shape(const nb_layer *layer, int64_t *shape);
int64_t nb_layer_param_count(const nb_layer *layer);
/* Keras-style table: layer (type), output shape with None for the batch, params; totals */
nb_status nb_model_summary(const nb_model *m, FILE *f);

/* ---- losses --------------------------------------------------------------------------
 * pred: [N, ...] model outputs; target as named. Each returns the mean over the
 * batch (0-d). Cross-entropies on probabilities clip to [1e-7, 1 - 1e-7] like
 * Keras; the *_logits forms fuse softmax/sigmoid with the cross-entropy in one
 * numerically stable op (finite for logits of +-1e4). */
/* Keras's rule for targets, the one every loss and metric here follows:
 * targets have the predictions' shape, or that shape with a trailing axis of
 * 1 added or dropped ([N] targets for [N, 1] outputs, [N, 1] for [N]); class
 * labels (labels = true) have the shape of the predictions without their
 * class axis, with the same freedom ([N] or [N, 1] for [N, K]). */
bool nb_target_fits(const nb_tensor *pred, const nb_tensor *target, bool labels);
/* target viewed with the shape the rule reads it as (pred's shape; without
 * the last axis for labels); an error when it does not fit */
nb_tensor *nb_target_view(nb_tensor *pred, nb_tensor *target, bool labels);
nb_tensor *nb_mse_loss(nb_tensor *pred, nb_tensor *target);
nb_tensor *nb_mae_loss(nb_tensor *pred, nb_tensor *target);
nb_tensor *nb_binary_crossentropy(nb_tensor *prob, nb_tensor *target);
nb_tensor *nb_categorical_crossentropy(nb_tensor *prob, nb_tensor *onehot);
nb_tensor *nb_sparse_categorical_crossentropy(nb_tensor *prob, nb_tensor *labels);
nb_tensor *nb_sigmoid_crossentropy_logits(nb_tensor *logits, nb_tensor *target);
/* The softmax forms take logits [N, K] (targets by the rule above), and
 * PyTorch's layouts too: one sample [K] (labels 0-d, soft targets [K]) and
 * [N, K, d1, ...] with the classes on axis 1 (labels [N, d1, ...], soft
 * targets the logits' shape); the loss is the mean over N d1 ... positions. */
nb_tensor *nb_softmax_crossentropy_logits(nb_tensor *logits, nb_tensor *onehot);
nb_tensor *nb_sparse_softmax_crossentropy_logits(nb_tensor *logits, nb_tensor *labels);
/* Keras's other losses (the formulas are in nn/losses.c), each a 0-d mean over
 * samples. Targets by the rule above; categorical_hinge and kl_divergence take
 * [N, K] rows of one-hot targets / probabilities. hinge and squared_hinge take
 * -1/1 targets, or 0/1 ones that they map to -1/1 as Keras does. */
nb_tensor *nb_huber_loss(nb_tensor *pred, nb_tensor *target, float delta); /* Keras: delta 1 */
nb_tensor *nb_log_cosh_loss(nb_tensor *pred, nb_tensor *target);
nb_tensor *nb_hinge_loss(nb_tensor *pred, nb_tensor *target);
nb_tensor *nb_squared_hinge_loss(nb_tensor *pred, nb_tensor *target);
nb_tensor *nb_categorical_hinge_loss(nb_tensor *pred, nb_tensor *onehot);
nb_tensor *nb_kl_divergence_loss(nb_tensor *pred, nb_tensor *target);
nb_tensor *nb_poisson_loss(nb_tensor *pred, nb_tensor *target);
/* -cos(pred, target) along the last axis, averaged: -1 is the best value */
nb_tensor *nb_cosine_similarity_loss(nb_tensor *pred, nb_tensor *target);
/* "mse", "mae", "binary_crossentropy", "categorical_crossentropy",
 * "sparse_categorical_crossentropy" (on probabilities), "huber", "log_cosh",
 * "hinge", "squared_hinge", "categorical_hinge", "kl_divergence", "poisson",
 * "cosine_similarity", and Keras's aliases "mean_squared_error",
 * "mean_absolute_error", "huber_loss", "logcosh", "kld",
 * "kullback_leibler_divergence" */
nb_tensor *nb_loss_by_name(const char *name, nb_tensor *pred, nb_tensor *target);
typedef struct nb_loss_opts {
    /* Keras's from_logits: pred are logits (a linear output), and the
     * cross-entropies apply the sigmoid or softmax themselves, in the fused
     * *_logits ops. An error for mse and mae, which have no such form. */
    bool from_logits;
} nb_loss_opts;
nb_tensor *nb_loss_by_name_ex(const char *name, nb_tensor *pred, nb_tensor *target,
                              const nb_loss_opts *opts); /* opts NULL: probabilities */

/* ---- metrics -------------------------------------------------------------------------- */
/* accuracy: "accuracy" picks binary (threshold 0.5), categorical (argmax vs
 * argmax of one-hot) or sparse (argmax vs label) from the loss, as Keras does. */
float nb_binary_accuracy(const nb_tensor *prob, const nb_tensor *target);
/* Keras's threshold: pred > threshold counts as 1 (0 for logits, which a
 * model compiled with from_logits uses) */
float nb_binary_accuracy_at(const nb_tensor *pred, const nb_tensor *target, float threshold);
float nb_categorical_accuracy(const nb_tensor *prob, const nb_tensor *onehot);
float nb_sparse_categorical_accuracy(const nb_tensor *prob, const nb_tensor *labels);
/* [K, K] counts, rows = true class, columns = predicted; labels as floats */
nb_tensor *nb_confusion_matrix(const nb_tensor *labels, const nb_tensor *predicted, int k);
/* the matrix as a table of counts, rows labelled with the true class and
 * columns with the predicted one (class_names NULL: 0, 1, ...); an error for
 * a cell that is not a count */
nb_status nb_confusion_matrix_print(FILE *f, const nb_tensor *cm, const char *const *class_names);
/* precision, recall, f1, support per class, accuracy, macro and weighted averages */
nb_status nb_classification_report(FILE *f, const nb_tensor *confusion,
                                   const char *const *class_names);

/* ---- compile, fit, evaluate, predict ---------------------------------------------------- */
/* loss by name; optimizer owned by the model from now on, even when compile
 * fails (NULL = rmsprop); metrics by name: "accuracy" (or "acc"; the
 * loss picks binary, categorical or sparse), "mse", "mae", "rmse", "r2",
 * "precision", "recall", "auc", "top_k_categorical_accuracy",
 * "sparse_top_k_categorical_accuracy"; each accumulates over an epoch. The
 * model's parameters are registered with the optimizer. */
nb_status nb_model_compile(nb_model *m, const char *loss, nb_optimizer *opt,
                           const char *const *metrics, int n_metrics);
/* compile's arguments by name, with Keras's from_logits:
 *   nb_model_compile_ex(m, &(nb_compile_opts){.loss = "sparse_categorical_crossentropy",
 *                                             .from_logits = true});
 * With from_logits the model's outputs are logits: the cross-entropy takes
 * them through its fused *_logits op, binary accuracy thresholds a logit at
 * 0, and predict returns the logits, as Keras. Compile warns (nb_warn) when
 * a cross-entropy without from_logits follows a last activation that is not
 * softmax or sigmoid, and when from_logits follows one that is. */
typedef struct nb_compile_opts {
    const char *loss;        /* by name, as nb_model_compile */
    bool from_logits;        /* cross-entropies only */
    nb_optimizer *optimizer; /* owned by the model from now on, even on failure; NULL = rmsprop */
    const char *const *metrics;
    int n_metrics;
} nb_compile_opts;
nb_status nb_model_compile_ex(nb_model *m, const nb_compile_opts *opts);

typedef struct nb_history nb_history;
typedef struct nb_epoch_logs {
    int epoch;                /* 0-based */
    int n;                    /* number of entries */
    const char *const *names; /* "loss", "accuracy", "val_loss", "val_accuracy", ... */
    const double *values;
} nb_epoch_logs;
/* What a batch hook sees: the epoch's running training logs after the batch,
 * the numbers the progress bar shows ("loss", each metric: means over the
 * epoch's samples so far), as Keras's batch logs. */
typedef struct nb_batch_logs {
    int epoch;                /* 0-based */
    int64_t size;             /* samples in this batch */
    int n;                    /* number of entries */
    const char *const *names; /* "loss", "accuracy", ... */
    const double *values;
} nb_batch_logs;
/* A callback. on_epoch_end returns true to stop training; on_epoch_begin runs
 * before the epoch's first step, after fit has set the optimizer's scheduled
 * rate for the epoch, and a status other than NB_OK ends fit with that error.
 * Every hook gets the model; nb_model_optimizer(m) is its optimizer, whose
 * rate a hook may read and set (nb_optimizer_get_lr / nb_optimizer_set_lr).
 * Unused members stay NULL (a zero-initialised struct). A callback whose
 * constructor failed has every member NULL: fit refuses it.
 *
 * The batch hooks (batch: the 0-based step in the epoch) return true to stop,
 * as Keras's model.stop_training: the batch in hand still runs, then the
 * epoch ends there, with its validation, on_epoch_end and a History row for
 * the samples it trained on, and fit returns the History. status, when set,
 * runs after each epoch's on_epoch_end hooks: a status other than NB_OK ends
 * fit with that error (the hook records it with nb_fail...), which is how a
 * callback that failed in on_epoch_end (ModelCheckpoint's save) makes fit
 * fail. New members are added at the end, so designated initializers keep
 * working. */
typedef struct nb_callback {
    void (*on_train_begin)(nb_model *m, void *ctx);
    bool (*on_epoch_end)(nb_model *m, const nb_epoch_logs *logs, void *ctx);
    void (*on_train_end)(nb_model *m, void *ctx);
    void (*free)(void *ctx);
    void *ctx;
    nb_status (*on_epoch_begin)(nb_model *m, int epoch, void *ctx); /* epoch 0-based */
    bool (*on_batch_begin)(nb_model *m, int batch, void *ctx);
    bool (*on_batch_end)(nb_model *m, int batch, const nb_batch_logs *logs, void *ctx);
    nb_status (*status)(void *ctx);
} nb_callback;
/* Keras's mode: which way a monitored log improves. Auto: accuracies,
 * precision, recall, auc and r2 rise, everything else (losses, mae, mse)
 * falls. */
typedef enum nb_monitor_mode { NB_MODE_AUTO = 0, NB_MODE_MIN, NB_MODE_MAX } nb_monitor_mode;
/* Keras's EarlyStopping: stop when monitor ("val_loss", ...) has not improved
 * for patience epochs; restore_best puts back the best epoch's weights when
 * fit ends. The same as nb_early_stopping_ex with the other fields zero. */
nb_callback nb_early_stopping(const char *monitor, int patience, bool restore_best);
/* Keras's algorithm, epoch by epoch, once epoch >= start_from_epoch and the
 * monitored log exists (fit warns once when it does not, and the epoch does
 * not count): wait += 1; a value better than the best by more than min_delta
 * (v < best - min_delta, or v > best + min_delta rising) is the new best, and
 * wait goes back to 0 only if it also beats the baseline by that margin;
 * otherwise training stops when wait >= patience and epoch > 0. The best
 * starts at +-inf, so the first monitored epoch always improves; NaN never
 * does. With restore_best the weights of the best epoch (or of the first
 * monitored one, if none improved) are put back when fit ends. Zero fields
 * take Keras's defaults: monitor "val_loss", min_delta 0, patience 0 (stop at
 * the first epoch without improvement, as patience 1), mode auto, no
 * baseline, start_from_epoch 0. */
typedef struct nb_early_stopping_opts {
    const char *monitor;
    double min_delta; /* its absolute value, as Keras */
    int patience;
    nb_monitor_mode mode;
    bool has_baseline; /* Keras's baseline=None is has_baseline false */
    double baseline;
    bool restore_best; /* Keras's restore_best_weights */
    int start_from_epoch;
    bool verbose; /* a line when training stops and when the weights are restored */
} nb_early_stopping_opts;
nb_callback nb_early_stopping_ex(const nb_early_stopping_opts *opts);
nb_callback nb_csv_logger(const char *path);
/* Keras's LearningRateScheduler: at each epoch's start the rate becomes
 * fn(epoch, current rate, ctx) (nb_optimizer_set_lr: also the base a schedule
 * starts from, so use it with the default constant schedule). A rate that is
 * not a finite number >= 0 ends fit with an error naming the epoch. */
typedef float (*nb_lr_schedule_fn)(int epoch, float lr, void *ctx);
nb_callback nb_learning_rate_scheduler(nb_lr_schedule_fn fn, void *ctx);
/* Keras's ReduceLROnPlateau: when monitor has not improved by more than
 * min_delta for patience epochs, the rate becomes max(rate * factor, min_lr),
 * then cooldown epochs pass before waiting starts again. The base rate of the
 * optimizer's schedule is scaled, so a schedule goes on from the lower rate.
 * Zero fields take Keras's defaults: monitor "val_loss", factor 0.1, patience
 * 10 (Keras's patience 0 acts as 1), min_delta 1e-4 (for no margin give a
 * tiny one such as 1e-30), cooldown 0, min_lr 0; mode "min" for losses and
 * "max" for accuracies, as Keras's "auto". factor must be in (0, 1). */
typedef struct nb_reduce_lr_opts {
    const char *monitor;
    float factor;
    int patience;
    float min_delta;
    int cooldown;
    float min_lr;
    bool verbose; /* print a line when the rate is reduced */
} nb_reduce_lr_opts;
nb_callback nb_reduce_lr_on_plateau(const char *monitor, float factor, int patience, float min_lr);
nb_callback nb_reduce_lr_on_plateau_ex(const nb_reduce_lr_opts *opts);
/* Keras's ModelCheckpoint: after each epoch, save the model (nb_model_save)
 * or its weights (nb_model_save_weights), atomically, to a path made from a
 * pattern in Python's format syntax, the subset Keras users write:
 *   "ckpt-{epoch:02d}-{val_loss:.4f}.safetensors" -> "ckpt-03-0.2871.safetensors"
 * A field is {epoch} (counted from 1, as Keras) or {name} for any log of the
 * epoch ("loss", "val_accuracy", "lr", ...), with an optional spec
 * [0][width][.precision][d|f|e|g]: d for epoch only (the logs are floats), a
 * log without a type prints as Python's str; {{ and }} are braces. A pattern
 * that does not parse is an error of the constructor naming the column. A
 * field naming no log of the epoch, or a save that fails, ends fit with an
 * error naming the pattern or the file, as Keras raises (missing directories
 * are created first, as Keras does). With save_best_only only an epoch whose
 * monitor is better than every earlier one saves (NaN never is; Keras's best
 * is kept across fits with the same callback); without that log it warns
 * once and saves every epoch, as Keras. Zero fields: monitor "val_loss",
 * mode auto, the whole model. Not fit's own checkpoint option, which keeps
 * the optimizer's state to resume from. */
typedef struct nb_model_checkpoint_opts {
    const char *path; /* the pattern */
    const char *monitor;
    bool save_best_only;
    bool save_weights_only;
    nb_monitor_mode mode;
    bool verbose; /* a line per epoch: saved, or did not improve */
} nb_model_checkpoint_opts;
nb_callback nb_model_checkpoint(const char *path, const char *monitor, bool save_best_only);
nb_callback nb_model_checkpoint_ex(const nb_model_checkpoint_opts *opts);
/* Keras's TerminateOnNaN: after every batch, a running loss that is NaN or
 * infinite stops training (with a warning naming the epoch and batch). */
nb_callback nb_terminate_on_nan(void);
void nb_callback_free(nb_callback *cb); /* after fit: releases what the callback holds */

/* ---- fit's progress output: Keras's verbose levels -------------------------------------
 * C zero-initialises nb_fit_opts, so 0 must be the default: here 0 is Keras's
 * default, "auto", not Keras's verbose=0 (silent). Silent is -1.
 *   NB_VERBOSE_AUTO    a bar when stdout is a terminal (isatty), else one line per epoch
 *   NB_VERBOSE_BAR     a bar redrawn in place on a terminal; elsewhere the finished
 *                      bar, one line per epoch
 *   NB_VERBOSE_LINES   one line per epoch (Keras's 2)
 * Each epoch starts with Keras's "Epoch 3/10" line. Off a terminal only complete
 * lines are printed, never a '\r'. */
#define NB_VERBOSE_AUTO   0
#define NB_VERBOSE_BAR    1
#define NB_VERBOSE_LINES  2
#define NB_VERBOSE_SILENT (-1)
#define NB_SILENT         NB_VERBOSE_SILENT
typedef struct nb_fit_opts {
    int epochs;      /* 0 = 1 */
    int batch_size;  /* 0 = 32 */
    bool no_shuffle; /* Keras shuffles (each epoch, nb_permutation) by default */
    /* Keras's meaning: the last fraction of x/y, taken before shuffling. A file
     * sorted by class validates on the last classes only: shuffle (or stratify)
     * first; fit warns when the validation part holds a class training lacks. */
    float validation_split;
    nb_tensor *val_x, *val_y; /* or explicit validation data */
    int verbose;              /* NB_VERBOSE_*: 0 = auto (see above) */
    const nb_callback *callbacks;
    int n_callbacks;
    int initial_epoch;      /* Keras's: the epoch to start at; epochs is the one to stop at */
    const char *checkpoint; /* a path: nb_model_save_checkpoint after every epoch */
    bool resume;            /* load the checkpoint first if the file exists, start at its epoch */
    bool eager;             /* run each step op by op; by default fit traces the step once per
                             * batch shape and replays the compiled graph (nabla/graph.h) */
    /* Keras's sample_weight: [N] weights >= 0, one per sample of x; a batch's loss
     * is then sum_i w_i l_i / batch size (Keras's sum_over_batch_size), metrics are
     * unweighted. With validation_split the last weights weight val_loss. */
    nb_tensor *sample_weight;
    /* Keras's class_weight: n_class_weight weights >= 0, indexed by the label
     * (y as class indices [N] / [N, 1], or the argmax of one-hot [N, K]); it
     * multiplies sample_weight, and weights the training loss only */
    const float *class_weight;
    int n_class_weight;
    /* Keras's steps_per_epoch: an epoch is this many batches (0: one pass over x);
     * batches go on through the shuffled order across epochs, reshuffling when it
     * runs out, as Keras does with a repeating dataset */
    int steps_per_epoch;
    /* Keras's validation_freq: validate after every n-th epoch ((epoch + 1) % n == 0,
     * initial_epoch counted); 0 = 1. Other epochs' val_ logs are NaN, in History and
     * to callbacks, which read a NaN monitor as no value (no wait, no save) */
    int validation_freq;
} nb_fit_opts;
/* Keras's fit. At each epoch's start the optimizer's schedule sets the rate
 * for that epoch (nb_optimizer_schedule_epoch with the epoch index counted
 * from 0, initial_epoch included, so a resumed run trains at the rates it
 * would have), then each callback's on_epoch_begin runs. The History has a
 * column per log: "loss", each metric, "val_..." and "lr", the rate the epoch
 * trained with. x with no samples is an error. */
nb_history *nb_model_fit(nb_model *m, nb_tensor *x, nb_tensor *y, const nb_fit_opts *opts);
/* One optimizer step on a batch, as Keras's train_on_batch: forward (training
 * mode), loss (+ regularization), backward, update, gradients zeroed. loss and
 * pred (the model's outputs, may be NULL) receive tensors in the current scope.
 * A step can be traced (nb_trace) and replayed. */
nb_status nb_model_train_on_batch(nb_model *m, nb_tensor *x, nb_tensor *y, nb_tensor **loss,
                                  nb_tensor **pred);
/* The training step fit compiles, traced on the batch x, y (and so run once):
 * inputs x, y; outputs the loss and, with metrics compiled, the predictions.
 * opts may be NULL. Free with nb_graph_free. */
nb_graph *nb_model_trace_step(nb_model *m, nb_tensor *x, nb_tensor *y, const nb_graph_opts *opts);
/* loss then each compiled metric, in order; returns how many values were written */
int nb_model_evaluate(nb_model *m, nb_tensor *x, nb_tensor *y, int batch_size, double *values,
                      int max_values);
/* Keras's evaluate(return_dict=True): the same values with their names, "loss"
 * then each metric as compiled ("accuracy", "mae", ...); the names belong to the
 * model (valid until it is compiled again or freed). names or values may be
 * NULL; returns how many were written (at most max), -1 on error. */
int nb_model_evaluate_named(nb_model *m, nb_tensor *x, nb_tensor *y, int batch_size,
                            const char **names, double *values, int max);
/* batch_size 0 = 32; x with no samples is an error */
nb_tensor *nb_model_predict(nb_model *m, nb_tensor *x, int batch_size);
/* the optimizer the model was compiled with (NULL before compile), for
 * callbacks that change the rate */
nb_optimizer *nb_model_optimizer(nb_model *m);

int nb_history_epochs(const nb_history *h);
/* The 0-based epoch row i was trained in (Keras's history.epoch): i plus the
 * epoch the run started at (initial_epoch, or where a checkpoint stopped);
 * -1 for a row it does not have. Rows, and nb_history_get's epoch, count from
 * 0 in every run; the CSV's epoch column is this number plus 1. */
int nb_history_epoch(const nb_history *h, int i);
int nb_history_num_keys(const nb_history *h);
const char *nb_history_key(const nb_history *h, int i); /* "loss", "val_accuracy", ... */
/* value of "loss", "val_accuracy", ... at epoch; NaN if absent */
double nb_history_get(const nb_history *h, const char *name, int epoch);
nb_status nb_history_save_csv(const nb_history *h, const char *path);
void nb_history_free(nb_history *h);

/* ---- saving -------------------------------------------------------------------------------
 * safetensors files (a JSON header then raw little-endian f32), written
 * atomically: a temp file in the same directory, fsync, rename. Loading checks
 * names, shapes and dtypes and names any mismatch. */
nb_status nb_model_save_weights(const nb_model *m, const char *path);
/* the same, with extra metadata pairs (the nabla command stores the layer list
 * and input shape there, so a file describes its own model) */
nb_status nb_model_save_weights_meta(const nb_model *m, const char *path,
                                     const char *const *meta_keys, const char *const *meta_values,
                                     int n_meta);
nb_status nb_model_load_weights(nb_model *m, const char *path);

/* ---- whole models: architecture, compile settings and weights in one file (Keras's save) -----
 * One safetensors file: every weight as nb_model_save_weights writes it, and metadata that
 * describes the model: the input shape, each layer's kind and every option it was made with,
 * the layer names, the model's name and, for a compiled model, the loss, the metrics and the
 * optimizer (name, hyper-parameters, learning rate, schedule, clipping; not its moment
 * buffers: a checkpoint keeps those). The README's "Model files" lists the keys and layouts. */
nb_status nb_model_save(const nb_model *m, const char *path);
/* the same with extra metadata pairs; their keys must not be the model's own (a key
 * "nabla.data" is fine, "model.layers" or "layer.0.units" is refused) */
nb_status nb_model_save_ex(const nb_model *m, const char *path, const char *const *meta_keys,
                           const char *const *meta_values, int n_meta);
/* The model a file from nb_model_save describes, with its weights, compiled when it was
 * saved compiled; it predicts the same numbers bit for bit. A file of bare weights or a
 * checkpoint is an error that says so; a malformed description is an error naming the file
 * and the key. Free with nb_model_free. */
nb_model *nb_load_model(const char *path);
/* the same from a file's bytes in memory; name (NULL: "(memory)") stands for the path */
nb_model *nb_load_model_mem(const void *data, size_t size, const char *name);

/* ---- checkpoints: stop training and go on later as if it had never stopped -----------------
 * One safetensors file, written atomically like the weights: every weight, the optimizer's
 * state under "optimizer/<weight>/<buffer>" (nb_optimizer_get_state), and metadata: the
 * optimizer's name, hyper-parameters, learning rate and update counts ("optimizer.beta1",
 * ...), the epoch, and the thread's random generator (shuffling and dropout go on with the
 * same numbers). The model must be compiled. epoch counts the epochs done: it is the
 * initial_epoch to resume at. */
nb_status nb_model_save_checkpoint(const nb_model *m, const char *path, int epoch);
/* Loading checks everything before it changes anything: the optimizer must be the one the
 * checkpoint was saved with (name, hyper-parameters), every weight and buffer must have
 * the same shape, and the counts must agree; an error names the file and what differs.
 * Sets *epoch (may be NULL) and the random generator. */
nb_status nb_model_load_checkpoint(nb_model *m, const char *path, int *epoch);

#ifdef __cplusplus
}
#endif
#endif
