/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * accelkv: KV block allocator and prefix-hash index of one pool. Pure logic:
 * no DRM, no user memory, no pages; the caller copies ids in and out and
 * holds kv->lock around every call but init/fini. KUnit-tested on its own.
 */
#ifndef _ACCELKV_KV_H_
#define _ACCELKV_KV_H_

#include <linux/limits.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/siphash.h>
#include <linux/types.h>
#include <linux/xarray.h>

/**
 * struct accelkv_kv - block states and the prefix index of one pool
 * @lock: protects every field below and every owner of this pool
 * @num_blocks: blocks in the pool
 * @max_refs: most references one block may hold, all owners together
 *	(1..ACCELKV_KV_MAX_REFS); a call that would pass it fails with
 *	-EOVERFLOW, so no count ever wraps
 * @nr_free: blocks on @free_stack (no reference, not published)
 * @nr_cached: published blocks without a reference, on the LRU list
 * @nr_used: blocks with at least one reference
 * @free_stack: ids of free blocks; the top is @free_stack[@nr_free - 1]
 * @refs: references held on each block, by all owners together
 * @hash: the hash a block is published under (valid when in @published);
 *	scratch for KV_PUBLISH validation when in @pending
 * @published: blocks entered in the prefix index
 * @pending: scratch bitmap of KV_PUBLISH's validation pass
 * @lru_prev: previous cached block on the LRU list, or ACCELKV_KV_NIL
 * @lru_next: next cached block on the LRU list, or ACCELKV_KV_NIL
 * @lru_head: least recently released cached block (evicted first)
 * @lru_tail: most recently released cached block
 * @hash_bits: log2 of the number of index buckets
 * @hash_key: random key of the bucket hash (user space picks the hashes)
 * @buckets: prefix index buckets
 * @hnode: index node of each block
 * @prefix_hits: blocks found by lookups
 * @prefix_queries: hashes asked by lookups
 */
struct accelkv_kv {
	struct mutex lock; /* see above: all fields and owners */
	u32 num_blocks;
	u32 max_refs;
	u32 nr_free;
	u32 nr_cached;
	u32 nr_used;
	u32 *free_stack;
	u32 *refs;
	u64 *hash;
	unsigned long *published;
	unsigned long *pending;
	u32 *lru_prev;
	u32 *lru_next;
	u32 lru_head;
	u32 lru_tail;
	unsigned int hash_bits;
	siphash_key_t hash_key;
	struct hlist_head *buckets;
	struct hlist_node *hnode;
	u64 prefix_hits;
	u64 prefix_queries;
};

#define ACCELKV_KV_NIL	U32_MAX

/* Default and ceiling of accelkv_kv.max_refs: refcount_t's range. */
#define ACCELKV_KV_MAX_REFS	((u32)INT_MAX)

/**
 * struct accelkv_kv_owner - the references one owner (an open file) holds
 * @refs: block id -> number of references, as xa_mk_value(); never more
 *	than the block's accelkv_kv.refs, so bounded by accelkv_kv.max_refs
 * @nr_refs: total references held (at most num_blocks * max_refs < 2^51)
 */
struct accelkv_kv_owner {
	struct xarray refs;
	u64 nr_refs;
};

int accelkv_kv_init(struct accelkv_kv *kv, u32 num_blocks);
void accelkv_kv_fini(struct accelkv_kv *kv);

void accelkv_kv_owner_init(struct accelkv_kv_owner *owner);
void accelkv_kv_owner_release(struct accelkv_kv *kv,
			      struct accelkv_kv_owner *owner);
u32 accelkv_kv_owner_count(struct accelkv_kv_owner *owner, u32 block);

int accelkv_kv_alloc(struct accelkv_kv *kv, struct accelkv_kv_owner *owner,
		     u32 *ids, u32 count);
int accelkv_kv_free(struct accelkv_kv *kv, struct accelkv_kv_owner *owner,
		    const u32 *ids, u32 count);
int accelkv_kv_ref(struct accelkv_kv *kv, struct accelkv_kv_owner *owner,
		   const u32 *ids, u32 count);
int accelkv_kv_publish(struct accelkv_kv *kv, struct accelkv_kv_owner *owner,
		       const u32 *ids, const u64 *hashes, u32 count,
		       u32 *published);
int accelkv_kv_lookup(struct accelkv_kv *kv, struct accelkv_kv_owner *owner,
		      const u64 *hashes, u32 count, u32 *ids, u32 *found);

#endif /* _ACCELKV_KV_H_ */
