// SPDX-License-Identifier: MIT
/*
 * The architecture's tensor table applied to the GGUF file: every tensor
 * found, its type and shape checked, and its ref recorded with its absolute
 * file offset (no pool yet: the weights' placement binds them). Also the
 * layers' byte ranges and the output head's row chunks, which placement and
 * streaming work in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/arch.h"
#include "rt_error.h"
#include "rt_gguf.h"

uint64_t rt_tensor_nbytes(const struct accel_tensor *t)
{
	return accel_dtype_row_size(t->dtype, t->ne[0]) * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
}

struct accel_tensor *rt_layer_tensor(const struct rt_model *m, struct rt_layer *l, int row)
{
	return (struct accel_tensor *)((uint8_t *)l + m->arch->tensors[row].field);
}

static int64_t dim_value(const struct rt_hparams *hp, int d)
{
	switch (d) {
	case RT_D_DIM:
		return hp->dim;
	case RT_D_Q:
		return (int64_t)hp->n_head * hp->head_dim;
	case RT_D_KV:
		return (int64_t)hp->n_kv_head * hp->head_dim;
	case RT_D_HD:
		return hp->head_dim;
	case RT_D_FF:
		return hp->ff;
	case RT_D_FF_EXP:
		return hp->ff_exp;
	case RT_D_EXP:
		return hp->n_expert;
	default:
		return 1;
	}
}

/* find a tensor, check its type and shape, and give its ref at its file offset */
static int bind(struct rt_model *m, struct accel_tensor *t, const char *name, bool required,
		int64_t ne0, int64_t ne1, int64_t ne2, bool f32_only)
{
	const struct rt_gguf_tensor *gt = rt_gguf_find_tensor(m->gguf, name);
	int64_t want[3] = { ne0, ne1, ne2 };

	memset(t, 0, sizeof(*t));
	if (!gt) {
		if (required)
			return rt_set_error(-EINVAL, "%s: tensor '%s' is missing",
					    rt_gguf_path(m->gguf), name);
		return 0;
	}
	for (int i = 0; i < 3; i++)
		if (gt->ne[i] != want[i] || (i == 2 && gt->ne[3] != 1))
			return rt_set_error(-EINVAL, "%s: tensor '%s' has shape [%lld,%lld,%lld,%lld], "
					    "expected [%lld,%lld,%lld]", rt_gguf_path(m->gguf), name,
					    (long long)gt->ne[0], (long long)gt->ne[1],
					    (long long)gt->ne[2], (long long)gt->ne[3],
					    (long long)ne0, (long long)ne1, (long long)ne2);
	if (f32_only ? gt->type != ACCEL_DTYPE_F32 : !accel_dtype_can_matmul(gt->type)) {
		const char *tn = accel_dtype_name(gt->type);

		return rt_set_error(-EOPNOTSUPP, "%s: tensor '%s' has unsupported type %s (%u)",
				    rt_gguf_path(m->gguf), name, tn ? tn : "unknown", gt->type);
	}
	*t = accel_tensor_make(NULL, gt->offset, gt->type, gt->ne[0], gt->ne[1], gt->ne[2], 1);
	return 0;
}

static int bind_layer(struct rt_model *m, int il)
{
	const struct rt_hparams *hp = &m->hp;
	struct rt_layer *l = &m->layers[il];
	const struct rt_gguf_tensor *gt;
	char n[96];
	int ret;

	if (hp->n_expert) {
		snprintf(n, sizeof(n), "blk.%d.ffn_gate.0.weight", il);
		if (rt_gguf_find_tensor(m->gguf, n))
			return rt_set_error(-EOPNOTSUPP, "%s: per-expert MoE tensors ('%s') are an old "
					    "layout; re-convert with a current llama.cpp",
					    rt_gguf_path(m->gguf), n);
	}
	for (int r = 0; r < m->arch->n_tensors; r++) {
		const struct rt_tensor_desc *d = &m->arch->tensors[r];
		struct accel_tensor *t = rt_layer_tensor(m, l, r);

		memset(t, 0, sizeof(*t));
		if ((d->flags & RT_T_DENSE && hp->n_expert) || (d->flags & RT_T_MOE && !hp->n_expert))
			continue;
		snprintf(n, sizeof(n), "blk.%d.%s", il, d->name);
		ret = bind(m, t, n, !(d->flags & RT_T_OPT), dim_value(hp, d->ne[0]),
			   dim_value(hp, d->ne[1]), dim_value(hp, d->ne[2]), d->flags & RT_T_F32);
		if (ret < 0)
			return ret;
	}
	/* the layer's byte range in the file: streaming reads it as a whole */
	l->file_begin = UINT64_MAX;
	l->file_end = 0;
	snprintf(n, sizeof(n), "blk.%d.", il);
	for (int64_t i = 0; i < rt_gguf_n_tensors(m->gguf); i++) {
		gt = rt_gguf_tensor(m->gguf, i);
		if (strncmp(gt->name, n, strlen(n)))
			continue;
		if (gt->offset < l->file_begin)
			l->file_begin = gt->offset;
		if (gt->offset + gt->size > l->file_end)
			l->file_end = gt->offset + gt->size;
	}
	return 0;
}

/* an architecture has dense layers, experts, or both */
static int check_kind(const struct rt_model *m)
{
	uint16_t want = m->hp.n_expert ? RT_T_MOE : RT_T_DENSE;

	for (int r = 0; r < m->arch->n_tensors; r++)
		if (m->arch->tensors[r].flags & want)
			return 0;
	return rt_set_error(-EINVAL, "%s: architecture %s %s", rt_gguf_path(m->gguf), m->arch->name,
			    m->hp.n_expert ? "has no experts (expert_count is set)"
					   : "needs experts (expert_count is missing)");
}

/*
 * Streaming sizes its slot ring for the largest unit; an output head bigger
 * than a layer (Llama 3's 128K vocab) is split into row chunks no bigger than
 * a layer, so the same budget holds more slots.
 */
static void plan_head_chunks(struct rt_model *m)
{
	const struct rt_gguf_tensor *o = rt_gguf_find_tensor(m->gguf, "output.weight");
	uint64_t max_layer = 0;

	m->head_chunks = 1;
	if (m->hp.tied_output)
		return;
	for (int il = 0; il < m->hp.n_layer; il++)
		if (m->layers[il].file_end - m->layers[il].file_begin > max_layer)
			max_layer = m->layers[il].file_end - m->layers[il].file_begin;
	if (max_layer && o->size > max_layer)
		m->head_chunks = (int)((o->size + max_layer - 1) / max_layer);
	if (m->head_chunks > m->hp.n_vocab)
		m->head_chunks = m->hp.n_vocab;
}

int rt_model_bind(struct rt_model *m)
{
	struct rt_hparams *hp = &m->hp;
	const struct rt_gguf_tensor *emb = rt_gguf_find_tensor(m->gguf, "token_embd.weight");
	int ret;

	if (!emb)
		return rt_set_error(-EINVAL, "%s: tensor 'token_embd.weight' is missing",
				    rt_gguf_path(m->gguf));
	if (emb->ne[1] <= 0 || emb->ne[1] > INT32_MAX)
		return rt_set_error(-EINVAL, "%s: token_embd.weight has %lld rows",
				    rt_gguf_path(m->gguf), (long long)emb->ne[1]);
	hp->n_vocab = (int)emb->ne[1];
	if ((ret = check_kind(m)) < 0)
		return ret;
	if ((ret = bind(m, &m->tok_embd, "token_embd.weight", true, hp->dim, hp->n_vocab, 1,
			false)) < 0 ||
	    (ret = bind(m, &m->output_norm, "output_norm.weight", true, hp->dim, 1, 1, true)) < 0 ||
	    (ret = bind(m, &m->output, "output.weight", false, hp->dim, hp->n_vocab, 1, false)) < 0)
		return ret;
	if (!m->output.ne[0]) {
		m->output = m->tok_embd;
		hp->tied_output = true;
	}
	if ((ret = bind(m, &m->freq_factors, "rope_freqs.weight", false, hp->n_rot / 2, 1, 1,
			true)) < 0)
		return ret;
	hp->has_freq_factors = m->freq_factors.ne[0] != 0;
	m->layers = calloc(hp->n_layer, sizeof(*m->layers));
	m->layers_file = calloc(hp->n_layer, sizeof(*m->layers));
	if (!m->layers || !m->layers_file)
		return -ENOMEM;
	for (int il = 0; il < hp->n_layer; il++)
		if ((ret = bind_layer(m, il)) < 0)
			return ret;
	memcpy(m->layers_file, m->layers, sizeof(*m->layers) * hp->n_layer);
	plan_head_chunks(m);
	return 0;
}

void rt_model_rebind_layer(struct rt_model *m, int il, struct accel_pool *pool,
			   uint64_t pool_offset)
{
	struct rt_layer *l = &m->layers[il], *f = &m->layers_file[il];

	for (int r = 0; r < m->arch->n_tensors; r++) {
		struct accel_tensor *dst = rt_layer_tensor(m, l, r);
		const struct accel_tensor *src = rt_layer_tensor(m, f, r);

		if (!src->ne[0])
			continue;
		*dst = *src;
		dst->pool = pool;
		dst->offset = src->offset - f->file_begin + pool_offset;
	}
}

void rt_head_rows(const struct rt_model *m, int h, int64_t *r0, int64_t *r1)
{
	int64_t per = (m->hp.n_vocab + m->head_chunks - 1) / m->head_chunks;

	*r0 = per * h;
	*r1 = per * (h + 1) < m->hp.n_vocab ? per * (h + 1) : m->hp.n_vocab;
}

struct accel_tensor rt_head_chunk(const struct rt_model *m, int h, struct accel_pool *pool,
				  uint64_t off)
{
	int64_t r0, r1;

	rt_head_rows(m, h, &r0, &r1);
	return accel_tensor_make(pool, off, m->output.dtype, m->output.ne[0], r1 - r0, 1, 1);
}
