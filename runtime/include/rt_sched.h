/* SPDX-License-Identifier: MIT */
/*
 * The serving scheduler: continuous batching with chunked prefill (SARATHI).
 * Requests join a waiting queue and leave when they finish or are cancelled,
 * between steps. Each step is one forward pass (one pass over the weights)
 * under a token budget: one decode token of every running sequence first,
 * then prompt chunks of the sequences still in prefill, so a long prompt
 * never stalls the others. A new request first takes the longest published
 * prefix of its prompt from the KV prefix cache (its cached tokens).
 *
 * Greedy results do not depend on what else is in the batch, nor on how the
 * budget cuts a prompt: every row of a pass takes the attention arithmetic
 * rt_session (accel-run) gives its position (rt_batch.chunk: the size of
 * rt_session's chunk, whatever the scheduler's piece), and cached blocks are
 * keyed by their tokens and those arithmetic classes, so a request returns
 * exactly what accel-run returns for the same prompt.
 *
 * Single-threaded: one thread owns the scheduler and the model; other
 * threads hand it requests through their own queue (accel-serve does).
 */
#ifndef RT_SCHED_H
#define RT_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include "rt_sampler.h"

struct rt_model;
struct rt_tokenizer;
struct rt_sched;
struct rt_batch;

/**
 * rt_sched_forward_fn - a forward pass in place of rt_model_forward, with
 * its contract (a pipeline whose later stages run in other processes)
 */
typedef int (*rt_sched_forward_fn)(void *arg, const struct rt_batch *b, const float **out);

enum rt_sched_finish {
	RT_SCHED_RUNNING = 0,
	RT_SCHED_STOP,		/* an end-of-generation token (not delivered) */
	RT_SCHED_LENGTH,	/* max_tokens reached, or the context is full */
	RT_SCHED_CANCELLED,	/* rt_sched_cancel, or the callback asked it */
	RT_SCHED_ERROR,		/* the forward pass failed */
};

/**
 * rt_sched_token_fn - a request's event: a generated token @id (>= 0) with
 * @finish RUNNING, or the end (@id -1, @finish why). Called on the
 * scheduler's thread during rt_sched_step (it may call rt_sched_cached and
 * nothing else of rt_sched); return < 0 to cancel the request (its end
 * event follows at once).
 */
typedef int (*rt_sched_token_fn)(void *arg, int32_t id, enum rt_sched_finish finish);

/**
 * struct rt_sched_opts - the scheduler's limits
 * @max_seqs: most sequences running at once (<= the model's n_seq; 0 = n_seq)
 * @token_budget: most tokens per step (<= the model's n_batch; 0 = n_batch)
 * @max_waiting: most requests waiting for a slot (0 = unlimited)
 * @max_kv_blocks: most KV blocks the running sequences hold together (0:
 *	as many as the pool has); when a step needs more (or the pool runs
 *	out), the newest running sequence is preempted: its blocks are swapped
 *	out through the COPY engine (to host memory, or to a file beyond
 *	@host_swap_bytes) and swapped back when it resumes, first in line,
 *	with no recomputation and the same output
 * @host_swap_bytes: most bytes of preempted sequences' blocks kept in host
 *	memory (0: no limit); beyond it, with @cache_dir, a preempted
 *	sequence's blocks go to a file there (WRITE_FILE/READ_FILE on the COPY
 *	engine; the file is unlinked at once), with the same output; without
 *	@cache_dir the limit does not apply
 * @cache_dir: the prefix cache's disk tier (NULL: none): a published block
 *	is written to a file there when it leaves memory (an allocation is
 *	about to evict it from the pool, or rt_sched_destroy), found again by
 *	hash by a later request of this process or of another one (a
 *	restart); files of another model, truncated or corrupt ones are
 *	ignored. On a device that cannot say which blocks an allocation
 *	evicts (a module without ACCEL_CAP_KV_PEEK_EVICT: accel_kv_peek_evict
 *	says -EOPNOTSUPP), blocks are written when published instead.
 * @forward, @forward_arg: NULL, or the step's forward pass instead of
 *	rt_model_forward: the model then holds the first layers only, and the
 *	KV of the others lives elsewhere, where this scheduler cannot share,
 *	swap or store it. So with @forward no prefix is reused or published,
 *	@cache_dir and @max_kv_blocks must be unset, and a step whose blocks
 *	the pool lacks fails its request instead of preempting one; a
 *	sequence given to a new request always starts at position 0 (which
 *	tells the other stages to drop what it held).
 */
struct rt_sched_opts {
	int max_seqs;
	int token_budget;
	int max_waiting;
	int max_kv_blocks;
	const char *cache_dir;
	uint64_t host_swap_bytes;
	rt_sched_forward_fn forward;
	void *forward_arg;
};

/**
 * struct rt_sched_req - one request
 * @prompt, @n_prompt: its tokens (copied)
 * @max_tokens: tokens to generate at most (< 0: until EOG or the context)
 * @sp: sampling (temperature <= 0: greedy)
 * @fn, @arg: its events
 */
struct rt_sched_req {
	const int32_t *prompt;
	int n_prompt;
	int max_tokens;
	struct rt_sampler_params sp;
	rt_sched_token_fn fn;
	void *arg;
};

/**
 * struct rt_sched_stats - counters since creation, and gauges now
 */
struct rt_sched_stats {
	uint64_t n_requests;		/* accepted */
	uint64_t n_finished;
	uint64_t n_cancelled;
	uint64_t n_prompt_tokens;	/* every prompt token, cached ones included */
	uint64_t n_cached_tokens;	/* prompt tokens taken from the prefix cache */
	uint64_t n_gen_tokens;
	uint64_t n_prefix_hits;		/* requests that reused at least one block */
	uint64_t n_disk_loaded;		/* blocks read from the cache directory */
	uint64_t n_disk_stored;		/* blocks written there (evicted ones) */
	uint64_t n_preempted;		/* sequences swapped out */
	uint64_t n_resumed;		/* and swapped back in */
	uint64_t n_swapped_files;	/* of those, to a file (host swap space full) */
	uint64_t n_steps;		/* forward passes */
	uint64_t n_step_tokens;		/* tokens in them */
	int n_running, n_waiting;
	int n_swapped;			/* waiting with their blocks in host memory */
	int kv_blocks_total, kv_blocks_used;	/* used: held by sequences */
	int kv_blocks_cached;		/* published, held by no sequence */
};

int rt_sched_create(struct rt_model *m, const struct rt_tokenizer *tok,
		    const struct rt_sched_opts *opts, struct rt_sched **out);
/** rt_sched_destroy - cancel everything (end events delivered), free */
void rt_sched_destroy(struct rt_sched *s);

/**
 * rt_sched_add - queue a request; returns its id (> 0), -EINVAL for an
 * empty prompt or bad sampling, -E2BIG when the prompt does not leave room
 * in the context for one generated token, -EBUSY when the waiting queue is
 * full. On success its events come from later rt_sched_step calls.
 */
int64_t rt_sched_add(struct rt_sched *s, const struct rt_sched_req *r);
/** rt_sched_cancel - end request @id now: its KV blocks go back at once
 *  (the end event is delivered here); -ENOENT when it is not known */
int rt_sched_cancel(struct rt_sched *s, int64_t id);
/** rt_sched_pending - requests running or waiting */
int rt_sched_pending(const struct rt_sched *s);
/**
 * rt_sched_step - admit waiting requests, run one forward pass, deliver
 * its tokens. Returns the tokens it ran (0: nothing to do), or -errno when
 * the pass failed (the requests in it ended with RT_SCHED_ERROR).
 */
int rt_sched_step(struct rt_sched *s);
void rt_sched_get_stats(const struct rt_sched *s, struct rt_sched_stats *st);
/** rt_sched_cached - prompt tokens request @id took from the prefix cache
 *  (0 while it waits); -ENOENT when it is not known. Callable from its
 *  token callback, unlike the other functions. */
int rt_sched_cached(const struct rt_sched *s, int64_t id);

#endif /* RT_SCHED_H */
