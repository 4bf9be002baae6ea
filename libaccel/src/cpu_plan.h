/* SPDX-License-Identifier: MIT */
/*
 * The CPU COMPUTE engine's barrier plan for a submission (cpu_plan.c): which
 * commands must be followed by a barrier of the thread pool and which may
 * run beside the next one, and where in the engine's scratch each command
 * keeps its scratch. Pure logic over command descriptors; runs nothing.
 */
#ifndef ACCEL_CPU_PLAN_H
#define ACCEL_CPU_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "accel.h"

/* commands at most in one group without a barrier: bounds the planner's
 * pairwise checks; the longest hazard-free run in a transformer layer is 3
 * (Q, K, V) */
#define ACCEL_CPU_PLAN_MAX_GROUP	8

/**
 * struct accel_cpu_step - one command of a planned submission
 * @scratch_off: byte offset of its scratch in the engine's scratch (64-byte
 *	aligned)
 * @scratch_size: its scratch bytes (accel_cpu_scratch_size)
 * @barrier: every thread waits for every other after it. When false, a
 *	thread done with its share goes on to the next command while others
 *	still run this one: the two touch disjoint memory and scratch, or both
 *	are @serial.
 * @serial: worker @worker runs all of it (as one thread), the others skip
 *	it (op table serial_elems)
 * @worker: the serial command's worker: independent serial commands of a
 *	group take turns (RoPE of Q on one thread, of K on another), one that
 *	depends on a serial command of its group runs after it on its worker
 */
struct accel_cpu_step {
	size_t scratch_off;
	size_t scratch_size;
	bool barrier;
	bool serial;
	uint16_t worker;
};

/**
 * accel_cpu_plan - plan @n commands that passed accel_cpu_check
 * @cmds: the commands, in order
 * @n: how many
 * @nth: threads that will run them
 * @overlap: false: a barrier after every command (the plan of one command
 *	at a time)
 * @steps: @n entries, filled
 *
 * A barrier follows a command unless the next one is hazard-free with every
 * command since the last barrier: both ops refs_only (op table), no byte
 * range one of them writes overlapping one the other touches (unless both
 * are serial: one worker runs them in order), and the group at most
 * ACCEL_CPU_PLAN_MAX_GROUP long. With @overlap false nothing is serial. Commands of one group get disjoint
 * scratch slices; the last command always has a barrier.
 *
 * Return: the scratch bytes the plan needs (the largest group's sum).
 */
size_t accel_cpu_plan(const struct accel_cmd *cmds, uint32_t n, int nth, bool overlap,
		      struct accel_cpu_step *steps);

#endif /* ACCEL_CPU_PLAN_H */
