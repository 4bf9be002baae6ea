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

int main(void)
{
	fd = akv_open_or_skip();
	test_create_vs_close();
	close(fd);
	return done_testing();
}
