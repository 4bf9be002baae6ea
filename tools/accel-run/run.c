// SPDX-License-Identifier: MIT
/*
 * accel-run's driver: load, tokenize, prefill, sample until EOS or -n, print
 * text (or ids) as it streams; timings to stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rt_error.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"
#include "rt_tokenizer.h"
#include "run.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int run_fail(int ret, const char *what)
{
	const char *msg = rt_last_error();

	if (*msg)
		fprintf(stderr, "accel-run: %s\n", msg);
	else
		fprintf(stderr, "accel-run: %s: %s\n", what, strerror(-ret));
	return ret;
}

/* append to a growing text buffer (the chat keeps the assistant's reply) */
int run_text_append(struct run_text *t, const char *p, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *b = realloc(t->buf, cap);

		if (!b)
			return -ENOMEM;
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
	t->buf[t->len] = '\0';
	return 0;
}

int run_generate(const struct run_opts *o, struct rt_model *m, struct rt_tokenizer *tok,
		 struct rt_session *s, const int32_t *ids, int n, struct gen_stats *st,
		 struct run_text *reply)
{
	struct rt_sampler *smp;
	struct rt_detok dt;
	const float *logits;
	double t0;
	int ret, limit = o->n_predict < 0 ? rt_model_n_ctx(m) : o->n_predict;
	char buf[256];

	if (s->n_past + n > rt_model_n_ctx(m))
		return rt_set_error(-ENOSPC, "prompt of %d tokens does not fit the context (%d)",
				    s->n_past + n, rt_model_n_ctx(m));
	ret = rt_sampler_create(&o->sp, rt_model_hparams(m)->n_vocab, &smp);
	if (ret < 0)
		return rt_set_error(ret, "bad sampling parameters");
	for (int i = 0; i < n; i++)
		rt_sampler_accept(smp, ids[i]);
	if (o->ids)
		for (int i = 0; i < n; i++)
			printf("%s%d", s->n_past + i ? " " : "", ids[i]);
	rt_detok_init(&dt);
	t0 = now_s();
	ret = rt_session_feed(s, ids, n, &logits);
	if (ret < 0)
		goto out;
	st->t_prompt += now_s() - t0;
	st->n_prompt += n;
	t0 = now_s();
	for (int i = 0; i < limit && s->n_past < rt_model_n_ctx(m); i++) {
		int32_t id = rt_sampler_sample(smp, logits);

		rt_sampler_accept(smp, id);
		st->n_gen++;
		if (o->ids) {
			printf(" %d", id);
		} else if (!rt_tokenizer_is_eog(tok, id)) {
			ret = rt_detok_push(&dt, tok, id, buf, sizeof(buf));
			if (ret > 0)
				fwrite(buf, 1, ret, stdout);
			if (ret > 0 && reply && (ret = run_text_append(reply, buf, ret)) < 0)
				goto out;
		}
		fflush(stdout);
		if (rt_tokenizer_is_eog(tok, id))
			break;
		if (i + 1 == limit || s->n_past >= rt_model_n_ctx(m))
			break;
		ret = rt_session_feed(s, &id, 1, &logits);
		if (ret < 0)
			goto out;
	}
	st->t_gen += now_s() - t0;
	ret = 0;
out:
	rt_sampler_free(smp);
	return ret;
}

int run_tokenize(struct rt_tokenizer *tok, const char *text, bool add_special, int32_t **out)
{
	int n = rt_tokenize(tok, text, strlen(text), add_special, true, NULL, 0);
	int32_t *ids;

	if (n < 0)
		return rt_set_error(n, "tokenization failed");
	ids = malloc(sizeof(*ids) * (n + 1));
	if (!ids)
		return -ENOMEM;
	n = rt_tokenize(tok, text, strlen(text), add_special, true, ids, n + 1);
	*out = ids;
	return n;
}

void run_print_stats(const struct gen_stats *st)
{
	fprintf(stderr, "accel-run: load %.3f s; prompt %d tokens, %.2f tokens/s; generation %d tokens, %.2f tokens/s\n",
		st->load_s, st->n_prompt, st->t_prompt > 0 ? st->n_prompt / st->t_prompt : 0.0, st->n_gen,
		st->t_gen > 0 ? st->n_gen / st->t_gen : 0.0);
}

int run_main(const struct run_opts *o)
{
	struct rt_model_opts mo = { .threads = o->threads, .n_ctx = o->n_ctx, .n_batch = o->n_batch,
				    .n_seq = o->n_parallel > 1 ? o->n_parallel : 1, .device = o->device,
				    .mem_budget = o->mem_budget };
	struct rt_tokenizer *tok = NULL;
	struct rt_model *m = NULL;
	struct rt_session s = { 0 };
	struct gen_stats st = { 0 };
	int32_t *ids = NULL;
	int n, ret;

	if (!o->prompt && !o->prompt_file && !o->chat) {
		fprintf(stderr, "accel-run: no prompt given (-p TEXT, -f FILE or --chat)\n");
		return -EINVAL;
	}
	ret = rt_model_load(o->model, &mo, &m);
	if (ret < 0)
		return run_fail(ret, o->model);
	ret = rt_tokenizer_load(rt_model_gguf(m), &tok);
	if (ret < 0) {
		run_fail(ret, "tokenizer");
		goto out;
	}
	if (o->verbose)
		fprintf(stderr, "accel-run: %s (%s), %d layers, dim %d, vocab %d, ctx %d\n",
			rt_model_hparams(m)->name, rt_model_hparams(m)->arch_name, rt_model_hparams(m)->n_layer, rt_model_hparams(m)->dim, rt_model_hparams(m)->n_vocab, rt_model_n_ctx(m));
	if (!rt_model_direct_io(m))
		fprintf(stderr, "accel-run: warning: %s: O_DIRECT refused, reading through the page cache\n",
			o->model);
	st.load_s = rt_model_load_seconds(m);
	ret = rt_session_init(&s, m, 0);
	if (ret < 0)
		goto out;
	if (o->chat || o->chat_once) {
		ret = run_chat(o, m, tok, &s);
		goto out;
	}
	if (o->n_parallel > 1 || o->prompt_file) {
		ret = run_parallel(o, m, tok);
		if (ret < 0)
			run_fail(ret, "generate");
		goto out;
	}
	n = run_tokenize(tok, o->prompt, true, &ids);
	if (n < 0) {
		ret = run_fail(n, "tokenize");
		goto out;
	}
	ret = run_generate(o, m, tok, &s, ids, n, &st, NULL);
	printf("\n");
	if (ret < 0) {
		run_fail(ret, "generate");
		goto out;
	}
	run_print_stats(&st);
out:
	free(ids);
	rt_session_fini(&s);
	rt_tokenizer_free(tok);
	rt_model_free(m);
	return ret;
}
