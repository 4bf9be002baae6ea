/* SPDX-License-Identifier: MIT */
/*
 * accel-serve: the OpenAI HTTP API over the runtime's scheduler (rt_sched).
 * libmicrohttpd's threads (one per connection) parse requests and wait on
 * their job; one engine thread owns the model and the scheduler, takes jobs
 * from its inbox between steps and sleeps on a condition variable when idle.
 */
#ifndef ACCEL_SERVE_H
#define ACCEL_SERVE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "rt_sampler.h"
#include "rt_sched.h"
#include "rt_tokenizer.h"
#include "tool_text.h"

#define SERVE_MAX_STOP	4
#define SERVE_MAX_PARALLEL 256

struct serve_opts {
	const char *model, *host, *api_key, *device, *alias;
	const char *kv_cache_dir;	/* --kv-cache-dir: the prefix cache's disk tier */
	int port, n_parallel, n_ctx, n_batch, threads;
	int n_predict;			/* -n: max_tokens when a request gives none */
	int max_queue;			/* --queue: most requests waiting */
	int kv_blocks;			/* --kv-blocks: most KV blocks in use (0: the pool) */
	uint64_t swap_space;		/* --swap-space: host bytes of swapped blocks (0: no limit) */
	uint64_t max_body;		/* --max-body: bytes */
	int timeout_s;			/* --timeout: an idle or stalled connection */
	int grace_s;			/* --shutdown-timeout: drain on SIGTERM/SIGINT */
	uint64_t mem_budget;
	bool gpu;			/* --gpu: the model on GPU 0 (rt_model_opts.gpu) */
	uint64_t vram_budget;		/* --vram-budget: VRAM it may use (0: all it needs) */
	int type_k, type_v;		/* -ctk/-ctv: enum rt_kv_type (0: f16) */
	int flash_attn;			/* -fa: enum rt_flash_attn (0: auto) */
	bool verbose;
	bool kv_unified;		/* -kvu: each sequence may use all of -c */
	double pp_timeout;		/* --pp-timeout: seconds rank 0 waits for a step's logits */
	/* under mpirun (pipeline.c): the step's forward pass through the ranks */
	rt_sched_forward_fn forward;
	void *forward_arg;
};

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

/*
 * struct job - one completion request, shared by its HTTP thread and the
 * engine (two references); @mu protects everything below it, @efd wakes the
 * HTTP thread when output or the end arrives.
 */
struct job {
	/* set by the HTTP thread before submission, then read-only */
	int32_t *prompt;
	int n_prompt;
	int max_tokens;
	struct rt_sampler_params sp;
	char *stop[SERVE_MAX_STOP];
	int n_stop;
	size_t max_stop_len;
	bool stream, chat, include_usage;
	double t_arrive;
	int efd;			/* eventfd: output or the end is there */

	pthread_mutex_t mu;
	int refs;
	enum job_state state;
	bool cancel;			/* the client left: the engine cancels it */
	int64_t sched_id;
	struct tool_text text;		/* generated text (stop strings cut off) */
	size_t sent;			/* bytes of @text already streamed */
	int n_gen, n_cached;
	const char *finish;		/* "stop", "length", or NULL while running */
	int status;			/* != 200: the request failed with it */
	char err[256];
	bool stopped;			/* a stop string matched */
	double t_first, t_last;
	struct rt_detok dt;
	struct job *next;		/* the engine's inbox */
	struct job *cnext;		/* the engine's cancel list */
};

struct engine;

/**
 * engine_start - the engine thread over a loaded model; @o's limits
 */
int engine_start(const struct serve_opts *o, struct rt_model *m, struct rt_tokenizer *tok,
		 struct engine **out);
/** engine_stop - the engine thread ends, every job with it (clients are
 *  woken); later submissions are refused with 503 */
void engine_stop(struct engine *e);
/** engine_free - after the HTTP side is gone */
void engine_free(struct engine *e);
/** engine_submit - hand a job over (a reference goes with it); 503 cases
 *  end the job with its status */
void engine_submit(struct engine *e, struct job *j);
/** engine_cancel - the client left: end @j (blocks return at once) */
void engine_cancel(struct engine *e, struct job *j);
/** engine_metrics - /metrics in Prometheus text format (malloc'd) */
char *engine_metrics(struct engine *e);
const struct rt_tokenizer *engine_tokenizer(struct engine *e);
struct rt_model *engine_model(struct engine *e);
void engine_count_error(struct engine *e, int status);

struct job *job_new(void);
void job_put(struct job *j);
/** job_sendable_locked - bytes of @j's text that can go out now */
size_t job_sendable_locked(const struct job *j);
/** job_wait - return at once when there is sendable output beyond @have
 *  bytes or the job is done, else after the job's next event; -ECONNRESET
 *  when the client leaves (@fd's peer hung up); -1 @fd: no check. Callers
 *  loop on their own condition. */
int job_wait(struct job *j, size_t have, int fd);

/* api.c: JSON requests and responses */
struct api_req;
/** api_parse - a /v1/completions (@chat false) or /v1/chat/completions
 *  body into @j; 0, or the HTTP status with @err set */
int api_parse(struct engine *e, const char *body, size_t len, bool chat, struct job *j,
	      char *err, size_t errlen);
char *api_error_json(int status, const char *msg);
char *api_response_json(const struct job *j, const char *model, const char *id, long created);
char *api_chunk_json(const struct job *j, const char *model, const char *id, long created,
		     const char *text, size_t len, const char *finish, bool usage_only);
char *api_models_json(const char *model, long created);

/* http.c */
struct http;
int http_start(const struct serve_opts *o, struct engine *e, const char *model_name,
	       struct http **out, int *port);
void http_stop(struct http *h);
/** http_drain - from now on new completions (and /health) get 503 with an
 *  error object and every response closes its connection */
void http_drain(struct http *h);
/** http_active - completion requests accepted and not yet fully answered */
int http_active(struct http *h);

double serve_now(void);

/* pipeline.c: under mpirun */
struct rt_model_opts;
/**
 * serve_pp_load - the ranks split the layers and each loads its range. Rank
 * 0: 0 with its model in *@m and @o's forward hook set (serve, then
 * serve_pp_end); 0 with *@m NULL: one rank, load as usual. Other ranks run
 * their layers for every step until rank 0 ends, then return 1 (exit 0).
 * Negative errno: the one line is printed, exit 1.
 */
int serve_pp_load(struct serve_opts *o, const struct rt_model_opts *mo, struct rt_model **m);
/** serve_pp_end - rank 0 is done: the other ranks leave, the stage times
 *  are printed, MPI ends (rank 0's model is freed with it) */
void serve_pp_end(void);

#endif
