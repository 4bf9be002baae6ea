// SPDX-License-Identifier: GPL-2.0-only
/*
 * accelkv: KV block allocator and prefix-hash index (PagedAttention blocks).
 * Pure logic over arrays of block state: a free stack, reference counts, an
 * LRU list of published blocks nobody references, and a hash -> block index.
 * Every call but init/fini runs with kv->lock held and is all or nothing.
 */
#include <linux/bitmap.h>
#include <linux/errno.h>
#include <linux/log2.h>
#include <linux/lockdep.h>
#include <linux/nospec.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/siphash.h>
#include <linux/slab.h>

#include "accelkv_kv.h"

int accelkv_kv_init(struct accelkv_kv *kv, u32 num_blocks)
{
	u32 i;

	memset(kv, 0, sizeof(*kv));
	mutex_init(&kv->lock);
	if (!num_blocks)
		return -EINVAL;
	kv->num_blocks = num_blocks;
	kv->max_refs = ACCELKV_KV_MAX_REFS;
	get_random_bytes(&kv->hash_key, sizeof(kv->hash_key));
	kv->hash_bits = max_t(unsigned int, 4, order_base_2(num_blocks));
	kv->free_stack = kvmalloc_array(num_blocks, sizeof(u32), GFP_KERNEL_ACCOUNT);
	kv->refs = kvcalloc(num_blocks, sizeof(u32), GFP_KERNEL_ACCOUNT);
	kv->hash = kvcalloc(num_blocks, sizeof(u64), GFP_KERNEL_ACCOUNT);
	kv->published = bitmap_zalloc(num_blocks, GFP_KERNEL_ACCOUNT);
	kv->pending = bitmap_zalloc(num_blocks, GFP_KERNEL_ACCOUNT);
	kv->lru_prev = kvmalloc_array(num_blocks, sizeof(u32), GFP_KERNEL_ACCOUNT);
	kv->lru_next = kvmalloc_array(num_blocks, sizeof(u32), GFP_KERNEL_ACCOUNT);
	kv->buckets = kvcalloc(1U << kv->hash_bits, sizeof(*kv->buckets),
			       GFP_KERNEL_ACCOUNT);
	kv->hnode = kvcalloc(num_blocks, sizeof(*kv->hnode), GFP_KERNEL_ACCOUNT);
	if (!kv->free_stack || !kv->refs || !kv->hash || !kv->published ||
	    !kv->pending || !kv->lru_prev || !kv->lru_next || !kv->buckets ||
	    !kv->hnode) {
		accelkv_kv_fini(kv);
		return -ENOMEM;
	}
	/* Pop order 0, 1, 2, ...: the top of the stack is block 0. */
	for (i = 0; i < num_blocks; i++) {
		kv->free_stack[i] = num_blocks - 1 - i;
		kv->lru_prev[i] = ACCELKV_KV_NIL;
		kv->lru_next[i] = ACCELKV_KV_NIL;
		INIT_HLIST_NODE(&kv->hnode[i]);
	}
	kv->nr_free = num_blocks;
	kv->lru_head = ACCELKV_KV_NIL;
	kv->lru_tail = ACCELKV_KV_NIL;
	return 0;
}

void accelkv_kv_fini(struct accelkv_kv *kv)
{
	kvfree(kv->hnode);
	kvfree(kv->buckets);
	kvfree(kv->lru_next);
	kvfree(kv->lru_prev);
	bitmap_free(kv->pending);
	bitmap_free(kv->published);
	kvfree(kv->hash);
	kvfree(kv->refs);
	kvfree(kv->free_stack);
	kv->hnode = NULL;
	kv->buckets = NULL;
	kv->lru_next = NULL;
	kv->lru_prev = NULL;
	kv->pending = NULL;
	kv->published = NULL;
	kv->hash = NULL;
	kv->refs = NULL;
	kv->free_stack = NULL;
	mutex_destroy(&kv->lock);
}

/* ------------------------------------------------------------ LRU list */

static void kv_lru_add_tail(struct accelkv_kv *kv, u32 b)
{
	kv->lru_prev[b] = kv->lru_tail;
	kv->lru_next[b] = ACCELKV_KV_NIL;
	if (kv->lru_tail != ACCELKV_KV_NIL)
		kv->lru_next[kv->lru_tail] = b;
	else
		kv->lru_head = b;
	kv->lru_tail = b;
	kv->nr_cached++;
}

static void kv_lru_remove(struct accelkv_kv *kv, u32 b)
{
	u32 prev = kv->lru_prev[b], next = kv->lru_next[b];

	if (prev != ACCELKV_KV_NIL)
		kv->lru_next[prev] = next;
	else
		kv->lru_head = next;
	if (next != ACCELKV_KV_NIL)
		kv->lru_prev[next] = prev;
	else
		kv->lru_tail = prev;
	kv->lru_prev[b] = ACCELKV_KV_NIL;
	kv->lru_next[b] = ACCELKV_KV_NIL;
	kv->nr_cached--;
}

/* --------------------------------------------------------- prefix index */

/*
 * The hashes are chosen by user space: keyed with the pool's random key, so
 * no caller can aim many of them at one bucket and make every lookup of the
 * pool's users walk a long chain under kv->lock.
 */
static struct hlist_head *kv_bucket(struct accelkv_kv *kv, u64 hash)
{
	return &kv->buckets[siphash_1u64(hash, &kv->hash_key) >>
			    (64 - kv->hash_bits)];
}

static u32 kv_index_find(struct accelkv_kv *kv, u64 hash)
{
	struct hlist_node *n;

	hlist_for_each(n, kv_bucket(kv, hash)) {
		u32 b = n - kv->hnode;

		if (kv->hash[b] == hash)
			return b;
	}
	return ACCELKV_KV_NIL;
}

static void kv_index_add(struct accelkv_kv *kv, u32 b, u64 hash)
{
	kv->hash[b] = hash;
	__set_bit(b, kv->published);
	hlist_add_head(&kv->hnode[b], kv_bucket(kv, hash));
}

static void kv_index_del(struct accelkv_kv *kv, u32 b)
{
	hlist_del_init(&kv->hnode[b]);
	__clear_bit(b, kv->published);
	kv->hash[b] = 0;
}

/* ------------------------------------------------------ block references */

static void kv_take_ref(struct accelkv_kv *kv, u32 b)
{
	if (!kv->refs[b]) {
		/* Only published blocks are found without a reference. */
		kv_lru_remove(kv, b);
		kv->nr_used++;
	}
	kv->refs[b]++;
}

static void kv_drop_refs(struct accelkv_kv *kv, u32 b, u32 n)
{
	b = array_index_nospec(b, kv->num_blocks);	/* ids come from users */
	kv->refs[b] -= n;
	if (kv->refs[b])
		return;
	kv->nr_used--;
	if (test_bit(b, kv->published))
		kv_lru_add_tail(kv, b);
	else
		kv->free_stack[kv->nr_free++] = b;
}

/* ------------------------------------------------------------- owners */

void accelkv_kv_owner_init(struct accelkv_kv_owner *owner)
{
	xa_init(&owner->refs);
	owner->nr_refs = 0;
}

u32 accelkv_kv_owner_count(struct accelkv_kv_owner *owner, u32 block)
{
	void *entry = xa_load(&owner->refs, block);

	return entry ? xa_to_value(entry) : 0;
}

/* Replaces an existing entry: never allocates, never fails. */
static void kv_owner_set(struct accelkv_kv_owner *owner, u32 b, u32 count)
{
	xa_store(&owner->refs, b, xa_mk_value(count), GFP_KERNEL_ACCOUNT);
}

static int kv_owner_get(struct accelkv_kv_owner *owner, u32 b)
{
	u32 c = accelkv_kv_owner_count(owner, b);
	int ret;

	/* c <= the block's count < max_refs <= INT_MAX: c + 1 cannot wrap */
	ret = xa_err(xa_store(&owner->refs, b, xa_mk_value(c + 1), GFP_KERNEL_ACCOUNT));
	if (!ret)
		owner->nr_refs++;
	return ret;
}

static void kv_owner_put(struct accelkv_kv_owner *owner, u32 b)
{
	u32 c = accelkv_kv_owner_count(owner, b);

	if (c <= 1)
		xa_erase(&owner->refs, b);
	else
		kv_owner_set(owner, b, c - 1);
	owner->nr_refs--;
}

/*
 * One more reference on a block that already has one or is cached, for
 * @owner: -EOVERFLOW at kv->max_refs (refcount semantics: refuse, never
 * wrap), -ENOMEM if the owner's entry cannot be stored.
 */
static int kv_get(struct accelkv_kv *kv, struct accelkv_kv_owner *owner, u32 b)
{
	int ret;

	b = array_index_nospec(b, kv->num_blocks);
	if (kv->refs[b] >= kv->max_refs)
		return -EOVERFLOW;
	ret = kv_owner_get(owner, b);
	if (ret)
		return ret;
	kv_take_ref(kv, b);
	return 0;
}

/* Undo kv_get() on @ids[0..@n-1], last first. */
static void kv_put_n(struct accelkv_kv *kv, struct accelkv_kv_owner *owner,
		     const u32 *ids, u32 n)
{
	while (n--) {
		kv_owner_put(owner, ids[n]);
		kv_drop_refs(kv, ids[n], 1);
	}
}

void accelkv_kv_owner_release(struct accelkv_kv *kv,
			      struct accelkv_kv_owner *owner)
{
	unsigned long b;
	void *entry;

	lockdep_assert_held(&kv->lock);
	xa_for_each(&owner->refs, b, entry) {
		kv_drop_refs(kv, b, xa_to_value(entry));
		cond_resched();
	}
	xa_destroy(&owner->refs);
	owner->nr_refs = 0;
}

/* ------------------------------------------------------------ the calls */

int accelkv_kv_alloc(struct accelkv_kv *kv, struct accelkv_kv_owner *owner,
		     u32 *ids, u32 count)
{
	u32 i, b;
	int ret;

	lockdep_assert_held(&kv->lock);
	if (!count || count > kv->num_blocks)
		return count ? -ENOMEM : -EINVAL;
	if ((u64)kv->nr_free + kv->nr_cached < count)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		if (kv->nr_free) {
			b = kv->free_stack[--kv->nr_free];
		} else {
			/* Evict the least recently released published block. */
			b = kv->lru_head;
			kv_lru_remove(kv, b);
			kv_index_del(kv, b);
		}
		kv->refs[b] = 1;
		kv->nr_used++;
		ids[i] = b;
	}
	for (i = 0; i < count; i++) {
		ret = kv_owner_get(owner, ids[i]);
		if (ret)
			goto err_unown;
	}
	return 0;

err_unown:
	while (i--)
		kv_owner_put(owner, ids[i]);
	/* Evicted blocks lose their cached contents: they go back free. */
	for (i = count; i--;)
		kv_drop_refs(kv, ids[i], 1);
	return ret;
}

int accelkv_kv_free(struct accelkv_kv *kv, struct accelkv_kv_owner *owner,
		    const u32 *ids, u32 count)
{
	u32 i, c;

	lockdep_assert_held(&kv->lock);
	if (!count)
		return -EINVAL;
	/* Check pass: consume the owner's counts, so duplicates add up. */
	for (i = 0; i < count; i++) {
		c = ids[i] < kv->num_blocks ?
			accelkv_kv_owner_count(owner, ids[i]) : 0;
		if (!c)
			goto err_restore;
		kv_owner_set(owner, ids[i], c - 1);
		cond_resched();
	}
	for (i = 0; i < count; i++) {
		if (!accelkv_kv_owner_count(owner, ids[i]))
			xa_erase(&owner->refs, ids[i]);
		owner->nr_refs--;
		kv_drop_refs(kv, ids[i], 1);
	}
	return 0;

err_restore:
	while (i--)
		kv_owner_set(owner, ids[i],
			     accelkv_kv_owner_count(owner, ids[i]) + 1);
	return -ENOENT;
}

int accelkv_kv_ref(struct accelkv_kv *kv, struct accelkv_kv_owner *owner,
		   const u32 *ids, u32 count)
{
	u32 i;

	int ret;

	lockdep_assert_held(&kv->lock);
	if (!count)
		return -EINVAL;
	for (i = 0; i < count; i++)
		if (ids[i] >= kv->num_blocks ||
		    !accelkv_kv_owner_count(owner, ids[i]))
			return -ENOENT;
	for (i = 0; i < count; i++) {
		/* The owner already holds the block: only the limit can fail. */
		ret = kv_get(kv, owner, ids[i]);
		if (ret) {
			kv_put_n(kv, owner, ids, i);
			return ret;
		}
		cond_resched();
	}
	return 0;
}

int accelkv_kv_publish(struct accelkv_kv *kv, struct accelkv_kv_owner *owner,
		       const u32 *ids, const u64 *hashes, u32 count,
		       u32 *published)
{
	u32 i, b, n = 0;
	int ret = 0;

	lockdep_assert_held(&kv->lock);
	if (!count)
		return -EINVAL;
	/* Check pass; @pending + @hash catch a block listed twice. */
	for (i = 0; i < count; i++) {
		b = ids[i];
		if (b >= kv->num_blocks || !accelkv_kv_owner_count(owner, b)) {
			ret = -ENOENT;
			break;
		}
		b = array_index_nospec(b, kv->num_blocks);
		if (test_bit(b, kv->published) || test_bit(b, kv->pending)) {
			if (kv->hash[b] != hashes[i]) {
				ret = -EINVAL;
				break;
			}
			continue;
		}
		__set_bit(b, kv->pending);
		kv->hash[b] = hashes[i];
	}
	if (ret) {
		while (i--) {
			b = array_index_nospec(ids[i], kv->num_blocks);
			if (test_bit(b, kv->pending)) {
				__clear_bit(b, kv->pending);
				kv->hash[b] = 0;
			}
		}
		return ret;
	}
	for (i = 0; i < count; i++) {
		cond_resched();
		b = array_index_nospec(ids[i], kv->num_blocks);
		if (!test_bit(b, kv->pending))
			continue;	/* already published, or listed before */
		__clear_bit(b, kv->pending);
		if (kv_index_find(kv, hashes[i]) != ACCELKV_KV_NIL) {
			kv->hash[b] = 0;	/* the first block keeps the hash */
			continue;
		}
		kv_index_add(kv, b, hashes[i]);
		n++;
	}
	*published = n;
	return 0;
}

int accelkv_kv_lookup(struct accelkv_kv *kv, struct accelkv_kv_owner *owner,
		      const u64 *hashes, u32 count, u32 *ids, u32 *found)
{
	u32 i, n, b;
	int ret;

	lockdep_assert_held(&kv->lock);
	if (!count)
		return -EINVAL;
	for (n = 0; n < count; n++) {
		cond_resched();
		b = kv_index_find(kv, hashes[n]);
		if (b == ACCELKV_KV_NIL)
			break;
		ids[n] = b;
	}
	for (i = 0; i < n; i++) {
		ret = kv_get(kv, owner, ids[i]);
		if (ret) {
			kv_put_n(kv, owner, ids, i);
			return ret;
		}
	}
	kv->prefix_queries += count;
	kv->prefix_hits += n;
	*found = n;
	return 0;
}
