/* fit's progress output, Keras's verbose levels.
 *
 * On a terminal the bar is one line redrawn in place: '\r', the text, then
 * "\033[K" (clear to the end of the line) so that a shorter text leaves no
 * residue. Redraws are at most ten a second: printing after each of 4,000
 * small steps costs more than the steps. Anywhere else (a pipe, a log file)
 * nothing but complete lines is printed: a '\r' there makes one line of
 * megabytes out of an epoch's redraws. */
#include "fit_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define REDRAW_INTERVAL 0.1 /* seconds */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void nb_progress_init(nb_progress *p, int verbose, int64_t samples) {
    bool terminal = isatty(fileno(stdout)) == 1;
    *p = (nb_progress){.total = samples};
    if (verbose < 0)
        p->mode = NB_PROGRESS_SILENT;
    else if (verbose == NB_VERBOSE_AUTO)
        p->mode = terminal ? NB_PROGRESS_BAR : NB_PROGRESS_LINES;
    else if (verbose == NB_VERBOSE_BAR) {
        p->mode = terminal ? NB_PROGRESS_BAR : NB_PROGRESS_LINES;
        p->final_bar = !terminal;
    } else
        p->mode = NB_PROGRESS_LINES;
}

void nb_progress_epoch_begin(nb_progress *p, int epoch, int epochs) {
    if (p->mode == NB_PROGRESS_SILENT) return;
    printf("Epoch %d/%d\n", epoch + 1, epochs);
    fflush(stdout);
    p->start = now();
    p->last_draw = -INFINITY;
}

typedef struct {
    char s[2048];
    size_t n;
} line;

static void put(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(line *l, const char *fmt, ...) {
    if (l->n >= sizeof l->s) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(l->s + l->n, sizeof l->s - l->n, fmt, ap);
    va_end(ap);
    if (k > 0) l->n += (size_t)k;
    if (l->n >= sizeof l->s) l->n = sizeof l->s - 1;
}

/* " - loss: 0.4321 - lr: 1.0000e-03": Keras's formats (4 decimals, or
 * exponent form for magnitudes up to 1e-3) */
static void put_logs(line *l, const nb_history *h, const double *logs, int n) {
    for (int k = 0; k < n; k++)
        put(l, fabs(logs[k]) > 1e-3 ? " - %s: %.4f" : " - %s: %.4e", h->keys[k], logs[k]);
}

static void put_per_step(line *l, double seconds, int64_t steps) {
    double per_step = steps ? seconds / (double)steps : 0;
    put(l, "%.0f%s/step", per_step >= 1e-3 ? per_step * 1e3 : per_step * 1e6,
        per_step >= 1e-3 ? "ms" : "us");
}

/* "  64/1000 [===>..........................] - 1s 2ms/step" */
static void put_bar(line *l, const nb_progress *p, int64_t done, double seconds, int64_t steps) {
    char bar[31];
    int filled = p->total ? (int)(30 * done / p->total) : 30;
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '=' : i == filled ? '>' : '.';
    if (filled == 30) bar[29] = '=';
    bar[30] = '\0';
    int width = snprintf(NULL, 0, "%lld", (long long)p->total);
    put(l, "%*lld/%lld [%s] - %.0fs ", width, (long long)done, (long long)p->total, bar, seconds);
    put_per_step(l, seconds, steps);
}

void nb_progress_step(nb_progress *p, int64_t done, int64_t steps, const nb_history *h,
                      const double *logs, int n_logs) {
    if (p->mode != NB_PROGRESS_BAR || done >= p->total) return; /* the end draws the last */
    double t = now();
    if (t - p->last_draw < REDRAW_INTERVAL) return;
    p->last_draw = t;
    line l = {.n = 0};
    put_bar(&l, p, done, t - p->start, steps);
    put_logs(&l, h, logs, n_logs);
    printf("\r%s\033[K", l.s);
    fflush(stdout);
}

void nb_progress_epoch_end(nb_progress *p, int64_t steps, const nb_history *h, const double *logs) {
    if (p->mode == NB_PROGRESS_SILENT) return;
    double seconds = now() - p->start;
    line l = {.n = 0};
    if (p->mode == NB_PROGRESS_BAR || p->final_bar) {
        put_bar(&l, p, p->total, seconds, steps);
    } else { /* Keras's verbose 2: "1000/1000 - 1s - 2ms/step - loss: ..." */
        put(&l, "%lld/%lld - %.0fs - ", (long long)p->total, (long long)p->total, seconds);
        put_per_step(&l, seconds, steps);
    }
    put_logs(&l, h, logs, h->n_keys);
    if (p->mode == NB_PROGRESS_BAR && !p->final_bar)
        printf("\r%s\033[K\n", l.s);
    else
        printf("%s\n", l.s);
    fflush(stdout);
}
