// SPDX-License-Identifier: MIT
/*
 * The CPU COMPUTE executor (libaccel/src/cpu_exec.c) on host tensors: every
 * opcode through a single-thread ctx (barrier a no-op) and through 3 real
 * threads with a pthread barrier, compared with direct kernel calls or
 * references; accel_cpu_check() rejecting malformed commands.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "tap.h"
#include "kn_test.h"
#include "kn_ops.h"
#include "accel.h"
#include "../../libaccel/src/cpu_exec.h"	/* the executor contract (not installed) */

struct runner {
	struct accel_cpu_ctx ctx;
	const struct accel_cmd *cmd;
	int ret;
};

static pthread_barrier_t bar;

static void bar_wait(struct accel_cpu_ctx *ctx)
{
	(void)ctx;
	pthread_barrier_wait(&bar);
}

static void *run_share(void *arg)
{
	struct runner *r = arg;

	r->ret = accel_cpu_exec(r->cmd, &r->ctx);
	return NULL;
}

/* run @c with nth threads; returns the first error or 0 */
static int run(const struct accel_cmd *c, int nth)
{
	size_t ss = accel_cpu_scratch_size(c, nth);
	uint8_t *scratch = ss ? aligned_alloc(64, (ss + 63) & ~(size_t)63) : NULL;
	struct runner r[8];
	pthread_t th[8];
	int ret = 0;

	if (nth == 1) {
		struct accel_cpu_ctx ctx = { .ith = 0, .nth = 1, .scratch = scratch,
					     .scratch_size = ss };

		ret = accel_cpu_exec(c, &ctx);
		free(scratch);
		return ret;
	}
	pthread_barrier_init(&bar, NULL, nth);
	for (int i = 0; i < nth; i++) {
		r[i] = (struct runner){ .ctx = { .ith = i, .nth = nth, .barrier = bar_wait,
						 .scratch = scratch, .scratch_size = ss },
					.cmd = c };
		pthread_create(&th[i], NULL, run_share, &r[i]);
	}
	for (int i = 0; i < nth; i++) {
		pthread_join(th[i], NULL);
		if (r[i].ret && !ret)
			ret = r[i].ret;
	}
	pthread_barrier_destroy(&bar);
	free(scratch);
	return ret;
}

static struct accel_tensor T(const void *p, uint32_t dt, int64_t a, int64_t b, int64_t c)
{
	return accel_tensor_make(NULL, (uint64_t)(uintptr_t)p, dt, a, b, c, 1);
}

static const struct accel_tensor NONE;

static void *qrows(uint32_t type, const float *x, int64_t n_in, int64_t rows)
{
	size_t rs = kn_row_size(type, n_in);
	uint8_t *q = malloc(rs * rows);

	for (int64_t r = 0; r < rows; r++)
		kn_quantize_row(type, x + r * n_in, q + r * rs, n_in);
	return q;
}

static float *frand(int64_t n, float scale)
{
	float *x = malloc(n * sizeof(float));

	kt_fill(x, n, scale);
	return x;
}

static void test_simple_ops(int nth)
{
	enum { D = 256, N = 3, V = 9 };
	struct accel_cmd c;
	float *x = frand(D * N, 1.0f), *y = frand(D * N, 1.0f), *w = frand(D, 1.0f);
	float *o = malloc(D * N * sizeof(float)), *r = malloc(D * N * sizeof(float));
	float *emb = frand(D * V, 1.0f);
	void *embq = qrows(KN_Q8_0, emb, D, V);
	int32_t ids[N] = { 8, 0, 3 }, bad_ids[N] = { 0, 9, 1 };

	accel_cmd_prep_embed(&c, T(o, KN_F32, D, N, 1), T(embq, KN_Q8_0, D, V, 1),
			     T(ids, KN_I32, N, 1, 1));
	int ret = accel_cpu_check(&c) ?: run(&c, nth);

	kn_embed(r, embq, KN_Q8_0, D, ids, N, 0, 1);
	ok(!ret && !memcmp(o, r, D * N * 4), "[%d thr] EMBED q8_0 == kn_embed", nth);
	c.t[2] = T(bad_ids, KN_I32, N, 1, 1);
	is_int(run(&c, nth), -EINVAL, "[%d thr] EMBED with an id past the vocab fails", nth);

	accel_cmd_prep_rmsnorm(&c, T(o, KN_F32, D, N, 1), T(x, KN_F32, D, N, 1),
			       T(w, KN_F32, D, 1, 1), 1e-6f);
	ret = accel_cpu_check(&c) ?: run(&c, nth);
	kn_rmsnorm(r, x, w, D, N, 1e-6f, 0, 1);
	ok(!ret && !memcmp(o, r, D * N * 4), "[%d thr] RMSNORM == kn_rmsnorm", nth);

	accel_cmd_prep_swiglu(&c, T(o, KN_F32, D, N, 1), T(x, KN_F32, D, N, 1),
			      T(y, KN_F32, D, N, 1));
	ret = accel_cpu_check(&c) ?: run(&c, nth);
	kn_swiglu(r, x, y, D * N, D, 0, 1);
	ok(!ret && !memcmp(o, r, D * N * 4), "[%d thr] SWIGLU == kn_swiglu", nth);

	memcpy(o, x, D * N * 4);
	accel_cmd_prep_add(&c, T(o, KN_F32, D, N, 1), T(o, KN_F32, D, N, 1), T(y, KN_F32, D, N, 1));
	ret = accel_cpu_check(&c) ?: run(&c, nth);
	kn_add(r, x, y, D * N, 0, 1);
	ok(!ret && !memcmp(o, r, D * N * 4), "[%d thr] ADD in place == kn_add", nth);

	/* ROPE: [hd 64, heads 4, n 3] with freq factors, neox */
	int32_t pos[N] = { 0, 5, 77 };
	float ff[16];

	for (int i = 0; i < 16; i++)
		ff[i] = 1.0f + i * 0.5f;
	memcpy(o, x, 64 * 4 * N * 4);
	memcpy(r, x, 64 * 4 * N * 4);
	accel_cmd_prep_rope(&c, T(o, KN_F32, 64, 4, N), T(pos, KN_I32, N, 1, 1),
			    T(ff, KN_F32, 16, 1, 1), 32, 2, 10000.0f, 0.5f);
	ret = accel_cpu_check(&c) ?: run(&c, nth);
	kn_rope(r, pos, N, 4, 64, 32, 2, 10000.0f, 0.5f, ff, 0, 1);
	ok(!ret && !memcmp(o, r, 64 * 4 * N * 4), "[%d thr] ROPE neox + freq factors == kn_rope",
	   nth);

	/* MOE_ROUTE: 8 experts, k 2, renorm */
	float wts[N * 2], rw[N * 2];
	int32_t eid[N * 2], rid[N * 2];

	accel_cmd_prep_moe_route(&c, T(wts, KN_F32, 2, N, 1), T(eid, KN_I32, 2, N, 1),
				 T(x, KN_F32, 8, N, 1), 2, 1);
	ret = accel_cpu_check(&c) ?: run(&c, nth);
	kn_moe_route(rw, rid, x, N, 8, 2, true);
	ok(!ret && !memcmp(wts, rw, sizeof(rw)) && !memcmp(eid, rid, sizeof(rid)),
	   "[%d thr] MOE_ROUTE == kn_moe_route", nth);

	accel_cmd_prep(&c, ACCEL_OP_NOP);
	ok(!accel_cpu_check(&c) && !run(&c, nth), "[%d thr] NOP", nth);
	free(x);
	free(y);
	free(w);
	free(o);
	free(r);
	free(emb);
	free(embq);
}

/* n <= 4 activation rows (decode) take the barrier-free per-thread quantization */
static void test_matmul_n(int nth, uint32_t wt, bool logits, int64_t n)
{
	const int64_t in = 512, out = 45;
	const uint32_t at = kn_vec_dot_type(wt);
	float *w = frand(in * out, 1.0f), *x = frand(in * n, 1.0f), *b = frand(out, 1.0f);
	float *o = malloc(out * n * 4);
	void *wq = qrows(wt, w, in, out), *xq = qrows(at, x, in, n);
	struct accel_cmd c;
	int bad = 0;

	if (logits)
		accel_cmd_prep_logits(&c, T(o, KN_F32, out, n, 1), T(x, KN_F32, in, n, 1),
				      T(wq, wt, in, out, 1));
	else
		accel_cmd_prep_matmul(&c, T(o, KN_F32, out, n, 1), T(x, KN_F32, in, n, 1),
				      T(wq, wt, in, out, 1), T(b, KN_F32, out, 1, 1));
	int ret = accel_cpu_check(&c) ?: run(&c, nth);

	for (int64_t j = 0; j < n; j++)
		for (int64_t r = 0; r < out; r++) {
			float want = kn_vec_dot(wt, in, (uint8_t *)wq + r * kn_row_size(wt, in),
						(uint8_t *)xq + j * kn_row_size(at, in));

			if (!logits)
				want += b[r];
			if (memcmp(&want, &o[j * out + r], 4))
				bad++;
		}
	ok(!ret && !bad, "[%d thr] %s %s, %lld rows: activations quantized to %s, == vec_dot%s (%d differ)",
	   nth, logits ? "LOGITS" : "MATMUL", kn_type_name(wt), (long long)n, kn_type_name(at),
	   logits ? "" : " + bias", bad);
	free(w);
	free(x);
	free(b);
	free(o);
	free(wq);
	free(xq);
}

static void test_matmul(int nth, uint32_t wt, bool logits)
{
	test_matmul_n(nth, wt, logits, 5);
	test_matmul_n(nth, wt, logits, 1);
}

/* ATTN_PREFILL per sequence, then a batched ATTN_DECODE, vs direct kernel calls */
static void test_attn(int nth, uint32_t kt, uint32_t vt, bool flash)
{
	enum { NH = 4, NKV = 2, HD = 32, BT = 8, NL = 3, LAYER = 2, MAXB = 4, NSEQ = 2, NB = 8 };
	const uint64_t bsz = (uint64_t)NL * BT * (kn_row_size(kt, NKV * HD) +
						  kn_row_size(vt, NKV * HD));
	uint8_t *cache = calloc(NB, bsz), *cache2 = calloc(NB, bsz);
	int32_t table[NSEQ * MAXB] = { 5, 2, 7, 0, 1, 6, 3, 4 };
	const int len[NSEQ] = { 20, 7 };
	int bad = 0, fails = 0;

	for (int step = 0; step <= NSEQ; step++) {
		/* steps 0..NSEQ-1: prefill sequence `step`; last: decode one token each */
		const bool decode = step == NSEQ;
		const int n = decode ? NSEQ : len[step];
		int32_t pos[32], seq[32];
		float *q = frand(n * NH * HD, 1.0f), *k = frand(n * NKV * HD, 1.0f);
		float *v = frand(n * NKV * HD, 1.0f), *o = malloc(n * NH * HD * 4);
		float *o2 = malloc(n * NH * HD * 4);
		struct accel_cmd c;

		for (int t = 0; t < n; t++) {
			seq[t] = decode ? t : step;
			pos[t] = decode ? len[t] : t;
		}
		accel_cmd_prep_attn(&c, decode ? ACCEL_OP_ATTN_DECODE : ACCEL_OP_ATTN_PREFILL,
				    T(o, KN_F32, HD * NH, n, 1), T(q, KN_F32, HD, NH, n),
				    T(k, KN_F32, HD, NKV, n), T(v, KN_F32, HD, NKV, n), NULL,
				    T(table, KN_I32, MAXB, NSEQ, 1), T(pos, KN_I32, n, 1, 1),
				    T(seq, KN_I32, n, 1, 1), LAYER, NL, BT, kt, vt,
				    flash ? ACCEL_ATTN_FLASH : 0, 1.0f / sqrtf(HD));
		c.t[4] = T(cache, KN_I8, (int64_t)(NB * bsz), 1, 1);
		if (accel_cpu_check(&c) || run(&c, nth))
			fails++;

		struct kn_attn_args a = {
			.out = o2, .q = q, .k = k, .v = v, .cache = cache2, .block_size = bsz,
			.block_table = table, .max_blocks = MAXB, .pos = pos, .seq = seq, .n = n,
			.n_head = NH, .n_kv_head = NKV, .hd = HD, .layer = LAYER, .n_layer = NL,
			.block_tokens = BT, .k_type = kt, .v_type = vt, .flash = flash,
			.scale = 1.0f / sqrtf(HD),
		};
		float *work = malloc(kn_attn_work_floats(&a) * sizeof(float));

		a.work = work;	/* the executor runs the llama.cpp-exact arithmetic */
		kn_attn_store_kv(&a, 0, 1);
		kn_attn(&a, 0, 1);
		if (memcmp(o, o2, n * NH * HD * 4))
			bad++;
		free(work);
		if (decode) {
			/* a block id past the pool, and a position past the table */
			table[NSEQ * MAXB - 1] = NB;
			pos[1] = MAXB * BT - 1;
			is_int(run(&c, nth), -EINVAL, "[%d thr] ATTN block id outside the cache fails",
			       nth);
			table[NSEQ * MAXB - 1] = 4;
			pos[1] = MAXB * BT;
			is_int(run(&c, nth), -EINVAL, "[%d thr] ATTN position past the block table fails",
			       nth);
		}
		free(q);
		free(k);
		free(v);
		free(o);
		free(o2);
	}
	ok(!fails && !bad && !memcmp(cache, cache2, NB * bsz),
	   "[%d thr] ATTN_PREFILL x%d + ATTN_DECODE, K %s V %s%s == kernels (%d differ)", nth,
	   NSEQ, kn_type_name(kt), kn_type_name(vt), flash ? " flash" : "", bad);
	free(cache);
	free(cache2);
}

/*
 * ATTN_DECODE with ACCEL_ATTN_SPLIT(2) at position 300 of one sequence
 * (llama.cpp's split-KV decode: a view of 512 cells, 2 chunks of 256), F16
 * K and V: the kernel's split bits whatever the queue's threads, and not the
 * one-pass bits of the same command without the split
 */
static void test_attn_split(int nth)
{
	enum { NH = 4, NKV = 2, HD = 64, BT = 16, MAXB = 20, P = 300 };
	/* its own data: the tests after it draw what they drew without it */
	const uint64_t rng = kt_state;
	const uint64_t bsz = (uint64_t)BT * 2 * kn_row_size(KN_F16, NKV * HD);
	uint8_t *cache = calloc(MAXB, bsz), *cache2 = calloc(MAXB, bsz);
	float *q = frand(NH * HD, 1.5f), *k = frand((P + 1) * NKV * HD, 1.0f);
	float *v = frand((P + 1) * NKV * HD, 1.0f), *o = malloc(NH * HD * 4);
	float *o1 = malloc(NH * HD * 4), *o2 = malloc(NH * HD * 4);
	int32_t table[MAXB], pos[P + 1], seq[P + 1] = { 0 };
	struct accel_cmd c;
	int ret;

	for (int b = 0; b < MAXB; b++)
		table[b] = (b * 7 + 3) % MAXB;
	for (int t = 0; t <= P; t++)
		pos[t] = t;
	struct kn_attn_args a = {
		.out = o2, .q = q, .k = k, .v = v, .cache = cache, .block_size = bsz,
		.block_table = table, .max_blocks = MAXB, .pos = pos, .seq = seq, .n = P,
		.n_head = NH, .n_kv_head = NKV, .hd = HD, .layer = 0, .n_layer = 1,
		.block_tokens = BT, .k_type = KN_F16, .v_type = KN_F16, .flash = true,
		.scale = 0.125f, .split = 2,
	};
	float *work = malloc(kn_attn_work_floats(&a) * sizeof(float));

	/* positions 0..P-1 in the cache; the command stores P's own K and V */
	kn_attn_store_kv(&a, 0, 1);
	memcpy(cache2, cache, MAXB * bsz);
	a.cache = cache2;
	a.n = 1;
	a.pos = pos + P;
	a.k = k + P * NKV * HD;
	a.v = v + P * NKV * HD;
	a.work = work;
	kn_attn_store_kv(&a, 0, 1);
	kn_attn(&a, 0, 1);
	accel_cmd_prep_attn(&c, ACCEL_OP_ATTN_DECODE, T(o, KN_F32, HD * NH, 1, 1),
			    T(q, KN_F32, HD, NH, 1), T(a.k, KN_F32, HD, NKV, 1),
			    T(a.v, KN_F32, HD, NKV, 1), NULL, T(table, KN_I32, MAXB, 1, 1),
			    T(pos + P, KN_I32, 1, 1, 1), T(seq, KN_I32, 1, 1, 1), 0, 1, BT, KN_F16,
			    KN_F16, ACCEL_ATTN_FLASH | ACCEL_ATTN_SPLIT(2), 0.125f);
	c.t[4] = T(cache, KN_I8, (int64_t)(MAXB * bsz), 1, 1);
	ret = accel_cpu_check(&c);
	ret = ret ? ret : run(&c, nth);
	memcpy(o1, o, NH * HD * 4);
	c.i[5] = ACCEL_ATTN_FLASH;
	ret = ret ? ret : run(&c, nth);
	ok(!ret && !memcmp(o1, o2, NH * HD * 4) && memcmp(o, o2, NH * HD * 4) &&
	   !memcmp(cache, cache2, MAXB * bsz),
	   "[%d thr] ATTN_DECODE split 2 at position %d == the kernel's split, != one pass", nth,
	   P);
	free(work);
	free(cache);
	free(cache2);
	free(q);
	free(k);
	free(v);
	free(o);
	free(o1);
	free(o2);
	kt_state = rng;
}

/* NE experts' random gate, up ([dim, ff]) and down ([ff, dim]) weights, as
 * floats and quantized to @wt */
struct moe_exps {
	float *g, *u, *d;
	uint8_t *gq, *uq, *dq;
};

static void moe_exps_make(struct moe_exps *e, uint32_t wt, int64_t dim, int64_t ff, int64_t ne)
{
	e->g = frand(dim * ff * ne, 0.2f);
	e->u = frand(dim * ff * ne, 0.2f);
	e->d = frand(ff * dim * ne, 0.2f);
	e->gq = qrows(wt, e->g, dim, ff * ne);
	e->uq = qrows(wt, e->u, dim, ff * ne);
	e->dq = qrows(wt, e->d, ff, dim * ne);
}

static void moe_exps_free(struct moe_exps *e)
{
	free(e->g);
	free(e->u);
	free(e->d);
	free(e->gq);
	free(e->uq);
	free(e->dq);
}

/* MOE_FFN vs the same math spelled out per (token, slot); F32 also vs double */
static void test_moe(int nth, uint32_t wt)
{
	enum { DIM = 256, FF = 96, NE = 4, K = 2, N = 3 };
	const uint32_t at = kn_vec_dot_type(wt);
	const size_t wrs = kn_row_size(wt, DIM), drs = kn_row_size(wt, FF);
	struct moe_exps me;

	moe_exps_make(&me, wt, DIM, FF, NE);
	float *g = me.g, *u = me.u, *d = me.d, *x = frand(DIM * N, 1.0f);
	uint8_t *gq = me.gq, *uq = me.uq, *dq = me.dq;
	float w[N * K] = { 0.7f, 0.3f, 0.5f, 0.5f, 0.9f, 0.1f };
	int32_t ids[N * K] = { 2, 0, 3, 1, 1, 2 };
	float o[DIM * N], ref[DIM * N];
	double worst = 0;
	struct accel_cmd c;

	accel_cmd_prep_moe_ffn(&c, T(o, KN_F32, DIM, N, 1), T(x, KN_F32, DIM, N, 1),
			       T(gq, wt, DIM, FF, NE), T(uq, wt, DIM, FF, NE), T(dq, wt, FF, DIM, NE),
			       T(w, KN_F32, K, N, 1), T(ids, KN_I32, K, N, 1), (struct accel_tensor){ 0 });
	int ret = accel_cpu_check(&c) ?: run(&c, nth);

	for (int t = 0; t < N; t++) {
		uint8_t *xq = qrows(at, x + t * DIM, DIM, 1);
		float yj[K][DIM];

		for (int j = 0; j < K; j++) {
			const int e = ids[t * K + j];
			float h[FF], gv[FF], uv[FF];

			for (int r = 0; r < FF; r++) {
				gv[r] = kn_vec_dot(wt, DIM, gq + ((size_t)e * FF + r) * wrs, xq);
				uv[r] = kn_vec_dot(wt, DIM, uq + ((size_t)e * FF + r) * wrs, xq);
			}
			kn_swiglu(h, gv, uv, FF, FF, 0, 1);	/* one row, as MOE_FFN */
			uint8_t *hq = qrows(at, h, FF, 1);

			for (int r = 0; r < DIM; r++)
				yj[j][r] = kn_vec_dot(wt, FF, dq + ((size_t)e * DIM + r) * drs, hq);
			free(hq);
		}
		for (int r = 0; r < DIM; r++) {
			float acc = yj[0][r] * w[t * K];

			for (int j = 1; j < K; j++)
				acc += yj[j][r] * w[t * K + j];
			ref[t * DIM + r] = acc;
		}
		free(xq);
		if (wt != KN_F32)
			continue;
		/* double reference straight from the float weights */
		for (int r = 0; r < DIM; r++) {
			double sum = 0;

			for (int j = 0; j < K; j++) {
				const int e = ids[t * K + j];
				double hd[FF], y = 0;

				for (int f = 0; f < FF; f++) {
					double gv = 0, uv = 0;

					for (int i = 0; i < DIM; i++) {
						gv += (double)g[((size_t)e * FF + f) * DIM + i] * x[t * DIM + i];
						uv += (double)u[((size_t)e * FF + f) * DIM + i] * x[t * DIM + i];
					}
					hd[f] = gv / (1 + exp(-gv)) * uv;
				}
				for (int f = 0; f < FF; f++)
					y += (double)d[((size_t)e * DIM + r) * FF + f] * hd[f];
				sum += y * w[t * K + j];
			}
			worst = fmax(worst, fabs(o[t * DIM + r] - sum));
		}
	}
	ok(!ret && !memcmp(o, ref, sizeof(o)), "[%d thr] MOE_FFN %s == per-slot kernel math", nth,
	   kn_type_name(wt));
	if (wt == KN_F32)
		ok(worst < 1e-5, "[%d thr] MOE_FFN f32 vs double reference (max err %.2g)", nth, worst);

	/* by parts (MoE streaming): experts {2, 1} then {0, 3} into per-slot
	 * rows, then MOE_SUM: the whole op's result bit for bit; a part
	 * writes the rows of its own experts only */
	float slots[DIM * K * N], o2[DIM * N];
	struct accel_cmd part[2], sum;
	const int sets[2][2] = { { 2, 1 }, { 0, 3 } };
	int untouched = 0;

	memset(slots, 0xff, sizeof(slots));	/* NaN: a row left unwritten shows */
	for (int p = 0; p < 2; p++) {
		accel_cmd_prep_moe_ffn_slots(&part[p], T(slots, KN_F32, DIM, K * N, 1),
					     T(x, KN_F32, DIM, N, 1), T(gq, wt, DIM, FF, NE),
					     T(uq, wt, DIM, FF, NE), T(dq, wt, FF, DIM, NE),
					     T(w, KN_F32, K, N, 1), T(ids, KN_I32, K, N, 1),
					     (struct accel_tensor){ 0 });
		for (int i = 0; i < 2; i++)
			accel_cmd_moe_set_expert(&part[p], sets[p][i]);
		ret = ret ?: accel_cpu_check(&part[p]) ?: run(&part[p], nth);
		for (int i = 0; p == 0 && i < K * N; i++) {
			const bool in = ids[i] == 2 || ids[i] == 1;
			uint32_t bits;

			memcpy(&bits, &slots[i * DIM], sizeof(bits));
			untouched += in ? bits == 0xffffffffu : bits != 0xffffffffu;
		}
	}
	accel_cmd_prep_moe_sum(&sum, T(o2, KN_F32, DIM, N, 1), T(slots, KN_F32, DIM, K * N, 1),
			       T(w, KN_F32, K, N, 1));
	ret = ret ?: accel_cpu_check(&sum) ?: run(&sum, nth);
	ok(!ret && !untouched, "[%d thr] MOE_FFN by parts writes the rows of its experts only",
	   nth);
	ok(!ret && !memcmp(o2, o, sizeof(o)), "[%d thr] MOE_FFN %s by parts + MOE_SUM == MOE_FFN",
	   nth, kn_type_name(wt));
	ids[3] = NE;
	is_int(run(&c, nth), -EINVAL, "[%d thr] MOE_FFN with an expert id out of range fails", nth);
	free(x);
	moe_exps_free(&me);
}

/*
 * MOE_FFN of Q6_K experts (llama.cpp's tiled order from 8 rows of an
 * expert) over a 10-token prompt (experts 0, 1) and another sequence's
 * decode token among them (experts 1, 3), t6 carrying each entry's sequence
 * (accel_cmd_moe_rows): every row bit-identical to MOE_FFN of its sequence
 * alone, whole and by parts; ACCEL_MOE_ROW_INVARIANT gives the decode row
 * its one-token result without them; counted as one batch (no plane), expert
 * 1's 11 rows take the tiled order and the decode row differs on AVX2/AVX-512.
 */
static void test_moe_seq(int nth)
{
	enum { DIM = 256, FF = 256, NE = 4, K = 2, N = 11, B = 4 };
	const uint32_t wt = KN_Q6_K;
	struct moe_exps me;

	moe_exps_make(&me, wt, DIM, FF, NE);
	float *x = frand(DIM * N, 1.0f);
	const uint8_t *gq = me.gq, *uq = me.uq, *dq = me.dq;
	static float o[DIM * N], one[DIM * N], inv[DIM * N], o2[DIM * N], slots[DIM * K * N];
	static float xa[DIM * (N - 1)], oa[DIM * (N - 1)], ob[DIM];
	float w[N * K], wa[(N - 1) * K];
	int32_t ids[2 * N * K], ida[(N - 1) * K];
	const int32_t idb[K] = { 1, 3 };
	struct accel_cmd c, part, sum;
	int ret = 0, same = 1;

	for (int t = 0, a = 0; t < N; t++) {
		for (int j = 0; j < K; j++) {
			w[t * K + j] = j ? 0.4f : 0.6f;
			ids[t * K + j] = t == B ? idb[j] : j;
			ids[N * K + t * K + j] = t == B ? 9 : -5;	/* the plane: sequences */
		}
		if (t == B)
			continue;
		memcpy(xa + a * DIM, x + t * DIM, sizeof(float) * DIM);
		wa[a * K] = 0.6f, wa[a * K + 1] = 0.4f;
		ida[a * K] = 0, ida[a * K + 1] = 1;
		a++;
	}
#define MOE(cmd, out, xx, n, ww, ii) accel_cmd_prep_moe_ffn(cmd, T(out, KN_F32, DIM, n, 1),	\
		T(xx, KN_F32, DIM, n, 1), T(gq, wt, DIM, FF, NE), T(uq, wt, DIM, FF, NE),	\
		T(dq, wt, FF, DIM, NE), T(ww, KN_F32, K, n, 1), T(ii, KN_I32, K, n, 1), NONE)
	MOE(&c, oa, xa, N - 1, wa, ida);
	ret = ret ?: accel_cpu_check(&c) ?: run(&c, nth);
	MOE(&c, ob, x + B * DIM, 1, w + B * K, idb);
	ret = ret ?: accel_cpu_check(&c) ?: run(&c, nth);
	MOE(&c, one, x, N, w, ids);
	ret = ret ?: accel_cpu_check(&c) ?: run(&c, nth);
	accel_cmd_moe_rows(&c, false, ACCEL_MOE_ROW_INVARIANT);
	c.t[0] = T(inv, KN_F32, DIM, N, 1);
	ret = ret ?: accel_cpu_check(&c) ?: run(&c, nth);
	accel_cmd_moe_rows(&c, true, 0);
	c.t[0] = T(o, KN_F32, DIM, N, 1);
	c.i[0] = 0;
	ret = ret ?: accel_cpu_check(&c) ?: run(&c, nth);
	for (int t = 0, a = 0; t < N; t++)
		same &= !memcmp(o + t * DIM, t == B ? ob : oa + a++ * DIM, sizeof(float) * DIM);
	ok(!ret && same, "[%d thr] MOE_FFN q6_K with each entry's sequence: a decode row beside "
	   "a 10-row prompt, every row == its sequence alone", nth);
	/* by parts, experts {0, 3} then {1, 2}, the same plane */
	for (int p = 0; p < 2; p++) {
		accel_cmd_prep_moe_ffn_slots(&part, T(slots, KN_F32, DIM, K * N, 1),
					     T(x, KN_F32, DIM, N, 1), T(gq, wt, DIM, FF, NE),
					     T(uq, wt, DIM, FF, NE), T(dq, wt, FF, DIM, NE),
					     T(w, KN_F32, K, N, 1), T(ids, KN_I32, K, N, 1), NONE);
		accel_cmd_moe_set_expert(&part, p ? 1 : 0);
		accel_cmd_moe_set_expert(&part, p ? 2 : 3);
		accel_cmd_moe_rows(&part, true, 0);
		ret = ret ?: accel_cpu_check(&part) ?: run(&part, nth);
	}
	accel_cmd_prep_moe_sum(&sum, T(o2, KN_F32, DIM, N, 1), T(slots, KN_F32, DIM, K * N, 1),
			       T(w, KN_F32, K, N, 1));
	ret = ret ?: accel_cpu_check(&sum) ?: run(&sum, nth);
	ok(!ret && !memcmp(o2, o, sizeof(o)), "[%d thr] MOE_FFN q6_K by parts with the sequences "
	   "+ MOE_SUM == MOE_FFN with them", nth);
	ok(!ret && !memcmp(inv + B * DIM, ob, sizeof(ob)),
	   "[%d thr] MOE_FFN q6_K ACCEL_MOE_ROW_INVARIANT: the decode row == it alone", nth);
	if (kn_isa_get() >= KN_ISA_AVX2)
		ok(!ret && memcmp(one + B * DIM, ob, sizeof(ob)),
		   "[%d thr] MOE_FFN q6_K counted as one batch: the decode row's expert takes "
		   "the tiled order, other bits than alone", nth);
	else
		skip(1, "scalar: one order whatever the count");
#undef MOE
	free(x);
	moe_exps_free(&me);
}

/* accel_cpu_check: one malformed field per command, otherwise valid */
static void test_check(void)
{
	static float f[4096];
	static int32_t i32[64];
	static uint8_t q[65536];
	struct accel_cmd c, base;
	int bad = 0, n = 0;

#define EXPECT(want, what)						\
	do {								\
		int r_ = accel_cpu_check(&c);				\
		n++;							\
		if (r_ != (want)) {					\
			bad++;						\
			diag("check %s: got %d want %d", what, r_, want); \
		}							\
	} while (0)

	/* MATMUL */
	accel_cmd_prep_matmul(&base, T(f, KN_F32, 64, 2, 1), T(f, KN_F32, 256, 2, 1),
			      T(q, KN_Q4_K, 256, 64, 1), NONE);
	c = base; EXPECT(0, "matmul ok");
	c = base; c.t[2].dtype = KN_Q8_K; EXPECT(-EOPNOTSUPP, "matmul q8_K weight");
	c = base; c.t[2].dtype = KN_I32; EXPECT(-EOPNOTSUPP, "matmul i32 weight");
	c = base; c.t[2].dtype = 6; EXPECT(-EOPNOTSUPP, "matmul unknown weight");
	c = base; c.t[1].ne[0] = 128; EXPECT(-EINVAL, "matmul in mismatch");
	c = base; c.t[0].ne[0] = 63; EXPECT(-EINVAL, "matmul out mismatch");
	c = base; c.t[0].ne[1] = 3; EXPECT(-EINVAL, "matmul n mismatch");
	c = base; c.t[1].dtype = KN_F16; EXPECT(-EINVAL, "matmul f16 activations");
	c = base; c.t[1].ne[0] = c.t[2].ne[0] = 100; EXPECT(-EINVAL, "matmul partial block");
	c = base; c.t[2].ne[2] = 2; EXPECT(-EINVAL, "matmul 3-D weight");
	c = base; c.t[3] = T(f, KN_F32, 65, 1, 1); EXPECT(-EINVAL, "matmul bias size");
	c = base; c.t[3] = T(f, KN_F32, 64, 1, 1); EXPECT(0, "matmul bias ok");
	c = base; c.op = ACCEL_OP_LOGITS; c.t[3] = T(f, KN_F32, 64, 1, 1);
	EXPECT(-EINVAL, "logits with bias");
	/* EMBED */
	accel_cmd_prep_embed(&base, T(f, KN_F32, 256, 4, 1), T(q, KN_Q6_K, 256, 10, 1),
			     T(i32, KN_I32, 4, 1, 1));
	c = base; EXPECT(0, "embed ok");
	c = base; c.t[0].ne[0] = 255; EXPECT(-EINVAL, "embed dim");
	c = base; c.t[2].ne[1] = 2; EXPECT(-EINVAL, "embed 2-D ids");
	c = base; c.t[2].dtype = KN_F32; EXPECT(-EINVAL, "embed f32 ids");
	c = base; c.t[1].dtype = 6; EXPECT(-EOPNOTSUPP, "embed unknown type");
	/* RMSNORM */
	accel_cmd_prep_rmsnorm(&base, T(f, KN_F32, 64, 3, 1), T(f, KN_F32, 64, 3, 1),
			       T(f, KN_F32, 64, 1, 1), 1e-5f);
	c = base; EXPECT(0, "rmsnorm ok");
	c = base; c.t[2].ne[0] = 32; EXPECT(-EINVAL, "rmsnorm weight dim");
	c = base; c.f[0] = -1; EXPECT(-EINVAL, "rmsnorm eps < 0");
	c = base; c.f[0] = NAN; EXPECT(-EINVAL, "rmsnorm eps NaN");
	c = base; c.t[0].ne[1] = 2; EXPECT(-EINVAL, "rmsnorm shape");
	/* ROPE */
	accel_cmd_prep_rope(&base, T(f, KN_F32, 64, 4, 3), T(i32, KN_I32, 3, 1, 1), NONE, 64, 0,
			    10000.0f, 1.0f);
	c = base; EXPECT(0, "rope ok");
	c = base; c.i[0] = 63; EXPECT(-EINVAL, "rope odd n_rot");
	c = base; c.i[0] = 66; EXPECT(-EINVAL, "rope n_rot > hd");
	c = base; c.i[1] = 1; EXPECT(-EINVAL, "rope mode 1");
	c = base; c.f[0] = 0; EXPECT(-EINVAL, "rope base 0");
	c = base; c.t[1].ne[0] = 2; EXPECT(-EINVAL, "rope positions count");
	c = base; c.t[2] = T(f, KN_F32, 31, 1, 1); EXPECT(-EINVAL, "rope freq factors size");
	c = base; c.t[2] = T(f, KN_F32, 32, 1, 1); EXPECT(0, "rope freq factors ok");
	/* ATTN */
	accel_cmd_prep_attn(&base, ACCEL_OP_ATTN_DECODE, T(f, KN_F32, 256, 2, 1),
			    T(f, KN_F32, 64, 4, 2), T(f, KN_F32, 64, 2, 2), T(f, KN_F32, 64, 2, 2),
			    NULL, T(i32, KN_I32, 8, 2, 1), T(i32, KN_I32, 2, 1, 1),
			    T(i32, KN_I32, 2, 1, 1), 0, 2, 16, KN_F16, KN_F16, 0, 0.125f);
	base.t[4] = T(q, KN_I8, sizeof(q), 1, 1);
	c = base; EXPECT(0, "attn ok");
	c = base; c.t[2].ne[1] = c.t[3].ne[1] = 3; EXPECT(-EINVAL, "attn heads % kv heads");
	c = base; c.i[0] = 2; EXPECT(-EINVAL, "attn layer >= n_layer");
	c = base; c.i[3] = KN_BF16; EXPECT(-EINVAL, "attn bf16 cache");
	c = base; c.i[4] = KN_Q4_0; EXPECT(-EINVAL, "attn q4_0 V cache");
	c = base; c.i[3] = KN_Q8_0; EXPECT(0, "attn q8_0 K cache");
	c = base; c.i[4] = KN_Q8_0; EXPECT(-EINVAL, "attn q8_0 V cache without flash");
	c = base; c.i[4] = KN_Q8_0; c.i[5] = ACCEL_ATTN_FLASH; EXPECT(0, "attn q8_0 V flash");
	c = base; c.i[5] = 4; EXPECT(-EINVAL, "attn unknown flag");
	c = base; c.i[5] = ACCEL_ATTN_ROW_INVARIANT; EXPECT(0, "attn row-invariant flag");
	c = base; c.i[5] = ACCEL_ATTN_FLASH | ACCEL_ATTN_SPLIT(2); EXPECT(0, "attn split 2");
	c = base; c.i[5] = ACCEL_ATTN_FLASH | ACCEL_ATTN_SPLIT(ACCEL_ATTN_SPLIT_MAX);
	EXPECT(0, "attn split at its limit");
	c = base; c.i[5] = ACCEL_ATTN_FLASH | ACCEL_ATTN_SPLIT(ACCEL_ATTN_SPLIT_MAX + 1);
	EXPECT(-EINVAL, "attn split past its limit");
	c = base; c.i[5] = ACCEL_ATTN_SPLIT(2); EXPECT(-EINVAL, "attn split without flash");
	c = base; c.i[5] = ACCEL_ATTN_FLASH | (1u << 7); EXPECT(-EINVAL, "attn flag bit 7");
	c = base; c.i[5] = ACCEL_ATTN_FLASH | (INT64_C(1) << 24); EXPECT(-EINVAL, "attn bit 24");
	c = base; c.i[5] = ACCEL_ATTN_FLASH | (INT64_C(1) << 40); EXPECT(-EINVAL, "attn bit 40");
	c = base; c.i[3] = KN_Q8_0; c.t[1].ne[0] = c.t[2].ne[0] = c.t[3].ne[0] = 48;
	c.t[0].ne[0] = 192; EXPECT(-EINVAL, "attn q8_0 with hd % 32");
	c = base; c.i[2] = 0; EXPECT(-EINVAL, "attn 0 tokens per block");
	c = base; c.t[3].ne[0] = 32; EXPECT(-EINVAL, "attn v shape");
	c = base; c.t[0].ne[0] = 128; EXPECT(-EINVAL, "attn out shape");
	c = base; c.t[6].ne[0] = 3; EXPECT(-EINVAL, "attn positions count");
	c = base; c.t[7].ne[1] = 2; EXPECT(0, "attn seq ids with chunk sizes");
	c = base; c.t[7].ne[1] = 3; EXPECT(-EINVAL, "attn seq ids with 3 rows");
	c = base; c.t[4] = NONE; EXPECT(-EINVAL, "attn no cache");
	/* SWIGLU / ADD */
	accel_cmd_prep_add(&base, T(f, KN_F32, 64, 2, 1), T(f, KN_F32, 64, 2, 1),
			   T(f, KN_F32, 64, 2, 1));
	c = base; EXPECT(0, "add ok");
	c = base; c.t[2].ne[1] = 1; EXPECT(-EINVAL, "add shape");
	c = base; c.op = ACCEL_OP_SWIGLU; c.t[1].dtype = KN_F16; EXPECT(-EINVAL, "swiglu f16");
	/* MOE_ROUTE */
	accel_cmd_prep_moe_route(&base, T(f, KN_F32, 2, 3, 1), T(i32, KN_I32, 2, 3, 1),
				 T(f, KN_F32, 8, 3, 1), 2, 1);
	c = base; EXPECT(0, "moe_route ok");
	c = base; c.i[0] = 0; EXPECT(-EINVAL, "moe_route k 0");
	c = base; c.i[0] = 9; EXPECT(-EINVAL, "moe_route k > n_exp");
	c = base; c.i[1] = 2; EXPECT(-EINVAL, "moe_route renorm 2");
	/* MOE_FFN */
	accel_cmd_prep_moe_ffn(&base, T(f, KN_F32, 256, 2, 1), T(f, KN_F32, 256, 2, 1),
			       T(q, KN_Q8_0, 256, 64, 4), T(q, KN_Q8_0, 256, 64, 4),
			       T(q, KN_Q8_0, 64, 256, 4), T(f, KN_F32, 2, 2, 1),
			       T(i32, KN_I32, 2, 2, 1), (struct accel_tensor){ 0 });
	c = base; EXPECT(0, "moe_ffn ok");
	c = base; c.t[4].ne[1] = 128; EXPECT(-EINVAL, "moe_ffn down shape");
	c = base; c.t[5].ne[0] = c.t[6].ne[0] = 5; EXPECT(-EINVAL, "moe_ffn k > n_exp");
	c = base; c.t[3].dtype = KN_Q8_1; EXPECT(-EOPNOTSUPP, "moe_ffn q8_1 up");
	c = base; c.i[1] = 1; EXPECT(-EINVAL, "moe_ffn expert set without ACCEL_MOE_SLOTS");
	c = base; c.i[0] = 4; EXPECT(-EINVAL, "moe_ffn unknown flag");
	c = base; c.i[0] = ACCEL_MOE_ROW_INVARIANT; EXPECT(0, "moe_ffn row-invariant ok");
	c = base; accel_cmd_moe_rows(&c, true, 0); EXPECT(0, "moe_ffn ids with sequences ok");
	c.t[6].ne[2] = 3; EXPECT(-EINVAL, "moe_ffn ids with 3 planes");
	c.t[6].ne[2] = 2; c.t[6].ne[1] = 3; EXPECT(-EINVAL, "moe_ffn ids with sequences: n");
	c.t[6].ne[1] = 2; c.t[6].ne[0] = 1; EXPECT(-EINVAL, "moe_ffn ids with sequences: k");
	c.t[6].ne[0] = 2; c.t[6].ne[3] = 2; EXPECT(-EINVAL, "moe_ffn ids 4-D");
	c.t[6].ne[3] = 1; c.t[6].dtype = KN_F32; EXPECT(-EINVAL, "moe_ffn f32 ids with sequences");
	c = base; c.i[0] = ACCEL_MOE_SLOTS; EXPECT(-EINVAL, "moe_ffn slots: t0 not [dim, k * n]");
	c.t[0].ne[1] = 4; c.i[1] = 0xf; EXPECT(0, "moe_ffn slots ok");
	c.i[1] = 0x10; EXPECT(-EINVAL, "moe_ffn slots: expert past n_exp");
	c.i[1] = 1; c.i[5] = 1; EXPECT(-EINVAL, "moe_ffn slots: i5 not 0");
	c.i[5] = 0; accel_cmd_moe_rows(&c, true, ACCEL_MOE_ROW_INVARIANT);
	EXPECT(0, "moe_ffn slots with sequences and row-invariant ok");
	/* MOE_SUM */
	accel_cmd_prep_moe_sum(&base, T(f, KN_F32, 256, 2, 1), T(f, KN_F32, 256, 4, 1),
			       T(f, KN_F32, 2, 2, 1));
	c = base; EXPECT(0, "moe_sum ok");
	c = base; c.t[1].ne[1] = 3; EXPECT(-EINVAL, "moe_sum slots not k * n rows");
	c = base; c.t[2].dtype = KN_F16; EXPECT(-EINVAL, "moe_sum f16 weights");
	/* opcodes */
	accel_cmd_prep(&c, ACCEL_OP_READ_FILE); EXPECT(-EINVAL, "copy op on compute");
	accel_cmd_prep(&c, ACCEL_OP_COUNT); EXPECT(-EINVAL, "opcode past the table");
	c.op = 999; EXPECT(-EINVAL, "opcode 999");
#undef EXPECT
	ok(!bad, "accel_cpu_check: %d commands, each rejected (or accepted) as specified", n);
}

#define ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define SIMPLE_OPS_TESTS 8	/* test_simple_ops: one per op, EMBED twice */

static const int nths[] = { 1, 3 };
static const struct { uint32_t wt; bool logits; } mm_cases[] = {
	{ KN_Q4_K, false }, { KN_Q4_1, false }, { KN_F32, true }, { KN_Q6_K, true },
};
static const struct { uint32_t kt, vt; bool flash; } attn_cases[] = {
	{ KN_F16, KN_F16, false }, { KN_F32, KN_F32, false }, { KN_Q8_0, KN_F16, false },
	{ KN_F32, KN_F16, false }, { KN_F16, KN_F16, true }, { KN_F32, KN_F32, true },
	{ KN_Q8_0, KN_Q8_0, true }, { KN_F16, KN_Q8_0, true },
};
static const uint32_t moe_types[] = { KN_Q8_0, KN_F32 };

int main(void)
{
	int moe_tests = 0;

	/* test_moe: 4, and 1 more against double for f32 weights */
	for (int i = 0; i < ARRAY_LEN(moe_types); i++)
		moe_tests += 4 + (moe_types[i] == KN_F32);
	moe_tests += 4;		/* test_moe_seq */
	/* per thread count: simple ops, 2 matmuls (5 and 1 rows) per case, 3 per
	 * attention case, the split decode, the MoE tests; then test_check 1 */
	plan(ARRAY_LEN(nths) * (SIMPLE_OPS_TESTS + 2 * ARRAY_LEN(mm_cases) +
				3 * ARRAY_LEN(attn_cases) + 1 + moe_tests) + 1);
	kt_seed(42);
	for (int ni = 0; ni < ARRAY_LEN(nths); ni++) {
		const int nth = nths[ni];

		test_simple_ops(nth);
		for (int i = 0; i < ARRAY_LEN(mm_cases); i++)
			test_matmul(nth, mm_cases[i].wt, mm_cases[i].logits);
		for (int i = 0; i < ARRAY_LEN(attn_cases); i++)
			test_attn(nth, attn_cases[i].kt, attn_cases[i].vt, attn_cases[i].flash);
		test_attn_split(nth);
		for (int i = 0; i < ARRAY_LEN(moe_types); i++)
			test_moe(nth, moe_types[i]);
	}
	/* after the others: its random data leave theirs as they were */
	for (int ni = 0; ni < ARRAY_LEN(nths); ni++)
		test_moe_seq(nths[ni]);
	test_check();
	return done_testing();
}
