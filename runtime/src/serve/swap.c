// SPDX-License-Identifier: MIT
/*
 * Swapping a sequence's KV blocks out to host memory and back: one COPY
 * command per block on the model's COPY queue (host memory is a tensor
 * without a pool), then a wait on its fence. The scheduler preempts with it
 * when the blocks run out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "model/kvcache.h"
#include "model/model.h"
#include "rt_error.h"
#include "serve/swap.h"

/* @n blocks of @seq's table <-> consecutive blocks of @host */
static int copy_blocks(struct rt_model *m, int seq, uint8_t *host, int n, bool out)
{
	struct rt_kvcache *kv = m->kv;
	struct accel_fence_point sig = { m->fence, 0 };
	struct accel_cmd *cmd = calloc(n > 0 ? n : 1, sizeof(*cmd));
	int ret;

	if (!cmd)
		return -ENOMEM;
	for (int b = 0; b < n; b++) {
		uint32_t id = kv->table[(size_t)seq * kv->max_blocks + b];
		struct accel_tensor dev = accel_tensor_make(kv->pool, (uint64_t)id * kv->block_bytes,
							    ACCEL_DTYPE_I8,
							    (int64_t)kv->block_bytes, 1, 1, 1);
		struct accel_tensor mem = accel_tensor_make(NULL, (uint64_t)(uintptr_t)host +
								  (uint64_t)b * kv->block_bytes,
							    ACCEL_DTYPE_I8,
							    (int64_t)kv->block_bytes, 1, 1, 1);

		accel_cmd_prep_copy(&cmd[b], out ? mem : dev, out ? dev : mem);
	}
	sig.point = ++m->fence_point;
	ret = accel_queue_submit(m->copy, cmd, (uint32_t)n, NULL, 0, &sig);
	if (ret == 0)
		ret = accel_fence_wait(m->fence, sig.point, -1);
	if (ret == 0)
		ret = accel_queue_clear_error(m->copy);
	free(cmd);
	return ret ? rt_set_error(ret, "swap: COPY failed: %s", strerror(-ret)) : 0;
}

int rt_swap_out(struct rt_model *m, int seq, void **out)
{
	int n = m->kv->n_alloc[seq], ret;
	void *buf = NULL;

	if (n > 0 && posix_memalign(&buf, 4096, (size_t)n * m->kv->block_bytes))
		return -ENOMEM;
	ret = n > 0 ? copy_blocks(m, seq, buf, n, true) : 0;
	if (ret < 0) {
		free(buf);
		return ret;
	}
	rt_kvcache_clear(m->kv, seq);
	*out = buf;
	return n;
}

int rt_swap_in(struct rt_model *m, int seq, void *buf, int n)
{
	int ret = rt_kvcache_reserve(m->kv, seq, n * (int)m->kv->block_tokens);

	if (ret == 0)
		ret = copy_blocks(m, seq, buf, n, false);
	if (ret < 0) {
		rt_kvcache_clear(m->kv, seq);
		return ret;
	}
	free(buf);
	return 0;
}
