// SPDX-License-Identifier: MIT
/*
 * F32 weights in llama.cpp's order, per ISA: kn_vec_dot(F32) is
 * ggml_vec_dot_f32 of llama.cpp's build for that ISA and kn_matmul picks, as
 * ggml_compute_forward_mul_mat does, llamafile's tinyBLAS for two or more
 * columns where it applies. The scalar models below are those two functions
 * written out in C (4 x W-lane FMA chains, their fold, the build's register
 * sum, the tail as GCC compiled it); the vec_dot model was checked against the
 * libggml-cpu.so of both llama.cpp b11312 builds for n = 1..520 (a manual
 * check: CI has no llama.cpp build; the goldens are its end-to-end twin).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "kn_test.h"
#include "kn_ops.h"

#pragma GCC optimize("fp-contract=off")

/* a register of W lanes summed as the build does: GCC's _mm512_reduce_add_ps
 * (W 16); tinyBLAS's hsum (W 8, @hadd false) or vec_dot's two hadds (@hadd) */
static float reg_sum(const float *v, int W, bool hadd)
{
	float t8[8], t[4];

	if (W == 16) {
		for (int i = 0; i < 8; i++)
			t8[i] = v[8 + i] + v[i];
		v = t8;
	}
	for (int i = 0; i < 4; i++)
		t[i] = v[4 + i] + v[i];
	return hadd ? (t[0] + t[1]) + (t[2] + t[3]) : (t[0] + t[2]) + (t[1] + t[3]);
}

static float model_vec_dot(int64_t n, const float *x, const float *y, int W)
{
	float acc[4][16] = { { 0 } }, s;
	const int64_t step = 4 * W, np = n & ~(step - 1);
	int64_t i;

	for (i = 0; i < np; i += step)
		for (int j = 0; j < 4; j++)
			for (int l = 0; l < W; l++)
				acc[j][l] = fmaf(x[i + j * W + l], y[i + j * W + l], acc[j][l]);
	for (int l = 0; l < W; l++)
		acc[0][l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
	s = reg_sum(acc[0], W, W == 8);
	for (; n - i >= W; i += W)
		for (int l = 0; l < W; l++)
			s += x[i + l] * y[i + l];
	if (n - i >= W / 2) {
		for (int l = 0; l < W / 2; l++)
			s += x[i + l] * y[i + l];
		i += W / 2;
	}
	for (; i < n; i++)
		s = fmaf(x[i], y[i], s);
	return s;
}

static float model_tinyblas(int64_t n, const float *x, const float *y, int W)
{
	float acc[16] = { 0 };

	for (int64_t i = 0; i < n; i += W)
		for (int l = 0; l < W; l++)
			acc[l] = fmaf(x[i + l], y[i + l], acc[l]);
	return reg_sum(acc, W, false);
}

/* with sequences: a column takes tinyBLAS's order only when its sequence has
 * several columns, so a lone decode column equals its batch-of-one result;
 * row-invariant: all columns as vec_dot */
static void test_seq(const char *name, int W)
{
	static const int32_t seq[9] = { 4, 1, 1, 1, 7, 2, 2, 9, 5 };
	const int64_t nr = 8, ni = 64, nc = 9;
	float w[8 * 64], a[9 * 64], o[9 * 8], oi[9 * 8];
	int bad = 0, bad_inv = 0;

	kt_seed(4242);
	kt_fill(w, nr * ni, 1.0f);
	kt_fill(a, nc * ni, 2.0f);
	kn_matmul_seq(o, w, KN_F32, a, NULL, ni, nr, nc, seq, NULL, false, nr, 0, 1);
	kn_matmul_seq(oi, w, KN_F32, a, NULL, ni, nr, nc, seq, NULL, true, nr, 0, 1);
	for (int64_t c = 0; c < nc; c++) {
		const bool shared = seq[c] == 1 || seq[c] == 2;

		for (int64_t r = 0; r < nr; r++) {
			const float *wr = w + r * ni, *ac = a + c * ni;
			const float want = shared ? model_tinyblas(ni, wr, ac, W)
						  : model_vec_dot(ni, wr, ac, W);
			const float one = model_vec_dot(ni, wr, ac, W);

			bad += memcmp(&o[c * nr + r], &want, sizeof(float)) != 0;
			bad_inv += memcmp(&oi[c * nr + r], &one, sizeof(float)) != 0;
		}
	}
	/* the reference run's counts (a scheduler's other cut): 1 -> vec_dot,
	 * >= 2 -> tinyBLAS, whatever this batch holds */
	{
		static const int32_t ones[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
		static const int32_t many[9] = { 5, 5, 5, 5, 5, 5, 5, 5, 5 };
		float oc[9 * 8];

		kn_matmul_seq(oc, w, KN_F32, a, NULL, ni, nr, nc, seq, ones, false, nr, 0, 1);
		for (int64_t i = 0; i < nr * nc; i++)
			bad += memcmp(&oc[i], &oi[i], sizeof(float)) != 0;
		kn_matmul_seq(oc, w, KN_F32, a, NULL, ni, nr, nc, seq, many, false, nr, 0, 1);
		for (int64_t c = 0; c < nc; c++)
			for (int64_t r = 0; r < nr; r++) {
				const float want = model_tinyblas(ni, w + r * ni, a + c * ni, W);

				bad += memcmp(&oc[c * nr + r], &want, sizeof(float)) != 0;
			}
	}
	/* one column of a chunk of 5, computed alone (a one-token piece): tinyBLAS */
	{
		static const int32_t five = 5;
		float o1[8];

		kn_matmul_seq(o1, w, KN_F32, a, NULL, ni, nr, 1, seq, &five, false, nr, 0, 1);
		for (int64_t r = 0; r < nr; r++) {
			const float want = model_tinyblas(ni, w + r * ni, a, W);

			bad += memcmp(&o1[r], &want, sizeof(float)) != 0;
		}
	}
	/* a slice of 6 of the 8 rows (a head chunk) computes as the whole matrix */
	kn_matmul_seq(oi, w, KN_F32, a, NULL, ni, 6, nc, seq, NULL, false, nr, 0, 1);
	for (int64_t c = 0; c < nc; c++)
		for (int64_t r = 0; r < 6; r++)
			bad += memcmp(&oi[c * 6 + r], &o[c * nr + r], sizeof(float)) != 0;
	ok(!bad && !bad_inv, "%s: per-sequence order, the reference run's counts, a 6-row slice (%d differ), "
	   "row-invariant as one column (%d differ)", name, bad, bad_inv);
}

static void test_isa(enum kn_isa isa, const char *name, int W)
{
	static const int64_t rows[] = { 4, 6, 64 }, ins[] = { 8, 16, 24, 64, 172 };
	static const int64_t cols[] = { 1, 2, 3, 5, 9 };
	int bad = 0, cases = 0, sg = 0;

	if (kn_isa_set(isa) < 0) {
		skip(3, "no %s on this cpu", name);
		return;
	}
	for (int64_t n = 1; n <= 300; n++) {
		for (int rep = 0; rep < 3; rep++, cases++) {
			float x[300], y[300], got, want;

			kt_seed(1000 * n + rep);
			kt_fill(x, n, 1.5f);
			kt_fill(y, n, rep ? 40.0f : 0.7f);
			got = kn_vec_dot_isa(isa, KN_F32, n, x, y);
			want = model_vec_dot(n, x, y, W);
			bad += memcmp(&got, &want, sizeof(float)) != 0;
		}
	}
	ok(!bad, "%s: F32 vec_dot is ggml_vec_dot_f32 of llama.cpp's %s build (%d of %d differ)",
	   name, name, bad, cases);

	bad = cases = 0;
	for (int ri = 0; ri < 3; ri++) {
		for (int ii = 0; ii < 5; ii++) {
			for (int ci = 0; ci < 5; ci++) {
				const int64_t nr = rows[ri], ni = ins[ii], nc = cols[ci];
				const bool tb = nc >= 2 && nr % 4 == 0 && ni % W == 0;
				float *w = malloc(sizeof(float) * nr * ni);
				float *a = malloc(sizeof(float) * nc * ni);
				float *o = malloc(sizeof(float) * nr * nc);

				kt_seed(77 * nr + 13 * ni + nc);
				kt_fill(w, nr * ni, 1.0f);
				kt_fill(a, nc * ni, 3.0f);
				kn_matmul(o, w, KN_F32, a, NULL, ni, nr, nc, 0, 1);
				for (int64_t c = 0; c < nc; c++) {
					for (int64_t r = 0; r < nr; r++, cases++) {
						const float want = tb ? model_tinyblas(ni, w + r * ni, a + c * ni, W)
								      : model_vec_dot(ni, w + r * ni, a + c * ni, W);

						bad += memcmp(&o[c * nr + r], &want, sizeof(float)) != 0;
					}
				}
				sg += tb;
				free(w);
				free(a);
				free(o);
			}
		}
	}
	ok(!bad, "%s: F32 matmul in mul_mat's order, tinyBLAS for %d of 75 shapes (%d of %d differ)",
	   name, sg, bad, cases);
	test_seq(name, W);
}

int main(void)
{
	plan(6);
	test_isa(KN_ISA_AVX2, "AVX2", 8);
	test_isa(KN_ISA_AVX512, "AVX-512", 16);
	return done_testing();
}
