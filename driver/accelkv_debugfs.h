/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * accelkv: debugfs statistics (drm_driver.debugfs_init).
 */
#ifndef _ACCELKV_DEBUGFS_H_
#define _ACCELKV_DEBUGFS_H_

struct drm_minor;

void accelkv_debugfs_init(struct drm_minor *minor);

#endif /* _ACCELKV_DEBUGFS_H_ */
