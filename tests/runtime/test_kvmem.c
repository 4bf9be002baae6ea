// SPDX-License-Identifier: MIT
/*
 * KV memory as llama.cpp and vLLM hold it: -c is the total of all -np
 * sequences (split n_ctx / n_seq, or unified: each up to n_ctx while blocks
 * last), blocks are exact (whole 4 KiB pages, not powers of two), taken from
 * one pool as positions come and given back the moment a sequence ends; a
 * full pool fails with -ENOMEM and a message, never a crash, and leaves no
 * block held. Batched greedy ids do not depend on the pool's layout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt_error.h"
#include "rt_generate.h"
#include "rt_model.h"
#include "rt_sampler.h"
#include "model/kvcache.h"
#include "model/model.h"
#include "tap.h"

#define STORIES "tests/models/stories260K.gguf"
#define MAX_GEN 128

struct watch {
	struct rt_model *m;
	const int *n_prompt;
	int n_seq;
	int n[4];			/* tokens seen per sequence */
	int32_t ids[4][MAX_GEN];
	int bad_alloc;			/* callbacks where a sequence held more/fewer blocks than its positions need */
	int max_used;			/* most blocks held at once */
	int used_after_end;		/* blocks held when seq 0 had ended and seq 1 went on */
	int held_by_ended;		/* blocks seq 0 still held after it ended */
	bool seen_after_end;
};

static int pool_used(struct rt_model *m)
{
	struct accel_pool_info pi;

	return accel_pool_info(m->kv->pool, &pi) ? -1 : (int)pi.blocks_used;
}

/* called for the k-th token of @seq before it is fed: n_prompt + k - 1
 * positions are in the cache, so exactly that many blocks' worth are held */
static int on_token(int seq, int32_t id, void *arg)
{
	struct watch *w = arg;
	int bt = (int)w->m->kv->block_tokens, k = ++w->n[seq];
	int pos = w->n_prompt[seq] + k - 1, used = pool_used(w->m);

	if (k > MAX_GEN)
		return -ERANGE;
	w->ids[seq][k - 1] = id;
	if (w->m->kv->n_alloc[seq] != (pos + bt - 1) / bt)
		w->bad_alloc++;
	if (used > w->max_used)
		w->max_used = used;
	/* seq 0 (the longer prompt) ends first; seq 1's later tokens see the pool
	 * with seq 0's blocks back */
	if (seq == 1 && w->n_seq == 2 && w->n_prompt[0] + w->n[0] >= w->m->n_ctx &&
	    !w->seen_after_end) {
		w->seen_after_end = true;
		w->used_after_end = used;
		w->held_by_ended = w->m->kv->n_alloc[0];
	}
	return 0;
}

static int load(int mode, int n_ctx, int n_seq, int tk, struct rt_model **m)
{
	struct rt_model_opts mo = { .threads = 2, .n_ctx = n_ctx, .n_batch = 32, .n_seq = n_seq,
				    .ctx_mode = mode, .type_k = tk, .type_v = tk };

	return rt_model_load(tap_path(STORIES), &mo, m);
}

static void fill(int32_t *p, int n, int seed)
{
	for (int i = 0; i < n; i++)
		p[i] = 1 + (int32_t)((seed * 7919u + (unsigned)i * 104729u) % 500u);
}

/* block bytes: whole pages where the device takes them, powers of two else */
static void block_sizes(void)
{
	/* SmolLM2-135M, 16 positions: f32 46080 B, f16 23040 B, q8_0 12240 B each */
	is_int(rt_kvcache_block_bytes(46080, 16, true), 737280, "f32 block: 720 KiB, 180 pages");
	is_int(rt_kvcache_block_bytes(46080, 16, false), 1 << 20, "power of two: 1 MiB");
	is_int(rt_kvcache_block_bytes(23040, 16, true), 368640, "f16 block: 90 pages exactly");
	is_int(rt_kvcache_block_bytes(12240, 16, true), 196608, "q8_0 block: 195840 B in 48 pages");
	is_int(rt_kvcache_block_bytes(12240, 16, false), 262144, "q8_0 power of two: 256 KiB");
	is_int(rt_kvcache_block_bytes(10, 1, true), 4096, "a tiny block is one page");
}

/* -c 256 -np 4: 64 positions each, a pool of 16 blocks (not 4 x 256 + cache) */
static void sizes(void)
{
	struct rt_model *m = NULL;
	struct rt_kv_info ki;
	int ret;

	ret = load(RT_CTX_SPLIT, 256, 4, 0, &m);
	if (!ok(ret == 0, "split -c 256 -np 4 loads: %s", ret ? rt_last_error() : "ok")) {
		skip(8, "no model");
		return;
	}
	rt_model_kv_info(m, &ki);
	is_int(rt_model_n_ctx(m), 64, "split: each sequence gets 256 / 4 positions");
	is_int(ki.n_ctx_seq, 64, "kv info: n_ctx_seq 64");
	is_int(ki.n_blocks, 16, "split: 4 x 64 / 16 = 16 blocks in one pool");
	ok(ki.block_bytes % 4096 == 0 && ki.block_bytes >= ki.bytes_per_token * 16 &&
	   ki.block_bytes - ki.bytes_per_token * 16 < 4096,
	   "block of %llu bytes: %llu B of 16 positions up to the page",
	   (unsigned long long)ki.block_bytes, (unsigned long long)ki.bytes_per_token * 16);
	is_int(ki.pool_bytes, 16 * ki.block_bytes, "pool bytes = blocks x block bytes");
	is_int(pool_used(m), 0, "no block held at load: they come on demand");
	rt_model_free(m);

	ret = load(RT_CTX_PER_SEQ, 64, 4, 0, &m);
	ok(ret == 0, "per-sequence mode (the library default) loads");
	rt_model_kv_info(m, &ki);
	is_int(ki.n_blocks, 4 * 4 + 4 / 2 + 1, "per sequence: 4 contexts of 4 blocks + 3 for prefixes");
	rt_model_free(m);
}

static void bad_split(void)
{
	struct rt_model *m = NULL;
	int ret = load(RT_CTX_SPLIT, 3, 4, 0, &m);

	is_int(ret, -EINVAL, "split -c 3 -np 4 refused");
	ok(strstr(rt_last_error(), "cannot be split") != NULL, "message: %s", rt_last_error());
	ret = load(7, 64, 1, 0, &m);
	is_int(ret, -EINVAL, "unknown context mode refused");
}

/*
 * Two sequences of 64 positions (split -c 128), prompts of 40 and 5 tokens,
 * generating until the context is full: each holds exactly the blocks its
 * positions need at every token; when the first ends its blocks are back in
 * the pool while the second goes on; none are held afterwards; the ids equal
 * the per-sequence layout's (the old pool) token for token.
 */
static void on_demand(int tk, const char *name)
{
	static int32_t a[40], b[5];
	const int32_t *pr[2] = { a, b };
	const int np[2] = { 40, 5 };
	struct rt_sampler_params sp;
	struct rt_gen_stats st;
	struct watch w = { 0 }, ref = { 0 };
	struct rt_model *m = NULL;
	int ret;

	fill(a, 40, 1);
	fill(b, 5, 2);
	rt_sampler_defaults(&sp);
	sp.temp = 0;
	ret = load(RT_CTX_SPLIT, 128, 2, tk, &m);
	if (!ok(ret == 0, "%s: split -c 128 -np 2 loads", name)) {
		skip(8, "no model");
		return;
	}
	w.m = m;
	w.n_prompt = np;
	w.n_seq = 2;
	ret = rt_generate_parallel(m, NULL, 2, pr, np, -1, &sp, on_token, &w, &st);
	ok(ret == 0, "%s: both run to the end of their 64 positions: %s", name,
	   ret ? rt_last_error() : "ok");
	ok(w.n[0] == 64 - 40 && w.n[1] == 64 - 5 && st.n_ctx_full == 2,
	   "%s: %d and %d tokens, both stopped by the context", name, w.n[0], w.n[1]);
	is_int(w.bad_alloc, 0, "%s: at every token a sequence holds ceil(positions / 16) blocks", name);
	is_int(w.max_used, 4 + 2, "%s: at most 6 blocks held at once (4 by the 63 positions of one, 2 by the other)", name);
	ok(w.seen_after_end && w.held_by_ended == 0,
	   "%s: the ended sequence holds no block while the other goes on", name);
	is_int(w.used_after_end, 2, "%s: the pool holds only the running sequence's 2 blocks then", name);
	is_int(pool_used(m), 0, "%s: every block back after the run", name);
	rt_model_free(m);

	/* the same prompts with the old layout: one 64-position context each */
	ret = load(RT_CTX_PER_SEQ, 64, 2, tk, &m);
	ref.m = m;
	ref.n_prompt = np;
	ref.n_seq = 0;
	ret = ret ? ret : rt_generate_parallel(m, NULL, 2, pr, np, -1, &sp, on_token, &ref, &st);
	ok(ret == 0 && ref.n[0] == w.n[0] && ref.n[1] == w.n[1] &&
	   !memcmp(ref.ids[0], w.ids[0], sizeof(int32_t) * (size_t)w.n[0]) &&
	   !memcmp(ref.ids[1], w.ids[1], sizeof(int32_t) * (size_t)w.n[1]),
	   "%s: greedy ids identical to the per-sequence pool's", name);
	rt_model_free(m);
}

/*
 * Unified -c 64 (4 blocks) for 2 sequences: one sequence alone may use all
 * 64 positions; two prompts of 30 tokens take 2 blocks each and the first
 * token past position 31 finds none: -ENOMEM with a message, every block
 * back, and the model still serves a later call.
 */
static void exhaustion(void)
{
	static int32_t a[30], b[30], c[5];
	const int32_t *pr[2] = { a, b };
	const int np[2] = { 30, 30 };
	struct rt_sampler_params sp;
	struct rt_gen_stats st;
	struct rt_model *m = NULL;
	struct rt_kv_info ki;
	const int32_t *one[1] = { c };
	const int n1[1] = { 5 };
	int ret;

	fill(a, 30, 3);
	fill(b, 30, 4);
	fill(c, 5, 5);
	rt_sampler_defaults(&sp);
	sp.temp = 0;
	ret = load(RT_CTX_UNIFIED, 64, 2, 0, &m);
	if (!ok(ret == 0, "unified -c 64 -np 2 loads")) {
		skip(7, "no model");
		return;
	}
	rt_model_kv_info(m, &ki);
	is_int(ki.n_blocks, 4, "unified: one pool of 64 positions (4 blocks)");
	is_int(rt_model_n_ctx(m), 64, "unified: a sequence may use all 64");
	ret = rt_generate_parallel(m, NULL, 1, one, n1, -1, &sp, NULL, NULL, &st);
	ok(ret == 0 && st.n_gen == 64 - 5, "one sequence alone fills the 64 positions (%d tokens)",
	   st.n_gen);
	ret = rt_generate_parallel(m, NULL, 2, pr, np, 8, &sp, NULL, NULL, &st);
	is_int(ret, -ENOMEM, "two 30-token prompts need a 5th block at position 32: -ENOMEM");
	ok(strstr(rt_last_error(), "KV cache full") != NULL, "message: %s", rt_last_error());
	is_int(pool_used(m), 0, "the failed call gave every block back");
	ret = rt_generate_parallel(m, NULL, 2, pr, np, 2, &sp, NULL, NULL, &st);
	ok(ret == 0, "the model still serves: 2 tokens each fit the 4 blocks: %s",
	   ret ? rt_last_error() : "ok");
	rt_model_free(m);
}

int main(void)
{
	plan(6 + 9 + 3 + 2 * 9 + 8);
	block_sizes();
	sizes();
	bad_split();
	on_demand(RT_KV_F16, "f16");
	on_demand(RT_KV_F32, "f32");
	exhaustion();
	return done_testing();
}
