// SPDX-License-Identifier: MIT
/*
 * accel_device_*: choose and open a backend (emulated or accelkv kernel
 * node), report info and stats, and tear everything a device handle holds
 * down at close (queues, then pools, then fences).
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>
#include "accelkv.h"
#include "backend.h"
#include "gpu.h"
#include "trace.h"

/* accel_node_is_accelkv - 1 if @fd is a DRM node of the accelkv driver */
static int accel_node_is_accelkv(int fd)
{
	drmVersionPtr v = drmGetVersion(fd);
	int is;

	if (!v)
		return 0;
	is = v->name && strcmp(v->name, ACCELKV_DRIVER_NAME) == 0;
	drmFreeVersion(v);
	return is;
}

static int accel_open_node(struct accel_device *dev, const char *path)
{
	int fd, ret;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		accel_dbg("open %s: %s", path, strerror(-ret));
		return ret;
	}
	if (!accel_node_is_accelkv(fd)) {
		accel_dbg("%s is not an accelkv node", path);
		close(fd);
		return -ENODEV;
	}
	ret = accel_drm_open(dev, fd, path);
	if (ret) {
		close(fd);
		return ret;
	}
	return 0;
}

/* accel_probe - first accelkv node that opens, else -ENODEV */
static int accel_probe(struct accel_device *dev)
{
	static const char *const patterns[] = { "/dev/accel/accel*", "/dev/dri/renderD*" };
	int ret = -ENODEV;

	for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]) && ret; p++) {
		glob_t g;

		if (glob(patterns[p], 0, NULL, &g))
			continue;
		for (size_t i = 0; i < g.gl_pathc && ret; i++)
			ret = accel_open_node(dev, g.gl_pathv[i]);
		globfree(&g);
	}
	return ret;
}

int accel_device_open(const char *path, struct accel_device **out)
{
	struct accel_device *dev;
	long ncpu;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	pthread_mutex_init(&dev->lock, NULL);
	accel_list_init(&dev->pools);
	accel_list_init(&dev->fences);
	accel_list_init(&dev->queues);
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	dev->cpu_threads = ncpu > 0 ? (uint32_t)ncpu : 1;

	if (!path || !*path) {
		path = getenv("ACCEL_DEVICE");
		if (path && !*path)
			path = NULL;
	}
	if (!path) {
		ret = accel_probe(dev);
		if (ret)
			ret = accel_emu_open(dev);
	} else if (strcmp(path, "emu") == 0) {
		ret = accel_emu_open(dev);
	} else {
		ret = accel_open_node(dev, path);
	}
	if (ret)
		goto err_free;
	accel_trace_env_open();
	*out = dev;
	return 0;

err_free:
	pthread_mutex_destroy(&dev->lock);
	free(dev);
	return ret;
}

void accel_device_close(struct accel_device *dev)
{
	if (!dev)
		return;
	accel_queue_destroy_all(dev);
	while (dev->pools.next != &dev->pools) {
		struct accel_link *l = dev->pools.next;

		accel_pool_destroy(accel_container_of(l, struct accel_pool, link));
	}
	while (dev->fences.next != &dev->fences) {
		struct accel_link *l = dev->fences.next;

		accel_fence_destroy(accel_container_of(l, struct accel_fence, link));
	}
	accel_gpu_detach(dev);
	dev->ops->close(dev);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
	accel_trace_env_close();	/* the last device: the file is written */
}

int accel_device_info(struct accel_device *dev, struct accel_device_info *info)
{
	int ret;

	if (!dev || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	snprintf(info->backend, sizeof(info->backend), "%s", dev->ops->name);
	snprintf(info->node, sizeof(info->node), "%s", dev->node);
	info->cpu_threads = dev->cpu_threads;
	ret = dev->ops->info(dev, info);
	if (!ret && dev->gpu)
		info->caps |= ACCEL_CAP_GPU;
	return ret;
}

int accel_device_stats(struct accel_device *dev, struct accel_device_stats *st)
{
	struct accel_device_info info;
	int ret;

	if (!dev || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	ret = accel_device_info(dev, &info);
	if (ret)
		return ret;
	st->pinned_bytes = info.pinned_bytes;
	pthread_mutex_lock(&dev->lock);
	st->pools = dev->npools;
	st->queues = dev->nqueues;
	st->fences = dev->nfences;
	for (struct accel_link *l = dev->pools.next; l != &dev->pools; l = l->next) {
		struct accel_pool *pool = accel_container_of(l, struct accel_pool, link);
		struct accel_pool_info pi;

		if (pool->vram_only || dev->ops->pool_info(pool, &pi))
			continue;
		st->blocks_total += pi.num_blocks;
		st->blocks_used += pi.blocks_used;
		st->blocks_cached += pi.blocks_cached;
		st->blocks_free += pi.blocks_free;
		st->prefix_queries += pi.prefix_queries;
		st->prefix_hits += pi.prefix_hits;
	}
	pthread_mutex_unlock(&dev->lock);
	return 0;
}
