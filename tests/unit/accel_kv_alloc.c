// SPDX-License-Identifier: MIT
/*
 * Unit: libaccel's KV block allocator (kv_alloc.c). Each documented rule of
 * accel.h / uapi/accelkv.h on its own, then a seeded random torture with two
 * owners against a shadow model, with the invariant check after every step.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "../../libaccel/src/kv_alloc.h"

#define NB 8

static int counts(struct accel_kv_alloc *a, uint32_t used, uint32_t cached, uint32_t nfree)
{
	return a->nused == used && a->ncached == cached && a->nfree == nfree &&
	       accel_kva_check(a) == 0;
}

static void rules(void)
{
	struct accel_kv_alloc a;
	struct accel_kv_owner o = { 0 }, p = { 0 };
	uint32_t b[NB + 1], c[4];
	uint64_t h[4] = { 11, 22, 33, 44 };

	is_int(accel_kva_init(&a, 0), -EINVAL, "init with 0 blocks: -EINVAL");
	is_int(accel_kva_init(&a, (1U << 20) + 1), -EINVAL, "init above the block limit");
	is_int(accel_kva_init(&a, NB), 0, "init");
	ok(counts(&a, 0, 0, NB), "all free");
	is_int(accel_kva_free(&a, &o, 1, (uint32_t[]){ 0 }), -ENOENT,
	       "free by an owner that never held anything: -ENOENT");
	is_int(accel_kva_alloc(&a, &o, NB + 1, b), -ENOMEM, "alloc beyond the pool: -ENOMEM");
	ok(counts(&a, 0, 0, NB), "... and nothing was taken");
	is_int(accel_kva_alloc(&a, &o, 0, b), -EINVAL, "alloc of 0: -EINVAL");
	is_int(accel_kva_alloc(&a, &o, 3, b), 0, "alloc 3");
	ok(b[0] == 0 && b[1] == 1 && b[2] == 2, "lowest blocks first on a fresh pool");
	ok(counts(&a, 3, 0, NB - 3), "3 used");
	is_int(accel_kva_free(&a, &o, 2, (uint32_t[]){ b[0], NB }), -ENOENT,
	       "free with an out-of-range id: -ENOENT");
	is_int(accel_kva_free(&a, &o, 2, (uint32_t[]){ b[0], b[0] }), -ENOENT,
	       "free of one reference twice: -ENOENT");
	ok(counts(&a, 3, 0, NB - 3) && o.refs[b[0]] == 1, "... and nothing was freed");
	is_int(accel_kva_free(&a, &p, 1, &b[0]), -ENOENT, "free by another owner: -ENOENT");
	is_int(accel_kva_ref(&a, &p, 1, &b[0]), -ENOENT, "ref by another owner: -ENOENT");
	is_int(accel_kva_ref(&a, &o, 2, (uint32_t[]){ b[0], b[0] }), 0, "ref twice");
	is_int(a.blocks[b[0]].refs, 3, "three references");
	is_int(accel_kva_free(&a, &o, 3, (uint32_t[]){ b[0], b[0], b[0] }), 0, "free all three");
	is_int(accel_kva_free(&a, &o, 1, &b[0]), -ENOENT, "double free: -ENOENT");
	ok(counts(&a, 2, 0, NB - 2), "unpublished block went back to the free list");

	/* publish */
	is_int(accel_kva_publish(&a, &o, 2, &b[1], h), 2, "publish 2");
	is_int(accel_kva_publish(&a, &o, 1, &b[1], h), 0, "republish with the same hash: skipped");
	is_int(accel_kva_publish(&a, &o, 1, &b[1], &h[2]), -EINVAL,
	       "republish under another hash: -EINVAL");
	is_int(accel_kva_alloc(&a, &o, 1, c), 0, "alloc one more");
	is_int(accel_kva_publish(&a, &o, 1, c, &h[0]), 0,
	       "publish under a hash indexed to another block: skipped");
	is_int(accel_kva_publish(&a, &o, 2, (uint32_t[]){ c[0], c[0] }, &h[2]), -EINVAL,
	       "one block with two hashes in one call: -EINVAL");
	ok(!a.blocks[c[0]].published && accel_pi_find(&a.pi, h[2]) < 0,
	   "... and nothing was published");
	is_int(accel_kva_publish(&a, &p, 1, c, &h[2]), -ENOENT, "publish of a block not held");
	is_int(accel_kva_publish(&a, &o, 1, c, &h[2]), 1, "publish it under a fresh hash");

	/* lookup: longest leading run, with references */
	is_int(accel_kva_lookup(&a, &p, 4, (uint64_t[]){ 11, 22, 99, 33 }, b), 2,
	       "lookup stops at the first miss");
	ok(b[0] == 1 && b[1] == 2, "lookup returns the published blocks");
	is_int(a.blocks[1].refs, 2, "lookup took a reference");
	is_int(accel_kva_lookup(&a, &p, 1, (uint64_t[]){ 99 }, b), 0, "lookup miss: 0");
	is_int(a.queries, 5, "queries counted");
	is_int(a.hits, 2, "hits counted");
	accel_kva_owner_release(&a, &p);
	is_int(a.blocks[1].refs, 1, "owner release dropped only that owner's references");

	/* LRU: last references go in order 2, c, 1 -> cached, evicted in that order */
	is_int(accel_kva_free(&a, &o, 3, (uint32_t[]){ 2, c[0], 1 }), 0, "free the published");
	ok(counts(&a, 0, 3, NB - 3), "published blocks are cached, not free");
	is_int(accel_kva_alloc(&a, &o, NB - 3, b), 0, "free blocks go first");
	ok(counts(&a, NB - 3, 3, 0), "cache kept while free blocks last");
	is_int(accel_kva_alloc(&a, &o, 1, b), 0, "alloc under pressure");
	is_int(b[0], 2, "evicts the least recently cached first");
	is_int(accel_kva_lookup(&a, &p, 1, &h[1], c), 0, "evicted block left the index");
	is_int(accel_kva_lookup(&a, &p, 1, &h[2], c), 1, "cached block found by lookup");
	ok(counts(&a, NB - 1, 1, 0), "lookup moved it from cached to used");
	is_int(accel_kva_alloc(&a, &o, 2, b), -ENOMEM, "all or nothing under pressure");
	ok(counts(&a, NB - 1, 1, 0), "... nothing evicted");
	is_int(accel_kva_alloc(&a, &o, 1, b), 0, "take the last cached block");
	is_int(b[0], 1, "it is block 1");
	accel_kva_owner_release(&a, &o);
	accel_kva_owner_release(&a, &p);
	ok(counts(&a, 0, 1, NB - 1), "releasing both owners leaves only the cached block");
	accel_kva_fini(&a);
}

/* random torture: 2 owners, 16 blocks, shadow refcounts per owner */
static void torture(void)
{
	enum { N = 16, OWN = 2 };
	struct accel_kv_alloc a;
	struct accel_kv_owner o[OWN] = { { 0 } };
	uint32_t shadow[OWN][N] = { { 0 } };
	unsigned seed = 777;
	int bad = 0;

	accel_kva_init(&a, N);
	for (int step = 0; step < 50000 && !bad; step++) {
		int w = rand_r(&seed) % OWN, op = rand_r(&seed) % 6;
		uint32_t ids[4], cnt = 1 + rand_r(&seed) % 4, total = 0;
		uint64_t hs[4];
		int r;

		for (uint32_t i = 0; i < cnt; i++) {
			ids[i] = rand_r(&seed) % (N + 1);	/* N: out of range */
			hs[i] = rand_r(&seed) % 24;
		}
		for (int x = 0; x < OWN; x++)
			for (int b = 0; b < N; b++)
				total += shadow[x][b];
		switch (op) {
		case 0: {
			r = accel_kva_alloc(&a, &o[w], cnt, ids);
			if (r == 0)
				for (uint32_t i = 0; i < cnt; i++) {
					bad += a.blocks[ids[i]].refs != 1;
					shadow[w][ids[i]]++;
				}
			else
				bad += r != -ENOMEM || a.nfree + a.ncached >= cnt;
			break;
		}
		case 1:
		case 2: {
			uint32_t need[N + 1] = { 0 };
			int fine = 1;

			for (uint32_t i = 0; i < cnt; i++)
				need[ids[i]]++;
			for (uint32_t b = 0; b < N + 1; b++)
				if (need[b] && (b == N || shadow[w][b] < (op == 1 ? need[b] : 1)))
					fine = 0;
			r = op == 1 ? accel_kva_free(&a, &o[w], cnt, ids)
				    : accel_kva_ref(&a, &o[w], cnt, ids);
			bad += fine ? r != 0 : r != -ENOENT;
			if (!r)
				for (uint32_t i = 0; i < cnt; i++)
					shadow[w][ids[i]] += op == 1 ? -1 : 1;
			break;
		}
		case 3:
			for (uint32_t i = 0; i < cnt; i++)
				ids[i] %= N;
			r = accel_kva_publish(&a, &o[w], cnt, ids, hs);
			bad += r < -EINVAL;
			break;
		case 4:
			r = accel_kva_lookup(&a, &o[w], cnt, hs, ids);
			bad += r < 0;
			for (int i = 0; i < r; i++) {
				shadow[w][ids[i]]++;
				bad += a.blocks[ids[i]].hash != hs[i] || !a.blocks[ids[i]].published;
			}
			break;
		default:
			if (rand_r(&seed) % 50 == 0) {
				accel_kva_owner_release(&a, &o[w]);
				memset(shadow[w], 0, sizeof(shadow[w]));
			}
		}
		bad += accel_kva_check(&a) != 0;
		for (uint32_t b = 0; b < N; b++) {
			uint32_t sum = 0;

			for (int x = 0; x < OWN; x++) {
				sum += shadow[x][b];
				bad += (o[x].refs ? o[x].refs[b] : 0) != shadow[x][b];
			}
			bad += a.blocks[b].refs != sum;
		}
		(void)total;
		if (bad)
			diag("first mismatch at step %d (op %d)", step, op);
	}
	is_int(bad, 0, "50000 random steps: refcounts match the shadow, invariants hold");
	for (int x = 0; x < OWN; x++)
		accel_kva_owner_release(&a, &o[x]);
	is_int(a.nused, 0, "releasing every owner leaves no block used");
	is_int(accel_kva_check(&a), 0, "invariants hold at the end");
	accel_kva_fini(&a);
}

int main(void)
{
	rules();
	torture();
	return done_testing();
}
