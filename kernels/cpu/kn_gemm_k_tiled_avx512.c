// SPDX-License-Identifier: MIT
/*
 * Q6_K and Q5_K . Q8_K batches in llama.cpp's tiled order (kn_tiled.c) on AVX-512
 * VNNI, one vpdpbusd per 4 values as its VNNI microkernel: the columns in
 * blocks of 16, each super-block's activation bytes regrouped once per call
 * as [4-value group][column][4 bytes], so one vpdpbusd takes a row's 4
 * weight codes (0..63, broadcast) against 16 columns. Per 16-value sub-block
 * and row the int32 lanes start at -32 x the column's bsum, 4 vpdpbusd add
 * the codes' products (exact: the biased codes' sum less 32 bsum is the
 * signed one), one vpmulld scales them into the super-block's sum s1; then
 * cvt, x d_w, one fma with the 16 columns' d_a. 8 rows a pass share each
 * activation load. Rows are unpacked once per call to natural-order codes.
 * Q5_K: 32-value sub-blocks (8 vpdpbusd from 0), its codes 0..31 unbiased;
 * s2 (mins . bsums) one vpdpwssd per sub-block from the columns' bsum pairs
 * as int16, then the fnmadd with dmin before the fma with d_a.
 */
#include <stdlib.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

#define KN_K6V_ROWS	8	/* rows a pass */
#define KN_K6V_COLS	16	/* columns a block (zmm lanes) */

int64_t kn_avx512_gemm_q6_K_tiled(int64_t n_in, const void *w, size_t wrs, const void *a,
				  size_t ars, int64_t n_cols, const float *bias, float *out,
				  int64_t n_rows, int64_t r0, int64_t r1);
int64_t kn_avx512_gemm_q5_K_tiled(int64_t n_in, const void *w, size_t wrs, const void *a,
				  size_t ars, int64_t n_cols, const float *bias, float *out,
				  int64_t n_rows, int64_t r0, int64_t r1);

/* one row's super-block: natural-order codes, scales, d */
struct kn_k6v_row {
	uint8_t q[KN_QK_K];
	int32_t sc[16];
	float d;
	int32_t pad[15];
};

/* one column block's super-block: grouped bytes, -32 bsums, d */
struct kn_k6v_act {
	int8_t q[64][64];	/* [4-value group][column][4] */
	int32_t nbs[16][16];	/* [sub-block][column]: -32 x bsum */
	int32_t bsp[8][16];	/* [32-value sub-block][column]: its 2 bsums as int16 */
	float d[16];
};

static void kn_k6v_row_fill(struct kn_k6v_row *dst, const kn_block_q6_K *x, int64_t nb)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);

	for (int64_t i = 0; i < nb; i++) {
		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = x[i].ql + 64 * h;
			const __m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
			const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
			const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
			__m256i *q = (__m256i *)dst[i].q + 4 * h;

			_mm256_store_si256(q, _mm256_or_si256(_mm256_and_si256(l0, m4),
				_mm256_slli_epi16(_mm256_and_si256(qh, m2), 4)));
			_mm256_store_si256(q + 1, _mm256_or_si256(_mm256_and_si256(l1, m4),
				_mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4)));
			_mm256_store_si256(q + 2, _mm256_or_si256(_mm256_and_si256(
				_mm256_srli_epi16(l0, 4), m4), _mm256_slli_epi16(_mm256_and_si256(
				_mm256_srli_epi16(qh, 4), m2), 4)));
			_mm256_store_si256(q + 3, _mm256_or_si256(_mm256_and_si256(
				_mm256_srli_epi16(l1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(
				_mm256_srli_epi16(qh, 6), m2), 4)));
		}
		_mm512_store_si512(dst[i].sc, _mm512_cvtepi8_epi32(
			_mm_loadu_si128((const __m128i *)x[i].scales)));
		dst[i].d = kn_avx2_h2f(x[i].d);
	}
}

/* columns [c0, c0 + nc) of @a, nb super-blocks each; columns past nc are zero */
static void kn_k6v_act_fill(struct kn_k6v_act *dst, const uint8_t *a, size_t ars, int nc,
			    int64_t nb)
{
	memset(dst, 0, nb * sizeof(*dst));
	for (int j = 0; j < nc; j++) {
		const kn_block_q8_K *y = (const kn_block_q8_K *)(a + (size_t)j * ars);

		for (int64_t i = 0; i < nb; i++) {
			for (int g = 0; g < 64; g++)
				memcpy(&dst[i].q[g][4 * j], y[i].qs + 4 * g, 4);
			for (int s = 0; s < 16; s++)
				dst[i].nbs[s][j] = -32 * y[i].bsums[s];
			for (int s = 0; s < 8; s++)
				dst[i].bsp[s][j] = (int32_t)((uint16_t)y[i].bsums[2 * s] |
							     (uint32_t)(uint16_t)y[i].bsums[2 * s + 1] << 16);
			dst[i].d[j] = y[i].d;
		}
	}
}

/*
 * 8 rows (@xr, nb apart) x @ncb column blocks (@ac, nb apart): accb[cb * 8 + t]
 * lanes = columns. Super-block outer, column blocks inner: the 8 rows' and
 * the blocks' super-block stay in L1 while it is used.
 */
static void kn_k6v_pass(const struct kn_k6v_row *xr, const struct kn_k6v_act *ac, int64_t nb,
			int64_t ncb, __m512 *accb)
{
	for (int64_t k = 0; k < ncb * KN_K6V_ROWS; k++)
		accb[k] = _mm512_setzero_ps();
	for (int64_t i = 0; i < nb; i++)
	for (int64_t cb = 0; cb < ncb; cb++) {
		const struct kn_k6v_act *y = &ac[cb * nb + i];
		__m512 *acc = accb + cb * KN_K6V_ROWS;
		__m512i s1[KN_K6V_ROWS];

		for (int t = 0; t < KN_K6V_ROWS; t++)
			s1[t] = _mm512_setzero_si512();
		for (int s = 0; s < 16; s++) {
			const __m512i nbs = _mm512_load_si512(y->nbs[s]);
			__m512i p[KN_K6V_ROWS];

			for (int t = 0; t < KN_K6V_ROWS; t++)
				p[t] = nbs;
			_Pragma("GCC unroll 4")
			for (int g = 4 * s; g < 4 * s + 4; g++) {
				const __m512i v = _mm512_load_si512(y->q[g]);

				_Pragma("GCC unroll 8")
				for (int t = 0; t < KN_K6V_ROWS; t++)
					p[t] = _mm512_dpbusd_epi32(p[t], _mm512_set1_epi32(
						*(const int32_t *)(xr[t * nb + i].q + 4 * g)), v);
			}
			_Pragma("GCC unroll 8")
			for (int t = 0; t < KN_K6V_ROWS; t++)
				s1[t] = _mm512_add_epi32(s1[t], _mm512_mullo_epi32(p[t],
					_mm512_set1_epi32(xr[t * nb + i].sc[s])));
		}
		const __m512 da = _mm512_load_ps(y->d);

		_Pragma("GCC unroll 8")
		for (int t = 0; t < KN_K6V_ROWS; t++)
			acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s1[t]),
				_mm512_set1_ps(xr[t * nb + i].d)), da, acc[t]);
	}
}

/* one Q5_K row's super-block: natural-order codes, scales, mins as int16 pairs, d, dmin */
struct kn_k5v_row {
	uint8_t q[KN_QK_K];
	int32_t sc[8];
	int32_t mp[8];
	float d, dmin;
	int32_t pad[14];
};

static void kn_k5v_row_fill(struct kn_k5v_row *dst, const kn_block_q5_K *x, int64_t nb)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);

	for (int64_t i = 0; i < nb; i++) {
		const __m256i hb = _mm256_loadu_si256((const __m256i *)x[i].qh);
		uint32_t u[4];

		for (int j = 0; j < 4; j++) {
			const __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
			const __m256i hl = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), one);
			const __m256i hh = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), one);

			_mm256_store_si256((__m256i *)(dst[i].q + 64 * j), _mm256_or_si256(
				_mm256_and_si256(q4, m4), _mm256_slli_epi16(hl, 4)));
			_mm256_store_si256((__m256i *)(dst[i].q + 64 * j + 32), _mm256_or_si256(
				_mm256_and_si256(_mm256_srli_epi16(q4, 4), m4), _mm256_slli_epi16(hh, 4)));
		}
		kn_q4_K_scales_mins(x[i].scales, u);
		/* the 8 scales and the 8 mins (m | m << 16) widened in vectors */
		const __m256i mn = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(
			(long long)((uint64_t)u[2] | (uint64_t)u[3] << 32)));

		_mm256_store_si256((__m256i *)dst[i].sc, _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(
			(long long)((uint64_t)u[0] | (uint64_t)u[1] << 32))));
		_mm256_store_si256((__m256i *)dst[i].mp, _mm256_or_si256(mn, _mm256_slli_epi32(mn, 16)));
		dst[i].d = kn_avx2_h2f(x[i].d);
		dst[i].dmin = kn_avx2_h2f(x[i].dmin);
	}
}

/* kn_k6v_pass for Q5_K */
static void kn_k5v_pass(const struct kn_k5v_row *xr, const struct kn_k6v_act *ac, int64_t nb,
			int64_t ncb, __m512 *accb)
{
	for (int64_t k = 0; k < ncb * KN_K6V_ROWS; k++)
		accb[k] = _mm512_setzero_ps();
	for (int64_t i = 0; i < nb; i++)
	for (int64_t cb = 0; cb < ncb; cb++) {
		const struct kn_k6v_act *y = &ac[cb * nb + i];
		__m512 *acc = accb + cb * KN_K6V_ROWS;
		__m512i s1[KN_K6V_ROWS];

		for (int t = 0; t < KN_K6V_ROWS; t++)
			s1[t] = _mm512_setzero_si512();
		for (int s = 0; s < 8; s++) {
			__m512i p[KN_K6V_ROWS];

			for (int t = 0; t < KN_K6V_ROWS; t++)
				p[t] = _mm512_setzero_si512();
			_Pragma("GCC unroll 8")
			for (int g = 8 * s; g < 8 * s + 8; g++) {
				const __m512i v = _mm512_load_si512(y->q[g]);

				_Pragma("GCC unroll 8")
				for (int t = 0; t < KN_K6V_ROWS; t++)
					p[t] = _mm512_dpbusd_epi32(p[t], _mm512_set1_epi32(
						*(const int32_t *)(xr[t * nb + i].q + 4 * g)), v);
			}
			_Pragma("GCC unroll 8")
			for (int t = 0; t < KN_K6V_ROWS; t++)
				s1[t] = _mm512_add_epi32(s1[t], _mm512_mullo_epi32(p[t],
					_mm512_set1_epi32(xr[t * nb + i].sc[s])));
		}
		const __m512 da = _mm512_load_ps(y->d);

		_Pragma("GCC unroll 8")
		for (int t = 0; t < KN_K6V_ROWS; t++) {
			const struct kn_k5v_row *x = &xr[t * nb + i];
			__m512i s2 = _mm512_setzero_si512();
			__m512 r;

			for (int s = 0; s < 8; s++)
				s2 = _mm512_dpwssd_epi32(s2, _mm512_load_si512(y->bsp[s]),
							 _mm512_set1_epi32(x->mp[s]));
			r = _mm512_mul_ps(_mm512_cvtepi32_ps(s1[t]), _mm512_set1_ps(x->d));
			r = _mm512_fnmadd_ps(_mm512_set1_ps(x->dmin), _mm512_cvtepi32_ps(s2), r);
			acc[t] = _mm512_fmadd_ps(r, da, acc[t]);
		}
	}
}

/*
 * out[c][r] (+ bias[r]) for every column and the rows [r0, r0 + 8 floor((r1
 * - r0) / 8)) of a Q6_K (Q5_K: @q5) matrix times Q8_K activations, each
 * output in the tiled order (kn_ref_tiled_*). Returns the rows done (0
 * where the copies could not be allocated).
 */
static int64_t kn_kv_gemm(bool q5, int64_t n_in, const void *w, size_t wrs, const void *a,
			  size_t ars, int64_t n_cols, const float *bias, float *out,
			  int64_t n_rows, int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK_K, rn = (r1 - r0) / KN_K6V_ROWS * KN_K6V_ROWS;
	const int64_t ncb = (n_cols + KN_K6V_COLS - 1) / KN_K6V_COLS;
	void *xr;
	struct kn_k6v_act *ac;
	__m512 *accb;
	const size_t rsz = q5 ? sizeof(struct kn_k5v_row) : sizeof(struct kn_k6v_row);

	if (rn <= 0 || n_in % KN_QK_K || n_cols <= 0)
		return 0;
	xr = aligned_alloc(64, KN_K6V_ROWS * nb * rsz);
	ac = aligned_alloc(64, ncb * nb * sizeof(*ac));
	accb = aligned_alloc(64, ncb * KN_K6V_ROWS * sizeof(*accb));
	if (!xr || !ac || !accb) {
		free(xr);
		free(ac);
		free(accb);
		return 0;
	}
	for (int64_t cb = 0; cb < ncb; cb++) {
		const int64_t c0 = cb * KN_K6V_COLS;

		kn_k6v_act_fill(ac + cb * nb, (const uint8_t *)a + (size_t)c0 * ars, ars,
				n_cols - c0 < KN_K6V_COLS ? (int)(n_cols - c0) : KN_K6V_COLS, nb);
	}
	for (int64_t r = r0; r < r0 + rn; r += KN_K6V_ROWS) {
		for (int t = 0; t < KN_K6V_ROWS; t++) {
			const void *x = (const uint8_t *)w + (r + t) * wrs;

			if (q5)
				kn_k5v_row_fill((struct kn_k5v_row *)xr + t * nb, x, nb);
			else
				kn_k6v_row_fill((struct kn_k6v_row *)xr + t * nb, x, nb);
		}
		if (q5)
			kn_k5v_pass(xr, ac, nb, ncb, accb);
		else
			kn_k6v_pass(xr, ac, nb, ncb, accb);
		for (int64_t cb = 0; cb < ncb; cb++) {
			const int64_t c0 = cb * KN_K6V_COLS;
			const int nc = n_cols - c0 < KN_K6V_COLS ? (int)(n_cols - c0) : KN_K6V_COLS;
			const __m512 *acc = accb + cb * KN_K6V_ROWS;

			for (int t = 0; t < KN_K6V_ROWS; t++) {
				float o[KN_K6V_COLS];
				const float b = bias ? bias[r + t] : 0.0f;

				_mm512_storeu_ps(o, acc[t]);
				for (int j = 0; j < nc; j++)
					out[(c0 + j) * n_rows + r + t] = o[j] + b;
			}
		}
	}
	free(xr);
	free(ac);
	free(accb);
	return rn;
}

int64_t kn_avx512_gemm_q6_K_tiled(int64_t n_in, const void *w, size_t wrs, const void *a,
				  size_t ars, int64_t n_cols, const float *bias, float *out,
				  int64_t n_rows, int64_t r0, int64_t r1)
{
	return kn_kv_gemm(false, n_in, w, wrs, a, ars, n_cols, bias, out, n_rows, r0, r1);
}

/** kn_avx512_gemm_q5_K_tiled - kn_avx512_gemm_q6_K_tiled for Q5_K (kn_ref_tiled_q5_K) */
int64_t kn_avx512_gemm_q5_K_tiled(int64_t n_in, const void *w, size_t wrs, const void *a,
				  size_t ars, int64_t n_cols, const float *bias, float *out,
				  int64_t n_rows, int64_t r0, int64_t r1)
{
	return kn_kv_gemm(true, n_in, w, wrs, a, ars, n_cols, bias, out, n_rows, r0, r1);
}
