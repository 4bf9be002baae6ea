/* SPDX-License-Identifier: MIT */
/*
 * Queues (queue.c) and the engines behind them (engine_compute.c,
 * engine_copy.c). A queue owns one submission thread that takes
 * submissions in order: waits on their fence points, runs the commands on
 * its engine, signals. The engine vtable is the slot for more engines
 * (a CUDA COMPUTE backend) without touching the queue logic.
 */
#ifndef ACCEL_QUEUE_H
#define ACCEL_QUEUE_H

#include <stdatomic.h>
#include "backend.h"

struct accel_queue;

struct accel_engine_ops {
	const char *name;
	uint32_t engine;	/* enum accel_engine: the op table says which ops it runs */
	int (*init)(struct accel_queue *q, const struct accel_queue_opts *opts);
	void (*fini)(struct accel_queue *q);
	/* check - validation of one command at submit time; the queue has
	 * already checked that the op runs on this engine (op table) */
	int (*check)(struct accel_queue *q, const struct accel_cmd *cmd);
	/* exec - run @n commands in order on the submission thread; stops at
	 * and returns the first error */
	int (*exec)(struct accel_queue *q, const struct accel_cmd *cmds, uint32_t n);
	/* exec may run on a thread of accel_queue_submit_run's caller (never
	 * while the queue's own thread runs a submission) */
	bool run_inline;
	/* group - optional: how many of @cmds[0..n) from the first (1 to
	 * ACCEL_QUEUE_GROUP_MAX) the engine runs at once, as one group whose
	 * order nothing can observe; exec of exactly those then stores each
	 * one's end (accel_now_ns) in q->t_done[i] when that is set (tracing) */
	uint32_t (*group)(struct accel_queue *q, const struct accel_cmd *cmds, uint32_t n);
};

#define ACCEL_QUEUE_GROUP_MAX	ACCEL_FILE_SEG_MAX	/* a group is one file_xfer */

struct accel_sub {
	struct accel_sub *next;
	uint32_t count, nwaits;
	struct accel_cmd *cmds;
	struct accel_fence_point *waits;
	struct accel_fence_point signal;	/* .fence NULL: none */
	int cancelled;				/* accel_queue_cancel: skip the commands */
	int skip_waits;				/* cancelled before it was taken */
};

struct accel_queue {
	struct accel_device *dev;
	struct accel_link link;			/* in dev->queues */
	const struct accel_engine_ops *eng;
	void *eng_priv;
	pthread_t thread;
	pthread_mutex_t lock;			/* protects head/tail/waiting/stop/pending
					 * and each queued sub's cancelled */
	pthread_cond_t work;			/* head became non-NULL, an inline run
					 * ended, or stop */
	pthread_cond_t idle;			/* pending became 0 */
	struct accel_sub *head, *tail;
	struct accel_sub *waiting;		/* taken, in its fence waits: cancellable */
	int stop;
	int inline_run;				/* a submission runs on a caller's thread */
	_Atomic uint32_t pending;		/* submitted and not finished */
	_Atomic int error;			/* sticky: first execution error */
	/* fault injection (COPY): fail the fault_nth-th next file request */
	_Atomic uint32_t fault_nth;
	_Atomic int fault_err;
	/* counters for accel_queue_stats (updated by the submission thread) */
	_Atomic uint64_t busy_ns;
	_Atomic uint64_t n_cmds;
	_Atomic uint64_t n_subs;
	/* a traced group's per-command end times (engine.group), else NULL;
	 * set and read by the submission thread only */
	uint64_t *t_done;
};

extern const struct accel_engine_ops accel_engine_compute;
extern const struct accel_engine_ops accel_engine_copy;
/* engine_gpu.c: the engines of an attached GPU (ACCEL_QUEUE_GPU) */
extern const struct accel_engine_ops accel_engine_gpu_compute;
extern const struct accel_engine_ops accel_engine_gpu_copy;
/* UPLOAD / DOWNLOAD: a byte range of a pool with a VRAM twin */
int accel_gpu_check_xfer(const struct accel_cmd *cmd);

/* engine_copy.c: the COPY ops' checks, in the op table (op_table.c) */
int accel_copy_check_read_file(const struct accel_cmd *cmd);
int accel_copy_check_write_file(const struct accel_cmd *cmd);
int accel_copy_check_copy(const struct accel_cmd *cmd);

/* accel_queue_take_fault - called per file request: the injected error (or
 * 1 for "short read") if this is the request to fail, else 0 */
int accel_queue_take_fault(struct accel_queue *q);

#endif /* ACCEL_QUEUE_H */
