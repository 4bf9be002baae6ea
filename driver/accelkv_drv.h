/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * accelkv: the device (one per module, no hardware) and what every file of
 * the driver shares about it: limits taken from module parameters at load
 * time, the pinned-bytes counter and the list of live pools.
 */
#ifndef _ACCELKV_DRV_H_
#define _ACCELKV_DRV_H_

#include <linux/atomic.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <drm/drm_device.h>
#include <drm/drm_print.h>

struct vfsmount;

#define ACCELKV_DESC	"accelkv pinned pools and KV blocks"

/**
 * struct accelkv_device - the one accelkv device
 * @drm: DRM device; parented by a platform device, as vgem does
 * @pdev: platform device without hardware
 * @pinned_limit: cap on @pinned bytes (module parameter pinned_limit_mb)
 * @max_pool_size: largest pool, bytes (module parameter max_pool_mb)
 * @hugepage: try 2 MiB folios for ACCELKV_POOL_HUGEPAGE pools (off where
 *	the kernel has no THP or @huge_mnt could not be made)
 * @huge_mnt: private tmpfs mount (huge=within_size) of HUGEPAGE pools' files
 * @pinned: bytes pinned now by all pools
 * @pools_lock: protects @pools and @nr_pools
 * @pools: every live pool (struct accelkv_pool.dev_link), for debugfs
 * @nr_pools: number of entries on @pools
 * @debugfs: the accelkv_stats file
 * @xfer_resubmits: LOAD/STORE submitted again after a late -EAGAIN
 * @load_bytes: bytes LOAD delivered into pools (completed requests)
 * @store_bytes: bytes STORE wrote from pools (completed requests)
 */
struct accelkv_device {
	struct drm_device drm;
	struct platform_device *pdev;
	u64 pinned_limit;
	u64 max_pool_size;
	bool hugepage;
	struct vfsmount *huge_mnt;
	atomic64_t pinned;
	struct mutex pools_lock; /* protects pools, nr_pools */
	struct list_head pools;
	unsigned int nr_pools;
	struct dentry *debugfs;
	atomic64_t xfer_resubmits;
	atomic64_t load_bytes;
	atomic64_t store_bytes;
};

static inline struct accelkv_device *to_accelkv_dev(struct drm_device *drm)
{
	return container_of(drm, struct accelkv_device, drm);
}

#define accelkv_dbg(adev, fmt, ...) \
	drm_dbg_driver(&(adev)->drm, fmt, ##__VA_ARGS__)

#endif /* _ACCELKV_DRV_H_ */
