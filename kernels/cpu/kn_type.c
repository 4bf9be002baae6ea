// SPDX-License-Identifier: MIT
/*
 * Type traits (ggml's block sizes and names), run-time ISA selection, and the
 * public quantize/dequantize/vec_dot entry points that dispatch to the scalar
 * reference or the AVX2 tables.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "kn_internal.h"

struct kn_trait {
	const char *name;
	int64_t blck;
	size_t bytes;
};

static const struct kn_trait kn_traits[KN_TYPE_MAX] = {
	[KN_F32]  = { "f32",  1, 4 },
	[KN_F16]  = { "f16",  1, 2 },
	[KN_Q4_0] = { "q4_0", KN_QK4_0, sizeof(kn_block_q4_0) },
	[KN_Q4_1] = { "q4_1", KN_QK4_1, sizeof(kn_block_q4_1) },
	[KN_Q8_0] = { "q8_0", KN_QK8_0, sizeof(kn_block_q8_0) },
	[KN_Q8_1] = { "q8_1", KN_QK8_1, sizeof(kn_block_q8_1) },
	[KN_Q4_K] = { "q4_K", KN_QK_K, sizeof(kn_block_q4_K) },
	[KN_Q5_K] = { "q5_K", KN_QK_K, sizeof(kn_block_q5_K) },
	[KN_Q6_K] = { "q6_K", KN_QK_K, sizeof(kn_block_q6_K) },
	[KN_Q8_K] = { "q8_K", KN_QK_K, sizeof(kn_block_q8_K) },
	[KN_I8]   = { "i8",   1, 1 },
	[KN_I16]  = { "i16",  1, 2 },
	[KN_I32]  = { "i32",  1, 4 },
	[KN_I64]  = { "i64",  1, 8 },
	[KN_BF16] = { "bf16", 1, 2 },
};

bool kn_type_known(uint32_t type)
{
	return type < KN_TYPE_MAX && kn_traits[type].name != NULL;
}

const char *kn_type_name(uint32_t type)
{
	return kn_type_known(type) ? kn_traits[type].name : "?";
}

int64_t kn_type_block_elems(uint32_t type)
{
	return kn_type_known(type) ? kn_traits[type].blck : 0;
}

size_t kn_type_block_bytes(uint32_t type)
{
	return kn_type_known(type) ? kn_traits[type].bytes : 0;
}

size_t kn_row_size(uint32_t type, int64_t n)
{
	if (!kn_type_known(type) || n < 0 || n % kn_traits[type].blck)
		return 0;
	return (size_t)(n / kn_traits[type].blck) * kn_traits[type].bytes;
}

bool kn_type_can_matmul(uint32_t type)
{
	switch (type) {
	case KN_F32: case KN_F16: case KN_BF16:
	case KN_Q4_0: case KN_Q4_1: case KN_Q8_0:
	case KN_Q4_K: case KN_Q5_K: case KN_Q6_K:
		return true;
	default:
		return false;
	}
}

bool kn_type_can_dequantize(uint32_t type)
{
	return kn_type_known(type) && kn_ref_fns[type].dequant != NULL;
}

uint32_t kn_vec_dot_type(uint32_t type)
{
	switch (type) {
	case KN_F32: return KN_F32;
	case KN_F16: return KN_F16;
	case KN_BF16: return KN_BF16;
	case KN_Q4_0: return KN_Q8_0;
	case KN_Q4_1: return KN_Q8_1;
	case KN_Q8_0: return KN_Q8_0;
	case KN_Q4_K: case KN_Q5_K: case KN_Q6_K: return KN_Q8_K;
	default: return KN_TYPE_MAX;
	}
}

/* ------------------------------------------------------------------ ISA */

static int kn_isa_cur = -1;	/* -1: not chosen yet */

static int kn_isa_best_cached = -1;

enum kn_isa kn_isa_best(void)
{
	int best = __atomic_load_n(&kn_isa_best_cached, __ATOMIC_RELAXED);

	if (best < 0) {
		best = KN_ISA_SCALAR;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_cpu_init();
		if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
		    __builtin_cpu_supports("f16c"))
			best = KN_ISA_AVX2;
		if (best == KN_ISA_AVX2 && __builtin_cpu_supports("avx512f") &&
		    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
		    __builtin_cpu_supports("avx512vnni") && !getenv("KN_NO_AVX512"))
			best = KN_ISA_AVX512;
#endif
		__atomic_store_n(&kn_isa_best_cached, best, __ATOMIC_RELAXED);
	}
	return (enum kn_isa)best;
}

int kn_isa_set(enum kn_isa isa)
{
	if (isa != KN_ISA_SCALAR && isa != KN_ISA_AVX2 && isa != KN_ISA_AVX512)
		return -EINVAL;
	if (isa > kn_isa_best())
		return -ENOTSUP;
	__atomic_store_n(&kn_isa_cur, (int)isa, __ATOMIC_RELAXED);
	return 0;
}

static bool kn_twins;

void kn_isa_scalar_twins(bool on)
{
	__atomic_store_n(&kn_twins, on, __ATOMIC_RELAXED);
}

bool kn_isa_simd(void)
{
	return kn_isa_best() >= KN_ISA_AVX2 && !__atomic_load_n(&kn_twins, __ATOMIC_RELAXED);
}

/* KN_ISA=scalar|avx2|avx512 caps the ISA the kernels start with (as llama.cpp
 * built for that ISA computes; an ISA the CPU lacks means its best) */
static int kn_isa_env(int best)
{
	static const char *const names[] = { "scalar", "avx2", "avx512" };
	const char *e = getenv("KN_ISA");

	for (int i = 0; e && i < 3; i++)
		if (!strcmp(e, names[i]))
			return i < best ? i : best;
	return best;
}

enum kn_isa kn_isa_get(void)
{
	int isa = __atomic_load_n(&kn_isa_cur, __ATOMIC_RELAXED);

	if (isa < 0) {
		isa = kn_isa_env((int)kn_isa_best());
		__atomic_store_n(&kn_isa_cur, isa, __ATOMIC_RELAXED);
	}
	return (enum kn_isa)isa;
}

/* AVX-512: its own entries over the AVX2 table's, merged once */
static struct kn_type_fns kn_avx512_merged[KN_TYPE_MAX];
static pthread_once_t kn_avx512_once = PTHREAD_ONCE_INIT;

static void kn_avx512_merge(void)
{
	const struct kn_type_fns *a2 = kn_avx2_fns_get(), *a5 = kn_avx512_fns_get();

	for (int t = 0; t < KN_TYPE_MAX; t++) {
		struct kn_type_fns f = a2[t];

		f.quant = a5[t].quant ? a5[t].quant : f.quant;
		f.dequant = a5[t].dequant ? a5[t].dequant : f.dequant;
		f.dot = a5[t].dot ? a5[t].dot : f.dot;
		f.act = a5[t].act ? a5[t].act : f.act;
		f.dot4 = a5[t].dot4 ? a5[t].dot4 : f.dot4;
		f.rows4 = a5[t].rows4 ? a5[t].rows4 : f.rows4;
		f.dot8 = a5[t].dot8 ? a5[t].dot8 : f.dot8;
		kn_avx512_merged[t] = f;
	}
}

static const struct kn_type_fns *kn_fns_for(enum kn_isa isa, uint32_t type)
{
	if (isa > kn_isa_best())
		return NULL;
	if (isa == KN_ISA_AVX2)
		return &kn_avx2_fns_get()[type];
	if (isa == KN_ISA_AVX512) {
		pthread_once(&kn_avx512_once, kn_avx512_merge);
		return &kn_avx512_merged[type];
	}
	return NULL;
}

kn_quant_fn kn_quant_fn_get(enum kn_isa isa, uint32_t type)
{
	const struct kn_type_fns *f;

	if (!kn_type_known(type))
		return NULL;
	f = kn_fns_for(isa, type);
	return f && f->quant ? f->quant : kn_ref_fns[type].quant;
}

kn_quant_fn kn_act_fn_get(enum kn_isa isa, uint32_t type)
{
	const struct kn_type_fns *f;

	if (!kn_type_known(type))
		return NULL;
	if (!kn_ref_fns[type].act)
		return kn_quant_fn_get(isa, type);
	f = kn_fns_for(isa, type);
	return f && f->act ? f->act : kn_ref_fns[type].act;
}

kn_dequant_fn kn_dequant_fn_get(enum kn_isa isa, uint32_t type)
{
	const struct kn_type_fns *f;

	if (!kn_type_known(type))
		return NULL;
	f = kn_fns_for(isa, type);
	return f && f->dequant ? f->dequant : kn_ref_fns[type].dequant;
}

kn_dot_fn kn_dot_fn_get(enum kn_isa isa, uint32_t type)
{
	const struct kn_type_fns *f;

	if (!kn_type_can_matmul(type))
		return NULL;
	f = kn_fns_for(isa, type);
	return f && f->dot ? f->dot : kn_ref_fns[type].dot;
}

kn_dot4_fn kn_dot4_fn_get(enum kn_isa isa, uint32_t type)
{
	const struct kn_type_fns *f;

	if (!kn_type_can_matmul(type))
		return NULL;
	f = kn_fns_for(isa, type);
	return f ? f->dot4 : NULL;
}

kn_rows4_fn kn_rows4_fn_get(enum kn_isa isa, uint32_t type)
{
	const struct kn_type_fns *f;

	if (!kn_type_can_matmul(type))
		return NULL;
	f = kn_fns_for(isa, type);
	return f ? f->rows4 : NULL;
}

kn_dot4_fn kn_dot8_fn_get(enum kn_isa isa, uint32_t type)
{
	const struct kn_type_fns *f;

	if (!kn_type_can_matmul(type))
		return NULL;
	f = kn_fns_for(isa, type);
	return f ? f->dot8 : NULL;
}

/* ------------------------------------------------------ public entries */

int kn_quantize_row_isa(enum kn_isa isa, uint32_t type, const float *x, void *y, int64_t n)
{
	kn_quant_fn fn = kn_quant_fn_get(isa, type);

	if (!fn)
		return -EOPNOTSUPP;
	if (n < 0 || n % kn_type_block_elems(type))
		return -EINVAL;
	fn(x, y, n);
	return 0;
}

int kn_quantize_act_row_isa(enum kn_isa isa, uint32_t type, const float *x, void *y, int64_t n)
{
	kn_quant_fn fn = kn_act_fn_get(isa, type);

	if (!fn)
		return -EOPNOTSUPP;
	if (n < 0 || n % kn_type_block_elems(type))
		return -EINVAL;
	fn(x, y, n);
	return 0;
}

int kn_dequantize_row_isa(enum kn_isa isa, uint32_t type, const void *x, float *y, int64_t n)
{
	kn_dequant_fn fn = kn_dequant_fn_get(isa, type);

	if (!fn)
		return -EOPNOTSUPP;
	if (n < 0 || n % kn_type_block_elems(type))
		return -EINVAL;
	fn(x, y, n);
	return 0;
}

float kn_vec_dot_isa(enum kn_isa isa, uint32_t type, int64_t n, const void *w, const void *a)
{
	kn_dot_fn fn = kn_dot_fn_get(isa, type);

	if (!fn || n < 0 || n % kn_type_block_elems(type))
		return 0.0f;
	return fn(n, w, a);
}

int kn_quantize_row(uint32_t type, const float *x, void *y, int64_t n)
{
	return kn_quantize_row_isa(kn_isa_get(), type, x, y, n);
}

int kn_quantize_act_row(uint32_t type, const float *x, void *y, int64_t n)
{
	return kn_quantize_act_row_isa(kn_isa_get(), type, x, y, n);
}

int kn_dequantize_row(uint32_t type, const void *x, float *y, int64_t n)
{
	return kn_dequantize_row_isa(kn_isa_get(), type, x, y, n);
}

float kn_vec_dot(uint32_t type, int64_t n, const void *w, const void *a)
{
	return kn_vec_dot_isa(kn_isa_get(), type, n, w, a);
}

/*
 * llama.cpp's x86 builds (AVX2 and up) repack a Q4_0 matrix of 8k rows at
 * load and then sum each output as kn_ref_dot_q4_0_x8 does; other row counts,
 * and its generic build, keep ggml_vec_dot_q4_0_q8_0
 */
bool kn_mat_q4_0_x8(uint32_t type, int64_t mat_rows)
{
	return type == KN_Q4_0 && mat_rows % 8 == 0 && kn_isa_get() >= KN_ISA_AVX2;
}

/*
 * the same for Q4_K (repack.cpp's ggml_repack_get_optimal_repack_type: Q4_K to
 * q4_K_8x8 whenever AVX2 is present and ne[1] % 8 == 0; 2-D weights through
 * MUL_MAT, the output head included, and 3-D experts through MUL_MAT_ID)
 */
bool kn_mat_q4_K_x8(uint32_t type, int64_t mat_rows)
{
	return type == KN_Q4_K && mat_rows % 8 == 0 && kn_isa_get() >= KN_ISA_AVX2;
}

float kn_vec_dot_mat(uint32_t type, int64_t n, const void *w, const void *a, int64_t mat_rows)
{
	/* MUL_MAT_ID: every routed column through the gemv */
	if (kn_mat_q4_K_x8(type, mat_rows))
		return n < 0 || n % KN_QK_K ? 0.0f : kn_avx2_dot_q4_K_x8(n, w, a);
	if (!kn_mat_q4_0_x8(type, mat_rows))
		return kn_vec_dot(type, n, w, a);
	if (n < 0 || n % KN_QK4_0)
		return 0.0f;
	return kn_avx2_q4_0_x8_fns()->dot(n, w, a);
}
