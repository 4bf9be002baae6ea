// SPDX-License-Identifier: MIT
/*
 * Tokenizers of the real models: stories260K (llama vocab, 512 tokens) and
 * SmolLM2-135M-Instruct (gpt2 vocab, pre "smollm"; skipped when absent).
 * Facts from their metadata, round trips text -> ids -> streamed text on
 * tricky strings, special-token parsing, digit splitting, byte fallback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_error.h"
#include "rt_gguf.h"
#include "rt_tokenizer.h"
#include "tap.h"

static const char *const tricky[] = {
	"Once upon a time, there was a little girl named Lily.",
	" leading space", "  two leading", "trailing  ", "a    b", "12345 and 3.14159",
	"Hello, world! (really?) -- yes; no: \"quoted\" [x] {y}",
	"caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xc3\x9c\x62\x65r", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	"emoji \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd!", "\n\n", "line\nnext\r\n\ttab",
	"I'm you're we'll it's DON'T", "<s> and </s> as text", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
};
#define N_TRICKY (int)(sizeof(tricky) / sizeof(tricky[0]))
/* per model: the tokenizer loads, 9 facts, a round trip per tricky string */
#define STORIES_TESTS (1 + 9 + N_TRICKY)
#define SMOLLM_TESTS (1 + 9 + N_TRICKY)

static bool round_trip(const struct rt_tokenizer *t, const char *s)
{
	int32_t ids[512];
	char out[256], text[2048] = "";
	struct rt_detok d;
	int n = rt_tokenize(t, s, strlen(s), false, false, ids, 512);

	if (n <= 0 || n > 512)
		return false;
	rt_detok_init_seq(&d);
	for (int i = 0; i < n; i++) {
		if (ids[i] < 0 || ids[i] >= rt_tokenizer_n_vocab(t))
			return false;
		if (rt_detok_push(&d, t, ids[i], out, sizeof(out)) < 0)
			return false;
		strncat(text, out, sizeof(text) - strlen(text) - 1);
	}
	if (strcmp(text, s))
		diag("'%s' came back as '%s'", s, text);
	return !strcmp(text, s);
}

static struct rt_tokenizer *open_tok(const char *rel, struct rt_gguf **g)
{
	struct rt_tokenizer *t = NULL;

	*g = NULL;
	if (rt_gguf_open(tap_path(rel), g))
		return NULL;
	if (rt_tokenizer_load(*g, &t)) {
		diag("%s: %s", rel, rt_last_error());
		rt_gguf_close(*g);
		*g = NULL;
	}
	return t;
}

static void test_stories(void)
{
	struct rt_gguf *g;
	struct rt_tokenizer *t = open_tok("tests/models/stories260K.gguf", &g);
	int32_t ids[64];
	int n;

	if (!ok(t != NULL, "stories260K: tokenizer loads")) {
		skip(STORIES_TESTS - 1, "no tokenizer");
		return;
	}
	is_int(rt_tokenizer_n_vocab(t), 512, "stories260K: 512 tokens");
	ok(rt_tokenizer_bos(t) == 1 && rt_tokenizer_eos(t) == 2 && rt_tokenizer_add_bos(t),
	   "stories260K: BOS 1, EOS 2, adds BOS (llama default)");
	ok(rt_tokenizer_is_eog(t, 2) && !rt_tokenizer_is_eog(t, 1) && !rt_tokenizer_is_eog(t, 0),
	   "stories260K: EOG is </s> only");
	n = rt_tokenize(t, "", 0, true, false, ids, 64);
	ok(n == 1 && ids[0] == 1, "stories260K: empty text with add_special is [BOS]");
	n = rt_tokenize(t, "Once", 4, true, false, ids, 64);
	ok(n == 2 && ids[0] == 1 && ids[1] == rt_tokenizer_find(t, "\xe2\x96\x81Once") &&
	   ids[1] > 258, "stories260K: 'Once' is BOS + the \xe2\x96\x81Once piece");
	n = rt_tokenize(t, "\xe6\x97\xa5", 3, false, false, ids, 64);
	ok(n >= 3 && ids[n - 3] == 3 + 0xe6 && ids[n - 2] == 3 + 0x97 && ids[n - 1] == 3 + 0xa5,
	   "stories260K: a CJK character falls back to <0xE6><0x97><0xA5>");
	n = rt_tokenize(t, "</s>", 4, false, true, ids, 64);
	ok(n == 1 && ids[0] == 2, "stories260K: '</s>' with parse_special is EOS");
	n = rt_tokenize(t, "</s>", 4, false, false, ids, 64);
	ok(n > 1, "stories260K: '</s>' without parse_special is text (%d ids)", n);
	char buf[16];
	n = rt_token_piece(t, 3 + 'A', false, buf, sizeof(buf));
	ok(n == 1 && buf[0] == 'A', "stories260K: <0x41> piece is 'A'");
	for (int i = 0; i < N_TRICKY; i++)
		ok(round_trip(t, tricky[i]), "stories260K: round trip %d", i);
	rt_tokenizer_free(t);
	rt_gguf_close(g);
}

static void test_smollm(void)
{
	const char *rel = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
	struct rt_gguf *g;
	struct rt_tokenizer *t;
	int32_t ids[64];
	char buf[32];
	int n;
	FILE *f = fopen(tap_path(rel), "rb");

	if (!f) {
		skip(SMOLLM_TESTS, "%s absent (scripts/fetch-model.sh)", rel);
		return;
	}
	fclose(f);
	t = open_tok(rel, &g);
	if (!ok(t != NULL, "smollm2: tokenizer loads")) {
		skip(SMOLLM_TESTS - 1, "no tokenizer");
		return;
	}
	is_int(rt_tokenizer_n_vocab(t), 49152, "smollm2: 49152 tokens");
	ok(rt_tokenizer_bos(t) == 1 && rt_tokenizer_eos(t) == 2 && !rt_tokenizer_add_bos(t),
	   "smollm2: BOS 1, EOS 2, add_bos_token false");
	ok(rt_tokenizer_is_eog(t, 0) && rt_tokenizer_is_eog(t, 2) && !rt_tokenizer_is_eog(t, 1),
	   "smollm2: <|endoftext|> and <|im_end|> end generation, <|im_start|> does not");
	ok(rt_tokenizer_eot(t) == 2 || rt_tokenizer_eot(t) == 0, "smollm2: EOT found by text");
	n = rt_tokenize(t, "<|im_start|>user", 16, true, true, ids, 64);
	ok(n == 2 && ids[0] == 1 && ids[1] == rt_tokenizer_find(t, "user"),
	   "smollm2: <|im_start|> parsed, no BOS added");
	n = rt_tokenize(t, "<|im_start|>user", 16, false, false, ids, 64);
	bool has1 = false;
	for (int i = 0; i < n; i++)
		has1 |= ids[i] == 1;
	ok(n > 2 && !has1, "smollm2: without parse_special it is text");
	n = rt_tokenize(t, "12345", 5, false, false, ids, 64);
	bool digits = n == 5;
	for (int i = 0; i < n && digits; i++)
		digits = rt_token_piece(t, ids[i], false, buf, sizeof(buf)) == 1 && buf[0] == '1' + i;
	ok(digits, "smollm2: '12345' is five single-digit tokens (pre 'smollm')");
	n = rt_token_piece(t, rt_tokenizer_find(t, "\xc4\xa0the"), false, buf, sizeof(buf));
	ok(n == 4 && !memcmp(buf, " the", 4), "smollm2: \xc4\xa0the piece is ' the'");
	ok(rt_token_piece(t, 2, false, buf, sizeof(buf)) == 0 &&
	   rt_token_piece(t, 2, true, buf, sizeof(buf)) == 10,
	   "smollm2: <|im_end|> piece only with special");
	for (int i = 0; i < N_TRICKY; i++)
		ok(round_trip(t, tricky[i]), "smollm2: round trip %d", i);
	rt_tokenizer_free(t);
	rt_gguf_close(g);
}

int main(void)
{
	plan(STORIES_TESTS + SMOLLM_TESTS);
	test_stories();
	test_smollm();
	return done_testing();
}
