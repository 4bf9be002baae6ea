// SPDX-License-Identifier: MIT
/*
 * accel-run --chat / --chat-once: the conversation is formatted with the
 * model's template (rt_chat) and only the text that is new since the last
 * turn is tokenized and fed, so the KV cache of earlier turns is kept, as
 * llama.cpp's chat mode does. Who feeds and generates is a callback: one
 * process's session (run_generate), or the pipeline of ranks under mpirun.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt_chat.h"
#include "rt_error.h"
#include "rt_model.h"
#include "rt_session.h"
#include "rt_tokenizer.h"
#include "run.h"

#define MAX_MSGS 256

static char *format(enum rt_chat_kind kind, const struct rt_chat_msg *msgs, int n, bool add)
{
	int len = rt_chat_format(kind, msgs, n, add, NULL, 0);
	char *s;

	if (len < 0)
		return NULL;
	s = malloc(len + 1);
	if (s)
		rt_chat_format(kind, msgs, n, add, s, len + 1);
	return s;
}

/* one user turn: feed what the template adds, then generate the reply */
static int turn(struct rt_tokenizer *tok, run_gen_fn gen, void *ctx, enum rt_chat_kind kind,
		struct rt_chat_msg *msgs, int *n, size_t *prev_len, struct gen_stats *st)
{
	struct tool_text reply = { 0 };
	char *full = format(kind, msgs, *n, true);
	int32_t *ids = NULL;
	int nid, ret;

	if (!full)
		return rt_set_error(-ENOMEM, "cannot format the chat");
	/* the first turn gets BOS as the model asks; later ones continue */
	nid = run_tokenize(tok, full + *prev_len, *prev_len == 0, &ids);
	free(full);
	if (nid < 0)
		return nid;
	ret = gen(ctx, ids, nid, st, &reply);
	free(ids);
	if (ret >= 0)
		ret = run_write("\n", 1);
	if (ret < 0) {
		free(reply.buf);
		return ret;
	}
	if (st->ctx_full) {
		/* nothing more can be fed: the conversation ends here */
		free(reply.buf);
		return -ENOSPC;
	}
	if (!reply.buf && !(reply.buf = strdup("")))
		return rt_set_error(-ENOMEM, "out of memory");
	/* the reply is the caller's from here (freed with msgs), whatever follows */
	msgs[*n].role = "assistant";
	msgs[*n].content = reply.buf;
	(*n)++;
	/*
	 * What the cache holds now ends with the reply's text (the end-of-turn
	 * token stopped generation and was not fed): the next turn feeds the
	 * template from there, the reply's closing tokens included.
	 */
	full = format(kind, msgs, *n - 1, true);
	if (!full)
		return rt_set_error(-ENOMEM, "cannot format the chat");
	*prev_len = strlen(full) + strlen(msgs[*n - 1].content);
	free(full);
	return 0;
}

/* one process: run_generate on its session */
struct local_gen {
	const struct run_opts *o;
	struct rt_model *m;
	struct rt_tokenizer *tok;
	struct rt_session *s;
};

static int local_gen(void *ctx, const int32_t *ids, int n, struct gen_stats *st,
		     struct tool_text *reply)
{
	struct local_gen *g = ctx;

	return run_generate(g->o, g->m, g->tok, g->s, ids, n, st, reply);
}

int run_chat(const struct run_opts *o, struct rt_model *m, struct rt_tokenizer *tok,
	     struct rt_session *s)
{
	struct local_gen g = { .o = o, .m = m, .tok = tok, .s = s };

	return run_chat_with(o, m, tok, local_gen, &g);
}

int run_chat_with(const struct run_opts *o, struct rt_model *m, struct rt_tokenizer *tok,
		  run_gen_fn gen, void *ctx)
{
	enum rt_chat_kind kind = rt_chat_detect_gguf(rt_model_gguf(m));
	struct rt_chat_msg msgs[MAX_MSGS];
	struct gen_stats st = { .load_s = rt_model_load_seconds(m) };
	size_t prev_len = 0;
	char *line = NULL;
	size_t cap = 0;
	int n = 0, ret = 0;

	if (kind == RT_CHAT_UNKNOWN) {
		/* llama.cpp's fallback as well; --chat's banner names it too */
		if (o->verbose)
			fprintf(stderr, "accel-run: no known chat template in the model, using chatml\n");
		kind = RT_CHAT_CHATML;
	}
	if (o->chat_once) {
		if (!o->prompt)
			return rt_set_error(-EINVAL, "--chat-once needs -p PROMPT");
		msgs[n].role = "user";
		msgs[n].content = o->prompt;
		n++;
		ret = turn(tok, gen, ctx, kind, msgs, &n, &prev_len, &st);
		if (st.ctx_full)
			run_ctx_full(rt_model_n_ctx(m), 1, 1);
		else if (ret < 0)
			run_fail(ret, "chat");
		if (ret >= 0 || st.ctx_full)
			run_print_stats(&st);
		/* msgs[0] is -p's text (argv); only the reply, if any, is ours */
		for (int i = 1; i < n; i++)
			free((char *)msgs[i].content);
		return st.ctx_full ? 0 : ret;
	}
	fprintf(stderr, "accel-run: chat (%s template); an empty line or EOF ends it\n",
		rt_chat_kind_name(kind));
	if (o->prompt && n + 2 < MAX_MSGS) {
		msgs[n].role = "system";
		msgs[n].content = o->prompt;
		n++;
	}
	for (;;) {
		fprintf(stderr, "> ");
		if (getline(&line, &cap, stdin) < 0)	/* any length: no line split in two */
			break;
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			break;
		if (n + 2 >= MAX_MSGS) {
			fprintf(stderr, "accel-run: conversation too long\n");
			break;
		}
		msgs[n].role = "user";
		msgs[n].content = strdup(line);
		if (!msgs[n].content) {
			ret = run_fail(rt_set_error(-ENOMEM, "out of memory"), "chat");
			break;
		}
		n++;
		ret = turn(tok, gen, ctx, kind, msgs, &n, &prev_len, &st);
		if (st.ctx_full) {
			run_ctx_full(rt_model_n_ctx(m), 1, 1);
			ret = 0;
			break;
		}
		if (ret < 0) {
			run_fail(ret, "chat");
			break;
		}
	}
	run_print_stats(&st);
	free(line);
	for (int i = 0; i < n; i++)
		if (!(o->prompt && i == 0))
			free((char *)msgs[i].content);
	return ret;
}
