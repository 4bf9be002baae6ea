// SPDX-License-Identifier: MIT
/*
 * Emulated pools: a memfd (so that export is a dup of it) mapped MAP_SHARED,
 * huge pages when asked and available (MFD_HUGETLB, else MADV_HUGEPAGE),
 * mlocked (pinned) and zero. A private pool (ACCEL_POOL_PRIVATE: never
 * exported) asking for huge pages is anonymous memory instead where no
 * hugetlb pages are reserved: MADV_HUGEPAGE gets it transparent huge pages
 * where shmem gets none (shmem_enabled "never", the default). A process-wide
 * registry maps a memfd's inode to its core, so importing a pool of this
 * process shares memory and allocator; a pool from elsewhere shares memory
 * only (KV state sharing across processes is the driver's job: no
 * ACCEL_CAP_CROSS_PROCESS here).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "accelkv.h"
#include "emu.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER; /* registry, core->handles */
static struct accel_link registry = { &registry, &registry };
static int pageable_warned;	/* registry_lock */

/*
 * accel_emu_map_anon - anonymous private mapping of @size for a pool nobody
 * exports, at a huge-page boundary (kernels before 6.7 do not align it) and
 * advised huge: a decode step streams the weights from DRAM, and on 4 KiB
 * pages one core's stream reaches ~70% of what it does on 2 MiB pages (21-23
 * against 30-31 GB/s on a Zen 4 EPYC, notes in README)
 */
static int accel_emu_map_anon(struct accel_emu_core *core, uint64_t size)
{
	void *a = accel_pool_mmap_huge(size, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (a == MAP_FAILED)
		return -errno;
	madvise(a, size, MADV_HUGEPAGE);
	core->base = a;
	return 0;
}

/* accel_emu_map - memory of @size for @core: a memfd and its mapping, or
 * (@huge and @priv: nothing shares it) anonymous memory; sets
 * core->memfd/base/info_flags */
static int accel_emu_map(struct accel_emu_core *core, uint64_t size, int huge, int priv)
{
	void *p;
	int fd, ret;

	if (huge && size % ACCEL_HUGE_SIZE == 0) {
		fd = memfd_create("accel-pool", MFD_CLOEXEC | MFD_HUGETLB);
		if (fd >= 0) {
			p = MAP_FAILED;
			if (ftruncate(fd, (off_t)size) == 0)
				p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (p != MAP_FAILED) {
				core->memfd = fd;
				core->base = p;
				core->info_flags |= ACCEL_POOL_HUGEPAGE;
				return 0;
			}
			close(fd);
		}
		accel_dbg("no hugetlb pages for %llu bytes: using MADV_HUGEPAGE",
			  (unsigned long long)size);
	}
	if (huge && priv)
		return accel_emu_map_anon(core, size);
	fd = memfd_create("accel-pool", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size)) {
		ret = -errno;
		goto err_close;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	if (huge)
		madvise(p, size, MADV_HUGEPAGE);
	core->memfd = fd;
	core->base = p;
	return 0;

err_close:
	close(fd);
	return ret;
}

/* accel_emu_thp_mapped - 1 if /proc/self/smaps shows the mapping at @base
 * backed by PMD-sized (transparent huge) pages */
static int accel_emu_thp_mapped(void *base)
{
	char line[256], want[32];
	int in = 0, huge = 0;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return 0;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)base);
	while (fgets(line, sizeof(line), f)) {
		unsigned long kb;
		char *sp = strchr(line, ' ');

		if (!sp || sp == line || sp[-1] != ':') {	/* a range line */
			if (in)
				break;
			in = !strncmp(line, want, strlen(want));
			continue;
		}
		if (in && (sscanf(line, "ShmemPmdMapped: %lu", &kb) == 1 ||
			   sscanf(line, "FilePmdMapped: %lu", &kb) == 1 ||
			   sscanf(line, "AnonHugePages: %lu", &kb) == 1) && kb)
			huge = 1;
	}
	fclose(f);
	return huge;
}

/* accel_emu_pin - mlock the core; with @pageable, a refusal only warns */
static int accel_emu_pin(struct accel_emu_core *core, int pageable)
{
	struct rlimit rl = { 0, 0 };
	int err;

	/* the raw syscall: sanitizers replace mlock() with a no-op */
	if (syscall(SYS_mlock, core->base, core->size) == 0) {
		core->info_flags |= ACCEL_POOL_INFO_PINNED;
		return 0;
	}
	err = errno;
	getrlimit(RLIMIT_MEMLOCK, &rl);
	if (pageable) {
		pthread_mutex_lock(&registry_lock);
		if (!pageable_warned++)
			accel_warn("cannot pin %llu bytes (RLIMIT_MEMLOCK %llu bytes): "
				   "pools stay pageable (ACCEL_POOL_PAGEABLE)",
				   (unsigned long long)core->size,
				   (unsigned long long)rl.rlim_cur);
		pthread_mutex_unlock(&registry_lock);
		return 0;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		accel_err("cannot pin %llu bytes: %s", (unsigned long long)core->size,
			  strerror(err));
	else
		accel_err("cannot pin %llu bytes: %s (RLIMIT_MEMLOCK is %llu bytes; raise it "
			  "with ulimit -l, or use ACCEL_POOL_PAGEABLE)",
			  (unsigned long long)core->size, strerror(err),
			  (unsigned long long)rl.rlim_cur);
	/* a finite limit is the usual reason: report it as the uapi does */
	if (err == EPERM || (err == ENOMEM && rl.rlim_cur != RLIM_INFINITY))
		return -EPERM;
	return -ENOMEM;
}

static struct accel_emu_core *accel_emu_core_new(void)
{
	struct accel_emu_core *core = calloc(1, sizeof(*core));

	if (!core)
		return NULL;
	core->memfd = -1;
	core->handles = 1;
	accel_list_init(&core->link);
	pthread_mutex_init(&core->lock, NULL);
	return core;
}

static void accel_emu_core_free(struct accel_emu_core *core)
{
	if (core->block_size)
		accelkv_kvcore_fini(&core->kv);
	if (core->base)
		munmap(core->base, core->size);
	if (core->memfd >= 0)
		close(core->memfd);
	pthread_mutex_destroy(&core->lock);
	free(core);
}

static void accel_emu_core_register(struct accel_emu_core *core)
{
	struct stat st;

	/* anonymous (memfd -1): no file to find it by, st_ino stays 0 */
	if (core->memfd >= 0 && fstat(core->memfd, &st) == 0) {
		core->st_dev = st.st_dev;
		core->st_ino = st.st_ino;
	}
	pthread_mutex_lock(&registry_lock);
	accel_list_add(&registry, &core->link);
	pthread_mutex_unlock(&registry_lock);
}

static int accel_emu_handle_new(struct accel_pool *pool, struct accel_emu_core *core)
{
	struct accel_emu_pool *ep = calloc(1, sizeof(*ep));

	if (!ep)
		return -ENOMEM;
	ep->core = core;
	accelkv_kvcore_owner_init(&ep->owner);
	pool->priv = ep;
	pool->base = core->base;
	pool->size = core->size;
	pool->block_size = core->block_size;
	pool->num_blocks = core->num_blocks;
	pool->flags = core->flags;
	return 0;
}

int accel_emu_pool_create(struct accel_device *dev, const struct accel_pool_opts *opts,
			  struct accel_pool *pool)
{
	struct accel_emu_core *core;
	int ret;

	(void)dev;
	core = accel_emu_core_new();
	if (!core)
		return -ENOMEM;
	core->size = opts->size;
	core->flags = opts->flags;
	ret = accel_emu_map(core, opts->size, !!(opts->flags & ACCEL_POOL_HUGEPAGE),
			    !!(opts->flags & ACCEL_POOL_PRIVATE));
	if (ret)
		goto err_free;
	ret = accel_emu_pin(core, !!(opts->flags & ACCEL_POOL_PAGEABLE));
	if (ret)
		goto err_free;
	/* MADV_HUGEPAGE is a hint: report huge pages only if the (now
	 * populated) mapping really has them */
	if ((opts->flags & ACCEL_POOL_HUGEPAGE) && !(core->info_flags & ACCEL_POOL_HUGEPAGE) &&
	    (core->info_flags & ACCEL_POOL_INFO_PINNED) && accel_emu_thp_mapped(core->base))
		core->info_flags |= ACCEL_POOL_HUGEPAGE;
	if (opts->flags & ACCEL_POOL_KV) {
		ret = -EINVAL;
		if (opts->size / opts->block_size > ACCELKV_MAX_KV_BLOCKS)
			goto err_free;
		ret = accelkv_kvcore_init(&core->kv, (uint32_t)(opts->size / opts->block_size));
		if (ret)
			goto err_free;
		core->block_size = opts->block_size;
		core->num_blocks = core->kv.num_blocks;
	}
	ret = accel_emu_handle_new(pool, core);
	if (ret)
		goto err_free;
	accel_emu_core_register(core);
	return 0;

err_free:
	accel_emu_core_free(core);
	return ret;
}

void accel_emu_pool_destroy(struct accel_pool *pool)
{
	struct accel_emu_pool *ep = pool->priv;
	struct accel_emu_core *core = ep->core;
	uint32_t left;

	if (core->block_size) {
		pthread_mutex_lock(&core->lock);
		accelkv_kvcore_owner_release(&core->kv, &ep->owner);
		pthread_mutex_unlock(&core->lock);
	}
	free(ep);
	pthread_mutex_lock(&registry_lock);
	left = --core->handles;
	if (!left)
		accel_list_del(&core->link);
	pthread_mutex_unlock(&registry_lock);
	if (!left)
		accel_emu_core_free(core);
}

int accel_emu_pool_info(struct accel_pool *pool, struct accel_pool_info *info)
{
	struct accel_emu_pool *ep = pool->priv;
	struct accel_emu_core *core = ep->core;

	memset(info, 0, sizeof(*info));
	info->size = core->size;
	info->block_size = core->block_size;
	info->num_blocks = core->num_blocks;
	info->flags = (core->flags & ~ACCEL_POOL_HUGEPAGE) | core->info_flags;
	/* a pageable pool's pages come as it is touched: look now */
	if ((core->flags & ACCEL_POOL_HUGEPAGE) &&
	    !(core->info_flags & (ACCEL_POOL_HUGEPAGE | ACCEL_POOL_INFO_PINNED)) &&
	    accel_emu_thp_mapped(core->base))
		info->flags |= ACCEL_POOL_HUGEPAGE;
	if (core->block_size) {
		pthread_mutex_lock(&core->lock);
		info->blocks_used = core->kv.nr_used;
		info->blocks_cached = core->kv.nr_cached;
		info->blocks_free = core->kv.nr_free;
		info->prefix_queries = core->kv.prefix_queries;
		info->prefix_hits = core->kv.prefix_hits;
		pthread_mutex_unlock(&core->lock);
	}
	return 0;
}

int accel_emu_pool_export(struct accel_pool *pool, int *fd)
{
	struct accel_emu_pool *ep = pool->priv;
	int nfd = fcntl(ep->core->memfd, F_DUPFD_CLOEXEC, 0);

	if (nfd < 0)
		return -errno;
	*fd = nfd;
	return 0;
}

int accel_emu_pool_import(struct accel_device *dev, int fd, struct accel_pool *pool)
{
	struct accel_emu_core *core = NULL;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct stat st;
	void *p;
	int ret;

	(void)dev;
	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size % page)
		return -EINVAL;
	/* one of this process's pools: share its core (memory and allocator) */
	pthread_mutex_lock(&registry_lock);
	for (struct accel_link *l = registry.next; l != &registry; l = l->next) {
		struct accel_emu_core *c = accel_container_of(l, struct accel_emu_core, link);

		if (c->st_dev == st.st_dev && c->st_ino == st.st_ino) {
			core = c;
			core->handles++;
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	if (core) {
		ret = accel_emu_handle_new(pool, core);
		if (ret) {
			pthread_mutex_lock(&registry_lock);
			core->handles--;
			pthread_mutex_unlock(&registry_lock);
		}
		return ret;
	}
	/* from elsewhere: memory only, a plain pool over the whole file */
	core = accel_emu_core_new();
	if (!core)
		return -ENOMEM;
	core->size = (uint64_t)st.st_size;
	core->memfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (core->memfd < 0) {
		ret = -errno;
		goto err_free;
	}
	p = mmap(NULL, core->size, PROT_READ | PROT_WRITE, MAP_SHARED, core->memfd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto err_free;
	}
	core->base = p;
	ret = accel_emu_pin(core, 0);
	if (ret)
		goto err_free;
	ret = accel_emu_handle_new(pool, core);
	if (ret)
		goto err_free;
	accel_emu_core_register(core);
	return 0;

err_free:
	accel_emu_core_free(core);
	return ret;
}
