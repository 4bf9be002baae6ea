/* SPDX-License-Identifier: MIT */
/*
 * libaccel internals: the objects every backend shares (device, pool, fence
 * handles) and the backend vtable. device.c picks a backend at open time:
 * emulated (emu_*.c, in-process) or DRM (backend_drm.c, accelkv ioctls
 * and DRM syncobjs). Public entry points (pool.c, kv.c, fence.c) check
 * arguments that do not depend on the backend, then call through the ops.
 */
#ifndef ACCEL_BACKEND_H
#define ACCEL_BACKEND_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "accel.h"

struct accel_backend_ops;
struct accel_gpu_dev;

#define accel_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* a tiny intrusive list, for the device's handle lists */
struct accel_link {
	struct accel_link *prev, *next;
};

static inline void accel_list_init(struct accel_link *h)
{
	h->prev = h->next = h;
}

static inline void accel_list_add(struct accel_link *h, struct accel_link *n)
{
	n->next = h;
	n->prev = h->prev;
	h->prev->next = n;
	h->prev = n;
}

static inline void accel_list_del(struct accel_link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

struct accel_device {
	const struct accel_backend_ops *ops;
	void *priv;			/* backend state */
	char node[64];			/* "" for emu */
	uint32_t cpu_threads;
	pthread_mutex_t lock;		/* protects the lists and counters below */
	struct accel_link pools;
	struct accel_link fences;
	struct accel_link queues;
	uint32_t npools, nfences, nqueues;
	struct accel_gpu_dev *gpu;	/* attached GPU (gpu.h), NULL: none */
};

/* struct accel_pool - one handle of a pool, owned by its device */
struct accel_pool {
	struct accel_device *dev;
	struct accel_link link;		/* in dev->pools */
	void *base;			/* CPU mapping of byte 0 */
	uint64_t size;
	uint32_t block_size;		/* 0: not a KV pool */
	uint32_t num_blocks;
	uint32_t flags;			/* ACCEL_POOL_* asked for */
	void *priv;			/* backend state */
	void *vram;			/* the VRAM twin (engine_gpu.c), NULL: none */
	bool vram_only;			/* accel_pool_create_vram: no host side, no backend pool */
	bool host_reg;			/* the host mapping is registered with the GPU for DMA */
};

struct accel_fence {
	struct accel_device *dev;
	struct accel_link link;		/* in dev->fences */
	void *priv;
};

/* one file range of a COPY transfer: @len bytes at @off of @fd <-> @buf;
 * a backend's file_xfer takes up to ACCEL_FILE_SEG_MAX at once */
#define ACCEL_FILE_SEG_MAX	64
struct accel_file_seg {
	int fd;
	uint8_t *buf;
	uint64_t off;
	uint64_t len;
};

/*
 * struct accel_backend_ops - one per backend. Arguments are already checked
 * for NULL and for what accel.h defines independently of the backend (opts
 * size and trailing bytes, counts > 0). Every op returns 0 (or a count) or
 * -errno. The generic layer links/unlinks the handles in the device lists.
 */
struct accel_backend_ops {
	const char *name;			/* "emu", "kernel" */
	void (*close)(struct accel_device *dev);
	int (*info)(struct accel_device *dev, struct accel_device_info *info);

	int (*pool_create)(struct accel_device *dev, const struct accel_pool_opts *opts,
			   struct accel_pool *pool);
	void (*pool_destroy)(struct accel_pool *pool);
	int (*pool_info)(struct accel_pool *pool, struct accel_pool_info *info);
	int (*pool_export)(struct accel_pool *pool, int *fd);
	int (*pool_import)(struct accel_device *dev, int fd, struct accel_pool *pool);

	int (*kv_alloc)(struct accel_pool *pool, uint32_t count, uint32_t *blocks);
	int (*kv_free)(struct accel_pool *pool, uint32_t count, const uint32_t *blocks);
	int (*kv_ref)(struct accel_pool *pool, uint32_t count, const uint32_t *blocks);
	int (*kv_publish)(struct accel_pool *pool, uint32_t count, const uint32_t *blocks,
			  const uint64_t *hashes);
	int (*kv_lookup)(struct accel_pool *pool, uint32_t count, const uint64_t *hashes,
			 uint32_t *blocks);
	/* optional (NULL: -EOPNOTSUPP; the driver has no ioctl for it yet) */
	int (*kv_peek_evict)(struct accel_pool *pool, uint32_t count, uint32_t *blocks,
			     uint64_t *hashes);

	int (*fence_create)(struct accel_device *dev, struct accel_fence *fence);
	void (*fence_destroy)(struct accel_fence *fence);
	int (*fence_signal)(struct accel_fence *fence, uint64_t point);
	int (*fence_wait)(struct accel_fence *fence, uint64_t point, int64_t timeout_ns);
	int (*fence_query)(struct accel_fence *fence, uint64_t *value);

	/* optional: COPY file<->pool transfers by the backend (kernel: uring
	 * LOAD/STORE), the @n ranges of a group in flight together (@t_done:
	 * each one's end, when not NULL); the error is the first failing
	 * range's; -EOPNOTSUPP, before anything moved, when it cannot do
	 * them all, and COPY does them itself */
	int (*file_xfer)(struct accel_device *dev, int write, const struct accel_file_seg *seg,
			 uint32_t n, uint64_t *t_done);
};

/* backends: fill dev->ops/priv/node or return -errno (-ENODEV: not theirs) */
int accel_emu_open(struct accel_device *dev);
/* backend_drm.c: @fd is an open node whose driver name is "accelkv" */
int accel_drm_open(struct accel_device *dev, int fd, const char *path);

/* log.c */
void accel_log(enum accel_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define accel_err(...)	accel_log(ACCEL_LOG_ERROR, __VA_ARGS__)
#define accel_warn(...)	accel_log(ACCEL_LOG_WARN, __VA_ARGS__)
#define accel_info(...)	accel_log(ACCEL_LOG_INFO, __VA_ARGS__)
#define accel_dbg(...)	accel_log(ACCEL_LOG_DEBUG, __VA_ARGS__)

/* opts.c: copy an ACCEL_OPTS struct of caller size @sz into @dst (size
 * @dst_sz, zero-filled); -EINVAL if @sz is too small or unknown tail bytes
 * are set. @min_sz: bytes the caller must at least provide. */
int accel_opts_copy(void *dst, size_t dst_sz, const void *src, size_t min_sz);

/* engine_gpu.c: free @pool's VRAM twin, if any (pool destroy) */
void accel_pool_gpu_release(struct accel_pool *pool);
/* a PMD-sized page on x86-64 */
#define ACCEL_HUGE_SIZE	(2ULL << 20)
/*
 * pool.c: mmap(@size, read-write, @flags, @fd, @off) at a 2 MiB boundary, so
 * the kernel can map huge pages with one PMD each (kernels before 6.7 do not
 * align by themselves); MAP_FAILED and errno on failure
 */
void *accel_pool_mmap_huge(uint64_t size, int flags, int fd, uint64_t off);
/* pool.c: put a new pool on the device's list (accel_pool_create, _import, _create_vram) */
void accel_pool_link(struct accel_device *dev, struct accel_pool *pool);

/* queue.c: device close destroys the queues left */
struct accel_queue;
void accel_queue_destroy_all(struct accel_device *dev);

#endif /* ACCEL_BACKEND_H */
