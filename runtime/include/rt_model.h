/* SPDX-License-Identifier: MIT */
/*
 * A transformer model: hyperparameters and weights from GGUF (llama family,
 * qwen2, llama-layout MoE), placed in libaccel pools, and its forward pass
 * built as command streams for the COMPUTE engine.
 */
#ifndef RT_MODEL_H
#define RT_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include "accel.h"

struct rt_gguf;
struct rt_kvcache;
struct rt_streamer;

enum rt_arch {
	RT_ARCH_LLAMA = 0,	/* llama, mistral, smollm2, mixtral (MoE in llama layout) */
	RT_ARCH_QWEN2 = 1,	/* QKV bias, NEOX rope */
};

struct rt_hparams {
	enum rt_arch arch;
	char arch_name[32];
	char name[128];
	int n_vocab;
	int n_ctx_train;
	int dim;		/* embedding length */
	int n_layer;
	int n_head;
	int n_kv_head;
	int head_dim;		/* dim / n_head unless key_length says otherwise */
	int ff;			/* feed-forward length (per expert for MoE) */
	int n_expert;		/* 0 for dense */
	int n_expert_used;
	int n_rot;
	int rope_mode;		/* 0 NORM (llama), 2 NEOX (qwen2) */
	float rope_base;
	float rope_scale;	/* freq_scale = 1/linear factor */
	float rms_eps;
	bool tied_output;
	bool has_freq_factors;
};

/* the weights of one layer; unused ones have ne[0] == 0 */
struct rt_layer {
	struct accel_tensor attn_norm;	/* F32 [dim] */
	struct accel_tensor wq;		/* [dim, n_head*hd] */
	struct accel_tensor wk;		/* [dim, n_kv_head*hd] */
	struct accel_tensor wv;		/* [dim, n_kv_head*hd] */
	struct accel_tensor wo;		/* [n_head*hd, dim] */
	struct accel_tensor bq, bk, bv;	/* qwen2 biases, F32 */
	struct accel_tensor ffn_norm;	/* F32 [dim] */
	struct accel_tensor w_gate;	/* [dim, ff] */
	struct accel_tensor w_up;	/* [dim, ff] */
	struct accel_tensor w_down;	/* [ff, dim] */
	struct accel_tensor gate_inp;	/* MoE router [dim, n_expert] */
	struct accel_tensor gate_exps;	/* [dim, ff, n_expert] */
	struct accel_tensor up_exps;	/* [dim, ff, n_expert] */
	struct accel_tensor down_exps;	/* [ff, dim, n_expert] */
	uint64_t file_begin, file_end;	/* byte range of the layer's tensors in the file */
};

/**
 * struct rt_model_opts - loading options
 * @threads: COMPUTE threads (0 = all CPUs)
 * @n_ctx: context length (tokens; 0 = min(n_ctx_train, 4096))
 * @n_batch: most tokens per forward call (0 = 512)
 * @n_seq: most sequences decoded together (0 = 1)
 * @kv_block_tokens: tokens per KV block (0 = 16)
 * @device: libaccel device path (NULL = default selection)
 */
struct rt_model_opts {
	int threads;
	int n_ctx;
	int n_batch;
	int n_seq;
	int kv_block_tokens;
	const char *device;
	uint64_t mem_budget;	/* pinned bytes for weights; 0 = everything resident */
	int head_chunks;	/* streaming: row chunks of the output head (0 = auto: none
				 * bigger than a layer; tests force more) */
};

struct rt_model {
	struct rt_hparams hp;
	struct rt_gguf *gguf;
	struct accel_device *dev;
	struct accel_queue *compute;
	struct accel_queue *copy;
	struct accel_fence *fence;	/* compute completion timeline */
	uint64_t fence_point;
	struct accel_pool *weights;	/* resident weights */
	struct accel_pool *act;		/* activations */
	struct rt_kvcache *kv;
	struct rt_streamer *stream;	/* NULL when every weight is resident */
	int fd_direct, fd_buf;		/* the model file, O_DIRECT (or buffered) and buffered */
	bool direct;			/* O_DIRECT was granted */

	struct accel_tensor tok_embd;	/* [dim, n_vocab] */
	struct accel_tensor output_norm;/* F32 [dim] */
	struct accel_tensor output;	/* [dim, n_vocab] (tok_embd when tied) */
	struct accel_tensor freq_factors;/* F32 [n_rot/2] or ne[0] == 0 */
	int head_chunks;		/* streaming: the output head in this many row chunks */
	struct rt_layer *layers;		/* refs used by the forward pass */
	struct rt_layer *layers_file;	/* the same with absolute file offsets, no pool */

	/* activations, in the act pool, for n_batch tokens */
	struct accel_tensor x, xb, xb2, q, k, v, attn, hb, hb2, moe_w, moe_ids, router;
	struct accel_tensor tokens, pos, seq, block_table, logits, logits_tmp;
	int n_ctx, n_batch, n_seq;
	struct accel_cmd *cmds;		/* command stream being built */
	uint32_t n_cmds, cap_cmds;

	double load_seconds;
};

/** rt_model_load - open a GGUF, check its architecture and tensor types
 *  (unknown ones refused with a message naming them), load the weights */
int rt_model_load(const char *path, const struct rt_model_opts *opts, struct rt_model **out);
void rt_model_free(struct rt_model *m);

/**
 * struct rt_batch - tokens of one forward call (like llama_batch)
 * @n: number of tokens (<= n_batch)
 * @tokens, @pos, @seq: per token: id, position in its sequence, sequence id
 * @logits: per token: 1 to compute its logits (rows of the output in order)
 */
struct rt_batch {
	int n;
	const int32_t *tokens;
	const int32_t *pos;
	const int32_t *seq;
	const int8_t *logits;
};

/**
 * rt_model_forward - run the batch; the KV cache must already hold room for
 * every (seq, pos) (rt_kvcache_reserve). On success *out points at the F32
 * logits, n_vocab per requested token, valid until the next call.
 */
int rt_model_forward(struct rt_model *m, const struct rt_batch *b, const float **out);

#endif /* RT_MODEL_H */
