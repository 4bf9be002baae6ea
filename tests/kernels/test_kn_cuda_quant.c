// SPDX-License-Identifier: MIT
/*
 * The CUDA backend's shared host/device math (kernels/cuda/kn_cuda_quant.cuh),
 * compiled here by the host C compiler, against kernels/cpu's scalar
 * references, bit for bit: fp16 (all 65536 halves, 2^20 floats incl. every
 * class), bf16, the dequantization of every type (quantizer output and
 * random block bytes), the activation quantizers (Q8_0, Q8_1, Q8_K) and the
 * row dots of every quantized MATMUL type built from its one-block dot.
 * What the GPU computes from these is checked on a GPU by tests/gpu.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "kn_test.h"
#include "kn_cuda_quant.cuh"

static const uint32_t deq_types[] = { KN_F32, KN_F16, KN_BF16, KN_Q4_0, KN_Q4_1, KN_Q8_0,
				      KN_Q8_1, KN_Q8_K, KN_Q4_K, KN_Q5_K, KN_Q6_K };
static const uint32_t dot_types[] = { KN_Q4_0, KN_Q4_1, KN_Q8_0, KN_Q4_K, KN_Q5_K, KN_Q6_K };
#define N_DEQ	(int)(sizeof(deq_types) / sizeof(deq_types[0]))
#define N_DOT	(int)(sizeof(dot_types) / sizeof(dot_types[0]))

static uint32_t f2u(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float u2f(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/* a finite fp16 of moderate size (block scales of random blocks) */
static uint16_t rand_h(void)
{
	return kn_fp32_to_fp16(kt_uniform() * 0.05f);
}

/* random bytes in every block of a row of @t, with finite fp16/f32 scales, so
 * every nibble, high bit and 6-bit scale combination occurs */
static void random_blocks(uint32_t t, uint8_t *row, int64_t nb)
{
	const size_t bs = kn_type_block_bytes(t);

	for (size_t i = 0; i < nb * bs; i++)
		row[i] = (uint8_t)kt_u64();
	for (int64_t b = 0; b < nb; b++) {
		uint8_t *p = row + b * bs;
		uint16_t h[2] = { rand_h(), rand_h() };
		const float d = kt_uniform() * 0.01f;

		switch (t) {
		case KN_Q4_0: case KN_Q8_0: case KN_Q4_1: case KN_Q8_1:
		case KN_Q4_K: case KN_Q5_K:
			memcpy(p, h, t == KN_Q4_0 || t == KN_Q8_0 ? 2 : 4);
			break;
		case KN_Q6_K:
			memcpy(p + 208, h, 2);
			break;
		case KN_Q8_K:
			memcpy(p, &d, 4);
			break;
		default:
			break;
		}
	}
}

static bool same_bits(const float *a, const float *b, int64_t n, int64_t *bad)
{
	for (int64_t i = 0; i < n; i++) {
		if (f2u(a[i]) != f2u(b[i])) {
			*bad = i;
			return false;
		}
	}
	return true;
}

static void test_fp16(void)
{
	int bad = 0, bad_f2h = 0, bad_bf = 0, bad_f2bf = 0;
	static const uint32_t edges[] = {
		0x00000000, 0x80000000, 0x33000000, 0x33000001, 0x387fc000, 0x387fe000,
		0x38800000, 0x477fe000, 0x477fefff, 0x477ff000, 0x7f800000, 0xff800000,
		0x7fc00000, 0x7f800001, 0xffffffff, 0x00000001, 0x3f800000, 0xc7800000,
	};

	for (uint32_t h = 0; h < 65536; h++) {
		bad += f2u(kn_cu_h2f((uint16_t)h)) != f2u(kn_fp16_to_fp32((uint16_t)h));
		bad_bf += f2u(kn_cu_bf2f((uint16_t)h)) != f2u(kn_bf16_to_fp32((uint16_t)h));
	}
	ok(bad == 0, "fp16 -> f32: all 65536 halves bit-identical (%d differ)", bad);
	ok(bad_bf == 0, "bf16 -> f32: all 65536 bit-identical (%d differ)", bad_bf);
	kt_seed(11);
	for (int i = 0; i < (1 << 20) + (int)(sizeof(edges) / 4); i++) {
		uint32_t u = i < (int)(sizeof(edges) / 4) ? edges[i] : (uint32_t)kt_u64();
		float f;

		/* a third in the half's range, where rounding happens */
		if (i % 3 == 1)		/* exponents 2^-26 .. 2^17 */
			u = (u & 0x807fffffu) | ((101u + (u >> 23) % 44u) << 23);
		f = u2f(u);
		bad_f2h += kn_cu_f2h(f) != kn_fp32_to_fp16(f);
		bad_f2bf += kn_cu_f2bf(f) != kn_fp32_to_bf16(f);
	}
	ok(bad_f2h == 0, "f32 -> fp16: 2^20 floats and the edges round identically (%d differ)",
	   bad_f2h);
	ok(bad_f2bf == 0, "f32 -> bf16: 2^20 floats and the edges identical (%d differ)", bad_f2bf);
}

/* every element of every block, from quantizer output and from random bytes */
static void test_dequant(uint32_t t)
{
	const int64_t be = kn_type_block_elems(t), nbs[] = { 1, 5, 16 };
	int bad_rows = 0, rows = 0;
	int64_t at = -1;

	for (int r = 0; r < 3; r++) {
		for (int rep = 0; rep < 6; rep++, rows++) {
			const int64_t n = nbs[r] * (be == 1 ? 96 : be), nb = n / be;
			float *x = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
			float *got = malloc(n * sizeof(float));
			uint8_t *q = malloc(kn_row_size(t, n));
			const int bb = kn_cu_block_bytes(t);

			kt_seed(1000 * t + 10 * r + rep);
			if (rep < 3 || be == 1) {
				kt_fill(x, n, rep == 1 ? 1e-3f : rep == 2 ? 300.0f : 1.0f);
				if (rep == 4)
					memset(x, 0, n / 2 * sizeof(float));	/* zero blocks */
				kn_quantize_row_isa(KN_ISA_SCALAR, t, x, q, n);
			} else {
				random_blocks(t, q, nb);
			}
			kn_dequantize_row_isa(KN_ISA_SCALAR, t, q, ref, n);
			for (int64_t b = 0; b < nb; b++)
				for (int j = 0; j < be; j++)
					got[b * be + j] = be == 1 ? kn_cu_dequant(t, q, (int)b)
								  : kn_cu_dequant(t, q + b * bb, j);
			if (!same_bits(got, ref, n, &at)) {
				if (!bad_rows++)
					diag("%s row %d: element %lld %.9g != %.9g", kn_type_name(t), rows,
					     (long long)at, got[at], ref[at]);
			}
			free(x);
			free(ref);
			free(got);
			free(q);
		}
	}
	ok(bad_rows == 0, "dequant %s: %d rows (quantized and random blocks) bit-identical",
	   kn_type_name(t), rows);
}

/* activation quantizers: the bytes kn_quantize_act_row writes */
static void test_act(uint32_t t)
{
	const int64_t be = kn_type_block_elems(t), n = 8 * be;
	const size_t bs = kn_type_block_bytes(t);
	int bad = 0;

	for (int rep = 0; rep < 12; rep++) {
		float *x = malloc(n * sizeof(float));
		uint8_t *ref = malloc(kn_row_size(t, n)), *got = malloc(kn_row_size(t, n));

		memset(ref, 0, kn_row_size(t, n));
		memset(got, 0, kn_row_size(t, n));
		kt_seed(77 * t + rep);
		kt_fill(x, n, rep % 3 == 0 ? 1e-4f : rep % 3 == 1 ? 1.0f : 1e3f);
		if (rep == 5)
			memset(x, 0, be * sizeof(float));	/* an all-zero block */
		if (rep == 7)
			for (int64_t i = 0; i < n; i++)
				x[i] = (float)(i % 7) - 3.0f;	/* ties for the rounding */
		kn_quantize_act_row_isa(KN_ISA_SCALAR, t, x, ref, n);
		for (int64_t b = 0; b < n / be; b++) {
			uint8_t *p = got + b * bs;

			if (t == KN_Q8_K) {
				kn_cu_act_q8_K(x + b * be, (kn_cu_q8_K *)p);
			} else {
				uint16_t d, s;

				kn_cu_act_q8_block(x + b * be, &d, t == KN_Q8_1 ? &s : NULL,
						   (int8_t *)(p + (t == KN_Q8_1 ? 4 : 2)));
				memcpy(p, &d, 2);
				if (t == KN_Q8_1)
					memcpy(p + 2, &s, 2);
			}
		}
		bad += memcmp(got, ref, kn_row_size(t, n)) != 0;
		free(x);
		free(ref);
		free(got);
	}
	ok(bad == 0, "activation quantizer %s: 12 rows byte-identical (%d differ)", kn_type_name(t),
	   bad);
}

/* the one-block dot composed into rows equals the scalar kn_vec_dot */
static void test_dot(uint32_t t)
{
	const uint32_t at = kn_vec_dot_type(t);
	const int64_t be = kn_type_block_elems(t), nbs[] = { 1, 2, 7, 16, 33 };
	int bad = 0, rows = 0;

	for (int r = 0; r < 5; r++) {
		for (int rep = 0; rep < 8; rep++, rows++) {
			const int64_t n = nbs[r] * be;
			float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
			uint8_t *w = malloc(kn_row_size(t, n)), *a = malloc(kn_row_size(at, n));
			float ref, got;

			kt_seed(5000 + 100 * t + 10 * r + rep);
			kt_fill(y, n, rep & 1 ? 20.0f : 0.5f);
			kn_quantize_act_row_isa(KN_ISA_SCALAR, at, y, a, n);
			if (rep < 4) {
				kt_fill(x, n, rep & 2 ? 0.01f : 1.0f);
				kn_quantize_row_isa(KN_ISA_SCALAR, t, x, w, n);
			} else {
				random_blocks(t, w, n / be);
			}
			ref = kn_vec_dot_isa(KN_ISA_SCALAR, t, n, w, a);
			got = kn_cu_dot_row(t, n, w, a);
			if (f2u(ref) != f2u(got) && !bad++)
				diag("%s n=%lld rep %d: %.9g != %.9g", kn_type_name(t), (long long)n, rep,
				     got, ref);
			free(x);
			free(y);
			free(w);
			free(a);
		}
	}
	ok(bad == 0, "dot %s . %s: %d rows, block by block, bit-identical to the scalar dot",
	   kn_type_name(t), kn_type_name(at), rows);
}

int main(void)
{
	plan(4 + N_DEQ + 3 + N_DOT + 1);
	test_fp16();
	for (int i = 0; i < N_DEQ; i++)
		test_dequant(deq_types[i]);
	test_act(KN_Q8_0);
	test_act(KN_Q8_1);
	test_act(KN_Q8_K);
	for (int i = 0; i < N_DOT; i++)
		test_dot(dot_types[i]);
	{
		int bad = 0;

		for (int i = 0; i < N_DOT; i++)
			bad += kn_cu_block_bytes(dot_types[i]) != (int)kn_type_block_bytes(dot_types[i]) ||
			       kn_cu_block_elems(dot_types[i]) != kn_type_block_elems(dot_types[i]) ||
			       kn_cu_vec_dot_type(dot_types[i]) != kn_vec_dot_type(dot_types[i]);
		ok(bad == 0, "block sizes and vec_dot types agree with kn.h's type traits");
	}
	return done_testing();
}
