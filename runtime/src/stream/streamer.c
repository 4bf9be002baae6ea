// SPDX-License-Identifier: MIT
/*
 * Streamed weights behind the model's weights hooks: placement decides
 * which units stay resident (read once into res_pool at setup) and the rest
 * go through the slot ring; the embedding and MoE experts come on demand
 * where placement says so. Setup, the hooks and the statistics.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "rt_gguf.h"
#include "stream.h"

static int place_tensor(struct rt_model *m, struct accel_tensor *t, const char *name,
			uint64_t *off)
{
	struct rt_streamer *s = rt_streamer(m);
	const struct rt_gguf_tensor *gt = rt_gguf_find_tensor(m->gguf, name);
	int ret;

	if (!gt)
		return 0;
	ret = rt_model_read_sync(m, s->res_pool, *off, gt->offset, gt->offset + gt->size);
	if (ret < 0)
		return ret;
	t->pool = s->res_pool;
	t->offset = *off + (gt->offset & (RT_PAGE - 1));
	*off += rt_span(gt->offset, gt->offset + gt->size);
	return 0;
}

/* read the resident units and the small globals into res_pool */
static int setup_resident(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_placement *p = &s->pl;
	const struct rt_gguf_tensor *emb = rt_gguf_find_tensor(m->gguf, "token_embd.weight");
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts,
					       .flags = ACCEL_POOL_HUGEPAGE | ACCEL_POOL_PRIVATE);
	uint64_t off = 0, b, e;
	int ret, head = m->hp.n_layer, nu = p->n_units;

	po.size = p->resident_bytes + 4 * RT_PAGE;
	if (p->embed_resident && m->embeds && m->hp.tied_output && m->has_head &&
	    !p->resident[head])
		po.size += rt_span(emb->offset, emb->offset + emb->size);
	ret = rt_model_pool_create(m, &po, &s->res_pool, "the resident weights");
	if (ret < 0)
		return ret;
	if ((ret = place_tensor(m, &m->output_norm, "output_norm.weight", &off)) < 0 ||
	    (ret = place_tensor(m, &m->freq_factors, "rope_freqs.weight", &off)) < 0)
		return ret;
	if (p->embed_resident && m->embeds &&
	    (!m->hp.tied_output || !m->has_head || !p->resident[head]))
		if ((ret = place_tensor(m, &m->tok_embd, "token_embd.weight", &off)) < 0)
			return ret;
	for (int u = 0; u < nu; u++) {
		if (!p->resident[u] || !rt_model_unit_used(m, u))
			continue;
		rt_unit_range(m, u, &b, &e);
		if ((ret = rt_model_read_sync(m, s->res_pool, off, b, e)) < 0)
			return ret;
		if (u < head) {
			rt_model_rebind_layer(m, u, s->res_pool, off + (b & (RT_PAGE - 1)));
		} else {
			m->head[u - head] = rt_head_chunk(m, u - head, s->res_pool,
							  off + (b & (RT_PAGE - 1)));
			if (m->hp.tied_output)	/* one chunk: the embedding itself */
				m->tok_embd = m->head[0];
		}
		off += rt_span(b, e);
	}
	return 0;
}

static int stream_embed(struct rt_model *m, const struct rt_batch *b, struct accel_tensor *w,
			struct accel_tensor *ids)
{
	if (!rt_streamer(m)->pl.embed_resident)
		return rt_embed_rows_read(m, b, w, ids);
	*w = m->tok_embd;
	*ids = accel_tensor_make(m->act, m->tokens.offset, ACCEL_DTYPE_I32, b->n, 1, 1, 1);
	return 0;
}

static int stream_bind(struct rt_model *m, int u)
{
	struct rt_streamer *s = rt_streamer(m);
	int ret;

	/* a pass begins: its first MoE layers' predicted experts */
	if (u == m->l0 && s->exp.pool && (ret = rt_expert_prefetch_begin(m)) < 0)
		return ret;
	return s->pl.resident[u] ? 0 : rt_slots_bind(m, u);
}

static int stream_experts(struct rt_model *m, int il, int n, struct rt_experts *e)
{
	const struct rt_layer *l = &m->layers[il];

	memset(e, 0, sizeof(*e));
	if (!rt_streamer(m)->pl.resident[il])
		return rt_experts_stream(m, il, n, e);
	e->gate = l->gate_exps;
	e->up = l->up_exps;
	e->down = l->down_exps;
	return 0;
}

static int stream_pregate(struct rt_model *m, int il, struct accel_tensor *router)
{
	return rt_streamer(m)->exp.pool ? rt_expert_prefetch_pregate(m, il, router) : 0;
}

static int stream_release(struct rt_model *m, int u)
{
	return rt_streamer(m)->pl.resident[u] ? 0 : rt_slots_release(m);
}

/* the next pass's first loads can start while the host samples */
static int stream_end(struct rt_model *m)
{
	if (rt_streamer(m)->exp.pool)
		rt_expert_prefetch_end(m);
	return rt_slots_prefetch(m);
}

static int stream_check(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);
	int ret = accel_queue_error(m->copy);

	if (ret == 0 && s->embed.copy)
		ret = accel_queue_error(s->embed.copy);
	if (ret == 0 && s->exp.copy)
		ret = accel_queue_error(s->exp.copy);
	if (ret == 0 && s->exp.pcopy)
		ret = accel_queue_error(s->exp.pcopy);
	if (ret < 0)
		return rt_set_error(ret, "streaming weights from %s failed: %s", rt_gguf_path(m->gguf),
				    strerror(-ret));
	return 0;
}

static void stream_destroy(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);

	rt_slots_fini(m);
	rt_embed_rows_fini(m);
	rt_experts_fini(m);
	accel_pool_destroy(s->res_pool);
	rt_placement_free(&s->pl);
	free(s);
	m->wpriv = NULL;
	m->wops = NULL;
}

static const struct rt_weights_ops stream_ops = {
	.embed = stream_embed,
	.bind = stream_bind,
	.experts = stream_experts,
	.pregate = stream_pregate,
	.release = stream_release,
	.end = stream_end,
	.check = stream_check,
	.destroy = stream_destroy,
};

int rt_stream_setup(struct rt_model *m, uint64_t budget)
{
	struct rt_streamer *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = rt_placement_plan(m, budget, &s->pl);
	if (ret < 0 || !s->pl.n_slots) {	/* an error, or everything fits: resident */
		rt_placement_free(&s->pl);
		free(s);
		return ret;
	}
	/* from here on the model's teardown undoes whatever setup did */
	m->wpriv = s;
	m->wops = &stream_ops;
	s->st.direct = m->direct;
	if ((ret = setup_resident(m)) < 0)
		return ret;
	if (!s->pl.embed_resident && (ret = rt_embed_rows_setup(m)) < 0)
		return ret;
	if (s->pl.n_expert_entries && (ret = rt_experts_setup(m)) < 0)
		return ret;
	return rt_slots_setup(m);
}

struct rt_streamer *rt_stream_of(const struct rt_model *m)
{
	const struct rt_weights_ops *ops = m->vram ? m->host_wops : m->wops;

	return ops == &stream_ops ? rt_streamer(m) : NULL;
}

struct accel_queue *rt_stream_embed_queue(const struct rt_model *m)
{
	struct rt_streamer *s = rt_stream_of(m);

	return s ? s->embed.copy : NULL;
}

/* the expert cache's occupancy now */
static void expert_counts(const struct rt_streamer *s, const struct rt_model *m,
			  struct rt_stream_stats *st)
{
	const struct rt_expert_cache *x = &s->exp;
	size_t n_keys = (size_t)m->hp.n_layer * m->hp.n_expert;

	st->expert_entries = x->pool ? s->pl.n_expert_entries : 0;
	st->expert_pending = 0;
	st->expert_reserved = 0;
	for (size_t k = 0; x->pred && k < n_keys; k++)
		st->expert_pending += x->pred[k] != RT_PRED_NONE;
	for (int i = 0; i < st->expert_entries; i++)
		st->expert_reserved += x->entry_used[i] == x->stamp ||
			(x->pred && x->entry_key[i] >= 0 && x->pred[x->entry_key[i]]);
}

int rt_stream_stats(const struct rt_model *m, struct rt_stream_stats *st,
		    struct rt_placement *pl)
{
	struct rt_streamer *s = rt_stream_of(m);
	struct accel_queue_stats qs;

	if (!s)
		return -ENOENT;
	if (st) {
		*st = s->st;
		if (accel_queue_stats(m->copy, &qs) == 0)
			st->io_ns = qs.busy_ns;
		/* expert reads have their own queue (MoE), busy at the same time */
		if (s->exp.copy && accel_queue_stats(s->exp.copy, &qs) == 0)
			st->expert_io_ns = qs.busy_ns;
		if (accel_queue_stats(m->compute, &qs) == 0)
			st->compute_ns = qs.busy_ns;
		expert_counts(s, m, st);
	}
	if (pl)
		*pl = s->pl;	/* arrays stay owned by the model */
	return 0;
}
