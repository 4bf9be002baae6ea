/* SPDX-License-Identifier: MIT */
/*
 * libaccel internals: a device's attached GPU (gpu.c): the loaded backend's
 * ops, its per-device state and what it reported at attach. The COMPUTE and
 * COPY engines on the GPU and the VRAM pools reach the backend through it.
 */
#ifndef ACCEL_GPU_H
#define ACCEL_GPU_H

#include <stdatomic.h>
#include "backend.h"
#include "gpu_abi.h"

struct accel_gpu_dev {
	const struct accel_gpu_ops *ops;
	struct accel_gpu *gpu;		/* the backend's state */
	int ordinal;
	struct accel_gpu_info info;	/* refreshed by accel_gpu_props */
	char lib[512];			/* the object loaded */
	_Atomic uint32_t graph_slots_used;	/* handed to COMPUTE queues */
};

/** accel_gpu_detach - device close, after its queues and pools are gone */
void accel_gpu_detach(struct accel_device *dev);

#endif /* ACCEL_GPU_H */
