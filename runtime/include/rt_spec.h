/* SPDX-License-Identifier: MIT */
/*
 * Speculative decoding (Leviathan et al. 2023; llama.cpp's draft-model and
 * lookup decoding): a cheap drafter proposes up to k tokens, one forward pass
 * of the target model scores them all, and the standard accept/reject rule
 * keeps the target's distribution exactly (greedy: exactly the tokens plain
 * decoding gives). Drafters: a small model with the same vocabulary, or
 * n-gram lookup in the sequence's own history (prompt lookup: no second
 * model). For a streamed model one pass over the weights then yields several
 * tokens.
 */
#ifndef RT_SPEC_H
#define RT_SPEC_H

#include <stdbool.h>
#include <stdint.h>
#include "rt_generate.h"
#include "rt_sampler.h"

struct rt_model;
struct rt_session;
struct rt_tokenizer;

/* the most tokens drafted per target pass (--draft) */
#define RT_SPEC_MAX_DRAFT 32

/**
 * struct rt_spec_params - what drafts
 * @n_draft: most tokens drafted per target pass (1..RT_SPEC_MAX_DRAFT)
 * @lookup: n-gram lookup: the longest n-gram matched against the history
 *	(shorter ones are tried down to 1); 0 = off. Used when no draft session
 *	is given to rt_spec_generate.
 * @p_min: draft model: stop drafting at a token whose probability under the
 *	draft's own softmax (temperature 1) is below this (llama.cpp's
 *	--draft-p-min): a draft it doubts is rarely accepted and costs a row of
 *	the verification pass. 0 = off. The output does not depend on it.
 */
struct rt_spec_params {
	int n_draft;
	int lookup;
	float p_min;
};

/**
 * struct rt_spec_stats - what a generation cost and how well drafts did
 * @n_gen: tokens generated (the first comes from the prompt's pass)
 * @n_passes: target forward passes after the prompt's (one weight pass each)
 * @n_drafted, @n_accepted: drafted tokens, and those the target accepted
 * @n_draft_passes: forward passes of the draft model
 * @ctx_full: generation stopped because the context was full
 * @t_prompt, @t_gen: seconds of the prompt's pass and of the rest
 */
struct rt_spec_stats {
	int n_gen, n_passes, n_drafted, n_accepted, n_draft_passes;
	bool ctx_full;
	double t_prompt, t_gen;
};

/**
 * rt_spec_check_vocab - 0 when @draft can draft for @target: the same number
 * of tokens and, where the files carry them, the same token strings;
 * -EINVAL with the error set (naming the first difference) otherwise
 */
int rt_spec_check_vocab(const struct rt_model *target, const struct rt_model *draft);

/**
 * rt_spec_accept - the accept/reject rule for drafted token @x drawn from
 * @q (NULL: @x was proposed deterministically, q = one-hot at @x) when the
 * target's distribution is @p: accept with probability min(1, p(x)/q(x)),
 * else draw from norm(max(0, p - q)). Both [n_vocab of @s]; random numbers
 * from @s's stream; @work holds n_vocab floats. Returns the token (@x when
 * *@accepted) or -EINVAL when @p is all zeros.
 */
int32_t rt_spec_accept(struct rt_sampler *s, const float *p, const float *q, int32_t x,
		       float *work, bool *accepted);

/**
 * rt_spec_lookup - prompt lookup: find the latest earlier occurrence of the
 * last n tokens of @hist (n from @ngram down to 1) and copy up to @k tokens
 * that followed it into @out. Returns how many (0: no match).
 */
int rt_spec_lookup(const int32_t *hist, int n, int ngram, int k, int32_t *out);

/**
 * rt_spec_generate - feed @ids (@n tokens) to session @s, then generate up
 * to @n_predict tokens (-1: until the context is full) with speculation:
 * drafts from session @ds of a draft model (same vocabulary, checked) when
 * given, else n-gram lookup (@p->lookup > 0). Samples with @sp (@ids count
 * for penalties, as accel-run's plain decoding does). Calls @fn for every
 * generated token (end-of-generation ones too); stops after an
 * end-of-generation token of @tok, at @n_predict, or when the context is
 * full (as plain decoding does: the last token is given, not fed).
 */
int rt_spec_generate(struct rt_session *s, struct rt_session *ds, const struct rt_spec_params *p,
		     const struct rt_sampler_params *sp, const int32_t *ids, int n, int n_predict,
		     const struct rt_tokenizer *tok, rt_token_fn fn, void *arg,
		     struct rt_spec_stats *st);

#endif /* RT_SPEC_H */
