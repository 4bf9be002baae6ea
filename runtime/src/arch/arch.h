/* SPDX-License-Identifier: MIT */
/*
 * An architecture is one file in this folder: a struct rt_arch with its name,
 * rope mode, the table of its per-layer tensors (field, GGUF name, shape in
 * hyperparameters, which models have it) and, where it differs from the
 * shared decoder layer, its layer builder. registry.c lists them.
 */
#ifndef RT_ARCH_ARCH_H
#define RT_ARCH_ARCH_H

#include <stddef.h>
#include <stdint.h>
#include "model/model.h"

/* a tensor dimension, in hyperparameters */
enum rt_dim {
	RT_D_1 = 0,
	RT_D_DIM,	/* embedding length */
	RT_D_Q,		/* n_head * head_dim */
	RT_D_KV,	/* n_kv_head * head_dim */
	RT_D_HD,	/* head_dim */
	RT_D_FF,	/* dense feed-forward length */
	RT_D_FF_EXP,	/* one expert's feed-forward length */
	RT_D_EXP,	/* n_expert */
};

#define RT_T_OPT	(1u << 0)	/* may be absent */
#define RT_T_F32	(1u << 1)	/* norms and biases: F32 only */
#define RT_T_DENSE	(1u << 2)	/* only in models without experts */
#define RT_T_MOE	(1u << 3)	/* only in models with experts */
#define RT_T_EXPERT	(1u << 4)	/* merged experts: streamed expert by expert */

/**
 * struct rt_tensor_desc - one row of an architecture's layer tensor table
 * @name: GGUF name after "blk.N."
 * @field: offsetof(struct rt_layer, the field it binds)
 * @flags: RT_T_*
 * @ne: its shape (ggml order), enum rt_dim
 */
struct rt_tensor_desc {
	const char *name;
	uint16_t field;
	uint16_t flags;
	uint8_t ne[3];
};

#define RT_TENSOR(fld, nm, fl, d0, d1, d2) \
	{ nm, offsetof(struct rt_layer, fld), fl, { d0, d1, d2 } }

/* the rows most architectures share */
#define RT_ROWS_ATTN \
	RT_TENSOR(attn_norm, "attn_norm.weight", RT_T_F32, RT_D_DIM, RT_D_1, RT_D_1), \
	RT_TENSOR(wq, "attn_q.weight", 0, RT_D_DIM, RT_D_Q, RT_D_1), \
	RT_TENSOR(wk, "attn_k.weight", 0, RT_D_DIM, RT_D_KV, RT_D_1), \
	RT_TENSOR(wv, "attn_v.weight", 0, RT_D_DIM, RT_D_KV, RT_D_1), \
	RT_TENSOR(wo, "attn_output.weight", 0, RT_D_Q, RT_D_DIM, RT_D_1)
#define RT_ROWS_QK_NORM \
	RT_TENSOR(q_norm, "attn_q_norm.weight", RT_T_F32, RT_D_HD, RT_D_1, RT_D_1), \
	RT_TENSOR(k_norm, "attn_k_norm.weight", RT_T_F32, RT_D_HD, RT_D_1, RT_D_1)
#define RT_ROWS_FFN_NORM \
	RT_TENSOR(ffn_norm, "ffn_norm.weight", RT_T_F32, RT_D_DIM, RT_D_1, RT_D_1)
#define RT_ROWS_FFN \
	RT_TENSOR(w_gate, "ffn_gate.weight", RT_T_DENSE, RT_D_DIM, RT_D_FF, RT_D_1), \
	RT_TENSOR(w_up, "ffn_up.weight", RT_T_DENSE, RT_D_DIM, RT_D_FF, RT_D_1), \
	RT_TENSOR(w_down, "ffn_down.weight", RT_T_DENSE, RT_D_FF, RT_D_DIM, RT_D_1)
#define RT_ROWS_MOE \
	RT_TENSOR(gate_inp, "ffn_gate_inp.weight", RT_T_MOE, RT_D_DIM, RT_D_EXP, RT_D_1), \
	RT_TENSOR(gate_exps, "ffn_gate_exps.weight", RT_T_MOE | RT_T_EXPERT, \
		  RT_D_DIM, RT_D_FF_EXP, RT_D_EXP), \
	RT_TENSOR(up_exps, "ffn_up_exps.weight", RT_T_MOE | RT_T_EXPERT, \
		  RT_D_DIM, RT_D_FF_EXP, RT_D_EXP), \
	RT_TENSOR(down_exps, "ffn_down_exps.weight", RT_T_MOE | RT_T_EXPERT, \
		  RT_D_FF_EXP, RT_D_DIM, RT_D_EXP)

/**
 * struct rt_arch - one architecture
 * @name: general.architecture
 * @rope_mode: 0 NORM (adjacent pairs), 2 NEOX (halves)
 * @tensors, @n_tensors: the per-layer tensor table
 * @hparams: optional: checks or keys beyond the common ones (hparams.c),
 *	called after them; 0 or -errno with rt_set_error
 * @build_layer: optional: the layer when it is not rt_block_layer
 */
struct rt_arch {
	const char *name;
	int rope_mode;
	const struct rt_tensor_desc *tensors;
	int n_tensors;
	int (*hparams)(struct rt_model *m);
	int (*build_layer)(struct rt_graph *g, const struct rt_layer *l, int il);
};

/* the most rows a table may have: streaming packs a layer's tensors in at
 * most this many pieces (RT_MAX_PIECES); a bigger table does not compile */
#define RT_ARCH_MAX_TENSORS 32
#define RT_ARCH_TENSORS(t) .tensors = (t), \
	.n_tensors = (int)(sizeof(t) / sizeof((t)[0]) + \
			   0 * sizeof(char[sizeof(t) / sizeof((t)[0]) <= RT_ARCH_MAX_TENSORS ? 1 : -1]))

/* registry.c */
const struct rt_arch *rt_arch_find(const char *name);
/** "llama, qwen2, ..." for messages */
const char *rt_arch_names(void);

extern const struct rt_arch rt_arch_llama;
extern const struct rt_arch rt_arch_qwen2;
extern const struct rt_arch rt_arch_qwen3;
extern const struct rt_arch rt_arch_qwen3moe;

#endif /* RT_ARCH_ARCH_H */
