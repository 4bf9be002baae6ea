// SPDX-License-Identifier: MIT
/*
 * Races between two threads of one file, as an attacker would run them:
 * each test runs for a few seconds on the guest's two CPUs, then checks that
 * the driver's counters went back to zero. The debug kernel's KASAN and
 * kmemleak judge what the counters cannot see (scripts/vm/init.sh).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "akv.h"

#define RACE_SECONDS 3.0
#define POOL_SIZE (64 << 10)

static int fd;
static atomic_int stop;
static atomic_int calls;	/* LOOKUPs the racer has made this round */

static int gem_close(int f, uint32_t handle)
{
	struct drm_gem_close c = { .handle = handle };

	return ioctl(f, DRM_IOCTL_GEM_CLOSE, &c) ? -errno : 0;
}

/* Closes the handle numbers POOL_CREATE hands out, as soon as they exist. */
static void *closer(void *arg)
{
	long closed = 0;
	uint32_t h;

	while (!atomic_load(&stop))
		for (h = 1; h <= 4; h++)
			closed += gem_close(fd, h) == 0;
	return (void *)closed;
}

/*
 * POOL_CREATE used to read the pool after dropping its reference: a handle
 * closed in between freed it first (KASAN: use-after-free in the debug
 * kernel, within seconds on two CPUs).
 */
static void test_create_vs_close(void)
{
	long created = 0, failed = 0, closed;
	pthread_t t;
	double t0 = akv_now();
	uint32_t h;
	void *ret;

	atomic_store(&stop, 0);
	if (pthread_create(&t, NULL, closer, NULL))
		bail_out("pthread_create");
	while (akv_now() - t0 < RACE_SECONDS) {
		if (akv_pool(fd, POOL_SIZE, 4096, ACCELKV_POOL_KV, &h, NULL)) {
			failed++;
			continue;
		}
		created++;
		/* keep handle numbers low; the closer may have beaten us */
		gem_close(fd, h);
	}
	atomic_store(&stop, 1);
	pthread_join(t, &ret);
	closed = (long)ret;
	for (h = 1; h <= 8; h++)
		gem_close(fd, h);
	diag("%ld pools created, %ld handles closed by the other thread", created, closed);
	ok(created > 0 && closed > 0, "both threads made progress");
	is_int(failed, 0, "no POOL_CREATE failed");
	is_int(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES), 0, "nothing left pinned");
	is_int(akv_debugfs_value("pools"), 0, "debugfs: no pool left");
}

#define LOOKUP_COUNT 65536	/* 512 KiB of hashes: a wide copy-in window */

struct kv_racer {
	int f;
	uint32_t h;
	uint64_t *hashes;
	uint32_t *ids;
};

/* LOOKUPs on one handle (and FREEs of what they found) until told to stop. */
static void *kv_racer(void *arg)
{
	struct kv_racer *r = arg;
	struct drm_accelkv_kv_lookup l = {
		.handle = r->h, .count = LOOKUP_COUNT,
		.blocks_ptr = (uintptr_t)r->ids, .hashes_ptr = (uintptr_t)r->hashes,
	};

	while (!atomic_load(&stop)) {
		l.found = 0;
		if (akv_ioctl(r->f, DRM_IOCTL_ACCELKV_KV_LOOKUP, &l) == 0 && l.found)
			akv_kv(r->f, DRM_IOCTL_ACCELKV_KV_FREE, r->h, r->ids, l.found);
		atomic_fetch_add(&calls, 1);
	}
	return NULL;
}

/*
 * A KV ioctl used to create the file's owner of a pool under the KV lock,
 * after looking the handle up and copying its arrays: a handle closed in
 * between left an owner, and the references it took, keyed by a file that
 * no longer had the pool (freed with the file; the pool kept them until its
 * own end). Another file keeps the pool alive and counts what is left.
 */
static void test_close_vs_kv(void)
{
	struct kv_racer r = { .hashes = calloc(LOOKUP_COUNT, 8), .ids = calloc(LOOKUP_COUNT, 4) };
	uint32_t pool, id;
	struct drm_accelkv_pool_info info;
	struct drm_accelkv_kv_publish p = { .count = 1, .blocks_ptr = (uintptr_t)&id };
	uint64_t hash = 0x5eed;
	double t0 = akv_now();
	int dmabuf, rounds = 0, leaked = 0, found_some = 0;
	pthread_t t;

	if (!r.hashes || !r.ids)
		bail_out("calloc");
	r.hashes[0] = hash;
	is_int(akv_pool(fd, 16 * 4096, 4096, ACCELKV_POOL_KV, &pool, NULL), 0, "KV pool");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, pool, &id, 1), 0, "a block");
	p.handle = pool;
	p.hashes_ptr = (uintptr_t)&hash;
	is_int(akv_ioctl(fd, DRM_IOCTL_ACCELKV_KV_PUBLISH, &p), 0, "published");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, pool, &id, 1), 0, "and cached");
	is_int(drmPrimeHandleToFD(fd, pool, DRM_CLOEXEC, &dmabuf), 0, "exported");
	while (akv_now() - t0 < RACE_SECONDS) {
		r.f = akv_open();
		if (r.f < 0 || drmPrimeFDToHandle(r.f, dmabuf, &r.h))
			bail_out("second file");
		atomic_store(&stop, 0);
		atomic_store(&calls, 0);
		if (pthread_create(&t, NULL, kv_racer, &r))
			bail_out("pthread_create");
		/* close at a varying point of a LOOKUP, once they are running */
		while (!atomic_load(&calls) && akv_now() - t0 < 2 * RACE_SECONDS)
			usleep(100);
		usleep(rounds % 7 * 300);
		gem_close(r.f, r.h);
		atomic_store(&stop, 1);
		pthread_join(t, NULL);
		akv_info(fd, pool, &info);
		leaked += info.blocks_used != 0;
		found_some += info.prefix_hits > 0;
		close(r.f);
		rounds++;
	}
	diag("%d rounds, %d left references behind", rounds, leaked);
	ok(found_some, "the racing LOOKUPs found the block");
	is_int(leaked, 0, "a closed handle never leaves references");
	is_int(akv_info(fd, pool, &info), 0, "pool info");
	is_int(info.blocks_used, 0, "no block used");
	is_int(info.blocks_cached, 1, "the block still cached");
	close(dmabuf);
	is_int(akv_pool_destroy(fd, pool), 0, "destroy");
	is_int(akv_debugfs_value("blocks_used"), 0, "debugfs: blocks_used 0");
	is_int(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES), 0, "nothing left pinned");
	free(r.hashes);
	free(r.ids);
}

#define PEEK_NB 16

struct peek_racer {
	uint32_t h;
	long peeks, bad, errors;
};

/*
 * PEEK_EVICTs of the whole pool until told to stop. Every answer must be
 * whole: ids in range, no id twice, and each hash the one its block was
 * published under (the publisher puts the id in the hash's low bits), never
 * a torn pair of one round's id with another round's hash layout.
 */
static void *peek_racer(void *arg)
{
	struct peek_racer *r = arg;
	uint32_t ids[PEEK_NB], i, j;
	uint64_t hs[PEEK_NB];
	struct drm_accelkv_kv_peek_evict pe = {
		.handle = r->h, .count = PEEK_NB,
		.blocks_ptr = (uintptr_t)ids, .hashes_ptr = (uintptr_t)hs,
	};

	while (!atomic_load(&stop)) {
		pe.found = 0;
		if (akv_ioctl(fd, DRM_IOCTL_ACCELKV_KV_PEEK_EVICT, &pe)) {
			r->errors++;
			continue;
		}
		r->peeks++;
		if (pe.found > PEEK_NB) {
			r->bad++;
			continue;
		}
		for (i = 0; i < pe.found; i++) {
			r->bad += ids[i] >= PEEK_NB || (hs[i] & 0xffff) != ids[i] || !(hs[i] >> 16);
			for (j = 0; j < i; j++)
				r->bad += ids[i] == ids[j];
		}
	}
	return NULL;
}

/*
 * One thread takes every block (evicting every cached one), publishes them
 * under new hashes and lets them go, round after round; the other peeks at
 * what an ALLOC would evict meanwhile, on the same file: the answer is
 * gathered under the pool's lock and copied out after it, so it is never
 * torn, and nothing the peek does leaves a reference behind.
 */
static void test_peek_vs_churn(void)
{
	struct peek_racer r = { 0 };
	uint32_t ids[PEEK_NB], i, pub;
	uint64_t hs[PEEK_NB], round = 1;
	struct drm_accelkv_kv_publish p = {
		.count = PEEK_NB, .blocks_ptr = (uintptr_t)ids, .hashes_ptr = (uintptr_t)hs,
	};
	struct drm_accelkv_pool_info info;
	double t0 = akv_now();
	long churn_errors = 0;
	pthread_t t;

	is_int(akv_pool(fd, PEEK_NB * 4096, 4096, ACCELKV_POOL_KV, &r.h, NULL), 0, "KV pool");
	p.handle = r.h;
	atomic_store(&stop, 0);
	if (pthread_create(&t, NULL, peek_racer, &r))
		bail_out("pthread_create");
	while (akv_now() - t0 < RACE_SECONDS) {
		churn_errors += akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, r.h, ids, PEEK_NB) != 0;
		for (i = 0; i < PEEK_NB; i++)
			hs[i] = round << 16 | ids[i];
		churn_errors += akv_ioctl(fd, DRM_IOCTL_ACCELKV_KV_PUBLISH, &p) != 0;
		pub = p.published;
		churn_errors += pub != PEEK_NB;
		churn_errors += akv_kv(fd, DRM_IOCTL_ACCELKV_KV_FREE, r.h, ids, PEEK_NB) != 0;
		round++;
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	diag("%llu rounds, %ld peeks", (unsigned long long)round - 1, r.peeks);
	ok(round > 1 && r.peeks > 0, "both threads made progress");
	is_int(churn_errors, 0, "every ALLOC, PUBLISH and FREE succeeded");
	is_int(r.errors, 0, "every PEEK_EVICT succeeded");
	is_int(r.bad, 0, "every answer was whole (ids in range, once, with their own hashes)");
	akv_info(fd, r.h, &info);
	ok(info.blocks_used == 0 && info.blocks_cached == PEEK_NB,
	   "no reference left behind, every block cached");
	is_int(akv_pool_destroy(fd, r.h), 0, "destroy");
}

int main(void)
{
	fd = akv_open_or_skip();
	plan(24);
	test_create_vs_close();
	test_close_vs_kv();
	test_peek_vs_churn();
	close(fd);
	return done_testing();
}
