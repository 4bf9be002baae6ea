// SPDX-License-Identifier: MIT
/*
 * Tensor refs: their CPU address and their size in bytes (dtype block
 * geometry as in ggml). Used by queue validation and by the executors.
 */
#include "backend.h"
#include "cpu_exec.h"

struct accel_dtype_geom {
	uint16_t blck;		/* elements per block */
	uint16_t size;		/* bytes per block */
};

static struct accel_dtype_geom accel_dtype_geom(uint32_t dtype)
{
	switch (dtype) {
	case ACCEL_DTYPE_F32:  return (struct accel_dtype_geom){ 1, 4 };
	case ACCEL_DTYPE_F16:  return (struct accel_dtype_geom){ 1, 2 };
	case ACCEL_DTYPE_BF16: return (struct accel_dtype_geom){ 1, 2 };
	case ACCEL_DTYPE_I8:   return (struct accel_dtype_geom){ 1, 1 };
	case ACCEL_DTYPE_I16:  return (struct accel_dtype_geom){ 1, 2 };
	case ACCEL_DTYPE_I32:  return (struct accel_dtype_geom){ 1, 4 };
	case ACCEL_DTYPE_Q4_0: return (struct accel_dtype_geom){ 32, 18 };
	case ACCEL_DTYPE_Q4_1: return (struct accel_dtype_geom){ 32, 20 };
	case ACCEL_DTYPE_Q8_0: return (struct accel_dtype_geom){ 32, 34 };
	case ACCEL_DTYPE_Q8_1: return (struct accel_dtype_geom){ 32, 36 };
	case ACCEL_DTYPE_Q4_K: return (struct accel_dtype_geom){ 256, 144 };
	case ACCEL_DTYPE_Q5_K: return (struct accel_dtype_geom){ 256, 176 };
	case ACCEL_DTYPE_Q6_K: return (struct accel_dtype_geom){ 256, 210 };
	case ACCEL_DTYPE_Q8_K: return (struct accel_dtype_geom){ 256, 292 };
	default:	       return (struct accel_dtype_geom){ 0, 0 };
	}
}

void *accel_tensor_data(const struct accel_tensor *t)
{
	if (t->pool)
		return (uint8_t *)t->pool->base + t->offset;
	return (void *)(uintptr_t)t->offset;
}

uint64_t accel_tensor_bytes(const struct accel_tensor *t)
{
	struct accel_dtype_geom g = accel_dtype_geom(t->dtype);
	unsigned __int128 bytes;

	if (!g.blck)
		return 0;
	for (int i = 0; i < 4; i++)
		if (t->ne[i] <= 0 || t->ne[i] > (INT64_C(1) << 40))
			return 0;
	if (t->ne[0] % g.blck)
		return 0;
	bytes = (unsigned __int128)(t->ne[0] / g.blck) * g.size;
	for (int i = 1; i < 4; i++) {
		bytes *= (uint64_t)t->ne[i];
		if (bytes > UINT64_MAX / 2)
			return 0;
	}
	return (uint64_t)bytes;
}
