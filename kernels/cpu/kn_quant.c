// SPDX-License-Identifier: MIT
/*
 * Scalar reference quantize/dequantize for the plain and 32-element block
 * types (F32 F16 BF16 Q4_0 Q4_1 Q8_0 Q8_1, integer dequant), exactly as
 * ggml's quantize_row_*_ref / dequantize_row_*; and the scalar table.
 */
#include <float.h>
#include <math.h>
#include "kn_internal.h"

#define KN_MIN(a, b) ((a) < (b) ? (a) : (b))

void kn_ref_quant_f32(const float *x, void *y, int64_t n)
{
	memcpy(y, x, (size_t)n * sizeof(float));
}

void kn_ref_dequant_f32(const void *x, float *y, int64_t n)
{
	memcpy(y, x, (size_t)n * sizeof(float));
}

void kn_ref_quant_f16(const float *x, void *vy, int64_t n)
{
	uint16_t *y = vy;

	for (int64_t i = 0; i < n; i++)
		y[i] = kn_fp32_to_fp16(x[i]);
}

void kn_ref_dequant_f16(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;

	for (int64_t i = 0; i < n; i++)
		y[i] = kn_fp16_to_fp32(x[i]);
}

void kn_ref_quant_bf16(const float *x, void *vy, int64_t n)
{
	uint16_t *y = vy;

	for (int64_t i = 0; i < n; i++)
		y[i] = kn_fp32_to_bf16(x[i]);
}

void kn_ref_dequant_bf16(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;

	for (int64_t i = 0; i < n; i++)
		y[i] = kn_bf16_to_fp32(x[i]);
}

void kn_ref_dequant_i8(const void *vx, float *y, int64_t n)
{
	const int8_t *x = vx;

	for (int64_t i = 0; i < n; i++)
		y[i] = x[i];
}

void kn_ref_dequant_i16(const void *vx, float *y, int64_t n)
{
	const int16_t *x = vx;

	for (int64_t i = 0; i < n; i++)
		y[i] = x[i];
}

void kn_ref_dequant_i32(const void *vx, float *y, int64_t n)
{
	const int32_t *x = vx;

	for (int64_t i = 0; i < n; i++)
		y[i] = (float)x[i];
}

/* Q4_0: d = the signed value of largest magnitude / -8; q = x/d + 8 truncated */
void kn_ref_quant_q4_0(const float *x, void *vy, int64_t n)
{
	kn_block_q4_0 *y = vy;

	for (int64_t i = 0; i < n / KN_QK4_0; i++, x += KN_QK4_0) {
		float amax = 0.0f, max = 0.0f;

		for (int j = 0; j < KN_QK4_0; j++) {
			if (amax < fabsf(x[j])) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		}
		const float d = max / -8;
		const float id = d ? 1.0f / d : 0.0f;

		y[i].d = kn_fp32_to_fp16(d);
		for (int j = 0; j < KN_QK4_0 / 2; j++) {
			const uint8_t q0 = KN_MIN(15, (int8_t)(x[j] * id + 8.5f));
			const uint8_t q1 = KN_MIN(15, (int8_t)(x[KN_QK4_0 / 2 + j] * id + 8.5f));

			y[i].qs[j] = q0 | (q1 << 4);
		}
	}
}

void kn_ref_dequant_q4_0(const void *vx, float *y, int64_t n)
{
	const kn_block_q4_0 *x = vx;

	for (int64_t i = 0; i < n / KN_QK4_0; i++, y += KN_QK4_0) {
		const float d = kn_h2f(x[i].d);

		for (int j = 0; j < KN_QK4_0 / 2; j++) {
			y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
			y[j + KN_QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
		}
	}
}

/* Q4_1: d = (max - min) / 15, m = min; q = (x - min)/d rounded */
void kn_ref_quant_q4_1(const float *x, void *vy, int64_t n)
{
	kn_block_q4_1 *y = vy;

	for (int64_t i = 0; i < n / KN_QK4_1; i++, x += KN_QK4_1) {
		float min = FLT_MAX, max = -FLT_MAX;

		for (int j = 0; j < KN_QK4_1; j++) {
			if (x[j] < min)
				min = x[j];
			if (x[j] > max)
				max = x[j];
		}
		const float d = (max - min) / ((1 << 4) - 1);
		const float id = d ? 1.0f / d : 0.0f;

		y[i].d = kn_fp32_to_fp16(d);
		y[i].m = kn_fp32_to_fp16(min);
		for (int j = 0; j < KN_QK4_1 / 2; j++) {
			const uint8_t q0 = KN_MIN(15, (int8_t)((x[j] - min) * id + 0.5f));
			const uint8_t q1 = KN_MIN(15, (int8_t)((x[KN_QK4_1 / 2 + j] - min) * id + 0.5f));

			y[i].qs[j] = q0 | (q1 << 4);
		}
	}
}

void kn_ref_dequant_q4_1(const void *vx, float *y, int64_t n)
{
	const kn_block_q4_1 *x = vx;

	for (int64_t i = 0; i < n / KN_QK4_1; i++, y += KN_QK4_1) {
		const float d = kn_h2f(x[i].d), m = kn_h2f(x[i].m);

		for (int j = 0; j < KN_QK4_1 / 2; j++) {
			y[j] = (x[i].qs[j] & 0x0F) * d + m;
			y[j + KN_QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
		}
	}
}

/* Q8_0: d = amax / 127, q = roundf(x / d) */
void kn_ref_quant_q8_0(const float *x, void *vy, int64_t n)
{
	kn_block_q8_0 *y = vy;

	for (int64_t i = 0; i < n / KN_QK8_0; i++, x += KN_QK8_0) {
		float amax = 0.0f;

		for (int j = 0; j < KN_QK8_0; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		const float d = amax / ((1 << 7) - 1);
		const float id = d ? 1.0f / d : 0.0f;

		y[i].d = kn_fp32_to_fp16(d);
		for (int j = 0; j < KN_QK8_0; j++)
			y[i].qs[j] = (int8_t)roundf(x[j] * id);
	}
}

void kn_ref_dequant_q8_0(const void *vx, float *y, int64_t n)
{
	const kn_block_q8_0 *x = vx;

	for (int64_t i = 0; i < n / KN_QK8_0; i++, y += KN_QK8_0) {
		const float d = kn_h2f(x[i].d);

		for (int j = 0; j < KN_QK8_0; j++)
			y[j] = x[i].qs[j] * d;
	}
}

/* Q8_1: as Q8_0, plus s = d * sum(q) for the Q4_1 dot's min term */
void kn_ref_quant_q8_1(const float *x, void *vy, int64_t n)
{
	kn_block_q8_1 *y = vy;

	for (int64_t i = 0; i < n / KN_QK8_1; i++, x += KN_QK8_1) {
		float amax = 0.0f;
		int sum = 0;

		for (int j = 0; j < KN_QK8_1; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		const float d = amax / ((1 << 7) - 1);
		const float id = d ? 1.0f / d : 0.0f;

		y[i].d = kn_fp32_to_fp16(d);
		for (int j = 0; j < KN_QK8_1; j++) {
			y[i].qs[j] = (int8_t)roundf(x[j] * id);
			sum += y[i].qs[j];
		}
		y[i].s = kn_fp32_to_fp16(sum * d);
	}
}

/*
 * Activation Q8_0/Q8_1 as ggml-cpu's x86 quantize_row_q8_0/q8_1 (what
 * llama.cpp runs on an AVX2 machine): id = 127/amax and round half to even.
 */
static float kn_act_q8_block(const float *x, int8_t *qs, int *sum)
{
	float amax = 0.0f;
	int s = 0;

	for (int j = 0; j < 32; j++)
		amax = fmaxf(amax, fabsf(x[j]));
	const float d = amax / 127.f;
	const float id = amax != 0.0f ? 127.f / amax : 0.0f;

	for (int j = 0; j < 32; j++) {
		qs[j] = (int8_t)kn_nearest_int(x[j] * id);
		s += qs[j];
	}
	*sum = s;
	return d;
}

void kn_ref_act_q8_0(const float *x, void *vy, int64_t n)
{
	kn_block_q8_0 *y = vy;
	int sum;

	for (int64_t i = 0; i < n / KN_QK8_0; i++, x += KN_QK8_0)
		y[i].d = kn_fp32_to_fp16(kn_act_q8_block(x, y[i].qs, &sum));
}

void kn_ref_act_q8_1(const float *x, void *vy, int64_t n)
{
	kn_block_q8_1 *y = vy;
	int sum;

	for (int64_t i = 0; i < n / KN_QK8_1; i++, x += KN_QK8_1) {
		const float d = kn_act_q8_block(x, y[i].qs, &sum);

		y[i].d = kn_fp32_to_fp16(d);
		y[i].s = kn_fp32_to_fp16(d * sum);
	}
}

void kn_ref_dequant_q8_1(const void *vx, float *y, int64_t n)
{
	const kn_block_q8_1 *x = vx;

	for (int64_t i = 0; i < n / KN_QK8_1; i++, y += KN_QK8_1) {
		const float d = kn_h2f(x[i].d);

		for (int j = 0; j < KN_QK8_1; j++)
			y[j] = x[i].qs[j] * d;
	}
}

const struct kn_type_fns kn_ref_fns[KN_TYPE_MAX] = {
	[KN_F32]  = { kn_ref_quant_f32,  kn_ref_dequant_f32,  kn_ref_dot_f32 },
	[KN_F16]  = { kn_ref_quant_f16,  kn_ref_dequant_f16,  kn_ref_dot_f16 },
	[KN_BF16] = { kn_ref_quant_bf16, kn_ref_dequant_bf16, kn_ref_dot_bf16 },
	[KN_Q4_0] = { kn_ref_quant_q4_0, kn_ref_dequant_q4_0, kn_ref_dot_q4_0 },
	[KN_Q4_1] = { kn_ref_quant_q4_1, kn_ref_dequant_q4_1, kn_ref_dot_q4_1 },
	[KN_Q8_0] = { kn_ref_quant_q8_0, kn_ref_dequant_q8_0, kn_ref_dot_q8_0, kn_ref_act_q8_0 },
	[KN_Q8_1] = { kn_ref_quant_q8_1, kn_ref_dequant_q8_1, NULL, kn_ref_act_q8_1 },
	[KN_Q4_K] = { kn_ref_quant_q4_K, kn_ref_dequant_q4_K, kn_ref_dot_q4_K },
	[KN_Q5_K] = { kn_ref_quant_q5_K, kn_ref_dequant_q5_K, kn_ref_dot_q5_K },
	[KN_Q6_K] = { kn_ref_quant_q6_K, kn_ref_dequant_q6_K, kn_ref_dot_q6_K },
	[KN_Q8_K] = { kn_ref_quant_q8_K, kn_ref_dequant_q8_K, NULL },
	[KN_I8]   = { NULL, kn_ref_dequant_i8,  NULL },
	[KN_I16]  = { NULL, kn_ref_dequant_i16, NULL },
	[KN_I32]  = { NULL, kn_ref_dequant_i32, NULL },
};
