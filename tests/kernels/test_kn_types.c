// SPDX-License-Identifier: MIT
/*
 * kernels type traits, ISA selection, and fp16/bf16 conversions: IEEE
 * reference values, round-to-nearest-even ties, exhaustive round trips, and
 * the scalar converters against F16C (through the AVX2 row path).
 */
#include <errno.h>
#include <string.h>
#include "tap.h"
#include "kn_test.h"

static float bits2f(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static void test_traits(void)
{
	/* ggml-common.h block sizes (reference data) */
	static const struct { uint32_t t; int64_t blck; size_t bytes; const char *name; } ref[] = {
		{ KN_F32, 1, 4, "f32" }, { KN_F16, 1, 2, "f16" }, { KN_BF16, 1, 2, "bf16" },
		{ KN_Q4_0, 32, 18, "q4_0" }, { KN_Q4_1, 32, 20, "q4_1" }, { KN_Q8_0, 32, 34, "q8_0" },
		{ KN_Q8_1, 32, 36, "q8_1" }, { KN_Q4_K, 256, 144, "q4_K" }, { KN_Q5_K, 256, 176, "q5_K" },
		{ KN_Q6_K, 256, 210, "q6_K" }, { KN_Q8_K, 256, 292, "q8_K" }, { KN_I8, 1, 1, "i8" },
		{ KN_I16, 1, 2, "i16" }, { KN_I32, 1, 4, "i32" },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++) {
		if (!kn_type_known(ref[i].t) || kn_type_block_elems(ref[i].t) != ref[i].blck ||
		    kn_type_block_bytes(ref[i].t) != ref[i].bytes ||
		    strcmp(kn_type_name(ref[i].t), ref[i].name)) {
			diag("type %u wrong traits", ref[i].t);
			bad++;
		}
	}
	ok(!bad, "block elems/bytes/names of %zu types match ggml", sizeof(ref) / sizeof(ref[0]));
	ok(!kn_type_known(5) && !kn_type_known(KN_TYPE_MAX) && !kn_type_known(1000) &&
	   !strcmp(kn_type_name(7), "?"), "unknown types are rejected");
	is_int(kn_row_size(KN_Q4_K, 512), 288, "row size q4_K x 512");
	is_int(kn_row_size(KN_Q4_0, 33), 0, "row size of a partial block is 0");
	is_int(kn_row_size(KN_F16, 7), 14, "row size f16 x 7");
	ok(kn_vec_dot_type(KN_Q4_0) == KN_Q8_0 && kn_vec_dot_type(KN_Q4_1) == KN_Q8_1 &&
	   kn_vec_dot_type(KN_Q8_0) == KN_Q8_0 && kn_vec_dot_type(KN_Q4_K) == KN_Q8_K &&
	   kn_vec_dot_type(KN_Q5_K) == KN_Q8_K && kn_vec_dot_type(KN_Q6_K) == KN_Q8_K &&
	   kn_vec_dot_type(KN_F32) == KN_F32 && kn_vec_dot_type(KN_F16) == KN_F16 &&
	   kn_vec_dot_type(KN_BF16) == KN_BF16, "vec_dot_type table is ggml-cpu's");
	ok(kn_type_can_matmul(KN_Q6_K) && !kn_type_can_matmul(KN_Q8_K) &&
	   !kn_type_can_matmul(KN_I32) && !kn_type_can_matmul(KN_Q8_1), "matmul weight types");
}

static void test_isa(void)
{
	enum kn_isa best = kn_isa_best();

	ok(kn_isa_set(KN_ISA_SCALAR) == 0 && kn_isa_get() == KN_ISA_SCALAR, "force scalar");
	if (best >= KN_ISA_AVX2)
		ok(kn_isa_set(KN_ISA_AVX2) == 0 && kn_isa_get() == KN_ISA_AVX2, "force avx2");
	else
		ok(kn_isa_set(KN_ISA_AVX2) == -ENOTSUP, "avx2 refused on this cpu");
	if (best >= KN_ISA_AVX512)
		ok(kn_isa_set(KN_ISA_AVX512) == 0 && kn_isa_get() == KN_ISA_AVX512, "force avx512");
	else
		ok(kn_isa_set(KN_ISA_AVX512) == -ENOTSUP, "avx512 refused on this cpu");
	ok(kn_isa_set((enum kn_isa)7) == -EINVAL, "unknown isa refused");
	kn_isa_set(best);
	diag("best isa: %s", best == KN_ISA_AVX512 ? "avx512" : best == KN_ISA_AVX2 ? "avx2" : "scalar");
}

static void test_fp16(void)
{
	int bad = 0;

	/* IEEE 754 binary16 reference encodings */
	ok(kn_fp16_to_fp32(0x3c00) == 1.0f && kn_fp16_to_fp32(0xc000) == -2.0f &&
	   kn_fp16_to_fp32(0x7bff) == 65504.0f && kn_fp16_to_fp32(0x0001) == ldexpf(1, -24) &&
	   kn_fp16_to_fp32(0x0400) == ldexpf(1, -14) && kn_fp16_to_fp32(0x3555) == bits2f(0x3eaaa000) &&
	   isinf(kn_fp16_to_fp32(0x7c00)) && isnan(kn_fp16_to_fp32(0x7e00)) &&
	   signbit(kn_fp16_to_fp32(0x8000)), "fp16 -> fp32 reference values");
	ok(kn_fp32_to_fp16(1.0f + ldexpf(1, -11)) == 0x3c00 &&
	   kn_fp32_to_fp16(1.0f + 3 * ldexpf(1, -11)) == 0x3c02 &&
	   kn_fp32_to_fp16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)) == 0x3c01,
	   "fp32 -> fp16 rounds to nearest, ties to even");
	ok(kn_fp32_to_fp16(65519.0f) == 0x7bff && kn_fp32_to_fp16(65520.0f) == 0x7c00 &&
	   kn_fp32_to_fp16(-1e9f) == 0xfc00 && kn_fp32_to_fp16(ldexpf(1, -25)) == 0 &&
	   kn_fp32_to_fp16(ldexpf(3, -26)) == 0x0001 && kn_fp32_to_fp16(ldexpf(3, -25)) == 0x0002 &&
	   kn_fp32_to_fp16(ldexpf(1023, -24) + ldexpf(1, -25)) == 0x0400 &&
	   (kn_fp32_to_fp16(NAN) & 0x7fff) > 0x7c00, "fp32 -> fp16 overflow, subnormals, NaN");
	for (uint32_t h = 0; h < 65536; h++) {
		if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
			continue;	/* NaN */
		if (kn_fp32_to_fp16(kn_fp16_to_fp32((uint16_t)h)) != h)
			bad++;
	}
	is_int(bad, 0, "every non-NaN fp16 survives fp16 -> fp32 -> fp16");

	if (!kt_have_avx2()) {
		skip(1, "no AVX2/F16C on this cpu");
		return;
	}
	enum { N = 1 << 18 };
	float *x = malloc(N * sizeof(float));
	uint16_t *a = malloc(N * 2), *b = malloc(N * 2);

	kt_seed(1);
	for (int i = 0; i < N; i++) {
		/* finite floats over the whole fp16 range and a bit beyond */
		uint32_t e = 96 + (uint32_t)(kt_u64() % 50);
		uint32_t u = (uint32_t)(kt_u64() & 0x807fffff) | (e << 23);

		if (i % 7 == 0)
			u &= ~0x0fffu;		/* many exact ties */
		x[i] = bits2f(u);
	}
	kn_quantize_row_isa(KN_ISA_SCALAR, KN_F16, x, a, N);
	kn_quantize_row_isa(KN_ISA_AVX2, KN_F16, x, b, N);
	ok(!memcmp(a, b, N * 2), "scalar fp32 -> fp16 equals F16C on %d values", N);
	free(x);
	free(a);
	free(b);
}

static void test_bf16(void)
{
	int bad = 0;

	ok(kn_fp32_to_bf16(1.0f) == 0x3f80 && kn_bf16_to_fp32(0xc000) == -2.0f &&
	   kn_fp32_to_bf16(bits2f(0x3f808000)) == 0x3f80 &&
	   kn_fp32_to_bf16(bits2f(0x3f818000)) == 0x3f82 &&
	   kn_fp32_to_bf16(bits2f(0x3f808001)) == 0x3f81, "bf16 rounds to nearest, ties to even");
	ok(kn_fp32_to_bf16(bits2f(0x7f800001)) == 0x7fc0 &&
	   kn_fp32_to_bf16(bits2f(0x7f7fffff)) == 0x7f80, "bf16 keeps NaN quiet, overflows to inf");
	for (uint32_t h = 0; h < 65536; h++) {
		if ((h & 0x7f80) == 0x7f80 && (h & 0x7f))
			continue;
		if (kn_fp32_to_bf16(kn_bf16_to_fp32((uint16_t)h)) != h)
			bad++;
	}
	is_int(bad, 0, "every non-NaN bf16 survives a round trip");
	if (!kt_have_avx2()) {
		skip(1, "no AVX2 on this cpu");
		return;
	}
	enum { N = 1 << 16 };
	float *x = malloc(N * sizeof(float));
	uint16_t *a = malloc(N * 2), *b = malloc(N * 2);

	kt_seed(2);
	for (int i = 0; i < N; i++) {
		uint32_t u = (uint32_t)kt_u64();

		if (i % 5 == 0)
			u = (u & 0xffff0000u) | 0x8000u;	/* ties */
		x[i] = bits2f(u);
	}
	kn_quantize_row_isa(KN_ISA_SCALAR, KN_BF16, x, a, N);
	kn_quantize_row_isa(KN_ISA_AVX2, KN_BF16, x, b, N);
	ok(!memcmp(a, b, N * 2), "scalar and AVX2 fp32 -> bf16 agree on %d bit patterns", N);
	free(x);
	free(a);
	free(b);
}

int main(void)
{
	/* traits 7, ISA selection 4, fp16 5, bf16 4 (the SIMD twins skip their 1) */
	plan(7 + 4 + 5 + 4);
	test_traits();
	test_isa();
	test_fp16();
	test_bf16();
	return done_testing();
}
