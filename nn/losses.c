/* Losses on predictions, written with ops (so their gradients come from the
 * ops' backward rules), and losses by name. Each returns a 0-d mean:
 *
 *   mse   mean (pred - target)^2               over all elements
 *   mae   mean |pred - target|                 over all elements
 *   binary_crossentropy       -mean t log p + (1 - t) log(1 - p)   over all elements
 *   categorical_crossentropy  -1/N sum t log p                     p, t: [N, K]
 *   sparse_categorical_crossentropy  the same with t = one_hot(labels)
 *
 * Probabilities are clipped to [1e-7, 1 - 1e-7] first, as Keras does, so a
 * confident wrong prediction costs log(1e7) = 16.1 instead of infinity. The
 * *_logits forms in ops/loss.c need no clipping: they are exact and stable,
 * and they are what the cross-entropies mean with Keras's from_logits.
 * Targets follow nb_target_fits: [N] targets for [N, 1] outputs.
 *
 * Keras's other losses, each the mean over samples of a per-sample value
 * (the mean over the last axis for the elementwise ones, so the mean over all
 * elements):
 *   huber (delta 1)  1/2 e^2 where |e| <= 1, |e| - 1/2 beyond     e = pred - target
 *   log_cosh         log cosh e = e + softplus(-2e) - log 2 (no overflow)
 *   hinge            max(1 - t p, 0)      t in {-1, 1}; 0/1 targets are mapped to it
 *   squared_hinge    max(1 - t p, 0)^2    likewise
 *   categorical_hinge  max(max_k (1 - t) p - sum_k t p + 1, 0)   one-hot t, [N, K]
 *   kl_divergence    sum_k t log(t / p), t and p clipped to [1e-7, 1]
 *   poisson          p - t log(p + 1e-7)
 *   cosine_similarity  -sum_k t p / (|t| |p|), norms at least 1e-6 (Keras's sign:
 *                      -1 is the best value, so that less is better, as for a loss)
 */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

#define PROB_EPS 1e-7f

/* target seen with pred's shape, by the rule of nb_target_fits ([N] for [N, 1]) */
static nb_tensor *match_target(const char *fn, nb_tensor *pred, nb_tensor *target) {
    if (!pred || !target) return nb_fail_null(fn);
    if (nb_target_fits(pred, target, false)) return nb_target_view(pred, target, false);
    return nb_fail(NB_ERR_SHAPE, "%s: predictions %s and targets %s differ in shape", fn,
                   nb_shape_s(pred), nb_shape_s(target));
}

nb_tensor *nb_mse_loss(nb_tensor *pred, nb_tensor *target) {
    nb_tensor *t = match_target("nb_mse_loss", pred, target);
    return t ? nb_mean_all(nb_square(nb_sub(pred, t))) : NULL;
}

nb_tensor *nb_mae_loss(nb_tensor *pred, nb_tensor *target) {
    nb_tensor *t = match_target("nb_mae_loss", pred, target);
    return t ? nb_mean_all(nb_abs(nb_sub(pred, t))) : NULL;
}

/* -mean(t log p + (1 - t) log(1 - p)) */
nb_tensor *nb_binary_crossentropy(nb_tensor *prob, nb_tensor *target) {
    nb_tensor *t = match_target("nb_binary_crossentropy", prob, target);
    if (!t) return NULL;
    nb_tensor *p = nb_clip(prob, PROB_EPS, 1.0f - PROB_EPS);
    nb_tensor *pos = nb_mul(t, nb_log(p));
    nb_tensor *neg = nb_mul(nb_rsub_scalar(t, 1.0f), nb_log(nb_rsub_scalar(p, 1.0f)));
    return nb_neg(nb_mean_all(nb_add(pos, neg)));
}

/* prob, onehot: [N, K] -> -1/N sum t log p */
nb_tensor *nb_categorical_crossentropy(nb_tensor *prob, nb_tensor *onehot) {
    const char *fn = "nb_categorical_crossentropy";
    if (!prob || !onehot) return nb_fail_null(fn);
    if (prob->ndim != 2 || !nb_target_fits(prob, onehot, false) || prob->shape[0] < 1)
        return nb_fail(NB_ERR_SHAPE,
                       "%s: probabilities and one-hot targets must both be [N, K] with N >= 1; "
                       "got %s and %s",
                       fn, nb_shape_s(prob), nb_shape_s(onehot));
    nb_tensor *p = nb_clip(prob, PROB_EPS, 1.0f - PROB_EPS);
    nb_tensor *total = nb_sum_all(nb_mul(nb_target_view(prob, onehot, false), nb_log(p)));
    return nb_mul_scalar(total, -1.0f / (float)prob->shape[0]);
}

/* prob: [N, K], labels: [N] or [N, 1] class indices */
nb_tensor *nb_sparse_categorical_crossentropy(nb_tensor *prob, nb_tensor *labels) {
    const char *fn = "nb_sparse_categorical_crossentropy";
    if (!prob || !labels) return nb_fail_null(fn);
    if (prob->ndim != 2 || !nb_target_fits(prob, labels, true))
        return nb_fail(NB_ERR_SHAPE,
                       "%s: probabilities must be [N, K] and labels [N]; got %s and %s", fn,
                       nb_shape_s(prob), nb_shape_s(labels));
    nb_tensor *onehot = nb_one_hot(nb_target_view(prob, labels, true), prob->shape[1]);
    if (!onehot) {
        char why[512];
        snprintf(why, sizeof why, "%s", nb_error());
        return nb_fail(nb_failure_code(), "%s: labels must be class indices in [0, %lld): %s", fn,
                       (long long)prob->shape[1], why);
    }
    return nb_categorical_crossentropy(prob, onehot);
}

/* The mean over samples of a per-sample sum over the last axis: [.., K] -> 0-d */
static nb_tensor *mean_of_row_sums(nb_tensor *x) {
    if (!x) return NULL;
    if (x->ndim == 0) return x;
    int last = x->ndim - 1;
    nb_tensor *rows = nb_sum(x, &last, 1, false);
    return rows ? nb_mean_all(rows) : NULL;
}

nb_tensor *nb_huber_loss(nb_tensor *pred, nb_tensor *target, float delta) {
    const char *fn = "nb_huber_loss";
    if (!(delta > 0) || !isfinite(delta))
        return nb_fail(NB_ERR_ARG, "%s: delta %g must be a positive number", fn, delta);
    nb_tensor *t = match_target(fn, pred, target);
    if (!t) return NULL;
    /* with a = |e| and q = min(a, delta): 1/2 q^2 + delta (a - q) is 1/2 e^2 inside and
     * delta |e| - 1/2 delta^2 outside, one expression with the right slope on both sides */
    nb_tensor *a = nb_abs(nb_sub(pred, t));
    nb_tensor *q = nb_clip(a, 0.0f, delta);
    return nb_mean_all(
        nb_add(nb_mul_scalar(nb_square(q), 0.5f), nb_mul_scalar(nb_sub(a, q), delta)));
}

nb_tensor *nb_log_cosh_loss(nb_tensor *pred, nb_tensor *target) {
    nb_tensor *t = match_target("nb_log_cosh_loss", pred, target);
    if (!t) return NULL;
    nb_tensor *e = nb_sub(pred, t);
    nb_tensor *v = nb_add(e, nb_softplus(nb_mul_scalar(e, -2.0f)));
    return nb_mean_all(nb_sub_scalar(v, (float)M_LN2));
}

/* Keras's hinge targets: -1 / 1, or 0 / 1 read as -1 / 1 (all values must be one kind) */
static nb_tensor *signed_targets(const char *fn, nb_tensor *t) {
    bool zero_one = true, signs = true;
    for (int64_t i = 0; i < nb_numel(t); i++) {
        float v = nb_get_flat(t, i);
        zero_one = zero_one && (v == 0 || v == 1);
        signs = signs && (v == -1 || v == 1);
    }
    if (signs) return t;
    if (zero_one) return nb_affine(t, 2.0f, -1.0f);
    return nb_fail(NB_ERR_ARG,
                   "%s: targets must be -1 and 1 (or 0 and 1); got %s with other values", fn,
                   nb_shape_s(t));
}

static nb_tensor *hinge_margin(const char *fn, nb_tensor *pred, nb_tensor *target) {
    nb_tensor *t = match_target(fn, pred, target);
    t = t ? signed_targets(fn, t) : NULL;
    return t ? nb_relu(nb_rsub_scalar(nb_mul(t, pred), 1.0f)) : NULL;
}

nb_tensor *nb_hinge_loss(nb_tensor *pred, nb_tensor *target) {
    nb_tensor *m = hinge_margin("nb_hinge_loss", pred, target);
    return m ? nb_mean_all(m) : NULL;
}

nb_tensor *nb_squared_hinge_loss(nb_tensor *pred, nb_tensor *target) {
    nb_tensor *m = hinge_margin("nb_squared_hinge_loss", pred, target);
    return m ? nb_mean_all(nb_square(m)) : NULL;
}

/* pred, onehot: [N, K] */
static bool rows_of_classes(const char *fn, nb_tensor *pred, nb_tensor *target) {
    if (!pred || !target) return nb_fail_null(fn), false;
    if (pred->ndim == 2 && nb_target_fits(pred, target, false) && pred->shape[0] >= 1) return true;
    nb_fail(NB_ERR_SHAPE,
            "%s: predictions and targets must both be [N, K] with N >= 1; got %s and %s", fn,
            nb_shape_s(pred), nb_shape_s(target));
    return false;
}

nb_tensor *nb_categorical_hinge_loss(nb_tensor *pred, nb_tensor *onehot) {
    const char *fn = "nb_categorical_hinge_loss";
    if (!rows_of_classes(fn, pred, onehot)) return NULL;
    nb_tensor *t = nb_target_view(pred, onehot, false);
    int axis = 1;
    nb_tensor *pos = nb_sum(nb_mul(t, pred), &axis, 1, false);
    nb_tensor *neg = nb_max(nb_mul(nb_rsub_scalar(t, 1.0f), pred), &axis, 1, false);
    return nb_mean_all(nb_relu(nb_add_scalar(nb_sub(neg, pos), 1.0f)));
}

nb_tensor *nb_kl_divergence_loss(nb_tensor *pred, nb_tensor *target) {
    const char *fn = "nb_kl_divergence_loss";
    if (!rows_of_classes(fn, pred, target)) return NULL;
    nb_tensor *t = nb_clip(nb_target_view(pred, target, false), PROB_EPS, 1.0f);
    nb_tensor *p = nb_clip(pred, PROB_EPS, 1.0f);
    return mean_of_row_sums(nb_mul(t, nb_sub(nb_log(t), nb_log(p))));
}

nb_tensor *nb_poisson_loss(nb_tensor *pred, nb_tensor *target) {
    nb_tensor *t = match_target("nb_poisson_loss", pred, target);
    if (!t) return NULL;
    return nb_mean_all(nb_sub(pred, nb_mul(t, nb_log(nb_add_scalar(pred, PROB_EPS)))));
}

/* x / max(|x|, 1e-6) along the last axis */
static nb_tensor *unit_rows(nb_tensor *x) {
    int last = x->ndim - 1;
    nb_tensor *norm = nb_sqrt(nb_sum(nb_square(x), &last, 1, true));
    return nb_div(x, nb_clip(norm, 1e-6f, INFINITY));
}

nb_tensor *nb_cosine_similarity_loss(nb_tensor *pred, nb_tensor *target) {
    const char *fn = "nb_cosine_similarity_loss";
    nb_tensor *t = match_target(fn, pred, target);
    if (!t) return NULL;
    if (pred->ndim < 1)
        return nb_fail(NB_ERR_SHAPE, "%s: predictions must have an axis to compare along; got %s",
                       fn, nb_shape_s(pred));
    return nb_neg(mean_of_row_sums(nb_mul(unit_rows(t), unit_rows(pred))));
}

/* ---- by name ----------------------------------------------------------------------------- */
static const struct {
    const char *name;
    nb_loss_kind kind;
} names[] = {
    {"mse", NB_LOSS_MSE},
    {"mae", NB_LOSS_MAE},
    {"binary_crossentropy", NB_LOSS_BINARY_CE},
    {"categorical_crossentropy", NB_LOSS_CATEGORICAL_CE},
    {"sparse_categorical_crossentropy", NB_LOSS_SPARSE_CATEGORICAL_CE},
    {"huber", NB_LOSS_HUBER},
    {"log_cosh", NB_LOSS_LOG_COSH},
    {"hinge", NB_LOSS_HINGE},
    {"squared_hinge", NB_LOSS_SQUARED_HINGE},
    {"categorical_hinge", NB_LOSS_CATEGORICAL_HINGE},
    {"kl_divergence", NB_LOSS_KL_DIVERGENCE},
    {"poisson", NB_LOSS_POISSON},
    {"cosine_similarity", NB_LOSS_COSINE_SIMILARITY},
    {"mean_squared_error", NB_LOSS_MSE}, /* Keras's long names */
    {"mean_absolute_error", NB_LOSS_MAE},
    {"huber_loss", NB_LOSS_HUBER},
    {"logcosh", NB_LOSS_LOG_COSH},
    {"kullback_leibler_divergence", NB_LOSS_KL_DIVERGENCE},
    {"kld", NB_LOSS_KL_DIVERGENCE},
};

bool nb_loss_from_name(const char *fn, const char *name, nb_loss_kind *out) {
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) {
            *out = names[i].kind;
            return true;
        }
    nb_fail(NB_ERR_ARG,
            "%s: unknown loss '%s'; known losses: mse, mae, binary_crossentropy, "
            "categorical_crossentropy, sparse_categorical_crossentropy, huber, log_cosh, hinge, "
            "squared_hinge, categorical_hinge, kl_divergence, poisson, cosine_similarity",
            fn, name ? name : "(null)");
    return false;
}

const char *nb_loss_name(nb_loss_kind k) {
    return names[k].name; /* the first NB_LOSS_COUNT entries are in enum order */
}

bool nb_loss_is_crossentropy(nb_loss_kind k) {
    return k == NB_LOSS_BINARY_CE || k == NB_LOSS_CATEGORICAL_CE ||
           k == NB_LOSS_SPARSE_CATEGORICAL_CE;
}

bool nb_loss_check_logits(const char *fn, const char *name, nb_loss_kind k, bool from_logits) {
    if (!from_logits || nb_loss_is_crossentropy(k)) return true;
    nb_fail(NB_ERR_ARG, "%s: from_logits applies to the cross-entropies, not to '%s'", fn, name);
    return false;
}

/* on logits the cross-entropies are the fused ops, which take the same targets.
 * The fused softmax forms also take PyTorch's layouts ([K], and [N, K, d1, ...]
 * with the classes on axis 1); a model's outputs keep Keras's meaning, classes
 * last, so only [N, K] goes through, as for the probability forms */
static nb_tensor *loss_on_logits(nb_loss_kind k, nb_tensor *logits, nb_tensor *target) {
    if (logits && logits->ndim != 2 &&
        (k == NB_LOSS_CATEGORICAL_CE || k == NB_LOSS_SPARSE_CATEGORICAL_CE))
        return nb_fail(NB_ERR_SHAPE,
                       "nb_loss_apply: %s with from_logits takes [N, K] outputs; got %s (for "
                       "PyTorch's classes on axis 1 call nb_softmax_crossentropy_logits or "
                       "nb_sparse_softmax_crossentropy_logits)",
                       nb_loss_name(k), nb_shape_s(logits));
    switch (k) {
    case NB_LOSS_BINARY_CE:
        return nb_sigmoid_crossentropy_logits(logits, target);
    case NB_LOSS_CATEGORICAL_CE:
        return nb_softmax_crossentropy_logits(logits, target);
    case NB_LOSS_SPARSE_CATEGORICAL_CE:
        return nb_sparse_softmax_crossentropy_logits(logits, target);
    default:
        return nb_fail(NB_ERR_ARG, "nb_loss_apply: loss '%s' has no logits form", nb_loss_name(k));
    }
}

nb_tensor *nb_loss_apply(nb_loss_kind k, bool from_logits, nb_tensor *pred, nb_tensor *target) {
    if (from_logits) return loss_on_logits(k, pred, target);
    switch (k) {
    case NB_LOSS_MSE:
        return nb_mse_loss(pred, target);
    case NB_LOSS_MAE:
        return nb_mae_loss(pred, target);
    case NB_LOSS_BINARY_CE:
        return nb_binary_crossentropy(pred, target);
    case NB_LOSS_CATEGORICAL_CE:
        return nb_categorical_crossentropy(pred, target);
    case NB_LOSS_SPARSE_CATEGORICAL_CE:
        return nb_sparse_categorical_crossentropy(pred, target);
    case NB_LOSS_HUBER:
        return nb_huber_loss(pred, target, 1.0f);
    case NB_LOSS_LOG_COSH:
        return nb_log_cosh_loss(pred, target);
    case NB_LOSS_HINGE:
        return nb_hinge_loss(pred, target);
    case NB_LOSS_SQUARED_HINGE:
        return nb_squared_hinge_loss(pred, target);
    case NB_LOSS_CATEGORICAL_HINGE:
        return nb_categorical_hinge_loss(pred, target);
    case NB_LOSS_KL_DIVERGENCE:
        return nb_kl_divergence_loss(pred, target);
    case NB_LOSS_POISSON:
        return nb_poisson_loss(pred, target);
    case NB_LOSS_COSINE_SIMILARITY:
        return nb_cosine_similarity_loss(pred, target);
    case NB_LOSS_COUNT:
        break;
    }
    return nb_fail(NB_ERR_ARG, "nb_loss_apply: unknown loss kind %d", (int)k);
}

nb_tensor *nb_loss_by_name(const char *name, nb_tensor *pred, nb_tensor *target) {
    nb_loss_kind k;
    if (!nb_loss_from_name("nb_loss_by_name", name, &k)) return NULL;
    return nb_loss_apply(k, false, pred, target);
}

nb_tensor *nb_loss_by_name_ex(const char *name, nb_tensor *pred, nb_tensor *target,
                              const nb_loss_opts *opts) {
    const char *fn = "nb_loss_by_name_ex";
    bool from_logits = opts && opts->from_logits;
    nb_loss_kind k;
    if (!nb_loss_from_name(fn, name, &k) || !nb_loss_check_logits(fn, name, k, from_logits))
        return NULL;
    return nb_loss_apply(k, from_logits, pred, target);
}

/* ---- per sample: [N] values whose mean is the loss, for weighted losses --------------------
 * The same formulas as above, reduced over every axis but the first (the mean
 * over the elements of a sample; the cross-entropies, categorical_hinge,
 * kl_divergence and cosine_similarity sum their last axis first). The 0-d
 * losses above are left as they are, so unweighted numbers do not move. */
static nb_tensor *mean_per_sample(nb_tensor *x) {
    if (!x || x->ndim <= 1) return x;
    int axes[NB_MAX_DIMS];
    for (int i = 1; i < x->ndim; i++) axes[i - 1] = i;
    return nb_mean(x, axes, x->ndim - 1, false);
}

static nb_tensor *row_sums_per_sample(nb_tensor *x) {
    if (!x || x->ndim <= 1) return x;
    int last = x->ndim - 1;
    return mean_per_sample(nb_sum(x, &last, 1, false));
}

static nb_tensor *sparse_as_onehot(const char *fn, nb_tensor *pred, nb_tensor *labels) {
    if (!pred || !labels) return nb_fail_null(fn);
    if (pred->ndim != 2 || !nb_target_fits(pred, labels, true))
        return nb_fail(NB_ERR_SHAPE, "%s: predictions must be [N, K] and labels [N]; got %s and %s",
                       fn, nb_shape_s(pred), nb_shape_s(labels));
    nb_tensor *onehot = nb_one_hot(nb_target_view(pred, labels, true), pred->shape[1]);
    if (!onehot) {
        char why[512];
        snprintf(why, sizeof why, "%s", nb_error());
        return nb_fail(nb_failure_code(), "%s: labels must be class indices in [0, %lld): %s", fn,
                       (long long)pred->shape[1], why);
    }
    return onehot;
}

/* -sum_k t log p per row, p clipped (probabilities) or log_softmax (logits) */
static nb_tensor *categorical_per_sample(const char *fn, nb_tensor *pred, nb_tensor *onehot,
                                         bool logits) {
    if (!rows_of_classes(fn, pred, onehot)) return NULL;
    nb_tensor *logp =
        logits ? nb_log_softmax(pred, 1) : nb_log(nb_clip(pred, PROB_EPS, 1.0f - PROB_EPS));
    return nb_neg(row_sums_per_sample(nb_mul(nb_target_view(pred, onehot, false), logp)));
}

static nb_tensor *elementwise_loss(nb_loss_kind k, bool logits, nb_tensor *pred, nb_tensor *t) {
    const char *fn = "nb_loss_per_sample";
    switch (k) {
    case NB_LOSS_MSE:
        return nb_square(nb_sub(pred, t));
    case NB_LOSS_MAE:
        return nb_abs(nb_sub(pred, t));
    case NB_LOSS_BINARY_CE: {
        if (logits) /* softplus(z) - z t: -t log sigmoid(z) - (1 - t) log(1 - sigmoid(z)) */
            return nb_sub(nb_softplus(pred), nb_mul(pred, t));
        nb_tensor *p = nb_clip(pred, PROB_EPS, 1.0f - PROB_EPS);
        nb_tensor *pos = nb_mul(t, nb_log(p));
        nb_tensor *neg = nb_mul(nb_rsub_scalar(t, 1.0f), nb_log(nb_rsub_scalar(p, 1.0f)));
        return nb_neg(nb_add(pos, neg));
    }
    case NB_LOSS_HUBER: {
        nb_tensor *a = nb_abs(nb_sub(pred, t)), *q = nb_clip(a, 0.0f, 1.0f);
        return nb_add(nb_mul_scalar(nb_square(q), 0.5f), nb_sub(a, q));
    }
    case NB_LOSS_LOG_COSH: {
        nb_tensor *e = nb_sub(pred, t);
        return nb_sub_scalar(nb_add(e, nb_softplus(nb_mul_scalar(e, -2.0f))), (float)M_LN2);
    }
    case NB_LOSS_HINGE:
    case NB_LOSS_SQUARED_HINGE: {
        nb_tensor *s = signed_targets(fn, t);
        nb_tensor *m = s ? nb_relu(nb_rsub_scalar(nb_mul(s, pred), 1.0f)) : NULL;
        return k == NB_LOSS_HINGE || !m ? m : nb_square(m);
    }
    case NB_LOSS_POISSON:
        return nb_sub(pred, nb_mul(t, nb_log(nb_add_scalar(pred, PROB_EPS))));
    default:
        return nb_fail(NB_ERR_ARG, "%s: loss '%s' is not elementwise", fn, nb_loss_name(k));
    }
}

nb_tensor *nb_loss_per_sample(nb_loss_kind k, bool from_logits, nb_tensor *pred,
                              nb_tensor *target) {
    const char *fn = "nb_loss_per_sample";
    if (!pred || !target) return nb_fail_null(fn);
    if (pred->ndim < 1)
        return nb_fail(NB_ERR_SHAPE, "%s: predictions %s have no sample axis", fn,
                       nb_shape_s(pred));
    if (from_logits && !nb_loss_is_crossentropy(k))
        return nb_fail(NB_ERR_ARG, "%s: loss '%s' has no logits form", fn, nb_loss_name(k));
    switch (k) {
    case NB_LOSS_CATEGORICAL_CE:
        return categorical_per_sample(fn, pred, target, from_logits);
    case NB_LOSS_SPARSE_CATEGORICAL_CE: {
        nb_tensor *onehot = sparse_as_onehot(fn, pred, target);
        return onehot ? categorical_per_sample(fn, pred, onehot, from_logits) : NULL;
    }
    case NB_LOSS_CATEGORICAL_HINGE: {
        if (!rows_of_classes(fn, pred, target)) return NULL;
        nb_tensor *t = nb_target_view(pred, target, false);
        int axis = 1;
        nb_tensor *pos = nb_sum(nb_mul(t, pred), &axis, 1, false);
        nb_tensor *neg = nb_max(nb_mul(nb_rsub_scalar(t, 1.0f), pred), &axis, 1, false);
        return nb_relu(nb_add_scalar(nb_sub(neg, pos), 1.0f));
    }
    case NB_LOSS_KL_DIVERGENCE: {
        if (!rows_of_classes(fn, pred, target)) return NULL;
        nb_tensor *t = nb_clip(nb_target_view(pred, target, false), PROB_EPS, 1.0f);
        nb_tensor *p = nb_clip(pred, PROB_EPS, 1.0f);
        return row_sums_per_sample(nb_mul(t, nb_sub(nb_log(t), nb_log(p))));
    }
    case NB_LOSS_COSINE_SIMILARITY: {
        nb_tensor *t = match_target(fn, pred, target);
        return t ? nb_neg(row_sums_per_sample(nb_mul(unit_rows(t), unit_rows(pred)))) : NULL;
    }
    case NB_LOSS_COUNT:
        return nb_fail(NB_ERR_ARG, "%s: unknown loss kind %d", fn, (int)k);
    default: {
        nb_tensor *t = match_target(fn, pred, target);
        return t ? mean_per_sample(elementwise_loss(k, from_logits, pred, t)) : NULL;
    }
    }
}
