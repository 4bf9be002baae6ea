// SPDX-License-Identifier: MIT
/*
 * --vram-budget: the GPU's memory as the first tier of the weights. Units
 * (layers, output head chunks) that fit the budget after the KV cache, the
 * activations, the small globals and the slots live in a VRAM pool for the
 * whole run; the others cross PCIe every pass into a ring of VRAM slots:
 *
 *   NVMe --(COPY, io_uring)--> pinned host slot --(GPU COPY, H2D)--> VRAM slot --> compute
 *
 * The host side is whatever placed the weights in host memory: the whole
 * file resident (no --mem-budget) or the streamer (stream/, --mem-budget:
 * resident units and a ring of host slots). This file wraps its weights
 * hooks: a unit's host bind (which may wait for its disk read) comes first,
 * then its bytes are uploaded into VRAM slot j % K on a GPU COPY queue of
 * their own once the compute that last used that slot is done, and the
 * unit's tensors are rebound to the slot; the compute waits for the upload.
 * Nothing on the host waits: uploads run while the GPU computes the layer
 * before, the disk reads ahead of both.
 *
 * Fences: up_fence point j + 1 = upload j landed (units and embedding rows
 * share the counter); slot_fence point c + 1 = the compute of the c-th unit
 * that used a VRAM slot is done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/arch.h"
#include "gpu/vram.h"
#include "model/kvcache.h"
#include "rt_error.h"
#include "rt_gguf.h"
#include "stream/stream.h"

#define VRAM_ALIGN	RT_PAGE

static uint64_t vspan(uint64_t b, uint64_t e)
{
	return rt_span(b, e);
}

/* does unit u reach host memory through the streamer's ring each pass? */
static bool host_streamed(const struct rt_model *m, int u)
{
	const struct rt_streamer *s = m->vram->host_ring;

	return s && !s->pl.resident[u];
}

/* bytes unit u takes in a VRAM slot: its host slot image when the host
 * streams it (a MoE layer's non-expert tensors packed), else its span */
static uint64_t stream_cost(const struct rt_model *m, int u)
{
	uint64_t b, e;

	if (host_streamed(m, u))
		return m->vram->host_ring->pl.unit_stream_bytes[u];
	rt_unit_range(m, u, &b, &e);
	return rt_span(b, e);
}

/* the refs of unit u that lie in [hbase, hbase + len) of @hp move by the
 * same distance into @to at @vbase (a host slot image into a VRAM slot: the
 * packing, whatever it is, is kept) */
static void unit_shift(struct rt_model *m, int u, struct accel_pool *hp, uint64_t hbase,
		       uint64_t len, struct accel_pool *to, uint64_t vbase)
{
	int h = u - m->hp.n_layer;

	for (int r = 0; u < m->hp.n_layer && r < m->arch->n_tensors; r++) {
		struct accel_tensor *t = rt_layer_tensor(m, &m->layers[u], r);

		if (t->ne[0] && t->pool == hp && t->offset >= hbase && t->offset - hbase < len) {
			t->pool = to;
			t->offset = t->offset - hbase + vbase;
		}
	}
	if (h >= 0 && m->head[h].pool == hp) {
		m->head[h].pool = to;
		m->head[h].offset = m->head[h].offset - hbase + vbase;
	}
}

/* where file byte @b of unit u lies now: (*pool, *off), from its refs */
static int unit_where(const struct rt_model *m, int u, struct accel_pool **pool, uint64_t *off)
{
	uint64_t b, e;

	rt_unit_range(m, u, &b, &e);
	if (u >= m->hp.n_layer) {
		*pool = m->head[u - m->hp.n_layer].pool;
		*off = m->head[u - m->hp.n_layer].offset;
		return *pool ? 0 : -EINVAL;
	}
	for (int r = 0; r < m->arch->n_tensors; r++) {
		const struct accel_tensor *t = rt_layer_tensor(m, &m->layers[u], r);
		const struct accel_tensor *f = rt_layer_tensor(m, &m->layers_file[u], r);

		if (!f->ne[0])
			continue;
		*pool = t->pool;
		*off = t->offset - (f->offset - b);
		return *pool ? 0 : -EINVAL;
	}
	return -EINVAL;
}

/* point unit u's refs at @pool, file byte b at @off; a tied embedding that
 * is the head's alias follows the head into the resident pool (never into a
 * slot: the EMBED of the next pass would read whatever the slot holds then) */
static void unit_rebind(struct rt_model *m, int u, struct accel_pool *pool, uint64_t off)
{
	int h = u - m->hp.n_layer;
	bool alias;

	if (u < m->hp.n_layer) {
		rt_model_rebind_layer(m, u, pool, off);
		return;
	}
	alias = m->hp.tied_output && h == 0 && m->tok_embd.pool &&
		m->tok_embd.pool == m->head[0].pool && m->tok_embd.offset == m->head[0].offset;
	m->head[h] = rt_head_chunk(m, h, pool, off);
	if (alias && pool == m->vram->res)
		m->tok_embd = m->head[0];
}

static struct accel_tensor bytes_at(struct accel_pool *pool, uint64_t off, uint64_t len)
{
	return accel_tensor_make(pool, off, ACCEL_DTYPE_I8, (int64_t)len, 1, 1, 1);
}

/* one upload submission on the unit queue: @n (src, dst) pairs after @waits */
static int upload(struct rt_model *m, const struct accel_tensor *src,
		  const struct accel_tensor *dst, int n, const struct accel_fence_point *waits,
		  int nwaits, uint64_t *point)
{
	struct rt_vram *v = m->vram;
	struct accel_cmd cmd[2];
	struct accel_fence_point sig = { v->up_fence, v->up_point + 1 };
	uint64_t bytes = 0;
	int ret;

	for (int i = 0; i < n; i++) {
		accel_cmd_prep_upload_to(&cmd[i], src[i], dst[i]);
		bytes += rt_tensor_nbytes(&src[i]);
	}
	ret = accel_queue_submit(v->up, cmd, (uint32_t)n, waits, (uint32_t)nwaits, &sig);
	if (ret < 0)
		return rt_set_error(ret, "--vram-budget: an upload was refused: %s", strerror(-ret));
	*point = ++v->up_point;
	v->st.uploaded_bytes += bytes;
	v->st.uploads++;
	return 0;
}

/* ---------------------------------------------------------------- hooks */

static int vram_embed(struct rt_model *m, const struct rt_batch *b, struct accel_tensor *w,
		      struct accel_tensor *ids)
{
	struct rt_vram *v = m->vram;
	struct rt_streamer *s;
	struct accel_tensor src[2], dst[2];
	struct accel_fence_point wait, done;
	int ret = v->inner->embed(m, b, w, ids);

	if (ret < 0 || !v->embed_twin)
		return ret;			/* the table is in VRAM */
	/* rows read on demand into the streamer's staging pool (its twin):
	 * up once they landed, the compute waits for them */
	s = m->wpriv;
	src[0] = dst[0] = bytes_at(w->pool, w->offset, rt_tensor_nbytes(w));
	src[1] = dst[1] = bytes_at(ids->pool, ids->offset, rt_tensor_nbytes(ids));
	for (int i = 0; i < 2; i++)
		dst[i].pool = v->embed_twin;
	wait = (struct accel_fence_point){ s->embed.fence, s->embed.point };
	if ((ret = upload(m, src, dst, 2, &wait, 1, &done.point)) < 0)
		return ret;
	done.fence = v->up_fence;
	w->pool = ids->pool = v->embed_twin;
	return rt_exec_wait(&m->ex, &done);
}

static int vram_bind(struct rt_model *m, int u)
{
	struct rt_vram *v = m->vram;
	struct accel_fence_point waits[2], done;
	struct accel_pool *hp;
	struct accel_tensor src, dst;
	uint64_t hoff, b, e, voff, j = v->issued;
	int nw = 0, ret;

	if ((ret = v->inner->bind(m, u)) < 0)
		return ret;
	if (v->in_vram[u])
		return 0;			/* rebound at setup, never moves */
	rt_unit_range(m, u, &b, &e);
	voff = (j % (uint64_t)v->n_slots) * v->slot_bytes;
	if (j >= (uint64_t)v->n_slots)
		waits[nw++] = (struct accel_fence_point){ v->slot_fence, j + 1 - v->n_slots };
	if (host_streamed(m, u)) {
		/* the host slot the host bind just pointed it at, whole (a
		 * MoE layer's pieces are packed there), once its read landed */
		struct rt_streamer *s = v->host_ring;
		uint64_t len = s->pl.unit_stream_bytes[u];

		hp = s->slots.pool;
		hoff = (s->slots.consumed % (uint64_t)s->pl.n_slots) * s->pl.slot_bytes;
		waits[nw++] = (struct accel_fence_point){ s->slots.load_fence,
							  s->slots.consumed + 1 };
		src = bytes_at(hp, hoff, len);
		dst = bytes_at(v->slots, voff, len);
		if ((ret = upload(m, &src, &dst, 1, waits, nw, &done.point)) < 0)
			return ret;
		unit_shift(m, u, hp, hoff, len, v->slots, voff);
	} else {
		/* fixed in host memory (noted at setup) */
		hp = v->host_pool[u];
		hoff = v->host_off[u];
		voff += b & (VRAM_ALIGN - 1);
		src = bytes_at(hp, hoff, e - b);
		dst = bytes_at(v->slots, voff, e - b);
		if ((ret = upload(m, &src, &dst, 1, waits, nw, &done.point)) < 0)
			return ret;
		unit_rebind(m, u, v->slots, voff);
	}
	v->issued++;
	done.fence = v->up_fence;
	return rt_exec_wait(&m->ex, &done);
}

/* a VRAM expert cache entry for @key: a free one, else the least recently
 * used one this routing does not need; -ENOSPC when none is left */
static int vx_take(struct rt_vram *v, int key)
{
	struct rt_vram_experts *vx = &v->vx;
	int best = -1;

	for (int i = 0; i < vx->n; i++) {
		if (vx->key[i] < 0) {
			best = i;
			break;
		}
		if (vx->used[i] != vx->stamp && (best < 0 || vx->used[i] < vx->used[best]))
			best = i;
	}
	if (best < 0)
		return -ENOSPC;
	if (vx->key[best] >= 0)
		vx->where[vx->key[best]] = -1;
	vx->key[best] = key;
	vx->where[key] = best;
	return best;
}

/*
 * A MoE layer whose experts the host streams: the routing ran on the GPU,
 * so its ids (and the next layer's pre-gated prediction) come down before
 * the host reads them; the host side makes the routed experts resident in
 * its expert cache (pinned memory: the second tier, predictions and
 * prefetch as on the CPU), then each routed expert the VRAM expert cache
 * (the first tier, an LRU of its own) lacks goes up from its host entry,
 * and the layer's expert table, rewritten to VRAM entries, after it. No
 * compute is in flight here (the routing was waited for), so no VRAM entry
 * is in use on the GPU.
 */
static int vram_experts(struct rt_model *m, int il, int n, struct rt_experts *e)
{
	struct rt_vram *v = m->vram;
	struct rt_vram_experts *vx = &v->vx;
	struct rt_streamer *s = v->host_ring;
	struct rt_expert_cache *x;
	struct accel_fence_point done, waits[2];
	struct accel_tensor src, dst;
	const int32_t *ids;
	const int64_t *htab;
	int64_t *vtab;
	const uint64_t eb = s ? s->pl.expert_entry_bytes : 0;
	int n_exp = m->hp.n_expert, k = m->hp.n_expert_used, nw, ret;

	if (!s || s->pl.resident[il])
		return v->inner->experts(m, il, n, e);
	x = &s->exp;
	if ((ret = rt_model_drain(m)) < 0 ||
	    /* the ids only: their plane of sequences is the host's (stage_moe_seq) */
	    (ret = rt_model_gpu_download_rows(m, &m->moe_ids, n)) < 0 ||
	    (ret = rt_model_gpu_download(m, &m->moe_w)) < 0 ||
	    (ret = rt_model_gpu_download(m, &m->moe_pred_ids)) < 0 ||
	    (ret = rt_model_gpu_download(m, &m->moe_pred_w)) < 0)
		return ret;
	if ((ret = v->inner->experts(m, il, n, e)) < 0)
		return ret;
	/* one MOE_FFN on the GPU, after every upload (by parts is the CPU's) */
	e->n_group = 0;
	/* the host reads of this routing (demand, and predictions it hit) */
	nw = 0;
	waits[nw++] = (struct accel_fence_point){ x->fence, x->point };
	if (x->pfence)
		waits[nw++] = (struct accel_fence_point){ x->pfence, x->ppoint };
	ids = rt_tensor_ptr(&m->moe_ids);
	htab = accel_pool_ptr(x->tab_pool);
	vtab = accel_pool_ptr(vx->tab);
	vx->stamp++;
	for (int i = 0; i < k * n; i++) {		/* hits first: never a victim now */
		int ve = vx->where[il * n_exp + ids[i]];

		if (ve >= 0 && vx->used[ve] != vx->stamp) {
			vx->used[ve] = vx->stamp;
			v->st.expert_hits++;
		}
	}
	for (int i = 0; i < k * n; i++) {
		int ex = ids[i], key = il * n_exp + ex, he = x->where[key], ve = vx->where[key];
		uint64_t point;

		if (he < 0)
			return rt_set_error(-EINVAL, "layer %d: expert %d is not in host memory", il, ex);
		if (ve < 0) {
			if ((ve = vx_take(v, key)) < 0)
				return rt_set_error(-ENOSPC, "--vram-budget: the VRAM expert cache "
						    "(%d entries) is smaller than one batch's routing",
						    vx->n);
			src = bytes_at(x->pool, (uint64_t)he * eb, eb);
			dst = bytes_at(vx->pool, (uint64_t)ve * eb, eb);
			if ((ret = upload(m, &src, &dst, 1, waits, nw, &point)) < 0)
				return ret;
			v->st.expert_misses++;
		}
		vx->used[ve] = vx->stamp;
		/* the host table's offsets, moved from the host entry to the VRAM one */
		for (int j = 0; j < 3; j++)
			vtab[ex * 3 + j] = htab[ex * 3 + j] - (int64_t)((uint64_t)he * eb) +
					   (int64_t)((uint64_t)ve * eb);
	}
	src = dst = bytes_at(vx->tab, 0, (uint64_t)n_exp * 3 * sizeof(int64_t));
	if ((ret = upload(m, &src, &dst, 1, waits, nw, &done.point)) < 0)
		return ret;
	e->gate.pool = e->up.pool = e->down.pool = vx->pool;
	e->table.pool = vx->tab;
	done.fence = v->up_fence;
	return rt_exec_wait(&m->ex, &done);
}

static int vram_pregate(struct rt_model *m, int il, struct accel_tensor *router)
{
	const struct rt_weights_ops *in = m->vram->inner;

	/* a layer kept in VRAM routes nothing ahead (nothing of it is read) */
	if (il + 1 < m->l1 && m->vram->in_vram[il + 1])
		return 0;
	return in->pregate ? in->pregate(m, il, router) : 0;
}

static int vram_release(struct rt_model *m, int u)
{
	struct rt_vram *v = m->vram;
	struct accel_fence_point sig;
	int ret = v->inner->release(m, u);

	if (ret < 0 || v->in_vram[u])
		return ret;
	/* the slot is free once what the pass built so far ran */
	sig = (struct accel_fence_point){ v->slot_fence, ++v->consumed };
	return rt_exec_flush(&m->ex, &sig);
}

static int vram_end(struct rt_model *m)
{
	return m->vram->inner->end(m);
}

static int vram_check(struct rt_model *m)
{
	struct rt_vram *v = m->vram;
	int ret = v->inner->check(m);

	if (ret == 0 && (ret = accel_queue_error(v->up)) < 0)
		return rt_set_error(ret, "--vram-budget: uploading weights failed: %s",
				    strerror(-ret));
	return ret;
}

static void vram_destroy(struct rt_model *m)
{
	struct rt_vram *v = m->vram;

	/* uploads queued ahead wait on slot points no compute signals now */
	if (v->slot_fence)
		accel_fence_signal(v->slot_fence, v->consumed + v->n_slots + v->issued + 1);
	if (v->up)
		accel_queue_wait_idle(v->up);
	accel_queue_destroy(v->up);
	accel_pool_destroy(v->res);
	accel_pool_destroy(v->slots);
	accel_pool_destroy(v->embed_twin);
	accel_fence_destroy(v->up_fence);
	accel_fence_destroy(v->slot_fence);
	m->wops = v->inner;
	m->vram = NULL;
	free(v->in_vram);
	free(v->host_pool);
	free(v->host_off);
	accel_pool_destroy(v->vx.pool);
	accel_pool_destroy(v->vx.tab);
	free(v->vx.where);
	free(v->vx.key);
	free(v->vx.used);
	free(v);
	if (m->wops)
		m->wops->destroy(m);
}

static const struct rt_weights_ops vram_ops = {
	.embed = vram_embed,
	.bind = vram_bind,
	.experts = vram_experts,
	.pregate = vram_pregate,
	.release = vram_release,
	.end = vram_end,
	.check = vram_check,
	.destroy = vram_destroy,
};

/* ---------------------------------------------------------------- setup */

static const char *mib(char *buf, uint64_t b)
{
	snprintf(buf, 32, "%.1f MiB", (double)b / (1 << 20));
	return buf;
}

/* the globals a pass reads besides the units: bytes in VRAM */
static uint64_t globals_bytes(const struct rt_model *m, bool embed_in_vram)
{
	uint64_t n = rt_tensor_nbytes(&m->output_norm) + VRAM_ALIGN;

	if (m->freq_factors.ne[0])
		n += rt_tensor_nbytes(&m->freq_factors) + VRAM_ALIGN;
	if (embed_in_vram)
		n += rt_tensor_nbytes(&m->tok_embd) + VRAM_ALIGN;
	return n;
}

/* an upload at setup, waited for */
static int upload_sync(struct rt_model *m, struct accel_tensor src, struct accel_tensor dst)
{
	struct rt_vram *v = m->vram;
	uint64_t point;
	int ret = upload(m, &src, &dst, 1, NULL, 0, &point);

	if (ret == 0)
		ret = accel_fence_wait(v->up_fence, point, -1);
	if (ret == 0)
		ret = accel_queue_error(v->up);
	return ret < 0 ? rt_set_error(ret, "--vram-budget: uploading the weights failed: %s",
				      strerror(-ret)) : 0;
}

/* a global tensor's bytes into the VRAM pool at *off; *t points there */
static int place_global(struct rt_model *m, struct accel_tensor *t, uint64_t *off)
{
	struct rt_vram *v = m->vram;
	uint64_t len = rt_tensor_nbytes(t);
	int ret;

	if (!t->ne[0] || !t->pool)
		return 0;
	if ((ret = accel_pool_gpu_register(t->pool)) < 0)
		return rt_set_error(ret, "--vram-budget: cannot register host memory: %s",
				    strerror(-ret));
	ret = upload_sync(m, bytes_at(t->pool, t->offset, len), bytes_at(v->res, *off, len));
	if (ret < 0)
		return ret;
	t->pool = v->res;
	t->offset = *off;
	*off += (len + VRAM_ALIGN - 1) & ~(VRAM_ALIGN - 1);
	return 0;
}

/* unit u into the VRAM pool at *off: from its host copy, or (a unit the
 * streamer reads per pass) through a staging pool read once */
static int place_unit(struct rt_model *m, int u, struct accel_pool **stage, uint64_t *off)
{
	struct rt_vram *v = m->vram;
	struct rt_streamer *s = v->host_ring;
	struct accel_pool *hp;
	uint64_t b, e, hoff, voff;
	bool streamed = s && !s->pl.resident[u];
	int ret;

	rt_unit_range(m, u, &b, &e);
	voff = *off + (b & (VRAM_ALIGN - 1));
	if (streamed) {
		if (*stage && accel_pool_size(*stage) < vspan(b, e)) {
			accel_pool_destroy(*stage);
			*stage = NULL;
		}
		if (!*stage) {
			struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts, .size = vspan(b, e));

			if ((ret = accel_pool_create(m->dev, &po, stage)) < 0 ||
			    (ret = accel_pool_gpu_register(*stage)) < 0)
				return rt_set_error(ret, "--vram-budget: no staging memory: %s",
						    strerror(-ret));
		}
		if ((ret = rt_model_read_sync(m, *stage, 0, b, e)) < 0)
			return ret;
		hp = *stage;
		hoff = b & (RT_PAGE - 1);
	} else {
		if ((ret = unit_where(m, u, &hp, &hoff)) < 0)
			return rt_set_error(ret, "--vram-budget: unit %d has no host copy", u);
		if ((ret = accel_pool_gpu_register(hp)) < 0)
			return rt_set_error(ret, "--vram-budget: cannot register host memory: %s",
					    strerror(-ret));
	}
	ret = upload_sync(m, bytes_at(hp, hoff, e - b), bytes_at(v->res, voff, e - b));
	if (ret < 0)
		return ret;
	unit_rebind(m, u, v->res, voff);
	*off += vspan(b, e);
	return 0;
}

/* the units that fit the budget after everything else (largest first:
 * every streamed byte costs the same per pass); 0 or -errno with the line */
static int vram_plan(struct rt_model *m, uint64_t budget)
{
	struct rt_vram *v = m->vram;
	int nu = m->hp.n_layer + m->head_chunks, *order;
	uint64_t fixed, total = 0, max_unit = 0, left, b, e;
	bool moe = false;
	char x1[32], x2[32], x3[32], x4[32], x5[32];

	order = calloc(nu, sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (int u = 0; u < nu; u++) {
		order[u] = u;
		if (!rt_model_unit_used(m, u))
			continue;
		/* a MoE layer streams through VRAM only where the host
		 * streams it (its experts come by expert, not with the layer) */
		moe |= m->hp.n_expert && u < m->hp.n_layer && !host_streamed(m, u);
		rt_unit_range(m, u, &b, &e);
		total += vspan(b, e);
		max_unit = stream_cost(m, u) > max_unit ? stream_cost(m, u) : max_unit;
	}
	fixed = accel_pool_size(m->kv->pool) + accel_pool_size(m->act) + globals_bytes(m, false);
	if (v->host_ring && v->host_ring->exp.pool)	/* the expert cache's twins */
		fixed += v->expert_bytes;
	if (v->embed_table)
		fixed += rt_tensor_nbytes(&m->tok_embd) + VRAM_ALIGN;
	if (fixed - v->expert_bytes + total <= budget) {	/* no expert streams then */
		for (int u = 0; u < nu; u++)
			v->in_vram[u] = rt_model_unit_used(m, u);
		v->st.resident_bytes = total;
		free(order);
		return 0;
	}
	if (moe || budget < fixed + 2 * max_unit) {
		char what[96];

		free(order);
		/* the budget the user gave, or the one taken from the GPU */
		if (v->auto_budget)
			snprintf(what, sizeof(what), "the GPU's free memory (%s usable)",
				 mib(x1, budget));
		else
			snprintf(what, sizeof(what), "--vram-budget %s", mib(x1, budget));
		if (moe)
			return rt_set_error(-EOPNOTSUPP, "--gpu: %s: this MoE model needs %s of "
					    "VRAM to stay resident; its MoE layers stream through VRAM "
					    "only from the file (give --mem-budget too)",
					    what, mib(x2, fixed + total));
		return rt_set_error(-ENOMEM, "--gpu: %s is too small for this model: "
				    "streaming it needs at least %s (2 slots of %s for its largest "
				    "unit, %s of KV cache, activations and resident tensors); "
				    "keeping it all in VRAM needs %s", what,
				    mib(x2, fixed + 2 * max_unit), mib(x3, max_unit),
				    mib(x4, fixed), mib(x5, fixed + total));
	}
	left = budget - fixed - 2 * max_unit;
	v->n_slots = 2;
	for (int i = 0; i < nu; i++)
		for (int j = i + 1; j < nu; j++) {
			uint64_t bi, ei, bj, ej;

			rt_unit_range(m, order[i], &bi, &ei);
			rt_unit_range(m, order[j], &bj, &ej);
			if (vspan(bj, ej) > vspan(bi, ei)) {
				int t = order[i];

				order[i] = order[j];
				order[j] = t;
			}
		}
	for (int i = 0; i < nu; i++) {
		int u = order[i];

		if (!rt_model_unit_used(m, u))
			continue;
		rt_unit_range(m, u, &b, &e);
		if (vspan(b, e) <= left) {
			v->in_vram[u] = true;
			left -= vspan(b, e);
			v->st.resident_bytes += vspan(b, e);
		}
	}
	if (left >= max_unit) {
		v->n_slots = 3;			/* a deeper ring where it fits */
		left -= max_unit;
	}
	/* MoE layers that cross PCIe: a VRAM expert cache of what is left */
	if (v->expert_bytes) {
		uint64_t eb = v->host_ring->pl.expert_entry_bytes, more = left / eb;
		int cap = 0;

		for (int u = 0; u < m->hp.n_layer; u++)
			cap += rt_model_unit_used(m, u) && !v->in_vram[u] && host_streamed(m, u) ?
			       m->hp.n_expert : 0;
		if (cap) {
			v->vx.n = v->vx.n_min + (int)(more < (uint64_t)(cap - v->vx.n_min) ?
						      more : (uint64_t)(cap - v->vx.n_min));
			v->vx.n = v->vx.n > cap ? cap : v->vx.n;
		}
	}
	for (int u = 0; u < nu; u++)
		if (rt_model_unit_used(m, u) && !v->in_vram[u]) {
			v->slot_bytes = stream_cost(m, u) > v->slot_bytes ? stream_cost(m, u)
									 : v->slot_bytes;
			v->st.streamed_bytes_per_pass += stream_cost(m, u);
		}
	free(order);
	return 0;
}

/* register the host pools uploads read from */
static int vram_register_host(struct rt_model *m)
{
	struct rt_streamer *s = m->vram->host_ring;
	struct accel_pool *pools[3] = { m->weights, s ? s->res_pool : NULL,
					s ? s->slots.pool : NULL };
	int ret;

	for (int i = 0; i < 3; i++)
		if (pools[i] && (ret = accel_pool_gpu_register(pools[i])) < 0)
			return rt_set_error(ret, "--vram-budget: cannot register %llu MiB of host "
					    "memory with the GPU: %s",
					    (unsigned long long)(accel_pool_size(pools[i]) >> 20),
					    strerror(-ret));
	return 0;
}

/* a MoE layer streams its experts through VRAM: the VRAM expert cache
 * (entries of the host cache's size), its table (a host pool with a twin),
 * and the kept routers' twin (uploaded now) */
static int vram_experts_setup(struct rt_model *m)
{
	struct rt_vram *v = m->vram;
	struct rt_vram_experts *vx = &v->vx;
	struct rt_streamer *s = v->host_ring;
	struct accel_pool_opts po;
	struct rt_expert_cache *x;
	size_t n_keys = (size_t)m->hp.n_layer * m->hp.n_expert;
	uint64_t point;
	int ret;

	if (!vx->n)
		return 0;
	x = &s->exp;
	vx->where = malloc(sizeof(*vx->where) * n_keys);
	vx->key = malloc(sizeof(*vx->key) * (size_t)vx->n);
	vx->used = calloc((size_t)vx->n, sizeof(*vx->used));
	if (!vx->where || !vx->key || !vx->used)
		return -ENOMEM;
	for (size_t i = 0; i < n_keys; i++)
		vx->where[i] = -1;
	for (int i = 0; i < vx->n; i++)
		vx->key[i] = -1;
	po = ACCEL_OPTS(accel_pool_opts, .size = (uint64_t)m->hp.n_expert * 3 * sizeof(int64_t));
	if ((ret = accel_pool_create_vram(m->dev, (uint64_t)vx->n * s->pl.expert_entry_bytes,
					  &vx->pool)) < 0 ||
	    (ret = accel_pool_create(m->dev, &po, &vx->tab)) < 0 ||
	    (ret = accel_pool_gpu_mirror(vx->tab)) < 0 ||
	    (ret = accel_pool_gpu_register(x->pool)) < 0 ||
	    (x->router_pool && (ret = accel_pool_gpu_mirror(x->router_pool)) < 0))
		return rt_set_error(ret, "--vram-budget: the VRAM expert cache (%d entries of %llu "
				    "KiB) does not fit the GPU: %s", vx->n,
				    (unsigned long long)(s->pl.expert_entry_bytes >> 10),
				    strerror(-ret));
	if (!x->router_pool)
		return 0;
	{
		struct accel_tensor t = bytes_at(x->router_pool, 0, accel_pool_size(x->router_pool));

		ret = upload(m, &t, &t, 1, NULL, 0, &point);
	}
	if (ret == 0)
		ret = accel_fence_wait(v->up_fence, point, -1);
	return ret < 0 ? rt_set_error(ret, "--vram-budget: uploading the routers failed: %s",
				      strerror(-ret)) : 0;
}

int rt_vram_setup(struct rt_model *m, uint64_t budget, bool auto_budget)
{
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY,
						.flags = ACCEL_QUEUE_GPU);
	struct rt_streamer *s = rt_stream_of(m);
	int nu = m->hp.n_layer + m->head_chunks, ret;
	struct accel_pool *stage = NULL;
	uint64_t off = 0;
	struct rt_vram *v;
	char x1[32];

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->in_vram = calloc(nu, sizeof(*v->in_vram));
	v->host_pool = calloc(nu, sizeof(*v->host_pool));
	v->host_off = calloc(nu, sizeof(*v->host_off));
	if (!v->in_vram || !v->host_pool || !v->host_off) {
		free(v->in_vram);
		free(v->host_pool);
		free(v->host_off);
		free(v);
		return -ENOMEM;
	}
	v->host_ring = s;
	v->auto_budget = auto_budget;
	v->st.budget = budget;
	if (s && s->exp.pool) {
		/* the least the VRAM expert cache holds: one batch's routing */
		int need = m->hp.n_expert_used * m->n_batch;

		v->vx.n_min = need < m->hp.n_expert ? need : m->hp.n_expert;
		v->expert_bytes = (uint64_t)v->vx.n_min * s->pl.expert_entry_bytes +
				  2 * VRAM_ALIGN +
				  (s->exp.router_pool ? accel_pool_size(s->exp.router_pool) : 0);
	}
	/* EMBED reads a whole table unless the streamer reads rows on demand */
	v->embed_table = m->embeds && !(s && !s->pl.embed_resident);
	m->vram = v;
	v->inner = m->host_wops = m->wops;
	m->wops = &vram_ops;		/* from here on teardown undoes the rest */

	if ((ret = vram_plan(m, budget)) < 0)
		return ret;
	for (int u = 0; u < nu; u++) {
		v->st.n_units += rt_model_unit_used(m, u);
		v->st.n_resident += v->in_vram[u];
	}
	v->st.n_slots = v->n_slots;
	v->st.expert_entries = v->vx.n;
	v->st.slot_bytes = v->slot_bytes;
	if ((ret = accel_pool_gpu_mirror(m->kv->pool)) < 0 ||
	    (ret = accel_pool_gpu_mirror(m->act)) < 0)
		return rt_set_error(ret, "--vram-budget: the KV cache and activations (%s) do not "
				    "fit the GPU: %s",
				    mib(x1, accel_pool_size(m->kv->pool) + accel_pool_size(m->act)),
				    strerror(-ret));
	if ((ret = accel_queue_create(m->dev, &qo, &v->up)) < 0 ||
	    (ret = accel_fence_create(m->dev, &v->up_fence)) < 0 ||
	    (ret = accel_fence_create(m->dev, &v->slot_fence)) < 0)
		return rt_set_error(ret, "--vram-budget: cannot create the upload queue: %s",
				    strerror(-ret));
	ret = accel_pool_create_vram(m->dev, v->st.resident_bytes + globals_bytes(m, v->embed_table) +
				     4 * VRAM_ALIGN, &v->res);
	if (ret == 0 && v->n_slots)
		ret = accel_pool_create_vram(m->dev, v->slot_bytes * (uint64_t)v->n_slots, &v->slots);
	if (ret == 0 && s && !s->pl.embed_resident && m->embeds) {
		ret = accel_pool_create_vram(m->dev, accel_pool_size(s->embed.pool), &v->embed_twin);
		if (ret == 0)
			ret = accel_pool_gpu_register(s->embed.pool);
	}
	if (ret < 0)
		return rt_set_error(ret, "--vram-budget: cannot allocate %s of VRAM for the "
				    "weights: %s", mib(x1, v->st.resident_bytes +
						       v->slot_bytes * (uint64_t)v->n_slots),
				    strerror(-ret));
	if ((ret = vram_register_host(m)) < 0)
		return ret;
	if ((ret = vram_experts_setup(m)) < 0)
		return ret;
	/* the host copies of the units that stay in host memory: their refs
	 * move to VRAM slots from the first pass on */
	for (int u = 0; u < nu; u++)
		if (rt_model_unit_used(m, u) && !v->in_vram[u] && !(s && !s->pl.resident[u]) &&
		    (ret = unit_where(m, u, &v->host_pool[u], &v->host_off[u])) < 0)
			return rt_set_error(ret, "--vram-budget: unit %d has no host copy", u);
	/* the units that stay, uploaded once; the head first, so a tied
	 * embedding that is its alias follows it */
	for (int u = nu - 1; u >= 0; u--)
		if (v->in_vram[u] && (ret = place_unit(m, u, &stage, &off)) < 0)
			break;
	accel_pool_destroy(stage);
	if (ret < 0)
		return ret;
	if ((ret = place_global(m, &m->output_norm, &off)) < 0 ||
	    (ret = place_global(m, &m->freq_factors, &off)) < 0)
		return ret;
	if (v->embed_table && m->tok_embd.pool != v->res &&
	    (ret = place_global(m, &m->tok_embd, &off)) < 0)
		return ret;
	/* the streamer's ring now carries only what crosses PCIe from disk */
	if (s) {
		int n = 0;

		for (int u = 0; u < nu; u++)
			if (v->in_vram[u])
				s->pl.resident[u] = true;
		for (int i = 0; i < s->slots.n_su; i++)
			if (!v->in_vram[s->slots.su[i]])
				s->slots.su[n++] = s->slots.su[i];
		s->slots.n_su = n;
	}
	return 0;
}

int rt_vram_stats(const struct rt_model *m, struct rt_vram_stats *st)
{
	struct accel_queue_stats qs;

	if (!m || !m->vram || !st)
		return -ENOENT;
	*st = m->vram->st;
	if (accel_queue_stats(m->vram->up, &qs) == 0)
		st->upload_ns = qs.busy_ns;
	return 0;
}
