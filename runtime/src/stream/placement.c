// SPDX-License-Identifier: MIT
/*
 * Placement: from a pinned-memory budget, which units (layers, output head)
 * stay resident and how many ring slots stream the rest. Pure arithmetic on
 * the tensor table; allocates nothing but its own arrays.
 *
 * Every streamed byte costs the same disk time per pass, so the choice of
 * which units stay resident maximises resident bytes (largest first). The
 * token embedding is needed only by rows, so it is the last to stay resident:
 * streamed, its rows are read on demand (a few KiB per token). A pipeline
 * stage places only its own units (the others count as resident and empty)
 * and the embedding only where it embeds.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/arch.h"
#include "rt_error.h"
#include "rt_gguf.h"
#include "stream.h"

#define PAGE RT_PAGE
#define span_bytes rt_span

static uint64_t tensor_span(const struct rt_gguf *g, const char *name)
{
	const struct rt_gguf_tensor *gt = rt_gguf_find_tensor(g, name);

	return gt ? span_bytes(gt->offset, gt->offset + gt->size) : 0;
}

/* bytes as the tools' size arguments write them, rounded up: 12K, 1.5M, 3G */
static const char *fmt_size(char *buf, uint64_t b)
{
	static const char unit[] = "KMGT";
	double v = (double)b / 1024;
	int u = 0;

	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	if (v < 10 && u > 0)
		snprintf(buf, 32, "%.1f%c", ceil(v * 10) / 10, unit[u]);
	else
		snprintf(buf, 32, "%.0f%c", ceil(v), unit[u]);
	return buf;
}

void rt_placement_free(struct rt_placement *p)
{
	free(p->resident);
	free(p->unit_bytes);
	free(p->unit_stream_bytes);
	memset(p, 0, sizeof(*p));
}

int rt_unit_pieces(const struct rt_model *m, int u, uint64_t *b, uint64_t *e)
{
	struct rt_layer *l = &m->layers_file[u < m->hp.n_layer ? u : 0];
	int n = 0;

	if (!m->hp.n_expert || u >= m->hp.n_layer) {
		rt_unit_range(m, u, &b[0], &e[0]);
		return 1;
	}
	for (int r = 0; r < m->arch->n_tensors; r++) {	/* <= RT_MAX_PIECES rows */
		const struct accel_tensor *t = rt_layer_tensor(m, l, r);

		if (!t->ne[0] || m->arch->tensors[r].flags & RT_T_EXPERT)
			continue;
		b[n] = t->offset;
		e[n] = t->offset + rt_tensor_nbytes(t);
		n++;
	}
	return n;
}

/* bytes a streamed MoE layer reads: its non-expert tensors, each aligned */
static uint64_t moe_base_bytes(const struct rt_model *m, int il)
{
	uint64_t b[RT_MAX_PIECES], e[RT_MAX_PIECES], sum = 0;
	int n = rt_unit_pieces(m, il, b, e);

	for (int i = 0; i < n; i++)
		sum += span_bytes(b[i], e[i]);
	return sum;
}

/* one expert's three slices, each as an aligned span */
uint64_t rt_expert_entry_bytes(const struct rt_model *m)
{
	const struct rt_layer *l = &m->layers_file[0];
	uint64_t g = accel_dtype_row_size(l->gate_exps.dtype, l->gate_exps.ne[0]) * l->gate_exps.ne[1];
	uint64_t u = accel_dtype_row_size(l->up_exps.dtype, l->up_exps.ne[0]) * l->up_exps.ne[1];
	uint64_t d = accel_dtype_row_size(l->down_exps.dtype, l->down_exps.ne[0]) * l->down_exps.ne[1];

	return ((g + 2 * PAGE - 1) & ~(PAGE - 1)) + ((u + 2 * PAGE - 1) & ~(PAGE - 1)) +
	       ((d + 2 * PAGE - 1) & ~(PAGE - 1));
}

/* the file span of unit u: a layer, or the output head */
void rt_unit_range(const struct rt_model *m, int u, uint64_t *begin, uint64_t *end)
{
	const struct rt_gguf_tensor *gt;

	if (u < m->hp.n_layer) {
		*begin = m->layers_file[u].file_begin;
		*end = m->layers_file[u].file_end;
		return;
	}
	gt = rt_gguf_find_tensor(m->gguf, m->hp.tied_output ? "token_embd.weight" : "output.weight");
	{
		int64_t r0, r1;
		uint64_t row = accel_dtype_row_size(gt->type, gt->ne[0]);

		rt_head_rows(m, u - m->hp.n_layer, &r0, &r1);
		*begin = gt->offset + (uint64_t)r0 * row;
		*end = gt->offset + (uint64_t)r1 * row;
	}
}

/* reads a pass saves when unit u is resident (a token's experts for a MoE
 * layer: MoE units stream their base and the routed experts) */
static uint64_t unit_saves(const struct rt_model *m, const struct rt_placement *p, int u)
{
	if (!m->hp.n_expert || u >= m->hp.n_layer)
		return p->unit_bytes[u];
	return p->unit_stream_bytes[u] + (uint64_t)m->hp.n_expert_used * p->expert_entry_bytes;
}

/* unit a before unit b: more saved per byte kept, then larger */
static bool saves_more(const struct rt_model *m, const struct rt_placement *p, int a, int b)
{
	/* saves(a) / bytes(a) > saves(b) / bytes(b), in 128-bit products */
	unsigned __int128 l = (unsigned __int128)unit_saves(m, p, a) * p->unit_bytes[b];
	unsigned __int128 r = (unsigned __int128)unit_saves(m, p, b) * p->unit_bytes[a];

	return l != r ? l > r : p->unit_bytes[a] > p->unit_bytes[b];
}

int rt_placement_plan(const struct rt_model *m, uint64_t budget, struct rt_placement *p)
{
	int nu = m->hp.n_layer + m->head_chunks, *order = NULL;
	uint64_t globals, embed, embed_stage, max_unit = 0, left, total = 0;
	const struct rt_gguf_tensor *emb = rt_gguf_find_tensor(m->gguf, "token_embd.weight");
	/* the embedding apart from the head: untied, or the head is another stage's */
	bool emb_apart = m->embeds && !(m->hp.tied_output && m->has_head);

	memset(p, 0, sizeof(*p));
	p->budget = budget;
	p->n_units = nu;
	p->resident = calloc(nu, sizeof(*p->resident));
	p->unit_bytes = calloc(nu, sizeof(*p->unit_bytes));
	p->unit_stream_bytes = calloc(nu, sizeof(*p->unit_stream_bytes));
	order = calloc(nu, sizeof(*order));
	if (!p->resident || !p->unit_bytes || !p->unit_stream_bytes || !order) {
		free(order);
		rt_placement_free(p);
		return -ENOMEM;
	}
	for (int u = 0; u < nu; u++) {
		uint64_t b, e;

		order[u] = u;
		if (!rt_model_unit_used(m, u))
			continue;	/* another stage's: no bytes, never streamed */
		rt_unit_range(m, u, &b, &e);
		p->unit_bytes[u] = span_bytes(b, e);
		p->unit_stream_bytes[u] = m->hp.n_expert && u < m->hp.n_layer ? moe_base_bytes(m, u)
									     : p->unit_bytes[u];
		if (p->unit_stream_bytes[u] > max_unit)
			max_unit = p->unit_stream_bytes[u];
		total += p->unit_bytes[u];
	}
	/* small tensors always resident: norms of the head, rope factors */
	globals = tensor_span(m->gguf, "output_norm.weight") +
		  tensor_span(m->gguf, "rope_freqs.weight");
	embed = emb_apart ? span_bytes(emb->offset, emb->offset + emb->size) : 0;
	/* on-demand rows: an aligned raw read plus the packed row, per batch token */
	{
		uint64_t row = accel_dtype_row_size(emb->type, emb->ne[0]);

		embed_stage = !m->embeds ? 0 :
			(uint64_t)m->n_batch * (((row + 2 * PAGE - 1) & ~(PAGE - 1)) +
						((row + 63) & ~63ULL)) + PAGE;
	}

	if (total + embed + globals <= budget) {
		for (int u = 0; u < nu; u++)
			p->resident[u] = true;
		p->embed_resident = true;
		p->resident_bytes = total + embed + globals;
		p->min_budget = p->resident_bytes;
		free(order);
		return 0;
	}
	/* MoE: an expert cache that holds every expert one batch can route to */
	if (m->hp.n_expert) {
		int need = m->hp.n_expert_used * m->n_batch;

		p->expert_entry_bytes = rt_expert_entry_bytes(m);
		p->n_expert_entries = need < m->hp.n_expert ? need : m->hp.n_expert;
	}
	p->min_budget = 2 * max_unit + globals + embed_stage +
			(uint64_t)p->n_expert_entries * p->expert_entry_bytes;
	if (budget < p->min_budget) {
		uint64_t experts = (uint64_t)p->n_expert_entries * p->expert_entry_bytes;
		uint64_t whole = total + embed + globals;
		char need[32], have[32], slot[32], glob[32], stage[32], exp[32], all[32];
		char moe[96] = "";

		if (experts)
			snprintf(moe, sizeof(moe), ", %s of expert cache (%d experts)",
				 fmt_size(exp, experts), p->n_expert_entries);
		/* the parts, and the other way out: a budget that holds it all */
		rt_set_error(-ENOMEM, "--mem-budget %s is too small for this model: streaming needs "
			     "at least %s (2 slots of %s for its largest layer, %s of resident "
			     "tensors, %s to stage embedding rows for a batch of %d%s); keeping it all "
			     "resident (no streaming) needs %s",
			     fmt_size(have, budget), fmt_size(need, p->min_budget),
			     fmt_size(slot, max_unit), fmt_size(glob, globals),
			     fmt_size(stage, embed_stage), m->n_batch, moe, fmt_size(all, whole));
		free(order);
		rt_placement_free(p);
		return -ENOMEM;
	}
	p->n_slots = 2;
	p->slot_bytes = max_unit;
	p->embed_bytes = embed_stage;
	left = budget - p->min_budget;
	/*
	 * The units that save the most reads per byte of budget first, the
	 * largest of those first: a dense unit or the head saves its bytes
	 * every pass, a streamed MoE layer only its base and the experts a
	 * token routes to (a 8-layer qwen3-30b-a3b-shape model: 32M of its
	 * 343M, while its 171M output head streamed whole under 1G because a
	 * layer was larger and went first)
	 */
	for (int i = 0; i < nu; i++)
		for (int j = i + 1; j < nu; j++)
			if (saves_more(m, p, order[j], order[i])) {
				int t = order[i];

				order[i] = order[j];
				order[j] = t;
			}
	p->resident_bytes = globals;
	for (int i = 0; i < nu; i++) {
		int u = order[i];

		if (p->unit_bytes[u] <= left) {
			p->resident[u] = true;
			left -= p->unit_bytes[u];
			p->resident_bytes += p->unit_bytes[u];
		}
	}
	/*
	 * The two slots were sized for the largest unit, which may have just
	 * become resident: they need only fit the units that stream, and the
	 * rest goes to a third slot, the embedding or the expert cache. (A
	 * 4-layer mixtral-8x7b-shape model under 1G: the 71M output head is
	 * resident and the layers stream 24M each, so 94M of slots held
	 * nothing; now they are a third slot and the resident embedding.)
	 */
	{
		uint64_t slot = 0;

		for (int u = 0; u < nu; u++)
			if (!p->resident[u] && p->unit_stream_bytes[u] > slot)
				slot = p->unit_stream_bytes[u];
		if (slot) {
			left += 2 * (max_unit - slot);
			max_unit = slot;
		}
	}
	/* a third slot deepens the prefetch when the budget allows */
	if (left >= max_unit) {
		p->n_slots = 3;
		left -= max_unit;
	}
	if (!m->embeds) {		/* nothing to embed here */
		left += p->embed_bytes;
		p->embed_bytes = 0;
		p->embed_resident = true;
	} else if (emb_apart && embed <= left + p->embed_bytes) {
		left += p->embed_bytes;
		p->embed_bytes = 0;
		p->embed_resident = true;
		p->resident_bytes += embed;
		left -= embed;
	}
	/* what is left caches more experts (a hit saves a read) */
	if (p->expert_entry_bytes) {
		uint64_t more = left / p->expert_entry_bytes;
		uint64_t cap = (uint64_t)m->hp.n_layer * m->hp.n_expert - p->n_expert_entries;

		more = more < cap ? more : cap;
		p->n_expert_entries += (int)more;
		left -= more * p->expert_entry_bytes;
	}
	/* the slot size only needs to fit the units that stream */
	p->slot_bytes = 0;
	for (int u = 0; u < nu; u++)
		if (!p->resident[u]) {
			p->streamed_bytes_per_pass += p->unit_stream_bytes[u];
			if (p->unit_stream_bytes[u] > p->slot_bytes)
				p->slot_bytes = p->unit_stream_bytes[u];
		}
	if (m->hp.tied_output && m->has_head && p->resident[nu - 1]) {
		p->embed_resident = true;	/* the head is the embedding */
		p->embed_bytes = 0;
	}
	free(order);
	return 0;
}
