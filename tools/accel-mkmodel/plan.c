// SPDX-License-Identifier: MIT
/*
 * accel-mkmodel presets and the plan of a file: <arch>.* metadata (llama,
 * qwen3, qwen3moe, with the keys llama.cpp's converter writes), a tokenizer
 * copied from another GGUF (padded with <unused_N> tokens when the preset's
 * vocabulary is larger), and the tensor table with llama.cpp's names and
 * ggml shapes (ne0 = input dimension). Writes no tensor data.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel.h"
#include "rt_error.h"
#include "mkmodel.h"

static const struct mk_preset presets[] = {
	/* test shapes: the vocabulary is the tokenizer's */
	{ .name = "tiny", .arch = "llama", .dim = 64, .ff = 128, .layers = 2, .heads = 8,
	  .kv_heads = 4, .rope_base = 10000.0f, .rms_eps = 1e-5f },
	{ .name = "tiny-moe", .arch = "llama", .dim = 64, .ff = 128, .layers = 2, .heads = 8,
	  .kv_heads = 4, .experts = 4, .experts_used = 2, .rope_base = 10000.0f, .rms_eps = 1e-5f },
	{ .name = "small", .arch = "llama", .dim = 256, .ff = 768, .layers = 4, .heads = 8,
	  .kv_heads = 4, .rope_base = 10000.0f, .rms_eps = 1e-5f },
	/* Mixtral-style experts whose widths are K-quant super-blocks (256): 8 experts,
	 * 2 routed, so a 30-token prompt routes some experts 8+ rows, others fewer */
	{ .name = "small-moe", .arch = "llama", .dim = 256, .ff = 256, .layers = 2, .heads = 8,
	  .kv_heads = 4, .experts = 8, .experts_used = 2, .rope_base = 10000.0f,
	  .rms_eps = 1e-5f },
	{ .name = "llama-7b", .arch = "llama", .dim = 4096, .ff = 11008, .layers = 32,
	  .heads = 32, .kv_heads = 32, .vocab = 32000, .rope_base = 10000.0f, .rms_eps = 1e-5f },
	/* Llama-3-70B */
	{ .name = "llama-70b", .arch = "llama", .dim = 8192, .ff = 28672, .layers = 80,
	  .heads = 64, .kv_heads = 8, .vocab = 128256, .rope_base = 500000.0f, .rms_eps = 1e-5f },
	{ .name = "mixtral-8x7b", .arch = "llama", .dim = 4096, .ff = 14336, .layers = 32,
	  .heads = 32, .kv_heads = 8, .vocab = 32000, .experts = 8, .experts_used = 2,
	  .rope_base = 1000000.0f, .rms_eps = 1e-5f },
	/* qwen3 test shapes, as tests/models/random/tiny-qwen3*: q is 4 x 32 = 128 wide
	 * against dim 64; the experts are 96 wide, feed_forward_length 256 */
	{ .name = "tiny-qwen3", .arch = "qwen3", .dim = 64, .ff = 128, .layers = 2, .heads = 4,
	  .kv_heads = 2, .head_dim = 32, .qk_norm = true, .rope_base = 1000000.0f,
	  .rms_eps = 1e-6f },
	{ .name = "tiny-qwen3moe", .arch = "qwen3moe", .dim = 64, .ff = 256, .layers = 2,
	  .heads = 4, .kv_heads = 2, .head_dim = 32, .experts = 8, .experts_used = 2,
	  .expert_ff = 96, .qk_norm = true, .rope_base = 1000000.0f, .rms_eps = 1e-6f },
	/* Qwen/Qwen3-8B config.json (untied output) */
	{ .name = "qwen3-8b", .arch = "qwen3", .dim = 4096, .ff = 12288, .layers = 36,
	  .heads = 32, .kv_heads = 8, .head_dim = 128, .vocab = 151936, .qk_norm = true,
	  .ctx = 40960, .rope_base = 1000000.0f, .rms_eps = 1e-6f },
	/* Qwen/Qwen3-30B-A3B config.json: 128 experts of 768, 8 routed, no shared expert */
	{ .name = "qwen3-30b-a3b", .arch = "qwen3moe", .dim = 2048, .ff = 6144, .layers = 48,
	  .heads = 32, .kv_heads = 4, .head_dim = 128, .vocab = 151936, .experts = 128,
	  .experts_used = 8, .expert_ff = 768, .qk_norm = true, .ctx = 40960,
	  .rope_base = 1000000.0f, .rms_eps = 1e-6f },
};
#define N_PRESETS (sizeof(presets) / sizeof(presets[0]))

const struct mk_preset *mk_preset_find(const char *name)
{
	size_t i;

	for (i = 0; name && i < N_PRESETS; i++)
		if (!strcmp(presets[i].name, name))
			return &presets[i];
	return NULL;
}

const char *mk_preset_names(void)
{
	static char names[N_PRESETS * 24];
	size_t i, used = 0;

	if (!names[0])
		for (i = 0; i < N_PRESETS; i++)
			used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
						 i ? ", " : "", presets[i].name);
	return names;
}

/* llama.cpp's llama_ftype for a file whose weights are all @type */
static uint32_t file_type(uint32_t type)
{
	switch (type) {
	case ACCEL_DTYPE_F32: return 0;
	case ACCEL_DTYPE_F16: return 1;
	case ACCEL_DTYPE_Q4_0: return 2;
	case ACCEL_DTYPE_Q8_0: return 7;
	case ACCEL_DTYPE_Q4_K: return 14;	/* Q4_K_S: every weight Q4_K */
	case ACCEL_DTYPE_Q5_K: return 16;	/* Q5_K_S */
	case ACCEL_DTYPE_Q6_K: return 18;	/* Q6_K */
	default: return 0;
	}
}

/* ------------------------------------------------------------ tokenizer */

#define UNUSED_TYPE 5		/* llama.cpp's LLAMA_TOKEN_TYPE_UNUSED */

static int pad_tokens(struct rt_gguf_writer *w, const struct rt_gguf *src, uint64_t n_src,
		      uint32_t vocab)
{
	struct rt_gguf_str *v = calloc(vocab, sizeof(*v));
	char *pool = malloc((size_t)(vocab - n_src) * 24);
	size_t used = 0;
	uint64_t i;
	int ret = 0;

	if (!v || !pool) {
		ret = rt_set_error(-ENOMEM, "out of memory for %u tokens", vocab);
		goto out;
	}
	for (i = 0; i < n_src && !ret; i++)
		ret = rt_gguf_get_arr_str(src, "tokenizer.ggml.tokens", i, &v[i]);
	for (i = n_src; i < vocab && !ret; i++) {
		int len = snprintf(pool + used, 24, "<unused_%llu>",
				   (unsigned long long)(i - n_src));

		v[i].s = pool + used;
		v[i].len = (uint64_t)len;
		used += (size_t)len + 1;
	}
	if (!ret)
		ret = rt_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", v, vocab);
out:
	free(v);
	free(pool);
	return ret;
}

/* pad_numeric - copy a per-token numeric array of @want type, pad with @fill */
static int pad_numeric(struct rt_gguf_writer *w, const struct rt_gguf *src, const char *key,
		       enum rt_gguf_type want, uint64_t n_src, uint32_t vocab, uint32_t fill)
{
	enum rt_gguf_type type;
	const void *data;
	uint32_t *v;
	uint64_t n, i;
	int ret;

	ret = rt_gguf_get_arr(src, key, &type, &n, &data);
	if (ret)
		return ret;
	if (type != want || n != n_src)
		return rt_set_error(-EINVAL, "%s: '%s' is not a %s array of %llu", rt_gguf_path(src),
				    key, want == RT_GGUF_FLOAT32 ? "f32" : "i32",
				    (unsigned long long)n_src);
	v = malloc((size_t)vocab * 4);
	if (!v)
		return rt_set_error(-ENOMEM, "out of memory for '%s'", key);
	memcpy(v, data, n * 4);
	for (i = n; i < vocab; i++)
		v[i] = fill;
	ret = rt_gguf_writer_set_arr(w, key, want, v, vocab);
	free(v);
	return ret;
}

/* add_tokenizer - every tokenizer.* key of @src; the per-token arrays padded
 * to @vocab entries */
static int add_tokenizer(struct rt_gguf_writer *w, const struct rt_gguf *src, uint64_t n_src,
			 uint32_t vocab)
{
	float zero = 0.0f;
	uint32_t fill_score;
	int64_t i;
	int ret = 0;

	memcpy(&fill_score, &zero, 4);
	for (i = 0; i < rt_gguf_n_kv(src) && !ret; i++) {
		const char *key = rt_gguf_kv_key(src, i);

		if (strncmp(key, "tokenizer.", 10))
			continue;
		if (vocab == n_src)
			ret = rt_gguf_writer_copy_kv(w, src, key);
		else if (!strcmp(key, "tokenizer.ggml.tokens"))
			ret = pad_tokens(w, src, n_src, vocab);
		else if (!strcmp(key, "tokenizer.ggml.scores"))
			ret = pad_numeric(w, src, key, RT_GGUF_FLOAT32, n_src, vocab, fill_score);
		else if (!strcmp(key, "tokenizer.ggml.token_type"))
			ret = pad_numeric(w, src, key, RT_GGUF_INT32, n_src, vocab, UNUSED_TYPE);
		else
			ret = rt_gguf_writer_copy_kv(w, src, key);
	}
	return ret;
}

/* --------------------------------------------------------------- tensors */

static int add(struct mk_plan *p, uint32_t type, uint32_t n_dims, int64_t ne0, int64_t ne1,
	       int64_t ne2, float mean, float std, const char *fmt, int layer)
{
	int64_t ne[3] = { ne0, ne1, ne2 };
	char name[64];
	int64_t idx;
	uint32_t d;
	uint64_t n = 1;

	snprintf(name, sizeof(name), fmt, layer);
	idx = rt_gguf_writer_add_tensor(p->w, name, type, n_dims, ne);
	if (idx < 0)
		return (int)idx;
	for (d = 0; d < n_dims; d++)
		n *= (uint64_t)ne[d];
	p->n_params += n;
	p->t[idx] = (struct mk_tensor){ .type = type, .ne0 = ne0, .mean = mean, .std = std };
	strcpy(p->t[idx].name, name);
	p->n_tensors = idx + 1;
	return 0;
}

static int add_tensors(struct mk_plan *p, const struct mk_preset *m, uint32_t wt)
{
	int64_t dim = m->dim, ff = m->ff, hd = m->head_dim ? m->head_dim : m->dim / m->heads;
	int64_t qd = hd * m->heads, kv = hd * m->kv_heads, ne = m->experts, vocab = p->vocab;
	int64_t eff = m->expert_ff ? m->expert_ff : ff;
	float sd = 1.0f / sqrtf((float)dim), sf = 1.0f / sqrtf((float)ff);
	float sq = 1.0f / sqrtf((float)qd), se = 1.0f / sqrtf((float)eff);
	uint32_t l;
	int ret;

	ret = add(p, wt, 2, dim, vocab, 1, 0.0f, 1.0f, "token_embd.weight", 0);
	for (l = 0; l < p->layers && !ret; l++) {
		ret = add(p, ACCEL_DTYPE_F32, 1, dim, 1, 1, 1.0f, 0.1f, "blk.%d.attn_norm.weight", l);
		ret = ret ?: add(p, wt, 2, dim, qd, 1, 0, sd, "blk.%d.attn_q.weight", l);
		ret = ret ?: add(p, wt, 2, dim, kv, 1, 0, sd, "blk.%d.attn_k.weight", l);
		ret = ret ?: add(p, wt, 2, dim, kv, 1, 0, sd, "blk.%d.attn_v.weight", l);
		if (m->qk_norm) {
			/* qwen3: RMSNorm of each q and k head before RoPE, F32 [head_dim] */
			ret = ret ?: add(p, ACCEL_DTYPE_F32, 1, hd, 1, 1, 1.0f, 0.1f,
					 "blk.%d.attn_q_norm.weight", l);
			ret = ret ?: add(p, ACCEL_DTYPE_F32, 1, hd, 1, 1, 1.0f, 0.1f,
					 "blk.%d.attn_k_norm.weight", l);
		}
		ret = ret ?: add(p, wt, 2, qd, dim, 1, 0, sq, "blk.%d.attn_output.weight", l);
		ret = ret ?: add(p, ACCEL_DTYPE_F32, 1, dim, 1, 1, 1.0f, 0.1f, "blk.%d.ffn_norm.weight",
				 l);
		if (ne) {
			/* the router stays F32, as llama-quantize leaves it */
			ret = ret ?: add(p, ACCEL_DTYPE_F32, 2, dim, ne, 1, 0, sd,
					 "blk.%d.ffn_gate_inp.weight", l);
			ret = ret ?: add(p, wt, 3, dim, eff, ne, 0, sd, "blk.%d.ffn_gate_exps.weight", l);
			ret = ret ?: add(p, wt, 3, dim, eff, ne, 0, sd, "blk.%d.ffn_up_exps.weight", l);
			ret = ret ?: add(p, wt, 3, eff, dim, ne, 0, se, "blk.%d.ffn_down_exps.weight", l);
		} else {
			ret = ret ?: add(p, wt, 2, dim, ff, 1, 0, sd, "blk.%d.ffn_gate.weight", l);
			ret = ret ?: add(p, wt, 2, dim, ff, 1, 0, sd, "blk.%d.ffn_up.weight", l);
			ret = ret ?: add(p, wt, 2, ff, dim, 1, 0, sf, "blk.%d.ffn_down.weight", l);
		}
	}
	ret = ret ?: add(p, ACCEL_DTYPE_F32, 1, dim, 1, 1, 1.0f, 0.1f, "output_norm.weight", 0);
	ret = ret ?: add(p, wt, 2, dim, vocab, 1, 0, sd, "output.weight", 0);
	return ret;
}

/* ------------------------------------------------------------------ plan */

/* <arch>.<key> = v */
static int set_u32(struct rt_gguf_writer *w, const char *arch, const char *key, uint32_t v)
{
	char k[96];

	snprintf(k, sizeof(k), "%s.%s", arch, key);
	return rt_gguf_writer_set_u32(w, k, v);
}

static int set_f32(struct rt_gguf_writer *w, const char *arch, const char *key, float v)
{
	char k[96];

	snprintf(k, sizeof(k), "%s.%s", arch, key);
	return rt_gguf_writer_set_f32(w, k, v);
}

/* the keys llama.cpp's converter writes: head_dim as key_length/value_length
 * (qwen3: no rope.dimension_count, llama.cpp rotates the whole head) or as
 * rope.dimension_count (llama) */
static int add_hparams(struct rt_gguf_writer *w, const struct mk_preset *m, uint32_t layers,
		       uint32_t vocab, uint32_t wt)
{
	const char *a = m->arch;
	char name[96];
	int ret;

	snprintf(name, sizeof(name), "accel-mkmodel %s random %s", m->name, accel_dtype_name(wt));
	ret = rt_gguf_writer_set_str(w, "general.architecture", a);
	ret = ret ?: rt_gguf_writer_set_str(w, "general.name", name);
	ret = ret ?: rt_gguf_writer_set_u32(w, "general.file_type", file_type(wt));
	ret = ret ?: rt_gguf_writer_set_u32(w, "general.quantization_version", 2);
	ret = ret ?: set_u32(w, a, "context_length", m->ctx ? m->ctx : 4096);
	ret = ret ?: set_u32(w, a, "embedding_length", m->dim);
	ret = ret ?: set_u32(w, a, "block_count", layers);
	ret = ret ?: set_u32(w, a, "feed_forward_length", m->ff);
	ret = ret ?: set_u32(w, a, "attention.head_count", m->heads);
	ret = ret ?: set_u32(w, a, "attention.head_count_kv", m->kv_heads);
	ret = ret ?: set_f32(w, a, "rope.freq_base", m->rope_base);
	ret = ret ?: set_f32(w, a, "attention.layer_norm_rms_epsilon", m->rms_eps);
	if (m->head_dim) {
		ret = ret ?: set_u32(w, a, "attention.key_length", m->head_dim);
		ret = ret ?: set_u32(w, a, "attention.value_length", m->head_dim);
	} else {
		ret = ret ?: set_u32(w, a, "rope.dimension_count", m->dim / m->heads);
	}
	ret = ret ?: set_u32(w, a, "vocab_size", vocab);
	if (m->experts) {
		ret = ret ?: set_u32(w, a, "expert_count", m->experts);
		ret = ret ?: set_u32(w, a, "expert_used_count", m->experts_used);
	}
	if (m->expert_ff)
		ret = ret ?: set_u32(w, a, "expert_feed_forward_length", m->expert_ff);
	return ret;
}

int mk_plan_build(const struct mk_opts *o, struct mk_plan *p)
{
	const struct mk_preset *m = o->preset;
	struct rt_gguf *src = NULL;
	enum rt_gguf_type at;
	uint64_t n_src = 0;
	int64_t max_t;
	int ret;

	memset(p, 0, sizeof(*p));
	p->layers = o->layers ? o->layers : m->layers;
	ret = rt_gguf_open(o->vocab_from, &src);
	if (ret)
		return ret;
	ret = rt_gguf_get_arr(src, "tokenizer.ggml.tokens", &at, &n_src, NULL);
	if (ret)
		goto out;
	if (at != RT_GGUF_STRING || !n_src || n_src > UINT32_MAX) {
		ret = rt_set_error(-EINVAL, "%s: tokenizer.ggml.tokens is not a list of strings",
				   o->vocab_from);
		goto out;
	}
	p->vocab = m->vocab ? m->vocab : (uint32_t)n_src;
	if (n_src > p->vocab) {
		ret = rt_set_error(-EINVAL, "%s has %llu tokens, more than %s's vocabulary of %u",
				   o->vocab_from, (unsigned long long)n_src, m->name, p->vocab);
		goto out;
	}
	max_t = 3 + 13 * (int64_t)p->layers;
	p->t = calloc((size_t)max_t, sizeof(*p->t));
	if (!p->t) {
		ret = rt_set_error(-ENOMEM, "out of memory");
		goto out;
	}
	ret = rt_gguf_writer_create(&p->w);
	ret = ret ?: add_hparams(p->w, m, p->layers, p->vocab, o->type);
	ret = ret ?: add_tokenizer(p->w, src, n_src, p->vocab);
	ret = ret ?: add_tensors(p, m, o->type);
out:
	rt_gguf_close(src);
	if (ret)
		mk_plan_fini(p);
	return ret;
}

void mk_plan_fini(struct mk_plan *p)
{
	rt_gguf_writer_destroy(p->w);
	free(p->t);
	memset(p, 0, sizeof(*p));
}
