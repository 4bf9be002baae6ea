// SPDX-License-Identifier: MIT
/*
 * Embedding rows on demand: when token_embd does not stay resident, each
 * pass reads just the rows its batch embeds (an aligned raw read per
 * distinct token, then a packing copy) on a COPY queue of their own, and
 * the pass waits for them. A few KiB per token instead of the whole table.
 * The reads come first in the submission, so the COPY engine has them all
 * in flight at once (one group): behind the layer loads that fill the
 * disk's queue they wait once, not once per row. -np 8 on a 7B-shape q4_0
 * model, 300M budget: the rows of a pass took 70-150 ms read one after the
 * other, long enough to hold up layer 0 and with it the load of layer 2.
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
	er->first = calloc((size_t)m->n_batch, sizeof(*er->first));
	if (!er->cmds || !er->first)
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
	free(er->first);
	memset(er, 0, sizeof(*er));
}

int rt_embed_rows_read(struct rt_model *m, const struct rt_batch *b, struct accel_tensor *w,
		       struct accel_tensor *ids)
{
	struct rt_embed_rows *er = &rt_streamer(m)->embed;
	const struct rt_gguf_tensor *emb = rt_gguf_find_tensor(m->gguf, "token_embd.weight");
	struct accel_fence_point sig;
	int32_t *idp = (int32_t *)((uint8_t *)accel_pool_ptr(er->pool) + er->ids_off);
	int nc = 0, nu = 0, ret;

	/* the distinct tokens' rows: reads first, each to its raw slot */
	for (int i = 0; i < b->n; i++) {
		uint64_t off = emb->offset + (uint64_t)b->tokens[i] * er->row_bytes;
		int u, nr;

		for (u = 0; u < nu && b->tokens[er->first[u]] != b->tokens[i]; u++)
			;
		idp[i] = u;
		if (u < nu)
			continue;
		er->first[nu++] = i;
		nr = rt_model_prep_read(m, &er->cmds[nc], er->pool, (uint64_t)u * er->raw_stride,
					off, off + er->row_bytes);
		for (int k = 0; k < nr; k++)
			accel_cmd_name(&er->cmds[nc + k], "embed_rows", u);
		nc += nr;
	}
	/* then packed in order, once all have landed */
	for (int u = 0; u < nu; u++) {
		uint64_t off = emb->offset + (uint64_t)b->tokens[er->first[u]] * er->row_bytes;

		accel_cmd_prep_copy(&er->cmds[nc++],
			accel_tensor_make(er->pool, er->packed_off + u * er->row_bytes,
					  ACCEL_DTYPE_I8, (int64_t)er->row_bytes, 1, 1, 1),
			accel_tensor_make(er->pool, (uint64_t)u * er->raw_stride + (off & (RT_PAGE - 1)),
					  ACCEL_DTYPE_I8, (int64_t)er->row_bytes, 1, 1, 1));
	}
	sig.fence = er->fence;
	sig.point = ++er->point;
	ret = accel_queue_submit(er->copy, er->cmds, (uint32_t)nc, NULL, 0, &sig);
	if (ret < 0)
		return rt_set_error(ret, "embedding row reads refused: %s", strerror(-ret));
	rt_streamer(m)->st.embed_tokens += (uint64_t)b->n;
	rt_streamer(m)->st.embed_rows += (uint64_t)nu;
	*w = accel_tensor_make(er->pool, er->packed_off, emb->type, emb->ne[0], nu, 1, 1);
	*ids = accel_tensor_make(er->pool, er->ids_off, ACCEL_DTYPE_I32, b->n, 1, 1, 1);
	return rt_exec_wait(&m->ex, &sig);
}
