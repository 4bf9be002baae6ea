// SPDX-License-Identifier: MIT
/*
 * The pipeline's transport over MPI (pp.h): start-up (the ranks agree on the
 * file, split the layers, load), the messages (a batch's ids and hidden
 * state forward, logits back), the workers' loop, rank 0's sends and
 * receives, the stage times. What the front ends do with it (accel-run's
 * prompts and chat, accel-serve's scheduler) is theirs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "pp.h"
#include "rt_error.h"
#include "rt_stream.h"

#ifndef ACCEL_HAVE_MPI

bool pp_available(void)
{
	return false;
}

#else

#include <stdatomic.h>

enum { PP_FWD = 1, PP_CLEAR, PP_END, PP_REPLY };
enum { TAG_FWD = 1, TAG_REPLY = 2 };
#define PP_HAS_CHUNK 0x100	/* pp_hdr.flags: the batch has rt_batch.chunk */

/* what every message starts with */
struct pp_hdr {
	int32_t type;
	int32_t n;		/* FWD: tokens; CLEAR: sequences; REPLY: logits rows */
	int32_t flags;		/* FWD: rt_batch.flags | PP_HAS_CHUNK */
	int32_t pad;
};

/* what each rank tells the others at start */
struct pp_info {
	uint64_t fingerprint, size, budget;
	int32_t n_batch, n_ctx, n_seq, err;
	char host[64];
	char path[256];		/* the model's path there, for the message */
};

bool pp_available(void)
{
	return true;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void pp_abort(const struct pp *p, int ret, const char *what)
{
	const char *msg = rt_last_error();
	char host[64] = "";

	gethostname(host, sizeof(host) - 1);
	if (*msg)
		fprintf(stderr, "%s: rank %d (%s): %s\n", p->tool, p->rank, host, msg);
	else
		fprintf(stderr, "%s: rank %d (%s): %s: %s\n", p->tool, p->rank, host, what,
			strerror(ret < 0 ? -ret : EIO));
	fflush(stderr);
	MPI_Abort(MPI_COMM_WORLD, 1);
	_exit(1);
}

/* poll a request with a deadline (none: @timeout 0): a peer that died or
 * hangs cannot hang us, and a sleeping poll leaves the cores to compute */
static int wait_req(const struct pp *p, MPI_Request *req, const char *what, int peer,
		    double timeout)
{
	double t0 = now_s();
	long ns = 1000;
	int flag = 0;

	for (;;) {
		if (MPI_Test(req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS)
			return rt_set_error(-EIO, "MPI failed while %s rank %d", what, peer);
		if (flag)
			return 0;
		if (timeout > 0 && now_s() - t0 > timeout && peer < 0)
			return rt_set_error(-ETIMEDOUT, "no progress for %.0f s while %s every rank "
					    "(--pp-timeout): one died or hangs", timeout, what);
		if (timeout > 0 && now_s() - t0 > timeout)
			return rt_set_error(-ETIMEDOUT, "no progress for %.0f s while %s rank %d "
					    "(--pp-timeout): it died or hangs", timeout, what, peer);
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
	uint8_t *buf = malloc(1 << 20);
	off_t end;

	if (fd < 0 || !buf) {
		int err = fd < 0 ? -errno : -ENOMEM;

		if (fd >= 0)
			close(fd);
		free(buf);
		return err;
	}
	end = lseek(fd, 0, SEEK_END);
	if (end < 0) {
		close(fd);
		free(buf);
		return -EINVAL;
	}
	*size = (uint64_t)end;
	for (int i = -1; i < 64; i++) {
		off_t off = i < 0 ? 0 : (off_t)((uint64_t)end * (uint64_t)i / 64);
		ssize_t n = pread(fd, buf, i < 0 ? (1 << 20) : 4096, off);

		for (ssize_t k = 0; k < n; k++)
			h = (h ^ buf[k]) * 1099511628211ULL;
	}
	close(fd);
	free(buf);
	*fp = h ^ *size;
	return 0;
}

/* a FWD message: header, then tokens, pos, seq, logits flags, chunk (n
 * int32 each), then n rows of dim floats */
static int32_t *fwd_ids(void *msg, int n, int which)
{
	return (int32_t *)((uint8_t *)msg + sizeof(struct pp_hdr)) + (size_t)which * n;
}

static float *fwd_hidden(void *msg, int n)
{
	return (float *)fwd_ids(msg, n, 5);
}

static size_t fwd_bytes(const struct pp *p, int n)
{
	return sizeof(struct pp_hdr) + sizeof(int32_t) * 5 * (size_t)n +
	       sizeof(float) * (size_t)n * p->dim;
}

static void batch_of(void *msg, struct rt_batch *b, int8_t *want)
{
	struct pp_hdr *h = msg;
	int n = h->n;
	const int32_t *w = fwd_ids(msg, n, 3);

	for (int i = 0; i < n; i++)
		want[i] = (int8_t)w[i];
	*b = (struct rt_batch){ .n = n, .tokens = fwd_ids(msg, n, 0), .pos = fwd_ids(msg, n, 1),
				.seq = fwd_ids(msg, n, 2), .logits = want,
				.flags = h->flags & ~PP_HAS_CHUNK,
				.chunk = h->flags & PP_HAS_CHUNK ? fwd_ids(msg, n, 4) : NULL };
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

int pp_init(struct pp *p, const char *tool, double timeout)
{
	memset(p, 0, sizeof(*p));
	p->tool = tool;
	p->timeout = timeout > 0 ? timeout : 600;
	if (MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &p->provided) != MPI_SUCCESS)
		return rt_set_error(-EIO, "MPI_Init failed");
	MPI_Comm_rank(MPI_COMM_WORLD, &p->rank);
	MPI_Comm_size(MPI_COMM_WORLD, &p->size);
	gethostname(p->host, sizeof(p->host) - 1);
	p->rreq[0] = p->rreq[1] = p->sreq[0] = p->sreq[1] = MPI_REQUEST_NULL;
	return 0;
}

/* the ranks agree on the file and the batch geometry before anyone loads */
static int agree(struct pp *p, const char *model, const struct rt_model_opts *mo,
		 uint64_t budget, struct pp_info *all)
{
	struct pp_info me = { .budget = budget, .n_batch = mo->n_batch, .n_ctx = mo->n_ctx,
			      .n_seq = mo->n_seq };
	int bad = -1, ret;

	snprintf(me.host, sizeof(me.host), "%s", p->host);
	snprintf(me.path, sizeof(me.path), "%s", model);
	ret = fingerprint(model, &me.fingerprint, &me.size);
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

int pp_load(struct pp *p, const char *model, const struct rt_model_opts *mo, uint64_t budget,
	    bool verbose)
{
	struct rt_model_opts lo = *mo;
	struct rt_stream_stats ss;
	double weight[PP_MAX_RANKS];
	bool weighted = true;
	struct pp_info *all;
	size_t reply;
	int ret;

	if (p->size > PP_MAX_RANKS) {
		if (p->rank == 0)
			fprintf(stderr, "%s: under mpirun: at most %d ranks\n", p->tool, PP_MAX_RANKS);
		MPI_Finalize();
		return -EINVAL;
	}
	all = calloc(p->size, sizeof(*all));
	if (!all)
		pp_abort(p, -ENOMEM, "out of memory");
	if ((ret = agree(p, model, mo, budget, all)) < 0) {
		if (p->rank == 0)
			fprintf(stderr, "%s: %s\n", p->tool, rt_last_error());
		free(all);
		MPI_Finalize();
		return ret;
	}
	/* a rank with a bigger --mem-budget takes more bytes; no budget: equal */
	for (int r = 0; r < p->size; r++) {
		weight[r] = (double)all[r].budget;
		weighted &= all[r].budget > 0;
	}
	free(all);
	if ((ret = rt_model_split(model, p->size, weighted ? weight : NULL, p->first)) < 0)
		pp_abort(p, ret, "split");
	lo.layer_first = p->first[p->rank];
	lo.layer_end = p->first[p->rank + 1];
	if ((ret = rt_model_load(model, &lo, &p->m)) < 0)
		pp_abort(p, ret, "load");
	p->dim = rt_model_hparams(p->m)->dim;
	p->n_vocab = rt_model_hparams(p->m)->n_vocab;
	p->n_batch = rt_model_n_batch(p->m);
	p->max_logits = rt_model_max_logits(p->m);
	p->msg_bytes = fwd_bytes(p, p->n_batch);
	reply = sizeof(struct pp_hdr) + sizeof(float) * (size_t)p->n_vocab * p->max_logits;
	if (p->msg_bytes < reply)
		p->msg_bytes = reply;
	for (int i = 0; i < 2; i++) {
		p->rbuf[i] = malloc(p->msg_bytes);
		p->sbuf[i] = malloc(p->msg_bytes);
		if (!p->rbuf[i] || !p->sbuf[i])
			pp_abort(p, -ENOMEM, "out of memory");
	}
	p->reply = malloc(p->msg_bytes);
	p->logits = malloc(sizeof(float) * (size_t)p->n_vocab * p->max_logits);
	if (!p->reply || !p->logits)
		pp_abort(p, -ENOMEM, "out of memory");
	/* NCCL between GPU ranks only, where built in (UNTESTED: pp_nccl.h);
	 * where it cannot open (no libnccl, the GPU emulation) the hidden
	 * states go over MPI from host memory, as between CPU ranks. Every
	 * rank must take the same transport: they agree on it. */
	if (p->gpu && pp_nccl_built()) {
		int mine, all;

		ret = pp_nccl_open(p->rank, p->size, p->gpu_device, (size_t)p->n_batch * p->dim,
				   &p->nccl);
		mine = ret == 0;
		MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
		if (!all && p->nccl) {
			pp_nccl_close(p->nccl);
			p->nccl = NULL;
		}
		if (!all && verbose && p->rank == 0)
			fprintf(stderr, "%s: NCCL unavailable (%s): hidden states over MPI\n", p->tool,
				ret < 0 ? rt_last_error() : "another rank could not open it");
	}
	if (verbose) {
		struct rt_vram_stats vs;
		char gpu[160] = "";

		if (rt_vram_stats(p->m, &vs) == 0)
			snprintf(gpu, sizeof(gpu), "; on the GPU: %d of %d units in VRAM, %d VRAM "
				 "slots", vs.n_resident, vs.n_units, vs.n_slots);
		else if (p->gpu)
			snprintf(gpu, sizeof(gpu), "; on the GPU");
		fprintf(stderr, "%s: rank %d of %d on %s, pid %d: layers %d..%d%s%s, %s%s\n",
			p->tool, p->rank, p->size, p->host, (int)getpid(), p->first[p->rank],
			p->first[p->rank + 1] - 1, p->rank == 0 ? ", embedding" : "",
			p->rank == p->size - 1 ? ", output head" : "",
			rt_stream_stats(p->m, NULL, NULL) == 0 ? "streamed under --mem-budget"
							       : "resident", gpu);
		fflush(stderr);
	}
	{	/* everyone loaded; a rank that failed has aborted the job */
		MPI_Request rq;

		MPI_Ibarrier(MPI_COMM_WORLD, &rq);
		if ((ret = wait_req(p, &rq, "waiting at the start barrier for", -1, p->timeout)) < 0)
			pp_abort(p, ret, "barrier");
	}
	memset(&ss, 0, sizeof(ss));
	rt_stream_stats(p->m, &ss, NULL);
	p->bytes0 = (double)ss.bytes_read;
	/* without MPI_THREAD_MULTIPLE, transfers move at the ranks' own calls only */
	if (p->provided >= MPI_THREAD_MULTIPLE)
		p->have_progress = pthread_create(&p->progress, NULL, progress_thread, NULL) == 0;
	p->t_wall = now_s();
	return 0;
}

/* a worker's send buffer: the older of two, once its send completed */
static void *worker_sbuf(struct pp *p)
{
	int ret, to = p->rank == p->size - 1 ? 0 : p->rank + 1;

	if (p->sreq[p->scur] != MPI_REQUEST_NULL &&
	    (ret = wait_req(p, &p->sreq[p->scur], "sending to", to, p->timeout)) < 0)
		pp_abort(p, ret, "send");
	return p->sbuf[p->scur];
}

static void worker_isend(struct pp *p, size_t len, int dst, int tag)
{
	if (MPI_Isend(p->sbuf[p->scur], (int)len, MPI_BYTE, dst, tag, MPI_COMM_WORLD,
		      &p->sreq[p->scur]) != MPI_SUCCESS)
		pp_abort(p, rt_set_error(-EIO, "MPI_Isend to rank %d failed", dst), "send");
	p->scur ^= 1;
}

void pp_worker(struct pp *p)
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

		if ((ret = wait_req(p, &p->rreq[cur], "waiting for", p->rank - 1,
				    p->idle_ok ? 0 : p->timeout)) < 0)
			pp_abort(p, ret, "receive");
		/* the next message lands in the other buffer while this one runs */
		MPI_Irecv(p->rbuf[cur ^ 1], (int)p->msg_bytes, MPI_BYTE, p->rank - 1, TAG_FWD,
			  MPI_COMM_WORLD, &p->rreq[cur ^ 1]);
		if (h->type == PP_END || h->type == PP_CLEAR) {
			for (int i = 0; h->type == PP_CLEAR && i < h->n; i++)
				rt_model_kv_clear(p->m, fwd_ids(h, h->n, 0)[i]);
			if (!last) {
				s = worker_sbuf(p);
				memcpy(s, h, sizeof(*h) + sizeof(int32_t) * (size_t)h->n);
				worker_isend(p, sizeof(*h) + sizeof(int32_t) * (size_t)h->n,
					     p->rank + 1, TAG_FWD);
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
		if (p->nccl && (ret = pp_nccl_recv(p->nccl, fwd_hidden(h, b.n),
						   (size_t)b.n * p->dim, p->rank - 1)) < 0)
			pp_abort(p, ret, "NCCL");
		/* a sequence that starts again (a new request in a server's
		 * slot): rank 0 cleared its own; the others follow here */
		for (int i = 0; i < b.n; i++)
			if (b.pos[i] == 0)
				rt_model_kv_clear(p->m, b.seq[i]);
		for (int i = 0; i < b.n; i++)	/* KV room grows as positions come */
			if ((ret = rt_model_kv_reserve(p->m, b.seq[i], b.pos[i] + 1)) < 0)
				pp_abort(p, ret, "kv cache");
		ret = stage(p, &b, fwd_hidden(h, b.n), &out);
		if (ret < 0)
			pp_abort(p, ret, "forward");
		s = worker_sbuf(p);
		if (last) {
			struct pp_hdr *r = s;

			*r = (struct pp_hdr){ .type = PP_REPLY, .n = ret };
			memcpy(r + 1, out, sizeof(float) * (size_t)ret * p->n_vocab);
			worker_isend(p, sizeof(*r) + sizeof(float) * (size_t)ret * p->n_vocab, 0,
				     TAG_REPLY);
		} else {
			size_t ids = fwd_bytes(p, b.n) - sizeof(float) * (size_t)b.n * p->dim;

			memcpy(s, h, ids);
			if (p->nccl) {	/* the ids by MPI, the hidden state by NCCL */
				worker_isend(p, ids, p->rank + 1, TAG_FWD);
				if ((ret = pp_nccl_send(p->nccl, out, (size_t)b.n * p->dim,
							p->rank + 1)) < 0)
					pp_abort(p, ret, "NCCL");
			} else {
				memcpy(fwd_hidden(s, b.n), out, sizeof(float) * (size_t)b.n * p->dim);
				worker_isend(p, fwd_bytes(p, b.n), p->rank + 1, TAG_FWD);
			}
		}
		cur ^= 1;
	}
	MPI_Cancel(&p->rreq[cur ^ 1]);
	MPI_Wait(&p->rreq[cur ^ 1], MPI_STATUS_IGNORE);
	for (int i = 0; i < 2; i++)
		if (p->sreq[i] != MPI_REQUEST_NULL &&
		    (ret = wait_req(p, &p->sreq[i], "sending to", last ? 0 : p->rank + 1,
				    p->timeout)) < 0)
			pp_abort(p, ret, "send");
	free(want);
}

/* ---- rank 0 ---- */

/* rank 0 never blocks on a send (the last rank's replies could then wait on
 * it: a cycle): each message has its own buffer until its send completes */
static void *out_buf(struct pp *p)
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

static void out_send(struct pp *p, size_t len)
{
	struct pp_out *o = &p->out[p->n_out++];

	if (MPI_Isend(o->buf, (int)len, MPI_BYTE, 1, TAG_FWD, MPI_COMM_WORLD, &o->req) != MPI_SUCCESS)
		pp_abort(p, rt_set_error(-EIO, "MPI_Isend to rank 1 failed"), "send");
}

void pp_send(struct pp *p, const struct rt_batch *b)
{
	const float *x;
	void *msg;
	int ret = stage(p, b, NULL, &x);

	if (ret < 0)
		pp_abort(p, ret, "forward");
	msg = out_buf(p);
	*(struct pp_hdr *)msg = (struct pp_hdr){ .type = PP_FWD, .n = b->n,
		.flags = b->flags | (b->chunk ? PP_HAS_CHUNK : 0) };
	for (int i = 0; i < b->n; i++) {
		fwd_ids(msg, b->n, 0)[i] = b->tokens[i];
		fwd_ids(msg, b->n, 1)[i] = b->pos[i];
		fwd_ids(msg, b->n, 2)[i] = b->seq[i];
		fwd_ids(msg, b->n, 3)[i] = b->logits[i];
		fwd_ids(msg, b->n, 4)[i] = b->chunk ? b->chunk[i] : 0;
	}
	if (p->nccl) {		/* the ids by MPI, the hidden state by NCCL */
		out_send(p, fwd_bytes(p, b->n) - sizeof(float) * (size_t)b->n * p->dim);
		if ((ret = pp_nccl_send(p->nccl, x, (size_t)b->n * p->dim, 1)) < 0)
			pp_abort(p, ret, "NCCL");
		return;
	}
	memcpy(fwd_hidden(msg, b->n), x, sizeof(float) * (size_t)b->n * p->dim);
	out_send(p, fwd_bytes(p, b->n));
}

const float *pp_recv(struct pp *p, int n_rows)
{
	struct pp_hdr *h = p->reply;
	MPI_Request rq;
	int ret;

	MPI_Irecv(p->reply, (int)p->msg_bytes, MPI_BYTE, p->size - 1, TAG_REPLY, MPI_COMM_WORLD,
		  &rq);
	if ((ret = wait_req(p, &rq, "waiting for", p->size - 1, p->timeout)) < 0)
		pp_abort(p, ret, "receive");
	if (h->type != PP_REPLY || h->n != n_rows)
		pp_abort(p, rt_set_error(-EPROTO, "reply of %d rows, %d expected", h->n, n_rows),
			 "receive");
	return (const float *)(h + 1);
}

int pp_forward(struct pp *p, const struct rt_batch *b, const float **out)
{
	int cut[PP_MAX_RANKS + 1], rows[PP_MAX_RANKS], k = 0, n_runs = 1, total = 0;

	if (b->n <= 0 || b->n > p->n_batch)
		return rt_set_error(-EINVAL, "%d tokens in a batch of at most %d", b->n, p->n_batch);
	for (int i = 1; i < b->n; i++)
		n_runs += b->seq[i] != b->seq[i - 1];
	/* micro-batches: up to one per rank, cut where a sequence's rows end */
	{
		int want = n_runs < p->size ? n_runs : p->size;

		cut[0] = 0;
		for (int i = 1; i <= b->n; i++) {
			bool boundary = i == b->n || b->seq[i] != b->seq[i - 1];

			if (boundary && (i == b->n || (int64_t)i * want >= (int64_t)b->n * (k + 1)))
				cut[++k] = i;
		}
	}
	if (k > p->n_mb)
		p->n_mb = k;
	for (int j = 0; j < k; j++) {
		int o = cut[j], n = cut[j + 1] - cut[j];
		struct rt_batch mb = { .n = n, .tokens = b->tokens + o, .pos = b->pos + o,
				       .seq = b->seq + o, .logits = b->logits + o, .flags = b->flags,
				       .chunk = b->chunk ? b->chunk + o : NULL };

		rows[j] = 0;
		for (int i = 0; i < n; i++)
			rows[j] += mb.logits[i] != 0;
		if (total + rows[j] > p->max_logits)
			return rt_set_error(-EINVAL, "%d rows of logits asked, at most %d per call",
					    total + rows[j], p->max_logits);
		total += rows[j];
		pp_send(p, &mb);
	}
	total = 0;
	for (int j = 0; j < k; j++) {
		const float *r = pp_recv(p, rows[j]);

		memcpy(p->logits + (size_t)total * p->n_vocab, r,
		       sizeof(float) * (size_t)rows[j] * p->n_vocab);
		total += rows[j];
	}
	*out = p->logits;
	return total;
}

void pp_clear(struct pp *p, const int32_t *seq, int n)
{
	void *msg = out_buf(p);

	*(struct pp_hdr *)msg = (struct pp_hdr){ .type = PP_CLEAR, .n = n };
	for (int i = 0; i < n; i++) {
		fwd_ids(msg, n, 0)[i] = seq[i];
		rt_model_kv_clear(p->m, seq[i]);
	}
	out_send(p, sizeof(struct pp_hdr) + sizeof(int32_t) * (size_t)n);
}

void pp_end(struct pp *p)
{
	void *msg = out_buf(p);
	int ret;

	*(struct pp_hdr *)msg = (struct pp_hdr){ .type = PP_END };
	out_send(p, sizeof(struct pp_hdr));
	for (int i = 0; i < p->n_out; i++)
		if ((ret = wait_req(p, &p->out[i].req, "sending to", 1, p->timeout)) < 0)
			pp_abort(p, ret, "send");
}

void pp_report(struct pp *p, int n_gen)
{
	struct rt_stream_stats ss;
	double mine[3], *every = NULL, wall = now_s() - p->t_wall;

	if (p->have_progress) {
		atomic_store(&progress_stop, true);
		pthread_join(p->progress, NULL);
		p->have_progress = false;
	}
	memset(&ss, 0, sizeof(ss));
	rt_stream_stats(p->m, &ss, NULL);
	mine[0] = p->busy;
	mine[1] = wall;
	mine[2] = (double)ss.bytes_read - p->bytes0;
	if (p->rank == 0 && !(every = malloc(sizeof(double) * 3 * p->size)))
		pp_abort(p, -ENOMEM, "out of memory");
	MPI_Gather(mine, 3, MPI_DOUBLE, every, 3, MPI_DOUBLE, 0, MPI_COMM_WORLD);
	if (p->rank == 0) {
		double busy = 0;

		fprintf(stderr, "%s: pipeline: %d ranks, %d micro-batches:", p->tool, p->size,
			p->n_mb);
		for (int r = 0; r < p->size; r++) {
			busy += every[3 * r];
			fprintf(stderr, " rank %d layers %d..%d busy %.3f s", r, p->first[r],
				p->first[r + 1] - 1, every[3 * r]);
			if (n_gen >= 0)
				fprintf(stderr, ", %.0f bytes read/token",
					n_gen ? every[3 * r + 2] / n_gen : 0.0);
			fputc(';', stderr);
		}
		fprintf(stderr, " bubble %.3f\n", 1.0 - busy / (p->size * every[1]));
	}
	free(every);
}

void pp_fini(struct pp *p)
{
	if (p->have_progress) {
		atomic_store(&progress_stop, true);
		pthread_join(p->progress, NULL);
	}
	for (int i = 0; i < 2; i++) {
		free(p->rbuf[i]);
		free(p->sbuf[i]);
	}
	pp_nccl_close(p->nccl);
	free(p->reply);
	free(p->logits);
	for (int i = 0; i < p->n_out; i++)
		free(p->out[i].buf);
	free(p->out);
	rt_model_free(p->m);
	MPI_Finalize();
}

#endif /* ACCEL_HAVE_MPI */
