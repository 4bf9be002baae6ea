/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * accelkv kvcore: the kernel's environment. What accelkv_kvcore.c needs
 * from its host, built on the kernel's own primitives: allocation charged
 * to the caller's memory cgroup, get_random_bytes, siphash_1u64,
 * array_index_nospec, cond_resched, and an owner's block -> count map as
 * an xarray (sparse: an open file holds few of a pool's blocks).
 */
#ifndef _ACCELKV_KVCORE_ENV_KERNEL_H_
#define _ACCELKV_KVCORE_ENV_KERNEL_H_

#include <linux/errno.h>
#include <linux/limits.h>
#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/types.h>
#include <linux/xarray.h>

/* the bucket hash's key: siphash's own */
struct kvcore_hash_key {
	siphash_key_t sip;
};

static inline void *kvcore_alloc_array(size_t n, size_t size)
{
	return kvmalloc_array(n, size, GFP_KERNEL_ACCOUNT);
}

static inline void *kvcore_zalloc_array(size_t n, size_t size)
{
	return kvcalloc(n, size, GFP_KERNEL_ACCOUNT);
}

static inline void kvcore_free(void *p)
{
	kvfree(p);
}

static inline int kvcore_random_key(struct kvcore_hash_key *key)
{
	get_random_bytes(key, sizeof(*key));
	return 0;
}

static inline u64 kvcore_siphash_u64(u64 x, const struct kvcore_hash_key *key)
{
	return siphash_1u64(x, &key->sip);
}

#define kvcore_index_nospec(idx, size)	array_index_nospec(idx, size)
#define kvcore_cond_resched()		cond_resched()

/**
 * struct kvcore_owner_map - block id -> references one owner holds
 * @xa: entries are xa_mk_value(count); an entry of count 0 exists only
 *	inside one call (accelkv_kvcore_free's check pass)
 */
struct kvcore_owner_map {
	struct xarray xa;
};

static inline void kvcore_map_init(struct kvcore_owner_map *m)
{
	xa_init(&m->xa);
}

static inline u32 kvcore_map_get(struct kvcore_owner_map *m, u32 b)
{
	void *entry = xa_load(&m->xa, b);

	return entry ? xa_to_value(entry) : 0;
}

/* Set @b's count to @c, creating the entry: 0 or -ENOMEM. */
static inline int kvcore_map_store(struct kvcore_owner_map *m, u32 nblocks,
				   u32 b, u32 c)
{
	return xa_err(xa_store(&m->xa, b, xa_mk_value(c), GFP_KERNEL_ACCOUNT));
}

/* Set the count of @b, which has an entry: replaces it, never allocates. */
static inline void kvcore_map_replace(struct kvcore_owner_map *m, u32 b, u32 c)
{
	xa_store(&m->xa, b, xa_mk_value(c), GFP_KERNEL_ACCOUNT);
}

static inline void kvcore_map_erase(struct kvcore_owner_map *m, u32 b)
{
	xa_erase(&m->xa, b);
}

/* The first entry at or after *@b (below @nblocks): true with *@b, *@c set. */
static inline bool kvcore_map_next(struct kvcore_owner_map *m, u32 nblocks,
				   u32 *b, u32 *c)
{
	unsigned long idx = *b;
	void *entry;

	if (*b >= nblocks)
		return false;
	entry = xa_find(&m->xa, &idx, nblocks - 1, XA_PRESENT);

	if (!entry)
		return false;
	*b = idx;
	*c = xa_to_value(entry);
	return true;
}

static inline void kvcore_map_destroy(struct kvcore_owner_map *m)
{
	xa_destroy(&m->xa);
}

#endif /* _ACCELKV_KVCORE_ENV_KERNEL_H_ */
