// SPDX-License-Identifier: MIT
/*
 * qwen2: the llama layer with biases on Q, K and V, and NEOX rope.
 */
#include "arch.h"

static const struct rt_tensor_desc qwen2_tensors[] = {
	RT_ROWS_ATTN,
	RT_TENSOR(bq, "attn_q.bias", RT_T_F32, RT_D_Q, RT_D_1, RT_D_1),
	RT_TENSOR(bk, "attn_k.bias", RT_T_F32, RT_D_KV, RT_D_1, RT_D_1),
	RT_TENSOR(bv, "attn_v.bias", RT_T_F32, RT_D_KV, RT_D_1, RT_D_1),
	RT_ROWS_FFN_NORM,
	RT_ROWS_FFN,
};

const struct rt_arch rt_arch_qwen2 = {
	.name = "qwen2",
	.rope_mode = 2,
	RT_ARCH_TENSORS(qwen2_tensors),
};
