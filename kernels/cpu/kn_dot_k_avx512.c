// SPDX-License-Identifier: MIT
/*
 * AVX-512 (BW + VNNI machines) dots for the K-quants Q4_K and Q6_K against
 * Q8_K activations: one dot, one row . 4 and 8 columns (prefill; decode
 * takes kn_q4_K_x8_avx512.c's gemv for Q4_K matrices of 8k rows, kn_rows4_avx2.c's
 * for the others, and kn_gemv_k_avx512.c's Q6_K). Each
 * super-block's integer sums are formed 512 bits at a time (two 32-byte sub-block products per maddubs/madd, the weights
 * unpacked once per tile), then folded to the 8 int32 lanes that
 * kn_dot_avx2.c / ggml-cpu's AVX2 code hold: the integer work is exact (no
 * maddubs pair can saturate: 63 x 128 x 2 < 2^15), so every lane holds the
 * same integer, and the float steps (the per-super-block fmadd, Q4_K's mins
 * in a 4-lane accumulator, the final sums) are those of the AVX2 dot in the
 * same order. Results are therefore bit-identical to kn_avx2_dot_q4_K/_q6_K,
 * to the scalar kn_dot.c ones and to llama.cpp's x86 builds.
 */
#include <immintrin.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

float kn_avx512_dot_q4_K(int64_t n, const void *w, const void *a);
void kn_avx512_dot4_q4_K(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx512_dot8_q4_K(int64_t n, const void *w, const void *a, size_t as, float *out);
float kn_avx512_dot_q6_K(int64_t n, const void *w, const void *a);
void kn_avx512_dot4_q6_K(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx512_dot8_q6_K(int64_t n, const void *w, const void *a, size_t as, float *out);

#define KN_AT(T, base, stride, k) ((const T *)((const uint8_t *)(base) + (size_t)(k) * (stride)))

/* the 8 lanes of a 512-bit integer sum as the AVX2 code holds them */
static inline __m256i kn_avx512_fold(__m512i s)
{
	return _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
}

/* the four horizontal steps kn_avx2_dot_q4_K ends its min accumulator with */
static inline float kn_avx512_sum4(__m128 m)
{
	m = _mm_add_ps(m, _mm_movehl_ps(m, m));
	m = _mm_add_ss(m, _mm_movehdup_ps(m));
	return _mm_cvtss_f32(m);
}

/*
 * NR rows (@ws apart) x NC columns (@as apart), out[r * NC + c]; NR or NC is 1.
 * Per super-block and row: the scales broadcast per sub-block pair, the
 * nibbles of each 32-byte group as [low | high] in one register, so one
 * maddubs + madd covers the two sub-blocks that the AVX2 code does as pl, ph.
 */
static inline __attribute__((always_inline)) void
kn_avx512_tile_q4_K(const int NR, const int NC, int64_t n, const void *vw, size_t ws,
		    const void *va, size_t as, float *out)
{
	const __m512i m4 = _mm512_set1_epi8(0x0F);
	const int64_t nb = n / KN_QK_K;
	__m256 acc[NR * NC];
	__m128 accm[NR * NC];

	_Pragma("GCC unroll 8")
	for (int k = 0; k < NR * NC; k++) {
		acc[k] = _mm256_setzero_ps();
		accm[k] = _mm_setzero_ps();
	}
	for (int64_t i = 0; i < nb; i++) {
		uint32_t u[NR][4];
		__m512i sum[NR * NC];

		_Pragma("GCC unroll 8")
		for (int r = 0; r < NR; r++) {
			const kn_block_q4_K *x = KN_AT(kn_block_q4_K, vw, ws, r) + i;

			kn_q4_K_scales_mins(x->scales, u[r]);
			_Pragma("GCC unroll 8")
			for (int c = 0; c < NC; c++) {
				const kn_block_q8_K *y = KN_AT(kn_block_q8_K, va, as, c) + i;
				const float dmin = -y->d * kn_avx2_h2f(x->dmin);

				accm[r * NC + c] = _mm_fmadd_ps(_mm_set1_ps(dmin),
					_mm_cvtepi32_ps(kn_avx2_mins_prod((const uint8_t *)&u[r][2],
									  y->bsums)),
					accm[r * NC + c]);
				sum[r * NC + c] = _mm512_setzero_si512();
			}
		}
		_Pragma("GCC unroll 4")
		for (int j = 0; j < 4; j++) {
			__m512i q[NR], s[NR];

			_Pragma("GCC unroll 8")
			for (int r = 0; r < NR; r++) {
				const kn_block_q4_K *x = KN_AT(kn_block_q4_K, vw, ws, r) + i;
				const __m256i b = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * j));
				const uint8_t *sc = (const uint8_t *)u[r];

				q[r] = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(b),
						_mm256_srli_epi16(b, 4), 1), m4);
				s[r] = _mm512_inserti64x4(
					_mm512_castsi256_si512(_mm256_set1_epi16(sc[2 * j])),
					_mm256_set1_epi16(sc[2 * j + 1]), 1);
			}
			_Pragma("GCC unroll 8")
			for (int c = 0; c < NC; c++) {
				const kn_block_q8_K *y = KN_AT(kn_block_q8_K, va, as, c) + i;
				const __m512i v = _mm512_loadu_si512((const void *)(y->qs + 64 * j));

				_Pragma("GCC unroll 8")
				for (int r = 0; r < NR; r++)
					sum[r * NC + c] = _mm512_add_epi32(sum[r * NC + c],
						_mm512_madd_epi16(_mm512_maddubs_epi16(q[r], v), s[r]));
			}
		}
		_Pragma("GCC unroll 8")
		for (int r = 0; r < NR; r++) {
			const kn_block_q4_K *x = KN_AT(kn_block_q4_K, vw, ws, r) + i;

			_Pragma("GCC unroll 8")
			for (int c = 0; c < NC; c++) {
				const kn_block_q8_K *y = KN_AT(kn_block_q8_K, va, as, c) + i;
				const float d = y->d * kn_avx2_h2f(x->d);

				acc[r * NC + c] = _mm256_fmadd_ps(_mm256_set1_ps(d),
					_mm256_cvtepi32_ps(kn_avx512_fold(sum[r * NC + c])),
					acc[r * NC + c]);
			}
		}
	}
	_Pragma("GCC unroll 8")
	for (int k = 0; k < NR * NC; k++)
		out[k] = kn_avx2_hsum_ps(acc[k]) + kn_avx512_sum4(accm[k]);
}

/*
 * Q6_K: each half super-block's 128 values as two registers of [q0 | q1] and
 * [q2 | q3] (the AVX2 code's four 256-bit groups), the high 2 bits shifted
 * per 256-bit half; the scales of four 16-value groups per register.
 */
static inline __attribute__((always_inline)) void
kn_avx512_tile_q6_K(const int NR, const int NC, int64_t n, const void *vw, size_t ws,
		    const void *va, size_t as, float *out)
{
	const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(3);
	const __m512i sh01 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
	const __m512i sh23 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
	/* 16-bit lane l of [sc0 x8, sc1 x8, sc2 x8, sc3 x8] (and sc4-7) */
	const __m512i i01 = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2,
					     1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
	const __m512i i23 = _mm512_add_epi16(i01, _mm512_set1_epi16(4));
	const int64_t nb = n / KN_QK_K;
	__m256 acc[NR * NC];

	_Pragma("GCC unroll 8")
	for (int k = 0; k < NR * NC; k++)
		acc[k] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		__m512i sum[NR * NC];

		_Pragma("GCC unroll 8")
		for (int k = 0; k < NR * NC; k++)
			sum[k] = _mm512_setzero_si512();
		_Pragma("GCC unroll 2")
		for (int h = 0; h < 2; h++) {
			__m512i q01[NR], q23[NR], s01[NR], s23[NR];

			_Pragma("GCC unroll 8")
			for (int r = 0; r < NR; r++) {
				const kn_block_q6_K *x = KN_AT(kn_block_q6_K, vw, ws, r) + i;
				const __m512i l = _mm512_loadu_si512((const void *)(x->ql + 64 * h));
				const __m256i hb = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
				const __m512i hh = _mm512_inserti64x4(_mm512_castsi256_si512(hb), hb, 1);
				const __m512i sc = _mm512_castsi128_si512(_mm_cvtepi8_epi16(
					_mm_loadl_epi64((const __m128i *)(x->scales + 8 * h))));

				q01[r] = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_slli_epi16(
					_mm512_and_si512(_mm512_srlv_epi16(hh, sh01), m2), 4));
				q23[r] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
					_mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(hh, sh23), m2),
							  4));
				s01[r] = _mm512_permutexvar_epi16(i01, sc);
				s23[r] = _mm512_permutexvar_epi16(i23, sc);
			}
			_Pragma("GCC unroll 8")
			for (int c = 0; c < NC; c++) {
				const kn_block_q8_K *y = KN_AT(kn_block_q8_K, va, as, c) + i;
				const __m512i v01 = _mm512_loadu_si512((const void *)(y->qs + 128 * h));
				const __m512i v23 = _mm512_loadu_si512((const void *)(y->qs + 128 * h + 64));

				_Pragma("GCC unroll 8")
				for (int r = 0; r < NR; r++) {
					const __m512i p = _mm512_add_epi32(
						_mm512_madd_epi16(_mm512_maddubs_epi16(q01[r], v01), s01[r]),
						_mm512_madd_epi16(_mm512_maddubs_epi16(q23[r], v23), s23[r]));

					sum[r * NC + c] = _mm512_add_epi32(sum[r * NC + c], p);
				}
			}
		}
		_Pragma("GCC unroll 8")
		for (int r = 0; r < NR; r++) {
			const kn_block_q6_K *x = KN_AT(kn_block_q6_K, vw, ws, r) + i;

			_Pragma("GCC unroll 8")
			for (int c = 0; c < NC; c++) {
				const kn_block_q8_K *y = KN_AT(kn_block_q8_K, va, as, c) + i;
				const float d = y->d * kn_avx2_h2f(x->d);
				const __m256i si = _mm256_sub_epi32(kn_avx512_fold(sum[r * NC + c]),
					kn_avx2_q6_corr(x->scales, y->bsums));

				acc[r * NC + c] = _mm256_fmadd_ps(_mm256_set1_ps(d),
								  _mm256_cvtepi32_ps(si),
								  acc[r * NC + c]);
			}
		}
	}
	_Pragma("GCC unroll 8")
	for (int k = 0; k < NR * NC; k++)
		out[k] = kn_avx2_hsum_ps(acc[k]);
}

float kn_avx512_dot_q4_K(int64_t n, const void *w, const void *a)
{
	float out;

	kn_avx512_tile_q4_K(1, 1, n, w, 0, a, 0, &out);
	return out;
}

void kn_avx512_dot4_q4_K(int64_t n, const void *w, const void *a, size_t as, float *out)
{
	kn_avx512_tile_q4_K(1, 4, n, w, 0, a, as, out);
}

void kn_avx512_dot8_q4_K(int64_t n, const void *w, const void *a, size_t as, float *out)
{
	kn_avx512_tile_q4_K(1, 8, n, w, 0, a, as, out);
}

float kn_avx512_dot_q6_K(int64_t n, const void *w, const void *a)
{
	float out;

	kn_avx512_tile_q6_K(1, 1, n, w, 0, a, 0, &out);
	return out;
}

void kn_avx512_dot4_q6_K(int64_t n, const void *w, const void *a, size_t as, float *out)
{
	kn_avx512_tile_q6_K(1, 4, n, w, 0, a, as, out);
}

void kn_avx512_dot8_q6_K(int64_t n, const void *w, const void *a, size_t as, float *out)
{
	kn_avx512_tile_q6_K(1, 8, n, w, 0, a, as, out);
}
