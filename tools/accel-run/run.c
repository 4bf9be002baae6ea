// SPDX-License-Identifier: MIT
/*
 * accel-run's driver: load, tokenize, prefill, sample until EOS or -n, print
 * text (or ids) as it streams; timings to stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "accel.h"
#include "rt_error.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"
#include "rt_spec.h"
#include "rt_stream.h"
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

/* grow @t to hold at least @need bytes */
static int text_reserve(struct tool_text *t, size_t need)
{
	char *b;

	if (t->cap >= need)
		return 0;
	b = realloc(t->buf, need);
	if (!b)
		return rt_set_error(-ENOMEM, "out of memory");
	t->buf = b;
	t->cap = need;
	return 0;
}

int run_detok(struct rt_detok *dt, struct rt_tokenizer *tok, int32_t id, struct tool_text *t)
{
	int ret = text_reserve(t, 256);

	/* a piece may be any length (a vocab of long tokens): grow until it fits;
	 * rt_detok_push leaves its state alone when it refuses with -ENOSPC */
	while (!ret) {
		ret = rt_detok_push(dt, tok, id, t->buf, t->cap);
		if (ret != -ENOSPC)
			break;
		ret = t->cap > (1u << 30) ? rt_set_error(-E2BIG, "token %d: text too long", id)
					   : text_reserve(t, t->cap * 2);
	}
	if (ret < 0 && !*rt_last_error())
		rt_set_error(ret, "token %d: %s", id, strerror(-ret));
	return ret;
}

int run_write(const void *p, size_t n)
{
	if ((n && fwrite(p, 1, n, stdout) != n) || fflush(stdout)) {
		int err = errno ? errno : EIO;

		return rt_set_error(-err, "cannot write the output (stdout): %s", strerror(err));
	}
	return 0;
}

struct spec_out {
	const struct run_opts *o;
	struct rt_tokenizer *tok;
	struct rt_detok dt;
	struct tool_text piece, *reply;
};

/* a token of speculative generation: printed as plain decoding prints it */
static int spec_token(int seq, int32_t id, void *arg)
{
	struct spec_out *so = arg;
	char num[32];
	int ret = 0;

	(void)seq;
	if (so->o->ids) {
		int l = snprintf(num, sizeof(num), " %d", id);

		ret = run_write(num, (size_t)l);
	} else if (!rt_tokenizer_is_eog(so->tok, id)) {
		ret = run_detok(&so->dt, so->tok, id, &so->piece);
		if (ret > 0 && so->reply && tool_text_append(so->reply, so->piece.buf, (size_t)ret) < 0)
			ret = rt_set_error(-ENOMEM, "out of memory");
		if (ret > 0)
			ret = run_write(so->piece.buf, (size_t)ret);
	}
	return ret < 0 ? ret : 0;
}

static int run_generate_spec(const struct run_opts *o, struct rt_tokenizer *tok,
			     struct rt_session *s, const int32_t *ids, int n, struct gen_stats *st,
			     struct tool_text *reply)
{
	struct spec_out so = { .o = o, .tok = tok, .reply = reply };
	struct rt_spec_params p = { .n_draft = o->n_draft, .lookup = o->lookup,
				    .p_min = o->draft_p_min };
	struct rt_spec_stats ss;
	int ret;

	rt_detok_init(&so.dt);
	ret = rt_spec_generate(s, o->draft, &p, &o->sp, ids, n, o->n_predict, tok, spec_token, &so,
			       &ss);
	free(so.piece.buf);
	st->n_prompt += n;
	st->n_gen += ss.n_gen;
	st->t_prompt += ss.t_prompt;
	st->t_gen += ss.t_gen;
	st->ctx_full |= ss.ctx_full;
	st->n_passes += ss.n_passes;
	st->n_drafted += ss.n_drafted;
	st->n_accepted += ss.n_accepted;
	return ret;
}

/*
 * what a generation does before its first pass: the turn must fit the
 * context, the sampler is made and has seen the turn, and with --ids the
 * turn is printed; on error nothing is left to free
 */
int run_gen_start(const struct run_opts *o, int n_past, int n_ctx, int n_vocab,
		  const int32_t *ids, int n, struct rt_sampler **smp)
{
	char num[32];
	int ret;

	if (n_past + n > n_ctx)
		return rt_set_error(-ENOSPC, "prompt of %d tokens does not fit the context (%d)",
				    n_past + n, n_ctx);
	ret = rt_sampler_create(&o->sp, n_vocab, smp);
	if (ret < 0)
		return rt_set_error(ret, "bad sampling parameters");
	for (int i = 0; i < n; i++)
		rt_sampler_accept(*smp, ids[i]);
	for (int i = 0; o->ids && i < n; i++) {
		int l = snprintf(num, sizeof(num), "%s%d", n_past + i ? " " : "", ids[i]);

		if ((ret = run_write(num, (size_t)l)) < 0) {
			rt_sampler_free(*smp);
			*smp = NULL;
			return ret;
		}
	}
	return 0;
}

int run_generate(const struct run_opts *o, struct rt_model *m, struct rt_tokenizer *tok,
		 struct rt_session *s, const int32_t *ids, int n, struct gen_stats *st,
		 struct tool_text *reply)
{
	struct tool_text piece = { 0 };
	struct rt_sampler *smp;
	struct rt_detok dt;
	const float *logits;
	double t0;
	int ret, n_ctx = rt_model_n_ctx(m), limit = o->n_predict < 0 ? n_ctx : o->n_predict;
	char num[32];

	ret = run_gen_start(o, s->n_past, n_ctx, rt_model_hparams(m)->n_vocab, ids, n, &smp);
	if (ret < 0)
		return ret;
	if (o->draft || o->lookup) {
		ret = run_generate_spec(o, tok, s, ids, n, st, reply);
		goto out;
	}
	rt_detok_init(&dt);
	t0 = now_s();
	ret = rt_session_feed(s, ids, n, &logits);
	if (ret < 0)
		goto out;
	st->t_prompt += now_s() - t0;
	st->n_prompt += n;
	t0 = now_s();
	/* as rt_generate_parallel (-f, -np): a sampled token is printed; it is fed
	 * only when there is room for the one after it */
	for (int i = 0; i < limit; i++) {
		int32_t id = rt_sampler_sample(smp, logits);

		rt_sampler_accept(smp, id);
		st->n_gen++;
		if (o->ids) {
			int l = snprintf(num, sizeof(num), " %d", id);

			ret = run_write(num, (size_t)l);
		} else if (!rt_tokenizer_is_eog(tok, id)) {
			ret = run_detok(&dt, tok, id, &piece);
			if (ret > 0 && reply && tool_text_append(reply, piece.buf, (size_t)ret) < 0)
				ret = rt_set_error(-ENOMEM, "out of memory");
			if (ret > 0)
				ret = run_write(piece.buf, (size_t)ret);
		}
		if (ret < 0)
			goto out;
		if (rt_tokenizer_is_eog(tok, id) || i + 1 == limit)
			break;
		if (s->n_past + 1 >= n_ctx) {
			st->ctx_full = true;
			break;
		}
		ret = rt_session_feed(s, &id, 1, &logits);
		if (ret < 0)
			goto out;
	}
	st->t_gen += now_s() - t0;
	ret = 0;
out:
	free(piece.buf);
	rt_sampler_free(smp);
	return ret;
}

void run_ctx_full(int n_ctx, int n_stopped, int n_seqs)
{
	if (n_seqs > 1)
		fprintf(stderr, "accel-run: %d of %d prompts stopped at the context limit (%d tokens; -c sets it)\n",
			n_stopped, n_seqs, n_ctx);
	else
		fprintf(stderr, "accel-run: generation stopped: the context is full (%d tokens; -c sets it)\n",
			n_ctx);
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
	if (st->n_passes)
		fprintf(stderr, "accel-run: speculation: %d of %d drafted tokens accepted (%.1f%%), "
			"%.2f tokens per target pass\n", st->n_accepted, st->n_drafted,
			st->n_drafted ? 100.0 * st->n_accepted / st->n_drafted : 0.0,
			(double)(st->n_gen - 1) / st->n_passes);
}

void run_print_stream(const struct run_opts *o, const struct rt_model *m)
{
	struct rt_stream_stats ss;
	struct rt_vram_stats vs;
	uint64_t routed;

	if (o->verbose && rt_vram_stats(m, &vs) == 0 && vs.n_slots)
		fprintf(stderr, "accel-run: VRAM: %.1f MiB uploaded in %llu uploads; VRAM expert "
			"cache: %llu hits, %llu misses\n", vs.uploaded_bytes / 1048576.0,
			(unsigned long long)vs.uploads, (unsigned long long)vs.expert_hits,
			(unsigned long long)vs.expert_misses);
	if (!o->verbose || rt_stream_stats(m, &ss, NULL) < 0)
		return;
	fprintf(stderr, "accel-run: streaming: %.1f MiB read in %llu unit loads\n",
		ss.bytes_read / 1048576.0, (unsigned long long)ss.loads);
	routed = ss.expert_hits + ss.expert_misses;
	if (!routed)
		return;
	fprintf(stderr, "accel-run: expert cache: %llu hits, %llu misses (hit rate %.3f), "
		"%d entries\n", (unsigned long long)ss.expert_hits,
		(unsigned long long)ss.expert_misses, (double)ss.expert_hits / routed,
		ss.expert_entries);
	if (ss.expert_predicted || o->moe_prefetch != RT_MOE_PREFETCH_OFF)
		fprintf(stderr, "accel-run: expert prediction: %llu predicted, %llu hit (%.3f), "
			"%llu routed unpredicted; %.1f MiB prefetched, %.1f MiB of it wasted, "
			"%.1f MiB dropped unread at the routing (%llu entries given back); "
			"%.1f MiB read before the routing, %.1f MiB re-read after its evictions: "
			"%llu back-offs, %llu passes without reads\n",
			(unsigned long long)ss.expert_predicted,
			(unsigned long long)ss.expert_predict_hits,
			ss.expert_predicted ? (double)ss.expert_predict_hits / ss.expert_predicted : 0.0,
			(unsigned long long)ss.expert_predict_missed,
			ss.expert_prefetch_bytes / 1048576.0, ss.expert_wasted_bytes / 1048576.0,
			ss.expert_cancelled_bytes / 1048576.0,
			(unsigned long long)ss.expert_restored, ss.expert_useful_bytes / 1048576.0,
			ss.expert_lost_bytes / 1048576.0, (unsigned long long)ss.expert_backoffs,
			(unsigned long long)ss.expert_spec_off_passes);
}

/* libaccel's own lines: the runtime's error says the same in the tool's
 * words, so they are shown only with -v (one line per failure) */
static void log_cb(enum accel_log_level level, const char *msg, void *ctx)
{
	const struct run_opts *o = ctx;

	if (o->verbose && level <= ACCEL_LOG_INFO)
		fprintf(stderr, "accel-run: libaccel: %s\n", msg);
}

/* the one line of what RLIMIT_MEMLOCK cost: the run goes on, pageable */
static void warn_unpinned(const struct run_opts *o, struct rt_model *m)
{
	uint64_t b = rt_model_unpinned_bytes(m);
	struct rlimit rl;
	char lim[32];

	if (!b || !(o->mem_budget || o->mlock))
		return;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		snprintf(lim, sizeof(lim), "unlimited");
	else
		snprintf(lim, sizeof(lim), "%llu KiB", (unsigned long long)(rl.rlim_cur >> 10));
	fprintf(stderr, "accel-run: warning: RLIMIT_MEMLOCK (%s) refused to pin %llu KiB of weights: "
		"they stay pageable and may be swapped out (reads still bypass the page cache); "
		"raise the limit with ulimit -l, memlock in /etc/security/limits.conf or "
		"CAP_IPC_LOCK, or use --mlock to make pinning mandatory\n",
		lim, (unsigned long long)(b >> 10));
}

int run_main(const struct run_opts *o)
{
	struct rt_model_opts mo = { .threads = o->threads, .n_ctx = o->n_ctx, .n_batch = o->n_batch,
				    .n_seq = o->n_parallel > 1 ? o->n_parallel : 1, .device = o->device,
				    .mem_budget = o->mem_budget, .vram_budget = o->vram_budget,
				    .kv_pool_fd = o->kv_pool_fd,
				    .mlock = o->mlock ? RT_MLOCK_REQUIRE : RT_MLOCK_AUTO,
				    .type_k = o->type_k, .type_v = o->type_v,
				    .flash_attn = o->flash_attn, .gpu = o->gpu,
				    .ctx_mode = o->kv_unified ? RT_CTX_UNIFIED : RT_CTX_SPLIT,
				    .moe_prefetch = o->moe_prefetch };
	struct rt_tokenizer *tok = NULL;
	struct rt_model *m = NULL, *dm = NULL;
	struct rt_session s = { 0 }, ds = { 0 };
	struct run_opts ro = *o;
	struct gen_stats st = { 0 };
	int32_t *ids = NULL;
	int n, ret;

	if (!o->prompt && !o->prompt_file && !o->chat) {
		fprintf(stderr, "accel-run: no prompt given (-p TEXT, -f FILE or --chat)\n");
		return -EINVAL;
	}
	accel_set_log(log_cb, (void *)o);
	ret = rt_model_load(o->model, &mo, &m);
	if (ret < 0)
		return run_fail(ret, o->model);
	warn_unpinned(o, m);
	ret = rt_tokenizer_load(rt_model_gguf(m), &tok);
	if (ret < 0) {
		run_fail(ret, "tokenizer");
		goto out;
	}
	if (o->verbose)
		fprintf(stderr, "accel-run: %s (%s), %d layers, dim %d, vocab %d, ctx %d\n",
			rt_model_hparams(m)->name, rt_model_hparams(m)->arch_name, rt_model_hparams(m)->n_layer, rt_model_hparams(m)->dim, rt_model_hparams(m)->n_vocab, rt_model_n_ctx(m));
	if (o->verbose) {
		char host[400], vram[400];

		if (rt_placement_describe(m, o->mem_budget != 0, host, sizeof(host), vram,
					  sizeof(vram)) == 0) {
			fprintf(stderr, "accel-run: placement: %s\n", host);
			if (vram[0])
				fprintf(stderr, "accel-run: placement: %s\n", vram);
		}
		fprintf(stderr, "accel-run: weights in host pools: %llu KiB, %llu KiB pageable, "
			"%llu KiB on 2 MiB pages\n",
			(unsigned long long)(rt_model_weight_bytes(m) >> 10),
			(unsigned long long)(rt_model_unpinned_bytes(m) >> 10),
			(unsigned long long)(rt_model_huge_bytes(m) >> 10));
		struct rt_kv_info kvi;

		rt_model_kv_info(m, &kvi);
		fprintf(stderr, "accel-run: KV cache K %s V %s (%llu bytes per token), flash "
			"attention %s\n", rt_kv_type_name(kvi.type_k), rt_kv_type_name(kvi.type_v),
			(unsigned long long)kvi.bytes_per_token, kvi.flash_attn ? "on" : "off");
		fprintf(stderr, "accel-run: KV pool: %u blocks of %d tokens, %llu bytes each, "
			"%llu KiB for %d sequence%s of up to %d positions%s\n", kvi.n_blocks,
			kvi.block_tokens, (unsigned long long)kvi.block_bytes,
			(unsigned long long)(kvi.pool_bytes >> 10), kvi.n_seq, kvi.n_seq > 1 ? "s" : "",
			kvi.n_ctx_seq, o->kv_unified ? " (unified: while blocks last)" : "");
		fprintf(stderr, "accel-run: seed %llu%s\n", (unsigned long long)o->sp.seed,
			o->seed_given ? "" : " (random; -s sets it)");
	}
	if (!rt_model_direct_io(m))
		fprintf(stderr, "accel-run: warning: %s: O_DIRECT refused, reading through the page cache\n",
			o->model);
	st.load_s = rt_model_load_seconds(m);
	ret = rt_session_init(&s, m, 0);
	if (ret < 0)
		goto out;
	if (!ro.n_draft) {	/* 8, or what one pass can verify */
		ro.n_draft = rt_model_max_logits(m) - 1 < 8 ? rt_model_max_logits(m) - 1 : 8;
		o = &ro;
	}
	if (o->draft_model) {
		/* resident, with the target's context and batch */
		struct rt_model_opts dmo = { .threads = o->threads, .n_ctx = rt_model_n_ctx(m),
					     .n_batch = o->n_batch, .device = o->device,
					     .type_k = o->type_k, .type_v = o->type_v,
					     .flash_attn = o->flash_attn };

		ret = rt_model_load(o->draft_model, &dmo, &dm);
		if (ret < 0 || (ret = rt_spec_check_vocab(m, dm)) < 0 ||
		    (ret = rt_session_init(&ds, dm, 0)) < 0) {
			run_fail(ret, o->draft_model);
			goto out;
		}
		ro.draft = &ds;
		o = &ro;
	}
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
	if (ret >= 0)
		ret = run_write("\n", 1);
	if (ret < 0) {
		run_fail(ret, "generate");
		goto out;
	}
	if (st.ctx_full)
		run_ctx_full(rt_model_n_ctx(m), 1, 1);
	if (o->verbose)
		fprintf(stderr, "accel-run: prefix cache: %d of %d prompt tokens reused\n",
			s.n_reused, n);
	run_print_stats(&st);
	run_print_stream(o, m);
out:
	free(ids);
	rt_session_fini(&ds);
	rt_model_free(dm);
	rt_session_fini(&s);
	rt_tokenizer_free(tok);
	rt_model_free(m);
	return ret;
}
