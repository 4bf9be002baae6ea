// SPDX-License-Identifier: GPL-2.0-only
/*
 * accelkv: the kernel side of the KV allocator. The logic is kvcore's
 * (kvcore/accelkv_kvcore.c, shared with libaccel's emulated device); this
 * file owns what is the kernel's alone: the pool's mutex, the lockdep
 * assertions, and the max_refs the module parameter asks for.
 */
#include <linux/lockdep.h>
#include <linux/minmax.h>

#include "accelkv_kv.h"

int accelkv_kv_init(struct accelkv_kv *kv, u32 num_blocks, u32 max_refs)
{
	int ret;

	mutex_init(&kv->lock);
	ret = accelkv_kvcore_init(&kv->core, num_blocks);
	if (ret) {
		mutex_destroy(&kv->lock);
		return ret;
	}
	kv->core.max_refs = clamp_t(u32, max_refs, 1, ACCELKV_KVCORE_MAX_REFS);
	return 0;
}

void accelkv_kv_fini(struct accelkv_kv *kv)
{
	accelkv_kvcore_fini(&kv->core);
	mutex_destroy(&kv->lock);
}

void accelkv_kv_owner_release(struct accelkv_kv *kv,
			      struct accelkv_kvcore_owner *owner)
{
	lockdep_assert_held(&kv->lock);
	accelkv_kvcore_owner_release(&kv->core, owner);
}

int accelkv_kv_alloc(struct accelkv_kv *kv, struct accelkv_kvcore_owner *owner,
		     u32 *ids, u32 count)
{
	lockdep_assert_held(&kv->lock);
	return accelkv_kvcore_alloc(&kv->core, owner, ids, count);
}

int accelkv_kv_free(struct accelkv_kv *kv, struct accelkv_kvcore_owner *owner,
		    const u32 *ids, u32 count)
{
	lockdep_assert_held(&kv->lock);
	return accelkv_kvcore_free(&kv->core, owner, ids, count);
}

int accelkv_kv_ref(struct accelkv_kv *kv, struct accelkv_kvcore_owner *owner,
		   const u32 *ids, u32 count)
{
	lockdep_assert_held(&kv->lock);
	return accelkv_kvcore_ref(&kv->core, owner, ids, count);
}

int accelkv_kv_publish(struct accelkv_kv *kv,
		       struct accelkv_kvcore_owner *owner, const u32 *ids,
		       const u64 *hashes, u32 count, u32 *published)
{
	lockdep_assert_held(&kv->lock);
	return accelkv_kvcore_publish(&kv->core, owner, ids, hashes, count,
				      published);
}

int accelkv_kv_peek_evict(struct accelkv_kv *kv, u32 count, u32 *ids,
			  u64 *hashes, u32 *found)
{
	lockdep_assert_held(&kv->lock);
	return accelkv_kvcore_peek_evict(&kv->core, count, ids, hashes, found);
}

int accelkv_kv_lookup(struct accelkv_kv *kv, struct accelkv_kvcore_owner *owner,
		      const u64 *hashes, u32 count, u32 *ids, u32 *found)
{
	lockdep_assert_held(&kv->lock);
	return accelkv_kvcore_lookup(&kv->core, owner, hashes, count, ids,
				     found);
}
