/* SPDX-License-Identifier: MIT */
/*
 * A transformer model: hyperparameters and weights from GGUF (the
 * architectures of runtime/src/arch/), placed in libaccel pools, and its
 * forward pass built as command streams for the COMPUTE engine. The model is
 * an opaque handle; callers read it through the accessors below.
 */
#ifndef RT_MODEL_H
#define RT_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include "accel.h"

struct rt_gguf;
struct rt_model;

/**
 * struct rt_hparams - what a model's GGUF metadata says, after defaults
 * @arch_name: general.architecture ("llama", "qwen2", "qwen3", "qwen3moe")
 * @ff: feed-forward length of a dense layer
 * @ff_exp: feed-forward length of one expert (MoE; @ff unless the file says)
 * @rope_mode: 0 NORM (adjacent pairs), 2 NEOX (halves)
 * @rope_scale: freq_scale = 1 / linear scaling factor
 */
struct rt_hparams {
	char arch_name[32];
	char name[128];
	int n_vocab;
	int n_ctx_train;
	int dim;		/* embedding length */
	int n_layer;
	int n_head;
	int n_kv_head;
	int head_dim;		/* dim / n_head unless key_length says otherwise */
	int ff;
	int ff_exp;
	int n_expert;		/* 0 for dense */
	int n_expert_used;
	int n_rot;
	int rope_mode;
	float rope_base;
	float rope_scale;
	float rms_eps;
	bool tied_output;
	bool has_freq_factors;
};

/**
 * struct rt_model_opts - loading options
 * @threads: COMPUTE threads (0 = all CPUs)
 * @n_ctx: context length (tokens; 0 = min(n_ctx_train, 4096)): per sequence,
 *	or shared by all of them (@ctx_mode)
 * @n_batch: most tokens per forward call (0 = 512)
 * @n_seq: most sequences decoded together (0 = 1)
 * @kv_block_tokens: tokens per KV block (0 = 16)
 * @device: libaccel device path (NULL = default selection)
 * @mem_budget: pinned bytes for weights; 0 = everything resident
 * @head_chunks: streaming: row chunks of the output head (0 = auto: none
 *	bigger than a layer; tests force more)
 * @mlock: enum rt_mlock: what a refusal to pin the weights does
 * @layer_first, @layer_end: a pipeline stage: the model runs layers
 *	[layer_first, layer_end) only (0, 0 = all): it loads, pins or streams
 *	only their weights (and, under @mem_budget, places only them) and keeps
 *	only their KV cache; the stage that starts at layer 0 embeds, the one
 *	that ends at the last layer computes the output head
 * @kv_pool_fd: a KV pool exported by another process (accel_pool_export):
 *	the KV cache uses it, sharing its prefix index across processes;
 *	0 = none (a pool is never fd 0, 1 or 2); needs
 *	ACCEL_CAP_CROSS_PROCESS (the driver)
 * @type_k, @type_v: enum rt_kv_type of the KV cache's K and V (llama.cpp's
 *	-ctk/-ctv; 0 = its default, F16)
 * @flash_attn: enum rt_flash_attn (llama.cpp's -fa; 0 = auto, on for the CPU)
 * @ctx_mode: enum rt_ctx_mode: what @n_ctx counts when @n_seq sequences
 *	share the KV cache (0 = per sequence)
 * @gpu: 1 = run on CUDA GPU @gpu_device (accel_gpu_attach: the backend
 *	libaccel-cuda.so.1 is loaded then, never otherwise); a load without a
 *	usable GPU fails with the reason in rt_last_error()
 * @gpu_device: the GPU's CUDA ordinal
 * @vram_budget: with @gpu, the VRAM bytes the model may use (KV cache,
 *	activations, weights): the units that do not fit cross PCIe every pass
 *	through VRAM slots, from host memory (all of it resident, or
 *	@mem_budget's tier); 0 = the whole model in VRAM
};

 * @moe_prefetch: enum rt_moe_prefetch: a streamed MoE layer's predicted
 *	experts are read before its routing finishes (0 = the default: on)
 */
enum rt_mlock {
	RT_MLOCK_AUTO = 0,	/* pinned where RLIMIT_MEMLOCK allows, else pageable
				 * (rt_model_unpinned_bytes says how much) */
	RT_MLOCK_REQUIRE = 1,	/* pinning refused: the load fails (--mlock) */
};

/* KV cache element types, as llama.cpp's -ctk/-ctv name them */
enum rt_kv_type {
	RT_KV_DEFAULT = 0,	/* F16, llama.cpp's default */
	RT_KV_F32 = 1,
	RT_KV_F16 = 2,
	RT_KV_Q8_0 = 3,		/* ggml's block_q8_0; head_dim a multiple of 32 */
};

/* flash attention, as llama.cpp's -fa: its kernel's arithmetic (an online
 * softmax) instead of softmax then a matmul by V; a Q8_0 V cache needs it */
enum rt_flash_attn {
	RT_FA_AUTO = 0,		/* on (llama.cpp: on where the backend has it; the CPU has) */
	RT_FA_ON = 1,
	RT_FA_OFF = 2,
};

/*
 * how @n_ctx and @n_seq size the KV cache. A KV pool's blocks are taken on
 * demand and given back when a sequence is cleared, whatever the mode.
 */
enum rt_ctx_mode {
	RT_CTX_PER_SEQ = 0,	/* n_ctx per sequence; the pool holds every sequence's
				 * whole context plus half a context of cached prefixes */
	RT_CTX_SPLIT = 1,	/* llama.cpp's -c with -np: n_ctx in total, each sequence
				 * n_ctx / n_seq (< 1 refused); the pool holds n_ctx,
				 * rounded up to whole blocks per sequence */
	RT_CTX_UNIFIED = 2,	/* llama.cpp's -kvu (and vLLM): n_ctx in total, each
				 * sequence up to n_ctx while blocks last; the pool holds
				 * n_ctx: a sequence that finds no block fails (-ENOMEM,
				 * "KV cache full") */
};

/* MoE streaming: read the experts a layer is predicted to route to (the
 * layer before's state through its router, or its previous routing) before
 * its routing has run, behind the reads the routing asks for and dropped
 * once it is known; results never change */
enum rt_moe_prefetch {
	RT_MOE_PREFETCH_DEFAULT = 0,	/* on: never behind off since speculative
					 * reads yield to demand reads (issue 14) */
	RT_MOE_PREFETCH_ON = 1,
	RT_MOE_PREFETCH_OFF = 2,
};

struct rt_model_opts {
	int threads;
	int n_ctx;
	int n_batch;
	int n_seq;
	int kv_block_tokens;
	const char *device;
	uint64_t mem_budget;
	int head_chunks;
	int mlock;
	int layer_first;
	int layer_end;
	int kv_pool_fd;
	int type_k;
	int type_v;
	int flash_attn;
	int ctx_mode;
	int gpu;
	int gpu_device;
	int moe_prefetch;
	uint64_t vram_budget;
};

/** rt_kv_type_parse - "f32", "f16", "q8_0" (llama.cpp's names) -> enum
 *  rt_kv_type; -EINVAL for anything else */
int rt_kv_type_parse(const char *s);
/** rt_kv_type_name - "f32", "f16", "q8_0"; "?" if unknown (DEFAULT: "f16") */
const char *rt_kv_type_name(int type);
/** rt_flash_attn_parse - llama.cpp's spellings: on|enabled|true|1,
 *  off|disabled|false|0, auto|-1 -> enum rt_flash_attn; -EINVAL otherwise */
int rt_flash_attn_parse(const char *s);

/**
 * struct rt_kv_info - the KV cache a loaded model uses (defaults resolved)
 * @type_k, @type_v: enum rt_kv_type, never RT_KV_DEFAULT
 * @flash_attn: true when attention runs llama.cpp's flash-attention arithmetic
 * @bytes_per_token: K and V bytes of one position over all layers
 * @n_ctx_seq: most positions of one sequence (rt_model_n_ctx)
 * @n_seq: sequences
 * @block_tokens: positions per KV block
 * @block_bytes: bytes of a block (whole 4 KiB pages, or a power of two on a
 *	driver without ACCEL_CAP_PAGE_BLOCKS)
 * @n_blocks: blocks of the pool, shared by all sequences
 * @pool_bytes: the pool (pinned where the device pins)
 */
struct rt_kv_info {
	int type_k;
	int type_v;
	bool flash_attn;
	uint64_t bytes_per_token;
	int n_ctx_seq;
	int n_seq;
	int block_tokens;
	uint64_t block_bytes;
	uint32_t n_blocks;
	uint64_t pool_bytes;
};
void rt_model_kv_info(const struct rt_model *m, struct rt_kv_info *out);

/** rt_model_load - open a GGUF, check its architecture and tensor types
 *  (unknown ones refused with a message naming them), load the weights */
int rt_model_load(const char *path, const struct rt_model_opts *opts, struct rt_model **out);
void rt_model_free(struct rt_model *m);

/* accessors */
const struct rt_hparams *rt_model_hparams(const struct rt_model *m);
/** the model's GGUF file (metadata for the tokenizer and chat templates) */
const struct rt_gguf *rt_model_gguf(const struct rt_model *m);
int rt_model_n_ctx(const struct rt_model *m);
int rt_model_n_batch(const struct rt_model *m);
int rt_model_n_seq(const struct rt_model *m);
/** the most rows of logits one forward call can return */
int rt_model_max_logits(const struct rt_model *m);
/** seconds rt_model_load took */
double rt_model_load_seconds(const struct rt_model *m);
/** false when the file system refused O_DIRECT (reads go through the page cache) */
bool rt_model_direct_io(const struct rt_model *m);
/** weight bytes that stay pageable because RLIMIT_MEMLOCK refused to pin
 *  them (RT_MLOCK_AUTO); 0 when everything is pinned */
uint64_t rt_model_unpinned_bytes(const struct rt_model *m);
/** bytes of the weights' pools: resident weights, the slot ring, the expert
 *  cache (what --mem-budget caps; the KV pool is not counted) */
uint64_t rt_model_weight_bytes(const struct rt_model *m);
/** of rt_model_weight_bytes, those whose pools have huge pages now (decode
 *  streams the weights: 4 KiB pages cost a core ~30% of its DRAM rate on a
 *  Zen 4) */
uint64_t rt_model_huge_bytes(const struct rt_model *m);
/** the COPY queue that reads the weights (fault injection in tests) */
struct accel_queue *rt_model_copy_queue(struct rt_model *m);

/**
 * struct rt_batch - tokens of one forward call (like llama_batch)
 * @n: number of tokens (<= n_batch)
 * @tokens, @pos, @seq: per token: id, position in its sequence, sequence id
 * @logits: per token: 1 to compute its logits (rows of the output in order)
 * @flags: RT_BATCH_* (0: llama.cpp's arithmetic, which for attention differs
 *	between a batch of one token and a larger one)
 * @chunk: NULL, or per token (>= 1): how many tokens of its sequence the
 *	pass whose arithmetic it takes holds. llama.cpp's attention differs
 *	for a lone token, a chunk and a chunk of 64 or more (flash attention's
 *	tiled kernel), so a scheduler that cuts a prompt in other pieces than
 *	rt_session would passes the sizes of rt_session's chunks, and gets
 *	rt_session's bits whatever the cut. NULL: counted in this batch, per
 *	sequence. RT_BATCH_ROW_INVARIANT overrides it.
 */
struct rt_batch {
	int n;
	const int32_t *tokens;
	const int32_t *pos;
	const int32_t *seq;
	const int8_t *logits;
	int flags;
	const int32_t *chunk;
};

/* every row exactly as a batch of that one token computes it (speculative
 * verification: the logits plain decoding would give) */
#define RT_BATCH_ROW_INVARIANT 1

/**
 * rt_model_forward - run the batch; the KV cache must already hold room for
 * every (seq, pos) (rt_kvcache_reserve). On success *out points at the F32
 * logits, n_vocab per requested token, valid until the next call; returns
 * the number of rows.
 */
int rt_model_forward(struct rt_model *m, const struct rt_batch *b, const float **out);

/**
 * rt_model_forward_stage - the batch through this model's layer range (a
 * pipeline stage, rt_model_opts.layer_first/layer_end). The hidden state comes
 * from the embedding of @b's tokens when the range starts at layer 0, else from
 * @x_in: @b->n rows of dim F32 (another stage's output). When the range ends at
 * the last layer, *out points at the logits and the return is as
 * rt_model_forward's; else *out points at the hidden state after the range's
 * last layer, @b->n rows of dim F32, and the return is @b->n. Valid until the
 * next call. Every stage needs the whole batch (positions, sequences, logits
 * flags); the KV cache must hold room as for rt_model_forward.
 */
int rt_model_forward_stage(struct rt_model *m, const struct rt_batch *b, const float *x_in,
			   const float **out);
/** rt_model_layers - the layer range [*first, *end) this model runs */
void rt_model_layers(const struct rt_model *m, int *first, int *end);

/** rt_model_kv_reserve - KV room for positions [0, n_pos) of sequence @seq
 *  (callers that drive rt_model_forward themselves: a pipeline stage) */
int rt_model_kv_reserve(struct rt_model *m, int seq, int n_pos);
/** rt_model_kv_clear - give back every KV block of sequence @seq */
int rt_model_kv_clear(struct rt_model *m, int seq);

/**
 * rt_model_split - contiguous layer ranges for @n pipeline stages of the model
 * in @path, balanced by weight bytes (the output head counts for the last
 * stage): stage r gets a share of the bytes proportional to @weight[r] (NULL:
 * equal shares; a rank with a bigger memory budget takes more). On success
 * stage r runs layers [first[r], first[r + 1]); @first has n + 1 entries.
 * -EINVAL when the model has fewer layers than stages.
 */
int rt_model_split(const char *path, int n, const double *weight, int *first);

#endif /* RT_MODEL_H */
