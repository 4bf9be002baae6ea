// SPDX-License-Identifier: MIT
/*
 * accel-run under mpirun: its front end over the pipeline of ranks
 * (tools/pipeline/pp.h: the layer split, the transport, the workers). Rank 0
 * tokenizes, embeds, samples and prints. Prompts (-p, -f, -np): the
 * sequences of a group are split into micro-batches that circulate the
 * ring, so stage r works on one while stage r + 1 works on the one before it
 * (GPipe's schedule for decode steps). --chat: one sequence whose KV stays
 * on every rank from turn to turn, fed as rt_session feeds it (n_batch
 * chunks), so each turn prints what one process prints.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "pp.h"
#include "rt_error.h"
#include "rt_generate.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_stream.h"
#include "rt_tokenizer.h"
#include "run.h"

#ifndef ACCEL_HAVE_MPI

int pipeline_main(const struct run_opts *o)
{
	fprintf(stderr, "accel-run: started by mpirun (OMPI_COMM_WORLD_SIZE is set), but this "
		"build has no MPI: install libopenmpi-dev and rebuild\n");
	return -ENOTSUP;
}

#else

/* a FWD message awaiting its reply: which sequence each logits row is */
struct pp_wait {
	int mb;
	bool last;		/* the last message of the micro-batch's round */
	int n_rows;
	int32_t rowseq[RUN_MAX_PARALLEL];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- rank 0: the front end ---- */

struct pp_seq {
	int32_t *ids;
	int n_prompt, sent, past, step;
	int32_t next;
	bool live;
	struct rt_sampler *smp;
	struct tool_text text;
	struct rt_detok dt;
};

struct pp_group {
	struct pp *p;
	const struct run_opts *o;
	struct rt_tokenizer *tok;
	struct pp_seq *sq;
	int n, n_mb, *mb0;		/* micro-batch b: sequences [mb0[b], mb0[b + 1]) */
	struct pp_wait *fifo;		/* replies come back in send order */
	int f_head, f_tail, f_cap;
	struct rt_gen_stats st;
	int n_prefilled;		/* micro-batches past their prefill */
	bool *prefilled;		/* per micro-batch */
	double t0, t_first;
	struct tool_text piece;
	int32_t *btok, *bpos, *bseq;	/* a batch being built: n_batch each */
	int8_t *bwant;
};

/* stage 0 on @b, then the hidden state to rank 1; remember whose rows come back */
static void send_fwd(struct pp_group *g, int mb, const struct rt_batch *b, bool last)
{
	struct pp *p = g->p;
	struct pp_wait *w;

	pp_send(p, b);
	if (g->f_tail - g->f_head == g->f_cap) {
		int cap = g->f_cap ? g->f_cap * 2 : 16;
		struct pp_wait *n = malloc(sizeof(*n) * cap);

		if (!n)
			pp_abort(p, -ENOMEM, "out of memory");
		for (int i = g->f_head; i < g->f_tail; i++)
			n[i - g->f_head] = g->fifo[i % g->f_cap];
		free(g->fifo);
		g->fifo = n;
		g->f_tail -= g->f_head;
		g->f_head = 0;
		g->f_cap = cap;
	}
	w = &g->fifo[g->f_tail++ % g->f_cap];
	w->mb = mb;
	w->last = last;
	w->n_rows = 0;
	for (int i = 0; i < b->n; i++)
		if (b->logits[i])
			w->rowseq[w->n_rows++] = b->seq[i];
}

/* a micro-batch's round: its prompts in batches (prefill), or one decode step */
static void submit_round(struct pp_group *g, int mb)
{
	struct pp *p = g->p;
	int32_t *tok = g->btok, *pos = g->bpos, *seq = g->bseq;
	int8_t *want = g->bwant;
	int c = 0, prefill = 0;

	for (int i = g->mb0[mb]; i < g->mb0[mb + 1]; i++)
		prefill |= g->sq[i].sent < g->sq[i].n_prompt;
	if (prefill) {
		for (int i = g->mb0[mb]; i < g->mb0[mb + 1]; i++) {
			struct pp_seq *s = &g->sq[i];

			while (s->sent < s->n_prompt) {
				tok[c] = s->ids[s->sent];
				pos[c] = s->sent;
				seq[c] = i;
				want[c] = s->sent == s->n_prompt - 1;
				c++;
				s->sent++;
				if (c == p->n_batch) {
					struct rt_batch b = { .n = c, .tokens = tok, .pos = pos, .seq = seq,
							.logits = want };
					bool more = s->sent < s->n_prompt || i + 1 < g->mb0[mb + 1];

					send_fwd(g, mb, &b, !more);
					c = 0;
				}
			}
		}
	} else {
		for (int i = g->mb0[mb]; i < g->mb0[mb + 1]; i++) {
			struct pp_seq *s = &g->sq[i];

			if (!s->live)
				continue;
			tok[c] = s->next;
			pos[c] = s->past++;
			seq[c] = i;
			want[c] = 1;
			c++;
		}
	}
	if (c) {
		struct rt_batch b = { .n = c, .tokens = tok, .pos = pos, .seq = seq, .logits = want };

		send_fwd(g, mb, &b, true);
	}
}

/* as rt_generate_parallel: accept, print, stop or go on; true when one goes on */
static bool advance(struct pp_group *g, int mb)
{
	const struct run_opts *o = g->o;
	bool any = false;
	int n_ctx = rt_model_n_ctx(g->p->m), ret;

	for (int i = g->mb0[mb]; i < g->mb0[mb + 1]; i++) {
		struct pp_seq *s = &g->sq[i];
		bool eog;

		if (!s->live)
			continue;
		rt_sampler_accept(s->smp, s->next);
		g->st.n_gen++;
		eog = rt_tokenizer_is_eog(g->tok, s->next);
		if (o->ids) {
			char b[16];
			int l = snprintf(b, sizeof(b), " %d", s->next);

			ret = tool_text_append(&s->text, b, (size_t)l);
		} else if (!eog) {
			ret = run_detok(&s->dt, g->tok, s->next, &g->piece);
			if (ret > 0)
				ret = tool_text_append(&s->text, g->piece.buf, (size_t)ret);
		} else {
			ret = 0;
		}
		if (ret < 0)
			pp_abort(g->p, ret, "output");
		if (eog || (o->n_predict > 0 && s->step + 1 >= o->n_predict) ||
		    s->past + 1 >= n_ctx) {
			if (!eog && !(o->n_predict > 0 && s->step + 1 >= o->n_predict))
				g->st.n_ctx_full++;
			s->live = false;
			continue;
		}
		s->step++;
		if ((ret = rt_model_kv_reserve(g->p->m, i, s->past + 1)) < 0)
			pp_abort(g->p, ret, "kv cache");
		any = true;
	}
	return any;
}

static void clear_seqs(struct pp_group *g)
{
	int32_t seq[RUN_MAX_PARALLEL];

	for (int i = 0; i < g->n; i++)
		seq[i] = i;
	pp_clear(g->p, seq, g->n);
}

/* one group of up to -np prompts through the pipeline */
static void run_group(struct pp_group *g, char **lines)
{
	struct pp *p = g->p;
	const struct run_opts *o = g->o;
	int n_ctx = rt_model_n_ctx(p->m), nv = p->n_vocab, active, ret;

	memset(&g->st, 0, sizeof(g->st));
	g->n_prefilled = 0;
	clear_seqs(g);
	for (int i = 0; i < g->n; i++) {
		struct pp_seq *s = &g->sq[i];
		struct rt_sampler_params sp = o->sp;

		memset(s, 0, sizeof(*s));
		s->n_prompt = run_tokenize(g->tok, lines[i], true, &s->ids);
		if (s->n_prompt < 0)
			pp_abort(p, s->n_prompt, "tokenize");
		if (s->n_prompt == 0 || s->n_prompt > n_ctx)
			pp_abort(p, rt_set_error(-ENOSPC, "prompt %d: %d tokens do not fit the "
						 "context (%d)", i, s->n_prompt, n_ctx), "prompt");
		/* blocks on demand, as rt_generate_parallel: the prompt's now */
		if ((ret = rt_model_kv_reserve(p->m, i, s->n_prompt)) < 0)
			pp_abort(p, ret, "kv cache");
		sp.seed = o->sp.seed + (uint64_t)i;
		if ((ret = rt_sampler_create(&sp, nv, &s->smp)) < 0)
			pp_abort(p, rt_set_error(ret, "bad sampling parameters"), "sampler");
		for (int j = 0; j < s->n_prompt; j++)
			rt_sampler_accept(s->smp, s->ids[j]);
		rt_detok_init(&s->dt);
		s->past = s->n_prompt;
		s->live = o->n_predict != 0;
		g->st.n_prompt += s->n_prompt;
		if (o->ids)
			for (int j = 0; j < s->n_prompt; j++) {
				char b[16];
				int l = snprintf(b, sizeof(b), "%s%d", j ? " " : "", s->ids[j]);

				if (tool_text_append(&s->text, b, (size_t)l) < 0)
					pp_abort(p, -ENOMEM, "out of memory");
			}
	}
	/* micro-batches: one per rank keeps every stage busy, as many as sequences */
	g->n_mb = g->n < p->size ? g->n : p->size;
	if (g->n_mb > p->n_mb)
		p->n_mb = g->n_mb;
	for (int b = 0; b <= g->n_mb; b++)
		g->mb0[b] = (int)((int64_t)g->n * b / g->n_mb);
	for (int b = 0; b < g->n_mb; b++)
		g->prefilled[b] = false;
	g->t0 = now_s();
	g->t_first = 0;
	for (int b = 0; b < g->n_mb; b++)
		submit_round(g, b);
	active = g->n_mb;
	while (active > 0) {
		struct pp_wait *w = &g->fifo[g->f_head % g->f_cap];
		const float *rows = pp_recv(p, w->n_rows);

		g->f_head++;
		for (int r = 0; r < w->n_rows; r++) {
			struct pp_seq *s = &g->sq[w->rowseq[r]];

			s->next = rt_sampler_sample(s->smp, rows + (size_t)nv * r);
		}
		if (!w->last)
			continue;
		if (!g->prefilled[w->mb]) {
			g->prefilled[w->mb] = true;
			if (++g->n_prefilled == g->n_mb)
				g->t_first = now_s();
		}
		if (advance(g, w->mb))
			submit_round(g, w->mb);
		else
			active--;
	}
	if (!g->t_first)
		g->t_first = now_s();
	g->st.t_prompt = g->t_first - g->t0;
	g->st.t_gen = now_s() - g->t_first;
	clear_seqs(g);
	for (int i = 0; i < g->n; i++) {
		struct pp_seq *s = &g->sq[i];
		bool single = o->n_parallel <= 1 && !o->prompt_file;

		ret = 0;
		if (!single && !o->ids)
			ret = run_write(lines[i], strlen(lines[i]));
		if (ret == 0 && s->text.buf)
			ret = run_write(s->text.buf, s->text.len);
		if (ret == 0)
			ret = run_write("\n", 1);
		if (ret < 0)
			pp_abort(p, ret, "output");
		free(s->text.buf);
		free(s->ids);
		rt_sampler_free(s->smp);
	}
}

/* the prompts: -p, or -f's lines */
static int prompt_lines(const struct run_opts *o, char ***out)
{
	FILE *f;
	char *line = NULL, **v = NULL;
	size_t cap = 0;
	ssize_t len;
	int n = 0;

	if (!o->prompt_file) {
		v = malloc(sizeof(*v));
		if (!v || !(v[0] = strdup(o->prompt)))
			return -ENOMEM;
		*out = v;
		return 1;
	}
	f = fopen(o->prompt_file, "r");
	if (!f)
		return rt_set_error(-errno, "%s: %s", o->prompt_file, strerror(errno));
	while ((len = getline(&line, &cap, f)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			continue;
		v = realloc(v, sizeof(*v) * (n + 1));
		if (!v || !(v[n++] = strdup(line)))
			return -ENOMEM;
	}
	free(line);
	fclose(f);
	if (!n)
		return rt_set_error(-EINVAL, "%s: no prompts (one per line)", o->prompt_file);
	*out = v;
	return n;
}

static void front(struct pp *p, const struct run_opts *o, struct gen_stats *tot)
{
	struct pp_group g = { .p = p, .o = o };
	char **lines = NULL;
	int n, np = o->n_parallel > 0 ? o->n_parallel : 1, ret, n_full = 0;

	if ((ret = rt_tokenizer_load(rt_model_gguf(p->m), &g.tok)) < 0)
		pp_abort(p, ret, "tokenizer");
	n = prompt_lines(o, &lines);
	if (n < 0)
		pp_abort(p, n, "prompts");
	g.sq = calloc(np, sizeof(*g.sq));
	g.mb0 = calloc(p->size + 1, sizeof(*g.mb0));
	g.prefilled = calloc(p->size, sizeof(*g.prefilled));
	g.btok = malloc(sizeof(int32_t) * p->n_batch);
	g.bpos = malloc(sizeof(int32_t) * p->n_batch);
	g.bseq = malloc(sizeof(int32_t) * p->n_batch);
	g.bwant = malloc(p->n_batch);
	if (!g.sq || !g.mb0 || !g.prefilled || !g.btok || !g.bpos || !g.bseq || !g.bwant)
		pp_abort(p, -ENOMEM, "out of memory");
	for (int base = 0; base < n; base += np) {
		g.n = n - base < np ? n - base : np;
		run_group(&g, lines + base);
		tot->n_prompt += g.st.n_prompt;
		tot->n_gen += g.st.n_gen;
		tot->t_prompt += g.st.t_prompt;
		tot->t_gen += g.st.t_gen;
		n_full += g.st.n_ctx_full;
	}
	if (n_full)
		run_ctx_full(rt_model_n_ctx(p->m), n_full, n);
	for (int i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	free(g.sq);
	free(g.mb0);
	free(g.prefilled);
	free(g.btok);
	free(g.bpos);
	free(g.bseq);
	free(g.bwant);
	free(g.fifo);
	free(g.piece.buf);
	rt_tokenizer_free(g.tok);
}

/* ---- --chat: one sequence (0) whose KV every rank keeps across turns ---- */

struct pp_chat {
	struct pp *p;
	const struct run_opts *o;
	struct rt_tokenizer *tok;
	int n_past;
	int n_gen;			/* every turn's, for the bytes per token */
	int32_t *pos, *seq;		/* n_batch each */
	int8_t *want;
};

/* @ids at positions n_past.. in rt_session's chunks (n_batch, the last row of
 * each wanted): the same rows and arithmetic as one process; *logits the
 * last token's */
static void chat_feed(struct pp_chat *c, const int32_t *ids, int n, const float **logits)
{
	struct pp *p = c->p;
	int ret;

	if ((ret = rt_model_kv_reserve(p->m, 0, c->n_past + n)) < 0)
		pp_abort(p, ret, "kv cache");
	while (n > 0) {
		int k = n < p->n_batch ? n : p->n_batch;
		struct rt_batch b = { .n = k, .tokens = ids, .pos = c->pos, .seq = c->seq,
				      .logits = c->want };

		for (int i = 0; i < k; i++) {
			c->pos[i] = c->n_past + i;
			c->seq[i] = 0;
			c->want[i] = i == k - 1;
		}
		if ((ret = pp_forward(p, &b, logits)) != 1)
			pp_abort(p, ret < 0 ? ret : -EPROTO, "forward");
		c->n_past += k;
		ids += k;
		n -= k;
	}
}

/* run_generate over the pipeline: the turn's tokens fed, then sample and
 * print until EOG or -n; what is printed is what run_generate prints */
static int chat_gen(void *ctx, const int32_t *ids, int n, struct gen_stats *st,
		    struct tool_text *reply)
{
	struct pp_chat *c = ctx;
	const struct run_opts *o = c->o;
	struct tool_text piece = { 0 };
	struct rt_sampler *smp;
	struct rt_detok dt;
	const float *logits;
	int n_ctx = rt_model_n_ctx(c->p->m), limit = o->n_predict < 0 ? n_ctx : o->n_predict;
	char num[32];
	double t0;
	int ret;

	ret = run_gen_start(o, c->n_past, n_ctx, c->p->n_vocab, ids, n, &smp);
	if (ret < 0)
		return ret;
	rt_detok_init(&dt);
	t0 = now_s();
	chat_feed(c, ids, n, &logits);
	st->t_prompt += now_s() - t0;
	st->n_prompt += n;
	t0 = now_s();
	for (int i = 0; i < limit; i++) {
		int32_t id = rt_sampler_sample(smp, logits);

		rt_sampler_accept(smp, id);
		st->n_gen++;
		c->n_gen++;
		if (o->ids) {
			int l = snprintf(num, sizeof(num), " %d", id);

			ret = run_write(num, (size_t)l);
		} else if (!rt_tokenizer_is_eog(c->tok, id)) {
			ret = run_detok(&dt, c->tok, id, &piece);
			if (ret > 0 && reply && tool_text_append(reply, piece.buf, (size_t)ret) < 0)
				ret = rt_set_error(-ENOMEM, "out of memory");
			if (ret > 0)
				ret = run_write(piece.buf, (size_t)ret);
		}
		if (ret < 0)
			goto out;
		if (rt_tokenizer_is_eog(c->tok, id) || i + 1 == limit)
			break;
		if (c->n_past + 1 >= n_ctx) {
			st->ctx_full = true;
			break;
		}
		chat_feed(c, &id, 1, &logits);
	}
	st->t_gen += now_s() - t0;
	ret = 0;
out:
	free(piece.buf);
	rt_sampler_free(smp);
	return ret;
}

static int chat_front(struct pp *p, const struct run_opts *o, int *n_gen)
{
	struct pp_chat c = { .p = p, .o = o };
	int ret;

	if ((ret = rt_tokenizer_load(rt_model_gguf(p->m), &c.tok)) < 0)
		pp_abort(p, ret, "tokenizer");
	c.pos = malloc(sizeof(int32_t) * p->n_batch);
	c.seq = malloc(sizeof(int32_t) * p->n_batch);
	c.want = malloc(p->n_batch);
	if (!c.pos || !c.seq || !c.want)
		pp_abort(p, -ENOMEM, "out of memory");
	ret = run_chat_with(o, p->m, c.tok, chat_gen, &c);
	*n_gen = c.n_gen;
	free(c.pos);
	free(c.seq);
	free(c.want);
	rt_tokenizer_free(c.tok);
	return ret;
}

int pipeline_main(const struct run_opts *o)
{
	struct pp p;
	struct gen_stats tot = { 0 };
	int ret, n_gen = 0;
	struct rt_model_opts mo = {
		.threads = o->threads, .n_ctx = o->n_ctx, .n_batch = o->n_batch,
		.n_seq = o->n_parallel > 1 ? o->n_parallel : 1, .device = o->device,
		.mem_budget = o->mem_budget,
		.mlock = o->mlock ? RT_MLOCK_REQUIRE : RT_MLOCK_AUTO,
		.type_k = o->type_k, .type_v = o->type_v, .flash_attn = o->flash_attn,
		.ctx_mode = RT_CTX_SPLIT,
		.moe_prefetch = o->moe_prefetch,
		.gpu = o->gpu, .vram_budget = o->vram_budget };

	if ((ret = pp_init(&p, "accel-run", o->pp_timeout)) < 0) {
		fprintf(stderr, "accel-run: %s\n", rt_last_error());
		return ret;
	}
	if (p.size == 1) {	/* one rank: the ordinary run */
		MPI_Finalize();
		return run_main(o);
	}
	if ((!o->prompt && !o->prompt_file && !o->chat) || o->kv_unified) {
		/* -kvu: a sequence's blocks go back on every rank only at the
		 * group's end here, so later ranks would run out before rank 0 */
		if (p.rank == 0)
			fprintf(stderr, "accel-run: under mpirun: %s\n", o->kv_unified ?
				"no --kv-unified (each sequence keeps its -c / -np share)" :
				"no prompt given (-p TEXT, -f FILE or --chat)");
		MPI_Finalize();
		return -EINVAL;
	}
	p.gpu = o->gpu;
	if ((ret = pp_load(&p, o->model, &mo, o->mem_budget, o->verbose)) < 0)
		return ret;
	ret = 0;
	if (p.rank == 0) {
		tot.load_s = rt_model_load_seconds(p.m);
		if (o->chat || o->chat_once) {
			ret = chat_front(&p, o, &n_gen);
		} else {
			front(&p, o, &tot);
			n_gen = tot.n_gen;
		}
		pp_end(&p);
	} else {
		pp_worker(&p);
	}
	if (p.rank == 0 && !o->chat && !o->chat_once)
		run_print_stats(&tot);
	pp_report(&p, n_gen);
	pp_fini(&p);
	return ret;
}

#endif /* ACCEL_HAVE_MPI */
