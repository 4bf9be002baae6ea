// SPDX-License-Identifier: MIT
/*
 * Q4_K . Q8_K products of many activation columns (prefill) on AVX2 in the
 * orders of llama.cpp's repacked q4_K_8x8 kernels (kn_ref_dot_q4_K_x8g for a
 * column the gemm takes, kn_ref_dot_q4_K_x8 for one the gemv takes): the AVX2
 * twin of kn_gemm_q4_K_x8_avx512.c, whose comment says why it is fast.
 *
 * Here a panel is 8 rows (one ymm of lanes) and a register tile 8 rows x 4
 * columns; the integer sums go through vpmaddubsw: unsigned nibbles (<= 15)
 * times activations (|y| <= 128) give pairs of at most 3840, so a sub-block's
 * 8 steps add up in int16 without wrapping (<= 30720) before one vpmaddwd
 * with the rows' scales (<= 63) widens them: exact, as the sum must be.
 */
#include <stddef.h>
#include <stdlib.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

#define KN_K2_ROWS	8	/* rows per panel: one ymm of int32/float lanes */
#define KN_K2_COLS	4	/* columns per register tile */

int64_t kn_avx2_gemm_q4_K_x8p(int64_t n_in, const void *w, size_t wrs, const void *a,
			      size_t ars, int64_t n_cols, const uint8_t *gemm, const float *bias,
			      float *out, int64_t n_rows, int64_t r0, int64_t r1);

/* one super-block of the panel's 8 rows */
struct kn_k2_sb {
	_Alignas(32) uint8_t q[8][8][32];	/* [sub-block][j][4 row + t]: k = 4j + t */
	_Alignas(32) int32_t sc[8][KN_K2_ROWS];	/* the sub-blocks' scales, twice: sc | sc << 16 */
	_Alignas(32) int32_t mn[4][KN_K2_ROWS];	/* pair p: m_2p | m_2p+1 << 16 */
	_Alignas(32) float d[KN_K2_ROWS], dm[KN_K2_ROWS];
};

/* one column's super-block: bsums paired per 32 values, 2 a pair p; its scale */
struct kn_k2_col {
	int32_t bs[4];	/* bsum32_2p | bsum32_2p+1 << 16 */
	float d;
	int32_t pad[3];
};

_Static_assert(sizeof(struct kn_k2_sb) % 32 == 0, "panel alignment");

static void kn_k2_panel_fill(struct kn_k2_sb *p, const uint8_t *w, size_t wrs, int64_t nb)
{
	const __m256i idx = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0),
					       _mm256_set1_epi32((int)wrs));
	const __m256i m4 = _mm256_set1_epi8(0x0F), m6 = _mm256_set1_epi32(0x3f3f3f3f);
	const __m256i k2 = _mm256_set1_epi32(0x0f0f0f0f), k3 = _mm256_set1_epi32(0x03030303);
	const __m256i lo8 = _mm256_set1_epi32(0xff), lo16 = _mm256_set1_epi32(0xffff);
	const __m256i b02 = _mm256_set1_epi32(0x00ff00ff);

	for (int64_t i = 0; i < nb; i++, p++) {
		const uint8_t *blk = w + (size_t)i * sizeof(kn_block_q4_K);
		const __m256i dd = _mm256_i32gather_epi32((const int *)blk, idx, 1);
		const __m256i u0 = _mm256_i32gather_epi32((const int *)(blk + 4), idx, 1);
		const __m256i u1 = _mm256_i32gather_epi32((const int *)(blk + 8), idx, 1);
		const __m256i u2 = _mm256_i32gather_epi32((const int *)(blk + 12), idx, 1);
		/* kn_q4_K_scales_mins on 8 rows: scales 0-3, 4-7, mins 0-3, 4-7 */
		const __m256i s03 = _mm256_and_si256(u0, m6);
		const __m256i s47 = _mm256_or_si256(_mm256_and_si256(u2, k2),
			_mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), k3), 4));
		const __m256i m03 = _mm256_and_si256(u1, m6);
		const __m256i m47 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), k2),
			_mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), k3), 4));
		const __m256i dl = _mm256_and_si256(dd, lo16), dh = _mm256_srli_epi32(dd, 16);

		_mm256_store_ps(p->d, _mm256_cvtph_ps(_mm_packus_epi32(
			_mm256_castsi256_si128(dl), _mm256_extracti128_si256(dl, 1))));
		_mm256_store_ps(p->dm, _mm256_cvtph_ps(_mm_packus_epi32(
			_mm256_castsi256_si128(dh), _mm256_extracti128_si256(dh, 1))));
		for (int s = 0; s < 4; s++) {
			const __m256i a = _mm256_and_si256(_mm256_srli_epi32(s03, 8 * s), lo8);
			const __m256i b = _mm256_and_si256(_mm256_srli_epi32(s47, 8 * s), lo8);

			_mm256_store_si256((__m256i *)p->sc[s],
					   _mm256_or_si256(a, _mm256_slli_epi32(a, 16)));
			_mm256_store_si256((__m256i *)p->sc[s + 4],
					   _mm256_or_si256(b, _mm256_slli_epi32(b, 16)));
		}
		for (int q = 0; q < 2; q++) {
			const __m256i m = q ? m47 : m03;
			/* bytes m_4q.. m_4q+3 -> (m_4q | m_4q+1 << 16), (m_4q+2 | m_4q+3 << 16) */
			const __m256i a = _mm256_and_si256(m, b02);
			const __m256i b = _mm256_and_si256(_mm256_srli_epi32(m, 8), b02);

			_mm256_store_si256((__m256i *)p->mn[2 * q], _mm256_or_si256(
				_mm256_and_si256(a, lo8), _mm256_slli_epi32(_mm256_and_si256(b, lo8), 16)));
			_mm256_store_si256((__m256i *)p->mn[2 * q + 1], _mm256_or_si256(
				_mm256_srli_epi32(a, 16),
				_mm256_and_si256(b, _mm256_set1_epi32(0x00ff0000))));
		}
		for (int g = 0; g < 4; g++) {
			for (int j = 0; j < 8; j++) {
				/* qs[32g + 4j..]: low nibbles sub-block 2g, high 2g + 1 */
				const __m256i v = _mm256_i32gather_epi32(
					(const int *)(blk + offsetof(kn_block_q4_K, qs) + 32 * g + 4 * j),
					idx, 1);

				_mm256_store_si256((__m256i *)p->q[2 * g][j], _mm256_and_si256(v, m4));
				_mm256_store_si256((__m256i *)p->q[2 * g + 1][j],
						   _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
			}
		}
	}
}

static void kn_k2_col_fill(struct kn_k2_col *t, const kn_block_q8_K *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++) {
		const __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);

		_mm_storeu_si128((__m128i *)t[i].bs, _mm_hadd_epi16(_mm256_castsi256_si128(bs),
							    _mm256_extracti128_si256(bs, 1)));
		t[i].d = y[i].d;
	}
}

/*
 * NC columns (@y their Q8_K rows, @t their sums, nb apart; @gemm their
 * orders) x the panel's 8 rows; @res[c] the 8 results
 */
static inline __attribute__((always_inline)) void
kn_k2_tile(const int NC, const struct kn_k2_sb *p, const kn_block_q8_K *const *y,
	   const struct kn_k2_col *t, int64_t nb, const uint8_t *gemm, __m256 *res)
{
	__m256 acc[KN_K2_COLS], accm[KN_K2_COLS];

	_Pragma("GCC unroll 4")
	for (int c = 0; c < NC; c++)
		acc[c] = accm[c] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		const struct kn_k2_sb *P = &p[i];
		__m256 vd[KN_K2_COLS];
		__m256i isum[KN_K2_COLS];

		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++) {
			const struct kn_k2_col *tc = &t[c * nb + i];
			const __m256 da = _mm256_set1_ps(tc->d);
			const __m256 vm = _mm256_mul_ps(_mm256_load_ps(P->dm), da);
			__m256i im[4];

			vd[c] = _mm256_mul_ps(_mm256_load_ps(P->d), da);
			isum[c] = _mm256_setzero_si256();
			for (int q = 0; q < 4; q++)
				im[q] = _mm256_madd_epi16(_mm256_load_si256((const __m256i *)P->mn[q]),
							  _mm256_set1_epi32(tc->bs[q]));
			if (gemm[c]) {
				for (int q = 0; q < 4; q++)
					accm[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(im[q]), vm, accm[c]);
			} else {
				const __m256i s = _mm256_add_epi32(_mm256_add_epi32(im[0], im[1]),
								   _mm256_add_epi32(im[2], im[3]));

				accm[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), vm, accm[c]);
			}
		}
		_Pragma("GCC unroll 1")
		for (int q = 0; q < 4; q++) {
			__m256i s[KN_K2_COLS];

			_Pragma("GCC unroll 2")
			for (int h = 0; h < 2; h++) {
				const int sb = 2 * q + h;
				__m256i s16[KN_K2_COLS];

				_Pragma("GCC unroll 4")
				for (int c = 0; c < NC; c++)
					s16[c] = _mm256_setzero_si256();
				_Pragma("GCC unroll 2")
				for (int j = 0; j < 8; j++) {
					const __m256i wq = _mm256_load_si256((const __m256i *)P->q[sb][j]);

					_Pragma("GCC unroll 4")
					for (int c = 0; c < NC; c++) {
						int32_t y4;

						memcpy(&y4, y[c][i].qs + 64 * q + 32 * h + 4 * j, 4);
						s16[c] = _mm256_add_epi16(s16[c], _mm256_maddubs_epi16(
							wq, _mm256_set1_epi32(y4)));
					}
				}
				const __m256i sc = _mm256_load_si256((const __m256i *)P->sc[sb]);

				_Pragma("GCC unroll 4")
				for (int c = 0; c < NC; c++) {
					const __m256i v = _mm256_madd_epi16(s16[c], sc);

					s[c] = h ? _mm256_add_epi32(s[c], v) : v;
				}
			}
			_Pragma("GCC unroll 4")
			for (int c = 0; c < NC; c++) {
				if (gemm[c])
					acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[c]), vd[c], acc[c]);
				else
					isum[c] = _mm256_add_epi32(isum[c], s[c]);
			}
		}
		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++)
			if (!gemm[c])
				acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), vd[c], acc[c]);
	}
	_Pragma("GCC unroll 4")
	for (int c = 0; c < NC; c++)
		res[c] = _mm256_sub_ps(acc[c], accm[c]);
}

static void kn_k2_tile_n(int nc, const struct kn_k2_sb *p, const kn_block_q8_K *const *y,
			 const struct kn_k2_col *t, int64_t nb, const uint8_t *gemm, __m256 *res)
{
	switch (nc) {
	case 4: kn_k2_tile(4, p, y, t, nb, gemm, res); break;
	case 3: kn_k2_tile(3, p, y, t, nb, gemm, res); break;
	case 2: kn_k2_tile(2, p, y, t, nb, gemm, res); break;
	default: kn_k2_tile(1, p, y, t, nb, gemm, res); break;
	}
}

/**
 * kn_avx2_gemm_q4_K_x8p - kn_avx512_gemm_q4_K_x8 on AVX2: the rows
 * [r0, r0 + 8 floor((r1 - r0) / 8)) in panels of 8; returns the rows done (0
 * where the panel could not be allocated), the caller computes the rest.
 */
int64_t kn_avx2_gemm_q4_K_x8p(int64_t n_in, const void *w, size_t wrs, const void *a,
			      size_t ars, int64_t n_cols, const uint8_t *gemm, const float *bias,
			      float *out, int64_t n_rows, int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK_K, rn = (r1 - r0) / KN_K2_ROWS * KN_K2_ROWS;
	struct kn_k2_sb *p;
	struct kn_k2_col *t;

	if (rn <= 0 || n_in % KN_QK_K || n_cols <= 0)
		return 0;
	p = aligned_alloc(32, nb * sizeof(*p) + ((n_cols * nb * sizeof(*t) + 31) & ~(size_t)31));
	if (!p)
		return 0;
	t = (struct kn_k2_col *)(p + nb);
	for (int64_t c = 0; c < n_cols; c++)
		kn_k2_col_fill(t + c * nb, (const kn_block_q8_K *)((const uint8_t *)a + c * ars), nb);
	for (int64_t r = r0; r < r0 + rn; r += KN_K2_ROWS) {
		float b[KN_K2_ROWS];

		for (int k = 0; k < KN_K2_ROWS; k++)
			b[k] = bias ? bias[r + k] : 0.0f;
		kn_k2_panel_fill(p, (const uint8_t *)w + r * wrs, wrs, nb);
		for (int64_t c = 0; c < n_cols; c += KN_K2_COLS) {
			const int nc = n_cols - c < KN_K2_COLS ? (int)(n_cols - c) : KN_K2_COLS;
			const kn_block_q8_K *y[KN_K2_COLS];
			__m256 res[KN_K2_COLS];

			for (int k = 0; k < nc; k++)
				y[k] = (const kn_block_q8_K *)((const uint8_t *)a + (size_t)(c + k) * ars);
			kn_k2_tile_n(nc, p, y, t + c * nb, nb, gemm + c, res);
			for (int k = 0; k < nc; k++)
				_mm256_storeu_ps(out + (c + k) * n_rows + r,
						 _mm256_add_ps(res[k], _mm256_loadu_ps(b)));
		}
	}
	free(p);
	return rn;
}
