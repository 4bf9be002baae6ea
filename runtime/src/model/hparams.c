// SPDX-License-Identifier: MIT
/*
 * Hyperparameters from GGUF metadata: the architecture from the registry,
 * the keys every architecture shares (<arch>.embedding_length, ...) with
 * llama.cpp's defaults, checked for plausibility before anything is sized
 * from them; then the architecture's own hook.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "arch/arch.h"
#include "rt_error.h"
#include "rt_gguf.h"

static int get_u32(const struct rt_gguf *g, const char *arch, const char *key, bool required,
		   uint32_t def, int *out)
{
	char k[128];
	uint32_t v;
	int ret;

	snprintf(k, sizeof(k), "%s.%s", arch, key);
	ret = rt_gguf_get_u32(g, k, &v);
	if (ret == -ENOENT && !required) {
		v = def;
	} else if (ret < 0) {
		return rt_set_error(ret == -ENOENT ? -EINVAL : ret, "%s: metadata '%s' %s",
				    rt_gguf_path(g), k,
				    ret == -ENOENT ? "is missing" : "has the wrong type");
	}
	if (v > INT32_MAX)
		return rt_set_error(-EINVAL, "%s: metadata '%s' = %u is out of range",
				    rt_gguf_path(g), k, v);
	*out = (int)v;
	return 0;
}

static float get_f32(const struct rt_gguf *g, const char *arch, const char *key, float def)
{
	char k[128];
	float v;

	snprintf(k, sizeof(k), "%s.%s", arch, key);
	return rt_gguf_get_f32(g, k, &v) == 0 ? v : def;
}

/*
 * rope_scaling - freq_scale as llama.cpp sets it: 1 / <arch>.rope.scaling.factor
 * (or the older <arch>.rope.scale_linear) whatever rope.scaling.type says,
 * absent or "none" included (llama_model::load_hparams reads the factor
 * before it looks at the type); types other than linear/none/llama3 refused.
 */
static int rope_scaling(struct rt_model *m)
{
	struct rt_hparams *hp = &m->hp;
	struct rt_gguf_str s;
	char k[128];
	float f;

	f = get_f32(m->gguf, hp->arch_name, "rope.scaling.factor", 0.0f);
	if (f == 0.0f)
		f = get_f32(m->gguf, hp->arch_name, "rope.scale_linear", 0.0f);
	hp->rope_scale = f > 0 ? 1.0f / f : 1.0f;
	snprintf(k, sizeof(k), "%s.rope.scaling.type", hp->arch_name);
	if (rt_gguf_get_str(m->gguf, k, &s) < 0)
		return 0;
	if (strcmp(s.s, "linear") && strcmp(s.s, "none") &&
	    strcmp(s.s, "llama3"))	/* llama3: rope_freqs.weight */
		return rt_set_error(-EOPNOTSUPP, "%s: rope scaling '%s' is not supported",
				    rt_gguf_path(m->gguf), s.s);
	return 0;
}

int rt_model_hparams_load(struct rt_model *m)
{
	struct rt_hparams *hp = &m->hp;
	const struct rt_gguf *g = m->gguf;
	const char *path = rt_gguf_path(g);
	struct rt_gguf_str s;
	const char *a;
	int ret, ff_used;

	if (rt_gguf_get_str(g, "general.architecture", &s) < 0)
		return rt_set_error(-EINVAL, "%s: no general.architecture", path);
	m->arch = rt_arch_find(s.s);
	if (!m->arch)
		return rt_set_error(-EOPNOTSUPP, "%s: unsupported architecture '%s' (supported: %s)",
				    path, s.s, rt_arch_names());
	snprintf(hp->arch_name, sizeof(hp->arch_name), "%s", s.s);
	hp->rope_mode = m->arch->rope_mode;
	if (rt_gguf_get_str(g, "general.name", &s) == 0)
		snprintf(hp->name, sizeof(hp->name), "%s", s.s);
	a = hp->arch_name;

	if ((ret = get_u32(g, a, "embedding_length", true, 0, &hp->dim)) < 0 ||
	    (ret = get_u32(g, a, "block_count", true, 0, &hp->n_layer)) < 0 ||
	    (ret = get_u32(g, a, "attention.head_count", true, 0, &hp->n_head)) < 0 ||
	    (ret = get_u32(g, a, "attention.head_count_kv", false, (uint32_t)hp->n_head,
			   &hp->n_kv_head)) < 0 ||
	    (ret = get_u32(g, a, "context_length", false, 2048, &hp->n_ctx_train)) < 0 ||
	    (ret = get_u32(g, a, "expert_count", false, 0, &hp->n_expert)) < 0 ||
	    (ret = get_u32(g, a, "expert_used_count", false, 0, &hp->n_expert_used)) < 0)
		return ret;
	/* a MoE model may give only the experts' width */
	if ((ret = get_u32(g, a, "feed_forward_length", !hp->n_expert, 0, &hp->ff)) < 0 ||
	    (ret = get_u32(g, a, "expert_feed_forward_length", false, (uint32_t)hp->ff,
			   &hp->ff_exp)) < 0)
		return ret;
	ff_used = hp->n_expert ? hp->ff_exp : hp->ff;
	if (hp->dim <= 0 || hp->dim > 65536 || hp->n_layer <= 0 || hp->n_layer > 1024 ||
	    hp->n_head <= 0 || hp->n_head > 1024 || hp->n_kv_head <= 0 ||
	    hp->n_head % hp->n_kv_head || ff_used <= 0 || hp->ff > 1 << 20 ||
	    hp->ff_exp > 1 << 20)
		return rt_set_error(-EINVAL, "%s: implausible hyperparameters (dim %d, layers %d, "
				    "heads %d/%d, ff %d)", path, hp->dim, hp->n_layer,
				    hp->n_head, hp->n_kv_head, ff_used);
	if ((ret = get_u32(g, a, "attention.key_length", false, (uint32_t)(hp->dim / hp->n_head),
			   &hp->head_dim)) < 0)
		return ret;
	if (hp->head_dim <= 0 || hp->head_dim % 2 || hp->head_dim > 1024)
		return rt_set_error(-EINVAL, "%s: bad head dimension %d", path, hp->head_dim);
	if ((ret = get_u32(g, a, "rope.dimension_count", false, (uint32_t)hp->head_dim,
			   &hp->n_rot)) < 0)
		return ret;
	if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
		return rt_set_error(-EINVAL, "%s: bad rope dimension %d", path, hp->n_rot);
	if (hp->n_expert > 1024 ||
	    (hp->n_expert && (hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert)))
		return rt_set_error(-EINVAL, "%s: bad expert counts %d/%d", path,
				    hp->n_expert_used, hp->n_expert);
	hp->rope_base = get_f32(g, a, "rope.freq_base", 10000.0f);
	hp->rms_eps = get_f32(g, a, "attention.layer_norm_rms_epsilon", 1e-5f);
	if ((ret = rope_scaling(m)) < 0)
		return ret;
	return m->arch->hparams ? m->arch->hparams(m) : 0;
}
