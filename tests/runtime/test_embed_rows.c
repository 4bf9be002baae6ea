// SPDX-License-Identifier: MIT
/*
 * Embedding rows read on demand (the embedding does not stay resident under
 * the smallest budget): a batch whose tokens repeat reads each distinct
 * token's row once, all in one group of reads, and its logits are
 * bit-identical to the resident run's; four sequences decoding the same
 * tokens read one row per pass and generate the resident run's ids; an
 * I/O error on the rows' queue ends the pass with -EIO.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "rt_generate.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"
#include "rt_stream.h"
#include "rt_budget.h"
#include "rt_collect.h"
#include "tap.h"

#define N_SEQ 4
#define N_GEN 8

/* 8 tokens, 4 distinct: 1, 403, 261, 378 */
static const int32_t batch[] = { 1, 403, 403, 261, 1, 378, 403, 261 };
#define N_BATCH ((int)(sizeof(batch) / sizeof(batch[0])))
#define N_DISTINCT 4

/* every row's logits of the batch, fed as one prompt */
static int all_logits(struct rt_model *m, float *out)
{
	struct rt_session s;
	int ret;

	if ((ret = rt_session_init(&s, m, 0)) < 0)
		return ret;
	ret = rt_session_feed_all_logits(&s, batch, N_BATCH, out);
	rt_session_fini(&s);
	return ret;
}

struct got {
	int32_t ids[N_SEQ][N_GEN];
	int n[N_SEQ];
};

/* rt_test_collect's view of @g */
static struct rt_test_ids ids_of(struct got *g)
{
	return (struct rt_test_ids){ .ids = &g->ids[0][0], .n = g->n, .n_max = N_GEN };
}

/* N_SEQ copies of one prompt: every decode pass embeds one token N_SEQ times */
static int same_prompts(struct rt_model *m, struct got *g, struct rt_gen_stats *gs)
{
	const int32_t *prompts[N_SEQ];
	int n_prompt[N_SEQ];
	struct rt_sampler_params sp;
	struct rt_test_ids c = ids_of(g);

	for (int i = 0; i < N_SEQ; i++) {
		prompts[i] = batch;
		n_prompt[i] = 2;
	}
	rt_sampler_defaults(&sp);
	sp.temp = 0;
	memset(g, 0, sizeof(*g));
	return rt_generate_parallel(m, NULL, N_SEQ, prompts, n_prompt, N_GEN, &sp, rt_test_collect,
				    &c, gs);
}

int main(void)
{
	const char *path = tap_path("tests/models/stories260K.gguf");
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 64, .n_batch = N_BATCH,
				    .n_seq = N_SEQ };
	struct rt_stream_stats s0, s1;
	struct rt_placement pl;
	struct rt_gen_stats gs;
	struct got ref, got;
	struct rt_model *m;
	float *lref = NULL, *lgot = NULL;
	int nv, ret, same = 1;
	uint64_t minb;

	plan(12);
	if (!ok(rt_model_load(path, &mo, &m) == 0, "resident load")) {
		diag("%s", rt_last_error());
		return done_testing();
	}
	nv = rt_model_hparams(m)->n_vocab;
	lref = malloc(sizeof(float) * nv * N_BATCH);
	lgot = malloc(sizeof(float) * nv * N_BATCH);
	ok(all_logits(m, lref) == 0 && same_prompts(m, &ref, &gs) == 0, "resident runs");
	rt_model_free(m);

	minb = rt_test_min_budget(path, &mo);
	mo.mem_budget = minb;
	if (!ok(minb && rt_model_load(path, &mo, &m) == 0, "load with the smallest budget (%llu KiB)",
		(unsigned long long)(minb >> 10))) {
		diag("%s", rt_last_error());
		goto out;
	}
	ok(rt_stream_stats(m, &s0, &pl) == 0 && !pl.embed_resident && rt_stream_embed_queue(m),
	   "the embedding streams: rows on demand, on a queue of their own");

	ret = all_logits(m, lgot);
	rt_stream_stats(m, &s1, NULL);
	ok(ret == 0 && !memcmp(lref, lgot, sizeof(float) * nv * N_BATCH),
	   "%d tokens with repeats: logits bit-identical to resident", N_BATCH);
	ok(s1.embed_tokens - s0.embed_tokens == N_BATCH &&
	   s1.embed_rows - s0.embed_rows == N_DISTINCT,
	   "one pass embedded %llu tokens from %llu rows read (%d distinct)",
	   (unsigned long long)(s1.embed_tokens - s0.embed_tokens),
	   (unsigned long long)(s1.embed_rows - s0.embed_rows), N_DISTINCT);

	s0 = s1;
	ret = same_prompts(m, &got, &gs);
	rt_stream_stats(m, &s1, NULL);
	for (int i = 0; i < N_SEQ; i++)
		same &= got.n[i] == N_GEN && !memcmp(got.ids[i], ref.ids[i], sizeof(ref.ids[i]));
	ok(ret == 0 && same, "%d sequences, one prompt: ids identical to resident", N_SEQ);
	/* the prompt pass embeds N_SEQ x {1, 403} (2 distinct rows); each decode
	 * pass embeds N_SEQ copies of one token */
	ok(s1.embed_tokens - s0.embed_tokens == (uint64_t)(N_SEQ * 2 + gs.n_steps * N_SEQ) &&
	   s1.embed_rows - s0.embed_rows == (uint64_t)(2 + gs.n_steps),
	   "%d decode passes of %d tokens read one row each (%llu rows for %llu tokens)",
	   gs.n_steps, N_SEQ, (unsigned long long)(s1.embed_rows - s0.embed_rows),
	   (unsigned long long)(s1.embed_tokens - s0.embed_tokens));

	/* the rows' 2nd read fails: the pass ends with the error, no hang */
	ok(accel_queue_inject_fault(rt_stream_embed_queue(m), 2, -EIO) == 0,
	   "inject -EIO into the 2nd row read");
	ret = all_logits(m, lgot);
	ok(ret == -EIO, "the pass fails with -EIO: %s", rt_last_error());
	ok(accel_queue_error(rt_stream_embed_queue(m)) == -EIO, "the rows' queue holds the error");
	rt_model_free(m);

	mo.mem_budget = 0;
	ok(rt_model_load(path, &mo, &m) == 0 && rt_stream_embed_queue(m) == NULL,
	   "resident: no rows' queue");
	rt_model_free(m);
out:
	free(lref);
	free(lgot);
	return done_testing();
}
