// SPDX-License-Identifier: MIT
/*
 * Conformance (kernel backend only): KV state shared across processes. A
 * child imports the parent's exported pool and finds the parent's published
 * prefix (same blocks, same bytes); a child killed while holding blocks
 * gives them back. Skips on devices without ACCEL_CAP_CROSS_PROCESS (the
 * emulated device shares pool memory across processes, not KV state).
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "conf.h"

#define NB 32
#define BS 4096

static int child_lookup(int fd, const uint64_t *h, const uint32_t *want)
{
	struct accel_device *dev = NULL;
	struct accel_pool *pool = NULL;
	uint32_t got[4];

	accel_set_log(NULL, NULL);
	if (accel_device_open(NULL, &dev) || accel_pool_import(dev, fd, &pool))
		return 2;
	if (accel_kv_lookup(pool, 4, h, got) != 3)
		return 3;
	for (int i = 0; i < 3; i++) {
		if (got[i] != want[i])
			return 4;
		if (*(uint64_t *)accel_kv_block_ptr(pool, got[i]) != h[i])
			return 5;
	}
	if (accel_kv_free(pool, 3, got))
		return 6;
	accel_device_close(dev);
	return 0;
}

static void child_hog(int fd, int pipefd)
{
	struct accel_device *dev = NULL;
	struct accel_pool *pool = NULL;
	uint32_t b[NB];
	char c = 'n';

	accel_set_log(NULL, NULL);
	if (!accel_device_open(NULL, &dev) && !accel_pool_import(dev, fd, &pool) &&
	    !accel_kv_alloc(pool, NB - 3, b))
		c = 'y';
	if (write(pipefd, &c, 1) != 1)
		_exit(1);
	pause();	/* killed here, holding the blocks */
	_exit(0);
}

int main(void)
{
	struct accel_device_info info;
	struct accel_device *dev = conf_open(&info);
	struct accel_pool *pool;
	struct accel_pool_info pi;
	uint64_t h[4];
	uint32_t b[3], all[NB];
	int fd = -1, status = 0, pfd[2];
	pid_t pid;
	char c = 0;

	if (!(info.caps & ACCEL_CAP_CROSS_PROCESS)) {
		accel_device_close(dev);
		plan_skip_all("%s device lacks ACCEL_CAP_CROSS_PROCESS (KV state is per process)",
			      info.backend);
	}
	plan(8);	/* straight-line past the capability check */
	pool = conf_pool(dev, NB * BS, BS, ACCEL_POOL_KV);
	for (int i = 0; i < 4; i++)
		h[i] = accel_kv_hash(i ? h[i - 1] : 0, (int32_t[]){ i, i + 1 }, 2);
	is_int(accel_kv_alloc(pool, 3, b), 0, "parent allocs 3 blocks");
	for (int i = 0; i < 3; i++)
		*(uint64_t *)accel_kv_block_ptr(pool, b[i]) = h[i];
	is_int(accel_kv_publish(pool, 3, b, h), 3, "parent publishes them");
	is_int(accel_pool_export(pool, &fd), 0, "export");
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(child_lookup(fd, h, b));
	waitpid(pid, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0,
	       "child finds the parent's prefix: same blocks, same bytes");
	accel_pool_info(pool, &pi);
	is_int(pi.blocks_used, 3, "child's references are gone with it");

	if (pipe(pfd))
		bail_out("pipe");
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		child_hog(fd, pfd[1]);
	if (read(pfd[0], &c, 1) != 1)
		c = 'n';
	is_int(c, 'y', "child took every remaining block");
	is_int(accel_kv_alloc(pool, 1, all), -ENOMEM, "pool is full while the child lives");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	is_int(accel_kv_alloc(pool, NB - 3, all), 0, "the killed child's blocks came back");
	accel_pool_destroy(pool);
	close(fd);
	accel_device_close(dev);
	return done_testing();
}
