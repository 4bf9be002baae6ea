// SPDX-License-Identifier: MIT
/*
 * Q5_K and Q6_K decode (rows . one activation column) on AVX2:
 * kn_avx2_k_gemv (kn_avx2.h) with each type's vec_dot step, each output
 * bit-identical to ggml_vec_dot_q5_K_q8_K / ggml_vec_dot_q6_K_q8_K.
 */
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

void kn_avx2_gemv_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a, const float *bias,
		       float *out, int64_t r0, int64_t r1)
{
	kn_avx2_k_gemv(n_in, w, wrs, sizeof(kn_block_q6_K), a, bias, out, r0, r1,
		       kn_avx2_q6_K_kstep, false);
}

void kn_avx2_gemv_q5_K(int64_t n_in, const void *w, size_t wrs, const void *a, const float *bias,
		       float *out, int64_t r0, int64_t r1)
{
	kn_avx2_k_gemv(n_in, w, wrs, sizeof(kn_block_q5_K), a, bias, out, r0, r1,
		       kn_avx2_q5_K_kstep, true);
}
