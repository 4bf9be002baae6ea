// SPDX-License-Identifier: GPL-2.0-only
/*
 * accelkv: pool GEM objects. Pages are allocated zeroed (2 MiB blocks split
 * into pages when huge pages are asked for and available), charged, and
 * mapped with vm_insert_pages so the mapping holds normal pages that O_DIRECT
 * and cudaHostRegister can pin. Closing a handle drops its KV references.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>
#include <drm/drm_file.h>
#include <drm/drm_prime.h>
#include <drm/drm_vma_manager.h>

#include "accelkv.h"
#include "accelkv_check.h"
#include "accelkv_compat.h"
#include "accelkv_drv.h"
#include "accelkv_pool.h"

/* A 2 MiB block on x86-64: the order of a PMD-sized page. */
#define ACCELKV_HUGE_ORDER	(PMD_SHIFT - PAGE_SHIFT)

/*
 * Most references one KV block may hold (KV_REF and KV_LOOKUP beyond it
 * fail with -EOVERFLOW). Tests lower it to reach the limit in a few calls;
 * read when a pool is created.
 */
static unsigned int kv_max_refs = ACCELKV_KV_MAX_REFS;
module_param(kv_max_refs, uint, 0644);
MODULE_PARM_DESC(kv_max_refs,
		 "Most references one KV block may hold, 1..2^31-1 (default 2^31-1; read at pool creation)");

/**
 * struct accelkv_pool_owner - KV references of one file in one pool
 * @link: entry on accelkv_pool.owners
 * @file: the file, used as a key only
 * @handles: handles @file holds on the pool (GEM_OPEN of a flink name or a
 *	PRIME import gives a second one); the references go with the last
 * @kv: the references
 *
 * Created by the GEM open hook with a file's first handle and destroyed by
 * the close hook with its last, so no KV ioctl can create one for a file
 * whose handle is already gone: it finds none and fails with -ENOENT.
 */
struct accelkv_pool_owner {
	struct list_head link;
	struct drm_file *file;
	unsigned int handles;
	struct accelkv_kvcore_owner kv;
};

static struct accelkv_pool_owner *
accelkv_pool_owner_find_locked(struct accelkv_pool *pool, struct drm_file *file)
{
	struct accelkv_pool_owner *o;

	lockdep_assert_held(&pool->kv.lock);
	list_for_each_entry(o, &pool->owners, link)
		if (o->file == file)
			return o;
	return NULL;
}

struct accelkv_kvcore_owner *accelkv_pool_owner_locked(struct accelkv_pool *pool,
						   struct drm_file *file)
{
	struct accelkv_pool_owner *o = accelkv_pool_owner_find_locked(pool, file);

	return o ? &o->kv : NULL;
}

static void accelkv_pool_owner_destroy_locked(struct accelkv_pool *pool,
					      struct accelkv_pool_owner *o)
{
	lockdep_assert_held(&pool->kv.lock);
	accelkv_kv_owner_release(&pool->kv, &o->kv);
	list_del(&o->link);
	kfree(o);
}

/*
 * Fault injection for the unwind of POOL_CREATE, as null_blk has knobs:
 * 1 fails the page array's allocation, 2 a page allocation half-way
 * through. 0 (the default) injects nothing; writable at run time.
 */
static unsigned int fail_pool_alloc;
module_param(fail_pool_alloc, uint, 0644);
MODULE_PARM_DESC(fail_pool_alloc,
		 "Fail POOL_CREATE's page array (1) or a page (2) allocation (testing; default 0: never)");

/* ----------------------------------------------------- pinned accounting */

static int accelkv_pool_charge(struct accelkv_device *adev,
			       struct user_struct *user, unsigned long npages)
{
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	unsigned long cur, want;
	u64 bytes = (u64)npages << PAGE_SHIFT;

	cur = atomic_long_read(&user->locked_vm);
	do {
		want = cur + npages;
		if (want < cur ||
		    (!capable(CAP_IPC_LOCK) && want > limit))
			return -EPERM;
	} while (!atomic_long_try_cmpxchg(&user->locked_vm, &cur, want));

	if (atomic64_add_return(bytes, &adev->pinned) > adev->pinned_limit) {
		atomic64_sub(bytes, &adev->pinned);
		atomic_long_sub(npages, &user->locked_vm);
		return -ENOMEM;
	}
	return 0;
}

static void accelkv_pool_uncharge(struct accelkv_device *adev,
				  struct user_struct *user, unsigned long npages)
{
	atomic64_sub((u64)npages << PAGE_SHIFT, &adev->pinned);
	atomic_long_sub(npages, &user->locked_vm);
}

/* ---------------------------------------------------------------- pages */

static void accelkv_pool_free_pages(struct accelkv_pool *pool)
{
	unsigned long i;

	if (!pool->pages)	/* the array itself could not be allocated */
		return;
	for (i = 0; i < pool->npages && pool->pages[i]; i++)
		__free_page(pool->pages[i]);
	kvfree(pool->pages);
	pool->pages = NULL;
}

static int accelkv_pool_alloc_pages(struct accelkv_pool *pool, bool huge)
{
	/* pinned pages and their array are charged to the creator's memcg */
	const gfp_t gfp = GFP_HIGHUSER | __GFP_ZERO | __GFP_ACCOUNT;
	const unsigned long nr_huge = 1UL << ACCELKV_HUGE_ORDER;
	unsigned int fail = READ_ONCE(fail_pool_alloc);
	bool all_huge = huge;
	struct page *page;
	unsigned long i = 0, j;

	pool->pages = fail == 1 ? NULL :
		kvcalloc(pool->npages, sizeof(*pool->pages), GFP_KERNEL_ACCOUNT);
	if (!pool->pages)
		return -ENOMEM;
	while (i < pool->npages) {
		if (fatal_signal_pending(current))
			return -EINTR;
		page = NULL;
		if (huge && pool->npages - i >= nr_huge)
			page = alloc_pages(gfp | __GFP_NOWARN | __GFP_NORETRY,
					   ACCELKV_HUGE_ORDER);
		if (page) {
			split_page(page, ACCELKV_HUGE_ORDER);
			for (j = 0; j < nr_huge; j++)
				pool->pages[i++] = page + j;
		} else {
			all_huge = false;
			page = fail == 2 && i >= pool->npages / 2 ? NULL :
				alloc_page(gfp);
			if (!page)
				return -ENOMEM;
			pool->pages[i++] = page;
		}
		cond_resched();
	}
	if (!all_huge)
		pool->flags &= ~ACCELKV_POOL_HUGEPAGE;
	return 0;
}

/* ------------------------------------------------------ GEM object funcs */

static void accelkv_pool_free(struct drm_gem_object *obj)
{
	struct accelkv_pool *pool = to_accelkv_pool(obj);
	struct accelkv_device *adev = to_accelkv_dev(obj->dev);
	struct accelkv_pool_owner *o, *tmp;

	mutex_lock(&adev->pools_lock);
	list_del(&pool->dev_link);
	adev->nr_pools--;
	mutex_unlock(&adev->pools_lock);

	if (pool->flags & ACCELKV_POOL_KV) {
		/* Handles are all closed by now; nothing should be left. */
		mutex_lock(&pool->kv.lock);
		list_for_each_entry_safe(o, tmp, &pool->owners, link)
			accelkv_pool_owner_destroy_locked(pool, o);
		mutex_unlock(&pool->kv.lock);
		accelkv_kv_fini(&pool->kv);
	}
	accelkv_pool_free_pages(pool);
	accelkv_pool_uncharge(adev, pool->user, pool->npages);
	free_uid(pool->user);
	drm_gem_object_release(obj);
	kfree(pool);
}

/* @file gets a handle on the pool (POOL_CREATE, PRIME import, GEM_OPEN). */
static int accelkv_pool_open(struct drm_gem_object *obj, struct drm_file *file)
{
	struct accelkv_pool *pool = to_accelkv_pool(obj);
	struct accelkv_pool_owner *o;
	int ret = 0;

	if (!(pool->flags & ACCELKV_POOL_KV))
		return 0;
	mutex_lock(&pool->kv.lock);
	o = accelkv_pool_owner_find_locked(pool, file);
	if (o) {
		o->handles++;
		goto out_unlock;
	}
	o = kzalloc(sizeof(*o), GFP_KERNEL_ACCOUNT);
	if (!o) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	o->file = file;
	o->handles = 1;
	accelkv_kvcore_owner_init(&o->kv);
	list_add_tail(&o->link, &pool->owners);
out_unlock:
	mutex_unlock(&pool->kv.lock);
	return ret;
}

/* A handle of @file goes away (GEM_CLOSE, POOL_DESTROY or file close). */
static void accelkv_pool_close(struct drm_gem_object *obj,
			       struct drm_file *file)
{
	struct accelkv_pool *pool = to_accelkv_pool(obj);
	struct accelkv_pool_owner *o;

	if (!(pool->flags & ACCELKV_POOL_KV))
		return;
	mutex_lock(&pool->kv.lock);
	o = accelkv_pool_owner_find_locked(pool, file);
	/* open and close pair up per handle: the last one drops the refs */
	if (o && !--o->handles)
		accelkv_pool_owner_destroy_locked(pool, o);
	mutex_unlock(&pool->kv.lock);
}

static struct sg_table *accelkv_pool_get_sg_table(struct drm_gem_object *obj)
{
	struct accelkv_pool *pool = to_accelkv_pool(obj);

	return drm_prime_pages_to_sg(obj->dev, pool->pages, pool->npages);
}

/* Page offset of @vma in the pool: vm_pgoff carries the fake mmap offset. */
static unsigned long accelkv_pool_vma_pgoff(struct drm_gem_object *obj,
					    unsigned long pgoff)
{
	return pgoff - drm_vma_node_start(&obj->vma_node);
}

static int accelkv_pool_mmap(struct drm_gem_object *obj,
			     struct vm_area_struct *vma)
{
	struct accelkv_pool *pool = to_accelkv_pool(obj);
	unsigned long pgoff = accelkv_pool_vma_pgoff(obj, vma->vm_pgoff);
	unsigned long n = vma_pages(vma);

	if (pgoff >= pool->npages || n > pool->npages - pgoff)
		return -EINVAL;
	accelkv_vm_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_page_prot = vm_get_page_prot(vma->vm_flags);
	return vm_insert_pages(vma, vma->vm_start, pool->pages + pgoff, &n);
}

/* Refills pages zapped by madvise(MADV_DONTNEED) and the like. */
static vm_fault_t accelkv_pool_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct drm_gem_object *obj = vma->vm_private_data;
	struct accelkv_pool *pool = to_accelkv_pool(obj);
	unsigned long pgoff = accelkv_pool_vma_pgoff(obj, vmf->pgoff);
	int ret;

	if (pgoff >= pool->npages)
		return VM_FAULT_SIGBUS;
	ret = vm_insert_page(vma, vmf->address, pool->pages[pgoff]);
	if (ret == -ENOMEM)
		return VM_FAULT_OOM;
	if (ret && ret != -EBUSY)
		return VM_FAULT_SIGBUS;
	return VM_FAULT_NOPAGE;
}

static const struct vm_operations_struct accelkv_pool_vm_ops = {
	.fault = accelkv_pool_fault,
	.open = drm_gem_vm_open,
	.close = drm_gem_vm_close,
};

static const struct drm_gem_object_funcs accelkv_pool_funcs = {
	.free = accelkv_pool_free,
	.open = accelkv_pool_open,
	.close = accelkv_pool_close,
	.get_sg_table = accelkv_pool_get_sg_table,
	.mmap = accelkv_pool_mmap,
	.vm_ops = &accelkv_pool_vm_ops,
};

/* ----------------------------------------------------------------- ioctls */

struct accelkv_pool *accelkv_pool_lookup(struct drm_file *file, u32 handle)
{
	struct drm_gem_object *obj = drm_gem_object_lookup(file, handle);

	/* Only our objects exist on this device: foreign imports are refused. */
	return obj ? to_accelkv_pool(obj) : NULL;
}

int accelkv_pool_create_ioctl(struct drm_device *drm, void *data,
			      struct drm_file *file)
{
	struct accelkv_device *adev = to_accelkv_dev(drm);
	struct drm_accelkv_pool_create *args = data;
	struct accelkv_pool *pool;
	u32 num_blocks, handle;
	int ret;

	ret = accelkv_check_pool_create(args, adev->max_pool_size, &num_blocks);
	if (ret)
		return ret;

	pool = kzalloc(sizeof(*pool), GFP_KERNEL_ACCOUNT);
	if (!pool)
		return -ENOMEM;
	pool->base.funcs = &accelkv_pool_funcs;
	pool->npages = args->size >> PAGE_SHIFT;
	pool->flags = args->flags;
	if (!adev->hugepage)
		pool->flags &= ~ACCELKV_POOL_HUGEPAGE;
	pool->block_size = args->block_size;
	pool->user = get_current_user();
	INIT_LIST_HEAD(&pool->owners);
	INIT_LIST_HEAD(&pool->dev_link);

	ret = accelkv_pool_charge(adev, pool->user, pool->npages);
	if (ret)
		goto err_free_uid;
	ret = accelkv_pool_alloc_pages(pool, pool->flags & ACCELKV_POOL_HUGEPAGE);
	if (ret)
		goto err_free_pages;
	if (num_blocks) {
		ret = accelkv_kv_init(&pool->kv, num_blocks,
				      READ_ONCE(kv_max_refs));
		if (ret)
			goto err_free_pages;
	}

	drm_gem_private_object_init(drm, &pool->base, args->size);
	mutex_lock(&adev->pools_lock);
	list_add_tail(&pool->dev_link, &adev->pools);
	adev->nr_pools++;
	mutex_unlock(&adev->pools_lock);
	/* From here on the GEM reference owns the pool: .free undoes it all. */

	ret = drm_gem_create_mmap_offset(&pool->base);
	if (ret)
		goto err_put;
	args->mmap_offset = drm_vma_node_offset_addr(&pool->base.vma_node);
	ret = drm_gem_handle_create(file, &pool->base, &handle);
	if (ret)
		goto err_put;
	/*
	 * Another thread of this file may close the handle the moment it
	 * exists: only our own reference keeps @pool alive, so it goes last.
	 */
	args->handle = handle;
	accelkv_dbg(adev, "pool %u: %llu bytes, %u blocks, flags %#x\n",
		    handle, args->size, num_blocks, pool->flags);
	drm_gem_object_put(&pool->base);
	return 0;

err_put:
	drm_gem_object_put(&pool->base);
	return ret;

err_free_pages:
	accelkv_pool_free_pages(pool);
	accelkv_pool_uncharge(adev, pool->user, pool->npages);
err_free_uid:
	free_uid(pool->user);
	kfree(pool);
	return ret;
}

int accelkv_pool_info_ioctl(struct drm_device *drm, void *data,
			    struct drm_file *file)
{
	struct drm_accelkv_pool_info *args = data;
	struct accelkv_pool *pool;
	int ret;

	ret = accelkv_check_pool_info(args);
	if (ret)
		return ret;
	pool = accelkv_pool_lookup(file, args->handle);
	if (!pool)
		return -ENOENT;

	args->flags = pool->flags;
	args->size = pool->base.size;
	args->block_size = pool->block_size;
	args->mmap_offset = drm_vma_node_offset_addr(&pool->base.vma_node);
	args->num_blocks = 0;
	args->blocks_used = 0;
	args->blocks_cached = 0;
	args->prefix_hits = 0;
	args->prefix_queries = 0;
	if (pool->flags & ACCELKV_POOL_KV) {
		mutex_lock(&pool->kv.lock);
		args->num_blocks = pool->kv.core.num_blocks;
		args->blocks_used = pool->kv.core.nr_used;
		args->blocks_cached = pool->kv.core.nr_cached;
		args->prefix_hits = pool->kv.core.prefix_hits;
		args->prefix_queries = pool->kv.core.prefix_queries;
		mutex_unlock(&pool->kv.lock);
	}
	drm_gem_object_put(&pool->base);
	return 0;
}

int accelkv_pool_destroy_ioctl(struct drm_device *drm, void *data,
			       struct drm_file *file)
{
	struct drm_accelkv_pool_destroy *args = data;
	int ret;

	ret = accelkv_check_pool_destroy(args);
	if (ret)
		return ret;
	/* .close drops this file's KV references with the handle. */
	ret = drm_gem_handle_delete(file, args->handle);
	return ret == -EINVAL ? -ENOENT : ret;
}
