// SPDX-License-Identifier: MIT
/* TAP producer for the test programs (see tap.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"

static int tap_n;
static int tap_failed;
static int tap_planned = -1;

void plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

void plan_skip_all(const char *fmt, ...)
{
	va_list ap;

	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(0);
}

static void tap_vline(bool cond, const char *fmt, va_list ap)
{
	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
}

bool ok_(bool cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vline(cond, fmt, ap);
	va_end(ap);
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	return cond;
}

bool is_int_(long long got, long long want, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	bool cond = got == want;

	va_start(ap, fmt);
	tap_vline(cond, fmt, ap);
	va_end(ap);
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d: got %lld, want %lld\n", file, line, got, want);
	}
	return cond;
}

void skip(int n, const char *fmt, ...)
{
	va_list ap;

	while (n-- > 0) {
		printf("ok %d # SKIP ", ++tap_n);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
}

void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void bail_out(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

bool tap_refs_required(void)
{
	const char *e = getenv("ACCEL_REQUIRE_REFS");

	return e && !strcmp(e, "1");
}

void plan_skip_ref(const char *fmt, ...)
{
	va_list ap;

	if (!tap_refs_required()) {
		printf("1..0 # SKIP ");
	} else {
		tap_failed++;
		printf("1..1\nnot ok 1 - independent reference missing (ACCEL_REQUIRE_REFS=1): ");
	}
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(tap_failed ? 1 : 0);
}

void skip_ref(int n, const char *fmt, ...)
{
	va_list ap;

	if (!tap_refs_required()) {
		va_start(ap, fmt);
		while (n-- > 0) {
			va_list aq;

			va_copy(aq, ap);
			printf("ok %d # SKIP ", ++tap_n);
			vprintf(fmt, aq);
			printf("\n");
			va_end(aq);
		}
		va_end(ap);
		fflush(stdout);
		return;
	}
	va_start(ap, fmt);
	while (n-- > 0) {
		va_list aq;

		va_copy(aq, ap);
		tap_failed++;
		printf("not ok %d - independent reference missing (ACCEL_REQUIRE_REFS=1): ", ++tap_n);
		vprintf(fmt, aq);
		printf("\n");
		va_end(aq);
	}
	va_end(ap);
	fflush(stdout);
}

int tap_failures(void)
{
	return tap_failed;
}

int tap_count(void)
{
	return tap_n;
}

int done_testing(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_n);
	else if (tap_planned != tap_n)
		printf("# planned %d tests but ran %d\n", tap_planned, tap_n);
	fflush(stdout);
	return tap_failed || (tap_planned >= 0 && tap_planned != tap_n) ? 1 : 0;
}

void *tap_slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	void *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*size = (size_t)n;
	}
	fclose(f);
	return buf;
}

const char *tap_path(const char *rel)
{
	static char buf[4][4096];
	static int slot;
	const char *top = getenv("ACCEL_TOP");
	char *b = buf[slot++ & 3];

	snprintf(b, sizeof(buf[0]), "%s/%s", top && *top ? top : ".", rel);
	return b;
}
