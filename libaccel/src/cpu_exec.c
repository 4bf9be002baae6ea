// SPDX-License-Identifier: MIT
/*
 * CPU COMPUTE executor: validates COMPUTE commands (shapes, dtypes) and runs
 * each worker's share of a command through kernels/ (kn_*). Multi-phase ops
 * (MATMUL: quantize activations, then rows of W; attention: store K/V, then
 * attend; MOE_FFN) separate phases with ctx->barrier(), which every thread
 * reaches: any check that can fail is done by all threads before the first.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include "backend.h"
#include "cpu_dump.h"
#include "cpu_exec.h"
#include "kn.h"
#include "kn_ops.h"

#define CPU_ALIGN(x)	(((x) + 63) & ~(size_t)63)
#define CPU_MAX_HD	1024	/* kn_attn's head-dim limit */
#define CPU_MAX_ROT	1024	/* kn_rope's n_rot limit */
/* MATMUL with at most this many activation rows (decode): every thread
 * quantizes its own copy of them, so the phase needs no barrier */
#define CPU_MM_PRIVATE_ROWS	4

/* ----------------------------------------------------------- tensor helpers */

static bool cpu_t_unused(const struct accel_tensor *t)
{
	return t->ne[0] == 0;
}

static int64_t cpu_t_rows(const struct accel_tensor *t)
{
	return t->ne[1] * t->ne[2] * t->ne[3];
}

static int64_t cpu_t_nel(const struct accel_tensor *t)
{
	return t->ne[0] * cpu_t_rows(t);
}

/* a well-formed tensor of @dtype: positive dims, ne[0] a whole number of blocks */
static bool cpu_t_ok(const struct accel_tensor *t, uint32_t dtype)
{
	if (t->dtype != dtype)
		return false;
	for (int i = 0; i < 4; i++)
		if (t->ne[i] <= 0 || t->ne[i] > (INT64_C(1) << 40))
			return false;
	return kn_row_size(dtype, t->ne[0]) != 0 && cpu_t_nel(t) <= (INT64_C(1) << 48);
}

static bool cpu_t_f32(const struct accel_tensor *t)
{
	return cpu_t_ok(t, ACCEL_DTYPE_F32);
}

static bool cpu_t_i32(const struct accel_tensor *t)
{
	return cpu_t_ok(t, ACCEL_DTYPE_I32);
}

static bool cpu_t_same_shape(const struct accel_tensor *a, const struct accel_tensor *b)
{
	return !memcmp(a->ne, b->ne, sizeof(a->ne));
}

/* [ne0, ne1] with ne2 == ne3 == 1 */
static bool cpu_t_2d(const struct accel_tensor *t, int64_t ne0, int64_t ne1)
{
	return t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1;
}

/* ----------------------------------------------------------------- checks */

static int cpu_check_embed(const struct accel_cmd *c)
{
	const struct accel_tensor *o = &c->t[0], *w = &c->t[1], *ids = &c->t[2];

	if (!kn_type_can_dequantize(w->dtype))
		return -EOPNOTSUPP;
	if (!cpu_t_ok(w, w->dtype) || w->ne[2] != 1 || w->ne[3] != 1)
		return -EINVAL;
	if (!cpu_t_f32(o) || !cpu_t_i32(ids) || !cpu_t_2d(o, w->ne[0], ids->ne[0]) ||
	    cpu_t_rows(ids) != 1)
		return -EINVAL;
	return 0;
}

static int cpu_check_rmsnorm(const struct accel_cmd *c)
{
	const struct accel_tensor *o = &c->t[0], *x = &c->t[1], *w = &c->t[2];

	if (!cpu_t_f32(o) || !cpu_t_f32(x) || !cpu_t_f32(w) || !cpu_t_same_shape(o, x) ||
	    w->ne[0] != x->ne[0] || cpu_t_rows(w) != 1)
		return -EINVAL;
	if (!(c->f[0] >= 0.0f) || !isfinite(c->f[0]))
		return -EINVAL;
	return 0;
}

/* MATMUL / LOGITS: t0 [out, n] = t1 [in, n] x t2 W [in, out] (+ t3 [out]) */
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
	return 0;
}

static int cpu_check_rope(const struct accel_cmd *c)
{
	const struct accel_tensor *x = &c->t[0], *pos = &c->t[1], *ff = &c->t[2];
	const int64_t n_rot = c->i[0], mode = c->i[1];

	if (!cpu_t_f32(x) || !cpu_t_i32(pos) || x->ne[3] != 1 || !cpu_t_2d(pos, x->ne[2], 1))
		return -EINVAL;
	if (n_rot <= 0 || n_rot > x->ne[0] || n_rot > CPU_MAX_ROT || (n_rot & 1) ||
	    (mode != 0 && mode != 2))
		return -EINVAL;
	if (!(c->f[0] > 0.0f) || !isfinite(c->f[0]) || !(c->f[1] > 0.0f) || !isfinite(c->f[1]))
		return -EINVAL;
	if (!cpu_t_unused(ff) && (!cpu_t_f32(ff) || !cpu_t_2d(ff, n_rot / 2, 1)))
		return -EINVAL;
	return 0;
}

static int cpu_check_attn(const struct accel_cmd *c)
{
	const struct accel_tensor *o = &c->t[0], *q = &c->t[1], *k = &c->t[2], *v = &c->t[3];
	const struct accel_tensor *cache = &c->t[4], *bt = &c->t[5], *pos = &c->t[6];
	const struct accel_tensor *seq = &c->t[7];
	const int64_t layer = c->i[0], n_layer = c->i[1], btok = c->i[2], ct = c->i[3];
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
	    !cpu_t_2d(seq, n, 1) || bt->ne[2] != 1 || bt->ne[3] != 1)
		return -EINVAL;
	if (hd > CPU_MAX_HD || nh % nkv)
		return -EINVAL;
	if (n_layer <= 0 || n_layer > 65536 || layer < 0 || layer >= n_layer || btok <= 0 ||
	    btok > (1 << 20) || nkv * hd > (INT64_C(1) << 24) ||
	    (ct != ACCEL_DTYPE_F32 && ct != ACCEL_DTYPE_F16))
		return -EINVAL;
	if (!isfinite(c->f[0]))
		return -EINVAL;
	if (!cache->pool && (cache->dtype != ACCEL_DTYPE_I8 || !cache->offset || cache->ne[0] <= 0))
		return -EINVAL;		/* a host cache: I8 [bytes] at a host address */
	return 0;
}

static int cpu_check_moe_route(const struct accel_cmd *c)
{
	const struct accel_tensor *w = &c->t[0], *ids = &c->t[1], *l = &c->t[2];
	const int64_t k = c->i[0];

	if (!cpu_t_f32(w) || !cpu_t_i32(ids) || !cpu_t_f32(l) || !cpu_t_same_shape(w, ids))
		return -EINVAL;
	if (k <= 0 || k > l->ne[0] || l->ne[0] > 256 || !cpu_t_2d(w, k, l->ne[1]) ||
	    l->ne[2] != 1 || l->ne[3] != 1)
		return -EINVAL;
	if (c->i[1] != 0 && c->i[1] != 1)
		return -EINVAL;
	return 0;
}

/* MOE_FFN's expert count: the expert table's rows when t7 is given (experts
 * scattered in a cache pool; t2..t4 then describe one expert), else ne[2] */
static int64_t cpu_moe_n_exp(const struct accel_cmd *c)
{
	return c->t[7].ne[0] ? c->t[7].ne[1] : c->t[2].ne[2];
}

static int cpu_check_moe_ffn(const struct accel_cmd *c)
{
	const struct accel_tensor *o = &c->t[0], *x = &c->t[1], *g = &c->t[2], *u = &c->t[3];
	const struct accel_tensor *d = &c->t[4], *wt = &c->t[5], *ids = &c->t[6];
	int64_t dim, ff, ne, n, k;

	if (!kn_type_can_matmul(g->dtype) || !kn_type_can_matmul(u->dtype) ||
	    !kn_type_can_matmul(d->dtype))
		return -EOPNOTSUPP;
	if (!cpu_t_ok(g, g->dtype) || !cpu_t_ok(u, u->dtype) || !cpu_t_ok(d, d->dtype) ||
	    !cpu_t_f32(o) || !cpu_t_f32(x) || !cpu_t_f32(wt) || !cpu_t_i32(ids))
		return -EINVAL;
	dim = x->ne[0];
	n = x->ne[1];
	ff = g->ne[1];
	ne = cpu_moe_n_exp(c);
	k = wt->ne[0];
	if (c->t[7].ne[0] && (c->t[7].dtype != ACCEL_DTYPE_I64 || c->t[7].ne[0] != 3 ||
			      c->t[7].ne[1] < 1 || c->t[7].ne[2] != 1 || c->t[7].ne[3] != 1 ||
			      g->ne[2] != 1 || d->ne[2] != 1 || !g->pool || g->pool != u->pool ||
			      g->pool != d->pool))
		return -EINVAL;
	if (!cpu_t_2d(x, dim, n) || !cpu_t_same_shape(o, x) || !cpu_t_same_shape(g, u) ||
	    g->ne[0] != dim || g->ne[3] != 1 || d->ne[0] != ff || d->ne[1] != dim ||
	    d->ne[2] != g->ne[2] || d->ne[3] != 1 || !cpu_t_2d(wt, k, n) ||
	    !cpu_t_same_shape(wt, ids) || k > ne)
		return -EINVAL;
	if (!kn_row_size(kn_vec_dot_type(g->dtype), dim) ||
	    !kn_row_size(kn_vec_dot_type(u->dtype), dim) ||
	    !kn_row_size(kn_vec_dot_type(d->dtype), ff))
		return -EINVAL;
	return 0;
}

int accel_cpu_check(const struct accel_cmd *cmd)
{
	const struct accel_cmd *c = cmd;

	if (!c)
		return -EINVAL;
	switch (c->op) {
	case ACCEL_OP_NOP:
		return 0;
	case ACCEL_OP_EMBED:
		return cpu_check_embed(c);
	case ACCEL_OP_RMSNORM:
		return cpu_check_rmsnorm(c);
	case ACCEL_OP_MATMUL:
		return cpu_check_matmul(c, true);
	case ACCEL_OP_LOGITS:
		return cpu_check_matmul(c, false);
	case ACCEL_OP_ROPE:
		return cpu_check_rope(c);
	case ACCEL_OP_ATTN_PREFILL:
	case ACCEL_OP_ATTN_DECODE:
		return cpu_check_attn(c);
	case ACCEL_OP_SWIGLU:
		if (!cpu_t_f32(&c->t[0]) || !cpu_t_f32(&c->t[1]) || !cpu_t_f32(&c->t[2]) ||
		    !cpu_t_same_shape(&c->t[0], &c->t[1]) || !cpu_t_same_shape(&c->t[0], &c->t[2]))
			return -EINVAL;
		return 0;
	case ACCEL_OP_ADD:
		if (!cpu_t_f32(&c->t[0]) || !cpu_t_f32(&c->t[1]) || !cpu_t_f32(&c->t[2]) ||
		    !cpu_t_same_shape(&c->t[0], &c->t[1]) || !cpu_t_same_shape(&c->t[0], &c->t[2]))
			return -EINVAL;
		return 0;
	case ACCEL_OP_MOE_ROUTE:
		return cpu_check_moe_route(c);
	case ACCEL_OP_MOE_FFN:
		return cpu_check_moe_ffn(c);
	default:
		return -EINVAL;		/* a COPY op or no op at all */
	}
}

/* ---------------------------------------------------------------- scratch */

/* MOE_FFN scratch: quantized x (gate, up), gate/up outputs, quantized hidden, down outputs */
struct cpu_moe_layout {
	size_t xg, xu, g, u, hq, d, cols, start, total;
};

static void cpu_moe_layout(const struct accel_cmd *c, struct cpu_moe_layout *L)
{
	const int64_t dim = c->t[1].ne[0], n = c->t[1].ne[1], ff = c->t[2].ne[1];
	const int64_t nk = n * c->t[5].ne[0];
	const uint32_t vg = kn_vec_dot_type(c->t[2].dtype), vu = kn_vec_dot_type(c->t[3].dtype);
	const uint32_t vd = kn_vec_dot_type(c->t[4].dtype);
	size_t off = 0;

	L->xg = off;
	off += CPU_ALIGN((size_t)n * kn_row_size(vg, dim));
	L->xu = vu == vg ? L->xg : off;
	if (vu != vg)
		off += CPU_ALIGN((size_t)n * kn_row_size(vu, dim));
	L->g = off;
	off += CPU_ALIGN((size_t)nk * ff * sizeof(float));
	L->u = off;
	off += CPU_ALIGN((size_t)nk * ff * sizeof(float));
	L->hq = off;
	off += CPU_ALIGN((size_t)nk * kn_row_size(vd, ff));
	L->d = off;
	off += CPU_ALIGN((size_t)nk * dim * sizeof(float));
	L->cols = off;		/* int32 [nk]: (token, slot) columns grouped by expert */
	off += CPU_ALIGN((size_t)nk * sizeof(int32_t));
	L->start = off;		/* int64 [n_exp + 1]: each expert's range in cols */
	off += CPU_ALIGN((size_t)(cpu_moe_n_exp(c) + 1) * sizeof(int64_t));
	L->total = off;
}

/* attention's per-thread work (llama.cpp-exact softmax rows and lanes) */
static size_t cpu_attn_work_floats(const struct accel_cmd *c)
{
	const struct kn_attn_args a = {
		.max_blocks = c->t[5].ne[0], .block_tokens = (int)c->i[2], .hd = c->t[1].ne[0],
	};

	return kn_attn_work_floats(&a);
}

size_t accel_cpu_scratch_size(const struct accel_cmd *cmd, int nth)
{
	if (!cmd || accel_cpu_check(cmd))
		return 0;
	switch (cmd->op) {
	case ACCEL_OP_ATTN_PREFILL:
	case ACCEL_OP_ATTN_DECODE:
		return (size_t)(nth > 0 ? nth : 1) * cpu_attn_work_floats(cmd) * sizeof(float);
	case ACCEL_OP_MATMUL:
	case ACCEL_OP_LOGITS: {
		const uint32_t vt = kn_vec_dot_type(cmd->t[2].dtype);
		const size_t bytes = (size_t)cpu_t_rows(&cmd->t[1]) * kn_row_size(vt, cmd->t[1].ne[0]);

		if (vt == ACCEL_DTYPE_F32)
			return 0;	/* F32 weights read the activations in place */
		if (nth > 1 && cpu_t_rows(&cmd->t[1]) <= CPU_MM_PRIVATE_ROWS)
			return (size_t)nth * CPU_ALIGN(bytes);
		return bytes;
	}
	case ACCEL_OP_MOE_FFN: {
		struct cpu_moe_layout L;

		cpu_moe_layout(cmd, &L);
		return L.total;
	}
	default:
		return 0;
	}
}

/* ------------------------------------------------------------------- exec */

static void cpu_split(int64_t n, const struct accel_cpu_ctx *ctx, int64_t *s, int64_t *e)
{
	int64_t per = (n + ctx->nth - 1) / ctx->nth;

	*s = per * ctx->ith < n ? per * ctx->ith : n;
	*e = *s + per < n ? *s + per : n;
}

static void cpu_barrier(struct accel_cpu_ctx *ctx)
{
	if (ctx->nth > 1 && ctx->barrier)
		ctx->barrier(ctx);
}

/* quantize rows [s, e) of x (n_in each) to @type into dst */
static void cpu_quantize_rows(uint32_t type, const float *x, uint8_t *dst, int64_t n_in,
			      int64_t s, int64_t e)
{
	const size_t rs = kn_row_size(type, n_in);

	for (int64_t r = s; r < e; r++)
		kn_quantize_act_row(type, x + r * n_in, dst + r * rs, n_in);
}

static int cpu_exec_embed(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	const struct accel_tensor *w = &c->t[1];
	const int32_t *ids = accel_tensor_data(&c->t[2]);
	const int64_t n = c->t[2].ne[0];

	for (int64_t i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= w->ne[1])
			return -EINVAL;
	kn_embed(accel_tensor_data(&c->t[0]), accel_tensor_data(w), w->dtype, w->ne[0], ids, n,
		 ctx->ith, ctx->nth);
	return 0;
}

static int cpu_exec_matmul(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
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
	kn_matmul(accel_tensor_data(&c->t[0]), accel_tensor_data(w), w->dtype, a,
		  cpu_t_unused(&c->t[3]) ? NULL : accel_tensor_data(&c->t[3]), n_in, w->ne[1], n,
		  ctx->ith, ctx->nth);
	return 0;
}

static int cpu_exec_rope(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	const struct accel_tensor *x = &c->t[0];

	kn_rope(accel_tensor_data(x), accel_tensor_data(&c->t[1]), x->ne[2], x->ne[1], x->ne[0],
		(int)c->i[0], (int)c->i[1], c->f[0], c->f[1],
		cpu_t_unused(&c->t[2]) ? NULL : accel_tensor_data(&c->t[2]), ctx->ith, ctx->nth);
	return 0;
}

static int cpu_exec_attn(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	const struct accel_tensor *q = &c->t[1], *k = &c->t[2], *cache = &c->t[4];
	const struct accel_tensor *bt = &c->t[5];
	const size_t esz = c->i[3] == ACCEL_DTYPE_F16 ? 2 : 4;
	/* bounded by check: n_layer <= 2^16, tokens <= 2^20, row <= 2^24, esz <= 4 */
	const unsigned __int128 need128 = (unsigned __int128)c->i[1] * 2 * (uint64_t)c->i[2] *
					  (uint64_t)(k->ne[1] * k->ne[0]) * esz;
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
		.cache_type = (uint32_t)c->i[3], .scale = c->f[0],
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

		if (s < 0 || s >= bt->ne[1] || p < 0 || p / a.block_tokens >= a.max_blocks)
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

static int cpu_exec_moe_route(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	const int64_t n_exp = c->t[2].ne[0], n = c->t[2].ne[1], k = c->i[0];
	float *w = accel_tensor_data(&c->t[0]);
	int32_t *ids = accel_tensor_data(&c->t[1]);
	const float *l = accel_tensor_data(&c->t[2]);
	int64_t s, e;

	cpu_split(n, ctx, &s, &e);
	if (e > s)
		kn_moe_route(w + s * k, ids + s * k, l + s * n_exp, e - s, n_exp, (int)k,
			     c->i[1] != 0);
	return 0;
}

/*
 * rows [r0, r1) of every expert's W (rows of n_in, @type) times the columns
 * routed to it: out[col * n_out + r] = dot(W_e row r, activation of col);
 * each W row is read once for all of its expert's columns.
 */
/* expert e's weights: slice e of the merged tensor, or where the table says */
struct cpu_moe_w {
	const uint8_t *base;		/* merged tensor, or byte 0 of the cache pool */
	const int64_t *tab;		/* NULL, or [n_exp][3] byte offsets */
	int which;			/* 0 gate, 1 up, 2 down */
};

static void cpu_moe_matmul(float *out, const struct cpu_moe_w *w, uint32_t type, int64_t n_in,
			   int64_t n_out, int64_t n_exp, const int32_t *cols, const int64_t *start,
			   int64_t k, const uint8_t *a, bool a_per_token, int64_t r0, int64_t r1)
{
	const size_t wrs = kn_row_size(type, n_in);
	const size_t ars = kn_row_size(kn_vec_dot_type(type), n_in);

	for (int64_t e = 0; e < n_exp; e++) {
		const uint8_t *we = w->tab ? w->base + w->tab[e * 3 + w->which]
					   : w->base + (size_t)e * n_out * wrs;

		if (start[e] == start[e + 1])
			continue;
		for (int64_t r = r0; r < r1; r++) {
			for (int64_t i = start[e]; i < start[e + 1]; i++) {
				const int64_t col = cols[i];
				const uint8_t *ac = a + (a_per_token ? col / k : col) * ars;

				out[col * n_out + r] = kn_vec_dot(type, n_in, we + r * wrs, ac);
			}
		}
	}
}

/*
 * llama.cpp's Mixtral FFN: for each token t and slot j (expert e = ids[t][j]):
 * h = silu(gate_e x) * up_e x; y_j = down_e h; out = sum_j y_j * w[t][j], summed
 * in slot order. Phases: quantize x | gate, up | swiglu + quantize h | down |
 * weighted sum.
 */
static int cpu_exec_moe_ffn(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	const struct accel_tensor *x = &c->t[1], *g = &c->t[2], *u = &c->t[3], *d = &c->t[4];
	const int64_t dim = x->ne[0], n = x->ne[1], ff = g->ne[1], n_exp = cpu_moe_n_exp(c);
	const int64_t k = c->t[5].ne[0], nk = n * k;
	const int32_t *ids = accel_tensor_data(&c->t[6]);
	const int64_t *tab = c->t[7].ne[0] ? accel_tensor_data(&c->t[7]) : NULL;
	struct cpu_moe_w wg = { accel_tensor_data(g), NULL, 0 }, wu = { accel_tensor_data(u), NULL, 1 };
	struct cpu_moe_w wd = { accel_tensor_data(d), NULL, 2 };
	const float *wt = accel_tensor_data(&c->t[5]);
	const uint32_t vd = kn_vec_dot_type(d->dtype);
	struct cpu_moe_layout L;
	int64_t s, e;

	cpu_moe_layout(c, &L);
	if (!ctx->scratch || ctx->scratch_size < L.total)
		return -ENOMEM;
	for (int64_t i = 0; i < nk; i++)
		if (ids[i] < 0 || ids[i] >= n_exp)
			return -EINVAL;
	if (tab) {
		/* every routed expert's slices must lie inside the cache pool */
		const uint64_t psz = accel_pool_size(g->pool);
		const uint64_t sz[3] = { accel_tensor_bytes(g), accel_tensor_bytes(u),
					 accel_tensor_bytes(d) };

		for (int64_t i = 0; i < nk; i++)
			for (int j = 0; j < 3; j++)
				if (tab[ids[i] * 3 + j] < 0 ||
				    (uint64_t)tab[ids[i] * 3 + j] + sz[j] > psz)
					return -EINVAL;
		wg.base = wu.base = wd.base = accel_pool_ptr(g->pool);
		wg.tab = wu.tab = wd.tab = tab;
	}

	uint8_t *sc = ctx->scratch;
	float *G = (float *)(sc + L.g), *U = (float *)(sc + L.u), *D = (float *)(sc + L.d);
	const float *xf = accel_tensor_data(x);

	int32_t *cols = (int32_t *)(sc + L.cols);
	int64_t *start = (int64_t *)(sc + L.start);

	/* 1: activations for gate (and up, if its dot type differs); columns by expert */
	if (ctx->ith == 0) {
		int64_t at = 0;

		for (int64_t ex = 0; ex < n_exp; ex++) {
			start[ex] = at;
			for (int64_t i = 0; i < nk; i++)
				if (ids[i] == ex)
					cols[at++] = (int32_t)i;
		}
		start[n_exp] = at;
	}
	cpu_split(n, ctx, &s, &e);
	cpu_quantize_rows(kn_vec_dot_type(g->dtype), xf, sc + L.xg, dim, s, e);
	if (L.xu != L.xg)
		cpu_quantize_rows(kn_vec_dot_type(u->dtype), xf, sc + L.xu, dim, s, e);
	cpu_barrier(ctx);

	/* 2: gate and up rows of the routed experts */
	cpu_split(ff, ctx, &s, &e);
	cpu_moe_matmul(G, &wg, g->dtype, dim, ff, n_exp, cols, start, k, sc + L.xg, true, s, e);
	cpu_moe_matmul(U, &wu, u->dtype, dim, ff, n_exp, cols, start, k, sc + L.xu, true, s, e);
	cpu_barrier(ctx);

	/* 3: h = silu(gate) * up, quantized for down, one (token, slot) row each */
	cpu_split(nk, ctx, &s, &e);
	for (int64_t r = s; r < e; r++)
		kn_swiglu(G + r * ff, G + r * ff, U + r * ff, ff, 0, 1);
	cpu_quantize_rows(vd, G, sc + L.hq, ff, s, e);
	cpu_barrier(ctx);

	/* 4: down rows */
	cpu_split(dim, ctx, &s, &e);
	cpu_moe_matmul(D, &wd, d->dtype, ff, dim, n_exp, cols, start, k, sc + L.hq, false, s, e);
	cpu_barrier(ctx);

	/* 5: weighted sum over slots, in slot order (ggml_mul then ggml_add chain) */
	float *out = accel_tensor_data(&c->t[0]);

	cpu_split(n * dim, ctx, &s, &e);
	for (int64_t i = s; i < e; i++) {
		const int64_t t = i / dim, r = i % dim;
		float acc = D[(t * k) * dim + r] * wt[t * k];

		for (int64_t j = 1; j < k; j++)
			acc += D[(t * k + j) * dim + r] * wt[t * k + j];
		out[i] = acc;
	}
	return 0;
}

static int cpu_exec_op(const struct accel_cmd *cmd, struct accel_cpu_ctx *ctx)
{
	const struct accel_cmd *c = cmd;
	int64_t n;

	switch (c->op) {
	case ACCEL_OP_NOP:
		return 0;
	case ACCEL_OP_EMBED:
		return cpu_exec_embed(c, ctx);
	case ACCEL_OP_RMSNORM:
		kn_rmsnorm(accel_tensor_data(&c->t[0]), accel_tensor_data(&c->t[1]),
			   accel_tensor_data(&c->t[2]), c->t[1].ne[0], cpu_t_rows(&c->t[1]), c->f[0],
			   ctx->ith, ctx->nth);
		return 0;
	case ACCEL_OP_MATMUL:
	case ACCEL_OP_LOGITS:
		return cpu_exec_matmul(c, ctx);
	case ACCEL_OP_ROPE:
		return cpu_exec_rope(c, ctx);
	case ACCEL_OP_ATTN_PREFILL:
	case ACCEL_OP_ATTN_DECODE:
		return cpu_exec_attn(c, ctx);
	case ACCEL_OP_SWIGLU:
		n = cpu_t_nel(&c->t[0]);
		kn_swiglu(accel_tensor_data(&c->t[0]), accel_tensor_data(&c->t[1]),
			  accel_tensor_data(&c->t[2]), n, ctx->ith, ctx->nth);
		return 0;
	case ACCEL_OP_ADD:
		n = cpu_t_nel(&c->t[0]);
		kn_add(accel_tensor_data(&c->t[0]), accel_tensor_data(&c->t[1]),
		       accel_tensor_data(&c->t[2]), n, ctx->ith, ctx->nth);
		return 0;
	case ACCEL_OP_MOE_ROUTE:
		return cpu_exec_moe_route(c, ctx);
	case ACCEL_OP_MOE_FFN:
		return cpu_exec_moe_ffn(c, ctx);
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
