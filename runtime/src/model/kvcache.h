/* SPDX-License-Identifier: MIT */
/*
 * Paged KV cache: fixed-size blocks from a libaccel KV pool (PagedAttention),
 * one block table per sequence. A block holds @block_tokens positions of every
 * layer (layout in accel_cmd.h, ATTN_*), so one block id is one unit of the
 * prefix cache: full blocks of a prompt are published under their chained
 * token hashes and found again by later sequences with the same prefix.
 */
#ifndef RT_MODEL_KVCACHE_H
#define RT_MODEL_KVCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include "accel.h"

struct rt_kvcache {
	struct accel_pool *pool;
	uint32_t block_tokens;
	uint64_t block_bytes;
	uint32_t n_blocks;
	uint32_t k_dtype, v_dtype;	/* ACCEL_DTYPE_F32, F16 or Q8_0 */
	bool flash;			/* ATTN commands with ACCEL_ATTN_FLASH */
	uint64_t bytes_per_token;	/* K + V of one position, all layers */
	int n_seq;
	int max_blocks;			/* per sequence: ceil(n_ctx / block_tokens) */
	uint32_t *table;		/* [n_seq][max_blocks] */
	int *n_alloc;			/* blocks held per sequence */
};

/**
 * struct rt_kvcache_cfg - what the cache holds: llama.cpp's rules applied
 * to rt_model_opts by rt_kvcache_cfg_resolve
 */
struct rt_kvcache_cfg {
	uint32_t k_dtype, v_dtype;	/* ACCEL_DTYPE_* */
	bool flash;
};

/**
 * rt_kvcache_cfg_resolve - defaults and checks as llama.cpp's
 * llama_init_from_model: F16 K and V, flash attention auto = on; a Q8_0 V
 * turns auto on and is refused with -fa off; Q8_0 needs head_dim % 32 == 0.
 * Returns 0 or -EINVAL with the error message set.
 */
int rt_kvcache_cfg_resolve(int type_k, int type_v, int flash_attn, int head_dim,
			   struct rt_kvcache_cfg *cfg);
/**
 * struct rt_kvcache_geom - the cache's shape
 * @n_layer, @n_kv_head, @head_dim: what one position holds
 * @n_ctx: most positions of one sequence
 * @n_seq: sequences
 * @block_tokens: positions per block
 * @kv_tokens: positions the pool holds for all sequences together, rounded
 *	up to whole blocks (llama.cpp's -c); blocks are taken on demand and a
 *	sequence that finds none left fails with -ENOMEM. 0: room for every
 *	sequence's whole context plus half a context of cached prefixes.
 */
struct rt_kvcache_geom {
	int n_layer, n_kv_head, head_dim;
	int n_ctx, n_seq, block_tokens;
	int kv_tokens;
};

/**
 * rt_kvcache_block_bytes - bytes of a block of @block_tokens positions:
 * exact up to whole 4 KiB pages where the device takes any multiple of
 * 4096 (@page_blocks: ACCEL_CAP_PAGE_BLOCKS), else the next power of two
 */
uint64_t rt_kvcache_block_bytes(uint64_t bytes_per_token, int block_tokens, bool page_blocks);
int rt_kvcache_create(struct accel_device *dev, const struct rt_kvcache_geom *g,
		      const struct rt_kvcache_cfg *cfg, struct rt_kvcache **out);
void rt_kvcache_destroy(struct rt_kvcache *kv);
/**
 * rt_kvcache_adopt_pool - (kvshare.c) use the KV pool exported as @fd by
 * another process instead of the cache's own, so that prefix blocks are
 * shared across processes; it needs at least n_blocks blocks of at least
 * block_bytes. 0 or -errno (-EOPNOTSUPP on a device without
 * ACCEL_CAP_CROSS_PROCESS); the cache keeps its own pool on failure.
 */
int rt_kvcache_adopt_pool(struct rt_kvcache *kv, struct accel_device *dev, int fd);
/**
 * rt_kvcache_reserve - make positions [0, n_pos) of @seq backed by blocks,
 * taking only the blocks it lacks. -ENOSPC past the sequence's context,
 * -ENOMEM when the pool has no block left (every one held by a sequence:
 * "KV cache full"), with the error message set; the blocks it had stay.
 */
int rt_kvcache_reserve(struct rt_kvcache *kv, int seq, int n_pos);
/** rt_kvcache_clear - give back every block of @seq */
int rt_kvcache_clear(struct rt_kvcache *kv, int seq);
/**
 * rt_kvcache_prefix_reuse - before prefill of @tokens in an empty @seq: take
 * the cached blocks of the longest published full-block prefix. Returns the
 * number of positions already computed (a multiple of block_tokens, and
 * always < n so at least one token is left to run), or -errno.
 */
int rt_kvcache_prefix_reuse(struct rt_kvcache *kv, int seq, const int32_t *tokens, int n);
/** rt_kvcache_prefix_publish - publish the full blocks of @seq holding @tokens */
int rt_kvcache_prefix_publish(struct rt_kvcache *kv, int seq, const int32_t *tokens, int n);

#endif /* RT_MODEL_KVCACHE_H */
