// SPDX-License-Identifier: MIT
/*
 * accel-bench kernels: single-thread throughput of the CPU kernels. For each
 * weight type, matmul of one token (and of a batch) against weights that are
 * hot in cache and against a working set larger than the caches (DRAM), in
 * GFLOP/s and weight GB/s, scalar vs AVX2; plus the DRAM read bandwidth the
 * cold numbers should be compared with, and the K-quant decode's cold rate
 * against row length. Prints `name: value` lines.
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kn.h"
#include "kn_ops.h"

#include "bench.h"

static double bk_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t bk_rng = 88172645463325252ull;

static float bk_rand(void)
{
	bk_rng ^= bk_rng << 13;
	bk_rng ^= bk_rng >> 7;
	bk_rng ^= bk_rng << 17;
	return (float)((bk_rng >> 40) / (double)(1 << 24) * 2 - 1);
}

/* one pass summing @n 32-byte words with AVX2 loads (the widest every
 * x86 machine this runs on has): what one core can read */
__attribute__((target("avx2"))) static uint64_t bk_sum_avx2(const __m256i *p, size_t n)
{
	__m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
	uint64_t v[4];

	for (size_t i = 0; i + 4 <= n; i += 4) {
		s0 = _mm256_add_epi64(s0, _mm256_load_si256(p + i));
		s1 = _mm256_add_epi64(s1, _mm256_load_si256(p + i + 1));
		s2 = _mm256_add_epi64(s2, _mm256_load_si256(p + i + 2));
		s3 = _mm256_add_epi64(s3, _mm256_load_si256(p + i + 3));
	}
	_mm256_storeu_si256((__m256i *)v, _mm256_add_epi64(_mm256_add_epi64(s0, s1),
							  _mm256_add_epi64(s2, s3)));
	return v[0] + v[1] + v[2] + v[3];
}

/* GB/s of summing a buffer far larger than the caches (the best of 3) */
static double bk_dram_read(size_t bytes)
{
	uint64_t *buf = aligned_alloc(64, bytes);
	const bool avx2 = __builtin_cpu_supports("avx2");
	volatile uint64_t sink = 0;
	double best = 0;

	if (!buf)
		return 0;
	memset(buf, 1, bytes);
	for (int rep = 0; rep < 3; rep++) {
		double t0 = bk_now();

		if (avx2) {
			sink += bk_sum_avx2((const __m256i *)buf, bytes / 32);
		} else {
			uint64_t acc[8] = { 0 };

			/* 8 independent sums: the loop streams (and vectorises) */
			for (size_t i = 0; i + 8 <= bytes / 8; i += 8)
				for (int k = 0; k < 8; k++)
					acc[k] += buf[i + k];
			for (int k = 0; k < 8; k++)
				sink += acc[k];
		}
		double gbs = bytes / (bk_now() - t0) / 1e9;

		if (gbs > best)
			best = gbs;
	}
	free(buf);
	(void)sink;
	return best;
}

struct bk_res {
	double gflops, gbs, us;
};

/*
 * n_cols columns of one (n_in x n_out) matmul; `copies` distinct weight
 * matrices are cycled through so copies * size can exceed the caches.
 */
static struct bk_res bk_matmul(uint32_t type, int64_t n_in, int64_t n_out, int64_t n_cols,
			       int copies, double min_time)
{
	const uint32_t at = kn_vec_dot_type(type);
	const size_t wrs = kn_row_size(type, n_in), msz = wrs * n_out;
	uint8_t *w = malloc(msz * copies), *a = malloc(kn_row_size(at, n_in) * n_cols);
	float *row = malloc(n_in * sizeof(float)), *out = malloc(n_out * n_cols * sizeof(float));
	struct bk_res r = { 0, 0, 0 };
	long iters = 0;
	double t0, t, best = 1e30;

	if (!w || !a || !row || !out)
		goto out;
	for (int64_t i = 0; i < n_out; i++) {
		for (int64_t j = 0; j < n_in; j++)
			row[j] = bk_rand();
		kn_quantize_row(type, row, w + i * wrs, n_in);
	}
	for (int c = 1; c < copies; c++)
		memcpy(w + c * msz, w, msz);
	for (int64_t c = 0; c < n_cols; c++) {
		for (int64_t j = 0; j < n_in; j++)
			row[j] = bk_rand();
		kn_quantize_row(at, row, a + c * kn_row_size(at, n_in), n_in);
	}
	kn_matmul(out, w, type, a, NULL, n_in, n_out, n_cols, 0, 1);	/* warm up */
	/* the best call: a shared, noisy machine only ever slows calls down */
	t0 = bk_now();
	do {
		double c0 = bk_now();

		kn_matmul(out, w + (iters % copies) * msz, type, a, NULL, n_in, n_out, n_cols, 0, 1);
		iters++;
		t = bk_now();
		if (t - c0 < best)
			best = t - c0;
	} while (t - t0 < min_time);
	r.us = best * 1e6;
	r.gflops = 2.0 * n_in * n_out * n_cols / best / 1e9;
	r.gbs = (double)msz / best / 1e9;
out:
	free(w);
	free(a);
	free(row);
	free(out);
	return r;
}

int bench_kernels_main(int argc, char **argv)
{
	static const uint32_t types[] = { KN_Q4_0, KN_Q4_1, KN_Q8_0, KN_Q4_K, KN_Q5_K, KN_Q6_K,
					  KN_F16, KN_BF16, KN_F32 };
	double min_time = 0.3;
	int64_t batch = 16;
	bool quick = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
			min_time = 0.05;
		} else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
			int b;

			if (bench_int("--batch", argv[++i], 1, 4096, &b))
				return 1;
			batch = b;
		} else {
			fprintf(stderr, "usage: %s [--quick] [--batch N]\n", argv[0]);
			return 1;
		}
	}
	const double dram = bk_dram_read(quick ? (64ull << 20) : (1024ull << 20));

	printf("isa_best: %s\n", kn_isa_best() == KN_ISA_AVX512 ? "avx512" :
				  kn_isa_best() == KN_ISA_AVX2 ? "avx2" : "scalar");
	printf("dram_read_GBps: %.2f\n", dram);
	/* SmolLM2-135M FFN shapes: up 576 -> 1536 and down 1536 -> 576 */
	for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
		const uint32_t t = types[ti];
		const int64_t n_in = kn_type_block_elems(t) == 256 ? 1536 : 576;
		const int64_t n_out = n_in == 576 ? 1536 : 576;
		const size_t msz = kn_row_size(t, n_in) * n_out;
		/* a working set well past the last-level cache (260 MiB on some Xeons) */
		const int cold = (int)((quick ? (64ull << 20) : (768ull << 20)) / msz) + 1;
		const char *nm = kn_type_name(t);
		struct bk_res s, h, c, b;

		kn_isa_set(KN_ISA_SCALAR);
		s = bk_matmul(t, n_in, n_out, 1, 1, min_time);
		kn_isa_set(kn_isa_best());
		h = bk_matmul(t, n_in, n_out, 1, 1, min_time);
		c = bk_matmul(t, n_in, n_out, 1, cold, min_time);
		b = bk_matmul(t, n_in, n_out, batch, 1, min_time);
		printf("matmul_%s_%lldx%lld_weight_bytes: %zu\n", nm, (long long)n_in,
		       (long long)n_out, msz);
		printf("matmul_%s_n1_scalar: %.1f us %.2f GFLOP/s %.2f GB/s\n", nm, s.us, s.gflops,
		       s.gbs);
		printf("matmul_%s_n1_hot: %.1f us %.2f GFLOP/s %.2f GB/s (x%.1f scalar)\n", nm, h.us,
		       h.gflops, h.gbs, s.us / h.us);
		printf("matmul_%s_n1_dram: %.1f us %.2f GFLOP/s %.2f GB/s (time = %.2fx the DRAM-read bound)\n",
		       nm, c.us, c.gflops, c.gbs, dram > 0 ? dram / c.gbs : 0);
		printf("matmul_%s_n%lld_hot: %.1f us %.2f GFLOP/s\n", nm, (long long)batch, b.us,
		       b.gflops);
		fflush(stdout);
	}
	/*
	 * K-quant decode against row length, cold: rows past 32 super-blocks
	 * (8192 inputs) take the 8-row tile (kn_avx2_k_gemv_tile8), where the
	 * two row streams lost the activation from L1 (7B's ffn_down has 11008
	 * inputs, Llama-3-8B's 14336)
	 */
	static const uint32_t ktypes[] = { KN_Q5_K, KN_Q6_K };
	static const int64_t kin[] = { 4096, 11008, 16384 };

	for (size_t ti = 0; ti < sizeof(ktypes) / sizeof(ktypes[0]); ti++) {
		for (size_t k = 0; k < sizeof(kin) / sizeof(kin[0]); k++) {
			const uint32_t t = ktypes[ti];
			const size_t wrs = kn_row_size(t, kin[k]);
			/* a 7B projection's size, a multiple of 8 rows */
			const int64_t n_out = (int64_t)((quick ? (8ull << 20) : (45ull << 20)) / wrs) & ~7;
			const size_t msz = wrs * n_out;
			const int cold = (int)((quick ? (64ull << 20) : (768ull << 20)) / msz) + 1;
			const struct bk_res c = bk_matmul(t, kin[k], n_out, 1, cold, min_time);

			printf("gemv_%s_in%lld_dram: %.2f GB/s (%.2f of the DRAM read rate)\n",
			       kn_type_name(t), (long long)kin[k], c.gbs, dram > 0 ? c.gbs / dram : 0);
			fflush(stdout);
		}
	}
	return 0;
}
