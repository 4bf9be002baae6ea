// SPDX-License-Identifier: MIT
/*
 * Unit: the CPU executor's ACCEL_DUMP_DIR hook (libaccel/src/cpu_dump.c): with
 * the variable set, each COMPUTE command's output lands in
 * <dir>/<seq>_<op>_<ne0>x<ne1>x<ne2>.bin, numbered in execution order, written
 * once per command whether 1 or 3 threads run it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "accel.h"
#include "../../libaccel/src/cpu_exec.h"

static pthread_barrier_t bar;

static void bar_wait(struct accel_cpu_ctx *ctx)
{
	(void)ctx;
	pthread_barrier_wait(&bar);
}

struct share {
	struct accel_cpu_ctx ctx;
	const struct accel_cmd *cmd;
	int ret;
};

static void *run_share(void *arg)
{
	struct share *s = arg;

	s->ret = accel_cpu_exec(s->cmd, &s->ctx);
	return NULL;
}

static int run3(const struct accel_cmd *c)
{
	struct share s[3];
	pthread_t th[3];
	int ret = 0;

	pthread_barrier_init(&bar, NULL, 3);
	for (int i = 0; i < 3; i++) {
		s[i] = (struct share){ .ctx = { .ith = i, .nth = 3, .barrier = bar_wait }, .cmd = c };
		pthread_create(&th[i], NULL, run_share, &s[i]);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		ret = ret ? ret : s[i].ret;
	}
	pthread_barrier_destroy(&bar);
	return ret;
}

/* the file holds exactly the n floats of @want */
static int file_is(const char *path, const float *want, size_t n)
{
	float got[64];
	FILE *f = fopen(path, "rb");
	size_t r;

	if (!f)
		return 0;
	r = fread(got, sizeof(float), 64, f);
	fclose(f);
	return r == n && !memcmp(got, want, n * sizeof(float));
}

int main(void)
{
	char dir[] = "/tmp/accel-dump-XXXXXX", p0[256], p1[256];
	float a[12], b[12], o[12], o2[12];
	struct accel_cmd c, c2;
	struct accel_cpu_ctx one = { .ith = 0, .nth = 1 };

	plan(5);
	if (!mkdtemp(dir))
		bail_out("mkdtemp failed");
	setenv("ACCEL_DUMP_DIR", dir, 1);
	for (int i = 0; i < 12; i++) {
		a[i] = (float)i * 0.5f;
		b[i] = 3.0f - (float)i;
	}
	accel_cmd_prep_add(&c, accel_tensor_host(o, ACCEL_DTYPE_F32, 4, 3),
			   accel_tensor_host(a, ACCEL_DTYPE_F32, 4, 3),
			   accel_tensor_host(b, ACCEL_DTYPE_F32, 4, 3));
	accel_cmd_prep_add(&c2, accel_tensor_host(o2, ACCEL_DTYPE_F32, 12, 1),
			   accel_tensor_host(o, ACCEL_DTYPE_F32, 12, 1),
			   accel_tensor_host(a, ACCEL_DTYPE_F32, 12, 1));
	is_int(accel_cpu_exec(&c, &one), 0, "ADD runs with the dump on (1 thread, no barrier)");
	is_int(run3(&c2), 0, "ADD runs with the dump on (3 threads)");
	snprintf(p0, sizeof(p0), "%s/00000_add_4x3x1.bin", dir);
	snprintf(p1, sizeof(p1), "%s/00001_add_12x1x1.bin", dir);
	ok(o2[5] == o[5] + a[5] && o[7] == a[7] + b[7], "both commands computed");
	ok(file_is(p0, o, 12), "first command dumped as %s with its output bytes",
	   strrchr(p0, '/') + 1);
	ok(file_is(p1, o2, 12), "second command dumped once, numbered next: %s",
	   strrchr(p1, '/') + 1);
	unlink(p0);
	unlink(p1);
	rmdir(dir);
	return done_testing();
}
