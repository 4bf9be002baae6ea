// SPDX-License-Identifier: MIT
/*
 * K-quant batches in llama.cpp's tiled order (ggml-cpu/tiled/: the MUL_MAT
 * of a Q6_K, Q5_K or not-repacked Q4_K matrix with >= 8 columns, on its
 * AVX2 and AVX-512 builds; its generic build has no tiled path). Per output
 * (row, column), for each 256-value super-block in order:
 *
 *	s1 = sum_s scale_s * sum_{e in s} q_e * a_e	(exact int32; Q6_K q
 *						 signed, q6 - 32)
 *	s2 = sum_s min_s * (bsums of s)		(Q4_K/Q5_K, exact int32)
 *	r  = (float)s1 * d_w
 *	r  = fmaf(-dmin_w, (float)s2, r)		(Q4_K/Q5_K only)
 *	acc = fmaf(r, d_a, acc)			(acc from 0.0f)
 *
 * then out = acc (+ bias, a float add as ggml's ADD). The VNNI microkernel
 * (dpbusd on biased codes, 32 * bsums taken off), the AVX2 one (act-bias
 * +128, the correction taken off at the end) and the AVX one give the same
 * integers; the float steps are vmulps, vfnmadd and one fma into the
 * window buffer in all of them (the VNNI add(buf, mul(r, d_a)) is
 * contracted by GCC: its object has vfmadd213ps there). The activation is
 * Q8_K as for vec_dot (quantize_row_q8_K).
 */
#include "kn_internal.h"

#pragma GCC optimize("fp-contract=off")

/* the 256 6-bit values of a Q6_K super-block in activation order, less 32 */
static void kn_tiled_codes_q6_K(const kn_block_q6_K *x, int8_t q[KN_QK_K])
{
	for (int h = 0; h < 2; h++) {
		const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
		int8_t *o = q + 128 * h;

		for (int b = 0; b < 32; b++) {
			o[b] = (int8_t)(((ql[b] & 0xF) | ((qh[b] & 3) << 4)) - 32);
			o[32 + b] = (int8_t)(((ql[32 + b] & 0xF) | (((qh[b] >> 2) & 3) << 4)) - 32);
			o[64 + b] = (int8_t)(((ql[b] >> 4) | (((qh[b] >> 4) & 3) << 4)) - 32);
			o[96 + b] = (int8_t)(((ql[32 + b] >> 4) | (((qh[b] >> 6) & 3) << 4)) - 32);
		}
	}
}

/* the 256 4/5-bit values of a Q4_K (qh NULL) or Q5_K super-block in activation order */
static void kn_tiled_codes_k4(const uint8_t *qs, const uint8_t *qh, uint8_t q[KN_QK_K])
{
	for (int j = 0; j < 4; j++)
		for (int b = 0; b < 32; b++) {
			q[64 * j + b] = (qs[32 * j + b] & 0xF) |
					(qh ? ((qh[b] >> (2 * j)) & 1) << 4 : 0);
			q[64 * j + 32 + b] = (qs[32 * j + b] >> 4) |
					     (qh ? ((qh[b] >> (2 * j + 1)) & 1) << 4 : 0);
		}
}

float kn_ref_tiled_q6_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q6_K *w = vw;
	const kn_block_q8_K *a = va;
	float acc = 0.0f;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		int8_t q[KN_QK_K];
		int32_t s1 = 0;

		kn_tiled_codes_q6_K(&w[i], q);
		for (int s = 0; s < 16; s++) {
			int32_t raw = 0;

			for (int e = 16 * s; e < 16 * s + 16; e++)
				raw += q[e] * a[i].qs[e];
			s1 += w[i].scales[s] * raw;
		}
		acc = fmaf((float)s1 * kn_h2f(w[i].d), a[i].d, acc);
	}
	return acc;
}

/* Q4_K (qh NULL) and Q5_K: 8 sub-blocks of 32, 6-bit scales and mins */
static float kn_tiled_k4(int64_t n, const void *vw, size_t bs, const void *va, bool q5)
{
	const kn_block_q8_K *a = va;
	float acc = 0.0f;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const uint8_t *blk = (const uint8_t *)vw + i * bs;
		const kn_block_q4_K *x4 = (const kn_block_q4_K *)blk;
		const kn_block_q5_K *x5 = (const kn_block_q5_K *)blk;
		uint8_t q[KN_QK_K];
		uint32_t u[4];
		const uint8_t *sc = (const uint8_t *)u, *mn = (const uint8_t *)u + 8;
		int32_t s1 = 0, s2 = 0;
		float r;

		kn_q4_K_scales_mins(q5 ? x5->scales : x4->scales, u);
		kn_tiled_codes_k4(q5 ? x5->qs : x4->qs, q5 ? x5->qh : NULL, q);
		for (int s = 0; s < 8; s++) {
			int32_t raw = 0;

			for (int e = 32 * s; e < 32 * s + 32; e++)
				raw += q[e] * a[i].qs[e];
			s1 += sc[s] * raw;
			s2 += mn[s] * (a[i].bsums[2 * s] + a[i].bsums[2 * s + 1]);
		}
		r = (float)s1 * kn_h2f(q5 ? x5->d : x4->d);
		r = fmaf(-kn_h2f(q5 ? x5->dmin : x4->dmin), (float)s2, r);
		acc = fmaf(r, a[i].d, acc);
	}
	return acc;
}

float kn_ref_tiled_q5_K(int64_t n, const void *vw, const void *va)
{
	return kn_tiled_k4(n, vw, sizeof(kn_block_q5_K), va, true);
}

float kn_ref_tiled_q4_K(int64_t n, const void *vw, const void *va)
{
	return kn_tiled_k4(n, vw, sizeof(kn_block_q4_K), va, false);
}

/*
 * llama.cpp's x86 builds take a MUL_MAT to tiled/ when src0 is Q6_K or Q5_K,
 * or Q4_K that its repack left alone (rows not a multiple of 8), and src1
 * has >= 8 columns (ggml_tiled_min_batch); its generic build never does
 */
bool kn_mat_tiled(uint32_t type, int64_t mat_rows)
{
	if (kn_isa_get() < KN_ISA_AVX2)
		return false;
	return type == KN_Q6_K || type == KN_Q5_K || (type == KN_Q4_K && mat_rows % 8);
}

/* the sequence of column j: seq[idx[j]], or seq[j] without @idx */
static int32_t kn_seq_at(const int32_t *seq, const int32_t *idx, int64_t j)
{
	return seq[idx ? idx[j] : j];
}

bool kn_seq_tiled(const int32_t *seq, const int32_t *idx, int64_t n, int64_t i)
{
	const int32_t s = kn_seq_at(seq, idx, i);
	int64_t k = 1;

	/* a prompt's columns are neighbours: count those first, and stop at
	 * the threshold (a whole run per column made a long prompt O(n^2)) */
	for (int64_t j = i - 1; j >= 0 && kn_seq_at(seq, idx, j) == s && k < KN_TILED_MIN_COLS; j--)
		k++;
	for (int64_t j = i + 1; j < n && kn_seq_at(seq, idx, j) == s && k < KN_TILED_MIN_COLS; j++)
		k++;
	if (k >= KN_TILED_MIN_COLS)
		return true;
	k = 0;
	for (int64_t j = 0; j < n && k < KN_TILED_MIN_COLS; j++)
		k += kn_seq_at(seq, idx, j) == s;
	return k >= KN_TILED_MIN_COLS;
}

kn_dot_fn kn_tiled_dot_get(enum kn_isa isa, uint32_t type)
{
	if (isa >= KN_ISA_AVX2) {
		kn_dot_fn f = kn_avx2_tiled_dot_get(type);

		if (f)
			return f;
	}
	switch (type) {
	case KN_Q6_K:
		return kn_ref_tiled_q6_K;
	case KN_Q5_K:
		return kn_ref_tiled_q5_K;
	case KN_Q4_K:
		return kn_ref_tiled_q4_K;
	default:
		return NULL;
	}
}
