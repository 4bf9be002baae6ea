// SPDX-License-Identifier: MIT
/*
 * accel-bench: micro and macro benchmarks of the stack, one subcommand per
 * area (table below). Each prints `name: value` lines.
 */
#include <stdio.h>
#include <string.h>
#include "bench.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} benches[] = {
	{ "device", bench_device, "libaccel: KV alloc/free, fence wake, per-command overhead, COPY bandwidth" },
	{ "kernels", bench_kernels_main, "kernels: matmul per weight type, scalar vs AVX2" },
	{ "decode", bench_decode_main, "runtime: prompt and generation tokens/s, vs llama.cpp when built" },
	{ "spec", bench_spec_main, "speculative decoding (n-gram lookup, draft model) vs plain, streamed or resident" },
	{ "stream", bench_stream_main, "streaming under --mem-budget: vs raw O_DIRECT reads, overlap, -np 1/8" },
	{ "pipeline", bench_pipeline_main, "1 rank streaming vs 2 MPI ranks each half resident: tokens/s, bytes/token, bubble" },
	{ "kv", bench_kv_main, "KV memory: the largest -np of a context that fits --mem-budget, f16 and q8_0" },
	{ "gpu", bench_gpu_main, "the CUDA GPU through libaccel: H2D/D2H, GEMV per weight type vs HBM peak, copy/compute overlap" },
	{ "vram", bench_vram_main, "--vram-budget on the GPU: host->VRAM GB/s, tokens/s at -np 1/N vs the PCIe bound" },
	{ "serve", bench_serve_main, "the serving scheduler: tokens/s, TTFT, ITL at 1/4/16 clients; prefix cache" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: accel-bench SUBCOMMAND [ARGS]\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		fprintf(f, "  %-10s %s\n", benches[i].name, benches[i].help);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		if (!strcmp(argv[1], benches[i].name))
			return benches[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "accel-bench: unknown subcommand '%s' (try --help)\n", argv[1]);
	return 1;
}
