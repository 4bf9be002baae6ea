// SPDX-License-Identifier: MIT
/*
 * rt_tokenize: llama_tokenize's driver. Special-token partitioning first
 * (longest special text first; control/unknown ones only with
 * parse_special), then each text fragment through the SPM or BPE encoder,
 * with BOS/EOS as the vocab asks when add_special.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "tokenizer_internal.h"

struct frag {
	int32_t id;		/* -1: text [off, off + len) */
	size_t off, len;
};

struct frags {
	struct frag *v;
	size_t n, cap;
};

static int frags_push(struct frags *f, int32_t id, size_t off, size_t len)
{
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 16;
		struct frag *v = realloc(f->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = ncap;
	}
	f->v[f->n].id = id;
	f->v[f->n].off = off;
	f->v[f->n].len = len;
	f->n++;
	return 0;
}

/* C-locale isspace, as llama.cpp's strip uses */
static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* split every text fragment of @in at each occurrence of token @id */
static int split_special(const struct rt_tokenizer *tok, int32_t id, const char *text,
			 const struct frags *in, struct frags *out)
{
	const struct rt_tok_entry *e = &tok->tok[id];
	int err = 0;

	out->n = 0;
	for (size_t i = 0; i < in->n && !err; i++) {
		const struct frag *f = &in->v[i];
		size_t off = f->off, len = f->len;

		if (f->id >= 0 || len < e->len) {
			err = frags_push(out, f->id, f->off, f->len);
			continue;
		}
		while (len && !err) {
			const char *m = memmem(text + off, len, e->text, e->len);
			size_t moff, llen, roff, rlen;

			if (!m) {
				err = frags_push(out, -1, off, len);
				break;
			}
			moff = (size_t)(m - text);
			llen = moff - off;
			if (e->attr & RT_TOK_ATTR_LSTRIP)
				while (llen && is_space(text[off + llen - 1]))
					llen--;
			if (llen)
				err = frags_push(out, -1, off, llen);
			if (!err)
				err = frags_push(out, id, 0, 0);
			roff = moff + e->len;
			rlen = off + len - roff;
			if (e->attr & RT_TOK_ATTR_RSTRIP)
				while (rlen && is_space(text[roff])) {
					roff++;
					rlen--;
				}
			off = roff;
			len = rlen;
		}
	}
	return err;
}

static int partition(const struct rt_tokenizer *tok, const char *text, size_t len,
		     bool parse_special, struct frags *out)
{
	struct frags tmp = { 0 };
	int err = 0;

	out->n = 0;
	if (!len)
		return 0;
	err = frags_push(out, -1, 0, len);
	for (uint32_t s = 0; s < tok->n_special && !err; s++) {
		int32_t id = tok->special[s];
		struct frags t;

		if (!parse_special &&
		    (tok->tok[id].attr & (RT_TOK_ATTR_CONTROL | RT_TOK_ATTR_UNKNOWN)))
			continue;	/* user-defined tokens split even then */
		err = split_special(tok, id, text, out, &tmp);
		t = *out;
		*out = tmp;
		tmp = t;
	}
	free(tmp.v);
	return err;
}

static int encode(const struct rt_tokenizer *tok, const char *text, size_t len,
		  bool add_special, bool parse_special, struct rt_tok_ids *ids)
{
	struct frags fr = { 0 };
	bool prev_special = true;	/* the dummy prefix goes on the first text */
	int err;

	err = partition(tok, text, len, parse_special, &fr);
	if (!err && add_special && tok->add_bos)
		err = rt_tok_ids_push(ids, tok->bos);
	for (size_t i = 0; i < fr.n && !err; i++) {
		const struct frag *f = &fr.v[i];

		if (f->id >= 0) {
			err = rt_tok_ids_push(ids, f->id);
			prev_special = true;
			continue;
		}
		if (tok->kind == RT_TOK_SPM)
			/* llama.cpp adds the prefix after every special token too */
			err = rt_tok_spm_encode(tok, text + f->off, f->len,
						tok->add_space_prefix && prev_special, ids);
		else
			err = rt_tok_bpe_encode(tok, text + f->off, f->len, ids);
		prev_special = false;
	}
	if (!err && add_special && tok->add_eos)
		err = rt_tok_ids_push(ids, tok->eos);
	free(fr.v);
	return err;
}

int rt_tokenize(const struct rt_tokenizer *tok, const char *text, size_t len, bool add_special,
		bool parse_special, int32_t *ids, int max)
{
	struct rt_tok_ids out = { 0 };
	int err;

	if (!tok || (!text && len) || max < 0 || (!ids && max))
		return -EINVAL;
	err = encode(tok, text, len, add_special, parse_special, &out);
	if (!err && out.n > INT_MAX)
		err = rt_set_error(-E2BIG, "tokenizer: %zu tokens", out.n);
	if (!err) {
		size_t n = out.n < (size_t)max ? out.n : (size_t)max;

		if (n)
			memcpy(ids, out.v, n * sizeof(*ids));
		err = (int)out.n;
	}
	free(out.v);
	return err;
}
