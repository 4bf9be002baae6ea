// SPDX-License-Identifier: MIT
/*
 * vec_dot for every MATMUL weight type against its activation type: the
 * scalar dot equals the dot of the dequantized rows (ggml's integer math,
 * evaluated in double), and the AVX2 dot equals the scalar one (bit-exact
 * for the K-quants, within float rounding for the others). Also a
 * hand-built Q4_0 / Q8_0 pair checks the nibble layout against ggml's.
 */
#include <stdio.h>
#include <string.h>
#include "tap.h"
#include "kn_test.h"

static const uint32_t wtypes[] = { KN_F32, KN_F16, KN_BF16, KN_Q4_0, KN_Q4_1, KN_Q8_0,
				   KN_Q4_K, KN_Q5_K, KN_Q6_K };
#define N_WTYPES ((int)(sizeof(wtypes) / sizeof(wtypes[0])))

static bool is_k(uint32_t t)
{
	return t == KN_Q4_K || t == KN_Q5_K || t == KN_Q6_K;
}

/*
 * ggml's Q4_1 dot takes the min term from the activation block's stored
 * s = fp16(d * sum(q)) rather than d * sum(q): add m * (s - d * sum) per block.
 */
/* scalar and AVX2 share one arithmetic: K types, and Q4_1/Q8_0 in llama.cpp's x86 lane order */
static bool simd_exact(uint32_t t)
{
	return is_k(t) || t == KN_Q4_1 || t == KN_Q8_0;
}

static double q4_1_s_correction(const uint8_t *w, const uint8_t *a, int64_t nb)
{
	double c = 0;

	for (int64_t b = 0; b < nb; b++) {
		const uint8_t *wb = w + 20 * b, *ab = a + 36 * b;
		uint16_t m, d, s;
		int sum = 0;

		memcpy(&m, wb + 2, 2);
		memcpy(&d, ab, 2);
		memcpy(&s, ab + 2, 2);
		for (int j = 0; j < 32; j++)
			sum += (int8_t)ab[4 + j];
		c += (double)kn_fp16_to_fp32(m) *
		     ((double)kn_fp16_to_fp32(s) - (double)kn_fp16_to_fp32(d) * sum);
	}
	return c;
}

static void test_type(uint32_t t)
{
	const uint32_t at = kn_vec_dot_type(t);
	const int64_t blck = kn_type_block_elems(t);
	static const int64_t nbs_q[] = { 1, 3, 7, 13, 33, 48 };
	static const int64_t ns_f[] = { 1, 7, 37, 1001, 4101, 64 };
	double worst_ref = 0, worst_simd[2] = { 0, 0 };
	int simd_exact_bad[2] = { 0, 0 }, rows = 0;

	for (int r = 0; r < 6; r++) {
		for (int rep = 0; rep < 8; rep++, rows++) {
			const int64_t n = blck == 1 ? ns_f[r] : nbs_q[r] * blck;
			float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
			float *xd = malloc(n * sizeof(float)), *yd = malloc(n * sizeof(float));
			void *w = malloc(kn_row_size(t, n)), *a = malloc(kn_row_size(at, n));
			double ref = 0, mag = 0;

			kt_seed(7919 * t + 31 * r + rep);
			kt_fill(x, n, rep & 1 ? 0.02f : 1.0f);
			kt_fill(y, n, rep & 2 ? 30.0f : 1.0f);
			kn_quantize_row_isa(KN_ISA_SCALAR, t, x, w, n);
			kn_quantize_row_isa(KN_ISA_SCALAR, at, y, a, n);
			kn_dequantize_row_isa(KN_ISA_SCALAR, t, w, xd, n);
			kn_dequantize_row_isa(KN_ISA_SCALAR, at, a, yd, n);
			for (int64_t i = 0; i < n; i++) {
				ref += (double)xd[i] * yd[i];
				mag += fabs((double)xd[i] * yd[i]);
			}
			if (t == KN_Q4_1)
				ref += q4_1_s_correction(w, a, n / 32);
			float ds = kn_vec_dot_isa(KN_ISA_SCALAR, t, n, w, a);
			double e = fabs(ds - ref) / (mag + 1e-30);

			if (e > worst_ref || e != e)
				worst_ref = e != e ? INFINITY : e;
			for (int k = 0; k < 2; k++) {
				const enum kn_isa isa = k ? KN_ISA_AVX512 : KN_ISA_AVX2;

				if (isa > kn_isa_best())
					continue;
				float dv = kn_vec_dot_isa(isa, t, n, w, a);
				double ev = fabs((double)dv - ds) / (mag + 1e-30);

				if (ev > worst_simd[k] || ev != ev)
					worst_simd[k] = ev != ev ? INFINITY : ev;
				if (simd_exact(t) && memcmp(&dv, &ds, sizeof(float)))
					simd_exact_bad[k]++;
			}
			free(x);
			free(y);
			free(xd);
			free(yd);
			free(w);
			free(a);
		}
	}
	ok(worst_ref < 2e-6, "%s.%s scalar dot == dot of dequantized rows (rel err %.2g, %d rows)",
	   kn_type_name(t), kn_type_name(at), worst_ref, rows);
	for (int k = 0; k < 2; k++) {
		const char *name = k ? "AVX-512" : "AVX2";

		if ((k ? KN_ISA_AVX512 : KN_ISA_AVX2) > kn_isa_best()) {
			skip(1, "no %s on this cpu", name);
			continue;
		}
		if (simd_exact(t))
			ok(!simd_exact_bad[k], "%s %s dot bit-identical to scalar (%d of %d differ)",
			   kn_type_name(t), name, simd_exact_bad[k], rows);
		else
			ok(worst_simd[k] < 2e-6, "%s %s dot == scalar within rounding (rel err %.2g)",
			   kn_type_name(t), name, worst_simd[k]);
	}
}

/* ggml layout: Q4_0 low nibbles are elements 0..15, high nibbles 16..31, value q-8 */
static void test_q4_0_layout(void)
{
	uint8_t w[18], a[34];
	uint16_t one = kn_fp32_to_fp16(1.0f);
	int want = 0;

	memcpy(w, &one, 2);
	memcpy(a, &one, 2);
	for (int j = 0; j < 16; j++)
		w[2 + j] = (uint8_t)(j | ((15 - j) << 4));
	for (int j = 0; j < 32; j++)
		a[2 + j] = (uint8_t)(int8_t)(j < 16 ? 1 : -(j - 15));
	/* elements 0..15: (j - 8) * 1; elements 16..31: (15 - (j-16) - 8) * -(j-15) */
	for (int j = 0; j < 16; j++)
		want += j - 8;
	for (int j = 16; j < 32; j++)
		want += (15 - (j - 16) - 8) * -(j - 15);
	ok(kn_vec_dot_isa(KN_ISA_SCALAR, KN_Q4_0, 32, w, a) == (float)want &&
	   (!kt_have_avx2() || kn_vec_dot_isa(KN_ISA_AVX2, KN_Q4_0, 32, w, a) == (float)want),
	   "hand-built q4_0.q8_0 block: %d", want);
}

int main(void)
{
	/* per type: scalar vs reference, AVX2 and AVX-512 vs scalar (or a skip each) */
	plan(3 * N_WTYPES + 2);
	for (int i = 0; i < N_WTYPES; i++)
		test_type(wtypes[i]);
	test_q4_0_layout();
	ok(kn_vec_dot(KN_Q8_K, 256, NULL, NULL) == 0.0f, "no dot for an activation-only type");
	return done_testing();
}
