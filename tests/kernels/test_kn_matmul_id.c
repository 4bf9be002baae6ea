// SPDX-License-Identifier: MIT
/*
 * kn_matmul_id_range (one expert of a MoE matmul in llama.cpp's MUL_MAT_ID
 * order) against the scalar references, bit for bit, on every ISA this CPU
 * has: an expert's routed columns scattered over the batch's (token, slot)
 * rows, the activation per token (gate, up) or per row (down), rows in
 * uneven shares. What each output must be, from llama.cpp's rules:
 * on AVX2/AVX-512, Q4_K of rows a multiple of 8 its repacked gemv's order
 * (kn_ref_dot_q4_K_x8) at any count; Q6_K, Q5_K and the other Q4_K the tiled
 * order (kn_ref_tiled_*) at 8 or more routed columns, vec_dot's
 * (kn_ref_dot_*) under 8; the scalar path vec_dot's everywhere; other
 * types vec_dot's (Q4_0 of 8k rows its repacked gemv's) at any count.
 * With the columns' sequences, each sequence's columns are counted apart:
 * every column gets exactly what a call with its sequence's columns alone
 * gives, on every ISA; row-invariant, what a call with the column alone gives.
 */
#include <stdio.h>
#include <string.h>
#include "tap.h"
#include "kn_test.h"
#include "kn_ops.h"
#include "../../kernels/cpu/kn_internal.h"	/* the scalar references */

#define N_CASES 20	/* per x86 ISA */

/* vec_dot's order: the K-quants' scalar references; the other types (whose
 * MUL_MAT_ID is vec_dot per output, or the repacked Q4_0 gemv's) kn_vec_dot_mat */
static float ref_vec_dot(uint32_t t, int64_t n, const void *w, const void *a, int64_t rows)
{
	switch (t) {
	case KN_Q6_K:
		return kn_ref_dot_q6_K(n, w, a);
	case KN_Q5_K:
		return kn_ref_dot_q5_K(n, w, a);
	case KN_Q4_K:
		return kn_ref_dot_q4_K(n, w, a);
	case KN_Q8_0:
		return kn_ref_dot_q8_0(n, w, a);
	default:
		return kn_vec_dot_mat(t, n, w, a, rows);
	}
}

static float ref_tiled(uint32_t t, int64_t n, const void *w, const void *a)
{
	return t == KN_Q6_K ? kn_ref_tiled_q6_K(n, w, a)
			    : t == KN_Q5_K ? kn_ref_tiled_q5_K(n, w, a) : kn_ref_tiled_q4_K(n, w, a);
}

/* seeded random weights @x quantized to @t into @w (n_out rows), and
 * activations @y quantized to its dot type into @a (n_act rows) */
static void fill(uint32_t t, int64_t n_in, int64_t n_out, int64_t n_act, uint32_t seed, float *x,
		 float *y, uint8_t *w, uint8_t *a)
{
	const uint32_t at = kn_vec_dot_type(t);
	const size_t wrs = kn_row_size(t, n_in), ars = kn_row_size(at, n_in);

	kt_seed(seed);
	kt_fill(x, n_out * n_in, 1.0f);
	kt_fill(y, n_act * n_in, 1.0f);
	for (int64_t r = 0; r < n_out; r++)
		kn_quantize_row_isa(KN_ISA_SCALAR, t, x + r * n_in, w + r * wrs, n_in);
	for (int64_t c = 0; c < n_act; c++)
		kn_quantize_act_row(at, y + c * n_in, a + c * ars, n_in);
}

/*
 * one expert of @n_out rows of @t (n_in wide) with @n_cols of the n_tok * k
 * (token, slot) columns routed to it; @per_token: the activation is the
 * token's (a_div k), else the column's own; rows in calls of @share (0:
 * uneven shares of 3 to 7, under the GEMMs' 8-row passes); returns how many
 * outputs differ from vec_dot's order (the orders must be told apart by the data)
 */
static int test_expert(uint32_t t, int64_t n_in, int64_t n_out, int64_t n_cols, bool per_token,
		       int64_t share)
{
	const int64_t n_tok = 17, k = 2, nk = n_tok * k, n_act = per_token ? n_tok : nk;
	const uint32_t at = kn_vec_dot_type(t);
	const size_t wrs = kn_row_size(t, n_in), ars = kn_row_size(at, n_in);
	float *x = malloc(n_out * n_in * sizeof(float)), *y = malloc(n_act * n_in * sizeof(float));
	float *out = malloc(nk * n_out * sizeof(float));
	uint8_t *w = malloc(n_out * wrs), *a = malloc(n_act * ars), *routed = calloc(nk, 1);
	int32_t cols[64];
	const bool simd = kn_isa_get() >= KN_ISA_AVX2;
	const bool x8 = simd && t == KN_Q4_K && n_out % 8 == 0;
	const bool kq = t == KN_Q4_K || t == KN_Q5_K || t == KN_Q6_K;
	const bool tiled = simd && kq && !x8 && n_cols >= KN_TILED_MIN_COLS;
	int bad = 0, touched = 0, differ = 0;
	uint32_t nan = 0x7fc00bad;
	char by[24] = "3-7";

	fill(t, n_in, n_out, n_act, 8300 + t + n_out + n_cols + per_token, x, y, w, a);
	/* the expert's columns in routing order, scattered: 7 is prime to nk */
	for (int64_t i = 0; i < n_cols; i++) {
		cols[i] = (int32_t)((5 + 7 * i) % nk);
		routed[cols[i]] = 1;
	}
	for (int64_t i = 0; i < nk * n_out; i++)
		memcpy(&out[i], &nan, sizeof(nan));
	/* row shares, as the executor's threads */
	for (int64_t r0 = 0, r1; r0 < n_out; r0 = r1) {
		const int64_t sh = share ? share : 3 + r0 % 5;

		r1 = r0 + sh < n_out ? r0 + sh : n_out;
		kn_matmul_id_range(out, w, t, n_in, n_out, a, per_token ? k : 1, cols, n_cols, NULL,
				   false, r0, r1);
	}
	for (int64_t col = 0; col < nk; col++) {
		const uint8_t *ac = a + (per_token ? col / k : col) * ars;

		for (int64_t r = 0; r < n_out; r++) {
			const uint8_t *wr = w + r * wrs;
			const float vd = ref_vec_dot(t, n_in, wr, ac, n_out);
			const float want = x8 ? kn_ref_dot_q4_K_x8(n_in, wr, ac)
					      : tiled ? ref_tiled(t, n_in, wr, ac) : vd;

			if (!routed[col]) {
				touched += memcmp(&out[col * n_out + r], &nan, sizeof(nan)) != 0;
				continue;
			}
			bad += memcmp(&want, &out[col * n_out + r], sizeof(float)) != 0;
			differ += memcmp(&want, &vd, sizeof(float)) != 0;
		}
	}
	if (share)
		snprintf(by, sizeof(by), "%lld", (long long)share);
	ok(!bad && !touched, "%s: %s expert of %lld x %lld, %lld routed columns%s, rows by %s: "
	   "every output in %s order (%d differ, %d outputs of other columns written)",
	   simd ? (kn_isa_get() == KN_ISA_AVX512 ? "AVX-512" : "AVX2") : "scalar", kn_type_name(t),
	   (long long)n_out, (long long)n_in, (long long)n_cols,
	   per_token ? ", activation per token" : "", by,
	   x8 ? "the repacked gemv's" : tiled ? "the tiled" : kq ? "vec_dot's" : "kn_vec_dot_mat's",
	   bad, touched);
	free(x);
	free(y);
	free(out);
	free(w);
	free(a);
	free(routed);
	return differ;
}

/* rows [0, n_out) in uneven shares, as the executor's threads */
static void id_rows(float *out, const uint8_t *w, uint32_t t, int64_t n_in, int64_t n_out,
		    const uint8_t *a, int64_t a_div, const int32_t *cols, int64_t n_cols,
		    const int32_t *seq, bool row_invariant)
{
	for (int64_t r0 = 0, r1; r0 < n_out; r0 = r1) {
		r1 = r0 + 3 + r0 % 5 < n_out ? r0 + 3 + r0 % 5 : n_out;
		kn_matmul_id_range(out, w, t, n_in, n_out, a, a_div, cols, n_cols, seq, row_invariant,
				   r0, r1);
	}
}

#define SEQ_TOK 24
#define SEQ_COLS 21

/*
 * per-sequence counts: one expert's 21 columns (a token each, one of its k
 * slots) of four sequences interleaved over the batch, 9, 8, 3 and 1 of
 * them, with each column's sequence (any int32) given: every output
 * bit-identical to a call with its sequence's columns alone (llama.cpp's
 * batch of that sequence); with row_invariant, to a call with its column
 * alone; no other column written. Returns how many outputs of the batch
 * counted as one (no sequences) differ: the sequences must matter on SIMD.
 */
static int test_seq(uint32_t t, int64_t n_in, int64_t n_out, bool per_token)
{
	static const char who[SEQ_COLS + 1] = "AACABAACCCCDCCBACAABA";
	static const int32_t label[4] = { 7, -3, 1000, 0 };	/* A B C D */
	const int64_t k = 2, nk = SEQ_TOK * k, n_act = per_token ? SEQ_TOK : nk;
	const int64_t a_div = per_token ? k : 1;
	const uint32_t at = kn_vec_dot_type(t);
	const size_t wrs = kn_row_size(t, n_in), ars = kn_row_size(at, n_in);
	const size_t ob = nk * n_out * sizeof(float);
	float *x = malloc(n_out * n_in * sizeof(float)), *y = malloc(n_act * n_in * sizeof(float));
	float *all = malloc(ob), *one = malloc(ob), *inv = malloc(ob), *lone = malloc(ob);
	uint8_t *w = malloc(n_out * wrs), *a = malloc(n_act * ars);
	int32_t cols[SEQ_COLS], seq[SEQ_TOK * 2], sub[SEQ_COLS];
	uint32_t nan = 0x7fc00bad;
	int bad = 0, bad_inv = 0, touched = 0, differ = 0;

	fill(t, n_in, n_out, n_act, 8400 + t + n_out + per_token, x, y, w, a);
	/* tokens 0..20 routed (slot t % 2), 21..23 not: sequences of their own */
	for (int64_t i = 0; i < nk; i++)
		seq[i] = i / k < SEQ_COLS ? label[who[i / k] - 'A'] : 50 + (int32_t)(i / k);
	for (int64_t i = 0; i < SEQ_COLS; i++)
		cols[i] = (int32_t)(i * k + i % 2);
	for (int64_t i = 0; i < nk * n_out; i++) {
		memcpy(&all[i], &nan, sizeof(nan));
		memcpy(&inv[i], &nan, sizeof(nan));
	}
	id_rows(all, w, t, n_in, n_out, a, a_div, cols, SEQ_COLS, seq, false);
	id_rows(inv, w, t, n_in, n_out, a, a_div, cols, SEQ_COLS, seq, true);
	id_rows(one, w, t, n_in, n_out, a, a_div, cols, SEQ_COLS, NULL, false);
	/* each sequence alone: its columns, and each column alone */
	for (int s = 0; s < 4; s++) {
		int64_t n = 0;

		for (int64_t i = 0; i < SEQ_COLS; i++)
			if (who[i] == 'A' + s)
				sub[n++] = cols[i];
		id_rows(lone, w, t, n_in, n_out, a, a_div, sub, n, NULL, false);
		for (int64_t i = 0; i < n; i++)
			bad += memcmp(&lone[sub[i] * n_out], &all[sub[i] * n_out],
				      n_out * sizeof(float)) != 0;
		for (int64_t i = 0; i < n; i++) {
			id_rows(lone, w, t, n_in, n_out, a, a_div, &sub[i], 1, NULL, false);
			bad_inv += memcmp(&lone[sub[i] * n_out], &inv[sub[i] * n_out],
					  n_out * sizeof(float)) != 0;
		}
	}
	for (int64_t col = 0; col < nk; col++) {
		const bool routed = col / k < SEQ_COLS && col % k == (col / k) % 2;

		for (int64_t r = 0; r < n_out; r++) {
			const size_t o = col * n_out + r;

			if (!routed) {
				touched += memcmp(&all[o], &nan, sizeof(nan)) != 0 ||
					   memcmp(&inv[o], &nan, sizeof(nan)) != 0;
				continue;
			}
			differ += memcmp(&all[o], &one[o], sizeof(float)) != 0;
		}
	}
	ok(!bad && !bad_inv && !touched, "%s: %s expert of %lld x %lld, columns of 4 sequences "
	   "(9, 8, 3, 1)%s: each column as its sequence alone (%d columns differ), "
	   "row-invariant as itself alone (%d differ); %d outputs of other columns written",
	   kn_isa_get() == KN_ISA_AVX512 ? "AVX-512" : kn_isa_get() == KN_ISA_AVX2 ? "AVX2"
										: "scalar",
	   kn_type_name(t), (long long)n_out, (long long)n_in,
	   per_token ? ", activation per token" : "", bad, bad_inv, touched);
	free(x);
	free(y);
	free(all);
	free(one);
	free(inv);
	free(lone);
	free(w);
	free(a);
	return differ;
}

/* test_seq's cases on the current ISA: the tiled types (Q4_K of 37 rows),
 * the repacked Q4_K and a vec_dot type; returns test_seq's differences */
static int seq_cases(void)
{
	int differ = 0;

	differ += test_seq(KN_Q6_K, 512, 37, true);
	differ += test_seq(KN_Q5_K, 768, 24, false);
	differ += test_seq(KN_Q4_K, 512, 37, true);
	differ += test_seq(KN_Q4_K, 256, 40, false);
	differ += test_seq(KN_Q8_0, 512, 21, true);
	return differ;
}

#define N_SEQ_CASES 5

int main(void)
{
	plan(2 * (N_CASES + 1) + 4 + N_SEQ_CASES + 2 * (N_SEQ_CASES + 1));
	for (int isa = KN_ISA_AVX2; isa <= KN_ISA_AVX512; isa++) {
		int differ = 0;

		if (isa > (int)kn_isa_best()) {
			skip(N_CASES + 1 + N_SEQ_CASES + 1, "no %s on this cpu",
			     isa == KN_ISA_AVX512 ? "AVX-512" : "AVX2");
			continue;
		}
		kn_isa_set(isa);
		/* the threshold from both sides: 7 routed columns vec_dot, 8 tiled */
		differ += test_expert(KN_Q6_K, 768, 37, 7, true, 0);
		differ += test_expert(KN_Q6_K, 512, 24, 8, false, 0);
		differ += test_expert(KN_Q5_K, 512, 21, 7, false, 0);
		differ += test_expert(KN_Q5_K, 1280, 19, 13, true, 0);
		/* the tiled GEMMs over the gathered columns: 8- and 16-row passes, the
		 * rows they leave, 16-column blocks and a tail, odd row offsets */
		differ += test_expert(KN_Q6_K, 768, 45, 8, true, 45);
		differ += test_expert(KN_Q6_K, 512, 70, 21, false, 33);
		differ += test_expert(KN_Q5_K, 1280, 45, 8, false, 45);
		differ += test_expert(KN_Q5_K, 512, 70, 34, true, 29);
		/* Q4_K: rows a multiple of 8 repacked (the gemv at any count), else tiled at 8+ */
		differ += test_expert(KN_Q4_K, 512, 40, 7, true, 0);
		differ += test_expert(KN_Q4_K, 768, 16, 9, false, 0);
		differ += test_expert(KN_Q4_K, 512, 37, 7, false, 0);
		differ += test_expert(KN_Q4_K, 256, 33, 10, true, 0);
		differ += test_expert(KN_Q4_K, 512, 48, 20, true, 24);
		differ += test_expert(KN_Q4_K, 768, 56, 20, false, 13);
		differ += test_expert(KN_Q4_K, 512, 45, 20, false, 45);
		/* the other types: vec_dot's sums through the batch kernels (Q8_0's
		 * GEMM, Q4_0's repacked panels at 8k rows, F32 without tinyBLAS) */
		test_expert(KN_Q8_0, 512, 45, 20, true, 45);
		test_expert(KN_Q4_0, 512, 48, 20, false, 24);
		test_expert(KN_Q4_0, 1024, 56, 20, true, 13);
		test_expert(KN_F32, 96, 45, 12, true, 45);
		test_expert(KN_F16, 96, 37, 9, false, 0);
		ok(differ > 0, "%s: llama.cpp's MUL_MAT_ID orders give other bits than vec_dot's in "
		   "%d outputs", isa == KN_ISA_AVX512 ? "AVX-512" : "AVX2", differ);
		differ = seq_cases();
		ok(differ > 0, "%s: counting the expert's columns over the batch instead of per "
		   "sequence changes %d outputs", isa == KN_ISA_AVX512 ? "AVX-512" : "AVX2", differ);
	}
	/* llama.cpp's generic build: vec_dot whatever the count or the rows */
	kn_isa_set(KN_ISA_SCALAR);
	test_expert(KN_Q6_K, 512, 24, 9, true, 0);
	test_expert(KN_Q5_K, 512, 45, 12, false, 45);
	test_expert(KN_Q4_K, 512, 40, 12, false, 40);
	test_expert(KN_Q8_0, 512, 45, 20, true, 45);
	seq_cases();
	kn_isa_set(kn_isa_best());
	return done_testing();
}
