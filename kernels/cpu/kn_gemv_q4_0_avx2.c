// SPDX-License-Identifier: MIT
/*
 * Decode (one activation column) of a Q4_0 matrix that llama.cpp repacks
 * (kn_mat_q4_0_x8) on AVX2, in its gemv's order: per row acc = fma(isum_b,
 * d_w * d_a, acc) over the blocks b in order, isum_b the block's exact
 * integer dot (kn_ref_dot_q4_0_x8). The weights stay in GGUF layout; 8 rows
 * make a tile, their 8 accumulators one register, so one fma advances 8
 * outputs a block. Two rows' 16 bytes of nibbles share a register against
 * the block's low and high 16 activations (each broadcast to both halves):
 * maddubs, one add, one madd give each row 4 partial sums, and one hadd tree
 * (3 hadds) folds the 8 rows' partials to their block totals q . y; the
 * nibbles' offset, 8 sum(y) per block, is the same for every row and is
 * computed once per call with the activation's d. Only the integer sums are
 * formed differently from llama.cpp's, which cannot change a bit.
 */
#include "kn_gemv_q4_0.h"

#pragma GCC optimize("fp-contract=off")

int64_t kn_avx2_gemv_q4_0_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			     const float *bias, float *out, int64_t r0, int64_t r1);

/* q . y (nibbles unsigned) of rows @xa (low half) and @xb (high half): 4 partial sums each */
static inline __attribute__((always_inline)) __m256i
kn_g40_pair(const kn_block_q4_0 *xa, const kn_block_q4_0 *xb, __m256i yl, __m256i yh)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	const __m256i q = _mm256_loadu2_m128i((const __m128i *)xb->qs, (const __m128i *)xa->qs);
	const __m256i lo = _mm256_and_si256(q, m4);
	const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);

	/* |15 * 2 * 128| per pair, twice: well inside int16 */
	return _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo, yl),
						  _mm256_maddubs_epi16(hi, yh)),
				 _mm256_set1_epi16(1));
}

/**
 * kn_avx2_gemv_q4_0_x8 - out[r] = the repacked-order dot of row r (rows of
 * @wrs bytes) with the Q8_0 activation @a, + bias[r] (+ 0.0f without one, as
 * the rows4 path adds it), for r in [r0, r1) in whole tiles of 8; returns
 * the rows done (none where n_in is longer than the activation scratch holds)
 */
int64_t kn_avx2_gemv_q4_0_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			     const float *bias, float *out, int64_t r0, int64_t r1)
{
	return kn_g40_gemv(n_in, w, wrs, a, bias, out, r0, r1, kn_g40_pair);
}
