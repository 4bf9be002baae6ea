// SPDX-License-Identifier: MIT
/*
 * accel_kv_*: the public KV block and prefix-index calls. Checks what does
 * not depend on the backend (pool kind, counts, pointers), then calls the
 * backend. Also accel_kv_hash, the chained block hash (xxHash64-style
 * rounds over the tokens' values, so it is the same on every machine).
 */
#include <errno.h>
#include "accelkv.h"
#include "backend.h"

static int accel_kv_check(struct accel_pool *pool, uint32_t count, const void *a, const void *b)
{
	if (!pool || !a || !b)
		return -EINVAL;
	if (!pool->block_size)
		return -EOPNOTSUPP;
	if (!count || count > ACCELKV_MAX_KV_BLOCKS)
		return -EINVAL;
	return 0;
}

int accel_kv_alloc(struct accel_pool *pool, uint32_t count, uint32_t *blocks)
{
	int ret = accel_kv_check(pool, count, blocks, blocks);

	return ret ? ret : pool->dev->ops->kv_alloc(pool, count, blocks);
}

int accel_kv_free(struct accel_pool *pool, uint32_t count, const uint32_t *blocks)
{
	int ret = accel_kv_check(pool, count, blocks, blocks);

	return ret ? ret : pool->dev->ops->kv_free(pool, count, blocks);
}

int accel_kv_ref(struct accel_pool *pool, uint32_t count, const uint32_t *blocks)
{
	int ret = accel_kv_check(pool, count, blocks, blocks);

	return ret ? ret : pool->dev->ops->kv_ref(pool, count, blocks);
}

int accel_kv_publish(struct accel_pool *pool, uint32_t count, const uint32_t *blocks,
		     const uint64_t *hashes)
{
	int ret = accel_kv_check(pool, count, blocks, hashes);

	return ret ? ret : pool->dev->ops->kv_publish(pool, count, blocks, hashes);
}

int accel_kv_lookup(struct accel_pool *pool, uint32_t count, const uint64_t *hashes,
		    uint32_t *blocks)
{
	int ret = accel_kv_check(pool, count, blocks, hashes);

	return ret ? ret : pool->dev->ops->kv_lookup(pool, count, hashes, blocks);
}

int accel_kv_peek_evict(struct accel_pool *pool, uint32_t count, uint32_t *blocks,
			uint64_t *hashes)
{
	int ret = accel_kv_check(pool, count, blocks, hashes);

	if (ret)
		return ret;
	if (!pool->dev->ops->kv_peek_evict)
		return -EOPNOTSUPP;
	return pool->dev->ops->kv_peek_evict(pool, count, blocks, hashes);
}

void *accel_kv_block_ptr(struct accel_pool *pool, uint32_t block)
{
	if (!pool || !pool->block_size || block >= pool->num_blocks)
		return NULL;
	return (uint8_t *)pool->base + (uint64_t)block * pool->block_size;
}

#define ACCEL_P1 0x9E3779B185EBCA87ULL
#define ACCEL_P2 0xC2B2AE3D27D4EB4FULL
#define ACCEL_P3 0x165667B19E3779F9ULL
#define ACCEL_P4 0x85EBCA77C2B2AE63ULL
#define ACCEL_P5 0x27D4EB2F165667C5ULL

static inline uint64_t accel_rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

uint64_t accel_kv_hash(uint64_t prev, const int32_t *tokens, uint32_t count)
{
	uint64_t h = prev * ACCEL_P1 + ACCEL_P5 + (uint64_t)count * 4;
	uint32_t i = 0;

	for (; i + 2 <= count; i += 2) {
		uint64_t k = (uint64_t)(uint32_t)tokens[i] |
			     ((uint64_t)(uint32_t)tokens[i + 1] << 32);

		k *= ACCEL_P2;
		k = accel_rotl64(k, 31);
		k *= ACCEL_P1;
		h ^= k;
		h = accel_rotl64(h, 27) * ACCEL_P1 + ACCEL_P4;
	}
	if (i < count) {
		h ^= (uint64_t)(uint32_t)tokens[i] * ACCEL_P1;
		h = accel_rotl64(h, 23) * ACCEL_P2 + ACCEL_P3;
	}
	/* prev once more after the tokens: (prev, tokens) and (prev', tokens')
	 * collide only if the whole chain does */
	h ^= accel_rotl64(prev, 17) * ACCEL_P3;
	h ^= h >> 33;
	h *= ACCEL_P2;
	h ^= h >> 29;
	h *= ACCEL_P3;
	h ^= h >> 32;
	return h;
}
