// SPDX-License-Identifier: MIT
/*
 * The uapi's layout, fixed: sizes and offsets of every struct of
 * uapi/accelkv.h asserted at compile time. tests/cli/uapi-abi.sh compiles
 * this file for -m32 and -m64 (a 32-bit process talks to a 64-bit kernel
 * through the same bytes); built normally it also reports them as TAP.
 */
#ifdef ABI_NO_DRM
#define ACCELKV_NO_DRM_H
#endif
#include "accelkv.h"
#include <stddef.h>

#define SZ(s, n) _Static_assert(sizeof(struct s) == (n), #s " size"); \
	_Static_assert(sizeof(struct s) % 8 == 0, #s " is a multiple of 8 bytes")
#define OFF(s, f, n) _Static_assert(offsetof(struct s, f) == (n), #s "." #f " offset")

SZ(drm_accelkv_get_param, 16);
OFF(drm_accelkv_get_param, value, 8);
SZ(drm_accelkv_pool_create, 40);
OFF(drm_accelkv_pool_create, block_size, 8);
OFF(drm_accelkv_pool_create, handle, 16);
OFF(drm_accelkv_pool_create, mmap_offset, 24);
OFF(drm_accelkv_pool_create, reserved, 32);
SZ(drm_accelkv_pool_info, 64);
OFF(drm_accelkv_pool_info, size, 8);
OFF(drm_accelkv_pool_info, mmap_offset, 24);
OFF(drm_accelkv_pool_info, blocks_used, 32);
OFF(drm_accelkv_pool_info, prefix_hits, 40);
OFF(drm_accelkv_pool_info, reserved, 56);
SZ(drm_accelkv_pool_destroy, 8);
SZ(drm_accelkv_kv_blocks, 24);
OFF(drm_accelkv_kv_blocks, blocks_ptr, 8);
OFF(drm_accelkv_kv_blocks, flags, 16);
SZ(drm_accelkv_kv_publish, 32);
OFF(drm_accelkv_kv_publish, hashes_ptr, 16);
OFF(drm_accelkv_kv_publish, published, 24);
SZ(drm_accelkv_kv_lookup, 32);
OFF(drm_accelkv_kv_lookup, blocks_ptr, 16);
OFF(drm_accelkv_kv_lookup, found, 24);
SZ(drm_accelkv_kv_peek_evict, 32);
OFF(drm_accelkv_kv_peek_evict, blocks_ptr, 8);
OFF(drm_accelkv_kv_peek_evict, hashes_ptr, 16);
OFF(drm_accelkv_kv_peek_evict, found, 24);
OFF(drm_accelkv_kv_peek_evict, flags, 28);
SZ(accelkv_uring_xfer, 56);
OFF(accelkv_uring_xfer, file_offset, 8);
OFF(accelkv_uring_xfer, length, 24);
OFF(accelkv_uring_xfer, reserved, 40);
SZ(accelkv_uring_signal, 24);
OFF(accelkv_uring_signal, point, 8);
/* uring_cmd payloads live in the 80-byte command area of a 128-byte SQE */
_Static_assert(sizeof(struct accelkv_uring_xfer) <= 80, "xfer fits SQE128's cmd area");
_Static_assert(sizeof(struct accelkv_uring_signal) <= 80, "signal fits SQE128's cmd area");
/* capability bits: bit 11 stays libaccel's ACCEL_CAP_GPU, never a driver's */
_Static_assert(ACCELKV_CAP_KV_PEEK_EVICT == 1ULL << 12, "peek-evict cap bit");
/* flags masks cover exactly the defined flags */
_Static_assert(ACCELKV_POOL_FLAGS_MASK == 3, "pool flags");
_Static_assert(ACCELKV_XFER_FLAGS_MASK == 1, "xfer flags");

#ifndef ABI_SYNTAX_ONLY
#include <stdio.h>
#include "tap.h"

int main(void)
{
	plan(6);
	/* the ioctl numbers encode the struct sizes: a size change changes them */
	is_int(_IOC_SIZE(DRM_IOCTL_ACCELKV_POOL_CREATE), 40, "POOL_CREATE ioctl carries 40 bytes");
	is_int(_IOC_SIZE(DRM_IOCTL_ACCELKV_POOL_INFO), 64, "POOL_INFO ioctl carries 64 bytes");
	is_int(_IOC_NR(DRM_IOCTL_ACCELKV_KV_LOOKUP), DRM_COMMAND_BASE + DRM_ACCELKV_KV_LOOKUP,
	       "KV_LOOKUP is a driver-private ioctl number");
	is_int(_IOC_DIR(DRM_IOCTL_ACCELKV_KV_ALLOC), _IOC_READ | _IOC_WRITE, "ioctls are read-write");
	is_int(_IOC_SIZE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT), 32, "KV_PEEK_EVICT ioctl carries 32 bytes");
	is_int(_IOC_NR(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT),
	       DRM_COMMAND_BASE + DRM_ACCELKV_KV_PEEK_EVICT, "KV_PEEK_EVICT is ioctl 0x49");
	return done_testing();
}
#endif
