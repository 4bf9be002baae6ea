/* SPDX-License-Identifier: MIT */
/*
 * kernels/cpu private: inline AVX2 helpers shared by the *_avx2.c files
 * (included only by files compiled with -mavx2 -mfma -mf16c).
 */
#ifndef KN_AVX2_H
#define KN_AVX2_H

#include <immintrin.h>
#include "kn_internal.h"

static inline float kn_avx2_hsum_ps(__m256 x)
{
	__m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));

	r = _mm_add_ps(r, _mm_movehl_ps(r, r));
	r = _mm_add_ss(r, _mm_movehdup_ps(r));
	return _mm_cvtss_f32(r);
}

static inline int kn_avx2_hsum_epi32(__m256i x)
{
	__m128i r = _mm_add_epi32(_mm256_extracti128_si256(x, 1), _mm256_castsi256_si128(x));

	r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(1, 0, 3, 2)));
	r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(r);
}

static inline float kn_avx2_hmax_ps(__m256 x)
{
	__m128 r = _mm_max_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));

	r = _mm_max_ps(r, _mm_movehl_ps(r, r));
	r = _mm_max_ss(r, _mm_movehdup_ps(r));
	return _mm_cvtss_f32(r);
}

/* 16 bytes of nibbles -> 32 bytes: low nibbles first, then high nibbles */
static inline __m256i kn_avx2_nibbles(const uint8_t *p)
{
	__m128i t = _mm_loadu_si128((const __m128i *)p);
	__m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);

	return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* unsigned bytes x signed bytes -> 8 int32 sums of 4 products */
static inline __m256i kn_avx2_dot_us8(__m256i ux, __m256i sy)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(ux, sy), _mm256_set1_epi16(1));
}

/* signed x signed bytes (neither -128) -> 8 int32 sums of 4 products */
static inline __m256i kn_avx2_dot_s8(__m256i x, __m256i y)
{
	return kn_avx2_dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

static inline float kn_avx2_h2f(uint16_t h)
{
	return _cvtsh_ss(h);
}

/* Q5_K's fifth bits: bit k of each byte of @hb at bit 4 (the others cleared): one 16-bit shift,
 * a byte's bit 4 comes from its own bits 1..7 */
static inline __m256i kn_avx2_q5_hbit(__m256i hb, int k, __m256i m16)
{
	return _mm256_and_si256(k < 4 ? _mm256_slli_epi16(hb, 4 - k)
			      : k > 4 ? _mm256_srli_epi16(hb, k - 4) : hb, m16);
}

/* Q4_K/Q5_K mins: lane k = m[2k] (bsums[4k] + bsums[4k+1]) + m[2k+1] (bsums[4k+2] + bsums[4k+3]) */
static inline __m128i kn_avx2_mins_prod(const uint8_t *m, const int16_t *bsums)
{
	const __m256i bs = _mm256_loadu_si256((const __m256i *)bsums);
	const __m128i q8s = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
	const __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)m));

	return _mm_madd_epi16(mins, q8s);	/* lane k: m[2k] q8s[2k] + m[2k+1] q8s[2k+1] */
}

/* the 8 lanes of 32 * (bsums . scales) that Q6_K subtracts */
static inline __m256i kn_avx2_q6_corr(const int8_t *scales, const int16_t *bsums)
{
	const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)scales));

	return _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), s16), 5);
}

/*
 * vpshufb mask that spreads 16-bit scale 2k of the low 128-bit lane and 2k + 1
 * of the high lane (@k 0..3) over their lanes; with the unrolled callers'
 * constant @k it is a constant vector
 */
static inline __m256i kn_avx2_q6_smask(int k)
{
	const char l0 = (char)(4 * k), l1 = (char)(4 * k + 1), h0 = (char)(4 * k + 2),
		   h1 = (char)(4 * k + 3);

	return _mm256_setr_epi8(l0, l1, l0, l1, l0, l1, l0, l1, l0, l1, l0, l1, l0, l1, l0, l1,
				h0, h1, h0, h1, h0, h1, h0, h1, h0, h1, h0, h1, h0, h1, h0, h1);
}

/*
 * a Q6_K super-block's 8 int32 lanes of sum scale * q * y, less the bsums
 * correction: exact integers, as ggml's AVX2 vec_dot forms them (its float
 * steps and llama.cpp's tiled ones both start from these). Lane l sums bytes
 * 4l..4l+3 of each 32-byte chunk; chunk k of half h takes scale 8h + 2k in
 * lanes 0-3 and 8h + 2k + 1 in lanes 4-7. The scales are sign-extended once
 * and each chunk's pair is spread by one vpshufb (not built from scalars);
 * with AVX-512 VL the compiler fuses the and/or pairs into vpternlogd.
 */
static inline __m256i kn_avx2_q6_K_isum(const kn_block_q6_K *w, const kn_block_q8_K *a)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), m48 = _mm256_set1_epi8(0x30);
	const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w->scales));
	const __m256i corr = _mm256_slli_epi32(
		_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), s16), 5);
	__m256i sumi = _mm256_setzero_si256();

	_Pragma("GCC unroll 2")
	for (int h = 0; h < 2; h++) {
		/* scales 8h..8h + 7 in both lanes */
		const __m256i sh = _mm256_permute4x64_epi64(s16, h ? 0xEE : 0x44);
		const __m256i qh = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * h));
		const __m256i l0 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h));
		const __m256i l1 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h + 32));
		const int8_t *q8 = a->qs + 128 * h;
		__m256i q[4];

		q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
				       _mm256_and_si256(_mm256_slli_epi16(qh, 4), m48));
		q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
				       _mm256_and_si256(_mm256_slli_epi16(qh, 2), m48));
		q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
				       _mm256_and_si256(qh, m48));
		q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
				       _mm256_and_si256(_mm256_srli_epi16(qh, 2), m48));
		_Pragma("GCC unroll 4")
		for (int k = 0; k < 4; k++) {
			const __m256i y = _mm256_loadu_si256((const __m256i *)(q8 + 32 * k));
			const __m256i sc = _mm256_shuffle_epi8(sh, kn_avx2_q6_smask(k));
			const __m256i p = _mm256_maddubs_epi16(q[k], y);

			sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, sc));
		}
	}
	return _mm256_sub_epi32(sumi, corr);
}

/* one super-block of a Q6_K row's vec_dot: acc += (a.d * w.d) * isum, in ggml's float steps */
static inline __m256 kn_avx2_q6_K_step(const kn_block_q6_K *w, const kn_block_q8_K *a, __m256 acc)
{
	const float d = a->d * kn_avx2_h2f(w->d);

	return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(kn_avx2_q6_K_isum(w, a)), acc);
}

/*
 * one super-block of a Q5_K row's vec_dot (ggml_vec_dot_q5_K_q8_K's AVX2
 * order): *summs = fmaf(-a.d * w.dmin, mins . bsums, *summs), acc += (a.d *
 * w.d) * the scaled 5-bit products' 8 lane sums (scales widened once, each
 * sub-block's broadcast by one vpshufb)
 */
static inline __attribute__((always_inline)) __m256
kn_avx2_q5_K_step(const kn_block_q5_K *w, const kn_block_q8_K *a, __m256 acc,
		  float *summs)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), m16 = _mm256_set1_epi8(0x10);
	const float d = a->d * kn_avx2_h2f(w->d);
	const float dmin = -a->d * kn_avx2_h2f(w->dmin);
	uint32_t u[4];
	__m256i sumi = _mm256_setzero_si256();
	const __m256i hb = _mm256_loadu_si256((const __m256i *)w->qh);

	/* the 8 scales as 16-bit words in both lanes, one vpshufb per sub-block */
	kn_q4_K_scales_mins(w->scales, u);
	const __m256i sc16 = _mm256_broadcastsi128_si256(
		_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)u)));
	__m128i mp = kn_avx2_mins_prod((const uint8_t *)&u[2], a->bsums);

	mp = _mm_add_epi32(mp, _mm_shuffle_epi32(mp, _MM_SHUFFLE(1, 0, 3, 2)));
	mp = _mm_add_epi32(mp, _mm_shuffle_epi32(mp, _MM_SHUFFLE(2, 3, 0, 1)));
	*summs = fmaf(dmin, (float)_mm_cvtsi128_si32(mp), *summs);
	_Pragma("GCC unroll 4")
	for (int j = 0; j < 4; j++) {
		const __m256i q4 = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * j));
		const __m256i q5l = _mm256_or_si256(_mm256_and_si256(q4, m4),
						    kn_avx2_q5_hbit(hb, 2 * j, m16));
		const __m256i q5h = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), m4),
						    kn_avx2_q5_hbit(hb, 2 * j + 1, m16));
		const __m256i q8l = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * j));
		const __m256i q8h = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * j + 32));
		const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(q5l, q8l),
			_mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)((4 * j + 1) << 8 | 4 * j))));
		const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(q5h, q8h),
			_mm256_shuffle_epi8(sc16, _mm256_set1_epi16(
				(short)((4 * j + 3) << 8 | (4 * j + 2)))));

		sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
	}
	return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
}

/* the Q6_K step in kn_avx2_k_gemv's form (Q6_K has no mins term) */
static inline __attribute__((always_inline)) __m256
kn_avx2_q6_K_kstep(const void *w, const kn_block_q8_K *a, __m256 acc, float *summs)
{
	return kn_avx2_q6_K_step(w, a, acc);
}

static inline __attribute__((always_inline)) __m256
kn_avx2_q5_K_kstep(const void *w, const kn_block_q8_K *a, __m256 acc, float *summs)
{
	return kn_avx2_q5_K_step(w, a, acc, summs);
}

/* one super-block of a K-quant row's vec_dot: the 8-lane float chain, the mins' chain */
typedef __m256 (*kn_avx2_kstep_fn)(const void *w, const kn_block_q8_K *a, __m256 acc,
				   float *summs);

/* rows above this many super-blocks take kn_avx2_k_gemv_tile8 */
#define KN_K_LONG_BLOCKS	32
/* rows per tile of kn_avx2_k_gemv_tile8, and how far ahead it prefetches
 * (Q4_K's gemv's numbers, kn_q4_K_x8.h; 4 rows or 16 ahead measured slower) */
#define KN_K_TILE_ROWS		8
#define KN_K_PF_ROWS		12

/*
 * kn_avx2_k_gemv's long rows: 8 rows at a time, block by block, each with
 * its own chains (the same steps in the same order: the same bits), every
 * block's lines 12 rows on prefetched to L2. Two streams of rows read the
 * activation again for every row pair, and once two rows and it pass the
 * 32 KiB L1 it comes from L2, 0.7 bytes per weight byte: one thread, Q6_K,
 * a cold 45 MB matrix, 32 GB/s at 8192 inputs fell to 27.5-28 at 11008
 * (7B's ffn_down) and 18.8 at 16384, where this tile reads 32-33 and 30
 * (AVX2 kernels: 23-24.6 -> 27.5, 17.2-17.6 -> 25.7). At 4096 inputs it is
 * 2-6% slower than the two streams, so short rows keep them.
 */
static inline __attribute__((always_inline)) int64_t
kn_avx2_k_gemv_tile8(int64_t nb, const void *w, size_t ws, size_t bs, const kn_block_q8_K *a,
		     const float *bias, float *out, int64_t r0, int64_t r1,
		     kn_avx2_kstep_fn step, bool mins)
{
	int64_t r = r0;

	for (; r + KN_K_TILE_ROWS <= r1; r += KN_K_TILE_ROWS) {
		const uint8_t *x = (const uint8_t *)w + r * ws;
		const size_t pf = r + KN_K_TILE_ROWS + KN_K_PF_ROWS <= r1 ? KN_K_PF_ROWS * ws : 0;
		__m256 acc[KN_K_TILE_ROWS];
		float s[KN_K_TILE_ROWS];

		for (int j = 0; j < KN_K_TILE_ROWS; j++) {
			acc[j] = _mm256_setzero_ps();
			s[j] = 0.0f;
		}
		for (int64_t i = 0; i < nb; i++) {
			_Pragma("GCC unroll 8")
			for (int j = 0; j < KN_K_TILE_ROWS; j++) {
				const uint8_t *b = x + j * ws + i * bs;

				if (pf) {
					for (size_t l = 0; l < bs; l += 64)
						_mm_prefetch((const char *)b + pf + l, _MM_HINT_T1);
				}
				acc[j] = step(b, &a[i], acc[j], &s[j]);
			}
		}
		for (int j = 0; j < KN_K_TILE_ROWS; j++)
			out[r + j] = (mins ? kn_avx2_hsum_ps(acc[j]) + s[j] : kn_avx2_hsum_ps(acc[j])) +
				     (bias ? bias[r + j] : 0.0f);
	}
	return r;
}

/*
 * K-quant decode: out[r] = dot(W row r, a) (+ bias[r]) for rows [r0, r1), each
 * row as ggml's vec_dot computes it (@step's lanes and chains per
 * super-block in block order, the 8-lane sum, + the mins' chain where
 * @mins; the bias added after, as llama.cpp's separate add does). W is read
 * once, so the rate is the memory's: rows of more than 32 super-blocks go
 * 8 at a time (kn_avx2_k_gemv_tile8), shorter ones as two address-ordered
 * streams, row r of each half of the range a super-block at a time (an odd
 * last row alone), which the hardware prefetcher follows. On Zen 4 (Q6_K),
 * one stream ran 3-8% slower, rows 4 or 8 at a time (a stream each, 210-byte
 * hops) without prefetching rows ahead at half the rate, and software
 * prefetches ahead of the two streams slowed them by 5-15%. @step is inlined (a constant in an always_inline body).
 */
static inline __attribute__((always_inline)) void
kn_avx2_k_gemv(int64_t n, const void *w, size_t ws, size_t bs, const void *va, const float *bias,
	       float *out, int64_t r0, int64_t r1, kn_avx2_kstep_fn step, bool mins)
{
	const kn_block_q8_K *a = va;
	const uint8_t *x, *x2;
	__m256 acc, acc2;
	float s, s2;

	if (n / KN_QK_K > KN_K_LONG_BLOCKS)	/* the rest as two streams: at most 7 rows */
		r0 = kn_avx2_k_gemv_tile8(n / KN_QK_K, w, ws, bs, a, bias, out, r0, r1, step, mins);

	const int64_t half = (r1 - r0) / 2;

	for (int64_t r = r0; r < r0 + half; r++) {
		x = (const uint8_t *)w + r * ws;
		x2 = (const uint8_t *)w + (r + half) * ws;
		acc = acc2 = _mm256_setzero_ps();
		s = s2 = 0.0f;

		for (int64_t i = 0; i < n / KN_QK_K; i++) {
			acc = step(x + i * bs, &a[i], acc, &s);
			acc2 = step(x2 + i * bs, &a[i], acc2, &s2);
		}
		out[r] = (mins ? kn_avx2_hsum_ps(acc) + s : kn_avx2_hsum_ps(acc)) +
			 (bias ? bias[r] : 0.0f);
		out[r + half] = (mins ? kn_avx2_hsum_ps(acc2) + s2 : kn_avx2_hsum_ps(acc2)) +
				(bias ? bias[r + half] : 0.0f);
	}
	if ((r1 - r0) & 1) {
		x = (const uint8_t *)w + (r1 - 1) * ws;
		acc = _mm256_setzero_ps();
		s = 0.0f;

		for (int64_t i = 0; i < n / KN_QK_K; i++)
			acc = step(x + i * bs, &a[i], acc, &s);
		out[r1 - 1] = (mins ? kn_avx2_hsum_ps(acc) + s : kn_avx2_hsum_ps(acc)) +
			      (bias ? bias[r1 - 1] : 0.0f);
	}
}

/* 8 lanes of kn_ggml_expf, bit-identical to it */
static inline __m256 kn_avx2_ggml_expf(__m256 x)
{
	const __m256 r = _mm256_set1_ps(0x1.8p23f);
	const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
	const __m256 n = _mm256_sub_ps(z, r);
	const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
					  _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
	const __m256 an = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);

	/* |n| > 126 (2^n not a normal float) or NaN: the scalar path, lane by lane */
	if (_mm256_movemask_ps(_mm256_cmp_ps(an, _mm256_set1_ps(126), _CMP_NLE_UQ))) {
		float v[8];

		_mm256_storeu_ps(v, x);
		for (int i = 0; i < 8; i++)
			v[i] = kn_ggml_expf(v[i]);
		return _mm256_loadu_ps(v);
	}
	const __m256 u = _mm256_mul_ps(b, b);
	const __m256 j = _mm256_fmadd_ps(
		_mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b,
						_mm256_set1_ps(0x1.573e2ep-5f)),
				u,
				_mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b,
						_mm256_set1_ps(0x1.fffdb6p-2f))),
		u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
	/* 2^n as a float: exact for |n| <= 126 */
	const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n),
							     _mm256_set1_epi32(127)), 23);

	return _mm256_mul_ps(j, _mm256_castsi256_ps(e));
}

static inline __m256 kn_avx2_ggml_silu(__m256 x)
{
	const __m256 e = kn_avx2_ggml_expf(_mm256_sub_ps(_mm256_setzero_ps(), x));

	return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* 8 lanes of kn_ggml_expf8 (llama.cpp's AVX2 exp), bit-identical to it */
static inline __m256 kn_avx2_ggml_expf8(__m256 x)
{
	const __m256 r = _mm256_set1_ps(0x1.8p23f);
	const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
	const __m256 n = _mm256_sub_ps(z, r);
	const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
					  _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
	const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
	const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_set1_epi32(0x3f800000)));
	const __m256 an = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
	const __m256 u = _mm256_mul_ps(b, b);
	const __m256 j = _mm256_fmadd_ps(
		_mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b,
						_mm256_set1_ps(0x1.573e2ep-5f)),
				u,
				_mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b,
						_mm256_set1_ps(0x1.fffdb6p-2f))),
		u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));

	/* |n| > 126: rare (exp under 2^-126 or over 2^126): lane by lane */
	if (_mm256_movemask_ps(_mm256_cmp_ps(an, _mm256_set1_ps(126), _CMP_GT_OQ))) {
		float v[8];

		_mm256_storeu_ps(v, x);
		for (int i = 0; i < 8; i++)
			v[i] = kn_ggml_expf8(v[i]);
		return _mm256_loadu_ps(v);
	}
	return _mm256_fmadd_ps(j, k, k);
}

static inline __m256 kn_avx2_ggml_silu8(__m256 x)
{
	const __m256 e = kn_avx2_ggml_expf8(_mm256_sub_ps(_mm256_setzero_ps(), x));

	return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

#endif /* KN_AVX2_H */
