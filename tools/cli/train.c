/* nabla train: a model trained on a data set's training part; the test part
 * stays out of it. The model file carries what it takes to find that part
 * again (keys "nabla.*": the layer list, the data, the seed and the split
 * fractions), and this file's cli_prepare rebuilds the same split for eval and
 * predict (cli_eval.c). */
#include "cli.h"

#include "nabla/plot.h"
#include "tools/data/data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define META_MAX 255 /* a metadata value of a safetensors file, without its NUL */

static const char train_usage[] =
    "usage: nabla train --data DATA --model MODEL [options]\n"
    "\n"
    "DATA: fashion-mnist, iris, wine, breast_cancer, digits, diabetes, boston, xor,\n"
    "      or a CSV file (with --label COLUMN: a header name or a number from 1;\n"
    "      default the last column; a header line is recognized by its words)\n"
    "      fashion-mnist tests on its own test file and validates on a stratified 20%\n"
    "      of its training file; the others are split by a seeded, stratified shuffle\n"
    "      into train / validation / test (60/20/20 by default), and\n"
    "      tabular features are standardized by the training part's mean and deviation\n"
    "options:\n"
    "  --loss L            mse, mae, huber, log_cosh, poisson (values);\n"
    "                      binary_crossentropy, categorical_crossentropy,\n"
    "                      sparse_categorical_crossentropy (classes); default from the output "
    "layer:\n"
    "                      1 sigmoid unit -> binary_crossentropy, softmax ->\n"
    "                      sparse_categorical_crossentropy, linear on values -> mse\n"
    "  --optimizer O       sgd, momentum, nesterov, adagrad, rmsprop, adam (default), adamw,\n"
    "                      nadam, adamax, adadelta (Keras's defaults)\n"
    "  --epochs N          1 to 100000 (default: 5 on fashion-mnist; elsewhere enough\n"
    "                      for about 500 steps, from 5 to 500 epochs)\n"
    "  --batch N           1 to 1048576 (default 32)\n"
    "  --validation-split F, --test-split F   0 to 0.9 each (default 0.2 each)\n"
    "  --seed N            of the split, the initial weights and the shuffles (default 42)\n"
    "  --subset N          train on the first N training rows only (a quick try)\n"
    "  --no-standardize    keep the features (and a regression's targets) as read\n"
    "  --out DIR           made if missing (default out): model.safetensors, history.csv,\n"
    "                      curves.svg, graph_forward.svg, graph_backward.svg\n\n";

static const char model_help[] =
    "MODEL is a layer list, e.g. \"flatten, dense 100 relu, dropout 0.3, dense 10 softmax\":\n"
    "  dense UNITS [ACT]   conv FILTERS KERNEL [ACT] [same|valid]   maxpool K [S]\n"
    "  avgpool K [S]   globalavgpool   globalmaxpool   flatten   dropout RATE\n"
    "  gaussiannoise SD   batchnorm   layernorm   rescaling SCALE [OFFSET]   ACT\n"
    "ACT: linear relu sigmoid tanh softmax leaky_relu elu gelu softplus\n";

/* ---- what the model is trained for ---------------------------------------------------- */
bool cli_is_crossentropy(const char *loss) {
    return strstr(loss, "crossentropy") != NULL;
}

/* The loss the output layer asks for (unless --loss names one), checked against the data. */
bool cli_pick_task(const char *spec, const char *loss, nb_model *m, const cli_data *d, task *t) {
    char act[32];
    cli_output_activation(spec, act, sizeof act);
    int64_t units = cli_output_units(m);
    int k = d->all.n_classes;
    memset(t, 0, sizeof *t);
    t->metric = d->classes ? "accuracy" : "mae";
    if (loss) {
        snprintf(t->loss, sizeof t->loss, "%s", loss);
    } else if (!d->classes) {
        snprintf(t->loss, sizeof t->loss, "mse");
    } else if (!strcmp(act, "sigmoid") && units == 1) {
        snprintf(t->loss, sizeof t->loss, "binary_crossentropy");
    } else if (!strcmp(act, "softmax") && units > 1) {
        snprintf(t->loss, sizeof t->loss, "sparse_categorical_crossentropy");
    } else if (!strcmp(act, "linear") && (units > 1 || k == 2)) {
        snprintf(t->loss, sizeof t->loss, "%s",
                 units > 1 ? "sparse_categorical_crossentropy" : "binary_crossentropy");
    } else {
        fprintf(stderr,
                "error: %s has %d classes, and the model ends in %lld %s unit%s: end it with "
                "\"dense %d softmax\"%s (or name a --loss)\n",
                d->name, k, (long long)units, act, units == 1 ? "" : "s", k,
                k == 2 ? " or \"dense 1 sigmoid\"" : "");
        return false;
    }
    bool binary = !strcmp(t->loss, "binary_crossentropy");
    if (d->classes && !strcmp(t->loss, "sparse_categorical_crossentropy") && units < k) {
        fprintf(stderr, "error: %s has %d classes; the model's output has %lld units\n", d->name, k,
                (long long)units);
        return false;
    }
    if (d->classes && binary && (units != 1 || k != 2)) {
        fprintf(stderr,
                "error: binary_crossentropy takes 2 classes and 1 output unit; %s has %d "
                "classes and the model %lld units\n",
                d->name, k, (long long)units);
        return false;
    }
    if (!d->classes && (cli_is_crossentropy(t->loss) || units != 1)) {
        fprintf(stderr,
                "error: %s holds values: end the model with \"dense 1\" and use mse, mae, "
                "huber, log_cosh or poisson\n",
                d->name);
        return false;
    }
    t->column_y = binary || !d->classes;
    /* Keras's from_logits: a linear output is not a probability */
    t->from_logits = d->classes && !strcmp(act, "linear") && cli_is_crossentropy(t->loss);
    return true;
}

nb_status cli_compile(nb_model *m, const task *t, nb_optimizer *o, const char *metric) {
    return nb_model_compile_ex(m, &(nb_compile_opts){.loss = t->loss,
                                                     .from_logits = t->from_logits,
                                                     .optimizer = o,
                                                     .metrics = (const char *[]){metric},
                                                     .n_metrics = 1});
}

/* y [N] as the loss takes it: [N, 1] for one output unit */
nb_tensor *cli_targets(const task *t, nb_tensor *y) {
    if (!y || !t->column_y) return y;
    return nb_reshape(y, (int64_t[]){nb_dim(y, 0), 1}, 2);
}

/* ---- saving ------------------------------------------------------------------------------- */
typedef struct meta {
    const char *keys[16], *values[16];
    char text[6][META_MAX + 1];
    int n;
} meta;

static void put(meta *mt, const char *key, const char *value) {
    mt->keys[mt->n] = key;
    mt->values[mt->n++] = value;
}

/* The model into dir; when that fails, into a fallback path the message names. */
static int save_model(nb_model *m, const char *dir, const meta *mt) {
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (nb_model_save_ex(m, path, mt->keys, mt->values, mt->n) == NB_OK) {
        printf("wrote %s\n", path);
        return 0;
    }
    fprintf(stderr, "error: %s\n", nb_error());
    const char *tmp = getenv("TMPDIR");
    const char *places[] = {".", tmp && *tmp ? tmp : "/tmp"};
    for (int i = 0; i < 2; i++) {
        char fallback[4200];
        snprintf(fallback, sizeof fallback, "%s/nabla-model-%ld.safetensors", places[i],
                 (long)getpid());
        if (nb_model_save_ex(m, fallback, mt->keys, mt->values, mt->n) == NB_OK) {
            fprintf(stderr, "the trained model is saved in %s instead\n", fallback);
            return 1;
        }
    }
    fprintf(stderr, "error: the trained model could not be saved anywhere: %s\n", nb_error());
    return 1;
}

static int write_outputs(nb_model *m, nb_history *h, const char *dir, const char *spec,
                         const meta *mt) {
    char path[4200];
    if (save_model(m, dir, mt)) return 1;
    snprintf(path, sizeof path, "%s/history.csv", dir);
    if (nb_history_save_csv(h, path) != NB_OK) return fprintf(stderr, "error: %s\n", nb_error()), 1;
    printf("wrote %s\n", path);
    snprintf(path, sizeof path, "%s/curves.svg", dir);
    if (nb_history_plot_svg(h, path, spec) != NB_OK)
        return fprintf(stderr, "error: %s\n", nb_error()), 1;
    printf("wrote %s\n", path);
    snprintf(path, sizeof path, "%s/graph_forward.svg", dir);
    if (cli_draw_model(m, path, false, "the trained model: forward")) return 1;
    snprintf(path, sizeof path, "%s/graph_backward.svg", dir);
    return cli_draw_model(m, path, true, "the trained model: backward");
}

/* ---- the data and the model, the same way for train, eval and predict ------------------ */
const setup cli_setup_defaults = {.seed = 42, .validation = 0.2, .test = 0.2, .standardize = true};

static bool is_conv_first(const char *spec) {
    while (*spec == ' ') spec++;
    return !strncmp(spec, "conv", 4);
}

/* A regression's targets, standardized like its features: the spec as given plus
 * a last layer "rescaling DEVIATION MEAN" that maps the model's standardized
 * output back to the targets' units, so that the loss, the metrics, eval and
 * predict all speak in those units while the layers below learn numbers near
 * 0 and 1 (diabetes' targets run from 25 to 346). */
static bool regression_spec(const setup *s, cli_data *d, char *spec, size_t n) {
    int64_t rows = d->y[0] ? nb_numel(d->y[0]) : 0;
    if (!s->standardize || d->classes || rows < 2 || nb_numel(d->y[0]) != d->n[0]) {
        if (strlen(s->spec) >= n) return fprintf(stderr, "error: --model is too long\n"), false;
        snprintf(spec, n, "%s", s->spec);
        return true;
    }
    nb_scaler ys; /* the features' scaler, on the targets as one column */
    nb_tensor *column = nb_reshape(d->y[0], (int64_t[]){rows, 1}, 2);
    if (!column || nb_standard_scaler_fit(column, &ys) != NB_OK)
        return fprintf(stderr, "error: %s\n", nb_error()), false;
    double mean = nb_get_flat(ys.shift, 0), dev = nb_get_flat(ys.scale, 0); /* 0 became 1 */
    if ((size_t)snprintf(spec, n, "%s, rescaling %.9g %.9g", s->spec, dev, mean) >= n)
        return fprintf(stderr, "error: --model is too long\n"), false;
    d->target_mean = mean, d->target_deviation = dev;
    return true;
}

/* The data split as s says and the model: given (a whole-model file, owned from
 * here on) or built from s->spec. */
nb_model *cli_prepare(const setup *s, nb_model *given, cli_data *d, task *t, char *input,
                      size_t n) {
    char act[32] = "linear";
    int in_ndim = 0;
    if (s->spec) cli_output_activation(s->spec, act, sizeof act);
    if (given) nb_model_input_shape(given, &in_ndim);
    bool conv = s->spec ? is_conv_first(s->spec) : in_ndim == 3;
    bool classes = !strcmp(act, "softmax") || !strcmp(act, "sigmoid") ||
                   (s->loss && cli_is_crossentropy(s->loss));
    bool ok = cli_data_load(d, s->data, s->label, classes);
    nb_manual_seed((uint64_t)s->seed);
    ok = ok && cli_data_split(d, (uint64_t)s->seed, s->validation, s->test) &&
         (!s->standardize || cli_data_standardize(d)) && cli_data_subset(d, s->subset) &&
         (!conv || cli_data_add_channel(d));
    if (ok && s->input)
        snprintf(input, n, "%s", s->input);
    else if (ok)
        cli_shape_text(d->x[0], input, n);
    char spec[4096];
    if (ok && !given) ok = regression_spec(s, d, spec, sizeof spec);
    nb_model *m = given ? given : ok ? cli_model_text(spec, input) : NULL;
    if (m && (!ok || !cli_pick_task(s->spec ? s->spec : "", s->loss, m, d, t))) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

/* the long options every data command takes, and train's own numbers */
bool cli_parse_split(int argc, char **argv, setup *s) {
    return cli_long("--seed", cli_option(argc, argv, "--seed"), 0, 4294967295LL, &s->seed) &&
           cli_real("--validation-split", cli_option(argc, argv, "--validation-split"), 0, 0.9,
                    &s->validation) &&
           cli_real("--test-split", cli_option(argc, argv, "--test-split"), 0, 0.9, &s->test);
}

/* 5 epochs of Fashion-MNIST's 48,000 rows are 7,500 steps; a set of a few hundred rows
 * gets as many epochs as make about 500 steps, what Adam's default rate needs to fit the
 * course's small sets (wine: 4 steps an epoch, 125 epochs; xor: 500) */
static long long default_epochs(const cli_data *d, long long batch) {
    long long steps = (d->n[0] + batch - 1) / batch, e = (500 + steps - 1) / (steps ? steps : 1);
    if (nb_dataset_same_name(d->name, "fashion-mnist")) return 5;
    return e < 5 ? 5 : e > 500 ? 500 : e;
}

static bool fits_metadata(const char *what, const char *text) {
    if (!text || strlen(text) <= META_MAX) return true;
    fprintf(stderr, "error: %s is %zu characters; a model file keeps at most %d\n", what,
            strlen(text), META_MAX);
    return false;
}

int cli_train(int argc, char **argv) {
    static const char *const valued[] = {
        "--data",  "--model", "--loss",   "--optimizer",        "--epochs",
        "--batch", "--seed",  "--subset", "--validation-split", "--test-split",
        "--out",   "--label", NULL};
    static const char *const flags[] = {"--help", "-h", "--no-standardize", NULL};
    if (cli_wants_help(argc, argv)) return printf("%s%s", train_usage, model_help), 0;
    setup s = cli_setup_defaults;
    s.data = cli_option(argc, argv, "--data"), s.spec = cli_option(argc, argv, "--model");
    s.loss = cli_option(argc, argv, "--loss"), s.label = cli_option(argc, argv, "--label");
    s.standardize = !cli_flag(argc, argv, "--no-standardize");
    const char *dir = cli_option(argc, argv, "--out") ? cli_option(argc, argv, "--out") : "out";
    const char *opt = cli_option(argc, argv, "--optimizer");
    long long epochs = 5, batch = 32;
    if (!cli_check("train", argc, argv, &(cli_opts){valued, flags})) return 2;
    if (!s.data || !s.spec) {
        fprintf(stderr, "%s%s", train_usage, model_help);
        return 2;
    }
    if (!cli_long("--epochs", cli_option(argc, argv, "--epochs"), 1, 100000, &epochs) ||
        !cli_long("--batch", cli_option(argc, argv, "--batch"), 1, 1 << 20, &batch) ||
        !cli_long("--subset", cli_option(argc, argv, "--subset"), 1, INT32_MAX, &s.subset) ||
        !cli_parse_split(argc, argv, &s) || !fits_metadata("--model", s.spec) ||
        !fits_metadata("--data", s.data))
        return 2;
    nb_optimizer *o = nb_optimizer_from_name(opt ? opt : "adam");
    if (!o) return fprintf(stderr, "error: %s\n", nb_error()), 2;
    if (!cli_make_dir(dir)) return nb_optimizer_free(o), 1;

    cli_data d;
    task t;
    char input[64];
    nb_model *m = cli_prepare(&s, NULL, &d, &t, input, sizeof input);
    int rc = m ? 0 : 2;
    if (m && cli_compile(m, &t, o, t.metric) != NB_OK) {
        fprintf(stderr, "error: %s\n", nb_error());
        rc = 2;
    }
    o = m ? NULL : o; /* the model owns it once compile was called */
    nb_history *h = NULL;
    if (rc == 0) {
        nb_model_summary(m, stdout);
        cli_data_describe(&d, stdout);
        printf("loss: %s%s, metric: %s\n", t.loss, t.from_logits ? " (from_logits)" : "", t.metric);
        if (!cli_option(argc, argv, "--epochs")) {
            epochs = default_epochs(&d, batch);
            printf("epochs: %lld (the default for %lld training rows in batches of %lld; --epochs "
                   "N sets it)\n",
                   epochs, (long long)d.n[0], batch);
        }
        /* verbose auto: a bar on a terminal, one line per epoch in a pipe or a log */
        nb_fit_opts fo = {.epochs = (int)epochs,
                          .batch_size = (int)batch,
                          .verbose = NB_VERBOSE_AUTO,
                          .val_x = d.x[1],
                          .val_y = cli_targets(&t, d.y[1])};
        h = nb_model_fit(m, d.x[0], cli_targets(&t, d.y[0]), &fo);
        if (!h) fprintf(stderr, "error: %s\n", nb_error()), rc = 1;
    }
    if (rc == 0) {
        meta mt = {.n = 0};
        snprintf(mt.text[0], META_MAX + 1, "%lld", s.seed);
        snprintf(mt.text[1], META_MAX + 1, "%.17g,%.17g,%.17g", d.fractions[0], d.fractions[1],
                 d.fractions[2]);
        snprintf(mt.text[2], META_MAX + 1, "%d", d.classes ? d.all.n_classes : 0);
        put(&mt, "nabla.model", s.spec), put(&mt, "nabla.input", input);
        put(&mt, "nabla.loss", t.loss), put(&mt, "nabla.metrics", t.metric);
        put(&mt, "nabla.data", s.data), put(&mt, "nabla.label", s.label ? s.label : "");
        put(&mt, "nabla.seed", mt.text[0]), put(&mt, "nabla.split", mt.text[1]);
        put(&mt, "nabla.classes", mt.text[2]);
        put(&mt, "nabla.standardize", d.standardized ? "yes" : "no");
        rc = write_outputs(m, h, dir, s.spec, &mt);
    }
    nb_optimizer_free(o);
    nb_history_free(h);
    nb_model_free(m);
    cli_data_free(&d);
    return rc;
}
