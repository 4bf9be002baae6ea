// SPDX-License-Identifier: MIT
/*
 * Speculative decoding: greedy ids identical to plain decoding on every
 * shared model, resident and streamed, with n-gram lookup and with a draft
 * model (the model itself: every draft accepted; a different model with the
 * same vocabulary: rejections rolled back); blocks published after rollbacks
 * hold the kept tokens' KV (a later session reusing them gets the same
 * logits); the accept/reject rule keeps the target distribution (chi-square
 * on a small vocabulary, fixed seed); a draft with another vocabulary is
 * refused with one clear message.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"
#include "rt_spec.h"
#include "rt_stream.h"
#include "tap.h"

#define N_GEN 24
#define N_MAX 64

/* a prompt that repeats itself: lookup finds drafts; ids < 512 (every vocab here) */
static const int32_t prompt[] = { 1, 403, 407, 261, 378, 291, 403, 407, 261, 378, 291, 403 };
#define N_PROMPT ((int)(sizeof(prompt) / sizeof(prompt[0])))

struct ids {
	int32_t v[N_MAX];
	int n;
};

static int collect(int seq, int32_t id, void *arg)
{
	struct ids *o = arg;

	(void)seq;
	if (o->n >= N_MAX)
		return -ERANGE;
	o->v[o->n++] = id;
	return 0;
}

/* n_batch: the tiny MoE files stream only when a batch's experts (n_batch
 * x 2) do not fill their 4-expert cache: 2 there (drafts of one token) */
static int n_batch = 8;

static struct rt_model_opts opts(uint64_t budget)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 96, .n_batch = n_batch, .n_seq = 1,
				    .kv_block_tokens = 4, .mem_budget = budget };

	return mo;
}

/* at most @k drafts: the verification batch holds k + 1 rows */
static int kcap(int k)
{
	return k < n_batch - 1 ? k : n_batch - 1;
}

/* plain greedy decoding, as accel-run does it; the logits each id was taken
 * from into @all [n_gen][n_vocab] when given */
static int plain(struct rt_model *m, struct ids *o, int n_gen, float *all)
{
	const int nv = rt_model_hparams(m)->n_vocab;
	struct rt_session s;
	const float *lg;
	int ret;

	o->n = 0;
	if ((ret = rt_session_init(&s, m, 0)) < 0)
		return ret;
	ret = rt_session_feed(&s, prompt, N_PROMPT, &lg);
	for (int i = 0; i < n_gen && ret >= 0; i++) {
		o->v[o->n++] = rt_argmax(lg, nv);
		if (all)
			memcpy(all + (size_t)i * nv, lg, sizeof(float) * nv);
		if (i + 1 < n_gen)
			ret = rt_session_feed(&s, &o->v[i], 1, &lg);
	}
	rt_session_fini(&s);
	return ret < 0 ? ret : 0;
}

static float p_min;	/* rt_spec_params.p_min of spec() */

static int spec(struct rt_model *m, struct rt_model *dm, int lookup, int k, float temp,
		int n_gen, struct ids *o, struct rt_spec_stats *st)
{
	struct rt_spec_params p = { .n_draft = k, .lookup = lookup, .p_min = p_min };
	struct rt_sampler_params sp;
	struct rt_session s, ds = { 0 };
	int ret;

	rt_sampler_defaults(&sp);
	sp.temp = temp;
	sp.seed = 1234;
	o->n = 0;
	if ((ret = rt_session_init(&s, m, 0)) < 0)
		return ret;
	if (dm && (ret = rt_session_init(&ds, dm, 0)) < 0)
		goto out;
	ret = rt_spec_generate(&s, dm ? &ds : NULL, &p, &sp, prompt, N_PROMPT, n_gen, NULL,
			       collect, o, st);
	if (ret == 0 && !(s.n_published <= s.n_past && s.n_past == N_PROMPT + o->n - 1))
		ret = -EPROTO;	/* the KV holds exactly what was kept */
out:
	rt_session_fini(&ds);
	rt_session_fini(&s);
	return ret;
}

/*
 * Drafted rows scored in one pass give the bits plain decoding gives, also
 * after a rollback: feed ids[0..6) as drafts, take 4 back, feed ids[2..8)
 */
static bool verify_bits(struct rt_model *m, const struct ids *ref, const float *all)
{
	const int nv = rt_model_hparams(m)->n_vocab;
	float *rows = malloc(sizeof(float) * 6 * nv);
	struct rt_session s;
	const float *lg;
	bool same = rows != NULL;

	if (!same || rt_session_init(&s, m, 0) < 0) {
		free(rows);
		return false;
	}
	same = rt_session_feed(&s, prompt, N_PROMPT, &lg) == 0;
	for (int pass = 0; same && pass < 2; pass++) {
		const int first = pass * 2;

		same = rt_session_feed_draft(&s, ref->v + first, 6, NULL, rows) == 0;
		/* the row of ids[j] holds the logits ids[j + 1] was taken from */
		for (int r = 0; same && r < 6; r++)
			same = !memcmp(rows + (size_t)r * nv, all + (size_t)(first + r + 1) * nv,
				       sizeof(float) * nv);
		same = same && rt_session_truncate(&s, N_PROMPT + 2) == 0;
	}
	rt_session_fini(&s);
	free(rows);
	return same;
}

/* a budget under which @path streams: the smallest that loads, in 16 KiB
 * steps for the tiny files (under 4 MiB), powers of two from 4 MiB else */
static uint64_t stream_budget(const char *path)
{
	FILE *f = fopen(path, "rb");
	long size = f && !fseek(f, 0, SEEK_END) ? ftell(f) : 0;
	bool tiny = size > 0 && size < (4 << 20);

	if (f)
		fclose(f);
	for (uint64_t b = tiny ? 16 << 10 : 4 << 20; b <= (256ULL << 20); b += tiny ? 16 << 10 : b) {
		struct rt_model_opts mo = opts(b);
		struct rt_model *m;
		int streams;

		if (rt_model_load(path, &mo, &m) < 0)
			continue;
		streams = rt_stream_stats(m, NULL, NULL) == 0;
		rt_model_free(m);
		return streams ? b : 0;
	}
	return 0;
}

/* 6 tests (+2 with @other) */
static void check_placement(const char *rel, const char *path, uint64_t budget,
			    const char *other)
{
	const char *where = budget ? "streamed" : "resident";
	struct rt_model_opts mo = opts(budget), dmo = opts(0);
	struct rt_model *m = NULL, *dm = NULL;
	struct rt_spec_stats st;
	struct ids ref, got;
	float *all;
	int ret;

	if (!ok(rt_model_load(path, &mo, &m) == 0, "%s %s: load", rel, where)) {
		skip(other ? 7 : 5, "no model");
		return;
	}
	all = malloc(sizeof(float) * N_GEN * rt_model_hparams(m)->n_vocab);
	ret = plain(m, &ref, N_GEN, all);
	ok(ret == 0 && verify_bits(m, &ref, all),
	   "%s %s: drafted rows scored in one pass (and again after a rollback) are bit-identical "
	   "to plain decoding's logits", rel, where);
	free(all);
	ret = ret ? ret : spec(m, NULL, 3, kcap(4), 0, N_GEN, &got, &st);
	ok(ret == 0 && got.n == ref.n && !memcmp(got.v, ref.v, sizeof(int32_t) * ref.n),
	   "%s %s: lookup (n-gram 3, k %d): %d ids identical to plain greedy (%d of %d drafts "
	   "accepted, %d passes) %s", rel, where, kcap(4), got.n, st.n_accepted, st.n_drafted,
	   st.n_passes, ret ? rt_last_error() : "");
	/* the model as its own draft (resident): every draft is accepted */
	ret = rt_model_load(path, &dmo, &dm);
	ret = ret ? ret : spec(m, dm, 0, kcap(5), 0, N_GEN, &got, &st);
	ok(ret == 0 && got.n == ref.n && !memcmp(got.v, ref.v, sizeof(int32_t) * ref.n),
	   "%s %s: self-draft (k 5): ids identical to plain greedy %s", rel, where,
	   ret ? rt_last_error() : "");
	ok(ret == 0 && st.n_drafted > 0 && st.n_accepted == st.n_drafted &&
	   st.n_passes <= (N_GEN - 1 + kcap(5)) / (kcap(5) + 1),
	   "%s %s: self-draft greedy: %d of %d drafts accepted, %d tokens in %d target passes",
	   rel, where, st.n_accepted, st.n_drafted, st.n_gen, st.n_passes);
	/* sampled: the draft's distribution is the target's, so every draft passes the rule */
	ret = ret ? ret : spec(m, dm, 0, kcap(5), 0.8f, N_GEN, &got, &st);
	ok(ret == 0 && got.n == N_GEN && st.n_drafted > 0 && st.n_accepted == st.n_drafted,
	   "%s %s: self-draft sampled (temp 0.8): %d of %d drafts accepted", rel, where,
	   st.n_accepted, st.n_drafted);
	rt_model_free(dm);
	dm = NULL;
	if (other) {
		ret = rt_model_load(tap_path(other), &dmo, &dm);
		ret = ret ? ret : spec(m, dm, 0, kcap(3), 0, N_GEN, &got, &st);
		ok(ret == 0 && got.n == ref.n && !memcmp(got.v, ref.v, sizeof(int32_t) * ref.n),
		   "%s %s: draft %s: ids identical to plain greedy %s", rel, where, other,
		   ret ? rt_last_error() : "");
		ok(ret == 0 && st.n_accepted < st.n_drafted,
		   "%s %s: a different draft model: %d of %d drafts accepted (rejections rolled back)",
		   rel, where, st.n_accepted, st.n_drafted);
		rt_model_free(dm);
	}
	rt_model_free(m);
}

/* 1 + 2 * (6 or 8) tests */
static void check_model(const char *rel, const char *other, bool need_ref)
{
	const char *path = tap_path(rel);
	FILE *f = fopen(path, "rb");
	uint64_t b;
	int n = other ? 8 : 6;

	if (!f) {
		if (need_ref)
			skip_ref(1 + 2 * n, "%s not fetched (scripts/fetch-model.sh)", rel);
		else
			ok(0, "%s: missing", rel);
		return;
	}
	fclose(f);
	check_placement(rel, path, 0, other);
	b = stream_budget(path);
	if (!ok(b > 0, "%s: streams under a %llu KiB budget", rel, (unsigned long long)(b >> 10))) {
		skip(n, "no streaming budget");
		return;
	}
	check_placement(rel, path, b, other);
}

/* published blocks after rollbacks hold the kept tokens: a new session that
 * reuses them computes what plain decoding does (3 tests) */
static void check_prefix_after_rollback(void)
{
	const char *path = tap_path("tests/models/stories260K.gguf");
	struct rt_model_opts mo = opts(0);
	struct rt_model *m;
	struct rt_spec_stats st;
	struct ids ref, got;
	int32_t hist[N_PROMPT + N_GEN];
	float *last, *lg2;
	const float *lg;
	struct rt_session s;
	struct rt_spec_params p = { .n_draft = 6, .lookup = 2 };
	struct rt_sampler_params sp;
	int nv, n, ret;

	if (rt_model_load(path, &mo, &m) < 0) {
		ok(0, "load stories260K: %s", rt_last_error());
		skip(2, "no model");
		return;
	}
	nv = rt_model_hparams(m)->n_vocab;
	last = malloc(sizeof(float) * N_GEN * nv);
	lg2 = malloc(sizeof(float) * nv);
	plain(m, &ref, N_GEN, last);
	rt_sampler_defaults(&sp);
	sp.temp = 0;
	got.n = 0;
	rt_session_init(&s, m, 0);
	ret = rt_spec_generate(&s, NULL, &p, &sp, prompt, N_PROMPT, N_GEN, NULL, collect, &got, &st);
	ok(ret == 0 && st.n_accepted < st.n_drafted && st.n_accepted > 0 && got.n == N_GEN,
	   "spec run with rollbacks: %d of %d drafts accepted", st.n_accepted, st.n_drafted);
	rt_session_fini(&s);	/* its published blocks stay in the prefix cache */
	memcpy(hist, prompt, sizeof(prompt));
	memcpy(hist + N_PROMPT, ref.v, sizeof(int32_t) * (N_GEN - 1));
	/* every full block was published (4 tokens each): the new session
	 * computes one position of its first feed, then one per feed, as plain
	 * decoding did, so its logits must be the same bits */
	rt_session_init(&s, m, 0);
	n = 4 * ((N_PROMPT + N_GEN - 2) / 4) + 1;
	ret = rt_session_feed(&s, hist, n, &lg);
	while (ret == 0 && n < N_PROMPT + N_GEN - 1)
		ret = rt_session_feed(&s, &hist[n++], 1, &lg);
	if (ret == 0)
		memcpy(lg2, lg, sizeof(float) * nv);
	ok(ret == 0 && s.n_reused == 4 * ((N_PROMPT + N_GEN - 2) / 4),
	   "a new session reuses %d cached positions of %d", s.n_reused, N_PROMPT + N_GEN - 1);
	ok(ret == 0 && !memcmp(lg2, last + (size_t)(N_GEN - 1) * nv, sizeof(float) * nv),
	   "its logits are bit-identical to plain decoding's");
	rt_session_fini(&s);
	free(last);
	free(lg2);
	rt_model_free(m);
}

/* --draft-p-min: a draft model stops at tokens it doubts; the output stays
 * plain decoding's (2 tests) */
static void check_p_min(void)
{
	struct rt_model_opts mo = opts(0);
	struct rt_model *m = NULL, *dm = NULL;
	struct rt_spec_stats st0, st1;
	struct ids ref, got;
	int ret;

	ret = rt_model_load(tap_path("tests/models/stories260K.gguf"), &mo, &m);
	ret = ret ? ret : rt_model_load(tap_path("tests/models/random/tiny-llama-random-dense-f32.gguf"),
					&mo, &dm);
	ret = ret ? ret : plain(m, &ref, N_GEN, NULL);
	ret = ret ? ret : spec(m, dm, 0, kcap(5), 0, N_GEN, &got, &st0);
	p_min = 0.75f;
	ret = ret ? ret : spec(m, dm, 0, kcap(5), 0, N_GEN, &got, &st1);
	p_min = 0;
	ok(ret == 0 && got.n == ref.n && !memcmp(got.v, ref.v, sizeof(int32_t) * ref.n),
	   "p_min 0.75: ids identical to plain greedy");
	ok(ret == 0 && st1.n_drafted < st0.n_drafted,
	   "p_min 0.75: %d tokens drafted (%d without), %d accepted", st1.n_drafted, st0.n_drafted,
	   st1.n_accepted);
	rt_model_free(dm);
	rt_model_free(m);
}

/* chi-square of @cnt against @p over @n categories, @trials draws */
static double chi2(const int *cnt, const double *p, int n, int trials)
{
	double x = 0;

	for (int i = 0; i < n; i++) {
		double e = p[i] * trials;

		if (e > 0)
			x += (cnt[i] - e) * (cnt[i] - e) / e;
		else if (cnt[i])
			return INFINITY;
	}
	return x;
}

#define V 6
#define TRIALS 200000
/* chi-square, 5 degrees of freedom: P(X > 30) ~ 1.5e-5; the seed is fixed,
 * so the test is deterministic, and a wrong rule gives thousands */
#define CHI2_MAX 30.0

/* 4 tests */
static void check_rule(void)
{
	static const float p[V] = { 0.05f, 0.30f, 0.10f, 0.0f, 0.40f, 0.15f };
	static const float q[V] = { 0.40f, 0.10f, 0.10f, 0.20f, 0.05f, 0.15f };
	double pd[V], qd[V];
	struct rt_sampler_params sp;
	struct rt_sampler *s;
	float work[V];
	int cnt[V] = { 0 }, raw[V] = { 0 }, cnt1[V] = { 0 }, n_acc = 0;

	rt_sampler_defaults(&sp);
	sp.seed = 42;
	rt_sampler_create(&sp, V, &s);
	for (int i = 0; i < V; i++) {
		pd[i] = p[i];
		qd[i] = q[i];
	}
	for (int t = 0; t < TRIALS; t++) {
		int32_t x = rt_sampler_draw(s, q), y;
		bool acc;

		raw[x]++;
		y = rt_spec_accept(s, p, q, x, work, &acc);
		cnt[y]++;
		n_acc += acc;
	}
	ok(chi2(cnt, pd, V, TRIALS) < CHI2_MAX,
	   "draft from q, accept/reject against p: output ~ p (chi2 %.1f, 5 dof)",
	   chi2(cnt, pd, V, TRIALS));
	/* the acceptance rate is sum min(p, q) = 0.45 */
	ok(fabs((double)n_acc / TRIALS - 0.45) < 0.01, "acceptance rate %.4f (expected 0.45)",
	   (double)n_acc / TRIALS);
	ok(chi2(raw, pd, V, TRIALS) > 1000, "the drafts themselves are not ~ p (chi2 %.0f): the "
	   "test tells the rule from no rule", chi2(raw, pd, V, TRIALS));
	(void)qd;
	/* lookup: a deterministic proposal (q one-hot at x = 1) */
	for (int t = 0; t < TRIALS; t++) {
		bool acc;

		cnt1[rt_spec_accept(s, p, NULL, 1, work, &acc)]++;
	}
	ok(chi2(cnt1, pd, V, TRIALS) < CHI2_MAX,
	   "a one-hot proposal (lookup): output ~ p (chi2 %.1f)", chi2(cnt1, pd, V, TRIALS));
	rt_sampler_free(s);
}

/* the distribution the rule compares is the one the sampler draws from (2 tests) */
static void check_probs(void)
{
	static const float lg[V] = { 1.0f, 3.0f, 2.5f, -1.0f, 0.5f, 2.9f };
	struct rt_sampler_params sp;
	struct rt_sampler *s, *s2;
	float p[V], sum = 0;
	int cnt[V] = { 0 }, nz = 0;
	double pd[V];

	rt_sampler_defaults(&sp);
	sp.top_k = 3;
	sp.min_p = 0;
	sp.top_p = 1.0f;
	sp.seed = 7;
	rt_sampler_create(&sp, V, &s);
	rt_sampler_create(&sp, V, &s2);
	rt_sampler_probs(s, lg, p);
	for (int i = 0; i < V; i++) {
		nz += p[i] > 0;
		sum += p[i];
		pd[i] = p[i];
	}
	for (int t = 0; t < TRIALS; t++)
		cnt[rt_sampler_sample(s2, lg)]++;
	ok(nz == 3 && fabsf(sum - 1) < 1e-6f && chi2(cnt, pd, V, TRIALS) < CHI2_MAX,
	   "rt_sampler_probs (top-k 3, temp 0.8): 3 tokens, sum 1, what rt_sampler_sample draws "
	   "(chi2 %.1f)", chi2(cnt, pd, V, TRIALS));
	rt_sampler_free(s);
	rt_sampler_free(s2);
	sp.temp = 0;
	rt_sampler_create(&sp, V, &s);
	rt_sampler_probs(s, lg, p);
	ok(p[1] == 1.0f && p[5] == 0 && rt_sampler_sample(s, lg) == 1,
	   "greedy: one-hot at the argmax");
	rt_sampler_free(s);
}

/* 3 tests */
static void check_lookup(void)
{
	static const int32_t h[] = { 5, 6, 7, 8, 9, 1, 5, 6, 7, 2, 3, 5, 6 };
	int32_t out[8];
	int n;

	n = rt_spec_lookup(h, 13, 3, 4, out);
	/* "5 6" (2-gram: no earlier "3 5 6") last seen at 6..7: 7 2 3 5 follow */
	ok(n == 4 && out[0] == 7 && out[1] == 2 && out[2] == 3 && out[3] == 5,
	   "lookup: the latest earlier match of the longest n-gram (%d: %d %d %d %d)", n, out[0],
	   out[1], out[2], out[3]);
	n = rt_spec_lookup(h, 13, 3, 8, out);
	ok(n == 5 && out[4] == 6, "lookup: drafts stop at the history's end (%d)", n);
	n = rt_spec_lookup(h, 5, 3, 4, out);
	ok(n == 0, "lookup: no match, no draft (%d)", n);
}

/* 1 test */
static void check_vocab(void)
{
	const char *smol = tap_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
	struct rt_model_opts mo = opts(0);
	struct rt_model *a = NULL, *b = NULL;
	int ret = rt_model_load(tap_path("tests/models/stories260K.gguf"), &mo, &a);
	FILE *f = fopen(smol, "rb");

	if (!f) {
		rt_model_free(a);
		skip_ref(1, "SmolLM2 not fetched");
		return;
	}
	fclose(f);
	if (!ret)
		ret = rt_model_load(smol, &mo, &b);
	ret = ret ? ret : rt_spec_check_vocab(b, a);
	ok(ret == -EINVAL && strstr(rt_last_error(), "same vocabulary"),
	   "a draft with another vocabulary is refused: %s", rt_last_error());
	rt_model_free(a);
	rt_model_free(b);
}

int main(void)
{
	plan(4 + 2 + 3 + 1 + 3 + 2 + (1 + 2 * 8) + 6 * (1 + 2 * 6));
	check_rule();
	check_probs();
	check_lookup();
	check_vocab();
	check_prefix_after_rollback();
	check_p_min();
	check_model("tests/models/stories260K.gguf", "tests/models/random/tiny-llama-random-dense-f32.gguf",
		    false);
	check_model("tests/models/random/tiny-llama-random-dense-f32.gguf", NULL, false);
	check_model("tests/models/random/tiny-qwen2-random-f32.gguf", NULL, false);
	check_model("tests/models/random/tiny-qwen3-random-f32.gguf", NULL, false);
	check_model("models/SmolLM2-135M-Instruct.Q4_1.gguf", NULL, true);
	n_batch = 2;
	check_model("tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf", NULL, false);
	check_model("tests/models/random/tiny-qwen3moe-random-q8_0.gguf", NULL, false);
	return done_testing();
}
