// SPDX-License-Identifier: MIT
/*
 * Paged KV cache over a libaccel KV pool: block tables per sequence, grown on
 * demand, and the prefix cache (publish/lookup of chained block hashes).
 * Owns no math: the ATTN commands read and write the blocks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "kvcache.h"

int rt_kvcache_create(struct accel_device *dev, int n_layer, int n_kv_head, int head_dim,
		      int n_ctx, int n_seq, int block_tokens, uint32_t cache_dtype,
		      struct rt_kvcache **out)
{
	struct rt_kvcache *kv;
	struct accel_pool_opts po;
	uint64_t elt = cache_dtype == ACCEL_DTYPE_F16 ? 2 : 4;
	uint64_t bytes, bs = 4096;
	int ret;

	if (n_layer <= 0 || n_kv_head <= 0 || head_dim <= 0 || n_ctx <= 0 || n_seq <= 0 ||
	    block_tokens <= 0)
		return rt_set_error(-EINVAL, "kv cache: bad geometry");
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	bytes = (uint64_t)n_layer * 2 * block_tokens * n_kv_head * head_dim * elt;
	while (bs < bytes)	/* KV pools want power-of-two blocks */
		bs <<= 1;
	kv->block_tokens = block_tokens;
	kv->block_bytes = bs;
	kv->cache_dtype = cache_dtype;
	kv->n_seq = n_seq;
	kv->max_blocks = (n_ctx + block_tokens - 1) / block_tokens;
	/* every sequence can fill its context, plus room for cached prefixes */
	kv->n_blocks = (uint32_t)kv->max_blocks * n_seq + (uint32_t)kv->max_blocks / 2 + 1;
	kv->table = calloc((size_t)n_seq * kv->max_blocks, sizeof(*kv->table));
	kv->n_alloc = calloc(n_seq, sizeof(*kv->n_alloc));
	if (!kv->table || !kv->n_alloc) {
		ret = -ENOMEM;
		goto err_free;
	}
	po = ACCEL_OPTS(accel_pool_opts, .size = (uint64_t)kv->n_blocks * bs, .block_size = (uint32_t)bs,
			.flags = ACCEL_POOL_KV | ACCEL_POOL_HUGEPAGE | ACCEL_POOL_PAGEABLE);
	ret = accel_pool_create(dev, &po, &kv->pool);
	if (ret < 0) {
		rt_set_error(ret, "kv cache: cannot create a %llu-byte pool: %s",
			     (unsigned long long)po.size, strerror(-ret));
		goto err_free;
	}
	*out = kv;
	return 0;

err_free:
	free(kv->n_alloc);
	free(kv->table);
	free(kv);
	return ret;
}

void rt_kvcache_destroy(struct rt_kvcache *kv)
{
	if (!kv)
		return;
	accel_pool_destroy(kv->pool);
	free(kv->n_alloc);
	free(kv->table);
	free(kv);
}

int rt_kvcache_reserve(struct rt_kvcache *kv, int seq, int n_pos)
{
	int need = (n_pos + (int)kv->block_tokens - 1) / (int)kv->block_tokens;
	uint32_t *row;
	int ret;

	if (seq < 0 || seq >= kv->n_seq || n_pos < 0)
		return rt_set_error(-EINVAL, "kv cache: bad sequence %d or length %d", seq, n_pos);
	if (need > kv->max_blocks)
		return rt_set_error(-ENOSPC, "context full: %d positions > %d", n_pos,
				    kv->max_blocks * (int)kv->block_tokens);
	if (need <= kv->n_alloc[seq])
		return 0;
	row = kv->table + (size_t)seq * kv->max_blocks;
	ret = accel_kv_alloc(kv->pool, (uint32_t)(need - kv->n_alloc[seq]), row + kv->n_alloc[seq]);
	if (ret < 0)
		return rt_set_error(ret, "kv cache: out of blocks (%d wanted)", need);
	kv->n_alloc[seq] = need;
	return 0;
}

int rt_kvcache_clear(struct rt_kvcache *kv, int seq)
{
	int ret = 0;

	if (seq < 0 || seq >= kv->n_seq)
		return -EINVAL;
	if (kv->n_alloc[seq])
		ret = accel_kv_free(kv->pool, (uint32_t)kv->n_alloc[seq],
				    kv->table + (size_t)seq * kv->max_blocks);
	kv->n_alloc[seq] = 0;
	return ret;
}

static int kv_hashes(const struct rt_kvcache *kv, const int32_t *tokens, int nblk, uint64_t *h)
{
	uint64_t prev = 0;

	for (int i = 0; i < nblk; i++) {
		prev = accel_kv_hash(prev, tokens + (size_t)i * kv->block_tokens, kv->block_tokens);
		h[i] = prev;
	}
	return 0;
}

int rt_kvcache_prefix_reuse(struct rt_kvcache *kv, int seq, const int32_t *tokens, int n)
{
	/* keep at least one token to compute: its logits are needed */
	int nblk = (n - 1) / (int)kv->block_tokens;
	uint64_t *h;
	int found;

	if (seq < 0 || seq >= kv->n_seq || kv->n_alloc[seq])
		return -EINVAL;
	if (nblk > kv->max_blocks)
		nblk = kv->max_blocks;
	if (nblk <= 0)
		return 0;
	h = malloc(sizeof(*h) * nblk);
	if (!h)
		return -ENOMEM;
	kv_hashes(kv, tokens, nblk, h);
	found = accel_kv_lookup(kv->pool, (uint32_t)nblk, h, kv->table + (size_t)seq * kv->max_blocks);
	free(h);
	if (found < 0)
		return found;
	kv->n_alloc[seq] = found;
	return found * (int)kv->block_tokens;
}

int rt_kvcache_prefix_publish(struct rt_kvcache *kv, int seq, const int32_t *tokens, int n)
{
	int nblk = n / (int)kv->block_tokens;
	uint64_t *h;
	int ret;

	if (seq < 0 || seq >= kv->n_seq)
		return -EINVAL;
	if (nblk > kv->n_alloc[seq])
		nblk = kv->n_alloc[seq];
	if (nblk <= 0)
		return 0;
	h = malloc(sizeof(*h) * nblk);
	if (!h)
		return -ENOMEM;
	kv_hashes(kv, tokens, nblk, h);
	ret = accel_kv_publish(kv->pool, (uint32_t)nblk, kv->table + (size_t)seq * kv->max_blocks, h);
	free(h);
	return ret < 0 ? ret : 0;
}
