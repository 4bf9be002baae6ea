// SPDX-License-Identifier: MIT
/*
 * Decode (one activation column) of a Q8_0 matrix on AVX2 in
 * ggml_vec_dot_q8_0_q8_0's order, which llama.cpp's x86 builds use for every
 * output (Q8_0 is not repacked there): per row 8 float lanes, lane l of block
 * b += (d_w * d_a) * (exact sum of the products of elements 4l..4l+3), fused,
 * the lanes reduced at the end as hsum_float_8 does (kn_ref_dot_q8_0). Here
 * 8 rows make a tile: the activation block is loaded once for them, their 8
 * d_w are converted by one vcvtph2ps and multiplied by d_a at once, and the
 * tile after next is prefetched into L2 (decode streams W once, the hardware
 * prefetcher lags across 8 streams). Each row's integer sums are those of
 * vec_dot (|x| and x's sign on y, maddubs, madd), so every bit is its own.
 */
#include "kn_gemv_q8_0.h"

#pragma GCC optimize("fp-contract=off")

int64_t kn_avx2_gemv_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a,
			  const float *bias, float *out, int64_t r0, int64_t r1);

/* vec_dot's sums: |x| and x's sign on y, maddubs, madd; nothing shared */
static inline __attribute__((always_inline)) __m256i kn_g80_seed(__m256i yv)
{
	return _mm256_setzero_si256();
}

static inline __attribute__((always_inline)) __m256i kn_g80_dot(__m256i q, __m256i yv, __m256i c)
{
	return kn_avx2_dot_s8(q, yv);
}

/**
 * kn_avx2_gemv_q8_0 - out[r] = vec_dot(row r (rows of @wrs bytes), the Q8_0
 * activation @a) + bias[r] (+ 0.0f without one, as the rows4 path adds it),
 * for r in [r0, r1) in whole tiles of 8; returns the rows done
 */
int64_t kn_avx2_gemv_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a,
			  const float *bias, float *out, int64_t r0, int64_t r1)
{
	return kn_g80_gemv(n_in, w, wrs, a, bias, out, r0, r1, kn_g80_seed, kn_g80_dot);
}
