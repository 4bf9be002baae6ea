// SPDX-License-Identifier: MIT
/*
 * Mixture of experts on the GPU: MOE_ROUTE (softmax + top-k, one warp per
 * token) and MOE_FFN: the (token, slot) columns are grouped by expert on the
 * device (counts, offsets, scatter; the order inside a group changes no
 * output, each column keeps its own accumulators), then every routed expert's
 * gate, up and down products run as one launch each (grid.z = experts; an
 * expert nobody chose exits at once): for decode the grouped GEMV of
 * kn_cuda_matmul.cu (each staged weight chunk serving KN_CU_MMV_NC columns,
 * the CPU's activation quantization and block integer sums), for prefill a
 * grouped GEMM on tensor cores (below). The slots are summed in slot order,
 * as llama.cpp's ggml_mul + ggml_add chain does.
 */
#include <cuda_fp16.h>
#include <mma.h>
#include "kn_cuda_internal.cuh"

using namespace nvcuda;

#define KN_CU_MOE_MAX_EXP	4096	/* expert counters in shared memory */

/* -------------------------------------------------------------- MOE_ROUTE */

/* one warp per token; lane owns experts lane + 32 i */
__global__ void kn_cu_moe_route_kernel(float *wt, int32_t *ids, const float *logits, int64_t n,
				       int n_exp, int k, bool renorm)
{
	const int lane = threadIdx.x % 32;
	const int64_t t = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;

	if (t >= n)
		return;
	const float *l = logits + t * n_exp;
	float p[8], mx = -INFINITY;
	unsigned taken = 0;
	double sum = 0;

#pragma unroll
	for (int i = 0; i < 8; i++) {
		const int e = lane + 32 * i;

		p[i] = e < n_exp ? l[e] : -INFINITY;
		mx = fmaxf(mx, p[i]);
	}
	mx = kn_cu_warp_max(mx);
#pragma unroll
	for (int i = 0; i < 8; i++) {
		p[i] = lane + 32 * i < n_exp ? expf(p[i] - mx) : 0.0f;
		sum += (double)p[i];
	}
	sum = kn_cu_warp_sum_d(sum);
	const float inv = (float)(1.0 / sum);

#pragma unroll
	for (int i = 0; i < 8; i++)
		p[i] *= inv;
	for (int j = 0; j < k; j++) {
		/* the largest untaken probability; ties to the lower expert index */
		float bv = -1.0f;
		int bi = INT32_MAX;

#pragma unroll
		for (int i = 0; i < 8; i++) {
			const int e = lane + 32 * i;

			if (e < n_exp && !(taken >> i & 1) && (p[i] > bv || (p[i] == bv && e < bi))) {
				bv = p[i];
				bi = e;
			}
		}
#pragma unroll
		for (int o = 16; o > 0; o >>= 1) {
			const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
			const int oi = __shfl_xor_sync(0xffffffffu, bi, o);

			if (ov > bv || (ov == bv && oi < bi)) {
				bv = ov;
				bi = oi;
			}
		}
		if (bi % 32 == lane)
			taken |= 1u << (bi / 32);
		if (lane == 0) {
			ids[t * k + j] = bi;
			wt[t * k + j] = bv;
		}
	}
	if (renorm && lane == 0) {
		double ws = 0;

		for (int j = 0; j < k; j++)
			ws += wt[t * k + j];
		const float wsf = (float)ws;

		for (int j = 0; j < k; j++)
			wt[t * k + j] = wt[t * k + j] / wsf;
	}
}

int kn_cuda_moe_route(struct kn_cuda_ctx *ctx, float *weights, int32_t *ids, const float *logits,
		      int64_t n, int64_t n_exp, int k, bool renorm)
{
	if (!ctx || n < 0 || n_exp <= 0 || n_exp > 256 || k <= 0 || k > n_exp)
		return -EINVAL;
	if (!n)
		return 0;
	kn_cu_moe_route_kernel<<<kn_cu_blocks(n, 4), 128, 0, ctx->stream>>>(weights, ids, logits, n,
									   (int)n_exp, k, renorm);
	return kn_cu_status();
}

/* ---------------------------------------------------------------- MOE_FFN */

/* one block: count the columns of each expert, offsets, scatter; a bad id is
 * flagged and left out (its slot adds nothing) */
__global__ void kn_cu_moe_group_kernel(const int32_t *ids, int64_t nk, int n_exp, int32_t *cols,
				       int64_t *start, int *err)
{
	extern __shared__ int kn_cu_moe_cnt[];
	int *cnt = kn_cu_moe_cnt, *cur = kn_cu_moe_cnt + n_exp;

	for (int e = threadIdx.x; e < n_exp; e += blockDim.x)
		cnt[e] = 0;
	__syncthreads();
	for (int64_t i = threadIdx.x; i < nk; i += blockDim.x) {
		const int32_t e = ids[i];

		if (e >= 0 && e < n_exp)
			atomicAdd(&cnt[e], 1);
		else
			atomicOr(err, KN_CU_ERR_INDEX);
	}
	__syncthreads();
	if (threadIdx.x == 0) {
		int64_t at = 0;

		for (int e = 0; e < n_exp; e++) {
			start[e] = at;
			cur[e] = (int)at;
			at += cnt[e];
		}
		start[n_exp] = at;
	}
	__syncthreads();
	for (int64_t i = threadIdx.x; i < nk; i += blockDim.x) {
		const int32_t e = ids[i];

		if (e >= 0 && e < n_exp)
			cols[atomicAdd(&cur[e], 1)] = (int32_t)i;
	}
}

/* out[t][r] = sum over slots j, in order, of D[t k + j][r] * w[t][j] */
__global__ void kn_cu_moe_sum_kernel(float *out, const float *D, const float *wt,
				     const int32_t *ids, int64_t n, int64_t dim, int k, int n_exp)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n * dim;
	     i += (int64_t)gridDim.x * blockDim.x) {
		const int64_t t = i / dim, r = i % dim;
		float acc = 0.0f;

		for (int j = 0; j < k; j++) {
			const int32_t e = ids[t * k + j];
			const float v = e >= 0 && e < n_exp
					? __fmul_rn(D[(t * k + j) * dim + r], wt[t * k + j]) : 0.0f;

			acc = j ? __fadd_rn(acc, v) : v;
		}
		out[i] = acc;
	}
}

/*
 * Grouped GEMM for prefill (more than KN_CUDA_MMV_MAX_COLS tokens): a block
 * takes 64 rows of one expert's matrix and 64 of that expert's columns;
 * K advances 32 at a time: the weights dequantized into an FP16 tile, the
 * columns' activation rows (F32) gathered and converted into another, both
 * multiplied on tensor cores (WMMA, FP32 accumulation; 4 warps of 32 x 32).
 * Tiles are padded to 40 halves a row (20 words: the 8 rows a fragment load
 * reads fall in distinct banks); the result goes out through a column-major
 * tile so each column's 64 rows are written contiguously.
 */
#define KN_CU_GG_TM	64
#define KN_CU_GG_TN	64
#define KN_CU_GG_TK	32
#define KN_CU_GG_LDA	(KN_CU_GG_TK + 8)
#define KN_CU_GG_LDC	(KN_CU_GG_TM + 4)

template <int T>
__global__ void __launch_bounds__(128) kn_cu_moe_gemm_kernel(const struct kn_cu_mmv m)
{
	constexpr int TM = KN_CU_GG_TM, TN = KN_CU_GG_TN, TK = KN_CU_GG_TK;
	constexpr int LDA = KN_CU_GG_LDA, LDC = KN_CU_GG_LDC;
	constexpr int BE = T == KN_CU_Q4_K || T == KN_CU_Q5_K || T == KN_CU_Q6_K ? KN_CU_QK_K
			 : T == KN_CU_F32 || T == KN_CU_F16 || T == KN_CU_BF16 ? 1 : KN_CU_QK;
	__shared__ __align__(32) __half sW[TM * LDA];
	__shared__ __align__(32) __half sX[TN * LDA];
	__shared__ __align__(32) float sC[TN * LDC];
	__shared__ int sCol[TN];
	const int tid = threadIdx.x, warp = tid / 32;
	const int64_t e = blockIdx.z, r0 = (int64_t)blockIdx.x * TM;
	const int64_t c0 = m.start[e], c1 = m.start[e + 1];
	const int64_t cb = c0 + (int64_t)blockIdx.y * TN;
	const int bb = kn_cu_block_bytes(T);

	if (cb >= c1)	/* the whole block leaves: no barrier passed yet */
		return;
	const uint8_t *we = m.tab ? m.w + m.tab[e * 3 + m.which] : m.w + (size_t)e * m.w_expert_bytes;

	for (int i = tid; i < TN; i += blockDim.x)
		sCol[i] = cb + i < c1 ? m.cols[cb + i] : -1;
	__syncthreads();

	const int wr = (warp / 2) * 32, wc = (warp % 2) * 32;
	wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];

#pragma unroll
	for (int i = 0; i < 2; i++)
#pragma unroll
		for (int j = 0; j < 2; j++)
			wmma::fill_fragment(acc[i][j], 0.0f);
	for (int64_t k0 = 0; k0 < m.n_in; k0 += TK) {
		for (int i = tid; i < TM * TK; i += blockDim.x) {
			const int r = i / TK, k = i % TK;
			const int64_t kg = k0 + k;
			float v = 0.0f;

			if (r0 + r < m.n_rows) {
				const uint8_t *row = we + (r0 + r) * m.wrs;

				v = BE == 1 ? kn_cu_dequant(T, row, (int)kg)
					    : kn_cu_dequant(T, row + (kg / BE) * bb, (int)(kg % BE));
			}
			sW[r * LDA + k] = __float2half_rn(v);
		}
		for (int i = tid; i < TN * TK; i += blockDim.x) {
			const int c = i / TK, k = i % TK, col = sCol[c];
			const float *xr = (const float *)((const uint8_t *)m.a +
							  (col < 0 ? 0 : col / m.a_div) * m.ars);

			sX[c * LDA + k] = __float2half_rn(col < 0 ? 0.0f : xr[k0 + k]);
		}
		__syncthreads();
#pragma unroll
		for (int kk = 0; kk < TK; kk += 16) {
			wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> af[2];
			wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> bf[2];

#pragma unroll
			for (int i = 0; i < 2; i++) {
				wmma::load_matrix_sync(af[i], sW + (wr + 16 * i) * LDA + kk, LDA);
				wmma::load_matrix_sync(bf[i], sX + (wc + 16 * i) * LDA + kk, LDA);
			}
#pragma unroll
			for (int i = 0; i < 2; i++)
#pragma unroll
				for (int j = 0; j < 2; j++)
					wmma::mma_sync(acc[i][j], af[i], bf[j], acc[i][j]);
		}
		__syncthreads();	/* the tiles are refilled next */
	}
	/* column-major: column c's rows at sC[c * LDC ...] */
#pragma unroll
	for (int i = 0; i < 2; i++)
#pragma unroll
		for (int j = 0; j < 2; j++)
			wmma::store_matrix_sync(sC + (wc + 16 * j) * LDC + wr + 16 * i, acc[i][j], LDC,
						wmma::mem_col_major);
	__syncthreads();
	for (int i = tid; i < TM * TN; i += blockDim.x) {
		const int c = i / TM, r = i % TM, col = sCol[c];

		if (col >= 0 && r0 + r < m.n_rows)
			m.out[col * m.n_rows + r0 + r] = sC[c * LDC + r];
	}
}

static int kn_cu_moe_gemm(struct kn_cuda_ctx *ctx, uint32_t type, const struct kn_cu_mmv *m,
			  int64_t n_exp, int64_t nk)
{
	const dim3 grid(kn_cu_blocks(m->n_rows, KN_CU_GG_TM), kn_cu_blocks(nk, KN_CU_GG_TN),
			(unsigned)n_exp);

	if (m->n_rows / KN_CU_GG_TM >= INT32_MAX || nk / KN_CU_GG_TN >= 65535)
		return -EINVAL;
	switch (type) {
#define X(T) case T: kn_cu_moe_gemm_kernel<T><<<grid, 128, 0, ctx->stream>>>(*m); break;
	KN_CU_FOR_FTYPES(X)
	KN_CU_FOR_QTYPES(X)
#undef X
	default:
		return -EOPNOTSUPP;
	}
	return kn_cu_status();
}

struct kn_cu_moe_layout {
	size_t cols, start, xg, xu, g, u, hq, d, total;
};

static bool kn_cu_moe_layout(const struct kn_cuda_moe_args *m, struct kn_cu_moe_layout *L)
{
	const int64_t nk = m->n * m->k;
	const uint32_t vg = kn_cu_vec_dot_type(m->gate_type), vu = kn_cu_vec_dot_type(m->up_type);
	const uint32_t vd = kn_cu_vec_dot_type(m->down_type);
	size_t at = 0;

	if (!kn_cu_row_bytes(vg, m->dim) || !kn_cu_row_bytes(vu, m->dim) ||
	    !kn_cu_row_bytes(vd, m->ff))
		return false;
#define KN_TAKE(f, bytes) do { L->f = at; at += kn_cu_align(bytes); } while (0)
	KN_TAKE(cols, (size_t)nk * 4);
	KN_TAKE(start, (size_t)(m->n_exp + 1) * 8);
	KN_TAKE(xg, vg == KN_CU_F32 ? 0 : (size_t)m->n * kn_cu_row_bytes(vg, m->dim));
	KN_TAKE(xu, vu == KN_CU_F32 || vu == vg ? 0 : (size_t)m->n * kn_cu_row_bytes(vu, m->dim));
	KN_TAKE(g, (size_t)nk * m->ff * 4);
	KN_TAKE(u, (size_t)nk * m->ff * 4);
	KN_TAKE(hq, vd == KN_CU_F32 ? 0 : (size_t)nk * kn_cu_row_bytes(vd, m->ff));
	KN_TAKE(d, (size_t)nk * m->dim * 4);
#undef KN_TAKE
	L->total = at;
	return true;
}

size_t kn_cuda_moe_ffn_scratch(const struct kn_cuda_moe_args *m)
{
	struct kn_cu_moe_layout L;

	if (!m || m->n <= 0 || m->k <= 0 || !kn_cu_moe_layout(m, &L))
		return 0;
	return L.total;
}

int kn_cuda_moe_ffn(struct kn_cuda_ctx *ctx, const struct kn_cuda_moe_args *m)
{
	struct kn_cu_moe_layout L;
	struct kn_cu_mmv g = {}, u, d;
	const int64_t nk = m ? m->n * m->k : 0;
	int ret;

	if (!ctx || !m || m->n < 0 || m->dim <= 0 || m->ff <= 0 || m->k <= 0 || m->k > m->n_exp ||
	    m->n_exp <= 0 || (!m->tab && m->base))
		return -EINVAL;
	if (m->n_exp > KN_CU_MOE_MAX_EXP || !kn_cu_type_matmul(m->gate_type) ||
	    !kn_cu_type_matmul(m->up_type) || !kn_cu_type_matmul(m->down_type))
		return -EOPNOTSUPP;
	if (!kn_cu_row_bytes(m->gate_type, m->dim) || !kn_cu_row_bytes(m->up_type, m->dim) ||
	    !kn_cu_row_bytes(m->down_type, m->ff) || !kn_cu_moe_layout(m, &L))
		return -EINVAL;
	if (!m->n)
		return 0;
	if (ctx->scratch_size < L.total)
		return -ENOMEM;

	uint8_t *sc = (uint8_t *)ctx->scratch;
	const uint32_t vg = kn_cu_vec_dot_type(m->gate_type), vu = kn_cu_vec_dot_type(m->up_type);
	const uint32_t vd = kn_cu_vec_dot_type(m->down_type);
	int32_t *cols = (int32_t *)(sc + L.cols);
	int64_t *start = (int64_t *)(sc + L.start);
	float *G = (float *)(sc + L.g), *U = (float *)(sc + L.u), *D = (float *)(sc + L.d);
	/* prefill: tensor-core tiles over F32 activations; decode: the CPU's quantized dots */
	const bool gemm = m->n > KN_CUDA_MMV_MAX_COLS && m->dim % KN_CU_GG_TK == 0 &&
			  m->ff % KN_CU_GG_TK == 0;

	kn_cu_moe_group_kernel<<<1, 1024, (size_t)m->n_exp * 2 * sizeof(int), ctx->stream>>>(
		m->ids, nk, (int)m->n_exp, cols, start, ctx->err);
	ret = kn_cu_status();
	/* 1: activations of gate (and up, where its dot type differs) */
	if (!ret && !gemm && vg != KN_CU_F32)
		ret = kn_cu_quantize_act(ctx, vg, m->x, sc + L.xg, m->dim, m->n);
	if (!ret && !gemm && vu != KN_CU_F32 && vu != vg)
		ret = kn_cu_quantize_act(ctx, vu, m->x, sc + L.xu, m->dim, m->n);
	if (ret)
		return ret;

	/* 2: gate and up rows of every routed expert, one column per (token, slot) */
	g.w = (const uint8_t *)(m->tab ? m->base : m->gate);
	g.tab = m->tab;
	g.which = 0;
	g.wrs = kn_cu_row_bytes(m->gate_type, m->dim);
	g.w_expert_bytes = g.wrs * m->ff;
	g.a = vg == KN_CU_F32 ? (const void *)m->x : (const void *)(sc + L.xg);
	g.ars = kn_cu_row_bytes(vg, m->dim);
	g.out = G;
	g.n_in = m->dim;
	g.n_rows = m->ff;
	g.cols = cols;
	g.start = start;
	g.a_div = m->k;
	u = g;
	u.w = (const uint8_t *)(m->tab ? m->base : m->up);
	u.which = 1;
	u.wrs = kn_cu_row_bytes(m->up_type, m->dim);
	u.w_expert_bytes = u.wrs * m->ff;
	u.a = vu == KN_CU_F32 ? (const void *)m->x : vu == vg ? g.a : (const void *)(sc + L.xu);
	u.ars = kn_cu_row_bytes(vu, m->dim);
	u.out = U;
	if (gemm) {
		g.a = u.a = m->x;
		g.ars = u.ars = (size_t)m->dim * sizeof(float);
		ret = kn_cu_moe_gemm(ctx, m->gate_type, &g, m->n_exp, nk);
		if (!ret)
			ret = kn_cu_moe_gemm(ctx, m->up_type, &u, m->n_exp, nk);
	} else {
		ret = kn_cu_mmv_launch(ctx, m->gate_type, &g, m->n_exp);
		if (!ret)
			ret = kn_cu_mmv_launch(ctx, m->up_type, &u, m->n_exp);
	}
	/* 3: h = silu(gate) * up, quantized for down (decode) */
	if (!ret)
		ret = kn_cuda_swiglu(ctx, G, G, U, nk * m->ff);
	if (!ret && !gemm && vd != KN_CU_F32)
		ret = kn_cu_quantize_act(ctx, vd, G, sc + L.hq, m->ff, nk);
	if (ret)
		return ret;

	/* 4: down rows; a column's activation row is the column itself */
	d = g;
	d.w = (const uint8_t *)(m->tab ? m->base : m->down);
	d.which = 2;
	d.wrs = kn_cu_row_bytes(m->down_type, m->ff);
	d.w_expert_bytes = d.wrs * m->dim;
	d.a = vd == KN_CU_F32 ? (const void *)G : (const void *)(sc + L.hq);
	d.ars = kn_cu_row_bytes(vd, m->ff);
	d.out = D;
	d.n_in = m->ff;
	d.n_rows = m->dim;
	d.a_div = 1;
	if (gemm) {
		d.a = G;
		d.ars = (size_t)m->ff * sizeof(float);
		ret = kn_cu_moe_gemm(ctx, m->down_type, &d, m->n_exp, nk);
	} else {
		ret = kn_cu_mmv_launch(ctx, m->down_type, &d, m->n_exp);
	}
	if (ret)
		return ret;

	/* 5: the weighted sum over slots */
	const int64_t tot = m->n * m->dim;

	kn_cu_moe_sum_kernel<<<(unsigned)(tot / 256 + 1 < 65536 ? tot / 256 + 1 : 65536), 256, 0,
			       ctx->stream>>>(m->out, D, m->weights, m->ids, m->n, m->dim, m->k,
					      (int)m->n_exp);
	return kn_cu_status();
}
