// SPDX-License-Identifier: MIT
/*
 * The prefix cache's disk tier on the driver (accel-serve --kv-cache-dir):
 * the serving scheduler, on the accelkv node, writes a published block to
 * its file only when an allocation is about to evict it (KV_PEEK_EVICT
 * says which), not when it is published, and reads it back on a hash hit
 * with the same output. Eight 40-token prompts of stories260K through a
 * 21-block pool, as tests/runtime/test_sched.c does on the emulation. Runs
 * in the guest of scripts/vmtest.sh on its models disk (/dev/vdb, ext4),
 * linked statically against the runtime. TAP.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include "accel.h"
#include "rt_error.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_sched.h"
#include "tap.h"

#define MNT	"/mnt/models"
#define N_GEN	12
#define N_PROMPT 40

struct out {
	int32_t ids[N_GEN];
	int n;
};

static int on_token(void *arg, int32_t id, enum rt_sched_finish why)
{
	struct out *o = arg;

	(void)why;
	if (id >= 0 && o->n < N_GEN)
		o->ids[o->n++] = id;
	return 0;
}

static int run_all(struct rt_sched *s)
{
	int ret = 0, steps = 0;

	while (rt_sched_pending(s) && ret >= 0 && steps++ < 10000)
		ret = rt_sched_step(s);
	return ret;
}

static int count_files(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name);

		n += l > 3 && !strcmp(de->d_name + l - 3, ".kv");
	}
	if (d)
		closedir(d);
	return n;
}

/* the node is the driver's and it can say what an allocation evicts */
static void check_device(void)
{
	struct accel_device_info info;
	struct accel_device *dev = NULL;
	int ret = accel_device_open(NULL, &dev);

	if (ret || accel_device_info(dev, &info))
		bail_out("accel_device_open: %s", strerror(-ret));
	ok(!strcmp(info.backend, "kernel") && (info.caps & ACCEL_CAP_KV_PEEK_EVICT),
	   "the device is accelkv (%s) with ACCEL_CAP_KV_PEEK_EVICT", info.backend);
	accel_device_close(dev);
}

int main(void)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 128, .n_batch = 16, .n_seq = 2 };
	static int32_t p[8][N_PROMPT];
	char dir[] = MNT "/scratch/kvc.XXXXXX";
	struct rt_sched_opts so = { .cache_dir = dir };
	struct rt_sched_req q = { .n_prompt = N_PROMPT, .max_tokens = N_GEN, .fn = on_token };
	struct rt_sched_stats st5, st8, st;
	struct out o[8], again;
	struct rt_sched *s;
	struct rt_model *m;
	int files;

	plan(5);
	setenv("KN_ISA", "scalar", 0);	/* TCG's CPU: the same kernels on every kernel */
	mkdir(MNT, 0755);
	if (mount("/dev/vdb", MNT, "ext4", 0, NULL) && errno != EBUSY)
		bail_out("cannot mount the models disk: %s", strerror(errno));
	if (!mkdtemp(dir))
		bail_out("mkdtemp %s: %s", dir, strerror(errno));
	check_device();
	if (rt_model_load(MNT "/stories.gguf", &mo, &m) < 0)
		bail_out("stories.gguf: %s", rt_last_error());
	if (rt_sched_create(m, NULL, &so, &s) < 0)
		bail_out("rt_sched_create: %s", rt_last_error());
	ok(1, "a scheduler with a cache directory on the driver");
	rt_sampler_defaults(&q.sp);
	q.sp.temp = 0;
	memset(o, 0, sizeof(o));
	memset(&again, 0, sizeof(again));
	for (int i = 0; i < 8; i++) {
		p[i][0] = 1;
		for (int j = 1; j < N_PROMPT; j++)
			p[i][j] = 3 + (i * 61 + j * 23) % 500;
		q.prompt = p[i];
		q.arg = &o[i];
		rt_sched_add(s, &q);
		run_all(s);
		if (i == 4)
			rt_sched_get_stats(s, &st5);
	}
	rt_sched_get_stats(s, &st8);
	files = count_files(dir);
	/* a module without the peek would have written every block at publish */
	ok(st5.n_disk_stored == 0 && st8.n_disk_stored >= 1 &&
	   (uint64_t)files == st8.n_disk_stored && st8.kv_blocks_total == 21,
	   "no file while the pool had room (5 prompts), %llu files once blocks were evicted "
	   "(8 prompts)", (unsigned long long)st8.n_disk_stored);
	q.prompt = p[0];
	q.arg = &again;
	rt_sched_add(s, &q);
	run_all(s);
	rt_sched_get_stats(s, &st);
	ok(st.n_disk_loaded >= 1 && again.n == N_GEN && o[0].n == N_GEN &&
	   !memcmp(again.ids, o[0].ids, sizeof(again.ids)),
	   "the first prompt again takes %llu evicted blocks from their files, the same output",
	   (unsigned long long)st.n_disk_loaded);
	rt_sched_destroy(s);
	ok(count_files(dir) > files, "the cached blocks written at shutdown (%d files)",
	   count_files(dir));
	rt_model_free(m);
	umount(MNT);
	return done_testing();
}
