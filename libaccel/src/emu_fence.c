// SPDX-License-Identifier: MIT
/*
 * Emulated timeline fences: a 64-bit atomic value that only grows, and a
 * 32-bit futex word bumped on every signal; waiters sleep on the word and
 * re-check the value. Signal only enters the kernel when someone sleeps.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include "emu.h"
#include "futex.h"

struct accel_emu_fence {
	_Atomic uint64_t value;
	_Atomic uint32_t seq;		/* futex word: bumped by each signal */
	_Atomic uint32_t waiters;	/* threads in accel_emu_fence_wait's sleep */
};

int accel_emu_fence_create(struct accel_device *dev, struct accel_fence *fence)
{
	(void)dev;
	fence->priv = calloc(1, sizeof(struct accel_emu_fence));
	return fence->priv ? 0 : -ENOMEM;
}

void accel_emu_fence_destroy(struct accel_fence *fence)
{
	free(fence->priv);
}

int accel_emu_fence_signal(struct accel_fence *fence, uint64_t point)
{
	struct accel_emu_fence *f = fence->priv;
	uint64_t cur = atomic_load(&f->value);

	do {
		if (point <= cur)
			return -EINVAL;
	} while (!atomic_compare_exchange_weak(&f->value, &cur, point));
	/* seq_cst: the value store is ordered before the waiters load, as the
	 * waiter's waiters++ is ordered before its value load */
	atomic_fetch_add(&f->seq, 1);
	if (atomic_load(&f->waiters))
		accel_futex_wake((uint32_t *)&f->seq, INT_MAX);
	return 0;
}

int accel_emu_fence_wait(struct accel_fence *fence, uint64_t point, int64_t timeout_ns)
{
	struct accel_emu_fence *f = fence->priv;
	struct timespec deadline, *dl = NULL;
	int ret = 0;

	if (atomic_load(&f->value) >= point)
		return 0;
	if (timeout_ns == 0)
		return -ETIME;
	/* a short spin catches signals that are about to happen */
	for (int i = 0; i < 200; i++) {
		accel_cpu_relax();
		if (atomic_load_explicit(&f->value, memory_order_acquire) >= point)
			return 0;
	}
	if (timeout_ns > 0) {
		uint64_t end = accel_now_ns() + (uint64_t)timeout_ns;

		deadline.tv_sec = (time_t)(end / 1000000000ULL);
		deadline.tv_nsec = (long)(end % 1000000000ULL);
		dl = &deadline;
	}
	atomic_fetch_add(&f->waiters, 1);
	for (;;) {
		uint32_t seq = atomic_load(&f->seq);

		if (atomic_load(&f->value) >= point)
			break;
		ret = accel_futex_wait((uint32_t *)&f->seq, seq, dl);
		if (ret == -ETIMEDOUT) {
			ret = atomic_load(&f->value) >= point ? 0 : -ETIME;
			break;
		}
		ret = 0;
	}
	atomic_fetch_sub(&f->waiters, 1);
	return ret;
}

int accel_emu_fence_query(struct accel_fence *fence, uint64_t *value)
{
	struct accel_emu_fence *f = fence->priv;

	*value = atomic_load(&f->value);
	return 0;
}
