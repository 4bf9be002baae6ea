/* SPDX-License-Identifier: MIT */
/*
 * kernels/cpu private: the ggml block layouts (byte-for-byte those of
 * ggml-common.h), the per-ISA function tables, and the scalar helpers that
 * the scalar (kn_ref_*) and AVX2 (kn_avx2_*) files share. Not installed.
 */
#ifndef KN_INTERNAL_H
#define KN_INTERNAL_H

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "kn.h"

#define KN_QK4_0	32
#define KN_QK4_1	32
#define KN_QK8_0	32
#define KN_QK8_1	32
#define KN_QK_K		256
#define KN_K_SCALE_SIZE	12

typedef struct {
	uint16_t d;		/* fp16 delta */
	uint8_t qs[KN_QK4_0 / 2];	/* nibbles: low = elems 0..15, high = 16..31 */
} kn_block_q4_0;

typedef struct {
	uint16_t d;		/* fp16 delta */
	uint16_t m;		/* fp16 min */
	uint8_t qs[KN_QK4_1 / 2];
} kn_block_q4_1;

typedef struct {
	uint16_t d;
	int8_t qs[KN_QK8_0];
} kn_block_q8_0;

typedef struct {
	uint16_t d;		/* fp16 delta */
	uint16_t s;		/* fp16 d * sum(qs) */
	int8_t qs[KN_QK8_1];
} kn_block_q8_1;

typedef struct {
	uint16_t d;		/* super-block scale for the 6-bit scales */
	uint16_t dmin;		/* super-block scale for the 6-bit mins */
	uint8_t scales[KN_K_SCALE_SIZE];	/* 8 scales + 8 mins, 6 bits each */
	uint8_t qs[KN_QK_K / 2];
} kn_block_q4_K;

typedef struct {
	uint16_t d;
	uint16_t dmin;
	uint8_t scales[KN_K_SCALE_SIZE];
	uint8_t qh[KN_QK_K / 8];	/* 5th bit */
	uint8_t qs[KN_QK_K / 2];	/* low 4 bits */
} kn_block_q5_K;

typedef struct {
	uint8_t ql[KN_QK_K / 2];	/* low 4 bits */
	uint8_t qh[KN_QK_K / 4];	/* high 2 bits */
	int8_t scales[KN_QK_K / 16];	/* 8-bit scales */
	uint16_t d;
} kn_block_q6_K;

typedef struct {
	float d;
	int8_t qs[KN_QK_K];
	int16_t bsums[KN_QK_K / 16];	/* sums of groups of 16 qs */
} kn_block_q8_K;

_Static_assert(sizeof(kn_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(kn_block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(kn_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(kn_block_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(kn_block_q4_K) == 144, "q4_K layout");
_Static_assert(sizeof(kn_block_q5_K) == 176, "q5_K layout");
_Static_assert(sizeof(kn_block_q6_K) == 210, "q6_K layout");
_Static_assert(sizeof(kn_block_q8_K) == 292, "q8_K layout");

typedef void (*kn_quant_fn)(const float *x, void *y, int64_t n);
typedef void (*kn_dequant_fn)(const void *x, float *y, int64_t n);
typedef float (*kn_dot_fn)(int64_t n, const void *w, const void *a);
/* one weight row . 4 activation rows @astride bytes apart, bit-identical to 4 dots */
typedef void (*kn_dot4_fn)(int64_t n, const void *w, const void *a, size_t astride, float *out);
/* 4 weight rows @wstride bytes apart . one activation row, bit-identical to 4 dots */
typedef void (*kn_rows4_fn)(int64_t n, const void *w, size_t wstride, const void *a, float *out);

/*
 * F32 x F32 products of two or more columns in llamafile tinyBLAS's order (up
 * to 4 columns of astride floats); kn_sgemm_fn_get(isa) gives the ISA's,
 * NULL where llama.cpp's build of that ISA has none (the generic build).
 */
typedef void (*kn_sgemm_fn)(int64_t n, const float *w, const float *a, size_t astride, int ncols,
			    float *out);
kn_sgemm_fn kn_avx2_sgemm_get(void);
kn_sgemm_fn kn_avx512_sgemm_get(void);

/** struct kn_type_fns - what one ISA provides for one type (NULL: use scalar) */
struct kn_type_fns {
	kn_quant_fn quant;
	kn_dequant_fn dequant;
	kn_dot_fn dot;		/* weight of this type . activation of kn_vec_dot_type */
	kn_quant_fn act;	/* activation quantizer if it differs from quant */
	kn_dot4_fn dot4;	/* optional 4-column dot */
	kn_rows4_fn rows4;	/* optional 4-row dot (decode) */
	kn_dot4_fn dot8;	/* optional 8-column dot (same shape as dot4, 8 outputs) */
};

/* tables indexed by type; scalar complete for every known type */
extern const struct kn_type_fns kn_ref_fns[KN_TYPE_MAX];
/* the AVX2 table is filled in kn_avx2_fns_get() (in an AVX2-compiled file) */
const struct kn_type_fns *kn_avx2_fns_get(void);
/* the AVX-512 table (kn_dot_avx512.c): NULL entries mean "the AVX2 one" */
const struct kn_type_fns *kn_avx512_fns_get(void);

/* resolve for an ISA: entries the ISA lacks fall back to scalar */
kn_quant_fn kn_quant_fn_get(enum kn_isa isa, uint32_t type);
kn_quant_fn kn_act_fn_get(enum kn_isa isa, uint32_t type);
kn_dequant_fn kn_dequant_fn_get(enum kn_isa isa, uint32_t type);
kn_dot_fn kn_dot_fn_get(enum kn_isa isa, uint32_t type);
kn_dot4_fn kn_dot4_fn_get(enum kn_isa isa, uint32_t type);	/* NULL if none */
kn_rows4_fn kn_rows4_fn_get(enum kn_isa isa, uint32_t type);	/* NULL if none */
kn_dot4_fn kn_dot8_fn_get(enum kn_isa isa, uint32_t type);	/* NULL if none */

/* ggml's round-half-to-even via the 1.5*2^23 trick (|x| < 2^22) */
static inline int kn_nearest_int(float fval)
{
	float val = fval + 12582912.f;
	int32_t i;

	memcpy(&i, &val, sizeof(i));
	return (i & 0x007fffff) - 0x00400000;
}

/* the 6-bit scale and min j (0..7) of a Q4_K/Q5_K block */
/*
 * all 8 of a Q4_K super-block's 6-bit scales and mins at once (ggml's kmask
 * unpacking): bytes 0-7 of @u the scales, 8-15 the mins, as
 * kn_get_scale_min_k4 gives them one by one
 */
static inline void kn_q4_K_scales_mins(const uint8_t *q, uint32_t u[4])
{
	uint32_t m;

	memcpy(u, q, 12);
	u[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
	m = u[1] & 0x3f3f3f3f;
	u[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
	u[2] = m;
	u[0] &= 0x3f3f3f3f;
}

static inline void kn_get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
		*m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
	}
}

/* scalar reference kernels (kn_quant.c, kn_quant_k.c, kn_dot.c) */
void kn_ref_quant_f32(const float *x, void *y, int64_t n);
void kn_ref_dequant_f32(const void *x, float *y, int64_t n);
void kn_ref_quant_f16(const float *x, void *y, int64_t n);
void kn_ref_dequant_f16(const void *x, float *y, int64_t n);
void kn_ref_quant_bf16(const float *x, void *y, int64_t n);
void kn_ref_dequant_bf16(const void *x, float *y, int64_t n);
void kn_ref_quant_q4_0(const float *x, void *y, int64_t n);
void kn_ref_dequant_q4_0(const void *x, float *y, int64_t n);
void kn_ref_quant_q4_1(const float *x, void *y, int64_t n);
void kn_ref_dequant_q4_1(const void *x, float *y, int64_t n);
void kn_ref_quant_q8_0(const float *x, void *y, int64_t n);
void kn_ref_dequant_q8_0(const void *x, float *y, int64_t n);
void kn_ref_quant_q8_1(const float *x, void *y, int64_t n);
void kn_ref_act_q8_0(const float *x, void *y, int64_t n);
void kn_ref_act_q8_1(const float *x, void *y, int64_t n);
void kn_ref_dequant_q8_1(const void *x, float *y, int64_t n);
void kn_ref_quant_q8_K(const float *x, void *y, int64_t n);
void kn_ref_dequant_q8_K(const void *x, float *y, int64_t n);
void kn_ref_quant_q4_K(const float *x, void *y, int64_t n);
void kn_ref_dequant_q4_K(const void *x, float *y, int64_t n);
void kn_ref_quant_q5_K(const float *x, void *y, int64_t n);
void kn_ref_dequant_q5_K(const void *x, float *y, int64_t n);
void kn_ref_quant_q6_K(const float *x, void *y, int64_t n);
void kn_ref_dequant_q6_K(const void *x, float *y, int64_t n);
void kn_ref_dequant_i8(const void *x, float *y, int64_t n);
void kn_ref_dequant_i16(const void *x, float *y, int64_t n);
void kn_ref_dequant_i32(const void *x, float *y, int64_t n);

float kn_ref_dot_f32(int64_t n, const void *w, const void *a);
float kn_ref_dot_f16(int64_t n, const void *w, const void *a);
float kn_ref_dot_bf16(int64_t n, const void *w, const void *a);
float kn_ref_dot_q4_0(int64_t n, const void *w, const void *a);
/* Q4_0 in llama.cpp's repacked-matrix order (kn_dot.c), its AVX2 kernels
 * (kn_q4_0_x8_avx2.c), and whether a matrix takes that order */
float kn_ref_dot_q4_0_x8(int64_t n, const void *w, const void *a);
const struct kn_type_fns *kn_avx2_q4_0_x8_fns(void);
/* its decode on AVX-512 VNNI, 4 rows a call (kn_q4_0_x8_avx512.c) */
void kn_avx512_rows4_q4_0_x8(int64_t n, const void *w, size_t ws, const void *a, float *out);
bool kn_mat_q4_0_x8(uint32_t type, int64_t mat_rows);
/* its decode in 8-row tiles (kn_gemv_q4_0_avx2.c, _avx512.c): rows [r0, r1)
 * + bias; they return the rows done, a multiple of 8 (0 where n_in / 32 >
 * KN_G40_MAXB), the caller does the rest */
#define KN_G40_MAXB	1024	/* blocks of the per-call activation scratch */
int64_t kn_avx2_gemv_q4_0_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			     const float *bias, float *out, int64_t r0, int64_t r1);
int64_t kn_avx512_gemv_q4_0_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			       const float *bias, float *out, int64_t r0, int64_t r1);
/* the same order for many columns at once (kn_gemm_q4_0_avx2.c, _avx512.c):
 * rows [r0, r1) in panels of 8 (16), out [n_cols][n_rows] (+ bias); they
 * return the rows done, a multiple of the panel, the caller does the rest */
int64_t kn_avx2_gemm_q4_0_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			     size_t ars, int64_t n_cols, const float *bias, float *out,
			     int64_t n_rows, int64_t r0, int64_t r1);
/* Q8_0 decode in vec_dot's order, 8-row tiles (kn_gemv_q8_0_avx2.c, _avx512.c):
 * rows [r0, r1) + bias; they return the rows done, a multiple of 8 */
int64_t kn_avx2_gemv_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a,
			  const float *bias, float *out, int64_t r0, int64_t r1);
int64_t kn_avx512_gemv_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a,
			    const float *bias, float *out, int64_t r0, int64_t r1);
/* Q8_0 batches in vec_dot's own order, 4 (2) rows a tile (kn_gemm_q8_0_avx512.c, _avx2.c) */
int64_t kn_avx2_gemm_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			  int64_t r0, int64_t r1);
int64_t kn_avx512_gemm_q8_0(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1);
/* Q4_1 batches in vec_dot's own order (kn_gemm_q4_1_avx2.c, _avx512.c) */
int64_t kn_avx2_gemm_q4_1(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			  int64_t r0, int64_t r1);
int64_t kn_avx512_gemm_q4_1(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1);
/* Q5_K and Q6_K decode (one column), rows [r0, r1) each as vec_dot + bias, read as two
 * streams (kn_avx2_k_gemv in kn_avx2.h; kn_gemv_k_avx2.c, kn_gemv_k_avx512.c) */
void kn_avx2_gemv_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a, const float *bias,
		       float *out, int64_t r0, int64_t r1);
void kn_avx512_gemv_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a,
			 const float *bias, float *out, int64_t r0, int64_t r1);
void kn_avx2_gemv_q5_K(int64_t n_in, const void *w, size_t wrs, const void *a, const float *bias,
		       float *out, int64_t r0, int64_t r1);
void kn_avx512_gemv_q5_K(int64_t n_in, const void *w, size_t wrs, const void *a,
			 const float *bias, float *out, int64_t r0, int64_t r1);
/* Q4_K and Q6_K batches in vec_dot's own order, 2 rows a tile (kn_gemm_q4_K_avx512.c,
 * kn_gemm_q6_K_avx512.c; Q6_K on AVX2 too: kn_gemm_q6_K_avx2.c) */
int64_t kn_avx512_gemm_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1);
int64_t kn_avx2_gemm_q6_K(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			  int64_t r0, int64_t r1);
int64_t kn_avx512_gemm_q4_K(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			    int64_t n_cols, const float *bias, float *out, int64_t n_rows,
			    int64_t r0, int64_t r1);
int64_t kn_avx512_gemm_q4_0_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			       size_t ars, int64_t n_cols, const float *bias, float *out,
			       int64_t n_rows, int64_t r0, int64_t r1);
/* Q4_K in llama.cpp's repacked-matrix orders (kn_dot.c: the gemv's, one fma
 * per super-block; the 4-column gemm's, one per 64 values), whether a matrix
 * takes them, and the AVX2 kernels (kn_q4_K_x8_avx2.c): rows [r0, r1), every
 * column, column c in the gemm's order where gemm[c] */
float kn_ref_dot_q4_K_x8(int64_t n, const void *w, const void *a);
float kn_ref_dot_q4_K_x8g(int64_t n, const void *w, const void *a);
bool kn_mat_q4_K_x8(uint32_t type, int64_t mat_rows);
void kn_avx2_gemm_q4_K_x8(int64_t n_in, const void *w, size_t wrs, const void *a, size_t ars,
			  int64_t n_cols, const uint8_t *gemm, const float *bias, float *out,
			  int64_t n_rows, int64_t r0, int64_t r1);
float kn_avx2_dot_q4_K_x8(int64_t n, const void *w, const void *a);
/* one column in the gemv's order, rows [r0, r1) into out[r] (kn_q4_K_x8_avx2.c,
 * kn_q4_K_x8_avx512.c) */
void kn_avx2_gemv_q4_K_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			  const float *bias, float *out, int64_t r0, int64_t r1);
void kn_avx512_gemv_q4_K_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			    const float *bias, float *out, int64_t r0, int64_t r1);
/* the same for a batch (kn_gemm_q4_K_x8_avx2.c, _avx512.c): panels of 8 (16)
 * rows; they return the rows done, a multiple of the panel, the caller does
 * the rest */
int64_t kn_avx2_gemm_q4_K_x8p(int64_t n_in, const void *w, size_t wrs, const void *a,
			      size_t ars, int64_t n_cols, const uint8_t *gemm, const float *bias,
			      float *out, int64_t n_rows, int64_t r0, int64_t r1);
int64_t kn_avx512_gemm_q4_K_x8(int64_t n_in, const void *w, size_t wrs, const void *a,
			       size_t ars, int64_t n_cols, const uint8_t *gemm, const float *bias,
			       float *out, int64_t n_rows, int64_t r0, int64_t r1);
/*
 * K-quant batches in llama.cpp's tiled order (kn_tiled.c): one output per
 * call, the scalar reference and AVX2's (kn_tiled_avx2.c); whether a matrix
 * takes it (with >= KN_TILED_MIN_COLS columns), and the best dot for an ISA
 */
#define KN_TILED_MIN_COLS	8	/* ggml_tiled_min_batch */
float kn_ref_tiled_q6_K(int64_t n, const void *w, const void *a);
float kn_ref_tiled_q5_K(int64_t n, const void *w, const void *a);
float kn_ref_tiled_q4_K(int64_t n, const void *w, const void *a);
kn_dot_fn kn_avx2_tiled_dot_get(uint32_t type);
kn_dot_fn kn_tiled_dot_get(enum kn_isa isa, uint32_t type);
bool kn_mat_tiled(uint32_t type, int64_t mat_rows);
/* whether column i of n is of a batch of KN_TILED_MIN_COLS or more columns
 * of its sequence, seq[idx[i]] (@idx NULL: seq[i]) */
bool kn_seq_tiled(const int32_t *seq, const int32_t *idx, int64_t n, int64_t i);
/* Q6_K/Q5_K batches in the tiled order (kn_gemm_k_tiled_avx512.c; kn_gemm_q6_K_avx2.c, kn_gemm_q5_K_avx2.c),
 * as the vec_dot-order ones: rows done returned */
int64_t kn_avx2_gemm_q5_K_tiled(int64_t n_in, const void *w, size_t wrs, const void *a,
				size_t ars, int64_t n_cols, const float *bias, float *out,
				int64_t n_rows, int64_t r0, int64_t r1);
int64_t kn_avx512_gemm_q5_K_tiled(int64_t n_in, const void *w, size_t wrs, const void *a,
				  size_t ars, int64_t n_cols, const float *bias, float *out,
				  int64_t n_rows, int64_t r0, int64_t r1);
int64_t kn_avx2_gemm_q6_K_tiled(int64_t n_in, const void *w, size_t wrs, const void *a,
				size_t ars, int64_t n_cols, const float *bias, float *out,
				int64_t n_rows, int64_t r0, int64_t r1);
int64_t kn_avx512_gemm_q6_K_tiled(int64_t n_in, const void *w, size_t wrs, const void *a,
				  size_t ars, int64_t n_cols, const float *bias, float *out,
				  int64_t n_rows, int64_t r0, int64_t r1);
float kn_ref_dot_q4_1(int64_t n, const void *w, const void *a);
float kn_ref_dot_q8_0(int64_t n, const void *w, const void *a);
float kn_ref_dot_q4_K(int64_t n, const void *w, const void *a);
float kn_ref_dot_q5_K(int64_t n, const void *w, const void *a);
float kn_ref_dot_q6_K(int64_t n, const void *w, const void *a);

/* kn_split - the thread's share [*s, *e) of n items, contiguous chunks */
static inline void kn_split(int64_t n, int ith, int nth, int64_t *s, int64_t *e)
{
	int64_t per = nth > 0 ? (n + nth - 1) / nth : n;
	int64_t b = per * ith;

	*s = b < n ? b : n;
	*e = b + per < n ? b + per : n;
}

/*
 * kn_ggml_expf - exp(x) computed as ggml's vectorised ggml_v_expf does in
 * llama.cpp's AVX-512 build (the ARM optimized-routines polynomial, error
 * < 1.5 ulp; FMAs are fused, 2^n applied exactly as vscalefps does). Used
 * where llama.cpp uses it (silu in SWIGLU, softmax chunks) so activations
 * match bit for bit; the AVX2 files have an 8-lane twin.
 */
static inline float kn_ggml_expf(float x)
{
	const float r = 0x1.8p23f;
	const float z = fmaf(x, 0x1.715476p+0f, r);
	const float n = z - r;
	const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));

	if (n != n)
		return n;
	if (fabsf(n) > 192)
		return n <= 0 ? 0.0f : __builtin_inff();
	const float u = b * b;
	const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
				  fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
			     u, fmaf(0x1.ffffecp-1f, b, 1.0f));

	return ldexpf(j, (int)n);
}

static inline uint32_t kn_f2u(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static inline float kn_u2f(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

/*
 * kn_ggml_expf8 - exp(x) as llama.cpp's AVX2 build computes ggml_v_expf, one
 * lane: the same polynomial as kn_ggml_expf, but its linear term is a plain
 * product and 2^n is applied as k + j * k in one FMA, with k built from z's
 * exponent bits; |n| > 126 is rescaled through two factors. Differs from the
 * AVX-512 result by an ulp in ~10% of values, which is enough to change
 * greedy text after a Q8 activation quantization.
 */
static inline float kn_ggml_expf8(float x)
{
	const float r = 0x1.8p23f;
	const float z = fmaf(x, 0x1.715476p+0f, r);
	const float n = z - r;
	const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
	const uint32_t e = kn_f2u(z) << 23;
	const float k = kn_u2f(e + kn_f2u(1.0f));
	const float u = b * b;
	const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
				  fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
			     u, 0x1.ffffecp-1f * b);

	if (!(fabsf(n) > 126.0f))	/* ordered compare: NaN takes this path */
		return fmaf(j, k, k);
	const uint32_t g = n <= 0.0f ? 0x82000000u : 0;
	const float s1 = kn_u2f(g + 0x7f000000u);

	if (fabsf(n) > 192.0f)
		return s1 * s1;
	return fmaf(kn_u2f(e - g), j, kn_u2f(e - g)) * s1;
}

/* ggml_v_silu: x / (1 + expf(-x)) with kn_ggml_expf (AVX-512 build) */
static inline float kn_ggml_silu(float x)
{
	return x / (1.0f + kn_ggml_expf(0.0f - x));
}

/* the same with the AVX2 build's exp */
static inline float kn_ggml_silu8(float x)
{
	return x / (1.0f + kn_ggml_expf8(0.0f - x));
}

/* GCC's _mm512_reduce_add_ps order over 16 lanes (llama.cpp's AVX-512 sums) */
static inline float kn_reduce16(const float *v)
{
	float t8[8], t4[4];

	for (int i = 0; i < 8; i++)
		t8[i] = v[8 + i] + v[i];
	for (int i = 0; i < 4; i++)
		t4[i] = t8[4 + i] + t8[i];
	return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

/* 8 lanes as llama.cpp's AVX2 build sums a register outside vec_dot (its
 * softmax chunks, tinyBLAS's hsum): high half + low half, then pairs */
static inline float kn_reduce8(const float *v)
{
	float t4[4];

	for (int i = 0; i < 4; i++)
		t4[i] = v[4 + i] + v[i];
	return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

/* the generic build's (and every build's row tail): libm expf */
static inline float kn_silu_libm(float x)
{
	return x / (1.0f + expf(-x));
}

static inline float kn_h2f(uint16_t h)
{
	return kn_fp16_to_fp32(h);
}

#endif /* KN_INTERNAL_H */
