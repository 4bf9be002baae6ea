// SPDX-License-Identifier: MIT
/*
 * Q4_K . Q8_K on AVX2 in the order of llama.cpp's repacked 8x8 kernels, which
 * every Q4_K matrix of 8k rows takes on x86 (kn_ref_dot_q4_K_x8 per output for
 * the gemv, kn_ref_dot_q4_K_x8g for the 4-column gemm): 8 rows in the 8 float
 * lanes, per super-block (gemv) or per 64 values (gemm) one fma of the exact
 * integer sum into acc and one of the mins into accm, then acc - accm. The
 * weights stay in the file's layout: each row's 32-byte group is unpacked as
 * vec_dot does (maddubs with the column, madd with the sub-block scale) and the
 * 8 rows' lane sums are folded into one register by a hadd tree, so only the
 * integer sums are formed differently from llama.cpp's, which cannot change a
 * bit. Holds no state.
 */
#include "kn_avx2.h"
#include "kn_q4_K_x8.h"

#pragma GCC optimize("fp-contract=off")

#define KN_X8_COLS	2	/* columns per tile: 16 ymm registers */

void kn_avx2_gemm_q4_K_x8(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const uint8_t *gemm, const float *bias, float *out,
			  int64_t n_rows, int64_t r0, int64_t r1);
float kn_avx2_dot_q4_K_x8(int64_t n, const void *w, const void *a);

/*
 * 8 rows (@x, super-block arrays; the caller repeats the last row where it
 * has fewer) x NC columns (@y) over nb super-blocks; column c in the gemm's
 * order when @gemm[c], the gemv's otherwise; @res[c] the 8 rows' results
 */
static inline __attribute__((always_inline)) void
kn_x8_tile(const int NC, const kn_block_q4_K *const *x, const kn_block_q8_K *const *y,
	   const uint8_t *gemm, int64_t nb, size_t pf, __m256 *res)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	__m256 acc[KN_X8_COLS], accm[KN_X8_COLS];

	_Pragma("GCC unroll 4")
	for (int c = 0; c < NC; c++)
		acc[c] = accm[c] = _mm256_setzero_ps();
	for (int64_t i = 0; i < nb; i++) {
		uint32_t u[KN_X8_ROWS][4];
		int32_t dd[KN_X8_ROWS];	/* d | dmin << 16 */
		__m128i mins[KN_X8_ROWS];
		__m256 vd[KN_X8_COLS], vm[KN_X8_COLS];

		_Pragma("GCC unroll 8")
		for (int r = 0; r < KN_X8_ROWS; r++) {
			/* the next tile's super-block (@pf bytes on): decode streams W once */
			if (pf) {
				const uint8_t *n = (const uint8_t *)&x[r][i] + pf;

				_mm_prefetch((const char *)n, _MM_HINT_T0);
				_mm_prefetch((const char *)n + 64, _MM_HINT_T0);
				_mm_prefetch((const char *)n + 128, _MM_HINT_T0);
			}
			kn_q4_K_scales_mins(x[r][i].scales, u[r]);
			memcpy(&dd[r], &x[r][i], sizeof(dd[r]));
			/* from registers: an 8-byte load of the two 4-byte stores stalls */
			mins[r] = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(
				(long long)((uint64_t)u[r][2] | (uint64_t)u[r][3] << 32)));
		}
		/* built in registers, not from 2-byte stores (a store-forwarding stall) */
		const __m256i dv = _mm256_setr_epi32(dd[0], dd[1], dd[2], dd[3], dd[4], dd[5], dd[6],
						     dd[7]);
		__m256 dw, dm;

		kn_x8_d_dmin(dv, &dw, &dm);

		/* the mins: m_2p bsum_2p + m_2p+1 bsum_2p+1 per row and pair p, exact */
		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++) {
			const __m256i bs = _mm256_loadu_si256((const __m256i *)y[c][i].bsums);
			const __m128i bsp = _mm_hadd_epi16(_mm256_castsi256_si128(bs),
							   _mm256_extracti128_si256(bs, 1));
			__m256i t[4], im[4];

			vd[c] = _mm256_mul_ps(dw, _mm256_set1_ps(y[c][i].d));
			vm[c] = _mm256_mul_ps(dm, _mm256_set1_ps(y[c][i].d));
			for (int r = 0; r < 4; r++)
				t[r] = _mm256_set_m128i(_mm_madd_epi16(mins[r + 4], bsp),
							_mm_madd_epi16(mins[r], bsp));
			/* transpose: im[p] lane r = row r's pair p */
			const __m256i t01l = _mm256_unpacklo_epi32(t[0], t[1]);
			const __m256i t01h = _mm256_unpackhi_epi32(t[0], t[1]);
			const __m256i t23l = _mm256_unpacklo_epi32(t[2], t[3]);
			const __m256i t23h = _mm256_unpackhi_epi32(t[2], t[3]);

			im[0] = _mm256_unpacklo_epi64(t01l, t23l);
			im[1] = _mm256_unpackhi_epi64(t01l, t23l);
			im[2] = _mm256_unpacklo_epi64(t01h, t23h);
			im[3] = _mm256_unpackhi_epi64(t01h, t23h);
			if (gemm[c]) {
				for (int p = 0; p < 4; p++)
					accm[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(im[p]), vm[c],
								  accm[c]);
			} else {
				const __m256i s = _mm256_add_epi32(_mm256_add_epi32(im[0], im[1]),
								   _mm256_add_epi32(im[2], im[3]));

				accm[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), vm[c], accm[c]);
			}
		}
		/* the quants, pair by pair: per row sc_2p dot_2p + sc_2p+1 dot_2p+1 in 8 lanes */
		__m256i isum[KN_X8_COLS];

		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++)
			isum[c] = _mm256_setzero_si256();
		_Pragma("GCC unroll 4")
		for (int p = 0; p < 4; p++) {
			__m256i yl[KN_X8_COLS], yh[KN_X8_COLS], h[KN_X8_COLS][4];

			_Pragma("GCC unroll 4")
			for (int c = 0; c < NC; c++) {
				yl[c] = _mm256_loadu_si256((const __m256i *)(y[c][i].qs + 64 * p));
				yh[c] = _mm256_loadu_si256((const __m256i *)(y[c][i].qs + 64 * p + 32));
			}
			_Pragma("GCC unroll 4")
			for (int r2 = 0; r2 < 4; r2++) {
				__m256i t[2][KN_X8_COLS];

				_Pragma("GCC unroll 2")
				for (int k = 0; k < 2; k++) {
					const int r = 2 * r2 + k;
					const __m256i q = _mm256_loadu_si256(
						(const __m256i *)(x[r][i].qs + 32 * p));
					const __m256i lo = _mm256_and_si256(q, m4);
					const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
					const uint8_t *sc = (const uint8_t *)u[r];
					const __m256i s0 = _mm256_set1_epi16(sc[2 * p]);
					const __m256i s1 = _mm256_set1_epi16(sc[2 * p + 1]);

					_Pragma("GCC unroll 4")
					for (int c = 0; c < NC; c++)
						t[k][c] = _mm256_add_epi32(
							_mm256_madd_epi16(_mm256_maddubs_epi16(lo, yl[c]), s0),
							_mm256_madd_epi16(_mm256_maddubs_epi16(hi, yh[c]), s1));
				}
				_Pragma("GCC unroll 4")
				for (int c = 0; c < NC; c++)
					h[c][r2] = _mm256_hadd_epi32(t[0][c], t[1][c]);
			}
			_Pragma("GCC unroll 4")
			for (int c = 0; c < NC; c++) {
				const __m256i s = kn_x8_fold(_mm256_hadd_epi32(h[c][0], h[c][1]),
							     _mm256_hadd_epi32(h[c][2], h[c][3]));

				if (gemm[c])
					acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), vd[c], acc[c]);
				else
					isum[c] = _mm256_add_epi32(isum[c], s);
			}
		}
		_Pragma("GCC unroll 4")
		for (int c = 0; c < NC; c++)
			if (!gemm[c])
				acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), vd[c], acc[c]);
	}
	_Pragma("GCC unroll 4")
	for (int c = 0; c < NC; c++)
		res[c] = _mm256_sub_ps(acc[c], accm[c]);
}

/*
 * kn_x8_sums_fn on AVX2: each row's sum in one register, each sub-block's
 * scale broadcast from memory (the heads' scale bytes widened and stored
 * once a super-block): on Zen 4 a vpbroadcastw from memory goes to the load
 * ports where the vpshufb from a register it replaces took one of the four
 * vector pipes this loop is bound on (12 ops per 32 weight bytes, now 10):
 * hot 27.5 -> 28.6 GB/s, cold +3-5%. The memory clobber keeps the compiler
 * from turning the loads back into extracts and register broadcasts.
 */
static inline __attribute__((always_inline)) void
kn_x8_sums(const kn_block_q4_K *const *x, int64_t i, const int8_t *yq,
	   const struct kn_x8_heads *h, size_t pf, __m256i *rs)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	/* sc[2k]: row 2k's 8 scales, then row 2k+1's, as int16 */
	int16_t sc[KN_X8_ROWS][8] __attribute__((aligned(32)));

	_Pragma("GCC unroll 4")
	for (int k = 0; k < KN_X8_ROWS / 2; k++)
		_mm256_store_si256((__m256i *)sc[2 * k],
				   _mm256_unpacklo_epi8(h->sm[k], _mm256_setzero_si256()));
	__asm__ volatile("" ::: "memory");
	_Pragma("GCC unroll 8")
	for (int k = 0; k < KN_X8_ROWS; k++) {
		const uint8_t *q = x[k][i].qs;
		__m256i s = _mm256_setzero_si256();

		kn_x8_prefetch(&x[k][i], pf);
		_Pragma("GCC unroll 4")
		for (int p = 0; p < 4; p++) {
			const __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * p));
			const __m256i lo = _mm256_and_si256(v, m4);
			const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
			const __m256i yl = _mm256_loadu_si256((const __m256i *)(yq + 64 * p));
			const __m256i yh = _mm256_loadu_si256((const __m256i *)(yq + 64 * p + 32));

			s = _mm256_add_epi32(s, _mm256_add_epi32(
				_mm256_madd_epi16(_mm256_maddubs_epi16(lo, yl),
						  _mm256_set1_epi16(sc[k][2 * p])),
				_mm256_madd_epi16(_mm256_maddubs_epi16(hi, yh),
						  _mm256_set1_epi16(sc[k][2 * p + 1]))));
		}
		rs[k] = s;
	}
}

/**
 * kn_avx2_gemv_q4_K_x8 - out[r] (+ bias[r]) for the rows [r0, r1) of a Q4_K
 * matrix (rows of @wrs bytes) times one Q8_K column @a, in the gemv's order
 * (kn_x8_gemv with kn_x8_sums). 2.3x kn_x8_tile's speed on Zen 4, where its
 * per-pair folds, scalar scale decode and spills left it compute-bound at 10
 * GB/s. Its own function: inlined beside kn_x8_tile, the compiler allocated
 * it worse (cold 14-23 GB/s from run to run instead of 25).
 */
void kn_avx2_gemv_q4_K_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			  const float *bias, float *out, int64_t r0, int64_t r1)
{
	kn_x8_gemv(n_in, w, wrs, a, bias, out, r0, r1, kn_x8_sums);
}

static void kn_x8_tile_n(int nc, const kn_block_q4_K *const *x, const kn_block_q8_K *const *y,
			 const uint8_t *gemm, int64_t nb, size_t pf, __m256 *res)
{
	if (nc >= 2)
		kn_x8_tile(2, x, y, gemm, nb, 0, res);
	else
		kn_x8_tile(1, x, y, gemm, nb, pf, res);
}

/**
 * kn_avx2_gemm_q4_K_x8 - out[c][r] (+ bias[r], 0 without one) for every column
 * and the rows [r0, r1) of a Q4_K matrix (rows of @wrs bytes) times Q8_K
 * activations (@ars bytes a column), column c in the gemm's order where
 * @gemm[c], the gemv's otherwise; out is [n_cols][n_rows]. A lone column in
 * the gemv's order (decode) is kn_avx2_gemv_q4_K_x8's.
 */
void kn_avx2_gemm_q4_K_x8(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const uint8_t *gemm, const float *bias, float *out,
			  int64_t n_rows, int64_t r0, int64_t r1)
{
	const int64_t nb = n_in / KN_QK_K;

	for (int64_t r = r0; r < r1; r += KN_X8_ROWS) {
		const kn_block_q4_K *x[KN_X8_ROWS];
		float b[KN_X8_ROWS];
		const int m = kn_x8_rows(w, wrs, bias, r, r1, x, b);

		for (int64_t c = 0; c < n_cols; c += KN_X8_COLS) {
			const int nc = n_cols - c < KN_X8_COLS ? (int)(n_cols - c) : KN_X8_COLS;
			const kn_block_q8_K *y[KN_X8_COLS];
			__m256 res[KN_X8_COLS];

			for (int k = 0; k < nc; k++)
				y[k] = (const kn_block_q8_K *)((const uint8_t *)a + (size_t)(c + k) * ars);
			/* one column: fetch the next 8 rows while these compute */
			kn_x8_tile_n(nc, x, y, gemm + c, nb,
				     n_cols == 1 && r + 2 * KN_X8_ROWS <= r1 ? KN_X8_ROWS * wrs : 0, res);
			for (int k = 0; k < nc; k++) {
				float o[KN_X8_ROWS];

				_mm256_storeu_ps(o, _mm256_add_ps(res[k], _mm256_loadu_ps(b)));
				memcpy(out + (c + k) * n_rows + r, o, (size_t)m * sizeof(float));
			}
		}
	}
}

/* one output in the gemv's order (a MoE expert's rows: llama.cpp's MUL_MAT_ID
 * takes the gemv for every routed column): the same sums for one row */
float kn_avx2_dot_q4_K_x8(int64_t n, const void *w, const void *a)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	const kn_block_q4_K *x = w;
	const kn_block_q8_K *y = a;
	float acc = 0, accm = 0;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		uint32_t u[4];
		__m256i s = _mm256_setzero_si256();

		kn_q4_K_scales_mins(x[i].scales, u);
		const uint8_t *sc = (const uint8_t *)u;
		const __m128i mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(
			(long long)((uint64_t)u[2] | (uint64_t)u[3] << 32)));
		const __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
		const __m128i bsp = _mm_hadd_epi16(_mm256_castsi256_si128(bs),
						   _mm256_extracti128_si256(bs, 1));
		__m128i m = _mm_madd_epi16(mins, bsp);

		for (int p = 0; p < 4; p++) {
			const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * p));
			const __m256i yl = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * p));
			const __m256i yh = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * p + 32));

			s = _mm256_add_epi32(s, _mm256_add_epi32(
				_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(q, m4), yl),
						  _mm256_set1_epi16(sc[2 * p])),
				_mm256_madd_epi16(_mm256_maddubs_epi16(
					_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), yh),
						  _mm256_set1_epi16(sc[2 * p + 1]))));
		}
		m = _mm_add_epi32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
		m = _mm_add_epi32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
		acc = fmaf((float)kn_avx2_hsum_epi32(s), kn_avx2_h2f(x[i].d) * y[i].d, acc);
		accm = fmaf((float)_mm_cvtsi128_si32(m), kn_avx2_h2f(x[i].dmin) * y[i].d, accm);
	}
	return acc - accm;
}
