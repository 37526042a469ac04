/* Fused losses on logits: the softmax or sigmoid and the cross-entropy in one
 * kernel pass, stable for any finite logits (+-1e4 included).
 *
 *   softmax_cross_entropy: logits x [N, K], target t [N, K] (one-hot or
 *   probabilities) -> 0-d
 *       loss = 1/N sum_n sum_k t_nk (lse_n - x_nk),
 *       lse_n = m_n + log sum_k exp(x_nk - m_n),  m_n = max_k x_nk
 *       dx   = (softmax(x) * sum_k t_nk - t) / N   ((softmax - onehot) / N for one-hot rows)
 *   sparse_softmax_cross_entropy: logits x [N, K], labels [N] or [N, 1]
 *   (class indices as floats) -> 0-d
 *       loss = 1/N sum_n (lse_n - x_n,label_n);   dx = (softmax(x) - onehot) / N
 *   sigmoid_cross_entropy: logits x, targets z, the same shape, M elements -> 0-d
 *       loss = 1/M sum max(x, 0) - x z + log(1 + exp(-|x|));   dx = (sigmoid(x) - z) / M
 *
 * Subtracting the row maximum makes the largest exponential exp(0) = 1, so no
 * term overflows and the log never sees 0; the sigmoid form never
 * exponentiates a positive number. The softmax forms keep the probabilities
 * for backward; each backward is one more plain pass, the op
 * <name>_backward (no oneDNN primitive computes these).
 *
 * Targets follow one rule, Keras's, here and in every loss and metric of nn/:
 * they have the predictions' shape, or that shape with a trailing axis of 1
 * added or dropped ([N] targets for [N, 1] outputs); class labels have the
 * shape of the predictions without their class axis, with the same freedom
 * ([N] or [N, 1] for [N, K]).
 */
#include "op.h"

#include <math.h>

/* ---- the target rule (declared in nabla/nn.h beside the losses) ------------------------ */
/* t's shape is want[0..n), or that with a trailing 1 added or dropped */
static bool shape_fits(const int64_t *want, int n, const nb_tensor *t) {
    int common = t->ndim < n ? t->ndim : n;
    if (t->ndim != n && t->ndim != n + 1 && t->ndim + 1 != n) return false;
    for (int i = 0; i < common; i++)
        if (t->shape[i] != want[i]) return false;
    if (t->ndim == n + 1) return t->shape[n] == 1;
    if (t->ndim + 1 == n) return want[n - 1] == 1;
    return true;
}

bool nb_target_fits(const nb_tensor *pred, const nb_tensor *target, bool labels) {
    if (!pred || !target) return false;
    if (labels) return pred->ndim >= 1 && shape_fits(pred->shape, pred->ndim - 1, target);
    return shape_fits(pred->shape, pred->ndim, target);
}

nb_tensor *nb_target_view(nb_tensor *pred, nb_tensor *target, bool labels) {
    if (!pred || !target) return nb_fail_null("nb_target_view");
    if (!nb_target_fits(pred, target, labels))
        return nb_fail(NB_ERR_SHAPE, "nb_target_view: %s %s do not fit predictions %s",
                       labels ? "labels" : "targets", nb_shape_s(target), nb_shape_s(pred));
    int ndim = labels ? pred->ndim - 1 : pred->ndim;
    if (target->ndim == ndim) return target;
    return nb_reshape(target, pred->shape, ndim);
}

typedef struct {
    bool sparse; /* labels are class indices, not rows of t */
} ce_attrs;

/* ---- softmax cross-entropy ------------------------------------------------------------ */
static const char *ce_fn(const nb_node *n) {
    return NB_ATTRS(n, ce_attrs)->sparse ? "nb_sparse_softmax_crossentropy_logits"
                                         : "nb_softmax_crossentropy_logits";
}

/* logits: [N, K]; target: [N, K], or labels [N] / [N, 1] -> 0-d */
static nb_status ce_shape(const nb_node *n, nb_layout *l) {
    const nb_tensor *x = n->in[0], *t = n->in[1];
    bool sparse = NB_ATTRS(n, ce_attrs)->sparse;
    if (x->ndim != 2 || x->shape[0] < 1 || x->shape[1] < 1)
        return nb_fail_status(NB_ERR_SHAPE, "%s: logits must be [N, K] with N, K >= 1; got %s",
                              ce_fn(n), nb_shape_s(x));
    if (sparse && !nb_target_fits(x, t, true))
        return nb_fail_status(
            NB_ERR_SHAPE, "%s: labels must be [%lld] (or [%lld, 1]) for logits %s; got %s",
            ce_fn(n), (long long)x->shape[0], (long long)x->shape[0], nb_shape_s(x), nb_shape_s(t));
    if (!sparse && !nb_same_shape(x, t)) /* fitting targets were viewed with x's shape */
        return nb_fail_status(NB_ERR_SHAPE, "%s: logits %s and one-hot targets %s differ in shape",
                              ce_fn(n), nb_shape_s(x), nb_shape_s(t));
    nb_layout_contiguous(l, NULL, 0);
    return NB_OK;
}

/* the class index in labels[i], or -1 if it is not an integer in [0, k) */
static int64_t class_of(float v, int64_t k) {
    return v >= 0 && v < (float)k && v == floorf(v) ? (int64_t)v : -1;
}

/* one row: p = softmax(x) (if p), returns lse = log sum exp(x) */
static double row_lse(const float *x, int64_t k, float *p) {
    float m = x[0];
    for (int64_t j = 1; j < k; j++) m = x[j] > m ? x[j] : m;
    double sum = 0;
    for (int64_t j = 0; j < k; j++) sum += exp((double)x[j] - m);
    double lse = m + log(sum);
    if (p)
        for (int64_t j = 0; j < k; j++) p[j] = (float)exp((double)x[j] - lse);
    return lse;
}

static nb_status ce_forward(nb_node *n) {
    const nb_tensor *xt = n->in[0];
    int64_t rows = xt->shape[0], k = xt->shape[1];
    bool sparse = NB_ATTRS(n, ce_attrs)->sparse;
    const float *x = nb_ptr(xt), *t = nb_ptr(n->in[1]);
    float *p = NULL;
    if (n->needs_grad[0]) { /* the probabilities, for backward */
        if (!nb_saved(n, 0, xt->shape, 2)) return nb_failure_code();
        p = nb_ptr(n->saved[0]);
    }
    double loss = 0;
    for (int64_t i = 0; i < rows; i++) {
        const float *xi = x + i * k;
        double lse = row_lse(xi, k, p ? p + i * k : NULL);
        if (sparse) {
            int64_t c = class_of(t[i], k);
            if (c < 0)
                return nb_fail_status(NB_ERR_ARG,
                                      "%s: label %g in row %lld is not a class index in [0, %lld)",
                                      ce_fn(n), t[i], (long long)i, (long long)k);
            loss += lse - xi[c];
        } else {
            for (int64_t j = 0; j < k; j++)
                if (t[i * k + j] != 0) loss += t[i * k + j] * (lse - xi[j]);
        }
    }
    nb_ptr(n->out)[0] = (float)(loss / (double)rows);
    return NB_OK;
}

/* in: [gy (0-d), p [N, K], target] -> dx = gy * (p * sum_k t - t) / N */
static nb_status ce_backward_shape(const nb_node *n, nb_layout *l) {
    nb_layout_contiguous(l, n->in[1]->shape, n->in[1]->ndim);
    return NB_OK;
}

static nb_status ce_backward_forward(nb_node *n) {
    const nb_tensor *pt = n->in[1];
    int64_t rows = pt->shape[0], k = pt->shape[1];
    float scale = nb_ptr(n->in[0])[0] / (float)rows;
    const float *p = nb_ptr(pt), *t = nb_ptr(n->in[2]);
    float *dx = nb_ptr(n->out);
    for (int64_t i = 0; i < rows; i++) {
        const float *pi = p + i * k;
        float *di = dx + i * k;
        if (NB_ATTRS(n, ce_attrs)->sparse) {
            for (int64_t j = 0; j < k; j++) di[j] = scale * pi[j];
            di[(int64_t)t[i]] -= scale; /* labels were checked by the forward pass */
        } else {
            const float *ti = t + i * k;
            float mass = 0;
            for (int64_t j = 0; j < k; j++) mass += ti[j];
            for (int64_t j = 0; j < k; j++) di[j] = scale * (pi[j] * mass - ti[j]);
        }
    }
    return NB_OK;
}

static const nb_op_def ce_backward_def = {
    .name = "softmax_cross_entropy_backward",
    .flags = NB_OP_CONTIGUOUS,
    .shape = ce_backward_shape,
    .forward = ce_backward_forward,
};

/* When the backward pass is itself recorded (create_graph), the saved
 * probabilities are no use: they carry no history back to x. dx is then
 * written with differentiable ops, gy * (softmax(x) * sum_k t - t) / N, with
 * t the one-hot of the labels for the sparse form. */
static nb_tensor *ce_dx_with_ops(nb_node *n, nb_tensor *gy) {
    nb_tensor *x = n->in[0], *t = n->in[1];
    int64_t rows = x->shape[0], k = x->shape[1];
    nb_tensor *p = nb_softmax(x, 1), *dx;
    if (NB_ATTRS(n, ce_attrs)->sparse)
        dx = nb_sub(p, nb_one_hot(nb_reshape(t, (int64_t[]){rows}, 1), k));
    else
        dx = nb_sub(nb_mul(p, nb_sum(t, (int[]){1}, 1, true)), t);
    return nb_mul(nb_mul_scalar(dx, 1.0f / (float)rows), gy);
}

/* dx from the saved probabilities; a soft target's gradient is -log_softmax(x) / N */
static nb_status ce_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    const ce_attrs *a = NB_ATTRS(n, ce_attrs);
    nb_tensor *x = n->in[0], *t = n->in[1];
    if (n->needs_grad[0] && nb_grad_mode()) {
        if (!(gx[0] = ce_dx_with_ops(n, gy))) return nb_failure_code();
    } else if (n->needs_grad[0] &&
               !(gx[0] = nb_apply(&ce_backward_def, (nb_tensor *[]){gy, n->saved[0], t}, 3, a,
                                  sizeof *a)))
        return nb_failure_code();
    if (n->needs_grad[1] && !a->sparse) {
        nb_tensor *g = nb_mul_scalar(nb_log_softmax(x, 1), -1.0f / (float)x->shape[0]);
        if (!(gx[1] = nb_mul(g, gy))) return nb_failure_code();
    }
    return NB_OK;
}

static const nb_op_def softmax_ce_def = {
    .name = "softmax_cross_entropy",
    .flags = NB_OP_CONTIGUOUS,
    .shape = ce_shape,
    .forward = ce_forward,
    .backward = ce_backward,
};

static const nb_op_def sparse_softmax_ce_def = {
    .name = "sparse_softmax_cross_entropy",
    .flags = NB_OP_CONTIGUOUS,
    .shape = ce_shape,
    .forward = ce_forward,
    .backward = ce_backward,
};

/* targets viewed with the shape the kernels read; a target that does not fit
 * goes in as it is, for the shape rule to name */
static nb_tensor *as_read(nb_tensor *x, nb_tensor *t, bool labels) {
    return nb_target_fits(x, t, labels) ? nb_target_view(x, t, labels) : t;
}

/* PyTorch's layouts seen as the [rows, K] the kernels read, with views and
 * reshapes (recorded ops, so gradients flow back through them):
 *   [K] (one sample)                 -> [1, K]
 *   [N, K, d1, ...] (class axis 1)   -> [N d1 ..., K], the class axis moved last
 * Its labels [N, d1, ...] (or [] for [K]) become [N d1 ...]; soft targets are
 * moved like the logits. The row mean is then PyTorch's mean over N d1 .... */
static nb_tensor *class_rows(nb_tensor *x) {
    if (x->ndim == 1) return nb_reshape(x, (int64_t[]){1, x->shape[0]}, 2);
    int perm[NB_MAX_DIMS], nd = x->ndim;
    perm[0] = 0;
    for (int i = 1; i + 1 < nd; i++) perm[i] = i + 1;
    perm[nd - 1] = 1;
    return nb_reshape(nb_contiguous(nb_permute(x, perm, nd)), (int64_t[]){-1, x->shape[1]}, 2);
}

static bool pytorch_layout(const nb_tensor *logits) {
    return logits->ndim == 1 || logits->ndim > 2;
}

/* labels for logits [K] or [N, K, d1, ...]: the logits' shape without the
 * class axis ([] for [K]), or that with a trailing 1; NULL (error set) otherwise */
static nb_tensor *label_rows(const char *fn, nb_tensor *logits, nb_tensor *labels) {
    int64_t want[NB_MAX_DIMS];
    int n = 0, class_axis = logits->ndim == 1 ? 0 : 1;
    for (int i = 0; i < logits->ndim; i++)
        if (i != class_axis) want[n++] = logits->shape[i];
    bool fits = labels->ndim == n || (labels->ndim == n + 1 && labels->shape[n] == 1);
    for (int i = 0; fits && i < n; i++) fits = labels->shape[i] == want[i];
    if (!fits)
        return nb_fail(NB_ERR_SHAPE,
                       "%s: labels %s do not fit logits %s: they must have the logits' shape "
                       "without the class axis 1 ([] for [K] logits)",
                       fn, nb_shape_s(labels), nb_shape_s(logits));
    return nb_reshape(labels, (int64_t[]){-1}, 1);
}

nb_tensor *nb_softmax_crossentropy_logits(nb_tensor *logits, nb_tensor *onehot) {
    ce_attrs a = {.sparse = false};
    if (!logits || !onehot) return nb_fail_null("nb_softmax_crossentropy_logits");
    if (pytorch_layout(logits)) {
        if (!nb_same_shape(logits, onehot))
            return nb_fail(NB_ERR_SHAPE,
                           "nb_softmax_crossentropy_logits: logits %s and targets %s differ in "
                           "shape",
                           nb_shape_s(logits), nb_shape_s(onehot));
        nb_tensor *x = class_rows(logits), *t = class_rows(onehot);
        return x && t ? nb_apply(&softmax_ce_def, (nb_tensor *[]){x, t}, 2, &a, sizeof a) : NULL;
    }
    nb_tensor *t = as_read(logits, onehot, false);
    return t ? nb_apply(&softmax_ce_def, (nb_tensor *[]){logits, t}, 2, &a, sizeof a) : NULL;
}

nb_tensor *nb_sparse_softmax_crossentropy_logits(nb_tensor *logits, nb_tensor *labels) {
    static const char fn[] = "nb_sparse_softmax_crossentropy_logits";
    ce_attrs a = {.sparse = true};
    if (!logits || !labels) return nb_fail_null(fn);
    if (pytorch_layout(logits)) {
        nb_tensor *t = label_rows(fn, logits, labels);
        nb_tensor *x = t ? class_rows(logits) : NULL;
        return x ? nb_apply(&sparse_softmax_ce_def, (nb_tensor *[]){x, t}, 2, &a, sizeof a) : NULL;
    }
    return nb_apply(&sparse_softmax_ce_def, (nb_tensor *[]){logits, labels}, 2, &a, sizeof a);
}

/* ---- sigmoid cross-entropy ------------------------------------------------------------ */
static nb_status sigmoid_ce_shape(const nb_node *n, nb_layout *l) {
    const nb_tensor *x = n->in[0], *z = n->in[1];
    if (!nb_same_shape(x, z)) /* fitting targets were viewed with x's shape */
        return nb_fail_status(
            NB_ERR_SHAPE,
            "nb_sigmoid_crossentropy_logits: logits %s and targets %s differ in shape",
            nb_shape_s(x), nb_shape_s(z));
    if (x->numel < 1)
        return nb_fail_status(NB_ERR_SHAPE, "nb_sigmoid_crossentropy_logits: logits %s are empty",
                              nb_shape_s(x));
    nb_layout_contiguous(l, NULL, 0);
    return NB_OK;
}

static nb_status sigmoid_ce_forward(nb_node *n) {
    const float *x = nb_ptr(n->in[0]), *z = nb_ptr(n->in[1]);
    int64_t m = n->in[0]->numel;
    double loss = 0;
    for (int64_t i = 0; i < m; i++) {
        double xi = x[i];
        loss += (xi > 0 ? xi : 0) - xi * z[i] + log1p(exp(-fabs(xi)));
    }
    nb_ptr(n->out)[0] = (float)(loss / (double)m);
    return NB_OK;
}

/* sigmoid without overflow: exp of a non-positive number only */
static double stable_sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* in: [gy (0-d), x, z] -> dx = gy * (sigmoid(x) - z) / M */
static nb_status sigmoid_ce_backward_forward(nb_node *n) {
    const float *x = nb_ptr(n->in[1]), *z = nb_ptr(n->in[2]);
    int64_t m = n->in[1]->numel;
    double scale = nb_ptr(n->in[0])[0] / (double)m;
    float *dx = nb_ptr(n->out);
    for (int64_t i = 0; i < m; i++) dx[i] = (float)(scale * (stable_sigmoid(x[i]) - z[i]));
    return NB_OK;
}

static const nb_op_def sigmoid_ce_backward_def = {
    .name = "sigmoid_cross_entropy_backward",
    .flags = NB_OP_CONTIGUOUS,
    .shape = ce_backward_shape,
    .forward = sigmoid_ce_backward_forward,
};

/* dz = -x / M (targets rarely need it, but it is the derivative) */
static nb_status sigmoid_ce_backward(nb_node *n, nb_tensor *gy, nb_tensor **gx) {
    nb_tensor *x = n->in[0], *z = n->in[1];
    float inv_m = 1.0f / (float)x->numel;
    if (n->needs_grad[0] && nb_grad_mode()) { /* recorded: with differentiable ops */
        if (!(gx[0] = nb_mul(nb_mul_scalar(nb_sub(nb_sigmoid(x), z), inv_m), gy)))
            return nb_failure_code();
    } else if (n->needs_grad[0] &&
               !(gx[0] = nb_apply(&sigmoid_ce_backward_def, (nb_tensor *[]){gy, x, z}, 3, NULL, 0)))
        return nb_failure_code();
    if (n->needs_grad[1] && !(gx[1] = nb_mul(nb_mul_scalar(x, -1.0f / (float)x->numel), gy)))
        return nb_failure_code();
    return NB_OK;
}

static const nb_op_def sigmoid_ce_def = {
    .name = "sigmoid_cross_entropy",
    .flags = NB_OP_CONTIGUOUS,
    .shape = sigmoid_ce_shape,
    .forward = sigmoid_ce_forward,
    .backward = sigmoid_ce_backward,
};

nb_tensor *nb_sigmoid_crossentropy_logits(nb_tensor *logits, nb_tensor *target) {
    if (!logits || !target) return nb_fail_null("nb_sigmoid_crossentropy_logits");
    nb_tensor *t = as_read(logits, target, false);
    return t ? nb_apply(&sigmoid_ce_def, (nb_tensor *[]){logits, t}, 2, NULL, 0) : NULL;
}
