// SPDX-License-Identifier: MIT
/*
 * BPE pre-tokenizer: splits text into words with the regex list llama.cpp
 * uses for each tokenizer.ggml.pre (PCRE2, UTF + UCP), then maps each word's
 * bytes through the GPT-2 byte -> unicode table. Also the UTF-8 helpers the
 * tokenizers share (llama.cpp's lenient decoder: a bad byte is U+FFFD).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "tokenizer_internal.h"

/*
 * Patterns. llama.cpp runs them through its own splitters or std::regex,
 * where \s is Unicode White_Space; PCRE2's UCP \s lacks U+0085, so it is
 * spelled out. llama.cpp's GPT-2 splitter also ends with "|\s+" (its
 * hand-written code does), which the regex string in llama-vocab omits.
 */
#define WS "\\s\\x{85}"
#define S_ "[" WS "]"
#define NS "[^" WS "]"

#define PAT_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|" \
	S_ "+(?!" NS ")|" S_ "+"
#define PAT_CONTR "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define PAT_LLAMA3 PAT_CONTR "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^" WS \
	"\\p{L}\\p{N}]+[\\r\\n]*|" S_ "*[\\r\\n]+|" S_ "+(?!" NS ")|" S_ "+"
#define PAT_QWEN2 PAT_CONTR "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^" WS \
	"\\p{L}\\p{N}]+[\\r\\n]*|" S_ "*[\\r\\n]+|" S_ "+(?!" NS ")|" S_ "+"
#define PAT_TEKKEN "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" \
	"|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}" \
	"| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n/]*|" S_ "*[\\r\\n]+|" S_ "+(?!" NS ")|" S_ "+"
#define PAT_PORO " ?[^(" WS "|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"

/* llama.cpp runs patterns without \p{..} on code points where non-ASCII
 * whitespace was made U+000B first, so none of it is inside this range */
#define PAT_CJK "(?:(?!" S_ ")[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}])+"

#define MAX_PATS 5

static const char *const pre_patterns[][MAX_PATS] = {
	[RT_PRE_DEFAULT] = { "[\\p{P}\\$\\+<=>\\^~\\|]+", PAT_GPT2, "\\p{N}+", "[0-9][0-9][0-9]" },
	[RT_PRE_LLAMA3] = { PAT_LLAMA3 },
	[RT_PRE_GPT2] = { PAT_GPT2 },
	[RT_PRE_SMOLLM] = { "\\p{N}", PAT_GPT2 },
	[RT_PRE_QWEN2] = { PAT_QWEN2 },
	[RT_PRE_FALCON] = { "[\\p{P}\\$\\+<=>\\^~\\|`]+", PAT_GPT2, "[0-9][0-9][0-9]" },
	[RT_PRE_DEEPSEEK_CODER] = { "[\\r\\n]", S_ "?\\p{L}+", S_ "?\\p{P}+",
		PAT_CJK, "\\p{N}" },
	[RT_PRE_TEKKEN] = { PAT_TEKKEN },
	[RT_PRE_PORO] = { PAT_PORO },
	[RT_PRE_VIKING] = { PAT_PORO, "\\p{N}" },
};

struct rt_tok_pretok {
	pcre2_code *re[MAX_PATS];
	int n;
};

/* tokenizer.ggml.pre -> family, with the flags llama.cpp sets beside it */
struct pre_name {
	const char *name;
	enum rt_tok_pre pre;
	bool ignore_merges, keep_clean_spaces, add_bos;
};

static const struct pre_name pre_names[] = {
	{ "default", RT_PRE_DEFAULT, false, true, false },
	{ "llama3", RT_PRE_LLAMA3, true, true, true },
	{ "llama-v3", RT_PRE_LLAMA3, true, true, true },
	{ "llama-bpe", RT_PRE_LLAMA3, true, true, true },
	{ "falcon3", RT_PRE_LLAMA3, true, true, true },
	{ "falcon-h1", RT_PRE_LLAMA3, true, true, true },
	{ "pixtral", RT_PRE_LLAMA3, true, true, true },
	{ "dbrx", RT_PRE_LLAMA3, false, true, false },
	{ "smaug-bpe", RT_PRE_LLAMA3, false, true, false },
	{ "falcon", RT_PRE_FALCON, false, true, false },
	{ "mpt", RT_PRE_GPT2, false, true, false },
	{ "olmo", RT_PRE_GPT2, false, true, false },
	{ "jais", RT_PRE_GPT2, false, true, false },
	{ "gpt-2", RT_PRE_GPT2, false, true, false },
	{ "phi-2", RT_PRE_GPT2, false, true, false },
	{ "roberta-bpe", RT_PRE_GPT2, false, true, false },
	{ "exaone4", RT_PRE_GPT2, false, true, false },
	{ "starcoder", RT_PRE_SMOLLM, false, true, false },
	{ "refact", RT_PRE_SMOLLM, false, true, false },
	{ "command-r", RT_PRE_SMOLLM, false, false, false },
	{ "smollm", RT_PRE_SMOLLM, false, false, false },
	{ "codeshell", RT_PRE_SMOLLM, false, true, false },
	{ "exaone", RT_PRE_SMOLLM, false, true, false },
	{ "minerva-7b", RT_PRE_SMOLLM, false, true, false },
	{ "qwen2", RT_PRE_QWEN2, false, false, false },
	{ "deepseek-r1-qwen", RT_PRE_QWEN2, false, false, false },
	{ "stablelm2", RT_PRE_QWEN2, false, true, false },
	{ "megrez", RT_PRE_QWEN2, false, true, false },
	{ "deepseek-coder", RT_PRE_DEEPSEEK_CODER, false, false, false },
	{ "tekken", RT_PRE_TEKKEN, true, false, true },
	{ "poro-chat", RT_PRE_PORO, false, false, false },
	{ "bloom", RT_PRE_PORO, false, true, false },
	{ "gpt3-finnish", RT_PRE_PORO, false, true, false },
	{ "viking", RT_PRE_VIKING, false, false, false },
};

int rt_tok_pretok_pre_from_name(const char *name, enum rt_tok_pre *pre, bool *ignore_merges,
				bool *clean_spaces, bool *force_add_bos)
{
	*ignore_merges = false;
	*clean_spaces = true;
	*force_add_bos = false;
	if (!name || !*name) {	/* llama.cpp warns and uses "default" */
		*pre = RT_PRE_DEFAULT;
		return 0;
	}
	for (size_t i = 0; i < sizeof(pre_names) / sizeof(pre_names[0]); i++) {
		if (strcmp(pre_names[i].name, name))
			continue;
		*pre = pre_names[i].pre;
		*ignore_merges = pre_names[i].ignore_merges;
		*clean_spaces = pre_names[i].keep_clean_spaces;
		*force_add_bos = pre_names[i].add_bos;
		return 0;
	}
	return -ENOENT;
}

int rt_tok_pretok_create(enum rt_tok_pre pre, struct rt_tok_pretok **out)
{
	struct rt_tok_pretok *p;

	if ((size_t)pre >= sizeof(pre_patterns) / sizeof(pre_patterns[0]))
		return rt_set_error(-EINVAL, "tokenizer: bad pre-tokenizer %d", (int)pre);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (int i = 0; i < MAX_PATS && pre_patterns[pre][i]; i++) {
		int errc;
		PCRE2_SIZE erroff;
		const char *pat = pre_patterns[pre][i];

		p->re[i] = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
					 PCRE2_UTF | PCRE2_UCP, &errc, &erroff, NULL);
		if (!p->re[i]) {
			PCRE2_UCHAR msg[120];

			pcre2_get_error_message(errc, msg, sizeof(msg));
			rt_tok_pretok_free(p);
			return rt_set_error(-EINVAL, "tokenizer: regex %d at %zu: %s", i,
					    (size_t)erroff, (const char *)msg);
		}
		pcre2_jit_compile(p->re[i], PCRE2_JIT_COMPLETE);	/* optional */
		p->n = i + 1;
	}
	*out = p;
	return 0;
}

void rt_tok_pretok_free(struct rt_tok_pretok *p)
{
	if (!p)
		return;
	for (int i = 0; i < MAX_PATS; i++)
		pcre2_code_free(p->re[i]);
	free(p);
}

/* ---- UTF-8 */

size_t rt_tok_utf8_len(uint8_t lead)
{
	static const uint8_t lookup[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };

	return lookup[lead >> 4];
}

static bool cont(const char *s, size_t i)
{
	return ((uint8_t)s[i] & 0xc0) == 0x80;
}

uint32_t rt_tok_utf8_next(const char *s, size_t len, size_t *adv)
{
	const uint8_t b = (uint8_t)s[0];

	*adv = 1;
	if (!(b & 0x80))
		return b;
	if (!(b & 0x40))
		return 0xFFFD;
	if (!(b & 0x20)) {
		if (len < 2 || !cont(s, 1))
			return 0xFFFD;
		*adv = 2;
		return ((b & 0x1fu) << 6) | ((uint8_t)s[1] & 0x3fu);
	}
	if (!(b & 0x10)) {
		if (len < 3 || !cont(s, 1) || !cont(s, 2))
			return 0xFFFD;
		*adv = 3;
		return ((b & 0x0fu) << 12) | (((uint8_t)s[1] & 0x3fu) << 6) | ((uint8_t)s[2] & 0x3fu);
	}
	if (!(b & 0x08)) {
		if (len < 4 || !cont(s, 1) || !cont(s, 2) || !cont(s, 3))
			return 0xFFFD;
		*adv = 4;
		return ((b & 0x07u) << 18) | (((uint8_t)s[1] & 0x3fu) << 12) |
		       (((uint8_t)s[2] & 0x3fu) << 6) | ((uint8_t)s[3] & 0x3fu);
	}
	return 0xFFFD;
}

int rt_tok_utf8_put(uint32_t c, char *o)
{
	if (c <= 0x7f) {
		o[0] = (char)c;
		return 1;
	}
	if (c <= 0x7ff) {
		o[0] = (char)(0xc0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c <= 0xffff) {
		o[0] = (char)(0xe0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	if (c > 0x10ffff)
		c = 0xFFFD;
	if (c <= 0xffff)
		return rt_tok_utf8_put(c, o);
	o[0] = (char)(0xf0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* ---- GPT-2 byte <-> unicode: printable bytes map to themselves, the other
 * 68 to U+0100.. in byte order */
static bool byte_is_direct(unsigned b)
{
	return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
}

/* the 68 others, in byte order: 0x00-0x20, 0x7f-0xa0, 0xad */
static uint32_t byte_to_cpt(uint8_t b)
{
	if (byte_is_direct(b))
		return b;
	if (b <= 0x20)
		return 256u + b;
	if (b <= 0xa0)
		return 256u + 33 + (b - 0x7fu);
	return 256u + 67;	/* 0xad */
}

int rt_tok_byte_to_utf8(uint8_t b, char out[2])
{
	return rt_tok_utf8_put(byte_to_cpt(b), out);
}

int rt_tok_cpt_to_byte(uint32_t cpt)
{
	if (cpt < 256)
		return byte_is_direct(cpt) ? (int)cpt : -1;
	if (cpt <= 256 + 32)
		return (int)(cpt - 256);
	if (cpt <= 256 + 66)
		return (int)(cpt - 256 - 33 + 0x7f);
	return cpt == 256 + 67 ? 0xad : -1;
}

/* ---- splitting */

struct spans {
	size_t *v;	/* lengths in bytes of the sanitized text */
	size_t n, cap;
};

static int spans_push(struct spans *s, size_t len)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		size_t *v = realloc(s->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = ncap;
	}
	s->v[s->n++] = len;
	return 0;
}

/* one regex over every chunk: matches and the gaps between them are words */
static int split_one(const pcre2_code *re, const char *text, const struct spans *in,
		     struct spans *out)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	size_t start = 0;
	int err = 0;

	if (!md)
		return -ENOMEM;
	for (size_t c = 0; c < in->n && !err; c++) {
		const char *sub = text + start;
		size_t len = in->v[c], pos = 0, last = 0;

		while (pos < len && !err) {
			int rc = pcre2_match(re, (PCRE2_SPTR)sub, len, pos, PCRE2_NO_UTF_CHECK, md,
					     NULL);

			if (rc == PCRE2_ERROR_NOMATCH)
				break;
			if (rc < 0) {
				err = rt_set_error(-EINVAL, "tokenizer: regex match failed (%d)", rc);
				break;
			}
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
			size_t ms = ov[0], me = ov[1];

			if (me == ms) {	/* empty match: step one character */
				pos = ms + rt_tok_utf8_len((uint8_t)sub[ms]);
				continue;
			}
			if (ms > last)
				err = spans_push(out, ms - last);
			if (!err)
				err = spans_push(out, me - ms);
			last = pos = me;
		}
		if (!err && last < len)
			err = spans_push(out, len - last);
		start += len;
	}
	pcre2_match_data_free(md);
	return err;
}

static int words_add(struct rt_tok_words *w, const char *s, size_t len)
{
	if (w->n == w->ncap) {
		size_t ncap = w->ncap ? w->ncap * 2 : 64;
		uint32_t *off = realloc(w->off, ncap * sizeof(*off));

		if (!off)
			return -ENOMEM;
		w->off = off;
		uint32_t *wl = realloc(w->wlen, ncap * sizeof(*wl));
		if (!wl)
			return -ENOMEM;
		w->wlen = wl;
		w->ncap = ncap;
	}
	if (w->len + 2 * len + 1 > w->cap) {
		size_t ncap = w->cap ? w->cap : 256;
		char *b;

		while (ncap < w->len + 2 * len + 1)
			ncap *= 2;
		b = realloc(w->buf, ncap);
		if (!b)
			return -ENOMEM;
		w->buf = b;
		w->cap = ncap;
	}
	if (w->len > UINT32_MAX - 2 * len - 1)
		return -E2BIG;
	w->off[w->n] = (uint32_t)w->len;
	for (size_t i = 0; i < len; i++)
		w->len += rt_tok_byte_to_utf8((uint8_t)s[i], w->buf + w->len);
	w->wlen[w->n] = (uint32_t)(w->len - w->off[w->n]);
	w->buf[w->len++] = '\0';
	w->n++;
	return 0;
}

void rt_tok_words_fini(struct rt_tok_words *w)
{
	free(w->buf);
	free(w->off);
	free(w->wlen);
	memset(w, 0, sizeof(*w));
}

int rt_tok_pretok_split(const struct rt_tok_pretok *p, const char *text, size_t len,
			struct rt_tok_words *w)
{
	struct spans a = { 0 }, b = { 0 };
	char *clean = NULL, *shadow = NULL;
	size_t n = 0, start = 0;
	int err = -ENOMEM;

	if (len > SIZE_MAX / 4 - 4)
		return -E2BIG;
	/*
	 * llama.cpp decodes to code points first (a bad byte becomes U+FFFD)
	 * and works on those. PCRE2 wants valid UTF-8, so it reads a shadow
	 * copy where surrogates (which llama.cpp's decoder lets through) are
	 * U+FFFD: same length, same class for the patterns above.
	 */
	clean = malloc(len * 3 + 4);
	shadow = malloc(len * 3 + 4);
	if (!clean || !shadow)
		goto out;
	for (size_t i = 0; i < len;) {
		size_t adv;
		uint32_t c = rt_tok_utf8_next(text + i, len - i, &adv);
		int k = rt_tok_utf8_put(c, clean + n);

		if (c >= 0xD800 && c <= 0xDFFF)
			rt_tok_utf8_put(0xFFFD, shadow + n);
		else
			memcpy(shadow + n, clean + n, k);
		n += k;
		i += adv;
	}
	err = spans_push(&a, n);
	for (int r = 0; r < p->n && !err; r++) {
		struct spans t;

		b.n = 0;
		err = split_one(p->re[r], shadow, &a, &b);
		t = a;
		a = b;
		b = t;
	}
	for (size_t i = 0; i < a.n && !err; i++) {
		if (a.v[i])
			err = words_add(w, clean + start, a.v[i]);
		start += a.v[i];
	}
out:
	free(a.v);
	free(b.v);
	free(clean);
	free(shadow);
	return err;
}
