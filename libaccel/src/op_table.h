/* SPDX-License-Identifier: MIT */
/*
 * The op descriptor table: everything libaccel knows about an opcode, in one
 * row per enum accel_op (op_table.c): its name, the engines that may run it,
 * its argument check and each backend's executor. Only the COPY engine's
 * execution of its three ops still switches on the op number.
 */
#ifndef ACCEL_OP_TABLE_H
#define ACCEL_OP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "accel.h"

struct accel_cpu_ctx;

/* ACCEL_OP_ENGINE - bit of enum accel_engine @e in accel_op_desc.engines */
#define ACCEL_OP_ENGINE(e)	(1u << (e))
/* ACCEL_OP_T - bit of tensor ref t[@i] in accel_op_desc.writes */
#define ACCEL_OP_T(i)		(1u << (i))

/**
 * struct accel_op_desc - one opcode
 * @name: lower-case name ("matmul"), as accel_op_name() returns it
 * @engines: ACCEL_OP_ENGINE() bits of the engines that may run the op (the
 *	queue rejects it on any other); NOP runs on every engine
 * @check: submit-time validation of the command's shapes, dtypes and scalars
 *	(tensor bounds against pools are the queue's): 0, -EINVAL, or
 *	-EOPNOTSUPP for a dtype no kernel handles. NULL: nothing to check.
 *	Shared by every backend; today it also carries the CPU kernels' limits
 *	(head dim and n_rot <= 1024), which a second backend must meet too.
 *
 * Backend columns. A COMPUTE op has one executor per COMPUTE backend; a
 * backend without an executor for an op (NULL) answers -EOPNOTSUPP. COPY ops
 * have none: engine_copy.c runs them.
 *
 * @cpu: the CPU backend (engine_compute.c): this thread's share of the
 *	command (see cpu_exec.h); 0 or -errno
 * @cpu_scratch: scratch bytes @cpu needs with @nth threads, for a command
 *	that passed @check; NULL: none
 * @writes: ACCEL_OP_T() bits of the tensor refs the op writes (every other
 *	used ref it only reads)
 * @refs_only: the op touches memory only through its tensor refs' byte
 *	ranges (and its scratch): no block table, expert table or other address
 *	it finds at run time. Only such ops may run beside the next command
 *	without a barrier between them (cpu_plan.c)
 * @serial_elems: a command of the op whose output (t0) has at most this many
 *	elements runs on one thread (worker 0) instead of being split: the
 *	split and its barrier cost more than the work (a decode token's norms,
 *	residual adds, RoPE, SwiGLU), and two such commands in a row need no
 *	barrier between them whatever they touch. 0: always split. Only for
 *	ops whose result does not depend on the split.
 *
 * A second COMPUTE backend adds its column next to @cpu, e.g.
 * "int (*cuda)(const struct accel_cmd *cmd, struct accel_cuda_ctx *ctx);" and
 * "size_t (*cuda_scratch)(const struct accel_cmd *cmd, ...)", filled in
 * op_table.c row by row (NULL where it lacks the op). A backend living in an
 * object that libaccel dlopen()s (CUDA, on --gpu) cannot be named in this
 * static table: it keeps the same column as an array indexed by enum
 * accel_op in its own object, with the same _Static_assert on ACCEL_OP_COUNT.
 * Either way @name, @engines and @check stay shared, so every backend accepts
 * exactly the same commands.
 */
struct accel_op_desc {
	const char *name;
	uint32_t engines;
	int (*check)(const struct accel_cmd *cmd);
	/* CPU backend */
	int (*cpu)(const struct accel_cmd *cmd, struct accel_cpu_ctx *ctx);
	size_t (*cpu_scratch)(const struct accel_cmd *cmd, int nth);
	/* memory the op touches, for the CPU engine's barrier plan */
	uint8_t writes;
	bool refs_only;
	uint32_t serial_elems;
};

/* the table (op_table.c); unsized here so that its rows size it and its
 * _Static_assert can count them. Use accel_op_desc(). */
extern const struct accel_op_desc accel_op_table[];

/* accel_op_desc - the descriptor of @op; NULL if @op is not an opcode.
 * Inline: each command is looked up at submit, for its scratch and to run
 * it, and a whole NOP command costs ~0.45 us (accel-bench device). */
static inline const struct accel_op_desc *accel_op_desc(uint32_t op)
{
	return op < ACCEL_OP_COUNT ? &accel_op_table[op] : NULL;
}

/** accel_op_on_engine - whether engine @engine (enum accel_engine) may run @op */
static inline bool accel_op_on_engine(uint32_t op, uint32_t engine)
{
	const struct accel_op_desc *d = accel_op_desc(op);

	return d && engine < 32 && (d->engines & ACCEL_OP_ENGINE(engine));
}

#endif /* ACCEL_OP_TABLE_H */
