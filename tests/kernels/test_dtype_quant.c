// SPDX-License-Identifier: MIT
/*
 * accel_dtype_quantize (libaccel's quantizer for model writers) against the
 * kernels' kn_quantize_row: the same bytes for every dtype with a quantizer,
 * on every ISA this CPU has, and its errors (-EOPNOTSUPP, -EINVAL).
 */
#include <errno.h>
#include <string.h>
#include "accel_cmd.h"
#include "tap.h"
#include "kn_test.h"

static const uint32_t types[] = {
	ACCEL_DTYPE_F32, ACCEL_DTYPE_F16, ACCEL_DTYPE_BF16, ACCEL_DTYPE_Q4_0, ACCEL_DTYPE_Q4_1,
	ACCEL_DTYPE_Q8_0, ACCEL_DTYPE_Q8_1, ACCEL_DTYPE_Q4_K, ACCEL_DTYPE_Q5_K, ACCEL_DTYPE_Q6_K,
	ACCEL_DTYPE_Q8_K,
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

/* the same bytes as kn_quantize_row for 1, 3 and 7 blocks of mixed scales */
static void test_same_bytes(uint32_t type, enum kn_isa isa)
{
	static const int blocks[] = { 1, 3, 7 };
	const int64_t blck = kn_type_block_elems(type);
	int bad = 0;

	for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
		int64_t n = blck * (blck == 1 ? 64 * blocks[b] : blocks[b]);
		size_t bytes = kn_row_size(type, n);
		float *x = malloc((size_t)n * sizeof(float));
		uint8_t *want = malloc(bytes), *got = malloc(bytes);
		int rw, rg;

		kt_seed(7000 + 31 * type + b);
		kt_fill(x, n, b == 2 ? 1000.0f : 1.0f);
		x[n / 2] = 0.0f;
		memset(want, 0xa5, bytes);
		memset(got, 0x5a, bytes);
		rw = kn_quantize_row(type, x, want, n);
		rg = accel_dtype_quantize(type, x, got, n);
		if (rw || rg || memcmp(want, got, bytes)) {
			diag("%s n %lld: kn %d, accel %d", kn_type_name(type), (long long)n, rw, rg);
			bad++;
		}
		free(x);
		free(want);
		free(got);
	}
	ok(!bad, "%s on isa %d: accel_dtype_quantize == kn_quantize_row (1, 3, 7 blocks)",
	   kn_type_name(type), isa);
}

#define N_ERROR_TESTS 10

static void test_errors(void)
{
	float x[32] = { 1.0f };
	uint8_t y[64];

	is_int(accel_dtype_quantize(ACCEL_DTYPE_I32, x, y, 8), -EOPNOTSUPP, "i32: no quantizer");
	is_int(accel_dtype_quantize(ACCEL_DTYPE_I8, x, y, 8), -EOPNOTSUPP, "i8: no quantizer");
	is_int(accel_dtype_quantize(5, x, y, 32), -EOPNOTSUPP, "dtype 5 (removed Q4_2) unknown");
	is_int(accel_dtype_quantize(1000, x, y, 32), -EOPNOTSUPP, "dtype 1000 unknown");
	is_int(accel_dtype_quantize(ACCEL_DTYPE_Q8_0, x, y, 31), -EINVAL, "q8_0: partial block");
	is_int(accel_dtype_quantize(ACCEL_DTYPE_Q4_K, x, y, 32), -EINVAL,
	       "q4_K: 32 is not a 256 block");
	is_int(accel_dtype_quantize(ACCEL_DTYPE_Q8_0, x, y, -32), -EINVAL, "negative n");
	is_int(accel_dtype_quantize(ACCEL_DTYPE_Q8_0, NULL, y, 32), -EINVAL, "NULL src");
	is_int(accel_dtype_quantize(ACCEL_DTYPE_Q8_0, x, NULL, 32), -EINVAL, "NULL dst");
	is_int(accel_dtype_quantize(ACCEL_DTYPE_Q8_0, NULL, NULL, 0), 0, "n 0 writes nothing");
}

int main(void)
{
	static const enum kn_isa isas[] = { KN_ISA_SCALAR, KN_ISA_AVX2, KN_ISA_AVX512 };
	/* the dtype numbers are the kernels' (both are ggml's) */
	static const uint32_t same[][2] = {
		{ ACCEL_DTYPE_F32, KN_F32 }, { ACCEL_DTYPE_F16, KN_F16 }, { ACCEL_DTYPE_BF16, KN_BF16 },
		{ ACCEL_DTYPE_Q4_0, KN_Q4_0 }, { ACCEL_DTYPE_Q4_1, KN_Q4_1 },
		{ ACCEL_DTYPE_Q8_0, KN_Q8_0 }, { ACCEL_DTYPE_Q8_1, KN_Q8_1 },
		{ ACCEL_DTYPE_Q4_K, KN_Q4_K }, { ACCEL_DTYPE_Q5_K, KN_Q5_K },
		{ ACCEL_DTYPE_Q6_K, KN_Q6_K }, { ACCEL_DTYPE_Q8_K, KN_Q8_K },
	};
	enum kn_isa best = kn_isa_best();
	int differ = 0;

	/* the dtype check, one per type per ISA (skipped where the CPU lacks it), errors */
	plan(1 + (int)(sizeof(isas) / sizeof(isas[0]) * N_TYPES) + N_ERROR_TESTS);
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		differ += same[i][0] != same[i][1];
	ok(!differ, "ACCEL_DTYPE_* == KN_*");
	for (size_t i = 0; i < sizeof(isas) / sizeof(isas[0]); i++) {
		if (isas[i] > best) {
			skip((int)N_TYPES, "cpu lacks isa %d", isas[i]);
			continue;
		}
		kn_isa_set(isas[i]);
		for (size_t t = 0; t < N_TYPES; t++)
			test_same_bytes(types[t], isas[i]);
	}
	kn_isa_set(best);
	test_errors();
	return done_testing();
}
