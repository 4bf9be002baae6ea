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
 * MOE_FFN uses, a
 * mispredicted expert is read on the miss path (experts.c), and an unused
 * prediction is an ordinary LRU entry once its layer has routed.
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

int rt_expert_prefetch_setup(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY);
	size_t n_keys = (size_t)m->hp.n_layer * m->hp.n_expert;
	int ret;

	if (!m->moe_prefetch)
		return 0;
	x->entry_ready = calloc(s->pl.n_expert_entries, sizeof(*x->entry_ready));
	x->pred = calloc(n_keys, 1);
	x->last = calloc(n_keys, 1);
	x->pcmds = calloc((size_t)6 * m->hp.n_expert, sizeof(*x->pcmds));
	if (!x->entry_ready || !x->pred || !x->last || !x->pcmds)
		return -ENOMEM;
	if ((ret = accel_queue_create(m->dev, &qo, &x->pcopy)) < 0)
		return rt_set_error(ret, "cannot create the expert prefetch queue: %s",
				    strerror(-ret));
	if ((ret = accel_fence_create(m->dev, &x->pfence)) < 0)
		return ret;
	x->prefetch = true;
	x->pregated = -1;
	return keep_routers(m);
}

/* predict layer il's experts want[]: keep those cached, read the others
 * into entries not needed now; -ENOSPC when none is left */
static int predict_layer(struct rt_model *m, int il, const uint8_t *want, bool gated)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	const int n_exp = m->hp.n_expert;
	int ents[1024], n_ents = 0, nc = 0, ret = 0;
	uint64_t bytes = 0;

	for (int e = 0; e < n_exp; e++) {
		int key = il * n_exp + e, ent = x->where[key];
		uint64_t b[3], len[3], off;

		if (!want[e])
			continue;
		if (x->pred[key] == RT_PRED_NONE) {
			x->pred[key] = RT_PRED_CACHED;
			s->st.expert_predicted++;
			s->st.expert_pregated += gated;
		}
		if (ent >= 0)		/* cached, or read ahead already */
			continue;
		ent = rt_experts_take(m, key, true);
		if (ent < 0) {		/* the rest is read on the miss path */
			ret = -ENOSPC;
			break;
		}
		rt_experts_slices(m, il, e, b, len);
		off = (uint64_t)ent * s->pl.expert_entry_bytes;
		for (int j = 0; j < 3; j++) {
			int c0 = nc;

			nc += rt_model_prep_read(m, x->pcmds + nc, x->pool, off, b[j], b[j] + len[j]);
			while (c0 < nc)
				accel_cmd_name(&x->pcmds[c0++], "expert_prefetch", il);
			bytes += rt_span(b[j], b[j] + len[j]);
			off += rt_span(b[j], b[j] + len[j]);
		}
		x->pred[key] = RT_PRED_READ;
		ents[n_ents++] = ent;
	}
	if (nc) {
		struct accel_fence_point sig = { x->pfence, ++x->ppoint };
		int r = accel_queue_submit(x->pcopy, x->pcmds, (uint32_t)nc, NULL, 0, &sig);

		if (r < 0)
			return rt_set_error(r, "expert prefetch refused: %s", strerror(-r));
		for (int i = 0; i < n_ents; i++)
			x->entry_ready[ents[i]] = x->ppoint;
		s->st.bytes_read += bytes;
		s->st.expert_prefetch_bytes += bytes;
	}
	return ret;
}

int rt_expert_prefetch_after(struct rt_model *m, int il, int n)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	const int n_exp = m->hp.n_expert, k = m->hp.n_expert_used;
	uint8_t gated[1024];
	int ret, d = 0;

	for (int l = il + 1; l < m->l1 && d < RT_EXPERT_PREFETCH_DEPTH; l++) {
		const uint8_t *want = x->last + (size_t)l * n_exp;

		if (s->pl.resident[l])
			continue;
		d++;
		if (l == x->pregated) {		/* routed through l's router by now */
			const int32_t *ids = rt_tensor_ptr(&m->moe_pred_ids);

			memset(gated, 0, (size_t)n_exp);
			for (int i = 0; i < n * k; i++)
				if (ids[i] >= 0 && ids[i] < n_exp)
					gated[ids[i]] = 1;
			want = gated;
			x->pregated = -1;
		}
		ret = predict_layer(m, l, want, want == gated);
		if (ret == -ENOSPC)	/* every entry is needed or predicted */
			return 0;
		if (ret < 0)
			return ret;
	}
	return 0;
}

int rt_expert_prefetch_begin(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	size_t n_keys = (size_t)m->hp.n_layer * m->hp.n_expert;

	if (!x->prefetch)
		return 0;
	/* what a failed pass predicted and never routed */
	for (size_t k = 0; k < n_keys; k++) {
		if (x->pred[k] == RT_PRED_READ)
			s->st.expert_wasted_bytes += rt_experts_read_bytes(m, (int)k);
		x->pred[k] = RT_PRED_NONE;
	}
	x->stamp++;
	x->pregated = -1;
	return rt_expert_prefetch_after(m, m->l0 - 1, 0);
}

void rt_expert_prefetch_resolve(struct rt_model *m, int il, const bool *need)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	const int n_exp = m->hp.n_expert;

	for (int e = 0; e < n_exp; e++) {
		int key = il * n_exp + e;

		if (need[e] && x->pred[key])
			s->st.expert_predict_hits++;
		else if (need[e])
			s->st.expert_predict_missed++;
		else if (x->pred[key] == RT_PRED_READ)
			s->st.expert_wasted_bytes += rt_experts_read_bytes(m, key);
		x->pred[key] = RT_PRED_NONE;
		x->last[key] = need[e];
	}
}

void rt_expert_prefetch_end(struct rt_model *m)
{
	/* the last layer's entries were stamped for its MOE_FFN: between
	 * passes no entry is reserved */
	rt_streamer(m)->exp.stamp++;
}
