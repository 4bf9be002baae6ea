// SPDX-License-Identifier: MIT
/*
 * Number parsing of the tools' command lines (tool_parse.h). Hand-written
 * instead of strtod/strtoull: those accept spaces, signs ("-1" wraps to
 * 2^64-1), hex floats, exponents, "nan" and "inf", and a double cannot hold
 * every byte count. Integer arithmetic throughout.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include "tool_parse.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* digits - accumulate decimal digits of *p into *v; -ERANGE on overflow */
static int digits(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t n = 0;

	for (; is_digit(*s); s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -ERANGE;
		n = n * 10 + d;
	}
	*p = s;
	*v = n;
	return 0;
}

/* unit_shift - K/M/G/T (either case) -> 10/20/30/40, else 0 */
static unsigned int unit_shift(char c)
{
	switch (c) {
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	case 't': case 'T': return 40;
	default: return 0;
	}
}

int tool_parse_size(const char *s, uint64_t *out)
{
	uint64_t whole, frac = 0, scale = 1, mul = 1, bytes;
	unsigned int shift, nfrac = 0;
	const char *p = s;
	bool has_frac = false;
	int ret;

	if (!s || !is_digit(*s))
		return -EINVAL;
	ret = digits(&p, &whole);
	if (ret)
		return ret;
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return -EINVAL;
		has_frac = true;
		/* 18 decimals fit in frac and scale (< 10^18 < 2^60) */
		for (; is_digit(*p); p++, nfrac++) {
			if (nfrac < 18) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
		}
	}
	shift = unit_shift(*p);
	if (shift) {
		mul = 1ULL << shift;
		p++;
		if (*p == 'i')
			p++;
	} else if (has_frac) {
		return -EINVAL;	/* "1.5" bytes: a fraction needs a unit */
	}
	if (*p == 'B' || *p == 'b')
		p++;
	if (*p)
		return -EINVAL;
	if (whole > UINT64_MAX / mul)
		return -ERANGE;
	bytes = whole * mul;
	if (has_frac) {
		/* frac / scale of a unit, rounded down: < 2^60 * 2^40 fits 128 bits */
		uint64_t part = (uint64_t)((unsigned __int128)frac * mul / scale);

		if (bytes > UINT64_MAX - part)
			return -ERANGE;
		bytes += part;
	}
	*out = bytes;
	return 0;
}

int tool_parse_u64(const char *s, uint64_t *out)
{
	const char *p = s;
	uint64_t v = 0;
	int ret;

	if (!s || !is_digit(*s))
		return -EINVAL;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		if (!*p)
			return -EINVAL;
		for (; *p; p++) {
			unsigned int d;

			if (is_digit(*p))
				d = (unsigned int)(*p - '0');
			else if (*p >= 'a' && *p <= 'f')
				d = (unsigned int)(*p - 'a' + 10);
			else if (*p >= 'A' && *p <= 'F')
				d = (unsigned int)(*p - 'A' + 10);
			else
				return -EINVAL;
			if (v > UINT64_MAX >> 4)
				return -ERANGE;
			v = v << 4 | d;
		}
	} else {
		ret = digits(&p, &v);
		if (ret)
			return ret;
		if (*p)
			return -EINVAL;
	}
	*out = v;
	return 0;
}

int tool_parse_int(const char *s, long long lo, long long hi, long long *out)
{
	const char *p = s;
	bool neg = false;
	uint64_t mag;
	long long v;
	int ret;

	if (!s)
		return -EINVAL;
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (!is_digit(*p))
		return -EINVAL;
	ret = digits(&p, &mag);
	if (ret) {
		while (is_digit(*p))
			p++;
		return *p ? -EINVAL : ret;	/* "99...9a" is not a number */
	}
	if (*p)
		return -EINVAL;
	if (neg ? mag > (uint64_t)LLONG_MAX + 1 : mag > (uint64_t)LLONG_MAX)
		return -ERANGE;
	v = neg ? (long long)(0 - mag) : (long long)mag;
	if (v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

int tool_parse_float(const char *s, double lo, double hi, double *out)
{
	const char *p = s;
	bool any = false;
	char *end;
	double v;

	if (!s)
		return -EINVAL;
	/* the grammar first: strtod alone takes spaces, '+', hex, nan and inf */
	if (*p == '-')
		p++;
	for (; is_digit(*p); p++)
		any = true;
	if (*p == '.')
		for (p++; is_digit(*p); p++)
			any = true;
	if (!any)
		return -EINVAL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!is_digit(*p))
			return -EINVAL;
		while (is_digit(*p))
			p++;
	}
	if (*p)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);	/* the tools never call setlocale: '.' is the point */
	if (end != p)
		return -EINVAL;
	if (!isfinite(v))
		return -ERANGE;
	if (!(v >= lo && v <= hi))
		return -ERANGE;
	*out = v;
	return 0;
}

const char *tool_parse_msg(char *buf, unsigned long n, const char *flag, const char *val,
			   int err, const char *kind, const char *range)
{
	if (!val)
		snprintf(buf, n, "%s: missing value", flag);
	else if (err == -ERANGE && range)
		snprintf(buf, n, "%s: '%s' is out of range (%s)", flag, val, range);
	else if (err == -ERANGE)
		snprintf(buf, n, "%s: '%s' is too large", flag, val);
	else if (range)
		snprintf(buf, n, "%s: '%s' is not %s (%s)", flag, val, kind, range);
	else
		snprintf(buf, n, "%s: '%s' is not %s", flag, val, kind);
	return buf;
}

int tool_flag_int(const char *prog, const char *flag, const char *val, long long lo,
		  long long hi, int *out)
{
	char range[64], msg[256];
	long long v;
	int ret;

	snprintf(range, sizeof(range), "%lld..%lld", lo, hi);
	ret = tool_parse_int(val, lo, hi, &v);
	if (ret) {
		fprintf(stderr, "%s: %s\n",
			prog, tool_parse_msg(msg, sizeof(msg), flag, val, ret, "an integer", range));
		return ret;
	}
	*out = (int)v;
	return 0;
}
