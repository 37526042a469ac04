/* What the classification examples share: the test-set report. */
#ifndef NB_EXAMPLES_CLASSIFY_H
#define NB_EXAMPLES_CLASSIFY_H

#include <nabla.h>

#include <math.h>
#include <stdio.h>

/* Predicts x, prints the confusion matrix and the classification report;
 * returns the accuracy (NaN on error). */
static double report(nb_model *m, nb_tensor *x, nb_tensor *y, int k, char **names) {
    nb_scope_begin();
    nb_tensor *prob = nb_model_predict(m, x, 256);
    nb_tensor *pred = nb_argmax(prob, 1, false);
    nb_tensor *cm = nb_confusion_matrix(y, pred, k);
    double right = 0;
    if (cm) {
        for (int i = 0; i < k; i++) right += nb_get(cm, (int64_t[]){i, i});
        printf("\nconfusion matrix (rows: true class, columns: predicted)\n");
        nb_print(cm);
        printf("\n");
        nb_classification_report(stdout, cm, (const char *const *)names);
    }
    double acc = cm ? right / (double)nb_dim(y, 0) : NAN;
    nb_scope_end();
    return acc;
}

#endif
