/* SPDX-License-Identifier: MIT */
/*
 * The emulated backend's internals, shared by emu_*.c: the device state, a
 * pool's shared core (memory + allocator, one per memfd in the process) and
 * a pool handle (a core plus this handle's KV references).
 */
#ifndef ACCEL_EMU_H
#define ACCEL_EMU_H

#include <sys/types.h>
#include "backend.h"
#include "accelkv_kvcore.h"

struct accel_emu_core {
	struct accel_link link;		/* in the process-wide registry */
	uint32_t handles;		/* handles using the core; registry lock */
	int memfd;
	dev_t st_dev;
	ino_t st_ino;
	void *base;
	uint64_t size;
	uint32_t block_size, num_blocks;
	uint32_t flags;			/* ACCEL_POOL_* asked */
	uint32_t info_flags;		/* HUGEPAGE if obtained, ACCEL_POOL_INFO_PINNED */
	pthread_mutex_t lock;		/* protects kv and every handle's owner */
	struct accelkv_kvcore kv;	/* kvcore, as in the driver; valid if block_size */
};

struct accel_emu_pool {
	struct accel_emu_core *core;
	struct accelkv_kvcore_owner owner; /* this handle's references; core->lock */
};

extern const struct accel_backend_ops accel_emu_ops;

/* emu_pool.c */
int accel_emu_pool_create(struct accel_device *dev, const struct accel_pool_opts *opts,
			  struct accel_pool *pool);
void accel_emu_pool_destroy(struct accel_pool *pool);
int accel_emu_pool_info(struct accel_pool *pool, struct accel_pool_info *info);
int accel_emu_pool_export(struct accel_pool *pool, int *fd);
int accel_emu_pool_import(struct accel_device *dev, int fd, struct accel_pool *pool);
/* emu_kv.c */
int accel_emu_kv_alloc(struct accel_pool *pool, uint32_t count, uint32_t *blocks);
int accel_emu_kv_free(struct accel_pool *pool, uint32_t count, const uint32_t *blocks);
int accel_emu_kv_ref(struct accel_pool *pool, uint32_t count, const uint32_t *blocks);
int accel_emu_kv_publish(struct accel_pool *pool, uint32_t count, const uint32_t *blocks,
			 const uint64_t *hashes);
int accel_emu_kv_lookup(struct accel_pool *pool, uint32_t count, const uint64_t *hashes,
			uint32_t *blocks);
int accel_emu_kv_peek_evict(struct accel_pool *pool, uint32_t count, uint32_t *blocks,
			    uint64_t *hashes);
/* emu_fence.c */
int accel_emu_fence_create(struct accel_device *dev, struct accel_fence *fence);
void accel_emu_fence_destroy(struct accel_fence *fence);
int accel_emu_fence_signal(struct accel_fence *fence, uint64_t point);
int accel_emu_fence_wait(struct accel_fence *fence, uint64_t point, int64_t timeout_ns);
int accel_emu_fence_query(struct accel_fence *fence, uint64_t *value);

#endif /* ACCEL_EMU_H */
