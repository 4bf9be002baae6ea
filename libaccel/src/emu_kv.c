// SPDX-License-Identifier: MIT
/*
 * Emulated KV calls: the pool core's allocator (kv_alloc.c) under the core's
 * mutex, with this handle as the owner of the references.
 */
#include "emu.h"

static struct accel_emu_core *accel_emu_kv_lock(struct accel_pool *pool)
{
	struct accel_emu_pool *ep = pool->priv;

	pthread_mutex_lock(&ep->core->lock);
	return ep->core;
}

static inline struct accel_kv_owner *accel_emu_owner(struct accel_pool *pool)
{
	return &((struct accel_emu_pool *)pool->priv)->owner;
}

int accel_emu_kv_alloc(struct accel_pool *pool, uint32_t count, uint32_t *blocks)
{
	struct accel_emu_core *c = accel_emu_kv_lock(pool);
	int ret = accel_kva_alloc(&c->kva, accel_emu_owner(pool), count, blocks);

	pthread_mutex_unlock(&c->lock);
	return ret;
}

int accel_emu_kv_free(struct accel_pool *pool, uint32_t count, const uint32_t *blocks)
{
	struct accel_emu_core *c = accel_emu_kv_lock(pool);
	int ret = accel_kva_free(&c->kva, accel_emu_owner(pool), count, blocks);

	pthread_mutex_unlock(&c->lock);
	return ret;
}

int accel_emu_kv_ref(struct accel_pool *pool, uint32_t count, const uint32_t *blocks)
{
	struct accel_emu_core *c = accel_emu_kv_lock(pool);
	int ret = accel_kva_ref(&c->kva, accel_emu_owner(pool), count, blocks);

	pthread_mutex_unlock(&c->lock);
	return ret;
}

int accel_emu_kv_publish(struct accel_pool *pool, uint32_t count, const uint32_t *blocks,
			 const uint64_t *hashes)
{
	struct accel_emu_core *c = accel_emu_kv_lock(pool);
	int ret = accel_kva_publish(&c->kva, accel_emu_owner(pool), count, blocks, hashes);

	pthread_mutex_unlock(&c->lock);
	return ret;
}

int accel_emu_kv_lookup(struct accel_pool *pool, uint32_t count, const uint64_t *hashes,
			uint32_t *blocks)
{
	struct accel_emu_core *c = accel_emu_kv_lock(pool);
	int ret = accel_kva_lookup(&c->kva, accel_emu_owner(pool), count, hashes, blocks);

	pthread_mutex_unlock(&c->lock);
	return ret;
}
