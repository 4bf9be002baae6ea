/* SPDX-License-Identifier: MIT */
/*
 * kernels: the transformer ops the COMPUTE engine executes. Each op works on a
 * slice of its output given by (ith, nth) so the engine's thread pool can
 * split it, like ggml's compute params; all threads of one op see the same
 * arguments. Inputs are contiguous, shapes in ggml order (ne0 innermost).
 */
#ifndef KN_OPS_H
#define KN_OPS_H

#include "kn.h"

#ifdef __cplusplus
extern "C" {
#endif

/** kn_embed - rows @ids[0..n) of @w (@type, rows of @dim) -> out F32 [n][dim] */
void kn_embed(float *out, const void *w, uint32_t type, int64_t dim, const int32_t *ids,
	      int64_t n, int ith, int nth);
/** kn_rmsnorm - out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, for rows r; out may alias x */
void kn_rmsnorm(float *out, const float *x, const float *w, int64_t dim, int64_t rows,
		float eps, int ith, int nth);
/**
 * kn_matmul - out[c][r] = dot(W row r, a column c) (+ bias[r]) for every r in
 * the thread's share of rows; @a holds n_cols rows already quantized to
 * kn_vec_dot_type(type) (kn_row_size bytes each) with kn_quantize_act_row,
 * as llama.cpp quantizes activations. W is [n_rows][n_in]. Every output is
 * bit-identical to kn_vec_dot_mat of its row and column, whatever n_cols/nth,
 * except F32 weights with two or more columns: those take llamafile tinyBLAS's
 * order where llama.cpp's mul_mat does (n_rows a multiple of 4, n_in of the
 * ISA's register width: 16 floats on AVX-512, 8 on AVX2; never on scalar),
 * Q4_K matrices llama.cpp repacks (kn_vec_dot_mat's): the first
 * n_cols - n_cols % 4 columns take its 4-column gemm's order; and Q6_K, Q5_K,
 * Q4_K of rows not a multiple of 8 with 8 or more columns on AVX2/AVX-512:
 * llama.cpp's tiled order (kn_tiled.c), as its x86 builds.
 */
void kn_matmul(float *out, const void *w, uint32_t type, const void *a, const float *bias,
	       int64_t n_in, int64_t n_rows, int64_t n_cols, int ith, int nth);
/**
 * kn_matmul_seq - kn_matmul where @seq (NULL: the whole batch is one) gives
 * each column's sequence: an F32 column takes tinyBLAS's order only when its
 * sequence has several columns, so no column depends on other sequences;
 * @chunk (NULL: counted in this batch) gives per column how many columns of
 * its sequence the reference run's batch held (a scheduler's other cut of a
 * prompt then computes as the reference did: rt_batch.chunk);
 * @row_invariant: every column as kn_vec_dot (a batch of one); @mat_rows: the
 * row count of the whole matrix W is a slice of (llama.cpp's rule reads it).
 * A repacked Q4_K matrix's column takes the gemm's order when its rank among
 * its sequence's columns in this batch is below cnt - cnt % 4, cnt the
 * sequence's count here or @chunk's (the rank is not known in the reference
 * batch: exact when this batch starts where the reference one did).
 */
void kn_matmul_seq(float *out, const void *w, uint32_t type, const void *a, const float *bias,
		   int64_t n_in, int64_t n_rows, int64_t n_cols, const int32_t *seq,
		   const int32_t *chunk, bool row_invariant, int64_t mat_rows, int ith, int nth);
/**
 * kn_matmul_range - kn_matmul_seq's rows [r0, r1) of n_rows, for callers that
 * hand rows to threads themselves (libaccel's CPU executor takes chunks of
 * them from a shared counter, so a slow or preempted thread delays nothing);
 * each output is the same whatever the split.
 */
void kn_matmul_range(float *out, const void *w, uint32_t type, const void *a, const float *bias,
		     int64_t n_in, int64_t n_rows, int64_t n_cols, const int32_t *seq,
		     const int32_t *chunk, bool row_invariant, int64_t mat_rows, int64_t r0,
		     int64_t r1);
/**
 * kn_matmul_id_range - one expert's rows [r0, r1) of a MoE matmul, as
 * llama.cpp's MUL_MAT_ID computes them (kn_matmul_id.c): W is the expert's
 * [n_out][n_in] matrix of @type; @cols its n_cols routed columns;
 * out[col * n_out + r] = dot(W row r, activation row col / a_div of @a,
 * kn_vec_dot_type rows). A column of 8 or more of the expert's columns
 * (over the whole batch, or with @seq over those of its sequence: seq[col]
 * for column col, NULL for one sequence) of a matrix llama.cpp's x86 builds
 * take to tiled/ (Q6_K, Q5_K, Q4_K of rows not a multiple of 8) sums in the
 * tiled order, anything else as kn_vec_dot_mat (with mat_rows n_out:
 * repacked Q4_K in its gemv's order); @row_invariant: every column as a
 * batch of one.
 */
void kn_matmul_id_range(float *out, const void *w, uint32_t type, int64_t n_in, int64_t n_out,
			const void *a, int64_t a_div, const int32_t *cols, int64_t n_cols,
			const int32_t *seq, bool row_invariant, int64_t r0, int64_t r1);
/**
 * kn_rope - rotate x [n][n_head][hd] in place at positions pos[n]; the first
 * n_rot dims of each head; mode 0: pairs (2i, 2i+1) (llama.cpp NORM), mode 2:
 * pairs (i, i + n_rot/2) (NEOX). theta_i = pos * freq_scale * base^(-2i/n_rot)
 * / (freq_factors ? freq_factors[i] : 1).
 */
void kn_rope(float *x, const int32_t *pos, int64_t n, int64_t n_head, int64_t hd, int n_rot,
	     int mode, float freq_base, float freq_scale, const float *freq_factors,
	     int ith, int nth);
/** kn_swiglu - out = silu(gate) * up, n elements in rows of @row (0: one
 *  row); silu(x) = x / (1 + exp(-x)) with exp as llama.cpp's build for the
 *  current ISA computes it (kn_isa_get(): AVX-512, AVX2 or generic) */
void kn_swiglu(float *out, const float *gate, const float *up, int64_t n, int64_t row, int ith,
	       int nth);
/** kn_add - out = a + b, n elements */
void kn_add(float *out, const float *a, const float *b, int64_t n, int ith, int nth);
/** kn_moe_route - softmax over each row of logits [n][n_exp <= 256], top-k
 *  (ties to the lower index), weights optionally renormalised to sum 1 */
void kn_moe_route(float *weights, int32_t *ids, const float *logits, int64_t n, int64_t n_exp,
		  int k, bool renorm);

/**
 * struct kn_attn_args - paged attention (see ACCEL_OP_ATTN_* in accel_cmd.h
 * for the cache layout)
 */
struct kn_attn_args {
	float *out;			/* [n][n_head * hd] */
	const float *q;			/* [n][n_head][hd] */
	const float *k, *v;		/* [n][n_kv_head][hd]: written into the cache */
	uint8_t *cache;			/* byte 0 of the KV pool */
	uint64_t block_size;		/* bytes per block */
	const int32_t *block_table;	/* [n_seq][max_blocks] */
	int64_t max_blocks;
	const int32_t *pos;		/* [n] */
	const int32_t *seq;		/* [n] */
	int64_t n, n_head, n_kv_head, hd;
	int layer, n_layer, block_tokens;
	uint32_t k_type, v_type;	/* KN_F32, KN_F16 or KN_Q8_0 (hd a multiple of 32);
					 * a quantized V needs @flash */
	bool flash;			/* llama.cpp's flash attention (with work) */
	float scale;
	/*
	 * work: NULL for the online softmax; else per-thread scratch of
	 * kn_attn_work_floats() floats (thread ith uses work + ith * that),
	 * which selects llama.cpp's exact arithmetic: a two-pass softmax over
	 * one row of scores with ggml's vectorised exp, and its AVX-512 dot
	 * product lane orders (bit-identical outputs with an F32 cache).
	 * With @flash: ggml_compute_forward_flash_attn_ext_f16's one-row
	 * arithmetic instead (an online softmax with libm expf, q in the K
	 * cache's dot type, V accumulated in F16 for an F16 V cache; F32
	 * caches read as F16, as llama.cpp casts them).
	 */
	float *work;
	/* exact mode: every query row with the p.v lanes of a batch of one
	 * (llama.cpp's arithmetic for n == 1), whatever n is */
	bool row_invariant;
	/*
	 * [n] or NULL: per query, how many tokens of its sequence the batch
	 * whose arithmetic it takes holds (llama.cpp's choices depend on it:
	 * 1 a decode step, 2.. a prompt chunk, >= 64 the tiled flash kernel);
	 * NULL: as many as this batch holds. A scheduler that cuts a prompt
	 * in other pieces than the reference run gives each row the count of
	 * the reference's chunk, so the bits do not depend on the cut.
	 * Ignored under @row_invariant.
	 */
	const int32_t *chunk;
	/*
	 * llama.cpp's thread count for its split-KV decode (0: never): with
	 * @flash and @work, a query whose count is 1 (kn_attn_count), K and V
	 * each F16 or F32, at a position whose KV view (kn_attn_split_nkv) is
	 * >= 512 cells sums chunks of ceil(n_kv / split) cells apart and
	 * combines them in order (ggml_flash_attn_ext_reduce_partials)
	 */
	int split;
};
/** kn_attn_work_floats - per-thread floats kn_attn needs in exact mode */
size_t kn_attn_work_floats(const struct kn_attn_args *a);
/** kn_attn_store_kv - write k and v of all n tokens into their cache slots */
void kn_attn_store_kv(const struct kn_attn_args *a, int ith, int nth);
/** kn_attn - fused causal attention over the cache (online softmax, or
 *  llama.cpp-exact with a->work); query token t sees positions 0..pos[t] of
 *  its sequence. Call after store_kv. */
void kn_attn(const struct kn_attn_args *a, int ith, int nth);

#ifdef __cplusplus
}
#endif

#endif /* KN_OPS_H */
