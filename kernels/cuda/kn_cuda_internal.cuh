/* SPDX-License-Identifier: MIT */
/*
 * kernels/cuda private: the context, error mapping, warp reductions, the
 * type dispatch and the grouped GEMV that MATMUL and MOE_FFN share. Only
 * .cu files include it.
 */
#ifndef KN_CUDA_INTERNAL_CUH
#define KN_CUDA_INTERNAL_CUH

#include <errno.h>
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include "kn_cuda.h"
#include "kn_cuda_quant.cuh"

struct kn_cuda_ctx {
	cudaStream_t stream;
	cublasHandle_t blas;
	void *scratch;		/* device, scratch_size bytes, 256-byte aligned */
	size_t scratch_size;
	int *err;		/* device flag: a kernel met an index out of range */
};

#define KN_CU_WARP	32
#define KN_CU_ERR_INDEX	1

/* a launch's status: -EIO when the launch (or an earlier async error) failed */
static inline int kn_cu_status(void)
{
	return cudaPeekAtLastError() == cudaSuccess ? 0 : -EIO;
}

static inline int kn_cu_blas_status(cublasStatus_t s)
{
	return s == CUBLAS_STATUS_SUCCESS ? 0 : -EIO;
}

static inline unsigned kn_cu_blocks(int64_t n, int per)
{
	return (unsigned)((n + per - 1) / per);
}

/* sum / max over the 32 lanes of a warp (every lane gets the result) */
static __device__ __forceinline__ float kn_cu_warp_sum(float v)
{
#pragma unroll
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

static __device__ __forceinline__ double kn_cu_warp_sum_d(double v)
{
#pragma unroll
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

static __device__ __forceinline__ float kn_cu_warp_max(float v)
{
#pragma unroll
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

/* the type of a template instance, for switch dispatch on a runtime type */
#define KN_CU_FOR_QTYPES(X) \
	X(KN_CU_Q4_0) X(KN_CU_Q4_1) X(KN_CU_Q8_0) X(KN_CU_Q4_K) X(KN_CU_Q5_K) X(KN_CU_Q6_K)
#define KN_CU_FOR_FTYPES(X) X(KN_CU_F32) X(KN_CU_F16) X(KN_CU_BF16)

static inline bool kn_cu_type_matmul(uint32_t t)
{
	switch (t) {
	case KN_CU_F32: case KN_CU_F16: case KN_CU_BF16: case KN_CU_Q4_0: case KN_CU_Q4_1:
	case KN_CU_Q8_0: case KN_CU_Q4_K: case KN_CU_Q5_K: case KN_CU_Q6_K:
		return true;
	default:
		return false;
	}
}

static inline bool kn_cu_type_quantized(uint32_t t)
{
	return kn_cu_type_matmul(t) && kn_cu_block_elems(t) > 1;
}

/* bytes of a row of n elements of t (0: n not a whole number of blocks) */
static inline size_t kn_cu_row_bytes(uint32_t t, int64_t n)
{
	const int be = kn_cu_block_elems(t);

	if (!be || n % be)
		return 0;
	return (size_t)(n / be) * (size_t)kn_cu_block_bytes(t);
}

static inline size_t kn_cu_align(size_t x)
{
	return (x + 255) & ~(size_t)255;
}

/*
 * struct kn_cu_mmv - one (grouped) matrix-vector product: out[col][r] =
 * dot(W_e row r, activation row of col) (+ bias[r]) for the columns of each
 * expert e. Dense MATMUL: one expert, columns 0..n_cols. MOE_FFN: the
 * columns are (token, slot) pairs sorted by expert (cols[start[e]..start[e+1]))
 * and a column's activation row is col / a_div.
 */
struct kn_cu_mmv {
	const uint8_t *w;		/* expert 0's matrix, or the base of @tab's offsets */
	const int64_t *tab;		/* optional [n_exp][3] byte offsets, entry @which */
	int which;
	size_t w_expert_bytes;		/* merged experts: bytes between experts */
	size_t wrs;			/* bytes per W row */
	const void *a;			/* activations: F32 rows, or rows of vec_dot_type */
	size_t ars;			/* bytes per activation row */
	const float *bias;
	float *out;
	int64_t n_in, n_rows, n_cols;	/* n_cols: dense column count (cols NULL) */
	const int32_t *cols;
	const int64_t *start;
	int a_div;
};

/* kn_cuda_matmul.cu: quantize F32 rows to @type (Q8_0/Q8_1/Q8_K) as the CPU does */
int kn_cu_quantize_act(struct kn_cuda_ctx *ctx, uint32_t type, const float *x, void *y,
		       int64_t n_in, int64_t rows);
/* kn_cuda_matmul.cu: the GEMV over @n_exp experts (grid.z) for W of @type */
int kn_cu_mmv_launch(struct kn_cuda_ctx *ctx, uint32_t type, const struct kn_cu_mmv *m,
		     int64_t n_exp);

#endif /* KN_CUDA_INTERNAL_CUH */
