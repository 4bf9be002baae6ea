/* SPDX-License-Identifier: MIT */
/* accel-run: options and the generation driver. */
#ifndef ACCEL_RUN_H
#define ACCEL_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include "rt_sampler.h"
#include "tool_text.h"

/* -np: the most sequences one group decodes together */
#define RUN_MAX_PARALLEL 256

struct run_opts {
	const char *model, *prompt, *prompt_file, *device;
	int n_predict, n_ctx, n_batch, threads, n_parallel;
	bool ids, chat, chat_once, verbose;
	bool mlock;		/* --mlock: pinning refused is an error */
	bool kv_unified;	/* -kvu: each sequence may use all of -c */
	bool gpu;		/* --gpu: on CUDA GPU 0 */
	bool seed_given;	/* -s N: else a random seed (printed with -v) */
	uint64_t mem_budget;
	uint64_t vram_budget;
	int kv_pool_fd;		/* --kv-pool-fd N: a shared KV pool (0 = none) */
	int type_k, type_v;	/* -ctk/-ctv: enum rt_kv_type (0: f16) */
	int flash_attn;		/* -fa: enum rt_flash_attn (0: auto) */
	int moe_prefetch;	/* --moe-prefetch: enum rt_moe_prefetch (0: on) */
	struct rt_sampler_params sp;
	double pp_timeout;	/* --pp-timeout: seconds a pipeline rank waits for a peer */
	/* speculative decoding: --draft-model FILE or --lookup N, --draft K */
	const char *draft_model;
	const char *trace;	/* --trace FILE */
	int lookup, n_draft;
	float draft_p_min;	/* --draft-p-min */
	struct rt_session *draft;	/* the draft model's session (run_main) */
};

int run_main(const struct run_opts *o);
/** pipeline_main - under mpirun (pipeline.c): this rank's part of the run */
int pipeline_main(const struct run_opts *o);

struct rt_model;
struct rt_tokenizer;
struct rt_session;

struct gen_stats {
	double load_s;
	int n_prompt, n_gen;
	double t_prompt, t_gen;
	bool ctx_full;		/* generation stopped at the context's end */
	int n_passes, n_drafted, n_accepted;	/* speculation */
};

/** run_gen_start - a generation's start: the turn fits @n_ctx after @n_past,
 *  *@smp made from o->sp and fed the turn, the turn printed with --ids; 0 or
 *  -errno (the error message set, nothing to free) */
int run_gen_start(const struct run_opts *o, int n_past, int n_ctx, int n_vocab,
		  const int32_t *ids, int n, struct rt_sampler **smp);
/** run_generate - feed @ids, then sample and print until EOG or -n; the
 *  printed text is appended to @reply when given */
int run_generate(const struct run_opts *o, struct rt_model *m, struct rt_tokenizer *tok,
		 struct rt_session *s, const int32_t *ids, int n, struct gen_stats *st,
		 struct tool_text *reply);
/** run_tokenize - parse_special tokenization into a malloc'd array */
int run_tokenize(struct rt_tokenizer *tok, const char *text, bool add_special, int32_t **out);
void run_print_stats(const struct gen_stats *st);
/** -v: bytes streamed, the expert cache's and the expert prediction's counters */
void run_print_stream(const struct run_opts *o, const struct rt_model *m);
struct rt_detok;
/** run_detok - the text of token @id, whatever its length, into @t's buffer
 *  (grown as needed); returns its length or a negative errno (error set) */
int run_detok(struct rt_detok *dt, struct rt_tokenizer *tok, int32_t id, struct tool_text *t);
/** run_write - @n bytes to stdout, flushed; a write error (a full disk) is
 *  -errno with the error set */
int run_write(const void *p, size_t n);
/** run_ctx_full - the one stderr line: generation stopped at the context */
void run_ctx_full(int n_ctx, int n_stopped, int n_seqs);
/** run_parallel - -np N / -f FILE: prompts decoded N at a time */
int run_parallel(const struct run_opts *o, struct rt_model *m, struct rt_tokenizer *tok);
/** run_fail - print rt_last_error() (or @what: strerror) as one line; returns @ret */
int run_fail(int ret, const char *what);
/** run_chat - --chat (interactive) or --chat-once (-p as one user turn) */
int run_chat(const struct run_opts *o, struct rt_model *m, struct rt_tokenizer *tok,
	     struct rt_session *s);
/** run_gen_fn - feed @ids after what the conversation holds, then sample,
 *  print and append to @reply as run_generate does */
typedef int (*run_gen_fn)(void *ctx, const int32_t *ids, int n, struct gen_stats *st,
			  struct tool_text *reply);
/** run_chat_with - run_chat over another generator (the pipeline's): @m gives
 *  the template and the context */
int run_chat_with(const struct run_opts *o, struct rt_model *m, struct rt_tokenizer *tok,
		  run_gen_fn gen, void *ctx);

#endif
