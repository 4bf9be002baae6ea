/* SPDX-License-Identifier: MIT */
/*
 * kernels/cpu private: the Q4_K gemv's per-super-block steps in llama.cpp's
 * repacked q4_K_8x8 order (kn_ref_dot_q4_K_x8), shared by the AVX2 and the
 * AVX-512 gemv (kn_q4_K_x8_avx2.c, kn_q4_K_x8_avx512.c), which differ only in
 * how they form each row's integer sum: a tile of 8 rows in the 8 float
 * lanes; per super-block the rows' heads (d, dmin, packed scales) decoded in
 * vectors, one hadd tree folding the rows' sums into the lanes, and the two
 * fmas (sums, mins) whose order makes the bits. Included only by files
 * compiled with AVX2 (and F16C, FMA).
 */
#ifndef KN_Q4_K_X8_H
#define KN_Q4_K_X8_H

#include <immintrin.h>
#include <string.h>
#include "kn_internal.h"

#define KN_X8_ROWS	8	/* rows per tile: the 8 float lanes */
#define KN_X8_PF_ROWS	12	/* the gemv's prefetch distance (measured: 8 and 16 do no better) */

/*
 * kn_q4_K_scales_mins on two blocks at once: @h holds a block's first 16
 * bytes (d, dmin, the 12 packed scale bytes q) in each 128-bit lane; the
 * result holds its 8 scales in bytes 0-7 and its 8 mins in bytes 8-15
 */
static inline __m256i kn_x8_scales_mins(__m256i h)
{
	/* q[k] is byte 4 + k: scale j<4 q[j] & 63, j>=4 (q[j+4] & 15) | (q[j-4] >> 6) << 4;
	 * min j<4 q[j+4] & 63, j>=4 (q[j+4] >> 4) | (q[j] >> 6) << 4 */
	const __m256i i1 = _mm256_setr_epi8(4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15,
					    4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
	const __m256i i2 = _mm256_setr_epi8(-1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11,
					    -1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11);
	const __m256i k1 = _mm256_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0,
					    63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0);
	const __m256i k2 = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15,
					    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15);
	const __m256i l1 = _mm256_shuffle_epi8(h, i1), l2 = _mm256_shuffle_epi8(h, i2);

	return _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(l1, k1),
					       _mm256_and_si256(_mm256_srli_epi16(l1, 4), k2)),
			       _mm256_and_si256(_mm256_srli_epi16(l2, 2), _mm256_set1_epi8(0x30)));
}

/* one super-block of a tile: its rows' decoded heads, in pairs (2k, 2k + 1) */
struct kn_x8_heads {
	__m256i hd[KN_X8_ROWS / 2];	/* the rows' first 16 bytes, one per lane */
	__m256i sm[KN_X8_ROWS / 2];	/* kn_x8_scales_mins of hd */
	__m256i mn[KN_X8_ROWS / 2];	/* m_2p bsum_2p + m_2p+1 bsum_2p+1: 4 lanes a row */
};

/* the heads of super-block @i of the 8 rows @x against the activations @y */
static inline __attribute__((always_inline)) void
kn_x8_heads(const kn_block_q4_K *const *x, int64_t i, const kn_block_q8_K *y,
	    struct kn_x8_heads *h)
{
	const __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
	/* the activations' sums per sub-block of 32, in both lanes */
	const __m256i bsp = _mm256_broadcastsi128_si256(_mm_hadd_epi16(
		_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1)));

	_Pragma("GCC unroll 4")
	for (int k = 0; k < KN_X8_ROWS / 2; k++) {
		h->hd[k] = _mm256_loadu2_m128i((const __m128i *)&x[2 * k + 1][i],
					       (const __m128i *)&x[2 * k][i]);
		h->sm[k] = kn_x8_scales_mins(h->hd[k]);
		h->mn[k] = _mm256_madd_epi16(_mm256_unpackhi_epi8(h->sm[k], _mm256_setzero_si256()),
					     bsp);
	}
}

/* lane r of the result: the sum of t[r]'s 8 lanes (a, b: the hadd of rows 0-3, 4-7) */
static inline __m256i kn_x8_fold(__m256i a, __m256i b)
{
	return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20),
				_mm256_permute2x128_si256(a, b, 0x31));
}

/* 8 lanes of d | dmin << 16 (fp16 each) as floats */
static inline void kn_x8_d_dmin(__m256i dv, __m256 *dw, __m256 *dm)
{
	const __m256i dl = _mm256_and_si256(dv, _mm256_set1_epi32(0xffff));
	const __m256i dh = _mm256_srli_epi32(dv, 16);

	*dw = _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(dl),
					       _mm256_extracti128_si256(dl, 1)));
	*dm = _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(dh),
					       _mm256_extracti128_si256(dh, 1)));
}

/*
 * the super-block's two fmas: @rs[r] row r's integer sum spread over 8 lanes,
 * folded exactly; acc += isum (d_w d_a), accm += msum (dmin_w d_a) in lane r
 */
static inline __attribute__((always_inline)) void
kn_x8_step(const __m256i *rs, const struct kn_x8_heads *h, float yd, __m256 *acc, __m256 *accm)
{
	/* lanes (rows 0 2 4 6 | 1 3 5 7) -> rows 0-7 */
	const __m256i ord = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	const __m256i isum = kn_x8_fold(
		_mm256_hadd_epi32(_mm256_hadd_epi32(rs[0], rs[1]), _mm256_hadd_epi32(rs[2], rs[3])),
		_mm256_hadd_epi32(_mm256_hadd_epi32(rs[4], rs[5]), _mm256_hadd_epi32(rs[6], rs[7])));
	const __m256i msum = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(
		_mm256_hadd_epi32(h->mn[0], h->mn[1]), _mm256_hadd_epi32(h->mn[2], h->mn[3])), ord);
	/* d | dmin << 16 of rows 0-7 */
	const __m256i dv = _mm256_permutevar8x32_epi32(_mm256_unpacklo_epi64(
		_mm256_unpacklo_epi32(h->hd[0], h->hd[1]), _mm256_unpacklo_epi32(h->hd[2], h->hd[3])),
						       ord);
	__m256 dw, dm;
	const __m256 vy = _mm256_set1_ps(yd);

	kn_x8_d_dmin(dv, &dw, &dm);

	*acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, vy), *acc);
	*accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dm, vy), *accm);
}

/* the tile at row @r of [r, r1): its 8 row pointers (the last row repeated
 * where fewer remain) and biases (0 without); returns the rows it holds */
static inline int kn_x8_rows(const void *w, size_t wrs, const float *bias, int64_t r, int64_t r1,
			     const kn_block_q4_K **x, float *b)
{
	const int m = r1 - r < KN_X8_ROWS ? (int)(r1 - r) : KN_X8_ROWS;

	for (int k = 0; k < KN_X8_ROWS; k++) {
		x[k] = (const kn_block_q4_K *)((const uint8_t *)w + (r + (k < m ? k : m - 1)) * wrs);
		b[k] = bias && k < m ? bias[r + k] : 0.0f;
	}
	return m;
}

/* the gemv's prefetch: the tile KN_X8_PF_ROWS rows on, where inside [r, r1) */
static inline size_t kn_x8_pf(size_t wrs, int64_t r, int64_t r1)
{
	return r + KN_X8_ROWS + KN_X8_PF_ROWS <= r1 ? KN_X8_PF_ROWS * wrs : 0;
}

static inline __attribute__((always_inline)) void kn_x8_prefetch(const void *blk, size_t pf)
{
	if (pf) {
		_mm_prefetch((const char *)blk + pf, _MM_HINT_T1);
		_mm_prefetch((const char *)blk + pf + 64, _MM_HINT_T1);
		_mm_prefetch((const char *)blk + pf + 128, _MM_HINT_T1);
	}
}

/* rs[k] = row k's integer sum over super-block @i in 8 lanes (the gemv's ISA part) */
typedef void (*kn_x8_sums_fn)(const kn_block_q4_K *const *x, int64_t i, const int8_t *yq,
			      const struct kn_x8_heads *h, size_t pf, __m256i *rs);

/*
 * the gemv of rows [r0, r1) (one column @a, out[r] + bias[r]), tile by tile,
 * each tile's super-blocks in order: @sums forms the rows' integer sums and
 * is inlined (a constant here in an always_inline body)
 */
static inline __attribute__((always_inline)) void
kn_x8_gemv(int64_t n_in, const void *w, size_t wrs, const void *a, const float *bias, float *out,
	   int64_t r0, int64_t r1, kn_x8_sums_fn sums)
{
	const int64_t nb = n_in / KN_QK_K;
	const kn_block_q8_K *y = a;

	for (int64_t r = r0; r < r1; r += KN_X8_ROWS) {
		const kn_block_q4_K *x[KN_X8_ROWS];
		const size_t pf = kn_x8_pf(wrs, r, r1);
		__m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
		float b[KN_X8_ROWS], o[KN_X8_ROWS];
		const int m = kn_x8_rows(w, wrs, bias, r, r1, x, b);

		for (int64_t i = 0; i < nb; i++) {
			struct kn_x8_heads h;
			__m256i rs[KN_X8_ROWS];

			kn_x8_heads(x, i, &y[i], &h);
			sums(x, i, y[i].qs, &h, pf, rs);
			kn_x8_step(rs, &h, y[i].d, &acc, &accm);
		}
		_mm256_storeu_ps(o, _mm256_add_ps(_mm256_sub_ps(acc, accm), _mm256_loadu_ps(b)));
		memcpy(out + r, o, (size_t)m * sizeof(float));
	}
}

#endif
