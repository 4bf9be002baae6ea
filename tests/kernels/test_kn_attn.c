// SPDX-License-Identifier: MIT
/*
 * Paged attention against materialised-softmax attention in double: several
 * sequences of different lengths in a pool with a shuffled block table, GQA
 * (4 query heads per KV head), another layer's slots left untouched, F32,
 * F16 and Q8_0 caches (K and V apart), softmax-then-matmul and flash
 * arithmetics; a causal prefill per sequence, then one batched decode step.
 */
#include <stdio.h>
#include <string.h>
#include "tap.h"
#include "kn_test.h"
#include "kn_ops.h"

enum { NSEQ = 3, NH = 8, NKV = 2, HD = 64, BT = 16, NL = 2, LAYER = 1, MAXB = 8 };

static const int seq_len[NSEQ] = { 5, 37, 70 };

/* the K/V each token stores: a pure function of (seq, pos, kv, head, i) */
static float kv_val(int s, int p, int kv, int h, int i)
{
	uint64_t x = ((uint64_t)s * 1000003u + (uint64_t)p * 7919u + (uint64_t)kv * 104729u +
		      (uint64_t)h * 131u + (uint64_t)i) * 0x9E3779B97F4A7C15ull;

	return (float)((double)(x >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

static float q_val(int s, int p, int h, int i)
{
	return kv_val(s + 17, p + 3, 0, h, i) * 2.0f;
}

/* the head row (s, p, kv, h) as the cache holds it: through @type and back */
static void kv_row(float *r, uint32_t type, int s, int p, int kv, int h)
{
	uint8_t buf[HD * 4];

	for (int i = 0; i < HD; i++)
		r[i] = kv_val(s, p, kv, h, i);
	if (type != KN_F32) {
		kn_quantize_row(type, r, buf, HD);
		kn_dequantize_row(type, buf, r, HD);
	}
}

/* out of double attention of query (s, p, h) over positions 0..p */
static void ref_attn(double *out, int s, int p, int h, uint32_t kt, uint32_t vt, float scale)
{
	const int kvh = h / (NH / NKV);
	double sc[128], mx = -1e300, sum = 0;
	float r[HD];

	for (int j = 0; j <= p; j++) {
		double d = 0;

		kv_row(r, kt, s, j, 0, kvh);
		for (int i = 0; i < HD; i++)
			d += (double)q_val(s, p, h, i) * r[i];
		sc[j] = d * scale;
		mx = fmax(mx, sc[j]);
	}
	for (int j = 0; j <= p; j++)
		sum += sc[j] = exp(sc[j] - mx);
	for (int i = 0; i < HD; i++)
		out[i] = 0;
	for (int j = 0; j <= p; j++) {
		kv_row(r, vt, s, j, 1, kvh);
		for (int i = 0; i < HD; i++)
			out[i] += sc[j] / sum * r[i];
	}
}

/* run store_kv + attn for n tokens (seq[i], pos[i]) with nth simulated threads */
static double run_step(struct kn_attn_args *a, int n, const int32_t *seq, const int32_t *pos,
		       int nth)
{
	float *q = malloc((size_t)n * NH * HD * sizeof(float));
	float *k = malloc((size_t)n * NKV * HD * sizeof(float));
	float *v = malloc((size_t)n * NKV * HD * sizeof(float));
	float *out = malloc((size_t)n * NH * HD * sizeof(float));
	double worst = 0, ref[HD];

	for (int t = 0; t < n; t++) {
		for (int h = 0; h < NH; h++)
			for (int i = 0; i < HD; i++)
				q[(t * NH + h) * HD + i] = q_val(seq[t], pos[t], h, i);
		for (int h = 0; h < NKV; h++)
			for (int i = 0; i < HD; i++) {
				k[(t * NKV + h) * HD + i] = kv_val(seq[t], pos[t], 0, h, i);
				v[(t * NKV + h) * HD + i] = kv_val(seq[t], pos[t], 1, h, i);
			}
	}
	a->q = q;
	a->k = k;
	a->v = v;
	a->out = out;
	a->n = n;
	a->seq = seq;
	a->pos = pos;
	for (int ith = 0; ith < nth; ith++)
		kn_attn_store_kv(a, ith, nth);
	for (int ith = nth - 1; ith >= 0; ith--)
		kn_attn(a, ith, nth);
	for (int t = 0; t < n; t++) {
		for (int h = 0; h < NH; h++) {
			ref_attn(ref, seq[t], pos[t], h, a->k_type, a->v_type, a->scale);
			for (int i = 0; i < HD; i++) {
				double e = fabs(out[(t * NH + h) * HD + i] - ref[i]);

				if (e > worst || e != e)
					worst = e != e ? INFINITY : e;
			}
		}
	}
	free(q);
	free(k);
	free(v);
	free(out);
	return worst;
}

static void test_cache(uint32_t kt, uint32_t vt, bool exact, bool flash)
{
	const uint64_t bsize = (uint64_t)NL * BT * (kn_row_size(kt, NKV * HD) +
						    kn_row_size(vt, NKV * HD));
	char name[64];
	const int nblocks = NSEQ * MAXB;
	uint8_t *pool = malloc(bsize * nblocks);
	int32_t table[NSEQ * MAXB], perm[NSEQ * MAXB];
	struct kn_attn_args a;
	double worst = 0;
	bool other_layer_intact = true;

	/* a shuffled block table: sequences own scattered blocks */
	for (int i = 0; i < nblocks; i++)
		perm[i] = i;
	kt_seed(kt * 3 + vt + 77);
	snprintf(name, sizeof(name), "K %s V %s%s", kn_type_name(kt), kn_type_name(vt),
		 flash ? " flash" : "");
	for (int i = nblocks - 1; i > 0; i--) {
		int j = (int)(kt_u64() % (uint64_t)(i + 1)), tmp = perm[i];

		perm[i] = perm[j];
		perm[j] = tmp;
	}
	memcpy(table, perm, sizeof(table));
	memset(pool, 0x7f, bsize * nblocks);	/* layer 0 garbage: must stay unread/untouched */

	memset(&a, 0, sizeof(a));
	a.cache = pool;
	a.block_size = bsize;
	a.block_table = table;
	a.max_blocks = MAXB;
	a.n_head = NH;
	a.n_kv_head = NKV;
	a.hd = HD;
	a.layer = LAYER;
	a.n_layer = NL;
	a.block_tokens = BT;
	a.k_type = kt;
	a.v_type = vt;
	a.flash = flash;
	a.scale = 1.0f / sqrtf(HD);
	/*
	 * exact mode: llama.cpp's two-pass softmax and lane orders, 5 threads'
	 * work. With an F16 cache llama.cpp also rounds q and the probabilities
	 * to fp16 (its dot type), so it is only fp16-accurate; flash attention
	 * reads F32 as F16 and sums V in F16; a Q8_0 K quantizes q to Q8_0.
	 */
	const double tol = kt == KN_Q8_0 || vt == KN_Q8_0 ? 3e-2 : exact && flash ? 5e-3 :
			   exact && (kt == KN_F16 || vt == KN_F16) ? 2e-3 : 2e-5;

	a.work = exact ? malloc(5 * kn_attn_work_floats(&a) * sizeof(float)) : NULL;

	/* prefill each sequence: its tokens in one call */
	for (int s = 0; s < NSEQ; s++) {
		int32_t seq[128], pos[128];

		for (int p = 0; p < seq_len[s]; p++) {
			seq[p] = s;
			pos[p] = p;
		}
		worst = fmax(worst, run_step(&a, seq_len[s], seq, pos, 3));
	}
	ok(worst < tol, "%s%s: causal prefill of %d sequences (max err %.2g)",
	   name, exact ? ", exact" : "", NSEQ, worst);

	/* batched decode: one new token per sequence */
	int32_t dseq[NSEQ], dpos[NSEQ];

	for (int s = 0; s < NSEQ; s++) {
		dseq[s] = s;
		dpos[s] = seq_len[s];
	}
	worst = run_step(&a, NSEQ, dseq, dpos, 5);
	ok(worst < tol, "%s%s: batched decode, GQA %d:%d (max err %.2g)", name,
	   exact ? ", exact" : "", NH, NKV, worst);

	/* one decode token alone (the 64-lane order) */
	worst = run_step(&a, 1, dseq + 2, dpos + 2, 2);
	ok(worst < tol, "%s%s: single-token decode (max err %.2g)", name,
	   exact ? ", exact" : "", worst);

	for (int b = 0; b < nblocks; b++)
		for (uint64_t i = 0; i < bsize / 2; i++)	/* layer 0 = first half */
			if (pool[b * bsize + i] != 0x7f)
				other_layer_intact = false;
	ok(other_layer_intact, "%s: other layer's slots untouched", name);
	free(a.work);
	free(pool);
}

/* exact mode: per ISA, the SIMD code and its scalar twins give the same bits */
static void test_exact_isa(void)
{
	enum { N = 9, H = 4, KVH = 2, D = 80, T = 16, L = 1, MB = 2 };
	const uint64_t bsize = (uint64_t)L * 2 * T * KVH * D * 4;
	float *pool = malloc(bsize * MB), *q = malloc(N * H * D * 4), *k = malloc(N * KVH * D * 4);
	float *v = malloc(N * KVH * D * 4), *o1 = malloc(N * H * D * 4), *o2 = malloc(N * H * D * 4);
	int32_t table[MB] = { 1, 0 }, pos[N], seq[N] = { 0 };
	struct kn_attn_args a = {
		.q = q, .k = k, .v = v, .cache = (uint8_t *)pool, .block_size = bsize,
		.block_table = table, .max_blocks = MB, .pos = pos, .seq = seq, .n = N,
		.n_head = H, .n_kv_head = KVH, .hd = D, .layer = 0, .n_layer = L,
		.block_tokens = T, .k_type = KN_F32, .v_type = KN_F32, .scale = 0.11f,
	};

	if (!kt_have_avx2()) {
		skip(12, "no AVX2 on this cpu");
		return;
	}
	a.work = malloc(kn_attn_work_floats(&a) * sizeof(float));
	kt_seed(99);
	kt_fill(q, N * H * D, 3.0f);
	kt_fill(k, N * KVH * D, 1.0f);
	kt_fill(v, N * KVH * D, 1.0f);
	for (int i = 0; i < N; i++)
		pos[i] = 13 + i;	/* crosses a block and a 16-lane chunk */
	memset(pool, 0, bsize * MB);
	kn_attn_store_kv(&a, 0, 1);
	/* each ISA's arithmetic (llama.cpp's AVX2 or AVX-512 build): its SIMD code
	 * and its scalar twins, for decode (n 1: vec_dot lanes) and prefill */
	for (int isa = KN_ISA_AVX2; isa <= KN_ISA_AVX512; isa++) {
		const char *name = isa == KN_ISA_AVX2 ? "avx2" : "avx512";

		if (kn_isa_set((enum kn_isa)isa) < 0) {
			skip(6, "no %s on this cpu", name);
			continue;
		}
		/* flash: the F32 cache read as F16, hd 80 = a 64-lane step and leftovers */
		for (int fl = 0; fl < 2; fl++) {
			a.flash = fl;
			for (int n = 1; n <= N; n += N - 1) {
				a.n = n;
				kn_isa_scalar_twins(true);
				a.out = o1;
				kn_attn(&a, 0, 1);
				kn_isa_scalar_twins(false);
				a.out = o2;
				kn_attn(&a, 0, 1);
				ok(!memcmp(o1, o2, (size_t)n * H * D * 4),
				   "exact %sattention [%s, %d tokens]: SIMD == scalar twins bit for "
				   "bit (hd %d)", fl ? "flash " : "", name, n, D);
			}
		}
		a.flash = false;
		/* row_invariant (speculative verification): every row of a batch
		 * exactly as that token alone, SIMD and scalar twins alike */
		for (int twins = 0; twins < 2; twins++) {
			bool same = true;

			kn_isa_scalar_twins(twins);
			a.n = N;
			a.row_invariant = true;
			a.out = o1;
			kn_attn(&a, 0, 1);
			a.row_invariant = false;
			for (int t = 0; t < N; t++) {
				struct kn_attn_args one = a;

				one.n = 1;
				one.q = q + (size_t)t * H * D;
				one.pos = pos + t;
				one.seq = seq + t;
				one.out = o2;
				kn_attn(&one, 0, 1);
				same &= !memcmp(o1 + (size_t)t * H * D, o2, (size_t)H * D * 4);
			}
			ok(same, "exact attention [%s%s, %d tokens, row_invariant]: each row bit-identical "
			   "to its token alone", name, twins ? " scalar twins" : "", N);
		}
		kn_isa_scalar_twins(false);
	}
	a.n = N;
	kn_isa_set(kn_isa_best());
	free(a.work);
	free(pool);
	free(q);
	free(k);
	free(v);
	free(o1);
	free(o2);
}

/*
 * The same with F16 K and V over a 66-token prefill: flash attention takes
 * llama.cpp's tiled kernel (>= 64 tokens: FMA chains across 8 rows a lane),
 * the softmax-then-matmul path tinyBLAS's F16 score lanes (>= 2 tokens)
 */
static void test_exact_isa_f16(void)
{
	enum { N = 66, H = 4, KVH = 2, D = 64, T = 16, MB = 5 };
	const uint64_t bsize = (uint64_t)T * 2 * KVH * D * 2;
	uint8_t *pool = calloc(MB, bsize);
	float *q = malloc(N * H * D * 4), *k = malloc(N * KVH * D * 4), *v = malloc(N * KVH * D * 4);
	float *o1 = malloc(N * H * D * 4), *o2 = malloc(N * H * D * 4);
	int32_t table[MB] = { 3, 0, 4, 1, 2 }, pos[N], seq[N] = { 0 };
	struct kn_attn_args a = {
		.q = q, .k = k, .v = v, .cache = pool, .block_size = bsize, .block_table = table,
		.max_blocks = MB, .pos = pos, .seq = seq, .n = N, .n_head = H, .n_kv_head = KVH,
		.hd = D, .layer = 0, .n_layer = 1, .block_tokens = T, .k_type = KN_F16,
		.v_type = KN_F16, .scale = 0.125f,
	};

	if (!kt_have_avx2()) {
		skip(4, "no AVX2 on this cpu");
		return;
	}
	a.work = malloc(kn_attn_work_floats(&a) * sizeof(float));
	kt_seed(7);
	kt_fill(q, N * H * D, 3.0f);
	kt_fill(k, N * KVH * D, 1.0f);
	kt_fill(v, N * KVH * D, 1.0f);
	for (int i = 0; i < N; i++)
		pos[i] = i;
	kn_attn_store_kv(&a, 0, 1);
	for (int isa = KN_ISA_AVX2; isa <= KN_ISA_AVX512; isa++) {
		const char *name = isa == KN_ISA_AVX2 ? "avx2" : "avx512";

		if (kn_isa_set((enum kn_isa)isa) < 0) {
			skip(2, "no %s on this cpu", name);
			continue;
		}
		for (int fl = 0; fl < 2; fl++) {
			a.flash = fl;
			kn_isa_scalar_twins(true);
			a.out = o1;
			kn_attn(&a, 0, 1);
			kn_isa_scalar_twins(false);
			a.out = o2;
			kn_attn(&a, 0, 1);
			ok(!memcmp(o1, o2, (size_t)N * H * D * 4),
			   "exact %s [%s, %d tokens, F16 K and V]: SIMD == scalar twins bit for bit",
			   fl ? "tiled flash attention" : "attention (tinyBLAS scores)", name, N);
		}
	}
	kn_isa_set(kn_isa_best());
	free(a.work);
	free(pool);
	free(q);
	free(k);
	free(v);
	free(o1);
	free(o2);
}

/*
 * Decode with F16 K and V at head sizes 128 and 256: on AVX-512 llama.cpp's
 * AVX512-FP16 build accumulates V in half precision over hd rounded down to
 * 128 (kn_attn_avx512.c's loops against their scalar twins), over 70 cache
 * positions, V of magnitude 1 and 300 (sums near F16's coarse steps)
 */
static void test_exact_flash_hp(void)
{
	enum { H = 2, KVH = 1, T = 16, MB = 5, NP = 70 };

	for (int D = 128; D <= 256; D *= 2) {
		for (int big = 0; big < 2; big++) {
			const uint64_t bsize = (uint64_t)T * 2 * KVH * D * 2;
			uint8_t *pool = calloc(MB, bsize);
			float *q = malloc(NP * H * D * 4), *k = malloc(NP * KVH * D * 4);
			float *v = malloc(NP * KVH * D * 4), *o1 = malloc(H * D * 4);
			float *o2 = malloc(H * D * 4);
			int32_t table[MB] = { 2, 4, 0, 3, 1 }, pos[NP], seq[NP] = { 0 };
			struct kn_attn_args a = {
				.q = q, .k = k, .v = v, .cache = pool, .block_size = bsize,
				.block_table = table, .max_blocks = MB, .pos = pos, .seq = seq,
				.n = NP, .n_head = H, .n_kv_head = KVH, .hd = D, .layer = 0,
				.n_layer = 1, .block_tokens = T, .k_type = KN_F16,
				.v_type = KN_F16, .scale = 0.09f, .flash = true,
			};
			bool same = false;

			a.work = malloc(kn_attn_work_floats(&a) * sizeof(float));
			kt_seed(31 + D + big);
			kt_fill(q, NP * H * D, 2.0f);
			kt_fill(k, NP * KVH * D, 1.0f);
			kt_fill(v, NP * KVH * D, big ? 300.0f : 1.0f);
			for (int i = 0; i < NP; i++)
				pos[i] = i;
			kn_attn_store_kv(&a, 0, 1);
			if (kn_isa_set(KN_ISA_AVX512) == 0) {
				/* the last token alone: a decode step over NP positions */
				a.n = 1;
				a.q = q + (size_t)(NP - 1) * H * D;
				a.pos = pos + NP - 1;
				kn_isa_scalar_twins(true);
				a.out = o1;
				kn_attn(&a, 0, 1);
				kn_isa_scalar_twins(false);
				a.out = o2;
				kn_attn(&a, 0, 1);
				same = !memcmp(o1, o2, (size_t)H * D * 4);
			}
			if (kn_isa_get() != KN_ISA_AVX512)
				skip(1, "no avx512 on this cpu");
			else
				ok(same, "exact flash decode [avx512, hd %d, |v| <= %g, %d positions, F16 K "
				   "and V]: half-precision V loops == scalar twins bit for bit", D,
				   big ? 300.0 : 1.0, NP);
			kn_isa_set(kn_isa_best());
			free(a.work);
			free(pool);
			free(q);
			free(k);
			free(v);
			free(o1);
			free(o2);
		}
	}
}

int main(void)
{
	/* 12 caches x 4 per ISA path (scalar, AVX2), 2 ISAs x 4 + 2 x 2 twins */
	plan(2 * 48 + 12 + 4 + 4);
	/* each ISA's inner loops against the same double reference */
	for (int isa = KN_ISA_SCALAR; isa <= KN_ISA_AVX2; isa++) {
		if (kn_isa_set((enum kn_isa)isa)) {
			skip(48, "no AVX2 on this cpu");
			continue;
		}
		diag("isa %s", isa == KN_ISA_AVX2 ? "avx2" : "scalar");
		test_cache(KN_F32, KN_F32, false, false);
		test_cache(KN_F16, KN_F16, false, false);
		test_cache(KN_Q8_0, KN_F16, false, false);
		test_cache(KN_F32, KN_F32, true, false);
		test_cache(KN_F16, KN_F16, true, false);
		test_cache(KN_Q8_0, KN_F32, true, false);
		test_cache(KN_F16, KN_F32, true, false);
		test_cache(KN_F32, KN_F32, true, true);
		test_cache(KN_F16, KN_F16, true, true);
		test_cache(KN_Q8_0, KN_Q8_0, true, true);
		test_cache(KN_F16, KN_Q8_0, true, true);
		test_cache(KN_Q8_0, KN_F16, true, true);
	}
	test_exact_isa();
	test_exact_isa_f16();
	test_exact_flash_hp();
	kn_isa_set(kn_isa_best());
	return done_testing();
}
