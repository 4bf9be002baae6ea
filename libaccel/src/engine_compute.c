// SPDX-License-Identifier: MIT
/*
 * COMPUTE engine, CPU backend: a pool of worker threads; the queue's
 * submission thread is worker 0. Each command runs on every worker through
 * accel_cpu_exec (cpu_exec.c) and ends with a barrier. Workers and the
 * barrier spin briefly and then sleep on a futex, so back-to-back commands
 * cost a few hundred ns while an idle queue costs no CPU.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_exec.h"
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
	const struct accel_cmd *cmd;	/* NULL with a new gen: exit */
	_Atomic int err;
	_Atomic int64_t work;		/* the command's chunk counter (cpu ctx->work) */
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

static void accel_compute_barrier(struct accel_cpu_ctx *ctx)
{
	accel_barrier_wait(ctx->barrier_priv);
}

static void accel_compute_run_share(struct accel_compute *c, struct accel_worker *w)
{
	int ret;

	w->ctx.scratch = c->scratch;
	w->ctx.scratch_size = c->scratch_size;
	ret = accel_cpu_exec(c->cmd, &w->ctx);
	if (ret) {
		int zero = 0;

		atomic_compare_exchange_strong(&c->err, &zero, ret);
	}
	accel_barrier_wait(&c->bar);
}

static void *accel_compute_worker(void *arg)
{
	struct accel_worker *w = arg;
	struct accel_compute *c = w->c;
	uint32_t seen = 0;

	for (;;) {
		accel_sleep_while(&c->gen, seen, &c->gen_sleepers);
		seen = atomic_load_explicit(&c->gen, memory_order_acquire);
		if (!c->cmd)
			break;
		accel_compute_run_share(c, w);
	}
	return NULL;
}

/* accel_compute_dispatch - publish @cmd (NULL: exit) to the workers */
static void accel_compute_dispatch(struct accel_compute *c, const struct accel_cmd *cmd)
{
	c->cmd = cmd;
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
	for (int i = 0; i < nth; i++) {
		c->w[i].c = c;
		c->w[i].ctx.ith = i;
		c->w[i].ctx.nth = nth;
		c->w[i].ctx.barrier = accel_compute_barrier;
		c->w[i].ctx.barrier_priv = &c->bar;
		c->w[i].ctx.work = &c->work;
	}
	for (; started < nth; started++) {
		ret = -pthread_create(&c->w[started].thread, NULL, accel_compute_worker, &c->w[started]);
		if (ret)
			break;
	}
	if (ret) {
		c->nth = started;	/* only these exist */
		accel_compute_dispatch(c, NULL);
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

	accel_compute_dispatch(c, NULL);
	for (int i = 1; i < c->nth; i++)
		pthread_join(c->w[i].thread, NULL);
	free(c->scratch);
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

static int accel_compute_exec(struct accel_queue *q, const struct accel_cmd *cmds, uint32_t n)
{
	struct accel_compute *c = q->eng_priv;
	int ret;

	for (uint32_t i = 0; i < n; i++) {
		ret = accel_compute_scratch(c, accel_cpu_scratch_size(&cmds[i], c->nth));
		if (ret)
			return ret;
		atomic_store(&c->err, 0);
		/* published to the workers by the dispatch's release */
		atomic_store_explicit(&c->work, 0, memory_order_relaxed);
		if (c->nth == 1) {
			c->cmd = &cmds[i];
			accel_compute_run_share(c, &c->w[0]);
		} else {
			accel_compute_dispatch(c, &cmds[i]);
			accel_compute_run_share(c, &c->w[0]);
		}
		ret = atomic_load(&c->err);
		if (ret)
			return ret;
	}
	return 0;
}

const struct accel_engine_ops accel_engine_compute = {
	.name = "compute",
	.engine = ACCEL_ENGINE_COMPUTE,
	.init = accel_compute_init,
	.fini = accel_compute_fini,
	.check = accel_compute_check,
	.exec = accel_compute_exec,
};
