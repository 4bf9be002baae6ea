/* SPDX-License-Identifier: MIT */
/*
 * The streamed weights' state, in three parts with a file each: the slot
 * ring that streamed units are read into (slots.c), embedding rows read on
 * demand (embed_rows.c) and the LRU cache of MoE experts (experts.c);
 * streamer.c puts them behind the model's weights hooks.
 */
#ifndef RT_STREAM_STREAM_H
#define RT_STREAM_STREAM_H

#include "arch/arch.h"
#include "model/model.h"
#include "rt_stream.h"

#define RT_PAGE 4096ULL

/* bytes of the 4 KiB-aligned superset of [b, e) */
static inline uint64_t rt_span(uint64_t b, uint64_t e)
{
	return (e - (b & ~(RT_PAGE - 1)) + RT_PAGE - 1) & ~(RT_PAGE - 1);
}

/* slots.c: load j -> slot j % K once the compute that last used the slot
 * signalled slot_fence; the compute of a unit waits on its load's point */
struct rt_slots {
	struct accel_pool *pool;	/* n_slots * slot_bytes */
	struct accel_fence *load_fence;	/* point j + 1: load j landed */
	struct accel_fence *slot_fence;	/* point c + 1: compute of consumption c done */
	int *su;			/* streamed units, in pass order */
	int n_su;
	uint64_t issued, consumed;
	bool released;			/* the unit being built released its slot early */
	struct accel_fence_point after;	/* point != 0: loads issued now wait for it too */
};

/* embed_rows.c: the rows a batch embeds (each distinct one once), read
 * from the file per pass, all in flight together */
struct rt_embed_rows {
	struct accel_pool *pool;
	struct accel_queue *copy;	/* rows must not queue behind unit loads */
	struct accel_fence *fence;
	uint64_t point;
	uint64_t raw_stride, row_bytes, packed_off, ids_off;
	struct accel_cmd *cmds;
	int *first;			/* per distinct row of a pass: its first batch entry */
};

/* experts.c: routed experts in an LRU cache of entries; expert_prefetch.c
 * reads the predicted ones early on a queue of their own */
enum {
	RT_PRED_NONE = 0,
	RT_PRED_CACHED = 1,		/* predicted, already in the cache */
	RT_PRED_READ = 2,		/* predicted and read by a prefetch */
};

/* one speculative read: a piece of an expert's slice, its own submission */
struct rt_spec_piece {
	int key, ent;
	uint64_t pool_off, b, e;	/* pool offset of b's page; file range [b, e) */
	uint64_t bytes, point;
};

struct rt_expert_cache {
	struct accel_pool *pool;	/* n_expert_entries * expert_entry_bytes */
	struct accel_pool *tab_pool;	/* the MOE_FFN expert table, I64 [n_expert][3] */
	struct accel_queue *copy;	/* expert reads must not queue behind unit loads */
	struct accel_fence *fence;
	uint64_t point;
	int32_t *entry_key;		/* per entry: layer * n_expert + expert, or -1 */
	uint64_t *entry_used;		/* per entry: LRU stamp; == stamp: not a victim now */
	int32_t *where;			/* per (layer, expert): its entry, or -1 */
	uint64_t stamp;			/* advanced by each routing and at the pass end */
	struct accel_cmd *cmds;
	/* prefetch: speculative reads on a queue of their own, in pieces of
	 * one submission each (a point each), waiting for the demand reads
	 * issued before them and dropped (accel_queue_cancel) at the routing */
	bool prefetch;
	struct accel_queue *pcopy;
	struct accel_fence *pfence;
	uint64_t ppoint;
	uint64_t *entry_ready;		/* per entry: pfence point of its last prefetch */
	int32_t *entry_prev;		/* per entry: the key a prefetch evicted, or -1 */
	uint64_t *entry_prev_used;	/* and its LRU stamp */
	uint8_t *evicted;		/* per (layer, expert): evicted by a prediction
					 * that ran, its layer not routed since */
	/* the payoff of the reads, per window of passes: bytes of routed
	 * experts read before their routing (useful), bytes re-read of
	 * experts predictions evicted (lost); lost > useful backs off */
	uint64_t win_useful, win_lost;
	int win_passes;
	int off_left;			/* passes left predicting without reads */
	int backoff;			/* passes the next back-off lasts */
	uint8_t *pred;			/* per (layer, expert): RT_PRED_* */
	float *last;			/* per (layer, expert): weight of the layer's last routing */
	struct rt_spec_piece *spec;	/* pieces submitted since the last routing */
	struct accel_cmd *pcmds;	/* the re-reads of dropped pieces */
	int n_spec, max_spec;
	/* pre-gating: the routers of streamed MoE layers, kept (pageable) */
	struct accel_pool *router_pool;
	struct accel_tensor *routers;	/* per layer; ne[0] == 0: none kept */
	int pregated;			/* the layer moe_pred_ids predicts, or -1 */
	bool ahead;			/* the next pass's first layer is predicted */
};

struct rt_streamer {
	struct rt_placement pl;
	struct accel_pool *res_pool;	/* resident units and small globals */
	struct rt_slots slots;
	struct rt_embed_rows embed;	/* unused when the embedding is resident */
	struct rt_expert_cache exp;	/* unused without MoE streaming */
	struct rt_stream_stats st;
};

static inline struct rt_streamer *rt_streamer(const struct rt_model *m)
{
	return m->wpriv;
}

/* placement.c */
int rt_placement_plan(const struct rt_model *m, uint64_t budget, struct rt_placement *p);
void rt_placement_free(struct rt_placement *p);
/** the file span of unit u: a layer, or a chunk of the output head */
void rt_unit_range(const struct rt_model *m, int u, uint64_t *begin, uint64_t *end);
/** bytes of one expert's three slices, each as an aligned span */
uint64_t rt_expert_entry_bytes(const struct rt_model *m);
/** the file ranges a streamed use of unit u reads, packed in order into its
 *  slot: the whole unit, or a MoE layer's non-expert tensors; at most
 *  RT_MAX_PIECES; returns the count */
#define RT_MAX_PIECES RT_ARCH_MAX_TENSORS
int rt_unit_pieces(const struct rt_model *m, int u, uint64_t *b, uint64_t *e);

/* slots.c */
int rt_slots_setup(struct rt_model *m);
void rt_slots_fini(struct rt_model *m);
/** issue the loads that may run ahead of the next consumption */
int rt_slots_prefetch(struct rt_model *m);
/** point unit u's refs at the slot of the next consumption; the pass's next
 *  commands wait for its load */
int rt_slots_bind(struct rt_model *m, int u);
/** the pass's commands so far use the slot: flush them, releasing it */
int rt_slots_release(struct rt_model *m);
/** the unit being built is done with its slot (the compute that read it has
 *  run, nothing after reads it): release it now and issue the load that
 *  waited for it, after @after; rt_slots_release() then only flushes */
int rt_slots_release_early(struct rt_model *m, const struct accel_fence_point *after);

/* embed_rows.c */
int rt_embed_rows_setup(struct rt_model *m);
void rt_embed_rows_fini(struct rt_model *m);
/** read the batch's rows; *w and *ids describe them, the pass waits for them */
int rt_embed_rows_read(struct rt_model *m, const struct rt_batch *b, struct accel_tensor *w,
		       struct accel_tensor *ids);

/* experts.c */
int rt_experts_setup(struct rt_model *m);
void rt_experts_fini(struct rt_model *m);
/** after the routing of layer il is built: run it, make the routed experts
 *  resident in the cache, and give MOE_FFN's view of them */
int rt_experts_stream(struct rt_model *m, int il, int n, struct rt_experts *e);
/** the entry for @key: the least recently used one not needed now,
 *  preferring those without a pending prediction (for a @prefetch: only
 *  those); its expert is evicted, a pending prediction's read counted
 *  wasted; -ENOSPC when none is left */
int rt_experts_take(struct rt_model *m, int key, bool prefetch);
/** bytes a read of expert key (layer * n_expert + expert) brings */
uint64_t rt_experts_read_bytes(const struct rt_model *m, int key);
/** the three file slices of expert e of layer il */
void rt_experts_slices(const struct rt_model *m, int il, int e, uint64_t *b, uint64_t *len);

/* expert_prefetch.c */
/** the prefetch queue, fence and prediction state (freed by rt_experts_fini) */
int rt_expert_prefetch_setup(struct rt_model *m);
/** a pass begins: unless the last pass's end predicted its first streamed
 *  MoE layer, forget what a failed pass left predicted and predict it */
int rt_expert_prefetch_begin(struct rt_model *m);
/** layer il routed to need[] (weights w[], summed over the batch): drop the
 *  speculative reads not started, re-read on the demand queue what a needed
 *  expert e lost (points[e]: the point of its re-read, left as is if none),
 *  free what an unneeded one holds; count the predictions, remember the
 *  routing as the next one */
int rt_expert_prefetch_resolve(struct rt_model *m, int il, const bool *need, const float *w,
			       uint64_t *points);
/** predict the streamed MoE layers after il (il + 1 from moe_pred_ids when
 *  pre-gated, for @n tokens) and read what is not cached, the most likely
 *  first, once the demand reads up to x->point are done */
int rt_expert_prefetch_after(struct rt_model *m, int il, int n);
/** the weights' pregate hook: the router of layer il + 1, when both stream */
int rt_expert_prefetch_pregate(struct rt_model *m, int il, struct accel_tensor *router);
/** the pass is built: nothing stays reserved between passes */
void rt_expert_prefetch_end(struct rt_model *m);

#endif /* RT_STREAM_STREAM_H */
