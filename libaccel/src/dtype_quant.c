// SPDX-License-Identifier: MIT
/*
 * accel_dtype_quantize: F32 values to a dtype's blocks, for the programs that
 * write model files (accel-mkmodel, the GGUF writer) so they need not reach
 * into kernels/. Wraps the kernels' row quantizer; holds no state.
 */
#include <errno.h>

#include "accel_cmd.h"
#include "kn.h"

int accel_dtype_quantize(uint32_t dtype, const float *src, void *dst, int64_t n)
{
	int ret;

	/* only the error checks here: the kernels' quantizer does the rest */
	if (n < 0 || (n && (!src || !dst)))
		return -EINVAL;
	ret = kn_quantize_row(dtype, src, dst, n);
	return ret == -EOPNOTSUPP || ret == -EINVAL ? ret : ret ? -EINVAL : 0;
}
