// SPDX-License-Identifier: MIT
/*
 * The architectures the runtime knows, by general.architecture. Adding one
 * is a file in this folder and a line here.
 */
#include <string.h>
#include "arch.h"

static const struct rt_arch *const rt_archs[] = {
	&rt_arch_llama,
	&rt_arch_qwen2,
	&rt_arch_qwen3,
	&rt_arch_qwen3moe,
};

#define RT_N_ARCHS (sizeof(rt_archs) / sizeof(rt_archs[0]))

const struct rt_arch *rt_arch_find(const char *name)
{
	for (size_t i = 0; i < RT_N_ARCHS; i++)
		if (!strcmp(rt_archs[i]->name, name))
			return rt_archs[i];
	return NULL;
}

const char *rt_arch_names(void)
{
	static char names[256];

	if (!names[0]) {
		for (size_t i = 0; i < RT_N_ARCHS; i++) {
			if (i)
				strcat(names, ", ");
			strcat(names, rt_archs[i]->name);
		}
	}
	return names;
}
