/* SPDX-License-Identifier: MIT */
/*
 * A growing, always NUL-terminated text buffer: the tools' generated text
 * (accel-run's chat reply, accel-serve's completion).
 */
#ifndef TOOL_TEXT_H
#define TOOL_TEXT_H

#include <stddef.h>

struct tool_text {
	char *buf;
	size_t len, cap;
};

/** tool_text_append - append @n bytes of @p; 0 or -ENOMEM (@t unchanged) */
int tool_text_append(struct tool_text *t, const char *p, size_t n);

#endif /* TOOL_TEXT_H */
