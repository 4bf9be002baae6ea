// SPDX-License-Identifier: MIT
/*
 * Chat prompt formatting: detects the template kind from
 * tokenizer.chat_template with llama.cpp's substring checks (in its order, so
 * templates it maps to kinds we do not write stay UNKNOWN) and writes
 * messages exactly as llama.cpp's llm_chat_apply_template does for them.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include "rt_chat.h"
#include "rt_gguf.h"

static const struct {
	const char *name;
	enum rt_chat_kind kind;
} chat_names[] = {
	{ "chatml", RT_CHAT_CHATML },
	{ "llama3", RT_CHAT_LLAMA3 },
	{ "llama2", RT_CHAT_LLAMA2 },
	{ "llama2-sys", RT_CHAT_LLAMA2_SYS },
	{ "llama2-sys-bos", RT_CHAT_LLAMA2_SYS_BOS },
	{ "llama2-sys-strip", RT_CHAT_LLAMA2_SYS_STRIP },
	{ "mistral-v1", RT_CHAT_MISTRAL_V1 },
	{ "mistral-v3", RT_CHAT_MISTRAL_V3 },
	{ "mistral-v3-tekken", RT_CHAT_MISTRAL_V3_TEKKEN },
	{ "mistral-v7", RT_CHAT_MISTRAL_V7 },
	{ "mistral-v7-tekken", RT_CHAT_MISTRAL_V7_TEKKEN },
};

const char *rt_chat_kind_name(enum rt_chat_kind kind)
{
	for (size_t i = 0; i < sizeof(chat_names) / sizeof(chat_names[0]); i++)
		if (chat_names[i].kind == kind)
			return chat_names[i].name;
	return "unknown";
}

static bool has(const char *t, const char *s)
{
	return strstr(t, s) != NULL;
}

static enum rt_chat_kind detect_inst(const char *t)
{
	if (has(t, "[SYSTEM_PROMPT]"))
		return RT_CHAT_MISTRAL_V7;
	if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
		if (has(t, " [INST]"))
			return RT_CHAT_MISTRAL_V1;
		if (has(t, "\"[INST]\""))
			return RT_CHAT_MISTRAL_V3_TEKKEN;
		return RT_CHAT_MISTRAL_V3;
	}
	if (has(t, "content.strip()"))
		return RT_CHAT_LLAMA2_SYS_STRIP;
	if (has(t, "bos_token + '[INST]"))
		return RT_CHAT_LLAMA2_SYS_BOS;
	if (has(t, "<<SYS>>"))
		return RT_CHAT_LLAMA2_SYS;
	return RT_CHAT_LLAMA2;
}

enum rt_chat_kind rt_chat_detect(const char *t)
{
	if (!t)
		return RT_CHAT_UNKNOWN;
	for (size_t i = 0; i < sizeof(chat_names) / sizeof(chat_names[0]); i++)
		if (!strcmp(t, chat_names[i].name))
			return chat_names[i].kind;
	if (has(t, "<|im_start|>"))	/* phi-4 and SmolVLM look alike but differ */
		return has(t, "<|im_sep|>") || has(t, "<end_of_utterance>") ? RT_CHAT_UNKNOWN
									  : RT_CHAT_CHATML;
	if (!strncmp(t, "mistral", 7) || has(t, "[INST]"))
		return detect_inst(t);
	/* what llama.cpp tries before Llama 3: other families */
	if ((has(t, "<|assistant|>") && (has(t, "<|end|>") || has(t, "<|user|>"))) ||
	    has(t, "[gMASK]<sop>") ||
	    (has(t, "<|{{ item['role'] }}|>") && has(t, "<|begin_of_image|>")) ||
	    (has(t, "<|user|>") && has(t, "<|endoftext|>")) ||
	    has(t, "bos_token + message['role']") || has(t, "<start_of_turn>") ||
	    has(t, "'\\n\\nAssistant: ' + eos_token") || has(t, "GPT4 Correct ") ||
	    (has(t, "USER: ") && has(t, "ASSISTANT: ")) ||
	    (has(t, "### Instruction:") && has(t, "<|EOT|>")) ||
	    (has(t, "<|START_OF_TURN_TOKEN|>") && has(t, "<|USER_TOKEN|>")))
		return RT_CHAT_UNKNOWN;
	if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
		return RT_CHAT_LLAMA3;
	return RT_CHAT_UNKNOWN;
}

enum rt_chat_kind rt_chat_detect_gguf(const struct rt_gguf *g)
{
	struct rt_gguf_str s;

	if (!g || rt_gguf_get_str(g, "tokenizer.chat_template", &s))
		return RT_CHAT_UNKNOWN;
	return rt_chat_detect(s.s);
}

/* ---- writing */

struct sb {
	char *out;
	size_t cap, n;
};

static void put_n(struct sb *b, const char *s, size_t k)
{
	if (b->n < b->cap) {
		size_t room = b->cap - b->n;

		memcpy(b->out + b->n, s, k < room ? k : room);
	}
	b->n += k;
}

static void put(struct sb *b, const char *s)
{
	put_n(b, s, strlen(s));
}

/* llama.cpp's trim: C-locale isspace at both ends */
static void put_trim(struct sb *b, const char *s)
{
	size_t start = 0, end = strlen(s);

	while (start < end && isspace((unsigned char)s[start]))
		start++;
	while (end > start && isspace((unsigned char)s[end - 1]))
		end--;
	put_n(b, s + start, end - start);
}

static void put_maybe_trim(struct sb *b, const char *s, bool trim)
{
	if (trim)
		put_trim(b, s);
	else
		put(b, s);
}

static void fmt_mistral(struct sb *b, enum rt_chat_kind k, const struct rt_chat_msg *m, size_t n)
{
	if (k == RT_CHAT_MISTRAL_V7 || k == RT_CHAT_MISTRAL_V7_TEKKEN) {
		const char *sp = k == RT_CHAT_MISTRAL_V7 ? " " : "";

		for (size_t i = 0; i < n; i++) {
			if (!strcmp(m[i].role, "system")) {
				put(b, "[SYSTEM_PROMPT]"); put(b, sp); put(b, m[i].content);
				put(b, "[/SYSTEM_PROMPT]");
			} else if (!strcmp(m[i].role, "user")) {
				put(b, "[INST]"); put(b, sp); put(b, m[i].content); put(b, "[/INST]");
			} else {
				put(b, sp); put(b, m[i].content); put(b, "</s>");
			}
		}
		return;
	}
	const char *lead = k == RT_CHAT_MISTRAL_V1 ? " " : "";
	const char *trail = k == RT_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
	bool inside = false;

	for (size_t i = 0; i < n; i++) {
		if (!inside) {
			put(b, lead); put(b, "[INST]"); put(b, trail);
			inside = true;
		}
		if (!strcmp(m[i].role, "system")) {
			put(b, m[i].content); put(b, "\n\n");
		} else if (!strcmp(m[i].role, "user")) {
			put(b, m[i].content); put(b, lead); put(b, "[/INST]");
		} else {
			put(b, trail);
			put_maybe_trim(b, m[i].content, k == RT_CHAT_MISTRAL_V3);
			put(b, "</s>");
			inside = false;
		}
	}
}

static void fmt_llama2(struct sb *b, enum rt_chat_kind k, const struct rt_chat_msg *m, size_t n)
{
	bool sys = k != RT_CHAT_LLAMA2, strip = k == RT_CHAT_LLAMA2_SYS_STRIP;
	bool inside = true;	/* the first [INST] comes without BOS */

	put(b, "[INST] ");
	for (size_t i = 0; i < n; i++) {
		if (!inside) {
			inside = true;
			put(b, k == RT_CHAT_LLAMA2_SYS_BOS ? "<s>[INST] " : "[INST] ");
		}
		if (!strcmp(m[i].role, "system")) {
			if (sys)
				put(b, "<<SYS>>\n");
			put_maybe_trim(b, m[i].content, strip);
			put(b, sys ? "\n<</SYS>>\n\n" : "\n");
		} else if (!strcmp(m[i].role, "user")) {
			put_maybe_trim(b, m[i].content, strip);
			put(b, " [/INST]");
		} else {
			put_maybe_trim(b, m[i].content, strip);
			put(b, "</s>");
			inside = false;
		}
	}
}

int rt_chat_format(enum rt_chat_kind kind, const struct rt_chat_msg *msgs, size_t n,
		   bool add_assistant, char *out, size_t len)
{
	struct sb b = { .out = out, .cap = len };

	if (kind == RT_CHAT_UNKNOWN || (n && !msgs) || (len && !out))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!msgs[i].role || !msgs[i].content)
			return -EINVAL;
	switch (kind) {
	case RT_CHAT_CHATML:
		for (size_t i = 0; i < n; i++) {
			put(&b, "<|im_start|>"); put(&b, msgs[i].role); put(&b, "\n");
			put(&b, msgs[i].content); put(&b, "<|im_end|>\n");
		}
		if (add_assistant)
			put(&b, "<|im_start|>assistant\n");
		break;
	case RT_CHAT_LLAMA3:
		for (size_t i = 0; i < n; i++) {
			put(&b, "<|start_header_id|>"); put(&b, msgs[i].role);
			put(&b, "<|end_header_id|>\n\n"); put_trim(&b, msgs[i].content);
			put(&b, "<|eot_id|>");
		}
		if (add_assistant)
			put(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
		break;
	case RT_CHAT_LLAMA2:
	case RT_CHAT_LLAMA2_SYS:
	case RT_CHAT_LLAMA2_SYS_BOS:
	case RT_CHAT_LLAMA2_SYS_STRIP:
		fmt_llama2(&b, kind, msgs, n);
		break;
	case RT_CHAT_MISTRAL_V1:
	case RT_CHAT_MISTRAL_V3:
	case RT_CHAT_MISTRAL_V3_TEKKEN:
	case RT_CHAT_MISTRAL_V7:
	case RT_CHAT_MISTRAL_V7_TEKKEN:
		fmt_mistral(&b, kind, msgs, n);
		break;
	default:
		return -EINVAL;
	}
	if (b.n > INT_MAX)
		return -E2BIG;
	if (len)
		out[b.n < len ? b.n : len - 1] = '\0';
	return (int)b.n;
}
