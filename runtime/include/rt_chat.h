/* SPDX-License-Identifier: MIT */
/*
 * Chat prompts as llama.cpp's built-in (non-Jinja) templates write them:
 * ChatML (SmolLM2-Instruct, Qwen2), Llama 3, and the Mistral / Llama 2
 * [INST] family. The kind comes from tokenizer.chat_template by the same
 * substring checks as llama.cpp's llm_chat_detect_template.
 */
#ifndef RT_CHAT_H
#define RT_CHAT_H

#include <stddef.h>
#include <stdbool.h>

struct rt_gguf;

enum rt_chat_kind {
	RT_CHAT_UNKNOWN = 0,	/* no template, or one we do not write */
	RT_CHAT_CHATML,
	RT_CHAT_LLAMA3,
	RT_CHAT_LLAMA2,		/* "[INST] ... [/INST]" (Mistral 7B v0.1/v0.2) */
	RT_CHAT_LLAMA2_SYS,	/* with <<SYS>> */
	RT_CHAT_LLAMA2_SYS_BOS,	/* <s> before each later [INST] */
	RT_CHAT_LLAMA2_SYS_STRIP,	/* contents trimmed */
	RT_CHAT_MISTRAL_V1,
	RT_CHAT_MISTRAL_V3,
	RT_CHAT_MISTRAL_V3_TEKKEN,
	RT_CHAT_MISTRAL_V7,
	RT_CHAT_MISTRAL_V7_TEKKEN,
};

struct rt_chat_msg {
	const char *role;	/* "system", "user", "assistant" */
	const char *content;
};

/** rt_chat_detect - kind of a Jinja template text or of a llama.cpp template
 *  name ("chatml", "llama3", "mistral-v7", ...); RT_CHAT_UNKNOWN if none */
enum rt_chat_kind rt_chat_detect(const char *tmpl);
/** rt_chat_detect_gguf - the same on tokenizer.chat_template (UNKNOWN if absent) */
enum rt_chat_kind rt_chat_detect_gguf(const struct rt_gguf *g);
/** rt_chat_kind_name - llama.cpp's name for @kind ("unknown" for UNKNOWN) */
const char *rt_chat_kind_name(enum rt_chat_kind kind);

/**
 * rt_chat_format - write @n messages as @kind does, then the assistant
 * header when @add_assistant (kinds without one ignore it). Like snprintf:
 * returns the full length (excluding the NUL), writes at most @len bytes
 * including a NUL; -EINVAL for UNKNOWN or a NULL message field. The text
 * holds special-token text: tokenize it with parse_special.
 */
int rt_chat_format(enum rt_chat_kind kind, const struct rt_chat_msg *msgs, size_t n,
		   bool add_assistant, char *out, size_t len);

#endif /* RT_CHAT_H */
