/* SPDX-License-Identifier: MIT */
/*
 * accel-bench subcommands: each is `int bench_<name>(int argc, char **argv)`
 * (argv[0] is the subcommand), prints `name: value` lines on stdout and
 * returns the exit code. main.c lists them in its table.
 */
#ifndef ACCEL_BENCH_H
#define ACCEL_BENCH_H

#include <stdint.h>
#include "accel.h"

int bench_device(int argc, char **argv);
int bench_kernels_main(int argc, char **argv);
int bench_decode_main(int argc, char **argv);
int bench_stream_main(int argc, char **argv);
int bench_pipeline_main(int argc, char **argv);
int bench_serve_main(int argc, char **argv);
int bench_spec_main(int argc, char **argv);
int bench_kv_main(int argc, char **argv);
int bench_gpu_main(int argc, char **argv);
int bench_vram_main(int argc, char **argv);

/* bench_util.c */
int bench_usage(const char *usage);
int bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** bench_int, bench_size - tools/lib's strict parsers; on a refusal the one
 *  line (flag and value as given) is printed and 1 returned */
int bench_int(const char *flag, const char *val, long long lo, long long hi, int *out);
int bench_size(const char *flag, const char *val, uint64_t *out);
/** bench_prompts - @np prompts of 8 token ids spread over the vocabulary,
 *  in @buf, as rt_generate_parallel takes them (@prompts, @n_prompt) */
void bench_prompts(int np, int n_vocab, int32_t (*buf)[8], int32_t **prompts, int *n_prompt);
/** bench_pcie_peak - the GPU's PCIe link peak (GB/s, one direction) from
 *  sysfs and a "BUS GT/s xWIDTH" line; -ENOENT where it cannot be read */
int bench_pcie_peak(double *gbps, char *desc, size_t desc_len);
/* -t: the COMPUTE engine's limit */
#define BENCH_MAX_THREADS ACCEL_QUEUE_MAX_THREADS


#endif /* ACCEL_BENCH_H */
