// SPDX-License-Identifier: MIT
/*
 * Q4_0 . Q8_0 products of many activation columns (prefill) on AVX-512 VNNI,
 * in the order of llama.cpp's repacked 8x8 kernels that every Q4_0 matrix of
 * 8k rows takes (kn_ref_dot_q4_0_x8 per output: acc = fma(isum_b, d_w * d_a,
 * acc) over the blocks in order, isum_b exact). Only the integer sums are
 * formed differently, which cannot change a bit.
 *
 * Why it is fast where the per-row dots (kn_q4_0_x8_avx2.c) are not: 16 rows
 * of W are gathered once per pass into a panel whose register j holds, in
 * lane r, the nibbles k = 4j..4j+3 of row r (unsigned, 0..15); one vpdpbusd
 * with column c's 4 activation bytes broadcast from memory then advances 16
 * outputs, no lane folding, and the -8 sum(y) of Q4_0's offset seeds the
 * integer chain. 8 columns share each panel register (16 x 8 outputs in 16
 * accumulators), the panel is made once per 64 columns, and the activation
 * sums once per 64 columns for all the rows. Must not hold state: the panel
 * and the sums live on the caller's stack (about 34 KiB).
 */
#include <stddef.h>
#include <immintrin.h>
#include "kn_internal.h"

#pragma GCC optimize("fp-contract=off")

#define KN_G5_ROWS	16	/* rows per panel: one zmm of int32/float lanes */
#define KN_G5_COLS	8	/* columns per register tile (16 accumulators) */
#define KN_G5_KB	32	/* blocks per k chunk: 16 KiB of unpacked panel, in L1 */
#define KN_G5_CT	64	/* columns per tile: the panel's reuse, their sums 16 KiB */

int64_t kn_avx512_gemm_q4_0_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			       size_t ars, int64_t n_cols, const float *bias, float *out,
			       int64_t n_rows, int64_t r0, int64_t r1);

/* 16 rows x KN_G5_KB blocks of W, nibbles unpacked and transposed to 4-byte groups */
struct kn_g5_panel {
	_Alignas(64) uint8_t q[KN_G5_KB][8][64];	/* [block][j][4 row + t]: k = 4j + t */
	_Alignas(64) float d[KN_G5_KB][KN_G5_ROWS];	/* the rows' block scales */
};

/* per column and block of a column tile: the offset term and the scale */
struct kn_g5_act {
	int32_t corr[KN_G5_CT][KN_G5_KB];	/* -8 sum(y) */
	float d[KN_G5_CT][KN_G5_KB];
};

static void kn_g5_panel_fill(struct kn_g5_panel *p, const uint8_t *w, size_t wrs, int64_t b0,
			     int kb)
{
	const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8,
								 7, 6, 5, 4, 3, 2, 1, 0),
					       _mm512_set1_epi32((int)wrs));
	const __m512i m4 = _mm512_set1_epi8(0x0F);

	for (int b = 0; b < kb; b++) {
		const uint8_t *blk = w + (size_t)(b0 + b) * sizeof(kn_block_q4_0);
		/* the first word of each row's block: d in its low 16 bits */
		const __m512i h = _mm512_i32gather_epi32(idx, blk, 1);

		_mm512_store_ps(p->d[b], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)));
		for (int j = 0; j < 4; j++) {
			/* qs[4j..4j+3]: low nibbles are k = 4j.., high nibbles k = 16 + 4j.. */
			const __m512i v = _mm512_i32gather_epi32(idx, blk + 2 + 4 * j, 1);

			_mm512_store_si512(p->q[b][j], _mm512_and_si512(v, m4));
			_mm512_store_si512(p->q[b][j + 4],
					   _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
		}
	}
}

static void kn_g5_act_fill(struct kn_g5_act *t, const uint8_t *a, size_t ars, int nc, int64_t b0,
			   int kb)
{
	const __m256i flip = _mm256_set1_epi8((char)0x80);

	for (int c = 0; c < nc; c++) {
		const kn_block_q8_0 *y = (const kn_block_q8_0 *)(a + (size_t)c * ars) + b0;

		for (int b = 0; b < kb; b++) {
			/* sum(y + 128) in 4 lanes of 8 bytes each, exact */
			const __m256i s = _mm256_sad_epu8(
				_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)y[b].qs), flip),
				_mm256_setzero_si256());
			const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s),
							_mm256_extracti128_si256(s, 1));
			const int sum = (int)(_mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1)) -
					128 * KN_QK8_0;

			t->corr[c][b] = -8 * sum;
			t->d[c][b] = _cvtsh_ss(y[b].d);
		}
	}
}

/*
 * NC columns (at t's column @c, activations from @a) x the panel's 16 rows,
 * blocks [b0, b0 + kb): the accumulators start at 0 on the first chunk, else
 * from @out, where the chunk's sums go back (+ the bias after the last one)
 */
static inline __attribute__((always_inline)) void
kn_g5_tile(const int NC, const struct kn_g5_panel *p, const struct kn_g5_act *t, int c,
	   const uint8_t *a, size_t ars, int64_t b0, int kb, float *out, int64_t n_rows,
	   bool first, const float *bias)
{
	const uint8_t *ap[KN_G5_COLS];
	__m512 acc[KN_G5_COLS];

	_Pragma("GCC unroll 8")
	for (int i = 0; i < NC; i++) {
		acc[i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(out + i * n_rows);
		ap[i] = a + (size_t)i * ars + (size_t)b0 * sizeof(kn_block_q8_0) +
			offsetof(kn_block_q8_0, qs);
	}
	for (int b = 0; b < kb; b++) {
		__m512i s[KN_G5_COLS];

		_Pragma("GCC unroll 8")
		for (int i = 0; i < NC; i++)
			s[i] = _mm512_set1_epi32(t->corr[c + i][b]);
		_Pragma("GCC unroll 8")
		for (int j = 0; j < 8; j++) {
			const __m512i wq = _mm512_load_si512(p->q[b][j]);

			_Pragma("GCC unroll 8")
			for (int i = 0; i < NC; i++) {
				int32_t y4;

				memcpy(&y4, ap[i] + (size_t)b * sizeof(kn_block_q8_0) + 4 * j, 4);
				s[i] = _mm512_dpbusd_epi32(s[i], wq, _mm512_set1_epi32(y4));
			}
		}
		const __m512 dw = _mm512_load_ps(p->d[b]);

		_Pragma("GCC unroll 8")
		for (int i = 0; i < NC; i++)
			acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[i]),
						 _mm512_mul_ps(dw, _mm512_set1_ps(t->d[c + i][b])),
						 acc[i]);
	}
	_Pragma("GCC unroll 8")
	for (int i = 0; i < NC; i++)
		_mm512_storeu_ps(out + i * n_rows,
				 bias ? _mm512_add_ps(acc[i], _mm512_loadu_ps(bias)) : acc[i]);
}

static void kn_g5_tile_n(int nc, const struct kn_g5_panel *p, const struct kn_g5_act *t, int c,
			 const uint8_t *a, size_t ars, int64_t b0, int kb, float *out,
			 int64_t n_rows, bool first, const float *bias)
{
	switch (nc) {
	case 8: kn_g5_tile(8, p, t, c, a, ars, b0, kb, out, n_rows, first, bias); break;
	case 7: kn_g5_tile(7, p, t, c, a, ars, b0, kb, out, n_rows, first, bias); break;
	case 6: kn_g5_tile(6, p, t, c, a, ars, b0, kb, out, n_rows, first, bias); break;
	case 5: kn_g5_tile(5, p, t, c, a, ars, b0, kb, out, n_rows, first, bias); break;
	case 4: kn_g5_tile(4, p, t, c, a, ars, b0, kb, out, n_rows, first, bias); break;
	case 3: kn_g5_tile(3, p, t, c, a, ars, b0, kb, out, n_rows, first, bias); break;
	case 2: kn_g5_tile(2, p, t, c, a, ars, b0, kb, out, n_rows, first, bias); break;
	default: kn_g5_tile(1, p, t, c, a, ars, b0, kb, out, n_rows, first, bias); break;
	}
}

/**
 * kn_avx512_gemm_q4_0_x8 - out[c][r] for every column and the rows
 * [r0, r0 + 16 floor((r1 - r0) / 16)) of a Q4_0 matrix (rows of @wrs bytes)
 * times Q8_0 activations (@ars bytes a column), + bias[r] (0 without one, as
 * kn_matmul_range adds it); out is [n_cols][n_rows]. Returns the rows done:
 * the caller computes the rest.
 */
int64_t kn_avx512_gemm_q4_0_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			       size_t ars, int64_t n_cols, const float *bias, float *out,
			       int64_t n_rows, int64_t r0, int64_t r1)
{
	static const float zeros[KN_G5_ROWS];
	const int64_t nb = n_in / KN_QK4_0, rn = (r1 - r0) / KN_G5_ROWS * KN_G5_ROWS;
	struct kn_g5_panel p;
	struct kn_g5_act t;

	if (rn <= 0 || n_in % KN_QK4_0)
		return 0;
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_G5_CT) {
		const int ct = n_cols - c0 < KN_G5_CT ? (int)(n_cols - c0) : KN_G5_CT;
		const uint8_t *ac = (const uint8_t *)a + (size_t)c0 * ars;

		for (int64_t b0 = 0; b0 < nb; b0 += KN_G5_KB) {
			const int kb = nb - b0 < KN_G5_KB ? (int)(nb - b0) : KN_G5_KB;
			const bool first = b0 == 0, last = b0 + kb == nb;

			kn_g5_act_fill(&t, ac, ars, ct, b0, kb);
			for (int64_t r = r0; r < r0 + rn; r += KN_G5_ROWS) {
				const float *br = !last ? NULL : bias ? bias + r : zeros;

				kn_g5_panel_fill(&p, (const uint8_t *)w + r * wrs, wrs, b0, kb);
				for (int c = 0; c < ct; c += KN_G5_COLS)
					kn_g5_tile_n(ct - c < KN_G5_COLS ? ct - c : KN_G5_COLS, &p,
						     &t, c, ac + (size_t)c * ars, ars, b0, kb,
						     out + (c0 + c) * n_rows + r, n_rows, first, br);
			}
		}
	}
	return rn;
}
