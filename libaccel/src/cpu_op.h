/* SPDX-License-Identifier: MIT */
/*
 * The CPU executor's per-op files (cpu_op_*.c) share this: tensor-shape
 * helpers, work splitting and the barrier wrapper (static inline, so the
 * split into files costs no call), and each op's check / exec / scratch entry.
 */
#ifndef ACCEL_CPU_OP_H
#define ACCEL_CPU_OP_H

#include <stdbool.h>
#include <string.h>
#include "backend.h"
#include "cpu_exec.h"
#include "kn.h"

#define CPU_ALIGN(x)	(((x) + 63) & ~(size_t)63)

/* ----------------------------------------------------------- tensor helpers */

static inline bool cpu_t_unused(const struct accel_tensor *t)
{
	return t->ne[0] == 0;
}

static inline int64_t cpu_t_rows(const struct accel_tensor *t)
{
	return t->ne[1] * t->ne[2] * t->ne[3];
}

static inline int64_t cpu_t_nel(const struct accel_tensor *t)
{
	return t->ne[0] * cpu_t_rows(t);
}

/* a well-formed tensor of @dtype: positive dims, ne[0] a whole number of blocks */
static inline bool cpu_t_ok(const struct accel_tensor *t, uint32_t dtype)
{
	if (t->dtype != dtype)
		return false;
	for (int i = 0; i < 4; i++)
		if (t->ne[i] <= 0 || t->ne[i] > (INT64_C(1) << 40))
			return false;
	return kn_row_size(dtype, t->ne[0]) != 0 && cpu_t_nel(t) <= (INT64_C(1) << 48);
}

static inline bool cpu_t_f32(const struct accel_tensor *t)
{
	return cpu_t_ok(t, ACCEL_DTYPE_F32);
}

static inline bool cpu_t_i32(const struct accel_tensor *t)
{
	return cpu_t_ok(t, ACCEL_DTYPE_I32);
}

static inline bool cpu_t_same_shape(const struct accel_tensor *a, const struct accel_tensor *b)
{
	return !memcmp(a->ne, b->ne, sizeof(a->ne));
}

/* [ne0, ne1] with ne2 == ne3 == 1 */
static inline bool cpu_t_2d(const struct accel_tensor *t, int64_t ne0, int64_t ne1)
{
	return t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1;
}

/* ------------------------------------------------------- work splitting */

/* this thread's share [*s, *e) of n items */
static inline void cpu_split(int64_t n, const struct accel_cpu_ctx *ctx, int64_t *s, int64_t *e)
{
	int64_t per = (n + ctx->nth - 1) / ctx->nth;

	*s = per * ctx->ith < n ? per * ctx->ith : n;
	*e = *s + per < n ? *s + per : n;
}

static inline void cpu_barrier(struct accel_cpu_ctx *ctx)
{
	if (ctx->nth > 1 && ctx->barrier)
		ctx->barrier(ctx);
}

/* quantize rows [s, e) of x (n_in each) to @type into dst */
static inline void cpu_quantize_rows(uint32_t type, const float *x, uint8_t *dst, int64_t n_in,
				     int64_t s, int64_t e)
{
	const size_t rs = kn_row_size(type, n_in);

	for (int64_t r = s; r < e; r++)
		kn_quantize_act_row(type, x + r * n_in, dst + r * rs, n_in);
}

/*
 * Per-op entry points, the op table's CPU column (op_table.c):
 *   check   - shapes, dtypes, scalars at submit time: 0, -EINVAL, -EOPNOTSUPP
 *   exec    - this thread's share of the command: 0 or -errno
 *   scratch - scratch bytes with nth threads (the command already checked)
 */

/* cpu_exec.c: NOP */
int accel_cpu_exec_nop(const struct accel_cmd *c, struct accel_cpu_ctx *ctx);

/* cpu_op_elementwise.c: EMBED, RMSNORM, ROPE, SWIGLU, ADD */
int accel_cpu_check_embed(const struct accel_cmd *c);
int accel_cpu_exec_embed(const struct accel_cmd *c, struct accel_cpu_ctx *ctx);
int accel_cpu_check_rmsnorm(const struct accel_cmd *c);
int accel_cpu_exec_rmsnorm(const struct accel_cmd *c, struct accel_cpu_ctx *ctx);
int accel_cpu_check_rope(const struct accel_cmd *c);
int accel_cpu_exec_rope(const struct accel_cmd *c, struct accel_cpu_ctx *ctx);
int accel_cpu_check_swiglu(const struct accel_cmd *c);
int accel_cpu_exec_swiglu(const struct accel_cmd *c, struct accel_cpu_ctx *ctx);
int accel_cpu_check_add(const struct accel_cmd *c);
int accel_cpu_exec_add(const struct accel_cmd *c, struct accel_cpu_ctx *ctx);

/* cpu_op_matmul.c: MATMUL (with bias), LOGITS (without) */
int accel_cpu_check_matmul(const struct accel_cmd *c);
int accel_cpu_check_logits(const struct accel_cmd *c);
size_t accel_cpu_scratch_matmul(const struct accel_cmd *c, int nth);
int accel_cpu_exec_matmul(const struct accel_cmd *c, struct accel_cpu_ctx *ctx);

/* cpu_op_attn.c: ATTN_PREFILL, ATTN_DECODE */
int accel_cpu_check_attn(const struct accel_cmd *c);
size_t accel_cpu_scratch_attn(const struct accel_cmd *c, int nth);
int accel_cpu_exec_attn(const struct accel_cmd *c, struct accel_cpu_ctx *ctx);

/* cpu_op_moe.c: MOE_ROUTE, MOE_FFN, MOE_SUM */
int accel_cpu_check_moe_route(const struct accel_cmd *c);
int accel_cpu_exec_moe_route(const struct accel_cmd *c, struct accel_cpu_ctx *ctx);
int accel_cpu_check_moe_ffn(const struct accel_cmd *c);
size_t accel_cpu_scratch_moe_ffn(const struct accel_cmd *c, int nth);
int accel_cpu_exec_moe_ffn(const struct accel_cmd *c, struct accel_cpu_ctx *ctx);
int accel_cpu_check_moe_sum(const struct accel_cmd *c);
int accel_cpu_exec_moe_sum(const struct accel_cmd *c, struct accel_cpu_ctx *ctx);

#endif /* ACCEL_CPU_OP_H */
