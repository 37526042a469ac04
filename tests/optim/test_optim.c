/* Optimizers: 20 steps of every optimizer against PyTorch (golden values from
 * tests/golden/optim_golden.py), the same bits when resumed from a saved state,
 * Keras's defaults by name, learning-rate schedules and legacy decay, gradient
 * clipping, checked hyper-parameters, convergence on a quadratic, no allocation
 * in the steady state, and model files and checkpoints with every optimizer. */
#include "nb_test.h"

#include <stdio.h>
#include <unistd.h>

/* Give p the gradient g: d/dp sum(p * g) = g, through a real backward pass. */
static void set_grad(nb_tensor *p, const float *g) {
    nb_zero_grad(p);
    nb_tensor *gt = nb_from_array(g, nb_shape(p), nb_ndim(p));
    nb_status s = nb_backward(nb_sum_all(nb_mul(p, gt)));
    ck_assert_msg(s == NB_OK, "backward failed: %s", nb_error());
}

static nb_tensor *param(const float *v, int64_t n) {
    return nb_set_requires_grad(nb_from_array(v, &n, 1), true);
}

/* ---- golden file reader (format: tests/golden/optim_golden.py) ---------------------- */
#define GOLDEN_FILE NB_GOLDEN_DIR "/optim_golden.txt"
#define STEPS       20
#define NPARAM      2
#define MAXN        16

typedef struct golden_data { /* shared by every case: initial params and gradients */
    int ndim[NPARAM];
    int64_t shape[NPARAM][NB_MAX_DIMS];
    int64_t numel[NPARAM];
    float init[NPARAM][MAXN];
    int64_t grad_n[STEPS + 1][NPARAM]; /* 0: no gradient at that step */
    float grad[STEPS + 1][NPARAM][MAXN];
} golden_data;

typedef struct golden_case {
    char name[64], kind[16];
    double lr, momentum, nesterov, weight_decay, initial_accumulator, eps, rho, centered, beta1,
        beta2, amsgrad, clip_norm, clip_value, momentum_decay, lr_decay;
    float after[STEPS + 1][NPARAM][MAXN]; /* params after each step */
} golden_case;

static bool read_floats(FILE *f, float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (fscanf(f, "%f", &v[i]) != 1) return false;
    return true;
}

static bool read_hparams(FILE *f, golden_case *c) {
    char tag[8], line[512], *save = NULL;
    if (fscanf(f, "%7s", tag) != 1 || strcmp(tag, "hp") != 0) return false;
    if (!fgets(line, sizeof line, f)) return false;
    for (char *k = strtok_r(line, " \n", &save); k; k = strtok_r(NULL, " \n", &save)) {
        char *v = strtok_r(NULL, " \n", &save);
        if (!v) return false;
        double x = strtod(v, NULL);
        const char *names[] = {
            "lr",      "momentum",  "nesterov",   "weight_decay",   "initial_accumulator",
            "eps",     "rho",       "centered",   "beta1",          "beta2",
            "amsgrad", "clip_norm", "clip_value", "momentum_decay", "lr_decay"};
        double *slots[] = {
            &c->lr,      &c->momentum,  &c->nesterov,   &c->weight_decay,   &c->initial_accumulator,
            &c->eps,     &c->rho,       &c->centered,   &c->beta1,          &c->beta2,
            &c->amsgrad, &c->clip_norm, &c->clip_value, &c->momentum_decay, &c->lr_decay};
        bool known = false;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(k, names[i]) == 0) *slots[i] = x, known = true;
        if (!known) return false;
    }
    return true;
}

/* Reads the shared data and case number want (if want >= 0) into c; returns
 * the number of cases in the file, -1 on a malformed file. */
static int read_golden(golden_data *d, int want, golden_case *c) {
    FILE *f = fopen(GOLDEN_FILE, "r");
    if (!f) return -1;
    memset(d, 0, sizeof *d);
    int n_cases = 0, t, i, ok = 1;
    char word[64];
    float skip[MAXN];
    while (ok && fscanf(f, "%63s", word) == 1) {
        if (word[0] == '#') {
            ok = fscanf(f, "%*[^\n]") >= 0;
        } else if (strcmp(word, "param") == 0) {
            ok = fscanf(f, "%d", &i) == 1 && i >= 0 && i < NPARAM &&
                 fscanf(f, "%d", &d->ndim[i]) == 1 && d->ndim[i] <= NB_MAX_DIMS;
            d->numel[i] = 1;
            for (int k = 0; ok && k < d->ndim[i]; k++) {
                ok = fscanf(f, "%lld", (long long *)&d->shape[i][k]) == 1;
                d->numel[i] *= d->shape[i][k];
            }
            ok = ok && d->numel[i] <= MAXN && read_floats(f, d->init[i], d->numel[i]);
        } else if (strcmp(word, "grad") == 0) {
            long long n;
            ok = fscanf(f, "%d %d %lld", &t, &i, &n) == 3 && t >= 1 && t <= STEPS && i >= 0 &&
                 i < NPARAM && n >= 0 && n <= MAXN;
            if (ok) d->grad_n[t][i] = n;
            ok = ok && read_floats(f, d->grad[t][i], n);
        } else if (strcmp(word, "case") == 0) {
            bool mine = n_cases++ == want;
            ok = mine ? fscanf(f, "%63s %15s", c->name, c->kind) == 2 && read_hparams(f, c)
                      : fscanf(f, "%*[^\n]") >= 0;
            if (mine) { /* "after" lines follow until "end" */
                while (ok && fscanf(f, "%63s", word) == 1 && strcmp(word, "end") != 0)
                    ok = strcmp(word, "after") == 0 && fscanf(f, "%d %d", &t, &i) == 2 && t >= 1 &&
                         t <= STEPS && i >= 0 && i < NPARAM &&
                         read_floats(f, c->after[t][i], d->numel[i]);
            }
        } else if (strcmp(word, "hp") == 0) { /* of a case we skip */
            ok = fscanf(f, "%*[^\n]") >= 0;
        } else if (strcmp(word, "after") == 0) {
            ok = fscanf(f, "%d %d", &t, &i) == 2 && i >= 0 && i < NPARAM &&
                 read_floats(f, skip, d->numel[i]);
        } else {
            ok = strcmp(word, "end") == 0;
        }
    }
    fclose(f);
    return ok ? n_cases : -1;
}

static nb_optimizer *golden_optimizer(const golden_case *c) {
    float lr = (float)c->lr;
    if (strcmp(c->kind, "sgd") == 0)
        return nb_sgd(lr, (float)c->momentum, c->nesterov != 0, (float)c->weight_decay);
    if (strcmp(c->kind, "adagrad") == 0)
        return nb_adagrad(lr, (float)c->initial_accumulator, (float)c->eps);
    if (strcmp(c->kind, "rmsprop") == 0)
        return nb_rmsprop(lr, (float)c->rho, (float)c->momentum, (float)c->eps, c->centered != 0);
    if (strcmp(c->kind, "adam") == 0)
        return nb_adam(lr, (float)c->beta1, (float)c->beta2, (float)c->eps, c->amsgrad != 0);
    if (strcmp(c->kind, "adamw") == 0)
        return nb_adamw(lr, (float)c->beta1, (float)c->beta2, (float)c->eps,
                        (float)c->weight_decay);
    if (strcmp(c->kind, "nadam") == 0)
        return nb_nadam(lr, (float)c->beta1, (float)c->beta2, (float)c->eps,
                        (float)c->momentum_decay);
    if (strcmp(c->kind, "adamax") == 0)
        return nb_adamax(lr, (float)c->beta1, (float)c->beta2, (float)c->eps);
    if (strcmp(c->kind, "adadelta") == 0) return nb_adadelta(lr, (float)c->rho, (float)c->eps);
    return NULL;
}

/* The case's optimizer with its clipping and decay, for the params p. */
static nb_optimizer *golden_setup(const golden_case *c, nb_tensor **p) {
    nb_optimizer *opt = golden_optimizer(c);
    ck_assert_msg(opt != NULL, "%s: %s", c->name, nb_error());
    ck_assert_int_eq(nb_optimizer_add_params(opt, p, NPARAM), NB_OK);
    ck_assert_int_eq(nb_optimizer_set_clipping(opt, (float)c->clip_norm, (float)c->clip_value),
                     NB_OK);
    ck_assert_int_eq(nb_optimizer_set_lr_decay(opt, (float)c->lr_decay), NB_OK);
    return opt;
}

static int n_golden_cases; /* counted in main() */

/* One step of the loop: every param that has a gradient at step t gets it. */
static void golden_gradients(const golden_data *d, nb_tensor **p, int t) {
    nb_tensor *loss = NULL;
    for (int i = 0; i < NPARAM; i++) {
        if (d->grad_n[t][i] == 0) continue;
        nb_tensor *g = nb_from_array(d->grad[t][i], d->shape[i], d->ndim[i]);
        nb_tensor *term = nb_sum_all(nb_mul(p[i], g));
        loss = loss ? nb_add(loss, term) : term;
    }
    ck_assert_msg(nb_backward(loss) == NB_OK, "backward: %s", nb_error());
}

START_TEST(test_each_optimizer_matches_pytorch_for_20_steps) {
    static golden_data d;
    static golden_case c;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(read_golden(&d, _i, &c), n_golden_cases);
    nb_tensor *p[NPARAM];
    for (int i = 0; i < NPARAM; i++)
        p[i] = nb_set_requires_grad(nb_from_array(d.init[i], d.shape[i], d.ndim[i]), true);
    nb_optimizer *opt = golden_setup(&c, p);

    double worst = 0.0;
    for (int t = 1; t <= STEPS; t++) {
        nb_scope_begin(); /* the optimizer's state must outlive it */
        nb_optimizer_zero_grad(opt);
        golden_gradients(&d, p, t);
        ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
        nb_scope_end();
        for (int i = 0; i < NPARAM; i++)
            for (int64_t j = 0; j < d.numel[i]; j++) {
                double got = nb_get_flat(p[i], j), want = c.after[t][i][j];
                double rel = fabs(got - want) / fabs(want); /* params stay >= 0.35 away from 0 */
                if (rel > worst) worst = rel;
                ck_assert_msg(rel <= 1e-5, "%s step %d param %d [%lld]: %.9g, PyTorch %.9g", c.name,
                              t, i, (long long)j, got, want);
            }
    }
    printf("optim golden %-28s max relative error %.2e\n", c.name, worst);
    nb_optimizer_free(opt);
}
END_TEST

/* One golden step: the gradients of step t, then the update. */
static void golden_step(const golden_data *d, nb_optimizer *opt, nb_tensor **p, int t) {
    nb_scope_begin();
    nb_optimizer_zero_grad(opt);
    golden_gradients(d, p, t);
    ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
    nb_scope_end();
}

/* Stopped after STOP steps, saved, and restored into a new optimizer with new
 * params (as a checkpoint does it), the run goes on with the same bits as one
 * that never stopped. Param 1 has no grad at step 5, so its count lags behind:
 * nadam's mu_product and the legacy decay follow each param's own count. */
#define STOP 7
START_TEST(test_each_optimizer_resumed_from_its_state_gives_the_same_bits) {
    static golden_data d;
    static golden_case c;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(read_golden(&d, _i, &c), n_golden_cases);
    nb_tensor *a[NPARAM], *b[NPARAM];
    for (int i = 0; i < NPARAM; i++) {
        a[i] = nb_set_requires_grad(nb_from_array(d.init[i], d.shape[i], d.ndim[i]), true);
        b[i] = nb_set_requires_grad(nb_from_array(d.init[i], d.shape[i], d.ndim[i]), true);
    }
    nb_optimizer *straight = golden_setup(&c, a), *first = golden_setup(&c, b);
    for (int t = 1; t <= STOP; t++) golden_step(&d, first, b, t);
    nb_optimizer_state saved;
    const char *names[NPARAM] = {"w", "b"};
    ck_assert_int_eq(nb_optimizer_get_state(first, names, &saved), NB_OK);
    nb_tensor *again[NPARAM]; /* a new run: the weights come back from the file too */
    for (int i = 0; i < NPARAM; i++) {
        float v[MAXN];
        ck_assert_int_eq(nb_copy_to(b[i], v, d.numel[i]), NB_OK);
        again[i] = nb_set_requires_grad(nb_from_array(v, d.shape[i], d.ndim[i]), true);
    }
    nb_optimizer *resumed = golden_setup(&c, again);
    ck_assert_msg(nb_optimizer_set_state(resumed, names, &saved, NULL) == NB_OK, "%s", nb_error());
    nb_optimizer_state_free(&saved);
    nb_optimizer_free(first);
    for (int t = 1; t <= STEPS; t++) {
        golden_step(&d, straight, a, t);
        if (t > STOP) golden_step(&d, resumed, again, t);
    }
    for (int i = 0; i < NPARAM; i++) {
        float x[MAXN], y[MAXN];
        ck_assert_int_eq(nb_copy_to(a[i], x, d.numel[i]), NB_OK);
        ck_assert_int_eq(nb_copy_to(again[i], y, d.numel[i]), NB_OK);
        for (int64_t j = 0; j < d.numel[i]; j++)
            ck_assert_msg(x[j] == y[j], "%s param %d [%lld]: %.9g straight, %.9g resumed", c.name,
                          i, (long long)j, x[j], y[j]);
    }
    nb_optimizer_free(straight);
    nb_optimizer_free(resumed);
}
END_TEST

START_TEST(test_golden_file_has_every_configuration) {
    ck_assert_int_eq(n_golden_cases, 24);
}
END_TEST

/* ---- by name: Keras's defaults ---------------------------------------------------- */
/* p starts at 1 and gets the grads 1, 0.5, 2; the values are PyTorch's with
 * the same hyper-parameters (lr 0.01 for sgd, 0.001 and eps 1e-7 otherwise). */
static const struct {
    const char *name, *family;
    float lr, after[3];
    double tol;
} by_name[] = {
    {"sgd", "sgd", 0.01f, {0.99000001f, 0.985000014f, 0.965000033f}, 1e-6},
    {"momentum", "sgd", 0.01f, {0.99000001f, 0.976000011f, 0.943400025f}, 1e-6},
    {"nesterov", "sgd", 0.01f, {0.981000006f, 0.963400006f, 0.914059997f}, 1e-6},
    {"adagrad", "adagrad", 0.001f, {0.999046564f, 0.998616219f, 0.997751534f}, 1e-6},
    {"rmsprop", "rmsprop", 0.001f, {0.996837735f, 0.995363295f, 0.992544711f}, 1e-6},
    {"adam", "adam", 0.001f, {0.999000013f, 0.998067856f, 0.997158766f}, 1e-6},
    {"adamw", "adamw", 0.001f, {0.998996019f, 0.998059869f, 0.997146785f}, 1e-6},
    /* PyTorch's NAdam(foreach=True); 1.13's default path gives 0.998950481 first */
    {"nadam", "nadam", 0.001f, {0.998943567f, 0.998419642f, 0.997389615f}, 1e-6},
    {"adamax", "adamax", 0.001f, {0.999000013f, 0.998262405f, 0.997660935f}, 1e-6},
    /* steps of about 1.4e-6 at lr 0.001 (rho 0.95, eps 1e-7): a tolerance under one */
    {"adadelta", "adadelta", 0.001f, {0.999998569f, 0.999997675f, 0.999995768f}, 1e-7},
};

START_TEST(test_optimizer_by_name_has_keras_defaults) {
    nb_optimizer *opt = nb_optimizer_from_name(by_name[_i].name);
    ck_assert_msg(opt != NULL, "%s: %s", by_name[_i].name, nb_error());
    ck_assert_str_eq(nb_optimizer_name(opt), by_name[_i].family);
    ck_assert_float_eq(nb_optimizer_get_lr(opt), by_name[_i].lr);
    nb_tensor *p = param((float[]){1.0f}, 1);
    ck_assert_int_eq(nb_optimizer_add_params(opt, &p, 1), NB_OK);
    const float grads[3] = {1.0f, 0.5f, 2.0f};
    for (int t = 0; t < 3; t++) {
        set_grad(p, &grads[t]);
        ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
        NB_ASSERT_CLOSE(nb_get_flat(p, 0), by_name[_i].after[t], by_name[_i].tol);
    }
    nb_optimizer_free(opt);
}
END_TEST

START_TEST(test_optimizer_names_ignore_case) {
    nb_optimizer *opt = nb_optimizer_from_name("Adam");
    ck_assert_ptr_nonnull(opt);
    ck_assert_str_eq(nb_optimizer_name(opt), "adam");
    nb_optimizer_free(opt);
}
END_TEST

START_TEST(test_unknown_optimizer_name_lists_the_known_ones) {
    ck_assert_ptr_null(nb_optimizer_from_name("lbfgs"));
    ck_assert_int_eq(nb_error_code(), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_optimizer_from_name: unknown optimizer 'lbfgs'");
    NB_ASSERT_ERROR_HAS(
        "sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw, nadam, adamax, adadelta");
    ck_assert_ptr_null(nb_optimizer_from_name(NULL));
    ck_assert_int_eq(nb_error_code(), NB_ERR_NULL);
}
END_TEST

/* ---- checked hyper-parameters ------------------------------------------------------ */
START_TEST(test_bad_hyper_parameters_are_errors_naming_function_and_value) {
    ck_assert_ptr_null(nb_sgd(NAN, 0.0f, false, 0.0f));
    NB_ASSERT_ERROR_HAS("nb_sgd: lr is nan");
    ck_assert_int_eq(nb_error_code(), NB_ERR_ARG);
    ck_assert_ptr_null(nb_sgd(-0.1f, 0.0f, false, 0.0f));
    NB_ASSERT_ERROR_HAS("nb_sgd: lr is -0.1");
    ck_assert_ptr_null(nb_sgd(0.1f, -0.9f, false, 0.0f));
    NB_ASSERT_ERROR_HAS("nb_sgd: momentum is -0.9");
    ck_assert_ptr_null(nb_sgd(0.1f, 0.0f, true, 0.0f));
    NB_ASSERT_ERROR_HAS("nb_sgd: nesterov needs a momentum > 0");
    ck_assert_ptr_null(nb_sgd(0.1f, 0.9f, false, -1.0f));
    NB_ASSERT_ERROR_HAS("nb_sgd: weight_decay is -1");
    ck_assert_ptr_null(nb_sgd(INFINITY, 0.0f, false, 0.0f));
    NB_ASSERT_ERROR_HAS("nb_sgd: lr is inf");

    ck_assert_ptr_null(nb_adagrad(0.1f, -0.1f, 1e-7f));
    NB_ASSERT_ERROR_HAS("nb_adagrad: initial_accumulator is -0.1");
    ck_assert_ptr_null(nb_adagrad(0.1f, 0.1f, -1e-7f));
    NB_ASSERT_ERROR_HAS("nb_adagrad: eps is -1e-07");

    ck_assert_ptr_null(nb_rmsprop(0.01f, 1.5f, 0.0f, 1e-7f, false));
    NB_ASSERT_ERROR_HAS("nb_rmsprop: rho is 1.5, expected a number in [0, 1)");
    ck_assert_ptr_null(nb_rmsprop(0.01f, 0.9f, NAN, 1e-7f, false));
    NB_ASSERT_ERROR_HAS("nb_rmsprop: momentum is nan");

    ck_assert_ptr_null(nb_adam(0.001f, 1.0f, 0.999f, 1e-7f, false));
    NB_ASSERT_ERROR_HAS("nb_adam: beta1 is 1, expected a number in [0, 1)");
    ck_assert_ptr_null(nb_adam(0.001f, 0.9f, -0.5f, 1e-7f, false));
    NB_ASSERT_ERROR_HAS("nb_adam: beta2 is -0.5");
    ck_assert_ptr_null(nb_adam(0.001f, 0.9f, NAN, 1e-7f, false));
    NB_ASSERT_ERROR_HAS("nb_adam: beta2 is nan");
    ck_assert_ptr_null(nb_adam(0.001f, 0.9f, 0.999f, -1.0f, false));
    NB_ASSERT_ERROR_HAS("nb_adam: eps is -1");
    ck_assert_ptr_null(nb_adamw(0.001f, 0.9f, 0.999f, 1e-7f, -0.004f));
    NB_ASSERT_ERROR_HAS("nb_adamw: weight_decay is -0.004");

    ck_assert_ptr_null(nb_nadam(0.001f, 1.5f, 0.999f, 1e-7f, 0.004f));
    NB_ASSERT_ERROR_HAS("nb_nadam: beta1 is 1.5, expected a number in [0, 1)");
    ck_assert_ptr_null(nb_nadam(0.001f, 0.9f, 0.999f, 1e-7f, -0.004f));
    NB_ASSERT_ERROR_HAS("nb_nadam: momentum_decay is -0.004");
    ck_assert_ptr_null(nb_nadam(0.001f, 0.9f, 0.999f, NAN, 0.004f));
    NB_ASSERT_ERROR_HAS("nb_nadam: eps is nan");
    ck_assert_ptr_null(nb_adamax(-0.001f, 0.9f, 0.999f, 1e-7f));
    NB_ASSERT_ERROR_HAS("nb_adamax: lr is -0.001");
    ck_assert_ptr_null(nb_adamax(0.001f, 0.9f, 1.0f, 1e-7f));
    NB_ASSERT_ERROR_HAS("nb_adamax: beta2 is 1, expected a number in [0, 1)");
    ck_assert_ptr_null(nb_adadelta(1.0f, 1.0f, 1e-6f));
    NB_ASSERT_ERROR_HAS("nb_adadelta: rho is 1, expected a number in [0, 1)");
    ck_assert_ptr_null(nb_adadelta(1.0f, 0.9f, -1e-6f));
    NB_ASSERT_ERROR_HAS("nb_adadelta: eps is -1e-06");
    ck_assert_ptr_null(nb_adadelta(INFINITY, 0.9f, 1e-6f));
    NB_ASSERT_ERROR_HAS("nb_adadelta: lr is inf");

    nb_optimizer *opt = nb_adam(0.001f, 0.9f, 0.999f, 1e-7f, false);
    ck_assert_int_eq(nb_optimizer_set_lr_decay(opt, -0.1f), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_optimizer_set_lr_decay: decay is -0.1");
    ck_assert_int_eq(nb_optimizer_set_lr_decay(opt, NAN), NB_ERR_ARG);
    ck_assert_float_eq(nb_optimizer_get_lr_decay(opt), 0.0f); /* unchanged by the failures */
    nb_clear_error();
    ck_assert_int_eq(nb_optimizer_set_lr_decay(NULL, 0.1f), NB_ERR_NULL);
    nb_optimizer_free(opt);
}
END_TEST

START_TEST(test_a_failed_constructor_error_survives_later_calls) {
    nb_optimizer *opt = nb_adam(0.001f, 2.0f, 0.999f, 1e-7f, false);
    nb_tensor *p = param((float[]){1.0f}, 1);
    ck_assert_int_eq(nb_optimizer_add_params(opt, &p, 1), NB_ERR_ARG);
    ck_assert_int_eq(nb_optimizer_step(opt), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_adam: beta1 is 2");
    nb_optimizer_free(opt); /* NULL: nothing to do */
}
END_TEST

START_TEST(test_params_must_be_leaves_that_require_grad) {
    nb_optimizer *opt = nb_sgd(0.1f, 0.0f, false, 0.0f);
    nb_tensor *x = param((float[]){1.0f, 2.0f}, 2);
    nb_tensor *y = nb_mul_scalar(x, 2.0f);
    ck_assert_int_eq(nb_optimizer_add_params(opt, &y, 1), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_optimizer_add_params: param 0 [2] is the result of op");
    NB_ASSERT_ERROR_HAS("leaves that require grad");

    nb_tensor *plain = nb_zeros(NB_SHAPE(3));
    nb_tensor *both[2] = {x, plain};
    ck_assert_int_eq(nb_optimizer_add_params(opt, both, 2), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("param 1 [3] does not require grad");

    nb_tensor *twice[2] = {x, x};
    ck_assert_int_eq(nb_optimizer_add_params(opt, twice, 2), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("param 1 [2] is already in the optimizer");

    nb_tensor *none[1] = {NULL};
    ck_assert_int_eq(nb_optimizer_add_params(opt, none, 1), NB_ERR_NULL);

    /* failed calls added nothing: x still joins once */
    ck_assert_int_eq(nb_optimizer_add_params(opt, &x, 1), NB_OK);
    ck_assert_int_eq(nb_optimizer_add_params(opt, &x, 1), NB_ERR_ARG);
    nb_optimizer_free(opt);
}
END_TEST

START_TEST(test_params_without_grad_are_left_alone) {
    nb_optimizer *opt = nb_adam(0.1f, 0.9f, 0.999f, 1e-7f, false);
    nb_tensor *a = param((float[]){1.0f}, 1), *b = param((float[]){2.0f}, 1);
    nb_tensor *both[2] = {a, b};
    ck_assert_int_eq(nb_optimizer_add_params(opt, both, 2), NB_OK);
    set_grad(a, (float[]){1.0f});
    ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
    ck_assert_float_eq(nb_get_flat(b, 0), 2.0f);
    NB_ASSERT_CLOSE(nb_get_flat(a, 0), 0.9f, 1e-6);
    nb_optimizer_zero_grad(opt);
    ck_assert_ptr_null(nb_grad(a));
    ck_assert_ptr_null(nb_grad(b));
    nb_optimizer_free(opt);
}
END_TEST

/* ---- learning-rate schedules ------------------------------------------------------- */
static void assert_schedule(nb_optimizer *opt, const float *want, int epochs) {
    for (int e = 0; e < epochs; e++) {
        ck_assert_int_eq(nb_optimizer_schedule_epoch(opt, e), NB_OK);
        NB_ASSERT_CLOSE(nb_optimizer_get_lr(opt), want[e], 1e-6);
    }
}

START_TEST(test_step_schedule_multiplies_by_gamma_every_step_size_epochs) {
    nb_optimizer *opt = nb_sgd(0.1f, 0.0f, false, 0.0f);
    nb_schedule s = {.kind = NB_SCHEDULE_STEP, .gamma = 0.5f, .step_size = 3};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_OK);
    const float want[] = {0.1f, 0.1f, 0.1f, 0.05f, 0.05f, 0.05f, 0.025f};
    assert_schedule(opt, want, 7);
    nb_optimizer_free(opt);
}
END_TEST

START_TEST(test_exponential_schedule_multiplies_by_gamma_every_epoch) {
    nb_optimizer *opt = nb_adam(0.1f, 0.9f, 0.999f, 1e-7f, false);
    nb_schedule s = {.kind = NB_SCHEDULE_EXPONENTIAL, .gamma = 0.9f};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_OK);
    const float want[] = {0.1f, 0.09f, 0.081f, 0.0729f, 0.06561f};
    assert_schedule(opt, want, 5);
    ck_assert_int_eq(nb_optimizer_schedule_epoch(opt, 10), NB_OK);
    NB_ASSERT_CLOSE(nb_optimizer_get_lr(opt), 0.1 * pow(0.9, 10), 1e-6);
    nb_optimizer_free(opt);
}
END_TEST

START_TEST(test_cosine_schedule_falls_from_lr_to_min_lr_in_t_max_epochs) {
    nb_optimizer *opt = nb_sgd(0.1f, 0.0f, false, 0.0f);
    nb_schedule s = {.kind = NB_SCHEDULE_COSINE, .t_max = 4, .min_lr = 0.01f};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_OK);
    /* 0.01 + 0.09 * (1 + cos(pi e / 4)) / 2 */
    const float want[] = {0.1f, 0.0868198052f, 0.055f, 0.0231801948f, 0.01f, 0.0231801948f};
    assert_schedule(opt, want, 6);
    nb_optimizer_free(opt);
}
END_TEST

START_TEST(test_the_scheduled_rate_is_the_one_step_uses) {
    nb_optimizer *opt = nb_sgd(1.0f, 0.0f, false, 0.0f);
    nb_tensor *p = param((float[]){0.0f}, 1);
    ck_assert_int_eq(nb_optimizer_add_params(opt, &p, 1), NB_OK);
    nb_schedule s = {.kind = NB_SCHEDULE_STEP, .gamma = 0.1f, .step_size = 1};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_OK);
    ck_assert_int_eq(nb_optimizer_schedule_epoch(opt, 2), NB_OK); /* lr 0.01 */
    set_grad(p, (float[]){1.0f});
    ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
    NB_ASSERT_CLOSE(nb_get_flat(p, 0), -0.01f, 1e-7);
    /* set_lr sets the base the schedule starts from */
    ck_assert_int_eq(nb_optimizer_set_lr(opt, 2.0f), NB_OK);
    ck_assert_int_eq(nb_optimizer_schedule_epoch(opt, 1), NB_OK);
    NB_ASSERT_CLOSE(nb_optimizer_get_lr(opt), 0.2f, 1e-7);
    nb_optimizer_free(opt);
}
END_TEST

START_TEST(test_bad_schedules_and_rates_are_errors) {
    nb_optimizer *opt = nb_sgd(0.1f, 0.0f, false, 0.0f);
    nb_schedule s = {.kind = NB_SCHEDULE_STEP, .gamma = 0.5f, .step_size = 0};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_optimizer_set_schedule: step_size is 0, expected >= 1");
    s = (nb_schedule){.kind = NB_SCHEDULE_EXPONENTIAL, .gamma = -0.5f};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_optimizer_set_schedule: gamma is -0.5");
    s = (nb_schedule){.kind = NB_SCHEDULE_COSINE, .t_max = 0};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("t_max is 0");
    s = (nb_schedule){.kind = NB_SCHEDULE_COSINE, .t_max = 5, .min_lr = NAN};
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, &s), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("min_lr is nan");
    ck_assert_int_eq(nb_optimizer_set_schedule(opt, NULL), NB_ERR_NULL);
    ck_assert_int_eq(nb_optimizer_schedule_epoch(opt, -1), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_optimizer_schedule_epoch: epoch is -1");
    ck_assert_int_eq(nb_optimizer_set_lr(opt, -1.0f), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_optimizer_set_lr: lr is -1");
    ck_assert_float_eq(nb_optimizer_get_lr(opt), 0.1f); /* unchanged by the failures */
    nb_optimizer_free(opt);
}
END_TEST

/* ---- gradient clipping ----------------------------------------------------------------- */
START_TEST(test_clipping_by_norm_scales_all_grads_to_the_global_norm) {
    nb_optimizer *opt = nb_sgd(1.0f, 0.0f, false, 0.0f);
    nb_tensor *a = param((float[]){0.0f, 0.0f}, 2), *b = param((float[]){0.0f}, 1);
    nb_tensor *both[2] = {a, b};
    ck_assert_int_eq(nb_optimizer_add_params(opt, both, 2), NB_OK);
    ck_assert_int_eq(nb_optimizer_set_clipping(opt, 1.0f, 0.0f), NB_OK);
    set_grad(a, (float[]){3.0f, 0.0f});
    set_grad(b, (float[]){4.0f}); /* global norm 5 -> scale 1 / 5 */
    ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(a), ((float[]){0.6f, 0.0f}), 2, 1e-6);
    NB_ASSERT_TENSOR(nb_grad(b), ((float[]){0.8f}), 1, 1e-6);
    NB_ASSERT_TENSOR(a, ((float[]){-0.6f, 0.0f}), 2, 1e-6);
    NB_ASSERT_TENSOR(b, ((float[]){-0.8f}), 1, 1e-6);

    set_grad(a, (float[]){0.3f, 0.0f}); /* norm 0.5 < 1: unchanged */
    set_grad(b, (float[]){0.4f});
    ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(a), ((float[]){0.3f, 0.0f}), 2, 1e-7);
    NB_ASSERT_TENSOR(nb_grad(b), ((float[]){0.4f}), 1, 1e-7);
    nb_optimizer_free(opt);
}
END_TEST

START_TEST(test_clipping_by_value_clamps_each_grad_element) {
    nb_optimizer *opt = nb_sgd(1.0f, 0.0f, false, 0.0f);
    nb_tensor *p = param((float[]){0.0f, 0.0f, 0.0f, 0.0f}, 4);
    ck_assert_int_eq(nb_optimizer_add_params(opt, &p, 1), NB_OK);
    ck_assert_int_eq(nb_optimizer_set_clipping(opt, 0.0f, 1.0f), NB_OK);
    set_grad(p, (float[]){-3.0f, 0.2f, 5.0f, -1.0f});
    ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(p), ((float[]){-1.0f, 0.2f, 1.0f, -1.0f}), 4, 1e-7);
    NB_ASSERT_TENSOR(p, ((float[]){1.0f, -0.2f, -1.0f, 1.0f}), 4, 1e-7);
    nb_optimizer_free(opt);
}
END_TEST

START_TEST(test_bad_clipping_limits_are_errors) {
    nb_optimizer *opt = nb_sgd(1.0f, 0.0f, false, 0.0f);
    ck_assert_int_eq(nb_optimizer_set_clipping(opt, -1.0f, 0.0f), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_optimizer_set_clipping: max_norm is -1");
    ck_assert_int_eq(nb_optimizer_set_clipping(opt, 0.0f, NAN), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("nb_optimizer_set_clipping: max_value is nan");
    nb_clear_error(); /* a NULL optimizer keeps a pending error, else records its own */
    ck_assert_int_eq(nb_optimizer_set_clipping(NULL, 1.0f, 0.0f), NB_ERR_NULL);
    NB_ASSERT_ERROR_HAS("nb_optimizer_set_clipping: the optimizer is NULL");
    nb_optimizer_free(opt);
}
END_TEST

/* ---- convergence and memory --------------------------------------------------------- */
static nb_optimizer *make_optimizer(int i) {
    switch (i) {
    case 0:
        return nb_sgd(0.1f, 0.0f, false, 0.0f);
    case 1:
        return nb_sgd(0.05f, 0.9f, false, 0.0f);
    case 2:
        return nb_sgd(0.05f, 0.9f, true, 0.0f);
    case 3:
        return nb_sgd(0.1f, 0.5f, false, 1e-4f);
    case 4:
        return nb_adagrad(1.0f, 0.1f, 1e-7f);
    case 5:
        return nb_rmsprop(0.05f, 0.9f, 0.0f, 1e-7f, false);
    case 6:
        return nb_rmsprop(0.02f, 0.9f, 0.5f, 1e-7f, true);
    case 7:
        return nb_adam(0.1f, 0.9f, 0.999f, 1e-7f, false);
    case 8:
        return nb_adam(0.1f, 0.9f, 0.999f, 1e-7f, true);
    case 9:
        return nb_adamw(0.1f, 0.9f, 0.999f, 1e-7f, 1e-4f);
    case 10:
        return nb_nadam(0.1f, 0.9f, 0.999f, 1e-7f, 0.004f);
    case 11:
        return nb_adamax(0.2f, 0.9f, 0.999f, 1e-7f);
    case 12:
        return nb_adadelta(1.0f, 0.9f, 1e-2f);
    case 13: { /* the legacy decay: the rate falls to 0.1 / 4 over the 300 steps */
        nb_optimizer *opt = nb_adam(0.1f, 0.9f, 0.999f, 1e-7f, false);
        if (opt) nb_optimizer_set_lr_decay(opt, 0.01f);
        return opt;
    }
    }
    return NULL;
}
#define N_OPTIMIZERS 14

/* loss = sum((p - 3)^2), which is 0 at p = 3 */
static float quadratic_step(nb_optimizer *opt, nb_tensor *p) {
    nb_scope_begin();
    nb_optimizer_zero_grad(opt);
    nb_tensor *loss = nb_sum_all(nb_square(nb_sub_scalar(p, 3.0f)));
    float value = nb_item(loss);
    ck_assert_msg(nb_backward(loss) == NB_OK, "backward: %s", nb_error());
    ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
    nb_scope_end();
    return value;
}

START_TEST(test_each_optimizer_minimizes_a_quadratic) {
    nb_optimizer *opt = make_optimizer(_i);
    ck_assert_ptr_nonnull(opt);
    nb_tensor *p = param((float[]){0.0f, -1.0f, 5.0f, 2.0f}, 4); /* loss 30 */
    ck_assert_int_eq(nb_optimizer_add_params(opt, &p, 1), NB_OK);
    float loss = 0.0f;
    for (int t = 0; t < 300; t++) loss = quadratic_step(opt, p);
    ck_assert_msg(loss < 1e-3f, "optimizer %d (%s): loss %g after 300 steps", _i,
                  nb_optimizer_name(opt), loss);
    nb_optimizer_free(opt);
}
END_TEST

START_TEST(test_steps_allocate_nothing_after_the_first) {
    nb_optimizer *opt = make_optimizer(_i);
    nb_tensor *p = param((float[]){0.0f, -1.0f, 5.0f, 2.0f}, 4);
    ck_assert_int_eq(nb_optimizer_add_params(opt, &p, 1), NB_OK);
    ck_assert_int_eq(nb_optimizer_set_clipping(opt, 1.0f, 0.5f), NB_OK);
    quadratic_step(opt, p); /* allocates the state */
    for (int t = 0; t < 5; t++) {
        nb_scope_begin();
        nb_optimizer_zero_grad(opt);
        nb_backward(nb_sum_all(nb_square(nb_sub_scalar(p, 3.0f))));
        uint64_t before = nb_alloc_count();
        ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
        ck_assert_int_eq(nb_alloc_count(), before);
        nb_scope_end();
    }
    nb_optimizer_free(opt);
}
END_TEST

/* The pairs of a state make the same optimizer again: the same pairs come out. */
START_TEST(test_an_optimizer_made_from_its_saved_pairs_has_the_same_settings) {
    nb_optimizer *opts[] = {nb_sgd(0.05f, 0.9f, true, 1e-4f),
                            nb_adagrad(0.02f, 0.2f, 1e-6f),
                            nb_rmsprop(0.005f, 0.8f, 0.5f, 1e-6f, true),
                            nb_adam(0.003f, 0.8f, 0.99f, 1e-6f, true),
                            nb_adamw(0.01f, 0.85f, 0.995f, 1e-7f, 0.02f),
                            nb_nadam(0.002f, 0.85f, 0.99f, 1e-6f, 0.01f),
                            nb_adamax(0.004f, 0.8f, 0.995f, 1e-6f),
                            nb_adadelta(0.5f, 0.85f, 1e-5f)};
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(nb_optimizer_set_lr_decay(opts[i], 0.001f * (float)i), NB_OK);
        ck_assert_int_eq(
            nb_optimizer_set_schedule(
                opts[i], &(nb_schedule){.kind = NB_SCHEDULE_COSINE, .t_max = 7, .min_lr = 1e-4f}),
            NB_OK);
        ck_assert_int_eq(nb_optimizer_set_clipping(opts[i], 1.5f, 0.25f), NB_OK);
        ck_assert_int_eq(nb_optimizer_schedule_epoch(opts[i], 3), NB_OK); /* lr != base_lr */
        nb_optimizer_state a, b;
        ck_assert_int_eq(nb_optimizer_get_state(opts[i], NULL, &a), NB_OK);
        nb_optimizer *again = nb_optimizer_from_state(&a, "saved");
        ck_assert_msg(again, "%s", nb_error());
        ck_assert_int_eq(nb_optimizer_get_state(again, NULL, &b), NB_OK);
        ck_assert_int_eq(a.n_pairs, b.n_pairs);
        for (int k = 0; k < a.n_pairs; k++) {
            ck_assert_str_eq(a.keys[k], b.keys[k]);
            ck_assert_str_eq(a.values[k], b.values[k]);
        }
        ck_assert_str_eq(nb_optimizer_name(again), nb_optimizer_name(opts[i]));
        ck_assert(nb_optimizer_get_lr(again) == nb_optimizer_get_lr(opts[i]));
        for (int k = 0; k < a.n_pairs; k++) /* checked like set_lr_decay's and nb_nadam's */
            if (!strcmp(a.keys[k], "lr_decay") || !strcmp(a.keys[k], "momentum_decay")) {
                const char *was = a.values[k];
                a.values[k] = "-0.5";
                ck_assert_ptr_null(nb_optimizer_from_state(&a, "saved"));
                NB_ASSERT_ERROR_HAS(strcmp(a.keys[k], "lr_decay")
                                        ? "saved: nb_nadam: momentum_decay is -0.5"
                                        : "saved: nb_optimizer_set_lr_decay: decay is -0.5");
                a.values[k] = was;
            }
        a.values[2] = "-1"; /* the first setting: each kind's is checked like a constructor's */
        ck_assert_ptr_null(nb_optimizer_from_state(&a, "saved"));
        ck_assert_msg(strstr(nb_error(), "saved: ") == nb_error(), "%s", nb_error());
        nb_optimizer_state_free(&a);
        nb_optimizer_state_free(&b);
        nb_optimizer_free(again);
        nb_optimizer_free(opts[i]);
    }
}
END_TEST

/* A state saved before lr_decay existed has no such pair: it reads as 0, the value those
 * optimizers had; a saved decay that differs from the optimizer's is an error. */
START_TEST(test_the_legacy_decay_is_checked_on_restore_and_absent_means_none) {
    nb_optimizer *opt = nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false);
    nb_tensor *p = param((float[]){1.0f, 2.0f}, 2);
    ck_assert_int_eq(nb_optimizer_add_params(opt, &p, 1), NB_OK);
    set_grad(p, (float[]){1.0f, -1.0f});
    ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
    nb_optimizer_state s;
    ck_assert_int_eq(nb_optimizer_get_state(opt, NULL, &s), NB_OK);
    int at = -1;
    for (int k = 0; k < s.n_pairs; k++)
        if (!strcmp(s.keys[k], "lr_decay")) at = k;
    ck_assert_int_ge(at, 0);
    ck_assert_str_eq(s.values[at], "0");
    nb_optimizer_state old = s; /* the same pairs without lr_decay */
    const char *keys[64], *values[64];
    ck_assert_int_lt(s.n_pairs, 64);
    old.n_pairs = 0;
    for (int k = 0; k < s.n_pairs; k++)
        if (k != at) keys[old.n_pairs] = s.keys[k], values[old.n_pairs++] = s.values[k];
    old.keys = keys;
    old.values = values;
    ck_assert_msg(nb_optimizer_set_state(opt, NULL, &old, NULL) == NB_OK, "%s", nb_error());
    nb_optimizer *again = nb_optimizer_from_state(&old, NULL);
    ck_assert_msg(again, "%s", nb_error());
    ck_assert_float_eq(nb_optimizer_get_lr_decay(again), 0.0f);
    nb_optimizer_free(again);

    ck_assert_int_eq(nb_optimizer_set_lr_decay(opt, 0.25f), NB_OK);
    ck_assert_int_eq(nb_optimizer_set_state(opt, NULL, &s, "ckpt"), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("ckpt: the adam optimizer's lr_decay was 0 when saved but is 0.25 here");
    ck_assert_int_eq(nb_optimizer_set_state(opt, NULL, &old, "ckpt"), NB_ERR_ARG);
    NB_ASSERT_ERROR_HAS("lr_decay was 0 when saved but is 0.25 here");
    nb_optimizer_state_free(&s);
    nb_optimizer_free(opt);
}
END_TEST

/* The decay counts each param's own updates: b has a grad every other step only. */
START_TEST(test_the_legacy_decay_divides_the_rate_by_1_plus_decay_times_updates) {
    nb_optimizer *opt = nb_sgd(1.0f, 0.0f, false, 0.0f);
    ck_assert_int_eq(nb_optimizer_set_lr_decay(opt, 0.5f), NB_OK);
    ck_assert_float_eq(nb_optimizer_get_lr_decay(opt), 0.5f);
    nb_tensor *a = param((float[]){0.0f}, 1), *b = param((float[]){0.0f}, 1);
    ck_assert_int_eq(nb_optimizer_add_params(opt, (nb_tensor *[]){a, b}, 2), NB_OK);
    double want_a = 0.0, want_b = 0.0;
    for (int t = 0; t < 6; t++) {
        nb_optimizer_zero_grad(opt);
        set_grad(a, (float[]){1.0f});
        if (t % 2 == 0) set_grad(b, (float[]){1.0f});
        ck_assert_int_eq(nb_optimizer_step(opt), NB_OK);
        want_a -= 1.0 / (1.0 + 0.5 * t);
        if (t % 2 == 0) want_b -= 1.0 / (1.0 + 0.5 * (t / 2));
        NB_ASSERT_CLOSE(nb_get_flat(a, 0), want_a, 1e-6);
        NB_ASSERT_CLOSE(nb_get_flat(b, 0), want_b, 1e-6);
    }
    ck_assert_float_eq(nb_optimizer_get_lr(opt), 1.0f); /* the rate itself is left alone */
    nb_optimizer_free(opt);
}
END_TEST

/* ---- model files and checkpoints with the optimizers added last -------------------- */
static nb_optimizer *new_kind(int i) {
    nb_optimizer *opt = NULL;
    switch (i) {
    case 0:
        opt = nb_nadam(0.01f, 0.9f, 0.999f, 1e-7f, 0.004f);
        break;
    case 1:
        opt = nb_adamax(0.01f, 0.9f, 0.999f, 1e-7f);
        break;
    case 2:
        opt = nb_adadelta(1.0f, 0.9f, 1e-6f);
        break;
    default: /* the course's Adam(lr=0.001, ..., decay=...) */
        opt = nb_adam(0.01f, 0.9f, 0.999f, 1e-7f, false);
        if (opt) nb_optimizer_set_lr_decay(opt, 0.01f);
    }
    ck_assert_msg(opt, "%s", nb_error());
    return opt;
}
#define N_NEW_KINDS 4

static nb_model *small_model(nb_optimizer *opt) {
    nb_model *m = nb_sequential(NB_SHAPE(4));
    nb_model_add(m, nb_dense(5, "relu"));
    nb_model_add(m, nb_dense(3, "softmax"));
    ck_assert_msg(nb_model_compile(m, "sparse_categorical_crossentropy", opt, NULL, 0) == NB_OK,
                  "%s", nb_error());
    return m;
}

/* 12 samples of 4 features, 3 classes */
static void small_data(nb_tensor **x, nb_tensor **y) {
    float xv[48], yv[12];
    for (int i = 0; i < 12; i++) {
        for (int j = 0; j < 4; j++) xv[i * 4 + j] = sinf(0.9f * (float)i + 1.7f * (float)j);
        yv[i] = (float)(i % 3);
    }
    *x = nb_from_array(xv, NB_SHAPE(12, 4));
    *y = nb_from_array(yv, NB_SHAPE(12));
}

static void model_weights(nb_model *m, float *w, int64_t cap) {
    nb_tensor **p;
    int n = nb_model_parameters(m, &p);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        ck_assert(at + nb_numel(p[i]) <= cap);
        ck_assert_int_eq(nb_copy_to(p[i], w + at, nb_numel(p[i])), NB_OK);
        at += nb_numel(p[i]);
    }
}

static void fit_small(nb_model *m, int initial_epoch, int epochs) {
    nb_tensor *x, *y;
    small_data(&x, &y);
    nb_history *h = nb_model_fit(m, x, y,
                                 &(nb_fit_opts){.epochs = epochs,
                                                .initial_epoch = initial_epoch,
                                                .batch_size = 5,
                                                .verbose = NB_SILENT,
                                                .no_shuffle = true});
    ck_assert_msg(h, "%s", nb_error());
    nb_history_free(h);
}

/* Trained 2 epochs, checkpointed, restored into a new model, trained 2 more: the same
 * weights, bit for bit, as 4 epochs straight. A model file keeps the optimizer's
 * settings: the loaded model's optimizer has the same pairs. */
START_TEST(test_checkpoints_and_model_files_keep_each_new_optimizer) {
    char path[] = "/tmp/nabla_optim_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    float straight[64] = {0}, resumed[64] = {0};
    nb_set_num_threads(1); /* bit for bit: one order of the sums */
    nb_manual_seed(3);
    nb_model *m = small_model(new_kind(_i));
    fit_small(m, 0, 4);
    model_weights(m, straight, 64);
    nb_model_free(m);

    nb_manual_seed(3);
    m = small_model(new_kind(_i));
    fit_small(m, 0, 2);
    ck_assert_msg(nb_model_save_checkpoint(m, path, 2) == NB_OK, "%s", nb_error());
    nb_model_free(m);
    nb_manual_seed(99); /* other initial weights: the checkpoint brings the trained ones */
    m = small_model(new_kind(_i));
    int epoch = -1;
    ck_assert_msg(nb_model_load_checkpoint(m, path, &epoch) == NB_OK, "%s", nb_error());
    ck_assert_int_eq(epoch, 2);
    fit_small(m, 2, 4);
    model_weights(m, resumed, 64);
    ck_assert_msg(!memcmp(straight, resumed, sizeof straight), "%s: the weights differ",
                  nb_optimizer_name(nb_model_optimizer(m)));

    ck_assert_msg(nb_model_save(m, path) == NB_OK, "%s", nb_error());
    nb_model *loaded = nb_load_model(path);
    ck_assert_msg(loaded, "%s", nb_error());
    nb_optimizer_state a, b;
    ck_assert_int_eq(nb_optimizer_get_state(nb_model_optimizer(m), NULL, &a), NB_OK);
    ck_assert_int_eq(nb_optimizer_get_state(nb_model_optimizer(loaded), NULL, &b), NB_OK);
    ck_assert_int_eq(a.n_pairs, b.n_pairs);
    for (int k = 0; k < a.n_pairs; k++) {
        ck_assert_str_eq(a.keys[k], b.keys[k]);
        if (strstr(a.keys[k], "/step")) continue; /* a model file has no update counts */
        ck_assert_msg(!strcmp(a.values[k], b.values[k]), "%s: %s saved, %s loaded", a.keys[k],
                      a.values[k], b.values[k]);
    }
    nb_optimizer_state_free(&a);
    nb_optimizer_state_free(&b);
    nb_model_free(loaded);
    nb_model_free(m);
    remove(path);
}
END_TEST

int main(void) {
    static golden_data d;
    n_golden_cases = read_golden(&d, -1, NULL);
    if (n_golden_cases < 0) {
        fprintf(stderr, "cannot read %s\n", GOLDEN_FILE);
        n_golden_cases = 0;
    }
    Suite *s = suite_create("optim");
    TCase *tc = nb_tcase("golden");
    tcase_add_loop_test(tc, test_each_optimizer_matches_pytorch_for_20_steps, 0, n_golden_cases);
    tcase_add_loop_test(tc, test_each_optimizer_resumed_from_its_state_gives_the_same_bits, 0,
                        n_golden_cases);
    tcase_add_test(tc, test_golden_file_has_every_configuration);
    suite_add_tcase(s, tc);

    tc = nb_tcase("names");
    tcase_add_loop_test(tc, test_optimizer_by_name_has_keras_defaults, 0,
                        (int)(sizeof by_name / sizeof by_name[0]));
    tcase_add_test(tc, test_optimizer_names_ignore_case);
    tcase_add_test(tc, test_unknown_optimizer_name_lists_the_known_ones);
    suite_add_tcase(s, tc);

    tc = nb_tcase("errors");
    tcase_add_test(tc, test_bad_hyper_parameters_are_errors_naming_function_and_value);
    tcase_add_test(tc, test_a_failed_constructor_error_survives_later_calls);
    tcase_add_test(tc, test_params_must_be_leaves_that_require_grad);
    tcase_add_test(tc, test_params_without_grad_are_left_alone);
    suite_add_tcase(s, tc);

    tc = nb_tcase("schedules");
    tcase_add_test(tc, test_step_schedule_multiplies_by_gamma_every_step_size_epochs);
    tcase_add_test(tc, test_exponential_schedule_multiplies_by_gamma_every_epoch);
    tcase_add_test(tc, test_cosine_schedule_falls_from_lr_to_min_lr_in_t_max_epochs);
    tcase_add_test(tc, test_the_scheduled_rate_is_the_one_step_uses);
    tcase_add_test(tc, test_bad_schedules_and_rates_are_errors);
    tcase_add_test(tc, test_the_legacy_decay_divides_the_rate_by_1_plus_decay_times_updates);
    tcase_add_test(tc, test_the_legacy_decay_is_checked_on_restore_and_absent_means_none);
    suite_add_tcase(s, tc);

    tc = nb_tcase("clipping");
    tcase_add_test(tc, test_clipping_by_norm_scales_all_grads_to_the_global_norm);
    tcase_add_test(tc, test_clipping_by_value_clamps_each_grad_element);
    tcase_add_test(tc, test_bad_clipping_limits_are_errors);
    tcase_add_test(tc, test_an_optimizer_made_from_its_saved_pairs_has_the_same_settings);
    suite_add_tcase(s, tc);

    tc = nb_tcase("training");
    tcase_add_loop_test(tc, test_each_optimizer_minimizes_a_quadratic, 0, N_OPTIMIZERS);
    tcase_add_loop_test(tc, test_steps_allocate_nothing_after_the_first, 0, N_OPTIMIZERS);
    tcase_add_loop_test(tc, test_checkpoints_and_model_files_keep_each_new_optimizer, 0,
                        N_NEW_KINDS);
    suite_add_tcase(s, tc);
    return nb_test_run(s);
}
