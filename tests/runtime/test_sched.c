// SPDX-License-Identifier: MIT
/*
 * The serving scheduler (rt_sched) and the batch invariance it rests on:
 * - a token's logits are bit-identical whatever else shares its forward
 *   pass (decode rows of other sequences, another sequence's prompt chunk),
 *   on every ISA's kernels, for F32, K-quant, Q8_0 MoE and K-quant MoE
 *   models (whose experts' order depends on the rows routed to them), the
 *   last also streamed (its MoE layers by parts) on the best ISA;
 * - requests joining and leaving between steps, prompts cut in chunks by a
 *   small token budget, give exactly the greedy (and seeded sampled) ids of
 *   each prompt run alone through rt_session, as accel-run runs it;
 * - a repeated prompt reuses its cached prefix with the same output;
 * - through a forward hook (two pipeline stages in-process, the second
 *   following the first's KV by the rows alone) every request gives the
 *   whole model's ids; no prefix is reused, no cache directory accepted;
 * - cancellation gives the KV blocks back at once; limits are refused;
 * - the disk tier: a new process (a fresh model and scheduler) on the same
 *   directory takes the blocks from their files with the same output; a
 *   corrupt or truncated file is ignored (and removed), another model's
 *   files are never used;
 * - memory pressure: sequences preempted under a small block budget are
 *   swapped out and back with exactly the output of their runs alone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "accel.h"
#include "kn.h"
#include "model/kvcache.h"
#include "model/model.h"
#include "rt_budget.h"
#include "rt_error.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_sched.h"
#include "rt_session.h"
#include "rt_stream.h"
#include "serve/prefix.h"
#include "tap.h"

#define N_GEN 12
#define MAXP 48

/* ---- part 1: logits rows against the same rows computed alone */

static const int32_t pa[] = { 1, 403, 407, 261, 378, 300, 301 };
static const int32_t pb[] = { 1, 291, 376, 400, 385, 328, 432, 317, 263 };
#define NC 30	/* C's prompt: a K-quant MoE routes some experts 8+ of its rows */

/* prefill @p into @seq; returns the last row's logits (copied) */
static float *prefill(struct rt_model *m, int seq, const int32_t *p, int n)
{
	const int nv = rt_model_hparams(m)->n_vocab;
	struct rt_session s;
	const float *lg;
	float *out = malloc(sizeof(float) * nv);

	rt_session_init(&s, m, seq);
	if (rt_session_feed(&s, p, n, &lg) < 0) {
		free(out);
		return NULL;
	}
	memcpy(out, lg, sizeof(float) * nv);
	/* keep the blocks: the session's memory goes, the cache stays */
	free(s.hist);
	return out;
}

static int forward(struct rt_model *m, int n, const int32_t *tok, const int32_t *pos,
		   const int32_t *seq, const int8_t *want, const float **lg)
{
	struct rt_batch b = { .n = n, .tokens = tok, .pos = pos, .seq = seq, .logits = want };

	for (int i = 0; i < n; i++)
		if (rt_kvcache_reserve(m->kv, seq[i], pos[i] + 1) < 0)
			return -ENOSPC;
	return rt_model_forward(m, &b, lg);
}

/* @streamed: under the smallest budget it loads with (MoE layers by parts) */
static void invariance(const char *model, bool streamed, const char *isa_name, enum kn_isa isa)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 64, .n_batch = 32, .n_seq = 3 };
	const int na = sizeof(pa) / sizeof(pa[0]), nb = sizeof(pb) / sizeof(pb[0]);
	struct rt_model *m;
	float *ref_dec, *ref_pb, *ref_dec_b, *ref_pc, *tmp;
	struct rt_stream_stats st;
	struct rt_placement pl;
	int32_t pc[NC];
	const float *lg;
	size_t row;
	int ret;

	if (kn_isa_set(isa) < 0) {
		skip(5, "no %s on this cpu", isa_name);
		return;
	}
	if (streamed)
		mo.mem_budget = rt_test_min_budget(tap_path(model), &mo);
	if (!ok(rt_model_load(tap_path(model), &mo, &m) == 0 && (!streamed || mo.mem_budget),
		"%s [%s]: load%s", model, isa_name, streamed ? ", streamed" : "")) {
		diag("%s", rt_last_error());
		skip(4, "no model");
		return;
	}
	pc[0] = 1;
	for (int i = 1; i < NC; i++)
		pc[i] = 260 + (37 * i) % 211;
	row = sizeof(float) * rt_model_hparams(m)->n_vocab;
	/* alone: A's prompt then one decode token; B's prompt; B's decode token */
	tmp = prefill(m, 0, pa, na);
	free(tmp);
	ref_dec = malloc(row);
	{
		int32_t t = 5, p = na, s = 0;
		int8_t w = 1;

		ret = forward(m, 1, &t, &p, &s, &w, &lg);
		memcpy(ref_dec, lg, row);
	}
	ref_pb = prefill(m, 1, pb, nb);
	ref_dec_b = malloc(row);
	{
		int32_t t = 7, p = nb, s = 1;
		int8_t w = 1;

		ret |= forward(m, 1, &t, &p, &s, &w, &lg);
		memcpy(ref_dec_b, lg, row);
	}
	ok(ret >= 0 && ref_pb, "%s [%s]: alone", model, isa_name);
	/* A's decode token in the pass of B's whole prompt (and a third one's) */
	rt_kvcache_clear(m->kv, 1);
	{
		int32_t tok[1 + 9 + 2], pos[12], seq[12];
		int8_t want[12] = { 0 };
		int n = 0;

		tok[n] = 5, pos[n] = na, seq[n] = 0, want[n++] = 1;
		for (int i = 0; i < nb; i++)
			tok[n] = pb[i], pos[n] = i, seq[n] = 1, want[n++] = i == nb - 1;
		tok[n] = 1, pos[n] = 0, seq[n] = 2, want[n++] = 0;
		tok[n] = 291, pos[n] = 1, seq[n] = 2, want[n++] = 1;
		rt_kvcache_clear(m->kv, 2);
		ret = forward(m, n, tok, pos, seq, want, &lg);
		ok(ret == 3 && !memcmp(lg, ref_dec, row) && !memcmp(lg + row / 4, ref_pb, row),
		   "%s [%s]: a decode row beside two prompt chunks: both rows bit-identical to alone",
		   model, isa_name);
	}
	/* A's and B's decode tokens together (the state as after their runs alone) */
	{
		int32_t tok[2] = { 5, 7 }, pos[2] = { na, nb }, seq[2] = { 0, 1 };
		int8_t want[2] = { 1, 1 };

		ret = forward(m, 2, tok, pos, seq, want, &lg);
		ok(ret == 2 && !memcmp(lg, ref_dec, row) && !memcmp(lg + row / 4, ref_dec_b, row),
		   "%s [%s]: two decode rows in one pass: bit-identical to each alone", model,
		   isa_name);
	}
	/* A's decode token in the pass of C's 30-token prompt: in the K-quant
	 * MoE, an expert A's token routes to in layer 0 gets 8 or more rows of
	 * the pass (Q5_K: llama.cpp's tiled order), one alone (vec_dot) */
	rt_kvcache_clear(m->kv, 2);
	ref_pc = prefill(m, 2, pc, NC);
	rt_kvcache_clear(m->kv, 2);
	{
		int32_t tok[1 + NC], pos[1 + NC], seq[1 + NC];
		int8_t want[1 + NC] = { 0 };
		int n = 0;

		tok[n] = 5, pos[n] = na, seq[n] = 0, want[n++] = 1;
		for (int i = 0; i < NC; i++)
			tok[n] = pc[i], pos[n] = i, seq[n] = 2, want[n++] = i == NC - 1;
		ret = forward(m, n, tok, pos, seq, want, &lg);
		/* streamed: the MoE layers ran by parts */
		if (streamed && (rt_stream_stats(m, &st, &pl) < 0 || !st.expert_parts))
			ret = -ENOENT;
		if (!ok(ret == 2 && ref_pc && !memcmp(lg, ref_dec, row) &&
			!memcmp(lg + row / 4, ref_pc, row),
			"%s [%s]: a decode row beside a %d-token prompt: both rows bit-identical to "
			"alone%s", model, isa_name, NC, streamed ? " (MOE_FFN by parts)" : "") &&
		    ret == 2 && ref_pc)
			diag("decode row %s, prompt row %s", memcmp(lg, ref_dec, row) ? "differs" : "same",
			     memcmp(lg + row / 4, ref_pc, row) ? "differs" : "same");
	}
	free(ref_dec);
	free(ref_pb);
	free(ref_dec_b);
	free(ref_pc);
	rt_model_free(m);
}

/* ---- part 2: the scheduler against rt_session */

struct out {
	int32_t ids[N_GEN + 1];
	int n;
	enum rt_sched_finish why;
	int cancel_after;	/* > 0: ask to cancel after this many tokens */
};

static int on_token(void *arg, int32_t id, enum rt_sched_finish why)
{
	struct out *o = arg;

	if (id < 0) {
		o->why = why;
		return 0;
	}
	if (o->n <= N_GEN)
		o->ids[o->n++] = id;
	return o->cancel_after && o->n >= o->cancel_after ? -ECANCELED : 0;
}

/* what accel-run does with one prompt: feed it, sample, feed, ... */
static int alone(struct rt_model *m, const int32_t *p, int n, const struct rt_sampler_params *sp,
		 int32_t *out)
{
	struct rt_sampler *smp;
	struct rt_session s;
	const float *lg;
	int ret, k = 0;

	rt_sampler_create(sp, rt_model_hparams(m)->n_vocab, &smp);
	for (int i = 0; i < n; i++)
		rt_sampler_accept(smp, p[i]);
	rt_session_init(&s, m, 0);
	ret = rt_session_feed(&s, p, n, &lg);
	while (ret >= 0 && k < N_GEN) {
		out[k] = rt_sampler_sample(smp, lg);
		rt_sampler_accept(smp, out[k]);
		if (++k < N_GEN)
			ret = rt_session_feed(&s, &out[k - 1], 1, &lg);
	}
	rt_session_fini(&s);
	rt_sampler_free(smp);
	return k;
}

static int run_all(struct rt_sched *s)
{
	int ret = 0, steps = 0;

	while (rt_sched_pending(s) && ret >= 0 && steps++ < 10000)
		ret = rt_sched_step(s);
	return ret < 0 ? ret : steps;
}

#define N_REQ 7

static void scheduler(void)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 128, .n_batch = 16, .n_seq = 4 };
	struct rt_sched_opts so = { .max_seqs = 4, .token_budget = 16, .max_waiting = 8 };
	static int32_t prompts[N_REQ][MAXP];
	static const int lens[N_REQ] = { 2, 40, 7, 23, 5, 34, 12 };
	struct rt_sched_req q = { 0 };
	struct out outs[N_REQ], o2, oc;
	struct rt_sched_stats st;
	struct rt_sched *s;
	struct rt_model *m;
	int32_t ref[N_GEN];
	int ret, same = 0, blocks_idle;

	if (!ok(rt_model_load(tap_path("tests/models/stories260K.gguf"), &mo, &m) == 0, "load")) {
		diag("%s", rt_last_error());
		return;
	}
	for (int i = 0; i < N_REQ; i++) {
		prompts[i][0] = 1;
		for (int j = 1; j < lens[i]; j++)
			prompts[i][j] = 3 + (i * 37 + j * 11) % 500;
	}
	ok(rt_sched_create(m, NULL, &so, &s) == 0, "scheduler created");
	rt_sched_get_stats(s, &st);
	blocks_idle = st.kv_blocks_used;
	memset(outs, 0, sizeof(outs));
	rt_sampler_defaults(&q.sp);
	q.fn = on_token;
	q.max_tokens = N_GEN;
	/* three now, the rest while those run: joins between steps */
	for (int i = 0; i < N_REQ; i++) {
		q.sp.temp = i == 4 ? 0.8f : 0.0f;	/* one seeded sampled request */
		q.sp.seed = 1234;
		q.prompt = prompts[i];
		q.n_prompt = lens[i];
		q.arg = &outs[i];
		ret = (int)rt_sched_add(s, &q);
		if (ret <= 0)
			diag("add %d: %d %s", i, ret, rt_last_error());
		if (i == 2)
			for (int k = 0; k < 3; k++)
				rt_sched_step(s);
	}
	ret = run_all(s);
	ok(ret > 0, "all requests ran: %d steps", ret);
	for (int i = 0; i < N_REQ; i++) {
		struct rt_sampler_params sp;

		rt_sampler_defaults(&sp);
		sp.temp = i == 4 ? 0.8f : 0.0f;
		sp.seed = 1234;
		alone(m, prompts[i], lens[i], &sp, ref);
		same += outs[i].n == N_GEN && outs[i].why == RT_SCHED_LENGTH &&
			!memcmp(outs[i].ids, ref, sizeof(ref));
		if (outs[i].n != N_GEN || memcmp(outs[i].ids, ref, sizeof(ref)))
			diag("request %d (%d prompt tokens): %d tokens, finish %d", i, lens[i],
			     outs[i].n, outs[i].why);
	}
	ok(same == N_REQ, "%d of %d requests (greedy and seeded) identical to their runs alone",
	   same, N_REQ);
	rt_sched_get_stats(s, &st);
	ok(st.n_requests == N_REQ && st.n_finished == N_REQ && st.n_gen_tokens == N_REQ * N_GEN,
	   "counters: %llu requests, %llu finished, %llu tokens",
	   (unsigned long long)st.n_requests, (unsigned long long)st.n_finished,
	   (unsigned long long)st.n_gen_tokens);
	ok(st.n_step_tokens <= st.n_steps * 16, "no step over the budget: %llu tokens in %llu steps",
	   (unsigned long long)st.n_step_tokens, (unsigned long long)st.n_steps);
	ok(st.kv_blocks_used == blocks_idle, "KV blocks back to idle (%d used)", st.kv_blocks_used);

	/* the 40-token prompt again: its cached blocks skip prefill, same output */
	memset(&o2, 0, sizeof(o2));
	q.sp.temp = 0;
	q.prompt = prompts[1];
	q.n_prompt = lens[1];
	q.arg = &o2;
	rt_sched_add(s, &q);
	run_all(s);
	rt_sched_get_stats(s, &st);
	ok(st.n_cached_tokens >= 32 && o2.n == N_GEN && !memcmp(o2.ids, outs[1].ids, sizeof(ref)),
	   "a repeated prompt: %llu cached tokens, the same output",
	   (unsigned long long)st.n_cached_tokens);

	/* cancelled by its callback and by rt_sched_cancel: blocks back at once */
	memset(&oc, 0, sizeof(oc));
	oc.cancel_after = 2;
	q.arg = &oc;
	q.prompt = prompts[3];
	q.n_prompt = lens[3];
	rt_sched_add(s, &q);
	run_all(s);
	ok(oc.n == 2 && oc.why == RT_SCHED_CANCELLED, "callback cancel after 2 tokens (%d, %d)",
	   oc.n, oc.why);
	memset(&oc, 0, sizeof(oc));
	{
		int64_t id = rt_sched_add(s, &q);

		rt_sched_step(s);
		rt_sched_get_stats(s, &st);
		ret = st.kv_blocks_used;
		ok(rt_sched_cancel(s, id) == 0 && oc.why == RT_SCHED_CANCELLED &&
		   rt_sched_cancel(s, id) == -ENOENT, "rt_sched_cancel ends it once");
	}
	rt_sched_get_stats(s, &st);
	ok(ret > blocks_idle && st.kv_blocks_used == blocks_idle && st.n_running == 0,
	   "its %d blocks returned at once", ret - blocks_idle);

	/* limits */
	{
		static int32_t big[129];

		for (int i = 0; i < 129; i++)
			big[i] = 1;
		q.prompt = big;
		q.n_prompt = 129;
		ok(rt_sched_add(s, &q) == -E2BIG, "a prompt over the context: -E2BIG");
		q.n_prompt = 4;
		for (int i = 0; i < 8; i++)
			rt_sched_add(s, &q);
		ok(rt_sched_add(s, &q) == -EBUSY, "a ninth waiting request: -EBUSY");
		big[1] = 100000;
		rt_sched_destroy(s);
		ok(rt_sched_create(m, NULL, &so, &s) == 0, "created again");
		ok(rt_sched_add(s, &q) == -EINVAL, "a token id outside the vocabulary: -EINVAL");
	}
	rt_sched_destroy(s);
	rt_model_free(m);
}

/* ---- part 2b: the forward hook (a pipeline's stages, here in-process) */

/* two stages as accel-serve's ranks run them: the second follows the
 * first's KV by the rows alone (a row at position 0 starts its sequence) */
struct stages {
	struct rt_model *st[2];
	int calls;
};

static int two_stages(void *arg, const struct rt_batch *b, const float **out)
{
	struct stages *sg = arg;
	const float *x;
	int ret;

	sg->calls++;
	ret = rt_model_forward_stage(sg->st[0], b, NULL, &x);
	if (ret < 0)
		return ret;
	for (int i = 0; i < b->n; i++)
		if (b->pos[i] == 0)
			rt_model_kv_clear(sg->st[1], b->seq[i]);
	for (int i = 0; i < b->n; i++)
		if ((ret = rt_model_kv_reserve(sg->st[1], b->seq[i], b->pos[i] + 1)) < 0)
			return ret;
	return rt_model_forward_stage(sg->st[1], b, x, out);
}

static void forward_hook(void)
{
	const char *path = tap_path("tests/models/stories260K.gguf");
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 128, .n_batch = 16, .n_seq = 4 };
	struct stages sg = { { NULL, NULL }, 0 };
	struct rt_sched_opts so = { .max_seqs = 4, .token_budget = 16, .forward = two_stages,
				    .forward_arg = &sg };
	static int32_t prompts[N_REQ][MAXP];
	static const int lens[N_REQ] = { 2, 40, 7, 23, 5, 34, 12 };
	struct rt_sched_req q = { 0 };
	struct out outs[N_REQ], o2;
	struct rt_sched_stats st;
	struct rt_sched *s = NULL;
	struct rt_model *whole;
	int32_t ref[N_GEN];
	int first[3], same = 0, ret = rt_model_split(path, 2, NULL, first);

	for (int k = 0; k < 2 && ret == 0; k++) {
		struct rt_model_opts so_ = mo;

		so_.layer_first = first[k];
		so_.layer_end = first[k + 1];
		ret = rt_model_load(path, &so_, &sg.st[k]);
	}
	if (ret == 0)
		ret = rt_model_load(path, &mo, &whole);
	if (!ok(ret == 0, "two stages (layers 0..%d, %d..%d) and the whole model loaded",
		first[1] - 1, first[1], first[2] - 1)) {
		diag("%s", rt_last_error());
		skip(3, "no model");
		rt_model_free(sg.st[0]);
		rt_model_free(sg.st[1]);
		return;
	}
	so.cache_dir = "/tmp";
	ret = rt_sched_create(sg.st[0], NULL, &so, &s);
	so.cache_dir = NULL;
	ok(ret == -EINVAL && rt_sched_create(sg.st[0], NULL, &so, &s) == 0,
	   "a cache directory with a forward hook refused (%d); without, created", ret);
	for (int i = 0; i < N_REQ; i++) {
		prompts[i][0] = 1;
		for (int j = 1; j < lens[i]; j++)
			prompts[i][j] = 3 + (i * 41 + j * 13) % 500;
	}
	memset(outs, 0, sizeof(outs));
	rt_sampler_defaults(&q.sp);
	q.fn = on_token;
	q.max_tokens = N_GEN;
	for (int i = 0; i < N_REQ; i++) {
		q.prompt = prompts[i];
		q.n_prompt = lens[i];
		q.arg = &outs[i];
		rt_sched_add(s, &q);
		if (i == 2)
			for (int k = 0; k < 3; k++)
				rt_sched_step(s);
	}
	run_all(s);
	/* each request a second time, in the sequences the first ones used */
	memset(&o2, 0, sizeof(o2));
	q.prompt = prompts[1];
	q.n_prompt = lens[1];
	q.arg = &o2;
	rt_sched_add(s, &q);
	run_all(s);
	for (int i = 0; i < N_REQ; i++) {
		alone(whole, prompts[i], lens[i], &q.sp, ref);
		same += outs[i].n == N_GEN && !memcmp(outs[i].ids, ref, sizeof(ref));
	}
	rt_sched_get_stats(s, &st);
	ok(same == N_REQ && st.n_steps == (uint64_t)sg.calls,
	   "through two stages: %d of %d requests identical to the whole model's runs alone "
	   "(%d steps, each through the hook)", same, N_REQ, sg.calls);
	ok(st.n_cached_tokens == 0 && o2.n == N_GEN && !memcmp(o2.ids, outs[1].ids, sizeof(ref)),
	   "a repeated prompt: nothing reused from a prefix cache (%llu tokens), the same output",
	   (unsigned long long)st.n_cached_tokens);
	rt_sched_destroy(s);
	rt_model_free(whole);
	rt_model_free(sg.st[0]);
	rt_model_free(sg.st[1]);
}

/* ---- part 3: the cache directory across "restarts" */

/* the file of block @b of @p in @dir (found by its hash suffix) */
static int block_file(const char *dir, const int32_t *p, int b, char *path, size_t len)
{
	uint64_t h = 0;
	char suffix[40];
	struct dirent *de;
	DIR *d = opendir(dir);
	int found = -ENOENT;

	/* the scheduler's key (serve/prefix.h), computed here on its own: the
	 * block's tokens, then its positions' arithmetic classes; a 40-token
	 * prompt at n_batch 16 runs in chunks of 16, 16 and 8: class 2 */
	for (int i = 0; i <= b; i++) {
		static const int32_t cls[16] = { 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2 };

		h = accel_kv_hash(accel_kv_hash(h, p + i * 16, 16), cls, 16);
	}
	snprintf(suffix, sizeof(suffix), "-%016llx.kv", (unsigned long long)h);
	while (d && (de = readdir(d)))
		if (strlen(de->d_name) > strlen(suffix) &&
		    !strcmp(de->d_name + strlen(de->d_name) - strlen(suffix), suffix)) {
			snprintf(path, len, "%s/%s", dir, de->d_name);
			found = 0;
		}
	if (d)
		closedir(d);
	return found;
}

/* the block files in @dir */
static int count_files(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	while (d && (de = readdir(d)))
		n += strlen(de->d_name) > 3 && !strcmp(de->d_name + strlen(de->d_name) - 3, ".kv");
	if (d)
		closedir(d);
	return n;
}

/* one "process": load @model, run @p with the cache directory @dir */
static int run_disk(const char *model, const char *dir, const int32_t *p, int n,
		    struct out *o, struct rt_sched_stats *st)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 128, .n_batch = 16, .n_seq = 2 };
	struct rt_sched_opts so = { .cache_dir = dir };
	struct rt_sched_req q = { .prompt = p, .n_prompt = n, .max_tokens = N_GEN,
				  .fn = on_token, .arg = o };
	struct rt_sched *s;
	struct rt_model *m;
	int ret;

	memset(o, 0, sizeof(*o));
	ret = rt_model_load(tap_path(model), &mo, &m);
	if (ret < 0)
		return ret;
	ret = rt_sched_create(m, NULL, &so, &s);
	if (ret == 0) {
		rt_sampler_defaults(&q.sp);
		q.sp.temp = 0;
		ret = (int)rt_sched_add(s, &q);
		if (ret > 0)
			ret = run_all(s);
		rt_sched_get_stats(s, st);
		rt_sched_destroy(s);
	}
	rt_model_free(m);
	return ret < 0 ? ret : 0;
}

/*
 * One process, a pool of 21 blocks (2 sequences of 8, and 5 more), eight
 * 40-token prompts one after the other: each leaves 3 published blocks
 * cached, so from the seventh on an allocation evicts the oldest. Those, and
 * only those, reach the directory; the first prompt again takes its evicted
 * blocks back from their files, with the same output; the rest are written
 * at the clean shutdown.
 */
static void evictions(const char *parent)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 128, .n_batch = 16, .n_seq = 2 };
	static int32_t p[8][40];
	char dir[4200];
	struct rt_sched_req q = { .n_prompt = 40, .max_tokens = N_GEN, .fn = on_token };
	struct rt_sched_opts so = { .cache_dir = dir };
	struct rt_sched_stats st5, st8, st;
	struct out o[8], again;
	struct rt_sched *s;
	struct rt_model *m;
	int files;

	snprintf(dir, sizeof(dir), "%s/evict", parent);
	if (rt_model_load(tap_path("tests/models/stories260K.gguf"), &mo, &m) < 0 ||
	    rt_sched_create(m, NULL, &so, &s) < 0) {
		ok(0, "evictions: scheduler");
		skip(2, "no scheduler");
		return;
	}
	rt_sampler_defaults(&q.sp);
	q.sp.temp = 0;
	memset(o, 0, sizeof(o));
	memset(&again, 0, sizeof(again));
	for (int i = 0; i < 8; i++) {
		p[i][0] = 1;
		for (int j = 1; j < 40; j++)
			p[i][j] = 3 + (i * 61 + j * 23) % 500;
		q.prompt = p[i];
		q.arg = &o[i];
		rt_sched_add(s, &q);
		run_all(s);
		if (i == 4)
			rt_sched_get_stats(s, &st5);
	}
	rt_sched_get_stats(s, &st8);
	files = count_files(dir);
	ok(st5.n_disk_stored == 0 && st8.n_disk_stored >= 1 &&
	   (uint64_t)files == st8.n_disk_stored && st8.kv_blocks_total == 21,
	   "evictions: no file while the pool had room (5 prompts), %llu files once blocks "
	   "were evicted (8 prompts)", (unsigned long long)st8.n_disk_stored);
	q.prompt = p[0];
	q.arg = &again;
	rt_sched_add(s, &q);
	run_all(s);
	rt_sched_get_stats(s, &st);
	ok(st.n_disk_loaded >= 1 && again.n == N_GEN && !memcmp(again.ids, o[0].ids, sizeof(again.ids)),
	   "evictions: the first prompt again takes %llu evicted blocks from their files, the "
	   "same output", (unsigned long long)st.n_disk_loaded);
	rt_sched_destroy(s);
	ok(count_files(dir) > files, "evictions: the cached blocks written at shutdown (%d files)",
	   count_files(dir));
	rt_model_free(m);
}

static void disk_tier(void)
{
	static const char *const stories = "tests/models/stories260K.gguf";
	char dir[] = "/tmp/test_sched.XXXXXX", f0[4200], f1[4200];
	struct rt_sched_stats st;
	struct out a, b;
	int32_t p[40];
	int fd, ret;

	p[0] = 1;
	for (int j = 1; j < 40; j++)
		p[j] = 3 + (j * 29) % 500;
	if (!mkdtemp(dir)) {
		skip(8, "mkdtemp: %s", strerror(errno));
		return;
	}
	ret = run_disk(stories, dir, p, 40, &a, &st);
	ok(ret == 0 && a.n == N_GEN && st.n_disk_stored == 0 && st.n_disk_loaded == 0 &&
	   count_files(dir) >= 2, "first process: nothing written while its blocks stay in "
	   "memory, %d files at its clean shutdown", count_files(dir));
	ret = run_disk(stories, dir, p, 40, &b, &st);
	ok(ret == 0 && st.n_disk_loaded == 2 &&
	   st.n_cached_tokens == 32 && b.n == N_GEN && !memcmp(a.ids, b.ids, sizeof(a.ids)),
	   "a restart: %d blocks from their files, the same output",
	   (int)st.n_disk_loaded);
	/* one byte of block 1's data flipped: block 0 only */
	ok(block_file(dir, p, 0, f0, sizeof(f0)) == 0 && block_file(dir, p, 1, f1, sizeof(f1)) == 0,
	   "the blocks' files are named by their hashes");
	fd = open(f1, O_RDWR);
	if (fd >= 0) {
		char c;

		(void)!pread(fd, &c, 1, 4096 + 1000);
		c ^= 0x40;
		(void)!pwrite(fd, &c, 1, 4096 + 1000);
		close(fd);
	}
	ret = run_disk(stories, dir, p, 40, &b, &st);
	ok(ret == 0 && st.n_disk_loaded == 1 &&
	   !memcmp(a.ids, b.ids, sizeof(a.ids)),
	   "a corrupt block file is detected by its checksum: %llu block used, the same output",
	   (unsigned long long)st.n_disk_loaded);
	ok(access(f1, F_OK) == 0, "the corrupt file was replaced by a sound one");
	/* block 0 truncated: nothing used */
	ret = truncate(f0, 4096 + 100) ? -errno : run_disk(stories, dir, p, 40, &b, &st);
	ok(ret == 0 &&
	   st.n_disk_loaded == 0 && !memcmp(a.ids, b.ids, sizeof(a.ids)),
	   "a truncated block file is ignored: the prompt computed again, the same output");
	/* another model with the same vocabulary: never the other's files */
	fd = count_files(dir);
	ret = run_disk("tests/models/random/tiny-llama-random-dense-f32.gguf", dir, p, 40, &b, &st);
	ok(ret == 0 && st.n_disk_loaded == 0 && count_files(dir) >= fd + 2,
	   "another model on the same directory uses none of its files (%d of its own)",
	   count_files(dir) - fd);
	ret = run_disk(stories, dir, p, 40, &b, &st);
	ok(ret == 0 && st.n_disk_loaded == 2 &&
	   !memcmp(a.ids, b.ids, sizeof(a.ids)), "and the first model's files are still found");
	evictions(dir);
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		(void)!system(cmd);
	}
}

/* ---- part 4: memory pressure: preempted sequences swapped out and back */

/* @dir, @host: swap to files in @dir once @host bytes are in host memory */
static void swapping(const char *dir, uint64_t host)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 128, .n_batch = 16, .n_seq = 4 };
	struct rt_sched_opts so = { .max_seqs = 4, .token_budget = 16, .max_kv_blocks = 5,
				    .cache_dir = dir, .host_swap_bytes = host };
	const char *where = dir ? "to files (host swap space of 1 byte)" : "to host memory";
	static int32_t prompts[5][24];
	struct rt_sched_req q = { 0 };
	struct rt_sched_stats st;
	struct out outs[5];
	struct rt_sched *s;
	struct rt_model *m;
	int32_t ref[N_GEN];
	int same = 0, ret;

	if (!ok(rt_model_load(tap_path("tests/models/stories260K.gguf"), &mo, &m) == 0 &&
		rt_sched_create(m, NULL, &so, &s) == 0, "swap %s: scheduler", where)) {
		skip(3, "no model");
		return;
	}
	memset(outs, 0, sizeof(outs));
	rt_sampler_defaults(&q.sp);
	q.sp.temp = 0;
	q.fn = on_token;
	q.max_tokens = N_GEN;
	for (int i = 0; i < 5; i++) {
		prompts[i][0] = 1;
		for (int j = 1; j < 24; j++)
			prompts[i][j] = 3 + (i * 53 + j * 17) % 500;
		q.prompt = prompts[i];
		q.n_prompt = 20 + i;
		q.arg = &outs[i];
		rt_sched_add(s, &q);
	}
	ret = run_all(s);
	rt_sched_get_stats(s, &st);
	for (int i = 0; i < 5; i++) {
		struct rt_sampler_params sp;

		rt_sampler_defaults(&sp);
		sp.temp = 0;
		alone(m, prompts[i], 20 + i, &sp, ref);
		same += outs[i].n == N_GEN && !memcmp(outs[i].ids, ref, sizeof(ref));
	}
	ok(ret > 0 && st.n_preempted >= 1 && st.n_resumed == st.n_preempted && st.n_swapped == 0 &&
	   st.n_swapped_files == (dir ? st.n_preempted : 0),
	   "5 requests in 5 KV blocks: %llu preemptions %s, each swapped back in",
	   (unsigned long long)st.n_preempted, where);
	ok(same == 5, "%d of 5 identical to their runs alone (swapped %s, not recomputed)", same,
	   where);
	ok(st.kv_blocks_used == 0, "every block back (%d used)", st.kv_blocks_used);
	rt_sched_destroy(s);
	rt_model_free(m);
}


/* ---- part 5: every cut of a prompt gives accel-run's ids */

#define CH_N 5
#define CH_MAXP 100

/* accel-run's ids for @p on a fresh model (no prefix computed by another
 * prompt's chunks: that is what a new accel-run process starts from) */
static int fresh_alone(const struct rt_model_opts *mo, const int32_t *p, int n, int32_t *out)
{
	struct rt_sampler_params sp;
	struct rt_model *m;
	int k;

	if (rt_model_load(tap_path("tests/models/stories260K.gguf"), mo, &m) < 0)
		return -1;
	rt_sampler_defaults(&sp);
	sp.temp = 0;
	k = alone(m, p, n, &sp, out);
	rt_model_free(m);
	return k;
}


/*
 * The last row's logits of @p (@n tokens) run in pieces of @piece tokens in
 * sequence 0, each row told accel-run's chunk (@hint) or not
 */
static int cut_logits(struct rt_model *m, const int32_t *p, int n, int piece, bool hint,
		      float *out)
{
	const int nv = rt_model_hparams(m)->n_vocab;
	int32_t pos[CH_MAXP], seq[CH_MAXP], chunk[CH_MAXP];
	int8_t want[CH_MAXP];
	const float *lg = NULL;
	int ret;

	rt_kvcache_clear(m->kv, 0);
	ret = rt_kvcache_reserve(m->kv, 0, n);
	for (int i = 0; i < n && ret >= 0; i += piece) {
		int c = n - i < piece ? n - i : piece;
		struct rt_batch b = { .n = c, .tokens = p + i, .pos = pos, .seq = seq,
				      .logits = want, .chunk = hint ? chunk : NULL };

		for (int j = 0; j < c; j++) {
			pos[j] = i + j;
			seq[j] = 0;
			want[j] = i + j == n - 1;
			chunk[j] = rt_prefix_chunk(m, n, i + j);
		}
		ret = rt_model_forward(m, &b, &lg);
	}
	if (ret >= 0)
		memcpy(out, lg, sizeof(float) * nv);
	rt_kvcache_clear(m->kv, 0);
	return ret < 0 ? ret : 0;
}

/* bits: the rows themselves, for every cut, against rt_session's */
static void chunk_rows(const struct rt_model_opts *mo, const char *fa_name, const int32_t *p81,
		       const int32_t *p70)
{
	static const int pieces[] = { 1, 2, 7, 32, 63, 64 };
	struct rt_model *m;
	float *ref, *got;
	int nv, same = 0, differ = 0, total = 0;

	if (rt_model_load(tap_path("tests/models/stories260K.gguf"), mo, &m) < 0) {
		ok(0, "chunk rows: load");
		return;
	}
	nv = rt_model_hparams(m)->n_vocab;
	got = malloc(sizeof(float) * nv);
	for (int k = 0; k < 2; k++) {
		const int32_t *p = k ? p70 : p81;
		const int n = k ? 70 : 81;

		ref = prefill(m, 1, p, n);
		rt_kvcache_clear(m->kv, 1);
		for (size_t i = 0; ref && i < sizeof(pieces) / sizeof(pieces[0]); i++) {
			total++;
			same += cut_logits(m, p, n, pieces[i], true, got) == 0 &&
				!memcmp(got, ref, sizeof(float) * nv);
			differ += cut_logits(m, p, n, pieces[i], false, got) == 0 &&
				  memcmp(got, ref, sizeof(float) * nv);
		}
		free(ref);
	}
	ok(same == total && differ > 0, "-fa %s: the last row of a 81- and a 70-token prompt cut in pieces of "
	   "1..64, each row told accel-run's chunk: bit-identical to accel-run's (%d of %d; "
	   "%d differ untold)", fa_name, same, total, differ);
	free(got);
	rt_model_free(m);
}

/*
 * At n_batch 80, accel-run runs a 81-token prompt as a chunk of 80 (flash
 * attention's tiled kernel) and a lone token, a 70-token one as one tiled
 * chunk, a 20-token one as a plain chunk: each at every step budget from 1
 * to 80 (pieces of every size, one-token tails, pieces of a tiled chunk
 * under 64), all five at once beside each other's decode rows, must give
 * those ids. Then prefixes: a 100-token prompt whose first 30 tokens were
 * cached by a 30-token prompt (computed as a plain chunk, where accel-run
 * tiles them) must not take those blocks; a 25-token prompt must.
 */
static void chunking(int fa, const char *fa_name)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 256, .n_batch = 80, .n_seq = 4,
				    .flash_attn = fa };
	static const int lens[CH_N] = { 81, 70, 20, 2, 37 };
	static const int budgets[] = { 1, 2, 3, 5, 7, 13, 16, 31, 40, 63, 64, 65, 79, 80 };
	const int n_budgets = (int)(sizeof(budgets) / sizeof(budgets[0]));
	static int32_t prompts[CH_N][CH_MAXP], ref[CH_N][N_GEN], ref100[N_GEN], ref25[N_GEN];
	struct rt_sched_req q = { 0 };
	struct rt_sched_stats st;
	struct rt_model *m;
	int good_budgets = 0, ret;

	for (int i = 0; i < CH_N; i++) {
		prompts[i][0] = 1;
		for (int j = 1; j < CH_MAXP; j++)
			prompts[i][j] = 3 + (i * 41 + j * 13 + j * j) % 500;
	}
	for (int i = 0; i < CH_N; i++)
		fresh_alone(&mo, prompts[i], lens[i], ref[i]);
	chunk_rows(&mo, fa_name, prompts[0], prompts[1]);
	if (!ok(rt_model_load(tap_path("tests/models/stories260K.gguf"), &mo, &m) == 0,
		"chunking (-fa %s): load", fa_name)) {
		skip(2, "no model");
		return;
	}
	rt_sampler_defaults(&q.sp);
	q.sp.temp = 0;
	q.fn = on_token;
	q.max_tokens = N_GEN;
	for (int bi = 0; bi < n_budgets; bi++) {
		struct rt_sched_opts so = { .max_seqs = 4, .token_budget = budgets[bi] };
		struct out outs[CH_N];
		struct rt_sched *s;
		int same = 0;

		/* a fresh pool: no prefix of another budget's run */
		rt_model_free(m);
		if (rt_model_load(tap_path("tests/models/stories260K.gguf"), &mo, &m) < 0 ||
		    rt_sched_create(m, NULL, &so, &s) < 0)
			break;
		memset(outs, 0, sizeof(outs));
		for (int i = 0; i < CH_N; i++) {
			q.prompt = prompts[i];
			q.n_prompt = lens[i];
			q.arg = &outs[i];
			rt_sched_add(s, &q);
		}
		ret = run_all(s);
		for (int i = 0; i < CH_N; i++) {
			bool eq = outs[i].n == N_GEN && !memcmp(outs[i].ids, ref[i], sizeof(ref[i]));

			same += eq;
			if (!eq)
				diag("-fa %s budget %d: the %d-token prompt differs from accel-run",
				     fa_name, budgets[bi], lens[i]);
		}
		good_budgets += ret > 0 && same == CH_N;
		rt_sched_destroy(s);
	}
	ok(good_budgets == n_budgets,
	   "-fa %s: %d of %d step budgets (1..80) give every request accel-run's ids "
	   "(one-token tails, tiled chunks cut under 64, beside other requests)",
	   fa_name, good_budgets, n_budgets);

	/* prefixes keyed by their arithmetic */
	{
		struct rt_sched_opts so = { .max_seqs = 2, .token_budget = 16 };
		static int32_t p100[100], p25[25];
		struct out o30, o100, o25;
		struct rt_sched *s;
		uint64_t c0, c1;

		memcpy(p100, prompts[4], sizeof(int32_t) * 30);
		for (int j = 30; j < 100; j++)
			p100[j] = 3 + (j * 7) % 500;
		memcpy(p25, prompts[4], sizeof(int32_t) * 16);
		for (int j = 16; j < 25; j++)
			p25[j] = 3 + (j * 19) % 500;
		fresh_alone(&mo, p100, 100, ref100);
		fresh_alone(&mo, p25, 25, ref25);
		rt_model_free(m);
		ret = rt_model_load(tap_path("tests/models/stories260K.gguf"), &mo, &m);
		if (ret == 0)
			ret = rt_sched_create(m, NULL, &so, &s);
		if (ret < 0) {
			ok(0, "prefixes: scheduler");
			rt_model_free(m);
			return;
		}
		memset(&o30, 0, sizeof(o30));
		memset(&o100, 0, sizeof(o100));
		memset(&o25, 0, sizeof(o25));
		q.prompt = prompts[4];
		q.n_prompt = 30;
		q.arg = &o30;
		rt_sched_add(s, &q);
		run_all(s);
		rt_sched_get_stats(s, &st);
		c0 = st.n_cached_tokens;
		q.prompt = p100;
		q.n_prompt = 100;
		q.arg = &o100;
		rt_sched_add(s, &q);
		run_all(s);
		rt_sched_get_stats(s, &st);
		c1 = st.n_cached_tokens;
		q.prompt = p25;
		q.n_prompt = 25;
		q.arg = &o25;
		rt_sched_add(s, &q);
		run_all(s);
		rt_sched_get_stats(s, &st);
		ok(c1 == c0 && o100.n == N_GEN && !memcmp(o100.ids, ref100, sizeof(ref100)) &&
		   st.n_cached_tokens - c1 == 16 && o25.n == N_GEN &&
		   !memcmp(o25.ids, ref25, sizeof(ref25)),
		   "-fa %s: a cached block of other arithmetic is not taken (%llu tokens), one of "
		   "the same is (%llu); both give accel-run's ids", fa_name,
		   (unsigned long long)(c1 - c0), (unsigned long long)(st.n_cached_tokens - c1));
		rt_sched_destroy(s);
	}
	rt_model_free(m);
}

/*
 * Prefix keys past 256 positions: a generated token there (a lone query)
 * with F16 K and V under flash attention is split over -t threads, so its
 * blocks' keys at -t 1 and -t 2 differ from the block holding 256 on and
 * agree before it; without flash attention nothing splits and all agree
 */
static void split_keys(void)
{
	enum { N = 320, NPROMPT = 10 };
	static int32_t tok[N];
	uint64_t h[2][2][N / 8];
	int nb = 0, bt = 0, same_before = 1, differ_after = 1, same_off = 1;
	bool loaded = true;

	for (int i = 0; i < N; i++)
		tok[i] = 1 + i * 7 % 500;
	for (int fa = 0; fa < 2; fa++) {
		for (int t = 0; t < 2; t++) {
			struct rt_model_opts mo = { .threads = t + 1, .n_ctx = 512,
						    .type_k = RT_KV_F16, .type_v = RT_KV_F16,
						    .flash_attn = fa ? RT_FA_OFF : RT_FA_ON };
			struct rt_model *m = NULL;

			if (rt_model_load(tap_path("tests/models/stories260K.gguf"), &mo, &m) < 0) {
				loaded = false;
				continue;
			}
			bt = (int)m->kv->block_tokens;
			nb = N / bt;
			rt_prefix_hashes(m, tok, NPROMPT, 0, nb, h[fa][t]);
			rt_model_free(m);
		}
	}
	for (int b = 0; b < nb && loaded; b++) {
		if ((b + 1) * bt <= 256)
			same_before &= h[0][0][b] == h[0][1][b];
		else
			differ_after &= h[0][0][b] != h[0][1][b];
		same_off &= h[1][0][b] == h[1][1][b];
	}
	ok(loaded && nb > 256 / bt && same_before && differ_after,
	   "prefix keys at -t 1 and 2, F16 flash: equal before position 256, apart from its block on");
	ok(loaded && nb > 0 && same_off, "prefix keys at -t 1 and 2 without flash attention: equal");
}

int main(void)
{
	static const char *const models[] = {
		"tests/models/stories260K.gguf",
		"tests/models/random/small-random-q5_k.gguf",
		"tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf",
		"tests/models/random/small-moe-random-q5_k.gguf",
	};
	static const struct {
		const char *name;
		enum kn_isa isa;
	} isas[] = { { "scalar", KN_ISA_SCALAR }, { "avx2", KN_ISA_AVX2 }, { "avx512", KN_ISA_AVX512 } };

	plan(4 * 3 * 5 + 5 + 15 + 4 + 8 + 3 + 4 + 5 + 2 * 4 + 2);
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		for (size_t j = 0; j < 3; j++)
			invariance(models[i], false, isas[j].name, isas[j].isa);
	/* the K-quant MoE streamed (by parts), on the best ISA: the same rows */
	for (size_t j = 0; j < 3; j++)
		if (isas[j].isa == kn_isa_best())
			invariance(models[3], true, isas[j].name, isas[j].isa);
	kn_isa_set(kn_isa_best());
	scheduler();
	forward_hook();
	disk_tier();
	swapping(NULL, 0);
	{
		char dir[] = "/tmp/test_sched_swap.XXXXXX", cmd[64];

		if (mkdtemp(dir)) {
			DIR *d;
			struct dirent *de;
			int left = 0;

			swapping(dir, 1);
			d = opendir(dir);
			while (d && (de = readdir(d)))
				left += !strncmp(de->d_name, "swap-", 5);
			if (d)
				closedir(d);
			ok(d && left == 0, "no swap file left behind (unlinked when opened)");
		} else {
			ok(0, "mkdtemp: %s", strerror(errno));
			skip(4, "no directory");
		}
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		(void)!system(cmd);
	}
	chunking(RT_FA_ON, "on");
	chunking(RT_FA_OFF, "off");
	split_keys();
	return done_testing();
}
