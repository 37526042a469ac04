/* Boston housing: 13 features -> median house price ($1000s), regression.
 *
 *   Dense(64, relu) -> Dense(32, relu) -> Dense(1), adam, mse, mae metric,
 *   standardized features. First 3-fold cross-validation on the training
 *   part (the average validation MAE is printed), then one model on the
 *   whole training part, scored on a 20% test split: MAE <= 3.0.
 */
#include <nabla.h>

#include <stdio.h>
#include <stdlib.h>

#define EPOCHS 150

static nb_model *build(void) {
    nb_model *m = nb_sequential(NB_SHAPE(13));
    nb_model_add(m, nb_dense(64, "relu"));
    nb_model_add(m, nb_dense(32, "relu"));
    nb_model_add(m, nb_dense(1, NULL));
    nb_model_compile(m, "mse", nb_optimizer_from_name("adam"), (const char *[]){"mae"}, 1);
    return m;
}

/* trains on (x, y), returns [loss, mae] on (xv, yv) in v */
static nb_status train_and_score(nb_tensor *x, nb_tensor *y, nb_tensor *xv, nb_tensor *yv,
                                 double *v, bool show) {
    nb_model *m = build();
    if (show) nb_model_summary(m, stdout);
    /* folds train silently; the final model shows one line per epoch */
    nb_history *h = nb_model_fit(
        m, x, y,
        &(nb_fit_opts){.epochs = EPOCHS, .batch_size = 16, .verbose = show ? 2 : NB_SILENT});
    bool ok = h && nb_model_evaluate(m, xv, yv, 64, v, 2) == 2;
    nb_history_free(h);
    nb_model_free(m);
    return ok ? NB_OK : nb_error_code();
}

static nb_tensor *rows(nb_tensor *t, const int64_t *idx, int64_t n) {
    return nb_take_rows(t, idx, n);
}

int main(void) {
    nb_manual_seed(3);
    nb_dataset ds = {0};
    nb_split sp;
    nb_scaler sc;
    if (nb_dataset_load("boston", &ds) != NB_OK ||
        nb_train_test_split(ds.x, nb_reshape(ds.y, NB_SHAPE(-1, 1)), 0.2, true, &sp) != NB_OK ||
        nb_standard_scaler_fit(sp.x_train, &sc) != NB_OK) {
        fprintf(stderr, "boston: %s\n", nb_error());
        return 1;
    }
    nb_tensor *x = nb_scaler_transform(&sc, sp.x_train), *xt = nb_scaler_transform(&sc, sp.x_test);
    int64_t n = nb_dim(x, 0);
    int *fold = malloc((size_t)n * sizeof *fold);
    int64_t *tr = malloc((size_t)n * sizeof *tr), *va = malloc((size_t)n * sizeof *va);
    nb_kfold(n, 3, true, fold);
    double sum = 0, v[2];
    for (int f = 0; f < 3; f++) {
        nb_scope_begin();
        int64_t ntr = nb_fold_indices(fold, n, f, false, tr),
                nva = nb_fold_indices(fold, n, f, true, va);
        if (train_and_score(rows(x, tr, ntr), rows(sp.y_train, tr, ntr), rows(x, va, nva),
                            rows(sp.y_train, va, nva), v, false) != NB_OK) {
            fprintf(stderr, "boston: %s\n", nb_error());
            return 1;
        }
        printf("fold %d: validation MAE %.3f ($1000s) on %lld houses\n", f + 1, v[1],
               (long long)nva);
        sum += v[1];
        nb_scope_end();
    }
    printf("3-fold average validation MAE: %.3f\n\n", sum / 3);
    if (train_and_score(x, sp.y_train, xt, sp.y_test, v, true) != NB_OK) {
        fprintf(stderr, "boston: %s\n", nb_error());
        return 1;
    }
    bool ok = v[1] <= 3.0;
    printf("\n%s: test MAE %.3f ($1000s) on %lld houses, %s 3.0\n", ok ? "ok" : "FAILED", v[1],
           (long long)nb_dim(xt, 0), ok ? "<=" : ">");
    free(fold);
    free(tr);
    free(va);
    nb_dataset_free(&ds);
    nb_shutdown();
    return ok ? 0 : 1;
}
