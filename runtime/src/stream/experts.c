// SPDX-License-Identifier: MIT
/*
 * MoE expert streaming: a streamed MoE layer's slot holds only its
 * non-expert tensors; after its routing has run, the experts it chose are
 * made resident in an LRU cache of entries (hits keep their entry, misses
 * evict the least recently used entry not needed now and are read on a COPY
 * queue of their own, a submission each), and MOE_FFN finds them through a
 * table of offsets, by parts: the experts already there compute while the
 * misses read, each group once its own reads have landed (blocks.c).
 * The experts predicted for the next layers are read early by
 * expert_prefetch.c into entries of the same cache; a hit on one waits for
 * its read.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "stream.h"

int rt_experts_setup(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	int n_keys = m->hp.n_layer * m->hp.n_expert, ne = s->pl.n_expert_entries;
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts,
		.size = (uint64_t)ne * s->pl.expert_entry_bytes,
		.flags = ACCEL_POOL_HUGEPAGE | ACCEL_POOL_PRIVATE);
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY,
						.depth = RT_COPY_DEPTH);
	int ret;

	x->entry_key = malloc(sizeof(*x->entry_key) * ne);
	x->entry_used = calloc(ne, sizeof(*x->entry_used));
	x->where = malloc(sizeof(*x->where) * n_keys);
	x->cmds = calloc((size_t)6 * m->hp.n_expert, sizeof(*x->cmds));
	if (!x->entry_key || !x->entry_used || !x->where || !x->cmds)
		return -ENOMEM;
	for (int i = 0; i < ne; i++)
		x->entry_key[i] = -1;
	for (int i = 0; i < n_keys; i++)
		x->where[i] = -1;
	ret = rt_model_pool_create(m, &po, &x->pool, "the expert cache");
	if (ret < 0)
		return ret;
	if ((ret = rt_expert_prefetch_setup(m)) < 0)
		return ret;
	po = ACCEL_OPTS(accel_pool_opts,
			.size = ((uint64_t)m->hp.n_expert * 24 + RT_PAGE - 1) & ~(RT_PAGE - 1),
			.flags = ACCEL_POOL_PAGEABLE);
	if ((ret = accel_pool_create(m->dev, &po, &x->tab_pool)) < 0)
		return ret;
	if ((ret = accel_queue_create(m->dev, &qo, &x->copy)) < 0)
		return rt_set_error(ret, "cannot create the expert copy queue: %s", strerror(-ret));
	return accel_fence_create(m->dev, &x->fence);
}

void rt_experts_fini(struct rt_model *m)
{
	struct rt_expert_cache *x = &rt_streamer(m)->exp;

	/* both queues drain before the pool they write and the fences they
	 * wait on go; misses may wait on prefetch points */
	accel_queue_destroy(x->pcopy);
	accel_queue_destroy(x->copy);
	accel_pool_destroy(x->pool);
	accel_pool_destroy(x->tab_pool);
	accel_fence_destroy(x->fence);
	accel_fence_destroy(x->pfence);
	accel_pool_destroy(x->router_pool);
	free(x->routers);
	free(x->entry_ready);
	free(x->entry_prev);
	free(x->entry_prev_used);
	free(x->evicted);
	free(x->pred);
	free(x->last);
	free(x->pcmds);
	free(x->spec);
	free(x->entry_key);
	free(x->entry_used);
	free(x->where);
	free(x->cmds);
	memset(x, 0, sizeof(*x));
}

void rt_experts_slices(const struct rt_model *m, int il, int e, uint64_t *b, uint64_t *len)
{
	const struct rt_layer *l = &m->layers_file[il];
	const struct accel_tensor *t[3] = { &l->gate_exps, &l->up_exps, &l->down_exps };

	for (int j = 0; j < 3; j++) {
		len[j] = accel_dtype_row_size(t[j]->dtype, t[j]->ne[0]) * (uint64_t)t[j]->ne[1];
		b[j] = t[j]->offset + (uint64_t)e * len[j];
	}
}

uint64_t rt_experts_read_bytes(const struct rt_model *m, int key)
{
	uint64_t b[3], len[3], bytes = 0;

	rt_experts_slices(m, key / m->hp.n_expert, key % m->hp.n_expert, b, len);
	for (int j = 0; j < 3; j++)
		bytes += rt_span(b[j], b[j] + len[j]);
	return bytes;
}

/* entry i holds a prediction whose layer has not routed yet */
static bool pending(const struct rt_expert_cache *x, int i)
{
	return x->pred && x->entry_key[i] >= 0 && x->pred[x->entry_key[i]] != RT_PRED_NONE;
}

/* how many layers after @il layer @l routes next (0: @il itself) */
static int layers_ahead(const struct rt_model *m, int l, int il)
{
	return (l - il + m->hp.n_layer) % m->hp.n_layer;
}

int rt_experts_take(struct rt_model *m, int key, bool prefetch)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	const int n_exp = m->hp.n_expert, il = key / n_exp;
	int victim = -1, old;

	/* the least recently used entry not needed now, one without a pending
	 * prediction first (a prefetch takes no other) */
	for (int i = 0; i < s->pl.n_expert_entries; i++) {
		bool p = pending(x, i);

		if (x->entry_used[i] == x->stamp || (p && prefetch))
			continue;
		if (victim < 0 || (!p && pending(x, victim))) {
			victim = i;
			continue;
		}
		if (p != pending(x, victim))
			continue;
		/*
		 * A prefetch for layer il evicts the expert whose layer routes
		 * last from il on, then the least recently used: by LRU alone
		 * it took layer il's own cached experts, the very ones its
		 * routing may hit (a cache of one pass's experts holds each
		 * layer's from the last token, and il's are the oldest). A
		 * miss is at its layer's routing: its LRU victim is a stale
		 * expert of that layer, whose next use is a pass away.
		 */
		if (prefetch && x->entry_key[i] >= 0 && x->entry_key[victim] >= 0) {
			int a = layers_ahead(m, x->entry_key[i] / n_exp, il);
			int b = layers_ahead(m, x->entry_key[victim] / n_exp, il);

			if (a != b) {
				if (a > b)
					victim = i;
				continue;
			}
		} else if (prefetch && (x->entry_key[i] < 0) != (x->entry_key[victim] < 0)) {
			if (x->entry_key[i] < 0)	/* a free entry first */
				victim = i;
			continue;
		}
		if (x->entry_used[i] < x->entry_used[victim])
			victim = i;
	}
	if (victim < 0)
		return -ENOSPC;
	old = x->entry_key[victim];
	if (x->entry_prev) {
		/* a prediction's expert comes back if nothing of its read runs */
		x->entry_prev[victim] = prefetch ? old : -1;
		x->entry_prev_used[victim] = x->entry_used[victim];
		if (prefetch && old >= 0)
			x->evicted[old] = 1;
	}
	if (old >= 0) {
		x->where[old] = -1;
		/* a prediction's read evicted before its layer routed */
		if (x->pred && x->pred[old] == RT_PRED_READ) {
			s->st.expert_wasted_bytes += rt_experts_read_bytes(m, old);
			x->pred[old] = RT_PRED_CACHED;
		}
	}
	x->entry_key[victim] = key;
	/* a prediction's entry is recent once its layer uses it; unused, it
	 * goes first */
	x->entry_used[victim] = prefetch ? 0 : x->stamp;
	x->where[key] = victim;
	return victim;
}

/* point, or 0 once @f has reached it */
static uint64_t pending_point(struct accel_fence *f, uint64_t point)
{
	uint64_t done = 0;

	return point && accel_fence_query(f, &done) == 0 && done >= point ? 0 : point;
}

/*
 * MOE_FFN by parts: the routed experts (dpt[e], ppt[e]: the points of their
 * demand and prefetch reads, 0 for none) in the order their reads land, in
 * at most RT_MOE_MAX_GROUPS groups: those already resident first, then those
 * that wait only for a prediction's read (the prefetch queue runs in order),
 * then the demand reads in their queue's order.
 */
static void group(const struct rt_model *m, const bool *need, const uint64_t *dpt,
		  const uint64_t *ppt, struct rt_experts *ex)
{
	struct rt_expert_cache *x = &rt_streamer(m)->exp;
	int order[1024], cnt = 0, ready = 0;

	for (int e = 0; e < m->hp.n_expert; e++) {
		int i = cnt++;

		if (!need[e]) {
			cnt--;
			continue;
		}
		while (i > 0 && (dpt[order[i - 1]] > dpt[e] ||
				 (dpt[order[i - 1]] == dpt[e] && ppt[order[i - 1]] > ppt[e]))) {
			order[i] = order[i - 1];
			i--;
		}
		order[i] = e;
		ready += !dpt[e] && !ppt[e];
	}
	ex->n_group = 0;
	for (int i = 0; i < cnt;) {
		struct rt_expert_group *g = &ex->group[ex->n_group++];
		int left = RT_MOE_MAX_GROUPS - ex->n_group + 1;
		/* the resident ones together, the others alone while groups last */
		int take = i < ready ? ready : (cnt - i + left - 1) / left;

		memset(g, 0, sizeof(*g));
		g->wait[0].fence = x->fence;
		g->wait[1].fence = x->pfence;
		for (int j = i; j < i + take; j++) {
			int e = order[j];

			g->set[e / 64] |= 1ULL << (e % 64);
			if (dpt[e] > g->wait[0].point)
				g->wait[0].point = dpt[e];
			if (ppt[e] > g->wait[1].point)
				g->wait[1].point = ppt[e];
		}
		i += take;
	}
}

/* make every routed expert resident, write the table MOE_FFN reads and
 * group the experts by the reads they wait for */
static int fetch(struct rt_model *m, int il, int n, struct rt_experts *ex)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	const int n_exp = m->hp.n_expert, k = m->hp.n_expert_used;
	const int32_t *ids = rt_tensor_ptr(&m->moe_ids);
	const float *wt = rt_tensor_ptr(&m->moe_w);
	int64_t *tab = accel_pool_ptr(x->tab_pool);
	bool need[1024] = { false };
	float w[1024] = { 0 };
	uint64_t dpt[1024] = { 0 }, ppt[1024] = { 0 };
	int ret;

	x->stamp++;
	for (int i = 0; i < k * n; i++) {
		if (ids[i] < 0 || ids[i] >= n_exp)
			return rt_set_error(-EINVAL, "layer %d: router chose expert %d of %d", il, ids[i],
					    n_exp);
		need[ids[i]] = true;
		w[ids[i]] += wt[i] > 0 ? wt[i] : 1e-6f;
	}
	/* the predictions not read yet are dropped before any miss is read;
	 * what a needed one lost is re-read (dpt[e]) */
	if (x->prefetch && (ret = rt_expert_prefetch_resolve(m, il, need, w, dpt)) < 0)
		return ret;
	/* hits first, so that no needed entry is taken as a victim; a hit on
	 * a prediction waits for its read */
	for (int e = 0; e < n_exp; e++) {
		int ent = x->where[il * n_exp + e];

		if (need[e] && ent >= 0) {
			x->entry_used[ent] = x->stamp;
			if (x->entry_ready)
				ppt[e] = pending_point(x->pfence, x->entry_ready[ent]);
			s->st.expert_hits++;
		}
	}
	/* each miss is a submission of its own: its part of MOE_FFN runs
	 * as soon as it has landed */
	for (int e = 0; e < n_exp; e++) {
		int key = il * n_exp + e, ent = x->where[key], victim = -1, nc = 0;
		uint64_t b[3], len[3], off, victim_ready = 0;

		if (!need[e])
			continue;
		if (ent < 0) {
			victim = rt_experts_take(m, key, false);
			if (victim < 0)
				return rt_set_error(-ENOSPC, "expert cache too small for one batch");
			ent = victim;
			/* a prediction's read may still be writing the entry */
			if (x->entry_ready && x->entry_ready[ent]) {
				victim_ready = pending_point(x->pfence, x->entry_ready[ent]);
				x->entry_ready[ent] = 0;
			}
			s->st.expert_misses++;
		}
		rt_experts_slices(m, il, e, b, len);
		off = (uint64_t)ent * s->pl.expert_entry_bytes;
		for (int j = 0; j < 3; j++) {
			if (ent == victim) {
				int c0 = nc;

				nc += rt_model_prep_read(m, x->cmds + nc, x->pool, off, b[j],
							 b[j] + len[j]);
				while (c0 < nc)
					accel_cmd_name(&x->cmds[c0++], "expert_weights", il);
				s->st.bytes_read += rt_span(b[j], b[j] + len[j]);
			}
			tab[e * 3 + j] = (int64_t)(off + (b[j] & (RT_PAGE - 1)));
			off += rt_span(b[j], b[j] + len[j]);
		}
		if (!nc)
			continue;
		ret = accel_queue_submit(x->copy, x->cmds, (uint32_t)nc,
					 &(struct accel_fence_point){ x->pfence, victim_ready },
					 victim_ready ? 1 : 0,
					 &(struct accel_fence_point){ x->fence, x->point + 1 });
		if (ret < 0)
			return rt_set_error(ret, "expert reads refused: %s", strerror(-ret));
		dpt[e] = ++x->point;
	}
	for (int e = 0; e < n_exp; e++)
		if (need[e])
			dpt[e] = pending_point(x->fence, dpt[e]);
	group(m, need, dpt, ppt, ex);
	s->st.expert_layers++;
	s->st.expert_parts += ex->n_group;
	return 0;
}

int rt_experts_stream(struct rt_model *m, int il, int n, struct rt_experts *e)
{
	struct rt_expert_cache *x = &rt_streamer(m)->exp;
	const struct rt_layer *l = &m->layers_file[il];
	int ret;

	/* the host needs the routing to know what to read */
	if ((ret = rt_model_drain(m)) < 0)
		return ret;
	if ((ret = fetch(m, il, n, e)) < 0)
		return ret;
	/*
	 * The layer's own tensors in its slot (attention, norms, router) were
	 * last read by the routing, which has run: the next unit's load takes
	 * the slot now, after the demand reads just issued, so it reads while
	 * the experts compute instead of sharing the disk with the reads they
	 * wait for (on a mixtral-8x7b-shape model a layer's 24M load overlapped
	 * each layer's expert reads). The predictions go after both. A VRAM
	 * tier uploads from the slot on its own schedule: not there.
	 */
	if (!m->vram && (ret = rt_slots_release_early(m,
			&(struct accel_fence_point){ x->fence, x->point })) < 0)
		return ret;
	/* the next layers' predicted experts read while this one computes */
	if (x->prefetch && (ret = rt_expert_prefetch_after(m, il, n)) < 0)
		return ret;
	e->gate = accel_tensor_make(x->pool, 0, l->gate_exps.dtype, l->gate_exps.ne[0],
				    l->gate_exps.ne[1], 1, 1);
	e->up = accel_tensor_make(x->pool, 0, l->up_exps.dtype, l->up_exps.ne[0], l->up_exps.ne[1],
				  1, 1);
	e->down = accel_tensor_make(x->pool, 0, l->down_exps.dtype, l->down_exps.ne[0],
				    l->down_exps.ne[1], 1, 1);
	e->table = accel_tensor_make(x->tab_pool, 0, ACCEL_DTYPE_I64, 3, m->hp.n_expert, 1, 1);
	return 0;
}
