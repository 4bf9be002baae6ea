// SPDX-License-Identifier: MIT
/*
 * Row-wise and element-wise ops on the GPU: EMBED, RMSNORM, ROPE, SWIGLU,
 * ADD, and the greedy argmax over logits. Each follows its kernels/cpu twin's
 * arithmetic order where the GPU can (rmsnorm sums squares in double, RoPE
 * builds the angle by repeated float products as ggml's rope cache does);
 * the differences left are libm vs CUDA expf/sinf/cosf and the order of sums.
 */
#include "kn_cuda_internal.cuh"

#define KN_CU_ROW_THREADS	256
#define KN_CU_ROPE_MAX_ROT	1024

/* ------------------------------------------------------------------ EMBED */

template <int T>
__global__ void kn_cu_embed_kernel(float *out, const uint8_t *w, size_t rs, int64_t dim,
				   int64_t n_vocab, const int32_t *ids, int *err)
{
	const int64_t t = blockIdx.x;
	const int32_t id = ids[t];
	float *o = out + t * dim;

	if (id < 0 || id >= n_vocab) {
		if (threadIdx.x == 0)
			atomicOr(err, KN_CU_ERR_INDEX);
		for (int64_t j = threadIdx.x; j < dim; j += blockDim.x)
			o[j] = 0.0f;
		return;
	}
	const uint8_t *row = w + (size_t)id * rs;
	constexpr int be = T == KN_CU_F32 || T == KN_CU_F16 || T == KN_CU_BF16 ? 1
			 : T == KN_CU_Q4_K || T == KN_CU_Q5_K || T == KN_CU_Q6_K ? KN_CU_QK_K : KN_CU_QK;
	const int bb = kn_cu_block_bytes(T);

	for (int64_t j = threadIdx.x; j < dim; j += blockDim.x)
		o[j] = be == 1 ? kn_cu_dequant(T, row, (int)j)
			       : kn_cu_dequant(T, row + (j / be) * bb, (int)(j % be));
}

int kn_cuda_embed(struct kn_cuda_ctx *ctx, float *out, const void *w, uint32_t type, int64_t dim,
		  int64_t n_vocab, const int32_t *ids, int64_t n)
{
	const size_t rs = kn_cu_row_bytes(type, dim);

	if (!ctx || n < 0 || dim <= 0 || n_vocab <= 0 || n > INT32_MAX)
		return -EINVAL;
	if (!kn_cu_type_matmul(type))
		return -EOPNOTSUPP;
	if (!rs)
		return -EINVAL;
	if (!n)
		return 0;
	switch (type) {
#define X(T) case T: kn_cu_embed_kernel<T><<<(unsigned)n, KN_CU_ROW_THREADS, 0, ctx->stream>>>( \
		out, (const uint8_t *)w, rs, dim, n_vocab, ids, ctx->err); break;
	KN_CU_FOR_FTYPES(X)
	KN_CU_FOR_QTYPES(X)
#undef X
	}
	return kn_cu_status();
}

/* ---------------------------------------------------------------- RMSNORM */

/* one block per row: sum of squares (float products, double sum, as the CPU),
 * warp shuffles then one value per warp through shared memory */
__global__ void kn_cu_rmsnorm_kernel(float *out, const float *x, const float *w, int64_t dim,
				     float eps)
{
	__shared__ double part[KN_CU_ROW_THREADS / KN_CU_WARP];
	__shared__ float s_scale;
	const float *xr = x + blockIdx.x * dim;
	float *yr = out + blockIdx.x * dim;
	double sum = 0;

	for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
		sum += (double)__fmul_rn(xr[i], xr[i]);
	sum = kn_cu_warp_sum_d(sum);
	if (threadIdx.x % KN_CU_WARP == 0)
		part[threadIdx.x / KN_CU_WARP] = sum;
	__syncthreads();
	if (threadIdx.x == 0) {
		double s = 0;

		for (int i = 0; i < (int)(blockDim.x / KN_CU_WARP); i++)
			s += part[i];
		const float mean = (float)(s / dim);

		s_scale = 1.0f / sqrtf(__fadd_rn(mean, eps));
	}
	__syncthreads();
	const float scale = s_scale;

	for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
		yr[i] = w ? __fmul_rn(__fmul_rn(xr[i], scale), w[i]) : __fmul_rn(xr[i], scale);
}

int kn_cuda_rmsnorm(struct kn_cuda_ctx *ctx, float *out, const float *x, const float *w,
		    int64_t dim, int64_t rows, float eps)
{
	if (!ctx || dim <= 0 || rows < 0 || rows > INT32_MAX || !(eps >= 0.0f))
		return -EINVAL;
	if (!rows)
		return 0;
	kn_cu_rmsnorm_kernel<<<(unsigned)rows, KN_CU_ROW_THREADS, 0, ctx->stream>>>(out, x, w, dim,
										 eps);
	return kn_cu_status();
}

/* ------------------------------------------------------------------- ROPE */

/*
 * One block per token: thread 0 walks theta *= theta_scale as ggml's rope
 * cache does (a float recurrence, so a closed form would round differently),
 * the block takes cos/sin of each pair's angle, then rotates every head.
 */
__global__ void kn_cu_rope_kernel(float *x, const int32_t *pos, int64_t n_head, int64_t hd,
				  int n_rot, int mode, float theta_scale, float freq_scale,
				  const float *ff)
{
	__shared__ float s_theta[KN_CU_ROPE_MAX_ROT / 2];
	__shared__ float s_cos[KN_CU_ROPE_MAX_ROT / 2], s_sin[KN_CU_ROPE_MAX_ROT / 2];
	const int64_t t = blockIdx.x;
	const int half = n_rot / 2;

	if (threadIdx.x == 0) {
		float theta = (float)pos[t];

		for (int i = 0; i < half; i++) {
			s_theta[i] = theta;
			theta = __fmul_rn(theta, theta_scale);
		}
	}
	__syncthreads();
	for (int i = threadIdx.x; i < half; i += blockDim.x) {
		const float th = __fmul_rn(freq_scale, ff ? __fdiv_rn(s_theta[i], ff[i]) : s_theta[i]);

		s_cos[i] = cosf(th);
		s_sin[i] = sinf(th);
	}
	__syncthreads();
	for (int64_t k = threadIdx.x; k < n_head * half; k += blockDim.x) {
		const int64_t h = k / half;
		const int i = (int)(k % half);
		float *v = x + (t * n_head + h) * hd;
		const int a = mode == 2 ? i : 2 * i, b = mode == 2 ? i + half : 2 * i + 1;
		const float x0 = v[a], x1 = v[b], c = s_cos[i], s = s_sin[i];

		/* the CPU's FMA build: the first product fused */
		v[a] = fmaf(x0, c, -__fmul_rn(x1, s));
		v[b] = fmaf(x0, s, __fmul_rn(x1, c));
	}
}

int kn_cuda_rope(struct kn_cuda_ctx *ctx, float *x, const int32_t *pos, int64_t n, int64_t n_head,
		 int64_t hd, int n_rot, int mode, float freq_base, float freq_scale,
		 const float *freq_factors)
{
	if (!ctx || n < 0 || n > INT32_MAX || n_head <= 0 || hd <= 0 || n_rot <= 0 ||
	    n_rot > hd || n_rot > KN_CU_ROPE_MAX_ROT || (n_rot & 1) || (mode != 0 && mode != 2) ||
	    !(freq_base > 0.0f) || !(freq_scale > 0.0f))
		return -EINVAL;
	if (!n)
		return 0;
	/* powf on the host: the same libm value the CPU's kn_rope uses */
	kn_cu_rope_kernel<<<(unsigned)n, KN_CU_ROW_THREADS, 0, ctx->stream>>>(
		x, pos, n_head, hd, n_rot, mode, powf(freq_base, -2.0f / n_rot), freq_scale,
		freq_factors);
	return kn_cu_status();
}

/* ------------------------------------------------------------ SWIGLU, ADD */

/* 4 elements per thread with 16-byte loads where the pointers allow */
__global__ void kn_cu_swiglu_kernel(float *out, const float *g, const float *u, int64_t n,
				    bool vec)
{
	const int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 4;

	if (vec && i + 4 <= n) {
		const float4 gv = *(const float4 *)(g + i), uv = *(const float4 *)(u + i);
		float4 o;

		o.x = __fmul_rn(__fdiv_rn(gv.x, 1.0f + expf(-gv.x)), uv.x);
		o.y = __fmul_rn(__fdiv_rn(gv.y, 1.0f + expf(-gv.y)), uv.y);
		o.z = __fmul_rn(__fdiv_rn(gv.z, 1.0f + expf(-gv.z)), uv.z);
		o.w = __fmul_rn(__fdiv_rn(gv.w, 1.0f + expf(-gv.w)), uv.w);
		*(float4 *)(out + i) = o;
		return;
	}
	for (int64_t j = i; j < i + 4 && j < n; j++)
		out[j] = __fmul_rn(__fdiv_rn(g[j], 1.0f + expf(-g[j])), u[j]);
}

__global__ void kn_cu_add_kernel(float *out, const float *a, const float *b, int64_t n, bool vec)
{
	const int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 4;

	if (vec && i + 4 <= n) {
		const float4 av = *(const float4 *)(a + i), bv = *(const float4 *)(b + i);

		*(float4 *)(out + i) = make_float4(av.x + bv.x, av.y + bv.y, av.z + bv.z, av.w + bv.w);
		return;
	}
	for (int64_t j = i; j < i + 4 && j < n; j++)
		out[j] = a[j] + b[j];
}

static bool kn_cu_al16(const void *p)
{
	return ((uintptr_t)p & 15) == 0;
}

int kn_cuda_swiglu(struct kn_cuda_ctx *ctx, float *out, const float *gate, const float *up,
		   int64_t n)
{
	if (!ctx || n < 0)
		return -EINVAL;
	if (!n)
		return 0;
	kn_cu_swiglu_kernel<<<kn_cu_blocks((n + 3) / 4, KN_CU_ROW_THREADS), KN_CU_ROW_THREADS, 0,
			      ctx->stream>>>(out, gate, up, n,
					     kn_cu_al16(out) && kn_cu_al16(gate) && kn_cu_al16(up));
	return kn_cu_status();
}

int kn_cuda_add(struct kn_cuda_ctx *ctx, float *out, const float *a, const float *b, int64_t n)
{
	if (!ctx || n < 0)
		return -EINVAL;
	if (!n)
		return 0;
	kn_cu_add_kernel<<<kn_cu_blocks((n + 3) / 4, KN_CU_ROW_THREADS), KN_CU_ROW_THREADS, 0,
			   ctx->stream>>>(out, a, b, n,
					  kn_cu_al16(out) && kn_cu_al16(a) && kn_cu_al16(b));
	return kn_cu_status();
}

/* ----------------------------------------------------------------- ARGMAX */

/* (value, index) pairs: the larger value wins, ties the lower index, NaN never */
static __device__ __forceinline__ void kn_cu_arg_merge(float &v, int &i, float ov, int oi)
{
	if (oi >= 0 && (i < 0 || ov > v || (ov == v && oi < i))) {
		v = ov;
		i = oi;
	}
}

__global__ void kn_cu_argmax_kernel(int32_t *ids, const float *logits, int64_t n_vocab)
{
	__shared__ float sv[KN_CU_ROW_THREADS / KN_CU_WARP];
	__shared__ int si[KN_CU_ROW_THREADS / KN_CU_WARP];
	const float *l = logits + blockIdx.x * n_vocab;
	float v = 0.0f;
	int idx = -1;

	for (int64_t j = threadIdx.x; j < n_vocab; j += blockDim.x) {
		const float x = l[j];

		if (x == x)	/* not NaN */
			kn_cu_arg_merge(v, idx, x, (int)j);
	}
#pragma unroll
	for (int o = 16; o > 0; o >>= 1) {
		const float ov = __shfl_xor_sync(0xffffffffu, v, o);
		const int oi = __shfl_xor_sync(0xffffffffu, idx, o);

		kn_cu_arg_merge(v, idx, ov, oi);
	}
	if (threadIdx.x % KN_CU_WARP == 0) {
		sv[threadIdx.x / KN_CU_WARP] = v;
		si[threadIdx.x / KN_CU_WARP] = idx;
	}
	__syncthreads();
	if (threadIdx.x == 0) {
		for (int w = 1; w < (int)(blockDim.x / KN_CU_WARP); w++)
			kn_cu_arg_merge(v, idx, sv[w], si[w]);
		ids[blockIdx.x] = idx < 0 ? 0 : idx;
	}
}

int kn_cuda_argmax(struct kn_cuda_ctx *ctx, int32_t *ids, const float *logits, int64_t n_vocab,
		   int64_t n)
{
	if (!ctx || n_vocab <= 0 || n_vocab > INT32_MAX || n < 0 || n > INT32_MAX)
		return -EINVAL;
	if (!n)
		return 0;
	kn_cu_argmax_kernel<<<(unsigned)n, KN_CU_ROW_THREADS, 0, ctx->stream>>>(ids, logits, n_vocab);
	return kn_cu_status();
}
