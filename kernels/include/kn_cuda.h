/* SPDX-License-Identifier: MIT */
/*
 * kernels/cuda: the transformer ops on an NVIDIA GPU, one entry per op with
 * the shapes and arithmetic contract of its kernels/cpu twin (kn_ops.h), over
 * device pointers, queued on the context's CUDA stream (nothing here waits
 * unless it says so). Built only by `make cuda` into libkn_cuda.a; plain C so
 * libaccel's CUDA backend can include it without CUDA headers.
 *
 * Numerics: quantized MATMUL decodes quantize the activations on the GPU to
 * the CPU's bytes (kn_cuda_quant.cuh's quantizers, tested bit for bit on the
 * CPU, computed a warp per block on the GPU) and dot each block with the
 * header's block dot (the CPU's integers and scaling); only the float sums
 * across blocks run in another order. Prefill products go through FP16 (BF16 for BF16
 * weights) tiles and cuBLAS with FP32 accumulation, attention through FP16
 * tensor-core tiles: tolerance-checked against the CPU executor (tests/gpu).
 *
 * Errors: -EINVAL for arguments the CPU checks would refuse, -EOPNOTSUPP for
 * a type or shape the GPU lacks, -ENOMEM when the context's scratch is too
 * small, -EIO for a CUDA or cuBLAS failure. An index read on the device (a
 * token id, expert id or block id out of range) cannot be checked at launch:
 * the kernel skips it and raises the context's error flag, which
 * kn_cuda_ctx_sync() turns into -EINVAL.
 */
#ifndef KN_CUDA_H
#define KN_CUDA_H

#include "kn_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

struct kn_cuda_ctx;

/**
 * kn_cuda_ctx_create - a context over @stream (a cudaStream_t; NULL: the
 * default stream) with a cuBLAS handle and @scratch_bytes of device scratch
 * that the ops share (they run in stream order)
 */
int kn_cuda_ctx_create(struct kn_cuda_ctx **ctx, void *stream, size_t scratch_bytes);
void kn_cuda_ctx_destroy(struct kn_cuda_ctx *ctx);
/** kn_cuda_ctx_sync - wait for the stream; -EIO on a CUDA error, -EINVAL
 *  (once, then cleared) if a kernel met an index out of range */
int kn_cuda_ctx_sync(struct kn_cuda_ctx *ctx);
size_t kn_cuda_ctx_scratch_size(const struct kn_cuda_ctx *ctx);

/** kn_cuda_embed - rows @ids[0..n) of @w (@type: a MATMUL weight type; rows of
 *  @dim, @n_vocab rows) -> out F32, bit-identical to kn_embed */
int kn_cuda_embed(struct kn_cuda_ctx *ctx, float *out, const void *w, uint32_t type, int64_t dim,
		  int64_t n_vocab, const int32_t *ids, int64_t n);
/** kn_cuda_rmsnorm - as kn_rmsnorm (w may be NULL; out may alias x) */
int kn_cuda_rmsnorm(struct kn_cuda_ctx *ctx, float *out, const float *x, const float *w,
		    int64_t dim, int64_t rows, float eps);
/** kn_cuda_rope - as kn_rope (mode 0 NORM, 2 NEOX; llama3 freq factors) */
int kn_cuda_rope(struct kn_cuda_ctx *ctx, float *x, const int32_t *pos, int64_t n, int64_t n_head,
		 int64_t hd, int n_rot, int mode, float freq_base, float freq_scale,
		 const float *freq_factors);
/** kn_cuda_swiglu - out = silu(gate) * up, n elements */
int kn_cuda_swiglu(struct kn_cuda_ctx *ctx, float *out, const float *gate, const float *up,
		   int64_t n);
/** kn_cuda_add - out = a + b, n elements (out may alias a or b) */
int kn_cuda_add(struct kn_cuda_ctx *ctx, float *out, const float *a, const float *b, int64_t n);
/** kn_cuda_argmax - greedy ids: ids[c] = the index of the largest of row c of
 *  logits [n][n_vocab] (ties: the lower index; NaNs never win) */
int kn_cuda_argmax(struct kn_cuda_ctx *ctx, int32_t *ids, const float *logits, int64_t n_vocab,
		   int64_t n);

/** kn_cuda_quantize_act - @rows rows of @n_in F32 activations -> @type (Q8_0,
 *  Q8_1, Q8_K): the bytes kn_quantize_act_row writes (what MATMUL feeds its
 *  quantized dots; one quantization can serve several products of one input) */
int kn_cuda_quantize_act(struct kn_cuda_ctx *ctx, uint32_t type, const float *x, void *y,
			 int64_t n_in, int64_t rows);

/**
 * kn_cuda_matmul - out[c][r] = dot(W row r, x row c) (+ bias[r]); W
 * [n_rows][n_in] of @type (F32 F16 BF16 Q4_0 Q4_1 Q8_0 Q4_K Q5_K Q6_K), x F32
 * [n_cols][n_in]. Up to KN_CUDA_MMV_MAX_COLS columns: quantized GEMV
 * (activations quantized as the CPU does, integer block dots, 16-byte
 * coalesced weight loads); more: dequantized FP16/BF16 tiles and cuBLAS.
 */
#define KN_CUDA_MMV_MAX_COLS	8
size_t kn_cuda_matmul_scratch(uint32_t type, int64_t n_in, int64_t n_rows, int64_t n_cols);
int kn_cuda_matmul(struct kn_cuda_ctx *ctx, float *out, const void *w, uint32_t type,
		   const float *x, const float *bias, int64_t n_in, int64_t n_rows,
		   int64_t n_cols);
/**
 * kn_cuda_matmul_rowinv - kn_cuda_matmul with every column computed as a
 * one-column product computes it (ACCEL_MATMUL_ROW_INVARIANT: a row's
 * result never depends on what it was batched with, the serving scheduler's
 * batch invariance): the GEMV, KN_CUDA_MMV_MAX_COLS columns per launch,
 * whose columns are independent sums; never the FP16 tiles.
 */
int kn_cuda_matmul_rowinv(struct kn_cuda_ctx *ctx, float *out, const void *w, uint32_t type,
			  const float *x, const float *bias, int64_t n_in, int64_t n_rows,
			  int64_t n_cols);

/**
 * kn_cuda_attn - ACCEL_OP_ATTN_PREFILL (@prefill) or ATTN_DECODE over the
 * paged cache (layout in accel_cmd.h): store this step's K/V in their
 * blocks, then causal attention. @a as for kn_attn with device pointers
 * (a->work unused); @n_seq: rows of the block table; @cache_blocks: blocks
 * in the cache (a sequence, position or block id out of range raises the
 * error flag and leaves that token's output zero). Prefill with hd 64 or 128
 * and 16-byte aligned cache rows: FlashAttention-2 tiles on tensor cores;
 * otherwise (and decode) paged attention split over the sequence. hd <= 256.
 */
size_t kn_cuda_attn_scratch(const struct kn_attn_args *a, bool prefill);
int kn_cuda_attn(struct kn_cuda_ctx *ctx, const struct kn_attn_args *a, int64_t n_seq,
		 int64_t cache_blocks, bool prefill);

/** kn_cuda_moe_route - as kn_moe_route (n_exp <= 256) */
int kn_cuda_moe_route(struct kn_cuda_ctx *ctx, float *weights, int32_t *ids, const float *logits,
		      int64_t n, int64_t n_exp, int k, bool renorm);

/**
 * struct kn_cuda_moe_args - ACCEL_OP_MOE_FFN on device pointers: experts in
 * merged tensors (@tab NULL: expert e at @gate + e * its bytes) or anywhere
 * in @base at the byte offsets @tab [n_exp][3] (gate, up, down). Up to
 * KN_CUDA_MMV_MAX_COLS tokens: the grouped quantized GEMV (the CPU's
 * activation quantization); more: a grouped GEMM on FP16 tensor cores.
 */
struct kn_cuda_moe_args {
	float *out;			/* [n][dim] */
	const float *x;			/* [n][dim] */
	const void *gate, *up, *down;	/* [n_exp][ff][dim], [n_exp][ff][dim], [n_exp][dim][ff] */
	uint32_t gate_type, up_type, down_type;
	const int64_t *tab;		/* optional [n_exp][3] byte offsets into base */
	const void *base;
	const float *weights;		/* [n][k] */
	const int32_t *ids;		/* [n][k] */
	int64_t n, dim, ff, n_exp;
	int k;
};
size_t kn_cuda_moe_ffn_scratch(const struct kn_cuda_moe_args *m);
int kn_cuda_moe_ffn(struct kn_cuda_ctx *ctx, const struct kn_cuda_moe_args *m);

#ifdef __cplusplus
}
#endif

#endif /* KN_CUDA_H */
