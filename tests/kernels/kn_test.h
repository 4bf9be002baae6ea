/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the kernels tests: a seeded RNG, random data and error
 * measures (NMSE as ggml's test-backend-ops uses it).
 */
#ifndef KN_TEST_H
#define KN_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include "kn.h"

static uint64_t kt_state = 0x9E3779B97F4A7C15ull;

static inline void kt_seed(uint64_t s)
{
	kt_state = s ? s : 1;
}

static inline uint64_t kt_u64(void)
{
	kt_state ^= kt_state << 13;
	kt_state ^= kt_state >> 7;
	kt_state ^= kt_state << 17;
	return kt_state;
}

/* uniform in [-1, 1) */
static inline float kt_uniform(void)
{
	return (float)((double)(kt_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* roughly normal(0, 1): sum of 4 uniforms, scaled */
static inline float kt_normal(void)
{
	return (kt_uniform() + kt_uniform() + kt_uniform() + kt_uniform()) * 0.8660254f;
}

static inline void kt_fill(float *x, int64_t n, float scale)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = kt_normal() * scale;
}

static inline double kt_nmse(const float *a, const float *ref, int64_t n)
{
	double num = 0, den = 0;

	for (int64_t i = 0; i < n; i++) {
		double d = (double)a[i] - ref[i];

		num += d * d;
		den += (double)ref[i] * ref[i];
	}
	return den > 0 ? num / den : num;
}

static inline double kt_max_abs_diff(const float *a, const float *b, int64_t n)
{
	double m = 0;

	for (int64_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]);

		if (d > m || d != d)
			m = d;
	}
	return m;
}

static inline bool kt_have_avx2(void)
{
	return kn_isa_best() >= KN_ISA_AVX2;
}

static inline bool kt_have_avx512(void)
{
	return kn_isa_best() >= KN_ISA_AVX512;
}

#endif /* KN_TEST_H */
