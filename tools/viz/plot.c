/* Training curves as SVG: a hand-written plot, so that nabla needs no
 * plotting library. Each panel has axes with five labelled ticks, one
 * polyline per series and a legend; the numbers are printed with fixed
 * precision, so the same history gives the same file. */
#include "nabla/plot.h"

#include "core/core_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#define PANEL_W 440
#define PANEL_H 320
#define LEFT    64
#define TOP     40
#define PLOT_W  340
#define PLOT_H  220

static const char *const colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"};

static void escape(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

/* one panel at horizontal offset x0 */
static void panel(FILE *f, int x0, const char *y_label, const nb_series *s, int n) {
    double lo = INFINITY, hi = -INFINITY;
    int epochs = 1;
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < s[k].n; i++)
            if (isfinite(s[k].y[i])) lo = fmin(lo, s[k].y[i]), hi = fmax(hi, s[k].y[i]);
        if (s[k].n > epochs) epochs = s[k].n;
    }
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-12) hi = lo + 1;
    double pad = (hi - lo) * 0.05;
    lo -= pad, hi += pad;
    int px = x0 + LEFT, py = TOP;
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"white\" stroke=\"#333\"/>\n",
            px, py, PLOT_W, PLOT_H);
    for (int t = 0; t <= 4; t++) { /* y ticks */
        double v = lo + (hi - lo) * t / 4;
        int y = py + PLOT_H - PLOT_H * t / 4;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n", px, y,
                px + PLOT_W, y);
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%.3g</text>\n",
                px - 6, y + 4, v);
    }
    for (int t = 0; t <= 4; t++) { /* x ticks: epochs */
        int e = 1 + (int)lround((epochs - 1) * t / 4.0);
        int x = px + (epochs > 1 ? PLOT_W * (e - 1) / (epochs - 1) : PLOT_W / 2);
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%d</text>\n", x,
                py + PLOT_H + 16, e);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">epoch</text>\n",
            px + PLOT_W / 2, py + PLOT_H + 34);
    fprintf(f,
            "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 %d %d)\">",
            x0 + 16, py + PLOT_H / 2, x0 + 16, py + PLOT_H / 2);
    escape(f, y_label);
    fputs("</text>\n", f);
    for (int k = 0; k < n; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                colors[k % 4]);
        for (int i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].y[i])) continue;
            double x = px + (epochs > 1 ? (double)PLOT_W * i / (epochs - 1) : PLOT_W / 2.0);
            double y = py + PLOT_H - PLOT_H * (s[k].y[i] - lo) / (hi - lo);
            fprintf(f, "%.1f,%.1f ", x, y);
        }
        fputs("\"/>\n", f);
        int ly = py + 14 + 16 * k; /* legend, top right */
        fprintf(
            f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>\n",
            px + PLOT_W - 110, ly - 4, px + PLOT_W - 90, ly - 4, colors[k % 4]);
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">", px + PLOT_W - 86, ly);
        escape(f, s[k].name);
        fputs("</text>\n", f);
    }
}

static nb_status write_svg(const char *fn, const char *path, const char *title, int width,
                           void (*draw)(FILE *, const void *), const void *ctx) {
    nb_atomic_file a;
    FILE *f = nb_atomic_open(&a, fn, path);
    if (!f) return nb_error_code();
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"Helvetica, Arial, sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">",
            width, PANEL_H, width / 2);
    escape(f, title ? title : "");
    fputs("</text>\n", f);
    draw(f, ctx);
    fputs("</svg>\n", f);
    return nb_atomic_commit(&a);
}

typedef struct {
    const char *y_label;
    const nb_series *s;
    int n;
} one_panel;

static void draw_one(FILE *f, const void *ctx) {
    const one_panel *p = ctx;
    panel(f, 0, p->y_label, p->s, p->n);
}

nb_status nb_plot_svg(const char *path, const char *title, const char *y_label,
                      const nb_series *series, int n_series) {
    if (!path || !y_label || (n_series > 0 && !series) || n_series < 0)
        return nb_fail_status(NB_ERR_NULL, "nb_plot_svg: NULL path, label or series");
    for (int k = 0; k < n_series; k++)
        if (!series[k].name || (series[k].n > 0 && !series[k].y) || series[k].n < 0)
            return nb_fail_status(NB_ERR_ARG, "nb_plot_svg: series %d has no name or values", k);
    one_panel p = {y_label, series, n_series};
    return write_svg("nb_plot_svg", path, title, PANEL_W, draw_one, &p);
}

/* ---- a History's two panels ------------------------------------------------------------- */
typedef struct {
    const nb_history *h;
    double *values; /* 4 series x epochs */
} history_plot;

/* series "name" and "val_name" of the history into s (returns how many) */
static int series_of(const nb_history *h, const char *name, double *buf, nb_series *s) {
    int n = 0, epochs = nb_history_epochs(h);
    char val[64];
    snprintf(val, sizeof val, "val_%s", name);
    const char *names[2] = {name, val};
    for (int k = 0; k < 2; k++) {
        if (isnan(nb_history_get(h, names[k], 0))) continue;
        for (int e = 0; e < epochs; e++) buf[n * epochs + e] = nb_history_get(h, names[k], e);
        s[n] = (nb_series){k ? "validation" : "training", buf + n * epochs, epochs};
        n++;
    }
    return n;
}

static void draw_history(FILE *f, const void *ctx) {
    const history_plot *p = ctx;
    nb_series s[2];
    int n = series_of(p->h, "loss", p->values, s);
    panel(f, 0, "loss", s, n);
    const char *metric = NULL;
    for (int k = 0; k < nb_history_num_keys(p->h) && !metric; k++) {
        const char *key = nb_history_key(p->h, k);
        if (strcmp(key, "loss") && strcmp(key, "lr") && strncmp(key, "val_", 4)) metric = key;
    }
    if (metric) {
        n = series_of(p->h, metric, p->values + 2 * nb_history_epochs(p->h), s);
        panel(f, PANEL_W, metric, s, n);
    }
}

nb_status nb_history_plot_svg(const nb_history *h, const char *path, const char *title) {
    if (!h || !path)
        return nb_fail_status(NB_ERR_NULL, "nb_history_plot_svg: NULL history or path");
    int epochs = nb_history_epochs(h);
    history_plot p = {h, calloc((size_t)(4 * epochs + 1), sizeof(double))};
    if (!p.values) return nb_fail_status(NB_ERR_MEMORY, "nb_history_plot_svg: out of memory");
    nb_status s = write_svg("nb_history_plot_svg", path, title, 2 * PANEL_W, draw_history, &p);
    free(p.values);
    return s;
}
