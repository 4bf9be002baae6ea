// SPDX-License-Identifier: MIT
/*
 * Paged KV cache over a libaccel KV pool: block tables per sequence, grown on
 * demand, and the prefix cache (publish/lookup of chained block hashes).
 * Owns no math: the ATTN commands read and write the blocks.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "rt_model.h"
#include "kvcache.h"

static const struct {
	const char *name;
	uint32_t dtype;
} kv_types[] = {
	[RT_KV_F32] = { "f32", ACCEL_DTYPE_F32 },
	[RT_KV_F16] = { "f16", ACCEL_DTYPE_F16 },
	[RT_KV_Q8_0] = { "q8_0", ACCEL_DTYPE_Q8_0 },
};

int rt_kv_type_parse(const char *s)
{
	for (int t = RT_KV_F32; t <= RT_KV_Q8_0; t++)
		if (s && !strcmp(s, kv_types[t].name))
			return t;
	return -EINVAL;
}

const char *rt_kv_type_name(int type)
{
	if (type == RT_KV_DEFAULT)
		type = RT_KV_F16;
	return type >= RT_KV_F32 && type <= RT_KV_Q8_0 ? kv_types[type].name : "?";
}

int rt_flash_attn_parse(const char *s)
{
	static const char *const on[] = { "on", "enabled", "true", "1" };
	static const char *const off[] = { "off", "disabled", "false", "0" };

	for (size_t i = 0; s && i < 4; i++) {
		if (!strcmp(s, on[i]))
			return RT_FA_ON;
		if (!strcmp(s, off[i]))
			return RT_FA_OFF;
	}
	if (s && (!strcmp(s, "auto") || !strcmp(s, "-1")))
		return RT_FA_AUTO;
	return -EINVAL;
}

int rt_kvcache_cfg_resolve(int type_k, int type_v, int flash_attn, int head_dim,
			   struct rt_kvcache_cfg *cfg)
{
	if (type_k == RT_KV_DEFAULT)
		type_k = RT_KV_F16;
	if (type_v == RT_KV_DEFAULT)
		type_v = RT_KV_F16;
	if (type_k < RT_KV_F32 || type_k > RT_KV_Q8_0 || type_v < RT_KV_F32 || type_v > RT_KV_Q8_0)
		return rt_set_error(-EINVAL, "kv cache: unknown cache type (f32, f16, q8_0)");
	if (flash_attn < RT_FA_AUTO || flash_attn > RT_FA_OFF)
		return rt_set_error(-EINVAL, "kv cache: flash attention must be on, off or auto");
	/* llama.cpp: auto is on wherever the device runs flash attention
	 * (every CPU); a quantized V turns auto on and refuses off */
	if (type_v == RT_KV_Q8_0 && flash_attn == RT_FA_OFF)
		return rt_set_error(-EINVAL, "quantized V cache requires flash_attn to be enabled "
				    "(-ctv q8_0 needs -fa on or auto)");
	if ((type_k == RT_KV_Q8_0 || type_v == RT_KV_Q8_0) && head_dim % 32)
		return rt_set_error(-EINVAL, "kv cache: q8_0 needs a head size divisible by its "
				    "block of 32 (head_dim %d)", head_dim);
	cfg->k_dtype = kv_types[type_k].dtype;
	cfg->v_dtype = kv_types[type_v].dtype;
	cfg->flash = flash_attn != RT_FA_OFF;
	return 0;
}

uint64_t rt_kvcache_block_bytes(uint64_t bytes_per_token, int block_tokens, bool page_blocks)
{
	uint64_t bytes = bytes_per_token * (uint64_t)block_tokens, bs = 4096;

	if (page_blocks)	/* whole 4 KiB units: the uapi's rule (O_DIRECT alignment) */
		return (bytes + 4095) / 4096 * 4096;
	while (bs < bytes)	/* drivers without ACCEL_CAP_PAGE_BLOCKS */
		bs <<= 1;
	return bs;
}

int rt_kvcache_create(struct accel_device *dev, const struct rt_kvcache_geom *g,
		      const struct rt_kvcache_cfg *cfg, struct rt_kvcache **out)
{
	struct accel_device_info di;
	struct rt_kvcache *kv;
	struct accel_pool_opts po;
	uint64_t row, bs, n_blocks;
	int ret;

	if (g->n_layer <= 0 || g->n_kv_head <= 0 || g->head_dim <= 0 || g->n_ctx <= 0 ||
	    g->n_seq <= 0 || g->block_tokens <= 0 || g->kv_tokens < 0)
		return rt_set_error(-EINVAL, "kv cache: bad geometry");
	/* a K row and a V row of one position and layer (Q8_0: 34 bytes per 32) */
	row = accel_dtype_row_size(cfg->k_dtype, (int64_t)g->n_kv_head * g->head_dim) +
	      accel_dtype_row_size(cfg->v_dtype, (int64_t)g->n_kv_head * g->head_dim);
	if (!row)
		return rt_set_error(-EINVAL, "kv cache: bad cache type");
	if ((ret = accel_device_info(dev, &di)) < 0)
		return rt_set_error(ret, "kv cache: device info: %s", strerror(-ret));
	bs = rt_kvcache_block_bytes((uint64_t)g->n_layer * row, g->block_tokens,
				    !!(di.caps & ACCEL_CAP_PAGE_BLOCKS));
	if (bs > UINT32_MAX)
		return rt_set_error(-EINVAL, "kv cache: a block of %d tokens is %llu bytes (> 4 GiB)",
				    g->block_tokens, (unsigned long long)bs);
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	kv->block_tokens = g->block_tokens;
	kv->block_bytes = bs;
	kv->k_dtype = cfg->k_dtype;
	kv->v_dtype = cfg->v_dtype;
	kv->flash = cfg->flash;
	kv->bytes_per_token = (uint64_t)g->n_layer * row;
	kv->n_seq = g->n_seq;
	kv->max_blocks = (g->n_ctx + g->block_tokens - 1) / g->block_tokens;
	if (g->kv_tokens)	/* one pool of kv_tokens positions, shared */
		n_blocks = ((uint64_t)g->kv_tokens + g->block_tokens - 1) / g->block_tokens;
	else	/* every sequence can fill its context, plus room for cached prefixes */
		n_blocks = (uint64_t)kv->max_blocks * g->n_seq + kv->max_blocks / 2 + 1;
	if (n_blocks > UINT32_MAX / 2) {	/* the device refuses far fewer */
		ret = rt_set_error(-EINVAL, "kv cache: %llu blocks of %d tokens",
				   (unsigned long long)n_blocks, g->block_tokens);
		goto err_free;
	}
	kv->n_blocks = (uint32_t)n_blocks;
	kv->table = calloc((size_t)g->n_seq * kv->max_blocks, sizeof(*kv->table));
	kv->n_alloc = calloc(g->n_seq, sizeof(*kv->n_alloc));
	if (!kv->table || !kv->n_alloc) {
		ret = -ENOMEM;
		goto err_free;
	}
	po = ACCEL_OPTS(accel_pool_opts, .size = (uint64_t)kv->n_blocks * bs, .block_size = (uint32_t)bs,
			.flags = ACCEL_POOL_KV | ACCEL_POOL_HUGEPAGE | ACCEL_POOL_PRIVATE |
				 ACCEL_POOL_PAGEABLE);
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
	if (ret == -ENOMEM)	/* every block is held by a sequence: no cached one to evict
				 * (-ENOMEM stays: the scheduler preempts on it) */
		return rt_set_error(-ENOMEM, "KV cache full: sequence %d needs %d blocks for %d "
				    "positions and the pool's %u blocks of %d positions are all "
				    "held (a larger -c holds more)", seq, need, n_pos, kv->n_blocks,
				    (int)kv->block_tokens);
	if (ret < 0)
		return rt_set_error(ret, "kv cache: out of blocks (%d wanted): %s", need,
				    strerror(-ret));
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
