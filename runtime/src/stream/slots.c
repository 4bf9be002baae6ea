// SPDX-License-Identifier: MIT
/*
 * The slot ring: streamed units are read by the COPY engine (io_uring,
 * O_DIRECT) into K slots. Load j goes to slot j % K once the compute that
 * last used the slot has signalled slot_fence; the compute of a unit waits on
 * its load's point of load_fence. Loads run K - 1 units ahead of compute,
 * across passes too; the host never waits between units. A streamed MoE
 * layer releases its slot from the host once its routing has run (the
 * experts it then computes are not in the slot), so the next load reads
 * during the experts' compute, after their demand reads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "arch/arch.h"
#include "rt_error.h"
#include "stream.h"

int rt_slots_setup(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_slots *r = &s->slots;
	struct accel_pool_opts po;
	int ret;

	r->su = calloc(s->pl.n_units, sizeof(*r->su));
	if (!r->su)
		return -ENOMEM;
	for (int u = 0; u < s->pl.n_units; u++)
		if (!s->pl.resident[u])
			r->su[r->n_su++] = u;
	if ((ret = accel_fence_create(m->dev, &r->load_fence)) < 0 ||
	    (ret = accel_fence_create(m->dev, &r->slot_fence)) < 0)
		return ret;
	po = ACCEL_OPTS(accel_pool_opts, .size = s->pl.slot_bytes * s->pl.n_slots,
			.flags = ACCEL_POOL_HUGEPAGE | ACCEL_POOL_PRIVATE);
	return rt_model_pool_create(m, &po, &r->pool, "the layer slots");
}

void rt_slots_fini(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_slots *r = &s->slots;

	/* loads queued ahead wait on slot points no compute will signal now */
	if (r->slot_fence) {
		uint64_t v = 0;

		accel_fence_query(r->slot_fence, &v);
		accel_fence_signal(r->slot_fence, v + r->issued + s->pl.n_slots + 1);
	}
	if (m->copy)
		accel_queue_wait_idle(m->copy);
	/* expert prefetches wait on load points too (expert_prefetch.c): they
	 * must be done with load_fence before it goes (accel-bench stream on a
	 * mixtral-8x7b-shape model crashed in the prefetch queue's fence wait) */
	if (s->exp.pcopy)
		accel_queue_wait_idle(s->exp.pcopy);
	accel_pool_destroy(r->pool);
	accel_fence_destroy(r->load_fence);
	accel_fence_destroy(r->slot_fence);
	free(r->su);
	memset(r, 0, sizeof(*r));
}

static int issue_load(struct rt_model *m, uint64_t j)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_slots *r = &s->slots;
	int u = r->su[j % r->n_su], k = s->pl.n_slots, n = 0, np, ret;
	struct accel_fence_point waits[2], sig = { r->load_fence, j + 1 };
	uint32_t nw = 0;
	struct accel_cmd cmd[2 * RT_MAX_PIECES];
	uint64_t b[RT_MAX_PIECES], e[RT_MAX_PIECES], off = (j % k) * s->pl.slot_bytes, bytes = 0;

	np = rt_unit_pieces(m, u, b, e);
	for (int i = 0; i < np; i++) {
		n += rt_model_prep_read(m, cmd + n, r->pool, off, b[i], e[i]);
		off += rt_span(b[i], e[i]);
		bytes += rt_span(b[i], e[i]);
	}
	/* named for traces: a layer, or a chunk of the output head */
	for (int i = 0; i < n; i++)
		accel_cmd_name(&cmd[i], u < m->hp.n_layer ? "layer_weights" : "output_weights",
			       u < m->hp.n_layer ? u : u - m->hp.n_layer);
	if (j >= (uint64_t)k)
		waits[nw++] = (struct accel_fence_point){ r->slot_fence, j + 1 - k };
	if (r->after.point)
		waits[nw++] = r->after;
	ret = accel_queue_submit(m->copy, cmd, (uint32_t)n, nw ? waits : NULL, nw, &sig);
	if (ret < 0)
		return rt_set_error(ret, "load of unit %d refused: %s", u, strerror(-ret));
	s->st.bytes_read += bytes;
	s->st.loads++;
	return 0;
}

int rt_slots_prefetch(struct rt_model *m)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_slots *r = &s->slots;
	int ret;

	/* every unit may have moved to VRAM (gpu/vram.c): nothing to read */
	while (r->n_su && r->issued < r->consumed + s->pl.n_slots) {
		if ((ret = issue_load(m, r->issued)) < 0)
			return ret;
		r->issued++;
	}
	return 0;
}

int rt_slots_bind(struct rt_model *m, int u)
{
	struct rt_streamer *s = rt_streamer(m);
	struct rt_slots *r = &s->slots;
	struct accel_fence_point wait = { r->load_fence, r->consumed + 1 };
	uint64_t off = (r->consumed % s->pl.n_slots) * s->pl.slot_bytes;
	uint64_t b[RT_MAX_PIECES], e[RT_MAX_PIECES];
	int ret, nl = m->hp.n_layer;

	/* an early release whose unit a failed pass never released: consumed */
	r->released = false;
	if ((ret = rt_slots_prefetch(m)) < 0)
		return ret;
	rt_unit_pieces(m, u, b, e);
	if (u >= nl) {
		m->head[u - nl] = rt_head_chunk(m, u - nl, r->pool, off + (b[0] & (RT_PAGE - 1)));
	} else if (!m->hp.n_expert) {
		rt_model_rebind_layer(m, u, r->pool, off + (b[0] & (RT_PAGE - 1)));
	} else {
		/* the same packing as rt_unit_pieces: non-expert tensors in table order */
		struct rt_layer *l = &m->layers[u], *f = &m->layers_file[u];

		for (int row = 0; row < m->arch->n_tensors; row++) {
			struct accel_tensor *dst = rt_layer_tensor(m, l, row);
			const struct accel_tensor *src = rt_layer_tensor(m, f, row);

			if (!src->ne[0] || m->arch->tensors[row].flags & RT_T_EXPERT)
				continue;
			*dst = *src;
			dst->pool = r->pool;
			dst->offset = off + (src->offset & (RT_PAGE - 1));
			off += rt_span(src->offset, src->offset + rt_tensor_nbytes(src));
		}
	}
	return rt_exec_wait(&m->ex, &wait);
}

int rt_slots_release_early(struct rt_model *m, const struct accel_fence_point *after)
{
	struct rt_slots *r = &rt_streamer(m)->slots;
	int ret;

	ret = accel_fence_signal(r->slot_fence, r->consumed + 1);
	if (ret < 0)
		return rt_set_error(ret, "cannot release a slot: %s", strerror(-ret));
	r->consumed++;
	r->released = true;
	r->after = *after;
	ret = rt_slots_prefetch(m);
	r->after.point = 0;
	return ret;
}

int rt_slots_release(struct rt_model *m)
{
	struct rt_slots *r = &rt_streamer(m)->slots;
	struct accel_fence_point sig = { r->slot_fence, r->consumed + 1 };
	int ret;

	if (r->released) {	/* rt_slots_release_early() signalled it */
		r->released = false;
		return rt_exec_flush(&m->ex, NULL);
	}
	ret = rt_exec_flush(&m->ex, &sig);

	if (ret == 0)
		r->consumed++;
	return ret;
}
