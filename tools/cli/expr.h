/* Scalar expressions for the chain-rule walk-through (`nabla grad`).
 *
 *   expr    := term (("+" | "-") term)*
 *   term    := unary (("*" | "/") unary)*
 *   unary   := "-" unary | power
 *   power   := primary ("^" unary)?
 *   primary := number | name | func "(" expr ")" | "(" expr ")"
 *   func    := sigmoid | tanh | relu | exp | log | sqrt
 */
#ifndef NB_EXPR_H
#define NB_EXPR_H

#include "nabla/core.h"

#include <stdio.h>

#define NB_EXPR_MAX_NODES 512
#define NB_EXPR_MAX_VARS  32
#define NB_EXPR_MAX_DEPTH 64        /* parentheses, unary minus and functions inside each other */
#define NB_EXPR_MAX_LEN   (1 << 16) /* characters: a longer text is refused before parsing */

typedef enum {
    EX_NUM,
    EX_VAR,
    EX_NEG,
    EX_ADD,
    EX_SUB,
    EX_MUL,
    EX_DIV,
    EX_POW,
    EX_FUNC
} nb_expr_kind;

typedef struct nb_expr_node {
    nb_expr_kind kind;
    int a, b;      /* operand node indices (-1 if none) */
    int var;       /* EX_VAR: index into the variable table */
    int func;      /* EX_FUNC: index into the function table */
    double number; /* EX_NUM */
    double value;  /* forward value */
    double grad;   /* d(root)/d(this node) */
} nb_expr_node;

typedef struct nb_expr {
    nb_expr_node nodes[NB_EXPR_MAX_NODES]; /* in evaluation order: operands first */
    int n, root;
    char vars[NB_EXPR_MAX_VARS][32];
    double var_value[NB_EXPR_MAX_VARS];
    bool var_set[NB_EXPR_MAX_VARS];
    int n_vars;
} nb_expr;

/* Parse text into e. On a syntax error returns NB_ERR_FORMAT, sets *column to
 * the 0-based character offset where it was found and records the message. */
nb_status nb_expr_parse(const char *text, nb_expr *e, int *column);
/* Assign "name=value"; an unknown name or a bad number is an error. */
nb_status nb_expr_set(nb_expr *e, const char *assignment);
/* Forward and backward passes in double precision (node values and grads);
 * an unset variable or a value outside a function's domain is an error. */
nb_status nb_expr_eval(nb_expr *e);
/* d(root)/d(variable v): the sum over its occurrences */
double nb_expr_var_grad(const nb_expr *e, int v);
/* The same expression built from nabla ops on 0-d tensors and differentiated
 * with nb_backward; grads[v] receives d(root)/d(variable v). Returns the root
 * tensor (in the current scope) for drawing, or NULL. */
nb_tensor *nb_expr_autograd(const nb_expr *e, double *grads);
/* Central difference of the root with respect to variable v. */
double nb_expr_numeric_grad(nb_expr *e, int v, double h);
/* Print the forward pass, the backward pass node by node (upstream gradient,
 * local derivative, product) and the final partials, checked against nabla's
 * autograd and central differences; returns NB_OK when all three agree. */
nb_status nb_expr_walkthrough(nb_expr *e, const char *text, FILE *out);

#endif
