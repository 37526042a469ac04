/* nabla eval and predict: a model file scored on the test part of its data,
 * the rows training never saw, found again from the file's metadata. */
#include "cli.h"

#include "core/core_internal.h"

#include <stdlib.h>
#include <string.h>

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
    *s = cli_setup_defaults;
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
    if (!cli_parse_split(argc, argv, s)) return false;
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
    if (ok) m = cli_prepare(s, given, d, t, input, sizeof input);
    /* a compiled file says whether its outputs are logits; without a layer list the
     * last activation is unknown here, and compile warns if the loss does not fit it */
    if (m && compiled) {
        const char *logits = nb_safetensors_meta(f, "compile.from_logits");
        t->from_logits = logits && !strcmp(logits, "true");
    } else if (m && !s->spec) {
        t->from_logits = false;
    }
    const char *metric = f ? nb_safetensors_meta(f, "nabla.metrics") : NULL;
    if (!metric && f) metric = nb_safetensors_meta(f, "compile.metric.0");
    const char *metrics[] = {metric ? metric : t->metric};
    if (m && !compiled && cli_compile(m, t, NULL, metrics[0]) != NB_OK) ok = false;
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

/* class ids from the model's outputs: argmax, or for one unit a probability above 0.5
 * (a logit above 0) */
static nb_tensor *class_ids(nb_tensor *p, bool logits) {
    if (!p || nb_dim(p, -1) > 1) return p ? nb_argmax(p, 1, false) : NULL;
    nb_tensor *c = nb_zeros(NB_SHAPE(nb_dim(p, 0)));
    for (int64_t i = 0; c && i < nb_dim(p, 0); i++)
        nb_data(c)[i] = nb_get_flat(p, i) > (logits ? 0.0f : 0.5f);
    return c;
}

static bool report_classes(nb_model *m, const cli_data *d, const task *t) {
    nb_tensor *pred = class_ids(nb_model_predict(m, d->x[2], 256), t->from_logits);
    nb_tensor *cm = pred ? nb_confusion_matrix(d->y[2], pred, d->all.n_classes) : NULL;
    if (!cm) return fprintf(stderr, "error: %s\n", nb_error()), false;
    printf("confusion matrix (rows: true class, columns: predicted)\n");
    if (nb_confusion_matrix_print(stdout, cm, (const char *const *)d->all.class_names) != NB_OK)
        return fprintf(stderr, "error: %s\n", nb_error()), false;
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
    if (m && nb_model_evaluate(m, d.x[2], cli_targets(&t, d.y[2]), 256, v, 2) != 2) {
        fprintf(stderr, "error: %s\n", nb_error());
        rc = 1;
    }
    if (rc == 0) {
        cli_data_describe(&d, stdout);
        printf("test (%lld rows of %s): loss %.4f - %s %.4f\n", (long long)d.n[2], s.data, v[0],
               t.metric, v[1]);
        if (d.classes && !report_classes(m, &d, &t)) rc = 1;
    }
    nb_model_free(m);
    cli_data_free(&d);
    nb_safetensors_free(s.file);
    return rc;
}

/* one CSV line per row: index, prediction, true label, probabilities */
static bool write_predictions(FILE *f, const cli_data *d, const nb_tensor *y, const int64_t *rows,
                              nb_tensor *p) {
    int64_t n = nb_dim(p, 0), k = nb_numel(p) / (n ? n : 1);
    nb_tensor *ids = d->classes ? class_ids(p, false) : p;
    if (!ids) return false;
    fprintf(f, "row,predicted%s", y ? ",label" : "");
    for (int64_t j = 0; d->classes && j < k; j++)
        if (d->all.class_names && k > 1)
            fprintf(f, ",p_%s", d->all.class_names[j]);
        else
            fprintf(f, ",p%lld", (long long)(k > 1 ? j : 1));
    fputc('\n', f);
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
    /* the file gets probabilities, also from a model whose outputs are logits */
    if (p && t.from_logits) p = nb_dim(p, -1) > 1 ? nb_softmax(p, -1) : nb_sigmoid(p);
    const char *out = cli_option(argc, argv, "-o");
    nb_atomic_file a;
    FILE *f = p && out ? nb_atomic_open(&a, "nabla predict", out) : stdout;
    bool ok = p && f && write_predictions(f, &d, d.y[2], rows, p);
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
