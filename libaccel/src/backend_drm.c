// SPDX-License-Identifier: MIT
/*
 * DRM backend: the accelkv kernel driver through uapi/accelkv.h. Each pool handle
 * is its own open file of the node (so, as on the emulated device, each handle
 * owns its KV references and closing it releases them); fences are DRM
 * syncobj timelines on the device's file (libdrm); COPY file<->pool transfers
 * use the driver's LOAD/STORE uring_cmds on the pool's file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>
#include "accelkv.h"
#include "backend.h"
#include "futex.h"

struct accel_kdev {
	int fd;			/* the node: syncobjs, get-param */
	uint64_t caps;		/* ACCELKV_CAP_* of the module, read at open */
};

/* libaccel passes the module's capability bits through unchanged */
_Static_assert(ACCEL_CAP_PAGE_BLOCKS == ACCELKV_CAP_PAGE_BLOCKS, "cap bits");
_Static_assert(ACCEL_CAP_KV_PEEK_EVICT == ACCELKV_CAP_KV_PEEK_EVICT, "cap bits");

/* The oldest module API this library talks to; newer features by cap bit. */
#define ACCEL_K_MIN_API	1

struct accel_kpool {
	int fd;			/* this handle's own open file of the node */
	uint32_t handle;	/* GEM handle in @fd */
	uint64_t map_size;
};

struct accel_kfence {
	uint32_t syncobj;
};

static int accel_k_ioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret < 0 && (errno == EINTR || errno == EAGAIN));
	return ret < 0 ? -errno : 0;
}

static int accel_k_fd(struct accel_device *dev)
{
	return ((struct accel_kdev *)dev->priv)->fd;
}

static int accel_k_param(int fd, uint32_t param, uint64_t *value)
{
	struct drm_accelkv_get_param p = { .param = param };
	int ret = accel_k_ioctl(fd, DRM_IOCTL_ACCELKV_GET_PARAM, &p);

	if (!ret)
		*value = p.value;
	return ret;
}

static void accel_k_close(struct accel_device *dev)
{
	struct accel_kdev *kd = dev->priv;

	close(kd->fd);
	free(kd);
}

static int accel_k_info(struct accel_device *dev, struct accel_device_info *info)
{
	int fd = accel_k_fd(dev);
	uint64_t v = 0;
	struct rlimit rl;
	int ret;

	ret = accel_k_param(fd, ACCELKV_PARAM_CAPABILITIES, &info->caps);
	if (!ret)
		ret = accel_k_param(fd, ACCELKV_PARAM_API_VERSION, &v);
	info->api_version = (uint32_t)v;
	if (!ret)
		ret = accel_k_param(fd, ACCELKV_PARAM_MAX_POOL_SIZE, &info->max_pool_size);
	if (!ret)
		ret = accel_k_param(fd, ACCELKV_PARAM_PINNED_BYTES, &info->pinned_bytes);
	if (!ret)
		ret = accel_k_param(fd, ACCELKV_PARAM_PINNED_LIMIT, &info->pinned_limit);
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0)
		info->memlock_limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
	return ret;
}

/* ------------------------------------------------------------------ pools */

/* accel_k_pool_map - mmap the pool of @kp and fill @pool from POOL_INFO */
static int accel_k_pool_map(struct accel_pool *pool, struct accel_kpool *kp)
{
	struct drm_accelkv_pool_info pi = { .handle = kp->handle };
	void *p;
	int ret;

	ret = accel_k_ioctl(kp->fd, DRM_IOCTL_ACCELKV_POOL_INFO, &pi);
	if (ret)
		return ret;
	/* the driver's huge folios map with one PMD each at a 2 MiB boundary */
	if (pi.flags & ACCELKV_POOL_HUGEPAGE)
		p = accel_pool_mmap_huge(pi.size, MAP_SHARED, kp->fd, pi.mmap_offset);
	else
		p = mmap(NULL, pi.size, PROT_READ | PROT_WRITE, MAP_SHARED, kp->fd,
			 (off_t)pi.mmap_offset);
	if (p == MAP_FAILED)
		return -errno;
	kp->map_size = pi.size;
	pool->base = p;
	pool->size = pi.size;
	pool->block_size = pi.block_size;
	pool->num_blocks = pi.num_blocks;
	pool->flags = pi.flags & (ACCEL_POOL_HUGEPAGE | ACCEL_POOL_KV);
	pool->priv = kp;
	return 0;
}

static struct accel_kpool *accel_k_pool_open(struct accel_device *dev)
{
	struct accel_kpool *kp = calloc(1, sizeof(*kp));

	if (!kp)
		return NULL;
	kp->fd = open(dev->node, O_RDWR | O_CLOEXEC);
	if (kp->fd < 0) {
		free(kp);
		return NULL;
	}
	return kp;
}

static void accel_k_pool_close(struct accel_kpool *kp)
{
	close(kp->fd);	/* drops the handle and every KV reference it held */
	free(kp);
}

static int accel_k_pool_create(struct accel_device *dev, const struct accel_pool_opts *opts,
			       struct accel_pool *pool)
{
	struct drm_accelkv_pool_create c = {
		.size = opts->size,
		.block_size = opts->block_size,
		/* the driver always pins: PAGEABLE has nothing to ask for */
		.flags = opts->flags & (ACCEL_POOL_HUGEPAGE | ACCEL_POOL_KV),
	};
	struct accel_kpool *kp = accel_k_pool_open(dev);
	int ret;

	if (!kp)
		return errno ? -errno : -ENOMEM;
	ret = accel_k_ioctl(kp->fd, DRM_IOCTL_ACCELKV_POOL_CREATE, &c);
	if (ret) {
		if (ret == -EPERM) {
			struct rlimit rl = { 0, 0 };

			getrlimit(RLIMIT_MEMLOCK, &rl);
			accel_err("cannot pin %llu bytes: RLIMIT_MEMLOCK is %llu bytes "
				  "(raise it with ulimit -l)", (unsigned long long)opts->size,
				  (unsigned long long)rl.rlim_cur);
		}
		goto err_close;
	}
	kp->handle = c.handle;
	ret = accel_k_pool_map(pool, kp);
	if (ret)
		goto err_close;
	pool->flags = opts->flags;
	return 0;

err_close:
	accel_k_pool_close(kp);
	return ret;
}

static void accel_k_pool_destroy(struct accel_pool *pool)
{
	struct accel_kpool *kp = pool->priv;

	munmap(pool->base, kp->map_size);
	accel_k_pool_close(kp);
}

static int accel_k_pool_info(struct accel_pool *pool, struct accel_pool_info *info)
{
	struct accel_kpool *kp = pool->priv;
	struct drm_accelkv_pool_info pi = { .handle = kp->handle };
	int ret = accel_k_ioctl(kp->fd, DRM_IOCTL_ACCELKV_POOL_INFO, &pi);

	if (ret)
		return ret;
	memset(info, 0, sizeof(*info));
	info->size = pi.size;
	info->block_size = pi.block_size;
	info->num_blocks = pi.num_blocks;
	info->flags = (pool->flags & ~ACCEL_POOL_HUGEPAGE) | (pi.flags & ACCEL_POOL_HUGEPAGE) |
		      ACCEL_POOL_INFO_PINNED;
	info->blocks_used = pi.blocks_used;
	info->blocks_cached = pi.blocks_cached;
	info->blocks_free = pi.num_blocks - pi.blocks_used - pi.blocks_cached;
	info->prefix_queries = pi.prefix_queries;
	info->prefix_hits = pi.prefix_hits;
	return 0;
}

static int accel_k_pool_export(struct accel_pool *pool, int *fd)
{
	struct accel_kpool *kp = pool->priv;

	return drmPrimeHandleToFD(kp->fd, kp->handle, DRM_CLOEXEC | DRM_RDWR, fd) ? -errno : 0;
}

static int accel_k_pool_import(struct accel_device *dev, int fd, struct accel_pool *pool)
{
	struct accel_kpool *kp = accel_k_pool_open(dev);
	int ret;

	if (!kp)
		return errno ? -errno : -ENOMEM;
	if (drmPrimeFDToHandle(kp->fd, fd, &kp->handle)) {
		ret = errno == ENOENT || errno == EINVAL ? -EINVAL : -errno;
		goto err_close;
	}
	ret = accel_k_pool_map(pool, kp);
	if (ret)
		goto err_close;
	return 0;

err_close:
	accel_k_pool_close(kp);
	return ret;
}

/* ------------------------------------------------------------------- KV */

static int accel_k_kv_blocks(struct accel_pool *pool, unsigned long req, uint32_t count,
			     const uint32_t *blocks)
{
	struct accel_kpool *kp = pool->priv;
	struct drm_accelkv_kv_blocks b = {
		.handle = kp->handle, .count = count, .blocks_ptr = (uintptr_t)blocks,
	};

	return accel_k_ioctl(kp->fd, req, &b);
}

static int accel_k_kv_alloc(struct accel_pool *pool, uint32_t count, uint32_t *blocks)
{
	return accel_k_kv_blocks(pool, DRM_IOCTL_ACCELKV_KV_ALLOC, count, blocks);
}

static int accel_k_kv_free(struct accel_pool *pool, uint32_t count, const uint32_t *blocks)
{
	return accel_k_kv_blocks(pool, DRM_IOCTL_ACCELKV_KV_FREE, count, blocks);
}

static int accel_k_kv_ref(struct accel_pool *pool, uint32_t count, const uint32_t *blocks)
{
	return accel_k_kv_blocks(pool, DRM_IOCTL_ACCELKV_KV_REF, count, blocks);
}

static int accel_k_kv_publish(struct accel_pool *pool, uint32_t count, const uint32_t *blocks,
			      const uint64_t *hashes)
{
	struct accel_kpool *kp = pool->priv;
	struct drm_accelkv_kv_publish p = {
		.handle = kp->handle, .count = count,
		.blocks_ptr = (uintptr_t)blocks, .hashes_ptr = (uintptr_t)hashes,
	};
	int ret = accel_k_ioctl(kp->fd, DRM_IOCTL_ACCELKV_KV_PUBLISH, &p);

	return ret ? ret : (int)p.published;
}

static int accel_k_kv_lookup(struct accel_pool *pool, uint32_t count, const uint64_t *hashes,
			     uint32_t *blocks)
{
	struct accel_kpool *kp = pool->priv;
	struct drm_accelkv_kv_lookup l = {
		.handle = kp->handle, .count = count,
		.hashes_ptr = (uintptr_t)hashes, .blocks_ptr = (uintptr_t)blocks,
	};
	int ret = accel_k_ioctl(kp->fd, DRM_IOCTL_ACCELKV_KV_LOOKUP, &l);

	return ret ? ret : (int)l.found;
}

/* -EOPNOTSUPP on a module older than the ioctl (the caller falls back) */
static int accel_k_kv_peek_evict(struct accel_pool *pool, uint32_t count, uint32_t *blocks,
				 uint64_t *hashes)
{
	struct accel_kdev *kd = pool->dev->priv;
	struct accel_kpool *kp = pool->priv;
	struct drm_accelkv_kv_peek_evict pe = {
		.handle = kp->handle, .count = count,
		.blocks_ptr = (uintptr_t)blocks, .hashes_ptr = (uintptr_t)hashes,
	};
	int ret;

	if (!(kd->caps & ACCELKV_CAP_KV_PEEK_EVICT))
		return -EOPNOTSUPP;
	ret = accel_k_ioctl(kp->fd, DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, &pe);
	return ret ? ret : (int)pe.found;
}

/* ----------------------------------------------------------------- fences */

static int accel_k_fence_create(struct accel_device *dev, struct accel_fence *fence)
{
	struct accel_kfence *kf = calloc(1, sizeof(*kf));

	if (!kf)
		return -ENOMEM;
	if (drmSyncobjCreate(accel_k_fd(dev), 0, &kf->syncobj)) {
		int ret = -errno;

		free(kf);
		return ret;
	}
	fence->priv = kf;
	return 0;
}

static void accel_k_fence_destroy(struct accel_fence *fence)
{
	struct accel_kfence *kf = fence->priv;

	drmSyncobjDestroy(accel_k_fd(fence->dev), kf->syncobj);
	free(kf);
}

static int accel_k_fence_query(struct accel_fence *fence, uint64_t *value)
{
	struct accel_kfence *kf = fence->priv;

	return drmSyncobjQuery(accel_k_fd(fence->dev), &kf->syncobj, value, 1) ? -errno : 0;
}

static int accel_k_fence_signal(struct accel_fence *fence, uint64_t point)
{
	struct accel_kfence *kf = fence->priv;
	uint64_t cur;
	int ret = accel_k_fence_query(fence, &cur);

	if (ret)
		return ret;
	if (point <= cur)
		return -EINVAL;
	return drmSyncobjTimelineSignal(accel_k_fd(fence->dev), &kf->syncobj, &point, 1) ?
		-errno : 0;
}

static int64_t accel_k_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int accel_k_fence_wait(struct accel_fence *fence, uint64_t point, int64_t timeout_ns)
{
	struct accel_kfence *kf = fence->priv;
	int64_t abs = INT64_MAX, now = accel_k_now_ns();
	int ret;

	if (timeout_ns >= 0)
		abs = timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
	for (;;) {
		ret = drmSyncobjTimelineWait(accel_k_fd(fence->dev), &kf->syncobj, &point, 1, abs,
					     DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT, NULL) ? -errno : 0;
		if (ret == -EINTR || ret == -ERESTART)
			continue;
		/* the kernel waits in jiffies and may return up to one early */
		if (ret == -ETIME && timeout_ns > 0 && accel_k_now_ns() < abs)
			continue;
		return ret;
	}
}

/* -------------------------------------------------------- COPY engine */

#define ACCEL_K_XFER_DEPTH	16
#define ACCEL_K_XFER_CHUNK	(1ULL << 20)

/* accel_k_pool_of - the pool of @dev whose mapping holds [buf, buf+len) */
static struct accel_pool *accel_k_pool_of(struct accel_device *dev, const void *buf,
					  uint64_t len)
{
	struct accel_pool *found = NULL;
	uintptr_t b = (uintptr_t)buf;

	pthread_mutex_lock(&dev->lock);
	for (struct accel_link *l = dev->pools.next; l != &dev->pools; l = l->next) {
		struct accel_pool *p = accel_container_of(l, struct accel_pool, link);
		uintptr_t base = (uintptr_t)p->base;

		if (p->vram_only)
			continue;
		if (b >= base && len <= p->size && b - base <= p->size - len) {
			found = p;
			break;
		}
	}
	pthread_mutex_unlock(&dev->lock);
	return found;
}

/*
 * accel_k_file_xfer - move the @n ranges @seg between their files and
 * buffers with the driver's LOAD/STORE, each buffer inside one of the
 * device's pools, every range's requests in flight together (up to the
 * depth). Returns 0, the first failing range's -errno, or -EOPNOTSUPP
 * before anything moved when the driver cannot do one of them (the caller
 * then falls back to plain io_uring reads and writes).
 */
static int accel_k_file_xfer(struct accel_device *dev, int write, const struct accel_file_seg *seg,
			     uint32_t n, uint64_t *t_done)
{
	struct accel_kpool *kp[ACCEL_FILE_SEG_MAX];
	uint64_t pool_off[ACCEL_FILE_SEG_MAX], left[ACCEL_FILE_SEG_MAX], next = 0;
	uint32_t flags[ACCEL_FILE_SEG_MAX], inflight = 0, si = 0;
	int serr[ACCEL_FILE_SEG_MAX], err = 0;
	struct io_uring ring;

	if (!n || n > ACCEL_FILE_SEG_MAX)
		return -EOPNOTSUPP;
	for (uint32_t i = 0; i < n; i++) {
		struct accel_pool *pool = accel_k_pool_of(dev, seg[i].buf, seg[i].len);
		int fl;

		if (!pool || !seg[i].len)
			return -EOPNOTSUPP;
		kp[i] = pool->priv;
		pool_off[i] = (uint64_t)((uintptr_t)seg[i].buf - (uintptr_t)pool->base);
		flags[i] = 0;
		fl = fcntl(seg[i].fd, F_GETFL);
		if (fl >= 0 && (fl & O_DIRECT)) {
			if ((seg[i].off | pool_off[i] | seg[i].len) & 511)
				return -EOPNOTSUPP;
			flags[i] = ACCELKV_XFER_DIRECT;
		}
		left[i] = seg[i].len;
		serr[i] = 0;
	}
	if (io_uring_queue_init(ACCEL_K_XFER_DEPTH, &ring, IORING_SETUP_SQE128))
		return -EOPNOTSUPP;
	while (inflight || (!err && si < n)) {
		struct io_uring_cqe *cqe;
		uint64_t data;
		uint32_t s;

		while (!err && si < n && inflight < ACCEL_K_XFER_DEPTH) {
			uint64_t len = seg[si].len - next < ACCEL_K_XFER_CHUNK ?
				       seg[si].len - next : ACCEL_K_XFER_CHUNK;
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			struct accelkv_uring_xfer x = {
				.fd = seg[si].fd, .handle = kp[si]->handle,
				.file_offset = seg[si].off + next, .pool_offset = pool_off[si] + next,
				.length = len, .flags = flags[si],
			};

			io_uring_prep_rw(IORING_OP_URING_CMD, sqe, kp[si]->fd, NULL, 0, 0);
			sqe->cmd_op = write ? ACCELKV_URING_CMD_STORE : ACCELKV_URING_CMD_LOAD;
			memcpy(sqe->cmd, &x, sizeof(x));
			/* the range and the request's length (<= one chunk) */
			io_uring_sqe_set_data64(sqe, (uint64_t)si << 32 | len);
			inflight++;
			next += len;
			if (next >= seg[si].len) {
				si++;
				next = 0;
			}
		}
		if (io_uring_submit_and_wait(&ring, 1) < 0 || io_uring_wait_cqe(&ring, &cqe)) {
			err = err ? err : -EIO;
			break;
		}
		data = io_uring_cqe_get_data64(cqe);
		s = (uint32_t)(data >> 32);
		if (cqe->res < 0 || (uint64_t)cqe->res != (data & 0xffffffffu)) {
			int e = cqe->res < 0 ? cqe->res : -EIO;

			err = err ? err : e;
			serr[s] = serr[s] ? serr[s] : e;
		} else {
			left[s] -= data & 0xffffffffu;
			if (!left[s] && t_done)
				t_done[s] = accel_now_ns();
		}
		io_uring_cqe_seen(&ring, cqe);
		inflight--;
	}
	io_uring_queue_exit(&ring);
	for (uint32_t i = 0; err && i < n; i++)
		if (serr[i])
			return serr[i];
	return err;
}

static const struct accel_backend_ops accel_kernel_ops = {
	.name = "kernel",
	.close = accel_k_close,
	.info = accel_k_info,
	.pool_create = accel_k_pool_create,
	.pool_destroy = accel_k_pool_destroy,
	.pool_info = accel_k_pool_info,
	.pool_export = accel_k_pool_export,
	.pool_import = accel_k_pool_import,
	.kv_alloc = accel_k_kv_alloc,
	.kv_free = accel_k_kv_free,
	.kv_ref = accel_k_kv_ref,
	.kv_publish = accel_k_kv_publish,
	.kv_lookup = accel_k_kv_lookup,
	.kv_peek_evict = accel_k_kv_peek_evict,
	.fence_create = accel_k_fence_create,
	.fence_destroy = accel_k_fence_destroy,
	.fence_signal = accel_k_fence_signal,
	.fence_wait = accel_k_fence_wait,
	.fence_query = accel_k_fence_query,
	.file_xfer = accel_k_file_xfer,
};

int accel_drm_open(struct accel_device *dev, int fd, const char *path)
{
	struct accel_kdev *kd;
	uint64_t v = 0;
	int ret;

	ret = accel_k_param(fd, ACCELKV_PARAM_API_VERSION, &v);
	if (ret) {
		accel_err("%s: accelkv GET_PARAM failed: %s", path, strerror(-ret));
		return ret;
	}
	if (v < ACCEL_K_MIN_API) {
		accel_err("%s: accelkv API %llu, need %d", path, (unsigned long long)v,
			  ACCEL_K_MIN_API);
		return -ENODEV;
	}
	kd = calloc(1, sizeof(*kd));
	if (!kd)
		return -ENOMEM;
	kd->fd = fd;
	if (accel_k_param(fd, ACCELKV_PARAM_CAPABILITIES, &kd->caps))
		kd->caps = 0;	/* no optional feature then */
	dev->ops = &accel_kernel_ops;
	dev->priv = kd;
	snprintf(dev->node, sizeof(dev->node), "%s", path);
	return 0;
}
