// SPDX-License-Identifier: MIT
/*
 * accel-bench device: libaccel's own costs. KV block alloc/free (one thread,
 * and per op with two threads on one pool), fence signal-to-wake latency of
 * a sleeping waiter, COMPUTE per-command overhead (NOP), and COPY engine
 * read bandwidth of a temp file against plain pread.
 *   accel-bench device [--device emu|PATH] [--size SIZE] [--dir DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "accel.h"
#include "tool_parse.h"
#include "bench.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int bench_err(const char *what, int err)
{
	fprintf(stderr, "accel-bench: device: %s: %s\n", what, strerror(-err));
	return 1;
}

/* ------------------------------------------------------------ KV blocks */

#define KV_ROUNDS 200
#define KV_BATCH 256

struct kv_arg {
	struct accel_pool *pool;
	uint64_t ns;
	int err;
};

/* alloc KV_BATCH blocks one by one, then free them one by one; rounds */
static void *kv_loop(void *p)
{
	struct kv_arg *a = p;
	uint32_t ids[KV_BATCH];
	uint64_t t0 = now_ns();

	for (int r = 0; r < KV_ROUNDS && !a->err; r++) {
		for (int i = 0; i < KV_BATCH && !a->err; i++)
			a->err = accel_kv_alloc(a->pool, 1, &ids[i]);
		for (int i = 0; i < KV_BATCH && !a->err; i++)
			a->err = accel_kv_free(a->pool, 1, &ids[i]);
	}
	a->ns = now_ns() - t0;
	return NULL;
}

static int bench_kv(struct accel_device *dev)
{
	struct accel_pool_opts o = ACCEL_OPTS(accel_pool_opts, .size = 4 * KV_BATCH * 4096,
					       .block_size = 4096,
					       .flags = ACCEL_POOL_KV | ACCEL_POOL_PAGEABLE);
	struct accel_pool *pool = NULL;
	struct kv_arg a[2];
	pthread_t th;
	double ops = 2.0 * KV_ROUNDS * KV_BATCH;
	uint32_t ids[KV_BATCH];
	uint64_t ta = 0, tf = 0;
	int ret = accel_pool_create(dev, &o, &pool);

	if (ret)
		return bench_err("pool create", ret);
	/* one thread: alloc and free timed apart */
	for (int r = 0; r < KV_ROUNDS; r++) {
		uint64_t t0 = now_ns(), t1;

		for (int i = 0; i < KV_BATCH; i++)
			ret |= accel_kv_alloc(pool, 1, &ids[i]);
		t1 = now_ns();
		for (int i = 0; i < KV_BATCH; i++)
			ret |= accel_kv_free(pool, 1, &ids[i]);
		ta += t1 - t0;
		tf += now_ns() - t1;
	}
	if (ret)
		return bench_err("kv alloc/free", ret);
	printf("kv_alloc_ns: %.1f\n", (double)ta / (KV_ROUNDS * KV_BATCH));
	printf("kv_free_ns: %.1f\n", (double)tf / (KV_ROUNDS * KV_BATCH));
	/* two threads on one pool: per-op time seen by each */
	memset(a, 0, sizeof(a));
	a[0].pool = a[1].pool = pool;
	pthread_create(&th, NULL, kv_loop, &a[1]);
	kv_loop(&a[0]);
	pthread_join(th, NULL);
	if (a[0].err || a[1].err)
		return bench_err("kv alloc/free (2 threads)", a[0].err ? a[0].err : a[1].err);
	printf("kv_alloc_free_2t_ns: %.1f\n", (double)(a[0].ns + a[1].ns) / 2 / ops);
	accel_pool_destroy(pool);
	return 0;
}

/* --------------------------------------------------------------- fences */

#define FENCE_ROUNDS 1000

struct fence_arg {
	struct accel_fence *go, *ack;
	uint64_t woke[FENCE_ROUNDS];
	int err;
};

static void *fence_waiter(void *p)
{
	struct fence_arg *a = p;

	for (uint64_t i = 1; i <= FENCE_ROUNDS && !a->err; i++) {
		a->err = accel_fence_wait(a->go, i, 5000000000LL);
		a->woke[i - 1] = now_ns();
		if (!a->err)
			a->err = accel_fence_signal(a->ack, i);
	}
	return NULL;
}

static int bench_fence(struct accel_device *dev)
{
	static struct fence_arg a;
	uint64_t sig[FENCE_ROUNDS], lat[FENCE_ROUNDS];
	const struct timespec nap = { 0, 200000 };	/* let the waiter fall asleep */
	pthread_t th;
	int ret;

	memset(&a, 0, sizeof(a));
	if ((ret = accel_fence_create(dev, &a.go)) || (ret = accel_fence_create(dev, &a.ack)))
		return bench_err("fence create", ret);
	pthread_create(&th, NULL, fence_waiter, &a);
	for (uint64_t i = 1; i <= FENCE_ROUNDS && !ret; i++) {
		nanosleep(&nap, NULL);
		sig[i - 1] = now_ns();
		ret = accel_fence_signal(a.go, i);
		if (!ret)
			ret = accel_fence_wait(a.ack, i, 5000000000LL);
	}
	pthread_join(th, NULL);
	if (ret || a.err)
		return bench_err("fence ping", ret ? ret : a.err);
	for (int i = 0; i < FENCE_ROUNDS; i++)
		lat[i] = a.woke[i] - sig[i];
	qsort(lat, FENCE_ROUNDS, sizeof(lat[0]), cmp_u64);
	printf("fence_wake_median_us: %.2f\n", lat[FENCE_ROUNDS / 2] / 1000.0);
	printf("fence_wake_p99_us: %.2f\n", lat[FENCE_ROUNDS * 99 / 100] / 1000.0);
	accel_fence_destroy(a.go);
	accel_fence_destroy(a.ack);
	return 0;
}

/* -------------------------------------------------------------- compute */

#define NOP_BATCH 2000
#define NOP_TRIPS 500

static int bench_compute(struct accel_device *dev)
{
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE,
						.threads = 2);
	struct accel_queue *q = NULL;
	struct accel_fence *f = NULL;
	struct accel_cmd *cmds = calloc(NOP_BATCH, sizeof(*cmds));
	uint64_t t0, best = UINT64_MAX, trip[NOP_TRIPS];
	int ret;

	if (!cmds)
		return bench_err("calloc", -ENOMEM);
	for (int i = 0; i < NOP_BATCH; i++)
		accel_cmd_prep(&cmds[i], ACCEL_OP_NOP);
	if ((ret = accel_queue_create(dev, &qo, &q)) || (ret = accel_fence_create(dev, &f)))
		goto out;
	/* per command inside a submission: the barrier cost (best of 5) */
	for (int r = 0; r < 5 && !ret; r++) {
		t0 = now_ns();
		ret = accel_queue_submit(q, cmds, NOP_BATCH, NULL, 0, NULL);
		if (!ret)
			ret = accel_queue_wait_idle(q);
		if (now_ns() - t0 < best)
			best = now_ns() - t0;
	}
	/* one NOP per submission, waited on its fence: the round trip */
	for (int i = 0; i < NOP_TRIPS && !ret; i++) {
		struct accel_fence_point sp = { f, (uint64_t)i + 1 };

		t0 = now_ns();
		ret = accel_queue_submit(q, cmds, 1, NULL, 0, &sp);
		if (!ret)
			ret = accel_fence_wait(f, sp.point, 5000000000LL);
		trip[i] = now_ns() - t0;
	}
	if (ret)
		goto out;
	qsort(trip, NOP_TRIPS, sizeof(trip[0]), cmp_u64);
	printf("compute_threads: 2\n");
	printf("compute_nop_per_cmd_us: %.3f\n", (double)best / NOP_BATCH / 1000.0);
	printf("compute_nop_roundtrip_median_us: %.2f\n", trip[NOP_TRIPS / 2] / 1000.0);
	printf("compute_nop_roundtrip_p99_us: %.2f\n", trip[NOP_TRIPS * 99 / 100] / 1000.0);
out:
	accel_queue_destroy(q);
	accel_fence_destroy(f);
	free(cmds);
	return ret ? bench_err("compute NOP", ret) : 0;
}

/* ----------------------------------------------------------------- copy */

static double gbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : 0;	/* bytes/ns == GB/s */
}

static int copy_read(struct accel_queue *q, struct accel_pool *pool, int fd, uint64_t size,
		     uint64_t *ns)
{
	struct accel_cmd c;
	uint64_t t0 = now_ns();
	int ret;

	accel_cmd_prep_read_file(&c, accel_tensor_make(pool, 0, ACCEL_DTYPE_I8, (int64_t)size,
						       1, 1, 1), fd, 0);
	ret = accel_queue_submit(q, &c, 1, NULL, 0, NULL);
	if (!ret)
		ret = accel_queue_wait_idle(q);
	*ns = now_ns() - t0;
	accel_queue_clear_error(q);
	return ret;
}

static int pread_read(uint8_t *dst, int fd, uint64_t size, uint64_t *ns)
{
	uint64_t t0 = now_ns(), pos = 0;

	while (pos < size) {
		size_t len = size - pos < (1 << 20) ? size - pos : (1 << 20);
		ssize_t r = pread(fd, dst + pos, len, (off_t)pos);

		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		pos += (uint64_t)r;
	}
	*ns = now_ns() - t0;
	return 0;
}

static int bench_copy(struct accel_device *dev, uint64_t size, const char *dir)
{
	struct accel_pool_opts o = ACCEL_OPTS(accel_pool_opts, .size = size,
					       .flags = ACCEL_POOL_PAGEABLE);
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY);
	struct accel_pool *pool = NULL;
	struct accel_queue *q = NULL;
	char path[4096];
	uint64_t ns, best_q = UINT64_MAX, best_p = UINT64_MAX;
	uint8_t *p;
	int fd = -1, dfd = -1, ret;

	snprintf(path, sizeof(path), "%s/accel-bench-XXXXXX", dir);
	if ((ret = accel_pool_create(dev, &o, &pool)) || (ret = accel_queue_create(dev, &qo, &q)))
		goto out;
	p = accel_pool_ptr(pool);
	fd = mkstemp(path);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	unlink(path + 0);
	for (uint64_t i = 0; i < size; i += 4096)
		p[i] = (uint8_t)(i >> 12);
	if (pwrite(fd, p, size, 0) != (ssize_t)size) {
		ret = -EIO;
		goto out;
	}
	/* page cache warm: both read from memory; best of 3 */
	for (int r = 0; r < 3 && !ret; r++) {
		ret = copy_read(q, pool, fd, size, &ns);
		best_q = ns < best_q ? ns : best_q;
		if (!ret)
			ret = pread_read(p, fd, size, &ns);
		best_p = ns < best_p ? ns : best_p;
	}
	if (ret)
		goto out;
	printf("copy_file_mib: %llu\n", (unsigned long long)(size >> 20));
	printf("copy_read_gbps: %.2f\n", gbps(size, best_q));
	printf("pread_gbps: %.2f\n", gbps(size, best_p));
	/* O_DIRECT through the same file, if the filesystem allows it */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	dfd = open(path, O_RDONLY | O_DIRECT);
	if (dfd < 0 || copy_read(q, pool, dfd, size, &ns)) {
		printf("copy_read_direct_gbps: n/a\n");
		goto out;
	}
	/* alternate, best of 3: whoever reads first warms the host's cache */
	best_q = best_p = UINT64_MAX;
	for (int r = 0; r < 3 && !ret; r++) {
		ret = pread_read(p, dfd, size, &ns);
		best_p = ns < best_p ? ns : best_p;
		if (!ret)
			ret = copy_read(q, pool, dfd, size, &ns);
		best_q = ns < best_q ? ns : best_q;
	}
	if (ret)
		goto out;
	printf("copy_read_direct_gbps: %.2f\n", gbps(size, best_q));
	printf("pread_direct_gbps: %.2f\n", gbps(size, best_p));
out:
	if (dfd >= 0)
		close(dfd);
	if (fd >= 0)
		close(fd);
	accel_queue_destroy(q);
	accel_pool_destroy(pool);
	return ret ? bench_err("copy", ret) : 0;
}

int bench_device(int argc, char **argv)
{
	const char *device = NULL, *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	struct accel_device_info info;
	struct accel_device *dev = NULL;
	uint64_t size = 64 << 20;
	const char *size_arg = "64M";
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--device") && i + 1 < argc) {
			device = argv[++i];
		} else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			size_arg = argv[i + 1];
			if (bench_size("--size", argv[++i], &size))
				return 1;
		} else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			dir = argv[++i];
		} else {
			fprintf(stderr, "usage: accel-bench device [--device emu|PATH] "
				"[--size SIZE] [--dir DIR]\n");
			return 1;
		}
	}
	/* whole MiB: the COPY test file is read in 1 MiB requests */
	if (size < (1 << 20) || size > (1ULL << 40) || size % (1 << 20)) {
		fprintf(stderr, "accel-bench: device: --size: '%s' is not whole MiB from 1M to 1T "
			"(e.g. 256M)\n", size_arg);
		return 1;
	}
	accel_set_log(NULL, NULL);
	ret = accel_device_open(device, &dev);
	if (ret)
		return bench_err("open", ret);
	accel_device_info(dev, &info);
	printf("backend: %s\n", info.backend);
	ret = bench_kv(dev) || bench_fence(dev) || bench_compute(dev) ||
	      bench_copy(dev, size, dir);
	accel_device_close(dev);
	return ret;
}
