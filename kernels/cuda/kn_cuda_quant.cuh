/* SPDX-License-Identifier: MIT */
/*
 * The math the CUDA kernels and the CPU share, as __host__ __device__ inline
 * functions that are also plain C11 (KN_HD): fp16/bf16 conversions, ggml's
 * block layouts, the dequantization of one element of every type, the
 * activation quantizers (Q8_0, Q8_1 as ggml-cpu's x86 from_float, Q8_K) and
 * the dot of one weight block with one activation block in kernels/cpu's lane
 * order. tests/kernels/test_kn_cuda_quant.c compiles this header with the
 * host C compiler and checks it bit for bit against kernels/cpu's scalar
 * references, so the GPU starts from the same integers and block scales as
 * the CPU; only the order of the float sums across blocks differs on the GPU.
 *
 * No FMA contraction may change a result: every product that the CPU rounds
 * on its own is written KN_MUL (__fmul_rn on the device, which nvcc never
 * fuses; the host test compiles with -ffp-contract=off). No undefined
 * behaviour on the host: bit casts through memcpy, shifts on unsigned values,
 * signed arithmetic bounded far below overflow (|isum| < 2^24).
 */
#ifndef KN_CUDA_QUANT_CUH
#define KN_CUDA_QUANT_CUH

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#ifdef __CUDACC__
#define KN_HD static __host__ __device__ __forceinline__
#define KN_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define KN_HD static inline
#define KN_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

#if defined(__CUDA_ARCH__)
#define KN_MUL(a, b)	__fmul_rn((a), (b))
#define KN_ADD(a, b)	__fadd_rn((a), (b))
#define KN_SUB(a, b)	__fsub_rn((a), (b))
#else
#define KN_MUL(a, b)	((a) * (b))
#define KN_ADD(a, b)	((a) + (b))
#define KN_SUB(a, b)	((a) - (b))
#endif

/* the ggml type numbers (kn.h's enum kn_type; repeated so .cu files need no C header) */
#define KN_CU_F32	0
#define KN_CU_F16	1
#define KN_CU_Q4_0	2
#define KN_CU_Q4_1	3
#define KN_CU_Q8_0	8
#define KN_CU_Q8_1	9
#define KN_CU_Q4_K	12
#define KN_CU_Q5_K	13
#define KN_CU_Q6_K	14
#define KN_CU_Q8_K	15
#define KN_CU_BF16	30

#define KN_CU_QK	32	/* elements of a Q4_0/Q4_1/Q8_0/Q8_1 block */
#define KN_CU_QK_K	256	/* elements of a K-quant super-block */

/* ---------------------------------------------------------- block layouts */

typedef struct { uint16_t d; uint8_t qs[16]; } kn_cu_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } kn_cu_q4_1;
typedef struct { uint16_t d; int8_t qs[32]; } kn_cu_q8_0;
typedef struct { uint16_t d, s; int8_t qs[32]; } kn_cu_q8_1;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } kn_cu_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } kn_cu_q5_K;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } kn_cu_q6_K;
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } kn_cu_q8_K;

KN_STATIC_ASSERT(sizeof(kn_cu_q4_0) == 18, "q4_0 layout");
KN_STATIC_ASSERT(sizeof(kn_cu_q4_1) == 20, "q4_1 layout");
KN_STATIC_ASSERT(sizeof(kn_cu_q8_0) == 34, "q8_0 layout");
KN_STATIC_ASSERT(sizeof(kn_cu_q8_1) == 36, "q8_1 layout");
KN_STATIC_ASSERT(sizeof(kn_cu_q4_K) == 144, "q4_K layout");
KN_STATIC_ASSERT(sizeof(kn_cu_q5_K) == 176, "q5_K layout");
KN_STATIC_ASSERT(sizeof(kn_cu_q6_K) == 210, "q6_K layout");
KN_STATIC_ASSERT(sizeof(kn_cu_q8_K) == 292, "q8_K layout");

/* elements and bytes per block of a weight or activation type (0: unknown) */
KN_HD int kn_cu_block_elems(uint32_t t)
{
	switch (t) {
	case KN_CU_F32: case KN_CU_F16: case KN_CU_BF16: return 1;
	case KN_CU_Q4_0: case KN_CU_Q4_1: case KN_CU_Q8_0: case KN_CU_Q8_1: return KN_CU_QK;
	case KN_CU_Q4_K: case KN_CU_Q5_K: case KN_CU_Q6_K: case KN_CU_Q8_K: return KN_CU_QK_K;
	default: return 0;
	}
}

KN_HD int kn_cu_block_bytes(uint32_t t)
{
	switch (t) {
	case KN_CU_F32: return 4;
	case KN_CU_F16: case KN_CU_BF16: return 2;
	case KN_CU_Q4_0: return 18;
	case KN_CU_Q4_1: return 20;
	case KN_CU_Q8_0: return 34;
	case KN_CU_Q8_1: return 36;
	case KN_CU_Q4_K: return 144;
	case KN_CU_Q5_K: return 176;
	case KN_CU_Q6_K: return 210;
	case KN_CU_Q8_K: return 292;
	default: return 0;
	}
}

/* the activation type a weight type's dot takes (kn_vec_dot_type) */
KN_HD uint32_t kn_cu_vec_dot_type(uint32_t t)
{
	switch (t) {
	case KN_CU_Q4_0: case KN_CU_Q8_0: return KN_CU_Q8_0;
	case KN_CU_Q4_1: return KN_CU_Q8_1;
	case KN_CU_Q4_K: case KN_CU_Q5_K: case KN_CU_Q6_K: return KN_CU_Q8_K;
	default: return t;
	}
}

/* ------------------------------------------------------------ bit casts */

KN_HD uint32_t kn_cu_f2u(float f)
{
#ifdef __CUDA_ARCH__
	return __float_as_uint(f);
#else
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
#endif
}

KN_HD float kn_cu_u2f(uint32_t u)
{
#ifdef __CUDA_ARCH__
	return __uint_as_float(u);
#else
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
#endif
}

/* 4 bytes at a 2-byte aligned address as one little-endian int (the 32-element
 * blocks put their quants at offset 2: a 4-byte load there would fault on the GPU) */
KN_HD int32_t kn_cu_ld32_b2(const void *p)
{
	const uint16_t *h = (const uint16_t *)p;

	return (int32_t)((uint32_t)h[0] | ((uint32_t)h[1] << 16));
}

/* sum of the products of the four signed bytes of a and b, plus c (dp4a) */
KN_HD int32_t kn_cu_dp4a(int32_t a, int32_t b, int32_t c)
{
#ifdef __CUDA_ARCH__
	return __dp4a(a, b, c);
#else
	for (int i = 0; i < 4; i++)
		c += (int32_t)(int8_t)(((uint32_t)a >> (8 * i)) & 0xff) *
		     (int32_t)(int8_t)(((uint32_t)b >> (8 * i)) & 0xff);
	return c;
#endif
}

/* -------------------------------------------------------- fp16 and bf16 */

/* IEEE half -> float, exact (subnormals as m * 2^-24, exact in float) */
KN_HD float kn_cu_h2f(uint16_t h)
{
	const uint32_t s = (uint32_t)(h & 0x8000) << 16;
	const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;

	if (e == 0x1f)
		return kn_cu_u2f(s | 0x7f800000u | (m << 13));
	if (e == 0)
		return kn_cu_u2f(s | kn_cu_f2u(KN_MUL((float)m, 0x1p-24f)));
	return kn_cu_u2f(s | ((e + 112) << 23) | (m << 13));
}

/* float -> IEEE half, round to nearest even (F16C's vcvtps2ph, __float2half_rn) */
KN_HD uint16_t kn_cu_f2h(float f)
{
	uint32_t x = kn_cu_f2u(f);
	const uint16_t s = (uint16_t)((x >> 16) & 0x8000);
	uint32_t r, rem, half;

	x &= 0x7fffffffu;
	if (x > 0x7f800000u)
		return (uint16_t)(s | 0x7e00);
	if (x >= 0x477ff000u)
		return (uint16_t)(s | 0x7c00);
	if (x < 0x38800000u) {
		uint32_t mant, shift;

		if (x <= 0x33000000u)
			return s;
		mant = (x & 0x7fffffu) | 0x800000u;
		shift = 126 - (x >> 23);	/* 14..24 */
		r = mant >> shift;
		rem = mant & ((1u << shift) - 1);
		half = 1u << (shift - 1);
		if (rem > half || (rem == half && (r & 1)))
			r++;
		return (uint16_t)(s | r);
	}
	r = (x >> 13) - (112u << 10);
	rem = x & 0x1fffu;
	if (rem > 0x1000u || (rem == 0x1000u && (r & 1)))
		r++;
	return (uint16_t)(s | r);
}

KN_HD float kn_cu_bf2f(uint16_t h)
{
	return kn_cu_u2f((uint32_t)h << 16);
}

/* float -> bf16, round to nearest even, NaNs kept quiet (ggml) */
KN_HD uint16_t kn_cu_f2bf(float f)
{
	const uint32_t u = kn_cu_f2u(f);

	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 64);
	return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

/* --------------------------------------------------------- dequantization */

/* ggml's round half to even through 1.5 * 2^23 (|x| < 2^22) */
KN_HD int kn_cu_nearest_int(float x)
{
	return (int)(kn_cu_f2u(KN_ADD(x, 12582912.f)) & 0x007fffffu) - 0x00400000;
}

/* the 6-bit scale and min j (0..7) of a Q4_K/Q5_K block */
KN_HD void kn_cu_scale_min_k4(int j, const uint8_t *q, int *d, int *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
		*m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
	}
}

/*
 * kn_cu_dequant - element j of the block at @blk of type @t, with the
 * arithmetic of kernels/cpu's kn_ref_dequant_* (same products, same order).
 * F32/F16/BF16: @blk is the row and j any index.
 */
KN_HD float kn_cu_dequant(uint32_t t, const void *blk, int j)
{
	switch (t) {
	case KN_CU_F32:
		return ((const float *)blk)[j];
	case KN_CU_F16:
		return kn_cu_h2f(((const uint16_t *)blk)[j]);
	case KN_CU_BF16:
		return kn_cu_bf2f(((const uint16_t *)blk)[j]);
	case KN_CU_Q4_0: {
		const kn_cu_q4_0 *b = (const kn_cu_q4_0 *)blk;
		const int q = j < 16 ? b->qs[j] & 0xF : b->qs[j - 16] >> 4;

		return KN_MUL((float)(q - 8), kn_cu_h2f(b->d));
	}
	case KN_CU_Q4_1: {
		const kn_cu_q4_1 *b = (const kn_cu_q4_1 *)blk;
		const int q = j < 16 ? b->qs[j] & 0xF : b->qs[j - 16] >> 4;

		return KN_ADD(KN_MUL((float)q, kn_cu_h2f(b->d)), kn_cu_h2f(b->m));
	}
	case KN_CU_Q8_0: {
		const kn_cu_q8_0 *b = (const kn_cu_q8_0 *)blk;

		return KN_MUL((float)b->qs[j], kn_cu_h2f(b->d));
	}
	case KN_CU_Q8_1: {
		const kn_cu_q8_1 *b = (const kn_cu_q8_1 *)blk;

		return KN_MUL((float)b->qs[j], kn_cu_h2f(b->d));
	}
	case KN_CU_Q8_K: {
		const kn_cu_q8_K *b = (const kn_cu_q8_K *)blk;

		return KN_MUL(b->d, (float)b->qs[j]);
	}
	case KN_CU_Q4_K:
	case KN_CU_Q5_K: {
		/* sub-block j/32: the low nibbles of 32 bytes, then their high nibbles */
		const int is = j / 32, l = j % 32, hi = is & 1;
		const uint8_t *sc = t == KN_CU_Q4_K ? ((const kn_cu_q4_K *)blk)->scales
						    : ((const kn_cu_q5_K *)blk)->scales;
		const uint16_t dh = ((const uint16_t *)blk)[0], mh = ((const uint16_t *)blk)[1];
		int s, m, q;

		kn_cu_scale_min_k4(is, sc, &s, &m);
		if (t == KN_CU_Q4_K) {
			const uint8_t b = ((const kn_cu_q4_K *)blk)->qs[32 * (is / 2) + l];

			q = hi ? b >> 4 : b & 0xF;
		} else {
			const kn_cu_q5_K *k5 = (const kn_cu_q5_K *)blk;
			const uint8_t b = k5->qs[32 * (is / 2) + l];

			q = (hi ? b >> 4 : b & 0xF) + ((k5->qh[l] >> is) & 1 ? 16 : 0);
		}
		return KN_SUB(KN_MUL(KN_MUL(kn_cu_h2f(dh), (float)s), (float)q),
			      KN_MUL(kn_cu_h2f(mh), (float)m));
	}
	case KN_CU_Q6_K: {
		/* halves of 128: element 32 * k + l of a half takes ql nibble k/2 of
		 * byte l (+32 for k odd) and bits 2k of qh[l] */
		const kn_cu_q6_K *b = (const kn_cu_q6_K *)blk;
		const int h = j / 128, r = j % 128, k = r / 32, l = r % 32;
		const uint8_t lo = b->ql[64 * h + l + 32 * (k & 1)];
		const int q = ((k >> 1 ? lo >> 4 : lo & 0xF) |
			       (((b->qh[32 * h + l] >> (2 * k)) & 3) << 4)) - 32;

		return KN_MUL(KN_MUL(kn_cu_h2f(b->d), (float)b->scales[8 * h + l / 16 + 2 * k]),
			      (float)q);
	}
	default:
		return 0.0f;
	}
}

/* ------------------------------------------------- activation quantizers */

/*
 * kn_cu_act_q8_block - 32 floats -> Q8_0 (@s NULL) or Q8_1 block as
 * ggml-cpu's x86 quantize_row_q8_0/q8_1 (kn_quantize_act_row): d = amax/127,
 * id = 127/amax, round half to even; Q8_1 also s = fp16(d * sum(q)).
 */
KN_HD void kn_cu_act_q8_block(const float *x, uint16_t *d16, uint16_t *s16, int8_t *qs)
{
	float amax = 0.0f;
	int sum = 0;

	for (int j = 0; j < 32; j++)
		amax = fmaxf(amax, fabsf(x[j]));
	const float d = amax / 127.f;
	const float id = amax != 0.0f ? 127.f / amax : 0.0f;

	for (int j = 0; j < 32; j++) {
		qs[j] = (int8_t)kn_cu_nearest_int(KN_MUL(x[j], id));
		sum += qs[j];
	}
	*d16 = kn_cu_f2h(d);
	if (s16)
		*s16 = kn_cu_f2h(KN_MUL(d, (float)sum));
}

/* kn_cu_act_q8_K - 256 floats -> one Q8_K block (ggml's quantize_row_q8_K_ref) */
KN_HD void kn_cu_act_q8_K(const float *x, kn_cu_q8_K *y)
{
	float max = 0, amax = 0;

	for (int j = 0; j < KN_CU_QK_K; j++) {
		const float ax = fabsf(x[j]);

		if (ax > amax) {
			amax = ax;
			max = x[j];
		}
	}
	if (!amax) {
		y->d = 0;
		for (int j = 0; j < KN_CU_QK_K; j++)
			y->qs[j] = 0;
		for (int j = 0; j < KN_CU_QK_K / 16; j++)
			y->bsums[j] = 0;
		return;
	}
	const float iscale = -127.f / max;

	for (int j = 0; j < KN_CU_QK_K; j++) {
		const int v = kn_cu_nearest_int(KN_MUL(iscale, x[j]));

		y->qs[j] = (int8_t)(v < 127 ? v : 127);
	}
	for (int j = 0; j < KN_CU_QK_K / 16; j++) {
		int sum = 0;

		for (int i = 0; i < 16; i++)
			sum += y->qs[j * 16 + i];
		y->bsums[j] = (int16_t)sum;
	}
	y->d = 1 / iscale;
}

/* ------------------------------------------------------- block dot products */

/*
 * struct kn_cu_acc - the float accumulators of one row dot, as kernels/cpu's
 * scalar dots keep them: 8 lanes (lane L takes bytes 4L..4L+3 of each
 * 32-quant vector), and the types' extra sums (Q4_0 its plain sum, Q4_1 and
 * Q5_K the min term, Q4_K 4 min lanes). A GPU thread keeps one per column
 * over the blocks it owns, then reduces it with kn_cu_acc_sum.
 */
struct kn_cu_acc {
	float l[8];
	float m[4];
	float s;
};

KN_HD void kn_cu_acc_init(struct kn_cu_acc *a)
{
	for (int i = 0; i < 8; i++)
		a->l[i] = 0.0f;
	for (int i = 0; i < 4; i++)
		a->m[i] = 0.0f;
	a->s = 0.0f;
}

/* ggml-cpu's hsum_float_8 */
KN_HD float kn_cu_hsum8(const float *v)
{
	const float r0 = KN_ADD(v[4], v[0]), r1 = KN_ADD(v[5], v[1]);
	const float r2 = KN_ADD(v[6], v[2]), r3 = KN_ADD(v[7], v[3]);

	return KN_ADD(KN_ADD(r0, r2), KN_ADD(r1, r3));
}

/* the accumulators' value, summed as the CPU's dot of type @t sums them */
KN_HD float kn_cu_acc_sum(uint32_t t, const struct kn_cu_acc *a)
{
	switch (t) {
	case KN_CU_Q4_0:
		return a->s;
	case KN_CU_Q4_K:
		return KN_ADD(kn_cu_hsum8(a->l),
			      KN_ADD(KN_ADD(a->m[0], a->m[2]), KN_ADD(a->m[1], a->m[3])));
	case KN_CU_Q4_1:
	case KN_CU_Q5_K:
		return KN_ADD(kn_cu_hsum8(a->l), a->s);
	default:	/* Q8_0, Q6_K */
		return kn_cu_hsum8(a->l);
	}
}

/*
 * kn_cu_dot_block - accumulate the dot of one weight block @w of type @t
 * (Q4_0 Q4_1 Q8_0 Q4_K Q5_K Q6_K) with one activation block @x of
 * kn_cu_vec_dot_type(t) into @acc, with kernels/cpu's scalar arithmetic:
 * exact integer sums (dp4a on the GPU), then the block scales in float.
 */
KN_HD void kn_cu_dot_block(uint32_t t, const void *w, const void *x, struct kn_cu_acc *acc)
{
	switch (t) {
	case KN_CU_Q4_0: {
		const kn_cu_q4_0 *b = (const kn_cu_q4_0 *)w;
		const kn_cu_q8_0 *a = (const kn_cu_q8_0 *)x;
		int isum = 0;

		for (int i = 0; i < 4; i++) {
			const uint32_t q = (uint32_t)kn_cu_ld32_b2(b->qs + 4 * i);
			/* nibble v - 8 in each byte, borrow-free: ((v | 0x80) - 8) ^ 0x80 */
			const int32_t lo = (int32_t)((((q & 0x0f0f0f0fu) | 0x80808080u) - 0x08080808u) ^
						     0x80808080u);
			const int32_t hi = (int32_t)(((((q >> 4) & 0x0f0f0f0fu) | 0x80808080u) -
						      0x08080808u) ^ 0x80808080u);

			isum = kn_cu_dp4a(lo, kn_cu_ld32_b2(a->qs + 4 * i), isum);
			isum = kn_cu_dp4a(hi, kn_cu_ld32_b2(a->qs + 16 + 4 * i), isum);
		}
		acc->s = KN_ADD(acc->s, KN_MUL(KN_MUL((float)isum, kn_cu_h2f(b->d)),
					       kn_cu_h2f(a->d)));
		return;
	}
	case KN_CU_Q4_1: {
		const kn_cu_q4_1 *b = (const kn_cu_q4_1 *)w;
		const kn_cu_q8_1 *a = (const kn_cu_q8_1 *)x;
		const float d = KN_MUL(kn_cu_h2f(b->d), kn_cu_h2f(a->d));

		for (int l = 0; l < 8; l++) {
			/* lane l: elements 4l..4l+3, the low nibbles below 16, high above */
			const uint32_t q = (uint32_t)kn_cu_ld32_b2(b->qs + 4 * (l & 3));
			const int32_t v = (int32_t)((l < 4 ? q : q >> 4) & 0x0f0f0f0fu);
			const int isum = kn_cu_dp4a(v, kn_cu_ld32_b2(a->qs + 4 * l), 0);

			acc->l[l] = fmaf(d, (float)isum, acc->l[l]);
		}
		acc->s = fmaf(kn_cu_h2f(b->m), kn_cu_h2f(a->s), acc->s);
		return;
	}
	case KN_CU_Q8_0: {
		const kn_cu_q8_0 *b = (const kn_cu_q8_0 *)w;
		const kn_cu_q8_0 *a = (const kn_cu_q8_0 *)x;
		const float d = KN_MUL(kn_cu_h2f(b->d), kn_cu_h2f(a->d));

		for (int l = 0; l < 8; l++) {
			const int isum = kn_cu_dp4a(kn_cu_ld32_b2(b->qs + 4 * l),
						    kn_cu_ld32_b2(a->qs + 4 * l), 0);

			acc->l[l] = fmaf(d, (float)isum, acc->l[l]);
		}
		return;
	}
	case KN_CU_Q4_K:
	case KN_CU_Q5_K: {
		const bool k5 = t == KN_CU_Q5_K;
		const kn_cu_q8_K *a = (const kn_cu_q8_K *)x;
		const uint16_t *dh = (const uint16_t *)w;
		const uint8_t *scales = k5 ? ((const kn_cu_q5_K *)w)->scales
					   : ((const kn_cu_q4_K *)w)->scales;
		const uint8_t *qs = k5 ? ((const kn_cu_q5_K *)w)->qs : ((const kn_cu_q4_K *)w)->qs;
		const uint8_t *qh = k5 ? ((const kn_cu_q5_K *)w)->qh : NULL;
		const float d = KN_MUL(a->d, kn_cu_h2f(dh[0]));
		const float dmin = KN_MUL(-a->d, kn_cu_h2f(dh[1]));
		int sc[8], m[8], lane[8], msum = 0;

		for (int j = 0; j < 8; j++) {
			kn_cu_scale_min_k4(j, scales, &sc[j], &m[j]);
			lane[j] = 0;
		}
		for (int j = 0; j < 4; j++) {
			for (int l = 0; l < 8; l++) {
				const uint32_t q = (uint32_t)kn_cu_ld32_b2(qs + 32 * j + 4 * l);
				int32_t v0 = (int32_t)(q & 0x0f0f0f0fu);
				int32_t v1 = (int32_t)((q >> 4) & 0x0f0f0f0fu);

				if (k5) {
					const uint32_t h = (uint32_t)kn_cu_ld32_b2(qh + 4 * l);

					v0 |= (int32_t)(((h >> (2 * j)) & 0x01010101u) << 4);
					v1 |= (int32_t)(((h >> (2 * j + 1)) & 0x01010101u) << 4);
				}
				lane[l] += sc[2 * j] * kn_cu_dp4a(v0, kn_cu_ld32_b2(a->qs + 64 * j + 4 * l), 0) +
					   sc[2 * j + 1] *
					   kn_cu_dp4a(v1, kn_cu_ld32_b2(a->qs + 64 * j + 32 + 4 * l), 0);
			}
		}
		if (k5) {
			for (int j = 0; j < 8; j++)
				msum += m[j] * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
			acc->s = fmaf(dmin, (float)msum, acc->s);
		}
		for (int l = 0; l < 8; l++)
			acc->l[l] = fmaf(d, (float)lane[l], acc->l[l]);
		if (!k5) {
			for (int k = 0; k < 4; k++) {
				const int16_t *bs = a->bsums + 4 * k;
				const int prod = m[2 * k] * (bs[0] + bs[1]) +
						 m[2 * k + 1] * (bs[2] + bs[3]);

				acc->m[k] = fmaf(dmin, (float)prod, acc->m[k]);
			}
		}
		return;
	}
	case KN_CU_Q6_K: {
		const kn_cu_q6_K *b = (const kn_cu_q6_K *)w;
		const kn_cu_q8_K *a = (const kn_cu_q8_K *)x;
		const float d = KN_MUL(a->d, kn_cu_h2f(b->d));
		const int8_t *sc = b->scales;
		int lane[8];

		for (int l = 0; l < 8; l++) {
			const int s = l / 4;	/* bytes 4l..4l+3 lie in scale group (4l)/16 */

			lane[l] = 0;
			for (int h = 0; h < 2; h++) {
				const uint32_t lo0 = (uint32_t)kn_cu_ld32_b2(b->ql + 64 * h + 4 * l);
				const uint32_t lo1 = (uint32_t)kn_cu_ld32_b2(b->ql + 64 * h + 32 + 4 * l);
				const uint32_t hb = (uint32_t)kn_cu_ld32_b2(b->qh + 32 * h + 4 * l);
				const int8_t *q8 = a->qs + 128 * h + 4 * l;
				const int32_t q0 = (int32_t)((lo0 & 0x0f0f0f0fu) | ((hb & 0x03030303u) << 4));
				const int32_t q1 = (int32_t)((lo1 & 0x0f0f0f0fu) |
							     (((hb >> 2) & 0x03030303u) << 4));
				const int32_t q2 = (int32_t)(((lo0 >> 4) & 0x0f0f0f0fu) |
							     (((hb >> 4) & 0x03030303u) << 4));
				const int32_t q3 = (int32_t)(((lo1 >> 4) & 0x0f0f0f0fu) |
							     (((hb >> 6) & 0x03030303u) << 4));

				lane[l] += sc[8 * h + s] * kn_cu_dp4a(q0, kn_cu_ld32_b2(q8), 0) +
					   sc[8 * h + 2 + s] * kn_cu_dp4a(q1, kn_cu_ld32_b2(q8 + 32), 0) +
					   sc[8 * h + 4 + s] * kn_cu_dp4a(q2, kn_cu_ld32_b2(q8 + 64), 0) +
					   sc[8 * h + 6 + s] * kn_cu_dp4a(q3, kn_cu_ld32_b2(q8 + 96), 0);
			}
		}
		for (int l = 0; l < 8; l++) {
			lane[l] -= 32 * (a->bsums[2 * l] * sc[2 * l] + a->bsums[2 * l + 1] * sc[2 * l + 1]);
			acc->l[l] = fmaf(d, (float)lane[l], acc->l[l]);
		}
		return;
	}
	default:
		return;
	}
}

/* kn_cu_dot_row - a whole row's dot, block after block: kernels/cpu's
 * kn_ref_dot_* bit for bit (the CPU test's subject; GPU threads split rows) */
KN_HD float kn_cu_dot_row(uint32_t t, int64_t n, const void *w, const void *x)
{
	const int be = kn_cu_block_elems(t), wb = kn_cu_block_bytes(t);
	const int xb = kn_cu_block_bytes(kn_cu_vec_dot_type(t));
	struct kn_cu_acc acc;

	kn_cu_acc_init(&acc);
	for (int64_t i = 0; i < n / be; i++)
		kn_cu_dot_block(t, (const uint8_t *)w + i * wb, (const uint8_t *)x + i * xb, &acc);
	return kn_cu_acc_sum(t, &acc);
}

#endif /* KN_CUDA_QUANT_CUH */
