// SPDX-License-Identifier: MIT
/*
 * CPU COMPUTE executor's entry points: accel_cpu_check, accel_cpu_scratch_size
 * and accel_cpu_exec find each command's op in the op table (op_table.c) and
 * call its CPU column (cpu_op_*.c, which call kernels/). Multi-phase ops
 * separate phases with ctx->barrier(), which every thread reaches.
 */
#include <errno.h>
#include "cpu_dump.h"
#include "cpu_op.h"
#include "op_table.h"

/* the op's descriptor if the COMPUTE engine may run it, else NULL */
static const struct accel_op_desc *cpu_op(const struct accel_cmd *c)
{
	const struct accel_op_desc *d = accel_op_desc(c->op);

	return d && (d->engines & ACCEL_OP_ENGINE(ACCEL_ENGINE_COMPUTE)) ? d : NULL;
}

int accel_cpu_check(const struct accel_cmd *cmd)
{
	const struct accel_op_desc *d;

	if (!cmd)
		return -EINVAL;
	d = cpu_op(cmd);
	if (!d)
		return -EINVAL;		/* a COPY op or no op at all */
	return d->check ? d->check(cmd) : 0;
}

size_t accel_cpu_scratch_size(const struct accel_cmd *cmd, int nth)
{
	const struct accel_op_desc *d;

	if (!cmd || accel_cpu_check(cmd))
		return 0;
	d = cpu_op(cmd);
	return d->cpu_scratch ? d->cpu_scratch(cmd, nth) : 0;
}

int accel_cpu_exec_nop(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	return 0;
}

int accel_cpu_exec(const struct accel_cmd *cmd, struct accel_cpu_ctx *ctx)
{
	const struct accel_op_desc *d = cpu_op(cmd);
	int ret = d && d->cpu ? d->cpu(cmd, ctx) : -EOPNOTSUPP;

	if (accel_cpu_dump_enabled())
		accel_cpu_dump(cmd, ctx);
	return ret;
}
