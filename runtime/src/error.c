// SPDX-License-Identifier: MIT
/* runtime error messages: one thread-local line per thread. */
#include <stdarg.h>
#include <stdio.h>
#include "rt_error.h"

static __thread char rt_err_msg[512];

int rt_set_error(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rt_err_msg, sizeof(rt_err_msg), fmt, ap);
	va_end(ap);
	return err;
}

const char *rt_last_error(void)
{
	return rt_err_msg;
}

void rt_clear_error(void)
{
	rt_err_msg[0] = '\0';
}
