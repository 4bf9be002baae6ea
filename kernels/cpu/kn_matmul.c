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

void kn_matmul(float *out, const void *w, uint32_t type, const void *a, const float *bias,
	       int64_t n_in, int64_t n_rows, int64_t n_cols, int ith, int nth)
{
	kn_dot_fn dot = kn_dot_fn_get(kn_isa_get(), type);
	kn_dot4_fn dot4 = kn_dot4_fn_get(kn_isa_get(), type);
	kn_rows4_fn rows4 = kn_rows4_fn_get(kn_isa_get(), type);
	kn_dot4_fn dot8 = kn_dot8_fn_get(kn_isa_get(), type);
	const size_t wrs = kn_row_size(type, n_in);
	const size_t ars = kn_row_size(kn_vec_dot_type(type), n_in);
	const uint8_t *wb = w, *ab = a;
	int64_t r0, r1;

	if (!dot || !wrs || !ars)
		return;
	kn_split(n_rows, ith, nth, &r0, &r1);
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
