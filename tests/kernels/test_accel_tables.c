// SPDX-License-Identifier: MIT
/*
 * libaccel's tables by number: the op descriptor table (a named row for every
 * enum accel_op, the engines each op may run on, a CPU executor for every
 * COMPUTE op) and accel_op_name, with NULL past the last opcode.
 */
#include <ctype.h>
#include <string.h>
#include "tap.h"
#include "accel.h"
#include "../../libaccel/src/op_table.h"	/* the descriptor table (not installed) */

#define COPY	ACCEL_OP_ENGINE(ACCEL_ENGINE_COPY)
#define COMPUTE	ACCEL_OP_ENGINE(ACCEL_ENGINE_COMPUTE)

/* what each opcode must be: written out, not derived from the table */
static const struct {
	uint32_t op;
	const char *name;
	uint32_t engines;
} op_ref[] = {
	{ ACCEL_OP_NOP, "nop", COPY | COMPUTE },
	{ ACCEL_OP_READ_FILE, "read_file", COPY },
	{ ACCEL_OP_WRITE_FILE, "write_file", COPY },
	{ ACCEL_OP_COPY, "copy", COPY },
	{ ACCEL_OP_EMBED, "embed", COMPUTE },
	{ ACCEL_OP_RMSNORM, "rmsnorm", COMPUTE },
	{ ACCEL_OP_MATMUL, "matmul", COMPUTE },
	{ ACCEL_OP_ROPE, "rope", COMPUTE },
	{ ACCEL_OP_ATTN_PREFILL, "attn_prefill", COMPUTE },
	{ ACCEL_OP_ATTN_DECODE, "attn_decode", COMPUTE },
	{ ACCEL_OP_SWIGLU, "swiglu", COMPUTE },
	{ ACCEL_OP_ADD, "add", COMPUTE },
	{ ACCEL_OP_MOE_ROUTE, "moe_route", COMPUTE },
	{ ACCEL_OP_MOE_FFN, "moe_ffn", COMPUTE },
	{ ACCEL_OP_LOGITS, "logits", COMPUTE },
};

static bool name_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static void test_op_table(void)
{
	int bad = 0;

	is_int(sizeof(op_ref) / sizeof(op_ref[0]), ACCEL_OP_COUNT,
	       "this test lists every opcode (%d)", ACCEL_OP_COUNT);
	for (uint32_t op = 0; op < ACCEL_OP_COUNT; op++) {
		const struct accel_op_desc *d = accel_op_desc(op);
		const char *name = accel_op_name(op);

		if (!d || !name_ok(d->name) || name != d->name) {
			diag("op %u: row missing or badly named (%s)", op, name ? name : "NULL");
			bad++;
			continue;
		}
		for (uint32_t o2 = 0; o2 < op; o2++)
			if (accel_op_name(o2) && !strcmp(accel_op_name(o2), name)) {
				diag("ops %u and %u are both \"%s\"", o2, op, name);
				bad++;
			}
	}
	ok(!bad, "every op has a row with a unique lower-case name");

	bad = 0;
	for (size_t i = 0; i < sizeof(op_ref) / sizeof(op_ref[0]); i++) {
		const char *name = accel_op_name(op_ref[i].op);
		const struct accel_op_desc *d = accel_op_desc(op_ref[i].op);

		if (!name || strcmp(name, op_ref[i].name) || !d || d->engines != op_ref[i].engines) {
			diag("op %u: \"%s\" engines %#x, want \"%s\" engines %#x", op_ref[i].op,
			     name ? name : "NULL", d ? d->engines : 0, op_ref[i].name,
			     op_ref[i].engines);
			bad++;
		}
		if (accel_op_on_engine(op_ref[i].op, ACCEL_ENGINE_COPY) != !!(op_ref[i].engines & COPY) ||
		    accel_op_on_engine(op_ref[i].op, ACCEL_ENGINE_COMPUTE) !=
			    !!(op_ref[i].engines & COMPUTE)) {
			diag("op %u: accel_op_on_engine disagrees with its row", op_ref[i].op);
			bad++;
		}
	}
	ok(!bad, "names and engines of %zu ops are the documented ones",
	   sizeof(op_ref) / sizeof(op_ref[0]));

	bad = 0;
	for (uint32_t op = 0; op < ACCEL_OP_COUNT; op++) {
		const struct accel_op_desc *d = accel_op_desc(op);

		if (!d)
			continue;
		if ((d->engines & COMPUTE) && !d->cpu) {
			diag("%s runs on COMPUTE but has no CPU executor", d->name);
			bad++;
		}
		if (!(d->engines & COMPUTE) && (d->cpu || d->cpu_scratch)) {
			diag("%s is a COPY op with a CPU executor", d->name);
			bad++;
		}
		if (op != ACCEL_OP_NOP && !d->check) {
			diag("%s has no argument check", d->name);
			bad++;
		}
	}
	ok(!bad, "every COMPUTE op has a CPU executor, every op but NOP a check");

	ok(!accel_op_name(ACCEL_OP_COUNT) && !accel_op_name(ACCEL_OP_COUNT + 1) &&
	   !accel_op_name(UINT32_MAX), "accel_op_name past the last opcode: NULL");
	ok(!accel_op_desc(ACCEL_OP_COUNT) && !accel_op_desc(UINT32_MAX),
	   "accel_op_desc past the last opcode: NULL");
	ok(!accel_op_on_engine(ACCEL_OP_COUNT, ACCEL_ENGINE_COMPUTE) &&
	   !accel_op_on_engine(ACCEL_OP_MATMUL, 2) && !accel_op_on_engine(ACCEL_OP_NOP, 1000),
	   "no engine runs a non-op, no op runs on a non-engine");
}

int main(void)
{
	test_op_table();
	return done_testing();
}
