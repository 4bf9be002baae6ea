/* SPDX-License-Identifier: MIT */
/*
 * Prefix index: a hash table from a block's 64-bit chained hash to its block
 * id. Open addressing with linear probing and backward-shift deletion, at
 * most half full, so insert/find/remove are O(1). Pure logic, no locking:
 * the caller (kv_alloc) serialises.
 */
#ifndef ACCEL_PREFIX_INDEX_H
#define ACCEL_PREFIX_INDEX_H

#include <stdint.h>

struct accel_pi_slot {
	uint64_t key;
	uint32_t val1;		/* block id + 1; 0 = empty */
	uint32_t pad;
};

struct accel_prefix_index {
	struct accel_pi_slot *slots;
	uint32_t mask;		/* capacity - 1 */
	uint32_t count;
};

/* accel_pi_init - room for @max_entries entries; 0 or -ENOMEM */
int accel_pi_init(struct accel_prefix_index *pi, uint32_t max_entries);
void accel_pi_fini(struct accel_prefix_index *pi);
/* accel_pi_find - the block of @key, or -1 */
int64_t accel_pi_find(const struct accel_prefix_index *pi, uint64_t key);
/* accel_pi_insert - 0, or -EEXIST if @key is present, -ENOSPC if full */
int accel_pi_insert(struct accel_prefix_index *pi, uint64_t key, uint32_t block);
/* accel_pi_remove - 0, or -ENOENT */
int accel_pi_remove(struct accel_prefix_index *pi, uint64_t key);

#endif /* ACCEL_PREFIX_INDEX_H */
