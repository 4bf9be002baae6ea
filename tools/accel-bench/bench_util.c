// SPDX-License-Identifier: MIT
/* accel-bench: shared helpers for the subcommands (errors, sizes). */
#include <stdarg.h>
#include <stdio.h>
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
