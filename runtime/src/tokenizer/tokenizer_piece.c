// SPDX-License-Identifier: MIT
/*
 * ids -> text: rt_token_piece (llama_token_to_piece with lstrip 0) and the
 * streaming detokenizer, which emits only complete UTF-8 (held across byte
 * tokens; invalid sequences become U+FFFD); a stream begun with
 * rt_detok_init_seq also strips the dummy-prefix space as llama_detokenize.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer_internal.h"

static void put(char *buf, size_t len, size_t *n, const char *s, size_t k)
{
	if (*n + k <= len)
		memcpy(buf + *n, s, k);
	*n += k;
}

static int hex_byte(const struct rt_tok_entry *e)
{
	char h[3] = { 0 };

	if (e->len < 5)
		return 0;
	h[0] = e->text[3];
	h[1] = e->text[4];
	return (int)(strtol(h, NULL, 16) & 0xff);
}

/* byte-level token text back to bytes (llama_decode_text) */
static size_t decode_bpe(const struct rt_tok_entry *e, char *buf, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < e->len;) {
		size_t adv;
		uint32_t c = rt_tok_utf8_next(e->text + i, e->len - i, &adv);
		int b = rt_tok_cpt_to_byte(c);

		i += adv;
		if (b >= 0) {
			char ch = (char)b;

			put(buf, len, &n, &ch, 1);
			continue;
		}
		/* llama.cpp writes this marker (with the whole token text) */
		char u[4], hex[16];
		int k = rt_tok_utf8_put(c, u);

		put(buf, len, &n, "[UNK_BYTE_0x", 12);
		for (int j = 0; j < k; j++) {
			snprintf(hex, sizeof(hex), "%02x", (uint8_t)u[j]);
			put(buf, len, &n, hex, 2);
		}
		put(buf, len, &n, e->text, e->len);
		put(buf, len, &n, "]", 1);
	}
	return n;
}

/* the piece into @buf when it fits; returns its full length */
static size_t piece(const struct rt_tokenizer *tok, int32_t id, bool special, char *buf,
		    size_t len)
{
	const struct rt_tok_entry *e = &tok->tok[id];
	const uint32_t attr = e->attr;
	size_t n = 0;

	if (!special && (attr & (RT_TOK_ATTR_UNKNOWN | RT_TOK_ATTR_CONTROL)))
		return 0;
	if (attr & (RT_TOK_ATTR_UNKNOWN | RT_TOK_ATTR_CONTROL | RT_TOK_ATTR_USER_DEFINED)) {
		put(buf, len, &n, e->text, e->len);
	} else if (attr & RT_TOK_ATTR_NORMAL) {
		if (tok->kind == RT_TOK_BPE)
			return decode_bpe(e, buf, len);
		for (uint32_t i = 0; i < e->len;) {
			if (i + 3 <= e->len && !memcmp(e->text + i, "\xe2\x96\x81", 3)) {
				put(buf, len, &n, " ", 1);
				i += 3;
			} else {
				put(buf, len, &n, e->text + i, 1);
				i++;
			}
		}
	} else if (attr & RT_TOK_ATTR_BYTE) {
		char b = (char)hex_byte(e);

		put(buf, len, &n, &b, 1);
	}
	return n;
}

int rt_token_piece(const struct rt_tokenizer *tok, int32_t id, bool special, char *buf,
		   size_t len)
{
	size_t n;

	if (!tok || id < 0 || (uint32_t)id >= tok->n_tokens || (!buf && len))
		return -EINVAL;
	n = piece(tok, id, special, NULL, 0);
	if (n > INT32_MAX)
		return -EINVAL;
	if (n <= len) {
		piece(tok, id, special, buf, len);
		if (n < len)
			buf[n] = '\0';
	}
	return (int)n;
}

void rt_detok_init(struct rt_detok *d)
{
	memset(d, 0, sizeof(*d));
}

void rt_detok_init_seq(struct rt_detok *d)
{
	memset(d, 0, sizeof(*d));
	d->first = true;
}

/* bytes a lead byte needs after it, with the range of the first of them
 * (strict UTF-8: no overlongs, surrogates or > U+10FFFF); -1 invalid */
static int utf8_need(uint8_t b, uint8_t *lo, uint8_t *hi)
{
	*lo = 0x80;
	*hi = 0xbf;
	if (b < 0x80)
		return 0;
	if (b >= 0xc2 && b <= 0xdf)
		return 1;
	if (b >= 0xe0 && b <= 0xef) {
		if (b == 0xe0)
			*lo = 0xa0;
		if (b == 0xed)
			*hi = 0x9f;
		return 2;
	}
	if (b >= 0xf0 && b <= 0xf4) {
		if (b == 0xf0)
			*lo = 0x90;
		if (b == 0xf4)
			*hi = 0x8f;
		return 3;
	}
	return -1;
}

/*
 * Copy the complete characters of @in to @out; an incomplete tail goes to
 * @pend (at most 3 bytes). Returns bytes written (@out may be NULL to count).
 */
static size_t utf8_flush(const uint8_t *in, size_t n, char *out, size_t cap, char *pend,
			 int *n_pend)
{
	size_t o = 0, i = 0;

	*n_pend = 0;
	while (i < n) {
		uint8_t lo, hi;
		int need = utf8_need(in[i], &lo, &hi), got = 0;

		if (need < 0) {
			put(out, cap, &o, "\xef\xbf\xbd", 3);
			i++;
			continue;
		}
		while (got < need && i + 1 + got < n) {
			uint8_t c = in[i + 1 + got];

			if (got == 0 ? (c < lo || c > hi) : (c < 0x80 || c > 0xbf))
				break;
			got++;
		}
		if (got == need) {
			put(out, cap, &o, (const char *)in + i, 1 + need);
			i += 1 + need;
		} else if (i + 1 + got == n) {
			/* valid so far, ends early: wait for more */
			memcpy(pend, in + i, 1 + got);
			*n_pend = 1 + got;
			break;
		} else {
			put(out, cap, &o, "\xef\xbf\xbd", 3);
			i += 1 + got;
		}
	}
	return o;
}

int rt_detok_push(struct rt_detok *d, const struct rt_tokenizer *tok, int32_t id, char *out,
		  size_t len)
{
	char small[256], pend[8];
	uint8_t *tmp = (uint8_t *)small;
	size_t pn, n, o;
	int n_pend, skip = 0;

	if (!d || !tok || id < 0 || (uint32_t)id >= tok->n_tokens || !out || !len)
		return -EINVAL;
	if (d->n_pending < 0 || d->n_pending > 3)
		return -EINVAL;
	pn = piece(tok, id, false, NULL, 0);
	if (pn + 8 > sizeof(small)) {
		tmp = malloc(pn + 8);
		if (!tmp)
			return -ENOMEM;
	}
	memcpy(tmp, d->pending, d->n_pending);
	piece(tok, id, false, (char *)tmp + d->n_pending, pn);
	n = d->n_pending + pn;
	/* llama.cpp strips one leading space of the first piece when the
	 * vocab adds a dummy prefix (a leading BOS uses that turn up) */
	if (d->first && tok->add_space_prefix && !d->n_pending && pn && tmp[0] == ' ')
		skip = 1;
	o = utf8_flush(tmp + skip, n - skip, NULL, 0, pend, &n_pend);
	if (o + 1 > len) {
		if (tmp != (uint8_t *)small)
			free(tmp);
		return -ENOSPC;
	}
	utf8_flush(tmp + skip, n - skip, out, len, pend, &n_pend);
	out[o] = '\0';
	memcpy(d->pending, pend, n_pend);
	d->n_pending = n_pend;
	d->first = false;
	if (tmp != (uint8_t *)small)
		free(tmp);
	return (int)o;
}

/* llama.cpp's clean_spaces passes over the whole text, in place */
static size_t clean_spaces(char *t, size_t total)
{
	size_t n, i;

	/* " ?", " !", " .", " ," lose the space */
	n = total ? 1 : 0;
	for (i = 1; i < total; i++) {
		char x = t[i];

		if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
			n--;
		t[n++] = x;
	}
	/* " ' " loses both spaces */
	total = n;
	n = total ? 1 : 0;
	for (i = 1; i < total; i++) {
		char x = t[i];

		if (x == '\'' && i + 1 < total && t[i - 1] == ' ' && t[i + 1] == ' ') {
			n--;
			t[++i] = '\0';
		}
		t[n++] = x;
	}
	/* " 's", " 'm", " 're", " 've" lose the space */
	total = n;
	n = total ? 1 : 0;
	for (i = 1; i < total; i++) {
		char x = t[i];

		if (t[i - 1] == ' ' && x == '\'' && i + 1 < total) {
			char x1 = t[i + 1];

			if (x1 == 's' || x1 == 'm')
				n--;
			else if (x1 != 't' && x1 != 'd' && i + 2 < total &&
				 ((x1 == 'r' && t[i + 2] == 'e') || (x1 == 'v' && t[i + 2] == 'e')))
				n--;
		}
		t[n++] = x;
	}
	return n;
}

int rt_detokenize(const struct rt_tokenizer *tok, const int32_t *ids, int n,
		  bool remove_special, bool unparse_special, char *out, size_t len)
{
	bool strip = tok && tok->add_space_prefix;
	size_t total = 0;
	char *tmp;

	if (!tok || n < 0 || (n && !ids) || (len && !out))
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (ids[i] < 0 || (uint32_t)ids[i] >= tok->n_tokens)
			return -EINVAL;
	if (remove_special && tok->add_bos && n > 0 && ids[0] == tok->bos) {
		strip = false;
		ids++;
		n--;
	}
	if (remove_special && tok->add_eos && n > 0 && ids[n - 1] == tok->eos)
		n--;
	for (int i = 0; i < n; i++)
		total += piece(tok, ids[i], unparse_special, NULL, 0);
	tmp = malloc(total + 1);
	if (!tmp)
		return -ENOMEM;
	total = 0;
	for (int i = 0; i < n; i++) {
		size_t k = piece(tok, ids[i], unparse_special, tmp + total, SIZE_MAX - total);

		if (strip && k && tmp[total] == ' ') {	/* lstrip 1 */
			memmove(tmp + total, tmp + total + 1, k - 1);
			k--;
		}
		strip = false;
		total += k;
	}
	if (tok->clean_spaces)
		total = clean_spaces(tmp, total);
	if (total > INT32_MAX) {
		free(tmp);
		return -E2BIG;
	}
	if (total <= len) {
		memcpy(out, tmp, total);
		if (total < len)
			out[total] = '\0';
	}
	free(tmp);
	return (int)total;
}
