// SPDX-License-Identifier: MIT
/*
 * Swapping a sequence's KV blocks out of the pool and back: one COPY-engine
 * command per block on the model's COPY queue, then a wait on its fence.
 * To host memory, COPY (host memory is a tensor without a pool); to a
 * file, WRITE_FILE and READ_FILE (io_uring, or the driver's STORE and LOAD).
 * The scheduler preempts with it when the blocks run out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "model/kvcache.h"
#include "model/model.h"
#include "rt_error.h"
#include "serve/swap.h"

struct rt_swap {
	int n;		/* blocks */
	void *host;	/* n blocks in host memory, or NULL */
	uint64_t bytes;	/* of the blocks */
	int fd;		/* or block b at b * block_bytes of this file */
};

/* @n blocks of @seq's table <-> @sw's; on a GPU the blocks' bytes live in
 * the pool's VRAM twin, so they come down before a swap-out and go up after
 * a swap-in (the COPY engine sees the host mapping only) */
static int copy_blocks(struct rt_model *m, int seq, struct rt_swap *sw, bool out)
{
	struct rt_kvcache *kv = m->kv;
	const uint32_t *ids = &kv->table[(size_t)seq * kv->max_blocks];
	struct accel_fence_point sig = { m->fence, 0 };
	struct accel_cmd *cmd = calloc(sw->n > 0 ? sw->n : 1, sizeof(*cmd));
	int ret;

	if (!cmd)
		return -ENOMEM;
	if (out && (ret = rt_model_gpu_kv_sync(m, ids, sw->n, false)) < 0) {
		free(cmd);
		return ret;
	}
	for (int b = 0; b < sw->n; b++) {
		uint32_t id = kv->table[(size_t)seq * kv->max_blocks + b];
		uint64_t off = (uint64_t)b * kv->block_bytes;
		struct accel_tensor dev = accel_tensor_make(kv->pool, (uint64_t)id * kv->block_bytes,
							    ACCEL_DTYPE_I8,
							    (int64_t)kv->block_bytes, 1, 1, 1);
		struct accel_tensor mem;

		if (!sw->host) {
			if (out)
				accel_cmd_prep_write_file(&cmd[b], dev, sw->fd, off);
			else
				accel_cmd_prep_read_file(&cmd[b], dev, sw->fd, off);
			continue;
		}
		mem = accel_tensor_make(NULL, (uint64_t)(uintptr_t)sw->host + off, ACCEL_DTYPE_I8,
					(int64_t)kv->block_bytes, 1, 1, 1);
		accel_cmd_prep_copy(&cmd[b], out ? mem : dev, out ? dev : mem);
	}
	sig.point = ++m->fence_point;
	ret = accel_queue_submit(m->copy, cmd, (uint32_t)sw->n, NULL, 0, &sig);
	if (ret == 0)
		ret = accel_fence_wait(m->fence, sig.point, -1);
	if (ret == 0)
		ret = accel_queue_clear_error(m->copy);
	free(cmd);
	if (ret)
		return rt_set_error(ret, "swap: COPY failed: %s", strerror(-ret));
	return out ? 0 : rt_model_gpu_kv_sync(m, ids, sw->n, true);
}

void rt_swap_free(struct rt_swap *sw)
{
	if (!sw)
		return;
	if (!sw->host && sw->fd >= 0)
		close(sw->fd);
	free(sw->host);
	free(sw);
}

/* an anonymous file in @dir: named only until it is open */
static int swap_file(const char *dir)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/swap-%d-XXXXXX", dir, (int)getpid());
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return rt_set_error(-errno, "swap: %s: %s", dir, strerror(errno));
	unlink(path);
	return fd;
}

int rt_swap_out(struct rt_model *m, int seq, const char *dir, struct rt_swap **out)
{
	int n = m->kv->n_alloc[seq], ret;
	struct rt_swap *sw;

	*out = NULL;
	if (n <= 0)
		return 0;
	sw = calloc(1, sizeof(*sw));
	if (!sw)
		return -ENOMEM;
	sw->n = n;
	sw->fd = -1;
	sw->bytes = (uint64_t)n * m->kv->block_bytes;
	if (dir) {
		ret = sw->fd = swap_file(dir);
	} else {
		ret = posix_memalign(&sw->host, 4096, (size_t)n * m->kv->block_bytes) ? -ENOMEM : 0;
	}
	if (ret >= 0)
		ret = copy_blocks(m, seq, sw, true);
	if (ret < 0) {
		rt_swap_free(sw);
		return ret;
	}
	rt_kvcache_clear(m->kv, seq);
	*out = sw;
	return n;
}

int rt_swap_in(struct rt_model *m, int seq, struct rt_swap *sw)
{
	int ret = rt_kvcache_reserve(m->kv, seq, sw->n * (int)m->kv->block_tokens);

	if (ret == 0)
		ret = copy_blocks(m, seq, sw, false);
	if (ret < 0) {
		rt_kvcache_clear(m->kv, seq);
		return ret;
	}
	rt_swap_free(sw);
	return 0;
}

int rt_swap_blocks(const struct rt_swap *sw)
{
	return sw ? sw->n : 0;
}

uint64_t rt_swap_host_bytes(const struct rt_swap *sw)
{
	return sw && sw->host ? sw->bytes : 0;
}
