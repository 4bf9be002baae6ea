// SPDX-License-Identifier: MIT
/*
 * accel_queue_*: creation, submission with validation, the in-order
 * submission thread (wait fences, run commands on the engine, signal), idle
 * waits, the sticky error, and teardown (waits for submitted work).
 */
#include <errno.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_exec.h"
#include "futex.h"
#include "op_table.h"
#include "queue.h"
#include "trace.h"

#define ACCEL_QUEUE_SPIN_NS	10000	/* stay awake this long for the next submission */

static void accel_queue_set_error(struct accel_queue *q, int err)
{
	int zero = 0;

	if (err)
		atomic_compare_exchange_strong(&q->error, &zero, err);
}

/* tracing: one command at a time, each a span; a group the engine runs at
 * once (engine.group) is one exec, each command's span ending when it did */
static int accel_queue_exec_traced(struct accel_queue *q, struct accel_sub *s)
{
	uint64_t t_done[ACCEL_QUEUE_GROUP_MAX];
	int ret = 0;

	for (uint32_t i = 0, k; i < s->count && !ret; i += k) {
		uint64_t t0 = accel_now_ns(), t1;

		k = q->eng->group ? q->eng->group(q, &s->cmds[i], s->count - i) : 1;
		if (k < 1 || k > ACCEL_QUEUE_GROUP_MAX)
			k = 1;
		for (uint32_t j = 0; j < k; j++)
			t_done[j] = 0;
		q->t_done = k > 1 ? t_done : NULL;
		ret = q->eng->exec(q, &s->cmds[i], k);
		q->t_done = NULL;
		t1 = accel_now_ns();
		atomic_fetch_add(&q->busy_ns, t1 - t0);
		for (uint32_t j = 0; j < k; j++)
			accel_trace_cmd(q, &s->cmds[i + j], t0,
					k > 1 && t_done[j] >= t0 && t_done[j] <= t1 ? t_done[j] : t1,
					i + j == 0 ? s : NULL,
					i + j + 1 == s->count ? &s->signal : NULL);
	}
	atomic_fetch_add(&q->n_cmds, s->count);
	return ret;
}

static void accel_queue_run(struct accel_queue *q, struct accel_sub *s)
{
	const bool traced = accel_trace_on();
	uint64_t tw = traced && s->nwaits ? accel_now_ns() : 0;
	int ret = 0;

	/* cancelled while queued: neither waits nor runs, only signals (in
	 * order, so the timeline never passes a point still running) */
	for (uint32_t i = 0; i < s->nwaits && !ret && !s->skip_waits; i++)
		ret = accel_fence_wait(s->waits[i].fence, s->waits[i].point, -1);
	if (tw)
		accel_trace_wait(q, s, tw, accel_now_ns());
	/* past its waits: from here on it runs, unless cancelled before */
	pthread_mutex_lock(&q->lock);
	q->waiting = NULL;
	if (s->cancelled)
		s->count = 0;
	pthread_mutex_unlock(&q->lock);
	if (!ret && s->count && traced) {
		ret = accel_queue_exec_traced(q, s);
	} else if (!ret && s->count) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		ret = q->eng->exec(q, s->cmds, s->count);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		atomic_fetch_add(&q->busy_ns, (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL +
							   (t1.tv_nsec - t0.tv_nsec)));
		atomic_fetch_add(&q->n_cmds, s->count);
	}
	atomic_fetch_add(&q->n_subs, 1);
	if (ret) {
		accel_dbg("queue %s: submission failed: %s", q->eng->name, strerror(-ret));
		accel_queue_set_error(q, ret);
	}
	if (s->signal.fence) {
		ret = accel_fence_signal(s->signal.fence, s->signal.point);
		if (ret) {
			accel_warn("queue %s: signal of point %llu failed: %s", q->eng->name,
				   (unsigned long long)s->signal.point, strerror(-ret));
			accel_queue_set_error(q, ret);
		}
	}
}

static void *accel_queue_thread(void *arg)
{
	struct accel_queue *q = arg;

	for (;;) {
		struct accel_sub *s;
		uint64_t t0 = 0;

		/* a short spin keeps back-to-back submissions off the futex path */
		while (!atomic_load_explicit(&q->pending, memory_order_acquire)) {
			if (!t0)
				t0 = accel_now_ns();
			else if (accel_now_ns() - t0 > ACCEL_QUEUE_SPIN_NS)
				break;
			for (int i = 0; i < 32; i++)
				accel_cpu_relax();
		}
		pthread_mutex_lock(&q->lock);
		/* a submission running inline has the engine: ours waits for it */
		while ((!q->head || q->inline_run) && !q->stop)
			pthread_cond_wait(&q->work, &q->lock);
		s = q->head;
		if (!s) {
			pthread_mutex_unlock(&q->lock);
			break;
		}
		q->head = s->next;
		if (!q->head)
			q->tail = NULL;
		q->waiting = s;
		s->skip_waits = s->cancelled;
		pthread_mutex_unlock(&q->lock);

		accel_queue_run(q, s);
		free(s);

		pthread_mutex_lock(&q->lock);
		if (atomic_fetch_sub(&q->pending, 1) == 1)
			pthread_cond_broadcast(&q->idle);
		pthread_mutex_unlock(&q->lock);
	}
	return NULL;
}

int accel_queue_create(struct accel_device *dev, const struct accel_queue_opts *opts,
		       struct accel_queue **out)
{
	struct accel_queue_opts o;
	struct accel_queue *q;
	int ret;

	if (!dev || !out)
		return -EINVAL;
	*out = NULL;
	ret = accel_opts_copy(&o, sizeof(o), opts,
			      offsetof(struct accel_queue_opts, engine) + sizeof(o.engine));
	if (ret)
		return ret;
	if (o.flags & ~ACCEL_QUEUE_FLAGS_MASK)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	switch (o.engine) {
	case ACCEL_ENGINE_COPY:
		q->eng = o.flags & ACCEL_QUEUE_GPU ? &accel_engine_gpu_copy : &accel_engine_copy;
		break;
	case ACCEL_ENGINE_COMPUTE:
		q->eng = o.flags & ACCEL_QUEUE_GPU ? &accel_engine_gpu_compute :
						     &accel_engine_compute;
		break;
	default:
		free(q);
		return -EINVAL;
	}
	q->dev = dev;
	accel_list_init(&q->link);
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->idle, NULL);
	ret = q->eng->init(q, &o);
	if (ret)
		goto err_free;
	ret = -pthread_create(&q->thread, NULL, accel_queue_thread, q);
	if (ret)
		goto err_fini;
	pthread_mutex_lock(&dev->lock);
	accel_list_add(&dev->queues, &q->link);
	dev->nqueues++;
	pthread_mutex_unlock(&dev->lock);
	*out = q;
	return 0;

err_fini:
	q->eng->fini(q);
err_free:
	pthread_cond_destroy(&q->idle);
	pthread_cond_destroy(&q->work);
	pthread_mutex_destroy(&q->lock);
	free(q);
	return ret;
}

void accel_queue_destroy(struct accel_queue *q)
{
	struct accel_device *dev;

	if (!q)
		return;
	dev = q->dev;
	pthread_mutex_lock(&q->lock);
	q->stop = 1;
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);	/* it drains the list before leaving */
	pthread_mutex_lock(&dev->lock);
	accel_list_del(&q->link);
	dev->nqueues--;
	pthread_mutex_unlock(&dev->lock);
	q->eng->fini(q);
	pthread_cond_destroy(&q->idle);
	pthread_cond_destroy(&q->work);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

void accel_queue_destroy_all(struct accel_device *dev)
{
	while (dev->queues.next != &dev->queues)
		accel_queue_destroy(accel_container_of(dev->queues.next, struct accel_queue, link));
}

/* accel_tensor_check - a used tensor lies inside its pool (or is host memory) */
static int accel_tensor_check(struct accel_queue *q, const struct accel_tensor *t)
{
	uint64_t bytes;

	if (!t->pool && !t->ne[0])
		return 0;			/* unused */
	if (t->pool && t->pool->dev != q->dev)
		return -EINVAL;
	/* a pool with no host side only exists for the GPU's engines */
	if (t->pool && !t->pool->base && q->eng != &accel_engine_gpu_compute &&
	    q->eng != &accel_engine_gpu_copy)
		return -EINVAL;
	if (t->pool && !t->ne[0])
		return 0;			/* a pool ref without a tensor (KV cache) */
	bytes = accel_tensor_bytes(t);
	if (!bytes)
		return -EINVAL;
	if (!t->pool)
		return t->offset ? 0 : -EINVAL;
	if (t->offset > t->pool->size || bytes > t->pool->size - t->offset)
		return -EINVAL;
	return 0;
}

static int accel_cmd_check(struct accel_queue *q, const struct accel_cmd *cmd)
{
	int ret;

	if (cmd->flags || !accel_op_desc(cmd->op))
		return -EINVAL;
	for (int i = 0; i < ACCEL_CMD_MAX_TENSORS; i++) {
		ret = accel_tensor_check(q, &cmd->t[i]);
		if (ret)
			return ret;
	}
	if (!accel_op_on_engine(cmd->op, q->eng->engine))
		return -EINVAL;		/* an op of another engine */
	return q->eng->check(q, cmd);
}

/* the submit-time checks of accel_queue_submit and accel_queue_submit_run */
static int accel_queue_check_sub(struct accel_queue *q, const struct accel_cmd *cmds,
				 uint32_t count, const struct accel_fence_point *waits,
				 uint32_t nwaits, const struct accel_fence_point *signal)
{
	int ret;

	if (!q || (count && !cmds) || (nwaits && !waits) || count > (1U << 24) ||
	    nwaits > 1024)
		return -EINVAL;
	for (uint32_t i = 0; i < nwaits; i++)
		if (!waits[i].fence || waits[i].fence->dev != q->dev)
			return -EINVAL;
	if (signal && (!signal->fence || !signal->point || signal->fence->dev != q->dev))
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		ret = accel_cmd_check(q, &cmds[i]);
		if (ret) {
			accel_dbg("queue %s: command %u (op %u %s) rejected: %s", q->eng->name, i,
				  cmds[i].op, accel_op_name(cmds[i].op) ?: "?", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int accel_queue_enqueue(struct accel_queue *q, const struct accel_cmd *cmds,
			       uint32_t count, const struct accel_fence_point *waits,
			       uint32_t nwaits, const struct accel_fence_point *signal)
{
	struct accel_sub *s;
	size_t sz;

	sz = sizeof(*s) + (size_t)count * sizeof(*cmds) + (size_t)nwaits * sizeof(*waits);
	s = malloc(sz);
	if (!s)
		return -ENOMEM;
	s->next = NULL;
	s->count = count;
	s->nwaits = nwaits;
	s->cmds = (struct accel_cmd *)(s + 1);
	s->waits = (struct accel_fence_point *)(s->cmds + count);
	if (count)
		memcpy(s->cmds, cmds, (size_t)count * sizeof(*cmds));
	if (nwaits)
		memcpy(s->waits, waits, (size_t)nwaits * sizeof(*waits));
	s->cancelled = 0;
	s->skip_waits = 0;
	if (signal)
		s->signal = *signal;
	else
		memset(&s->signal, 0, sizeof(s->signal));

	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = s;
	else
		q->head = s;
	q->tail = s;
	atomic_fetch_add_explicit(&q->pending, 1, memory_order_release);
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

int accel_queue_submit(struct accel_queue *q, const struct accel_cmd *cmds, uint32_t count,
		       const struct accel_fence_point *waits, uint32_t nwaits,
		       const struct accel_fence_point *signal)
{
	int ret = accel_queue_check_sub(q, cmds, count, waits, nwaits, signal);

	return ret ? ret : accel_queue_enqueue(q, cmds, count, waits, nwaits, signal);
}

/* every point of @waits already reached (a query each: none blocks) */
static bool accel_waits_reached(const struct accel_fence_point *waits, uint32_t nwaits)
{
	for (uint32_t i = 0; i < nwaits; i++) {
		uint64_t v;

		if (accel_fence_query(waits[i].fence, &v) || v < waits[i].point)
			return false;
	}
	return true;
}

int accel_queue_submit_run(struct accel_queue *q, const struct accel_cmd *cmds, uint32_t count,
			   const struct accel_fence_point *waits, uint32_t nwaits,
			   const struct accel_fence_point *signal)
{
	struct accel_sub s = {
		.count = count, .cmds = (struct accel_cmd *)cmds, .signal = signal ? *signal
										  : (struct accel_fence_point){ 0 },
	};
	bool here;
	int ret;

	if (!signal)
		return -EINVAL;
	ret = accel_queue_check_sub(q, cmds, count, waits, nwaits, signal);
	if (ret)
		return ret;
	/*
	 * here, if nothing is queued or running (so the order of submissions
	 * holds) and nothing is left to wait for: the caller would only sleep
	 * until the queue's thread woke, ran these and woke it back
	 */
	pthread_mutex_lock(&q->lock);
	here = q->eng->run_inline && !q->stop && !q->inline_run &&
	       !atomic_load(&q->pending) && accel_waits_reached(waits, nwaits);
	if (here) {
		q->inline_run = 1;
		atomic_fetch_add(&q->pending, 1);
	}
	pthread_mutex_unlock(&q->lock);
	if (!here) {
		ret = accel_queue_enqueue(q, cmds, count, waits, nwaits, signal);
		return ret ? ret : accel_fence_wait(signal->fence, signal->point, -1);
	}
	/* s.cmds is only read: exec takes const commands */
	accel_queue_run(q, &s);
	pthread_mutex_lock(&q->lock);
	q->inline_run = 0;
	if (atomic_fetch_sub(&q->pending, 1) == 1)
		pthread_cond_broadcast(&q->idle);
	if (q->head)
		pthread_cond_signal(&q->work);	/* queued behind us meanwhile */
	pthread_mutex_unlock(&q->lock);
	return 0;
}

int accel_queue_wait_idle(struct accel_queue *q)
{
	if (!q)
		return -EINVAL;
	pthread_mutex_lock(&q->lock);
	while (atomic_load(&q->pending))
		pthread_cond_wait(&q->idle, &q->lock);
	pthread_mutex_unlock(&q->lock);
	return atomic_load(&q->error);
}

int accel_queue_cancel(struct accel_queue *q)
{
	int n = 0;

	if (!q)
		return -EINVAL;
	pthread_mutex_lock(&q->lock);
	if (q->waiting && !q->waiting->cancelled) {
		q->waiting->cancelled = 1;
		n++;
	}
	for (struct accel_sub *s = q->head; s; s = s->next) {
		n += !s->cancelled;
		s->cancelled = 1;
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}

int accel_queue_error(struct accel_queue *q)
{
	return q ? atomic_load(&q->error) : -EINVAL;
}

int accel_queue_stats(struct accel_queue *q, struct accel_queue_stats *st)
{
	if (!q || !st)
		return -EINVAL;
	st->submissions = atomic_load(&q->n_subs);
	st->commands = atomic_load(&q->n_cmds);
	st->busy_ns = atomic_load(&q->busy_ns);
	return 0;
}

int accel_queue_clear_error(struct accel_queue *q)
{
	return q ? atomic_exchange(&q->error, 0) : -EINVAL;
}

int accel_queue_inject_fault(struct accel_queue *q, uint32_t nth, int err)
{
	if (!q || err > 0 || err < -4095)
		return -EINVAL;
	if (q->eng != &accel_engine_copy)
		return -EOPNOTSUPP;
	atomic_store(&q->fault_err, err);
	atomic_store(&q->fault_nth, nth);
	return 0;
}

int accel_queue_take_fault(struct accel_queue *q)
{
	uint32_t n = atomic_load(&q->fault_nth);

	while (n) {
		if (atomic_compare_exchange_weak(&q->fault_nth, &n, n - 1)) {
			if (n != 1)
				return 0;
			n = (uint32_t)-atomic_load(&q->fault_err);
			return n ? -(int)n : 1;
		}
	}
	return 0;
}
