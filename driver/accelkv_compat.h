/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * accelkv: the few kernel API differences between the kernels the driver is
 * built for (Debian 12's 6.1 and 6.12). Kbuild detects each one in the
 * kernel's headers (ACCELKV_HAVE_*); everything that depends on them lives
 * here so the other files read as plain current-kernel code.
 */
#ifndef _ACCELKV_COMPAT_H_
#define _ACCELKV_COMPAT_H_

#include <linux/mm.h>
#include <linux/sched.h>
#include <drm/drm_device.h>
#include <drm/drm_file.h>

#ifdef ACCELKV_HAVE_IO_URING_CMD_H
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

/*
 * Before 6.6 the PRIME hooks had to be set by the driver: Kbuild defines
 * ACCELKV_NEEDS_PRIME_HOOKS where drm_driver still has gem_prime_mmap.
 */

/* vm_flags became const in 6.3; vm_flags_set() is the only way to set them. */
static inline void accelkv_vm_flags_set(struct vm_area_struct *vma,
					unsigned long flags)
{
#ifdef ACCELKV_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

/* 6.5 passes the whole SQE to uring_cmd; the payload is its cmd area. */
static inline const void *accelkv_uring_payload(const struct io_uring_cmd *ioucmd)
{
#ifdef ACCELKV_HAVE_SQE_CMD
	return io_uring_sqe_cmd(ioucmd->sqe);
#else
	return ioucmd->cmd;
#endif
}

/*
 * Whether a uring_cmd task-work callback runs for a task that is gone: 6.12
 * says so with IO_URING_F_TASK_DEAD; before, io_uring ran such work from its
 * fallback kworker (with the ring lock held), so anything but the submitting
 * task counts as gone. Either way nothing may block or start I/O there.
 */
static inline bool accelkv_uring_task_dead(unsigned int issue_flags)
{
#ifdef ACCELKV_HAVE_TASK_DEAD
	if (issue_flags & IO_URING_F_TASK_DEAD)
		return true;
#endif
	return current->flags & (PF_EXITING | PF_KTHREAD);
}

/*
 * The device's debugfs directory: drm_device.debugfs_root where it exists
 * (the only one accel devices have); before, the primary minor's directory.
 */
static inline struct dentry *accelkv_debugfs_root(struct drm_device *drm)
{
#ifdef ACCELKV_HAVE_DEV_DEBUGFS_ROOT
	return drm->debugfs_root;
#else
	return drm->primary ? drm->primary->debugfs_root : NULL;
#endif
}

#endif /* _ACCELKV_COMPAT_H_ */
