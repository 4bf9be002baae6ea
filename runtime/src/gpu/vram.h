/* SPDX-License-Identifier: MIT */
/*
 * --vram-budget (vram.c): the GPU's memory as the weights' first tier, in
 * front of the host side (resident weights or stream/'s ring), whose hooks
 * it wraps (m->host_wops).
 */
#ifndef RT_GPU_VRAM_H
#define RT_GPU_VRAM_H

#include "model/model.h"
#include "rt_stream.h"

struct rt_streamer;

/* the VRAM expert cache, an LRU in front of the host's (MoE streamed by expert) */
struct rt_vram_experts {
	int n, n_min;			/* entries (0: none), the least one batch needs */
	struct accel_pool *pool;	/* VRAM: n * the host's expert entry bytes */
	struct accel_pool *tab;		/* the MOE_FFN table of VRAM offsets (host, with a twin) */
	int32_t *where;			/* per (layer, expert): its entry, or -1 */
	int32_t *key;			/* per entry: layer * n_expert + expert, or -1 */
	uint64_t *used;			/* per entry: LRU stamp */
	uint64_t stamp;			/* advanced by each routing */
};

struct rt_vram {
	const struct rt_weights_ops *inner;	/* == m->host_wops */
	struct rt_streamer *host_ring;	/* the host side when it streams, else NULL */
	bool *in_vram;			/* per unit: uploaded once into @res */
	struct accel_pool **host_pool;	/* per unit kept in host memory: where, */
	uint64_t *host_off;		/* (file byte b of the unit at this offset) */
	uint64_t expert_bytes;		/* the least the VRAM expert cache and routers take */
	struct rt_vram_experts vx;
	bool embed_table;		/* EMBED reads a whole table (else rows on demand) */
	bool auto_budget;		/* the budget is the GPU's free memory, not --vram-budget */
	struct accel_pool *res;		/* VRAM: resident units and globals */
	struct accel_pool *slots;	/* VRAM: n_slots * slot_bytes */
	struct accel_pool *embed_twin;	/* VRAM: the streamer's embedding rows */
	struct accel_queue *up;		/* GPU COPY: host -> VRAM uploads */
	struct accel_fence *up_fence;	/* point j + 1: upload j landed */
	struct accel_fence *slot_fence;	/* point c + 1: compute of slot use c done */
	uint64_t up_point;
	uint64_t issued, consumed;	/* VRAM slot uses bound / released */
	int n_slots;
	uint64_t slot_bytes;
	struct rt_vram_stats st;
};

/** after the host side, the KV cache and the activations exist: plan the
 *  VRAM tier, mirror the KV cache and activations, upload what stays and
 *  wrap m->wops; 0 or -errno with rt_last_error() */
int rt_vram_setup(struct rt_model *m, uint64_t budget, bool auto_budget);

#endif /* RT_GPU_VRAM_H */
