// SPDX-License-Identifier: MIT
/*
 * Unit: commands that name their intermediate (accel_cmd_name): prep zeroes
 * the name, a queue accepts and runs named commands, and the ACCEL_DUMP_DIR
 * dump files them as <seq>_<name>-<il>_<shape>.bin (llama.cpp's "name-il";
 * "_<name>_" for il < 0; the op name for an unnamed command).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "accel.h"
#include "../../libaccel/src/cpu_exec.h"

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

static const char *dump_path(const char *dir, const char *file)
{
	static char buf[4][512];
	static int slot;
	char *p = buf[slot++ & 3];

	snprintf(p, sizeof(buf[0]), "%s/%s", dir, file);
	return p;
}

static void test_prep(void)
{
	struct accel_cmd c;
	float x[4] = { 0 };

	memset(&c, 0xff, sizeof(c));
	accel_cmd_prep(&c, ACCEL_OP_ADD);
	ok(!c.name && c.il == 0 && !c.flags, "accel_cmd_prep zeroes name, il and flags");
	accel_cmd_name(&c, "ffn_out", 7);
	ok(c.name && !strcmp(c.name, "ffn_out") && c.il == 7, "accel_cmd_name sets both fields");
	accel_cmd_prep_add(&c, accel_tensor_host(x, ACCEL_DTYPE_F32, 4, 1),
			   accel_tensor_host(x, ACCEL_DTYPE_F32, 4, 1),
			   accel_tensor_host(x, ACCEL_DTYPE_F32, 4, 1));
	ok(!c.name && c.il == 0, "a prep builder drops an earlier name");
}

int main(void)
{
	char dir[] = "/tmp/accel-name-XXXXXX";
	float a[12], b[12], o[4][12];
	struct accel_cmd c[4];
	struct accel_cpu_ctx one = { .ith = 0, .nth = 1 };
	struct accel_device *dev = NULL;
	struct accel_queue *q = NULL;
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE,
						.threads = 2);
	const char *files[4];

	plan(14);
	test_prep();
	if (!mkdtemp(dir))
		bail_out("mkdtemp failed");
	setenv("ACCEL_DUMP_DIR", dir, 1);
	for (int i = 0; i < 12; i++) {
		a[i] = (float)i * 0.25f;
		b[i] = 1.0f - (float)i;
	}
	for (int i = 0; i < 4; i++)
		accel_cmd_prep_add(&c[i], accel_tensor_host(o[i], ACCEL_DTYPE_F32, 4, 3),
				   accel_tensor_host(a, ACCEL_DTYPE_F32, 4, 3),
				   accel_tensor_host(b, ACCEL_DTYPE_F32, 4, 3));
	accel_cmd_name(&c[0], "attn_norm", 3);
	accel_cmd_name(&c[1], "result_norm", -1);
	/* c[2] unnamed: the op's name */
	accel_cmd_name(&c[3], "ffn/out x", 0);

	for (int i = 0; i < 3; i++)
		is_int(accel_cpu_exec(&c[i], &one), 0, "command %d runs with the dump on", i);
	files[0] = dump_path(dir, "00000_attn_norm-3_4x3x1.bin");
	files[1] = dump_path(dir, "00001_result_norm_4x3x1.bin");
	files[2] = dump_path(dir, "00002_add_4x3x1.bin");
	ok(file_is(files[0], o[0], 12), "named command dumped as <name>-<il>: %s",
	   strrchr(files[0], '/') + 1);
	ok(file_is(files[1], o[1], 12), "il < 0 dumped as <name> alone: %s",
	   strrchr(files[1], '/') + 1);
	ok(file_is(files[2], o[2], 12), "unnamed command dumped under its op: %s",
	   strrchr(files[2], '/') + 1);

	/* through a queue: a name is not a reason to reject a command */
	if (accel_device_open(NULL, &dev) || accel_queue_create(dev, &qo, &q))
		bail_out("no device or COMPUTE queue");
	is_int(accel_queue_submit(q, &c[3], 1, NULL, 0, NULL), 0, "a queue accepts a named command");
	is_int(accel_queue_wait_idle(q), 0, "... and runs it");
	ok(o[3][5] == a[5] + b[5], "its output is computed");
	files[3] = dump_path(dir, "00003_ffn_out_x-0_4x3x1.bin");
	ok(file_is(files[3], o[3], 12), "its dump (2 threads) has unsafe characters replaced: %s",
	   strrchr(files[3], '/') + 1);
	c[3].flags = 1;
	is_int(accel_queue_submit(q, &c[3], 1, NULL, 0, NULL), -EINVAL,
	       "a named command with flags set is still rejected");
	accel_queue_destroy(q);
	accel_device_close(dev);

	for (int i = 0; i < 4; i++)
		unlink(files[i]);
	rmdir(dir);
	return done_testing();
}
