/* SPDX-License-Identifier: MIT */
/*
 * kernels: pure math over pointers, shapes and dtypes; no I/O, no queues.
 * Every op has a plain scalar C reference (kn_ref_*); SIMD versions (AVX2+FMA,
 * files *_avx2.c; AVX-512+VNNI, files *_avx512.c) are chosen at run time by
 * CPU feature and tested against it.
 *
 * dtypes are the ggml type numbers (enum accel_dtype in accel_cmd.h uses the
 * same values) and the block layouts are exactly llama.cpp's.
 */
#ifndef KN_H
#define KN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

enum kn_type {
	KN_F32  = 0,
	KN_F16  = 1,
	KN_Q4_0 = 2,
	KN_Q4_1 = 3,
	KN_Q8_0 = 8,
	KN_Q8_1 = 9,
	KN_Q4_K = 12,
	KN_Q5_K = 13,
	KN_Q6_K = 14,
	KN_Q8_K = 15,
	KN_I8   = 24,
	KN_I16  = 25,
	KN_I32  = 26,
	KN_I64  = 27,
	KN_BF16 = 30,
	KN_TYPE_MAX = 40,
};

enum kn_isa {
	KN_ISA_SCALAR = 0,
	KN_ISA_AVX2   = 1,	/* AVX2 + FMA + F16C */
	KN_ISA_AVX512 = 2,	/* AVX2 set + AVX-512 F/BW/VL + VNNI (files *_avx512.c);
				 * ops it lacks run their AVX2 version */
};

/* ----------------------------------------------------------- type traits */

/** kn_type_known - true for every dtype listed above */
bool kn_type_known(uint32_t type);
const char *kn_type_name(uint32_t type);	/* "q4_K", ... ; "?" if unknown */
/** elements per block (1 for F32/F16/BF16/I*) and bytes per block */
int64_t kn_type_block_elems(uint32_t type);
size_t kn_type_block_bytes(uint32_t type);
/** kn_row_size - bytes of a row of @n elements; 0 if n is not a multiple of the block */
size_t kn_row_size(uint32_t type, int64_t n);
/** kn_type_can_matmul - a weight type MATMUL accepts (F32 F16 BF16 Q4_0 Q4_1 Q8_0 Q4_K Q5_K Q6_K) */
bool kn_type_can_matmul(uint32_t type);
/** kn_type_can_dequantize - kn_dequantize_row supports @type (every known type) */
bool kn_type_can_dequantize(uint32_t type);
/** kn_vec_dot_type - the activation type llama.cpp pairs with a weight type:
 *  F32->F32, F16->F16, BF16->BF16, Q4_0->Q8_0, Q4_1->Q8_1, Q8_0->Q8_0,
 *  Q4_K/Q5_K/Q6_K->Q8_K */
uint32_t kn_vec_dot_type(uint32_t type);

/* --------------------------------------------------------- ISA selection */

/** kn_isa_best - the best ISA this CPU supports */
enum kn_isa kn_isa_best(void);
/** kn_isa_set - force an ISA (tests, benchmarks); returns -ENOTSUP if the CPU lacks it */
int kn_isa_set(enum kn_isa isa);
enum kn_isa kn_isa_get(void);
/** kn_isa_scalar_twins - tests: compute the current ISA's arithmetic (its
 *  exp, lane orders, reductions) through the scalar twins of its SIMD code */
void kn_isa_scalar_twins(bool on);
/** kn_isa_simd - whether the SIMD code runs (AVX2 present, twins not forced) */
bool kn_isa_simd(void);

/* ----------------------------------------------------- quantize / dot */

/** kn_quantize_row - x (F32, n) -> y of @type (activation types and the
 *  weight types Q4_0 Q4_1 Q8_0 Q4_K Q5_K Q6_K F16 BF16, as llama.cpp's
 *  quantize_row_*_ref would); n a multiple of the block. */
int kn_quantize_row(uint32_t type, const float *x, void *y, int64_t n);
/**
 * kn_quantize_act_row - quantize activations for a dot, as llama.cpp's x86
 * CPU backend does (its vec_dot_type from_float): Q8_0 and Q8_1 with
 * d = amax/127, id = 127/amax and round-half-to-even (ggml-cpu x86
 * quantize_row_q8_0/q8_1, which differ from the *_ref rounding); every other
 * type as kn_quantize_row. MATMUL uses this; model writers use kn_quantize_row.
 */
int kn_quantize_act_row(uint32_t type, const float *x, void *y, int64_t n);
int kn_quantize_act_row_isa(enum kn_isa isa, uint32_t type, const float *x, void *y, int64_t n);
/** kn_dequantize_row - x of @type (n elements) -> y F32 */
int kn_dequantize_row(uint32_t type, const void *x, float *y, int64_t n);
/** kn_vec_dot - dot of a weight row @w of @type with an activation row @a of
 *  kn_vec_dot_type(type), n elements, with the current ISA. */
float kn_vec_dot(uint32_t type, int64_t n, const void *w, const void *a);
/**
 * kn_vec_dot_mat - kn_vec_dot of one output of a matrix of @mat_rows rows, as
 * kn_matmul computes it for a batch under 8 columns (8+ K-quant columns of
 * matrices llama.cpp does not repack take the tiled order, kn_tiled.c): the
 * same, except Q4_0 and Q4_K with mat_rows a multiple of 8 on AVX2/AVX-512,
 * which take llama.cpp's order for the matrices its x86 builds repack
 * (kn_q4_0_x8_avx2.c; Q4_K: its gemv's, kn_q4_K_x8_avx2.c, which its
 * MUL_MAT_ID takes for every routed column)
 */
float kn_vec_dot_mat(uint32_t type, int64_t n, const void *w, const void *a, int64_t mat_rows);
/** the same through a given ISA (tests compare SCALAR with AVX2) */
float kn_vec_dot_isa(enum kn_isa isa, uint32_t type, int64_t n, const void *w, const void *a);
int kn_quantize_row_isa(enum kn_isa isa, uint32_t type, const float *x, void *y, int64_t n);
int kn_dequantize_row_isa(enum kn_isa isa, uint32_t type, const void *x, float *y, int64_t n);

/* fp16 / bf16 conversions (IEEE half; bf16 round-to-nearest-even like ggml) */
float kn_fp16_to_fp32(uint16_t h);
uint16_t kn_fp32_to_fp16(float f);
float kn_bf16_to_fp32(uint16_t h);
uint16_t kn_fp32_to_bf16(float f);

#ifdef __cplusplus
}
#endif

#endif /* KN_H */
