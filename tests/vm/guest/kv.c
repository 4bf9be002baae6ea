// SPDX-License-Identifier: MIT
/*
 * KV block semantics through the ioctls: alloc all-or-nothing, ref/free
 * counting, publish/lookup of chained prefix hashes, LRU eviction of cached
 * blocks, KV_PEEK_EVICT naming what the next ALLOC evicts, per-file
 * references released on POOL_DESTROY and on close.
 */
#include "akv.h"

static int fd;
static uint32_t pool;

static struct drm_accelkv_pool_info info(int f, uint32_t h)
{
	struct drm_accelkv_pool_info i;

	akv_info(f, h, &i);
	return i;
}

static int publish(int f, uint32_t h, uint32_t *ids, uint64_t *hashes, uint32_t n, uint32_t *pub)
{
	struct drm_accelkv_kv_publish p = {
		.handle = h, .count = n, .blocks_ptr = (uintptr_t)ids,
		.hashes_ptr = (uintptr_t)hashes,
	};
	int ret = akv_ioctl(f, DRM_IOCTL_ACCELKV_KV_PUBLISH, &p);

	if (pub)
		*pub = p.published;
	return ret;
}

static int lookup(int f, uint32_t h, uint64_t *hashes, uint32_t n, uint32_t *ids, uint32_t *found)
{
	struct drm_accelkv_kv_lookup l = {
		.handle = h, .count = n, .blocks_ptr = (uintptr_t)ids,
		.hashes_ptr = (uintptr_t)hashes,
	};
	int ret = akv_ioctl(f, DRM_IOCTL_ACCELKV_KV_LOOKUP, &l);

	*found = l.found;
	return ret;
}

/* Write @val to a module parameter; 0 or -errno. */
static int set_param(const char *name, const char *val)
{
	char path[128];
	int k, ret = 0;

	snprintf(path, sizeof(path), "/sys/module/accelkv/parameters/%s", name);
	k = open(path, O_WRONLY);
	if (k < 0)
		return -errno;
	if (write(k, val, strlen(val)) < 0)
		ret = -errno;
	close(k);
	return ret;
}

/*
 * References are bounded (kv_max_refs, lowered to 1000 for this pool):
 * LOOKUP and REF past it fail with -EOVERFLOW and change nothing, where a
 * LOOKUP used to count on until the 32-bit count wrapped.
 */
static void test_ref_limit(void)
{
	static uint64_t hs[1000];
	static uint32_t ids[1000];
	uint32_t h, id, found = 0, i;

	is_int(set_param("kv_max_refs", "1000"), 0, "kv_max_refs knob set to 1000");
	is_int(akv_pool(fd, 4 * 4096, 4096, ACCELKV_POOL_KV, &h, NULL), 0, "pool with the limit");
	set_param("kv_max_refs", "2147483647");
	for (i = 0; i < 1000; i++)
		hs[i] = 0xabc;
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, h, &id, 1), 0, "alloc a block");
	is_int(publish(fd, h, &id, hs, 1, NULL), 0, "publish it");
	is_int(lookup(fd, h, hs, 999, ids, &found), 0, "999 lookups in one call");
	is_int(found, 999, "all found: 1000 references");
	is_int(lookup(fd, h, hs, 1, ids, &found), -EOVERFLOW, "one more LOOKUP: -EOVERFLOW");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_REF, h, &id, 1), -EOVERFLOW,
	       "one more REF: -EOVERFLOW");
	for (i = 0; i < 1000; i++)
		ids[i] = id;
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, h, ids, 1000), 0, "free all 1000");
	is_int(info(fd, h).blocks_used, 0, "nothing used");
	is_int(info(fd, h).blocks_cached, 1, "the block is cached");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, h, ids, 1), -ENOENT, "no reference left");
	is_int(akv_pool_destroy(fd, h), 0, "destroy the pool");
}

/*
 * Two handles of one pool in one file (GEM_OPEN of a flink name, on the 6.1
 * primary node): closing one used to drop the file's KV references while
 * the other stayed open. They now go with the last handle.
 */
static void test_second_handle(void)
{
	int c = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
	struct drm_gem_flink fl = { 0 };
	struct drm_gem_open op = { 0 };
	struct drm_gem_close cl = { 0 };
	uint32_t h, id;

	if (c < 0) {
		skip(6, "no primary node (accel device): no flink");
		return;
	}
	is_int(akv_pool(c, 4 * 4096, 4096, ACCELKV_POOL_KV, &h, NULL), 0, "pool on card0");
	fl.handle = h;
	is_int(akv_ioctl(c, DRM_IOCTL_GEM_FLINK, &fl), 0, "flink");
	op.name = fl.name;
	is_int(akv_ioctl(c, DRM_IOCTL_GEM_OPEN, &op), 0, "GEM_OPEN: a second handle");
	is_int(akv_kv(c, DRM_IOCTL_ACCELKV_KV_ALLOC, h, &id, 1), 0, "alloc through the first");
	cl.handle = op.handle;
	akv_ioctl(c, DRM_IOCTL_GEM_CLOSE, &cl);
	is_int(info(c, h).blocks_used, 1, "closing the second keeps the file's reference");
	is_int(akv_kv(c, DRM_IOCTL_ACCELKV_KV_FREE, h, &id, 1), 0, "which it can still free");
	cl.handle = h;
	akv_ioctl(c, DRM_IOCTL_GEM_CLOSE, &cl);
	close(c);
}

/* exact block sizes: any multiple of 4096, here SmolLM2's 90-page F16 block */
static void test_page_blocks(void)
{
	uint32_t h, a[6];
	int distinct = 1;

	ok(akv_param(fd, ACCELKV_PARAM_CAPABILITIES) & ACCELKV_CAP_PAGE_BLOCKS,
	   "ACCELKV_CAP_PAGE_BLOCKS is reported");
	is_int(akv_pool(fd, 5 * 368640, 368640, ACCELKV_POOL_KV, &h, NULL), 0,
	       "5 x 368640-byte KV pool (90 pages, no power of two)");
	is_int(info(fd, h).block_size, 368640, "block_size kept exact");
	is_int(info(fd, h).num_blocks, 5, "5 blocks");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, h, a, 5), 0, "alloc all 5");
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < i; j++)
			distinct &= a[i] != a[j] && a[i] < 5;
	ok(distinct, "5 distinct ids below 5");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, h, a + 5, 1), -ENOMEM, "a 6th: -ENOMEM");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, h, a, 5), 0, "free the 5");
	is_int(akv_pool_destroy(fd, h), 0, "destroy the pool");
}

static int peek(int f, uint32_t h, uint32_t count, uint32_t *ids, uint64_t *hashes,
		uint32_t *found)
{
	struct drm_accelkv_kv_peek_evict pe = {
		.handle = h, .count = count, .blocks_ptr = (uintptr_t)ids,
		.hashes_ptr = (uintptr_t)hashes,
	};
	int ret = akv_ioctl(f, DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, &pe);

	*found = pe.found;
	return ret;
}

/*
 * KV_PEEK_EVICT: the published blocks nobody holds that an ALLOC of n would
 * evict, least recently released first, with their hashes; nothing changes,
 * and a file that imported the pool gets the same answer (one LRU).
 */
static void test_peek_evict(void)
{
	uint64_t hs[3] = { 0xe1, 0xe2, 0xe3 }, ph[8];
	uint32_t h, h2, b[3], e[8], p[8], got = 0, found = 99;
	int f2, dmabuf;

	ok(akv_param(fd, ACCELKV_PARAM_CAPABILITIES) & ACCELKV_CAP_KV_PEEK_EVICT,
	   "ACCELKV_CAP_KV_PEEK_EVICT is reported");
	is_int(akv_pool(fd, 8 * 4096, 4096, ACCELKV_POOL_KV, &h, NULL), 0, "8 x 4K pool");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, h, b, 3), 0, "alloc 3");
	is_int(publish(fd, h, b, hs, 3, NULL), 0, "publish them");
	/* released in the order b1, b2, b0: the LRU's order */
	akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, h, b + 1, 2);
	akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, h, b, 1);
	is_int(peek(fd, h, 5, p, ph, &found), 0, "peek 5 (5 free)");
	is_int(found, 0, "free blocks suffice: nothing named");
	is_int(peek(fd, h, 7, p, ph, &found), 0, "peek 7");
	ok(found == 2 && p[0] == b[1] && ph[0] == hs[1] && p[1] == b[2] && ph[1] == hs[2],
	   "two past the free ones: b1 then b2, with their hashes");
	is_int(peek(fd, h, 8, p, ph, &found), 0, "peek the whole pool");
	ok(found == 3 && p[2] == b[0] && ph[2] == hs[0], "every cached block, b0 last");
	ok(info(fd, h).blocks_cached == 3 && info(fd, h).blocks_used == 0 &&
	   info(fd, h).prefix_queries == 0, "peeking changed nothing (no lookup counted)");
	/* a second file on the pool sees the same line */
	f2 = akv_open();
	drmPrimeHandleToFD(fd, h, DRM_CLOEXEC, &dmabuf);
	is_int(drmPrimeFDToHandle(f2, dmabuf, &h2), 0, "second file imports the pool");
	close(dmabuf);
	is_int(peek(f2, h2, 7, p, ph, &found), 0, "it peeks");
	ok(found == 2 && p[0] == b[1] && p[1] == b[2], "and gets the same answer");
	close(f2);
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, h, e, 7), 0, "alloc 7: evicts two");
	is_int(info(fd, h).blocks_cached, 1, "one cached left");
	is_int(lookup(fd, h, hs, 1, &got, &found), 0, "lookup b0's hash");
	ok(found == 1 && got == b[0], "the block not named survived");
	is_int(lookup(fd, h, hs + 1, 1, p, &found), 0, "lookup b1's hash");
	is_int(found, 0, "a named block was evicted");
	akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, h, e, 7);
	akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, h, &got, 1);
	is_int(akv_pool_destroy(fd, h), 0, "destroy the pool");
}

int main(void)
{
	uint32_t a[16], b[16], c[16], found, pub, i, j;
	uint64_t hs[4] = { 0x1111, 0x2222, 0x3333, 0x4444 };
	int distinct = 1, fd2;

	fd = akv_open_or_skip();
	plan(97);
	is_int(akv_pool(fd, 16 * 8192, 8192, ACCELKV_POOL_KV, &pool, NULL), 0, "16 x 8K pool");
	is_int(info(fd, pool).num_blocks, 16, "num_blocks");
	is_int(info(fd, pool).block_size, 8192, "block_size");

	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, pool, a, 4), 0, "alloc 4");
	for (i = 0; i < 4; i++)
		for (j = 0; j < i; j++)
			distinct &= a[i] != a[j] && a[i] < 16;
	ok(distinct, "4 distinct ids in range");
	is_int(info(fd, pool).blocks_used, 4, "4 used");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, pool, b, 13), -ENOMEM, "13 more: -ENOMEM");
	is_int(info(fd, pool).blocks_used, 4, "all or nothing");

	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_REF, pool, a, 1), 0, "ref block a0");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, pool, a, 1), 0, "free a0 once");
	is_int(info(fd, pool).blocks_used, 4, "a0 still used (one ref left)");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, pool, a, 1), 0, "free a0 again");
	is_int(info(fd, pool).blocks_used, 3, "a0 free now");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, pool, a, 1), -ENOENT, "third free: -ENOENT");

	/* a1, a2 become a two-block prefix */
	is_int(publish(fd, pool, a + 1, hs, 2, &pub), 0, "publish a1,a2");
	is_int(pub, 2, "2 published");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, pool, a + 1, 2), 0, "free a1,a2");
	is_int(info(fd, pool).blocks_cached, 2, "2 cached");
	is_int(info(fd, pool).blocks_used, 1, "1 used (a3)");
	is_int(lookup(fd, pool, hs, 3, b, &found), 0, "lookup 3 hashes");
	is_int(found, 2, "longest prefix is 2");
	ok(b[0] == a[1] && b[1] == a[2], "lookup returns the published blocks in order");
	is_int(info(fd, pool).blocks_used, 3, "lookup took references");
	is_int(info(fd, pool).prefix_hits, 2, "prefix_hits");
	is_int(info(fd, pool).prefix_queries, 3, "prefix_queries");
	is_int(lookup(fd, pool, hs + 1, 1, c, &found), 0, "lookup of a non-leading hash");
	is_int(found, 1, "hash 2 alone is found");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, pool, c, 1), 0, "drop it");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, pool, b + 1, 1), 0, "release a2 first");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, pool, b, 1), 0, "then a1");

	/* 13 free + 2 cached: allocating 14 evicts the least recently freed (a2) */
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, pool, c, 14), 0, "alloc 14: evicts one");
	is_int(info(fd, pool).blocks_cached, 1, "1 cached left");
	is_int(lookup(fd, pool, hs, 2, b, &found), 0, "lookup after eviction");
	is_int(found, 1, "a1 survives, a2 was evicted");
	ok(found == 1 && b[0] == a[1], "the survivor is a1");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, pool, b, 1), 0, "release it again");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, pool, c, 14), 0, "free the 14");

	/* a second file shares the pool through PRIME; its refs go with it */
	fd2 = akv_open();
	{
		uint32_t h2;
		int dmabuf;

		drmPrimeHandleToFD(fd, pool, DRM_CLOEXEC, &dmabuf);
		is_int(drmPrimeFDToHandle(fd2, dmabuf, &h2), 0, "second file imports the pool");
		close(dmabuf);
		is_int(lookup(fd2, h2, hs, 1, b, &found), 0, "second file looks up the prefix");
		is_int(found, 1, "and finds it");
		is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, pool, b, 1), -ENOENT,
		       "the first file cannot free the second's reference");
		is_int(akv_kv(fd2, DRM_IOCTL_ACCELKV_KV_ALLOC, h2, c, 5), 0, "second file allocs 5");
		is_int(info(fd, pool).blocks_used, 7, "both files' blocks are used");
		close(fd2);
		is_int(info(fd, pool).blocks_used, 1, "close released the second file's 6 refs");
	}
	/* POOL_DESTROY drops this file's references too */
	{
		int dmabuf;
		uint32_t h3;

		fd2 = akv_open();
		drmPrimeHandleToFD(fd, pool, DRM_CLOEXEC, &dmabuf);
		drmPrimeFDToHandle(fd2, dmabuf, &h3);
		close(dmabuf);
		is_int(akv_pool_destroy(fd, pool), 0, "destroy the first file's handle");
		is_int(info(fd2, h3).blocks_used, 0, "its references went with it");
		is_int(info(fd2, h3).blocks_cached, 1, "the published block stays cached");
		close(fd2);
	}
	test_ref_limit();
	test_second_handle();
	test_page_blocks();
	test_peek_evict();
	is_int(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES), 0, "nothing left pinned");
	close(fd);
	return done_testing();
}
