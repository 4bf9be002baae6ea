// SPDX-License-Identifier: MIT
/*
 * What the CUDA kernels get out of the GPU, as accel-bench reports (one
 * `name: value` line each, ratios to a physical limit measured in the same
 * run): decode GEMV weight bandwidth per type against the device's
 * copy bandwidth (cudaMemcpy device to device) and its spec peak; paged
 * decode attention's K/V read bandwidth; prefill GEMM (dequantize + cuBLAS)
 * and FlashAttention prefill throughput. accel-bench cannot link CUDA in the
 * default build, so this program is its GPU part, built by `make cuda` and
 * run by tests/gpu/run.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cuda_runtime_api.h>
#include "kn_cuda.h"

static struct kn_cuda_ctx *ctx;
static cudaEvent_t ev0, ev1;

static void *dmalloc(size_t n)
{
	void *p = NULL;

	if (cudaMalloc(&p, n) != cudaSuccess) {
		fprintf(stderr, "bench_cuda: cudaMalloc %zu bytes failed\n", n);
		exit(1);
	}
	cudaMemset(p, 0, n);
	return p;
}

/* fill device bytes with a valid pattern of @type: small fp16 scales, random quants */
static void *drand_rows(uint32_t type, int64_t n_in, int64_t rows)
{
	const size_t rs = kn_row_size(type, n_in);
	float *x = malloc(n_in * sizeof(float));
	uint8_t *h = malloc(rs * 64);
	uint8_t *d = dmalloc(rs * rows);

	for (int64_t r = 0; r < 64; r++) {
		for (int64_t i = 0; i < n_in; i++)
			x[i] = (float)((r * 131 + i * 7919) % 2001 - 1000) / 1000.0f;
		kn_quantize_row(type, x, h + r * rs, n_in);
	}
	for (int64_t r = 0; r < rows; r += 64)
		cudaMemcpy(d + r * rs, h, rs * (rows - r < 64 ? rows - r : 64), cudaMemcpyHostToDevice);
	free(x);
	free(h);
	return d;
}

static double time_ms(void)
{
	float ms = 0;

	cudaEventRecord(ev1, 0);
	cudaEventSynchronize(ev1);
	cudaEventElapsedTime(&ms, ev0, ev1);
	return ms;
}

int main(void)
{
	static const uint32_t types[] = { KN_F16, KN_BF16, KN_Q4_0, KN_Q4_1, KN_Q8_0, KN_Q4_K,
					  KN_Q5_K, KN_Q6_K };
	struct cudaDeviceProp prop;
	int clk = 0, bus = 0, it = 20;
	const size_t cp = (size_t)1 << 30;
	double copy_bw, peak;

	if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
		fprintf(stderr, "bench_cuda: no CUDA device\n");
		return 1;
	}
	cudaDeviceGetAttribute(&clk, cudaDevAttrMemoryClockRate, 0);
	cudaDeviceGetAttribute(&bus, cudaDevAttrGlobalMemoryBusWidth, 0);
	peak = 2.0 * clk * 1e3 * bus / 8;
	if (kn_cuda_ctx_create(&ctx, NULL, (size_t)1 << 30)) {
		fprintf(stderr, "bench_cuda: context creation failed\n");
		return 1;
	}
	cudaEventCreate(&ev0);
	cudaEventCreate(&ev1);
	printf("device: %s\n", prop.name);
	printf("hbm_peak_GBps: %.0f\n", peak / 1e9);

	uint8_t *a = dmalloc(cp), *b = dmalloc(cp);

	cudaMemcpy(b, a, cp, cudaMemcpyDeviceToDevice);
	cudaEventRecord(ev0, 0);
	for (int i = 0; i < 5; i++)
		cudaMemcpyAsync(b, a, cp, cudaMemcpyDeviceToDevice, 0);
	copy_bw = 5.0 * 2 * cp / (time_ms() / 1e3);	/* read + write */
	printf("copy_GBps: %.0f\n", copy_bw / 1e9);
	printf("copy_vs_peak: %.3f\n", copy_bw / peak);
	cudaFree(a);
	cudaFree(b);

	/* decode: one column through a 4096 x 14336 matrix (a 8B model's FFN) */
	const int64_t n_in = 4096, n_rows = 14336;
	float *x = dmalloc(n_in * 512 * sizeof(float)), *out = dmalloc(n_rows * 512 * sizeof(float));

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const uint32_t t = types[i];
		void *w = drand_rows(t, n_in, n_rows);
		const double bytes = (double)kn_row_size(t, n_in) * n_rows;

		kn_cuda_matmul(ctx, out, w, t, x, NULL, n_in, n_rows, 1);
		cudaEventRecord(ev0, 0);
		for (int k = 0; k < it; k++)
			kn_cuda_matmul(ctx, out, w, t, x, NULL, n_in, n_rows, 1);
		const double s = time_ms() / 1e3 / it;

		printf("gemv_%s_GBps: %.0f\n", kn_type_name(t), bytes / s / 1e9);
		printf("gemv_%s_vs_copy: %.3f\n", kn_type_name(t), bytes / s / copy_bw);
		/* prefill: 512 columns through the same matrix */
		kn_cuda_matmul(ctx, out, w, t, x, NULL, n_in, n_rows, 512);
		cudaEventRecord(ev0, 0);
		for (int k = 0; k < 5; k++)
			kn_cuda_matmul(ctx, out, w, t, x, NULL, n_in, n_rows, 512);
		printf("gemm512_%s_TFLOPS: %.1f\n", kn_type_name(t),
		       2.0 * n_in * n_rows * 512 / (time_ms() / 1e3 / 5) / 1e12);
		cudaFree(w);
	}

	/* attention: 32 heads / 8 KV heads, hd 128, F16 cache, 16-token blocks */
	const int64_t hd = 128, nh = 32, nkv = 8, ctxlen = 4096, btok = 16;
	const int64_t nblk = ctxlen / btok + 1;
	const uint64_t bsz = (uint64_t)2 * btok * nkv * hd * 2;	/* one layer */
	uint8_t *cache = dmalloc(bsz * nblk);
	int32_t *hbt = malloc(nblk * 4), *hpos = malloc(1024 * 4), *hseq = calloc(1024, 4);

	for (int64_t i = 0; i < nblk; i++)
		hbt[i] = (int32_t)i;
	int32_t *bt = dmalloc(nblk * 4), *pos = dmalloc(1024 * 4), *seq = dmalloc(1024 * 4);
	float *q = dmalloc(1024 * nh * hd * 4), *kv = dmalloc(1024 * nkv * hd * 4);
	float *ao = dmalloc(1024 * nh * hd * 4);

	cudaMemcpy(bt, hbt, nblk * 4, cudaMemcpyHostToDevice);
	cudaMemcpy(seq, hseq, 1024 * 4, cudaMemcpyHostToDevice);
	struct kn_attn_args at = {
		.out = ao, .q = q, .k = kv, .v = kv, .cache = cache, .block_size = bsz,
		.block_table = bt, .max_blocks = nblk, .pos = pos, .seq = seq, .n = 1,
		.n_head = nh, .n_kv_head = nkv, .hd = hd, .layer = 0, .n_layer = 1,
		.block_tokens = (int)btok, .k_type = KN_F16, .v_type = KN_F16, .scale = 1.0f / sqrtf(128.0f),
	};

	hpos[0] = (int32_t)(ctxlen - 1);
	cudaMemcpy(pos, hpos, 4, cudaMemcpyHostToDevice);
	kn_cuda_attn(ctx, &at, 1, nblk, false);
	cudaEventRecord(ev0, 0);
	for (int k = 0; k < it; k++)
		kn_cuda_attn(ctx, &at, 1, nblk, false);
	const double kvb = 2.0 * ctxlen * nkv * hd * 2;

	printf("attn_decode_4096_GBps: %.0f\n", kvb / (time_ms() / 1e3 / it) / 1e9);
	for (int i = 0; i < 1024; i++)
		hpos[i] = i;
	cudaMemcpy(pos, hpos, 1024 * 4, cudaMemcpyHostToDevice);
	at.n = 1024;
	kn_cuda_attn(ctx, &at, 1, nblk, true);
	cudaEventRecord(ev0, 0);
	for (int k = 0; k < 5; k++)
		kn_cuda_attn(ctx, &at, 1, nblk, true);
	/* causal: half of the 1024 x 1024 scores, two products of hd each */
	printf("attn_prefill_1024_TFLOPS: %.1f\n",
	       2.0 * 2 * nh * hd * 1024.0 * 1024 / 2 / (time_ms() / 1e3 / 5) / 1e12);
	printf("errors: %d\n", kn_cuda_ctx_sync(ctx));
	kn_cuda_ctx_destroy(ctx);
	return 0;
}
