/* SPDX-License-Identifier: MIT */
/*
 * Private to paged attention: the cache addressing and the pieces shared by
 * kn_attn.c (softmax-then-matmul, llama.cpp's non-flash graph) and
 * kn_attn_flash.c (llama.cpp's flash-attention kernel).
 */
#ifndef KN_ATTN_H
#define KN_ATTN_H

#include "kn_ops.h"

#define KN_ATTN_MAX_HD	1024

/* the K (kv 0) or V (kv 1) row of every KV head at position p of seq */
/* bytes of @n elements of a cache type (F32, F16 or Q8_0: 34 bytes per 32);
 * inline: the slot of every cached position of every head needs two */
static inline size_t kn_attn_row_bytes(uint32_t type, int64_t n)
{
	return type == KN_F32 ? (size_t)n * 4 : type == KN_F16 ? (size_t)n * 2
						      : (size_t)(n / 32) * 34;
}

/* the bytes of position @p of sequence @seq's K (kv 0) or V (1) row of the layer */
static inline uint8_t *kn_attn_slot(const struct kn_attn_args *a, int32_t seq, int64_t p, int kv)
{
	const int64_t bt = a->block_tokens;
	const int64_t row = a->n_kv_head * a->hd;
	const size_t rk = kn_attn_row_bytes(a->k_type, row), rv = kn_attn_row_bytes(a->v_type, row);
	const int32_t blk = a->block_table[(int64_t)seq * a->max_blocks + p / bt];
	const size_t off = (size_t)a->layer * (size_t)bt * (rk + rv) +
			   (kv ? (size_t)bt * rk + (size_t)(p % bt) * rv : (size_t)(p % bt) * rk);

	return a->cache + (uint64_t)blk * a->block_size + off;
}
/* q.k over hd in ggml_vec_dot_f32's lane order of L lanes (64: AVX-512
 * build, 32: AVX2 build); @avx2: the SIMD code, else its scalar twin; the
 * hd % L leftovers are added by fmaf */
float kn_attn_dot_exact(const float *q, const void *k, int64_t hd, bool f16, bool avx2, int L);
bool kn_attn_types_ok(const struct kn_attn_args *a);
/* the Walsh-Hadamard size llama.cpp rotates a Q8_0 K (kv 0) or V (kv 1)
 * with, 0 for none; the rotation of x (hd) in chunks of n; the query row
 * of (t, h), rotated into buf where K is */
int64_t kn_attn_rot(const struct kn_attn_args *a, int kv);
void kn_attn_fwht(float *x, int64_t hd, int64_t n);
const float *kn_attn_q(const struct kn_attn_args *a, int64_t t, int64_t h, float *buf);
/*
 * llama.cpp's KV view of a sequence decoding position @pos alone: its used
 * cells (pos + 1) padded to 256 (llama_kv_cache::get_n_kv), never below
 * 256; its cache of n_ctx cells (a multiple of 256, > pos) never caps it
 */
static inline int64_t kn_attn_split_nkv(int32_t pos)
{
	const int64_t n = ((int64_t)pos + 256) & ~(int64_t)255;

	return n < 256 ? 256 : n;
}
/* one (token, head) with llama.cpp's flash-attention arithmetic; @cs > 0:
 * its split-KV decode, in chunks of @cs cells of a KV view of @nkv */
void kn_attn_one_flash(const struct kn_attn_args *a, int64_t t, int64_t h, float *work,
		       int64_t cs, int64_t nkv);
/* the same with llama.cpp's tiled kernel (>= 64 query tokens, F16/F32 K and V) */
void kn_attn_one_flash_tiled(const struct kn_attn_args *a, int64_t t, int64_t h, float *work);

/* AVX2 loops of the flash path (kn_attn_avx2.c): elementwise, so the same
 * bits as the scalar loops: y = f16(f32(y) * v); y = f16(fma(f32(x), v, f32(y))) */
void kn_avx2_attn_scale_f16(uint16_t *y, float v, int64_t n);
void kn_avx2_attn_mad_f16(uint16_t *y, const uint16_t *x, float v, int64_t n);
/* AVX-512F + F16C loops (kn_attn_avx512.c) for the elements llama.cpp's
 * AVX512-FP16 build computes in half precision, the scalar loops' bits:
 * y = f16(f32(y) * vh); y = f16(f32(f64(x) * vh + f64(y))), vh an F16 value */
void kn_avx512_attn_scale_f16_hp(uint16_t *y, float vh, int64_t n);
void kn_avx512_attn_mad_f16_hp(uint16_t *y, const uint16_t *x, float vh, int64_t n);
/* kq[tk] = the FMA chain fma(k_tk[i], q[i], acc) over i < hd, from 0, for
 * the n <= 64 F16 rows krows[tk] (8 rows a time, one per lane) */
void kn_avx2_attn_kq_chain(float *kq, const float *q, const uint8_t *const *krows, int n,
			   int64_t hd);
/* lanes[l] = the FMA chain of k[i] * q[i] over i = l, l + W, ... < hd (W 8
 * or 16 lanes; k F16) */
void kn_avx2_attn_dot_lanes(float *lanes, const float *q, const uint16_t *k, int64_t hd, int W);
/* sc[i] = kn_ggml_expf(sc[i] - max), or kn_ggml_expf8 with @exp8; n a multiple of 8 */
void kn_avx2_attn_exp(float *sc, float max, int64_t n, bool exp8);
/* acc[i] = fma(v[i], p, acc[i]) over hd, v F32 or F16 */
void kn_avx2_attn_fma_row(float *acc, float p, const void *v, int64_t hd, bool f16);

#endif /* KN_ATTN_H */
