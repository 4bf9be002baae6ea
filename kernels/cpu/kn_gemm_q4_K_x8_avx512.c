// SPDX-License-Identifier: MIT
/*
 * Q4_K . Q8_K products of many activation columns (prefill) on AVX-512 VNNI
 * in the orders of llama.cpp's repacked q4_K_8x8 kernels (kn_ref_dot_q4_K_x8g
 * for a column the gemm takes, kn_ref_dot_q4_K_x8 for one the gemv takes, per
 * output): 16 rows in the 16 float lanes, one fma of the exact integer sum
 * per 64 values (gemm) or per super-block (gemv) into acc, the same for the
 * mins into accm, then acc - accm. Only the integer sums are formed
 * differently, which cannot change a bit.
 *
 * Why it is fast where the row-wise kernel (kn_q4_K_x8_avx2.c) is not: the
 * rows' nibbles are gathered once per call into a panel whose register
 * (sub-block s, j) holds, in lane r, the 4 values k = 4j..4j+3 of row r
 * (unsigned), so one vpdpbusd with column c's 4 activation bytes broadcast
 * advances 16 outputs with no folding; a sub-block's sum is then scaled by
 * the rows' 6-bit scales with one vpmulld, and the mins are one vpmaddwd of
 * the rows' (m_2p, m_2p+1) pairs with the column's paired bsums. 4 columns
 * share each panel register. The panel (5 KiB per super-block) and the
 * columns' sums are heap memory owned by the call.
 */
#include <stddef.h>
#include <stdlib.h>
#include <immintrin.h>
#include "kn_internal.h"

#pragma GCC optimize("fp-contract=off")

#define KN_K8_ROWS	16	/* rows per panel: one zmm of int32/float lanes */
#define KN_K8_COLS	4	/* columns per register tile */

int64_t kn_avx512_gemm_q4_K_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			       size_t ars, int64_t n_cols, const uint8_t *gemm, const float *bias,
			       float *out, int64_t n_rows, int64_t r0, int64_t r1);

/* one super-block of the panel's 16 rows */
struct kn_k8_sb {
	_Alignas(64) uint8_t q[8][8][64];	/* [sub-block][j][4 row + t]: k = 4j + t */
	_Alignas(64) int32_t sc[8][KN_K8_ROWS];	/* the sub-blocks' scales */
	_Alignas(64) int32_t mn[4][KN_K8_ROWS];	/* pair p: m_2p | m_2p+1 << 16 */
	_Alignas(64) float d[KN_K8_ROWS], dm[KN_K8_ROWS];
};

/* one column's super-block: bsums paired per 32 values, 2 a pair p; its scale */
struct kn_k8_col {
	int32_t bs[4];	/* bsum32_2p | bsum32_2p+1 << 16 */
	float d;
	int32_t pad[3];
};

_Static_assert(sizeof(struct kn_k8_sb) % 64 == 0, "panel alignment");

static void kn_k8_panel_fill(struct kn_k8_sb *p, const uint8_t *w, size_t wrs, int64_t nb)
{
	const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8,
								 7, 6, 5, 4, 3, 2, 1, 0),
					       _mm512_set1_epi32((int)wrs));
	const __m512i m4 = _mm512_set1_epi8(0x0F), m6 = _mm512_set1_epi32(0x3f3f3f3f);
	const __m512i k2 = _mm512_set1_epi32(0x0f0f0f0f), k3 = _mm512_set1_epi32(0x03030303);
	const __m512i lo8 = _mm512_set1_epi32(0xff);

	for (int64_t i = 0; i < nb; i++, p++) {
		const uint8_t *blk = w + (size_t)i * sizeof(kn_block_q4_K);
		const __m512i dd = _mm512_i32gather_epi32(idx, blk, 1);
		const __m512i u0 = _mm512_i32gather_epi32(idx, blk + 4, 1);
		const __m512i u1 = _mm512_i32gather_epi32(idx, blk + 8, 1);
		const __m512i u2 = _mm512_i32gather_epi32(idx, blk + 12, 1);
		/* kn_q4_K_scales_mins on 16 rows: scales 0-3, 4-7, mins 0-3, 4-7 */
		const __m512i s03 = _mm512_and_si512(u0, m6);
		const __m512i s47 = _mm512_or_si512(_mm512_and_si512(u2, k2),
			_mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), k3), 4));
		const __m512i m03 = _mm512_and_si512(u1, m6);
		const __m512i m47 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), k2),
			_mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), k3), 4));

		_mm512_store_ps(p->d, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd)));
		_mm512_store_ps(p->dm, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16))));
		for (int s = 0; s < 4; s++) {
			_mm512_store_si512(p->sc[s], _mm512_and_si512(_mm512_srli_epi32(s03, 8 * s), lo8));
			_mm512_store_si512(p->sc[s + 4],
					   _mm512_and_si512(_mm512_srli_epi32(s47, 8 * s), lo8));
		}
		for (int q = 0; q < 2; q++) {
			const __m512i m = q ? m47 : m03;
			/* bytes m_4q.. m_4q+3 -> (m_4q | m_4q+1 << 16), (m_4q+2 | m_4q+3 << 16) */
			const __m512i a = _mm512_and_si512(m, _mm512_set1_epi32(0x00ff00ff));
			const __m512i b = _mm512_and_si512(_mm512_srli_epi32(m, 8),
							   _mm512_set1_epi32(0x00ff00ff));

			_mm512_store_si512(p->mn[2 * q], _mm512_or_si512(
				_mm512_and_si512(a, lo8), _mm512_slli_epi32(_mm512_and_si512(b, lo8), 16)));
			_mm512_store_si512(p->mn[2 * q + 1], _mm512_or_si512(
				_mm512_srli_epi32(a, 16), _mm512_and_si512(b, _mm512_set1_epi32(0x00ff0000))));
		}
		for (int g = 0; g < 4; g++) {
			for (int j = 0; j < 8; j++) {
				/* qs[32g + 4j..]: low nibbles sub-block 2g, high 2g + 1 */
				const __m512i v = _mm512_i32gather_epi32(
					idx, blk + offsetof(kn_block_q4_K, qs) + 32 * g + 4 * j, 1);

				_mm512_store_si512(p->q[2 * g][j], _mm512_and_si512(v, m4));
				_mm512_store_si512(p->q[2 * g + 1][j],
						   _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
			}
		}
	}
}

static void kn_k8_col_fill(struct kn_k8_col *t, const kn_block_q8_K *y, int64_t nb)
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
 * orders) x the panel's 16 rows; @res[c] the 16 results
 */
static inline __attribute__((always_inline)) void
kn_k8_tile(const int NC, const struct kn_k8_sb *p, const kn_block_q8_K *const *y,
	   const struct kn_k8_col *t, int64_t nb, const uint8_t *gemm, __m512 *res)
{
	__m512 acc[KN_K8_COLS], accm[KN_K8_COLS];

	_Pragma("GCC unroll 4")
	for (int c = 0; c < NC; c++)
		acc[c] = accm[c] = _mm512_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		const struct kn_k8_sb *P = &p[i];
		__m512 vd[KN_K8_COLS];
		__m512i isum[KN_K8_COLS];

		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++) {
			const struct kn_k8_col *tc = &t[c * nb + i];
			const __m512 da = _mm512_set1_ps(tc->d);
			const __m512 vm = _mm512_mul_ps(_mm512_load_ps(P->dm), da);
			__m512i im[4];

			vd[c] = _mm512_mul_ps(_mm512_load_ps(P->d), da);
			isum[c] = _mm512_setzero_si512();
			for (int q = 0; q < 4; q++)
				im[q] = _mm512_madd_epi16(_mm512_load_si512(P->mn[q]),
							  _mm512_set1_epi32(tc->bs[q]));
			if (gemm[c]) {
				for (int q = 0; q < 4; q++)
					accm[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(im[q]), vm, accm[c]);
			} else {
				const __m512i s = _mm512_add_epi32(_mm512_add_epi32(im[0], im[1]),
								   _mm512_add_epi32(im[2], im[3]));

				accm[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), vm, accm[c]);
			}
		}
		_Pragma("GCC unroll 1")
		for (int q = 0; q < 4; q++) {
			__m512i s0[KN_K8_COLS], s1[KN_K8_COLS];

			_Pragma("GCC unroll 4")
			for (int c = 0; c < NC; c++)
				s0[c] = s1[c] = _mm512_setzero_si512();
			_Pragma("GCC unroll 8")
			for (int j = 0; j < 8; j++) {
				const __m512i w0 = _mm512_load_si512(P->q[2 * q][j]);
				const __m512i w1 = _mm512_load_si512(P->q[2 * q + 1][j]);

				_Pragma("GCC unroll 4")
				for (int c = 0; c < NC; c++) {
					int32_t y0, y1;

					memcpy(&y0, y[c][i].qs + 64 * q + 4 * j, 4);
					memcpy(&y1, y[c][i].qs + 64 * q + 32 + 4 * j, 4);
					s0[c] = _mm512_dpbusd_epi32(s0[c], w0, _mm512_set1_epi32(y0));
					s1[c] = _mm512_dpbusd_epi32(s1[c], w1, _mm512_set1_epi32(y1));
				}
			}
			const __m512i sc0 = _mm512_load_si512(P->sc[2 * q]);
			const __m512i sc1 = _mm512_load_si512(P->sc[2 * q + 1]);

			_Pragma("GCC unroll 4")
			for (int c = 0; c < NC; c++) {
				const __m512i s = _mm512_add_epi32(_mm512_mullo_epi32(s0[c], sc0),
								   _mm512_mullo_epi32(s1[c], sc1));

				if (gemm[c])
					acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), vd[c], acc[c]);
				else
					isum[c] = _mm512_add_epi32(isum[c], s);
			}
		}
		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++)
			if (!gemm[c])
				acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), vd[c], acc[c]);
	}
	_Pragma("GCC unroll 4")
	for (int c = 0; c < NC; c++)
		res[c] = _mm512_sub_ps(acc[c], accm[c]);
}

static void kn_k8_tile_n(int nc, const struct kn_k8_sb *p, const kn_block_q8_K *const *y,
			 const struct kn_k8_col *t, int64_t nb, const uint8_t *gemm, __m512 *res)
{
	switch (nc) {
	case 4: kn_k8_tile(4, p, y, t, nb, gemm, res); break;
	case 3: kn_k8_tile(3, p, y, t, nb, gemm, res); break;
	case 2: kn_k8_tile(2, p, y, t, nb, gemm, res); break;
	default: kn_k8_tile(1, p, y, t, nb, gemm, res); break;
	}
}

/**
 * kn_avx512_gemm_q4_K_x8 - out[c][r] (+ bias[r], 0 without one) for every
 * column and the rows [r0, r0 + 16 floor((r1 - r0) / 16)) of a Q4_K matrix
 * (rows of @wrs bytes) times Q8_K activations (@ars bytes a column), column c
 * in the gemm's order where @gemm[c], the gemv's otherwise; out is
 * [n_cols][n_rows]. Returns the rows done (0 where the panel could not be
 * allocated): the caller computes the rest.
 */
int64_t kn_avx512_gemm_q4_K_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			       size_t ars, int64_t n_cols, const uint8_t *gemm, const float *bias,
			       float *out, int64_t n_rows, int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK_K, rn = (r1 - r0) / KN_K8_ROWS * KN_K8_ROWS;
	struct kn_k8_sb *p;
	struct kn_k8_col *t;

	if (rn <= 0 || n_in % KN_QK_K || n_cols <= 0)
		return 0;
	p = aligned_alloc(64, nb * sizeof(*p) + ((n_cols * nb * sizeof(*t) + 63) & ~(size_t)63));
	if (!p)
		return 0;
	t = (struct kn_k8_col *)(p + nb);
	for (int64_t c = 0; c < n_cols; c++)
		kn_k8_col_fill(t + c * nb, (const kn_block_q8_K *)((const uint8_t *)a + c * ars), nb);
	for (int64_t r = r0; r < r0 + rn; r += KN_K8_ROWS) {
		float b[KN_K8_ROWS];

		for (int k = 0; k < KN_K8_ROWS; k++)
			b[k] = bias ? bias[r + k] : 0.0f;
		kn_k8_panel_fill(p, (const uint8_t *)w + r * wrs, wrs, nb);
		for (int64_t c = 0; c < n_cols; c += KN_K8_COLS) {
			const int nc = n_cols - c < KN_K8_COLS ? (int)(n_cols - c) : KN_K8_COLS;
			const kn_block_q8_K *y[KN_K8_COLS];
			__m512 res[KN_K8_COLS];

			for (int k = 0; k < nc; k++)
				y[k] = (const kn_block_q8_K *)((const uint8_t *)a + (size_t)(c + k) * ars);
			kn_k8_tile_n(nc, p, y, t + c * nb, nb, gemm + c, res);
			for (int k = 0; k < nc; k++)
				_mm512_storeu_ps(out + (c + k) * n_rows + r,
						 _mm512_add_ps(res[k], _mm512_loadu_ps(b)));
		}
	}
	free(p);
	return rn;
}
