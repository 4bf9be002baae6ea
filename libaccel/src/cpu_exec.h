/* SPDX-License-Identifier: MIT */
/*
 * The CPU COMPUTE backend's contract between the engine (thread pool,
 * engine_compute.c) and the op executor (cpu_exec.c and cpu_op_*.c, which
 * call kernels/). Every worker calls accel_cpu_exec() with the same command
 * and its own (ith, nth); the executor splits the work and may call
 * ctx->barrier() (all nth threads must reach it) between phases, e.g.
 * quantize activations, then matmul rows. Between commands the engine waits
 * only where its plan (cpu_plan.h) says so: a thread may start the next
 * command while others finish this one, which then touches other memory,
 * other scratch and another ctx->work counter. A small elementwise command
 * may be given to worker 0 alone as (0, 1).
 */
#ifndef ACCEL_CPU_EXEC_H
#define ACCEL_CPU_EXEC_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include "accel.h"

struct accel_cpu_ctx {
	int ith;
	int nth;
	void (*barrier)(struct accel_cpu_ctx *ctx);
	void *barrier_priv;
	/* scratch shared by all threads of the command, at least
	 * accel_cpu_scratch_size(cmd, nth) bytes, 64-byte aligned */
	uint8_t *scratch;
	size_t scratch_size;
	/* shared by the command's threads and 0 when it starts: ops that hand
	 * out work in chunks count them here; NULL: split statically */
	_Atomic int64_t *work;
};

/** accel_cpu_check - validate a COMPUTE command's shapes and dtypes (at
 *  submit time); 0 or -EINVAL. Bounds against pools are checked by the
 *  caller. */
int accel_cpu_check(const struct accel_cmd *cmd);
/** accel_cpu_scratch_size - scratch bytes the command needs with nth threads */
size_t accel_cpu_scratch_size(const struct accel_cmd *cmd, int nth);
/** accel_cpu_exec - run the thread's share of a COMPUTE command; 0 or -errno */
int accel_cpu_exec(const struct accel_cmd *cmd, struct accel_cpu_ctx *ctx);
/** accel_tensor_data - CPU address of a tensor ref (pool mapping + offset, or
 *  the host address when pool is NULL); defined by the pool code */
void *accel_tensor_data(const struct accel_tensor *t);
/** accel_tensor_bytes - bytes a contiguous tensor covers (0 if malformed) */
uint64_t accel_tensor_bytes(const struct accel_tensor *t);

#endif /* ACCEL_CPU_EXEC_H */
