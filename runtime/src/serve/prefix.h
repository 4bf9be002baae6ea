/* SPDX-License-Identifier: MIT */
/*
 * The scheduler's prefix cache keys. A block's bits depend on its tokens and
 * on the arithmetic every earlier position's attention took, which llama.cpp
 * (and so accel-run) picks by the size of the chunk a prompt token is run in:
 * a lone token, a chunk, a chunk of 64 or more (flash attention's tiled
 * kernel). The scheduler runs every position with the arithmetic accel-run
 * gives it (rt_batch.chunk), and keys blocks by tokens and those classes, so
 * a block is shared only with requests whose accel-run would compute the
 * same bits. No I/O, no allocation.
 */
#ifndef RT_SERVE_PREFIX_H
#define RT_SERVE_PREFIX_H

#include <stdint.h>

struct rt_model;

/**
 * rt_prefix_chunk - the tokens of the pass in which accel-run (rt_session:
 * the prompt in chunks of n_batch from position 0, then one token per pass)
 * computes position @p of a request with an @n_prompt-token prompt
 */
int rt_prefix_chunk(const struct rt_model *m, int n_prompt, int p);
/**
 * rt_prefix_hashes - chained keys of blocks [from, to) of @tokens (blocks
 * before @from already in @h), each from its tokens and its positions'
 * arithmetic classes
 */
void rt_prefix_hashes(const struct rt_model *m, const int32_t *tokens, int n_prompt, int from,
		      int to, uint64_t *h);
/** rt_prefix_reuse - empty @seq takes the published blocks of the longest
 *  run of leading @h (at most @n); returns how many */
int rt_prefix_reuse(struct rt_model *m, int seq, const uint64_t *h, int n);
/** rt_prefix_publish - the first @n blocks @seq holds go into the index
 *  under @h; 0 or -errno */
int rt_prefix_publish(struct rt_model *m, int seq, const uint64_t *h, int n);

#endif /* RT_SERVE_PREFIX_H */
