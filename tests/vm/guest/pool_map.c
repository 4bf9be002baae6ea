// SPDX-License-Identifier: MIT
/*
 * Pools as mapped memory: info fields, zeroed pages, mmap (whole, partial,
 * out of range), refault after MADV_DONTNEED, pinned-bytes accounting,
 * huge-page pools, O_DIRECT reads into the mapping (the pages pin like
 * ordinary memory), PRIME export/import and mmap of the dma-buf.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include "akv.h"
#include "memlimits.h"

#define MIB (1ULL << 20)

static int fd;

static void *map(uint64_t off, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);

	return p == MAP_FAILED ? NULL : p;
}

static int all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void test_basic(void)
{
	uint64_t before = akv_param(fd, ACCELKV_PARAM_PINNED_BYTES), off;
	struct drm_accelkv_pool_info info;
	unsigned char *p, *q;
	uint32_t h;
	size_t i;

	is_int(akv_pool(fd, MIB, 0, 0, &h, &off), 0, "create a 1 MiB pool");
	is_int(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES) - before, MIB, "1 MiB more pinned");
	is_int(akv_info(fd, h, &info), 0, "POOL_INFO");
	is_int(info.size, MIB, "info size");
	is_int(info.flags, 0, "info flags");
	is_int(info.block_size, 0, "info block_size of a plain pool");
	is_int(info.num_blocks, 0, "info num_blocks of a plain pool");
	is_int(info.mmap_offset, off, "info mmap_offset");
	p = map(off, MIB);
	ok(p != NULL, "mmap the whole pool");
	if (!p)
		return;
	ok(all_zero(p, MIB), "new pool is zeroed");
	for (i = 0; i < MIB; i++)
		p[i] = (unsigned char)(i * 7 + 3);
	q = map(off, 8192);
	ok(q && q[0] == 3 && q[8191] == (unsigned char)(8191 * 7 + 3),
	   "a shorter second mapping sees the same pages");
	if (q)
		munmap(q, 8192);
	/* DRM looks mmap offsets up exactly: no mapping from inside a pool */
	ok(map(off + 4096, 8192) == NULL, "mapping from an inner offset is refused");
	ok(map(off, 2 * MIB) == NULL, "mapping past the end fails");
	ok(madvise(p, MIB, MADV_DONTNEED) == 0, "MADV_DONTNEED");
	ok(p[12345] == (unsigned char)(12345 * 7 + 3), "refault after MADV_DONTNEED keeps the data");
	is_int(akv_pool_destroy(fd, h), 0, "destroy while mapped");
	ok(p[MIB - 1] == (unsigned char)((MIB - 1) * 7 + 3), "mapping outlives the handle");
	is_int(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES) - before, MIB, "still pinned while mapped");
	munmap(p, MIB);
	is_int(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES), before, "unpinned after munmap");
}

/* mmap @len of the pool at @off at a 2 MiB boundary (reserve, map inside) */
static void *map_aligned(uint64_t off, size_t len)
{
	char *r = mmap(NULL, len + 2 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;
	void *p;

	if (r == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)r + 2 * MIB - 1) & ~(uintptr_t)(2 * MIB - 1));
	p = mmap(a, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, off);
	if (p == MAP_FAILED) {
		munmap(r, len + 2 * MIB);
		return NULL;
	}
	if (a > r)
		munmap(r, a - r);
	munmap(a + len, r + len + 2 * MIB - (a + len));
	return p;
}

/*
 * Huge-page pools: the driver's 2 MiB folios reach userspace as 2 MiB
 * mappings (one PMD each) at an aligned address: a decode step streams
 * every weight through them, a third faster than through 4 KiB pages.
 */
static void test_hugepage(void)
{
	struct drm_accelkv_pool_info info;
	unsigned char *p, *q;
	uint64_t off;
	uint32_t h;
	int dfd;
	size_t i;

	is_int(akv_pool(fd, 4 * MIB, 0, ACCELKV_POOL_HUGEPAGE, &h, &off), 0, "hugepage pool");
	akv_info(fd, h, &info);
	ok(akv_param(fd, ACCELKV_PARAM_CAPABILITIES) & ACCELKV_CAP_HUGEPAGE,
	   "CAP_HUGEPAGE (the guest kernel has THP)");
	is_int(info.flags, ACCELKV_POOL_HUGEPAGE, "huge pages obtained (flags)");
	p = map_aligned(off, 4 * MIB);
	ok(p && all_zero(p, 4 * MIB), "hugepage pool mapped at 2 MiB and zeroed");
	if (!p) {
		skip(6, "no mapping");
		akv_pool_destroy(fd, h);
		return;
	}
	is_int(smaps_kb(p, "ShmemPmdMapped:"), 4096, "both 2 MiB folios mapped with one PMD each");
	for (i = 0; i < 4 * MIB; i += 4096)
		p[i] = (unsigned char)(i >> 12);
	q = map(off, 4 * MIB);	/* wherever the kernel puts it */
	ok(q && q[3 * MIB] == (unsigned char)((3 * MIB) >> 12), "an unaligned mapping sees the same pages");
	if (q)
		munmap(q, 4 * MIB);
	ok(madvise(p, 4 * MIB, MADV_DONTNEED) == 0 && p[MIB + 4096] == (unsigned char)257 &&
	   smaps_kb(p, "ShmemPmdMapped:") >= 2048, "MADV_DONTNEED: refaulted by PMD, data kept");
	dfd = open("/dev/vda", O_RDONLY | O_DIRECT);
	if (dfd >= 0) {
		unsigned char *ref = aligned_alloc(4096, MIB);

		ok(pread(dfd, p + 1536 * 1024, MIB, 3 * MIB) == MIB && ref &&
		   pread(dfd, ref, MIB, 3 * MIB) == MIB && !memcmp(p + 1536 * 1024, ref, MIB),
		   "O_DIRECT pread across the two huge pages");
		free(ref);
		close(dfd);
	} else {
		skip(1, "no /dev/vda");
	}
	/* the pages cannot be punched out of the pool through a mapping */
	errno = 0;
	i = madvise(p, 2 * MIB, MADV_REMOVE) == -1 ? (size_t)errno : 0;
	ok(i == EOPNOTSUPP && p[MIB + 4096] == (unsigned char)257,
	   "MADV_REMOVE refused (%s), the data stays", strerror((int)i));
	munmap(p, 4 * MIB);
	is_int(akv_pool_destroy(fd, h), 0, "destroyed");
}

/* /sys/module/accelkv/refcnt, or -1 */
static long module_refcnt(void)
{
	char b[32] = "";
	int k = open("/sys/module/accelkv/refcnt", O_RDONLY);
	ssize_t n = k >= 0 ? read(k, b, sizeof(b) - 1) : -1;

	if (k >= 0)
		close(k);
	return n > 0 ? atol(b) : -1;
}

/*
 * A mapping outlives the file it came from and holds the module, as the DRM
 * file it was made on did: its faults and its close run the driver's code.
 */
static void test_module_ref(void)
{
	long base = module_refcnt(), mapped;
	int fd2 = akv_open();
	unsigned char *p = NULL;
	uint64_t off;
	uint32_t h;

	if (fd2 >= 0 && akv_pool(fd2, 4 * MIB, 0, ACCELKV_POOL_HUGEPAGE, &h, &off) == 0)
		p = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, off);
	if (fd2 >= 0)
		close(fd2);
	mapped = module_refcnt();
	ok(p != MAP_FAILED && p && base >= 0 && mapped == base + 1,
	   "a mapping whose fd is closed holds the module (refcnt %ld, %ld before)", mapped, base);
	if (p && p != MAP_FAILED) {
		p[4 * MIB - 1] = 7;
		munmap(p, 4 * MIB);
	}
	is_int(module_refcnt(), base, "munmap: the pool is freed, the module reference goes");
}

static void test_odirect(void)
{
	int dfd = open("/dev/vda", O_RDONLY | O_DIRECT);
	unsigned char *p, *ref;
	uint64_t off;
	uint32_t h;
	ssize_t n;

	if (dfd < 0) {
		skip(2, "no /dev/vda");
		return;
	}
	akv_pool(fd, 2 * MIB, 0, 0, &h, &off);
	p = map(off, 2 * MIB);
	ref = aligned_alloc(4096, MIB);
	n = p ? pread(dfd, p + 4096, MIB, 3 * MIB) : -1;
	is_int(n, MIB, "O_DIRECT pread into the pool mapping");
	pread(dfd, ref, MIB, 3 * MIB);
	ok(p && memcmp(p + 4096, ref, MIB) == 0, "same bytes as an O_DIRECT read into malloc memory");
	free(ref);
	if (p)
		munmap(p, 2 * MIB);
	akv_pool_destroy(fd, h);
	close(dfd);
}

static void test_prime(void)
{
	uint32_t h, h_same, h2;
	int dmabuf = -1, fd2 = akv_open();
	struct drm_accelkv_pool_info info;
	unsigned char *p, *q;
	uint64_t off;

	akv_pool(fd, 64 * 1024, 4096, ACCELKV_POOL_KV, &h, &off);
	p = map(off, 64 * 1024);
	if (p)
		memset(p, 0x5a, 64 * 1024);
	is_int(drmPrimeHandleToFD(fd, h, DRM_CLOEXEC | DRM_RDWR, &dmabuf), 0, "PRIME export");
	is_int(drmPrimeFDToHandle(fd, dmabuf, &h_same), 0, "import in the same file");
	is_int(h_same, h, "same file: the same handle");
	is_int(drmPrimeFDToHandle(fd2, dmabuf, &h2), 0, "import in another file");
	is_int(akv_info(fd2, h2, &info), 0, "POOL_INFO through the imported handle");
	is_int(info.num_blocks, 16, "importer sees the KV pool");
	q = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_SHARED, dmabuf, 0);
	ok(q != MAP_FAILED && q[100] == 0x5a, "mmap of the dma-buf sees the pool");
	if (q != MAP_FAILED) {
		q[200] = 0x33;
		ok(p && p[200] == 0x33, "writes through the dma-buf reach the pool mapping");
		munmap(q, 64 * 1024);
	}
	q = mmap(NULL, 64 * 1024, PROT_READ, MAP_SHARED, fd2, info.mmap_offset);
	ok(q != MAP_FAILED && q[100] == 0x5a, "mmap through the importer's handle");
	if (q != MAP_FAILED)
		munmap(q, 64 * 1024);
	{
		struct drm_gem_close gc = { .handle = h2 };

		is_int(akv_ioctl(fd2, DRM_IOCTL_GEM_CLOSE, &gc), 0, "GEM_CLOSE the imported handle");
	}
	is_int(akv_info(fd, h, &info), 0, "exporter's handle still valid");
	close(dmabuf);
	if (p)
		munmap(p, 64 * 1024);
	akv_pool_destroy(fd, h);
	close(fd2);
}

static int write_file(const char *path, const char *val)
{
	int k = open(path, O_WRONLY), ret = 0;

	if (k < 0)
		return -errno;
	if (write(k, val, strlen(val)) < 0)
		ret = -errno;
	close(k);
	return ret;
}

/*
 * POOL_CREATE's unwind after a failed allocation (fail_pool_alloc knob): the
 * page array (it used to dereference the NULL array: an oops) or a page
 * half-way; nothing may stay pinned or counted.
 */
static void test_alloc_failure(void)
{
	const char *knob = "/sys/module/accelkv/parameters/fail_pool_alloc";
	uint32_t h;

	is_int(write_file(knob, "1"), 0, "fail_pool_alloc=1: the page array");
	is_int(akv_pool(fd, 4 * MIB, 4096, ACCELKV_POOL_KV, &h, NULL), -ENOMEM,
	       "POOL_CREATE: -ENOMEM");
	write_file(knob, "2");
	is_int(akv_pool(fd, 4 * MIB, 0, 0, &h, NULL), -ENOMEM, "a page half-way: -ENOMEM");
	write_file(knob, "0");
	is_int(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES), 0, "nothing pinned after");
	is_int(akv_debugfs_value("pools"), 0, "no pool counted");
	is_int(akv_pool(fd, 4 * MIB, 0, 0, &h, NULL), 0, "then POOL_CREATE works");
	akv_pool_destroy(fd, h);
}

/* memory.current of the cgroup @dir, or -1. */
static long long memcg_current(const char *dir)
{
	char path[256], buf[64];
	int k, n;

	snprintf(path, sizeof(path), "%s/memory.current", dir);
	k = open(path, O_RDONLY);
	if (k < 0)
		return -1;
	n = read(k, buf, sizeof(buf) - 1);
	close(k);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return atoll(buf);
}

/*
 * Pinned pool pages are charged to the creator's memory cgroup (they used
 * not to be: a container could pin past its memory.max). Needs cgroup v2
 * with the memory controller (Debian's kernels, not the debug kernel).
 */
static void test_memcg(void)
{
	const char *cg = "/sys/fs/cgroup/akv";
	char pid[32];
	long long before, after;
	uint64_t off;
	uint32_t h;
	void *p;

	mkdir("/sys/fs/cgroup", 0755);
	mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL);
	if (write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory") ||
	    (mkdir(cg, 0755) && errno != EEXIST)) {
		skip(4, "no cgroup v2 memory controller");
		return;
	}
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (write_file("/sys/fs/cgroup/akv/cgroup.procs", pid)) {
		skip(4, "cannot join the cgroup");
		return;
	}
	before = memcg_current(cg);
	is_int(akv_pool(fd, 16 * MIB, 0, 0, &h, &off), 0, "16 MiB pool inside the cgroup");
	after = memcg_current(cg);
	ok(after - before >= (long long)(16 * MIB), "memory.current grew by the pool (%lld -> %lld)",
	   before, after);
	/* charged pages mapped and unmapped inside the cgroup */
	p = map(off, 16 * MIB);
	ok(p != NULL, "mapped inside the cgroup");
	if (p) {
		memset(p, 0x5a, 16 * MIB);
		munmap(p, 16 * MIB);
	}
	akv_pool_destroy(fd, h);
	ok(memcg_current(cg) < before + (long long)(4 * MIB),
	   "destroyed: the charge went back (%lld)", memcg_current(cg));
	write_file("/sys/fs/cgroup/cgroup.procs", pid);
}

int main(void)
{
	fd = akv_open_or_skip();
	plan(55);
	test_alloc_failure();
	test_memcg();
	test_basic();
	test_hugepage();
	test_module_ref();
	test_odirect();
	test_prime();
	is_int(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES), 0, "nothing left pinned");
	close(fd);
	return done_testing();
}
