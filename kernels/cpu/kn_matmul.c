// SPDX-License-Identifier: MIT
/*
 * Quantized matmul: out[c][r] = dot(W row r, activation column c) (+ bias).
 * The thread owns a contiguous share of W's rows; columns are walked in
 * tiles inside each row so a W row is fetched from memory once per tile of
 * columns while the tile's activations stay in cache.
 */
#include "kn_internal.h"
#include "kn_ops.h"

#define KN_MM_COL_TILE	64	/* activation rows kept hot per pass */
#define KN_MM_GEMM_COLS	8	/* columns from which a Q4_0/Q8_0 batch takes a GEMM */

/*
 * F32 weights follow llama.cpp's ggml_compute_forward_mul_mat: two or more
 * columns go to llamafile_sgemm, which takes them where the row count is a
 * multiple of 4 and the row length of its register width (16 floats on
 * AVX-512, 8 on AVX2); everything else, decode included, is ggml_vec_dot_f32
 * per output (the ISA's dot). The generic build has no sgemm.
 */
static kn_sgemm_fn kn_sgemm_get(uint32_t type, int64_t n_in, int64_t n_rows)
{
	const enum kn_isa isa = kn_isa_get();
	kn_sgemm_fn fn = NULL;
	int64_t w = 0;

	if (type != KN_F32 || n_rows % 4)
		return NULL;
	if (isa == KN_ISA_AVX512) {
		fn = kn_avx512_sgemm_get();
		w = 16;
	} else if (isa == KN_ISA_AVX2) {
		fn = kn_avx2_sgemm_get();
		w = 8;
	}
	return fn && n_in % w == 0 ? fn : NULL;
}

/* whether column c's sequence has another column in the batch (or had, in
 * the reference run's: @chunk) */
static bool kn_col_shared(const int32_t *seq, const int32_t *chunk, int64_t n_cols, int64_t c)
{
	if (chunk)
		return chunk[c] >= 2;
	if (!seq)
		return n_cols > 1;
	/* a prompt's columns are usually neighbours: look there first */
	if ((c > 0 && seq[c - 1] == seq[c]) || (c + 1 < n_cols && seq[c + 1] == seq[c]))
		return true;
	for (int64_t i = 0; i < n_cols; i++)
		if (i != c && seq[i] == seq[c])
			return true;
	return false;
}

/* F32: each column in tinyBLAS's order (its sequence has several) or vec_dot's, rows [r0, r1) */
static void kn_matmul_f32(kn_sgemm_fn sgemm, kn_dot_fn dot, const int32_t *seq,
			  const int32_t *chunk, float *out,
			  const float *w, const float *a, const float *bias, int64_t n_in,
			  int64_t n_rows, int64_t n_cols, int64_t r0, int64_t r1)
{
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_MM_COL_TILE) {
		const int64_t c1 = c0 + KN_MM_COL_TILE < n_cols ? c0 + KN_MM_COL_TILE : n_cols;
		bool tb[KN_MM_COL_TILE];

		for (int64_t c = c0; c < c1; c++)
			tb[c - c0] = kn_col_shared(seq, chunk, n_cols, c);
		for (int64_t r = r0; r < r1; r++) {
			const float *wr = w + r * n_in, b = bias ? bias[r] : 0.0f;

			for (int64_t c = c0; c < c1;) {
				float o[4];
				int nc = 0;

				if (!tb[c - c0]) {
					out[c * n_rows + r] = dot(n_in, wr, a + c * n_in) + b;
					c++;
					continue;
				}
				while (nc < 4 && c + nc < c1 && tb[c + nc - c0])
					nc++;
				sgemm(n_in, wr, a + c * n_in, (size_t)n_in, nc, o);
				for (int k = 0; k < nc; k++)
					out[(c + k) * n_rows + r] = o[k] + b;
				c += nc;
			}
		}
	}
}

/*
 * Q4_K matrices llama.cpp repacks (kn_mat_q4_K_x8): its forward_mul_mat gives
 * a batch's columns to the 4-column gemm in groups of 4 and the last n % 4 to
 * the gemv, which sum in different orders; @gemm[c - c0] says which column c
 * of [c0, c1) takes. One column (decode) and @row_invariant take the gemv; with
 * @seq the count is per sequence (as for F32, no column depends on the other
 * sequences of the batch), with @chunk the reference batch's count.
 */
static void kn_q4_K_gemm_cols(uint8_t *gemm, const int32_t *seq, const int32_t *chunk,
			      bool row_invariant, bool one_seq, int64_t n_cols, int64_t c0,
			      int64_t c1)
{
	for (int64_t c = c0; c < c1; c++) {
		int64_t cnt = n_cols, rank = c;

		if (!one_seq) {
			cnt = rank = 0;
			for (int64_t i = 0; i < n_cols; i++) {
				cnt += seq[i] == seq[c];
				rank += i < c && seq[i] == seq[c];
			}
		}
		if (chunk)
			cnt = chunk[c];
		gemm[c - c0] = !row_invariant && rank < cnt - cnt % 4;
	}
}

static void kn_matmul_q4_K_x8(float *out, const void *w, size_t wrs, const void *a, size_t ars,
			      const float *bias, int64_t n_in, int64_t n_rows, int64_t n_cols,
			      const int32_t *seq, const int32_t *chunk, bool row_invariant,
			      int64_t r0, int64_t r1)
{
	uint8_t gemm[256];
	bool one_seq = true;

	for (int64_t c = 1; seq && c < n_cols && one_seq; c++)
		one_seq = seq[c] == seq[0];
	for (int64_t c0 = 0; c0 < n_cols; c0 += (int64_t)sizeof(gemm)) {
		const int64_t c1 = c0 + (int64_t)sizeof(gemm) < n_cols ? c0 + (int64_t)sizeof(gemm)
								       : n_cols;

		int64_t r = r0;

		kn_q4_K_gemm_cols(gemm, seq, chunk, row_invariant, one_seq, n_cols, c0, c1);
		/* under a panel's columns (decode, small batches, a MoE expert's few
		 * routed rows): the gemv for each column in its order (1.6-2.7x the
		 * pair tile's speed a column at 2-6 columns), the tile for the runs
		 * in the gemm's */
		if (c1 - c0 < KN_MM_GEMM_COLS) {
			for (int64_t c = c0, e; c < c1; c = e) {
				for (e = c + 1; e < c1 && gemm[e - c0] == gemm[c - c0];)
					e++;
				for (int64_t k = c; !gemm[c - c0] && k < e; k++)
					(kn_isa_get() == KN_ISA_AVX512 ? kn_avx512_gemv_q4_K_x8
								       : kn_avx2_gemv_q4_K_x8)(
						n_in, w, wrs, (const uint8_t *)a + k * ars, bias,
						out + k * n_rows, r0, r1);
				if (gemm[c - c0])
					kn_avx2_gemm_q4_K_x8(n_in, w, wrs, (const uint8_t *)a + c * ars,
							     ars, e - c, gemm + (c - c0), bias,
							     out + c * n_rows, n_rows, r0, r1);
			}
			continue;
		}
		/* a batch: register-blocked panels of 8 (16) rows, the same sums */
		if (c1 - c0 >= KN_MM_GEMM_COLS)
			r += (kn_isa_get() == KN_ISA_AVX512 ? kn_avx512_gemm_q4_K_x8
							    : kn_avx2_gemm_q4_K_x8p)(
				n_in, w, wrs, (const uint8_t *)a + c0 * ars, ars, c1 - c0, gemm, bias,
				out + c0 * n_rows, n_rows, r, r1);
		kn_avx2_gemm_q4_K_x8(n_in, w, wrs, (const uint8_t *)a + c0 * ars, ars, c1 - c0, gemm,
				     bias, out + c0 * n_rows, n_rows, r, r1);
	}
}

/*
 * whether column c's batch is one llama.cpp takes to tiled/ (>= 8 columns):
 * the reference run's chunk, else its sequence's columns in this batch (no
 * column depends on other sequences), else the whole batch
 */
static bool kn_col_tiled(const int32_t *seq, const int32_t *chunk, int64_t n_cols, int64_t c)
{
	if (chunk)
		return chunk[c] >= KN_TILED_MIN_COLS;
	if (!seq)
		return n_cols >= KN_TILED_MIN_COLS;
	return kn_seq_tiled(seq, NULL, n_cols, c);
}

/* columns of a batch that llama.cpp computes in tiled/'s order (kn_tiled.c), rows [r0, r1) */
static void kn_matmul_tiled(uint32_t type, int64_t n_in, const void *w, size_t wrs,
			    const uint8_t *a, size_t ars, int64_t n_cols, const float *bias,
			    float *out, int64_t n_rows, int64_t r0, int64_t r1)
{
	const kn_dot_fn dot = kn_tiled_dot_get(kn_isa_get(), type);
	const uint8_t *wb = w;

	if (type == KN_Q6_K)
		r0 += (kn_isa_get() == KN_ISA_AVX512 ? kn_avx512_gemm_q6_K_tiled
						      : kn_avx2_gemm_q6_K_tiled)(
			n_in, w, wrs, a, ars, n_cols, bias, out, n_rows, r0, r1);
	if (type == KN_Q5_K)
		r0 += (kn_isa_get() == KN_ISA_AVX512 ? kn_avx512_gemm_q5_K_tiled
						      : kn_avx2_gemm_q5_K_tiled)(
			n_in, w, wrs, a, ars, n_cols, bias, out, n_rows, r0, r1);
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_MM_COL_TILE) {
		const int64_t c1 = c0 + KN_MM_COL_TILE < n_cols ? c0 + KN_MM_COL_TILE : n_cols;

		for (int64_t r = r0; r < r1; r++) {
			const float b = bias ? bias[r] : 0.0f;

			for (int64_t c = c0; c < c1; c++)
				out[c * n_rows + r] = dot(n_in, wb + r * wrs, a + c * ars) + b;
		}
	}
}

void kn_matmul(float *out, const void *w, uint32_t type, const void *a, const float *bias,
	       int64_t n_in, int64_t n_rows, int64_t n_cols, int ith, int nth)
{
	kn_matmul_seq(out, w, type, a, bias, n_in, n_rows, n_cols, NULL, NULL, false, n_rows, ith,
		      nth);
}

void kn_matmul_seq(float *out, const void *w, uint32_t type, const void *a, const float *bias,
		   int64_t n_in, int64_t n_rows, int64_t n_cols, const int32_t *seq,
		   const int32_t *chunk, bool row_invariant, int64_t mat_rows, int ith, int nth)
{
	int64_t r0, r1;

	kn_split(n_rows, ith, nth, &r0, &r1);
	kn_matmul_range(out, w, type, a, bias, n_in, n_rows, n_cols, seq, chunk, row_invariant,
			mat_rows, r0, r1);
}

void kn_matmul_range(float *out, const void *w, uint32_t type, const void *a, const float *bias,
		     int64_t n_in, int64_t n_rows, int64_t n_cols, const int32_t *seq,
		     const int32_t *chunk, bool row_invariant, int64_t mat_rows, int64_t r0,
		     int64_t r1)
{
	kn_dot_fn dot = kn_dot_fn_get(kn_isa_get(), type);
	kn_dot4_fn dot4 = kn_dot4_fn_get(kn_isa_get(), type);
	kn_rows4_fn rows4 = kn_rows4_fn_get(kn_isa_get(), type);
	kn_dot4_fn dot8 = kn_dot8_fn_get(kn_isa_get(), type);
	/* one column: vec_dot, unless the reference run's batch held more of it */
	kn_sgemm_fn sgemm = row_invariant || (n_cols < 2 && !chunk) ? NULL
				: kn_sgemm_get(type, n_in, mat_rows);
	const size_t wrs = kn_row_size(type, n_in);
	const size_t ars = kn_row_size(kn_vec_dot_type(type), n_in);
	const uint8_t *wb = w, *ab = a;

	if (!dot || !wrs || !ars || r0 >= r1)
		return;
	if (sgemm) {
		kn_matmul_f32(sgemm, dot, seq, chunk, out, w, a, bias, n_in, n_rows, n_cols, r0, r1);
		return;
	}
	if (kn_mat_q4_K_x8(type, mat_rows)) {	/* a matrix llama.cpp repacks to q4_K_8x8 */
		if (n_in % KN_QK_K == 0)
			kn_matmul_q4_K_x8(out, w, wrs, a, ars, bias, n_in, n_rows, n_cols, seq, chunk,
					  row_invariant, r0, r1);
		return;
	}
	/* K-quant columns of batches of >= 8: tiled/'s order; the others as vec_dot */
	if (!row_invariant && (n_cols >= KN_TILED_MIN_COLS || chunk) && kn_mat_tiled(type, mat_rows)) {
		for (int64_t c = 0, e; c < n_cols; c = e) {
			const bool t = kn_col_tiled(seq, chunk, n_cols, c);

			for (e = c + 1; e < n_cols && kn_col_tiled(seq, chunk, n_cols, e) == t;)
				e++;
			if (t)
				kn_matmul_tiled(type, n_in, w, wrs, ab + c * ars, ars, e - c, bias,
						out + c * n_rows, n_rows, r0, r1);
			else
				kn_matmul_range(out + c * n_rows, w, type, ab + c * ars, bias, n_in,
						n_rows, e - c, NULL, NULL, true, mat_rows, r0, r1);
		}
		return;
	}
	if (type == KN_F32)	/* ggml_vec_dot_f32 per output: no multi-row/column forms */
		rows4 = NULL, dot4 = dot8 = NULL;
	if (kn_mat_q4_0_x8(type, mat_rows)) {	/* a matrix llama.cpp repacks */
		const struct kn_type_fns *x8 = kn_avx2_q4_0_x8_fns();

		dot = x8->dot, dot4 = x8->dot4, rows4 = x8->rows4, dot8 = x8->dot8;
		if (kn_isa_get() == KN_ISA_AVX512)
			rows4 = kn_avx512_rows4_q4_0_x8;
		/* decode: 8-row tiles, one fma a block for all 8; rows4 and dot do the rest */
		if (n_cols == 1 && kn_isa_simd()) {
			r0 += (kn_isa_get() == KN_ISA_AVX512 ? kn_avx512_gemv_q4_0_x8
							     : kn_avx2_gemv_q4_0_x8)(
				n_in, w, wrs, a, bias, out, r0, r1);
			if (r0 >= r1)
				return;
		}
		/* a batch: register-blocked panels of the matrix, the same sums */
		if (n_cols >= KN_MM_GEMM_COLS && kn_isa_simd()) {
			r0 += (kn_isa_get() == KN_ISA_AVX512 ? kn_avx512_gemm_q4_0_x8
							     : kn_avx2_gemm_q4_0_x8)(
				n_in, w, wrs, a, ars, n_cols, bias, out, n_rows, r0, r1);
			if (r0 >= r1)
				return;
		}
	}
	/* Q8_0 decode: 8-row tiles sharing the activation block; rows4 and dot do the rest */
	if (type == KN_Q8_0 && n_cols == 1 && kn_isa_simd()) {
		r0 += (kn_isa_get() == KN_ISA_AVX512 ? kn_avx512_gemv_q8_0 : kn_avx2_gemv_q8_0)(
			n_in, w, wrs, a, bias, out, r0, r1);
		if (r0 >= r1)
			return;
	}
	/* a Q8_0 (AVX-512: Q4_K, Q6_K; AVX2: Q6_K) batch: register-blocked rows and columns, each output as vec_dot */
	if (type == KN_Q8_0 && n_cols >= KN_MM_GEMM_COLS && kn_isa_simd()) {
		r0 += (kn_isa_get() == KN_ISA_AVX512 ? kn_avx512_gemm_q8_0 : kn_avx2_gemm_q8_0)(
			n_in, w, wrs, a, ars, n_cols, bias, out, n_rows, r0, r1);
		if (r0 >= r1)
			return;
	}
	/* a Q4_1 batch: the same */
	if (type == KN_Q4_1 && n_cols >= KN_MM_GEMM_COLS && kn_isa_simd()) {
		r0 += (kn_isa_get() == KN_ISA_AVX512 ? kn_avx512_gemm_q4_1 : kn_avx2_gemm_q4_1)(
			n_in, w, wrs, a, ars, n_cols, bias, out, n_rows, r0, r1);
		if (r0 >= r1)
			return;
	}
	if ((type == KN_Q4_K || type == KN_Q6_K) && n_cols >= KN_MM_GEMM_COLS && kn_isa_simd() &&
	    kn_isa_get() == KN_ISA_AVX512) {
		r0 += (type == KN_Q4_K ? kn_avx512_gemm_q4_K : kn_avx512_gemm_q6_K)(
			n_in, w, wrs, a, ars, n_cols, bias, out, n_rows, r0, r1);
		if (r0 >= r1)
			return;
	}
	if (type == KN_Q6_K && n_cols >= KN_MM_GEMM_COLS && kn_isa_get() == KN_ISA_AVX2) {
		r0 += kn_avx2_gemm_q6_K(n_in, w, wrs, a, ars, n_cols, bias, out, n_rows, r0, r1);
		if (r0 >= r1)
			return;
	}
	/* Q5_K and Q6_K decode: two address-ordered streams of rows (kn_avx2_k_gemv) */
	if ((type == KN_Q6_K || type == KN_Q5_K) && n_cols == 1 && n_in % KN_QK_K == 0 &&
	    kn_isa_simd()) {
		const bool z = kn_isa_get() == KN_ISA_AVX512;

		(type == KN_Q6_K ? (z ? kn_avx512_gemv_q6_K : kn_avx2_gemv_q6_K)
				 : (z ? kn_avx512_gemv_q5_K : kn_avx2_gemv_q5_K))(
			n_in, w, wrs, a, bias, out, r0, r1);
		return;
	}
	if (n_cols == 1) {
		int64_t r = r0;

		/* 4 rows at a time where the type has it: their dot chains overlap */
		for (; rows4 && r + 4 <= r1; r += 4) {
			rows4(n_in, wb + r * wrs, wrs, ab, out + r);
			for (int k = 0; k < 4; k++)
				out[r + k] += bias ? bias[r + k] : 0.0f;
		}
		for (; r < r1; r++) {
			/* the row 4 ahead: decode streams W once, the hardware prefetcher lags */
			const uint8_t *pf = wb + (r + 4) * wrs;

			for (size_t o = 0; r + 4 < r1 && o < wrs; o += 64)
				__builtin_prefetch(pf + o, 0, 3);
			out[r] = dot(n_in, wb + r * wrs, ab) + (bias ? bias[r] : 0.0f);
		}
		return;
	}
	for (int64_t c0 = 0; c0 < n_cols; c0 += KN_MM_COL_TILE) {
		const int64_t c1 = c0 + KN_MM_COL_TILE < n_cols ? c0 + KN_MM_COL_TILE : n_cols;

		for (int64_t r = r0; r < r1; r++) {
			const uint8_t *wr = wb + r * wrs;
			const float b = bias ? bias[r] : 0.0f;

			int64_t c = c0;

			/* 8, then 4 columns per pass over the row where the type has it */
			for (; dot8 && c + 8 <= c1; c += 8) {
				float o[8];

				dot8(n_in, wr, ab + c * ars, ars, o);
				for (int k = 0; k < 8; k++)
					out[(c + k) * n_rows + r] = o[k] + b;
			}
			for (; dot4 && c + 4 <= c1; c += 4) {
				float o[4];

				dot4(n_in, wr, ab + c * ars, ars, o);
				for (int k = 0; k < 4; k++)
					out[(c + k) * n_rows + r] = o[k] + b;
			}
			for (; c < c1; c++)
				out[c * n_rows + r] = dot(n_in, wr, ab + c * ars) + b;
		}
	}
}
