// SPDX-License-Identifier: MIT
/*
 * CPU executor, ATTN_PREFILL and ATTN_DECODE (layout in accel_cmd.h): bounds
 * of every block a token touches, then two phases: store this step's K/V in
 * the paged cache, barrier, fused attention (kn_attn, llama.cpp-exact:
 * its flash-attention kernel or its softmax-then-matmul graph, per i5).
 */
#include <errno.h>
#include <math.h>
#include "cpu_op.h"
#include "kn_ops.h"

#define CPU_MAX_HD	1024	/* kn_attn's head-dim limit */

static bool cpu_attn_dtype_ok(int64_t t)
{
	return t == ACCEL_DTYPE_F32 || t == ACCEL_DTYPE_F16 || t == ACCEL_DTYPE_Q8_0;
}

/* i5's ACCEL_ATTN_SPLIT field */
static int64_t cpu_attn_split(const struct accel_cmd *c)
{
	return (c->i[5] & ACCEL_ATTN_SPLIT_MASK) >> ACCEL_ATTN_SPLIT_SHIFT;
}

int accel_cpu_check_attn(const struct accel_cmd *c)
{
	const struct accel_tensor *o = &c->t[0], *q = &c->t[1], *k = &c->t[2], *v = &c->t[3];
	const struct accel_tensor *cache = &c->t[4], *bt = &c->t[5], *pos = &c->t[6];
	const struct accel_tensor *seq = &c->t[7];
	const int64_t layer = c->i[0], n_layer = c->i[1], btok = c->i[2];
	const int64_t kt = c->i[3], vt = c->i[4], flags = c->i[5];
	int64_t hd, nh, nkv, n;

	if (!cpu_t_f32(o) || !cpu_t_f32(q) || !cpu_t_f32(k) || !cpu_t_f32(v) ||
	    !cpu_t_i32(bt) || !cpu_t_i32(pos) || !cpu_t_i32(seq))
		return -EINVAL;
	hd = q->ne[0];
	nh = q->ne[1];
	n = q->ne[2];
	nkv = k->ne[1];
	if (q->ne[3] != 1 || !cpu_t_same_shape(k, v) || k->ne[0] != hd || k->ne[2] != n ||
	    k->ne[3] != 1 || !cpu_t_2d(o, hd * nh, n) || !cpu_t_2d(pos, n, 1) ||
	    !(cpu_t_2d(seq, n, 1) || cpu_t_2d(seq, n, 2)) || bt->ne[2] != 1 || bt->ne[3] != 1)
		return -EINVAL;
	if (hd > CPU_MAX_HD || nh % nkv)
		return -EINVAL;
	if (n_layer <= 0 || n_layer > 65536 || layer < 0 || layer >= n_layer || btok <= 0 ||
	    btok > (1 << 20) || nkv * hd > (INT64_C(1) << 24) || !cpu_attn_dtype_ok(kt) ||
	    !cpu_attn_dtype_ok(vt) ||
	    (flags & ~(int64_t)(ACCEL_ATTN_FLAGS_MASK | ACCEL_ATTN_SPLIT_MASK)))
		return -EINVAL;
	/* the split is a thread count of llama.cpp's flash-attention op */
	if (cpu_attn_split(c) > ACCEL_ATTN_SPLIT_MAX ||
	    (cpu_attn_split(c) && !(flags & ACCEL_ATTN_FLASH)))
		return -EINVAL;
	/* Q8_0 blocks of 32 stay within a head; a quantized V needs flash
	 * attention (llama.cpp refuses it otherwise) */
	if (((kt == ACCEL_DTYPE_Q8_0 || vt == ACCEL_DTYPE_Q8_0) && hd % 32) ||
	    (vt == ACCEL_DTYPE_Q8_0 && !(flags & ACCEL_ATTN_FLASH)))
		return -EINVAL;
	if (!isfinite(c->f[0]))
		return -EINVAL;
	if (!cache->pool && (cache->dtype != ACCEL_DTYPE_I8 || !cache->offset || cache->ne[0] <= 0))
		return -EINVAL;		/* a host cache: I8 [bytes] at a host address */
	return 0;
}

/* attention's per-thread work (llama.cpp-exact softmax rows and lanes) */
static size_t cpu_attn_work_floats(const struct accel_cmd *c)
{
	const struct kn_attn_args a = {
		.max_blocks = c->t[5].ne[0], .block_tokens = (int)c->i[2], .hd = c->t[1].ne[0],
	};

	return kn_attn_work_floats(&a);
}

size_t accel_cpu_scratch_attn(const struct accel_cmd *cmd, int nth)
{
	return (size_t)(nth > 0 ? nth : 1) * cpu_attn_work_floats(cmd) * sizeof(float);
}

int accel_cpu_exec_attn(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	const struct accel_tensor *q = &c->t[1], *k = &c->t[2], *cache = &c->t[4];
	const struct accel_tensor *bt = &c->t[5];
	const int64_t row = k->ne[1] * k->ne[0];
	/* bounded by check: n_layer <= 2^16, tokens <= 2^20, row <= 2^24 of <= 4 bytes */
	const uint64_t rows = accel_dtype_row_size((uint32_t)c->i[3], row) +
			      accel_dtype_row_size((uint32_t)c->i[4], row);
	const unsigned __int128 need128 = (unsigned __int128)c->i[1] * (uint64_t)c->i[2] * rows;
	const uint64_t need = need128 > UINT64_MAX ? UINT64_MAX : (uint64_t)need128;
	uint64_t cache_bytes, block_size;
	struct kn_attn_args a = {
		.out = accel_tensor_data(&c->t[0]),
		.q = accel_tensor_data(q),
		.k = accel_tensor_data(k),
		.v = accel_tensor_data(&c->t[3]),
		.block_table = accel_tensor_data(bt),
		.max_blocks = bt->ne[0],
		.pos = accel_tensor_data(&c->t[6]),
		.seq = accel_tensor_data(&c->t[7]),
		.n = q->ne[2], .n_head = q->ne[1], .n_kv_head = k->ne[1], .hd = q->ne[0],
		.layer = (int)c->i[0], .n_layer = (int)c->i[1], .block_tokens = (int)c->i[2],
		.k_type = (uint32_t)c->i[3], .v_type = (uint32_t)c->i[4],
		.flash = (c->i[5] & ACCEL_ATTN_FLASH) != 0, .scale = c->f[0],
		.row_invariant = (c->i[5] & ACCEL_ATTN_ROW_INVARIANT) != 0,
		.split = (int)cpu_attn_split(c),
		/* t7's second row: each query's chunk size (accel_cmd.h) */
		.chunk = c->t[7].ne[1] == 2 ? (const int32_t *)accel_tensor_data(&c->t[7]) + q->ne[2]
					    : NULL,
	};

	if (cache->pool) {
		a.cache = (uint8_t *)cache->pool->base;
		cache_bytes = cache->pool->size;
		block_size = cache->pool->block_size ? cache->pool->block_size : need;
	} else {
		a.cache = accel_tensor_data(cache);
		cache_bytes = (uint64_t)cache->ne[0];
		block_size = need;
	}
	if (need > block_size)
		return -EINVAL;
	if (!ctx->scratch ||
	    ctx->scratch_size < (size_t)ctx->nth * cpu_attn_work_floats(c) * sizeof(float))
		return -ENOMEM;
	a.work = (float *)ctx->scratch;	/* llama.cpp-exact arithmetic */
	a.block_size = block_size;
	/* every block a token reads or writes must be in the table and the pool */
	for (int64_t t = 0; t < a.n; t++) {
		const int32_t s = a.seq[t], p = a.pos[t];

		if (s < 0 || s >= bt->ne[1] || p < 0 || p / a.block_tokens >= a.max_blocks ||
		    (a.chunk && a.chunk[t] < 1))
			return -EINVAL;
		for (int64_t b = 0; b <= p / a.block_tokens; b++) {
			const int32_t id = a.block_table[(int64_t)s * a.max_blocks + b];

			if (id < 0 || (uint64_t)id >= cache_bytes / block_size)
				return -EINVAL;
		}
	}
	kn_attn_store_kv(&a, ctx->ith, ctx->nth);
	cpu_barrier(ctx);
	kn_attn(&a, ctx->ith, ctx->nth);
	return 0;
}
