// SPDX-License-Identifier: MIT
/* accel-bench: shared helpers for the subcommands (errors, sizes). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "accel.h"
#include "bench.h"
#include "tool_parse.h"

int bench_usage(const char *usage)
{
	fprintf(stderr, "usage: accel-bench %s\n", usage);
	return 1;
}

int bench_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "accel-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return 1;
}

int bench_int(const char *flag, const char *val, long long lo, long long hi, int *out)
{
	char range[64], msg[256];
	long long v;
	int ret;

	snprintf(range, sizeof(range), "%lld..%lld", lo, hi);
	ret = tool_parse_int(val, lo, hi, &v);
	if (ret)
		return bench_fail("%s", tool_parse_msg(msg, sizeof(msg), flag, val, ret, "an integer",
							range));
	*out = (int)v;
	return 0;
}

int bench_size(const char *flag, const char *val, uint64_t *out)
{
	char msg[256];
	int ret = tool_parse_size(val, out);

	if (ret)
		return bench_fail("%s", tool_parse_msg(msg, sizeof(msg), flag, val, ret, "a size",
							"bytes or K/M/G/T: 512M, 1.5G"));
	return 0;
}

/*
 * The nominal peak of the GPU's PCIe link, GB/s per direction, from sysfs:
 * the first NVIDIA (vendor 0x10de) display or 3D controller (class 0x03)
 * under $ACCEL_BENCH_SYSFS (default /sys)/bus/pci/devices, its
 * current_link_speed ("32.0 GT/s PCIe") times current_link_width, with
 * 128b/130b encoding from 8 GT/s (gen 3) on and 8b/10b below. -ENOENT when
 * there is no such device or it says nothing usable (a VM, no GPU).
 */
int bench_pcie_peak(double *gbps, char *desc, size_t desc_len)
{
	const char *root = getenv("ACCEL_BENCH_SYSFS");
	char dir[600], path[900], buf[64];
	struct dirent *de;
	DIR *d;
	int ret = -ENOENT;

	*gbps = 0;
	snprintf(dir, sizeof(dir), "%s/bus/pci/devices", root && *root ? root : "/sys");
	d = opendir(dir);
	if (!d)
		return -ENOENT;
	while ((de = readdir(d)) && ret) {
		unsigned long vendor = 0, cls = 0, width = 0;
		double gts = 0;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
#define BENCH_READ(name, fmt, var)						\
		snprintf(path, sizeof(path), "%s/%s/" name, dir, de->d_name);	\
		f = fopen(path, "r");						\
		if (!f || !fgets(buf, sizeof(buf), f) || sscanf(buf, fmt, &var) != 1) { \
			if (f)							\
				fclose(f);					\
			continue;						\
		}								\
		fclose(f)
		BENCH_READ("vendor", "%lx", vendor);
		BENCH_READ("class", "%lx", cls);
		if (vendor != 0x10de || (cls >> 16) != 0x03)
			continue;
		BENCH_READ("current_link_speed", "%lf", gts);
		BENCH_READ("current_link_width", "%lu", width);
#undef BENCH_READ
		if (gts <= 0 || !width)
			continue;
		*gbps = gts * (double)width * (gts >= 8 ? 128.0 / 130.0 : 0.8) / 8;
		snprintf(desc, desc_len, "%s %.1f GT/s x%lu", de->d_name, gts, width);
		ret = 0;
	}
	closedir(d);
	return ret;
}

void bench_prompts(int np, int n_vocab, int32_t (*buf)[8], int32_t **prompts, int *n_prompt)
{
	for (int i = 0; i < np; i++) {
		for (int j = 0; j < 8; j++)
			buf[i][j] = (int32_t)((1 + i * 131 + j * 17) % n_vocab);
		prompts[i] = buf[i];
		n_prompt[i] = 8;
	}
}
