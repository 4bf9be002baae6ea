/* SPDX-License-Identifier: MIT */
/*
 * tests/lib: the machine's memory settings that pools depend on, for tests
 * that expect huge pages exactly where they are allowed (and mapped by PMD)
 * and pinning exactly where RLIMIT_MEMLOCK allows it.
 */
#ifndef TESTS_MEMLIMITS_H
#define TESTS_MEMLIMITS_H

/* 1 where /sys/kernel/mm/transparent_hugepage/enabled names a mode other
 * than [never] (anonymous memory advised MADV_HUGEPAGE gets huge pages) */
int thp_enabled(void);
/* drop CAP_IPC_LOCK from the effective set, so that RLIMIT_MEMLOCK applies
 * to this process (root included); 0 or -1 */
int drop_ipc_lock(void);
/* the kB of @key ("AnonHugePages:", "ShmemPmdMapped:") in /proc/self/smaps
 * for the vma that holds @addr; -1 where there is none */
long smaps_kb(const void *addr, const char *key);

#endif
