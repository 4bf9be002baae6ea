/* SPDX-License-Identifier: MIT */
/*
 * KV block allocator: the pure logic behind accel_kv_* (and the model for
 * the driver's accelkv_kv.c). Blocks are refcounted; each reference belongs
 * to an owner (a pool handle, as a DRM file owns its references) so that an
 * owner going away drops exactly what it held. Unreferenced blocks are free,
 * or cached (published: still in the prefix index) in LRU order and evicted
 * by alloc when no free block is left. No locking here: callers serialise.
 */
#ifndef ACCEL_KV_ALLOC_H
#define ACCEL_KV_ALLOC_H

#include <stdint.h>
#include "prefix_index.h"

#define ACCEL_KV_NIL	UINT32_MAX

enum accel_kv_state {
	ACCEL_KV_FREE = 0,	/* on the free stack */
	ACCEL_KV_USED,		/* refs > 0 */
	ACCEL_KV_CACHED,	/* refs == 0, published, on the LRU */
};

struct accel_kv_block {
	uint64_t hash;		/* valid if published (or pending in publish) */
	uint32_t refs;		/* references over all owners */
	uint32_t prev, next;	/* LRU links; next also links the free stack */
	uint8_t state;		/* enum accel_kv_state */
	uint8_t published;
	uint8_t pending;	/* scratch of accel_kva_publish's check pass */
	uint8_t pad;
};

struct accel_kv_alloc {
	uint32_t nblocks;
	struct accel_kv_block *blocks;
	uint32_t free_head;	/* free stack */
	uint32_t lru_head;	/* least recently cached: evicted first */
	uint32_t lru_tail;
	uint32_t nfree, nused, ncached;
	struct accel_prefix_index pi;
	uint64_t queries, hits;
};

/* struct accel_kv_owner - what one owner holds: refs[b] references on b */
struct accel_kv_owner {
	uint32_t *refs;		/* nblocks counters, allocated on first use */
	uint64_t held;		/* sum of refs[] */
};

int accel_kva_init(struct accel_kv_alloc *a, uint32_t nblocks);
void accel_kva_fini(struct accel_kv_alloc *a);

/* The calls of accel.h, for owner @o; same returns and errors. */
int accel_kva_alloc(struct accel_kv_alloc *a, struct accel_kv_owner *o, uint32_t count,
		    uint32_t *out);
int accel_kva_free(struct accel_kv_alloc *a, struct accel_kv_owner *o, uint32_t count,
		   const uint32_t *ids);
int accel_kva_ref(struct accel_kv_alloc *a, struct accel_kv_owner *o, uint32_t count,
		  const uint32_t *ids);
int accel_kva_publish(struct accel_kv_alloc *a, struct accel_kv_owner *o, uint32_t count,
		      const uint32_t *ids, const uint64_t *hashes);
int accel_kva_lookup(struct accel_kv_alloc *a, struct accel_kv_owner *o, uint32_t count,
		     const uint64_t *hashes, uint32_t *out);
/* accel_kva_owner_release - drop every reference @o holds; frees its table */
void accel_kva_owner_release(struct accel_kv_alloc *a, struct accel_kv_owner *o);
/* accel_kva_check - verify the invariants (lists, counters, index); 0 or -EUCLEAN */
int accel_kva_check(const struct accel_kv_alloc *a);

#endif /* ACCEL_KV_ALLOC_H */
