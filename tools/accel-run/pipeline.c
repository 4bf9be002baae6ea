// SPDX-License-Identifier: MIT
/*
 * accel-run under mpirun: pipeline parallelism over MPI. Each rank loads a
 * contiguous layer range (rt_model_split, balanced by bytes and the ranks'
 * --mem-budget), resident or streamed as on one machine, and keeps its layers'
 * KV cache; hidden states go rank to rank with nonblocking point-to-point
 * messages. Rank 0 tokenizes, embeds, samples and prints; the last rank sends
 * the logits back. The sequences of a group are split into micro-batches
 * that circulate the ring, so stage r works on one while stage r + 1 works on
 * the one before it (GPipe's schedule for decode steps). Every error ends the
 * whole job (MPI_Abort) with one line; receives time out (--pp-timeout).
 * The transport is here only: the runtime sees layer ranges and hidden states.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
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

#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>

#define PP_MAX_RANKS 256
enum { PP_FWD = 1, PP_CLEAR, PP_END, PP_REPLY };
enum { TAG_FWD = 1, TAG_REPLY = 2 };

/* what every message starts with */
struct pp_hdr {
	int32_t type;
	int32_t n;		/* FWD: tokens; CLEAR: sequences; REPLY: logits rows */
	int32_t pad[2];
};

/* what each rank tells the others at start */
struct pp_info {
	uint64_t fingerprint, size, budget;
	int32_t n_batch, n_ctx, n_seq, err;
	char host[64];
	char path[256];		/* the model's path there, for the message */
};

/* a message rank 0 sent that is still in flight (its buffer is its own) */
struct pp_out {
	void *buf;
	MPI_Request req;
};

/* a FWD message awaiting its reply: which sequence each logits row is */
struct pp_wait {
	int mb;
	bool last;		/* the last message of the micro-batch's round */
	int n_rows;
	int32_t rowseq[RUN_MAX_PARALLEL];
};

struct pp {
	int rank, size;
	struct rt_model *m;
	int dim, n_vocab, n_batch, first[PP_MAX_RANKS + 1];
	size_t msg_bytes;
	double timeout;
	double busy;			/* seconds in rt_model_forward_stage */
	int n_mb;			/* the most micro-batches a group had */
	void *rbuf[2], *sbuf[2];
	MPI_Request rreq[2], sreq[2];
	int scur;
	struct pp_out *out;		/* rank 0's messages in flight */
	int n_out, cap_out;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* the one line, then the whole job ends: mpirun takes every rank down */
static void __attribute__((noreturn)) pp_abort(const struct pp *p, int ret, const char *what)
{
	const char *msg = rt_last_error();
	char host[64] = "";

	gethostname(host, sizeof(host) - 1);
	if (*msg)
		fprintf(stderr, "accel-run: rank %d (%s): %s\n", p->rank, host, msg);
	else
		fprintf(stderr, "accel-run: rank %d (%s): %s: %s\n", p->rank, host, what,
			strerror(ret < 0 ? -ret : EIO));
	fflush(stderr);
	MPI_Abort(MPI_COMM_WORLD, 1);
	_exit(1);
}

/* poll a request with a deadline: a peer that died or hangs cannot hang us,
 * and a sleeping poll leaves the cores to the compute threads */
static int pp_wait_req(const struct pp *p, MPI_Request *req, const char *what, int peer)
{
	double t0 = now_s();
	long ns = 1000;
	int flag = 0;

	for (;;) {
		if (MPI_Test(req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS)
			return rt_set_error(-EIO, "MPI failed while %s rank %d", what, peer);
		if (flag)
			return 0;
		if (now_s() - t0 > p->timeout && peer < 0)
			return rt_set_error(-ETIMEDOUT, "no progress for %.0f s while %s every rank "
					    "(--pp-timeout): one died or hangs", p->timeout, what);
		if (now_s() - t0 > p->timeout)
			return rt_set_error(-ETIMEDOUT, "no progress for %.0f s while %s rank %d "
					    "(--pp-timeout): it died or hangs", p->timeout, what,
					    peer);
		nanosleep(&(struct timespec){ 0, ns }, NULL);
		ns = ns < 200000 ? ns * 2 : ns;
	}
}

/* FNV-1a over the file's first MiB (header, metadata, tensor table), 64
 * evenly spaced 4 KiB samples of the rest and its size: the same file on
 * every host, read in milliseconds even for a 40 GB model */
static int fingerprint(const char *path, uint64_t *fp, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	uint64_t h = 1469598103934665603ULL;
	static uint8_t buf[1 << 20];
	off_t end;

	if (fd < 0)
		return -errno;
	end = lseek(fd, 0, SEEK_END);
	if (end < 0) {
		close(fd);
		return -EINVAL;
	}
	*size = (uint64_t)end;
	for (int i = -1; i < 64; i++) {
		off_t off = i < 0 ? 0 : (off_t)((uint64_t)end * (uint64_t)i / 64);
		ssize_t n = pread(fd, buf, i < 0 ? sizeof(buf) : 4096, off);

		for (ssize_t k = 0; k < n; k++)
			h = (h ^ buf[k]) * 1099511628211ULL;
	}
	close(fd);
	*fp = h ^ *size;
	return 0;
}

/* the layout of a FWD message */
static int32_t *fwd_ids(void *msg, int n, int which)
{
	return (int32_t *)((uint8_t *)msg + sizeof(struct pp_hdr)) + (size_t)which * n;
}

static float *fwd_hidden(void *msg, int n)
{
	return (float *)fwd_ids(msg, n, 4);
}

static void batch_of(void *msg, struct rt_batch *b, int8_t *want)
{
	int n = ((struct pp_hdr *)msg)->n;
	const int32_t *w = fwd_ids(msg, n, 3);

	for (int i = 0; i < n; i++)
		want[i] = (int8_t)w[i];
	*b = (struct rt_batch){ .n = n, .tokens = fwd_ids(msg, n, 0), .pos = fwd_ids(msg, n, 1),
				.seq = fwd_ids(msg, n, 2), .logits = want };
}

static size_t fwd_bytes(const struct pp *p, int n)
{
	return sizeof(struct pp_hdr) + sizeof(int32_t) * 4 * (size_t)n +
	       sizeof(float) * (size_t)n * p->dim;
}

/* a worker's send buffer: the older of two, once its send completed */
static void *pp_sbuf(struct pp *p)
{
	int ret, to = p->rank == p->size - 1 ? 0 : p->rank + 1;

	if (p->sreq[p->scur] != MPI_REQUEST_NULL &&
	    (ret = pp_wait_req(p, &p->sreq[p->scur], "sending to", to)) < 0)
		pp_abort(p, ret, "send");
	return p->sbuf[p->scur];
}

static void pp_isend(struct pp *p, size_t len, int dst, int tag)
{
	if (MPI_Isend(p->sbuf[p->scur], (int)len, MPI_BYTE, dst, tag, MPI_COMM_WORLD,
		      &p->sreq[p->scur]) != MPI_SUCCESS)
		pp_abort(p, rt_set_error(-EIO, "MPI_Isend to rank %d failed", dst), "send");
	p->scur ^= 1;
}

/* rank 0 never blocks on a send (the last rank's replies could then wait on
 * it: a cycle): each message has its own buffer until its send completes */
static void *pp_out_buf(struct pp *p)
{
	int flag;

	for (int i = 0; i < p->n_out;) {	/* reap completed sends */
		MPI_Test(&p->out[i].req, &flag, MPI_STATUS_IGNORE);
		if (flag) {
			free(p->out[i].buf);
			p->out[i] = p->out[--p->n_out];
		} else {
			i++;
		}
	}
	if (p->n_out == p->cap_out) {
		int cap = p->cap_out ? p->cap_out * 2 : 8;
		struct pp_out *n = realloc(p->out, sizeof(*n) * cap);

		if (!n)
			pp_abort(p, -ENOMEM, "out of memory");
		p->out = n;
		p->cap_out = cap;
	}
	p->out[p->n_out].buf = malloc(p->msg_bytes);
	if (!p->out[p->n_out].buf)
		pp_abort(p, -ENOMEM, "out of memory");
	return p->out[p->n_out].buf;
}

static void pp_out_send(struct pp *p, size_t len)
{
	struct pp_out *o = &p->out[p->n_out++];

	if (MPI_Isend(o->buf, (int)len, MPI_BYTE, 1, TAG_FWD, MPI_COMM_WORLD, &o->req) != MPI_SUCCESS)
		pp_abort(p, rt_set_error(-EIO, "MPI_Isend to rank 1 failed"), "send");
}

/*
 * Messages above the eager limit (a few KiB on shared memory) move only while
 * both sides are inside MPI calls, and a rank spends its time computing: the
 * hidden state it just sent would wait for its next call, serialising the
 * stages (measured: bubble 0.50 at 2 ranks with 2 micro-batches). A thread
 * that enters MPI every 100 us keeps the transfers moving during compute.
 */
static atomic_bool progress_stop;

static void *progress_thread(void *arg)
{
	int flag;

	while (!atomic_load(&progress_stop)) {
		MPI_Iprobe(MPI_ANY_SOURCE, 999, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
	return NULL;
}

static int stage(struct pp *p, const struct rt_batch *b, const float *x, const float **out)
{
	double t0 = now_s();
	int ret = rt_model_forward_stage(p->m, b, x, out);

	p->busy += now_s() - t0;
	return ret;
}

/* ranks 1..N-1: receive, run the layers, pass on (or reply with logits) */
static void worker(struct pp *p)
{
	bool last = p->rank == p->size - 1;
	int cur = 0, ret;
	int8_t *want = malloc(p->n_batch);

	if (!want)
		pp_abort(p, -ENOMEM, "out of memory");
	MPI_Irecv(p->rbuf[0], (int)p->msg_bytes, MPI_BYTE, p->rank - 1, TAG_FWD, MPI_COMM_WORLD,
		  &p->rreq[0]);
	for (;;) {
		struct pp_hdr *h = p->rbuf[cur];
		struct rt_batch b;
		const float *out;
		void *s;

		if ((ret = pp_wait_req(p, &p->rreq[cur], "waiting for", p->rank - 1)) < 0)
			pp_abort(p, ret, "receive");
		/* the next message lands in the other buffer while this one runs */
		MPI_Irecv(p->rbuf[cur ^ 1], (int)p->msg_bytes, MPI_BYTE, p->rank - 1, TAG_FWD,
			  MPI_COMM_WORLD, &p->rreq[cur ^ 1]);
		if (h->type == PP_END || h->type == PP_CLEAR) {
			for (int i = 0; h->type == PP_CLEAR && i < h->n; i++)
				rt_model_kv_clear(p->m, fwd_ids(h, h->n, 0)[i]);
			if (!last) {
				s = pp_sbuf(p);
				memcpy(s, h, sizeof(*h) + sizeof(int32_t) * (size_t)h->n);
				pp_isend(p, sizeof(*h) + sizeof(int32_t) * (size_t)h->n, p->rank + 1,
					 TAG_FWD);
			}
			if (h->type == PP_END)
				break;
			cur ^= 1;
			continue;
		}
		if (h->type != PP_FWD || h->n <= 0 || h->n > p->n_batch)
			pp_abort(p, rt_set_error(-EPROTO, "bad message (type %d, %d tokens) from rank %d",
						 h->type, h->n, p->rank - 1), "receive");
		batch_of(h, &b, want);
		for (int i = 0; i < b.n; i++)	/* KV room grows as positions come */
			if ((ret = rt_model_kv_reserve(p->m, b.seq[i], b.pos[i] + 1)) < 0)
				pp_abort(p, ret, "kv cache");
		ret = stage(p, &b, fwd_hidden(h, b.n), &out);
		if (ret < 0)
			pp_abort(p, ret, "forward");
		s = pp_sbuf(p);
		if (last) {
			struct pp_hdr *r = s;

			r->type = PP_REPLY;
			r->n = ret;
			memcpy(r + 1, out, sizeof(float) * (size_t)ret * p->n_vocab);
			pp_isend(p, sizeof(*r) + sizeof(float) * (size_t)ret * p->n_vocab, 0, TAG_REPLY);
		} else {
			memcpy(s, h, fwd_bytes(p, b.n) - sizeof(float) * (size_t)b.n * p->dim);
			memcpy(fwd_hidden(s, b.n), out, sizeof(float) * (size_t)b.n * p->dim);
			pp_isend(p, fwd_bytes(p, b.n), p->rank + 1, TAG_FWD);
		}
		cur ^= 1;
	}
	MPI_Cancel(&p->rreq[cur ^ 1]);
	MPI_Wait(&p->rreq[cur ^ 1], MPI_STATUS_IGNORE);
	for (int i = 0; i < 2; i++)
		if (p->sreq[i] != MPI_REQUEST_NULL &&
		    (ret = pp_wait_req(p, &p->sreq[i], "sending to", last ? 0 : p->rank + 1)) < 0)
			pp_abort(p, ret, "send");
	free(want);
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
	const float *x;
	void *msg;
	struct pp_wait *w;
	int ret = stage(p, b, NULL, &x);

	if (ret < 0)
		pp_abort(p, ret, "forward");
	msg = pp_out_buf(p);
	*(struct pp_hdr *)msg = (struct pp_hdr){ .type = PP_FWD, .n = b->n };
	for (int i = 0; i < b->n; i++) {
		fwd_ids(msg, b->n, 0)[i] = b->tokens[i];
		fwd_ids(msg, b->n, 1)[i] = b->pos[i];
		fwd_ids(msg, b->n, 2)[i] = b->seq[i];
		fwd_ids(msg, b->n, 3)[i] = b->logits[i];
	}
	memcpy(fwd_hidden(msg, b->n), x, sizeof(float) * (size_t)b->n * p->dim);
	pp_out_send(p, fwd_bytes(p, b->n));
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
	struct pp *p = g->p;
	void *msg = pp_out_buf(p);

	*(struct pp_hdr *)msg = (struct pp_hdr){ .type = PP_CLEAR, .n = g->n };
	for (int i = 0; i < g->n; i++) {
		fwd_ids(msg, g->n, 0)[i] = i;
		rt_model_kv_clear(p->m, i);
	}
	pp_out_send(p, sizeof(struct pp_hdr) + sizeof(int32_t) * (size_t)g->n);
}

/* one group of up to -np prompts through the pipeline */
static void run_group(struct pp_group *g, char **lines)
{
	struct pp *p = g->p;
	const struct run_opts *o = g->o;
	int n_ctx = rt_model_n_ctx(p->m), nv = p->n_vocab, active, ret;
	MPI_Request rq;
	float *reply = malloc(p->msg_bytes);

	if (!reply)
		pp_abort(p, -ENOMEM, "out of memory");
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
		struct pp_hdr *h = (struct pp_hdr *)reply;

		MPI_Irecv(reply, (int)p->msg_bytes, MPI_BYTE, p->size - 1, TAG_REPLY, MPI_COMM_WORLD,
			  &rq);
		if ((ret = pp_wait_req(p, &rq, "waiting for", p->size - 1)) < 0)
			pp_abort(p, ret, "receive");
		if (h->type != PP_REPLY || h->n != w->n_rows)
			pp_abort(p, rt_set_error(-EPROTO, "reply of %d rows, %d expected", h->n,
						 w->n_rows), "receive");
		g->f_head++;
		for (int r = 0; r < w->n_rows; r++) {
			struct pp_seq *s = &g->sq[w->rowseq[r]];

			s->next = rt_sampler_sample(s->smp, (float *)(h + 1) + (size_t)nv * r);
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
	free(reply);
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

/* the ranks agree on the file and the batch geometry before anyone loads */
static int agree(struct pp *p, const struct run_opts *o, struct pp_info *all)
{
	struct pp_info me = { .budget = o->mem_budget, .n_batch = o->n_batch, .n_ctx = o->n_ctx,
			      .n_seq = o->n_parallel };
	int bad = -1, ret;

	gethostname(me.host, sizeof(me.host) - 1);
	snprintf(me.path, sizeof(me.path), "%s", o->model);
	ret = fingerprint(o->model, &me.fingerprint, &me.size);
	me.err = ret < 0 ? -ret : 0;
	MPI_Allgather(&me, sizeof(me), MPI_BYTE, all, sizeof(me), MPI_BYTE, MPI_COMM_WORLD);
	for (int r = 0; r < p->size && bad < 0; r++)
		if (all[r].err)
			bad = r, ret = rt_set_error(-all[r].err, "rank %d (%s): %s: %s", r, all[r].host,
						    all[r].path, strerror(all[r].err));
	for (int r = 1; r < p->size && bad < 0; r++)
		if (all[r].fingerprint != all[0].fingerprint || all[r].size != all[0].size)
			bad = r, ret = rt_set_error(-EINVAL, "rank %d (%s): %s is not the file rank 0 "
						    "(%s) has as %s (fingerprint %016llx, %llu bytes "
						    "vs %016llx, %llu bytes): every host needs the "
						    "same model file", r, all[r].host, all[r].path,
						    all[0].host, all[0].path,
						    (unsigned long long)all[r].fingerprint,
						    (unsigned long long)all[r].size,
						    (unsigned long long)all[0].fingerprint,
						    (unsigned long long)all[0].size);
	for (int r = 1; r < p->size && bad < 0; r++)
		if (all[r].n_batch != all[0].n_batch || all[r].n_ctx != all[0].n_ctx ||
		    all[r].n_seq != all[0].n_seq)
			bad = r, ret = rt_set_error(-EINVAL, "rank %d (%s): -b/-c/-np differ from rank "
						    "0's: every rank needs the same", r, all[r].host);
	return bad < 0 ? 0 : ret;
}

int pipeline_main(const struct run_opts *o)
{
	struct pp p = { .timeout = o->pp_timeout > 0 ? o->pp_timeout : 600 };
	pthread_t progress;
	bool have_progress = false;
	int provided = 0;
	struct pp_info *all;
	struct gen_stats tot = { 0 };
	struct rt_stream_stats ss;
	double weight[PP_MAX_RANKS], wall, mine[3], *every = NULL;
	bool weighted = true;
	int ret;

	if (o->gpu) {
		fprintf(stderr, "accel-run: --gpu does not run under mpirun yet (the pipeline's "
			"stages are CPU only)\n");
		return -EOPNOTSUPP;
	}

	if (MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
		fprintf(stderr, "accel-run: MPI_Init failed\n");
		return -EIO;
	}
	MPI_Comm_rank(MPI_COMM_WORLD, &p.rank);
	MPI_Comm_size(MPI_COMM_WORLD, &p.size);
	if (p.size == 1) {	/* one rank: the ordinary run */
		MPI_Finalize();
		return run_main(o);
	}
	if (o->chat || o->chat_once || (!o->prompt && !o->prompt_file) ||
	    p.size > PP_MAX_RANKS || o->kv_unified) {
		/* -kvu: a sequence's blocks go back on every rank only at the
		 * group's end here, so later ranks would run out before rank 0 */
		if (p.rank == 0)
			fprintf(stderr, "accel-run: under mpirun: %s\n", p.size > PP_MAX_RANKS ?
				"at most 256 ranks" : o->kv_unified ? "no --kv-unified (each "
				"sequence keeps its -c / -np share)" : "-p or -f prompts only (no --chat)");
		MPI_Finalize();
		return -EINVAL;
	}
	all = calloc(p.size, sizeof(*all));
	if (!all)
		pp_abort(&p, -ENOMEM, "out of memory");
	if ((ret = agree(&p, o, all)) < 0) {
		if (p.rank == 0)
			fprintf(stderr, "accel-run: %s\n", rt_last_error());
		free(all);
		MPI_Finalize();
		return ret;
	}
	/* a rank with a bigger --mem-budget takes more bytes; no budget: equal */
	for (int r = 0; r < p.size; r++) {
		weight[r] = (double)all[r].budget;
		weighted &= all[r].budget > 0;
	}
	if ((ret = rt_model_split(o->model, p.size, weighted ? weight : NULL, p.first)) < 0)
		pp_abort(&p, ret, "split");
	{
		struct rt_model_opts mo = {
			.threads = o->threads, .n_ctx = o->n_ctx, .n_batch = o->n_batch,
			.n_seq = o->n_parallel > 1 ? o->n_parallel : 1, .device = o->device,
			.mem_budget = o->mem_budget,
			.mlock = o->mlock ? RT_MLOCK_REQUIRE : RT_MLOCK_AUTO,
			.type_k = o->type_k, .type_v = o->type_v, .flash_attn = o->flash_attn,
			.ctx_mode = RT_CTX_SPLIT,
			.moe_prefetch = o->moe_prefetch,
			.layer_first = p.first[p.rank], .layer_end = p.first[p.rank + 1] };

		if ((ret = rt_model_load(o->model, &mo, &p.m)) < 0)
			pp_abort(&p, ret, "load");
	}
	p.dim = rt_model_hparams(p.m)->dim;
	p.n_vocab = rt_model_hparams(p.m)->n_vocab;
	p.n_batch = rt_model_n_batch(p.m);
	p.msg_bytes = fwd_bytes(&p, p.n_batch);
	if (p.msg_bytes < sizeof(struct pp_hdr) + sizeof(float) * (size_t)p.n_vocab *
			  rt_model_max_logits(p.m))
		p.msg_bytes = sizeof(struct pp_hdr) + sizeof(float) * (size_t)p.n_vocab *
			      rt_model_max_logits(p.m);
	p.rreq[0] = p.rreq[1] = p.sreq[0] = p.sreq[1] = MPI_REQUEST_NULL;
	for (int i = 0; i < 2; i++) {
		p.rbuf[i] = malloc(p.msg_bytes);
		p.sbuf[i] = malloc(p.msg_bytes);
		if (!p.rbuf[i] || !p.sbuf[i])
			pp_abort(&p, -ENOMEM, "out of memory");
	}
	if (o->verbose) {
		fprintf(stderr, "accel-run: rank %d of %d on %s, pid %d: layers %d..%d%s%s, %s\n",
			p.rank, p.size, all[p.rank].host, (int)getpid(), p.first[p.rank],
			p.first[p.rank + 1] - 1, p.rank == 0 ? ", embedding" : "",
			p.rank == p.size - 1 ? ", output head" : "",
			rt_stream_stats(p.m, NULL, NULL) == 0 ? "streamed under --mem-budget"
							       : "resident");
		fflush(stderr);
	}
	{	/* everyone loaded; a rank that failed has aborted the job */
		MPI_Request rq;

		MPI_Ibarrier(MPI_COMM_WORLD, &rq);
		if ((ret = pp_wait_req(&p, &rq, "waiting at the start barrier for", -1)) < 0)
			pp_abort(&p, ret, "barrier");
	}
	memset(&ss, 0, sizeof(ss));
	rt_stream_stats(p.m, &ss, NULL);
	mine[2] = (double)ss.bytes_read;
	/* without MPI_THREAD_MULTIPLE, transfers move at the ranks' own calls only */
	if (provided >= MPI_THREAD_MULTIPLE)
		have_progress = pthread_create(&progress, NULL, progress_thread, NULL) == 0;
	wall = now_s();
	if (p.rank == 0) {
		tot.load_s = rt_model_load_seconds(p.m);
		front(&p, o, &tot);
		{
			void *msg = pp_out_buf(&p);

			*(struct pp_hdr *)msg = (struct pp_hdr){ .type = PP_END };
			pp_out_send(&p, sizeof(struct pp_hdr));
		}
		for (int i = 0; i < p.n_out; i++)
			if ((ret = pp_wait_req(&p, &p.out[i].req, "sending to", 1)) < 0)
				pp_abort(&p, ret, "send");
	} else {
		worker(&p);
	}
	wall = now_s() - wall;
	if (have_progress) {
		atomic_store(&progress_stop, true);
		pthread_join(progress, NULL);
	}
	memset(&ss, 0, sizeof(ss));
	rt_stream_stats(p.m, &ss, NULL);
	mine[0] = p.busy;
	mine[1] = wall;
	mine[2] = (double)ss.bytes_read - mine[2];
	if (p.rank == 0 && !(every = malloc(sizeof(double) * 3 * p.size)))
		pp_abort(&p, -ENOMEM, "out of memory");
	MPI_Gather(mine, 3, MPI_DOUBLE, every, 3, MPI_DOUBLE, 0, MPI_COMM_WORLD);
	if (p.rank == 0) {
		double busy = 0;

		run_print_stats(&tot);
		fprintf(stderr, "accel-run: pipeline: %d ranks, %d micro-batches:", p.size, p.n_mb);
		for (int r = 0; r < p.size; r++) {
			busy += every[3 * r];
			fprintf(stderr, " rank %d layers %d..%d busy %.3f s, %.0f bytes read/token;",
				r, p.first[r], p.first[r + 1] - 1, every[3 * r],
				tot.n_gen ? every[3 * r + 2] / tot.n_gen : 0.0);
		}
		fprintf(stderr, " bubble %.3f\n", 1.0 - busy / (p.size * every[1]));
	}
	free(every);
	for (int i = 0; i < 2; i++) {
		free(p.rbuf[i]);
		free(p.sbuf[i]);
	}
	free(p.out);
	free(all);
	rt_model_free(p.m);
	MPI_Finalize();
	return 0;
}

#endif /* ACCEL_HAVE_MPI */
