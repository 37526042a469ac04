/* The chain-rule walk-through: parse a scalar expression, evaluate it node by
 * node, then walk back from the result multiplying each node's upstream
 * gradient by its local derivative, the way a teacher writes it on the board.
 * The same expression is also built from nabla ops and differentiated with
 * nb_backward, and both are checked against central differences. */
#include "expr.h"

#include "core/core_internal.h"
#include "nabla/autograd.h"
#include "nabla/ops.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const funcs[] = {"sigmoid", "tanh", "relu", "exp", "log", "sqrt"};
enum { F_SIGMOID, F_TANH, F_RELU, F_EXP, F_LOG, F_SQRT, N_FUNCS };

/* ---- parser: recursive descent, nodes appended operands-first ------------------- */
typedef struct {
    const char *s;
    int pos, depth;
    nb_expr *e;
    const char *error;
    int error_pos;
} parser;

_Static_assert(NB_EXPR_MAX_DEPTH == 64, "the message below names the depth limit");
static const char too_deep[] = "expression nested too deeply (more than 64 levels of parentheses, "
                               "functions, minus signs and powers)";

static int fail(parser *p, const char *msg) {
    if (!p->error) {
        p->error = msg;
        p->error_pos = p->pos;
    }
    return -1;
}

static void skip_space(parser *p) {
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t') p->pos++;
}

static int add_node(parser *p, nb_expr_node n) {
    if (p->e->n >= NB_EXPR_MAX_NODES) return fail(p, "expression too long");
    p->e->nodes[p->e->n] = n;
    return p->e->n++;
}

static int node(parser *p, nb_expr_kind k, int a, int b) {
    if (a < 0 || b < -1 || (k != EX_NEG && k != EX_FUNC && b < 0)) return -1;
    return add_node(p, (nb_expr_node){.kind = k, .a = a, .b = b});
}

static int expr(parser *p);

static int var_index(parser *p, const char *name, int len) {
    nb_expr *e = p->e;
    for (int i = 0; i < e->n_vars; i++)
        if ((int)strlen(e->vars[i]) == len && !strncmp(e->vars[i], name, (size_t)len)) return i;
    if (e->n_vars >= NB_EXPR_MAX_VARS) return fail(p, "too many variables");
    if (len >= (int)sizeof e->vars[0]) return fail(p, "variable name too long");
    memcpy(e->vars[e->n_vars], name, (size_t)len);
    e->vars[e->n_vars][len] = '\0';
    return e->n_vars++;
}

static int primary(parser *p) {
    skip_space(p);
    const char *s = p->s + p->pos;
    if (isdigit((unsigned char)*s) || (*s == '.' && isdigit((unsigned char)s[1]))) {
        char *end;
        double v = strtod(s, &end);
        p->pos += (int)(end - s);
        return add_node(p, (nb_expr_node){.kind = EX_NUM, .a = -1, .b = -1, .number = v});
    }
    if (isalpha((unsigned char)*s) || *s == '_') {
        int len = 0;
        while (isalnum((unsigned char)s[len]) || s[len] == '_') len++;
        int start = p->pos;
        p->pos += len;
        skip_space(p);
        if (p->s[p->pos] != '(') {
            int v = var_index(p, s, len);
            return v < 0 ? -1
                         : add_node(p, (nb_expr_node){.kind = EX_VAR, .a = -1, .b = -1, .var = v});
        }
        int f = 0;
        while (f < N_FUNCS && !((int)strlen(funcs[f]) == len && !strncmp(funcs[f], s, (size_t)len)))
            f++;
        if (f == N_FUNCS) {
            p->pos = start;
            return fail(p, "unknown function (known: sigmoid, tanh, relu, exp, log, sqrt)");
        }
        p->pos++; /* ( */
        int a = expr(p);
        skip_space(p);
        if (a < 0) return -1;
        if (p->s[p->pos] != ')') return fail(p, "expected ')'");
        p->pos++;
        int n = node(p, EX_FUNC, a, -1);
        if (n >= 0) p->e->nodes[n].func = f;
        return n;
    }
    if (*s == '(') {
        p->pos++;
        int a = expr(p);
        skip_space(p);
        if (a < 0) return -1;
        if (p->s[p->pos] != ')') return fail(p, "expected ')'");
        p->pos++;
        return a;
    }
    return fail(p, (!*s || strchr(")+*/^", *s)) ? "expected an operand" : "unexpected character");
}

static int unary(parser *p);

static int power(parser *p) {
    int a = primary(p);
    skip_space(p);
    if (a < 0 || p->s[p->pos] != '^') return a;
    p->pos++;
    return node(p, EX_POW, a, unary(p)); /* right-associative: 2^3^2 = 2^9 */
}

static int unary(parser *p) {
    /* The expression itself is level 0; each parenthesis, function, minus sign and power
     * opens one more. The error points at the token that opens one too many, just read. */
    if (++p->depth > NB_EXPR_MAX_DEPTH + 1) {
        if (p->pos > 0) p->pos--;
        return fail(p, too_deep);
    }
    skip_space(p);
    int r;
    if (p->s[p->pos] == '-') {
        p->pos++;
        r = node(p, EX_NEG, unary(p), -1);
    } else {
        r = power(p);
    }
    p->depth--;
    return r;
}

static int term(parser *p) {
    int a = unary(p);
    for (skip_space(p); a >= 0 && (p->s[p->pos] == '*' || p->s[p->pos] == '/'); skip_space(p)) {
        nb_expr_kind k = p->s[p->pos++] == '*' ? EX_MUL : EX_DIV;
        a = node(p, k, a, unary(p));
    }
    return a;
}

/* Every way down (a parenthesis, a function, a minus sign, an exponent)
 * passes through unary(), which counts the depth. */
static int expr(parser *p) {
    int a = term(p);
    for (skip_space(p); a >= 0 && (p->s[p->pos] == '+' || p->s[p->pos] == '-'); skip_space(p)) {
        nb_expr_kind k = p->s[p->pos++] == '+' ? EX_ADD : EX_SUB;
        a = node(p, k, a, term(p));
    }
    return a;
}

nb_status nb_expr_parse(const char *text, nb_expr *e, int *column) {
    if (!text || !e) return nb_fail_status(NB_ERR_NULL, "nb_expr_parse: NULL argument");
    memset(e, 0, sizeof *e);
    /* positions are ints, and no expression worth walking through is this long */
    size_t len = strnlen(text, (size_t)NB_EXPR_MAX_LEN + 1);
    if (len > NB_EXPR_MAX_LEN) {
        if (column) *column = NB_EXPR_MAX_LEN;
        return nb_fail_status(NB_ERR_FORMAT,
                              "nb_expr_parse: the expression is longer than %d characters; a "
                              "walk-through takes at most %d nodes",
                              NB_EXPR_MAX_LEN, NB_EXPR_MAX_NODES);
    }
    parser p = {.s = text, .e = e};
    e->root = expr(&p);
    skip_space(&p);
    if (!p.error && p.s[p.pos]) fail(&p, "unexpected character after the expression");
    if (p.error) {
        if (column) *column = p.error_pos;
        return nb_fail_status(NB_ERR_FORMAT, "column %d: %s", p.error_pos, p.error);
    }
    return NB_OK;
}

nb_status nb_expr_set(nb_expr *e, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq) return nb_fail_status(NB_ERR_ARG, "'%s': expected NAME=VALUE", assignment);
    for (int i = 0; i < e->n_vars; i++) {
        if (strlen(e->vars[i]) != (size_t)(eq - assignment) ||
            strncmp(e->vars[i], assignment, (size_t)(eq - assignment)))
            continue;
        char *end;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || *end || !isfinite(v))
            return nb_fail_status(NB_ERR_ARG, "'%s': '%s' is not a number", assignment, eq + 1);
        e->var_value[i] = v;
        e->var_set[i] = true;
        return NB_OK;
    }
    return nb_fail_status(NB_ERR_ARG, "'%s': the expression has no variable '%.*s'", assignment,
                          (int)(eq - assignment), assignment);
}

/* ---- forward and backward in double ------------------------------------------------- */
static double sigm(double x) {
    return 1 / (1 + exp(-x));
}

static double apply_func(int f, double x) {
    switch (f) {
    case F_SIGMOID:
        return sigm(x);
    case F_TANH:
        return tanh(x);
    case F_RELU:
        return x > 0 ? x : 0;
    case F_EXP:
        return exp(x);
    case F_LOG:
        return log(x);
    default:
        return sqrt(x);
    }
}

/* d f(x) / dx */
static double func_derivative(int f, double x) {
    switch (f) {
    case F_SIGMOID:
        return sigm(x) * (1 - sigm(x));
    case F_TANH:
        return 1 - tanh(x) * tanh(x);
    case F_RELU:
        return x > 0 ? 1 : 0;
    case F_EXP:
        return exp(x);
    case F_LOG:
        return 1 / x;
    default:
        return 0.5 / sqrt(x);
    }
}

static nb_status forward(nb_expr *e) {
    for (int i = 0; i < e->n; i++) {
        nb_expr_node *n = &e->nodes[i];
        double a = n->a >= 0 ? e->nodes[n->a].value : 0, b = n->b >= 0 ? e->nodes[n->b].value : 0;
        switch (n->kind) {
        case EX_NUM:
            n->value = n->number;
            break;
        case EX_VAR:
            if (!e->var_set[n->var])
                return nb_fail_status(NB_ERR_ARG, "no value for %s (pass %s=VALUE)",
                                      e->vars[n->var], e->vars[n->var]);
            n->value = e->var_value[n->var];
            break;
        case EX_NEG:
            n->value = -a;
            break;
        case EX_ADD:
            n->value = a + b;
            break;
        case EX_SUB:
            n->value = a - b;
            break;
        case EX_MUL:
            n->value = a * b;
            break;
        case EX_DIV:
            n->value = a / b;
            break;
        case EX_POW:
            n->value = pow(a, b);
            break;
        case EX_FUNC:
            n->value = apply_func(n->func, a);
            break;
        }
        if (!isfinite(n->value))
            return nb_fail_status(NB_ERR_ARG, "node n%d is not finite (%g): outside the domain",
                                  i + 1, n->value);
    }
    return NB_OK;
}

/* local derivatives of node i with respect to its operands a and b */
static void local(const nb_expr *e, int i, double *da, double *db) {
    const nb_expr_node *n = &e->nodes[i];
    double a = n->a >= 0 ? e->nodes[n->a].value : 0, b = n->b >= 0 ? e->nodes[n->b].value : 0;
    *da = *db = 0;
    switch (n->kind) {
    case EX_NEG:
        *da = -1;
        break;
    case EX_ADD:
        *da = 1, *db = 1;
        break;
    case EX_SUB:
        *da = 1, *db = -1;
        break;
    case EX_MUL:
        *da = b, *db = a;
        break;
    case EX_DIV:
        *da = 1 / b, *db = -a / (b * b);
        break;
    case EX_POW:
        *da = b * pow(a, b - 1), *db = a > 0 ? pow(a, b) * log(a) : 0;
        break;
    case EX_FUNC:
        *da = func_derivative(n->func, a);
        break;
    default:
        break;
    }
}

nb_status nb_expr_eval(nb_expr *e) {
    nb_status s = forward(e);
    if (s != NB_OK) return s;
    for (int i = 0; i < e->n; i++) e->nodes[i].grad = 0;
    e->nodes[e->root].grad = 1;
    for (int i = e->n - 1; i >= 0; i--) { /* operands come first: reverse is topological */
        nb_expr_node *n = &e->nodes[i];
        double da, db;
        local(e, i, &da, &db);
        if (n->a >= 0) e->nodes[n->a].grad += n->grad * da;
        if (n->b >= 0) e->nodes[n->b].grad += n->grad * db;
    }
    return NB_OK;
}

double nb_expr_var_grad(const nb_expr *e, int v) {
    double g = 0;
    for (int i = 0; i < e->n; i++)
        if (e->nodes[i].kind == EX_VAR && e->nodes[i].var == v) g += e->nodes[i].grad;
    return g;
}

double nb_expr_numeric_grad(nb_expr *e, int v, double h) {
    double keep = e->var_value[v], plus, minus;
    e->var_value[v] = keep + h;
    plus = forward(e) == NB_OK ? e->nodes[e->root].value : NAN;
    e->var_value[v] = keep - h;
    minus = forward(e) == NB_OK ? e->nodes[e->root].value : NAN;
    e->var_value[v] = keep;
    forward(e);
    return (plus - minus) / (2 * h);
}

/* ---- the same expression as nabla ops ---------------------------------------------------- */
static nb_tensor *to_op(const nb_expr_node *n, nb_tensor *a, nb_tensor *b) {
    switch (n->kind) {
    case EX_NEG:
        return nb_neg(a);
    case EX_ADD:
        return nb_add(a, b);
    case EX_SUB:
        return nb_sub(a, b);
    case EX_MUL:
        return nb_mul(a, b);
    case EX_DIV:
        return nb_div(a, b);
    case EX_POW:
        return nb_exp(nb_mul(b, nb_log(a))); /* a^b = e^(b ln a), a > 0 */
    default:
        break;
    }
    switch (n->func) {
    case F_SIGMOID:
        return nb_sigmoid(a);
    case F_TANH:
        return nb_tanh(a);
    case F_RELU:
        return nb_relu(a);
    case F_EXP:
        return nb_exp(a);
    case F_LOG:
        return nb_log(a);
    default:
        return nb_sqrt(a);
    }
}

nb_tensor *nb_expr_autograd(const nb_expr *e, double *grads) {
    nb_tensor *t[NB_EXPR_MAX_NODES], *leaf[NB_EXPR_MAX_VARS];
    for (int v = 0; v < e->n_vars; v++) {
        leaf[v] = nb_set_requires_grad(nb_scalar((float)e->var_value[v]), true);
        if (!leaf[v]) return NULL;
        nb_set_name(leaf[v], e->vars[v]);
    }
    for (int i = 0; i < e->n; i++) {
        const nb_expr_node *n = &e->nodes[i];
        nb_tensor *a = n->a >= 0 ? t[n->a] : NULL, *b = n->b >= 0 ? t[n->b] : NULL;
        if (n->kind == EX_NUM)
            t[i] = nb_scalar((float)n->number);
        else if (n->kind == EX_VAR)
            t[i] = leaf[n->var];
        else if (n->kind == EX_POW && e->nodes[n->b].kind == EX_NUM)
            t[i] = nb_pow_scalar(a, (float)e->nodes[n->b].number); /* the usual case: x^2 */
        else
            t[i] = to_op(n, a, b);
        if (!t[i]) return NULL;
        if (n->kind != EX_VAR) { /* names match the walk-through: n1, n2, ... or the number */
            char name[32];
            if (n->kind == EX_NUM)
                snprintf(name, sizeof name, "%g", n->number);
            else
                snprintf(name, sizeof name, "n%d", i + 1);
            nb_set_name(t[i], name);
        }
    }
    nb_tensor *root = t[e->root];
    if (nb_requires_grad(root) && nb_backward_ex(root, NULL, true) != NB_OK) return NULL;
    for (int v = 0; v < e->n_vars; v++) grads[v] = leaf[v]->grad ? nb_item(leaf[v]->grad) : 0;
    return root;
}

/* ---- the walk-through ------------------------------------------------------------------- */
static const char *symbol(nb_expr_kind k) {
    static const char *const s[] = {"", "", "-", "+", "-", "*", "/", "^", ""};
    return s[k];
}

static void describe(const nb_expr *e, int i, char *buf, size_t size) {
    const nb_expr_node *n = &e->nodes[i];
    switch (n->kind) {
    case EX_NUM:
        snprintf(buf, size, "%g", n->number);
        break;
    case EX_VAR:
        snprintf(buf, size, "%s", e->vars[n->var]);
        break;
    case EX_NEG:
        snprintf(buf, size, "-n%d", n->a + 1);
        break;
    case EX_FUNC:
        snprintf(buf, size, "%s(n%d)", funcs[n->func], n->a + 1);
        break;
    default:
        snprintf(buf, size, "n%d %s n%d", n->a + 1, symbol(n->kind), n->b + 1);
        break;
    }
}

/* the local derivative as a formula, for the printout */
static const char *local_formula(const nb_expr *e, int i, int operand) {
    const nb_expr_node *n = &e->nodes[i];
    switch (n->kind) {
    case EX_NEG:
        return "-1";
    case EX_ADD:
        return "1";
    case EX_SUB:
        return operand ? "-1" : "1";
    case EX_MUL:
        return operand ? "the left factor" : "the right factor";
    case EX_DIV:
        return operand ? "-a/b^2" : "1/b";
    case EX_POW:
        return operand ? "a^b ln a" : "b a^(b-1)";
    default:
        break;
    }
    static const char *const f[] = {
        "s(1-s), s = sigmoid", "1 - tanh^2", "1 if > 0 else 0", "exp", "1/x", "1/(2 sqrt x)"};
    return f[n->func];
}

nb_status nb_expr_walkthrough(nb_expr *e, const char *text, FILE *out) {
    nb_status s = nb_expr_eval(e);
    if (s != NB_OK) return s;
    char what[64];
    fprintf(out, "expression: %s\n\nforward pass (evaluation order)\n", text);
    for (int i = 0; i < e->n; i++) {
        describe(e, i, what, sizeof what);
        fprintf(out, "  n%-3d = %-18s = %.6g\n", i + 1, what, e->nodes[i].value);
    }
    fprintf(out, "\nbackward pass (chain rule: d out/d operand = upstream * local derivative)\n");
    fprintf(out, "  d out/d n%d = 1 (the seed)\n", e->root + 1);
    for (int i = e->n - 1; i >= 0; i--) {
        const nb_expr_node *n = &e->nodes[i];
        if (n->a < 0) continue;
        double da, db;
        local(e, i, &da, &db);
        describe(e, i, what, sizeof what);
        fprintf(out, "  n%d = %s, upstream d out/d n%d = %.6g\n", i + 1, what, i + 1, n->grad);
        int ops[2] = {n->a, n->b};
        double ds[2] = {da, db};
        for (int k = 0; k < 2 && ops[k] >= 0; k++)
            fprintf(out, "      -> n%-3d local %-20s = %-10.6g  product %.6g * %.6g = %.6g\n",
                    ops[k] + 1, local_formula(e, i, k), ds[k], n->grad, ds[k], n->grad * ds[k]);
    }
    double auto_grads[NB_EXPR_MAX_VARS];
    nb_scope_begin();
    nb_tensor *root = nb_expr_autograd(e, auto_grads);
    nb_scope_end();
    if (!root) return nb_error_code();
    bool all_ok = true;
    fprintf(out, "\nresult: out = %.6g\n", e->nodes[e->root].value);
    for (int v = 0; v < e->n_vars; v++) {
        double g = nb_expr_var_grad(e, v), numeric = nb_expr_numeric_grad(e, v, 1e-5);
        bool ok = fabs(g - numeric) <= 1e-4 * (1 + fabs(numeric)) &&
                  fabs(g - auto_grads[v]) <= 1e-4 * (1 + fabs(g));
        all_ok &= ok;
        fprintf(out,
                "  d out/d %-6s = %-12.6g nabla autograd %-12.6g central difference %-12.6g %s\n",
                e->vars[v], g, auto_grads[v], numeric, ok ? "agree" : "DISAGREE");
    }
    return all_ok ? NB_OK
                  : nb_fail_status(NB_ERR_STATE, "the chain rule, autograd and central differences "
                                                 "disagree (a kink such as relu at 0?)");
}
