// SPDX-License-Identifier: MIT
/*
 * Sampling chain (llama.cpp's default order): penalties -> top-k -> top-p ->
 * min-p -> temperature -> draw. Works on a candidate array sorted once.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "rt_sampler.h"

struct cand {
	int32_t id;
	float logit;
	float p;
};

struct rt_sampler {
	struct rt_sampler_params p;
	int n_vocab;
	struct cand *c;
	int32_t *last;		/* ring of the last repeat_last_n tokens */
	int n_last, i_last;
	uint64_t rng;
};

void rt_sampler_defaults(struct rt_sampler_params *p)
{
	p->temp = 0.8f;
	p->top_k = 40;
	p->top_p = 0.95f;
	p->min_p = 0.05f;
	p->repeat_penalty = 1.0f;
	p->repeat_last_n = 64;
	p->seed = 0x5eed;
}

int rt_sampler_create(const struct rt_sampler_params *p, int n_vocab, struct rt_sampler **out)
{
	struct rt_sampler *s;

	if (n_vocab <= 0 || p->repeat_last_n < 0 || p->top_p <= 0 || p->repeat_penalty <= 0)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->p = *p;
	s->n_vocab = n_vocab;
	s->c = malloc(sizeof(*s->c) * n_vocab);
	s->last = calloc(p->repeat_last_n + 1, sizeof(*s->last));
	if (!s->c || !s->last) {
		rt_sampler_free(s);
		return -ENOMEM;
	}
	s->rng = p->seed ? p->seed : 0x9e3779b97f4a7c15ULL;
	*out = s;
	return 0;
}

void rt_sampler_free(struct rt_sampler *s)
{
	if (!s)
		return;
	free(s->c);
	free(s->last);
	free(s);
}

void rt_sampler_accept(struct rt_sampler *s, int32_t id)
{
	if (!s->p.repeat_last_n)
		return;
	s->last[s->i_last] = id;
	s->i_last = (s->i_last + 1) % s->p.repeat_last_n;
	if (s->n_last < s->p.repeat_last_n)
		s->n_last++;
}

/*
 * The answer of "best = i whenever x[i] > x[best]" from i = 1 (the first
 * index of the largest value; 0 if x[0] is NaN, as nothing compares greater
 * than it; NaN elsewhere never chosen), in two passes: the maximum over 8
 * independent lanes, then its first index. The one-lane loop's compare waits
 * on the previous one: 49152 logits (SmolLM2) took ~185 us a token, most of
 * the gap between two decode passes in which the compute threads idle.
 */
int32_t rt_argmax(const float *x, int n)
{
	float lane[8], best;
	int i = 0;

	if (n <= 1 || x[0] != x[0])
		return 0;
	for (int j = 0; j < 8; j++)
		lane[j] = x[0];
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
			lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
	best = lane[0];
	for (; i < n; i++)
		best = x[i] > best ? x[i] : best;
	for (int j = 1; j < 8; j++)
		best = lane[j] > best ? lane[j] : best;
	/* every element is <= best and none before the first equal one is
	 * equal: there the one-lane loop moved to it and stayed */
	for (i = 0; i < n; i++)
		if (x[i] == best)
			return i;
	return 0;
}

static int cmp_desc(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->logit != y->logit)
		return x->logit < y->logit ? 1 : -1;
	return x->id - y->id;
}

/* restore the heap below i: the worst candidate (cmp_desc-last) at the root */
static void sift_worst(struct cand *h, int n, int i)
{
	for (;;) {
		int w = i, l = 2 * i + 1, r = l + 1;
		struct cand t;

		if (l < n && cmp_desc(&h[l], &h[w]) > 0)
			w = l;
		if (r < n && cmp_desc(&h[r], &h[w]) > 0)
			w = r;
		if (w == i)
			return;
		t = h[i];
		h[i] = h[w];
		h[w] = t;
		i = w;
	}
}

/*
 * Move the k best candidates (cmp_desc order) to c[0..k), unordered: a
 * binary min-heap of the best so far, whose root is the worst of them.
 */
static void select_top(struct cand *c, int n, int k)
{
	for (int i = k / 2 - 1; i >= 0; i--)
		sift_worst(c, k, i);
	for (int i = k; i < n; i++) {
		if (cmp_desc(&c[i], &c[0]) < 0) {	/* better than the worst kept */
			struct cand t = c[0];

			c[0] = c[i];
			c[i] = t;
			sift_worst(c, k, 0);
		}
	}
}

/* splitmix64 then a double in [0, 1) */
static double rng_uniform(uint64_t *st)
{
	uint64_t z = (*st += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static void softmax(struct cand *c, int n)
{
	double sum = 0;
	float mx = c[0].logit;

	for (int i = 0; i < n; i++) {
		c[i].p = expf(c[i].logit - mx);
		sum += c[i].p;
	}
	for (int i = 0; i < n; i++)
		c[i].p = (float)(c[i].p / sum);
}

/*
 * The chain up to the draw: c[0..n) are the surviving candidates with their
 * final probabilities; greedy (temp <= 0) leaves the one argmax with p = 1.
 */
static int chain(struct rt_sampler *s, const float *logits)
{
	int n = s->n_vocab;
	struct cand *c = s->c;
	double acc;

	for (int i = 0; i < n; i++) {
		c[i].id = i;
		c[i].logit = logits[i];
	}
	/* repetition penalty (llama.cpp: divide positive logits, multiply negative) */
	if (s->p.repeat_penalty != 1.0f) {
		for (int j = 0; j < s->n_last; j++) {
			int32_t id = s->last[j];
			bool dup = false;

			for (int k = 0; k < j; k++)
				dup |= s->last[k] == id;
			if (dup || id < 0 || id >= n)
				continue;
			if (c[id].logit > 0)
				c[id].logit /= s->p.repeat_penalty;
			else
				c[id].logit *= s->p.repeat_penalty;
		}
	}
	if (s->p.temp <= 0) {
		int32_t best = 0;

		for (int i = 1; i < n; i++)
			if (c[i].logit > c[best].logit)
				best = i;
		c[0] = c[best];
		c[0].p = 1.0f;
		return 1;
	}
	if (s->p.top_k > 0 && s->p.top_k < n) {
		/* only the best k need ordering: select them first (O(n log k)),
		 * not a sort of the whole vocabulary per token */
		select_top(c, n, s->p.top_k);
		n = s->p.top_k;
	}
	qsort(c, n, sizeof(*c), cmp_desc);
	softmax(c, n);
	if (s->p.top_p < 1.0f) {
		acc = 0;
		for (int i = 0; i < n; i++) {
			acc += c[i].p;
			if (acc >= s->p.top_p) {
				n = i + 1;
				break;
			}
		}
	}
	if (s->p.min_p > 0) {
		float thr = c[0].p * s->p.min_p;
		int m = 1;

		while (m < n && c[m].p >= thr)
			m++;
		n = m;
	}
	for (int i = 0; i < n; i++)
		c[i].logit /= s->p.temp;
	softmax(c, n);
	return n;
}

int32_t rt_sampler_sample(struct rt_sampler *s, const float *logits)
{
	struct cand *c = s->c;
	double r, acc;
	int n;

	/* plain greedy: the chain's answer without copying the vocabulary
	 * into candidates (2% of a small model's decode at 49k tokens) */
	if (s->p.temp <= 0 && (s->p.repeat_penalty == 1.0f || !s->n_last))
		return rt_argmax(logits, s->n_vocab);
	n = chain(s, logits);
	if (s->p.temp <= 0)
		return c[0].id;
	r = rng_uniform(&s->rng);
	acc = 0;
	for (int i = 0; i < n; i++) {
		acc += c[i].p;
		if (r < acc)
			return c[i].id;
	}
	return c[n - 1].id;
}

void rt_sampler_probs(struct rt_sampler *s, const float *logits, float *probs)
{
	int n = chain(s, logits);

	memset(probs, 0, sizeof(*probs) * s->n_vocab);
	for (int i = 0; i < n; i++)
		probs[s->c[i].id] = s->c[i].p;
}

double rt_sampler_uniform(struct rt_sampler *s)
{
	return rng_uniform(&s->rng);
}

int32_t rt_sampler_draw(struct rt_sampler *s, const float *probs)
{
	double sum = 0, r, acc = 0;
	int32_t last = -1;

	for (int i = 0; i < s->n_vocab; i++)
		sum += probs[i];
	if (!(sum > 0))
		return -EINVAL;
	r = rng_uniform(&s->rng) * sum;
	for (int i = 0; i < s->n_vocab; i++) {
		if (probs[i] <= 0)
			continue;
		acc += probs[i];
		last = i;
		if (r < acc)
			return i;
	}
	return last;	/* rounding: the last token with any probability */
}

int rt_sampler_n_vocab(const struct rt_sampler *s)
{
	return s->n_vocab;
}

bool rt_sampler_greedy(const struct rt_sampler *s)
{
	return s->p.temp <= 0;
}
