// SPDX-License-Identifier: MIT
/*
 * Resident weights: the file's tensor data read once into one pool by the
 * COPY engine; every ref points into it and the pass's hooks have nothing to
 * do, so a resident pass is one submission. A pipeline stage reads only its
 * layers and the globals it uses, each at its own place in the pool.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include "arch/arch.h"
#include "rt_error.h"
#include "rt_gguf.h"

static int resident_embed(struct rt_model *m, const struct rt_batch *b, struct accel_tensor *w,
			  struct accel_tensor *ids)
{
	*w = m->tok_embd;
	*ids = accel_tensor_make(m->act, m->tokens.offset, ACCEL_DTYPE_I32, b->n, 1, 1, 1);
	return 0;
}

static int resident_unit(struct rt_model *m, int u)
{
	return 0;
}

static int resident_experts(struct rt_model *m, int il, int n, struct rt_experts *e)
{
	const struct rt_layer *l = &m->layers[il];

	memset(e, 0, sizeof(*e));
	e->gate = l->gate_exps;
	e->up = l->up_exps;
	e->down = l->down_exps;
	return 0;
}

static int resident_pass(struct rt_model *m)
{
	return 0;
}

static void resident_destroy(struct rt_model *m)
{
}

static const struct rt_weights_ops resident_ops = {
	.embed = resident_embed,
	.bind = resident_unit,
	.experts = resident_experts,
	.release = resident_unit,
	.end = resident_pass,
	.check = resident_pass,
	.destroy = resident_destroy,
};

/* point every global ref at @pool, which mirrors the file from @base */
static void rebind_globals(struct rt_model *m, struct accel_pool *pool, uint64_t base)
{
	struct accel_tensor *g[] = { &m->tok_embd, &m->output_norm, &m->output, &m->freq_factors };

	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		if (g[i]->ne[0]) {
			g[i]->pool = pool;
			g[i]->offset -= base;
		}
	}
}

/* the span of GGUF tensor @name read into @pool at *off; *t points at it */
static int read_global(struct rt_model *m, struct accel_tensor *t, const char *name,
		       uint64_t *off)
{
	const struct rt_gguf_tensor *gt = rt_gguf_find_tensor(m->gguf, name);
	uint64_t b, e;
	int ret;

	if (!gt)
		return 0;
	b = gt->offset;
	e = gt->offset + gt->size;
	ret = rt_model_read_sync(m, m->weights, *off, b, e);
	if (ret < 0)
		return ret;
	t->pool = m->weights;
	t->offset = *off + (b & 4095);
	*off += (e - (b & ~(uint64_t)4095) + 4095) & ~(uint64_t)4095;
	return 0;
}

static uint64_t span_of(const struct rt_model *m, const char *name)
{
	const struct rt_gguf_tensor *gt = rt_gguf_find_tensor(m->gguf, name);

	return gt ? (gt->offset + gt->size - (gt->offset & ~(uint64_t)4095) + 4095) &
		    ~(uint64_t)4095 : 0;
}

/* a stage's weights: its layers, rope factors, the embedding where it embeds,
 * the output norm and head where it has the head */
static int resident_range(struct rt_model *m)
{
	bool tied = m->hp.tied_output;
	bool emb = m->embeds || (m->has_head && tied);
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts,
		.flags = ACCEL_POOL_HUGEPAGE | ACCEL_POOL_PRIVATE | ACCEL_POOL_PAGEABLE);
	uint64_t size = span_of(m, "rope_freqs.weight"), off = 0;
	int ret;

	if (emb)
		size += span_of(m, "token_embd.weight");
	if (m->has_head)
		size += span_of(m, "output_norm.weight") +
			(tied ? 0 : span_of(m, "output.weight"));
	for (int il = m->l0; il < m->l1; il++) {
		const struct rt_layer *l = &m->layers_file[il];

		size += (l->file_end - (l->file_begin & ~(uint64_t)4095) + 4095) & ~(uint64_t)4095;
	}
	po.size = size;
	ret = rt_model_pool_create(m, &po, &m->weights, "the weights");
	if (ret < 0)
		return ret;
	if ((ret = read_global(m, &m->freq_factors, "rope_freqs.weight", &off)) < 0 ||
	    (emb && (ret = read_global(m, &m->tok_embd, "token_embd.weight", &off)) < 0))
		goto err;
	if (m->has_head &&
	    ((ret = read_global(m, &m->output_norm, "output_norm.weight", &off)) < 0 ||
	     (!tied && (ret = read_global(m, &m->output, "output.weight", &off)) < 0)))
		goto err;
	if (tied)
		m->output = m->tok_embd;
	for (int il = m->l0; il < m->l1; il++) {
		const struct rt_layer *l = &m->layers_file[il];

		ret = rt_model_read_sync(m, m->weights, off, l->file_begin, l->file_end);
		if (ret < 0)
			goto err;
		rt_model_rebind_layer(m, il, m->weights, off + (l->file_begin & 4095));
		off += (l->file_end - (l->file_begin & ~(uint64_t)4095) + 4095) & ~(uint64_t)4095;
	}
	m->head[0] = m->output;
	m->wops = &resident_ops;
	return 0;
err:
	return rt_set_error(ret, "%s: reading the weights failed: %s", rt_gguf_path(m->gguf),
			    strerror(-ret));
}

int rt_weights_resident_setup(struct rt_model *m)
{
	/* the weights pool mirrors the file from this 4 KiB-aligned offset */
	uint64_t base = rt_gguf_data_offset(m->gguf) & ~(uint64_t)4095;
	uint64_t end = rt_gguf_file_size(m->gguf);
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts,
		.size = (end - base + 4095) & ~(uint64_t)4095,
		.flags = ACCEL_POOL_HUGEPAGE | ACCEL_POOL_PRIVATE | ACCEL_POOL_PAGEABLE);
	int ret;

	if (!m->embeds || !m->has_head)
		return resident_range(m);
	ret = rt_model_pool_create(m, &po, &m->weights, "the weights");
	if (ret < 0)
		return ret;
	ret = rt_model_read_sync(m, m->weights, 0, base, end);
	if (ret < 0)
		return rt_set_error(ret, "%s: reading the weights failed: %s", rt_gguf_path(m->gguf),
				    strerror(-ret));
	rebind_globals(m, m->weights, base);
	for (int il = 0; il < m->hp.n_layer; il++)
		rt_model_rebind_layer(m, il, m->weights, m->layers_file[il].file_begin - base);
	m->head[0] = m->output;
	m->wops = &resident_ops;
	return 0;
}
