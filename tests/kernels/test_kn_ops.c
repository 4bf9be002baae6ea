// SPDX-License-Identifier: MIT
/*
 * The transformer ops against naive double-precision references: embed,
 * rmsnorm, matmul (every weight type, with bias, tiles and thread splits),
 * rope (NORM and NEOX, freq_scale, freq_factors), swiglu, add, moe_route
 * (including ties). Threads are simulated by calling each (ith, nth) share.
 */
#include <stdio.h>
#include <string.h>
#include "tap.h"
#include "kn_test.h"
#include "kn_ops.h"
#include "../../kernels/cpu/kn_internal.h"	/* the exp twins */

#define ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const uint32_t embed_types[] = { KN_F32, KN_F16, KN_BF16, KN_Q8_0, KN_Q4_K, KN_Q6_K };
/* matmul weight types, 3 shapes each */
static const uint32_t mt[] = { KN_F32, KN_F16, KN_BF16, KN_Q4_0, KN_Q4_1, KN_Q8_0,
			       KN_Q4_K, KN_Q5_K, KN_Q6_K };
#define ROPE_MODES 2		/* norm (0) and neox (2) */
#define ROPE_VARIANTS 3
#define N_ISAS (KN_ISA_AVX512 - KN_ISA_SCALAR + 1)

static void test_embed(void)
{
	const uint32_t *types = embed_types;
	const int64_t dim = 512, vocab = 11, n = 5;
	const int32_t ids[5] = { 3, 10, 0, 3, 7 };

	for (int ti = 0; ti < ARRAY_LEN(embed_types); ti++) {
		const uint32_t t = types[ti];
		const size_t rs = kn_row_size(t, dim);
		float *x = malloc(vocab * dim * sizeof(float)), *out = malloc(n * dim * sizeof(float));
		float *ref = malloc(dim * sizeof(float));
		uint8_t *w = malloc(vocab * rs);
		double err = 0;

		kt_seed(50 + t);
		kt_fill(x, vocab * dim, 1.0f);
		for (int64_t r = 0; r < vocab; r++)
			kn_quantize_row_isa(KN_ISA_SCALAR, t, x + r * dim, w + r * rs, dim);
		for (int ith = 0; ith < 2; ith++)
			kn_embed(out, w, t, dim, ids, n, ith, 2);
		for (int64_t i = 0; i < n; i++) {
			kn_dequantize_row_isa(KN_ISA_SCALAR, t, w + ids[i] * rs, ref, dim);
			err += kt_max_abs_diff(out + i * dim, ref, dim);
		}
		ok(err == 0, "embed %s: rows are the dequantized weight rows", kn_type_name(t));
		free(x);
		free(out);
		free(ref);
		free(w);
	}
}

static void test_rmsnorm(void)
{
	const int64_t dim = 576, rows = 7;
	float *x = malloc(rows * dim * sizeof(float)), *w = malloc(dim * sizeof(float));
	float *out = malloc(rows * dim * sizeof(float));
	double worst = 0;

	kt_seed(3);
	kt_fill(x, rows * dim, 2.0f);
	kt_fill(w, dim, 1.0f);
	for (int ith = 0; ith < 3; ith++)
		kn_rmsnorm(out, x, w, dim, rows, 1e-5f, ith, 3);
	for (int64_t r = 0; r < rows; r++) {
		double ss = 0;

		for (int64_t i = 0; i < dim; i++)
			ss += (double)x[r * dim + i] * x[r * dim + i];
		const double sc = 1.0 / sqrt(ss / dim + 1e-5);

		for (int64_t i = 0; i < dim; i++) {
			double want = x[r * dim + i] * sc * w[i];
			double e = fabs(out[r * dim + i] - want) / (fabs(want) + 1e-3);

			if (e > worst)
				worst = e;
		}
	}
	ok(worst < 1e-5, "rmsnorm vs double reference (rel err %.2g)", worst);
	/* in place */
	memcpy(out, x, rows * dim * sizeof(float));
	kn_rmsnorm(out, out, w, dim, rows, 1e-5f, 0, 1);
	float *o2 = malloc(rows * dim * sizeof(float));

	kn_rmsnorm(o2, x, w, dim, rows, 1e-5f, 0, 1);
	ok(!memcmp(out, o2, rows * dim * sizeof(float)), "rmsnorm in place == out of place");
	free(o2);
	free(x);
	free(w);
	free(out);
}

static void test_matmul_type_rows(uint32_t t, int64_t n_cols, int nth, bool bias_on,
				  int64_t n_rows)
{
	const uint32_t at = kn_vec_dot_type(t);
	/* 35 blocks of 32: two 16-block scale chunks and an odd tail (AVX-512 kernels);
	 * one column on 2 threads: 43 super-blocks, the K-quant decode's long rows
	 * (8-row tiles, kn_avx2_k_gemv_tile8) */
	const int64_t n_in = kn_type_block_elems(t) == 256 ? (n_cols == 1 && nth == 2 ? 11008 : 512) :
			     (nth & 1 ? 96 : 1120);
	const size_t wrs = kn_row_size(t, n_in), ars = kn_row_size(at, n_in);
	float *x = malloc(n_rows * n_in * sizeof(float)), *y = malloc(n_cols * n_in * sizeof(float));
	float *wd = malloc(n_rows * n_in * sizeof(float)), *ad = malloc(n_cols * n_in * sizeof(float));
	float *bias = malloc(n_rows * sizeof(float)), *out = malloc(n_rows * n_cols * sizeof(float));
	uint8_t *w = malloc(n_rows * wrs), *a = malloc(n_cols * ars);
	double worst = 0;
	int not_dot = 0, not_ref = 0;
	/* types whose scalar reference keeps the x86 order: the SIMD result must be it */
	const bool same_ref = t == KN_Q4_1 || t == KN_Q8_0;

	kt_seed(900 + t + n_cols);
	kt_fill(x, n_rows * n_in, 1.0f);
	kt_fill(y, n_cols * n_in, 1.0f);
	kt_fill(bias, n_rows, 1.0f);
	for (int64_t r = 0; r < n_rows; r++) {
		kn_quantize_row(t, x + r * n_in, w + r * wrs, n_in);
		/* a Q8_0 file may hold -128, which the quantizer never writes:
		 * every kernel must take it as vpsignb does */
		if (t == KN_Q8_0)
			((kn_block_q8_0 *)(w + r * wrs))[r % (n_in / 32)].qs[r % 32] = -128;
		kn_dequantize_row(t, w + r * wrs, wd + r * n_in, n_in);
	}
	for (int64_t c = 0; c < n_cols; c++) {
		kn_quantize_row(at, y + c * n_in, a + c * ars, n_in);
		kn_dequantize_row(at, a + c * ars, ad + c * n_in, n_in);
	}
	for (int ith = 0; ith < nth; ith++)
		kn_matmul(out, w, t, a, bias_on ? bias : NULL, n_in, n_rows, n_cols, ith, nth);
	for (int64_t c = 0; c < n_cols; c++) {
		for (int64_t r = 0; r < n_rows; r++) {
			double ref = bias_on ? bias[r] : 0, mag = fabs(ref);
			/* K-quant batches of >= 8 columns: llama.cpp's tiled order, scalar */
			const bool tl = n_cols >= KN_TILED_MIN_COLS && kn_mat_tiled(t, n_rows);
			float d = (tl ? kn_tiled_dot_get(KN_ISA_SCALAR, t)(n_in, w + r * wrs, a + c * ars)
				      : kn_vec_dot(t, n_in, w + r * wrs, a + c * ars)) +
				  (bias_on ? bias[r] : 0);

			for (int64_t i = 0; i < n_in; i++) {
				ref += (double)wd[r * n_in + i] * ad[c * n_in + i];
				mag += fabs((double)wd[r * n_in + i] * ad[c * n_in + i]);
			}
			/* Q4_1 uses the stored fp16 s of each block: allow its rounding */
			double e = fabs(out[c * n_rows + r] - ref) / mag;

			if (e > worst)
				worst = e;
			if (memcmp(&d, &out[c * n_rows + r], sizeof(float)))
				not_dot++;
			d = kn_vec_dot_isa(KN_ISA_SCALAR, t, n_in, w + r * wrs, a + c * ars) +
			    (bias_on ? bias[r] : 0);
			if (same_ref && memcmp(&d, &out[c * n_rows + r], sizeof(float)))
				not_ref++;
		}
	}
	ok(worst < (t == KN_Q4_1 ? 5e-4 : 1e-5) && !not_dot && !not_ref,
	   "matmul %s x %s: %lld rows, %lld cols, %d threads%s (rel err %.2g, %d != vec_dot/tiled ref, %d != scalar)",
	   kn_type_name(t), kn_type_name(at), (long long)n_rows, (long long)n_cols, nth,
	   bias_on ? ", bias" : "", worst, not_dot, not_ref);
	free(x);
	free(y);
	free(wd);
	free(ad);
	free(bias);
	free(out);
	free(w);
	free(a);
}

static void test_matmul_type(uint32_t t, int64_t n_cols, int nth, bool bias_on)
{
	test_matmul_type_rows(t, n_cols, nth, bias_on, 37);
}

/* double reference of ggml's rope for one vector */
static void rope_ref(double *v, int64_t pos, int n_rot, int mode, double base, double fs,
		     const float *ff)
{
	for (int i = 0; i < n_rot / 2; i++) {
		double th = pos * fs * pow(base, -2.0 * i / n_rot) / (ff ? ff[i] : 1.0);
		int a = mode == 2 ? i : 2 * i, b = mode == 2 ? i + n_rot / 2 : 2 * i + 1;
		double x0 = v[a], x1 = v[b];

		v[a] = x0 * cos(th) - x1 * sin(th);
		v[b] = x0 * sin(th) + x1 * cos(th);
	}
}

static void test_rope(void)
{
	const int64_t n = 5, nh = 3, hd = 64;
	const int32_t pos[5] = { 0, 1, 17, 100, 255 };
	float ff[32];

	kt_seed(11);
	for (int i = 0; i < 32; i++)
		ff[i] = 1.0f + (float)i / 8;
	for (int mode = 0; mode < 2 * ROPE_MODES; mode += 2) {
		for (int variant = 0; variant < ROPE_VARIANTS; variant++) {
			const int n_rot = variant == 2 ? 32 : 64;
			const float fs = variant == 1 ? 0.25f : 1.0f;
			const float *f = variant == 1 ? ff : NULL;
			float *x = malloc(n * nh * hd * sizeof(float));
			float *x0 = malloc(n * nh * hd * sizeof(float));
			double worst = 0, v[64];
			int tail_changed = 0;

			kt_fill(x, n * nh * hd, 1.0f);
			memcpy(x0, x, n * nh * hd * sizeof(float));
			for (int ith = 0; ith < 4; ith++)
				kn_rope(x, pos, n, nh, hd, n_rot, mode, 10000.0f, fs, f, ith, 4);
			for (int64_t r = 0; r < n * nh; r++) {
				for (int i = 0; i < hd; i++)
					v[i] = x0[r * hd + i];
				rope_ref(v, pos[r / nh], n_rot, mode, 10000.0, fs, f);
				for (int i = 0; i < hd; i++) {
					double e = fabs(x[r * hd + i] - v[i]);

					if (e > worst)
						worst = e;
					if (i >= n_rot && x[r * hd + i] != x0[r * hd + i])
						tail_changed++;
				}
			}
			ok(worst < 2e-4 && !tail_changed,
			   "rope %s n_rot %d freq_scale %g%s vs double (max err %.2g)",
			   mode ? "neox" : "norm", n_rot, fs, f ? " freq_factors" : "", worst);
			free(x);
			free(x0);
		}
	}
	/* NEOX == NORM on a vector whose halves are interleaved (exact) */
	float a[64], b[64];
	int32_t p = 123;
	bool same = true;

	kt_fill(a, 64, 1.0f);
	for (int i = 0; i < 32; i++) {
		b[2 * i] = a[i];
		b[2 * i + 1] = a[i + 32];
	}
	kn_rope(a, &p, 1, 1, 64, 64, 2, 500000.0f, 1.0f, NULL, 0, 1);
	kn_rope(b, &p, 1, 1, 64, 64, 0, 500000.0f, 1.0f, NULL, 0, 1);
	for (int i = 0; i < 32; i++)
		same &= a[i] == b[2 * i] && a[i + 32] == b[2 * i + 1];
	ok(same, "neox rotates (i, i+n/2) exactly as norm rotates (2i, 2i+1)");
}

static void test_swiglu_add(void)
{
	enum { N = 1003 };
	float g[N], u[N], o[N], s[N];
	double worst = 0;
	int bad = 0;

	kt_seed(5);
	kt_fill(g, N, 4.0f);
	kt_fill(u, N, 1.0f);
	g[0] = -100.0f;
	g[1] = 100.0f;
	g[2] = -88.5f;		/* exp(88.5): 2^n past the normal range, the lane fallback */
	g[3] = 90.0f;
	g[4] = -1000.0f;
	g[5] = 1000.0f;
	g[6] = 0.0f;
	for (int ith = 0; ith < 3; ith++) {
		kn_swiglu(o, g, u, N, N, ith, 3);
		kn_add(s, g, u, N, ith, 3);
	}
	for (int i = 0; i < N; i++) {
		double want = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
		double e = fabs(o[i] - want) / (fabs(want) + 1e-6);

		if (e > worst)
			worst = e;
		if (s[i] != g[i] + u[i])
			bad++;
	}
	ok(worst < 1e-5, "swiglu vs double silu(g)*u (rel err %.2g)", worst);
	/*
	 * Each ISA computes as llama.cpp's build for it: its vectorised exp over
	 * the row's first multiple of 16 (AVX-512) or 8 (AVX2), libm expf on the
	 * tail and everywhere in the generic build; rows of 100 in 3 threads.
	 */
	for (int isa = KN_ISA_SCALAR; isa <= KN_ISA_AVX512; isa++) {
		const int64_t row = 100, w = isa == KN_ISA_AVX512 ? 16 : isa == KN_ISA_AVX2 ? 8 : 0;
		const char *name = isa == KN_ISA_AVX512 ? "avx512" : isa == KN_ISA_AVX2 ? "avx2" : "generic";
		int diff = 0;

		if (kn_isa_set((enum kn_isa)isa) < 0) {
			skip(1, "no %s on this cpu", name);
			continue;
		}
		for (int ith = 0; ith < 3; ith++)
			kn_swiglu(o, g, u, N, row, ith, 3);
		for (int i = 0; i < N; i++) {
			const int64_t col = i % row;
			float want;

			if (w && col < row - row % w)
				want = (w == 8 ? kn_ggml_silu8(g[i]) : kn_ggml_silu(g[i])) * u[i];
			else
				want = kn_silu_libm(g[i]) * u[i];
			diff += memcmp(&want, &o[i], sizeof(want)) != 0;
		}
		is_int(diff, 0, "swiglu [%s]: llama.cpp's exp per row region, bit for bit", name);
	}
	kn_isa_set(kn_isa_best());
	is_int(bad, 0, "add");
}

static void test_moe_route(void)
{
	enum { N = 6, E = 8, K = 2 };
	float logits[N * E], w[N * K];
	int32_t ids[N * K];
	int bad = 0;

	kt_seed(9);
	kt_fill(logits, N * E, 2.0f);
	/* token 4: a three-way tie for first; token 5: all equal */
	for (int i = 0; i < E; i++) {
		logits[4 * E + i] = i == 1 || i == 3 || i == 6 ? 1.5f : -1.0f;
		logits[5 * E + i] = 0.25f;
	}
	for (int renorm = 0; renorm < 2; renorm++) {
		kn_moe_route(w, ids, logits, N, E, K, renorm);
		for (int t = 0; t < N; t++) {
			double p[E], mx = -1e30, sum = 0, sel = 0;
			int order[E];

			for (int i = 0; i < E; i++)
				mx = fmax(mx, logits[t * E + i]);
			for (int i = 0; i < E; i++)
				sum += p[i] = exp(logits[t * E + i] - mx);
			/* stable descending order: ties keep the lower index first */
			for (int i = 0; i < E; i++)
				order[i] = i;
			for (int i = 1; i < E; i++)
				for (int j = i; j > 0 && p[order[j]] > p[order[j - 1]]; j--) {
					int tmp = order[j];

					order[j] = order[j - 1];
					order[j - 1] = tmp;
				}
			for (int j = 0; j < K; j++)
				sel += p[order[j]] / sum;
			for (int j = 0; j < K; j++) {
				double want = p[order[j]] / sum / (renorm ? sel : 1.0);

				if (ids[t * K + j] != order[j] || fabs(w[t * K + j] - want) > 1e-6)
					bad++;
			}
		}
		is_int(bad, 0, "moe_route softmax/top-%d%s incl. ties", K, renorm ? "/renorm" : "");
	}
	ok(ids[4 * K] == 1 && ids[4 * K + 1] == 3 && ids[5 * K] == 0 && ids[5 * K + 1] == 1,
	   "moe_route ties go to the lower expert index");
}

/*
 * Q4_0 matrices of 8k rows on AVX2/AVX-512 take llama.cpp's repacked order:
 * every output bit-identical to the scalar statement of it (+ the bias),
 * whatever the column count and split (decode's tiles of 8 rows, then 4, a
 * few columns' 4/8 column dots, a batch's panels of 8 or 16 rows in k chunks
 * of 32 blocks and column tiles of 64, with the rows a split leaves outside a
 * panel)
 */
static void test_matmul_q4_0_x8(int64_t n_in, int64_t n_rows, int64_t n_cols, int nth,
				bool with_bias)
{
	const size_t wrs = kn_row_size(KN_Q4_0, n_in), ars = kn_row_size(KN_Q8_0, n_in);
	float *x = malloc(n_rows * n_in * sizeof(float)), *y = malloc(n_cols * n_in * sizeof(float));
	float *out = malloc(n_rows * n_cols * sizeof(float)), *bias = malloc(n_rows * sizeof(float));
	uint8_t *w = malloc(n_rows * wrs), *a = malloc(n_cols * ars);
	int bad = 0, bad_mat = 0;

	kt_seed(4000 + n_cols);
	kt_fill(x, n_rows * n_in, 1.0f);
	kt_fill(y, n_cols * n_in, 1.0f);
	kt_fill(bias, n_rows, 1.0f);
	for (int64_t r = 0; r < n_rows; r++)
		kn_quantize_row(KN_Q4_0, x + r * n_in, w + r * wrs, n_in);
	for (int64_t c = 0; c < n_cols; c++)
		kn_quantize_act_row(KN_Q8_0, y + c * n_in, a + c * ars, n_in);
	for (int ith = 0; ith < nth; ith++)
		kn_matmul(out, w, KN_Q4_0, a, with_bias ? bias : NULL, n_in, n_rows, n_cols, ith,
			  nth);
	for (int64_t c = 0; c < n_cols; c++) {
		for (int64_t r = 0; r < n_rows; r++) {
			const float dot = kn_ref_dot_q4_0_x8(n_in, w + r * wrs, a + c * ars);
			const float want = dot + (with_bias ? bias[r] : 0.0f);
			const float mat = kn_vec_dot_mat(KN_Q4_0, n_in, w + r * wrs, a + c * ars, n_rows);

			bad += memcmp(&want, &out[c * n_rows + r], sizeof(float)) != 0;
			bad_mat += memcmp(&dot, &mat, sizeof(float)) != 0;
		}
	}
	ok(!bad && !bad_mat, "%s: q4_0 matmul of %lld x %lld in llama.cpp's repacked order%s: "
	   "%lld cols, %d threads (%d outputs and %d kn_vec_dot_mat differ from the scalar order)",
	   kn_isa_get() == KN_ISA_AVX512 ? "AVX-512" : "AVX2", (long long)n_rows,
	   (long long)n_in, with_bias ? " + bias" : "", (long long)n_cols, nth, bad, bad_mat);
	free(bias);
	free(x);
	free(y);
	free(out);
	free(w);
	free(a);
}

/*
 * Q4_K matrices of 8k rows on AVX2/AVX-512 take llama.cpp's repacked q4_K_8x8
 * orders: a batch's columns in groups of 4 the gemm's (kn_ref_dot_q4_K_x8g),
 * the last n % 4 and a lone column the gemv's (kn_ref_dot_q4_K_x8), each
 * output bit-identical to its scalar statement (+ the bias) whatever the
 * split, the rows a split leaves outside a tile of 8 included; per sequence
 * with @two_seq (columns alternate between 2 sequences) and all gemv with
 * @inv. Counts where the orders give other bits than vec_dot's, so the test
 * shows it tells them apart.
 */
static int test_matmul_q4_K_x8(int64_t n_in, int64_t n_rows, int64_t n_cols, int nth,
			       bool with_bias, bool two_seq, bool inv, int32_t chunk_n)
{
	const size_t wrs = kn_row_size(KN_Q4_K, n_in), ars = kn_row_size(KN_Q8_K, n_in);
	float *x = malloc(n_rows * n_in * sizeof(float)), *y = malloc(n_cols * n_in * sizeof(float));
	float *out = malloc(n_rows * n_cols * sizeof(float)), *bias = malloc(n_rows * sizeof(float));
	uint8_t *w = malloc(n_rows * wrs), *a = malloc(n_cols * ars);
	int32_t *seq = malloc(n_cols * sizeof(int32_t)), *chunk = malloc(n_cols * sizeof(int32_t));
	int bad = 0, bad_mat = 0, differ = 0;
	int64_t cnt[2] = { 0, 0 }, rank[2] = { 0, 0 };

	kt_seed(5000 + n_cols + n_rows);
	kt_fill(x, n_rows * n_in, 1.0f);
	kt_fill(y, n_cols * n_in, 1.0f);
	kt_fill(bias, n_rows, 1.0f);
	for (int64_t r = 0; r < n_rows; r++)
		kn_quantize_row(KN_Q4_K, x + r * n_in, w + r * wrs, n_in);
	for (int64_t c = 0; c < n_cols; c++) {
		kn_quantize_act_row(KN_Q8_K, y + c * n_in, a + c * ars, n_in);
		seq[c] = two_seq ? (int32_t)(c % 2) : 7;
		chunk[c] = chunk_n;
		cnt[seq[c] % 2]++;
	}
	/* @chunk_n: the reference batch held that many of the sequence's columns */
	if (chunk_n)
		cnt[0] = cnt[1] = chunk_n;
	for (int ith = 0; ith < nth; ith++)
		kn_matmul_seq(out, w, KN_Q4_K, a, with_bias ? bias : NULL, n_in, n_rows, n_cols,
			      two_seq || chunk_n ? seq : NULL, chunk_n ? chunk : NULL, inv, n_rows,
			      ith, nth);
	for (int64_t c = 0; c < n_cols; c++) {
		const int s = seq[c] % 2;
		const bool g = !inv && rank[s] < cnt[s] - cnt[s] % 4;

		rank[s]++;
		for (int64_t r = 0; r < n_rows; r++) {
			const uint8_t *wr = w + r * wrs, *ac = a + c * ars;
			const float dot = g ? kn_ref_dot_q4_K_x8g(n_in, wr, ac)
					    : kn_ref_dot_q4_K_x8(n_in, wr, ac);
			const float want = dot + (with_bias ? bias[r] : 0.0f);
			const float gemv = kn_ref_dot_q4_K_x8(n_in, wr, ac);
			const float mat = kn_vec_dot_mat(KN_Q4_K, n_in, wr, ac, n_rows);
			const float vd = kn_ref_dot_q4_K(n_in, wr, ac);

			bad += memcmp(&want, &out[c * n_rows + r], sizeof(float)) != 0;
			bad_mat += memcmp(&gemv, &mat, sizeof(float)) != 0;
			differ += memcmp(&dot, &vd, sizeof(float)) != 0;
		}
	}
	ok(!bad && !bad_mat, "%s: q4_K matmul of %lld x %lld in llama.cpp's repacked orders%s%s%s%s: "
	   "%lld cols, %d threads (%d outputs and %d kn_vec_dot_mat differ from the scalar order)",
	   kn_isa_get() == KN_ISA_AVX512 ? "AVX-512" : "AVX2", (long long)n_rows,
	   (long long)n_in, with_bias ? " + bias" : "", two_seq ? ", 2 sequences" : "",
	   inv ? ", row-invariant" : "", chunk_n ? ", reference chunks" : "", (long long)n_cols,
	   nth, bad, bad_mat);
	free(chunk);
	free(seq);
	free(bias);
	free(x);
	free(y);
	free(out);
	free(w);
	free(a);
	return differ;
}

/*
 * K-quant batches (Q6_K, Q5_K) on the current x86 ISA against the scalar
 * references: >= 8 columns llama.cpp's tiled order (kn_ref_tiled_*), fewer
 * vec_dot's; @n_in of 256-value super-blocks, rows split over @nth threads
 * (shares of odd length), the columns' remainder tiles. With @seq2 the
 * columns are two sequences (kn_matmul_seq): the first @seq2 columns one,
 * the rest the other, each decided by its own count.
 */
static void test_matmul_k(uint32_t t, int64_t n_in, int64_t n_rows, int64_t n_cols, int nth,
			  bool with_bias, int64_t seq2)
{
	const size_t wrs = kn_row_size(t, n_in), ars = kn_row_size(KN_Q8_K, n_in);
	float *x = malloc(n_rows * n_in * sizeof(float)), *y = malloc(n_cols * n_in * sizeof(float));
	float *bias = malloc(n_rows * sizeof(float)), *out = malloc(n_rows * n_cols * sizeof(float));
	uint8_t *w = malloc(n_rows * wrs), *a = malloc(n_cols * ars);
	int32_t *seq = malloc(n_cols * sizeof(int32_t));
	int bad = 0, tiled = 0;

	kt_seed(7100 + t + n_in + n_rows + n_cols);
	kt_fill(x, n_rows * n_in, 1.0f);
	kt_fill(y, n_cols * n_in, 1.0f);
	kt_fill(bias, n_rows, 1.0f);
	for (int64_t c = 0; c < n_cols; c++)
		seq[c] = c < seq2 ? 0 : 1;
	for (int64_t r = 0; r < n_rows; r++)
		kn_quantize_row_isa(KN_ISA_SCALAR, t, x + r * n_in, w + r * wrs, n_in);
	for (int64_t c = 0; c < n_cols; c++)
		kn_quantize_row_isa(KN_ISA_SCALAR, KN_Q8_K, y + c * n_in, a + c * ars, n_in);
	memset(out, 0xff, n_rows * n_cols * sizeof(float));	/* NaN: an output never written fails */
	for (int ith = 0; ith < nth; ith++)
		kn_matmul_seq(out, w, t, a, with_bias ? bias : NULL, n_in, n_rows, n_cols,
			      seq2 ? seq : NULL, NULL, false, n_rows, ith, nth);
	for (int64_t c = 0; c < n_cols; c++) {
		const int64_t nb = !seq2 ? n_cols : c < seq2 ? seq2 : n_cols - seq2;
		const bool tl = nb >= KN_TILED_MIN_COLS;

		tiled += tl;
		for (int64_t r = 0; r < n_rows; r++) {
			const void *wr = w + r * wrs, *ac = a + c * ars;
			float d = (t == KN_Q6_K ? (tl ? kn_ref_tiled_q6_K(n_in, wr, ac)
						      : kn_ref_dot_q6_K(n_in, wr, ac))
						: (tl ? kn_ref_tiled_q5_K(n_in, wr, ac)
						      : kn_ref_dot_q5_K(n_in, wr, ac))) +
				  (with_bias ? bias[r] : 0.0f);

			bad += memcmp(&d, &out[c * n_rows + r], sizeof(float)) != 0;
		}
	}
	ok(!bad, "%s: %s matmul of %lld x %lld%s, %lld cols%s, %d threads: every output is the "
	   "scalar reference's, %d columns tiled order (%d differ)",
	   kn_isa_get() == KN_ISA_AVX512 ? "AVX-512" : "AVX2", kn_type_name(t), (long long)n_rows,
	   (long long)n_in, with_bias ? " + bias" : "", (long long)n_cols,
	   seq2 ? " in 2 sequences" : "", nth, tiled, bad);
	free(x);
	free(y);
	free(bias);
	free(out);
	free(w);
	free(a);
	free(seq);
}

#define KN_ISA_TESTS	70	/* the tests per x86 ISA: planned, or skipped together */

int main(void)
{
	/* embed per type, rmsnorm 2, matmul 3 per type + 1, rope per mode and
	 * variant + 1, swiglu 1 + one per ISA (skipped where missing) + add 1,
	 * moe_route 2 + 1, q4_0 in the repacked order 10, q8_0 decode 2 and
	 * batches 4, q4_1 batches 4 and decode 2, q4_K, q6_K batches 1 each (>= 8
	 * columns: tiled order), q4_K in the repacked orders 14 + 1, q6_K and
	 * q5_K batches against the scalar references 8 each, q5_K decode 7, q6_K
	 * decode 8, per x86 ISA (KN_ISA_TESTS) */
	plan(ARRAY_LEN(embed_types) + 2 + 3 * ARRAY_LEN(mt) + 1 + ROPE_MODES * ROPE_VARIANTS + 1 +
	     1 + N_ISAS + 1 + 2 + 1 + 2 * KN_ISA_TESTS);
	test_embed();
	test_rmsnorm();
	for (int i = 0; i < ARRAY_LEN(mt); i++) {
		test_matmul_type(mt[i], 1, 3, true);
		test_matmul_type(mt[i], 70, 4, i % 2);
		test_matmul_type(mt[i], 1, 2, i % 2);
	}
	kn_isa_set(KN_ISA_SCALAR);
	test_matmul_type(KN_Q4_K, 5, 2, true);
	for (int isa = KN_ISA_AVX2; isa <= KN_ISA_AVX512; isa++) {
		if (isa > (int)kn_isa_best()) {
			skip(KN_ISA_TESTS, "no %s on this cpu", isa == KN_ISA_AVX512 ? "AVX-512" : "AVX2");
			continue;
		}
		kn_isa_set(isa);
		test_matmul_q4_0_x8(1120, 40, 1, 3, false);
		test_matmul_q4_0_x8(1120, 40, 5, 2, false);
		test_matmul_q4_0_x8(1120, 40, 70, 4, false);
		test_matmul_q4_0_x8(1120, 40, 8, 1, true);
		test_matmul_q4_0_x8(2080, 56, 131, 2, true);
		test_matmul_q4_0_x8(1024, 32, 17, 3, false);
		/* decode, tiles of 8 rows (the last prefetching nothing), rows4 and dot
		 * after them: 3 blocks (a pair and one), 65 (4 scale chunks and one) */
		test_matmul_q4_0_x8(96, 48, 1, 2, true);
		test_matmul_q4_0_x8(2080, 56, 1, 1, true);
		/* 2 blocks, tiles only; 1025 blocks, more than the tiles' scratch: rows4 */
		test_matmul_q4_0_x8(64, 24, 1, 1, false);
		test_matmul_q4_0_x8(32 * (KN_G40_MAXB + 1), 16, 1, 2, true);
		/* Q8_0 decode against vec_dot (a -128 weight included): tiles of 8
		 * rows, then rows4 and dot; 3 blocks, 35 (4 chunks of 8 scales + 3) */
		test_matmul_type(KN_Q8_0, 1, 1, false);
		test_matmul_type(KN_Q8_0, 1, 2, true);
		/* each ISA's Q8_0 GEMM (8+ columns) and AVX-512's K-quant ones against vec_dot */
		test_matmul_type(KN_Q8_0, 70, 4, true);
		test_matmul_type(KN_Q8_0, 9, 1, false);
		/* 131 columns: 64-column chunks, then a 3-column tile; 37 rows over 2
		 * threads: an odd row left to vec_dot */
		test_matmul_type(KN_Q8_0, 131, 2, true);
		/* 150 rows over 2 threads (75 each): AVX-512's 16-tile row band, a
		 * short one (2 tiles) and 3 rows left to the dots; 1120 inputs, 35
		 * blocks: a 32-block chunk and 3, the accumulators parked between
		 * them for every tile of a band; 21 columns: 8, 8 and a 5 group */
		test_matmul_type_rows(KN_Q8_0, 21, 2, true, 150);
		/* Q4_1 GEMM: 4-column tiles and 2, 3, 1-column tails, odd row shares */
		test_matmul_type(KN_Q4_1, 70, 4, true);
		test_matmul_type(KN_Q4_1, 9, 1, false);
		test_matmul_type(KN_Q4_1, 131, 2, true);
		test_matmul_type(KN_Q4_1, 65, 3, false);
		/* Q4_1 decode (4 rows a call): 35 blocks = 2 full scale chunks + 3, and 3 blocks */
		test_matmul_type(KN_Q4_1, 1, 2, true);
		test_matmul_type(KN_Q4_1, 1, 3, false);
		test_matmul_type(KN_Q4_K, 67, 3, true);
		test_matmul_type(KN_Q6_K, 67, 3, true);
		/* Q4_K in the repacked orders: decode, a gemv tail, k of 1 to 11
		 * super-blocks, splits inside a tile of 8, sequences, row-invariant */
		int differ = test_matmul_q4_K_x8(512, 40, 1, 3, false, false, false, 0);

		/* decode with the prefetch 12 rows on: a whole tile past it, and a split */
		differ += test_matmul_q4_K_x8(2816, 72, 1, 1, true, false, false, 0);
		differ += test_matmul_q4_K_x8(768, 88, 1, 2, false, false, false, 0);
		/* under a panel: gemv columns one by one, gemm runs by the tile (2
		 * sequences alternating: runs of one column), row-invariant */
		differ += test_matmul_q4_K_x8(512, 40, 7, 2, true, true, false, 0);
		differ += test_matmul_q4_K_x8(768, 24, 3, 1, false, false, true, 0);

		differ += test_matmul_q4_K_x8(512, 40, 5, 2, true, false, false, 0);
		differ += test_matmul_q4_K_x8(2816, 48, 70, 2, false, false, false, 0);
		differ += test_matmul_q4_K_x8(256, 16, 9, 1, true, false, false, 0);
		differ += test_matmul_q4_K_x8(1024, 56, 131, 3, true, false, false, 0);
		differ += test_matmul_q4_K_x8(768, 32, 67, 2, false, true, false, 0);
		differ += test_matmul_q4_K_x8(768, 24, 13, 1, true, false, true, 0);
		differ += test_matmul_q4_K_x8(768, 24, 6, 5, false, false, false, 0);
		/* a scheduler's piece of 10 columns of a reference chunk of 13 (64) */
		differ += test_matmul_q4_K_x8(512, 16, 10, 1, false, false, false, 13);
		differ += test_matmul_q4_K_x8(512, 16, 10, 1, false, false, false, 64);
		ok(differ > 0, "%s: the repacked orders give other bits than vec_dot's in %d outputs",
		   isa == KN_ISA_AVX512 ? "AVX-512" : "AVX2", differ);
		for (int k = 0; k < 2; k++) {
			const uint32_t t = k ? KN_Q5_K : KN_Q6_K;

			test_matmul_k(t, 256, 37, 9, 1, true, 0);
			test_matmul_k(t, 768, 40, 67, 3, false, 0);
			test_matmul_k(t, 1280, 33, 70, 2, true, 0);
			test_matmul_k(t, 512, 21, 131, 4, true, 0);
			test_matmul_k(t, 2816, 18, 8, 1, false, 0);
			test_matmul_k(t, 1024, 7, 13, 3, true, 0);
			test_matmul_k(t, 512, 19, 7, 2, true, 0);
			test_matmul_k(t, 768, 24, 14, 3, false, 10);
		}
		/* Q5_K decode (1 column; each share's rows as two halves a pair at a
		 * time, an odd last row alone) against the scalar reference: 1 to 11
		 * super-blocks, rows under 4, odd row counts and shares, thread splits */
		test_matmul_k(KN_Q5_K, 256, 37, 1, 1, true, 0);
		test_matmul_k(KN_Q5_K, 768, 40, 1, 3, false, 0);
		test_matmul_k(KN_Q5_K, 2816, 19, 1, 2, true, 0);
		test_matmul_k(KN_Q5_K, 1280, 7, 1, 1, false, 0);
		test_matmul_k(KN_Q5_K, 512, 3, 1, 2, true, 0);
		test_matmul_k(KN_Q5_K, 2304, 66, 1, 4, true, 0);
		test_matmul_k(KN_Q5_K, 1792, 13, 1, 5, false, 0);
		/* Q6_K decode (1 column; each share's rows as two halves a pair at a
		 * time, an odd last row alone): one row of one super-block, 1 to 11
		 * super-blocks, shares of 1, 2, odd and even lengths, thread splits;
		 * the weights end at the last row (an overread is ASan's) */
		test_matmul_k(KN_Q6_K, 256, 1, 1, 1, true, 0);
		test_matmul_k(KN_Q6_K, 256, 37, 1, 1, true, 0);
		test_matmul_k(KN_Q6_K, 768, 40, 1, 3, false, 0);
		test_matmul_k(KN_Q6_K, 2816, 19, 1, 2, true, 0);
		test_matmul_k(KN_Q6_K, 1280, 2, 1, 1, false, 0);
		test_matmul_k(KN_Q6_K, 512, 3, 1, 2, true, 0);
		test_matmul_k(KN_Q6_K, 2304, 66, 1, 4, true, 0);
		test_matmul_k(KN_Q6_K, 1792, 13, 1, 5, false, 0);
	}
	kn_isa_set(kn_isa_best());
	test_rope();
	test_swiglu_add();
	test_moe_route();
	return done_testing();
}
