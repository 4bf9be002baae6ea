// SPDX-License-Identifier: MIT
/*
 * Unit: the CPU engine's barrier plan (libaccel/src/cpu_plan.c) and the
 * engine that follows it. The plan drops the barrier between commands with
 * no hazard (Q, K, V of one input; RoPE of Q and of K) and keeps it on every
 * read-after-write, write-after-read and write-after-write, before and after
 * ops that are not refs_only, and past ACCEL_CPU_PLAN_MAX_GROUP; small
 * elementwise commands run on worker 0 alone, with no barrier between two of
 * them; commands of one group get disjoint scratch. A decode-like layer run through 2- and
 * 3-thread queues, as one submission, gives the bits each command gives
 * alone on one thread, every time of many.
 */
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "accel.h"
#include "../../libaccel/src/cpu_exec.h"
#include "../../libaccel/src/cpu_plan.h"

#define DIM	256	/* model width: a multiple of the Q8_0 / Q4_1 blocks */
#define KV	64	/* K and V width (GQA) */
#define FF	384	/* feed-forward width */
#define HD	32	/* head dim */
#define NCMD	12
#define BIG	16384	/* more elements than an elementwise op runs on one thread */

static float x[DIM], xb[DIM], nw[DIM], q[DIM], k[KV], v[KV], hb[FF], hb2[FF], o[DIM];
static int32_t pos[1] = { 7 };
static uint8_t *wq, *wk, *wv, *wg, *wu, *wd;

static struct accel_tensor f32(float *p, int64_t n)
{
	return accel_tensor_host(p, ACCEL_DTYPE_F32, n, 1);
}

static uint8_t *weight(uint32_t dt, int64_t in, int64_t out, unsigned seed)
{
	const size_t rs = accel_dtype_row_size(dt, in);
	uint8_t *w = malloc(rs * (size_t)out);
	float *row = malloc(sizeof(float) * (size_t)in);

	if (!w || !row)
		bail_out("out of memory");
	srand(seed);
	for (int64_t r = 0; r < out; r++) {
		for (int64_t i = 0; i < in; i++)
			row[i] = (float)rand() / RAND_MAX - 0.5f;
		if (accel_dtype_quantize(dt, row, w + (size_t)r * rs, in))
			bail_out("quantize failed");
	}
	free(row);
	return w;
}

static struct accel_tensor wt(const uint8_t *w, uint32_t dt, int64_t in, int64_t out)
{
	return accel_tensor_host(w, dt, in, out);
}

/* a decode step's attention inputs and feed-forward of one layer (the
 * attention itself aside): norm, Q K V, RoPE, then gate up swiglu down, add */
static int layer(struct accel_cmd *c)
{
	static const struct accel_tensor none;
	struct accel_tensor qh = accel_tensor_make(NULL, (uintptr_t)q, ACCEL_DTYPE_F32, HD,
						   DIM / HD, 1, 1);
	struct accel_tensor kh = accel_tensor_make(NULL, (uintptr_t)k, ACCEL_DTYPE_F32, HD,
						   KV / HD, 1, 1);
	struct accel_tensor p = accel_tensor_host(pos, ACCEL_DTYPE_I32, 1, 1);
	int n = 0;

	accel_cmd_prep_rmsnorm(&c[n++], f32(xb, DIM), f32(x, DIM), f32(nw, DIM), 1e-5f);
	accel_cmd_prep_matmul(&c[n++], f32(q, DIM), f32(xb, DIM), wt(wq, ACCEL_DTYPE_Q4_1, DIM, DIM),
			      none);
	accel_cmd_prep_matmul(&c[n++], f32(k, KV), f32(xb, DIM), wt(wk, ACCEL_DTYPE_Q8_0, DIM, KV),
			      none);
	accel_cmd_prep_matmul(&c[n++], f32(v, KV), f32(xb, DIM), wt(wv, ACCEL_DTYPE_Q4_1, DIM, KV),
			      none);
	accel_cmd_prep_rope(&c[n++], qh, p, none, HD, 2, 10000.0f, 1.0f);
	accel_cmd_prep_rope(&c[n++], kh, p, none, HD, 2, 10000.0f, 1.0f);
	accel_cmd_prep_rmsnorm(&c[n++], f32(xb, DIM), f32(q, DIM), f32(nw, DIM), 1e-5f);
	accel_cmd_prep_matmul(&c[n++], f32(hb, FF), f32(xb, DIM), wt(wg, ACCEL_DTYPE_Q4_1, DIM, FF),
			      none);
	accel_cmd_prep_matmul(&c[n++], f32(hb2, FF), f32(xb, DIM), wt(wu, ACCEL_DTYPE_Q4_1, DIM, FF),
			      none);
	accel_cmd_prep_swiglu(&c[n++], f32(hb, FF), f32(hb, FF), f32(hb2, FF));
	accel_cmd_prep_matmul(&c[n++], f32(o, DIM), f32(hb, FF), wt(wd, ACCEL_DTYPE_Q8_0, FF, DIM),
			      none);
	accel_cmd_prep_add(&c[n++], f32(x, DIM), f32(x, DIM), f32(o, DIM));
	return n;
}

static void init_state(void)
{
	for (int i = 0; i < DIM; i++) {
		x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
		nw[i] = 1.0f + (float)(i % 7) / 16.0f;
	}
}

/* every output of the layer, to compare runs */
struct snap {
	float x[DIM], q[DIM], k[KV], v[KV], hb[FF], o[DIM];
};

static void take(struct snap *s)
{
	memcpy(s->x, x, sizeof(x));
	memcpy(s->q, q, sizeof(q));
	memcpy(s->k, k, sizeof(k));
	memcpy(s->v, v, sizeof(v));
	memcpy(s->hb, hb, sizeof(hb));
	memcpy(s->o, o, sizeof(o));
}

static void test_plan(void)
{
	struct accel_cmd c[NCMD], add[10];
	struct accel_cpu_step st[NCMD];
	static const bool want[NCMD] = {
		/* norm | Q K V | rope rope norm (serial: worker 0 in order) | gate up |
		 * swiglu | down | add */
		true, false, false, true, false, false, true, false, true, true, true, true,
	};
	static float a[8][BIG], b[BIG], nb[BIG];
	size_t need;
	int n = layer(c), same = 1, disjoint;

	is_int(n, NCMD, "the layer is %d commands", NCMD);
	need = accel_cpu_plan(c, NCMD, 2, true, st);
	for (int i = 0; i < NCMD; i++)
		same &= st[i].barrier == want[i];
	ok(same, "barriers only where a command reads, or writes over, what its group touches");
	ok(st[0].serial && !st[1].serial && st[4].serial && st[5].serial && st[6].serial &&
	   st[9].serial && st[11].serial && !st[10].serial,
	   "a decode row's norm, RoPE, SwiGLU and add are serial, the matmuls split");
	ok(st[4].worker == 0 && st[5].worker == 1,
	   "the RoPEs of Q and of K (independent, one group) run on workers 0 and 1");
	ok(st[6].serial && st[6].worker == st[4].worker && !st[5].barrier,
	   "the norm of the RoPE'd Q joins the group, after it on its worker");
	disjoint = st[2].scratch_off >= st[1].scratch_off + st[1].scratch_size &&
		   st[3].scratch_off >= st[2].scratch_off + st[2].scratch_size &&
		   st[8].scratch_off >= st[7].scratch_off + st[7].scratch_size;
	ok(disjoint && st[1].scratch_size && need >= st[3].scratch_off + st[3].scratch_size,
	   "Q, K, V (and gate, up) have disjoint scratch within the plan's %zu bytes", need);
	ok(st[1].scratch_off % 64 == 0 && st[2].scratch_off % 64 == 0 &&
	   st[3].scratch_off % 64 == 0, "scratch slices are 64-byte aligned");
	accel_cpu_plan(c, NCMD, 2, false, st);
	same = 1;
	for (int i = 0; i < NCMD; i++)
		same &= st[i].barrier && st[i].scratch_off == 0;
	ok(same, "without overlap: a barrier after every command, scratch from 0");

	/* write-after-read: the second writes the first's input */
	accel_cmd_prep_add(&add[0], f32(a[0], BIG), f32(b, BIG), f32(b, BIG));
	accel_cmd_prep_rmsnorm(&add[1], f32(b, BIG), f32(a[1], BIG), f32(nb, BIG), 1e-5f);
	accel_cpu_plan(add, 2, 2, true, st);
	ok(st[0].barrier && !st[0].serial, "a barrier before a command that writes what the group reads");
	/* the same, small enough for one thread: worker 0 runs both in order */
	accel_cmd_prep_add(&add[0], f32(a[0], DIM), f32(b, DIM), f32(b, DIM));
	accel_cmd_prep_rmsnorm(&add[1], f32(b, DIM), f32(a[1], DIM), f32(nw, DIM), 1e-5f);
	accel_cpu_plan(add, 2, 2, true, st);
	ok(!st[0].barrier && st[0].serial && st[1].serial, "none between two serial commands");
	ok(st[0].worker == st[1].worker, "... the second, which reads the first's output, on its worker");
	accel_cpu_plan(add, 2, 2, false, st);
	ok(st[0].barrier && !st[0].serial, "without overlap nothing is serial");
	/* write-after-write of overlapping halves */
	accel_cmd_prep_add(&add[0], accel_tensor_host(a[0], ACCEL_DTYPE_F32, BIG / 2, 1),
			   f32(b, BIG / 2), f32(b, BIG / 2));
	accel_cmd_prep_add(&add[1], accel_tensor_host(a[0] + BIG / 2 - 1, ACCEL_DTYPE_F32, BIG / 2, 1),
			   f32(nb, BIG / 2), f32(nb, BIG / 2));
	accel_cpu_plan(add, 2, 2, true, st);
	ok(st[0].barrier, "a barrier between writes that share one float");
	add[1].t[0].offset += sizeof(float);
	accel_cpu_plan(add, 2, 2, true, st);
	ok(!st[0].barrier, "none between writes that only touch");
	/* an op that finds memory at run time (attention): barriers around it */
	accel_cmd_prep_add(&add[0], f32(a[0], DIM), f32(b, DIM), f32(b, DIM));
	accel_cmd_prep(&add[1], ACCEL_OP_ATTN_DECODE);
	accel_cmd_prep_add(&add[2], f32(a[2], DIM), f32(b, DIM), f32(b, DIM));
	accel_cpu_plan(add, 3, 2, true, st);
	ok(st[0].barrier && st[1].barrier, "barriers before and after an op that is not refs_only");
	/* ten independent commands: a group holds ACCEL_CPU_PLAN_MAX_GROUP */
	for (int i = 0; i < 10; i++)
		accel_cmd_prep_add(&add[i], f32(a[i % 8] + (i / 8) * 8, 4), f32(b, 4), f32(b, 4));
	accel_cpu_plan(add, 10, 2, true, st);
	same = 1;
	for (int i = 0; i < 10; i++)
		same &= st[i].barrier == (i == ACCEL_CPU_PLAN_MAX_GROUP - 1 || i == 9);
	ok(same, "a barrier after every %d hazard-free commands", ACCEL_CPU_PLAN_MAX_GROUP);
}

/* the layer, each command alone on one thread: the reference */
static void run_single(struct snap *out)
{
	struct accel_cmd c[NCMD];
	struct accel_cpu_ctx one = { .ith = 0, .nth = 1 };
	static uint8_t scratch[1 << 16] __attribute__((aligned(64)));
	int ret = 0;

	init_state();
	layer(c);
	for (int i = 0; i < NCMD && !ret; i++) {
		one.scratch = scratch;
		one.scratch_size = accel_cpu_scratch_size(&c[i], 1);
		if (one.scratch_size > sizeof(scratch))
			bail_out("scratch too small");
		ret = accel_cpu_exec(&c[i], &one);
	}
	if (ret)
		bail_out("a command failed on one thread: %d", ret);
	take(out);
}

static void test_queue(struct accel_device *dev, int threads, const char *overlap,
		       const struct snap *ref)
{
	struct accel_queue_opts qo = ACCEL_OPTS(accel_queue_opts, .engine = ACCEL_ENGINE_COMPUTE,
						.threads = (uint32_t)threads);
	struct accel_cmd c[NCMD];
	struct accel_queue *qu;
	struct snap got;
	int bad = 0, err = 0;

	setenv("ACCEL_OVERLAP", overlap, 1);
	if (accel_queue_create(dev, &qo, &qu))
		bail_out("no COMPUTE queue");
	layer(c);
	for (int it = 0; it < 300 && !err; it++) {
		init_state();
		err = accel_queue_submit(qu, c, NCMD, NULL, 0, NULL);
		if (!err)
			err = accel_queue_wait_idle(qu);
		take(&got);
		bad += memcmp(&got, ref, sizeof(got)) != 0;
	}
	accel_queue_destroy(qu);
	unsetenv("ACCEL_OVERLAP");
	is_int(err, 0, "%d threads, ACCEL_OVERLAP=%s: 300 submissions run", threads, overlap);
	is_int(bad, 0, "%d threads, ACCEL_OVERLAP=%s: every output bit-identical to one thread",
	       threads, overlap);
}

int main(void)
{
	struct accel_device *dev = NULL;
	struct snap ref;

	plan(16 + 6 * 2);
	wq = weight(ACCEL_DTYPE_Q4_1, DIM, DIM, 1);
	wk = weight(ACCEL_DTYPE_Q8_0, DIM, KV, 2);
	wv = weight(ACCEL_DTYPE_Q4_1, DIM, KV, 3);
	wg = weight(ACCEL_DTYPE_Q4_1, DIM, FF, 4);
	wu = weight(ACCEL_DTYPE_Q4_1, DIM, FF, 5);
	wd = weight(ACCEL_DTYPE_Q8_0, FF, DIM, 6);
	test_plan();
	run_single(&ref);
	setenv("ACCEL_DEVICE", "emu", 1);
	if (accel_device_open(NULL, &dev))
		bail_out("no device");
	test_queue(dev, 2, "1", &ref);
	test_queue(dev, 3, "1", &ref);
	test_queue(dev, 2, "0", &ref);
	test_queue(dev, 1, "1", &ref);
	test_queue(dev, 4, "1", &ref);
	test_queue(dev, 3, "0", &ref);
	accel_device_close(dev);
	free(wq);
	free(wk);
	free(wv);
	free(wg);
	free(wu);
	free(wd);
	return done_testing();
}
