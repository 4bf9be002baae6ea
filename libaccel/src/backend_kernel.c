// SPDX-License-Identifier: MIT
/*
 * Kernel backend slot: talks to the accelkv driver through the ioctls of
 * uapi/accelkv.h and DRM syncobj timelines (libdrm). Not written yet (the
 * driver work owns this file): opening a real accelkv node fails with
 * -ENODEV and a log line, and accel_device_open(NULL) falls back to emu.
 */
#include <errno.h>
#include "backend.h"

int accel_kernel_open(struct accel_device *dev, int fd, const char *path)
{
	(void)dev;
	(void)fd;
	accel_err("%s is an accelkv node, but this libaccel has no kernel backend yet", path);
	return -ENODEV;
}
