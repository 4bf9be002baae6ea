// SPDX-License-Identifier: MIT
/*
 * Tokenizer lookup tables: byte string -> int32 (token text -> id, BPE
 * merge "left right" -> rank), open addressing with FNV-1a. Keys are
 * borrowed; the table never copies or frees them. Also the id vector.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer_internal.h"

static uint32_t fnv1a(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h;
}

int rt_tok_hash_init(struct rt_tok_hash *h, uint32_t n_expected)
{
	uint32_t size = 16;

	memset(h, 0, sizeof(*h));
	if (n_expected > (1u << 28))
		return -E2BIG;
	while (size < n_expected * 2u)
		size <<= 1;
	h->slots = calloc(size, sizeof(*h->slots));
	h->cap = n_expected ? n_expected : 1;
	h->key = malloc(h->cap * sizeof(*h->key));
	h->klen = malloc(h->cap * sizeof(*h->klen));
	h->val = malloc(h->cap * sizeof(*h->val));
	if (!h->slots || !h->key || !h->klen || !h->val) {
		rt_tok_hash_fini(h);
		return -ENOMEM;
	}
	h->mask = size - 1;
	return 0;
}

void rt_tok_hash_fini(struct rt_tok_hash *h)
{
	free(h->slots);
	free(h->key);
	free(h->klen);
	free(h->val);
	memset(h, 0, sizeof(*h));
}

static int grow(struct rt_tok_hash *h)
{
	uint32_t ncap = h->cap * 2, nsize = (h->mask + 1) * 2;
	const char **key = realloc(h->key, ncap * sizeof(*key));

	if (!key)
		return -ENOMEM;
	h->key = key;
	uint32_t *klen = realloc(h->klen, ncap * sizeof(*klen));
	if (!klen)
		return -ENOMEM;
	h->klen = klen;
	int32_t *val = realloc(h->val, ncap * sizeof(*val));
	if (!val)
		return -ENOMEM;
	h->val = val;
	h->cap = ncap;
	if (h->n * 2u < h->mask + 1)
		return 0;
	uint32_t *slots = calloc(nsize, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < h->n; i++) {
		uint32_t s = fnv1a(h->key[i], h->klen[i]) & (nsize - 1);

		while (slots[s])
			s = (s + 1) & (nsize - 1);
		slots[s] = i + 1;
	}
	free(h->slots);
	h->slots = slots;
	h->mask = nsize - 1;
	return 0;
}

int rt_tok_hash_put(struct rt_tok_hash *h, const char *key, uint32_t len, int32_t val)
{
	uint32_t s = fnv1a(key, len) & h->mask;

	while (h->slots[s]) {
		uint32_t i = h->slots[s] - 1;

		if (h->klen[i] == len && !memcmp(h->key[i], key, len))
			return 1;
		s = (s + 1) & h->mask;
	}
	if (h->n == h->cap || (h->n + 1) * 2u > h->mask + 1) {
		int err = grow(h);

		if (err)
			return err;
		s = fnv1a(key, len) & h->mask;
		while (h->slots[s])
			s = (s + 1) & h->mask;
	}
	h->key[h->n] = key;
	h->klen[h->n] = len;
	h->val[h->n] = val;
	h->slots[s] = ++h->n;
	return 0;
}

int32_t rt_tok_hash_get(const struct rt_tok_hash *h, const char *key, size_t len)
{
	if (!h->slots)
		return -1;
	uint32_t s = fnv1a(key, len) & h->mask;

	while (h->slots[s]) {
		uint32_t i = h->slots[s] - 1;

		if (h->klen[i] == len && !memcmp(h->key[i], key, len))
			return h->val[i];
		s = (s + 1) & h->mask;
	}
	return -1;
}

int rt_tok_ids_push(struct rt_tok_ids *ids, int32_t id)
{
	if (ids->n == ids->cap) {
		size_t ncap = ids->cap ? ids->cap * 2 : 64;
		int32_t *v = realloc(ids->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ids->v = v;
		ids->cap = ncap;
	}
	ids->v[ids->n++] = id;
	return 0;
}
