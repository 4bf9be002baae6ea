// SPDX-License-Identifier: MIT
/*
 * Q5_K . Q8_K batches in llama.cpp's tiled order (kn_tiled.c) on AVX2, the
 * tile of kn_gemm_q6_K_avx2.c's tiled GEMM: 2 rows x 4 columns, each row's
 * 5-bit values (natural order) and sub-block scales as int16 made once per
 * call; per super-block and output 8 int32 lanes of scaled products
 * (maddubs, madd: exact) and 8 of mins . bsums (one madd), each set folded
 * (hadd, hadd, 128-bit swap) to one register [c0 r0, c0 r1, ..., c3 r1];
 * then cvt, x d, fnmadd dmin x s2, one fma with d_a: bit-identical to
 * kn_ref_tiled_q5_K.
 */
#include <stdlib.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

#define KN_K5A_ROWS	2
#define KN_K5A_COLS	4

int64_t kn_avx2_gemm_q5_K_tiled(int64_t n_in, const void *w, size_t wrs, const void *a,
				size_t ars, int64_t n_cols, const float *bias, float *out,
				int64_t n_rows, int64_t r0, int64_t r1);

struct kn_k5a_row {
	__m256i q[8];	/* sub-block m: its 32 values */
	__m256i s[8];	/* sub-block m's scale as int16 */
	__m256i mins;	/* min of sub-block k / 2 in int16 lane k, against the 16 bsums */
	__m256 d, dmin;	/* x 8 */
};

static void kn_k5a_row_fill(struct kn_k5a_row *dst, const kn_block_q5_K *x, int64_t nb)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);

	for (int64_t i = 0; i < nb; i++) {
		const __m256i hb = _mm256_loadu_si256((const __m256i *)x[i].qh);
		uint32_t u[4];
		const uint8_t *sc = (const uint8_t *)u, *mn = (const uint8_t *)u + 8;

		for (int j = 0; j < 4; j++) {
			const __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
			const __m256i hl = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), one);
			const __m256i hh = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), one);

			dst[i].q[2 * j] = _mm256_or_si256(_mm256_and_si256(q4, m4),
							  _mm256_slli_epi16(hl, 4));
			dst[i].q[2 * j + 1] = _mm256_or_si256(_mm256_and_si256(
				_mm256_srli_epi16(q4, 4), m4), _mm256_slli_epi16(hh, 4));
		}
		kn_q4_K_scales_mins(x[i].scales, u);
		for (int m = 0; m < 8; m++)
			dst[i].s[m] = _mm256_set1_epi16(sc[m]);
		dst[i].mins = _mm256_set_epi16(mn[7], mn[7], mn[6], mn[6], mn[5], mn[5], mn[4],
					       mn[4], mn[3], mn[3], mn[2], mn[2], mn[1], mn[1],
					       mn[0], mn[0]);
		dst[i].d = _mm256_set1_ps(kn_avx2_h2f(x[i].d));
		dst[i].dmin = _mm256_set1_ps(kn_avx2_h2f(x[i].dmin));
	}
}

/* 8 lane vectors (v[c][r]) -> their sums, [c0 r0, c0 r1, ..., c3 r1] */
static inline __m256i kn_k5a_fold(__m256i v[KN_K5A_COLS][KN_K5A_ROWS])
{
	const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0][0], v[0][1]),
					     _mm256_hadd_epi32(v[1][0], v[1][1]));
	const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[2][0], v[2][1]),
					     _mm256_hadd_epi32(v[3][0], v[3][1]));

	return _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20),
				_mm256_permute2x128_si256(h0, h1, 0x31));
}

static void kn_k5a_tile(const struct kn_k5a_row *xc, const kn_block_q8_K *const *ys, int64_t nb,
			int nc, float *out, int64_t n_rows, const float *bias)
{
	const __m256i dup = _mm256_set_epi32(3, 3, 2, 2, 1, 1, 0, 0);
	__m256 acc = _mm256_setzero_ps();
	float o[8];

	for (int64_t i = 0; i < nb; i++) {
		const struct kn_k5a_row *x0 = &xc[i], *x1 = &xc[nb + i];
		__m256i sum[KN_K5A_COLS][KN_K5A_ROWS], mn[KN_K5A_COLS][KN_K5A_ROWS];

		_Pragma("GCC unroll 4")
		for (int c = 0; c < KN_K5A_COLS; c++) {
			const __m256i bs = _mm256_loadu_si256((const __m256i *)ys[c][i].bsums);

			mn[c][0] = _mm256_madd_epi16(bs, x0->mins);
			mn[c][1] = _mm256_madd_epi16(bs, x1->mins);
			sum[c][0] = _mm256_setzero_si256();
			sum[c][1] = _mm256_setzero_si256();
		}
		_Pragma("GCC unroll 8")
		for (int m = 0; m < 8; m++) {
			const __m256i q0 = _mm256_load_si256(&x0->q[m]);
			const __m256i q1 = _mm256_load_si256(&x1->q[m]);
			const __m256i s0 = _mm256_load_si256(&x0->s[m]);
			const __m256i s1 = _mm256_load_si256(&x1->s[m]);

			_Pragma("GCC unroll 4")
			for (int c = 0; c < KN_K5A_COLS; c++) {
				const __m256i v = _mm256_loadu_si256((const __m256i *)(ys[c][i].qs +
										       32 * m));

				sum[c][0] = _mm256_add_epi32(sum[c][0], _mm256_madd_epi16(
					_mm256_maddubs_epi16(q0, v), s0));
				sum[c][1] = _mm256_add_epi32(sum[c][1], _mm256_madd_epi16(
					_mm256_maddubs_epi16(q1, v), s1));
				__asm__("" : "+x"(sum[c][0]), "+x"(sum[c][1]));
			}
		}
		const __m256 yd = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_set_ps(
			ys[3][i].d, ys[2][i].d, ys[1][i].d, ys[0][i].d)), dup);
		__m256 r = _mm256_mul_ps(_mm256_cvtepi32_ps(kn_k5a_fold(sum)),
					 _mm256_blend_ps(x0->d, x1->d, 0xAA));

		r = _mm256_fnmadd_ps(_mm256_blend_ps(x0->dmin, x1->dmin, 0xAA),
				     _mm256_cvtepi32_ps(kn_k5a_fold(mn)), r);
		acc = _mm256_fmadd_ps(r, yd, acc);
	}
	_mm256_storeu_ps(o, acc);
	for (int c = 0; c < nc; c++)
		for (int r = 0; r < KN_K5A_ROWS; r++)
			out[c * n_rows + r] = o[2 * c + r] + (bias ? bias[r] : 0.0f);
}

/**
 * kn_avx2_gemm_q5_K_tiled - out[c][r] (+ bias[r]) for every column and the
 * rows [r0, r0 + 2 floor((r1 - r0) / 2)) of a Q5_K matrix times Q8_K
 * activations in the tiled order; returns the rows done (0 where the copies
 * could not be allocated): the caller computes the rest.
 */
int64_t kn_avx2_gemm_q5_K_tiled(int64_t n_in, const void *w, size_t wrs, const void *a,
				size_t ars, int64_t n_cols, const float *bias, float *out,
				int64_t n_rows, int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK_K, rn = (r1 - r0) / KN_K5A_ROWS * KN_K5A_ROWS;
	struct kn_k5a_row *xc;

	if (rn <= 0 || n_in % KN_QK_K || n_cols <= 0)
		return 0;
	xc = aligned_alloc(64, (KN_K5A_ROWS * nb * sizeof(*xc) + 63) & ~(size_t)63);
	if (!xc)
		return 0;
	for (int64_t r = r0; r < r0 + rn; r += KN_K5A_ROWS) {
		const float *br = bias ? bias + r : NULL;

		for (int k = 0; k < KN_K5A_ROWS; k++)
			kn_k5a_row_fill(xc + k * nb, (const kn_block_q5_K *)((const uint8_t *)w +
									     (r + k) * wrs), nb);
		for (int64_t c = 0; c < n_cols; c += KN_K5A_COLS) {
			const int nc = n_cols - c < KN_K5A_COLS ? (int)(n_cols - c) : KN_K5A_COLS;
			const kn_block_q8_K *ys[KN_K5A_COLS];

			for (int k = 0; k < KN_K5A_COLS; k++)
				ys[k] = (const kn_block_q8_K *)((const uint8_t *)a +
								(size_t)(c + (k < nc ? k : nc - 1)) * ars);
			kn_k5a_tile(xc, ys, nb, nc, out + c * n_rows + r, n_rows, br);
		}
	}
	free(xc);
	return rn;
}
