// SPDX-License-Identifier: MIT
/*
 * Scalar IEEE half and bfloat16 conversions, bit-exact with ggml: fp16 is
 * round-to-nearest-even (what F16C's vcvtps2ph does), bf16 rounds to nearest
 * even and keeps NaNs quiet. The AVX2 files use F16C for whole rows.
 */
#include "kn_internal.h"

float kn_fp16_to_fp32(uint16_t h)
{
	uint32_t s = (uint32_t)(h & 0x8000) << 16;
	uint32_t e = (h >> 10) & 0x1f;
	uint32_t m = h & 0x3ff;

	if (e == 0x1f)
		return kn_u2f(s | 0x7f800000 | (m << 13));
	if (e == 0) {
		if (m == 0)
			return kn_u2f(s);
		/* subnormal: value m * 2^-24, exact in float */
		e = 113;
		while (!(m & 0x400)) {
			m <<= 1;
			e--;
		}
		m &= 0x3ff;
		return kn_u2f(s | (e << 23) | (m << 13));
	}
	return kn_u2f(s | ((e + 112) << 23) | (m << 13));
}

uint16_t kn_fp32_to_fp16(float f)
{
	uint32_t x = kn_f2u(f);
	uint16_t s = (x >> 16) & 0x8000;
	uint32_t r, rem, half;

	x &= 0x7fffffff;
	if (x > 0x7f800000)
		return s | 0x7e00;		/* NaN */
	if (x >= 0x477ff000)
		return s | 0x7c00;		/* >= 65520 rounds to inf */
	if (x < 0x38800000) {			/* below 2^-14: subnormal half */
		uint32_t mant, shift;

		if (x <= 0x33000000)		/* <= 2^-25 rounds to 0 */
			return s;
		mant = (x & 0x7fffff) | 0x800000;
		shift = 126 - (x >> 23);	/* result in units of 2^-24 */
		r = mant >> shift;
		rem = mant & ((1u << shift) - 1);
		half = 1u << (shift - 1);
		if (rem > half || (rem == half && (r & 1)))
			r++;
		return s | r;
	}
	r = (x >> 13) - (112u << 10);
	rem = x & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
		r++;
	return s | r;
}

float kn_bf16_to_fp32(uint16_t h)
{
	return kn_u2f((uint32_t)h << 16);
}

uint16_t kn_fp32_to_bf16(float f)
{
	uint32_t u = kn_f2u(f);

	if ((u & 0x7fffffff) > 0x7f800000)
		return (u >> 16) | 64;		/* NaN: force quiet */
	return (u + (0x7fff + ((u >> 16) & 1))) >> 16;
}
