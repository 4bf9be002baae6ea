/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the libaccel conformance tests (public API only, so the
 * same programs run on the emulated device and on the accelkv driver).
 * ACCEL_DEVICE picks the device, as for every libaccel program.
 */
#ifndef ACCEL_CONF_H
#define ACCEL_CONF_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "accel.h"
#include "tap.h"

/* keep expected errors' log lines out of the TAP stream; show them as diag */
static inline void conf_log(enum accel_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= ACCEL_LOG_WARN)
		diag("libaccel: %s", msg);
}

static inline struct accel_device *conf_open(struct accel_device_info *info)
{
	struct accel_device *dev = NULL;
	int ret;

	accel_set_log(conf_log, NULL);
	ret = accel_device_open(NULL, &dev);
	if (ret)
		bail_out("accel_device_open: %s", strerror(-ret));
	if (info && accel_device_info(dev, info))
		bail_out("accel_device_info failed");
	/* in the VM these suites test the driver, never the emulation */
	if (getenv("ACCEL_VMTEST")) {
		struct accel_device_info vi;

		if (accel_device_info(dev, &vi) || !strcmp(vi.backend, "emu"))
			bail_out("ACCEL_VMTEST: the device is the emulation, not accelkv");
	}
	return dev;
}

static inline struct accel_pool *conf_pool(struct accel_device *dev, uint64_t size,
					   uint32_t block_size, uint32_t flags)
{
	struct accel_pool_opts o = ACCEL_OPTS(accel_pool_opts, .size = size,
					       .block_size = block_size, .flags = flags);
	struct accel_pool *pool = NULL;
	int ret = accel_pool_create(dev, &o, &pool);

	if (ret)
		bail_out("accel_pool_create(%llu, %u, %#x): %s", (unsigned long long)size,
			 block_size, flags, strerror(-ret));
	return pool;
}

#endif /* ACCEL_CONF_H */
