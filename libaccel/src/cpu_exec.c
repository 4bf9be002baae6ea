// SPDX-License-Identifier: MIT
/*
 * CPU COMPUTE executor: validates COMPUTE commands and runs each thread's
 * share through kernels/. (Initial version: NOP and ADD; the kernels work
 * replaces this file with every opcode.)
 */
#include <errno.h>
#include "cpu_exec.h"

int accel_cpu_check(const struct accel_cmd *cmd)
{
	switch (cmd->op) {
	case ACCEL_OP_NOP:
		return 0;
	case ACCEL_OP_ADD:
		if (cmd->t[0].dtype != ACCEL_DTYPE_F32 || cmd->t[1].dtype != ACCEL_DTYPE_F32 ||
		    cmd->t[2].dtype != ACCEL_DTYPE_F32)
			return -EINVAL;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

size_t accel_cpu_scratch_size(const struct accel_cmd *cmd, int nth)
{
	return 0;
}

int accel_cpu_exec(const struct accel_cmd *cmd, struct accel_cpu_ctx *ctx)
{
	switch (cmd->op) {
	case ACCEL_OP_NOP:
		return 0;
	case ACCEL_OP_ADD: {
		float *d = accel_tensor_data(&cmd->t[0]);
		const float *a = accel_tensor_data(&cmd->t[1]);
		const float *b = accel_tensor_data(&cmd->t[2]);
		int64_t n = cmd->t[0].ne[0] * cmd->t[0].ne[1] * cmd->t[0].ne[2] * cmd->t[0].ne[3];
		int64_t per = (n + ctx->nth - 1) / ctx->nth;
		int64_t i0 = per * ctx->ith, i1 = i0 + per < n ? i0 + per : n;

		for (int64_t i = i0; i < i1; i++)
			d[i] = a[i] + b[i];
		return 0;
	}
	default:
		return -EOPNOTSUPP;
	}
}
