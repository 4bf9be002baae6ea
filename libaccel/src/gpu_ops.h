/* SPDX-License-Identifier: MIT */
/*
 * What a GPU backend's COMPUTE stream runs (gpu_abi.h's @check), one rule
 * for every backend: the CUDA one (libaccel/cuda/gpu_exec.c) and the CPU
 * emulation of a GPU (libaccel/gpuemu/), so a run on the emulation takes
 * the GPU path exactly where a CUDA device would and falls back (or is
 * refused) exactly where it would.
 */
#ifndef ACCEL_GPU_OPS_H
#define ACCEL_GPU_OPS_H

#include <errno.h>
#include "accel.h"

#define ACCEL_GPU_MAX_HD	256	/* kn_cuda_attn's head dimension limit */
#define ACCEL_GPU_MAX_EXP	256	/* kn_cuda_moe_route's expert limit */

/* 0 when a GPU runs @c, -EOPNOTSUPP when it does not (after the op table's checks) */
static inline int accel_gpu_op_check(const struct accel_cmd *c)
{
	switch (c->op) {
	case ACCEL_OP_ATTN_PREFILL:
	case ACCEL_OP_ATTN_DECODE:
		/* F32 or F16 caches, K and V of one type (Q8_0 caches are
		 * CPU-only so far) */
		if ((c->i[3] != ACCEL_DTYPE_F32 && c->i[3] != ACCEL_DTYPE_F16) || c->i[4] != c->i[3])
			return -EOPNOTSUPP;
		return c->t[1].ne[0] > ACCEL_GPU_MAX_HD ? -EOPNOTSUPP : 0;
	case ACCEL_OP_MOE_ROUTE:
		return c->t[2].ne[0] > ACCEL_GPU_MAX_EXP ? -EOPNOTSUPP : 0;
	case ACCEL_OP_MOE_FFN:
		/* by parts (ACCEL_MOE_SLOTS) and MOE_SUM: the CPU's streaming only;
		 * t6's plane of sequences and ACCEL_MOE_ROW_INVARIANT pick among
		 * the CPU's bit-exact orders: a GPU ignores them */
		return c->i[0] & ACCEL_MOE_SLOTS ? -EOPNOTSUPP : 0;
	case ACCEL_OP_EMBED:
	case ACCEL_OP_RMSNORM:
	case ACCEL_OP_MATMUL:
	case ACCEL_OP_LOGITS:
	case ACCEL_OP_ROPE:
	case ACCEL_OP_SWIGLU:
	case ACCEL_OP_ADD:
	case ACCEL_OP_NOP:
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

#endif /* ACCEL_GPU_OPS_H */
