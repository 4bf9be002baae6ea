// SPDX-License-Identifier: MIT
/*
 * What the CPU executor (cpu_op_*.c, op_table.c) links against in libaccel
 * and the GPU emulation does not carry: the emulation runs COMPUTE
 * commands only, on its own struct accel_pool stand-ins (a device copy's
 * base and size), so the pool accessors read those, and the COPY engine's
 * checks, which the op table names but a compute stream never calls, refuse.
 */
#include <errno.h>
#include "backend.h"
#include "queue.h"

void *accel_pool_ptr(struct accel_pool *pool)
{
	return pool ? pool->base : NULL;
}

uint64_t accel_pool_size(const struct accel_pool *pool)
{
	return pool ? pool->size : 0;
}

int accel_copy_check_read_file(const struct accel_cmd *cmd)
{
	return -EOPNOTSUPP;
}

int accel_copy_check_write_file(const struct accel_cmd *cmd)
{
	return -EOPNOTSUPP;
}

int accel_copy_check_copy(const struct accel_cmd *cmd)
{
	return -EOPNOTSUPP;
}

int accel_gpu_check_xfer(const struct accel_cmd *cmd)
{
	return -EOPNOTSUPP;
}
