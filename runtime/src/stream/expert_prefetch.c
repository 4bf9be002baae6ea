// SPDX-License-Identifier: MIT
/*
 * MoE expert prefetch: the experts a streamed MoE layer will route to are
 * predicted before its routing has run and read into entries of the expert
 * cache on a COPY queue of their own, while the layers before compute: the
 * next streamed layer's from this layer's normed hidden state routed through
 * the next layer's router (pre-gating, as Pre-gated MoE does; the routers of
 * streamed layers are kept for it), or where no layer before streams (the
 * pass's first), from that layer's previous routing (the previous token's,
 * the locality llama.cpp's expert cache work and MoE-Infinity exploit). A
 * prediction only changes what is read early: the routing decides what
 * MOE_FFN uses, a mispredicted expert is read on the miss path (experts.c),
 * and an unused prediction is an ordinary LRU entry once its layer has
 * routed.
 *
 * Speculation must never slow the reads the routing asks for (the disk is
 * the bottleneck of a streamed MoE model): the predicted experts are read
 * most likely first, in pieces of one submission each, each waiting for the
 * demand reads and slot loads issued before it; at the routing the pieces
 * not started are dropped (accel_queue_cancel), a needed expert's dropped
 * pieces re-read on the demand queue and an unneeded one's entry freed; an
 * entry none of whose read ran goes back to the expert it had evicted.
 * Where that still does not pay, the predictions stop reading (back-off,
 * below). Since MOE_FFN computes by parts as demand reads land, the reads
 * a prediction moves before the routing save little where the disk is busy
 * anyway, while the entries they take evict experts the routing may ask for:
 * on the 4-layer mixtral shape (8 entries: one pass's experts) prediction
 * read 11% more bytes than none and ran 0.81x its tokens/s, on the 8-layer
 * qwen3 shape 0.85-0.89x (its reads almost never started before the
 * routing: only their submissions cost). With the entries given back and
 * the back-off: 0.96-0.99x in accel-bench stream -n 48, about even in
 * accel-run -n 64 (10.3-10.7 tokens/s without, 11.1-11.2 with on qwen3).
 * Measured earlier, before MOE_FFN by parts, on a 4-layer mixtral-8x7b-shape
 * q4_0 model under --mem-budget 1G, 2 cores: the whole prediction in one
 * submission beside the demand reads read 44% more bytes and made the
 * demand reads wait behind it (a miss into an entry being prefetched waited
 * for the whole prediction): 0.67x the tokens/s of no prediction; in pieces
 * 1.02-1.06x (1.08x at 1.5G, 1.22x on an 8-layer qwen3-30b-a3b shape), the
 * compute's wait for routed experts 400 -> 250-350 ms a token, decode
 * passes' I/O busy 0.5 -> 0.75-0.9.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "stream.h"

/* streamed layers predicted ahead of the one routing now: their reads run
 * during MOE_FFN of this layer and the attention of the next. Two (the one
 * after from its previous routing, near chance on random weights) read 50%
 * more on a 4-layer mixtral-8x7b-shape model, half of it wasted, and were
 * slower where the disk is the bottleneck */
#define RT_EXPERT_PREFETCH_DEPTH 1

/* bytes of one speculative read: what may still be read after the routing
 * has dropped the rest, sharing the disk with the demand reads then issued
 * (1 ms at 2 GB/s) */
#define RT_SPEC_PIECE (2ULL << 20)

/*
 * Back-off. A prediction's read pays where the disk would idle before the
 * routing (the read of a routed expert moved there); it costs where its
 * entry held an expert the routing then asks for again (a cache sized for
 * one pass's experts has no entry to spare). Both are counted in bytes over
 * a window of passes; where the lost bytes reach the useful ones (none:
 * the reads never started before the routing, only their submissions cost)
 * the predictions go on without reads for a back-off that doubles while
 * they keep losing, then a window reads again. Without reads they still
 * count their hit rate and keep what they predict: a miss evicts a cached
 * expert predicted for a later layer last (rt_experts_take).
 */
#define RT_SPEC_WINDOW		8
#define RT_SPEC_BACKOFF_MIN	16
#define RT_SPEC_BACKOFF_MAX	512

/* the routers of streamed MoE layers after the first, in a pageable pool
 * outside the budget (F32 dim x n_expert: 128 KiB a layer for Mixtral-8x7B,
 * 1 MiB for Qwen3-30B-A3B): pre-gating routes through layer il + 1's router
 * before that layer's slot has landed */
static int keep_routers(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts, .flags = ACCEL_POOL_PAGEABLE);
	uint64_t off = 0;
	int ret;

	x->routers = calloc(m->hp.n_layer, sizeof(*x->routers));
	if (!x->routers)
		return -ENOMEM;
	for (int il = m->l0 + 1; il < m->l1; il++) {
		const struct accel_tensor *t = &m->layers_file[il].gate_inp;

		if (!s->pl.resident[il] && !s->pl.resident[il - 1])
			po.size += rt_span(t->offset, t->offset + rt_tensor_nbytes(t));
	}
	if (!po.size)
		return 0;
	if ((ret = accel_pool_create(m->dev, &po, &x->router_pool)) < 0)
		return rt_set_error(ret, "cannot keep the MoE routers: %s", strerror(-ret));
	for (int il = m->l0 + 1; il < m->l1; il++) {
		const struct accel_tensor *t = &m->layers_file[il].gate_inp;
		uint64_t b = t->offset, e = b + rt_tensor_nbytes(t);

		if (s->pl.resident[il] || s->pl.resident[il - 1])
			continue;
		if ((ret = rt_model_read_sync(m, x->router_pool, off, b, e)) < 0)
			return ret;
		x->routers[il] = *t;
		x->routers[il].pool = x->router_pool;
		x->routers[il].offset = off + (b & (RT_PAGE - 1));
		off += rt_span(b, e);
	}
	return 0;
}

int rt_expert_prefetch_pregate(struct rt_model *m, int il, struct accel_tensor *router)
{
	struct rt_expert_cache *x = &rt_streamer(m)->exp;

	if (!x->prefetch || il + 1 >= m->l1 || !x->routers[il + 1].ne[0])
		return 0;
	*router = x->routers[il + 1];
	x->pregated = il + 1;
	return 1;
}

/* the most pieces one layer's prediction submits */
static int max_pieces(const struct rt_model *m)
{
	uint64_t b[3], len[3];
	int most = 0;

	for (int il = m->l0; il < m->l1; il++) {
		int n = 0;

		rt_experts_slices(m, il, 0, b, len);
		for (int j = 0; j < 3; j++)
			n += (int)(rt_span(b[j], b[j] + len[j]) / RT_SPEC_PIECE) + 1;
		if (n > most)
			most = n;
	}
	return most * m->hp.n_expert;
}

int rt_expert_prefetch_setup(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY,
						.depth = RT_SPEC_COPY_DEPTH);
	size_t n_keys = (size_t)m->hp.n_layer * m->hp.n_expert;
	int ret;

	if (!m->moe_prefetch)
		return 0;
	x->max_spec = max_pieces(m);
	x->entry_ready = calloc(s->pl.n_expert_entries, sizeof(*x->entry_ready));
	x->entry_prev = malloc(sizeof(*x->entry_prev) * s->pl.n_expert_entries);
	x->entry_prev_used = calloc(s->pl.n_expert_entries, sizeof(*x->entry_prev_used));
	x->evicted = calloc(n_keys, 1);
	x->pred = calloc(n_keys, 1);
	x->last = calloc(n_keys, sizeof(*x->last));
	x->spec = calloc(x->max_spec, sizeof(*x->spec));
	x->pcmds = calloc((size_t)2 * x->max_spec, sizeof(*x->pcmds));
	if (!x->entry_ready || !x->entry_prev || !x->entry_prev_used || !x->evicted || !x->pred ||
	    !x->last || !x->spec || !x->pcmds)
		return -ENOMEM;
	for (int i = 0; i < s->pl.n_expert_entries; i++)
		x->entry_prev[i] = -1;
	if ((ret = accel_queue_create(m->dev, &qo, &x->pcopy)) < 0)
		return rt_set_error(ret, "cannot create the expert prefetch queue: %s",
				    strerror(-ret));
	if ((ret = accel_fence_create(m->dev, &x->pfence)) < 0)
		return ret;
	x->prefetch = true;
	x->pregated = -1;
	x->backoff = RT_SPEC_BACKOFF_MIN;
	return keep_routers(m);
}

/* read [b, e) of expert key into the cache at pool_off (b's page) as one
 * submission after the demand reads issued so far */
static int submit_piece(struct rt_model *m, int key, int ent, uint64_t pool_off, uint64_t b,
			uint64_t e)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	struct accel_fence_point wait[2], sig = { x->pfence, x->ppoint + 1 };
	struct rt_spec_piece *p;
	struct accel_cmd cmd[2];
	uint32_t nw = 0;
	int n, ret;

	/* sized for one layer's experts, and one layer is predicted at a time;
	 * never -ENOSPC, which would leave the entry half read */
	if (x->n_spec >= x->max_spec)
		return rt_set_error(-EOVERFLOW, "expert prefetch: more than %d pieces", x->max_spec);
	/* after the demand reads and the slot loads issued so far: the
	 * layers' own tensors and the output head come before a guess (a
	 * qwen3-30b-a3b-shape model's head is half its bytes a token) */
	if (x->point)
		wait[nw++] = (struct accel_fence_point){ x->fence, x->point };
	if (s->slots.issued)
		wait[nw++] = (struct accel_fence_point){ s->slots.load_fence, s->slots.issued };
	n = rt_model_prep_read(m, cmd, x->pool, pool_off, b, e);
	for (int i = 0; i < n; i++)
		accel_cmd_name(&cmd[i], "expert_prefetch", key / m->hp.n_expert);
	ret = accel_queue_submit(x->pcopy, cmd, (uint32_t)n, wait, nw, &sig);
	if (ret < 0)
		return rt_set_error(ret, "expert prefetch refused: %s", strerror(-ret));
	p = &x->spec[x->n_spec++];
	*p = (struct rt_spec_piece){ .key = key, .ent = ent, .pool_off = pool_off, .b = b, .e = e,
				     .bytes = rt_span(b, e), .point = ++x->ppoint };
	s->st.bytes_read += p->bytes;
	s->st.expert_prefetch_bytes += p->bytes;
	return 0;
}

/* predict layer il's experts order[0..cnt) (most likely first): keep those
 * cached, read the others into entries not needed now; -ENOSPC when none
 * is left */
static int predict_layer(struct rt_model *m, int il, const int *order, int cnt, bool gated)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	const int n_exp = m->hp.n_expert;

	for (int i = 0; i < cnt; i++) {
		int key = il * n_exp + order[i], ent = x->where[key], ret;
		uint64_t b[3], len[3], off;

		if (x->pred[key] == RT_PRED_NONE) {
			x->pred[key] = RT_PRED_CACHED;
			s->st.expert_predicted++;
			s->st.expert_pregated += gated;
		}
		if (ent >= 0 || x->off_left)	/* cached, read ahead, or backed off */
			continue;
		ent = rt_experts_take(m, key, true);
		if (ent < 0)		/* the rest is read on the miss path */
			return -ENOSPC;
		x->pred[key] = RT_PRED_READ;
		rt_experts_slices(m, il, order[i], b, len);
		off = (uint64_t)ent * s->pl.expert_entry_bytes;
		for (int j = 0; j < 3; j++) {
			uint64_t e = b[j] + len[j], ab = b[j] & ~(RT_PAGE - 1);

			for (uint64_t pb = b[j], pe; pb < e; pb = pe) {
				pe = (pb & ~(RT_PAGE - 1)) + RT_SPEC_PIECE;
				if (pe > e)
					pe = e;
				ret = submit_piece(m, key, ent, off + ((pb & ~(RT_PAGE - 1)) - ab), pb, pe);
				if (ret < 0)
					return ret;
			}
			off += rt_span(b[j], e);
		}
		x->entry_ready[ent] = x->ppoint;
	}
	return 0;
}

/* experts with weight w[e] > 0 into order[], heaviest first; at most @most */
static int by_weight(const float *w, int n_exp, int most, int *order)
{
	int cnt = 0;

	for (int e = 0; e < n_exp; e++) {
		int i;

		if (!(w[e] > 0))
			continue;
		i = cnt++;
		while (i > 0 && w[order[i - 1]] < w[e]) {
			order[i] = order[i - 1];
			i--;
		}
		order[i] = e;
	}
	return cnt < most ? cnt : most;
}

int rt_expert_prefetch_after(struct rt_model *m, int il, int n)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	const int n_exp = m->hp.n_expert, k = m->hp.n_expert_used;
	const int pk = rt_pregate_k(n_exp, k);
	float gated[1024];
	int order[1024], ret, d = 0;

	for (int l = il + 1; l < m->l1 && d < RT_EXPERT_PREFETCH_DEPTH; l++) {
		const float *w = x->last + (size_t)l * n_exp;
		int cnt;

		if (s->pl.resident[l])
			continue;
		d++;
		if (l == x->pregated) {		/* routed through l's router by now */
			const int32_t *ids = rt_tensor_ptr(&m->moe_pred_ids);
			const float *pw = rt_tensor_ptr(&m->moe_pred_w);

			memset(gated, 0, sizeof(gated[0]) * n_exp);
			for (int i = 0; i < n * pk; i++)
				if (ids[i] >= 0 && ids[i] < n_exp)
					gated[ids[i]] += pw[i] > 0 ? pw[i] : 1e-6f;
			x->pregated = -1;
			cnt = by_weight(gated, n_exp, n_exp, order);
			ret = predict_layer(m, l, order, cnt, true);
		} else {
			/* the previous routing, which may have been a prompt's: a
			 * token's share of it, the heaviest */
			cnt = by_weight(w, n_exp, k, order);
			ret = predict_layer(m, l, order, cnt, false);
		}
		if (ret == -ENOSPC)	/* every entry is needed or predicted */
			return 0;
		if (ret < 0)
			return ret;
	}
	/* the pass's last streamed layer has routed: the next pass's first
	 * one, from the routing it just had, is read while this one's
	 * MOE_FFN, the output head and the sampling run (the disk idled 60-80
	 * ms a token there) */
	for (int l = m->l0; !d && n > 0 && l <= il; l++) {
		int cnt;

		if (s->pl.resident[l])
			continue;
		cnt = by_weight(x->last + (size_t)l * n_exp, n_exp, k, order);
		x->ahead = true;
		ret = predict_layer(m, l, order, cnt, false);
		return ret == -ENOSPC ? 0 : ret;
	}
	return 0;
}

/* give a prediction's entry back: to the expert it evicted where nothing of
 * the prediction's read ran (that expert's bytes are still there, whole),
 * else free */
static void give_back(struct rt_streamer *s, const struct rt_spec_piece *p, bool ran)
{
	struct rt_expert_cache *x = &s->exp;
	int prev = x->entry_prev[p->ent];

	x->where[p->key] = -1;
	x->entry_key[p->ent] = -1;
	x->entry_used[p->ent] = 0;
	x->entry_prev[p->ent] = -1;
	if (!ran && prev >= 0 && x->where[prev] < 0) {
		x->evicted[prev] = 0;
		x->where[prev] = p->ent;
		x->entry_key[p->ent] = prev;
		x->entry_used[p->ent] = x->entry_prev_used[p->ent];
		s->st.expert_restored++;
	}
}

/*
 * drop the speculative reads not started. A prediction none of whose read
 * ran gives its entry back to the expert it evicted; if layer il's routing
 * needs[] it (NULL: none), the miss path reads it like any other miss, into
 * the victim a miss would take (a cached expert the routing also chose is
 * never one: on a mixtral-8x7b shape, 8 entries, predictions evicted the
 * layer's own cached experts and read 11% more bytes a token than no
 * prediction). One that ran in part: a needed one's dropped pieces re-read
 * on the demand queue, one submission per expert (points[e]: its point); an
 * unneeded one's entry freed, what ran of it wasted.
 */
static int settle(struct rt_model *m, int il, const bool *need, uint64_t *points)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	const int n_exp = m->hp.n_expert;
	int dropped = accel_queue_cancel(x->pcopy), first, nc = 0, ret;
	uint64_t bytes = 0;

	if (dropped < 0)
		return rt_set_error(dropped, "cannot cancel expert prefetches: %s",
				    strerror(-dropped));
	if (dropped > x->n_spec)	/* all ours: nothing else uses the queue */
		dropped = x->n_spec;
	first = x->n_spec - dropped;
	/* an entry is ready once its last piece that runs has run */
	for (int i = 0; i < x->n_spec; i++)
		x->entry_ready[x->spec[i].ent] = 0;
	for (int i = 0; i < first; i++) {
		const struct rt_spec_piece *p = &x->spec[i];

		x->entry_ready[p->ent] = p->point;
		if (need && p->key / n_exp == il && need[p->key % n_exp])
			x->win_useful += p->bytes;
	}
	for (int i = first; i < x->n_spec; i++) {
		struct rt_spec_piece *p = &x->spec[i];
		bool needed = need && p->key / n_exp == il && need[p->key % n_exp];
		/* an expert's pieces follow each other, in order */
		bool ran = first > 0 && x->spec[first - 1].key == p->key;

		s->st.bytes_read -= p->bytes;
		s->st.expert_prefetch_bytes -= p->bytes;
		s->st.expert_cancelled_bytes += p->bytes;
		if (x->where[p->key] != p->ent)
			continue;	/* evicted before its layer routed */
		if (needed && ran) {
			int c0 = nc;

			nc += rt_model_prep_read(m, x->pcmds + nc, x->pool, p->pool_off, p->b, p->e);
			while (c0 < nc)
				accel_cmd_name(&x->pcmds[c0++], "expert_weights", il);
			bytes += p->bytes;
			/* its MOE_FFN part waits for its own re-read only */
			if (i + 1 < x->n_spec && x->spec[i + 1].key == p->key)
				continue;
			ret = accel_queue_submit(x->copy, x->pcmds, (uint32_t)nc, NULL, 0,
						 &(struct accel_fence_point){ x->fence, x->point + 1 });
			if (ret < 0)
				return rt_set_error(ret, "expert reads refused: %s", strerror(-ret));
			points[p->key % n_exp] = ++x->point;
			s->st.bytes_read += bytes;
			bytes = 0;
			nc = 0;
			continue;
		}
		if (!needed) {
			for (int j = 0; j < first; j++)
				if (x->spec[j].key == p->key)
					s->st.expert_wasted_bytes += x->spec[j].bytes;
			x->pred[p->key] = RT_PRED_CACHED;
		}
		give_back(s, p, ran);
	}
	x->n_spec = 0;
	return 0;
}

int rt_expert_prefetch_begin(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	size_t n_keys = (size_t)m->hp.n_layer * m->hp.n_expert;
	int ret;

	if (!x->prefetch)
		return 0;
	if (x->ahead) {		/* predicted at the last pass's end */
		x->ahead = false;
		x->stamp++;
		x->pregated = -1;
		return 0;
	}
	/* what a failed pass predicted and never routed */
	if ((ret = settle(m, -1, NULL, NULL)) < 0)
		return ret;
	for (size_t k = 0; k < n_keys; k++) {
		if (x->pred[k] == RT_PRED_READ)
			s->st.expert_wasted_bytes += rt_experts_read_bytes(m, (int)k);
		x->pred[k] = RT_PRED_NONE;
	}
	x->stamp++;
	x->pregated = -1;
	return rt_expert_prefetch_after(m, m->l0 - 1, 0);
}

int rt_expert_prefetch_resolve(struct rt_model *m, int il, const bool *need, const float *w,
			       uint64_t *points)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	const int n_exp = m->hp.n_expert;
	int ret = settle(m, il, need, points);

	if (ret < 0)
		return ret;
	for (int e = 0; e < n_exp; e++) {
		int key = il * n_exp + e;

		/* an expert a prediction's read evicted, asked for again */
		if (x->evicted[key] && need[e] && x->where[key] < 0)
			x->win_lost += rt_experts_read_bytes(m, key);
		x->evicted[key] = 0;
		if (need[e] && x->pred[key])
			s->st.expert_predict_hits++;
		else if (need[e])
			s->st.expert_predict_missed++;
		else if (x->pred[key] == RT_PRED_READ)
			s->st.expert_wasted_bytes += rt_experts_read_bytes(m, key);
		x->pred[key] = RT_PRED_NONE;
		x->last[key] = need[e] ? w[e] : 0.0f;
	}
	return 0;
}

void rt_expert_prefetch_end(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;

	/* the last layer's entries were stamped for its MOE_FFN: between
	 * passes no entry is reserved */
	x->stamp++;
	if (!x->prefetch)
		return;
	if (x->off_left) {
		s->st.expert_spec_off_passes++;
		x->off_left--;
		return;
	}
	if (++x->win_passes < RT_SPEC_WINDOW)
		return;
	if (x->win_lost >= x->win_useful) {
		x->off_left = x->backoff;
		s->st.expert_backoffs++;
		if (x->backoff < RT_SPEC_BACKOFF_MAX)
			x->backoff *= 2;
	} else {
		x->backoff = RT_SPEC_BACKOFF_MIN;
	}
	s->st.expert_useful_bytes += x->win_useful;
	s->st.expert_lost_bytes += x->win_lost;
	x->win_useful = x->win_lost = 0;
	x->win_passes = 0;
}
