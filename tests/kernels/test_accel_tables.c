// SPDX-License-Identifier: MIT
/*
 * libaccel's tables by number: the op descriptor table (a named row for every
 * enum accel_op, the engines each op may run on, a CPU executor for every
 * COMPUTE op) and accel_op_name, with NULL past the last opcode; the public
 * accel_dtype_* answers against the kernels' kn_* for every dtype number.
 */
#include <ctype.h>
#include <string.h>
#include "tap.h"
#include "accel.h"
#include "kn.h"
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
	{ ACCEL_OP_UPLOAD, "upload", COPY },
	{ ACCEL_OP_DOWNLOAD, "download", COPY },
	{ ACCEL_OP_MOE_SUM, "moe_sum", COMPUTE },
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

static void test_dtypes(void)
{
	static const uint32_t accel_dtypes[] = {
		ACCEL_DTYPE_F32, ACCEL_DTYPE_F16, ACCEL_DTYPE_Q4_0, ACCEL_DTYPE_Q4_1,
		ACCEL_DTYPE_Q8_0, ACCEL_DTYPE_Q8_1, ACCEL_DTYPE_Q4_K, ACCEL_DTYPE_Q5_K,
		ACCEL_DTYPE_Q6_K, ACCEL_DTYPE_Q8_K, ACCEL_DTYPE_I8, ACCEL_DTYPE_I16,
		ACCEL_DTYPE_I32, ACCEL_DTYPE_I64, ACCEL_DTYPE_BF16,
	};
	static const int64_t ne0s[] = { 0, 1, 7, 16, 31, 32, 33, 64, 255, 256, 512, 4096,
					 576 * 1536, -1, -32, -256 };
	static const uint32_t far[] = { 1000, 1u << 31, UINT32_MAX - 1, UINT32_MAX };
	const uint32_t n_far = sizeof(far) / sizeof(far[0]);
	int bad = 0, known = 0, checked = 0;

	/* every dtype number up to well past the last, and a few far out */
	for (uint32_t i = 0; i < 2 * KN_TYPE_MAX + n_far; i++) {
		const uint32_t t = i < 2 * KN_TYPE_MAX ? i : far[i - 2 * KN_TYPE_MAX];
		const char *name = accel_dtype_name(t);

		for (size_t j = 0; j < sizeof(ne0s) / sizeof(ne0s[0]); j++)
			if (accel_dtype_row_size(t, ne0s[j]) != kn_row_size(t, ne0s[j])) {
				diag("dtype %u: row size of %lld is %llu, kernels say %zu", t,
				     (long long)ne0s[j],
				     (unsigned long long)accel_dtype_row_size(t, ne0s[j]),
				     kn_row_size(t, ne0s[j]));
				bad++;
			}
		if (accel_dtype_block_size(t) != (uint64_t)kn_type_block_elems(t) ||
		    accel_dtype_block_bytes(t) != kn_type_block_bytes(t) ||
		    accel_dtype_can_matmul(t) != kn_type_can_matmul(t) ||
		    accel_dtype_can_dequantize(t) != kn_type_can_dequantize(t)) {
			diag("dtype %u: block %u/%u bytes, matmul %d, dequantize %d differ from kn_*",
			     t, accel_dtype_block_size(t), accel_dtype_block_bytes(t),
			     accel_dtype_can_matmul(t), accel_dtype_can_dequantize(t));
			bad++;
		}
		if (kn_type_known(t) ? !name || strcmp(name, kn_type_name(t)) : name != NULL) {
			diag("dtype %u: name %s, kernels say %s", t, name ? name : "NULL",
			     kn_type_known(t) ? kn_type_name(t) : "(unknown)");
			bad++;
		}
		if (!kn_type_known(t) && (accel_dtype_block_size(t) || accel_dtype_block_bytes(t) ||
					  accel_dtype_row_size(t, 32)))
			bad++;
		known += kn_type_known(t);
		checked++;
	}
	ok(!bad, "accel_dtype_* agree with kn_* on %d dtype numbers (%d known)", checked, known);

	bad = 0;
	for (size_t i = 0; i < sizeof(accel_dtypes) / sizeof(accel_dtypes[0]); i++)
		if (!accel_dtype_name(accel_dtypes[i]) || !accel_dtype_block_size(accel_dtypes[i]))
			bad++;
	ok(!bad && known == (int)(sizeof(accel_dtypes) / sizeof(accel_dtypes[0])),
	   "each of the %zu enum accel_dtype values is a known dtype, and no other",
	   sizeof(accel_dtypes) / sizeof(accel_dtypes[0]));

	/* a few values written out (ggml-common.h), so both sides cannot drift together */
	ok(!strcmp(accel_dtype_name(ACCEL_DTYPE_Q4_K) ?: "", "q4_K") &&
	   !strcmp(accel_dtype_name(ACCEL_DTYPE_Q4_0) ?: "", "q4_0") &&
	   !strcmp(accel_dtype_name(ACCEL_DTYPE_BF16) ?: "", "bf16") &&
	   !accel_dtype_name(5) && !accel_dtype_name(UINT32_MAX), "names are ggml's, NULL if unknown");
	ok(accel_dtype_block_size(ACCEL_DTYPE_Q4_K) == 256 &&
	   accel_dtype_block_bytes(ACCEL_DTYPE_Q4_K) == 144 &&
	   accel_dtype_block_size(ACCEL_DTYPE_Q8_0) == 32 &&
	   accel_dtype_block_bytes(ACCEL_DTYPE_Q8_0) == 34 &&
	   accel_dtype_block_size(ACCEL_DTYPE_F16) == 1 &&
	   accel_dtype_block_bytes(ACCEL_DTYPE_F16) == 2, "block geometry of q4_K, q8_0, f16");
	is_int(accel_dtype_row_size(ACCEL_DTYPE_Q6_K, 576), 0, "row of a partial q6_K block: 0");
	is_int(accel_dtype_row_size(ACCEL_DTYPE_Q6_K, 1536), 6 * 210, "row of 6 q6_K blocks");
	ok(accel_dtype_can_matmul(ACCEL_DTYPE_Q5_K) && !accel_dtype_can_matmul(ACCEL_DTYPE_Q8_K) &&
	   !accel_dtype_can_matmul(ACCEL_DTYPE_I32) && accel_dtype_can_dequantize(ACCEL_DTYPE_Q6_K) &&
	   !accel_dtype_can_dequantize(7), "matmul and dequantize support of a few dtypes");
}

int main(void)
{
	plan(7 + 7);	/* op table 7, dtypes 7: no test is conditional */
	test_op_table();
	test_dtypes();
	return done_testing();
}
