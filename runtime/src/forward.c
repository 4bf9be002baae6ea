// SPDX-License-Identifier: MIT
/*
 * The forward pass as a libaccel command stream, read top to bottom like the
 * reference model: embed, then per layer attention (RMSNorm, Q/K/V, RoPE,
 * paged attention, output projection, residual) and feed-forward (dense
 * SwiGLU or routed experts), then final norm and logits. Owns the activation
 * buffers; the math runs on the COMPUTE engine.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kn.h"
#include "rt_error.h"
#include "rt_kvcache.h"
#include "rt_model.h"
#include "model_internal.h"

#define ALIGN64(x) (((x) + 63) & ~(uint64_t)63)

int rt_model_max_logits(const struct rt_model *m)
{
	int n = m->n_seq > 64 ? m->n_seq : 64;

	return n < m->n_batch ? n : m->n_batch;
}

/* a [ne0, n_batch] buffer in the activation pool */
static struct accel_tensor act(struct rt_model *m, uint64_t *off, uint32_t dtype, int64_t ne0,
			       int64_t rows)
{
	struct accel_tensor t = accel_tensor_make(NULL, *off, dtype, ne0, rows, 1, 1);

	*off += ALIGN64((uint64_t)ne0 * rows * 4);
	return t;
}

int rt_model_alloc_activations(struct rt_model *m)
{
	const struct rt_hparams *hp = &m->hp;
	int64_t B = m->n_batch, qd = (int64_t)hp->n_head * hp->head_dim;
	int64_t kvd = (int64_t)hp->n_kv_head * hp->head_dim;
	int64_t ffw = hp->ff, k = hp->n_expert_used > 0 ? hp->n_expert_used : 1;
	struct accel_tensor *all[] = { &m->x, &m->xb, &m->xb2, &m->q, &m->k, &m->v, &m->attn,
				       &m->hb, &m->hb2, &m->router, &m->moe_w, &m->moe_ids,
				       &m->tokens, &m->pos, &m->seq, &m->block_table, &m->logits,
				       &m->logits_tmp };
	struct accel_pool_opts po;
	uint64_t off = 0;
	int ret;

	m->x = act(m, &off, ACCEL_DTYPE_F32, hp->dim, B);
	m->xb = act(m, &off, ACCEL_DTYPE_F32, hp->dim, B);
	m->xb2 = act(m, &off, ACCEL_DTYPE_F32, hp->dim, B);
	m->q = act(m, &off, ACCEL_DTYPE_F32, qd, B);
	m->k = act(m, &off, ACCEL_DTYPE_F32, kvd, B);
	m->v = act(m, &off, ACCEL_DTYPE_F32, kvd, B);
	m->attn = act(m, &off, ACCEL_DTYPE_F32, qd, B);
	m->hb = act(m, &off, ACCEL_DTYPE_F32, ffw, B);
	m->hb2 = act(m, &off, ACCEL_DTYPE_F32, ffw, B);
	m->router = act(m, &off, ACCEL_DTYPE_F32, hp->n_expert > 0 ? hp->n_expert : 1, B);
	m->moe_w = act(m, &off, ACCEL_DTYPE_F32, k, B);
	m->moe_ids = act(m, &off, ACCEL_DTYPE_I32, k, B);
	m->tokens = act(m, &off, ACCEL_DTYPE_I32, B, 1);
	m->pos = act(m, &off, ACCEL_DTYPE_I32, B, 1);
	m->seq = act(m, &off, ACCEL_DTYPE_I32, B, 1);
	m->block_table = act(m, &off, ACCEL_DTYPE_I32, m->kv->max_blocks, m->n_seq);
	m->logits = act(m, &off, ACCEL_DTYPE_F32, hp->n_vocab, rt_model_max_logits(m));
	/* chunk-major logits of a streamed, chunked output head */
	m->logits_tmp = act(m, &off, ACCEL_DTYPE_F32, hp->n_vocab,
			    m->stream && m->head_chunks > 1 ? rt_model_max_logits(m) : 1);

	po = ACCEL_OPTS(accel_pool_opts, .size = (off + 4095) & ~(uint64_t)4095,
			.flags = ACCEL_POOL_PAGEABLE);
	ret = accel_pool_create(m->dev, &po, &m->act);
	if (ret < 0)
		return rt_set_error(ret, "cannot allocate %llu KiB of activations: %s",
				    (unsigned long long)(po.size >> 10), strerror(-ret));
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		all[i]->pool = m->act;
	return 0;
}

/* rows [r0, r0 + n) of a [ne0, rows] tensor, with ne1 = n */
static struct accel_tensor rows(struct accel_tensor t, int64_t r0, int64_t n)
{
	t.offset += (uint64_t)r0 * kn_row_size(t.dtype, t.ne[0]);
	t.ne[1] = n;
	return t;
}

/* the same buffer seen as [hd, heads, n] */
static struct accel_tensor heads(struct accel_tensor t, int64_t hd, int64_t n)
{
	int64_t nh = t.ne[0] / hd;

	t.ne[0] = hd;
	t.ne[1] = nh;
	t.ne[2] = n;
	return t;
}

static struct accel_cmd *emit(struct rt_model *m)
{
	if (m->n_cmds == m->cap_cmds) {
		uint32_t cap = m->cap_cmds ? m->cap_cmds * 2 : 256;
		struct accel_cmd *c = realloc(m->cmds, sizeof(*c) * cap);

		if (!c)
			return NULL;
		m->cmds = c;
		m->cap_cmds = cap;
	}
	return &m->cmds[m->n_cmds++];
}

#define EMIT(m, call) do {				\
		struct accel_cmd *c_ = emit(m);		\
		if (!c_)				\
			return -ENOMEM;			\
		call;					\
	} while (0)

static const struct accel_tensor no_tensor;

static int build_attention(struct rt_model *m, const struct rt_layer *l, int il, int n,
			   bool decode)
{
	const struct rt_hparams *hp = &m->hp;
	struct accel_tensor xb = rows(m->xb, 0, n), q = rows(m->q, 0, n);
	struct accel_tensor k = rows(m->k, 0, n), v = rows(m->v, 0, n);
	struct accel_tensor attn = rows(m->attn, 0, n), pos = rows(m->pos, 0, 1);
	struct accel_tensor seq = rows(m->seq, 0, 1);
	float scale = 1.0f / sqrtf((float)hp->head_dim);

	pos.ne[0] = n;
	seq.ne[0] = n;
	EMIT(m, accel_cmd_prep_rmsnorm(c_, xb, rows(m->x, 0, n), l->attn_norm, hp->rms_eps));
	EMIT(m, accel_cmd_prep_matmul(c_, q, xb, l->wq, l->bq));
	EMIT(m, accel_cmd_prep_matmul(c_, k, xb, l->wk, l->bk));
	EMIT(m, accel_cmd_prep_matmul(c_, v, xb, l->wv, l->bv));
	EMIT(m, accel_cmd_prep_rope(c_, heads(q, hp->head_dim, n), pos, m->freq_factors, hp->n_rot,
				    hp->rope_mode, hp->rope_base, hp->rope_scale));
	EMIT(m, accel_cmd_prep_rope(c_, heads(k, hp->head_dim, n), pos, m->freq_factors, hp->n_rot,
				    hp->rope_mode, hp->rope_base, hp->rope_scale));
	EMIT(m, accel_cmd_prep_attn(c_, decode ? ACCEL_OP_ATTN_DECODE : ACCEL_OP_ATTN_PREFILL,
				    attn, heads(q, hp->head_dim, n), heads(k, hp->head_dim, n),
				    heads(v, hp->head_dim, n), m->kv->pool, m->block_table, pos, seq,
				    il, hp->n_layer, (int)m->kv->block_tokens, m->kv->cache_dtype,
				    scale));
	EMIT(m, accel_cmd_prep_matmul(c_, xb, attn, l->wo, no_tensor));
	EMIT(m, accel_cmd_prep_add(c_, rows(m->x, 0, n), rows(m->x, 0, n), xb));
	return 0;
}

/* MoE, first half: norm, router logits, softmax top-k (ids land in moe_ids) */
static int build_moe_route(struct rt_model *m, const struct rt_layer *l, int n)
{
	const struct rt_hparams *hp = &m->hp;
	struct accel_tensor xb = rows(m->xb, 0, n);

	EMIT(m, accel_cmd_prep_rmsnorm(c_, xb, rows(m->x, 0, n), l->ffn_norm, hp->rms_eps));
	EMIT(m, accel_cmd_prep_matmul(c_, rows(m->router, 0, n), xb, l->gate_inp, no_tensor));
	EMIT(m, accel_cmd_prep_moe_route(c_, rows(m->moe_w, 0, n), rows(m->moe_ids, 0, n),
					 rows(m->router, 0, n), hp->n_expert_used, 1));
	return 0;
}

/* MoE, second half: the routed experts (merged tensors, or a cache + table) */
static int build_moe_experts(struct rt_model *m, const struct accel_tensor *gate,
			     const struct accel_tensor *up, const struct accel_tensor *down,
			     const struct accel_tensor *table, int n)
{
	struct accel_tensor xb2 = rows(m->xb2, 0, n);

	EMIT(m, accel_cmd_prep_moe_ffn(c_, xb2, rows(m->xb, 0, n), *gate, *up, *down,
				       rows(m->moe_w, 0, n), rows(m->moe_ids, 0, n), *table));
	EMIT(m, accel_cmd_prep_add(c_, rows(m->x, 0, n), rows(m->x, 0, n), xb2));
	return 0;
}

static int build_ffn(struct rt_model *m, const struct rt_layer *l, int n)
{
	const struct rt_hparams *hp = &m->hp;
	struct accel_tensor xb = rows(m->xb, 0, n), hb = rows(m->hb, 0, n);
	struct accel_tensor hb2 = rows(m->hb2, 0, n);
	int ret;

	if (hp->n_expert) {
		if ((ret = build_moe_route(m, l, n)) < 0)
			return ret;
		return build_moe_experts(m, &l->gate_exps, &l->up_exps, &l->down_exps, &no_tensor, n);
	}
	EMIT(m, accel_cmd_prep_rmsnorm(c_, xb, rows(m->x, 0, n), l->ffn_norm, hp->rms_eps));
	EMIT(m, accel_cmd_prep_matmul(c_, hb, xb, l->w_gate, no_tensor));
	EMIT(m, accel_cmd_prep_matmul(c_, hb2, xb, l->w_up, no_tensor));
	EMIT(m, accel_cmd_prep_swiglu(c_, hb, hb, hb2));
	EMIT(m, accel_cmd_prep_matmul(c_, xb, hb, l->w_down, no_tensor));
	EMIT(m, accel_cmd_prep_add(c_, rows(m->x, 0, n), rows(m->x, 0, n), xb));
	return 0;
}

/* final norm and logits for each run of consecutive requested rows */
static int build_output(struct rt_model *m, const struct rt_batch *b, int *n_out)
{
	const struct rt_hparams *hp = &m->hp;
	int out = 0;

	for (int r = 0; r < b->n;) {
		int r1;

		if (b->logits && !b->logits[r]) {
			r++;
			continue;
		}
		for (r1 = r + 1; r1 < b->n && (!b->logits || b->logits[r1]); r1++)
			;
		if (out + (r1 - r) > rt_model_max_logits(m))
			return rt_set_error(-EINVAL, "%d rows of logits asked, at most %d per call",
					    out + (r1 - r), rt_model_max_logits(m));
		EMIT(m, accel_cmd_prep_rmsnorm(c_, rows(m->xb, r, r1 - r), rows(m->x, r, r1 - r),
					       m->output_norm, hp->rms_eps));
		EMIT(m, accel_cmd_prep_logits(c_, rows(m->logits, out, r1 - r),
					      rows(m->xb, r, r1 - r), m->output));
		out += r1 - r;
		r = r1;
	}
	*n_out = out;
	return 0;
}

/* host-side staging of the batch's ids and the block tables */
static int stage_batch(struct rt_model *m, const struct rt_batch *b, bool *decode)
{
	int32_t *tok = rt_tensor_ptr(&m->tokens), *pos = rt_tensor_ptr(&m->pos);
	int32_t *seq = rt_tensor_ptr(&m->seq), *bt = rt_tensor_ptr(&m->block_table);
	uint32_t seen = 0;

	*decode = true;
	for (int i = 0; i < b->n; i++) {
		int s = b->seq ? b->seq[i] : 0;

		if (b->tokens[i] < 0 || b->tokens[i] >= m->hp.n_vocab)
			return rt_set_error(-EINVAL, "token id %d out of range (vocab %d)",
					    b->tokens[i], m->hp.n_vocab);
		if (s < 0 || s >= m->n_seq || b->pos[i] < 0 ||
		    b->pos[i] >= m->kv->n_alloc[s] * (int)m->kv->block_tokens)
			return rt_set_error(-EINVAL, "token %d: sequence %d position %d has no KV room",
					    i, s, b->pos[i]);
		if (s < 32 && (seen & (1u << s)))
			*decode = false;
		if (s < 32)
			seen |= 1u << s;
		else
			*decode = false;
		tok[i] = b->tokens[i];
		pos[i] = b->pos[i];
		seq[i] = s;
	}
	for (int s = 0; s < m->n_seq; s++)
		for (int j = 0; j < m->kv->max_blocks; j++)
			bt[(size_t)s * m->kv->max_blocks + j] =
				j < m->kv->n_alloc[s] ? (int32_t)m->kv->table[(size_t)s * m->kv->max_blocks + j] : 0;
	return 0;
}

int rt_forward_build_embed(struct rt_model *m, const struct accel_tensor *w,
			   const struct accel_tensor *ids, int n)
{
	m->n_cmds = 0;
	EMIT(m, accel_cmd_prep_embed(c_, rows(m->x, 0, n), *w, *ids));
	return 0;
}

int rt_forward_build_layer(struct rt_model *m, int il, int n, bool decode)
{
	int ret;

	m->n_cmds = 0;
	if ((ret = build_attention(m, &m->layers[il], il, n, decode)) < 0)
		return ret;
	return build_ffn(m, &m->layers[il], n);
}

int rt_forward_build_layer_route(struct rt_model *m, int il, int n, bool decode)
{
	int ret;

	m->n_cmds = 0;
	if ((ret = build_attention(m, &m->layers[il], il, n, decode)) < 0)
		return ret;
	return build_moe_route(m, &m->layers[il], n);
}

int rt_forward_build_moe_experts(struct rt_model *m, const struct accel_tensor *gate,
				 const struct accel_tensor *up, const struct accel_tensor *down,
				 const struct accel_tensor *table, int n)
{
	m->n_cmds = 0;
	return build_moe_experts(m, gate, up, down, table, n);
}

int rt_forward_build_output(struct rt_model *m, const struct rt_batch *b, int *n_out)
{
	m->n_cmds = 0;
	return build_output(m, b, n_out);
}

int rt_forward_build_head_chunk(struct rt_model *m, const struct rt_batch *b, int h,
				const struct accel_tensor *w, int *n_out)
{
	const struct rt_hparams *hp = &m->hp;
	struct accel_tensor dst;
	int64_t r0, r1;
	int out = 0;

	m->n_cmds = 0;
	for (int r = 0; r < b->n; r++) {
		if (b->logits && !b->logits[r])
			continue;
		/* chunk 0 norms each requested row into compact rows of xb2 */
		if (h == 0)
			EMIT(m, accel_cmd_prep_rmsnorm(c_, rows(m->xb2, out, 1), rows(m->x, r, 1),
						       m->output_norm, hp->rms_eps));
		out++;
	}
	if (out > rt_model_max_logits(m))
		return rt_set_error(-EINVAL, "%d rows of logits asked, at most %d per call", out,
				    rt_model_max_logits(m));
	*n_out = out;
	if (!out) {
		EMIT(m, accel_cmd_prep(c_, ACCEL_OP_NOP));
		return 0;
	}
	rt_head_rows(m, h, &r0, &r1);
	if (out == 1 || m->head_chunks == 1) {
		/* one row, or one chunk: the chunk-major layout is the final one */
		dst = accel_tensor_make(m->act, m->logits.offset + (uint64_t)r0 * 4, ACCEL_DTYPE_F32,
					r1 - r0, out, 1, 1);
	} else {
		dst = accel_tensor_make(m->act, m->logits_tmp.offset + (uint64_t)r0 * out * 4,
					ACCEL_DTYPE_F32, r1 - r0, out, 1, 1);
	}
	EMIT(m, accel_cmd_prep_logits(c_, dst, rows(m->xb2, 0, out), *w));
	return 0;
}

void rt_forward_head_assemble(struct rt_model *m, int n_out)
{
	float *dst = rt_tensor_ptr(&m->logits);
	const float *tmp = rt_tensor_ptr(&m->logits_tmp);
	int64_t nv = m->hp.n_vocab;

	if (m->head_chunks <= 1 || n_out <= 1)
		return;
	for (int h = 0; h < m->head_chunks; h++) {
		int64_t r0, r1;

		rt_head_rows(m, h, &r0, &r1);
		for (int t = 0; t < n_out; t++)
			memcpy(dst + t * nv + r0, tmp + r0 * n_out + t * (r1 - r0),
			       sizeof(float) * (r1 - r0));
	}
}

int rt_forward_stage(struct rt_model *m, const struct rt_batch *b, bool *decode)
{
	if (b->n <= 0 || b->n > m->n_batch)
		return rt_set_error(-EINVAL, "batch of %d tokens (1..%d allowed)", b->n, m->n_batch);
	return stage_batch(m, b, decode);
}

int rt_forward_submit(struct rt_model *m, const struct accel_fence_point *waits, uint32_t nwaits,
		      const struct accel_fence_point *signal)
{
	int ret = accel_queue_submit(m->compute, m->cmds, m->n_cmds, waits, nwaits, signal);

	if (ret < 0)
		return rt_set_error(ret, "compute submission refused: %s", strerror(-ret));
	return 0;
}

int rt_forward_finish(struct rt_model *m, const float **out)
{
	int ret = accel_fence_wait(m->fence, m->fence_point, -1);

	if (ret == 0)
		ret = accel_queue_error(m->compute);
	if (ret < 0)
		return rt_set_error(ret, "compute failed: %s", strerror(-ret));
	*out = rt_tensor_ptr(&m->logits);
	return 0;
}

/* everything resident: the whole pass is one submission */
static int forward_resident(struct rt_model *m, const struct rt_batch *b, const float **out)
{
	struct accel_fence_point sig;
	struct accel_tensor ids = accel_tensor_make(m->act, m->tokens.offset, ACCEL_DTYPE_I32, b->n,
						    1, 1, 1);
	uint32_t total = 0;
	bool decode;
	int n_out = 0, ret;

	if ((ret = rt_forward_stage(m, b, &decode)) < 0)
		return ret;
	/* build the layers' streams back to back into one array */
	if ((ret = rt_forward_build_embed(m, &m->tok_embd, &ids, b->n)) < 0)
		return ret;
	total = m->n_cmds;
	for (int il = 0; il < m->hp.n_layer; il++) {
		m->n_cmds = total;
		if ((ret = build_attention(m, &m->layers[il], il, b->n, decode)) < 0 ||
		    (ret = build_ffn(m, &m->layers[il], b->n)) < 0)
			return ret;
		total = m->n_cmds;
	}
	if ((ret = build_output(m, b, &n_out)) < 0)
		return ret;
	sig.fence = m->fence;
	sig.point = ++m->fence_point;
	if ((ret = rt_forward_submit(m, NULL, 0, &sig)) < 0)
		return ret;
	if ((ret = rt_forward_finish(m, out)) < 0)
		return ret;
	return n_out;
}

int rt_model_forward(struct rt_model *m, const struct rt_batch *b, const float **out)
{
	if (m->stream)
		return rt_stream_forward(m, b, out);
	return forward_resident(m, b, out);
}
