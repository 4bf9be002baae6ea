// SPDX-License-Identifier: MIT
/*
 * Batched decoding: N sequences generated together (one forward pass per step,
 * mixed prefill of every prompt) give exactly the greedy ids of each sequence
 * run alone, resident and under a streaming budget; bad arguments are refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "rt_generate.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"
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

static int collect(int seq, int32_t id, void *arg)
{
	struct got *g = arg;

	if (g->n[seq] >= N_GEN)
		return -ERANGE;
	g->ids[seq][g->n[seq]++] = id;
	return 0;
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

static void check(const char *what, uint64_t budget)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 64, .n_batch = 16, .n_seq = N_SEQ,
				    .mem_budget = budget };
	struct rt_sampler_params sp;
	struct rt_gen_stats st;
	struct rt_model *m;
	struct got g;
	int32_t ref[N_GEN];
	int ret;

	memset(&g, 0, sizeof(g));
	rt_sampler_defaults(&sp);
	sp.temp = 0;
	if (!ok(rt_model_load(tap_path("tests/models/stories260K.gguf"), &mo, &m) == 0, "%s: load",
		what)) {
		diag("%s", rt_last_error());
		return;
	}
	ret = rt_generate_parallel(m, NULL, N_SEQ, prompts, n_prompt, N_GEN, &sp, collect, &g, &st);
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

int main(void)
{
	check("resident", 0);
	check("streamed", 600 << 10);
	return done_testing();
}
