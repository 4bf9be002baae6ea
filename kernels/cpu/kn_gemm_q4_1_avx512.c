// SPDX-License-Identifier: MIT
/*
 * Q4_1 . Q8_1 products of many activation columns (prefill) on AVX-512
 * VNNI, bit-identical to the one-column dot: llama.cpp's AVX-512 build runs
 * ggml_vec_dot_q4_1_q8_1 for every Q4_1 output (no repacking, no tinyBLAS
 * for Q4_1), its 256-bit form: 8 float lanes, lane l of block b getting
 * fma(d_w * d_a, isum(nibbles 4l..4l+3 . y), lane), the min term's scalar
 * chain summs = fma(m_w, s_a, summs) in block order beside them, and the
 * result hsum_float_8 + summs (see kn_gemm_q4_1_avx2.c).
 *
 * A zmm holds two outputs' 8 lanes (rows r and r+1 of one column). The
 * nibbles are unsigned already, so vpdpbusd takes them against the signed
 * activations as they are and each lane's integer sum is exact; a row
 * pair's nibbles are unpacked once per block for 8 columns, each column's
 * 32 bytes broadcast to both halves. The min chains of a row pair and 8
 * columns are the 16 lanes of one fma. A register tile is 4 rows x 8
 * columns (16 accumulators). A heap copy owned by the call holds, per 64
 * columns, their bytes ([group of 8][block][column][32], one stream per
 * tile) and their scales and sums as floats (block-major), and per 4 rows
 * the row pairs' scales and mins already spread to 8 lanes each (made once
 * for the 64 columns: converted per tile they cost as much as the products).
 */
#include <stdlib.h>
#include <immintrin.h>
#include "kn_internal.h"

#pragma GCC optimize("fp-contract=off")

#define KN_G45_ROWS	4	/* rows per register tile: two row pairs */
#define KN_G45_CG	8	/* columns per register tile */
#define KN_G45_CT	64	/* columns whose scales are converted at once */

int64_t kn_avx512_gemm_q4_1(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1);

/* two rows' values @h0, @h1 (fp16), each in 8 lanes */
static inline __m512 kn_g45_pair(uint16_t h0, uint16_t h1)
{
	return _mm512_castpd_ps(_mm512_insertf64x4(
		_mm512_castps_pd(_mm512_set1_ps(_cvtsh_ss(h0))),
		_mm256_castps_pd(_mm256_set1_ps(_cvtsh_ss(h1))), 1));
}

/* a block's nibbles of two rows: row 0's 32 in the low half, row 1's in the high */
static inline __m512i kn_g45_nibbles(const uint8_t *q0, const uint8_t *q1)
{
	const __m256i m = _mm256_set1_epi8(0x0F);
	const __m128i t0 = _mm_loadu_si128((const __m128i *)q0);
	const __m128i t1 = _mm_loadu_si128((const __m128i *)q1);
	const __m256i u0 = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t0, 4), t0), m);
	const __m256i u1 = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t1, 4), t1), m);

	return _mm512_inserti64x4(_mm512_castsi256_si512(u0), u1, 1);
}

/* hsum_float_8's order: (v4 + v0) ... then (t0 + t2) + (t1 + t3) */
static inline float kn_g45_hsum8(const float *v)
{
	const float t0 = v[4] + v[0], t1 = v[5] + v[1], t2 = v[6] + v[2], t3 = v[7] + v[3];

	return (t0 + t2) + (t1 + t3);
}

/*
 * NC columns (@yq their bytes, [b][8][32]; @yd[b * ydn + c] their scales,
 * @ysm the same for their sums, 8 readable from each block's first) x the 4
 * rows at @x (@wrs bytes apart; @xdm their pairs' scales and mins, 4 x 16
 * floats a block)
 */
static inline __attribute__((always_inline)) void
kn_g45_tile(const int NC, const uint8_t *x, size_t wrs, const float *xdm, const uint8_t *yq,
	    const float *yd, const float *ysm, int64_t ydn, int64_t nb, float *out,
	    int64_t n_rows, const float *bias)
{
	const kn_block_q4_1 *xr[KN_G45_ROWS];
	const __m512i zero = _mm512_setzero_si512();
	__m512 acc[2][KN_G45_CG], summs[2];

	for (int k = 0; k < KN_G45_ROWS; k++)
		xr[k] = (const kn_block_q4_1 *)(x + k * wrs);
	summs[0] = summs[1] = _mm512_setzero_ps();
	_Pragma("GCC unroll 8")
	for (int i = 0; i < NC; i++)
		acc[0][i] = acc[1][i] = _mm512_setzero_ps();
	for (int64_t b = 0; b < nb; b++) {
		/* lanes: column c's sum at c and at 8 + c */
		const __m512 sa = _mm512_castpd_ps(_mm512_broadcast_f64x4(
			_mm256_castps_pd(_mm256_loadu_ps(ysm + b * ydn))));
		__m512i wv[2];
		__m512 dw[2];

		_Pragma("GCC unroll 2")
		for (int p = 0; p < 2; p++) {
			wv[p] = kn_g45_nibbles(xr[2 * p][b].qs, xr[2 * p + 1][b].qs);
			dw[p] = _mm512_load_ps(xdm + (4 * b + 2 * p) * 16);
			summs[p] = _mm512_fmadd_ps(_mm512_load_ps(xdm + (4 * b + 2 * p + 1) * 16), sa,
						   summs[p]);
		}
		_Pragma("GCC unroll 8")
		for (int i = 0; i < NC; i++) {
			const __m512i y = _mm512_broadcast_i64x4(_mm256_load_si256(
				(const __m256i *)(yq + ((size_t)b * KN_G45_CG + i) * KN_QK8_1)));
			const __m512 da = _mm512_set1_ps(yd[b * ydn + i]);

			for (int p = 0; p < 2; p++) {
				const __m512i s = _mm512_dpbusd_epi32(zero, wv[p], y);

				acc[p][i] = _mm512_fmadd_ps(_mm512_mul_ps(dw[p], da),
							    _mm512_cvtepi32_ps(s), acc[p][i]);
			}
		}
	}
	for (int p = 0; p < 2; p++) {
		float sm[16];

		_mm512_storeu_ps(sm, summs[p]);
		_Pragma("GCC unroll 8")
		for (int i = 0; i < NC; i++) {
			float v[16];

			_mm512_storeu_ps(v, acc[p][i]);
			for (int h = 0; h < 2; h++) {
				const int r = 2 * p + h;

				out[i * n_rows + r] = kn_g45_hsum8(v + 8 * h) + sm[8 * h + i] +
						      (bias ? bias[r] : 0.0f);
			}
		}
	}
}

static void kn_g45_tile_n(int nc, const uint8_t *x, size_t wrs, const float *xdm,
			  const uint8_t *yq,
			  const float *yd, const float *ysm, int64_t ydn, int64_t nb, float *out,
			  int64_t n_rows, const float *bias)
{
	switch (nc) {
	case 8: kn_g45_tile(8, x, wrs, xdm, yq, yd, ysm, ydn, nb, out, n_rows, bias); break;
	case 7: kn_g45_tile(7, x, wrs, xdm, yq, yd, ysm, ydn, nb, out, n_rows, bias); break;
	case 6: kn_g45_tile(6, x, wrs, xdm, yq, yd, ysm, ydn, nb, out, n_rows, bias); break;
	case 5: kn_g45_tile(5, x, wrs, xdm, yq, yd, ysm, ydn, nb, out, n_rows, bias); break;
	case 4: kn_g45_tile(4, x, wrs, xdm, yq, yd, ysm, ydn, nb, out, n_rows, bias); break;
	case 3: kn_g45_tile(3, x, wrs, xdm, yq, yd, ysm, ydn, nb, out, n_rows, bias); break;
	case 2: kn_g45_tile(2, x, wrs, xdm, yq, yd, ysm, ydn, nb, out, n_rows, bias); break;
	default: kn_g45_tile(1, x, wrs, xdm, yq, yd, ysm, ydn, nb, out, n_rows, bias); break;
	}
}

/**
 * kn_avx512_gemm_q4_1 - out[c][r] (+ bias[r], 0 without one) for every
 * column and the rows [r0, r0 + 4 floor((r1 - r0) / 4)) of a Q4_1 matrix
 * (rows of @wrs bytes) times Q8_1 activations (@ars bytes a column); out is
 * [n_cols][n_rows]. Returns the rows done (0 where the copy could not be
 * allocated): the caller computes the rest.
 */
int64_t kn_avx512_gemm_q4_1(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK4_1, rn = (r1 - r0) / KN_G45_ROWS * KN_G45_ROWS;
	const int64_t ct_max = n_cols < KN_G45_CT ? n_cols : KN_G45_CT;
	/* a block's column values, padded so 8 from any column lie inside */
	const int64_t ydn = (ct_max + 7) / 8 * 8 + 8;
	const int64_t ng = (ct_max + KN_G45_CG - 1) / KN_G45_CG;
	float *yd, *ysm, *xdm;
	uint8_t *yq;

	if (rn <= 0 || n_in % KN_QK4_1 || n_cols <= 0)
		return 0;
	yq = aligned_alloc(64, (size_t)ng * nb * KN_G45_CG * KN_QK8_1 +
			       (size_t)(2 * ydn + 64) * nb * sizeof(float));
	if (!yq)
		return 0;
	yd = (float *)(yq + (size_t)ng * nb * KN_G45_CG * KN_QK8_1);
	ysm = yd + ydn * nb;
	xdm = ysm + ydn * nb;
	memset(yd, 0, (size_t)2 * ydn * nb * sizeof(float));
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_G45_CT) {
		const int ct = n_cols - c0 < KN_G45_CT ? (int)(n_cols - c0) : KN_G45_CT;

		/* per group of 8 columns the blocks' bytes, [b][column][32] */
		for (int c = 0; c < ct; c++) {
			const kn_block_q8_1 *y = (const kn_block_q8_1 *)((const uint8_t *)a +
									 (size_t)(c0 + c) * ars);
			uint8_t *g = yq + (size_t)(c / KN_G45_CG) * nb * KN_G45_CG * KN_QK8_1;

			for (int64_t b = 0; b < nb; b++) {
				memcpy(g + ((size_t)b * KN_G45_CG + c % KN_G45_CG) * KN_QK8_1, y[b].qs,
				       KN_QK8_1);
				yd[b * ydn + c] = _cvtsh_ss(y[b].d);
				ysm[b * ydn + c] = _cvtsh_ss(y[b].s);
			}
		}
		for (int64_t r = r0; r < r0 + rn; r += KN_G45_ROWS) {
			/* per block: the row pairs' scales, then mins, as kn_g45_pair */
			for (int64_t b = 0; b < nb; b++) {
				for (int p = 0; p < 2; p++) {
					const kn_block_q4_1 *x0 = (const kn_block_q4_1 *)
						((const uint8_t *)w + (r + 2 * p) * wrs) + b;
					const kn_block_q4_1 *x1 = (const kn_block_q4_1 *)
						((const uint8_t *)w + (r + 2 * p + 1) * wrs) + b;

					_mm512_store_ps(xdm + (4 * b + 2 * p) * 16,
							kn_g45_pair(x0->d, x1->d));
					_mm512_store_ps(xdm + (4 * b + 2 * p + 1) * 16,
							kn_g45_pair(x0->m, x1->m));
				}
			}
			for (int c = 0; c < ct; c += KN_G45_CG) {
				const int nc = ct - c < KN_G45_CG ? ct - c : KN_G45_CG;

				kn_g45_tile_n(nc, (const uint8_t *)w + r * wrs, wrs, xdm,
					      yq + (size_t)(c / KN_G45_CG) * nb * KN_G45_CG * KN_QK8_1,
					      yd + c, ysm + c, ydn, nb, out + (c0 + c) * n_rows + r,
					      n_rows, bias ? bias + r : NULL);
			}
		}
	}
	free(yq);
	return rn;
}
