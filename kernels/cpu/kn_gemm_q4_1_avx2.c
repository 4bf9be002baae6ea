// SPDX-License-Identifier: MIT
/*
 * Q4_1 . Q8_1 products of many activation columns (prefill) on AVX2,
 * bit-identical to the one-column dot (kn_dot_avx2.c), which is llama.cpp's
 * ggml_vec_dot_q4_1_q8_1: llama.cpp neither repacks Q4_1 nor gives it to
 * llamafile's tinyBLAS, so every Q4_1 output of a batch is that vec_dot.
 * Per output: 8 float lanes, lane l of block b getting
 * fma(d_w * d_a, isum(nibbles 4l..4l+3 . y), lane); beside them the min
 * term's scalar chain summs = fma(m_w, s_a, summs) in block order (GCC
 * contracts llama.cpp's summs += m * s); the result hsum_float_8 + summs.
 *
 * A register tile is 2 rows x 4 columns (8 accumulators of 16 ymm): each
 * row's nibbles are unpacked once per block for the 4 columns, each
 * column's bytes loaded once for the 2 rows. The 8 scale products of a
 * block come from one multiply (and are broadcast from memory, the load
 * ports being idle), the 8 min chains of the tile run as the 8 lanes of
 * one fma. The activation scales and sums as floats, 64 columns at a time,
 * block-major in a heap copy owned by the call, the row pair's weight
 * scales and mins beside them.
 */
#include <stdlib.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

#define KN_G41_ROWS	2	/* rows per register tile */
#define KN_G41_COLS	4	/* columns per register tile */
#define KN_G41_CT	64	/* columns whose scales are converted at once */

int64_t kn_avx2_gemm_q4_1(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			  int64_t r0, int64_t r1);

/*
 * NC columns (@ys their blocks; @yd[b * ydn + c] their scales, @ysm the
 * same for their sums) x rows @x0, @x1 (@xd, @xm: their scales and mins as
 * floats, 4 copies of row 0's then 4 of row 1's per block)
 */
static inline __attribute__((always_inline)) void
kn_g41_tile(const int NC, const kn_block_q4_1 *x0, const kn_block_q4_1 *x1, const float *xd,
	    const float *xm, const kn_block_q8_1 *const *ys, const float *yd, const float *ysm,
	    int64_t ydn, int64_t nb, float *out, int64_t n_rows, const float *bias)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256 acc[KN_G41_ROWS][KN_G41_COLS];
	__m256 summs = _mm256_setzero_ps();
	float dd[8] __attribute__((aligned(32)));
	float sm[8] __attribute__((aligned(32)));

	_Pragma("GCC unroll 4")
	for (int i = 0; i < NC; i++)
		acc[0][i] = acc[1][i] = _mm256_setzero_ps();
	for (int64_t b = 0; b < nb; b++) {
		const __m256i u0 = kn_avx2_nibbles(x0[b].qs), u1 = kn_avx2_nibbles(x1[b].qs);

		/* lanes: row 0 with columns 0..3, then row 1 with them */
		_mm256_store_ps(dd, _mm256_mul_ps(_mm256_loadu_ps(xd + 8 * b),
				_mm256_broadcast_ps((const __m128 *)(yd + b * ydn))));
		summs = _mm256_fmadd_ps(_mm256_loadu_ps(xm + 8 * b),
					_mm256_broadcast_ps((const __m128 *)(ysm + b * ydn)), summs);
		_Pragma("GCC unroll 4")
		for (int i = 0; i < NC; i++) {
			const __m256i y = _mm256_loadu_si256((const __m256i *)ys[i][b].qs);
			const __m256i s0 = _mm256_madd_epi16(_mm256_maddubs_epi16(u0, y), ones);
			const __m256i s1 = _mm256_madd_epi16(_mm256_maddubs_epi16(u1, y), ones);

			acc[0][i] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd + i),
						    _mm256_cvtepi32_ps(s0), acc[0][i]);
			acc[1][i] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd + 4 + i),
						    _mm256_cvtepi32_ps(s1), acc[1][i]);
		}
	}
	_mm256_store_ps(sm, summs);
	_Pragma("GCC unroll 4")
	for (int i = 0; i < NC; i++) {
		out[i * n_rows] = kn_avx2_hsum_ps(acc[0][i]) + sm[i] + (bias ? bias[0] : 0.0f);
		out[i * n_rows + 1] = kn_avx2_hsum_ps(acc[1][i]) + sm[4 + i] +
				      (bias ? bias[1] : 0.0f);
	}
}

/**
 * kn_avx2_gemm_q4_1 - Q4_1 rows [r0, r0 + 2 floor((r1 - r0) / 2)) of @w
 * (@wrs bytes apart) times every Q8_1 column of @a (@ars bytes apart): out
 * [n_cols][n_rows] (+ bias), each output as kn_avx2_dot_q4_1 computes it;
 * returns the rows done (0 where the scales' copy could not be allocated),
 * the caller does the rest
 */
int64_t kn_avx2_gemm_q4_1(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			  int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK4_1, rn = (r1 - r0) / KN_G41_ROWS * KN_G41_ROWS;
	const int64_t ct_max = n_cols < KN_G41_CT ? n_cols : KN_G41_CT;
	/* a block's column scales, padded so a tile's 4 always lie inside */
	const int64_t ydn = (ct_max + 3) / 4 * 4 + 4;
	float *yd, *ysm, *xd, *xm;

	if (rn <= 0 || n_in % KN_QK4_1 || n_cols <= 0)
		return 0;
	yd = calloc((size_t)(2 * ydn + 16) * nb, sizeof(float));
	if (!yd)
		return 0;
	ysm = yd + ydn * nb;
	xd = ysm + ydn * nb;
	xm = xd + 8 * nb;
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_G41_CT) {
		const int ct = n_cols - c0 < KN_G41_CT ? (int)(n_cols - c0) : KN_G41_CT;

		for (int c = 0; c < ct; c++) {
			const kn_block_q8_1 *y = (const kn_block_q8_1 *)((const uint8_t *)a +
									 (size_t)(c0 + c) * ars);

			for (int64_t b = 0; b < nb; b++) {
				yd[b * ydn + c] = kn_avx2_h2f(y[b].d);
				ysm[b * ydn + c] = kn_avx2_h2f(y[b].s);
			}
		}
		for (int64_t r = r0; r < r0 + rn; r += KN_G41_ROWS) {
			const kn_block_q4_1 *x0 = (const kn_block_q4_1 *)((const uint8_t *)w + r * wrs);
			const kn_block_q4_1 *x1 = (const kn_block_q4_1 *)((const uint8_t *)w +
									  (r + 1) * wrs);

			for (int64_t b = 0; b < nb; b++) {
				const float d0 = kn_avx2_h2f(x0[b].d), d1 = kn_avx2_h2f(x1[b].d);
				const float m0 = kn_avx2_h2f(x0[b].m), m1 = kn_avx2_h2f(x1[b].m);

				for (int k = 0; k < 4; k++) {
					xd[8 * b + k] = d0, xd[8 * b + 4 + k] = d1;
					xm[8 * b + k] = m0, xm[8 * b + 4 + k] = m1;
				}
			}
			for (int c = 0; c < ct; c += KN_G41_COLS) {
				const int nc = ct - c < KN_G41_COLS ? ct - c : KN_G41_COLS;
				const kn_block_q8_1 *ys[KN_G41_COLS];
				float *o = out + (c0 + c) * n_rows + r;
				const float *br = bias ? bias + r : NULL;

				for (int i = 0; i < nc; i++)
					ys[i] = (const kn_block_q8_1 *)((const uint8_t *)a +
									(size_t)(c0 + c + i) * ars);
				if (nc == 4)
					kn_g41_tile(4, x0, x1, xd, xm, ys, yd + c, ysm + c, ydn, nb, o,
						    n_rows, br);
				else if (nc == 3)
					kn_g41_tile(3, x0, x1, xd, xm, ys, yd + c, ysm + c, ydn, nb, o,
						    n_rows, br);
				else if (nc == 2)
					kn_g41_tile(2, x0, x1, xd, xm, ys, yd + c, ysm + c, ydn, nb, o,
						    n_rows, br);
				else
					kn_g41_tile(1, x0, x1, xd, xm, ys, yd + c, ysm + c, ydn, nb, o,
						    n_rows, br);
			}
		}
	}
	free(yd);
	return rn;
}
