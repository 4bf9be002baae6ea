// SPDX-License-Identifier: GPL-2.0-only
/*
 * accelkv KUnit suites: the KV allocator, the prefix index and the argument
 * validation helpers, built from their pure-logic sources into one test
 * module (only for kernels with CONFIG_KUNIT: the vmtest debug kernel).
 * The allocator is kvcore (../../kvcore/accelkv_kvcore.c), the very source
 * libaccel's emulation runs and tests/unit/accel_kvcore.c tests in user
 * space; here it runs with the kernel's environment under the driver's lock.
 */
#include <kunit/test.h>
#include <linux/hash.h>
#include <linux/prandom.h>

#include "../../kvcore/accelkv_kvcore.c"
#include "../accelkv_kv.c"
#include "../accelkv_check.c"

struct kv_fixture {
	struct accelkv_kv kv;
	struct accelkv_kvcore_owner a, b;
};

static int kv_init(struct kunit *test, u32 blocks)
{
	struct kv_fixture *f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, f);
	KUNIT_ASSERT_EQ(test, accelkv_kv_init(&f->kv, blocks, ACCELKV_KV_MAX_REFS), 0);
	accelkv_kvcore_owner_init(&f->a);
	accelkv_kvcore_owner_init(&f->b);
	test->priv = f;
	return 0;
}

static void kv_exit(struct kunit *test)
{
	struct kv_fixture *f = test->priv;

	if (!f)
		return;
	/* a failed assertion may have left the test's lock held */
	if (!mutex_is_locked(&f->kv.lock))
		mutex_lock(&f->kv.lock);
	accelkv_kv_owner_release(&f->kv, &f->a);
	accelkv_kv_owner_release(&f->kv, &f->b);
	KUNIT_EXPECT_EQ(test, f->kv.core.nr_used, 0U);
	mutex_unlock(&f->kv.lock);
	accelkv_kv_fini(&f->kv);
}

static int kv_case_init(struct kunit *test)
{
	return kv_init(test, 16);
}

/*
 * Block states always partition the pool, kvcore's own walk of its lists
 * agrees, and references add up per owner.
 */
static void kv_check_invariants(struct kunit *test, struct accelkv_kv *kv,
				struct accelkv_kvcore_owner **owners, int n)
{
	struct accelkv_kvcore *c = &kv->core;
	u64 refs = 0, owned = 0;
	u32 i, used = 0, cached = 0;
	int o;

	for (i = 0; i < c->num_blocks; i++) {
		refs += c->refs[i];
		used += c->refs[i] > 0;
		cached += !c->refs[i] && (c->flags[i] & ACCELKV_KVCORE_PUBLISHED);
	}
	for (o = 0; o < n; o++)
		owned += owners[o]->nr_refs;
	KUNIT_EXPECT_EQ(test, c->nr_used, used);
	KUNIT_EXPECT_EQ(test, c->nr_cached, cached);
	KUNIT_EXPECT_EQ(test, c->nr_free + c->nr_cached + c->nr_used,
			c->num_blocks);
	KUNIT_EXPECT_EQ(test, refs, owned);
	KUNIT_EXPECT_EQ(test, accelkv_kvcore_check(c), 0);
}

static void accelkv_kv_alloc_all_or_nothing(struct kunit *test)
{
	/* Success: 16 blocks come out distinct; a 17th fails and changes nothing. */
	struct kv_fixture *f = test->priv;
	u32 ids[17], seen = 0, i;

	mutex_lock(&f->kv.lock);
	KUNIT_EXPECT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, ids, 17), -ENOMEM);
	KUNIT_EXPECT_EQ(test, f->kv.core.nr_free, 16U);
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, ids, 16), 0);
	for (i = 0; i < 16; i++)
		seen |= 1U << ids[i];
	KUNIT_EXPECT_EQ(test, seen, 0xffffU);
	KUNIT_EXPECT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, ids, 1), -ENOMEM);
	KUNIT_EXPECT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, ids, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, f->kv.core.nr_used, 16U);
}

static void accelkv_kv_free_checks_every_id(struct kunit *test)
{
	/* Success: a FREE with one bad id drops nothing; duplicates count twice. */
	struct kv_fixture *f = test->priv;
	u32 ids[2], bad[3];

	mutex_lock(&f->kv.lock);
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, ids, 2), 0);
	bad[0] = ids[0];
	bad[1] = ids[1];
	bad[2] = 15;
	KUNIT_EXPECT_EQ(test, accelkv_kv_free(&f->kv, &f->a, bad, 3), -ENOENT);
	bad[2] = ids[0];
	KUNIT_EXPECT_EQ(test, accelkv_kv_free(&f->kv, &f->a, bad, 3), -ENOENT);
	KUNIT_EXPECT_EQ(test, f->kv.core.nr_used, 2U);
	KUNIT_EXPECT_EQ(test, accelkv_kvcore_owner_count(&f->a, ids[0]), 1U);
	KUNIT_EXPECT_EQ(test, accelkv_kv_free(&f->kv, &f->b, ids, 1), -ENOENT);
	KUNIT_EXPECT_EQ(test, accelkv_kv_ref(&f->kv, &f->a, ids, 1), 0);
	bad[1] = ids[0];
	KUNIT_EXPECT_EQ(test, accelkv_kv_free(&f->kv, &f->a, bad, 2), 0);
	KUNIT_EXPECT_EQ(test, f->kv.core.nr_used, 1U);
	KUNIT_EXPECT_EQ(test, accelkv_kv_free(&f->kv, &f->a, &ids[1], 1), 0);
	KUNIT_EXPECT_EQ(test, f->kv.core.nr_free, 16U);
}

static void accelkv_kv_ref_requires_ownership(struct kunit *test)
{
	/* Success: REF works only on held blocks, and out-of-range ids fail. */
	struct kv_fixture *f = test->priv;
	u32 id, big = 99;

	mutex_lock(&f->kv.lock);
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, &id, 1), 0);
	KUNIT_EXPECT_EQ(test, accelkv_kv_ref(&f->kv, &f->b, &id, 1), -ENOENT);
	KUNIT_EXPECT_EQ(test, accelkv_kv_ref(&f->kv, &f->a, &big, 1), -ENOENT);
	KUNIT_EXPECT_EQ(test, accelkv_kv_ref(&f->kv, &f->a, &id, 1), 0);
	KUNIT_EXPECT_EQ(test, f->kv.core.refs[id], 2U);
}

static void accelkv_kv_owner_release_drops_all(struct kunit *test)
{
	/* Success: releasing an owner returns every block it alone held. */
	struct kv_fixture *f = test->priv;
	u32 ids[8];

	mutex_lock(&f->kv.lock);
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->b, ids, 8), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_ref(&f->kv, &f->b, ids, 8), 0);
	accelkv_kv_owner_release(&f->kv, &f->b);
	KUNIT_EXPECT_EQ(test, f->kv.core.nr_free, 16U);
	accelkv_kvcore_owner_init(&f->b);
}

static void accelkv_kv_torture_random(struct kunit *test)
{
	/* Success: 4000 seeded random ops on 37 blocks keep every invariant. */
	struct kv_fixture *f = test->priv;
	struct accelkv_kvcore_owner *owners[2] = { &f->a, &f->b };
	struct rnd_state rnd;
	u32 ids[37], n, i, pub;
	u64 hashes[37];
	int step;

	mutex_lock(&f->kv.lock);
	mutex_unlock(&f->kv.lock);
	accelkv_kv_fini(&f->kv);
	KUNIT_ASSERT_EQ(test, accelkv_kv_init(&f->kv, 37, ACCELKV_KV_MAX_REFS), 0);
	mutex_lock(&f->kv.lock);
	prandom_seed_state(&rnd, 42);
	for (step = 0; step < 4000; step++) {
		struct accelkv_kvcore_owner *o = owners[prandom_u32_state(&rnd) & 1];

		n = 1 + prandom_u32_state(&rnd) % 5;
		switch (prandom_u32_state(&rnd) % 5) {
		case 0:
			accelkv_kv_alloc(&f->kv, o, ids, n);
			break;
		case 1:
		case 2:
			for (i = 0; i < n; i++)
				ids[i] = prandom_u32_state(&rnd) % 37;
			accelkv_kv_free(&f->kv, o, ids, n);
			break;
		case 3:
			for (i = 0; i < n; i++) {
				ids[i] = prandom_u32_state(&rnd) % 37;
				hashes[i] = prandom_u32_state(&rnd) % 50;
			}
			accelkv_kv_publish(&f->kv, o, ids, hashes, n, &pub);
			break;
		case 4:
			for (i = 0; i < n; i++)
				hashes[i] = prandom_u32_state(&rnd) % 50;
			accelkv_kv_lookup(&f->kv, o, hashes, n, ids, &pub);
			break;
		}
		kv_check_invariants(test, &f->kv, owners, 2);
	}
}

static struct kunit_case accelkv_kv_cases[] = {
	KUNIT_CASE(accelkv_kv_alloc_all_or_nothing),
	KUNIT_CASE(accelkv_kv_free_checks_every_id),
	KUNIT_CASE(accelkv_kv_ref_requires_ownership),
	KUNIT_CASE(accelkv_kv_owner_release_drops_all),
	KUNIT_CASE(accelkv_kv_torture_random),
	{}
};

static struct kunit_suite accelkv_kv_suite = {
	.name = "accelkv_kv",
	.init = kv_case_init,
	.exit = kv_exit,
	.test_cases = accelkv_kv_cases,
};

/* ------------------------------------------------------------ prefix index */

static void accelkv_index_publish_lookup_prefix(struct kunit *test)
{
	/* Success: lookup returns the longest leading run, with references. */
	struct kv_fixture *f = test->priv;
	u64 h[3] = { 10, 20, 30 };
	u32 ids[3], got[3], found, pub;

	mutex_lock(&f->kv.lock);
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, ids, 3), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_publish(&f->kv, &f->a, ids, h, 2, &pub), 0);
	KUNIT_EXPECT_EQ(test, pub, 2U);
	KUNIT_ASSERT_EQ(test, accelkv_kv_lookup(&f->kv, &f->b, h, 3, got, &found), 0);
	KUNIT_EXPECT_EQ(test, found, 2U);
	KUNIT_EXPECT_EQ(test, got[0], ids[0]);
	KUNIT_EXPECT_EQ(test, got[1], ids[1]);
	KUNIT_EXPECT_EQ(test, f->kv.core.refs[ids[0]], 2U);
	KUNIT_EXPECT_EQ(test, f->kv.core.prefix_hits, 2ULL);
	KUNIT_EXPECT_EQ(test, f->kv.core.prefix_queries, 3ULL);
	h[0] = 99;
	KUNIT_ASSERT_EQ(test, accelkv_kv_lookup(&f->kv, &f->b, h, 3, got, &found), 0);
	KUNIT_EXPECT_EQ(test, found, 0U);
}

static void accelkv_index_republish_rules(struct kunit *test)
{
	/* Success: same hash again is a no-op, another hash -EINVAL, a taken hash skipped. */
	struct kv_fixture *f = test->priv;
	u32 ids[2], two[2], pub;
	u64 h = 5, other = 6, hh[2] = { 7, 8 };

	mutex_lock(&f->kv.lock);
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, ids, 2), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_publish(&f->kv, &f->a, ids, &h, 1, &pub), 0);
	KUNIT_EXPECT_EQ(test, accelkv_kv_publish(&f->kv, &f->a, ids, &h, 1, &pub), 0);
	KUNIT_EXPECT_EQ(test, pub, 0U);
	KUNIT_EXPECT_EQ(test, accelkv_kv_publish(&f->kv, &f->a, ids, &other, 1, &pub),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, accelkv_kv_publish(&f->kv, &f->a, &ids[1], &h, 1, &pub), 0);
	KUNIT_EXPECT_EQ(test, pub, 0U);
	two[0] = ids[1];
	two[1] = ids[1];
	KUNIT_EXPECT_EQ(test, accelkv_kv_publish(&f->kv, &f->a, two, hh, 2, &pub), -EINVAL);
	KUNIT_EXPECT_FALSE(test, f->kv.core.flags[ids[1]] & ACCELKV_KVCORE_PUBLISHED);
	KUNIT_EXPECT_FALSE(test, f->kv.core.flags[ids[1]] & ACCELKV_KVCORE_PENDING);
	KUNIT_EXPECT_EQ(test, accelkv_kv_publish(&f->kv, &f->b, ids, &h, 1, &pub), -ENOENT);
}

static void accelkv_index_lru_eviction_order(struct kunit *test)
{
	/* Success: with no free block, ALLOC evicts the least recently released. */
	struct kv_fixture *f = test->priv;
	u32 ids[16], more[15], pub, got, found;
	u64 h[2] = { 1, 2 };

	mutex_lock(&f->kv.lock);
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, ids, 2), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_publish(&f->kv, &f->a, ids, h, 2, &pub), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_free(&f->kv, &f->a, &ids[1], 1), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_free(&f->kv, &f->a, &ids[0], 1), 0);
	KUNIT_EXPECT_EQ(test, f->kv.core.nr_cached, 2U);
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, more, 15), 0);
	KUNIT_EXPECT_EQ(test, f->kv.core.nr_cached, 1U);
	KUNIT_ASSERT_EQ(test, accelkv_kv_lookup(&f->kv, &f->b, &h[1], 1, &got, &found), 0);
	KUNIT_EXPECT_EQ(test, found, 0U);
	KUNIT_ASSERT_EQ(test, accelkv_kv_lookup(&f->kv, &f->b, &h[0], 1, &got, &found), 0);
	KUNIT_EXPECT_EQ(test, found, 1U);
	KUNIT_EXPECT_EQ(test, got, ids[0]);
}

static void accelkv_index_peek_evict_matches_alloc(struct kunit *test)
{
	/* Success: PEEK_EVICT names what the next ALLOC evicts, in order, and changes nothing. */
	struct kv_fixture *f = test->priv;
	u32 ids[3], more[15], peek[16], got, found, pub;
	u64 h[3] = { 7, 8, 9 }, ph[16];

	mutex_lock(&f->kv.lock);
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, ids, 3), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_publish(&f->kv, &f->a, ids, h, 3, &pub), 0);
	/* released in the order 2, 0, 1: the LRU's order */
	KUNIT_ASSERT_EQ(test, accelkv_kv_free(&f->kv, &f->a, &ids[2], 1), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_free(&f->kv, &f->a, &ids[0], 1), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_free(&f->kv, &f->a, &ids[1], 1), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_peek_evict(&f->kv, 13, peek, ph, &found), 0);
	KUNIT_EXPECT_EQ(test, found, 0U);
	KUNIT_ASSERT_EQ(test, accelkv_kv_peek_evict(&f->kv, 15, peek, ph, &found), 0);
	KUNIT_ASSERT_EQ(test, found, 2U);
	KUNIT_EXPECT_EQ(test, peek[0], ids[2]);
	KUNIT_EXPECT_EQ(test, ph[0], h[2]);
	KUNIT_EXPECT_EQ(test, peek[1], ids[0]);
	KUNIT_EXPECT_EQ(test, ph[1], h[0]);
	KUNIT_ASSERT_EQ(test, accelkv_kv_peek_evict(&f->kv, 16, peek, ph, &found), 0);
	KUNIT_EXPECT_EQ(test, found, 3U);
	KUNIT_EXPECT_EQ(test, accelkv_kv_peek_evict(&f->kv, 0, peek, ph, &found), -EINVAL);
	KUNIT_EXPECT_EQ(test, accelkv_kv_peek_evict(&f->kv, 17, peek, ph, &found), -EINVAL);
	KUNIT_EXPECT_EQ(test, f->kv.core.nr_cached, 3U);
	KUNIT_EXPECT_EQ(test, accelkv_kvcore_check(&f->kv.core), 0);
	/* the ALLOC of 15 evicts the two named; the third survives */
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, more, 15), 0);
	KUNIT_EXPECT_EQ(test, f->kv.core.nr_cached, 1U);
	KUNIT_ASSERT_EQ(test, accelkv_kv_lookup(&f->kv, &f->b, &h[1], 1, &got, &found), 0);
	KUNIT_EXPECT_EQ(test, found, 1U);
	KUNIT_EXPECT_EQ(test, got, ids[1]);
}

static void accelkv_index_collisions_in_bucket(struct kunit *test)
{
	/* Success: 16 hashes in a 16-bucket table are each found exactly. */
	struct kv_fixture *f = test->priv;
	u32 ids[16], got, found, pub, i;
	u64 h[16];

	mutex_lock(&f->kv.lock);
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, ids, 16), 0);
	for (i = 0; i < 16; i++)
		h[i] = (u64)i << 40;
	KUNIT_ASSERT_EQ(test, accelkv_kv_publish(&f->kv, &f->a, ids, h, 16, &pub), 0);
	KUNIT_EXPECT_EQ(test, pub, 16U);
	for (i = 0; i < 16; i++) {
		KUNIT_ASSERT_EQ(test, accelkv_kv_lookup(&f->kv, &f->b, &h[i], 1, &got, &found), 0);
		KUNIT_EXPECT_EQ(test, found, 1U);
		KUNIT_EXPECT_EQ(test, got, ids[i]);
	}
}

static void accelkv_index_lookup_refuses_at_limit(struct kunit *test)
{
	/* Success: LOOKUP and REF stop at max_refs with -EOVERFLOW, all or nothing. */
	struct kv_fixture *f = test->priv;
	u64 h[3] = { 42, 42, 42 };
	u32 id, got[3], found, pub;

	mutex_lock(&f->kv.lock);
	f->kv.core.max_refs = 4;
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, &id, 1), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_publish(&f->kv, &f->a, &id, h, 1, &pub), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_lookup(&f->kv, &f->b, h, 2, got, &found), 0);
	KUNIT_EXPECT_EQ(test, found, 2U);
	KUNIT_EXPECT_EQ(test, accelkv_kv_lookup(&f->kv, &f->b, h, 2, got, &found),
			-EOVERFLOW);
	KUNIT_EXPECT_EQ(test, f->kv.core.refs[id], 3U);
	KUNIT_EXPECT_EQ(test, accelkv_kvcore_owner_count(&f->b, id), 2U);
	KUNIT_EXPECT_EQ(test, accelkv_kv_ref(&f->kv, &f->a, (u32[]){ id, id }, 2),
			-EOVERFLOW);
	KUNIT_EXPECT_EQ(test, accelkv_kvcore_owner_count(&f->a, id), 1U);
	KUNIT_EXPECT_EQ(test, accelkv_kv_ref(&f->kv, &f->a, &id, 1), 0);
	KUNIT_EXPECT_EQ(test, accelkv_kv_lookup(&f->kv, &f->b, h, 1, got, &found),
			-EOVERFLOW);
	KUNIT_EXPECT_EQ(test, f->kv.core.refs[id], 4U);
	kv_check_invariants(test, &f->kv, (struct accelkv_kvcore_owner *[]){ &f->a, &f->b }, 2);
}

static void accelkv_index_lookup_never_wraps(struct kunit *test)
{
	/* Success: a block's 32-bit count near its top is refused, never wrapped. */
	struct kv_fixture *f = test->priv;
	u64 h[2] = { 7, 7 };
	u32 id, got[2], found = 0, pub;

	mutex_lock(&f->kv.lock);
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, &id, 1), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_publish(&f->kv, &f->a, &id, h, 1, &pub), 0);
	f->kv.core.refs[id] = U32_MAX - 1;	/* as if 2^32 - 2 lookups had run */
	KUNIT_EXPECT_EQ(test, accelkv_kv_lookup(&f->kv, &f->b, h, 2, got, &found),
			-EOVERFLOW);
	KUNIT_EXPECT_EQ(test, f->kv.core.refs[id], U32_MAX - 1);
	KUNIT_EXPECT_EQ(test, accelkv_kvcore_owner_count(&f->b, id), 0U);
	f->kv.core.refs[id] = 1;
}

static void accelkv_index_flood_spreads(struct kunit *test)
{
	/*
	 * Success: 16 user hashes that an unkeyed hash_64() puts in one bucket
	 * land in different buckets of the keyed index (no chain of 8 or more).
	 */
	struct kv_fixture *f = test->priv;
	u32 ids[16], pub, i, b, longest = 0;
	u64 h[16], x;

	for (i = 0, x = 1; i < 16; x++)
		if (hash_64(x, f->kv.core.hash_bits) == 0)
			h[i++] = x;
	mutex_lock(&f->kv.lock);
	KUNIT_ASSERT_EQ(test, accelkv_kv_alloc(&f->kv, &f->a, ids, 16), 0);
	KUNIT_ASSERT_EQ(test, accelkv_kv_publish(&f->kv, &f->a, ids, h, 16, &pub), 0);
	KUNIT_EXPECT_EQ(test, pub, 16U);
	for (i = 0; i < 1U << f->kv.core.hash_bits; i++) {
		u32 len = 0;

		for (b = f->kv.core.buckets[i]; b != ACCELKV_KVCORE_NIL;
		     b = f->kv.core.hnext[b])
			len++;
		longest = max(longest, len);
	}
	KUNIT_EXPECT_LT(test, longest, 8U);
}

static void accelkv_index_siphash_reference(struct kunit *test)
{
	/*
	 * Success: the environment's bucket hash is SipHash-2-4 (the reference
	 * vector for key 00..0f, message 00..07), the value tests/unit checks
	 * for the userspace environment: both sides index alike.
	 */
	struct kvcore_hash_key key = { .sip = {{ 0x0706050403020100ULL,
						 0x0f0e0d0c0b0a0908ULL }} };

	KUNIT_EXPECT_EQ(test, kvcore_siphash_u64(0x0706050403020100ULL, &key),
			0x93f5f5799a932462ULL);
}

static struct kunit_case accelkv_index_cases[] = {
	KUNIT_CASE(accelkv_index_publish_lookup_prefix),
	KUNIT_CASE(accelkv_index_republish_rules),
	KUNIT_CASE(accelkv_index_lru_eviction_order),
	KUNIT_CASE(accelkv_index_peek_evict_matches_alloc),
	KUNIT_CASE(accelkv_index_collisions_in_bucket),
	KUNIT_CASE(accelkv_index_lookup_refuses_at_limit),
	KUNIT_CASE(accelkv_index_lookup_never_wraps),
	KUNIT_CASE(accelkv_index_flood_spreads),
	KUNIT_CASE(accelkv_index_siphash_reference),
	{}
};

static struct kunit_suite accelkv_index_suite = {
	.name = "accelkv_index",
	.init = kv_case_init,
	.exit = kv_exit,
	.test_cases = accelkv_index_cases,
};

/* -------------------------------------------------------------- validation */

static void accelkv_check_pool_create_fields(struct kunit *test)
{
	/* Success: each bad field alone is -EINVAL; the valid struct passes. */
	struct drm_accelkv_pool_create ok = {
		.size = 1 << 20, .block_size = 4096, .flags = ACCELKV_POOL_KV,
	}, a;
	u32 nb;

	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&ok, 1 << 30, &nb), 0);
	KUNIT_EXPECT_EQ(test, nb, 256U);
	a = ok; a.size = 0;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), -EINVAL);
	a = ok; a.size = 4097;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), -EINVAL);
	a = ok; a.size = (1ULL << 30) + 4096;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), -EINVAL);
	a = ok; a.flags = 4;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), -EINVAL);
	a = ok; a.pad = 1;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), -EINVAL);
	a = ok; a.reserved = 1;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), -EINVAL);
	/* a multiple of 4096 that is no power of two: 256 blocks of 3 pages */
	a = ok; a.size = 256 * 12288; a.block_size = 12288;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), 0);
	KUNIT_EXPECT_EQ(test, nb, 256U);
	a = ok; a.block_size = 4096 + 512;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), -EINVAL);
	a = ok; a.size = 3 * 12290; a.block_size = 12290;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), -EINVAL);
	a = ok; a.block_size = 12288;	/* 1 MiB is no multiple of 12288 */
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), -EINVAL);
	a = ok; a.block_size = 2048;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), -EINVAL);
	a = ok; a.flags = 0;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), -EINVAL);
	a.block_size = 0;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, 1 << 30, &nb), 0);
	KUNIT_EXPECT_EQ(test, nb, 0U);
	a = ok; a.size = (u64)(ACCELKV_MAX_KV_BLOCKS + 1) * 4096;
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_create(&a, U64_MAX, &nb), -EINVAL);
}

static void accelkv_check_xfer_overflow(struct kunit *test)
{
	/* Success: lengths, alignment and offset overflows are all -EINVAL. */
	struct accelkv_uring_xfer ok = { .length = 4096, .flags = ACCELKV_XFER_DIRECT }, x;

	KUNIT_EXPECT_EQ(test, accelkv_check_xfer(&ok), 0);
	x = ok; x.length = 0;
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer(&x), -EINVAL);
	x = ok; x.length = ACCELKV_XFER_MAX + 512;
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer(&x), -EINVAL);
	x = ok; x.file_offset = U64_MAX - 511;
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer(&x), -EINVAL);
	x = ok; x.file_offset = S64_MAX - 511;
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer(&x), -EINVAL);
	x = ok; x.pool_offset = 100;
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer(&x), -EINVAL);
	x.flags = 0;
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer(&x), 0);
	x = ok; x.reserved[1] = 1;
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer(&x), -EINVAL);
	x = ok; x.flags = 2;
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer(&x), -EINVAL);
	KUNIT_EXPECT_EQ(test, accelkv_check_range(U64_MAX - 10, 20, U64_MAX), -EINVAL);
	KUNIT_EXPECT_EQ(test, accelkv_check_range(4096, 4096, 8192), 0);
	KUNIT_EXPECT_EQ(test, accelkv_check_range(4096, 4097, 8192), -EINVAL);
}

static void accelkv_check_small_structs(struct kunit *test)
{
	/* Success: flags, pads, counts and points are checked everywhere. */
	struct drm_accelkv_get_param gp = { .param = ACCELKV_PARAM_COUNT };
	struct drm_accelkv_kv_blocks kb = { .count = 1 };
	struct drm_accelkv_kv_publish kp = { .count = 1, .flags = 1 };
	struct drm_accelkv_kv_lookup kl = { .count = 0 };
	struct accelkv_uring_signal s = { .point = 0 };
	struct drm_accelkv_pool_destroy pd = { .pad = 1 };
	struct drm_accelkv_pool_info pi = { .reserved = 1 };
	struct drm_accelkv_kv_peek_evict pe = { .count = 1 };

	KUNIT_EXPECT_EQ(test, accelkv_check_get_param(&gp), -EINVAL);
	gp.param = 0;
	KUNIT_EXPECT_EQ(test, accelkv_check_get_param(&gp), 0);
	KUNIT_EXPECT_EQ(test, accelkv_check_kv_blocks(&kb), 0);
	kb.count = ACCELKV_MAX_KV_BLOCKS + 1;
	KUNIT_EXPECT_EQ(test, accelkv_check_kv_blocks(&kb), -EINVAL);
	KUNIT_EXPECT_EQ(test, accelkv_check_kv_publish(&kp), -EINVAL);
	KUNIT_EXPECT_EQ(test, accelkv_check_kv_lookup(&kl), -EINVAL);
	KUNIT_EXPECT_EQ(test, accelkv_check_signal(&s), -EINVAL);
	s.point = 1;
	KUNIT_EXPECT_EQ(test, accelkv_check_signal(&s), 0);
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_destroy(&pd), -EINVAL);
	KUNIT_EXPECT_EQ(test, accelkv_check_pool_info(&pi), -EINVAL);
	KUNIT_EXPECT_EQ(test, accelkv_check_kv_peek_evict(&pe), 0);
	pe.flags = 1;
	KUNIT_EXPECT_EQ(test, accelkv_check_kv_peek_evict(&pe), -EINVAL);
	pe.flags = 0;
	pe.count = 0;
	KUNIT_EXPECT_EQ(test, accelkv_check_kv_peek_evict(&pe), -EINVAL);
	pe.count = ACCELKV_MAX_KV_BLOCKS + 1;
	KUNIT_EXPECT_EQ(test, accelkv_check_kv_peek_evict(&pe), -EINVAL);
}

static void accelkv_check_xfer_result_errnos(struct kunit *test)
{
	/* Success: no kernel-internal errno and no short count reaches a CQE. */
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer_result(4096, 4096), 4096L);
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer_result(4095, 4096), (long)-EIO);
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer_result(0, 4096), (long)-EIO);
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer_result(-ENOSPC, 4096), (long)-ENOSPC);
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer_result(-ERESTARTSYS, 1), (long)-EINTR);
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer_result(-ERESTARTNOINTR, 1), (long)-EINTR);
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer_result(-ERESTARTNOHAND, 1), (long)-EINTR);
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer_result(-ERESTART_RESTARTBLOCK, 1),
			(long)-EINTR);
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer_result(-EIOCBQUEUED, 1), (long)-EIO);
	KUNIT_EXPECT_EQ(test, accelkv_check_xfer_result(-ENOIOCTLCMD, 1), (long)-EIO);
}

static struct kunit_case accelkv_check_cases[] = {
	KUNIT_CASE(accelkv_check_pool_create_fields),
	KUNIT_CASE(accelkv_check_xfer_overflow),
	KUNIT_CASE(accelkv_check_small_structs),
	KUNIT_CASE(accelkv_check_xfer_result_errnos),
	{}
};

static struct kunit_suite accelkv_check_suite = {
	.name = "accelkv_check",
	.test_cases = accelkv_check_cases,
};

kunit_test_suites(&accelkv_kv_suite, &accelkv_index_suite, &accelkv_check_suite);

MODULE_DESCRIPTION("KUnit tests for accelkv's allocator, prefix index and validation");
MODULE_LICENSE("GPL");
