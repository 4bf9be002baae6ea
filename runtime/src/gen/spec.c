// SPDX-License-Identifier: MIT
/*
 * Speculative decoding over sessions: draft k tokens (a draft model's
 * session, or n-gram lookup in the history), score [pending, d1..dk] in one
 * target pass, keep the accepted prefix and one more token (the standard
 * rule), roll both KV caches back to what was kept. No text handling here.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rt_error.h"
#include "rt_gguf.h"
#include "rt_model.h"
#include "rt_session.h"
#include "rt_spec.h"
#include "rt_tokenizer.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int rt_spec_check_vocab(const struct rt_model *target, const struct rt_model *draft)
{
	const struct rt_gguf *gt = rt_model_gguf(target), *gd = rt_model_gguf(draft);
	const char *key = "tokenizer.ggml.tokens";
	int nt = rt_model_hparams(target)->n_vocab, nd = rt_model_hparams(draft)->n_vocab;
	bool ht = rt_gguf_find_key(gt, key) >= 0, hd = rt_gguf_find_key(gd, key) >= 0;

	if (nt != nd)
		return rt_set_error(-EINVAL, "the draft model's vocabulary has %d tokens, the model's %d: "
				    "a draft model needs the same vocabulary", nd, nt);
	if (ht != hd)
		return rt_set_error(-EINVAL, "the %s model has no token list to compare: a draft model "
				    "needs the same vocabulary", ht ? "draft" : "target");
	for (int i = 0; ht && i < nt; i++) {
		struct rt_gguf_str a, b;

		if (rt_gguf_get_arr_str(gt, key, (uint64_t)i, &a) < 0 ||
		    rt_gguf_get_arr_str(gd, key, (uint64_t)i, &b) < 0)
			return rt_set_error(-EINVAL, "token %d: unreadable in the token lists", i);
		if (a.len != b.len || memcmp(a.s, b.s, a.len))
			return rt_set_error(-EINVAL, "token %d differs between the model ('%s') and the "
					    "draft model ('%s'): a draft model needs the same vocabulary",
					    i, a.s, b.s);
	}
	return 0;
}

int32_t rt_spec_accept(struct rt_sampler *s, const float *p, const float *q, int32_t x,
		       float *work, bool *accepted)
{
	const int nv = rt_sampler_n_vocab(s);
	double qx = q ? q[x] : 1.0, sum = 0;

	*accepted = false;
	if (x < 0 || x >= nv)
		return -EINVAL;
	/* min(1, p/q): u < p/q, as u * q < p (q(x) > 0: x was drawn from q) */
	if (p[x] > 0 && rt_sampler_uniform(s) * qx < p[x]) {
		*accepted = true;
		return x;
	}
	for (int i = 0; i < nv; i++) {
		double r = (double)p[i] - (q ? (double)q[i] : (i == x ? 1.0 : 0.0));

		work[i] = r > 0 ? (float)r : 0.0f;
		sum += work[i];
	}
	/* p == q up to rounding: the residual is empty, p itself is right */
	return rt_sampler_draw(s, sum > 0 ? work : p);
}

int rt_spec_lookup(const int32_t *hist, int n, int ngram, int k, int32_t *out)
{
	for (int g = ngram < n - 1 ? ngram : n - 1; g >= 1; g--) {
		const int32_t *tail = hist + n - g;

		/* the match ends at j (exclusive), before the tail itself */
		for (int j = n - 1; j >= g; j--) {
			int c = 0;

			if (memcmp(hist + j - g, tail, sizeof(*hist) * g))
				continue;
			while (c < k && j + c < n) {
				out[c] = hist[j + c];
				c++;
			}
			return c;
		}
	}
	return 0;
}

struct spec {
	struct rt_session *s, *ds;
	const struct rt_spec_params *p;
	struct rt_sampler *smp, *dsmp;
	const struct rt_tokenizer *tok;
	rt_token_fn fn;
	void *arg;
	struct rt_spec_stats *st;
	int nv, limit;
	float *q;		/* [k][nv]: the draft's distributions */
	float *logits;		/* [k + 1][nv]: the target's verification rows */
	float *pbuf, *work;	/* [nv] */
	int32_t *ids;		/* [n_ctx]: the draft's catch-up tokens */
};

/* give token @id; 1 when generation ends with it */
static int emit(struct spec *sc, int32_t id)
{
	int ret;

	rt_sampler_accept(sc->smp, id);
	if (sc->dsmp)
		rt_sampler_accept(sc->dsmp, id);
	sc->st->n_gen++;
	if (sc->fn && (ret = sc->fn(sc->s->seq, id, sc->arg)) < 0)
		return ret;
	return (sc->tok && rt_tokenizer_is_eog(sc->tok, id)) || sc->st->n_gen >= sc->limit;
}

/* softmax(@lg)[@id] at temperature 1 */
static float softmax_at(const float *lg, int n, int32_t id)
{
	float mx = lg[0];
	double sum = 0;

	for (int i = 1; i < n; i++)
		mx = lg[i] > mx ? lg[i] : mx;
	for (int i = 0; i < n; i++)
		sum += expf(lg[i] - mx);
	return (float)(expf(lg[id] - mx) / sum);
}

/* the draft session brought to the target's history plus @t, then up to @k
 * tokens drawn from it (their distributions in sc->q); returns how many */
static int draft_model(struct spec *sc, int32_t t, int k, int32_t *d)
{
	struct rt_session *s = sc->s, *ds = sc->ds;
	const float *lg;
	int c = 0, n, ret;

	while (c < ds->n_past && c < s->n_past && ds->hist[c] == s->hist[c])
		c++;
	if ((ret = rt_session_truncate(ds, c)) < 0)
		return ret;
	n = s->n_past - c;
	memcpy(sc->ids, s->hist + c, sizeof(*sc->ids) * n);
	sc->ids[n++] = t;
	if ((ret = rt_session_feed_draft(ds, sc->ids, n, &lg, NULL)) < 0)
		return ret;
	sc->st->n_draft_passes++;
	for (int i = 0; i < k; i++) {
		float *q = sc->q + (size_t)i * sc->nv;

		rt_sampler_probs(sc->dsmp, lg, q);
		d[i] = rt_sampler_draw(sc->dsmp, q);
		if (d[i] < 0)
			return d[i];
		if (sc->p->p_min > 0 && softmax_at(lg, sc->nv, d[i]) < sc->p->p_min)
			return i;	/* the draft doubts it: not worth a row */
		if (i + 1 == k)
			break;
		if ((ret = rt_session_feed_draft(ds, &d[i], 1, &lg, NULL)) < 0)
			return ret;
		sc->st->n_draft_passes++;
	}
	return k;
}

/* one target pass over [t, d...]: emits the accepted drafts and one more;
 * *next = the pending token; 1 when generation ended */
static int verify(struct spec *sc, int32_t t, const int32_t *d, int nd, int32_t *next)
{
	struct rt_session *s = sc->s;
	int32_t batch[RT_SPEC_MAX_DRAFT + 1];
	const int base = s->n_past;
	bool greedy = rt_sampler_greedy(sc->smp);
	int a = 0, ret, end = 0;

	batch[0] = t;
	memcpy(batch + 1, d, sizeof(*d) * nd);
	if ((ret = rt_session_feed_draft(s, batch, nd + 1, NULL, sc->logits)) < 0)
		return ret;
	sc->st->n_passes++;
	sc->st->n_drafted += nd;
	for (int i = 0; i <= nd; i++) {
		const float *row = sc->logits + (size_t)i * sc->nv;
		bool acc = false;
		int32_t y;

		if (greedy) {
			/* plain decoding's own choice: identical tokens by construction */
			y = rt_sampler_sample(sc->smp, row);
			acc = i < nd && y == d[i];
		} else {
			rt_sampler_probs(sc->smp, row, sc->pbuf);
			y = i < nd ? rt_spec_accept(sc->smp, sc->pbuf,
						    sc->ds ? sc->q + (size_t)i * sc->nv : NULL, d[i],
						    sc->work, &acc)
				   : rt_sampler_draw(sc->smp, sc->pbuf);
			if (y < 0)
				return rt_set_error(-EINVAL, "no token has any probability");
		}
		a += acc;
		*next = y;
		if ((end = emit(sc, y)) != 0 || !acc)
			break;
	}
	sc->st->n_accepted += a;
	/* t and the accepted drafts stay; the rejected ones' KV goes */
	ret = rt_session_truncate(s, base + 1 + a);
	return ret < 0 ? ret : end;
}

static int run(struct spec *sc, const int32_t *ids, int n)
{
	struct rt_session *s = sc->s;
	const int n_ctx = rt_model_n_ctx(s->m);
	int32_t d[RT_SPEC_MAX_DRAFT], t;
	const float *lg;
	double t0 = now_s();
	int ret;

	if ((ret = rt_session_feed(s, ids, n, &lg)) < 0)
		return ret;
	sc->st->t_prompt = now_s() - t0;
	t0 = now_s();
	if (sc->limit <= 0)
		return 0;
	t = rt_sampler_sample(sc->smp, lg);
	ret = emit(sc, t);
	while (ret == 0) {
		/* t is given, not fed; feeding it and k drafts needs room for one more */
		int k = sc->p->n_draft, nd = 0;

		if (s->n_past + 1 >= n_ctx) {
			sc->st->ctx_full = true;
			break;
		}
		if (k > n_ctx - 2 - s->n_past)
			k = n_ctx - 2 - s->n_past;
		if (k > sc->limit - sc->st->n_gen - 1)
			k = sc->limit - sc->st->n_gen - 1;
		if (k > 0 && sc->ds) {
			nd = draft_model(sc, t, k, d);
		} else if (k > 0 && sc->p->lookup > 0) {
			/* the history with t appended, in the session's buffer's spare slot */
			s->hist[s->n_past] = t;
			nd = rt_spec_lookup(s->hist, s->n_past + 1, sc->p->lookup, k, d);
		}
		if (nd < 0)
			return nd;
		ret = verify(sc, t, d, nd, &t);
	}
	sc->st->t_gen = now_s() - t0;
	return ret < 0 ? ret : 0;
}

int rt_spec_generate(struct rt_session *s, struct rt_session *ds, const struct rt_spec_params *p,
		     const struct rt_sampler_params *sp, const int32_t *ids, int n, int n_predict,
		     const struct rt_tokenizer *tok, rt_token_fn fn, void *arg,
		     struct rt_spec_stats *st)
{
	struct spec sc = { .s = s, .ds = ds, .p = p, .tok = tok, .fn = fn, .arg = arg, .st = st };
	const int n_ctx = rt_model_n_ctx(s->m);
	int ret;

	memset(st, 0, sizeof(*st));
	sc.nv = rt_model_hparams(s->m)->n_vocab;
	sc.limit = n_predict < 0 ? n_ctx : n_predict;
	if (p->n_draft < 1 || p->n_draft > RT_SPEC_MAX_DRAFT ||
	    p->n_draft + 1 > rt_model_max_logits(s->m) || p->lookup < 0 || !(p->p_min >= 0) ||
	    p->p_min > 1)
		return rt_set_error(-EINVAL, "draft of %d tokens: 1..%d allowed with this batch size "
				    "(and p_min in 0..1)",
				    p->n_draft, rt_model_max_logits(s->m) - 1 < RT_SPEC_MAX_DRAFT ?
				    rt_model_max_logits(s->m) - 1 : RT_SPEC_MAX_DRAFT);
	if (!ds && !p->lookup)
		return rt_set_error(-EINVAL, "speculation needs a draft model or n-gram lookup");
	if (n <= 0 || s->n_past + n > n_ctx)
		return rt_set_error(-ENOSPC, "prompt of %d tokens does not fit the context (%d)",
				    s->n_past + n, n_ctx);
	if (ds && ((ret = rt_spec_check_vocab(s->m, ds->m)) < 0))
		return ret;
	if (ds && rt_model_n_ctx(ds->m) < n_ctx)
		return rt_set_error(-EINVAL, "the draft model's context (%d) is shorter than the model's (%d)",
				    rt_model_n_ctx(ds->m), n_ctx);
	if ((ret = rt_sampler_create(sp, sc.nv, &sc.smp)) < 0)
		return rt_set_error(ret, "bad sampling parameters");
	if (ds) {
		struct rt_sampler_params dp = *sp;

		dp.seed = sp->seed + 0x9e3779b9ULL;	/* its own stream */
		if ((ret = rt_sampler_create(&dp, sc.nv, &sc.dsmp)) < 0)
			goto out;
	}
	for (int i = 0; i < n; i++) {
		rt_sampler_accept(sc.smp, ids[i]);
		if (sc.dsmp)
			rt_sampler_accept(sc.dsmp, ids[i]);
	}
	sc.q = malloc(sizeof(float) * sc.nv * p->n_draft);
	sc.logits = malloc(sizeof(float) * sc.nv * (p->n_draft + 1));
	sc.pbuf = malloc(sizeof(float) * sc.nv);
	sc.work = malloc(sizeof(float) * sc.nv);
	sc.ids = malloc(sizeof(int32_t) * (n_ctx + 1));
	if (!sc.q || !sc.logits || !sc.pbuf || !sc.work || !sc.ids) {
		ret = rt_set_error(-ENOMEM, "out of memory");
		goto out;
	}
	ret = run(&sc, ids, n);
out:
	free(sc.q);
	free(sc.logits);
	free(sc.pbuf);
	free(sc.work);
	free(sc.ids);
	rt_sampler_free(sc.dsmp);
	rt_sampler_free(sc.smp);
	return ret;
}
