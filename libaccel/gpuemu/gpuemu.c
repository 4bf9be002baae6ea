// SPDX-License-Identifier: MIT
/*
 * libaccel-gpuemu.so.1: a GPU backend (gpu_abi.h) with no GPU, for testing
 * everything above the kernels where CI has no CUDA device: the placement of
 * weights, KV and activations in VRAM, the uploads and downloads, the
 * streaming of layers through VRAM slots, the fences between the COPY
 * engines and the GPU's streams, and the graph replay of decode steps.
 * Select it with ACCEL_GPU_LIB=build/lib/libaccel-gpuemu.so.1; it says what
 * it is in its device name, so no figure measured on it passes for a GPU's.
 *
 * It keeps the semantics a CUDA device has and a CPU run would hide:
 *  - device memory is its own (separate allocations, filled with 0xff at
 *    allocation: a NaN in every F32/F16 slot), so a tensor the runtime never
 *    uploaded reads as NaN, not as the host's bytes;
 *  - each stream is a thread running its work in order, asynchronously to
 *    the caller: exec, copy and signal return at once; only sync waits;
 *  - copies need a registered host side (cudaHostRegister), as the ABI says;
 *  - after() orders two streams as a CUDA event does, nothing else does;
 *  - a graph replays the captured commands, reading the tensors' contents
 *    at launch, not at capture;
 *  - ACCEL_GPUEMU_DELAY_US=N sleeps N us before each item a stream runs,
 *    widening every race a missing wait would leave;
 *  - ACCEL_GPUEMU_MEM=SIZE is the device memory (bytes, or K/M/G: powers of
 *    1024; default 16 GiB; anything else refuses to open), so
 *    "does not fit" paths run.
 * Kernels are libaccel's CPU executor (one thread per compute stream) on
 * the device copies of the tensors: results equal a CPU run's bit for bit.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "backend.h"
#include "cpu_exec.h"
#include "gpu_abi.h"
#include "gpu_ops.h"

#define EMU_MEM_DEFAULT		(UINT64_C(16) << 30)
#define EMU_MAX_RANGES		256

enum emu_kind { EMU_COPY, EMU_EXEC, EMU_SIGNAL, EMU_WAIT };

struct emu_item {
	struct emu_item *next;
	enum emu_kind kind;
	union {
		struct { void *dst; const void *src; uint64_t len; } copy;
		struct {
			struct accel_cmd cmd;
			struct accel_gpu_buf bufs[ACCEL_CMD_MAX_TENSORS];
		} exec;
		struct { struct accel_fence *fence; uint64_t point; } sig;
		struct { int stream; uint64_t upto; } wait;
	};
};

struct emu_range {
	uint8_t *p;
	uint64_t len;
};

struct emu_stream {
	struct emu_item *head, *tail;	/* queued, not started */
	uint64_t queued, done;		/* items ever queued / finished */
	int err;			/* first failure since the last sync */
	pthread_t thread;
};

struct emu_graph {
	struct emu_item *items;		/* captured execs, in order */
	bool valid;
};

struct accel_gpu {
	const struct accel_gpu_host *host;
	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cond;		/* any stream's queue or progress changed */
	bool stop;
	struct emu_stream s[ACCEL_GPU_NSTREAMS];
	struct emu_range dev[EMU_MAX_RANGES];	/* device allocations */
	struct emu_range reg[EMU_MAX_RANGES];	/* registered host ranges */
	uint64_t mem_total, mem_used;
	unsigned delay_us;
	int capturing;			/* slot + 1 while a graph is captured */
	struct emu_graph graph[ACCEL_GPU_GRAPH_SLOTS];
	/* the compute stream's scratch (its thread only) */
	uint8_t *scratch;
	size_t scratch_size;
};

struct emu_arg {
	struct accel_gpu *g;
	int stream;
};

static void emu_log(struct accel_gpu *g, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void emu_log(struct accel_gpu *g, int level, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	if (!g->host->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	g->host->log(level, msg);
}

/* the range of @tab holding [p, p + len), or NULL; lock held */
static struct emu_range *emu_find(struct emu_range *tab, const void *p, uint64_t len)
{
	const uint8_t *b = p;

	for (int i = 0; i < EMU_MAX_RANGES; i++)
		if (tab[i].p && b >= tab[i].p && len <= tab[i].len &&
		    (uint64_t)(b - tab[i].p) <= tab[i].len - len)
			return &tab[i];
	return NULL;
}

/* a free entry of @tab, or NULL; lock held */
static struct emu_range *emu_slot(struct emu_range *tab)
{
	for (int i = 0; i < EMU_MAX_RANGES; i++)
		if (!tab[i].p)
			return &tab[i];
	return NULL;
}

/* the tensor pools the CPU executor reads: the device copies */
static int emu_run_exec(struct accel_gpu *g, struct emu_item *it)
{
	struct accel_pool fake[ACCEL_CMD_MAX_TENSORS];
	const struct accel_pool *orig[ACCEL_CMD_MAX_TENSORS];
	struct accel_cmd *c = &it->exec.cmd;
	_Atomic int64_t work = 0;
	struct accel_cpu_ctx ctx = { .ith = 0, .nth = 1, .work = &work };
	size_t need;

	for (int i = 0; i < ACCEL_CMD_MAX_TENSORS; i++) {
		const struct accel_gpu_buf *b = &it->exec.bufs[i];

		orig[i] = c->t[i].pool;
		if (!c->t[i].pool)
			continue;
		if (!b->base || (uint8_t *)b->ptr != (uint8_t *)b->base + c->t[i].offset)
			return -EINVAL;
		/* one fake per pool, so tensors of one pool stay of one pool */
		for (int j = 0; j < i; j++)
			if (orig[j] == orig[i]) {
				c->t[i].pool = c->t[j].pool;
				goto next;
			}
		fake[i] = (struct accel_pool){ .base = b->base, .size = b->pool_size,
					      .block_size = (uint32_t)b->block_size };
		c->t[i].pool = &fake[i];
next:;
	}
	need = accel_cpu_scratch_size(c, 1);
	if (need > g->scratch_size) {
		free(g->scratch);
		g->scratch = aligned_alloc(64, (need + 63) & ~(size_t)63);
		g->scratch_size = g->scratch ? need : 0;
		if (!g->scratch)
			return -ENOMEM;
	}
	ctx.scratch = g->scratch;
	ctx.scratch_size = g->scratch_size;
	return accel_cpu_exec(c, &ctx);
}

static void *emu_thread(void *p)
{
	struct emu_arg *a = p;
	struct accel_gpu *g = a->g;
	struct emu_stream *s = &g->s[a->stream];

	pthread_mutex_lock(&g->lock);
	for (;;) {
		struct emu_item *it;
		int ret = 0;

		while (!s->head && !g->stop)
			pthread_cond_wait(&g->cond, &g->lock);
		if (!s->head)
			break;
		it = s->head;
		if (it->kind == EMU_WAIT) {
			/* an event: wait while the other stream has not got there */
			while (g->s[it->wait.stream].done < it->wait.upto && !g->stop)
				pthread_cond_wait(&g->cond, &g->lock);
		}
		pthread_mutex_unlock(&g->lock);
		if (g->delay_us && it->kind != EMU_WAIT)
			nanosleep(&(struct timespec){ .tv_nsec = (long)g->delay_us * 1000 }, NULL);
		switch (it->kind) {
		case EMU_COPY:
			memcpy(it->copy.dst, it->copy.src, it->copy.len);
			break;
		case EMU_EXEC:
			ret = s->err ? 0 : emu_run_exec(g, it);	/* a failed stream runs nothing */
			break;
		case EMU_SIGNAL:
			g->host->fence_signal(it->sig.fence, it->sig.point);
			break;
		case EMU_WAIT:
			break;
		}
		pthread_mutex_lock(&g->lock);
		if (ret && !s->err) {
			s->err = ret;
			emu_log(g, ACCEL_LOG_ERROR, "stream %d: op %u failed: %s", a->stream,
				it->exec.cmd.op, strerror(-ret));
		}
		s->head = it->next;
		if (!s->head)
			s->tail = NULL;
		s->done++;
		free(it);
		pthread_cond_broadcast(&g->cond);
	}
	pthread_mutex_unlock(&g->lock);
	free(a);
	return NULL;
}

/* queue @it on @st (or into the graph being captured); lock not held */
static int emu_queue(struct accel_gpu *g, int st, struct emu_item *it)
{
	struct emu_stream *s = &g->s[st];

	pthread_mutex_lock(&g->lock);
	it->next = NULL;
	if (s->tail)
		s->tail->next = it;
	else
		s->head = it;
	s->tail = it;
	s->queued++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void emu_close(struct accel_gpu *g);

/* a decimal count with an optional K, M or G (powers of 1024) and nothing
 * after it; 0 or -EINVAL (a typo must not become a 4-byte GPU) */
static int emu_parse(const char *s, bool suffix, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (suffix && *end) {
		shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : -1;
		if (shift < 0)
			return -EINVAL;
		end++;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int emu_open(const struct accel_gpu_host *host, int ordinal, struct accel_gpu **out,
		    char *why, size_t why_len)
{
	const char *mem = getenv("ACCEL_GPUEMU_MEM"), *delay = getenv("ACCEL_GPUEMU_DELAY_US");
	struct accel_gpu *g;
	int n;

	if (!host || host->abi_version != ACCEL_GPU_ABI_VERSION ||
	    host->size < sizeof(struct accel_gpu_host) || !host->fence_signal || !out) {
		snprintf(why, why_len, "libaccel and the GPU emulation disagree on the ABI");
		return -EINVAL;
	}
	if (ordinal != 0) {
		snprintf(why, why_len, "GPU %d requested, the emulation has one (0)", ordinal);
		return -ENODEV;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->host = host;
	g->mem_total = EMU_MEM_DEFAULT;
	if (mem && *mem && (emu_parse(mem, true, &g->mem_total) || !g->mem_total)) {
		snprintf(why, why_len, "GPU emulation: ACCEL_GPUEMU_MEM=%s is not a size "
			 "(bytes, or K/M/G)", mem);
		free(g);
		return -EINVAL;
	}
	if (delay && *delay) {
		uint64_t d = 0;

		if (emu_parse(delay, false, &d) || d > 10000000) {
			snprintf(why, why_len, "GPU emulation: ACCEL_GPUEMU_DELAY_US=%s is not a "
				 "count of microseconds up to 10000000", delay);
			free(g);
			return -EINVAL;
		}
		g->delay_us = (unsigned)d;
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	for (n = 0; n < ACCEL_GPU_NSTREAMS; n++) {
		struct emu_arg *a = malloc(sizeof(*a));

		if (a)
			*a = (struct emu_arg){ .g = g, .stream = n };
		if (!a || pthread_create(&g->s[n].thread, NULL, emu_thread, a)) {
			free(a);
			break;
		}
	}
	if (n < ACCEL_GPU_NSTREAMS) {
		snprintf(why, why_len, "GPU emulation: cannot start its stream threads");
		pthread_mutex_lock(&g->lock);
		g->stop = true;
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);
		while (n-- > 0)
			pthread_join(g->s[n].thread, NULL);
		free(g);
		return -ENOMEM;
	}
	*out = g;
	return 0;
}

static void emu_close(struct accel_gpu *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	for (int i = 0; i < ACCEL_GPU_NSTREAMS; i++)	/* drain, as a device sync */
		while (g->s[i].head)
			pthread_cond_wait(&g->cond, &g->lock);
	g->stop = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	for (int i = 0; i < ACCEL_GPU_NSTREAMS; i++)
		pthread_join(g->s[i].thread, NULL);
	for (int i = 0; i < ACCEL_GPU_GRAPH_SLOTS; i++)
		while (g->graph[i].items) {
			struct emu_item *it = g->graph[i].items;

			g->graph[i].items = it->next;
			free(it);
		}
	for (int i = 0; i < EMU_MAX_RANGES; i++)
		free(g->dev[i].p);
	free(g->scratch);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static int emu_info(struct accel_gpu *g, struct accel_gpu_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "accelkv GPU emulation (CPU, no GPU)");
	info->cc_major = 0;
	info->cc_minor = 0;
	pthread_mutex_lock(&g->lock);
	info->mem_total = g->mem_total;
	info->mem_free = g->mem_total - g->mem_used;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static int emu_mem_alloc(struct accel_gpu *g, uint64_t size, void **dptr)
{
	struct emu_range *r;
	void *p;

	if (!size || !dptr)
		return -EINVAL;
	*dptr = NULL;
	pthread_mutex_lock(&g->lock);
	if (size > g->mem_total - g->mem_used) {
		pthread_mutex_unlock(&g->lock);
		return -ENOMEM;		/* cudaErrorMemoryAllocation */
	}
	g->mem_used += size;		/* reserved while unlocked */
	pthread_mutex_unlock(&g->lock);
	p = aligned_alloc(256, (size + 255) & ~UINT64_C(255));
	if (p)
		memset(p, 0xff, size);	/* never uploaded: NaN */
	pthread_mutex_lock(&g->lock);
	r = p ? emu_slot(g->dev) : NULL;
	if (r)
		*r = (struct emu_range){ .p = p, .len = size };
	else
		g->mem_used -= size;
	pthread_mutex_unlock(&g->lock);
	if (!r) {
		free(p);
		return -ENOMEM;
	}
	*dptr = p;
	return 0;
}

static void emu_sync_all_locked(struct accel_gpu *g)
{
	for (int i = 0; i < ACCEL_GPU_NSTREAMS; i++)
		while (g->s[i].head)
			pthread_cond_wait(&g->cond, &g->lock);
}

static void emu_mem_free(struct accel_gpu *g, void *dptr)
{
	struct emu_range *r;

	if (!dptr)
		return;
	pthread_mutex_lock(&g->lock);
	emu_sync_all_locked(g);		/* any stream may still use it */
	r = emu_find(g->dev, dptr, 1);
	if (r && r->p == dptr) {
		g->mem_used -= r->len;
		r->p = NULL;
		r->len = 0;
	} else {
		emu_log(g, ACCEL_LOG_ERROR, "mem_free of %p: not an allocation", dptr);
		dptr = NULL;
	}
	pthread_mutex_unlock(&g->lock);
	free(dptr);
}

static int emu_host_register(struct accel_gpu *g, void *p, uint64_t len)
{
	struct emu_range *r;
	int ret = 0;

	if (!p || !len)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	if (emu_find(g->reg, p, 1))
		ret = -EEXIST;		/* cudaErrorHostMemoryAlreadyRegistered */
	else if (!(r = emu_slot(g->reg)))
		ret = -ENOMEM;
	else
		*r = (struct emu_range){ .p = p, .len = len };
	pthread_mutex_unlock(&g->lock);
	return ret;
}

static void emu_host_unregister(struct accel_gpu *g, void *p)
{
	struct emu_range *r;

	pthread_mutex_lock(&g->lock);
	emu_sync_all_locked(g);
	r = emu_find(g->reg, p, 1);
	if (r && r->p == p)
		*r = (struct emu_range){ 0 };
	pthread_mutex_unlock(&g->lock);
}

static int emu_copy(struct accel_gpu *g, enum accel_gpu_stream st, void *dst, const void *src,
		    uint64_t len)
{
	struct emu_item *it;
	bool ok;

	if (st != ACCEL_GPU_UPLOAD && st != ACCEL_GPU_DOWNLOAD)
		return -EINVAL;
	if (!len)
		return 0;
	pthread_mutex_lock(&g->lock);
	if (st == ACCEL_GPU_UPLOAD)	/* host (registered) or device -> device */
		ok = emu_find(g->dev, dst, len) &&
		     (emu_find(g->reg, src, len) || emu_find(g->dev, src, len));
	else				/* device -> registered host */
		ok = emu_find(g->dev, src, len) && emu_find(g->reg, dst, len);
	pthread_mutex_unlock(&g->lock);
	if (!ok) {
		emu_log(g, ACCEL_LOG_ERROR, "copy of %llu bytes %p -> %p: a side is neither "
			"device memory nor a registered host range", (unsigned long long)len, src, dst);
		return -EINVAL;
	}
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->kind = EMU_COPY;
	it->copy.dst = dst;
	it->copy.src = src;
	it->copy.len = len;
	return emu_queue(g, st, it);
}

static int emu_after(struct accel_gpu *g, enum accel_gpu_stream waiter,
		     enum accel_gpu_stream signaler)
{
	struct emu_item *it;

	if (waiter >= ACCEL_GPU_NSTREAMS || signaler >= ACCEL_GPU_NSTREAMS)
		return -EINVAL;
	if (waiter == signaler)
		return 0;
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->kind = EMU_WAIT;
	it->wait.stream = signaler;
	pthread_mutex_lock(&g->lock);
	it->wait.upto = g->s[signaler].queued;	/* cudaEventRecord */
	pthread_mutex_unlock(&g->lock);
	return emu_queue(g, waiter, it);
}

static int emu_signal(struct accel_gpu *g, enum accel_gpu_stream st, struct accel_fence *fence,
		      uint64_t point)
{
	struct emu_item *it;

	if (st >= ACCEL_GPU_NSTREAMS || !fence)
		return -EINVAL;
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->kind = EMU_SIGNAL;
	it->sig.fence = fence;
	it->sig.point = point;
	return emu_queue(g, st, it);
}

static int emu_sync(struct accel_gpu *g, enum accel_gpu_stream st)
{
	struct emu_stream *s;
	uint64_t upto;
	int ret;

	if (st >= ACCEL_GPU_NSTREAMS)
		return -EINVAL;
	s = &g->s[st];
	pthread_mutex_lock(&g->lock);
	upto = s->queued;
	while (s->done < upto)
		pthread_cond_wait(&g->cond, &g->lock);
	ret = s->err;
	s->err = 0;
	pthread_mutex_unlock(&g->lock);
	return ret;
}

static int emu_check(struct accel_gpu *g, const struct accel_cmd *cmd)
{
	return accel_gpu_op_check(cmd);
}

static int emu_exec(struct accel_gpu *g, const struct accel_cmd *cmd,
		    const struct accel_gpu_buf bufs[ACCEL_CMD_MAX_TENSORS])
{
	struct emu_item *it;
	int ret = accel_gpu_op_check(cmd);

	if (ret)
		return ret;
	for (int i = 0; i < ACCEL_CMD_MAX_TENSORS; i++) {
		bool ok;

		if (!cmd->t[i].pool)
			continue;
		pthread_mutex_lock(&g->lock);
		ok = bufs[i].base && emu_find(g->dev, bufs[i].base, bufs[i].pool_size);
		pthread_mutex_unlock(&g->lock);
		if (!ok)
			return -EINVAL;	/* a pool without device memory */
	}
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->kind = EMU_EXEC;
	it->exec.cmd = *cmd;
	memcpy(it->exec.bufs, bufs, sizeof(it->exec.bufs));
	if (g->capturing) {		/* stream capture: recorded, not run */
		struct emu_graph *gr = &g->graph[g->capturing - 1];
		struct emu_item **pp = &gr->items;

		while (*pp)
			pp = &(*pp)->next;
		*pp = it;
		return 0;
	}
	return emu_queue(g, ACCEL_GPU_COMPUTE, it);
}

static void emu_graph_clear(struct emu_graph *gr)
{
	while (gr->items) {
		struct emu_item *it = gr->items;

		gr->items = it->next;
		free(it);
	}
	gr->valid = false;
}

static int emu_graph_begin(struct accel_gpu *g, uint32_t slot)
{
	if (slot >= ACCEL_GPU_GRAPH_SLOTS || g->capturing)
		return -EINVAL;
	emu_graph_clear(&g->graph[slot]);
	g->capturing = (int)slot + 1;
	return 0;
}

static int emu_graph_end(struct accel_gpu *g, uint32_t slot)
{
	if (g->capturing != (int)slot + 1)
		return -EINVAL;
	g->capturing = 0;
	g->graph[slot].valid = true;
	return 0;
}

static int emu_graph_launch(struct accel_gpu *g, uint32_t slot)
{
	if (slot >= ACCEL_GPU_GRAPH_SLOTS || !g->graph[slot].valid)
		return -EINVAL;
	for (struct emu_item *c = g->graph[slot].items; c; c = c->next) {
		struct emu_item *it = malloc(sizeof(*it));

		if (!it)
			return -ENOMEM;
		*it = *c;
		emu_queue(g, ACCEL_GPU_COMPUTE, it);
	}
	return 0;
}

static const struct accel_gpu_ops emu_ops = {
	.abi_version = ACCEL_GPU_ABI_VERSION,
	.size = sizeof(struct accel_gpu_ops),
	.name = "emu",
	.open = emu_open,
	.close = emu_close,
	.info = emu_info,
	.mem_alloc = emu_mem_alloc,
	.mem_free = emu_mem_free,
	.host_register = emu_host_register,
	.host_unregister = emu_host_unregister,
	.copy = emu_copy,
	.after = emu_after,
	.signal = emu_signal,
	.sync = emu_sync,
	.check = emu_check,
	.exec = emu_exec,
	.graph_begin = emu_graph_begin,
	.graph_end = emu_graph_end,
	.graph_launch = emu_graph_launch,
};

__attribute__((visibility("default")))
const struct accel_gpu_ops *accel_gpu_entry(uint32_t abi_version)
{
	return abi_version == ACCEL_GPU_ABI_VERSION ? &emu_ops : NULL;
}
