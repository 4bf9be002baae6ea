// SPDX-License-Identifier: MIT
/*
 * Quantize -> dequantize round trips for every type (NMSE bounds per type,
 * as ggml's test-quantize-fns), block invariants (Q8_1's s, Q8_K's bsums),
 * and the AVX2 quantizers/dequantizers against the scalar reference
 * (byte-exact) over random rows with odd block counts.
 */
#include <stdio.h>
#include <string.h>
#include "tap.h"
#include "kn_test.h"

struct qcase {
	uint32_t type;
	double max_nmse;	/* round trip bound on normal(0,1) data */
};

/* bounds: about 1.5x what ggml's reference quantizers reach on this data */
static const struct qcase qcases[] = {
	{ KN_F16, 1e-7 }, { KN_BF16, 1e-5 }, { KN_Q8_0, 1e-4 }, { KN_Q8_1, 1e-4 },
	{ KN_Q8_K, 1e-4 }, { KN_Q4_0, 1.2e-2 }, { KN_Q4_1, 1.2e-2 }, { KN_Q4_K, 6e-3 },
	{ KN_Q5_K, 1.5e-3 }, { KN_Q6_K, 4e-4 },
};

static void test_round_trip(const struct qcase *c)
{
	const int64_t blck = kn_type_block_elems(c->type);
	const int64_t n = blck * (blck == 1 ? 4096 : 4096 / blck + 3);
	float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
	void *q = malloc(kn_row_size(c->type, n));
	double e;

	kt_seed(100 + c->type);
	kt_fill(x, n, 1.0f);
	int rc = kn_quantize_row_isa(KN_ISA_SCALAR, c->type, x, q, n);

	rc |= kn_dequantize_row_isa(KN_ISA_SCALAR, c->type, q, y, n);
	e = kt_nmse(y, x, n);
	ok(rc == 0 && e < c->max_nmse, "%s round trip nmse %.3g < %.3g", kn_type_name(c->type), e,
	   c->max_nmse);

	/* scale invariance: the same data x 1000 quantizes to the same error */
	for (int64_t i = 0; i < n; i++)
		x[i] *= 1000.0f;
	kn_quantize_row_isa(KN_ISA_SCALAR, c->type, x, q, n);
	kn_dequantize_row_isa(KN_ISA_SCALAR, c->type, q, y, n);
	ok(kt_nmse(y, x, n) < c->max_nmse, "%s round trip at scale 1000", kn_type_name(c->type));

	/* an all-zero row dequantizes to zeros */
	memset(x, 0, n * sizeof(float));
	kn_quantize_row_isa(KN_ISA_SCALAR, c->type, x, q, n);
	kn_dequantize_row_isa(KN_ISA_SCALAR, c->type, q, y, n);
	ok(kt_max_abs_diff(x, y, n) == 0, "%s zero row", kn_type_name(c->type));
	free(x);
	free(y);
	free(q);
}

/* Q8_1 s == d * sum(qs); Q8_K bsums are the sums of 16 */
static void test_invariants(void)
{
	const int64_t n = 256 * 5;
	float *x = malloc(n * sizeof(float));
	uint8_t *q = malloc(kn_row_size(KN_Q8_K, n));
	int bad = 0;

	kt_seed(7);
	kt_fill(x, n, 3.0f);
	kn_quantize_row_isa(KN_ISA_SCALAR, KN_Q8_1, x, q, n);
	for (int64_t b = 0; b < n / 32; b++) {
		const uint8_t *blk = q + 36 * b;
		uint16_t d, s;
		int sum = 0;

		memcpy(&d, blk, 2);
		memcpy(&s, blk + 2, 2);
		for (int j = 0; j < 32; j++)
			sum += (int8_t)blk[4 + j];
		/* s is fp16(d * sum) of the unrounded d: within fp16 rounding of it */
		double want = (double)kn_fp16_to_fp32(d) * sum;

		if (fabs(kn_fp16_to_fp32(s) - want) > 1.5e-3 * fabs(want) + 1e-7)
			bad++;
	}
	is_int(bad, 0, "q8_1: s == d * sum(qs) (to fp16 precision) in every block");

	bad = 0;
	kn_quantize_row_isa(KN_ISA_SCALAR, KN_Q8_K, x, q, n);
	for (int64_t b = 0; b < n / 256; b++) {
		const uint8_t *blk = q + 292 * b;

		for (int g = 0; g < 16; g++) {
			int16_t bs;
			int sum = 0;

			memcpy(&bs, blk + 4 + 256 + 2 * g, 2);
			for (int j = 0; j < 16; j++)
				sum += (int8_t)blk[4 + 16 * g + j];
			if (sum != bs)
				bad++;
		}
	}
	is_int(bad, 0, "q8_K: bsums are the sums of each 16 quants");
	free(x);
	free(q);
}

/* AVX2 quantize and dequantize are byte/bit-identical to scalar */
static void test_simd(uint32_t type)
{
	const int64_t blck = kn_type_block_elems(type);
	int bad_q = 0, bad_d = 0;

	for (int r = 0; r < 24; r++) {
		const int64_t nb = 1 + 2 * (r % 9) + (blck == 1 ? 7 * r : 0);	/* odd counts */
		const int64_t n = nb * blck;
		const size_t rs = kn_row_size(type, n);
		float *x = malloc(n * sizeof(float)), *y0 = malloc(n * sizeof(float));
		float *y1 = malloc(n * sizeof(float));
		uint8_t *q0 = malloc(rs), *q1 = malloc(rs);

		kt_seed(1000 * type + r);
		kt_fill(x, n, r % 3 == 0 ? 1e-3f : r % 3 == 1 ? 1.0f : 500.0f);
		if (r % 4 == 3) {
			/* ties and repeated maxima of both signs */
			for (int64_t i = 0; i < n; i++)
				x[i] = (float)((int)(x[i] * 4)) * 0.125f;
		}
		kn_quantize_row_isa(KN_ISA_SCALAR, type, x, q0, n);
		kn_quantize_row_isa(KN_ISA_AVX2, type, x, q1, n);
		if (memcmp(q0, q1, rs))
			bad_q++;
		kn_dequantize_row_isa(KN_ISA_SCALAR, type, q0, y0, n);
		kn_dequantize_row_isa(KN_ISA_AVX2, type, q0, y1, n);
		if (memcmp(y0, y1, n * sizeof(float)))
			bad_d++;
		free(x);
		free(y0);
		free(y1);
		free(q0);
		free(q1);
	}
	ok(!bad_q, "%s: AVX2 quantize == scalar on 24 rows (%d differ)", kn_type_name(type), bad_q);
	ok(!bad_d, "%s: AVX2 dequantize == scalar on 24 rows (%d differ)", kn_type_name(type), bad_d);
}

/*
 * Activation quantization is llama.cpp's x86 one: id = 127/amax, ties to
 * even; model writers' (quantize_row_q8_0_ref) rounds ties away from zero.
 */
static void test_act_rounding(void)
{
	float x[32] = { 0 };
	int8_t qa[34], qr[34];
	int bad = 0;

	x[0] = 127.0f;		/* amax 127: id = 1, d = 1 */
	x[1] = 0.5f;
	x[2] = 1.5f;
	x[3] = 2.5f;
	x[4] = -2.5f;
	x[5] = -0.5f;
	x[6] = 3.25f;
	kn_quantize_act_row_isa(KN_ISA_SCALAR, KN_Q8_0, x, qa, 32);
	kn_quantize_row_isa(KN_ISA_SCALAR, KN_Q8_0, x, qr, 32);
	const int8_t want_act[7] = { 127, 0, 2, 2, -2, 0, 3 };
	const int8_t want_ref[7] = { 127, 1, 2, 3, -3, -1, 3 };

	for (int i = 0; i < 7; i++)
		bad += qa[2 + i] != want_act[i] || qr[2 + i] != want_ref[i];
	is_int(bad, 0, "q8_0: activations round half to even, model writers half away from zero");
	if (!kt_have_avx2()) {
		skip(1, "no AVX2 on this cpu");
		return;
	}
	int diff = 0;

	for (int r = 0; r < 40; r++) {
		const uint32_t t = r & 1 ? KN_Q8_1 : KN_Q8_0;
		const int64_t n = 32 * (1 + 2 * (r % 7));
		float *v = malloc(n * sizeof(float));
		uint8_t a[36 * 13], b[36 * 13];

		kt_seed(300 + r);
		kt_fill(v, n, r % 5 == 0 ? 1e-4f : 3.0f);
		if (r % 3 == 0)
			for (int64_t i = 0; i < n; i++)
				v[i] = (float)(int)(v[i] * 8) / 4;	/* exact .5 ties */
		kn_quantize_act_row_isa(KN_ISA_SCALAR, t, v, a, n);
		kn_quantize_act_row_isa(KN_ISA_AVX2, t, v, b, n);
		diff += memcmp(a, b, kn_row_size(t, n)) != 0;
		free(v);
	}
	is_int(diff, 0, "q8_0/q8_1 activation quantization: AVX2 == scalar on 40 rows");
}

int main(void)
{
	static const uint32_t all[] = { KN_F32, KN_F16, KN_BF16, KN_Q4_0, KN_Q4_1, KN_Q8_0,
					KN_Q8_1, KN_Q4_K, KN_Q5_K, KN_Q6_K, KN_Q8_K };

	/* 3 round trips per case, invariants 2, activation rounding 2, refusals 2,
	 * AVX2 quantize and dequantize per type (skipped without AVX2) */
	plan(3 * (int)(sizeof(qcases) / sizeof(qcases[0])) + 2 + 2 + 2 +
	     2 * (int)(sizeof(all) / sizeof(all[0])));
	for (size_t i = 0; i < sizeof(qcases) / sizeof(qcases[0]); i++)
		test_round_trip(&qcases[i]);
	test_invariants();
	test_act_rounding();
	ok(kn_quantize_row(KN_Q4_0, NULL, NULL, 31) < 0, "partial block refused");
	ok(kn_quantize_row(KN_I32, NULL, NULL, 0) < 0, "no quantizer for i32");
	if (!kt_have_avx2()) {
		skip(2 * (int)(sizeof(all) / sizeof(all[0])), "no AVX2 on this cpu");
		return done_testing();
	}
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		test_simd(all[i]);
	return done_testing();
}
