/* SPDX-License-Identifier: MIT */
/*
 * Transitional: the dtype queries the runtime needs, over the kernels' kn.h,
 * until libaccel exports accel_dtype_*() (then this file goes).
 */
#ifndef RT_DTYPE_COMPAT_H
#define RT_DTYPE_COMPAT_H

#include <stdbool.h>
#include <stdint.h>
#include "kn.h"

static inline uint64_t accel_dtype_row_size(uint32_t t, int64_t ne0)
{
	return kn_row_size(t, ne0);
}

static inline uint32_t accel_dtype_block_size(uint32_t t)
{
	return (uint32_t)kn_type_block_elems(t);
}

static inline uint32_t accel_dtype_block_bytes(uint32_t t)
{
	return (uint32_t)kn_type_block_bytes(t);
}

static inline const char *accel_dtype_name(uint32_t t)
{
	return kn_type_known(t) ? kn_type_name(t) : NULL;
}

static inline bool accel_dtype_can_matmul(uint32_t t)
{
	return kn_type_can_matmul(t);
}

#endif /* RT_DTYPE_COMPAT_H */
