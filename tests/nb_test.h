/* Shared helpers for nabla's Check suites. Each test runs with a fresh seed
 * and ends with nb_shutdown(), so LeakSanitizer sees every test clean up. */
#ifndef NB_TEST_H
#define NB_TEST_H

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/types.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nabla.h"

static inline void nb_test_setup(void) {
    nb_manual_seed(1234);
    nb_set_num_threads(1);
}

static inline void nb_test_teardown(void) {
    nb_shutdown();
}

/* |a - b| <= tol * (1 + |b|) */
#define NB_ASSERT_CLOSE(a, b, tol)                                                                 \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        ck_assert_msg(fabs(a_ - b_) <= (tol) * (1.0 + fabs(b_)), "%s = %.7g, expected %.7g", #a,   \
                      a_, b_);                                                                     \
    } while (0)

/* every element of t equals the row-major array want (n elements) within tol */
#define NB_ASSERT_TENSOR(t, want, n, tol)                                                          \
    do {                                                                                           \
        const nb_tensor *t_ = (t);                                                                 \
        ck_assert_msg(t_ != NULL, "%s is NULL: %s", #t, nb_error());                               \
        ck_assert_int_eq(nb_numel(t_), (n));                                                       \
        for (int64_t i_ = 0; i_ < (n); i_++) {                                                     \
            double g_ = nb_get_flat(t_, i_), w_ = (want)[i_];                                      \
            ck_assert_msg(fabs(g_ - w_) <= (tol) * (1.0 + fabs(w_)),                               \
                          "%s[%lld] = %.7g, expected %.7g", #t, (long long)i_, g_, w_);            \
        }                                                                                          \
    } while (0)

/* gradient check of sum(fn(x)) for every input that requires grad */
#define NB_ASSERT_GRADCHECK(fn, x, n, ctx, eps, tol)                                               \
    do {                                                                                           \
        nb_gradcheck_result r_;                                                                    \
        nb_status s_ = nb_gradcheck((fn), (x), (n), (ctx), (eps), (tol), &r_);                     \
        ck_assert_msg(s_ == NB_OK, "gradcheck of %s failed: %s", #fn, nb_error());                 \
    } while (0)

/* the last error mentions needle */
#define NB_ASSERT_ERROR_HAS(needle)                                                                \
    ck_assert_msg(strstr(nb_error(), (needle)) != NULL, "error \"%s\" does not mention \"%s\"",    \
                  nb_error(), (needle))

/* the temp file a save by pid is writing (or was, when killed) in d, its path
 * into out; false when there is none (the atomic writer's names: .nb-PID-...) */
static inline bool nb_test_temp_file_of(const char *d, pid_t pid, char *out, size_t size) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, ".nb-%ld-", (long)pid);
    DIR *dp = opendir(d);
    struct dirent *e;
    bool found = false;
    while (dp && !found && (e = readdir(dp)))
        if (!strncmp(e->d_name, prefix, strlen(prefix)))
            found = snprintf(out, size, "%s/%s", d, e->d_name) < (int)size;
    if (dp) closedir(dp);
    return found;
}

static inline int nb_test_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* A test case with the standard fixture. */
static inline TCase *nb_tcase(const char *name) {
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, nb_test_setup, nb_test_teardown);
    tcase_set_timeout(tc, 120);
    return tc;
}

#endif
