// SPDX-License-Identifier: MIT
/*
 * Sessions: a sequence's token history and KV blocks; prefill in n_batch
 * chunks, prefix-cache reuse at the start, publication of full blocks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "model/kvcache.h"
#include "model/model.h"
#include "rt_session.h"

int rt_session_init(struct rt_session *s, struct rt_model *m, int seq)
{
	memset(s, 0, sizeof(*s));
	if (seq < 0 || seq >= m->n_seq)
		return -EINVAL;
	s->m = m;
	s->seq = seq;
	rt_kvcache_clear(m->kv, seq);	/* a fresh sequence owns no blocks */
	s->cap = m->n_ctx;
	s->hist = malloc(sizeof(*s->hist) * s->cap);
	return s->hist ? 0 : -ENOMEM;
}

void rt_session_fini(struct rt_session *s)
{
	if (!s->m)
		return;
	rt_kvcache_clear(s->m->kv, s->seq);
	free(s->hist);
	memset(s, 0, sizeof(*s));
}

int rt_session_reset(struct rt_session *s)
{
	s->n_past = 0;
	s->n_published = 0;
	return rt_kvcache_clear(s->m->kv, s->seq);
}

/* run ids[0..n) at positions n_past.., logits for the rows flagged */
static int run_chunk(struct rt_session *s, const int32_t *ids, int n, bool all, int flags,
		     const float **logits)
{
	struct rt_model *m = s->m;
	int32_t *pos = malloc(sizeof(*pos) * n), *seq = malloc(sizeof(*seq) * n);
	int8_t *want = calloc(n, 1);
	struct rt_batch b = { .n = n, .tokens = ids, .pos = pos, .seq = seq, .logits = want,
			      .flags = flags };
	int ret;

	if (!pos || !seq || !want) {
		ret = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		pos[i] = s->n_past + i;
		seq[i] = s->seq;
		want[i] = all || i == n - 1;
	}
	ret = rt_model_forward(m, &b, logits);
out:
	free(pos);
	free(seq);
	free(want);
	return ret;
}

/*
 * @all: every row's logits there, else *logits = the last row's; @publish:
 * full blocks go to the prefix cache (not for drafted tokens, which
 * rt_session_truncate may take back: a published block is shared and must
 * never be written again)
 */
static int feed(struct rt_session *s, const int32_t *ids, int n, const float **logits, float *all,
		bool publish)
{
	struct rt_model *m = s->m;
	int ret, nv = m->hp.n_vocab;

	if (n <= 0)
		return rt_set_error(-EINVAL, "nothing to feed");
	if (s->n_past + n > m->n_ctx)
		return rt_set_error(-ENOSPC, "context full: %d + %d tokens > %d", s->n_past, n,
				    m->n_ctx);
	/* a fresh sequence first looks for its prefix in the cache */
	if (s->n_past == 0 && !all && publish) {
		ret = rt_kvcache_prefix_reuse(m->kv, s->seq, ids, n);
		if (ret < 0)
			return ret;
		memcpy(s->hist, ids, sizeof(*ids) * ret);
		s->n_past = ret;
		s->n_reused += ret;
		ids += ret;
		n -= ret;
	}
	ret = rt_kvcache_reserve(m->kv, s->seq, s->n_past + n);
	if (ret < 0)
		return ret;
	while (n > 0) {
		int c = n < m->n_batch ? n : m->n_batch;

		if (all && c > rt_model_max_logits(m))
			c = rt_model_max_logits(m);
		/* drafted tokens are verified: their logits must be plain decoding's */
		ret = run_chunk(s, ids, c, all != NULL, publish ? 0 : RT_BATCH_ROW_INVARIANT, logits);
		if (ret < 0)
			return ret;
		if (all) {
			memcpy(all, *logits, sizeof(float) * nv * c);
			all += (size_t)nv * c;
		}
		memcpy(s->hist + s->n_past, ids, sizeof(*ids) * c);
		s->n_past += c;
		ids += c;
		n -= c;
	}
	if (!publish)
		return 0;
	ret = rt_kvcache_prefix_publish(m->kv, s->seq, s->hist, s->n_past);
	if (ret == 0)
		s->n_published = s->n_past - s->n_past % (int)m->kv->block_tokens;
	return ret;
}

int rt_session_feed(struct rt_session *s, const int32_t *ids, int n, const float **logits)
{
	return feed(s, ids, n, logits, NULL, true);
}

int rt_session_feed_all_logits(struct rt_session *s, const int32_t *ids, int n, float *out)
{
	const float *l;

	return feed(s, ids, n, &l, out, true);
}

int rt_session_feed_draft(struct rt_session *s, const int32_t *ids, int n, const float **logits,
			  float *out)
{
	const float *l;

	return feed(s, ids, n, logits ? logits : &l, out, false);
}

int rt_session_truncate(struct rt_session *s, int n_past)
{
	int ret;

	if (n_past < 0 || n_past > s->n_past)
		return rt_set_error(-EINVAL, "truncate to %d positions: the sequence has %d",
				    n_past, s->n_past);
	if (n_past < s->n_published)
		return rt_set_error(-EBUSY, "truncate to %d positions: %d are in published (shared) blocks",
				    n_past, s->n_published);
	s->n_past = n_past;
	/* the positions past n_past are garbage until written again; what is
	 * kept and fills a block is now final */
	ret = rt_kvcache_prefix_publish(s->m->kv, s->seq, s->hist, s->n_past);
	if (ret == 0)
		s->n_published = s->n_past - s->n_past % (int)s->m->kv->block_tokens;
	return ret;
}
