/* SPDX-License-Identifier: MIT */
/*
 * The tools' pipeline over MPI ranks (pp.c), shared by accel-run and
 * accel-serve: each rank loads a contiguous layer range (rt_model_split),
 * rank 0 runs the first stage and talks to the user, hidden states go rank
 * to rank with nonblocking point-to-point messages and the last rank sends
 * the logits back. Ranks 1..N-1 run pp_worker. Every error ends the whole
 * job (MPI_Abort) with one line; receives time out (--pp-timeout).
 *
 * This is the only place that speaks MPI: the runtime sees layer ranges and
 * hidden states, the tools see rt_batch in and logits out. Without Open MPI
 * (ACCEL_HAVE_MPI undefined) only pp_available exists, and says no.
 */
#ifndef ACCEL_PP_H
#define ACCEL_PP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pp_nccl.h"
#include "rt_model.h"

/* the most ranks a job may have */
#define PP_MAX_RANKS 256

/** pp_available - true where the tools were built with MPI */
bool pp_available(void);

#ifdef ACCEL_HAVE_MPI
#include <mpi.h>
#include <pthread.h>

/* a message rank 0 sent that is still in flight (its buffer is its own) */
struct pp_out {
	void *buf;
	MPI_Request req;
};

/**
 * struct pp - one rank's side of the pipeline
 * @tool: "accel-run": the first word of every line it prints
 * @rank, @size: this rank, how many
 * @m: this rank's layers [first[rank], first[rank + 1])
 * @timeout: seconds a wait for a peer may last (--pp-timeout)
 * @idle_ok: workers wait for rank 0's next message without a deadline (a
 *	server is idle between requests); rank 0's waits keep theirs
 * @gpu, @gpu_device: set before pp_load when the CUDA backend runs the
 *	stages: hidden states then go by NCCL (pp_nccl.h) where it was built
 *	in; otherwise, and on every CPU run, by MPI through host memory
 * @busy: seconds this rank spent in its stage
 */
struct pp {
	const char *tool;
	int rank, size;
	struct rt_model *m;
	int dim, n_vocab, n_batch, max_logits, first[PP_MAX_RANKS + 1];
	size_t msg_bytes;
	double timeout;
	bool idle_ok;
	bool gpu;
	int gpu_device;
	double busy;
	int n_mb;			/* the most micro-batches one round had */
	char host[64];
	/* internal */
	void *rbuf[2], *sbuf[2], *reply;
	MPI_Request rreq[2], sreq[2];
	int scur;
	struct pp_out *out;		/* rank 0's messages in flight */
	int n_out, cap_out;
	float *logits;			/* pp_forward's rows, max_logits of them */
	struct pp_nccl *nccl;		/* NULL: hidden states go in the MPI message */
	int provided;
	bool have_progress;
	double t_wall, bytes0;
	pthread_t progress;
};

/**
 * pp_init - MPI_Init (threads: the engine of accel-serve calls MPI from its
 * own thread); @p's rank and size. -EIO when MPI cannot start.
 */
int pp_init(struct pp *p, const char *tool, double timeout);
/**
 * pp_load - the ranks agree on the model file (fingerprints) and the batch
 * geometry of @mo, split the layers (by bytes, weighted by each rank's
 * @budget when all give one), and each loads its range with @mo. @verbose:
 * each rank prints its line (rank, host, pid, layers, placement). Returns 0,
 * or a negative errno when the ranks disagree (rank 0 printed the one line;
 * the caller returns, pp_fini unneeded); a failed load aborts the job.
 */
int pp_load(struct pp *p, const char *model, const struct rt_model_opts *mo, uint64_t budget,
	    bool verbose);
/** pp_abort - one line (the runtime's error, or @what: strerror(@ret)), then
 *  MPI_Abort: every rank ends */
void __attribute__((noreturn)) pp_abort(const struct pp *p, int ret, const char *what);

/* ---- ranks 1..N-1 ---- */

/** pp_worker - receive, run this rank's layers, pass on (or send the logits
 *  back), until rank 0's END. A row at position 0 starts its sequence
 *  afresh (what it held is dropped first): the KV of every rank follows
 *  rank 0's without a message of its own. */
void pp_worker(struct pp *p);

/* ---- rank 0 ---- */

/**
 * pp_send - stage 0 on @b, then its hidden state to rank 1 (never blocks).
 * The reply (one row of logits per @b->logits flag, in order) comes from
 * pp_recv, replies in the order of their sends.
 */
void pp_send(struct pp *p, const struct rt_batch *b);
/** pp_recv - the next reply: its rows of logits (valid until the next
 *  pp_recv or pp_forward); returns how many, which must be @n_rows */
const float *pp_recv(struct pp *p, int n_rows);
/**
 * pp_forward - @b through every rank and back, as rt_model_forward: *@out
 * the logits rows, valid until the next call; returns their count. The
 * rows are cut at sequence boundaries into up to one micro-batch per rank,
 * so stage r + 1 runs one while stage r runs the next (rows keep their
 * arithmetic: callers that cut prompts give rt_batch.chunk).
 */
int pp_forward(struct pp *p, const struct rt_batch *b, const float **out);
/** pp_clear - every rank drops the KV of sequences @seq[0..n) */
void pp_clear(struct pp *p, const int32_t *seq, int n);
/** pp_end - the workers leave pp_worker; waits for rank 0's sends */
void pp_end(struct pp *p);

/**
 * pp_report - rank 0 prints the stage times and the bubble fraction (and,
 * with @n_gen >= 0, the bytes each rank read per generated token); every
 * rank must call it (a gather)
 */
void pp_report(struct pp *p, int n_gen);
/** pp_fini - free, MPI_Finalize */
void pp_fini(struct pp *p);

#endif /* ACCEL_HAVE_MPI */
#endif /* ACCEL_PP_H */
