/* SPDX-License-Identifier: MIT */
/*
 * kernels/cpu private: the Q4_0 decode tile loop in llama.cpp's repacked gemv
 * order (kn_ref_dot_q4_0_x8), shared by kn_gemv_q4_0_avx2.c and
 * kn_gemv_q4_0_avx512.c, which differ only in how a pair of rows' partial
 * block sums are formed (kn_g40_pair_fn). Included only by files compiled
 * with AVX2 (and F16C, FMA).
 */
#ifndef KN_GEMV_Q4_0_H
#define KN_GEMV_Q4_0_H

#include "kn_avx2.h"

/* block i's row k of the tile (x, x4: rows 0 and 4's block i; 3 * wrs is the
 * only offset an address cannot scale: 6 registers address 16 rows) */
#define KN_G40_X(k)	((const kn_block_q4_0 *)(((k) < 4 ? x : x4) + ((k) & 3) * wrs))
#define KN_G40_P(k)	((const char *)(((k) < 4 ? p : p4) + ((k) & 3) * wrs))

/* q . y (nibbles unsigned) of rows @xa (low half) and @xb (high half): 4 partial sums each */
typedef __m256i (*kn_g40_pair_fn)(const kn_block_q4_0 *xa, const kn_block_q4_0 *xb, __m256i yl,
				  __m256i yh);

/*
 * out[r] = the repacked-order dot of row r (rows of @wrs bytes) with the Q8_0
 * activation @a, + bias[r] (+ 0.0f without one, as the rows4 path adds it),
 * for r in [r0, r1) in whole tiles of 8; returns the rows done (none where
 * n_in is longer than the activation scratch holds). @pair is inlined (a
 * constant in an always_inline body).
 */
static inline __attribute__((always_inline)) int64_t
kn_g40_gemv(int64_t n_in, const void *w, size_t wrs, const void *a, const float *bias, float *out,
	    int64_t r0, int64_t r1, kn_g40_pair_fn pair)
{
	const int64_t nb = n_in / KN_QK4_0;
	const kn_block_q8_0 *y = a;
	/* the tile's lanes hold rows 0 2 4 6 1 3 5 7 (the hadd tree's order) */
	const __m256i unperm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	int32_t s8[KN_G40_MAXB];
	float da[KN_G40_MAXB];
	int64_t r;

	if (nb > KN_G40_MAXB)
		return 0;
	for (int64_t i = 0; i < nb; i++) {
		const __m256i q = _mm256_loadu_si256((const __m256i *)y[i].qs);

		s8[i] = 8 * kn_avx2_hsum_epi32(kn_avx2_dot_us8(_mm256_set1_epi8(1), q));
		da[i] = kn_avx2_h2f(y[i].d);
	}
	for (r = r0; r + 8 <= r1; r += 8) {
		/* decode streams W once: fetch the tile after next into L2 (a tile is
		 * 18 KB at 4096 columns, two do not stay in L1 beside the rest); the
		 * last two tiles fetch their own lines again */
		const uint8_t *x = (const uint8_t *)w + (size_t)r * wrs, *x4 = x + 4 * wrs;
		const uint8_t *p = r + 24 <= r1 ? x + 16 * wrs : x, *p4 = p + 4 * wrs;
		__m256 acc = _mm256_setzero_ps();
		float o[8];

		for (int64_t i = 0; i < nb; i++) {
			const __m256i yl = _mm256_broadcastsi128_si256(
				_mm_loadu_si128((const __m128i *)y[i].qs));
			const __m256i yh = _mm256_broadcastsi128_si256(
				_mm_loadu_si128((const __m128i *)(y[i].qs + 16)));
			const __m256i h0 = _mm256_hadd_epi32(pair(KN_G40_X(0), KN_G40_X(1), yl, yh),
							     pair(KN_G40_X(2), KN_G40_X(3), yl, yh));
			const __m256i h1 = _mm256_hadd_epi32(pair(KN_G40_X(4), KN_G40_X(5), yl, yh),
							     pair(KN_G40_X(6), KN_G40_X(7), yl, yh));
			const __m256i t = _mm256_sub_epi32(_mm256_hadd_epi32(h0, h1),
							   _mm256_set1_epi32(s8[i]));
			/* the 8 scales packed in general registers: 3 vector operations, not 11 */
			const uint64_t d0246 = (uint64_t)KN_G40_X(0)->d | (uint64_t)KN_G40_X(2)->d << 16 |
					       (uint64_t)KN_G40_X(4)->d << 32 | (uint64_t)KN_G40_X(6)->d << 48;
			const uint64_t d1357 = (uint64_t)KN_G40_X(1)->d | (uint64_t)KN_G40_X(3)->d << 16 |
					       (uint64_t)KN_G40_X(5)->d << 32 | (uint64_t)KN_G40_X(7)->d << 48;
			const __m128i dh = _mm_unpacklo_epi64(_mm_cvtsi64_si128((long long)d0246),
							      _mm_cvtsi64_si128((long long)d1357));

			/* every other block: a cache line holds 3.5 blocks */
			if (!(i & 1))
				_Pragma("GCC unroll 8")
				for (int k = 0; k < 8; k++)
					_mm_prefetch(KN_G40_P(k), _MM_HINT_T1);
			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t),
					      _mm256_mul_ps(_mm256_cvtph_ps(dh),
							    _mm256_set1_ps(da[i])), acc);
			x += sizeof(kn_block_q4_0), x4 += sizeof(kn_block_q4_0);
			p += sizeof(kn_block_q4_0), p4 += sizeof(kn_block_q4_0);
		}
		_mm256_storeu_ps(o, _mm256_permutevar8x32_ps(acc, unperm));
		for (int k = 0; k < 8; k++)
			out[r + k] = o[k] + (bias ? bias[r + k] : 0.0f);
	}
	return r - r0;
}

#endif
