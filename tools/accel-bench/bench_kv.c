// SPDX-License-Identifier: MIT
/*
 * accel-bench kv: how many sequences of a given context fit a --mem-budget
 * once the placement has taken its weights and slots, per KV type (f16,
 * q8_0): with exact blocks from one pool sized from -c (as loaded now), and
 * with the former layout (power-of-two blocks, a whole context per sequence
 * plus half a context for cached prefixes). Each answer is checked by
 * loading the model at that -np and reading the KV pool it created.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "rt_error.h"
#include "rt_model.h"
#include "rt_stream.h"
#include "bench.h"

#define BENCH_KV_MAX_NP 4096

struct kv_fit {
	uint64_t placement;	/* weight pools under the budget */
	uint64_t min_budget;	/* streamed: the smallest placement (two slots), else 0 */
	uint64_t bytes_per_token, block_bytes, pool_bytes;
	int block_tokens, max_np, max_np_pow2, max_np_ideal;
};

static uint64_t pow2_block(uint64_t bytes)
{
	uint64_t bs = 4096;

	while (bs < bytes)
		bs <<= 1;
	return bs;
}

static int load(const char *model, uint64_t budget, int threads, int type, int n_seq, int ctx,
		struct rt_model **m)
{
	struct rt_model_opts mo = { .threads = threads, .mem_budget = budget, .n_batch = 32,
				    .n_seq = n_seq, .n_ctx = n_seq * ctx, .ctx_mode = RT_CTX_SPLIT,
				    .type_k = type, .type_v = type };

	if ((int64_t)n_seq * ctx > (1 << 30))
		return rt_set_error(-EINVAL, "-np %d x -c %d: too many positions", n_seq, ctx);
	return rt_model_load(model, &mo, m);
}

/* @place: the budget the placement gets; @budget: what weights and KV share */
static int fit(const char *model, uint64_t budget, uint64_t place, int threads, int type, int ctx,
	       struct kv_fit *f)
{
	struct rt_placement pl;
	struct rt_model *m = NULL;
	struct rt_kv_info ki;
	uint64_t room, per_seq, blocks, old_blocks;
	int ret;

	memset(f, 0, sizeof(*f));
	if ((ret = load(model, place, threads, type, 1, ctx, &m)) < 0)
		return ret;
	rt_model_kv_info(m, &ki);
	f->placement = rt_model_weight_bytes(m);
	if (rt_stream_stats(m, NULL, &pl) == 0)
		f->min_budget = pl.min_budget;
	f->bytes_per_token = ki.bytes_per_token;
	f->block_bytes = ki.block_bytes;
	f->block_tokens = ki.block_tokens;
	rt_model_free(m);
	room = budget > f->placement ? budget - f->placement : 0;
	blocks = ((uint64_t)ctx + (uint64_t)f->block_tokens - 1) / (uint64_t)f->block_tokens;
	per_seq = blocks * f->block_bytes;
	f->max_np = (int)(room / per_seq < BENCH_KV_MAX_NP ? room / per_seq : BENCH_KV_MAX_NP);
	f->max_np_ideal = (int)(room / ((uint64_t)ctx * f->bytes_per_token) < BENCH_KV_MAX_NP ?
				room / ((uint64_t)ctx * f->bytes_per_token) : BENCH_KV_MAX_NP);
	/* the former pool: np contexts + half a context + 1 block, powers of two */
	old_blocks = blocks / 2 + 1;
	for (int np = 1; np <= BENCH_KV_MAX_NP; np++) {
		if ((old_blocks + (uint64_t)np * blocks) *
		    pow2_block(f->bytes_per_token * (uint64_t)f->block_tokens) > room)
			break;
		f->max_np_pow2 = np;
	}
	if (!f->max_np)
		return 0;
	/* the answer as loaded: -np max_np -c max_np x ctx */
	if ((ret = load(model, place, threads, type, f->max_np, ctx, &m)) < 0)
		return ret;
	rt_model_kv_info(m, &ki);
	f->pool_bytes = ki.pool_bytes;
	if (ki.n_ctx_seq != ctx || f->pool_bytes != (uint64_t)f->max_np * per_seq ||
	    rt_model_weight_bytes(m) != f->placement)
		ret = rt_set_error(-EPROTO, "-np %d loaded %d positions per sequence and a %llu-byte "
				   "pool (%llu computed)", f->max_np, ki.n_ctx_seq,
				   (unsigned long long)f->pool_bytes,
				   (unsigned long long)f->max_np * per_seq);
	rt_model_free(m);
	return ret;
}

static void print_fit(const char *n, const char *sfx, const struct kv_fit *f, int ctx, bool first)
{
	(void)ctx;
	if (first)
		printf("placement_bytes%s: %llu\n", sfx, (unsigned long long)f->placement);
	if (!*sfx) {
		printf("kv_bytes_per_token_%s: %llu\n", n, (unsigned long long)f->bytes_per_token);
		printf("kv_block_bytes_%s: %llu\n", n, (unsigned long long)f->block_bytes);
		printf("kv_block_bytes_pow2_%s: %llu\n", n,
		       (unsigned long long)pow2_block(f->bytes_per_token * (uint64_t)f->block_tokens));
	}
	printf("max_np_in_budget%s_%s: %d\n", sfx, n, f->max_np);
	printf("max_np_in_budget_pow2%s_%s: %d\n", sfx, n, f->max_np_pow2);
	printf("max_np_ideal%s_%s: %d\n", sfx, n, f->max_np_ideal);
	printf("kv_pool_bytes_at_max_np%s_%s: %llu\n", sfx, n, (unsigned long long)f->pool_bytes);
	/* against the physical limit: KV bytes with no padding at all */
	if (f->max_np_ideal)
		printf("max_np_vs_ideal%s_%s: %.3f\n", sfx, n, (double)f->max_np / f->max_np_ideal);
	if (f->max_np_pow2)
		printf("max_np_vs_pow2%s_%s: %.3f\n", sfx, n, (double)f->max_np / f->max_np_pow2);
}

int bench_kv_main(int argc, char **argv)
{
	static const char usage[] = "kv -m MODEL --mem-budget SIZE [-c CTX_PER_SEQUENCE] [-t THREADS]";
	static const struct {
		const char *name;
		int type;
	} types[] = { { "f16", RT_KV_F16 }, { "q8_0", RT_KV_Q8_0 } };
	const char *model = NULL;
	uint64_t budget = 0;
	int threads = 2, ctx = 4096, ret, max_f16 = -1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-m") && strcmp(a, "--mem-budget") && strcmp(a, "-t") && strcmp(a, "-c"))
			return bench_usage(usage);
		if (!v)
			return bench_fail("kv: %s: missing value", a);
		i++;
		if (!strcmp(a, "-m"))
			model = v;
		else if (!strcmp(a, "--mem-budget") ? bench_size(a, v, &budget) :
			 !strcmp(a, "-t") ? bench_int(a, v, 1, BENCH_MAX_THREADS, &threads) :
			 bench_int(a, v, 1, 1 << 20, &ctx))
			return 1;
	}
	if (!model || !budget)
		return bench_usage(usage);
	printf("mem_budget_bytes: %llu\n", (unsigned long long)budget);
	printf("ctx_per_sequence: %d\n", ctx);
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		struct kv_fit f, s;

		ret = fit(model, budget, budget, threads, types[t].type, ctx, &f);
		if (ret < 0 && t > 0 && strstr(rt_last_error(), "head size")) {
			/* q8_0 needs head_dim % 32 == 0, as llama.cpp: not this model */
			fprintf(stderr, "accel-bench: kv: no %s cache here: %s\n", types[t].name,
				rt_last_error());
			continue;
		}
		if (ret < 0)
			return bench_fail("kv: %s, KV %s: %s", model, types[t].name, rt_last_error());
		print_fit(types[t].name, "", &f, ctx, t == 0);
		if (t == 0)
			max_f16 = f.max_np;
		/* streamed: the placement fills the budget with resident layers; with
		 * only its two slots the rest would hold this many sequences */
		if (f.min_budget && f.min_budget < budget) {
			ret = fit(model, budget, f.min_budget, threads, types[t].type, ctx, &s);
			if (ret < 0)
				return bench_fail("kv: %s, KV %s, slots only: %s", model,
						  types[t].name, rt_last_error());
			print_fit(types[t].name, "_slots_only", &s, ctx, t == 0);
		}
	}
	/* llama.cpp's default cache type */
	printf("max_np_in_budget: %d\n", max_f16);
	return 0;
}
