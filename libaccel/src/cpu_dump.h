/* SPDX-License-Identifier: MIT */
/*
 * Opt-in debug dump of COMPUTE results (env ACCEL_DUMP_DIR): after each
 * command, thread 0 writes the destination tensor t0 to
 * <dir>/<seq>_<name>-<il>_<ne0>x<ne1>x<ne2>.bin when the command names its
 * intermediate (accel_cmd_name(); "_<name>_" when il < 0), else
 * <dir>/<seq>_<op>_<ne0>x<ne1>x<ne2>.bin: diffed tensor by tensor against
 * llama.cpp's named intermediates. Costs one cached load when unset.
 */
#ifndef ACCEL_CPU_DUMP_H
#define ACCEL_CPU_DUMP_H

#include <stdbool.h>
#include "cpu_exec.h"

/** accel_cpu_dump_enabled - whether ACCEL_DUMP_DIR is set (read once) */
bool accel_cpu_dump_enabled(void);
/** accel_cpu_dump - all threads call it after a command; waits for them all,
 *  then thread 0 writes the command's outputs */
void accel_cpu_dump(const struct accel_cmd *cmd, struct accel_cpu_ctx *ctx);

#endif /* ACCEL_CPU_DUMP_H */
