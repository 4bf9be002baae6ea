// SPDX-License-Identifier: MIT
/*
 * accel_fence_*: the public timeline fence calls; keeps the device's list of
 * fences and calls the backend (emu: atomic + futex; kernel: DRM syncobj).
 */
#include <errno.h>
#include <stdlib.h>
#include "backend.h"

int accel_fence_create(struct accel_device *dev, struct accel_fence **out)
{
	struct accel_fence *f;
	int ret;

	if (!dev || !out)
		return -EINVAL;
	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->dev = dev;
	ret = dev->ops->fence_create(dev, f);
	if (ret) {
		free(f);
		return ret;
	}
	pthread_mutex_lock(&dev->lock);
	accel_list_add(&dev->fences, &f->link);
	dev->nfences++;
	pthread_mutex_unlock(&dev->lock);
	*out = f;
	return 0;
}

void accel_fence_destroy(struct accel_fence *f)
{
	struct accel_device *dev;

	if (!f)
		return;
	dev = f->dev;
	pthread_mutex_lock(&dev->lock);
	accel_list_del(&f->link);
	dev->nfences--;
	pthread_mutex_unlock(&dev->lock);
	dev->ops->fence_destroy(f);
	free(f);
}

int accel_fence_signal(struct accel_fence *f, uint64_t point)
{
	if (!f)
		return -EINVAL;
	return f->dev->ops->fence_signal(f, point);
}

int accel_fence_wait(struct accel_fence *f, uint64_t point, int64_t timeout_ns)
{
	if (!f)
		return -EINVAL;
	return f->dev->ops->fence_wait(f, point, timeout_ns);
}

int accel_fence_query(struct accel_fence *f, uint64_t *value)
{
	if (!f || !value)
		return -EINVAL;
	return f->dev->ops->fence_query(f, value);
}
