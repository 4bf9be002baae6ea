// SPDX-License-Identifier: MIT
/*
 * Tensor refs: their CPU address and their size in bytes (the dtype block
 * geometry comes from kernels/, ggml's). Used by queue validation and by the executors.
 */
#include "backend.h"
#include "cpu_exec.h"
#include "kn.h"

void *accel_tensor_data(const struct accel_tensor *t)
{
	if (t->pool)
		return (uint8_t *)t->pool->base + t->offset;
	return (void *)(uintptr_t)t->offset;
}

uint64_t accel_tensor_bytes(const struct accel_tensor *t)
{
	unsigned __int128 bytes;

	if (!kn_type_known(t->dtype))
		return 0;
	for (int i = 0; i < 4; i++)
		if (t->ne[i] <= 0 || t->ne[i] > (INT64_C(1) << 40))
			return 0;
	/* the dtype's block geometry is the kernels' (ggml's) */
	bytes = kn_row_size(t->dtype, t->ne[0]);
	for (int i = 1; i < 4; i++) {
		bytes *= (uint64_t)t->ne[i];
		if (bytes > UINT64_MAX / 2)
			return 0;
	}
	return (uint64_t)bytes;
}
