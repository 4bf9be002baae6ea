// SPDX-License-Identifier: MIT
/*
 * Q8_0 . Q8_0 products of many activation columns (prefill) on AVX2,
 * bit-identical to the one-column dot (8 float lanes per output, lane l of
 * block b getting fma(d_w * d_a, isum over elements 4l..4l+3, lane), summed
 * as hsum_float_8 at the end; see kn_gemm_q8_0_avx512.c for why that is
 * llama.cpp's order for every Q8_0 product).
 *
 * A register tile is 2 rows x 4 columns (8 accumulators of 16 ymm). The
 * integer sums stay ggml's (|w| . sign(y, w) by vpmaddubsw, pairs by
 * vpmaddwd), which AVX2 has no cheaper exact form of; everything else is
 * moved off the two ports those, the int->float conversion and the fma
 * need (AVX2 Q8_0 is bound there: 4 such steps per output and block):
 * - sign(y, w) is one vpsignb per output and block (the (y ^ m) - m with
 *   m = (w < 0) of an earlier version took two steps: 3.5% slower);
 * - |w| is made once per row pair and 64 columns, not per tile;
 * - a block's 8 scale products come from one multiply, broadcast from memory;
 * - a group of 4 columns' bytes and scales lie in one 32-byte aligned
 *   stream, so a block costs few address steps and no split loads.
 * A heap copy owned by the call holds, per 64 columns, the groups' bytes
 * and scales (160 bytes per group and block), and per row pair |w|, w
 * (128 bytes a block) and the weight scales (32); without it the caller's
 * per-row dots do the work. 1.06 -> 0.80 ns per output and block against
 * the 2 x 3 tile that formed |w| and sign(y, w) in every tile.
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

/* a prepared group of 4 columns, per block: their 4 x 32 bytes, then their 4
 * scales, padded to 32 bytes (a block's bytes never straddle cache lines) */
#define KN_H2_GB	(KN_H2_COLS * KN_QK8_0 + 32)

/*
 * NC columns of a prepared group (@yq) x a row pair (@wq: per block |w0|,
 * w0, |w1|, w1, 32 bytes each; @xd: the rows' scales as floats, 4 copies
 * of each per block). vpsignb(y, w) is y's sign flipped where w < 0, -128
 * included, and 0 where w == 0, which |w| = 0 multiplies anyway; y is never
 * -128 (activations are quantized to +-127).
 */
static inline __attribute__((always_inline)) void
kn_h2_tile(const int NC, const uint8_t *wq, const float *xd, const uint8_t *yq, int64_t nb,
	   float *out, int64_t n_rows, const float *bias)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256 acc[KN_H2_ROWS][KN_H2_COLS];
	float dd[8] __attribute__((aligned(32)));

	_Pragma("GCC unroll 4")
	for (int i = 0; i < NC; i++)
		acc[0][i] = acc[1][i] = _mm256_setzero_ps();
	for (int64_t b = 0; b < nb; b++, yq += KN_H2_GB, wq += 4 * 32) {
		const __m256i u0 = _mm256_load_si256((const __m256i *)wq);
		const __m256i m0 = _mm256_load_si256((const __m256i *)(wq + 32));
		const __m256i u1 = _mm256_load_si256((const __m256i *)(wq + 64));
		const __m256i m1 = _mm256_load_si256((const __m256i *)(wq + 96));

		/* lanes d_w0 d_a(c), c = 0..3, then d_w1 d_a(c) */
		_mm256_store_ps(dd, _mm256_mul_ps(_mm256_loadu_ps(xd + 8 * b), _mm256_broadcast_ps(
				(const __m128 *)(yq + KN_H2_COLS * KN_QK8_0))));
		_Pragma("GCC unroll 4")
		for (int i = 0; i < NC; i++) {
			const __m256i y = _mm256_load_si256((const __m256i *)(yq + i * KN_QK8_0));
			const __m256i s0 = _mm256_madd_epi16(_mm256_maddubs_epi16(u0,
					_mm256_sign_epi8(y, m0)), ones);
			const __m256i s1 = _mm256_madd_epi16(_mm256_maddubs_epi16(u1,
					_mm256_sign_epi8(y, m1)), ones);

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
 * (0 where the copy could not be allocated)
 */
int64_t kn_avx2_gemm_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			  int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK8_0, rn = (r1 - r0) / KN_H2_ROWS * KN_H2_ROWS;
	const int64_t ct_max = n_cols < KN_H2_CT ? n_cols : KN_H2_CT;
	const int64_t ng = (ct_max + KN_H2_COLS - 1) / KN_H2_COLS;
	uint8_t *yq, *wq;
	float *xd;

	if (rn <= 0 || n_in % KN_QK8_0 || n_cols <= 0)
		return 0;
	/* the groups' copy, then the row pair's scales */
	yq = aligned_alloc(32, (size_t)ng * nb * KN_H2_GB + (size_t)8 * nb * sizeof(float) +
			       (size_t)4 * 32 * nb);
	/* (a multiple of 32: KN_H2_GB, 8 floats and 4 x 32 bytes are) */
	if (!yq)
		return 0;
	xd = (float *)(yq + (size_t)ng * nb * KN_H2_GB);
	wq = (uint8_t *)(xd + 8 * nb);
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_H2_CT) {
		const int ct = n_cols - c0 < KN_H2_CT ? (int)(n_cols - c0) : KN_H2_CT;

		/* per group of 4 columns and block: bytes [4][32], scales [4]; a short
		 * group's missing columns zero */
		for (int c = 0; c < (ct + KN_H2_COLS - 1) / KN_H2_COLS * KN_H2_COLS; c++) {
			const kn_block_q8_0 *y = c < ct ? (const kn_block_q8_0 *)((const uint8_t *)a +
						(size_t)(c0 + c) * ars) : NULL;
			uint8_t *g = yq + (size_t)(c / KN_H2_COLS) * nb * KN_H2_GB;
			const int i = c % KN_H2_COLS;

			for (int64_t b = 0; b < nb; b++) {
				uint8_t *blk = g + b * KN_H2_GB;
				const float d = y ? kn_avx2_h2f(y[b].d) : 0.0f;

				if (y)
					memcpy(blk + i * KN_QK8_0, y[b].qs, KN_QK8_0);
				else
					memset(blk + i * KN_QK8_0, 0, KN_QK8_0);
				memcpy(blk + KN_H2_COLS * KN_QK8_0 + i * sizeof(float), &d, sizeof(d));
			}
		}
		for (int64_t r = r0; r < r0 + rn; r += KN_H2_ROWS) {
			const kn_block_q8_0 *x0 = (const kn_block_q8_0 *)((const uint8_t *)w + r * wrs);
			const kn_block_q8_0 *x1 = (const kn_block_q8_0 *)((const uint8_t *)w +
									  (r + 1) * wrs);

			/* per block: |w0|, w0, |w1|, w1, made once for the 64 columns
			 * (vpabsb gives 0x80 for -128: 128 as vpmaddubsw's unsigned) */
			for (int64_t b = 0; b < nb; b++) {
				const float d0 = kn_avx2_h2f(x0[b].d), d1 = kn_avx2_h2f(x1[b].d);
				const __m256i w0 = _mm256_loadu_si256((const __m256i *)x0[b].qs);
				const __m256i w1 = _mm256_loadu_si256((const __m256i *)x1[b].qs);
				__m256i *q = (__m256i *)(wq + 4 * 32 * b);

				_mm256_store_si256(q, _mm256_abs_epi8(w0));
				_mm256_store_si256(q + 1, w0);
				_mm256_store_si256(q + 2, _mm256_abs_epi8(w1));
				_mm256_store_si256(q + 3, w1);
				for (int k = 0; k < 4; k++)
					xd[8 * b + k] = d0, xd[8 * b + 4 + k] = d1;
			}
			for (int c = 0; c < ct; c += KN_H2_COLS) {
				const int nc = ct - c < KN_H2_COLS ? ct - c : KN_H2_COLS;
				const uint8_t *g = yq + (size_t)(c / KN_H2_COLS) * nb * KN_H2_GB;
				float *o = out + (c0 + c) * n_rows + r;
				const float *br = bias ? bias + r : NULL;

				if (nc == 4)
					kn_h2_tile(4, wq, xd, g, nb, o, n_rows, br);
				else if (nc == 3)
					kn_h2_tile(3, wq, xd, g, nb, o, n_rows, br);
				else if (nc == 2)
					kn_h2_tile(2, wq, xd, g, nb, o, n_rows, br);
				else
					kn_h2_tile(1, wq, xd, g, nb, o, n_rows, br);
			}
		}
	}
	free(yq);
	return rn;
}
