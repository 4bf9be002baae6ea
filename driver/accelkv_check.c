// SPDX-License-Identifier: GPL-2.0-only
/*
 * accelkv: argument validation for every ioctl and uring_cmd (the -EINVAL
 * rows of the uapi errno table): sizes, ranges, overflow, unknown flags,
 * non-zero pad/reserved. Pure functions, no side effects.
 */
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/overflow.h>

#include "accelkv_check.h"

int accelkv_check_get_param(const struct drm_accelkv_get_param *args)
{
	if (args->pad || args->param >= ACCELKV_PARAM_COUNT)
		return -EINVAL;
	return 0;
}

int accelkv_check_pool_create(const struct drm_accelkv_pool_create *args,
			      u64 max_pool_size, u32 *num_blocks)
{
	u64 n;

	if (args->pad || args->reserved ||
	    (args->flags & ~ACCELKV_POOL_FLAGS_MASK))
		return -EINVAL;
	/* whole pages of the running kernel, not only of 4 KiB */
	if (!args->size || args->size % ACCELKV_MIN_BLOCK_SIZE ||
	    !PAGE_ALIGNED(args->size) || args->size > max_pool_size)
		return -EINVAL;
	if (!(args->flags & ACCELKV_POOL_KV)) {
		if (args->block_size)
			return -EINVAL;
		*num_blocks = 0;
		return 0;
	}
	/* whole 4 KiB units: every block stays aligned for O_DIRECT (uapi doc) */
	if (args->block_size < ACCELKV_MIN_BLOCK_SIZE ||
	    args->block_size % ACCELKV_MIN_BLOCK_SIZE ||
	    args->size % args->block_size)
		return -EINVAL;
	n = args->size / args->block_size;
	if (n > ACCELKV_MAX_KV_BLOCKS)
		return -EINVAL;
	*num_blocks = n;
	return 0;
}

int accelkv_check_pool_info(const struct drm_accelkv_pool_info *args)
{
	return args->reserved ? -EINVAL : 0;
}

int accelkv_check_pool_destroy(const struct drm_accelkv_pool_destroy *args)
{
	return args->pad ? -EINVAL : 0;
}

int accelkv_check_kv_blocks(const struct drm_accelkv_kv_blocks *args)
{
	if (args->flags || args->pad)
		return -EINVAL;
	if (!args->count || args->count > ACCELKV_MAX_KV_BLOCKS)
		return -EINVAL;
	return 0;
}

int accelkv_check_kv_publish(const struct drm_accelkv_kv_publish *args)
{
	if (args->flags)
		return -EINVAL;
	if (!args->count || args->count > ACCELKV_MAX_KV_BLOCKS)
		return -EINVAL;
	return 0;
}

int accelkv_check_kv_lookup(const struct drm_accelkv_kv_lookup *args)
{
	if (args->flags)
		return -EINVAL;
	if (!args->count || args->count > ACCELKV_MAX_KV_BLOCKS)
		return -EINVAL;
	return 0;
}

/* The pool's own bound (count <= its num_blocks) is the caller's to check. */
int accelkv_check_kv_peek_evict(const struct drm_accelkv_kv_peek_evict *args)
{
	if (args->flags)
		return -EINVAL;
	if (!args->count || args->count > ACCELKV_MAX_KV_BLOCKS)
		return -EINVAL;
	return 0;
}

/* Offsets and length of a direct transfer: multiples of the sector size. */
#define ACCELKV_DIRECT_ALIGN	512

int accelkv_check_xfer(const struct accelkv_uring_xfer *xfer)
{
	u64 end;

	if (xfer->pad || xfer->reserved[0] || xfer->reserved[1] ||
	    (xfer->flags & ~ACCELKV_XFER_FLAGS_MASK))
		return -EINVAL;
	if (!xfer->length || xfer->length > ACCELKV_XFER_MAX)
		return -EINVAL;
	if (xfer->file_offset > S64_MAX ||
	    check_add_overflow(xfer->file_offset, xfer->length, &end) ||
	    end > S64_MAX)
		return -EINVAL;
	if ((xfer->flags & ACCELKV_XFER_DIRECT) &&
	    ((xfer->file_offset | xfer->pool_offset | xfer->length) &
	     (ACCELKV_DIRECT_ALIGN - 1)))
		return -EINVAL;
	return 0;
}

int accelkv_check_range(u64 offset, u64 length, u64 size)
{
	u64 end;

	if (check_add_overflow(offset, length, &end) || end > size)
		return -EINVAL;
	return 0;
}

/*
 * The CQE result of a LOAD/STORE from what the I/O returned: the length, or
 * a negative errno user space can see. Kernel-internal codes (512 and up,
 * include/linux/errno.h) never reach a CQE: the restart ones become -EINTR
 * (a uring_cmd is not restarted), the others -EIO; a short transfer is -EIO.
 */
long accelkv_check_xfer_result(long ret, u64 length)
{
	if (ret == -ERESTARTSYS || ret == -ERESTARTNOINTR ||
	    ret == -ERESTARTNOHAND || ret == -ERESTART_RESTARTBLOCK)
		return -EINTR;
	if (ret <= -ERESTARTSYS)
		return -EIO;
	if (ret < 0)
		return ret;
	return (u64)ret == length ? ret : -EIO;
}

int accelkv_check_signal(const struct accelkv_uring_signal *sig)
{
	if (sig->flags || sig->reserved || !sig->point)
		return -EINVAL;
	return 0;
}
