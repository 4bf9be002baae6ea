// SPDX-License-Identifier: MIT
/*
 * AVX2 element-wise ops: swiglu with ggml's vectorised silu, the exp of
 * llama.cpp's AVX-512 build (exp16) or of its AVX2 build (exp8), each
 * bit-identical to its scalar twin in kn_internal.h.
 */
#include "kn_avx2.h"

void kn_avx2_swiglu(float *out, const float *gate, const float *up, int64_t n, bool exp8);

void kn_avx2_swiglu(float *out, const float *gate, const float *up, int64_t n, bool exp8)
{
	int64_t i = 0;

	if (exp8) {
		for (; i + 8 <= n; i += 8)
			_mm256_storeu_ps(out + i, _mm256_mul_ps(
				kn_avx2_ggml_silu8(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
		for (; i < n; i++)
			out[i] = kn_ggml_silu8(gate[i]) * up[i];
		return;
	}
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, _mm256_mul_ps(kn_avx2_ggml_silu(_mm256_loadu_ps(gate + i)),
							_mm256_loadu_ps(up + i)));
	for (; i < n; i++)
		out[i] = kn_ggml_silu(gate[i]) * up[i];
}
