/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * accelkv: the few kernel API differences between the kernels the driver is
 * built for (Debian 12's 6.1 and 6.12). Everything version-dependent lives
 * here so the other files read as plain current-kernel code.
 */
#ifndef _ACCELKV_COMPAT_H_
#define _ACCELKV_COMPAT_H_

#include <linux/version.h>
#include <linux/mm.h>
#include <drm/drm_device.h>
#include <drm/drm_file.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
#include <linux/io_uring/cmd.h>
#else
#include <linux/io_uring.h>
#endif

/* 6.2 added the accel subsystem: /dev/accel/accelN instead of a render node. */
#if IS_ENABLED(CONFIG_DRM_ACCEL)
#define ACCELKV_HAS_ACCEL 1
#else
#define ACCELKV_HAS_ACCEL 0
#endif

/* Before 6.6 the PRIME hooks had to be set by the driver. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 6, 0)
#define ACCELKV_NEEDS_PRIME_HOOKS 1
#else
#define ACCELKV_NEEDS_PRIME_HOOKS 0
#endif

/* vm_flags became const in 6.3; vm_flags_set() is the only way to set them. */
static inline void accelkv_vm_flags_set(struct vm_area_struct *vma,
					unsigned long flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

/* 6.5 passes the whole SQE to uring_cmd; the payload is its cmd area. */
static inline const void *accelkv_uring_payload(const struct io_uring_cmd *ioucmd)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	return io_uring_sqe_cmd(ioucmd->sqe);
#else
	return ioucmd->cmd;
#endif
}

/*
 * The device's debugfs directory: drm_device.debugfs_root from 6.7 on (the
 * only one accel devices have); before, the primary minor's directory.
 */
static inline struct dentry *accelkv_debugfs_root(struct drm_device *drm)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	return drm->debugfs_root;
#else
	return drm->primary ? drm->primary->debugfs_root : NULL;
#endif
}

#endif /* _ACCELKV_COMPAT_H_ */
