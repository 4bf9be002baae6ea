// SPDX-License-Identifier: MIT
/*
 * tools/lib: tool_parse_size, tool_parse_u64, tool_parse_int and
 * tool_parse_float on a table of accepted spellings (each with its exact
 * value) and of refused ones (each with its errno), and *out left alone on
 * every refusal; tool_parse_msg's lines repeat the value as given.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "tool_parse.h"
#include "tool_text.h"

#define K (1ULL << 10)
#define M (1ULL << 20)
#define G (1ULL << 30)
#define T (1ULL << 40)

static const struct {
	const char *s;
	uint64_t want;
} sizes_ok[] = {
	{ "0", 0 }, { "1", 1 }, { "4096", 4096 }, { "007", 7 },
	{ "64K", 64 * K }, { "64k", 64 * K }, { "64KiB", 64 * K }, { "64KB", 64 * K },
	{ "64kb", 64 * K }, { "65536B", 64 * K }, { "512M", 512 * M }, { "512MiB", 512 * M },
	{ "1G", G }, { "1.5G", G + G / 2 }, { "1.5GiB", G + G / 2 }, { "0.5K", 512 },
	{ "2T", 2 * T }, { "2TiB", 2 * T }, { "1.3K", 1331 },	/* 1331.2: rounds down */
	{ "0.0000000000000000001T", 0 },			/* past 18 decimals: ignored */
	{ "18446744073709551615", UINT64_MAX }, { "18446744073709551615B", UINT64_MAX },
	{ "16777215T", 16777215 * T }, { "17179869183G", 17179869183ULL * G },
	{ "16777215.5T", 16777215 * T + T / 2 },
};

static const struct {
	const char *s;
	int err;
} sizes_bad[] = {
	{ "", -EINVAL }, { "K", -EINVAL }, { "-1", -EINVAL }, { "-1K", -EINVAL },
	{ "+1", -EINVAL }, { " 1", -EINVAL }, { "1 ", -EINVAL }, { "1 K", -EINVAL },
	{ "12Q", -EINVAL }, { "1KK", -EINVAL }, { "1KiBx", -EINVAL }, { "1iB", -EINVAL },
	{ "1Bi", -EINVAL }, { "1.5", -EINVAL }, { "1.5B", -EINVAL }, { "1.", -EINVAL },
	{ "1.G", -EINVAL }, { ".5G", -EINVAL }, { "1..5G", -EINVAL }, { "1e3", -EINVAL },
	{ "1E", -EINVAL }, { "0x10", -EINVAL }, { "nan", -EINVAL }, { "inf", -EINVAL },
	{ "NaN", -EINVAL }, { "infinity", -EINVAL }, { "1,5G", -EINVAL },
	{ "18446744073709551616", -ERANGE }, { "99999999999999999999999", -ERANGE },
	{ "16777216T", -ERANGE }, { "17179869184G", -ERANGE }, { "16777215.99999999999T", 0 },
};

static const struct {
	const char *s;
	uint64_t want;
	int err;
} u64s[] = {
	{ "0", 0, 0 }, { "42", 42, 0 }, { "010", 10, 0 }, { "0x10", 16, 0 }, { "0XfF", 255, 0 },
	{ "18446744073709551615", UINT64_MAX, 0 }, { "0xffffffffffffffff", UINT64_MAX, 0 },
	{ "18446744073709551616", 0, -ERANGE }, { "0x10000000000000000", 0, -ERANGE },
	{ "", 0, -EINVAL }, { "-1", 0, -EINVAL }, { "+1", 0, -EINVAL }, { " 1", 0, -EINVAL },
	{ "1 ", 0, -EINVAL }, { "0x", 0, -EINVAL }, { "0xg", 0, -EINVAL }, { "12a", 0, -EINVAL },
	{ "1K", 0, -EINVAL }, { "1.0", 0, -EINVAL }, { "x10", 0, -EINVAL },
};

/* tool_parse_int over [-5, 300] unless the row says "wide" (LLONG range) */
static const struct {
	const char *s;
	long long want;
	int err;
	int wide;
} ints[] = {
	{ "0", 0, 0, 0 }, { "42", 42, 0, 0 }, { "007", 7, 0, 0 }, { "-1", -1, 0, 0 },
	{ "-5", -5, 0, 0 }, { "300", 300, 0, 0 }, { "-0", 0, 0, 0 },
	{ "9223372036854775807", LLONG_MAX, 0, 1 }, { "-9223372036854775808", LLONG_MIN, 0, 1 },
	{ "9223372036854775808", 0, -ERANGE, 1 }, { "-9223372036854775809", 0, -ERANGE, 1 },
	{ "99999999999999999999999", 0, -ERANGE, 1 }, { "99999999999999999999999x", 0, -EINVAL, 1 },
	{ "301", 0, -ERANGE, 0 }, { "-6", 0, -ERANGE, 0 }, { "", 0, -EINVAL, 0 },
	{ "-", 0, -EINVAL, 0 }, { "+1", 0, -EINVAL, 0 }, { " 1", 0, -EINVAL, 0 },
	{ "1 ", 0, -EINVAL, 0 }, { "10i", 0, -EINVAL, 0 }, { "0x10", 0, -EINVAL, 0 },
	{ "1.0", 0, -EINVAL, 0 }, { "1e2", 0, -EINVAL, 0 }, { "--1", 0, -EINVAL, 0 },
	{ "nan", 0, -EINVAL, 0 },
};

/* tool_parse_float over [-1, 2] */
static const struct {
	const char *s;
	double want;
	int err;
} floats[] = {
	{ "0", 0, 0 }, { "0.8", 0.8, 0 }, { ".5", 0.5, 0 }, { "1.", 1, 0 }, { "-1", -1, 0 },
	{ "2", 2, 0 }, { "1e-3", 1e-3, 0 }, { "1E0", 1, 0 }, { "2e+0", 2, 0 }, { "-0.5", -0.5, 0 },
	{ "2.0001", 0, -ERANGE }, { "-1.5", 0, -ERANGE }, { "1e400", 0, -ERANGE },
	{ "nan", 0, -EINVAL }, { "NaN", 0, -EINVAL }, { "-nan", 0, -EINVAL }, { "inf", 0, -EINVAL },
	{ "-inf", 0, -EINVAL }, { "infinity", 0, -EINVAL }, { "0x1p0", 0, -EINVAL },
	{ "", 0, -EINVAL }, { ".", 0, -EINVAL }, { "-", 0, -EINVAL }, { "+1", 0, -EINVAL },
	{ " 1", 0, -EINVAL }, { "1 ", 0, -EINVAL }, { "1e", 0, -EINVAL }, { "1e+", 0, -EINVAL },
	{ "1,5", 0, -EINVAL }, { "0.8x", 0, -EINVAL }, { "1..2", 0, -EINVAL },
};

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

int main(void)
{
	uint64_t v;
	int i, ret;

	char msg[128];
	long long iv;
	double dv;

	plan(N(sizes_ok) + N(sizes_bad) + N(u64s) + N(ints) + N(floats) + 6 + 4);
	for (i = 0; i < N(sizes_ok); i++) {
		v = 12345;
		ret = tool_parse_size(sizes_ok[i].s, &v);
		ok(ret == 0 && v == sizes_ok[i].want, "size \"%s\" = %llu (got %d, %llu)",
		   sizes_ok[i].s, (unsigned long long)sizes_ok[i].want, ret, (unsigned long long)v);
	}
	for (i = 0; i < N(sizes_bad); i++) {
		const char *s = sizes_bad[i].s;
		int want = sizes_bad[i].err;

		if (!want) {	/* the largest fraction below the limit still fits */
			ok(tool_parse_size(s, &v) == 0 && v < UINT64_MAX && v > 16777215 * T,
			   "size \"%s\" fits (%llu)", s, (unsigned long long)v);
			continue;
		}
		v = 12345;
		ret = tool_parse_size(s, &v);
		ok(ret == want && v == 12345, "size \"%s\": %s, *out untouched (got %d)", s,
		   want == -ERANGE ? "-ERANGE" : "-EINVAL", ret);
	}
	for (i = 0; i < N(u64s); i++) {
		v = 12345;
		ret = tool_parse_u64(u64s[i].s, &v);
		ok(ret == u64s[i].err && v == (ret ? 12345 : u64s[i].want), "u64 \"%s\": %d %llu",
		   u64s[i].s, ret, (unsigned long long)v);
	}
	for (i = 0; i < N(ints); i++) {
		long long lo = ints[i].wide ? LLONG_MIN : -5, hi = ints[i].wide ? LLONG_MAX : 300;

		iv = 12345;
		ret = tool_parse_int(ints[i].s, lo, hi, &iv);
		ok(ret == ints[i].err && iv == (ret ? 12345 : ints[i].want), "int \"%s\": %d %lld",
		   ints[i].s, ret, iv);
	}
	for (i = 0; i < N(floats); i++) {
		dv = 12345;
		ret = tool_parse_float(floats[i].s, -1, 2, &dv);
		ok(ret == floats[i].err && dv == (ret ? 12345 : floats[i].want),
		   "float \"%s\": %d %g", floats[i].s, ret, dv);
	}
	is_int(tool_parse_int(NULL, 0, 1, &iv), -EINVAL, "int NULL: -EINVAL");
	is_int(tool_parse_float(NULL, 0, 1, &dv), -EINVAL, "float NULL: -EINVAL");
	tool_parse_msg(msg, sizeof(msg), "-t", "1000", -ERANGE, "an integer", "1..256");
	ok(!strcmp(msg, "-t: '1000' is out of range (1..256)"), "msg out of range: %s", msg);
	tool_parse_msg(msg, sizeof(msg), "--temp", "nan", -EINVAL, "a finite number", NULL);
	ok(!strcmp(msg, "--temp: 'nan' is not a finite number"), "msg not a number: %s", msg);
	is_int(tool_parse_size(NULL, &v), -EINVAL, "size NULL: -EINVAL");
	is_int(tool_parse_u64(NULL, &v), -EINVAL, "u64 NULL: -EINVAL");
	{
		struct tool_text t = { 0 };
		int out = 7;

		ok(!tool_flag_int("prog", "-n", "12", 1, 64, &out) && out == 12, "flag_int 12");
		out = 7;
		ok(tool_flag_int("prog", "-n", "65", 1, 64, &out) == -ERANGE && out == 7,
		   "flag_int 65 refused, out untouched (stderr has its line)");
		ok(!tool_text_append(&t, "ab", 2) && !tool_text_append(&t, "cde", 3) &&
		   t.len == 5 && !strcmp(t.buf, "abcde"), "text: appended and NUL-terminated");
		ok(!tool_text_append(&t, "", 0) && t.len == 5 && !strcmp(t.buf, "abcde"),
		   "text: an empty append changes nothing");
		free(t.buf);
	}
	return done_testing();
}
