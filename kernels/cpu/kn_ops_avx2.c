// SPDX-License-Identifier: MIT
/*
 * AVX2 element-wise ops: swiglu with ggml's vectorised silu (bit-identical
 * to the scalar kn_ggml_silu path in kn_ops.c).
 */
#include "kn_avx2.h"

void kn_avx2_swiglu(float *out, const float *gate, const float *up, int64_t n);

void kn_avx2_swiglu(float *out, const float *gate, const float *up, int64_t n)
{
	int64_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, _mm256_mul_ps(kn_avx2_ggml_silu(_mm256_loadu_ps(gate + i)),
							_mm256_loadu_ps(up + i)));
	for (; i < n; i++)
		out[i] = kn_ggml_silu(gate[i]) * up[i];
}
