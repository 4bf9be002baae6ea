// SPDX-License-Identifier: MIT
/*
 * rt_tokenizer_load: reads the tokenizer.ggml.* metadata of a GGUF through
 * rt_gguf.h into a struct rt_tok_desc and builds the tokenizer. Only type
 * and length checks here; the vocabulary rules live in tokenizer.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "rt_gguf.h"
#include "tokenizer_internal.h"

void rt_tok_loaded_fini(struct rt_tok_loaded *l)
{
	free(l->tokens);
	free(l->token_len);
	free(l->scores);
	free(l->types);
	free(l->merges);
	free(l->merge_len);
	free(l->model);
	free(l->pre);
	free(l->name);
	memset(l, 0, sizeof(*l));
}

static int get_strs(const struct rt_gguf *g, const char *key, uint32_t *n_out,
		    const char ***s_out, uint32_t **len_out)
{
	enum rt_gguf_type type;
	const void *data;
	uint64_t n;
	int err = rt_gguf_get_arr(g, key, &type, &n, &data);

	if (err)
		return err;
	if (type != RT_GGUF_STRING || n > INT32_MAX)
		return rt_set_error(-EINVAL, "tokenizer: %s is not a string array", key);
	*s_out = malloc((n ? n : 1) * sizeof(**s_out));
	*len_out = malloc((n ? n : 1) * sizeof(**len_out));
	if (!*s_out || !*len_out)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		struct rt_gguf_str s;

		err = rt_gguf_get_arr_str(g, key, i, &s);
		if (err)
			return err;
		if (s.len > UINT32_MAX - 1)
			return rt_set_error(-EINVAL, "tokenizer: %s[%llu] too long", key,
					    (unsigned long long)i);
		(*s_out)[i] = s.s;
		(*len_out)[i] = (uint32_t)s.len;
	}
	*n_out = (uint32_t)n;
	return 0;
}

/* numeric array of at least @n entries, converted to float or int32 */
static int get_nums(const struct rt_gguf *g, const char *key, uint32_t n, float *f, int32_t *i32)
{
	enum rt_gguf_type type;
	const void *data;
	uint64_t cnt;
	int err = rt_gguf_get_arr(g, key, &type, &cnt, &data);

	if (err)
		return err;
	if (cnt < n)
		return rt_set_error(-EINVAL, "tokenizer: %s has %llu entries for %u tokens", key,
				    (unsigned long long)cnt, n);
	for (uint32_t k = 0; k < n; k++) {
		const char *p = (const char *)data + (size_t)k * 4;
		float fv;
		int32_t iv;

		if (type == RT_GGUF_FLOAT32) {
			memcpy(&fv, p, 4);
			iv = (int32_t)fv;
		} else if (type == RT_GGUF_INT32 || type == RT_GGUF_UINT32) {
			memcpy(&iv, p, 4);
			fv = (float)iv;
		} else {
			return rt_set_error(-EINVAL, "tokenizer: %s has element type %d", key,
					    (int)type);
		}
		if (f)
			f[k] = fv;
		if (i32)
			i32[k] = iv;
	}
	return 0;
}

static char *dup_str(const struct rt_gguf *g, const char *key, int *err)
{
	struct rt_gguf_str s;
	char *p;

	*err = rt_gguf_get_str(g, key, &s);
	if (*err)
		return NULL;
	p = strndup(s.s, s.len);
	if (!p)
		*err = -ENOMEM;
	return p;
}

static void get_id(const struct rt_gguf *g, const char *key, int64_t *v)
{
	uint32_t u;

	if (!rt_gguf_get_u32(g, key, &u))
		*v = u;
}

static void get_flag(const struct rt_gguf *g, const char *key, int *v)
{
	bool b;

	if (!rt_gguf_get_bool(g, key, &b))
		*v = b;
}

int rt_tok_desc_load(const struct rt_gguf *g, struct rt_tok_loaded *lp, struct rt_tok_desc *dp)
{
	struct rt_tok_loaded l = { 0 };
	struct rt_tok_desc d;
	int err;

	rt_tok_desc_init(&d);
	l.model = dup_str(g, "tokenizer.ggml.model", &err);
	if (err) {
		err = rt_set_error(err == -ENOMEM ? err : -EINVAL,
				   "tokenizer: no tokenizer.ggml.model string");
		goto out;
	}
	l.pre = dup_str(g, "tokenizer.ggml.pre", &err);
	if (err && err != -ENOENT)
		goto out;
	l.name = dup_str(g, "general.name", &err);
	if (err && err != -ENOENT)
		goto out;
	d.model = l.model;
	d.pre = l.pre;
	d.name = l.name;
	err = get_strs(g, "tokenizer.ggml.tokens", &d.n_tokens, &l.tokens, &l.token_len);
	if (err) {
		if (err == -ENOENT)
			err = rt_set_error(-EINVAL, "tokenizer: no tokenizer.ggml.tokens");
		goto out;
	}
	d.tokens = l.tokens;
	d.token_len = l.token_len;
	if (rt_gguf_find_key(g, "tokenizer.ggml.scores") >= 0) {
		l.scores = malloc(d.n_tokens * sizeof(*l.scores));
		err = l.scores ? get_nums(g, "tokenizer.ggml.scores", d.n_tokens, l.scores, NULL)
			       : -ENOMEM;
		if (err)
			goto out;
		d.scores = l.scores;
	}
	if (rt_gguf_find_key(g, "tokenizer.ggml.token_type") >= 0) {
		l.types = malloc(d.n_tokens * sizeof(*l.types));
		err = l.types ? get_nums(g, "tokenizer.ggml.token_type", d.n_tokens, NULL, l.types)
			      : -ENOMEM;
		if (err)
			goto out;
		d.types = l.types;
	}
	if (rt_gguf_find_key(g, "tokenizer.ggml.merges") >= 0) {
		err = get_strs(g, "tokenizer.ggml.merges", &d.n_merges, &l.merges, &l.merge_len);
		if (err)
			goto out;
		d.merges = l.merges;
		d.merge_len = l.merge_len;
	}
	get_id(g, "tokenizer.ggml.bos_token_id", &d.bos);
	get_id(g, "tokenizer.ggml.eos_token_id", &d.eos);
	get_id(g, "tokenizer.ggml.unknown_token_id", &d.unk);
	get_id(g, "tokenizer.ggml.padding_token_id", &d.pad);
	get_id(g, "tokenizer.ggml.eot_token_id", &d.eot);
	get_id(g, "tokenizer.ggml.eom_token_id", &d.eom);
	get_id(g, "tokenizer.ggml.seperator_token_id", &d.sep);
	get_flag(g, "tokenizer.ggml.add_bos_token", &d.add_bos);
	get_flag(g, "tokenizer.ggml.add_eos_token", &d.add_eos);
	get_flag(g, "tokenizer.ggml.add_space_prefix", &d.add_space_prefix);
	*lp = l;
	*dp = d;
	return 0;
out:
	rt_tok_loaded_fini(&l);
	return err;
}

int rt_tokenizer_load(const struct rt_gguf *g, struct rt_tokenizer **out)
{
	struct rt_tok_loaded l;
	struct rt_tok_desc d;
	int err;

	if (!g || !out)
		return -EINVAL;
	*out = NULL;
	err = rt_tok_desc_load(g, &l, &d);
	if (err)
		return err;
	err = rt_tokenizer_create(&d, out);
	rt_tok_loaded_fini(&l);
	return err;
}
