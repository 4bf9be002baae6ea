// SPDX-License-Identifier: MIT
/*
 * llama: Llama 2/3, Mistral, SmolLM2 (GQA, NORM rope, llama3 rope factors,
 * tied or untied output) and Mixtral-style MoE in llama layout (merged
 * experts, softmax top-k renormalised). The shared decoder layer.
 */
#include "arch.h"

static const struct rt_tensor_desc llama_tensors[] = {
	RT_ROWS_ATTN,
	RT_ROWS_FFN_NORM,
	RT_ROWS_FFN,
	RT_ROWS_MOE,
};

const struct rt_arch rt_arch_llama = {
	.name = "llama",
	.rope_mode = 0,
	RT_ARCH_TENSORS(llama_tensors),
};
