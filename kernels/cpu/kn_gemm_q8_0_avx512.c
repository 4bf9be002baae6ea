// SPDX-License-Identifier: MIT
/*
 * Q8_0 . Q8_0 products of many activation columns (prefill) on AVX-512 VNNI,
 * bit-identical to the one-column dot: llama.cpp's x86 builds compute a
 * Q8_0 output, in ggml_vec_dot_q8_0_q8_0 and in llamafile's tinyBLAS_Q0_AVX
 * alike, as 8 float lanes, lane l of block b getting fma(d_w * d_a,
 * isum over elements 4l..4l+3, lane), and the lanes summed at the end as
 * hsum_float_8 does. That order is kept; only the integer sums and the
 * register blocking change.
 *
 * A zmm holds two outputs' 8 lanes (rows r and r+1 of one column). vpdpbusd
 * wants one unsigned operand: the activations get +128 (a copy of them,
 * made once per 64 columns with their scales as floats), and the weights'
 * 128 sum(w) per lane, computed once per block and row pair, seeds the
 * chain, so each lane's integer sum is exact. A register tile is 4 rows x 8
 * columns (16 accumulators), weights read in place from the GGUF rows.
 * The copy is heap memory owned by the call (36 bytes per column and block:
 * 774 KiB for 64 columns of 11008, within L2 beside the 4 weight rows);
 * without it the caller's per-row dots do the work.
 */
#include <stdlib.h>
#include <immintrin.h>
#include "kn_internal.h"

#pragma GCC optimize("fp-contract=off")

#define KN_H5_ROWS	4	/* rows per register tile: two row pairs */
#define KN_H5_CG	8	/* columns per register tile */
#define KN_H5_CT	64	/* columns per prepared copy */
#define KN_H5_BLK	(KN_H5_CG * (KN_QK8_0 + sizeof(float)))	/* copy bytes per block */

int64_t kn_avx512_gemm_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1);

/*
 * the copy of @ct columns: per group of 8, the blocks' y + 128 ([b][col][32]
 * bytes) and then their scales ([b][col] floats); a short group's missing
 * columns are zero
 */
static void kn_h5_prep(uint8_t *buf, const uint8_t *a, size_t ars, int ct, int64_t nb)
{
	const __m256i flip = _mm256_set1_epi8((char)0x80);

	for (int g = 0; g < (ct + KN_H5_CG - 1) / KN_H5_CG; g++) {
		uint8_t *yq = buf + (size_t)g * nb * KN_H5_BLK;
		float *yd = (float *)(yq + (size_t)nb * KN_H5_CG * KN_QK8_0);

		for (int i = 0; i < KN_H5_CG; i++) {
			const int c = g * KN_H5_CG + i;
			const kn_block_q8_0 *y = (const kn_block_q8_0 *)(a + (size_t)c * ars);

			for (int64_t b = 0; b < nb; b++) {
				uint8_t *dst = yq + ((size_t)b * KN_H5_CG + i) * KN_QK8_0;

				if (c >= ct) {
					memset(dst, 0, KN_QK8_0);
					yd[b * KN_H5_CG + i] = 0.0f;
					continue;
				}
				_mm256_storeu_si256((__m256i *)dst, _mm256_xor_si256(
					_mm256_loadu_si256((const __m256i *)y[b].qs), flip));
				yd[b * KN_H5_CG + i] = _cvtsh_ss(y[b].d);
			}
		}
	}
}

/* the two rows' block scales, each in 8 lanes */
static inline __m512 kn_h5_dw(const kn_block_q8_0 *x0, const kn_block_q8_0 *x1)
{
	return _mm512_castpd_ps(_mm512_insertf64x4(
		_mm512_castps_pd(_mm512_set1_ps(_cvtsh_ss(x0->d))),
		_mm256_castps_pd(_mm256_set1_ps(_cvtsh_ss(x1->d))), 1));
}

/* hsum_float_8's order: (v4 + v0) ... then (t0 + t2) + (t1 + t3) */
static inline float kn_h5_hsum8(const float *v)
{
	const float t0 = v[4] + v[0], t1 = v[5] + v[1], t2 = v[6] + v[2], t3 = v[7] + v[3];

	return (t0 + t2) + (t1 + t3);
}

/* NC columns of a prepared group (@yq, @yd) x rows @x (4 rows @wrs apart) */
static inline __attribute__((always_inline)) void
kn_h5_tile(const int NC, const uint8_t *x, size_t wrs, const uint8_t *yq, const float *yd,
	   int64_t nb, float *out, int64_t n_rows, const float *bias)
{
	const kn_block_q8_0 *xr[KN_H5_ROWS];
	const __m512i c80 = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
	__m512 acc[2][KN_H5_CG];

	for (int k = 0; k < KN_H5_ROWS; k++)
		xr[k] = (const kn_block_q8_0 *)(x + k * wrs);
	_Pragma("GCC unroll 8")
	for (int i = 0; i < NC; i++)
		acc[0][i] = acc[1][i] = _mm512_setzero_ps();
	for (int64_t b = 0; b < nb; b++) {
		__m512i wv[2], neg[2];
		__m512 dw[2];

		for (int p = 0; p < 2; p++) {
			wv[p] = _mm512_inserti64x4(
				_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)xr[2 * p][b].qs)),
				_mm256_loadu_si256((const __m256i *)xr[2 * p + 1][b].qs), 1);
			/* -128 sum(w) per lane: what y + 128 adds */
			neg[p] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, c80, wv[p]));
			dw[p] = kn_h5_dw(&xr[2 * p][b], &xr[2 * p + 1][b]);
		}
		/* the 32 scale products d_w d_a from 4 multiplies: sc[p][h] lane
		 * 4k + j row 2p + k / 2's times column 4h + j; one in-lane
		 * broadcast each then, off the two ports dpbusd and fma need */
		__m512 sc[2][2];

		for (int h = 0; h < 2; h++) {
			const __m512 da = _mm512_broadcast_f32x4(_mm_loadu_ps(yd + b * KN_H5_CG + 4 * h));

			for (int p = 0; p < 2; p++)
				sc[p][h] = _mm512_mul_ps(dw[p], da);
		}
		_Pragma("GCC unroll 8")
		for (int i = 0; i < NC; i++) {
			const __m512i y = _mm512_broadcast_i64x4(_mm256_loadu_si256(
				(const __m256i *)(yq + ((size_t)b * KN_H5_CG + i) * KN_QK8_0)));

			for (int p = 0; p < 2; p++) {
				const __m512i s = _mm512_dpbusd_epi32(neg[p], y, wv[p]);

				acc[p][i] = _mm512_fmadd_ps(_mm512_permute_ps(sc[p][i / 4], (i % 4) * 0x55),
							    _mm512_cvtepi32_ps(s), acc[p][i]);
			}
		}
	}
	_Pragma("GCC unroll 8")
	for (int i = 0; i < NC; i++) {
		for (int p = 0; p < 2; p++) {
			float v[16];

			_mm512_storeu_ps(v, acc[p][i]);
			for (int h = 0; h < 2; h++) {
				const int r = 2 * p + h;

				out[i * n_rows + r] = kn_h5_hsum8(v + 8 * h) + (bias ? bias[r] : 0.0f);
			}
		}
	}
}

static void kn_h5_tile_n(int nc, const uint8_t *x, size_t wrs, const uint8_t *yq,
			 const float *yd, int64_t nb, float *out, int64_t n_rows, const float *bias)
{
	switch (nc) {
	case 8: kn_h5_tile(8, x, wrs, yq, yd, nb, out, n_rows, bias); break;
	case 7: kn_h5_tile(7, x, wrs, yq, yd, nb, out, n_rows, bias); break;
	case 6: kn_h5_tile(6, x, wrs, yq, yd, nb, out, n_rows, bias); break;
	case 5: kn_h5_tile(5, x, wrs, yq, yd, nb, out, n_rows, bias); break;
	case 4: kn_h5_tile(4, x, wrs, yq, yd, nb, out, n_rows, bias); break;
	case 3: kn_h5_tile(3, x, wrs, yq, yd, nb, out, n_rows, bias); break;
	case 2: kn_h5_tile(2, x, wrs, yq, yd, nb, out, n_rows, bias); break;
	default: kn_h5_tile(1, x, wrs, yq, yd, nb, out, n_rows, bias); break;
	}
}

/**
 * kn_avx512_gemm_q8_0 - out[c][r] (+ bias[r], 0 without one) for every
 * column and the rows [r0, r0 + 4 floor((r1 - r0) / 4)) of a Q8_0 matrix
 * (rows of @wrs bytes) times Q8_0 activations (@ars bytes a column); out is
 * [n_cols][n_rows]. Returns the rows done (0 where the copy could not be
 * allocated): the caller computes the rest.
 */
int64_t kn_avx512_gemm_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK8_0, rn = (r1 - r0) / KN_H5_ROWS * KN_H5_ROWS;
	const int64_t ct_max = n_cols < KN_H5_CT ? n_cols : KN_H5_CT;
	uint8_t *buf;

	if (rn <= 0 || n_in % KN_QK8_0 || n_cols <= 0)
		return 0;
	buf = aligned_alloc(64, ((ct_max + KN_H5_CG - 1) / KN_H5_CG * nb * KN_H5_BLK + 63) & ~63);
	if (!buf)
		return 0;
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_H5_CT) {
		const int ct = n_cols - c0 < KN_H5_CT ? (int)(n_cols - c0) : KN_H5_CT;

		kn_h5_prep(buf, (const uint8_t *)a + (size_t)c0 * ars, ars, ct, nb);
		for (int64_t r = r0; r < r0 + rn; r += KN_H5_ROWS) {
			for (int c = 0; c < ct; c += KN_H5_CG) {
				const uint8_t *yq = buf + (size_t)(c / KN_H5_CG) * nb * KN_H5_BLK;

				kn_h5_tile_n(ct - c < KN_H5_CG ? ct - c : KN_H5_CG,
					     (const uint8_t *)w + r * wrs, wrs, yq,
					     (const float *)(yq + (size_t)nb * KN_H5_CG * KN_QK8_0),
					     nb, out + (c0 + c) * n_rows + r, n_rows,
					     bias ? bias + r : NULL);
			}
		}
	}
	free(buf);
	return rn;
}
