// SPDX-License-Identifier: MIT
/*
 * Q6_K decode (rows . one activation column) on AVX2: kn_avx2_q6_K_gemv
 * (kn_avx2.h), each output bit-identical to ggml_vec_dot_q6_K_q8_K.
 */
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

void kn_avx2_gemv_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a, const float *bias,
		       float *out, int64_t r0, int64_t r1)
{
	kn_avx2_q6_K_gemv(n_in, w, wrs, a, bias, out, r0, r1);
}
