// SPDX-License-Identifier: MIT
/*
 * Sampling: greedy is argmax (ties to the lowest id); a seed makes draws
 * reproducible; top-k, top-p and min-p never return a token they cut; the
 * repetition penalty lowers repeated tokens; draws follow the softmax.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "rt_sampler.h"
#include "tap.h"

#define NV 64

static void make_logits(float *l)
{
	for (int i = 0; i < NV; i++)
		l[i] = (float)(NV - i) * 0.1f;	/* token 0 best, then 1, ... */
}

static struct rt_sampler *mk(float temp, int top_k, float top_p, float min_p, float rep,
			     uint64_t seed)
{
	struct rt_sampler_params p;
	struct rt_sampler *s = NULL;

	rt_sampler_defaults(&p);
	p.temp = temp;
	p.top_k = top_k;
	p.top_p = top_p;
	p.min_p = min_p;
	p.repeat_penalty = rep;
	p.seed = seed;
	rt_sampler_create(&p, NV, &s);
	return s;
}

/* the definition rt_argmax must answer as: one lane, best moves on > */
static int32_t argmax_ref(const float *x, int n)
{
	int32_t best = 0;

	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

static bool argmax_cases(void)
{
	static float x[1000];
	bool same = true;

	srand(7);
	for (int t = 0; t < 400; t++) {
		const int n = 1 + rand() % 1000;

		for (int i = 0; i < n; i++)
			x[i] = (float)(rand() % 9) - 4.0f;	/* many ties */
		if (t % 4 == 1)
			x[rand() % n] = NAN;
		if (t % 4 == 2)
			x[0] = NAN;
		if (t % 8 == 3) {
			for (int i = 0; i < n; i++)
				x[i] = -1.0f;
			x[rand() % n] = -0.0f;
			x[rand() % n] = 0.0f;
		}
		same &= rt_argmax(x, n) == argmax_ref(x, n);
	}
	return same;
}

/*
 * greedy with repeat penalty 1 takes rt_argmax; with a penalty of 1.5 and
 * only token ids outside [0, NV) in its history (skipped by the chain) it
 * goes through the candidate chain: both must answer alike
 */
static bool greedy_paths_agree(void)
{
	struct rt_sampler *fast = mk(0, 40, 0.95f, 0.05f, 1.0f, 1);
	struct rt_sampler *slow = mk(0, 40, 0.95f, 0.05f, 1.5f, 1);
	static float x[NV];
	bool same = fast && slow;

	rt_sampler_accept(slow, NV + 3);
	srand(11);
	for (int t = 0; t < 300 && same; t++) {
		for (int i = 0; i < NV; i++)
			x[i] = (float)(rand() % 7) - 3.0f;
		if (t % 3 == 1)
			x[rand() % NV] = NAN;
		if (t % 5 == 2)
			x[0] = NAN;
		same = rt_sampler_sample(fast, x) == rt_sampler_sample(slow, x);
	}
	rt_sampler_free(fast);
	rt_sampler_free(slow);
	return same;
}

int main(void)
{
	float l[NV];
	struct rt_sampler *s, *s2;
	struct rt_sampler_params p;
	int32_t a[200], b[200];
	int bad, counts[NV];

	plan(16);	/* straight-line: no test is conditional */
	make_logits(l);
	/* greedy */
	s = mk(0, 40, 0.95f, 0.05f, 1.0f, 1);
	is_int(rt_sampler_sample(s, l), 0, "temp 0 is argmax");
	l[5] = l[0];
	is_int(rt_sampler_sample(s, l), 0, "ties go to the lowest id");
	make_logits(l);
	rt_sampler_free(s);
	is_int(rt_argmax(l, NV), 0, "rt_argmax");
	ok(argmax_cases(), "rt_argmax equals the one-lane loop on ties, NaN, -0.0 and odd lengths");
	ok(greedy_paths_agree(), "greedy without a penalty (rt_argmax) answers as the candidate chain");

	/* seeds */
	s = mk(1.0f, 0, 1.0f, 0, 1.0f, 42);
	s2 = mk(1.0f, 0, 1.0f, 0, 1.0f, 42);
	for (int i = 0; i < 200; i++) {
		a[i] = rt_sampler_sample(s, l);
		b[i] = rt_sampler_sample(s2, l);
	}
	ok(!memcmp(a, b, sizeof(a)), "the same seed gives the same 200 draws");
	rt_sampler_free(s2);
	s2 = mk(1.0f, 0, 1.0f, 0, 1.0f, 43);
	for (int i = 0; i < 200; i++)
		b[i] = rt_sampler_sample(s2, l);
	ok(memcmp(a, b, sizeof(a)) != 0, "another seed gives other draws");
	rt_sampler_free(s);
	rt_sampler_free(s2);

	/* top-k */
	s = mk(5.0f, 3, 1.0f, 0, 1.0f, 7);
	bad = 0;
	for (int i = 0; i < 2000; i++)
		bad += rt_sampler_sample(s, l) >= 3;
	is_int(bad, 0, "top-k 3 never returns a token beyond the best 3 (2000 draws, temp 5)");
	rt_sampler_free(s);

	/* top-k over scrambled logits with ties: exactly the 5 best ids can come out,
	 * and all of them do (ties broken towards the lower id) */
	for (int i = 0; i < NV; i++)
		l[i] = (float)((i * 37) % 16);	/* 15 at i = 3, 19, 35, 51; 14 first at i = 6 */
	s = mk(50.0f, 5, 1.0f, 0, 1.0f, 11);
	memset(counts, 0, sizeof(counts));
	for (int i = 0; i < 4000; i++)
		counts[rt_sampler_sample(s, l)]++;
	bad = 0;
	for (int i = 0; i < NV; i++) {
		/* the 5 best: the four 15s, then the lowest-id 14 (i = 6) */
		bool best = l[i] == 15.0f || i == 6;

		bad += best ? counts[i] == 0 : counts[i] != 0;
	}
	is_int(bad, 0, "top-k 5 on scrambled logits draws exactly the 5 best ids");
	rt_sampler_free(s);

	/* top-p: with a steep distribution the nucleus is tiny */
	for (int i = 0; i < NV; i++)
		l[i] = -(float)i * 3.0f;	/* p0 ~ 0.95 */
	s = mk(1.0f, 0, 0.9f, 0, 1.0f, 7);
	bad = 0;
	for (int i = 0; i < 2000; i++)
		bad += rt_sampler_sample(s, l) != 0;
	is_int(bad, 0, "top-p 0.9 keeps only token 0 when it holds 95%% of the mass");
	rt_sampler_free(s);

	/* min-p: tokens below min_p * p_max are cut */
	make_logits(l);
	s = mk(1.0f, 0, 1.0f, 0.5f, 1.0f, 7);
	bad = 0;
	for (int i = 0; i < 2000; i++) {
		int32_t t = rt_sampler_sample(s, l);

		/* p_t / p_0 = exp(l_t - l_0) must be >= 0.5 */
		bad += expf(l[t] - l[0]) < 0.5f;
	}
	is_int(bad, 0, "min-p 0.5 never returns a token under half the best probability");
	rt_sampler_free(s);

	/* distribution: temp 1, no cuts: frequencies follow softmax (chi-square-ish bound) */
	for (int i = 0; i < NV; i++)
		l[i] = i < 4 ? logf((float)(i + 1)) : -1e9f;	/* p = 1,2,3,4 / 10 */
	s = mk(1.0f, 0, 1.0f, 0, 1.0f, 99);
	memset(counts, 0, sizeof(counts));
	for (int i = 0; i < 20000; i++)
		counts[rt_sampler_sample(s, l)]++;
	bad = 0;
	for (int i = 0; i < 4; i++)
		bad += fabs(counts[i] / 20000.0 - (i + 1) / 10.0) > 0.015;
	ok(bad == 0, "20000 draws follow p = .1 .2 .3 .4 (got %d %d %d %d)", counts[0], counts[1],
	   counts[2], counts[3]);
	rt_sampler_free(s);

	/* repetition penalty: a repeated best token loses to the runner-up */
	make_logits(l);		/* l0 = 6.4, l1 = 6.3 */
	s = mk(0, 0, 1.0f, 0, 1.5f, 1);
	is_int(rt_sampler_sample(s, l), 0, "before any repetition the best token wins");
	rt_sampler_accept(s, 0);
	is_int(rt_sampler_sample(s, l), 1, "penalty 1.5 on a seen token: the next one wins");
	rt_sampler_free(s);

	/* bad parameters */
	rt_sampler_defaults(&p);
	p.top_p = 0;
	s = NULL;
	is_int(rt_sampler_create(&p, NV, &s), -EINVAL, "top_p 0 refused");
	rt_sampler_defaults(&p);
	is_int(rt_sampler_create(&p, 0, &s), -EINVAL, "an empty vocabulary refused");
	return done_testing();
}
