// SPDX-License-Identifier: MIT
/*
 * Unit: kvcore (kvcore/accelkv_kvcore.c), the KV block allocator and prefix
 * index that accelkv.ko and libaccel's emulation both compile, here with its
 * userspace environment. Each documented rule of accel.h / uapi/accelkv.h on
 * its own, the index (keyed buckets, SipHash reference vector, collisions,
 * the reference limit), then a seeded random torture with two owners
 * against a shadow model, with kvcore's invariant check after every step.
 * KUnit (driver/tests/accelkv_kunit.c) runs the same source in the kernel.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "accelkv_kvcore.h"

#define NB 8

static int counts(struct accelkv_kvcore *a, uint32_t used, uint32_t cached, uint32_t nfree)
{
	return a->nr_used == used && a->nr_cached == cached && a->nr_free == nfree &&
	       accelkv_kvcore_check(a) == 0;
}

/* thin adapters: the old call shapes (count first, published/found returned) */
static int kv_alloc(struct accelkv_kvcore *a, struct accelkv_kvcore_owner *o, uint32_t n,
		    uint32_t *ids)
{
	return accelkv_kvcore_alloc(a, o, ids, n);
}

static int kv_free(struct accelkv_kvcore *a, struct accelkv_kvcore_owner *o, uint32_t n,
		   const uint32_t *ids)
{
	return accelkv_kvcore_free(a, o, ids, n);
}

static int kv_ref(struct accelkv_kvcore *a, struct accelkv_kvcore_owner *o, uint32_t n,
		  const uint32_t *ids)
{
	return accelkv_kvcore_ref(a, o, ids, n);
}

static int kv_publish(struct accelkv_kvcore *a, struct accelkv_kvcore_owner *o, uint32_t n,
		      const uint32_t *ids, const uint64_t *h)
{
	uint32_t pub = 0;
	int ret = accelkv_kvcore_publish(a, o, ids, h, n, &pub);

	return ret ? ret : (int)pub;
}

static int kv_lookup(struct accelkv_kvcore *a, struct accelkv_kvcore_owner *o, uint32_t n,
		     const uint64_t *h, uint32_t *ids)
{
	uint32_t found = 0;
	int ret = accelkv_kvcore_lookup(a, o, h, n, ids, &found);

	return ret ? ret : (int)found;
}

static int published(struct accelkv_kvcore *a, uint32_t b)
{
	return !!(a->flags[b] & ACCELKV_KVCORE_PUBLISHED);
}

static void rules(void)
{
	struct accelkv_kvcore a;
	struct accelkv_kvcore_owner o, p;
	uint32_t b[NB + 1], c[4];
	uint64_t h[4] = { 11, 22, 33, 44 };

	accelkv_kvcore_owner_init(&o);
	accelkv_kvcore_owner_init(&p);
	is_int(accelkv_kvcore_init(&a, 0), -EINVAL, "init with 0 blocks: -EINVAL");
	is_int(accelkv_kvcore_init(&a, NB), 0, "init");
	ok(counts(&a, 0, 0, NB), "all free");
	is_int(kv_free(&a, &o, 1, (uint32_t[]){ 0 }), -ENOENT,
	       "free by an owner that never held anything: -ENOENT");
	is_int(kv_alloc(&a, &o, NB + 1, b), -ENOMEM, "alloc beyond the pool: -ENOMEM");
	ok(counts(&a, 0, 0, NB), "... and nothing was taken");
	is_int(kv_alloc(&a, &o, 0, b), -EINVAL, "alloc of 0: -EINVAL");
	is_int(kv_alloc(&a, &o, 3, b), 0, "alloc 3");
	ok(b[0] == 0 && b[1] == 1 && b[2] == 2, "lowest blocks first on a fresh pool");
	ok(counts(&a, 3, 0, NB - 3), "3 used");
	is_int(kv_free(&a, &o, 2, (uint32_t[]){ b[0], NB }), -ENOENT,
	       "free with an out-of-range id: -ENOENT");
	is_int(kv_free(&a, &o, 2, (uint32_t[]){ b[0], b[0] }), -ENOENT,
	       "free of one reference twice: -ENOENT");
	ok(counts(&a, 3, 0, NB - 3) && accelkv_kvcore_owner_count(&o, b[0]) == 1, "... and nothing was freed");
	is_int(kv_free(&a, &p, 1, &b[0]), -ENOENT, "free by another owner: -ENOENT");
	is_int(kv_ref(&a, &p, 1, &b[0]), -ENOENT, "ref by another owner: -ENOENT");
	is_int(kv_ref(&a, &o, 2, (uint32_t[]){ b[0], b[0] }), 0, "ref twice");
	is_int(a.refs[b[0]], 3, "three references");
	is_int(kv_free(&a, &o, 3, (uint32_t[]){ b[0], b[0], b[0] }), 0, "free all three");
	is_int(kv_free(&a, &o, 1, &b[0]), -ENOENT, "double free: -ENOENT");
	ok(counts(&a, 2, 0, NB - 2), "unpublished block went back to the free list");

	/* publish */
	is_int(kv_publish(&a, &o, 2, &b[1], h), 2, "publish 2");
	is_int(kv_publish(&a, &o, 1, &b[1], h), 0, "republish with the same hash: skipped");
	is_int(kv_publish(&a, &o, 1, &b[1], &h[2]), -EINVAL,
	       "republish under another hash: -EINVAL");
	is_int(kv_alloc(&a, &o, 1, c), 0, "alloc one more");
	is_int(kv_publish(&a, &o, 1, c, &h[0]), 0,
	       "publish under a hash indexed to another block: skipped");
	is_int(kv_publish(&a, &o, 2, (uint32_t[]){ c[0], c[0] }, &h[2]), -EINVAL,
	       "one block with two hashes in one call: -EINVAL");
	ok(!published(&a, c[0]) && !a.flags[c[0]] &&
	   kv_lookup(&a, &p, 1, &h[2], b) == 0, "... and nothing was published");
	is_int(kv_publish(&a, &p, 1, c, &h[2]), -ENOENT, "publish of a block not held");
	is_int(kv_publish(&a, &o, 1, c, &h[2]), 1, "publish it under a fresh hash");

	/* lookup: longest leading run, with references */
	is_int(kv_lookup(&a, &p, 4, (uint64_t[]){ 11, 22, 99, 33 }, b), 2,
	       "lookup stops at the first miss");
	ok(b[0] == 1 && b[1] == 2, "lookup returns the published blocks");
	is_int(a.refs[1], 2, "lookup took a reference");
	is_int(kv_lookup(&a, &p, 1, (uint64_t[]){ 99 }, b), 0, "lookup miss: 0");
	is_int(a.prefix_queries, 6, "queries counted");
	is_int(a.prefix_hits, 2, "hits counted");
	accelkv_kvcore_owner_release(&a, &p);
	is_int(a.refs[1], 1, "owner release dropped only that owner's references");

	/* LRU: last references go in order 2, c, 1 -> cached, evicted in that order */
	is_int(kv_free(&a, &o, 3, (uint32_t[]){ 2, c[0], 1 }), 0, "free the published");
	ok(counts(&a, 0, 3, NB - 3), "published blocks are cached, not free");
	{
		uint32_t e[NB], nf = 0;
		uint64_t eh[NB];

		ok(accelkv_kvcore_peek_evict(&a, NB - 3, e, eh, &nf) == 0 && nf == 0,
		   "peek_evict: an alloc that free blocks serve evicts nothing");
		ok(accelkv_kvcore_peek_evict(&a, NB - 1, e, eh, &nf) == 0 && nf == 2 &&
		   e[0] == 2 && e[1] == c[0] && eh[0] == h[1] && eh[1] == h[2] &&
		   counts(&a, 0, 3, NB - 3),
		   "peek_evict: two beyond the free ones, in LRU order with their hashes; "
		   "nothing changed");
		ok(accelkv_kvcore_peek_evict(&a, NB, e, eh, &nf) == 0 && nf == 3 &&
		   accelkv_kvcore_peek_evict(&a, 0, e, eh, &nf) == -EINVAL &&
		   accelkv_kvcore_peek_evict(&a, NB + 1, e, eh, &nf) == -EINVAL,
		   "peek_evict: every cached block at most; 0 and more than the pool -EINVAL");
	}
	is_int(kv_alloc(&a, &o, NB - 3, b), 0, "free blocks go first");
	ok(counts(&a, NB - 3, 3, 0), "cache kept while free blocks last");
	is_int(kv_alloc(&a, &o, 1, b), 0, "alloc under pressure");
	is_int(b[0], 2, "evicts the least recently cached first");
	is_int(kv_lookup(&a, &p, 1, &h[1], c), 0, "evicted block left the index");
	is_int(kv_lookup(&a, &p, 1, &h[2], c), 1, "cached block found by lookup");
	ok(counts(&a, NB - 1, 1, 0), "lookup moved it from cached to used");
	is_int(kv_alloc(&a, &o, 2, b), -ENOMEM, "all or nothing under pressure");
	ok(counts(&a, NB - 1, 1, 0), "... nothing evicted");
	is_int(kv_alloc(&a, &o, 1, b), 0, "take the last cached block");
	is_int(b[0], 1, "it is block 1");
	accelkv_kvcore_owner_release(&a, &o);
	accelkv_kvcore_owner_release(&a, &p);
	ok(counts(&a, 0, 1, NB - 1), "releasing both owners leaves only the cached block");
	accelkv_kvcore_fini(&a);
}

/* random torture: 2 owners, 16 blocks, shadow refcounts per owner */
static void torture(void)
{
	enum { N = 16, OWN = 2 };
	struct accelkv_kvcore a;
	struct accelkv_kvcore_owner o[OWN];
	uint32_t shadow[OWN][N] = { { 0 } };
	unsigned seed = 777;
	int bad = 0;

	for (int x = 0; x < OWN; x++)
		accelkv_kvcore_owner_init(&o[x]);
	accelkv_kvcore_init(&a, N);
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
			r = kv_alloc(&a, &o[w], cnt, ids);
			if (r == 0)
				for (uint32_t i = 0; i < cnt; i++) {
					bad += a.refs[ids[i]] != 1;
					shadow[w][ids[i]]++;
				}
			else
				bad += r != -ENOMEM || a.nr_free + a.nr_cached >= cnt;
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
			r = op == 1 ? kv_free(&a, &o[w], cnt, ids)
				    : kv_ref(&a, &o[w], cnt, ids);
			bad += fine ? r != 0 : r != -ENOENT;
			if (!r)
				for (uint32_t i = 0; i < cnt; i++)
					shadow[w][ids[i]] += op == 1 ? -1 : 1;
			break;
		}
		case 3:
			for (uint32_t i = 0; i < cnt; i++)
				ids[i] %= N;
			r = kv_publish(&a, &o[w], cnt, ids, hs);
			bad += r < -EINVAL;
			break;
		case 4:
			r = kv_lookup(&a, &o[w], cnt, hs, ids);
			bad += r < 0;
			for (int i = 0; i < r; i++) {
				shadow[w][ids[i]]++;
				bad += a.hash[ids[i]] != hs[i] || !published(&a, ids[i]);
			}
			break;
		default:
			if (rand_r(&seed) % 50 == 0) {
				accelkv_kvcore_owner_release(&a, &o[w]);
				memset(shadow[w], 0, sizeof(shadow[w]));
			}
		}
		bad += accelkv_kvcore_check(&a) != 0;
		for (uint32_t b = 0; b < N; b++) {
			uint32_t sum = 0;

			for (int x = 0; x < OWN; x++) {
				sum += shadow[x][b];
				bad += accelkv_kvcore_owner_count(&o[x], b) != shadow[x][b];
			}
			bad += a.refs[b] != sum;
		}
		(void)total;
		if (bad)
			diag("first mismatch at step %d (op %d)", step, op);
	}
	is_int(bad, 0, "50000 random steps: refcounts match the shadow, invariants hold");
	for (int x = 0; x < OWN; x++)
		accelkv_kvcore_owner_release(&a, &o[x]);
	is_int(a.nr_used, 0, "releasing every owner leaves no block used");
	is_int(accelkv_kvcore_check(&a), 0, "invariants hold at the end");
	accelkv_kvcore_fini(&a);
}

/* the index: keyed buckets, collisions, the reference limit */
static void index_rules(void)
{
	struct kvcore_hash_key ref = { { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL } };
	struct accelkv_kvcore a;
	struct accelkv_kvcore_owner o, p;
	uint32_t ids[16], got[3], longest = 0, b, i;
	uint64_t h[16];
	int bad = 0;

	/* SipHash-2-4 reference vector (key 00..0f, message 00..07): the value
	 * KUnit checks for the kernel's siphash_1u64, so both index alike */
	ok(kvcore_siphash_u64(0x0706050403020100ULL, &ref) == 0x93f5f5799a932462ULL,
	   "bucket hash is SipHash-2-4 (reference vector)");
	accelkv_kvcore_owner_init(&o);
	accelkv_kvcore_owner_init(&p);
	is_int(accelkv_kvcore_init(&a, 16), 0, "init 16 blocks");
	is_int(a.hash_bits, 4, "16 buckets for 16 blocks");
	is_int(kv_alloc(&a, &o, 16, ids), 0, "alloc all 16");
	for (i = 0; i < 16; i++)
		h[i] = (uint64_t)i << 40;	/* differ only in high bits */
	is_int(kv_publish(&a, &o, 16, ids, h), 16, "publish 16 hashes");
	for (i = 0; i < 16; i++)
		bad += kv_lookup(&a, &p, 1, &h[i], got) != 1 || got[0] != ids[i];
	is_int(bad, 0, "each of 16 hashes in 16 buckets is found exactly");
	for (i = 0; i < 16; i++) {
		uint32_t len = 0;

		for (b = a.buckets[i]; b != ACCELKV_KVCORE_NIL; b = a.hnext[b])
			len++;
		longest = len > longest ? len : longest;
	}
	ok(longest < 8, "patterned hashes spread over the keyed buckets (longest chain %u)",
	   longest);
	accelkv_kvcore_owner_release(&a, &p);
	accelkv_kvcore_owner_release(&a, &o);
	ok(counts(&a, 0, 16, 0), "released published blocks stay cached");

	/* the reference limit: refuse at max_refs, all or nothing, never wrap */
	a.max_refs = 4;
	is_int(kv_lookup(&a, &o, 1, &h[0], got), 1, "lookup takes the cached block");
	is_int(kv_lookup(&a, &p, 2, (uint64_t[]){ h[0], h[0] }, got), 2, "two more refs");
	is_int(kv_lookup(&a, &p, 2, (uint64_t[]){ h[0], h[0] }, got), -EOVERFLOW,
	       "a lookup past max_refs: -EOVERFLOW");
	is_int(a.refs[got[0]], 3, "... and it took nothing");
	is_int(accelkv_kvcore_owner_count(&p, got[0]), 2, "... not even for the owner");
	is_int(kv_ref(&a, &o, 2, (uint32_t[]){ got[0], got[0] }), -EOVERFLOW,
	       "a ref past max_refs: -EOVERFLOW, all or nothing");
	is_int(kv_ref(&a, &o, 1, got), 0, "a ref up to max_refs");
	is_int(a.refs[got[0]], 4, "four references");
	a.max_refs = ACCELKV_KVCORE_MAX_REFS;
	a.refs[got[0]] = UINT32_MAX - 1;	/* as if 2^32 - 2 lookups had run */
	is_int(kv_lookup(&a, &p, 1, &h[0], got), -EOVERFLOW,
	       "a count near 2^32 is refused, never wrapped");
	a.refs[got[0]] = 4;
	accelkv_kvcore_owner_release(&a, &p);
	accelkv_kvcore_owner_release(&a, &o);
	ok(counts(&a, 0, 16, 0), "both owners released: every block cached again");
	accelkv_kvcore_fini(&a);
}

int main(void)
{
	plan(53 + 18 + 3);	/* rules, index_rules, torture: no test is conditional */
	rules();
	index_rules();
	torture();
	return done_testing();
}
