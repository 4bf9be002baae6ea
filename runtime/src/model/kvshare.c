// SPDX-License-Identifier: MIT
/*
 * A KV cache on a pool shared across processes (rt_model_opts.kv_pool_fd):
 * the cache's blocks come from a KV pool another process exported
 * (accel_pool_export: a dma-buf of the driver), so its prefix index is
 * shared too: a process finds the blocks another one published (a common
 * system prompt) and skips their prefill. The pool is adopted after the
 * cache is laid out (kvcache.c), replacing the private pool it made.
 */
#include <errno.h>
#include <string.h>
#include "rt_error.h"
#include "kvcache.h"

int rt_kvcache_adopt_pool(struct rt_kvcache *kv, struct accel_device *dev, int fd)
{
	struct accel_device_info di;
	struct accel_pool_info pi;
	struct accel_pool *pool;
	int ret;

	ret = accel_device_info(dev, &di);
	if (ret < 0)
		return rt_set_error(ret, "kv pool fd %d: %s", fd, strerror(-ret));
	/* the emulated device shares memory across processes, not KV state */
	if (!(di.caps & ACCEL_CAP_CROSS_PROCESS))
		return rt_set_error(-EOPNOTSUPP, "kv pool fd %d: the %s device shares no KV "
				    "state across processes (the accelkv driver does)", fd,
				    di.backend);
	ret = accel_pool_import(dev, fd, &pool);
	if (ret < 0)
		return rt_set_error(ret, "kv pool fd %d: cannot import it: %s", fd, strerror(-ret));
	ret = accel_pool_info(pool, &pi);
	if (ret < 0) {
		rt_set_error(ret, "kv pool fd %d: %s", fd, strerror(-ret));
		goto err_destroy;
	}
	if (!pi.block_size || pi.block_size < kv->block_bytes || pi.num_blocks < kv->n_blocks) {
		ret = rt_set_error(-EINVAL, "kv pool fd %d: %u blocks of %u bytes; this model needs "
				   "a KV pool of at least %u blocks of %llu bytes", fd,
				   pi.num_blocks, pi.block_size, kv->n_blocks,
				   (unsigned long long)kv->block_bytes);
		goto err_destroy;
	}
	accel_pool_destroy(kv->pool);
	kv->pool = pool;
	kv->block_bytes = pi.block_size;	/* ATTN addresses by the pool's size */
	return 0;

err_destroy:
	accel_pool_destroy(pool);
	return ret;
}
