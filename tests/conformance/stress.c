// SPDX-License-Identifier: MIT
/*
 * Conformance: multi-threaded stress. 4 threads x 10000 random KV calls on
 * one pool (a block held privately must keep its owner's stamp; a block
 * found by lookup must carry the hash it was published with; counters add
 * up at the end), then fences: ping-pong between two threads and waiters
 * on a timeline that one thread advances.
 */
#include <pthread.h>
#include <stdlib.h>
#include "conf.h"

#define NTHREADS 4
#define NOPS 10000
#define NB 256
#define BS 4096

static struct accel_pool *pool;

struct kv_thread {
	int id;
	int bad;
	int ops_ok;
};

struct held {
	uint32_t b;
	int shared;	/* published or looked up: contents are the hash */
};

static void *kv_worker(void *arg)
{
	struct kv_thread *t = arg;
	struct held h[64];
	int n = 0;
	unsigned seed = 1000u + (unsigned)t->id;

	for (int op = 0; op < NOPS; op++) {
		int what = rand_r(&seed) % 5;
		uint32_t ids[4];
		uint64_t hs[4];
		int cnt = 1 + rand_r(&seed) % 4, r;

		if (what == 0 && n + cnt <= 64) {
			r = accel_kv_alloc(pool, (uint32_t)cnt, ids);
			if (r && r != -ENOMEM)
				t->bad++;
			for (int i = 0; !r && i < cnt; i++) {
				uint64_t *p = accel_kv_block_ptr(pool, ids[i]);

				p[0] = 0xA110C000u + (uint64_t)t->id;
				p[1] = ids[i];
				h[n++] = (struct held){ ids[i], 0 };
			}
		} else if (what == 1 && n) {
			int i = rand_r(&seed) % n;
			uint64_t *p = accel_kv_block_ptr(pool, h[i].b);

			if (!h[i].shared && (p[0] != 0xA110C000u + (uint64_t)t->id || p[1] != h[i].b))
				t->bad++;	/* someone else got our block */
			if (accel_kv_free(pool, 1, &h[i].b))
				t->bad++;
			h[i] = h[--n];
		} else if (what == 2 && n && n < 64) {
			int i = rand_r(&seed) % n;

			if (accel_kv_ref(pool, 1, &h[i].b))
				t->bad++;
			h[n++] = h[i];
		} else if (what == 3 && n) {
			int i = rand_r(&seed) % n;
			uint64_t hash = ((uint64_t)rand_r(&seed) % 512) * 0x9E3779B97F4A7C15ULL;
			uint64_t *p = accel_kv_block_ptr(pool, h[i].b);

			if (h[i].shared)
				continue;
			/* one reference only, so nobody else sees the block yet */
			int refs = 0;

			for (int k = 0; k < n; k++)
				refs += h[k].b == h[i].b;
			if (refs != 1)
				continue;
			p[0] = hash;
			p[1] = ~hash;
			r = accel_kv_publish(pool, 1, &h[i].b, &hash);
			if (r < 0 || r > 1)
				t->bad++;
			h[i].shared = 1;	/* even if skipped: treat as shared */
			if (r == 0) {
				/* hash taken by another block: ours stays private */
				p[0] = 0xA110C000u + (uint64_t)t->id;
				p[1] = h[i].b;
				h[i].shared = 0;
			}
		} else if (what == 4 && n + cnt <= 64) {
			for (int i = 0; i < cnt; i++)
				hs[i] = ((uint64_t)rand_r(&seed) % 512) * 0x9E3779B97F4A7C15ULL;
			r = accel_kv_lookup(pool, (uint32_t)cnt, hs, ids);
			if (r < 0)
				t->bad++;
			for (int i = 0; i < r; i++) {
				uint64_t *p = accel_kv_block_ptr(pool, ids[i]);

				if (p[0] != hs[i] || p[1] != ~hs[i])
					t->bad++;
				h[n++] = (struct held){ ids[i], 1 };
			}
		} else {
			continue;
		}
		t->ops_ok++;
	}
	while (n)
		if (accel_kv_free(pool, 1, &h[--n].b))
			t->bad++;
	return NULL;
}

static struct accel_fence *ping, *pong, *line;

/* queues: two threads submit to one COMPUTE queue, each signalling its own
 * fence; a COPY queue chains on every point of both */
#define NSUBS 2000

struct sub_arg {
	struct accel_queue *q;
	struct accel_fence *f;
	int bad;
};

static void *submitter(void *p)
{
	struct sub_arg *a = p;
	struct accel_cmd c;

	accel_cmd_prep(&c, ACCEL_OP_NOP);
	for (uint64_t i = 1; i <= NSUBS; i++) {
		struct accel_fence_point sp = { a->f, i };

		a->bad += accel_queue_submit(a->q, &c, 1, NULL, 0, &sp) != 0;
	}
	return NULL;
}

static void queues(struct accel_device *dev)
{
	struct accel_queue_opts ko = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE,
						.threads = 2);
	struct accel_queue_opts co = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY);
	struct accel_queue *kq = NULL, *cq = NULL;
	struct accel_fence *chain = NULL;
	struct sub_arg a[2] = { { 0 } };
	pthread_t th[2];
	uint64_t v0 = 0, v1 = 0, vc = 0;
	int bad = 0;

	accel_queue_create(dev, &ko, &kq);
	accel_queue_create(dev, &co, &cq);
	accel_fence_create(dev, &chain);
	for (int i = 0; i < 2; i++) {
		a[i].q = kq;
		accel_fence_create(dev, &a[i].f);
		pthread_create(&th[i], NULL, submitter, &a[i]);
	}
	for (uint64_t i = 1; i <= NSUBS; i++) {
		struct accel_fence_point w[2] = { { a[0].f, i }, { a[1].f, i } };
		struct accel_fence_point sp = { chain, i };

		bad += accel_queue_submit(cq, NULL, 0, w, 2, &sp) != 0;
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	bad += accel_fence_wait(chain, NSUBS, 20000000000LL) != 0;
	bad += accel_queue_wait_idle(kq) != 0 || accel_queue_wait_idle(cq) != 0;
	accel_fence_query(a[0].f, &v0);
	accel_fence_query(a[1].f, &v1);
	accel_fence_query(chain, &vc);
	is_int(bad + a[0].bad + a[1].bad, 0,
	       "2 threads x %d submissions on one COMPUTE queue, chained on a COPY queue", NSUBS);
	ok(v0 == NSUBS && v1 == NSUBS && vc == NSUBS, "every fence reached its last point");
	accel_queue_destroy(kq);
	accel_queue_destroy(cq);
}

static void *ponger(void *arg)
{
	int *bad = arg;

	for (uint64_t i = 1; i <= NOPS; i++) {
		*bad += accel_fence_wait(ping, i, 10000000000LL) != 0;
		*bad += accel_fence_signal(pong, i) != 0;
	}
	return NULL;
}

static void *line_waiter(void *arg)
{
	int *bad = arg;
	unsigned seed = 5;
	uint64_t p = 0, v;

	while (p < NOPS) {
		p += 1 + (uint64_t)(rand_r(&seed) % 97);
		if (p > NOPS)
			p = NOPS;
		*bad += accel_fence_wait(line, p, 10000000000LL) != 0;
		accel_fence_query(line, &v);
		*bad += v < p;
	}
	return NULL;
}

int main(void)
{
	struct accel_device_info info;
	struct accel_device *dev = conf_open(&info);
	struct kv_thread t[NTHREADS];
	pthread_t th[NTHREADS];
	struct accel_pool_info pi;
	int bad = 0, wbad[3] = { 0 }, total = 0;

	if (!(info.caps & ACCEL_CAP_PREFIX_INDEX))
		plan_skip_all("no ACCEL_CAP_PREFIX_INDEX");
	plan(5 + 2 + 2);	/* KV threads 5, fence rounds 2, queues() 2 */
	pool = conf_pool(dev, NB * BS, BS, ACCEL_POOL_KV);
	for (int i = 0; i < NTHREADS; i++) {
		t[i] = (struct kv_thread){ .id = i };
		pthread_create(&th[i], NULL, kv_worker, &t[i]);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		bad += t[i].bad;
		total += t[i].ops_ok;
	}
	is_int(bad, 0, "%d threads x %d random KV ops: no error, no block shared by mistake",
	       NTHREADS, NOPS);
	ok(total > NTHREADS * NOPS / 3, "most ops did something (%d)", total);
	accel_pool_info(pool, &pi);
	is_int(pi.blocks_used, 0, "no block used at the end");
	is_int(pi.blocks_used + pi.blocks_cached + pi.blocks_free, NB, "used + cached + free = all");
	diag("cached %u, prefix hits %llu of %llu", pi.blocks_cached,
	     (unsigned long long)pi.prefix_hits, (unsigned long long)pi.prefix_queries);
	ok(pi.prefix_hits > 0, "lookups found published blocks");

	accel_fence_create(dev, &ping);
	accel_fence_create(dev, &pong);
	accel_fence_create(dev, &line);
	pthread_create(&th[0], NULL, ponger, &wbad[0]);
	for (uint64_t i = 1; i <= NOPS; i++) {
		bad += accel_fence_signal(ping, i) != 0;
		bad += accel_fence_wait(pong, i, 10000000000LL) != 0;
	}
	pthread_join(th[0], NULL);
	is_int(bad + wbad[0], 0, "%d fence ping-pong rounds", NOPS);
	pthread_create(&th[1], NULL, line_waiter, &wbad[1]);
	pthread_create(&th[2], NULL, line_waiter, &wbad[2]);
	for (uint64_t i = 1; i <= NOPS; i++)
		bad += accel_fence_signal(line, i) != 0;
	pthread_join(th[1], NULL);
	pthread_join(th[2], NULL);
	is_int(bad + wbad[1] + wbad[2], 0, "2 waiters on a timeline advanced %d times", NOPS);
	queues(dev);
	accel_device_close(dev);
	return done_testing();
}
