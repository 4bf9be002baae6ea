// SPDX-License-Identifier: MIT
/*
 * Conformance: the prefix index. Chained block hashes (accel_kv_hash),
 * publish rules (skip a hash already indexed, no republish under another
 * hash), and lookup of the longest cached prefix of another sequence, with
 * references, counters, and reuse of cached (unreferenced) blocks.
 */
#include <stdlib.h>
#include "conf.h"

#define NB 32
#define BS 4096
#define TPB 16		/* tokens per block */
/* tests per section (a device without a prefix index skips PREFIX_TESTS) */
#define HASHES_TESTS 6
#define PREFIX_TESTS 28

static void chain(const int32_t *tok, int nblocks, uint64_t *h)
{
	uint64_t prev = 0;

	for (int i = 0; i < nblocks; i++)
		h[i] = prev = accel_kv_hash(prev, tok + i * TPB, TPB);
}

static void hashes(void)
{
	int32_t t[TPB], u[TPB];
	unsigned seed = 99;
	uint64_t *all;
	int dup = 0;

	for (int i = 0; i < TPB; i++)
		t[i] = u[i] = i * 7 + 1;
	is_int(accel_kv_hash(5, t, TPB) == accel_kv_hash(5, u, TPB), 1, "hash is deterministic");
	ok(accel_kv_hash(5, t, TPB) != accel_kv_hash(6, t, TPB), "hash depends on prev");
	u[TPB - 1]++;
	ok(accel_kv_hash(5, t, TPB) != accel_kv_hash(5, u, TPB), "hash depends on every token");
	u[TPB - 1]--;
	u[0] = t[1];
	u[1] = t[0];
	ok(accel_kv_hash(5, t, TPB) != accel_kv_hash(5, u, TPB), "hash depends on token order");
	ok(accel_kv_hash(0, t, TPB - 1) != accel_kv_hash(0, t, TPB), "hash depends on count");
	all = calloc(20000, sizeof(*all));
	for (int i = 0; i < 20000; i++) {
		for (int k = 0; k < TPB; k++)
			t[k] = rand_r(&seed) % 4;	/* small alphabet: near-identical blocks */
		all[i] = accel_kv_hash((uint64_t)(i % 3), t, TPB);
	}
	for (int i = 0; i < 20000 && !dup; i++)
		for (int j = 0; j < i; j++)
			if (all[i] == all[j]) {
				dup++;
				break;
			}
	is_int(dup, 0, "20000 hashes of near-identical blocks: no collision");
	free(all);
}

static void prefix(struct accel_pool *pool)
{
	int32_t a[4 * TPB], b[4 * TPB];
	uint64_t ha[4], hb[4];
	uint32_t blk[4], got[4], other;
	struct accel_pool_info pi0, pi;
	int same = 1;

	for (int i = 0; i < 4 * TPB; i++)
		a[i] = b[i] = 1000 + i;
	b[2 * TPB + 3] = 7;	/* b shares a's first two blocks */
	chain(a, 4, ha);
	chain(b, 4, hb);
	ok(ha[0] == hb[0] && ha[1] == hb[1] && ha[2] != hb[2] && ha[3] != hb[3],
	   "chained hashes: equal over the shared prefix, different after it");

	is_int(accel_kv_alloc(pool, 4, blk), 0, "alloc 4 blocks for sequence a");
	for (int i = 0; i < 4; i++)
		memcpy(accel_kv_block_ptr(pool, blk[i]), a + i * TPB, sizeof(int32_t) * TPB);
	accel_pool_info(pool, &pi0);
	is_int(accel_kv_publish(pool, 4, blk, ha), 4, "publish a's 4 blocks");
	is_int(accel_kv_publish(pool, 1, &blk[1], &ha[1]), 0, "publish again: skipped (0)");
	is_int(accel_kv_publish(pool, 1, &blk[1], &ha[2]), -EINVAL,
	       "republish under another hash: -EINVAL");

	is_int(accel_kv_lookup(pool, 4, hb, got), 2, "lookup of b finds the shared 2 blocks");
	ok(got[0] == blk[0] && got[1] == blk[1], "the blocks of a's prefix");
	for (int i = 0; i < 2; i++)
		same &= !memcmp(accel_kv_block_ptr(pool, got[i]), b + i * TPB, sizeof(int32_t) * TPB);
	ok(same, "their contents are b's tokens");
	accel_pool_info(pool, &pi);
	is_int(pi.prefix_queries - pi0.prefix_queries, 4, "prefix_queries counts hashes asked");
	is_int(pi.prefix_hits - pi0.prefix_hits, 2, "prefix_hits counts blocks found");
	is_int(accel_kv_free(pool, 2, got), 0, "lookup's references can be freed");
	ha[0] ^= 1;
	is_int(accel_kv_lookup(pool, 4, ha, got), 0, "unknown first hash: 0 found");
	ha[0] ^= 1;

	is_int(accel_kv_alloc(pool, 1, &other), 0, "alloc another block");
	is_int(accel_kv_publish(pool, 1, &other, &ha[0]), 0,
	       "publish under a hash another block has: skipped");
	is_int(accel_kv_lookup(pool, 1, &ha[0], got), 1, "lookup of that hash");
	is_int(got[0], blk[0], "... returns the first block");
	is_int(accel_kv_free(pool, 1, got), 0, "free it");
	is_int(accel_kv_publish(pool, 1, &other, &hb[2]), 1, "the other block takes b's 3rd hash");

	is_int(accel_kv_free(pool, 4, blk), 0, "sequence a ends: its blocks are unreferenced");
	accel_pool_info(pool, &pi);
	is_int(pi.blocks_cached, 4, "a's published blocks stay cached");
	is_int(accel_kv_lookup(pool, 4, ha, got), 4, "a later request finds all of a");
	accel_pool_info(pool, &pi);
	is_int(pi.blocks_cached, 0, "found blocks are used again");
	is_int(accel_kv_free(pool, 4, got), 0, "free them");
	is_int(accel_kv_lookup(pool, 3, hb, got), 3, "b finds its 2 shared blocks + its own 3rd");
	is_int(got[2], other, "... the 3rd is the block published under b's hash");
	is_int(accel_kv_free(pool, 3, got), 0, "free");
	is_int(accel_kv_free(pool, 1, &other), 0, "free other");
	is_int(accel_kv_publish(pool, 1, &other, &hb[3]), -ENOENT, "publish of a block not held");
}

int main(void)
{
	struct accel_device_info info;
	struct accel_device *dev = conf_open(&info);
	struct accel_pool *pool;

	plan(HASHES_TESTS + PREFIX_TESTS);
	hashes();
	if (!(info.caps & ACCEL_CAP_PREFIX_INDEX)) {
		skip(PREFIX_TESTS, "device has no ACCEL_CAP_PREFIX_INDEX");
		accel_device_close(dev);
		return done_testing();
	}
	pool = conf_pool(dev, NB * BS, BS, ACCEL_POOL_KV);
	prefix(pool);
	accel_pool_destroy(pool);
	accel_device_close(dev);
	return done_testing();
}
