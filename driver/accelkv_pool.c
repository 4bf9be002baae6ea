// SPDX-License-Identifier: GPL-2.0-only
/*
 * accelkv: pool GEM objects. A pool's pages are those of a shmem file (a
 * private tmpfs mount with huge=within_size for ACCELKV_POOL_HUGEPAGE pools,
 * so 2 MiB folios come where the kernel has them), read in zeroed at
 * creation, held (pinned: one reference per folio, the mapping unevictable)
 * and charged until the object is freed. mmap maps that file: the fault path
 * maps a huge folio with one PMD, which decode, a stream through every
 * weight, needs (on 4 KiB pages one core streams a third less from DRAM), and
 * the mapping holds normal pages that O_DIRECT and cudaHostRegister can pin.
 * Closing a handle drops its KV references.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/mount.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/shmem_fs.h>
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

/*
 * accelkv_pool_mnt_init - the tmpfs mount that backs HUGEPAGE pools
 *
 * huge=within_size: a file gets 2 MiB folios where its size covers them,
 * whatever the system's shmem_enabled says (Debian's default is never, which
 * memfds and SysV shm obey). Without THP or 2 MiB page-cache folios, or with
 * the hugepage parameter off, every pool is a file of the kernel's own shm
 * mount and CAP_HUGEPAGE is not reported.
 */
void accelkv_pool_mnt_init(struct accelkv_device *adev)
{
	char opts[] = "huge=within_size";	/* tmpfs parses it in place */
	struct file_system_type *type;
	struct vfsmount *mnt;

	adev->huge_mnt = NULL;
	if (!adev->hugepage || !IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) ||
	    !has_transparent_hugepage())
		goto no_huge;
#ifdef MAX_PAGECACHE_ORDER
	/* BASE_SMALL kernels cap page-cache folios below 2 MiB */
	if (MAX_PAGECACHE_ORDER < ACCELKV_HUGE_ORDER)
		goto no_huge;
#endif
	/* tmpfs is built in: no module reference to drop (as i915's gemfs) */
	type = get_fs_type("tmpfs");
	if (!type)
		goto no_huge;
	mnt = vfs_kern_mount(type, SB_KERNMOUNT, type->name, opts);
	if (IS_ERR(mnt))
		goto no_huge;
	adev->huge_mnt = mnt;
	return;
no_huge:
	adev->hugepage = false;
}

void accelkv_pool_mnt_fini(struct accelkv_device *adev)
{
	if (adev->huge_mnt)
		kern_unmount(adev->huge_mnt);
	adev->huge_mnt = NULL;
}

/* Drops the folio references taken by accelkv_pool_alloc_pages, then the file. */
static void accelkv_pool_free_pages(struct accelkv_pool *pool)
{
	struct folio *folio;
	unsigned long i = 0;

	if (pool->pages) {	/* NULL: the array itself could not be allocated */
		/* filled in folio order from index 0: pages[i] starts a folio */
		while (i < pool->npages && pool->pages[i]) {
			folio = page_folio(pool->pages[i]);
			i += folio_nr_pages(folio);
			folio_put(folio);
		}
		kvfree(pool->pages);
		pool->pages = NULL;
	}
	if (pool->mfile) {
		fput(pool->mfile);	/* its module reference goes in __fput, later */
		pool->mfile = NULL;
	}
	if (pool->shmem) {
		mapping_clear_unevictable(pool->shmem->f_mapping);
		fput(pool->shmem);
		pool->shmem = NULL;
	}
}

/*
 * What a mapping of the pool holds: a file of the shmem inode whose
 * file_operations are ours, so that (as with the DRM file it replaces in the
 * vma) the module stays while anything is mapped, and no shmem call reaches
 * the pool through the vma: fallocate (MADV_REMOVE) is refused, the pages
 * cannot be punched out under LOAD, STORE and PRIME.
 */
static const struct file_operations accelkv_pool_map_fops = {
	.owner = THIS_MODULE,
};

static int accelkv_pool_map_file(struct accelkv_pool *pool)
{
	struct inode *inode = file_inode(pool->shmem);
	struct file *f;

	/* alloc_file_pseudo takes neither: __fput drops both */
	__module_get(THIS_MODULE);
	ihold(inode);
	f = alloc_file_pseudo(inode, pool->shmem->f_path.mnt, "accelkv-pool", O_RDWR,
			      &accelkv_pool_map_fops);
	if (IS_ERR(f)) {
		iput(inode);
		module_put(THIS_MODULE);
		return PTR_ERR(f);
	}
	pool->mfile = f;
	return 0;
}

static int accelkv_pool_alloc_pages(struct accelkv_pool *pool,
				    struct vfsmount *mnt)
{
	/*
	 * Held for the pool's life: never movable (compaction could not move
	 * them anyway). shmem charges them to the creator's memcg.
	 */
	const gfp_t gfp = GFP_HIGHUSER;
	const unsigned long nr_huge = 1UL << ACCELKV_HUGE_ORDER;
	unsigned int fail = READ_ONCE(fail_pool_alloc);
	loff_t size = (loff_t)pool->npages << PAGE_SHIFT;
	bool all_huge = !!mnt, any_huge = false;
	struct address_space *mapping;
	struct folio *folio;
	struct page *page;
	unsigned long i = 0, j, n;
	struct file *f;
	int ret;

	f = mnt ? shmem_file_setup_with_mnt(mnt, "accelkv-pool", size, VM_NORESERVE) :
		shmem_file_setup("accelkv-pool", size, VM_NORESERVE);
	if (IS_ERR(f))
		return PTR_ERR(f);
	pool->shmem = f;
	mapping = f->f_mapping;
	mapping_set_gfp_mask(mapping, gfp);
	mapping_set_unevictable(mapping);
	ret = accelkv_pool_map_file(pool);
	if (ret)
		return ret;

	pool->pages = fail == 1 ? NULL :
		kvcalloc(pool->npages, sizeof(*pool->pages), GFP_KERNEL_ACCOUNT);
	if (!pool->pages)
		return -ENOMEM;
	while (i < pool->npages) {
		if (fatal_signal_pending(current))
			return -EINTR;
		page = fail == 2 && i >= pool->npages / 2 ? ERR_PTR(-ENOMEM) :
			shmem_read_mapping_page_gfp(mapping, i, gfp);
		if (IS_ERR(page))
			return PTR_ERR(page);
		/* a reference on the folio: it may be 2 MiB, starting at i */
		folio = page_folio(page);
		n = folio_nr_pages(folio);
		if (WARN_ON_ONCE(folio->index != i || n > pool->npages - i)) {
			folio_put(folio);
			return -EFAULT;
		}
		if (n == nr_huge)
			any_huge = true;
		else if (pool->npages - i >= nr_huge)
			all_huge = false;
		for (j = 0; j < n; j++)
			pool->pages[i + j] = folio_page(folio, j);
		i += n;
		cond_resched();
	}
	/* every whole 2 MiB of the pool huge (a pool under 2 MiB has none) */
	if (!all_huge || !any_huge)
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

/*
 * The DRM fd's (or a dma-buf's) mmap maps the pool's shmem inode (through
 * pool->mfile) with our vm_ops: faults are served from its page cache, where
 * every page of the pool sits held, so a 2 MiB folio maps with one PMD where
 * the address allows, MADV_DONTNEED refaults the same pages, and rmap finds
 * the vma from the folios' mapping. The vma holds the object
 * (drm_gem_vm_open/close), so the pool stays pinned and charged while
 * mapped, and the file holds the module.
 */
static int accelkv_pool_mmap(struct drm_gem_object *obj,
			     struct vm_area_struct *vma)
{
	struct accelkv_pool *pool = to_accelkv_pool(obj);
	/* vm_pgoff carries the fake offset of the object */
	unsigned long pgoff = vma->vm_pgoff - drm_vma_node_start(&obj->vma_node);
	unsigned long n = vma_pages(vma);

	if (pgoff >= pool->npages || n > pool->npages - pgoff)
		return -EINVAL;
	/* DONTEXPAND (VM_SPECIAL): no mremap growth, no khugepaged, no merging */
	accelkv_vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_pgoff = pgoff;
	vma_set_file(vma, pool->mfile);
	return 0;
}

/*
 * Every page of the pool is in its file while the pool lives, and nothing
 * removes one (the vmas' file refuses fallocate): a miss is a bug, SIGBUS
 * rather than a page nobody accounts for.
 */
static vm_fault_t accelkv_pool_fault(struct vm_fault *vmf)
{
	/* locked: how the core takes a page it maps, by PMD or not */
	struct page *page = find_lock_page(vmf->vma->vm_file->f_mapping, vmf->pgoff);

	if (!page)
		return VM_FAULT_SIGBUS;
	vmf->page = page;	/* the core maps it, by PMD where it can */
	return VM_FAULT_LOCKED;
}

static const struct vm_operations_struct accelkv_pool_vm_ops = {
	.fault = accelkv_pool_fault,
	.map_pages = filemap_map_pages,
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
	ret = accelkv_pool_alloc_pages(pool, pool->flags & ACCELKV_POOL_HUGEPAGE ?
				       adev->huge_mnt : NULL);
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
