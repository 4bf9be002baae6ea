// SPDX-License-Identifier: MIT
/*
 * The engines on an attached GPU (queues created with ACCEL_QUEUE_GPU):
 * COMPUTE runs the op table's commands through the backend (gpu_abi.h) on
 * its compute stream, every tensor resolved to its pool's VRAM twin at the
 * same offset (accel_pool_gpu_mirror: the same handles as on the CPU); COPY
 * moves a pool's bytes between the host mapping and the twin (UPLOAD on the
 * upload stream, DOWNLOAD on the download stream).
 *
 * Fences: the queue's thread waits for a submission's points before it
 * queues the work (the COPY point of a layer's upload, the NVMe read that
 * filled a host slot), and the submission ends once the GPU has finished it,
 * so its signal point means "done on the GPU". Streams of different queues
 * run concurrently: an upload overlaps the kernels of the layer before it.
 *
 * CUDA graphs: a decode step's submission is the same commands every step
 * (the tokens, positions and block tables change in device memory, not in
 * the commands), so the COMPUTE engine keeps the submissions it has seen
 * twice as graphs (the backend's stream capture) and replays a graph when a
 * submission equals its commands byte for byte; anything else runs command
 * by command. ACCEL_GPU_GRAPHS=0 turns it off.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_exec.h"
#include "gpu.h"
#include "op_table.h"
#include "queue.h"

/* graph slots of a COMPUTE queue (of the backend's per-device slots) */
#define ACCEL_GPU_QUEUE_GRAPHS	4

struct accel_gpu_graph {
	struct accel_cmd *cmds;		/* the submission it replays, NULL: free */
	uint32_t n;
	uint32_t slot;			/* the backend's graph slot */
	uint64_t used;			/* last use, for eviction */
};

struct accel_gpu_queue {
	int n_graphs;			/* 0: graphs off */
	struct accel_gpu_graph g[ACCEL_GPU_QUEUE_GRAPHS];
	struct accel_cmd *last;		/* the last submission run without a graph */
	uint32_t last_n;
	uint64_t tick;
};

static int accel_gpu_engine_init(struct accel_queue *q, const struct accel_queue_opts *o)
{
	(void)o;
	return q->dev->gpu ? 0 : -ENODEV;
}

static void accel_gpu_engine_fini(struct accel_queue *q)
{
	(void)q;
}

static int accel_gpu_compute_init(struct accel_queue *q, const struct accel_queue_opts *o)
{
	struct accel_gpu_dev *g = q->dev->gpu;
	const char *env = getenv("ACCEL_GPU_GRAPHS");
	struct accel_gpu_queue *gq;
	uint32_t base;

	(void)o;
	if (!g)
		return -ENODEV;
	gq = calloc(1, sizeof(*gq));
	if (!gq)
		return -ENOMEM;
	/* the backend has ACCEL_GPU_GRAPH_SLOTS per device: a queue takes four */
	base = atomic_fetch_add(&g->graph_slots_used, ACCEL_GPU_QUEUE_GRAPHS);
	if (g->ops->graph_begin && g->ops->graph_end && g->ops->graph_launch &&
	    base + ACCEL_GPU_QUEUE_GRAPHS <= ACCEL_GPU_GRAPH_SLOTS && !(env && !strcmp(env, "0"))) {
		gq->n_graphs = ACCEL_GPU_QUEUE_GRAPHS;
		for (int i = 0; i < ACCEL_GPU_QUEUE_GRAPHS; i++)
			gq->g[i].slot = base + (uint32_t)i;
	}
	q->eng_priv = gq;
	return 0;
}

static void accel_gpu_compute_fini(struct accel_queue *q)
{
	struct accel_gpu_queue *gq = q->eng_priv;

	if (!gq)
		return;
	for (int i = 0; i < ACCEL_GPU_QUEUE_GRAPHS; i++)
		free(gq->g[i].cmds);
	free(gq->last);
	free(gq);
}

static bool accel_gpu_same(const struct accel_cmd *a, uint32_t na, const struct accel_cmd *b,
			   uint32_t nb)
{
	return a && na == nb && !memcmp(a, b, sizeof(*a) * na);
}

static struct accel_cmd *accel_gpu_dup(const struct accel_cmd *cmds, uint32_t n)
{
	struct accel_cmd *c = malloc(sizeof(*c) * n);

	if (c)
		memcpy(c, cmds, sizeof(*c) * n);
	return c;
}

/* a used tensor of a GPU command must lie in a pool with a VRAM twin */
static int accel_gpu_tensor_check(const struct accel_tensor *t)
{
	if (!t->pool && !t->ne[0])
		return 0;			/* unused */
	if (!t->pool)
		return -EINVAL;			/* a host address: no GPU can see it */
	return t->pool->vram ? 0 : -EINVAL;
}

static int accel_gpu_compute_check(struct accel_queue *q, const struct accel_cmd *cmd)
{
	const struct accel_op_desc *d = accel_op_desc(cmd->op);
	struct accel_gpu_dev *g = q->dev->gpu;
	int ret;

	for (int i = 0; i < ACCEL_CMD_MAX_TENSORS; i++) {
		ret = accel_gpu_tensor_check(&cmd->t[i]);
		if (ret)
			return ret;
	}
	ret = d->check ? d->check(cmd) : 0;
	return ret ? ret : g->ops->check(g->gpu, cmd);
}

static void accel_gpu_resolve(const struct accel_cmd *cmd,
			      struct accel_gpu_buf bufs[ACCEL_CMD_MAX_TENSORS])
{
	for (int i = 0; i < ACCEL_CMD_MAX_TENSORS; i++) {
		const struct accel_tensor *t = &cmd->t[i];

		bufs[i] = (struct accel_gpu_buf){ 0 };
		if (!t->pool)
			continue;
		bufs[i].base = t->pool->vram;
		bufs[i].ptr = (uint8_t *)t->pool->vram + t->offset;
		bufs[i].pool_size = t->pool->size;
		bufs[i].block_size = t->pool->block_size;
	}
}

/* queue @cmds one by one on the compute stream */
static int accel_gpu_queue_cmds(struct accel_gpu_dev *g, const struct accel_cmd *cmds, uint32_t n)
{
	struct accel_gpu_buf bufs[ACCEL_CMD_MAX_TENSORS];
	int ret = 0;

	for (uint32_t i = 0; i < n && !ret; i++) {
		accel_gpu_resolve(&cmds[i], bufs);
		ret = g->ops->exec(g->gpu, &cmds[i], bufs);
	}
	return ret;
}

/*
 * A submission seen before as a graph: replay it (1). Seen once before
 * without: capture it now into the least recently used slot and launch it
 * (1). Otherwise, or when the capture fails (a kernel that needs a larger
 * scratch), 0: the caller runs it command by command.
 */
static int accel_gpu_try_graph(struct accel_gpu_dev *g, struct accel_gpu_queue *gq,
			       const struct accel_cmd *cmds, uint32_t n, int *ret)
{
	struct accel_gpu_graph *lru = NULL;
	struct accel_cmd *copy;

	if (!gq || !gq->n_graphs)
		return 0;
	gq->tick++;
	for (int i = 0; i < gq->n_graphs; i++) {
		struct accel_gpu_graph *e = &gq->g[i];

		if (accel_gpu_same(e->cmds, e->n, cmds, n)) {
			e->used = gq->tick;
			*ret = g->ops->graph_launch(g->gpu, e->slot);
			if (!*ret)
				return 1;
			/* the backend dropped it (its scratch grew): nothing was
			 * launched; forget it and run the commands */
			free(e->cmds);
			e->cmds = NULL;
			e->n = 0;
			*ret = 0;
			return 0;
		}
		if (!lru || !e->cmds || (lru->cmds && e->used < lru->used))
			lru = e;
	}
	if (!accel_gpu_same(gq->last, gq->last_n, cmds, n)) {
		free(gq->last);			/* the first time: remember it */
		gq->last = accel_gpu_dup(cmds, n);
		gq->last_n = gq->last ? n : 0;
		return 0;
	}
	copy = accel_gpu_dup(cmds, n);
	if (!copy || g->ops->graph_begin(g->gpu, lru->slot)) {
		free(copy);
		return 0;
	}
	*ret = accel_gpu_queue_cmds(g, cmds, n);
	if (g->ops->graph_end(g->gpu, lru->slot)) {
		free(copy);			/* the slot is as it was */
		*ret = 0;
		return 0;			/* nothing ran: the plain path runs it */
	}
	if (*ret) {
		/* a command failed but the capture held: the slot now holds a
		 * partial graph, so it replays nothing any more */
		free(lru->cmds);
		lru->cmds = NULL;
		lru->n = 0;
		free(copy);
		*ret = 0;
		return 0;
	}
	free(lru->cmds);
	lru->cmds = copy;
	lru->n = n;
	lru->used = gq->tick;
	*ret = g->ops->graph_launch(g->gpu, lru->slot);	/* capture queued nothing */
	return 1;
}

static int accel_gpu_compute_exec(struct accel_queue *q, const struct accel_cmd *cmds,
				  uint32_t n)
{
	struct accel_gpu_dev *g = q->dev->gpu;
	int ret = 0, sret;

	if (!accel_gpu_try_graph(g, q->eng_priv, cmds, n, &ret))
		ret = accel_gpu_queue_cmds(g, cmds, n);
	/* what was queued must finish before the submission signals (and the
	 * kernels' device-side index checks are read here) */
	sret = g->ops->sync(g->gpu, ACCEL_GPU_COMPUTE);
	return ret ? ret : sret;
}

const struct accel_engine_ops accel_engine_gpu_compute = {
	.name = "gpu-compute",
	.engine = ACCEL_ENGINE_COMPUTE,
	.init = accel_gpu_compute_init,
	.fini = accel_gpu_compute_fini,
	.check = accel_gpu_compute_check,
	.exec = accel_gpu_compute_exec,
};

/*
 * UPLOAD / DOWNLOAD: t0 a byte range of a pool with a VRAM twin (its host
 * mapping <-> the twin, same offset); or, for UPLOAD, t0 a range of a host
 * pool registered for DMA (or with a twin) and t1 the range of as many bytes
 * it goes to in a pool with VRAM (a VRAM pool: a layer into a VRAM slot)
 */
int accel_gpu_check_xfer(const struct accel_cmd *cmd)
{
	const struct accel_tensor *t = &cmd->t[0], *d = &cmd->t[1];
	bool to = cmd->op == ACCEL_OP_UPLOAD && d->pool;

	if (!t->pool || !t->pool->base || !accel_tensor_bytes(t))
		return -EINVAL;
	if (to ? !t->pool->host_reg || !d->pool->vram ||
		 accel_tensor_bytes(d) != accel_tensor_bytes(t) : !t->pool->vram)
		return -EINVAL;
	for (int i = to ? 2 : 1; i < ACCEL_CMD_MAX_TENSORS; i++)
		if (cmd->t[i].pool || cmd->t[i].ne[0])
			return -EINVAL;
	return 0;
}

static int accel_gpu_copy_check(struct accel_queue *q, const struct accel_cmd *cmd)
{
	(void)q;
	switch (cmd->op) {
	case ACCEL_OP_NOP:
		return 0;
	case ACCEL_OP_UPLOAD:
	case ACCEL_OP_DOWNLOAD:
		return accel_gpu_check_xfer(cmd);
	default:
		return -EOPNOTSUPP;	/* file I/O: a host COPY queue's */
	}
}

static int accel_gpu_copy_exec(struct accel_queue *q, const struct accel_cmd *cmds, uint32_t n)
{
	struct accel_gpu_dev *g = q->dev->gpu;
	bool up = false, down = false;
	int ret = 0, sret;

	for (uint32_t i = 0; i < n && !ret; i++) {
		const struct accel_tensor *t = &cmds[i].t[0];
		const struct accel_tensor *d = cmds[i].t[1].pool ? &cmds[i].t[1] : t;
		uint8_t *host = (uint8_t *)t->pool->base + t->offset;
		uint8_t *dev = (uint8_t *)d->pool->vram + d->offset;

		switch (cmds[i].op) {
		case ACCEL_OP_UPLOAD:
			ret = g->ops->copy(g->gpu, ACCEL_GPU_UPLOAD, dev, host, accel_tensor_bytes(t));
			up = true;
			break;
		case ACCEL_OP_DOWNLOAD:
			ret = g->ops->copy(g->gpu, ACCEL_GPU_DOWNLOAD, host, dev,
					   accel_tensor_bytes(t));
			down = true;
			break;
		default:
			break;
		}
	}
	sret = up ? g->ops->sync(g->gpu, ACCEL_GPU_UPLOAD) : 0;
	if (!sret && down)
		sret = g->ops->sync(g->gpu, ACCEL_GPU_DOWNLOAD);
	return ret ? ret : sret;
}

const struct accel_engine_ops accel_engine_gpu_copy = {
	.name = "gpu-copy",
	.engine = ACCEL_ENGINE_COPY,
	.init = accel_gpu_engine_init,
	.fini = accel_gpu_engine_fini,
	.check = accel_gpu_copy_check,
	.exec = accel_gpu_copy_exec,
};

int accel_pool_gpu_register(struct accel_pool *pool)
{
	struct accel_gpu_dev *g;
	int ret;

	if (!pool || !pool->base)
		return -EINVAL;
	g = pool->dev->gpu;
	if (!g)
		return -ENODEV;
	if (pool->host_reg)
		return 0;
	ret = g->ops->host_register(g->gpu, pool->base, pool->size);
	if (ret == 0)
		pool->host_reg = true;
	return ret;
}

int accel_pool_gpu_mirror(struct accel_pool *pool)
{
	struct accel_gpu_dev *g;
	void *vram = NULL;
	int ret;

	if (!pool)
		return -EINVAL;
	g = pool->dev->gpu;
	if (!g)
		return -ENODEV;
	if (pool->vram)
		return -EEXIST;
	if (!pool->base)
		return -EINVAL;
	ret = g->ops->mem_alloc(g->gpu, pool->size, &vram);
	if (ret)
		return ret;
	/* the host side pinned for DMA, so copies are asynchronous */
	ret = accel_pool_gpu_register(pool);
	if (ret) {
		g->ops->mem_free(g->gpu, vram);
		return ret;
	}
	pool->vram = vram;
	return 0;
}

int accel_pool_create_vram(struct accel_device *dev, uint64_t size, struct accel_pool **out)
{
	struct accel_gpu_dev *g;
	struct accel_pool *pool;
	int ret;

	if (!dev || !out || !size || size > UINT64_MAX - 4095)
		return -EINVAL;
	*out = NULL;
	g = dev->gpu;
	if (!g)
		return -ENODEV;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->dev = dev;
	accel_list_init(&pool->link);
	pool->size = (size + 4095) & ~UINT64_C(4095);
	pool->vram_only = true;
	ret = g->ops->mem_alloc(g->gpu, pool->size, &pool->vram);
	if (ret) {
		free(pool);
		return ret;
	}
	accel_pool_link(dev, pool);
	*out = pool;
	return 0;
}

void accel_pool_gpu_release(struct accel_pool *pool)
{
	struct accel_gpu_dev *g = pool->dev->gpu;

	if (!g)
		return;
	if (pool->host_reg)
		g->ops->host_unregister(g->gpu, pool->base);
	pool->host_reg = false;
	if (pool->vram)
		g->ops->mem_free(g->gpu, pool->vram);
	pool->vram = NULL;
}
