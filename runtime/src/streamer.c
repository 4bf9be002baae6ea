// SPDX-License-Identifier: MIT
/*
 * The streamer: runs a forward pass with the units placement did not keep
 * resident read into a ring of slots by the COPY engine. Load j goes to slot
 * j % K once the compute that last used the slot has signalled slot_fence;
 * the compute of a unit waits on its load's point of load_fence. Everything
 * is submitted up front, loads run ahead of compute by K - 1 units, across
 * passes too; the host waits only for the pass's logits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "kn.h"
#include "rt_error.h"
#include "rt_gguf.h"
#include "rt_model.h"
#include "rt_stream.h"
#include "model_internal.h"

#define PAGE 4096ULL

struct rt_streamer {
	struct rt_placement pl;
	struct accel_pool *res_pool;	/* resident units and small globals */
	struct accel_pool *slot_pool;	/* n_slots * slot_bytes */
	struct accel_pool *embed_pool;	/* on-demand embedding rows */
	struct accel_queue *copy_embed;	/* rows must not queue behind unit loads */
	struct accel_fence *load_fence;	/* point j + 1: load j landed */
	struct accel_fence *slot_fence;	/* point c + 1: compute of consumption c done */
	struct accel_fence *embed_fence;
	uint64_t embed_point;
	int *su;			/* streamed units, in pass order */
	int n_su;
	uint64_t issued, consumed;
	uint64_t raw_stride, row_bytes, packed_off, ids_off;
	struct accel_cmd *ecmds;	/* embedding row reads */
	/* MoE: routed experts stream into an LRU cache of entries */
	struct accel_pool *exp_pool;	/* n_expert_entries * expert_entry_bytes */
	struct accel_pool *tab_pool;	/* the MOE_FFN expert table, I64 [n_expert][3] */
	struct accel_queue *copy_exp;	/* expert reads must not queue behind unit loads */
	struct accel_fence *exp_fence;
	uint64_t exp_point;
	int32_t *entry_key;		/* per entry: layer * n_expert + expert, or -1 */
	uint64_t *entry_used;		/* per entry: LRU stamp */
	int32_t *where;			/* per (layer, expert): its entry, or -1 */
	uint64_t stamp;
	struct accel_cmd *xcmds;
	struct accel_tensor *head;	/* the output head's row chunks, where they are now */
	struct rt_stream_stats st;
};

/* the weight ref of head chunk h at pool offset off (its first byte) */
static struct accel_tensor head_chunk(struct rt_model *m, int h, struct accel_pool *pool,
				      uint64_t off)
{
	int64_t r0, r1;

	rt_head_rows(m, h, &r0, &r1);
	return accel_tensor_make(pool, off, m->output.dtype, m->output.ne[0], r1 - r0, 1, 1);
}

#define MAX_PIECES (RT_LAYER_FIRST_EXPERT)

/* the file ranges a streamed use of unit u reads, packed in order into its
 * slot: the whole unit, or a MoE layer's non-expert tensors */
static int unit_pieces(struct rt_model *m, int u, uint64_t *b, uint64_t *e)
{
	struct accel_tensor *t[RT_LAYER_N_TENSORS];
	int n = 0;

	if (!m->hp.n_expert || u >= m->hp.n_layer) {
		rt_unit_range(m, u, &b[0], &e[0]);
		return 1;
	}
	rt_layer_tensors(&m->layers_file[u], t);
	for (int i = 0; i < RT_LAYER_FIRST_EXPERT; i++) {
		if (!t[i]->ne[0])
			continue;
		b[n] = t[i]->offset;
		e[n] = t[i]->offset + kn_row_size(t[i]->dtype, t[i]->ne[0]) *
				      (uint64_t)(t[i]->ne[1] * t[i]->ne[2] * t[i]->ne[3]);
		n++;
	}
	return n;
}

static uint64_t span(uint64_t b, uint64_t e)
{
	return (e - (b & ~(PAGE - 1)) + PAGE - 1) & ~(PAGE - 1);
}

/* bring [b, e) of the file to pool offset off, synchronously (setup only) */
static int read_sync(struct rt_model *m, struct accel_pool *pool, uint64_t off, uint64_t b,
		     uint64_t e)
{
	struct accel_cmd cmd[2];
	struct accel_fence_point sig = { m->fence, ++m->fence_point };
	int n = rt_model_prep_read(m, cmd, pool, off, b, e), ret;

	ret = accel_queue_submit(m->copy, cmd, (uint32_t)n, NULL, 0, &sig);
	if (ret == 0)
		ret = accel_fence_wait(m->fence, sig.point, -1);
	if (ret == 0)
		ret = accel_queue_error(m->copy);
	return ret;
}

static int place_tensor(struct rt_model *m, struct accel_tensor *t, const char *name,
			uint64_t *off)
{
	const struct rt_gguf_tensor *gt = rt_gguf_find_tensor(m->gguf, name);
	int ret;

	if (!gt)
		return 0;
	ret = read_sync(m, m->stream->res_pool, *off, gt->offset, gt->offset + gt->size);
	if (ret < 0)
		return ret;
	t->pool = m->stream->res_pool;
	t->offset = *off + (gt->offset & (PAGE - 1));
	*off += span(gt->offset, gt->offset + gt->size);
	return 0;
}

static int setup_resident(struct rt_model *m)
{
	struct rt_streamer *s = m->stream;
	struct rt_placement *p = &s->pl;
	const struct rt_gguf_tensor *emb = rt_gguf_find_tensor(m->gguf, "token_embd.weight");
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts, .flags = ACCEL_POOL_HUGEPAGE);
	uint64_t off = 0, b, e;
	int ret, head = m->hp.n_layer, nu = p->n_units;

	po.size = p->resident_bytes + 4 * PAGE;
	if (p->embed_resident && m->hp.tied_output && !p->resident[head])
		po.size += span(emb->offset, emb->offset + emb->size);
	ret = accel_pool_create(m->dev, &po, &s->res_pool);
	if (ret < 0)
		return rt_set_error(ret, "cannot pin %llu MiB of resident weights: %s",
				    (unsigned long long)(po.size >> 20), strerror(-ret));
	if ((ret = place_tensor(m, &m->output_norm, "output_norm.weight", &off)) < 0 ||
	    (ret = place_tensor(m, &m->freq_factors, "rope_freqs.weight", &off)) < 0)
		return ret;
	if (p->embed_resident && (!m->hp.tied_output || !p->resident[head]))
		if ((ret = place_tensor(m, &m->tok_embd, "token_embd.weight", &off)) < 0)
			return ret;
	for (int u = 0; u < nu; u++) {
		if (!p->resident[u])
			continue;
		rt_unit_range(m, u, &b, &e);
		if ((ret = read_sync(m, s->res_pool, off, b, e)) < 0)
			return ret;
		if (u < head) {
			rt_model_rebind_layer(m, u, s->res_pool, off + (b & (PAGE - 1)));
		} else {
			s->head[u - head] = head_chunk(m, u - head, s->res_pool, off + (b & (PAGE - 1)));
			if (m->hp.tied_output)	/* one chunk: the embedding itself */
				m->tok_embd = m->output = s->head[0];
		}
		off += span(b, e);
	}
	return 0;
}

static int setup_embed(struct rt_model *m)
{
	struct rt_streamer *s = m->stream;
	const struct rt_gguf_tensor *emb = rt_gguf_find_tensor(m->gguf, "token_embd.weight");
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts, .flags = 0);
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY,
						.depth = 64, .chunk = 64 << 10);
	int ret;

	s->row_bytes = kn_row_size(emb->type, emb->ne[0]);
	s->raw_stride = (s->row_bytes + 2 * PAGE - 1) & ~(PAGE - 1);
	s->packed_off = s->raw_stride * m->n_batch;
	s->ids_off = s->packed_off + ((s->row_bytes * m->n_batch + 63) & ~63ULL);
	po.size = (s->ids_off + 4ULL * m->n_batch + PAGE - 1) & ~(PAGE - 1);
	ret = accel_pool_create(m->dev, &po, &s->embed_pool);
	if (ret < 0)
		return rt_set_error(ret, "cannot allocate embedding staging: %s", strerror(-ret));
	s->ecmds = calloc((size_t)m->n_batch * 3, sizeof(*s->ecmds));
	if (!s->ecmds)
		return -ENOMEM;
	ret = accel_queue_create(m->dev, &qo, &s->copy_embed);
	if (ret < 0)
		return rt_set_error(ret, "cannot create the embedding copy queue: %s", strerror(-ret));
	return accel_fence_create(m->dev, &s->embed_fence);
}

static int setup_experts(struct rt_model *m)
{
	struct rt_streamer *s = m->stream;
	int n_keys = m->hp.n_layer * m->hp.n_expert, ne = s->pl.n_expert_entries;
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts,
		.size = (uint64_t)ne * s->pl.expert_entry_bytes, .flags = ACCEL_POOL_HUGEPAGE);
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY);
	int ret;

	s->entry_key = malloc(sizeof(*s->entry_key) * ne);
	s->entry_used = calloc(ne, sizeof(*s->entry_used));
	s->where = malloc(sizeof(*s->where) * n_keys);
	s->xcmds = calloc((size_t)6 * m->hp.n_expert, sizeof(*s->xcmds));
	if (!s->entry_key || !s->entry_used || !s->where || !s->xcmds)
		return -ENOMEM;
	for (int i = 0; i < ne; i++)
		s->entry_key[i] = -1;
	for (int i = 0; i < n_keys; i++)
		s->where[i] = -1;
	ret = accel_pool_create(m->dev, &po, &s->exp_pool);
	if (ret < 0)
		return rt_set_error(ret, "cannot pin an expert cache of %d x %llu MiB: %s", ne,
				    (unsigned long long)(s->pl.expert_entry_bytes >> 20), strerror(-ret));
	po = ACCEL_OPTS(accel_pool_opts, .size = ((uint64_t)m->hp.n_expert * 24 + PAGE - 1) & ~(PAGE - 1),
			.flags = ACCEL_POOL_PAGEABLE);
	if ((ret = accel_pool_create(m->dev, &po, &s->tab_pool)) < 0)
		return ret;
	if ((ret = accel_queue_create(m->dev, &qo, &s->copy_exp)) < 0)
		return rt_set_error(ret, "cannot create the expert copy queue: %s", strerror(-ret));
	return accel_fence_create(m->dev, &s->exp_fence);
}

int rt_stream_setup(struct rt_model *m, uint64_t budget)
{
	struct rt_streamer *s;
	struct accel_pool_opts po;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = rt_placement_plan(m, budget, &s->pl);
	if (ret < 0) {
		free(s);
		return ret;
	}
	if (!s->pl.n_slots) {		/* everything fits: the resident path */
		rt_placement_free(&s->pl);
		free(s);
		return 0;
	}
	m->stream = s;
	s->st.direct = m->direct;
	s->su = calloc(s->pl.n_units, sizeof(*s->su));
	if (!s->su)
		return -ENOMEM;
	for (int u = 0; u < s->pl.n_units; u++)
		if (!s->pl.resident[u])
			s->su[s->n_su++] = u;
	s->head = calloc(m->head_chunks, sizeof(*s->head));
	if (!s->head)
		return -ENOMEM;
	if ((ret = accel_fence_create(m->dev, &s->load_fence)) < 0 ||
	    (ret = accel_fence_create(m->dev, &s->slot_fence)) < 0)
		return ret;
	if ((ret = setup_resident(m)) < 0)
		return ret;
	if (!s->pl.embed_resident && (ret = setup_embed(m)) < 0)
		return ret;
	if (s->pl.n_expert_entries && (ret = setup_experts(m)) < 0)
		return ret;
	po = ACCEL_OPTS(accel_pool_opts, .size = s->pl.slot_bytes * s->pl.n_slots,
			.flags = ACCEL_POOL_HUGEPAGE);
	ret = accel_pool_create(m->dev, &po, &s->slot_pool);
	if (ret < 0)
		return rt_set_error(ret, "cannot pin %d slots of %llu MiB: %s", s->pl.n_slots,
				    (unsigned long long)(s->pl.slot_bytes >> 20), strerror(-ret));
	return 0;
}

void rt_stream_teardown(struct rt_model *m)
{
	struct rt_streamer *s = m->stream;

	if (!s)
		return;
	/* loads queued ahead wait on slot points no compute will signal now */
	if (s->slot_fence) {
		uint64_t v = 0;

		accel_fence_query(s->slot_fence, &v);
		accel_fence_signal(s->slot_fence, v + s->issued + s->pl.n_slots + 1);
	}
	if (m->copy)
		accel_queue_wait_idle(m->copy);
	accel_queue_destroy(s->copy_embed);
	accel_queue_destroy(s->copy_exp);
	accel_pool_destroy(s->exp_pool);
	accel_pool_destroy(s->tab_pool);
	accel_fence_destroy(s->exp_fence);
	free(s->entry_key);
	free(s->entry_used);
	free(s->where);
	free(s->xcmds);
	accel_pool_destroy(s->slot_pool);
	accel_pool_destroy(s->embed_pool);
	accel_pool_destroy(s->res_pool);
	accel_fence_destroy(s->load_fence);
	accel_fence_destroy(s->slot_fence);
	accel_fence_destroy(s->embed_fence);
	rt_placement_free(&s->pl);
	free(s->su);
	free(s->ecmds);
	free(s->head);
	free(s);
	m->stream = NULL;
}

static int issue_load(struct rt_model *m, uint64_t j)
{
	struct rt_streamer *s = m->stream;
	int u = s->su[j % s->n_su], k = s->pl.n_slots, n, ret;
	struct accel_fence_point wait = { s->slot_fence, j + 1 - k };
	struct accel_fence_point sig = { s->load_fence, j + 1 };
	struct accel_cmd cmd[2 * MAX_PIECES];
	uint64_t b[MAX_PIECES], e[MAX_PIECES], off = (j % k) * s->pl.slot_bytes, bytes = 0;
	int np = unit_pieces(m, u, b, e);

	n = 0;
	for (int i = 0; i < np; i++) {
		n += rt_model_prep_read(m, cmd + n, s->slot_pool, off, b[i], e[i]);
		off += span(b[i], e[i]);
		bytes += span(b[i], e[i]);
	}
	ret = accel_queue_submit(m->copy, cmd, (uint32_t)n, j >= (uint64_t)k ? &wait : NULL,
				 j >= (uint64_t)k ? 1 : 0, &sig);
	if (ret < 0)
		return rt_set_error(ret, "load of unit %d refused: %s", u, strerror(-ret));
	s->st.bytes_read += bytes;
	s->st.loads++;
	return 0;
}

/* loads may run K - 1 units ahead of the consumption about to happen */
static int prefetch(struct rt_model *m)
{
	struct rt_streamer *s = m->stream;
	int ret;

	while (s->issued < s->consumed + s->pl.n_slots) {
		if ((ret = issue_load(m, s->issued)) < 0)
			return ret;
		s->issued++;
	}
	return 0;
}

/* point unit u's refs at the slot of the next consumption */
static void bind_slot(struct rt_model *m, int u)
{
	struct rt_streamer *s = m->stream;
	uint64_t off = (s->consumed % s->pl.n_slots) * s->pl.slot_bytes, b, e;

	rt_unit_range(m, u, &b, &e);
	if (u < m->hp.n_layer && m->hp.n_expert) {
		struct accel_tensor *dst[RT_LAYER_N_TENSORS], *src[RT_LAYER_N_TENSORS];

		/* the same packing as unit_pieces */
		rt_layer_tensors(&m->layers[u], dst);
		rt_layer_tensors(&m->layers_file[u], src);
		for (int i = 0; i < RT_LAYER_FIRST_EXPERT; i++) {
			uint64_t tb = src[i]->offset, te;

			if (!src[i]->ne[0])
				continue;
			te = tb + kn_row_size(src[i]->dtype, src[i]->ne[0]) *
				  (uint64_t)(src[i]->ne[1] * src[i]->ne[2] * src[i]->ne[3]);
			*dst[i] = *src[i];
			dst[i]->pool = s->slot_pool;
			dst[i]->offset = off + (tb & (PAGE - 1));
			off += span(tb, te);
		}
	} else if (u < m->hp.n_layer) {
		rt_model_rebind_layer(m, u, s->slot_pool, off + (b & (PAGE - 1)));
	} else {
		s->head[u - m->hp.n_layer] = head_chunk(m, u - m->hp.n_layer, s->slot_pool,
							 off + (b & (PAGE - 1)));
	}
}

static int submit_embed(struct rt_model *m, const struct rt_batch *b)
{
	struct rt_streamer *s = m->stream;
	const struct rt_gguf_tensor *emb = rt_gguf_find_tensor(m->gguf, "token_embd.weight");
	struct accel_fence_point wait, sig;
	struct accel_tensor w, ids;
	int32_t *idp;
	int nc = 0, ret;

	if (s->pl.embed_resident) {
		ids = accel_tensor_make(m->act, m->tokens.offset, ACCEL_DTYPE_I32, b->n, 1, 1, 1);
		if ((ret = rt_forward_build_embed(m, &m->tok_embd, &ids, b->n)) < 0)
			return ret;
		return rt_forward_submit(m, NULL, 0, NULL);
	}
	idp = (int32_t *)((uint8_t *)accel_pool_ptr(s->embed_pool) + s->ids_off);
	for (int i = 0; i < b->n; i++) {
		uint64_t off = emb->offset + (uint64_t)b->tokens[i] * s->row_bytes;
		uint64_t raw = (uint64_t)i * s->raw_stride;

		nc += rt_model_prep_read(m, &s->ecmds[nc], s->embed_pool, raw, off, off + s->row_bytes);
		accel_cmd_prep_copy(&s->ecmds[nc++],
			accel_tensor_make(s->embed_pool, s->packed_off + i * s->row_bytes,
					  ACCEL_DTYPE_I8, (int64_t)s->row_bytes, 1, 1, 1),
			accel_tensor_make(s->embed_pool, raw + (off & (PAGE - 1)), ACCEL_DTYPE_I8,
					  (int64_t)s->row_bytes, 1, 1, 1));
		idp[i] = i;
	}
	sig.fence = s->embed_fence;
	sig.point = ++s->embed_point;
	ret = accel_queue_submit(s->copy_embed, s->ecmds, (uint32_t)nc, NULL, 0, &sig);
	if (ret < 0)
		return rt_set_error(ret, "embedding row reads refused: %s", strerror(-ret));
	w = accel_tensor_make(s->embed_pool, s->packed_off, emb->type, emb->ne[0], b->n, 1, 1);
	ids = accel_tensor_make(s->embed_pool, s->ids_off, ACCEL_DTYPE_I32, b->n, 1, 1, 1);
	if ((ret = rt_forward_build_embed(m, &w, &ids, b->n)) < 0)
		return ret;
	wait = sig;
	return rt_forward_submit(m, &wait, 1, NULL);
}

/* the three slices of expert e of layer il in the file */
static void expert_slices(struct rt_model *m, int il, int e, uint64_t *b, uint64_t *len)
{
	const struct rt_layer *l = &m->layers_file[il];
	const struct accel_tensor *t[3] = { &l->gate_exps, &l->up_exps, &l->down_exps };

	for (int j = 0; j < 3; j++) {
		len[j] = kn_row_size(t[j]->dtype, t[j]->ne[0]) * (uint64_t)t[j]->ne[1];
		b[j] = t[j]->offset + (uint64_t)e * len[j];
	}
}

/*
 * After routing of layer il: make every routed expert resident in the cache
 * (hits keep their entry, misses evict the least recently used entry not
 * needed now and are read by the expert COPY queue), and write the table
 * MOE_FFN reads. *wait gets the fence point of the reads (point 0: none).
 */
static int stream_experts(struct rt_model *m, int il, int n, struct accel_fence_point *wait)
{
	struct rt_streamer *s = m->stream;
	const int n_exp = m->hp.n_expert, k = m->hp.n_expert_used;
	const int32_t *ids = rt_tensor_ptr(&m->moe_ids);
	int64_t *tab = accel_pool_ptr(s->tab_pool);
	bool need[1024] = { false };
	int nc = 0, ret;

	s->stamp++;
	for (int i = 0; i < k * n; i++) {
		if (ids[i] < 0 || ids[i] >= n_exp)
			return rt_set_error(-EINVAL, "layer %d: router chose expert %d of %d", il, ids[i],
					    n_exp);
		need[ids[i]] = true;
	}
	/* hits first, so that no needed entry is taken as a victim */
	for (int e = 0; e < n_exp; e++) {
		int ent = s->where[il * n_exp + e];

		if (need[e] && ent >= 0) {
			s->entry_used[ent] = s->stamp;
			s->st.expert_hits++;
		}
	}
	for (int e = 0; e < n_exp; e++) {
		int key = il * n_exp + e, ent = s->where[key], victim = -1;
		uint64_t b[3], len[3], off;

		if (!need[e])
			continue;
		if (ent < 0) {
			for (int i = 0; i < s->pl.n_expert_entries; i++)
				if (s->entry_used[i] != s->stamp &&
				    (victim < 0 || s->entry_used[i] < s->entry_used[victim]))
					victim = i;
			if (victim < 0)
				return rt_set_error(-ENOSPC, "expert cache too small for one batch");
			if (s->entry_key[victim] >= 0)
				s->where[s->entry_key[victim]] = -1;
			s->entry_key[victim] = key;
			s->entry_used[victim] = s->stamp;
			s->where[key] = ent = victim;
			s->st.expert_misses++;
		}
		expert_slices(m, il, e, b, len);
		off = (uint64_t)ent * s->pl.expert_entry_bytes;
		for (int j = 0; j < 3; j++) {
			if (ent == victim) {
				nc += rt_model_prep_read(m, s->xcmds + nc, s->exp_pool, off, b[j],
							 b[j] + len[j]);
				s->st.bytes_read += span(b[j], b[j] + len[j]);
			}
			tab[e * 3 + j] = (int64_t)(off + (b[j] & (PAGE - 1)));
			off += span(b[j], b[j] + len[j]);
		}
	}
	wait->fence = s->exp_fence;
	wait->point = 0;
	if (!nc)
		return 0;
	wait->point = ++s->exp_point;
	ret = accel_queue_submit(s->copy_exp, s->xcmds, (uint32_t)nc, NULL, 0, wait);
	if (ret < 0)
		return rt_set_error(ret, "expert reads refused: %s", strerror(-ret));
	return 0;
}

/* a streamed MoE layer: attention and routing, then only the routed experts */
static int forward_moe_layer(struct rt_model *m, int il, int n, bool decode)
{
	struct rt_streamer *s = m->stream;
	const struct rt_layer *l = &m->layers_file[il];
	struct accel_fence_point wait = { s->load_fence, s->consumed + 1 };
	struct accel_fence_point done = { m->fence, ++m->fence_point };
	struct accel_fence_point xw, rel = { s->slot_fence, s->consumed + 1 };
	struct accel_tensor g, u, d, tab;
	int ret;

	if ((ret = rt_forward_build_layer_route(m, il, n, decode)) < 0 ||
	    (ret = rt_forward_submit(m, &wait, 1, &done)) < 0)
		return ret;
	/* the host needs the routing to know what to read */
	ret = accel_fence_wait(m->fence, done.point, -1);
	if (ret == 0)
		ret = accel_queue_error(m->compute);
	if (ret < 0)
		return rt_set_error(ret, "compute failed: %s", strerror(-ret));
	if ((ret = stream_experts(m, il, n, &xw)) < 0)
		return ret;
	g = accel_tensor_make(s->exp_pool, 0, l->gate_exps.dtype, l->gate_exps.ne[0],
			      l->gate_exps.ne[1], 1, 1);
	u = accel_tensor_make(s->exp_pool, 0, l->up_exps.dtype, l->up_exps.ne[0], l->up_exps.ne[1],
			      1, 1);
	d = accel_tensor_make(s->exp_pool, 0, l->down_exps.dtype, l->down_exps.ne[0],
			      l->down_exps.ne[1], 1, 1);
	tab = accel_tensor_make(s->tab_pool, 0, ACCEL_DTYPE_I64, 3, m->hp.n_expert, 1, 1);
	if ((ret = rt_forward_build_moe_experts(m, &g, &u, &d, &tab, n)) < 0)
		return ret;
	ret = rt_forward_submit(m, xw.point ? &xw : NULL, xw.point ? 1 : 0, &rel);
	if (ret == 0)
		s->consumed++;
	return ret;
}

int rt_stream_forward(struct rt_model *m, const struct rt_batch *b, const float **out)
{
	struct rt_streamer *s = m->stream;
	struct accel_fence_point wait, sig, done;
	struct accel_cmd nop;
	int head = m->hp.n_layer, n_out = 0, ret;
	bool decode;

	if ((ret = rt_forward_stage(m, b, &decode)) < 0)
		return ret;
	if ((ret = submit_embed(m, b)) < 0)
		return ret;
	for (int u = 0; u < s->pl.n_units; u++) {
		bool streamed = !s->pl.resident[u];

		if (streamed) {
			if ((ret = prefetch(m)) < 0)
				return ret;
			bind_slot(m, u);
			if (u < head && m->hp.n_expert) {
				if ((ret = forward_moe_layer(m, u, b->n, decode)) < 0)
					return ret;
				continue;
			}
		}
		ret = u < head ? rt_forward_build_layer(m, u, b->n, decode)
			       : rt_forward_build_head_chunk(m, b, u - head, &s->head[u - head], &n_out);
		if (ret < 0)
			return ret;
		if (!streamed) {
			if ((ret = rt_forward_submit(m, NULL, 0, NULL)) < 0)
				return ret;
			continue;
		}
		wait.fence = s->load_fence;
		wait.point = s->consumed + 1;
		sig.fence = s->slot_fence;
		sig.point = s->consumed + 1;
		if ((ret = rt_forward_submit(m, &wait, 1, &sig)) < 0)
			return ret;
		s->consumed++;
	}
	/* the next pass's first loads can start while the host samples */
	if ((ret = prefetch(m)) < 0)
		return ret;
	accel_cmd_prep(&nop, ACCEL_OP_NOP);
	done.fence = m->fence;
	done.point = ++m->fence_point;
	ret = accel_queue_submit(m->compute, &nop, 1, NULL, 0, &done);
	if (ret < 0)
		return rt_set_error(ret, "compute submission refused: %s", strerror(-ret));
	if ((ret = rt_forward_finish(m, out)) < 0)
		return ret;
	rt_forward_head_assemble(m, n_out);
	ret = accel_queue_error(m->copy);
	if (ret == 0 && s->copy_embed)
		ret = accel_queue_error(s->copy_embed);
	if (ret == 0 && s->copy_exp)
		ret = accel_queue_error(s->copy_exp);
	if (ret < 0)
		return rt_set_error(ret, "streaming weights from %s failed: %s", rt_gguf_path(m->gguf),
				    strerror(-ret));
	return n_out;
}

int rt_stream_stats(const struct rt_model *m, struct rt_stream_stats *st,
		    struct rt_placement *pl)
{
	struct accel_queue_stats qs;

	if (!m->stream)
		return -ENOENT;
	if (st) {
		*st = m->stream->st;
		if (accel_queue_stats(m->copy, &qs) == 0)
			st->io_ns = qs.busy_ns;
		/* expert reads have their own queue (MoE) */
		if (m->stream->copy_exp && accel_queue_stats(m->stream->copy_exp, &qs) == 0)
			st->io_ns += qs.busy_ns;
		if (accel_queue_stats(m->compute, &qs) == 0)
			st->compute_ns = qs.busy_ns;
	}
	if (pl)
		*pl = m->stream->pl;	/* arrays stay owned by the model */
	return 0;
}
