// SPDX-License-Identifier: MIT
/*
 * accel-bench gpu: the attached GPU through libaccel's public API, as the
 * runtime drives it (VRAM twins, GPU COPY and COMPUTE queues), as ratios to
 * the device's own peak measured in the same run:
 *   h2d_gbps, d2h_gbps    UPLOAD / DOWNLOAD of a 256 MiB pool (best of 3)
 *   hbm_peak_gbps         the memory's peak from its clock and bus width
 *   gemv_gbps.TYPE, gemv_vs_hbm.TYPE   a one-column MATMUL over an 8192 x
 *                         16384 weight (bigger than the L2) per weight type:
 *                         weight bytes per second, and that over the peak
 *   stream_overlap        an upload and GEMVs on their own queues at once:
 *                         1 = fully overlapped, 0 = serialised
 * One line and exit 1 without a GPU.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"

#define GEMV_IN		8192
#define GEMV_OUT	16384
#define GEMV_REPS	20
#define XFER_BYTES	(UINT64_C(256) << 20)

struct gpu_bench {
	struct accel_device *dev;
	struct accel_queue *comp, *copy;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int run_wait(struct accel_queue *q, const struct accel_cmd *c, uint32_t n)
{
	int ret = accel_queue_submit(q, c, n, NULL, 0, NULL);

	return ret ? ret : accel_queue_wait_idle(q);
}

/* best of three: seconds for @op over @bytes of @pool */
static int time_xfer(struct gpu_bench *b, struct accel_pool *pool, enum accel_op op, double *best)
{
	struct accel_cmd c;
	int ret = 0;

	accel_cmd_prep(&c, op);
	c.t[0] = accel_tensor_make(pool, 0, ACCEL_DTYPE_I8, (int64_t)XFER_BYTES, 1, 1, 1);
	*best = 1e30;
	for (int r = 0; r < 3 && !ret; r++) {
		double t0 = now_s();

		ret = run_wait(b->copy, &c, 1);
		if (now_s() - t0 < *best)
			*best = now_s() - t0;
	}
	return ret;
}

/* a pool holding W (@type, GEMV_OUT rows of GEMV_IN) then x and y, mirrored
 * and uploaded; W is one quantized random row repeated (the bytes, not the
 * values, are what a bandwidth benchmark needs) */
static int gemv_setup(struct gpu_bench *b, uint32_t type, struct accel_pool **out,
		      struct accel_cmd *mm)
{
	const uint64_t row = accel_dtype_row_size(type, GEMV_IN);
	const uint64_t wbytes = row * GEMV_OUT, xoff = (wbytes + 4095) & ~UINT64_C(4095);
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts,
					       .size = xoff + 4 * (GEMV_IN + GEMV_OUT) + 4096,
					       .flags = ACCEL_POOL_PAGEABLE);
	struct accel_pool *p = NULL;
	float src[GEMV_IN];
	struct accel_cmd up;
	uint8_t *base;
	int ret;

	if ((ret = accel_pool_create(b->dev, &po, &p)) < 0)
		return ret;
	base = accel_pool_ptr(p);
	for (int i = 0; i < GEMV_IN; i++)
		src[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
	ret = accel_dtype_quantize(type, src, base, GEMV_IN);
	for (uint64_t r = 1; !ret && r < GEMV_OUT; r++)
		memcpy(base + r * row, base, row);
	memcpy(base + xoff, src, sizeof(src));
	if (!ret)
		ret = accel_pool_gpu_mirror(p);
	accel_cmd_prep_upload(&up, accel_tensor_make(p, 0, ACCEL_DTYPE_I8,
						    (int64_t)accel_pool_size(p), 1, 1, 1));
	if (!ret)
		ret = run_wait(b->copy, &up, 1);
	accel_cmd_prep_matmul(mm, accel_tensor_make(p, xoff + 4 * GEMV_IN, ACCEL_DTYPE_F32,
						    GEMV_OUT, 1, 1, 1),
			      accel_tensor_make(p, xoff, ACCEL_DTYPE_F32, GEMV_IN, 1, 1, 1),
			      accel_tensor_make(p, 0, type, GEMV_IN, GEMV_OUT, 1, 1),
			      (struct accel_tensor){ 0 });
	if (ret) {
		accel_pool_destroy(p);
		return ret;
	}
	*out = p;
	return 0;
}

int bench_gpu_main(int argc, char **argv)
{
	static const uint32_t types[] = { ACCEL_DTYPE_F16, ACCEL_DTYPE_BF16, ACCEL_DTYPE_Q8_0,
					  ACCEL_DTYPE_Q4_0, ACCEL_DTYPE_Q4_1, ACCEL_DTYPE_Q4_K,
					  ACCEL_DTYPE_Q5_K, ACCEL_DTYPE_Q6_K };
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE,
						.flags = ACCEL_QUEUE_GPU);
	struct gpu_bench b = { 0 };
	struct accel_pool_opts po = ACCEL_OPTS(accel_pool_opts, .size = XFER_BYTES,
					       .flags = ACCEL_POOL_PAGEABLE);
	struct accel_pool *xp = NULL, *wp = NULL;
	struct accel_gpu_props props;
	struct accel_cmd mm[GEMV_REPS], up;
	double t_up, t_down, t_mm = 0, t_both, peak;
	char why[400];
	int ret;

	if (argc > 1)
		return bench_usage("gpu");
	if ((ret = accel_device_open(NULL, &b.dev)) < 0)
		return bench_fail("gpu: cannot open an accel device: %s", strerror(-ret));
	if ((ret = accel_gpu_attach(b.dev, 0, why, sizeof(why))) < 0) {
		accel_device_close(b.dev);
		return bench_fail("gpu: %s", why);
	}
	ret = accel_gpu_props(b.dev, &props);
	if (!ret)
		ret = accel_queue_create(b.dev, &qo, &b.comp);
	qo.engine = ACCEL_ENGINE_COPY;
	if (!ret)
		ret = accel_queue_create(b.dev, &qo, &b.copy);
	if (!ret)
		ret = accel_pool_create(b.dev, &po, &xp);
	if (!ret)
		ret = accel_pool_gpu_mirror(xp);
	if (!ret)
		ret = time_xfer(&b, xp, ACCEL_OP_UPLOAD, &t_up);
	if (!ret)
		ret = time_xfer(&b, xp, ACCEL_OP_DOWNLOAD, &t_down);
	if (ret)
		goto out;
	peak = props.mem_bw / 1e9;
	printf("gpu: %s (sm_%u%u, %llu MiB, CUDA runtime %u, driver %u)\n", props.name,
	       props.cc_major, props.cc_minor, (unsigned long long)(props.mem_total >> 20),
	       props.runtime_version, props.driver_version);
	printf("hbm_peak_gbps: %.1f\n", peak);
	printf("h2d_gbps: %.2f\n", XFER_BYTES / t_up / 1e9);
	{
		char link[128];
		double pk;

		if (bench_pcie_peak(&pk, link, sizeof(link)) == 0) {
			printf("pcie_link: %s\n", link);
			printf("pcie_peak_gbps: %.2f\n", pk);
			printf("h2d_vs_pinned_peak: %.3f\n", XFER_BYTES / t_up / 1e9 / pk);
		} else {
			printf("pcie_link: unknown (no NVIDIA device in sysfs)\n");
		}
	}
	printf("d2h_gbps: %.2f\n", XFER_BYTES / t_down / 1e9);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const char *name = accel_dtype_name(types[i]);
		double t0, t;

		if ((ret = gemv_setup(&b, types[i], &wp, &mm[0])) < 0)
			goto out;
		for (int r = 1; r < GEMV_REPS; r++)
			mm[r] = mm[0];
		ret = run_wait(b.comp, mm, 2);		/* warm up */
		t0 = now_s();
		if (!ret)
			ret = run_wait(b.comp, mm, GEMV_REPS);
		t = (now_s() - t0) / GEMV_REPS;
		if (ret) {
			accel_pool_destroy(wp);
			goto out;
		}
		printf("gemv_gbps.%s: %.1f\n", name,
		       accel_dtype_row_size(types[i], GEMV_IN) * (double)GEMV_OUT / t / 1e9);
		printf("gemv_vs_hbm.%s: %.3f\n", name,
		       peak > 0 ? accel_dtype_row_size(types[i], GEMV_IN) * (double)GEMV_OUT / t /
					  1e9 / peak : 0);
		if (types[i] == ACCEL_DTYPE_Q4_0) {
			/* the upload and the GEMVs at once, on their own queues */
			double t1 = now_s();

			t_mm = t * GEMV_REPS;
			accel_cmd_prep_upload(&up, accel_tensor_make(xp, 0, ACCEL_DTYPE_I8,
								    (int64_t)XFER_BYTES, 1, 1, 1));
			ret = accel_queue_submit(b.copy, &up, 1, NULL, 0, NULL);
			if (!ret)
				ret = accel_queue_submit(b.comp, mm, GEMV_REPS, NULL, 0, NULL);
			if (!ret)
				ret = accel_queue_wait_idle(b.copy);
			if (!ret)
				ret = accel_queue_wait_idle(b.comp);
			t_both = now_s() - t1;
			/* the part of the shorter one hidden under the longer: 1 fully,
			 * 0 serialised; a run slower together than apart (the two
			 * fighting over one resource) counts as 0, never below */
			{
				double ov = (t_up + t_mm - t_both) / (t_up < t_mm ? t_up : t_mm);

				printf("stream_overlap: %.3f\n", ov < 0 ? 0 : ov > 1 ? 1 : ov);
				printf("stream_seconds: upload %.4f gemv %.4f together %.4f\n",
				       t_up, t_mm, t_both);
			}
		}
		accel_pool_destroy(wp);
		if (ret)
			goto out;
	}
out:
	accel_pool_destroy(xp);
	accel_device_close(b.dev);
	if (ret < 0)
		return bench_fail("gpu: %s", strerror(-ret));
	return 0;
}
