// SPDX-License-Identifier: MIT
/*
 * The forward pass: one layer loop for every placement of the weights. It
 * stages the batch, embeds it, builds each layer with its architecture's
 * builder between the weights' bind and release hooks, then the output
 * head's chunks, and waits only for the logits. Owns the activation buffers;
 * the math runs on the COMPUTE engine.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "arch/arch.h"
#include "kvcache.h"
#include "rt_error.h"

#define ALIGN64(x) (((x) + 63) & ~(uint64_t)63)

int rt_model_max_logits(const struct rt_model *m)
{
	int n = m->n_seq > 64 ? m->n_seq : 64;

	return n < m->n_batch ? n : m->n_batch;
}

/* a [ne0, rows] buffer in the activation pool */
static struct accel_tensor act(uint64_t *off, uint32_t dtype, int64_t ne0, int64_t rows)
{
	struct accel_tensor t = accel_tensor_make(NULL, *off, dtype, ne0, rows, 1, 1);

	*off += ALIGN64((uint64_t)ne0 * rows * 4);
	return t;
}

int rt_model_alloc_activations(struct rt_model *m)
{
	const struct rt_hparams *hp = &m->hp;
	int64_t B = m->n_batch, qd = (int64_t)hp->n_head * hp->head_dim;
	int64_t kvd = (int64_t)hp->n_kv_head * hp->head_dim;
	int64_t ffw = hp->ff > hp->ff_exp ? hp->ff : hp->ff_exp;
	int64_t k = hp->n_expert_used > 0 ? hp->n_expert_used : 1;
	int64_t pk = hp->n_expert_used > 0 ? rt_pregate_k(hp->n_expert, hp->n_expert_used) : 1;
	struct accel_tensor *all[] = { &m->x, &m->x_out, &m->xb, &m->xb2, &m->q, &m->k, &m->v, &m->attn,
				       &m->hb, &m->hb2, &m->router, &m->moe_w, &m->moe_ids,
				       &m->moe_pred_w, &m->moe_pred_ids, &m->moe_slots,
				       &m->tokens, &m->pos, &m->seq, &m->block_table, &m->logits,
				       &m->logits_tmp };
	struct accel_pool_opts po;
	uint64_t off = 0;
	int ret;

	m->x = act(&off, ACCEL_DTYPE_F32, hp->dim, B);
	m->x_out = act(&off, ACCEL_DTYPE_F32, hp->dim, B);
	m->xb = act(&off, ACCEL_DTYPE_F32, hp->dim, B);
	m->xb2 = act(&off, ACCEL_DTYPE_F32, hp->dim, B);
	m->q = act(&off, ACCEL_DTYPE_F32, qd, B);
	m->k = act(&off, ACCEL_DTYPE_F32, kvd, B);
	m->v = act(&off, ACCEL_DTYPE_F32, kvd, B);
	m->attn = act(&off, ACCEL_DTYPE_F32, qd, B);
	m->hb = act(&off, ACCEL_DTYPE_F32, ffw, B);
	m->hb2 = act(&off, ACCEL_DTYPE_F32, ffw, B);
	m->router = act(&off, ACCEL_DTYPE_F32, hp->n_expert > 0 ? hp->n_expert : 1, B);
	m->moe_w = act(&off, ACCEL_DTYPE_F32, k, B);
	/* the ids of n tokens, then (MOE_FFN's t6 plane 1) each entry's sequence */
	m->moe_ids = act(&off, ACCEL_DTYPE_I32, k, 2 * B);
	m->moe_ids.ne[1] = B;
	m->moe_pred_w = act(&off, ACCEL_DTYPE_F32, pk, B);
	m->moe_pred_ids = act(&off, ACCEL_DTYPE_I32, pk, B);
	m->moe_slots = act(&off, ACCEL_DTYPE_F32, hp->n_expert > 0 ? hp->dim : 1, k * B);
	m->tokens = act(&off, ACCEL_DTYPE_I32, B, 1);
	m->pos = act(&off, ACCEL_DTYPE_I32, B, 1);
	m->seq = act(&off, ACCEL_DTYPE_I32, B, 2);	/* ids, then rt_batch.chunk */
	m->block_table = act(&off, ACCEL_DTYPE_I32, m->kv->max_blocks, m->n_seq);
	m->logits = act(&off, ACCEL_DTYPE_F32, hp->n_vocab, rt_model_max_logits(m));
	/* chunk-major logits of a chunked output head */
	m->logits_tmp = act(&off, ACCEL_DTYPE_F32, hp->n_vocab,
			    m->head_chunks > 1 ? rt_model_max_logits(m) : 1);

	po = ACCEL_OPTS(accel_pool_opts, .size = (off + 4095) & ~(uint64_t)4095,
			.flags = ACCEL_POOL_PAGEABLE);
	ret = accel_pool_create(m->dev, &po, &m->act);
	if (ret < 0)
		return rt_set_error(ret, "cannot allocate %llu KiB of activations: %s",
				    (unsigned long long)(po.size >> 10), strerror(-ret));
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		all[i]->pool = m->act;
	return 0;
}

/* host-side staging of the batch's ids and the block tables */
static int stage_batch(struct rt_model *m, const struct rt_batch *b, bool *decode)
{
	int32_t *tok = rt_tensor_ptr(&m->tokens), *pos = rt_tensor_ptr(&m->pos);
	int32_t *seq = rt_tensor_ptr(&m->seq), *bt = rt_tensor_ptr(&m->block_table);
	uint32_t seen = 0;

	if (b->n <= 0 || b->n > m->n_batch)
		return rt_set_error(-EINVAL, "batch of %d tokens (1..%d allowed)", b->n, m->n_batch);
	*decode = true;
	for (int i = 0; i < b->n; i++) {
		int s = b->seq ? b->seq[i] : 0;

		if (b->tokens[i] < 0 || b->tokens[i] >= m->hp.n_vocab)
			return rt_set_error(-EINVAL, "token id %d out of range (vocab %d)",
					    b->tokens[i], m->hp.n_vocab);
		if (s < 0 || s >= m->n_seq || b->pos[i] < 0 ||
		    b->pos[i] >= m->kv->n_alloc[s] * (int)m->kv->block_tokens)
			return rt_set_error(-EINVAL, "token %d: sequence %d position %d has no KV room",
					    i, s, b->pos[i]);
		if (s < 32 && (seen & (1u << s)))
			*decode = false;
		if (s < 32)
			seen |= 1u << s;
		else
			*decode = false;
		if (b->chunk && b->chunk[i] < 1)
			return rt_set_error(-EINVAL, "token %d: a chunk of %d tokens", i, b->chunk[i]);
		tok[i] = b->tokens[i];
		pos[i] = b->pos[i];
		seq[i] = s;
		/* the second row of ATTN's t7, right after the n ids */
		if (b->chunk)
			seq[b->n + i] = b->chunk[i];
	}
	for (int s = 0; s < m->n_seq; s++)
		for (int j = 0; j < m->kv->max_blocks; j++)
			bt[(size_t)s * m->kv->max_blocks + j] =
				j < m->kv->n_alloc[s] ? (int32_t)m->kv->table[(size_t)s * m->kv->max_blocks + j] : 0;
	return 0;
}

/*
 * MOE_FFN's t6 plane 1 (accel_cmd_moe_rows): each (token, slot) entry's
 * sequence, right after the n tokens' ids that MOE_ROUTE writes, so that an
 * expert's rows are counted per sequence; nothing (false) for a batch of one
 * sequence, which counts as one
 */
static bool stage_moe_seq(struct rt_model *m, const struct rt_batch *b)
{
	const int k = m->hp.n_expert_used;
	bool several = false;
	int32_t *plane;

	for (int i = 1; b->seq && i < b->n && !several; i++)
		several = b->seq[i] != b->seq[0];
	if (!m->hp.n_expert || k <= 0 || !several)
		return false;
	plane = (int32_t *)rt_tensor_ptr(&m->moe_ids) + (size_t)k * b->n;
	for (int t = 0; t < b->n; t++)
		for (int j = 0; j < k; j++)
			plane[t * k + j] = b->seq[t];
	return true;
}

/* build and submit the pass over this model's layers; the weights' hooks cut
 * it where loads order it. A stage that does not start at layer 0 takes its
 * hidden state from @x_in; one that does not end at the last layer has no head. */
static int build_pass(struct rt_model *m, const struct rt_batch *b, const float *x_in,
		      int *n_out)
{
	struct rt_graph g = { .m = m, .ex = &m->ex, .n = b->n, .b = b,
			      .row_invariant = (b->flags & RT_BATCH_ROW_INVARIANT) != 0,
			      .chunk = b->chunk != NULL };
	struct accel_tensor w, ids;
	struct accel_fence_point done;
	int ret;

	if ((ret = stage_batch(m, b, &g.decode)) < 0 || (ret = rt_model_gpu_stage_in(m)) < 0)
		return ret;
	g.moe_seq = stage_moe_seq(m, b);
	if (m->embeds) {
		if ((ret = m->wops->embed(m, b, &w, &ids)) < 0 ||
		    (ret = rt_block_embed(&g, &w, &ids)) < 0)
			return ret;
	} else {
		if (!x_in)
			return rt_set_error(-EINVAL, "layers %d..%d need the hidden state of the "
					    "stage before them", m->l0, m->l1 - 1);
		/* the previous pass completed (forward waits): x is free */
		memcpy(rt_tensor_ptr(&m->x), x_in, sizeof(float) * (size_t)m->hp.dim * b->n);
		if ((ret = rt_model_gpu_upload(m, &m->x, b->n)) < 0)
			return ret;
	}
	for (int il = m->l0; il < m->l1; il++) {
		if ((ret = m->wops->bind(m, il)) < 0)
			return ret;
		ret = m->arch->build_layer ? m->arch->build_layer(&g, &m->layers[il], il)
					   : rt_block_layer(&g, &m->layers[il], il);
		if (ret < 0 || (ret = m->wops->release(m, il)) < 0)
			return ret;
	}
	for (int h = 0; m->has_head && h < m->head_chunks; h++) {
		int u = m->hp.n_layer + h;

		if ((ret = m->wops->bind(m, u)) < 0 ||
		    (ret = rt_block_head(&g, b, h, &m->head[h], n_out)) < 0 ||
		    (ret = m->wops->release(m, u)) < 0)
			return ret;
	}
	if ((ret = m->wops->end(m)) < 0)
		return ret;
	done.fence = m->fence;
	done.point = ++m->fence_point;
	/* the caller waits for it next: run it on this thread where it can */
	return rt_exec_run(&m->ex, &done);
}

int rt_model_drain(struct rt_model *m)
{
	struct accel_fence_point done = { m->fence, ++m->fence_point };
	int ret = rt_exec_flush(&m->ex, &done);

	if (ret < 0)
		return ret;
	ret = accel_fence_wait(m->fence, done.point, -1);
	if (ret == 0)
		ret = accel_queue_error(m->compute);
	return ret < 0 ? rt_set_error(ret, "compute failed: %s", strerror(-ret)) : 0;
}

int rt_model_forward_stage(struct rt_model *m, const struct rt_batch *b, const float *x_in,
			   const float **out)
{
	int n_out = 0, ret;

	rt_exec_discard(&m->ex);	/* what a failed pass left unsubmitted */
	if ((ret = build_pass(m, b, x_in, &n_out)) < 0)
		return ret;
	ret = accel_fence_wait(m->fence, m->fence_point, -1);
	if (ret == 0)
		ret = accel_queue_error(m->compute);
	if (ret < 0)
		return rt_set_error(ret, "compute failed: %s", strerror(-ret));
	if ((ret = m->wops->check(m)) < 0 || (ret = rt_model_gpu_stage_out(m)) < 0)
		return ret;
	if (!m->has_head) {
		/* a GPU stage's hidden state comes down for the next stage */
		if ((ret = rt_model_gpu_download_rows(m, &m->x, b->n)) < 0)
			return ret;
		*out = rt_tensor_ptr(&m->x);
		return b->n;
	}
	rt_block_head_assemble(m, n_out);
	*out = rt_tensor_ptr(&m->logits);
	return n_out;
}

int rt_model_forward(struct rt_model *m, const struct rt_batch *b, const float **out)
{
	if (!m->embeds || !m->has_head)
		return rt_set_error(-EINVAL, "a model of layers %d..%d runs stages "
				    "(rt_model_forward_stage), not whole passes", m->l0, m->l1 - 1);
	return rt_model_forward_stage(m, b, NULL, out);
}
