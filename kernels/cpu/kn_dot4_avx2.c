// SPDX-License-Identifier: MIT
/*
 * AVX2 dot products of one weight row with 4 activation columns at once, for
 * batched MATMUL (prefill): the weight block is loaded and unpacked once for
 * the 4 columns. Each column sees exactly the operations, in the order, of
 * the single-column dot in kn_dot_avx2.c, so results are bit-identical.
 */
#include <math.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

void kn_avx2_dot4_q4_0(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx2_dot4_q4_1(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx2_dot8_q4_1(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx2_dot4_q8_0(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx2_dot4_q4_K(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx2_dot4_q6_K(int64_t n, const void *w, const void *a, size_t as, float *out);

#define KN_COL(T, a, as, c) ((const T *)((const uint8_t *)(a) + (size_t)(c) * (as)))

void kn_avx2_dot4_q4_0(int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	const kn_block_q4_0 *w = vw;
	const kn_block_q8_0 *a[4];
	__m256 acc0[4], acc1[4];
	const __m256i off = _mm256_set1_epi8(8);
	const int64_t nb = n / KN_QK4_0;
	int64_t i = 0;

	_Pragma("GCC unroll 4")
	for (int c = 0; c < 4; c++) {
		a[c] = KN_COL(kn_block_q8_0, va, as, c);
		acc0[c] = acc1[c] = _mm256_setzero_ps();
	}
	/* the single-column kernel's two interleaved accumulators */
	for (; i + 2 <= nb; i += 2) {
		const __m256i x0 = _mm256_sub_epi8(kn_avx2_nibbles(w[i].qs), off);
		const __m256i x1 = _mm256_sub_epi8(kn_avx2_nibbles(w[i + 1].qs), off);
		const __m256i ax0 = _mm256_sign_epi8(x0, x0), ax1 = _mm256_sign_epi8(x1, x1);
		const float dw0 = kn_avx2_h2f(w[i].d), dw1 = kn_avx2_h2f(w[i + 1].d);

		_Pragma("GCC unroll 4")
		for (int c = 0; c < 4; c++) {
			__m256i y0 = _mm256_loadu_si256((const __m256i *)a[c][i].qs);
			__m256i y1 = _mm256_loadu_si256((const __m256i *)a[c][i + 1].qs);
			__m256 d0 = _mm256_set1_ps(dw0 * kn_avx2_h2f(a[c][i].d));
			__m256 d1 = _mm256_set1_ps(dw1 * kn_avx2_h2f(a[c][i + 1].d));

			acc0[c] = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(kn_avx2_dot_us8(ax0,
						  _mm256_sign_epi8(y0, x0))), acc0[c]);
			acc1[c] = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(kn_avx2_dot_us8(ax1,
						  _mm256_sign_epi8(y1, x1))), acc1[c]);
		}
	}
	for (; i < nb; i++) {
		const __m256i x0 = _mm256_sub_epi8(kn_avx2_nibbles(w[i].qs), off);
		const float dw0 = kn_avx2_h2f(w[i].d);

		_Pragma("GCC unroll 4")
		for (int c = 0; c < 4; c++) {
			__m256i y0 = _mm256_loadu_si256((const __m256i *)a[c][i].qs);
			__m256 d0 = _mm256_set1_ps(dw0 * kn_avx2_h2f(a[c][i].d));

			acc0[c] = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(kn_avx2_dot_s8(x0, y0)), acc0[c]);
		}
	}
	_Pragma("GCC unroll 4")
	for (int c = 0; c < 4; c++)
		out[c] = kn_avx2_hsum_ps(_mm256_add_ps(acc0[c], acc1[c]));
}

/* NC (4 or 8) columns of one Q4_1 row: the nibbles unpacked once per block */
static inline __attribute__((always_inline)) void
kn_avx2_dotn_q4_1(const int NC, int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	const kn_block_q4_1 *w = vw;
	const kn_block_q8_1 *a[8];
	__m256 acc[8];
	float summs[8];

	_Pragma("GCC unroll 8")
	for (int c = 0; c < NC; c++) {
		a[c] = KN_COL(kn_block_q8_1, va, as, c);
		acc[c] = _mm256_setzero_ps();
		summs[c] = 0;
	}
	for (int64_t i = 0; i < n / KN_QK4_1; i++) {
		const __m256i x = kn_avx2_nibbles(w[i].qs);
		const float dw = kn_avx2_h2f(w[i].d), mw = kn_avx2_h2f(w[i].m);

		_Pragma("GCC unroll 8")
		for (int c = 0; c < NC; c++) {
			const __m256 d = _mm256_set1_ps(dw * kn_avx2_h2f(a[c][i].d));
			const __m256i y = _mm256_loadu_si256((const __m256i *)a[c][i].qs);

			summs[c] = fmaf(mw, kn_avx2_h2f(a[c][i].s), summs[c]);
			acc[c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(kn_avx2_dot_us8(x, y)), acc[c]);
		}
	}
	_Pragma("GCC unroll 8")
	for (int c = 0; c < NC; c++)
		out[c] = kn_avx2_hsum_ps(acc[c]) + summs[c];
}

void kn_avx2_dot4_q4_1(int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	kn_avx2_dotn_q4_1(4, n, vw, va, as, out);
}

void kn_avx2_dot8_q4_1(int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	kn_avx2_dotn_q4_1(8, n, vw, va, as, out);
}

void kn_avx2_dot4_q8_0(int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	const kn_block_q8_0 *w = vw;
	const kn_block_q8_0 *a[4];
	__m256 acc[4];

	_Pragma("GCC unroll 4")
	for (int c = 0; c < 4; c++) {
		a[c] = KN_COL(kn_block_q8_0, va, as, c);
		acc[c] = _mm256_setzero_ps();
	}
	for (int64_t i = 0; i < n / KN_QK8_0; i++) {
		const __m256i x = _mm256_loadu_si256((const __m256i *)w[i].qs);
		const __m256i ax = _mm256_sign_epi8(x, x);
		const float dw = kn_avx2_h2f(w[i].d);

		_Pragma("GCC unroll 4")
		for (int c = 0; c < 4; c++) {
			const __m256 d = _mm256_set1_ps(dw * kn_avx2_h2f(a[c][i].d));
			const __m256i y = _mm256_loadu_si256((const __m256i *)a[c][i].qs);

			acc[c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(kn_avx2_dot_us8(ax,
						 _mm256_sign_epi8(y, x))), acc[c]);
		}
	}
	_Pragma("GCC unroll 4")
	for (int c = 0; c < 4; c++)
		out[c] = kn_avx2_hsum_ps(acc[c]);
}

void kn_avx2_dot4_q4_K(int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	const kn_block_q4_K *w = vw;
	const kn_block_q8_K *a[4];
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	__m256 acc[4];
	__m128 accm[4];

	_Pragma("GCC unroll 4")
	for (int c = 0; c < 4; c++) {
		a[c] = KN_COL(kn_block_q8_K, va, as, c);
		acc[c] = _mm256_setzero_ps();
		accm[c] = _mm_setzero_ps();
	}
	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		uint8_t sc[8], m[8];
		__m256i sumi[4];
		const float dw = kn_avx2_h2f(w[i].d), mw = kn_avx2_h2f(w[i].dmin);

		for (int j = 0; j < 8; j++)
			kn_get_scale_min_k4(j, w[i].scales, &sc[j], &m[j]);
		_Pragma("GCC unroll 4")
		for (int c = 0; c < 4; c++) {
			const float dmin = -a[c][i].d * mw;

			accm[c] = _mm_fmadd_ps(_mm_set1_ps(dmin),
					       _mm_cvtepi32_ps(kn_avx2_mins_prod(m, a[c][i].bsums)), accm[c]);
			sumi[c] = _mm256_setzero_si256();
		}
		for (int j = 0; j < 4; j++) {
			const __m256i q4 = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * j));
			const __m256i q4l = _mm256_and_si256(q4, m4);
			const __m256i q4h = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
			const __m256i sl = _mm256_set1_epi16(sc[2 * j]), sh = _mm256_set1_epi16(sc[2 * j + 1]);

			_Pragma("GCC unroll 4")
			for (int c = 0; c < 4; c++) {
				const int8_t *q8 = a[c][i].qs + 64 * j;
				__m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(q4l,
						_mm256_loadu_si256((const __m256i *)q8)), sl);
				__m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(q4h,
						_mm256_loadu_si256((const __m256i *)(q8 + 32))), sh);

				sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(pl, ph));
			}
		}
		_Pragma("GCC unroll 4")
		for (int c = 0; c < 4; c++)
			acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(a[c][i].d * dw),
						 _mm256_cvtepi32_ps(sumi[c]), acc[c]);
	}
	_Pragma("GCC unroll 4")
	for (int c = 0; c < 4; c++) {
		__m128 am = _mm_add_ps(accm[c], _mm_movehl_ps(accm[c], accm[c]));

		am = _mm_add_ss(am, _mm_movehdup_ps(am));
		out[c] = kn_avx2_hsum_ps(acc[c]) + _mm_cvtss_f32(am);
	}
}

void kn_avx2_dot4_q6_K(int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	const kn_block_q6_K *w = vw;
	const kn_block_q8_K *a[4];
	const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
	__m256 acc[4];

	_Pragma("GCC unroll 4")
	for (int c = 0; c < 4; c++) {
		a[c] = KN_COL(kn_block_q8_K, va, as, c);
		acc[c] = _mm256_setzero_ps();
	}
	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		__m256i sumi[4];
		const float dw = kn_avx2_h2f(w[i].d);

		_Pragma("GCC unroll 4")
		for (int c = 0; c < 4; c++)
			sumi[c] = _mm256_setzero_si256();
		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = w[i].ql + 64 * h;
			const int8_t *sc = w[i].scales + 8 * h;
			const __m256i qh = _mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h));
			const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
			const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
			__m256i q[4], s[4];

			q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
					       _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
			q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
					       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
			q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
					       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
			q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
					       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
			for (int k = 0; k < 4; k++)
				s[k] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
			_Pragma("GCC unroll 4")
			for (int c = 0; c < 4; c++) {
				const int8_t *q8 = a[c][i].qs + 128 * h;

				for (int k = 0; k < 4; k++) {
					__m256i y = _mm256_loadu_si256((const __m256i *)(q8 + 32 * k));

					sumi[c] = _mm256_add_epi32(sumi[c],
						_mm256_madd_epi16(_mm256_maddubs_epi16(q[k], y), s[k]));
				}
			}
		}
		_Pragma("GCC unroll 4")
		for (int c = 0; c < 4; c++) {
			sumi[c] = _mm256_sub_epi32(sumi[c], kn_avx2_q6_corr(w[i].scales, a[c][i].bsums));
			acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(a[c][i].d * dw),
						 _mm256_cvtepi32_ps(sumi[c]), acc[c]);
		}
	}
	_Pragma("GCC unroll 4")
	for (int c = 0; c < 4; c++)
		out[c] = kn_avx2_hsum_ps(acc[c]);
}
