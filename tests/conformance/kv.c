// SPDX-License-Identifier: MIT
/*
 * Conformance: KV blocks. alloc/free/ref with their errors (all or nothing,
 * double free, ids not held, another handle's ids), LRU eviction order of
 * cached blocks, what accel_kv_peek_evict says an allocation would evict
 * (the driver's KV_PEEK_EVICT and the emulation alike), and release of
 * everything a pool handle or a device held when it goes away.
 */
#include <stdlib.h>
#include <unistd.h>
#include "conf.h"

#define NB 16
#define BS 4096
/* tests per section: owners' skips stand for the tests of their paths */
#define BASICS_TESTS 23
#define LRU_TESTS 20
#define OWNERS_TESTS 10
#define OWNERS_DEV2_TESTS 3
#define PEEK_TESTS 14

static struct accel_pool_info info_of(struct accel_pool *pool)
{
	struct accel_pool_info pi;

	memset(&pi, 0xff, sizeof(pi));
	accel_pool_info(pool, &pi);
	return pi;
}

static void basics(struct accel_pool *pool)
{
	uint32_t b[NB + 1], c[2];
	struct accel_pool_info pi;
	int distinct = 1;

	is_int(accel_kv_alloc(pool, NB + 1, b), -ENOMEM, "alloc more than the pool: -ENOMEM");
	pi = info_of(pool);
	is_int(pi.blocks_free, NB, "... and nothing was taken");
	is_int(accel_kv_alloc(pool, 0, b), -EINVAL, "alloc 0: -EINVAL");
	is_int(accel_kv_alloc(pool, 1, NULL), -EINVAL, "alloc into NULL: -EINVAL");
	is_int(accel_kv_alloc(pool, NB, b), 0, "alloc every block");
	for (int i = 0; i < NB; i++)
		for (int j = 0; j < i; j++)
			distinct &= b[i] != b[j] && b[i] < NB;
	ok(distinct, "block ids are distinct and in range");
	pi = info_of(pool);
	ok(pi.blocks_used == NB && pi.blocks_free == 0 && pi.blocks_cached == 0, "info: all used");
	for (int i = 0; i < NB; i++)
		memset(accel_kv_block_ptr(pool, b[i]), i + 1, BS);
	ok(*(unsigned char *)accel_kv_block_ptr(pool, b[5]) == 6 &&
	   (char *)accel_kv_block_ptr(pool, b[5]) ==
	   (char *)accel_pool_ptr(pool) + (uint64_t)b[5] * BS, "block b is at b * block_size");
	ok(accel_kv_block_ptr(pool, NB) == NULL, "block_ptr of an id out of range: NULL");
	is_int(accel_kv_alloc(pool, 1, c), -ENOMEM, "alloc from a full pool: -ENOMEM");
	is_int(accel_kv_ref(pool, 1, &b[3]), 0, "ref");
	is_int(accel_kv_free(pool, 1, &b[3]), 0, "free one of two references");
	pi = info_of(pool);
	is_int(pi.blocks_used, NB, "block still used");
	is_int(accel_kv_free(pool, 1, &b[3]), 0, "free the last reference");
	is_int(accel_kv_free(pool, 1, &b[3]), -ENOENT, "double free: -ENOENT");
	is_int(accel_kv_ref(pool, 1, &b[3]), -ENOENT, "ref of a freed block: -ENOENT");
	c[0] = b[4];
	c[1] = NB + 100;
	is_int(accel_kv_free(pool, 2, c), -ENOENT, "free with an id out of range: -ENOENT");
	pi = info_of(pool);
	is_int(pi.blocks_used, NB - 1, "... nothing freed (check all, then apply)");
	c[1] = b[3];
	is_int(accel_kv_ref(pool, 2, c), -ENOENT, "ref with one id not held: -ENOENT");
	is_int(accel_kv_free(pool, 1, &b[4]), 0, "... no reference was taken");
	is_int(accel_kv_free(pool, 1, &b[4]), -ENOENT, "(only one was held)");
	b[3] = b[NB - 1];
	b[4] = b[NB - 2];
	is_int(accel_kv_free(pool, NB - 2, b), 0, "free the rest");
	pi = info_of(pool);
	is_int(pi.blocks_free, NB, "all blocks free again");
}

static void lru(struct accel_pool *pool)
{
	uint32_t b[NB], e[NB], got[3];
	uint64_t h[3] = { 0x1111, 0x2222, 0x3333 };
	struct accel_pool_info pi;

	is_int(accel_kv_alloc(pool, 3, b), 0, "alloc 3 to publish");
	is_int(accel_kv_publish(pool, 3, b, h), 3, "publish 3");
	/* last references dropped in order b1, b2, b0: the LRU order */
	is_int(accel_kv_free(pool, 1, &b[1]), 0, "free b1");
	is_int(accel_kv_free(pool, 1, &b[2]), 0, "free b2");
	is_int(accel_kv_free(pool, 1, &b[0]), 0, "free b0");
	pi = info_of(pool);
	ok(pi.blocks_cached == 3 && pi.blocks_free == NB - 3, "published blocks are cached");
	is_int(accel_kv_alloc(pool, NB - 3, e), 0, "free blocks are used before cached ones");
	pi = info_of(pool);
	is_int(pi.blocks_cached, 3, "cache intact");
	is_int(accel_kv_alloc(pool, 1, &e[NB - 3]), 0, "alloc under pressure evicts");
	is_int(e[NB - 3], b[1], "the least recently freed block first");
	is_int(accel_kv_lookup(pool, 1, &h[1], got), 0, "its hash left the index");
	is_int(accel_kv_lookup(pool, 1, &h[0], got), 1, "a cached block is still found");
	is_int(got[0], b[0], "... it is b0");
	is_int(accel_kv_alloc(pool, 2, &e[NB - 2]), -ENOMEM, "2 wanted, 1 cached: -ENOMEM");
	pi = info_of(pool);
	is_int(pi.blocks_cached, 1, "... nothing evicted");
	is_int(accel_kv_alloc(pool, 1, &e[NB - 2]), 0, "alloc the last one");
	is_int(e[NB - 2], b[2], "b2 evicted last");
	is_int(accel_kv_free(pool, NB - 1, e), 0, "free the evicting blocks");
	is_int(accel_kv_free(pool, 1, got), 0, "free the looked-up block");
	pi = info_of(pool);
	ok(pi.blocks_free == NB - 1 && pi.blocks_cached == 1, "one cached, the rest free");
}

/* what an allocation would evict, named before it happens, and nothing else */
static void peek(struct accel_pool *pool)
{
	uint32_t b[3], e[NB], p[NB], got;
	uint64_t h[3] = { 0xa1, 0xb2, 0xc3 }, ph[NB];
	struct accel_pool_info pi;
	int n;

	is_int(accel_kv_peek_evict(pool, NB, p, ph), 0, "empty index: nothing to evict");
	is_int(accel_kv_alloc(pool, 3, b), 0, "alloc 3 to publish");
	is_int(accel_kv_publish(pool, 3, b, h), 3, "publish 3");
	/* released in the order b2, b0, b1: the LRU's order */
	accel_kv_free(pool, 1, &b[2]);
	accel_kv_free(pool, 1, &b[0]);
	accel_kv_free(pool, 1, &b[1]);
	is_int(accel_kv_peek_evict(pool, NB - 3, p, ph), 0, "free blocks suffice: none named");
	n = accel_kv_peek_evict(pool, NB - 1, p, ph);
	ok(n == 2 && p[0] == b[2] && ph[0] == h[2] && p[1] == b[0] && ph[1] == h[0],
	   "two past the free ones: the least recently released two, with their hashes (%d)", n);
	is_int(accel_kv_peek_evict(pool, NB, p, ph), 3, "the whole pool: every cached block");
	ok(accel_kv_peek_evict(pool, 0, p, ph) == -EINVAL &&
	   accel_kv_peek_evict(pool, NB + 1, p, ph) == -EINVAL &&
	   accel_kv_peek_evict(pool, 1, NULL, ph) == -EINVAL,
	   "count 0, count beyond the pool, no room: -EINVAL");
	pi = info_of(pool);
	ok(pi.blocks_cached == 3 && pi.blocks_free == NB - 3 && pi.blocks_used == 0,
	   "peeking changed nothing");
	is_int(accel_kv_lookup(pool, 1, &h[2], &got), 1, "a named block is still found");
	accel_kv_free(pool, 1, &got);
	/* the lookup made b2 the most recently released: the answer follows */
	n = accel_kv_peek_evict(pool, NB - 2, p, ph);
	ok(n == 1 && p[0] == b[0], "a block used again moves to the back of the line (%d)", n);
	is_int(accel_kv_alloc(pool, NB - 1, e), 0, "allocate two past the free ones");
	pi = info_of(pool);
	is_int(pi.blocks_cached, 1, "two were evicted");
	is_int(accel_kv_lookup(pool, 1, &h[2], &got), 1,
	       "and the one not named survives");
	accel_kv_free(pool, 1, &got);
	is_int(accel_kv_free(pool, NB - 1, e), 0, "free the evicting blocks");
}

static void owners(struct accel_device *dev, struct accel_pool *pool)
{
	struct accel_device *dev2 = NULL;
	struct accel_pool *imp = NULL, *imp2 = NULL;
	struct accel_pool_info pi;
	uint32_t mine[2], theirs[4];
	int fd = -1;

	if (accel_pool_export(pool, &fd) || accel_pool_import(dev, fd, &imp)) {
		skip(OWNERS_TESTS, "export/import not available");
		goto out;
	}
	pi = info_of(imp);
	if (pi.num_blocks != NB) {
		skip(OWNERS_TESTS, "imported pool has no KV allocator");
		goto out;
	}
	is_int(accel_kv_alloc(pool, 2, mine), 0, "alloc through the first handle");
	is_int(accel_kv_free(imp, 1, mine), -ENOENT, "another handle cannot free them: -ENOENT");
	is_int(accel_kv_ref(imp, 1, mine), -ENOENT, "... nor ref them");
	is_int(accel_kv_alloc(imp, 3, theirs), 0, "alloc through the imported handle");
	pi = info_of(pool);
	is_int(pi.blocks_used, 5, "both handles' blocks used");
	accel_pool_destroy(imp);
	imp = NULL;
	pi = info_of(pool);
	is_int(pi.blocks_used, 2, "destroying a handle released its blocks");
	if (accel_device_open(NULL, &dev2) || accel_pool_import(dev2, fd, &imp2)) {
		skip(OWNERS_DEV2_TESTS, "second device not available");
		goto out_free;
	}
	is_int(accel_kv_alloc(imp2, 4, theirs), 0, "alloc through a second device");
	accel_device_close(dev2);
	dev2 = NULL;
	pi = info_of(pool);
	is_int(pi.blocks_used, 2, "closing the device released its blocks");
	is_int(accel_kv_free(pool, 2, mine), 0, "the first handle's blocks are intact");
out_free:
	ok(1, "handles released");
out:
	accel_device_close(dev2);
	accel_pool_destroy(imp);
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	struct accel_device_info info;
	struct accel_device *dev = conf_open(&info);
	struct accel_pool *pool;

	if (!(info.caps & ACCEL_CAP_KV_BLOCKS))
		plan_skip_all("device has no ACCEL_CAP_KV_BLOCKS");
	plan(BASICS_TESTS + LRU_TESTS + PEEK_TESTS + OWNERS_TESTS);
	pool = conf_pool(dev, NB * BS, BS, ACCEL_POOL_KV);
	basics(pool);
	lru(pool);
	accel_pool_destroy(pool);
	pool = conf_pool(dev, NB * BS, BS, ACCEL_POOL_KV);
	if (info.caps & ACCEL_CAP_KV_PEEK_EVICT)
		peek(pool);
	else
		skip(PEEK_TESTS, "device has no ACCEL_CAP_KV_PEEK_EVICT");
	accel_pool_destroy(pool);
	pool = conf_pool(dev, NB * BS, BS, ACCEL_POOL_KV);
	owners(dev, pool);
	accel_pool_destroy(pool);
	accel_device_close(dev);
	return done_testing();
}
