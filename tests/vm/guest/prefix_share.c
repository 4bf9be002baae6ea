// SPDX-License-Identifier: MIT
/*
 * Two processes share a system prompt through the driver's prefix index:
 * this program creates a KV pool, exports it as a dma-buf that the children
 * inherit, and runs accel-run twice with --kv-pool-fd on the models disk,
 * prompts SYS+A then SYS+B (files of scripts/vmtest.sh). The second run
 * reuses the blocks the first published: its reused prompt tokens (accel-run
 * -v) are counted against the pool's prefix hits, and its greedy ids equal
 * the host's emulated run of SYS+B, which computed every token. TAP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "akv.h"

#define MNT	"/mnt/models"
#define BLOCK_TOKENS	16	/* accel-run's default KV block */

static char *slurp(const char *path)
{
	static char buf[8][4096];
	static int next;
	char *b = buf[next++ % 8];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(b, 1, sizeof(buf[0]) - 1, f) : 0;

	if (f)
		fclose(f);
	b[n] = 0;
	while (n && (b[n - 1] == '\n' || b[n - 1] == ' '))
		b[--n] = 0;
	return b;
}

/* accel-run with the shared pool: 0 or its exit status; stdout/stderr in files */
static int run(int kvfd, const char *prompt, const char *out, const char *err)
{
	char fd[16], *const *argv;
	pid_t pid;
	int st;

	snprintf(fd, sizeof(fd), "%d", kvfd);
	argv = (char *const[]){ "/tests/accel-run", "--device", getenv("ACCEL_DEVICE"),
		"--kv-pool-fd", fd, "-m", MNT "/stories.gguf", "-c", "256", "-b", "4",
		"-p", (char *)prompt, "-n", "12", "--temp", "0", "--ids", "-t", "2", "-v", NULL };
	pid = fork();
	if (pid == 0) {
		if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
			_exit(126);
		setenv("KN_ISA", "scalar", 1);	/* as the host's reference */
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void diag_file(const char *path)
{
	char *t = slurp(path), *line, *save = NULL;

	for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		diag("%s", line);
}

/* "prefix cache: R of N prompt tokens reused" of accel-run -v, or -1 */
static int reused(const char *err)
{
	const char *p = strstr(slurp(err), "prefix cache: ");
	int r;

	return p && sscanf(p, "prefix cache: %d of", &r) == 1 ? r : -1;
}

int main(void)
{
	struct drm_accelkv_pool_info i1, i2;
	char pa[2048], pb[2048];
	uint32_t pool;
	int fd, kvfd, rc, r1, r2;

	plan(9);
	fd = akv_open_or_skip();
	mkdir(MNT, 0755);
	if (mount("/dev/vdb", MNT, "ext4", MS_RDONLY, NULL))
		bail_out("cannot mount the models disk: %s", strerror(errno));
	snprintf(pa, sizeof(pa), "%s %s", slurp(MNT "/share.sys"), slurp(MNT "/share.a"));
	snprintf(pb, sizeof(pb), "%s %s", slurp(MNT "/share.sys"), slurp(MNT "/share.b"));
	/* 64 blocks of 64 KiB: more and bigger than stories260K's cache needs */
	if (akv_pool(fd, 64 << 16, 1 << 16, ACCELKV_POOL_KV, &pool, NULL))
		bail_out("pool create");
	/* no DRM_CLOEXEC: the children inherit it */
	if (drmPrimeHandleToFD(fd, pool, DRM_RDWR, &kvfd))
		bail_out("export the pool: %s", strerror(errno));

	rc = run(kvfd, pa, "/tmp/a.out", "/tmp/a.err");
	diag_file("/tmp/a.err");
	ok(rc == 0 && !strcmp(slurp("/tmp/a.out"), slurp(MNT "/share.a.ids")),
	   "first process (SYS+A) on the shared pool: ids equal the host's emulated run");
	r1 = reused("/tmp/a.err");
	is_int(r1, 0, "the first process computes its whole prompt");
	rc = akv_info(fd, pool, &i1);	/* before ok(): its arguments' order is unspecified */
	ok(!rc && i1.blocks_cached > 0 && i1.blocks_used == 0,
	   "its published blocks stay cached in the pool after it exits (%u)", i1.blocks_cached);

	rc = run(kvfd, pb, "/tmp/b.out", "/tmp/b.err");
	diag_file("/tmp/b.err");
	ok(rc == 0 && !strcmp(slurp("/tmp/b.out"), slurp(MNT "/share.b.ids")),
	   "second process (SYS+B) reusing them: ids equal the host's run that computed all");
	r2 = reused("/tmp/b.err");
	ok(r2 >= 2 * BLOCK_TOKENS && r2 % BLOCK_TOKENS == 0,
	   "the second process skipped the prefill of %d prompt tokens", r2);
	rc = akv_info(fd, pool, &i2);
	ok(!rc && i2.prefix_hits - i1.prefix_hits == (uint64_t)r2 / BLOCK_TOKENS,
	   "the driver counted %llu prefix hits: the %d reused blocks",
	   (unsigned long long)(i2.prefix_hits - i1.prefix_hits), r2 / BLOCK_TOKENS);
	ok(i2.blocks_used == 0, "both processes gone: no block referenced (%u)", i2.blocks_used);

	/* a third run of SYS+A finds its whole published prompt but the last token */
	rc = run(kvfd, pa, "/tmp/c.out", "/tmp/c.err");
	r1 = reused("/tmp/c.err");
	ok(rc == 0 && !strcmp(slurp("/tmp/c.out"), slurp(MNT "/share.a.ids")) && r1 >= r2,
	   "SYS+A again: same ids, %d tokens reused", r1);
	close(kvfd);
	akv_pool_destroy(fd, pool);
	close(fd);
	ok(akv_debugfs_value("pools") == 0 && akv_debugfs_value("pinned_bytes") == 0,
	   "the pool is gone with its last handle and fd: nothing pinned");
	umount(MNT);
	return done_testing();
}
