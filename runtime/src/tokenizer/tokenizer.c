// SPDX-License-Identifier: MIT
/*
 * Tokenizer vocabulary: builds a tokenizer from a description of GGUF
 * tokenizer metadata (tokenizer_gguf.c fills it) with llama.cpp's defaults,
 * detects EOT/EOM/FIM/EOG tokens by text as llama-vocab does, orders the
 * special-token cache, and answers the id queries of rt_tokenizer.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "tokenizer_internal.h"

void rt_tok_desc_init(struct rt_tok_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->bos = d->eos = d->unk = d->pad = d->eot = d->eom = d->sep = -1;
	d->add_bos = d->add_eos = d->add_space_prefix = -1;
}

static uint32_t attr_of_type(int32_t type)
{
	switch (type) {
	case RT_TOK_TYPE_NORMAL: return RT_TOK_ATTR_NORMAL;
	case RT_TOK_TYPE_UNKNOWN: return RT_TOK_ATTR_UNKNOWN;
	case RT_TOK_TYPE_CONTROL: return RT_TOK_ATTR_CONTROL;
	case RT_TOK_TYPE_USER_DEFINED: return RT_TOK_ATTR_USER_DEFINED;
	case RT_TOK_TYPE_UNUSED: return RT_TOK_ATTR_UNUSED;
	case RT_TOK_TYPE_BYTE: return RT_TOK_ATTR_BYTE;
	default: return RT_TOK_ATTR_UNDEFINED;
	}
}

static int32_t find_text(const struct rt_tokenizer *tok, const char *s)
{
	return rt_tok_hash_get(&tok->by_text, s, strlen(s));
}

/* first of @names present in the vocab (llama.cpp takes whichever its hash
 * map yields first; a vocab holding two of them is rare) */
static int32_t find_any(const struct rt_tokenizer *tok, const char *const *names)
{
	for (; *names; names++) {
		int32_t id = find_text(tok, *names);

		if (id >= 0)
			return id;
	}
	return -1;
}

static const char *const eot_names[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81" "of"
	"\xe2\x96\x81" "sentence\xef\xbd\x9c>", "<end_of_utterance>", NULL
};
static const char *const eom_names[] = { "<|eom_id|>", NULL };
static const char *const fim_pre_names[] = {
	"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81"
	"begin\xef\xbd\x9c>", "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL
};
static const char *const fim_suf_names[] = {
	"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81"
	"hole\xef\xbd\x9c>", "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL
};
static const char *const fim_mid_names[] = {
	"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81"
	"end\xef\xbd\x9c>", "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL
};
static const char *const fim_pad_names[] = {
	"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL
};
static const char *const fim_rep_names[] = {
	"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL
};
static const char *const fim_sep_names[] = { "<|file_sep|>", NULL };
/* texts llama.cpp treats as end of generation */
static const char *const eog_names[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
	"<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>",
	"[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>",
	"<|tool_response>", "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence"
	"\xef\xbd\x9c>", "[e~[", NULL
};

static void make_control(struct rt_tokenizer *tok, int32_t id)
{
	if (id >= 0)
		tok->tok[id].attr |= RT_TOK_ATTR_CONTROL;
}

static int eog_add(struct rt_tokenizer *tok, int32_t id)
{
	if (id < 0 || (uint32_t)id >= tok->n_tokens)
		return 0;
	for (uint32_t i = 0; i < tok->n_eog; i++)
		if (tok->eog[i] == id)
			return 0;
	int32_t *v = realloc(tok->eog, (tok->n_eog + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	tok->eog = v;
	tok->eog[tok->n_eog++] = id;
	return 0;
}

static int eog_del(struct rt_tokenizer *tok, int32_t id)
{
	for (uint32_t i = 0; i < tok->n_eog; i++) {
		if (tok->eog[i] == id) {
			tok->eog[i] = tok->eog[--tok->n_eog];
			return 1;
		}
	}
	return 0;
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

/* the auto-detection block of llama_vocab::impl::load */
static int detect_specials(struct rt_tokenizer *tok)
{
	int32_t fim_pad, fim_rep, fim_sep;
	int err = 0;

	if (tok->eot < 0) {
		tok->eot = find_any(tok, eot_names);
		make_control(tok, tok->eot);
	}
	if (tok->eom < 0) {
		tok->eom = find_any(tok, eom_names);
		make_control(tok, tok->eom);
	}
	make_control(tok, find_any(tok, fim_pre_names));
	make_control(tok, find_any(tok, fim_suf_names));
	make_control(tok, find_any(tok, fim_mid_names));
	fim_pad = find_any(tok, fim_pad_names);
	fim_rep = find_any(tok, fim_rep_names);
	fim_sep = find_any(tok, fim_sep_names);
	make_control(tok, fim_pad);
	make_control(tok, fim_rep);
	make_control(tok, fim_sep);

	err = err ?: eog_add(tok, fim_pad);
	err = err ?: eog_add(tok, fim_rep);
	err = err ?: eog_add(tok, fim_sep);
	for (const char *const *n = eog_names; *n && !err; n++) {
		int32_t id = find_text(tok, *n);

		make_control(tok, id);
		err = eog_add(tok, id);
	}
	/* gpt-oss: always render these */
	static const char *const ud[] = { "<|channel|>", "<|message|>", "<|start|>",
					  "<|constrain|>", NULL };
	for (const char *const *n = ud; *n; n++) {
		int32_t id = find_text(tok, *n);

		if (id >= 0)
			tok->tok[id].attr = RT_TOK_ATTR_USER_DEFINED;
	}
	err = err ?: eog_add(tok, tok->eos);
	err = err ?: eog_add(tok, tok->eot);
	err = err ?: eog_add(tok, tok->eom);
	if (err)
		return err;
	/* o200k_harmony / solar-open: "<|end|>" is not EOG there */
	int32_t ret = find_text(tok, "<|return|>"), call = find_text(tok, "<|call|>");
	int32_t calls = find_text(tok, "<|calls|>"), flush = find_text(tok, "<|flush|>");
	int32_t end = find_text(tok, "<|end|>");
	if (end >= 0 && ((ret >= 0 && (call >= 0 || calls >= 0)) ||
			 ((call >= 0 || calls >= 0) && flush >= 0)) && eog_del(tok, end))
		tok->tok[end].attr = RT_TOK_ATTR_USER_DEFINED;
	/* gemma4 / paddleocr: "</s>" is not EOG beside "<|tool_response>" */
	int32_t s = find_text(tok, "</s>");
	if (s >= 0 && find_text(tok, "<|tool_response>") >= 0 && eog_del(tok, s))
		tok->tok[s].attr = RT_TOK_ATTR_NORMAL;
	if (tok->n_eog)
		qsort(tok->eog, tok->n_eog, sizeof(*tok->eog), cmp_i32);
	return 0;
}

static int cmp_special(const void *a, const void *b, void *arg)
{
	const struct rt_tokenizer *tok = arg;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	uint32_t lx = tok->tok[x].len, ly = tok->tok[y].len;

	if (lx != ly)
		return lx > ly ? -1 : 1;
	return (x > y) - (x < y);
}

static int build_special_cache(struct rt_tokenizer *tok)
{
	const uint32_t mask = RT_TOK_ATTR_CONTROL | RT_TOK_ATTR_USER_DEFINED | RT_TOK_ATTR_UNKNOWN;
	uint32_t n = 0;

	for (uint32_t i = 0; i < tok->n_tokens; i++)
		n += !!(tok->tok[i].attr & mask);
	tok->special = malloc((n ? n : 1) * sizeof(*tok->special));
	if (!tok->special)
		return -ENOMEM;
	for (uint32_t i = 0; i < tok->n_tokens; i++)
		if (tok->tok[i].attr & mask)
			tok->special[tok->n_special++] = (int32_t)i;
	/* longest first; equal lengths by id (llama.cpp's std::sort leaves
	 * them unordered; they cannot match at the same place anyway) */
	qsort_r(tok->special, tok->n_special, sizeof(*tok->special), cmp_special, tok);
	return 0;
}

static int load_tokens(struct rt_tokenizer *tok, const struct rt_tok_desc *d)
{
	int err;

	tok->tok = calloc(d->n_tokens ? d->n_tokens : 1, sizeof(*tok->tok));
	if (!tok->tok)
		return -ENOMEM;
	tok->n_tokens = d->n_tokens;
	err = rt_tok_hash_init(&tok->by_text, d->n_tokens);
	if (err)
		return err;
	for (uint32_t i = 0; i < d->n_tokens; i++) {
		struct rt_tok_entry *e = &tok->tok[i];
		size_t len = d->token_len ? d->token_len[i] : strlen(d->tokens[i]);
		char empty[32];
		const char *src = d->tokens[i];

		if (!len) {	/* llama.cpp renames empty tokens */
			len = (size_t)snprintf(empty, sizeof(empty), "[EMPTY_%u]", i);
			src = empty;
		}
		if (len > UINT32_MAX - 1)
			return rt_set_error(-EINVAL, "tokenizer: token %u too long", i);
		e->text = malloc(len + 1);
		if (!e->text)
			return -ENOMEM;
		memcpy(e->text, src, len);
		e->text[len] = '\0';
		e->len = (uint32_t)len;
		e->score = d->scores ? d->scores[i] : 0.0f;
		e->attr = d->types ? attr_of_type(d->types[i]) : RT_TOK_ATTR_NORMAL;
		err = rt_tok_hash_put(&tok->by_text, e->text, e->len, (int32_t)i);
		if (err < 0)
			return err;
		/* a duplicate keeps its first id */
	}
	return 0;
}

static int load_merges(struct rt_tokenizer *tok, const struct rt_tok_desc *d)
{
	size_t total = 0, pos = 0;
	int err;

	if (!d->merges || !d->n_merges)
		return rt_set_error(-EINVAL, "tokenizer: gpt2 vocab without merges");
	for (uint32_t i = 0; i < d->n_merges; i++)
		total += (d->merge_len ? d->merge_len[i] : strlen(d->merges[i])) + 1;
	tok->merge_store = malloc(total ? total : 1);
	if (!tok->merge_store)
		return -ENOMEM;
	err = rt_tok_hash_init(&tok->merges, d->n_merges);
	if (err)
		return err;
	for (uint32_t i = 0; i < d->n_merges; i++) {
		size_t len = d->merge_len ? d->merge_len[i] : strlen(d->merges[i]);
		char *m = tok->merge_store + pos;

		memcpy(m, d->merges[i], len);
		m[len] = '\0';
		pos += len + 1;
		if (!memchr(m + (len ? 1 : 0), ' ', len ? len - 1 : 0))
			continue;	/* llama.cpp maps it to ("", ""): never used */
		err = rt_tok_hash_put(&tok->merges, m, (uint32_t)len, (int32_t)i);
		if (err < 0)
			return err;
	}
	return 0;
}

/* per-model attributes llama.cpp sets by general.name: Phi-3 strips the
 * whitespace after its special tokens (not after <unk>, <s>, <|endoftext|>) */
static void model_attrs(struct rt_tokenizer *tok, const char *name)
{
	char low[256];
	size_t i;

	if (!name)
		return;
	for (i = 0; name[i] && i < sizeof(low) - 1; i++)
		low[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	low[i] = '\0';
	if (!strstr(low, "phi-3") && !strstr(low, "phi3"))
		return;
	for (uint32_t k = 0; k < tok->n_special; k++)
		tok->tok[tok->special[k]].attr |= RT_TOK_ATTR_RSTRIP;
	static const char *const keep[] = { "<unk>", "<s>", "<|endoftext|>" };
	int32_t id = find_text(tok, "</s>");

	if (id >= 0)
		tok->tok[id].attr |= RT_TOK_ATTR_RSTRIP;
	for (size_t k = 0; k < 3; k++) {
		id = find_text(tok, keep[k]);
		if (id >= 0)
			tok->tok[id].attr &= ~(uint32_t)RT_TOK_ATTR_RSTRIP;
	}
}

static void set_id(int32_t *dst, int64_t v, uint32_t n)
{
	if (v >= 0 && (uint64_t)v < n)
		*dst = (int32_t)v;	/* out of range: llama.cpp keeps the default */
}

int rt_tokenizer_create(const struct rt_tok_desc *d, struct rt_tokenizer **out)
{
	struct rt_tokenizer *tok;
	bool force_bos = false;
	int err;

	*out = NULL;
	if (!d->model || !d->tokens || !d->n_tokens)
		return rt_set_error(-EINVAL, "tokenizer: no vocabulary in metadata");
	if (d->n_tokens > INT32_MAX)
		return rt_set_error(-EINVAL, "tokenizer: %u tokens", d->n_tokens);
	tok = calloc(1, sizeof(*tok));
	if (!tok)
		return -ENOMEM;
	tok->pad = tok->eot = tok->eom = tok->sep = -1;
	if (!strcmp(d->model, "llama")) {
		tok->kind = RT_TOK_SPM;
		tok->bos = 1;
		tok->eos = 2;
		tok->unk = 0;
		tok->add_space_prefix = true;
		tok->add_bos = true;
	} else if (!strcmp(d->model, "gpt2")) {
		tok->kind = RT_TOK_BPE;
		tok->bos = tok->eos = 11;
		tok->unk = -1;
		err = rt_tok_pretok_pre_from_name(d->pre, &tok->pre, &tok->ignore_merges,
						  &tok->clean_spaces, &force_bos);
		if (err) {
			err = rt_set_error(-ENOTSUP, "tokenizer: unknown pre-tokenizer '%s'", d->pre);
			goto err_free;
		}
		tok->add_bos = force_bos;
	} else {
		err = rt_set_error(-ENOTSUP, "tokenizer: unsupported tokenizer model '%s'",
				   d->model);
		goto err_free;
	}
	if (d->add_space_prefix >= 0)
		tok->add_space_prefix = d->add_space_prefix;

	err = load_tokens(tok, d);
	if (err)
		goto err_free;
	if (tok->kind == RT_TOK_BPE) {
		err = load_merges(tok, d);
		if (err)
			goto err_free;
		err = rt_tok_pretok_create(tok->pre, &tok->pretok);
		if (err)
			goto err_free;
	}
	/* defaults outside the vocab are disabled, then metadata overrides */
	int32_t *ids[] = { &tok->bos, &tok->eos, &tok->unk };
	for (size_t i = 0; i < 3; i++)
		if (*ids[i] >= (int32_t)tok->n_tokens)
			*ids[i] = -1;
	set_id(&tok->bos, d->bos, tok->n_tokens);
	set_id(&tok->eos, d->eos, tok->n_tokens);
	set_id(&tok->unk, d->unk, tok->n_tokens);
	set_id(&tok->pad, d->pad, tok->n_tokens);
	set_id(&tok->eot, d->eot, tok->n_tokens);
	set_id(&tok->eom, d->eom, tok->n_tokens);
	set_id(&tok->sep, d->sep, tok->n_tokens);
	if (d->add_bos >= 0)
		tok->add_bos = d->add_bos;
	if (d->add_eos >= 0)
		tok->add_eos = d->add_eos;
	if ((tok->add_bos && tok->bos < 0) || (tok->add_eos && tok->eos < 0)) {
		err = rt_set_error(-EINVAL, "tokenizer: add_%s_token is true but its id is not set",
				   tok->add_bos && tok->bos < 0 ? "bos" : "eos");
		goto err_free;
	}
	err = detect_specials(tok);
	if (err)
		goto err_free;
	err = build_special_cache(tok);
	if (err)
		goto err_free;
	model_attrs(tok, d->name);
	for (int b = 0; b < 256; b++) {
		char hex[8];
		char raw = (char)b;

		snprintf(hex, sizeof(hex), "<0x%02X>", b);
		tok->byte_tok[b] = find_text(tok, hex);
		if (tok->byte_tok[b] < 0)
			tok->byte_tok[b] = rt_tok_hash_get(&tok->by_text, &raw, 1);
	}
	*out = tok;
	return 0;

err_free:
	rt_tokenizer_free(tok);
	return err;
}

void rt_tokenizer_free(struct rt_tokenizer *tok)
{
	if (!tok)
		return;
	if (tok->tok)
		for (uint32_t i = 0; i < tok->n_tokens; i++)
			free(tok->tok[i].text);
	free(tok->tok);
	rt_tok_hash_fini(&tok->by_text);
	rt_tok_hash_fini(&tok->merges);
	free(tok->merge_store);
	rt_tok_pretok_free(tok->pretok);
	free(tok->special);
	free(tok->eog);
	free(tok);
}

int32_t rt_tokenizer_n_vocab(const struct rt_tokenizer *tok)
{
	return (int32_t)tok->n_tokens;
}

int32_t rt_tokenizer_bos(const struct rt_tokenizer *tok)
{
	return tok->bos;
}

int32_t rt_tokenizer_eos(const struct rt_tokenizer *tok)
{
	return tok->eos;
}

int32_t rt_tokenizer_eot(const struct rt_tokenizer *tok)
{
	return tok->eot;
}

bool rt_tokenizer_add_bos(const struct rt_tokenizer *tok)
{
	return tok->add_bos;
}

bool rt_tokenizer_is_eog(const struct rt_tokenizer *tok, int32_t id)
{
	if (id < 0 || !tok->n_eog)
		return false;
	return bsearch(&id, tok->eog, tok->n_eog, sizeof(*tok->eog), cmp_i32) != NULL;
}

int32_t rt_tokenizer_find(const struct rt_tokenizer *tok, const char *text)
{
	return text ? find_text(tok, text) : -1;
}
