// SPDX-License-Identifier: MIT
/*
 * Extensible option structs (libbpf style): the caller's struct may be
 * older (smaller) or newer (larger) than the library's; a larger one is
 * accepted only if every byte the library does not know is zero.
 */
#include <errno.h>
#include <string.h>
#include "backend.h"

int accel_opts_copy(void *dst, size_t dst_sz, const void *src, size_t min_sz)
{
	size_t sz;

	memset(dst, 0, dst_sz);
	if (!src)
		return -EINVAL;
	memcpy(&sz, src, sizeof(sz));
	if (sz < min_sz)
		return -EINVAL;
	if (sz > dst_sz) {
		const unsigned char *p = (const unsigned char *)src + dst_sz;

		for (size_t i = 0; i < sz - dst_sz; i++)
			if (p[i])
				return -EINVAL;
		sz = dst_sz;
	}
	memcpy(dst, src, sz);
	return 0;
}
