// SPDX-License-Identifier: MIT
/*
 * Rotary position embedding, NORM (adjacent pairs) and NEOX (half-split
 * pairs) modes, computed the way ggml's rope cache does: theta starts at the
 * position and is multiplied by powf(base, -2/n_rot) per pair, in float, so
 * angles match llama.cpp bit for bit (ext_factor 0, mscale 1); the rotation
 * rounds as its FMA build does.
 */
#include <math.h>
#include <stdlib.h>
#include "kn_internal.h"
#include "kn_ops.h"

#define KN_ROPE_MAX_ROT 1024

static void kn_rope_cache(float *cs, int64_t pos, int n_rot, float theta_scale,
			  float freq_scale, const float *freq_factors)
{
	float theta = (float)pos;

	for (int i0 = 0; i0 < n_rot; i0 += 2) {
		const float ff = freq_factors ? freq_factors[i0 / 2] : 1.0f;
		const float th = freq_scale * (theta / ff);

		cs[i0] = cosf(th);
		cs[i0 + 1] = sinf(th);
		theta *= theta_scale;
	}
}

void kn_rope(float *x, const int32_t *pos, int64_t n, int64_t n_head, int64_t hd, int n_rot,
	     int mode, float freq_base, float freq_scale, const float *freq_factors,
	     int ith, int nth)
{
	float cs[KN_ROPE_MAX_ROT];
	const float theta_scale = powf(freq_base, -2.0f / n_rot);
	int64_t s, e, cached = -1;

	if (n_rot <= 0 || n_rot > KN_ROPE_MAX_ROT || n_rot > hd || (n_rot & 1))
		return;
	kn_split(n * n_head, ith, nth, &s, &e);
	for (int64_t r = s; r < e; r++) {
		const int64_t t = r / n_head;
		float *v = x + r * hd;

		if (t != cached) {
			kn_rope_cache(cs, pos[t], n_rot, theta_scale, freq_scale, freq_factors);
			cached = t;
		}
		for (int i0 = 0; i0 < n_rot; i0 += 2) {
			const float c = cs[i0], sn = cs[i0 + 1];
			const int a = mode == 2 ? i0 / 2 : i0;
			const int b = mode == 2 ? i0 / 2 + n_rot / 2 : i0 + 1;
			const float x0 = v[a], x1 = v[b];

			/* as llama.cpp's -march=native build contracts
			 * x0*c - x1*s and x0*s + x1*c: the first product fused */
			v[a] = fmaf(x0, c, -(x1 * sn));
			v[b] = fmaf(x0, sn, x1 * c);
		}
	}
}
