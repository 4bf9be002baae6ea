// SPDX-License-Identifier: MIT
/*
 * Our tokenizer against llama.cpp itself: every tests/golden/<name>/tokenize.txt
 * (made by tests/golden/make-golden.sh with llama_tokenize) names its model in
 * a "# model <repo path>" line and holds cases of three lines:
 *   text <hex of the UTF-8 bytes> / flags <add_special> <parse_special> / ids ...
 * Each case must give identical ids. Skips when no golden file exists or a
 * model file is absent; a malformed file fails.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_error.h"
#include "rt_gguf.h"
#include "rt_tokenizer.h"
#include "tap.h"

#define MAX_IDS 8192

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

/* next non-comment line into @buf; false at end of file */
static bool next_line(FILE *f, char *buf, size_t len)
{
	while (fgets(buf, (int)len, f)) {
		chomp(buf);
		if (buf[0] != '#')
			return true;
	}
	return false;
}

static int parse_ids(const char *s, int32_t *ids)
{
	int n = 0;

	while (*s) {
		char *end;
		long v;

		while (*s == ' ')
			s++;
		if (!*s)
			break;
		v = strtol(s, &end, 10);
		if (end == s || n == MAX_IDS)
			return -1;
		ids[n++] = (int32_t)v;
		s = end;
	}
	return n;
}

/*
 * The tests a golden file makes, counted before any runs: the tokenizer
 * loads, one per case (its text lines), the summary. run_file() pads a path
 * cut short (model absent, a failure) with skips up to this count.
 */
static int file_tests(const char *path)
{
	static char line[1 << 16];
	FILE *f = fopen(path, "r");
	int n = 2;

	if (!f)
		return 1;
	while (next_line(f, line, sizeof(line)))
		n += !strncmp(line, "text", 4);
	fclose(f);
	return n;
}

static void run_file(const char *name, const char *path, int planned)
{
	static char line[1 << 16], text[1 << 15];
	static int32_t want[MAX_IDS], got[MAX_IDS];
	struct rt_tokenizer *tok = NULL;
	struct rt_gguf *g = NULL;
	char model[512] = "";
	FILE *f = fopen(path, "r");
	int n_case = 0, n_bad = 0, done = 0;
	const char *why = "not run after the failure above";

	if (!f) {
		ok(0, "%s: open %s", name, path);
		if (planned > 1)
			skip(planned - 1, "%s", why);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		chomp(line);
		if (!strncmp(line, "# model ", 8)) {
			snprintf(model, sizeof(model), "%.*s", (int)sizeof(model) - 1, line + 8);
			break;
		}
	}
	if (!model[0]) {
		ok(0, "%s: no '# model <path>' line", name);
		done++;
		goto out;
	}
	if (rt_gguf_open(tap_path(model), &g)) {
		skip(planned, "%s: model %s absent", name, model);
		done = planned;
		goto out;
	}
	done++;
	if (!ok(rt_tokenizer_load(g, &tok) == 0, "%s: tokenizer loads", name)) {
		diag("%s", rt_last_error());
		goto out;
	}
	rewind(f);
	while (next_line(f, line, sizeof(line))) {
		int add, ps, nw, ng;
		size_t len = 0;
		const char *hex;

		if (strncmp(line, "text", 4) || (line[4] && line[4] != ' ')) {
			ok(0, "%s: case %d: expected a text line, got '%.40s'", name, n_case, line);
			done++;
			goto out;
		}
		hex = line[4] ? line + 5 : "";
		for (; hex[0] && hex[1] && len < sizeof(text); hex += 2) {
			int hi = hexval(hex[0]), lo = hexval(hex[1]);

			if (hi < 0 || lo < 0)
				break;
			text[len++] = (char)(hi << 4 | lo);
		}
		if (*hex || !next_line(f, line, sizeof(line)) ||
		    sscanf(line, "flags %d %d", &add, &ps) != 2 ||
		    !next_line(f, line, sizeof(line)) || strncmp(line, "ids", 3) ||
		    (nw = parse_ids(line + 3, want)) < 0) {
			ok(0, "%s: case %d malformed", name, n_case);
			done++;
			goto out;
		}
		ng = rt_tokenize(tok, text, len, add, ps, got, MAX_IDS);
		bool same = ng == nw && !memcmp(got, want, (size_t)nw * sizeof(*got));

		done++;
		if (!ok(same, "%s: case %d (%zu bytes, add_special %d, parse_special %d)", name,
			n_case, len, add, ps)) {
			n_bad++;
			diag("text '%.*s'", (int)(len > 80 ? 80 : len), text);
			diag("want %d ids, got %d", nw, ng);
			for (int i = 0; i < nw && i < ng; i++) {
				if (want[i] != got[i]) {
					diag("first difference at %d: want %d got %d", i, want[i],
					     got[i]);
					break;
				}
			}
		}
		n_case++;
	}
	ok(n_case > 0, "%s: %d cases, %d mismatches", name, n_case, n_bad);
	done++;
out:
	if (done < planned)
		skip(planned - done, "%s: %s", name, why);
	rt_tokenizer_free(tok);
	rt_gguf_close(g);
	fclose(f);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	char *names[64];
	int n = 0, counts[64], total = 0;
	const char *dir = tap_path("tests/golden");
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		plan_skip_all("no tests/golden directory yet");
	while ((e = readdir(d)) && n < 64) {
		char path[1024];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/tokenize.txt", dir, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		fclose(f);
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (!n)
		plan_skip_all("no tests/golden/*/tokenize.txt yet");
	qsort(names, n, sizeof(*names), cmp_str);
	/* the files' counts first, then the plan, then the tests */
	for (int i = 0; i < n; i++) {
		char rel[512];

		snprintf(rel, sizeof(rel), "tests/golden/%.200s/tokenize.txt", names[i]);
		counts[i] = file_tests(tap_path(rel));
		total += counts[i];
	}
	plan(total);
	for (int i = 0; i < n; i++) {
		char rel[512];

		snprintf(rel, sizeof(rel), "tests/golden/%.200s/tokenize.txt", names[i]);
		run_file(names[i], tap_path(rel), counts[i]);
		free(names[i]);
	}
	return done_testing();
}
