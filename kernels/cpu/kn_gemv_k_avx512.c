// SPDX-License-Identifier: MIT
/*
 * Q5_K and Q6_K decode (rows . one activation column) on AVX-512 machines:
 * the AVX2 kernels (kn_avx2_k_gemv, kn_avx2.h) built with AVX-512 VL, where
 * the compiler fuses their and/or pairs into vpternlogd (a tenth fewer vector
 * ops for Q6_K); the integer sums and float steps are unchanged, so each
 * output is bit-identical to ggml's vec_dot. (vpdpwssd in place of madd +
 * add ran no faster for Q6_K: its accumulate chain is longer.)
 */
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

void kn_avx512_gemv_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a,
			 const float *bias, float *out, int64_t r0, int64_t r1)
{
	kn_avx2_k_gemv(n_in, w, wrs, sizeof(kn_block_q6_K), a, bias, out, r0, r1,
		       kn_avx2_q6_K_kstep, false);
}

void kn_avx512_gemv_q5_K(int64_t n_in, const void *w, size_t wrs, const void *a,
			 const float *bias, float *out, int64_t r0, int64_t r1)
{
	kn_avx2_k_gemv(n_in, w, wrs, sizeof(kn_block_q5_K), a, bias, out, r0, r1,
		       kn_avx2_q5_K_kstep, true);
}
