// SPDX-License-Identifier: MIT
/*
 * COMPUTE engine, CPU backend: a pool of worker threads; the queue's
 * submission thread is worker 0. A submission's commands are handed to the
 * workers at once: each walks them in order, running its share of each
 * through accel_cpu_exec (cpu_exec.c), with a barrier after each command
 * that the plan (cpu_plan.c) says needs one; the plan's serial commands
 * (small elementwise ones) run on worker 0 alone. Workers and the barrier spin
 * briefly and then sleep on a futex, so back-to-back commands cost a few
 * hundred ns while an idle queue costs no CPU.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_exec.h"
#include "cpu_plan.h"
#include "futex.h"
#include "queue.h"

/*
 * spin this long before sleeping on a futex: $ACCEL_SPIN_US overrides.
 * Measured on SmolLM2-135M decode, 2 threads, quiet 2-core machine: 10 us
 * -> 39-44 tokens/s (every command pays a futex wake), 100 us -> 63-70,
 * 200 us -> 72-75, 1 ms -> 72-79. A machine shared with other busy
 * processes wants less (the spinning core is taken from them): set it there.
 */
#define ACCEL_SPIN_NS_DEFAULT	200000
/*
 * pure spinning before the polls also yield ($ACCEL_YIELD_US). SmolLM2-135M
 * decode, 2 threads, tokens/s, 3 runs each (2026-12-07): quiet machine
 * 125-132 without yielding, 121-130 with it from 20 us; beside two busy
 * processes 52.6-53.0 -> 51.0-58.1 (and 53.7-57.1 either way in a second
 * series); beside one, 16.4-16.8 -> 31.9-32.5 in one series (the thread we
 * waited for had lost its core to our spinning) but 14.9 in a later run:
 * where the scheduler puts the busy process decides as much. Yielding from
 * 0 us collapsed beside two busy processes (4-5 tokens/s); from 50 us it
 * helped less.
 */
#define ACCEL_YIELD_NS_DEFAULT	20000
#define ACCEL_MAX_THREADS ACCEL_QUEUE_MAX_THREADS

struct accel_barrier {
	_Atomic uint32_t count;		/* arrived at this phase */
	_Atomic uint32_t phase;		/* futex word: bumped when all arrived */
	_Atomic uint32_t sleepers;
	uint32_t n;
	/* written by the last arrival at a command's closing barrier, before
	 * it releases the others: whether the submission stops there (an
	 * error). Each thread reads it once past that barrier, before it can
	 * arrive at the next one, so no later write races with the read. */
	_Atomic int stop;
};

/* a command's chunk counter on its own cache line: with no barrier between
 * two commands, threads in the first and the second count side by side */
struct accel_work_ctr {
	_Atomic int64_t v;
	char pad[64 - sizeof(int64_t)];
};

struct accel_compute;

struct accel_worker {
	struct accel_compute *c;
	struct accel_cpu_ctx ctx;
	pthread_t thread;
};

struct accel_compute {
	int nth;
	struct accel_worker *w;		/* nth; w[0] is the submission thread */
	struct accel_barrier bar;
	_Atomic uint32_t gen;		/* futex word: bumped per dispatched command */
	_Atomic uint32_t gen_sleepers;
	const struct accel_cmd *cmds;	/* the submission; NULL with a new gen: exit */
	uint32_t ncmds;
	_Atomic int err;
	bool overlap;			/* plan commands without barriers between them */
	/* per command, sized for the largest submission yet (cap entries) */
	struct accel_cpu_step *steps;
	struct accel_work_ctr *work;	/* each command's chunk counter (ctx->work) */
	uint32_t cap;
	uint8_t *scratch;
	size_t scratch_size;
};

/* spin up to ACCEL_SPIN_NS while *word == val; 1 if it changed. Past
 * accel_yield_ns of it, each poll round also yields the CPU, so a thread we
 * wait for that the scheduler has preempted (a machine shared with other
 * busy processes) gets a core back instead of losing it to our spinning */
static uint64_t accel_spin_ns = ACCEL_SPIN_NS_DEFAULT;
static uint64_t accel_yield_ns = ACCEL_YIELD_NS_DEFAULT;

static int accel_spin_while(_Atomic uint32_t *word, uint32_t val)
{
	uint64_t t0 = 0, dt;

	for (;;) {
		for (int i = 0; i < 64; i++) {
			if (atomic_load_explicit(word, memory_order_acquire) != val)
				return 1;
			accel_cpu_relax();
		}
		if (!t0) {
			t0 = accel_now_ns();
			continue;
		}
		dt = accel_now_ns() - t0;
		if (dt > accel_spin_ns)
			return 0;
		if (dt > accel_yield_ns)
			sched_yield();
	}
}

static void accel_sleep_while(_Atomic uint32_t *word, uint32_t val, _Atomic uint32_t *sleepers)
{
	if (accel_spin_while(word, val))
		return;
	atomic_fetch_add(sleepers, 1);
	while (atomic_load(word) == val)
		accel_futex_wait((uint32_t *)word, val, NULL);
	atomic_fetch_sub(sleepers, 1);
}

static void accel_barrier_wait(struct accel_barrier *b)
{
	uint32_t phase = atomic_load_explicit(&b->phase, memory_order_acquire);

	if (atomic_fetch_add(&b->count, 1) == b->n - 1) {
		atomic_store(&b->count, 0);
		atomic_fetch_add(&b->phase, 1);		/* releases every arrival */
		if (atomic_load(&b->sleepers))
			accel_futex_wake((uint32_t *)&b->phase, INT_MAX);
		return;
	}
	accel_sleep_while(&b->phase, phase, &b->sleepers);
}

/* a command's closing barrier: true if the submission stops (an error) */
static bool accel_barrier_wait_stop(struct accel_barrier *b, _Atomic int *err)
{
	uint32_t phase = atomic_load_explicit(&b->phase, memory_order_acquire);

	if (atomic_fetch_add(&b->count, 1) == b->n - 1) {
		bool stop = atomic_load(err) != 0;

		atomic_store(&b->stop, stop);
		atomic_store(&b->count, 0);
		atomic_fetch_add(&b->phase, 1);
		if (atomic_load(&b->sleepers))
			accel_futex_wake((uint32_t *)&b->phase, INT_MAX);
		return stop;
	}
	accel_sleep_while(&b->phase, phase, &b->sleepers);
	return atomic_load(&b->stop);
}

static void accel_compute_barrier(struct accel_cpu_ctx *ctx)
{
	accel_barrier_wait(ctx->barrier_priv);
}

/*
 * this thread's share of every command of the submission, in order. The
 * submission is read into locals first: past the last barrier, worker 0 may
 * already be planning the next submission in the same fields.
 */
static void accel_compute_run_share(struct accel_compute *c, struct accel_worker *w)
{
	const struct accel_cmd *cmds = c->cmds;
	const struct accel_cpu_step *steps = c->steps;
	struct accel_work_ctr *work = c->work;
	uint8_t *scratch = c->scratch;
	const uint32_t n = c->ncmds;

	for (uint32_t i = 0; i < n; i++) {
		const struct accel_cpu_step *st = &steps[i];
		int ret;

		if (st->serial) {
			/* worker 0 alone, as one thread; the others go on */
			struct accel_cpu_ctx one = {
				.ith = 0, .nth = 1, .scratch = scratch + st->scratch_off,
				.scratch_size = st->scratch_size, .work = &work[i].v,
			};

			ret = w->ctx.ith ? 0 : accel_cpu_exec(&cmds[i], &one);
		} else {
			w->ctx.scratch = scratch + st->scratch_off;
			w->ctx.scratch_size = st->scratch_size;
			w->ctx.work = &work[i].v;
			ret = accel_cpu_exec(&cmds[i], &w->ctx);
		}
		if (ret) {
			int zero = 0;

			atomic_compare_exchange_strong(&c->err, &zero, ret);
		}
		if (c->nth == 1) {
			if (ret)
				return;
		} else if (st->barrier && accel_barrier_wait_stop(&c->bar, &c->err)) {
			return;
		}
	}
}

static void *accel_compute_worker(void *arg)
{
	struct accel_worker *w = arg;
	struct accel_compute *c = w->c;
	uint32_t seen = 0;

	for (;;) {
		accel_sleep_while(&c->gen, seen, &c->gen_sleepers);
		seen = atomic_load_explicit(&c->gen, memory_order_acquire);
		if (!c->cmds)
			break;
		accel_compute_run_share(c, w);
	}
	return NULL;
}

/* accel_compute_dispatch - publish @n planned @cmds (NULL: exit) to the workers */
static void accel_compute_dispatch(struct accel_compute *c, const struct accel_cmd *cmds,
				   uint32_t n)
{
	c->cmds = cmds;
	c->ncmds = n;
	atomic_fetch_add_explicit(&c->gen, 1, memory_order_release);
	if (atomic_load(&c->gen_sleepers))
		accel_futex_wake((uint32_t *)&c->gen, INT_MAX);
}

static int accel_compute_init(struct accel_queue *q, const struct accel_queue_opts *o)
{
	struct accel_compute *c;
	int nth = o->threads ? (int)o->threads : (int)q->dev->cpu_threads;
	int ret = 0, started = 1;

	if (o->threads > ACCEL_MAX_THREADS)
		return -EINVAL;
	if (getenv("ACCEL_SPIN_US"))
		accel_spin_ns = strtoull(getenv("ACCEL_SPIN_US"), NULL, 0) * 1000;
	if (getenv("ACCEL_YIELD_US"))
		accel_yield_ns = strtoull(getenv("ACCEL_YIELD_US"), NULL, 0) * 1000;
	/* ACCEL_OVERLAP=0: a barrier after every command (to measure the plan) */
	const char *ov = getenv("ACCEL_OVERLAP");
	if (nth < 1)
		nth = 1;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->w = calloc((size_t)nth, sizeof(*c->w));
	if (!c->w) {
		free(c);
		return -ENOMEM;
	}
	c->nth = nth;
	c->bar.n = (uint32_t)nth;
	c->overlap = nth > 1 && !(ov && !strcmp(ov, "0"));
	for (int i = 0; i < nth; i++) {
		c->w[i].c = c;
		c->w[i].ctx.ith = i;
		c->w[i].ctx.nth = nth;
		c->w[i].ctx.barrier = accel_compute_barrier;
		c->w[i].ctx.barrier_priv = &c->bar;
	}
	for (; started < nth; started++) {
		ret = -pthread_create(&c->w[started].thread, NULL, accel_compute_worker, &c->w[started]);
		if (ret)
			break;
	}
	if (ret) {
		c->nth = started;	/* only these exist */
		accel_compute_dispatch(c, NULL, 0);
		for (int i = 1; i < started; i++)
			pthread_join(c->w[i].thread, NULL);
		free(c->w);
		free(c);
		return ret;
	}
	q->eng_priv = c;
	return 0;
}

static void accel_compute_fini(struct accel_queue *q)
{
	struct accel_compute *c = q->eng_priv;

	accel_compute_dispatch(c, NULL, 0);
	for (int i = 1; i < c->nth; i++)
		pthread_join(c->w[i].thread, NULL);
	free(c->scratch);
	free(c->steps);
	free(c->work);
	free(c->w);
	free(c);
}

static int accel_compute_check(struct accel_queue *q, const struct accel_cmd *cmd)
{
	(void)q;
	return accel_cpu_check(cmd);	/* rejects ops the op table keeps off COMPUTE */
}

static int accel_compute_scratch(struct accel_compute *c, size_t need)
{
	void *p;

	if (need <= c->scratch_size)
		return 0;
	need = (need + 63) & ~(size_t)63;
	p = aligned_alloc(64, need);
	if (!p)
		return -ENOMEM;
	free(c->scratch);
	c->scratch = p;
	c->scratch_size = need;
	return 0;
}

/* room for the plan and the chunk counters of @n commands */
static int accel_compute_reserve(struct accel_compute *c, uint32_t n)
{
	struct accel_cpu_step *st;
	struct accel_work_ctr *wk;

	if (n <= c->cap)
		return 0;
	st = malloc(sizeof(*st) * n);
	wk = aligned_alloc(64, sizeof(*wk) * n);
	if (!st || !wk) {
		free(st);
		free(wk);
		return -ENOMEM;
	}
	free(c->steps);
	free(c->work);
	c->steps = st;
	c->work = wk;
	c->cap = n;
	return 0;
}

static int accel_compute_exec(struct accel_queue *q, const struct accel_cmd *cmds, uint32_t n)
{
	struct accel_compute *c = q->eng_priv;
	int ret;

	if (!n)
		return 0;
	ret = accel_compute_reserve(c, n);
	if (ret)
		return ret;
	ret = accel_compute_scratch(c, accel_cpu_plan(cmds, n, c->nth, c->overlap, c->steps));
	if (ret)
		return ret;
	atomic_store(&c->err, 0);
	/* published to the workers by the dispatch's release */
	for (uint32_t i = 0; i < n; i++)
		atomic_store_explicit(&c->work[i].v, 0, memory_order_relaxed);
	if (c->nth == 1) {
		c->cmds = cmds;
		c->ncmds = n;
	} else {
		accel_compute_dispatch(c, cmds, n);
	}
	accel_compute_run_share(c, &c->w[0]);
	return atomic_load(&c->err);
}

const struct accel_engine_ops accel_engine_compute = {
	.name = "compute",
	.engine = ACCEL_ENGINE_COMPUTE,
	.init = accel_compute_init,
	.fini = accel_compute_fini,
	.check = accel_compute_check,
	.exec = accel_compute_exec,
	.run_inline = true,
};
