// SPDX-License-Identifier: MIT
/*
 * Q8_0 . Q8_0 products of many activation columns (prefill) on AVX2,
 * bit-identical to the one-column dot (8 float lanes per output, lane l of
 * block b getting fma(d_w * d_a, isum over elements 4l..4l+3, lane), summed
 * as hsum_float_8 at the end; see kn_gemm_q8_0_avx512.c for why that is
 * llama.cpp's order for every Q8_0 product).
 *
 * A register tile is 2 rows x 3 columns (6 accumulators of 16 ymm): each
 * row's |w| is formed once per block for the 3 columns, each column's
 * activations loaded once for the 2 rows, and the two scale products
 * d_w * d_a of a column come from one multiply. The integer sums stay
 * ggml's (|w| . sign(y, w) by vpmaddubsw, pairs by vpmaddwd), which AVX2
 * has no cheaper exact form of. The activation scales as floats, 64
 * columns at a time, in a heap copy owned by the call (4 bytes per column
 * and block), the row pair's weight scales beside them (8 bytes a block,
 * made once for every column); without it the caller's per-row dots do the work.
 */
#include <stdlib.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

#define KN_H2_ROWS	2	/* rows per register tile */
#define KN_H2_COLS	4	/* columns per register tile */
#define KN_H2_CT	64	/* columns whose scales are converted at once */

int64_t kn_avx2_gemm_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			  int64_t r0, int64_t r1);

/* hsum_float_8's order, as kn_avx2_hsum_ps */
static inline float kn_h2_hsum8(__m256 x)
{
	return kn_avx2_hsum_ps(x);
}

/*
 * NC columns (@ys their blocks, @yd[b * ydn + c] their scales) x rows @x0, @x1
 * (@xd: their scales as floats, 4 copies of each per block). vpsignb runs on
 * the two ports that every other step of the product needs too: the sign
 * of y is taken instead as (y ^ m) - m with m = (w < 0) per byte, which is
 * vpsignb's result wherever w != 0 (w == 0 is multiplied by |w| = 0), and
 * its two steps may run on the third vector port. The scale products of a
 * block (2 rows x 4 columns) come from one multiply and are broadcast from
 * memory, the load ports being idle.
 */
static inline __attribute__((always_inline)) void
kn_h2_tile(const int NC, const kn_block_q8_0 *x0, const kn_block_q8_0 *x1, const float *xd,
	   const kn_block_q8_0 *const *ys, const float *yd, int64_t ydn, int64_t nb, float *out,
	   int64_t n_rows, const float *bias)
{
	const __m256i ones = _mm256_set1_epi16(1), zero = _mm256_setzero_si256();
	__m256 acc[KN_H2_ROWS][KN_H2_COLS];
	float dd[8] __attribute__((aligned(32)));

	_Pragma("GCC unroll 4")
	for (int i = 0; i < NC; i++)
		acc[0][i] = acc[1][i] = _mm256_setzero_ps();
	for (int64_t b = 0; b < nb; b++) {
		const __m256i w0 = _mm256_loadu_si256((const __m256i *)x0[b].qs);
		const __m256i w1 = _mm256_loadu_si256((const __m256i *)x1[b].qs);
		const __m256i u0 = _mm256_abs_epi8(w0), u1 = _mm256_abs_epi8(w1);
		const __m256i m0 = _mm256_cmpgt_epi8(zero, w0), m1 = _mm256_cmpgt_epi8(zero, w1);

		/* lanes d_w0 d_a(c), c = 0..3, then d_w1 d_a(c) */
		_mm256_store_ps(dd, _mm256_mul_ps(_mm256_loadu_ps(xd + 8 * b),
				_mm256_broadcast_ps((const __m128 *)(yd + b * ydn))));
		_Pragma("GCC unroll 4")
		for (int i = 0; i < NC; i++) {
			const __m256i y = _mm256_loadu_si256((const __m256i *)ys[i][b].qs);
			const __m256i s0 = _mm256_madd_epi16(_mm256_maddubs_epi16(u0,
					_mm256_sub_epi8(_mm256_xor_si256(y, m0), m0)), ones);
			const __m256i s1 = _mm256_madd_epi16(_mm256_maddubs_epi16(u1,
					_mm256_sub_epi8(_mm256_xor_si256(y, m1), m1)), ones);

			acc[0][i] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd + i),
						    _mm256_cvtepi32_ps(s0), acc[0][i]);
			acc[1][i] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd + 4 + i),
						    _mm256_cvtepi32_ps(s1), acc[1][i]);
		}
	}
	_Pragma("GCC unroll 4")
	for (int i = 0; i < NC; i++) {
		out[i * n_rows] = kn_h2_hsum8(acc[0][i]) + (bias ? bias[0] : 0.0f);
		out[i * n_rows + 1] = kn_h2_hsum8(acc[1][i]) + (bias ? bias[1] : 0.0f);
	}
}

/**
 * kn_avx2_gemm_q8_0 - kn_avx512_gemm_q8_0 on AVX2: the rows
 * [r0, r0 + 2 floor((r1 - r0) / 2)) for every column; returns the rows done
 * (0 where the scales' copy could not be allocated)
 */
int64_t kn_avx2_gemm_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			  int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK8_0, rn = (r1 - r0) / KN_H2_ROWS * KN_H2_ROWS;
	const int64_t ct_max = n_cols < KN_H2_CT ? n_cols : KN_H2_CT;
	/* a block's column scales, padded so a tile's 4 always lie inside */
	const int64_t ydn = (ct_max + 3) / 4 * 4 + 4;
	float *yd, *xd;

	if (rn <= 0 || n_in % KN_QK8_0 || n_cols <= 0)
		return 0;
	yd = calloc((size_t)(ydn + 8) * nb, sizeof(float));
	if (!yd)
		return 0;
	xd = yd + ydn * nb;
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_H2_CT) {
		const int ct = n_cols - c0 < KN_H2_CT ? (int)(n_cols - c0) : KN_H2_CT;

		for (int c = 0; c < ct; c++) {
			const kn_block_q8_0 *y = (const kn_block_q8_0 *)((const uint8_t *)a +
									 (size_t)(c0 + c) * ars);

			for (int64_t b = 0; b < nb; b++)
				yd[b * ydn + c] = kn_avx2_h2f(y[b].d);
		}
		for (int64_t r = r0; r < r0 + rn; r += KN_H2_ROWS) {
			const kn_block_q8_0 *x0 = (const kn_block_q8_0 *)((const uint8_t *)w + r * wrs);
			const kn_block_q8_0 *x1 = (const kn_block_q8_0 *)((const uint8_t *)w +
									  (r + 1) * wrs);

			for (int64_t b = 0; b < nb; b++) {
				const float d0 = kn_avx2_h2f(x0[b].d), d1 = kn_avx2_h2f(x1[b].d);

				for (int k = 0; k < 4; k++)
					xd[8 * b + k] = d0, xd[8 * b + 4 + k] = d1;
			}
			for (int c = 0; c < ct; c += KN_H2_COLS) {
				const int nc = ct - c < KN_H2_COLS ? ct - c : KN_H2_COLS;
				const kn_block_q8_0 *ys[KN_H2_COLS];
				float *o = out + (c0 + c) * n_rows + r;
				const float *br = bias ? bias + r : NULL;

				for (int i = 0; i < nc; i++)
					ys[i] = (const kn_block_q8_0 *)((const uint8_t *)a +
									(size_t)(c0 + c + i) * ars);
				if (nc == 4)
					kn_h2_tile(4, x0, x1, xd, ys, yd + c, ydn, nb, o, n_rows, br);
				else if (nc == 3)
					kn_h2_tile(3, x0, x1, xd, ys, yd + c, ydn, nb, o, n_rows, br);
				else if (nc == 2)
					kn_h2_tile(2, x0, x1, xd, ys, yd + c, ydn, nb, o, n_rows, br);
				else
					kn_h2_tile(1, x0, x1, xd, ys, yd + c, ydn, nb, o, n_rows, br);
			}
		}
	}
	free(yd);
	return rn;
}
