// SPDX-License-Identifier: MIT
/*
 * The emulated device: the backend vtable and device-level info. Same
 * semantics as the accelkv driver, in-process: pools are memfds mapped and
 * mlocked here, KV state lives in this process (no ACCEL_CAP_CROSS_PROCESS).
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "accelkv.h"
#include "emu.h"

static void accel_emu_close(struct accel_device *dev)
{
	(void)dev;
}

static int accel_emu_info(struct accel_device *dev, struct accel_device_info *info)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	struct rlimit rl;

	info->caps = ACCEL_CAP_POOL | ACCEL_CAP_KV_BLOCKS | ACCEL_CAP_PREFIX_INDEX |
		     ACCEL_CAP_PRIME | ACCEL_CAP_HUGEPAGE | ACCEL_CAP_PAGE_BLOCKS |
		     ACCEL_CAP_KV_PEEK_EVICT;
	info->api_version = ACCELKV_API_VERSION;
	info->max_pool_size = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 1ULL << 30;
	info->pinned_limit = 0;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0)
		info->memlock_limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
	pthread_mutex_lock(&dev->lock);
	for (struct accel_link *l = dev->pools.next; l != &dev->pools; l = l->next) {
		struct accel_pool *pool = accel_container_of(l, struct accel_pool, link);
		struct accel_emu_pool *ep = pool->priv;

		if (pool->vram_only)
			continue;	/* device memory: no host pages */
		if (ep->core->info_flags & ACCEL_POOL_INFO_PINNED)
			info->pinned_bytes += ep->core->size;
	}
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

const struct accel_backend_ops accel_emu_ops = {
	.name = "emu",
	.close = accel_emu_close,
	.info = accel_emu_info,
	.pool_create = accel_emu_pool_create,
	.pool_destroy = accel_emu_pool_destroy,
	.pool_info = accel_emu_pool_info,
	.pool_export = accel_emu_pool_export,
	.pool_import = accel_emu_pool_import,
	.kv_alloc = accel_emu_kv_alloc,
	.kv_free = accel_emu_kv_free,
	.kv_ref = accel_emu_kv_ref,
	.kv_publish = accel_emu_kv_publish,
	.kv_lookup = accel_emu_kv_lookup,
	.kv_peek_evict = accel_emu_kv_peek_evict,
	.fence_create = accel_emu_fence_create,
	.fence_destroy = accel_emu_fence_destroy,
	.fence_signal = accel_emu_fence_signal,
	.fence_wait = accel_emu_fence_wait,
	.fence_query = accel_emu_fence_query,
};

int accel_emu_open(struct accel_device *dev)
{
	dev->ops = &accel_emu_ops;
	dev->priv = NULL;
	dev->node[0] = '\0';
	return 0;
}
