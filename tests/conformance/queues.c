// SPDX-License-Identifier: MIT
/*
 * Conformance: queues and engines. COPY reads a file byte-exact (buffered
 * and O_DIRECT), writes and copies; fences order a COPY queue before a
 * COMPUTE queue; injected and real I/O errors end the submission with the
 * sticky error and the fence still signalled; invalid submissions are
 * refused with -EINVAL and run nothing; cancelled submissions run nothing
 * and still signal in order. Consecutive reads into disjoint bytes are in
 * flight together (one read lands while the one before it still waits on
 * its pipe), all land before the fence signals and before the commands
 * after them run; reads into the same bytes keep their order; an error in
 * such a group (injected, a bad fd, EOF) still ends the submission with
 * the error of the first failing read and the fence signalled. A
 * submission the caller waits for (accel_queue_submit_run) keeps the
 * queue's order, from two threads at once. MOE_FFN's ids with a plane of
 * sequences run; malformed ones are refused.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include "conf.h"

#define FILE_LEN ((1 << 20) + 4096 + 123)
#define POOL_SZ (4 << 20)

static char path[512];

static int make_file(unsigned char *data)
{
	const char *dir = getenv("ACCEL_BUILD");
	int fd;

	snprintf(path, sizeof(path), "%s/accel-queues-XXXXXX", dir ? dir : ".");
	fd = mkstemp(path);
	if (fd < 0)
		bail_out("mkstemp %s: %s", path, strerror(errno));
	for (int i = 0; i < FILE_LEN; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	if (write(fd, data, FILE_LEN) != FILE_LEN)
		bail_out("write test file");
	return fd;
}

static struct accel_tensor bytes(struct accel_pool *pool, uint64_t off, int64_t n)
{
	return accel_tensor_make(pool, off, ACCEL_DTYPE_I8, n, 1, 1, 1);
}

static int submit1(struct accel_queue *q, const struct accel_cmd *c, struct accel_fence *f,
		   uint64_t point)
{
	struct accel_fence_point sp = { f, point };

	return accel_queue_submit(q, c, c ? 1 : 0, NULL, 0, f ? &sp : NULL);
}

static void copy_engine(struct accel_device *dev, struct accel_pool *pool, int fd,
			const unsigned char *data)
{
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY,
						.depth = 4, .chunk = 65536);
	unsigned char *p = accel_pool_ptr(pool), *back;
	struct accel_queue *q = NULL;
	struct accel_cmd c;
	int dfd, wfd, ret;
	char wpath[600];

	is_int(accel_queue_create(dev, &qo, &q), 0, "COPY queue (depth 4, 64 KiB chunks)");
	if (!q)
		bail_out("no COPY queue");
	accel_cmd_prep_read_file(&c, bytes(pool, 4096, FILE_LEN), fd, 0);
	is_int(submit1(q, &c, NULL, 0), 0, "submit READ_FILE of the whole file");
	is_int(accel_queue_wait_idle(q), 0, "read completes without error");
	ok(!memcmp(p + 4096, data, FILE_LEN), "pool holds the file byte-exact");
	ok(p[4095] == 0 && p[4096 + FILE_LEN] == 0, "no byte written outside the range");

	memset(p, 0, 2 << 20);
	accel_cmd_prep_read_file(&c, bytes(pool, 0, 1000), fd, 777);
	submit1(q, &c, NULL, 0);
	is_int(accel_queue_wait_idle(q), 0, "unaligned read at an offset");
	ok(!memcmp(p, data + 777, 1000), "... byte-exact");

	dfd = open(path, O_RDONLY | O_DIRECT);
	if (dfd < 0) {
		skip(2, "O_DIRECT open refused here (%s)", strerror(errno));
	} else {
		memset(p, 0, 2 << 20);
		accel_cmd_prep_read_file(&c, bytes(pool, 0, 1 << 20), dfd, 4096);
		submit1(q, &c, NULL, 0);
		ret = accel_queue_wait_idle(q);
		accel_queue_clear_error(q);
		if (ret == -EINVAL) {
			skip(2, "this filesystem refuses O_DIRECT reads");
		} else {
			is_int(ret, 0, "O_DIRECT aligned read");
			ok(!memcmp(p, data + 4096, 1 << 20), "... byte-exact");
		}
		close(dfd);
	}

	/* WRITE_FILE and COPY */
	memcpy(p + 8192, data, 300000);
	snprintf(wpath, sizeof(wpath), "%s.w", path);
	wfd = open(wpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	back = calloc(1, 300000);
	accel_cmd_prep_write_file(&c, bytes(pool, 8192, 300000), wfd, 10);
	submit1(q, &c, NULL, 0);
	is_int(accel_queue_wait_idle(q), 0, "WRITE_FILE");
	ok(pread(wfd, back, 300000, 10) == 300000 && !memcmp(back, data, 300000),
	   "file holds the pool bytes");
	accel_cmd_prep_copy(&c, bytes(pool, 1 << 20, 300000), bytes(pool, 8192, 300000));
	submit1(q, &c, NULL, 0);
	accel_cmd_prep_copy(&c, bytes(NULL, 0, 300000), bytes(pool, 8192, 300000));
	c.t[0] = accel_tensor_host(back, ACCEL_DTYPE_I8, 300000, 1);
	memset(back, 0, 300000);
	submit1(q, &c, NULL, 0);
	is_int(accel_queue_wait_idle(q), 0, "COPY pool -> pool and pool -> host");
	ok(!memcmp(p + (1 << 20), data, 300000), "pool copy byte-exact");
	ok(!memcmp(back, data, 300000), "host copy byte-exact");
	free(back);
	close(wfd);
	unlink(wpath);
	accel_queue_destroy(q);
}

static void ordering(struct accel_device *dev, struct accel_pool *pool, int fd,
		     const unsigned char *data)
{
	struct accel_queue_opts co = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY);
	struct accel_queue_opts ko = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE,
						.threads = 2);
	struct accel_queue *cq = NULL, *kq = NULL;
	struct accel_fence *gate = NULL, *loaded = NULL, *done = NULL;
	struct accel_fence_point wgate = { 0 }, wload = { 0 }, sload, sdone;
	const float *src = (const float *)data;
	float *out = (float *)((char *)accel_pool_ptr(pool) + (2 << 20));
	struct accel_cmd rd, add;
	int n = 65536, bad = 0;
	uint64_t v = 0;

	accel_queue_create(dev, &co, &cq);
	is_int(accel_queue_create(dev, &ko, &kq), 0, "COMPUTE queue with 2 threads");
	accel_fence_create(dev, &gate);
	accel_fence_create(dev, &loaded);
	accel_fence_create(dev, &done);
	wgate = (struct accel_fence_point){ gate, 1 };
	sload = (struct accel_fence_point){ loaded, 1 };
	wload = (struct accel_fence_point){ loaded, 1 };
	sdone = (struct accel_fence_point){ done, 1 };
	memset(accel_pool_ptr(pool), 0, POOL_SZ);
	accel_cmd_prep_read_file(&rd, accel_tensor_make(pool, 0, ACCEL_DTYPE_F32, n, 1, 1, 1), fd, 0);
	accel_cmd_prep_add(&add, accel_tensor_make(pool, 2 << 20, ACCEL_DTYPE_F32, n, 1, 1, 1),
			   accel_tensor_make(pool, 0, ACCEL_DTYPE_F32, n, 1, 1, 1),
			   accel_tensor_make(pool, 0, ACCEL_DTYPE_F32, n, 1, 1, 1));
	/* the load waits for the gate, so the add is queued well before it */
	is_int(accel_queue_submit(cq, &rd, 1, &wgate, 1, &sload), 0, "submit the load");
	is_int(accel_queue_submit(kq, &add, 1, &wload, 1, &sdone), 0, "submit the add after it");
	usleep(20000);
	accel_fence_query(done, &v);
	is_int(v, 0, "the add waits for the load");
	accel_fence_signal(gate, 1);
	is_int(accel_fence_wait(done, 1, 5000000000LL), 0, "the add's fence signals");
	for (int i = 0; i < n; i++) {
		float want = src[i] + src[i];

		bad += memcmp(&out[i], &want, sizeof(float)) != 0;
	}
	is_int(bad, 0, "the add saw the loaded data (2x every float of the file)");
	accel_queue_destroy(cq);
	accel_queue_destroy(kq);
	accel_fence_destroy(gate);
	accel_fence_destroy(loaded);
	accel_fence_destroy(done);
}

/* accel_queue_cancel: the submission waiting on its gate and those queued
 * behind it run nothing and still signal, in order; later ones run */
static void cancel(struct accel_device *dev, struct accel_pool *pool, int fd,
		   const unsigned char *data)
{
	struct accel_queue_opts co = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY);
	struct accel_queue *q = NULL;
	struct accel_fence *gate = NULL, *f = NULL;
	struct accel_fence_point wgate, sp[4];
	unsigned char *p = accel_pool_ptr(pool);
	struct accel_cmd rd[3];
	uint64_t v = 99;
	int bad = 0, r = 0;

	accel_queue_create(dev, &co, &q);
	accel_fence_create(dev, &gate);
	accel_fence_create(dev, &f);
	wgate = (struct accel_fence_point){ gate, 1 };
	for (int i = 0; i < 4; i++)
		sp[i] = (struct accel_fence_point){ f, (uint64_t)i + 1 };
	memset(p, 0xa5, 3 * 65536);
	for (int i = 0; i < 3; i++)
		accel_cmd_prep_read_file(&rd[i], bytes(pool, (uint64_t)i * 65536, 65536), fd,
					 (uint64_t)i * 65536);
	is_int(accel_queue_cancel(NULL), -EINVAL, "cancel(NULL): -EINVAL");
	r |= accel_queue_submit(q, &rd[0], 1, &wgate, 1, &sp[0]);
	r |= accel_queue_submit(q, &rd[1], 1, NULL, 0, &sp[1]);
	r |= accel_queue_submit(q, &rd[2], 1, NULL, 0, &sp[2]);
	is_int(r, 0, "three reads submitted behind a gate");
	usleep(200000);		/* the first is taken and waits on the gate */
	is_int(accel_queue_cancel(q), 3, "cancel drops the three");
	usleep(20000);
	accel_fence_query(f, &v);
	is_int(v, 0, "the one waiting on its gate still waits for it");
	accel_fence_signal(gate, 1);
	is_int(accel_fence_wait(f, 3, 5000000000LL), 0, "the dropped ones signal");
	for (int i = 0; i < 3 * 65536; i++)
		bad += p[i] != 0xa5;
	is_int(bad, 0, "no dropped read wrote a byte");
	is_int(accel_queue_error(q), 0, "dropping is no error");
	is_int(accel_queue_submit(q, &rd[1], 1, NULL, 0, &sp[3]), 0, "a read submitted after");
	accel_fence_wait(f, 4, 5000000000LL);
	ok(!memcmp(p + 65536, data + 65536, 65536), "it runs: byte-exact");
	is_int(accel_queue_cancel(q), 0, "cancel on an idle queue drops none");
	accel_queue_destroy(q);
	accel_fence_destroy(gate);
	accel_fence_destroy(f);
}

static void errors(struct accel_device *dev, struct accel_pool *pool, int fd)
{
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY,
						.chunk = 65536);
	struct accel_queue_opts ko = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE,
						.threads = 1);
	struct accel_queue *q = NULL, *kq = NULL;
	struct accel_fence *f = NULL;
	unsigned char *p = accel_pool_ptr(pool);
	struct accel_cmd c[2];
	uint64_t v = 0;

	accel_queue_create(dev, &qo, &q);
	accel_queue_create(dev, &ko, &kq);
	accel_fence_create(dev, &f);
	memset(p, 0, POOL_SZ);
	p[3 << 20] = 0x77;
	is_int(accel_queue_inject_fault(q, 3, -EIO), 0, "inject -EIO into the 3rd request");
	accel_cmd_prep_read_file(&c[0], bytes(pool, 0, 1 << 20), fd, 0);
	accel_cmd_prep_copy(&c[1], bytes(pool, 2 << 20, 1), bytes(pool, 3 << 20, 1));
	is_int(accel_queue_submit(q, c, 2, NULL, 0, &(struct accel_fence_point){ f, 1 }), 0,
	       "submit read + copy");
	is_int(accel_fence_wait(f, 1, 5000000000LL), 0, "fence signalled despite the error");
	is_int(accel_queue_wait_idle(q), -EIO, "wait_idle returns the error");
	is_int(accel_queue_error(q), -EIO, "sticky error -EIO");
	ok(p[2 << 20] == 0, "rest of the submission skipped");
	is_int(accel_queue_clear_error(q), -EIO, "clear_error returns the old error");
	is_int(accel_queue_error(q), 0, "error cleared");

	is_int(accel_queue_inject_fault(q, 1, 0), 0, "inject a short read");
	submit1(q, &c[0], f, 2);
	is_int(accel_fence_wait(f, 2, 5000000000LL), 0, "fence signalled");
	is_int(accel_queue_wait_idle(q), -EIO, "short read ends with -EIO");
	accel_queue_clear_error(q);

	accel_cmd_prep_read_file(&c[0], bytes(pool, 0, 2 << 20), fd, 0);
	submit1(q, &c[0], f, 3);
	is_int(accel_queue_wait_idle(q), -EIO, "EOF before the length: -EIO");
	accel_fence_query(f, &v);
	is_int(v, 3, "fence reached the submission's point");
	accel_queue_clear_error(q);
	accel_cmd_prep_read_file(&c[0], bytes(pool, 0, 4096), 1000, 0);
	submit1(q, &c[0], NULL, 0);
	is_int(accel_queue_wait_idle(q), -EBADF, "read from a closed fd: -EBADF");
	accel_queue_clear_error(q);
	is_int(accel_queue_inject_fault(kq, 1, -EIO), -EOPNOTSUPP,
	       "fault injection on COMPUTE: -EOPNOTSUPP");

	/* validation: -EINVAL and nothing runs (the fence stays) */
	accel_cmd_prep_copy(&c[0], bytes(pool, 0, 16), bytes(pool, 4096, 16));
	c[1] = c[0];
	c[1].op = ACCEL_OP_COUNT;
	is_int(accel_queue_submit(q, c, 2, NULL, 0, &(struct accel_fence_point){ f, 9 }), -EINVAL,
	       "unknown opcode: -EINVAL");
	c[1] = c[0];
	c[1].flags = 1;
	is_int(accel_queue_submit(q, c, 2, NULL, 0, NULL), -EINVAL, "command flags: -EINVAL");
	c[1] = c[0];
	c[1].t[0] = bytes(pool, POOL_SZ - 8, 16);
	is_int(accel_queue_submit(q, c, 2, NULL, 0, NULL), -EINVAL, "tensor past the pool end");
	c[1].t[0] = bytes(pool, UINT64_MAX - 4, 16);
	is_int(accel_queue_submit(q, c, 2, NULL, 0, NULL), -EINVAL, "tensor offset overflow");
	c[1] = c[0];
	c[1].t[1] = bytes(pool, 4096, 17);
	is_int(accel_queue_submit(q, c, 2, NULL, 0, NULL), -EINVAL, "COPY of unequal sizes");
	accel_cmd_prep_add(&c[1], accel_tensor_make(pool, 0, ACCEL_DTYPE_F32, 4, 1, 1, 1),
			   accel_tensor_make(pool, 0, ACCEL_DTYPE_F32, 4, 1, 1, 1),
			   accel_tensor_make(pool, 0, ACCEL_DTYPE_F32, 4, 1, 1, 1));
	is_int(accel_queue_submit(q, c, 2, NULL, 0, NULL), -EINVAL,
	       "COMPUTE op on the COPY queue: -EINVAL");
	is_int(accel_queue_submit(kq, c, 1, NULL, 0, NULL), -EINVAL,
	       "COPY op on the COMPUTE queue: -EINVAL");
	is_int(accel_queue_submit(q, c, 1, NULL, 0, &(struct accel_fence_point){ f, 0 }), -EINVAL,
	       "signal point 0: -EINVAL");
	is_int(accel_queue_submit(q, c, 1, &(struct accel_fence_point){ NULL, 1 }, 1, NULL),
	       -EINVAL, "wait on a NULL fence: -EINVAL");
	is_int(accel_queue_wait_idle(q), 0, "nothing ran, no error");
	accel_fence_query(f, &v);
	is_int(v, 3, "refused submissions signalled nothing");
	is_int(accel_queue_submit(q, NULL, 0, NULL, 0, &(struct accel_fence_point){ f, 4 }), 0,
	       "a submission without commands only signals");
	is_int(accel_fence_wait(f, 4, 5000000000LL), 0, "... and it does");
	accel_queue_destroy(q);
	accel_queue_destroy(kq);
	accel_fence_destroy(f);
}

struct gate_arg {
	struct accel_fence *f;
	uint64_t point;
};

static void *open_gate(void *arg)
{
	struct gate_arg *g = arg;

	usleep(30000);
	accel_fence_signal(g->f, g->point);
	return NULL;
}

struct runner {
	struct accel_queue *q;
	struct accel_pool *pool;
	struct accel_fence *f;
	uint64_t off;
	int iters, fails;
};

/* iters x (v += one) through submit_run on a queue shared with another runner */
static void *run_adds(void *arg)
{
	struct runner *r = arg;
	struct accel_tensor v = accel_tensor_make(r->pool, r->off, ACCEL_DTYPE_F32, 64, 1, 1, 1);
	struct accel_tensor one = accel_tensor_make(r->pool, r->off + 256, ACCEL_DTYPE_F32, 64,
						    1, 1, 1);
	struct accel_cmd c;

	accel_cmd_prep_add(&c, v, v, one);
	for (int i = 1; i <= r->iters; i++) {
		struct accel_fence_point sp = { r->f, (uint64_t)i };
		uint64_t got = 0;

		r->fails += accel_queue_submit_run(r->q, &c, 1, NULL, 0, &sp) != 0 ||
			    accel_fence_query(r->f, &got) != 0 || got < (uint64_t)i;
	}
	return NULL;
}

/*
 * accel_queue_submit_run: returns with its commands run and its point
 * reached, after every earlier submission of the queue (even one still
 * waiting on a fence), waits for its own wait points, and refuses what
 * accel_queue_submit refuses; two threads at once on one queue
 */
static void submit_run(struct accel_device *dev, struct accel_pool *pool)
{
	struct accel_queue_opts ko = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE,
						.threads = 2);
	struct accel_queue *kq = NULL;
	struct accel_fence *gate = NULL, *f = NULL, *fa = NULL, *fb = NULL;
	float *x = (float *)accel_pool_ptr(pool);
	const int n = 1024;
	struct accel_tensor tx = accel_tensor_make(pool, 0, ACCEL_DTYPE_F32, n, 1, 1, 1);
	struct accel_tensor tone = accel_tensor_make(pool, 4 * n, ACCEL_DTYPE_F32, n, 1, 1, 1);
	struct accel_fence_point wg = { 0 }, sp;
	struct accel_queue_stats st0, st1;
	struct gate_arg ga;
	struct runner ra, rb;
	struct accel_cmd inc, dbl, bad;
	pthread_t th, tha, thb;
	uint64_t v = 0;
	int wrong = 0;

	is_int(accel_queue_create(dev, &ko, &kq), 0, "COMPUTE queue for submit_run");
	accel_fence_create(dev, &gate);
	accel_fence_create(dev, &f);
	if (!kq || !gate || !f)
		bail_out("no queue or fence for submit_run");
	for (int i = 0; i < n; i++) {
		x[i] = (float)i;
		x[n + i] = 1.0f;
	}
	accel_cmd_prep_add(&inc, tx, tx, tone);		/* x += 1 */
	accel_cmd_prep_add(&dbl, tx, tx, tx);		/* x += x */

	accel_queue_stats(kq, &st0);
	sp = (struct accel_fence_point){ f, 1 };
	is_int(accel_queue_submit_run(kq, &inc, 1, NULL, 0, &sp), 0, "submit_run on an idle queue");
	accel_fence_query(f, &v);
	is_int(v, 1, "its point is reached when it returns");
	for (int i = 0; i < n; i++)
		wrong += x[i] != (float)i + 1.0f;
	is_int(wrong, 0, "its commands ran (x + 1 everywhere)");
	accel_queue_stats(kq, &st1);
	ok(st1.submissions == st0.submissions + 1 && st1.commands == st0.commands + 1,
	   "it counts as one submission of one command");

	/* an earlier submission waiting on a gate runs first */
	wg = (struct accel_fence_point){ gate, 1 };
	sp = (struct accel_fence_point){ f, 2 };
	is_int(accel_queue_submit(kq, &inc, 1, &wg, 1, &sp), 0, "queue x + 1 behind a closed gate");
	ga = (struct gate_arg){ gate, 1 };
	pthread_create(&th, NULL, open_gate, &ga);
	sp = (struct accel_fence_point){ f, 3 };
	is_int(accel_queue_submit_run(kq, &dbl, 1, NULL, 0, &sp), 0,
	       "submit_run of x + x behind it returns");
	pthread_join(th, NULL);
	wrong = 0;
	for (int i = 0; i < n; i++)
		wrong += x[i] != ((float)i + 2.0f) * 2.0f;
	is_int(wrong, 0, "in submission order: (x + 1) * 2, not x * 2 + 1");

	/* its own wait points: it returns only once they are reached and it ran */
	wg = (struct accel_fence_point){ gate, 2 };
	ga = (struct gate_arg){ gate, 2 };
	pthread_create(&th, NULL, open_gate, &ga);
	sp = (struct accel_fence_point){ f, 4 };
	is_int(accel_queue_submit_run(kq, &inc, 1, &wg, 1, &sp), 0,
	       "submit_run waiting on a gate opened later returns");
	pthread_join(th, NULL);
	accel_fence_query(gate, &v);
	is_int(v, 2, "... after the gate opened");
	ok(x[5] == 15.0f, "... having run (x + 1)");

	/* refused as accel_queue_submit refuses: nothing runs, nothing signals */
	sp = (struct accel_fence_point){ f, 5 };
	is_int(accel_queue_submit_run(kq, &inc, 1, NULL, 0, NULL), -EINVAL,
	       "no signal point: -EINVAL");
	bad = inc;
	bad.t[0] = accel_tensor_make(pool, POOL_SZ - 16, ACCEL_DTYPE_F32, n, 1, 1, 1);
	is_int(accel_queue_submit_run(kq, &bad, 1, NULL, 0, &sp), -EINVAL,
	       "a tensor outside its pool: -EINVAL");
	accel_fence_query(f, &v);
	ok(v == 4 && x[5] == 15.0f, "... nothing ran, nothing signalled");
	is_int(accel_queue_error(kq), 0, "no sticky error from refused submissions");

	/* two threads on one queue, each its own buffer and timeline */
	accel_fence_create(dev, &fa);
	accel_fence_create(dev, &fb);
	if (!fa || !fb)
		bail_out("no fences for the submit_run race");
	for (int i = 0; i < 64; i++) {
		x[16384 + i] = 0.0f;
		x[16384 + 64 + i] = 1.0f;
		x[32768 + i] = 0.0f;
		x[32768 + 64 + i] = 1.0f;
	}
	ra = (struct runner){ kq, pool, fa, 4 * 16384, 2000, 0 };
	rb = (struct runner){ kq, pool, fb, 4 * 32768, 2000, 0 };
	pthread_create(&tha, NULL, run_adds, &ra);
	pthread_create(&thb, NULL, run_adds, &rb);
	pthread_join(tha, NULL);
	pthread_join(thb, NULL);
	is_int(ra.fails + rb.fails, 0, "two threads: every submit_run returned 0 with its point reached");
	wrong = 0;
	for (int i = 0; i < 64; i++)
		wrong += x[16384 + i] != 2000.0f || x[32768 + i] != 2000.0f;
	is_int(wrong, 0, "two threads: 2000 increments each, none lost or doubled");
	is_int(accel_queue_wait_idle(kq), 0, "the queue is idle and error-free after");
	accel_queue_destroy(kq);
	accel_fence_destroy(gate);
	accel_fence_destroy(f);
	accel_fence_destroy(fa);
	accel_fence_destroy(fb);
}

/* poll @p for @n bytes equal to @want, up to 10 s (a hang guard, not a
 * measurement): 1 once they are there */
static int landed(const unsigned char *p, const unsigned char *want, size_t n)
{
	for (int i = 0; i < 10000; i++) {
		if (!memcmp((const void *)p, want, n))
			return 1;
		poll(NULL, 0, 1);
	}
	return 0;
}

/* consecutive READ_FILEs into disjoint bytes: one group, in flight at once */
static void groups(struct accel_device *dev, struct accel_pool *pool, int fd,
		   const unsigned char *data)
{
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY,
						.chunk = 65536);
	struct accel_device_info info;
	struct accel_queue *q = NULL;
	struct accel_fence *f = NULL;
	volatile unsigned char *p = accel_pool_ptr(pool);
	struct accel_cmd c[10];
	int pa[2] = { -1, -1 }, pb[2] = { -1, -1 }, bad = 0;
	uint64_t v = 0;

	accel_device_info(dev, &info);
	accel_queue_create(dev, &qo, &q);
	accel_fence_create(dev, &f);

	/* the first read waits on an empty pipe; the second (another pipe) can
	 * land meanwhile only if both are in flight; a COPY runs after both */
	if (pipe(pa) || pipe(pb)) {
		bail_out("pipe: %s", strerror(errno));
	} else if (strcmp(info.backend, "emu")) {
		/* the driver's LOAD reads at offsets: a pipe is refused as pread
		 * refuses it, and the group's error ends the submission */
		memset((void *)p, 0, 3 * 4096);
		accel_cmd_prep_read_file(&c[0], bytes(pool, 0, 4096), pa[0], 0);
		accel_cmd_prep_read_file(&c[1], bytes(pool, 4096, 4096), fd, 0);
		accel_cmd_prep_copy(&c[2], bytes(pool, 8192, 4096), bytes(pool, 4096, 4096));
		is_int(accel_queue_submit(q, c, 3, NULL, 0, &(struct accel_fence_point){ f, 1 }),
		       0, "%s: submit read (pipe), read (file), copy", info.backend);
		is_int(accel_fence_wait(f, 1, 10000000000LL), 0,
		       "%s: the fence signals (nothing waits on the pipe)", info.backend);
		is_int(accel_queue_error(q), -ESPIPE, "%s: the pipe's read fails -ESPIPE",
		       info.backend);
		ok(p[8192] == 0 && p[8193] == 0, "%s: the COPY after the group skipped",
		   info.backend);
		is_int(accel_queue_clear_error(q), -ESPIPE, "%s: ... and the error clears",
		       info.backend);
		/* (were a read still waiting on it, this would end it) */
		if (write(pa[1], data, 4096) != 4096)
			bail_out("write to pipe A: %s", strerror(errno));
		close(pa[0]);
		close(pa[1]);
		close(pb[0]);
		close(pb[1]);
	} else {
		memset((void *)p, 0, 3 * 4096);
		accel_cmd_prep_read_file(&c[0], bytes(pool, 0, 4096), pa[0], 0);
		accel_cmd_prep_read_file(&c[1], bytes(pool, 4096, 4096), pb[0], 0);
		accel_cmd_prep_copy(&c[2], bytes(pool, 8192, 4096), bytes(pool, 4096, 4096));
		is_int(accel_queue_submit(q, c, 3, NULL, 0, &(struct accel_fence_point){ f, 1 }),
		       0, "submit read (pipe A), read (pipe B), copy");
		ok(write(pb[1], data + 4096, 4096) == 4096, "feed pipe B");
		ok(landed((const unsigned char *)p + 4096, data + 4096, 4096),
		   "the second read lands while the first still waits: both in flight");
		accel_fence_query(f, &v);
		ok(v == 0 && p[8192] == 0 && p[8193] == 0,
		   "the fence and the COPY wait for the first read");
		ok(write(pa[1], data, 4096) == 4096 && accel_fence_wait(f, 1, 10000000000LL) == 0 &&
		   !memcmp((const void *)p, data, 4096) &&
		   !memcmp((const void *)(p + 8192), data + 4096, 4096),
		   "fed, the first lands, the fence signals, then the COPY ran on the data");
		close(pa[0]);
		close(pa[1]);
		close(pb[0]);
		close(pb[1]);
	}

	/* eight reads of scattered 4 KiB pages and a COPY of one of them */
	memset((void *)p, 0, 10 * 65536);
	for (int i = 0; i < 8; i++)
		accel_cmd_prep_read_file(&c[i], bytes(pool, (uint64_t)i * 65536, 4096), fd,
					 (uint64_t)((i * 5) % 16) * 65536 / 4);
	accel_cmd_prep_copy(&c[8], bytes(pool, 9 * 65536, 4096), bytes(pool, 7 * 65536, 4096));
	is_int(accel_queue_submit(q, c, 9, NULL, 0, &(struct accel_fence_point){ f, 2 }), 0,
	       "submit 8 reads and a copy");
	is_int(accel_fence_wait(f, 2, 10000000000LL), 0, "the fence signals");
	for (int i = 0; i < 8; i++)
		bad += memcmp((const void *)(p + (uint64_t)i * 65536),
			      data + (uint64_t)((i * 5) % 16) * 65536 / 4, 4096) != 0;
	is_int(bad, 0, "every read landed before the fence signalled, byte-exact");
	ok(!memcmp((const void *)(p + 9 * 65536), data + (uint64_t)((7 * 5) % 16) * 65536 / 4,
		   4096), "the COPY after them saw its read's bytes");

	/* reads into the same bytes: the later one wins, as in order */
	accel_cmd_prep_read_file(&c[0], bytes(pool, 0, 4096), fd, 0);
	accel_cmd_prep_read_file(&c[1], bytes(pool, 65536, 4096), fd, 4096);
	accel_cmd_prep_read_file(&c[2], bytes(pool, 2048, 4096), fd, 8192);
	accel_queue_submit(q, c, 3, NULL, 0, &(struct accel_fence_point){ f, 3 });
	accel_fence_wait(f, 3, 10000000000LL);
	ok(!memcmp((const void *)p, data, 2048) &&
	   !memcmp((const void *)(p + 2048), data + 8192, 4096),
	   "overlapping reads land in submission order");

	/* errors: the first failing read's, the fence signalled, the rest skipped */
	p[3 << 20] = 0x77;
	for (int i = 0; i < 4; i++)
		accel_cmd_prep_read_file(&c[i], bytes(pool, (uint64_t)i * 65536, 65536), fd,
					 (uint64_t)i * 65536);
	accel_cmd_prep_copy(&c[4], bytes(pool, 2 << 20, 1), bytes(pool, 3 << 20, 1));
	p[2 << 20] = 0;
	is_int(accel_queue_inject_fault(q, 3, -EIO), 0, "inject -EIO into the 3rd of 4 reads");
	accel_queue_submit(q, c, 5, NULL, 0, &(struct accel_fence_point){ f, 4 });
	is_int(accel_fence_wait(f, 4, 10000000000LL), 0, "fence signalled despite the error");
	is_int(accel_queue_wait_idle(q), -EIO, "the group fails with -EIO");
	ok(p[2 << 20] == 0, "the COPY after the group skipped");
	accel_queue_clear_error(q);

	is_int(accel_queue_inject_fault(q, 2, 0), 0, "inject a short read into the 2nd");
	accel_queue_submit(q, c, 5, NULL, 0, &(struct accel_fence_point){ f, 5 });
	accel_fence_wait(f, 5, 10000000000LL);
	is_int(accel_queue_wait_idle(q), -EIO, "a short read in a group: -EIO");
	accel_queue_clear_error(q);

	accel_cmd_prep_read_file(&c[1], bytes(pool, 65536, 4096), 1000, 0);
	accel_cmd_prep_read_file(&c[3], bytes(pool, 3 * 65536, 8192), fd, FILE_LEN - 100);
	accel_queue_submit(q, c, 5, NULL, 0, &(struct accel_fence_point){ f, 6 });
	is_int(accel_fence_wait(f, 6, 10000000000LL), 0, "a bad fd and EOF in one group: signalled");
	is_int(accel_queue_wait_idle(q), -EBADF, "... the error of the first failing read: -EBADF");
	ok(p[2 << 20] == 0, "... and the COPY after it skipped");
	accel_queue_clear_error(q);
	accel_cmd_prep_read_file(&c[1], bytes(pool, 65536, 4096), fd, 0);
	accel_queue_submit(q, c, 5, NULL, 0, &(struct accel_fence_point){ f, 7 });
	accel_fence_wait(f, 7, 10000000000LL);
	is_int(accel_queue_wait_idle(q), -EIO, "EOF before the length in a group's last read: -EIO");
	accel_queue_clear_error(q);

	accel_queue_destroy(q);
	accel_fence_destroy(f);
}

static void opts(struct accel_device *dev)
{
	struct accel_queue_opts o = ACCEL_OPTS(accel_queue_opts, .engine = 7);
	struct accel_queue *q = NULL;
	struct accel_device_stats st;
	struct {
		struct accel_queue_opts o;
		uint32_t tail[2];
	} big = { ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY), { 0, 1 } };

	is_int(accel_queue_create(dev, &o, &q), -EINVAL, "unknown engine: -EINVAL");
	o = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY, .flags = 1U << 7);
	is_int(accel_queue_create(dev, &o, &q), -EINVAL, "an unknown queue flag: -EINVAL (ACCEL_QUEUE_GPU: tests/conformance/gpu.c)");
	big.o.sz = sizeof(big);
	is_int(accel_queue_create(dev, &big.o, &q), -EINVAL, "non-zero unknown opts tail");
	ok(q == NULL, "no queue on failure");
	o = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE);
	is_int(accel_queue_create(dev, &o, &q), 0, "COMPUTE queue with default threads");
	accel_device_stats(dev, &st);
	is_int(st.queues, 1, "stats count the queue");
	/* left for accel_device_close to destroy */
}

/*
 * MOE_FFN whose ids carry each token's sequence (accel_cmd_moe_rows), on a
 * COMPUTE queue: accepted and run (zero Q8_0 experts: every output 0);
 * ids of 3 planes, a plane of sequences past the pool's end and an unknown
 * flag refused with -EINVAL, running nothing
 */
static void moe_plane(struct accel_device *dev, struct accel_pool *pool)
{
	enum { DIM = 32, FF = 32, NE = 2, K = 2, N = 3 };
	struct accel_queue_opts ko = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE,
						.threads = 2);
	const uint64_t wb = accel_dtype_row_size(ACCEL_DTYPE_Q8_0, DIM) * FF * NE;
	const uint64_t ox = 0, og = 4096, ou = og + wb, od = ou + wb, ow = od + wb;
	const uint64_t oi = ow + 64, oo = oi + 64;
	unsigned char *p = accel_pool_ptr(pool);
	int32_t *ids = (int32_t *)(p + oi);
	float *out = (float *)(p + oo);
	struct accel_queue *kq = NULL;
	struct accel_cmd c, bad;
	int nonzero = 0;

	accel_queue_create(dev, &ko, &kq);
	memset(p, 0, oo);
	memset(out, 0xff, sizeof(float) * DIM * N);
	for (int i = 0; i < K * N; i++)
		ids[K * N + i] = i / K == 1 ? 7 : -2;	/* the plane: token 1 alone in its sequence */
	accel_cmd_prep_moe_ffn(&c, accel_tensor_make(pool, oo, ACCEL_DTYPE_F32, DIM, N, 1, 1),
			       accel_tensor_make(pool, ox, ACCEL_DTYPE_F32, DIM, N, 1, 1),
			       accel_tensor_make(pool, og, ACCEL_DTYPE_Q8_0, DIM, FF, NE, 1),
			       accel_tensor_make(pool, ou, ACCEL_DTYPE_Q8_0, DIM, FF, NE, 1),
			       accel_tensor_make(pool, od, ACCEL_DTYPE_Q8_0, FF, DIM, NE, 1),
			       accel_tensor_make(pool, ow, ACCEL_DTYPE_F32, K, N, 1, 1),
			       accel_tensor_make(pool, oi, ACCEL_DTYPE_I32, K, N, 1, 1),
			       (struct accel_tensor){ 0 });
	accel_cmd_moe_rows(&c, true, 0);
	is_int(accel_queue_submit(kq, &c, 1, NULL, 0, NULL) ?: accel_queue_wait_idle(kq), 0,
	       "MOE_FFN with ids I32 [k, n, 2] (each entry's sequence) runs");
	for (int i = 0; i < DIM * N; i++)
		nonzero += out[i] != 0.0f;
	is_int(nonzero, 0, "... and writes its zero result");
	bad = c;
	bad.t[6].ne[2] = 3;
	is_int(accel_queue_submit(kq, &bad, 1, NULL, 0, NULL), -EINVAL, "ids of 3 planes: -EINVAL");
	bad = c;
	bad.t[6].offset = POOL_SZ - sizeof(int32_t) * K * N;	/* the ids fit, their plane not */
	is_int(accel_queue_submit(kq, &bad, 1, NULL, 0, NULL), -EINVAL,
	       "a plane of sequences past the pool's end: -EINVAL");
	bad = c;
	bad.i[0] = ACCEL_MOE_ROW_INVARIANT << 1;
	is_int(accel_queue_submit(kq, &bad, 1, NULL, 0, NULL), -EINVAL,
	       "an unknown MOE_FFN flag: -EINVAL");
	is_int(accel_queue_wait_idle(kq), 0, "the refused ones ran nothing, no error");
	accel_queue_destroy(kq);
}

int main(void)
{
	struct accel_device *dev = conf_open(NULL);
	unsigned char *data = malloc(FILE_LEN);
	struct accel_pool *pool = conf_pool(dev, POOL_SZ, 0, 0);
	int fd = make_file(data);

	/* copy_engine 14 (its O_DIRECT skips stand for their 2), ordering 6,
	 * cancel 10, errors 28, groups 20,
	 * submit_run 18, opts 6, moe_plane 6 */
	plan(14 + 6 + 10 + 28 + 20 + 18 + 6 + 6);
	copy_engine(dev, pool, fd, data);
	ordering(dev, pool, fd, data);
	cancel(dev, pool, fd, data);
	errors(dev, pool, fd);
	groups(dev, pool, fd, data);
	submit_run(dev, pool);
	opts(dev);
	moe_plane(dev, pool);
	accel_device_close(dev);
	close(fd);
	unlink(path);
	free(data);
	return done_testing();
}
