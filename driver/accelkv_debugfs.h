/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * accelkv: debugfs statistics, in the DRM device's debugfs directory.
 */
#ifndef _ACCELKV_DEBUGFS_H_
#define _ACCELKV_DEBUGFS_H_

struct accelkv_device;

void accelkv_debugfs_init(struct accelkv_device *adev);
void accelkv_debugfs_fini(struct accelkv_device *adev);

#endif /* _ACCELKV_DEBUGFS_H_ */
