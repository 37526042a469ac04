/* Gradient check: analytic gradients from backward against central
 * differences, (f(x + eps) - f(x - eps)) / 2 eps, element by element. */
#include "ops/op.h"
#include "nabla/autograd.h"

#include <math.h>
#include <stdio.h>

/* "nb_gradcheck: fn returned NULL at ...: <fn's own error, if it recorded one>".
 * fn is the user's code: it recorded an error of its own when the failure
 * count moved since `before`, taken just before it ran (an older error is not
 * its). */
static nb_status fn_failed_in(const char *check, const char *where, unsigned long before) {
    bool own = nb_failure_count() != before;
    nb_status code = own ? nb_error_code() : NB_ERR_ARG;
    char why[512];
    snprintf(why, sizeof why, "%s", own ? nb_error() : "it recorded no error");
    return nb_fail_status(code, "%s: fn returned NULL at %s: %s", check, where, why);
}

static nb_status fn_failed(const char *where, unsigned long before) {
    return fn_failed_in("nb_gradcheck", where, before);
}

/* sum(fn(x)) in double, without recording */
static bool eval_sum(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx, double *out) {
    nb_scope_begin();
    bool was = nb_set_grad_enabled(false);
    nb_tensor *y = fn(x, n, ctx);
    nb_set_grad_enabled(was);
    double s = 0;
    if (y)
        for (int64_t i = 0; i < y->numel; i++) s += nb_get_flat(y, i);
    nb_scope_end();
    *out = s;
    return y != NULL;
}

static nb_status analytic(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx) {
    for (int i = 0; i < n; i++) nb_zero_grad(x[i]);
    nb_scope_begin();
    unsigned long before = nb_failure_count();
    nb_tensor *y = fn(x, n, ctx);
    nb_tensor *s = y ? nb_sum_all(y) : NULL;
    nb_status st = !y  ? fn_failed("the given inputs", before)
                   : s ? nb_backward(s)
                       : nb_failure_code();
    nb_scope_end();
    return st;
}

static nb_status check_input(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx, int k,
                             double eps, nb_gradcheck_result *r) {
    nb_tensor *xk = x[k];
    for (int64_t i = 0; i < xk->numel; i++) {
        float *p = nb_ptr(xk) + i; /* contiguity checked by the caller */
        float orig = *p;
        double plus, minus;
        *p = (float)(orig + eps);
        unsigned long before = nb_failure_count();
        bool ok = eval_sum(fn, x, n, ctx, &plus);
        *p = (float)(orig - eps);
        ok = ok && eval_sum(fn, x, n, ctx, &minus);
        double h = (double)(float)(orig + eps) - (double)(float)(orig - eps);
        *p = orig;
        if (!ok) {
            char where[96];
            snprintf(where, sizeof where, "input %d element %lld moved by eps", k, (long long)i);
            return fn_failed(where, before);
        }
        double numeric = (plus - minus) / h;
        double a = xk->grad ? nb_get_flat(xk->grad, i) : 0.0;
        double err = fabs(a - numeric) / (1.0 + fabs(numeric));
        if (r->worst_input < 0 || !(err <= r->max_error)) { /* NaN counts as worst */
            r->max_error = isnan(err) ? INFINITY : err;
            r->worst_input = k;
            r->worst_index = i;
            r->analytic = a;
            r->numeric = numeric;
        }
    }
    return NB_OK;
}

/* the worst element against tol: the result for the caller and the error naming it */
static nb_status verdict(const char *check, nb_gradcheck_result r, double tol,
                         nb_gradcheck_result *result) {
    r.ok = r.worst_input < 0 || r.max_error <= tol;
    if (result) *result = r;
    if (!r.ok)
        return nb_fail_status(NB_ERR_ARG,
                              "%s: input %d element %lld: analytic %.6g vs numeric %.6g "
                              "(error %.3g > tol %.3g)",
                              check, r.worst_input, (long long)r.worst_index, r.analytic, r.numeric,
                              r.max_error, tol);
    return NB_OK;
}

nb_status nb_gradcheck(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx, double eps, double tol,
                       nb_gradcheck_result *result) {
    nb_gradcheck_result r = {.ok = false, .worst_input = -1, .max_error = 0};
    if (!fn || !x || n < 1)
        return nb_fail_status(NB_ERR_NULL, "nb_gradcheck: no function or inputs");
    if (!(eps > 0) || !(tol > 0))
        return nb_fail_status(NB_ERR_ARG, "nb_gradcheck: eps %g and tol %g must be positive", eps,
                              tol);
    for (int i = 0; i < n; i++) {
        if (!x[i]) return (nb_fail_null("nb_gradcheck"), nb_failure_code());
        if (x[i]->node || !nb_is_contiguous(x[i]))
            return nb_fail_status(NB_ERR_ARG, "nb_gradcheck: input %d must be a contiguous leaf",
                                  i);
    }
    nb_status s = analytic(fn, x, n, ctx);
    for (int k = 0; k < n && s == NB_OK; k++)
        if (x[k]->requires_grad) s = check_input(fn, x, n, ctx, k, eps, &r);
    for (int i = 0; i < n; i++) nb_zero_grad(x[i]);
    if (s != NB_OK) return s;
    return verdict("nb_gradcheck", r, tol, result);
}

/* ---- second order ------------------------------------------------------------------ */
static nb_status check_scalar_of(const char *fn, nb_tensor *y, nb_tensor *x) {
    if (!y || !x) return (nb_fail_null(fn), nb_failure_code());
    if (y->numel != 1)
        return nb_fail_status(NB_ERR_SHAPE, "%s: y has shape %s; it must have one element", fn,
                              nb_shape_s(y));
    return NB_OK;
}

nb_status nb_hvp(nb_tensor *y, nb_tensor *x, nb_tensor *v, nb_tensor **hv) {
    if (hv) *hv = NULL;
    nb_status s = check_scalar_of("nb_hvp", y, x);
    if (s != NB_OK) return s;
    if (!v || !hv) return (nb_fail_null("nb_hvp"), nb_failure_code());
    if (!nb_same_shape(v, x))
        return nb_fail_status(NB_ERR_SHAPE, "nb_hvp: v has shape %s, x has %s", nb_shape_s(v),
                              nb_shape_s(x));
    nb_tensor *g;
    s = nb_grad_of(&y, 1, &x, 1, NULL, &(nb_grad_opts){.create_graph = true}, &g);
    if (s != NB_OK) return s;
    nb_tensor *gv = nb_sum_all(nb_mul(g, v)); /* <grad y, v>, recorded */
    if (!gv) return nb_failure_code();
    if (!gv->requires_grad) { /* the gradient does not depend on x: H = 0 */
        *hv = nb_zeros(x->shape, x->ndim);
        return *hv ? NB_OK : nb_failure_code();
    }
    s = nb_grad_of(&gv, 1, &x, 1, NULL, &(nb_grad_opts){.retain_graph = true, .allow_unused = true},
                   hv);
    if (s == NB_OK && !*hv && !(*hv = nb_zeros(x->shape, x->ndim))) s = nb_failure_code();
    return s;
}

/* row i of the Hessian: the gradient of grad[i] = <grad, e_i> */
static nb_status hessian_row(nb_tensor *g, nb_tensor *x, int64_t i, float *row) {
    nb_scope_begin();
    nb_tensor *e = nb_zeros(x->shape, x->ndim);
    nb_tensor *gi = e ? (nb_ptr(e)[i] = 1.0f, nb_sum_all(nb_mul(g, e))) : NULL;
    nb_tensor *r = NULL;
    nb_status s = !gi ? nb_failure_code()
                  : !gi->requires_grad
                      ? NB_OK
                      : nb_grad_of(&gi, 1, &x, 1, NULL,
                                   &(nb_grad_opts){.retain_graph = true, .allow_unused = true}, &r);
    for (int64_t j = 0; j < x->numel && s == NB_OK; j++) row[j] = r ? nb_get_flat(r, j) : 0.0f;
    nb_scope_end();
    return s;
}

nb_status nb_hessian(nb_tensor *y, nb_tensor *x, nb_tensor **h) {
    if (h) *h = NULL;
    nb_status s = check_scalar_of("nb_hessian", y, x);
    if (s != NB_OK) return s;
    if (!h) return (nb_fail_null("nb_hessian"), nb_failure_code());
    if (x->numel > NB_HESSIAN_MAX)
        return nb_fail_status(
            NB_ERR_ARG,
            "nb_hessian: x %s has %lld elements; the full Hessian is for at most %d "
            "(use nb_hvp)",
            nb_shape_s(x), (long long)x->numel, NB_HESSIAN_MAX);
    nb_tensor *g;
    s = nb_grad_of(&y, 1, &x, 1, NULL, &(nb_grad_opts){.create_graph = true}, &g);
    if (s != NB_OK) return s;
    nb_tensor *out = nb_zeros((int64_t[]){x->numel, x->numel}, 2);
    if (!out) return nb_failure_code();
    for (int64_t i = 0; i < x->numel && s == NB_OK; i++)
        s = hessian_row(g, x, i, nb_ptr(out) + i * x->numel);
    if (s == NB_OK) *h = out;
    return s;
}

/* r_k[i]: fixed weights in [-1, 1], different per input and element */
static float weight(int k, int64_t i) {
    uint32_t z = (uint32_t)(k * 7919 + 1) * 2654435761u ^ (uint32_t)i * 40503u;
    z ^= z >> 15;
    z *= 2246822519u;
    z ^= z >> 13;
    return (float)(z % 2001u) / 1000.0f - 1.0f;
}

/* the inputs that take part: those that require grad */
static int grad_inputs(nb_tensor *const *x, int n, nb_tensor **in, int *which) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (x[i]->requires_grad) {
            in[m] = x[i];
            which[m++] = i;
        }
    return m;
}

/* u = sum_k <r_k, g_k>, the g_k first gradients of sum(fn(x)) (recorded when
 * create_graph); *u_t is the recorded u, or NULL when only its value is asked */
static nb_status first_gradients(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx,
                                 bool create_graph, double *u, nb_tensor **u_t) {
    nb_tensor *in[NB_MAX_INPUTS * 4], *g[NB_MAX_INPUTS * 4];
    int which[NB_MAX_INPUTS * 4];
    int m = grad_inputs(x, n, in, which);
    unsigned long before = nb_failure_count();
    nb_tensor *y = fn(x, n, ctx);
    if (!y)
        return fn_failed_in("nb_gradgradcheck",
                            create_graph ? "the given inputs" : "an input moved by eps", before);
    nb_tensor *s = nb_sum_all(y);
    if (!s) return nb_failure_code();
    nb_status st = nb_grad_of(
        &s, 1, in, m, NULL, &(nb_grad_opts){.create_graph = create_graph, .allow_unused = true}, g);
    if (st != NB_OK) return st;
    *u = 0;
    nb_tensor *acc = NULL;
    for (int k = 0; k < m; k++) {
        if (!g[k]) continue;
        nb_tensor *r = nb_zeros(in[k]->shape, in[k]->ndim);
        if (!r) return nb_failure_code();
        for (int64_t i = 0; i < r->numel; i++) {
            nb_ptr(r)[i] = weight(which[k], i);
            *u += (double)nb_ptr(r)[i] * nb_get_flat(g[k], i);
        }
        if (!u_t) continue;
        nb_tensor *term = nb_sum_all(nb_mul(g[k], r));
        acc = !term ? NULL : acc ? nb_add(acc, term) : term;
        if (!acc) return nb_failure_code();
    }
    if (u_t) *u_t = acc;
    return NB_OK;
}

static nb_status second_analytic(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx,
                                 nb_tensor **h) {
    nb_tensor *in[NB_MAX_INPUTS * 4];
    int which[NB_MAX_INPUTS * 4];
    int m = grad_inputs(x, n, in, which);
    double u;
    nb_tensor *u_t = NULL;
    nb_status s = first_gradients(fn, x, n, ctx, true, &u, &u_t);
    if (s != NB_OK) return s;
    for (int k = 0; k < m; k++) h[k] = NULL;
    if (u_t && u_t->requires_grad)
        s = nb_grad_of(&u_t, 1, in, m, NULL, &(nb_grad_opts){.allow_unused = true}, h);
    return s;
}

static nb_status second_numeric(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx, int k,
                                nb_tensor *h, double eps, nb_gradcheck_result *r) {
    nb_tensor *xk = x[k];
    for (int64_t i = 0; i < xk->numel; i++) {
        float *p = nb_ptr(xk) + i;
        float orig = *p;
        double plus, minus;
        *p = (float)(orig + eps);
        nb_scope_begin();
        nb_status s = first_gradients(fn, x, n, ctx, false, &plus, NULL);
        nb_scope_end();
        *p = (float)(orig - eps);
        nb_scope_begin();
        if (s == NB_OK) s = first_gradients(fn, x, n, ctx, false, &minus, NULL);
        nb_scope_end();
        double step = (double)(float)(orig + eps) - (double)(float)(orig - eps);
        *p = orig;
        if (s != NB_OK) return s;
        double numeric = (plus - minus) / step;
        double a = h ? nb_get_flat(h, i) : 0.0;
        double err = fabs(a - numeric) / (1.0 + fabs(numeric));
        if (r->worst_input < 0 || !(err <= r->max_error)) {
            r->max_error = isnan(err) ? INFINITY : err;
            r->worst_input = k;
            r->worst_index = i;
            r->analytic = a;
            r->numeric = numeric;
        }
    }
    return NB_OK;
}

nb_status nb_gradgradcheck(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx, double eps,
                           double tol, nb_gradcheck_result *result) {
    nb_gradcheck_result r = {.ok = false, .worst_input = -1, .max_error = 0};
    if (!fn || !x || n < 1 || n > NB_MAX_INPUTS * 4)
        return nb_fail_status(NB_ERR_NULL, "nb_gradgradcheck: no function or inputs (1 to %d)",
                              NB_MAX_INPUTS * 4);
    if (!(eps > 0) || !(tol > 0))
        return nb_fail_status(NB_ERR_ARG, "nb_gradgradcheck: eps %g and tol %g must be positive",
                              eps, tol);
    for (int i = 0; i < n; i++) {
        if (!x[i]) return (nb_fail_null("nb_gradgradcheck"), nb_failure_code());
        if (x[i]->node || !nb_is_contiguous(x[i]))
            return nb_fail_status(NB_ERR_ARG,
                                  "nb_gradgradcheck: input %d must be a contiguous leaf", i);
    }
    nb_tensor *h[NB_MAX_INPUTS * 4];
    nb_scope_begin();
    nb_status s = second_analytic(fn, x, n, ctx, h);
    for (int i = 0, m = 0; i < n && s == NB_OK; i++)
        if (x[i]->requires_grad) s = second_numeric(fn, x, n, ctx, i, h[m++], eps, &r);
    nb_scope_end();
    if (s != NB_OK) return s;
    return verdict("nb_gradgradcheck", r, tol, result);
}
