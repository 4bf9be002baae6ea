// SPDX-License-Identifier: MIT
/*
 * accel-bench pipeline: in one run, a model about twice the per-rank
 * --mem-budget generated on one rank (in process: half of it streams every
 * pass) and on two ranks under mpirun (accel-run: each half stays resident),
 * at -np 1 and -np 8: tokens/s, bytes read from the file per token per rank,
 * the pipeline's bubble fraction and the speedups, measured side by side.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "rt_error.h"
#include "rt_generate.h"
#include "rt_model.h"
#include "rt_stream.h"
#include "rt_tokenizer.h"
#include "bench.h"

#define N_PROMPTS 8

static const char *const prompts[N_PROMPTS] = {
	"Once upon a time", "The cat sat on the mat", "Tom and Lily went to the park",
	"One day a little bird", "The sun was hot", "A big red ball",
	"Sue had a dog named Max", "In the forest there lived",
};

struct one_rank {
	double tps[2], bytes_tok[2];
	bool streamed;
};

/* one process under the budget: rt_generate_parallel at -np 1 and 8 */
static int run_one_rank(const char *path, uint64_t budget, int threads, int n_predict,
			struct one_rank *r)
{
	struct rt_model_opts mo = { .threads = threads, .n_ctx = 256, .n_batch = 64,
				    .n_seq = N_PROMPTS, .mem_budget = budget };
	struct rt_sampler_params sp;
	struct rt_tokenizer *tok = NULL;
	struct rt_model *m = NULL;
	int32_t *ids[N_PROMPTS] = { 0 };
	int nid[N_PROMPTS], ret;

	rt_sampler_defaults(&sp);
	sp.temp = 0;
	if ((ret = rt_model_load(path, &mo, &m)) < 0 ||
	    (ret = rt_tokenizer_load(rt_model_gguf(m), &tok)) < 0)
		goto out;
	r->streamed = rt_stream_stats(m, NULL, NULL) == 0;
	for (int i = 0; i < N_PROMPTS; i++) {
		ids[i] = malloc(sizeof(int32_t) * 64);
		if (!ids[i]) {
			ret = -ENOMEM;
			goto out;
		}
		nid[i] = rt_tokenize(tok, prompts[i], strlen(prompts[i]), true, false, ids[i], 64);
		if (nid[i] <= 0) {
			ret = rt_set_error(-EINVAL, "cannot tokenize the prompts");
			goto out;
		}
	}
	for (int k = 0; k < 2; k++) {
		struct rt_stream_stats a = { 0 }, b = { 0 };
		struct rt_gen_stats st;

		rt_stream_stats(m, &a, NULL);
		ret = rt_generate_parallel(m, NULL, k ? N_PROMPTS : 1, (const int32_t *const *)ids,
					   nid, n_predict, &sp, NULL, NULL, &st);
		if (ret < 0)
			goto out;
		rt_stream_stats(m, &b, NULL);
		r->tps[k] = st.t_gen > 0 ? st.n_gen / st.t_gen : 0;
		r->bytes_tok[k] = st.n_gen ? (double)(b.bytes_read - a.bytes_read) / st.n_gen : 0;
	}
out:
	for (int i = 0; i < N_PROMPTS; i++)
		free(ids[i]);
	rt_tokenizer_free(tok);
	rt_model_free(m);
	return ret;
}

struct two_ranks {
	double tps, bytes_tok[2], bubble;
	bool streamed[2];
};

/* mpirun -np 2 accel-run ...: its stats lines on stderr */
static int run_two_ranks(const char *bindir, const char *path, const char *pfile,
			 uint64_t budget, int threads, int np, int n_predict, struct two_ranks *r)
{
	char cmd[16384], line[4096], errf[1300];
	FILE *f;
	int st;

	if (snprintf(errf, sizeof(errf), "%s.err", pfile) >= (int)sizeof(errf))
		return -ENAMETOOLONG;
	if (snprintf(cmd, sizeof(cmd), "OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun %s "
		 "--oversubscribe --bind-to none -np 2 '%s/accel-run' -m '%s' -f '%s' -np %d "
		 "-n %d -c 256 -b 64 -t %d --temp 0 --mem-budget %llu -v >/dev/null 2>'%s'",
		 getuid() == 0 ? "--allow-run-as-root" : "", bindir, path, pfile, np, n_predict,
		 threads, (unsigned long long)budget, errf) >= (int)sizeof(cmd))
		return -ENAMETOOLONG;
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (snprintf(cmd, sizeof(cmd), "tail -3 '%s' >&2", errf) < (int)sizeof(cmd) &&
		    system(cmd) < 0)
			return -errno;
		unlink(errf);
		return -EIO;
	}
	f = fopen(errf, "r");
	if (!f)
		return -errno;
	memset(r, 0, sizeof(*r));
	while (fgets(line, sizeof(line), f)) {
		char *p;
		int rk;

		if ((p = strstr(line, "generation ")) && strstr(line, "tokens/s"))
			sscanf(strstr(p, ", ") + 2, "%lf", &r->tps);
		if (sscanf(line, "accel-run: rank %d of 2", &rk) == 1 && rk >= 0 && rk < 2)
			r->streamed[rk] = strstr(line, "streamed") != NULL;
		if ((p = strstr(line, "accel-run: pipeline:"))) {
			for (int k = 0; k < 2; k++) {
				char key[32], *q;

				snprintf(key, sizeof(key), " rank %d layers", k);
				q = strstr(p, key);
				if (q && (q = strstr(q, " s, ")))
					sscanf(q + 4, "%lf", &r->bytes_tok[k]);
			}
			if ((p = strstr(p, "bubble ")))
				sscanf(p + 7, "%lf", &r->bubble);
		}
	}
	fclose(f);
	unlink(errf);
	return r->tps > 0 ? 0 : -EPROTO;
}

int bench_pipeline_main(int argc, char **argv)
{
	const char *model = NULL;
	char bindir[1024], gen[1200], pfile[1200], cmd[4096];
	uint64_t budget = 0;
	int threads = 1, n_predict = 8, layers = 4, ret;
	struct one_rank one = { 0 };
	struct two_ranks two[2];
	struct stat sb;
	FILE *f;
	char *slash;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			return bench_usage("pipeline [-m MODEL | --layers N] [--mem-budget B] [-n N] [-t N]");
		if (!strcmp(a, "-m"))
			model = v;
		else if (!strcmp(a, "--mem-budget") ? bench_size(a, v, &budget) :
			 !strcmp(a, "-t") ? bench_int(a, v, 1, BENCH_MAX_THREADS, &threads) :
			 !strcmp(a, "-n") ? bench_int(a, v, 1, 128, &n_predict) :
			 !strcmp(a, "--layers") ? bench_int(a, v, 2, 80, &layers) :
			 bench_usage("pipeline [-m MODEL | --layers N] [--mem-budget B] [-n N] [-t N]"))
			return 1;
		i++;
	}
	/* the tools beside this one */
	ret = (int)readlink("/proc/self/exe", bindir, sizeof(bindir) - 1);
	if (ret <= 0)
		return bench_fail("cannot find accel-bench's directory");
	bindir[ret] = '\0';
	slash = strrchr(bindir, '/');
	*slash = '\0';
	if (snprintf(gen, sizeof(gen), "%s/../bench-pipeline.%d.gguf", bindir, (int)getpid()) >=
	    (int)sizeof(gen) ||
	    snprintf(pfile, sizeof(pfile), "%s/../bench-pipeline.%d.txt", bindir, (int)getpid()) >=
	    (int)sizeof(pfile))
		return bench_fail("%s: path too long", bindir);
	if (system("command -v mpirun >/dev/null 2>&1") != 0)
		return bench_fail("mpirun not found (apt-get install openmpi-bin libopenmpi-dev)");
	if (!model) {
		/* Llama-2-7B's layer shapes, Q4_0: 113 MB a layer, 74 MB embedding and head */
		if (snprintf(cmd, sizeof(cmd), "'%s/accel-mkmodel' --preset llama-7b --layers %d "
			     "--type q4_0 -o '%s' >/dev/null 2>&1", bindir, layers, gen) >=
		    (int)sizeof(cmd) || system(cmd) != 0)
			return bench_fail("accel-mkmodel failed: %s", cmd);
		model = gen;
	}
	if (stat(model, &sb) < 0)
		return bench_fail("%s: %s", model, strerror(errno));
	/* half the model per rank, plus room for the embedding rows' staging */
	if (!budget)
		budget = (uint64_t)sb.st_size / 2 + ((uint64_t)sb.st_size >> 4);
	f = fopen(pfile, "w");
	for (int i = 0; f && i < N_PROMPTS; i++)
		fprintf(f, "%s\n", prompts[i]);
	if (!f || fclose(f)) {
		ret = bench_fail("%s: cannot write the prompts", pfile);
		goto out;
	}
	printf("pipeline.model: %s\n", model);
	printf("pipeline.model_mb: %.1f\n", sb.st_size / 1048576.0);
	printf("pipeline.mem_budget_per_rank_mb: %.1f\n", budget / 1048576.0);
	printf("pipeline.threads_per_rank: %d\n", threads);
	fflush(stdout);
	if ((ret = run_one_rank(model, budget, threads, n_predict, &one)) < 0) {
		ret = bench_fail("one rank: %s", rt_last_error());
		goto out;
	}
	for (int k = 0; k < 2; k++)
		if ((ret = run_two_ranks(bindir, model, pfile, budget, threads, k ? N_PROMPTS : 1,
					 n_predict, &two[k])) < 0) {
			ret = bench_fail("mpirun -np 2 accel-run failed (%s)", strerror(-ret));
			goto out;
		}
	printf("pipeline.rank1.placement: %s\n", one.streamed ? "streamed" : "resident");
	printf("pipeline.ranks2.placement: rank 0 %s, rank 1 %s\n",
	       two[0].streamed[0] ? "streamed" : "resident",
	       two[0].streamed[1] ? "streamed" : "resident");
	for (int k = 0; k < 2; k++) {
		int np = k ? N_PROMPTS : 1;

		printf("pipeline.np%d.rank1.tokens_per_s: %.3f\n", np, one.tps[k]);
		printf("pipeline.np%d.ranks2.tokens_per_s: %.3f\n", np, two[k].tps);
		printf("pipeline.np%d.speedup: %.2f\n", np,
		       one.tps[k] > 0 ? two[k].tps / one.tps[k] : 0.0);
		printf("pipeline.np%d.rank1.read_mb_per_token: %.2f\n", np,
		       one.bytes_tok[k] / 1048576.0);
		for (int r = 0; r < 2; r++)
			printf("pipeline.np%d.ranks2.rank%d.read_mb_per_token: %.2f\n", np, r,
			       two[k].bytes_tok[r] / 1048576.0);
		printf("pipeline.np%d.ranks2.bubble: %.3f\n", np, two[k].bubble);
	}
	ret = 0;
out:
	unlink(pfile);
	if (model == gen)
		unlink(gen);
	return ret;
}
