// SPDX-License-Identifier: MIT
/*
 * Leak check: a child builds up state (pools mapped, exported, KV blocks
 * held and published, a syncobj, LOADs in flight) and is killed with
 * SIGKILL; pinned bytes must return to zero (get-param and debugfs).
 */
#include <signal.h>
#include <sys/wait.h>

#include "akv.h"

#define MIB (1ULL << 20)

int main(void)
{
	int fd = akv_open_or_skip(), pipefd[2], st, i;
	uint64_t base = akv_param(fd, ACCELKV_PARAM_PINNED_BYTES);
	pid_t pid;
	char c;

	plan(10);
	is_int(base, 0, "nothing pinned at start");
	is_int(akv_debugfs_value("pinned_bytes"), 0, "debugfs agrees");
	if (pipe(pipefd))
		bail_out("pipe");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int f = akv_open(), v = open("/dev/vda", O_RDONLY | O_DIRECT), dmabuf;
		struct accelkv_uring_xfer x;
		struct io_uring r;
		uint32_t h[4], ids[8], sobj;
		uint64_t off, hs[2] = { 1, 2 };
		struct drm_accelkv_kv_publish pub = { .count = 2, .blocks_ptr = (uintptr_t)ids,
						      .hashes_ptr = (uintptr_t)hs };

		for (i = 0; i < 4; i++) {
			akv_pool(f, 8 * MIB, 4096, ACCELKV_POOL_KV, &h[i], &off);
			mmap(NULL, 8 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, f, off);
			akv_kv(f, DRM_IOCTL_ACCELKV_KV_ALLOC, h[i], ids, 8);
			pub.handle = h[i];
			akv_ioctl(f, DRM_IOCTL_ACCELKV_KV_PUBLISH, &pub);
		}
		drmPrimeHandleToFD(f, h[0], DRM_CLOEXEC, &dmabuf);
		drmSyncobjCreate(f, 0, &sobj);
		akv_ring(&r, 16);
		for (i = 0; i < 8 && v >= 0; i++) {
			x = (struct accelkv_uring_xfer){ .fd = v, .handle = h[1],
				.file_offset = i * MIB, .pool_offset = i * MIB, .length = MIB,
				.flags = ACCELKV_XFER_DIRECT };
			akv_prep_cmd(&r, f, ACCELKV_URING_CMD_LOAD, &x, sizeof(x), i);
		}
		io_uring_submit(&r);
		write(pipefd[1], "x", 1);
		for (;;)
			pause();
	}
	read(pipefd[0], &c, 1);
	ok(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES) == 32 * MIB, "child pinned 32 MiB");
	is_int(akv_debugfs_value("pools"), 4, "debugfs counts 4 pools");
	is_int(akv_debugfs_value("blocks_used"), 4 * 8, "debugfs counts 32 blocks used");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child killed with SIGKILL");
	/* file release may finish just after the exit is reported */
	for (i = 0; i < 200 && akv_param(fd, ACCELKV_PARAM_PINNED_BYTES); i++)
		usleep(10000);
	is_int(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES), 0, "pinned bytes back to zero");
	is_int(akv_debugfs_value("pinned_bytes"), 0, "debugfs pinned_bytes 0");
	is_int(akv_debugfs_value("pools"), 0, "debugfs pools 0");
	is_int(akv_debugfs_value("blocks_used"), 0, "debugfs blocks_used 0");
	close(fd);
	return done_testing();
}
