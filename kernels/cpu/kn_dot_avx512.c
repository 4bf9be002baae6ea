// SPDX-License-Identifier: MIT
/*
 * AVX-512 (F/BW/VL + VNNI) dots for Q4_1.Q8_1 and Q8_0.Q8_0, one column and
 * four: two blocks' integer dots in one 512-bit vpdpbusd (exact, as ggml's
 * VNNI build computes them), block scales converted 16 at a time, then the
 * per-block fmadds into one 8-lane accumulator in block order, so results
 * are bit-identical to kn_dot_avx2.c / kn_dot.c and to llama.cpp's x86 build.
 */
#include <math.h>
#include <immintrin.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

const struct kn_type_fns *kn_avx512_fns_get(void);

/* the K-quants' (kn_dot_k_avx512.c) */
float kn_avx512_dot_q4_K(int64_t n, const void *w, const void *a);
void kn_avx512_dot4_q4_K(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx512_dot8_q4_K(int64_t n, const void *w, const void *a, size_t as, float *out);
float kn_avx512_dot_q6_K(int64_t n, const void *w, const void *a);
void kn_avx512_dot4_q6_K(int64_t n, const void *w, const void *a, size_t as, float *out);
void kn_avx512_dot8_q6_K(int64_t n, const void *w, const void *a, size_t as, float *out);

#define KN_CHUNK	16	/* blocks whose scales are converted at once */

/* fp16 header fields of up to 16 blocks @stride bytes apart: lo/hi 16 bits of the first word */
static inline __m512i kn_avx512_hdr(const void *base, int stride, int nbk)
{
	const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8,
								 7, 6, 5, 4, 3, 2, 1, 0),
					       _mm512_set1_epi32(stride));
	const __mmask16 k = nbk >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nbk) - 1);

	return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), k, idx, base, 1);
}

static inline __m512 kn_avx512_lo_h2f(__m512i h)
{
	return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h));
}

static inline __m512 kn_avx512_hi_h2f(__m512i h)
{
	return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(h, 16)));
}

/* the 32 nibble bytes of two Q4 blocks: [lo0 hi0 | lo1 hi1] */
static inline __m512i kn_avx512_nibbles2(const uint8_t *p0, const uint8_t *p1)
{
	const __m128i t0 = _mm_loadu_si128((const __m128i *)p0);
	const __m128i t1 = _mm_loadu_si128((const __m128i *)p1);
	__m512i z = _mm512_castsi128_si512(t0);

	z = _mm512_inserti32x4(z, _mm_srli_epi16(t0, 4), 1);
	z = _mm512_inserti32x4(z, t1, 2);
	z = _mm512_inserti32x4(z, _mm_srli_epi16(t1, 4), 3);
	return _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
}

static inline __m512i kn_avx512_load2(const void *p0, const void *p1)
{
	return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p0)),
				  _mm256_loadu_si256((const __m256i *)p1), 1);
}

/* 256-bit VNNI: unsigned x signed bytes -> 8 int32 sums of 4 (same lanes as kn_avx2_dot_us8) */
static inline __m256i kn_avx512_dot_us8(__m256i ux, __m256i sy)
{
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), ux, sy);
}

/* acc += d[0] * lanes 0..7 of p; acc += d[1] * lanes 8..15, in that order */
static inline __m256 kn_avx512_fma2(__m512i p, const float *d, __m256 acc)
{
	const __m512 f = _mm512_cvtepi32_ps(p);

	acc = _mm256_fmadd_ps(_mm256_broadcast_ss(d), _mm512_castps512_ps256(f), acc);
	return _mm256_fmadd_ps(_mm256_broadcast_ss(d + 1), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)), acc);
}

static float kn_avx512_dot_q4_1(int64_t n, const void *vw, const void *va)
{
	const kn_block_q4_1 *w = vw;
	const kn_block_q8_1 *a = va;
	const int64_t nb = n / KN_QK4_1;
	__m256 acc = _mm256_setzero_ps();
	float summs = 0;
	float dd[KN_CHUNK] __attribute__((aligned(64)));
	float mv[KN_CHUNK] __attribute__((aligned(64)));
	float sv[KN_CHUNK] __attribute__((aligned(64)));

	for (int64_t i0 = 0; i0 < nb; i0 += KN_CHUNK) {
		const int nbk = nb - i0 < KN_CHUNK ? (int)(nb - i0) : KN_CHUNK;
		const __m512i hw = kn_avx512_hdr(w + i0, sizeof(*w), nbk);
		const __m512i ha = kn_avx512_hdr(a + i0, sizeof(*a), nbk);
		int j = 0;

		_mm512_store_ps(dd, _mm512_mul_ps(kn_avx512_lo_h2f(hw), kn_avx512_lo_h2f(ha)));
		_mm512_store_ps(mv, kn_avx512_hi_h2f(hw));
		_mm512_store_ps(sv, kn_avx512_hi_h2f(ha));
		for (int k = 0; k < nbk; k++)	/* the min terms, fused, in block order */
			summs = fmaf(mv[k], sv[k], summs);
		for (; j + 2 <= nbk; j += 2) {
			const kn_block_q4_1 *x = w + i0 + j;
			const kn_block_q8_1 *y = a + i0 + j;
			const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(),
							      kn_avx512_nibbles2(x[0].qs, x[1].qs),
							      kn_avx512_load2(y[0].qs, y[1].qs));

			acc = kn_avx512_fma2(p, dd + j, acc);
		}
		if (j < nbk) {
			const kn_block_q4_1 *x = w + i0 + j;
			const kn_block_q8_1 *y = a + i0 + j;
			const __m256i p = kn_avx512_dot_us8(kn_avx2_nibbles(x->qs),
							    _mm256_loadu_si256((const __m256i *)y->qs));

			acc = _mm256_fmadd_ps(_mm256_broadcast_ss(dd + j), _mm256_cvtepi32_ps(p), acc);
		}
	}
	return kn_avx2_hsum_ps(acc) + summs;
}

/*
 * decode: 4 rows of kn_avx512_dot_q4_1 at once, bit-identical: a row's 8
 * float lanes live as 4 lanes of one zmm (elements 0..15 of each block)
 * and 4 of another (16..31), a 128-bit lane per row, so one block of all 4
 * rows is one load of their nibbles, two vpdpbusd against the activation's
 * halves broadcast to every lane, two conversions and two fmadds (each
 * lane its own chain, in block order). The rows' block headers are
 * gathered 4 blocks x 4 rows a vector (lane 4k + r), so block k's 4 mins
 * are one xmm and the min chains one fmadd per block; the rows 4 ahead
 * are prefetched (decode streams W once). At the end, lane l of a row is
 * hi + lo as hsum_float_8's first step adds them.
 */
static void kn_avx512_rows4_q4_1(int64_t n, const void *vw, size_t ws, const void *va,
				 float *out)
{
	const kn_block_q8_1 *a = va;
	const kn_block_q4_1 *w = vw;
	const int64_t nb = n / KN_QK4_1;
	const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
	const __m512i quad = _mm512_srli_epi32(lane, 2);	/* lane / 4: the row */
	const __m512i m4 = _mm512_set1_epi8(0x0F);
	/* lane 4k + r: block k of row r */
	const __m512i idx = _mm512_add_epi32(
		_mm512_mullo_epi32(quad, _mm512_set1_epi32(sizeof(*w))),
		_mm512_mullo_epi32(_mm512_and_si512(lane, _mm512_set1_epi32(3)),
				   _mm512_set1_epi32((int)ws)));
	__m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
	__m128 summs = _mm_setzero_ps();
	float dd[4 * KN_CHUNK] __attribute__((aligned(64)));
	float mv[4 * KN_CHUNK] __attribute__((aligned(64)));
	float sv[KN_CHUNK] __attribute__((aligned(64)));
	float vl[16], vh[16], r4[4];

	for (int64_t i0 = 0; i0 < nb; i0 += KN_CHUNK) {
		const int nbk = nb - i0 < KN_CHUNK ? (int)(nb - i0) : KN_CHUNK;
		const __m512i ha = kn_avx512_hdr(a + i0, sizeof(*a), nbk);
		const __m512 da = kn_avx512_lo_h2f(ha);

		_mm512_store_ps(sv, kn_avx512_hi_h2f(ha));
		for (int g = 0; 4 * g < nbk; g++) {
			const int kk = nbk - 4 * g < 4 ? nbk - 4 * g : 4;
			const __mmask16 m = (__mmask16)((1u << (4 * kk)) - 1);
			const __m512i hw = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx,
								       w + i0 + 4 * g, 1);
			/* block 4g + k's activation scale in lanes 4k..4k + 3 */
			const __m512 dak = _mm512_permutexvar_ps(
				_mm512_add_epi32(quad, _mm512_set1_epi32(4 * g)), da);

			_mm512_store_ps(dd + 16 * g, _mm512_mul_ps(kn_avx512_lo_h2f(hw), dak));
			_mm512_store_ps(mv + 16 * g, kn_avx512_hi_h2f(hw));
		}
		for (int j = 0; j < nbk; j++) {
			const uint8_t *x = w[i0 + j].qs;
			const kn_block_q8_1 *y = a + i0 + j;
			/* row r's scale product in lanes 4r..4r + 3 */
			const __m512 d = _mm512_permutexvar_ps(quad, _mm512_castps128_ps512(
				_mm_load_ps(dd + 4 * j)));
			__m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)x));

			z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(x + ws)), 1);
			z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(x + 2 * ws)), 2);
			z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(x + 3 * ws)), 3);
			if (!(j & 1))
				for (int r = 0; r < 4; r++)
					_mm_prefetch((const char *)x + (4 + r) * ws, _MM_HINT_T0);
			/* the min terms, fused, in block order */
			summs = _mm_fmadd_ps(_mm_load_ps(mv + 4 * j), _mm_set1_ps(sv[j]), summs);
			lo = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(
				_mm512_setzero_si512(), _mm512_and_si512(z, m4),
				_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)y->qs)))), lo);
			hi = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(
				_mm512_setzero_si512(), _mm512_and_si512(_mm512_srli_epi16(z, 4), m4),
				_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(y->qs + 16))))),
				hi);
		}
	}
	_mm512_storeu_ps(vl, lo);
	_mm512_storeu_ps(vh, hi);
	_mm_storeu_ps(r4, summs);
	for (int r = 0; r < 4; r++) {
		const float *l = vl + 4 * r, *h = vh + 4 * r;
		const float t0 = h[0] + l[0], t1 = h[1] + l[1], t2 = h[2] + l[2], t3 = h[3] + l[3];

		out[r] = ((t0 + t2) + (t1 + t3)) + r4[r];
	}
}

/* |x| and y with x's sign, for signed x signed bytes through vpdpbusd */
static inline __m512i kn_avx512_dot_s8(__m512i x, __m512i y)
{
	const __mmask64 neg = _mm512_movepi8_mask(x);

	return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(x),
				   _mm512_mask_sub_epi8(y, neg, _mm512_setzero_si512(), y));
}

static inline __m256i kn_avx512_dot_s8_256(__m256i x, __m256i y)
{
	return kn_avx512_dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

static float kn_avx512_dot_q8_0(int64_t n, const void *vw, const void *va)
{
	const kn_block_q8_0 *w = vw;
	const kn_block_q8_0 *a = va;
	const int64_t nb = n / KN_QK8_0;
	__m256 acc = _mm256_setzero_ps();
	float dd[KN_CHUNK] __attribute__((aligned(64)));

	for (int64_t i0 = 0; i0 < nb; i0 += KN_CHUNK) {
		const int nbk = nb - i0 < KN_CHUNK ? (int)(nb - i0) : KN_CHUNK;
		const __m512i hw = kn_avx512_hdr(w + i0, sizeof(*w), nbk);
		const __m512i ha = kn_avx512_hdr(a + i0, sizeof(*a), nbk);
		int j = 0;

		_mm512_store_ps(dd, _mm512_mul_ps(kn_avx512_lo_h2f(hw), kn_avx512_lo_h2f(ha)));
		for (; j + 2 <= nbk; j += 2) {
			const kn_block_q8_0 *x = w + i0 + j;
			const kn_block_q8_0 *y = a + i0 + j;
			const __m512i p = kn_avx512_dot_s8(kn_avx512_load2(x[0].qs, x[1].qs),
							   kn_avx512_load2(y[0].qs, y[1].qs));

			acc = kn_avx512_fma2(p, dd + j, acc);
		}
		if (j < nbk) {
			const kn_block_q8_0 *x = w + i0 + j;
			const kn_block_q8_0 *y = a + i0 + j;
			const __m256i p = kn_avx512_dot_s8_256(_mm256_loadu_si256((const __m256i *)x->qs),
							       _mm256_loadu_si256((const __m256i *)y->qs));

			acc = _mm256_fmadd_ps(_mm256_broadcast_ss(dd + j), _mm256_cvtepi32_ps(p), acc);
		}
	}
	return kn_avx2_hsum_ps(acc);
}

#define KN_COL(T, a, as, c) ((const T *)((const uint8_t *)(a) + (size_t)(c) * (as)))

/*
 * KN_NC columns (4 or 8): the weight pair is unpacked once; each column as
 * kn_avx512_dot_q4_1. The min terms' fused chains (block order) run inside
 * the block loop so their latency hides under the vector work.
 */
static inline __attribute__((always_inline)) void
kn_avx512_dotn_q4_1(const int NC, int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	const kn_block_q4_1 *w = vw;
	const kn_block_q8_1 *a[8];
	const int64_t nb = n / KN_QK4_1;
	__m256 acc[8];
	float sm[8];
	float dd[8][KN_CHUNK] __attribute__((aligned(64)));
	float mv[KN_CHUNK] __attribute__((aligned(64)));
	float sv[8][KN_CHUNK] __attribute__((aligned(64)));

	_Pragma("GCC unroll 8")
	for (int c = 0; c < NC; c++) {
		a[c] = KN_COL(kn_block_q8_1, va, as, c);
		acc[c] = _mm256_setzero_ps();
		sm[c] = 0;
	}
	for (int64_t i0 = 0; i0 < nb; i0 += KN_CHUNK) {
		const int nbk = nb - i0 < KN_CHUNK ? (int)(nb - i0) : KN_CHUNK;
		const __m512i hw = kn_avx512_hdr(w + i0, sizeof(*w), nbk);
		const __m512 wd = kn_avx512_lo_h2f(hw);
		int j = 0;

		_mm512_store_ps(mv, kn_avx512_hi_h2f(hw));
		for (int c = 0; c < NC; c++) {
			const __m512i ha = kn_avx512_hdr(a[c] + i0, sizeof(*a[c]), nbk);

			_mm512_store_ps(dd[c], _mm512_mul_ps(wd, kn_avx512_lo_h2f(ha)));
			_mm512_store_ps(sv[c], kn_avx512_hi_h2f(ha));
		}
		for (; j + 2 <= nbk; j += 2) {
			const kn_block_q4_1 *x = w + i0 + j;
			const __m512i q = kn_avx512_nibbles2(x[0].qs, x[1].qs);

			_Pragma("GCC unroll 8")
			for (int c = 0; c < NC; c++) {
				const kn_block_q8_1 *y = a[c] + i0 + j;
				const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q,
								      kn_avx512_load2(y[0].qs, y[1].qs));

				acc[c] = kn_avx512_fma2(p, dd[c] + j, acc[c]);
				sm[c] = fmaf(mv[j + 1], sv[c][j + 1], fmaf(mv[j], sv[c][j], sm[c]));
			}
		}
		if (j < nbk) {
			const __m256i q = kn_avx2_nibbles(w[i0 + j].qs);

			_Pragma("GCC unroll 8")
			for (int c = 0; c < NC; c++) {
				const __m256i p = kn_avx512_dot_us8(q,
					_mm256_loadu_si256((const __m256i *)a[c][i0 + j].qs));

				acc[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd[c] + j),
							 _mm256_cvtepi32_ps(p), acc[c]);
				sm[c] = fmaf(mv[j], sv[c][j], sm[c]);
			}
		}
	}
	_Pragma("GCC unroll 8")
	for (int c = 0; c < NC; c++)
		out[c] = kn_avx2_hsum_ps(acc[c]) + sm[c];
}

static void kn_avx512_dot4_q4_1(int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	kn_avx512_dotn_q4_1(4, n, vw, va, as, out);
}

static void kn_avx512_dot8_q4_1(int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	kn_avx512_dotn_q4_1(8, n, vw, va, as, out);
}

static void kn_avx512_dot4_q8_0(int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	const kn_block_q8_0 *w = vw;
	const kn_block_q8_0 *a[4];
	const int64_t nb = n / KN_QK8_0;
	__m256 acc[4];
	float dd[4][KN_CHUNK] __attribute__((aligned(64)));

	for (int c = 0; c < 4; c++) {
		a[c] = KN_COL(kn_block_q8_0, va, as, c);
		acc[c] = _mm256_setzero_ps();
	}
	for (int64_t i0 = 0; i0 < nb; i0 += KN_CHUNK) {
		const int nbk = nb - i0 < KN_CHUNK ? (int)(nb - i0) : KN_CHUNK;
		const __m512 wd = kn_avx512_lo_h2f(kn_avx512_hdr(w + i0, sizeof(*w), nbk));
		int j = 0;

		for (int c = 0; c < 4; c++)
			_mm512_store_ps(dd[c], _mm512_mul_ps(wd, kn_avx512_lo_h2f(
				kn_avx512_hdr(a[c] + i0, sizeof(*a[c]), nbk))));
		for (; j + 2 <= nbk; j += 2) {
			const kn_block_q8_0 *x = w + i0 + j;
			const __m512i xv = kn_avx512_load2(x[0].qs, x[1].qs);
			const __mmask64 neg = _mm512_movepi8_mask(xv);
			const __m512i ax = _mm512_abs_epi8(xv);

			_Pragma("GCC unroll 4")
			for (int c = 0; c < 4; c++) {
				const kn_block_q8_0 *y = a[c] + i0 + j;
				const __m512i yv = kn_avx512_load2(y[0].qs, y[1].qs);
				const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ax,
					_mm512_mask_sub_epi8(yv, neg, _mm512_setzero_si512(), yv));

				acc[c] = kn_avx512_fma2(p, dd[c] + j, acc[c]);
			}
		}
		if (j < nbk) {
			const __m256i x = _mm256_loadu_si256((const __m256i *)w[i0 + j].qs);

			_Pragma("GCC unroll 4")
			for (int c = 0; c < 4; c++) {
				const __m256i p = kn_avx512_dot_s8_256(x,
					_mm256_loadu_si256((const __m256i *)a[c][i0 + j].qs));

				acc[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd[c] + j),
							 _mm256_cvtepi32_ps(p), acc[c]);
			}
		}
	}
	for (int c = 0; c < 4; c++)
		out[c] = kn_avx2_hsum_ps(acc[c]);
}

/*
 * Decode (4 rows . one column) takes the AVX2 table's rows4 (kn_rows4_avx2.c,
 * bit-identical): with their prefetch spread over the blocks they ran 7-30%
 * less CPU per token than 512-bit versions that prefetched the next rows in
 * one burst (7B-shape Q4_0/Q8_0/Q4_K/Q6_K and SmolLM2, one thread). Q5_K and
 * Q6_K decode have since their own kernel (kn_gemv_k_avx512.c).
 */
#define KN_AT(T, base, stride, k) ((const T *)((const uint8_t *)(base) + (size_t)(k) * (stride)))

/*
 * Q4_0.Q8_0 as kn_avx2_dot_q4_0 (even blocks into one 8-lane accumulator,
 * odd ones into a second, their sum reduced at the end), NR rows x NC
 * columns with NR or NC 1: (x - 8) . y as vpdpbusd(x, y) - 8 sum(y), exact,
 * the activation sums shared by the rows, two blocks per 512-bit register.
 */
static inline __attribute__((always_inline)) void
kn_avx512_tile_q4_0(const int NR, const int NC, int64_t n, const void *vw, size_t ws,
		    const void *va, size_t as, float *out)
{
	const __m512i ones = _mm512_set1_epi8(1);
	const int64_t nb = n / KN_QK4_0;
	__m256 acc0[NR * NC], acc1[NR * NC];
	float dd[NR * NC][KN_CHUNK] __attribute__((aligned(64)));

	_Pragma("GCC unroll 8")
	for (int k = 0; k < NR * NC; k++)
		acc0[k] = acc1[k] = _mm256_setzero_ps();
	for (int64_t i0 = 0; i0 < nb; i0 += KN_CHUNK) {
		const int nbk = nb - i0 < KN_CHUNK ? (int)(nb - i0) : KN_CHUNK;
		__m512 wd[NR], ad[NC];
		int j = 0;

		_Pragma("GCC unroll 8")
		for (int r = 0; r < NR; r++)
			wd[r] = kn_avx512_lo_h2f(kn_avx512_hdr(KN_AT(kn_block_q4_0, vw, ws, r) + i0,
							       sizeof(kn_block_q4_0), nbk));
		_Pragma("GCC unroll 8")
		for (int c = 0; c < NC; c++)
			ad[c] = kn_avx512_lo_h2f(kn_avx512_hdr(KN_AT(kn_block_q8_0, va, as, c) + i0,
							       sizeof(kn_block_q8_0), nbk));
		_Pragma("GCC unroll 8")
		for (int r = 0; r < NR; r++)
			_Pragma("GCC unroll 8")
			for (int c = 0; c < NC; c++)
				_mm512_store_ps(dd[r * NC + c], _mm512_mul_ps(wd[r], ad[c]));
		for (; j + 2 <= nbk; j += 2) {
			__m512i x[NR], y[NC], ys[NC];

			_Pragma("GCC unroll 8")
			for (int c = 0; c < NC; c++) {
				const kn_block_q8_0 *b = KN_AT(kn_block_q8_0, va, as, c) + i0 + j;

				y[c] = kn_avx512_load2(b[0].qs, b[1].qs);
				ys[c] = _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(),
									      ones, y[c]), 3);
			}
			_Pragma("GCC unroll 8")
			for (int r = 0; r < NR; r++) {
				const kn_block_q4_0 *b = KN_AT(kn_block_q4_0, vw, ws, r) + i0 + j;

				x[r] = kn_avx512_nibbles2(b[0].qs, b[1].qs);
			}
			_Pragma("GCC unroll 8")
			for (int r = 0; r < NR; r++)
				_Pragma("GCC unroll 8")
				for (int c = 0; c < NC; c++) {
					const int k = r * NC + c;
					const __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(
						_mm512_dpbusd_epi32(_mm512_setzero_si512(), x[r], y[c]),
						ys[c]));

					acc0[k] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd[k] + j),
								  _mm512_castps512_ps256(f), acc0[k]);
					acc1[k] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd[k] + j + 1),
						_mm256_castpd_ps(_mm512_extractf64x4_pd(
							_mm512_castps_pd(f), 1)), acc1[k]);
				}
		}
		if (j < nbk) {	/* the last block of an odd count: even, acc0 */
			_Pragma("GCC unroll 8")
			for (int r = 0; r < NR; r++) {
				const __m256i x = kn_avx2_nibbles(KN_AT(kn_block_q4_0, vw, ws, r)[i0 + j].qs);

				_Pragma("GCC unroll 8")
				for (int c = 0; c < NC; c++) {
					const int k = r * NC + c;
					const __m256i y = _mm256_loadu_si256(
						(const __m256i *)KN_AT(kn_block_q8_0, va, as, c)[i0 + j].qs);
					const __m256i p = _mm256_sub_epi32(kn_avx512_dot_us8(x, y),
						_mm256_slli_epi32(kn_avx512_dot_us8(_mm256_set1_epi8(1), y), 3));

					acc0[k] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd[k] + j),
								  _mm256_cvtepi32_ps(p), acc0[k]);
				}
			}
		}
	}
	_Pragma("GCC unroll 8")
	for (int k = 0; k < NR * NC; k++)
		out[k] = kn_avx2_hsum_ps(_mm256_add_ps(acc0[k], acc1[k]));
}

static float kn_avx512_dot_q4_0(int64_t n, const void *vw, const void *va)
{
	float out;

	kn_avx512_tile_q4_0(1, 1, n, vw, 0, va, 0, &out);
	return out;
}

static void kn_avx512_dot4_q4_0(int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	kn_avx512_tile_q4_0(1, 4, n, vw, 0, va, as, out);
}

static void kn_avx512_dot8_q4_0(int64_t n, const void *vw, const void *va, size_t as, float *out)
{
	kn_avx512_tile_q4_0(1, 8, n, vw, 0, va, as, out);
}

/* GCC's _mm512_reduce_add_ps, with which llama.cpp's AVX-512 build sums a register */
static inline float kn_avx512_hsum_ps(__m512 x)
{
	__m256 h = _mm256_add_ps(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)),
				 _mm512_castps512_ps256(x));
	__m128 q = _mm_add_ps(_mm256_extractf128_ps(h, 1), _mm256_castps256_ps128(h));

	q = _mm_add_ps(q, _mm_shuffle_ps(q, q, _MM_SHUFFLE(1, 0, 3, 2)));
	return _mm_cvtss_f32(q) + _mm_cvtss_f32(_mm_movehdup_ps(q));
}

/*
 * ggml_vec_dot_f32 of llama.cpp's AVX-512 build: four 16-lane FMA chains over
 * 64-float steps, folded (0+2, 1+3, then 0+1), then _mm512_reduce_add_ps;
 * the tail as GCC compiled its scalar loop there: 16- and then one 8-wide
 * group of products rounded before their in-order sum, the last 0-7 fused
 * (checked against the build's own libggml-cpu.so for n = 1..520).
 */
static float kn_avx512_dot_f32(int64_t n, const void *vw, const void *va)
{
	const float *w = vw, *a = va;
	const int64_t np = n & ~(int64_t)63;
	__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	float sum;
	int64_t i;

	for (i = 0; i < np; i += 64) {
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(a + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(a + i + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 32), _mm512_loadu_ps(a + i + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 48), _mm512_loadu_ps(a + i + 48), s3);
	}
	sum = kn_avx512_hsum_ps(_mm512_add_ps(_mm512_add_ps(s0, s2), _mm512_add_ps(s1, s3)));
	for (; n - i >= 16; i += 16)
		for (int l = 0; l < 16; l++)
			sum += w[i + l] * a[i + l];
	if (n - i >= 8) {
		for (int l = 0; l < 8; l++)
			sum += w[i + l] * a[i + l];
		i += 8;
	}
	for (; i < n; i++)
		sum = fmaf(w[i], a[i], sum);
	return sum;
}

/* tinyBLAS of the AVX-512 build: a 16-lane FMA chain per output, then its reduce_add */
static void kn_avx512_sgemm_f32(int64_t n, const float *w, const float *a, size_t astride,
				int ncols, float *out)
{
	__m512 acc[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
			  _mm512_setzero_ps() };

	for (int64_t i = 0; i < n; i += 16) {
		const __m512 x = _mm512_loadu_ps(w + i);

		for (int c = 0; c < ncols; c++)
			acc[c] = _mm512_fmadd_ps(x, _mm512_loadu_ps(a + c * astride + i), acc[c]);
	}
	for (int c = 0; c < ncols; c++)
		out[c] = kn_avx512_hsum_ps(acc[c]);
}

kn_sgemm_fn kn_avx512_sgemm_get(void)
{
	return kn_avx512_sgemm_f32;
}

/* entries left NULL fall back to the AVX2 table (then scalar) */
static const struct kn_type_fns kn_avx512_fns[KN_TYPE_MAX] = {
	[KN_F32]  = { NULL, NULL, kn_avx512_dot_f32 },
	[KN_Q4_0] = { NULL, NULL, kn_avx512_dot_q4_0, NULL, kn_avx512_dot4_q4_0, NULL,
		      kn_avx512_dot8_q4_0 },
	[KN_Q4_1] = { NULL, NULL, kn_avx512_dot_q4_1, NULL, kn_avx512_dot4_q4_1,
		      kn_avx512_rows4_q4_1, kn_avx512_dot8_q4_1 },
	[KN_Q8_0] = { NULL, NULL, kn_avx512_dot_q8_0, NULL, kn_avx512_dot4_q8_0 },
	[KN_Q4_K] = { NULL, NULL, kn_avx512_dot_q4_K, NULL, kn_avx512_dot4_q4_K, NULL,
		      kn_avx512_dot8_q4_K },
	[KN_Q6_K] = { NULL, NULL, kn_avx512_dot_q6_K, NULL, kn_avx512_dot4_q6_K, NULL,
		      kn_avx512_dot8_q6_K },
};

const struct kn_type_fns *kn_avx512_fns_get(void)
{
	return kn_avx512_fns;
}
