// SPDX-License-Identifier: MIT
/*
 * The model on a GPU (rt_model_opts.gpu), resident: attach the GPU to the
 * model's device (accel_gpu_attach loads the CUDA backend; the runtime never
 * sees CUDA), give the weights, the KV cache and the activations VRAM twins
 * (accel_pool_gpu_mirror: the commands keep naming the same pools, the GPU
 * queue reads the twins), upload the weights once, and per pass move the
 * batch's ids, positions and block tables up and the logits down on a GPU
 * COPY queue. The layer loop and its commands are the CPU's, unchanged.
 * With --vram-budget, or when the host side streams (--mem-budget), the
 * weights go through the VRAM tier instead (vram.c): what fits stays, the
 * rest crosses PCIe every pass. A pipeline stage (a layer range) moves its
 * hidden state up before its pass and down after it. Shared KV pools are
 * refused.
 * Between passes the KV cache's truth is its twin: whatever reads or writes
 * KV bytes on the host (the serving scheduler's swap and disk tier) moves
 * them down before and up after (rt_model_gpu_kv_sync).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "model/kvcache.h"
#include "gpu/vram.h"
#include "model/model.h"
#include "rt_error.h"

int rt_model_gpu_attach(struct rt_model *m, const struct rt_model_opts *opts)
{
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY,
						.flags = ACCEL_QUEUE_GPU);
	char why[400];
	int ret;

	if (opts->gpu_device < 0)
		return rt_set_error(-EINVAL, "--gpu: GPU %d: no such ordinal", opts->gpu_device);
	if (opts->type_k == RT_KV_Q8_0 || opts->type_v == RT_KV_Q8_0 ||
	    (opts->type_k ? opts->type_k : RT_KV_F16) != (opts->type_v ? opts->type_v : RT_KV_F16))
		return rt_set_error(-EOPNOTSUPP, "--gpu: the GPU's attention takes F32 or F16 "
				    "caches with K and V of one type (-ctk/-ctv)");
	if (opts->kv_pool_fd > 2)
		return rt_set_error(-EOPNOTSUPP, "--gpu: shared KV pools do not run on the GPU yet");
	ret = accel_gpu_attach(m->dev, opts->gpu_device, why, sizeof(why));
	if (ret < 0)
		return rt_set_error(ret, "--gpu: %s", why[0] ? why : strerror(-ret));
	ret = accel_queue_create(m->dev, &qo, &m->gpu_copy);
	if (ret < 0)
		return rt_set_error(ret, "--gpu: cannot create the GPU's copy queue: %s",
				    strerror(-ret));
	return 0;
}

/* a synchronous UPLOAD or DOWNLOAD of bytes [off, off + len) of @pool */
static int gpu_xfer(struct rt_model *m, bool up, struct accel_pool *pool, uint64_t off,
		    uint64_t len)
{
	struct accel_cmd c;
	struct accel_tensor t = accel_tensor_make(pool, off, ACCEL_DTYPE_I8, (int64_t)len, 1, 1, 1);
	int ret;

	if (up)
		accel_cmd_prep_upload(&c, t);
	else
		accel_cmd_prep_download(&c, t);
	ret = accel_queue_submit(m->gpu_copy, &c, 1, NULL, 0, NULL);
	if (ret == 0)
		ret = accel_queue_wait_idle(m->gpu_copy);
	if (ret < 0)
		accel_queue_clear_error(m->gpu_copy);
	return ret;
}

int rt_model_gpu_place(struct rt_model *m, uint64_t vram_budget)
{
	struct accel_pool *pools[] = { m->weights, m->kv->pool, m->act };
	static const char *const what[] = { "the weights", "the KV cache", "the activations" };
	struct accel_gpu_props gp;
	bool automatic = false;
	int ret;

	if (!m->gpu_copy)
		return 0;
	/* without --vram-budget the VRAM tier takes what the GPU has free,
	 * less room for the kernels' scratch */
	if (!vram_budget && accel_gpu_props(m->dev, &gp) == 0) {
		uint64_t free_b = gp.mem_free > (UINT64_C(1) << 30) ?
				  gp.mem_free / 10 * 9 - (UINT64_C(256) << 20) : gp.mem_free / 2;
		uint64_t whole = 0;

		for (size_t i = 0; i < sizeof(pools) / sizeof(pools[0]); i++)
			whole += pools[i] ? accel_pool_size(pools[i]) : 0;
		/* streamed on the host, or bigger than the GPU: layers cross
		 * PCIe each pass rather than the run being refused, as a
		 * --vram-budget of what is free would do */
		if (rt_stream_of(m) || whole > free_b) {
			vram_budget = free_b;
			automatic = true;
		}
	}
	if (vram_budget)
		return rt_vram_setup(m, vram_budget, automatic);
	for (size_t i = 0; i < sizeof(pools) / sizeof(pools[0]); i++) {
		if (!pools[i])
			return rt_set_error(-EINVAL, "--gpu: %s are not in a pool", what[i]);
		ret = accel_pool_gpu_mirror(pools[i]);
		if (ret < 0)
			return rt_set_error(ret, "--gpu: %s (%llu MiB) do not fit the GPU: %s",
					    what[i],
					    (unsigned long long)(accel_pool_size(pools[i]) >> 20),
					    strerror(-ret));
	}
	ret = gpu_xfer(m, true, m->weights, 0, accel_pool_size(m->weights));
	if (ret < 0)
		return rt_set_error(ret, "--gpu: uploading the weights failed: %s", strerror(-ret));
	return 0;
}

/* the first @rows rows of 2-D F32 @t, up (@up) or down */
static int gpu_rows(struct rt_model *m, const struct accel_tensor *t, int rows, bool up)
{
	int ret;

	if (!m->gpu_copy || rows <= 0)
		return 0;
	ret = gpu_xfer(m, up, t->pool, t->offset, (uint64_t)t->ne[0] * (uint64_t)rows * 4);
	return ret < 0 ? rt_set_error(ret, "--gpu: moving the hidden state %s failed: %s",
				      up ? "up" : "down", strerror(-ret)) : 0;
}

int rt_model_gpu_upload(struct rt_model *m, const struct accel_tensor *t, int rows)
{
	return gpu_rows(m, t, rows, true);
}

int rt_model_gpu_download_rows(struct rt_model *m, const struct accel_tensor *t, int rows)
{
	return gpu_rows(m, t, rows, false);
}

int rt_model_gpu_download(struct rt_model *m, const struct accel_tensor *t)
{
	int ret;

	if (!m->gpu_copy || !t->ne[0])
		return 0;
	ret = gpu_xfer(m, false, t->pool, t->offset, rt_tensor_nbytes(t));
	return ret < 0 ? rt_set_error(ret, "--gpu: a download failed: %s", strerror(-ret)) : 0;
}

/* the ids, positions, sequence ids and block tables stage_batch wrote: one
 * range of the activation pool (forward.c lays them out in a row) */
int rt_model_gpu_stage_in(struct rt_model *m)
{
	uint64_t end = m->block_table.offset +
		       (uint64_t)m->block_table.ne[0] * (uint64_t)m->block_table.ne[1] * 4;
	int ret;

	if (!m->gpu_copy)
		return 0;
	ret = gpu_xfer(m, true, m->act, m->tokens.offset, end - m->tokens.offset);
	return ret < 0 ? rt_set_error(ret, "--gpu: uploading the batch failed: %s",
				      strerror(-ret)) : 0;
}

/* the logits (and the chunked head's staging rows): one range, after them */
int rt_model_gpu_stage_out(struct rt_model *m)
{
	uint64_t end = m->logits_tmp.offset +
		       (uint64_t)m->logits_tmp.ne[0] * (uint64_t)m->logits_tmp.ne[1] * 4;
	int ret;

	if (!m->gpu_copy)
		return 0;
	ret = gpu_xfer(m, false, m->act, m->logits.offset, end - m->logits.offset);
	return ret < 0 ? rt_set_error(ret, "--gpu: downloading the logits failed: %s",
				      strerror(-ret)) : 0;
}

int rt_model_gpu_kv_sync(struct rt_model *m, const uint32_t *blocks, int n, bool up)
{
	struct rt_kvcache *kv = m->kv;
	struct accel_cmd *c;
	int ret;

	if (!m->gpu_copy || n <= 0)
		return 0;
	c = calloc((size_t)n, sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* one submission: the backend syncs its stream once for all of them */
	for (int i = 0; i < n; i++) {
		struct accel_tensor t = accel_tensor_make(kv->pool,
							  (uint64_t)blocks[i] * kv->block_bytes,
							  ACCEL_DTYPE_I8, (int64_t)kv->block_bytes,
							  1, 1, 1);

		if (up)
			accel_cmd_prep_upload(&c[i], t);
		else
			accel_cmd_prep_download(&c[i], t);
	}
	ret = accel_queue_submit(m->gpu_copy, c, (uint32_t)n, NULL, 0, NULL);
	if (ret == 0)
		ret = accel_queue_wait_idle(m->gpu_copy);
	if (ret < 0)
		accel_queue_clear_error(m->gpu_copy);
	free(c);
	return ret < 0 ? rt_set_error(ret, "--gpu: %s %d KV blocks failed: %s",
				      up ? "uploading" : "downloading", n, strerror(-ret)) : 0;
}
