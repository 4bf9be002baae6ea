/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * accelkv: validation of every ioctl and uring_cmd argument struct, as pure
 * functions of the struct and the limits (KUnit-tested). They return 0 or
 * -EINVAL; handles, pointers and fds are checked later by the callers.
 * accelkv_check_xfer_result() maps a LOAD/STORE result to its CQE value.
 */
#ifndef _ACCELKV_CHECK_H_
#define _ACCELKV_CHECK_H_

#include <linux/types.h>
#include "accelkv.h"

int accelkv_check_get_param(const struct drm_accelkv_get_param *args);
int accelkv_check_pool_create(const struct drm_accelkv_pool_create *args,
			      u64 max_pool_size, u32 *num_blocks);
int accelkv_check_pool_info(const struct drm_accelkv_pool_info *args);
int accelkv_check_pool_destroy(const struct drm_accelkv_pool_destroy *args);
int accelkv_check_kv_blocks(const struct drm_accelkv_kv_blocks *args);
int accelkv_check_kv_publish(const struct drm_accelkv_kv_publish *args);
int accelkv_check_kv_lookup(const struct drm_accelkv_kv_lookup *args);
int accelkv_check_kv_peek_evict(const struct drm_accelkv_kv_peek_evict *args);
int accelkv_check_xfer(const struct accelkv_uring_xfer *xfer);
int accelkv_check_range(u64 offset, u64 length, u64 size);
long accelkv_check_xfer_result(long ret, u64 length);
int accelkv_check_signal(const struct accelkv_uring_signal *sig);

#endif /* _ACCELKV_CHECK_H_ */
