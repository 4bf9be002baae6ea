// SPDX-License-Identifier: MIT
/*
 * Q6_K decode (rows . one activation column) on AVX-512 machines: the AVX2
 * kernel (kn_avx2_q6_K_gemv, kn_avx2.h) built with AVX-512 VL, where the
 * compiler fuses its and/or pairs into vpternlogd (a tenth fewer vector
 * ops); the integer sums and float steps are unchanged, so each output is
 * bit-identical to ggml_vec_dot_q6_K_q8_K. (vpdpwssd in place of
 * madd + add ran no faster: its accumulate chain is longer.)
 */
#include "kn_avx2.h"

#pragma GCC optimize("fp-contract=off")

void kn_avx512_gemv_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a,
			 const float *bias, float *out, int64_t r0, int64_t r1)
{
	kn_avx2_q6_K_gemv(n_in, w, wrs, a, bias, out, r0, r1);
}
