/* SPDX-License-Identifier: MIT */
/*
 * The batched-generation tests' token collector: rt_generate_parallel's
 * callback, storing each sequence's ids in order.
 */
#ifndef RT_COLLECT_H
#define RT_COLLECT_H

#include <stdint.h>

/**
 * struct rt_test_ids - where rt_test_collect() stores ids
 * @ids: [n_seq][n_max] ids, row seq for sequence seq
 * @n: [n_seq] ids stored per sequence so far (the caller zeroes them)
 * @n_max: room per sequence
 */
struct rt_test_ids {
	int32_t *ids;
	int *n;
	int n_max;
};

/**
 * rt_test_collect - rt_generate_parallel's token callback (@arg: a struct
 * rt_test_ids): appends @id to sequence @seq's row; -ERANGE once it is full
 */
int rt_test_collect(int seq, int32_t id, void *arg);

#endif /* RT_COLLECT_H */
