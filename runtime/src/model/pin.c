// SPDX-License-Identifier: MIT
/*
 * Pools of weights under the memory-locking policy (rt_model_opts.mlock), as
 * llama.cpp's --mlock: by default pinned where RLIMIT_MEMLOCK allows and
 * pageable (still O_DIRECT-capable) where it refuses, the refused bytes
 * counted for the caller to report; with RT_MLOCK_REQUIRE a refusal fails.
 * Owns no state beyond the model's two counters; never prints.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include "rt_error.h"
#include "model/model.h"

/* fmt_limit - RLIMIT_MEMLOCK as a user reads it: "8 MiB" or "unlimited" */
static const char *fmt_limit(char *buf, size_t n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		snprintf(buf, n, "unlimited");
	else if (rl.rlim_cur >= (1u << 20))
		snprintf(buf, n, "%llu MiB", (unsigned long long)(rl.rlim_cur >> 20));
	else
		snprintf(buf, n, "%llu KiB", (unsigned long long)(rl.rlim_cur >> 10));
	return buf;
}

int rt_model_pool_create(struct rt_model *m, struct accel_pool_opts *po, struct accel_pool **out,
			 const char *what)
{
	struct accel_pool_info pi;
	char lim[32];
	int ret;

	if (m->mlock == RT_MLOCK_REQUIRE)
		po->flags &= ~ACCEL_POOL_PAGEABLE;
	else
		po->flags |= ACCEL_POOL_PAGEABLE;
	ret = accel_pool_create(m->dev, po, out);
	if (ret == -EPERM)
		return rt_set_error(ret, "cannot pin %llu KiB for %s: RLIMIT_MEMLOCK is %s (raise it "
				    "with ulimit -l, limits.conf or CAP_IPC_LOCK%s)",
				    (unsigned long long)(po->size >> 10), what,
				    fmt_limit(lim, sizeof(lim)),
				    m->mlock == RT_MLOCK_REQUIRE ? ", or drop --mlock" : "");
	if (ret < 0)
		return rt_set_error(ret, "cannot allocate %llu KiB for %s: %s",
				    (unsigned long long)(po->size >> 10), what, strerror(-ret));
	if (!accel_pool_info(*out, &pi) && !(pi.flags & ACCEL_POOL_INFO_PINNED))
		m->unpinned_bytes += pi.size;
	else
		m->pinned_bytes += po->size;
	if (m->n_wpools < (int)(sizeof(m->wpools) / sizeof(m->wpools[0])))
		m->wpools[m->n_wpools++] = *out;
	return 0;
}

uint64_t rt_model_huge_bytes(const struct rt_model *m)
{
	uint64_t b = 0;

	/* asked now: a pageable pool gets its huge pages as it is read */
	for (int i = 0; i < m->n_wpools; i++) {
		struct accel_pool_info pi;

		if (!accel_pool_info(m->wpools[i], &pi) && (pi.flags & ACCEL_POOL_HUGEPAGE))
			b += pi.size;
	}
	return b;
}

uint64_t rt_model_unpinned_bytes(const struct rt_model *m)
{
	return m->unpinned_bytes;
}

uint64_t rt_model_weight_bytes(const struct rt_model *m)
{
	return m->pinned_bytes + m->unpinned_bytes;
}
