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

void kn_avx2_swiglu(float *out, const float *gate, const float *up, int64_t n, bool exp8);

/* silu(g) * up over [i0, i1) with the vectorised exp of @isa's llama.cpp build */
static void kn_swiglu_vec(float *out, const float *gate, const float *up, int64_t i0,
			  int64_t i1, enum kn_isa isa)
{
	if (i1 <= i0)
		return;
	if (kn_isa_simd()) {	/* the same bits, 8 lanes at a time */
		kn_avx2_swiglu(out + i0, gate + i0, up + i0, i1 - i0, isa == KN_ISA_AVX2);
		return;
	}
	for (int64_t i = i0; i < i1; i++)
		out[i] = (isa == KN_ISA_AVX2 ? kn_ggml_silu8(gate[i]) : kn_ggml_silu(gate[i])) * up[i];
}

/*
 * silu(g) * up as llama.cpp's ggml_vec_swiglu_f32 on each row of @row
 * elements: the AVX-512 build runs its vectorised exp over the first
 * multiple of 16 of the row, the AVX2 build its own over a multiple of 8,
 * and libm expf on the rest (the generic build: everywhere).
 */
void kn_swiglu(float *out, const float *gate, const float *up, int64_t n, int64_t row, int ith,
	       int nth)
{
	const enum kn_isa isa = kn_isa_get();
	const int64_t w = isa == KN_ISA_AVX512 ? 16 : isa == KN_ISA_AVX2 ? 8 : 0;
	int64_t s, e;

	if (row <= 0)
		row = n;
	kn_split(n, ith, nth, &s, &e);
	while (s < e) {
		const int64_t r0 = s - s % row, rend = r0 + row < e ? r0 + row : e;
		const int64_t vend = w ? r0 + (row - row % w) : r0;
		const int64_t v1 = vend < rend ? vend : rend;

		kn_swiglu_vec(out, gate, up, s, v1, isa);
		for (int64_t i = s > v1 ? s : v1; i < rend; i++)
			out[i] = kn_silu_libm(gate[i]) * up[i];
		s = rend;
	}
}

void kn_add(float *out, const float *a, const float *b, int64_t n, int ith, int nth)
{
	int64_t s, e;

	kn_split(n, ith, nth, &s, &e);
	for (int64_t i = s; i < e; i++)
		out[i] = a[i] + b[i];
}

/*
 * p = exp(l - max) and its sum as ggml_vec_soft_max_f32 in llama.cpp's build
 * for @isa: chunks of 16 (AVX-512) or 8 (AVX2) through that build's
 * vectorised exp, each chunk's register summed into a double; the tail (the
 * generic build: everything) with libm expf.
 */
static double kn_softmax_exp(float *p, const float *l, int64_t n, float max, enum kn_isa isa)
{
	const int w = isa == KN_ISA_AVX512 ? 16 : isa == KN_ISA_AVX2 ? 8 : 0;
	double sum = 0;
	int64_t i = 0;

	for (; w && i + w <= n; i += w) {
		for (int q = 0; q < w; q++)
			p[i + q] = w == 8 ? kn_ggml_expf8(l[i + q] - max) : kn_ggml_expf(l[i + q] - max);
		sum += (double)(w == 8 ? kn_reduce8(p + i) : kn_reduce16(p + i));
	}
	for (; i < n; i++) {
		p[i] = expf(l[i] - max);
		sum += (double)p[i];
	}
	return sum;
}

/*
 * Mixtral/Qwen3-MoE routing as llama.cpp builds it: probs = softmax(logits);
 * the k largest (ties: lower expert index first, in descending order); their
 * probabilities, optionally divided by their sum.
 */
void kn_moe_route(float *weights, int32_t *ids, const float *logits, int64_t n, int64_t n_exp,
		  int k, bool renorm)
{
	for (int64_t t = 0; t < n; t++) {
		const float *l = logits + t * n_exp;
		float *wt = weights + t * k;
		int32_t *id = ids + t * k;
		float max = -INFINITY, p[256];
		double sum;
		int64_t i = 0;

		for (i = 0; i < n_exp; i++)
			max = fmaxf(max, l[i]);
		sum = kn_softmax_exp(p, l, n_exp, max, kn_isa_get());
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
