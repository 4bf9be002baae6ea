/* SPDX-License-Identifier: MIT */
/*
 * libaccel command descriptors: the device's instruction stream. A command is
 * a fixed-size struct: an opcode, up to ACCEL_CMD_MAX_TENSORS tensor refs
 * (pool + byte offset + dtype + shape) and scalars. The accel_cmd_prep_*()
 * builders fill a caller's descriptor and cannot fail; validation happens at
 * accel_queue_submit().
 *
 * Shapes use ggml's order: ne[0] is the innermost (contiguous) dimension.
 * Tensors are contiguous: a row of ne[0] elements takes
 * accel_dtype_row_size(dtype, ne[0]) bytes (accel.h) and rows follow each other.
 */
#ifndef ACCEL_CMD_H
#define ACCEL_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct accel_pool;

/* dtypes: the ggml type numbers, so GGUF tensor types pass through unchanged */
enum accel_dtype {
	ACCEL_DTYPE_F32  = 0,
	ACCEL_DTYPE_F16  = 1,
	ACCEL_DTYPE_Q4_0 = 2,
	ACCEL_DTYPE_Q4_1 = 3,
	ACCEL_DTYPE_Q8_0 = 8,
	ACCEL_DTYPE_Q8_1 = 9,
	ACCEL_DTYPE_Q4_K = 12,
	ACCEL_DTYPE_Q5_K = 13,
	ACCEL_DTYPE_Q6_K = 14,
	ACCEL_DTYPE_Q8_K = 15,
	ACCEL_DTYPE_I8   = 24,
	ACCEL_DTYPE_I16  = 25,
	ACCEL_DTYPE_I32  = 26,
	ACCEL_DTYPE_I64  = 27,
	ACCEL_DTYPE_BF16 = 30,
};

/**
 * accel_dtype_quantize - convert @n F32 values to @dtype, as llama.cpp's
 * reference quantizers (quantize_row_*_ref) do: what model writers use
 * @dtype: F32 (a copy), F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K, and the
 *	activation types Q8_1 and Q8_K
 * @src: @n F32 values
 * @dst: room for a row of @n elements of @dtype (ggml's block layout)
 * @n: a multiple of @dtype's block (32 elements, 256 for the K types)
 *
 * Return: 0; -EOPNOTSUPP for a dtype with no quantizer (I8..I64, unknown
 * numbers); -EINVAL if @n is negative or not a multiple of the block, or a
 * pointer is NULL while @n > 0.
 */
int accel_dtype_quantize(uint32_t dtype, const float *src, void *dst, int64_t n);

/**
 * struct accel_tensor - a tensor ref
 * @pool: the pool holding it; NULL means @offset is a host address (CPU
 *	engines only: for tests and staging)
 * @offset: byte offset in @pool
 * @dtype: enum accel_dtype
 * @ne: elements per dimension, ne[0] innermost; unused dimensions are 1
 */
struct accel_tensor {
	struct accel_pool *pool;
	uint64_t offset;
	uint32_t dtype;
	uint32_t pad;
	int64_t ne[4];
};

enum accel_op {
	ACCEL_OP_NOP = 0,
	/* COPY engine */
	ACCEL_OP_READ_FILE,	/* t0 dst (U8 bytes: ne[0] = length); i0 fd, i1 file offset */
	ACCEL_OP_WRITE_FILE,	/* t1 src (ne[0] = length); i0 fd, i1 file offset */
	ACCEL_OP_COPY,		/* t0 dst <- t1 src, ne[0] bytes (dtype I8) */
	/* COMPUTE engine */
	ACCEL_OP_EMBED,		/* t0 F32 [dim, n] <- rows of t1 (any dtype) [dim, vocab] at ids t2 I32 [n] */
	ACCEL_OP_RMSNORM,	/* t0 F32 [dim, n] = t1 [dim, n] / rms * t2 F32 [dim]; f0 eps */
	ACCEL_OP_MATMUL,	/* t0 F32 [out, n] = t1 F32 [in, n] x t2 W [in, out] (+ t3 bias F32 [out]);
				 * t4 seq I32 [n] optional, i0 flags (accel_cmd_matmul_rows) */
	ACCEL_OP_ROPE,		/* t0 F32 [hd, heads, n] rotated in place at positions t1 I32 [n];
				 * f0 freq_base, f1 freq_scale; i0 n_rot, i1 mode (0 norm, 2 neox);
				 * t2 optional freq factors F32 [n_rot/2] (llama3 scaling) */
	ACCEL_OP_ATTN_PREFILL,	/* see below */
	ACCEL_OP_ATTN_DECODE,	/* see below */
	ACCEL_OP_SWIGLU,	/* t0 F32 [ff, n] = silu(t1 gate) * t2 up */
	ACCEL_OP_ADD,		/* t0 F32 = t1 + t2 (same shape; t0 may alias t1) */
	ACCEL_OP_MOE_ROUTE,	/* t0 F32 [k, n] weights, t1 I32 [k, n] expert ids <- t2 F32 [n_exp, n]
				 * router logits: softmax, top-k (i0 = k), i1 = 1 renormalise */
	ACCEL_OP_MOE_FFN,	/* t0 F32 [dim, n] = sum_j w * down_e(silu(gate_e x) * up_e x);
				 * t1 x F32 [dim, n]; t2 gate_exps [dim, ff, n_exp]; t3 up_exps;
				 * t4 down_exps [ff, dim, n_exp]; t5 weights F32 [k, n]; t6 ids I32 [k, n]
				 * or I32 [k, n, 2] (each entry's sequence after them, see below);
				 * t7 optional expert table I64 [3, n_exp]: byte offsets of expert e's
				 * gate, up, down slices in the pool of t2 (one pool for all three);
				 * t2..t4 then describe one expert (ne[2] = 1). Lets experts live
				 * anywhere in an expert cache (MoE streaming). i0 flags:
				 * ACCEL_MOE_SLOTS and ACCEL_MOE_ROW_INVARIANT, see below;
				 * without ACCEL_MOE_SLOTS i1..i5 must be 0. */
	ACCEL_OP_LOGITS,	/* as MATMUL: t0 F32 [vocab, n] = t1 [dim, n] x t2 output weight;
				 * t4, i0, i1 as MATMUL */
	/* COPY engine of an attached GPU (a queue with ACCEL_QUEUE_GPU) */
	ACCEL_OP_UPLOAD,	/* t0 (any dtype: its bytes) of a pool: host mapping -> the pool's
				 * VRAM twin at the same offset (accel_pool_gpu_mirror); with t1:
				 * -> t1's VRAM (accel_cmd_prep_upload_to) */
	ACCEL_OP_DOWNLOAD,	/* t0 of a pool: VRAM twin -> host mapping (logits, KV offload) */
	/* COMPUTE engine, added later (the numbers above stay) */
	ACCEL_OP_MOE_SUM,	/* t0 F32 [dim, n] = sum_j t2[j, t] * t1[:, t * k + j], j = 0..k-1 in
				 * order (llama.cpp's ggml_mul, then ggml_add of slot 1, 2, ...):
				 * t1 F32 [dim, k * n] the slots MOE_FFN wrote with
				 * ACCEL_MOE_SLOTS; t2 weights F32 [k, n] */
	ACCEL_OP_COUNT,
};

/*
 * ATTN_PREFILL / ATTN_DECODE: write this step's K and V into the paged cache,
 * then fused causal attention (online softmax; the score matrix is never
 * materialised) of each query over every cached position up to its own.
 *
 *   t0  out   F32 [hd * n_head, n]
 *   t1  q     F32 [hd, n_head, n]        (RoPE already applied)
 *   t2  k     F32 [hd, n_kv_head, n]     (RoPE already applied)
 *   t3  v     F32 [hd, n_kv_head, n]
 *   t4  cache the KV pool (only .pool is used)
 *   t5  block table I32 [max_blocks, n_seq]: block ids of each sequence
 *   t6  positions I32 [n]: position of each token in its sequence
 *   t7  seq ids I32 [n]: which row of t5 each token belongs to; or I32 [n, 2]:
 *       then the second row gives, per token (>= 1), how many tokens of its
 *       sequence the batch whose arithmetic it takes holds (llama.cpp's
 *       attention differs for 1 token, 2..63 and >= 64 with flash attention):
 *       a scheduler cutting a prompt in other pieces than a reference run
 *       passes the reference's chunk sizes; [n]: counted in this batch
 *   i0  layer, i1 n_layer, i2 tokens per block
 *   i3  K cache dtype, i4 V cache dtype: F32, F16 or Q8_0 (Q8_0: hd a
 *       multiple of 32; a Q8_0 V needs ACCEL_ATTN_FLASH, as in llama.cpp)
 *   i5  flags: ACCEL_ATTN_FLASH = llama.cpp's flash-attention arithmetic
 *       (ggml_flash_attn_ext on the CPU) instead of its softmax-then-matmul
 *       graph (ggml_soft_max_ext, then mul_mat by V); ACCEL_ATTN_ROW_INVARIANT
 *       = every query with the arithmetic of a batch of one (llama.cpp's
 *       order differs between one query and several: speculative
 *       verification needs the one-token logits); bits 8..23
 *       (ACCEL_ATTN_SPLIT(n)): llama.cpp's thread count n (<=
 *       ACCEL_ATTN_SPLIT_MAX; 0: never split), for its split-KV decode: a
 *       query that is alone in its sequence's batch (1 token, or a t7 count
 *       of 1, or ACCEL_ATTN_ROW_INVARIANT), under ACCEL_ATTN_FLASH, with K
 *       and V each F16 or F32, at a position p whose KV view n_kv = max(256,
 *       p + 1 rounded up to 256) (llama_kv_cache::get_n_kv, one sequence) is
 *       >= 512 is computed as llama.cpp's threads do: chunks of ceil(n_kv /
 *       n) cells, each an online softmax of its own, combined in chunk order
 *       (ggml_flash_attn_ext_reduce_partials); other queries ignore it. Its
 *       bits depend on n, not on the queue's threads. A split without
 *       ACCEL_ATTN_FLASH is -EINVAL; other bits must be 0
 *   f0  scale (1/sqrt(hd))
 *
 * Cache layout: block b starts at byte b * block_size of the pool and holds,
 * per layer, the K rows then the V rows of its tokens: [n_layer][tokens per
 * block][K row] then [tokens per block][V row] within each layer, a row being
 * [n_kv_head][hd] elements of its dtype (ggml's block_q8_0 for Q8_0: a row
 * of a head is hd / 32 blocks of an F16 scale and 32 int8).
 * Query head h reads KV head h / (n_head / n_kv_head) (GQA).
 * PREFILL: tokens of one sequence, causal among themselves. DECODE: one
 * token per sequence, n sequences (batched decode).
 */

#define ACCEL_ATTN_FLASH	(1u << 0)	/* ATTN_* i5: flash-attention arithmetic */
#define ACCEL_ATTN_ROW_INVARIANT	(1u << 1)	/* ATTN_* i5: one-query arithmetic per row */
#define ACCEL_ATTN_FLAGS_MASK	(ACCEL_ATTN_FLASH | ACCEL_ATTN_ROW_INVARIANT)
/* ATTN_* i5 bits 8..23: llama.cpp's thread count for its split-KV decode */
#define ACCEL_ATTN_SPLIT_SHIFT	8
#define ACCEL_ATTN_SPLIT_MASK	(0xffffu << ACCEL_ATTN_SPLIT_SHIFT)
#define ACCEL_ATTN_SPLIT_MAX	1024
#define ACCEL_ATTN_SPLIT(n)	((uint32_t)(n) << ACCEL_ATTN_SPLIT_SHIFT)

/*
 * MOE_FFN by parts (MoE streaming: an expert computes as soon as its read has
 * landed, while the others still read): with ACCEL_MOE_SLOTS in i0, t0 is
 * F32 [dim, k * n] and row t * k + j gets down_e(silu(gate_e x_t) * up_e x_t)
 * of slot j's expert e, unweighted, for the experts e in the set i1..i4
 * (bit e % 64 of i[1 + e / 64]; n_exp <= 256; i5 must be 0); the rows of
 * other experts are not written. Each row's arithmetic is that of the whole
 * op, so MOE_FFN over disjoint sets covering the routed experts, then
 * MOE_SUM, gives MOE_FFN's result bit for bit.
 */
#define ACCEL_MOE_SLOTS		(1u << 0)
#define ACCEL_MOE_MAX_SET	256

/*
 * MOE_FFN's expert matmuls compute as llama.cpp's MUL_MAT_ID does, whose
 * order for an expert depends on how many (token, slot) rows the batch
 * routes to it (Q6_K, Q5_K and non-repacked Q4_K experts: the tiled order
 * from 8 rows, vec_dot below). By default the whole batch counts, as in
 * llama.cpp, whose batch is one sequence's. With t6 I32 [k, n, 2]
 * (accel_cmd_moe_rows), plane 0 holds the ids MOE_ROUTE wrote and plane 1,
 * right after them, the sequence of each entry (of its token: any int32,
 * compared only): each sequence's rows of an expert are counted apart, so
 * no row depends on the other sequences batched with it. With
 * ACCEL_MOE_ROW_INVARIANT every row has the one-token arithmetic (a batch
 * of logits rows that are each their sequence's only one, as
 * ACCEL_MATMUL_ROW_INVARIANT). A GPU may ignore both (its arithmetic is
 * checked against the CPU's within a tolerance, not bit for bit).
 */
#define ACCEL_MOE_ROW_INVARIANT	(1u << 1)
#define ACCEL_MOE_FLAGS_MASK	(ACCEL_MOE_SLOTS | ACCEL_MOE_ROW_INVARIANT)

#define ACCEL_CMD_MAX_TENSORS	8
#define ACCEL_CMD_MAX_I		6
#define ACCEL_CMD_MAX_F		4

/**
 * struct accel_cmd - one command
 * @op: enum accel_op
 * @flags: must be 0
 * @t: tensor refs, as each opcode documents; unused ones zero
 * @i: integer scalars
 * @f: float scalars
 * @name: optional name of the intermediate the command produces, as
 *	llama.cpp's graphs name theirs (cb(cur, "attn_norm", il)): "attn_norm",
 *	"Qcur", "ffn_out"; NULL for none. Static storage: the queue copies the
 *	command, not the string. Debug only (ACCEL_DUMP_DIR file names); never
 *	validated nor interpreted, so it cannot make a submission fail.
 * @il: the layer index of @name (llama.cpp's il); -1 for an intermediate
 *	outside the layers ("result_norm"). Unused when @name is NULL.
 *
 * Set @name and @il with accel_cmd_name() after a prep builder (which
 * zeroes the whole command).
 */
struct accel_cmd {
	uint32_t op;
	uint32_t flags;
	struct accel_tensor t[ACCEL_CMD_MAX_TENSORS];
	int64_t i[ACCEL_CMD_MAX_I];
	float f[ACCEL_CMD_MAX_F];
	const char *name;
	int32_t il;
};

/* ------------------------------------------------------------ prep builders */

static inline struct accel_tensor accel_tensor_make(struct accel_pool *pool, uint64_t offset,
						    uint32_t dtype, int64_t ne0, int64_t ne1,
						    int64_t ne2, int64_t ne3)
{
	struct accel_tensor t;

	memset(&t, 0, sizeof(t));
	t.pool = pool;
	t.offset = offset;
	t.dtype = dtype;
	t.ne[0] = ne0;
	t.ne[1] = ne1 ? ne1 : 1;
	t.ne[2] = ne2 ? ne2 : 1;
	t.ne[3] = ne3 ? ne3 : 1;
	return t;
}

/* accel_tensor_host - a tensor ref over host memory (pool NULL) */
static inline struct accel_tensor accel_tensor_host(const void *ptr, uint32_t dtype,
						    int64_t ne0, int64_t ne1)
{
	return accel_tensor_make(NULL, (uint64_t)(uintptr_t)ptr, dtype, ne0, ne1, 1, 1);
}

/* accel_cmd_prep - zero every field (name and il included), set the op */
static inline void accel_cmd_prep(struct accel_cmd *cmd, enum accel_op op)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->op = op;
}

/**
 * accel_cmd_name - name the intermediate @cmd produces (debug dumps)
 * @cmd: a prepared command
 * @name: static string, llama.cpp's name for it ("attn_norm"); NULL for none
 * @il: layer index, or -1 for a tensor outside the layers
 *
 * Call after the accel_cmd_prep_*() builder: it zeroes the command.
 */
static inline void accel_cmd_name(struct accel_cmd *cmd, const char *name, int il)
{
	cmd->name = name;
	cmd->il = il;
}

static inline void accel_cmd_prep_read_file(struct accel_cmd *cmd, struct accel_tensor dst,
					    int fd, uint64_t file_offset)
{
	accel_cmd_prep(cmd, ACCEL_OP_READ_FILE);
	cmd->t[0] = dst;
	cmd->i[0] = fd;
	cmd->i[1] = (int64_t)file_offset;
}

static inline void accel_cmd_prep_write_file(struct accel_cmd *cmd, struct accel_tensor src,
					     int fd, uint64_t file_offset)
{
	accel_cmd_prep(cmd, ACCEL_OP_WRITE_FILE);
	cmd->t[1] = src;
	cmd->i[0] = fd;
	cmd->i[1] = (int64_t)file_offset;
}

static inline void accel_cmd_prep_copy(struct accel_cmd *cmd, struct accel_tensor dst,
				       struct accel_tensor src)
{
	accel_cmd_prep(cmd, ACCEL_OP_COPY);
	cmd->t[0] = dst;
	cmd->t[1] = src;
}

/* UPLOAD / DOWNLOAD: @t's bytes between its pool's host mapping and VRAM twin */
static inline void accel_cmd_prep_upload(struct accel_cmd *cmd, struct accel_tensor t)
{
	accel_cmd_prep(cmd, ACCEL_OP_UPLOAD);
	cmd->t[0] = t;
}

/* UPLOAD: @src's bytes (a host pool registered for DMA, accel_pool_gpu_register)
 * into @dst, as many bytes in a pool with VRAM (a VRAM pool, or a twin) */
static inline void accel_cmd_prep_upload_to(struct accel_cmd *cmd, struct accel_tensor src,
					    struct accel_tensor dst)
{
	accel_cmd_prep(cmd, ACCEL_OP_UPLOAD);
	cmd->t[0] = src;
	cmd->t[1] = dst;
}

static inline void accel_cmd_prep_download(struct accel_cmd *cmd, struct accel_tensor t)
{
	accel_cmd_prep(cmd, ACCEL_OP_DOWNLOAD);
	cmd->t[0] = t;
}

static inline void accel_cmd_prep_embed(struct accel_cmd *cmd, struct accel_tensor dst,
					struct accel_tensor weight, struct accel_tensor ids)
{
	accel_cmd_prep(cmd, ACCEL_OP_EMBED);
	cmd->t[0] = dst;
	cmd->t[1] = weight;
	cmd->t[2] = ids;
}

static inline void accel_cmd_prep_rmsnorm(struct accel_cmd *cmd, struct accel_tensor dst,
					  struct accel_tensor x, struct accel_tensor weight,
					  float eps)
{
	accel_cmd_prep(cmd, ACCEL_OP_RMSNORM);
	cmd->t[0] = dst;
	cmd->t[1] = x;
	cmd->t[2] = weight;
	cmd->f[0] = eps;
}

/* bias: pass a tensor with ne[0] == 0 for none */
static inline void accel_cmd_prep_matmul(struct accel_cmd *cmd, struct accel_tensor dst,
					 struct accel_tensor x, struct accel_tensor w,
					 struct accel_tensor bias)
{
	accel_cmd_prep(cmd, ACCEL_OP_MATMUL);
	cmd->t[0] = dst;
	cmd->t[1] = x;
	cmd->t[2] = w;
	cmd->t[3] = bias;
}

/*
 * MATMUL and LOGITS with F32 weights compute as llama.cpp's mul_mat does, which
 * sums differently for one activation column (ggml_vec_dot_f32) and for
 * several (llamafile's tinyBLAS). By default the whole batch decides, as in
 * llama.cpp; with t4 (the sequence of each column) a column takes tinyBLAS's
 * order only when its sequence has several columns in the batch, so its
 * result never depends on the other sequences batched with it (t4 I32 [n, 2]:
 * the second row gives that count per column, as ATTN's t7 does, for a
 * scheduler that cuts a prompt in other pieces than the reference run); with
 * ACCEL_MATMUL_ROW_INVARIANT every column has the one-column arithmetic.
 * llama.cpp's choice also looks at the weight's row count: a command that
 * computes a slice of a larger matrix (a chunk of a streamed output head)
 * gives the whole matrix's row count in i1 (0: the weight's own).
 * Other weight types compute each column alike whatever the batch.
 */
#define ACCEL_MATMUL_ROW_INVARIANT	(1u << 0)	/* MATMUL/LOGITS i0 */
#define ACCEL_MATMUL_FLAGS_MASK		ACCEL_MATMUL_ROW_INVARIANT

/**
 * accel_cmd_matmul_rows - how a prepared MATMUL or LOGITS groups its columns
 * @cmd: the command
 * @seq: I32 [n]: the sequence of each activation column; ne[0] == 0 for none
 * @flags: 0 or ACCEL_MATMUL_ROW_INVARIANT
 * @mat_rows: rows of the whole matrix @cmd computes a slice of; 0: the weight's
 */
static inline void accel_cmd_matmul_rows(struct accel_cmd *cmd, struct accel_tensor seq,
					 uint32_t flags, int64_t mat_rows)
{
	cmd->t[4] = seq;
	cmd->i[0] = flags;
	cmd->i[1] = mat_rows;
}

static inline void accel_cmd_prep_logits(struct accel_cmd *cmd, struct accel_tensor dst,
					 struct accel_tensor x, struct accel_tensor w)
{
	accel_cmd_prep(cmd, ACCEL_OP_LOGITS);
	cmd->t[0] = dst;
	cmd->t[1] = x;
	cmd->t[2] = w;
}

/* freq_factors: ne[0] == 0 for none */
static inline void accel_cmd_prep_rope(struct accel_cmd *cmd, struct accel_tensor x,
				       struct accel_tensor pos, struct accel_tensor freq_factors,
				       int n_rot, int mode, float freq_base, float freq_scale)
{
	accel_cmd_prep(cmd, ACCEL_OP_ROPE);
	cmd->t[0] = x;
	cmd->t[1] = pos;
	cmd->t[2] = freq_factors;
	cmd->i[0] = n_rot;
	cmd->i[1] = mode;
	cmd->f[0] = freq_base;
	cmd->f[1] = freq_scale;
}

static inline void accel_cmd_prep_attn(struct accel_cmd *cmd, enum accel_op op,
				       struct accel_tensor out, struct accel_tensor q,
				       struct accel_tensor k, struct accel_tensor v,
				       struct accel_pool *cache, struct accel_tensor block_table,
				       struct accel_tensor pos, struct accel_tensor seq,
				       int layer, int n_layer, int block_tokens, uint32_t k_dtype,
				       uint32_t v_dtype, uint32_t flags, float scale)
{
	accel_cmd_prep(cmd, op);
	cmd->t[0] = out;
	cmd->t[1] = q;
	cmd->t[2] = k;
	cmd->t[3] = v;
	cmd->t[4].pool = cache;
	cmd->t[5] = block_table;
	cmd->t[6] = pos;
	cmd->t[7] = seq;
	cmd->i[0] = layer;
	cmd->i[1] = n_layer;
	cmd->i[2] = block_tokens;
	cmd->i[3] = k_dtype;
	cmd->i[4] = v_dtype;
	cmd->i[5] = flags;
	cmd->f[0] = scale;
}

static inline void accel_cmd_prep_swiglu(struct accel_cmd *cmd, struct accel_tensor dst,
					 struct accel_tensor gate, struct accel_tensor up)
{
	accel_cmd_prep(cmd, ACCEL_OP_SWIGLU);
	cmd->t[0] = dst;
	cmd->t[1] = gate;
	cmd->t[2] = up;
}

static inline void accel_cmd_prep_add(struct accel_cmd *cmd, struct accel_tensor dst,
				      struct accel_tensor a, struct accel_tensor b)
{
	accel_cmd_prep(cmd, ACCEL_OP_ADD);
	cmd->t[0] = dst;
	cmd->t[1] = a;
	cmd->t[2] = b;
}

static inline void accel_cmd_prep_moe_route(struct accel_cmd *cmd, struct accel_tensor weights,
					    struct accel_tensor ids, struct accel_tensor logits,
					    int k, int renorm)
{
	accel_cmd_prep(cmd, ACCEL_OP_MOE_ROUTE);
	cmd->t[0] = weights;
	cmd->t[1] = ids;
	cmd->t[2] = logits;
	cmd->i[0] = k;
	cmd->i[1] = renorm;
}

/* table: ne[0] == 0 for none (experts are the slices of the merged tensors) */
static inline void accel_cmd_prep_moe_ffn(struct accel_cmd *cmd, struct accel_tensor dst,
					  struct accel_tensor x, struct accel_tensor gate_exps,
					  struct accel_tensor up_exps, struct accel_tensor down_exps,
					  struct accel_tensor weights, struct accel_tensor ids,
					  struct accel_tensor table)
{
	accel_cmd_prep(cmd, ACCEL_OP_MOE_FFN);
	cmd->t[0] = dst;
	cmd->t[1] = x;
	cmd->t[2] = gate_exps;
	cmd->t[3] = up_exps;
	cmd->t[4] = down_exps;
	cmd->t[5] = weights;
	cmd->t[6] = ids;
	cmd->t[7] = table;
}

/* MOE_FFN of the experts that accel_cmd_moe_set_expert() adds, into the
 * per-slot rows of @slots (F32 [dim, k * n]) */
static inline void accel_cmd_prep_moe_ffn_slots(struct accel_cmd *cmd, struct accel_tensor slots,
						struct accel_tensor x,
						struct accel_tensor gate_exps,
						struct accel_tensor up_exps,
						struct accel_tensor down_exps,
						struct accel_tensor weights,
						struct accel_tensor ids, struct accel_tensor table)
{
	accel_cmd_prep_moe_ffn(cmd, slots, x, gate_exps, up_exps, down_exps, weights, ids, table);
	cmd->i[0] = ACCEL_MOE_SLOTS;
}

/**
 * accel_cmd_moe_rows - how a prepared MOE_FFN (whole or by parts) counts the
 * rows routed to each expert
 * @cmd: the command
 * @with_seq: true: t6 (I32 [k, n]) becomes I32 [k, n, 2], whose plane 1,
 *	right after the ids, holds each entry's sequence; false: the batch is
 *	one sequence
 * @flags: 0 or ACCEL_MOE_ROW_INVARIANT
 */
static inline void accel_cmd_moe_rows(struct accel_cmd *cmd, bool with_seq, uint32_t flags)
{
	cmd->t[6].ne[2] = with_seq ? 2 : 1;
	cmd->i[0] |= flags;
}

/* add expert @e (0 <= e < ACCEL_MOE_MAX_SET) to an ACCEL_MOE_SLOTS command's set */
static inline void accel_cmd_moe_set_expert(struct accel_cmd *cmd, int e)
{
	cmd->i[1 + e / 64] = (int64_t)((uint64_t)cmd->i[1 + e / 64] | (1ULL << (e % 64)));
}

static inline void accel_cmd_prep_moe_sum(struct accel_cmd *cmd, struct accel_tensor dst,
					  struct accel_tensor slots, struct accel_tensor weights)
{
	accel_cmd_prep(cmd, ACCEL_OP_MOE_SUM);
	cmd->t[0] = dst;
	cmd->t[1] = slots;
	cmd->t[2] = weights;
}

#endif /* ACCEL_CMD_H */
