// SPDX-License-Identifier: MIT
/*
 * The merge queue both BPE encoders use (tok_spm.c, tok_bpe.c): a binary
 * heap of adjacent-symbol bigrams, best first: higher priority, then the
 * leftmost, which is the order llama.cpp's llm_bigram comparators give.
 */
#include <errno.h>
#include <stdlib.h>
#include "tokenizer_internal.h"

static bool tok_bigram_before(const struct tok_bigram *a, const struct tok_bigram *b)
{
	return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

int tok_heap_push(struct tok_heap *h, struct tok_bigram bg)
{
	size_t i;

	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 64;
		struct tok_bigram *v = realloc(h->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = ncap;
	}
	i = h->n++;
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!tok_bigram_before(&bg, &h->v[p]))
			break;
		h->v[i] = h->v[p];
		i = p;
	}
	h->v[i] = bg;
	return 0;
}

struct tok_bigram tok_heap_pop(struct tok_heap *h)
{
	struct tok_bigram top = h->v[0], last = h->v[--h->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && tok_bigram_before(&h->v[c + 1], &h->v[c]))
			c++;
		if (!tok_bigram_before(&h->v[c], &last))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = last;
	return top;
}
