// SPDX-License-Identifier: MIT
/*
 * The dtype facts accel-mkmodel needs (row bytes, names), in one place and
 * without the kernels' header: tools see dtypes only through libaccel
 * (ACCEL_DTYPE_*, accel_dtype_quantize). When libaccel grows
 * accel_dtype_row_size()/accel_dtype_name(), these two become calls to them.
 */
#include "accel_cmd.h"
#include "mkmodel.h"

/* ggml-common.h block geometry of the types a model file may hold */
static const struct {
	uint32_t dtype;
	int64_t block;		/* elements per block */
	size_t bytes;		/* bytes per block */
	const char *name;	/* ggml's type name */
} dtypes[] = {
	{ ACCEL_DTYPE_F32, 1, 4, "f32" },
	{ ACCEL_DTYPE_F16, 1, 2, "f16" },
	{ ACCEL_DTYPE_BF16, 1, 2, "bf16" },
	{ ACCEL_DTYPE_Q4_0, 32, 18, "q4_0" },
	{ ACCEL_DTYPE_Q4_1, 32, 20, "q4_1" },
	{ ACCEL_DTYPE_Q8_0, 32, 34, "q8_0" },
	{ ACCEL_DTYPE_Q4_K, 256, 144, "q4_K" },
	{ ACCEL_DTYPE_Q5_K, 256, 176, "q5_K" },
	{ ACCEL_DTYPE_Q6_K, 256, 210, "q6_K" },
};
#define N_DTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

size_t mk_dtype_row_size(uint32_t dtype, int64_t n)
{
	size_t i;

	for (i = 0; i < N_DTYPES; i++)
		if (dtypes[i].dtype == dtype)
			return n < 0 || n % dtypes[i].block ? 0
						     : (size_t)(n / dtypes[i].block) * dtypes[i].bytes;
	return 0;
}

const char *mk_dtype_name(uint32_t dtype)
{
	size_t i;

	for (i = 0; i < N_DTYPES; i++)
		if (dtypes[i].dtype == dtype)
			return dtypes[i].name;
	return "?";
}
