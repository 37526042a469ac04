/* The thread's last error: a code and a message written for the user. */
#include "core_internal.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local nb_status last_code;
static _Thread_local char last_message[1024];
static _Thread_local unsigned long failures; /* how many record() has seen */

const char *nb_error(void) {
    return last_message;
}

nb_status nb_error_code(void) {
    return last_code;
}

void nb_clear_error(void) {
    last_code = NB_OK;
    last_message[0] = '\0';
}

static void record(nb_status code, const char *fmt, va_list ap) {
    failures++;
    last_code = code;
    vsnprintf(last_message, sizeof last_message, fmt, ap);
}

void *nb_fail(nb_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    record(code, fmt, ap);
    va_end(ap);
    return NULL;
}

nb_status nb_fail_status(nb_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    record(code, fmt, ap);
    va_end(ap);
    return code;
}

/* The caller decided from a callee's result (NULL, false, a count of -1) that
 * it failed; this is only the code to pass on. A callee that recorded nothing
 * still failed: NB_OK is never the answer. */
nb_status nb_failure_code(void) {
    if (last_code == NB_OK)
        return nb_fail_status(NB_ERR_STATE, "an internal call failed without recording an error");
    return last_code;
}

unsigned long nb_failure_count(void) {
    return failures;
}

/* A NULL input is usually the result of an earlier failure: keep that message,
 * it names the real cause. */
void *nb_fail_null(const char *fn) {
    if (last_code == NB_OK) nb_fail(NB_ERR_NULL, "%s: an input tensor is NULL", fn);
    return NULL;
}

/* ---- warnings ------------------------------------------------------------------------ */
static nb_warning_handler warning_fn;
static void *warning_ctx;

void nb_set_warning_handler(nb_warning_handler fn, void *ctx) {
    warning_fn = fn;
    warning_ctx = ctx;
}

void nb_warn(const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (warning_fn)
        warning_fn(message, warning_ctx);
    else
        fprintf(stderr, "nabla: warning: %s\n", message);
}
