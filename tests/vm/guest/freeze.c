// SPDX-License-Identifier: MIT
/*
 * Freeze protection of STORE (issue 11, from item 4): an async STORE holds
 * its filesystem's freeze protection until it completes, so FIFREEZE waits
 * for it; a STORE submitted to a frozen filesystem writes nothing until the
 * thaw. The filesystem is ext2 on a memory-backed null_blk whose every
 * request completes 1 s late (irqmode=2), so a STORE stays in flight long
 * enough to see where the freezer sleeps (/proc/PID/wchan): waiting for
 * the writers, the STORE among them (sb_wait_write), not in the
 * filesystem's sync or freeze_fs I/O, where it would sleep if the STORE had
 * dropped its protection at submit.
 * TAP; the modules come from the initramfs (/opt).
 */
#include <linux/fs.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "akv.h"

#define MNT	"/mnt/frz"
#define LEN	(256 * 1024)
#define DELAY_MS	1000	/* null_blk completion_nsec */

static double now_ms(void)
{
	return akv_now() * 1000;
}

static void wchan_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	f = fopen(path, "r");
	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = 0;
}

/* Wait up to @ms for a CQE: its res, or -ETIME. */
static int wait_cqe_ms(struct io_uring *ring, int ms)
{
	struct __kernel_timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	struct io_uring_cqe *cqe;
	int ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);

	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

int main(void)
{
	struct accelkv_uring_xfer x;
	struct io_uring ring;
	unsigned char *map, *back;
	char wchan[128];
	uint64_t off;
	uint32_t pool;
	int fd, file, dir, st, ret;
	double t0;
	pid_t child;

	plan(9);
	fd = akv_open_or_skip();
	if (system("insmod /opt/configfs.ko 2>/dev/null; "
		   "insmod /opt/null_blk.ko nr_devices=1 memory_backed=1 gb=1 bs=4096 "
		   "irqmode=2 completion_nsec=" "1000000000" " && "
		   "mke2fs -F -b 4096 /dev/nullb0 8192 >/dev/null && mkdir -p " MNT " && "
		   "mount -t ext4 /dev/nullb0 " MNT))
		bail_out("null_blk, mke2fs or mount failed");
	/* the file exists and is allocated: the STORE is a pure overwrite */
	if (system("dd if=/dev/zero of=" MNT "/f bs=65536 count=4 2>/dev/null && sync"))
		bail_out("cannot prepare the file");
	file = open(MNT "/f", O_RDWR | O_DIRECT);
	dir = open(MNT, O_RDONLY | O_DIRECTORY);
	if (file < 0 || dir < 0 || akv_pool(fd, 1 << 20, 0, 0, &pool, &off) ||
	    akv_ring(&ring, 8))
		bail_out("setup: %s", strerror(errno));
	map = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	back = aligned_alloc(4096, LEN);
	if (map == MAP_FAILED || !back)
		bail_out("mmap");
	for (int i = 0; i < LEN; i++)
		map[i] = (unsigned char)(i * 7 + 1);
	x = (struct accelkv_uring_xfer){ .fd = file, .handle = pool, .length = LEN,
					 .flags = ACCELKV_XFER_DIRECT };

	/* 1: freeze while an async STORE is in flight */
	akv_prep_cmd(&ring, fd, ACCELKV_URING_CMD_STORE, &x, sizeof(x), 1);
	t0 = now_ms();
	io_uring_submit(&ring);
	child = fork();
	if (child == 0)
		_exit(ioctl(dir, FIFREEZE, 0) ? 1 : 0);
	usleep(DELAY_MS * 1000 / 4);
	wchan_of(child, wchan, sizeof(wchan));
	/* waiting for the writers: sb_wait_write -> percpu_down_write, both
	 * inlined into freeze_super on 6.1; a freezer past that stage would
	 * sleep in sync_filesystem's or the filesystem's own I/O instead */
	ok(!strcmp(wchan, "freeze_super") || !strcmp(wchan, "percpu_down_write") ||
	   !strcmp(wchan, "sb_wait_write"),
	   "FIFREEZE during the STORE waits for the writers (sleeps in '%s')", wchan);
	ret = wait_cqe_ms(&ring, 10 * DELAY_MS);
	is_int(ret, LEN, "the STORE completes in full");
	ok(now_ms() - t0 >= DELAY_MS * 0.9, "... after the device's delay (%.0f ms)",
	   now_ms() - t0);
	ok(waitpid(child, &st, 0) == child && WIFEXITED(st) && !WEXITSTATUS(st),
	   "FIFREEZE succeeds once the STORE is done");

	/* 2: a STORE to the frozen filesystem waits for the thaw */
	for (int i = 0; i < LEN; i++)
		map[i] = (unsigned char)(i * 13 + 5);
	akv_prep_cmd(&ring, fd, ACCELKV_URING_CMD_STORE, &x, sizeof(x), 2);
	io_uring_submit(&ring);
	is_int(wait_cqe_ms(&ring, 2 * DELAY_MS), -ETIME,
	       "a STORE to the frozen filesystem does not complete");
	is_int(ioctl(dir, FITHAW, 0), 0, "thaw");
	is_int(wait_cqe_ms(&ring, 10 * DELAY_MS), LEN, "after the thaw it completes in full");
	is_int(pread(file, back, LEN, 0), LEN, "read back");
	ok(memcmp(back, map, LEN) == 0, "the file holds the second STORE's bytes");

	io_uring_queue_exit(&ring);
	munmap(map, 1 << 20);
	close(file);
	close(dir);
	akv_pool_destroy(fd, pool);
	close(fd);
	if (system("umount " MNT " && rmmod null_blk"))
		diag("umount or rmmod null_blk failed");
	return done_testing();
}
