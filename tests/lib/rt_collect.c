// SPDX-License-Identifier: MIT
#include <errno.h>
#include "rt_collect.h"

int rt_test_collect(int seq, int32_t id, void *arg)
{
	struct rt_test_ids *c = arg;

	if (c->n[seq] >= c->n_max)
		return -ERANGE;
	c->ids[(int64_t)seq * c->n_max + c->n[seq]++] = id;
	return 0;
}
