// SPDX-License-Identifier: MIT
/*
 * The pass's command buffer (exec.h): grows by doubling, submits to the
 * COMPUTE queue at wait/signal boundaries. Knows nothing of models.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "exec.h"
#include "rt_error.h"

void rt_exec_init(struct rt_exec *ex, struct accel_queue *q)
{
	memset(ex, 0, sizeof(*ex));
	ex->q = q;
}

void rt_exec_fini(struct rt_exec *ex)
{
	free(ex->cmds);
	memset(ex, 0, sizeof(*ex));
}

struct accel_cmd *rt_exec_emit(struct rt_exec *ex)
{
	struct accel_cmd *c;

	if (ex->n == ex->cap) {
		uint32_t cap = ex->cap ? ex->cap * 2 : 256;

		c = realloc(ex->cmds, sizeof(*c) * cap);
		if (!c)
			return NULL;
		ex->cmds = c;
		ex->cap = cap;
	}
	c = &ex->cmds[ex->n++];
	accel_cmd_prep(c, ACCEL_OP_NOP);
	return c;
}

static int rt_exec_submit(struct rt_exec *ex, const struct accel_fence_point *signal, bool run)
{
	const struct accel_fence_point *w = ex->nwaits ? ex->waits : NULL;
	int ret = run ? accel_queue_submit_run(ex->q, ex->cmds, ex->n, w, ex->nwaits, signal)
		      : accel_queue_submit(ex->q, ex->cmds, ex->n, w, ex->nwaits, signal);

	ex->n = 0;
	ex->nwaits = 0;
	if (ret < 0)
		return rt_set_error(ret, "compute submission %s: %s",
				    run ? "failed" : "refused", strerror(-ret));
	return 0;
}

int rt_exec_wait(struct rt_exec *ex, const struct accel_fence_point *p)
{
	int ret;

	if (!p->point)
		return 0;
	if (ex->n && (ret = rt_exec_submit(ex, NULL, false)) < 0)
		return ret;
	if (ex->nwaits == RT_EXEC_MAX_WAITS)
		return rt_set_error(-E2BIG, "more than %d fence waits on one submission",
				    RT_EXEC_MAX_WAITS);
	ex->waits[ex->nwaits++] = *p;
	return 0;
}

int rt_exec_flush(struct rt_exec *ex, const struct accel_fence_point *signal)
{
	if (!ex->n && !signal)
		return 0;
	if (!ex->n && !rt_exec_emit(ex))	/* a NOP carries the signal */
		return -ENOMEM;
	return rt_exec_submit(ex, signal, false);
}

int rt_exec_run(struct rt_exec *ex, const struct accel_fence_point *signal)
{
	if (!ex->n && !rt_exec_emit(ex))
		return -ENOMEM;
	return rt_exec_submit(ex, signal, true);
}

void rt_exec_discard(struct rt_exec *ex)
{
	ex->n = 0;
	ex->nwaits = 0;
}
