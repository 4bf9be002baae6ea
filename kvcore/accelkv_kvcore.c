// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * accelkv kvcore: KV block allocator and prefix-hash index (see
 * accelkv_kvcore.h). Pure logic over arrays of block state: a free stack,
 * reference counts, an LRU list of published blocks nobody references, and
 * a keyed hash -> block index with chained buckets. Compiled as kernel C in
 * accelkv.ko and as C11 in libaccel: only the kvcore_* primitives of the
 * environment header, nothing else of either host.
 */
#include "accelkv_kvcore.h"

int accelkv_kvcore_init(struct accelkv_kvcore *kv, u32 num_blocks)
{
	u32 i;
	int ret;

	memset(kv, 0, sizeof(*kv));
	if (!num_blocks)
		return -EINVAL;
	kv->num_blocks = num_blocks;
	kv->max_refs = ACCELKV_KVCORE_MAX_REFS;
	ret = kvcore_random_key(&kv->hash_key);
	if (ret)
		return ret;
	/* about one bucket per block, at least 16 */
	kv->hash_bits = 4;
	while (kv->hash_bits < 32 && (1ULL << kv->hash_bits) < num_blocks)
		kv->hash_bits++;
	kv->free_stack = kvcore_alloc_array(num_blocks, sizeof(u32));
	kv->refs = kvcore_zalloc_array(num_blocks, sizeof(u32));
	kv->hash = kvcore_zalloc_array(num_blocks, sizeof(u64));
	kv->flags = kvcore_zalloc_array(num_blocks, sizeof(u8));
	kv->lru_prev = kvcore_alloc_array(num_blocks, sizeof(u32));
	kv->lru_next = kvcore_alloc_array(num_blocks, sizeof(u32));
	kv->buckets = kvcore_alloc_array((size_t)1 << kv->hash_bits, sizeof(u32));
	kv->hnext = kvcore_alloc_array(num_blocks, sizeof(u32));
	if (!kv->free_stack || !kv->refs || !kv->hash || !kv->flags ||
	    !kv->lru_prev || !kv->lru_next || !kv->buckets || !kv->hnext) {
		accelkv_kvcore_fini(kv);
		return -ENOMEM;
	}
	/* Pop order 0, 1, 2, ...: the top of the stack is block 0. */
	for (i = 0; i < num_blocks; i++) {
		kv->free_stack[i] = num_blocks - 1 - i;
		kv->lru_prev[i] = ACCELKV_KVCORE_NIL;
		kv->lru_next[i] = ACCELKV_KVCORE_NIL;
		kv->hnext[i] = ACCELKV_KVCORE_NIL;
	}
	for (i = 0; i < 1U << kv->hash_bits; i++)
		kv->buckets[i] = ACCELKV_KVCORE_NIL;
	kv->nr_free = num_blocks;
	kv->lru_head = ACCELKV_KVCORE_NIL;
	kv->lru_tail = ACCELKV_KVCORE_NIL;
	return 0;
}

void accelkv_kvcore_fini(struct accelkv_kvcore *kv)
{
	kvcore_free(kv->hnext);
	kvcore_free(kv->buckets);
	kvcore_free(kv->lru_next);
	kvcore_free(kv->lru_prev);
	kvcore_free(kv->flags);
	kvcore_free(kv->hash);
	kvcore_free(kv->refs);
	kvcore_free(kv->free_stack);
	kv->hnext = NULL;
	kv->buckets = NULL;
	kv->lru_next = NULL;
	kv->lru_prev = NULL;
	kv->flags = NULL;
	kv->hash = NULL;
	kv->refs = NULL;
	kv->free_stack = NULL;
	kv->num_blocks = 0;
}

/* ------------------------------------------------------------ LRU list */

static void kvcore_lru_add_tail(struct accelkv_kvcore *kv, u32 b)
{
	kv->lru_prev[b] = kv->lru_tail;
	kv->lru_next[b] = ACCELKV_KVCORE_NIL;
	if (kv->lru_tail != ACCELKV_KVCORE_NIL)
		kv->lru_next[kv->lru_tail] = b;
	else
		kv->lru_head = b;
	kv->lru_tail = b;
	kv->nr_cached++;
}

static void kvcore_lru_remove(struct accelkv_kvcore *kv, u32 b)
{
	u32 prev = kv->lru_prev[b], next = kv->lru_next[b];

	if (prev != ACCELKV_KVCORE_NIL)
		kv->lru_next[prev] = next;
	else
		kv->lru_head = next;
	if (next != ACCELKV_KVCORE_NIL)
		kv->lru_prev[next] = prev;
	else
		kv->lru_tail = prev;
	kv->lru_prev[b] = ACCELKV_KVCORE_NIL;
	kv->lru_next[b] = ACCELKV_KVCORE_NIL;
	kv->nr_cached--;
}

/* --------------------------------------------------------- prefix index */

/*
 * The hashes are chosen by user space: keyed with the pool's random key, so
 * no caller can aim many of them at one bucket and make every lookup of the
 * pool's users walk a long chain under the pool's lock.
 */
static u32 *kvcore_bucket(struct accelkv_kvcore *kv, u64 hash)
{
	return &kv->buckets[kvcore_siphash_u64(hash, &kv->hash_key) >>
			    (64 - kv->hash_bits)];
}

static u32 kvcore_index_find(struct accelkv_kvcore *kv, u64 hash)
{
	u32 b;

	for (b = *kvcore_bucket(kv, hash); b != ACCELKV_KVCORE_NIL;
	     b = kv->hnext[b])
		if (kv->hash[b] == hash)
			return b;
	return ACCELKV_KVCORE_NIL;
}

static void kvcore_index_add(struct accelkv_kvcore *kv, u32 b, u64 hash)
{
	u32 *head = kvcore_bucket(kv, hash);

	kv->hash[b] = hash;
	kv->flags[b] |= ACCELKV_KVCORE_PUBLISHED;
	kv->hnext[b] = *head;
	*head = b;
}

static void kvcore_index_del(struct accelkv_kvcore *kv, u32 b)
{
	u32 *link = kvcore_bucket(kv, kv->hash[b]);

	while (*link != b)
		link = &kv->hnext[*link];
	*link = kv->hnext[b];
	kv->hnext[b] = ACCELKV_KVCORE_NIL;
	kv->flags[b] &= ~ACCELKV_KVCORE_PUBLISHED;
	kv->hash[b] = 0;
}

/* ------------------------------------------------------ block references */

static void kvcore_take_ref(struct accelkv_kvcore *kv, u32 b)
{
	if (!kv->refs[b]) {
		/* Only published blocks are found without a reference. */
		kvcore_lru_remove(kv, b);
		kv->nr_used++;
	}
	kv->refs[b]++;
}

static void kvcore_drop_refs(struct accelkv_kvcore *kv, u32 b, u32 n)
{
	b = kvcore_index_nospec(b, kv->num_blocks);	/* ids come from users */
	kv->refs[b] -= n;
	if (kv->refs[b])
		return;
	kv->nr_used--;
	if (kv->flags[b] & ACCELKV_KVCORE_PUBLISHED)
		kvcore_lru_add_tail(kv, b);
	else
		kv->free_stack[kv->nr_free++] = b;
}

/* ------------------------------------------------------------- owners */

void accelkv_kvcore_owner_init(struct accelkv_kvcore_owner *owner)
{
	kvcore_map_init(&owner->map);
	owner->nr_refs = 0;
}

u32 accelkv_kvcore_owner_count(struct accelkv_kvcore_owner *owner, u32 block)
{
	return kvcore_map_get(&owner->map, block);
}

static int kvcore_owner_get(struct accelkv_kvcore *kv,
			    struct accelkv_kvcore_owner *owner, u32 b)
{
	u32 c = kvcore_map_get(&owner->map, b);
	int ret;

	/* c <= the block's count < max_refs <= INT_MAX: c + 1 cannot wrap */
	ret = kvcore_map_store(&owner->map, kv->num_blocks, b, c + 1);
	if (!ret)
		owner->nr_refs++;
	return ret;
}

static void kvcore_owner_put(struct accelkv_kvcore_owner *owner, u32 b)
{
	u32 c = kvcore_map_get(&owner->map, b);

	if (c <= 1)
		kvcore_map_erase(&owner->map, b);
	else
		kvcore_map_replace(&owner->map, b, c - 1);
	owner->nr_refs--;
}

/*
 * One more reference on a block that already has one or is cached, for
 * @owner: -EOVERFLOW at kv->max_refs (refcount semantics: refuse, never
 * wrap), -ENOMEM if the owner's entry cannot be stored.
 */
static int kvcore_get(struct accelkv_kvcore *kv,
		      struct accelkv_kvcore_owner *owner, u32 b)
{
	int ret;

	b = kvcore_index_nospec(b, kv->num_blocks);
	if (kv->refs[b] >= kv->max_refs)
		return -EOVERFLOW;
	ret = kvcore_owner_get(kv, owner, b);
	if (ret)
		return ret;
	kvcore_take_ref(kv, b);
	return 0;
}

/* Undo kvcore_get() on @ids[0..@n-1], last first. */
static void kvcore_put_n(struct accelkv_kvcore *kv,
			 struct accelkv_kvcore_owner *owner, const u32 *ids,
			 u32 n)
{
	while (n--) {
		kvcore_owner_put(owner, ids[n]);
		kvcore_drop_refs(kv, ids[n], 1);
	}
}

void accelkv_kvcore_owner_release(struct accelkv_kvcore *kv,
				  struct accelkv_kvcore_owner *owner)
{
	u32 b = 0, c;

	while (owner->nr_refs &&
	       kvcore_map_next(&owner->map, kv->num_blocks, &b, &c)) {
		kvcore_drop_refs(kv, b, c);
		owner->nr_refs -= c;
		b++;
		kvcore_cond_resched();
	}
	kvcore_map_destroy(&owner->map);
	owner->nr_refs = 0;
}

/* ------------------------------------------------------------ the calls */

int accelkv_kvcore_alloc(struct accelkv_kvcore *kv,
			 struct accelkv_kvcore_owner *owner, u32 *ids, u32 count)
{
	u32 i, b;
	int ret;

	if (!count)
		return -EINVAL;
	if (count > kv->num_blocks || (u64)kv->nr_free + kv->nr_cached < count)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		if (kv->nr_free) {
			b = kv->free_stack[--kv->nr_free];
		} else {
			/* Evict the least recently released published block. */
			b = kv->lru_head;
			kvcore_lru_remove(kv, b);
			kvcore_index_del(kv, b);
		}
		kv->refs[b] = 1;
		kv->nr_used++;
		ids[i] = b;
	}
	for (i = 0; i < count; i++) {
		ret = kvcore_owner_get(kv, owner, ids[i]);
		if (ret)
			goto err_unown;
	}
	return 0;

err_unown:
	while (i--)
		kvcore_owner_put(owner, ids[i]);
	/* Evicted blocks lose their cached contents: they go back free. */
	for (i = count; i--;)
		kvcore_drop_refs(kv, ids[i], 1);
	return ret;
}

int accelkv_kvcore_free(struct accelkv_kvcore *kv,
			struct accelkv_kvcore_owner *owner, const u32 *ids,
			u32 count)
{
	u32 i, c;

	if (!count)
		return -EINVAL;
	/* Check pass: consume the owner's counts, so duplicates add up. */
	for (i = 0; i < count; i++) {
		c = ids[i] < kv->num_blocks ?
			kvcore_map_get(&owner->map, ids[i]) : 0;
		if (!c)
			goto err_restore;
		kvcore_map_replace(&owner->map, ids[i], c - 1);
		kvcore_cond_resched();
	}
	for (i = 0; i < count; i++) {
		if (!kvcore_map_get(&owner->map, ids[i]))
			kvcore_map_erase(&owner->map, ids[i]);
		owner->nr_refs--;
		kvcore_drop_refs(kv, ids[i], 1);
	}
	return 0;

err_restore:
	while (i--)
		kvcore_map_replace(&owner->map, ids[i],
				   kvcore_map_get(&owner->map, ids[i]) + 1);
	return -ENOENT;
}

int accelkv_kvcore_ref(struct accelkv_kvcore *kv,
		       struct accelkv_kvcore_owner *owner, const u32 *ids,
		       u32 count)
{
	u32 i;
	int ret;

	if (!count)
		return -EINVAL;
	for (i = 0; i < count; i++)
		if (ids[i] >= kv->num_blocks ||
		    !kvcore_map_get(&owner->map, ids[i]))
			return -ENOENT;
	for (i = 0; i < count; i++) {
		/* The owner already holds the block: only the limit can fail. */
		ret = kvcore_get(kv, owner, ids[i]);
		if (ret) {
			kvcore_put_n(kv, owner, ids, i);
			return ret;
		}
		kvcore_cond_resched();
	}
	return 0;
}

int accelkv_kvcore_publish(struct accelkv_kvcore *kv,
			   struct accelkv_kvcore_owner *owner, const u32 *ids,
			   const u64 *hashes, u32 count, u32 *published)
{
	u32 i, b, n = 0;
	int ret = 0;

	if (!count)
		return -EINVAL;
	/* Check pass; PENDING + hash catch a block listed twice. */
	for (i = 0; i < count; i++) {
		b = ids[i];
		if (b >= kv->num_blocks || !kvcore_map_get(&owner->map, b)) {
			ret = -ENOENT;
			break;
		}
		b = kvcore_index_nospec(b, kv->num_blocks);
		if (kv->flags[b] &
		    (ACCELKV_KVCORE_PUBLISHED | ACCELKV_KVCORE_PENDING)) {
			if (kv->hash[b] != hashes[i]) {
				ret = -EINVAL;
				break;
			}
			continue;
		}
		kv->flags[b] |= ACCELKV_KVCORE_PENDING;
		kv->hash[b] = hashes[i];
	}
	if (ret) {
		while (i--) {
			b = kvcore_index_nospec(ids[i], kv->num_blocks);
			if (kv->flags[b] & ACCELKV_KVCORE_PENDING) {
				kv->flags[b] &= ~ACCELKV_KVCORE_PENDING;
				kv->hash[b] = 0;
			}
		}
		return ret;
	}
	for (i = 0; i < count; i++) {
		kvcore_cond_resched();
		b = kvcore_index_nospec(ids[i], kv->num_blocks);
		if (!(kv->flags[b] & ACCELKV_KVCORE_PENDING))
			continue;	/* already published, or listed before */
		kv->flags[b] &= ~ACCELKV_KVCORE_PENDING;
		if (kvcore_index_find(kv, hashes[i]) != ACCELKV_KVCORE_NIL) {
			kv->hash[b] = 0;	/* the first block keeps the hash */
			continue;
		}
		kvcore_index_add(kv, b, hashes[i]);
		n++;
	}
	*published = n;
	return 0;
}

int accelkv_kvcore_peek_evict(struct accelkv_kvcore *kv, u32 count, u32 *ids,
			      u64 *hashes, u32 *found)
{
	u32 n = 0, b = kv->lru_head;

	if (!count || count > kv->num_blocks)
		return -EINVAL;
	/* ALLOC takes free blocks first, then the LRU's head onwards */
	while (count > kv->nr_free + n && b != ACCELKV_KVCORE_NIL) {
		kvcore_cond_resched();
		ids[n] = b;
		hashes[n] = kv->hash[b];
		n++;
		b = kv->lru_next[b];
	}
	*found = n;
	return 0;
}

int accelkv_kvcore_lookup(struct accelkv_kvcore *kv,
			  struct accelkv_kvcore_owner *owner, const u64 *hashes,
			  u32 count, u32 *ids, u32 *found)
{
	u32 i, n, b;
	int ret;

	if (!count)
		return -EINVAL;
	for (n = 0; n < count; n++) {
		kvcore_cond_resched();
		b = kvcore_index_find(kv, hashes[n]);
		if (b == ACCELKV_KVCORE_NIL)
			break;
		ids[n] = b;
	}
	for (i = 0; i < n; i++) {
		ret = kvcore_get(kv, owner, ids[i]);
		if (ret) {
			kvcore_put_n(kv, owner, ids, i);
			return ret;
		}
	}
	kv->prefix_queries += count;
	kv->prefix_hits += n;
	*found = n;
	return 0;
}

/* ------------------------------------------------------------ invariants */

int accelkv_kvcore_check(struct accelkv_kvcore *kv)
{
	u32 b, i, nfree = 0, ncached = 0, nused = 0, npub = 0, nindexed = 0;
	u32 prev = ACCELKV_KVCORE_NIL;

	for (i = 0; i < kv->nr_free; i++) {
		b = kv->free_stack[i];
		if (b >= kv->num_blocks || kv->refs[b] || kv->flags[b])
			return -EUCLEAN;
		nfree++;
	}
	for (b = kv->lru_head; b != ACCELKV_KVCORE_NIL; b = kv->lru_next[b]) {
		if (b >= kv->num_blocks || kv->refs[b] ||
		    !(kv->flags[b] & ACCELKV_KVCORE_PUBLISHED) ||
		    kv->lru_prev[b] != prev || ++ncached > kv->num_blocks)
			return -EUCLEAN;
		prev = b;
	}
	if (prev != kv->lru_tail)
		return -EUCLEAN;
	for (b = 0; b < kv->num_blocks; b++) {
		if (kv->flags[b] & ACCELKV_KVCORE_PENDING)
			return -EUCLEAN;
		nused += kv->refs[b] > 0;
		if (kv->flags[b] & ACCELKV_KVCORE_PUBLISHED) {
			npub++;
			if (kvcore_index_find(kv, kv->hash[b]) != b)
				return -EUCLEAN;
		}
	}
	for (i = 0; i < 1U << kv->hash_bits; i++)
		for (b = kv->buckets[i]; b != ACCELKV_KVCORE_NIL; b = kv->hnext[b])
			if (b >= kv->num_blocks || ++nindexed > kv->num_blocks)
				return -EUCLEAN;
	if (nfree != kv->nr_free || ncached != kv->nr_cached ||
	    nused != kv->nr_used || npub != nindexed ||
	    nfree + ncached + nused != kv->num_blocks)
		return -EUCLEAN;
	return 0;
}
