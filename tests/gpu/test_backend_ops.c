// SPDX-License-Identifier: MIT
/*
 * test-backend-ops for kernels/cuda (ggml's tests/test-backend-ops.cpp is the
 * model): every op on the GPU against the CPU kernels (kernels/cpu, the CPU
 * executor's arithmetic) on random inputs over several shapes, each with an
 * NMSE bound per path and type; exact where the GPU shares the CPU's
 * arithmetic (embedding rows, the K/V bytes stored in the cache, greedy ids,
 * routed expert ids). Built by `make cuda`, run by tests/gpu/run.sh on a GPU
 * machine; it needs a CUDA device and says so (TAP bail out) without one.
 * Arguments: op groups to run (embed rows rope argmax quant matmul attn
 * moe_route moe_ffn errors); none: all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cuda_runtime_api.h>
#include "tap.h"
#include "kn_test.h"
#include "kn_ops.h"
#include "kn_cuda.h"

static struct kn_cuda_ctx *ctx;

static const uint32_t mm_types[] = { KN_F32, KN_F16, KN_BF16, KN_Q4_0, KN_Q4_1, KN_Q8_0,
				     KN_Q4_K, KN_Q5_K, KN_Q6_K };
#define N_MM	(int)(sizeof(mm_types) / sizeof(mm_types[0]))

static void *dup_dev(const void *h, size_t n)
{
	void *d = NULL;

	if (cudaMalloc(&d, n ? n : 1) != cudaSuccess)
		bail_out("cudaMalloc %zu bytes failed", n);
	if (n && h && cudaMemcpy(d, h, n, cudaMemcpyHostToDevice) != cudaSuccess)
		bail_out("upload failed");
	return d;
}

static void get_dev(void *h, const void *d, size_t n)
{
	if (kn_cuda_ctx_sync(ctx))
		diag("a kernel reported an error before this download");
	if (cudaMemcpy(h, d, n, cudaMemcpyDeviceToHost) != cudaSuccess)
		bail_out("download failed");
}

static void *rand_rows(uint32_t type, int64_t n_in, int64_t rows, float scale)
{
	const size_t rs = kn_row_size(type, n_in);
	float *x = malloc(n_in * sizeof(float));
	uint8_t *w = malloc(rs * rows);

	for (int64_t r = 0; r < rows; r++) {
		kt_fill(x, n_in, scale);
		kn_quantize_row(type, x, w + r * rs, n_in);
	}
	free(x);
	return w;
}

static float *rand_f(int64_t n, float scale)
{
	float *x = malloc(n * sizeof(float));

	kt_fill(x, n, scale);
	return x;
}

static bool check(const char *what, const float *got, const float *ref, int64_t n, double max)
{
	const double e = kt_nmse(got, ref, n);

	return ok(e <= max, "%s: nmse %.3g <= %.1g", what, e, max);
}

/* ------------------------------------------------------------ elementwise */

static void test_embed(void)
{
	for (int i = 0; i < N_MM; i++) {
		const uint32_t t = mm_types[i];
		const int64_t dim = 512, vocab = 37, n = 9;
		void *w = rand_rows(t, dim, vocab, 1.0f);
		int32_t ids[9] = { 0, 36, 5, 5, 17, 1, 30, 2, 36 };
		float *ref = malloc(n * dim * 4), *got = malloc(n * dim * 4);
		void *dw = dup_dev(w, kn_row_size(t, dim) * vocab), *did = dup_dev(ids, sizeof(ids));
		float *dout = dup_dev(NULL, n * dim * 4);

		kn_embed(ref, w, t, dim, ids, n, 0, 1);
		ok(!kn_cuda_embed(ctx, dout, dw, t, dim, vocab, did, n), "embed %s queued",
		   kn_type_name(t));
		get_dev(got, dout, n * dim * 4);
		ok(!memcmp(got, ref, n * dim * 4), "embed %s: rows bit-identical", kn_type_name(t));
		cudaFree(dw);
		cudaFree(did);
		cudaFree(dout);
		free(w);
		free(ref);
		free(got);
	}
}

static void test_rows(void)
{
	static const int64_t dims[] = { 64, 576, 4096 };

	for (int i = 0; i < 3; i++) {
		const int64_t dim = dims[i], rows = 5, n = dim * rows;
		float *x = rand_f(n, 3.0f), *w = rand_f(dim, 1.0f), *u = rand_f(n, 2.0f);
		float *ref = malloc(n * 4), *got = malloc(n * 4);
		float *dx = dup_dev(x, n * 4), *dw = dup_dev(w, dim * 4), *du = dup_dev(u, n * 4);
		float *dout = dup_dev(NULL, n * 4);
		char name[64];

		kn_rmsnorm(ref, x, w, dim, rows, 1e-5f, 0, 1);
		kn_cuda_rmsnorm(ctx, dout, dx, dw, dim, rows, 1e-5f);
		get_dev(got, dout, n * 4);
		snprintf(name, sizeof(name), "rmsnorm dim %lld", (long long)dim);
		check(name, got, ref, n, 1e-12);

		kn_swiglu(ref, x, u, n, dim, 0, 1);
		kn_cuda_swiglu(ctx, dout, dx, du, n);
		get_dev(got, dout, n * 4);
		snprintf(name, sizeof(name), "swiglu %lld", (long long)n);
		check(name, got, ref, n, 1e-12);

		kn_add(ref, x, u, n, 0, 1);
		kn_cuda_add(ctx, dout, dx, du, n);
		get_dev(got, dout, n * 4);
		snprintf(name, sizeof(name), "add %lld: bit-identical", (long long)n);
		ok(!memcmp(got, ref, n * 4), "%s", name);
		cudaFree(dx);
		cudaFree(dw);
		cudaFree(du);
		cudaFree(dout);
		free(x);
		free(w);
		free(u);
		free(ref);
		free(got);
	}
}

static void test_rope(void)
{
	for (int c = 0; c < 8; c++) {
		const int64_t hd = c & 4 ? 128 : 64, nh = 6, n = 11;
		const int mode = c & 1 ? 2 : 0, n_rot = c & 2 ? (int)hd / 2 : (int)hd;
		float *x = rand_f(n * nh * hd, 1.0f), *ff = malloc(n_rot / 2 * 4);
		int32_t pos[11];
		float *ref = malloc(n * nh * hd * 4), *got = malloc(n * nh * hd * 4);
		char name[96];

		for (int i = 0; i < n_rot / 2; i++)
			ff[i] = 1.0f + (float)(i % 5);
		for (int i = 0; i < n; i++)
			pos[i] = i * 397 % 8192;
		memcpy(ref, x, n * nh * hd * 4);
		float *dx = dup_dev(x, n * nh * hd * 4), *dff = dup_dev(ff, n_rot / 2 * 4);
		int32_t *dpos = dup_dev(pos, sizeof(pos));

		kn_rope(ref, pos, n, nh, hd, n_rot, mode, 500000.0f, 1.0f, c & 4 ? ff : NULL, 0, 1);
		kn_cuda_rope(ctx, dx, dpos, n, nh, hd, n_rot, mode, 500000.0f, 1.0f,
			     c & 4 ? dff : NULL);
		get_dev(got, dx, n * nh * hd * 4);
		snprintf(name, sizeof(name), "rope hd %lld n_rot %d mode %d%s", (long long)hd, n_rot,
			 mode, c & 4 ? " freq factors" : "");
		check(name, got, ref, n * nh * hd, 1e-9);
		cudaFree(dx);
		cudaFree(dff);
		cudaFree(dpos);
		free(x);
		free(ff);
		free(ref);
		free(got);
	}
}

static void test_argmax(void)
{
	const int64_t vocab = 49152, n = 4;
	float *l = rand_f(vocab * n, 5.0f);
	int32_t ref[4], got[4];

	l[100] = l[40000] = 1000.0f;			/* a tie: the lower index wins */
	l[vocab + 7] = 50.0f;
	l[2 * vocab + vocab - 1] = 60.0f;
	for (int c = 0; c < n; c++) {
		int32_t b = 0;

		for (int i = 1; i < vocab; i++)
			if (l[c * vocab + i] > l[c * vocab + b])
				b = i;
		ref[c] = b;
	}
	float *dl = dup_dev(l, vocab * n * 4);
	int32_t *dids = dup_dev(NULL, sizeof(got));

	kn_cuda_argmax(ctx, dids, dl, vocab, n);
	get_dev(got, dids, sizeof(got));
	ok(!memcmp(got, ref, sizeof(ref)), "argmax: greedy ids %d %d %d %d as the CPU's",
	   got[0], got[1], got[2], got[3]);
	cudaFree(dl);
	cudaFree(dids);
	free(l);
}

/* the activation quantizers: the CPU's bytes, ties and zero blocks included
 * (not NaNs: the GPU's arithmetic returns the canonical NaN, x86 the input's) */
static void test_quant(void)
{
	static const uint32_t types[] = { KN_Q8_0, KN_Q8_1, KN_Q8_K };

	for (int i = 0; i < 3; i++) {
		const uint32_t t = types[i];
		const int64_t n_in = 1024, rows = 7;
		const size_t rs = kn_row_size(t, n_in);
		float *x = rand_f(n_in * rows, 3.0f);
		uint8_t *ref = malloc(rs * rows), *got = malloc(rs * rows);

		for (int64_t j = 0; j < n_in; j++)
			x[n_in + j] = (float)(j % 9) - 4.0f;	/* ties: +-4 at many places */
		memset(x + 2 * n_in, 0, 256 * sizeof(float));	/* zero blocks */
		for (int64_t r = 0; r < rows; r++)
			kn_quantize_act_row(t, x + r * n_in, ref + r * rs, n_in);
		float *dx = dup_dev(x, n_in * rows * 4);
		uint8_t *dy = dup_dev(NULL, rs * rows);
		const int ret = kn_cuda_quantize_act(ctx, t, dx, dy, n_in, rows);

		get_dev(got, dy, rs * rows);
		ok(!ret && !memcmp(got, ref, rs * rows), "quantize activations %s: %lld rows "
		   "byte-identical to the CPU's (ret %d)", kn_type_name(t), (long long)rows, ret);
		cudaFree(dx);
		cudaFree(dy);
		free(x);
		free(ref);
		free(got);
	}
}

/* ----------------------------------------------------------------- MATMUL */

/* the bound per type and path (mmv: <= KN_CUDA_MMV_MAX_COLS columns) */
static double mm_bound(uint32_t t, bool mmv)
{
	if (mmv)	/* quantized: the CPU's integers, another float order */
		return t == KN_F16 ? 1e-5 : t == KN_BF16 ? 1e-4 : 1e-9;	/* F32 x vs F16/BF16 x */
	if (t == KN_F32)
		return 1e-9;
	if (t == KN_F16 || t == KN_BF16)
		return 1e-5;
	return 5e-4;	/* FP16 activations against the CPU's Q8 ones */
}

static void test_matmul_one(uint32_t t, int64_t n_in, int64_t n_rows, int64_t n_cols, bool bias,
			    size_t w_off)
{
	const uint32_t vt = kn_vec_dot_type(t);
	const size_t wrs = kn_row_size(t, n_in), ars = kn_row_size(vt, n_in);
	uint8_t *w = rand_rows(t, n_in, n_rows, 0.5f);
	float *x = rand_f(n_in * n_cols, 1.0f), *b = rand_f(n_rows, 1.0f);
	uint8_t *a = malloc(ars * n_cols);
	float *ref = malloc(n_rows * n_cols * 4), *got = malloc(n_rows * n_cols * 4);
	uint8_t *dwb = dup_dev(NULL, wrs * n_rows + w_off);
	float *dx = dup_dev(x, n_in * n_cols * 4), *db = dup_dev(b, n_rows * 4);
	float *dout = dup_dev(NULL, n_rows * n_cols * 4);
	char name[128];
	int ret;

	cudaMemcpy(dwb + w_off, w, wrs * n_rows, cudaMemcpyHostToDevice);
	for (int64_t c = 0; c < n_cols; c++)
		kn_quantize_act_row(vt, x + c * n_in, a + c * ars, n_in);
	kn_matmul(ref, w, t, a, bias ? b : NULL, n_in, n_rows, n_cols, 0, 1);
	ret = kn_cuda_matmul(ctx, dout, dwb + w_off, t, dx, bias ? db : NULL, n_in, n_rows, n_cols);
	get_dev(got, dout, n_rows * n_cols * 4);
	snprintf(name, sizeof(name), "matmul %s [%lld x %lld] x %lld cols%s%s (ret %d)",
		 kn_type_name(t), (long long)n_rows, (long long)n_in, (long long)n_cols,
		 bias ? " + bias" : "", w_off ? " unaligned W" : "", ret);
	check(name, got, ref, n_rows * n_cols, ret ? -1.0 : mm_bound(t, n_cols <= KN_CUDA_MMV_MAX_COLS));
	cudaFree(dwb);
	cudaFree(dx);
	cudaFree(db);
	cudaFree(dout);
	free(w);
	free(x);
	free(b);
	free(a);
	free(ref);
	free(got);
}

/* ROW_INVARIANT: 19 columns in one product, each bit for bit the column
 * computed alone (batch invariance on the GPU) */
static void test_matmul_rowinv(uint32_t t)
{
	const int64_t n_in = 512, n_rows = 96, n_cols = 19;
	const size_t wrs = kn_row_size(t, n_in);
	uint8_t *w = rand_rows(t, n_in, n_rows, 0.5f);
	float *x = rand_f(n_in * n_cols, 1.0f);
	float *all = malloc(n_rows * n_cols * 4), *one = malloc(n_rows * 4);
	uint8_t *dw = dup_dev(w, wrs * n_rows);
	float *dx = dup_dev(x, n_in * n_cols * 4), *dout = dup_dev(NULL, n_rows * n_cols * 4);
	int ret, bad = 0;

	ret = kn_cuda_matmul_rowinv(ctx, dout, dw, t, dx, NULL, n_in, n_rows, n_cols);
	get_dev(all, dout, n_rows * n_cols * 4);
	for (int64_t c = 0; c < n_cols && !ret; c++) {
		ret = kn_cuda_matmul(ctx, dout, dw, t, dx + c * n_in, NULL, n_in, n_rows, 1);
		get_dev(one, dout, n_rows * 4);
		bad += memcmp(one, all + c * n_rows, n_rows * 4) != 0;
	}
	ok(!ret && !bad, "matmul %s row-invariant, %lld columns: each as computed alone "
	   "(%d differ, ret %d)", kn_type_name(t), (long long)n_cols, bad, ret);
	cudaFree(dw);
	cudaFree(dx);
	cudaFree(dout);
	free(w);
	free(x);
	free(all);
	free(one);
}

static void test_matmul(void)
{
	static const int64_t cols[] = { 1, 3, 8, 17, 64 };

	for (int i = 0; i < N_MM; i++) {
		for (int c = 0; c < 5; c++)
			test_matmul_one(mm_types[i], 1024, 200, cols[c], c == 1, 0);
		test_matmul_one(mm_types[i], 4096, 96, 1, false, 0);
		/* a W at an odd 2-byte offset: the 2-byte staging path (quantized only) */
		if (kn_type_block_elems(mm_types[i]) > 1)
			test_matmul_one(mm_types[i], 768, 33, 2, false, 2);
		test_matmul_rowinv(mm_types[i]);
	}
}

/* -------------------------------------------------------------- ATTENTION */

struct attn_case {
	int64_t hd, n_head, n_kv_head;
	uint32_t cache_type;
	int64_t hist, n;	/* prefill: history then n new tokens of one sequence */
	int n_seq;		/* decode: sequences, one token each after their history */
};

static void attn_run(const struct attn_case *c, bool prefill, uint8_t *cache, uint8_t *dcache,
		     int64_t cache_bytes, int32_t *bt, int32_t *dbt, int64_t max_blocks,
		     int64_t n, const int32_t *pos, const int32_t *seq, int n_seq,
		     float *ref, float *got, const char *what, bool check_it)
{
	const int64_t qn = n * c->n_head * c->hd, kn = n * c->n_kv_head * c->hd;
	float *q = rand_f(qn, 1.0f), *k = rand_f(kn, 1.0f), *v = rand_f(kn, 1.0f);
	float *dq = dup_dev(q, qn * 4), *dk = dup_dev(k, kn * 4), *dv = dup_dev(v, kn * 4);
	int32_t *dpos = dup_dev(pos, n * 4), *dseq = dup_dev(seq, n * 4);
	float *dout = dup_dev(NULL, qn * 4);
	const int btok = 16;
	const size_t esz = c->cache_type == KN_F16 ? 2 : 4;
	const uint64_t bsz = (uint64_t)2 * 2 * btok * c->n_kv_head * c->hd * esz;	/* 2 layers */
	struct kn_attn_args a = {
		.out = ref, .q = q, .k = k, .v = v, .cache = cache, .block_size = bsz,
		.block_table = bt, .max_blocks = max_blocks, .pos = pos, .seq = seq, .n = n,
		.n_head = c->n_head, .n_kv_head = c->n_kv_head, .hd = c->hd, .layer = 1,
		.n_layer = 2, .block_tokens = btok, .k_type = c->cache_type, .v_type = c->cache_type,
		.scale = 1.0f / sqrtf((float)c->hd),
	};
	struct kn_attn_args d = a;
	char name[160];
	int ret;

	kn_attn_store_kv(&a, 0, 1);
	kn_attn(&a, 0, 1);
	d.out = dout;
	d.q = dq;
	d.k = dk;
	d.v = dv;
	d.cache = dcache;
	d.block_table = dbt;
	d.pos = dpos;
	d.seq = dseq;
	ret = kn_cuda_attn(ctx, &d, n_seq, (int64_t)(cache_bytes / bsz), prefill);
	get_dev(got, dout, qn * 4);
	if (check_it) {
		uint8_t *gc = malloc(cache_bytes);

		get_dev(gc, dcache, cache_bytes);
		snprintf(name, sizeof(name), "%s hd %lld heads %lld/%lld %s cache: K/V bytes stored "
			 "as the CPU's (ret %d)", what, (long long)c->hd, (long long)c->n_head,
			 (long long)c->n_kv_head, kn_type_name(c->cache_type), ret);
		ok(!ret && !memcmp(gc, cache, cache_bytes), "%s", name);
		snprintf(name, sizeof(name), "%s hd %lld heads %lld/%lld %s cache, %lld tokens",
			 what, (long long)c->hd, (long long)c->n_head, (long long)c->n_kv_head,
			 kn_type_name(c->cache_type), (long long)n);
		/* FP16 tensor-core tiles for prefill of hd 64/128; FP32 otherwise */
		check(name, got, ref, qn,
		      prefill && (c->hd == 64 || c->hd == 128) ? 5e-4 : 1e-9);
		free(gc);
	}
	cudaFree(dq);
	cudaFree(dk);
	cudaFree(dv);
	cudaFree(dpos);
	cudaFree(dseq);
	cudaFree(dout);
	free(q);
	free(k);
	free(v);
}

static void test_attn_case(const struct attn_case *c)
{
	const int btok = 16, n_seq = c->n_seq ? c->n_seq : 1;
	const size_t esz = c->cache_type == KN_F16 ? 2 : 4;
	const uint64_t bsz = (uint64_t)2 * 2 * btok * c->n_kv_head * c->hd * esz;
	const int64_t max_blocks = (c->hist + c->n + btok) / btok + 1;
	int64_t n_blocks = max_blocks * n_seq + 3;

	while (n_blocks % 7 == 0)	/* i * 7 + 3 below must be a permutation */
		n_blocks++;
	const int64_t cache_bytes = (int64_t)(bsz * n_blocks);
	uint8_t *cache = calloc(1, cache_bytes);
	uint8_t *dcache = dup_dev(cache, cache_bytes);
	int32_t *bt = malloc(max_blocks * n_seq * 4);
	const int64_t tot = c->hist + (c->n_seq ? 1 : c->n);
	int32_t *pos = malloc(tot * n_seq * 4), *seq = malloc(tot * n_seq * 4);
	float *ref = malloc(tot * n_seq * c->n_head * c->hd * 4);
	float *got = malloc(tot * n_seq * c->n_head * c->hd * 4);

	/* block ids scattered over the pool: a permutation */
	for (int64_t i = 0; i < max_blocks * n_seq; i++)
		bt[i] = (int32_t)((i * 7 + 3) % n_blocks);
	int32_t *dbt = dup_dev(bt, max_blocks * n_seq * 4);

	/* history: prefill each sequence's first hist (+ its own offset) tokens */
	for (int s = 0; s < n_seq; s++) {
		const int64_t h = c->hist + (c->n_seq ? s * 5 : 0);

		if (!h)
			continue;
		for (int64_t i = 0; i < h; i++) {
			pos[i] = (int32_t)i;
			seq[i] = s;
		}
		attn_run(c, true, cache, dcache, cache_bytes, bt, dbt, max_blocks, h, pos, seq, n_seq,
			 ref, got, "history", false);
	}
	if (c->n_seq) {		/* decode: one token per sequence, batched */
		for (int s = 0; s < n_seq; s++) {
			pos[s] = (int32_t)(c->hist + s * 5);
			seq[s] = s;
		}
		attn_run(c, false, cache, dcache, cache_bytes, bt, dbt, max_blocks, n_seq, pos, seq,
			 n_seq, ref, got, "decode", true);
	} else {
		for (int64_t i = 0; i < c->n; i++) {
			pos[i] = (int32_t)(c->hist + i);
			seq[i] = 0;
		}
		attn_run(c, true, cache, dcache, cache_bytes, bt, dbt, max_blocks, c->n, pos, seq, 1,
			 ref, got, "prefill", true);
	}
	cudaFree(dcache);
	cudaFree(dbt);
	free(cache);
	free(bt);
	free(pos);
	free(seq);
	free(ref);
	free(got);
}

static const struct attn_case attn_cases[] = {
	/* prefill: FA tiles (hd 64/128), partial tiles, history, GQA; other hd */
	{ 64, 9, 3, KN_F32, 0, 17, 0 },
	{ 64, 8, 8, KN_F16, 37, 100, 0 },
	{ 128, 8, 2, KN_F16, 0, 130, 0 },
	{ 128, 4, 1, KN_F32, 70, 64, 0 },
	{ 8, 8, 4, KN_F32, 5, 20, 0 },
	{ 96, 6, 2, KN_F16, 0, 33, 0 },
	/* decode: batched sequences of different lengths, split over keys */
	{ 64, 9, 3, KN_F16, 10, 0, 3 },
	{ 128, 8, 2, KN_F32, 700, 0, 4 },
	{ 128, 32, 8, KN_F16, 1200, 0, 2 },
};
#define N_ATTN	(int)(sizeof(attn_cases) / sizeof(attn_cases[0]))

/* -------------------------------------------------------------------- MoE */

static void test_moe_route(void)
{
	static const int64_t nexp[] = { 8, 64, 128 };

	for (int i = 0; i < 6; i++) {
		const int64_t ne = nexp[i % 3], n = 9;
		const int k = i < 3 ? 2 : 8;
		const bool renorm = i & 1;
		float *l = rand_f(ne * n, 2.0f), *rw = malloc(n * k * 4), *gw = malloc(n * k * 4);
		int32_t *rid = malloc(n * k * 4), *gid = malloc(n * k * 4);
		float *dl = dup_dev(l, ne * n * 4), *dw = dup_dev(NULL, n * k * 4);
		int32_t *did = dup_dev(NULL, n * k * 4);

		kn_moe_route(rw, rid, l, n, ne, k, renorm);
		kn_cuda_moe_route(ctx, dw, did, dl, n, ne, k, renorm);
		get_dev(gw, dw, n * k * 4);
		get_dev(gid, did, n * k * 4);
		ok(!memcmp(gid, rid, n * k * 4), "moe_route %lld experts top-%d%s: the CPU's ids",
		   (long long)ne, k, renorm ? " renorm" : "");
		check("moe_route weights", gw, rw, n * k, 1e-10);
		cudaFree(dl);
		cudaFree(dw);
		cudaFree(did);
		free(l);
		free(rw);
		free(gw);
		free(rid);
		free(gid);
	}
}

/* the CPU's MOE_FFN (cpu_op_moe.c's arithmetic) per token and slot */
static void moe_ref(float *out, const float *x, const uint8_t *g, const uint8_t *u,
		    const uint8_t *d, uint32_t t, int64_t n, int64_t dim, int64_t ff, int k,
		    const float *wt, const int32_t *ids)
{
	const uint32_t vt = kn_vec_dot_type(t);
	const size_t grs = kn_row_size(t, dim), drs = kn_row_size(t, ff);
	uint8_t *xa = malloc(kn_row_size(vt, dim)), *ha = malloc(kn_row_size(vt, ff));
	float *G = malloc(ff * 4), *U = malloc(ff * 4), *D = malloc(dim * k * 4);

	for (int64_t tk = 0; tk < n; tk++) {
		kn_quantize_act_row(vt, x + tk * dim, xa, dim);
		for (int j = 0; j < k; j++) {
			const int64_t e = ids[tk * k + j];

			kn_matmul(G, g + e * ff * grs, t, xa, NULL, dim, ff, 1, 0, 1);
			kn_matmul(U, u + e * ff * grs, t, xa, NULL, dim, ff, 1, 0, 1);
			kn_swiglu(G, G, U, ff, ff, 0, 1);
			kn_quantize_act_row(vt, G, ha, ff);
			kn_matmul(D + j * dim, d + e * dim * drs, t, ha, NULL, ff, dim, 1, 0, 1);
		}
		for (int64_t r = 0; r < dim; r++) {
			float acc = D[r] * wt[tk * k];

			for (int j = 1; j < k; j++)
				acc += D[j * dim + r] * wt[tk * k + j];
			out[tk * dim + r] = acc;
		}
	}
	free(xa);
	free(ha);
	free(G);
	free(U);
	free(D);
}

static void test_moe_ffn(void)
{
	static const uint32_t types[] = { KN_F32, KN_Q8_0, KN_Q4_K, KN_Q6_K };
	static const int64_t ns[] = { 1, 5, 33 };

	for (int ti = 0; ti < 4; ti++) {
		for (int ni = 0; ni < 3; ni++) {
			const uint32_t t = types[ti];
			const int64_t n = ns[ni], dim = 256, ff = 512, ne = 8;
			const int k = 2;
			/* experts scattered in one pool, for decode and prefill */
			const bool cached = (ni + ti) % 2 == 1;
			const size_t gb = kn_row_size(t, dim) * ff, db = kn_row_size(t, ff) * dim;
			uint8_t *g = rand_rows(t, dim, ff * ne, 0.3f), *u = rand_rows(t, dim, ff * ne, 0.3f);
			uint8_t *d = rand_rows(t, ff, dim * ne, 0.3f);
			float *x = rand_f(n * dim, 1.0f), *l = rand_f(n * ne, 2.0f);
			float *wt = malloc(n * k * 4), *ref = malloc(n * dim * 4), *got = malloc(n * dim * 4);
			int32_t *ids = malloc(n * k * 4);
			int64_t tab[8 * 3];
			uint8_t *pool = NULL, *dpool;
			void *dg = NULL, *du = NULL, *dd = NULL;
			char name[128];
			int ret;

			kn_moe_route(wt, ids, l, n, ne, k, true);
			moe_ref(ref, x, g, u, d, t, n, dim, ff, k, wt, ids);
			if (cached) {	/* expert e's slices in reverse order, gaps between */
				const size_t slot = gb * 2 + db + 256;

				pool = calloc(1, slot * ne);
				for (int e = 0; e < ne; e++) {
					const size_t at = slot * (ne - 1 - e);

					tab[e * 3] = (int64_t)at;
					tab[e * 3 + 1] = (int64_t)(at + gb);
					tab[e * 3 + 2] = (int64_t)(at + 2 * gb + 128);
					memcpy(pool + tab[e * 3], g + e * gb, gb);
					memcpy(pool + tab[e * 3 + 1], u + e * gb, gb);
					memcpy(pool + tab[e * 3 + 2], d + e * db, db);
				}
				dpool = dup_dev(pool, slot * ne);
			} else {
				dpool = NULL;
				dg = dup_dev(g, gb * ne);
				du = dup_dev(u, gb * ne);
				dd = dup_dev(d, db * ne);
			}
			int64_t *dtab = dup_dev(tab, sizeof(tab));
			struct kn_cuda_moe_args m = {
				.out = dup_dev(NULL, n * dim * 4), .x = dup_dev(x, n * dim * 4),
				.gate = dg, .up = du, .down = dd, .gate_type = t, .up_type = t,
				.down_type = t, .tab = cached ? dtab : NULL, .base = dpool,
				.weights = dup_dev(wt, n * k * 4), .ids = dup_dev(ids, n * k * 4),
				.n = n, .dim = dim, .ff = ff, .n_exp = ne, .k = k,
			};
			if (kn_cuda_moe_ffn_scratch(&m) > kn_cuda_ctx_scratch_size(ctx))
				diag("moe scratch %zu > context's", kn_cuda_moe_ffn_scratch(&m));
			ret = kn_cuda_moe_ffn(ctx, &m);
			get_dev(got, m.out, n * dim * 4);
			snprintf(name, sizeof(name), "moe_ffn %s %lld tokens top-%d%s (ret %d)",
				 kn_type_name(t), (long long)n, k, cached ? " expert table" : "", ret);
			/* decode: silu's exp differs by an ulp, a Q8 rounding of h may
			 * flip; prefill (> 8 tokens): FP16 tensor-core tiles */
			check(name, got, ref, n * dim, ret ? -1.0 : n > KN_CUDA_MMV_MAX_COLS ? 5e-4 :
			      t == KN_F32 ? 1e-10 : 1e-6);
			cudaFree(m.out);
			cudaFree((void *)m.x);
			cudaFree((void *)m.weights);
			cudaFree((void *)m.ids);
			cudaFree(dg);
			cudaFree(du);
			cudaFree(dd);
			cudaFree(dpool);
			cudaFree(dtab);
			free(pool);
			free(g);
			free(u);
			free(d);
			free(x);
			free(l);
			free(wt);
			free(ref);
			free(got);
			free(ids);
		}
	}
}

/* the error flag: a token id past the vocabulary is refused at sync */
static void test_errors(void)
{
	const int64_t dim = 64;
	float *w = rand_f(dim * 4, 1.0f);
	int32_t ids[2] = { 1, 4 };
	void *dw = dup_dev(w, dim * 4 * 4), *did = dup_dev(ids, sizeof(ids));
	float *dout = dup_dev(NULL, 2 * dim * 4);

	ok(!kn_cuda_embed(ctx, dout, dw, KN_F32, dim, 4, did, 2), "embed with a bad id queues");
	is_int(kn_cuda_ctx_sync(ctx), -EINVAL, "the bad id is reported at sync");
	is_int(kn_cuda_ctx_sync(ctx), 0, "and the flag is cleared");
	is_int(kn_cuda_matmul(ctx, dout, dw, KN_Q8_K, dout, NULL, dim, 4, 1), -EOPNOTSUPP,
	       "matmul refuses Q8_K weights");
	cudaFree(dw);
	cudaFree(did);
	cudaFree(dout);
	free(w);
}

/* the op groups, selectable by name on the command line (all by default):
 * after a kernel fault the context is lost, so a session can rerun the rest */
struct group {
	const char *name;
	int tests;
	void (*run)(void);
};

static void run_attn(void)
{
	for (int i = 0; i < N_ATTN; i++)
		test_attn_case(&attn_cases[i]);
}

static const struct group groups[] = {
	{ "embed", 2 * N_MM, test_embed },
	{ "rows", 3 * 3, test_rows },		/* rmsnorm, swiglu, add */
	{ "rope", 8, test_rope },
	{ "argmax", 1, test_argmax },
	{ "quant", 3, test_quant },
	{ "matmul", N_MM * 7 + 6, test_matmul },	/* + 6 unaligned quantized */
	{ "attn", 2 * N_ATTN, run_attn },
	{ "moe_route", 2 * 6, test_moe_route },
	{ "moe_ffn", 12, test_moe_ffn },
	{ "errors", 4, test_errors },
};
#define N_GROUPS	(int)(sizeof(groups) / sizeof(groups[0]))

static bool wanted(const struct group *g, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], g->name))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	int ndev = 0, n = 0;
	struct cudaDeviceProp prop;

	for (int i = 1; i < argc; i++) {
		int known = 0;

		for (int g = 0; g < N_GROUPS; g++)
			known |= !strcmp(argv[i], groups[g].name);
		if (!known) {
			fprintf(stderr, "test_backend_ops: unknown group %s (embed rows rope argmax "
				"quant matmul attn moe_route moe_ffn errors)\n", argv[i]);
			return 2;
		}
	}
	if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev < 1)
		bail_out("no CUDA device: run this on a GPU machine (tests/gpu/run.sh)");
	cudaGetDeviceProperties(&prop, 0);
	for (int g = 0; g < N_GROUPS; g++)
		n += wanted(&groups[g], argc, argv) ? groups[g].tests : 0;
	plan(n);
	diag("device: %s (sm_%d%d)", prop.name, prop.major, prop.minor);
	kt_seed(2026);
	if (kn_cuda_ctx_create(&ctx, NULL, (size_t)512 << 20))
		bail_out("kn_cuda_ctx_create failed");
	for (int g = 0; g < N_GROUPS; g++)
		if (wanted(&groups[g], argc, argv))
			groups[g].run();
	kn_cuda_ctx_destroy(ctx);
	return done_testing();
}
