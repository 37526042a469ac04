/* Line plots as SVG files (training curves), written atomically. */
#ifndef NABLA_PLOT_H
#define NABLA_PLOT_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_series {
    const char *name; /* the legend entry */
    const double *y;  /* y[0..n): one value per epoch (x = 1..n) */
    int n;
} nb_series;

/* One panel: the series against epochs 1..n, axes labelled, with a legend. */
nb_status nb_plot_svg(const char *path, const char *title, const char *y_label,
                      const nb_series *series, int n_series);

/* A History's curves: loss (and val_loss) on the left, the first metric (and
 * its val_ twin) on the right. */
nb_status nb_history_plot_svg(const nb_history *h, const char *path, const char *title);

#ifdef __cplusplus
}
#endif
#endif
