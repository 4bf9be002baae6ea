// SPDX-License-Identifier: MIT
/*
 * AVX2+FMA dot products (same contract as kn_dot.c) and the AVX2 function
 * table. K-quant dots reduce each super-block to the same exact integers as
 * the scalar code and apply the scales identically, so they match it bit for
 * bit; the 32-block and float dots accumulate in vector lanes (tested by NMSE).
 */
#include <math.h>
#include "kn_avx2.h"

/* the scalar tails must round like kn_dot.c: no implicit FMA contraction */
#pragma GCC optimize("fp-contract=off")

/*
 * ggml_vec_dot_f32 of llama.cpp's AVX2 build: four 8-lane FMA chains over
 * 32-float steps, folded (0+2, 1+3, then 0+1), low + high half, two hadds;
 * the tail as GCC compiled its scalar loop there: 8, then 4 products rounded
 * before their in-order sum, the last 0-3 fused (checked against the build's
 * own libggml-cpu.so for n = 1..520).
 */
static float kn_avx2_dot_f32(int64_t n, const void *vw, const void *va)
{
	const float *w = vw, *a = va;
	const int64_t np = n & ~(int64_t)31;
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	__m128 t;
	float sum;
	int64_t i;

	for (i = 0; i < np; i += 32) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(a + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(a + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(a + i + 24), s3);
	}
	s0 = _mm256_add_ps(_mm256_add_ps(s0, s2), _mm256_add_ps(s1, s3));
	t = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
	t = _mm_hadd_ps(t, t);
	sum = _mm_cvtss_f32(_mm_hadd_ps(t, t));
	for (; n - i >= 8; i += 8)
		for (int l = 0; l < 8; l++)
			sum += w[i + l] * a[i + l];
	if (n - i >= 4) {
		for (int l = 0; l < 4; l++)
			sum += w[i + l] * a[i + l];
		i += 4;
	}
	for (; i < n; i++)
		sum = fmaf(w[i], a[i], sum);
	return sum;
}

/*
 * llamafile's tinyBLAS (llama.cpp's F32 x F32 matmul of two or more columns,
 * AVX2 build): one 8-lane FMA chain per output over the whole row, then the
 * register's horizontal sum (high + low half, then pairs). Callers check
 * kn_sgemm_applies(): n a multiple of 8.
 */
static void kn_avx2_sgemm_f32(int64_t n, const float *w, const float *a, size_t astride,
			      int ncols, float *out)
{
	__m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
			  _mm256_setzero_ps() };

	for (int64_t i = 0; i < n; i += 8) {
		const __m256 x = _mm256_loadu_ps(w + i);

		for (int c = 0; c < ncols; c++)
			acc[c] = _mm256_fmadd_ps(x, _mm256_loadu_ps(a + c * astride + i), acc[c]);
	}
	for (int c = 0; c < ncols; c++)
		out[c] = kn_avx2_hsum_ps(acc[c]);
}

kn_sgemm_fn kn_avx2_sgemm_get(void)
{
	return kn_avx2_sgemm_f32;
}

static inline __m256 kn_avx2_load_f16(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static inline __m256 kn_avx2_load_bf16(const uint16_t *p)
{
	__m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));

	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static float kn_avx2_dot_f16(int64_t n, const void *vw, const void *va)
{
	const uint16_t *w = vw, *a = va;
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	int64_t i = 0;
	float sum;

	for (; i + 32 <= n; i += 32) {
		s0 = _mm256_fmadd_ps(kn_avx2_load_f16(w + i), kn_avx2_load_f16(a + i), s0);
		s1 = _mm256_fmadd_ps(kn_avx2_load_f16(w + i + 8), kn_avx2_load_f16(a + i + 8), s1);
		s2 = _mm256_fmadd_ps(kn_avx2_load_f16(w + i + 16), kn_avx2_load_f16(a + i + 16), s2);
		s3 = _mm256_fmadd_ps(kn_avx2_load_f16(w + i + 24), kn_avx2_load_f16(a + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(kn_avx2_load_f16(w + i), kn_avx2_load_f16(a + i), s0);
	sum = kn_avx2_hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
	for (; i < n; i++)
		sum += kn_avx2_h2f(w[i]) * kn_avx2_h2f(a[i]);
	return sum;
}

static float kn_avx2_dot_bf16(int64_t n, const void *vw, const void *va)
{
	const uint16_t *w = vw, *a = va;
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	int64_t i = 0;
	float sum;

	for (; i + 32 <= n; i += 32) {
		s0 = _mm256_fmadd_ps(kn_avx2_load_bf16(w + i), kn_avx2_load_bf16(a + i), s0);
		s1 = _mm256_fmadd_ps(kn_avx2_load_bf16(w + i + 8), kn_avx2_load_bf16(a + i + 8), s1);
		s2 = _mm256_fmadd_ps(kn_avx2_load_bf16(w + i + 16), kn_avx2_load_bf16(a + i + 16), s2);
		s3 = _mm256_fmadd_ps(kn_avx2_load_bf16(w + i + 24), kn_avx2_load_bf16(a + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(kn_avx2_load_bf16(w + i), kn_avx2_load_bf16(a + i), s0);
	sum = kn_avx2_hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
	for (; i < n; i++)
		sum += kn_bf16_to_fp32(w[i]) * kn_bf16_to_fp32(a[i]);
	return sum;
}

static float kn_avx2_dot_q4_0(int64_t n, const void *vw, const void *va)
{
	const kn_block_q4_0 *w = vw;
	const kn_block_q8_0 *a = va;
	const __m256i off = _mm256_set1_epi8(8);
	__m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
	int64_t nb = n / KN_QK4_0, i = 0;

	for (; i + 2 <= nb; i += 2) {
		__m256i x0 = _mm256_sub_epi8(kn_avx2_nibbles(w[i].qs), off);
		__m256i x1 = _mm256_sub_epi8(kn_avx2_nibbles(w[i + 1].qs), off);
		__m256i y0 = _mm256_loadu_si256((const __m256i *)a[i].qs);
		__m256i y1 = _mm256_loadu_si256((const __m256i *)a[i + 1].qs);
		__m256 d0 = _mm256_set1_ps(kn_avx2_h2f(w[i].d) * kn_avx2_h2f(a[i].d));
		__m256 d1 = _mm256_set1_ps(kn_avx2_h2f(w[i + 1].d) * kn_avx2_h2f(a[i + 1].d));

		acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(kn_avx2_dot_s8(x0, y0)), acc0);
		acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(kn_avx2_dot_s8(x1, y1)), acc1);
	}
	for (; i < nb; i++) {
		__m256i x0 = _mm256_sub_epi8(kn_avx2_nibbles(w[i].qs), off);
		__m256i y0 = _mm256_loadu_si256((const __m256i *)a[i].qs);
		__m256 d0 = _mm256_set1_ps(kn_avx2_h2f(w[i].d) * kn_avx2_h2f(a[i].d));

		acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(kn_avx2_dot_s8(x0, y0)), acc0);
	}
	return kn_avx2_hsum_ps(_mm256_add_ps(acc0, acc1));
}

/*
 * Q4_1 and Q8_0 keep llama.cpp's x86 order exactly (one vector accumulator,
 * blocks in sequence, fmadd per block; Q4_1's min term fused as its GCC
 * build contracts it), so outputs match its CPU backend bit for bit.
 */
static float kn_avx2_dot_q4_1(int64_t n, const void *vw, const void *va)
{
	const kn_block_q4_1 *w = vw;
	const kn_block_q8_1 *a = va;
	__m256 acc = _mm256_setzero_ps();
	float summs = 0;

	for (int64_t i = 0; i < n / KN_QK4_1; i++) {
		const __m256 d = _mm256_set1_ps(kn_avx2_h2f(w[i].d) * kn_avx2_h2f(a[i].d));
		const __m256i x = kn_avx2_nibbles(w[i].qs);
		const __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);

		summs = fmaf(kn_avx2_h2f(w[i].m), kn_avx2_h2f(a[i].s), summs);
		acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(kn_avx2_dot_us8(x, y)), acc);
	}
	return kn_avx2_hsum_ps(acc) + summs;
}

static float kn_avx2_dot_q8_0(int64_t n, const void *vw, const void *va)
{
	const kn_block_q8_0 *w = vw;
	const kn_block_q8_0 *a = va;
	__m256 acc = _mm256_setzero_ps();

	for (int64_t i = 0; i < n / KN_QK8_0; i++) {
		const __m256 d = _mm256_set1_ps(kn_avx2_h2f(w[i].d) * kn_avx2_h2f(a[i].d));
		const __m256i x = _mm256_loadu_si256((const __m256i *)w[i].qs);
		const __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);

		acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(kn_avx2_dot_s8(x, y)), acc);
	}
	return kn_avx2_hsum_ps(acc);
}

/*
 * K-quants as ggml-cpu's x86 AVX2 vec_dots: per super-block an 8-lane
 * integer sum, scaled into an 8-lane float accumulator (fmadd), reduced by
 * hsum at the end; Q4_K's mins in a 4-lane accumulator, Q5_K's in a fused
 * scalar. Identical to the scalar kn_dot.c versions.
 */
static float kn_avx2_dot_q4_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q4_K *w = vw;
	const kn_block_q8_K *a = va;
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	__m256 acc = _mm256_setzero_ps();
	__m128 accm = _mm_setzero_ps();

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const float d = a[i].d * kn_avx2_h2f(w[i].d);
		const float dmin = -a[i].d * kn_avx2_h2f(w[i].dmin);
		uint8_t sc[8], m[8];
		__m256i sumi = _mm256_setzero_si256();

		for (int j = 0; j < 8; j++)
			kn_get_scale_min_k4(j, w[i].scales, &sc[j], &m[j]);
		accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(kn_avx2_mins_prod(m, a[i].bsums)),
				    accm);
		for (int j = 0; j < 4; j++) {
			__m256i q4 = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * j));
			__m256i q4l = _mm256_and_si256(q4, m4);
			__m256i q4h = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
			__m256i q8l = _mm256_loadu_si256((const __m256i *)(a[i].qs + 64 * j));
			__m256i q8h = _mm256_loadu_si256((const __m256i *)(a[i].qs + 64 * j + 32));
			__m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(q4l, q8l),
						       _mm256_set1_epi16(sc[2 * j]));
			__m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(q4h, q8h),
						       _mm256_set1_epi16(sc[2 * j + 1]));

			sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
	}
	accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
	accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
	return kn_avx2_hsum_ps(acc) + _mm_cvtss_f32(accm);
}

static float kn_avx2_dot_q5_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q5_K *w = vw;
	const kn_block_q8_K *a = va;
	__m256 acc = _mm256_setzero_ps();
	float summs = 0;

	for (int64_t i = 0; i < n / KN_QK_K; i++)
		acc = kn_avx2_q5_K_step(&w[i], &a[i], acc, &summs);
	return kn_avx2_hsum_ps(acc) + summs;
}

static float kn_avx2_dot_q6_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q6_K *w = vw;
	const kn_block_q8_K *a = va;
	__m256 acc = _mm256_setzero_ps();

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const float d = a[i].d * kn_avx2_h2f(w[i].d);
		const __m256i sumi = kn_avx2_q6_K_isum(&w[i], &a[i]);

		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
	}
	return kn_avx2_hsum_ps(acc);
}

/* quantize/dequantize kernels live in kn_quant_avx2.c */
void kn_avx2_quant_f16(const float *x, void *y, int64_t n);
void kn_avx2_dequant_f16(const void *x, float *y, int64_t n);
void kn_avx2_quant_bf16(const float *x, void *y, int64_t n);
void kn_avx2_dequant_bf16(const void *x, float *y, int64_t n);
void kn_avx2_quant_q8_0(const float *x, void *y, int64_t n);
void kn_avx2_quant_q8_1(const float *x, void *y, int64_t n);
void kn_avx2_act_q8_0(const float *x, void *y, int64_t n);
void kn_avx2_act_q8_1(const float *x, void *y, int64_t n);
void kn_avx2_quant_q8_K(const float *x, void *y, int64_t n);
void kn_avx2_dequant_q4_0(const void *x, float *y, int64_t n);
void kn_avx2_dequant_q8_0(const void *x, float *y, int64_t n);

void kn_avx2_dot4_q4_0(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx2_dot4_q4_1(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx2_dot8_q4_1(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx2_dot4_q8_0(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx2_dot4_q4_K(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx2_dot4_q6_K(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx2_rows4_q4_0(int64_t n, const void *w, size_t ws, const void *a, float *out);
void kn_avx2_rows4_q8_0(int64_t n, const void *w, size_t ws, const void *a, float *out);
void kn_avx2_rows4_q4_1(int64_t n, const void *w, size_t ws, const void *a, float *out);
void kn_avx2_rows4_q4_K(int64_t n, const void *w, size_t ws, const void *a, float *out);

static const struct kn_type_fns kn_avx2_fns[KN_TYPE_MAX] = {
	[KN_F32]  = { NULL, NULL, kn_avx2_dot_f32 },
	[KN_F16]  = { kn_avx2_quant_f16, kn_avx2_dequant_f16, kn_avx2_dot_f16 },
	[KN_BF16] = { kn_avx2_quant_bf16, kn_avx2_dequant_bf16, kn_avx2_dot_bf16 },
	[KN_Q4_0] = { NULL, kn_avx2_dequant_q4_0, kn_avx2_dot_q4_0, NULL, kn_avx2_dot4_q4_0,
		      kn_avx2_rows4_q4_0 },
	[KN_Q4_1] = { NULL, NULL, kn_avx2_dot_q4_1, NULL, kn_avx2_dot4_q4_1, kn_avx2_rows4_q4_1,
		      kn_avx2_dot8_q4_1 },
	[KN_Q8_0] = { kn_avx2_quant_q8_0, kn_avx2_dequant_q8_0, kn_avx2_dot_q8_0, kn_avx2_act_q8_0,
		      kn_avx2_dot4_q8_0, kn_avx2_rows4_q8_0 },
	[KN_Q8_1] = { kn_avx2_quant_q8_1, NULL, NULL, kn_avx2_act_q8_1 },
	[KN_Q4_K] = { NULL, NULL, kn_avx2_dot_q4_K, NULL, kn_avx2_dot4_q4_K, kn_avx2_rows4_q4_K },
	[KN_Q5_K] = { NULL, NULL, kn_avx2_dot_q5_K, NULL, NULL, NULL },
	[KN_Q6_K] = { NULL, NULL, kn_avx2_dot_q6_K, NULL, kn_avx2_dot4_q6_K },
	[KN_Q8_K] = { kn_avx2_quant_q8_K, NULL, NULL },
};

const struct kn_type_fns *kn_avx2_fns_get(void)
{
	return kn_avx2_fns;
}
