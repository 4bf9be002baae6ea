// SPDX-License-Identifier: MIT
/* accel-bench: shared helpers for the subcommands (errors, sizes). */
#include <stdarg.h>
#include <stdio.h>
#include "bench.h"

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
