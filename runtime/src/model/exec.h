/* SPDX-License-Identifier: MIT */
/*
 * The command buffer of a forward pass: commands accumulate until a fence
 * wait or signal needs a submission boundary, so a resident pass is one
 * submission and a streamed one is cut only where loads order it. Every
 * command carries the name of the intermediate it produces.
 */
#ifndef RT_MODEL_EXEC_H
#define RT_MODEL_EXEC_H

#include <stdint.h>
#include "accel.h"

#define RT_EXEC_MAX_WAITS 4

struct rt_exec {
	struct accel_queue *q;
	struct accel_cmd *cmds;
	uint32_t n, cap;
	struct accel_fence_point waits[RT_EXEC_MAX_WAITS];	/* for the next submission */
	uint32_t nwaits;
};

void rt_exec_init(struct rt_exec *ex, struct accel_queue *q);
void rt_exec_fini(struct rt_exec *ex);
/** rt_exec_emit - the next command slot (a NOP until prepared); NULL when
 *  out of memory */
struct accel_cmd *rt_exec_emit(struct rt_exec *ex);
/** rt_exec_wait - commands emitted from now on wait for @p (point 0: no-op);
 *  those already pending are submitted first, without it */
int rt_exec_wait(struct rt_exec *ex, const struct accel_fence_point *p);
/** rt_exec_flush - submit the pending commands with the pending waits; with
 *  @signal (NULL: none) a submission happens even when nothing is pending */
int rt_exec_flush(struct rt_exec *ex, const struct accel_fence_point *signal);
/** rt_exec_run - rt_exec_flush with @signal, then wait for it: the commands
 *  run on this thread where the COMPUTE queue is idle and their waits are
 *  reached (accel_queue_submit_run) */
int rt_exec_run(struct rt_exec *ex, const struct accel_fence_point *signal);
/** rt_exec_discard - forget pending commands and waits (a pass that failed) */
void rt_exec_discard(struct rt_exec *ex);

#endif /* RT_MODEL_EXEC_H */
