// SPDX-License-Identifier: MIT
/*
 * Prefix index (see prefix_index.h): hash -> block id. The keys are already
 * good hashes, but they come from users, so the slot is chosen from a
 * mixed key to keep adversarial or patterned keys from clustering.
 */
#include <errno.h>
#include <stdlib.h>
#include "prefix_index.h"

static inline uint32_t accel_pi_home(const struct accel_prefix_index *pi, uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (uint32_t)key & pi->mask;
}

int accel_pi_init(struct accel_prefix_index *pi, uint32_t max_entries)
{
	uint64_t cap = 16;

	while (cap < 2ULL * max_entries)
		cap <<= 1;
	pi->slots = calloc(cap, sizeof(*pi->slots));
	if (!pi->slots)
		return -ENOMEM;
	pi->mask = (uint32_t)(cap - 1);
	pi->count = 0;
	return 0;
}

void accel_pi_fini(struct accel_prefix_index *pi)
{
	free(pi->slots);
	pi->slots = NULL;
	pi->count = 0;
}

int64_t accel_pi_find(const struct accel_prefix_index *pi, uint64_t key)
{
	for (uint32_t i = accel_pi_home(pi, key);; i = (i + 1) & pi->mask) {
		const struct accel_pi_slot *s = &pi->slots[i];

		if (!s->val1)
			return -1;
		if (s->key == key)
			return (int64_t)s->val1 - 1;
	}
}

int accel_pi_insert(struct accel_prefix_index *pi, uint64_t key, uint32_t block)
{
	uint32_t i;

	if (pi->count >= (pi->mask + 1) / 2)
		return -ENOSPC;
	for (i = accel_pi_home(pi, key); pi->slots[i].val1; i = (i + 1) & pi->mask)
		if (pi->slots[i].key == key)
			return -EEXIST;
	pi->slots[i].key = key;
	pi->slots[i].val1 = block + 1;
	pi->count++;
	return 0;
}

int accel_pi_remove(struct accel_prefix_index *pi, uint64_t key)
{
	uint32_t i, j;

	for (i = accel_pi_home(pi, key);; i = (i + 1) & pi->mask) {
		if (!pi->slots[i].val1)
			return -ENOENT;
		if (pi->slots[i].key == key)
			break;
	}
	/* backward shift: pull later members of the probe run into the hole */
	for (j = (i + 1) & pi->mask; pi->slots[j].val1; j = (j + 1) & pi->mask) {
		uint32_t home = accel_pi_home(pi, pi->slots[j].key);

		/* move j to i unless its home lies cyclically in (i, j] */
		if (((j - home) & pi->mask) >= ((j - i) & pi->mask)) {
			pi->slots[i] = pi->slots[j];
			i = j;
		}
	}
	pi->slots[i].val1 = 0;
	pi->slots[i].key = 0;
	pi->count--;
	return 0;
}
