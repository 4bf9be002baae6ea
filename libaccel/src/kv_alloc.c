// SPDX-License-Identifier: MIT
/*
 * KV block allocator (see kv_alloc.h): free stack, LRU of cached blocks,
 * per-owner references and the prefix index. Every multi-block call checks
 * all of its arguments before changing anything (all or nothing).
 */
#include <errno.h>
#include <stdlib.h>
#include "accelkv.h"
#include "kv_alloc.h"

int accel_kva_init(struct accel_kv_alloc *a, uint32_t nblocks)
{
	int ret;

	if (!nblocks || nblocks > ACCELKV_MAX_KV_BLOCKS)
		return -EINVAL;
	a->nblocks = nblocks;
	a->blocks = calloc(nblocks, sizeof(*a->blocks));
	if (!a->blocks)
		return -ENOMEM;
	ret = accel_pi_init(&a->pi, nblocks);
	if (ret) {
		free(a->blocks);
		a->blocks = NULL;
		return ret;
	}
	/* push in reverse so that block 0 is allocated first */
	a->free_head = ACCEL_KV_NIL;
	for (uint32_t b = nblocks; b-- > 0;) {
		a->blocks[b].next = a->free_head;
		a->blocks[b].prev = ACCEL_KV_NIL;
		a->free_head = b;
	}
	a->lru_head = a->lru_tail = ACCEL_KV_NIL;
	a->nfree = nblocks;
	a->nused = a->ncached = 0;
	a->queries = a->hits = 0;
	return 0;
}

void accel_kva_fini(struct accel_kv_alloc *a)
{
	accel_pi_fini(&a->pi);
	free(a->blocks);
	a->blocks = NULL;
	a->nblocks = 0;
}

static int accel_kva_owner_ready(struct accel_kv_alloc *a, struct accel_kv_owner *o)
{
	if (o->refs)
		return 0;
	o->refs = calloc(a->nblocks, sizeof(*o->refs));
	return o->refs ? 0 : -ENOMEM;
}

static void accel_kva_lru_unlink(struct accel_kv_alloc *a, uint32_t b)
{
	struct accel_kv_block *k = &a->blocks[b];

	if (k->prev != ACCEL_KV_NIL)
		a->blocks[k->prev].next = k->next;
	else
		a->lru_head = k->next;
	if (k->next != ACCEL_KV_NIL)
		a->blocks[k->next].prev = k->prev;
	else
		a->lru_tail = k->prev;
	k->prev = k->next = ACCEL_KV_NIL;
}

/* accel_kva_unref - drop @n references of block @b (the owner side is done) */
static void accel_kva_unref(struct accel_kv_alloc *a, uint32_t b, uint32_t n)
{
	struct accel_kv_block *k = &a->blocks[b];

	k->refs -= n;
	if (k->refs)
		return;
	a->nused--;
	if (k->published) {
		k->state = ACCEL_KV_CACHED;
		k->next = ACCEL_KV_NIL;
		k->prev = a->lru_tail;
		if (a->lru_tail != ACCEL_KV_NIL)
			a->blocks[a->lru_tail].next = b;
		else
			a->lru_head = b;
		a->lru_tail = b;
		a->ncached++;
	} else {
		k->state = ACCEL_KV_FREE;
		k->prev = ACCEL_KV_NIL;
		k->next = a->free_head;
		a->free_head = b;
		a->nfree++;
	}
}

/* accel_kva_take - first reference on a free or cached block, for @o */
static void accel_kva_take(struct accel_kv_alloc *a, struct accel_kv_owner *o, uint32_t b)
{
	struct accel_kv_block *k = &a->blocks[b];

	if (k->state == ACCEL_KV_CACHED) {
		accel_kva_lru_unlink(a, b);
		a->ncached--;
		a->nused++;
	} else if (k->state == ACCEL_KV_FREE) {
		a->nfree--;
		a->nused++;
	}
	k->state = ACCEL_KV_USED;
	k->refs++;
	o->refs[b]++;
	o->held++;
}

int accel_kva_alloc(struct accel_kv_alloc *a, struct accel_kv_owner *o, uint32_t count,
		    uint32_t *out)
{
	int ret;

	if (!count || count > ACCELKV_MAX_KV_BLOCKS)
		return -EINVAL;
	if ((uint64_t)a->nfree + a->ncached < count)
		return -ENOMEM;
	ret = accel_kva_owner_ready(a, o);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t b;

		if (a->free_head != ACCEL_KV_NIL) {
			b = a->free_head;
			a->free_head = a->blocks[b].next;
			a->blocks[b].next = ACCEL_KV_NIL;
		} else {
			/* evict the least recently cached block from the index */
			b = a->lru_head;
			accel_pi_remove(&a->pi, a->blocks[b].hash);
			a->blocks[b].published = 0;
		}
		accel_kva_take(a, o, b);
		out[i] = b;
	}
	return 0;
}

int accel_kva_free(struct accel_kv_alloc *a, struct accel_kv_owner *o, uint32_t count,
		   const uint32_t *ids)
{
	uint32_t i;

	if (!count || count > ACCELKV_MAX_KV_BLOCKS)
		return -EINVAL;
	if (!o->refs)
		return -ENOENT;
	/* check: take the owner's references one by one, undo on a miss */
	for (i = 0; i < count; i++) {
		if (ids[i] >= a->nblocks || !o->refs[ids[i]])
			break;
		o->refs[ids[i]]--;
	}
	if (i < count) {
		while (i-- > 0)
			o->refs[ids[i]]++;
		return -ENOENT;
	}
	o->held -= count;
	for (i = 0; i < count; i++)
		accel_kva_unref(a, ids[i], 1);
	return 0;
}

int accel_kva_ref(struct accel_kv_alloc *a, struct accel_kv_owner *o, uint32_t count,
		  const uint32_t *ids)
{
	uint32_t i;

	if (!count || count > ACCELKV_MAX_KV_BLOCKS)
		return -EINVAL;
	if (!o->refs)
		return -ENOENT;
	for (i = 0; i < count; i++) {
		if (ids[i] >= a->nblocks || !o->refs[ids[i]])
			return -ENOENT;
		if (a->blocks[ids[i]].refs > UINT32_MAX - count)
			return -EOVERFLOW;
	}
	for (i = 0; i < count; i++) {
		a->blocks[ids[i]].refs++;
		o->refs[ids[i]]++;
	}
	o->held += count;
	return 0;
}

int accel_kva_publish(struct accel_kv_alloc *a, struct accel_kv_owner *o, uint32_t count,
		      const uint32_t *ids, const uint64_t *hashes)
{
	int ret = 0, n = 0;
	uint32_t i;

	if (!count || count > ACCELKV_MAX_KV_BLOCKS)
		return -EINVAL;
	if (!o->refs)
		return -ENOENT;
	/* check pass: held, and one hash per block (already published or
	 * named twice in this call) */
	for (i = 0; i < count && !ret; i++) {
		struct accel_kv_block *k;

		if (ids[i] >= a->nblocks || !o->refs[ids[i]]) {
			ret = -ENOENT;
			break;
		}
		k = &a->blocks[ids[i]];
		if (k->published || k->pending) {
			if (k->hash != hashes[i])
				ret = -EINVAL;
		} else {
			k->pending = 1;
			k->hash = hashes[i];
		}
	}
	for (uint32_t j = 0; j < i; j++)
		a->blocks[ids[j]].pending = 0;
	if (ret)
		return ret;
	for (i = 0; i < count; i++) {
		struct accel_kv_block *k = &a->blocks[ids[i]];

		if (k->published)
			continue;
		if (accel_pi_insert(&a->pi, hashes[i], ids[i]))
			continue;	/* hash already indexed: the first block keeps it */
		k->published = 1;
		n++;
	}
	return n;
}

int accel_kva_lookup(struct accel_kv_alloc *a, struct accel_kv_owner *o, uint32_t count,
		     const uint64_t *hashes, uint32_t *out)
{
	uint32_t n;
	int ret;

	if (!count || count > ACCELKV_MAX_KV_BLOCKS)
		return -EINVAL;
	ret = accel_kva_owner_ready(a, o);
	if (ret)
		return ret;
	a->queries += count;
	for (n = 0; n < count; n++) {
		int64_t b = accel_pi_find(&a->pi, hashes[n]);

		if (b < 0 || a->blocks[b].refs == UINT32_MAX)
			break;
		accel_kva_take(a, o, (uint32_t)b);
		out[n] = (uint32_t)b;
	}
	a->hits += n;
	return (int)n;
}

void accel_kva_owner_release(struct accel_kv_alloc *a, struct accel_kv_owner *o)
{
	if (o->refs) {
		for (uint32_t b = 0; b < a->nblocks && o->held; b++) {
			if (!o->refs[b])
				continue;
			o->held -= o->refs[b];
			accel_kva_unref(a, b, o->refs[b]);
		}
		free(o->refs);
	}
	o->refs = NULL;
	o->held = 0;
}

int accel_kva_check(const struct accel_kv_alloc *a)
{
	uint32_t nfree = 0, nused = 0, ncached = 0, npub = 0, prev = ACCEL_KV_NIL;

	for (uint32_t b = a->free_head; b != ACCEL_KV_NIL; b = a->blocks[b].next) {
		if (b >= a->nblocks || a->blocks[b].state != ACCEL_KV_FREE ||
		    a->blocks[b].refs || a->blocks[b].published || ++nfree > a->nblocks)
			return -EUCLEAN;
	}
	for (uint32_t b = a->lru_head; b != ACCEL_KV_NIL; b = a->blocks[b].next) {
		if (b >= a->nblocks || a->blocks[b].state != ACCEL_KV_CACHED ||
		    a->blocks[b].refs || !a->blocks[b].published || a->blocks[b].prev != prev ||
		    ++ncached > a->nblocks)
			return -EUCLEAN;
		prev = b;
	}
	if (prev != a->lru_tail)
		return -EUCLEAN;
	for (uint32_t b = 0; b < a->nblocks; b++) {
		const struct accel_kv_block *k = &a->blocks[b];

		if (k->state == ACCEL_KV_USED) {
			if (!k->refs)
				return -EUCLEAN;
			nused++;
		}
		if (k->published) {
			npub++;
			if (accel_pi_find(&a->pi, k->hash) != b)
				return -EUCLEAN;
		}
		if (k->pending)
			return -EUCLEAN;
	}
	if (nfree != a->nfree || ncached != a->ncached || nused != a->nused ||
	    nfree + ncached + nused != a->nblocks || npub != a->pi.count)
		return -EUCLEAN;
	return 0;
}
