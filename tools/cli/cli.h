/* What the nabla command's files share: strict option parsing, the data a
 * command trains or scores on, and the model a layer list describes. Not
 * installed; every function prints its own "error: ..." line on failure. */
#ifndef NB_CLI_H
#define NB_CLI_H

#include "model_spec.h"

#include "nabla.h"

#include <stdio.h>

/* ---- options ------------------------------------------------------------------------ */
/* A command's options: those that take a value and those that do not. */
typedef struct cli_opts {
    const char *const *valued; /* NULL-terminated */
    const char *const *flags;  /* NULL-terminated */
} cli_opts;

/* true when --help or -h is among the arguments */
bool cli_wants_help(int argc, char **argv);
/* every argument starting with "--" (or -o/-h) is one of o's, and each valued one has its
 * value; else an error naming the command */
bool cli_check(const char *command, int argc, char **argv, const cli_opts *o);
const char *cli_option(int argc, char **argv, const char *name); /* its value or NULL */
bool cli_flag(int argc, char **argv, const char *name);
/* Whole numbers and reals in [lo, hi]; text NULL leaves *out (the default) alone.
 * An error names the option, the text and the range. */
bool cli_long(const char *name, const char *text, long long lo, long long hi, long long *out);
bool cli_real(const char *name, const char *text, double lo, double hi, double *out);

/* ---- models ---------------------------------------------------------------------------- */
/* The model a layer list gives for an input shape (without the batch axis).
 * A conv model given a channels-last shape (28x28x1) is refused with the
 * layout it takes (1x28x28). */
nb_model *cli_model(const char *spec, const int64_t *shape, int ndim);
/* the same with the shape as text ("28x28") */
nb_model *cli_model_text(const char *spec, const char *shape);
/* the activation of the model's output: the last layer's in spec ("linear" when none) */
void cli_output_activation(const char *spec, char *act, size_t n);
/* units of the model's output (its last axis) */
int64_t cli_output_units(nb_model *m);

/* ---- data -------------------------------------------------------------------------------
 * A named data set or a CSV file, split for training: fashion-mnist trains on
 * its training file and tests on its test file; every other set is split by
 * nb_stratified_split into train / validation / test with a seed, so eval and
 * predict find the same test rows again from the model file's metadata. */
typedef struct cli_data {
    char name[256];         /* the data set's name or the CSV file's path  */
    char label[64];         /* the CSV's label column ("" = the last)       */
    nb_dataset all;         /* as read (for fashion-mnist, its training file) */
    nb_dataset test_file;   /* fashion-mnist's test file; zero otherwise     */
    bool classes;           /* y holds class ids 0..K-1 (K = all.n_classes)  */
    uint64_t seed;          /* of the split                                  */
    double fractions[3];    /* train, validation, test                       */
    nb_tensor *x[3], *y[3]; /* the three parts; x[1] is NULL without validation */
    int64_t n[3];
    int64_t *order;   /* the split's rows of all, part after part (NULL: in order) */
    nb_scaler scaler; /* fit on the training part when standardized */
    bool standardized;
    double target_mean, target_deviation; /* a regression's, when standardized (else 0) */
} cli_data;

/* Reads name (a data set or a .csv file with label, NULL = the last column);
 * classes: read integral CSV labels as class ids. */
bool cli_data_load(cli_data *d, const char *name, const char *label, bool classes);
/* Splits into parts of the given fractions (validation may be 0); fashion-mnist and
 * xor (4 rows) keep all rows for training and their test part is the test file / all rows. */
bool cli_data_split(cli_data *d, uint64_t seed, double validation, double test);
/* Standardizes every part by the training part's means and deviations
 * (tabular data only: fashion-mnist's pixels stay in [0, 1]). */
bool cli_data_standardize(cli_data *d);
/* x mapped as the training part was (x itself when not standardized) */
nb_tensor *cli_data_scale(const cli_data *d, nb_tensor *x);
/* keeps the first n training rows (n 0 or more than there are: all) */
bool cli_data_subset(cli_data *d, int64_t n);
/* conv models take [N, C, H, W]: gray images [N, H, W] get their channel axis */
bool cli_data_add_channel(cli_data *d);
/* "90 train, 30 validation, 30 test (stratified, seed 42)" */
void cli_data_describe(const cli_data *d, FILE *f);
void cli_data_free(cli_data *d);
/* the input shape text of a sample ("4", "28x28") */
void cli_shape_text(const nb_tensor *x, char *buf, size_t n);

/* ---- output ------------------------------------------------------------------------------ */
/* Makes dir and its parents and checks that a file can be created in it. */
bool cli_make_dir(const char *dir);
/* confusion matrix [K, K] as whole numbers with the class names */

/* draws the model's forward (or backward) graph for one sample of zeros; 0 or 1 */
int cli_draw_model(nb_model *m, const char *path, bool backward, const char *title);

/* ---- what a model is trained for, and the data and model a command works on ---------- */
typedef struct task {
    char loss[64];
    const char *metric; /* "accuracy" or "mae" */
    bool column_y;      /* targets [N, 1] for outputs [N, 1] */
    bool from_logits;   /* a cross-entropy after a linear output: the outputs are logits */
} task;

typedef struct setup {
    const char *spec, *input, *data, *label, *loss;
    long long seed, subset;
    double validation, test;
    bool standardize;
    nb_safetensors *file; /* eval and predict: the model file (its metadata backs the texts) */
} setup;

extern const setup cli_setup_defaults;
bool cli_is_crossentropy(const char *loss);
/* The loss the output layer asks for (unless loss names one), checked against the data. */
bool cli_pick_task(const char *spec, const char *loss, nb_model *m, const cli_data *d, task *t);
/* compile m with the task's loss (from_logits as the task says), metric and optimizer o */
nb_status cli_compile(nb_model *m, const task *t, nb_optimizer *o, const char *metric);
/* y [N] as the loss takes it: [N, 1] for one output unit */
nb_tensor *cli_targets(const task *t, nb_tensor *y);
/* The data split as s says, and the model: given (a whole-model file, owned from here on)
 * or built from s->spec; input gets the input shape's text. */
nb_model *cli_prepare(const setup *s, nb_model *given, cli_data *d, task *t, char *input, size_t n);
/* --seed, --validation-split and --test-split into s */
bool cli_parse_split(int argc, char **argv, setup *s);

int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_predict(int argc, char **argv);

#endif
