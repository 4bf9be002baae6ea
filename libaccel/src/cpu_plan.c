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
#include "backend.h"
#include "cpu_exec.h"
#include "cpu_plan.h"
#include "op_table.h"

#define PLAN_ALIGN(x)	(((x) + 63) & ~(size_t)63)

struct plan_range {
	uintptr_t lo, hi;	/* [lo, hi) of CPU addresses */
	bool write;
};

struct plan_cmd {
	struct plan_range r[ACCEL_CMD_MAX_TENSORS];
	int nr;
};

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
			r->hi = r->lo + accel_tensor_bytes(t);
		}
		r->write = (d->writes & ACCEL_OP_T(i)) != 0;
		pc->nr++;
	}
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

	for (uint32_t i = 0; i < n; i++) {
		struct plan_cmd pc;
		bool joins = false;
		const bool ro = overlap && plan_ranges(&cmds[i], &pc);

		if (ro && open && ng < ACCEL_CPU_PLAN_MAX_GROUP) {
			joins = true;
			for (int g = 0; g < ng && joins; g++)
				joins = !plan_hazard(&group[g], &pc);
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
