// SPDX-License-Identifier: MIT
/*
 * MATMUL / LOGITS on the GPU, and the grouped GEMV that MOE_FFN shares.
 *
 * Decode (<= KN_CUDA_MMV_MAX_COLS columns): the activations are quantized to
 * the weight's vec_dot type with the CPU's quantizer (bit-identical), then one
 * warp per weight row streams the row through shared memory in chunks of 32
 * blocks with 16-byte coalesced loads, each lane takes one block and computes
 * its exact integer dot (dp4a) with the CPU's block scaling; the lanes' floats
 * meet in a warp shuffle. Blocks of 144 and 176 bytes (Q4_K, Q5_K: an even
 * number of words apart, so lanes would collide in the banks) are staged one
 * word apart (an odd stride); the other sizes are already odd or half-word
 * strides and go in contiguously.
 *
 * Prefill: the weights are dequantized to FP16 (BF16 weights used as they
 * are) in row chunks of at most KN_CU_DEQ_CHUNK bytes, the activations
 * converted once, and cuBLAS multiplies with FP32 accumulation; F32 weights
 * go through FP32 SGEMM (no TF32).
 */
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include "kn_cuda_internal.cuh"

#define KN_CU_MMV_WARPS		4	/* rows per block of the GEMV */
#define KN_CU_MMV_NC		4	/* columns per pass over a staged chunk */
#define KN_CU_DEQ_CHUNK		((size_t)64 << 20)	/* dequantized weight tile, bytes */

template <int T> struct kn_cu_qt {
	static constexpr int be = T == KN_CU_Q4_K || T == KN_CU_Q5_K || T == KN_CU_Q6_K ? KN_CU_QK_K
				: T == KN_CU_F32 || T == KN_CU_F16 || T == KN_CU_BF16 ? 1 : KN_CU_QK;
	static constexpr int bs = T == KN_CU_Q4_0 ? 18 : T == KN_CU_Q4_1 ? 20 : T == KN_CU_Q8_0 ? 34
				: T == KN_CU_Q4_K ? 144 : T == KN_CU_Q5_K ? 176 : T == KN_CU_Q6_K ? 210
				: T == KN_CU_F32 ? 4 : 2;
	static constexpr int xt = T == KN_CU_Q4_1 ? KN_CU_Q8_1 : be == KN_CU_QK_K ? KN_CU_Q8_K
				: be == KN_CU_QK ? KN_CU_Q8_0 : T;
	static constexpr int xbs = xt == KN_CU_Q8_1 ? 36 : xt == KN_CU_Q8_K ? 292 : 34;
	/* staged stride: an odd number of words (or a half-word one) per block */
	static constexpr int sbs = bs % 16 == 0 ? bs + 4 : bs;
};

/* ------------------------------------------------ activation quantization */

/*
 * One warp per block, element j on lane j % 32 (coalesced loads and byte
 * stores): the same bytes as kn_cu_act_q8_block / kn_cu_act_q8_K (the CPU's
 * quantizers, kn_cuda_quant.cuh): amax is a max (exact in any order), the
 * sums are integers, and Q8_K's signed maximum is the first element of the
 * largest magnitude, kept by breaking ties on the index.
 */
template <int AT>
__global__ void __launch_bounds__(128) kn_cu_quant_act_kernel(const float *x, uint8_t *y,
							       int64_t n_in, int64_t rows,
							       size_t ars)
{
	constexpr int be = AT == KN_CU_Q8_K ? KN_CU_QK_K : KN_CU_QK;
	constexpr int xbs = AT == KN_CU_Q8_K ? 292 : AT == KN_CU_Q8_1 ? 36 : 34;
	const int lane = threadIdx.x % 32;
	const int64_t nb = n_in / be;
	const int64_t wi = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;

	if (wi >= rows * nb)
		return;
	const int64_t r = wi / nb, b = wi % nb;
	const float *xs = x + r * n_in + b * be;
	uint8_t *p = y + r * ars + b * xbs;

	if (AT != KN_CU_Q8_K) {
		const float v = xs[lane];
		float amax = fmaxf(0.0f, fabsf(v));	/* a NaN counts as 0, as in fmaxf's chain */

		amax = kn_cu_warp_max(amax);
		const float d = amax / 127.f;
		const float id = amax != 0.0f ? 127.f / amax : 0.0f;
		const int q = kn_cu_nearest_int(__fmul_rn(v, id));
		int sum = q;

#pragma unroll
		for (int o = 16; o > 0; o >>= 1)
			sum += __shfl_xor_sync(0xffffffffu, sum, o);
		p[(AT == KN_CU_Q8_1 ? 4 : 2) + lane] = (uint8_t)(int8_t)q;
		if (lane == 0) {
			((uint16_t *)p)[0] = kn_cu_f2h(d);
			if (AT == KN_CU_Q8_1)
				((uint16_t *)p)[1] = kn_cu_f2h(__fmul_rn(d, (float)sum));
		}
		return;
	}
	kn_cu_q8_K *blk = (kn_cu_q8_K *)p;
	float v[8], amax = 0.0f, mx = 0.0f;
	int at = INT32_MAX;

#pragma unroll
	for (int i = 0; i < 8; i++) {
		v[i] = xs[lane + 32 * i];
		if (fabsf(v[i]) > amax) {	/* strict: the first of equal magnitudes */
			amax = fabsf(v[i]);
			mx = v[i];
			at = lane + 32 * i;
		}
	}
#pragma unroll
	for (int o = 16; o > 0; o >>= 1) {
		const float oa = __shfl_xor_sync(0xffffffffu, amax, o);
		const float om = __shfl_xor_sync(0xffffffffu, mx, o);
		const int oi = __shfl_xor_sync(0xffffffffu, at, o);

		if (oa > amax || (oa == amax && oi < at)) {
			amax = oa;
			mx = om;
			at = oi;
		}
	}
	if (!amax) {
		for (int i = 0; i < 8; i++)
			blk->qs[lane + 32 * i] = 0;
		if (lane < 16)
			blk->bsums[lane] = 0;
		if (lane == 0)
			blk->d = 0.0f;
		return;
	}
	const float iscale = -127.f / mx;

#pragma unroll
	for (int i = 0; i < 8; i++) {
		const int q = min(127, kn_cu_nearest_int(__fmul_rn(iscale, v[i])));
		int s = q;

		blk->qs[lane + 32 * i] = (int8_t)q;
		/* group 2i + lane / 16: the 16 lanes of a half warp */
#pragma unroll
		for (int o = 8; o > 0; o >>= 1)
			s += __shfl_xor_sync(0xffffffffu, s, o);
		if (lane % 16 == 0)
			blk->bsums[2 * i + lane / 16] = (int16_t)s;
	}
	if (lane == 0)
		blk->d = 1 / iscale;
}

int kn_cu_quantize_act(struct kn_cuda_ctx *ctx, uint32_t type, const float *x, void *y,
		       int64_t n_in, int64_t rows)
{
	const size_t ars = kn_cu_row_bytes(type, n_in);
	const int64_t blocks = ars ? rows * (n_in / kn_cu_block_elems(type)) : 0;

	if (!ars)
		return -EINVAL;
	if (!blocks)
		return 0;
	if (blocks / 4 >= INT32_MAX)
		return -EINVAL;
	switch (type) {	/* 4 warps per block, a warp per quantization block */
	case KN_CU_Q8_0:
		kn_cu_quant_act_kernel<KN_CU_Q8_0><<<kn_cu_blocks(blocks, 4), 128, 0, ctx->stream>>>(
			x, (uint8_t *)y, n_in, rows, ars);
		break;
	case KN_CU_Q8_1:
		kn_cu_quant_act_kernel<KN_CU_Q8_1><<<kn_cu_blocks(blocks, 4), 128, 0, ctx->stream>>>(
			x, (uint8_t *)y, n_in, rows, ars);
		break;
	case KN_CU_Q8_K:
		kn_cu_quant_act_kernel<KN_CU_Q8_K><<<kn_cu_blocks(blocks, 4), 128, 0, ctx->stream>>>(
			x, (uint8_t *)y, n_in, rows, ars);
		break;
	default:
		return -EINVAL;
	}
	return kn_cu_status();
}

int kn_cuda_quantize_act(struct kn_cuda_ctx *ctx, uint32_t type, const float *x, void *y,
			 int64_t n_in, int64_t rows)
{
	if (!ctx || n_in <= 0 || rows < 0)
		return -EINVAL;
	if (type != KN_CU_Q8_0 && type != KN_CU_Q8_1 && type != KN_CU_Q8_K)
		return -EOPNOTSUPP;
	return kn_cu_quantize_act(ctx, type, x, y, n_in, rows);
}

/* ------------------------------------------------------------------- GEMV */

/* the expert's W and its columns [*c0, *c1) (dense: expert 0, all columns) */
static __device__ __forceinline__ const uint8_t *kn_cu_mmv_expert(const struct kn_cu_mmv &m,
								   int64_t e, int64_t *c0,
								   int64_t *c1)
{
	if (m.cols) {
		*c0 = m.start[e];
		*c1 = m.start[e + 1];
	} else {
		*c0 = 0;
		*c1 = m.n_cols;
	}
	return m.tab ? m.w + m.tab[e * 3 + m.which] : m.w + (size_t)e * m.w_expert_bytes;
}

/*
 * One warp copies @bytes of a weight row into its stage: 16-byte loads when
 * the row allows (consecutive lanes, consecutive 16 bytes: fully coalesced),
 * else 2-byte ones (every block size is even). Blocks land SBS bytes apart.
 */
template <int BS, int SBS>
static __device__ __forceinline__ void kn_cu_mmv_stage(uint8_t *dst, const uint8_t *src,
						       int bytes, bool vec, int lane)
{
	if (vec) {
		const uint4 *s4 = (const uint4 *)src;

		for (int i = lane; i < bytes / 16; i += KN_CU_WARP) {
			const uint4 v = __ldg(s4 + i);

			if (SBS == BS) {
				((uint4 *)dst)[i] = v;
			} else {	/* BS % 16 == 0: a granule never straddles blocks */
				const int off = i * 16;
				uint32_t *d = (uint32_t *)(dst + (off / BS) * SBS + off % BS);

				d[0] = v.x;
				d[1] = v.y;
				d[2] = v.z;
				d[3] = v.w;
			}
		}
	} else {
		const uint16_t *s2 = (const uint16_t *)src;

		for (int i = lane; i < bytes / 2; i += KN_CU_WARP) {
			const int off = i * 2;

			*(uint16_t *)(dst + (off / BS) * SBS + off % BS) = __ldg(s2 + i);
		}
	}
}

template <int T, int NC>
__global__ void __launch_bounds__(KN_CU_WARP * KN_CU_MMV_WARPS)
kn_cu_mmvq_kernel(const struct kn_cu_mmv m)
{
	extern __shared__ __align__(16) uint8_t kn_cu_smem[];
	constexpr int BS = kn_cu_qt<T>::bs, SBS = kn_cu_qt<T>::sbs, XBS = kn_cu_qt<T>::xbs;
	const int lane = threadIdx.x, warp = threadIdx.y;
	const int64_t r = (int64_t)blockIdx.x * KN_CU_MMV_WARPS + warp;
	int64_t c0, c1;
	const uint8_t *we = kn_cu_mmv_expert(m, blockIdx.z, &c0, &c1);

	/* warps work alone (__syncwarp only): an idle one may leave */
	if (r >= m.n_rows || c0 >= c1)
		return;
	const uint8_t *wr = we + r * m.wrs;
	const bool vec = (((uintptr_t)we | m.wrs) & 15) == 0;
	const int nb = (int)(m.n_in / kn_cu_qt<T>::be);
	uint8_t *stage = kn_cu_smem + warp * KN_CU_WARP * SBS;

	for (int64_t g = c0; g < c1; g += NC) {
		const uint8_t *arow[NC];
		int64_t col[NC];
		struct kn_cu_acc acc[NC];

#pragma unroll
		for (int c = 0; c < NC; c++) {
			col[c] = g + c < c1 ? (m.cols ? m.cols[g + c] : g + c) : -1;
			arow[c] = (const uint8_t *)m.a + (col[c] < 0 ? 0 : col[c] / m.a_div) * m.ars;
			kn_cu_acc_init(&acc[c]);
		}
		for (int b0 = 0; b0 < nb; b0 += KN_CU_WARP) {
			const int nblk = min(KN_CU_WARP, nb - b0);

			kn_cu_mmv_stage<BS, SBS>(stage, wr + (size_t)b0 * BS, nblk * BS, vec, lane);
			__syncwarp();
			if (lane < nblk) {
				const uint8_t *wb = stage + lane * SBS;

#pragma unroll
				for (int c = 0; c < NC; c++)
					if (col[c] >= 0)
						kn_cu_dot_block(T, wb, arow[c] + (size_t)(b0 + lane) * XBS,
								&acc[c]);
			}
			__syncwarp();	/* the stage is overwritten next */
		}
#pragma unroll
		for (int c = 0; c < NC; c++) {
			const float v = kn_cu_warp_sum(kn_cu_acc_sum(T, &acc[c]));

			if (lane == 0 && col[c] >= 0)
				m.out[col[c] * m.n_rows + r] = v + (m.bias ? m.bias[r] : 0.0f);
		}
	}
}

/* 16 bytes of weights as 4 (F32) or 8 (F16, BF16) floats */
template <int T>
static __device__ __forceinline__ void kn_cu_unpack16(const uint4 v, float *f)
{
	if (T == KN_CU_F32) {
		f[0] = __uint_as_float(v.x);
		f[1] = __uint_as_float(v.y);
		f[2] = __uint_as_float(v.z);
		f[3] = __uint_as_float(v.w);
	} else {
		const uint32_t u[4] = { v.x, v.y, v.z, v.w };

#pragma unroll
		for (int i = 0; i < 4; i++) {
			f[2 * i] = T == KN_CU_F16 ? kn_cu_h2f((uint16_t)(u[i] & 0xffff))
						  : kn_cu_bf2f((uint16_t)(u[i] & 0xffff));
			f[2 * i + 1] = T == KN_CU_F16 ? kn_cu_h2f((uint16_t)(u[i] >> 16))
						      : kn_cu_bf2f((uint16_t)(u[i] >> 16));
		}
	}
}

/* F32 / F16 / BF16 weights: F32 activations, 16-byte loads of both */
template <int T, int NC>
__global__ void __launch_bounds__(KN_CU_WARP * KN_CU_MMV_WARPS)
kn_cu_mmvf_kernel(const struct kn_cu_mmv m)
{
	constexpr int EPV = T == KN_CU_F32 ? 4 : 8;	/* elements per 16 bytes */
	const int lane = threadIdx.x, warp = threadIdx.y;
	const int64_t r = (int64_t)blockIdx.x * KN_CU_MMV_WARPS + warp;
	int64_t c0, c1;
	const uint8_t *we = kn_cu_mmv_expert(m, blockIdx.z, &c0, &c1);

	if (r >= m.n_rows || c0 >= c1)
		return;
	const uint8_t *wr = we + r * m.wrs;
	const bool vec = (((uintptr_t)we | m.wrs | (uintptr_t)m.a | m.ars) & 15) == 0;
	const int64_t nv = vec ? m.n_in / EPV : 0;

	for (int64_t g = c0; g < c1; g += NC) {
		const float *arow[NC];
		int64_t col[NC];
		float acc[NC];

#pragma unroll
		for (int c = 0; c < NC; c++) {
			col[c] = g + c < c1 ? (m.cols ? m.cols[g + c] : g + c) : -1;
			arow[c] = (const float *)((const uint8_t *)m.a +
						  (col[c] < 0 ? 0 : col[c] / m.a_div) * m.ars);
			acc[c] = 0.0f;
		}
		for (int64_t i = lane; i < nv; i += KN_CU_WARP) {
			float wf[EPV];

			kn_cu_unpack16<T>(__ldg((const uint4 *)wr + i), wf);
#pragma unroll
			for (int c = 0; c < NC; c++) {
				if (col[c] < 0)
					continue;
#pragma unroll
				for (int q = 0; q < EPV; q += 4) {
					const float4 a = __ldg((const float4 *)(arow[c] + i * EPV + q));

					acc[c] = fmaf(wf[q], a.x, acc[c]);
					acc[c] = fmaf(wf[q + 1], a.y, acc[c]);
					acc[c] = fmaf(wf[q + 2], a.z, acc[c]);
					acc[c] = fmaf(wf[q + 3], a.w, acc[c]);
				}
			}
		}
		for (int64_t j = nv * EPV + lane; j < m.n_in; j += KN_CU_WARP) {
			const float w = kn_cu_dequant(T, wr, (int)j);

#pragma unroll
			for (int c = 0; c < NC; c++)
				if (col[c] >= 0)
					acc[c] = fmaf(w, arow[c][j], acc[c]);
		}
#pragma unroll
		for (int c = 0; c < NC; c++) {
			const float v = kn_cu_warp_sum(acc[c]);

			if (lane == 0 && col[c] >= 0)
				m.out[col[c] * m.n_rows + r] = v + (m.bias ? m.bias[r] : 0.0f);
		}
	}
}

template <int T>
static void kn_cu_mmv_go(struct kn_cuda_ctx *ctx, const struct kn_cu_mmv &m, int64_t n_exp)
{
	const dim3 grid(kn_cu_blocks(m.n_rows, KN_CU_MMV_WARPS), 1, (unsigned)n_exp);
	const dim3 block(KN_CU_WARP, KN_CU_MMV_WARPS);
	/* one column alone (decode) needs no room for four accumulators */
	const bool one = !m.cols && m.n_cols == 1;

	if (kn_cu_qt<T>::be == 1) {
		if (one)
			kn_cu_mmvf_kernel<T, 1><<<grid, block, 0, ctx->stream>>>(m);
		else
			kn_cu_mmvf_kernel<T, KN_CU_MMV_NC><<<grid, block, 0, ctx->stream>>>(m);
	} else {
		const size_t smem = (size_t)KN_CU_MMV_WARPS * KN_CU_WARP * kn_cu_qt<T>::sbs;

		if (one)
			kn_cu_mmvq_kernel<T, 1><<<grid, block, smem, ctx->stream>>>(m);
		else
			kn_cu_mmvq_kernel<T, KN_CU_MMV_NC><<<grid, block, smem, ctx->stream>>>(m);
	}
}

int kn_cu_mmv_launch(struct kn_cuda_ctx *ctx, uint32_t type, const struct kn_cu_mmv *m,
		     int64_t n_exp)
{
	if (n_exp <= 0 || n_exp > 65535 || m->n_rows <= 0 || m->n_in <= 0 || m->a_div <= 0)
		return -EINVAL;
	if (m->n_rows / KN_CU_MMV_WARPS >= INT32_MAX)
		return -EINVAL;
	switch (type) {
#define X(T) case T: kn_cu_mmv_go<T>(ctx, *m, n_exp); break;
	KN_CU_FOR_FTYPES(X)
	KN_CU_FOR_QTYPES(X)
#undef X
	default:
		return -EOPNOTSUPP;
	}
	return kn_cu_status();
}

/* ---------------------------------------------------- prefill: cuBLAS GEMM */

template <int T, bool BF>
__global__ void kn_cu_dequant_kernel(void *dst, const uint8_t *w, size_t wrs, int64_t n_in,
				     int64_t n)
{
	constexpr int BE = kn_cu_qt<T>::be, BS = kn_cu_qt<T>::bs;

	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
	     i += (int64_t)gridDim.x * blockDim.x) {
		const int64_t r = i / n_in, j = i % n_in;
		const float v = kn_cu_dequant(T, w + r * wrs + (j / BE) * BS, (int)(j % BE));

		if (BF)
			((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(v);
		else
			((__half *)dst)[i] = __float2half_rn(v);
	}
}

template <bool BF>
__global__ void kn_cu_to16_kernel(void *dst, const float *x, int64_t n)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
	     i += (int64_t)gridDim.x * blockDim.x) {
		if (BF)
			((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(x[i]);
		else
			((__half *)dst)[i] = __float2half_rn(x[i]);
	}
}

__global__ void kn_cu_bias_kernel(float *out, const float *bias, int64_t n_rows, int64_t n)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
	     i += (int64_t)gridDim.x * blockDim.x)
		out[i] += bias[i % n_rows];
}

static unsigned kn_cu_grid_stride(int64_t n)
{
	const int64_t b = (n + 255) / 256;

	return (unsigned)(b < 65536 ? b : 65536);
}

/* rows of the dequantized tile: what KN_CU_DEQ_CHUNK holds, at least 64 */
static int64_t kn_cu_chunk_rows(int64_t n_in, int64_t n_rows)
{
	int64_t r = (int64_t)(KN_CU_DEQ_CHUNK / ((size_t)n_in * 2));

	if (r < 64)
		r = 64;
	return r < n_rows ? r : n_rows;
}

size_t kn_cuda_matmul_scratch(uint32_t type, int64_t n_in, int64_t n_rows, int64_t n_cols)
{
	if (!kn_cu_type_matmul(type) || n_in <= 0 || n_rows <= 0 || n_cols <= 0)
		return 0;
	if (n_cols <= KN_CUDA_MMV_MAX_COLS) {
		if (!kn_cu_type_quantized(type))
			return 0;
		return kn_cu_align((size_t)n_cols * kn_cu_row_bytes(kn_cu_vec_dot_type(type), n_in));
	}
	if (type == KN_CU_F32)
		return 0;
	return kn_cu_align((size_t)n_cols * n_in * 2) +
	       (kn_cu_type_quantized(type) ? (size_t)kn_cu_chunk_rows(n_in, n_rows) * n_in * 2 : 0);
}

static int kn_cu_gemm(struct kn_cuda_ctx *ctx, float *out, const void *w, uint32_t type,
		      const float *x, int64_t n_in, int64_t n_rows, int64_t n_cols)
{
	const float one = 1.0f, zero = 0.0f;
	const bool bf = type == KN_CU_BF16;
	const cudaDataType_t dt = bf ? CUDA_R_16BF : CUDA_R_16F;
	const size_t wrs = kn_cu_row_bytes(type, n_in);
	uint8_t *x16 = (uint8_t *)ctx->scratch;
	uint8_t *w16 = x16 + kn_cu_align((size_t)n_cols * n_in * 2);
	const int64_t cr = kn_cu_chunk_rows(n_in, n_rows);
	int ret;

	if (n_in > INT32_MAX || n_rows > INT32_MAX || n_cols > INT32_MAX)
		return -EINVAL;
	if (type == KN_CU_F32)	/* C (rows x cols, col-major) = W^T X */
		return kn_cu_blas_status(cublasSgemm(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)n_rows,
						     (int)n_cols, (int)n_in, &one, (const float *)w,
						     (int)n_in, x, (int)n_in, &zero, out,
						     (int)n_rows));
	if (ctx->scratch_size < kn_cuda_matmul_scratch(type, n_in, n_rows, n_cols))
		return -ENOMEM;
	if (bf)
		kn_cu_to16_kernel<true><<<kn_cu_grid_stride(n_cols * n_in), 256, 0, ctx->stream>>>(
			x16, x, n_cols * n_in);
	else
		kn_cu_to16_kernel<false><<<kn_cu_grid_stride(n_cols * n_in), 256, 0, ctx->stream>>>(
			x16, x, n_cols * n_in);
	ret = kn_cu_status();
	for (int64_t r0 = 0; !ret && r0 < n_rows; r0 += cr) {
		const int64_t nr = n_rows - r0 < cr ? n_rows - r0 : cr;
		const uint8_t *wt = (const uint8_t *)w + r0 * wrs;

		if (kn_cu_type_quantized(type)) {
			switch (type) {
#define X(T) case T: kn_cu_dequant_kernel<T, false><<<kn_cu_grid_stride(nr * n_in), 256, 0, \
		ctx->stream>>>(w16, wt, wrs, n_in, nr * n_in); break;
			KN_CU_FOR_QTYPES(X)
#undef X
			}
			ret = kn_cu_status();
			wt = w16;
		}
		if (!ret)
			ret = kn_cu_blas_status(cublasGemmEx(
				ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)nr, (int)n_cols, (int)n_in,
				&one, wt, dt, (int)n_in, x16, dt, (int)n_in, &zero, out + r0,
				CUDA_R_32F, (int)n_rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
	}
	return ret;
}

int kn_cuda_matmul_rowinv(struct kn_cuda_ctx *ctx, float *out, const void *w, uint32_t type,
			  const float *x, const float *bias, int64_t n_in, int64_t n_rows,
			  int64_t n_cols)
{
	int ret = 0;

	if (n_cols < 0)
		return -EINVAL;
	/* the activations' quantization (per column) and the GEMV's sums (per
	 * column) are those of a one-column product, whatever the chunk */
	for (int64_t c0 = 0; !ret && c0 < n_cols; c0 += KN_CUDA_MMV_MAX_COLS) {
		const int64_t nc = n_cols - c0 < KN_CUDA_MMV_MAX_COLS ? n_cols - c0
								      : KN_CUDA_MMV_MAX_COLS;

		ret = kn_cuda_matmul(ctx, out + c0 * n_rows, w, type, x + c0 * n_in, bias, n_in,
				     n_rows, nc);
	}
	return ret;
}

int kn_cuda_matmul(struct kn_cuda_ctx *ctx, float *out, const void *w, uint32_t type,
		   const float *x, const float *bias, int64_t n_in, int64_t n_rows,
		   int64_t n_cols)
{
	const uint32_t vt = kn_cu_vec_dot_type(type);
	int ret;

	if (!ctx || n_in <= 0 || n_rows <= 0 || n_cols < 0)
		return -EINVAL;
	if (!kn_cu_type_matmul(type))
		return -EOPNOTSUPP;
	if (!kn_cu_row_bytes(type, n_in) || !kn_cu_row_bytes(vt, n_in))
		return -EINVAL;
	if (!n_cols)
		return 0;
	if (n_cols > KN_CUDA_MMV_MAX_COLS) {
		ret = kn_cu_gemm(ctx, out, w, type, x, n_in, n_rows, n_cols);
		if (!ret && bias) {
			kn_cu_bias_kernel<<<kn_cu_grid_stride(n_rows * n_cols), 256, 0, ctx->stream>>>(
				out, bias, n_rows, n_rows * n_cols);
			ret = kn_cu_status();
		}
		return ret;
	}

	struct kn_cu_mmv m = {};

	m.w = (const uint8_t *)w;
	m.wrs = kn_cu_row_bytes(type, n_in);
	m.bias = bias;
	m.out = out;
	m.n_in = n_in;
	m.n_rows = n_rows;
	m.n_cols = n_cols;
	m.a_div = 1;
	m.a = x;
	m.ars = (size_t)n_in * sizeof(float);
	if (kn_cu_type_quantized(type)) {
		if (ctx->scratch_size < kn_cuda_matmul_scratch(type, n_in, n_rows, n_cols))
			return -ENOMEM;
		ret = kn_cu_quantize_act(ctx, vt, x, ctx->scratch, n_in, n_cols);
		if (ret)
			return ret;
		m.a = ctx->scratch;
		m.ars = kn_cu_row_bytes(vt, n_in);
	}
	return kn_cu_mmv_launch(ctx, type, &m, 1);
}
