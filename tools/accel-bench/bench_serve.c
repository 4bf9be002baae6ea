// SPDX-License-Identifier: MIT
/*
 * accel-bench serve: the serving scheduler (rt_sched, what accel-serve runs)
 * under closed-loop clients in process (each client sends its next request
 * when the last one ends; no HTTP in the measurement): aggregate tokens/s and
 * p50/p99 time to first token and inter-token latency at 1, 4 and 16
 * clients; TTFT of requests sharing a 1,000-token system prompt, cold (a
 * prefix nobody sent before), warm (the prefix cache holds it), and after a
 * restart on a cache directory (the disk tier holds it); with
 * --big, a model streamed under --mem-budget at 1, 4 and 16 clients,
 * aggregate tokens/s relative to one client (one weight pass per step serves
 * them all), with the share of each run the COMPUTE engine and the weight
 * loads (COPY) were busy: where compute binds, the ratio stops growing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rt_error.h"
#include "rt_model.h"
#include "rt_sched.h"
#include "rt_stream.h"
#include "rt_tokenizer.h"
#include "bench.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct samples {
	double *v;
	size_t n, cap;
};

static void add_sample(struct samples *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		double *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(struct samples *s, double p)
{
	size_t i;

	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_d);
	i = (size_t)(p * (double)(s->n - 1) + 0.5);
	return s->v[i];
}

struct client {
	int left;		/* requests still to send */
	bool active;
	double t_add, t_last;
	int n_tok;
	struct samples *ttft, *itl;
	long *total;
};

static int on_token(void *arg, int32_t id, enum rt_sched_finish why)
{
	struct client *c = arg;
	double t = now_s();

	if (id < 0) {
		c->active = false;
		return 0;
	}
	if (c->n_tok++ == 0)
		add_sample(c->ttft, t - c->t_add);
	else
		add_sample(c->itl, t - c->t_last);
	c->t_last = t;
	(*c->total)++;
	return 0;
}

/* @n_clients closed-loop clients, @reqs requests each of @prompt (its token
 * 1 made distinct per request, so no two share a cached prefix) */
static int closed_loop(struct rt_model *m, const struct rt_tokenizer *tok, int n_clients,
		       int reqs, const int32_t *prompt, int n_prompt, int n_gen,
		       struct samples *ttft, struct samples *itl, double *tok_s, double *wall_s)
{
	struct rt_sched_opts so = { .max_seqs = n_clients };
	struct client cl[64];
	int32_t *p = malloc(sizeof(*p) * n_prompt);
	struct rt_sched *s;
	long total = 0;
	int ret, serial = 0, nv = rt_model_hparams(m)->n_vocab;
	double t0;

	if (!p)
		return -ENOMEM;
	ret = rt_sched_create(m, tok, &so, &s);
	if (ret < 0) {
		free(p);
		return ret;
	}
	memset(cl, 0, sizeof(cl));
	for (int i = 0; i < n_clients; i++)
		cl[i] = (struct client){ .left = reqs, .ttft = ttft, .itl = itl, .total = &total };
	t0 = now_s();
	for (;;) {
		bool any = false;

		for (int i = 0; i < n_clients; i++) {
			struct client *c = &cl[i];

			if (!c->active && c->left > 0) {
				struct rt_sched_req q = { .prompt = p, .n_prompt = n_prompt,
							  .max_tokens = n_gen, .fn = on_token, .arg = c };

				memcpy(p, prompt, sizeof(*p) * n_prompt);
				if (n_prompt > 1)
					p[1] = 3 + (int32_t)((unsigned)(serial++ * 7919) % (unsigned)(nv - 3));
				rt_sampler_defaults(&q.sp);
				q.sp.temp = 0;
				c->left--;
				c->active = true;
				c->n_tok = 0;
				c->t_add = now_s();
				if (rt_sched_add(s, &q) < 0) {
					ret = -EIO;
					goto out;
				}
			}
			any |= c->active;
		}
		if (!any)
			break;
		ret = rt_sched_step(s);
		if (ret < 0)
			goto out;
	}
	*wall_s = now_s() - t0;
	*tok_s = (double)total / *wall_s;
	ret = 0;
out:
	rt_sched_destroy(s);
	free(p);
	return ret;
}

static int prompt_ids(const struct rt_tokenizer *tok, int want, int32_t **out)
{
	static const char text[] = "Once upon a time, in a small town by the sea, there lived a "
				   "curious girl who loved to read about stars and ships. ";
	int32_t *ids = malloc(sizeof(*ids) * (size_t)(want + 64));
	int n = 0;

	if (!ids)
		return -ENOMEM;
	while (n < want) {
		int k = rt_tokenize(tok, text, strlen(text), n == 0, false, ids + n, want + 64 - n);

		if (k <= 0 || k > want + 64 - n) {
			free(ids);
			return -EINVAL;
		}
		n += k;
	}
	*out = ids;
	return want;
}

struct load_args {
	const char *model;
	int threads, n_ctx, n_seq;
	uint64_t budget;
};

static int load(const struct load_args *a, struct rt_model **m, struct rt_tokenizer **tok)
{
	struct rt_model_opts mo = { .threads = a->threads, .n_ctx = a->n_ctx, .n_seq = a->n_seq,
				    .mem_budget = a->budget };
	int ret = rt_model_load(a->model, &mo, m);

	if (ret < 0)
		return bench_fail("%s: %s", a->model, rt_last_error());
	ret = rt_tokenizer_load(rt_model_gguf(*m), tok);
	if (ret < 0) {
		rt_model_free(*m);
		return bench_fail("%s: tokenizer: %s", a->model, rt_last_error());
	}
	return 0;
}

static const int clients[] = { 1, 4, 16 };

static int bench_clients(const struct load_args *la, const char *tag, int n_prompt, int n_gen,
			 bool latency, double *rate)
{
	struct rt_tokenizer *tok;
	struct rt_model *m;
	int32_t *ids = NULL;
	int ret;

	if (load(la, &m, &tok))
		return 1;
	ret = prompt_ids(tok, n_prompt, &ids);
	for (size_t i = 0; ret >= 0 && i < 3; i++) {
		struct samples ttft = { 0 }, itl = { 0 };
		struct rt_stream_stats s0, s1;
		int c = clients[i];
		bool streamed = rt_stream_stats(m, &s0, NULL) == 0;
		double wall;

		ret = closed_loop(m, tok, c, latency ? (c == 1 ? 4 : 2) : 1, ids, n_prompt, n_gen,
				  &ttft, &itl, &rate[i], &wall);
		if (ret < 0)
			break;
		printf("%s_c%d_tokens_per_s: %.2f\n", tag, c, rate[i]);
		if (latency) {
			printf("%s_c%d_ttft_p50_ms: %.1f\n", tag, c, 1e3 * pct(&ttft, 0.5));
			printf("%s_c%d_ttft_p99_ms: %.1f\n", tag, c, 1e3 * pct(&ttft, 0.99));
			printf("%s_c%d_itl_p50_ms: %.1f\n", tag, c, 1e3 * pct(&itl, 0.5));
			printf("%s_c%d_itl_p99_ms: %.1f\n", tag, c, 1e3 * pct(&itl, 0.99));
		} else {
			printf("%s_c%d_vs_c1: %.2f (goal >= %.1f until compute binds)\n", tag, c,
			       rate[i] / rate[0], 0.8 * c);
		}
		/* the engines' busy time over the run's wall time (queue stats:
		 * the COMPUTE queue executing, the COPY queue loading weights) */
		if (streamed && rt_stream_stats(m, &s1, NULL) == 0 && wall > 0) {
			printf("%s_c%d_compute_busy: %.2f (share of the run the COMPUTE engine "
			       "executed)\n", tag, c, (double)(s1.compute_ns - s0.compute_ns) * 1e-9 / wall);
			printf("%s_c%d_io_busy: %.2f (share of the run the weight loads took)\n", tag,
			       c, (double)(s1.io_ns - s0.io_ns) * 1e-9 / wall);
		}
		free(ttft.v);
		free(itl.v);
	}
	if (ret < 0)
		bench_fail("%s: %s", tag, rt_last_error());
	free(ids);
	rt_tokenizer_free(tok);
	rt_model_free(m);
	return ret < 0;
}

/* one request on a fresh scheduler, its TTFT */
static int one_ttft(struct rt_model *m, const struct rt_tokenizer *tok, const char *dir,
		    const int32_t *ids, int n, double *ttft)
{
	struct rt_sched_opts so = { .max_seqs = 1, .cache_dir = dir };
	struct samples t = { 0 }, itl = { 0 };
	long total = 0;
	struct client c = { .active = true, .ttft = &t, .itl = &itl, .total = &total };
	struct rt_sched_req q = { .prompt = ids, .n_prompt = n, .max_tokens = 1, .fn = on_token,
				  .arg = &c };
	struct rt_sched *s;
	int ret = rt_sched_create(m, tok, &so, &s);

	if (ret < 0)
		return ret;
	rt_sampler_defaults(&q.sp);
	q.sp.temp = 0;
	c.t_add = now_s();
	ret = rt_sched_add(s, &q) < 0 ? -EIO : 0;
	while (c.active && ret >= 0)
		ret = rt_sched_step(s);
	*ttft = t.n ? t.v[0] : 0;
	free(t.v);
	free(itl.v);
	rt_sched_destroy(s);
	return ret < 0 ? ret : 0;
}

/* the system prompt through a cache directory, then a "restarted" process
 * (the model loaded again) on the same directory: its TTFT */
static int disk_restart(const struct load_args *la, int32_t *ids, double *ttft)
{
	char dir[] = "/tmp/accel-bench-kvc.XXXXXX", cmd[64];
	struct rt_tokenizer *tok;
	struct rt_model *m;
	double t;
	int ret;

	if (!mkdtemp(dir))
		return -errno;
	ids[1] = 400;
	for (int k = 0; k < 2; k++) {
		if (load(la, &m, &tok)) {
			ret = -EIO;
			break;
		}
		ids[1000 + 1] = 600 + k;	/* a new question each time */
		ret = one_ttft(m, tok, dir, ids, 1000 + 24, k ? ttft : &t);
		rt_tokenizer_free(tok);
		rt_model_free(m);
		if (ret < 0)
			break;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)!system(cmd);
	return ret;
}

/* TTFT of one request at a time with a 1,000-token system prompt: cold
 * (its first token changed: nothing cached) and warm (the same prefix) */
static int bench_prefix(const struct load_args *la0)
{
	struct load_args la = *la0;
	struct samples cold = { 0 }, warm = { 0 }, itl = { 0 };
	struct rt_sched_opts so = { .max_seqs = 1 };
	struct rt_tokenizer *tok;
	struct rt_model *m;
	struct rt_sched *s;
	int32_t *ids;
	long total = 0;
	double restart = 0;
	int ret;

	la.n_ctx = 1088;
	la.n_seq = 1;
	if (load(&la, &m, &tok))
		return 1;
	ret = prompt_ids(tok, 1000 + 24, &ids);
	if (ret >= 0)
		ret = rt_sched_create(m, tok, &so, &s);
	for (int r = 0; ret >= 0 && r < 6; r++) {
		bool is_warm = r >= 3;
		struct client c = { .active = true, .ttft = is_warm && r > 3 ? &warm : &cold,
				    .itl = &itl, .total = &total };
		struct rt_sched_req q = { .prompt = ids, .n_prompt = 1000 + 24, .max_tokens = 1,
					  .fn = on_token, .arg = &c };

		/* cold: a system prompt nobody sent (its second token differs);
		 * r 3 sends the warm prefix once, then 4 and 5 find it cached */
		ids[1] = is_warm ? 400 : 401 + r;
		/* the user's question differs every time */
		ids[1000 + 1] = 500 + r;
		rt_sampler_defaults(&q.sp);
		q.sp.temp = 0;
		if (r == 3)
			c.ttft = &itl;	/* the warm-up: not counted */
		c.t_add = now_s();
		if (rt_sched_add(s, &q) < 0) {
			ret = -EIO;
			break;
		}
		while (c.active && ret >= 0)
			ret = rt_sched_step(s);
	}
	if (ret >= 0) {
		rt_sched_destroy(s);
		ret = disk_restart(&la, ids, &restart);
	}
	if (ret >= 0) {
		double tc = pct(&cold, 0.5), tw = pct(&warm, 0.5);

		printf("prefix_system_prompt_tokens: 1000\n");
		printf("prefix_ttft_cold_ms: %.1f\n", 1e3 * tc);
		printf("prefix_ttft_cached_ms: %.1f\n", 1e3 * tw);
		printf("prefix_ttft_reduction: %.2f (goal >= 0.60)\n", tc > 0 ? 1 - tw / tc : 0);
		printf("prefix_ttft_after_restart_ms: %.1f (--kv-cache-dir: the blocks from files)\n",
		       1e3 * restart);
		printf("prefix_ttft_after_restart_reduction: %.2f\n", tc > 0 ? 1 - restart / tc : 0);
		free(ids);
	} else {
		bench_fail("prefix: %s", rt_last_error());
	}
	free(cold.v);
	free(warm.v);
	free(itl.v);
	rt_tokenizer_free(tok);
	rt_model_free(m);
	return ret < 0;
}

int bench_serve_main(int argc, char **argv)
{
	const char *model = "models/SmolLM2-135M-Instruct.Q4_1.gguf", *big = NULL;
	struct load_args la = { .n_ctx = 128, .n_seq = 16 };
	double rate[3];
	uint64_t budget = 0;
	int n_gen = 32;
	bool big_only = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return bench_usage("accel-bench serve [-m SMOLLM2.gguf] [-t N] [-n TOKENS] "
					   "[--big MODEL.gguf --mem-budget B [--big-only]]");
		if (!strcmp(a, "--big-only")) {
			big_only = true;
			continue;
		}
		if (!v)
			return bench_fail("%s: missing value (see --help)", a);
		if (!strcmp(a, "-m")) {
			model = v;
		} else if (!strcmp(a, "--big")) {
			big = v;
		} else if (!strcmp(a, "-t")) {
			if (bench_int(a, v, 1, BENCH_MAX_THREADS, &la.threads))
				return 1;
		} else if (!strcmp(a, "-n")) {
			if (bench_int(a, v, 1, 64, &n_gen))
				return 1;
		} else if (!strcmp(a, "--mem-budget")) {
			if (bench_size(a, v, &budget))
				return 1;
		} else {
			return bench_fail("unknown option '%s' (see --help)", a);
		}
		i++;
	}
	if (big && !budget)
		return bench_fail("--big needs --mem-budget (a budget that makes it stream)");
	if (big_only && !big)
		return bench_fail("--big-only needs --big MODEL");
	la.model = model;
	if (!big_only) {
		printf("serve_model: %s\n", model);
		if (bench_clients(&la, "serve", 32, n_gen, true, rate) || bench_prefix(&la))
			return 1;
	}
	if (big) {
		struct load_args lb = { .model = big, .threads = la.threads, .n_ctx = 64,
					.n_seq = 16, .budget = budget };

		printf("streamed_model: %s\n", big);
		/* short prompts, more tokens: the decode steps' weight passes dominate */
		if (bench_clients(&lb, "streamed", 8, 16, false, rate))
			return 1;
	}
	return 0;
}
