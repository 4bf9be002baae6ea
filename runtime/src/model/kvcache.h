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

#include <stdint.h>
#include "accel.h"

struct rt_kvcache {
	struct accel_pool *pool;
	uint32_t block_tokens;
	uint64_t block_bytes;
	uint32_t n_blocks;
	uint32_t cache_dtype;		/* ACCEL_DTYPE_F32 or F16 */
	int n_seq;
	int max_blocks;			/* per sequence: ceil(n_ctx / block_tokens) */
	uint32_t *table;		/* [n_seq][max_blocks] */
	int *n_alloc;			/* blocks held per sequence */
};

int rt_kvcache_create(struct accel_device *dev, int n_layer, int n_kv_head, int head_dim,
		      int n_ctx, int n_seq, int block_tokens, uint32_t cache_dtype,
		      struct rt_kvcache **out);
void rt_kvcache_destroy(struct rt_kvcache *kv);
/**
 * rt_kvcache_adopt_pool - (kvshare.c) use the KV pool exported as @fd by
 * another process instead of the cache's own, so that prefix blocks are
 * shared across processes; it needs at least n_blocks blocks of at least
 * block_bytes. 0 or -errno (-EOPNOTSUPP on a device without
 * ACCEL_CAP_CROSS_PROCESS); the cache keeps its own pool on failure.
 */
int rt_kvcache_adopt_pool(struct rt_kvcache *kv, struct accel_device *dev, int fd);
/** rt_kvcache_reserve - make positions [0, n_pos) of @seq backed by blocks */
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
