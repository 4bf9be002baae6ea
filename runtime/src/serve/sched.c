// SPDX-License-Identifier: MIT
/*
 * The serving scheduler (rt_sched.h): a waiting queue, a slot (KV sequence)
 * per running request, and a step that packs one decode token of every
 * running sequence and then prompt chunks into one forward pass under the
 * token budget (SARATHI's chunked prefill). Blocks come from the paged KV
 * cache; prompts reuse published prefixes and publish their full blocks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "model/kvcache.h"
#include "model/model.h"
#include "rt_error.h"
#include "rt_sched.h"
#include "rt_tokenizer.h"
#include "serve/kvdisk.h"
#include "serve/prefix.h"
#include "serve/swap.h"

enum sreq_state { SREQ_WAITING, SREQ_PREFILL, SREQ_DECODE };

struct sreq {
	int64_t id;
	enum sreq_state state;
	int32_t *tokens;	/* the prompt, then each generated token once fed */
	int n_prompt, cap;
	int n_past;		/* positions in the KV cache */
	int n_pub;		/* full blocks published so far */
	int n_cached;		/* prompt positions from the prefix cache */
	int n_disk;		/* full blocks known to have a file */
	uint64_t *hash;		/* [max_blocks]: prefix keys of its blocks (prefix.h) */
	int n_hash;		/* how many are computed */
	struct rt_swap *swap;	/* preempted: its blocks' bytes, in host memory
				 * or in a file */
	int n_swap;		/* how many blocks */
	enum sreq_state resume;	/* the state to go on in */
	int take;		/* tokens of this step */
	int max_tokens, n_gen;
	int32_t next;		/* sampled, to feed at n_past (SREQ_DECODE) */
	int seq;		/* KV sequence while running, else -1 */
	struct rt_sampler *smp;
	rt_sched_token_fn fn;
	void *arg;
	struct sreq *wnext;	/* the waiting queue */
};

struct rt_sched {
	struct rt_model *m;
	const struct rt_tokenizer *tok;
	int max_seqs, budget, max_waiting, max_blocks;
	int64_t next_id;
	struct sreq **slot;		/* [n_seq]: the request running in each sequence */
	struct sreq **order;		/* [max_seqs]: running requests, oldest first */
	int n_running;
	struct sreq *whead, *wtail;	/* waiting, FIFO */
	int n_waiting;
	/* the batch being built */
	int32_t *btok, *bpos, *bseq, *bchunk;
	int8_t *bwant;
	struct sreq **brow;		/* [budget]: the request of each logits row */
	struct rt_sched_stats st;
	struct rt_kvdisk *disk;		/* the cache directory, or NULL */
	const char *dir;		/* its path */
	uint64_t host_swap_max;		/* bytes of swapped blocks in host memory (0: no limit) */
	uint64_t host_swap;		/* bytes there now */
	bool publish_writes;		/* the device cannot say what eviction
					 * takes: blocks go to disk when published */
	rt_sched_forward_fn forward;	/* NULL: rt_model_forward */
	void *forward_arg;
};

int rt_sched_create(struct rt_model *m, const struct rt_tokenizer *tok,
		    const struct rt_sched_opts *opts, struct rt_sched **out)
{
	struct rt_sched *s;
	int B;

	if (!m || !opts)
		return -EINVAL;
	if (opts->max_seqs < 0 || opts->max_seqs > m->n_seq || opts->token_budget < 0 ||
	    opts->token_budget > m->n_batch || opts->max_waiting < 0 || opts->max_kv_blocks < 0)
		return rt_set_error(-EINVAL, "scheduler: %d sequences (1..%d), budget %d (1..%d)",
				    opts->max_seqs, m->n_seq, opts->token_budget, m->n_batch);
	if (opts->forward && (opts->cache_dir || opts->max_kv_blocks))
		return rt_set_error(-EINVAL, "scheduler: another forward pass (a pipeline) "
				    "keeps its KV elsewhere: no cache directory, no block limit");
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->m = m;
	s->forward = opts->forward;
	s->forward_arg = opts->forward_arg;
	s->tok = tok;
	s->max_seqs = opts->max_seqs ? opts->max_seqs : m->n_seq;
	s->budget = opts->token_budget ? opts->token_budget : m->n_batch;
	/* every running sequence's decode token fits one step */
	if (s->max_seqs > s->budget)
		s->max_seqs = s->budget;
	/* and their logits rows */
	if (s->max_seqs > rt_model_max_logits(m))
		s->max_seqs = rt_model_max_logits(m);
	s->max_waiting = opts->max_waiting;
	s->max_blocks = opts->max_kv_blocks;
	s->dir = opts->cache_dir;
	s->host_swap_max = opts->host_swap_bytes;
	s->next_id = 1;
	B = s->budget;
	s->slot = calloc(m->n_seq, sizeof(*s->slot));
	s->order = calloc(s->max_seqs, sizeof(*s->order));
	s->btok = malloc(sizeof(int32_t) * B);
	s->bpos = malloc(sizeof(int32_t) * B);
	s->bseq = malloc(sizeof(int32_t) * B);
	s->bchunk = malloc(sizeof(int32_t) * B);
	s->bwant = malloc(B);
	s->brow = malloc(sizeof(*s->brow) * B);
	if (!s->slot || !s->order || !s->btok || !s->bpos || !s->bseq || !s->bchunk || !s->bwant || !s->brow) {
		rt_sched_destroy(s);
		return -ENOMEM;
	}
	if (opts->cache_dir) {
		int ret = rt_kvdisk_open(m, opts->cache_dir, &s->disk);

		if (ret < 0) {
			rt_sched_destroy(s);
			return ret;
		}
		/* blocks reach the disk when they leave memory, where the
		 * device says which ones an allocation evicts */
		s->publish_writes = rt_kvdisk_evicting(s->disk, 1) == -EOPNOTSUPP;
	}
	*out = s;
	return 0;
}

static void sreq_free(struct sreq *r)
{
	rt_swap_free(r->swap);
	free(r->hash);
	rt_sampler_free(r->smp);
	free(r->tokens);
	free(r);
}

/* the request leaves: its blocks go back (published ones stay cached) */
static void finish(struct rt_sched *s, struct sreq *r, enum rt_sched_finish why)
{
	if (r->seq >= 0) {
		int i = 0;

		rt_kvcache_clear(s->m->kv, r->seq);
		s->slot[r->seq] = NULL;
		while (i < s->n_running && s->order[i] != r)
			i++;
		if (i < s->n_running) {
			memmove(s->order + i, s->order + i + 1,
				sizeof(*s->order) * (s->n_running - i - 1));
			s->n_running--;
		}
	} else {
		struct sreq **pp = &s->whead, *prev = NULL;

		while (*pp && *pp != r) {
			prev = *pp;
			pp = &(*pp)->wnext;
		}
		if (*pp) {
			*pp = r->wnext;
			if (s->wtail == r)
				s->wtail = prev;
			s->n_waiting--;
			s->st.n_swapped -= r->swap != NULL;
			s->host_swap -= rt_swap_host_bytes(r->swap);
		}
	}
	if (why == RT_SCHED_CANCELLED)
		s->st.n_cancelled++;
	else
		s->st.n_finished++;
	r->fn(r->arg, -1, why);
	sreq_free(r);
}

void rt_sched_destroy(struct rt_sched *s)
{
	if (!s)
		return;
	while (s->n_running)
		finish(s, s->order[0], RT_SCHED_CANCELLED);
	while (s->whead)
		finish(s, s->whead, RT_SCHED_CANCELLED);
	/* a clean shutdown: what the pool still caches goes to its files */
	if (s->disk)
		rt_kvdisk_flush(s->disk);
	free(s->slot);
	free(s->order);
	free(s->btok);
	free(s->bpos);
	free(s->bseq);
	free(s->bchunk);
	free(s->bwant);
	free(s->brow);
	rt_kvdisk_close(s->disk);
	free(s);
}

int64_t rt_sched_add(struct rt_sched *s, const struct rt_sched_req *q)
{
	const int nv = s->m->hp.n_vocab, n_ctx = s->m->n_ctx;
	struct sreq *r;
	int ret;

	if (!q->fn || !q->prompt || q->n_prompt <= 0)
		return rt_set_error(-EINVAL, "empty prompt");
	if (q->n_prompt > n_ctx)
		return rt_set_error(-E2BIG, "the prompt (%d tokens) does not fit the context (%d)",
				    q->n_prompt, n_ctx);
	for (int i = 0; i < q->n_prompt; i++)
		if (q->prompt[i] < 0 || q->prompt[i] >= nv)
			return rt_set_error(-EINVAL, "token id %d out of range (vocab %d)",
					    q->prompt[i], nv);
	if (s->max_waiting && s->n_waiting >= s->max_waiting)
		return rt_set_error(-EBUSY, "the queue is full (%d waiting)", s->n_waiting);
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cap = n_ctx;
	r->tokens = malloc(sizeof(*r->tokens) * r->cap);
	r->hash = malloc(sizeof(*r->hash) * (size_t)s->m->kv->max_blocks);
	if (!r->tokens || !r->hash) {
		free(r->tokens);
		free(r->hash);
		free(r);
		return -ENOMEM;
	}
	ret = rt_sampler_create(&q->sp, nv, &r->smp);
	if (ret < 0) {
		free(r->tokens);
		free(r->hash);
		free(r);
		return rt_set_error(ret, "bad sampling parameters");
	}
	memcpy(r->tokens, q->prompt, sizeof(*r->tokens) * q->n_prompt);
	for (int i = 0; i < q->n_prompt; i++)
		rt_sampler_accept(r->smp, q->prompt[i]);
	r->n_prompt = q->n_prompt;
	r->max_tokens = q->max_tokens;
	r->fn = q->fn;
	r->arg = q->arg;
	r->seq = -1;
	r->state = SREQ_WAITING;
	r->id = s->next_id++;
	if (s->wtail)
		s->wtail->wnext = r;
	else
		s->whead = r;
	s->wtail = r;
	s->n_waiting++;
	s->st.n_requests++;
	s->st.n_prompt_tokens += (uint64_t)q->n_prompt;
	return r->id;
}

static struct sreq *find(const struct rt_sched *s, int64_t id)
{
	for (int i = 0; i < s->n_running; i++)
		if (s->order[i]->id == id)
			return s->order[i];
	for (struct sreq *r = s->whead; r; r = r->wnext)
		if (r->id == id)
			return r;
	return NULL;
}

int rt_sched_cancel(struct rt_sched *s, int64_t id)
{
	struct sreq *r = find(s, id);

	if (!r)
		return -ENOENT;
	finish(s, r, RT_SCHED_CANCELLED);
	return 0;
}

int rt_sched_pending(const struct rt_sched *s)
{
	return s->n_running + s->n_waiting;
}

/* blocks the running sequences hold */
static int held(const struct rt_sched *s)
{
	int n = 0;

	for (int i = 0; i < s->n_running; i++)
		n += s->m->kv->n_alloc[s->order[i]->seq];
	return n;
}

/* a preempted request back in its sequence: its blocks, bit for bit */
static int resume(struct rt_sched *s, struct sreq *r, int seq)
{
	int ret;

	uint64_t host = rt_swap_host_bytes(r->swap);

	if (s->disk && !s->publish_writes)
		rt_kvdisk_evicting(s->disk, r->n_swap);
	ret = rt_swap_in(s->m, seq, r->swap);

	if (ret < 0)
		return ret;
	r->swap = NULL;
	s->host_swap -= host;
	r->state = r->resume;
	r->n_pub = 0;		/* new block ids: published again */
	s->st.n_resumed++;
	s->st.n_swapped--;
	return 0;
}

/* the prefix keys of @r's first @n blocks (computed once each) */
static int keys(struct rt_sched *s, struct sreq *r, int n)
{
	if (n > s->m->kv->max_blocks)
		n = s->m->kv->max_blocks;
	if (n > r->n_hash) {
		rt_prefix_hashes(s->m, r->tokens, r->n_prompt, r->n_hash, n, r->hash);
		r->n_hash = n;
	}
	return n;
}

/* waiting requests into free sequences: a preempted one gets its blocks
 * back, a new one takes its cached prefix */
static void admit(struct rt_sched *s)
{
	struct rt_kvcache *kv = s->m->kv;

	while (s->whead && s->n_running < s->max_seqs) {
		struct sreq *r = s->whead;
		int seq = 0, got, nb;

		/* under a block budget, only what fits (the oldest go on first);
		 * alone, it goes in whatever it needs (grow says if it cannot) */
		if (s->max_blocks && s->n_running &&
		    held(s) + (r->swap ? r->n_swap : 0) + 1 > s->max_blocks)
			break;
		while (s->slot[seq])
			seq++;
		rt_kvcache_clear(kv, seq);
		if (r->swap && resume(s, r, seq) < 0)
			break;		/* no room yet: it stays first in line */
		s->whead = r->wnext;
		if (!s->whead)
			s->wtail = NULL;
		r->wnext = NULL;
		s->n_waiting--;
		r->seq = seq;
		s->slot[seq] = r;
		s->order[s->n_running++] = r;
		if (r->state != SREQ_WAITING)
			continue;	/* resumed */
		/*
		 * The longest cached prefix whose bits are the ones accel-run
		 * would compute (prefix.h), leaving one prompt token at least
		 * to run (its logits); then what the cache directory has.
		 */
		nb = s->forward ? 0 : keys(s, r, (r->n_prompt - 1) / (int)kv->block_tokens);
		got = nb ? rt_prefix_reuse(s->m, seq, r->hash, nb) : 0;
		if (got < 0)
			got = 0;	/* no reuse: computed again */
		r->n_pub = got;		/* those are in the index */
		if (s->disk) {
			int have = got;

			got = rt_kvdisk_load(s->disk, seq, r->hash, have, nb);
			s->st.n_disk_loaded += (uint64_t)(got - have);
		}
		got *= (int)kv->block_tokens;
		r->n_past = got;
		r->n_cached = got;
		if (got) {
			s->st.n_cached_tokens += (uint64_t)got;
			s->st.n_prefix_hits++;
		}
		r->state = SREQ_PREFILL;
	}
}

/* preempt @r: its blocks to host memory, its sequence free, first in line */
static int preempt(struct rt_sched *s, struct sreq *r)
{
	struct rt_kvcache *kv = s->m->kv;
	uint64_t bytes = (uint64_t)kv->n_alloc[r->seq] * kv->block_bytes;
	/* host memory while the swap space lasts, then the cache directory */
	bool file = s->dir && s->host_swap_max && s->host_swap + bytes > s->host_swap_max;
	int n = rt_swap_out(s->m, r->seq, file ? s->dir : NULL, &r->swap), i = 0;

	if (n < 0)
		return n;
	s->host_swap += rt_swap_host_bytes(r->swap);
	s->st.n_swapped_files += file && n > 0;
	r->n_swap = n;
	r->resume = r->state;
	r->state = SREQ_WAITING;
	r->take = 0;
	s->slot[r->seq] = NULL;
	r->seq = -1;
	while (s->order[i] != r)
		i++;
	memmove(s->order + i, s->order + i + 1, sizeof(*s->order) * (s->n_running - i - 1));
	s->n_running--;
	r->wnext = s->whead;
	s->whead = r;
	if (!s->wtail)
		s->wtail = r;
	s->n_waiting++;
	if (r->swap) {
		s->st.n_swapped++;
		s->st.n_preempted++;
	} else {
		r->state = SREQ_WAITING;	/* it held nothing: starts afresh */
	}
	return 0;
}

/*
 * Blocks for positions [0, n_pos) of @r: when the budget or the pool says
 * no, the newest running sequence is preempted, until it fits. Returns 0,
 * -EAGAIN when @r itself was preempted, or -errno.
 */
static int grow(struct rt_sched *s, struct sreq *r, int n_pos)
{
	struct rt_kvcache *kv = s->m->kv;

	for (;;) {
		int need = (n_pos + (int)kv->block_tokens - 1) / (int)kv->block_tokens;
		int extra = need - kv->n_alloc[r->seq], ret = 0;
		struct sreq *victim;

		if (extra <= 0)
			return 0;
		if (!s->max_blocks || held(s) + extra <= s->max_blocks) {
			/* the blocks this evicts from the pool go to disk first
			 * (a failed write only loses the file) */
			if (s->disk && !s->publish_writes)
				rt_kvdisk_evicting(s->disk, extra);
			ret = rt_kvcache_reserve(kv, r->seq, n_pos);
			if (ret != -ENOMEM)
				return ret;
		}
		/* the other stages' blocks cannot be swapped from here */
		if (s->forward)
			return rt_set_error(-ENOSPC, "KV blocks: the pool has no room for %d more "
					    "(a pipeline cannot preempt)", extra);
		victim = s->order[s->n_running - 1];
		if (victim == r && s->n_running == 1)
			return rt_set_error(-ENOSPC, "KV blocks: one sequence needs %d, %d allowed",
					    need, s->max_blocks);
		ret = preempt(s, victim);
		if (ret < 0)
			return ret;
		if (victim == r)
			return -EAGAIN;
	}
}

/* the prompt tokens of @r this step may take out of @avail: any cut gives
 * the same bits (each row takes accel-run's arithmetic, rt_batch.chunk) */
static int chunk_len(const struct sreq *r, int avail)
{
	int left = r->n_prompt - r->n_past;

	return left < avail ? left : avail;
}

static int add_row(struct rt_sched *s, int n, struct sreq *r, int32_t tok, int pos, bool want)
{
	s->bchunk[n] = rt_prefix_chunk(s->m, r->n_prompt, pos);
	s->btok[n] = tok;
	s->bpos[n] = pos;
	s->bseq[n] = r->seq;
	s->bwant[n] = want;
	return n + 1;
}

/* the prompt is done or a token was fed: publish newly full blocks */
static void publish(struct rt_sched *s, struct sreq *r)
{
	int full;

	if (s->forward)
		return;		/* the other stages' blocks are not in the index */
	full = keys(s, r, r->n_past / (int)s->m->kv->block_tokens);

	if (full > r->n_pub && rt_prefix_publish(s->m, r->seq, r->hash, full) == 0)
		r->n_pub = full;
	/* a device that cannot say what eviction takes: a file for each full
	 * block at once (a failed write only loses the file) */
	if (s->disk && s->publish_writes && full > r->n_disk) {
		rt_kvdisk_store(s->disk, r->seq, r->hash, r->n_disk, full);
		r->n_disk = full;
	}
}

/* a sampled token of @r: deliver it, then decide whether @r goes on */
static void deliver(struct rt_sched *s, struct sreq *r, const float *logits)
{
	int32_t id = rt_sampler_sample(r->smp, logits);

	rt_sampler_accept(r->smp, id);
	r->n_gen++;
	s->st.n_gen_tokens++;
	if (s->tok && rt_tokenizer_is_eog(s->tok, id)) {
		finish(s, r, RT_SCHED_STOP);
		return;
	}
	if (r->fn(r->arg, id, RT_SCHED_RUNNING) < 0) {
		finish(s, r, RT_SCHED_CANCELLED);
		return;
	}
	/* as accel-run: the token after this one needs room in the context */
	if ((r->max_tokens >= 0 && r->n_gen >= r->max_tokens) || r->n_past + 1 >= s->m->n_ctx) {
		finish(s, r, RT_SCHED_LENGTH);
		return;
	}
	r->next = id;
	r->state = SREQ_DECODE;
}

int rt_sched_step(struct rt_sched *s)
{
	const int nv = s->m->hp.n_vocab;
	struct sreq *run[s->max_seqs > 0 ? s->max_seqs : 1];
	int n = 0, n_rows = 0, n_run, ret;
	const float *logits;
	struct rt_batch b;

	admit(s);
	/* requests that asked for nothing: their prompt is not even run */
	for (int i = 0; i < s->n_running;) {
		struct sreq *r = s->order[i];

		if (r->max_tokens == 0) {
			finish(s, r, RT_SCHED_LENGTH);
			continue;
		}
		i++;
	}
	/*
	 * What each sequence runs this step, and its blocks: decode tokens first
	 * (a running sequence never waits for a prompt), then prompt chunks,
	 * oldest first, in what is left of the budget. Growing may preempt the
	 * newest sequences (never one already given its blocks: those are
	 * older), so rows are added only once every sequence has its blocks.
	 */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < s->n_running; i++) {
			struct sreq *r = s->order[i];
			int want;

			if (r->state != (pass ? SREQ_PREFILL : SREQ_DECODE))
				continue;
			r->take = 0;
			want = pass ? chunk_len(r, s->budget - n) : 1;
			if (want <= 0)
				continue;
			ret = grow(s, r, r->n_past + want);
			if (ret == -EAGAIN) {
				i--;	/* @r left the running list */
				continue;
			}
			if (ret < 0) {
				finish(s, r, RT_SCHED_ERROR);
				i--;
				continue;
			}
			r->take = want;
			n += want;
		}
	}
	n = 0;
	n_run = s->n_running;
	memcpy(run, s->order, sizeof(*run) * n_run);
	for (int i = 0; i < n_run; i++) {
		struct sreq *r = run[i];

		if (r->state != SREQ_DECODE || !r->take)
			continue;
		s->brow[n_rows++] = r;
		n = add_row(s, n, r, r->next, r->n_past, true);
	}
	for (int i = 0; i < n_run; i++) {
		struct sreq *r = run[i];

		if (r->state != SREQ_PREFILL || !r->take)
			continue;
		for (int j = 0; j < r->take; j++) {
			bool last = r->n_past + j == r->n_prompt - 1;

			n = add_row(s, n, r, r->tokens[r->n_past + j], r->n_past + j, last);
			if (last)
				s->brow[n_rows++] = r;
		}
	}
	if (!n)
		return 0;
	b = (struct rt_batch){ .n = n, .tokens = s->btok, .pos = s->bpos, .seq = s->bseq,
			       .logits = s->bwant, .chunk = s->bchunk };
	ret = s->forward ? s->forward(s->forward_arg, &b, &logits)
			 : rt_model_forward(s->m, &b, &logits);
	if (ret < 0) {
		for (int i = 0; i < n_run; i++)
			if (run[i] && s->slot[run[i]->seq] == run[i])
				finish(s, run[i], RT_SCHED_ERROR);
		return ret;
	}
	s->st.n_steps++;
	s->st.n_step_tokens += (uint64_t)n;
	/* the positions just computed, then the tokens sampled from their rows */
	for (int i = 0, j = 0; i < n; i = j) {
		struct sreq *r = s->slot[s->bseq[i]];

		for (j = i; j < n && s->bseq[j] == s->bseq[i]; j++)
			;
		if (r->state == SREQ_DECODE)
			r->tokens[r->n_past] = r->next;
		r->n_past += j - i;
		publish(s, r);
	}
	for (int i = 0; i < n_rows; i++)
		deliver(s, s->brow[i], logits + (size_t)nv * i);
	return n;
}

void rt_sched_get_stats(const struct rt_sched *s, struct rt_sched_stats *st)
{
	struct accel_pool_info pi;

	*st = s->st;
	st->n_disk_stored = rt_kvdisk_stored(s->disk);
	st->n_running = s->n_running;
	st->n_waiting = s->n_waiting;
	if (accel_pool_info(s->m->kv->pool, &pi) == 0) {
		st->kv_blocks_total = (int)pi.num_blocks;
		st->kv_blocks_used = (int)pi.blocks_used;
		st->kv_blocks_cached = (int)pi.blocks_cached;
	}
}

int rt_sched_cached(const struct rt_sched *s, int64_t id)
{
	const struct sreq *r = find(s, id);

	return r ? r->n_cached : -ENOENT;
}
