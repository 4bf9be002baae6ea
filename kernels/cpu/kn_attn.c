// SPDX-License-Identifier: MIT
/*
 * Paged attention over the KV pool: store this step's K/V into their block
 * slots, then causal attention per (token, head) over the sequence's cached
 * positions, one block at a time; the score matrix is never materialised.
 * Two arithmetics: an online softmax, or (with a work buffer) llama.cpp's
 * exactly: a two-pass softmax over the row of scores of one (token, head)
 * and the lane orders, exp and reductions of llama.cpp's build for the
 * current ISA (AVX-512, AVX2, or the generic build on the scalar path) for
 * q.k and p.v; or llama.cpp's flash attention (kn_attn_flash.c). K and V
 * each F32, F16 or Q8_0. Cache layout: see ACCEL_OP_ATTN_* docs.
 */
#include <math.h>
#include "kn_attn.h"
#include "kn_internal.h"

#define KN_ATTN_CHUNK	64	/* scores computed per online-softmax step */

/* the K (kv 0) or V (kv 1) row of all KV heads at position p of seq: a
 * block holds [n_layer][K rows][V rows] of block_tokens rows each */
void kn_attn_store_kv(const struct kn_attn_args *a, int ith, int nth)
{
	const int64_t row = a->n_kv_head * a->hd;
	int64_t s, e;

	/* (token, K or V) pairs: a decode token's K and V rows on two threads */
	kn_split(2 * a->n, ith, nth, &s, &e);
	for (int64_t u = s; u < e; u++) {
		const int64_t t = u / 2;
		const int kv = (int)(u % 2);
		const float *src = (kv ? a->v : a->k) + t * row;
		const uint32_t type = kv ? a->v_type : a->k_type;
		uint8_t *dst = kn_attn_slot(a, a->seq[t], a->pos[t], kv);

		const int64_t nrot = kn_attn_rot(a, kv);

		/* as llama.cpp's set_rows: the ISA's from_float */
		if (type == KN_F32) {
			memcpy(dst, src, (size_t)row * sizeof(float));
		} else if (type == KN_Q8_0 && nrot) {
			/* rotated first, head by head (row % hd == 0) */
			const size_t hb = kn_row_size(KN_Q8_0, a->hd);
			float tmp[KN_ATTN_MAX_HD];

			for (int64_t h = 0; h < a->n_kv_head; h++) {
				memcpy(tmp, src + h * a->hd, (size_t)a->hd * sizeof(float));
				kn_attn_fwht(tmp, a->hd, nrot);
				kn_quantize_act_row(KN_Q8_0, tmp, dst + (size_t)h * hb, a->hd);
			}
		} else if (type == KN_Q8_0) {
			kn_quantize_act_row(KN_Q8_0, src, dst, row);
		} else {
			kn_quantize_row(KN_F16, src, dst, row);
		}
	}
}

float kn_avx2_attn_dot(const float *q, const void *k, int64_t hd, bool f16);
void kn_avx2_attn_axpy(float *acc, float w, const void *v, int64_t hd, bool f16);

typedef float (*kn_attn_dot_fn)(const float *q, const void *k, int64_t hd, bool f16);
typedef void (*kn_attn_axpy_fn)(float *acc, float w, const void *v, int64_t hd, bool f16);

static float kn_attn_dot(const float *q, const void *k, int64_t hd, bool f16)
{
	float s = 0;

	if (f16) {
		const uint16_t *kh = (const uint16_t *)k;

		for (int64_t i = 0; i < hd; i++)
			s += q[i] * kn_fp16_to_fp32(kh[i]);
	} else {
		const float *kf = (const float *)k;

		for (int64_t i = 0; i < hd; i++)
			s += q[i] * kf[i];
	}
	return s;
}

static void kn_attn_axpy(float *acc, float w, const void *v, int64_t hd, bool f16)
{
	if (f16) {
		const uint16_t *vh = (const uint16_t *)v;

		for (int64_t i = 0; i < hd; i++)
			acc[i] += w * kn_fp16_to_fp32(vh[i]);
	} else {
		const float *vf = (const float *)v;

		for (int64_t i = 0; i < hd; i++)
			acc[i] += w * vf[i];
	}
}

/* one head's row as F32: the cache row itself, or dequantized into buf */
static const float *kn_attn_row_f32(uint32_t type, const uint8_t *p, float *buf, int64_t hd)
{
	if (type == KN_F32)
		return (const float *)p;
	kn_dequantize_row(type, p, buf, hd);
	return buf;
}

/* attention of one query head over positions 0..p of its sequence */
static void kn_attn_one(const struct kn_attn_args *a, int64_t t, int64_t h, kn_attn_dot_fn dot,
			kn_attn_axpy_fn axpy)
{
	const int64_t hd = a->hd, group = a->n_head / a->n_kv_head, kvh = h / group;
	const size_t hk = kn_row_size(a->k_type, hd), hv = kn_row_size(a->v_type, hd);
	float acc[KN_ATTN_MAX_HD], sc[KN_ATTN_CHUNK], row[KN_ATTN_MAX_HD], qr[KN_ATTN_MAX_HD];
	const float *q = kn_attn_q(a, t, h, qr);
	float *out = a->out + (t * a->n_head + h) * hd;
	const int64_t npos = (int64_t)a->pos[t] + 1;
	float m = -INFINITY, l = 0;

	memset(acc, 0, (size_t)hd * sizeof(float));
	for (int64_t j0 = 0; j0 < npos; j0 += KN_ATTN_CHUNK) {
		const int64_t j1 = j0 + KN_ATTN_CHUNK < npos ? j0 + KN_ATTN_CHUNK : npos;
		float cm = -INFINITY;

		for (int64_t j = j0; j < j1; j++) {
			const uint8_t *k = kn_attn_slot(a, a->seq[t], j, 0) + (size_t)kvh * hk;

			sc[j - j0] = dot(q, kn_attn_row_f32(a->k_type, k, row, hd), hd, false) *
				     a->scale;
			cm = fmaxf(cm, sc[j - j0]);
		}
		if (cm > m) {
			const float corr = expf(m - cm);	/* 0 on the first chunk */

			l *= corr;
			for (int64_t i = 0; i < hd; i++)
				acc[i] *= corr;
			m = cm;
		}
		for (int64_t j = j0; j < j1; j++) {
			const uint8_t *v = kn_attn_slot(a, a->seq[t], j, 1) + (size_t)kvh * hv;
			const float w = expf(sc[j - j0] - m);

			l += w;
			axpy(acc, w, kn_attn_row_f32(a->v_type, v, row, hd), hd, false);
		}
	}
	const float inv = l > 0 ? 1.0f / l : 0.0f;

	for (int64_t i = 0; i < hd; i++)
		out[i] = acc[i] * inv;
}

/* ------------------------------------------------ llama.cpp-exact path */

float kn_avx2_attn_dot_exact(const float *q, const void *k, int64_t np, bool f16);
float kn_avx2_attn_dot_exact32(const float *q, const void *k, int64_t np, bool f16);

/* the 4 x 8 accumulators of ggml_vec_dot_f32 (AVX2): pairwise, then halves,
 * then two horizontal adds */
static float kn_reduce32(const float *s)
{
	float v[8], t0[4];

	for (int l = 0; l < 8; l++)
		v[l] = (s[l] + s[16 + l]) + (s[8 + l] + s[24 + l]);
	for (int i = 0; i < 4; i++)
		t0[i] = v[i] + v[4 + i];
	return (t0[0] + t0[1]) + (t0[2] + t0[3]);
}

/* the 4 x 16 accumulators of ggml_vec_dot_f32 (AVX-512) reduced to one */
static float kn_reduce64(const float *s)
{
	float x0[16];

	for (int l = 0; l < 16; l++)
		x0[l] = (s[l] + s[32 + l]) + (s[16 + l] + s[48 + l]);
	return kn_reduce16(x0);
}

static inline float kn_elem(const void *p, int64_t i, bool f16)
{
	return f16 ? kn_fp16_to_fp32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

/* ggml_vec_dot_f32 as llama.cpp's AVX-512 (64 lanes) or AVX2 (32 lanes)
 * build runs it: q.k over hd */
float kn_attn_dot_exact(const float *q, const void *k, int64_t hd, bool f16, bool avx2, int L)
{
	const int64_t np = hd & ~(int64_t)(L - 1);
	float s;

	if (avx2) {	/* reduced in registers */
		s = L == 64 ? kn_avx2_attn_dot_exact(q, k, np, f16)
			    : kn_avx2_attn_dot_exact32(q, k, np, f16);
	} else {
		/* (zeroed here only: once per score on the SIMD path was ~2% of a
		 * decode step) */
		float lanes[64] = { 0 };

		for (int64_t i = 0; i < np; i += L)
			for (int l = 0; l < L; l++)
				lanes[l] = fmaf(kn_elem(k, i + l, f16), q[i + l], lanes[l]);
		s = L == 64 ? kn_reduce64(lanes) : kn_reduce32(lanes);
	}
	/* the tail as GCC compiled vec_dot's scalar loop: W- and then one
	 * W/2-wide group of rounded products summed in order, the rest fused */
	const int W = L / 4;
	int64_t i = np;

	for (; hd - i >= W; i += W)
		for (int l = 0; l < W; l++)
			s += kn_elem(k, i + l, f16) * q[i + l];
	if (hd - i >= W / 2) {
		for (int l = 0; l < W / 2; l++)
			s += kn_elem(k, i + l, f16) * q[i + l];
		i += W / 2;
	}
	for (; i < hd; i++)
		s = fmaf(kn_elem(k, i, f16), q[i], s);
	return s;
}

/*
 * q.k with an F16 K, as llama.cpp's mul_mat(k, q) computes it (q converted to
 * F16 first): for @n >= 2 tokens of the query's sequence (kn_attn_count) where W (16 AVX-512, 8 AVX2)
 * divides hd, llamafile's tinyBLAS (one FMA chain per lane over hd / W steps,
 * then the register's horizontal sum; llamafile_sgemm refuses n < 2); else
 * ggml_vec_dot_f16 (4 x W lanes, the leftovers in double)
 */
static float kn_attn_dot_f16(const float *q, const uint16_t *k, int64_t hd, bool avx2, int W,
			     int64_t n)
{
	float lanes[16] = { 0 };
	int64_t np;
	double d;

	if (n >= 2 && hd % W == 0) {
		if (avx2) {
			kn_avx2_attn_dot_lanes(lanes, q, k, hd, W);
		} else {
			for (int64_t i = 0; i < hd; i += W)
				for (int l = 0; l < W; l++)
					lanes[l] = fmaf(kn_fp16_to_fp32(k[i + l]), q[i + l], lanes[l]);
		}
		return W == 16 ? kn_reduce16(lanes) : kn_reduce8(lanes);
	}
	np = hd & ~(int64_t)(4 * W - 1);
	d = np ? (double)kn_attn_dot_exact(q, k, np, true, avx2, 4 * W) : 0.0;
	for (int64_t i = np; i < hd; i++)
		d += (double)(kn_fp16_to_fp32(k[i]) * q[i]);
	return (float)d;
}

/*
 * out[i] = kn_reduce64 (lanes 64), kn_reduce16 (16), kn_reduce32 (32) or
 * kn_reduce8 (8) of acc[l * hd + i] over l, for 16 i at a time: the same
 * additions in the same order for each i, over contiguous rows (the compiler
 * vectorizes the inner loops).
 */
static inline __attribute__((always_inline)) void
kn_attn_reduce_blk(float *out, const float *acc, int64_t hd, int lanes, const int m)
{
	/* one register of W lanes (AVX2 8, AVX-512 16); vec_dot's 4 registers first
	 * fold pairwise into it (lanes == 4 W), tinyBLAS has just the one */
	const int W = lanes == 32 || lanes == 8 ? 8 : 16;
	float v[16][16], t8[8][16], t4[4][16];

	for (int l = 0; l < W; l++) {
		const float *r0 = acc + l * hd;

		if (lanes == 4 * W) {
			const float *r1 = r0 + W * hd, *r2 = r0 + 2 * W * hd, *r3 = r0 + 3 * W * hd;

			for (int k = 0; k < m; k++)
				v[l][k] = (r0[k] + r2[k]) + (r1[k] + r3[k]);
		} else {
			for (int k = 0; k < m; k++)
				v[l][k] = r0[k];
		}
	}
	if (W == 16) {		/* GCC's _mm512_reduce_add_ps: halves down to 4 */
		for (int l = 0; l < 8; l++)
			for (int k = 0; k < m; k++)
				t8[l][k] = v[8 + l][k] + v[l][k];
		for (int l = 0; l < 4; l++)
			for (int k = 0; k < m; k++)
				t4[l][k] = t8[4 + l][k] + t8[l][k];
	} else {		/* the high 128 bits onto the low */
		for (int l = 0; l < 4; l++)
			for (int k = 0; k < m; k++)
				t4[l][k] = v[4 + l][k] + v[l][k];
	}
	if (lanes == 32) {	/* AVX2 vec_dot: two hadds */
		for (int k = 0; k < m; k++)
			out[k] = (t4[0][k] + t4[1][k]) + (t4[2][k] + t4[3][k]);
	} else {		/* movehl, then movehdup (and the AVX-512 reduce's end) */
		for (int k = 0; k < m; k++)
			out[k] = (t4[0][k] + t4[2][k]) + (t4[1][k] + t4[3][k]);
	}
}

static void kn_attn_reduce_lanes(float *out, const float *acc, int64_t hd, int lanes)
{
	int64_t i0 = 0;

	for (; i0 + 16 <= hd; i0 += 16)		/* constant trip counts: vectorized */
		kn_attn_reduce_blk(out + i0, acc + i0, hd, lanes, 16);
	if (i0 < hd)
		kn_attn_reduce_blk(out + i0, acc + i0, hd, lanes, (int)(hd - i0));
}

size_t kn_attn_work_floats(const struct kn_attn_args *a)
{
	const size_t npos = (size_t)a->max_blocks * (size_t)a->block_tokens;

	/* scores (to a multiple of 64), q rounded for an F16 cache, 64 lane rows,
	 * q rotated (a Q8_0 K) */
	return ((npos + 63) & ~(size_t)63) + (size_t)a->hd + 64 * (size_t)a->hd + (size_t)a->hd;
}

/*
 * How many tokens of token t's sequence the batch whose arithmetic t takes
 * holds: 1 under row_invariance (speculative verification must equal
 * one-token decoding), the caller's count where it gives one (a prompt cut in
 * other pieces than the reference run's chunks), else the count in this
 * batch (saturated at 64, the largest threshold below). Counted per sequence,
 * not per batch, so a token's arithmetic never depends on the other
 * sequences batched with it (the scheduler's batch invariance): one sequence
 * alone is exactly llama.cpp's single-sequence path. llama.cpp's choices: a
 * query alone takes ggml_vec_dot (4 W lanes) for p.v and an F16 q.k, several
 * take tinyBLAS (W lanes), 64 and more with F16/F32 K and V under flash
 * attention the tiled kernel.
 */
static int64_t kn_attn_count(const struct kn_attn_args *a, int64_t t)
{
	const int32_t s = a->seq[t];
	int64_t c = 0;

	if (a->row_invariant)
		return 1;
	if (a->chunk)
		return a->chunk[t];
	if (a->n == 1)
		return 1;
	for (int64_t i = 0; i < a->n && c < 64; i++)
		c += a->seq[i] == s;
	return c;
}

/*
 * One (token, head): kq = q.k_j (ggml_vec_dot_f32 order); softmax as
 * ggml_soft_max_f32 (scale, max, ggml_v_expf over chunks of W summed as one
 * register into a double, times (float)(1/sum)); out = p.v as mul_mat(v^T,
 * kq): ggml_vec_dot_f32's 4 x W lanes for one query token of its sequence,
 * tinyBLAS's W lanes when the sequence has several (llamafile sgemm). W is 16 in llama.cpp's
 * AVX-512 build, 8 in its AVX2 build (@exp8: with that build's exp too).
 */
static void kn_attn_one_exact(const struct kn_attn_args *a, int64_t t, int64_t h, float *work,
			      bool avx2, bool exp8)
{
	const bool kf16 = a->k_type == KN_F16, vf16 = a->v_type == KN_F16;
	const bool kq8 = a->k_type == KN_Q8_0;
	const size_t hk = kn_row_size(a->k_type, a->hd), hv = kn_row_size(a->v_type, a->hd);
	const int W = exp8 ? 8 : 16;
	const int64_t hd = a->hd, kvh = h / (a->n_head / a->n_kv_head);
	const int64_t npos = (int64_t)a->pos[t] + 1, nch = (npos + W - 1) / W;
	const int64_t count = kn_attn_count(a, t);
	const int lanes = count == 1 ? 4 * W : W;
	const float *q = kn_attn_q(a, t, h, work + kn_attn_work_floats(a) - hd);
	float *out = a->out + (t * a->n_head + h) * hd;
	float *sc = work, *qh = work + ((kn_attn_work_floats(a) - 66 * (size_t)hd));
	float *acc = qh + hd, max = -INFINITY;
	double sum = 0;

	if (kf16) {
		/* llama.cpp converts q to the F16 cache's dot type first */
		for (int64_t i = 0; i < hd; i++)
			qh[i] = kn_fp16_to_fp32(kn_fp32_to_fp16(q[i]));
		q = qh;
	} else if (kq8) {
		/* ... or quantizes it to Q8_0 (ggml_vec_dot_q8_0_q8_0 follows) */
		kn_quantize_act_row(KN_Q8_0, q, qh, hd);
	}
	for (int64_t j = 0; j < npos; j++) {
		const uint8_t *k = kn_attn_slot(a, a->seq[t], j, 0) + (size_t)kvh * hk;

		sc[j] = (kq8 ? kn_vec_dot(KN_Q8_0, hd, k, qh)
			     : kf16 ? kn_attn_dot_f16(q, (const uint16_t *)k, hd, avx2, W, count)
				    : kn_attn_dot_exact(q, k, hd, false, avx2, 4 * W)) * a->scale;
		max = fmaxf(max, sc[j]);
	}
	for (int64_t j = npos; j < nch * W; j++)
		sc[j] = -INFINITY;	/* the causal mask */
	if (avx2)
		kn_avx2_attn_exp(sc, max, nch * W, exp8);	/* the same bits, 8 lanes at a time */
	for (int64_t c = 0; c < nch; c++) {
		for (int l = 0; !avx2 && l < W; l++)
			sc[W * c + l] = exp8 ? kn_ggml_expf8(sc[W * c + l] - max)
					     : kn_ggml_expf(sc[W * c + l] - max);
		sum += (double)(exp8 ? kn_reduce8(sc + W * c) : kn_reduce16(sc + W * c));
	}
	const float inv = (float)(1.0 / sum);

	memset(acc, 0, (size_t)lanes * hd * sizeof(float));
	for (int64_t j = 0; j < npos; j++) {
		const uint8_t *v = kn_attn_slot(a, a->seq[t], j, 1) + (size_t)kvh * hv;
		float p = sc[j] * inv;
		float *row = acc + (j % lanes) * hd;

		if (vf16)
			p = kn_fp16_to_fp32(kn_fp32_to_fp16(p));
		if (avx2) {
			kn_avx2_attn_fma_row(row, p, v, hd, vf16);
		} else {
			for (int64_t i = 0; i < hd; i++)
				row[i] = fmaf(kn_elem(v, i, vf16), p, row[i]);
		}
	}
	kn_attn_reduce_lanes(out, acc, hd, lanes);
}

/*
 * One (token, head) as llama.cpp's generic (no SIMD) build: q.k and p.v as
 * ggml_vec_dot_f32's scalar loop (float products summed in double), the
 * softmax with libm expf and a double sum.
 */
static void kn_attn_one_generic(const struct kn_attn_args *a, int64_t t, int64_t h, float *work)
{
	const bool kf16 = a->k_type == KN_F16, vf16 = a->v_type == KN_F16;
	const bool kq8 = a->k_type == KN_Q8_0;
	const size_t hk = kn_row_size(a->k_type, a->hd), hv = kn_row_size(a->v_type, a->hd);
	const int64_t hd = a->hd, kvh = h / (a->n_head / a->n_kv_head);
	const int64_t npos = (int64_t)a->pos[t] + 1;
	const float *q = kn_attn_q(a, t, h, work + kn_attn_work_floats(a) - hd);
	float *out = a->out + (t * a->n_head + h) * hd;
	float *sc = work, *qh = work + ((kn_attn_work_floats(a) - 66 * (size_t)hd));
	float max = -INFINITY;
	double sum = 0;

	if (kf16) {
		for (int64_t i = 0; i < hd; i++)
			qh[i] = kn_fp16_to_fp32(kn_fp32_to_fp16(q[i]));
		q = qh;
	} else if (kq8) {
		kn_quantize_act_row(KN_Q8_0, q, qh, hd);
	}
	for (int64_t j = 0; j < npos; j++) {
		const uint8_t *k = kn_attn_slot(a, a->seq[t], j, 0) + (size_t)kvh * hk;
		double d = 0;

		if (kq8) {
			d = kn_vec_dot(KN_Q8_0, hd, k, qh);
		} else {
			for (int64_t i = 0; i < hd; i++)
				d += (double)(kn_elem(k, i, kf16) * q[i]);
		}
		sc[j] = (float)d * a->scale;
		max = fmaxf(max, sc[j]);
	}
	for (int64_t j = 0; j < npos; j++) {
		sc[j] = expf(sc[j] - max);
		sum += (double)sc[j];
	}
	const float inv = (float)(1.0 / sum);

	for (int64_t j = 0; j < npos; j++) {
		sc[j] *= inv;
		if (vf16)
			sc[j] = kn_fp16_to_fp32(kn_fp32_to_fp16(sc[j]));
	}
	for (int64_t i = 0; i < hd; i++) {
		double d = 0;

		for (int64_t j = 0; j < npos; j++) {
			const uint8_t *v = kn_attn_slot(a, a->seq[t], j, 1) + (size_t)kvh * hv;

			d += (double)(kn_elem(v, i, vf16) * sc[j]);
		}
		out[i] = (float)d;
	}
}

/*
 * llama.cpp rotates what a quantized cache holds (llama_kv_cache: attn_rot_k,
 * attn_rot_v, head sizes divisible by 64): q and k by an orthonormal
 * Walsh-Hadamard matrix of the largest power of two (>= 64) dividing hd, v by
 * one of 64 and the output back by it; returns that size, 0 for none
 */
int64_t kn_attn_rot(const struct kn_attn_args *a, int kv)
{
	int64_t n = 64;

	if ((kv ? a->v_type : a->k_type) != KN_Q8_0 || a->hd % 64)
		return 0;
	if (kv)
		return 64;
	while (a->hd % (n * 2) == 0)
		n *= 2;
	return n;
}

/* x (hd) in chunks of n: ggml_compute_forward_fwht, x * 1/sqrt(n), then the
 * butterflies (u + v, u - v) of spans 1, 2, 4, ... (exact per element in
 * every build: its FMA by -1 is a subtraction) */
void kn_attn_fwht(float *x, int64_t hd, int64_t n)
{
	const float scale = 1.0f / sqrtf((float)n);

	for (int64_t c = 0; c < hd; c += n) {
		float *y = x + c;

		for (int64_t j = 0; j < n; j++)
			y[j] *= scale;
		for (int64_t len = 1; len < n; len <<= 1) {
			for (int64_t i = 0; i < n; i += 2 * len) {
				for (int64_t j = 0; j < len; j++) {
					const float u = y[i + j], v = y[i + len + j];

					y[i + j] = u + v;
					y[i + len + j] = u - v;
				}
			}
		}
	}
}

/* the query row of (t, h), rotated into @buf (hd floats) for a Q8_0 K */
const float *kn_attn_q(const struct kn_attn_args *a, int64_t t, int64_t h, float *buf)
{
	const float *q = a->q + (t * a->n_head + h) * a->hd;
	const int64_t n = kn_attn_rot(a, 0);

	if (!n)
		return q;
	memcpy(buf, q, (size_t)a->hd * sizeof(float));
	kn_attn_fwht(buf, a->hd, n);
	return buf;
}

/* the types and geometry kn_attn computes (else it writes nothing) */
bool kn_attn_types_ok(const struct kn_attn_args *a)
{
	const uint32_t kt = a->k_type, vt = a->v_type;

	if (a->hd <= 0 || a->hd > KN_ATTN_MAX_HD || a->n_kv_head <= 0 || a->n_head % a->n_kv_head)
		return false;
	if ((kt != KN_F32 && kt != KN_F16 && kt != KN_Q8_0) ||
	    (vt != KN_F32 && vt != KN_F16 && vt != KN_Q8_0))
		return false;
	if ((kt == KN_Q8_0 || vt == KN_Q8_0) && a->hd % 32)
		return false;		/* Q8_0 blocks do not cross heads */
	/* llama.cpp: a quantized V cache requires flash attention */
	return !(vt == KN_Q8_0 && !a->flash);
}

/*
 * llama.cpp runs its tiled flash kernel on a batch of >= 64 tokens with F16
 * or F32 K and V. Here the count is of the token's own sequence
 * (kn_attn_count), so a decode row beside another request's long prompt
 * chunk keeps its arithmetic; a row-invariant batch (speculative
 * verification) never tiles.
 */
static bool kn_attn_tiled(const struct kn_attn_args *a, int64_t t)
{
	if (!a->flash || a->k_type == KN_Q8_0 || a->v_type == KN_Q8_0)
		return false;
	return kn_attn_count(a, t) >= 64;
}

/*
 * The chunk, in cells, of llama.cpp's split-KV decode for token t (0: one
 * pass): ggml_compute_forward_flash_attn_ext_f16 splits one query row with
 * F16 K and V (F32 ones are cast to F16 first) over a KV view of >= 512
 * cells in ceil(n_kv / nth) cells per thread. One query row is a count of
 * 1: a decode step, a one-token chunk, a speculative verification row.
 */
static int64_t kn_attn_split_cells(const struct kn_attn_args *a, int64_t t)
{
	const uint32_t kt = a->k_type, vt = a->v_type;
	int64_t nkv;

	if (a->split <= 0 || !a->flash || (kt != KN_F16 && kt != KN_F32) ||
	    (vt != KN_F16 && vt != KN_F32) || kn_attn_count(a, t) != 1)
		return 0;
	nkv = kn_attn_split_nkv(a->pos[t]);
	return nkv < 512 ? 0 : (nkv + a->split - 1) / a->split;
}

/* the (token, head) rows [s, e) of thread ith */
static void kn_attn_heads(const struct kn_attn_args *a, int64_t s, int64_t e, int ith)
{
	const enum kn_isa isa = kn_isa_get();
	const bool avx2 = kn_isa_simd() && isa >= KN_ISA_AVX2;
	kn_attn_dot_fn dot = avx2 ? kn_avx2_attn_dot : kn_attn_dot;
	kn_attn_axpy_fn axpy = avx2 ? kn_avx2_attn_axpy : kn_attn_axpy;

	if (a->work) {
		float *work = a->work + (size_t)ith * kn_attn_work_floats(a);

		for (int64_t r = s; r < e; r++) {
			if (kn_attn_tiled(a, r / a->n_head))
				kn_attn_one_flash_tiled(a, r / a->n_head, r % a->n_head, work);
			else if (a->flash)
				kn_attn_one_flash(a, r / a->n_head, r % a->n_head, work,
						  kn_attn_split_cells(a, r / a->n_head),
						  kn_attn_split_nkv(a->pos[r / a->n_head]));
			else if (isa == KN_ISA_SCALAR)
				kn_attn_one_generic(a, r / a->n_head, r % a->n_head, work);
			else
				kn_attn_one_exact(a, r / a->n_head, r % a->n_head, work, avx2,
						  isa == KN_ISA_AVX2);
		}
		return;
	}
	for (int64_t r = s; r < e; r++)
		kn_attn_one(a, r / a->n_head, r % a->n_head, dot, axpy);
}

void kn_attn(const struct kn_attn_args *a, int ith, int nth)
{
	int64_t s, e;

	if (!kn_attn_types_ok(a))
		return;
	kn_split(a->n * a->n_head, ith, nth, &s, &e);
	kn_attn_heads(a, s, e, ith);
	if (kn_attn_rot(a, 1))	/* llama.cpp rotates the output back (H H = I) */
		for (int64_t r = s; r < e; r++)
			kn_attn_fwht(a->out + r * a->hd, a->hd, 64);
}
