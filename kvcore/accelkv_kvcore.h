/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * accelkv kvcore: the KV block allocator and prefix-hash index of one pool,
 * one source compiled into accelkv.ko and into libaccel (the emulated
 * device), so the driver and the emulation cannot disagree. Pure logic over
 * arrays: no locking (each side's wrapper holds its lock around every call
 * but init/fini), no user memory, no pages. What it needs from its host
 * (allocation, random key, siphash, a per-owner block map) comes from
 * kvcore_env_kernel.h or kvcore_env_user.h, picked by __KERNEL__.
 *
 * Blocks are refcounted; every reference belongs to an owner (an open file
 * in the driver, a pool handle in the emulation), so an owner going away
 * drops exactly what it held. A block without references is free, or
 * cached when published: it stays in the prefix index, on an LRU list, and
 * ALLOC evicts the least recently released one when no free block is left.
 * Every call checks all its arguments before it changes anything.
 */
#ifndef _ACCELKV_KVCORE_H_
#define _ACCELKV_KVCORE_H_

#ifdef __KERNEL__
#include "kvcore_env_kernel.h"
#else
#include "kvcore_env_user.h"
#endif

#define ACCELKV_KVCORE_NIL	U32_MAX

/* Default and ceiling of accelkv_kvcore.max_refs: refcount_t's range. */
#define ACCELKV_KVCORE_MAX_REFS	((u32)INT_MAX)

/* accelkv_kvcore.flags[] bits */
#define ACCELKV_KVCORE_PUBLISHED	0x1	/* in the prefix index */
#define ACCELKV_KVCORE_PENDING		0x2	/* scratch of PUBLISH's check pass */

/**
 * struct accelkv_kvcore - block states and the prefix index of one pool
 * @num_blocks: blocks in the pool
 * @max_refs: most references one block may hold, all owners together
 *	(1..ACCELKV_KVCORE_MAX_REFS); a call that would pass it fails with
 *	-EOVERFLOW, so no count ever wraps
 * @nr_free: blocks on @free_stack (no reference, not published)
 * @nr_cached: published blocks without a reference, on the LRU list
 * @nr_used: blocks with at least one reference
 * @free_stack: ids of free blocks; the top is @free_stack[@nr_free - 1]
 * @refs: references held on each block, by all owners together
 * @hash: the hash a block is published under (valid when PUBLISHED);
 *	scratch for PUBLISH's check pass when PENDING
 * @flags: ACCELKV_KVCORE_PUBLISHED / _PENDING of each block
 * @lru_prev: previous cached block on the LRU list, or ACCELKV_KVCORE_NIL
 * @lru_next: next cached block on the LRU list, or ACCELKV_KVCORE_NIL
 * @lru_head: least recently released cached block (evicted first)
 * @lru_tail: most recently released cached block
 * @hash_bits: log2 of the number of index buckets
 * @hash_key: random key of the bucket hash: user space picks the hashes,
 *	so without it a caller could aim them all at one bucket
 * @buckets: first published block of each bucket, or ACCELKV_KVCORE_NIL
 * @hnext: next block in the same bucket, or ACCELKV_KVCORE_NIL
 * @prefix_hits: blocks found by lookups
 * @prefix_queries: hashes asked by lookups
 */
struct accelkv_kvcore {
	u32 num_blocks;
	u32 max_refs;
	u32 nr_free;
	u32 nr_cached;
	u32 nr_used;
	u32 *free_stack;
	u32 *refs;
	u64 *hash;
	u8 *flags;
	u32 *lru_prev;
	u32 *lru_next;
	u32 lru_head;
	u32 lru_tail;
	unsigned int hash_bits;
	struct kvcore_hash_key hash_key;
	u32 *buckets;
	u32 *hnext;
	u64 prefix_hits;
	u64 prefix_queries;
};

/**
 * struct accelkv_kvcore_owner - the references one owner holds
 * @map: block id -> number of references; never more than the block's
 *	accelkv_kvcore.refs, so bounded by accelkv_kvcore.max_refs
 * @nr_refs: total references held (at most num_blocks * max_refs < 2^51)
 */
struct accelkv_kvcore_owner {
	struct kvcore_owner_map map;
	u64 nr_refs;
};

/* 0, -EINVAL (no blocks), -ENOMEM, or the random source's error */
int accelkv_kvcore_init(struct accelkv_kvcore *kv, u32 num_blocks);
void accelkv_kvcore_fini(struct accelkv_kvcore *kv);

void accelkv_kvcore_owner_init(struct accelkv_kvcore_owner *owner);
/* Drop every reference @owner holds and free its map. */
void accelkv_kvcore_owner_release(struct accelkv_kvcore *kv,
				  struct accelkv_kvcore_owner *owner);
u32 accelkv_kvcore_owner_count(struct accelkv_kvcore_owner *owner, u32 block);

/* Take @count blocks, one reference each: -EINVAL for 0, -ENOMEM. */
int accelkv_kvcore_alloc(struct accelkv_kvcore *kv,
			 struct accelkv_kvcore_owner *owner, u32 *ids, u32 count);
/* Drop one reference per id (duplicates add up): -ENOENT if one is not held. */
int accelkv_kvcore_free(struct accelkv_kvcore *kv,
			struct accelkv_kvcore_owner *owner, const u32 *ids,
			u32 count);
/* One more reference per held id: -ENOENT, -EOVERFLOW at max_refs. */
int accelkv_kvcore_ref(struct accelkv_kvcore *kv,
		       struct accelkv_kvcore_owner *owner, const u32 *ids,
		       u32 count);
/*
 * Index held blocks under @hashes: *@published counts the newly indexed; a
 * block already published under the same hash, or a hash another block
 * has, is skipped; another hash for a published (or twice-listed) block is
 * -EINVAL; a block not held -ENOENT.
 */
int accelkv_kvcore_publish(struct accelkv_kvcore *kv,
			   struct accelkv_kvcore_owner *owner, const u32 *ids,
			   const u64 *hashes, u32 count, u32 *published);
/* The longest leading run of @hashes in the index, one reference each. */
int accelkv_kvcore_lookup(struct accelkv_kvcore *kv,
			  struct accelkv_kvcore_owner *owner, const u64 *hashes,
			  u32 count, u32 *ids, u32 *found);
/*
 * The published blocks an ALLOC of @count would evict, in the order it would
 * (the LRU's head first), with their hashes: max(0, @count - nr_free) of
 * them, at most nr_cached. Changes nothing; *@found says how many. A disk
 * tier writes them out before it allocates.
 */
int accelkv_kvcore_peek_evict(struct accelkv_kvcore *kv, u32 count, u32 *ids,
			      u64 *hashes, u32 *found);
/* Walk every list and counter: 0, or -EUCLEAN at the first inconsistency. */
int accelkv_kvcore_check(struct accelkv_kvcore *kv);

#endif /* _ACCELKV_KVCORE_H_ */
