// SPDX-License-Identifier: MIT
/*
 * Emulated KV calls: kvcore (kvcore/accelkv_kvcore.c, the allocator and
 * prefix index the driver runs too) under the pool core's mutex, with this
 * handle as the owner of the references. kvcore reports PUBLISH and LOOKUP
 * counts through pointers, as the ioctls do; accel.h returns them.
 */
#include "emu.h"

static struct accel_emu_core *accel_emu_kv_lock(struct accel_pool *pool)
{
	struct accel_emu_pool *ep = pool->priv;

	pthread_mutex_lock(&ep->core->lock);
	return ep->core;
}

static inline struct accelkv_kvcore_owner *accel_emu_owner(struct accel_pool *pool)
{
	return &((struct accel_emu_pool *)pool->priv)->owner;
}

int accel_emu_kv_alloc(struct accel_pool *pool, uint32_t count, uint32_t *blocks)
{
	struct accel_emu_core *c = accel_emu_kv_lock(pool);
	int ret = accelkv_kvcore_alloc(&c->kv, accel_emu_owner(pool), blocks, count);

	pthread_mutex_unlock(&c->lock);
	return ret;
}

int accel_emu_kv_free(struct accel_pool *pool, uint32_t count, const uint32_t *blocks)
{
	struct accel_emu_core *c = accel_emu_kv_lock(pool);
	int ret = accelkv_kvcore_free(&c->kv, accel_emu_owner(pool), blocks, count);

	pthread_mutex_unlock(&c->lock);
	return ret;
}

int accel_emu_kv_ref(struct accel_pool *pool, uint32_t count, const uint32_t *blocks)
{
	struct accel_emu_core *c = accel_emu_kv_lock(pool);
	int ret = accelkv_kvcore_ref(&c->kv, accel_emu_owner(pool), blocks, count);

	pthread_mutex_unlock(&c->lock);
	return ret;
}

int accel_emu_kv_publish(struct accel_pool *pool, uint32_t count, const uint32_t *blocks,
			 const uint64_t *hashes)
{
	struct accel_emu_core *c = accel_emu_kv_lock(pool);
	uint32_t published = 0;
	int ret = accelkv_kvcore_publish(&c->kv, accel_emu_owner(pool), blocks, hashes, count,
					 &published);

	pthread_mutex_unlock(&c->lock);
	return ret ? ret : (int)published;
}

int accel_emu_kv_lookup(struct accel_pool *pool, uint32_t count, const uint64_t *hashes,
			uint32_t *blocks)
{
	struct accel_emu_core *c = accel_emu_kv_lock(pool);
	uint32_t found = 0;
	int ret = accelkv_kvcore_lookup(&c->kv, accel_emu_owner(pool), hashes, count, blocks,
					&found);

	pthread_mutex_unlock(&c->lock);
	return ret ? ret : (int)found;
}

int accel_emu_kv_peek_evict(struct accel_pool *pool, uint32_t count, uint32_t *blocks,
			    uint64_t *hashes)
{
	struct accel_emu_core *c = accel_emu_kv_lock(pool);
	uint32_t found = 0;
	int ret = accelkv_kvcore_peek_evict(&c->kv, count, blocks, hashes, &found);

	pthread_mutex_unlock(&c->lock);
	return ret ? ret : (int)found;
}
