// SPDX-License-Identifier: MIT
/*
 * accel_dtype_*: what a dtype number means (name, block geometry, what the
 * kernels can do with it), for the runtime and tools, which must not include
 * kernels/. The answers are the kernels' own (kn_type_*, ggml's tables).
 */
#include "accel.h"
#include "kn.h"

/* enum accel_dtype is the kernels' enum kn_type, value for value (ggml's numbers) */
#define ACCEL_DTYPE_IS_KN(a, k) _Static_assert((uint32_t)(a) == (uint32_t)(k), #a " != " #k)
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_F32, KN_F32);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_F16, KN_F16);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_Q4_0, KN_Q4_0);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_Q4_1, KN_Q4_1);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_Q8_0, KN_Q8_0);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_Q8_1, KN_Q8_1);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_Q4_K, KN_Q4_K);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_Q5_K, KN_Q5_K);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_Q6_K, KN_Q6_K);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_Q8_K, KN_Q8_K);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_I8, KN_I8);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_I16, KN_I16);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_I32, KN_I32);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_I64, KN_I64);
ACCEL_DTYPE_IS_KN(ACCEL_DTYPE_BF16, KN_BF16);
/* the uapi (uapi/accelkv.h) defines no dtype or block-size values to check */

uint64_t accel_dtype_row_size(uint32_t dtype, int64_t ne0)
{
	return kn_row_size(dtype, ne0);
}

uint32_t accel_dtype_block_size(uint32_t dtype)
{
	return (uint32_t)kn_type_block_elems(dtype);
}

uint32_t accel_dtype_block_bytes(uint32_t dtype)
{
	return (uint32_t)kn_type_block_bytes(dtype);
}

const char *accel_dtype_name(uint32_t dtype)
{
	return kn_type_known(dtype) ? kn_type_name(dtype) : NULL;
}

bool accel_dtype_can_matmul(uint32_t dtype)
{
	return kn_type_can_matmul(dtype);
}

bool accel_dtype_can_dequantize(uint32_t dtype)
{
	return kn_type_can_dequantize(dtype);
}
