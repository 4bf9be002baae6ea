// SPDX-License-Identifier: MIT
/*
 * Embedding rows on demand: when token_embd does not stay resident, each
 * pass reads just the rows its batch embeds (an aligned raw read per row,
 * then a packing copy) on a COPY queue of their own, and the pass waits for
 * them. A few KiB per token instead of the whole table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "rt_gguf.h"
#include "stream.h"

int rt_embed_rows_setup(struct rt_model *m)
{
	struct rt_embed_rows *er = &rt_streamer(m)->embed;
	const struct rt_gguf_tensor *emb = rt_gguf_find_tensor(m->gguf, "token_embd.weight");
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts, .flags = 0);
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY,
						.depth = 64, .chunk = 64 << 10);
	int ret;

	er->row_bytes = accel_dtype_row_size(emb->type, emb->ne[0]);
	er->raw_stride = (er->row_bytes + 2 * RT_PAGE - 1) & ~(RT_PAGE - 1);
	er->packed_off = er->raw_stride * m->n_batch;
	er->ids_off = er->packed_off + ((er->row_bytes * m->n_batch + 63) & ~63ULL);
	po.size = (er->ids_off + 4ULL * m->n_batch + RT_PAGE - 1) & ~(RT_PAGE - 1);
	ret = accel_pool_create(m->dev, &po, &er->pool);
	if (ret < 0)
		return rt_set_error(ret, "cannot allocate embedding staging: %s", strerror(-ret));
	er->cmds = calloc((size_t)m->n_batch * 3, sizeof(*er->cmds));
	if (!er->cmds)
		return -ENOMEM;
	ret = accel_queue_create(m->dev, &qo, &er->copy);
	if (ret < 0)
		return rt_set_error(ret, "cannot create the embedding copy queue: %s", strerror(-ret));
	return accel_fence_create(m->dev, &er->fence);
}

void rt_embed_rows_fini(struct rt_model *m)
{
	struct rt_embed_rows *er = &rt_streamer(m)->embed;

	accel_queue_destroy(er->copy);
	accel_pool_destroy(er->pool);
	accel_fence_destroy(er->fence);
	free(er->cmds);
	memset(er, 0, sizeof(*er));
}

int rt_embed_rows_read(struct rt_model *m, const struct rt_batch *b, struct accel_tensor *w,
		       struct accel_tensor *ids)
{
	struct rt_embed_rows *er = &rt_streamer(m)->embed;
	const struct rt_gguf_tensor *emb = rt_gguf_find_tensor(m->gguf, "token_embd.weight");
	struct accel_fence_point sig;
	int32_t *idp = (int32_t *)((uint8_t *)accel_pool_ptr(er->pool) + er->ids_off);
	int nc = 0, ret;

	for (int i = 0; i < b->n; i++) {
		uint64_t off = emb->offset + (uint64_t)b->tokens[i] * er->row_bytes;
		uint64_t raw = (uint64_t)i * er->raw_stride;

		nc += rt_model_prep_read(m, &er->cmds[nc], er->pool, raw, off, off + er->row_bytes);
		accel_cmd_prep_copy(&er->cmds[nc++],
			accel_tensor_make(er->pool, er->packed_off + i * er->row_bytes,
					  ACCEL_DTYPE_I8, (int64_t)er->row_bytes, 1, 1, 1),
			accel_tensor_make(er->pool, raw + (off & (RT_PAGE - 1)), ACCEL_DTYPE_I8,
					  (int64_t)er->row_bytes, 1, 1, 1));
		idp[i] = i;
	}
	sig.fence = er->fence;
	sig.point = ++er->point;
	ret = accel_queue_submit(er->copy, er->cmds, (uint32_t)nc, NULL, 0, &sig);
	if (ret < 0)
		return rt_set_error(ret, "embedding row reads refused: %s", strerror(-ret));
	*w = accel_tensor_make(er->pool, er->packed_off, emb->type, emb->ne[0], b->n, 1, 1);
	*ids = accel_tensor_make(er->pool, er->ids_off, ACCEL_DTYPE_I32, b->n, 1, 1, 1);
	return rt_exec_wait(&m->ex, &sig);
}
