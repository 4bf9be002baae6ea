// SPDX-License-Identifier: MIT
/*
 * Negative table for every accelkv ioctl: one bad field per case, the rest
 * valid, each with the errno of the uapi table; plus the DRM size rules
 * (short structs are zero-extended, so test what is meaningful) and the
 * RLIMIT_MEMLOCK (-EPERM) and device-cap (-ENOMEM) limits.
 */
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "akv.h"

static int fd;
static uint32_t kvpool, plain;	/* a KV pool (16 x 4K blocks) and a plain pool */

#define CASE(req, type, mut, want) do {					\
		type a = base_##type();					\
		mut;							\
		is_int(akv_ioctl(fd, req, &a), want, #req ": " #mut);	\
	} while (0)

typedef struct drm_accelkv_get_param gp_t;
typedef struct drm_accelkv_pool_create pc_t;
typedef struct drm_accelkv_pool_info pi_t;
typedef struct drm_accelkv_pool_destroy pd_t;
typedef struct drm_accelkv_kv_blocks kb_t;
typedef struct drm_accelkv_kv_publish kp_t;
typedef struct drm_accelkv_kv_lookup kl_t;
typedef struct drm_accelkv_kv_peek_evict pe_t;

static uint32_t ids_buf[64];
static uint64_t hash_buf[64];

static gp_t base_gp_t(void) { return (gp_t){ .param = ACCELKV_PARAM_API_VERSION }; }
static pc_t base_pc_t(void)
{
	return (pc_t){ .size = 65536, .block_size = 4096, .flags = ACCELKV_POOL_KV };
}
static pi_t base_pi_t(void) { return (pi_t){ .handle = kvpool }; }
static pd_t base_pd_t(void) { return (pd_t){ .handle = 0x7fffffff }; }
static kb_t base_kb_t(void)
{
	return (kb_t){ .handle = kvpool, .count = 1, .blocks_ptr = (uintptr_t)ids_buf };
}
static kp_t base_kp_t(void)
{
	return (kp_t){ .handle = kvpool, .count = 1, .blocks_ptr = (uintptr_t)ids_buf,
		       .hashes_ptr = (uintptr_t)hash_buf };
}
static kl_t base_kl_t(void)
{
	return (kl_t){ .handle = kvpool, .count = 1, .blocks_ptr = (uintptr_t)ids_buf,
		       .hashes_ptr = (uintptr_t)hash_buf };
}
static pe_t base_pe_t(void)
{
	return (pe_t){ .handle = kvpool, .count = 1, .blocks_ptr = (uintptr_t)ids_buf,
		       .hashes_ptr = (uintptr_t)hash_buf };
}

/* An ioctl number for @req with the struct size replaced by @size. */
static unsigned long resize(unsigned long req, unsigned int size)
{
	return (req & ~((unsigned long)_IOC_SIZEMASK << _IOC_SIZESHIFT)) |
	       ((unsigned long)size << _IOC_SIZESHIFT);
}

static void test_get_param(void)
{
	uint32_t p;

	for (p = 0; p < ACCELKV_PARAM_COUNT; p++)
		ok(akv_param(fd, p) != UINT64_MAX, "GET_PARAM %u succeeds", p);
	is_int(akv_param(fd, ACCELKV_PARAM_API_VERSION), ACCELKV_API_VERSION, "API version");
	ok(akv_param(fd, ACCELKV_PARAM_CAPABILITIES) & ACCELKV_CAP_KV_BLOCKS, "KV capability");
	is_int(akv_param(fd, ACCELKV_PARAM_MIN_BLOCK_SIZE), ACCELKV_MIN_BLOCK_SIZE, "min block");
	is_int(akv_param(fd, ACCELKV_PARAM_MAX_KV_BLOCKS), ACCELKV_MAX_KV_BLOCKS, "max blocks");
	CASE(DRM_IOCTL_ACCELKV_GET_PARAM, gp_t, a.pad = 1, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_GET_PARAM, gp_t, a.param = ACCELKV_PARAM_COUNT, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_GET_PARAM, gp_t, a.param = UINT32_MAX, -EINVAL);
	is_int(akv_ioctl(fd, DRM_IOCTL_ACCELKV_GET_PARAM, NULL), -EFAULT, "GET_PARAM NULL arg");
	is_int(akv_ioctl(fd, DRM_IOCTL_ACCELKV_GET_PARAM, (void *)8), -EFAULT,
	       "GET_PARAM wild arg");
	/* DRM zero-extends a short struct: param only -> value not copied back. */
	{
		gp_t a = { .param = ACCELKV_PARAM_API_VERSION, .pad = 0, .value = 77 };

		is_int(akv_ioctl(fd, resize(DRM_IOCTL_ACCELKV_GET_PARAM, 4), &a), 0,
		       "GET_PARAM 4-byte struct accepted");
		is_int(a.value, 77, "short struct: value beyond the user size untouched");
	}
	{
		struct { gp_t p; uint64_t extra; } big = { { .param = ACCELKV_PARAM_API_VERSION },
							    0xdeadbeef };

		is_int(akv_ioctl(fd, resize(DRM_IOCTL_ACCELKV_GET_PARAM, sizeof(big)), &big), 0,
		       "GET_PARAM oversized struct: trailing bytes ignored by DRM");
		is_int(big.p.value, ACCELKV_API_VERSION, "oversized struct: value returned");
	}
}

static void test_pool_create(void)
{
	uint64_t max = akv_param(fd, ACCELKV_PARAM_MAX_POOL_SIZE);

	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.size = 0, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.size = 4095, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.size = 65536 + 512, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.size = max + 4096, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.size = UINT64_MAX & ~4095ULL, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.flags |= 1U << 7, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.flags = 1U << 31, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.pad = 1, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.reserved = 1, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.block_size = 0, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.block_size = 2048, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.block_size = 12288, -EINVAL);	/* 64K % 12K */
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, (a.size = 3 * 12290, a.block_size = 12290), -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, (a.size = 8 * 4608, a.block_size = 4608), -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, a.block_size = 1U << 31, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, (a.size = 12288, a.block_size = 8192), -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t, (a.flags = 0, a.block_size = 4096), -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_CREATE, pc_t,
	     a.size = (uint64_t)(ACCELKV_MAX_KV_BLOCKS + 1) * 4096, -EINVAL);
	is_int(akv_ioctl(fd, DRM_IOCTL_ACCELKV_POOL_CREATE, NULL), -EFAULT, "POOL_CREATE NULL");
}

static void test_pool_info_destroy(int fd2)
{
	uint32_t h2 = 0, i;

	CASE(DRM_IOCTL_ACCELKV_POOL_INFO, pi_t, a.reserved = 1, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_INFO, pi_t, a.handle = 0, -ENOENT);
	CASE(DRM_IOCTL_ACCELKV_POOL_INFO, pi_t, a.handle = 0x7fffffff, -ENOENT);
	CASE(DRM_IOCTL_ACCELKV_POOL_INFO, pi_t, a.handle = UINT32_MAX, -ENOENT);
	is_int(akv_ioctl(fd, DRM_IOCTL_ACCELKV_POOL_INFO, NULL), -EFAULT, "POOL_INFO NULL");
	/* A handle of another open file is foreign here. */
	for (i = 0; i < 8; i++)
		akv_pool(fd2, 4096, 0, 0, &h2, NULL);
	CASE(DRM_IOCTL_ACCELKV_POOL_INFO, pi_t, a.handle = h2, -ENOENT);
	CASE(DRM_IOCTL_ACCELKV_POOL_DESTROY, pd_t, a.handle = h2, -ENOENT);
	CASE(DRM_IOCTL_ACCELKV_KV_ALLOC, kb_t, a.handle = h2, -ENOENT);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.handle = h2, -ENOENT);
	CASE(DRM_IOCTL_ACCELKV_POOL_DESTROY, pd_t, a.pad = 1, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_POOL_DESTROY, pd_t, , -ENOENT);
	CASE(DRM_IOCTL_ACCELKV_POOL_DESTROY, pd_t, a.handle = 0, -ENOENT);
	is_int(akv_ioctl(fd, DRM_IOCTL_ACCELKV_POOL_DESTROY, NULL), -EFAULT, "POOL_DESTROY NULL");
	{
		uint32_t h;

		is_int(akv_pool(fd, 4096, 0, 0, &h, NULL), 0, "create then destroy twice");
		is_int(akv_pool_destroy(fd, h), 0, "first destroy");
		is_int(akv_pool_destroy(fd, h), -ENOENT, "second destroy");
		CASE(DRM_IOCTL_ACCELKV_POOL_INFO, pi_t, a.handle = h, -ENOENT);
	}
}

static void test_kv_blocks(void)
{
	void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long reqs[3] = { DRM_IOCTL_ACCELKV_KV_ALLOC, DRM_IOCTL_ACCELKV_KV_FREE,
				  DRM_IOCTL_ACCELKV_KV_REF };
	int i;

	for (i = 0; i < 3; i++) {
		unsigned long r = reqs[i];

		CASE(r, kb_t, a.flags = 1, -EINVAL);
		CASE(r, kb_t, a.pad = 1, -EINVAL);
		CASE(r, kb_t, a.count = 0, -EINVAL);
		CASE(r, kb_t, a.count = ACCELKV_MAX_KV_BLOCKS + 1, -EINVAL);
		CASE(r, kb_t, a.handle = 0x7fffffff, -ENOENT);
		CASE(r, kb_t, a.handle = plain, -EOPNOTSUPP);
		CASE(r, kb_t, a.blocks_ptr = 0, -EFAULT);
		CASE(r, kb_t, a.blocks_ptr = 8, -EFAULT);
		is_int(akv_ioctl(fd, r, NULL), -EFAULT, "KV ioctl %d NULL arg", i);
	}
	CASE(DRM_IOCTL_ACCELKV_KV_ALLOC, kb_t, a.blocks_ptr = (uintptr_t)ro, -EFAULT);
	CASE(DRM_IOCTL_ACCELKV_KV_ALLOC, kb_t, a.count = 17, -ENOMEM);
	/* all or nothing: after the failures every block is still free */
	{
		pi_t info;

		akv_info(fd, kvpool, &info);
		is_int(info.blocks_used, 0, "failed ALLOCs left no block used");
	}
	/* FREE/REF of blocks this file does not hold */
	ids_buf[0] = 3;
	CASE(DRM_IOCTL_ACCELKV_KV_FREE, kb_t, , -ENOENT);
	CASE(DRM_IOCTL_ACCELKV_KV_REF, kb_t, , -ENOENT);
	ids_buf[0] = 16;
	CASE(DRM_IOCTL_ACCELKV_KV_FREE, kb_t, , -ENOENT);
	ids_buf[0] = UINT32_MAX;
	CASE(DRM_IOCTL_ACCELKV_KV_REF, kb_t, , -ENOENT);
	{
		uint32_t got[2];

		is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, kvpool, got, 1), 0, "alloc one");
		got[1] = got[0];
		is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, kvpool, got, 2), -ENOENT,
		       "freeing one reference twice in one call");
		is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, kvpool, got, 1), 0,
		       "the failed FREE dropped nothing");
		is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, kvpool, got, 1), -ENOENT,
		       "freed block is no longer held");
	}
	munmap(ro, 4096);
}

static void test_kv_publish_lookup(void)
{
	uint32_t b[2];

	CASE(DRM_IOCTL_ACCELKV_KV_PUBLISH, kp_t, a.flags = 1, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_PUBLISH, kp_t, a.count = 0, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_PUBLISH, kp_t, a.count = ACCELKV_MAX_KV_BLOCKS + 1, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_PUBLISH, kp_t, a.handle = 0x7fffffff, -ENOENT);
	CASE(DRM_IOCTL_ACCELKV_KV_PUBLISH, kp_t, a.handle = plain, -EOPNOTSUPP);
	CASE(DRM_IOCTL_ACCELKV_KV_PUBLISH, kp_t, a.blocks_ptr = 0, -EFAULT);
	CASE(DRM_IOCTL_ACCELKV_KV_PUBLISH, kp_t, a.hashes_ptr = 0, -EFAULT);
	is_int(akv_ioctl(fd, DRM_IOCTL_ACCELKV_KV_PUBLISH, NULL), -EFAULT, "PUBLISH NULL");
	ids_buf[0] = 5;
	CASE(DRM_IOCTL_ACCELKV_KV_PUBLISH, kp_t, , -ENOENT);

	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, kvpool, b, 2), 0, "alloc two");
	ids_buf[0] = b[0];
	ids_buf[1] = b[0];
	hash_buf[0] = 111;
	hash_buf[1] = 222;
	CASE(DRM_IOCTL_ACCELKV_KV_PUBLISH, kp_t, a.count = 2, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_PUBLISH, kp_t, a.count = 1, 0);
	hash_buf[0] = 333;
	CASE(DRM_IOCTL_ACCELKV_KV_PUBLISH, kp_t, , -EINVAL);	/* republish, new hash */
	hash_buf[0] = 111;
	{
		kp_t a = base_kp_t();

		is_int(akv_ioctl(fd, DRM_IOCTL_ACCELKV_KV_PUBLISH, &a), 0, "republish same hash");
		is_int(a.published, 0, "same hash again is not counted");
		ids_buf[0] = b[1];
		is_int(akv_ioctl(fd, DRM_IOCTL_ACCELKV_KV_PUBLISH, &a), 0, "hash taken");
		is_int(a.published, 0, "a taken hash is skipped, the first block keeps it");
	}

	CASE(DRM_IOCTL_ACCELKV_KV_LOOKUP, kl_t, a.flags = 1, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_LOOKUP, kl_t, a.count = 0, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_LOOKUP, kl_t, a.count = ACCELKV_MAX_KV_BLOCKS + 1, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_LOOKUP, kl_t, a.handle = 0x7fffffff, -ENOENT);
	CASE(DRM_IOCTL_ACCELKV_KV_LOOKUP, kl_t, a.handle = plain, -EOPNOTSUPP);
	CASE(DRM_IOCTL_ACCELKV_KV_LOOKUP, kl_t, a.hashes_ptr = 0, -EFAULT);
	CASE(DRM_IOCTL_ACCELKV_KV_LOOKUP, kl_t, a.blocks_ptr = 0, -EFAULT);
	is_int(akv_ioctl(fd, DRM_IOCTL_ACCELKV_KV_LOOKUP, NULL), -EFAULT, "LOOKUP NULL");
	{
		pi_t info;

		akv_info(fd, kvpool, &info);
		is_int(info.blocks_used, 2, "a LOOKUP failing on its output took no reference");
		is_int(info.prefix_hits, 0, "and counted no hit");
	}
	akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, kvpool, b, 2);
}

/*
 * KV_PEEK_EVICT: flags, the count (0, past the uapi bound, past this pool's
 * 16 blocks), handles and both output pointers, each alone; the output room
 * is checked whatever the answer (here at most the one block
 * test_kv_publish_lookup left cached).
 */
static void test_kv_peek_evict(void)
{
	void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pi_t before, after;

	akv_info(fd, kvpool, &before);
	ok(akv_param(fd, ACCELKV_PARAM_CAPABILITIES) & ACCELKV_CAP_KV_PEEK_EVICT,
	   "KV_PEEK_EVICT capability");
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, , 0);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.count = 16, 0);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.flags = 1, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.flags = 1U << 31, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.count = 0, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.count = 17, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.count = ACCELKV_MAX_KV_BLOCKS + 1, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.count = UINT32_MAX, -EINVAL);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.handle = 0x7fffffff, -ENOENT);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.handle = 0, -ENOENT);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.handle = plain, -EOPNOTSUPP);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.blocks_ptr = 0, -EFAULT);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.hashes_ptr = 0, -EFAULT);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.blocks_ptr = (uintptr_t)ro, -EFAULT);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.hashes_ptr = (uintptr_t)ro, -EFAULT);
	CASE(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, pe_t, a.hashes_ptr = UINT64_MAX - 7, -EFAULT);
	is_int(akv_ioctl(fd, DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, NULL), -EFAULT, "PEEK_EVICT NULL");
	/* DRM zero-extends a short struct: without its pointers it cannot answer */
	{
		pe_t a = base_pe_t();

		is_int(akv_ioctl(fd, resize(DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, 8), &a), -EFAULT,
		       "PEEK_EVICT 8-byte struct (no pointers): -EFAULT");
	}
	akv_info(fd, kvpool, &after);
	ok(after.blocks_used == before.blocks_used &&
	   after.blocks_cached == before.blocks_cached && after.prefix_queries == before.prefix_queries,
	   "the PEEK_EVICTs changed nothing (%u cached)", after.blocks_cached);
	munmap(ro, 4096);
}

/* RLIMIT_MEMLOCK without CAP_IPC_LOCK: -EPERM; device cap: -ENOMEM. */
static void test_limits(void)
{
	uint64_t limit = akv_param(fd, ACCELKV_PARAM_PINNED_LIMIT);
	uint64_t pinned;
	uint64_t max = akv_param(fd, ACCELKV_PARAM_MAX_POOL_SIZE);
	uint32_t h[64];
	int n = 0, ret = 0, st;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct data[2];
		struct rlimit rl = { 1 << 20, 1 << 20 };
		uint32_t hh;

		syscall(SYS_capget, &hdr, data);
		data[0].effective &= ~(1U << CAP_IPC_LOCK);
		if (syscall(SYS_capset, &hdr, data) || setrlimit(RLIMIT_MEMLOCK, &rl))
			_exit(3);
		if (akv_pool(fd, 4 << 20, 0, 0, &hh, NULL) != -EPERM)
			_exit(1);
		if (akv_pool(fd, 32768, 0, 0, &hh, NULL) != 0)
			_exit(2);
		akv_pool_destroy(fd, hh);	/* the file is shared with the parent */
		_exit(0);
	}
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0,
	       "RLIMIT_MEMLOCK: -EPERM above it, success below it (no CAP_IPC_LOCK)");

	pinned = akv_param(fd, ACCELKV_PARAM_PINNED_BYTES);
	/* fill the device cap with pools of the largest size, then one more */
	while (n < 64 && (ret = akv_pool(fd, max, 0, 0, &h[n], NULL)) == 0)
		n++;
	is_int(ret, -ENOMEM, "pinned cap (%llu MiB) reached: -ENOMEM after %d pools",
	       (unsigned long long)(limit >> 20), n);
	ok(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES) <= limit, "pinned bytes within the cap");
	while (n--)
		akv_pool_destroy(fd, h[n]);
	is_int(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES), pinned, "pinned bytes back");
}

int main(void)
{
	int fd2;

	fd = akv_open_or_skip();
	plan(145);
	fd2 = akv_open();
	if (akv_pool(fd, 65536, 4096, ACCELKV_POOL_KV, &kvpool, NULL) ||
	    akv_pool(fd, 8192, 0, 0, &plain, NULL))
		bail_out("cannot create the fixture pools");
	test_get_param();
	test_pool_create();
	test_pool_info_destroy(fd2);
	test_kv_blocks();
	test_kv_publish_lookup();
	test_kv_peek_evict();
	test_limits();
	close(fd2);
	close(fd);
	return done_testing();
}
