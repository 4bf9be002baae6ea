// SPDX-License-Identifier: MIT
/*
 * Q4_0 . Q8_0 products of many activation columns (prefill) on AVX2, in the
 * order of llama.cpp's repacked 8x8 kernels (kn_ref_dot_q4_0_x8 per output:
 * acc = fma(isum_b, d_w * d_a, acc) over the blocks in order, isum_b exact);
 * the AVX2 twin of kn_gemm_q4_0_avx512.c, whose comment says why.
 *
 * Here a panel is 8 rows (one ymm of lanes) and a register tile 8 rows x 4
 * columns; the integer sums go through vpmaddubsw: unsigned nibbles (<= 15)
 * times activations (|y| <= 127) give pairs of at most 3810, so the 8 steps
 * of a block add up in int16 without saturating (<= 30480) before one
 * vpmaddwd widens them: exact, as the sum must be.
 */
#include <stddef.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

#define KN_G2_ROWS	8	/* rows per panel: one ymm of int32/float lanes */
#define KN_G2_COLS	4	/* columns per register tile */
#define KN_G2_KB	32	/* blocks per k chunk: 8 KiB of unpacked panel */
#define KN_G2_CT	64	/* columns per tile: the panel's reuse */

int64_t kn_avx2_gemm_q4_0_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			     size_t ars, int64_t n_cols, const float *bias, float *out,
			     int64_t n_rows, int64_t r0, int64_t r1);

/* 8 rows x KN_G2_KB blocks of W, nibbles unpacked and transposed to 4-byte groups */
struct kn_g2_panel {
	_Alignas(32) uint8_t q[KN_G2_KB][8][32];	/* [block][j][4 row + t]: k = 4j + t */
	_Alignas(32) float d[KN_G2_KB][KN_G2_ROWS];
};

/* per column and block of a column tile: the offset term and the scale */
struct kn_g2_act {
	int32_t corr[KN_G2_CT][KN_G2_KB];	/* -8 sum(y) */
	float d[KN_G2_CT][KN_G2_KB];
};

static void kn_g2_panel_fill(struct kn_g2_panel *p, const uint8_t *w, size_t wrs, int64_t b0,
			     int kb)
{
	const __m256i idx = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0),
					       _mm256_set1_epi32((int)wrs));
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	const __m256i lo16 = _mm256_set1_epi32(0xFFFF);

	for (int b = 0; b < kb; b++) {
		const uint8_t *blk = w + (size_t)(b0 + b) * sizeof(kn_block_q4_0);
		/* the first word of each row's block: d in its low 16 bits */
		const __m256i h = _mm256_and_si256(_mm256_i32gather_epi32((const int *)blk, idx, 1),
						   lo16);
		const __m128i h16 = _mm_packus_epi32(_mm256_castsi256_si128(h),
						     _mm256_extracti128_si256(h, 1));

		_mm256_store_ps(p->d[b], _mm256_cvtph_ps(h16));
		for (int j = 0; j < 4; j++) {
			/* qs[4j..4j+3]: low nibbles are k = 4j.., high nibbles k = 16 + 4j.. */
			const __m256i v = _mm256_i32gather_epi32((const int *)(blk + 2 + 4 * j),
								 idx, 1);

			_mm256_store_si256((__m256i *)p->q[b][j], _mm256_and_si256(v, m4));
			_mm256_store_si256((__m256i *)p->q[b][j + 4],
					   _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
		}
	}
}

static void kn_g2_act_fill(struct kn_g2_act *t, const uint8_t *a, size_t ars, int nc, int64_t b0,
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
			t->d[c][b] = kn_avx2_h2f(y[b].d);
		}
	}
}

/* NC columns x the panel's 8 rows, blocks [b0, b0 + kb); as kn_g5_tile */
static inline __attribute__((always_inline)) void
kn_g2_tile(const int NC, const struct kn_g2_panel *p, const struct kn_g2_act *t, int c,
	   const uint8_t *a, size_t ars, int64_t b0, int kb, float *out, int64_t n_rows,
	   bool first, const float *bias)
{
	const __m256i ones = _mm256_set1_epi16(1);
	const uint8_t *ap[KN_G2_COLS];
	__m256 acc[KN_G2_COLS];

	_Pragma("GCC unroll 4")
	for (int i = 0; i < NC; i++) {
		acc[i] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(out + i * n_rows);
		ap[i] = a + (size_t)i * ars + (size_t)b0 * sizeof(kn_block_q8_0) +
			offsetof(kn_block_q8_0, qs);
	}
	for (int b = 0; b < kb; b++) {
		__m256i s[KN_G2_COLS];

		_Pragma("GCC unroll 8")
		for (int j = 0; j < 8; j++) {
			const __m256i wq = _mm256_load_si256((const __m256i *)p->q[b][j]);

			_Pragma("GCC unroll 4")
			for (int i = 0; i < NC; i++) {
				int32_t y4;
				__m256i m;

				memcpy(&y4, ap[i] + (size_t)b * sizeof(kn_block_q8_0) + 4 * j, 4);
				m = _mm256_maddubs_epi16(wq, _mm256_set1_epi32(y4));
				s[i] = j ? _mm256_add_epi16(s[i], m) : m;
			}
		}
		const __m256 dw = _mm256_load_ps(p->d[b]);

		_Pragma("GCC unroll 4")
		for (int i = 0; i < NC; i++) {
			const __m256i is = _mm256_add_epi32(_mm256_madd_epi16(s[i], ones),
							    _mm256_set1_epi32(t->corr[c + i][b]));

			acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is),
						 _mm256_mul_ps(dw, _mm256_set1_ps(t->d[c + i][b])),
						 acc[i]);
		}
	}
	_Pragma("GCC unroll 4")
	for (int i = 0; i < NC; i++)
		_mm256_storeu_ps(out + i * n_rows,
				 bias ? _mm256_add_ps(acc[i], _mm256_loadu_ps(bias)) : acc[i]);
}

static void kn_g2_tile_n(int nc, const struct kn_g2_panel *p, const struct kn_g2_act *t, int c,
			 const uint8_t *a, size_t ars, int64_t b0, int kb, float *out,
			 int64_t n_rows, bool first, const float *bias)
{
	switch (nc) {
	case 4: kn_g2_tile(4, p, t, c, a, ars, b0, kb, out, n_rows, first, bias); break;
	case 3: kn_g2_tile(3, p, t, c, a, ars, b0, kb, out, n_rows, first, bias); break;
	case 2: kn_g2_tile(2, p, t, c, a, ars, b0, kb, out, n_rows, first, bias); break;
	default: kn_g2_tile(1, p, t, c, a, ars, b0, kb, out, n_rows, first, bias); break;
	}
}

/**
 * kn_avx2_gemm_q4_0_x8 - kn_avx512_gemm_q4_0_x8 on AVX2: the rows
 * [r0, r0 + 8 floor((r1 - r0) / 8)) for every column; returns the rows done
 */
int64_t kn_avx2_gemm_q4_0_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			     size_t ars, int64_t n_cols, const float *bias, float *out,
			     int64_t n_rows, int64_t r0, int64_t r1)
{
	static const float zeros[KN_G2_ROWS];
	const int64_t nb = n_in / KN_QK4_0, rn = (r1 - r0) / KN_G2_ROWS * KN_G2_ROWS;
	struct kn_g2_panel p;
	struct kn_g2_act t;

	if (rn <= 0 || n_in % KN_QK4_0)
		return 0;
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_G2_CT) {
		const int ct = n_cols - c0 < KN_G2_CT ? (int)(n_cols - c0) : KN_G2_CT;
		const uint8_t *ac = (const uint8_t *)a + (size_t)c0 * ars;

		for (int64_t b0 = 0; b0 < nb; b0 += KN_G2_KB) {
			const int kb = nb - b0 < KN_G2_KB ? (int)(nb - b0) : KN_G2_KB;
			const bool first = b0 == 0, last = b0 + kb == nb;

			kn_g2_act_fill(&t, ac, ars, ct, b0, kb);
			for (int64_t r = r0; r < r0 + rn; r += KN_G2_ROWS) {
				const float *br = !last ? NULL : bias ? bias + r : zeros;

				kn_g2_panel_fill(&p, (const uint8_t *)w + r * wrs, wrs, b0, kb);
				for (int c = 0; c < ct; c += KN_G2_COLS)
					kn_g2_tile_n(ct - c < KN_G2_COLS ? ct - c : KN_G2_COLS, &p,
						     &t, c, ac + (size_t)c * ars, ars, b0, kb,
						     out + (c0 + c) * n_rows + r, n_rows, first, br);
			}
		}
	}
	return rn;
}
