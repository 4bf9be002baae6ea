// SPDX-License-Identifier: MIT
/*
 * CPU executor, mixture of experts: MOE_ROUTE (softmax + top-k per token),
 * MOE_FFN (llama.cpp's Mixtral FFN over the routed experts, five phases
 * separated by barriers; experts in merged tensors or scattered in a cache;
 * or, by parts, a set of experts into per-slot rows) and MOE_SUM (the
 * weighted sum of those rows, MOE_FFN's last phase).
 */
#include <errno.h>
#include "cpu_op.h"
#include "kn_ops.h"

/* -------------------------------------------------------------- MOE_ROUTE */

int accel_cpu_check_moe_route(const struct accel_cmd *c)
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

int accel_cpu_exec_moe_route(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
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

/* ---------------------------------------------------------------- MOE_FFN */

/* MOE_FFN's expert count: the expert table's rows when t7 is given (experts
 * scattered in a cache pool; t2..t4 then describe one expert), else ne[2] */
static int64_t cpu_moe_n_exp(const struct accel_cmd *c)
{
	return c->t[7].ne[0] ? c->t[7].ne[1] : c->t[2].ne[2];
}

int accel_cpu_check_moe_ffn(const struct accel_cmd *c)
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
	if (!cpu_t_2d(x, dim, n) ||
	    (!(c->i[0] & ACCEL_MOE_SLOTS) && !cpu_t_same_shape(o, x)) || !cpu_t_same_shape(g, u) ||
	    g->ne[0] != dim || g->ne[3] != 1 || d->ne[0] != ff || d->ne[1] != dim ||
	    d->ne[2] != g->ne[2] || d->ne[3] != 1 || !cpu_t_2d(wt, k, n) || k > ne)
		return -EINVAL;
	/* the ids, and with a second plane each entry's sequence */
	if (ids->ne[0] != k || ids->ne[1] != n || (ids->ne[2] != 1 && ids->ne[2] != 2) ||
	    ids->ne[3] != 1)
		return -EINVAL;
	if (!kn_row_size(kn_vec_dot_type(g->dtype), dim) ||
	    !kn_row_size(kn_vec_dot_type(u->dtype), dim) ||
	    !kn_row_size(kn_vec_dot_type(d->dtype), ff))
		return -EINVAL;
	if ((uint64_t)c->i[0] & ~(uint64_t)ACCEL_MOE_FLAGS_MASK || c->i[5])
		return -EINVAL;
	if (!(c->i[0] & ACCEL_MOE_SLOTS))
		return c->i[1] || c->i[2] || c->i[3] || c->i[4] ? -EINVAL : 0;
	/* by parts: t0 holds a row per (token, slot); no expert past n_exp */
	if (ne > ACCEL_MOE_MAX_SET || !cpu_t_2d(o, dim, n * k))
		return -EINVAL;
	for (int64_t e = ne; e < ACCEL_MOE_MAX_SET; e++)
		if ((uint64_t)c->i[1 + e / 64] >> (e % 64) & 1)
			return -EINVAL;
	return 0;
}

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
	L->d = off;		/* by parts: t0 holds the down outputs */
	if (!(c->i[0] & ACCEL_MOE_SLOTS))
		off += CPU_ALIGN((size_t)nk * dim * sizeof(float));
	L->cols = off;		/* int32 [nk]: (token, slot) columns grouped by expert */
	off += CPU_ALIGN((size_t)nk * sizeof(int32_t));
	L->start = off;		/* int64 [n_exp + 1]: each expert's range in cols */
	off += CPU_ALIGN((size_t)(cpu_moe_n_exp(c) + 1) * sizeof(int64_t));
	L->total = off;
}

size_t accel_cpu_scratch_moe_ffn(const struct accel_cmd *cmd, int nth)
{
	struct cpu_moe_layout L;

	cpu_moe_layout(cmd, &L);
	return L.total;
}

/* expert e's weights: slice e of the merged tensor, or where the table says */
struct cpu_moe_w {
	const uint8_t *base;		/* merged tensor, or byte 0 of the cache pool */
	const int64_t *tab;		/* NULL, or [n_exp][3] byte offsets */
	int which;			/* 0 gate, 1 up, 2 down */
};

/*
 * rows [r0, r1) of every expert's W (rows of n_in, @type) times the columns
 * routed to it: out[col * n_out + r] = dot(W_e row r, activation of col),
 * in llama.cpp's MUL_MAT_ID order for the expert's routed count, that of
 * the column's sequence with t6's plane 1 (kn_matmul_id_range); each W row
 * is read once for all of the expert's columns of either order.
 */
struct cpu_moe_rows {
	const int32_t *cols;		/* (token, slot) columns grouped by expert */
	const int64_t *start;		/* [n_exp + 1]: each expert's range in cols */
	const int32_t *seq;		/* NULL, or each column's sequence (t6's plane 1) */
	bool row_invariant;		/* ACCEL_MOE_ROW_INVARIANT */
};

static void cpu_moe_matmul(float *out, const struct cpu_moe_w *w, uint32_t type, int64_t n_in,
			   int64_t n_out, int64_t n_exp, const struct cpu_moe_rows *R, int64_t k,
			   const uint8_t *a, bool a_per_token, int64_t r0, int64_t r1)
{
	const int32_t *cols = R->cols;
	const int64_t *start = R->start;
	const size_t wrs = kn_row_size(type, n_in);

	for (int64_t e = 0; e < n_exp; e++) {
		const uint8_t *we = w->tab ? w->base + w->tab[e * 3 + w->which]
					   : w->base + (size_t)e * n_out * wrs;

		if (start[e] == start[e + 1])
			continue;
		kn_matmul_id_range(out, we, type, n_in, n_out, a, a_per_token ? k : 1, cols + start[e],
				   start[e + 1] - start[e], R->seq, R->row_invariant, r0, r1);
	}
}

/* whether MOE_FFN computes expert e: every one, or those of its set */
static bool cpu_moe_in_set(const struct accel_cmd *c, int64_t e)
{
	return !(c->i[0] & ACCEL_MOE_SLOTS) || ((uint64_t)c->i[1 + e / 64] >> (e % 64) & 1);
}

/* out rows [s, e) (of dim) = sum_j y[t * k + j] * w[t][j], in slot order
 * (ggml_mul, then ggml_add of slot 1, 2, ...): MOE_FFN's phase 5 and MOE_SUM */
static void cpu_moe_sum(float *out, const float *y, const float *wt, int64_t dim, int64_t k,
			int64_t s, int64_t e)
{
	for (int64_t i = s; i < e; i++) {
		const int64_t t = i / dim, r = i % dim;
		float acc = y[(t * k) * dim + r] * wt[t * k];

		for (int64_t j = 1; j < k; j++)
			acc += y[(t * k + j) * dim + r] * wt[t * k + j];
		out[i] = acc;
	}
}

/*
 * llama.cpp's Mixtral FFN: for each token t and slot j (expert e = ids[t][j]):
 * h = silu(gate_e x) * up_e x; y_j = down_e h; out = sum_j y_j * w[t][j], summed
 * in slot order. Phases: quantize x | gate, up | swiglu + quantize h | down |
 * weighted sum. By parts (ACCEL_MOE_SLOTS): the experts of the set only, y_j
 * into t0's rows, no sum.
 */
int accel_cpu_exec_moe_ffn(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
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
	const bool slots = c->i[0] & ACCEL_MOE_SLOTS;
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
			for (int j = 0; j < 3 && cpu_moe_in_set(c, ids[i]); j++)
				if (tab[ids[i] * 3 + j] < 0 ||
				    (uint64_t)tab[ids[i] * 3 + j] + sz[j] > psz)
					return -EINVAL;
		wg.base = wu.base = wd.base = accel_pool_ptr(g->pool);
		wg.tab = wu.tab = wd.tab = tab;
	}

	uint8_t *sc = ctx->scratch;
	float *G = (float *)(sc + L.g), *U = (float *)(sc + L.u);
	float *D = slots ? accel_tensor_data(&c->t[0]) : (float *)(sc + L.d);
	const float *xf = accel_tensor_data(x);

	int32_t *cols = (int32_t *)(sc + L.cols);
	int64_t *start = (int64_t *)(sc + L.start);
	const struct cpu_moe_rows R = { cols, start, c->t[6].ne[2] == 2 ? ids + nk : NULL,
					(c->i[0] & ACCEL_MOE_ROW_INVARIANT) != 0 };

	/* 1: activations for gate (and up, if its dot type differs); columns by
	 * expert (those of the set) */
	if (ctx->ith == 0) {
		int64_t at = 0;

		for (int64_t ex = 0; ex < n_exp; ex++) {
			start[ex] = at;
			for (int64_t i = 0; i < nk && cpu_moe_in_set(c, ex); i++)
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
	cpu_moe_matmul(G, &wg, g->dtype, dim, ff, n_exp, &R, k, sc + L.xg, true, s, e);
	cpu_moe_matmul(U, &wu, u->dtype, dim, ff, n_exp, &R, k, sc + L.xu, true, s, e);
	cpu_barrier(ctx);

	/* 3: h = silu(gate) * up, quantized for down, one (token, slot) row each
	 * (the rows of the columns computed, each on its own) */
	cpu_split(start[n_exp], ctx, &s, &e);
	for (int64_t i = s; i < e; i++) {
		const int64_t r = cols[i];

		kn_swiglu(G + r * ff, G + r * ff, U + r * ff, ff, ff, 0, 1);
		cpu_quantize_rows(vd, G, sc + L.hq, ff, r, r + 1);
	}
	cpu_barrier(ctx);

	/* 4: down rows */
	cpu_split(dim, ctx, &s, &e);
	cpu_moe_matmul(D, &wd, d->dtype, ff, dim, n_exp, &R, k, sc + L.hq, false, s, e);
	if (slots)
		return 0;
	cpu_barrier(ctx);

	/* 5: weighted sum over slots, in slot order (ggml_mul then ggml_add chain) */
	cpu_split(n * dim, ctx, &s, &e);
	cpu_moe_sum(accel_tensor_data(&c->t[0]), D, wt, dim, k, s, e);
	return 0;
}

/* ---------------------------------------------------------------- MOE_SUM */

int accel_cpu_check_moe_sum(const struct accel_cmd *c)
{
	const struct accel_tensor *o = &c->t[0], *y = &c->t[1], *wt = &c->t[2];
	const int64_t dim = o->ne[0], n = o->ne[1], k = wt->ne[0];

	if (!cpu_t_f32(o) || !cpu_t_f32(y) || !cpu_t_f32(wt))
		return -EINVAL;
	if (k < 1 || !cpu_t_2d(o, dim, n) || !cpu_t_2d(wt, k, n) || !cpu_t_2d(y, dim, n * k))
		return -EINVAL;
	return 0;
}

int accel_cpu_exec_moe_sum(const struct accel_cmd *c, struct accel_cpu_ctx *ctx)
{
	const int64_t dim = c->t[0].ne[0], n = c->t[0].ne[1], k = c->t[2].ne[0];
	int64_t s, e;

	cpu_split(n * dim, ctx, &s, &e);
	cpu_moe_sum(accel_tensor_data(&c->t[0]), accel_tensor_data(&c->t[1]),
		    accel_tensor_data(&c->t[2]), dim, k, s, e);
	return 0;
}
