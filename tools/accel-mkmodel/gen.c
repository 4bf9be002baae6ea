// SPDX-License-Identifier: MIT
/*
 * accel-mkmodel generator: seeded Gaussian weights (xoshiro256** and an
 * inverse-CDF table), made chunk by chunk of rows by worker threads, quantized with
 * libaccel's accel_dtype_quantize, and appended in table order by the calling thread. Each
 * chunk's stream is seeded from (seed, tensor name, chunk number), so the
 * file is the same for any thread count and for any --layers prefix.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "accel.h"
#include "rt_error.h"
#include "mkmodel.h"

#define CHUNK_BYTES	(2u << 20)	/* output bytes per chunk (at least one row) */
#define SLOTS_PER_THREAD 2

/* ----------------------------------------------------------------- PRNG */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: every output bit is good (all 64 are used) */
static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
	return h;
}

static void rng_seed(struct rng *r, uint64_t seed, const char *name, uint64_t chunk)
{
	uint64_t x = seed ^ fnv1a(name);
	int i;

	x = splitmix64(&x) ^ chunk;
	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

/*
 * Gaussian values by inverse CDF: 65536 quantiles of N(0, 1) at (k + 0.5) /
 * 65536, indexed by 16 random bits, four values per 64-bit draw (about 1 ns a
 * value; Box-Muller with logf/sincosf cost ~25 ns and dominated the run). The
 * tails stop at 4.3 sigma, which random test weights do not miss.
 */
#define GAUSS_BITS 16
#define GAUSS_N (1u << GAUSS_BITS)

static float gauss_table[GAUSS_N];
static pthread_once_t gauss_once = PTHREAD_ONCE_INIT;

/* Newton on Phi(x) = p, Phi(x) = erfc(-x / sqrt 2) / 2 */
static double inv_phi(double p)
{
	double x = 0.0;
	int i;

	for (i = 0; i < 60; i++) {
		double f = 0.5 * erfc(-x / M_SQRT2) - p;
		double d = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
		double step = f / d;

		if (step > 1.0)
			step = 1.0;
		else if (step < -1.0)
			step = -1.0;
		x -= step;
		if (fabs(step) < 1e-12)
			break;
	}
	return x;
}

static void gauss_init(void)
{
	uint32_t k;

	for (k = 0; k < GAUSS_N / 2; k++) {
		float v = (float)inv_phi((k + 0.5) / GAUSS_N);

		gauss_table[k] = v;			/* exactly symmetric */
		gauss_table[GAUSS_N - 1 - k] = -v;
	}
}

/* gauss_fill - n values of N(mean, std^2) */
static void gauss_fill(struct rng *r, float *y, int64_t n, float mean, float std)
{
	int64_t i;
	int j;

	for (i = 0; i < n; i += 4) {
		uint64_t x = rng_next(r);

		for (j = 0; j < 4 && i + j < n; j++, x >>= GAUSS_BITS)
			y[i + j] = mean + std * gauss_table[x & (GAUSS_N - 1)];
	}
}

/* ---------------------------------------------------------------- chunks */

struct chunk {
	int64_t tensor;
	uint64_t index;		/* chunk number within the tensor */
	int64_t row0, rows;
	size_t bytes;
};

struct slot {
	uint8_t *buf;
	uint64_t seq;		/* the chunk this slot holds or awaits */
	bool ready;
	int err;
};

struct gen {
	struct mk_plan *p;
	const struct mk_opts *o;
	struct chunk *chunks;
	uint64_t n_chunks;
	struct slot *slots;
	int n_slots;
	int64_t max_row;	/* largest ne0 */

	pthread_mutex_t lock;
	pthread_cond_t cond;	/* any slot changed state */
	uint64_t next;		/* next chunk a worker takes */
	bool stop;
};

static int plan_chunks(struct gen *g)
{
	struct mk_plan *p = g->p;
	uint64_t n = 0, cap = 0;
	int64_t t;

	for (t = 0; t < p->n_tensors; t++) {
		const struct mk_tensor *mt = &p->t[t];
		size_t row_bytes = accel_dtype_row_size(mt->type, mt->ne0);
		int64_t rows = (int64_t)(rt_gguf_writer_tensor_size(p->w, t) / row_bytes);
		int64_t per = row_bytes >= CHUNK_BYTES ? 1 : (int64_t)(CHUNK_BYTES / row_bytes);
		int64_t r;
		uint64_t k;

		if (mt->ne0 > g->max_row)
			g->max_row = mt->ne0;
		for (r = 0, k = 0; r < rows; r += per, k++) {
			struct chunk *c;

			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				c = realloc(g->chunks, cap * sizeof(*c));
				if (!c)
					return rt_set_error(-ENOMEM, "out of memory");
				g->chunks = c;
			}
			c = &g->chunks[n++];
			c->tensor = t;
			c->index = k;
			c->row0 = r;
			c->rows = rows - r < per ? rows - r : per;
			c->bytes = (size_t)c->rows * row_bytes;
		}
	}
	g->n_chunks = n;
	return 0;
}

/* make_chunk - the rows of chunk @c into @out; @row is max_row floats */
static int make_chunk(const struct gen *g, const struct chunk *c, uint8_t *out, float *row)
{
	const struct mk_tensor *mt = &g->p->t[c->tensor];
	size_t row_bytes = accel_dtype_row_size(mt->type, mt->ne0);
	struct rng r;
	int64_t i;
	int ret;

	rng_seed(&r, g->o->seed, mt->name, c->index);
	for (i = 0; i < c->rows; i++) {
		float *y = mt->type == ACCEL_DTYPE_F32 ? (float *)(out + i * row_bytes) : row;

		gauss_fill(&r, y, mt->ne0, mt->mean, mt->std);
		if (mt->type == ACCEL_DTYPE_F32)
			continue;
		ret = accel_dtype_quantize(mt->type, row, out + i * row_bytes, mt->ne0);
		if (ret)
			return rt_set_error(ret, "%s: cannot quantize to %s", mt->name,
					    accel_dtype_name(mt->type));
	}
	return 0;
}

static void *worker(void *arg)
{
	struct gen *g = arg;
	float *row = malloc((size_t)g->max_row * sizeof(float));

	pthread_mutex_lock(&g->lock);
	while (!g->stop && g->next < g->n_chunks) {
		uint64_t c = g->next++;
		struct slot *s = &g->slots[c % (uint64_t)g->n_slots];
		int err;

		while (!g->stop && s->seq != c)
			pthread_cond_wait(&g->cond, &g->lock);
		if (g->stop)
			break;
		pthread_mutex_unlock(&g->lock);
		err = row ? make_chunk(g, &g->chunks[c], s->buf, row)
			  : rt_set_error(-ENOMEM, "out of memory");
		pthread_mutex_lock(&g->lock);
		s->err = err;
		s->ready = true;
		pthread_cond_broadcast(&g->cond);
	}
	pthread_mutex_unlock(&g->lock);
	free(row);
	return NULL;
}

/* drain - the calling thread appends chunk after chunk in order */
static int drain(struct gen *g, mk_progress_fn progress, void *ctx)
{
	uint64_t c, total = rt_gguf_writer_file_size(g->p->w);
	int ret = 0;

	for (c = 0; c < g->n_chunks && !ret; c++) {
		struct slot *s = &g->slots[c % (uint64_t)g->n_slots];

		pthread_mutex_lock(&g->lock);
		while (!(s->seq == c && s->ready))
			pthread_cond_wait(&g->cond, &g->lock);
		pthread_mutex_unlock(&g->lock);
		ret = s->err;
		if (ret) {
			/* the worker's message is in its own thread: say it again */
			const struct mk_tensor *mt = &g->p->t[g->chunks[c].tensor];

			ret = rt_set_error(ret, "%s: cannot make %s data", mt->name,
					   accel_dtype_name(mt->type));
			break;
		}
		ret = rt_gguf_writer_append(g->p->w, s->buf, g->chunks[c].bytes);
		pthread_mutex_lock(&g->lock);
		s->ready = false;
		s->seq = c + (uint64_t)g->n_slots;
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);
		if (!ret && progress)
			progress(ctx, rt_gguf_writer_bytes_written(g->p->w), total);
	}
	return ret;
}

char mk_partial[PATH_MAX + 32];
volatile sig_atomic_t mk_partial_set;

int mk_generate(struct mk_plan *p, const struct mk_opts *o, const char *path,
		mk_progress_fn progress, void *ctx)
{
	struct gen g = { .p = p, .o = o };
	int n_threads = o->threads > 0 ? o->threads : 1;
	pthread_t *tids = NULL;
	sigset_t block, saved;
	int i, started = 0, ret;

	pthread_once(&gauss_once, gauss_init);
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	ret = plan_chunks(&g);
	if (ret)
		goto out;
	g.n_slots = n_threads * SLOTS_PER_THREAD;
	g.slots = calloc((size_t)g.n_slots, sizeof(*g.slots));
	tids = calloc((size_t)n_threads, sizeof(*tids));
	if (!g.slots || !tids) {
		ret = rt_set_error(-ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < g.n_slots; i++) {
		g.slots[i].seq = (uint64_t)i;
		g.slots[i].buf = malloc(CHUNK_BYTES + (size_t)g.max_row * 4);
		if (!g.slots[i].buf) {
			ret = rt_set_error(-ENOMEM, "out of memory");
			goto out;
		}
	}
	/* the temporary file is created and published to the signal handler
	 * with the signals that remove it held: one arriving in between would
	 * leave the file behind (seen under load: SIGTERM right after creation) */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &saved);
	ret = rt_gguf_writer_open(p->w, path);
	if (!ret && rt_gguf_writer_temp_path(p->w) &&
	    strlen(rt_gguf_writer_temp_path(p->w)) < sizeof(mk_partial)) {
		strcpy(mk_partial, rt_gguf_writer_temp_path(p->w));
		mk_partial_set = 1;
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (ret)
		goto out;
	for (; started < n_threads; started++) {
		ret = -pthread_create(&tids[started], NULL, worker, &g);
		if (ret) {
			rt_set_error(ret, "cannot start a thread");
			goto out_join;
		}
	}
	ret = drain(&g, progress, ctx);
	if (!ret)
		ret = rt_gguf_writer_finish(p->w, false);
	/* renamed (or removed on failure): nothing left for a handler to remove */
	mk_partial_set = 0;
out_join:
	pthread_mutex_lock(&g.lock);
	g.stop = true;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
out:
	for (i = 0; g.slots && i < g.n_slots; i++)
		free(g.slots[i].buf);
	free(g.slots);
	free(tids);
	free(g.chunks);
	pthread_cond_destroy(&g.cond);
	pthread_mutex_destroy(&g.lock);
	return ret;
}
