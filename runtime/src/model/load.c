// SPDX-License-Identifier: MIT
/*
 * Model loading: the device, its queues and fences; hyperparameters and the
 * tensor table checked before a byte of weights is read; then the weights
 * placed (resident, or streamed under a budget), the KV cache and the
 * activations. Builds no commands and owns no math. Also the accessors.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "arch/arch.h"
#include "kvcache.h"
#include "rt_error.h"
#include "rt_gguf.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
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

int rt_model_read_sync(struct rt_model *m, struct accel_pool *pool, uint64_t pool_off,
		       uint64_t begin, uint64_t end)
{
	struct accel_cmd cmd[2];
	struct accel_fence_point sig = { m->fence, ++m->fence_point };
	int n = rt_model_prep_read(m, cmd, pool, pool_off, begin, end), ret;

	ret = accel_queue_submit(m->copy, cmd, (uint32_t)n, NULL, 0, &sig);
	if (ret == 0)
		ret = accel_fence_wait(m->fence, sig.point, -1);
	if (ret == 0)
		ret = accel_queue_error(m->copy);
	return ret;
}

static int open_model_file(struct rt_model *m)
{
	const char *path = rt_gguf_path(m->gguf);

	struct stat st;

	/* the path was checked by rt_gguf_open, but may have been replaced since:
	 * O_NONBLOCK so a FIFO cannot hang the open, then the same check */
	m->fd_buf = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (m->fd_buf < 0)
		return rt_set_error(-errno, "%s: %s", path, strerror(errno));
	if (fstat(m->fd_buf, &st) || !S_ISREG(st.st_mode))
		return rt_set_error(-EINVAL, "%s: not a regular file", path);
	m->fd_direct = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT | O_NONBLOCK);
	m->direct = m->fd_direct >= 0;
	if (m->fd_direct < 0)	/* tmpfs and friends: tools warn on !m->direct */
		m->fd_direct = m->fd_buf;
	return 0;
}

static int open_device(struct rt_model *m, const struct rt_model_opts *opts)
{
	struct accel_queue_opts qo;
	int ret;

	const char *env = getenv("ACCEL_DEVICE");

	ret = accel_device_open(opts->device, &m->dev);
	/* name what chose the device: the caller's path, or ACCEL_DEVICE */
	if (ret < 0 && opts->device)
		return rt_set_error(ret, "accel device %s: %s", opts->device, strerror(-ret));
	if (ret < 0 && env && *env)
		return rt_set_error(ret, "accel device %s (from ACCEL_DEVICE): %s", env,
				    strerror(-ret));
	if (ret < 0)
		return rt_set_error(ret, "cannot open an accel device: %s", strerror(-ret));
	if (opts->gpu && (ret = rt_model_gpu_attach(m, opts)) < 0)
		return ret;
	qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE,
			.threads = opts->threads > 0 ? (uint32_t)opts->threads : 0,
			.flags = m->gpu_copy ? ACCEL_QUEUE_GPU : 0);
	if ((ret = accel_queue_create(m->dev, &qo, &m->compute)) < 0)
		return rt_set_error(ret, "cannot create the compute queue: %s", strerror(-ret));
	m->threads = (int)qo.threads;
	if (!qo.threads) {
		struct accel_device_info di;

		if ((ret = accel_device_info(m->dev, &di)) < 0)
			return rt_set_error(ret, "accel device info: %s", strerror(-ret));
		m->threads = (int)di.cpu_threads;
	}
	/*
	 * 8 requests of 1 MiB in flight, not libaccel's 32: sequential
	 * O_DIRECT reads of a 3 GB model file on the 2-core VM with a virtio
	 * disk (mq-deadline) gave 1.88-2.18 GB/s at 8 x 1 MiB and 1.41-1.65
	 * GB/s at 32 x 1 MiB (3 runs each, alternating).
	 */
	qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY, .depth = RT_COPY_DEPTH);
	if ((ret = accel_queue_create(m->dev, &qo, &m->copy)) < 0)
		return rt_set_error(ret, "cannot create the copy queue: %s", strerror(-ret));
	rt_exec_init(&m->ex, m->compute);
	return accel_fence_create(m->dev, &m->fence);
}

/*
 * -c and -np as llama.cpp's llama_context reads them (b11312,
 * src/llama-context.cpp): unified, every sequence may use the whole n_ctx
 * of one shared cache; split, each gets n_ctx / n_seq (llama.cpp also pads
 * that to 256 cells, a granularity of its ring of cells that blocks on
 * demand do not need). The pool holds n_ctx positions: per sequence whole
 * blocks when split, so every sequence can always fill its share.
 */
static int ctx_split(struct rt_model *m, int mode, int n_ctx, int block_tokens)
{
	int64_t total;
	int per;

	switch (mode) {
	case RT_CTX_PER_SEQ:
		m->n_ctx = n_ctx;
		m->kv_tokens = 0;
		return 0;
	case RT_CTX_SPLIT:
		per = n_ctx / m->n_seq;
		if (per < 1)
			return rt_set_error(-EINVAL, "a context of %d positions cannot be split "
					    "between %d sequences", n_ctx, m->n_seq);
		m->n_ctx = per;
		total = ((int64_t)per + block_tokens - 1) / block_tokens * block_tokens * m->n_seq;
		if (total > INT_MAX)
			return rt_set_error(-EINVAL, "context %d too large", n_ctx);
		m->kv_tokens = (int)total;
		return 0;
	case RT_CTX_UNIFIED:
		m->n_ctx = n_ctx;
		m->kv_tokens = n_ctx;
		return 0;
	}
	return rt_set_error(-EINVAL, "unknown context mode %d", mode);
}

int rt_model_load(const char *path, const struct rt_model_opts *opts, struct rt_model **out)
{
	struct rt_model_opts def = { 0 };
	struct rt_kvcache_cfg kvcfg;
	struct rt_kvcache_geom geom;
	struct rt_model *m;
	double t0 = now_s();
	int ret, n_ctx;

	if (!opts)
		opts = &def;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fd_direct = m->fd_buf = -1;
	m->mlock = opts->mlock;
	if ((ret = rt_gguf_open(path, &m->gguf)) < 0 ||
	    (ret = rt_model_hparams_load(m)) < 0)
		goto err;
	n_ctx = opts->n_ctx > 0 ? opts->n_ctx : (m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096);
	m->n_seq = opts->n_seq > 0 ? opts->n_seq : 1;
	if ((ret = ctx_split(m, opts->ctx_mode, n_ctx, opts->kv_block_tokens > 0 ?
			     opts->kv_block_tokens : 16)) < 0)
		goto err;
	m->n_batch = opts->n_batch > 0 ? opts->n_batch : 512;
	if (m->n_batch > n_ctx)	/* llama.cpp: at most n_ctx, the total */
		m->n_batch = n_ctx;
	if (m->n_batch < m->n_seq)
		m->n_batch = m->n_seq;
	if (m->n_batch < m->n_seq)
		m->n_batch = m->n_seq;
	/* KV settings as llama.cpp resolves them, before reading any weight */
	if ((ret = rt_kvcache_cfg_resolve(opts->type_k, opts->type_v, opts->flash_attn,
					  m->hp.head_dim, &kvcfg)) < 0)
		goto err;
	if ((ret = open_device(m, opts)) < 0)
		goto err;
	/* bind before loading: refuse a bad model before reading gigabytes */
	if ((ret = rt_model_bind(m)) < 0)
		goto err;
	m->l0 = opts->layer_first;
	m->l1 = opts->layer_end ? opts->layer_end : m->hp.n_layer;
	if (m->l0 < 0 || m->l0 >= m->l1 || m->l1 > m->hp.n_layer) {
		ret = rt_set_error(-EINVAL, "layer range %d..%d: the model has layers 0..%d",
				   m->l0, m->l1 - 1, m->hp.n_layer - 1);
		goto err;
	}
	m->embeds = m->l0 == 0;
	m->has_head = m->l1 == m->hp.n_layer;
	if (opts->head_chunks > 0 && !m->hp.tied_output)
		m->head_chunks = opts->head_chunks < m->hp.n_vocab ? opts->head_chunks : m->hp.n_vocab;
	m->head = calloc(m->head_chunks, sizeof(*m->head));
	if (!m->head) {
		ret = -ENOMEM;
		goto err;
	}
	if ((ret = open_model_file(m)) < 0)
		goto err;
	if (opts->moe_prefetch != RT_MOE_PREFETCH_DEFAULT && opts->moe_prefetch != RT_MOE_PREFETCH_ON &&
	    opts->moe_prefetch != RT_MOE_PREFETCH_OFF) {
		ret = rt_set_error(-EINVAL, "MoE prefetch mode %d (0 default: on, 1 on, 2 off)",
				   opts->moe_prefetch);
		goto err;
	}
	m->moe_prefetch = opts->moe_prefetch != RT_MOE_PREFETCH_OFF;
	if (opts->mem_budget && (ret = rt_stream_setup(m, opts->mem_budget)) < 0)
		goto err;
	if (!m->wops) {		/* no budget, or everything fits it */
		m->head_chunks = 1;
		if ((ret = rt_weights_resident_setup(m)) < 0)
			goto err;
	}
	geom = (struct rt_kvcache_geom){
		.n_layer = m->l1 - m->l0, .n_kv_head = m->hp.n_kv_head, .head_dim = m->hp.head_dim,
		.n_ctx = m->n_ctx, .n_seq = m->n_seq, .kv_tokens = m->kv_tokens,
		.block_tokens = opts->kv_block_tokens > 0 ? opts->kv_block_tokens : 16,
	};
	ret = rt_kvcache_create(m->dev, &geom, &kvcfg, &m->kv);
	if (ret < 0)
		goto err;
	if (opts->kv_pool_fd > 2 && (ret = rt_kvcache_adopt_pool(m->kv, m->dev, opts->kv_pool_fd)) < 0)
		goto err;
	if ((ret = rt_model_alloc_activations(m)) < 0 || (ret = rt_model_gpu_place(m, opts->vram_budget)) < 0)
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
	if (m->wops)
		m->wops->destroy(m);
	accel_queue_destroy(m->compute);
	accel_queue_destroy(m->copy);
	accel_queue_destroy(m->gpu_copy);
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
	rt_exec_fini(&m->ex);
	free(m->layers);
	free(m->layers_file);
	free(m->head);
	free(m);
}

const struct rt_hparams *rt_model_hparams(const struct rt_model *m)
{
	return &m->hp;
}

const struct rt_gguf *rt_model_gguf(const struct rt_model *m)
{
	return m->gguf;
}

int rt_model_n_ctx(const struct rt_model *m)
{
	return m->n_ctx;
}

int rt_model_n_batch(const struct rt_model *m)
{
	return m->n_batch;
}

int rt_model_n_seq(const struct rt_model *m)
{
	return m->n_seq;
}

double rt_model_load_seconds(const struct rt_model *m)
{
	return m->load_seconds;
}

bool rt_model_direct_io(const struct rt_model *m)
{
	return m->direct;
}

void rt_model_kv_info(const struct rt_model *m, struct rt_kv_info *out)
{
	const uint32_t t[2] = { m->kv->k_dtype, m->kv->v_dtype };
	int r[2];

	for (int i = 0; i < 2; i++)
		r[i] = t[i] == ACCEL_DTYPE_F32 ? RT_KV_F32 : t[i] == ACCEL_DTYPE_Q8_0 ? RT_KV_Q8_0
										 : RT_KV_F16;
	out->type_k = r[0];
	out->type_v = r[1];
	out->flash_attn = m->kv->flash;
	out->bytes_per_token = m->kv->bytes_per_token;
	out->n_ctx_seq = m->n_ctx;
	out->n_seq = m->n_seq;
	out->block_tokens = (int)m->kv->block_tokens;
	out->block_bytes = m->kv->block_bytes;
	out->n_blocks = m->kv->n_blocks;
	out->pool_bytes = (uint64_t)m->kv->n_blocks * m->kv->block_bytes;
}

struct accel_queue *rt_model_copy_queue(struct rt_model *m)
{
	return m->copy;
}

void rt_model_layers(const struct rt_model *m, int *first, int *end)
{
	*first = m->l0;
	*end = m->l1;
}

int rt_model_kv_reserve(struct rt_model *m, int seq, int n_pos)
{
	return rt_kvcache_reserve(m->kv, seq, n_pos);
}

int rt_model_kv_clear(struct rt_model *m, int seq)
{
	return rt_kvcache_clear(m->kv, seq);
}
