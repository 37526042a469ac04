/* The chain-rule walk-through: parse errors point at the right column, and
 * the chain rule, nabla's autograd and central differences agree. */
#include "nb_test.h"

#include "tools/cli/expr.h"

/* the exact last error */
#define ASSERT_ERROR_IS(want)                                                                      \
    ck_assert_msg(strcmp(nb_error(), (want)) == 0, "error \"%s\"\n   expected \"%s\"", nb_error(), \
                  (want))

typedef struct {
    const char *text;
    int column;
    const char *message;
} parse_error;

START_TEST(test_parse_errors_point_at_the_column) {
    static const parse_error cases[] = {
        {"sigmoid(w*x+", 12, "expected an operand"},
        {"", 0, "expected an operand"},
        {"x +* y", 3, "expected an operand"},
        {"(x + y", 6, "expected ')'"},
        {"sigmoid(x", 9, "expected ')'"},
        {"foo(x)", 0, "unknown function"},
        {"x y", 2, "unexpected character after the expression"},
        {"2 * $", 4, "unexpected character"},
        {"exp(x))", 6, "unexpected character after the expression"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_expr e;
        int col = -1;
        ck_assert_int_eq(nb_expr_parse(cases[i].text, &e, &col), NB_ERR_FORMAT);
        ck_assert_msg(col == cases[i].column, "'%s': column %d, expected %d", cases[i].text, col,
                      cases[i].column);
        NB_ASSERT_ERROR_HAS(cases[i].message);
    }
}
END_TEST

START_TEST(test_deep_nesting_is_an_error_not_a_crash) {
    static char text[4096];
    int n = 0;
    for (int i = 0; i < 1000; i++) text[n++] = '(';
    text[n++] = 'x';
    for (int i = 0; i < 1000; i++) text[n++] = ')';
    nb_expr e;
    ck_assert_int_eq(nb_expr_parse(text, &e, NULL), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("nested too deeply");
    memset(text, 0, sizeof text);
    for (int i = 0; i < 1000; i++) text[i] = '-';
    text[1000] = 'x';
    ck_assert_int_eq(nb_expr_parse(text, &e, NULL), NB_ERR_FORMAT);
}
END_TEST

START_TEST(test_nested_parentheses_stop_after_exactly_64_levels) {
    int n = 30000;
    char *text = malloc(2 * (size_t)n + 2);
    memset(text, '(', (size_t)n);
    text[n] = 'x';
    memset(text + n + 1, ')', (size_t)n);
    text[2 * n + 1] = '\0';
    nb_expr e;
    int col = -1;
    ck_assert_int_eq(nb_expr_parse(text, &e, &col), NB_ERR_FORMAT);
    ck_assert_int_eq(col, 64); /* the 65th parenthesis */
    ASSERT_ERROR_IS("column 64: expression nested too deeply (more than 64 levels of parentheses, "
                    "functions, minus signs and powers)");
    /* exactly 64 levels are fine, 65 are one too many */
    n = 64;
    memset(text, '(', (size_t)n);
    text[n] = 'x';
    memset(text + n + 1, ')', (size_t)n);
    text[2 * n + 1] = '\0';
    ck_assert_msg(nb_expr_parse(text, &e, &col) == NB_OK, "%s", nb_error());
    n = 65;
    memset(text, '(', (size_t)n);
    text[n] = 'x';
    memset(text + n + 1, ')', (size_t)n);
    text[2 * n + 1] = '\0';
    ck_assert_int_eq(nb_expr_parse(text, &e, &col), NB_ERR_FORMAT);
    ck_assert_int_eq(col, 64);
    /* minus signs count like parentheses: 64 of them are fine */
    memset(text, '-', 64);
    text[64] = 'x';
    text[65] = '\0';
    ck_assert_msg(nb_expr_parse(text, &e, &col) == NB_OK, "%s", nb_error());
    free(text);
}
END_TEST

START_TEST(test_an_expression_longer_than_64_kib_is_refused_before_parsing) {
    size_t n = 1 << 20; /* a megabyte of "x+x+...": the 1 GB case, scaled to CI memory */
    char *text = malloc(n + 1);
    for (size_t i = 0; i < n; i++) text[i] = i % 2 ? '+' : 'x';
    text[n - 1] = 'x';
    text[n] = '\0';
    nb_expr e;
    int col = -1;
    ck_assert_int_eq(nb_expr_parse(text, &e, &col), NB_ERR_FORMAT);
    ck_assert_int_eq(col, 65536);
    ASSERT_ERROR_IS("nb_expr_parse: the expression is longer than 65536 characters; a walk-through "
                    "takes at most 512 nodes");
    /* 100000 nested parentheses are over the length too */
    memset(text, '(', 100000);
    text[100000] = 'x';
    memset(text + 100001, ')', 100000);
    text[200001] = '\0';
    ck_assert_int_eq(nb_expr_parse(text, &e, &col), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("nb_expr_parse: the expression is longer than 65536 characters");
    /* within the length, the node limit speaks: 600 terms make more than 512 nodes */
    for (size_t i = 0; i < 1199; i++) text[i] = i % 2 ? '+' : 'x';
    text[1199] = '\0';
    ck_assert_int_eq(nb_expr_parse(text, &e, &col), NB_ERR_FORMAT);
    NB_ASSERT_ERROR_HAS("expression too long");
    free(text);
}
END_TEST

typedef struct {
    const char *text;
    const char *values[4];
} grad_case;

/* 20 expressions: every operator and function, variables used twice, the
 * course's neuron and its cross-entropy */
static const grad_case cases[] = {
    {"sigmoid(w*x+b)", {"w=0.5", "x=1", "b=-0.2"}},
    {"-(y*log(sigmoid(w*x+b)) + (1-y)*log(1-sigmoid(w*x+b)))", {"w=0.5", "x=2", "b=0.1", "y=1"}},
    {"x*x*x", {"x=1.5"}},
    {"x^3 - 2*x", {"x=0.7"}},
    {"x^y", {"x=1.3", "y=2.5"}},
    {"a/b", {"a=3", "b=-2"}},
    {"(a+b)/(a-b)", {"a=3", "b=1"}},
    {"exp(-x^2)", {"x=0.4"}},
    {"log(1 + exp(x))", {"x=-1.2"}},
    {"sqrt(x*x + y*y)", {"x=3", "y=4"}},
    {"tanh(w1*x + w2*tanh(x))", {"w1=0.3", "w2=-0.8", "x=0.9"}},
    {"relu(x - 1) + relu(1 - x)", {"x=2.5"}},
    {"sigmoid(x) * (1 - sigmoid(x))", {"x=0.25"}},
    {"-x", {"x=2"}},
    {"--x + 3", {"x=2"}},
    {"(x - y)^2 / 2", {"x=1", "y=3"}},
    {"exp(x) / (exp(x) + exp(y))", {"x=1", "y=2"}},
    {"log(x) * log(y)", {"x=2", "y=5"}},
    {"2^x", {"x=1.5"}},
    {"sigmoid(sigmoid(sigmoid(x)))", {"x=-0.5"}},
};

START_TEST(test_chain_rule_autograd_and_finite_differences_agree) {
    const grad_case *c = &cases[_i];
    nb_expr e;
    ck_assert_msg(nb_expr_parse(c->text, &e, NULL) == NB_OK, "%s: %s", c->text, nb_error());
    for (int i = 0; i < 4 && c->values[i]; i++)
        ck_assert_int_eq(nb_expr_set(&e, c->values[i]), NB_OK);
    ck_assert_int_eq(nb_expr_eval(&e), NB_OK);
    double autograd[NB_EXPR_MAX_VARS];
    ck_assert_ptr_nonnull(nb_expr_autograd(&e, autograd));
    for (int v = 0; v < e.n_vars; v++) {
        double g = nb_expr_var_grad(&e, v), numeric = nb_expr_numeric_grad(&e, v, 1e-5);
        ck_assert_msg(fabs(g - numeric) <= 1e-6 * (1 + fabs(numeric)),
                      "%s d/d%s: chain rule %.9g, numeric %.9g", c->text, e.vars[v], g, numeric);
        ck_assert_msg(fabs(g - autograd[v]) <= 1e-4 * (1 + fabs(g)),
                      "%s d/d%s: chain rule %.9g, autograd %.9g", c->text, e.vars[v], g,
                      autograd[v]);
    }
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_int_eq(nb_expr_walkthrough(&e, c->text, devnull), NB_OK);
    fclose(devnull);
}
END_TEST

START_TEST(test_cross_entropy_after_sigmoid_gives_x_times_o_minus_y) {
    nb_expr e;
    ck_assert_int_eq(nb_expr_parse(cases[1].text, &e, NULL), NB_OK);
    for (int i = 0; i < 4; i++) nb_expr_set(&e, cases[1].values[i]);
    ck_assert_int_eq(nb_expr_eval(&e), NB_OK);
    int w = 0;
    while (strcmp(e.vars[w], "w")) w++;         /* variables are numbered as they first appear */
    double o = 1 / (1 + exp(-(0.5 * 2 + 0.1))); /* sigmoid(w x + b) */
    NB_ASSERT_CLOSE(nb_expr_var_grad(&e, w), 2 * (o - 1), 1e-9); /* dE/dw = x (o - y) */
}
END_TEST

START_TEST(test_walkthrough_prints_each_step) {
    nb_expr e;
    ck_assert_int_eq(nb_expr_parse("sigmoid(w*x+b)", &e, NULL), NB_OK);
    nb_expr_set(&e, "w=0.5");
    nb_expr_set(&e, "x=1");
    nb_expr_set(&e, "b=-0.2");
    char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ck_assert_int_eq(nb_expr_walkthrough(&e, "sigmoid(w*x+b)", f), NB_OK);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "n6   = sigmoid(n5)        = 0.574443"));
    ck_assert_ptr_nonnull(strstr(buf, "product 1 * 0.244458 = 0.244458"));
    ck_assert_ptr_nonnull(strstr(buf, "d out/d x      = 0.122229"));
    ck_assert_ptr_nonnull(strstr(buf, "agree"));
}
END_TEST

START_TEST(test_assignment_and_domain_errors) {
    nb_expr e;
    ck_assert_int_eq(nb_expr_parse("log(x) + y", &e, NULL), NB_OK);
    ck_assert_int_ne(nb_expr_set(&e, "z=1"), NB_OK);
    NB_ASSERT_ERROR_HAS("the expression has no variable 'z'");
    ck_assert_int_ne(nb_expr_set(&e, "x=abc"), NB_OK);
    NB_ASSERT_ERROR_HAS("'abc' is not a number");
    ck_assert_int_ne(nb_expr_set(&e, "x"), NB_OK);
    NB_ASSERT_ERROR_HAS("expected NAME=VALUE");
    nb_expr_set(&e, "x=2");
    ck_assert_int_ne(nb_expr_eval(&e), NB_OK);
    NB_ASSERT_ERROR_HAS("no value for y");
    nb_expr_set(&e, "y=1");
    nb_expr_set(&e, "x=-1");
    ck_assert_int_ne(nb_expr_eval(&e), NB_OK);
    NB_ASSERT_ERROR_HAS("is not finite");
}
END_TEST

static Suite *expr_suite(void) {
    Suite *s = suite_create("expr");
    TCase *tc = nb_tcase("expr");
    tcase_add_test(tc, test_parse_errors_point_at_the_column);
    tcase_add_test(tc, test_deep_nesting_is_an_error_not_a_crash);
    tcase_add_test(tc, test_nested_parentheses_stop_after_exactly_64_levels);
    tcase_add_test(tc, test_an_expression_longer_than_64_kib_is_refused_before_parsing);
    tcase_add_loop_test(tc, test_chain_rule_autograd_and_finite_differences_agree, 0,
                        (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_cross_entropy_after_sigmoid_gives_x_times_o_minus_y);
    tcase_add_test(tc, test_walkthrough_prints_each_step);
    tcase_add_test(tc, test_assignment_and_domain_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(expr_suite());
}
