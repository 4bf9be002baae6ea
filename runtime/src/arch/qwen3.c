// SPDX-License-Identifier: MIT
/*
 * qwen3 (dense): the llama layer with an RMSNorm over each query and key head
 * (before RoPE), NEOX rope, no biases; head_dim * n_head need not be dim.
 */
#include "arch.h"

static const struct rt_tensor_desc qwen3_tensors[] = {
	RT_ROWS_ATTN,
	RT_ROWS_QK_NORM,
	RT_ROWS_FFN_NORM,
	RT_ROWS_FFN,
};

const struct rt_arch rt_arch_qwen3 = {
	.name = "qwen3",
	.rope_mode = 2,
	RT_ARCH_TENSORS(qwen3_tensors),
};
