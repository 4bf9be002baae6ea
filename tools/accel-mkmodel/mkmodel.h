/* SPDX-License-Identifier: MIT */
/*
 * accel-mkmodel internals: named model shapes (presets), the plan of one
 * file (metadata + tensor table + how each tensor is initialised), and the
 * generator that streams seeded random weights into a GGUF writer.
 */
#ifndef MKMODEL_H
#define MKMODEL_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_gguf.h"
#include "rt_gguf_writer.h"

/**
 * struct mk_preset - a named model shape, with llama.cpp's hyperparameters
 * @arch: general.architecture and the prefix of the hyperparameter keys:
 *	"llama" (also Mixtral), "qwen3", "qwen3moe"
 * @ff: feed_forward_length (the dense FFN's width)
 * @head_dim: attention.key_length and value_length; 0: dim / heads, and the
 *	file says rope.dimension_count instead (llama)
 * @vocab: 0: the tokenizer's size (test presets)
 * @expert_ff: expert_feed_forward_length; 0: experts are @ff wide and the key
 *	is not written (Mixtral)
 * @qk_norm: per-head RMSNorm weights attn_q_norm/attn_k_norm (qwen3)
 * @ctx: context_length; 0: 4096
 */
struct mk_preset {
	const char *name;
	const char *arch;
	uint32_t dim, ff, layers, heads, kv_heads, head_dim;
	uint32_t vocab;
	uint32_t experts, experts_used, expert_ff;
	bool qk_norm;
	uint32_t ctx;
	float rope_base, rms_eps;
};

/** mk_preset_find - the preset called @name, or NULL */
const struct mk_preset *mk_preset_find(const char *name);
/** mk_preset_names - "llama-7b, llama-70b, ..." for messages */
const char *mk_preset_names(void);

/* one tensor of the plan: its name, row layout and how values are drawn */
struct mk_tensor {
	char name[64];
	uint32_t type;
	int64_t ne0;		/* elements per row */
	float mean, std;	/* N(mean, std^2) */
};

/** struct mk_plan - the file to write: its writer (metadata and tensor
 *  table complete) and the tensors in table order */
struct mk_plan {
	struct rt_gguf_writer *w;
	struct mk_tensor *t;
	int64_t n_tensors;
	uint32_t vocab, layers;
	uint64_t n_params;
};

struct mk_opts {
	const struct mk_preset *preset;
	uint32_t layers;	/* 0: the preset's */
	uint32_t type;		/* enum accel_dtype of the 2-D/3-D weights */
	uint64_t seed;
	const char *vocab_from;
	int threads;
};

/** mk_plan_build - metadata, tokenizer (copied from opts->vocab_from) and
 *  tensor table; 0 or -errno with rt_last_error() set */
int mk_plan_build(const struct mk_opts *o, struct mk_plan *p);
void mk_plan_fini(struct mk_plan *p);

/** mk_progress_fn - called by the generator from the writing thread after
 *  each chunk: bytes written so far, total */
typedef void (*mk_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/** mk_generate - open @path, stream every tensor (seeded, deterministic for
 *  any thread count), finish; 0 or -errno (the temporary file removed, the
 *  old @path untouched). While the temporary file exists its name is in
 *  mk_partial and mk_partial_set is 1, for a signal handler to unlink. */
extern char mk_partial[PATH_MAX + 32];
extern volatile sig_atomic_t mk_partial_set;
int mk_generate(struct mk_plan *p, const struct mk_opts *o, const char *path,
		mk_progress_fn progress, void *ctx);

#endif /* MKMODEL_H */
