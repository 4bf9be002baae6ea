// SPDX-License-Identifier: MIT
/*
 * Every pre-tokenizer regex set against llama.cpp: SmolLM2's gpt2 vocabulary
 * with tokenizer.ggml.pre replaced by each supported name must give the ids
 * llama.cpp's llama_tokenize gave for the same relabelled vocab
 * (tests/runtime/tokenizer_pre_golden.txt, made by
 * make_tokenizer_pre_golden.py). Skips when the SmolLM2 file is absent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_error.h"
#include "rt_gguf.h"
#include "rt_tokenizer.h"
#include "tap.h"
#include "../../runtime/src/tokenizer/tokenizer_internal.h"

#define MAX_IDS 4096

static bool read_line(FILE *f, char *buf, size_t len)
{
	size_t n;

	if (!fgets(buf, (int)len, f))
		return false;
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return true;
}

/* the tests the golden file makes: one per '# pre' line and per case, and the
 * summary; read in a first pass so that the plan comes before any test */
static int count_tests(FILE *f, char *line, size_t len)
{
	int n = 1;

	while (read_line(f, line, len))
		n += !strncmp(line, "# pre ", 6) || !strncmp(line, "text", 4);
	rewind(f);
	return n;
}

static size_t unhex(const char *h, char *out, size_t cap, bool *bad)
{
	size_t n = 0;

	*bad = false;
	for (; h[0] && h[1] && n < cap; h += 2) {
		unsigned v;

		if (sscanf(h, "%2x", &v) != 1) {
			*bad = true;
			break;
		}
		out[n++] = (char)v;
	}
	*bad |= h[0] != '\0';
	return n;
}

static int parse_ids(const char *s, int32_t *ids)
{
	int n = 0;

	while (*s) {
		char *end;
		long v = strtol(s, &end, 10);

		if (end == s)
			break;
		if (n == MAX_IDS)
			return -1;
		ids[n++] = (int32_t)v;
		s = end;
	}
	return n;
}

int main(void)
{
	static char line[1 << 16], text[1 << 15], pre[64];
	static int32_t want[MAX_IDS], got[MAX_IDS];
	const char *model = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
	struct rt_tokenizer *tok = NULL;
	struct rt_tok_loaded l = { 0 };
	struct rt_tok_desc d;
	struct rt_gguf *g = NULL;
	int n_case = 0, n_bad = 0;
	FILE *f;

	f = fopen(tap_path("tests/runtime/tokenizer_pre_golden.txt"), "r");
	if (!f)
		bail_out("tests/runtime/tokenizer_pre_golden.txt missing");
	if (rt_gguf_open(tap_path(model), &g))
		plan_skip_all("%s absent (scripts/fetch-model.sh)", model);
	plan(count_tests(f, line, sizeof(line)));
	if (rt_tok_desc_load(g, &l, &d))
		bail_out("SmolLM2 tokenizer metadata: %s", rt_last_error());
	while (read_line(f, line, sizeof(line))) {
		int add, ps, nw, ng;
		size_t len;
		bool bad;

		if (!strncmp(line, "# pre ", 6)) {
			snprintf(pre, sizeof(pre), "%.*s", (int)sizeof(pre) - 1, line + 6);
			rt_tokenizer_free(tok);
			tok = NULL;
			d.pre = pre;
			if (!ok(rt_tokenizer_create(&d, &tok) == 0, "pre %s: tokenizer builds", pre))
				diag("%s", rt_last_error());
			continue;
		}
		if (line[0] == '#')
			continue;
		if (strncmp(line, "text", 4))
			bail_out("case %d: expected a text line", n_case);
		len = unhex(line[4] ? line + 5 : "", text, sizeof(text), &bad);
		if (bad || !read_line(f, line, sizeof(line)) ||
		    sscanf(line, "flags %d %d", &add, &ps) != 2 || !read_line(f, line, sizeof(line)) ||
		    strncmp(line, "ids", 3) || (nw = parse_ids(line + 3, want)) < 0)
			bail_out("case %d malformed", n_case);
		if (!tok)
			bail_out("case %d before a '# pre' line", n_case);
		ng = rt_tokenize(tok, text, len, add, ps, got, MAX_IDS);
		if (!ok(ng == nw && !memcmp(got, want, (size_t)nw * sizeof(*got)),
			"pre %s: case %d (%zu bytes, add_special %d, parse_special %d)", pre, n_case,
			len, add, ps)) {
			n_bad++;
			diag("want %d ids, got %d", nw, ng);
		}
		n_case++;
	}
	ok(n_case > 0 && !n_bad, "%d cases, %d mismatches", n_case, n_bad);
	rt_tokenizer_free(tok);
	rt_tok_loaded_fini(&l);
	rt_gguf_close(g);
	fclose(f);
	return done_testing();
}
