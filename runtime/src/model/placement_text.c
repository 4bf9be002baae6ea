// SPDX-License-Identifier: MIT
/*
 * Where a model's weights went, in words: the lines accel-run -v and
 * accel-serve -v print (tests grep them), one source for both tools. The
 * host tier (everything resident, or streaming under --mem-budget) and,
 * with a GPU, the VRAM tier or the whole model in VRAM.
 */
#include <errno.h>
#include <stdio.h>
#include "model/model.h"
#include "rt_stream.h"

int rt_placement_describe(const struct rt_model *m, bool mem_budget, char *host, size_t host_len,
			  char *vram, size_t vram_len)
{
	struct rt_placement pl;
	struct rt_vram_stats vs;
	bool tier = rt_vram_stats(m, &vs) == 0;

	if (!m || !host || !vram || !host_len || !vram_len)
		return -EINVAL;
	vram[0] = '\0';
	if (rt_stream_stats(m, NULL, &pl) == 0) {
		int nres = 0;

		for (int u = 0; u < pl.n_units; u++)
			nres += pl.resident[u];
		snprintf(host, host_len, "streaming under --mem-budget %llu KiB: %d of %d units "
			 "resident (%llu KiB), %d slots of %llu KiB, embedding %s, %d expert cache "
			 "entries of %llu KiB, %llu KiB read per pass",
			 (unsigned long long)(pl.budget >> 10), nres, pl.n_units,
			 (unsigned long long)(pl.resident_bytes >> 10), pl.n_slots,
			 (unsigned long long)(pl.slot_bytes >> 10),
			 pl.embed_resident ? "resident" : "rows read on demand", pl.n_expert_entries,
			 (unsigned long long)(pl.expert_entry_bytes >> 10),
			 (unsigned long long)(pl.streamed_bytes_per_pass >> 10));
	} else if (m->gpu_copy && !tier) {
		snprintf(host, host_len, "the weights, KV cache and activations resident in VRAM");
	} else {
		snprintf(host, host_len, "every weight resident, nothing streams%s",
			 mem_budget ? " (the whole model fits --mem-budget)" : "");
	}
	if (tier)
		snprintf(vram, vram_len, "VRAM %llu MiB: %d of %d units resident (%llu MiB), %d VRAM "
			 "slots of %llu KiB, %llu KiB uploaded per pass, %d VRAM expert cache entries",
			 (unsigned long long)(vs.budget >> 20), vs.n_resident, vs.n_units,
			 (unsigned long long)(vs.resident_bytes >> 20), vs.n_slots,
			 (unsigned long long)(vs.slot_bytes >> 10),
			 (unsigned long long)(vs.streamed_bytes_per_pass >> 10), vs.expert_entries);
	return 0;
}
