// SPDX-License-Identifier: MIT
/*
 * MoE expert prefetch: streamed under the smallest budget (an expert cache
 * of one batch's experts, far fewer entries than the model has experts, so
 * every token evicts), greedy ids and logits with prediction on are
 * bit-identical to those with it off and to the resident run; the counters
 * add up (every routed expert is a predicted hit or unpredicted, wasted
 * bytes never exceed prefetched ones); between passes only the next pass's
 * first streamed layer is predicted (at most n_expert_used experts, read
 * while the last layer and the head compute) and only their entries are
 * reserved, and a second generation on the same cache (stale predictions,
 * every entry taken again) gives the same output, so a prefetched-but-unused
 * expert never holds an entry.
 * Back-off, deterministic: with the prefetch queue held by a read that waits
 * on a pipe, no prediction's read ever starts before its routing; the
 * entries they took go back to the experts they had evicted (the cache hits
 * of a run without prediction), the first window of passes has nothing
 * useful and backs off, the passes after it predict without reading, and
 * the output is still the resident run's.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"
#include "rt_stream.h"
#include "rt_budget.h"
#include "stream/stream.h"
#include "tap.h"

#define N_GEN 16

static const int32_t prompt[] = { 1, 403, 407, 261, 378 };
#define N_PROMPT ((int)(sizeof(prompt) / sizeof(prompt[0])))

struct run {
	int32_t ids[N_GEN];
	float *logits;		/* [N_GEN][n_vocab] */
	int n_vocab;
};

static int greedy(struct rt_model *m, struct run *r)
{
	struct rt_session s;
	const float *lg;
	int ret;

	r->n_vocab = rt_model_hparams(m)->n_vocab;
	r->logits = malloc(sizeof(float) * N_GEN * r->n_vocab);
	if (!r->logits)
		return -ENOMEM;
	if ((ret = rt_session_init(&s, m, 0)) < 0)
		return ret;
	ret = rt_session_feed(&s, prompt, N_PROMPT, &lg);
	for (int i = 0; i < N_GEN && ret >= 0; i++) {
		memcpy(r->logits + (size_t)i * r->n_vocab, lg, sizeof(float) * r->n_vocab);
		r->ids[i] = rt_argmax(lg, r->n_vocab);
		if (i + 1 < N_GEN)
			ret = rt_session_feed(&s, &r->ids[i], 1, &lg);
	}
	rt_session_fini(&s);
	return ret < 0 ? ret : 0;
}

static bool same(const struct run *a, const struct run *b)
{
	return !memcmp(a->ids, b->ids, sizeof(a->ids)) &&
	       !memcmp(a->logits, b->logits, sizeof(float) * N_GEN * a->n_vocab);
}

/* the rest of a model's tests fail, saying why (never a skip) */
static void fail_rest(int n, const char *rel, const char *why)
{
	for (int i = 0; i < n; i++)
		ok(0, "%s: %s: %s", rel, why, rt_last_error());
}

static void check_model(const char *rel)
{
	const char *path = tap_path(rel);
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 64, .n_batch = 2 };
	struct rt_stream_stats on, off;
	struct rt_placement pl;
	struct rt_model *m;
	struct run ref = { 0 }, got_off = { 0 }, got_on = { 0 }, again = { 0 };
	uint64_t minb, routed;
	int n_layer = 0, n_expert = 0, n_used = 0;

	if (!ok(rt_model_load(path, &mo, &m) == 0 && greedy(m, &ref) == 0, "%s: resident run",
		rel)) {
		fail_rest(10, rel, "no resident reference");
		return;
	}
	n_layer = rt_model_hparams(m)->n_layer;
	n_expert = rt_model_hparams(m)->n_expert;
	n_used = rt_model_hparams(m)->n_expert_used;
	rt_model_free(m);
	minb = rt_test_min_budget(path, &mo);

	mo.mem_budget = minb;
	mo.moe_prefetch = RT_MOE_PREFETCH_OFF;
	if (rt_model_load(path, &mo, &m) == 0) {
		ok(greedy(m, &got_off) == 0 && same(&ref, &got_off),
		   "%s: prefetch off: ids and logits bit-identical to resident", rel);
		rt_stream_stats(m, &off, NULL);
		rt_model_free(m);
	} else {
		ok(0, "%s: load with prefetch off: %s", rel, rt_last_error());
		memset(&off, 0, sizeof(off));
	}
	ok(off.expert_predicted == 0 && off.expert_pregated == 0 &&
	   off.expert_prefetch_bytes == 0 && off.expert_misses > 0,
	   "%s: prefetch off: nothing predicted, %llu misses", rel,
	   (unsigned long long)off.expert_misses);

	mo.moe_prefetch = RT_MOE_PREFETCH_ON;
	if (!ok(rt_model_load(path, &mo, &m) == 0, "%s: load with prefetch under %llu KiB", rel,
		(unsigned long long)(minb >> 10))) {
		fail_rest(7, rel, "no streamed model");
		goto out;
	}
	rt_stream_stats(m, NULL, &pl);
	ok(greedy(m, &got_on) == 0 && same(&ref, &got_on),
	   "%s: prefetch on: ids and logits bit-identical to resident and to prefetch off", rel);
	rt_stream_stats(m, &on, NULL);
	routed = on.expert_hits + on.expert_misses;
	/* both predictors: pre-gated (layer 1 from layer 0), previous routing */
	ok(pl.n_expert_entries < n_layer * n_expert && on.expert_misses > 0 &&
	   on.expert_pregated > 0 && on.expert_pregated < on.expert_predicted &&
	   on.expert_prefetch_bytes > 0,
	   "%s: %d entries for %d experts: %llu predicted (%llu pre-gated), %llu KiB prefetched, "
	   "%llu misses", rel, pl.n_expert_entries, n_layer * n_expert,
	   (unsigned long long)on.expert_predicted, (unsigned long long)on.expert_pregated,
	   (unsigned long long)(on.expert_prefetch_bytes >> 10),
	   (unsigned long long)on.expert_misses);
	ok(on.expert_predict_hits + on.expert_predict_missed == routed &&
	   on.expert_predict_hits <= on.expert_predicted &&
	   on.expert_wasted_bytes <= on.expert_prefetch_bytes &&
	   on.expert_useful_bytes <= on.expert_prefetch_bytes &&
	   on.expert_prefetch_bytes < on.bytes_read,
	   "%s: counters add up: %llu routed = %llu predicted hits + %llu unpredicted; %llu of "
	   "%llu KiB prefetched wasted", rel, (unsigned long long)routed,
	   (unsigned long long)on.expert_predict_hits, (unsigned long long)on.expert_predict_missed,
	   (unsigned long long)(on.expert_wasted_bytes >> 10),
	   (unsigned long long)(on.expert_prefetch_bytes >> 10));
	ok(on.expert_pending <= n_used && on.expert_reserved <= on.expert_pending &&
	   on.expert_entries == pl.n_expert_entries,
	   "%s: idle: %d predictions pending (<= %d), %d of %d entries reserved", rel,
	   on.expert_pending, n_used, on.expert_reserved, on.expert_entries);
	/* the same cache again: stale predictions from the first run's end */
	ok(greedy(m, &again) == 0 && same(&ref, &again),
	   "%s: a second generation on the same cache is bit-identical", rel);
	rt_stream_stats(m, &on, NULL);
	ok(on.expert_pending <= n_used && on.expert_reserved <= on.expert_pending &&
	   on.expert_hits + on.expert_misses > routed,
	   "%s: idle again: %d pending, %d reserved", rel, on.expert_pending, on.expert_reserved);
	/* 2 x 17 passes close 4 windows of 8: one that lost at least what it
	 * gained backs off (and the passes after it read nothing), so with no
	 * back-off every window, and their sum, gained more than it lost */
	ok((on.expert_backoffs > 0 || on.expert_useful_bytes > on.expert_lost_bytes) &&
	   (on.expert_spec_off_passes == 0 || on.expert_backoffs > 0) &&
	   on.expert_spec_off_passes <= 2 * (N_GEN + 1),
	   "%s: back-off: %llu KiB read before the routing, %llu KiB re-read after evictions, "
	   "%llu back-offs, %llu of %d passes without reads, %llu entries given back", rel,
	   (unsigned long long)(on.expert_useful_bytes >> 10),
	   (unsigned long long)(on.expert_lost_bytes >> 10),
	   (unsigned long long)on.expert_backoffs, (unsigned long long)on.expert_spec_off_passes,
	   2 * (N_GEN + 1), (unsigned long long)on.expert_restored);
	rt_model_free(m);
out:
	free(ref.logits);
	free(got_off.logits);
	free(got_on.logits);
	free(again.logits);
}

/* hold @q: a read of an empty pipe in flight (started, so no cancel drops it) */
static int hold(struct rt_model *m, struct accel_queue *q, int fd, struct accel_pool *pool,
		struct accel_fence *f)
{
	for (uint64_t pt = 1; pt < 100; pt++) {
		struct accel_cmd c;

		accel_cmd_prep_read_file(&c, accel_tensor_make(pool, 0, ACCEL_DTYPE_I8, 4096, 1, 1, 1),
					 fd, 0);
		if (accel_queue_submit(q, &c, 1, NULL, 0, &(struct accel_fence_point){ f, pt }) < 0)
			return -EIO;
		usleep(2000);
		if (accel_queue_cancel(q) == 0)		/* it has started */
			return 0;
	}
	return -ETIMEDOUT;
}

static void blocked_reads(const char *rel)
{
	const char *path = tap_path(rel);
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 64, .n_batch = 2, .device = "emu" };
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts, .size = 4096);
	struct rt_model *m = NULL;
	struct accel_pool *pool = NULL;
	struct accel_fence *f = NULL;
	struct run ref = { 0 }, got = { 0 };
	struct rt_stream_stats st = { 0 };
	int pfd[2] = { -1, -1 }, held = -1;
	static char junk[4096];

	if (rt_model_load(path, &mo, &m) == 0)
		greedy(m, &ref);
	rt_model_free(m);
	m = NULL;
	mo.mem_budget = rt_test_min_budget(path, &mo);
	mo.moe_prefetch = RT_MOE_PREFETCH_ON;
	if (pipe(pfd) == 0 && rt_model_load(path, &mo, &m) == 0 &&
	    accel_pool_create(m->dev, &po, &pool) == 0 && accel_fence_create(m->dev, &f) == 0)
		held = hold(m, rt_streamer(m)->exp.pcopy, pfd[0], pool, f);
	ok(held == 0, "%s: the prefetch queue held by a read of an empty pipe", rel);
	ok(held == 0 && ref.logits && greedy(m, &got) == 0 && same(&ref, &got),
	   "%s: held: ids and logits bit-identical to resident", rel);
	if (m)
		rt_stream_stats(m, &st, NULL);
	ok(held == 0 && st.expert_predicted > 0 && st.expert_prefetch_bytes == 0 &&
	   st.expert_useful_bytes == 0 && st.expert_lost_bytes == 0 && st.expert_restored > 0 &&
	   st.expert_cancelled_bytes > 0,
	   "%s: held: %llu predicted, none read (%llu KiB dropped), %llu entries given back to "
	   "the experts they had evicted, none lost", rel,
	   (unsigned long long)st.expert_predicted,
	   (unsigned long long)(st.expert_cancelled_bytes >> 10),
	   (unsigned long long)st.expert_restored);
	/* the prompt in passes of n_batch, then N_GEN - 1 (18): a window of 8
	 * backs off for the next 16 */
	ok(held == 0 && st.expert_backoffs == 1 &&
	   st.expert_spec_off_passes == (N_PROMPT + 1) / 2 + N_GEN - 1 - 8,
	   "%s: held: the first window backs off, %llu back-offs, the %llu passes after it "
	   "without reads", rel, (unsigned long long)st.expert_backoffs,
	   (unsigned long long)st.expert_spec_off_passes);
	/* let the read land before the queue is destroyed */
	if (pfd[1] >= 0 && write(pfd[1], junk, sizeof(junk)) != (ssize_t)sizeof(junk))
		diag("cannot feed the pipe");
	if (m)
		accel_queue_wait_idle(rt_streamer(m)->exp.pcopy);
	/* ours before the device they belong to */
	accel_fence_destroy(f);
	accel_pool_destroy(pool);
	rt_model_free(m);
	if (pfd[0] >= 0) {
		close(pfd[0]);
		close(pfd[1]);
	}
	free(ref.logits);
	free(got.logits);
}

int main(void)
{
	struct rt_model_opts mo = { .threads = 1, .n_ctx = 64, .moe_prefetch = 7 };
	struct rt_model *m = NULL;

	/* 1 + 11 per model, 4 held */
	plan(1 + 11 * 4 + 4);
	ok(rt_model_load(tap_path("tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf"), &mo,
			 &m) == -EINVAL && !m && strstr(rt_last_error(), "prefetch"),
	   "an unknown prefetch mode is refused: %s", rt_last_error());
	check_model("tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf");
	check_model("tests/models/random/tiny-mixtral-random-4x2-f32.gguf");
	check_model("tests/models/random/tiny-qwen3moe-random-q8_0.gguf");
	check_model("tests/models/random/tiny-qwen3moe-random-f32.gguf");
	blocked_reads("tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf");
	return done_testing();
}
