// SPDX-License-Identifier: MIT
/*
 * ATTN_PREFILL and ATTN_DECODE on the GPU over the paged KV cache (layout in
 * accel_cmd.h): a store kernel writes this step's K/V into their blocks, then
 *  - prefill, hd 64/128: FlashAttention-2 tiles (64 query rows x 64 keys,
 *    one warp per 16 rows) on FP16 tensor cores (WMMA), online softmax in
 *    FP32, the output accumulator in shared memory; K/V tiles gathered from
 *    their blocks with 16-byte loads. GQA: query head h reads KV head
 *    h / (n_head / n_kv_head), and a tile's rows are (token, head) pairs of
 *    one KV head's group, so each K/V tile is loaded once for the group. A
 *    tile may hold tokens of several sequences: it runs once per sequence,
 *    masking the others' rows.
 *  - decode (and prefill of other head dims): paged attention split over
 *    the sequence (KN_CU_ATTN_SPLIT positions per block), one warp per key
 *    with coalesced row loads, online softmax per warp, the splits combined
 *    in a second kernel.
 * Shared-memory tiles are padded so that the WMMA loads and the softmax's
 * lane pattern (8 rows x 4 interleaved columns per warp) are conflict free.
 */
#include <cuda_fp16.h>
#include <mma.h>
#include "kn_cuda_internal.cuh"

#define KN_CU_ATTN_SPLIT	256	/* positions per split of the paged kernel */
#define KN_CU_ATTN_MAX_SPLIT	64
#define KN_CU_ATTN_MAX_HD	256

struct kn_cu_attn_p {
	float *out;
	const float *q, *k, *v;
	uint8_t *cache;
	uint64_t block_size;
	const int32_t *bt;
	int64_t max_blocks, n_seq, cache_blocks;
	const int32_t *pos, *seq;
	int64_t n, n_head, n_kv_head, hd;
	int layer, btok;
	bool f16;
	float scale;
	int *err;
};

/* the block of (seq, position) p, or -1 (and the error flag) if out of range */
static __device__ __forceinline__ int64_t kn_cu_attn_block(const kn_cu_attn_p &a, int32_t s,
							   int64_t p)
{
	if (s < 0 || s >= a.n_seq || p < 0 || p / a.btok >= a.max_blocks) {
		atomicOr(a.err, KN_CU_ERR_INDEX);
		return -1;
	}
	const int32_t b = a.bt[(int64_t)s * a.max_blocks + p / a.btok];

	if (b < 0 || b >= a.cache_blocks) {
		atomicOr(a.err, KN_CU_ERR_INDEX);
		return -1;
	}
	return b;
}

/* byte address of element 0 of (block b, position p, K or V, kv head 0) */
static __device__ __forceinline__ uint8_t *kn_cu_attn_row(const kn_cu_attn_p &a, int64_t b,
							  int64_t p, int kv)
{
	const int64_t row = a.n_kv_head * a.hd;
	const int64_t elem = (((int64_t)a.layer * 2 + kv) * a.btok + p % a.btok) * row;

	return a.cache + (uint64_t)b * a.block_size + (size_t)elem * (a.f16 ? 2 : 4);
}

/* ------------------------------------------------------------ store K/V */

__global__ void kn_cu_attn_store_kernel(const kn_cu_attn_p a)
{
	const int64_t t = blockIdx.x, row = a.n_kv_head * a.hd;
	const int64_t b = kn_cu_attn_block(a, a.seq[t], a.pos[t]);

	if (b < 0)
		return;
	for (int kv = 0; kv < 2; kv++) {
		const float *src = (kv ? a.v : a.k) + t * row;
		uint8_t *dst = kn_cu_attn_row(a, b, a.pos[t], kv);

		for (int64_t i = threadIdx.x; i < row; i += blockDim.x) {
			if (a.f16)
				((uint16_t *)dst)[i] = kn_cu_f2h(src[i]);
			else
				((float *)dst)[i] = src[i];
		}
	}
}

/* ------------------------------------------------- paged, split over keys */

static __device__ __forceinline__ float kn_cu_cache_elem(const uint8_t *row, int64_t d, bool f16)
{
	return f16 ? __half2float(((const __half *)row)[d]) : ((const float *)row)[d];
}

/* grid (n_head, n, splits), 4 warps; lane holds dims lane + 32 i of q and acc */
template <int KD>
__global__ void __launch_bounds__(128) kn_cu_attn_split_kernel(const kn_cu_attn_p a, float *part,
								int split_len, int64_t t_base)
{
	__shared__ float s_m[4], s_l[4], s_acc[4][32 * KD];
	const int h = blockIdx.x, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	const int64_t t = t_base + blockIdx.y, group = a.n_head / a.n_kv_head, kvh = h / group;
	const int32_t s = a.seq[t];
	const int64_t npos = (int64_t)a.pos[t] + 1;
	const int64_t p0 = (int64_t)blockIdx.z * split_len;
	const int64_t p1 = min(npos, p0 + split_len);
	float qv[KD], acc[KD], m = -INFINITY, l = 0.0f;

#pragma unroll
	for (int i = 0; i < KD; i++) {
		const int64_t d = lane + 32 * i;

		qv[i] = d < a.hd ? a.q[(t * a.n_head + h) * a.hd + d] : 0.0f;
		acc[i] = 0.0f;
	}
	for (int64_t p = p0 + warp; p < p1; p += 4) {
		const int64_t b = kn_cu_attn_block(a, s, p);

		if (b < 0)
			continue;
		const size_t off = (size_t)(kvh * a.hd) * (a.f16 ? 2 : 4);
		const uint8_t *kr = kn_cu_attn_row(a, b, p, 0) + off;
		const uint8_t *vr = kn_cu_attn_row(a, b, p, 1) + off;
		float sc = 0.0f;

#pragma unroll
		for (int i = 0; i < KD; i++) {
			const int64_t d = lane + 32 * i;

			if (d < a.hd)
				sc = fmaf(qv[i], kn_cu_cache_elem(kr, d, a.f16), sc);
		}
		sc = kn_cu_warp_sum(sc) * a.scale;
		const float mn = fmaxf(m, sc);
		const float corr = expf(m - mn);	/* 0 while m is -inf */
		const float pw = expf(sc - mn);

		l = l * corr + pw;
#pragma unroll
		for (int i = 0; i < KD; i++) {
			const int64_t d = lane + 32 * i;

			acc[i] = acc[i] * corr + (d < a.hd ? pw * kn_cu_cache_elem(vr, d, a.f16) : 0.0f);
		}
		m = mn;
	}
	if (lane == 0) {
		s_m[warp] = m;
		s_l[warp] = l;
	}
#pragma unroll
	for (int i = 0; i < KD; i++)
		s_acc[warp][lane + 32 * i] = acc[i];
	__syncthreads();
	if (warp)
		return;
	float mx = -INFINITY, ls = 0.0f;

	for (int w = 0; w < 4; w++)
		mx = fmaxf(mx, s_m[w]);
	float f[4];

	for (int w = 0; w < 4; w++) {
		f[w] = s_m[w] == -INFINITY ? 0.0f : expf(s_m[w] - mx);
		ls += s_l[w] * f[w];
	}
	if (gridDim.z == 1) {	/* one split: the output directly */
		float *o = a.out + (t * a.n_head + h) * a.hd;

		for (int64_t d = lane; d < a.hd; d += 32) {
			float v = 0.0f;

			for (int w = 0; w < 4; w++)
				v += s_acc[w][d] * f[w];
			o[d] = ls > 0.0f ? v / ls : 0.0f;
		}
		return;
	}
	float *pp = part + ((t * a.n_head + h) * gridDim.z + blockIdx.z) * (a.hd + 2);

	for (int64_t d = lane; d < a.hd; d += 32) {
		float v = 0.0f;

		for (int w = 0; w < 4; w++)
			v += s_acc[w][d] * f[w];
		pp[2 + d] = v;
	}
	if (lane == 0) {
		pp[0] = mx;
		pp[1] = ls;
	}
}

/* grid (n_head, n): the splits' (max, sum, acc) merged into the output */
__global__ void kn_cu_attn_combine_kernel(const kn_cu_attn_p a, const float *part, int n_split,
					  int64_t t_base)
{
	const int64_t h = blockIdx.x, t = t_base + blockIdx.y;
	const float *pp = part + (t * a.n_head + h) * n_split * (a.hd + 2);
	float mx = -INFINITY;

	for (int sp = 0; sp < n_split; sp++)
		mx = fmaxf(mx, pp[sp * (a.hd + 2)]);
	for (int64_t d = threadIdx.x; d < a.hd; d += blockDim.x) {
		float v = 0.0f, ls = 0.0f;

		for (int sp = 0; sp < n_split; sp++) {
			const float *q = pp + sp * (a.hd + 2);
			const float f = q[0] == -INFINITY ? 0.0f : expf(q[0] - mx);

			ls += q[1] * f;
			v += q[2 + d] * f;
		}
		a.out[(t * a.n_head + h) * a.hd + d] = ls > 0.0f ? v / ls : 0.0f;
	}
}

/* ---------------------------------------------- FlashAttention-2 prefill */

using namespace nvcuda;

template <int HD> struct kn_cu_fa {
	static constexpr int BR = 64, BC = 64;	/* query rows, keys per tile */
	static constexpr int LDH = HD + 8;	/* halves per Q/K/V row (16-byte skew) */
	static constexpr int LDS = BC + 4;	/* floats per score row */
	static constexpr int LDP = BC + 8;	/* halves per probability row */
	static constexpr int LDO = HD + 4;	/* floats per output row */
	static constexpr size_t q_off = 0;
	static constexpr size_t k_off = q_off + (size_t)BR * LDH * 2;
	static constexpr size_t v_off = k_off + (size_t)BC * LDH * 2;
	static constexpr size_t s_off = v_off + (size_t)BC * LDH * 2;
	static constexpr size_t p_off = s_off + (size_t)BR * LDS * 4;
	static constexpr size_t o_off = p_off + (size_t)BR * LDP * 2;
	static constexpr size_t meta_off = o_off + (size_t)BR * LDO * 4;
	/* m, l (float), pos, seq, done (int) per row; key validity; the current sequence */
	static constexpr size_t smem = meta_off + (size_t)BR * 5 * 4 + BC * 4 + 2 * 4;
	static_assert(k_off % 32 == 0 && v_off % 32 == 0 && s_off % 32 == 0 && p_off % 32 == 0 &&
		      o_off % 32 == 0 && meta_off % 32 == 0, "WMMA tiles need 256-bit alignment");
};

/* 8 consecutive cache elements (16-byte aligned) as 8 halves */
static __device__ __forceinline__ uint4 kn_cu_load8h(const uint8_t *p, bool f16)
{
	if (f16)
		return *(const uint4 *)p;
	const float4 a = *(const float4 *)p, b = *(const float4 *)(p + 16);
	const __half2 h0 = __floats2half2_rn(a.x, a.y), h1 = __floats2half2_rn(a.z, a.w);
	const __half2 h2 = __floats2half2_rn(b.x, b.y), h3 = __floats2half2_rn(b.z, b.w);
	uint4 r;

	r.x = *(const uint32_t *)&h0;
	r.y = *(const uint32_t *)&h1;
	r.z = *(const uint32_t *)&h2;
	r.w = *(const uint32_t *)&h3;
	return r;
}

/*
 * grid (row tiles, n_kv_head), 4 warps: warp w owns rows 16w..16w+15. A row
 * is a (token, query head of this KV head's group) pair, the group's heads
 * next to each other, so one K/V tile serves the whole GQA group.
 */
template <int HD>
__global__ void __launch_bounds__(128) kn_cu_fa_kernel(const kn_cu_attn_p a)
{
	typedef kn_cu_fa<HD> F;
	constexpr int BR = F::BR, BC = F::BC, LDH = F::LDH, LDS = F::LDS, LDP = F::LDP, LDO = F::LDO;
	extern __shared__ __align__(128) uint8_t sm[];
	__half *sQ = (__half *)(sm + F::q_off), *sK = (__half *)(sm + F::k_off);
	__half *sV = (__half *)(sm + F::v_off), *sP = (__half *)(sm + F::p_off);
	float *sS = (float *)(sm + F::s_off), *sO = (float *)(sm + F::o_off);
	float *sM = (float *)(sm + F::meta_off), *sL = sM + BR;
	int *sPos = (int *)(sL + BR), *sSeq = sPos + BR, *sDone = sSeq + BR, *sKok = sDone + BR;
	int *sCur = sKok + BC;
	const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
	const int64_t kvh = blockIdx.y, group = a.n_head / a.n_kv_head;
	const int64_t g0 = (int64_t)blockIdx.x * BR;	/* first row: token g0 / group */
	const size_t esz = a.f16 ? 2 : 4;

	for (int i = tid; i < BR * HD; i += blockDim.x) {
		const int r = i / HD, d = i % HD;
		const int64_t t = (g0 + r) / group, h = kvh * group + (g0 + r) % group;

		sQ[r * LDH + d] = __float2half_rn(t < a.n ? a.q[(t * a.n_head + h) * HD + d] : 0.0f);
	}
	for (int i = tid; i < BR * LDO; i += blockDim.x)
		sO[i] = 0.0f;
	for (int r = tid; r < BR; r += blockDim.x) {
		const int64_t t = (g0 + r) / group;
		bool ok = t < a.n;

		sPos[r] = ok ? a.pos[t] : -1;
		sSeq[r] = ok ? a.seq[t] : -1;
		if (ok && kn_cu_attn_block(a, sSeq[r], sPos[r]) < 0)
			ok = false;	/* flagged; its output stays zero */
		sDone[r] = !ok;
		sM[r] = -INFINITY;
		sL[r] = 0.0f;
	}
	__syncthreads();
	for (;;) {
		if (tid == 0) {	/* the next sequence in the tile and its last position */
			int s = -1, mp = -1;

			for (int r = 0; r < BR; r++) {
				if (sDone[r])
					continue;
				if (s < 0)
					s = sSeq[r];
				if (sSeq[r] == s && sPos[r] > mp)
					mp = sPos[r];
			}
			sCur[0] = s;
			sCur[1] = mp;
		}
		__syncthreads();
		const int s = sCur[0], maxp = sCur[1];

		if (s < 0)
			break;
		for (int kv0 = 0; kv0 <= maxp; kv0 += BC) {
			/* gather K and V rows kv0.. of sequence s, 8 elements per load */
			for (int i = tid; i < BC * (HD / 8); i += blockDim.x) {
				const int j = i / (HD / 8), c = i % (HD / 8);
				const int p = kv0 + j;
				const int64_t b = p <= maxp ? kn_cu_attn_block(a, s, p) : -1;
				uint4 kx = make_uint4(0, 0, 0, 0), vx = kx;

				if (b >= 0) {
					const size_t off = (size_t)(kvh * HD + c * 8) * esz;

					kx = kn_cu_load8h(kn_cu_attn_row(a, b, p, 0) + off, a.f16);
					vx = kn_cu_load8h(kn_cu_attn_row(a, b, p, 1) + off, a.f16);
				}
				*(uint4 *)(sK + j * LDH + c * 8) = kx;
				*(uint4 *)(sV + j * LDH + c * 8) = vx;
				if (c == 0)
					sKok[j] = b >= 0;
			}
			__syncthreads();

			/* S = Q K^T for this warp's 16 rows */
			for (int nt = 0; nt < BC / 16; nt++) {
				wmma::fragment<wmma::accumulator, 16, 16, 16, float> cf;

				wmma::fill_fragment(cf, 0.0f);
#pragma unroll
				for (int kk = 0; kk < HD / 16; kk++) {
					wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> af;
					wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> bf;

					wmma::load_matrix_sync(af, sQ + warp * 16 * LDH + kk * 16, LDH);
					wmma::load_matrix_sync(bf, sK + nt * 16 * LDH + kk * 16, LDH);
					wmma::mma_sync(cf, af, bf, cf);
				}
				wmma::store_matrix_sync(sS + warp * 16 * LDS + nt * 16, cf, LDS,
							wmma::mem_row_major);
			}
			__syncwarp();

			/* online softmax: lane = 8 rows x 4 column phases, columns 4c + q */
			for (int half = 0; half < 2; half++) {
				const int r = warp * 16 + half * 8 + lane / 4, q = lane % 4;
				const bool mine = !sDone[r] && sSeq[r] == s;
				const float mold = sM[r];
				float mx = -INFINITY, sum = 0.0f;

				for (int c = 0; c < BC / 4; c++) {
					const int j = 4 * c + q;
					const bool ok = mine && sKok[j] && kv0 + j <= sPos[r];
					const float v = ok ? sS[r * LDS + j] * a.scale : -INFINITY;

					sS[r * LDS + j] = v;
					mx = fmaxf(mx, v);
				}
				mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
				mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
				const float mn = fmaxf(mold, mx);
				const float corr = mn == -INFINITY ? 1.0f : expf(mold - mn);

				for (int c = 0; c < BC / 4; c++) {
					const int j = 4 * c + q;
					const float v = sS[r * LDS + j];
					const float pv = v == -INFINITY ? 0.0f : expf(v - mn);

					sP[r * LDP + j] = __float2half_rn(pv);
					sum += pv;
				}
				sum += __shfl_xor_sync(0xffffffffu, sum, 1);
				sum += __shfl_xor_sync(0xffffffffu, sum, 2);
				if (corr != 1.0f)
					for (int c = 0; c < HD / 4; c++)
						sO[r * LDO + 4 * c + q] *= corr;
				if (q == 0) {
					sM[r] = mn;
					sL[r] = sL[r] * corr + sum;
				}
			}
			__syncwarp();

			/* O += P V for this warp's 16 rows (the accumulator lives in sO) */
			for (int nt = 0; nt < HD / 16; nt++) {
				wmma::fragment<wmma::accumulator, 16, 16, 16, float> of;

				wmma::load_matrix_sync(of, sO + warp * 16 * LDO + nt * 16, LDO,
						       wmma::mem_row_major);
#pragma unroll
				for (int kk = 0; kk < BC / 16; kk++) {
					wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> pf;
					wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> vf;

					wmma::load_matrix_sync(pf, sP + warp * 16 * LDP + kk * 16, LDP);
					wmma::load_matrix_sync(vf, sV + kk * 16 * LDH + nt * 16, LDH);
					wmma::mma_sync(of, pf, vf, of);
				}
				wmma::store_matrix_sync(sO + warp * 16 * LDO + nt * 16, of, LDO,
							wmma::mem_row_major);
			}
			__syncthreads();	/* sK, sV are refilled next */
		}
		for (int r = tid; r < BR; r += blockDim.x)
			if (sSeq[r] == s)
				sDone[r] = 1;
		__syncthreads();
	}
	for (int i = tid; i < BR * HD; i += blockDim.x) {
		const int r = i / HD, d = i % HD;
		const int64_t t = (g0 + r) / group, h = kvh * group + (g0 + r) % group;

		if (t < a.n)
			a.out[(t * a.n_head + h) * HD + d] = sL[r] > 0.0f ? sO[r * LDO + d] / sL[r] : 0.0f;
	}
}

/* ------------------------------------------------------------------ entry */

static int kn_cu_attn_splits(const struct kn_attn_args *a, int *split_len)
{
	const int64_t cap = a->max_blocks * a->block_tokens;
	int64_t ns = (cap + KN_CU_ATTN_SPLIT - 1) / KN_CU_ATTN_SPLIT;

	if (ns < 1)
		ns = 1;
	if (ns > KN_CU_ATTN_MAX_SPLIT)
		ns = KN_CU_ATTN_MAX_SPLIT;
	*split_len = (int)((cap + ns - 1) / ns);
	return (int)ns;
}

static bool kn_cu_fa_ok(const struct kn_attn_args *a)
{
	/* 16-byte loads of 8 elements: aligned blocks, rows and heads */
	return (a->hd == 64 || a->hd == 128) && ((uintptr_t)a->cache & 15) == 0 &&
	       a->block_size % 16 == 0;
}

size_t kn_cuda_attn_scratch(const struct kn_attn_args *a, bool prefill)
{
	int len, ns;

	if (!a || a->n <= 0 || a->hd <= 0)
		return 0;
	/* row-invariant: every query as a decode step computes it (the split
	 * kernel's arithmetic depends on the model's cap, never on the batch) */
	if (prefill && !a->row_invariant && kn_cu_fa_ok(a))
		return 0;
	ns = kn_cu_attn_splits(a, &len);
	if (ns == 1)
		return 0;
	return kn_cu_align((size_t)a->n * a->n_head * ns * (a->hd + 2) * sizeof(float));
}

template <int HD>
static int kn_cu_fa_launch(struct kn_cuda_ctx *ctx, const kn_cu_attn_p &p)
{
	const size_t smem = kn_cu_fa<HD>::smem;

	if (cudaFuncSetAttribute(kn_cu_fa_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
				 (int)smem) != cudaSuccess)
		return -EIO;
	kn_cu_fa_kernel<HD><<<dim3(kn_cu_blocks(p.n * (p.n_head / p.n_kv_head), kn_cu_fa<HD>::BR),
				   (unsigned)p.n_kv_head), 128,
			      smem, ctx->stream>>>(p);
	return kn_cu_status();
}

int kn_cuda_attn(struct kn_cuda_ctx *ctx, const struct kn_attn_args *a, int64_t n_seq,
		 int64_t cache_blocks, bool prefill)
{
	struct kn_cu_attn_p p;
	int len, ns, ret;

	if (!ctx || !a || a->n < 0 || a->n_head <= 0 || a->n_kv_head <= 0 || a->hd <= 0 ||
	    a->n_head % a->n_kv_head || a->block_tokens <= 0 || a->layer < 0 ||
	    a->layer >= a->n_layer || n_seq <= 0 || cache_blocks <= 0 || a->max_blocks <= 0)
		return -EINVAL;
	/* F32 or F16 caches, K and V of one type; Q8_0 caches are CPU-only so far */
	if ((a->k_type != KN_CU_F32 && a->k_type != KN_CU_F16) || a->v_type != a->k_type)
		return -EOPNOTSUPP;
	if (a->hd > KN_CU_ATTN_MAX_HD)
		return -EOPNOTSUPP;
	if (a->n > INT32_MAX || a->n_head > 65535 ||
	    a->n * (a->n_head / a->n_kv_head) / 64 >= INT32_MAX)
		return -EINVAL;
	if (!a->n)
		return 0;
	p.out = a->out;
	p.q = a->q;
	p.k = a->k;
	p.v = a->v;
	p.cache = a->cache;
	p.block_size = a->block_size;
	p.bt = a->block_table;
	p.max_blocks = a->max_blocks;
	p.n_seq = n_seq;
	p.cache_blocks = cache_blocks;
	p.pos = a->pos;
	p.seq = a->seq;
	p.n = a->n;
	p.n_head = a->n_head;
	p.n_kv_head = a->n_kv_head;
	p.hd = a->hd;
	p.layer = a->layer;
	p.btok = a->block_tokens;
	p.f16 = a->k_type == KN_CU_F16;
	p.scale = a->scale;
	p.err = ctx->err;

	kn_cu_attn_store_kernel<<<(unsigned)a->n, 128, 0, ctx->stream>>>(p);
	ret = kn_cu_status();
	if (ret)
		return ret;
	if (prefill && kn_cu_fa_ok(a))
		return a->hd == 64 ? kn_cu_fa_launch<64>(ctx, p) : kn_cu_fa_launch<128>(ctx, p);

	ns = kn_cu_attn_splits(a, &len);
	if (ctx->scratch_size < kn_cuda_attn_scratch(a, prefill))
		return -ENOMEM;
	float *part = (float *)ctx->scratch;

	/* grid.y holds at most 65535 tokens: launch in slices */
	for (int64_t t0 = 0; !ret && t0 < a->n; t0 += 65535) {
		const unsigned nt = (unsigned)(a->n - t0 < 65535 ? a->n - t0 : 65535);
		const dim3 grid((unsigned)a->n_head, nt, (unsigned)ns);

		if (a->hd <= 32)
			kn_cu_attn_split_kernel<1><<<grid, 128, 0, ctx->stream>>>(p, part, len, t0);
		else if (a->hd <= 64)
			kn_cu_attn_split_kernel<2><<<grid, 128, 0, ctx->stream>>>(p, part, len, t0);
		else if (a->hd <= 128)
			kn_cu_attn_split_kernel<4><<<grid, 128, 0, ctx->stream>>>(p, part, len, t0);
		else
			kn_cu_attn_split_kernel<8><<<grid, 128, 0, ctx->stream>>>(p, part, len, t0);
		ret = kn_cu_status();
		if (!ret && ns > 1) {
			kn_cu_attn_combine_kernel<<<dim3((unsigned)a->n_head, nt), 128, 0,
						    ctx->stream>>>(p, part, ns, t0);
			ret = kn_cu_status();
		}
	}
	return ret;
}
