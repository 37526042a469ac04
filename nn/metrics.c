/* Metrics: accuracies, the confusion matrix and scikit-learn's classification
 * report. Metrics are read-outs, not part of training: plain loops over the
 * values, no ops, no gradients.
 *
 *   binary accuracy       mean over elements of (p > 0.5) == (t > 0.5)   (x > 0 for logits)
 *   categorical accuracy  mean over rows of argmax p == argmax t     p, t: [N, K]
 *   sparse accuracy       mean over rows of argmax p == label        labels: [N]
 *
 * In fit and evaluate every metric accumulates over the batches (nb_metric_state):
 *   mse, mae, rmse        sums of e^2 and |e| over elements; rmse = sqrt(sum e^2 / n)
 *   r2                    1 - sum e^2 / sum (t - mean t)^2 over all elements
 *   precision, recall     TP / (TP + FP), TP / P at threshold 0.5 (0 on logits)
 *   auc                   ROC: TP and FP counts at Keras's 200 thresholds, trapezoids
 *   top-k accuracies      the target class has fewer than k scores above it (k = 5)
 */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float fail_nan(const char *fn, const nb_tensor *a, const nb_tensor *b, const char *want) {
    nb_fail(NB_ERR_SHAPE, "%s: %s; got %s and %s", fn, want, nb_shape_s(a), nb_shape_s(b));
    return NAN;
}

/* index of the first maximum of row i of a [N, K] tensor */
static int64_t row_argmax(const nb_tensor *t, int64_t i) {
    int64_t k = t->shape[1], best = 0;
    float best_v = nb_get_flat(t, i * k);
    for (int64_t j = 1; j < k; j++) {
        float v = nb_get_flat(t, i * k + j);
        if (v > best_v) best_v = v, best = j;
    }
    return best;
}

static bool is_rows(const nb_tensor *t) {
    return t && t->ndim == 2 && t->shape[0] >= 1 && t->shape[1] >= 1;
}

static float binary_accuracy(const char *fn, const nb_tensor *pred, const nb_tensor *target,
                             float threshold) {
    if (!pred || !target) return (nb_fail_null(fn), NAN);
    if (!nb_target_fits(pred, target, false) || pred->numel == 0)
        return (nb_fail(NB_ERR_SHAPE, "%s: predictions %s and targets %s differ in shape", fn,
                        nb_shape_s(pred), nb_shape_s(target)),
                NAN);
    int64_t hits = 0;
    for (int64_t i = 0; i < pred->numel; i++)
        hits += (nb_get_flat(pred, i) > threshold) == (nb_get_flat(target, i) > 0.5f);
    return (float)((double)hits / (double)pred->numel);
}

float nb_binary_accuracy_at(const nb_tensor *pred, const nb_tensor *target, float threshold) {
    return binary_accuracy("nb_binary_accuracy_at", pred, target, threshold);
}

float nb_binary_accuracy(const nb_tensor *prob, const nb_tensor *target) {
    return binary_accuracy("nb_binary_accuracy", prob, target, 0.5f);
}

float nb_categorical_accuracy(const nb_tensor *prob, const nb_tensor *onehot) {
    const char *fn = "nb_categorical_accuracy";
    if (!prob || !onehot) return (nb_fail_null(fn), NAN);
    if (!is_rows(prob) || !nb_target_fits(prob, onehot, false))
        return fail_nan(fn, prob, onehot, "predictions and one-hot targets must both be [N, K]");
    int64_t hits = 0, n = prob->shape[0];
    for (int64_t i = 0; i < n; i++) hits += row_argmax(prob, i) == row_argmax(onehot, i);
    return (float)((double)hits / (double)n);
}

float nb_sparse_categorical_accuracy(const nb_tensor *prob, const nb_tensor *labels) {
    const char *fn = "nb_sparse_categorical_accuracy";
    if (!prob || !labels) return (nb_fail_null(fn), NAN);
    if (!is_rows(prob) || !nb_target_fits(prob, labels, true))
        return fail_nan(fn, prob, labels, "predictions must be [N, K] and labels [N]");
    int64_t hits = 0, n = prob->shape[0];
    for (int64_t i = 0; i < n; i++) hits += (float)row_argmax(prob, i) == nb_get_flat(labels, i);
    return (float)((double)hits / (double)n);
}

/* ---- metrics that accumulate: precision, recall, AUC, top-k, rmse, r2 ------------------- */
void nb_metric_reset(nb_metric_state *s) {
    memset(s, 0, sizeof *s);
}

/* Keras's thresholds: 0 - eps, i / (T - 1) for 0 < i < T - 1, 1 + eps */
static double auc_threshold(int i) {
    if (i == 0) return -1e-7;
    if (i == NB_AUC_THRESHOLDS - 1) return 1 + 1e-7;
    return (double)i / (NB_AUC_THRESHOLDS - 1);
}

/* elementwise scores against 0/1 targets of the same shape ([N] for [N, 1]) */
static nb_status add_confusion(const char *fn, nb_metric_kind k, nb_metric_state *s,
                               const nb_tensor *pred, const nb_tensor *target, bool from_logits) {
    if (!nb_target_fits(pred, target, false) || pred->numel == 0)
        return nb_fail_status(NB_ERR_SHAPE,
                              "%s: predictions %s and 0/1 targets %s must have the same shape", fn,
                              nb_shape_s(pred), nb_shape_s(target));
    for (int64_t i = 0; i < pred->numel; i++) {
        float t = nb_get_flat(target, i);
        if (t != 0 && t != 1)
            return nb_fail_status(NB_ERR_ARG, "%s: target %g at %lld is not 0 or 1", fn, t,
                                  (long long)i);
        double p = nb_get_flat(pred, i);
        if (from_logits) p = 1 / (1 + exp(-p)); /* scores are probabilities from here on */
        *(t == 1 ? &s->pos : &s->neg) += 1;
        if (k != NB_METRIC_AUC) { /* one threshold: 0.5 */
            if (p > 0.5) *(t == 1 ? &s->tp[0] : &s->fp[0]) += 1;
            continue;
        }
        for (int j = 0; j < NB_AUC_THRESHOLDS && p > auc_threshold(j); j++)
            *(t == 1 ? &s->tp[j] : &s->fp[j]) += 1;
    }
    return NB_OK;
}

/* the target class is among the k highest scores (ties with the k-th count as in) */
static nb_status add_top_k(const char *fn, bool sparse, nb_metric_state *s, const nb_tensor *pred,
                           const nb_tensor *target, int k) {
    if (!is_rows(pred) || !nb_target_fits(pred, target, sparse))
        return nb_fail_status(NB_ERR_SHAPE, "%s: predictions must be [N, K] and %s; got %s and %s",
                              fn, sparse ? "labels [N]" : "one-hot targets [N, K]",
                              nb_shape_s(pred), nb_shape_s(target));
    int64_t n = pred->shape[0], classes = pred->shape[1];
    for (int64_t i = 0; i < n; i++) {
        int64_t c = sparse ? (int64_t)nb_get_flat(target, i) : row_argmax(target, i);
        if (sparse && !(c >= 0 && c < classes && (float)c == nb_get_flat(target, i)))
            return nb_fail_status(NB_ERR_ARG,
                                  "%s: label %g of row %lld is not a class in [0, %lld)", fn,
                                  nb_get_flat(target, i), (long long)i, (long long)classes);
        float v = nb_get_flat(pred, i * classes + c);
        int64_t above = 0;
        for (int64_t j = 0; j < classes; j++) above += nb_get_flat(pred, i * classes + j) > v;
        s->total += above < k;
    }
    s->count += (double)n;
    return NB_OK;
}

static nb_status add_errors(const char *fn, bool r2, nb_metric_state *s, const nb_tensor *pred,
                            const nb_tensor *target) {
    if (!nb_target_fits(pred, target, false) || pred->numel == 0)
        return nb_fail_status(NB_ERR_SHAPE, "%s: predictions %s and targets %s differ in shape", fn,
                              nb_shape_s(pred), nb_shape_s(target));
    for (int64_t i = 0; i < pred->numel; i++) {
        double t = nb_get_flat(target, i), e = nb_get_flat(pred, i) - t;
        s->sum_res2 += e * e, s->sum_abs += fabs(e);
        if (r2) s->sum_y += t, s->sum_y2 += t * t;
    }
    s->count += (double)pred->numel;
    return NB_OK;
}

static const char *metric_fn(nb_metric_kind k) {
    static const char *const fns[] = {
        [NB_METRIC_MSE] = "nb_metric (mse)",
        [NB_METRIC_MAE] = "nb_metric (mae)",
        [NB_METRIC_RMSE] = "nb_metric (rmse)",
        [NB_METRIC_R2] = "nb_metric (r2)",
        [NB_METRIC_PRECISION] = "nb_metric (precision)",
        [NB_METRIC_RECALL] = "nb_metric (recall)",
        [NB_METRIC_AUC] = "nb_metric (auc)",
        [NB_METRIC_TOP_K] = "nb_metric (top_k_categorical_accuracy)",
        [NB_METRIC_SPARSE_TOP_K] = "nb_metric (sparse_top_k_categorical_accuracy)",
    };
    return k < sizeof fns / sizeof *fns && fns[k] ? fns[k] : "nb_metric";
}

nb_status nb_metric_update(nb_metric_kind k, nb_metric_state *s, const nb_tensor *pred,
                           const nb_tensor *target, bool from_logits) {
    const char *fn = metric_fn(k);
    if (!pred || !target) return nb_fail_null(fn), NB_ERR_NULL;
    switch (k) {
    case NB_METRIC_PRECISION:
    case NB_METRIC_RECALL:
    case NB_METRIC_AUC:
        return add_confusion(fn, k, s, pred, target, from_logits);
    case NB_METRIC_TOP_K:
    case NB_METRIC_SPARSE_TOP_K:
        return add_top_k(fn, k == NB_METRIC_SPARSE_TOP_K, s, pred, target, 5);
    case NB_METRIC_MSE:
    case NB_METRIC_MAE:
    case NB_METRIC_RMSE:
    case NB_METRIC_R2:
        return add_errors(fn, k == NB_METRIC_R2, s, pred, target);
    default: { /* the accuracies: the batch's value weighted by its rows */
        double v = nb_metric_eval(k, pred, target, from_logits);
        if (isnan(v)) return NB_ERR_SHAPE; /* only on an error, which nb_metric_eval set */
        double w = pred->ndim ? (double)pred->shape[0] : 1;
        s->total += v * w, s->count += w;
        return NB_OK;
    }
    }
}

/* the area under the ROC curve by the trapezoid rule over the thresholds */
static double roc_auc(const nb_metric_state *s) {
    if (s->pos == 0 || s->neg == 0) return NAN;
    double area = 0;
    for (int j = 0; j + 1 < NB_AUC_THRESHOLDS; j++) {
        double x0 = s->fp[j] / s->neg, x1 = s->fp[j + 1] / s->neg;
        double y0 = s->tp[j] / s->pos, y1 = s->tp[j + 1] / s->pos;
        area += (x0 - x1) * (y0 + y1) / 2;
    }
    return area;
}

double nb_metric_result(nb_metric_kind k, const nb_metric_state *s) {
    switch (k) {
    case NB_METRIC_PRECISION: /* Keras: 0 when nothing was predicted positive */
        return s->pos + s->neg == 0  ? NAN
               : s->tp[0] + s->fp[0] ? s->tp[0] / (s->tp[0] + s->fp[0])
                                     : 0;
    case NB_METRIC_RECALL:
        return s->pos + s->neg == 0 ? NAN : s->pos ? s->tp[0] / s->pos : 0;
    case NB_METRIC_AUC:
        return roc_auc(s);
    case NB_METRIC_MSE:
        return s->count ? s->sum_res2 / s->count : NAN;
    case NB_METRIC_MAE:
        return s->count ? s->sum_abs / s->count : NAN;
    case NB_METRIC_RMSE:
        return s->count ? sqrt(s->sum_res2 / s->count) : NAN;
    case NB_METRIC_R2: {
        if (!s->count) return NAN;
        double total = s->sum_y2 - s->sum_y * s->sum_y / s->count;
        return total > 0 ? 1 - s->sum_res2 / total : s->sum_res2 == 0 ? 1 : 0;
    }
    default:
        return s->count ? s->total / s->count : NAN;
    }
}

bool nb_metric_rises(const char *name) {
    static const char *const rising[] = {"acc", "precision", "recall", "auc", "r2"};
    const char *base = strncmp(name, "val_", 4) ? name : name + 4;
    for (size_t i = 0; i < sizeof rising / sizeof *rising; i++)
        if (strstr(base, rising[i])) return true;
    return false;
}

/* ---- metrics by name, for compile ---------------------------------------------------------- */
bool nb_metric_from_name(const char *fn, const char *name, nb_loss_kind loss, nb_metric_kind *out) {
    static const struct {
        const char *name;
        nb_metric_kind kind;
    } names[] = {
        {"binary_accuracy", NB_METRIC_BINARY_ACCURACY},
        {"categorical_accuracy", NB_METRIC_CATEGORICAL_ACCURACY},
        {"sparse_categorical_accuracy", NB_METRIC_SPARSE_CATEGORICAL_ACCURACY},
        {"mse", NB_METRIC_MSE},
        {"mae", NB_METRIC_MAE},
        {"mean_squared_error", NB_METRIC_MSE},
        {"mean_absolute_error", NB_METRIC_MAE},
        {"rmse", NB_METRIC_RMSE},
        {"root_mean_squared_error", NB_METRIC_RMSE},
        {"r2", NB_METRIC_R2},
        {"r2_score", NB_METRIC_R2},
        {"precision", NB_METRIC_PRECISION},
        {"recall", NB_METRIC_RECALL},
        {"auc", NB_METRIC_AUC},
        {"top_k_categorical_accuracy", NB_METRIC_TOP_K},
        {"sparse_top_k_categorical_accuracy", NB_METRIC_SPARSE_TOP_K},
    };
    if (name && (!strcmp(name, "accuracy") || !strcmp(name, "acc"))) {
        /* Keras picks the accuracy that matches the loss */
        *out = loss == NB_LOSS_BINARY_CE               ? NB_METRIC_BINARY_ACCURACY
               : loss == NB_LOSS_CATEGORICAL_CE        ? NB_METRIC_CATEGORICAL_ACCURACY
               : loss == NB_LOSS_SPARSE_CATEGORICAL_CE ? NB_METRIC_SPARSE_CATEGORICAL_ACCURACY
                                                       : NB_METRIC_ACCURACY;
        return true;
    }
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) {
            *out = names[i].kind;
            return true;
        }
    nb_fail(NB_ERR_ARG,
            "%s: unknown metric '%s'; known metrics: accuracy (acc), binary_accuracy, "
            "categorical_accuracy, sparse_categorical_accuracy, mse, mae, rmse, r2, precision, "
            "recall, auc, top_k_categorical_accuracy, sparse_top_k_categorical_accuracy",
            fn, name ? name : "(null)");
    return false;
}

/* the value of a loss op, computed without recording; its temporaries freed */
static double loss_value(nb_tensor *(*loss)(nb_tensor *, nb_tensor *), const nb_tensor *pred,
                         const nb_tensor *target) {
    if (nb_scope_begin() != NB_OK) return NAN;
    nb_no_grad_begin();
    nb_tensor *v = loss((nb_tensor *)pred, (nb_tensor *)target);
    double d = v ? nb_item(v) : NAN;
    nb_no_grad_end();
    nb_scope_end();
    return d;
}

double nb_metric_eval(nb_metric_kind k, const nb_tensor *pred, const nb_tensor *target,
                      bool from_logits) {
    if (!pred || !target) return (nb_fail_null("nb_metric_eval"), NAN);
    if (k == NB_METRIC_ACCURACY) /* decide by shapes: one output, one-hot rows or labels */
        k = pred->ndim < 2 || pred->shape[pred->ndim - 1] == 1 ? NB_METRIC_BINARY_ACCURACY
            : nb_target_fits(pred, target, false)              ? NB_METRIC_CATEGORICAL_ACCURACY
                                                  : NB_METRIC_SPARSE_CATEGORICAL_ACCURACY;
    switch (k) {
    case NB_METRIC_BINARY_ACCURACY: /* sigmoid(x) > 0.5 exactly when x > 0 */
        return binary_accuracy("nb_binary_accuracy", pred, target, from_logits ? 0.0f : 0.5f);
    case NB_METRIC_CATEGORICAL_ACCURACY:
        return nb_categorical_accuracy(pred, target);
    case NB_METRIC_SPARSE_CATEGORICAL_ACCURACY:
        return nb_sparse_categorical_accuracy(pred, target);
    case NB_METRIC_MSE:
        return loss_value(nb_mse_loss, pred, target);
    case NB_METRIC_MAE:
        return loss_value(nb_mae_loss, pred, target);
    case NB_METRIC_ACCURACY:
        break;
    default: { /* the accumulating ones, on one batch */
        nb_metric_state *st = malloc(sizeof *st);
        if (!st) return (nb_fail(NB_ERR_MEMORY, "nb_metric_eval: out of memory"), NAN);
        nb_metric_reset(st);
        double v = nb_metric_update(k, st, pred, target, from_logits) == NB_OK
                       ? nb_metric_result(k, st)
                       : NAN;
        free(st);
        return v;
    }
    }
    return (nb_fail(NB_ERR_ARG, "nb_metric_eval: unknown metric kind %d", (int)k), NAN);
}

/* ---- confusion matrix ---------------------------------------------------------------------- */
/* The class of sample i: the argmax of row i when t is [N, k] scores or one-hot
 * rows, else the value t[i], which must be an integer in [0, k). */
static bool class_at(const nb_tensor *t, int64_t i, int k, const char *what, int64_t *out) {
    if (k > 1 && t->ndim == 2 && t->shape[1] == k) {
        *out = row_argmax(t, i);
        return true;
    }
    float v = nb_get_flat(t, i);
    if (!(v >= 0 && v < (float)k && v == floorf(v))) {
        nb_fail(NB_ERR_ARG, "nb_confusion_matrix: %s %g of sample %lld is not a class in [0, %d)",
                what, v, (long long)i, k);
        return false;
    }
    *out = (int64_t)v;
    return true;
}

static int64_t samples(const nb_tensor *t, int k) {
    return k > 1 && t->ndim == 2 && t->shape[1] == k ? t->shape[0] : t->numel;
}

nb_tensor *nb_confusion_matrix(const nb_tensor *labels, const nb_tensor *predicted, int k) {
    if (!labels || !predicted) return nb_fail_null("nb_confusion_matrix");
    if (k < 1) return nb_fail(NB_ERR_ARG, "nb_confusion_matrix: k = %d classes; need >= 1", k);
    int64_t n = samples(labels, k);
    if (samples(predicted, k) != n)
        return nb_fail(NB_ERR_SHAPE,
                       "nb_confusion_matrix: labels %s and predictions %s hold different numbers "
                       "of samples",
                       nb_shape_s(labels), nb_shape_s(predicted));
    nb_tensor *cm = nb_zeros((int64_t[]){k, k}, 2);
    if (!cm) return NULL;
    float *c = nb_ptr(cm);
    for (int64_t i = 0; i < n; i++) {
        int64_t t, p;
        if (!class_at(labels, i, k, "label", &t) || !class_at(predicted, i, k, "prediction", &p)) {
            nb_free(cm);
            return NULL;
        }
        c[t * k + p] += 1.0f;
    }
    return cm;
}

/* ---- the matrix as text --------------------------------------------------------------------
 *   true \ predicted  setosa  versicolor  virginica
 *   setosa                 2           0          0
 * columns as wide as their name or their largest count, two spaces apart */
#define CM_CORNER "true \\ predicted"

static const char *class_label(const char *const *names, int64_t c, char *buf, size_t size) {
    if (names && names[c]) return names[c];
    snprintf(buf, size, "%lld", (long long)c);
    return buf;
}

static nb_status check_counts(const char *fn, const nb_tensor *cm) {
    if (cm->ndim != 2 || cm->shape[0] != cm->shape[1] || cm->shape[0] < 1)
        return nb_fail_status(NB_ERR_SHAPE, "%s: the confusion matrix must be [K, K]; got %s", fn,
                              nb_shape_s(cm));
    int64_t k = cm->shape[0];
    for (int64_t i = 0; i < k * k; i++) {
        float v = nb_get_flat(cm, i);
        if (!(v >= 0 && v == floorf(v) && v < 1e15f))
            return nb_fail_status(NB_ERR_ARG, "%s: cell [%lld, %lld] = %g is not a count", fn,
                                  (long long)(i / k), (long long)(i % k), v);
    }
    return NB_OK;
}

/* column j: as wide as its label and its largest count */
static int column_width(const nb_tensor *cm, const char *const *names, int64_t j) {
    int64_t k = cm->shape[0];
    char buf[24];
    int width = (int)strlen(class_label(names, j, buf, sizeof buf));
    for (int64_t r = 0; r < k; r++) {
        int digits = snprintf(buf, sizeof buf, "%lld", (long long)nb_get_flat(cm, r * k + j));
        width = digits > width ? digits : width;
    }
    return width;
}

nb_status nb_confusion_matrix_print(FILE *f, const nb_tensor *cm, const char *const *class_names) {
    const char *fn = "nb_confusion_matrix_print";
    if (!f || !cm) return nb_fail_status(NB_ERR_NULL, "%s: file or confusion matrix is NULL", fn);
    nb_status s = check_counts(fn, cm);
    if (s != NB_OK) return s;
    int64_t k = cm->shape[0];
    int *width = malloc((size_t)k * sizeof *width);
    if (!width) return nb_fail_status(NB_ERR_MEMORY, "%s: out of memory", fn);
    char buf[24];
    int first = (int)strlen(CM_CORNER);
    for (int64_t c = 0; c < k; c++) {
        int len = (int)strlen(class_label(class_names, c, buf, sizeof buf));
        first = len > first ? len : first;
        width[c] = column_width(cm, class_names, c);
    }
    fprintf(f, "%-*s", first, CM_CORNER);
    for (int64_t j = 0; j < k; j++)
        fprintf(f, "  %*s", width[j], class_label(class_names, j, buf, sizeof buf));
    fputc('\n', f);
    for (int64_t i = 0; i < k; i++) {
        fprintf(f, "%-*s", first, class_label(class_names, i, buf, sizeof buf));
        for (int64_t j = 0; j < k; j++)
            fprintf(f, "  %*lld", width[j], (long long)nb_get_flat(cm, i * k + j));
        fputc('\n', f);
    }
    free(width);
    return ferror(f) ? nb_fail_status(NB_ERR_IO, "%s: writing the table failed", fn) : NB_OK;
}

/* ---- classification report, laid out as scikit-learn's ------------------------------------ */
typedef struct {
    double precision, recall, f1;
    int64_t support;
} class_scores;

static double ratio(double a, double b) {
    return b > 0 ? a / b : 0.0; /* scikit-learn's zero_division: 0 */
}

static class_scores scores_of(const nb_tensor *cm, int64_t k, int64_t c) {
    double tp = nb_get_flat(cm, c * k + c), actual = 0, predicted = 0;
    for (int64_t j = 0; j < k; j++) {
        actual += nb_get_flat(cm, c * k + j);
        predicted += nb_get_flat(cm, j * k + c);
    }
    class_scores s = {ratio(tp, predicted), ratio(tp, actual), 0, (int64_t)actual};
    s.f1 = ratio(2 * s.precision * s.recall, s.precision + s.recall);
    return s;
}

static void print_row(FILE *f, int width, const char *name, class_scores s) {
    fprintf(f, "%*s  %9.2f %9.2f %9.2f %9lld\n", width, name, s.precision, s.recall, s.f1,
            (long long)s.support);
}

nb_status nb_classification_report(FILE *f, const nb_tensor *confusion,
                                   const char *const *class_names) {
    const char *fn = "nb_classification_report";
    if (!f || !confusion)
        return nb_fail_status(NB_ERR_NULL, "%s: file or confusion matrix is NULL", fn);
    /* a NaN or negative cell would print a support of -9223372036854775808 */
    nb_status ok = check_counts(fn, confusion);
    if (ok != NB_OK) return ok;
    int64_t k = confusion->shape[0];
    int width = (int)strlen("weighted avg");
    for (int64_t c = 0; class_names && c < k; c++)
        if (class_names[c] && (int)strlen(class_names[c]) > width)
            width = (int)strlen(class_names[c]);

    fprintf(f, "%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall", "f1-score", "support");
    class_scores macro = {0}, weighted = {0};
    double correct = 0;
    for (int64_t c = 0; c < k; c++) {
        class_scores s = scores_of(confusion, k, c);
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)c);
        print_row(f, width, class_names && class_names[c] ? class_names[c] : num, s);
        macro.precision += s.precision / (double)k;
        macro.recall += s.recall / (double)k;
        macro.f1 += s.f1 / (double)k;
        macro.support += s.support;
        weighted.precision += s.precision * (double)s.support;
        weighted.recall += s.recall * (double)s.support;
        weighted.f1 += s.f1 * (double)s.support;
        correct += nb_get_flat(confusion, c * k + c);
    }
    int64_t total = macro.support;
    weighted.support = total;
    weighted.precision = ratio(weighted.precision, (double)total);
    weighted.recall = ratio(weighted.recall, (double)total);
    weighted.f1 = ratio(weighted.f1, (double)total);
    fprintf(f, "\n%*s  %9s %9s %9.2f %9lld\n", width, "accuracy", "", "",
            ratio(correct, (double)total), (long long)total);
    print_row(f, width, "macro avg", macro);
    print_row(f, width, "weighted avg", weighted);
    return ferror(f) ? nb_fail_status(NB_ERR_IO, "%s: writing the report failed", fn) : NB_OK;
}
