/* Gradient check: analytic gradients from backward against central
 * differences, (f(x + eps) - f(x - eps)) / 2 eps, element by element. */
#include "../ops/op.h"
#include "nabla/autograd.h"

#include <math.h>
#include <stdio.h>

/* fn is the user's code: the error state is cleared before it runs, so that
 * what is recorded when it returns NULL is its own. */
static nb_tensor *call_fn(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx) {
    nb_clear_error();
    return fn(x, n, ctx);
}

/* "nb_gradcheck: fn returned NULL at ...: <fn's own error, if it recorded one>" */
static nb_status fn_failed(const char *where) {
    nb_status code = nb_error_code() != NB_OK ? nb_error_code() : NB_ERR_ARG;
    char why[512];
    snprintf(why, sizeof why, "%s", nb_error_code() != NB_OK ? nb_error() : "it recorded no error");
    return nb_failc(code, "nb_gradcheck: fn returned NULL at %s: %s", where, why);
}

/* sum(fn(x)) in double, without recording */
static bool eval_sum(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx, double *out) {
    nb_scope_begin();
    bool was = nb_set_grad_enabled(false);
    nb_tensor *y = call_fn(fn, x, n, ctx);
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
    nb_tensor *y = call_fn(fn, x, n, ctx);
    nb_tensor *s = y ? nb_sum_all(y) : NULL;
    nb_status st = !y ? fn_failed("the given inputs") : s ? nb_backward(s) : nb_error_code();
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
        bool ok = eval_sum(fn, x, n, ctx, &plus);
        *p = (float)(orig - eps);
        ok = ok && eval_sum(fn, x, n, ctx, &minus);
        double h = (double)(float)(orig + eps) - (double)(float)(orig - eps);
        *p = orig;
        if (!ok) {
            char where[96];
            snprintf(where, sizeof where, "input %d element %lld moved by eps", k, (long long)i);
            return fn_failed(where);
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

nb_status nb_gradcheck(nb_grad_fn fn, nb_tensor *const *x, int n, void *ctx, double eps, double tol,
                       nb_gradcheck_result *result) {
    nb_gradcheck_result r = {.ok = false, .worst_input = -1, .max_error = 0};
    if (!fn || !x || n < 1) return nb_failc(NB_ERR_NULL, "nb_gradcheck: no function or inputs");
    if (!(eps > 0) || !(tol > 0))
        return nb_failc(NB_ERR_ARG, "nb_gradcheck: eps %g and tol %g must be positive", eps, tol);
    for (int i = 0; i < n; i++) {
        if (!x[i]) return (nb_fail_null("nb_gradcheck"), nb_error_code());
        if (x[i]->node || !nb_is_contiguous(x[i]))
            return nb_failc(NB_ERR_ARG, "nb_gradcheck: input %d must be a contiguous leaf", i);
    }
    nb_status s = analytic(fn, x, n, ctx);
    for (int k = 0; k < n && s == NB_OK; k++)
        if (x[k]->requires_grad) s = check_input(fn, x, n, ctx, k, eps, &r);
    for (int i = 0; i < n; i++) nb_zero_grad(x[i]);
    if (s != NB_OK) return s;
    r.ok = r.worst_input < 0 || r.max_error <= tol;
    if (result) *result = r;
    if (!r.ok)
        return nb_failc(NB_ERR_ARG,
                        "nb_gradcheck: input %d element %lld: analytic %.6g vs numeric %.6g "
                        "(error %.3g > tol %.3g)",
                        r.worst_input, (long long)r.worst_index, r.analytic, r.numeric, r.max_error,
                        tol);
    return NB_OK;
}
