// SPDX-License-Identifier: MIT
/*
 * Batched decoding: N sequences generated together (one forward pass per step,
 * mixed prefill of every prompt) give exactly the greedy ids of each sequence
 * run alone, resident and under a streaming budget, with every KV cache type
 * (-ctk/-ctv) and flash attention on and off; a prompt whose blocks another
 * session published reuses them (prefix cache) and gives the same ids;
 * bad arguments are refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "rt_generate.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"
#include "rt_collect.h"
#include "tap.h"

#define N_SEQ 4
#define N_GEN 16

static const int32_t p0[] = { 1, 403, 407, 261, 378 };
static const int32_t p1[] = { 1, 291, 376, 400 };
static const int32_t p2[] = { 1, 385, 328, 432, 317, 263, 377, 267, 265 };
static const int32_t p3[] = { 1, 403 };
static const int32_t *const prompts[N_SEQ] = { p0, p1, p2, p3 };
static const int n_prompt[N_SEQ] = { 5, 4, 9, 2 };

struct got {
	int32_t ids[N_SEQ][N_GEN];
	int n[N_SEQ];
};

/* rt_test_collect's view of @g */
static struct rt_test_ids ids_of(struct got *g)
{
	return (struct rt_test_ids){ .ids = &g->ids[0][0], .n = g->n, .n_max = N_GEN };
}

static void alone(struct rt_model *m, int i, int32_t *out)
{
	struct rt_session s;
	const float *lg;
	int ret;

	rt_session_init(&s, m, 0);
	ret = rt_session_feed(&s, prompts[i], n_prompt[i], &lg);
	for (int j = 0; j < N_GEN && ret >= 0; j++) {
		out[j] = rt_argmax(lg, rt_model_hparams(m)->n_vocab);
		if (j + 1 < N_GEN)
			ret = rt_session_feed(&s, &out[j], 1, &lg);
	}
	rt_session_fini(&s);
}

static void check(const char *what, const char *model, uint64_t budget, int tk, int tv, int fa)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 64, .n_batch = 16, .n_seq = N_SEQ,
				    .mem_budget = budget, .type_k = tk, .type_v = tv,
				    .flash_attn = fa };
	struct rt_sampler_params sp;
	struct rt_gen_stats st;
	struct rt_model *m;
	struct got g;
	struct rt_test_ids c = ids_of(&g);
	int32_t ref[N_GEN];
	int ret;

	memset(&g, 0, sizeof(g));
	rt_sampler_defaults(&sp);
	sp.temp = 0;
	if (!ok(rt_model_load(tap_path(model), &mo, &m) == 0, "%s: load", what)) {
		diag("%s", rt_last_error());
		return;
	}
	ret = rt_generate_parallel(m, NULL, N_SEQ, prompts, n_prompt, N_GEN, &sp, rt_test_collect, &c,
				   &st);
	ok(ret == 0, "%s: %d sequences together: %s", what, N_SEQ, ret ? rt_last_error() : "ok");
	ok(st.n_steps == N_GEN - 1 && st.n_gen == N_SEQ * N_GEN,
	   "%s: %d decode passes for %d tokens", what, st.n_steps, st.n_gen);
	for (int i = 0; i < N_SEQ; i++) {
		alone(m, i, ref);
		ok(g.n[i] == N_GEN && !memcmp(g.ids[i], ref, sizeof(ref)),
		   "%s: sequence %d identical to its run alone", what, i);
	}
	ret = rt_generate_parallel(m, NULL, N_SEQ + 1, prompts, n_prompt, N_GEN, &sp, NULL, NULL, &st);
	ok(ret == -EINVAL, "%s: more sequences than loaded refused: %s", what, rt_last_error());
	rt_model_free(m);
}

/* a 40-token prompt twice: the second session takes the first one's
 * published blocks (2 of 16 tokens) and generates the same ids */
static void prefix(const char *what, const char *model, int tk, int tv, int fa)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 128, .n_seq = 2, .type_k = tk,
				    .type_v = tv, .flash_attn = fa };
	int32_t prompt[40], out[2][N_GEN];
	struct rt_session s;
	struct rt_model *m;
	const float *lg;
	int reused = -1, ret = 0;

	for (int i = 0; i < 40; i++)
		prompt[i] = 1 + (i * 37) % 500;
	if (!ok(rt_model_load(tap_path(model), &mo, &m) == 0, "%s: load", what)) {
		diag("%s", rt_last_error());
		return;
	}
	for (int r = 0; r < 2; r++) {
		rt_session_init(&s, m, r);
		ret = rt_session_feed(&s, prompt, 40, &lg);
		for (int j = 0; j < N_GEN && ret >= 0; j++) {
			out[r][j] = rt_argmax(lg, rt_model_hparams(m)->n_vocab);
			if (j + 1 < N_GEN)
				ret = rt_session_feed(&s, &out[r][j], 1, &lg);
		}
		if (r)
			reused = s.n_reused;
		rt_session_fini(&s);
	}
	ok(ret >= 0 && reused == 32 && !memcmp(out[0], out[1], sizeof(out[0])),
	   "%s: prefix cache: %d of 40 positions reused, the same %d ids", what, reused, N_GEN);
	rt_model_free(m);
}

int main(void)
{
	static const char *const stories = "tests/models/stories260K.gguf";
	static const char *const qmoe = "tests/models/random/tiny-qwen3moe-random-q8_0.gguf";
	/* -ctk -ctv -fa: llama.cpp's defaults (0), and every type, K and V apart */
	static const struct {
		const char *name;
		int tk, tv, fa;
	} kv[] = {
		{ "f32 f32 off", RT_KV_F32, RT_KV_F32, RT_FA_OFF },
		{ "defaults (f16 f16, flash)", 0, 0, 0 },
		{ "f16 f16 off", RT_KV_F16, RT_KV_F16, RT_FA_OFF },
		{ "q8_0 q8_0 on", RT_KV_Q8_0, RT_KV_Q8_0, RT_FA_ON },
		{ "q8_0 f32 off", RT_KV_Q8_0, RT_KV_F32, RT_FA_OFF },
		{ "f32 q8_0 on", RT_KV_F32, RT_KV_Q8_0, RT_FA_ON },
	};
	char what[128];

	plan(4 * (N_SEQ + 4) + 6 * (N_SEQ + 4 + 2));
	/* stories260K (head_dim 8: no q8_0): resident and streamed */
	for (int i = 0; i < 2; i++) {
		snprintf(what, sizeof(what), "stories260K resident, %s", kv[i].name);
		check(what, stories, 0, kv[i].tk, kv[i].tv, kv[i].fa);
		snprintf(what, sizeof(what), "stories260K streamed, %s", kv[i].name);
		check(what, stories, 600 << 10, kv[i].tk, kv[i].tv, kv[i].fa);
	}
	/* tiny Qwen3-MoE Q8_0 (head_dim 32): every type */
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		snprintf(what, sizeof(what), "qwen3moe q8_0, %s", kv[i].name);
		check(what, qmoe, 0, kv[i].tk, kv[i].tv, kv[i].fa);
		prefix(what, qmoe, kv[i].tk, kv[i].tv, kv[i].fa);
	}
	return done_testing();
}
