/* The nabla command.
 *
 *   nabla grad EXPR NAME=VALUE... [--dot FILE] [--svg FILE]
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 */
#include "expr.h"

#include "nabla.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: nabla <command> [options]\n"
    "\n"
    "commands:\n"
    "  grad EXPR NAME=VALUE...   walk through the chain rule for a scalar expression\n"
    "\n"
    "nabla grad --help shows the details.\n";

static const char grad_usage[] =
    "usage: nabla grad EXPR NAME=VALUE... [--dot FILE] [--svg FILE]\n"
    "\n"
    "Evaluates EXPR node by node, then walks the chain rule back from the result:\n"
    "for every node, the upstream gradient times the local derivative gives the\n"
    "gradient handed to its operands. The final partial derivatives are checked\n"
    "against nabla's autograd and central differences.\n"
    "\n"
    "EXPR: numbers, variables, + - * / ^, unary minus, parentheses, and\n"
    "      sigmoid( ) tanh( ) relu( ) exp( ) log( ) sqrt( )\n"
    "--dot FILE, --svg FILE: draw the backward graph with values and gradients\n"
    "\n"
    "example: nabla grad \"sigmoid(w*x+b)\" w=0.5 x=1 b=-0.2\n";

static int draw(nb_expr *e, const char *path) {
    double grads[NB_EXPR_MAX_VARS];
    nb_tensor *root = nb_expr_autograd(e, grads);
    nb_dot_opts o = {.backward = false, .max_values = 1, .title = "values and gradients"};
    if (!root || nb_dot_save(nb_set_name(root, "out"), &o, path) != NB_OK) {
        fprintf(stderr, "error: %s\n", nb_error());
        return 1;
    }
    printf("wrote %s\n", path);
    return 0;
}

static int grad(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        fputs(grad_usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *text = argv[0], *picture = NULL;
    nb_expr e;
    int column = 0;
    if (nb_expr_parse(text, &e, &column) != NB_OK) {
        fprintf(stderr, "error: %s\n  %s\n  %*s^\n", nb_error(), text, column, "");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "--dot") || !strcmp(argv[i], "--svg")) && i + 1 < argc) {
            picture = argv[++i];
        } else if (nb_expr_set(&e, argv[i]) != NB_OK) {
            fprintf(stderr, "error: %s\n", nb_error());
            return 2;
        }
    }
    nb_status s = nb_expr_walkthrough(&e, text, stdout);
    if (s != NB_OK) {
        fprintf(stderr, "error: %s\n", nb_error());
        return s == NB_ERR_ARG ? 2 : 1;
    }
    int rc = picture ? draw(&e, picture) : 0;
    nb_shutdown();
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "grad")) return grad(argc - 2, argv + 2);
    fprintf(stderr, "nabla: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
