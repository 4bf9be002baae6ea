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
float kn_ref_dot_q4_0(int64_t n, const void *vw, const void *va)
{
	const kn_block_q4_0 *w = vw;
	const kn_block_q8_0 *a = va;
	float sum = 0;

	for (int64_t i = 0; i < n / KN_QK4_0; i++) {
		int isum = 0;

		for (int j = 0; j < KN_QK4_0 / 2; j++) {
			isum += ((w[i].qs[j] & 0x0F) - 8) * a[i].qs[j];
			isum += ((w[i].qs[j] >> 4) - 8) * a[i].qs[j + KN_QK4_0 / 2];
		}
		sum += isum * kn_h2f(w[i].d) * kn_h2f(a[i].d);
	}
	return sum;
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
 * Q4_K . Q8_K: per super-block, isum = sum_j sc_j * dot(q4 sub-block j, q8)
 * and msum = sum_j m_j * (sum of q8 in sub-block j, from bsums); the block
 * adds d_w*d_a*isum - dmin_w*d_a*msum.
 */
float kn_ref_dot_q4_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q4_K *w = vw;
	const kn_block_q8_K *a = va;
	float sum = 0;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const uint8_t *q4 = w[i].qs;
		const int8_t *q8 = a[i].qs;
		int isum = 0, msum = 0;

		for (int j = 0; j < KN_QK_K / 64; j++, q4 += 32, q8 += 64) {
			uint8_t sc0, m0, sc1, m1;
			int s0 = 0, s1 = 0;

			kn_get_scale_min_k4(2 * j, w[i].scales, &sc0, &m0);
			kn_get_scale_min_k4(2 * j + 1, w[i].scales, &sc1, &m1);
			for (int l = 0; l < 32; l++) {
				s0 += (q4[l] & 0xF) * q8[l];
				s1 += (q4[l] >> 4) * q8[l + 32];
			}
			isum += sc0 * s0 + sc1 * s1;
			msum += m0 * (a[i].bsums[4 * j] + a[i].bsums[4 * j + 1]) +
				m1 * (a[i].bsums[4 * j + 2] + a[i].bsums[4 * j + 3]);
		}
		const float d = kn_h2f(w[i].d) * a[i].d;
		const float dmin = kn_h2f(w[i].dmin) * a[i].d;

		sum += d * (float)isum - dmin * (float)msum;
	}
	return sum;
}

/* Q5_K . Q8_K: as Q4_K with a fifth bit from qh */
float kn_ref_dot_q5_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q5_K *w = vw;
	const kn_block_q8_K *a = va;
	float sum = 0;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const uint8_t *ql = w[i].qs, *qh = w[i].qh;
		const int8_t *q8 = a[i].qs;
		int isum = 0, msum = 0;

		for (int j = 0; j < KN_QK_K / 64; j++, ql += 32, q8 += 64) {
			uint8_t sc0, m0, sc1, m1;
			int s0 = 0, s1 = 0;

			kn_get_scale_min_k4(2 * j, w[i].scales, &sc0, &m0);
			kn_get_scale_min_k4(2 * j + 1, w[i].scales, &sc1, &m1);
			for (int l = 0; l < 32; l++) {
				int v0 = (ql[l] & 0xF) | (((qh[l] >> (2 * j)) & 1) << 4);
				int v1 = (ql[l] >> 4) | (((qh[l] >> (2 * j + 1)) & 1) << 4);

				s0 += v0 * q8[l];
				s1 += v1 * q8[l + 32];
			}
			isum += sc0 * s0 + sc1 * s1;
			msum += m0 * (a[i].bsums[4 * j] + a[i].bsums[4 * j + 1]) +
				m1 * (a[i].bsums[4 * j + 2] + a[i].bsums[4 * j + 3]);
		}
		const float d = kn_h2f(w[i].d) * a[i].d;
		const float dmin = kn_h2f(w[i].dmin) * a[i].d;

		sum += d * (float)isum - dmin * (float)msum;
	}
	return sum;
}

/* Q6_K . Q8_K: isum = sum over the 16 sub-blocks of sc_j * dot(q6 - 32, q8) */
float kn_ref_dot_q6_K(int64_t n, const void *vw, const void *va)
{
	const kn_block_q6_K *w = vw;
	const kn_block_q8_K *a = va;
	float sum = 0;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const uint8_t *ql = w[i].ql, *qh = w[i].qh;
		const int8_t *sc = w[i].scales, *q8 = a[i].qs;
		int8_t q[KN_QK_K];
		int isum = 0;

		for (int b = 0; b < KN_QK_K; b += 128, ql += 64, qh += 32) {
			for (int l = 0; l < 32; l++) {
				q[b + l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
				q[b + l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
				q[b + l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
				q[b + l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
			}
		}
		for (int j = 0; j < KN_QK_K / 16; j++) {
			int s = 0;

			for (int l = 0; l < 16; l++)
				s += q[16 * j + l] * q8[16 * j + l];
			isum += sc[j] * s;
		}
		sum += (kn_h2f(w[i].d) * a[i].d) * (float)isum;
	}
	return sum;
}
