// SPDX-License-Identifier: MIT
/*
 * accel_pool_*: the public pool calls. Checks the options against the rules
 * of uapi/accelkv.h (the same on every backend), keeps the device's list of
 * pool handles, and calls the backend for memory, pinning and sharing.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "accelkv.h"
#include "backend.h"

/* accel_pool_check_opts - validate @o in place (size rounded to the page) */
static int accel_pool_check_opts(struct accel_device *dev, struct accel_pool_opts *o)
{
	struct accel_device_info info;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	int ret;

	if (o->flags & ~ACCEL_POOL_FLAGS_MASK)
		return -EINVAL;
	if (!o->size || o->size > UINT64_MAX - (page - 1))
		return -EINVAL;
	o->size = (o->size + page - 1) & ~(page - 1);
	ret = accel_device_info(dev, &info);
	if (ret)
		return ret;
	if (o->size > info.max_pool_size)
		return -EINVAL;
	if (o->flags & ACCEL_POOL_KV) {
		uint32_t bs = o->block_size;

		if (bs < ACCELKV_MIN_BLOCK_SIZE || bs % ACCELKV_MIN_BLOCK_SIZE)
			return -EINVAL;
		if (o->size % bs || o->size / bs > ACCELKV_MAX_KV_BLOCKS)
			return -EINVAL;
	} else if (o->block_size) {
		return -EINVAL;
	}
	return 0;
}

void *accel_pool_mmap_huge(uint64_t size, int flags, int fd, uint64_t off)
{
	const uint64_t span = size + ACCEL_HUGE_SIZE;
	uint8_t *p, *a;
	void *m;

	if (span < size || span > SIZE_MAX)
		return MAP_FAILED;
	/* reserve, then map at the first 2 MiB boundary inside and trim */
	p = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return MAP_FAILED;
	a = (uint8_t *)(((uintptr_t)p + ACCEL_HUGE_SIZE - 1) & ~(uintptr_t)(ACCEL_HUGE_SIZE - 1));
	m = mmap(a, size, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, (off_t)off);
	if (m == MAP_FAILED) {
		int e = errno;

		munmap(p, span);
		errno = e;
		return MAP_FAILED;
	}
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + size < p + span)
		munmap(a + size, (size_t)(p + span - (a + size)));
	return a;
}

void accel_pool_link(struct accel_device *dev, struct accel_pool *pool)
{
	pthread_mutex_lock(&dev->lock);
	accel_list_add(&dev->pools, &pool->link);
	dev->npools++;
	pthread_mutex_unlock(&dev->lock);
}

int accel_pool_create(struct accel_device *dev, const struct accel_pool_opts *opts,
		      struct accel_pool **out)
{
	struct accel_pool_opts o;
	struct accel_pool *pool;
	int ret;

	if (!dev || !out)
		return -EINVAL;
	*out = NULL;
	ret = accel_opts_copy(&o, sizeof(o), opts,
			      offsetof(struct accel_pool_opts, size) + sizeof(o.size));
	if (ret)
		return ret;
	ret = accel_pool_check_opts(dev, &o);
	if (ret)
		return ret;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->dev = dev;
	accel_list_init(&pool->link);
	pool->size = o.size;
	pool->flags = o.flags;
	if (o.flags & ACCEL_POOL_KV) {
		pool->block_size = o.block_size;
		pool->num_blocks = (uint32_t)(o.size / o.block_size);
	}
	ret = dev->ops->pool_create(dev, &o, pool);
	if (ret) {
		free(pool);
		return ret;
	}
	accel_pool_link(dev, pool);
	*out = pool;
	return 0;
}

void accel_pool_destroy(struct accel_pool *pool)
{
	struct accel_device *dev;

	if (!pool)
		return;
	dev = pool->dev;
	pthread_mutex_lock(&dev->lock);
	accel_list_del(&pool->link);
	dev->npools--;
	pthread_mutex_unlock(&dev->lock);
	accel_pool_gpu_release(pool);
	if (!pool->vram_only)
		dev->ops->pool_destroy(pool);
	free(pool);
}

void *accel_pool_ptr(struct accel_pool *pool)
{
	return pool ? pool->base : NULL;	/* NULL for a VRAM pool: no host side */
}

uint64_t accel_pool_size(const struct accel_pool *pool)
{
	return pool ? pool->size : 0;
}

int accel_pool_info(struct accel_pool *pool, struct accel_pool_info *info)
{
	if (!pool || !info || pool->vram_only)
		return -EINVAL;
	return pool->dev->ops->pool_info(pool, info);
}

int accel_pool_export(struct accel_pool *pool, int *fd)
{
	if (!pool || !fd || pool->vram_only)
		return -EINVAL;
	if (pool->flags & ACCEL_POOL_PRIVATE)
		return -EOPNOTSUPP;	/* its creator said nobody shares it */
	return pool->dev->ops->pool_export(pool, fd);
}

int accel_pool_import(struct accel_device *dev, int fd, struct accel_pool **out)
{
	struct accel_pool *pool;
	int ret;

	if (!dev || !out)
		return -EINVAL;
	*out = NULL;
	if (fd < 0)
		return -EBADF;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->dev = dev;
	accel_list_init(&pool->link);
	ret = dev->ops->pool_import(dev, fd, pool);
	if (ret) {
		free(pool);
		return ret;
	}
	accel_pool_link(dev, pool);
	*out = pool;
	return 0;
}
