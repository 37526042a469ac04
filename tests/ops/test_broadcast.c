/* Broadcasting and reductions on shapes whose distinct axes have equal sizes.
 *
 * On [2, 3] a reduction over the wrong axis gives a result of the wrong shape
 * and fails loudly; on [3, 3] it gives the right shape and wrong numbers. So
 * every op here runs on square and cubic shapes ([3, 3], [2, 2, 2], [3, 3, 3])
 * against every shape that broadcasts to them, and is compared with a plain
 * double loop written below (index arithmetic only, no nabla op); gradients
 * are compared with central differences.
 *
 * To cover a new op, add a row to its table: reductions (x, axes, keepdim),
 * shape-target ops (x, shape) or binary ops (a, b). */
#include "nb_test.h"

#define EPS 1e-3
#define TOL 1e-2

typedef struct {
    int nd;
    int64_t d[NB_MAX_DIMS];
} shape_t;

static const shape_t big_shapes[] = {{2, {3, 3}}, {3, {2, 2, 2}}, {3, {3, 3, 3}}};
#define N_BIG ((int)(sizeof big_shapes / sizeof big_shapes[0]))

static int64_t numel_of(const shape_t *s) {
    int64_t n = 1;
    for (int i = 0; i < s->nd; i++) n *= s->d[i];
    return n;
}

static const char *str(const shape_t *s, char *buf) {
    int k = sprintf(buf, "[");
    for (int i = 0; i < s->nd; i++)
        k += sprintf(buf + k, i ? ", %lld" : "%lld", (long long)s->d[i]);
    sprintf(buf + k, "]");
    return buf;
}

/* Every shape that broadcasts to big: each axis kept or set to 1, and then
 * leading axes of size 1 dropped or not. [3, 3] gives [3, 3], [1, 3], [3],
 * [3, 1], [1, 1], [1] and []. */
static int family(const shape_t *big, shape_t *out) {
    int n = 0;
    for (int mask = 0; mask < 1 << big->nd; mask++) {
        shape_t k = {big->nd, {0}};
        for (int i = 0; i < big->nd; i++) k.d[i] = (mask >> i) & 1 ? 1 : big->d[i];
        for (int drop = 0; drop <= big->nd && (drop == 0 || k.d[drop - 1] == 1); drop++) {
            shape_t s = {big->nd - drop, {0}};
            for (int i = 0; i < s.nd; i++) s.d[i] = k.d[i + drop];
            out[n++] = s;
        }
    }
    return n;
}

/* The numpy broadcast of a and b (they are known to broadcast) */
static shape_t broadcast_of(const shape_t *a, const shape_t *b) {
    shape_t c = {a->nd > b->nd ? a->nd : b->nd, {0}};
    for (int i = 0; i < c.nd; i++) {
        int ia = i - (c.nd - a->nd), ib = i - (c.nd - b->nd);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        c.d[i] = da == 1 ? db : da;
    }
    return c;
}

/* Row-major index into small (aligned right, size-1 axes repeated) of the
 * element at row-major index flat of big: the whole of broadcasting. */
static int64_t map_index(int64_t flat, const shape_t *big, const shape_t *small) {
    int64_t idx = 0, stride = 1;
    for (int i = big->nd - 1; i >= 0; i--) {
        int64_t c = flat % big->d[i];
        flat /= big->d[i];
        int j = i - (big->nd - small->nd);
        if (j < 0) continue;
        if (small->d[j] != 1) idx += c * stride;
        stride *= small->d[j];
    }
    return idx;
}

/* n distinct multiples of 0.1 around 0 in scrambled order (7 is prime to
 * every size used here), plus offset: maxima are clear by far more than EPS,
 * and an offset of 0.05 puts one operand between the other's values */
static nb_tensor *distinct(const shape_t *s, float offset, bool grad) {
    int64_t n = numel_of(s);
    float v[64];
    for (int64_t i = 0; i < n; i++) v[i] = (float)((i * 7) % n - n / 2) * 0.1f + offset;
    nb_tensor *t = nb_from_array(v, s->d, s->nd);
    return grad ? nb_set_requires_grad(t, true) : t;
}

static void assert_shape_is(const nb_tensor *t, const shape_t *want, const char *what) {
    char b[64];
    ck_assert_msg(t != NULL, "%s: NULL: %s", what, nb_error());
    ck_assert_msg(nb_ndim(t) == want->nd, "%s: rank %d, expected %s", what, nb_ndim(t),
                  str(want, b));
    for (int i = 0; i < want->nd; i++)
        ck_assert_msg(nb_shape(t)[i] == want->d[i], "%s: axis %d is %lld, expected %s", what, i,
                      (long long)nb_shape(t)[i], str(want, b));
}

static void assert_values(const nb_tensor *t, const double *want, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++) {
        double g = nb_get_flat(t, i);
        ck_assert_msg(fabs(g - want[i]) <= 1e-5 * (1 + fabs(want[i])),
                      "%s: element %lld is %.7g, expected %.7g", what, (long long)i, g, want[i]);
    }
}

/* w * y with distinct weights w: a gradient sent to the wrong element shows */
static nb_tensor *weighted(nb_tensor *y) {
    if (!y) return NULL;
    nb_tensor *w = nb_affine(nb_arange(0, (float)nb_numel(y), 1), 0.37f, -1.0f);
    return nb_mul(y, nb_reshape(w, nb_shape(y), nb_ndim(y)));
}

/* ---- reductions: y = f(x, axes, keepdim) -------------------------------------------------- */
typedef double (*group_ref)(const double *v, int n);

static double ref_sum(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return s;
}
static double ref_mean(const double *v, int n) {
    return ref_sum(v, n) / n;
}
static double ref_max(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}
static double ref_min(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

typedef nb_tensor *(*reduce_fn)(nb_tensor *, const int *, int, bool);
static const struct {
    const char *name;
    reduce_fn f;
    group_ref ref;
} reductions[] = {
    {"sum", nb_sum, ref_sum},
    {"mean", nb_mean, ref_mean},
    {"max", nb_max, ref_max},
    {"min", nb_min, ref_min},
};

typedef struct {
    reduce_fn f;
    int axes[NB_MAX_DIMS], n_axes;
    bool keepdim;
} reduce_ctx;

static nb_tensor *apply_reduction(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const reduce_ctx *c = ctx;
    return weighted(c->f(x[0], c->axes, c->n_axes, c->keepdim));
}

/* y[j] = ref of the x elements that map to j in the kept shape */
static void reference_reduction(const double *x, const shape_t *big, const shape_t *kept,
                                group_ref ref, double *y) {
    int64_t n = numel_of(big), m = numel_of(kept);
    for (int64_t j = 0; j < m; j++) {
        double group[64];
        int k = 0;
        for (int64_t i = 0; i < n; i++)
            if (map_index(i, big, kept) == j) group[k++] = x[i];
        y[j] = ref(group, k);
    }
}

START_TEST(test_reductions_on_equal_sized_axes_match_a_double_reference) {
    char what[160], b1[64];
    for (int s = 0; s < N_BIG; s++) {
        const shape_t *big = &big_shapes[s];
        nb_tensor *x = distinct(big, 0.3f, true);
        double xd[64], want[64];
        for (int64_t i = 0; i < numel_of(big); i++) xd[i] = nb_get_flat(x, i);
        for (int mask = 1; mask < 1 << big->nd; mask++)
            for (int keep = 0; keep < 2; keep++) {
                reduce_ctx c = {reductions[_i].f, {0}, 0, keep};
                shape_t kept = *big, out = {0, {0}};
                for (int i = 0; i < big->nd; i++) {
                    if ((mask >> i) & 1) {
                        c.axes[c.n_axes++] = i;
                        kept.d[i] = 1;
                    }
                    if (!((mask >> i) & 1) || keep) out.d[out.nd++] = kept.d[i];
                }
                snprintf(what, sizeof what, "nb_%s of %s over axis mask %d%s", reductions[_i].name,
                         str(big, b1), mask, keep ? " keepdim" : "");
                nb_tensor *y = c.f(x, c.axes, c.n_axes, c.keepdim);
                assert_shape_is(y, &out, what);
                reference_reduction(xd, big, &kept, reductions[_i].ref, want);
                assert_values(y, want, numel_of(&out), what);
                nb_gradcheck_result r;
                ck_assert_msg(nb_gradcheck(apply_reduction, &x, 1, &c, EPS, TOL, &r) == NB_OK,
                              "%s: gradient: %s", what, nb_error());
            }
    }
}
END_TEST

/* ---- shape-target ops: y = f(x, shape) ------------------------------------------------------ */
typedef nb_tensor *(*target_fn)(nb_tensor *, const int64_t *, int);
static const struct {
    const char *name;
    target_fn f;
    bool sums; /* true: big -> member of its family (sum_to); false: member -> big */
} targets[] = {
    {"sum_to", nb_sum_to, true},
    {"broadcast_to", nb_broadcast_to, false},
};

typedef struct {
    target_fn f;
    shape_t to;
} target_ctx;

static nb_tensor *apply_target(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    const target_ctx *c = ctx;
    return weighted(c->f(x[0], c->to.d, c->to.nd));
}

START_TEST(test_sum_to_and_broadcast_to_on_equal_sized_axes_match_a_double_reference) {
    char what[160], b1[64], b2[64];
    for (int s = 0; s < N_BIG; s++) {
        const shape_t *big = &big_shapes[s];
        shape_t fam[64];
        int nf = family(big, fam);
        for (int k = 0; k < nf; k++) {
            const shape_t *from = targets[_i].sums ? big : &fam[k];
            const shape_t *to = targets[_i].sums ? &fam[k] : big;
            snprintf(what, sizeof what, "nb_%s of %s to %s", targets[_i].name, str(from, b1),
                     str(to, b2));
            nb_tensor *x = distinct(from, 0.3f, true);
            double want[64] = {0};
            for (int64_t i = 0; i < numel_of(big); i++) {
                int64_t j = map_index(i, big, &fam[k]);
                if (targets[_i].sums)
                    want[j] += nb_get_flat(x, i);
                else
                    want[i] = nb_get_flat(x, j);
            }
            target_ctx c = {targets[_i].f, *to};
            nb_tensor *y = c.f(x, to->d, to->nd);
            assert_shape_is(y, to, what);
            assert_values(y, want, numel_of(to), what);
            nb_gradcheck_result r;
            ck_assert_msg(nb_gradcheck(apply_target, &x, 1, &c, EPS, TOL, &r) == NB_OK,
                          "%s: gradient: %s", what, nb_error());
        }
    }
}
END_TEST

/* ---- binary ops: c = f(a, b) with broadcasting --------------------------------------------- */
typedef double (*pair_ref)(double a, double b);
static double ref_add(double a, double b) {
    return a + b;
}
static double ref_sub(double a, double b) {
    return a - b;
}
static double ref_mul(double a, double b) {
    return a * b;
}
static double ref_div(double a, double b) {
    return a / b;
}
static double ref_maximum(double a, double b) {
    return a > b ? a : b;
}
static double ref_minimum(double a, double b) {
    return a < b ? a : b;
}
static double ref_gt(double a, double b) {
    return a > b;
}
static double ref_ge(double a, double b) {
    return a >= b;
}
static double ref_eq(double a, double b) {
    return a == b;
}

typedef enum {
    SMOOTH,   /* any values, step EPS */
    DIVISOR,  /* b >= 0.5 */
    KINKED,   /* piecewise linear: a tiny step steps over no kink, and no ties */
    COMPARES, /* values with ties, no gradient */
} binary_kind;

typedef nb_tensor *(*binary_fn)(nb_tensor *, nb_tensor *);
static const struct {
    const char *name;
    binary_fn f;
    pair_ref ref;
    binary_kind kind;
} binaries[] = {
    {"add", nb_add, ref_add, SMOOTH},
    {"sub", nb_sub, ref_sub, SMOOTH},
    {"mul", nb_mul, ref_mul, SMOOTH},
    {"div", nb_div, ref_div, DIVISOR},
    {"maximum", nb_maximum, ref_maximum, KINKED},
    {"minimum", nb_minimum, ref_minimum, KINKED},
    {"gt", nb_gt, ref_gt, COMPARES},
    {"ge", nb_ge, ref_ge, COMPARES},
    {"eq", nb_eq, ref_eq, COMPARES},
};

static nb_tensor *apply_binary(nb_tensor *const *x, int n, void *ctx) {
    (void)n;
    return weighted((*(const binary_fn *)ctx)(x[0], x[1]));
}

/* values 0, 1, 2, 0, ...: comparisons see ties in every broadcast pattern */
static nb_tensor *with_ties(const shape_t *s, int shift) {
    float v[64];
    for (int64_t i = 0; i < numel_of(s); i++) v[i] = (float)((i + shift) % 3);
    return nb_from_array(v, s->d, s->nd);
}

static void run_binary_pair(int op, const shape_t *sa, const shape_t *sb) {
    char what[160], b1[64], b2[64];
    binary_kind kind = binaries[op].kind;
    snprintf(what, sizeof what, "nb_%s of %s and %s", binaries[op].name, str(sa, b1), str(sb, b2));
    nb_tensor *a = kind == COMPARES ? with_ties(sa, 0) : distinct(sa, 0.0f, true);
    nb_tensor *b = kind == COMPARES  ? with_ties(sb, 1)
                   : kind == DIVISOR ? distinct(sb, 0.5f + 0.05f * (float)numel_of(sb), true)
                                     : distinct(sb, 0.05f, true); /* 0.05 off a's grid: no ties */
    shape_t sc = broadcast_of(sa, sb);
    double want[64];
    for (int64_t i = 0; i < numel_of(&sc); i++)
        want[i] = binaries[op].ref(nb_get_flat(a, map_index(i, &sc, sa)),
                                   nb_get_flat(b, map_index(i, &sc, sb)));
    nb_tensor *c = binaries[op].f(a, b);
    assert_shape_is(c, &sc, what);
    assert_values(c, want, numel_of(&sc), what);
    if (kind == COMPARES) return;
    binary_fn f = binaries[op].f;
    nb_gradcheck_result r;
    ck_assert_msg(nb_gradcheck(apply_binary, (nb_tensor *[]){a, b}, 2, &f,
                               kind == KINKED ? 1e-5 : EPS, TOL, &r) == NB_OK,
                  "%s: gradient: %s", what, nb_error());
}

START_TEST(test_binary_ops_on_equal_sized_axes_match_a_double_reference) {
    for (int s = 0; s < 2; s++) { /* [3, 3] and [2, 2, 2]: every pair of their family */
        shape_t fam[64];
        int nf = family(&big_shapes[s], fam);
        for (int i = 0; i < nf; i++)
            for (int j = 0; j < nf; j++) {
                nb_scope_begin();
                run_binary_pair(_i, &fam[i], &fam[j]);
                nb_scope_end();
            }
    }
}
END_TEST

/* ---- matmul: the batch broadcasts, the bias is summed over the rows --------------------------
 * [1, 2, 2] @ [2, 2, 2] (and the other way round) and x: [3, 3] @ w: [3, 3] + b: [3], so
 * the batch, row and column axes all have one size. */
static nb_tensor *apply_matmul(nb_tensor *const *x, int n, void *ctx) {
    (void)ctx;
    return weighted(n == 3 ? nb_linear(x[0], x[1], x[2]) : nb_matmul(x[0], x[1]));
}

/* c[bt, i, j] = sum_k a[bt or 0, i, k] b[bt or 0, k, j] (+ bias[j]) */
static void reference_matmul(const nb_tensor *a, const nb_tensor *b, const nb_tensor *bias,
                             int64_t batch, int64_t m, double *c) {
    bool a1 = nb_ndim(a) == 3 && nb_shape(a)[0] == 1, b1 = nb_ndim(b) == 3 && nb_shape(b)[0] == 1;
    for (int64_t bt = 0; bt < batch; bt++)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < m; j++) {
                double s = bias ? nb_get_flat(bias, j) : 0;
                for (int64_t k = 0; k < m; k++)
                    s += (double)nb_get_flat(a, (a1 ? 0 : bt) * m * m + i * m + k) *
                         nb_get_flat(b, (b1 ? 0 : bt) * m * m + k * m + j);
                c[(bt * m + i) * m + j] = s;
            }
}

START_TEST(test_matmul_and_linear_on_equal_sized_axes_match_a_double_reference) {
    const shape_t s122 = {3, {1, 2, 2}}, s222 = {3, {2, 2, 2}}, s33 = {2, {3, 3}}, s3 = {1, {3}};
    const shape_t *pairs[][2] = {{&s122, &s222}, {&s222, &s122}, {&s222, &s222}};
    nb_gradcheck_result r;
    double want[64];
    for (int p = 0; p < 3; p++) {
        nb_tensor *a = distinct(pairs[p][0], 0.0f, true), *b = distinct(pairs[p][1], 0.05f, true);
        reference_matmul(a, b, NULL, 2, 2, want);
        nb_tensor *c = nb_matmul(a, b);
        assert_shape_is(c, &s222, "nb_matmul");
        assert_values(c, want, 8, "nb_matmul");
        ck_assert_msg(nb_gradcheck(apply_matmul, (nb_tensor *[]){a, b}, 2, NULL, EPS, TOL, &r) ==
                          NB_OK,
                      "nb_matmul pair %d: gradient: %s", p, nb_error());
    }
    nb_tensor *x = distinct(&s33, 0.0f, true), *w = distinct(&s33, 0.05f, true);
    nb_tensor *bias = distinct(&s3, 0.3f, true);
    reference_matmul(x, w, bias, 1, 3, want);
    assert_values(nb_linear(x, w, bias), want, 9, "nb_linear");
    ck_assert_msg(nb_gradcheck(apply_matmul, (nb_tensor *[]){x, w, bias}, 3, NULL, EPS, TOL, &r) ==
                      NB_OK,
                  "nb_linear: gradient: %s", nb_error());
}
END_TEST

/* The case that was wrong: a column operand times a square matrix */
START_TEST(test_column_operand_of_a_square_product_gets_row_sums) {
    nb_tensor *a = nb_set_requires_grad(nb_from_array((float[]){0.5f, -1}, NB_SHAPE(2, 1)), true);
    nb_tensor *w = nb_from_array((float[]){1, 2, 3, 4}, NB_SHAPE(2, 2));
    ck_assert_int_eq(nb_backward(nb_sum_all(nb_mul(a, w))), NB_OK);
    NB_ASSERT_TENSOR(nb_grad(a), ((float[]){3, 7}), 2, 0);
    NB_ASSERT_TENSOR(nb_sum_to(w, NB_SHAPE(2, 1)), ((float[]){3, 7}), 2, 0);
    NB_ASSERT_TENSOR(nb_sum_to(w, NB_SHAPE(1, 2)), ((float[]){4, 6}), 2, 0);
    NB_ASSERT_TENSOR(nb_sum_to(w, NB_SHAPE(2)), ((float[]){4, 6}), 2, 0);
}
END_TEST

static Suite *broadcast_suite(void) {
    Suite *s = suite_create("broadcast");
    TCase *tc = nb_tcase("equal_sized_axes");
    tcase_add_loop_test(tc, test_reductions_on_equal_sized_axes_match_a_double_reference, 0,
                        (int)(sizeof reductions / sizeof reductions[0]));
    tcase_add_loop_test(tc,
                        test_sum_to_and_broadcast_to_on_equal_sized_axes_match_a_double_reference,
                        0, (int)(sizeof targets / sizeof targets[0]));
    tcase_add_loop_test(tc, test_binary_ops_on_equal_sized_axes_match_a_double_reference, 0,
                        (int)(sizeof binaries / sizeof binaries[0]));
    tcase_add_test(tc, test_matmul_and_linear_on_equal_sized_axes_match_a_double_reference);
    tcase_add_test(tc, test_column_operand_of_a_square_product_gets_row_sums);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(broadcast_suite());
}
