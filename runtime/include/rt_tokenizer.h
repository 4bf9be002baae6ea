/* SPDX-License-Identifier: MIT */
/*
 * Tokenizers from GGUF metadata, as llama.cpp's llama-vocab does it:
 * "llama" (SentencePiece BPE with scores, byte fallback, dummy prefix space)
 * and "gpt2" (byte-level BPE with merges and the pre-tokenizer regex named by
 * tokenizer.ggml.pre, through PCRE2). Special/control tokens, BOS/EOS/EOT.
 */
#ifndef RT_TOKENIZER_H
#define RT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct rt_gguf;
struct rt_tokenizer;

int rt_tokenizer_load(const struct rt_gguf *g, struct rt_tokenizer **out);
void rt_tokenizer_free(struct rt_tokenizer *tok);

/**
 * rt_tokenize - text -> ids, as llama_tokenize(vocab, text, add_special,
 * parse_special) does: @add_special adds BOS (and EOS) as the model's
 * metadata asks; @parse_special turns special-token text such as
 * "<|im_start|>" into its id. Returns the count (may exceed @max: then
 * nothing beyond @max is written, call again with room) or -errno.
 */
int rt_tokenize(const struct rt_tokenizer *tok, const char *text, size_t len,
		bool add_special, bool parse_special, int32_t *ids, int max);
/**
 * rt_token_piece - bytes of one token as llama_token_to_piece(..., special)
 * gives them (byte tokens are raw bytes; a llama-vocab piece has its U+2581
 * turned into spaces; control tokens give "" unless @special). Returns the
 * length (may exceed @len: nothing is written then) or -EINVAL. Not
 * NUL-terminated, except that a NUL follows when @len has room for it.
 */
int rt_token_piece(const struct rt_tokenizer *tok, int32_t id, bool special, char *buf,
		   size_t len);

/** struct rt_detok - streaming detokenizer: emits only complete UTF-8 */
struct rt_detok {
	char pending[8];
	int n_pending;
	bool first;		/* the next piece starts a sequence: as llama.cpp's
				 * detokenize, it loses one leading space when the
				 * vocab adds a dummy prefix (llama), unless that token
				 * is BOS (its empty piece takes the turn) */
};
/** rt_detok_init - for generated continuations: pieces come out exactly as
 *  llama.cpp's generation prints them (llama_token_to_piece, no strip) */
void rt_detok_init(struct rt_detok *d);
/** rt_detok_init_seq - for a whole sequence from its start: the text is
 *  llama_detokenize(ids, remove_special, unparse_special=false)'s, without
 *  its clean_spaces pass (gpt2/llama3 vocabs) and with U+FFFD for bad UTF-8 */
void rt_detok_init_seq(struct rt_detok *d);
/** rt_detok_push - append the text of @id to @out (NUL-terminated); returns
 *  bytes written or -ENOSPC. Incomplete UTF-8 is held until completed;
 *  invalid sequences become U+FFFD. */
int rt_detok_push(struct rt_detok *d, const struct rt_tokenizer *tok, int32_t id, char *out,
		  size_t len);

/**
 * rt_detokenize - ids -> text as llama_detokenize(): @remove_special drops a
 * leading BOS / trailing EOS the vocab adds, @unparse_special renders
 * control tokens, the dummy-prefix space is stripped (llama vocab, no BOS),
 * and gpt2/llama3 vocabs get llama.cpp's clean_spaces pass (" ?" -> "?",
 * " 's" -> "'s", ...). Bytes are raw (no UTF-8 repair). Returns the length
 * (may exceed @len: nothing is written then; a NUL follows when it fits)
 * or -EINVAL.
 */
int rt_detokenize(const struct rt_tokenizer *tok, const int32_t *ids, int n,
		  bool remove_special, bool unparse_special, char *out, size_t len);

int32_t rt_tokenizer_n_vocab(const struct rt_tokenizer *tok);
int32_t rt_tokenizer_bos(const struct rt_tokenizer *tok);	/* -1 if none */
int32_t rt_tokenizer_eos(const struct rt_tokenizer *tok);
int32_t rt_tokenizer_eot(const struct rt_tokenizer *tok);	/* end of turn; -1 if none */
bool rt_tokenizer_add_bos(const struct rt_tokenizer *tok);
/** rt_tokenizer_is_eog - end of generation: EOS, EOT or another EOG token */
bool rt_tokenizer_is_eog(const struct rt_tokenizer *tok, int32_t id);
/** rt_tokenizer_find - id of a token with exactly this text, or -1 */
int32_t rt_tokenizer_find(const struct rt_tokenizer *tok, const char *text);

#endif /* RT_TOKENIZER_H */
