// SPDX-License-Identifier: MIT
/*
 * The op descriptor table (struct accel_op_desc, op_table.h): one row per
 * enum accel_op, indexed by it. A new opcode is a new row here and its
 * check/executor functions; the queue, the engines and the dump look it up.
 */
#include <errno.h>
#include "cpu_op.h"
#include "op_table.h"
#include "queue.h"

#define ON_COPY		ACCEL_OP_ENGINE(ACCEL_ENGINE_COPY)
#define ON_COMPUTE	ACCEL_OP_ENGINE(ACCEL_ENGINE_COMPUTE)
#define W0		ACCEL_OP_T(0)
/*
 * serial_elems of the elementwise ops: SmolLM2's widths (576, 1536) and a
 * few decode rows of them run on one thread. 2 threads, per layer of a decode
 * token: 9 barriers instead of 11 (residual add then norm, RoPE Q then K).
 */
#define SERIAL		4096

const struct accel_op_desc accel_op_table[] = {
	[ACCEL_OP_NOP] = {
		.name = "nop", .engines = ON_COPY | ON_COMPUTE,
		.cpu = accel_cpu_exec_nop,
		.refs_only = true,
	},
	/* COPY engine: engine_copy.c runs them */
	[ACCEL_OP_READ_FILE] = {
		.name = "read_file", .engines = ON_COPY, .check = accel_copy_check_read_file,
	},
	[ACCEL_OP_WRITE_FILE] = {
		.name = "write_file", .engines = ON_COPY, .check = accel_copy_check_write_file,
	},
	[ACCEL_OP_COPY] = {
		.name = "copy", .engines = ON_COPY, .check = accel_copy_check_copy,
	},
	/* COMPUTE engine */
	[ACCEL_OP_EMBED] = {
		.name = "embed", .engines = ON_COMPUTE, .check = accel_cpu_check_embed,
		.cpu = accel_cpu_exec_embed,
		.writes = W0, .refs_only = true, .serial_elems = SERIAL,
	},
	[ACCEL_OP_RMSNORM] = {
		.name = "rmsnorm", .engines = ON_COMPUTE, .check = accel_cpu_check_rmsnorm,
		.cpu = accel_cpu_exec_rmsnorm,
		.writes = W0, .refs_only = true, .serial_elems = SERIAL,
	},
	[ACCEL_OP_MATMUL] = {
		.name = "matmul", .engines = ON_COMPUTE, .check = accel_cpu_check_matmul,
		.cpu = accel_cpu_exec_matmul, .cpu_scratch = accel_cpu_scratch_matmul,
		.writes = W0, .refs_only = true,
	},
	[ACCEL_OP_ROPE] = {
		.name = "rope", .engines = ON_COMPUTE, .check = accel_cpu_check_rope,
		.cpu = accel_cpu_exec_rope,
		.writes = W0, .refs_only = true, .serial_elems = SERIAL,
	},
	[ACCEL_OP_ATTN_PREFILL] = {
		.name = "attn_prefill", .engines = ON_COMPUTE, .check = accel_cpu_check_attn,
		.cpu = accel_cpu_exec_attn, .cpu_scratch = accel_cpu_scratch_attn,
		.writes = W0,	/* and the KV cache, found through the block table */
	},
	[ACCEL_OP_ATTN_DECODE] = {
		.name = "attn_decode", .engines = ON_COMPUTE, .check = accel_cpu_check_attn,
		.cpu = accel_cpu_exec_attn, .cpu_scratch = accel_cpu_scratch_attn,
		.writes = W0,	/* and the KV cache, found through the block table */
	},
	[ACCEL_OP_SWIGLU] = {
		.name = "swiglu", .engines = ON_COMPUTE, .check = accel_cpu_check_swiglu,
		.cpu = accel_cpu_exec_swiglu,
		.writes = W0, .refs_only = true, .serial_elems = SERIAL,
	},
	[ACCEL_OP_ADD] = {
		.name = "add", .engines = ON_COMPUTE, .check = accel_cpu_check_add,
		.cpu = accel_cpu_exec_add,
		.writes = W0, .refs_only = true, .serial_elems = SERIAL,
	},
	[ACCEL_OP_MOE_ROUTE] = {
		.name = "moe_route", .engines = ON_COMPUTE, .check = accel_cpu_check_moe_route,
		.cpu = accel_cpu_exec_moe_route,
		.writes = W0 | ACCEL_OP_T(1), .refs_only = true,
	},
	[ACCEL_OP_MOE_FFN] = {
		.name = "moe_ffn", .engines = ON_COMPUTE, .check = accel_cpu_check_moe_ffn,
		.cpu = accel_cpu_exec_moe_ffn, .cpu_scratch = accel_cpu_scratch_moe_ffn,
		.writes = W0,	/* reads experts wherever t7 says: not refs_only */
	},
	[ACCEL_OP_LOGITS] = {
		.name = "logits", .engines = ON_COMPUTE, .check = accel_cpu_check_logits,
		.cpu = accel_cpu_exec_matmul, .cpu_scratch = accel_cpu_scratch_matmul,
		.writes = W0, .refs_only = true,
	},
	/* COPY engine of a GPU: engine_gpu.c runs them; a host COPY queue refuses them */
	[ACCEL_OP_UPLOAD] = {
		.name = "upload", .engines = ON_COPY, .check = accel_gpu_check_xfer,
	},
	[ACCEL_OP_DOWNLOAD] = {
		.name = "download", .engines = ON_COPY, .check = accel_gpu_check_xfer,
	},
	[ACCEL_OP_MOE_SUM] = {
		.name = "moe_sum", .engines = ON_COMPUTE, .check = accel_cpu_check_moe_sum,
		.cpu = accel_cpu_exec_moe_sum,
		.writes = W0, .refs_only = true, .serial_elems = SERIAL,
	},
};

/* a row per opcode: a new enum value without a row (or a row past the enum)
 * fails here; a skipped one in the middle has no name, which the unit test
 * tests/kernels/test_accel_tables.c catches */
_Static_assert(sizeof(accel_op_table) / sizeof(accel_op_table[0]) == ACCEL_OP_COUNT,
	       "accel_op_table needs exactly one row per enum accel_op");

const char *accel_op_name(uint32_t op)
{
	const struct accel_op_desc *d = accel_op_desc(op);

	return d ? d->name : NULL;
}
