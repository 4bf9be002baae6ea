// SPDX-License-Identifier: GPL-2.0-only
/*
 * accelkv: the KV ioctls. Copy ids and hashes from user memory, run the pure
 * allocator/index call under the pool's kv.lock for the calling file's owner,
 * copy results back; a failed copy-out undoes the call (no leaked refs).
 * PEEK_EVICT only reads the LRU: nothing to undo.
 */
#include <linux/err.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <drm/drm_file.h>

#include "accelkv.h"
#include "accelkv_check.h"
#include "accelkv_drv.h"
#include "accelkv_pool.h"

static void __user *u64_to_uptr(u64 p)
{
	return (void __user *)(uintptr_t)p;
}

/* Look up @handle as a KV pool: -ENOENT, or -EOPNOTSUPP without ACCELKV_POOL_KV. */
static struct accelkv_pool *accelkv_kv_pool_get(struct drm_file *file,
						u32 handle)
{
	struct accelkv_pool *pool = accelkv_pool_lookup(file, handle);

	if (!pool)
		return ERR_PTR(-ENOENT);
	if (!(pool->flags & ACCELKV_POOL_KV)) {
		drm_gem_object_put(&pool->base);
		return ERR_PTR(-EOPNOTSUPP);
	}
	return pool;
}

static void *accelkv_copy_in(u64 uptr, u32 count, size_t elem)
{
	void *buf = kvmalloc_array(count, elem, GFP_KERNEL_ACCOUNT);

	if (!buf)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(buf, u64_to_uptr(uptr), (size_t)count * elem)) {
		kvfree(buf);
		return ERR_PTR(-EFAULT);
	}
	return buf;
}

/* Drop the references just handed out when they could not be reported. */
static void accelkv_kv_undo(struct accelkv_pool *pool, struct drm_file *file,
			    const u32 *ids, u32 count)
{
	struct accelkv_kvcore_owner *owner;

	if (!count)
		return;
	mutex_lock(&pool->kv.lock);
	owner = accelkv_pool_owner_locked(pool, file);
	if (owner)
		accelkv_kv_free(&pool->kv, owner, ids, count);
	mutex_unlock(&pool->kv.lock);
}

int accelkv_kv_alloc_ioctl(struct drm_device *drm, void *data,
			   struct drm_file *file)
{
	struct drm_accelkv_kv_blocks *args = data;
	struct accelkv_kvcore_owner *owner;
	struct accelkv_pool *pool;
	size_t bytes;
	u32 *ids;
	int ret;

	ret = accelkv_check_kv_blocks(args);
	if (ret)
		return ret;
	pool = accelkv_kv_pool_get(file, args->handle);
	if (IS_ERR(pool))
		return PTR_ERR(pool);
	bytes = (size_t)args->count * sizeof(u32);
	/* Fault in the output first so a bad pointer costs no eviction. */
	if (clear_user(u64_to_uptr(args->blocks_ptr), bytes)) {
		ret = -EFAULT;
		goto out_put;
	}
	ids = kvmalloc_array(args->count, sizeof(u32), GFP_KERNEL_ACCOUNT);
	if (!ids) {
		ret = -ENOMEM;
		goto out_put;
	}
	mutex_lock(&pool->kv.lock);
	/* none if the handle was closed since the lookup */
	owner = accelkv_pool_owner_locked(pool, file);
	ret = !owner ? -ENOENT :
		accelkv_kv_alloc(&pool->kv, owner, ids, args->count);
	mutex_unlock(&pool->kv.lock);
	if (!ret && copy_to_user(u64_to_uptr(args->blocks_ptr), ids, bytes)) {
		accelkv_kv_undo(pool, file, ids, args->count);
		ret = -EFAULT;
	}
	kvfree(ids);
out_put:
	drm_gem_object_put(&pool->base);
	return ret;
}

static int accelkv_kv_free_or_ref(struct drm_file *file,
				  struct drm_accelkv_kv_blocks *args, bool ref)
{
	struct accelkv_kvcore_owner *owner;
	struct accelkv_pool *pool;
	u32 *ids;
	int ret;

	ret = accelkv_check_kv_blocks(args);
	if (ret)
		return ret;
	pool = accelkv_kv_pool_get(file, args->handle);
	if (IS_ERR(pool))
		return PTR_ERR(pool);
	ids = accelkv_copy_in(args->blocks_ptr, args->count, sizeof(u32));
	if (IS_ERR(ids)) {
		ret = PTR_ERR(ids);
		goto out_put;
	}
	mutex_lock(&pool->kv.lock);
	owner = accelkv_pool_owner_locked(pool, file);
	if (!owner)
		ret = -ENOENT;
	else if (ref)
		ret = accelkv_kv_ref(&pool->kv, owner, ids, args->count);
	else
		ret = accelkv_kv_free(&pool->kv, owner, ids, args->count);
	mutex_unlock(&pool->kv.lock);
	kvfree(ids);
out_put:
	drm_gem_object_put(&pool->base);
	return ret;
}

int accelkv_kv_free_ioctl(struct drm_device *drm, void *data,
			  struct drm_file *file)
{
	return accelkv_kv_free_or_ref(file, data, false);
}

int accelkv_kv_ref_ioctl(struct drm_device *drm, void *data,
			 struct drm_file *file)
{
	return accelkv_kv_free_or_ref(file, data, true);
}

int accelkv_kv_publish_ioctl(struct drm_device *drm, void *data,
			     struct drm_file *file)
{
	struct drm_accelkv_kv_publish *args = data;
	struct accelkv_kvcore_owner *owner;
	struct accelkv_pool *pool;
	u64 *hashes = NULL;
	u32 *ids, published = 0;
	int ret;

	ret = accelkv_check_kv_publish(args);
	if (ret)
		return ret;
	pool = accelkv_kv_pool_get(file, args->handle);
	if (IS_ERR(pool))
		return PTR_ERR(pool);
	ids = accelkv_copy_in(args->blocks_ptr, args->count, sizeof(u32));
	if (IS_ERR(ids)) {
		ret = PTR_ERR(ids);
		goto out_put;
	}
	hashes = accelkv_copy_in(args->hashes_ptr, args->count, sizeof(u64));
	if (IS_ERR(hashes)) {
		ret = PTR_ERR(hashes);
		goto out_free;
	}
	mutex_lock(&pool->kv.lock);
	owner = accelkv_pool_owner_locked(pool, file);
	ret = !owner ? -ENOENT :
		accelkv_kv_publish(&pool->kv, owner, ids, hashes, args->count,
				   &published);
	mutex_unlock(&pool->kv.lock);
	if (!ret)
		args->published = published;
	kvfree(hashes);
out_free:
	kvfree(ids);
out_put:
	drm_gem_object_put(&pool->base);
	return ret;
}

int accelkv_kv_lookup_ioctl(struct drm_device *drm, void *data,
			    struct drm_file *file)
{
	struct drm_accelkv_kv_lookup *args = data;
	struct accelkv_kvcore_owner *owner;
	struct accelkv_pool *pool;
	u32 *ids, found = 0;
	u64 *hashes;
	int ret;

	ret = accelkv_check_kv_lookup(args);
	if (ret)
		return ret;
	pool = accelkv_kv_pool_get(file, args->handle);
	if (IS_ERR(pool))
		return PTR_ERR(pool);
	hashes = accelkv_copy_in(args->hashes_ptr, args->count, sizeof(u64));
	if (IS_ERR(hashes)) {
		ret = PTR_ERR(hashes);
		goto out_put;
	}
	if (clear_user(u64_to_uptr(args->blocks_ptr),
		       (size_t)args->count * sizeof(u32))) {
		ret = -EFAULT;
		goto out_free;
	}
	ids = kvmalloc_array(args->count, sizeof(u32), GFP_KERNEL_ACCOUNT);
	if (!ids) {
		ret = -ENOMEM;
		goto out_free;
	}
	mutex_lock(&pool->kv.lock);
	owner = accelkv_pool_owner_locked(pool, file);
	ret = !owner ? -ENOENT :
		accelkv_kv_lookup(&pool->kv, owner, hashes, args->count, ids,
				  &found);
	mutex_unlock(&pool->kv.lock);
	if (!ret && found &&
	    copy_to_user(u64_to_uptr(args->blocks_ptr), ids,
			 (size_t)found * sizeof(u32))) {
		accelkv_kv_undo(pool, file, ids, found);
		ret = -EFAULT;
	}
	if (!ret)
		args->found = found;
	kvfree(ids);
out_free:
	kvfree(hashes);
out_put:
	drm_gem_object_put(&pool->base);
	return ret;
}

/*
 * What an ALLOC of args->count would evict, without evicting it. The output
 * room is faulted in first (a bad pointer is -EFAULT whatever the answer,
 * as for LOOKUP); the answer is gathered under kv.lock into kernel buffers
 * and copied out after it, so no user fault runs under the lock.
 */
int accelkv_kv_peek_evict_ioctl(struct drm_device *drm, void *data,
				struct drm_file *file)
{
	struct drm_accelkv_kv_peek_evict *args = data;
	struct accelkv_pool *pool;
	u32 *ids, found = 0;
	u64 *hashes;
	int ret;

	ret = accelkv_check_kv_peek_evict(args);
	if (ret)
		return ret;
	pool = accelkv_kv_pool_get(file, args->handle);
	if (IS_ERR(pool))
		return PTR_ERR(pool);
	/* num_blocks is fixed at creation: no lock needed to read it */
	if (args->count > pool->kv.core.num_blocks) {
		ret = -EINVAL;
		goto out_put;
	}
	if (clear_user(u64_to_uptr(args->blocks_ptr),
		       (size_t)args->count * sizeof(u32)) ||
	    clear_user(u64_to_uptr(args->hashes_ptr),
		       (size_t)args->count * sizeof(u64))) {
		ret = -EFAULT;
		goto out_put;
	}
	ids = kvmalloc_array(args->count, sizeof(u32), GFP_KERNEL_ACCOUNT);
	hashes = kvmalloc_array(args->count, sizeof(u64), GFP_KERNEL_ACCOUNT);
	if (!ids || !hashes) {
		ret = -ENOMEM;
		goto out_free;
	}
	mutex_lock(&pool->kv.lock);
	/* none if the handle was closed since the lookup */
	ret = !accelkv_pool_owner_locked(pool, file) ? -ENOENT :
		accelkv_kv_peek_evict(&pool->kv, args->count, ids, hashes,
				      &found);
	mutex_unlock(&pool->kv.lock);
	if (!ret && found &&
	    (copy_to_user(u64_to_uptr(args->blocks_ptr), ids,
			  (size_t)found * sizeof(u32)) ||
	     copy_to_user(u64_to_uptr(args->hashes_ptr), hashes,
			  (size_t)found * sizeof(u64))))
		ret = -EFAULT;
	if (!ret)
		args->found = found;
out_free:
	kvfree(hashes);
	kvfree(ids);
out_put:
	drm_gem_object_put(&pool->base);
	return ret;
}
