// SPDX-License-Identifier: MIT
/*
 * Conformance: timeline fences. Signal/query, non-increasing points
 * (-EINVAL), polling and timed waits (-ETIME after about the timeout), and
 * a waiter in another thread woken by a signal.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include "conf.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct waiter {
	struct accel_fence *f;
	uint64_t point;
	int ret;
	uint64_t woke_ns;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->ret = accel_fence_wait(w->f, w->point, 5000000000LL);
	w->woke_ns = now_ns();
	return NULL;
}

int main(void)
{
	struct accel_device *dev = conf_open(NULL);
	struct accel_fence *f = NULL, *g = NULL;
	struct accel_device_stats st;
	struct waiter w;
	pthread_t th;
	uint64_t v = 99, t0, sig_ns;

	plan(26);	/* straight-line: no test is conditional */
	is_int(accel_fence_create(dev, &f), 0, "create");
	ok(f != NULL, "fence handle");
	is_int(accel_fence_query(f, &v), 0, "query");
	is_int(v, 0, "a new fence is at 0");
	is_int(accel_fence_signal(f, 0), -EINVAL, "signal 0: -EINVAL (not above 0)");
	is_int(accel_fence_signal(f, 5), 0, "signal 5");
	accel_fence_query(f, &v);
	is_int(v, 5, "query: 5");
	is_int(accel_fence_signal(f, 5), -EINVAL, "signal the same point: -EINVAL");
	is_int(accel_fence_signal(f, 3), -EINVAL, "signal a lower point: -EINVAL");
	accel_fence_query(f, &v);
	is_int(v, 5, "value unchanged by refused signals");
	is_int(accel_fence_signal(f, 1ULL << 40), 0, "points may jump");
	is_int(accel_fence_wait(f, 5, 0), 0, "poll of a reached point");
	is_int(accel_fence_wait(f, 1ULL << 40, 0), 0, "poll of the current value");
	is_int(accel_fence_wait(f, (1ULL << 40) + 1, 0), -ETIME, "poll of a future point: -ETIME");
	t0 = now_ns();
	is_int(accel_fence_wait(f, (1ULL << 40) + 1, 20000000), -ETIME, "timed wait: -ETIME");
	v = now_ns() - t0;
	ok(v >= 19000000 && v < 2000000000ULL, "timed wait lasted about 20 ms (%llu us)",
	   (unsigned long long)(v / 1000));

	is_int(accel_fence_create(dev, &g), 0, "second fence");
	w.f = g;
	w.point = 3;
	w.ret = 1;
	pthread_create(&th, NULL, wait_thread, &w);
	usleep(20000);
	is_int(accel_fence_signal(g, 2), 0, "signal below the waited point");
	usleep(20000);
	ok(w.ret == 1, "waiter still waiting at point 2");
	sig_ns = now_ns();
	is_int(accel_fence_signal(g, 3), 0, "signal the waited point");
	pthread_join(th, NULL);
	is_int(w.ret, 0, "waiter woke with 0");
	ok(w.woke_ns >= sig_ns, "woke after the signal (%llu us later)",
	   (unsigned long long)((w.woke_ns - sig_ns) / 1000));
	is_int(accel_device_stats(dev, &st), 0, "stats");
	is_int(st.fences, 2, "stats count 2 fences");
	accel_fence_destroy(g);
	accel_fence_destroy(NULL);
	is_int(accel_fence_signal(NULL, 1), -EINVAL, "signal NULL: -EINVAL");
	is_int(accel_fence_query(f, NULL), -EINVAL, "query into NULL: -EINVAL");
	accel_device_close(dev);	/* destroys f */
	return done_testing();
}
