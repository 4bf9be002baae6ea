// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include "memlimits.h"

int thp_enabled(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
	char buf[128] = "";

	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return buf[0] && !strstr(buf, "[never]");
}

int drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[CAP_IPC_LOCK / 32].effective &= ~(1U << (CAP_IPC_LOCK % 32));
	return syscall(SYS_capset, &h, d) ? -1 : 0;
}

long smaps_kb(const void *addr, const char *key)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	size_t n = strlen(key);
	unsigned long lo, hi;
	char line[512];
	int in = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* a vma's header starts with its range in lower-case hex, its
		 * fields with a capital letter */
		if (!isupper((unsigned char)line[0])) {
			in = sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
			     lo <= (uintptr_t)addr && (uintptr_t)addr < hi;
			continue;
		}
		if (in && !strncmp(line, key, n)) {
			kb = atol(line + n);
			break;
		}
	}
	fclose(f);
	return kb;
}
