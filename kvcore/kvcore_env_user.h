/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * accelkv kvcore: the userspace environment (libaccel's emulated device and
 * the unit tests). The same names as kvcore_env_kernel.h over libc:
 * calloc/free, getrandom, a SipHash-2-4 of one 64-bit word equal to the
 * kernel's siphash_1u64 (checked against the reference vectors by the unit
 * test), a plain bound for array_index_nospec (no speculation concern in
 * one process) and no cond_resched. An owner's map is a flat array of
 * nblocks counters, allocated on first use.
 */
#ifndef ACCELKV_KVCORE_ENV_USER_H
#define ACCELKV_KVCORE_ENV_USER_H

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

typedef uint8_t u8;
typedef uint32_t u32;
typedef uint64_t u64;

#ifndef U32_MAX
#define U32_MAX		UINT32_MAX
#endif

/* the bucket hash's key, laid out as the kernel's siphash_key_t */
struct kvcore_hash_key {
	u64 key[2];
};

static inline void *kvcore_alloc_array(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return malloc(n * size + 1);	/* + 1: never malloc(0) */
}

static inline void *kvcore_zalloc_array(size_t n, size_t size)
{
	return calloc(n ? n : 1, size ? size : 1);
}

static inline void kvcore_free(void *p)
{
	free(p);
}

static inline int kvcore_random_key(struct kvcore_hash_key *key)
{
	size_t got = 0;

	while (got < sizeof(*key)) {
		ssize_t r = getrandom((char *)key + got, sizeof(*key) - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	return 0;
}

static inline u64 kvcore_rotl64(u64 x, int r)
{
	return (x << r) | (x >> (64 - r));
}

#define KVCORE_SIPROUND(v0, v1, v2, v3) do {				\
	v0 += v1; v1 = kvcore_rotl64(v1, 13); v1 ^= v0; v0 = kvcore_rotl64(v0, 32); \
	v2 += v3; v3 = kvcore_rotl64(v3, 16); v3 ^= v2;			\
	v0 += v3; v3 = kvcore_rotl64(v3, 21); v3 ^= v0;			\
	v2 += v1; v1 = kvcore_rotl64(v1, 17); v1 ^= v2; v2 = kvcore_rotl64(v2, 32); \
} while (0)

/* SipHash-2-4 of the 8 little-endian bytes of @x, as siphash_1u64(). */
static inline u64 kvcore_siphash_u64(u64 x, const struct kvcore_hash_key *key)
{
	u64 v0 = 0x736f6d6570736575ULL ^ key->key[0];
	u64 v1 = 0x646f72616e646f6dULL ^ key->key[1];
	u64 v2 = 0x6c7967656e657261ULL ^ key->key[0];
	u64 v3 = 0x7465646279746573ULL ^ key->key[1];
	u64 b = (u64)8 << 56;

	v3 ^= x;
	KVCORE_SIPROUND(v0, v1, v2, v3);
	KVCORE_SIPROUND(v0, v1, v2, v3);
	v0 ^= x;
	v3 ^= b;
	KVCORE_SIPROUND(v0, v1, v2, v3);
	KVCORE_SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	KVCORE_SIPROUND(v0, v1, v2, v3);
	KVCORE_SIPROUND(v0, v1, v2, v3);
	KVCORE_SIPROUND(v0, v1, v2, v3);
	KVCORE_SIPROUND(v0, v1, v2, v3);
	return (v0 ^ v1) ^ (v2 ^ v3);
}

#define kvcore_index_nospec(idx, size)	((idx) < (size) ? (idx) : 0)
#define kvcore_cond_resched()		do { } while (0)

/* struct kvcore_owner_map - @counts[b]: references on block b (NULL: none) */
struct kvcore_owner_map {
	u32 *counts;
};

static inline void kvcore_map_init(struct kvcore_owner_map *m)
{
	m->counts = NULL;
}

static inline u32 kvcore_map_get(struct kvcore_owner_map *m, u32 b)
{
	return m->counts ? m->counts[b] : 0;
}

static inline int kvcore_map_store(struct kvcore_owner_map *m, u32 nblocks,
				   u32 b, u32 c)
{
	if (!m->counts) {
		m->counts = calloc(nblocks, sizeof(*m->counts));
		if (!m->counts)
			return -ENOMEM;
	}
	m->counts[b] = c;
	return 0;
}

static inline void kvcore_map_replace(struct kvcore_owner_map *m, u32 b, u32 c)
{
	m->counts[b] = c;
}

static inline void kvcore_map_erase(struct kvcore_owner_map *m, u32 b)
{
	if (m->counts)
		m->counts[b] = 0;
}

/* The first entry at or after *@b (below @nblocks): true with *@b, *@c set. */
static inline bool kvcore_map_next(struct kvcore_owner_map *m, u32 nblocks,
				     u32 *b, u32 *c)
{
	if (!m->counts)
		return false;
	for (; *b < nblocks; (*b)++) {
		if (m->counts[*b]) {
			*c = m->counts[*b];
			return true;
		}
	}
	return false;
}

static inline void kvcore_map_destroy(struct kvcore_owner_map *m)
{
	free(m->counts);
	m->counts = NULL;
}

#endif /* ACCELKV_KVCORE_ENV_USER_H */
