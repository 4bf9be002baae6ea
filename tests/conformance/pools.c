// SPDX-License-Identifier: MIT
/*
 * Conformance: pools. Create/info/map/destroy, every malformed option with
 * its errno, pinning and RLIMIT_MEMLOCK, export/import within the process
 * and in a forked child that must see (and write) the same bytes.
 */
#include <stdlib.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "conf.h"
#include "memlimits.h"

static int try_create(struct accel_device *dev, struct accel_pool_opts *o)
{
	struct accel_pool *pool = NULL;
	int ret = accel_pool_create(dev, o, &pool);

	if (!ret && !pool)
		return -1000;	/* success must give a pool */
	if (ret && pool)
		return -1001;	/* failure must not */
	accel_pool_destroy(pool);
	return ret;
}

static void bad_opts(struct accel_device *dev, const struct accel_device_info *info)
{
	struct {
		struct accel_pool_opts o;
		uint64_t tail;
	} big;
	struct accel_pool_opts o;

	is_int(accel_pool_create(dev, NULL, &(struct accel_pool *){ 0 }), -EINVAL, "opts NULL");
	o = ACCEL_OPTS(accel_pool_opts, .size = 4096);
	o.sz = 0;
	is_int(try_create(dev, &o), -EINVAL, "opts.sz 0");
	memset(&big, 0, sizeof(big));
	big.o = ACCEL_OPTS(accel_pool_opts, .size = 4096);
	big.o.sz = sizeof(big);
	is_int(try_create(dev, &big.o), 0, "larger opts with zero tail accepted");
	big.tail = 1;
	is_int(try_create(dev, &big.o), -EINVAL, "larger opts with a non-zero tail byte");
	o = ACCEL_OPTS(accel_pool_opts, .size = 4096, .flags = 1U << 7);
	is_int(try_create(dev, &o), -EINVAL, "unknown flag");
	o = ACCEL_OPTS(accel_pool_opts, .size = 0);
	is_int(try_create(dev, &o), -EINVAL, "size 0");
	o = ACCEL_OPTS(accel_pool_opts, .size = UINT64_MAX);
	is_int(try_create(dev, &o), -EINVAL, "size UINT64_MAX (rounding overflows)");
	o = ACCEL_OPTS(accel_pool_opts, .size = info->max_pool_size + 4096);
	is_int(try_create(dev, &o), -EINVAL, "size above max_pool_size");
	o = ACCEL_OPTS(accel_pool_opts, .size = 65536, .flags = ACCEL_POOL_KV);
	is_int(try_create(dev, &o), -EINVAL, "KV without block size");
	o = ACCEL_OPTS(accel_pool_opts, .size = 65536, .block_size = 2048, .flags = ACCEL_POOL_KV);
	is_int(try_create(dev, &o), -EINVAL, "KV block size below 4096");
	o = ACCEL_OPTS(accel_pool_opts, .size = 3 * 12288, .block_size = 12290,
		       .flags = ACCEL_POOL_KV);
	is_int(try_create(dev, &o), -EINVAL, "KV block size not a multiple of 4096");
	o = ACCEL_OPTS(accel_pool_opts, .size = 65536, .block_size = 4096 + 512,
		       .flags = ACCEL_POOL_KV);
	is_int(try_create(dev, &o), -EINVAL, "KV block size 4608 (512-aligned only)");
	o = ACCEL_OPTS(accel_pool_opts, .size = 12288, .block_size = 8192, .flags = ACCEL_POOL_KV);
	is_int(try_create(dev, &o), -EINVAL, "KV size not a multiple of the block size");
	o = ACCEL_OPTS(accel_pool_opts, .size = 65536, .block_size = 4096);
	is_int(try_create(dev, &o), -EINVAL, "block size without ACCEL_POOL_KV");
	o = ACCEL_OPTS(accel_pool_opts, .size = (1ULL << 20) * 4096 + 4096, .block_size = 4096,
		       .flags = ACCEL_POOL_KV);
	is_int(try_create(dev, &o), -EINVAL, "more than ACCELKV_MAX_KV_BLOCKS blocks");
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 131 + seed);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 131 + seed))
			return 0;
	return 1;
}

static void basic(struct accel_device *dev)
{
	struct accel_pool_info pi;
	struct accel_device_info di;
	struct accel_device_stats st;
	uint32_t blk[8];
	struct accel_pool *pool = conf_pool(dev, 1 << 20, 0, 0);
	unsigned char *p = accel_pool_ptr(pool);

	ok(p != NULL, "pool is mapped");
	is_int(accel_pool_size(pool), 1 << 20, "pool size");
	ok(all_zero(p, 1 << 20), "pool memory starts zeroed");
	fill(p, 1 << 20, 7);
	ok(check(p, 1 << 20, 7), "pool memory is writable");
	is_int(accel_pool_info(pool, &pi), 0, "pool info");
	is_int(pi.size, 1 << 20, "info.size");
	is_int(pi.block_size, 0, "info.block_size 0 for a plain pool");
	is_int(pi.num_blocks, 0, "info.num_blocks 0 for a plain pool");
	ok(pi.flags & ACCEL_POOL_INFO_PINNED, "pool is pinned");
	is_int(accel_device_stats(dev, &st), 0, "device stats");
	is_int(st.pools, 1, "stats: one pool");
	ok(st.pinned_bytes >= (1 << 20), "stats: pinned bytes count the pool");
	is_int(accel_kv_alloc(pool, 1, (uint32_t[1]){ 0 }), -EOPNOTSUPP,
	       "KV call on a plain pool: -EOPNOTSUPP");
	accel_pool_destroy(pool);
	is_int(accel_device_stats(dev, &st), 0, "device stats after destroy");
	is_int(st.pools, 0, "stats: no pool left");

	pool = conf_pool(dev, 1000, 0, 0);
	is_int(accel_pool_size(pool), sysconf(_SC_PAGESIZE), "size rounded up to the page");
	accel_pool_destroy(pool);

	pool = conf_pool(dev, 64 * 4096, 4096, ACCEL_POOL_KV);
	is_int(accel_pool_info(pool, &pi), 0, "KV pool info");
	is_int(pi.num_blocks, 64, "KV pool: size / block_size blocks");
	is_int(pi.blocks_free, 64, "KV pool: all blocks free");
	ok(pi.flags & ACCEL_POOL_KV, "info.flags has ACCEL_POOL_KV");
	accel_pool_destroy(pool);

	/* exact block sizes: any multiple of 4096 (SmolLM2's 16-token F16 block
	 * is 90 pages), block b at b * block_size, the last one ending the pool */
	ok(accel_device_info(dev, &di) == 0 && (di.caps & ACCEL_CAP_PAGE_BLOCKS),
	   "device has ACCEL_CAP_PAGE_BLOCKS");
	pool = conf_pool(dev, 7 * 90 * 4096, 90 * 4096, ACCEL_POOL_KV);
	is_int(accel_pool_info(pool, &pi), 0, "90-page KV pool info");
	is_int(pi.block_size, 90 * 4096, "info.block_size is the 368640 bytes asked");
	is_int(pi.num_blocks, 7, "7 blocks of 90 pages");
	is_int(accel_kv_alloc(pool, 7, blk), 0, "all 7 blocks allocated");
	is_int(accel_kv_alloc(pool, 1, blk + 7), -ENOMEM, "an 8th block: -ENOMEM");
	{
		int distinct = 1, inside = 1;

		for (int i = 0; i < 7; i++) {
			inside &= blk[i] < 7;
			for (int j = 0; j < i; j++)
				distinct &= blk[i] != blk[j];
		}
		ok(distinct && inside, "the 7 block ids are distinct and below num_blocks");
	}
	p = accel_pool_ptr(pool);
	for (int i = 0; i < 7; i++)
		memset(p + (uint64_t)blk[i] * 90 * 4096, 0xA0 + blk[i], 90 * 4096);
	ok(p[90 * 4096 - 1] == 0xA0 && p[90 * 4096] == 0xA1 && p[7 * 90 * 4096 - 1] == 0xA6,
	   "blocks are adjacent 368640-byte ranges covering the pool");
	is_int(accel_kv_free(pool, 7, blk), 0, "the 7 blocks freed");
	is_int(accel_pool_info(pool, &pi), 0, "info after free");
	is_int(pi.blocks_free, 7, "all 7 free again");
	accel_pool_destroy(pool);
	pool = conf_pool(dev, 5 * 12288, 12288, ACCEL_POOL_KV);
	is_int(accel_pool_info(pool, &pi), 0, "3-page KV pool info");
	is_int(pi.num_blocks, 5, "5 blocks of 3 pages");
	accel_pool_destroy(pool);

	pool = conf_pool(dev, 2 << 20, 0, ACCEL_POOL_HUGEPAGE);
	is_int(accel_pool_info(pool, &pi), 0, "hugepage pool info");
	diag("huge pages %s", pi.flags & ACCEL_POOL_HUGEPAGE ? "obtained" : "not obtained");
	ok(all_zero(accel_pool_ptr(pool), 2 << 20), "hugepage pool zeroed");
	accel_pool_destroy(pool);
	accel_pool_destroy(NULL);
	ok(accel_pool_ptr(NULL) == NULL, "destroy(NULL) and ptr(NULL) are harmless");
}

/* in a child: 0 as expected; 10 created over the limit; 11 wrong errno;
 * 12 pageable refused; 13 pageable claims pinned; 77 cannot set up */
static int memlock_child(void)
{
	struct accel_pool_opts o = ACCEL_OPTS(accel_pool_opts, .size = 1 << 20);
	struct rlimit low = { 64 * 1024, 64 * 1024 };
	struct accel_device *dev = NULL;
	struct accel_pool *pool = NULL;
	struct accel_pool_info pi;
	int ret;

	accel_set_log(NULL, NULL);
	if (drop_ipc_lock() || setrlimit(RLIMIT_MEMLOCK, &low) || accel_device_open(NULL, &dev))
		return 77;
	ret = accel_pool_create(dev, &o, &pool);
	if (!ret)
		return 10;
	if (ret != -EPERM && ret != -ENOMEM)
		return 11;
	o.flags = ACCEL_POOL_PAGEABLE;
	if (accel_pool_create(dev, &o, &pool) || accel_pool_info(pool, &pi))
		return 12;
	if (pi.flags & ACCEL_POOL_INFO_PINNED)
		return 13;
	accel_device_close(dev);
	return 0;
}

static void memlock(const struct accel_device_info *info)
{
	int status = 0, code;
	pid_t pid;

	if (strcmp(info->backend, "emu")) {
		skip(3, "ACCEL_POOL_PAGEABLE and this RLIMIT_MEMLOCK check are emulated-only");
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(memlock_child());
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
		skip(3, "memlock child did not run");
		return;
	}
	code = WEXITSTATUS(status);
	if (code == 77) {
		skip(3, "cannot drop CAP_IPC_LOCK or lower RLIMIT_MEMLOCK");
		return;
	}
	ok(code != 10, "pinning over RLIMIT_MEMLOCK is refused");
	ok(code != 10 && code != 11, "... with -EPERM or -ENOMEM");
	is_int(code, 0, "ACCEL_POOL_PAGEABLE creates an unpinned pool instead");
}

static void sharing(struct accel_device *dev)
{
	struct accel_pool *pool = conf_pool(dev, 256 * 1024, 0, 0), *imp = NULL;
	unsigned char *p = accel_pool_ptr(pool), *q;
	int fd = -1, status = 0;
	pid_t pid;

	fill(p, 256 * 1024, 3);
	is_int(accel_pool_export(pool, &fd), 0, "export");
	ok(fd >= 0, "export gives an fd");
	is_int(accel_pool_import(dev, fd, &imp), 0, "import in the same process");
	if (!imp) {
		skip(3, "no imported pool");
	} else {
		q = accel_pool_ptr(imp);
		is_int(accel_pool_size(imp), 256 * 1024, "imported size");
		ok(check(q, 256 * 1024, 3), "import sees the exporter's bytes");
		q[100] = 0xA5;
		ok(p[100] == 0xA5, "exporter sees the importer's write");
		p[100] = (unsigned char)(100 * 131 + 3);
		accel_pool_destroy(imp);
	}
	is_int(accel_pool_import(dev, -1, &imp), -EBADF, "import of fd -1: -EBADF");

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct accel_device *cdev = NULL;
		struct accel_pool *cp = NULL;
		unsigned char *c;

		accel_set_log(NULL, NULL);
		if (accel_device_open(NULL, &cdev) || accel_pool_import(cdev, fd, &cp))
			_exit(2);
		c = accel_pool_ptr(cp);
		if (!check(c, 256 * 1024, 3))
			_exit(3);
		c[4096] = 0x5A;
		accel_pool_destroy(cp);
		accel_device_close(cdev);
		_exit(0);
	}
	ok(pid > 0, "fork");
	if (pid > 0)
		waitpid(pid, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status), 0,
	       "forked child imported the pool and saw the same bytes (exit code)");
	ok(p[4096] == 0x5A, "parent sees the child's write");
	close(fd);
	accel_pool_destroy(pool);
}

static void private_pool(struct accel_device *dev, const struct accel_device_info *info)
{
	struct accel_pool *pool = conf_pool(dev, 4 << 20, 0, ACCEL_POOL_HUGEPAGE |
							      ACCEL_POOL_PRIVATE);
	unsigned char *p = accel_pool_ptr(pool);
	struct accel_pool_info pi;
	int fd = -1;

	ok(all_zero(p, 4 << 20), "private pool starts zeroed");
	fill(p, 4 << 20, 11);
	ok(check(p, 4 << 20, 11), "private pool memory is writable");
	is_int(accel_pool_info(pool, &pi), 0, "private pool info");
	ok(pi.flags & ACCEL_POOL_PRIVATE, "info reports ACCEL_POOL_PRIVATE");
	is_int(accel_pool_export(pool, &fd), -EOPNOTSUPP, "export of a private pool: -EOPNOTSUPP");
	is_int(fd, -1, "the refused export leaves *fd alone");
	if (!strcmp(info->backend, "emu")) {
		/* anonymous memory: huge pages wherever THP is on (populated by
		 * pinning, or, pageable, by the fill above) */
		diag("THP %s, pool %s", thp_enabled() ? "enabled" : "never",
		     pi.flags & ACCEL_POOL_INFO_PINNED ? "pinned" : "pageable");
		is_int(!!(pi.flags & ACCEL_POOL_HUGEPAGE), thp_enabled(),
		       "emulation: huge pages exactly where THP is enabled");
	} else {
		ok(pi.flags & ACCEL_POOL_INFO_PINNED, "driver: the private pool is pinned");
		is_int(!!(pi.flags & ACCEL_POOL_HUGEPAGE), !!(info->caps & ACCEL_CAP_HUGEPAGE),
		       "driver: huge pages exactly where it reports ACCEL_CAP_HUGEPAGE");
	}
	/* what decode speed depends on: one PMD per 2 MiB of the mapping */
	if (pi.flags & ACCEL_POOL_HUGEPAGE) {
		/* (an anonymous vma may have merged with a neighbour) */
		long kb = smaps_kb(p, strcmp(info->backend, "emu") ? "ShmemPmdMapped:" :
						     "AnonHugePages:");

		ok(kb >= 4096, "the pool is mapped by 2 MiB pages (%ld kB in its vma)", kb);
	} else
		skip(1, "no huge pages here (asserted above)");
	accel_pool_destroy(pool);
}

int main(void)
{
	struct accel_device_info info;
	struct accel_device *dev = conf_open(&info), *nd = NULL;

	/* main 5, basic 36, bad_opts 15, memlock 3, sharing 10, private 8 (9 on
	 * the driver): each skip() stands for the tests of its path */
	plan(5 + 36 + 15 + 3 + 10 + (strcmp(info.backend, "emu") ? 9 : 8));
	diag("backend %s node '%s' caps %#llx", info.backend, info.node,
	     (unsigned long long)info.caps);
	ok(info.caps & ACCEL_CAP_POOL, "device has ACCEL_CAP_POOL");
	ok(info.max_pool_size > 0, "max_pool_size > 0");
	is_int(accel_device_open("/dev/null", &nd), -ENODEV, "open of a non-accelkv node: -ENODEV");
	ok(nd == NULL, "failed open leaves *out NULL");
	is_int(accel_device_open("/nonexistent/accel0", &nd), -ENOENT, "open of a missing path");
	basic(dev);
	bad_opts(dev, &info);
	memlock(&info);
	sharing(dev);
	private_pool(dev, &info);
	accel_device_close(dev);
	return done_testing();
}
