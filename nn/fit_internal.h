/* What the files of fit share: History's storage (history.c), the progress
 * output (progress.c) and the check of the validation part's classes
 * (fit_checks.c); fit.c runs the loop, callbacks.c holds Keras's callbacks.
 * Not installed.
 *
 * An epoch's logs are one array of doubles in History's key order:
 *   loss, each metric, [val_loss, each val_ metric,] lr
 * lr is the rate the epoch trained with (after the schedule and the callbacks'
 * on_epoch_begin). */
#ifndef NB_FIT_INTERNAL_H
#define NB_FIT_INTERNAL_H

#include "nn_internal.h"

#define NB_FIT_MAX_LOGS (2 * (NB_MODEL_MAX_METRICS + 1) + 1)

struct nb_history {
    int epochs, cap, n_keys;
    int first_epoch; /* 0-based number of row 0's epoch: initial_epoch, or a resumed run's */
    char keys[NB_FIT_MAX_LOGS][48];
    double *values; /* epochs x n_keys */
};

/* ---- history.c ---------------------------------------------------------------------------- */
nb_history *nb_history_new(const nb_model *m, bool validation);
bool nb_history_add(nb_history *h, const double *values);
/* "epoch,loss,...,lr" then one row per epoch, through the atomic writer */
nb_status nb_history_write_csv(const char *fn, const nb_history *h, const char *path);

/* ---- progress.c: Keras's verbose levels ---------------------------------------------------
 * The bar redraws one line with '\r' only when stdout is a terminal; elsewhere
 * every mode prints complete lines, so a log file never holds a '\r'. */
typedef struct nb_progress {
    enum { NB_PROGRESS_SILENT, NB_PROGRESS_BAR, NB_PROGRESS_LINES } mode;
    bool final_bar; /* verbose 1 off a terminal: the finished bar, as one line */
    int64_t total;  /* samples in an epoch */
    double start, last_draw;
} nb_progress;
void nb_progress_init(nb_progress *p, int verbose, int64_t samples);
void nb_progress_epoch_begin(nb_progress *p, int epoch, int epochs);
/* after a step: done samples so far, the running training logs */
void nb_progress_step(nb_progress *p, int64_t done, int64_t steps, const nb_history *h,
                      const double *logs, int n_logs);
void nb_progress_epoch_end(nb_progress *p, int64_t steps, const nb_history *h, const double *logs);

/* ---- fit_checks.c -------------------------------------------------------------------------- */
/* Warns (nb_warn) once when the validation targets hold a class the training
 * targets lack, for sparse labels [N] / [N, 1] and one-hot targets [N, K];
 * split says where the validation part came from (0: given as data). */
void nb_fit_check_classes(const nb_model *m, const nb_tensor *y, const nb_tensor *val_y,
                          float split);

/* ---- what the callbacks share (callbacks.c) ---------------------------------------- */
double nb_log_value(const nb_epoch_logs *l, const char *name); /* NaN when absent */
bool nb_has_log(const nb_epoch_logs *l, const char *name);
/* mode -> true when the monitored log improves by rising (auto: nb_metric_rises) */
bool nb_monitor_rises(nb_monitor_mode mode, const char *monitor);
bool nb_monitor_mode_valid(const char *fn, nb_monitor_mode mode); /* else an error naming fn */

#endif
