// SPDX-License-Identifier: MIT
/*
 * The half-precision part of llama.cpp's AVX512-FP16 ggml_vec_mad_f16 and
 * ggml_vec_scale_f16 (kn_attn_flash.c), on AVX-512F and F16C: the scalar
 * twins' arithmetic element for element, 16 at a time. Without these, the
 * F16 V cache's accumulation ran three scalar conversions per element and
 * cache position, the largest cost of a long-context decode token.
 */
#include "kn_attn.h"
#include "kn_avx2.h"

#define KN_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* y = f16(f32(y) * vh): a product of two halves is exact in F32 */
void kn_avx512_attn_scale_f16_hp(uint16_t *y, float vh, int64_t n)
{
	const __m512 v = _mm512_set1_ps(vh);
	int64_t i = 0;

	for (; i + 16 <= n; i += 16) {
		const __m512 a = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i)));

		_mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtps_ph(_mm512_mul_ps(a, v), KN_RNE));
	}
	for (; i < n; i++)
		y[i] = _cvtss_sh(kn_avx2_h2f(y[i]) * vh, 0);
}

/* 8 halves as doubles */
static inline __m512d kn_h8_pd(const uint16_t *p)
{
	return _mm512_cvtps_pd(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)));
}

/* 8 doubles to F32 then F16, both to nearest */
static inline __m128i kn_pd_h8(__m512d d)
{
	return _mm256_cvtps_ph(_mm512_cvtpd_ps(d), KN_RNE);
}

/*
 * y = f16(f32(f64(x) * vh + f64(y))): x * vh is exact in double, so the
 * multiply-add is the scalar twin's (a fused one would round the same)
 */
void kn_avx512_attn_mad_f16_hp(uint16_t *y, const uint16_t *x, float vh, int64_t n)
{
	const __m512d v = _mm512_set1_pd((double)vh);
	int64_t i = 0;

	for (; i + 16 <= n; i += 16) {
		const __m512d a0 = _mm512_fmadd_pd(kn_h8_pd(x + i), v, kn_h8_pd(y + i));
		const __m512d a1 = _mm512_fmadd_pd(kn_h8_pd(x + i + 8), v, kn_h8_pd(y + i + 8));

		_mm_storeu_si128((__m128i *)(y + i), kn_pd_h8(a0));
		_mm_storeu_si128((__m128i *)(y + i + 8), kn_pd_h8(a1));
	}
	for (; i < n; i++)
		y[i] = _cvtss_sh((float)((double)kn_avx2_h2f(x[i]) * vh + (double)kn_avx2_h2f(y[i])), 0);
}
