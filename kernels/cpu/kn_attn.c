// SPDX-License-Identifier: MIT
/*
 * Paged attention over the KV pool: store this step's K/V into their block
 * slots, then causal attention per (token, head) with an online softmax
 * over the sequence's cached positions, one block at a time; the score
 * matrix is never materialised. Cache layout: see ACCEL_OP_ATTN_* docs.
 */
#include <math.h>
#include "kn_internal.h"
#include "kn_ops.h"

#define KN_ATTN_MAX_HD	1024
#define KN_ATTN_CHUNK	64	/* scores computed per online-softmax step */

/* element pointer helpers over the cache */
static inline uint8_t *kn_attn_slot(const struct kn_attn_args *a, int32_t seq, int64_t p,
				    int kv)
{
	const size_t esz = a->cache_type == KN_F16 ? 2 : 4;
	const int64_t bt = a->block_tokens;
	const int64_t row = a->n_kv_head * a->hd;
	const int32_t blk = a->block_table[(int64_t)seq * a->max_blocks + p / bt];
	const int64_t elem = (((int64_t)a->layer * 2 + kv) * bt + p % bt) * row;

	return a->cache + (uint64_t)blk * a->block_size + (size_t)elem * esz;
}

void kn_attn_store_kv(const struct kn_attn_args *a, int ith, int nth)
{
	const int64_t row = a->n_kv_head * a->hd;
	int64_t s, e;

	kn_split(a->n, ith, nth, &s, &e);
	for (int64_t t = s; t < e; t++) {
		for (int kv = 0; kv < 2; kv++) {
			const float *src = (kv ? a->v : a->k) + t * row;
			uint8_t *dst = kn_attn_slot(a, a->seq[t], a->pos[t], kv);

			if (a->cache_type == KN_F16)
				kn_quantize_row(KN_F16, src, dst, row);
			else
				memcpy(dst, src, (size_t)row * sizeof(float));
		}
	}
}

float kn_avx2_attn_dot(const float *q, const void *k, int64_t hd, bool f16);
void kn_avx2_attn_axpy(float *acc, float w, const void *v, int64_t hd, bool f16);

typedef float (*kn_attn_dot_fn)(const float *q, const void *k, int64_t hd, bool f16);
typedef void (*kn_attn_axpy_fn)(float *acc, float w, const void *v, int64_t hd, bool f16);

static float kn_attn_dot(const float *q, const void *k, int64_t hd, bool f16)
{
	float s = 0;

	if (f16) {
		const uint16_t *kh = (const uint16_t *)k;

		for (int64_t i = 0; i < hd; i++)
			s += q[i] * kn_fp16_to_fp32(kh[i]);
	} else {
		const float *kf = (const float *)k;

		for (int64_t i = 0; i < hd; i++)
			s += q[i] * kf[i];
	}
	return s;
}

static void kn_attn_axpy(float *acc, float w, const void *v, int64_t hd, bool f16)
{
	if (f16) {
		const uint16_t *vh = (const uint16_t *)v;

		for (int64_t i = 0; i < hd; i++)
			acc[i] += w * kn_fp16_to_fp32(vh[i]);
	} else {
		const float *vf = (const float *)v;

		for (int64_t i = 0; i < hd; i++)
			acc[i] += w * vf[i];
	}
}

/* attention of one query head over positions 0..p of its sequence */
static void kn_attn_one(const struct kn_attn_args *a, int64_t t, int64_t h, kn_attn_dot_fn dot,
			kn_attn_axpy_fn axpy)
{
	const bool f16 = a->cache_type == KN_F16;
	const size_t esz = f16 ? 2 : 4;
	const int64_t hd = a->hd, group = a->n_head / a->n_kv_head, kvh = h / group;
	const float *q = a->q + (t * a->n_head + h) * hd;
	float *out = a->out + (t * a->n_head + h) * hd;
	const int64_t npos = (int64_t)a->pos[t] + 1;
	float acc[KN_ATTN_MAX_HD], sc[KN_ATTN_CHUNK];
	float m = -INFINITY, l = 0;

	memset(acc, 0, (size_t)hd * sizeof(float));
	for (int64_t j0 = 0; j0 < npos; j0 += KN_ATTN_CHUNK) {
		const int64_t j1 = j0 + KN_ATTN_CHUNK < npos ? j0 + KN_ATTN_CHUNK : npos;
		float cm = -INFINITY;

		for (int64_t j = j0; j < j1; j++) {
			const uint8_t *k = kn_attn_slot(a, a->seq[t], j, 0) + (size_t)(kvh * hd) * esz;

			sc[j - j0] = dot(q, k, hd, f16) * a->scale;
			cm = fmaxf(cm, sc[j - j0]);
		}
		if (cm > m) {
			const float corr = expf(m - cm);	/* 0 on the first chunk */

			l *= corr;
			for (int64_t i = 0; i < hd; i++)
				acc[i] *= corr;
			m = cm;
		}
		for (int64_t j = j0; j < j1; j++) {
			const uint8_t *v = kn_attn_slot(a, a->seq[t], j, 1) + (size_t)(kvh * hd) * esz;
			const float w = expf(sc[j - j0] - m);

			l += w;
			axpy(acc, w, v, hd, f16);
		}
	}
	const float inv = l > 0 ? 1.0f / l : 0.0f;

	for (int64_t i = 0; i < hd; i++)
		out[i] = acc[i] * inv;
}

void kn_attn(const struct kn_attn_args *a, int ith, int nth)
{
	const bool avx2 = kn_isa_get() == KN_ISA_AVX2;
	kn_attn_dot_fn dot = avx2 ? kn_avx2_attn_dot : kn_attn_dot;
	kn_attn_axpy_fn axpy = avx2 ? kn_avx2_attn_axpy : kn_attn_axpy;
	int64_t s, e;

	if (a->hd > KN_ATTN_MAX_HD || a->n_kv_head <= 0 || a->n_head % a->n_kv_head)
		return;
	kn_split(a->n * a->n_head, ith, nth, &s, &e);
	for (int64_t r = s; r < e; r++)
		kn_attn_one(a, r / a->n_head, r % a->n_head, dot, axpy);
}
