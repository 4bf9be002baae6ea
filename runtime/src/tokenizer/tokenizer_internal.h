/* SPDX-License-Identifier: MIT */
/*
 * Tokenizer internals shared by tokenizer.c (vocab, specials, pieces),
 * tok_hash.c (string -> id tables), tok_spm.c, tok_bpe.c and tok_pretok.c.
 * Not a public header: tests include it to build vocabularies from arrays.
 */
#ifndef RT_TOKENIZER_INTERNAL_H
#define RT_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "rt_tokenizer.h"

/* GGUF tokenizer.ggml.token_type values */
enum rt_tok_type {
	RT_TOK_TYPE_UNDEFINED = 0,
	RT_TOK_TYPE_NORMAL = 1,
	RT_TOK_TYPE_UNKNOWN = 2,
	RT_TOK_TYPE_CONTROL = 3,
	RT_TOK_TYPE_USER_DEFINED = 4,
	RT_TOK_TYPE_UNUSED = 5,
	RT_TOK_TYPE_BYTE = 6,
};

/* token attributes, as llama.cpp's llama_token_attr bits */
enum rt_tok_attr {
	RT_TOK_ATTR_UNDEFINED = 0,
	RT_TOK_ATTR_UNKNOWN = 1 << 0,
	RT_TOK_ATTR_UNUSED = 1 << 1,
	RT_TOK_ATTR_NORMAL = 1 << 2,
	RT_TOK_ATTR_CONTROL = 1 << 3,
	RT_TOK_ATTR_USER_DEFINED = 1 << 4,
	RT_TOK_ATTR_BYTE = 1 << 5,
	RT_TOK_ATTR_LSTRIP = 1 << 7,
	RT_TOK_ATTR_RSTRIP = 1 << 8,
};

enum rt_tok_kind {
	RT_TOK_SPM = 1,		/* tokenizer.ggml.model "llama" */
	RT_TOK_BPE = 2,		/* tokenizer.ggml.model "gpt2" */
};

/* pre-tokenizer families (llama.cpp's LLAMA_VOCAB_PRE_TYPE_*) we support */
enum rt_tok_pre {
	RT_PRE_DEFAULT = 0,
	RT_PRE_LLAMA3,
	RT_PRE_GPT2,
	RT_PRE_SMOLLM,		/* also starcoder, refact, command-r, codeshell, exaone, minerva */
	RT_PRE_QWEN2,		/* also stablelm2, megrez, deepseek-r1-qwen */
	RT_PRE_FALCON,
	RT_PRE_DEEPSEEK_CODER,
	RT_PRE_TEKKEN,
	RT_PRE_PORO,		/* also bloom, gpt3-finnish */
	RT_PRE_VIKING,
};

/* ---- string -> int32 hash table (tok_hash.c) */
struct rt_tok_hash {
	uint32_t *slots;	/* index+1 into keys, 0 = empty */
	uint32_t mask;
	uint32_t n;
	const char **key;	/* borrowed pointers */
	uint32_t *klen;
	int32_t *val;
	uint32_t cap;
};

int rt_tok_hash_init(struct rt_tok_hash *h, uint32_t n_expected);
void rt_tok_hash_fini(struct rt_tok_hash *h);
/* rt_tok_hash_put - add @key (kept by pointer); an existing key keeps its
 * first value (returns 1 then), 0 when added, -ENOMEM */
int rt_tok_hash_put(struct rt_tok_hash *h, const char *key, uint32_t len, int32_t val);
/* rt_tok_hash_get - the value or -1 */
int32_t rt_tok_hash_get(const struct rt_tok_hash *h, const char *key, size_t len);

/* ---- growable id vector */
struct rt_tok_ids {
	int32_t *v;
	size_t n, cap;
};
int rt_tok_ids_push(struct rt_tok_ids *ids, int32_t id);

/* ---- vocabulary description (what GGUF metadata gives) */
struct rt_tok_desc {
	const char *model;		/* "llama" | "gpt2" */
	const char *pre;		/* tokenizer.ggml.pre or NULL */
	const char *name;		/* general.name or NULL (per-model attributes) */
	uint32_t n_tokens;
	const char *const *tokens;	/* n_tokens strings */
	const uint32_t *token_len;	/* NULL: strlen */
	const float *scores;		/* NULL: 0 */
	const int32_t *types;		/* NULL: all normal */
	uint32_t n_merges;
	const char *const *merges;	/* "left right" */
	const uint32_t *merge_len;	/* NULL: strlen */
	/* special ids: < 0 = not given in metadata (use the model default) */
	int64_t bos, eos, unk, pad, eot, eom, sep;
	int add_bos, add_eos, add_space_prefix;	/* -1 = not given */
};
void rt_tok_desc_init(struct rt_tok_desc *d);

struct rt_tok_entry {
	char *text;
	uint32_t len;
	float score;
	uint32_t attr;
};

struct rt_tok_pretok;

struct rt_tokenizer {
	enum rt_tok_kind kind;
	enum rt_tok_pre pre;
	uint32_t n_tokens;
	struct rt_tok_entry *tok;
	struct rt_tok_hash by_text;
	/* BPE: "left right" -> rank */
	struct rt_tok_hash merges;
	char *merge_store;
	struct rt_tok_pretok *pretok;

	int32_t bos, eos, unk, pad, eot, eom, sep;
	bool add_bos, add_eos, add_space_prefix;
	bool ignore_merges;	/* llama3: a word that is a token is not merged */
	bool clean_spaces;	/* detokenize clean-up (not used when streaming) */

	int32_t *special;	/* control/user-defined/unknown ids, longest first */
	uint32_t n_special;
	int32_t *eog;		/* end-of-generation ids, sorted */
	uint32_t n_eog;
	int32_t byte_tok[256];	/* SPM: <0xXX> (or the raw byte) ids, -1 if none */
};

int rt_tokenizer_create(const struct rt_tok_desc *d, struct rt_tokenizer **out);

/* tokenizer_gguf.c: the description of a GGUF's tokenizer metadata; the
 * arrays it points to live in @l (and the GGUF) until rt_tok_loaded_fini */
struct rt_tok_loaded {
	const char **tokens;
	uint32_t *token_len;
	float *scores;
	int32_t *types;
	const char **merges;
	uint32_t *merge_len;
	char *model, *pre, *name;
};
struct rt_gguf;
int rt_tok_desc_load(const struct rt_gguf *g, struct rt_tok_loaded *l, struct rt_tok_desc *d);
void rt_tok_loaded_fini(struct rt_tok_loaded *l);

/* ---- tokenizer sessions, each appends to @out */
/* SPM: @prefix_space puts the dummy-prefix space first; spaces -> U+2581 */
int rt_tok_spm_encode(const struct rt_tokenizer *tok, const char *text, size_t len,
		      bool prefix_space, struct rt_tok_ids *out);
int rt_tok_bpe_encode(const struct rt_tokenizer *tok, const char *text, size_t len,
		      struct rt_tok_ids *out);

/* ---- pre-tokenizer (tok_pretok.c) */
int rt_tok_pretok_create(enum rt_tok_pre pre, struct rt_tok_pretok **out);
void rt_tok_pretok_free(struct rt_tok_pretok *p);
/* rt_tok_pretok_pre_from_name - map tokenizer.ggml.pre to a family and the
 * flags llama.cpp sets with it; -ENOENT if unknown */
int rt_tok_pretok_pre_from_name(const char *name, enum rt_tok_pre *pre, bool *ignore_merges,
				bool *clean_spaces, bool *force_add_bos);
/* words of @text, each byte-level encoded (GPT-2 byte -> unicode mapping)
 * and NUL-terminated, one after another in *@buf; *@n_words of them */
struct rt_tok_words {
	char *buf;
	size_t len, cap;
	uint32_t *off;		/* start of each word in buf */
	uint32_t *wlen;
	size_t n, ncap;
};
int rt_tok_pretok_split(const struct rt_tok_pretok *p, const char *text, size_t len,
			struct rt_tok_words *w);
void rt_tok_words_fini(struct rt_tok_words *w);

/* ---- unicode helpers (tok_pretok.c) */
/* byte -> its GPT-2 unicode stand-in as UTF-8 (1-2 bytes) */
int rt_tok_byte_to_utf8(uint8_t b, char out[2]);
/* inverse for one code point; -1 if it stands for no byte */
int rt_tok_cpt_to_byte(uint32_t cpt);
/* llama.cpp's decoder: one code point from @s, invalid -> 0xFFFD + 1 byte */
uint32_t rt_tok_utf8_next(const char *s, size_t len, size_t *adv);
int rt_tok_utf8_put(uint32_t cpt, char *out);
size_t rt_tok_utf8_len(uint8_t lead);

/* tok_heap.c: the merge queue of the two BPE encoders */
struct tok_bigram {
	int left, right;	/* symbol indices */
	float prio;		/* higher merges first: SPM the token score, BPE -rank */
	uint32_t nl, nr;	/* BPE: symbol sizes when queued (a change = stale) */
	size_t size;		/* SPM: byte length of the merged text */
};

struct tok_heap {
	struct tok_bigram *v;
	size_t n, cap;
};

int tok_heap_push(struct tok_heap *h, struct tok_bigram bg);
struct tok_bigram tok_heap_pop(struct tok_heap *h);

#endif /* RT_TOKENIZER_INTERNAL_H */
