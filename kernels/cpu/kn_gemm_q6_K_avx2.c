// SPDX-License-Identifier: MIT
/*
 * Q6_K . Q8_K products of many activation columns (prefill) on AVX2,
 * bit-identical to the one-column dot (kn_dot_avx2.c, ggml-cpu's x86
 * ggml_vec_dot_q6_K_q8_K): per super-block 8 int32 lanes, lane j the
 * scaled sums of bytes 4j..4j+3 of every 32-value chunk, less 32 (bsums .
 * scales); one fma per super-block into an 8-lane float accumulator,
 * summed at the end in the same order. Only the integer work differs and
 * it is exact: a row's 6-bit values and the chunk scales as int16 are made
 * once per call (not once per column), and 32 (bsums . scales) is one madd
 * with the scales times -32 (|scale x 32| <= 4096 fits int16, the products
 * and their pair sums int32, so the lane is the vec_dot's).
 * Register tile: 2 rows x 4 columns. The row copies are heap memory owned
 * by the call (576 bytes per super-block and row, a row pair at a time);
 * without it the caller's per-row dots do the work.
 */
#include <stdlib.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

#define KN_K6A_ROWS	2	/* rows per register tile */
#define KN_K6A_COLS	4	/* columns per register tile */

int64_t kn_avx2_gemm_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			  int64_t r0, int64_t r1);

/* one row's super-block, ready for the tile */
struct kn_k6a_row {
	__m256i q[8];	/* chunk m: the 6-bit values that meet Q8_K bytes 32m..32m+31 */
	__m256i s[8];	/* chunk m's two 16-value scales as int16, one per 128-bit half */
	__m256i nsc;	/* the 16 scales x -32 as int16, against bsums */
	__m256 d;	/* the row's d x 8 */
};

_Static_assert(sizeof(struct kn_k6a_row) % 32 == 0, "row copy alignment");

static void kn_k6a_row_fill(struct kn_k6a_row *dst, const kn_block_q6_K *x, int64_t nb)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);

	for (int64_t i = 0; i < nb; i++) {
		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = x[i].ql + 64 * h;
			const int8_t *sc = x[i].scales + 8 * h;
			const __m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
			const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
			const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
			__m256i *q = dst[i].q + 4 * h;

			q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
					       _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
			q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(
				_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
			q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
				_mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
			q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
				_mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
			for (int k = 0; k < 4; k++)
				dst[i].s[4 * h + k] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]),
								       _mm_set1_epi16(sc[2 * k]));
		}
		dst[i].nsc = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(
			_mm_loadu_si128((const __m128i *)x[i].scales)), _mm256_set1_epi16(-32));
		dst[i].d = _mm256_set1_ps(kn_avx2_h2f(x[i].d));
	}
}

/*
 * NC columns (@ys their Q8_K rows) x the row pair's copies @xc (nb apart);
 * out[c * n_rows + r] (+ bias[r])
 */
static inline __attribute__((always_inline)) void
kn_k6a_tile(const int NC, const struct kn_k6a_row *xc, const kn_block_q8_K *const *ys,
	    int64_t nb, float *out, int64_t n_rows, const float *bias)
{
	__m256 acc[KN_K6A_ROWS][KN_K6A_COLS];

	_Pragma("GCC unroll 4")
	for (int c = 0; c < NC; c++)
		for (int r = 0; r < KN_K6A_ROWS; r++)
			acc[r][c] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		const struct kn_k6a_row *x0 = &xc[i], *x1 = &xc[nb + i];
		__m256i sum[KN_K6A_ROWS][KN_K6A_COLS];

		/* each sum starts from 32 (bsums . scales) taken off, in one madd */
		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++) {
			const __m256i bs = _mm256_loadu_si256((const __m256i *)ys[c][i].bsums);

			sum[0][c] = _mm256_madd_epi16(bs, x0->nsc);
			sum[1][c] = _mm256_madd_epi16(bs, x1->nsc);
		}
		_Pragma("GCC unroll 8")
		for (int m = 0; m < 8; m++) {
			const __m256i q0 = _mm256_load_si256(&x0->q[m]);
			const __m256i q1 = _mm256_load_si256(&x1->q[m]);
			const __m256i s0 = _mm256_load_si256(&x0->s[m]);
			const __m256i s1 = _mm256_load_si256(&x1->s[m]);

			_Pragma("GCC unroll 4")
			for (int c = 0; c < NC; c++) {
				const __m256i v = _mm256_loadu_si256((const __m256i *)(ys[c][i].qs +
										       32 * m));

				sum[0][c] = _mm256_add_epi32(sum[0][c], _mm256_madd_epi16(
					_mm256_maddubs_epi16(q0, v), s0));
				sum[1][c] = _mm256_add_epi32(sum[1][c], _mm256_madd_epi16(
					_mm256_maddubs_epi16(q1, v), s1));
				/*
				 * each sum in its register, chunk after chunk: left
				 * free, GCC reassociates the 64 products into a tree
				 * that spills
				 */
				__asm__("" : "+x"(sum[0][c]), "+x"(sum[1][c]));
			}
		}
		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++) {
			/* y.d x d in each lane: the dot's scalar product */
			const __m256 yd = _mm256_broadcast_ss(&ys[c][i].d);

			acc[0][c] = _mm256_fmadd_ps(_mm256_mul_ps(yd, x0->d),
						    _mm256_cvtepi32_ps(sum[0][c]), acc[0][c]);
			acc[1][c] = _mm256_fmadd_ps(_mm256_mul_ps(yd, x1->d),
						    _mm256_cvtepi32_ps(sum[1][c]), acc[1][c]);
		}
	}
	_Pragma("GCC unroll 4")
	for (int c = 0; c < NC; c++)
		for (int r = 0; r < KN_K6A_ROWS; r++)
			out[c * n_rows + r] = kn_avx2_hsum_ps(acc[r][c]) + (bias ? bias[r] : 0.0f);
}

/**
 * kn_avx2_gemm_q6_K - out[c][r] (+ bias[r], 0 without one) for every
 * column and the rows [r0, r0 + 2 floor((r1 - r0) / 2)) of a Q6_K matrix
 * (rows of @wrs bytes) times Q8_K activations (@ars bytes a column); out is
 * [n_cols][n_rows]. Returns the rows done (0 where the copies could not be
 * allocated): the caller computes the rest.
 */
int64_t kn_avx2_gemm_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			  int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK_K, rn = (r1 - r0) / KN_K6A_ROWS * KN_K6A_ROWS;
	struct kn_k6a_row *xc;

	if (rn <= 0 || n_in % KN_QK_K || n_cols <= 0)
		return 0;
	xc = aligned_alloc(64, (KN_K6A_ROWS * nb * sizeof(*xc) + 63) & ~(size_t)63);
	if (!xc)
		return 0;
	for (int64_t r = r0; r < r0 + rn; r += KN_K6A_ROWS) {
		const float *br = bias ? bias + r : NULL;

		for (int k = 0; k < KN_K6A_ROWS; k++)
			kn_k6a_row_fill(xc + k * nb, (const kn_block_q6_K *)((const uint8_t *)w +
									     (r + k) * wrs), nb);
		for (int64_t c = 0; c < n_cols; c += KN_K6A_COLS) {
			const int nc = n_cols - c < KN_K6A_COLS ? (int)(n_cols - c) : KN_K6A_COLS;
			const kn_block_q8_K *ys[KN_K6A_COLS];
			float *o = out + c * n_rows + r;

			for (int k = 0; k < nc; k++)
				ys[k] = (const kn_block_q8_K *)((const uint8_t *)a + (size_t)(c + k) * ars);
			if (nc == 4)
				kn_k6a_tile(4, xc, ys, nb, o, n_rows, br);
			else if (nc == 3)
				kn_k6a_tile(3, xc, ys, nb, o, n_rows, br);
			else if (nc == 2)
				kn_k6a_tile(2, xc, ys, nb, o, n_rows, br);
			else
				kn_k6a_tile(1, xc, ys, nb, o, n_rows, br);
		}
	}
	free(xc);
	return rn;
}

int64_t kn_avx2_gemm_q6_K_tiled(int64_t n_in, const void *w, size_t wrs, const void *a,
				size_t ars, int64_t n_cols, const float *bias, float *out,
				int64_t n_rows, int64_t r0, int64_t r1);

/*
 * The tiled order (kn_tiled.c) on the same tile: the 8 sums' int32 lanes
 * fold per super-block (2 hadd levels and a 128-bit swap) to one register
 * [c0 r0, c0 r1, c1 r0, ..., c3 r1]; then cvt, x d_w, one fma with d_a
 * into one float register for the tile. @ys holds 4 columns (a short tile
 * repeats its last); out gets @nc of them.
 */
static void kn_k6a_tile_tiled(const struct kn_k6a_row *xc, const kn_block_q8_K *const *ys,
			      int64_t nb, int nc, float *out, int64_t n_rows, const float *bias)
{
	const __m256i dup = _mm256_set_epi32(3, 3, 2, 2, 1, 1, 0, 0);
	__m256 acc = _mm256_setzero_ps();
	float o[8];

	for (int64_t i = 0; i < nb; i++) {
		const struct kn_k6a_row *x0 = &xc[i], *x1 = &xc[nb + i];
		__m256i sum[KN_K6A_ROWS][KN_K6A_COLS];

		_Pragma("GCC unroll 4")
		for (int c = 0; c < KN_K6A_COLS; c++) {
			const __m256i bs = _mm256_loadu_si256((const __m256i *)ys[c][i].bsums);

			sum[0][c] = _mm256_madd_epi16(bs, x0->nsc);
			sum[1][c] = _mm256_madd_epi16(bs, x1->nsc);
		}
		_Pragma("GCC unroll 8")
		for (int m = 0; m < 8; m++) {
			const __m256i q0 = _mm256_load_si256(&x0->q[m]);
			const __m256i q1 = _mm256_load_si256(&x1->q[m]);
			const __m256i s0 = _mm256_load_si256(&x0->s[m]);
			const __m256i s1 = _mm256_load_si256(&x1->s[m]);

			_Pragma("GCC unroll 4")
			for (int c = 0; c < KN_K6A_COLS; c++) {
				const __m256i v = _mm256_loadu_si256((const __m256i *)(ys[c][i].qs +
										       32 * m));

				sum[0][c] = _mm256_add_epi32(sum[0][c], _mm256_madd_epi16(
					_mm256_maddubs_epi16(q0, v), s0));
				sum[1][c] = _mm256_add_epi32(sum[1][c], _mm256_madd_epi16(
					_mm256_maddubs_epi16(q1, v), s1));
				__asm__("" : "+x"(sum[0][c]), "+x"(sum[1][c]));
			}
		}
		const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(sum[0][0], sum[1][0]),
						     _mm256_hadd_epi32(sum[0][1], sum[1][1]));
		const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(sum[0][2], sum[1][2]),
						     _mm256_hadd_epi32(sum[0][3], sum[1][3]));
		const __m256i s = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20),
						   _mm256_permute2x128_si256(h0, h1, 0x31));
		const __m256 yd = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_set_ps(
			ys[3][i].d, ys[2][i].d, ys[1][i].d, ys[0][i].d)), dup);

		acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(s),
						    _mm256_blend_ps(x0->d, x1->d, 0xAA)), yd, acc);
	}
	_mm256_storeu_ps(o, acc);
	for (int c = 0; c < nc; c++)
		for (int r = 0; r < KN_K6A_ROWS; r++)
			out[c * n_rows + r] = o[2 * c + r] + (bias ? bias[r] : 0.0f);
}

/**
 * kn_avx2_gemm_q6_K_tiled - kn_avx2_gemm_q6_K's rows and columns, each output
 * in llama.cpp's tiled order (kn_ref_tiled_q6_K) instead of vec_dot's.
 */
int64_t kn_avx2_gemm_q6_K_tiled(int64_t n_in, const void *w, size_t wrs, const void *a,
				size_t ars, int64_t n_cols, const float *bias, float *out,
				int64_t n_rows, int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK_K, rn = (r1 - r0) / KN_K6A_ROWS * KN_K6A_ROWS;
	struct kn_k6a_row *xc;

	if (rn <= 0 || n_in % KN_QK_K || n_cols <= 0)
		return 0;
	xc = aligned_alloc(64, (KN_K6A_ROWS * nb * sizeof(*xc) + 63) & ~(size_t)63);
	if (!xc)
		return 0;
	for (int64_t r = r0; r < r0 + rn; r += KN_K6A_ROWS) {
		const float *br = bias ? bias + r : NULL;

		for (int k = 0; k < KN_K6A_ROWS; k++)
			kn_k6a_row_fill(xc + k * nb, (const kn_block_q6_K *)((const uint8_t *)w +
									     (r + k) * wrs), nb);
		for (int64_t c = 0; c < n_cols; c += KN_K6A_COLS) {
			const int nc = n_cols - c < KN_K6A_COLS ? (int)(n_cols - c) : KN_K6A_COLS;
			const kn_block_q8_K *ys[KN_K6A_COLS];

			for (int k = 0; k < KN_K6A_COLS; k++)
				ys[k] = (const kn_block_q8_K *)((const uint8_t *)a +
								(size_t)(c + (k < nc ? k : nc - 1)) * ars);
			kn_k6a_tile_tiled(xc, ys, nb, nc, out + c * n_rows + r, n_rows, br);
		}
	}
	free(xc);
	return rn;
}
