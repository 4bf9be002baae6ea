// SPDX-License-Identifier: MIT
/*
 * Scalar reference dot products: a weight row of each MATMUL type against an
 * activation row of its kn_vec_dot_type. Quantized dots are ggml's integer
 * math: exact integer sums per (sub-)block, then the block scales in float.
 */
#include <math.h>
#include "kn_internal.h"

float kn_ref_dot_f32(int64_t n, const void *vw, const void *va)
{
	const float *w = vw, *a = va;
	double sum = 0;

	for (int64_t i = 0; i < n; i++)
		sum += (double)(w[i] * a[i]);
	return (float)sum;
}

float kn_ref_dot_f16(int64_t n, const void *vw, const void *va)
{
	const uint16_t *w = vw, *a = va;
	double sum = 0;

	for (int64_t i = 0; i < n; i++)
		sum += (double)(kn_fp16_to_fp32(w[i]) * kn_fp16_to_fp32(a[i]));
	return (float)sum;
}

float kn_ref_dot_bf16(int64_t n, const void *vw, const void *va)
{
	const uint16_t *w = vw, *a = va;
	double sum = 0;

	for (int64_t i = 0; i < n; i++)
		sum += (double)(kn_bf16_to_fp32(w[i]) * kn_bf16_to_fp32(a[i]));
	return (float)sum;
}

/* Q4_0 . Q8_0: sum over blocks of isum * d_w * d_a, q4 offset by -8 */
/* one block's exact (x - 8) . y */
static inline int kn_q4_0_isum(const kn_block_q4_0 *w, const kn_block_q8_0 *a)
{
	int isum = 0;

	for (int j = 0; j < KN_QK4_0 / 2; j++) {
		isum += ((w->qs[j] & 0x0F) - 8) * a->qs[j];
		isum += ((w->qs[j] >> 4) - 8) * a->qs[j + KN_QK4_0 / 2];
	}
	return isum;
}

float kn_ref_dot_q4_0(int64_t n, const void *vw, const void *va)
{
	const kn_block_q4_0 *w = vw;
	const kn_block_q8_0 *a = va;
	float sum = 0;

	for (int64_t i = 0; i < n / KN_QK4_0; i++)
		sum += kn_q4_0_isum(&w[i], &a[i]) * kn_h2f(w[i].d) * kn_h2f(a[i].d);
	return sum;
}

/*
 * Q4_0 as llama.cpp's x86 builds compute a matrix they repack to 8x8 blocks
 * (ggml_gemv/gemm_q4_0_8x8_q8_0: rows a multiple of 8, AVX2 or AVX-512):
 * per block the exact integer sum, then one fused step per block,
 * acc = fma(isum, d_w * d_a, acc), and no final reduction
 */
float kn_ref_dot_q4_0_x8(int64_t n, const void *vw, const void *va)
{
	const kn_block_q4_0 *w = vw;
	const kn_block_q8_0 *a = va;
	float acc = 0;

	for (int64_t i = 0; i < n / KN_QK4_0; i++)
		acc = fmaf((float)kn_q4_0_isum(&w[i], &a[i]), kn_h2f(w[i].d) * kn_h2f(a[i].d), acc);
	return acc;
}

/*
 * ggml-cpu's x86 hsum_float_8 of 8 float lanes (what the AVX2 dots and
 * llama.cpp's x86 build reduce with)
 */
static float kn_hsum8(const float *v)
{
	const float r0 = v[4] + v[0], r1 = v[5] + v[1], r2 = v[6] + v[2], r3 = v[7] + v[3];

	return (r0 + r2) + (r1 + r3);
}

/*
 * Q4_1 . Q8_1 and Q8_0 . Q8_0 in llama.cpp's x86 order (bit-identical to the
 * AVX2 versions): 8 float lanes, lane l of block i gets fma(d_w * d_a,
 * isum over elements 4l..4l+3, lane); the Q4_1 min term m_w * s_a is
 * accumulated separately (fused), added after the lane sum.
 */
float kn_ref_dot_q4_1(int64_t n, const void *vw, const void *va)
{
	const kn_block_q4_1 *w = vw;
	const kn_block_q8_1 *a = va;
	float acc[8] = { 0 }, summs = 0;

	for (int64_t i = 0; i < n / KN_QK4_1; i++) {
		const float d = kn_h2f(w[i].d) * kn_h2f(a[i].d);

		for (int l = 0; l < 8; l++) {
			int isum = 0;

			for (int j = 4 * l; j < 4 * l + 4; j++) {
				const int q = j < 16 ? w[i].qs[j] & 0x0F : w[i].qs[j - 16] >> 4;

				isum += q * a[i].qs[j];
			}
			acc[l] = fmaf(d, (float)isum, acc[l]);
		}
		summs = fmaf(kn_h2f(w[i].m), kn_h2f(a[i].s), summs);
	}
	return kn_hsum8(acc) + summs;
}

float kn_ref_dot_q8_0(int64_t n, const void *vw, const void *va)
{
	const kn_block_q8_0 *w = vw;
	const kn_block_q8_0 *a = va;
	float acc[8] = { 0 };

	for (int64_t i = 0; i < n / KN_QK8_0; i++) {
		const float d = kn_h2f(w[i].d) * kn_h2f(a[i].d);

		for (int l = 0; l < 8; l++) {
			int isum = 0;

			for (int j = 4 * l; j < 4 * l + 4; j++)
				isum += w[i].qs[j] * a[i].qs[j];
			acc[l] = fmaf(d, (float)isum, acc[l]);
		}
	}
	return kn_hsum8(acc);
}

/*
 * The K-quant dots reproduce llama.cpp's x86 AVX2 arithmetic exactly (its
 * ggml_vec_dot_q{4,5,6}_K_q8_K): per super-block, integer sums kept in 8
 * lanes (lane L takes bytes 4L..4L+3 of each 32-quant vector), each lane
 * scaled into its own float accumulator with a fused multiply-add, the lanes
 * reduced at the end as hsum_float_8 does; the mins terms as ggml does them.
 * kn_dot_avx2.c does the same in vector registers.
 */
/* Q4_K . Q8_K: lanes += sc_j * q4 * q8; 4 min lanes += m * (bsum pairs) */
float kn_ref_dot_q4_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q4_K *w = vw;
	const kn_block_q8_K *a = va;
	float acc[8] = { 0 }, accm[4] = { 0 };

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const float d = a[i].d * kn_h2f(w[i].d);
		const float dmin = -a[i].d * kn_h2f(w[i].dmin);
		uint8_t sc[8], m[8];
		int lane[8] = { 0 };

		for (int j = 0; j < 8; j++)
			kn_get_scale_min_k4(j, w[i].scales, &sc[j], &m[j]);
		for (int j = 0; j < 4; j++) {
			const uint8_t *q4 = w[i].qs + 32 * j;
			const int8_t *q8 = a[i].qs + 64 * j;

			for (int b = 0; b < 32; b++)
				lane[b / 4] += sc[2 * j] * ((q4[b] & 0xF) * q8[b]) +
					       sc[2 * j + 1] * ((q4[b] >> 4) * q8[32 + b]);
		}
		for (int l = 0; l < 8; l++)
			acc[l] = fmaf(d, (float)lane[l], acc[l]);
		for (int k = 0; k < 4; k++) {
			const int16_t *bs = a[i].bsums + 4 * k;
			const int prod = m[2 * k] * (bs[0] + bs[1]) + m[2 * k + 1] * (bs[2] + bs[3]);

			accm[k] = fmaf(dmin, (float)prod, accm[k]);
		}
	}
	return kn_hsum8(acc) + ((accm[0] + accm[2]) + (accm[1] + accm[3]));
}

/*
 * Q4_K as llama.cpp's x86 builds compute a matrix they repack to 8x8 blocks
 * (ggml_gemv_q4_K_8x8_q8_K / ggml_gemm_q4_K_8x8_q8_K: rows a multiple of 8,
 * AVX2 or AVX-512). Per super-block and pair p of 32-value sub-blocks the
 * exact integer sums sc_2p dot_2p + sc_2p+1 dot_2p+1 and m_2p bsum_2p +
 * m_2p+1 bsum_2p+1; two float accumulators, acc (d_w * d_a) and accm
 * (dmin_w * d_a), and the result acc - accm. @per_pair: one fma per pair,
 * as the 4-column gemm does; otherwise one per super-block over the 4 pairs'
 * integer total, as the gemv (one column, and a batch's last n % 4) does.
 */
static float kn_q4_K_x8(int64_t n, const void *vw, const void *va, bool per_pair)
{
	const kn_block_q4_K *w = vw;
	const kn_block_q8_K *a = va;
	float acc = 0, accm = 0;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const float d = kn_h2f(w[i].d) * a[i].d, dm = kn_h2f(w[i].dmin) * a[i].d;
		int isum = 0, imin = 0;

		for (int p = 0; p < 4; p++) {
			const uint8_t *q4 = w[i].qs + 32 * p;
			const int8_t *q8 = a[i].qs + 64 * p;
			const int16_t *bs = a[i].bsums + 4 * p;
			uint8_t sc0, m0, sc1, m1;
			int d0 = 0, d1 = 0;

			kn_get_scale_min_k4(2 * p, w[i].scales, &sc0, &m0);
			kn_get_scale_min_k4(2 * p + 1, w[i].scales, &sc1, &m1);
			for (int b = 0; b < 32; b++) {
				d0 += (q4[b] & 0xF) * q8[b];
				d1 += (q4[b] >> 4) * q8[32 + b];
			}
			const int s = sc0 * d0 + sc1 * d1;
			const int m = m0 * (bs[0] + bs[1]) + m1 * (bs[2] + bs[3]);

			if (per_pair) {
				acc = fmaf((float)s, d, acc);
				accm = fmaf((float)m, dm, accm);
			} else {
				isum += s;
				imin += m;
			}
		}
		if (!per_pair) {
			acc = fmaf((float)isum, d, acc);
			accm = fmaf((float)imin, dm, accm);
		}
	}
	return acc - accm;
}

float kn_ref_dot_q4_K_x8(int64_t n, const void *vw, const void *va)
{
	return kn_q4_K_x8(n, vw, va, false);
}

float kn_ref_dot_q4_K_x8g(int64_t n, const void *vw, const void *va)
{
	return kn_q4_K_x8(n, vw, va, true);
}

/* Q5_K . Q8_K: as Q4_K with the fifth bit; the mins in one fused scalar sum */
float kn_ref_dot_q5_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q5_K *w = vw;
	const kn_block_q8_K *a = va;
	float acc[8] = { 0 }, summs = 0;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const float d = a[i].d * kn_h2f(w[i].d);
		const float dmin = -a[i].d * kn_h2f(w[i].dmin);
		const uint8_t *qh = w[i].qh;
		uint8_t sc[8], m[8];
		int lane[8] = { 0 }, msum = 0;

		for (int j = 0; j < 8; j++) {
			kn_get_scale_min_k4(j, w[i].scales, &sc[j], &m[j]);
			msum += m[j] * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
		}
		summs = fmaf(dmin, (float)msum, summs);
		for (int j = 0; j < 4; j++) {
			const uint8_t *ql = w[i].qs + 32 * j;
			const int8_t *q8 = a[i].qs + 64 * j;

			for (int b = 0; b < 32; b++) {
				const int v0 = (ql[b] & 0xF) | (((qh[b] >> (2 * j)) & 1) << 4);
				const int v1 = (ql[b] >> 4) | (((qh[b] >> (2 * j + 1)) & 1) << 4);

				lane[b / 4] += sc[2 * j] * (v0 * q8[b]) + sc[2 * j + 1] * (v1 * q8[32 + b]);
			}
		}
		for (int l = 0; l < 8; l++)
			acc[l] = fmaf(d, (float)lane[l], acc[l]);
	}
	return kn_hsum8(acc) + summs;
}

/* Q6_K . Q8_K: lanes += sc * q6 * q8 (q6 unsigned), minus 32 * the scaled bsums */
float kn_ref_dot_q6_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q6_K *w = vw;
	const kn_block_q8_K *a = va;
	float acc[8] = { 0 };

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const float d = a[i].d * kn_h2f(w[i].d);
		const int8_t *sc = w[i].scales;
		int lane[8] = { 0 };

		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = w[i].ql + 64 * h, *qh = w[i].qh + 32 * h;
			const int8_t *q8 = a[i].qs + 128 * h;

			for (int b = 0; b < 32; b++) {
				const int q0 = (ql[b] & 0xF) | ((qh[b] & 3) << 4);
				const int q1 = (ql[32 + b] & 0xF) | (((qh[b] >> 2) & 3) << 4);
				const int q2 = (ql[b] >> 4) | (((qh[b] >> 4) & 3) << 4);
				const int q3 = (ql[32 + b] >> 4) | (((qh[b] >> 6) & 3) << 4);
				const int s = b / 16;

				lane[b / 4] += sc[8 * h + s] * (q0 * q8[b]) +
					       sc[8 * h + 2 + s] * (q1 * q8[32 + b]) +
					       sc[8 * h + 4 + s] * (q2 * q8[64 + b]) +
					       sc[8 * h + 6 + s] * (q3 * q8[96 + b]);
			}
		}
		for (int l = 0; l < 8; l++) {
			lane[l] -= 32 * (a[i].bsums[2 * l] * sc[2 * l] + a[i].bsums[2 * l + 1] * sc[2 * l + 1]);
			acc[l] = fmaf(d, (float)lane[l], acc[l]);
		}
	}
	return kn_hsum8(acc);
}
