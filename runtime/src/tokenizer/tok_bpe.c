// SPDX-License-Identifier: MIT
/*
 * "gpt2" vocab (byte-level BPE) encoder, as llama.cpp's BPE session: the
 * pre-tokenizer gives byte-encoded words; within each word adjacent symbols
 * merge by lowest merge rank (ties: leftmost). A final symbol that is not a
 * token goes out byte by byte (bytes without a token are dropped).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer_internal.h"

struct bpe_sym {
	int prev, next;
	uint32_t off, n;
};

struct bpe_work {
	const struct rt_tokenizer *tok;
	const char *word;
	struct bpe_sym *sym;
	size_t sym_cap;
	struct tok_heap heap;
	char *key;
	size_t key_cap;
};

static int add_bigram(struct bpe_work *w, int left, int right)
{
	const struct bpe_sym *l, *r;
	struct tok_bigram bg;
	int32_t rank;

	if (left < 0 || right < 0)
		return 0;
	l = &w->sym[left];
	r = &w->sym[right];
	/* merges are stored as "left right" */
	memcpy(w->key, w->word + l->off, l->n);
	w->key[l->n] = ' ';
	memcpy(w->key + l->n + 1, w->word + r->off, r->n);
	rank = rt_tok_hash_get(&w->tok->merges, w->key, l->n + 1 + r->n);
	if (rank < 0)
		return 0;
	bg.left = left;
	bg.right = right;
	bg.prio = -(float)rank;	/* exact: ranks stay far below 2^24 */
	bg.size = 0;
	bg.nl = l->n;
	bg.nr = r->n;
	return tok_heap_push(&w->heap, bg);
}

static int emit_sym(const struct rt_tokenizer *tok, const char *s, size_t n,
		    struct rt_tok_ids *out)
{
	int32_t id = rt_tok_hash_get(&tok->by_text, s, n);

	if (id >= 0)
		return rt_tok_ids_push(out, id);
	for (size_t j = 0; j < n; j++) {
		id = rt_tok_hash_get(&tok->by_text, s + j, 1);
		if (id >= 0) {
			int err = rt_tok_ids_push(out, id);

			if (err)
				return err;
		}
	}
	return 0;
}

static int encode_word(struct bpe_work *w, const char *word, uint32_t len,
		       struct rt_tok_ids *out)
{
	const struct rt_tokenizer *tok = w->tok;
	size_t n_sym = 0;
	int err = 0;

	if (!len)
		return 0;
	if (tok->ignore_merges && rt_tok_hash_get(&tok->by_text, word, len) >= 0)
		return rt_tok_ids_push(out, rt_tok_hash_get(&tok->by_text, word, len));
	if (len > w->sym_cap) {
		struct bpe_sym *s = realloc(w->sym, len * sizeof(*s));

		if (!s)
			return -ENOMEM;
		w->sym = s;
		w->sym_cap = len;
	}
	if (len + 2 > w->key_cap) {
		char *k = realloc(w->key, len + 2);

		if (!k)
			return -ENOMEM;
		w->key = k;
		w->key_cap = len + 2;
	}
	w->word = word;
	w->heap.n = 0;
	for (uint32_t off = 0; off < len; n_sym++) {
		uint32_t n = (uint32_t)rt_tok_utf8_len((uint8_t)word[off]);

		if (n > len - off)
			n = len - off;
		w->sym[n_sym].off = off;
		w->sym[n_sym].n = n;
		w->sym[n_sym].prev = (int)n_sym - 1;
		off += n;
		w->sym[n_sym].next = off == len ? -1 : (int)n_sym + 1;
	}
	for (size_t i = 1; i < n_sym && !err; i++)
		err = add_bigram(w, (int)i - 1, (int)i);
	while (w->heap.n && !err) {
		struct tok_bigram bg = tok_heap_pop(&w->heap);
		struct bpe_sym *l = &w->sym[bg.left], *r = &w->sym[bg.right];

		if (!l->n || !r->n || l->n != bg.nl || r->n != bg.nr)
			continue;	/* outdated */
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			w->sym[r->next].prev = bg.left;
		err = add_bigram(w, l->prev, bg.left);
		if (!err)
			err = add_bigram(w, bg.left, l->next);
	}
	for (int i = 0; i != -1 && !err; i = w->sym[i].next)
		err = emit_sym(tok, word + w->sym[i].off, w->sym[i].n, out);
	return err;
}

int rt_tok_bpe_encode(const struct rt_tokenizer *tok, const char *text, size_t len,
		      struct rt_tok_ids *out)
{
	struct rt_tok_words words = { 0 };
	struct bpe_work w = { .tok = tok };
	int err;

	err = rt_tok_pretok_split(tok->pretok, text, len, &words);
	for (size_t i = 0; i < words.n && !err; i++)
		err = encode_word(&w, words.buf + words.off[i], words.wlen[i], out);
	free(w.sym);
	free(w.heap.v);
	free(w.key);
	rt_tok_words_fini(&words);
	return err;
}
