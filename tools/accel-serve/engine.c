// SPDX-License-Identifier: MIT
/*
 * accel-serve's engine: the one thread that owns the model and the
 * scheduler. Between steps it takes new jobs from its inbox and the jobs
 * whose clients left; with nothing to run it sleeps on a condition variable.
 * Token events turn into text (detokenized, stop strings cut) in the job,
 * whose HTTP thread is woken through the job's eventfd. Metrics live here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "rt_error.h"
#include "rt_model.h"
#include "rt_stream.h"
#include "rt_tokenizer.h"
#include "serve.h"

static const double ttft_le[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
static const double itl_le[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
#define N_TTFT (sizeof(ttft_le) / sizeof(ttft_le[0]))
#define N_ITL (sizeof(itl_le) / sizeof(itl_le[0]))

struct hist {
	uint64_t count[16];	/* per bucket, the last one +Inf */
	uint64_t n;
	double sum;
};

struct engine {
	struct rt_model *m;
	struct rt_tokenizer *tok;
	struct rt_sched *s;
	pthread_t th;
	bool started;

	pthread_mutex_t mu;		/* protects everything below */
	pthread_cond_t cv;		/* inbox, cancel list or stop */
	bool stop;
	struct job *inbox, *inbox_tail, *cancels;
	struct rt_sched_stats st;	/* after the last step */
	uint64_t bytes_streamed;
	bool gpu;			/* --gpu: set at start, read-only */
	bool host_streams;		/* weights stream from the file (--mem-budget) */
	bool vram_tier;			/* --vram-budget's tier: @vs is its counters */
	struct rt_vram_stats vs;
	struct hist ttft, itl;
	uint64_t req_ok, req_err[6];	/* 400 401 404 413 503 other */
	uint64_t prompt_tokens, gen_tokens, cached_tokens;
};

static void hist_add(struct hist *h, const double *le, size_t n, double v)
{
	size_t i = 0;

	while (i < n && v > le[i])
		i++;
	h->count[i]++;
	h->n++;
	h->sum += v;
}

static void notify(struct job *j)
{
	uint64_t one = 1;

	(void)!write(j->efd, &one, sizeof(one));
}

/* the first bytes of the earliest stop string in @t at or after @from */
static bool find_stop(const struct job *j, size_t from, size_t *at)
{
	bool found = false;

	for (int i = 0; i < j->n_stop; i++) {
		const char *p = strstr(j->text.buf + from, j->stop[i]);

		if (p && (!found || (size_t)(p - j->text.buf) < *at)) {
			*at = (size_t)(p - j->text.buf);
			found = true;
		}
	}
	return found;
}

/* the real event handler needs the engine: jobs carry it through this */
struct ev_ctx {
	struct engine *e;
	struct job *j;
};

static int on_token(void *arg, int32_t id, enum rt_sched_finish why)
{
	struct ev_ctx *c = arg;
	struct engine *e = c->e;
	struct job *j = c->j;
	double now = serve_now();
	int ret = 0;

	if (id >= 0) {
		char stack[256], *piece = stack;
		size_t cap = sizeof(stack);
		int n;

		for (;;) {
			n = rt_detok_push(&j->dt, e->tok, id, piece, cap);
			if (n != -ENOSPC || cap > (1u << 24))
				break;
			if (piece != stack)
				free(piece);
			cap *= 4;
			piece = malloc(cap);
			if (!piece)
				return -ENOMEM;
		}
		pthread_mutex_lock(&j->mu);
		if (j->n_gen == 0) {
			int cached = rt_sched_cached(e->s, j->sched_id);

			j->n_cached = cached > 0 ? cached : 0;
			j->t_first = now;
		}
		j->n_gen++;
		if (n > 0) {
			size_t from = j->text.len > j->max_stop_len ? j->text.len - j->max_stop_len : 0;
			size_t at = 0;

			if (tool_text_append(&j->text, piece, (size_t)n) < 0) {
				ret = -ENOMEM;
			} else if (j->n_stop && find_stop(j, from, &at)) {
				j->text.len = at;
				j->text.buf[at] = '\0';
				j->stopped = true;
				ret = -ECANCELED;	/* the sequence ends here */
			}
		}
		if (j->cancel)
			ret = -ECANCELED;
		pthread_mutex_unlock(&j->mu);
		if (piece != stack)
			free(piece);
		pthread_mutex_lock(&e->mu);
		if (j->n_gen == 1)
			hist_add(&e->ttft, ttft_le, N_TTFT, now - j->t_arrive);
		else
			hist_add(&e->itl, itl_le, N_ITL, now - j->t_last);
		e->gen_tokens++;
		pthread_mutex_unlock(&e->mu);
		j->t_last = now;
		notify(j);
		return ret;
	}
	pthread_mutex_lock(&j->mu);
	j->state = JOB_DONE;
	if (j->stopped || why == RT_SCHED_STOP) {
		j->finish = "stop";
	} else if (why == RT_SCHED_LENGTH) {
		j->finish = "length";
	} else if (why == RT_SCHED_CANCELLED) {
		j->finish = "cancelled";
	} else {
		j->status = 500;
		snprintf(j->err, sizeof(j->err), "generation failed: %s", rt_last_error());
	}
	pthread_mutex_unlock(&j->mu);
	notify(j);
	job_put(j);		/* the engine's reference */
	free(c);
	return 0;
}

static void start_job(struct engine *e, struct job *j)
{
	struct ev_ctx *c = malloc(sizeof(*c));
	struct rt_sched_req q = { .prompt = j->prompt, .n_prompt = j->n_prompt,
				  .max_tokens = j->max_tokens, .sp = j->sp, .fn = on_token, .arg = c };
	int64_t id;

	pthread_mutex_lock(&j->mu);
	if (j->cancel || !c) {
		j->state = JOB_DONE;
		j->finish = "cancelled";
		if (!c) {
			j->status = 500;
			snprintf(j->err, sizeof(j->err), "out of memory");
		}
		pthread_mutex_unlock(&j->mu);
		free(c);
		notify(j);
		job_put(j);
		return;
	}
	pthread_mutex_unlock(&j->mu);
	c->e = e;
	c->j = j;
	id = rt_sched_add(e->s, &q);
	pthread_mutex_lock(&j->mu);
	if (id < 0) {
		j->state = JOB_DONE;
		j->status = id == -EBUSY ? 503 : 400;
		snprintf(j->err, sizeof(j->err), "%s", rt_last_error());
	} else {
		j->sched_id = id;
		j->state = JOB_RUNNING;
	}
	pthread_mutex_unlock(&j->mu);
	notify(j);
	if (id < 0) {
		free(c);
		job_put(j);
	} else {
		pthread_mutex_lock(&e->mu);
		e->prompt_tokens += (uint64_t)j->n_prompt;
		pthread_mutex_unlock(&e->mu);
	}
}

static void *engine_main(void *arg)
{
	struct engine *e = arg;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		struct job *in, *cancels;
		struct rt_sched_stats st;
		struct rt_stream_stats ss;
		struct rt_vram_stats vs = { 0 };

		while (!e->stop && !e->inbox && !e->cancels && !rt_sched_pending(e->s))
			pthread_cond_wait(&e->cv, &e->mu);
		if (e->stop)
			break;
		in = e->inbox;
		cancels = e->cancels;
		e->inbox = e->inbox_tail = e->cancels = NULL;
		pthread_mutex_unlock(&e->mu);
		while (cancels) {
			struct job *j = cancels, *nx = j->cnext;
			bool running;

			pthread_mutex_lock(&j->mu);
			running = j->state == JOB_RUNNING;
			pthread_mutex_unlock(&j->mu);
			if (running)
				rt_sched_cancel(e->s, j->sched_id);
			job_put(j);	/* engine_cancel's reference */
			cancels = nx;
		}
		while (in) {
			struct job *nx = in->next;

			in->next = NULL;
			start_job(e, in);
			in = nx;
		}
		if (rt_sched_pending(e->s))
			rt_sched_step(e->s);
		rt_sched_get_stats(e->s, &st);
		memset(&ss, 0, sizeof(ss));
		rt_stream_stats(e->m, &ss, NULL);
		if (e->vram_tier)
			rt_vram_stats(e->m, &vs);
		pthread_mutex_lock(&e->mu);
		e->st = st;
		e->cached_tokens = st.n_cached_tokens;
		e->bytes_streamed = ss.bytes_read;
		e->vs = vs;
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

int engine_start(const struct serve_opts *o, struct rt_model *m, struct rt_tokenizer *tok,
		 struct engine **out)
{
	struct rt_sched_opts so = { .max_seqs = o->n_parallel, .token_budget = o->n_batch,
				    .max_waiting = o->max_queue, .cache_dir = o->kv_cache_dir,
				    .max_kv_blocks = o->kv_blocks,
				    .host_swap_bytes = o->swap_space,
				    .forward = o->forward, .forward_arg = o->forward_arg };
	struct engine *e = calloc(1, sizeof(*e));
	int ret;

	if (!e)
		return -ENOMEM;
	e->m = m;
	e->tok = tok;
	e->gpu = o->gpu;
	e->host_streams = rt_stream_stats(m, NULL, NULL) == 0;
	e->vram_tier = rt_vram_stats(m, &e->vs) == 0;
	if (so.token_budget > rt_model_n_batch(m) || so.token_budget <= 0)
		so.token_budget = rt_model_n_batch(m);
	ret = rt_sched_create(m, tok, &so, &e->s);
	if (ret < 0) {
		free(e);
		return ret;
	}
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	rt_sched_get_stats(e->s, &e->st);
	ret = -pthread_create(&e->th, NULL, engine_main, e);
	if (ret < 0) {
		rt_sched_destroy(e->s);
		free(e);
		return ret;
	}
	e->started = true;
	*out = e;
	return 0;
}

/* the shutdown's refusal: a job that arrives after it ends at once */
static void refuse(struct job *j)
{
	pthread_mutex_lock(&j->mu);
	j->state = JOB_DONE;
	j->status = 503;
	snprintf(j->err, sizeof(j->err), "the server is shutting down");
	pthread_mutex_unlock(&j->mu);
	notify(j);
	job_put(j);
}

void engine_stop(struct engine *e)
{
	struct job *in, *cancels;

	if (!e || !e->started)
		return;
	pthread_mutex_lock(&e->mu);
	e->stop = true;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
	pthread_join(e->th, NULL);
	e->started = false;
	/* whatever is left ends now (cancelled; waiting clients are told) */
	rt_sched_destroy(e->s);
	e->s = NULL;
	pthread_mutex_lock(&e->mu);
	in = e->inbox;
	cancels = e->cancels;
	e->inbox = e->inbox_tail = e->cancels = NULL;
	pthread_mutex_unlock(&e->mu);
	for (struct job *j = in, *nx; j; j = nx) {
		nx = j->next;
		refuse(j);
	}
	for (struct job *j = cancels, *nx; j; j = nx) {
		nx = j->cnext;
		job_put(j);
	}
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	engine_stop(e);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

void engine_submit(struct engine *e, struct job *j)
{
	pthread_mutex_lock(&j->mu);
	j->refs++;		/* the engine's */
	pthread_mutex_unlock(&j->mu);
	pthread_mutex_lock(&e->mu);
	if (e->stop) {
		pthread_mutex_unlock(&e->mu);
		refuse(j);
		return;
	}
	j->next = NULL;
	if (e->inbox_tail)
		e->inbox_tail->next = j;
	else
		e->inbox = j;
	e->inbox_tail = j;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

void engine_cancel(struct engine *e, struct job *j)
{
	pthread_mutex_lock(&j->mu);
	if (j->cancel || j->state == JOB_DONE) {
		pthread_mutex_unlock(&j->mu);
		return;
	}
	j->cancel = true;
	j->refs++;		/* the cancel list's */
	pthread_mutex_unlock(&j->mu);
	/* a job still in the inbox is dropped by start_job (cancel is set) */
	pthread_mutex_lock(&e->mu);
	if (e->stop) {
		pthread_mutex_unlock(&e->mu);
		job_put(j);
		return;
	}
	j->cnext = e->cancels;
	e->cancels = j;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

void engine_count_error(struct engine *e, int status)
{
	static const int codes[] = { 400, 401, 404, 413, 503 };
	int i = 0;

	while (i < 5 && codes[i] != status)
		i++;
	pthread_mutex_lock(&e->mu);
	if (status == 200)
		e->req_ok++;
	else
		e->req_err[i]++;
	pthread_mutex_unlock(&e->mu);
}

const struct rt_tokenizer *engine_tokenizer(struct engine *e)
{
	return e->tok;
}

struct rt_model *engine_model(struct engine *e)
{
	return e->m;
}

static void hist_print(struct tool_text *t, const char *name, const char *help,
		       const struct hist *h, const double *le, size_t n)
{
	char line[256];
	uint64_t cum = 0;
	int l;

	l = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	tool_text_append(t, line, (size_t)l);
	for (size_t i = 0; i <= n; i++) {
		cum += h->count[i];
		if (i < n)
			l = snprintf(line, sizeof(line), "%s_bucket{le=\"%g\"} %llu\n", name, le[i],
				     (unsigned long long)cum);
		else
			l = snprintf(line, sizeof(line), "%s_bucket{le=\"+Inf\"} %llu\n", name,
				     (unsigned long long)cum);
		tool_text_append(t, line, (size_t)l);
	}
	l = snprintf(line, sizeof(line), "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name,
		     (unsigned long long)h->n);
	tool_text_append(t, line, (size_t)l);
}

static void metric(struct tool_text *t, const char *name, const char *type, const char *help,
		   const char *labels, unsigned long long v)
{
	char line[512];
	int l = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s%s %llu\n", name, help,
			 name, type, name, labels ? labels : "", v);

	tool_text_append(t, line, (size_t)l);
}

char *engine_metrics(struct engine *e)
{
	static const char *const codes[] = { "400", "401", "404", "413", "503", "other" };
	struct tool_text t = { 0 };
	char line[256];

	pthread_mutex_lock(&e->mu);
	metric(&t, "accel_requests_total", "counter", "requests answered, by status",
	       "{status=\"200\"}", e->req_ok);
	for (int i = 0; i < 6; i++) {
		int l = snprintf(line, sizeof(line), "accel_requests_total{status=\"%s\"} %llu\n",
				 codes[i], (unsigned long long)e->req_err[i]);

		tool_text_append(&t, line, (size_t)l);
	}
	metric(&t, "accel_prompt_tokens_total", "counter", "prompt tokens of accepted requests",
	       NULL, e->prompt_tokens);
	metric(&t, "accel_generation_tokens_total", "counter", "tokens generated", NULL,
	       e->gen_tokens);
	metric(&t, "accel_prefix_cache_hits_total", "counter",
	       "requests that reused cached prompt blocks", NULL, e->st.n_prefix_hits);
	metric(&t, "accel_prefix_cache_cached_tokens_total", "counter",
	       "prompt tokens taken from the prefix cache", NULL, e->cached_tokens);
	metric(&t, "accel_kv_disk_blocks_loaded_total", "counter",
	       "prefix blocks read from --kv-cache-dir", NULL, e->st.n_disk_loaded);
	metric(&t, "accel_kv_disk_blocks_stored_total", "counter",
	       "prefix blocks written to --kv-cache-dir", NULL, e->st.n_disk_stored);
	metric(&t, "accel_preemptions_total", "counter",
	       "sequences swapped out when KV blocks ran out", NULL, e->st.n_preempted);
	metric(&t, "accel_preemptions_to_file_total", "counter",
	       "of those, swapped to a file in --kv-cache-dir (--swap-space full)", NULL,
	       e->st.n_swapped_files);
	metric(&t, "accel_requests_swapped", "gauge", "preempted sequences waiting to resume",
	       NULL, (unsigned long long)e->st.n_swapped);
	metric(&t, "accel_requests_running", "gauge", "sequences in the batch", NULL,
	       (unsigned long long)e->st.n_running);
	metric(&t, "accel_requests_waiting", "gauge", "requests waiting for a sequence", NULL,
	       (unsigned long long)e->st.n_waiting);
	metric(&t, "accel_kv_blocks_used", "gauge", "KV blocks held by sequences", NULL,
	       (unsigned long long)e->st.kv_blocks_used);
	metric(&t, "accel_kv_blocks_cached", "gauge", "KV blocks kept for the prefix cache only",
	       NULL, (unsigned long long)e->st.kv_blocks_cached);
	metric(&t, "accel_kv_blocks_free", "gauge", "KV blocks free (cached ones are reusable)",
	       NULL, (unsigned long long)(e->st.kv_blocks_total - e->st.kv_blocks_used -
					  e->st.kv_blocks_cached));
	metric(&t, "accel_steps_total", "counter", "forward passes (one weight pass each)", NULL,
	       e->st.n_steps);
	metric(&t, "accel_bytes_streamed_total", "counter", "weight bytes read from the file",
	       NULL, e->bytes_streamed);
	/* where the model runs, as an info metric (value 1, the facts in labels) */
	snprintf(line, sizeof(line), "{device=\"%s\",weights=\"%s\"}", e->gpu ? "gpu" : "cpu",
		 e->vram_tier ? (e->host_streams ? "vram-slots-from-file" : "vram-slots")
			      : e->host_streams ? "host-slots-from-file" : "resident");
	metric(&t, "accel_placement_info", "gauge",
	       "where the model runs: device cpu or gpu; weights resident (in VRAM under --gpu), "
	       "streamed through host slots from the file (--mem-budget), or through VRAM slots "
	       "(--vram-budget) from host memory or the file", line, 1);
	if (e->vram_tier) {
		metric(&t, "accel_vram_budget_bytes", "gauge",
		       "--vram-budget: VRAM for the KV cache, activations and weights", NULL,
		       e->vs.budget);
		metric(&t, "accel_vram_units", "gauge", "weight units (layers, head chunks)", NULL,
		       (unsigned long long)e->vs.n_units);
		metric(&t, "accel_vram_units_resident", "gauge",
		       "weight units kept in VRAM; the others cross PCIe every step", NULL,
		       (unsigned long long)e->vs.n_resident);
		metric(&t, "accel_vram_uploaded_bytes_total", "counter",
		       "weight bytes uploaded host -> VRAM", NULL, e->vs.uploaded_bytes);
	}
	hist_print(&t, "accel_time_to_first_token_seconds", "time to first token", &e->ttft,
		   ttft_le, N_TTFT);
	hist_print(&t, "accel_inter_token_latency_seconds", "time between tokens", &e->itl,
		   itl_le, N_ITL);
	pthread_mutex_unlock(&e->mu);
	return t.buf;
}
