// SPDX-License-Identifier: MIT
/*
 * Conformance: the GPU through the public API. Everywhere: a GPU that cannot
 * be attached is refused with -ENOENT (no backend object), -ELIBBAD or
 * -ENODEV (no usable device) and one line saying why; without a GPU, GPU
 * queues, VRAM twins and the GPU's properties are -ENODEV; UPLOAD and
 * DOWNLOAD are refused on a host COPY queue; unknown queue flags -EINVAL.
 * Where a GPU attaches (a GPU machine): ADD, RMSNORM and a Q4_0 MATMUL run on
 * the GPU queue over VRAM twins, with UPLOAD before and DOWNLOAD after, and
 * agree with the same commands on the CPU queue (ADD exactly, the others
 * within NMSE 1e-6), and the submission's fence point is signalled; the
 * same submission three more times with new inputs uploaded each time (from
 * the second on the engine replays it as a CUDA graph) follows the inputs.
 */
#include <math.h>
#include <unistd.h>
#include "conf.h"

#define GPU_TESTS	15
#define DIM		256
#define ROWS		4
#define OUT		64

static float rnd(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static double nmse(const float *a, const float *ref, int n)
{
	double e = 0, r = 0;

	for (int i = 0; i < n; i++) {
		e += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
		r += (double)ref[i] * ref[i];
	}
	return r > 0 ? e / r : e;
}

/* layout of the test pool: x, y, norm weight, W (Q4_0), then three outputs */
struct lay {
	struct accel_tensor x, y, nw, w, add, norm, mm;
};

static struct lay layout(struct accel_pool *p)
{
	struct lay l;
	uint64_t off = 0;
	const uint64_t wbytes = accel_dtype_row_size(ACCEL_DTYPE_Q4_0, DIM) * OUT;

	l.x = accel_tensor_make(p, off, ACCEL_DTYPE_F32, DIM, ROWS, 1, 1), off += DIM * ROWS * 4;
	l.y = accel_tensor_make(p, off, ACCEL_DTYPE_F32, DIM, ROWS, 1, 1), off += DIM * ROWS * 4;
	l.nw = accel_tensor_make(p, off, ACCEL_DTYPE_F32, DIM, 1, 1, 1), off += DIM * 4;
	l.w = accel_tensor_make(p, off, ACCEL_DTYPE_Q4_0, DIM, OUT, 1, 1);
	off += (wbytes + 63) & ~(uint64_t)63;
	l.add = accel_tensor_make(p, off, ACCEL_DTYPE_F32, DIM, ROWS, 1, 1), off += DIM * ROWS * 4;
	l.norm = accel_tensor_make(p, off, ACCEL_DTYPE_F32, DIM, ROWS, 1, 1), off += DIM * ROWS * 4;
	l.mm = accel_tensor_make(p, off, ACCEL_DTYPE_F32, OUT, ROWS, 1, 1);
	return l;
}

static int run_ops(struct accel_queue *q, const struct lay *l)
{
	struct accel_cmd c[3];

	accel_cmd_prep_add(&c[0], l->add, l->x, l->y);
	accel_cmd_prep_rmsnorm(&c[1], l->norm, l->add, l->nw, 1e-5f);
	accel_cmd_prep_matmul(&c[2], l->mm, l->norm, l->w, (struct accel_tensor){ 0 });
	int ret = accel_queue_submit(q, c, 3, NULL, 0, NULL);

	return ret ? ret : accel_queue_wait_idle(q);
}

static void test_on_gpu(struct accel_device *dev)
{
	struct accel_pool *p = conf_pool(dev, 1 << 20, 0, 0);
	struct lay l = layout(p);
	struct accel_queue *cpu = NULL, *gc = NULL, *gx = NULL;
	struct accel_queue_opts o = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE);
	struct accel_fence *f = NULL;
	struct accel_fence_point sig;
	struct accel_cmd c;
	float wf[DIM * OUT], ref_add[DIM * ROWS], ref_norm[DIM * ROWS], ref_mm[OUT * ROWS];
	float *x = accel_pool_ptr(p);
	uint8_t *base = accel_pool_ptr(p);
	uint32_t s = 7;
	int ret;

	for (int i = 0; i < DIM * ROWS * 2 + DIM; i++)
		x[i] = rnd(&s);
	for (int i = 0; i < DIM * OUT; i++)
		wf[i] = rnd(&s);
	if (accel_dtype_quantize(ACCEL_DTYPE_Q4_0, wf, base + l.w.offset, DIM * OUT))
		bail_out("quantize failed");
	if (accel_queue_create(dev, &o, &cpu) || run_ops(cpu, &l))
		bail_out("the CPU reference failed");
	memcpy(ref_add, base + l.add.offset, sizeof(ref_add));
	memcpy(ref_norm, base + l.norm.offset, sizeof(ref_norm));
	memcpy(ref_mm, base + l.mm.offset, sizeof(ref_mm));
	memset(base + l.add.offset, 0, sizeof(ref_add) + sizeof(ref_norm) + sizeof(ref_mm));

	is_int(accel_pool_gpu_mirror(p), 0, "a pool gets a VRAM twin");
	is_int(accel_pool_gpu_mirror(p), -EEXIST, "a second twin: -EEXIST");
	o.flags = ACCEL_QUEUE_GPU;
	ret = accel_queue_create(dev, &o, &gc);
	o.engine = ACCEL_ENGINE_COPY;
	if (!ret)
		ret = accel_queue_create(dev, &o, &gx);
	if (!ret)
		ret = accel_fence_create(dev, &f);
	if (ret)
		bail_out("GPU queues: %s", strerror(-ret));
	/* everything up, the ops on the GPU, the results down */
	accel_cmd_prep_upload(&c, accel_tensor_make(p, 0, ACCEL_DTYPE_I8, (int64_t)l.add.offset,
						   1, 1, 1));
	ret = accel_queue_submit(gx, &c, 1, NULL, 0, NULL);
	if (!ret)
		ret = accel_queue_wait_idle(gx);
	if (!ret)
		ret = run_ops(gc, &l);
	accel_cmd_prep_download(&c, accel_tensor_make(p, l.add.offset, ACCEL_DTYPE_I8,
						     (int64_t)(l.mm.offset + sizeof(ref_mm) -
							       l.add.offset), 1, 1, 1));
	sig = (struct accel_fence_point){ f, 1 };
	if (!ret)
		ret = accel_queue_submit(gx, &c, 1, NULL, 0, &sig);
	if (!ret)
		ret = accel_fence_wait(f, 1, 10000000000LL);
	is_int(ret, 0, "UPLOAD, ADD/RMSNORM/MATMUL on the GPU, DOWNLOAD signalled");
	ok(!memcmp(base + l.add.offset, ref_add, sizeof(ref_add)), "ADD on the GPU: exact");
	ok(nmse((float *)(base + l.norm.offset), ref_norm, DIM * ROWS) < 1e-6,
	   "RMSNORM on the GPU: NMSE %.3g", nmse((float *)(base + l.norm.offset), ref_norm, DIM * ROWS));
	ok(nmse((float *)(base + l.mm.offset), ref_mm, OUT * ROWS) < 1e-6,
	   "Q4_0 MATMUL on the GPU: NMSE %.3g", nmse((float *)(base + l.mm.offset), ref_mm, OUT * ROWS));

	/* the same submission again with new inputs: recorded, then captured
	 * and launched, then replayed; each round against a fresh CPU run */
	int bad = 0;

	for (int r = 0; r < 3 && !ret; r++) {
		for (int i = 0; i < DIM * ROWS * 2; i++)
			x[i] = rnd(&s);
		if (run_ops(cpu, &l))
			bail_out("the CPU reference failed");
		memcpy(ref_mm, base + l.mm.offset, sizeof(ref_mm));
		memset(base + l.mm.offset, 0, sizeof(ref_mm));
		accel_cmd_prep_upload(&c, accel_tensor_make(p, 0, ACCEL_DTYPE_I8,
							   DIM * ROWS * 2 * 4, 1, 1, 1));
		ret = accel_queue_submit(gx, &c, 1, NULL, 0, NULL);
		if (!ret)
			ret = accel_queue_wait_idle(gx);
		if (!ret)
			ret = run_ops(gc, &l);
		accel_cmd_prep_download(&c, l.mm);
		if (!ret)
			ret = accel_queue_submit(gx, &c, 1, NULL, 0, NULL);
		if (!ret)
			ret = accel_queue_wait_idle(gx);
		if (ret || nmse((float *)(base + l.mm.offset), ref_mm, OUT * ROWS) >= 1e-6) {
			diag("round %d: %d, NMSE %.3g", r, ret,
			     nmse((float *)(base + l.mm.offset), ref_mm, OUT * ROWS));
			bad++;
		}
	}
	ok(!ret && !bad, "the same submission with new inputs, three rounds (graph capture, "
	   "replay): each as the CPU computes it");

	/* a VRAM-only pool fed from another host pool (a layer into a VRAM slot) */
	struct accel_pool *v = NULL, *h = conf_pool(dev, 1 << 20, 0, 0);
	const uint64_t in_bytes = (uint64_t)DIM * ROWS * 2 * 4;
	struct accel_pool_info pi;
	struct accel_tensor vx, vy;
	int fd = -1;

	is_int(accel_pool_create_vram(dev, UINT64_MAX, &v), -EINVAL,
	       "a VRAM pool of 2^64 - 1 bytes: -EINVAL (no wrap when rounded)");
	is_int(accel_pool_create_vram(dev, UINT64_C(1) << 60, &v), -ENOMEM,
	       "a VRAM pool larger than the GPU: -ENOMEM");
	ret = accel_pool_create_vram(dev, 1 << 20, &v);
	ok(!ret && v && !accel_pool_ptr(v) && accel_pool_size(v) >= (1 << 20) &&
	   accel_pool_info(v, &pi) == -EINVAL && accel_pool_export(v, &fd) == -EINVAL,
	   "a VRAM pool: no host mapping, info and export -EINVAL (%d)", ret);
	if (ret)
		bail_out("a VRAM pool: %s", strerror(-ret));
	vx = accel_tensor_make(v, 0, ACCEL_DTYPE_F32, DIM, ROWS, 1, 1);
	vy = accel_tensor_make(v, DIM * ROWS * 4, ACCEL_DTYPE_F32, DIM, ROWS, 1, 1);
	accel_cmd_prep_add(&c, l.add, vx, vy);
	is_int(accel_queue_submit(cpu, &c, 1, NULL, 0, NULL), -EINVAL,
	       "a CPU COMPUTE command naming a VRAM pool: -EINVAL at submit");
	memcpy(accel_pool_ptr(h), base, in_bytes);
	accel_cmd_prep_upload_to(&c, accel_tensor_make(h, 0, ACCEL_DTYPE_I8, (int64_t)in_bytes, 1,
						      1, 1),
				 accel_tensor_make(v, 0, ACCEL_DTYPE_I8, (int64_t)in_bytes, 1, 1, 1));
	is_int(accel_queue_submit(gx, &c, 1, NULL, 0, NULL), -EINVAL,
	       "UPLOAD from a host pool not registered: -EINVAL");
	is_int(accel_pool_gpu_register(h), 0, "a host pool registered for DMA");
	is_int(accel_pool_gpu_register(h), 0, "registered twice: 0, nothing more");
	ret = accel_queue_submit(gx, &c, 1, NULL, 0, NULL);
	if (!ret)
		ret = accel_queue_wait_idle(gx);
	/* the CPU's ADD of the same inputs, then the GPU's from the VRAM pool */
	if (!ret) {
		accel_cmd_prep_add(&c, l.add, l.x, l.y);
		ret = accel_queue_submit(cpu, &c, 1, NULL, 0, NULL);
	}
	if (!ret)
		ret = accel_queue_wait_idle(cpu);
	memcpy(ref_add, base + l.add.offset, sizeof(ref_add));
	memset(base + l.add.offset, 0, sizeof(ref_add));
	accel_cmd_prep_add(&c, l.add, vx, vy);
	if (!ret)
		ret = accel_queue_submit(gc, &c, 1, NULL, 0, NULL);
	if (!ret)
		ret = accel_queue_wait_idle(gc);
	accel_cmd_prep_download(&c, l.add);
	if (!ret)
		ret = accel_queue_submit(gx, &c, 1, NULL, 0, NULL);
	if (!ret)
		ret = accel_queue_wait_idle(gx);
	ok(!ret && !memcmp(base + l.add.offset, ref_add, sizeof(ref_add)),
	   "UPLOAD into a VRAM pool, ADD on the GPU from it: the CPU's sums exactly (%d)", ret);
	accel_pool_destroy(v);
	accel_pool_destroy(h);
	accel_queue_destroy(gx);
	accel_queue_destroy(gc);
	accel_queue_destroy(cpu);
	accel_fence_destroy(f);
	accel_pool_destroy(p);
}

static bool one_line(const char *why)
{
	return why[0] && !strchr(why, '\n');
}

int main(void)
{
	struct accel_device *dev = conf_open(NULL);
	struct accel_queue_opts o = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE);
	struct accel_pool *p = conf_pool(dev, 1 << 16, 0, 0);
	struct accel_queue *q = NULL;
	struct accel_pool *q_pool = NULL;
	struct accel_gpu_props props;
	struct accel_cmd c;
	char why[400], *env = getenv("ACCEL_GPU_LIB");
	int ret;

	plan(14 + GPU_TESTS);
	is_int(accel_gpu_attach(NULL, 0, why, sizeof(why)), -EINVAL, "attach to no device: -EINVAL");
	is_int(accel_gpu_attach(dev, -1, why, sizeof(why)), -EINVAL, "a negative ordinal: -EINVAL");
	is_int(accel_gpu_props(dev, &props), -ENODEV, "no GPU attached: props -ENODEV");
	is_int(accel_pool_gpu_mirror(p), -ENODEV, "no GPU attached: a VRAM twin -ENODEV");
	is_int(accel_pool_gpu_register(p), -ENODEV, "no GPU attached: registering a pool -ENODEV");
	is_int(accel_pool_create_vram(dev, 4096, &q_pool), -ENODEV,
	       "no GPU attached: a VRAM pool -ENODEV");
	o.flags = ACCEL_QUEUE_GPU;
	is_int(accel_queue_create(dev, &o, &q), -ENODEV, "no GPU attached: a GPU COMPUTE queue -ENODEV");
	o.engine = ACCEL_ENGINE_COPY;
	is_int(accel_queue_create(dev, &o, &q), -ENODEV, "no GPU attached: a GPU COPY queue -ENODEV");
	o.flags = 1U << 5;
	is_int(accel_queue_create(dev, &o, &q), -EINVAL, "an unknown queue flag: -EINVAL");
	o.flags = 0;
	if (accel_queue_create(dev, &o, &q))
		bail_out("a COPY queue");
	accel_cmd_prep_upload(&c, accel_tensor_make(p, 0, ACCEL_DTYPE_I8, 4096, 1, 1, 1));
	is_int(accel_queue_submit(q, &c, 1, NULL, 0, NULL), -EOPNOTSUPP,
	       "UPLOAD on a host COPY queue: -EOPNOTSUPP");
	accel_cmd_prep_download(&c, accel_tensor_make(p, 0, ACCEL_DTYPE_I8, 4096, 1, 1, 1));
	is_int(accel_queue_submit(q, &c, 1, NULL, 0, NULL), -EOPNOTSUPP,
	       "DOWNLOAD on a host COPY queue: -EOPNOTSUPP");
	accel_queue_destroy(q);

	/* the object hidden, as on a machine without CUDA */
	setenv("ACCEL_GPU_LIB", "/nonexistent/libaccel-cuda.so.1", 1);
	ret = accel_gpu_attach(dev, 0, why, sizeof(why));
	ok(ret == -ENOENT && one_line(why) && strstr(why, "/nonexistent"),
	   "no backend object: -ENOENT and one line naming where (%d: %s)", ret, why);
	if (env)
		setenv("ACCEL_GPU_LIB", env, 1);
	else
		unsetenv("ACCEL_GPU_LIB");

	/* the real search (the build's object where make built it: test programs
	 * live in build/tests/SUITE, not beside build/lib): a GPU, or one of the
	 * documented refusals with a reason */
	if (!env && getenv("ACCEL_BUILD")) {
		char so[1024];

		snprintf(so, sizeof(so), "%s/lib/libaccel-cuda.so.1", getenv("ACCEL_BUILD"));
		if (access(so, F_OK) == 0)
			setenv("ACCEL_GPU_LIB", so, 1);
	}
	ret = accel_gpu_attach(dev, 0, why, sizeof(why));
	ok(ret == 0 || ((ret == -ENOENT || ret == -ELIBBAD || ret == -ENODEV) && one_line(why)),
	   "attach: 0, or -ENOENT/-ELIBBAD/-ENODEV with one line (%d: %s)", ret,
	   ret ? why : "attached");
	if (ret == 0) {
		ok(accel_gpu_props(dev, &props) == 0 && props.name[0] && props.mem_total,
		   "GPU %s, sm_%u%u, %llu MiB", props.name, props.cc_major, props.cc_minor,
		   (unsigned long long)(props.mem_total >> 20));
		test_on_gpu(dev);
	} else {
		ok(accel_gpu_props(dev, &props) == -ENODEV, "a failed attach leaves no GPU");
		skip(GPU_TESTS, "no GPU attached (%s)", why);
	}
	accel_pool_destroy(p);
	accel_device_close(dev);
	return done_testing();
}
