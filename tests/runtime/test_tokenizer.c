// SPDX-License-Identifier: MIT
/*
 * Tokenizer core on vocabularies built here (no GGUF): SPM merge order, byte
 * fallback, dummy prefix and special-token partitioning; byte-level BPE merge
 * ranks; the pre-tokenizer splits of llama.cpp's regex sets; pieces, the
 * streaming detokenizer and EOG detection. Expected ids follow by hand from
 * llama.cpp's algorithms on these small vocabularies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_error.h"
#include "rt_tokenizer.h"
#include "tap.h"
#include "../../runtime/src/tokenizer/tokenizer_internal.h"

#define U2581 "\xe2\x96\x81"

/* ---- a small SentencePiece vocab: specials, 256 byte tokens, pieces */
static const struct { const char *t; float s; int type; } spm_pieces[] = {
	{ U2581, -1, 1 }, { "h", -2, 1 }, { "e", -3, 1 }, { "l", -4, 1 }, { "o", -5, 1 },
	{ "w", -6, 1 }, { "r", -7, 1 }, { "d", -8, 1 }, { "he", -10, 1 }, { "ll", -9, 1 },
	{ "llo", -11, 1 }, { "hello", -12, 1 }, { U2581 "hello", -13, 1 }, { U2581 "w", -14, 1 },
	{ "or", -15, 1 }, { U2581 "wor", -16, 1 }, { "ld", -17, 1 }, { U2581 "world", -18, 1 },
	{ "<|im_end|>", 0, 1 }, { "<user>", 0, 4 },
};
#define SPM_P0 259	/* id of the first piece */
#define SPM_BYTE(b) (3 + (b))
enum { ID_SP = SPM_P0, ID_H, ID_E, ID_L, ID_O, ID_W, ID_R, ID_D, ID_HE, ID_LL, ID_LLO, ID_HELLO,
       ID_SPHELLO, ID_SPW, ID_OR, ID_SPWOR, ID_LD, ID_SPWORLD, ID_IMEND, ID_USER };

static struct rt_tokenizer *make_spm(int add_space_prefix, const char *name)
{
	static char bytes[256][8];
	const char *tok[SPM_P0 + 20];
	float score[SPM_P0 + 20];
	int32_t type[SPM_P0 + 20];
	struct rt_tok_desc d;
	struct rt_tokenizer *t = NULL;
	int n = 0;

	tok[n] = "<unk>"; score[n] = 0; type[n++] = 2;
	tok[n] = "<s>"; score[n] = 0; type[n++] = 3;
	tok[n] = "</s>"; score[n] = 0; type[n++] = 3;
	for (int b = 0; b < 256; b++) {
		snprintf(bytes[b], sizeof(bytes[b]), "<0x%02X>", b);
		tok[n] = bytes[b]; score[n] = 0; type[n++] = 6;
	}
	for (size_t i = 0; i < sizeof(spm_pieces) / sizeof(spm_pieces[0]); i++) {
		tok[n] = spm_pieces[i].t; score[n] = spm_pieces[i].s; type[n++] = spm_pieces[i].type;
	}
	rt_tok_desc_init(&d);
	d.model = "llama";
	d.n_tokens = n;
	d.tokens = tok;
	d.scores = score;
	d.types = type;
	d.add_space_prefix = add_space_prefix;
	d.name = name;
	if (rt_tokenizer_create(&d, &t))
		return NULL;
	return t;
}

static int enc(const struct rt_tokenizer *t, const char *s, bool add, bool ps, int32_t *ids)
{
	return rt_tokenize(t, s, strlen(s), add, ps, ids, 64);
}

static bool same(const int32_t *got, int n, const int32_t *want, int nw)
{
	if (n != nw) {
		diag("got %d ids, want %d", n, nw);
		return false;
	}
	for (int i = 0; i < n; i++) {
		if (got[i] != want[i]) {
			diag("id %d: got %d, want %d", i, got[i], want[i]);
			return false;
		}
	}
	return true;
}

#define SAME(got, n, ...) ({ const int32_t w_[] = { __VA_ARGS__ }; \
	same(got, n, w_, (int)(sizeof(w_) / sizeof(w_[0]))); })

/* tests per section: a vocab that does not build skips the rest of its own */
#define SPM_TESTS 19
#define DETOK_TESTS 12
#define BPE_TESTS 8
#define PRETOK_TESTS 8
#define ERRORS_TESTS 4

static void test_spm(void)
{
	struct rt_tokenizer *t = make_spm(-1, NULL), *np = make_spm(0, NULL);
	struct rt_tokenizer *phi = make_spm(-1, "Phi-3-mini-4k-instruct");
	int32_t ids[64];
	int n;

	ok(t && np, "spm: vocab builds");
	if (!t || !np) {
		skip(SPM_TESTS - 1, "no vocab");
		return;
	}
	n = enc(t, "hello world", true, false, ids);
	ok(SAME(ids, n, 1, ID_SPHELLO, ID_SPWORLD),
	   "spm_merge_by_score: BOS + \xe2\x96\x81hello \xe2\x96\x81world");
	n = enc(t, "hello world", false, false, ids);
	ok(SAME(ids, n, ID_SPHELLO, ID_SPWORLD), "spm_no_add_special: no BOS");
	n = enc(np, "hello", false, false, ids);
	ok(SAME(ids, n, ID_HELLO), "spm_add_space_prefix_false: no dummy prefix");
	n = enc(t, "h\xe2\x82\xac", false, false, ids);
	ok(SAME(ids, n, ID_SP, ID_H, SPM_BYTE(0xe2), SPM_BYTE(0x82), SPM_BYTE(0xac)),
	   "spm_byte_fallback: unknown character as <0xXX> tokens");
	n = enc(t, "<s>hello", false, true, ids);
	ok(SAME(ids, n, 1, ID_SPHELLO), "spm_parse_special: <s> is BOS, prefix space after it");
	n = enc(t, "<s>hello", false, false, ids);
	ok(SAME(ids, n, ID_SP, SPM_BYTE('<'), SPM_BYTE('s'), SPM_BYTE('>'), ID_HELLO),
	   "spm_no_parse_special: <s> is text");
	n = enc(t, "hello<user>hello", false, false, ids);
	ok(SAME(ids, n, ID_SPHELLO, ID_USER, ID_SPHELLO),
	   "spm_user_defined: split even without parse_special");
	n = enc(phi, "hello<user>  hello", false, false, ids);
	ok(phi && SAME(ids, n, ID_SPHELLO, ID_USER, ID_SPHELLO),
	   "spm_phi3_rstrip: spaces after a special token dropped (general.name phi-3)");
	n = enc(t, "hello<user>  hello", false, false, ids);
	ok(SAME(ids, n, ID_SPHELLO, ID_USER, ID_SP, ID_SP, ID_SPHELLO), "spm_no_rstrip: the spaces stay otherwise");
	n = enc(t, "", true, false, ids);
	ok(SAME(ids, n, 1), "spm_empty: only BOS");
	n = rt_tokenize(t, "hello world", 11, false, false, ids, 1);
	is_int(n, 2, "rt_tokenize_short_buffer: returns the full count");

	char buf[32];
	n = rt_token_piece(t, ID_SPHELLO, false, buf, sizeof(buf));
	ok(n == 6 && !memcmp(buf, " hello", 6), "piece_spm: U+2581 becomes a space");
	n = rt_token_piece(t, SPM_BYTE(0x41), false, buf, sizeof(buf));
	ok(n == 1 && buf[0] == 'A', "piece_byte: <0x41> is 'A'");
	ok(rt_token_piece(t, 1, false, buf, sizeof(buf)) == 0 &&
	   rt_token_piece(t, 1, true, buf, sizeof(buf)) == 3 && !memcmp(buf, "<s>", 3),
	   "piece_control: empty unless special");
	ok(rt_token_piece(t, ID_USER, false, buf, sizeof(buf)) == 6,
	   "piece_user_defined: its text");
	ok(rt_token_piece(t, ID_SPHELLO, false, buf, 3) == 6, "piece_short_buffer: full length");
	ok(rt_tokenizer_is_eog(t, 2) && rt_tokenizer_is_eog(t, ID_IMEND) &&
	   !rt_tokenizer_is_eog(t, 1) && !rt_tokenizer_is_eog(t, ID_HELLO),
	   "is_eog: </s> and <|im_end|> (found by text), not <s>");
	ok(rt_token_piece(t, ID_IMEND, false, buf, sizeof(buf)) == 0,
	   "eog_text_token: <|im_end|> typed normal is made control");
	rt_tokenizer_free(t);
	rt_tokenizer_free(np);
	rt_tokenizer_free(phi);
}

static void test_detok(void)
{
	struct rt_tokenizer *t = make_spm(-1, NULL);
	struct rt_detok d;
	char out[64];
	int n;

	if (!t) {
		skip(DETOK_TESTS, "no vocab");
		return;
	}
	rt_detok_init_seq(&d);
	n = rt_detok_push(&d, t, ID_SPHELLO, out, sizeof(out));
	ok(n == 5 && !strcmp(out, "hello"), "detok_seq_first_piece: dummy-prefix space stripped");
	n = rt_detok_push(&d, t, ID_SPWORLD, out, sizeof(out));
	ok(n == 6 && !strcmp(out, " world"), "detok_later_piece: space kept");
	rt_detok_init(&d);
	n = rt_detok_push(&d, t, ID_SPHELLO, out, sizeof(out));
	ok(n == 6 && !strcmp(out, " hello"), "detok_continuation: first piece as llama.cpp prints it");
	rt_detok_init_seq(&d);
	rt_detok_push(&d, t, 1, out, sizeof(out));
	n = rt_detok_push(&d, t, ID_SPHELLO, out, sizeof(out));
	ok(n == 6 && !strcmp(out, " hello"), "detok_after_bos: space kept (llama.cpp detokenize)");
	rt_detok_init(&d);
	n = rt_detok_push(&d, t, SPM_BYTE(0xc3), out, sizeof(out));
	ok(n == 0 && out[0] == '\0', "detok_partial_utf8: held");
	n = rt_detok_push(&d, t, SPM_BYTE(0xa9), out, sizeof(out));
	ok(n == 2 && !strcmp(out, "\xc3\xa9"), "detok_completed_utf8: emitted");
	rt_detok_push(&d, t, SPM_BYTE(0xc3), out, sizeof(out));
	n = rt_detok_push(&d, t, SPM_BYTE('A'), out, sizeof(out));
	ok(n == 4 && !strcmp(out, "\xef\xbf\xbd" "A"), "detok_broken_utf8: U+FFFD then the byte");
	n = rt_detok_push(&d, t, ID_SPHELLO, out, 4);
	ok(n == -ENOSPC, "detok_short_buffer: -ENOSPC");

	const int32_t seq[] = { 1, ID_SPHELLO, ID_SPWORLD };
	n = rt_detokenize(t, seq + 1, 2, true, false, out, sizeof(out));
	ok(n == 11 && !strcmp(out, "hello world"), "detokenize_no_bos: prefix space stripped");
	n = rt_detokenize(t, seq, 3, true, false, out, sizeof(out));
	ok(n == 12 && !strcmp(out, " hello world"), "detokenize_bos_removed: space kept");
	n = rt_detokenize(t, seq, 3, false, true, out, sizeof(out));
	ok(n == 15 && !strcmp(out, "<s> hello world"), "detokenize_unparse_special: <s> shown");
	ok(rt_detokenize(t, seq, 3, false, true, out, 4) == 15, "detokenize_short: full length");
	rt_tokenizer_free(t);
}

/* ---- byte-level BPE: 256 byte tokens then merged ones */
static const char *const bpe_merges[] = {
	"h e", "l l", "he ll", "hell o", "\xc4\xa0 w", "o r", "\xc4\xa0w or", "l d",
	"\xc4\xa0wor ld",
};

static struct rt_tokenizer *make_bpe(const char *pre)
{
	static char bytes[256][4];
	const char *tok[256 + 10];
	int32_t type[256 + 10];
	struct rt_tok_desc d;
	struct rt_tokenizer *t = NULL;
	int n = 0;

	for (int b = 0; b < 256; b++) {
		int k = rt_tok_byte_to_utf8((uint8_t)b, bytes[b]);

		bytes[b][k] = '\0';
		tok[n] = bytes[b];
		type[n++] = 1;
	}
	const char *merged[] = { "he", "ll", "hell", "hello", "\xc4\xa0w", "or", "\xc4\xa0wor",
				 "ld", "\xc4\xa0world" };
	for (int i = 0; i < 9; i++) {
		tok[n] = merged[i];
		type[n++] = 1;
	}
	tok[n] = "<|endoftext|>";
	type[n++] = 3;
	rt_tok_desc_init(&d);
	d.model = "gpt2";
	d.pre = pre;
	d.n_tokens = n;
	d.tokens = tok;
	d.types = type;
	d.n_merges = 9;
	d.merges = bpe_merges;
	d.eos = n - 1;
	if (rt_tokenizer_create(&d, &t)) {
		diag("%s", rt_last_error());
		return NULL;
	}
	return t;
}

static void test_bpe(void)
{
	struct rt_tokenizer *t = make_bpe("gpt-2");
	int32_t ids[64];
	char buf[32];
	int n;

	ok(t != NULL, "bpe: vocab builds");
	if (!t) {
		skip(BPE_TESTS - 1, "no vocab");
		return;
	}
	n = enc(t, "hello world", true, false, ids);
	ok(SAME(ids, n, 259, 264), "bpe_merge_by_rank: hello + \xc4\xa0world, no BOS (gpt2)");
	n = enc(t, "hell", false, false, ids);
	ok(SAME(ids, n, 258), "bpe_merge_chain: he + ll -> hell");
	n = enc(t, "lll", false, false, ids);
	ok(SAME(ids, n, 257, 'l'), "bpe_leftmost_first: ll + l");
	n = enc(t, "x<|endoftext|>", false, true, ids);
	ok(SAME(ids, n, 'x', 265), "bpe_parse_special: control token id");
	n = enc(t, "x<|endoftext|>", false, false, ids);
	ok(n == 14 && ids[1] == '<', "bpe_no_parse_special: text, byte by byte");
	n = rt_token_piece(t, 264, false, buf, sizeof(buf));
	ok(n == 6 && !memcmp(buf, " world", 6), "piece_bpe: byte-level text decoded");
	const int32_t q[] = { 'h', ' ', '?', ' ', '\'', ' ', 'a', ' ', '\'', 's', ' ', '\'', 't' };
	n = rt_detokenize(t, q, 13, false, false, buf, sizeof(buf));
	ok(n == 9 && !strcmp(buf, "h?'a's 't"), "detokenize_clean_spaces: llama.cpp's three passes");
	rt_tokenizer_free(t);
}

/* ---- pre-tokenizer splits */
static bool split_is(enum rt_tok_pre pre, const char *text, const char *const *want, int nw)
{
	struct rt_tok_pretok *p = NULL;
	struct rt_tok_words w = { 0 };
	bool good = false;

	if (rt_tok_pretok_create(pre, &p))
		return false;
	if (rt_tok_pretok_split(p, text, strlen(text), &w))
		goto out;
	good = (int)w.n == nw;
	for (size_t i = 0; i < w.n; i++) {
		const char *got = w.buf + w.off[i];

		if (i < (size_t)nw && strcmp(got, want[i]))
			good = false;
		if (!good)
			diag("word %zu: '%s'", i, got);
	}
out:
	rt_tok_words_fini(&w);
	rt_tok_pretok_free(p);
	return good;
}

#define SPLIT(pre, text, ...) ({ const char *const w_[] = { __VA_ARGS__ }; \
	split_is(pre, text, w_, (int)(sizeof(w_) / sizeof(w_[0]))); })
#define G "\xc4\xa0"	/* space, byte-encoded */
#define C "\xc4\x8a"	/* newline */

static void test_pretok(void)
{
	ok(SPLIT(RT_PRE_LLAMA3, "12345 abc  def\n\n", "123", "45", G "abc", G, G "def", C C),
	   "pretok_llama3: digits in threes, \\s+(?!\\S), newlines");
	ok(SPLIT(RT_PRE_LLAMA3, "I'M here", "I", "'M", G "here"),
	   "pretok_llama3: contractions any case");
	ok(SPLIT(RT_PRE_SMOLLM, "I'm 12345", "I", "'m", G, "1", "2", "3", "4", "5"),
	   "pretok_smollm: one digit each, the space alone");
	ok(SPLIT(RT_PRE_QWEN2, "x 123", "x", G, "1", "2", "3"), "pretok_qwen2: single digits");
	ok(SPLIT(RT_PRE_DEFAULT, "Hello, world!!", "Hello", ",", G "world", "!!"),
	   "pretok_default: punctuation first");
	ok(SPLIT(RT_PRE_GPT2, "a\t\tb", "a", "\xc4\x89", "\xc4\x89", "b"),
	   "pretok_gpt2: lone tabs before a letter");
	ok(SPLIT(RT_PRE_GPT2, "a\xc2\x85\xc2\x85" "b", "a", "\xc3\x82\xc4\xa7",
		 "\xc3\x82\xc4\xa7", "b"),
	   "pretok_whitespace: U+0085 is whitespace as in llama.cpp");
	ok(SPLIT(RT_PRE_GPT2, "x\xff" "y", "x", "\xc3\xaf\xc2\xbf\xc2\xbd", "y"),
	   "pretok_invalid_utf8: a bad byte becomes U+FFFD");
}

static void test_errors(void)
{
	struct rt_tok_desc d;
	struct rt_tokenizer *t = (struct rt_tokenizer *)1;
	const char *tok[] = { "a", "b" };

	rt_tok_desc_init(&d);
	d.model = "bert";
	d.n_tokens = 2;
	d.tokens = tok;
	is_int(rt_tokenizer_create(&d, &t), -ENOTSUP, "create_unknown_model: -ENOTSUP");
	ok(t == NULL, "create_unknown_model: no tokenizer");
	d.model = "gpt2";
	d.pre = "no-such-pre";
	is_int(rt_tokenizer_create(&d, &t), -ENOTSUP, "create_unknown_pre: -ENOTSUP");
	d.pre = "smollm";
	is_int(rt_tokenizer_create(&d, &t), -EINVAL, "create_gpt2_no_merges: -EINVAL");
	rt_tokenizer_free(NULL);
}

int main(void)
{
	plan(SPM_TESTS + DETOK_TESTS + BPE_TESTS + PRETOK_TESTS + ERRORS_TESTS);
	test_spm();
	test_detok();
	test_bpe();
	test_pretok();
	test_errors();
	return done_testing();
}
