/* The nabla command.
 *
 *   nabla grad EXPR NAME=VALUE... [--dot FILE] [--svg FILE]
 *   nabla summary MODEL --input SHAPE
 *   nabla dot MODEL --input SHAPE [--backward] -o FILE.svg
 *   nabla train --data DATA --model MODEL [options] --out DIR
 *   nabla eval DIR/model.safetensors --data DATA
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 */
#include "expr.h"
#include "model_spec.h"

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
    "  dot MODEL --input S -o F  draw the model's forward (or --backward) graph\n"
    "  train --data D --model M  train a model on a data set, write model, history, plots\n"
    "  eval FILE --data D        evaluate a model written by train\n"
    "\n"
    "nabla COMMAND --help shows the details.\n";

static const char model_help[] =
    "MODEL is a layer list, e.g. \"flatten, dense 100 relu, dropout 0.3, dense 10 softmax\":\n"
    "  dense UNITS [ACT]   conv FILTERS KERNEL [ACT] [same|valid]   maxpool K [S]\n"
    "  avgpool K [S]   flatten   dropout RATE   batchnorm   ACT\n"
    "ACT: linear relu sigmoid tanh softmax leaky_relu elu gelu softplus\n"
    "SHAPE: the input without the batch axis: 784, 28x28, 1x28x28\n";

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

/* ---- model commands --------------------------------------------------------------- */
static const char *option(int argc, char **argv, const char *name) {
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

static bool flag(int argc, char **argv, const char *name) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], name)) return true;
    return false;
}

static bool wants_help(int argc, char **argv) {
    return flag(argc, argv, "--help") || flag(argc, argv, "-h");
}

/* MODEL --input SHAPE -> a model, or NULL with the error printed */
static nb_model *model_arg(const char *spec, const char *input) {
    int64_t shape[NB_MAX_DIMS];
    int ndim = 0, column = -1;
    if (!input) {
        fprintf(stderr, "error: --input SHAPE is required (e.g. --input 28x28)\n");
        return NULL;
    }
    if (!nb_parse_shape(input, shape, &ndim)) {
        fprintf(stderr, "error: %s\n", nb_error());
        return NULL;
    }
    nb_model *m = nb_model_from_spec(spec, shape, ndim, &column);
    if (!m) {
        fprintf(stderr, "error: %s\n", nb_error());
        if (column >= 0) fprintf(stderr, "  %s\n  %*s^\n", spec, column, "");
    }
    return m;
}

static int summary(int argc, char **argv) {
    if (argc < 1 || wants_help(argc, argv)) {
        fprintf(argc < 1 ? stderr : stdout, "usage: nabla summary MODEL --input SHAPE\n\n%s",
                model_help);
        return argc < 1 ? 2 : 0;
    }
    nb_model *m = model_arg(argv[0], option(argc, argv, "--input"));
    if (!m) return 2;
    nb_model_summary(m, stdout);
    nb_model_free(m);
    nb_shutdown();
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

static int draw_model(nb_model *m, const char *path, bool backward, const char *title) {
    nb_scope_begin();
    nb_tensor *probe = nb_set_name(zeros_batch(m, 1), "input");
    nb_tensor *y = nb_set_name(nb_model_forward(m, probe, true), "output");
    nb_tensor *root = y;
    if (y && backward) root = nb_set_name(nb_sum_all(y), "out");
    nb_status s = root ? NB_OK : nb_error_code();
    if (s == NB_OK && backward) s = nb_backward(root);
    nb_dot_opts o = {.backward = backward, .max_values = -1, .title = title};
    if (s == NB_OK) s = nb_dot_save(root, &o, path);
    nb_scope_end();
    return wrote(s, path);
}

/* One training step on a batch of 8 zeros (loss, adam), traced and compiled
 * as fit runs it: forward, backward, the gradients and the update. */
static int draw_step(nb_model *m, const char *path, const char *loss) {
    nb_scope_begin();
    nb_tensor *x = zeros_batch(m, 8), *y = nb_model_forward(m, x, false), *t = NULL;
    if (y && !loss)
        loss = nb_dim(y, nb_ndim(y) - 1) > 1 ? "sparse_categorical_crossentropy" : "mse";
    nb_status s =
        y ? nb_model_compile(m, loss, nb_optimizer_from_name("adam"), NULL, 0) : nb_error_code();
    if (s == NB_OK)
        t = !strcmp(loss, "sparse_categorical_crossentropy") ? nb_zeros(NB_SHAPE(8))
                                                             : nb_zeros_like(y);
    nb_graph *g = s == NB_OK && t ? nb_model_trace_step(m, x, t, NULL) : NULL;
    if (s == NB_OK) s = g ? nb_graph_save_dot(g, path) : nb_error_code();
    nb_graph_free(g);
    nb_scope_end();
    return wrote(s, path);
}

static int dot(int argc, char **argv) {
    const char *out = option(argc, argv, "-o");
    if (argc < 1 || wants_help(argc, argv) || !out) {
        fprintf(
            argc < 1 || !out ? stderr : stdout,
            "usage: nabla dot MODEL --input SHAPE [--backward | --step [--loss L]]\n"
            "                 -o FILE.svg|.png|.pdf|.dot\n\n"
            "--backward  the backward pass nb_backward walks\n"
            "--step      a whole training step (loss L, default sparse_categorical_crossentropy\n"
            "            for several outputs, else mse; adam) traced and compiled as fit runs\n"
            "            it: fused ops, gradients reaching the weights, the update\n\n%s",
            model_help);
        return argc < 1 || !out ? 2 : 0;
    }
    nb_model *m = model_arg(argv[0], option(argc, argv, "--input"));
    if (!m) return 2;
    bool backward = flag(argc, argv, "--backward");
    int rc = flag(argc, argv, "--step")
                 ? draw_step(m, out, option(argc, argv, "--loss"))
                 : draw_model(m, out, backward, backward ? "backward graph" : "forward graph");
    nb_model_free(m);
    nb_shutdown();
    return rc;
}

static const char train_usage[] =
    "usage: nabla train --data DATA --model MODEL [--loss L] [--optimizer O]\n"
    "                   [--epochs N] [--batch N] [--validation-split F] [--out DIR]\n"
    "\n"
    "DATA: fashion-mnist, iris, wine, breast_cancer, digits, diabetes, boston, xor\n"
    "      (fashion-mnist validates on its test set, the others on a 20% split)\n"
    "L: mse, mae, binary_crossentropy, categorical_crossentropy,\n"
    "   sparse_categorical_crossentropy (default for classes; mse for values)\n"
    "O: sgd, momentum, nesterov, adagrad, rmsprop, adam (default), adamw\n"
    "DIR (default out/): model.safetensors, history.csv, curves.svg,\n"
    "      graph_forward.svg, graph_backward.svg\n\n";

static int write_outputs(nb_model *m, nb_history *h, const char *dir, const char *spec,
                         const char *input, const char *loss, const char *data) {
    char path[4096];
    const char *keys[] = {"nabla.model", "nabla.input", "nabla.loss", "nabla.data"};
    const char *values[] = {spec, input, loss, data};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (nb_model_save_weights_meta(m, path, keys, values, 4) != NB_OK) return 1;
    printf("wrote %s\n", path);
    snprintf(path, sizeof path, "%s/history.csv", dir);
    if (nb_history_save_csv(h, path) != NB_OK) return 1;
    printf("wrote %s\n", path);
    snprintf(path, sizeof path, "%s/curves.svg", dir);
    if (nb_history_plot_svg(h, path, spec) != NB_OK) return 1;
    printf("wrote %s\n", path);
    snprintf(path, sizeof path, "%s/graph_forward.svg", dir);
    if (draw_model(m, path, false, "the trained model: forward")) return 1;
    snprintf(path, sizeof path, "%s/graph_backward.svg", dir);
    return draw_model(m, path, true, "the trained model: backward");
}

/* the data set's samples and, for fashion-mnist, its test set */
static bool load_data(const char *name, nb_dataset *train, nb_dataset *test) {
    char test_name[64];
    if (nb_dataset_load(name, train) != NB_OK) return false;
    snprintf(test_name, sizeof test_name, "%s-test", name);
    if (!strncmp(name, "fashion", 7) && nb_dataset_load(test_name, test) != NB_OK) return false;
    return true;
}

static void shape_text(const nb_tensor *x, char *buf, size_t n) {
    size_t at = 0;
    for (int i = 1; i < nb_ndim(x) && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, i > 1 ? "x%lld" : "%lld", (long long)nb_dim(x, i));
}

static int train(int argc, char **argv) {
    const char *data = option(argc, argv, "--data"), *spec = option(argc, argv, "--model");
    if (wants_help(argc, argv) || !data || !spec) {
        fprintf(!data || !spec ? stderr : stdout, "%s%s", train_usage, model_help);
        return !data || !spec ? 2 : 0;
    }
    const char *dir = option(argc, argv, "--out") ? option(argc, argv, "--out") : "out";
    const char *opt =
        option(argc, argv, "--optimizer") ? option(argc, argv, "--optimizer") : "adam";
    int epochs = option(argc, argv, "--epochs") ? atoi(option(argc, argv, "--epochs")) : 5;
    int batch = option(argc, argv, "--batch") ? atoi(option(argc, argv, "--batch")) : 32;
    float split = option(argc, argv, "--validation-split")
                      ? (float)atof(option(argc, argv, "--validation-split"))
                      : 0.2f;
    if (epochs < 1 || batch < 1) {
        fprintf(stderr, "error: --epochs and --batch must be positive\n");
        return 2;
    }
    nb_manual_seed(42);
    nb_dataset tr = {0}, te = {0};
    if (!load_data(data, &tr, &te)) {
        fprintf(stderr, "error: %s\n", nb_error());
        return 1;
    }
    const char *loss = option(argc, argv, "--loss");
    if (!loss) loss = tr.n_classes > 0 ? "sparse_categorical_crossentropy" : "mse";
    char input[64];
    shape_text(tr.x, input, sizeof input);
    nb_model *m = model_arg(spec, input);
    if (!m) return 2;
    nb_optimizer *o = nb_optimizer_from_name(opt);
    bool classes = tr.n_classes > 0;
    nb_tensor *y = classes ? tr.y : nb_reshape(tr.y, (int64_t[]){nb_dim(tr.y, 0), 1}, 2);
    if (!o ||
        nb_model_compile(m, loss, o, (const char *[]){classes ? "accuracy" : "mae"}, 1) != NB_OK) {
        fprintf(stderr, "error: %s\n", nb_error());
        return 2;
    }
    nb_model_summary(m, stdout);
    nb_fit_opts fo = {.epochs = epochs, .batch_size = batch, .verbose = 1};
    if (te.x)
        fo.val_x = te.x, fo.val_y = te.y;
    else
        fo.validation_split = split;
    nb_history *h = nb_model_fit(m, tr.x, y, &fo);
    int rc = h ? write_outputs(m, h, dir, spec, input, loss, data) : 1;
    if (rc) fprintf(stderr, "error: %s\n", nb_error());
    nb_history_free(h);
    nb_model_free(m);
    nb_dataset_free(&tr);
    nb_dataset_free(&te);
    nb_shutdown();
    return rc;
}

static int eval(int argc, char **argv) {
    const char *data = option(argc, argv, "--data");
    if (argc < 1 || wants_help(argc, argv) || !data) {
        fprintf(argc < 1 || !data ? stderr : stdout,
                "usage: nabla eval DIR/model.safetensors --data DATA\n"
                "evaluates a model written by nabla train on DATA's test set (or all of DATA)\n");
        return argc < 1 || !data ? 2 : 0;
    }
    nb_safetensors *f = nb_safetensors_read(argv[0]);
    const char *spec = f ? nb_safetensors_meta(f, "nabla.model") : NULL;
    const char *input = f ? nb_safetensors_meta(f, "nabla.input") : NULL;
    const char *loss = f ? nb_safetensors_meta(f, "nabla.loss") : NULL;
    if (!spec || !input || !loss) {
        fprintf(stderr, "error: %s\n",
                f ? "the file has no nabla.model/input/loss metadata (was "
                    "it written by nabla train?)"
                  : nb_error());
        nb_safetensors_free(f);
        return 1;
    }
    nb_model *m = model_arg(spec, input);
    nb_dataset tr = {0}, te = {0};
    nb_status s = m && nb_model_compile(m, loss, NULL, (const char *[]){"accuracy"}, 1) == NB_OK
                      ? nb_model_load_weights(m, argv[0])
                      : nb_error_code();
    if (s == NB_OK && !load_data(data, &tr, &te)) s = nb_error_code();
    nb_dataset *d = te.x ? &te : &tr;
    double v[2];
    if (s == NB_OK && nb_model_evaluate(m, d->x, d->y, 256, v, 2) != 2) s = nb_error_code();
    if (s == NB_OK) {
        printf("%s on %s (%lld samples): loss %.4f, accuracy %.4f\n", spec, data,
               (long long)nb_dim(d->x, 0), v[0], v[1]);
        if (d->n_classes > 0) {
            nb_tensor *pred = nb_argmax(nb_model_predict(m, d->x, 256), 1, false);
            nb_tensor *cm = nb_confusion_matrix(d->y, pred, d->n_classes);
            nb_print(cm);
            nb_classification_report(stdout, cm, (const char *const *)d->class_names);
        }
    } else {
        fprintf(stderr, "error: %s\n", nb_error());
    }
    nb_safetensors_free(f);
    nb_model_free(m);
    nb_dataset_free(&tr);
    nb_dataset_free(&te);
    nb_shutdown();
    return s == NB_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "grad")) return grad(argc - 2, argv + 2);
    if (!strcmp(argv[1], "summary")) return summary(argc - 2, argv + 2);
    if (!strcmp(argv[1], "dot")) return dot(argc - 2, argv + 2);
    if (!strcmp(argv[1], "train")) return train(argc - 2, argv + 2);
    if (!strcmp(argv[1], "eval")) return eval(argc - 2, argv + 2);
    fprintf(stderr, "nabla: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
