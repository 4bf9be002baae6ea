// SPDX-License-Identifier: MIT
/*
 * The whole forward pass on the GPU (rt_model_opts.gpu, resident) against
 * the CPU path on the same models: teacher-forced over the CPU's greedy
 * continuation of a prompt, the GPU's top-1 agrees with the CPU's at >= 99%
 * of positions and every position's logits are within NMSE 1e-4 (the GPU
 * sums in other orders and runs prefill through FP16 tiles: Documentation/
 * cuda.rst); a prompt longer than the GEMV's column limit takes the prefill
 * path, the continuation the decode path. Needs a CUDA device: elsewhere
 * (CI) it reports "1..0 # SKIP no CUDA device" with the reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "rt_error.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"
#include "tap.h"

#define N_PROMPT	24	/* > 8 columns: the prefill GEMM path */
#define N_GEN		40

static const char *const models[] = {
	"stories260K.gguf",
	"random/tiny-llama-random-dense-f32.gguf",
	"random/tiny-llama3-ropefreqs-random-f32.gguf",
	"random/tiny-qwen2-random-f32.gguf",
	"random/tiny-qwen3-random-f32.gguf",
	"random/tiny-mixtral-random-4x2-q8_0.gguf",
	"random/tiny-qwen3moe-random-f32.gguf",
	"random/small-random-q5_k.gguf",
	"random/small-random-q6_k.gguf",
};
#define N_MODELS	(int)(sizeof(models) / sizeof(models[0]))

static double nmse(const float *a, const float *ref, int n)
{
	double e = 0, r = 0;

	for (int i = 0; i < n; i++) {
		e += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
		r += (double)ref[i] * ref[i];
	}
	return r > 0 ? e / r : e;
}

/* the CPU's greedy run: ids[0..N_PROMPT) a fixed prompt, then N_GEN greedy
 * ids; logits[p] the CPU's logits after feeding ids[0..p] */
static int cpu_run(struct rt_model *m, int32_t *ids, float *logits, int nv)
{
	struct rt_session s;
	const float *lg;
	int ret;

	for (int i = 0; i < N_PROMPT; i++)
		ids[i] = (int32_t)((i * 2654435761u + 3) % (uint32_t)nv);
	if ((ret = rt_session_init(&s, m, 0)) < 0)
		return ret;
	ret = rt_session_feed(&s, ids, N_PROMPT, &lg);
	for (int p = N_PROMPT; p < N_PROMPT + N_GEN && ret >= 0; p++) {
		memcpy(logits + (size_t)(p - N_PROMPT) * nv, lg, sizeof(float) * (size_t)nv);
		ids[p] = rt_argmax(lg, nv);
		if (p + 1 < N_PROMPT + N_GEN)
			ret = rt_session_feed(&s, &ids[p], 1, &lg);
	}
	rt_session_fini(&s);
	return ret < 0 ? ret : 0;
}

static void check_model(const char *dir, const char *name)
{
	char path[2200];
	struct rt_model_opts cpu_o = { .threads = 2, .n_ctx = 128 }, gpu_o = cpu_o;
	struct rt_model *cm = NULL, *gm = NULL;
	struct rt_session s;
	int32_t ids[N_PROMPT + N_GEN];
	const float *lg;
	float *ref = NULL;
	double worst = 0;
	int nv, agree = 0, total = 0, ret;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	gpu_o.gpu = 1;
	if (rt_model_load(path, &cpu_o, &cm) < 0 || rt_model_load(path, &gpu_o, &gm) < 0) {
		ok(0, "%s: load on the CPU and the GPU: %s", name, rt_last_error());
		ok(0, "%s: logits", name);
		goto out;
	}
	nv = rt_model_hparams(cm)->n_vocab;
	ref = malloc(sizeof(float) * (size_t)nv * N_GEN);
	if (!ref || cpu_run(cm, ids, ref, nv) < 0)
		bail_out("%s: the CPU run failed: %s", name, rt_last_error());
	ret = rt_session_init(&s, gm, 0);
	if (ret >= 0)
		ret = rt_session_feed(&s, ids, N_PROMPT, &lg);
	for (int p = N_PROMPT; p < N_PROMPT + N_GEN && ret >= 0; p++) {
		const float *r = ref + (size_t)(p - N_PROMPT) * nv;
		double e = nmse(lg, r, nv);

		agree += rt_argmax(lg, nv) == rt_argmax(r, nv);
		total++;
		worst = e > worst ? e : worst;
		if (p + 1 < N_PROMPT + N_GEN)
			ret = rt_session_feed(&s, &ids[p], 1, &lg);
	}
	if (ret >= 0)
		rt_session_fini(&s);
	ok(ret >= 0 && total == N_GEN && agree >= 0.99 * total,
	   "%s: teacher-forced top-1 agreement GPU vs CPU %d/%d (>= 99%%)%s%s", name, agree, total,
	   ret < 0 ? ": " : "", ret < 0 ? rt_last_error() : "");
	ok(ret >= 0 && worst <= 1e-4, "%s: logits NMSE GPU vs CPU, worst position %.3g (<= 1e-4)",
	   name, worst);
out:
	free(ref);
	rt_model_free(gm);
	rt_model_free(cm);
}

int main(void)
{
	const char *top = getenv("ACCEL_TOP");
	const char *build = getenv("ACCEL_BUILD");
	struct rt_model_opts o = { .threads = 1, .n_ctx = 64, .gpu = 1 };
	struct rt_model *m = NULL;
	char dir[1024], so[1024], path[1100];

	snprintf(dir, sizeof(dir), "%s/tests/models", top ? top : ".");
	/* test programs live in build/tests/SUITE: point libaccel at the build's
	 * backend object unless the caller chose one (a bundle) */
	if (!getenv("ACCEL_GPU_LIB") && build) {
		snprintf(so, sizeof(so), "%s/lib/libaccel-cuda.so.1", build);
		if (access(so, F_OK) == 0)
			setenv("ACCEL_GPU_LIB", so, 1);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, models[0]);
	if (rt_model_load(path, &o, &m) < 0) {
		const char *why = rt_last_error();

		if (strstr(why, "--gpu: no") || strstr(why, "--gpu: cannot load"))
			plan_skip_all("no CUDA device (%s)", why);
		plan(1);
		ok(0, "%s on the GPU: %s", models[0], why);
		return done_testing();
	}
	rt_model_free(m);
	plan(2 * N_MODELS);
	for (int i = 0; i < N_MODELS; i++)
		check_model(dir, models[i]);
	return done_testing();
}
