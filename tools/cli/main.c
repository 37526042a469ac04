/* The nabla command.
 *
 *   nabla grad EXPR NAME=VALUE... [--dot FILE] [--svg FILE]
 *   nabla summary MODEL --input SHAPE
 *   nabla draw MODEL --input SHAPE [--backward] -o FILE.svg
 *   nabla train --data DATA --model MODEL [options] --out DIR     (cli_train.c)
 *   nabla eval DIR/model.safetensors [--data DATA]
 *   nabla predict DIR/model.safetensors [--data DATA] [-o FILE.csv]
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 */
#include "cli.h"
#include "expr.h"

#include "nabla.h"
#include "nabla/plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: nabla <command> [options]\n"
    "\n"
    "commands:\n"
    "  grad EXPR NAME=VALUE...   walk through the chain rule for a scalar expression\n"
    "  summary MODEL --input S   the model's layers, output shapes and parameter counts\n"
    "  draw MODEL --input S -o F draw the model's forward (or --backward) graph\n"
    "  train --data D --model M  train a model on a data set, write model, history, plots\n"
    "  eval FILE [--data D]      score a model written by train on its data's test part\n"
    "  predict FILE [-o F.csv]   the model's predictions for that test part\n"
    "\n"
    "nabla COMMAND --help shows the details.\n";

static const char model_help[] =
    "MODEL is a layer list, e.g. \"flatten, dense 100 relu, dropout 0.3, dense 10 softmax\":\n"
    "  dense UNITS [ACT]   conv FILTERS KERNEL [ACT] [same|valid]   maxpool K [S]\n"
    "  avgpool K [S]   globalavgpool   globalmaxpool   flatten   dropout RATE\n"
    "  gaussiannoise SD   batchnorm   layernorm   rescaling SCALE [OFFSET]   ACT\n"
    "ACT: linear relu sigmoid tanh softmax leaky_relu elu gelu softplus\n"
    "SHAPE: the input without the batch axis: 784, 28x28, 1x28x28 (conv layers take\n"
    "       channels first, CxHxW)\n";

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
    nb_draw_opts o = {.backward = false, .max_values = 1, .title = "values and gradients"};
    if (!root || nb_draw_save(nb_set_name(root, "out"), &o, path) != NB_OK) {
        fprintf(stderr, "error: %s\n", nb_error());
        return 1;
    }
    printf("wrote %s\n", path);
    return 0;
}

static int grad(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return fputs(grad_usage, stdout), 0;
    if (argc < 1) return fputs(grad_usage, stderr), 2;
    const char *text = argv[0], *picture = NULL;
    nb_expr e;
    int column = 0;
    if (nb_expr_parse(text, &e, &column) != NB_OK) {
        fprintf(stderr, "error: %s\n  %s\n  %*s^\n", nb_error(), text, column, "");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dot") || !strcmp(argv[i], "--svg")) {
            if (i + 1 == argc) return fprintf(stderr, "error: %s needs a file name\n", argv[i]), 2;
            picture = argv[++i];
        } else if (!strncmp(argv[i], "--", 2)) {
            fprintf(stderr, "error: nabla grad: unknown option '%s'\n", argv[i]);
            return 2;
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
    return picture ? draw(&e, picture) : 0;
}

/* ---- model commands --------------------------------------------------------------- */
static int summary(int argc, char **argv) {
    static const char *const valued[] = {"--input", NULL}, *const flags[] = {"--help", "-h", NULL};
    if (cli_wants_help(argc, argv))
        return printf("usage: nabla summary MODEL --input SHAPE\n\n%s", model_help), 0;
    if (argc < 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: nabla summary MODEL --input SHAPE\n\n%s", model_help);
        return 2;
    }
    if (!cli_check("summary", argc - 1, argv + 1, &(cli_opts){valued, flags})) return 2;
    nb_model *m = cli_model_text(argv[0], cli_option(argc, argv, "--input"));
    if (!m) return 2;
    nb_model_summary(m, stdout);
    nb_model_free(m);
    return 0;
}

/* one sample of zeros through the model; with backward, the gradient of its sum */
/* the exit code of a command that wrote path (or failed with s) */
static int wrote(nb_status s, const char *path) {
    if (s != NB_OK) {
        fprintf(stderr, "error: %s\n", nb_error());
        return 1;
    }
    printf("wrote %s\n", path);
    return 0;
}

/* a batch of zeros the model takes */
static nb_tensor *zeros_batch(nb_model *m, int64_t batch) {
    int64_t shape[NB_MAX_DIMS] = {batch};
    int ndim = 0;
    const int64_t *in = nb_model_input_shape(m, &ndim);
    for (int i = 0; i < ndim; i++) shape[i + 1] = in[i];
    return nb_zeros(shape, ndim + 1);
}

int cli_draw_model(nb_model *m, const char *path, bool backward, const char *title) {
    nb_scope_begin();
    nb_tensor *probe = nb_set_name(zeros_batch(m, 1), "input");
    nb_tensor *y = nb_set_name(nb_model_forward(m, probe, true), "output");
    nb_tensor *root = y;
    if (y && backward) root = nb_set_name(nb_sum_all(y), "out");
    nb_status s = root ? NB_OK : nb_error_code();
    if (s == NB_OK && backward) s = nb_backward(root);
    nb_draw_opts o = {.backward = backward, .max_values = -1, .title = title};
    if (s == NB_OK) s = nb_draw_save(root, &o, path);
    nb_scope_end();
    return wrote(s, path);
}

/* One training step on a batch of 8 zeros (loss, adam), traced and compiled
 * as fit runs it: forward, backward, the gradients and the update. */
static int draw_step(nb_model *m, const char *spec, const char *path, const char *loss) {
    char act[32];
    cli_output_activation(spec, act, sizeof act);
    nb_scope_begin();
    nb_tensor *x = zeros_batch(m, 8), *y = nb_model_forward(m, x, false), *t = NULL;
    if (y && !loss)
        loss = nb_dim(y, nb_ndim(y) - 1) > 1 ? "sparse_categorical_crossentropy" : "mse";
    /* a linear output under a cross-entropy is logits (Keras's from_logits) */
    nb_compile_opts co = {.loss = loss,
                          .from_logits =
                              !strcmp(act, "linear") && loss && cli_is_crossentropy(loss),
                          .optimizer = y ? nb_optimizer_from_name("adam") : NULL};
    nb_status s = y ? nb_model_compile_ex(m, &co) : nb_error_code();
    if (s == NB_OK)
        t = !strcmp(loss, "sparse_categorical_crossentropy") ? nb_zeros(NB_SHAPE(8))
                                                             : nb_zeros_like(y);
    nb_graph *g = s == NB_OK && t ? nb_model_trace_step(m, x, t, NULL) : NULL;
    if (s == NB_OK) s = g ? nb_graph_draw_save(g, path) : nb_error_code();
    nb_graph_free(g);
    nb_scope_end();
    return wrote(s, path);
}

static const char draw_usage[] =
    "usage: nabla draw MODEL --input SHAPE [--backward | --step [--loss L]]\n"
    "                 -o FILE.svg|.png|.pdf|.dot\n\n"
    "--backward  the backward pass nb_backward walks\n"
    "--step      a whole training step (loss L, default sparse_categorical_crossentropy\n"
    "            for several outputs, else mse; adam) traced and compiled as fit runs\n"
    "            it: fused ops, gradients reaching the weights, the update\n\n";

static int draw_command(int argc, char **argv) {
    static const char *const valued[] = {"--input", "-o", "--loss", NULL};
    static const char *const flags[] = {"--help", "-h", "--backward", "--step", NULL};
    const char *out = cli_option(argc, argv, "-o");
    if (cli_wants_help(argc, argv)) return printf("%s%s", draw_usage, model_help), 0;
    if (argc < 1 || argv[0][0] == '-' || !out) {
        fprintf(stderr, "%s%s", draw_usage, model_help);
        return 2;
    }
    if (!cli_check("draw", argc - 1, argv + 1, &(cli_opts){valued, flags})) return 2;
    nb_model *m = cli_model_text(argv[0], cli_option(argc, argv, "--input"));
    if (!m) return 2;
    bool backward = cli_flag(argc, argv, "--backward");
    int rc = cli_flag(argc, argv, "--step")
                 ? draw_step(m, argv[0], out, cli_option(argc, argv, "--loss"))
                 : cli_draw_model(m, out, backward, backward ? "backward graph" : "forward graph");
    nb_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    int rc = -1;
    if (!strcmp(argv[1], "grad")) rc = grad(argc - 2, argv + 2);
    if (!strcmp(argv[1], "summary")) rc = summary(argc - 2, argv + 2);
    if (!strcmp(argv[1], "draw")) rc = draw_command(argc - 2, argv + 2);
    if (!strcmp(argv[1], "train")) rc = cli_train(argc - 2, argv + 2);
    if (!strcmp(argv[1], "eval")) rc = cli_eval(argc - 2, argv + 2);
    if (!strcmp(argv[1], "predict")) rc = cli_predict(argc - 2, argv + 2);
    if (rc >= 0) {
        nb_shutdown();
        return rc;
    }
    fprintf(stderr, "nabla: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
