// SPDX-License-Identifier: MIT
/*
 * CPU COMPUTE executor's entry points: accel_cpu_check, accel_cpu_scratch_size
 * and accel_cpu_exec dispatch each command to its op (cpu_op_*.c, which call
 * kernels/). Multi-phase ops separate phases with ctx->barrier(), which every
 * thread reaches: any check that can fail is done by all threads before the first.
 */
#include <errno.h>
#include "cpu_dump.h"
#include "cpu_op.h"

int accel_cpu_check(const struct accel_cmd *cmd)
{
	const struct accel_cmd *c = cmd;

	if (!c)
		return -EINVAL;
	switch (c->op) {
	case ACCEL_OP_NOP:
		return 0;
	case ACCEL_OP_EMBED:
		return accel_cpu_check_embed(c);
	case ACCEL_OP_RMSNORM:
		return accel_cpu_check_rmsnorm(c);
	case ACCEL_OP_MATMUL:
		return accel_cpu_check_matmul(c);
	case ACCEL_OP_LOGITS:
		return accel_cpu_check_logits(c);
	case ACCEL_OP_ROPE:
		return accel_cpu_check_rope(c);
	case ACCEL_OP_ATTN_PREFILL:
	case ACCEL_OP_ATTN_DECODE:
		return accel_cpu_check_attn(c);
	case ACCEL_OP_SWIGLU:
		return accel_cpu_check_swiglu(c);
	case ACCEL_OP_ADD:
		return accel_cpu_check_add(c);
	case ACCEL_OP_MOE_ROUTE:
		return accel_cpu_check_moe_route(c);
	case ACCEL_OP_MOE_FFN:
		return accel_cpu_check_moe_ffn(c);
	default:
		return -EINVAL;		/* a COPY op or no op at all */
	}
}

size_t accel_cpu_scratch_size(const struct accel_cmd *cmd, int nth)
{
	if (!cmd || accel_cpu_check(cmd))
		return 0;
	switch (cmd->op) {
	case ACCEL_OP_ATTN_PREFILL:
	case ACCEL_OP_ATTN_DECODE:
		return accel_cpu_scratch_attn(cmd, nth);
	case ACCEL_OP_MATMUL:
	case ACCEL_OP_LOGITS:
		return accel_cpu_scratch_matmul(cmd, nth);
	case ACCEL_OP_MOE_FFN:
		return accel_cpu_scratch_moe_ffn(cmd, nth);
	default:
		return 0;
	}
}

static int cpu_exec_op(const struct accel_cmd *cmd, struct accel_cpu_ctx *ctx)
{
	const struct accel_cmd *c = cmd;

	switch (c->op) {
	case ACCEL_OP_NOP:
		return 0;
	case ACCEL_OP_EMBED:
		return accel_cpu_exec_embed(c, ctx);
	case ACCEL_OP_RMSNORM:
		return accel_cpu_exec_rmsnorm(c, ctx);
	case ACCEL_OP_MATMUL:
	case ACCEL_OP_LOGITS:
		return accel_cpu_exec_matmul(c, ctx);
	case ACCEL_OP_ROPE:
		return accel_cpu_exec_rope(c, ctx);
	case ACCEL_OP_ATTN_PREFILL:
	case ACCEL_OP_ATTN_DECODE:
		return accel_cpu_exec_attn(c, ctx);
	case ACCEL_OP_SWIGLU:
		return accel_cpu_exec_swiglu(c, ctx);
	case ACCEL_OP_ADD:
		return accel_cpu_exec_add(c, ctx);
	case ACCEL_OP_MOE_ROUTE:
		return accel_cpu_exec_moe_route(c, ctx);
	case ACCEL_OP_MOE_FFN:
		return accel_cpu_exec_moe_ffn(c, ctx);
	default:
		return -EOPNOTSUPP;
	}
}

int accel_cpu_exec(const struct accel_cmd *cmd, struct accel_cpu_ctx *ctx)
{
	int ret = cpu_exec_op(cmd, ctx);

	if (accel_cpu_dump_enabled())
		accel_cpu_dump(cmd, ctx);
	return ret;
}
