// SPDX-License-Identifier: MIT
/*
 * libaccel logging: one process-wide callback (accel_set_log). The default
 * prints ERROR and WARN to stderr as "libaccel: ..."; NULL silences the
 * library. This is the only place libaccel writes to a stream.
 */
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include "backend.h"

static void accel_log_default(enum accel_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= ACCEL_LOG_WARN)
		fprintf(stderr, "libaccel: %s\n", msg);
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER; /* protects log_fn/log_ctx */
static accel_log_fn log_fn = accel_log_default;
static void *log_ctx;

void accel_set_log(accel_log_fn fn, void *ctx)
{
	pthread_mutex_lock(&log_lock);
	log_fn = fn;
	log_ctx = ctx;
	pthread_mutex_unlock(&log_lock);
}

void accel_log(enum accel_log_level level, const char *fmt, ...)
{
	char msg[512];
	accel_log_fn fn;
	void *ctx;
	va_list ap;

	pthread_mutex_lock(&log_lock);
	fn = log_fn;
	ctx = log_ctx;
	pthread_mutex_unlock(&log_lock);
	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(level, msg, ctx);
}
