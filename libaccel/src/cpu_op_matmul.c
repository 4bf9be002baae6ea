// SPDX-License-Identifier: MIT
/*
 * CPU executor, MATMUL and LOGITS: t0 [out, n] = t1 [in, n] x t2 W [in, out]
 * (+ t3 bias, MATMUL only). Two phases: quantize the activations to the
 * weight's vec_dot type (in scratch), barrier, then each thread's rows of W.
 */
#include <errno.h>
#include "cpu_op.h"
#include "kn_ops.h"

/* MATMUL with at most this many activation rows (decode): every thread
 * quantizes its own copy of them, so the phase needs no barrier */
#define CPU_MM_PRIVATE_ROWS	4
/* weight rows per chunk at most, with at most CPU_MM_PRIVATE_ROWS activation
 * rows: a multiple of the 4- and 8-row kernels */
#define CPU_MM_DECODE_CHUNK	128

static int cpu_check_matmul(const struct accel_cmd *c, bool allow_bias)
{
	const struct accel_tensor *o = &c->t[0], *x = &c->t[1], *w = &c->t[2], *b = &c->t[3];

	if (!kn_type_can_matmul(w->dtype))
		return -EOPNOTSUPP;
	if (!cpu_t_ok(w, w->dtype) || w->ne[2] != 1 || w->ne[3] != 1)
		return -EINVAL;
	if (!cpu_t_f32(o) || !cpu_t_f32(x) || x->ne[0] != w->ne[0] || o->ne[0] != w->ne[1] ||
	    o->ne[1] != x->ne[1] || o->ne[2] != x->ne[2] || o->ne[3] != x->ne[3])
		return -EINVAL;
	if (!kn_row_size(kn_vec_dot_type(w->dtype), x->ne[0]))
		return -EINVAL;
	if (!cpu_t_unused(b)) {
		if (!allow_bias || !cpu_t_f32(b) || b->ne[0] != w->ne[1] || cpu_t_rows(b) != 1)
			return -EINVAL;
	}
	if (!cpu_t_unused(&c->t[4]) &&
	    (!cpu_t_i32(&c->t[4]) || c->t[4].ne[0] != cpu_t_rows(x) ||
	     (cpu_t_rows(&c->t[4]) != 1 && cpu_t_rows(&c->t[4]) != 2)))
		return -EINVAL;
	if ((uint64_t)c->i[0] & ~(uint64_t)ACCEL_MATMUL_FLAGS_MASK ||
	    (c->i[1] && c->i[1] < w->ne[1]))
		return -EINVAL;
	return 0;
}

int accel_cpu_check_matmul(const struct accel_cmd *c)
{
	return cpu_check_matmul(c, true);
}

int accel_cpu_check_logits(const struct accel_cmd *c)
{
	return cpu_check_matmul(c, false);
}

size_t accel_cpu_scratch_matmul(const struct accel_cmd *cmd, int nth)
{
	const uint32_t vt = kn_vec_dot_type(cmd->t[2].dtype);
	const size_t bytes = (size_t)cpu_t_rows(&cmd->t[1]) * kn_row_size(vt, cmd->t[1].ne[0]);

	if (vt == ACCEL_DTYPE_F32)
		return 0;	/* F32 weights read the activations in place */
	if (nth > 1 && cpu_t_rows(&cmd->t[1]) <= CPU_MM_PRIVATE_ROWS)
		return (size_t)nth * CPU_ALIGN(bytes);
	return bytes;
}

int accel_cpu_exec_matmul(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	const struct accel_tensor *x = &c->t[1], *w = &c->t[2];
	const uint32_t vt = kn_vec_dot_type(w->dtype);
	const int64_t n_in = x->ne[0], n = cpu_t_rows(x);
	const float *xf = accel_tensor_data(x);
	const void *a = xf;
	int64_t s, e;

	if (vt != ACCEL_DTYPE_F32 && ctx->nth > 1 && n <= CPU_MM_PRIVATE_ROWS &&
	    ctx->scratch && ctx->scratch_size >= (size_t)ctx->nth *
						  CPU_ALIGN((size_t)n * kn_row_size(vt, n_in))) {
		/* a few rows: each thread its own copy, no barrier (the same bytes) */
		uint8_t *mine = (uint8_t *)ctx->scratch +
				(size_t)ctx->ith * CPU_ALIGN((size_t)n * kn_row_size(vt, n_in));

		cpu_quantize_rows(vt, xf, mine, n_in, 0, n);
		a = mine;
	} else if (vt != ACCEL_DTYPE_F32) {
		if (!ctx->scratch || ctx->scratch_size < (size_t)n * kn_row_size(vt, n_in))
			return -ENOMEM;
		cpu_split(n, ctx, &s, &e);
		cpu_quantize_rows(vt, xf, ctx->scratch, n_in, s, e);
		cpu_barrier(ctx);
		a = ctx->scratch;
	}
	const int32_t *seq = cpu_t_unused(&c->t[4]) ? NULL : accel_tensor_data(&c->t[4]);
	const int32_t *chunk = seq && cpu_t_rows(&c->t[4]) >= 2 ? seq + n : NULL;
	const bool inv = (c->i[0] & ACCEL_MATMUL_ROW_INVARIANT) != 0;
	const int64_t rows = w->ne[1], mat = c->i[1] ? c->i[1] : rows;
	float *out = accel_tensor_data(&c->t[0]);
	const float *bias = cpu_t_unused(&c->t[3]) ? NULL : accel_tensor_data(&c->t[3]);

	if (!ctx->work || ctx->nth == 1) {
		kn_matmul_seq(out, accel_tensor_data(w), w->dtype, a, bias, n_in, rows, n, seq, chunk,
			      inv, mat, ctx->ith, ctx->nth);
		return 0;
	}
	/*
	 * rows in chunks from the shared counter (ggml's scheme): about 8 per
	 * thread, multiples of 4 (the 4-row kernels), so a thread that starts
	 * late or is preempted (a shared machine) delays the others by one chunk
	 * at most instead of its whole static share
	 */
	const int64_t per = ((rows + 8 * ctx->nth - 1) / (8 * ctx->nth) + 15) & ~(int64_t)15;
	int64_t cs = per < 16 ? 16 : per;

	/*
	 * a few activation rows (decode): at most CPU_MM_DECODE_CHUNK weight rows
	 * a chunk, so the output head's 49152 rows (SmolLM2) are 384 chunks of
	 * ~8 us rather than 16 of ~100 us, the last of which the other threads
	 * waited out at the barrier
	 */
	if (n <= CPU_MM_PRIVATE_ROWS && cs > CPU_MM_DECODE_CHUNK)
		cs = CPU_MM_DECODE_CHUNK;
	const int64_t nchunks = (rows + cs - 1) / cs;

	for (int64_t k = atomic_fetch_add_explicit(ctx->work, 1, memory_order_relaxed); k < nchunks;
	     k = atomic_fetch_add_explicit(ctx->work, 1, memory_order_relaxed))
		kn_matmul_range(out, accel_tensor_data(w), w->dtype, a, bias, n_in, rows, n, seq,
				chunk, inv, mat, k * cs, (k + 1) * cs < rows ? (k + 1) * cs : rows);
	return 0;
}
