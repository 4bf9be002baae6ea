// SPDX-License-Identifier: MIT
/*
 * accel-bench decode: prompt-processing and generation tokens/s of the
 * runtime, and llama.cpp's (llama-bench from tests/golden's build, when
 * present) on the same model in the same run, printed as ratios; both
 * with the same KV cache settings (-ctk/-ctv/-fa, llama.cpp's defaults:
 * f16, f16, auto). -r rounds, each one repetition of ours then one of
 * llama-bench's; each side's best round counts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>
#include "rt_stream.h"
#include "kn.h"	/* the ISA the kernels run (accel-bench may see the kernels) */
#include "rt_error.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_session.h"

#include "bench.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds (user + system, every thread) of this process or of its reaped children */
static double cpu_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/* a number after "@key": in a JSON line (-1 if absent) */
static double json_num(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	return p ? atof(p + strlen(key)) : -1;
}

/*
 * the best repetition's tokens/s in a JSON line's "samples_ts": [ ... ]:
 * ours is the best of our repetitions, so llama.cpp's must be too (its
 * avg_ts, the mean, counts every preemption of a shared machine against it)
 */
static double json_best_ts(const char *line)
{
	const char *p = strstr(line, "\"samples_ts\": [");
	double best = 0;

	if (!p)
		return 0;
	p += strlen("\"samples_ts\": [");
	while (*p && *p != ']') {
		char *end;
		double v = strtod(p, &end);

		if (end == p)
			break;
		if (v > best)
			best = v;
		p = end + strspn(end, " ,");
	}
	return best;
}

/* llama-bench's JSON lines: the best repetition's tokens/s of the pp and tg tests */
static int run_llama_bench(const char *bin, const char *model, int threads, int pp, int tg,
			   int reps, const struct rt_kv_info *kv, double *pp_ts, double *tg_ts)
{
	char cmd[8400], line[16384];
	FILE *p;

	/* our KV settings, resolved (-fa auto is on for both) */
	snprintf(cmd, sizeof(cmd), "'%s' -m '%s' -t %d -p %d -n %d -r %d -ctk %s -ctv %s -fa %s "
		 "-o jsonl 2>/dev/null", bin, model, threads, pp, tg, reps,
		 rt_kv_type_name(kv->type_k), rt_kv_type_name(kv->type_v),
		 kv->flash_attn ? "on" : "off");
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	*pp_ts = *tg_ts = 0;
	while (fgets(line, sizeof(line), p)) {
		const double np = json_num(line, "\"n_prompt\": ");
		const double ng = json_num(line, "\"n_gen\": ");
		const double ts = json_best_ts(line);

		if (np > 0 && ng == 0)
			*pp_ts = ts;
		else if (ng > 0 && np == 0)
			*tg_ts = ts;
	}
	pclose(p);
	return (*pp_ts > 0 || !pp) && (*tg_ts > 0 || !tg) ? 0 : -EIO;
}

/*
 * llama-bench's CPU seconds per token of a pp-token prompt (or, with @gen,
 * of generated tokens): one run of 3 repetitions less one run of 1, so
 * loading the model and the warm-up cancel and 2 repetitions remain. (A
 * run of 1 token less, as this once did, took a one-token prompt's cost,
 * a decode step's, off 63 batched prompt tokens': a Q8_0 7B-shape prompt
 * token read 8.65 ms that way and 9.77 ms this way.)
 */
static int llama_cpu_per_token(const char *bin, const char *model, int threads, int n, bool gen,
			       const struct rt_kv_info *kv, double *out)
{
	double c0, c1, c2, ts0, ts1;
	int ret;

	c0 = cpu_s(RUSAGE_CHILDREN);
	ret = run_llama_bench(bin, model, threads, gen ? 0 : n, gen ? n : 0, 3, kv, &ts0, &ts1);
	c1 = cpu_s(RUSAGE_CHILDREN);
	if (!ret)
		ret = run_llama_bench(bin, model, threads, gen ? 0 : n, gen ? n : 0, 1, kv, &ts0,
				      &ts1);
	c2 = cpu_s(RUSAGE_CHILDREN);
	if (ret)
		return ret;
	*out = ((c1 - c0) - (c2 - c1)) / (2.0 * n);
	return *out > 0 ? 0 : -EIO;
}

int bench_decode_main(int argc, char **argv)
{
	const char *model = NULL, *llama = NULL;
	int threads = 2, pp = 128, tg = 64, reps = 3, ret;
	struct rt_model_opts mo = { 0 };
	struct rt_model *m = NULL;
	struct rt_session s;
	const float *logits;
	double best_pp = 0, best_tg = 0, cpu_pp = 1e30, cpu_tg = 1e30, lpp = 0, ltg = 0;
	bool have_llama, llama_ok = true;
	int32_t *ids;
	char def[4200];
	const char *isa = kn_isa_get() == KN_ISA_AVX512 ? "avx512" :
			  kn_isa_get() == KN_ISA_AVX2 ? "avx2" : "scalar";
	struct rt_kv_info kv;
	static const char *const usage = "decode -m MODEL [-t THREADS] [-p PROMPT_TOKENS] "
		"[-n GEN_TOKENS] [-r REPS] [-ctk f32|f16|q8_0] [-ctv f32|f16|q8_0] "
		"[-fa on|off|auto] [--llama-bench PATH] [--gpu [--vram-budget B] [--mem-budget B]]";

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		const bool ctk = !strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k");
		const bool ctv = !strcmp(a, "-ctv") || !strcmp(a, "--cache-type-v");
		const bool fa = !strcmp(a, "-fa") || !strcmp(a, "--flash-attn");

		if (!strcmp(a, "--gpu")) {
			mo.gpu = 1;	/* the model on CUDA GPU 0 */
			continue;
		}

		if (strcmp(a, "-m") && strcmp(a, "-t") && strcmp(a, "-p") && strcmp(a, "-n") &&
		    strcmp(a, "-r") && strcmp(a, "--llama-bench") && strcmp(a, "--vram-budget") &&
		    strcmp(a, "--mem-budget") && !ctk && !ctv && !fa)
			return bench_usage(usage);
		if (!v)
			return bench_fail("decode: %s: missing value", a);
		i++;
		if (!strcmp(a, "--vram-budget") || !strcmp(a, "--mem-budget")) {
			if (bench_size(a, v, !strcmp(a, "--mem-budget") ? &mo.mem_budget
									: &mo.vram_budget))
				return 1;
		} else if (ctk || ctv) {
			int t = rt_kv_type_parse(v);

			if (t < 0)
				return bench_fail("decode: %s: '%s' is not a cache type (f32, f16, q8_0)",
						  a, v);
			*(ctk ? &mo.type_k : &mo.type_v) = t;
		} else if (fa) {
			if ((mo.flash_attn = rt_flash_attn_parse(v)) < 0)
				return bench_fail("decode: %s: '%s' is not on, off or auto", a, v);
		} else if (!strcmp(a, "-m"))
			model = v;
		else if (!strcmp(a, "--llama-bench"))
			llama = v;
		else if (!strcmp(a, "-t") ? bench_int(a, v, 1, BENCH_MAX_THREADS, &threads) :
			 !strcmp(a, "-p") ? bench_int(a, v, 1, 1 << 16, &pp) :
			 !strcmp(a, "-n") ? bench_int(a, v, 1, 1 << 16, &tg) :
			 bench_int(a, v, 1, 1000, &reps))
			return 1;
	}
	if (!model || threads <= 0 || pp <= 0 || tg <= 0 || reps <= 0)
		return bench_usage(usage);
	mo.threads = threads;
	mo.n_ctx = pp + tg + 16;
	mo.n_batch = pp;
	ret = rt_model_load(model, &mo, &m);
	if (ret < 0)
		return bench_fail("%s", rt_last_error());
	rt_model_kv_info(m, &kv);
	ids = malloc(sizeof(*ids) * pp);
	if (!ids)
		return bench_fail("out of memory");
	/* deterministic pseudo-random prompt, like llama-bench's */
	for (int i = 0; i < pp; i++)
		ids[i] = (int32_t)((i * 2654435761u + 17) % (uint32_t)rt_model_hparams(m)->n_vocab);
	if (!llama) {
		const char *top = getenv("ACCEL_TOP");

		/* llama.cpp built for the ISA our kernels run (make-golden.sh's builds) */
		snprintf(def, sizeof(def), "%s/tests/golden/llama.cpp-build/%s/bin/llama-bench",
			 top ? top : ".", kn_isa_get() == KN_ISA_AVX512 ? "build" : "build-avx2");
		llama = def;
	}
	have_llama = access(llama, X_OK) == 0;
	/*
	 * rounds of one repetition of ours and then one of llama-bench's, each
	 * side's best kept: a shared machine's slow phases (DRAM taken by a
	 * neighbour for tens of seconds) then fall on both sides alike, where
	 * all of ours and then all of llama.cpp's put one side in a phase the
	 * other missed (7B-shape decode ratios 1.15 and 1.39 ten minutes apart)
	 */
	for (int r = 0; r < reps && ret >= 0; r++) {
		double t0, c0;

		rt_session_init(&s, m, 0);
		/* distinct first token per rep: no prefix-cache reuse across reps */
		ids[0] = (int32_t)((r * 7919 + 1) % rt_model_hparams(m)->n_vocab);
		t0 = now_s();
		c0 = cpu_s(RUSAGE_SELF);
		ret = rt_session_feed(&s, ids, pp, &logits);
		if (ret >= 0 && pp / (now_s() - t0) > best_pp)
			best_pp = pp / (now_s() - t0);
		if (ret >= 0 && (cpu_s(RUSAGE_SELF) - c0) / pp < cpu_pp)
			cpu_pp = (cpu_s(RUSAGE_SELF) - c0) / pp;
		t0 = now_s();
		c0 = cpu_s(RUSAGE_SELF);
		for (int i = 0; i < tg && ret >= 0; i++) {
			int32_t id = rt_argmax(logits, rt_model_hparams(m)->n_vocab);

			ret = rt_session_feed(&s, &id, 1, &logits);
		}
		if (ret >= 0 && tg / (now_s() - t0) > best_tg)
			best_tg = tg / (now_s() - t0);
		if (ret >= 0 && (cpu_s(RUSAGE_SELF) - c0) / tg < cpu_tg)
			cpu_tg = (cpu_s(RUSAGE_SELF) - c0) / tg;
		rt_session_fini(&s);
		if (ret >= 0 && have_llama && llama_ok) {
			double lp, lt;

			llama_ok = run_llama_bench(llama, model, threads, pp, tg, 1, &kv, &lp, &lt) == 0;
			if (llama_ok && lp > lpp)
				lpp = lp;
			if (llama_ok && lt > ltg)
				ltg = lt;
		}
	}
	if (ret < 0) {
		free(ids);
		rt_model_free(m);
		return bench_fail("%s", rt_last_error());
	}
	printf("model: %s\n", model);
	printf("isa: %s\n", isa);
	printf("gpu: %s\n", mo.gpu ? "yes" : "no");
	printf("kv: -ctk %s -ctv %s -fa %s (llama-bench run with the same)\n",
	       rt_kv_type_name(kv.type_k), rt_kv_type_name(kv.type_v), kv.flash_attn ? "on" : "off");
	printf("kv_bytes_per_token: %llu\n", (unsigned long long)kv.bytes_per_token);
	printf("threads: %d\n", threads);
	/* what the weights stream through: 4 KiB pages read DRAM slower */
	printf("weights_huge_frac: %.3f\n", rt_model_weight_bytes(m) ?
	       (double)rt_model_huge_bytes(m) / (double)rt_model_weight_bytes(m) : 0.0);
	printf("pp_tokens: %d\n", pp);
	printf("tg_tokens: %d\n", tg);
	printf("accel_pp_tps: %.2f\n", best_pp);
	printf("accel_tg_tps: %.2f\n", best_tg);
	printf("accel_pp_cpu_ms: %.3f\n", cpu_pp * 1e3);
	printf("accel_tg_cpu_ms: %.3f\n", cpu_tg * 1e3);
	{
		struct rt_vram_stats vs;

		/* the VRAM tier: what crosses PCIe per pass, and generation
		 * against the rate the uploads ran at while busy (their bound) */
		if (rt_vram_stats(m, &vs) == 0 && vs.n_slots) {
			double rate = vs.upload_ns ? (double)vs.uploaded_bytes / vs.upload_ns : 0;

			printf("vram_units_resident: %d of %d\n", vs.n_resident, vs.n_units);
			printf("vram_streamed_mb_per_pass: %.2f\n",
			       vs.streamed_bytes_per_pass / 1048576.0);
			printf("vram_upload_gbps: %.2f\n", rate);
			if (rate > 0)
				printf("tg_vs_upload_bound: %.3f\n",
				       best_tg * vs.streamed_bytes_per_pass / (rate * 1e9));
		}
	}
	if (have_llama) {
		double lcp = 0, lct = 0;

		if (llama_ok) {
			/* both sides' best repetition */
			printf("llama_pp_tps: %.2f\n", lpp);
			printf("llama_tg_tps: %.2f\n", ltg);
			printf("pp_vs_llama: %.3f\n", best_pp / lpp);
			printf("tg_vs_llama: %.3f\n", best_tg / ltg);
			/*
			 * the same as CPU time per token (every thread's, spinning
			 * included): what a shared, busy machine's wall clock hides
			 */
			if (pp > 1 && tg > 1 &&
			    !llama_cpu_per_token(llama, model, threads, pp, false, &kv, &lcp) &&
			    !llama_cpu_per_token(llama, model, threads, tg, true, &kv, &lct)) {
				printf("llama_pp_cpu_ms: %.3f\n", lcp * 1e3);
				printf("llama_tg_cpu_ms: %.3f\n", lct * 1e3);
				printf("cpu_pp_vs_llama: %.3f\n", lcp / cpu_pp);
				printf("cpu_tg_vs_llama: %.3f\n", lct / cpu_tg);
			}
		} else {
			printf("llama: failed to run %s\n", llama);
		}
	} else {
		printf("llama: not built (tests/golden/make-golden.sh builds it)\n");
	}
	free(ids);
	rt_model_free(m);
	return 0;
}
