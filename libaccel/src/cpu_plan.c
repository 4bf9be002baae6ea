// SPDX-License-Identifier: MIT
/*
 * The CPU COMPUTE engine's barrier plan (cpu_plan.h). A decode step of a
 * small model is hundreds of commands of a few microseconds each, and with
 * two threads each barrier between them costs a rendezvous and the wait for
 * the slower thread's last chunk. Commands that touch disjoint memory (Q, K
 * and V projections of one normed input; gate and up; RoPE of Q and of K)
 * need no barrier between them: a thread done with its share starts the
 * next. The hazards are found here from the tensor refs, like a scoreboard,
 * so the command stream (and every other backend) stays as it is.
 */
#include <pthread.h>
#include "backend.h"
#include "cpu_exec.h"
#include "cpu_plan.h"
#include "kn.h"
#include "op_table.h"

#define PLAN_ALIGN(x)	(((x) + 63) & ~(size_t)63)

struct plan_range {
	uintptr_t lo, hi;	/* [lo, hi) of CPU addresses */
	bool write;
};

struct plan_cmd {
	struct plan_range r[ACCEL_CMD_MAX_TENSORS];
	int nr;
	bool serial;
	int worker;		/* serial: the worker that runs it */
};

/*
 * each dtype's block as a shift and its bytes: the plan sizes every tensor of
 * every command of every pass, and kn_row_size's 64-bit divisions made that
 * 29 us for a 456-command decode pass (6 us this way)
 */
static struct { uint8_t shift, bytes; } plan_type[KN_TYPE_MAX];
static pthread_once_t plan_type_once = PTHREAD_ONCE_INIT;

static void plan_type_init(void)
{
	for (uint32_t t = 0; t < KN_TYPE_MAX; t++) {
		const int64_t be = kn_type_block_elems(t);

		/* every block is a power of two elements of < 256 bytes */
		if (be > 0 && !(be & (be - 1)) && kn_type_block_bytes(t) < 256) {
			plan_type[t].shift = (uint8_t)__builtin_ctzll((unsigned long long)be);
			plan_type[t].bytes = (uint8_t)kn_type_block_bytes(t);
		}
	}
}

/* bytes of a tensor that passed the submit checks (whole blocks per row) */
static uint64_t plan_bytes(const struct accel_tensor *t)
{
	uint64_t b;

	if (t->dtype >= KN_TYPE_MAX || !plan_type[t->dtype].bytes)
		return accel_tensor_bytes(t);
	b = ((uint64_t)t->ne[0] >> plan_type[t->dtype].shift) * plan_type[t->dtype].bytes;
	return b * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
}

/* the byte ranges @c touches; false if it may touch others (not refs_only) */
static bool plan_ranges(const struct accel_cmd *c, struct plan_cmd *pc)
{
	const struct accel_op_desc *d = accel_op_desc(c->op);

	pc->nr = 0;
	if (!d || !d->refs_only)
		return false;
	for (int i = 0; i < ACCEL_CMD_MAX_TENSORS; i++) {
		const struct accel_tensor *t = &c->t[i];
		struct plan_range *r = &pc->r[pc->nr];

		if (!t->ne[0] && !t->pool)
			continue;		/* unused */
		if (!t->ne[0]) {		/* a pool ref without a tensor: all of it */
			r->lo = (uintptr_t)t->pool->base;
			r->hi = r->lo + t->pool->size;
		} else {
			r->lo = (uintptr_t)accel_tensor_data(t);
			r->hi = r->lo + plan_bytes(t);
		}
		r->write = (d->writes & ACCEL_OP_T(i)) != 0;
		pc->nr++;
	}
	/* t0 is the output of every op with serial_elems */
	pc->serial = d->serial_elems && c->t[0].ne[0] &&
		     (uint64_t)c->t[0].ne[0] * (uint64_t)c->t[0].ne[1] * (uint64_t)c->t[0].ne[2] *
		     (uint64_t)c->t[0].ne[3] <= d->serial_elems;
	return true;
}

/* a write of one overlaps anything of the other (RAW, WAR, WAW) */
static bool plan_hazard(const struct plan_cmd *a, const struct plan_cmd *b)
{
	for (int i = 0; i < a->nr; i++)
		for (int j = 0; j < b->nr; j++)
			if ((a->r[i].write || b->r[j].write) &&
			    a->r[i].lo < b->r[j].hi && b->r[j].lo < a->r[i].hi)
				return true;
	return false;
}

static size_t plan_scratch(const struct accel_cmd *c, int nth)
{
	const struct accel_op_desc *d = accel_op_desc(c->op);

	/* checked at submit, so the op's own scratch function applies as is */
	return d && d->cpu_scratch ? d->cpu_scratch(c, nth) : 0;
}

size_t accel_cpu_plan(const struct accel_cmd *cmds, uint32_t n, int nth, bool overlap,
		      struct accel_cpu_step *steps)
{
	struct plan_cmd group[ACCEL_CPU_PLAN_MAX_GROUP];
	int ng = 0;		/* commands in the current group */
	bool open = false;	/* the group may take more (all refs_only so far) */
	size_t used = 0, need = 0;

	pthread_once(&plan_type_once, plan_type_init);
	for (uint32_t i = 0; i < n; i++) {
		struct plan_cmd pc;
		bool joins = false;
		const bool ro = overlap && plan_ranges(&cmds[i], &pc);

		if (ro && open && ng < ACCEL_CPU_PLAN_MAX_GROUP) {
			int nser = 0;

			joins = true;
			pc.worker = -1;
			/* serial after a serial it depends on: on that one's worker,
			 * in order; else the next worker's turn */
			for (int g = 0; g < ng && joins; g++) {
				nser += group[g].serial;
				if (!plan_hazard(&group[g], &pc))
					continue;
				joins = group[g].serial && pc.serial &&
					(pc.worker < 0 || pc.worker == group[g].worker);
				pc.worker = group[g].worker;
			}
			if (pc.serial && pc.worker < 0)
				pc.worker = nser % nth;
		}
		if (!joins) {
			if (i)
				steps[i - 1].barrier = true;
			ng = 0;
			used = 0;
		}
		steps[i].scratch_size = plan_scratch(&cmds[i], nth);
		steps[i].scratch_off = used;
		steps[i].barrier = false;
		if (!joins)
			pc.worker = 0;		/* a group's first command */
		steps[i].serial = ro && pc.serial;
		steps[i].worker = steps[i].serial ? (uint16_t)pc.worker : 0;
		used += PLAN_ALIGN(steps[i].scratch_size);
		if (used > need)
			need = used;
		open = ro;
		if (ro)
			group[ng++] = pc;
	}
	if (n)
		steps[n - 1].barrier = true;
	return need;
}
