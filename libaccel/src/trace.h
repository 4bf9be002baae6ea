/* SPDX-License-Identifier: MIT */
/*
 * The queues' side of tracing (trace.c): is it on, and one span per command
 * (and per fence wait) as the submission thread runs them.
 */
#ifndef ACCEL_TRACE_H
#define ACCEL_TRACE_H

#include <stdbool.h>
#include "queue.h"

bool accel_trace_on(void);
/** a command ran on @q in [t0, t1); @waits (submission's first command)
 *  and @signal (its last) as the submission gave them, else NULL */
void accel_trace_cmd(const struct accel_queue *q, const struct accel_cmd *cmd, uint64_t t0,
		     uint64_t t1, const struct accel_sub *waits, const struct accel_fence_point *signal);
/** @q's thread waited on the submission's fence points in [t0, t1) */
void accel_trace_wait(const struct accel_queue *q, const struct accel_sub *s, uint64_t t0,
		      uint64_t t1);
/** ACCEL_TRACE=FILE: a device opened (the first starts tracing), closed
 *  (the last writes the file) */
void accel_trace_env_open(void);
void accel_trace_env_close(void);

#endif /* ACCEL_TRACE_H */
