// SPDX-License-Identifier: MIT
/*
 * Q6_K . Q8_K products of many activation columns (prefill) on AVX-512 VNNI,
 * bit-identical to the one-column dot (kn_dot_k_avx512.c, ggml-cpu's x86
 * ggml_vec_dot_q6_K_q8_K): per super-block 8 int32 lanes of scaled sums
 * less 32 (bsums . scales), into an 8-lane float accumulator (one fma),
 * summed at the end in the same order. Only the integer work differs, and
 * it is exact: a row pair is unpacked once per call, 512-bit registers of
 * [row 0 | row 1] per 32-value chunk with the chunk scales as int16; a
 * super-block of the pair (16 registers) then stays in registers over 32
 * columns, so per column and super-block the 256 activation bytes are read
 * once (each chunk broadcast to both halves), 8 x (vpmaddubsw + vpdpwssd)
 * give both rows' 8 lanes with no fold, 32 (bsums . scales) comes off in
 * one vpdpwssd with the scales x -32, and one fma serves both rows. The
 * pair copy (1152 bytes per super-block) and the 32 accumulators are heap
 * memory owned by the call; without it the caller's per-row dots do the work.
 */
#include <stdlib.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

#define KN_K6_CT	32	/* columns per pass over a row pair */

int64_t kn_avx512_gemm_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1);

/*
 * a row pair's super-block, ready for the registers: each 512-bit register
 * holds [row 0 | row 1] of one 32-value chunk, so the products land in
 * the 8 AVX2 lanes of both rows with no fold
 */
struct kn_k6_pair {
	__m256i q[8][2];	/* chunk m: the 6-bit values that meet Q8_K bytes 32m..32m+31 */
	__m256i s[8][2];	/* chunk m's two 16-value scales as int16, one per 128-bit half */
	__m256i nsc[2];		/* the 16 scales x -32 as int16, against bsums */
	__m256 d[2];		/* the row's d x 8 */
};

_Static_assert(sizeof(struct kn_k6_pair) % 64 == 0, "pair copy alignment");

/* [@lo | @hi], 32 bytes each */
static inline __m512i kn_k6_ld2(const void *lo, const void *hi)
{
	return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)lo)),
				  _mm256_loadu_si256((const __m256i *)hi), 1);
}

/* the pair copies @dst of rows @x0 and @x1, both rows a register */
static void kn_k6_pair_fill(struct kn_k6_pair *dst, const kn_block_q6_K *x0,
			    const kn_block_q6_K *x1, int64_t nb)
{
	const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(3);
	/* 16-bit lane l of [scale 2m x 8 | scale 2m + 1 x 8] of row 0, then row 1 */
	const __m512i i0 = _mm512_set_epi16(17, 17, 17, 17, 17, 17, 17, 17,
					    16, 16, 16, 16, 16, 16, 16, 16,
					    1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);

	for (int64_t i = 0; i < nb; i++) {
		const __m512i sc = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_cvtepi8_epi16(
			_mm_loadu_si128((const __m128i *)x0[i].scales))), _mm256_cvtepi8_epi16(
			_mm_loadu_si128((const __m128i *)x1[i].scales)), 1);

		for (int m = 0; m < 8; m++)
			_mm512_store_si512(dst[i].s[m], _mm512_permutexvar_epi16(
				_mm512_add_epi16(i0, _mm512_set1_epi16(2 * m)), sc));
		for (int h = 0; h < 2; h++) {
			const __m512i l0 = kn_k6_ld2(x0[i].ql + 64 * h, x1[i].ql + 64 * h);
			const __m512i l1 = kn_k6_ld2(x0[i].ql + 64 * h + 32, x1[i].ql + 64 * h + 32);
			const __m512i qh = kn_k6_ld2(x0[i].qh + 32 * h, x1[i].qh + 32 * h);

			_mm512_store_si512(dst[i].q[4 * h], _mm512_or_si512(_mm512_and_si512(l0, m4),
				_mm512_slli_epi16(_mm512_and_si512(qh, m2), 4)));
			_mm512_store_si512(dst[i].q[4 * h + 1], _mm512_or_si512(
				_mm512_and_si512(l1, m4), _mm512_slli_epi16(
				_mm512_and_si512(_mm512_srli_epi16(qh, 2), m2), 4)));
			_mm512_store_si512(dst[i].q[4 * h + 2], _mm512_or_si512(
				_mm512_and_si512(_mm512_srli_epi16(l0, 4), m4), _mm512_slli_epi16(
				_mm512_and_si512(_mm512_srli_epi16(qh, 4), m2), 4)));
			_mm512_store_si512(dst[i].q[4 * h + 3], _mm512_or_si512(
				_mm512_and_si512(_mm512_srli_epi16(l1, 4), m4), _mm512_slli_epi16(
				_mm512_and_si512(_mm512_srli_epi16(qh, 6), m2), 4)));
		}
		_mm512_store_si512(dst[i].nsc, _mm512_mullo_epi16(sc, _mm512_set1_epi16(-32)));
		_mm512_store_ps((float *)dst[i].d, _mm512_castpd_ps(_mm512_insertf64x4(
			_mm512_castps_pd(_mm512_set1_ps(kn_avx2_h2f(x0[i].d))),
			_mm256_castps_pd(_mm256_set1_ps(kn_avx2_h2f(x1[i].d))), 1)));
	}
}

#define KN_K6_LD(p) _mm512_load_si512((const void *)(p))

/*
 * The row pair @xc (nb super-blocks) . @nc columns from @a (@ars bytes
 * apart): acc[c] = [row 0's 8 lanes | row 1's], each lane the AVX2 dot's.
 * A super-block's weights stay in registers over the columns: per column
 * and super-block 8 reads of its 32-value chunks, each broadcast to both
 * halves, 8 x (maddubs + vpdpwssd) for both rows, 32 (bsums . scales)
 * taken off in one vpdpwssd, one fma for both rows.
 */
static void kn_k6_pair_cols(const struct kn_k6_pair *xc, int64_t nb, const uint8_t *a,
			    size_t ars, int nc, __m512 *acc, const uint8_t *next, size_t wrs)
{
	for (int c = 0; c < nc; c++)
		acc[c] = _mm512_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		const struct kn_k6_pair *x = &xc[i];
		const __m512i q0 = KN_K6_LD(x->q[0]), q1 = KN_K6_LD(x->q[1]), q2 = KN_K6_LD(x->q[2]);
		const __m512i q3 = KN_K6_LD(x->q[3]), q4 = KN_K6_LD(x->q[4]), q5 = KN_K6_LD(x->q[5]);
		const __m512i q6 = KN_K6_LD(x->q[6]), q7 = KN_K6_LD(x->q[7]);
		const __m512i s0 = KN_K6_LD(x->s[0]), s1 = KN_K6_LD(x->s[1]), s2 = KN_K6_LD(x->s[2]);
		const __m512i s3 = KN_K6_LD(x->s[3]), s4 = KN_K6_LD(x->s[4]), s5 = KN_K6_LD(x->s[5]);
		const __m512i s6 = KN_K6_LD(x->s[6]), s7 = KN_K6_LD(x->s[7]);
		const __m512i nsc = KN_K6_LD(x->nsc);
		const __m512 xd = _mm512_load_ps((const float *)x->d);

		/* the next row pair's super-block into L2: its fill then does not wait on DRAM */
		for (int k = 0; next && k < 2; k++) {
			const uint8_t *p = next + k * wrs + i * sizeof(kn_block_q6_K);

			for (size_t o = 0; o < sizeof(kn_block_q6_K) + 63; o += 64)
				_mm_prefetch((const char *)p + o, _MM_HINT_T1);
		}

		for (int c = 0; c < nc; c++) {
			const kn_block_q8_K *y = (const kn_block_q8_K *)(a + (size_t)c * ars) + i;
			const int8_t *v = y->qs;
			__m512i f, g, h, e;

			/* the column's next super-block, a pass over the columns ahead */
			if (i + 1 < nb)
				for (int o = 0; o < (int)sizeof(*y); o += 64)
					_mm_prefetch((const char *)(y + 1) + o, _MM_HINT_T0);
#define KN_K6_V(m) _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(v + 32 * (m))))
			/* the scaled pairs added into the sum in one step, exact */
			f = _mm512_madd_epi16(_mm512_maddubs_epi16(q0, KN_K6_V(0)), s0);
			g = _mm512_madd_epi16(_mm512_maddubs_epi16(q1, KN_K6_V(1)), s1);
			h = _mm512_madd_epi16(_mm512_maddubs_epi16(q2, KN_K6_V(2)), s2);
			e = _mm512_madd_epi16(_mm512_maddubs_epi16(q3, KN_K6_V(3)), s3);
			f = _mm512_dpwssd_epi32(f, _mm512_maddubs_epi16(q4, KN_K6_V(4)), s4);
			g = _mm512_dpwssd_epi32(g, _mm512_maddubs_epi16(q5, KN_K6_V(5)), s5);
			h = _mm512_dpwssd_epi32(h, _mm512_maddubs_epi16(q6, KN_K6_V(6)), s6);
			e = _mm512_dpwssd_epi32(e, _mm512_maddubs_epi16(q7, KN_K6_V(7)), s7);
			f = _mm512_dpwssd_epi32(f, _mm512_broadcast_i64x4(_mm256_loadu_si256(
				(const __m256i *)y->bsums)), nsc);
			g = _mm512_add_epi32(g, h);
			f = _mm512_add_epi32(f, e);
#undef KN_K6_V
			acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(y->d), xd),
						 _mm512_cvtepi32_ps(_mm512_add_epi32(f, g)), acc[c]);
		}
	}
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
	const int64_t nb = n_in / KN_QK_K, rn = (r1 - r0) / 2 * 2;
	struct kn_k6_pair *xc;
	__m512 *acc;

	if (rn <= 0 || n_in % KN_QK_K || n_cols <= 0)
		return 0;
	xc = aligned_alloc(64, nb * sizeof(*xc) + KN_K6_CT * sizeof(*acc));
	if (!xc)
		return 0;
	acc = (__m512 *)(xc + nb);
	for (int64_t r = r0; r < r0 + rn; r += 2) {
		const float b0 = bias ? bias[r] : 0.0f, b1 = bias ? bias[r + 1] : 0.0f;

		kn_k6_pair_fill(xc, (const kn_block_q6_K *)((const uint8_t *)w + r * wrs),
				(const kn_block_q6_K *)((const uint8_t *)w + (r + 1) * wrs), nb);
		for (int64_t c0 = 0; c0 < n_cols; c0 += KN_K6_CT) {
			const int nc = n_cols - c0 < KN_K6_CT ? (int)(n_cols - c0) : KN_K6_CT;

			kn_k6_pair_cols(xc, nb, (const uint8_t *)a + (size_t)c0 * ars, ars, nc, acc,
					c0 == 0 && r + 3 < r0 + rn ? (const uint8_t *)w + (r + 2) * wrs
								   : NULL, wrs);
			for (int c = 0; c < nc; c++) {
				out[(c0 + c) * n_rows + r] =
					kn_avx2_hsum_ps(_mm512_castps512_ps256(acc[c])) + b0;
				out[(c0 + c) * n_rows + r + 1] =
					kn_avx2_hsum_ps(_mm256_castpd_ps(
						_mm512_extractf64x4_pd(_mm512_castps_pd(acc[c]), 1))) + b1;
			}
		}
	}
	free(xc);
	return rn;
}

