// SPDX-License-Identifier: MIT
/*
 * accel-bench vram: a model on the GPU under --vram-budget (and optionally
 * --mem-budget), in one run: the pinned host -> VRAM bandwidth through
 * libaccel (a registered host pool uploaded into a VRAM pool: the physical
 * limit of the layers that cross PCIe), then greedy generation at -np 1 and
 * -np N (default 32) with the units that do not fit uploaded every pass.
 * Prints the placement, bytes uploaded per pass, tokens/s, and each run's
 * tokens/s against the PCIe bound (h2d bandwidth / bytes per token, where a
 * pass of -np N sequences makes N tokens).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rt_error.h"
#include "rt_generate.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "rt_stream.h"
#include "bench.h"

#define VRAM_USAGE "vram -m MODEL --vram-budget SIZE [--mem-budget SIZE] [-np N] [-t THREADS] " \
		   "[-n TOKENS] [--h2d-mb MB]"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* GB/s of @mb MiB uploaded from a registered host pool into a VRAM pool (best of 3) */
static int h2d_gbps(int mb, double *gbps)
{
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COPY,
						.flags = ACCEL_QUEUE_GPU);
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts, .size = (uint64_t)mb << 20);
	struct accel_device *dev = NULL;
	struct accel_pool *h = NULL, *v = NULL;
	struct accel_queue *q = NULL;
	struct accel_cmd c;
	char why[400];
	int ret;

	*gbps = 0;
	ret = accel_device_open(NULL, &dev);
	if (ret == 0)
		ret = accel_gpu_attach(dev, 0, why, sizeof(why));
	if (ret == 0)
		ret = accel_pool_create(dev, &po, &h);
	if (ret == 0)
		ret = accel_pool_gpu_register(h);
	if (ret == 0)
		ret = accel_pool_create_vram(dev, po.size, &v);
	if (ret == 0)
		ret = accel_queue_create(dev, &qo, &q);
	if (ret == 0)
		memset(accel_pool_ptr(h), 1, po.size);	/* touched: no page faults timed */
	accel_cmd_prep_upload_to(&c, accel_tensor_make(h, 0, ACCEL_DTYPE_I8, (int64_t)po.size, 1, 1, 1),
				 accel_tensor_make(v, 0, ACCEL_DTYPE_I8, (int64_t)po.size, 1, 1, 1));
	for (int r = 0; r < 4 && ret == 0; r++) {
		double t0 = now_s(), g;

		ret = accel_queue_submit(q, &c, 1, NULL, 0, NULL);
		if (ret == 0)
			ret = accel_queue_wait_idle(q);
		g = (double)po.size / (now_s() - t0) / 1e9;
		if (ret == 0 && r > 0 && g > *gbps)	/* the first warms up */
			*gbps = g;
	}
	accel_queue_destroy(q);
	accel_pool_destroy(v);
	accel_pool_destroy(h);
	accel_device_close(dev);
	return ret;
}

struct vram_run {
	double tps;
	struct rt_vram_stats vs;
};

static int vram_gen(const char *path, const struct rt_model_opts *base, int np, int n_gen,
		    struct vram_run *r)
{
	struct rt_model_opts mo = *base;
	struct rt_sampler_params sp;
	struct rt_gen_stats gs;
	struct rt_model *m;
	int32_t *prompts[256], buf[256][8];
	int n_prompt[256], ret;

	memset(r, 0, sizeof(*r));
	mo.n_seq = np;
	mo.n_ctx = np * (16 + n_gen);
	mo.n_batch = np * 8 > 64 ? np * 8 : 64;
	ret = rt_model_load(path, &mo, &m);
	if (ret < 0)
		return ret;
	rt_sampler_defaults(&sp);
	sp.temp = 0;
	bench_prompts(np, rt_model_hparams(m)->n_vocab, buf, prompts, n_prompt);
	ret = rt_generate_parallel(m, NULL, np, (const int32_t *const *)prompts, n_prompt, n_gen,
				   &sp, NULL, NULL, &gs);
	if (ret == 0) {
		r->tps = gs.n_gen / gs.t_gen;
		if (rt_vram_stats(m, &r->vs) < 0)
			ret = rt_set_error(-ENOENT, "the model has no VRAM tier (no --vram-budget?)");
	}
	rt_model_free(m);
	return ret;
}

int bench_vram_main(int argc, char **argv)
{
	struct rt_model_opts mo = { .threads = 2, .gpu = 1 };
	const char *model = NULL;
	int np = 32, n_gen = 8, mb = 256, ret;
	struct vram_run r1, rn;
	double h2d = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-m") && strcmp(a, "--vram-budget") && strcmp(a, "--mem-budget") &&
		    strcmp(a, "-np") && strcmp(a, "-t") && strcmp(a, "-n") && strcmp(a, "--h2d-mb"))
			return bench_usage(VRAM_USAGE);
		if (!v)
			return bench_fail("vram: %s: missing value", a);
		i++;
		if (!strcmp(a, "-m"))
			model = v;
		else if (!strcmp(a, "--vram-budget") ? bench_size(a, v, &mo.vram_budget) :
			 !strcmp(a, "--mem-budget") ? bench_size(a, v, &mo.mem_budget) :
			 !strcmp(a, "-np") ? bench_int(a, v, 2, 256, &np) :
			 !strcmp(a, "-t") ? bench_int(a, v, 1, BENCH_MAX_THREADS, &mo.threads) :
			 !strcmp(a, "-n") ? bench_int(a, v, 1, 1 << 12, &n_gen) :
			 bench_int(a, v, 1, 1 << 16, &mb))
			return 1;
	}
	if (!model || !mo.vram_budget)
		return bench_usage(VRAM_USAGE);
	ret = h2d_gbps(mb, &h2d);
	if (ret < 0)
		return bench_fail("vram: measuring host -> VRAM bandwidth: %s", strerror(-ret));
	ret = vram_gen(model, &mo, 1, n_gen, &r1);
	if (ret == 0)
		ret = vram_gen(model, &mo, np, n_gen, &rn);
	if (ret < 0)
		return bench_fail("%s", *rt_last_error() ? rt_last_error() : strerror(-ret));
	printf("model: %s\n", model);
	printf("vram_budget_mb: %.0f\n", mo.vram_budget / 1048576.0);
	printf("mem_budget_mb: %.0f\n", mo.mem_budget / 1048576.0);
	printf("units_in_vram: %d of %d\n", r1.vs.n_resident, r1.vs.n_units);
	printf("vram_slots: %d\n", r1.vs.n_slots);
	printf("h2d_gbps: %.3f\n", h2d);
	{
		char link[128];
		double peak;

		/* against the link's nominal rate, where sysfs tells it */
		if (bench_pcie_peak(&peak, link, sizeof(link)) == 0) {
			printf("pcie_link: %s\n", link);
			printf("pcie_peak_gbps: %.2f\n", peak);
			printf("h2d_vs_pinned_peak: %.3f\n", h2d / peak);
		} else {
			printf("pcie_link: unknown (no NVIDIA device in sysfs)\n");
		}
	}
	printf("uploaded_mb_per_pass: %.2f\n", r1.vs.streamed_bytes_per_pass / 1048576.0);
	printf("upload_gbps_busy: %.3f\n", r1.vs.upload_ns ?
	       (double)r1.vs.uploaded_bytes / r1.vs.upload_ns : 0.0);
	if (r1.vs.expert_entries) {
		printf("vram_expert_entries: %d\n", r1.vs.expert_entries);
		printf("vram_expert_hit_rate: %.3f\n", (double)r1.vs.expert_hits /
		       (double)(r1.vs.expert_hits + r1.vs.expert_misses));
	}
	printf("tokens_per_s_np1: %.3f\n", r1.tps);
	printf("tokens_per_s_np%d: %.3f\n", np, rn.tps);
	printf("np%d_vs_np1: %.2f\n", np, r1.tps > 0 ? rn.tps / r1.tps : 0.0);
	if (r1.vs.streamed_bytes_per_pass && rn.vs.streamed_bytes_per_pass && h2d > 0) {
		/* the PCIe bound: one pass uploads its bytes for np tokens (each
		 * run's own placement: -np N's larger KV cache may keep fewer units) */
		double pass1 = r1.vs.streamed_bytes_per_pass / (h2d * 1e9);
		double passn = rn.vs.streamed_bytes_per_pass / (h2d * 1e9);

		printf("pcie_bound_tps_np1: %.3f\n", 1 / pass1);
		printf("tps_vs_pcie_bound_np1: %.3f\n", r1.tps * pass1);
		printf("pcie_bound_tps_np%d: %.3f\n", np, np / passn);
		printf("tps_vs_pcie_bound_np%d: %.3f\n", np, rn.tps * passn / np);
	}
	return 0;
}
