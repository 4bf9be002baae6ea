// SPDX-License-Identifier: MIT
/*
 * Q6_K . Q8_K products of many activation columns (prefill) on AVX-512 VNNI,
 * bit-identical to the one-column dot (kn_dot_k_avx512.c, ggml-cpu's x86
 * ggml_vec_dot_q6_K_q8_K): per super-block 8 int32 lanes of scaled sums
 * less 32 (bsums . scales), into an 8-lane float accumulator (one fma),
 * summed at the end in the same order. As kn_gemm_q4_K_avx512.c: a row's
 * 6-bit values and scales are made once per 64 columns (not once per 8),
 * a column's bsums and scale read from a copy made once per call, and
 * vpdpwssd adds the scaled pairs into the sum in the step that scales them.
 * Register tile: 2 rows x 4 columns. The copies are heap memory owned by
 * the call (about 1.1 KiB per super-block and row pair, 64 bytes per column
 * and super-block); without it the caller's per-row dots do the work.
 */
#include <stdlib.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

#define KN_K6_ROWS	2	/* rows per register tile */
#define KN_K6_COLS	4	/* columns per register tile */
#define KN_K6_CT	64	/* columns per copy */

int64_t kn_avx512_gemm_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1);

/* one row's super-block, ready for the tile */
struct kn_k6_row {
	__m512i q[4];	/* half h: [q0 | q1] at 2h, [q2 | q3] at 2h + 1 (6-bit values) */
	__m512i s[4];	/* their 16-value groups' scales as int16 */
	__m256i sc;	/* the 16 scales as int16, for 32 (bsums . scales) */
	float d;
};

/* one column's super-block */
struct kn_k6_col {
	__m256i bsums;
	float d;
};

_Static_assert(sizeof(struct kn_k6_row) % 64 == 0, "row copy alignment");
_Static_assert(sizeof(struct kn_k6_col) == 64, "column copy size");

static void kn_k6_row_fill(struct kn_k6_row *dst, const kn_block_q6_K *x, int64_t nb)
{
	const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(3);
	const __m512i sh01 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
	const __m512i sh23 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
	/* 16-bit lane l of [sc0 x8, sc1 x8, sc2 x8, sc3 x8] (and sc4-7) */
	const __m512i i01 = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2,
					     1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
	const __m512i i23 = _mm512_add_epi16(i01, _mm512_set1_epi16(4));

	for (int64_t i = 0; i < nb; i++) {
		for (int h = 0; h < 2; h++) {
			const __m512i l = _mm512_loadu_si512((const void *)(x[i].ql + 64 * h));
			const __m256i hb = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
			const __m512i hh = _mm512_inserti64x4(_mm512_castsi256_si512(hb), hb, 1);
			const __m512i sc = _mm512_castsi128_si512(_mm_cvtepi8_epi16(
				_mm_loadl_epi64((const __m128i *)(x[i].scales + 8 * h))));

			dst[i].q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_slli_epi16(
				_mm512_and_si512(_mm512_srlv_epi16(hh, sh01), m2), 4));
			dst[i].q[2 * h + 1] = _mm512_or_si512(
				_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
				_mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(hh, sh23), m2), 4));
			dst[i].s[2 * h] = _mm512_permutexvar_epi16(i01, sc);
			dst[i].s[2 * h + 1] = _mm512_permutexvar_epi16(i23, sc);
		}
		dst[i].sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
		dst[i].d = kn_avx2_h2f(x[i].d);
	}
}

static void kn_k6_col_fill(struct kn_k6_col *dst, const kn_block_q8_K *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++) {
		dst[i].bsums = _mm256_loadu_si256((const __m256i *)y[i].bsums);
		dst[i].d = y[i].d;
	}
}

/* the 8 lanes of a 512-bit integer sum as the AVX2 code holds them */
static inline __m256i kn_k6_fold(__m512i s)
{
	return _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
}

/*
 * NC columns (@ys their Q8_K rows, @yc their copies, nb apart) x the row
 * pair's copies @xc (nb apart); out[i * n_rows + r] (+ bias[r])
 */
static inline __attribute__((always_inline)) void
kn_k6_tile(const int NC, const struct kn_k6_row *xc, const kn_block_q8_K *const *ys,
	   const struct kn_k6_col *yc, int64_t nb, float *out, int64_t n_rows, const float *bias)
{
	__m256 acc[KN_K6_ROWS][KN_K6_COLS];

	_Pragma("GCC unroll 4")
	for (int c = 0; c < NC; c++)
		for (int r = 0; r < KN_K6_ROWS; r++)
			acc[r][c] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		__m512i sum[KN_K6_ROWS][KN_K6_COLS];

		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++)
			for (int r = 0; r < KN_K6_ROWS; r++)
				sum[r][c] = _mm512_setzero_si512();
		_Pragma("GCC unroll 4")
		for (int j = 0; j < 4; j++) {
			_Pragma("GCC unroll 4")
			for (int c = 0; c < NC; c++) {
				const __m512i v = _mm512_loadu_si512((const void *)(ys[c][i].qs + 64 * j));

				for (int r = 0; r < KN_K6_ROWS; r++) {
					const struct kn_k6_row *x = &xc[r * nb + i];

					/* the scaled pairs added into the sum in one step, exact */
					sum[r][c] = _mm512_dpwssd_epi32(sum[r][c],
						_mm512_maddubs_epi16(x->q[j], v), x->s[j]);
				}
			}
		}
		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++) {
			const struct kn_k6_col *y = &yc[c * nb + i];

			for (int r = 0; r < KN_K6_ROWS; r++) {
				const struct kn_k6_row *x = &xc[r * nb + i];
				const float d = y->d * x->d;
				const __m256i si = _mm256_sub_epi32(kn_k6_fold(sum[r][c]),
					_mm256_slli_epi32(_mm256_madd_epi16(y->bsums, x->sc), 5));

				acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(si),
							    acc[r][c]);
			}
		}
	}
	_Pragma("GCC unroll 4")
	for (int c = 0; c < NC; c++)
		for (int r = 0; r < KN_K6_ROWS; r++)
			out[c * n_rows + r] = kn_avx2_hsum_ps(acc[r][c]) + (bias ? bias[r] : 0.0f);
}

/**
 * kn_avx512_gemm_q6_K - out[c][r] (+ bias[r], 0 without one) for every
 * column and the rows [r0, r0 + 2 floor((r1 - r0) / 2)) of a Q6_K matrix
 * (rows of @wrs bytes) times Q8_K activations (@ars bytes a column); out is
 * [n_cols][n_rows]. Returns the rows done (0 where the copies could not be
 * allocated): the caller computes the rest.
 */
int64_t kn_avx512_gemm_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK_K, rn = (r1 - r0) / KN_K6_ROWS * KN_K6_ROWS;
	const int64_t ct_max = n_cols < KN_K6_CT ? n_cols : KN_K6_CT;
	struct kn_k6_row *xc;
	struct kn_k6_col *yc;

	if (rn <= 0 || n_in % KN_QK_K || n_cols <= 0)
		return 0;
	xc = aligned_alloc(64, (KN_K6_ROWS * nb * sizeof(*xc) + ct_max * nb * sizeof(*yc) + 63) &
				~(size_t)63);
	if (!xc)
		return 0;
	yc = (struct kn_k6_col *)(xc + KN_K6_ROWS * nb);
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_K6_CT) {
		const int ct = n_cols - c0 < KN_K6_CT ? (int)(n_cols - c0) : KN_K6_CT;

		for (int c = 0; c < ct; c++)
			kn_k6_col_fill(yc + c * nb, (const kn_block_q8_K *)((const uint8_t *)a +
									   (size_t)(c0 + c) * ars), nb);
		for (int64_t r = r0; r < r0 + rn; r += KN_K6_ROWS) {
			for (int k = 0; k < KN_K6_ROWS; k++)
				kn_k6_row_fill(xc + k * nb, (const kn_block_q6_K *)((const uint8_t *)w +
										    (r + k) * wrs), nb);
			for (int c = 0; c < ct; c += KN_K6_COLS) {
				const int nc = ct - c < KN_K6_COLS ? ct - c : KN_K6_COLS;
				const kn_block_q8_K *ys[KN_K6_COLS];
				float *o = out + (c0 + c) * n_rows + r;
				const float *br = bias ? bias + r : NULL;

				for (int i = 0; i < nc; i++)
					ys[i] = (const kn_block_q8_K *)((const uint8_t *)a +
									(size_t)(c0 + c + i) * ars);
				if (nc == 4)
					kn_k6_tile(4, xc, ys, yc + c * nb, nb, o, n_rows, br);
				else if (nc == 3)
					kn_k6_tile(3, xc, ys, yc + c * nb, nb, o, n_rows, br);
				else if (nc == 2)
					kn_k6_tile(2, xc, ys, yc + c * nb, nb, o, n_rows, br);
				else
					kn_k6_tile(1, xc, ys, yc + c * nb, nb, o, n_rows, br);
			}
		}
	}
	free(xc);
	return rn;
}
