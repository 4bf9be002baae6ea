// SPDX-License-Identifier: MIT
/*
 * qwen3moe (Qwen3-30B-A3B and kin): qwen3 attention (per-head q/k RMSNorm,
 * NEOX rope) and in every layer many small experts, softmax top-k routing
 * with the chosen weights renormalised; no shared expert.
 */
#include <errno.h>
#include "arch.h"
#include "rt_gguf.h"
#include "rt_error.h"

static const struct rt_tensor_desc qwen3moe_tensors[] = {
	RT_ROWS_ATTN,
	RT_ROWS_QK_NORM,
	RT_ROWS_FFN_NORM,
	RT_ROWS_MOE,
};

static int qwen3moe_hparams(struct rt_model *m)
{
	struct rt_hparams *hp = &m->hp;
	uint32_t v;

	if (!hp->n_expert)
		return rt_set_error(-EINVAL, "%s: qwen3moe without qwen3moe.expert_count",
				    rt_gguf_path(m->gguf));
	/* as llama.cpp: without expert_feed_forward_length an expert is
	 * feed_forward_length / expert_used_count wide */
	if (rt_gguf_get_u32(m->gguf, "qwen3moe.expert_feed_forward_length", &v) == -ENOENT)
		hp->ff_exp = hp->ff / hp->n_expert_used;
	if (hp->ff_exp <= 0)
		return rt_set_error(-EINVAL, "%s: qwen3moe experts have no width (ff %d, %d used)",
				    rt_gguf_path(m->gguf), hp->ff, hp->n_expert_used);
	return 0;
}

const struct rt_arch rt_arch_qwen3moe = {
	.name = "qwen3moe",
	.rope_mode = 2,
	RT_ARCH_TENSORS(qwen3moe_tensors),
	.hparams = qwen3moe_hparams,
};
