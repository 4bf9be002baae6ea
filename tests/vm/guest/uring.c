// SPDX-License-Identifier: MIT
/*
 * io_uring passthrough: the negative table of LOAD/STORE/SIGNAL, LOAD and
 * STORE round trips against the virtio disk (/dev/vda, O_DIRECT) verified
 * byte for byte, buffered LOAD from tmpfs, SIGNAL linked after LOADs, LOAD
 * throughput against userspace io_uring O_DIRECT reads into the mapping, and
 * commands in flight while every fd is closed.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include "akv.h"

#define MIB (1ULL << 20)
#define POOL_SIZE (64 * MIB)

static int fd, vda;
static uint32_t pool;
static unsigned char *map;
static struct io_uring ring;

static struct accelkv_uring_xfer xfer(uint64_t foff, uint64_t poff, uint64_t len)
{
	return (struct accelkv_uring_xfer){ .fd = vda, .handle = pool, .file_offset = foff,
					    .pool_offset = poff, .length = len,
					    .flags = ACCELKV_XFER_DIRECT };
}

#define XCASE(op, mut, want) do {						\
		struct accelkv_uring_xfer x = xfer(0, 0, 4096);			\
		mut;								\
		is_int(akv_cmd_sync(&ring, fd, op, &x, sizeof(x)), want,	\
		       #op ": " #mut);						\
	} while (0)

#define SCASE(mut, want) do {							\
		struct accelkv_uring_signal s = { .syncobj = sobj, .point = 1 };	\
		mut;								\
		is_int(akv_cmd_sync(&ring, fd, ACCELKV_URING_CMD_SIGNAL, &s, sizeof(s)), \
		       want, "SIGNAL: " #mut);					\
	} while (0)

static void test_negative(void)
{
	int wr = open("/tmp/wonly", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int tmp = open("/tmp/small", O_RDWR | O_CREAT | O_TRUNC, 0600);
	int ro = open("/tmp/small", O_RDONLY);
	struct io_uring small;
	uint32_t sobj = 0;
	char buf[4096];

	memset(buf, 1, sizeof(buf));
	write(tmp, buf, sizeof(buf));
	XCASE(0x77, , -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.pad = 1, -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.reserved[0] = 1, -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.reserved[1] = 1, -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.flags = 2, -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.length = 0, -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.length = ACCELKV_XFER_MAX + 4096, -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.pool_offset = POOL_SIZE - 2048, -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.pool_offset = UINT64_MAX & ~4095ULL, -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, (x.pool_offset = POOL_SIZE, x.length = 4096), -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.file_offset = UINT64_MAX & ~4095ULL, -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.file_offset = INT64_MAX - 4095, -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.handle = 0x7fffffff, -ENOENT);
	XCASE(ACCELKV_URING_CMD_LOAD, x.fd = -1, -EBADF);
	XCASE(ACCELKV_URING_CMD_LOAD, x.fd = 1000, -EBADF);
	XCASE(ACCELKV_URING_CMD_LOAD, x.fd = wr, -EBADF);
	XCASE(ACCELKV_URING_CMD_STORE, x.fd = ro, -EBADF);
	XCASE(ACCELKV_URING_CMD_LOAD, x.file_offset = 100, -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.pool_offset = 100, -EINVAL);
	XCASE(ACCELKV_URING_CMD_LOAD, x.length = 100, -EINVAL);
	{
		/* tmpfs has O_DIRECT from 6.6 on; where it does not, -EINVAL */
		int d = open("/tmp/small", O_RDONLY | O_DIRECT);

		XCASE(ACCELKV_URING_CMD_LOAD, x.fd = tmp, d >= 0 ? 4096 : -EINVAL);
		if (d >= 0)
			close(d);
	}
	XCASE(ACCELKV_URING_CMD_LOAD, (x.fd = tmp, x.flags = 0, x.length = 8192), -EIO);
	XCASE(ACCELKV_URING_CMD_LOAD, x.file_offset = 64 * MIB, -EIO);	/* past the disk */
	XCASE(ACCELKV_URING_CMD_LOAD, (x.fd = tmp, x.flags = 0, x.length = 4096), 4096);
	XCASE(ACCELKV_URING_CMD_STORE, (x.fd = fd), -EBADF);	/* no write_iter */
	drmSyncobjCreate(fd, 0, &sobj);
	SCASE(s.flags = 1, -EINVAL);
	SCASE(s.reserved = 1, -EINVAL);
	SCASE(s.point = 0, -EINVAL);
	SCASE(s.syncobj = 0x7fffffff, -ENOENT);
	SCASE(, 0);
	/* without IORING_SETUP_SQE128 the payload does not fit */
	io_uring_queue_init(4, &small, 0);
	{
		struct io_uring_sqe *sqe = io_uring_get_sqe(&small);
		struct io_uring_cqe *cqe;

		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
		sqe->cmd_op = ACCELKV_URING_CMD_SIGNAL;
		io_uring_submit_and_wait(&small, 1);
		io_uring_wait_cqe(&small, &cqe);
		is_int(cqe->res, -EINVAL, "uring_cmd without SQE128: -EINVAL");
		io_uring_cqe_seen(&small, cqe);
	}
	io_uring_queue_exit(&small);
	drmSyncobjDestroy(fd, sobj);
	close(wr);
	close(tmp);
	close(ro);
}

static void test_roundtrip(void)
{
	unsigned char *ref = aligned_alloc(4096, 8 * MIB);
	int wfd = open("/dev/vda", O_RDWR | O_DIRECT);
	uint64_t i;

	/* LOAD 8 MiB from disk offset 5 MiB into pool offset 1 MiB + 4 KiB */
	memset(map, 0, POOL_SIZE);
	is_int(akv_load(&ring, fd, vda, pool, 5 * MIB, MIB + 4096, 8 * MIB, ACCELKV_XFER_DIRECT),
	       8 * MIB, "LOAD 8 MiB direct");
	is_int(pread(vda, ref, 8 * MIB, 5 * MIB), 8 * MIB, "reference pread");
	ok(memcmp(map + MIB + 4096, ref, 8 * MIB) == 0, "LOAD: pool bytes equal the disk bytes");
	ok(map[MIB + 4095] == 0 && map[MIB + 4096 + 8 * MIB] == 0, "nothing written outside");
	/* unaligned, buffered LOAD: sub-page offsets on a buffered fd */
	{
		int bfd = open("/dev/vda", O_RDONLY);

		is_int(akv_load(&ring, fd, bfd, pool, 5 * MIB + 100, 20 * MIB + 7, 10000, 0),
		       10000, "buffered LOAD at odd offsets");
		ok(memcmp(map + 20 * MIB + 7, ref + 100, 10000) == 0, "buffered LOAD bytes");
		close(bfd);
	}
	/* STORE a pattern to disk offset 40 MiB, read it back two ways */
	for (i = 0; i < 4 * MIB; i++)
		map[30 * MIB + i] = (unsigned char)(i * 131 + 17);
	{
		struct accelkv_uring_xfer x = xfer(40 * MIB, 30 * MIB, 4 * MIB);

		x.fd = wfd;
		is_int(akv_cmd_sync(&ring, fd, ACCELKV_URING_CMD_STORE, &x, sizeof(x)), 4 * MIB,
		       "STORE 4 MiB direct");
	}
	is_int(pread(vda, ref, 4 * MIB, 40 * MIB), 4 * MIB, "read back");
	ok(memcmp(ref, map + 30 * MIB, 4 * MIB) == 0, "STORE: disk bytes equal the pool bytes");
	is_int(akv_load(&ring, fd, vda, pool, 40 * MIB, 50 * MIB, 4 * MIB, ACCELKV_XFER_DIRECT),
	       4 * MIB, "LOAD it back elsewhere");
	ok(memcmp(map + 50 * MIB, map + 30 * MIB, 4 * MIB) == 0, "round trip byte for byte");
	close(wfd);
	free(ref);
}

static void test_signal_linked(void)
{
	uint32_t sobj;
	uint64_t point = 0, pt = 7;
	struct accelkv_uring_xfer x[4];
	struct accelkv_uring_signal s;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int i, n = 0, bad = 0;

	drmSyncobjCreate(fd, 0, &sobj);
	is_int(drmSyncobjTimelineWait(fd, &sobj, &pt, 1, 0, DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT, NULL),
	       -ETIME, "point 7 not signalled yet");
	for (i = 0; i < 4; i++) {
		x[i] = xfer(i * MIB, 8 * MIB + i * MIB, MIB);
		sqe = akv_prep_cmd(&ring, fd, ACCELKV_URING_CMD_LOAD, &x[i], sizeof(x[i]), i);
		sqe->flags |= IOSQE_IO_LINK;
	}
	s = (struct accelkv_uring_signal){ .syncobj = sobj, .point = 7 };
	akv_prep_cmd(&ring, fd, ACCELKV_URING_CMD_SIGNAL, &s, sizeof(s), 99);
	io_uring_submit(&ring);
	is_int(drmSyncobjTimelineWait(fd, &sobj, &pt, 1, (int64_t)((akv_now() + 20) * 1e9),
				      DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT, NULL),
	       0, "linked SIGNAL point 7 after four LOADs");
	while (n < 5 && io_uring_wait_cqe(&ring, &cqe) == 0) {
		if (cqe->user_data == 99 ? cqe->res != 0 : cqe->res != (int)MIB)
			bad++;
		io_uring_cqe_seen(&ring, cqe);
		n++;
	}
	is_int(bad, 0, "all five completed successfully");
	drmSyncobjQuery(fd, &sobj, &point, 1);
	is_int(point, 7, "timeline at 7");
	drmSyncobjDestroy(fd, sobj);
}

/* MiB/s of 32 MiB read in 1 MiB requests, 8 in flight, by LOAD or by READ. */
static double throughput(int by_load)
{
	const int qd = 8, total = 32;
	struct accelkv_uring_xfer x[8];
	struct io_uring_cqe *cqe;
	int sub = 0, done = 0, bad = 0;
	double t0 = akv_now();

	while (done < total) {
		while (sub < total && sub - done < qd) {
			if (by_load) {
				x[sub % qd] = xfer((uint64_t)sub * MIB, (uint64_t)sub * MIB, MIB);
				akv_prep_cmd(&ring, fd, ACCELKV_URING_CMD_LOAD, &x[sub % qd],
					     sizeof(x[0]), sub);
			} else {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

				memset(sqe, 0, 128);
				io_uring_prep_read(sqe, vda, map + (uint64_t)sub * MIB, MIB,
						   (uint64_t)sub * MIB);
			}
			sub++;
		}
		io_uring_submit_and_wait(&ring, 1);
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			bad += cqe->res != (int)MIB;
			io_uring_cqe_seen(&ring, cqe);
			done++;
		}
	}
	return bad ? -1 : total / (akv_now() - t0);
}

static void test_throughput(void)
{
	double load, user;

	throughput(1);
	load = throughput(1);
	user = throughput(0);
	ok(load > 0 && user > 0, "throughput runs completed");
	diag("LOAD %.0f MiB/s, userspace io_uring O_DIRECT read into the mapping %.0f MiB/s",
	     load, user);
	printf("# metric load_mib_s %.0f user_read_mib_s %.0f\n", load, user);
}

/*
 * With inject_eagain=1 every inline-queued LOAD completes first with
 * -EAGAIN and is submitted again from the task: the data must still arrive.
 */
static void test_inject_eagain(void)
{
	const char *knob = "/sys/module/accelkv/parameters/inject_eagain";
	unsigned char *ref = aligned_alloc(4096, 4 * MIB);
	struct accelkv_uring_xfer x[4];
	struct io_uring_cqe *cqe;
	long long before = akv_debugfs_value("xfer_resubmits");
	int i, k = open(knob, O_WRONLY), bad = 0;

	if (k < 0 || before < 0) {
		skip(3, "no inject_eagain knob or debugfs");
		free(ref);
		return;
	}
	write(k, "1", 1);
	memset(map + 40 * MIB, 0, 4 * MIB);
	for (i = 0; i < 4; i++) {
		x[i] = xfer(20 * MIB + i * MIB, 40 * MIB + i * MIB, MIB);
		akv_prep_cmd(&ring, fd, ACCELKV_URING_CMD_LOAD, &x[i], sizeof(x[i]), i);
	}
	io_uring_submit(&ring);
	for (i = 0; i < 4 && io_uring_wait_cqe(&ring, &cqe) == 0; i++) {
		bad += cqe->res != (int)MIB;
		io_uring_cqe_seen(&ring, cqe);
	}
	write(k, "0", 1);
	close(k);
	is_int(bad, 0, "4 LOADs completed despite the injected -EAGAIN");
	pread(vda, ref, 4 * MIB, 20 * MIB);
	ok(memcmp(map + 40 * MIB, ref, 4 * MIB) == 0, "resubmitted LOADs delivered the bytes");
	ok(akv_debugfs_value("xfer_resubmits") > before, "debugfs counted resubmissions (%lld -> %lld)",
	   before, akv_debugfs_value("xfer_resubmits"));
	free(ref);
}

/*
 * What the VFS checks for read(2)/write(2) applies to LOAD and STORE: no
 * positional I/O on a pipe (-ESPIPE; a pipe used to be read like a file),
 * no STORE to an O_APPEND file (-EINVAL: it ignores the offset, and a retry
 * would append twice; it used to succeed).
 */
static void test_vfs_rules(void)
{
	int p[2], app = open("/tmp/append", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	char buf[4096];
	struct stat st;

	memset(buf, 7, sizeof(buf));
	if (pipe(p) || app < 0)
		bail_out("pipe or open");
	write(p[1], buf, sizeof(buf));
	XCASE(ACCELKV_URING_CMD_LOAD, (x.fd = p[0], x.flags = 0), -ESPIPE);
	XCASE(ACCELKV_URING_CMD_STORE, (x.fd = p[1], x.flags = 0), -ESPIPE);
	XCASE(ACCELKV_URING_CMD_STORE, (x.fd = app, x.flags = 0), -EINVAL);
	fstat(app, &st);
	is_int(st.st_size, 0, "nothing appended");
	close(p[0]);
	close(p[1]);
	close(app);
}

/* Wait up to a second for an inotify event with @mask on @in. */
static int got_event(int in, uint32_t mask)
{
	char buf[4096] __attribute__((aligned(8)));
	double t0 = akv_now();
	ssize_t n, i;

	while (akv_now() - t0 < 1.0) {
		n = read(in, buf, sizeof(buf));
		for (i = 0; n > 0 && i < n;) {
			struct inotify_event *e = (struct inotify_event *)(buf + i);

			if (e->mask & mask)
				return 1;
			i += sizeof(*e) + e->len;
		}
		usleep(1000);
	}
	return 0;
}

/*
 * LOAD sends IN_ACCESS and STORE IN_MODIFY, buffered (completed where they
 * are issued) and direct (completed by the kiocb callback), as read(2) and
 * write(2) do; they used to send none.
 */
static void test_fsnotify(void)
{
	int in = inotify_init1(IN_NONBLOCK), f = open("/tmp/notify", O_RDWR | O_CREAT | O_TRUNC, 0600);
	char buf[8192];

	memset(buf, 3, sizeof(buf));
	write(f, buf, sizeof(buf));
	if (in < 0 && errno == ENOSYS) {
		skip(6, "no inotify in this kernel (the debug kernel)");
		close(f);
		return;
	}
	if (in < 0 || inotify_add_watch(in, "/tmp/notify", IN_ACCESS | IN_MODIFY) < 0 ||
	    inotify_add_watch(in, "/dev/vda", IN_ACCESS) < 0)
		bail_out("inotify");
	got_event(in, ~0U);	/* drain */
	is_int(akv_load(&ring, fd, f, pool, 0, 0, 4096, 0), 4096, "buffered LOAD");
	ok(got_event(in, IN_ACCESS), "buffered LOAD: IN_ACCESS");
	{
		struct accelkv_uring_xfer x = xfer(4096, 0, 4096);

		x.fd = f;
		x.flags = 0;
		is_int(akv_cmd_sync(&ring, fd, ACCELKV_URING_CMD_STORE, &x, sizeof(x)), 4096,
		       "buffered STORE");
	}
	ok(got_event(in, IN_MODIFY), "buffered STORE: IN_MODIFY");
	is_int(akv_load(&ring, fd, vda, pool, 0, 0, MIB, ACCELKV_XFER_DIRECT), MIB, "direct LOAD");
	ok(got_event(in, IN_ACCESS), "direct LOAD: IN_ACCESS");
	close(in);
	close(f);
}

/* The blocking resubmission of a STORE (a kworker's, since the fix). */
static void test_inject_eagain_store(void)
{
	const char *knob = "/sys/module/accelkv/parameters/inject_eagain";
	unsigned char *ref = aligned_alloc(4096, MIB);
	int k = open(knob, O_WRONLY), wfd = open("/dev/vda", O_RDWR | O_DIRECT);
	long long before = akv_debugfs_value("xfer_resubmits");
	uint64_t i;

	if (k < 0 || wfd < 0)
		bail_out("knob or /dev/vda");
	for (i = 0; i < MIB; i++)
		map[60 * MIB + i] = (unsigned char)(i * 7 + 1);
	write(k, "1", 1);
	{
		struct accelkv_uring_xfer x = xfer(44 * MIB, 60 * MIB, MIB);

		x.fd = wfd;
		is_int(akv_cmd_sync(&ring, fd, ACCELKV_URING_CMD_STORE, &x, sizeof(x)), MIB,
		       "STORE completed despite the injected -EAGAIN");
	}
	write(k, "0", 1);
	close(k);
	pread(vda, ref, MIB, 44 * MIB);
	ok(memcmp(ref, map + 60 * MIB, MIB) == 0, "resubmitted STORE wrote the bytes");
	ok(akv_debugfs_value("xfer_resubmits") > before, "it was resubmitted");
	close(wfd);
	free(ref);
}

/* Close everything with LOADs in flight: they complete, nothing breaks. */
static void test_close_in_flight(void)
{
	struct accelkv_uring_xfer x[16];
	struct io_uring r;
	struct io_uring_cqe *cqe;
	uint64_t off;
	uint32_t h = 0;
	int f = akv_open(), v = open("/dev/vda", O_RDONLY | O_DIRECT), i, n = 0, sane = 0;

	akv_ring(&r, 32);
	akv_pool(f, 16 * MIB, 0, 0, &h, &off);
	for (i = 0; i < 16; i++) {
		x[i] = (struct accelkv_uring_xfer){ .fd = v, .handle = h,
			.file_offset = i * MIB, .pool_offset = i * MIB, .length = MIB,
			.flags = ACCELKV_XFER_DIRECT };
		akv_prep_cmd(&r, f, ACCELKV_URING_CMD_LOAD, &x[i], sizeof(x[i]), i);
	}
	io_uring_submit(&r);
	akv_pool_destroy(f, h);
	close(v);
	close(f);
	while (n < 16 && io_uring_wait_cqe(&r, &cqe) == 0) {
		sane += cqe->res == (int)MIB || cqe->res < 0;
		io_uring_cqe_seen(&r, cqe);
		n++;
	}
	is_int(sane, 16, "16 LOADs in flight over closed fds all completed");
	io_uring_queue_exit(&r);
}

int main(void)
{
	uint64_t off;

	fd = akv_open_or_skip();
	vda = open("/dev/vda", O_RDONLY | O_DIRECT);
	if (vda < 0)
		plan_skip_all("no /dev/vda");
	plan(65);
	if (akv_ring(&ring, 64))
		bail_out("io_uring with SQE128");
	if (akv_pool(fd, POOL_SIZE, 0, 0, &pool, &off))
		bail_out("pool");
	map = mmap(NULL, POOL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	if (map == MAP_FAILED)
		bail_out("mmap");
	test_negative();
	test_roundtrip();
	test_signal_linked();
	test_throughput();
	test_inject_eagain();
	test_inject_eagain_store();
	test_vfs_rules();
	test_fsnotify();
	test_close_in_flight();
	munmap(map, POOL_SIZE);
	akv_pool_destroy(fd, pool);
	io_uring_queue_exit(&ring);
	is_int(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES), 0, "nothing left pinned");
	close(fd);
	return done_testing();
}
