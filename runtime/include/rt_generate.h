/* SPDX-License-Identifier: MIT */
/*
 * Batched generation: N sequences decoded together, one pass over the
 * weights per step (FlexGen's lever when the weights stream). Prefill puts
 * every prompt token of every sequence through a layer while it is loaded.
 */
#ifndef RT_GENERATE_H
#define RT_GENERATE_H

#include <stdbool.h>
#include <stdint.h>
#include "rt_sampler.h"

struct rt_model;
struct rt_tokenizer;

/** called for each generated token; return < 0 to stop everything */
typedef int (*rt_token_fn)(int seq, int32_t id, void *arg);

struct rt_gen_stats {
	int n_prompt, n_gen, n_steps;
	double t_prompt, t_gen;
	int n_ctx_full;		/* sequences stopped because the context was full */
};

/**
 * rt_generate_parallel - generate up to @n_predict tokens for each of @n
 * prompts (n <= the model's n_seq). Sequence i samples with seed + i. Stops
 * a sequence at an end-of-generation token of @tok (when @tok is given), or
 * when the context is full (counted in @st->n_ctx_full): a prompt that fits
 * the context is never refused for the tokens it asks to generate.
 */
int rt_generate_parallel(struct rt_model *m, const struct rt_tokenizer *tok, int n,
			 const int32_t *const *prompts, const int *n_prompt, int n_predict,
			 const struct rt_sampler_params *sp, rt_token_fn fn, void *arg,
			 struct rt_gen_stats *st);

#endif /* RT_GENERATE_H */
