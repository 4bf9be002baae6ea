// SPDX-License-Identifier: MIT
/*
 * One expert of a MoE FFN matmul in llama.cpp's MUL_MAT_ID order: the
 * columns (routed (token, slot) rows) gathered per expert, each output the
 * sum its build computes for that expert's routed count. Pure arithmetic:
 * the caller groups the columns and owns the buffers; the gathered copy of
 * the expert's activations is this file's, and the math is kn_matmul_range's
 * (its GEMMs and multi-column kernels, the same sums as one output a call).
 *
 * What llama.cpp b11312 does for MUL_MAT_ID on x86 (ggml-cpu.c
 * ggml_compute_forward_mul_mat_id; tiled/tiled.cpp
 * ggml_compute_forward_mul_mat_id_tiled; repack.cpp forward_mul_mat_id):
 * - Q4_K experts of rows a multiple of 8 are repacked at load to q4_K_8x8
 *   (AVX2, both builds: the 3-D tensor goes to CPU_REPACK because
 *   supports_op takes MUL_MAT_ID), and forward_mul_mat_id runs the gemv for
 *   every routed column, whatever the count: kn_vec_dot_mat's order;
 * - Q6_K, Q5_K and the other Q4_K go through ggml_compute_forward_mul_mat_id,
 *   which per expert asks tiled/ first: it takes the expert when its routed
 *   row count cne1 (over the whole batch, every token and slot) is >= 8
 *   (ggml_tiled_min_batch), and computes every output of it in the tiled
 *   order (kn_tiled.c: one fma per super-block from 0, whatever the 64-row
 *   groups, 256-row k windows or narrow path); experts with fewer rows take
 *   vec_dot per output (mul_mat_id_one_chunk);
 * - its generic build has neither: vec_dot everywhere;
 * - other types: vec_dot per output (no tinyBLAS in MUL_MAT_ID), Q4_0 of 8k
 *   rows repacked (the gemv's order, kn_vec_dot_mat's).
 * llama.cpp's batch is one sequence's; a batch of several (the columns'
 * sequences given) counts each sequence's columns of the expert, so that a
 * column gets what a batch of its sequence alone gives it: the expert's
 * tiled columns and the others make two calls, each W row read by both.
 */
#include <stdlib.h>
#include <string.h>
#include "kn_internal.h"
#include "kn_ops.h"

/*
 * the expert's columns gathered (their activation rows copied together) and
 * handed to kn_matmul_range as a batch of their own, rows [r0, r1) of W a
 * matrix of mat_rows n_out: @tiled its tiled order (the GEMMs), else
 * row-invariant, every output kn_vec_dot_mat's (the multi-row and -column
 * kernels of the same sums, the repacked Q4_K and Q4_0 gemv's); the outputs
 * scattered back to their columns. The tiled order sums each output alike
 * whichever columns share its tile, so a subset of the columns gets what it
 * gets in the whole set. False, nothing done, without memory.
 */
static bool kn_matmul_id_batch(uint32_t type, int64_t n_in, int64_t n_out, const uint8_t *w,
			       size_t wrs, const uint8_t *a, size_t ars, int64_t a_div,
			       const int32_t *cols, int64_t n_cols, bool tiled, float *out,
			       int64_t r0, int64_t r1)
{
	const int64_t nr = r1 - r0;
	uint8_t *ag;
	float *o;

	if (n_cols <= 0)
		return true;
	ag = malloc((size_t)n_cols * ars);
	o = malloc((size_t)n_cols * nr * sizeof(float));
	if (ag && o) {
		for (int64_t i = 0; i < n_cols; i++)
			memcpy(ag + i * ars, a + (cols[i] / a_div) * ars, ars);
		kn_matmul_range(o, w + r0 * wrs, type, ag, NULL, n_in, nr, n_cols, NULL, NULL, !tiled,
				n_out, 0, nr);
		for (int64_t i = 0; i < n_cols; i++)
			memcpy(out + cols[i] * n_out + r0, o + i * nr, (size_t)nr * sizeof(float));
	}
	free(ag);
	free(o);
	return ag && o;
}

void kn_matmul_id_range(float *out, const void *w, uint32_t type, int64_t n_in, int64_t n_out,
			const void *a, int64_t a_div, const int32_t *cols, int64_t n_cols,
			const int32_t *seq, bool row_invariant, int64_t r0, int64_t r1)
{
	const size_t wrs = kn_row_size(type, n_in);
	const size_t ars = kn_row_size(kn_vec_dot_type(type), n_in);
	/* a routed count of 8 decides, as ggml_compute_forward_mul_mat_id_tiled:
	 * the expert's (without @seq) or each column's sequence's */
	const kn_dot_fn tiled = !row_invariant && n_cols >= KN_TILED_MIN_COLS &&
					kn_mat_tiled(type, n_out)
				? kn_tiled_dot_get(kn_isa_get(), type) : NULL;
	const uint8_t *wb = w, *ab = a;
	int32_t *part = NULL;
	int64_t n_t = tiled ? n_cols : 0;

	if (r0 >= r1 || n_cols <= 0)
		return;
	if (tiled && seq && (part = malloc((size_t)n_cols * sizeof(*part)))) {
		/* the tiled columns first, then the others: two calls, W read by
		 * each, however many sequences */
		int64_t n_v = 0;

		n_t = 0;
		for (int64_t i = 0; i < n_cols; i++) {
			/* its sequence's count, as in a batch of that sequence alone */
			if (kn_seq_tiled(seq, cols, n_cols, i))
				part[n_t++] = cols[i];
			else
				part[n_cols - ++n_v] = cols[i];
		}
	}
	if ((!tiled || !seq || part) &&
	    kn_matmul_id_batch(type, n_in, n_out, wb, wrs, ab, ars, a_div, part ? part : cols, n_t,
			       true, out, r0, r1) &&
	    kn_matmul_id_batch(type, n_in, n_out, wb, wrs, ab, ars, a_div,
			       (part ? part : cols) + n_t, n_cols - n_t, false, out, r0, r1)) {
		free(part);
		return;
	}
	free(part);
	/* no memory for the batch: one column at a time, the same sums */
	for (int64_t i = 0; i < n_cols; i++) {
		const int64_t col = cols[i];
		const uint8_t *ac = ab + (col / a_div) * ars;
		const bool t = tiled && (!seq || kn_seq_tiled(seq, cols, n_cols, i));

		for (int64_t r = r0; r < r1; r++)
			out[col * n_out + r] = t ? tiled(n_in, wb + r * wrs, ac)
						 : kn_vec_dot_mat(type, n_in, wb + r * wrs, ac, n_out);
	}
}
