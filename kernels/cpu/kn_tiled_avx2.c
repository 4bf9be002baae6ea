// SPDX-License-Identifier: MIT
/*
 * One output of a K-quant batch in llama.cpp's tiled order (kn_tiled.c) on
 * AVX2: the super-block's exact integer sums from maddubs/madd as the AVX2
 * vec_dot forms them, folded to one int32, then the tiled float steps in
 * scalar (one mul, the mins' fma, one fma into the sum): bit-identical to
 * kn_ref_tiled_*. Used for the rows and columns the GEMMs leave, and for
 * Q5_K and Q4_K batches.
 */
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

static float kn_avx2_tiled_q6_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q6_K *w = vw;
	const kn_block_q8_K *a = va;
	float acc = 0.0f;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const __m256i sumi = kn_avx2_q6_K_isum(&w[i], &a[i]);

		acc = fmaf((float)kn_avx2_hsum_epi32(sumi) * kn_avx2_h2f(w[i].d), a[i].d, acc);
	}
	return acc;
}

/* the int sums of a Q4_K (@qh NULL) or Q5_K super-block: s1 (scaled) and s2 (mins . bsums) */
static inline void kn_avx2_tiled_k4(const uint8_t *qs, const uint8_t *qh, const uint8_t *scales,
				    const kn_block_q8_K *a, int32_t *s1, int32_t *s2)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
	const __m256i hb = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
	__m256i sumi = _mm256_setzero_si256();
	uint32_t u[4];
	const uint8_t *sc = (const uint8_t *)u;
	__m128i mp;

	kn_q4_K_scales_mins(scales, u);
	mp = kn_avx2_mins_prod((const uint8_t *)u + 8, a->bsums);
	mp = _mm_add_epi32(mp, _mm_shuffle_epi32(mp, _MM_SHUFFLE(1, 0, 3, 2)));
	mp = _mm_add_epi32(mp, _mm_shuffle_epi32(mp, _MM_SHUFFLE(2, 3, 0, 1)));
	*s2 = _mm_cvtsi128_si32(mp);
	for (int j = 0; j < 4; j++) {
		__m256i q4 = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
		__m256i hl = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), one);
		__m256i hh = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), one);
		__m256i ql = _mm256_or_si256(_mm256_and_si256(q4, m4), _mm256_slli_epi16(hl, 4));
		__m256i qv = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), m4),
					     _mm256_slli_epi16(hh, 4));
		__m256i yl = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * j));
		__m256i yh = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * j + 32));
		__m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(ql, yl),
					       _mm256_set1_epi16(sc[2 * j]));
		__m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(qv, yh),
					       _mm256_set1_epi16(sc[2 * j + 1]));

		sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
	}
	*s1 = kn_avx2_hsum_epi32(sumi);
}

static float kn_avx2_tiled_q5_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q5_K *w = vw;
	const kn_block_q8_K *a = va;
	float acc = 0.0f;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		int32_t s1, s2;
		float r;

		kn_avx2_tiled_k4(w[i].qs, w[i].qh, w[i].scales, &a[i], &s1, &s2);
		r = (float)s1 * kn_avx2_h2f(w[i].d);
		r = fmaf(-kn_avx2_h2f(w[i].dmin), (float)s2, r);
		acc = fmaf(r, a[i].d, acc);
	}
	return acc;
}

static float kn_avx2_tiled_q4_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q4_K *w = vw;
	const kn_block_q8_K *a = va;
	float acc = 0.0f;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		int32_t s1, s2;
		float r;

		kn_avx2_tiled_k4(w[i].qs, NULL, w[i].scales, &a[i], &s1, &s2);
		r = (float)s1 * kn_avx2_h2f(w[i].d);
		r = fmaf(-kn_avx2_h2f(w[i].dmin), (float)s2, r);
		acc = fmaf(r, a[i].d, acc);
	}
	return acc;
}

kn_dot_fn kn_avx2_tiled_dot_get(uint32_t type)
{
	switch (type) {
	case KN_Q6_K:
		return kn_avx2_tiled_q6_K;
	case KN_Q5_K:
		return kn_avx2_tiled_q5_K;
	case KN_Q4_K:
		return kn_avx2_tiled_q4_K;
	default:
		return NULL;
	}
}
