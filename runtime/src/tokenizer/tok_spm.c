// SPDX-License-Identifier: MIT
/*
 * "llama" vocab (SentencePiece BPE) encoder, as llama.cpp's SPM session:
 * spaces become U+2581, the text splits into UTF-8 characters, and adjacent
 * pairs that form a token merge best score first (ties: leftmost); what is
 * left unmatched goes out as <0xXX> byte tokens.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "tokenizer_internal.h"

struct spm_sym {
	int prev, next;
	size_t off, n;
};

static int try_add(const struct rt_tokenizer *tok, const char *text, struct spm_sym *sym,
		   struct tok_heap *h, int left, int right)
{
	struct tok_bigram bg;
	size_t len;
	int32_t id;

	if (left < 0 || right < 0)
		return 0;
	len = sym[left].n + sym[right].n;
	id = rt_tok_hash_get(&tok->by_text, text + sym[left].off, len);
	if (id < 0 || (uint32_t)id >= tok->n_tokens)
		return 0;
	bg.left = left;
	bg.right = right;
	bg.prio = tok->tok[id].score;
	bg.size = len;
	bg.nl = bg.nr = 0;
	return tok_heap_push(h, bg);
}

static int emit(const struct rt_tokenizer *tok, const char *s, size_t n, struct rt_tok_ids *out)
{
	int32_t id = rt_tok_hash_get(&tok->by_text, s, n);
	int err;

	if (id >= 0)
		return rt_tok_ids_push(out, id);
	/* no token: one byte token per byte (<0xXX>, else the byte itself) */
	for (size_t j = 0; j < n; j++) {
		id = tok->byte_tok[(uint8_t)s[j]];
		if (id < 0)
			id = tok->unk;
		if (id < 0)
			return rt_set_error(-EINVAL, "tokenizer: no token for byte 0x%02x",
					    (uint8_t)s[j]);
		err = rt_tok_ids_push(out, id);
		if (err)
			return err;
	}
	return 0;
}

int rt_tok_spm_encode(const struct rt_tokenizer *tok, const char *in, size_t in_len,
		      bool prefix_space, struct rt_tok_ids *out)
{
	struct tok_heap heap = { 0 };
	struct spm_sym *sym = NULL;
	size_t n_sp = prefix_space, len = 0, n_sym = 0;
	char *text;
	int err = 0;

	for (size_t i = 0; i < in_len; i++)
		n_sp += in[i] == ' ';
	if (in_len > SIZE_MAX / 2 - 3 * n_sp - 1)
		return -E2BIG;
	text = malloc(in_len + 2 * n_sp + 1);
	if (!text)
		return -ENOMEM;
	/* escape: every space (the dummy prefix included) is U+2581 */
	if (prefix_space) {
		memcpy(text, "\xe2\x96\x81", 3);
		len = 3;
	}
	for (size_t i = 0; i < in_len; i++) {
		if (in[i] == ' ') {
			memcpy(text + len, "\xe2\x96\x81", 3);
			len += 3;
		} else {
			text[len++] = in[i];
		}
	}
	if (!len)
		goto out;
	sym = malloc(len * sizeof(*sym));
	if (!sym) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t off = 0; off < len; n_sym++) {
		size_t n = rt_tok_utf8_len((uint8_t)text[off]);

		if (n > len - off)
			n = len - off;
		sym[n_sym].off = off;
		sym[n_sym].n = n;
		sym[n_sym].prev = (int)n_sym - 1;
		off += n;
		sym[n_sym].next = off == len ? -1 : (int)n_sym + 1;
	}
	for (size_t i = 1; i < n_sym && !err; i++)
		err = try_add(tok, text, sym, &heap, (int)i - 1, (int)i);

	while (heap.n && !err) {
		struct tok_bigram bg = tok_heap_pop(&heap);
		struct spm_sym *l = &sym[bg.left], *r = &sym[bg.right];

		/* one side already merged elsewhere: stale */
		if (!l->n || !r->n || l->n + r->n != bg.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			sym[r->next].prev = bg.left;
		err = try_add(tok, text, sym, &heap, l->prev, bg.left);
		if (!err)
			err = try_add(tok, text, sym, &heap, bg.left, l->next);
	}
	for (int i = 0; i != -1 && !err; i = sym[i].next)
		err = emit(tok, text + sym[i].off, sym[i].n, out);
out:
	free(heap.v);
	free(sym);
	free(text);
	return err;
}
