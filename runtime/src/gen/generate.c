// SPDX-License-Identifier: MIT
/*
 * Batched generation over the paged KV cache: one forward call per prefill
 * chunk (tokens of every sequence together) and per decode step (one token
 * of every live sequence). Sampling per sequence; no text handling here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rt_error.h"
#include "rt_generate.h"
#include "model/kvcache.h"
#include "model/model.h"
#include "rt_tokenizer.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct gen {
	int32_t *tok, *pos, *seq;
	int8_t *want;
};

int rt_generate_parallel(struct rt_model *m, const struct rt_tokenizer *tok, int n,
			 const int32_t *const *prompts, const int *n_prompt, int n_predict,
			 const struct rt_sampler_params *sp, rt_token_fn fn, void *arg,
			 struct rt_gen_stats *st)
{
	struct rt_sampler **smp = calloc(n > 0 ? n : 1, sizeof(*smp));
	int *n_past = calloc(n > 0 ? n : 1, sizeof(int)), *live = calloc(n > 0 ? n : 1, sizeof(int));
	int32_t *next = calloc(n > 0 ? n : 1, sizeof(int32_t));
	struct gen g = { 0 };
	int B = m->n_batch, nv = m->hp.n_vocab, ret = 0, n_live = 0;
	const float *logits;
	double t0;

	memset(st, 0, sizeof(*st));
	g.tok = malloc(sizeof(int32_t) * B);
	g.pos = malloc(sizeof(int32_t) * B);
	g.seq = malloc(sizeof(int32_t) * B);
	g.want = malloc(B);
	if (!smp || !n_past || !live || !next || !g.tok || !g.pos || !g.seq || !g.want) {
		ret = -ENOMEM;
		goto out;
	}
	if (n <= 0 || n > m->n_seq) {
		ret = rt_set_error(-EINVAL, "%d sequences asked, the model was loaded for %d", n,
				   m->n_seq);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct rt_sampler_params p = *sp;

		if (n_prompt[i] <= 0 || n_prompt[i] > m->n_ctx) {
			ret = rt_set_error(-ENOSPC, "prompt %d: %d tokens do not fit the context (%d)",
					   i, n_prompt[i], m->n_ctx);
			goto out;
		}
		p.seed = sp->seed + (uint64_t)i;
		if ((ret = rt_sampler_create(&p, nv, &smp[i])) < 0)
			goto out;
		for (int j = 0; j < n_prompt[i]; j++)
			rt_sampler_accept(smp[i], prompts[i][j]);
		rt_kvcache_clear(m->kv, i);
		/* blocks on demand: the prompt's now, one more per block_tokens
		 * generated tokens, all of them back when the sequence ends */
		if ((ret = rt_kvcache_reserve(m->kv, i, n_prompt[i])) < 0)
			goto out;
	}

	/* prefill: pack tokens of all sequences into batches of B */
	t0 = now_s();
	for (int i = 0, j = 0; i < n;) {
		int c = 0;

		while (c < B && i < n) {
			g.tok[c] = prompts[i][j];
			g.pos[c] = j;
			g.seq[c] = i;
			g.want[c] = j == n_prompt[i] - 1;
			c++;
			if (++j == n_prompt[i]) {
				i++;
				j = 0;
			}
		}
		{
			struct rt_batch b = { c, g.tok, g.pos, g.seq, g.want, 0, NULL };
			int out_rows = 0;

			ret = rt_model_forward(m, &b, &logits);
			if (ret < 0)
				goto out;
			/* rows come in batch order: sample the sequences whose last token was here */
			for (int r = 0; r < c; r++) {
				if (!g.want[r])
					continue;
				next[g.seq[r]] = rt_sampler_sample(smp[g.seq[r]], logits + (size_t)nv * out_rows);
				out_rows++;
			}
		}
	}
	for (int i = 0; i < n; i++) {
		n_past[i] = n_prompt[i];
		live[i] = n_predict != 0;
		n_live += live[i];
		st->n_prompt += n_prompt[i];
	}
	st->t_prompt = now_s() - t0;

	/* decode: one token of every live sequence per step */
	t0 = now_s();
	for (int step = 0; n_live > 0; step++) {
		int c = 0;
		struct rt_batch b;

		for (int i = 0; i < n; i++) {
			if (!live[i])
				continue;
			rt_sampler_accept(smp[i], next[i]);
			st->n_gen++;
			if (fn && (ret = fn(i, next[i], arg)) < 0)
				goto out;
			if ((tok && rt_tokenizer_is_eog(tok, next[i])) ||
			    (n_predict > 0 && step + 1 >= n_predict) || n_past[i] + 1 >= m->n_ctx) {
				if (!(tok && rt_tokenizer_is_eog(tok, next[i])) &&
				    !(n_predict > 0 && step + 1 >= n_predict))
					st->n_ctx_full++;
				live[i] = 0;
				n_live--;
				/* its blocks go back now, for the sequences still running */
				rt_kvcache_clear(m->kv, i);
				continue;
			}
			if ((ret = rt_kvcache_reserve(m->kv, i, n_past[i] + 1)) < 0)
				goto out;
			g.tok[c] = next[i];
			g.pos[c] = n_past[i]++;
			g.seq[c] = i;
			g.want[c] = 1;
			c++;
		}
		if (!c)
			break;
		b = (struct rt_batch){ c, g.tok, g.pos, g.seq, g.want, 0, NULL };
		ret = rt_model_forward(m, &b, &logits);
		if (ret < 0)
			goto out;
		st->n_steps++;
		for (int r = 0; r < c; r++)
			next[g.seq[r]] = rt_sampler_sample(smp[g.seq[r]], logits + (size_t)nv * r);
	}
	st->t_gen = now_s() - t0;
	ret = 0;
out:
	/* the sequences' blocks go back (to the prefix cache when published) */
	for (int i = 0; i < n && i < m->n_seq; i++)
		rt_kvcache_clear(m->kv, i);
	for (int i = 0; smp && i < n; i++)
		rt_sampler_free(smp[i]);
	free(smp);
	free(n_past);
	free(live);
	free(next);
	free(g.tok);
	free(g.pos);
	free(g.seq);
	free(g.want);
	return ret;
}
