// SPDX-License-Identifier: MIT
/*
 * Model loading: hyperparameters and the tensor table from GGUF, checked
 * against the architecture; weights read into a libaccel pool through the
 * COPY engine (io_uring, O_DIRECT where the filesystem allows). Builds no
 * commands (forward.c does) and owns no math.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "kn.h"
#include "rt_error.h"
#include "rt_gguf.h"
#include "rt_kvcache.h"
#include "rt_model.h"
#include "model_internal.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int get_u32_def(const struct rt_gguf *g, const char *arch, const char *key, uint32_t def,
		       uint32_t *v)
{
	char k[128];
	int ret;

	snprintf(k, sizeof(k), "%s.%s", arch, key);
	ret = rt_gguf_get_u32(g, k, v);
	if (ret == -ENOENT) {
		*v = def;
		return 0;
	}
	if (ret < 0)
		return rt_set_error(ret, "metadata '%s' has the wrong type", k);
	return 0;
}

static int get_u32_req(const struct rt_gguf *g, const char *arch, const char *key, uint32_t *v)
{
	char k[128];
	int ret;

	snprintf(k, sizeof(k), "%s.%s", arch, key);
	ret = rt_gguf_get_u32(g, k, v);
	if (ret < 0)
		return rt_set_error(ret == -ENOENT ? -EINVAL : ret, "metadata '%s' %s", k,
				    ret == -ENOENT ? "is missing" : "has the wrong type");
	return 0;
}

static float get_f32_def(const struct rt_gguf *g, const char *arch, const char *key, float def)
{
	char k[128];
	float v;

	snprintf(k, sizeof(k), "%s.%s", arch, key);
	return rt_gguf_get_f32(g, k, &v) == 0 ? v : def;
}

static int load_hparams(struct rt_model *m)
{
	struct rt_hparams *hp = &m->hp;
	const struct rt_gguf *g = m->gguf;
	struct rt_gguf_str s;
	const char *a;
	uint32_t v;
	int ret;

	if (rt_gguf_get_str(g, "general.architecture", &s) < 0)
		return rt_set_error(-EINVAL, "%s: no general.architecture", rt_gguf_path(g));
	snprintf(hp->arch_name, sizeof(hp->arch_name), "%s", s.s);
	if (!strcmp(s.s, "llama")) {
		hp->arch = RT_ARCH_LLAMA;
		hp->rope_mode = 0;
	} else if (!strcmp(s.s, "qwen2")) {
		hp->arch = RT_ARCH_QWEN2;
		hp->rope_mode = 2;
	} else {
		return rt_set_error(-EOPNOTSUPP,
				    "%s: unsupported architecture '%s' (supported: llama, qwen2)",
				    rt_gguf_path(g), s.s);
	}
	if (rt_gguf_get_str(g, "general.name", &s) == 0)
		snprintf(hp->name, sizeof(hp->name), "%s", s.s);
	a = hp->arch_name;

	if ((ret = get_u32_req(g, a, "embedding_length", &v)) < 0)
		return ret;
	hp->dim = (int)v;
	if ((ret = get_u32_req(g, a, "block_count", &v)) < 0)
		return ret;
	hp->n_layer = (int)v;
	if ((ret = get_u32_req(g, a, "feed_forward_length", &v)) < 0)
		return ret;
	hp->ff = (int)v;
	if ((ret = get_u32_req(g, a, "attention.head_count", &v)) < 0)
		return ret;
	hp->n_head = (int)v;
	if ((ret = get_u32_def(g, a, "attention.head_count_kv", (uint32_t)hp->n_head, &v)) < 0)
		return ret;
	hp->n_kv_head = (int)v;
	if ((ret = get_u32_def(g, a, "context_length", 2048, &v)) < 0)
		return ret;
	hp->n_ctx_train = (int)v;
	if ((ret = get_u32_def(g, a, "expert_count", 0, &v)) < 0)
		return ret;
	hp->n_expert = (int)v;
	if ((ret = get_u32_def(g, a, "expert_used_count", 0, &v)) < 0)
		return ret;
	hp->n_expert_used = (int)v;

	if (hp->dim <= 0 || hp->dim > 65536 || hp->n_layer <= 0 || hp->n_layer > 1024 ||
	    hp->n_head <= 0 || hp->n_head > 1024 || hp->n_kv_head <= 0 ||
	    hp->n_head % hp->n_kv_head || hp->ff <= 0 || hp->ff > 1 << 20)
		return rt_set_error(-EINVAL, "%s: implausible hyperparameters (dim %d, layers %d, "
				    "heads %d/%d, ff %d)", rt_gguf_path(g), hp->dim, hp->n_layer,
				    hp->n_head, hp->n_kv_head, hp->ff);
	if ((ret = get_u32_def(g, a, "attention.key_length", (uint32_t)(hp->dim / hp->n_head), &v)) < 0)
		return ret;
	hp->head_dim = (int)v;
	if (hp->head_dim <= 0 || hp->head_dim % 2 || hp->head_dim > 1024)
		return rt_set_error(-EINVAL, "%s: bad head dimension %d", rt_gguf_path(g), hp->head_dim);
	if ((ret = get_u32_def(g, a, "rope.dimension_count", (uint32_t)hp->head_dim, &v)) < 0)
		return ret;
	hp->n_rot = (int)v;
	if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
		return rt_set_error(-EINVAL, "%s: bad rope dimension %d", rt_gguf_path(g), hp->n_rot);
	if (hp->n_expert < 0 || hp->n_expert > 1024 ||
	    (hp->n_expert && (hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert)))
		return rt_set_error(-EINVAL, "%s: bad expert counts %d/%d", rt_gguf_path(g),
				    hp->n_expert_used, hp->n_expert);

	hp->rope_base = get_f32_def(g, a, "rope.freq_base", 10000.0f);
	hp->rms_eps = get_f32_def(g, a, "attention.layer_norm_rms_epsilon", 1e-5f);
	hp->rope_scale = 1.0f;
	{
		char k[128];

		snprintf(k, sizeof(k), "%s.rope.scaling.type", a);
		if (rt_gguf_get_str(g, k, &s) == 0 && !strcmp(s.s, "linear")) {
			float f = get_f32_def(g, a, "rope.scaling.factor", 1.0f);

			if (f > 0)
				hp->rope_scale = 1.0f / f;
		} else if (rt_gguf_get_str(g, k, &s) == 0 && strcmp(s.s, "none") &&
			   strcmp(s.s, "llama3")) {
			return rt_set_error(-EOPNOTSUPP, "%s: rope scaling '%s' is not supported",
					    rt_gguf_path(g), s.s);
		}
	}
	return 0;
}

/* find a tensor, check its type and shape, and give its ref in the pool */
static int bind(struct rt_model *m, struct accel_tensor *t, const char *name, bool required,
		int64_t ne0, int64_t ne1, int64_t ne2, bool f32_only)
{
	const struct rt_gguf_tensor *gt = rt_gguf_find_tensor(m->gguf, name);
	int64_t want[3] = { ne0, ne1, ne2 };

	memset(t, 0, sizeof(*t));
	if (!gt) {
		if (required)
			return rt_set_error(-EINVAL, "%s: tensor '%s' is missing",
					    rt_gguf_path(m->gguf), name);
		return 0;
	}
	for (int i = 0; i < 3; i++)
		if (gt->ne[i] != want[i] || (i == 2 && gt->ne[3] != 1))
			return rt_set_error(-EINVAL, "%s: tensor '%s' has shape [%lld,%lld,%lld,%lld], "
					    "expected [%lld,%lld,%lld]", rt_gguf_path(m->gguf), name,
					    (long long)gt->ne[0], (long long)gt->ne[1],
					    (long long)gt->ne[2], (long long)gt->ne[3],
					    (long long)ne0, (long long)ne1, (long long)ne2);
	if (f32_only ? gt->type != KN_F32 : !kn_type_can_matmul(gt->type))
		return rt_set_error(-EOPNOTSUPP, "%s: tensor '%s' has unsupported type %s (%u)",
				    rt_gguf_path(m->gguf), name, kn_type_name(gt->type), gt->type);
	/* absolute file offset, no pool yet: rt_model_rebind_* place it */
	*t = accel_tensor_make(NULL, gt->offset, gt->type, gt->ne[0], gt->ne[1], gt->ne[2], 1);
	return 0;
}

static int bind_layer(struct rt_model *m, int il)
{
	const struct rt_hparams *hp = &m->hp;
	struct rt_layer *l = &m->layers[il];
	int64_t qd = (int64_t)hp->n_head * hp->head_dim, kvd = (int64_t)hp->n_kv_head * hp->head_dim;
	bool bias = hp->arch == RT_ARCH_QWEN2;
	char n[96];
	int ret = 0;
	const struct rt_gguf_tensor *gt;

#define B(field, suffix, req, a, b, c, f32) do { \
		snprintf(n, sizeof(n), "blk.%d.%s", il, suffix); \
		if ((ret = bind(m, &l->field, n, req, a, b, c, f32)) < 0) \
			return ret; \
	} while (0)
	B(attn_norm, "attn_norm.weight", true, hp->dim, 1, 1, true);
	B(wq, "attn_q.weight", true, hp->dim, qd, 1, false);
	B(wk, "attn_k.weight", true, hp->dim, kvd, 1, false);
	B(wv, "attn_v.weight", true, hp->dim, kvd, 1, false);
	B(wo, "attn_output.weight", true, qd, hp->dim, 1, false);
	B(bq, "attn_q.bias", bias, qd, 1, 1, true);
	B(bk, "attn_k.bias", bias, kvd, 1, 1, true);
	B(bv, "attn_v.bias", bias, kvd, 1, 1, true);
	B(ffn_norm, "ffn_norm.weight", true, hp->dim, 1, 1, true);
	if (hp->n_expert) {
		snprintf(n, sizeof(n), "blk.%d.ffn_gate.0.weight", il);
		if (rt_gguf_find_tensor(m->gguf, n))
			return rt_set_error(-EOPNOTSUPP, "%s: per-expert MoE tensors ('%s') are an old "
					    "layout; re-convert with a current llama.cpp",
					    rt_gguf_path(m->gguf), n);
		B(gate_inp, "ffn_gate_inp.weight", true, hp->dim, hp->n_expert, 1, false);
		B(gate_exps, "ffn_gate_exps.weight", true, hp->dim, hp->ff, hp->n_expert, false);
		B(up_exps, "ffn_up_exps.weight", true, hp->dim, hp->ff, hp->n_expert, false);
		B(down_exps, "ffn_down_exps.weight", true, hp->ff, hp->dim, hp->n_expert, false);
	} else {
		B(w_gate, "ffn_gate.weight", true, hp->dim, hp->ff, 1, false);
		B(w_up, "ffn_up.weight", true, hp->dim, hp->ff, 1, false);
		B(w_down, "ffn_down.weight", true, hp->ff, hp->dim, 1, false);
	}
#undef B
	/* the layer's byte range in the file: streaming reads it as a whole */
	l->file_begin = UINT64_MAX;
	l->file_end = 0;
	snprintf(n, sizeof(n), "blk.%d.", il);
	for (int64_t i = 0; i < rt_gguf_n_tensors(m->gguf); i++) {
		gt = rt_gguf_tensor(m->gguf, i);
		if (strncmp(gt->name, n, strlen(n)))
			continue;
		if (gt->offset < l->file_begin)
			l->file_begin = gt->offset;
		if (gt->offset + gt->size > l->file_end)
			l->file_end = gt->offset + gt->size;
	}
	return 0;
}

static int bind_all(struct rt_model *m)
{
	const struct rt_hparams *hp = &m->hp;
	const struct rt_gguf_tensor *emb = rt_gguf_find_tensor(m->gguf, "token_embd.weight");
	int ret;

	if (!emb)
		return rt_set_error(-EINVAL, "%s: tensor 'token_embd.weight' is missing",
				    rt_gguf_path(m->gguf));
	m->hp.n_vocab = (int)emb->ne[1];
	if ((ret = bind(m, &m->tok_embd, "token_embd.weight", true, hp->dim, hp->n_vocab, 1, false)) < 0)
		return ret;
	if ((ret = bind(m, &m->output_norm, "output_norm.weight", true, hp->dim, 1, 1, true)) < 0)
		return ret;
	if ((ret = bind(m, &m->output, "output.weight", false, hp->dim, hp->n_vocab, 1, false)) < 0)
		return ret;
	if (!m->output.ne[0]) {
		m->output = m->tok_embd;
		m->hp.tied_output = true;
	}
	if ((ret = bind(m, &m->freq_factors, "rope_freqs.weight", false, hp->n_rot / 2, 1, 1, true)) < 0)
		return ret;
	m->hp.has_freq_factors = m->freq_factors.ne[0] != 0;
	m->layers = calloc(hp->n_layer, sizeof(*m->layers));
	m->layers_file = calloc(hp->n_layer, sizeof(*m->layers));
	if (!m->layers || !m->layers_file)
		return -ENOMEM;
	for (int il = 0; il < hp->n_layer; il++)
		if ((ret = bind_layer(m, il)) < 0)
			return ret;
	memcpy(m->layers_file, m->layers, sizeof(*m->layers) * hp->n_layer);
	/*
	 * Streaming sizes its slot ring for the largest unit; an output head
	 * bigger than a layer (Llama 3's 128K vocab) is split into row chunks no
	 * bigger than a layer, so the same budget holds more slots.
	 */
	m->head_chunks = 1;
	if (!m->hp.tied_output) {
		const struct rt_gguf_tensor *o = rt_gguf_find_tensor(m->gguf, "output.weight");
		uint64_t max_layer = 0;

		for (int il = 0; il < hp->n_layer; il++)
			if (m->layers[il].file_end - m->layers[il].file_begin > max_layer)
				max_layer = m->layers[il].file_end - m->layers[il].file_begin;
		if (max_layer && o->size > max_layer)
			m->head_chunks = (int)((o->size + max_layer - 1) / max_layer);
		if (m->head_chunks > hp->n_vocab)
			m->head_chunks = hp->n_vocab;
	}
	return 0;
}

#define LAYER_TENSORS(l) { &(l)->attn_norm, &(l)->wq, &(l)->wk, &(l)->wv, &(l)->wo, &(l)->bq, \
	&(l)->bk, &(l)->bv, &(l)->ffn_norm, &(l)->w_gate, &(l)->w_up, &(l)->w_down, \
	&(l)->gate_inp, &(l)->gate_exps, &(l)->up_exps, &(l)->down_exps }

static const char *const layer_tensor_names[RT_LAYER_N_TENSORS] = {
	"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
	"attn_output.weight", "attn_q.bias", "attn_k.bias", "attn_v.bias", "ffn_norm.weight",
	"ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", "ffn_gate_inp.weight",
	"ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight",
};

void rt_layer_tensors(struct rt_layer *l, struct accel_tensor **out)
{
	struct accel_tensor *t[] = LAYER_TENSORS(l);

	memcpy(out, t, sizeof(t));
}

const char *rt_layer_tensor_name(int i)
{
	return i >= 0 && i < RT_LAYER_N_TENSORS ? layer_tensor_names[i] : NULL;
}

void rt_model_rebind_layer(struct rt_model *m, int il, struct accel_pool *pool,
			   uint64_t pool_offset)
{
	struct rt_layer *l = &m->layers[il], *f = &m->layers_file[il];
	struct accel_tensor *dst[] = LAYER_TENSORS(l);
	struct accel_tensor *src[] = LAYER_TENSORS(f);

	for (size_t i = 0; i < sizeof(dst) / sizeof(dst[0]); i++) {
		if (!src[i]->ne[0])
			continue;
		*dst[i] = *src[i];
		dst[i]->pool = pool;
		dst[i]->offset = src[i]->offset - f->file_begin + pool_offset;
	}
}

void rt_model_rebind_pool(struct rt_model *m, struct accel_pool *pool)
{
	uint64_t base = rt_model_data_base(m);
	struct accel_tensor *g[] = { &m->tok_embd, &m->output_norm, &m->output, &m->freq_factors };

	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		if (g[i]->ne[0] && !g[i]->pool) {
			g[i]->pool = pool;
			g[i]->offset -= base;
		}
	}
	for (int il = 0; il < m->hp.n_layer; il++)
		rt_model_rebind_layer(m, il, pool, m->layers_file[il].file_begin - base);
}

uint64_t rt_model_data_base(const struct rt_model *m)
{
	/* the weights pool mirrors the file from this 4 KiB-aligned offset */
	return rt_gguf_data_offset(m->gguf) & ~(uint64_t)4095;
}

/* read the tensor data section into the weights pool with the COPY engine */
static int load_weights(struct rt_model *m)
{
	uint64_t base = rt_model_data_base(m), end = rt_gguf_file_size(m->gguf);
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts,
		.size = (end - base + 4095) & ~(uint64_t)4095,
		.flags = ACCEL_POOL_HUGEPAGE | ACCEL_POOL_PAGEABLE);
	struct accel_fence_point sig;
	struct accel_cmd cmd[2];
	int n, ret;

	ret = accel_pool_create(m->dev, &po, &m->weights);
	if (ret < 0)
		return rt_set_error(ret, "cannot allocate %llu MiB for the weights: %s",
				    (unsigned long long)(po.size >> 20), strerror(-ret));
	n = rt_model_prep_read(m, cmd, m->weights, 0, base, end);
	sig.fence = m->fence;
	sig.point = ++m->fence_point;
	ret = accel_queue_submit(m->copy, cmd, (uint32_t)n, NULL, 0, &sig);
	if (ret == 0)
		ret = accel_fence_wait(m->fence, sig.point, -1);
	if (ret == 0)
		ret = accel_queue_error(m->copy);
	if (ret < 0)
		return rt_set_error(ret, "%s: reading the weights failed: %s", rt_gguf_path(m->gguf),
				    strerror(-ret));
	return 0;
}

int rt_model_prep_read(const struct rt_model *m, struct accel_cmd *cmd, struct accel_pool *pool,
		       uint64_t pool_off, uint64_t begin, uint64_t end)
{
	uint64_t ab = begin & ~(uint64_t)4095, fsize = rt_gguf_file_size(m->gguf);
	uint64_t de = (end + 4095) & ~(uint64_t)4095;
	int n = 0;

	if (de > (fsize & ~(uint64_t)4095))
		de = fsize & ~(uint64_t)4095;
	if (de > ab)
		accel_cmd_prep_read_file(&cmd[n++], accel_tensor_make(pool, pool_off, ACCEL_DTYPE_I8,
					 (int64_t)(de - ab), 1, 1, 1), m->fd_direct, ab);
	else
		de = ab;
	if (end > de)
		accel_cmd_prep_read_file(&cmd[n++], accel_tensor_make(pool, pool_off + (de - ab),
					 ACCEL_DTYPE_I8, (int64_t)(end - de), 1, 1, 1), m->fd_buf, de);
	return n;
}

static int open_model_file(struct rt_model *m)
{
	const char *path = rt_gguf_path(m->gguf);

	m->fd_buf = open(path, O_RDONLY | O_CLOEXEC);
	if (m->fd_buf < 0)
		return rt_set_error(-errno, "%s: %s", path, strerror(errno));
	m->fd_direct = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	m->direct = m->fd_direct >= 0;
	if (m->fd_direct < 0)	/* tmpfs and friends: tools warn on !m->direct */
		m->fd_direct = m->fd_buf;
	return 0;
}

int rt_model_load(const char *path, const struct rt_model_opts *opts, struct rt_model **out)
{
	struct rt_model_opts def = { 0 };
	struct accel_queue_opts qo;
	struct rt_model *m;
	double t0 = now_s();
	int ret;

	if (!opts)
		opts = &def;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fd_direct = m->fd_buf = -1;
	ret = rt_gguf_open(path, &m->gguf);
	if (ret < 0)
		goto err;
	if ((ret = load_hparams(m)) < 0)
		goto err;
	m->n_ctx = opts->n_ctx > 0 ? opts->n_ctx : (m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096);
	m->n_batch = opts->n_batch > 0 ? opts->n_batch : 512;
	if (m->n_batch > m->n_ctx)
		m->n_batch = m->n_ctx;
	m->n_seq = opts->n_seq > 0 ? opts->n_seq : 1;
	if (m->n_batch < m->n_seq)
		m->n_batch = m->n_seq;

	ret = accel_device_open(opts->device, &m->dev);
	if (ret < 0) {
		rt_set_error(ret, "cannot open the accel device: %s", strerror(-ret));
		goto err;
	}
	qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE,
			.threads = opts->threads > 0 ? (uint32_t)opts->threads : 0);
	if ((ret = accel_queue_create(m->dev, &qo, &m->compute)) < 0) {
		rt_set_error(ret, "cannot create the compute queue: %s", strerror(-ret));
		goto err;
	}
	qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY);
	if ((ret = accel_queue_create(m->dev, &qo, &m->copy)) < 0) {
		rt_set_error(ret, "cannot create the copy queue: %s", strerror(-ret));
		goto err;
	}
	if ((ret = accel_fence_create(m->dev, &m->fence)) < 0)
		goto err;
	/* bind before loading: refuse a bad model before reading gigabytes */
	if ((ret = bind_all(m)) < 0)
		goto err;
	if (opts->head_chunks > 0 && !m->hp.tied_output)
		m->head_chunks = opts->head_chunks < m->hp.n_vocab ? opts->head_chunks : m->hp.n_vocab;
	if ((ret = open_model_file(m)) < 0)
		goto err;
	if (opts->mem_budget) {
		ret = rt_stream_setup(m, opts->mem_budget);
		if (ret < 0)
			goto err;
	}
	if (!m->stream) {
		if ((ret = load_weights(m)) < 0)
			goto err;
		/* the weights pool exists only now: point the refs at it */
		rt_model_rebind_pool(m, m->weights);
	}
	ret = rt_kvcache_create(m->dev, m->hp.n_layer, m->hp.n_kv_head, m->hp.head_dim, m->n_ctx,
				m->n_seq, opts->kv_block_tokens > 0 ? opts->kv_block_tokens : 16,
				ACCEL_DTYPE_F32, &m->kv);
	if (ret < 0)
		goto err;
	if ((ret = rt_model_alloc_activations(m)) < 0)
		goto err;
	m->load_seconds = now_s() - t0;
	*out = m;
	return 0;
err:
	rt_model_free(m);
	return ret;
}

void rt_model_free(struct rt_model *m)
{
	if (!m)
		return;
	if (m->compute)
		accel_queue_wait_idle(m->compute);
	rt_stream_teardown(m);
	accel_queue_destroy(m->compute);
	accel_queue_destroy(m->copy);
	rt_kvcache_destroy(m->kv);
	accel_pool_destroy(m->act);
	accel_pool_destroy(m->weights);
	accel_fence_destroy(m->fence);
	accel_device_close(m->dev);
	if (m->fd_direct >= 0 && m->fd_direct != m->fd_buf)
		close(m->fd_direct);
	if (m->fd_buf >= 0)
		close(m->fd_buf);
	rt_gguf_close(m->gguf);
	free(m->layers);
	free(m->layers_file);
	free(m->cmds);
	free(m);
}
