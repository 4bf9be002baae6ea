// SPDX-License-Identifier: MIT
/*
 * Pipeline stages in one process: a model split by rt_model_split into 2 and
 * 3 layer ranges, each loaded on its own (resident, and streamed under the
 * smallest budget it loads with), chained through rt_model_forward_stage,
 * gives logits bit-identical to the whole model's for two sequences through
 * a chunked prefill and greedy decode steps (dense, MoE, tied head). A stage
 * reads and places only its own layers; rt_model_forward refuses a partial
 * model; bad ranges are refused; the split follows the stages' weights.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "rt_error.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_stream.h"
#include "tap.h"

#define N_STEPS 6
#define MAX_STAGES 3

static const int32_t p0[] = { 1, 403, 407, 261, 378 };
static const int32_t p1[] = { 1, 300, 45, 9 };

/* every logits row of the schedule, in order */
struct rec {
	float *rows;
	int n_rows, cap, n_vocab;
	int32_t ids[2][N_STEPS];
};

static int rec_add(struct rec *r, const float *lg, int n)
{
	if (n == 0)		/* a prefill batch without a last prompt token */
		return 0;
	if (r->n_rows + n > r->cap) {
		int cap = (r->n_rows + n) * 2;
		float *p = realloc(r->rows, sizeof(float) * r->n_vocab * cap);

		if (!p)
			return -ENOMEM;
		r->rows = p;
		r->cap = cap;
	}
	memcpy(r->rows + (size_t)r->n_rows * r->n_vocab, lg, sizeof(float) * r->n_vocab * n);
	r->n_rows += n;
	return 0;
}

/* the batch through every stage in turn; *lg = the last stage's logits */
static int chain(struct rt_model **st, int ns, const struct rt_batch *b, const float **lg)
{
	const float *x = NULL;
	int ret = 0;

	for (int s = 0; s < ns && ret >= 0; s++)
		ret = rt_model_forward_stage(st[s], b, x, s + 1 < ns ? &x : lg);
	return ret;
}

/* prefill both prompts in batches of 4 (a batch spans both), then greedy steps */
static int schedule(struct rt_model **st, int ns, struct rec *r)
{
	int32_t tok[16], pos[16], seq[16];
	int8_t want[16];
	int n = 0, ret;
	const float *lg;
	int32_t next[2] = { 0, 0 };
	int past[2] = { 5, 4 };

	r->n_vocab = rt_model_hparams(st[0])->n_vocab;
	for (int s = 0; s < ns; s++)
		for (int q = 0; q < 2; q++)
			if ((ret = rt_model_kv_clear(st[s], q)) < 0 ||
			    (ret = rt_model_kv_reserve(st[s], q, 5 + N_STEPS)) < 0)
				return ret;
	for (int i = 0; i < 5; i++) {
		tok[n] = p0[i] % r->n_vocab, pos[n] = i, seq[n] = 0, want[n++] = i == 4;
	}
	for (int i = 0; i < 4; i++) {
		tok[n] = p1[i] % r->n_vocab, pos[n] = i, seq[n] = 1, want[n++] = i == 3;
	}
	for (int c = 0; c < n; c += 4) {
		int k = n - c < 4 ? n - c : 4;
		struct rt_batch b = { .n = k, .tokens = tok + c, .pos = pos + c,
				      .seq = seq + c, .logits = want + c };

		if ((ret = chain(st, ns, &b, &lg)) < 0)
			return ret;
		if ((ret = rec_add(r, lg, ret)) < 0)
			return ret;
		for (int i = 0, o = 0; i < k; i++)
			if (want[c + i])
				next[seq[c + i]] = rt_argmax(lg + (size_t)r->n_vocab * o++, r->n_vocab);
	}
	for (int step = 0; step < N_STEPS; step++) {
		struct rt_batch b = { .n = 2, .tokens = tok, .pos = pos, .seq = seq, .logits = want };

		for (int q = 0; q < 2; q++) {
			r->ids[q][step] = next[q];
			tok[q] = next[q], pos[q] = past[q]++, seq[q] = q, want[q] = 1;
		}
		if (step + 1 == N_STEPS)
			break;
		if ((ret = chain(st, ns, &b, &lg)) < 0)
			return ret;
		if ((ret = rec_add(r, lg, ret)) < 0)
			return ret;
		for (int q = 0; q < 2; q++)
			next[q] = rt_argmax(lg + (size_t)r->n_vocab * q, r->n_vocab);
	}
	return 0;
}

/* the smallest budget (8 KiB steps) stage [l0, l1) loads with, streaming;
 * 0 when it never streams (one layer: two slots hold more than the layer) */
static uint64_t stage_min_budget(const char *path, struct rt_model_opts mo)
{
	for (uint64_t b = 8 << 10; b < (256ULL << 20); b += b < (1 << 20) ? 8 << 10 : 256 << 10) {
		struct rt_model *m;
		int streams;

		mo.mem_budget = b;
		if (rt_model_load(path, &mo, &m) == 0) {
			streams = rt_stream_stats(m, NULL, NULL) == 0;
			rt_model_free(m);
			return streams ? b : 0;
		}
	}
	return 0;
}

static void free_stages(struct rt_model **st, int ns)
{
	for (int s = 0; s < ns; s++) {
		rt_model_free(st[s]);
		st[s] = NULL;
	}
}

/* 2 tests per (stage count, placement) */
static void check_split(const char *rel, const char *path, const struct rec *ref, int ns,
			bool streamed)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 64, .n_batch = 4, .n_seq = 2 };
	struct rt_model *st[MAX_STAGES] = { 0 };
	int first[MAX_STAGES + 1];
	struct rec got = { 0 };
	const char *how = streamed ? "streamed" : "resident";
	int ret, n_streaming = 0;
	char which[64] = "";

	if (!ok(rt_model_split(path, ns, NULL, first) == 0, "%s: split into %d stages", rel, ns)) {
		diag("%s", rt_last_error());
		ok(0, "%s: no split, no run", rel);
		return;
	}
	for (int s = 0; s < ns; s++) {
		struct rt_model_opts so = mo;

		so.layer_first = first[s];
		so.layer_end = first[s + 1];
		if (streamed) {
			so.head_chunks = 4;	/* a one-layer stage with the head can stream */
			so.mem_budget = stage_min_budget(path, so);
		}
		if ((ret = rt_model_load(path, &so, &st[s])) < 0) {
			ok(0, "%s: %d stages %s: stage %d (layers %d..%d) loads: %s", rel, ns, how, s,
			   first[s], first[s + 1] - 1, rt_last_error());
			free_stages(st, ns);
			return;
		}
		if (streamed) {
			struct rt_placement pl;
			int used = 0, streamed_units = 0;

			if (rt_stream_stats(st[s], NULL, &pl) == 0) {
				for (int u = 0; u < pl.n_units; u++) {
					used += pl.unit_bytes[u] > 0;
					streamed_units += !pl.resident[u];
				}
				/* placement saw only the stage's own units */
				if (used != first[s + 1] - first[s] +
					    (s + 1 == ns ? pl.n_units - rt_model_hparams(st[s])->n_layer : 0))
					streamed_units = -1;
				n_streaming++;
				snprintf(which + strlen(which), sizeof(which) - strlen(which),
					 " %d:%d/%d", s, streamed_units, used);
			}
		}
	}
	ret = schedule(st, ns, &got);
	ok(!streamed || (n_streaming > 0 && !strstr(which, ":-1")),
	   "%s: %d stages: streamed units/placed units per streaming stage:%s", rel, ns,
	   streamed ? which : " (resident)");
	ok(ret == 0 && got.n_rows == ref->n_rows &&
	   !memcmp(got.rows, ref->rows, sizeof(float) * ref->n_vocab * ref->n_rows) &&
	   !memcmp(got.ids, ref->ids, sizeof(got.ids)),
	   "%s: %d stages (layers %d|%d%s%s), %s: %d logits rows and greedy ids bit-identical "
	   "to the whole model%s%s", rel, ns, first[1], ns > 2 ? first[2] : first[ns],
	   ns > 2 ? "|" : "", "", how, got.n_rows, ret < 0 ? ": " : "",
	   ret < 0 ? rt_last_error() : "");
	free(got.rows);
	free_stages(st, ns);
}

static int n_layers_of(const char *path)
{
	struct rt_model_opts mo = { .threads = 1, .n_ctx = 16 };
	struct rt_model *m;
	int n;

	if (rt_model_load(path, &mo, &m) < 0)
		return -1;
	n = rt_model_hparams(m)->n_layer;
	rt_model_free(m);
	return n;
}

/* 1 + 3 per stage count up to @max_stages, 3 more with @streams */
static void check_model(const char *rel, const char *path, int max_stages, bool streams)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = 64, .n_batch = 4, .n_seq = 2 };
	struct rt_model *whole[1];
	struct rec ref = { 0 };
	int nl = n_layers_of(path);

	if (!ok(nl > 0 && rt_model_load(path, &mo, &whole[0]) == 0 &&
		schedule(whole, 1, &ref) == 0, "%s: the whole model's run (%d layers)", rel, nl)) {
		diag("%s", rt_last_error());
		for (int i = 0; i < (streams ? 6 : 3) * (max_stages - 1); i++)
			ok(0, "%s: no reference run", rel);
		return;
	}
	rt_model_free(whole[0]);
	for (int ns = 2; ns <= max_stages; ns++)
		for (int streamed = 0; streamed < 1 + streams; streamed++)
			check_split(rel, path, &ref, ns, streamed);
	free(ref.rows);
}

static void check_refusals(void)
{
	const char *path = tap_path("tests/models/stories260K.gguf");
	struct rt_model_opts mo = { .threads = 1, .n_ctx = 16, .layer_first = 2, .layer_end = 5 };
	struct rt_model *m = NULL;
	int32_t tok = 1, pos = 0, seq = 0;
	int8_t want = 1;
	struct rt_batch b = { .n = 1, .tokens = &tok, .pos = &pos, .seq = &seq, .logits = &want };
	const float *out;
	int first[4], l0 = -1, l1 = -1;
	double w[3] = { 1, 1, 4 };
	int ret;

	ret = rt_model_load(path, &mo, &m);
	ok(ret == 0, "layers 2..4 of stories260K load: %s", ret ? rt_last_error() : "ok");
	if (m) {
		rt_model_layers(m, &l0, &l1);
		is_int(l0 * 10 + l1, 25, "rt_model_layers gives [2, 5)");
		rt_model_kv_reserve(m, 0, 1);
		ret = rt_model_forward(m, &b, &out);
		ok(ret == -EINVAL && strstr(rt_last_error(), "stage"),
		   "rt_model_forward refuses a partial model: %s", rt_last_error());
		ret = rt_model_forward_stage(m, &b, NULL, &out);
		ok(ret == -EINVAL && strstr(rt_last_error(), "hidden state"),
		   "a stage after layer 0 without a hidden state is refused: %s", rt_last_error());
		rt_model_free(m);
	} else {
		skip(3, "no model");
	}
	mo.layer_first = 3;
	mo.layer_end = 3;
	ret = rt_model_load(path, &mo, &m);
	ok(ret == -EINVAL && strstr(rt_last_error(), "layer range"), "empty range refused: %s",
	   rt_last_error());
	mo.layer_first = 0;
	mo.layer_end = 6;
	ret = rt_model_load(path, &mo, &m);
	ok(ret == -EINVAL && strstr(rt_last_error(), "layer range"),
	   "range past the last layer refused: %s", rt_last_error());

	ret = rt_model_split(path, 3, NULL, first);
	ok(ret == 0 && first[0] == 0 && first[3] == 5 && first[0] < first[1] &&
	   first[1] < first[2] && first[2] < first[3], "3 equal stages of 5 layers: %d|%d|%d|%d",
	   first[0], first[1], first[2], first[3]);
	{
		int eq2 = first[2];

		ret = rt_model_split(path, 3, w, first);
		ok(ret == 0 && first[2] <= eq2 && 5 - first[2] >= 2,
		   "a stage weighted 4:1:1 takes more layers: %d|%d|%d|%d", first[0], first[1],
		   first[2], first[3]);
	}
	ret = rt_model_split(path, 6, NULL, first);
	ok(ret == -EINVAL && strstr(rt_last_error(), "6 pipeline stages"),
	   "more stages than layers refused: %s", rt_last_error());
}

int main(void)
{
	/* the 2-layer models make 2 one-layer stages, which cannot stream (two
	 * slots hold more than the layer); 6-layer MoE models from accel-mkmodel
	 * (Mixtral-style Q8_0 and Qwen3-MoE F32) stream in 2 and 3 stages */
	static const struct { const char *rel, *preset, *type; int max_stages; bool streams; } models[] = {
		{ "tests/models/stories260K.gguf", NULL, NULL, 3, true },
		{ "tests/models/random/tiny-llama-random-dense-f32.gguf", NULL, NULL, 2, false },
		{ "tests/models/random/tiny-mixtral-random-4x2-q8_0.gguf", NULL, NULL, 2, false },
		{ "tiny-moe 6 layers", "tiny-moe", "q8_0", 3, true },
		{ "tiny-qwen3moe 6 layers", "tiny-qwen3moe", "f32", 3, true },
	};
	const char *smol = tap_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
	const char *b = getenv("ACCEL_BUILD");
	char dir[4096], path[4200], cmd[9000];
	struct stat sb;
	int n = 0;

	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		n += 1 + (models[i].streams ? 6 : 3) * (models[i].max_stages - 1);
	plan(n + 13 + 9);
	snprintf(dir, sizeof(dir), "%s/test_stage.XXXXXX", b && *b ? b : "/tmp");
	if (!mkdtemp(dir))
		bail_out("mkdtemp %s", dir);
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		if (!models[i].preset) {
			check_model(models[i].rel, tap_path(models[i].rel), models[i].max_stages,
				    models[i].streams);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s.gguf", dir, models[i].preset);
		snprintf(cmd, sizeof(cmd), "'%s/bin/accel-mkmodel' --preset %s --layers 6 --type %s "
			 "-o '%s' >/dev/null 2>&1", b && *b ? b : "build", models[i].preset,
			 models[i].type, path);
		if (system(cmd) != 0)
			diag("%s failed", cmd);
		check_model(models[i].rel, path, models[i].max_stages, models[i].streams);
		unlink(path);
	}
	rmdir(dir);
	/* a tied output head (the head is the embedding) */
	if (stat(smol, &sb) == 0)
		check_model("models/SmolLM2-135M-Instruct.Q4_1.gguf", smol, 3, true);
	else
		skip_ref(13, "models/SmolLM2-135M-Instruct.Q4_1.gguf absent (make model)");
	check_refusals();
	return done_testing();
}
