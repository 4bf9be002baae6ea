// SPDX-License-Identifier: MIT
/*
 * accel-bench spec: speculative decoding against plain greedy decoding of the
 * same model in one run (streamed under --mem-budget: the single-stream
 * lever, several tokens per pass over the weights). Two workloads: a plain
 * prompt, and a rewrite (the prompt, its continuation, the prompt again:
 * text the model has seen, what n-gram lookup is for); with --draft-model,
 * a draft model on the plain one. Greedy ids must not change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rt_error.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"
#include "rt_spec.h"
#include "rt_stream.h"
#include "bench.h"

#define N_PROMPT 24
/* tokens per pass: room for k + 1 rows, little staging of embedding rows */
#define BENCH_SPEC_BATCH 32

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct res {
	int32_t *ids;
	int n;
	double tps;		/* generated tokens per second (after the prompt's pass) */
	double per_pass;	/* generated tokens per weight pass */
	double accept;		/* drafts accepted / drafted */
	double bytes_per_tok;	/* streamed bytes per generated token */
};

static uint64_t streamed(const struct rt_model *m)
{
	struct rt_stream_stats st;

	return rt_stream_stats(m, &st, NULL) == 0 ? st.bytes_read : 0;
}

/* bytes the passes of an @np-token prompt read from the streamed weights */
static uint64_t prompt_bytes(const struct rt_model *m, int np)
{
	struct rt_placement pl;

	if (rt_stream_stats(m, NULL, &pl) < 0)
		return 0;
	return pl.streamed_bytes_per_pass * (uint64_t)((np + BENCH_SPEC_BATCH - 1) / BENCH_SPEC_BATCH);
}

/* plain greedy decoding of @n_gen tokens after @p */
static int plain(struct rt_model *m, const int32_t *p, int np, int n_gen, struct res *r)
{
	const int nv = rt_model_hparams(m)->n_vocab;
	struct rt_session s;
	const float *lg;
	uint64_t b0;
	double t0;
	int ret;

	if ((ret = rt_session_init(&s, m, 0)) < 0)
		return ret;
	ret = rt_session_feed(&s, p, np, &lg);
	b0 = streamed(m);
	t0 = now_s();
	for (r->n = 0; ret >= 0 && r->n < n_gen; r->n++) {
		r->ids[r->n] = rt_argmax(lg, nv);
		if (r->n + 1 < n_gen)
			ret = rt_session_feed(&s, &r->ids[r->n], 1, &lg);
	}
	if (ret >= 0) {
		r->tps = (n_gen - 1) / (now_s() - t0);
		r->per_pass = 1.0;
		r->bytes_per_tok = (double)(streamed(m) - b0) / (n_gen - 1);
	}
	rt_session_fini(&s);
	return ret < 0 ? ret : 0;
}

static int collect(int seq, int32_t id, void *arg)
{
	struct res *r = arg;

	(void)seq;
	r->ids[r->n++] = id;
	return 0;
}

static int spec(struct rt_model *m, struct rt_model *dm, int lookup, int k, const int32_t *p,
		int np, int n_gen, struct res *r)
{
	/* accel-run's default --draft-p-min */
	struct rt_spec_params sp = { .n_draft = k, .lookup = lookup, .p_min = dm ? 0.75f : 0 };
	struct rt_sampler_params smp;
	struct rt_spec_stats st;
	struct rt_session s, ds = { 0 };
	uint64_t b0 = streamed(m);
	int ret;

	rt_sampler_defaults(&smp);
	smp.temp = 0;
	r->n = 0;
	if ((ret = rt_session_init(&s, m, 0)) < 0)
		return ret;
	if (dm && (ret = rt_session_init(&ds, dm, 0)) < 0)
		goto out;
	ret = rt_spec_generate(&s, dm ? &ds : NULL, &sp, &smp, p, np, n_gen, NULL, collect, r, &st);
	if (ret == 0) {
		r->tps = (st.n_gen - 1) / st.t_gen;
		r->per_pass = st.n_passes ? (double)(st.n_gen - 1) / st.n_passes : 0;
		r->accept = st.n_drafted ? (double)st.n_accepted / st.n_drafted : 0;
		/* as plain's: the prompt's pass is not counted (its reads happen in
		 * rt_spec_generate: one pass of the whole model, subtracted) */
		r->bytes_per_tok = (double)(streamed(m) - b0 - prompt_bytes(m, np)) / (st.n_gen - 1);
	}
out:
	rt_session_fini(&ds);
	rt_session_fini(&s);
	return ret;
}

int bench_spec_main(int argc, char **argv)
{
	static const char usage[] = "spec -m MODEL [--mem-budget SIZE] [--draft-model FILE] "
				    "[--lookup N] [--draft K] [-t THREADS] [-n TOKENS] [--trace FILE]";
	const char *model = NULL, *draft = NULL, *trace = NULL;
	uint64_t budget = 0;
	int threads = 2, n_gen = 32, lookup = 3, k = 8, ret, nv;
	struct rt_model *m = NULL, *dm = NULL;
	struct res pa = { 0 }, la = { 0 }, pr = { 0 }, lr = { 0 }, da = { 0 };
	int32_t *rew = NULL, prompt[N_PROMPT];
	bool same;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-m") && strcmp(a, "--mem-budget") && strcmp(a, "-t") &&
		    strcmp(a, "-n") && strcmp(a, "--draft-model") && strcmp(a, "--lookup") &&
		    strcmp(a, "--draft") && strcmp(a, "--trace"))
			return bench_usage(usage);
		if (!v)
			return bench_fail("spec: %s: missing value", a);
		i++;
		if (!strcmp(a, "-m"))
			model = v;
		else if (!strcmp(a, "--draft-model"))
			draft = v;
		else if (!strcmp(a, "--trace"))
			trace = v;
		else if (!strcmp(a, "--mem-budget") ? bench_size(a, v, &budget) :
			 !strcmp(a, "-t") ? bench_int(a, v, 1, BENCH_MAX_THREADS, &threads) :
			 !strcmp(a, "--lookup") ? bench_int(a, v, 1, 64, &lookup) :
			 !strcmp(a, "--draft") ? bench_int(a, v, 1, RT_SPEC_MAX_DRAFT, &k) :
			 bench_int(a, v, 2, 1 << 12, &n_gen))
			return 1;
	}
	if (!model)
		return bench_usage(usage);
	if (trace && (ret = accel_trace_start(trace)) < 0)
		return bench_fail("--trace %s: %s", trace, strerror(-ret));
	{
		/* the rewrite prompt: prompt, continuation, prompt; then n_gen more */
		struct rt_model_opts mo = { .threads = threads, .n_batch = BENCH_SPEC_BATCH,
					    .n_ctx = 2 * N_PROMPT + 2 * n_gen + 8, .mem_budget = budget };
		struct rt_model_opts dmo = mo;

		dmo.mem_budget = 0;
		if ((ret = rt_model_load(model, &mo, &m)) < 0 ||
		    (draft && (ret = rt_model_load(draft, &dmo, &dm)) < 0) ||
		    (dm && (ret = rt_spec_check_vocab(m, dm)) < 0)) {
			ret = bench_fail("%s", rt_last_error());
			goto out;
		}
	}
	nv = rt_model_hparams(m)->n_vocab;
	prompt[0] = nv > 1 ? 1 : 0;
	for (int j = 1; j < N_PROMPT; j++)
		prompt[j] = (int32_t)((3 + j * 131) % nv);
	rew = malloc(sizeof(*rew) * (2 * N_PROMPT + n_gen));
	pa.ids = malloc(sizeof(int32_t) * n_gen);
	la.ids = malloc(sizeof(int32_t) * n_gen);
	pr.ids = malloc(sizeof(int32_t) * n_gen);
	lr.ids = malloc(sizeof(int32_t) * n_gen);
	da.ids = malloc(sizeof(int32_t) * n_gen);
	if (!rew || !pa.ids || !la.ids || !pr.ids || !lr.ids || !da.ids) {
		ret = bench_fail("out of memory");
		goto out;
	}
	k = k < rt_model_max_logits(m) - 1 ? k : rt_model_max_logits(m) - 1;
	accel_trace_mark("plain");
	ret = plain(m, prompt, N_PROMPT, n_gen, &pa);
	memcpy(rew, prompt, sizeof(prompt));
	memcpy(rew + N_PROMPT, pa.ids, sizeof(int32_t) * n_gen);
	memcpy(rew + N_PROMPT + n_gen, prompt, sizeof(prompt));
	accel_trace_mark("spec_lookup_plain");
	if (ret == 0)
		ret = spec(m, NULL, lookup, k, prompt, N_PROMPT, n_gen, &la);
	accel_trace_mark("plain_rewrite");
	if (ret == 0)
		ret = plain(m, rew, 2 * N_PROMPT + n_gen, n_gen, &pr);
	accel_trace_mark("spec_lookup_rewrite");
	if (ret == 0)
		ret = spec(m, NULL, lookup, k, rew, 2 * N_PROMPT + n_gen, n_gen, &lr);
	accel_trace_mark("spec_draft");
	if (ret == 0 && dm)
		ret = spec(m, dm, 0, k, prompt, N_PROMPT, n_gen, &da);
	if (ret < 0) {
		ret = bench_fail("%s", rt_last_error());
		goto out;
	}
	same = la.n == n_gen && !memcmp(la.ids, pa.ids, sizeof(int32_t) * n_gen) &&
	       lr.n == n_gen && !memcmp(lr.ids, pr.ids, sizeof(int32_t) * n_gen) &&
	       (!dm || (da.n == n_gen && !memcmp(da.ids, pa.ids, sizeof(int32_t) * n_gen)));
	printf("model: %s\n", model);
	printf("streamed: %s\n", streamed(m) ? "yes" : "no (resident)");
	printf("tokens: %d\n", n_gen);
	printf("draft_max: %d\n", k);
	if (dm)
		printf("draft_p_min: 0.75\n");
	printf("spec_greedy_identical: %s\n", same ? "yes" : "NO");
	printf("tokens_per_s_plain: %.3f\n", pa.tps);
	printf("spec_tokens_per_pass_lookup_rewrite: %.3f\n", lr.per_pass);
	printf("spec_acceptance_lookup_rewrite: %.3f\n", lr.accept);
	printf("spec_speedup_lookup_rewrite: %.3f\n", pr.tps > 0 ? lr.tps / pr.tps : 0.0);
	printf("spec_tokens_per_pass_lookup_plain: %.3f\n", la.per_pass);
	printf("spec_acceptance_lookup_plain: %.3f\n", la.accept);
	printf("spec_speedup_lookup_plain: %.3f\n", pa.tps > 0 ? la.tps / pa.tps : 0.0);
	if (dm) {
		printf("spec_tokens_per_pass_draft: %.3f\n", da.per_pass);
		printf("spec_acceptance_draft: %.3f\n", da.accept);
		printf("spec_speedup_draft: %.3f\n", pa.tps > 0 ? da.tps / pa.tps : 0.0);
	}
	if (streamed(m))
		printf("stream_bytes_per_token_spec_vs_plain: %.3f\n",
		       pr.bytes_per_tok > 0 ? lr.bytes_per_tok / pr.bytes_per_tok : 0.0);
	ret = same ? 0 : 1;
out:
	if (trace && accel_trace_stop() < 0)
		ret = bench_fail("--trace %s: the trace could not be written", trace);
	free(rew);
	free(pa.ids);
	free(la.ids);
	free(pr.ids);
	free(lr.ids);
	free(da.ids);
	rt_model_free(dm);
	rt_model_free(m);
	return ret;
}
