/* SPDX-License-Identifier: MIT */
/*
 * Token sampling over a row of logits, in llama.cpp's default chain order:
 * repetition penalty, top-k, top-p, min-p, temperature, then a seeded draw.
 * Temperature <= 0 is greedy (argmax, ties to the lowest id).
 */
#ifndef RT_SAMPLER_H
#define RT_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

struct rt_sampler_params {
	float temp;		/* 0.8; <= 0: greedy */
	int top_k;		/* 40; <= 0: off */
	float top_p;		/* 0.95; >= 1: off */
	float min_p;		/* 0.05; <= 0: off */
	float repeat_penalty;	/* 1.0: off */
	int repeat_last_n;	/* 64 */
	uint64_t seed;
};

struct rt_sampler;

void rt_sampler_defaults(struct rt_sampler_params *p);
int rt_sampler_create(const struct rt_sampler_params *p, int n_vocab, struct rt_sampler **out);
void rt_sampler_free(struct rt_sampler *s);
/** rt_sampler_accept - remember a token (prompt or generated) for penalties */
void rt_sampler_accept(struct rt_sampler *s, int32_t id);
/** rt_sampler_sample - choose the next token from @logits (n_vocab floats) */
int32_t rt_sampler_sample(struct rt_sampler *s, const float *logits);
/**
 * rt_sampler_probs - the distribution rt_sampler_sample would draw from for
 * @logits (after penalties, top-k, top-p, min-p and temperature; one-hot at
 * the argmax when greedy), dense into @probs [n_vocab]. Draws nothing.
 */
void rt_sampler_probs(struct rt_sampler *s, const float *logits, float *probs);
/** rt_sampler_uniform - the next number of the sampler's seeded stream, [0, 1) */
double rt_sampler_uniform(struct rt_sampler *s);
/** rt_sampler_draw - draw from @probs [n_vocab] (non-negative, normalized
 *  here) with the sampler's stream; -EINVAL when every entry is zero */
int32_t rt_sampler_draw(struct rt_sampler *s, const float *probs);
int rt_sampler_n_vocab(const struct rt_sampler *s);
/** rt_sampler_greedy - temperature <= 0: the argmax, no draw */
bool rt_sampler_greedy(const struct rt_sampler *s);
/** rt_argmax - index of the largest value, lowest index on ties */
int32_t rt_argmax(const float *x, int n);

#endif /* RT_SAMPLER_H */
