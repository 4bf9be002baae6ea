// SPDX-License-Identifier: MIT
/*
 * Two processes share one pool: the parent exports it as a dma-buf, a child
 * with its own open file imports it, finds the parent's published prefix,
 * reads and writes the same pages, allocates blocks; its references go when
 * it exits.
 */
#include <sys/wait.h>

#include "akv.h"

#define SZ (32 * 4096)

int main(void)
{
	uint64_t hs[3] = { 0xabc, 0xdef, 0x123 }, off;
	struct drm_accelkv_pool_info info;
	uint32_t pool, ids[3];
	unsigned char *p;
	int fd, dmabuf, pipefd[2], back[2], st;
	pid_t pid;
	char c;

	fd = akv_open_or_skip();
	plan(10);
	is_int(akv_pool(fd, SZ, 4096, ACCELKV_POOL_KV, &pool, &off), 0, "parent creates a KV pool");
	p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	if (p == MAP_FAILED)
		bail_out("mmap");
	is_int(akv_kv(fd, DRM_IOCTL_ACCELKV_KV_ALLOC, pool, ids, 2), 0, "parent allocs 2");
	memset(p + ids[0] * 4096, 0xa1, 4096);
	memset(p + ids[1] * 4096, 0xa2, 4096);
	{
		struct drm_accelkv_kv_publish pub = { .handle = pool, .count = 2,
			.blocks_ptr = (uintptr_t)ids, .hashes_ptr = (uintptr_t)hs };

		is_int(akv_ioctl(fd, DRM_IOCTL_ACCELKV_KV_PUBLISH, &pub), 0, "parent publishes");
	}
	is_int(drmPrimeHandleToFD(fd, pool, DRM_CLOEXEC | DRM_RDWR, &dmabuf), 0, "export");
	if (pipe(pipefd) || pipe(back))
		bail_out("pipe");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* child: own file, import, look up, read, write, allocate */
		int f = akv_open(), bad = 0;
		uint32_t h, got[3], mine[4];
		struct drm_accelkv_kv_lookup l = { .count = 3,
			.hashes_ptr = (uintptr_t)hs, .blocks_ptr = (uintptr_t)got };
		unsigned char *q;

		if (f < 0 || drmPrimeFDToHandle(f, dmabuf, &h))
			_exit(10);
		l.handle = h;
		if (akv_ioctl(f, DRM_IOCTL_ACCELKV_KV_LOOKUP, &l) || l.found != 2)
			_exit(11);
		if (got[0] != ids[0] || got[1] != ids[1])
			_exit(12);
		akv_info(f, h, &info);
		q = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, f, info.mmap_offset);
		if (q == MAP_FAILED)
			_exit(13);
		bad |= q[got[0] * 4096 + 5] != 0xa1 || q[got[1] * 4096 + 4095] != 0xa2;
		q[got[1] * 4096] = 0x77;
		if (akv_kv(f, DRM_IOCTL_ACCELKV_KV_ALLOC, h, mine, 4))
			_exit(14);
		write(pipefd[1], "x", 1);
		read(back[0], &c, 1);	/* wait for the parent to look */
		_exit(bad ? 15 : 0);
	}
	read(pipefd[0], &c, 1);
	akv_info(fd, pool, &info);
	is_int(info.blocks_used, 6, "parent sees the child's blocks in use (2 + 4)");
	is_int(info.prefix_hits, 2, "parent sees the child's prefix hits");
	ok(p[ids[1] * 4096] == 0x77, "parent sees the child's write");
	write(back[1], "y", 1);
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0, "child imported, found, read and wrote");
	akv_info(fd, pool, &info);
	is_int(info.blocks_used, 2, "child's references went with its exit");
	close(dmabuf);
	munmap(p, SZ);
	akv_pool_destroy(fd, pool);
	is_int(akv_param(fd, ACCELKV_PARAM_PINNED_BYTES), 0, "nothing left pinned");
	close(fd);
	return done_testing();
}
