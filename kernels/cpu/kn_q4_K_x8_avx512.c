// SPDX-License-Identifier: MIT
/*
 * The Q4_K gemv (one activation column: decode) on AVX-512 VNNI in the order
 * of llama.cpp's repacked q4_K_8x8 gemv (kn_ref_dot_q4_K_x8), which both its
 * x86 builds run: kn_avx2_gemv_q4_K_x8's tile of 8 rows and its two fmas per
 * super-block (kn_q4_K_x8.h), each row's integer sum formed 64 weight bytes
 * a step: the zmm's four 128-bit lanes hold two sub-blocks' halves each, the
 * activations arranged to match once per super-block for the 8 rows, and
 * vpdpwssd adds the scaled pairs into the row's sum. Half the AVX2 gemv's
 * instructions; 1.2-1.4x llama.cpp's gemv on Zen 4 (whose 512-bit ops take two
 * cycles: the gain is in the front end). Only the integer sums are formed
 * differently, which cannot change a bit. Holds no state.
 */
#include "kn_q4_K_x8.h"

#pragma GCC optimize("fp-contract=off")

void kn_avx512_gemv_q4_K_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			    const float *bias, float *out, int64_t r0, int64_t r1);

/* scale byte j in the low two 128-bit lanes and byte k in the high two, as 16-bit lanes */
#define KN_X8Z_B(j)	(0x8000800080008000ull | 0x0001000100010001ull * (j))
#define KN_X8Z_SC(j, k)	{ KN_X8Z_B(j), KN_X8Z_B(j), KN_X8Z_B(j), KN_X8Z_B(j), \
			  KN_X8Z_B(k), KN_X8Z_B(k), KN_X8Z_B(k), KN_X8Z_B(k) }
/*
 * 64 weight bytes c (c = 0, 1) hold sub-blocks 4c (low nibbles) and 4c + 1
 * (high) in their low 32 bytes, 4c + 2 and 4c + 3 in the high 32: the
 * masks for (c, low), (c, high)
 */
static const uint64_t kn_x8z_sc[4][8] __attribute__((aligned(64))) = {
	KN_X8Z_SC(0, 2), KN_X8Z_SC(1, 3), KN_X8Z_SC(4, 6), KN_X8Z_SC(5, 7),
};

/* the activations of 64 weight bytes' sub-blocks (@lo, @hi: first, second 32) */
static inline __m512i kn_x8z_act(const int8_t *y, int lo, int hi)
{
	return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(y + lo))),
				  _mm256_loadu_si256((const __m256i *)(y + hi)), 1);
}

/* kn_x8_sums_fn on AVX-512 VNNI: 64 weight bytes a step per row */
static inline __attribute__((always_inline)) void
kn_x8z_sums(const kn_block_q4_K *const *x, int64_t i, const int8_t *yq,
	    const struct kn_x8_heads *h, size_t pf, __m256i *rs)
{
	const __m512i m4 = _mm512_set1_epi8(0x0F);
	/* sub-blocks (4c, 4c + 2) and (4c + 1, 4c + 3) of the column */
	const __m512i yl[2] = { kn_x8z_act(yq, 0, 64), kn_x8z_act(yq, 128, 192) };
	const __m512i yh[2] = { kn_x8z_act(yq, 32, 96), kn_x8z_act(yq, 160, 224) };

	_Pragma("GCC unroll 8")
	for (int k = 0; k < KN_X8_ROWS; k++) {
		const uint8_t *q = x[k][i].qs;
		/* row k's scale bytes in every 128-bit lane */
		const __m512i sx = _mm512_broadcastq_epi64(k % 2
			? _mm256_extracti128_si256(h->sm[k / 2], 1)
			: _mm256_castsi256_si128(h->sm[k / 2]));
		__m512i s = _mm512_setzero_si512();

		kn_x8_prefetch(&x[k][i], pf);
		_Pragma("GCC unroll 2")
		for (int c = 0; c < 2; c++) {
			const __m512i v = _mm512_loadu_si512((const void *)(q + 64 * c));
			const __m512i lo = _mm512_and_si512(v, m4);
			const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);

			s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(lo, yl[c]),
				_mm512_shuffle_epi8(sx, _mm512_load_si512(kn_x8z_sc[2 * c])));
			s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(hi, yh[c]),
				_mm512_shuffle_epi8(sx, _mm512_load_si512(kn_x8z_sc[2 * c + 1])));
		}
		rs[k] = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
	}
}

/**
 * kn_avx512_gemv_q4_K_x8 - kn_avx2_gemv_q4_K_x8 on AVX-512 VNNI: out[r]
 * (+ bias[r]) for the rows [r0, r1) of a Q4_K matrix times one Q8_K column
 */
void kn_avx512_gemv_q4_K_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			    const float *bias, float *out, int64_t r0, int64_t r1)
{
	kn_x8_gemv(n_in, w, wrs, a, bias, out, r0, r1, kn_x8z_sums);
}
