// SPDX-License-Identifier: MIT
/* The smallest budget a model loads with (rt_budget.h). */
#include "rt_budget.h"

uint64_t rt_test_min_budget(const char *path, struct rt_model_opts *mo)
{
	for (uint64_t b = 16 << 10; b < (64ULL << 20); b += 16 << 10) {
		struct rt_model *m;

		mo->mem_budget = b;
		if (rt_model_load(path, mo, &m) == 0) {
			rt_model_free(m);
			return b;
		}
	}
	return 0;
}
