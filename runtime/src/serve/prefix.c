// SPDX-License-Identifier: MIT
/*
 * The scheduler's prefix cache keys (prefix.h): accel-run's chunk of each
 * position, the arithmetic class it implies, and lookup/publish of a
 * sequence's blocks under keys salted with those classes.
 */
#include <errno.h>
#include "model/kvcache.h"
#include "model/model.h"
#include "serve/prefix.h"

int rt_prefix_chunk(const struct rt_model *m, int n_prompt, int p)
{
	int c0 = p - p % m->n_batch;

	if (p >= n_prompt)
		return 1;	/* a generated token, fed alone */
	return n_prompt - c0 < m->n_batch ? n_prompt - c0 : m->n_batch;
}

/*
 * The classes llama.cpp's attention tells apart (accel_cmd.h, ATTN_* t7): a
 * lone query, a chunk, a chunk of 64 or more; a lone query at position 256
 * or later with F16/F32 K and V under flash attention is split over -t
 * threads (ACCEL_ATTN_SPLIT), so its class names them (a disk tier or a
 * shared pool may outlive the -t it was filled at). Finer keys would only
 * lose hits (prompts of 20 and 30 tokens share the arithmetic of their
 * first block), coarser ones would share blocks whose bits differ.
 */
static int32_t arith_class(const struct rt_model *m, int chunk, int p)
{
	const struct rt_kvcache *kv = m->kv;
	const bool f16ish = (kv->k_dtype == ACCEL_DTYPE_F16 || kv->k_dtype == ACCEL_DTYPE_F32) &&
			    (kv->v_dtype == ACCEL_DTYPE_F16 || kv->v_dtype == ACCEL_DTYPE_F32);

	if (chunk == 1 && p >= 256 && kv->flash && f16ish)
		return 1 | m->threads << 8;
	return chunk >= 64 ? 64 : chunk > 1 ? 2 : 1;
}

void rt_prefix_hashes(const struct rt_model *m, const int32_t *tokens, int n_prompt, int from,
		      int to, uint64_t *h)
{
	const int bt = (int)m->kv->block_tokens;
	int32_t cls[bt];

	for (int b = from; b < to; b++) {
		uint64_t x = accel_kv_hash(b ? h[b - 1] : 0, tokens + (size_t)b * bt, (uint32_t)bt);

		for (int j = 0; j < bt; j++)
			cls[j] = arith_class(m, rt_prefix_chunk(m, n_prompt, b * bt + j), b * bt + j);
		h[b] = accel_kv_hash(x, cls, (uint32_t)bt);
	}
}

int rt_prefix_reuse(struct rt_model *m, int seq, const uint64_t *h, int n)
{
	struct rt_kvcache *kv = m->kv;
	int found;

	if (kv->n_alloc[seq])
		return -EINVAL;
	if (n > kv->max_blocks)
		n = kv->max_blocks;
	if (n <= 0)
		return 0;
	found = accel_kv_lookup(kv->pool, (uint32_t)n, h, kv->table + (size_t)seq * kv->max_blocks);
	if (found < 0)
		return found;
	kv->n_alloc[seq] = found;
	return found;
}

int rt_prefix_publish(struct rt_model *m, int seq, const uint64_t *h, int n)
{
	struct rt_kvcache *kv = m->kv;
	int ret;

	if (n > kv->n_alloc[seq])
		n = kv->n_alloc[seq];
	if (n <= 0)
		return 0;
	ret = accel_kv_publish(kv->pool, (uint32_t)n, kv->table + (size_t)seq * kv->max_blocks, h);
	return ret < 0 ? ret : 0;
}
