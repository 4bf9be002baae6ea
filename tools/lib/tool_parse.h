/* SPDX-License-Identifier: MIT */
/*
 * tools/lib: command-line number parsing shared by every tool (accel-run,
 * accelctl, accel-bench, accel-mkmodel), so "--mem-budget 1.5G" means the
 * same bytes everywhere. Pure functions over strings: no I/O, no exit();
 * 0 or a negative errno, *out written only on success.
 */
#ifndef TOOL_PARSE_H
#define TOOL_PARSE_H

#include <stdint.h>

/**
 * tool_parse_size - a byte size: "4096", "64K", "512M", "1.5G", "2T".
 * Units are binary multiples (K = 1024 ... T = 2^40), the letter in either
 * case, optionally followed by "i" and/or "B": "64KiB", "64KB", "64k" and
 * "65536B" are the same size. A decimal fraction needs a unit ("1.5G") and
 * rounds down to a whole byte (digits past the 18th decimal are ignored).
 * Decimal digits only: no sign, no spaces, no hex, no exponent, no nan/inf.
 * Returns 0; -EINVAL for an empty string, a sign, anything that is not such
 * a number or trailing characters; -ERANGE above UINT64_MAX bytes.
 */
int tool_parse_size(const char *s, uint64_t *out);

/**
 * tool_parse_u64 - an unsigned integer: decimal ("42", leading zeros stay
 * decimal) or hexadecimal with 0x/0X ("0x1f"), the whole string.
 * Returns 0, -EINVAL (empty, sign, spaces, other characters), -ERANGE.
 */
int tool_parse_u64(const char *s, uint64_t *out);

/**
 * tool_parse_int - a decimal integer in [@lo, @hi]: optional '-', then
 * digits, the whole string ("-1", "42", "007"). No '+', spaces, hex, units.
 * Returns 0; -EINVAL for anything else; -ERANGE outside [@lo, @hi] (or
 * beyond what a long long holds).
 */
int tool_parse_int(const char *s, long long lo, long long hi, long long *out);

/**
 * tool_parse_float - a finite decimal number in [@lo, @hi]: optional '-',
 * digits with an optional fraction ("0.8", ".5", "1."), an optional decimal
 * exponent ("1e-3"). NaN, inf, hex floats, '+', spaces and trailing
 * characters are refused.
 * Returns 0; -EINVAL (not such a number); -ERANGE (outside [@lo, @hi], or
 * too large for a double).
 */
int tool_parse_float(const char *s, double lo, double hi, double *out);

/**
 * tool_parse_msg - the one-line reason @err (a tool_parse_* result) refuses
 * @val for @flag, written to @buf: "-t: '1000' is out of range (1..256)".
 * @kind says what was expected ("an integer", "a number", "a size");
 * @range is the accepted range as the user would write it, or NULL.
 * Returns @buf.
 */
const char *tool_parse_msg(char *buf, unsigned long n, const char *flag, const char *val,
			   int err, const char *kind, const char *range);

/**
 * tool_flag_int - parse @val of @flag as an integer in [@lo, @hi] into @out;
 * on a refusal print "PROG: <tool_parse_msg>" on stderr (one line) and
 * return its negative errno
 */
int tool_flag_int(const char *prog, const char *flag, const char *val, long long lo,
		  long long hi, int *out);

#endif /* TOOL_PARSE_H */
