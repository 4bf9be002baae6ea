/* SPDX-License-Identifier: MIT */
/*
 * Swap of a preempted sequence's KV blocks out of the pool and back through
 * the COPY engine: to host memory, or to a file in a directory (when host
 * swap space runs out). The bytes come back bit for bit, so a resumed
 * sequence goes on exactly where it stopped, with no recomputation.
 */
#ifndef RT_SERVE_SWAP_H
#define RT_SERVE_SWAP_H

#include <stdint.h>

struct rt_model;
struct rt_swap;

/**
 * rt_swap_out - copy the blocks @seq holds out (to host memory, or with
 * @dir to a file there, unlinked at once so nothing outlives the process),
 * then give them back to the pool. Returns the number of blocks (*out NULL
 * when 0) or -errno (the blocks then stay).
 */
int rt_swap_out(struct rt_model *m, int seq, const char *dir, struct rt_swap **out);
/** rt_swap_in - blocks for @seq (which holds none), their bytes from @sw;
 *  frees @sw on success */
int rt_swap_in(struct rt_model *m, int seq, struct rt_swap *sw);
void rt_swap_free(struct rt_swap *sw);
/** rt_swap_blocks - how many blocks @sw holds */
int rt_swap_blocks(const struct rt_swap *sw);
/** rt_swap_host_bytes - host memory @sw takes (0 in a file) */
uint64_t rt_swap_host_bytes(const struct rt_swap *sw);

#endif /* RT_SERVE_SWAP_H */
