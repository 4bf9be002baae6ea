/* SPDX-License-Identifier: MIT */
/*
 * The model's insides, shared by model/ (loading, the layer loop, the shared
 * blocks), arch/ (tensor tables, layer builders) and stream/ (placement and the
 * streamed weights). Nothing here is public: tools see rt_model.h only.
 */
#ifndef RT_MODEL_MODEL_H
#define RT_MODEL_MODEL_H

#include "rt_model.h"
#include "exec.h"

struct rt_arch;
struct rt_kvcache;

/* 1 MiB reads in flight on a COPY queue that streams weights (load.c
 * says why 8); speculative expert reads keep half as many, so that while
 * both run they take the smaller share of the disk from the reads the
 * layers wait for (stream/expert_prefetch.c) */
#define RT_COPY_DEPTH		8
#define RT_SPEC_COPY_DEPTH	4

/*
 * Experts a pre-gated layer ranks (stream/expert_prefetch.c): twice those
 * it routes to where that is a small share of the layer, so that the reads
 * go on past a wrong top-k while the previous layer's MOE_FFN runs. An
 * 8-layer qwen3-30b-a3b-shape model (16 of 128) under 1G: expert cache hit
 * rate 0.71 -> 0.82 for 4% more bytes read; a 4-layer mixtral-8x7b shape
 * (4 of 8): 0.40 -> 0.51 for 20% more, on a disk that was the bottleneck.
 */
static inline int rt_pregate_k(int n_expert, int n_expert_used)
{
	return 8 * n_expert_used <= n_expert ? 2 * n_expert_used : n_expert_used;
}

/* the weights of one layer; those its architecture lacks have ne[0] == 0 */
struct rt_layer {
	struct accel_tensor attn_norm;	/* F32 [dim] */
	struct accel_tensor wq;		/* [dim, n_head*hd] */
	struct accel_tensor wk;		/* [dim, n_kv_head*hd] */
	struct accel_tensor wv;		/* [dim, n_kv_head*hd] */
	struct accel_tensor wo;		/* [n_head*hd, dim] */
	struct accel_tensor bq, bk, bv;	/* qwen2 biases, F32 */
	struct accel_tensor q_norm;	/* qwen3: F32 [hd], RMSNorm of each query head */
	struct accel_tensor k_norm;	/* qwen3: F32 [hd] */
	struct accel_tensor ffn_norm;	/* F32 [dim] */
	struct accel_tensor w_gate;	/* [dim, ff] */
	struct accel_tensor w_up;	/* [dim, ff] */
	struct accel_tensor w_down;	/* [ff, dim] */
	struct accel_tensor gate_inp;	/* MoE router [dim, n_expert] */
	struct accel_tensor gate_exps;	/* [dim, ff_exp, n_expert] */
	struct accel_tensor up_exps;	/* [dim, ff_exp, n_expert] */
	struct accel_tensor down_exps;	/* [ff_exp, dim, n_expert] */
	uint64_t file_begin, file_end;	/* byte range of the layer's tensors in the file */
};

/* the most MOE_FFN commands one layer's experts are split in */
#define RT_MOE_MAX_GROUPS 8

/**
 * struct rt_expert_group - experts that MOE_FFN computes once their reads landed
 * @set: the experts, bit e % 64 of set[e / 64] (ACCEL_MOE_SLOTS's set)
 * @wait: the fence points of their reads (point 0: none)
 */
struct rt_expert_group {
	uint64_t set[4];
	struct accel_fence_point wait[2];
};

/**
 * struct rt_experts - where MOE_FFN finds a layer's experts
 * @gate, @up, @down: the merged tensors, or one expert's shape in a cache
 * @table: unused (merged), or the I64 [3, n_expert] table of byte offsets
 * @n_group: 0: one MOE_FFN over every routed expert (the hook waited for
 *	them); else MOE_FFN by parts, group by group, each after its waits, in
 *	the order their reads land, then MOE_SUM
 * @group: the groups, covering the routed experts once each
 */
struct rt_experts {
	struct accel_tensor gate, up, down, table;
	int n_group;
	struct rt_expert_group group[RT_MOE_MAX_GROUPS];
};

/*
 * struct rt_weights_ops - where the weights are during a pass. The layer loop
 * (forward.c) calls bind before it builds unit u (a layer, then the output
 * head's chunks: units n_layer + h) and release after; both may add fence
 * waits or flush the command buffer with a signal. Resident weights
 * (weights_resident.c) do nothing; streamed ones (stream/) read units into
 * ring slots, embedding rows and experts on demand.
 */
struct rt_weights_ops {
	/* the embedding table and ids to embed the batch from */
	int (*embed)(struct rt_model *m, const struct rt_batch *b, struct accel_tensor *w,
		     struct accel_tensor *ids);
	int (*bind)(struct rt_model *m, int u);
	/* a MoE layer after its routing commands are built */
	int (*experts)(struct rt_model *m, int il, int n, struct rt_experts *e);
	/* optional: 1 and the router of layer il + 1 when that layer's experts
	 * are predicted from layer il's hidden state (pre-gating): the routing
	 * of il then also routes that state through it, into moe_pred_ids,
	 * before experts() is called; 0: not wanted */
	int (*pregate)(struct rt_model *m, int il, struct accel_tensor *router);
	int (*release)(struct rt_model *m, int u);
	/* the pass is built (before its last flush) */
	int (*end)(struct rt_model *m);
	/* the pass completed: errors of the weight reads */
	int (*check)(struct rt_model *m);
	void (*destroy)(struct rt_model *m);
};

struct rt_model {
	struct rt_hparams hp;
	const struct rt_arch *arch;
	struct rt_gguf *gguf;
	struct accel_device *dev;
	struct accel_queue *compute;
	/* its thread count: llama.cpp's split-KV decode runs on as many
	 * threads as -t gives it (ATTN's ACCEL_ATTN_SPLIT) */
	int threads;
	struct accel_queue *copy;
	struct accel_queue *gpu_copy;	/* --gpu: host <-> VRAM twins (gpu/gpu.c); NULL: CPU */
	struct accel_fence *fence;	/* compute completion timeline */
	uint64_t fence_point;
	struct rt_exec ex;		/* the command buffer of the pass being built */
	const struct rt_weights_ops *wops;
	void *wpriv;			/* the weights' state (stream/: struct rt_streamer) */
	/* --vram-budget (gpu/vram.c): the VRAM tier, whose hooks (m->wops) wrap
	 * the host side's (@host_wops, with @wpriv); NULL: none */
	struct rt_vram *vram;
	const struct rt_weights_ops *host_wops;
	struct accel_pool *weights;	/* resident weights: the file's data section */
	struct accel_pool *act;		/* activations */
	struct rt_kvcache *kv;
	int fd_direct, fd_buf;		/* the model file, O_DIRECT (or buffered) and buffered */
	bool direct;			/* O_DIRECT was granted */
	int mlock;			/* enum rt_mlock (rt_model_pool_create) */
	uint64_t pinned_bytes;		/* weight pools pinned ... */
	uint64_t unpinned_bytes;	/* ... and left pageable (RLIMIT_MEMLOCK) */
	struct accel_pool *wpools[4];	/* the pools rt_model_pool_create made */
	int n_wpools;
	bool moe_prefetch;		/* streamed experts read ahead of routing */

	struct accel_tensor tok_embd;	/* [dim, n_vocab] */
	struct accel_tensor output_norm;/* F32 [dim] */
	struct accel_tensor output;	/* [dim, n_vocab] (tok_embd when tied), file offsets */
	struct accel_tensor freq_factors;/* F32 [n_rot/2] or ne[0] == 0 */
	int head_chunks;		/* the output head in this many row chunks */
	struct accel_tensor *head;	/* [head_chunks]: where each chunk is now */
	struct rt_layer *layers;	/* where each layer's tensors are now */
	struct rt_layer *layers_file;	/* the same with absolute file offsets, no pool */

	/* activations, in the act pool, for n_batch tokens */
	struct accel_tensor x, xb, xb2, q, k, v, attn, hb, hb2, moe_w, moe_ids, router;
	struct accel_tensor x_out;	/* the last layer's residual, logits rows only */
	struct accel_tensor moe_pred_w, moe_pred_ids;	/* pre-gating: the next layer's ranking */
	struct accel_tensor moe_slots;	/* F32 [dim, k * n]: MOE_FFN by parts, per slot */
	struct accel_tensor tokens, pos, seq, block_table, logits, logits_tmp;
	int n_ctx, n_batch, n_seq;	/* n_ctx: positions of one sequence */
	int kv_tokens;			/* positions of the shared KV pool (0: per sequence) */
	/* the layers this model runs (a pipeline stage; all by default) */
	int l0, l1;
	bool embeds;			/* l0 == 0: the batch's tokens are embedded here */
	bool has_head;			/* l1 == n_layer: the output head runs here */

	double load_seconds;
};

/** rt_model_unit_used - unit u (a layer, or a chunk of the output head) is in
 *  this model's range: only those are loaded, placed and streamed */
static inline bool rt_model_unit_used(const struct rt_model *m, int u)
{
	return u < m->hp.n_layer ? u >= m->l0 && u < m->l1 : m->has_head;
}

/**
 * rt_model_pool_create - a pool for weights under m->mlock (pin.c): pinned,
 * or pageable where RLIMIT_MEMLOCK refuses and the policy allows (counted
 * in m->unpinned_bytes); @what names it in the error message
 */
int rt_model_pool_create(struct rt_model *m, struct accel_pool_opts *po, struct accel_pool **out,
			 const char *what);

/**
 * struct rt_graph - what a layer builder emits into: the model, its command
 * buffer, and the batch's shape
 */
struct rt_graph {
	struct rt_model *m;
	struct rt_exec *ex;
	int n;			/* tokens in the batch */
	bool decode;		/* one token per sequence */
	bool row_invariant;	/* RT_BATCH_ROW_INVARIANT */
	const struct rt_batch *b;
	bool compact;		/* the last layer kept only the logits rows, rows 0..n-1 of x */
	bool at_head;		/* past the last layer's attention: its rows feed the head */
	bool chunk;		/* rt_batch.chunk given: ATTN's t7 has it */
	bool moe_seq;		/* several sequences: moe_ids' plane 1 holds them (MOE_FFN's t6) */
};

/** rt_tensor_ptr - CPU address of a tensor in a host-visible pool */
static inline void *rt_tensor_ptr(const struct accel_tensor *t)
{
	return (uint8_t *)accel_pool_ptr(t->pool) + t->offset;
}

/** rt_tensor_nbytes - bytes of a contiguous tensor */
uint64_t rt_tensor_nbytes(const struct accel_tensor *t);

/* bind.c: the tensor table of the architecture applied to the file */
int rt_model_bind(struct rt_model *m);
/** rt_layer_tensor - the tensor of layer @l that tensor-table row @row names */
struct accel_tensor *rt_layer_tensor(const struct rt_model *m, struct rt_layer *l, int row);
/** point layer @il's refs at @pool, where the layer's bytes start at
 *  @pool_offset (the layer's file_begin maps there) */
void rt_model_rebind_layer(struct rt_model *m, int il, struct accel_pool *pool,
			   uint64_t pool_offset);
/** rows [r0, r1) of the output head in chunk h (units n_layer + h) */
void rt_head_rows(const struct rt_model *m, int h, int64_t *r0, int64_t *r1);
/** the weight ref of head chunk h at pool offset off (its first byte) */
struct accel_tensor rt_head_chunk(const struct rt_model *m, int h, struct accel_pool *pool,
				  uint64_t off);

/* hparams.c */
int rt_model_hparams_load(struct rt_model *m);

/* load.c */
/** rt_model_prep_read - up to 2 READ_FILE commands bringing file bytes
 *  [begin, end) to @pool: the 4 KiB-aligned superset through the O_DIRECT fd,
 *  a tail past the last full page of the file through the buffered one. The
 *  byte at @begin lands at pool_off + (begin & 4095). Returns the count. */
int rt_model_prep_read(const struct rt_model *m, struct accel_cmd *cmd, struct accel_pool *pool,
		       uint64_t pool_off, uint64_t begin, uint64_t end);
/** rt_model_read_sync - bring file bytes [begin, end) to @pool at @pool_off
 *  (as rt_model_prep_read places them) and wait: loading only */
int rt_model_read_sync(struct rt_model *m, struct accel_pool *pool, uint64_t pool_off,
		       uint64_t begin, uint64_t end);

/* weights_resident.c: every weight in one pool, read at load */
int rt_weights_resident_setup(struct rt_model *m);

/* blocks.c: the shared blocks the architectures build layers from */
int rt_block_embed(struct rt_graph *g, const struct accel_tensor *w,
		   const struct accel_tensor *ids);
int rt_block_attn(struct rt_graph *g, const struct rt_layer *l, int il);
int rt_block_ffn(struct rt_graph *g, const struct rt_layer *l, int il);
int rt_block_moe(struct rt_graph *g, const struct rt_layer *l, int il);
/** the standard decoder layer: attention, then dense or MoE feed-forward */
int rt_block_layer(struct rt_graph *g, const struct rt_layer *l, int il);
/* the output head in row chunks: chunk 0 also norms the requested rows
 * (compacted); logits land in place (one row or one chunk) or chunk-major
 * in logits_tmp, which rt_block_head_assemble puts in order after the pass */
int rt_block_head(struct rt_graph *g, const struct rt_batch *b, int h,
		  const struct accel_tensor *w, int *n_out);
void rt_block_head_assemble(struct rt_model *m, int n_out);

/* forward.c */
int rt_model_alloc_activations(struct rt_model *m);
/* mid-pass: submit what is built with a signal and wait until the compute
 * ran it (a MoE layer's routing the host must read); 0 or -errno with the line */
int rt_model_drain(struct rt_model *m);
/* gpu/gpu.c (--gpu): attach opts->gpu_device to m->dev and create
 * m->gpu_copy; give the weights, KV cache and activations VRAM twins and
 * upload the weights; move a pass's inputs up and its logits down. Each is a
 * no-op without a GPU. */
int rt_model_gpu_attach(struct rt_model *m, const struct rt_model_opts *opts);
int rt_model_gpu_place(struct rt_model *m, uint64_t vram_budget);
int rt_model_gpu_stage_in(struct rt_model *m);
int rt_model_gpu_stage_out(struct rt_model *m);
/* the first @rows rows of F32 [ne0, *] @t between host and its VRAM twin
 * (a pipeline stage's hidden state), waited for; no-ops on the CPU */
int rt_model_gpu_upload(struct rt_model *m, const struct accel_tensor *t, int rows);
int rt_model_gpu_download_rows(struct rt_model *m, const struct accel_tensor *t, int rows);
/* @t (in a pool with a VRAM twin) down to host memory, waited for */
int rt_model_gpu_download(struct rt_model *m, const struct accel_tensor *t);
/* KV blocks @blocks[0..n) from the VRAM twin down to the pool's host
 * mapping (@up false: before the host reads them) or up (after the host
 * wrote them): the serving scheduler's swap and disk tier move KV bytes
 * through the host COPY engine, which sees only the host mapping. Between
 * passes only (the caller waited for the last one); a no-op on the CPU. */
int rt_model_gpu_kv_sync(struct rt_model *m, const uint32_t *blocks, int n, bool up);

/* stream/: layer streaming under a budget; leaves m->wops unset when
 * everything fits */
int rt_stream_setup(struct rt_model *m, uint64_t budget);
/** the streamer behind the host side of the weights, or NULL (resident) */
struct rt_streamer *rt_stream_of(const struct rt_model *m);

#endif /* RT_MODEL_MODEL_H */
