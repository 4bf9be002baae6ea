// SPDX-License-Identifier: MIT
/*
 * Decode (one activation column) of a Q4_0 matrix in llama.cpp's repacked
 * order (see kn_q4_0_x8_avx2.c: per row, acc = fma(isum_b, d_w * d_a, acc)
 * over the blocks in order, isum_b the block's exact integer dot) on
 * AVX-512 VNNI, 4 rows a call, bit-identical to kn_avx2_rows4_q4_0_x8 and
 * to kn_ref_dot_q4_0_x8.
 *
 * One zmm holds a block of all 4 rows (16 bytes of nibbles each, a 128-bit
 * lane a row): two vpdpbusd against the block's low and high 16
 * activations, broadcast to every lane, give each row 4 partial sums,
 * their accumulator seeded with -8 sum(y) per lane (shared by the rows) so
 * the nibbles' offset costs nothing per row. Two blocks' sums are folded
 * to 8 totals at once; their 4 rows' scale products come from block
 * headers gathered 4 blocks x 4 rows a vector. The AVX2 form spends most
 * of its time unpacking each row apart and folding 4 vectors per block.
 */
#include <immintrin.h>
#include "kn_internal.h"

#pragma GCC optimize("fp-contract=off")

#define KN_X5_CHUNK	16	/* blocks whose scales are converted at once */

void kn_avx512_rows4_q4_0_x8(int64_t n, const void *vw, size_t ws, const void *va, float *out);

/* block @b's 4 rows' sums: lane group r (128 bits) holds row r's 4 partial sums */
static inline __m512i kn_x5_block(const kn_block_q4_0 *x, size_t ws, const kn_block_q8_0 *y)
{
	const __m512i m = _mm512_set1_epi8(0x0F);
	const __m128i ones = _mm_set1_epi8(1);
	const __m128i ylo = _mm_loadu_si128((const __m128i *)y->qs);
	const __m128i yhi = _mm_loadu_si128((const __m128i *)(y->qs + 16));
	/* -8 sum(y) per lane: the nibbles' offset of 8, for every row */
	const __m128i c = _mm_dpbusd_epi32(_mm_dpbusd_epi32(_mm_setzero_si128(), ones, ylo),
					   ones, yhi);
	const __m512i neg = _mm512_broadcast_i32x4(_mm_sub_epi32(_mm_setzero_si128(),
								 _mm_slli_epi32(c, 3)));
	__m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)x->qs));

	z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)
		((const uint8_t *)x->qs + ws)), 1);
	z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)
		((const uint8_t *)x->qs + 2 * ws)), 2);
	z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)
		((const uint8_t *)x->qs + 3 * ws)), 3);
	return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(neg, _mm512_and_si512(z, m),
						       _mm512_broadcast_i32x4(ylo)),
				   _mm512_and_si512(_mm512_srli_epi16(z, 4), m),
				   _mm512_broadcast_i32x4(yhi));
}

/**
 * kn_avx512_rows4_q4_0_x8 - out[r] = the repacked-order dot of row r (@ws
 * bytes apart, r = 0..3) with the Q8_0 activation @va, n elements
 */
void kn_avx512_rows4_q4_0_x8(int64_t n, const void *vw, size_t ws, const void *va, float *out)
{
	const kn_block_q4_0 *w = vw;
	const kn_block_q8_0 *a = va;
	const int64_t nb = n / KN_QK4_0;
	const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
	/* lane 4k + r: block k of row r (headers), block k of the activation */
	const __m512i hidx = _mm512_add_epi32(
		_mm512_mullo_epi32(_mm512_srli_epi32(lane, 2), _mm512_set1_epi32(sizeof(*w))),
		_mm512_mullo_epi32(_mm512_and_si512(lane, _mm512_set1_epi32(3)),
				   _mm512_set1_epi32((int)ws)));
	const __m512i aidx = _mm512_mullo_epi32(lane, _mm512_set1_epi32(sizeof(*a)));
	/* two blocks' folded totals, rows 0..3 of the first then of the second */
	const __m512i pick2 = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 13, 9, 5, 1, 12, 8, 4, 0);
	float dd[4 * KN_X5_CHUNK] __attribute__((aligned(64)));
	__m128 acc = _mm_setzero_ps();

	for (int64_t i0 = 0; i0 < nb; i0 += KN_X5_CHUNK) {
		const int nbk = nb - i0 < KN_X5_CHUNK ? (int)(nb - i0) : KN_X5_CHUNK;
		const __mmask16 am = nbk >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nbk) - 1);
		const __m512 da = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_mask_i32gather_epi32(
			_mm512_setzero_si512(), am, aidx, a + i0, 1)));
		int j = 0;

		for (int g = 0; 4 * g < nbk; g++) {
			const int kk = nbk - 4 * g < 4 ? nbk - 4 * g : 4;
			const __mmask16 m = (__mmask16)((1u << (4 * kk)) - 1);
			const __m512i hw = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, hidx,
								       w + i0 + 4 * g, 1);
			const __m512 dak = _mm512_permutexvar_ps(
				_mm512_add_epi32(_mm512_srli_epi32(lane, 2), _mm512_set1_epi32(4 * g)),
				da);

			_mm512_store_ps(dd + 16 * g,
					_mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(hw)), dak));
		}
		for (; j + 2 <= nbk; j += 2) {
			const kn_block_q4_0 *x = w + i0 + j;
			const __m512i s0 = kn_x5_block(x, ws, a + i0 + j);
			const __m512i s1 = kn_x5_block(x + 1, ws, a + i0 + j + 1);
			/* per row: [s0 0+2, s1 0+2, s0 1+3, s1 1+3], then the totals twice */
			const __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi32(s0, s1),
							   _mm512_unpackhi_epi32(s0, s1));
			const __m512i v = _mm512_add_epi32(u, _mm512_shuffle_epi32(u, 0x4E));
			const __m256 f = _mm256_cvtepi32_ps(_mm512_castsi512_si256(
				_mm512_permutexvar_epi32(pick2, v)));

			for (int r = 0; r < 4; r++)
				_mm_prefetch((const char *)x + (4 + r) * ws, _MM_HINT_T0);
			acc = _mm_fmadd_ps(_mm256_castps256_ps128(f), _mm_load_ps(dd + 4 * j), acc);
			acc = _mm_fmadd_ps(_mm256_extractf128_ps(f, 1), _mm_load_ps(dd + 4 * j + 4),
					   acc);
		}
		if (j < nbk) {
			const __m512i s = kn_x5_block(w + i0 + j, ws, a + i0 + j);
			const __m512i u = _mm512_add_epi32(s, _mm512_shuffle_epi32(s, 0x4E));
			const __m512i v = _mm512_add_epi32(u, _mm512_shuffle_epi32(u, 0xB1));
			const __m128 f = _mm_cvtepi32_ps(_mm512_castsi512_si128(
				_mm512_permutexvar_epi32(pick2, v)));

			acc = _mm_fmadd_ps(f, _mm_load_ps(dd + 4 * j), acc);
		}
	}
	_mm_storeu_ps(out, acc);
}
