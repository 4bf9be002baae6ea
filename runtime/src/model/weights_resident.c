// SPDX-License-Identifier: MIT
/*
 * Resident weights: the file's tensor data read once into one pool by the
 * COPY engine; every ref points into it and the pass's hooks have nothing to
 * do, so a resident pass is one submission.
 */
#include <errno.h>
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

int rt_weights_resident_setup(struct rt_model *m)
{
	/* the weights pool mirrors the file from this 4 KiB-aligned offset */
	uint64_t base = rt_gguf_data_offset(m->gguf) & ~(uint64_t)4095;
	uint64_t end = rt_gguf_file_size(m->gguf);
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts,
		.size = (end - base + 4095) & ~(uint64_t)4095,
		.flags = ACCEL_POOL_HUGEPAGE | ACCEL_POOL_PAGEABLE);
	int ret;

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
