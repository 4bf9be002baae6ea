/* SPDX-License-Identifier: MIT */
/*
 * Process-private futex helpers (fences, the compute engine's barrier and
 * wake-ups). The waits return 0 on wake/value change, -ETIMEDOUT, -EINTR.
 */
#ifndef ACCEL_FUTEX_H
#define ACCEL_FUTEX_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* wait while *addr == val, until the CLOCK_MONOTONIC @deadline (NULL: forever) */
static inline int accel_futex_wait(uint32_t *addr, uint32_t val, const struct timespec *deadline)
{
	long r = syscall(SYS_futex, addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, deadline,
			 NULL, FUTEX_BITSET_MATCH_ANY);

	if (r == 0 || errno == EAGAIN)
		return 0;
	return -errno;
}

static inline void accel_futex_wake(uint32_t *addr, int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

static inline void accel_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static inline uint64_t accel_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif /* ACCEL_FUTEX_H */
