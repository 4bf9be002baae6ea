// SPDX-License-Identifier: MIT
/*
 * AVX2 inner loops of paged attention: q.k and acc += w * v over one head
 * (F32 or F16 cache rows). kn_attn.c picks these or its scalar loops.
 */
#include <math.h>
#include "kn_attn.h"
#include "kn_avx2.h"

float kn_avx2_attn_dot(const float *q, const void *k, int64_t hd, bool f16);
void kn_avx2_attn_axpy(float *acc, float w, const void *v, int64_t hd, bool f16);
void kn_avx2_attn_exp(float *sc, float max, int64_t n, bool exp8);
float kn_avx2_attn_dot_exact(const float *q, const void *k, int64_t np, bool f16);
float kn_avx2_attn_dot_exact32(const float *q, const void *k, int64_t np, bool f16);

/* sc[i] = kn_ggml_expf(sc[i] - max) (AVX-512 build's exp) or kn_ggml_expf8
 * (AVX2 build's), n a multiple of 8 (bit-identical twins) */
void kn_avx2_attn_exp(float *sc, float max, int64_t n, bool exp8)
{
	const __m256 m = _mm256_set1_ps(max);

	for (int64_t i = 0; i + 8 <= n; i += 8) {
		const __m256 x = _mm256_sub_ps(_mm256_loadu_ps(sc + i), m);

		_mm256_storeu_ps(sc + i, exp8 ? kn_avx2_ggml_expf8(x) : kn_avx2_ggml_expf(x));
	}
}

static inline __m256 kn_attn_load(const void *p, int64_t i, bool f16)
{
	if (f16)
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
	return _mm256_loadu_ps((const float *)p + i);
}

static inline float kn_attn_elem(const void *p, int64_t i, bool f16)
{
	return f16 ? kn_avx2_h2f(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

float kn_avx2_attn_dot(const float *q, const void *k, int64_t hd, bool f16)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = s0;
	int64_t i = 0;
	float s;

	for (; i + 16 <= hd; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), kn_attn_load(k, i, f16), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), kn_attn_load(k, i + 8, f16), s1);
	}
	for (; i + 8 <= hd; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), kn_attn_load(k, i, f16), s0);
	s = kn_avx2_hsum_ps(_mm256_add_ps(s0, s1));
	for (; i < hd; i++)
		s += q[i] * kn_attn_elem(k, i, f16);
	return s;
}

void kn_avx2_attn_axpy(float *acc, float w, const void *v, int64_t hd, bool f16)
{
	const __m256 vw = _mm256_set1_ps(w);
	int64_t i = 0;

	for (; i + 8 <= hd; i += 8)
		_mm256_storeu_ps(acc + i, _mm256_fmadd_ps(vw, kn_attn_load(v, i, f16),
							  _mm256_loadu_ps(acc + i)));
	for (; i < hd; i++)
		acc[i] += w * kn_attn_elem(v, i, f16);
}

/*
 * ggml_vec_dot_f32's 4 x 16 lanes (AVX-512 build) over np (a multiple of 64),
 * reduced in registers as kn_attn.c's
 * kn_reduce64 does it (the 4 x 16 accumulators summed, then GCC's
 * _mm512_reduce_add_ps order): the same additions per lane
 */
float kn_avx2_attn_dot_exact(const float *q, const void *k, int64_t np, bool f16)
{
	__m256 s[8];

	for (int j = 0; j < 8; j++)
		s[j] = _mm256_setzero_ps();
	for (int64_t i = 0; i < np; i += 64)
		for (int j = 0; j < 8; j++)
			s[j] = _mm256_fmadd_ps(kn_attn_load(k, i + 8 * j, f16),
					       _mm256_loadu_ps(q + i + 8 * j), s[j]);

	const __m256 lo = _mm256_add_ps(_mm256_add_ps(s[0], s[4]), _mm256_add_ps(s[2], s[6]));
	const __m256 hi = _mm256_add_ps(_mm256_add_ps(s[1], s[5]), _mm256_add_ps(s[3], s[7]));
	const __m256 t8 = _mm256_add_ps(hi, lo);	/* t8[i] = v[8 + i] + v[i] */
	const __m128 t4 = _mm_add_ps(_mm256_extractf128_ps(t8, 1), _mm256_castps256_ps128(t8));
	const __m128 t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));	/* t4[0]+t4[2], t4[1]+t4[3] */

	return _mm_cvtss_f32(_mm_add_ss(t2, _mm_movehdup_ps(t2)));
}

/*
 * ggml_vec_dot_f32's 4 x 8 lanes (AVX2 build) over np (a multiple of 32),
 * reduced as that build's GGML_F32_VEC_REDUCE: the accumulators pairwise,
 * the two halves of the register, then two horizontal adds (kn_reduce32)
 */
float kn_avx2_attn_dot_exact32(const float *q, const void *k, int64_t np, bool f16)
{
	__m256 s[4];

	for (int j = 0; j < 4; j++)
		s[j] = _mm256_setzero_ps();
	for (int64_t i = 0; i < np; i += 32)
		for (int j = 0; j < 4; j++)
			s[j] = _mm256_fmadd_ps(kn_attn_load(k, i + 8 * j, f16),
					       _mm256_loadu_ps(q + i + 8 * j), s[j]);

	const __m256 x0 = _mm256_add_ps(_mm256_add_ps(s[0], s[2]), _mm256_add_ps(s[1], s[3]));
	const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(x0), _mm256_extractf128_ps(x0, 1));
	const __m128 t1 = _mm_hadd_ps(t0, t0);

	return _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
}

/* acc[i] = fma(v[i], p, acc[i]) over hd */
void kn_avx2_attn_fma_row(float *acc, float p, const void *v, int64_t hd, bool f16)
{
	const __m256 vp = _mm256_set1_ps(p);
	int64_t i = 0;

	for (; i + 8 <= hd; i += 8)
		_mm256_storeu_ps(acc + i, _mm256_fmadd_ps(kn_attn_load(v, i, f16), vp,
							  _mm256_loadu_ps(acc + i)));
	for (; i < hd; i++)
		acc[i] = fmaf(kn_attn_elem(v, i, f16), p, acc[i]);
}

/* y = f16(f32(y) * v) (ggml_vec_scale_f16; round to nearest even) */
void kn_avx2_attn_scale_f16(uint16_t *y, float v, int64_t n)
{
	const __m256 vv = _mm256_set1_ps(v);
	int64_t i = 0;

	for (; i + 8 <= n; i += 8) {
		const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));

		_mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_mul_ps(a, vv), 0));
	}
	for (; i < n; i++)
		y[i] = _cvtss_sh(_cvtsh_ss(y[i]) * v, 0);
}

/* y = f16(fma(f32(x), v, f32(y))) (ggml_vec_mad_f16 in an FMA build) */
void kn_avx2_attn_mad_f16(uint16_t *y, const uint16_t *x, float v, int64_t n)
{
	const __m256 vv = _mm256_set1_ps(v);
	int64_t i = 0;

	for (; i + 8 <= n; i += 8) {
		const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
		const __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));

		_mm_storeu_si128((__m128i *)(y + i),
				 _mm256_cvtps_ph(_mm256_fmadd_ps(b, vv, a), 0));
	}
	for (; i < n; i++)
		y[i] = _cvtss_sh(fmaf(_cvtsh_ss(x[i]), v, _cvtsh_ss(y[i])), 0);
}

/* kq[tk] = fma chain over hd of k_tk[i] * q[i] from 0 (simd_gemm's order for
 * one output), 8 rows at a time, one row per lane */
/* lanes j of c: element i + j of the 8 F16 rows r[0..7], as F32 (an 8 x 8 transpose) */
static inline void kn_avx2_t8_f16(const uint16_t *const *r, int64_t i, __m256 *c)
{
	__m128i a[8], t[8], u[8];

	for (int l = 0; l < 8; l++)
		a[l] = _mm_loadu_si128((const __m128i *)(r[l] + i));
	for (int l = 0; l < 8; l += 2) {
		t[l] = _mm_unpacklo_epi16(a[l], a[l + 1]);
		t[l + 1] = _mm_unpackhi_epi16(a[l], a[l + 1]);
	}
	for (int h = 0; h < 8; h += 4) {
		u[h] = _mm_unpacklo_epi32(t[h], t[h + 2]);
		u[h + 1] = _mm_unpackhi_epi32(t[h], t[h + 2]);
		u[h + 2] = _mm_unpacklo_epi32(t[h + 1], t[h + 3]);
		u[h + 3] = _mm_unpackhi_epi32(t[h + 1], t[h + 3]);
	}
	for (int k = 0; k < 4; k++) {
		c[2 * k] = _mm256_cvtph_ps(_mm_unpacklo_epi64(u[k], u[k + 4]));
		c[2 * k + 1] = _mm256_cvtph_ps(_mm_unpackhi_epi64(u[k], u[k + 4]));
	}
}

/*
 * 16 rows a pass as two groups of 8 lanes, their FMA chains interleaved (one
 * chain is latency-bound), the rows' F16 elements transposed 8 at a time;
 * each lane's chain is fma(k[i], q[i], acc) for i = 0.. in order, as before
 */
void kn_avx2_attn_kq_chain(float *kq, const float *q, const uint8_t *const *krows, int n,
			   int64_t hd)
{
	for (int t0 = 0; t0 < n; t0 += 16) {
		const uint16_t *r[16];
		__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
		float o[16];
		int64_t i = 0;

		for (int l = 0; l < 16; l++)
			r[l] = (const uint16_t *)krows[t0 + l < n ? t0 + l : t0];
		for (; i + 8 <= hd; i += 8) {
			__m256 c0[8], c1[8];

			kn_avx2_t8_f16(r, i, c0);
			kn_avx2_t8_f16(r + 8, i, c1);
			_Pragma("GCC unroll 8")
			for (int j = 0; j < 8; j++) {
				const __m256 qj = _mm256_set1_ps(q[i + j]);

				acc0 = _mm256_fmadd_ps(c0[j], qj, acc0);
				acc1 = _mm256_fmadd_ps(c1[j], qj, acc1);
			}
		}
		for (; i < hd; i++) {
			const __m128i h0 = _mm_setr_epi16((short)r[0][i], (short)r[1][i], (short)r[2][i],
							  (short)r[3][i], (short)r[4][i], (short)r[5][i],
							  (short)r[6][i], (short)r[7][i]);
			const __m128i h1 = _mm_setr_epi16((short)r[8][i], (short)r[9][i], (short)r[10][i],
							  (short)r[11][i], (short)r[12][i], (short)r[13][i],
							  (short)r[14][i], (short)r[15][i]);

			acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(h0), _mm256_set1_ps(q[i]), acc0);
			acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(h1), _mm256_set1_ps(q[i]), acc1);
		}
		_mm256_storeu_ps(o, acc0);
		_mm256_storeu_ps(o + 8, acc1);
		for (int l = 0; l < 16 && t0 + l < n; l++)
			kq[t0 + l] = o[l];
	}
}

/* W (8 or 16) lanes of FMA chains over hd (a multiple of W), F16 k */
void kn_avx2_attn_dot_lanes(float *lanes, const float *q, const uint16_t *k, int64_t hd, int W)
{
	__m256 a0 = _mm256_setzero_ps(), a1 = a0;

	for (int64_t i = 0; i < hd; i += W) {
		a0 = _mm256_fmadd_ps(kn_attn_load(k, i, true), _mm256_loadu_ps(q + i), a0);
		if (W == 16)
			a1 = _mm256_fmadd_ps(kn_attn_load(k, i + 8, true), _mm256_loadu_ps(q + i + 8),
					     a1);
	}
	_mm256_storeu_ps(lanes, a0);
	if (W == 16)
		_mm256_storeu_ps(lanes + 8, a1);
}
