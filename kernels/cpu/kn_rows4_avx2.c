// SPDX-License-Identifier: MIT
/*
 * AVX2 dots of 4 weight rows (@ws bytes apart) with one activation column,
 * for decode: the activation blocks are loaded (and for Q4_0 summed) once
 * for the 4 rows, the 4 rows' fmadd chains interleave (one row's chain is
 * latency-bound), and the super-block 4 rows ahead is prefetched (decode
 * streams W once and the hardware prefetcher lags at row ends). Each row sees
 * the integer sums and the float operations of its single dot in
 * kn_dot_avx2.c, in the same order, so results are bit-identical to it.
 */
#include <math.h>
#include <string.h>
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

void kn_avx2_rows4_q4_0(int64_t n, const void *w, size_t ws, const void *a, float *out);
void kn_avx2_rows4_q8_0(int64_t n, const void *w, size_t ws, const void *a, float *out);
void kn_avx2_rows4_q4_1(int64_t n, const void *w, size_t ws, const void *a, float *out);
void kn_avx2_rows4_q4_K(int64_t n, const void *w, size_t ws, const void *a, float *out);

#define KN_PF_DIST	4
#define KN_R(T, w, ws, r) ((const T *)((const uint8_t *)(w) + (size_t)(r) * (ws)))

static inline void kn_avx2_pf(const void *p, int lines)
{
	for (int l = 0; l < lines; l++)
		_mm_prefetch((const char *)p + 64 * l, _MM_HINT_T0);
}

/*
 * the first 4 bytes of a block in each of 4 rows (@ws apart), as F32 by one
 * vcvtph2ps: lanes 2r and 2r + 1 are row r's halves 0 and 1 (Q8_0: d and
 * two quant bytes; Q4_1: d and m); the rows @KN_PF_DIST ahead prefetched
 * (@lines each) on even blocks @i
 */
static inline __m256 kn_avx2_hdr4(const uint8_t *x, size_t ws, int64_t i, int lines)
{
	uint32_t u0, u1, u2, u3;

	memcpy(&u0, x, 4);
	memcpy(&u1, x + ws, 4);
	memcpy(&u2, x + 2 * ws, 4);
	memcpy(&u3, x + 3 * ws, 4);
	if (!(i & 1))
		for (int r = 0; r < 4; r++)
			kn_avx2_pf(x + (r + KN_PF_DIST) * ws, lines);
	return _mm256_cvtph_ps(_mm_setr_epi32((int)u0, (int)u1, (int)u2, (int)u3));
}

/* (x - 8) . y as x . y - 8 sum(y): exact (maddubs pairs stay under 2^15) */
void kn_avx2_rows4_q4_0(int64_t n, const void *vw, size_t ws, const void *va, float *out)
{
	const kn_block_q8_0 *a = va;
	const __m256i ones = _mm256_set1_epi8(1);
	const int64_t nb = n / KN_QK4_0;
	__m256 acc0[4], acc1[4];
	int64_t i = 0;

	for (int r = 0; r < 4; r++)
		acc0[r] = acc1[r] = _mm256_setzero_ps();
	for (; i + 2 <= nb; i += 2) {
		const __m256i y0 = _mm256_loadu_si256((const __m256i *)a[i].qs);
		const __m256i y1 = _mm256_loadu_si256((const __m256i *)a[i + 1].qs);
		const __m256i s0 = _mm256_slli_epi32(kn_avx2_dot_us8(ones, y0), 3);
		const __m256i s1 = _mm256_slli_epi32(kn_avx2_dot_us8(ones, y1), 3);
		const float da0 = kn_avx2_h2f(a[i].d), da1 = kn_avx2_h2f(a[i + 1].d);

		_Pragma("GCC unroll 4")
		for (int r = 0; r < 4; r++) {
			const kn_block_q4_0 *x = KN_R(kn_block_q4_0, vw, ws, r) + i;
			const __m256 d0 = _mm256_set1_ps(kn_avx2_h2f(x[0].d) * da0);
			const __m256 d1 = _mm256_set1_ps(kn_avx2_h2f(x[1].d) * da1);

			if (!(i & 3))
				kn_avx2_pf((const uint8_t *)x + KN_PF_DIST * ws, 2);
			acc0[r] = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(_mm256_sub_epi32(
				kn_avx2_dot_us8(kn_avx2_nibbles(x[0].qs), y0), s0)), acc0[r]);
			acc1[r] = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(_mm256_sub_epi32(
				kn_avx2_dot_us8(kn_avx2_nibbles(x[1].qs), y1), s1)), acc1[r]);
		}
	}
	if (i < nb) {
		const __m256i y0 = _mm256_loadu_si256((const __m256i *)a[i].qs);
		const __m256i s0 = _mm256_slli_epi32(kn_avx2_dot_us8(ones, y0), 3);

		for (int r = 0; r < 4; r++) {
			const kn_block_q4_0 *x = KN_R(kn_block_q4_0, vw, ws, r) + i;
			const __m256 d0 = _mm256_set1_ps(kn_avx2_h2f(x->d) * kn_avx2_h2f(a[i].d));

			acc0[r] = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(_mm256_sub_epi32(
				kn_avx2_dot_us8(kn_avx2_nibbles(x->qs), y0), s0)), acc0[r]);
		}
	}
	for (int r = 0; r < 4; r++)
		out[r] = kn_avx2_hsum_ps(_mm256_add_ps(acc0[r], acc1[r]));
}

/* the 4 rows' d converted by one vcvtph2ps and multiplied by da at once,
 * each row's product broadcast by a lane permute (as kn_avx2_rows4_q4_1) */
void kn_avx2_rows4_q8_0(int64_t n, const void *vw, size_t ws, const void *va, float *out)
{
	const kn_block_q8_0 *a = va;
	const uint8_t *w0 = vw;
	const __m256i p0 = _mm256_set1_epi32(0), p1 = _mm256_set1_epi32(2);
	const __m256i p2 = _mm256_set1_epi32(4), p3 = _mm256_set1_epi32(6);
	__m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;

	for (int64_t i = 0; i < n / KN_QK8_0; i++) {
		const uint8_t *x = w0 + (size_t)i * sizeof(kn_block_q8_0);
		const __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);
		/* lanes 2r: row r's d * da (the odd lanes, quant bytes, unused) */
		const __m256 dd = _mm256_mul_ps(kn_avx2_hdr4(x, ws, i, 2),
						_mm256_set1_ps(kn_avx2_h2f(a[i].d)));

#define KN_Q80_ROW(acc, r, p) acc = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(dd, p),	\
		_mm256_cvtepi32_ps(kn_avx2_dot_s8(_mm256_loadu_si256(				\
			(const __m256i *)(x + (r) * ws + 2)), y)), acc)
		KN_Q80_ROW(acc0, 0, p0);
		KN_Q80_ROW(acc1, 1, p1);
		KN_Q80_ROW(acc2, 2, p2);
		KN_Q80_ROW(acc3, 3, p3);
#undef KN_Q80_ROW
	}
	out[0] = kn_avx2_hsum_ps(acc0);
	out[1] = kn_avx2_hsum_ps(acc1);
	out[2] = kn_avx2_hsum_ps(acc2);
	out[3] = kn_avx2_hsum_ps(acc3);
}

/*
 * The 4 rows' d and m (adjacent halves at each block's start) converted at
 * once: one vcvtph2ps of their 4 words gives d0 m0 d1 m1 .. d3 m3; d * da
 * (one vmulps) and the mins' chains m * sa + sm (one vfmadd per block for
 * the 4 rows: the lanes are the scalar fmaf chains) come out in lanes, and
 * each row's d * da is broadcast by a lane permute. The nibbles: the 16
 * bytes in both halves by one broadcast load, the high half shifted by 4.
 * The per-block statements of kn_avx2_dot_q4_1 are kept, so each row is
 * bit-identical to it; about half the uops per row and block of the form
 * that converted each half apart (8 -> 17 GB/s hot on a Xeon).
 */
void kn_avx2_rows4_q4_1(int64_t n, const void *vw, size_t ws, const void *va, float *out)
{
	const kn_block_q8_1 *a = va;
	const uint8_t *w0 = vw;
	const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
	const __m256i sh = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
	const __m256i p0 = _mm256_set1_epi32(0), p1 = _mm256_set1_epi32(2);
	const __m256i p2 = _mm256_set1_epi32(4), p3 = _mm256_set1_epi32(6);
	__m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
	__m256 sm = acc0;	/* lanes 1, 3, 5, 7: the 4 rows' mins sums */
	float lanes[8];

	for (int64_t i = 0; i < n / KN_QK4_1; i++) {
		const uint8_t *x = w0 + (size_t)i * sizeof(kn_block_q4_1);
		const __m256i y = _mm256_loadu_si256((const __m256i *)a[i].qs);
		const __m256 dm = kn_avx2_hdr4(x, ws, i, 1);
		__m256i q0, q1, q2, q3;
		const __m256 dd = _mm256_mul_ps(dm, _mm256_set1_ps(kn_avx2_h2f(a[i].d)));

		sm = _mm256_fmadd_ps(dm, _mm256_set1_ps(kn_avx2_h2f(a[i].s)), sm);
#define KN_Q41_NIB(r) _mm256_and_si256(_mm256_srlv_epi32(_mm256_broadcastsi128_si256(	\
		_mm_loadu_si128((const __m128i *)(x + (r) * ws + 4))), sh), m4)
		q0 = KN_Q41_NIB(0);
		q1 = KN_Q41_NIB(1);
		q2 = KN_Q41_NIB(2);
		q3 = KN_Q41_NIB(3);
#undef KN_Q41_NIB
		acc0 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(dd, p0), _mm256_cvtepi32_ps(
			_mm256_madd_epi16(_mm256_maddubs_epi16(q0, y), ones)), acc0);
		acc1 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(dd, p1), _mm256_cvtepi32_ps(
			_mm256_madd_epi16(_mm256_maddubs_epi16(q1, y), ones)), acc1);
		acc2 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(dd, p2), _mm256_cvtepi32_ps(
			_mm256_madd_epi16(_mm256_maddubs_epi16(q2, y), ones)), acc2);
		acc3 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(dd, p3), _mm256_cvtepi32_ps(
			_mm256_madd_epi16(_mm256_maddubs_epi16(q3, y), ones)), acc3);
	}
	_mm256_storeu_ps(lanes, sm);
	out[0] = kn_avx2_hsum_ps(acc0) + lanes[1];
	out[1] = kn_avx2_hsum_ps(acc1) + lanes[3];
	out[2] = kn_avx2_hsum_ps(acc2) + lanes[5];
	out[3] = kn_avx2_hsum_ps(acc3) + lanes[7];
}

void kn_avx2_rows4_q4_K(int64_t n, const void *vw, size_t ws, const void *va, float *out)
{
	const kn_block_q8_K *a = va;
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	__m256 acc[4];
	__m128 accm[4];

	for (int r = 0; r < 4; r++) {
		acc[r] = _mm256_setzero_ps();
		accm[r] = _mm_setzero_ps();
	}
	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		uint32_t u[4][4];
		__m256i sumi[4];

		_Pragma("GCC unroll 4")
		for (int r = 0; r < 4; r++) {
			const kn_block_q4_K *x = KN_R(kn_block_q4_K, vw, ws, r) + i;
			const float dmin = -a[i].d * kn_avx2_h2f(x->dmin);

			kn_avx2_pf((const uint8_t *)x + KN_PF_DIST * ws, 3);
			kn_q4_K_scales_mins(x->scales, u[r]);
			accm[r] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(
				kn_avx2_mins_prod((const uint8_t *)&u[r][2], a[i].bsums)), accm[r]);
			sumi[r] = _mm256_setzero_si256();
		}
		_Pragma("GCC unroll 4")
		for (int j = 0; j < 4; j++) {
			const __m256i q8l = _mm256_loadu_si256((const __m256i *)(a[i].qs + 64 * j));
			const __m256i q8h = _mm256_loadu_si256((const __m256i *)(a[i].qs + 64 * j + 32));

			_Pragma("GCC unroll 4")
			for (int r = 0; r < 4; r++) {
				const kn_block_q4_K *x = KN_R(kn_block_q4_K, vw, ws, r) + i;
				const uint8_t *sc = (const uint8_t *)u[r];
				const __m256i q4 = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * j));
				const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(
					_mm256_and_si256(q4, m4), q8l), _mm256_set1_epi16(sc[2 * j]));
				const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(
					_mm256_and_si256(_mm256_srli_epi16(q4, 4), m4), q8h),
					_mm256_set1_epi16(sc[2 * j + 1]));

				sumi[r] = _mm256_add_epi32(sumi[r], _mm256_add_epi32(pl, ph));
			}
		}
		_Pragma("GCC unroll 4")
		for (int r = 0; r < 4; r++) {
			const kn_block_q4_K *x = KN_R(kn_block_q4_K, vw, ws, r) + i;

			acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * kn_avx2_h2f(x->d)),
						 _mm256_cvtepi32_ps(sumi[r]), acc[r]);
		}
	}
	for (int r = 0; r < 4; r++) {
		__m128 am = _mm_add_ps(accm[r], _mm_movehl_ps(accm[r], accm[r]));

		am = _mm_add_ss(am, _mm_movehdup_ps(am));
		out[r] = kn_avx2_hsum_ps(acc[r]) + _mm_cvtss_f32(am);
	}
}
