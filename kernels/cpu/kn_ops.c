// SPDX-License-Identifier: MIT
/*
 * Element-wise and row ops: embed, rmsnorm, swiglu, add, moe_route. Each
 * computes the (ith, nth) share of its output with ggml's arithmetic order
 * (rmsnorm sums in double, scales, then multiplies by the weight; softmax
 * sums exp in double), so results track llama.cpp's CPU backend closely.
 */
#include <math.h>
#include "kn_internal.h"
#include "kn_ops.h"

void kn_embed(float *out, const void *w, uint32_t type, int64_t dim, const int32_t *ids,
	      int64_t n, int ith, int nth)
{
	const size_t rs = kn_row_size(type, dim);
	kn_dequant_fn fn = kn_dequant_fn_get(kn_isa_get(), type);
	int64_t s, e;

	if (!fn || !rs)
		return;
	kn_split(n, ith, nth, &s, &e);
	for (int64_t i = s; i < e; i++)
		fn((const uint8_t *)w + (size_t)ids[i] * rs, out + i * dim, dim);
}

void kn_rmsnorm(float *out, const float *x, const float *w, int64_t dim, int64_t rows,
		float eps, int ith, int nth)
{
	int64_t s, e;

	kn_split(rows, ith, nth, &s, &e);
	for (int64_t r = s; r < e; r++) {
		const float *xr = x + r * dim;
		float *yr = out + r * dim;
		double sum = 0;

		for (int64_t i = 0; i < dim; i++)
			sum += (double)(xr[i] * xr[i]);
		const float mean = (float)(sum / dim);
		const float scale = 1.0f / sqrtf(mean + eps);

		if (w) {
			for (int64_t i = 0; i < dim; i++)
				yr[i] = (xr[i] * scale) * w[i];
		} else {
			for (int64_t i = 0; i < dim; i++)
				yr[i] = xr[i] * scale;
		}
	}
}

void kn_avx2_swiglu(float *out, const float *gate, const float *up, int64_t n);

/*
 * silu(g) * up with ggml's vectorised exp (what llama.cpp's AVX-512 build
 * runs for rows of 16k elements; its scalar tail would use libm expf).
 */
void kn_swiglu(float *out, const float *gate, const float *up, int64_t n, int ith, int nth)
{
	int64_t s, e;

	kn_split(n, ith, nth, &s, &e);
	if (kn_isa_get() >= KN_ISA_AVX2) {
		kn_avx2_swiglu(out + s, gate + s, up + s, e - s);
		return;
	}
	for (int64_t i = s; i < e; i++)
		out[i] = kn_ggml_silu(gate[i]) * up[i];
}

void kn_add(float *out, const float *a, const float *b, int64_t n, int ith, int nth)
{
	int64_t s, e;

	kn_split(n, ith, nth, &s, &e);
	for (int64_t i = s; i < e; i++)
		out[i] = a[i] + b[i];
}

/*
 * Mixtral routing as llama.cpp builds it: probs = softmax(logits); the k
 * largest (ties: lower expert index first, in descending order); their
 * probabilities, optionally divided by their sum. The softmax is ggml's
 * (AVX-512 build): chunks of 16 use its vectorised exp and a float lane
 * reduction added into a double sum, the tail libm expf.
 */
static float kn_reduce16(const float *v)
{
	float t8[8], t4[4];

	for (int i = 0; i < 8; i++)
		t8[i] = v[8 + i] + v[i];
	for (int i = 0; i < 4; i++)
		t4[i] = t8[4 + i] + t8[i];
	return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

void kn_moe_route(float *weights, int32_t *ids, const float *logits, int64_t n, int64_t n_exp,
		  int k, bool renorm)
{
	for (int64_t t = 0; t < n; t++) {
		const float *l = logits + t * n_exp;
		float *wt = weights + t * k;
		int32_t *id = ids + t * k;
		float max = -INFINITY, p[256];
		double sum = 0;
		int64_t i = 0;

		for (i = 0; i < n_exp; i++)
			max = fmaxf(max, l[i]);
		for (i = 0; i + 16 <= n_exp; i += 16) {
			for (int q = 0; q < 16; q++)
				p[i + q] = kn_ggml_expf(l[i + q] - max);
			sum += (double)kn_reduce16(p + i);
		}
		for (; i < n_exp; i++) {
			p[i] = expf(l[i] - max);
			sum += (double)p[i];
		}
		const float inv = (float)(1.0 / sum);

		for (i = 0; i < n_exp; i++)
			p[i] *= inv;

		for (int j = 0; j < k; j++) {
			int64_t best = -1;
			float bp = 0;

			for (i = 0; i < n_exp; i++) {
				bool taken = false;

				for (int q = 0; q < j; q++)
					taken |= id[q] == i;
				if (!taken && (best < 0 || p[i] > bp)) {
					best = i;
					bp = p[i];
				}
			}
			id[j] = (int32_t)best;
			wt[j] = bp;
		}
		if (renorm) {
			double ws = 0;

			for (int j = 0; j < k; j++)
				ws += wt[j];
			const float wsf = (float)ws;

			for (int j = 0; j < k; j++)
				wt[j] = wt[j] / wsf;
		}
	}
}
