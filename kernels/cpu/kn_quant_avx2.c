// SPDX-License-Identifier: MIT
/*
 * AVX2 quantize/dequantize rows. Results are identical to the scalar
 * reference: the same scalar scale computation, the same IEEE multiply per
 * element, and roundf / round-half-even reproduced exactly in vector lanes.
 */
#include <math.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

void kn_avx2_quant_f16(const float *x, void *vy, int64_t n)
{
	uint16_t *y = vy;
	int64_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(y + i),
				 _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++)
		y[i] = kn_fp32_to_fp16(x[i]);
}

void kn_avx2_dequant_f16(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;
	int64_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
	for (; i < n; i++)
		y[i] = kn_fp16_to_fp32(x[i]);
}

void kn_avx2_quant_bf16(const float *x, void *vy, int64_t n)
{
	uint16_t *y = vy;
	const __m256i lsb = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
	const __m256i absm = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
	const __m256i quiet = _mm256_set1_epi32(64);
	int64_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m256i u = _mm256_loadu_si256((const __m256i *)(x + i));
		__m256i r = _mm256_add_epi32(u, _mm256_add_epi32(bias,
				_mm256_and_si256(_mm256_srli_epi32(u, 16), lsb)));
		__m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absm), inf);
		__m256i qn = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);

		r = _mm256_blendv_epi8(_mm256_srli_epi32(r, 16), qn, nan);
		/* 8 x u32 (< 65536) -> 8 x u16 */
		r = _mm256_packus_epi32(r, r);
		r = _mm256_permute4x64_epi64(r, _MM_SHUFFLE(3, 1, 2, 0));
		_mm_storeu_si128((__m128i *)(y + i), _mm256_castsi256_si128(r));
	}
	for (; i < n; i++)
		y[i] = kn_fp32_to_bf16(x[i]);
}

void kn_avx2_dequant_bf16(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;
	int64_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));

		_mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
	}
	for (; i < n; i++)
		y[i] = kn_bf16_to_fp32(x[i]);
}

/* roundf (half away from zero), exact for |v| < 2^23 */
static inline __m256 kn_avx2_roundf(__m256 v)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	__m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
	__m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
	__m256 one = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));

	return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

/* 4 x 8 int32 (each in int8 range) -> 32 int8 in order */
static inline __m256i kn_avx2_pack_i8(__m256i i0, __m256i i1, __m256i i2, __m256i i3)
{
	__m256i a = _mm256_packs_epi32(i0, i1);
	__m256i b = _mm256_packs_epi32(i2, i3);
	__m256i r = _mm256_packs_epi16(a, b);

	return _mm256_permutevar8x32_epi32(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/*
 * one 32-element Q8_0/Q8_1 block: returns d, writes qs, *sum = sum(qs).
 * act: llama.cpp's x86 activation rounding (id = 127/amax, half to even);
 * else quantize_row_q8_*_ref's (id = 1/d, roundf).
 */
static inline float kn_avx2_q8_block(const float *x, int8_t *qs, int *sum, bool act)
{
	const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	__m256 v[4], mx;
	__m256i q[4];

	for (int k = 0; k < 4; k++)
		v[k] = _mm256_loadu_ps(x + 8 * k);
	mx = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], absm), _mm256_and_ps(v[1], absm)),
			   _mm256_max_ps(_mm256_and_ps(v[2], absm), _mm256_and_ps(v[3], absm)));
	const float amax = kn_avx2_hmax_ps(mx);
	const float d = amax / ((1 << 7) - 1);
	const float id = act ? (amax != 0.0f ? 127.f / amax : 0.0f) : (d ? 1.0f / d : 0.0f);
	const __m256 vid = _mm256_set1_ps(id);

	for (int k = 0; k < 4; k++) {
		__m256 t = _mm256_mul_ps(v[k], vid);

		t = act ? _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
			: kn_avx2_roundf(t);
		q[k] = _mm256_cvtps_epi32(t);
	}
	if (sum)
		*sum = kn_avx2_hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]),
							   _mm256_add_epi32(q[2], q[3])));
	_mm256_storeu_si256((__m256i *)qs, kn_avx2_pack_i8(q[0], q[1], q[2], q[3]));
	return d;
}

void kn_avx2_quant_q8_0(const float *x, void *vy, int64_t n)
{
	kn_block_q8_0 *y = vy;

	for (int64_t i = 0; i < n / KN_QK8_0; i++, x += KN_QK8_0)
		y[i].d = kn_fp32_to_fp16(kn_avx2_q8_block(x, y[i].qs, NULL, false));
}

void kn_avx2_act_q8_0(const float *x, void *vy, int64_t n)
{
	kn_block_q8_0 *y = vy;

	for (int64_t i = 0; i < n / KN_QK8_0; i++, x += KN_QK8_0)
		y[i].d = kn_fp32_to_fp16(kn_avx2_q8_block(x, y[i].qs, NULL, true));
}

void kn_avx2_act_q8_1(const float *x, void *vy, int64_t n)
{
	kn_block_q8_1 *y = vy;

	for (int64_t i = 0; i < n / KN_QK8_1; i++, x += KN_QK8_1) {
		int sum;
		const float d = kn_avx2_q8_block(x, y[i].qs, &sum, true);

		y[i].d = kn_fp32_to_fp16(d);
		y[i].s = kn_fp32_to_fp16(d * sum);
	}
}

void kn_avx2_quant_q8_1(const float *x, void *vy, int64_t n)
{
	kn_block_q8_1 *y = vy;

	for (int64_t i = 0; i < n / KN_QK8_1; i++, x += KN_QK8_1) {
		int sum;
		const float d = kn_avx2_q8_block(x, y[i].qs, &sum, false);

		y[i].d = kn_fp32_to_fp16(d);
		y[i].s = kn_fp32_to_fp16(sum * d);
	}
}

void kn_avx2_quant_q8_K(const float *x, void *vy, int64_t n)
{
	const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	kn_block_q8_K *y = vy;

	for (int64_t i = 0; i < n / KN_QK_K; i++, x += KN_QK_K) {
		__m256 mx = _mm256_setzero_ps();
		float amax, max = 0;

		for (int j = 0; j < KN_QK_K; j += 8)
			mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(x + j), absm));
		amax = kn_avx2_hmax_ps(mx);
		if (!amax) {
			memset(&y[i], 0, sizeof(y[i]));
			continue;
		}
		/* the first element of largest magnitude, as the scalar scan finds */
		for (int j = 0; j < KN_QK_K; j++) {
			if (fabsf(x[j]) == amax) {
				max = x[j];
				break;
			}
		}
		const float iscale = -127.f / max;
		const __m256 vs = _mm256_set1_ps(iscale);
		const __m256i lim = _mm256_set1_epi32(127);

		for (int j = 0; j < KN_QK_K; j += 32) {
			__m256i q[4];

			for (int k = 0; k < 4; k++) {
				__m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), vs);

				q[k] = _mm256_min_epi32(lim, _mm256_cvtps_epi32(
					_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
			}
			/* bsums: groups of 16 = two vectors each */
			y[i].bsums[j / 16] = (int16_t)kn_avx2_hsum_epi32(_mm256_add_epi32(q[0], q[1]));
			y[i].bsums[j / 16 + 1] = (int16_t)kn_avx2_hsum_epi32(_mm256_add_epi32(q[2], q[3]));
			_mm256_storeu_si256((__m256i *)(y[i].qs + j), kn_avx2_pack_i8(q[0], q[1], q[2], q[3]));
		}
		y[i].d = 1 / iscale;
	}
}

void kn_avx2_dequant_q4_0(const void *vx, float *y, int64_t n)
{
	const kn_block_q4_0 *x = vx;

	for (int64_t i = 0; i < n / KN_QK4_0; i++, y += KN_QK4_0) {
		const __m256 d = _mm256_set1_ps(kn_avx2_h2f(x[i].d));
		__m256i q = _mm256_sub_epi8(kn_avx2_nibbles(x[i].qs), _mm256_set1_epi8(8));
		__m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);

		_mm256_storeu_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
		_mm256_storeu_ps(y + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(
			_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
		_mm256_storeu_ps(y + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
		_mm256_storeu_ps(y + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(
			_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
	}
}

void kn_avx2_dequant_q8_0(const void *vx, float *y, int64_t n)
{
	const kn_block_q8_0 *x = vx;

	for (int64_t i = 0; i < n / KN_QK8_0; i++, y += KN_QK8_0) {
		const __m256 d = _mm256_set1_ps(kn_avx2_h2f(x[i].d));

		for (int k = 0; k < 4; k++) {
			__m128i b = _mm_loadl_epi64((const __m128i *)(x[i].qs + 8 * k));

			_mm256_storeu_ps(y + 8 * k,
					 _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), d));
		}
	}
}
