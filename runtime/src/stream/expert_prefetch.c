// SPDX-License-Identifier: MIT
/*
 * MoE expert prefetch: the experts a streamed MoE layer will route to are
 * predicted before its routing has run (those the layer's previous routing
 * chose: the previous token's, as llama.cpp's expert cache work and
 * MoE-Infinity exploit) and read into entries of the expert cache on a COPY
 * queue of their own, while the layers before compute. A prediction only
 * changes what is read early: the routing decides what MOE_FFN uses, a
 * mispredicted expert is read on the miss path (experts.c), and an unused
 * prediction is an ordinary LRU entry once its layer has routed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "stream.h"

/* layers predicted ahead of the one routing now: the reads of layer il + 1
 * run during MOE_FFN of il and the attention of il + 1, those of il + 2 one
 * layer longer (and take cache entries one layer earlier) */
#define RT_EXPERT_PREFETCH_DEPTH 2

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
	return 0;
}

/* predict layer il: keep its predicted experts that are cached, read the
 * others into entries not needed now; -ENOSPC when none is left */
static int predict_layer(struct rt_model *m, int il)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_expert_cache *x = &s->exp;
	const int n_exp = m->hp.n_expert;
	int ents[1024], n_ents = 0, nc = 0, ret = 0;
	uint64_t bytes = 0;

	for (int e = 0; e < n_exp; e++) {
		int key = il * n_exp + e, ent = x->where[key];
		uint64_t b[3], len[3], off;

		if (!x->last[key])
			continue;
		if (x->pred[key] == RT_PRED_NONE) {
			x->pred[key] = RT_PRED_CACHED;
			s->st.expert_predicted++;
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

int rt_expert_prefetch_after(struct rt_model *m, int il)
{
	const struct rt_streamer *s = rt_streamer(m);
	int ret, d = 0;

	for (int l = il + 1; l < m->l1 && d < RT_EXPERT_PREFETCH_DEPTH; l++) {
		if (s->pl.resident[l])
			continue;
		d++;
		ret = predict_layer(m, l);
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
	return rt_expert_prefetch_after(m, m->l0 - 1);
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
