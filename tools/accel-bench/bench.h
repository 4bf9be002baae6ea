/* SPDX-License-Identifier: MIT */
/*
 * accel-bench subcommands: each is `int bench_<name>(int argc, char **argv)`
 * (argv[0] is the subcommand), prints `name: value` lines on stdout and
 * returns the exit code. main.c lists them in its table.
 */
#ifndef ACCEL_BENCH_H
#define ACCEL_BENCH_H

int bench_device(int argc, char **argv);

#endif /* ACCEL_BENCH_H */
