/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * accelkv: pools, GEM objects of pinned zeroed pages (a shmem file's, held)
 * charged to the creator's RLIMIT_MEMLOCK and to the device cap. The KV
 * state (struct accelkv_kv) lives in the object, so every file holding a
 * handle (PRIME importers too) shares it.
 */
#ifndef _ACCELKV_POOL_H_
#define _ACCELKV_POOL_H_

#include <drm/drm_gem.h>

#include "accelkv_kv.h"

struct accelkv_device;
struct drm_file;
struct file;
struct user_struct;

/**
 * struct accelkv_pool - one pool
 * @base: GEM object; its reference count keeps the pages
 * @shmem: the shmem file whose pages the pool holds
 * @mfile: a file of @shmem's inode with the driver's file_operations: what
 *	the pool's vmas hold (it pins the module, refuses fallocate)
 * @pages: the pinned pages, one per PAGE_SIZE (the folios of @shmem: one
 *	reference per folio, taken in file order)
 * @npages: number of entries in @pages
 * @flags: ACCELKV_POOL_* as created; HUGEPAGE only if huge pages were obtained
 * @block_size: KV block size in bytes, 0 for a non-KV pool
 * @user: user charged for @npages pinned pages (RLIMIT_MEMLOCK)
 * @kv: allocator and prefix index (ACCELKV_POOL_KV pools only)
 * @owners: struct accelkv_pool_owner of every file holding a handle of a
 *	KV pool, protected by @kv.lock
 * @dev_link: entry on accelkv_device.pools, protected by its pools_lock
 */
struct accelkv_pool {
	struct drm_gem_object base;
	struct file *shmem;
	struct file *mfile;
	struct page **pages;
	unsigned long npages;
	u32 flags;
	u32 block_size;
	struct user_struct *user;
	struct accelkv_kv kv;
	struct list_head owners;
	struct list_head dev_link;
};

static inline struct accelkv_pool *to_accelkv_pool(struct drm_gem_object *obj)
{
	return container_of(obj, struct accelkv_pool, base);
}

void accelkv_pool_mnt_init(struct accelkv_device *adev);
void accelkv_pool_mnt_fini(struct accelkv_device *adev);

struct accelkv_pool *accelkv_pool_lookup(struct drm_file *file, u32 handle);
struct accelkv_kvcore_owner *accelkv_pool_owner_locked(struct accelkv_pool *pool,
						       struct drm_file *file);

int accelkv_pool_create_ioctl(struct drm_device *drm, void *data,
			      struct drm_file *file);
int accelkv_pool_info_ioctl(struct drm_device *drm, void *data,
			    struct drm_file *file);
int accelkv_pool_destroy_ioctl(struct drm_device *drm, void *data,
			       struct drm_file *file);

/* accelkv_kv_ioctl.c: the KV ioctls over a pool's struct accelkv_kv */
int accelkv_kv_alloc_ioctl(struct drm_device *drm, void *data,
			   struct drm_file *file);
int accelkv_kv_free_ioctl(struct drm_device *drm, void *data,
			  struct drm_file *file);
int accelkv_kv_ref_ioctl(struct drm_device *drm, void *data,
			 struct drm_file *file);
int accelkv_kv_publish_ioctl(struct drm_device *drm, void *data,
			     struct drm_file *file);
int accelkv_kv_lookup_ioctl(struct drm_device *drm, void *data,
			    struct drm_file *file);
int accelkv_kv_peek_evict_ioctl(struct drm_device *drm, void *data,
				struct drm_file *file);

#endif /* _ACCELKV_POOL_H_ */
