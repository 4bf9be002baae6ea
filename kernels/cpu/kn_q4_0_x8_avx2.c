// SPDX-License-Identifier: MIT
/*
 * Q4_0 . Q8_0 in the order llama.cpp's x86 builds (AVX2 and AVX-512) use for
 * every Q4_0 matrix whose row count is a multiple of 8: they repack it to
 * 8x8 interleaved blocks at load (CPU_REPACK) and ggml_gemv/gemm_q4_0_8x8_q8_0
 * compute each output as acc = fma(isum_b, d_w * d_a, acc) over the blocks
 * b in order, isum_b the block's exact integer dot, with no final reduction
 * (kn_ref_dot_q4_0_x8 is the scalar statement). Here the weights stay in
 * GGUF layout; each output's integer sums are formed in 8 lanes and folded
 * (exactly) across lanes, 4 or 8 outputs at a time, so one vector fma
 * advances 4 or 8 outputs per block. Bit-identical to the reference.
 */
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

const struct kn_type_fns *kn_avx2_q4_0_x8_fns(void);

#define KN_PF_DIST	4
#define KN_AT(T, base, stride, k) ((const T *)((const uint8_t *)(base) + (size_t)(k) * (stride)))

/* the totals of 4 int32 vectors' lanes, in one register (exact) */
static inline __m128i kn_avx2_fold4(__m256i v0, __m256i v1, __m256i v2, __m256i v3)
{
	const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3));

	return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* (x - 8) . y of one block's 32 weights x (nibbles) and activations y: 8 lanes */
static inline __m256i kn_avx2_q4_0_isum(const uint8_t *qs, __m256i y)
{
	const __m256i x = _mm256_sub_epi8(kn_avx2_nibbles(qs), _mm256_set1_epi8(8));

	return kn_avx2_dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

static float kn_avx2_dot_q4_0_x8(int64_t n, const void *vw, const void *va)
{
	const kn_block_q4_0 *w = vw;
	const kn_block_q8_0 *a = va;
	__m128 acc = _mm_setzero_ps();

	for (int64_t i = 0; i < n / KN_QK4_0; i++) {
		const __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);
		const float d = kn_avx2_h2f(w[i].d) * kn_avx2_h2f(a[i].d);
		const int isum = kn_avx2_hsum_epi32(kn_avx2_q4_0_isum(w[i].qs, y));

		acc = _mm_fmadd_ss(_mm_cvtsi32_ss(_mm_setzero_ps(), isum), _mm_set_ss(d), acc);
	}
	return _mm_cvtss_f32(acc);
}

/* decode: 4 rows, the activation block and its sum loaded once */
static void kn_avx2_rows4_q4_0_x8(int64_t n, const void *vw, size_t ws, const void *va,
				  float *out)
{
	const kn_block_q8_0 *a = va;
	const __m256i ones = _mm256_set1_epi8(1);
	__m128 acc = _mm_setzero_ps();

	for (int64_t i = 0; i < n / KN_QK4_0; i++) {
		const __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);
		const __m256i s8 = _mm256_slli_epi32(kn_avx2_dot_us8(ones, y), 3);
		const kn_block_q4_0 *x0 = KN_AT(kn_block_q4_0, vw, ws, 0) + i;
		const kn_block_q4_0 *x1 = KN_AT(kn_block_q4_0, vw, ws, 1) + i;
		const kn_block_q4_0 *x2 = KN_AT(kn_block_q4_0, vw, ws, 2) + i;
		const kn_block_q4_0 *x3 = KN_AT(kn_block_q4_0, vw, ws, 3) + i;
		/* the 4 rows' d in one conversion */
		const __m128 d = _mm_mul_ps(_mm_cvtph_ps(_mm_setr_epi16((short)x0->d, (short)x1->d,
				(short)x2->d, (short)x3->d, 0, 0, 0, 0)), _mm_set1_ps(kn_avx2_h2f(a[i].d)));
		const __m128i t = kn_avx2_fold4(
			_mm256_sub_epi32(kn_avx2_dot_us8(kn_avx2_nibbles(x0->qs), y), s8),
			_mm256_sub_epi32(kn_avx2_dot_us8(kn_avx2_nibbles(x1->qs), y), s8),
			_mm256_sub_epi32(kn_avx2_dot_us8(kn_avx2_nibbles(x2->qs), y), s8),
			_mm256_sub_epi32(kn_avx2_dot_us8(kn_avx2_nibbles(x3->qs), y), s8));

		if (!(i & 3))
			for (int r = 0; r < 4; r++)
				_mm_prefetch((const char *)(KN_AT(kn_block_q4_0, vw, ws, r + KN_PF_DIST) + i),
					     _MM_HINT_T0);
		acc = _mm_fmadd_ps(_mm_cvtepi32_ps(t), d, acc);
	}
	_mm_storeu_ps(out, acc);
}

/* prefill: one row, NC (4 or 8) columns; the weight block unpacked once */
static inline __attribute__((always_inline)) void
kn_avx2_cols_q4_0_x8(const int NC, int64_t n, const void *vw, const void *va, size_t as,
		     float *out)
{
	const kn_block_q4_0 *w = vw;
	__m128 acc[2] = { _mm_setzero_ps(), _mm_setzero_ps() };

	for (int64_t i = 0; i < n / KN_QK4_0; i++) {
		const __m256i x = _mm256_sub_epi8(kn_avx2_nibbles(w[i].qs), _mm256_set1_epi8(8));
		const __m256i ax = _mm256_sign_epi8(x, x);
		const float dw = kn_avx2_h2f(w[i].d);
		__m256i v[8];
		float da[8];

		_Pragma("GCC unroll 8")
		for (int c = 0; c < NC; c++) {
			const kn_block_q8_0 *y = KN_AT(kn_block_q8_0, va, as, c) + i;

			v[c] = kn_avx2_dot_us8(ax, _mm256_sign_epi8(
				_mm256_loadu_si256((const __m256i *)y->qs), x));
			da[c] = kn_avx2_h2f(y->d);
		}
		_Pragma("GCC unroll 2")
		for (int g = 0; g < NC / 4; g++) {
			const __m128 d = _mm_mul_ps(_mm_set1_ps(dw), _mm_loadu_ps(da + 4 * g));
			const __m128i t = kn_avx2_fold4(v[4 * g], v[4 * g + 1], v[4 * g + 2],
							v[4 * g + 3]);

			acc[g] = _mm_fmadd_ps(_mm_cvtepi32_ps(t), d, acc[g]);
		}
	}
	_Pragma("GCC unroll 2")
	for (int g = 0; g < NC / 4; g++)
		_mm_storeu_ps(out + 4 * g, acc[g]);
}

static void kn_avx2_dot4_q4_0_x8(int64_t n, const void *vw, const void *va, size_t as,
				 float *out)
{
	kn_avx2_cols_q4_0_x8(4, n, vw, va, as, out);
}

static void kn_avx2_dot8_q4_0_x8(int64_t n, const void *vw, const void *va, size_t as,
				 float *out)
{
	kn_avx2_cols_q4_0_x8(8, n, vw, va, as, out);
}

static const struct kn_type_fns kn_avx2_q4_0_x8 = {
	.dot = kn_avx2_dot_q4_0_x8,
	.dot4 = kn_avx2_dot4_q4_0_x8,
	.rows4 = kn_avx2_rows4_q4_0_x8,
	.dot8 = kn_avx2_dot8_q4_0_x8,
};

const struct kn_type_fns *kn_avx2_q4_0_x8_fns(void)
{
	return &kn_avx2_q4_0_x8;
}
