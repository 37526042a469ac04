/* nabla's tape (core): what is recorded for backward and how to turn it off.
 * Every op run while grad mode is on and an input requires grad appends a node
 * to the calling thread's tape; nabla/autograd.h walks it back. */
#ifndef NABLA_TAPE_H
#define NABLA_TAPE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- grad mode ---------------------------------------------------------------- */
bool nb_grad_enabled(void);
bool nb_set_grad_enabled(bool on); /* returns the previous mode */
void nb_no_grad_begin(void);       /* nestable region without recording */
void nb_no_grad_end(void);

/* ---- debugging ------------------------------------------------------------------
 * Anomaly detection: after every forward kernel and every backward rule, look
 * for NaN and Inf; the first one found is an error naming the op, its name
 * scope (the layer) and whether forward or backward produced it. Slower;
 * returns the previous setting. */
bool nb_set_anomaly_detection(bool on);
/* Name scopes label the ops run inside them ("dense_1"), in anomaly messages
 * and graphs; nn layers open one around their forward pass. Nestable; name
 * must outlive the ops' tape nodes. */
void nb_name_scope_begin(const char *name);
void nb_name_scope_end(void);
const char *nb_name_scope(void); /* the innermost, "" outside any */

/* Number of nodes on this thread's tape (all open scopes). */
int64_t nb_tape_size(void);

#ifdef __cplusplus
}
#endif

#endif
