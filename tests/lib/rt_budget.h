/* SPDX-License-Identifier: MIT */
/*
 * The streaming tests' budget: the smallest --mem-budget a model loads
 * with, so that as few of its units as possible stay resident.
 */
#ifndef RT_BUDGET_H
#define RT_BUDGET_H

#include <stdint.h>
#include "rt_model.h"

/**
 * rt_test_min_budget - the smallest mem_budget (16 KiB steps, under 64 MiB)
 * with which @path loads under @mo's other options; @mo->mem_budget is left
 * at the last one tried. 0 if none loads.
 */
uint64_t rt_test_min_budget(const char *path, struct rt_model_opts *mo);

#endif /* RT_BUDGET_H */
