// SPDX-License-Identifier: MIT
/*
 * The weights' pools and huge pages: decode streams every weight byte each
 * token, and one core reads DRAM ~30% slower through 4 KiB pages than through
 * 2 MiB ones (README), so the runtime's weight pools are private and huge.
 * On the emulated device a model's weights are on huge pages exactly where
 * the machine's THP setting allows, whether the pool is pinned or (a user
 * whose RLIMIT_MEMLOCK refuses it) pageable; and rt_model_huge_bytes reports
 * them.
 */
#include <string.h>
#include <sys/resource.h>
#include "accel.h"
#include "rt_error.h"
#include "rt_model.h"
#include "model/model.h"
#include "tap.h"
#include "memlimits.h"

/* 3 MiB of weights: one 2 MiB-aligned huge page at least */
#define MODEL "tests/models/random/small-moe-random-q6_k.gguf"

static void check(const char *what, int pageable)
{
	struct rt_model_opts mo = { .threads = 1, .n_ctx = 64 };
	struct accel_device_info di;
	struct rt_model *m = NULL;
	int ret = rt_model_load(tap_path(MODEL), &mo, &m);

	is_int(ret, 0, "%s: %s loads (%s)", what, MODEL, ret ? rt_last_error() : "ok");
	if (ret) {
		skip(pageable >= 0 ? 3 : 2, "no model");
		return;
	}
	ok(rt_model_weight_bytes(m) > (2u << 20), "%s: %llu weight bytes, over 2 MiB", what,
	   (unsigned long long)rt_model_weight_bytes(m));
	if (pageable >= 0)	/* -1: either */
		is_int(rt_model_unpinned_bytes(m), pageable ? rt_model_weight_bytes(m) : 0,
		       "%s: the weights are %s", what, pageable ? "pageable" : "pinned");
	else
		diag("%s: %llu weight bytes pageable", what,
		     (unsigned long long)rt_model_unpinned_bytes(m));
	if (accel_device_info(m->dev, &di) == 0 && !strcmp(di.backend, "emu"))
		is_int(rt_model_huge_bytes(m), thp_enabled() ? rt_model_weight_bytes(m) : 0,
		       "%s: emulation: all of them on huge pages exactly where THP is enabled", what);
	else
		is_int(rt_model_huge_bytes(m),
		       di.caps & ACCEL_CAP_HUGEPAGE ? rt_model_weight_bytes(m) : 0,
		       "%s: driver: all of them on huge pages where it has them", what);
	rt_model_free(m);
}

int main(void)
{
	struct rlimit low = { 64 * 1024, 64 * 1024 };

	plan(3 + 4);
	diag("THP %s", thp_enabled() ? "enabled" : "never");
	/* as the limits allow: pinned (root, or the model fits the limit) or not */
	check("as RLIMIT_MEMLOCK allows", -1);
	/* a pageable pool gets its huge pages as the weights are read into it */
	if (drop_ipc_lock() || setrlimit(RLIMIT_MEMLOCK, &low))
		bail_out("cannot drop CAP_IPC_LOCK and lower RLIMIT_MEMLOCK");
	check("RLIMIT_MEMLOCK 64 KiB, no CAP_IPC_LOCK", 1);
	return done_testing();
}
