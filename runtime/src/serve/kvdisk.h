/* SPDX-License-Identifier: MIT */
/*
 * The prefix cache's disk tier (LMCache's idea): published KV blocks kept as
 * files named by their chained hash, so a restarted process, or a second one
 * on the same directory, reuses them. A block is written when it leaves
 * memory: when an allocation is about to evict it from the pool, and at a
 * clean shutdown. Written and read through the COPY
 * engine (the driver's LOAD/STORE where the module is loaded). A file whose
 * size, header, model fingerprint or checksum is wrong is ignored.
 */
#ifndef RT_SERVE_KVDISK_H
#define RT_SERVE_KVDISK_H

#include <stdint.h>

struct rt_model;
struct rt_kvdisk;

int rt_kvdisk_open(struct rt_model *m, const char *dir, struct rt_kvdisk **out);
void rt_kvdisk_close(struct rt_kvdisk *d);
/** rt_kvdisk_store - write the full blocks [from, n_blk) of @seq, keyed
 *  @h (serve/prefix.h), that have no file yet; returns blocks written */
int rt_kvdisk_store(struct rt_kvdisk *d, int seq, const uint64_t *h, int from, int n_blk);
/**
 * rt_kvdisk_load - @seq holds blocks [0, have) of keys @h: bring the next
 * ones, up to @max_blk, from their files while they are there and sound.
 * Returns the number of blocks @seq holds now (>= @have).
 */
int rt_kvdisk_load(struct rt_kvdisk *d, int seq, const uint64_t *h, int have, int max_blk);

/**
 * rt_kvdisk_evicting - @n blocks are about to be allocated: the published
 * blocks without a reference that the allocation will evict go to files
 * first (accel_kv_peek_evict). Returns the files written, or -EOPNOTSUPP
 * where the device cannot tell (a module without ACCEL_CAP_KV_PEEK_EVICT):
 * then the caller writes blocks when they are published instead.
 */
int rt_kvdisk_evicting(struct rt_kvdisk *d, int n);
/** rt_kvdisk_flush - every published block without a reference to its
 *  file (a clean shutdown); returns the files written */
int rt_kvdisk_flush(struct rt_kvdisk *d);

/** rt_kvdisk_stored - files written since open (0 for NULL) */
uint64_t rt_kvdisk_stored(const struct rt_kvdisk *d);

#endif /* RT_SERVE_KVDISK_H */
