/* SPDX-License-Identifier: MIT */
/*
 * Swap of a preempted sequence's KV blocks to host memory and back through
 * the COPY engine: the bytes come back bit for bit, so a resumed sequence
 * goes on exactly where it stopped, with no recomputation.
 */
#ifndef RT_SERVE_SWAP_H
#define RT_SERVE_SWAP_H

struct rt_model;

/** rt_swap_out - copy the blocks @seq holds to a new host buffer (*out),
 *  then give them back to the pool; returns the number of blocks */
int rt_swap_out(struct rt_model *m, int seq, void **out);
/** rt_swap_in - @n blocks for @seq (which holds none), their bytes from
 *  @buf; frees @buf on success */
int rt_swap_in(struct rt_model *m, int seq, void *buf, int n);

#endif /* RT_SERVE_SWAP_H */
