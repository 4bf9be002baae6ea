// SPDX-License-Identifier: MIT
/*
 * kn_gemv_q4_0_avx2.c's decode of a repacked-order Q4_0 matrix (per row acc
 * = fma(isum_b, d_w * d_a, acc) over the blocks in order, isum_b the block's
 * exact integer dot: kn_ref_dot_q4_0_x8) on AVX-512 VNNI: the same 8-row
 * tiles, hadd tree and per-call activation sums, each pair of rows' partial
 * sums formed by two 256-bit vpdpbusd instead of maddubs, add and madd.
 * Zen 4 runs 512-bit operations as two 256-bit halves, and a 512-bit tile
 * would cost more inserts than it saves. Bit-identical to the AVX2 form.
 */
#include "kn_gemv_q4_0.h"

#pragma GCC optimize("fp-contract=off")

int64_t kn_avx512_gemv_q4_0_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			       const float *bias, float *out, int64_t r0, int64_t r1);

/* q . y (nibbles unsigned) of rows @xa (low half) and @xb (high half): 4 partial sums each */
static inline __attribute__((always_inline)) __m256i
kn_g40_pair(const kn_block_q4_0 *xa, const kn_block_q4_0 *xb, __m256i yl, __m256i yh)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	const __m256i q = _mm256_loadu2_m128i((const __m128i *)xb->qs, (const __m128i *)xa->qs);

	return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(),
						       _mm256_and_si256(q, m4), yl),
				   _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), yh);
}

/**
 * kn_avx512_gemv_q4_0_x8 - out[r] = the repacked-order dot of row r (rows of
 * @wrs bytes) with the Q8_0 activation @a, + bias[r] (+ 0.0f without one, as
 * the rows4 path adds it), for r in [r0, r1) in whole tiles of 8; returns
 * the rows done (none where n_in is longer than the activation scratch holds)
 */
int64_t kn_avx512_gemv_q4_0_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			       const float *bias, float *out, int64_t r0, int64_t r1)
{
	return kn_g40_gemv(n_in, w, wrs, a, bias, out, r0, r1, kn_g40_pair);
}
