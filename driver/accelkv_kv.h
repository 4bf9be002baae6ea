/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * accelkv: the KV state of one pool, the shared allocator and prefix index
 * (kvcore/accelkv_kvcore.c, the same source libaccel's emulation runs)
 * under the pool's mutex. The caller holds kv->lock around every call but
 * init/fini; these wrappers assert it.
 */
#ifndef _ACCELKV_KV_H_
#define _ACCELKV_KV_H_

#include <linux/mutex.h>

#include "accelkv_kvcore.h"

/**
 * struct accelkv_kv - KV blocks of one pool
 * @lock: protects @core and every struct accelkv_kvcore_owner of this pool
 * @core: block states and the prefix index
 */
struct accelkv_kv {
	struct mutex lock; /* see above: @core and the pool's owners */
	struct accelkv_kvcore core;
};

#define ACCELKV_KV_MAX_REFS	ACCELKV_KVCORE_MAX_REFS

int accelkv_kv_init(struct accelkv_kv *kv, u32 num_blocks, u32 max_refs);
void accelkv_kv_fini(struct accelkv_kv *kv);

void accelkv_kv_owner_release(struct accelkv_kv *kv,
			      struct accelkv_kvcore_owner *owner);
int accelkv_kv_alloc(struct accelkv_kv *kv, struct accelkv_kvcore_owner *owner,
		     u32 *ids, u32 count);
int accelkv_kv_free(struct accelkv_kv *kv, struct accelkv_kvcore_owner *owner,
		    const u32 *ids, u32 count);
int accelkv_kv_ref(struct accelkv_kv *kv, struct accelkv_kvcore_owner *owner,
		   const u32 *ids, u32 count);
int accelkv_kv_publish(struct accelkv_kv *kv,
		       struct accelkv_kvcore_owner *owner, const u32 *ids,
		       const u64 *hashes, u32 count, u32 *published);
int accelkv_kv_lookup(struct accelkv_kv *kv, struct accelkv_kvcore_owner *owner,
		      const u64 *hashes, u32 count, u32 *ids, u32 *found);
int accelkv_kv_peek_evict(struct accelkv_kv *kv, u32 count, u32 *ids,
			  u64 *hashes, u32 *found);

#endif /* _ACCELKV_KV_H_ */
