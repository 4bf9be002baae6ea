// SPDX-License-Identifier: MIT
/*
 * The GPU backend's COMPUTE commands: each opcode of the op table (the ones
 * the CPU executor runs, cpu_op_*.c, with the same tensor layout from
 * accel_cmd.h) queued through its kernels/cuda twin on the compute stream.
 * libaccel has already run the op table's checks and resolved every tensor
 * to device memory (struct accel_gpu_buf); here only the GPU's own limits
 * are checked and the shapes mapped onto the kn_cuda_* arguments, exactly
 * as the CPU executor maps them onto kn_*.
 */
#include <errno.h>
#include <stdbool.h>
#include <cuda_runtime_api.h>
#include "gpu_backend.h"
#include "gpu_ops.h"

static int64_t t_rows(const struct accel_tensor *t)
{
	return t->ne[1] * t->ne[2] * t->ne[3];
}

static int64_t t_nel(const struct accel_tensor *t)
{
	return t->ne[0] * t_rows(t);
}

static bool t_unused(const struct accel_tensor *t)
{
	return t->ne[0] == 0;
}

int gpu_exec_check(struct accel_gpu *g, const struct accel_cmd *c)
{
	return accel_gpu_op_check(c);
}

/* the kernels' scratch holds at least @bytes: a larger context replaces the
 * old one between commands (never inside a graph capture), and the graphs
 * captured over the old one are dropped */
static int gpu_scratch_ensure(struct accel_gpu *g, size_t bytes)
{
	struct kn_cuda_ctx *kn;
	size_t have = kn_cuda_ctx_scratch_size(g->kn);
	int ret;

	if (bytes <= have)
		return 0;
	if (g->capturing)
		return -ENOMEM;
	if (bytes < 2 * have)
		bytes = 2 * have;
	ret = kn_cuda_ctx_sync(g->kn);
	if (ret)
		return ret;
	ret = kn_cuda_ctx_create(&kn, gpu_stream(g, ACCEL_GPU_COMPUTE), bytes);
	if (ret)
		return ret;
	kn_cuda_ctx_destroy(g->kn);
	g->kn = kn;
	/* captured graphs hold the old scratch and error flag: gone with them
	 * (launching an emptied slot fails, and libaccel runs the commands) */
	gpu_graphs_destroy(g);
	gpu_log(g, ACCEL_LOG_DEBUG, "kernel scratch grown to %zu MiB", bytes >> 20);
	return 0;
}

static int gpu_exec_matmul(struct accel_gpu *g, const struct accel_cmd *c,
			   const struct accel_gpu_buf *b)
{
	const struct accel_tensor *x = &c->t[1], *w = &c->t[2];
	const int64_t n_in = x->ne[0], n_rows = w->ne[1], n_cols = t_rows(x);
	int ret = gpu_scratch_ensure(g, kn_cuda_matmul_scratch(w->dtype, n_in, n_rows, n_cols));

	if (ret)
		return ret;
	if (c->i[0] & ACCEL_MATMUL_ROW_INVARIANT)
		return kn_cuda_matmul_rowinv(g->kn, b[0].ptr, b[2].ptr, w->dtype, b[1].ptr,
					     c->op == ACCEL_OP_MATMUL && !t_unused(&c->t[3]) ?
					     b[3].ptr : NULL, n_in, n_rows, n_cols);
	return kn_cuda_matmul(g->kn, b[0].ptr, b[2].ptr, w->dtype, b[1].ptr,
			      c->op == ACCEL_OP_MATMUL && !t_unused(&c->t[3]) ? b[3].ptr : NULL,
			      n_in, n_rows, n_cols);
}

static int gpu_exec_attn(struct accel_gpu *g, const struct accel_cmd *c,
			 const struct accel_gpu_buf *b)
{
	const struct accel_tensor *q = &c->t[1], *k = &c->t[2], *bt = &c->t[5];
	const int64_t row = k->ne[1] * k->ne[0];
	/* a block holds every layer's K and V rows of its tokens (accel_cmd.h);
	 * a pool without blocks is one block, as on the CPU */
	const uint64_t need = (uint64_t)c->i[1] * (uint64_t)c->i[2] *
			      (kn_row_size((uint32_t)c->i[3], row) +
			       kn_row_size((uint32_t)c->i[4], row));
	const uint64_t block_size = b[4].block_size ? b[4].block_size : need;
	const bool prefill = c->op == ACCEL_OP_ATTN_PREFILL;
	struct kn_attn_args a = {
		.out = b[0].ptr,
		.q = b[1].ptr,
		.k = b[2].ptr,
		.v = b[3].ptr,
		.cache = b[4].base,
		.block_size = block_size,
		.block_table = b[5].ptr,
		.max_blocks = bt->ne[0],
		.pos = b[6].ptr,
		.seq = b[7].ptr,
		.n = q->ne[2], .n_head = q->ne[1], .n_kv_head = k->ne[1], .hd = q->ne[0],
		.layer = (int)c->i[0], .n_layer = (int)c->i[1], .block_tokens = (int)c->i[2],
		.k_type = (uint32_t)c->i[3], .v_type = (uint32_t)c->i[4],
		.flash = (c->i[5] & ACCEL_ATTN_FLASH) != 0, .scale = c->f[0],
		.row_invariant = (c->i[5] & ACCEL_ATTN_ROW_INVARIANT) != 0,
	};
	int ret;

	if (!need || need > block_size || !b[4].base)
		return -EINVAL;
	ret = gpu_scratch_ensure(g, kn_cuda_attn_scratch(&a, prefill));
	if (ret)
		return ret;
	return kn_cuda_attn(g->kn, &a, bt->ne[1], (int64_t)(b[4].pool_size / block_size), prefill);
}

static int gpu_exec_moe_ffn(struct accel_gpu *g, const struct accel_cmd *c,
			    const struct accel_gpu_buf *b)
{
	const struct accel_tensor *x = &c->t[1], *gt = &c->t[2];
	const bool tab = !t_unused(&c->t[7]);
	struct kn_cuda_moe_args m = {
		.out = b[0].ptr,
		.x = b[1].ptr,
		.gate = b[2].ptr, .up = b[3].ptr, .down = b[4].ptr,
		.gate_type = gt->dtype, .up_type = c->t[3].dtype, .down_type = c->t[4].dtype,
		.tab = tab ? b[7].ptr : NULL,
		.base = tab ? b[2].base : NULL,
		.weights = b[5].ptr,
		.ids = b[6].ptr,
		.n = x->ne[1], .dim = x->ne[0], .ff = gt->ne[1],
		.n_exp = tab ? c->t[7].ne[1] : gt->ne[2],
		.k = (int)c->t[5].ne[0],
	};
	int ret = gpu_scratch_ensure(g, kn_cuda_moe_ffn_scratch(&m));

	return ret ? ret : kn_cuda_moe_ffn(g->kn, &m);
}

int gpu_exec(struct accel_gpu *g, const struct accel_cmd *c,
	     const struct accel_gpu_buf b[ACCEL_CMD_MAX_TENSORS])
{
	const struct accel_tensor *t = c->t;

	/* the current device is per thread, and this is the queue's thread */
	if (cudaSetDevice(g->ordinal) != cudaSuccess)
		return -EIO;
	switch (c->op) {
	case ACCEL_OP_NOP:
		return 0;
	case ACCEL_OP_EMBED:
		return kn_cuda_embed(g->kn, b[0].ptr, b[1].ptr, t[1].dtype, t[1].ne[0], t[1].ne[1],
				     b[2].ptr, t[2].ne[0]);
	case ACCEL_OP_RMSNORM:
		return kn_cuda_rmsnorm(g->kn, b[0].ptr, b[1].ptr, b[2].ptr, t[1].ne[0],
				       t_rows(&t[1]), c->f[0]);
	case ACCEL_OP_MATMUL:
	case ACCEL_OP_LOGITS:
		return gpu_exec_matmul(g, c, b);
	case ACCEL_OP_ROPE:
		return kn_cuda_rope(g->kn, b[0].ptr, b[1].ptr, t[0].ne[2], t[0].ne[1], t[0].ne[0],
				    (int)c->i[0], (int)c->i[1], c->f[0], c->f[1],
				    t_unused(&t[2]) ? NULL : b[2].ptr);
	case ACCEL_OP_ATTN_PREFILL:
	case ACCEL_OP_ATTN_DECODE:
		return gpu_exec_attn(g, c, b);
	case ACCEL_OP_SWIGLU:
		return kn_cuda_swiglu(g->kn, b[0].ptr, b[1].ptr, b[2].ptr, t_nel(&t[0]));
	case ACCEL_OP_ADD:
		return kn_cuda_add(g->kn, b[0].ptr, b[1].ptr, b[2].ptr, t_nel(&t[0]));
	case ACCEL_OP_MOE_ROUTE:
		return kn_cuda_moe_route(g->kn, b[0].ptr, b[1].ptr, b[2].ptr, t[2].ne[1],
					 t[2].ne[0], (int)c->i[0], c->i[1] != 0);
	case ACCEL_OP_MOE_FFN:
		return gpu_exec_moe_ffn(g, c, b);
	default:
		return -EOPNOTSUPP;
	}
}
