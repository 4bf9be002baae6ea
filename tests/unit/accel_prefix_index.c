// SPDX-License-Identifier: MIT
/*
 * Unit: libaccel's prefix index (hash -> block, open addressing with
 * backward-shift deletion). Checks every call's result against a shadow
 * array through a seeded random sequence on a small, crowded table.
 */
#include <errno.h>
#include <stdlib.h>
#include "tap.h"
#include "../../libaccel/src/prefix_index.h"

#define NKEYS 64

int main(void)
{
	struct accel_prefix_index pi;
	uint64_t keys[NKEYS];
	int64_t shadow[NKEYS];	/* block of keys[i], or -1 */
	unsigned seed = 12345;
	int bad = 0, n = 0;

	is_int(accel_pi_init(&pi, 8), 0, "init for 8 entries");
	ok(pi.mask + 1 >= 16, "capacity at least twice the entries");
	is_int(accel_pi_find(&pi, 42), -1, "find in an empty index");
	is_int(accel_pi_insert(&pi, 42, 7), 0, "insert");
	is_int(accel_pi_find(&pi, 42), 7, "find what was inserted");
	is_int(accel_pi_insert(&pi, 42, 8), -EEXIST, "insert of a present key: -EEXIST");
	is_int(accel_pi_find(&pi, 42), 7, "the first value stays");
	is_int(accel_pi_remove(&pi, 43), -ENOENT, "remove of a missing key: -ENOENT");
	is_int(accel_pi_remove(&pi, 42), 0, "remove");
	is_int(accel_pi_find(&pi, 42), -1, "removed key is gone");
	is_int(accel_pi_insert(&pi, 0, 0), 0, "key 0 and block 0 are ordinary values");
	is_int(accel_pi_find(&pi, 0), 0, "find key 0");
	accel_pi_remove(&pi, 0);
	for (uint32_t i = 0; i < (pi.mask + 1) / 2; i++)
		accel_pi_insert(&pi, 1000 + i, i);
	is_int(accel_pi_insert(&pi, 5, 5), -ENOSPC, "insert beyond half full: -ENOSPC");
	for (uint32_t i = 0; i < (pi.mask + 1) / 2; i++)
		bad += accel_pi_find(&pi, 1000 + i) != i;
	is_int(bad, 0, "every entry of a half-full table is found");
	accel_pi_fini(&pi);

	/* random insert/remove on a crowded table against the shadow */
	is_int(accel_pi_init(&pi, 16), 0, "init for 16 entries");
	for (int i = 0; i < NKEYS; i++) {
		/* keys that differ in few bits, to exercise clustering */
		keys[i] = (uint64_t)i << 40 | (uint64_t)(i & 3);
		shadow[i] = -1;
	}
	for (int step = 0; step < 20000; step++) {
		int i = rand_r(&seed) % NKEYS;

		if (shadow[i] < 0) {
			int r = accel_pi_insert(&pi, keys[i], (uint32_t)step);

			if (n < 16) {
				bad += r != 0;
				if (!r) {
					shadow[i] = step;
					n++;
				}
			} else {
				bad += r != 0 && r != -ENOSPC;
				if (!r) {
					shadow[i] = step;
					n++;
				}
			}
		} else {
			bad += accel_pi_remove(&pi, keys[i]) != 0;
			shadow[i] = -1;
			n--;
		}
		for (int k = 0; k < NKEYS; k++)
			bad += accel_pi_find(&pi, keys[k]) != shadow[k];
		bad += pi.count != (uint32_t)n;
	}
	is_int(bad, 0, "20000 random steps agree with the shadow after every step");
	accel_pi_fini(&pi);
	return done_testing();
}
