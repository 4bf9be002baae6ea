// SPDX-License-Identifier: MIT
/*
 * kn_gemv_q8_0_avx2.c's decode of a Q8_0 matrix in vec_dot's order (per row
 * 8 float lanes, lane l of block b += (d_w * d_a) * the exact sum of the
 * products of elements 4l..4l+3, fused; the lanes reduced as hsum_float_8:
 * kn_ref_dot_q8_0) on AVX-512 VNNI: the same 8-row tiles, each row's lane
 * sums formed by one 256-bit vpdpbusd of x + 128 (x xor 0x80, unsigned)
 * with y on an accumulator seeded with -128 * the lane's y sum, which the 8
 * rows share: the exact sums vec_dot forms with two vpsignb and a vpdpbusd
 * (a -128 weight included; activations are never -128).
 */
#include "kn_gemv_q8_0.h"

#pragma GCC optimize("fp-contract=off")

int64_t kn_avx512_gemv_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a,
			    const float *bias, float *out, int64_t r0, int64_t r1);

/* -128 * each lane's y sum: what x xor 0x80 (x + 128, unsigned) adds */
static inline __attribute__((always_inline)) __m256i kn_g80_seed(__m256i yv)
{
	return _mm256_sub_epi32(_mm256_setzero_si256(),
				_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(-128), yv));
}

static inline __attribute__((always_inline)) __m256i kn_g80_dot(__m256i q, __m256i yv, __m256i c)
{
	return _mm256_dpbusd_epi32(c, _mm256_xor_si256(q, _mm256_set1_epi8(-128)), yv);
}

/**
 * kn_avx512_gemv_q8_0 - out[r] = vec_dot(row r (rows of @wrs bytes), the Q8_0
 * activation @a) + bias[r] (+ 0.0f without one, as the rows4 path adds it),
 * for r in [r0, r1) in whole tiles of 8; returns the rows done
 */
int64_t kn_avx512_gemv_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a,
			    const float *bias, float *out, int64_t r0, int64_t r1)
{
	return kn_g80_gemv(n_in, w, wrs, a, bias, out, r0, r1, kn_g80_seed, kn_g80_dot);
}
