// SPDX-License-Identifier: MIT
/*
 * Scalar reference quantize/dequantize for the 256-element "K" super-block
 * types (Q4_K Q5_K Q6_K, and the Q8_K activation type), following ggml's
 * quantize_row_*_ref search (make_qkx2_quants / make_qx_quants) so model
 * writers produce the blocks llama.cpp would.
 */
#include <math.h>
#include "kn_internal.h"

#define KN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KN_MAX(a, b) ((a) > (b) ? (a) : (b))
#define KN_GROUP_MAX_EPS 1e-15f

/*
 * Asymmetric n-level fit of x (weights w): L in [0, nmax], x ~ scale*L - min.
 * Start from the min/max grid, then try nstep+1 rescaled grids, each refit
 * by weighted least squares; keep the best weighted squared error.
 */
static float kn_make_qkx2_quants(int n, int nmax, const float *x, const float *w,
				 uint8_t *L, float *the_min, uint8_t *Laux,
				 float rmin, float rdelta, int nstep)
{
	float min = x[0], max = x[0];
	float sum_w = w[0], sum_x = sum_w * x[0];

	for (int i = 1; i < n; i++) {
		if (x[i] < min)
			min = x[i];
		if (x[i] > max)
			max = x[i];
		sum_w += w[i];
		sum_x += w[i] * x[i];
	}
	if (min > 0)
		min = 0;
	if (max == min) {
		memset(L, 0, (size_t)n);
		*the_min = -min;
		return 0.f;
	}
	float iscale = nmax / (max - min);
	float scale = 1 / iscale;
	float best_error = 0;

	for (int i = 0; i < n; i++) {
		int l = kn_nearest_int(iscale * (x[i] - min));

		L[i] = (uint8_t)KN_MAX(0, KN_MIN(nmax, l));
		float diff = scale * L[i] + min - x[i];

		diff = diff * diff;
		best_error += w[i] * diff;
	}
	for (int is = 0; is <= nstep; is++) {
		float sum_l = 0, sum_l2 = 0, sum_xl = 0;

		iscale = (rmin + rdelta * is + nmax) / (max - min);
		for (int i = 0; i < n; i++) {
			int l = kn_nearest_int(iscale * (x[i] - min));

			l = KN_MAX(0, KN_MIN(nmax, l));
			Laux[i] = (uint8_t)l;
			sum_l += w[i] * l;
			sum_l2 += w[i] * l * l;
			sum_xl += w[i] * l * x[i];
		}
		float D = sum_w * sum_l2 - sum_l * sum_l;

		if (D > 0) {
			float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
			float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
			float cur_error = 0;

			if (this_min > 0) {
				this_min = 0;
				this_scale = sum_xl / sum_l2;
			}
			for (int i = 0; i < n; i++) {
				float diff = this_scale * Laux[i] + this_min - x[i];

				diff = diff * diff;
				cur_error += w[i] * diff;
			}
			if (cur_error < best_error) {
				memcpy(L, Laux, (size_t)n);
				best_error = cur_error;
				scale = this_scale;
				min = this_min;
			}
		}
	}
	*the_min = -min;
	return scale;
}

/* Symmetric fit with weights x^2 (ggml's rmse_type 1): L in [0, 2*nmax) */
static float kn_make_qx_quants(int n, int nmax, const float *x, int8_t *L)
{
	float max = 0, amax = 0;

	for (int i = 0; i < n; i++) {
		float ax = fabsf(x[i]);

		if (ax > amax) {
			amax = ax;
			max = x[i];
		}
	}
	if (amax < KN_GROUP_MAX_EPS) {
		memset(L, 0, (size_t)n);
		return 0.f;
	}
	float iscale = -nmax / max;
	float sumlx = 0, suml2 = 0;

	for (int i = 0; i < n; i++) {
		int l = kn_nearest_int(iscale * x[i]);

		l = KN_MAX(-nmax, KN_MIN(nmax - 1, l));
		L[i] = (int8_t)(l + nmax);
		float w = x[i] * x[i];

		sumlx += w * x[i] * l;
		suml2 += w * l * l;
	}
	float scale = suml2 ? sumlx / suml2 : 0.0f;
	float best = scale * sumlx;

	for (int is = -9; is <= 9; is++) {
		if (is == 0)
			continue;
		iscale = -(nmax + 0.1f * is) / max;
		sumlx = suml2 = 0;
		for (int i = 0; i < n; i++) {
			int l = kn_nearest_int(iscale * x[i]);

			l = KN_MAX(-nmax, KN_MIN(nmax - 1, l));
			float w = x[i] * x[i];

			sumlx += w * x[i] * l;
			suml2 += w * l * l;
		}
		if (suml2 > 0 && sumlx * sumlx > best * suml2) {
			for (int i = 0; i < n; i++) {
				int l = kn_nearest_int(iscale * x[i]);

				L[i] = (int8_t)(nmax + KN_MAX(-nmax, KN_MIN(nmax - 1, l)));
			}
			scale = sumlx / suml2;
			best = scale * sumlx;
		}
	}
	return scale;
}

/* 8 sub-block scales and mins (6 bits each) into the 12-byte packing */
static void kn_pack_scales_k4(uint8_t *sc, const float *scales, const float *mins,
			      float max_scale, float max_min)
{
	float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
	float inv_min = max_min > 0 ? 63.f / max_min : 0.f;

	for (int j = 0; j < KN_QK_K / 32; j++) {
		uint8_t ls = (uint8_t)kn_nearest_int(inv_scale * scales[j]);
		uint8_t lm = (uint8_t)kn_nearest_int(inv_min * mins[j]);

		ls = KN_MIN(63, ls);
		lm = KN_MIN(63, lm);
		if (j < 4) {
			sc[j] = ls;
			sc[j + 4] = lm;
		} else {
			sc[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
			sc[j - 4] |= ((ls >> 4) << 6);
			sc[j] |= ((lm >> 4) << 6);
		}
	}
}

/*
 * Shared by Q4_K and Q5_K: fit the 8 sub-blocks, pack the scales, then
 * requantize every element with the scales as stored (fp16 d * 6-bit sc).
 */
static void kn_quant_k_asym(const float *x, uint8_t *L, uint16_t *d_out, uint16_t *dmin_out,
			    uint8_t *scales_out, int nmax, float rmin, float rdelta, int nstep)
{
	uint8_t Laux[32];
	float weights[32], mins[KN_QK_K / 32], scales[KN_QK_K / 32];
	float max_scale = 0, max_min = 0;

	for (int j = 0; j < KN_QK_K / 32; j++) {
		float sum_x2 = 0;

		for (int l = 0; l < 32; l++)
			sum_x2 += x[32 * j + l] * x[32 * j + l];
		float av_x = sqrtf(sum_x2 / 32);

		for (int l = 0; l < 32; l++)
			weights[l] = av_x + fabsf(x[32 * j + l]);
		scales[j] = kn_make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j,
						&mins[j], Laux, rmin, rdelta, nstep);
		if (scales[j] > max_scale)
			max_scale = scales[j];
		if (mins[j] > max_min)
			max_min = mins[j];
	}
	memset(scales_out, 0, KN_K_SCALE_SIZE);
	kn_pack_scales_k4(scales_out, scales, mins, max_scale, max_min);
	*d_out = kn_fp32_to_fp16(max_scale / 63.f);
	*dmin_out = kn_fp32_to_fp16(max_min / 63.f);

	for (int j = 0; j < KN_QK_K / 32; j++) {
		uint8_t sc, m;

		kn_get_scale_min_k4(j, scales_out, &sc, &m);
		const float d = kn_h2f(*d_out) * sc;

		if (!d)
			continue;
		const float dm = kn_h2f(*dmin_out) * m;

		for (int ii = 0; ii < 32; ii++) {
			int l = kn_nearest_int((x[32 * j + ii] + dm) / d);

			L[32 * j + ii] = (uint8_t)KN_MAX(0, KN_MIN(nmax, l));
		}
	}
}

void kn_ref_quant_q4_K(const float *x, void *vy, int64_t n)
{
	kn_block_q4_K *y = vy;
	uint8_t L[KN_QK_K];

	for (int64_t i = 0; i < n / KN_QK_K; i++, x += KN_QK_K) {
		kn_quant_k_asym(x, L, &y[i].d, &y[i].dmin, y[i].scales, 15, -1.f, 0.1f, 20);
		uint8_t *q = y[i].qs;

		for (int j = 0; j < KN_QK_K; j += 64, q += 32)
			for (int l = 0; l < 32; l++)
				q[l] = L[j + l] | (L[j + l + 32] << 4);
	}
}

void kn_ref_dequant_q4_K(const void *vx, float *y, int64_t n)
{
	const kn_block_q4_K *x = vx;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const uint8_t *q = x[i].qs;
		const float d = kn_h2f(x[i].d), min = kn_h2f(x[i].dmin);
		uint8_t sc, m;

		for (int j = 0, is = 0; j < KN_QK_K; j += 64, q += 32, is += 2) {
			kn_get_scale_min_k4(is, x[i].scales, &sc, &m);
			const float d1 = d * sc, m1 = min * m;

			kn_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
			const float d2 = d * sc, m2 = min * m;

			for (int l = 0; l < 32; l++)
				*y++ = d1 * (q[l] & 0xF) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (q[l] >> 4) - m2;
		}
	}
}

void kn_ref_quant_q5_K(const float *x, void *vy, int64_t n)
{
	kn_block_q5_K *y = vy;
	uint8_t L[KN_QK_K];

	for (int64_t i = 0; i < n / KN_QK_K; i++, x += KN_QK_K) {
		kn_quant_k_asym(x, L, &y[i].d, &y[i].dmin, y[i].scales, 31, -0.5f, 0.1f, 15);
		uint8_t *qh = y[i].qh, *ql = y[i].qs;
		uint8_t m1 = 1, m2 = 2;

		memset(qh, 0, KN_QK_K / 8);
		for (int b = 0; b < KN_QK_K; b += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
			for (int j = 0; j < 32; j++) {
				int l1 = L[b + j], l2 = L[b + j + 32];

				if (l1 > 15) {
					l1 -= 16;
					qh[j] |= m1;
				}
				if (l2 > 15) {
					l2 -= 16;
					qh[j] |= m2;
				}
				ql[j] = (uint8_t)(l1 | (l2 << 4));
			}
		}
	}
}

void kn_ref_dequant_q5_K(const void *vx, float *y, int64_t n)
{
	const kn_block_q5_K *x = vx;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const uint8_t *ql = x[i].qs, *qh = x[i].qh;
		const float d = kn_h2f(x[i].d), min = kn_h2f(x[i].dmin);
		uint8_t sc, m, u1 = 1, u2 = 2;

		for (int j = 0, is = 0; j < KN_QK_K; j += 64, ql += 32, is += 2, u1 <<= 2, u2 <<= 2) {
			kn_get_scale_min_k4(is, x[i].scales, &sc, &m);
			const float d1 = d * sc, m1 = min * m;

			kn_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
			const float d2 = d * sc, m2 = min * m;

			for (int l = 0; l < 32; l++)
				*y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
		}
	}
}

void kn_ref_quant_q6_K(const float *x, void *vy, int64_t n)
{
	kn_block_q6_K *y = vy;
	int8_t L[KN_QK_K];
	float scales[KN_QK_K / 16];

	for (int64_t i = 0; i < n / KN_QK_K; i++, x += KN_QK_K) {
		float max_scale = 0, max_abs_scale = 0;

		for (int ib = 0; ib < KN_QK_K / 16; ib++) {
			const float scale = kn_make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);

			scales[ib] = scale;
			if (fabsf(scale) > max_abs_scale) {
				max_abs_scale = fabsf(scale);
				max_scale = scale;
			}
		}
		if (max_abs_scale < KN_GROUP_MAX_EPS) {
			memset(&y[i], 0, sizeof(y[i]));
			continue;
		}
		float iscale = -128.f / max_scale;

		y[i].d = kn_fp32_to_fp16(1 / iscale);
		for (int ib = 0; ib < KN_QK_K / 16; ib++)
			y[i].scales[ib] = (int8_t)KN_MIN(127, kn_nearest_int(iscale * scales[ib]));
		for (int j = 0; j < KN_QK_K / 16; j++) {
			float d = kn_h2f(y[i].d) * y[i].scales[j];

			if (!d)
				continue;
			for (int ii = 0; ii < 16; ii++) {
				int l = kn_nearest_int(x[16 * j + ii] / d);

				L[16 * j + ii] = (int8_t)(KN_MAX(-32, KN_MIN(31, l)) + 32);
			}
		}
		uint8_t *ql = y[i].ql, *qh = y[i].qh;

		for (int j = 0; j < KN_QK_K; j += 128, ql += 64, qh += 32) {
			for (int l = 0; l < 32; l++) {
				const uint8_t q1 = L[j + l] & 0xF;
				const uint8_t q2 = L[j + l + 32] & 0xF;
				const uint8_t q3 = L[j + l + 64] & 0xF;
				const uint8_t q4 = L[j + l + 96] & 0xF;

				ql[l] = q1 | (q3 << 4);
				ql[l + 32] = q2 | (q4 << 4);
				qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
						  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
			}
		}
	}
}

void kn_ref_dequant_q6_K(const void *vx, float *y, int64_t n)
{
	const kn_block_q6_K *x = vx;

	for (int64_t i = 0; i < n / KN_QK_K; i++) {
		const float d = kn_h2f(x[i].d);
		const uint8_t *ql = x[i].ql, *qh = x[i].qh;
		const int8_t *sc = x[i].scales;

		for (int b = 0; b < KN_QK_K; b += 128, y += 128, ql += 64, qh += 32, sc += 8) {
			for (int l = 0; l < 32; l++) {
				int is = l / 16;
				const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
				const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
				const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
				const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;

				y[l] = d * sc[is] * q1;
				y[l + 32] = d * sc[is + 2] * q2;
				y[l + 64] = d * sc[is + 4] * q3;
				y[l + 96] = d * sc[is + 6] * q4;
			}
		}
	}
}

/* Q8_K: d = -max/127 of the signed largest-magnitude value, q = round(x/d) */
void kn_ref_quant_q8_K(const float *x, void *vy, int64_t n)
{
	kn_block_q8_K *y = vy;

	for (int64_t i = 0; i < n / KN_QK_K; i++, x += KN_QK_K) {
		float max = 0, amax = 0;

		for (int j = 0; j < KN_QK_K; j++) {
			float ax = fabsf(x[j]);

			if (ax > amax) {
				amax = ax;
				max = x[j];
			}
		}
		if (!amax) {
			memset(&y[i], 0, sizeof(y[i]));
			continue;
		}
		const float iscale = -127.f / max;

		for (int j = 0; j < KN_QK_K; j++) {
			int v = kn_nearest_int(iscale * x[j]);

			y[i].qs[j] = (int8_t)KN_MIN(127, v);
		}
		for (int j = 0; j < KN_QK_K / 16; j++) {
			int sum = 0;

			for (int ii = 0; ii < 16; ii++)
				sum += y[i].qs[j * 16 + ii];
			y[i].bsums[j] = (int16_t)sum;
		}
		y[i].d = 1 / iscale;
	}
}

void kn_ref_dequant_q8_K(const void *vx, float *y, int64_t n)
{
	const kn_block_q8_K *x = vx;

	for (int64_t i = 0; i < n / KN_QK_K; i++, y += KN_QK_K)
		for (int j = 0; j < KN_QK_K; j++)
			y[j] = x[i].d * x[i].qs[j];
}
