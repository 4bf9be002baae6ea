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
 * wants one unsigned operand: the activations get +128 and the weights'
 * -128 sum(w) per lane seeds the chain, so each lane's integer sum is exact.
 * A register tile is 4 rows x 8 columns (16 accumulators); per block and
 * tile the loop is 16 vpdpbusd, 16 cvtdq2ps, 16 vpermilps, 16 fma and 4
 * multiplies, every operand a full-width load. On Zen 4 the 512-bit
 * broadcasts and inserts the earlier form did per block cost pipe slots,
 * and the weight-side work (insert, seed, fp16 scales) sat on each block's
 * critical path: both are now done ahead, into buffers.
 *
 * - The column copy (per 64 columns, per group of 8, per block): each
 *   column's y + 128 twice (the zmm operand as stored) and the 8 scales as
 *   two vectors, lane 4k + j column 4h + j. 640 bytes a block and group.
 * - The row copy (per 4-row tile, per chunk of KN_H5_KC blocks): the two
 *   row pairs' weights, their seeds and their scales, 6 zmm a block, made
 *   once and read by every column group.
 * - The loops run chunk by chunk over a row band of KN_H5_RB tiles, the
 *   accumulators parked in a state buffer between chunks (in the same
 *   order, so the sums are the same): the band's chunk of the column copy
 *   (160 KiB for 64 columns) stays in L2 while 16 tiles read it.
 * One thread's buffers for 11008 inputs and 64 columns: 1.7 MiB of column
 * copy, 12 KiB of row copy, 128 KiB of state. Measured on a Zen 4 (one core, 4096-11008
 * inputs, 64 columns): 17.5-18.2 multiply-adds a cycle before, 21.5-22.1
 * after.
 */
#include <stdlib.h>
#include <immintrin.h>
#include "kn_internal.h"

#pragma GCC optimize("fp-contract=off")

#define KN_H5_ROWS	4	/* rows per register tile: two row pairs */
#define KN_H5_CG	8	/* columns per register tile */
#define KN_H5_CT	64	/* columns per column copy */
#define KN_H5_KC	32	/* blocks per chunk */
#define KN_H5_RB	16	/* tiles per row band */
#define KN_H5_BLK	(KN_H5_CG * 64 + 2 * 64)	/* column copy bytes, block and group */
#define KN_H5_RTB	(6 * 64)	/* row copy bytes per block */
#define KN_H5_ST	(2 * KN_H5_CG)	/* state zmm per tile and group */

int64_t kn_avx512_gemm_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1);

/* the column copy of @ct columns; a short group's missing columns are zero */
static void kn_h5_prep_cols(uint8_t *buf, const uint8_t *a, size_t ars, int ct, int64_t nb)
{
	const __m512i flip = _mm512_set1_epi8((char)0x80);

	for (int g = 0; g < (ct + KN_H5_CG - 1) / KN_H5_CG; g++) {
		for (int64_t b = 0; b < nb; b++) {
			uint8_t *blk = buf + ((size_t)g * nb + b) * KN_H5_BLK;
			float d[KN_H5_CG];

			for (int i = 0; i < KN_H5_CG; i++) {
				const int c = g * KN_H5_CG + i;
				const kn_block_q8_0 *y = (const kn_block_q8_0 *)(a + (size_t)c * ars) + b;

				if (c >= ct) {
					_mm512_store_si512(blk + i * 64, _mm512_setzero_si512());
					d[i] = 0.0f;
					continue;
				}
				_mm512_store_si512(blk + i * 64, _mm512_xor_si512(_mm512_broadcast_i64x4(
					_mm256_loadu_si256((const __m256i *)y->qs)), flip));
				d[i] = _cvtsh_ss(y->d);
			}
			for (int h = 0; h < 2; h++)
				_mm512_store_ps(blk + KN_H5_CG * 64 + h * 64,
						_mm512_broadcast_f32x4(_mm_loadu_ps(d + 4 * h)));
		}
	}
}

/* the row copy of blocks [b0, b1) of the 4 rows at @x: per block the row
 * pairs' weights, their -128 sum(w) per lane, their scales (8 lanes a row) */
static void kn_h5_prep_rows(uint8_t *rtb, const uint8_t *x, size_t wrs, int64_t b0, int64_t b1)
{
	const __m512i c80 = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();

	for (int64_t b = b0; b < b1; b++) {
		__m512i *rt = (__m512i *)(rtb + (b - b0) * KN_H5_RTB);

		for (int p = 0; p < 2; p++) {
			const kn_block_q8_0 *x0 = (const kn_block_q8_0 *)(x + 2 * p * wrs) + b;
			const kn_block_q8_0 *x1 = (const kn_block_q8_0 *)(x + (2 * p + 1) * wrs) + b;
			const __m512i wv = _mm512_inserti64x4(
				_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x0->qs)),
				_mm256_loadu_si256((const __m256i *)x1->qs), 1);

			_mm512_store_si512(rt + p, wv);
			_mm512_store_si512(rt + 2 + p,
					   _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, c80, wv)));
			_mm512_store_ps(rt + 4 + p, _mm512_castpd_ps(_mm512_insertf64x4(
				_mm512_castps_pd(_mm512_set1_ps(_cvtsh_ss(x0->d))),
				_mm256_castps_pd(_mm256_set1_ps(_cvtsh_ss(x1->d))), 1)));
		}
	}
}

/* hsum_float_8's order: (v4 + v0) ... then (t0 + t2) + (t1 + t3) */
static inline float kn_h5_hsum8(const float *v)
{
	const float t0 = v[4] + v[0], t1 = v[5] + v[1], t2 = v[6] + v[2], t3 = v[7] + v[3];

	return (t0 + t2) + (t1 + t3);
}

/* @n blocks of a tile's NC columns (column copy @cb, row copy @rtb); the
 * accumulators start at zero (@first) or from @st, and end in @st */
static inline __attribute__((always_inline)) void
kn_h5_tile(const int NC, const uint8_t *cb, const uint8_t *rtb, int64_t n, __m512 *st, bool first)
{
	__m512 acc[2][KN_H5_CG];

	_Pragma("GCC unroll 8")
	for (int i = 0; i < NC; i++) {
		acc[0][i] = first ? _mm512_setzero_ps() : st[i];
		acc[1][i] = first ? _mm512_setzero_ps() : st[KN_H5_CG + i];
	}
	for (int64_t b = 0; b < n; b++) {
		const uint8_t *blk = cb + (size_t)b * KN_H5_BLK;
		const __m512i *rt = (const __m512i *)(rtb + b * KN_H5_RTB);
		/* the 32 scale products d_w d_a from 4 multiplies: sc[p][h] lane
		 * 8k + 4m + j row 2p + k's times column 4h + j; one in-lane
		 * broadcast each then */
		__m512 sc[2][2];

		for (int h = 0; h < 2; h++) {
			const __m512 da = _mm512_load_ps(blk + KN_H5_CG * 64 + h * 64);

			for (int p = 0; p < 2; p++)
				sc[p][h] = _mm512_mul_ps(_mm512_castsi512_ps(rt[4 + p]), da);
		}
		_Pragma("GCC unroll 8")
		for (int i = 0; i < NC; i++) {
			const __m512i y = _mm512_load_si512(blk + i * 64);

			for (int p = 0; p < 2; p++) {
				const __m512i s = _mm512_dpbusd_epi32(rt[2 + p], y, rt[p]);

				acc[p][i] = _mm512_fmadd_ps(_mm512_permute_ps(sc[p][i / 4], (i % 4) * 0x55),
							    _mm512_cvtepi32_ps(s), acc[p][i]);
			}
		}
	}
	_Pragma("GCC unroll 8")
	for (int i = 0; i < NC; i++) {
		st[i] = acc[0][i];
		st[KN_H5_CG + i] = acc[1][i];
	}
}

static void kn_h5_tile_n(int nc, const uint8_t *cb, const uint8_t *rtb, int64_t n, __m512 *st,
			 bool first)
{
	switch (nc) {
	case 8: kn_h5_tile(8, cb, rtb, n, st, first); break;
	case 7: kn_h5_tile(7, cb, rtb, n, st, first); break;
	case 6: kn_h5_tile(6, cb, rtb, n, st, first); break;
	case 5: kn_h5_tile(5, cb, rtb, n, st, first); break;
	case 4: kn_h5_tile(4, cb, rtb, n, st, first); break;
	case 3: kn_h5_tile(3, cb, rtb, n, st, first); break;
	case 2: kn_h5_tile(2, cb, rtb, n, st, first); break;
	default: kn_h5_tile(1, cb, rtb, n, st, first); break;
	}
}

/* out[c][r] for the @nc columns of a tile's state @st, rows r..r+3 */
static void kn_h5_store(const __m512 *st, int nc, float *out, int64_t n_rows, const float *bias)
{
	for (int i = 0; i < nc; i++) {
		for (int p = 0; p < 2; p++) {
			float v[16];

			_mm512_storeu_ps(v, st[p * KN_H5_CG + i]);
			for (int h = 0; h < 2; h++) {
				const int r = 2 * p + h;

				out[i * n_rows + r] = kn_h5_hsum8(v + 8 * h) + (bias ? bias[r] : 0.0f);
			}
		}
	}
}

/**
 * kn_avx512_gemm_q8_0 - out[c][r] (+ bias[r], 0 without one) for every
 * column and the rows [r0, r0 + 4 floor((r1 - r0) / 4)) of a Q8_0 matrix
 * (rows of @wrs bytes) times Q8_0 activations (@ars bytes a column); out is
 * [n_cols][n_rows]. Returns the rows done (0 where the buffers could not be
 * allocated): the caller computes the rest.
 */
int64_t kn_avx512_gemm_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK8_0;
	int64_t rn = (r1 - r0) / KN_H5_ROWS * KN_H5_ROWS;
	const int64_t ct_max = n_cols < KN_H5_CT ? n_cols : KN_H5_CT;
	const int64_t ng_max = (ct_max + KN_H5_CG - 1) / KN_H5_CG;
	uint8_t *cbuf = NULL, *rtb = NULL;
	__m512 *st = NULL;

	if (rn <= 0 || n_in % KN_QK8_0 || n_cols <= 0)
		return 0;
	cbuf = aligned_alloc(64, (size_t)ng_max * nb * KN_H5_BLK);
	rtb = aligned_alloc(64, KN_H5_KC * KN_H5_RTB);
	st = aligned_alloc(64, (size_t)KN_H5_RB * ng_max * KN_H5_ST * sizeof(__m512));
	if (!cbuf || !rtb || !st) {
		rn = 0;
		goto out;
	}
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_H5_CT) {
		const int ct = n_cols - c0 < KN_H5_CT ? (int)(n_cols - c0) : KN_H5_CT;
		const int ng = (ct + KN_H5_CG - 1) / KN_H5_CG;

		kn_h5_prep_cols(cbuf, (const uint8_t *)a + (size_t)c0 * ars, ars, ct, nb);
		for (int64_t rb = r0; rb < r0 + rn; rb += KN_H5_RB * KN_H5_ROWS) {
			const int64_t left = (r0 + rn - rb) / KN_H5_ROWS;
			const int nt = left < KN_H5_RB ? (int)left : KN_H5_RB;

			for (int64_t k0 = 0; k0 < nb; k0 += KN_H5_KC) {
				const int64_t k1 = nb - k0 < KN_H5_KC ? nb : k0 + KN_H5_KC;

				for (int t = 0; t < nt; t++) {
					kn_h5_prep_rows(rtb, (const uint8_t *)w + (rb + t * KN_H5_ROWS) * wrs,
							wrs, k0, k1);
					for (int g = 0; g < ng; g++)
						kn_h5_tile_n(ct - g * KN_H5_CG < KN_H5_CG ? ct - g * KN_H5_CG
											  : KN_H5_CG,
							     cbuf + ((size_t)g * nb + k0) * KN_H5_BLK, rtb,
							     k1 - k0, st + (t * ng + g) * KN_H5_ST, k0 == 0);
				}
			}
			for (int t = 0; t < nt; t++) {
				const int64_t r = rb + t * KN_H5_ROWS;

				for (int g = 0; g < ng; g++)
					kn_h5_store(st + (t * ng + g) * KN_H5_ST,
						    ct - g * KN_H5_CG < KN_H5_CG ? ct - g * KN_H5_CG : KN_H5_CG,
						    out + (c0 + g * KN_H5_CG) * n_rows + r, n_rows,
						    bias ? bias + r : NULL);
			}
		}
	}
out:
	free(cbuf);
	free(rtb);
	free(st);
	return rn;
}
