/* SPDX-License-Identifier: MIT */
/*
 * kernels/cpu private: the Q8_0 decode tile loop in ggml_vec_dot_q8_0_q8_0's
 * order (kn_ref_dot_q8_0), shared by kn_gemv_q8_0_avx2.c and
 * kn_gemv_q8_0_avx512.c, which differ only in how a row's 8 lane sums of a
 * block are formed (kn_g80_dot_fn, with what kn_g80_seed_fn makes once per
 * activation block for the 8 rows). Included only by files compiled with
 * AVX2 (and F16C, FMA).
 */
#ifndef KN_GEMV_Q8_0_H
#define KN_GEMV_Q8_0_H

#include "kn_avx2.h"

#define KN_G80_CHUNK	8	/* blocks whose scales are converted at once */

/* the chunk's blocks of the tile's row k (x, x4: rows 0 and 4's first; 3 * wrs
 * is the only offset an address cannot scale: 6 registers address 16 rows) */
#define KN_G80_X(k)	((const kn_block_q8_0 *)(((k) < 4 ? x : x4) + ((k) & 3) * wrs))
#define KN_G80_P(k)	((const char *)(((k) < 4 ? p : p4) + ((k) & 3) * wrs))

/* what the 8 rows' sums against the activation block @yv share */
typedef __m256i (*kn_g80_seed_fn)(__m256i yv);
/* the 8 lane sums (elements 4l..4l+3) of weights @q times @yv, exact */
typedef __m256i (*kn_g80_dot_fn)(__m256i q, __m256i yv, __m256i seed);

/*
 * out[r] = vec_dot(row r (rows of @wrs bytes), the Q8_0 activation @a) +
 * bias[r] (+ 0.0f without one, as the rows4 path adds it), for r in [r0, r1)
 * in whole tiles of 8; returns the rows done. @seed and @dot are inlined (constants
 * in an always_inline body).
 */
static inline __attribute__((always_inline)) int64_t
kn_g80_gemv(int64_t n_in, const void *w, size_t wrs, const void *a, const float *bias, float *out,
	    int64_t r0, int64_t r1, kn_g80_seed_fn seed, kn_g80_dot_fn dot)
{
	const int64_t nb = n_in / KN_QK8_0;
	const kn_block_q8_0 *y = a;
	int64_t r;

	for (r = r0; r + 8 <= r1; r += 8) {
		const uint8_t *x = (const uint8_t *)w + (size_t)r * wrs, *x4 = x + 4 * wrs;
		/* decode streams W once: fetch the tile after next into L2 (a tile is
		 * 35 KB at 4096 columns, more than L1), the last two this one again */
		const uint8_t *p = r + 24 <= r1 ? x + 16 * wrs : x, *p4 = p + 4 * wrs;
		__m256 acc[8];

		_Pragma("GCC unroll 8")
		for (int k = 0; k < 8; k++)
			acc[k] = _mm256_setzero_ps();
		for (int64_t i0 = 0; i0 < nb; i0 += KN_G80_CHUNK) {
			const int nbk = nb - i0 < KN_G80_CHUNK ? (int)(nb - i0) : KN_G80_CHUNK;
			/* each row's d_w * d_a, broadcast from here by a load: kept in
			 * registers, the 8 broadcasts would cost 8 to 16 lane shuffles */
			float dd[KN_G80_CHUNK][8] __attribute__((aligned(32)));

			for (int j = 0; j < nbk; j++) {
				const __m128i dh = _mm_setr_epi16(
					(short)KN_G80_X(0)[j].d, (short)KN_G80_X(1)[j].d,
					(short)KN_G80_X(2)[j].d, (short)KN_G80_X(3)[j].d,
					(short)KN_G80_X(4)[j].d, (short)KN_G80_X(5)[j].d,
					(short)KN_G80_X(6)[j].d, (short)KN_G80_X(7)[j].d);

				_mm256_store_ps(dd[j], _mm256_mul_ps(_mm256_cvtph_ps(dh),
						_mm256_set1_ps(kn_avx2_h2f(y[i0 + j].d))));
			}
			for (int j = 0; j < nbk; j++) {
				const __m256i yv = _mm256_loadu_si256((const __m256i *)y[i0 + j].qs);
				const __m256i c = seed(yv);

				_Pragma("GCC unroll 8")
				for (int k = 0; k < 8; k++) {
					const __m256i q = _mm256_loadu_si256(
						(const __m256i *)KN_G80_X(k)[j].qs);

					/* a block is 34 bytes: every cache line is met */
					_mm_prefetch(KN_G80_P(k) + j * sizeof(kn_block_q8_0), _MM_HINT_T1);
					acc[k] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dd[j][k]),
						_mm256_cvtepi32_ps(dot(q, yv, c)), acc[k]);
				}
			}
			x += nbk * sizeof(kn_block_q8_0), x4 += nbk * sizeof(kn_block_q8_0);
			p += nbk * sizeof(kn_block_q8_0), p4 += nbk * sizeof(kn_block_q8_0);
		}
		_Pragma("GCC unroll 8")
		for (int k = 0; k < 8; k++)
			out[r + k] = kn_avx2_hsum_ps(acc[k]) + (bias ? bias[r + k] : 0.0f);
	}
	return r - r0;
}

#endif
