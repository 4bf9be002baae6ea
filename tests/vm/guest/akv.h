/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the guest test programs of scripts/vmtest.sh: open the
 * accelkv node, ioctl and uring_cmd wrappers that return 0 or -errno, pools.
 * These programs run inside the QEMU guest only (statically linked).
 */
#ifndef AKV_H
#define AKV_H

#include <errno.h>
#include <glob.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <liburing.h>
#include <xf86drm.h>

#include "accelkv.h"
#include "tap.h"

static inline int akv_open(void)
{
	const char *dev = getenv("ACCEL_DEVICE");
	drmVersionPtr v;
	int fd;

	if (!dev || !*dev)
		return -ENODEV;
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	v = drmGetVersion(fd);
	if (!v || strcmp(v->name, ACCELKV_DRIVER_NAME)) {
		if (v)
			drmFreeVersion(v);
		close(fd);
		return -ENODEV;
	}
	drmFreeVersion(v);
	return fd;
}

/* Open the device or skip the whole program (fail it in the VM). */
static inline int akv_open_or_skip(void)
{
	int fd = akv_open();

	if (fd < 0 && getenv("ACCEL_VMTEST"))
		bail_out("no accelkv device in the VM (%s)", strerror(-fd));
	if (fd < 0)
		plan_skip_all("no accelkv device");
	return fd;
}

static inline int akv_ioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret < 0 && (errno == EINTR || errno == EAGAIN));
	return ret < 0 ? -errno : 0;
}

static inline uint64_t akv_param(int fd, uint32_t param)
{
	struct drm_accelkv_get_param p = { .param = param };

	if (akv_ioctl(fd, DRM_IOCTL_ACCELKV_GET_PARAM, &p))
		return UINT64_MAX;
	return p.value;
}

/* Create a pool; returns 0 or -errno, fills *handle and *offset. */
static inline int akv_pool(int fd, uint64_t size, uint32_t block, uint32_t flags,
			   uint32_t *handle, uint64_t *offset)
{
	struct drm_accelkv_pool_create c = {
		.size = size, .block_size = block, .flags = flags,
	};
	int ret = akv_ioctl(fd, DRM_IOCTL_ACCELKV_POOL_CREATE, &c);

	*handle = 0;
	if (offset)
		*offset = 0;
	if (!ret) {
		*handle = c.handle;
		if (offset)
			*offset = c.mmap_offset;
	}
	return ret;
}

static inline int akv_pool_destroy(int fd, uint32_t handle)
{
	struct drm_accelkv_pool_destroy d = { .handle = handle };

	return akv_ioctl(fd, DRM_IOCTL_ACCELKV_POOL_DESTROY, &d);
}

static inline int akv_kv(int fd, unsigned long req, uint32_t handle,
			 uint32_t *ids, uint32_t count)
{
	struct drm_accelkv_kv_blocks b = {
		.handle = handle, .count = count, .blocks_ptr = (uintptr_t)ids,
	};

	return akv_ioctl(fd, req, &b);
}

static inline int akv_info(int fd, uint32_t handle, struct drm_accelkv_pool_info *info)
{
	memset(info, 0, sizeof(*info));
	info->handle = handle;
	return akv_ioctl(fd, DRM_IOCTL_ACCELKV_POOL_INFO, info);
}

static inline int akv_ring(struct io_uring *ring, unsigned int entries)
{
	return io_uring_queue_init(entries, ring, IORING_SETUP_SQE128);
}

/* Queue one uring_cmd with @payload (<= 80 bytes); no submit. */
static inline struct io_uring_sqe *akv_prep_cmd(struct io_uring *ring, int fd, uint32_t op,
						const void *payload, size_t len, uint64_t tag)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		return NULL;
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	sqe->user_data = tag;
	memcpy(sqe->cmd, payload, len);
	return sqe;
}

/* Submit one uring_cmd and wait for it: the CQE res (bytes or -errno). */
static inline int akv_cmd_sync(struct io_uring *ring, int fd, uint32_t op,
			       const void *payload, size_t len)
{
	struct io_uring_cqe *cqe;
	int ret;

	if (!akv_prep_cmd(ring, fd, op, payload, len, 0))
		return -EBUSY;
	ret = io_uring_submit_and_wait(ring, 1);
	if (ret < 0)
		return ret;
	ret = io_uring_wait_cqe(ring, &cqe);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

static inline int akv_load(struct io_uring *ring, int fd, int file, uint32_t handle,
			   uint64_t file_off, uint64_t pool_off, uint64_t len, uint32_t flags)
{
	struct accelkv_uring_xfer x = {
		.fd = file, .handle = handle, .file_offset = file_off,
		.pool_offset = pool_off, .length = len, .flags = flags,
	};

	return akv_cmd_sync(ring, fd, ACCELKV_URING_CMD_LOAD, &x, sizeof(x));
}

static inline double akv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A counter of the accelkv_stats debugfs file: value, -1 absent, -2 no file. */
static inline long long akv_debugfs_value(const char *key)
{
	glob_t g;
	long long v = -1;
	char line[256];
	size_t i, n = strlen(key);

	if (glob("/sys/kernel/debug/accel/*/accelkv_stats", 0, NULL, &g) &&
	    glob("/sys/kernel/debug/dri/*/accelkv_stats", 0, NULL, &g))
		return -2;
	for (i = 0; i < g.gl_pathc && v < 0; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");

		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, key, n) && line[n] == ' ')
				v = atoll(line + n + 1);
		if (f)
			fclose(f);
	}
	globfree(&g);
	return v;
}

#endif /* AKV_H */
