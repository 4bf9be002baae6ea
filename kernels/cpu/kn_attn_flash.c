// SPDX-License-Identifier: MIT
/*
 * Paged attention with llama.cpp's flash-attention arithmetic: one (token,
 * head) as ggml_compute_forward_flash_attn_ext_f16_one_chunk computes it on
 * the CPU. q converted to the K cache's dot type (F16, or Q8_0 by the ISA's
 * quantize_row_q8_0), one score at a time with that type's vec_dot (the ISA's
 * lane order), an online softmax with libm expf updated position by position
 * (a new maximum rescales the accumulator, else the weight is exp(s - M)),
 * V accumulated in F16 (ggml_vec_mad_f16: rounded to F16 at every step) for
 * an F16 V cache or in F32 for Q8_0 (dequantized, then ggml_vec_mad_f32),
 * divided by the sum at the end. An F32 cache is read as F16: llama.cpp casts
 * F32 K and V to F16 before its flash-attention op. Only the cache positions
 * 0..pos of the query's sequence are visited, as llama.cpp skips masked ones.
 *
 * A batch of >= 64 query tokens with F16 (or F32) K and V takes llama.cpp's
 * tiled kernel instead (ggml_compute_forward_flash_attn_ext_tiled): F32 q,
 * K read as F32, tiles of 64 cache cells, each score a sequential FMA chain
 * over hd (simd_gemm), the tile's softmax with ggml's vectorised exp summed
 * per register into a double, V added by FMA chains in F32.
 *
 * One query row of its sequence with F16 (or F32) K and V at a position whose
 * KV view is >= 512 cells takes llama.cpp's split-KV decode (a->split: its
 * thread count): each thread's chunk of cells summed as above, unnormalised,
 * then the chunks combined in order, rescaled to their common maximum.
 */
#include <math.h>
#include "kn_attn.h"
#include "kn_internal.h"

/*
 * ggml_vec_scale_f16 and ggml_vec_mad_f16 as llama.cpp's builds run them.
 * The AVX-512 goldens' build has AVX512-FP16: over n rounded down to 128
 * (its F16 step) it computes in half precision, the scalar v rounded to F16
 * first (vmulph, vfmadd213ph: one rounding to F16 of the exact result);
 * the rest, and everything in the AVX2 build, in F32 with one FMA per
 * element (GCC contracts the scalar loop), rounded to F16; the generic build
 * multiplies, then adds. @hp: elements in half precision.
 */
static inline int64_t kn_flash_hp(int64_t n, enum kn_isa isa)
{
	return isa == KN_ISA_AVX512 ? n & ~(int64_t)127 : 0;
}

static void kn_flash_scale_f16(uint16_t *y, float v, int64_t n, bool simd, int64_t hp)
{
	const float vh = hp ? kn_fp16_to_fp32(kn_fp32_to_fp16(v)) : 0.0f;

	/* a product of two halves is exact in F32: one rounding, to F16 */
	if (simd && hp)
		kn_avx512_attn_scale_f16_hp(y, vh, hp);
	for (int64_t i = 0; i < hp && !simd; i++)
		y[i] = kn_fp32_to_fp16(kn_fp16_to_fp32(y[i]) * vh);
	if (simd) {
		kn_avx2_attn_scale_f16(y + hp, v, n - hp);
		return;
	}
	for (int64_t i = hp; i < n; i++)
		y[i] = kn_fp32_to_fp16(kn_fp16_to_fp32(y[i]) * v);
}

static void kn_flash_mad_f16(uint16_t *y, const uint16_t *x, float v, int64_t n, bool simd,
			     bool generic, int64_t hp)
{
	/* (only the half-precision part needs v rounded to F16) */
	const double vh = hp ? kn_fp16_to_fp32(kn_fp32_to_fp16(v)) : 0.0;

	/* x * vh is exact in double, and so is the sum but where the terms are
	 * 2^31 apart; rounded to F32 then F16 (both to nearest) */
	if (simd && hp)
		kn_avx512_attn_mad_f16_hp(y, x, (float)vh, hp);
	for (int64_t i = 0; i < hp && !simd; i++)
		y[i] = kn_fp32_to_fp16((float)((double)kn_fp16_to_fp32(x[i]) * vh +
					       (double)kn_fp16_to_fp32(y[i])));
	if (simd) {
		kn_avx2_attn_mad_f16(y + hp, x + hp, v, n - hp);
		return;
	}
	for (int64_t i = hp; i < n; i++) {
		const float yi = kn_fp16_to_fp32(y[i]), xi = kn_fp16_to_fp32(x[i]);

		y[i] = kn_fp32_to_fp16(generic ? yi + xi * v : fmaf(xi, v, yi));
	}
}

/* q.k with F16 K, ggml_vec_dot_f16: the ISA's 4 x W lanes over hd rounded
 * down to their step, reduced to a float, then the leftovers in double */
static float kn_flash_dot_f16(const float *qf, const uint16_t *k, int64_t hd, bool simd,
			      bool generic, int L)
{
	const int64_t np = generic ? 0 : hd & ~(int64_t)(L - 1);
	double d = np ? (double)kn_attn_dot_exact(qf, k, np, true, simd, L) : 0.0;

	for (int64_t i = np; i < hd; i++)
		d += (double)(kn_fp16_to_fp32(k[i]) * qf[i]);
	return (float)d;
}

/*
 * ggml_compute_forward_flash_attn_ext_f16_one_chunk over the cells [j0, j1)
 * of (t, h): its maximum *M, sum *S and unnormalised V sum (as F32) in vkq
 * (from the work area, 6 hd floats of the 66 hd kn_attn_work_floats keeps
 * past the scores); M -inf, S 0, vkq 0 where the range is empty
 */
static void kn_flash_range(const struct kn_attn_args *a, int64_t t, int64_t h, float *work,
			   int64_t j0, int64_t j1, float *M_out, float *S_out)
{
	const enum kn_isa isa = kn_isa_get();
	const bool generic = isa == KN_ISA_SCALAR, simd = !generic && kn_isa_simd();
	const int L = isa == KN_ISA_AVX2 ? 32 : 64;
	const int64_t hd = a->hd, kvh = h / (a->n_head / a->n_kv_head);
	const int64_t hp = kn_flash_hp(hd, isa);
	const bool kq8 = a->k_type == KN_Q8_0, vq8 = a->v_type == KN_Q8_0;
	const size_t hk = kn_row_size(a->k_type, hd), hv = kn_row_size(a->v_type, hd);
	const float *q = kn_attn_q(a, t, h, work + kn_attn_work_floats(a) - hd);
	float *vkq = work + (kn_attn_work_floats(a) - 66 * (size_t)hd);
	float *v32 = vkq + hd, *qf = v32 + hd;
	uint16_t *vkq16 = (uint16_t *)(qf + hd), *k16 = vkq16 + hd, *v16 = k16 + hd;
	void *qq = qf + 5 * hd / 2 + 1;	/* Q8_0 q: 34 bytes per 32 */
	float S = 0.0f, M = -INFINITY;

	if (vq8)
		memset(vkq, 0, (size_t)hd * sizeof(float));
	else
		memset(vkq16, 0, (size_t)hd * sizeof(uint16_t));
	if (kq8) {
		kn_quantize_act_row(KN_Q8_0, q, qq, hd);
	} else {
		/* q rounded to F16 (whole rows: F16C where the ISA has it) */
		kn_quantize_row(KN_F16, q, k16, hd);
		kn_dequantize_row(KN_F16, k16, qf, hd);
	}
	/* a block's positions are rows rk (rv) bytes apart: its slots are looked
	 * up once, not per position (a division and five products each) */
	const int64_t bt = a->block_tokens, row = a->n_kv_head * hd;
	const size_t rk = kn_attn_row_bytes(a->k_type, row), rv = kn_attn_row_bytes(a->v_type, row);
	const uint8_t *krow = NULL, *vrow = NULL;

	for (int64_t j = j0, jb = j0 % bt; j < j1; j++, jb++, krow += rk, vrow += rv) {
		if (j == j0 || jb == bt) {
			krow = kn_attn_slot(a, a->seq[t], j, 0) + (size_t)kvh * hk;
			vrow = kn_attn_slot(a, a->seq[t], j, 1) + (size_t)kvh * hv;
			jb = j % bt;
		}
		const uint8_t *kp = krow, *vp = vrow;
		const float Mold = M;
		float s, ms = 1.0f, vs = 1.0f;

		if (kq8) {
			s = kn_vec_dot(KN_Q8_0, hd, kp, qq);
		} else {
			if (a->k_type == KN_F32) {
				kn_quantize_row(KN_F16, (const float *)kp, k16, hd);
				kp = (const uint8_t *)k16;
			}
			s = kn_flash_dot_f16(qf, (const uint16_t *)kp, hd, simd, generic, L);
		}
		s = s * a->scale;
		if (vq8) {
			if (s > M) {
				M = s;
				ms = expf(Mold - M);
				for (int64_t i = 0; i < hd; i++)
					vkq[i] *= ms;
			} else {
				vs = expf(s - M);
			}
			kn_dequantize_row(KN_Q8_0, vp, v32, hd);
			if (simd) {
				kn_avx2_attn_fma_row(vkq, vs, v32, hd, false);
			} else {
				for (int64_t i = 0; i < hd; i++)
					vkq[i] = generic ? vkq[i] + v32[i] * vs : fmaf(v32[i], vs, vkq[i]);
			}
		} else {
			if (a->v_type == KN_F32) {
				kn_quantize_row(KN_F16, (const float *)vp, v16, hd);
				vp = (const uint8_t *)v16;
			}
			if (s > M) {
				M = s;
				ms = expf(Mold - M);
				kn_flash_scale_f16(vkq16, ms, hd, simd, hp);
			} else {
				vs = expf(s - M);
			}
			kn_flash_mad_f16(vkq16, (const uint16_t *)vp, vs, hd, simd, generic, hp);
		}
		/* S = S*ms + vs: one FMA where the build has FMA (GCC contracts it) */
		S = generic ? S * ms + vs : fmaf(S, ms, vs);
	}
	if (!vq8)
		for (int64_t i = 0; i < hd; i++)
			vkq[i] = kn_fp16_to_fp32(vkq16[i]);
	*M_out = M;
	*S_out = S;
}

void kn_attn_one_flash(const struct kn_attn_args *a, int64_t t, int64_t h, float *work,
		       int64_t cs, int64_t nkv)
{
	const bool generic = kn_isa_get() == KN_ISA_SCALAR;
	const int64_t hd = a->hd, npos = (int64_t)a->pos[t] + 1;
	float *out = a->out + (t * a->n_head + h) * hd;
	float *vkq = work + (kn_attn_work_floats(a) - 66 * (size_t)hd);
	float *acc = vkq + 8 * hd;	/* the combined chunks, past kn_flash_range's */
	float S = 0.0f, M = -INFINITY;

	if (!cs) {
		kn_flash_range(a, t, h, work, 0, npos, &M, &S);
		acc = vkq;
	} else {
		memset(acc, 0, (size_t)hd * sizeof(float));
	}
	/*
	 * ggml_flash_attn_ext_reduce_partials: thread c's chunk [c cs, (c + 1)
	 * cs) of the n_kv view, in order; its masked cells (past pos) are
	 * skipped, so a chunk with none left (S == 0) adds nothing. The build
	 * contracts a * so + b * sn into fma(a, so, b * sn).
	 */
	for (int64_t c0 = 0; cs && c0 < nkv; c0 += cs) {
		const int64_t c1 = c0 + cs < npos ? c0 + cs : npos;
		float Mc, Sc, Mn, so, sn;

		if (c0 >= c1)
			continue;
		kn_flash_range(a, t, h, work, c0, c1, &Mc, &Sc);
		if (Sc == 0.0f)
			continue;
		Mn = fmaxf(M, Mc);
		so = expf(M - Mn);
		sn = expf(Mc - Mn);
		for (int64_t i = 0; i < hd; i++)
			acc[i] = generic ? acc[i] * so + vkq[i] * sn : fmaf(acc[i], so, vkq[i] * sn);
		S = generic ? S * so + Sc * sn : fmaf(S, so, Sc * sn);
		M = Mn;
	}
	const float inv = S == 0.0f ? 0.0f : 1.0f / S;

	for (int64_t i = 0; i < hd; i++)
		out[i] = acc[i] * inv;
}

#define KN_FLASH_TILE	64	/* GGML_FA_TILE_KV */

/*
 * One (token, head) as ggml_compute_forward_flash_attn_ext_tiled computes
 * it: for each tile of 64 cache cells, kq = q.k by FMA over hd (F32 q, K
 * F16 -> F32) times scale, -inf past the causal edge; M and S rescaled by
 * libm expf on a new maximum; the tile's exps by the ISA's ggml_v_expf and
 * their sum per register (16 lanes AVX-512, 8 AVX2) in double, added to S;
 * V accumulated by FMA in F32 in tile order.
 */
void kn_attn_one_flash_tiled(const struct kn_attn_args *a, int64_t t, int64_t h, float *work)
{
	const enum kn_isa isa = kn_isa_get();
	const bool generic = isa == KN_ISA_SCALAR, simd = !generic && kn_isa_simd();
	const bool exp8 = isa == KN_ISA_AVX2;
	const int W = exp8 ? 8 : 16;
	const int64_t hd = a->hd, kvh = h / (a->n_head / a->n_kv_head);
	const int64_t npos = (int64_t)a->pos[t] + 1;
	const bool kf32 = a->k_type == KN_F32, vf32 = a->v_type == KN_F32;
	const size_t hk = kn_row_size(a->k_type, hd), hv = kn_row_size(a->v_type, hd);
	const float *q = kn_attn_q(a, t, h, work + kn_attn_work_floats(a) - hd);
	float *out = a->out + (t * a->n_head + h) * hd;
	float *vkq = work + (kn_attn_work_floats(a) - 66 * (size_t)hd);
	float *vrow = vkq + hd, *kq = vrow + hd;	/* kq: 64 floats, within 65 hd */
	uint16_t *h16 = (uint16_t *)(kq + KN_FLASH_TILE);
	const uint8_t *krows[KN_FLASH_TILE];
	float S = 0.0f, M = -INFINITY;

	memset(vkq, 0, (size_t)hd * sizeof(float));
	for (int64_t j0 = 0; j0 < npos; j0 += KN_FLASH_TILE) {
		const int n = npos - j0 < KN_FLASH_TILE ? (int)(npos - j0) : KN_FLASH_TILE;
		float tmax = -INFINITY;
		double sum = 0;

		for (int tk = 0; tk < n; tk++) {
			const uint8_t *kp = kn_attn_slot(a, a->seq[t], j0 + tk, 0) + (size_t)kvh * hk;

			/* llama.cpp casts an F32 K to F16 first */
			if (kf32) {
				kn_quantize_row(KN_F16, (const float *)kp, h16 + (size_t)tk * hd, hd);
				kp = (const uint8_t *)(h16 + (size_t)tk * hd);
			}
			krows[tk] = kp;
		}
		if (simd) {
			kn_avx2_attn_kq_chain(kq, q, krows, n, hd);
		} else {
			for (int tk = 0; tk < n; tk++) {
				const uint16_t *k = (const uint16_t *)krows[tk];
				float acc = 0.0f;

				for (int64_t i = 0; i < hd; i++)
					acc = generic ? acc + q[i] * kn_fp16_to_fp32(k[i])
						      : fmaf(kn_fp16_to_fp32(k[i]), q[i], acc);
				kq[tk] = acc;
			}
		}
		for (int tk = 0; tk < KN_FLASH_TILE; tk++) {
			kq[tk] = tk < n ? kq[tk] * a->scale : -INFINITY;
			tmax = kq[tk] > tmax ? kq[tk] : tmax;
		}
		const float Mnew = fmaxf(M, tmax);

		if (Mnew > M) {
			const float ms = expf(M - Mnew);

			for (int64_t i = 0; i < hd; i++)
				vkq[i] *= ms;
			S *= ms;
		}
		M = Mnew;
		if (simd)	/* the same exps, 8 lanes at a time (kn_avx2.h's twins) */
			kn_avx2_attn_exp(kq, M, KN_FLASH_TILE, exp8);
		for (int c = 0; c < KN_FLASH_TILE; c += W) {
			for (int l = 0; l < W && !simd; l++)
				kq[c + l] = generic ? expf(kq[c + l] - M)
					   : exp8 ? kn_ggml_expf8(kq[c + l] - M)
						  : kn_ggml_expf(kq[c + l] - M);
			if (generic)
				for (int l = 0; l < W; l++)
					sum += (double)kq[c + l];
			else
				sum += (double)(exp8 ? kn_reduce8(kq + c) : kn_reduce16(kq + c));
		}
		S = (float)((double)S + sum);
		for (int tk = 0; tk < n; tk++) {
			const uint8_t *vp = kn_attn_slot(a, a->seq[t], j0 + tk, 1) + (size_t)kvh * hv;
			const uint16_t *v16 = (const uint16_t *)vp;

			if (vf32) {	/* cast to F16, then read as F32 */
				kn_quantize_row(KN_F16, (const float *)vp, h16, hd);
				v16 = h16;
			}
			if (simd) {
				kn_avx2_attn_fma_row(vkq, kq[tk], v16, hd, true);
				continue;
			}
			for (int64_t i = 0; i < hd; i++)
				vkq[i] = generic ? vkq[i] + kq[tk] * kn_fp16_to_fp32(v16[i])
					       : fmaf(kn_fp16_to_fp32(v16[i]), kq[tk], vkq[i]);
		}
	}
	const float inv = S == 0.0f ? 0.0f : 1.0f / S;

	for (int64_t i = 0; i < hd; i++)
		out[i] = vkq[i] * inv;
}
