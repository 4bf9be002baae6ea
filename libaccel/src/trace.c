// SPDX-License-Identifier: MIT
/*
 * Tracing: every command of every queue as a span (start, end, queue, op,
 * the intermediate it produces and its layer, bytes, the fence points its
 * submission waited on and signalled), kept in memory and written as
 * trace-event JSON (chrome://tracing, Perfetto). Busy time per engine is the
 * union of its queues' spans, so a fraction of the wall time never exceeds 1.
 * Process-wide: ACCEL_TRACE=FILE or accel_trace_start().
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_exec.h"
#include "futex.h"
#include "op_table.h"
#include "trace.h"

#define TRACE_MAX_SPANS	(8u << 20)	/* ~1 GiB of spans at most; later ones dropped */
#define TRACE_WAITS	4		/* fence points kept per submission */

enum { SPAN_CMD, SPAN_WAIT, SPAN_MARK };

struct span {
	uint64_t t0, t1;
	const void *queue;
	uint32_t qid, engine, kind, op;
	int32_t il;
	const char *name;		/* the command's (static) intermediate name */
	uint64_t bytes;
	uint32_t nwaits;		/* of the submission (first TRACE_WAITS kept) */
	struct { const void *fence; uint64_t point; } waits[TRACE_WAITS], signal;
};

static struct {
	pthread_mutex_t lock;		/* protects everything below */
	bool on;
	char *path;			/* NULL: in memory only */
	struct span *v;
	size_t n, cap;
	uint64_t dropped;
	const void **queues;		/* queue pointers, index = qid */
	uint32_t nqueues;
	int env_devices;		/* devices open under ACCEL_TRACE */
	bool env_owned;
} tr = { .lock = PTHREAD_MUTEX_INITIALIZER };

static _Atomic bool tr_on;

bool accel_trace_on(void)
{
	return atomic_load_explicit(&tr_on, memory_order_relaxed);
}

uint64_t accel_trace_now_ns(void)
{
	return accel_now_ns();
}

int accel_trace_start(const char *path)
{
	int ret = 0;

	pthread_mutex_lock(&tr.lock);
	if (tr.on) {
		ret = -EBUSY;
		goto out;
	}
	if (path) {
		FILE *f = fopen(path, "w");	/* refused now, not at the end of a run */

		if (!f) {
			ret = -errno;
			goto out;
		}
		fclose(f);
		tr.path = strdup(path);
		if (!tr.path) {
			ret = -ENOMEM;
			goto out;
		}
	}
	tr.on = true;
	atomic_store(&tr_on, true);
out:
	pthread_mutex_unlock(&tr.lock);
	return ret;
}

/* queue ids in order of first appearance: threads of the trace */
static uint32_t qid_locked(const void *q)
{
	const void **nq;

	for (uint32_t i = 0; i < tr.nqueues; i++)
		if (tr.queues[i] == q)
			return i;
	nq = realloc(tr.queues, sizeof(*nq) * (tr.nqueues + 1));
	if (!nq)
		return 0;
	tr.queues = nq;
	tr.queues[tr.nqueues] = q;
	return tr.nqueues++;
}

static struct span *span_add_locked(void)
{
	if (tr.n == tr.cap) {
		size_t cap = tr.cap ? tr.cap * 2 : 4096;
		struct span *v;

		if (cap > TRACE_MAX_SPANS || !(v = realloc(tr.v, sizeof(*v) * cap))) {
			tr.dropped++;
			return NULL;
		}
		tr.v = v;
		tr.cap = cap;
	}
	memset(&tr.v[tr.n], 0, sizeof(tr.v[0]));
	return &tr.v[tr.n++];
}

static void span_waits(struct span *sp, const struct accel_sub *s)
{
	sp->nwaits = s->nwaits;
	for (uint32_t i = 0; i < s->nwaits && i < TRACE_WAITS; i++) {
		sp->waits[i].fence = s->waits[i].fence;
		sp->waits[i].point = s->waits[i].point;
	}
}

void accel_trace_cmd(const struct accel_queue *q, const struct accel_cmd *cmd, uint64_t t0,
		     uint64_t t1, const struct accel_sub *waits, const struct accel_fence_point *signal)
{
	struct span *sp;

	pthread_mutex_lock(&tr.lock);
	if (tr.on && (sp = span_add_locked())) {
		sp->kind = SPAN_CMD;
		sp->t0 = t0;
		sp->t1 = t1;
		sp->queue = q;
		sp->qid = qid_locked(q);
		sp->engine = q->eng->engine;
		sp->op = cmd->op;
		sp->name = cmd->name;
		sp->il = cmd->name ? cmd->il : -1;
		switch (cmd->op) {
		case ACCEL_OP_WRITE_FILE:
			sp->bytes = accel_tensor_bytes(&cmd->t[1]);
			break;
		case ACCEL_OP_NOP:
			break;
		default:	/* READ_FILE, COPY: the bytes moved; ops: their output */
			sp->bytes = cmd->t[0].ne[0] ? accel_tensor_bytes(&cmd->t[0]) : 0;
		}
		if (waits)
			span_waits(sp, waits);
		if (signal && signal->fence) {
			sp->signal.fence = signal->fence;
			sp->signal.point = signal->point;
		}
	}
	pthread_mutex_unlock(&tr.lock);
}

void accel_trace_wait(const struct accel_queue *q, const struct accel_sub *s, uint64_t t0,
		      uint64_t t1)
{
	struct span *sp;

	pthread_mutex_lock(&tr.lock);
	if (tr.on && (sp = span_add_locked())) {
		sp->kind = SPAN_WAIT;
		sp->t0 = t0;
		sp->t1 = t1;
		sp->queue = q;
		sp->qid = qid_locked(q);
		sp->engine = q->eng->engine;
		span_waits(sp, s);
	}
	pthread_mutex_unlock(&tr.lock);
}

uint64_t accel_trace_mark(const char *name)
{
	uint64_t t = accel_now_ns();
	struct span *sp;

	if (!accel_trace_on())
		return t;
	pthread_mutex_lock(&tr.lock);
	if (tr.on && (sp = span_add_locked())) {
		sp->kind = SPAN_MARK;
		sp->t0 = sp->t1 = t;
		sp->name = name;
		sp->qid = UINT32_MAX;
	}
	pthread_mutex_unlock(&tr.lock);
	return t;
}

static int cmp_t0(const void *a, const void *b)
{
	const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int accel_trace_busy(uint32_t engine, uint64_t t0, uint64_t t1, uint64_t *busy_ns)
{
	uint64_t (*iv)[2], busy = 0, end = 0;
	size_t n = 0;

	if (!busy_ns || t1 < t0 || engine > ACCEL_ENGINE_COMPUTE)
		return -EINVAL;
	pthread_mutex_lock(&tr.lock);
	if (!tr.on) {
		pthread_mutex_unlock(&tr.lock);
		return -ENODATA;
	}
	iv = malloc(sizeof(*iv) * (tr.n ? tr.n : 1));
	if (!iv) {
		pthread_mutex_unlock(&tr.lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < tr.n; i++) {
		const struct span *sp = &tr.v[i];
		uint64_t a = sp->t0 > t0 ? sp->t0 : t0, b = sp->t1 < t1 ? sp->t1 : t1;

		if (sp->kind == SPAN_CMD && sp->engine == engine && a < b) {
			iv[n][0] = a;
			iv[n++][1] = b;
		}
	}
	pthread_mutex_unlock(&tr.lock);
	/* the union: queues of one engine running at once count once */
	qsort(iv, n, sizeof(*iv), cmp_t0);
	for (size_t i = 0; i < n; i++) {
		uint64_t a = iv[i][0] > end ? iv[i][0] : end;

		if (iv[i][1] > a)
			busy += iv[i][1] - a;
		if (iv[i][1] > end)
			end = iv[i][1];
	}
	free(iv);
	*busy_ns = busy;
	return 0;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_point(FILE *f, const void *fence, uint64_t point)
{
	/* fences named by address: stable within the trace */
	fprintf(f, "\"%p:%llu\"", fence, (unsigned long long)point);
}

static const char *engine_name(uint32_t e)
{
	return e == ACCEL_ENGINE_COPY ? "copy" : e == ACCEL_ENGINE_COMPUTE ? "compute" : "?";
}

static int write_locked(const char *path)
{
	uint64_t origin = UINT64_MAX;
	FILE *f = fopen(path, "w");
	int ret = 0;

	if (!f)
		return -errno;
	for (size_t i = 0; i < tr.n; i++)
		if (tr.v[i].t0 < origin)
			origin = tr.v[i].t0;
	fprintf(f, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"origin_ns\":%llu,\"dropped\":%llu},"
		"\n\"traceEvents\":[\n", (unsigned long long)(tr.n ? origin : 0),
		(unsigned long long)tr.dropped);
	fprintf(f, "{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{\"name\":\"libaccel\"}}");
	for (uint32_t q = 0; q < tr.nqueues; q++) {
		uint32_t e = 0;

		for (size_t i = 0; i < tr.n; i++)
			if (tr.v[i].qid == q) {
				e = tr.v[i].engine;
				break;
			}
		fprintf(f, ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"name\":\"thread_name\","
			"\"args\":{\"name\":\"%s queue %u\"}}", q, engine_name(e), q);
	}
	for (size_t i = 0; i < tr.n; i++) {
		const struct span *sp = &tr.v[i];
		const char *op = sp->kind == SPAN_CMD ? accel_op_name(sp->op) : NULL;

		if (sp->kind == SPAN_MARK) {
			fprintf(f, ",\n{\"ph\":\"i\",\"s\":\"g\",\"pid\":1,\"tid\":0,\"name\":");
			json_str(f, sp->name);
			fprintf(f, ",\"ts\":%.3f,\"args\":{\"t_ns\":%llu}}", (sp->t0 - origin) / 1e3,
				(unsigned long long)sp->t0);
			continue;
		}
		fprintf(f, ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":%u,\"cat\":\"%s\",\"name\":", sp->qid,
			sp->kind == SPAN_WAIT ? "wait" : sp->engine == ACCEL_ENGINE_COPY ? "transfer" : "op");
		if (sp->kind == SPAN_WAIT) {
			json_str(f, "fence wait");
		} else {
			char nm[160];

			if (sp->name && sp->il >= 0)
				snprintf(nm, sizeof(nm), "%s %s-%d", op ? op : "?", sp->name, sp->il);
			else
				snprintf(nm, sizeof(nm), "%s%s%s", op ? op : "?", sp->name ? " " : "",
					 sp->name ? sp->name : "");
			json_str(f, nm);
		}
		fprintf(f, ",\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"t0_ns\":%llu,\"t1_ns\":%llu,"
			"\"engine\":\"%s\"", (sp->t0 - origin) / 1e3, (sp->t1 - sp->t0) / 1e3,
			(unsigned long long)sp->t0, (unsigned long long)sp->t1, engine_name(sp->engine));
		if (sp->kind == SPAN_CMD) {
			fprintf(f, ",\"op\":");
			json_str(f, op ? op : "?");
			fprintf(f, ",\"layer\":%d,\"bytes\":%llu", sp->il, (unsigned long long)sp->bytes);
		}
		if (sp->nwaits) {
			fprintf(f, ",\"waits\":[");
			for (uint32_t w = 0; w < sp->nwaits && w < TRACE_WAITS; w++) {
				if (w)
					fputc(',', f);
				json_point(f, sp->waits[w].fence, sp->waits[w].point);
			}
			fprintf(f, "],\"n_waits\":%u", sp->nwaits);
		}
		if (sp->signal.fence) {
			fprintf(f, ",\"signal\":");
			json_point(f, sp->signal.fence, sp->signal.point);
		}
		fprintf(f, "}}");
	}
	fprintf(f, "\n]}\n");
	if (ferror(f))
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}

int accel_trace_stop(void)
{
	int ret = 0;

	pthread_mutex_lock(&tr.lock);
	if (!tr.on) {
		pthread_mutex_unlock(&tr.lock);
		return -ENODATA;
	}
	atomic_store(&tr_on, false);
	tr.on = false;
	if (tr.path)
		ret = write_locked(tr.path);
	free(tr.path);
	free(tr.v);
	free(tr.queues);
	tr.path = NULL;
	tr.v = NULL;
	tr.queues = NULL;
	tr.n = tr.cap = 0;
	tr.nqueues = 0;
	tr.dropped = 0;
	pthread_mutex_unlock(&tr.lock);
	return ret;
}

void accel_trace_env_open(void)
{
	const char *p = getenv("ACCEL_TRACE");
	bool start = false;

	if (!p || !*p)
		return;
	pthread_mutex_lock(&tr.lock);
	if (tr.env_devices++ == 0 && !tr.on)
		start = true;
	pthread_mutex_unlock(&tr.lock);
	if (start && accel_trace_start(p) == 0) {
		pthread_mutex_lock(&tr.lock);
		tr.env_owned = true;
		pthread_mutex_unlock(&tr.lock);
	} else if (start) {
		accel_warn("ACCEL_TRACE=%s: cannot write the file: no trace", p);
	}
}

void accel_trace_env_close(void)
{
	const char *p = getenv("ACCEL_TRACE");
	bool stop = false;

	if (!p || !*p)
		return;
	pthread_mutex_lock(&tr.lock);
	if (tr.env_devices > 0 && --tr.env_devices == 0 && tr.env_owned) {
		tr.env_owned = false;
		stop = true;
	}
	pthread_mutex_unlock(&tr.lock);
	if (stop && accel_trace_stop() < 0)
		accel_warn("ACCEL_TRACE=%s: the trace could not be written", p);
}
