/* nabla train, eval and predict: a model trained on a data set's training
 * part, then scored on the test part that training never saw. The model file
 * carries what it takes to find that part again: the layer list, the data,
 * the seed and the split fractions (keys "nabla.*" in its metadata). */
#include "cli.h"

#include "../core/core_internal.h"
#include "nabla/plot.h"

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
    "  --loss L            mse, mae, binary_crossentropy, categorical_crossentropy,\n"
    "                      sparse_categorical_crossentropy; default from the output layer:\n"
    "                      1 sigmoid unit -> binary_crossentropy, softmax ->\n"
    "                      sparse_categorical_crossentropy, linear on values -> mse\n"
    "  --optimizer O       sgd, momentum, nesterov, adagrad, rmsprop, adam (default), adamw\n"
    "  --epochs N          1 to 100000 (default 5)\n"
    "  --batch N           1 to 1048576 (default 32)\n"
    "  --validation-split F, --test-split F   0 to 0.9 each (default 0.2 each)\n"
    "  --seed N            of the split, the initial weights and the shuffles (default 42)\n"
    "  --subset N          train on the first N training rows only (a quick try)\n"
    "  --no-standardize    keep the features as read\n"
    "  --out DIR           made if missing (default out): model.safetensors, history.csv,\n"
    "                      curves.svg, graph_forward.svg, graph_backward.svg\n\n";

static const char model_help[] =
    "MODEL is a layer list, e.g. \"flatten, dense 100 relu, dropout 0.3, dense 10 softmax\":\n"
    "  dense UNITS [ACT]   conv FILTERS KERNEL [ACT] [same|valid]   maxpool K [S]\n"
    "  avgpool K [S]   flatten   dropout RATE   batchnorm   ACT\n"
    "ACT: linear relu sigmoid tanh softmax leaky_relu elu gelu softplus\n";

static const char eval_usage[] =
    "usage: nabla eval FILE [--data DATA] [--label COLUMN]\n"
    "       nabla eval FILE --model MODEL --input SHAPE --data DATA [--loss L]\n"
    "                       [--seed N] [--validation-split F] [--test-split F]\n"
    "\n"
    "Scores a model written by nabla train on the test part of its data: the rows\n"
    "training never saw, found again from the seed and split in the file (for\n"
    "fashion-mnist, its test file). DATA defaults to the one the model was trained on.\n"
    "A bare weights file (nb_model_save_weights) needs --model and --input; its test\n"
    "part is the one nabla train makes with the same --seed and splits.\n"
    "Prints the loss and the metrics the model was compiled with; for classes, the\n"
    "confusion matrix and the classification report.\n";

static const char predict_usage[] =
    "usage: nabla predict FILE [--data DATA] [-o predictions.csv]\n"
    "       (and --model, --input, --loss, --seed, --validation-split, --test-split as eval)\n"
    "\n"
    "Writes one CSV line per row of DATA's test part (the rows eval scores): its\n"
    "index in DATA, the prediction (a class id or a value), the true label, and for\n"
    "classes each class's probability.\n"
    "Without -o the lines go to stdout.\n";

/* ---- what the model is trained for ---------------------------------------------------- */
typedef struct task {
    char loss[64];
    const char *metric; /* "accuracy" or "mae" */
    bool column_y;      /* targets [N, 1] for outputs [N, 1] */
} task;

static bool is_crossentropy(const char *loss) {
    return strstr(loss, "crossentropy") != NULL;
}

/* The loss the output layer asks for (unless --loss names one), checked against the data. */
static bool pick_task(const char *spec, const char *loss, nb_model *m, const cli_data *d, task *t) {
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
    if (!d->classes && (is_crossentropy(t->loss) || units != 1)) {
        fprintf(stderr,
                "error: %s holds values: end the model with \"dense 1\" and use mse or "
                "mae\n",
                d->name);
        return false;
    }
    t->column_y = binary || !d->classes;
    return true;
}

/* y [N] as the loss takes it: [N, 1] for one output unit */
static nb_tensor *targets(const task *t, nb_tensor *y) {
    if (!y || !t->column_y) return y;
    return nb_reshape(y, (int64_t[]){nb_dim(y, 0), 1}, 2);
}

/* ---- progress in a pipe: one line per epoch, never a carriage return ------------------- */
static bool epoch_line(nb_model *m, const nb_epoch_logs *logs, void *ctx) {
    (void)m;
    printf("epoch %d/%d", logs->epoch + 1, *(int *)ctx);
    for (int i = 0; i < logs->n; i++) printf(" - %s: %.4f", logs->names[i], logs->values[i]);
    printf("\n");
    fflush(stdout);
    return false;
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
typedef struct setup {
    const char *spec, *input, *data, *label, *loss;
    long long seed, subset;
    double validation, test;
    bool standardize;
    nb_safetensors *file; /* eval and predict: the model file (its metadata backs the texts) */
} setup;

static const setup setup_defaults = {
    .seed = 42, .validation = 0.2, .test = 0.2, .standardize = true};

static bool is_conv_first(const char *spec) {
    while (*spec == ' ') spec++;
    return !strncmp(spec, "conv", 4);
}

/* The data split as s says and the model: given (a whole-model file, owned from
 * here on) or built from s->spec. */
static nb_model *prepare(const setup *s, nb_model *given, cli_data *d, task *t, char *input,
                         size_t n) {
    char act[32] = "linear";
    int in_ndim = 0;
    if (s->spec) cli_output_activation(s->spec, act, sizeof act);
    if (given) nb_model_input_shape(given, &in_ndim);
    bool conv = s->spec ? is_conv_first(s->spec) : in_ndim == 3;
    bool classes =
        !strcmp(act, "softmax") || !strcmp(act, "sigmoid") || (s->loss && is_crossentropy(s->loss));
    bool ok = cli_data_load(d, s->data, s->label, classes);
    nb_manual_seed((uint64_t)s->seed);
    ok = ok && cli_data_split(d, (uint64_t)s->seed, s->validation, s->test) &&
         (!s->standardize || cli_data_standardize(d)) && cli_data_subset(d, s->subset) &&
         (!conv || cli_data_add_channel(d));
    if (ok && s->input)
        snprintf(input, n, "%s", s->input);
    else if (ok)
        cli_shape_text(d->x[0], input, n);
    nb_model *m = given ? given : ok ? cli_model_text(s->spec, input) : NULL;
    if (m && (!ok || !pick_task(s->spec ? s->spec : "", s->loss, m, d, t))) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

/* the long options every data command takes, and train's own numbers */
static bool parse_split(int argc, char **argv, setup *s) {
    return cli_long("--seed", cli_option(argc, argv, "--seed"), 0, 4294967295LL, &s->seed) &&
           cli_real("--validation-split", cli_option(argc, argv, "--validation-split"), 0, 0.9,
                    &s->validation) &&
           cli_real("--test-split", cli_option(argc, argv, "--test-split"), 0, 0.9, &s->test);
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
    setup s = setup_defaults;
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
        !parse_split(argc, argv, &s) || !fits_metadata("--model", s.spec) ||
        !fits_metadata("--data", s.data))
        return 2;
    nb_optimizer *o = nb_optimizer_from_name(opt ? opt : "adam");
    if (!o) return fprintf(stderr, "error: %s\n", nb_error()), 2;
    if (!cli_make_dir(dir)) return nb_optimizer_free(o), 1;

    cli_data d;
    task t;
    char input[64];
    nb_model *m = prepare(&s, NULL, &d, &t, input, sizeof input);
    int rc = m ? 0 : 2;
    const char *metrics[] = {t.metric};
    if (m && nb_model_compile(m, t.loss, o, metrics, 1) != NB_OK) {
        fprintf(stderr, "error: %s\n", nb_error());
        rc = 2;
    }
    o = m ? NULL : o; /* the model owns it once compile was called */
    nb_history *h = NULL;
    if (rc == 0) {
        nb_model_summary(m, stdout);
        cli_data_describe(&d, stdout);
        printf("loss: %s, metric: %s\n", t.loss, t.metric);
        int total = (int)epochs;
        nb_callback line = {.on_epoch_end = epoch_line, .ctx = &total};
        bool tty = isatty(STDOUT_FILENO);
        nb_fit_opts fo = {.epochs = (int)epochs,
                          .batch_size = (int)batch,
                          .verbose = tty ? 1 : NB_SILENT,
                          .callbacks = tty ? NULL : &line,
                          .n_callbacks = tty ? 0 : 1,
                          .val_x = d.x[1],
                          .val_y = targets(&t, d.y[1])};
        h = nb_model_fit(m, d.x[0], targets(&t, d.y[0]), &fo);
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

/* ---- eval and predict ---------------------------------------------------------------------- */
static const char *const scoring_valued[] = {
    "--data",       "--label", "--model", "--input", "--loss", "--seed", "--validation-split",
    "--test-split", "-o",      NULL};
static const char *const scoring_flags[] = {"--help", "-h", NULL};

/* a value from the command line, else from the file */
static const char *either(int argc, char **argv, const char *name, const nb_safetensors *f,
                          const char *key) {
    const char *v = cli_option(argc, argv, name);
    return v ? v : nb_safetensors_meta(f, key);
}

/* The setup a model file records (options override it), and the file itself. */
static bool recorded_setup(const char *cmd, int argc, char **argv, nb_safetensors **file,
                           setup *s) {
    *s = setup_defaults;
    if (!cli_check(cmd, argc - 1, argv + 1, &(cli_opts){scoring_valued, scoring_flags}))
        return false;
    nb_safetensors *f = *file = nb_safetensors_read(argv[0]);
    if (!f) return fprintf(stderr, "error: %s\n", nb_error()), false;
    s->spec = either(argc, argv, "--model", f, "nabla.model");
    s->input = either(argc, argv, "--input", f, "nabla.input");
    s->data = either(argc, argv, "--data", f, "nabla.data");
    s->label = either(argc, argv, "--label", f, "nabla.label");
    s->loss = either(argc, argv, "--loss", f, "nabla.loss");
    if (!s->loss) s->loss = nb_safetensors_meta(f, "compile.loss");
    const char *content = nb_safetensors_meta(f, "content");
    bool whole = content && !strcmp(content, "model");
    const char *split = nb_safetensors_meta(f, "nabla.split");
    const char *seed = nb_safetensors_meta(f, "nabla.seed");
    double train_part = 0;
    if (seed && !cli_long("nabla.seed in the file", seed, 0, 4294967295LL, &s->seed)) return false;
    if (split && sscanf(split, "%lf,%lf,%lf", &train_part, &s->validation, &s->test) != 3) {
        fprintf(stderr, "error: %s: nabla.split '%s' is not three fractions\n", argv[0], split);
        return false;
    }
    const char *standardize = nb_safetensors_meta(f, "nabla.standardize");
    s->standardize = standardize && !strcmp(standardize, "yes"); /* files of the library: as read */
    if (!parse_split(argc, argv, s)) return false;
    if (!whole && (!s->spec || !s->input)) {
        fprintf(stderr,
                "error: %s has no nabla.model / nabla.input metadata (nabla train "
                "writes them): give the layer list and input shape with --model SPEC "
                "--input SHAPE\n",
                argv[0]);
        return false;
    }
    if (!s->data) {
        fprintf(stderr, "error: %s does not say what it was trained on: give --data DATA\n",
                argv[0]);
        return false;
    }
    return true;
}

/* "[1, 28, 28]" (a model file's model.input_shape) -> "1x28x28" */
static void shape_of_list(const char *list, char *out, size_t n) {
    size_t k = 0;
    for (const char *p = list; *p && k + 2 < n; p++)
        if (*p >= '0' && *p <= '9')
            out[k++] = *p;
        else if (*p == ',')
            out[k++] = 'x';
    out[k] = '\0';
}

/* The model the file describes, compiled, with its weights, and its data split: a
 * whole-model file (nb_model_save) is loaded as it is; for a weights file the
 * model is built from the layer list. */
static nb_model *load_scored(const char *cmd, int argc, char **argv, cli_data *d, task *t,
                             setup *s) {
    static char metric_name[64], input_list[64];
    nb_safetensors *f = NULL;
    memset(d, 0, sizeof *d);
    memset(t, 0, sizeof *t);
    t->metric = "accuracy";
    char input[64];
    nb_model *m = NULL, *given = NULL;
    bool ok = recorded_setup(cmd, argc, argv, &f, s);
    const char *content = f ? nb_safetensors_meta(f, "content") : NULL;
    bool whole = content && !strcmp(content, "model");
    bool compiled = whole && nb_safetensors_meta(f, "compile.loss");
    if (ok && whole && !(given = nb_load_model(argv[0]))) {
        fprintf(stderr, "error: %s\n", nb_error());
        ok = false;
    }
    if (ok && whole && !s->input && nb_safetensors_meta(f, "model.input_shape")) {
        shape_of_list(nb_safetensors_meta(f, "model.input_shape"), input_list, sizeof input_list);
        s->input = input_list;
    }
    if (ok) m = prepare(s, given, d, t, input, sizeof input);
    const char *metric = f ? nb_safetensors_meta(f, "nabla.metrics") : NULL;
    if (!metric && f) metric = nb_safetensors_meta(f, "compile.metric.0");
    const char *metrics[] = {metric ? metric : t->metric};
    if (m && !compiled && nb_model_compile(m, t->loss, NULL, metrics, 1) != NB_OK) ok = false;
    if (m && ok && !whole && nb_model_load_weights(m, argv[0]) != NB_OK) ok = false;
    if (m && !ok) {
        fprintf(stderr, "error: %s\n", nb_error());
        nb_model_free(m);
        m = NULL;
    }
    snprintf(metric_name, sizeof metric_name, "%s", metrics[0]);
    t->metric = metric_name;
    s->file = f;
    return m;
}

/* class ids from the model's outputs: argmax, or p > 0.5 for one sigmoid unit */
static nb_tensor *class_ids(nb_tensor *p) {
    if (nb_dim(p, -1) > 1) return nb_argmax(p, 1, false);
    nb_tensor *c = nb_zeros(NB_SHAPE(nb_dim(p, 0)));
    for (int64_t i = 0; c && i < nb_dim(p, 0); i++) nb_data(c)[i] = nb_get_flat(p, i) > 0.5f;
    return c;
}

static bool report_classes(nb_model *m, const cli_data *d) {
    nb_tensor *pred = class_ids(nb_model_predict(m, d->x[2], 256));
    nb_tensor *cm = pred ? nb_confusion_matrix(d->y[2], pred, d->all.n_classes) : NULL;
    if (!cm) return fprintf(stderr, "error: %s\n", nb_error()), false;
    cli_print_confusion(stdout, cm, d->all.class_names);
    return nb_classification_report(stdout, cm, (const char *const *)d->all.class_names) == NB_OK;
}

int cli_eval(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return fputs(eval_usage, stdout), 0;
    if (argc < 1 || argv[0][0] == '-') return fputs(eval_usage, stderr), 2;
    cli_data d;
    task t;
    setup s;
    nb_model *m = load_scored("eval", argc, argv, &d, &t, &s);
    int rc = m ? 0 : 1;
    double v[2];
    if (m && nb_model_evaluate(m, d.x[2], targets(&t, d.y[2]), 256, v, 2) != 2) {
        fprintf(stderr, "error: %s\n", nb_error());
        rc = 1;
    }
    if (rc == 0) {
        cli_data_describe(&d, stdout);
        printf("test (%lld rows of %s): loss %.4f - %s %.4f\n", (long long)d.n[2], s.data, v[0],
               t.metric, v[1]);
        if (d.classes && !report_classes(m, &d)) rc = 1;
    }
    nb_model_free(m);
    cli_data_free(&d);
    nb_safetensors_free(s.file);
    return rc;
}

/* one CSV line per row: index, prediction, true label, probabilities */
static bool write_predictions(FILE *f, const cli_data *d, const nb_tensor *x, const nb_tensor *y,
                              const int64_t *rows, nb_tensor *p) {
    int64_t n = nb_dim(p, 0), k = nb_numel(p) / (n ? n : 1);
    nb_tensor *ids = d->classes ? class_ids(p) : p;
    if (!ids) return false;
    fprintf(f, "row,predicted%s", y ? ",label" : "");
    for (int64_t j = 0; d->classes && j < k; j++)
        if (d->all.class_names && k > 1)
            fprintf(f, ",p_%s", d->all.class_names[j]);
        else
            fprintf(f, ",p%lld", (long long)(k > 1 ? j : 1));
    fputc('\n', f);
    (void)x;
    for (int64_t i = 0; i < n; i++) {
        fprintf(f, "%lld,%.9g", (long long)(rows ? rows[i] : i), (double)nb_get_flat(ids, i));
        if (y) fprintf(f, ",%.9g", (double)nb_get_flat(y, i));
        for (int64_t j = 0; d->classes && j < k; j++)
            fprintf(f, ",%.6f", (double)nb_get_flat(p, i * k + j));
        fputc('\n', f);
    }
    return true;
}

int cli_predict(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return fputs(predict_usage, stdout), 0;
    if (argc < 1 || argv[0][0] == '-') return fputs(predict_usage, stderr), 2;
    cli_data d;
    task t;
    setup s;
    nb_model *m = load_scored("predict", argc, argv, &d, &t, &s);
    if (!m) return cli_data_free(&d), nb_safetensors_free(s.file), 1;
    /* the test part of the split; d.order lists it after the training and validation rows */
    const int64_t *rows = d.order ? d.order + d.n[0] + d.n[1] : NULL;
    nb_tensor *p = nb_model_predict(m, d.x[2], 256);
    const char *out = cli_option(argc, argv, "-o");
    nb_atomic_file a;
    FILE *f = p && out ? nb_atomic_open(&a, "nabla predict", out) : stdout;
    bool ok = p && f && write_predictions(f, &d, d.x[2], d.y[2], rows, p);
    if (out && f) {
        if (ok)
            ok = nb_atomic_commit(&a) == NB_OK;
        else
            nb_atomic_abort(&a);
    }
    if (!ok) fprintf(stderr, "error: %s\n", nb_error());
    if (ok && out) printf("wrote %s (%lld rows)\n", out, (long long)nb_dim(p, 0));
    nb_model_free(m);
    cli_data_free(&d);
    nb_safetensors_free(s.file);
    return ok ? 0 : 1;
}
