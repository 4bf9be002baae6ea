// SPDX-License-Identifier: MIT
/*
 * Q4_K . Q8_K products of many activation columns (prefill) on AVX-512 VNNI,
 * bit-identical to the one-column dot (kn_dot_k_avx512.c, ggml-cpu's x86
 * ggml_vec_dot_q4_K_q8_K): per super-block 8 int32 lanes of scaled sums
 * into an 8-lane float accumulator (one fma), the mins into a 4-lane one,
 * both summed at the end in the same order. Only the work around them is
 * shared: a row's unpacked nibbles, sub-block scales and mins are made once
 * per 64 columns (not once per 8), a column's paired bsums and scale once
 * per call (not once per row), and vpdpwssd adds the scaled pairs into the
 * sum in the step that scales them. Register tile: 2 rows x 4 columns.
 * The row and column copies are heap memory owned by the call (about 1.1
 * KiB per super-block and row pair, 32 bytes per column and super-block);
 * without it the caller's per-row dots do the work.
 */
#include <stdlib.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

#define KN_K5_ROWS	2	/* rows per register tile */
#define KN_K5_COLS	4	/* columns per register tile */
#define KN_K5_CT	64	/* columns per copy */

int64_t kn_avx512_gemm_q4_K(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1);

/* one row's super-block, ready for the tile */
struct kn_k5_row {
	__m512i q[4];	/* nibbles of 32-byte group j: [low | high] */
	__m512i s[4];	/* sub-block scales 2j, 2j+1 as 16 x int16 each */
	__m128i m;	/* the 8 mins as int16 */
	float d, dmin;
};

/* one column's super-block */
struct kn_k5_col {
	__m128i q8s;	/* bsums paired: q8s[k] = bsums[2k] + bsums[2k + 1] */
	float d;
};

_Static_assert(sizeof(struct kn_k5_row) % 64 == 0, "row copy alignment");
_Static_assert(sizeof(struct kn_k5_col) == 32, "column copy size");

static void kn_k5_row_fill(struct kn_k5_row *dst, const kn_block_q4_K *x, int64_t nb)
{
	const __m512i m4 = _mm512_set1_epi8(0x0F);

	for (int64_t i = 0; i < nb; i++) {
		uint32_t u[4];
		const uint8_t *sc = (const uint8_t *)u;

		kn_q4_K_scales_mins(x[i].scales, u);
		for (int j = 0; j < 4; j++) {
			const __m256i b = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));

			dst[i].q[j] = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(b),
						       _mm256_srli_epi16(b, 4), 1), m4);
			dst[i].s[j] = _mm512_inserti64x4(
				_mm512_castsi256_si512(_mm256_set1_epi16(sc[2 * j])),
				_mm256_set1_epi16(sc[2 * j + 1]), 1);
		}
		dst[i].m = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)&u[2]));
		dst[i].d = kn_avx2_h2f(x[i].d);
		dst[i].dmin = kn_avx2_h2f(x[i].dmin);
	}
}

static void kn_k5_col_fill(struct kn_k5_col *dst, const kn_block_q8_K *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++) {
		const __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);

		dst[i].q8s = _mm_hadd_epi16(_mm256_castsi256_si128(bs),
					    _mm256_extracti128_si256(bs, 1));
		dst[i].d = y[i].d;
	}
}

/* the 8 lanes of a 512-bit integer sum as the AVX2 code holds them */
static inline __m256i kn_k5_fold(__m512i s)
{
	return _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
}

/* the four horizontal steps kn_avx2_dot_q4_K ends its min accumulator with */
static inline float kn_k5_sum4(__m128 m)
{
	m = _mm_add_ps(m, _mm_movehl_ps(m, m));
	m = _mm_add_ss(m, _mm_movehdup_ps(m));
	return _mm_cvtss_f32(m);
}

/*
 * NC columns (@ys their Q8_K rows, @yc their copies, nb apart) x the row
 * pair's copies @xc (nb apart); out[i * n_rows + r] (+ bias[r])
 */
static inline __attribute__((always_inline)) void
kn_k5_tile(const int NC, const struct kn_k5_row *xc, const kn_block_q8_K *const *ys,
	   const struct kn_k5_col *yc, int64_t nb, float *out, int64_t n_rows, const float *bias)
{
	__m256 acc[KN_K5_ROWS][KN_K5_COLS];
	__m128 accm[KN_K5_ROWS][KN_K5_COLS];

	_Pragma("GCC unroll 4")
	for (int c = 0; c < NC; c++)
		for (int r = 0; r < KN_K5_ROWS; r++) {
			acc[r][c] = _mm256_setzero_ps();
			accm[r][c] = _mm_setzero_ps();
		}
	for (int64_t i = 0; i < nb; i++) {
		__m512i sum[KN_K5_ROWS][KN_K5_COLS];

		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++)
			for (int r = 0; r < KN_K5_ROWS; r++)
				sum[r][c] = _mm512_setzero_si512();
		_Pragma("GCC unroll 4")
		for (int j = 0; j < 4; j++) {
			_Pragma("GCC unroll 4")
			for (int c = 0; c < NC; c++) {
				const __m512i v = _mm512_loadu_si512((const void *)(ys[c][i].qs + 64 * j));

				for (int r = 0; r < KN_K5_ROWS; r++) {
					const struct kn_k5_row *x = &xc[r * nb + i];

					/* the scaled pairs added into the sum in one step, exact */
					sum[r][c] = _mm512_dpwssd_epi32(sum[r][c],
						_mm512_maddubs_epi16(x->q[j], v), x->s[j]);
				}
			}
		}
		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++) {
			const struct kn_k5_col *y = &yc[c * nb + i];

			for (int r = 0; r < KN_K5_ROWS; r++) {
				const struct kn_k5_row *x = &xc[r * nb + i];
				const float dmin = -y->d * x->dmin, d = y->d * x->d;

				accm[r][c] = _mm_fmadd_ps(_mm_set1_ps(dmin),
					_mm_cvtepi32_ps(_mm_madd_epi16(x->m, y->q8s)), accm[r][c]);
				acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d),
					_mm256_cvtepi32_ps(kn_k5_fold(sum[r][c])), acc[r][c]);
			}
		}
	}
	_Pragma("GCC unroll 4")
	for (int c = 0; c < NC; c++)
		for (int r = 0; r < KN_K5_ROWS; r++)
			out[c * n_rows + r] = kn_avx2_hsum_ps(acc[r][c]) + kn_k5_sum4(accm[r][c]) +
					      (bias ? bias[r] : 0.0f);
}

/**
 * kn_avx512_gemm_q4_K - out[c][r] (+ bias[r], 0 without one) for every
 * column and the rows [r0, r0 + 2 floor((r1 - r0) / 2)) of a Q4_K matrix
 * (rows of @wrs bytes) times Q8_K activations (@ars bytes a column); out is
 * [n_cols][n_rows]. Returns the rows done (0 where the copies could not be
 * allocated): the caller computes the rest.
 */
int64_t kn_avx512_gemm_q4_K(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK_K, rn = (r1 - r0) / KN_K5_ROWS * KN_K5_ROWS;
	const int64_t ct_max = n_cols < KN_K5_CT ? n_cols : KN_K5_CT;
	struct kn_k5_row *xc;
	struct kn_k5_col *yc;

	if (rn <= 0 || n_in % KN_QK_K || n_cols <= 0)
		return 0;
	xc = aligned_alloc(64, (KN_K5_ROWS * nb * sizeof(*xc) + ct_max * nb * sizeof(*yc) + 63) &
				~(size_t)63);
	if (!xc)
		return 0;
	yc = (struct kn_k5_col *)(xc + KN_K5_ROWS * nb);
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_K5_CT) {
		const int ct = n_cols - c0 < KN_K5_CT ? (int)(n_cols - c0) : KN_K5_CT;

		for (int c = 0; c < ct; c++)
			kn_k5_col_fill(yc + c * nb, (const kn_block_q8_K *)((const uint8_t *)a +
									   (size_t)(c0 + c) * ars), nb);
		for (int64_t r = r0; r < r0 + rn; r += KN_K5_ROWS) {
			for (int k = 0; k < KN_K5_ROWS; k++)
				kn_k5_row_fill(xc + k * nb, (const kn_block_q4_K *)((const uint8_t *)w +
										    (r + k) * wrs), nb);
			for (int c = 0; c < ct; c += KN_K5_COLS) {
				const int nc = ct - c < KN_K5_COLS ? ct - c : KN_K5_COLS;
				const kn_block_q8_K *ys[KN_K5_COLS];
				float *o = out + (c0 + c) * n_rows + r;
				const float *br = bias ? bias + r : NULL;

				for (int i = 0; i < nc; i++)
					ys[i] = (const kn_block_q8_K *)((const uint8_t *)a +
									(size_t)(c0 + c + i) * ars);
				if (nc == 4)
					kn_k5_tile(4, xc, ys, yc + c * nb, nb, o, n_rows, br);
				else if (nc == 3)
					kn_k5_tile(3, xc, ys, yc + c * nb, nb, o, n_rows, br);
				else if (nc == 2)
					kn_k5_tile(2, xc, ys, yc + c * nb, nb, o, n_rows, br);
				else
					kn_k5_tile(1, xc, ys, yc + c * nb, nb, o, n_rows, br);
			}
		}
	}
	free(xc);
	return rn;
}
