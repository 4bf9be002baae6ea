// SPDX-License-Identifier: MIT
/*
 * llama.cpp's split-KV flash-attention decode (kn_attn_args.split): one
 * query row of its sequence, F16 or F32 K and V, at a position whose KV
 * view (used cells padded to 256) is >= 512, summed in chunks of ceil(n_kv /
 * split) cells, each an online softmax of its own, combined in chunk order
 * (ggml_flash_attn_ext_reduce_partials). On the scalar path against a scalar
 * statement of that order written here; on each SIMD ISA against the
 * ISA's scalar twins. Teeth: the split's bits differ from the one-pass
 * kernel's. Rows llama.cpp does not split keep the one-pass bits.
 */
#include <stdio.h>
#include <string.h>
#include "tap.h"
#include "kn_test.h"
#include "kn_ops.h"

/* two sequences: 0 of 320 cells (20 blocks), 1 of 128 (8) */
enum { H = 4, KVH = 2, BT = 16, MB = 20, NB = 28, NP = 320, NP1 = 128 };

struct fixture {
	int hd;
	uint32_t kt, vt;
	uint8_t *pool;
	uint64_t bsize;
	int32_t table[2 * MB];
	float *q, *k, *v;		/* [NP][H|KVH][hd] per sequence, seq 1 after seq 0 */
};

static void fixture_init(struct fixture *f, int hd, uint32_t kt, uint32_t vt, uint64_t seed)
{
	const size_t rk = kn_row_size(kt, (int64_t)KVH * hd), rv = kn_row_size(vt, (int64_t)KVH * hd);
	const int n = NP + NP1;

	f->hd = hd;
	f->kt = kt;
	f->vt = vt;
	f->bsize = (uint64_t)BT * (rk + rv);
	f->pool = calloc(NB, f->bsize);
	f->q = malloc(sizeof(float) * n * H * hd);
	f->k = malloc(sizeof(float) * n * KVH * hd);
	f->v = malloc(sizeof(float) * n * KVH * hd);
	/* blocks shuffled over the pool; seq 1's row of the table padded with -1 */
	for (int b = 0; b < 2 * MB; b++)
		f->table[b] = -1;
	for (int b = 0; b < NB; b++)
		f->table[b] = (b * 11 + 5) % NB;	/* 11 is prime to 28 */
	kt_seed(seed);
	kt_fill(f->q, (int64_t)n * H * hd, 1.5f);
	kt_fill(f->k, (int64_t)n * KVH * hd, 1.0f);
	kt_fill(f->v, (int64_t)n * KVH * hd, 1.0f);
}

static void fixture_fini(struct fixture *f)
{
	free(f->pool);
	free(f->q);
	free(f->k);
	free(f->v);
}

static struct kn_attn_args fixture_args(const struct fixture *f, float *out, const int32_t *pos,
					const int32_t *seq, int n, int split)
{
	struct kn_attn_args a = {
		.out = out, .q = f->q, .cache = f->pool, .block_size = f->bsize,
		.block_table = f->table, .max_blocks = MB, .pos = pos, .seq = seq, .n = n,
		.n_head = H, .n_kv_head = KVH, .hd = f->hd, .layer = 0, .n_layer = 1,
		.block_tokens = BT, .k_type = f->kt, .v_type = f->vt, .scale = 0.125f,
		.flash = true, .split = split,
	};

	return a;
}

/* both sequences' K and V into the cache */
static void fixture_store(struct fixture *f)
{
	static int32_t pos[NP + NP1], seq[NP + NP1];
	struct kn_attn_args a;

	for (int t = 0; t < NP + NP1; t++) {
		seq[t] = t >= NP;
		pos[t] = t >= NP ? t - NP : t;
	}
	a = fixture_args(f, NULL, pos, seq, NP + NP1, 0);
	a.k = f->k;
	a.v = f->v;
	kn_attn_store_kv(&a, 0, 1);
}

/* the query row of (seq s, position p) */
static const float *q_row(const struct fixture *f, int s, int p)
{
	return f->q + ((size_t)(s ? NP + p : p) * H) * f->hd;
}

/*
 * out[n][H][hd] of the n queries (seq[i], pos[i]) with @nth simulated
 * threads; @row_inv: ACCEL_ATTN_ROW_INVARIANT
 */
static void attn(const struct fixture *f, float *out, const int32_t *seq, const int32_t *pos,
		 int n, int split, int nth, bool row_inv, const int32_t *chunk)
{
	float *q = malloc(sizeof(float) * n * H * f->hd);
	struct kn_attn_args a = fixture_args(f, out, pos, seq, n, split);
	float *work;

	for (int i = 0; i < n; i++)
		memcpy(q + (size_t)i * H * f->hd, q_row(f, seq[i], pos[i]),
		       sizeof(float) * H * f->hd);
	a.q = q;
	a.row_invariant = row_inv;
	a.chunk = chunk;
	work = malloc(kn_attn_work_floats(&a) * sizeof(float) * nth);
	a.work = work;
	for (int ith = nth - 1; ith >= 0; ith--)
		kn_attn(&a, ith, nth);
	free(work);
	free(q);
}

static float h16(float x)
{
	uint16_t b;
	float y;

	kn_quantize_row(KN_F16, &x, &b, 1);
	kn_dequantize_row(KN_F16, &b, &y, 1);
	return y;
}

/*
 * llama.cpp's generic build, written out: ggml_compute_forward_flash_attn_ext_f16
 * for one query of sequence 0 at position p, head h: q rounded to F16, each
 * score a double sum of F32 products, V summed in F16 (multiply, add, round),
 * per chunk of cs cells of the n_kv view (cs 0: one pass, normalised
 * directly); chunks combined by ggml_flash_attn_ext_reduce_partials
 */
static void ref_generic(const struct fixture *f, float *out, int p, int h, int split)
{
	const int hd = f->hd, kvh = h / (H / KVH), npos = p + 1;
	const int nkv = ((p + 256) / 256 * 256) < 256 ? 256 : (p + 256) / 256 * 256;
	const int cs = split && nkv >= 512 ? (nkv + split - 1) / split : 0;
	float qh[512], vkq[512], acc[512], Sf = 0.0f, Mf = -INFINITY;

	for (int i = 0; i < hd; i++) {
		qh[i] = h16(q_row(f, 0, p)[h * hd + i]);
		acc[i] = 0.0f;
	}
	for (int c0 = 0; c0 < (cs ? nkv : 1); c0 += cs ? cs : 1) {
		const int j0 = cs ? c0 : 0, j1 = cs ? (c0 + cs < npos ? c0 + cs : npos) : npos;
		float S = 0.0f, M = -INFINITY, so, sn, Mn;

		if (j0 >= j1)
			continue;
		for (int i = 0; i < hd; i++)
			vkq[i] = 0.0f;
		for (int j = j0; j < j1; j++) {
			const float *kr = f->k + ((size_t)j * KVH + kvh) * hd;
			const float *vr = f->v + ((size_t)j * KVH + kvh) * hd;
			double d = 0;
			float s, ms = 1.0f, vs = 1.0f;

			for (int i = 0; i < hd; i++)
				d += (double)(h16(kr[i]) * qh[i]);
			s = (float)d * 0.125f;
			if (s > M) {
				const float Mold = M;

				M = s;
				ms = expf(Mold - M);
				for (int i = 0; i < hd; i++)
					vkq[i] = h16(vkq[i] * ms);
			} else {
				vs = expf(s - M);
			}
			for (int i = 0; i < hd; i++)
				vkq[i] = h16(vkq[i] + h16(vr[i]) * vs);
			S = S * ms + vs;
		}
		if (!cs) {
			const float inv = S == 0.0f ? 0.0f : 1.0f / S;

			for (int i = 0; i < hd; i++)
				out[i] = vkq[i] * inv;
			return;
		}
		Mn = fmaxf(Mf, M);
		so = expf(Mf - Mn);
		sn = expf(M - Mn);
		for (int i = 0; i < hd; i++)
			acc[i] = acc[i] * so + vkq[i] * sn;
		Sf = Sf * so + S * sn;
		Mf = Mn;
	}
	for (int i = 0; i < hd; i++)
		out[i] = Sf != 0.0f ? acc[i] * (1.0f / Sf) : acc[i];
}

static bool same(const float *a, const float *b, size_t n)
{
	return !memcmp(a, b, n * sizeof(float));
}

/* how many of n floats differ in their bits */
static int ndiff(const float *a, const float *b, size_t n)
{
	int d = 0;

	for (size_t i = 0; i < n; i++)
		d += memcmp(a + i, b + i, sizeof(float)) != 0;
	return d;
}

/* the scalar path against ref_generic, F16 K and V (F32 ones read as F16) */
static void test_scalar(uint32_t kt, uint32_t vt, int hd)
{
	static const int ps[] = { 255, 256, 300, 319 };
	struct fixture f;
	const size_t row = (size_t)H * hd;
	float *o = malloc(sizeof(float) * 2 * row), *r = malloc(sizeof(float) * row);
	float *o0 = malloc(sizeof(float) * row);
	int bad_ref = 0, bad_thr = 0, differ = 0, bad_one = 0;

	fixture_init(&f, hd, kt, vt, 7 + hd + kt * 3 + vt);
	fixture_store(&f);
	kn_isa_set(KN_ISA_SCALAR);
	for (int pi = 0; pi < 4; pi++) {
		const int32_t pos = ps[pi], seq = 0;

		for (int split = 0; split <= 3; split++) {
			for (int h = 0; h < H; h++)
				ref_generic(&f, r + (size_t)h * hd, pos, h, split);
			attn(&f, o, &seq, &pos, 1, split, 1, false, NULL);
			bad_ref += !same(o, r, row);
			/* our thread count never changes the bits */
			for (int nth = 2; nth <= 3; nth++) {
				attn(&f, o0, &seq, &pos, 1, split, nth, false, NULL);
				bad_thr += !same(o0, o, row);
			}
			if (split == 0)
				memcpy(o0, o, sizeof(float) * row);
		}
		/* teeth: at 300 two chunks of 256 cells differ from one pass */
		attn(&f, o, &seq, &pos, 1, 2, 1, false, NULL);
		attn(&f, o0, &seq, &pos, 1, 0, 1, false, NULL);
		if (pos >= 256)
			differ += ndiff(o, o0, row);
		else
			bad_one += !same(o, o0, row);
	}
	ok(!bad_ref, "scalar K %s V %s hd %d: split 0..3 at positions 255..319 == the scalar "
	   "statement of llama.cpp's split order (%d rows differ)", kn_type_name(kt),
	   kn_type_name(vt), hd, bad_ref);
	ok(!bad_thr, "scalar K %s V %s hd %d: 2 and 3 threads give 1 thread's bits (%d differ)",
	   kn_type_name(kt), kn_type_name(vt), hd, bad_thr);
	ok(differ > 0, "scalar K %s V %s hd %d: split 2 differs from one pass past 256 cells "
	   "(%d values)", kn_type_name(kt), kn_type_name(vt), hd, differ);
	ok(!bad_one, "scalar K %s V %s hd %d: position 255 (a view of 256 cells) is not split",
	   kn_type_name(kt), kn_type_name(vt), hd);
	kn_isa_set(kn_isa_best());
	free(o);
	free(r);
	free(o0);
	fixture_fini(&f);
}

/*
 * Which rows split, on the best ISA: a decode row beside another sequence's
 * (a count of 1 each) as alone; two rows of one sequence (a count of 2, or a
 * t7 count of 2) not; ACCEL_ATTN_ROW_INVARIANT rows as alone; a Q8_0 K not
 */
static void test_rows(void)
{
	struct fixture f, f8;
	const size_t row = (size_t)H * 64;
	float *o = malloc(sizeof(float) * 2 * row), *a1 = malloc(sizeof(float) * row);
	float *a0 = malloc(sizeof(float) * row), *b1 = malloc(sizeof(float) * 2 * row);
	const int32_t s2[2] = { 0, 1 }, p2[2] = { 300, 100 }, sa[2] = { 0, 0 };
	const int32_t pa[2] = { 299, 300 }, c2[2] = { 2, 2 }, c1[2] = { 1, 1 };
	const int32_t p300 = 300, s0 = 0, p100 = 100, s1 = 1;

	fixture_init(&f, 64, KN_F16, KN_F16, 99);
	fixture_store(&f);
	attn(&f, a1, &s0, &p300, 1, 2, 1, false, NULL);
	attn(&f, a0, &s0, &p300, 1, 0, 1, false, NULL);
	attn(&f, b1, &s1, &p100, 1, 2, 1, false, NULL);
	attn(&f, o, s2, p2, 2, 2, 3, false, NULL);
	ok(same(o, a1, row) && same(o + row, b1, row) && !same(a1, a0, row),
	   "a decode batch of two sequences: each row as decoded alone with the split");
	attn(&f, o, sa, pa, 2, 2, 2, false, NULL);
	attn(&f, b1, sa, pa, 2, 0, 2, false, NULL);
	ok(same(o, b1, 2 * row), "two queries of one sequence (count 2): not split");
	attn(&f, o, sa, pa, 2, 2, 2, false, c2);
	ok(same(o, b1, 2 * row), "t7 counts of 2: not split");
	attn(&f, o, sa, pa, 2, 2, 2, false, c1);
	ok(same(o + row, a1, row), "t7 counts of 1: each row split as alone");
	attn(&f, o, sa, pa, 2, 2, 2, true, NULL);
	ok(same(o + row, a1, row), "row-invariant rows: split as alone");
	fixture_init(&f8, 64, KN_Q8_0, KN_F16, 5);
	fixture_store(&f8);
	attn(&f8, a1, &s0, &p300, 1, 2, 1, false, NULL);
	attn(&f8, a0, &s0, &p300, 1, 0, 1, false, NULL);
	ok(same(a1, a0, row), "Q8_0 K: not split (llama.cpp splits F16/F32 K and V only)");
	fixture_fini(&f8);
	fixture_fini(&f);
	free(o);
	free(a1);
	free(a0);
	free(b1);
}
#define ROWS_TESTS 6

/* each SIMD ISA's split: its scalar twins' bits, and not the one pass's */
static void test_isa(enum kn_isa isa, const char *name, int hd)
{
	struct fixture f;
	const size_t row = (size_t)H * hd;
	float *o = malloc(sizeof(float) * row), *t = malloc(sizeof(float) * row);
	float *o0 = malloc(sizeof(float) * row);
	int bad = 0, differ = 0, bad_thr = 0;

	if (kn_isa_set(isa)) {
		skip(3, "no %s on this cpu", name);
		goto out;
	}
	fixture_init(&f, hd, KN_F16, KN_F16, 3 + hd);
	fixture_store(&f);
	for (int32_t pos = 256, seq = 0; pos < NP; pos += 21) {
		for (int split = 1; split <= 4; split++) {
			attn(&f, o, &seq, &pos, 1, split, 1, false, NULL);
			kn_isa_scalar_twins(true);
			attn(&f, t, &seq, &pos, 1, split, 1, false, NULL);
			kn_isa_scalar_twins(false);
			bad += !same(o, t, row);
			attn(&f, t, &seq, &pos, 1, split, 3, false, NULL);
			bad_thr += !same(o, t, row);
		}
		attn(&f, o, &seq, &pos, 1, 2, 1, false, NULL);
		attn(&f, o0, &seq, &pos, 1, 0, 1, false, NULL);
		differ += ndiff(o, o0, row);
	}
	ok(!bad, "%s hd %d: split 1..4 at positions 256..319 == scalar twins bit for bit (%d rows "
	   "differ)", name, hd, bad);
	ok(!bad_thr, "%s hd %d: 3 threads give 1 thread's bits (%d differ)", name, hd, bad_thr);
	ok(differ > 0, "%s hd %d: split 2 differs from one pass (%d values)", name, hd, differ);
	fixture_fini(&f);
out:
	kn_isa_set(kn_isa_best());
	free(o);
	free(t);
	free(o0);
}

int main(void)
{
	plan(3 * 4 + ROWS_TESTS + 2 * 2 * 3);
	test_scalar(KN_F16, KN_F16, 64);
	test_scalar(KN_F16, KN_F16, 80);
	test_scalar(KN_F32, KN_F16, 64);
	test_rows();
	/* hd 80: a 64-lane step and leftovers; 128: AVX-512's half-precision V */
	test_isa(KN_ISA_AVX2, "avx2", 80);
	test_isa(KN_ISA_AVX2, "avx2", 128);
	test_isa(KN_ISA_AVX512, "avx512", 80);
	test_isa(KN_ISA_AVX512, "avx512", 128);
	return done_testing();
}
