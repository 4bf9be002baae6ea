// SPDX-License-Identifier: GPL-2.0-only
/*
 * accelkv: the "accelkv_stats" debugfs file: device totals (pools, pinned
 * bytes and cap, KV blocks used/cached/free, prefix hits, bytes moved by
 * LOAD and STORE) and one line per
 * pool. Read-only; takes the pools lock, then each pool's kv.lock. Lives
 * in the device's debugfs directory (dri/N on 6.1, accel/<dev> on 6.12).
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <drm/drm_file.h>

#include "accelkv.h"
#include "accelkv_compat.h"
#include "accelkv_debugfs.h"
#include "accelkv_drv.h"
#include "accelkv_pool.h"

static int accelkv_stats_show(struct seq_file *m, void *unused)
{
	struct accelkv_device *adev = m->private;
	u64 used = 0, cached = 0, free = 0, hits = 0, queries = 0;
	struct accelkv_pool *pool;

	mutex_lock(&adev->pools_lock);
	seq_printf(m, "pools %u\n", adev->nr_pools);
	seq_printf(m, "pinned_bytes %lld\n", atomic64_read(&adev->pinned));
	seq_printf(m, "pinned_limit %llu\n", adev->pinned_limit);
	list_for_each_entry(pool, &adev->pools, dev_link) {
		seq_printf(m, "pool size %zu flags %#x block_size %u",
			   pool->base.size, pool->flags, pool->block_size);
		if (pool->flags & ACCELKV_POOL_KV) {
			mutex_lock(&pool->kv.lock);
			seq_printf(m, " blocks %u used %u cached %u free %u hits %llu queries %llu",
				   pool->kv.core.num_blocks, pool->kv.core.nr_used,
				   pool->kv.core.nr_cached, pool->kv.core.nr_free,
				   pool->kv.core.prefix_hits, pool->kv.core.prefix_queries);
			used += pool->kv.core.nr_used;
			cached += pool->kv.core.nr_cached;
			free += pool->kv.core.nr_free;
			hits += pool->kv.core.prefix_hits;
			queries += pool->kv.core.prefix_queries;
			mutex_unlock(&pool->kv.lock);
		}
		seq_puts(m, "\n");
	}
	mutex_unlock(&adev->pools_lock);
	seq_printf(m, "blocks_used %llu\nblocks_cached %llu\nblocks_free %llu\n",
		   used, cached, free);
	seq_printf(m, "prefix_hits %llu\nprefix_queries %llu\n", hits, queries);
	seq_printf(m, "xfer_resubmits %lld\n", atomic64_read(&adev->xfer_resubmits));
	seq_printf(m, "load_bytes %lld\nstore_bytes %lld\n",
		   atomic64_read(&adev->load_bytes), atomic64_read(&adev->store_bytes));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(accelkv_stats);

/* Called after drm_dev_register(): the device's debugfs directory exists. */
void accelkv_debugfs_init(struct accelkv_device *adev)
{
	struct dentry *root = accelkv_debugfs_root(&adev->drm);

	if (IS_ERR_OR_NULL(root))
		return;
	adev->debugfs = debugfs_create_file("accelkv_stats", 0444, root, adev,
					    &accelkv_stats_fops);
}

/* Called before drm_dev_unregister(): no reader can reach @adev after. */
void accelkv_debugfs_fini(struct accelkv_device *adev)
{
	debugfs_remove(adev->debugfs);
	adev->debugfs = NULL;
}
