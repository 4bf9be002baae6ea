// SPDX-License-Identifier: MIT
/*
 * The shared blocks layers are built from, read top to bottom like the
 * reference model: attention (RMSNorm, Q/K/V, optional per-head q/k norm,
 * RoPE, paged attention, output projection, residual), the dense SwiGLU
 * feed-forward, routed experts, and the output head. Each command is named
 * after the intermediate it produces, as llama.cpp names its graph's tensors.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include "arch/arch.h"
#include "kvcache.h"
#include "rt_error.h"

/* rows [r0, r0 + n) of a [ne0, rows] tensor, with ne1 = n */
static struct accel_tensor rows(struct accel_tensor t, int64_t r0, int64_t n)
{
	t.offset += (uint64_t)r0 * accel_dtype_row_size(t.dtype, t.ne[0]);
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

/* emit one command built by @call on c_, named @name of layer @il (-1: none)
 * as llama.cpp's cb(cur, name, il) names its tensors */
#define EMIT(g, name, il, call) do {					\
		struct accel_cmd *c_ = rt_exec_emit((g)->ex);		\
		if (!c_)						\
			return -ENOMEM;					\
		call;							\
		accel_cmd_name(c_, name, il);				\
	} while (0)

static const struct accel_tensor no_tensor;

/* the sequence of each of the batch's rows (I32 [n]) */
static struct accel_tensor batch_seq(const struct rt_graph *g)
{
	struct accel_tensor seq = rows(g->m->seq, 0, 1);

	seq.ne[0] = g->n;
	seq.ne[1] = g->chunk ? 2 : 1;	/* [n] ids, then [n] chunk sizes */
	return seq;
}

/* whether every logits row is its sequence's only one (a decode step of each,
 * a prompt's last token): then each row takes the one-row arithmetic, as a
 * batch of that sequence alone would (the rows are compacted, so LOGITS is
 * given the answer instead of the sequences) */
static bool head_lone(const struct rt_graph *g, const struct rt_batch *b)
{
	if (g->row_invariant)
		return true;
	for (int r = 0; r < b->n; r++) {
		if (b->logits && !b->logits[r])
			continue;
		for (int i = r + 1; i < b->n; i++)
			if ((!b->logits || b->logits[i]) && (b->seq ? b->seq[i] == b->seq[r] : true))
				return false;
	}
	return true;
}

/* a MATMUL whose F32 arithmetic is decided per sequence (accel_cmd_matmul_rows):
 * a row's result never depends on the other sequences batched with it */
static void prep_mm(struct accel_cmd *c, const struct rt_graph *g, struct accel_tensor dst,
		    struct accel_tensor x, struct accel_tensor w, struct accel_tensor bias)
{
	accel_cmd_prep_matmul(c, dst, x, w, bias);
	if (g->at_head)		/* the logits rows: as the head decides them */
		accel_cmd_matmul_rows(c, no_tensor, head_lone(g, g->b) ?
				      ACCEL_MATMUL_ROW_INVARIANT : 0, 0);
	else
		accel_cmd_matmul_rows(c, batch_seq(g), g->row_invariant ?
				      ACCEL_MATMUL_ROW_INVARIANT : 0, 0);
}

int rt_block_embed(struct rt_graph *g, const struct accel_tensor *w,
		   const struct accel_tensor *ids)
{
	EMIT(g, "inp_embd", -1, accel_cmd_prep_embed(c_, rows(g->m->x, 0, g->n), *w, *ids));
	return 0;
}

/* rows of the batch whose logits are asked for */
static int n_logits(const struct rt_batch *b)
{
	int n = 0;

	for (int r = 0; r < b->n; r++)
		n += !b->logits || b->logits[r];
	return n;
}

/*
 * The last layer past attention, as llama.cpp builds it (inp_out_ids): only
 * the rows whose logits are asked for go on, gathered into rows 0.. of
 * x_out with the residual add; the feed-forward then runs on those rows
 * alone (g->n) and writes them to rows 0.. of x, which the head reads.
 */
static int ffn_inp_compact(struct rt_graph *g, int il)
{
	struct rt_model *m = g->m;
	const struct rt_batch *b = g->b;
	int out = 0;

	for (int r = 0; r < b->n;) {
		int e;

		if (b->logits && !b->logits[r]) {
			r++;
			continue;
		}
		for (e = r + 1; e < b->n && (!b->logits || b->logits[e]); e++)
			;
		EMIT(g, "ffn_inp", il, accel_cmd_prep_add(c_, rows(m->x_out, out, e - r),
				rows(m->x, r, e - r), rows(m->xb, r, e - r)));
		out += e - r;
		r = e;
	}
	g->n = out;
	g->compact = true;
	return 0;
}

/* the residual stream the feed-forward reads: x, or x_out past the compaction */
static struct accel_tensor ffn_res(const struct rt_graph *g)
{
	return rows(g->compact ? g->m->x_out : g->m->x, 0, g->n);
}

/* llama.cpp's split-KV decode runs on its -t threads: ours, within ATTN's limit */
static int rt_attn_split(const struct rt_model *m)
{
	return m->threads < ACCEL_ATTN_SPLIT_MAX ? m->threads : ACCEL_ATTN_SPLIT_MAX;
}

int rt_block_attn(struct rt_graph *g, const struct rt_layer *l, int il)
{
	struct rt_model *m = g->m;
	const struct rt_hparams *hp = &m->hp;
	const int n = g->n, hd = hp->head_dim;
	struct accel_tensor xb = rows(m->xb, 0, n), q = rows(m->q, 0, n);
	struct accel_tensor k = rows(m->k, 0, n), v = rows(m->v, 0, n);
	struct accel_tensor attn = rows(m->attn, 0, n), x = rows(m->x, 0, n);
	struct accel_tensor pos = rows(m->pos, 0, 1), seq = rows(m->seq, 0, 1);
	float scale = 1.0f / sqrtf((float)hd);

	pos.ne[0] = n;
	seq.ne[0] = n;
	seq.ne[1] = g->chunk ? 2 : 1;	/* [n] ids, then [n] chunk sizes */
	EMIT(g, "attn_norm", il, accel_cmd_prep_rmsnorm(c_, xb, x, l->attn_norm, hp->rms_eps));
	EMIT(g, "Qcur", il, prep_mm(c_, g, q, xb, l->wq, l->bq));
	EMIT(g, "Kcur", il, prep_mm(c_, g, k, xb, l->wk, l->bk));
	EMIT(g, "Vcur", il, prep_mm(c_, g, v, xb, l->wv, l->bv));
	/* qwen3: RMSNorm over each head, in place, before RoPE */
	if (l->q_norm.ne[0])
		EMIT(g, "Qcur_normed", il, accel_cmd_prep_rmsnorm(c_, heads(q, hd, n),
				heads(q, hd, n), l->q_norm, hp->rms_eps));
	if (l->k_norm.ne[0])
		EMIT(g, "Kcur_normed", il, accel_cmd_prep_rmsnorm(c_, heads(k, hd, n),
				heads(k, hd, n), l->k_norm, hp->rms_eps));
	EMIT(g, "Qcur_rope", il, accel_cmd_prep_rope(c_, heads(q, hd, n), pos, m->freq_factors,
			hp->n_rot, hp->rope_mode, hp->rope_base, hp->rope_scale));
	EMIT(g, "Kcur_rope", il, accel_cmd_prep_rope(c_, heads(k, hd, n), pos, m->freq_factors,
			hp->n_rot, hp->rope_mode, hp->rope_base, hp->rope_scale));
	EMIT(g, "kqv_out", il, accel_cmd_prep_attn(c_, g->decode ? ACCEL_OP_ATTN_DECODE
								  : ACCEL_OP_ATTN_PREFILL,
			attn, heads(q, hd, n), heads(k, hd, n), heads(v, hd, n), m->kv->pool,
			m->block_table, pos, seq, il - m->l0, m->l1 - m->l0, (int)m->kv->block_tokens,
			m->kv->k_dtype, m->kv->v_dtype, m->kv->flash ? ACCEL_ATTN_FLASH : 0, scale);
	     c_->i[5] |= (g->row_invariant ? ACCEL_ATTN_ROW_INVARIANT : 0) |
			 (m->kv->flash ? ACCEL_ATTN_SPLIT(rt_attn_split(m)) : 0));
	EMIT(g, "attn_out", il, prep_mm(c_, g, xb, attn, l->wo, no_tensor));
	g->at_head = il == hp->n_layer - 1 && m->has_head;
	if (g->at_head && n_logits(g->b) < n)
		return ffn_inp_compact(g, il);
	EMIT(g, "ffn_inp", il, accel_cmd_prep_add(c_, x, x, xb));
	return 0;
}

int rt_block_ffn(struct rt_graph *g, const struct rt_layer *l, int il)
{
	struct rt_model *m = g->m;
	const int n = g->n;
	struct accel_tensor xb = rows(m->xb, 0, n), hb = rows(m->hb, 0, n);
	struct accel_tensor hb2 = rows(m->hb2, 0, n), x = rows(m->x, 0, n), res = ffn_res(g);

	EMIT(g, "ffn_norm", il, accel_cmd_prep_rmsnorm(c_, xb, res, l->ffn_norm, m->hp.rms_eps));
	EMIT(g, "ffn_gate", il, prep_mm(c_, g, hb, xb, l->w_gate, no_tensor));
	EMIT(g, "ffn_up", il, prep_mm(c_, g, hb2, xb, l->w_up, no_tensor));
	EMIT(g, "ffn_swiglu", il, accel_cmd_prep_swiglu(c_, hb, hb, hb2));
	EMIT(g, "ffn_out", il, prep_mm(c_, g, xb, hb, l->w_down, no_tensor));
	EMIT(g, "l_out", il, accel_cmd_prep_add(c_, x, res, xb));
	return 0;
}

/* how MOE_FFN counts each expert's rows (accel_cmd_moe_rows), as prep_mm
 * decides a MATMUL's: per sequence when the batch holds several; past the
 * last layer's compaction (whose rows the sequences' plane does not follow)
 * as the head decides its rows */
static void moe_rows(struct accel_cmd *c, const struct rt_graph *g)
{
	if (g->compact)
		accel_cmd_moe_rows(c, false, head_lone(g, g->b) ? ACCEL_MOE_ROW_INVARIANT : 0);
	else
		accel_cmd_moe_rows(c, g->moe_seq, g->row_invariant ? ACCEL_MOE_ROW_INVARIANT : 0);
}

/* norm, router logits, softmax top-k; then the routed experts, wherever the
 * weights keep them (the hook may wait for the routing to read them) */
int rt_block_moe(struct rt_graph *g, const struct rt_layer *l, int il)
{
	struct rt_model *m = g->m;
	const int n = g->n;
	struct accel_tensor xb = rows(m->xb, 0, n), xb2 = rows(m->xb2, 0, n);
	struct accel_tensor x = rows(m->x, 0, n), w = rows(m->moe_w, 0, n);
	struct accel_tensor ids = rows(m->moe_ids, 0, n), res = ffn_res(g);
	struct accel_tensor next_router;
	struct rt_experts e;
	int ret;

	EMIT(g, "ffn_norm", il, accel_cmd_prep_rmsnorm(c_, xb, res, l->ffn_norm, m->hp.rms_eps));
	EMIT(g, "ffn_moe_logits", il, prep_mm(c_, g, rows(m->router, 0, n), xb,
							     l->gate_inp, no_tensor));
	EMIT(g, "ffn_moe_weights", il, accel_cmd_prep_moe_route(c_, w, ids, rows(m->router, 0, n),
								 m->hp.n_expert_used, 1));
	/* pre-gating: this layer's normed state through the next layer's
	 * router predicts what to read early; no result depends on it */
	if (m->wops->pregate && (ret = m->wops->pregate(m, il, &next_router)) != 0) {
		if (ret < 0)
			return ret;
		EMIT(g, "ffn_moe_pregate_logits", il + 1, accel_cmd_prep_matmul(c_,
				rows(m->router, 0, n), xb, next_router, no_tensor));
		EMIT(g, "ffn_moe_pregate", il + 1, accel_cmd_prep_moe_route(c_,
				rows(m->moe_pred_w, 0, n), rows(m->moe_pred_ids, 0, n),
				rows(m->router, 0, n),
				rt_pregate_k(m->hp.n_expert, m->hp.n_expert_used), 1));
	}
	if ((ret = m->wops->experts(m, il, n, &e)) < 0)
		return ret;
	if (!e.n_group) {
		EMIT(g, "ffn_moe_out", il, (accel_cmd_prep_moe_ffn(c_, xb2, xb, e.gate, e.up, e.down,
								    w, ids, e.table), moe_rows(c_, g)));
	} else {
		/* by parts: each group of experts computes once its reads have
		 * landed, while the later ones still read; then the sum */
		struct accel_tensor slots = rows(m->moe_slots, 0, n * m->hp.n_expert_used);

		for (int i = 0; i < e.n_group; i++) {
			const struct rt_expert_group *eg = &e.group[i];

			for (int j = 0; j < 2; j++)
				if ((ret = rt_exec_wait(g->ex, &eg->wait[j])) < 0)
					return ret;
			EMIT(g, "ffn_moe_part", il, accel_cmd_prep_moe_ffn_slots(c_, slots, xb,
					e.gate, e.up, e.down, w, ids, e.table);
			     memcpy(&c_->i[1], eg->set, sizeof(eg->set)); moe_rows(c_, g));
		}
		EMIT(g, "ffn_moe_out", il, accel_cmd_prep_moe_sum(c_, xb2, slots, w));
	}
	EMIT(g, "l_out", il, accel_cmd_prep_add(c_, x, res, xb2));
	return 0;
}

int rt_block_layer(struct rt_graph *g, const struct rt_layer *l, int il)
{
	int ret = rt_block_attn(g, l, il);

	if (ret < 0)
		return ret;
	if (!g->n)	/* a compacted last layer that no logits row needs */
		return 0;
	return g->m->hp.n_expert ? rt_block_moe(g, l, il) : rt_block_ffn(g, l, il);
}

int rt_block_head(struct rt_graph *g, const struct rt_batch *b, int h,
		  const struct accel_tensor *w, int *n_out)
{
	struct rt_model *m = g->m;
	struct accel_tensor dst;
	int64_t r0, r1;
	int out = 0;

	/* chunk 0 norms each run of requested rows into compact rows of xb2 */
	for (int r = 0; r < b->n;) {
		int r1_;

		if (b->logits && !b->logits[r]) {
			r++;
			continue;
		}
		for (r1_ = r + 1; r1_ < b->n && (!b->logits || b->logits[r1_]); r1_++)
			;
		if (out + (r1_ - r) > rt_model_max_logits(m))
			return rt_set_error(-EINVAL, "%d rows of logits asked, at most %d per call",
					    out + (r1_ - r), rt_model_max_logits(m));
		/* past a compacted last layer, x holds the logits rows first */
		if (h == 0)
			EMIT(g, "result_norm", -1, accel_cmd_prep_rmsnorm(c_, rows(m->xb2, out, r1_ - r),
					rows(m->x, g->compact ? out : r, r1_ - r), m->output_norm,
					m->hp.rms_eps));
		out += r1_ - r;
		r = r1_;
	}
	*n_out = out;
	if (!out)
		return 0;
	rt_head_rows(m, h, &r0, &r1);
	if (out == 1 || m->head_chunks == 1) {
		/* one row, or one chunk: the chunk-major layout is the final one */
		dst = accel_tensor_make(m->act, m->logits.offset + (uint64_t)r0 * 4, ACCEL_DTYPE_F32,
					r1 - r0, out, 1, 1);
	} else {
		dst = accel_tensor_make(m->act, m->logits_tmp.offset + (uint64_t)r0 * out * 4,
					ACCEL_DTYPE_F32, r1 - r0, out, 1, 1);
	}
	EMIT(g, "result_output", -1, (accel_cmd_prep_logits(c_, dst, rows(m->xb2, 0, out), *w),
	     accel_cmd_matmul_rows(c_, no_tensor, head_lone(g, b) ? ACCEL_MATMUL_ROW_INVARIANT
								   : 0, m->hp.n_vocab)));
	return 0;
}

void rt_block_head_assemble(struct rt_model *m, int n_out)
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
