// SPDX-License-Identifier: MIT
/*
 * accel-run -np N -f FILE: the prompts of FILE (one per line) decoded N at a
 * time with rt_generate_parallel, one pass over the weights per step; each
 * sequence's text is printed when it ends, in prompt order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "rt_generate.h"
#include "rt_model.h"
#include "rt_tokenizer.h"
#include "run.h"

struct par {
	struct rt_tokenizer *tok;
	const struct run_opts *o;
	struct tool_text *text;		/* per sequence */
	struct rt_detok *dt;
	struct tool_text *piece;		/* one token's text */
	int base;			/* index of the first prompt of this group */
};

static int on_token(int seq, int32_t id, void *arg)
{
	struct par *p = arg;
	char buf[32];
	int n;

	if (p->o->ids) {
		n = snprintf(buf, sizeof(buf), " %d", id);
		return tool_text_append(&p->text[seq], buf, (size_t)n);
	}
	if (rt_tokenizer_is_eog(p->tok, id))
		return 0;
	n = run_detok(&p->dt[seq], p->tok, id, p->piece);
	return n > 0 ? tool_text_append(&p->text[seq], p->piece->buf, (size_t)n) : n;
}

static int read_lines(const char *path, char ***out)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, **v = NULL;
	size_t cap = 0;
	ssize_t len;
	int n = 0;

	if (!f)
		return rt_set_error(-errno, "%s: %s", path, strerror(errno));
	while ((len = getline(&line, &cap, f)) >= 0) {
		char **nv;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			continue;
		nv = realloc(v, sizeof(*v) * (n + 1));
		if (!nv || !(nv[n] = strdup(line))) {
			v = nv ? nv : v;
			for (int i = 0; i < n; i++)
				free(v[i]);
			free(v);
			free(line);
			fclose(f);
			return rt_set_error(-ENOMEM, "%s: out of memory", path);
		}
		v = nv;
		n++;
	}
	if (ferror(f)) {
		int err = errno ? errno : EIO;

		for (int i = 0; i < n; i++)
			free(v[i]);
		free(v);
		free(line);
		fclose(f);
		return rt_set_error(-err, "%s: %s", path, strerror(err));
	}
	free(line);
	fclose(f);
	if (!n) {
		free(v);
		return rt_set_error(-EINVAL, "%s: no prompts (one per line)", path);
	}
	*out = v;
	return n;
}

int run_parallel(const struct run_opts *o, struct rt_model *m, struct rt_tokenizer *tok)
{
	char **lines = NULL;
	int n = 0, np = o->n_parallel > 0 ? o->n_parallel : 1, ret = 0, n_full = 0;
	struct gen_stats total = { .load_s = rt_model_load_seconds(m) };
	struct tool_text piece = { 0 };

	if (o->prompt_file) {
		n = read_lines(o->prompt_file, &lines);
		if (n < 0)
			return n;
	} else {
		lines = malloc(sizeof(*lines));
		if (!lines || !(lines[0] = strdup(o->prompt))) {
			free(lines);
			return rt_set_error(-ENOMEM, "out of memory");
		}
		n = 1;
	}
	for (int g = 0; g < n && ret == 0; g += np) {
		int k = n - g < np ? n - g : np;
		int32_t *ids[RUN_MAX_PARALLEL];
		int nid[RUN_MAX_PARALLEL];
		struct tool_text text[RUN_MAX_PARALLEL];
		struct rt_detok dt[RUN_MAX_PARALLEL];
		struct par p = { tok, o, text, dt, &piece, g };
		struct rt_gen_stats st = { 0 };

		memset(text, 0, sizeof(text));
		for (int i = 0; i < k; i++) {
			nid[i] = run_tokenize(tok, lines[g + i], true, &ids[i]);
			if (nid[i] < 0) {
				for (int j = 0; j < i; j++)
					free(ids[j]);
				ret = nid[i];
				goto out;
			}
			rt_detok_init(&dt[i]);
			if (o->ids)
				for (int j = 0; j < nid[i] && ret == 0; j++) {
					char b[16];
					int l = snprintf(b, sizeof(b), "%s%d", j ? " " : "", ids[i][j]);

					ret = tool_text_append(&text[i], b, (size_t)l);
				}
		}
		if (ret < 0) {
			for (int i = 0; i < k; i++) {
				free(text[i].buf);
				free(ids[i]);
			}
			ret = rt_set_error(ret, "out of memory");
			goto out;
		}
		ret = rt_generate_parallel(m, tok, k, (const int32_t *const *)ids, nid, o->n_predict,
					   &o->sp, on_token, &p, &st);
		for (int i = 0; i < k; i++) {
			if (ret == 0 && !o->ids)
				ret = run_write(lines[g + i], strlen(lines[g + i]));
			if (ret == 0 && text[i].buf)
				ret = run_write(text[i].buf, text[i].len);
			if (ret == 0)
				ret = run_write("\n", 1);
			free(text[i].buf);
			free(ids[i]);
		}
		n_full += st.n_ctx_full;
		total.n_prompt += st.n_prompt;
		total.n_gen += st.n_gen;
		total.t_prompt += st.t_prompt;
		total.t_gen += st.t_gen;
	}
	if (ret == 0 && n_full)
		run_ctx_full(rt_model_n_ctx(m), n_full, n);
	if (ret == 0) {
		run_print_stats(&total);
		run_print_stream(o, m);
	}
out:
	free(piece.buf);
	for (int i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	return ret;
}
